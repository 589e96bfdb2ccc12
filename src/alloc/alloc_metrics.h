/*
 * The configuration and allocator metrics that both the standalone daemon
 * (`ironlb run`) and the in-cluster controller export, under MetalLB's
 * names so its dashboards and the guide's alerts work unchanged.
 */
#ifndef IRONLB_ALLOC_ALLOC_METRICS_H
#define IRONLB_ALLOC_ALLOC_METRICS_H

#include "alloc/alloc.h"
#include "base/metrics.h"

struct alloc_metrics {
	/* metallb_k8s_client_*: configuration loading */
	struct metrics_family *config_loaded, *config_stale, *updates, *update_errors;
	/* metallb_allocator_*: per pool */
	struct metrics_family *total, *in_use, *total4, *total6, *in_use4, *in_use6;
};

void alloc_metrics_register(struct alloc_metrics *am, struct metrics_registry *reg);
/* Only the metallb_k8s_client_* families (a speaker allocates nothing). */
void alloc_metrics_register_config(struct alloc_metrics *am, struct metrics_registry *reg);
/* Replace the per-pool series with the allocator's current figures.  An
 * IPv6 pool's count is exact beyond 2^53. */
void alloc_metrics_update_pools(const struct alloc_metrics *am, const struct alloc *a);

#endif
