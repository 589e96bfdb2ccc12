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
 * Pure functions: the speaker's watch handling and the unit tests
 * (tests/unit/test_k8sd_claims.c) call them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "k8sd/k8sd.h"

int k8sd_time_us(const char *text, uint64_t *out)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n != 19)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return -1;
	const char *p = text + n;
	uint64_t frac = 0;
	if (*p == '.') {
		p++;
		int digits = 0;
		while (*p >= '0' && *p <= '9') {
			if (digits < 6)
				frac = frac * 10 + (uint64_t)(*p - '0');
			digits++;
			p++;
		}
		if (!digits)
			return -1;
		for (; digits < 6; digits++)
			frac *= 10;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om, m = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5)
			return -1;
		off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 1 + m;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			.tm_min = mi, .tm_sec = sec};
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || (long)t - off < 0)
		return -1;
	*out = (uint64_t)((long)t - off) * 1000000u + frac;
	return 0;
}

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
