/*
 * DOC: Layer 2 announcement planning.
 *
 * announce_l2() turns (validated model, the allocator's addresses, local
 * node name) into one l2_entry per (address, Service): the elected owner,
 * the other eligible nodes in election order, and the interfaces to answer
 * on.  Pure: no I/O, no clock, so every node computes the same plan.
 *
 * Work is split so that the cost per Service stays small with thousands of
 * Services:
 *   1. once per call: the node list (sorted by name, plus the local node),
 *      the valid L2Advertisements, and for every (advertisement, node) pair
 *      whether its nodeSelectors match and the preferredNodeSelectors score;
 *      for every valid pool the advertisements that select it;
 *   2. per Service: only the serviceSelectors of that pool's
 *      advertisements (skipped for advertisements without any), the
 *      endpoints when externalTrafficPolicy is Local (slices indexed once,
 *      on first need), then one SHA-256 per eligible node.
 *
 * Election key (MetalLB speaker/layer2_controller.go, ShouldAnnounce):
 * MetalLB sorts the usable nodes by sha256(nodeName + "#" + ip) where ip is
 * the text of the Service's first LoadBalancer ingress address (Go's
 * net.IP.String(): dotted quad, RFC 5952 for IPv6), comparing the 32 digest
 * bytes as unsigned bytes, ascending; the first node announces every
 * address of the Service.  The same key is used here, with the first
 * address of announce_svc (ingress order).  ip_format() gives the same text
 * as Go except for IPv4-mapped IPv6 addresses, which Go prints as a dotted
 * quad; the key does the same so that mixed clusters agree.
 *
 * When an L2Advertisement has preferredNodeSelectors (MetalLB's soft
 * preference), the sum of the matching weights over the advertisements
 * that select the Service and the node orders first (higher first), the
 * hash breaks ties; without preferences the order is the hash alone.
 *
 * Incremental planning (l2_planner, end of this file) keeps the context of
 * step 1 and the plan between calls: an update takes a Service's entries
 * out of the sorted plan and inserts those of its new election, and looks
 * its EndpointSlices up one by one (an index would point into the model's
 * array, which later changes may move).
 *
 * Placement with claims (`ironlb run`): after the candidates are sorted as
 * above, the owner is chosen among those with the top preference score:
 * the claimant with the newest claim, else the one that owns the fewest
 * Services so far in this plan (c->load), the hash order breaking ties.
 * The Services are planned claimed first, then by namespace/name, so the
 * loads, and so the plan, are the same on every node given the same
 * inputs.  A Service's later pool elections prefer its first owner.
 *
 * With ironlb a Service's two addresses may come from different pools; each
 * address is judged against its own pool's advertisements, while the key
 * stays the Service's first address, so both families land on one node
 * whenever both pools are advertised there.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "announce/announce.h"
#include "announce/internal.h"
#include "base/sha256.h"
#include "base/util.h"

#define SERVICE_NAME_LABEL "kubernetes.io/service-name"

/* ------------------------------------------------------------------ */
/* election key */

/* sha256(node + "#" + addr_text): three updates give the digest of the
 * joined text without building it. */
static void election_hash(const char *node, const char *addr_text, unsigned char out[32])
{
	struct sha256 s;
	sha256_init(&s);
	sha256_update(&s, node, strlen(node));
	sha256_update(&s, "#", 1);
	sha256_update(&s, addr_text, strlen(addr_text));
	sha256_final(&s, out);
}

/* The address text MetalLB hashes: Go prints an IPv4-mapped IPv6 address
 * as a dotted quad. */
static char *key_addr_format(const struct ip_addr *a, char buf[IP_STR_MAX])
{
	if (ip_is_v4_mapped(a)) {
		struct ip_addr v4 = ip_v4((uint32_t)a->v);
		return ip_format(&v4, buf);
	}
	return ip_format(a, buf);
}

void announce_election_key(const char *node, const struct ip_addr *first_addr,
			   unsigned char out[32])
{
	char addr_text[IP_STR_MAX];
	key_addr_format(first_addr, addr_text);
	election_hash(node, addr_text, out);
}

/* ------------------------------------------------------------------ */
/* planning context */

struct plan_node {
	const char *name;
	const struct labels *labels;  /* empty for a local node without a Node object */
	bool usable;                  /* neither excluded, NetworkUnavailable nor member_down */
	size_t order;                 /* position in m->nodes, to keep the first of duplicates */
};

struct plan_pool {
	const char *name;
	size_t order;                 /* position in m->pools, to keep the first of duplicates */
	size_t nads;
	size_t *ads;                  /* indices into ctx.ads */
};

struct cand {
	size_t node;
	uint64_t score;
	unsigned char key[32];
};

struct plan_ctx {
	const struct model *m;
	size_t nnodes;
	struct plan_node *nodes;      /* sorted by name, unique */
	size_t nads;
	const struct l2adv **ads;     /* valid advertisements */
	bool *node_ok;                /* [ad * nnodes + node]: nodeSelectors match */
	uint64_t *pref;               /* [ad * nnodes + node]: preference weight */
	size_t npools;
	struct plan_pool *pools;      /* valid pools, sorted by name, unique */
	bool slices_indexed;
	struct announce_slices slices;
	bool slices_scan;             /* look slices up one by one (no index) */
	const struct announce_claims *claims;   /* NULL: the hash alone */
	size_t *load;                 /* [node]: Services it owns in this plan */
	/* per-Service scratch */
	size_t *svc_ads;
	bool *has_ep;
	struct cand *cands;
	const char **ifaces;
	size_t ifaces_cap;
};

