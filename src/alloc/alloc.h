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
 * rest; within each, who asked first (service_asked_cmp(): older
 * creationTimestamp, then the order of reading), then namespace/name.  So
 * of two Services asking for one address they cannot share, the one that
 * asked first keeps it, and the other's AllocationFailed event names it.  The addresses in the status of Services seen
 * for the first time are all taken in before any Service looks for a new
 * address, so a restart never moves an address a Service holds.
 * alloc_update_service() and alloc_update_config() (below) do the same
 * work one change at a time.
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
	/* It failed because another Service keeps an address it asked for
	 * (asked first, or held it already): that Service ("ns/name") and
	 * the address; NULL otherwise. */
	char *held_by;
	struct ip_addr held_addr;
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

/* The message of the Warning event of the Service's last allocation
 * (AllocationFailed, LoadBalancerFailed), NULL when it succeeded or is
 * unknown.  Valid until the Service's next allocation. */
const char *alloc_failure(const struct alloc *a, const char *ns, const char *name);
/* How many Services wait for addresses (failed, or PreferDualStack short
 * of a family). */
size_t alloc_waiting(const struct alloc *a);

/* ------------------------------------------------------------------ */
/* Incremental driver: one change, only the work that depends on it.
 *
 * The allocator lives as long as the daemon, beside a model that follows
 * the objects (model_upsert / model_remove).  After each change, the
 * allocator's state is what alloc_run_all() on a fresh allocator would
 * give for the same model with every Service's status carrying the
 * addresses it holds (the order of changes decides who got an address
 * first; holding it is then what counts, as on a restart):
 *
 *   alloc_update_service()  a Service was added, changed or deleted (it is
 *       looked up in m; absent means deleted).  Allocates / re-checks that
 *       Service, or releases what it held.  When it held or now holds
 *       addresses, the Services waiting for addresses (failed, or
 *       PreferDualStack short of a family) are retried in alloc_run_all()'s
 *       order (holders first, then who asked first), pass after pass
 *       until no address moves: a freed address, a newly shareable one or
 *       a changed reason reaches them.  Cost: one alloc_service() for the
 *       Service, plus one per waiting Service and pass when it held or
 *       holds addresses (none when nothing waits).
 *   alloc_update_config()   pools changed (or Namespaces' labels, which
 *       pools' namespaceSelectors read): takes the new pools and re-checks
 *       every Service (alloc_run_all()), then retries the waiting ones as
 *       above.  A full re-check, O(Services), on purpose: a pool change
 *       can invalidate any held address and reorder the automatic search.
 *
 * Each call appends to *out one item per Service whose allocation it
 * computed and that changed something worth telling: the Service itself
 * always; a retried waiting Service when its addresses or its failure
 * message changed.  A Service may appear more than once; the last item is
 * current.  Pool counters (alloc_pool_stats) are always current.
 */
struct alloc_change {
	char *ns, *name;
	bool removed;                 /* deleted: it holds nothing now */
	int rc;                       /* alloc_service()'s return */
	struct alloc_result result;   /* empty when removed (changed: it held some) */
};

struct alloc_changes {
	size_t n;
	struct alloc_change *items;
};

int alloc_update_service(struct alloc *a, const struct model *m, const char *ns,
			 const char *name, struct alloc_changes *out);
void alloc_update_config(struct alloc *a, const struct model *m, struct alloc_changes *out);
void alloc_changes_free(struct alloc_changes *c);

#endif
