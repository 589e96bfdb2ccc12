/*
 * DOC: BGP announcement planning.
 *
 * announce_bgp() turns (validated model, the allocator's addresses, local
 * node name) into the sessions this node holds and, per session, the
 * routes it announces with their attributes.  Pure: no I/O, no clock; the
 * plan depends only on the inputs, never on their order, so the speaker
 * can diff two plans route by route.
 *
 * Only the local node matters here (every node announces for itself), so
 * everything that depends on the node is settled once per call:
 *   1. the local node's labels and usability (its Node object; none and
 *      usable when it has no Node object);
 *   2. the sessions: valid BGPPeers whose nodeSelectors select the node,
 *      sorted by name;
 *   3. the advertisements that apply here: valid, nodeSelectors matching,
 *      with their communities resolved, sorted and unique, and for every
 *      (advertisement, session) pair whether the advertisement reaches it
 *      (spec.peers: empty = all; a name that is not a session here reaches
 *      nothing);
 *   4. for every valid pool, the advertisements that select it.
 * Per Service address only the serviceSelectors of its pool's
 * advertisements are matched, and EndpointSlices are looked at only for
 * externalTrafficPolicy: Local (indexed once, on first need).  Each
 * (session, prefix, Service, advertisement) reached becomes one record;
 * sorting the records groups them by (session, prefix), and each group
 * becomes one route whose attributes merge the group's advertisements.
 * Cost: O(R log R) for R records, the rest linear in Services.
 *
 * Incremental planning (bgp_planner, end of this file) keeps the context
 * and the records between calls, grouped by (session, prefix), and
 * rebuilds only the routes of the groups a changed Service touched.
 *
 * Families: a session carries its peer address's family, and both when the
 * peer sets dualStackAddressFamily or is unnumbered (spec.interface), as
 * MetalLB configures FRR for such neighbors.  Communities sort standard
 * before large, then by value.  Duplicate object names keep the first in
 * model order, as the Layer 2 planner does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "announce/bgp_plan.h"
#include "announce/internal.h"
#include "base/hashmap.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* session parameters */

static char *dup_nonempty(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

static void cfg_from_peer(struct bgp_session_cfg *c, const struct bgppeer *p)
{
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(p->meta.name);
	c->my_asn = p->my_asn;
	c->peer_asn = p->peer_asn;
	c->dynamic_asn = p->dynamic_asn;
	c->local_asn = p->local_asn;
	if (p->has_peer_address)
		c->peer_address = p->peer_address;
	c->peer_port = p->peer_port;
	c->has_source_address = p->has_source_address;
	if (p->has_source_address)
		c->source_address = p->source_address;
	c->has_router_id = p->has_router_id;
	if (p->has_router_id)
		c->router_id = p->router_id;
	c->hold_time_s = p->hold_time_s;
	c->keepalive_time_s = p->keepalive_time_s;
	c->connect_time_s = p->connect_time_s;
	c->has_connect_time = p->has_connect_time;
	/* Before model_validate has run only the literal is known; after, the
	 * resolved key covers both the literal and the Secret. */
	c->password = dup_nonempty(p->resolved_password ? p->resolved_password : p->password);
	c->ebgp_multihop = p->ebgp_multihop;
	c->vrf = dup_nonempty(p->vrf);
	c->graceful_restart = p->enable_graceful_restart;
	c->dual_stack_address_family = p->dual_stack_address_family;
	c->ibgp = bgppeer_is_ibgp(p);
	c->interface = dup_nonempty(p->interface);
}

/* ------------------------------------------------------------------ */
/* communities */

static int cmp_community(const struct community_value *x, const struct community_value *y)
{
	if (x->kind != y->kind)
		return x->kind == COMMUNITY_STANDARD ? -1 : 1;
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	if (x->kind == COMMUNITY_LARGE && x->c != y->c)
		return x->c < y->c ? -1 : 1;
	return 0;
}

static int qcmp_community(const void *a, const void *b)
{
	return cmp_community(a, b);
}

/* Sort and drop duplicates in place; returns the new count. */
static size_t communities_normalize(struct community_value *v, size_t n)
{
	if (n > 1)
		xqsort(v, n, sizeof(*v), qcmp_community);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || cmp_community(&v[u - 1], &v[i]) != 0)
			v[u++] = v[i];
	return u;
}

/* ------------------------------------------------------------------ */
/* planning context */

struct bp_session {
	const struct bgppeer *peer;
	size_t order;                 /* position in m->peers, to keep the first of duplicates */
	bool carries4, carries6;
	bool ibgp;
};

struct bp_ad {
	const struct bgpadv *ad;
	unsigned len4, len6;          /* aggregation lengths, within the family's bits */
	size_t ncomms;
	struct community_value *comms; /* sorted, unique */
};

struct bp_pool {
	const char *name;
	size_t order;
	size_t nads;
	uint32_t *ads;                /* indices into ctx.ads */
};

/* One (session, prefix) reached by one advertisement for one Service. */
struct bp_rec {
	struct ip_prefix prefix;
	uint32_t session;
	uint32_t svc;                 /* rank of the Service's name */
	uint32_t ad;
};

struct bp_ctx {
	const struct model *m;
	const char *local;
	const struct labels *labels;
	bool usable;
	size_t nsessions;
	struct bp_session *sessions;  /* sorted by name, unique */
	size_t nads;
	struct bp_ad *ads;            /* valid and selecting the local node */
	bool *reach;                  /* [ad * nsessions + session] */
	size_t npools;
	struct bp_pool *pools;        /* valid, sorted by name, unique */
	bool slices_indexed;
	struct announce_slices slices;
	bool slices_scan;             /* look slices up one by one (no index) */
	size_t nrecs, recs_cap;
	struct bp_rec *recs;
	size_t nnames;
	char **names;                 /* Service names, sorted, unique */
	uint32_t *rank;               /* per input Service: index into names */
};