static const struct labels no_labels;

static int cmp_plan_node(const void *a, const void *b)
{
	const struct plan_node *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static size_t node_index(const struct plan_ctx *c, const char *name)
{
	size_t lo = 0, hi = c->nnodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->nodes[mid].name, name);
		if (r == 0)
			return mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (size_t)-1;
}

static void build_nodes(struct plan_ctx *c, const char *local)
{
	const struct model *m = c->m;
	c->nodes = xcalloc(m->nnodes + 1, sizeof(*c->nodes));
	size_t n = 0;
	for (size_t i = 0; i < m->nnodes; i++) {
		const struct node_obj *no = &m->nodes[i];
		if (!no->meta.name)
			continue;
		c->nodes[n++] = (struct plan_node){
			.name = no->meta.name,
			.labels = &no->meta.labels,
			.usable = announce_node_usable(no),
			.order = i,
		};
	}
	xqsort(c->nodes, n, sizeof(*c->nodes), cmp_plan_node);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || strcmp(c->nodes[u - 1].name, c->nodes[i].name) != 0)
			c->nodes[u++] = c->nodes[i];
	c->nnodes = u;
	if (local && *local && node_index(c, local) == (size_t)-1) {
		c->nodes[c->nnodes++] = (struct plan_node){
			.name = local,
			.labels = &no_labels,
			.usable = true,
			.order = m->nnodes,
		};
		xqsort(c->nodes, c->nnodes, sizeof(*c->nodes), cmp_plan_node);
	}
}

static void build_ads(struct plan_ctx *c)
{
	const struct model *m = c->m;
	c->ads = xcalloc(m->nl2advs, sizeof(*c->ads));
	for (size_t i = 0; i < m->nl2advs; i++)
		if (!m->l2advs[i].meta.invalid)
			c->ads[c->nads++] = &m->l2advs[i];
	c->node_ok = xcalloc(c->nads * c->nnodes, sizeof(*c->node_ok));
	c->pref = xcalloc(c->nads * c->nnodes, sizeof(*c->pref));
	for (size_t a = 0; a < c->nads; a++) {
		const struct l2adv *ad = c->ads[a];
		for (size_t n = 0; n < c->nnodes; n++) {
			const struct labels *l = c->nodes[n].labels;
			if (!selectors_match_any(ad->node_selectors, ad->nnode_selectors, l, true))
				continue;
			c->node_ok[a * c->nnodes + n] = true;
			uint64_t w = 0;
			for (size_t p = 0; p < ad->npreferred_nodes; p++)
				if (selector_matches(&ad->preferred_nodes[p].preference, l))
					w += (uint64_t)(ad->preferred_nodes[p].weight > 0
								? ad->preferred_nodes[p].weight
								: 0);
			c->pref[a * c->nnodes + n] = w;
		}
	}
}

static int cmp_pool_name(const void *a, const void *b)
{
	return strcmp(((const struct plan_pool *)a)->name, ((const struct plan_pool *)b)->name);
}

