/*
 * Announcement planning (pure): from a validated model, the addresses the
 * allocator gave each Service, and this node's name, compute what Layer 2
 * must announce and which node owns each address.
 *
 * Layer 2 election, computed alike on every node so that exactly one node
 * answers for a Service: the eligible nodes for a Service are the nodes
 * (Node objects of the model, plus the local node even without a Node
 * object, with no labels then) that
 *   - are not excluded (label node.kubernetes.io/exclude-from-external-load-balancers)
 *     and not NetworkUnavailable,
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
 * Interfaces: the union of the `interfaces` of the L2Advertisements that
 * select the pool and the owner node; if any of them lists none, all
 * usable interfaces.
 */
#ifndef IRONLB_ANNOUNCE_ANNOUNCE_H
#define IRONLB_ANNOUNCE_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "net/ip.h"

/* One Service's allocation, the input of planning. */
struct announce_svc {
	const struct service *svc;
	size_t naddrs;
	struct ip_addr addrs[2];   /* ingress order */
	const char *pools[2];
};

struct l2_entry {
	struct ip_addr addr;
	char *service;             /* "namespace/name" */
	char *pool;
	char *owner;               /* elected node, NULL when no node is eligible */
	bool here;                 /* owner is the local node */
	bool all_interfaces;       /* announce on every usable interface */
	size_t ninterfaces;        /* else exactly these (sorted, unique) */
	char **interfaces;
	size_t ncandidates;        /* eligible nodes, in election order */
	char **candidates;
};

/* Sorted by address, then service. */
struct l2_plan {
	size_t n;
	struct l2_entry *entries;
};

/* Plan Layer 2 for node `node_name`.  Addresses of pools that no
 * L2Advertisement selects are not in the plan.  Returns 0. */
int announce_l2(const struct model *m, const char *node_name, const struct announce_svc *svcs,
		size_t nsvcs, struct l2_plan *out);
void l2_plan_free(struct l2_plan *p);

/* sha256(node + "#" + addr text) as used by the election, exposed for tests. */
void announce_election_key(const char *node, const struct ip_addr *first_addr,
			   unsigned char out[32]);

#endif
