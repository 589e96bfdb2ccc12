/*
 * ironlb_reconcile_* metrics (see reconcile_metrics.h).
 */
#include "daemon/reconcile_metrics.h"

#include "http/server.h"

static void set_counter(struct metrics_family *f, unsigned long v)
{
	metrics_family_clear(f);
	metrics_add(f, NULL, (double)v);
}

void daemon_reconcile_metrics_register(struct daemon_reconcile_metrics *m,
				       struct metrics_registry *reg, const struct reconciler *r)
{
	m->reg = reg;
	m->r = r;
	m->passes = metrics_family_add(reg, "ironlb_reconcile_passes_total",
				       "Reconcile passes run.", METRICS_COUNTER, NULL);
	m->changes = metrics_family_add(reg, "ironlb_reconcile_changes_total",
					"Changes from the sources (files, watches) that asked "
					"for a pass.",
					METRICS_COUNTER, NULL);
	m->own_writes = metrics_family_add(reg, "ironlb_reconcile_own_writes_total",
					   "Watch events recognised as this process's own "
					   "writes, which asked for no pass.",
					   METRICS_COUNTER, NULL);
	m->last_pass = metrics_family_add(reg, "ironlb_reconcile_last_pass_seconds",
					  "How long the last pass took.", METRICS_GAUGE, NULL);
	m->longest_pass = metrics_family_add(reg, "ironlb_reconcile_longest_pass_seconds",
					     "How long the longest pass took.", METRICS_GAUGE,
					     NULL);
	m->last_wait = metrics_family_add(reg, "ironlb_reconcile_last_wait_seconds",
					  "Time from the first change a pass took to the pass, "
					  "for the last pass.",
					  METRICS_GAUGE, NULL);
	m->longest_wait = metrics_family_add(reg, "ironlb_reconcile_longest_wait_seconds",
					     "The longest time a change waited for its pass.",
					     METRICS_GAUGE, NULL);
}

void daemon_reconcile_metrics_update(const struct daemon_reconcile_metrics *m)
{
	struct reconciler_stats s;
	reconciler_stats(m->r, &s);
	set_counter(m->passes, s.passes);
	set_counter(m->changes, s.changes);
	set_counter(m->own_writes, s.own_writes);
	metrics_set(m->last_pass, NULL, s.last_pass);
	metrics_set(m->longest_pass, NULL, s.longest_pass);
	metrics_set(m->last_wait, NULL, s.last_wait);
	metrics_set(m->longest_wait, NULL, s.longest_wait);
}

void daemon_reconcile_metrics_handler(const struct http_request *req,
				      struct http_response *resp, void *arg)
{
	const struct daemon_reconcile_metrics *m = arg;
	daemon_reconcile_metrics_update(m);
	http_metrics_handler(req, resp, m->reg);
}