static int cmp_plan_pool(const void *a, const void *b)
{
	const struct plan_pool *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void build_pools(struct plan_ctx *c)
{
	const struct model *m = c->m;
	c->pools = xcalloc(m->npools, sizeof(*c->pools));
	for (size_t i = 0; i < m->npools; i++) {
		const struct pool *p = &m->pools[i];
		if (p->meta.invalid || !p->meta.name)
			continue;
		struct plan_pool *pp = &c->pools[c->npools++];
		pp->name = p->meta.name;
		pp->order = i;
		pp->ads = xcalloc(c->nads, sizeof(*pp->ads));
		for (size_t a = 0; a < c->nads; a++)
			if (l2adv_selects_pool(c->ads[a], p))
				pp->ads[pp->nads++] = a;
	}
	xqsort(c->pools, c->npools, sizeof(*c->pools), cmp_plan_pool);
	size_t u = 0;
	for (size_t i = 0; i < c->npools; i++) {
		if (u > 0 && strcmp(c->pools[u - 1].name, c->pools[i].name) == 0) {
			free(c->pools[i].ads);
			continue;
		}
		c->pools[u++] = c->pools[i];
	}
	c->npools = u;
}

static const struct plan_pool *find_pool(const struct plan_ctx *c, const char *name)
{
	if (!name)
		return NULL;
	struct plan_pool key = {.name = name};
	return xbsearch(&key, c->pools, c->npools, sizeof(*c->pools), cmp_pool_name);
}

/* ------------------------------------------------------------------ */
/* rules shared with the BGP planner (internal.h) */

bool announce_node_usable(const struct node_obj *n)
{
	return !n->excluded && !n->network_unavailable && !n->member_down;
}

bool announce_endpoint_serves(const struct endpoint *ep)
{
	return ep->node_name && (ep->ready || ep->serving);
}

bool announce_policy_local(const struct service *svc)
{
	return svc->external_traffic_policy && strcmp(svc->external_traffic_policy, "Local") == 0;
}

char *announce_service_name(const struct service *svc)
{
	const char *ns = svc->meta.namespace_;
	return ns ? xasprintf("%s/%s", ns, svc->meta.name) : xstrdup(svc->meta.name);
}

static const char *slice_service(const struct endpointslice *s)
{
	if (s->service_name)
		return s->service_name;
	return labels_get(&s->meta.labels, SERVICE_NAME_LABEL);
}

static int cmp_ns_name(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
	int c = strcmp(ns1 ? ns1 : "", ns2 ? ns2 : "");
	return c ? c : strcmp(n1, n2);
}

static int cmp_slice(const void *a, const void *b)
{
	const struct endpointslice *x = *(const struct endpointslice *const *)a;
	const struct endpointslice *y = *(const struct endpointslice *const *)b;
	return cmp_ns_name(x->meta.namespace_, slice_service(x), y->meta.namespace_,
			   slice_service(y));
}

void announce_slices_index(struct announce_slices *ix, const struct model *m)
{
	ix->n = 0;
	ix->v = xcalloc(m->nslices ? m->nslices : 1, sizeof(*ix->v));
	for (size_t i = 0; i < m->nslices; i++)
		if (slice_service(&m->slices[i]))
			ix->v[ix->n++] = &m->slices[i];
	xqsort(ix->v, ix->n, sizeof(*ix->v), cmp_slice);
}

void announce_slices_free(struct announce_slices *ix)
{
	free(ix->v);
	ix->v = NULL;
	ix->n = 0;
}

size_t announce_slices_find(const struct announce_slices *ix, const char *ns, const char *name,
			    size_t *end)
{
	size_t lo = 0, hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct endpointslice *s = ix->v[mid];
		if (cmp_ns_name(s->meta.namespace_, slice_service(s), ns, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t e = lo;
	while (e < ix->n &&
	       cmp_ns_name(ix->v[e]->meta.namespace_, slice_service(ix->v[e]), ns, name) == 0)
		e++;
	*end = e;
	return lo;
}

bool announce_slice_is_of(const struct endpointslice *s, const char *ns, const char *name)
{
	const char *svc = slice_service(s);
	return svc && cmp_ns_name(s->meta.namespace_, svc, ns, name) == 0;
}

/* ------------------------------------------------------------------ */
/* endpoints */

/* Mark the nodes holding an endpoint of svc that can take traffic. */
static void mark_endpoint_nodes(struct plan_ctx *c, const struct service *svc)
{
	memset(c->has_ep, 0, c->nnodes * sizeof(*c->has_ep));
	if (c->slices_scan) {
		for (size_t i = 0; i < c->m->nslices; i++) {
			const struct endpointslice *s = &c->m->slices[i];
			if (!announce_slice_is_of(s, svc->meta.namespace_, svc->meta.name))
				continue;
			for (size_t e = 0; e < s->nendpoints; e++) {
				const struct endpoint *ep = &s->endpoints[e];
				if (!announce_endpoint_serves(ep))
					continue;
				size_t n = node_index(c, ep->node_name);
				if (n != (size_t)-1)
					c->has_ep[n] = true;
			}
		}
		return;
	}
	if (!c->slices_indexed) {
		announce_slices_index(&c->slices, c->m);
		c->slices_indexed = true;
	}
	size_t end;
	size_t first = announce_slices_find(&c->slices, svc->meta.namespace_, svc->meta.name, &end);
	for (size_t i = first; i < end; i++) {
		const struct endpointslice *s = c->slices.v[i];
		for (size_t e = 0; e < s->nendpoints; e++) {
			const struct endpoint *ep = &s->endpoints[e];
			if (!announce_endpoint_serves(ep))
				continue;
			size_t n = node_index(c, ep->node_name);
			if (n != (size_t)-1)
				c->has_ep[n] = true;
		}
	}
}

/* ------------------------------------------------------------------ */
/* claims */

static int cmp_claim(const void *a, const void *b)
{
	const struct announce_claim *x = a, *y = b;
	int c = strcmp(x->service, y->service);
	return c ? c : strcmp(x->node, y->node);
}

void announce_claims_sort(struct announce_claim *v, size_t n)
{
	if (n > 1)
		xqsort(v, n, sizeof(*v), cmp_claim);
}

/* The claims of one Service are cl->v[*lo .. *hi). */
static void claims_range(const struct announce_claims *cl, const char *service, size_t *lo,
			 size_t *hi)
{
	size_t l = 0, h = cl->n;
	while (l < h) {
		size_t mid = l + (h - l) / 2;
		if (strcmp(cl->v[mid].service, service) < 0)
			l = mid + 1;
		else
			h = mid;
	}
	*lo = l;
	while (l < cl->n && strcmp(cl->v[l].service, service) == 0)
		l++;
	*hi = l;
}

/* ------------------------------------------------------------------ */
/* election */

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	int r = memcmp(x->key, y->key, sizeof(x->key));
	if (r)
		return r;
	return x->node < y->node ? -1 : x->node > y->node;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The outcome of one election, shared by the addresses that use one pool. */
struct election {
	size_t ncands;
	size_t owner;                 /* node index, or (size_t)-1 */
	bool all_interfaces;
	size_t nifaces;
};

/* Which of the pool's advertisements also select this Service; returns
 * how many (their indices in c->svc_ads). */
static size_t select_ads(struct plan_ctx *c, const struct plan_pool *pp,
			 const struct service *svc)
{
	size_t n = 0;
	for (size_t i = 0; i < pp->nads; i++) {
		const struct l2adv *ad = c->ads[pp->ads[i]];
		if (ad->nsvc_selectors == 0 ||
		    selectors_match_any(ad->svc_selectors, ad->nsvc_selectors, &svc->meta.labels,
					true))
			c->svc_ads[n++] = pp->ads[i];
	}
	return n;
}

/* Sticky, then balanced, among the top-scored candidates: moves the
 * chosen one to the front of c->cands (the rest keep their order). */
static void place(struct plan_ctx *c, size_t nc, const char *service, size_t prefer)
{
	size_t ntop = 1;
	while (ntop < nc && c->cands[ntop].score == c->cands[0].score)
		ntop++;
	size_t best = (size_t)-1;
	for (size_t i = 0; i < ntop && best == (size_t)-1; i++)
		if (c->cands[i].node == prefer)
			best = i;
	if (best == (size_t)-1) {
		size_t lo, hi;
		uint64_t since = 0;
		claims_range(c->claims, service, &lo, &hi);
		for (size_t i = 0; i < ntop && lo < hi; i++) {
			const char *name = c->nodes[c->cands[i].node].name;
			for (size_t k = lo; k < hi; k++)
				if (strcmp(c->claims->v[k].node, name) == 0 &&
				    (best == (size_t)-1 || c->claims->v[k].since > since)) {
					best = i;
					since = c->claims->v[k].since;
				}
		}
	}
	if (best == (size_t)-1) {
		best = 0;
		for (size_t i = 1; i < ntop; i++)
			if (c->load[c->cands[i].node] < c->load[c->cands[best].node])
				best = i;
	}
	if (best) {
		struct cand t = c->cands[best];
		memmove(&c->cands[1], &c->cands[0], best * sizeof(*c->cands));
		c->cands[0] = t;
	}
}

static void elect(struct plan_ctx *c, size_t nads, bool local_policy, const char *key_addr,
		  const char *service, size_t prefer, struct election *el)
{
	size_t nc = 0;
	for (size_t n = 0; n < c->nnodes; n++) {
		if (!c->nodes[n].usable || (local_policy && !c->has_ep[n]))
			continue;
		bool ok = false;
		uint64_t score = 0;
		for (size_t i = 0; i < nads; i++) {
			size_t at = c->svc_ads[i] * c->nnodes + n;
			if (c->node_ok[at]) {
				ok = true;
				score += c->pref[at];
			}
		}
		if (!ok)
			continue;
		struct cand *cd = &c->cands[nc++];
		cd->node = n;
		cd->score = score;
		election_hash(c->nodes[n].name, key_addr, cd->key);
	}
	xqsort(c->cands, nc, sizeof(*c->cands), cmp_cand);
	if (c->claims && nc)
		place(c, nc, service, prefer);
	el->ncands = nc;
	el->owner = nc ? c->cands[0].node : (size_t)-1;
	el->all_interfaces = false;
	el->nifaces = 0;
	if (el->owner == (size_t)-1)
		return;
	for (size_t i = 0; i < nads; i++) {
		if (!c->node_ok[c->svc_ads[i] * c->nnodes + el->owner])
			continue;
		const struct l2adv *ad = c->ads[c->svc_ads[i]];
		if (ad->ninterfaces == 0) {
			el->all_interfaces = true;
			continue;
		}
		if (el->nifaces + ad->ninterfaces > c->ifaces_cap) {
			c->ifaces_cap = 2 * (el->nifaces + ad->ninterfaces);
			c->ifaces = xrealloc(c->ifaces, c->ifaces_cap * sizeof(*c->ifaces));
		}
		for (size_t k = 0; k < ad->ninterfaces; k++)
			c->ifaces[el->nifaces++] = ad->interfaces[k];
	}
	if (el->all_interfaces) {
		el->nifaces = 0;
		return;
	}
	if (el->nifaces > 1)
		xqsort(c->ifaces, el->nifaces, sizeof(*c->ifaces), cmp_strp);
	size_t u = 0;
	for (size_t i = 0; i < el->nifaces; i++)
		if (u == 0 || strcmp(c->ifaces[u - 1], c->ifaces[i]) != 0)
			c->ifaces[u++] = c->ifaces[i];
	el->nifaces = u;
}

/* An entry's arrays and strings live in one allocation, arrays first (for
 * their alignment): candidates, interfaces, then service, pool, owner and
 * the names the arrays point at.  One allocation instead of five or more
 * per entry; entry_block() finds it again to free it. */
static void emit(struct plan_ctx *c, const struct election *el, const struct ip_addr *addr,
		 const char *service, const char *pool, const char *local, struct l2_plan *out)
{
	const char *owner = el->owner != (size_t)-1 ? c->nodes[el->owner].name : NULL;
	size_t nc = el->ncands < UINT16_MAX ? el->ncands : UINT16_MAX;
	size_t ni = el->nifaces < UINT16_MAX ? el->nifaces : UINT16_MAX;
	size_t size = (nc + ni) * sizeof(char *) + strlen(service) + 1 + strlen(pool) + 1;
	if (owner)
		size += strlen(owner) + 1;
	for (size_t i = 0; i < nc; i++)
		size += strlen(c->nodes[c->cands[i].node].name) + 1;
	for (size_t i = 0; i < ni; i++)
		size += strlen(c->ifaces[i]) + 1;
	char **pv = xmalloc(size);
	char *sp = (char *)(pv + nc + ni);
#define PUT(dst, src)                           \
	do {                                    \
		size_t l_ = strlen(src) + 1;    \
		memcpy(sp, (src), l_);          \
		(dst) = sp;                     \
		sp += l_;                       \
	} while (0)

	struct l2_entry *e = VEC_PUSH(out->entries, out->n);
	e->addr = *addr;
	PUT(e->service, service);
	PUT(e->pool, pool);
	if (owner) {
		PUT(e->owner, owner);
		e->here = local && strcmp(owner, local) == 0;
	}
	e->all_interfaces = el->all_interfaces;
	e->ncandidates = (uint16_t)nc;
	e->candidates = nc ? pv : NULL;
	for (size_t i = 0; i < nc; i++)
		PUT(pv[i], c->nodes[c->cands[i].node].name);
	e->ninterfaces = (uint16_t)ni;
	e->interfaces = ni ? pv + nc : NULL;
	for (size_t i = 0; i < ni; i++)
		PUT(pv[nc + i], c->ifaces[i]);
#undef PUT
}

static void *entry_block(const struct l2_entry *e)
{
	return e->service ? (char **)e->service - (e->ncandidates + e->ninterfaces) : NULL;
}

/* After planning, the entries of one Service share one block (tens of
 * thousands of Services: one allocation and one copy of each name per
 * Service, not one per entry, and no separate record of its addresses):
 *
 *   struct svc_block, the Service's name "ns/name" (entry.service), the
 *   entries' candidate and interface arrays (pointer-aligned), then the
 *   other strings, each written once (the owner is a candidate too); the
 *   incremental planner's entries point at its table of names instead
 *   (struct strtab), so that its blocks hold no pool or node names.
 *
 * The header holds what the incremental planner looks a Service up by:
 * the addresses it has entries for, and the node its load was counted on.
 * An entry finds its block from entry.service; the last entry freed
 * frees it. */
struct svc_block {
	unsigned char v[2][sizeof(u128)];  /* of its entries' addresses (at most two
					    * noted): the values' bytes, so that the
					    * header is 40 bytes, not 80 */
	uint32_t counted;             /* node its load was counted on, or UINT32_MAX */
	uint8_t refs;                 /* entries pointing into the block (at most two) */
	uint8_t n;                    /* addresses noted */
	uint8_t family[2];            /* enum ip_family of each */
};

static struct ip_addr svc_block_addr(const struct svc_block *b, size_t i)
{
	struct ip_addr a = {.family = (enum ip_family)b->family[i]};
	memcpy(&a.v, b->v[i], sizeof(a.v));
	return a;
}

/* A node index as svc_block.counted keeps it. */
static uint32_t counted_u32(size_t counted)
{
	return counted == (size_t)-1 ? UINT32_MAX : (uint32_t)counted;
}

static size_t counted_of(const struct svc_block *b)
{
	return b->counted == UINT32_MAX ? (size_t)-1 : b->counted;
}

static struct svc_block *svc_block_of(const struct l2_entry *e)
{
	return e->service ? (struct svc_block *)(void *)(e->service - sizeof(struct svc_block))
			  : NULL;
}

/* The names plan entries repeat (pools, nodes, interfaces): one copy each
 * for the incremental planner's whole plan, sorted, kept until its next
 * reset (only a reset brings names the planner has not seen: they come
 * from the nodes, pools and advertisements it was reset with). */
struct strtab {
	char **v;
	size_t n, cap;
};

static const char *strtab_intern(struct strtab *t, const char *s)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->v[mid], s);
		if (c == 0)
			return t->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	memmove(&t->v[lo + 1], &t->v[lo], (t->n - lo) * sizeof(*t->v));
	t->v[lo] = xstrdup(s);
	t->n++;
	return t->v[lo];
}

static void strtab_free(struct strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* Where pack_service() writes strings, each distinct one once (among
 * the first few: a Service's entries name a handful), or, given a
 * table, none: the table's copy is used.  With sp NULL it only counts
 * the bytes, deciding alike. */
struct pack_buf {
	char *sp;
	size_t len;
	struct strtab *tab;
	size_t nseen;
	const char *seen[16];
};

static char *pack_str(struct pack_buf *b, const char *s)
{
	if (b->tab)
		return (char *)(b->sp ? strtab_intern(b->tab, s) : s);
	for (size_t i = 0; i < b->nseen; i++)
		if (strcmp(b->seen[i], s) == 0)
			return (char *)b->seen[i];
	size_t l = strlen(s) + 1;
	const char *d = s;
	if (b->sp) {
		d = memcpy(b->sp, s, l);
		b->sp += l;
	}
	b->len += l;
	if (b->nseen < sizeof(b->seen) / sizeof(b->seen[0]))
		b->seen[b->nseen++] = d;
	return (char *)d;
}

/* Move entries e[0..n) (one Service's, fresh from emit()) into one
 * block, their names into tab when it is not NULL; returns the block. */
static struct svc_block *pack_service(struct l2_entry *e, size_t n, size_t counted,
				      struct strtab *tab)
{
	size_t lsvc = strlen(e[0].service) + 1;
	size_t arrays = 0;
	struct pack_buf dry = {.tab = tab};
	for (size_t i = 0; i < n; i++) {
		arrays += e[i].ncandidates + e[i].ninterfaces;
		pack_str(&dry, e[i].pool);
		if (e[i].owner)
			pack_str(&dry, e[i].owner);
		for (size_t k = 0; k < e[i].ncandidates; k++)
			pack_str(&dry, e[i].candidates[k]);
		for (size_t k = 0; k < e[i].ninterfaces; k++)
			pack_str(&dry, e[i].interfaces[k]);
	}
	size_t strs = dry.len;
	size_t head = sizeof(struct svc_block) + lsvc;
	head = (head + sizeof(char *) - 1) / sizeof(char *) * sizeof(char *);
	struct svc_block *b = xcalloc(1, head + arrays * sizeof(char *) + strs);
	b->counted = counted_u32(counted);
	b->refs = (uint8_t)n;
	char *svc = (char *)(b + 1);
	memcpy(svc, e[0].service, lsvc);
	char **pv = (char **)(void *)((char *)b + head);
	struct pack_buf pb = {.sp = (char *)(pv + arrays), .tab = tab};
	for (size_t i = 0; i < n; i++) {
		struct l2_entry *x = &e[i];
		void *old = entry_block(x);
		if (b->n < 2) {
			memcpy(b->v[b->n], &x->addr.v, sizeof(b->v[0]));
			b->family[b->n++] = (uint8_t)x->addr.family;
		}
		x->service = svc;
		x->pool = pack_str(&pb, x->pool);
		if (x->owner)
			x->owner = pack_str(&pb, x->owner);
		if (x->ncandidates) {
			for (size_t k = 0; k < x->ncandidates; k++)
				pv[k] = pack_str(&pb, x->candidates[k]);
			x->candidates = pv;
			pv += x->ncandidates;
		}
		if (x->ninterfaces) {
			for (size_t k = 0; k < x->ninterfaces; k++)
				pv[k] = pack_str(&pb, x->interfaces[k]);
			x->interfaces = pv;
			pv += x->ninterfaces;
		}
		free(old);
	}
	return b;
}

/* An entry leaves the plan: the last one of its Service frees the block. */
static void entry_release(struct l2_entry *e)
{
	struct svc_block *b = svc_block_of(e);
	if (b && --b->refs == 0)
		free(b);
}

/* Plan one Service; returns the node its load was counted on (claims
 * mode), or (size_t)-1. */
static size_t plan_service(struct plan_ctx *c, const struct announce_svc *as, const char *local,
			   struct l2_plan *out)
{
	const struct service *svc = as->svc;
	size_t naddrs = as->naddrs < 2 ? as->naddrs : 2;
	size_t prefer = (size_t)-1;
	if (!svc || naddrs == 0 || !svc->meta.name)
		return prefer;
	char *service = announce_service_name(svc);
	char key_addr[IP_STR_MAX];
	key_addr_format(&as->addrs[0], key_addr);
	bool local_policy = announce_policy_local(svc);
	bool eps_marked = false;

	const struct plan_pool *done = NULL;
	for (size_t i = 0; i < naddrs; i++) {
		const struct plan_pool *pp = find_pool(c, as->pools[i]);
		if (!pp || pp == done)
			continue;
		size_t nads = select_ads(c, pp, svc);
		if (nads == 0)
			continue;
		if (local_policy && !eps_marked) {
			mark_endpoint_nodes(c, svc);
			eps_marked = true;
		}
		struct election el;
		elect(c, nads, local_policy, key_addr, service, prefer, &el);
		if (prefer == (size_t)-1)
			prefer = el.owner;
		/* Later addresses from the same pool share this election. */
		for (size_t k = i; k < naddrs; k++)
			if (find_pool(c, as->pools[k]) == pp)
				emit(c, &el, &as->addrs[k], service, pp->name, local, out);
		done = pp;
	}
	free(service);
	if (!c->claims || prefer == (size_t)-1)
		return (size_t)-1;
	c->load[prefer]++;
	return prefer;
}

/* The order Services are planned in: as given without claims; with
 * claims, the claimed ones first, then the rest, each by namespace/name
 * (the loads depend on the order, which must be the same everywhere). */
struct order_key {
	size_t i;
	bool unclaimed;
	char *key;
};

static int cmp_order(const void *a, const void *b)
{
	const struct order_key *x = a, *y = b;
	if (x->unclaimed != y->unclaimed)
		return x->unclaimed ? 1 : -1;
	return strcmp(x->key, y->key);
}

static size_t *plan_order(const struct plan_ctx *c, const struct announce_svc *svcs, size_t n)
{
	size_t *order = xcalloc(n ? n : 1, sizeof(*order));
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	if (!c->claims || n < 2)
		return order;
	struct order_key *k = xcalloc(n, sizeof(*k));
	for (size_t i = 0; i < n; i++) {
		k[i].i = i;
		k[i].key = svcs[i].svc && svcs[i].svc->meta.name ? announce_service_name(svcs[i].svc)
								   : xstrdup("");
		size_t lo, hi;
		claims_range(c->claims, k[i].key, &lo, &hi);
		k[i].unclaimed = lo == hi;
	}
	xqsort(k, n, sizeof(*k), cmp_order);
	for (size_t i = 0; i < n; i++) {
		order[i] = k[i].i;
		free(k[i].key);
	}
	free(k);
	return order;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct l2_entry *x = a, *y = b;
	int r = ip_cmp(&x->addr, &y->addr);
	return r ? r : strcmp(x->service, y->service);
}

static void ctx_free(struct plan_ctx *c)
{
	for (size_t i = 0; i < c->npools; i++)
		free(c->pools[i].ads);
	free(c->pools);
	free(c->nodes);
	free(c->ads);
	free(c->node_ok);
	free(c->pref);
	announce_slices_free(&c->slices);
	free(c->svc_ads);
	free(c->has_ep);
	free(c->cands);
	free(c->ifaces);
	free(c->load);
}

int announce_l2(const struct model *m, const char *node_name, const struct announce_svc *svcs,
		size_t nsvcs, struct l2_plan *out)
{
	return announce_l2_claims(m, node_name, svcs, nsvcs, NULL, out);
}

int announce_l2_claims(const struct model *m, const char *node_name,
		       const struct announce_svc *svcs, size_t nsvcs,
		       const struct announce_claims *claims, struct l2_plan *out)
{
	memset(out, 0, sizeof(*out));
	struct plan_ctx c = {.m = m, .claims = claims};
	const char *local = node_name && *node_name ? node_name : NULL;
	build_nodes(&c, local);
	build_ads(&c);
	build_pools(&c);
	c.svc_ads = xcalloc(c.nads, sizeof(*c.svc_ads));
	c.has_ep = xcalloc(c.nnodes, sizeof(*c.has_ep));
	c.cands = xcalloc(c.nnodes ? c.nnodes : 1, sizeof(*c.cands));
	c.load = xcalloc(c.nnodes ? c.nnodes : 1, sizeof(*c.load));

	size_t *order = plan_order(&c, svcs, nsvcs);
	for (size_t i = 0; i < nsvcs; i++) {
		size_t before = out->n;
		plan_service(&c, &svcs[order[i]], local, out);
		if (out->n > before)
			pack_service(&out->entries[before], out->n - before, (size_t)-1, NULL);
	}
	free(order);
	if (out->n > 1)
		xqsort(out->entries, out->n, sizeof(*out->entries), cmp_entry);
	ctx_free(&c);
	return 0;
}

void l2_plan_free(struct l2_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		entry_release(&p->entries[i]);
	free(p->entries);
	p->entries = NULL;
	p->n = 0;
}

/* ------------------------------------------------------------------ */
/* incremental planning */

struct l2_planner {
	char *node;                   /* local node name, NULL for none */
	bool built;
	struct plan_ctx c;            /* nodes, advertisements, pools: kept between updates */
	struct l2_plan plan;
	/* The Services with entries: their blocks, sorted by name (8 bytes
	 * a Service; a hash map's slots took 24 to 55). */
	struct svc_block **held;
	size_t nheld, capheld;
	struct strtab names;          /* the names the plan's entries point at */
	bool claims_on;
	struct announce_claims claims;  /* borrowed (l2_planner_set_claims) */
};

void l2_planner_set_claims(struct l2_planner *p, const struct announce_claims *claims)
{
	p->claims_on = claims != NULL;
	if (claims)
		p->claims = *claims;
	else
		memset(&p->claims, 0, sizeof(p->claims));
	/* Updates until the next reset read the new claims too. */
	if (p->built)
		p->c.claims = p->claims_on ? &p->claims : NULL;
}

struct l2_planner *l2_planner_new(const char *node_name)
{
	struct l2_planner *p = xcalloc(1, sizeof(*p));
	p->node = node_name && *node_name ? xstrdup(node_name) : NULL;
	return p;
}

static void planner_clear(struct l2_planner *p)
{
	if (p->built)
		ctx_free(&p->c);
	memset(&p->c, 0, sizeof(p->c));
	p->built = false;
	free(p->held);
	p->held = NULL;
	p->nheld = p->capheld = 0;
	l2_plan_free(&p->plan);
	strtab_free(&p->names);
}

void l2_planner_free(struct l2_planner *p)
{
	if (!p)
		return;
	planner_clear(p);
	free(p->node);
	free(p);
}

const struct l2_plan *l2_planner_plan(const struct l2_planner *p)
{
	return &p->plan;
}

static const char *svc_block_name(const struct svc_block *b)
{
	return (const char *)(b + 1);
}

/* Whether p->held has the block of Service key; *at is its index, or
 * where it would go. */
static bool held_find(const struct l2_planner *p, const char *key, size_t *at)
{
	size_t lo = 0, hi = p->nheld;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(svc_block_name(p->held[mid]), key);
		if (c == 0) {
			*at = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return false;
}

static void held_insert(struct l2_planner *p, size_t at, struct svc_block *b)
{
	if (p->nheld == p->capheld) {
		/* Grown by an eighth: the array stays within 12.5% of its use. */
		p->capheld += p->capheld / 8 + 16;
		p->held = xrealloc(p->held, p->capheld * sizeof(*p->held));
	}
	memmove(&p->held[at + 1], &p->held[at], (p->nheld - at) * sizeof(*p->held));
	p->held[at] = b;
	p->nheld++;
}

static int cmp_held(const void *a, const void *b)
{
	return strcmp(svc_block_name(*(struct svc_block *const *)a),
		      svc_block_name(*(struct svc_block *const *)b));
}

size_t l2_planner_held(const struct l2_planner *p, const char *key, struct ip_addr addrs[2])
{
	size_t at;
	const struct svc_block *h = held_find(p, key, &at) ? p->held[at] : NULL;
	size_t n = h ? h->n : 0;
	for (size_t i = 0; i < n; i++)
		addrs[i] = svc_block_addr(h, i);
	return n;
}

static char *change_key(const char *ns, const char *name)
{
	return ns && *ns ? xasprintf("%s/%s", ns, name) : xstrdup(name);
}

/* Entries e[0..n) (one Service's, fresh from emit()) enter the plan:
 * pack them into their block and index it by the Service's name; with no
 * entries, the load counted for the Service is taken back. */
static void held_note(struct l2_planner *p, struct l2_entry *e, size_t n, size_t counted,
		      bool sorted)
{
	if (n == 0) {
		if (counted != (size_t)-1 && p->c.load)
			p->c.load[counted]--;
		return;
	}
	struct svc_block *b = pack_service(e, n, counted, &p->names);
	if (sorted) {
		size_t at;
		if (held_find(p, svc_block_name(b), &at))
			p->held[at] = b;  /* a Service given twice: the last one is found */
		else
			held_insert(p, at, b);
	} else {
		held_insert(p, p->nheld, b);
	}
}

void l2_planner_reset(struct l2_planner *p, const struct model *m,
		      const struct announce_svc *svcs, size_t nsvcs)
{
	planner_clear(p);
	struct plan_ctx *c = &p->c;
	c->m = m;
	build_nodes(c, p->node);
	build_ads(c);
	build_pools(c);
	c->svc_ads = xcalloc(c->nads ? c->nads : 1, sizeof(*c->svc_ads));
	c->has_ep = xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*c->has_ep));
	c->cands = xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*c->cands));
	c->load = xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*c->load));
	c->claims = p->claims_on ? &p->claims : NULL;
	p->built = true;
	size_t *order = plan_order(c, svcs, nsvcs);
	for (size_t i = 0; i < nsvcs; i++) {
		const struct announce_svc *as = &svcs[order[i]];
		size_t before = p->plan.n;
		size_t counted = plan_service(c, as, p->node, &p->plan);
		if (p->plan.n > before)
			held_note(p, &p->plan.entries[before], p->plan.n - before, counted, false);
		else if (counted != (size_t)-1)
			c->load[counted]--;
	}
	free(order);
	/* Services are keyed by namespace/name in the model: no two blocks
	 * share a name. */
	if (p->nheld > 1)
		xqsort(p->held, p->nheld, sizeof(*p->held), cmp_held);
	if (p->plan.n > 1)
		xqsort(p->plan.entries, p->plan.n, sizeof(*p->plan.entries), cmp_entry);
	/* The slice index points into the model's array, which later changes
	 * may move: updates look slices up one Service at a time. */
	announce_slices_free(&c->slices);
	c->slices_indexed = false;
	c->slices_scan = true;
}

