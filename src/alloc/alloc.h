/*
 * The address allocator: gives LoadBalancer Services addresses from pools,
 * as MetalLB's controller does, and better (see docs/compatibility.md):
 * each family of a dual-stack Service may come from a different pool, the
 * annotation may name several pools, ingress follows spec.ipFamilies order,
 * and equal-priority pools are tried in name order, not at random.
 *
 * Scale: each pool family keeps its ranges sorted, and the addresses in use
 * are kept as merged runs in an ordered tree (ipset.h), so "lowest free
 * address of this pool" is O(log runs) and memory grows with allocations and
 * ranges, never with pool size (a /64 costs the same as a /30).
 *
 * Use: alloc_set_config() with a validated model whenever the configuration
 * changes, then alloc_service() for every Service (in any order; the
 * daemon re-runs all of them after each change so that a PreferDualStack
 * Service gains its second family when an address frees up), and
 * alloc_release() when a Service goes away or stops being ours.
 * alloc_run_all() does the whole model in the deterministic order `plan`
 * uses: Services that already hold addresses first (adoption), then the
 * rest by namespace/name.
 */
#ifndef IRONLB_ALLOC_ALLOC_H
#define IRONLB_ALLOC_ALLOC_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "net/ip.h"

struct alloc;

struct alloc_event {
	char *type;     /* "Normal" or "Warning" */
	char *reason;   /* IPAllocated, AllocationFailed, ClearAssignment, ... */
	char *message;
};

struct alloc_result {
	size_t naddrs;
	struct ip_addr addrs[2];   /* in ingress order (spec.ipFamilies order) */
	char *pools[2];            /* pool each address came from */
	size_t nevents;
	struct alloc_event *events;
	bool changed;              /* addresses differ from what the Service held */
	bool ours;                 /* a LoadBalancer Service of our class */
};

struct alloc *alloc_new(void);
void alloc_free(struct alloc *a);

/* The LoadBalancer class ironlb serves (NULL: only Services without a
 * class, MetalLB's default). */
void alloc_set_lb_class(struct alloc *a, const char *lb_class);

/* Take the (valid) pools of a validated model.  Assignments are kept;
 * alloc_service() re-checks each against the new pools. */
void alloc_set_config(struct alloc *a, const struct model *m);

/* Decide the addresses of one Service.  What it holds now is the
 * allocator's own record for it, or, the first time it is seen,
 * svc->ingress (so a restart adopts what Services already hold).  The
 * model gives the Service's namespace labels.  Returns 0 when the Service
 * got all the families it needs (or is not ours), -1 when it failed or got
 * only part (see events). */
int alloc_service(struct alloc *a, const struct model *m, const struct service *svc,
		  struct alloc_result *out);
void alloc_release(struct alloc *a, const char *ns, const char *name);
void alloc_result_free(struct alloc_result *r);

/* Every Service of the model, in the order described above; results[i] is
 * for m->services[i].  Returns the number of Services that failed. */
size_t alloc_run_all(struct alloc *a, const struct model *m, struct alloc_result *results);

struct alloc_pool_stats {
	const char *name;          /* points into the allocator; valid until the next call */
	u128 total_v4, total_v6;   /* addresses the pool can hand out (avoidBuggyIPs counted) */
	bool total_v6_overflow;    /* the pool is the whole IPv6 space */
	u128 in_use_v4, in_use_v6; /* distinct addresses assigned (a shared one counts once) */
};

/* Per-pool figures, in pool name order; returns the count. */
size_t alloc_pool_stats(const struct alloc *a, struct alloc_pool_stats **out);

/* Per-pool usage as JSON, the form `ironlb plan -o json` and /status
 * share: a new jansson array of {"name", "ipv4": {"total",
 * "in_use", "available"}, "ipv6": {...}}, a family present when the pool
 * has addresses of it, counts as exact decimal strings. */
json_t *alloc_pools_json(const struct alloc *a);

/* Iterate assignments (for the state file and status): calls fn for every
 * Service holding addresses, in namespace/name order. */
void alloc_foreach(const struct alloc *a,
		   void (*fn)(const char *ns, const char *name, size_t naddrs,
			      const struct ip_addr *addrs, char *const *pools, void *arg),
		   void *arg);

/* ------------------------------------------------------------------ */
/* Added with the implementation (alloc.c). */

/* Notes on the calls above:
 * - alloc_pool_stats(): *out is allocated by the allocator and freed by the
 *   caller with free(); the names point into the allocator and stay valid
 *   until alloc_free().
 * - alloc_run_all(): Services the allocator holds a record for that are no
 *   longer in the model are released first (they were deleted).
 * - alloc_service() returns 0 for a PreferDualStack Service that got only
 *   one family (that is what the policy allows); the missing family is
 *   reported once with an AdditionalAssignFailed event.
 * - result.changed compares with what the allocator held before the call
 *   (its record, or svc->ingress the first time), in order. */

/* What the allocator holds for one Service: the number of addresses (0 when
 * none or unknown), copied to addrs (ingress order) and pools (names valid
 * until alloc_free()) when they are not NULL. */
size_t alloc_get(const struct alloc *a, const char *ns, const char *name,
		 struct ip_addr addrs[2], const char *pools[2]);

#endif
