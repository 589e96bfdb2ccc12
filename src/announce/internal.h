/*
 * Private to src/announce/: the rules the Layer 2 planner (announce.c) and
 * the BGP planner (bgp_plan.c) must apply alike, so that a node that may
 * answer ARP for a Service is judged by the same tests as a node that may
 * announce it over BGP.  Defined in announce.c.
 */
#ifndef IRONLB_ANNOUNCE_INTERNAL_H
#define IRONLB_ANNOUNCE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* A node that may announce anything at all: neither labelled
 * exclude-from-external-load-balancers nor NetworkUnavailable. */
bool announce_node_usable(const struct node_obj *n);

/* An endpoint that can take traffic on its node: ready, or serving while
 * terminating (MetalLB's epslices.EndpointCanServe). */
bool announce_endpoint_serves(const struct endpoint *ep);

/* externalTrafficPolicy: Local. */
bool announce_policy_local(const struct service *svc);

/* "namespace/name" (just the name without a namespace); caller frees. */
char *announce_service_name(const struct service *svc);

/* EndpointSlices ordered by (namespace, Service) so that the slices of one
 * Service are found by binary search. */
struct announce_slices {
	size_t n;
	const struct endpointslice **v;
};

void announce_slices_index(struct announce_slices *ix, const struct model *m);
void announce_slices_free(struct announce_slices *ix);
/* The slices of Service ns/name are v[first .. *end); returns first. */
size_t announce_slices_find(const struct announce_slices *ix, const char *ns, const char *name,
			    size_t *end);

/* Whether an EndpointSlice belongs to Service ns/name (the incremental
 * planners look slices up one Service at a time, without an index that a
 * change of the model's arrays would leave dangling). */
bool announce_slice_is_of(const struct endpointslice *s, const char *ns, const char *name);

#endif