static const struct labels no_labels;

static void find_local(struct bp_ctx *c)
{
	c->labels = &no_labels;
	c->usable = true;
	if (!c->local)
		return;
	/* The first Node object of that name, as the Layer 2 planner does. */
	for (size_t i = 0; i < c->m->nnodes; i++) {
		const struct node_obj *n = &c->m->nodes[i];
		if (n->meta.name && strcmp(n->meta.name, c->local) == 0) {
			c->labels = &n->meta.labels;
			c->usable = announce_node_usable(n);
			return;
		}
	}
}

static int cmp_bp_session(const void *a, const void *b)
{
	const struct bp_session *x = a, *y = b;
	int r = strcmp(x->peer->meta.name, y->peer->meta.name);
	if (r)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void build_sessions(struct bp_ctx *c, struct bgp_plan *out)
{
	const struct model *m = c->m;
	c->sessions = xcalloc(m->npeers ? m->npeers : 1, sizeof(*c->sessions));
	size_t n = 0;
	for (size_t i = 0; i < m->npeers; i++) {
		const struct bgppeer *p = &m->peers[i];
		if (p->meta.invalid || !p->meta.name)
			continue;
		if (!selectors_match_any(p->node_selectors, p->nnode_selectors, c->labels, true))
			continue;
		c->sessions[n++] = (struct bp_session){.peer = p, .order = i};
	}
	xqsort(c->sessions, n, sizeof(*c->sessions), cmp_bp_session);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 ||
		    strcmp(c->sessions[u - 1].peer->meta.name, c->sessions[i].peer->meta.name) != 0)
			c->sessions[u++] = c->sessions[i];
	c->nsessions = u;

	out->nsessions = u;
	out->sessions = u ? xcalloc(u, sizeof(*out->sessions)) : NULL;
	for (size_t i = 0; i < u; i++) {
		struct bgp_session_cfg *cfg = &out->sessions[i].cfg;
		cfg_from_peer(cfg, c->sessions[i].peer);
		c->sessions[i].carries4 = bgp_session_carries(cfg, IP_FAMILY_V4);
		c->sessions[i].carries6 = bgp_session_carries(cfg, IP_FAMILY_V6);
		c->sessions[i].ibgp = cfg->ibgp;
	}
}

static unsigned agg_len(int len, unsigned bits)
{
	/* The decoder and validation keep lengths in range; an object built
	 * by other means is announced per address rather than as a bogus
	 * aggregate. */
	return len < 0 || (unsigned)len > bits ? bits : (unsigned)len;
}

static void ad_communities(const struct model *m, const struct bgpadv *a, struct bp_ad *out)
{
	out->ncomms = 0;
	out->comms = a->ncommunities ? xcalloc(a->ncommunities, sizeof(*out->comms)) : NULL;
	for (size_t i = 0; i < a->ncommunities; i++) {
		struct community_value v;
		if (a->community_values)
			v = a->community_values[i];
		else if (model_resolve_community(m, a->communities[i], &v) < 0)
			continue;
		if (v.kind == COMMUNITY_STANDARD)
			v.c = 0;
		out->comms[out->ncomms++] = v;
	}
	out->ncomms = communities_normalize(out->comms, out->ncomms);
}

static void build_ads(struct bp_ctx *c)
{
	const struct model *m = c->m;
	c->ads = xcalloc(m->nbgpadvs ? m->nbgpadvs : 1, sizeof(*c->ads));
	c->reach = xcalloc((m->nbgpadvs ? m->nbgpadvs : 1) * (c->nsessions ? c->nsessions : 1),
			   sizeof(*c->reach));
	for (size_t i = 0; i < m->nbgpadvs; i++) {
		const struct bgpadv *a = &m->bgpadvs[i];
		if (a->meta.invalid)
			continue;
		if (!selectors_match_any(a->node_selectors, a->nnode_selectors, c->labels, true))
			continue;
		bool *reach = &c->reach[c->nads * c->nsessions];
		bool any = false;
		for (size_t s = 0; s < c->nsessions; s++) {
			reach[s] = bgpadv_selects_peer(a, c->sessions[s].peer);
			any |= reach[s];
		}
		if (!any)
			continue;
		struct bp_ad *ba = &c->ads[c->nads++];
		ba->ad = a;
		ba->len4 = agg_len(a->aggregation_length, 32);
		ba->len6 = agg_len(a->aggregation_length_v6, 128);
		ad_communities(m, a, ba);
	}
}

