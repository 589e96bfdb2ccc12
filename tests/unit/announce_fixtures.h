/*
 * Shared by the announcement planners' unit tests (test_announce.c,
 * test_announce_bgp.c): building a struct model by hand from short strings.
 *
 *   labels      "k=v,k2=v2"
 *   selectors   "k=v,k2=v2;k3=v3"   a list of matchLabels, any may match
 *   lists       "a,b,c"             at most MAXN items
 *
 * Nodes, pools, Services and EndpointSlices are described by the spec
 * structs below and added with add_*; each test keeps its own
 * advertisement spec (L2 or BGP) and scenario table.  Everything here is
 * static inline so that a test that does not use a helper stays
 * warning-free.
 */
#ifndef IRONLB_TEST_ANNOUNCE_FIXTURES_H
#define IRONLB_TEST_ANNOUNCE_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "announce/announce.h"
#include "base/util.h"
#include "model/model.h"
#include "net/ip.h"

#define MAXN 8

/* ------------------------------------------------------------------ */
/* strings */

static inline struct ip_addr addr_of(const char *s)
{
	struct ip_addr a;
	char why[128] = "";
	if (ip_parse(s, &a, why, sizeof(why)) < 0)
		fail_msg("\"%s\" %s", s, why);
	return a;
}

/* Split "a,b,c" (sep ',') into at most MAXN owned strings. */
static inline size_t split(const char *s, char sep, char **out)
{
	size_t n = 0;
	if (!s || !*s)
		return 0;
	const char *p = s;
	for (;;) {
		const char *e = strchr(p, sep);
		size_t len = e ? (size_t)(e - p) : strlen(p);
		assert_true(n < MAXN);
		out[n++] = xstrndup(p, len);
		if (!e)
			return n;
		p = e + 1;
	}
}

static inline void free_parts(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
}

static inline char **strv_of(const char *s, size_t *n)
{
	char *parts[MAXN];
	*n = split(s, ',', parts);
	char **v = xcalloc(*n ? *n : 1, sizeof(*v));
	memcpy(v, parts, *n * sizeof(*v));
	return v;
}

/* "k=v,k2=v2" */
static inline void labels_of(struct labels *l, const char *s)
{
	char *parts[MAXN];
	size_t n = split(s, ',', parts);
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(parts[i], '=');
		assert_non_null(eq);
		*eq = '\0';
		labels_set(l, parts[i], eq + 1);
	}
	free_parts(parts, n);
}

/* "k=v,k2=v2;k3=v3": a list of selectors (matchLabels), any may match. */
static inline struct label_selector *selectors_of(const char *s, size_t *n)
{
	char *parts[MAXN];
	*n = split(s, ';', parts);
	struct label_selector *sel = xcalloc(*n ? *n : 1, sizeof(*sel));
	for (size_t i = 0; i < *n; i++)
		labels_of(&sel[i].match_labels, parts[i]);
	free_parts(parts, *n);
	return sel;
}

/* ------------------------------------------------------------------ */
/* objects */

struct node_spec {
	const char *name;
	const char *labels;
	bool excluded;
	bool unavailable;
	bool down;               /* held dead or left by the failure detector */
};

struct pool_spec {
	const char *name;
	const char *labels;
	bool invalid;
};

struct svc_spec {
	const char *ns, *name;
	const char *labels;
	bool local;              /* externalTrafficPolicy: Local */
	const char *addrs;       /* ingress order */
	const char *pools;       /* pool of each address */
};

/* Endpoints "node:r" (ready), "node:s" (ready=false, serving=true),
 * "node:-" (neither). */
struct slice_spec {
	const char *ns, *service;
	const char *eps;
};

static inline void add_node(struct model *m, const struct node_spec *s)
{
	struct node_obj *n = VEC_PUSH(m->nodes, m->nnodes);
	n->meta.kind = KIND_NODE;
	n->meta.name = xstrdup(s->name);
	labels_of(&n->meta.labels, s->labels);
	n->excluded = s->excluded;
	n->network_unavailable = s->unavailable;
	n->member_down = s->down;
}

