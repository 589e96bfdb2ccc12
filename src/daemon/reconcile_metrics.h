/*
 * The reconciler's counters as ironlb_reconcile_* metrics, for `ironlb
 * run`, the controller and the speaker alike (docs/operations.md).  The
 * reconciler module links no HTTP code, so the families live here; they
 * are brought up to date when /metrics is served.
 */
#ifndef IRONLB_DAEMON_RECONCILE_METRICS_H
#define IRONLB_DAEMON_RECONCILE_METRICS_H

#include "base/metrics.h"
#include "reconcile/reconciler.h"

struct daemon_reconcile_metrics {
	struct metrics_registry *reg;
	const struct reconciler *r;
	struct metrics_family *passes, *changes, *own_writes, *last_pass, *longest_pass,
		*last_wait, *longest_wait;
};

void daemon_reconcile_metrics_register(struct daemon_reconcile_metrics *m,
				       struct metrics_registry *reg, const struct reconciler *r);
void daemon_reconcile_metrics_update(const struct daemon_reconcile_metrics *m);

struct http_request;
struct http_response;
/* GET /metrics (http_server_route()): the reconciler's figures brought up
 * to date, then the whole registry; arg is the daemon_reconcile_metrics. */
void daemon_reconcile_metrics_handler(const struct http_request *req,
				      struct http_response *resp, void *arg);

#endif