static int cmp_bp_pool(const void *a, const void *b)
{
	const struct bp_pool *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void build_pools(struct bp_ctx *c)
{
	const struct model *m = c->m;
	c->pools = xcalloc(m->npools ? m->npools : 1, sizeof(*c->pools));
	for (size_t i = 0; i < m->npools; i++) {
		const struct pool *p = &m->pools[i];
		if (p->meta.invalid || !p->meta.name)
			continue;
		struct bp_pool *bp = &c->pools[c->npools++];
		bp->name = p->meta.name;
		bp->order = i;
		bp->ads = xcalloc(c->nads ? c->nads : 1, sizeof(*bp->ads));
		for (size_t a = 0; a < c->nads; a++)
			if (bgpadv_selects_pool(c->ads[a].ad, p))
				bp->ads[bp->nads++] = (uint32_t)a;
	}
	xqsort(c->pools, c->npools, sizeof(*c->pools), cmp_bp_pool);
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

static const struct bp_pool *find_pool(const struct bp_ctx *c, const char *name)
{
	if (!name)
		return NULL;
	size_t lo = 0, hi = c->npools;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->pools[mid].name, name);
		if (r == 0)
			return &c->pools[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Service names: ranks so that records sort by name without comparing
 * strings, and two inputs naming one Service count once in a route. */

struct name_ref {
	char *name;
	size_t input;
};

static int cmp_name_ref(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r)
		return r;
	return x->input < y->input ? -1 : x->input > y->input;
}

static bool svc_plannable(const struct announce_svc *as)
{
	return as->svc && as->svc->meta.name && as->naddrs > 0;
}

static void rank_services(struct bp_ctx *c, const struct announce_svc *svcs, size_t nsvcs)
{
	struct name_ref *refs = xcalloc(nsvcs ? nsvcs : 1, sizeof(*refs));
	size_t n = 0;
	for (size_t i = 0; i < nsvcs; i++)
		if (svc_plannable(&svcs[i]))
			refs[n++] = (struct name_ref){announce_service_name(svcs[i].svc), i};
	xqsort(refs, n, sizeof(*refs), cmp_name_ref);
	c->rank = xcalloc(nsvcs ? nsvcs : 1, sizeof(*c->rank));
	c->names = xcalloc(n ? n : 1, sizeof(*c->names));
	for (size_t i = 0; i < n; i++) {
		if (c->nnames > 0 && strcmp(c->names[c->nnames - 1], refs[i].name) == 0) {
			free(refs[i].name);
		} else {
			c->names[c->nnames++] = refs[i].name;
		}
		c->rank[refs[i].input] = (uint32_t)(c->nnames - 1);
	}
	free(refs);
}

/* ------------------------------------------------------------------ */
/* records */

/* Whether the local node has an endpoint of svc that can take traffic. */
static bool local_endpoint(struct bp_ctx *c, const struct service *svc)
{
	if (!c->local)
		return false;
	if (c->slices_scan) {
		for (size_t i = 0; i < c->m->nslices; i++) {
			const struct endpointslice *s = &c->m->slices[i];
			if (!announce_slice_is_of(s, svc->meta.namespace_, svc->meta.name))
				continue;
			for (size_t e = 0; e < s->nendpoints; e++) {
				const struct endpoint *ep = &s->endpoints[e];
				if (announce_endpoint_serves(ep) && strcmp(ep->node_name, c->local) == 0)
					return true;
			}
		}
		return false;
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
			if (announce_endpoint_serves(ep) && strcmp(ep->node_name, c->local) == 0)
				return true;
		}
	}
	return false;
}

static void push_rec(struct bp_ctx *c, const struct ip_prefix *prefix, size_t session,
		     uint32_t svc, uint32_t ad)
{
	if (c->nrecs == c->recs_cap) {
		c->recs_cap = c->recs_cap ? 2 * c->recs_cap : 256;
		c->recs = xrealloc(c->recs, c->recs_cap * sizeof(*c->recs));
	}
	c->recs[c->nrecs++] = (struct bp_rec){
		.prefix = *prefix,
		.session = (uint32_t)session,
		.svc = svc,
		.ad = ad,
	};
}

static void plan_service(struct bp_ctx *c, const struct announce_svc *as, uint32_t rank)
{
	const struct service *svc = as->svc;
	size_t naddrs = as->naddrs < 2 ? as->naddrs : 2;
	int local_ok = -1; /* unknown until an address needs it */

	for (size_t k = 0; k < naddrs; k++) {
		const struct ip_addr *addr = &as->addrs[k];
		if (addr->family != IP_FAMILY_V4 && addr->family != IP_FAMILY_V6)
			continue;
		const struct bp_pool *pp = find_pool(c, as->pools[k]);
		if (!pp)
			continue;
		bool v4 = addr->family == IP_FAMILY_V4;
		for (size_t i = 0; i < pp->nads; i++) {
			const struct bp_ad *ba = &c->ads[pp->ads[i]];
			const struct bgpadv *a = ba->ad;
			if (a->nsvc_selectors &&
			    !selectors_match_any(a->svc_selectors, a->nsvc_selectors, &svc->meta.labels,
						 true))
				continue;
			if (local_ok < 0)
				local_ok = !announce_policy_local(svc) || local_endpoint(c, svc);
			if (!local_ok)
				return;
			struct ip_prefix prefix;
			prefix.len = v4 ? ba->len4 : ba->len6;
			prefix.addr = ip_mask(addr, prefix.len);
			const bool *reach = &c->reach[pp->ads[i] * c->nsessions];
			for (size_t s = 0; s < c->nsessions; s++) {
				const struct bp_session *bs = &c->sessions[s];
				if (reach[s] && (v4 ? bs->carries4 : bs->carries6))
					push_rec(c, &prefix, s, rank, pp->ads[i]);
			}
		}
	}
}

/* ip_cmp() order (family, then address), then length; written out here
 * because it runs inside the sort of every record. */
static int cmp_prefix(const struct ip_prefix *x, const struct ip_prefix *y)
{
	if (x->addr.family != y->addr.family)
		return x->addr.family < y->addr.family ? -1 : 1;
	if (x->addr.v != y->addr.v)
		return x->addr.v < y->addr.v ? -1 : 1;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct bp_rec *x = a, *y = b;
	if (x->session != y->session)
		return x->session < y->session ? -1 : 1;
	int r = cmp_prefix(&x->prefix, &y->prefix);
	if (r)
		return r;
	if (x->svc != y->svc)
		return x->svc < y->svc ? -1 : 1;
	return x->ad < y->ad ? -1 : x->ad > y->ad;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Scratch for merging one group, grown as needed. */
struct merge_buf {
	uint32_t *ads;
	size_t ads_cap;
	struct community_value *comms;
	size_t comms_cap;
};

/* The attributes of the route of one (session, prefix) that the
 * advertisements ads[0..n) reach: LOCAL_PREF the highest given (iBGP
 * only), communities united.  borrow: a route of one advertisement points
 * at that advertisement's communities instead of a copy (the planner's
 * plan, which lives no longer than the advertisements).  Returns whether
 * r->communities was allocated for the route. */
static bool route_attrs(const struct bp_ctx *c, uint32_t session, const uint32_t *ads, size_t n,
			struct merge_buf *mb, bool borrow, struct bgp_route *r)
{
	const struct bp_session *bs = &c->sessions[session];

	/* Advertisements: usually one or two per route. */
	if (n > mb->ads_cap) {
		mb->ads_cap = 2 * n;
		mb->ads = xrealloc(mb->ads, mb->ads_cap * sizeof(*mb->ads));
	}
	memcpy(mb->ads, ads, n * sizeof(*ads));
	size_t nads = n;
	if (nads > 1)
		xqsort(mb->ads, nads, sizeof(*mb->ads), cmp_u32);
	size_t u = 0;
	size_t ncomms = 0;
	for (size_t i = 0; i < nads; i++) {
		if (u > 0 && mb->ads[u - 1] == mb->ads[i])
			continue;
		mb->ads[u++] = mb->ads[i];
		ncomms += c->ads[mb->ads[i]].ncomms;
	}
	nads = u;

	for (size_t i = 0; i < nads; i++) {
		const struct bgpadv *a = c->ads[mb->ads[i]].ad;
		if (!a->has_local_pref || !bs->ibgp)
			continue;
		if (!r->has_local_pref || a->local_pref > r->local_pref)
			r->local_pref = a->local_pref;
		r->has_local_pref = true;
	}

	if (ncomms == 0)
		return false;
	if (borrow && nads == 1) {
		/* Already sorted and unique (ad_communities()). */
		r->ncommunities = (uint32_t)ncomms;
		r->communities = c->ads[mb->ads[0]].comms;
		return false;
	}
	if (ncomms > mb->comms_cap) {
		mb->comms_cap = 2 * ncomms;
		mb->comms = xrealloc(mb->comms, mb->comms_cap * sizeof(*mb->comms));
	}
	ncomms = 0;
	for (size_t i = 0; i < nads; i++) {
		const struct bp_ad *ba = &c->ads[mb->ads[i]];
		if (!ba->ncomms)
			continue;
		memcpy(&mb->comms[ncomms], ba->comms, ba->ncomms * sizeof(*ba->comms));
		ncomms += ba->ncomms;
	}
	if (nads > 1)
		ncomms = communities_normalize(mb->comms, ncomms);
	r->ncommunities = (uint32_t)ncomms;
	r->communities = xcalloc(ncomms, sizeof(*r->communities));
	memcpy(r->communities, mb->comms, ncomms * sizeof(*r->communities));
	return true;
}

/* One route from the records of one (session, prefix), owning its
 * arrays (announce_bgp()). */
static void make_route(struct bp_ctx *c, const struct bp_rec *recs, size_t nrecs,
		       char *const *names, struct merge_buf *mb, struct bgp_route *r)
{
	r->prefix = bgp_prefix_pack(&recs[0].prefix);

	/* Services: the records are sorted by name rank within the group. */
	size_t nsvc = 0;
	for (size_t i = 0; i < nrecs; i++)
		if (i == 0 || recs[i].svc != recs[i - 1].svc)
			nsvc++;
	const char **v = xcalloc(nsvc, sizeof(*v));
	uint32_t *ads = xcalloc(nrecs, sizeof(*ads));
	nsvc = 0;
	for (size_t i = 0; i < nrecs; i++) {
		if (i == 0 || recs[i].svc != recs[i - 1].svc)
			v[nsvc++] = names[recs[i].svc];
		ads[i] = recs[i].ad;
	}
	r->nservices = (uint32_t)nsvc;
	r->services = bgp_route_services(v, nsvc);
	free(v);
	route_attrs(c, recs[0].session, ads, nrecs, mb, false, r);
	free(ads);
}

/* The end of the group of records that starts at i. */
static size_t group_end(const struct bp_ctx *c, size_t i)
{
	size_t j = i + 1;
	while (j < c->nrecs && c->recs[j].session == c->recs[i].session &&
	       cmp_prefix(&c->recs[j].prefix, &c->recs[i].prefix) == 0)
		j++;
	return j;
}

static void build_routes(struct bp_ctx *c, struct bgp_plan *out)
{
	if (c->nrecs > 1)
		xqsort(c->recs, c->nrecs, sizeof(*c->recs), cmp_rec);
	/* Count first so that each session's routes are allocated once. */
	for (size_t i = 0; i < c->nrecs; i = group_end(c, i))
		out->sessions[c->recs[i].session].nroutes++;
	for (size_t s = 0; s < out->nsessions; s++) {
		struct bgp_session_plan *sp = &out->sessions[s];
		if (sp->nroutes)
			sp->routes = xcalloc(sp->nroutes, sizeof(*sp->routes));
		sp->nroutes = 0;
	}
	struct merge_buf mb = {0};
	for (size_t i = 0, j; i < c->nrecs; i = j) {
		j = group_end(c, i);
		struct bgp_session_plan *sp = &out->sessions[c->recs[i].session];
		make_route(c, &c->recs[i], j - i, c->names, &mb, &sp->routes[sp->nroutes++]);
	}
	free(mb.ads);
	free(mb.comms);
}

static void ctx_free(struct bp_ctx *c)
{
	for (size_t i = 0; i < c->nads; i++)
		free(c->ads[i].comms);
	free(c->ads);
	free(c->reach);
	for (size_t i = 0; i < c->npools; i++)
		free(c->pools[i].ads);
	free(c->pools);
	free(c->sessions);
	announce_slices_free(&c->slices);
	free(c->recs);
	for (size_t i = 0; i < c->nnames; i++)
		free(c->names[i]);
	free(c->names);
	free(c->rank);
}

int announce_bgp(const struct model *m, const char *node_name, const struct announce_svc *svcs,
		 size_t nsvcs, struct bgp_plan *out)
{
	memset(out, 0, sizeof(*out));
	struct bp_ctx c = {.m = m, .local = node_name && *node_name ? node_name : NULL};
	find_local(&c);
	build_sessions(&c, out);
	/* An excluded or NetworkUnavailable node keeps its sessions (the
	 * routers see it withdraw, not disappear) but announces nothing. */
	if (c.nsessions > 0 && c.usable) {
		build_ads(&c);
		build_pools(&c);
		rank_services(&c, svcs, nsvcs);
		for (size_t i = 0; i < nsvcs; i++)
			if (svc_plannable(&svcs[i]))
				plan_service(&c, &svcs[i], c.rank[i]);
		build_routes(&c, out);
	}
	ctx_free(&c);
	return 0;
}

/* ------------------------------------------------------------------ */
/* plans */

/* ------------------------------------------------------------------ */
/* incremental planning
 *
 * The records of announce_bgp() are kept between calls, grouped by
 * (session, prefix): a route is a function of its group alone (its
 * Services, and its advertisements' attributes), so a Service's change
 * touches only the groups of its old and new records, and an aggregated
 * prefix shared by many Services is rebuilt from its group without
 * looking at the others.
 *
 * Memory is what 20,000 Services to a router is about (40,000 routes),
 * so the state is laid out flat:
 *   - each session's groups are an array parallel to the plan's routes
 *     (same index, both sorted by prefix): a group is found by a binary
 *     search of the routes, no map and no per-group allocation; a group
 *     of one record (nearly all) holds it inline;
 *   - a Service is one allocation: its records (prefix packed into 18
 *     bytes, session, advertisement) and its name, which the routes of
 *     that Service alone point at instead of holding a copy;
 *   - a route of one advertisement points at that advertisement's
 *     communities;
 *   - the plan's arrays are allocated to their exact size by a reset and
 *     grow by an eighth when a change adds a route.
 * That is about 48 (route) + 24 (group) + 70 (Service and its map slot)
 * bytes per route with one Service and one advertisement. */

struct bp_svc;

/* One record of a group: a Service and an advertisement that reached the
 * (session, prefix). */
struct bp_ref {
	struct bp_svc *svc;
	uint32_t ad;
};

/* The records of one route (same index in the session's arrays). */
struct bp_group {
	uint32_t n;                   /* records; a power-of-two capacity above 1 */
	bool dirty;                   /* in the planner's dirty list */
	bool own_comms;               /* the route's communities were allocated */
	union {
		struct bp_ref one;    /* n <= 1 */
		struct bp_ref *many;  /* n > 1 */
	};
};

/* What one Service contributes: one (session, prefix, advertisement) per
 * record. */
struct bp_use {
	struct bgp_prefix prefix;
	uint32_t session;
	uint32_t ad;
};

struct bp_svc {
	char *name;                   /* "ns/name", after the uses: the key in
				       * svcs, and the services array of a
				       * route of this Service alone (&name) */
	uint32_t n;
	struct bp_use uses[];
};


struct bp_sess {
	size_t cap;                   /* of the plan's routes and of groups */
	struct bp_group *groups;
};

struct bgp_planner {
	char *node;
	bool built, active;           /* active: sessions exist and the node is usable */
	struct bp_ctx c;
	struct bgp_plan plan;
	struct bp_sess *sess;         /* one per session of the plan */
	struct hashmap svcs;          /* "ns/name" -> struct bp_svc */
	/* Groups whose route must be rebuilt (or dropped when empty); after
	 * an update, the routes it changed (bgp_planner_changed()). */
	size_t ndirty;                /* dirty[0..ndirty): to flush */
	size_t nchanged;              /* dirty[0..nchanged): the last update's */
	struct bgp_route_change *dirty;
	struct merge_buf mb;
};

struct bgp_planner *bgp_planner_new(const char *node_name)
{
	struct bgp_planner *p = xcalloc(1, sizeof(*p));
	p->node = node_name && *node_name ? xstrdup(node_name) : NULL;
	return p;
}

static struct bp_ref *group_refs(struct bp_group *g)
{
	return g->n > 1 ? g->many : &g->one;
}

static void group_add(struct bp_group *g, struct bp_svc *s, uint32_t ad)
{
	struct bp_ref r = {.svc = s, .ad = ad};
	if (g->n == 0) {
		g->one = r;
	} else if (g->n == 1) {
		struct bp_ref *v = xcalloc(2, sizeof(*v));
		v[0] = g->one;
		v[1] = r;
		g->many = v;
	} else {
		/* Capacity: the power of two at or above n. */
		if ((g->n & (g->n - 1)) == 0)
			g->many = xrealloc(g->many, 2 * (size_t)g->n * sizeof(*g->many));
		g->many[g->n] = r;
	}
	g->n++;
}

/* Take one record (s, ad) out of g. */
static void group_del(struct bp_group *g, const struct bp_svc *s, uint32_t ad)
{
	struct bp_ref *v = group_refs(g);
	for (uint32_t k = 0; k < g->n; k++) {
		if (v[k].svc != s || v[k].ad != ad)
			continue;
		v[k] = v[g->n - 1];
		g->n--;
		if (g->n == 1) {
			struct bp_ref last = v[0];
			free(v);
			g->one = last;
		}
		return;
	}
}

static void group_free(struct bp_group *g)
{
	if (g->n > 1)
		free(g->many);
	g->n = 0;
}

/* The parts of a planner's route that are its own. */
static void route_release(struct bgp_route *r, const struct bp_group *g)
{
	if (r->nservices > 1)
		free(r->services);
	if (g->own_comms)
		free(r->communities);
	memset(r, 0, sizeof(*r));
}

static void planner_clear(struct bgp_planner *p)
{
	for (size_t s = 0; p->sess && s < p->plan.nsessions; s++) {
		struct bgp_session_plan *sp = &p->plan.sessions[s];
		for (size_t i = 0; i < sp->nroutes; i++) {
			route_release(&sp->routes[i], &p->sess[s].groups[i]);
			group_free(&p->sess[s].groups[i]);
		}
		free(p->sess[s].groups);
	}
	free(p->sess);
	p->sess = NULL;
	if (p->built)
		ctx_free(&p->c);
	memset(&p->c, 0, sizeof(p->c));
	p->built = p->active = false;
	/* What is left is the plan's own: routes arrays and the sessions. */
	bgp_plan_free(&p->plan);
	struct hashmap_iter it;
	hashmap_iter_init(&it, &p->svcs);
	while (hashmap_iter_next(&it))
		free(it.value);
	hashmap_clear(&p->svcs);
	free(p->dirty);
	p->dirty = NULL;
	p->ndirty = p->nchanged = 0;
}

void bgp_planner_free(struct bgp_planner *p)
{
	if (!p)
		return;
	planner_clear(p);
	free(p->mb.ads);
	free(p->mb.comms);
	free(p->node);
	free(p);
}

const struct bgp_plan *bgp_planner_plan(const struct bgp_planner *p)
{
	return &p->plan;
}

/* The index of the first route of a session at or after prefix. */
static size_t route_lower(const struct bgp_session_plan *sp, const struct bgp_prefix *prefix)
{
	size_t lo = 0, hi = sp->nroutes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bgp_prefix_cmp(&sp->routes[mid].prefix, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void mark_dirty(struct bgp_planner *p, uint32_t session, const struct bgp_prefix *prefix,
		       struct bp_group *g)
{
	if (g->dirty)
		return;
	g->dirty = true;
	*VEC_PUSH(p->dirty, p->ndirty) =
		(struct bgp_route_change){.session = session, .prefix = *prefix};
}

void bgp_planner_service_sessions(const struct bgp_planner *p, const char *key,
				  void (*fn)(void *arg, size_t session, const struct bgp_route *r),
				  void *arg)
{
	const struct bp_svc *s = hashmap_get_str(&p->svcs, key);
	for (uint32_t i = 0; s && i < s->n; i++) {
		const struct bp_use *u = &s->uses[i];
		const struct bgp_session_plan *sp = &p->plan.sessions[u->session];
		size_t at = route_lower(sp, &u->prefix);
		if (at < sp->nroutes && bgp_prefix_cmp(&sp->routes[at].prefix, &u->prefix) == 0)
			fn(arg, u->session, &sp->routes[at]);
	}
}

struct route_fn {
	void (*fn)(void *arg, const struct bgp_route *r);
	void *arg;
};

static void route_fn_call(void *arg, size_t session, const struct bgp_route *r)
{
	const struct route_fn *f = arg;
	(void)session;
	f->fn(f->arg, r);
}

void bgp_planner_service_routes(const struct bgp_planner *p, const char *key,
				void (*fn)(void *arg, const struct bgp_route *r), void *arg)
{
	struct route_fn f = {fn, arg};
	bgp_planner_service_sessions(p, key, route_fn_call, &f);
}

size_t bgp_planner_changed(const struct bgp_planner *p, const struct bgp_route_change **out)
{
	*out = p->dirty;
	return p->nchanged;
}

/* Take a Service's records out of their groups. */
static void svc_unplan(struct bgp_planner *p, const char *key)
{
	void *old;
	if (!hashmap_del_str(&p->svcs, key, &old))
		return;
	struct bp_svc *s = old;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct bp_use *u = &s->uses[i];
		struct bgp_session_plan *sp = &p->plan.sessions[u->session];
		size_t at = route_lower(sp, &u->prefix);
		if (at >= sp->nroutes || bgp_prefix_cmp(&sp->routes[at].prefix, &u->prefix) != 0)
			continue; /* cannot happen: every record has its route */
		struct bp_group *g = &p->sess[u->session].groups[at];
		group_del(g, s, u->ad);
		mark_dirty(p, u->session, &u->prefix, g);
	}
	free(s);
}

/* A Service with room for n records, not in the map yet. */
static struct bp_svc *svc_new(const char *key, size_t n)
{
	size_t len = strlen(key);
	struct bp_svc *s = xcalloc(1, sizeof(*s) + n * sizeof(s->uses[0]) + len + 1);
	s->name = (char *)&s->uses[n];
	memcpy(s->name, key, len + 1);
	return s;
}

/* Room for one more route in session s. */
static void sess_grow(struct bgp_planner *p, size_t s)
{
	struct bgp_session_plan *sp = &p->plan.sessions[s];
	struct bp_sess *ss = &p->sess[s];
	if (sp->nroutes < ss->cap)
		return;
	ss->cap = ss->cap + ss->cap / 8 + 16;
	sp->routes = xrealloc(sp->routes, ss->cap * sizeof(*sp->routes));
	ss->groups = xrealloc(ss->groups, ss->cap * sizeof(*ss->groups));
}

/* Plan one Service and file its records into their groups (a group that
 * is new gets an empty route, built by flush_dirty()). */
static void svc_plan(struct bgp_planner *p, const char *key, const struct announce_svc *as)
{
	if (!p->active || !svc_plannable(as))
		return;
	struct bp_ctx *c = &p->c;
	c->nrecs = 0;
	plan_service(c, as, 0);
	if (c->nrecs == 0)
		return;
	struct bp_svc *s = svc_new(key, c->nrecs);
	s->n = (uint32_t)c->nrecs;
	hashmap_put(&p->svcs, s->name, strlen(s->name), s, NULL);
	for (size_t i = 0; i < c->nrecs; i++) {
		const struct bp_rec *r = &c->recs[i];
		struct bgp_session_plan *sp = &p->plan.sessions[r->session];
		struct bp_sess *ss = &p->sess[r->session];
		struct bgp_prefix pk = bgp_prefix_pack(&r->prefix);
		s->uses[i] = (struct bp_use){.prefix = pk, .session = r->session, .ad = r->ad};
		size_t at = route_lower(sp, &pk);
		if (at >= sp->nroutes || bgp_prefix_cmp(&sp->routes[at].prefix, &pk) != 0) {
			sess_grow(p, r->session);
			memmove(&sp->routes[at + 1], &sp->routes[at],
				(sp->nroutes - at) * sizeof(*sp->routes));
			memmove(&ss->groups[at + 1], &ss->groups[at],
				(sp->nroutes - at) * sizeof(*ss->groups));
			sp->nroutes++;
			memset(&sp->routes[at], 0, sizeof(sp->routes[at]));
			memset(&ss->groups[at], 0, sizeof(ss->groups[at]));
			sp->routes[at].prefix = pk;
		}
		group_add(&ss->groups[at], s, r->ad);
		mark_dirty(p, r->session, &pk, &ss->groups[at]);
	}
}

static int cmp_ref(const void *a, const void *b)
{
	const struct bp_ref *x = a, *y = b;
	int r = strcmp(x->svc->name, y->svc->name);
	if (r)
		return r;
	return x->ad < y->ad ? -1 : x->ad > y->ad;
}

/* The route of a group, as build_routes() would make it, sharing what it
 * can (struct bgp_route). */
static void group_route(struct bgp_planner *p, uint32_t session, struct bp_group *g,
			struct bgp_route *r)
{
	struct bp_ref *refs = group_refs(g);
	struct bgp_prefix prefix = r->prefix;
	uint32_t one_ad, *ads = g->n > 1 ? xcalloc(g->n, sizeof(*ads)) : &one_ad;
	if (g->n > 1)
		xqsort(refs, g->n, sizeof(*refs), cmp_ref);
	memset(r, 0, sizeof(*r));
	r->prefix = prefix;
	size_t nsvc = 0;
	for (uint32_t i = 0; i < g->n; i++) {
		if (i == 0 || refs[i].svc != refs[i - 1].svc)
			nsvc++;
		ads[i] = refs[i].ad;
	}
	r->nservices = (uint32_t)nsvc;
	if (nsvc == 1) {
		r->services = &refs[0].svc->name;
	} else {
		r->services = xcalloc(nsvc, sizeof(*r->services));
		nsvc = 0;
		for (uint32_t i = 0; i < g->n; i++)
			if (i == 0 || refs[i].svc != refs[i - 1].svc)
				r->services[nsvc++] = refs[i].svc->name;
	}
	g->own_comms = route_attrs(&p->c, session, ads, g->n, &p->mb, true, r);
	if (ads != &one_ad)
		free(ads);
}

/* Bring the routes of the dirty groups up to date (build, rebuild, or
 * withdraw when emptied). */
static void flush_dirty(struct bgp_planner *p)
{
	for (size_t i = 0; i < p->ndirty; i++) {
		const struct bgp_route_change *d = &p->dirty[i];
		struct bgp_session_plan *sp = &p->plan.sessions[d->session];
		struct bp_sess *ss = &p->sess[d->session];
		size_t at = route_lower(sp, &d->prefix);
		if (at >= sp->nroutes || bgp_prefix_cmp(&sp->routes[at].prefix, &d->prefix) != 0)
			continue;
		struct bp_group *g = &ss->groups[at];
		g->dirty = false;
		route_release(&sp->routes[at], g);
		if (g->n == 0) {
			group_free(g);
			memmove(&sp->routes[at], &sp->routes[at + 1],
				(sp->nroutes - at - 1) * sizeof(*sp->routes));
			memmove(&ss->groups[at], &ss->groups[at + 1],
				(sp->nroutes - at - 1) * sizeof(*ss->groups));
			sp->nroutes--;
			continue;
		}
		sp->routes[at].prefix = d->prefix;
		group_route(p, d->session, g, &sp->routes[at]);
	}
	/* Kept as the update's changes until the next call. */
	p->nchanged = p->ndirty;
	p->ndirty = 0;
}

/* Records of every Service at once, for a reset: appended, sorted, and
 * filed into exactly sized arrays, instead of one insertion each. */
struct bulk_rec {
	struct bp_rec rec;
	struct bp_svc *svc;
};

static int cmp_bulk(const void *a, const void *b)
{
	const struct bulk_rec *x = a, *y = b;
	if (x->rec.session != y->rec.session)
		return x->rec.session < y->rec.session ? -1 : 1;
	return cmp_prefix(&x->rec.prefix, &y->rec.prefix);
}

static void bulk_plan(struct bgp_planner *p, const struct announce_svc *svcs, size_t nsvcs)
{
	struct bp_ctx *c = &p->c;
	struct bulk_rec *all = NULL;
	size_t nall = 0, cap = 0;
	for (size_t i = 0; i < nsvcs; i++) {
		if (!svc_plannable(&svcs[i]))
			continue;
		char *key = announce_service_name(svcs[i].svc);
		void *old;
		/* A name given twice: the last input counts. */
		if (hashmap_del_str(&p->svcs, key, &old)) {
			struct bp_svc *o = old;
			for (size_t k = 0; k < nall; k++)
				if (all[k].svc == o)
					all[k].svc = NULL;
			free(o);
		}
		c->nrecs = 0;
		plan_service(c, &svcs[i], 0);
		if (c->nrecs) {
			struct bp_svc *s = svc_new(key, c->nrecs);
			s->n = (uint32_t)c->nrecs;
			hashmap_put(&p->svcs, s->name, strlen(s->name), s, NULL);
			if (nall + c->nrecs > cap) {
				cap = 2 * (nall + c->nrecs);
				all = xrealloc(all, cap * sizeof(*all));
			}
			for (size_t k = 0; k < c->nrecs; k++) {
				const struct bp_rec *r = &c->recs[k];
				s->uses[k] = (struct bp_use){.prefix = bgp_prefix_pack(&r->prefix),
							     .session = r->session,
							     .ad = r->ad};
				all[nall++] = (struct bulk_rec){.rec = *r, .svc = s};
			}
		}
		free(key);
	}
	/* Stable order within a group does not matter: group_route() sorts
	 * its records by name. */
	xqsort(all, nall, sizeof(*all), cmp_bulk);
	for (size_t pass = 0; pass < 2; pass++) {
		for (size_t i = 0, j; i < nall; i = j) {
			j = i + 1;
			while (j < nall && cmp_bulk(&all[i], &all[j]) == 0)
				j++;
			size_t live = 0;
			for (size_t k = i; k < j; k++)
				live += all[k].svc != NULL;
			if (!live)
				continue;
			uint32_t s = all[i].rec.session;
			struct bgp_session_plan *sp = &p->plan.sessions[s];
			if (pass == 0) {
				p->sess[s].cap++;
				continue;
			}
			struct bp_group *g = &p->sess[s].groups[sp->nroutes];
			struct bgp_route *r = &sp->routes[sp->nroutes++];
			for (size_t k = i; k < j; k++)
				if (all[k].svc)
					group_add(g, all[k].svc, all[k].rec.ad);
			r->prefix = bgp_prefix_pack(&all[i].rec.prefix);
			group_route(p, s, g, r);
		}
		if (pass == 0)
			for (size_t s = 0; s < p->plan.nsessions; s++) {
				size_t n = p->sess[s].cap;
				p->plan.sessions[s].routes = n ? xcalloc(n, sizeof(struct bgp_route)) : NULL;
				p->sess[s].groups = n ? xcalloc(n, sizeof(struct bp_group)) : NULL;
			}
	}
	free(all);
}

void bgp_planner_reset(struct bgp_planner *p, const struct model *m,
		       const struct announce_svc *svcs, size_t nsvcs)
{
	planner_clear(p);
	struct bp_ctx *c = &p->c;
	c->m = m;
	c->local = p->node;
	find_local(c);
	build_sessions(c, &p->plan);
	p->sess = xcalloc(p->plan.nsessions + 1, sizeof(*p->sess));
	p->built = true;
	p->active = c->nsessions > 0 && c->usable;
	if (p->active) {
		build_ads(c);
		build_pools(c);
		bulk_plan(p, svcs, nsvcs);
	}
	/* The scratch of a whole pass is not kept for one Service's. */
	free(c->recs);
	c->recs = NULL;
	c->nrecs = c->recs_cap = 0;
	announce_slices_free(&c->slices);
	c->slices_indexed = false;
	c->slices_scan = true;
}

void bgp_planner_update(struct bgp_planner *p, const struct model *m,
			const struct announce_change *ch, size_t nch)
{
	if (!p->built)
		bgp_planner_reset(p, m, NULL, 0);
	p->c.m = m;
	p->nchanged = 0;
	for (size_t k = 0; k < nch; k++) {
		char *key = ch[k].ns && *ch[k].ns ? xasprintf("%s/%s", ch[k].ns, ch[k].name)
						  : xstrdup(ch[k].name);
		svc_unplan(p, key);
		svc_plan(p, key, &ch[k].as);
		free(key);
	}
	flush_dirty(p);
}