static inline void add_pool(struct model *m, const struct pool_spec *s)
{
	struct pool *p = VEC_PUSH(m->pools, m->npools);
	p->meta.kind = KIND_IPADDRESSPOOL;
	p->meta.name = xstrdup(s->name);
	p->meta.namespace_ = xstrdup(MODEL_DEFAULT_CONFIG_NAMESPACE);
	p->meta.invalid = s->invalid;
	labels_of(&p->meta.labels, s->labels);
	p->auto_assign = true;
}

static inline void add_service(struct model *m, const struct svc_spec *s)
{
	struct service *v = VEC_PUSH(m->services, m->nservices);
	v->meta.kind = KIND_SERVICE;
	v->meta.name = xstrdup(s->name);
	v->meta.namespace_ = xstrdup(s->ns);
	labels_of(&v->meta.labels, s->labels);
	v->type = xstrdup("LoadBalancer");
	v->external_traffic_policy = xstrdup(s->local ? "Local" : "Cluster");
}

static inline void add_slice(struct model *m, const struct slice_spec *s, size_t idx)
{
	struct endpointslice *e = VEC_PUSH(m->slices, m->nslices);
	e->meta.kind = KIND_ENDPOINTSLICE;
	e->meta.name = xasprintf("%s-%zu", s->service, idx);
	e->meta.namespace_ = xstrdup(s->ns);
	labels_set(&e->meta.labels, "kubernetes.io/service-name", s->service);
	e->service_name = xstrdup(s->service);
	e->address_type = IP_FAMILY_V4;
	char *parts[MAXN];
	size_t n = split(s->eps, ',', parts);
	e->endpoints = xcalloc(n ? n : 1, sizeof(*e->endpoints));
	e->nendpoints = n;
	for (size_t i = 0; i < n; i++) {
		char *colon = strchr(parts[i], ':');
		assert_non_null(colon);
		*colon = '\0';
		struct endpoint *ep = &e->endpoints[i];
		ep->node_name = xstrdup(parts[i]);
		ep->ready = colon[1] == 'r';
		ep->serving = colon[1] == 'r' || colon[1] == 's';
		ep->naddresses = 1;
		ep->addresses = xcalloc(1, sizeof(*ep->addresses));
		ep->addresses[0] = ip_v4(0x0a000001u + (uint32_t)i);
	}
	free_parts(parts, n);
}

/* Tables of specs end at the first entry without a name (or, for slices,
 * without a namespace), or after `max` entries. */
static inline void add_nodes(struct model *m, const struct node_spec *s, size_t max)
{
	for (size_t i = 0; i < max && s[i].name; i++)
		add_node(m, &s[i]);
}

static inline void add_pools(struct model *m, const struct pool_spec *s, size_t max)
{
	for (size_t i = 0; i < max && s[i].name; i++)
		add_pool(m, &s[i]);
}

static inline void add_services(struct model *m, const struct svc_spec *s, size_t max)
{
	for (size_t i = 0; i < max && s[i].name; i++)
		add_service(m, &s[i]);
}

static inline void add_slices(struct model *m, const struct slice_spec *s, size_t max)
{
	for (size_t i = 0; i < max && s[i].ns; i++)
		add_slice(m, &s[i], i);
}

static inline size_t count_svc_specs(const struct svc_spec *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n].name)
		n++;
	return n;
}

/* ------------------------------------------------------------------ */
/* planner inputs */

/* The addresses and pools of a Service's allocation, from its spec: fills
 * out->naddrs, out->addrs and out->pools (not out->svc).  The pool names
 * are owned by pool_store (MAXN slots); returns how many were stored. */
static inline size_t svc_addrs_of(const struct svc_spec *s, struct announce_svc *out,
				  char **pool_store)
{
	char *addrs[MAXN];
	size_t na = split(s->addrs, ',', addrs);
	size_t np = split(s->pools, ',', pool_store);
	assert_true(na <= 2 && np == na);
	out->naddrs = na;
	for (size_t k = 0; k < na; k++) {
		out->addrs[k] = addr_of(addrs[k]);
		out->pools[k] = pool_store[k];
	}
	free_parts(addrs, na);
	return np;
}

/* ------------------------------------------------------------------ */
/* timing, for the scale cases */

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
