/*
 * Announcement planning (pure): from a validated model, the addresses the
 * allocator gave each Service, and this node's name, compute what Layer 2
 * must announce and which node owns each address.
 *
 * Layer 2 election, computed alike on every node so that exactly one node
 * answers for a Service: the eligible nodes for a Service are the nodes
 * (Node objects of the model, plus the local node even without a Node
 * object, with no labels then) that
 *   - are not excluded (label node.kubernetes.io/exclude-from-external-load-balancers),
 *     not NetworkUnavailable, and not held dead or left by `ironlb run`'s
 *     failure detector (node_obj.member_down),
 *   - are selected by at least one L2Advertisement that selects the
 *     Service's pool (ipAddressPools / ipAddressPoolSelectors; both empty =
 *     all pools) and the node (nodeSelectors; empty = all nodes) and the
 *     Service (serviceSelectors; empty = all),
 *   - and, for externalTrafficPolicy: Local, have a ready (or serving)
 *     endpoint of the Service in its EndpointSlices;
 * sorted by sha256(nodeName + "#" + first ingress address) ascending; the
 * first one owns every address of the Service (both families announced by
 * one node).  Failback is automatic: the order depends only on the inputs.
 *
 * Placement with claims (announce_l2_claims(), l2_planner_set_claims();
 * `ironlb run` gives them, MetalLB's hash is kept without): the claims say
 * which nodes announce a Service now and since when.  Among the eligible
 * nodes with the highest preferredNodeSelectors score:
 *   - sticky: a claimant keeps the Service; several claimants (after a
 *     partition, or a node that was frozen) -> the newest claim (greatest
 *     `since`: the cluster's latest decision), then the hash order;
 *   - balanced: a Service no such node claims goes to the one announcing
 *     the fewest Services in this plan, then the hash order.  Services are
 *     placed claimed first, then the rest in namespace/name order, so that
 *     every node given the same inputs computes the same plan, and N nodes
 *     given M new Services announce at most ceil(M/N) each.
 *
 * Interfaces: the union of the `interfaces` of the L2Advertisements that
 * select the pool and the owner node; if any of them lists none, all
 * usable interfaces.
 */
#ifndef IRONLB_ANNOUNCE_ANNOUNCE_H
#define IRONLB_ANNOUNCE_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "net/ip.h"

/* One Service's allocation, the input of planning. */
struct announce_svc {
	const struct service *svc;
	size_t naddrs;
	struct ip_addr addrs[2];   /* ingress order */
	const char *pools[2];
};

/* One per address (tens of thousands, in one array): 80 bytes, hence the
 * 16-bit counts (more than 65,535 eligible nodes are listed as the first
 * 65,535; the owner is the first). */
struct l2_entry {
	struct ip_addr addr;
	char *service;             /* "namespace/name" */
	char *pool;
	char *owner;               /* elected node, NULL when no node is eligible */
	char **interfaces;         /* when not all_interfaces: exactly these (sorted, unique) */
	char **candidates;         /* eligible nodes, in election order */
	uint16_t ninterfaces;
	uint16_t ncandidates;
	bool here;                 /* owner is the local node */
	bool all_interfaces;       /* announce on every usable interface */
};

/* Sorted by address, then service.  An entry's strings and arrays are one
 * allocation that l2_plan_free() frees: read them, do not replace them. */
struct l2_plan {
	size_t n;
	struct l2_entry *entries;
};

/* Plan Layer 2 for node `node_name`.  Addresses of pools that no
 * L2Advertisement selects are not in the plan.  Returns 0. */
int announce_l2(const struct model *m, const char *node_name, const struct announce_svc *svcs,
		size_t nsvcs, struct l2_plan *out);

/* A node that announces a Service now (standalone: the members'
 * holdings; Kubernetes: its ServiceL2Status objects), since `since` (any
 * clock all nodes read alike; greater is newer). */
struct announce_claim {
	const char *service;         /* "namespace/name" */
	const char *node;
	uint64_t since;
};

/* Sorted by service, then node (announce_claims_sort()). */
struct announce_claims {
	size_t n;
	const struct announce_claim *v;
};

void announce_claims_sort(struct announce_claim *v, size_t n);

/* announce_l2() with sticky and balanced placement from claims (see the
 * top of this file); claims NULL is announce_l2(). */
int announce_l2_claims(const struct model *m, const char *node_name,
		       const struct announce_svc *svcs, size_t nsvcs,
		       const struct announce_claims *claims, struct l2_plan *out);
void l2_plan_free(struct l2_plan *p);

/* One Service that changed, for the incremental planners: its key and
 * what it has now.  as.svc NULL (deleted, or no longer ours) or
 * as.naddrs 0 (failed) leaves nothing of it in the plan. */
struct announce_change {
	const char *ns, *name;
	struct announce_svc as;
};

/*
 * Incremental Layer 2 planning for one node: the plan lives between
 * changes and each change re-plans only the Services it names.
 *
 * A Service's election reads the Service (labels, externalTrafficPolicy),
 * its addresses and their pools, the nodes, the L2Advertisements and its
 * EndpointSlices.  So:
 *   - l2_planner_update() for Services whose allocation, labels or
 *     EndpointSlices changed (or that were deleted): their entries leave
 *     the plan and their new ones are inserted at their sorted places.
 *     Cost per Service: its election (one SHA-256 per eligible node), a
 *     scan of the EndpointSlices for externalTrafficPolicy Local, and a
 *     memmove of the plan's tail per entry.
 *   - l2_planner_reset() for everything else: a change to Nodes,
 *     L2Advertisements or IPAddressPools (every election may move), and
 *     whenever the model's arrays of those kinds may have moved (the
 *     planner keeps pointers into them: nodes' names and labels, the
 *     advertisements, pool names).  Costs what announce_l2() costs.
 * After any sequence of calls the plan equals announce_l2() over the same
 * model and allocations.  The model passed must be the one reset saw (or
 * one whose nodes, advertisements and pools were not touched since).
 */
struct l2_planner;

struct l2_planner *l2_planner_new(const char *node_name);
void l2_planner_free(struct l2_planner *p);
/* Place with claims from now on (NULL: MetalLB's hash, the default).  The
 * array is borrowed until the next call; it takes effect at the next
 * reset (an update places a Service whose claims changed only if it is
 * in the update).  An update places a Service by the load of the current
 * plan, so after updates the plan equals announce_l2_claims() given the
 * plan's own owners as claims. */
void l2_planner_set_claims(struct l2_planner *p, const struct announce_claims *claims);
void l2_planner_reset(struct l2_planner *p, const struct model *m,
		      const struct announce_svc *svcs, size_t nsvcs);
void l2_planner_update(struct l2_planner *p, const struct model *m,
		       const struct announce_change *changes, size_t nchanges);
/* The current plan (sorted as announce_l2's); valid until the next call. */
const struct l2_plan *l2_planner_plan(const struct l2_planner *p);
/* The addresses the plan has entries of the Service key ("ns/name") for,
 * at most two; 0 when it has none. */
size_t l2_planner_held(const struct l2_planner *p, const char *key, struct ip_addr addrs[2]);

/* sha256(node + "#" + addr text) as used by the election, exposed for tests. */
void announce_election_key(const char *node, const struct ip_addr *first_addr,
			   unsigned char out[32]);

#endif