/* First index whose entry is not below (addr, service). */
static size_t entry_lower(const struct l2_plan *pl, const struct ip_addr *addr,
			  const char *service)
{
	struct l2_entry key = {.addr = *addr, .service = (char *)service};
	size_t lo = 0, hi = pl->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_entry(&pl->entries[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void l2_planner_update(struct l2_planner *p, const struct model *m,
		       const struct announce_change *ch, size_t nch)
{
	if (!p->built) {
		l2_planner_reset(p, m, NULL, 0);
	}
	p->c.m = m;
	struct l2_plan *pl = &p->plan;
	for (size_t k = 0; k < nch; k++) {
		char *key = change_key(ch[k].ns, ch[k].name);
		size_t hat;
		struct svc_block *h = NULL;
		if (held_find(p, key, &hat)) {
			h = p->held[hat];
			memmove(&p->held[hat], &p->held[hat + 1],
				(p->nheld - hat - 1) * sizeof(*p->held));
			p->nheld--;
			size_t counted = counted_of(h);
			if (counted != (size_t)-1 && p->c.load && p->c.load[counted])
				p->c.load[counted]--;
		}
		struct l2_plan one = {0};
		size_t counted = (size_t)-1;
		if (ch[k].as.svc)
			counted = plan_service(&p->c, &ch[k].as, p->node, &one);
		if (one.n > 1)
			xqsort(one.entries, one.n, sizeof(*one.entries), cmp_entry);
		held_note(p, one.entries, one.n, counted, true);
		/* A new entry where the old version had one (same address and
		 * Service: the same place in the sorted plan) takes its slot;
		 * the others go in, and the old ones left come out.  The plan
		 * is one sorted array: each insertion or removal moves the
		 * entries after it, and a Service planned again with its
		 * addresses unchanged (its EndpointSlices changed) moves none. */
		const char *old_name = h ? svc_block_name(h) : NULL;
		for (size_t i = 0; i < one.n; i++) {
			size_t at = entry_lower(pl, &one.entries[i].addr, one.entries[i].service);
			if (at < pl->n && pl->entries[at].service == old_name &&
			    ip_eq(&pl->entries[at].addr, &one.entries[i].addr)) {
				h->refs--;
				pl->entries[at] = one.entries[i];
				continue;
			}
			VEC_PUSH(pl->entries, pl->n);
			memmove(&pl->entries[at + 1], &pl->entries[at],
				(pl->n - 1 - at) * sizeof(*pl->entries));
			pl->entries[at] = one.entries[i];
		}
		for (size_t i = 0; h && i < h->n; i++) {
			struct ip_addr addr = svc_block_addr(h, i);
			size_t at = entry_lower(pl, &addr, key);
			if (at < pl->n && pl->entries[at].service == old_name &&
			    ip_eq(&pl->entries[at].addr, &addr)) {
				h->refs--;
				memmove(&pl->entries[at], &pl->entries[at + 1],
					(pl->n - at - 1) * sizeof(*pl->entries));
				pl->n--;
			}
		}
		/* Its entries are out of the plan: the block goes (were one
		 * missing, it would still point into the block). */
		if (h && h->refs == 0)
			free(h);
		free(one.entries);
		free(key);
	}
}
