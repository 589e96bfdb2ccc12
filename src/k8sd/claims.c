/*
 * Layer 2 claims from ServiceL2Status objects, for the speaker's sticky
 * and balanced placement (src/announce/announce.h, struct announce_claim).
 *
 * Every speaker writes one ServiceL2Status per Service it answers for over
 * Layer 2, so the objects of the namespace say which node announces what,
 * and since when (the object's creationTimestamp: the API server's clock,
 * which every speaker reads alike).  A speaker reads all of them, not only
 * its own, and places from them: a Service stays with the node whose
 * object names it, a Service nobody claims goes to the least loaded node.
 *
 * Also what the speaker keeps of the Services it reads and never writes.
 *
 * Pure functions: the speaker's watch handling and the unit tests
 * (tests/unit/test_k8sd_claims.c) call them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "k8sd/k8sd.h"

/* decode_service() and decode_service_requests() read these (metadata
 * whole: it is checked for unknown fields, and events name the Service by
 * uid).  What goes is what nothing reads: sessionAffinity,
 * internalTrafficPolicy, allocateLoadBalancerNodePorts,
 * healthCheckNodePort, externalIPs, status.conditions and the like.
 * tests/unit/test_k8sd_claims.c decodes Services whole and pruned and
 * compares. */
const char *const k8sd_service_fields[] = {
	"metadata",
	"spec.type",
	"spec.loadBalancerClass",
	"spec.loadBalancerIP",
	"spec.ipFamilyPolicy",
	"spec.ipFamilies",
	"spec.clusterIP",
	"spec.clusterIPs",
	"spec.externalTrafficPolicy",
	"spec.selector",
	"spec.ports",
	"status.loadBalancer",
	NULL,
};

int k8sd_time_us(const char *text, uint64_t *out)
{
	return time_rfc3339_us(text, out);
}

/* Reads only what the speaker's claims store keeps (claim_fields in
 * speaker.c): a field read here must be added there. */
int k8sd_l2_claim(const struct tree *obj, struct announce_claim *out)
{
	const struct tree *st = tree_get(obj, "status");
	const struct tree *labels = tree_path(obj, "metadata.labels");
	const char *node = st ? tree_get_str(st, "node") : NULL;
	const char *ns = st ? tree_get_str(st, "serviceNamespace") : NULL;
	const char *name = st ? tree_get_str(st, "serviceName") : NULL;
	/* Before its status is patched (create, then patch), the labels say
	 * the same. */
	if ((!node || !*node) && labels)
		node = tree_get_str(labels, "metallb.io/node");
	if ((!ns || !*ns || !name || !*name) && labels) {
		ns = tree_get_str(labels, "metallb.io/service-namespace");
		name = tree_get_str(labels, "metallb.io/service-name");
	}
	uint64_t since;
	if (!node || !*node || !ns || !*ns || !name || !*name ||
	    k8sd_time_us(tree_get_str(tree_get(obj, "metadata"), "creationTimestamp"), &since) != 0)
		return -1;
	out->service = xasprintf("%s/%s", ns, name);
	out->node = xstrdup(node);
	out->since = since;
	return 0;
}

bool k8sd_claim_news(bool added, const char *node, bool planned, const char *owner,
		     const char *self)
{
	/* This node's own objects follow its plan (a change by someone else
	 * is put right by writing them again, not by planning again). */
	if (strcmp(node, self) == 0)
		return false;
	/* A Service not planned yet is placed with the claims when it is. */
	if (!planned || !owner)
		return false;
	bool is_owner = strcmp(owner, node) == 0;
	/* A node took up what the plan gives it, or let go of what the plan
	 * gives another: what we planned, confirmed. */
	return added ? !is_owner : is_owner;
}
