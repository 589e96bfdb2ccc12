/*
 * model_validate(): the checks that span objects, and reference
 * resolution.
 *
 * Pools: no entry may overlap another entry of any pool.  All entries are
 * sorted once (family, first address) and swept, so the check is
 * O(n log n) in the number of entries; the sorted table also answers
 * "which pool holds this requested address" for Services.
 *
 * References: names of pools, peers, BFD profiles, community aliases and
 * Secrets must resolve; errors about ones that do not carry
 * DIAG_FLAG_REFERENCE.  Then MetalLB's rules between objects: aggregation
 * lengths against pool prefixes, localPref conflicts between
 * advertisements, BFD echo on IPv6 sessions, password Secrets, duplicate
 * sessions, requested Service addresses.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/internal.h"
#include "model/model.h"

static void __attribute__((format(printf, 5, 6)))
verr(struct diag_list *d, const struct obj_meta *m, unsigned flags, const char *path,
     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct diag *dg = model_vdiag(d, DIAG_ERROR, m, path, fmt, ap);
	va_end(ap);
	dg->flags |= flags;
}

static void __attribute__((format(printf, 4, 5)))
vwarn(struct diag_list *d, const struct obj_meta *m, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	model_vdiag(d, DIAG_WARNING, m, path, fmt, ap);
	va_end(ap);
}

/* Names of every object of a kind, for "known:" hints (pointers into the
 * model; caller frees the array). */
static const char **kind_names_list(const struct model *m, enum obj_kind k, size_t *n)
{
	*n = model_count(m, k);
	const char **v = xcalloc(*n ? *n : 1, sizeof(*v));
	for (size_t i = 0; i < *n; i++)
		v[i] = model_meta_at(m, k, i)->name;
	return v;
}

static void unknown_ref(struct diag_list *d, const struct model *m, const struct obj_meta *meta,
			const char *path, enum obj_kind k, const char *name)
{
	size_t n;
	const char **names = kind_names_list(m, k, &n);
	char *hint = known_names_hint(name, names, n);
	char *q = quote(name);
	verr(d, meta, DIAG_FLAG_REFERENCE, path, "unknown %s %s%s", obj_kind_name(k), q, hint);
	free(q);
	free(hint);
	free(names);
}

/* The text of pool entry i as written (spec.addresses[j]). */
static char *pool_entry_text(const struct pool *p, size_t i)
{
	char *path = path_idx("spec.addresses", p->range_entry[i]);
	const struct tree *t = p->meta.tree ? tree_path(p->meta.tree, path) : NULL;
	free(path);
	if (t && t->type == TREE_STRING && t->text)
		return quote(t->text);
	char buf[IP_STR_MAX];
	return quote(ip_range_format(&p->ranges[i], buf));
}

static char *pool_entry_where(const struct pool *p, size_t i)
{
	char *path = path_idx("spec.addresses", p->range_entry[i]);
	char *w = meta_where(&p->meta, path);
	free(path);
	return w;
}

/* ------------------------------------------------------------------ */
/* pools */

struct rent {
	struct ip_range r;
	size_t pool;
	size_t k;
};

struct range_table {
	size_t n;
	struct rent *e;      /* sorted by family, first, last */
	struct ip_addr *maxlast; /* maxlast[i]: largest last of e[0..i] of e[i]'s family */
};

static int rent_cmp(const void *pa, const void *pb)
{
	const struct rent *a = pa, *b = pb;
	int c = ip_cmp(&a->r.first, &b->r.first);
	if (c)
		return c;
	c = ip_cmp(&a->r.last, &b->r.last);
	if (c)
		return c;
	if (a->pool != b->pool)
		return a->pool < b->pool ? -1 : 1;
	return a->k < b->k ? -1 : a->k > b->k;
}

static bool input_later(const struct rent *a, const struct rent *b)
{
	return a->pool > b->pool || (a->pool == b->pool && a->k > b->k);
}

static void build_ranges(const struct model *m, struct range_table *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < m->npools; i++)
		t->n += m->pools[i].nranges;
	t->e = xcalloc(t->n ? t->n : 1, sizeof(*t->e));
	t->maxlast = xcalloc(t->n ? t->n : 1, sizeof(*t->maxlast));
	size_t n = 0;
	for (size_t i = 0; i < m->npools; i++)
		for (size_t k = 0; k < m->pools[i].nranges; k++)
			t->e[n++] = (struct rent){m->pools[i].ranges[k], i, k};
	xqsort(t->e, t->n, sizeof(*t->e), rent_cmp);
	for (size_t i = 0; i < t->n; i++) {
		t->maxlast[i] = t->e[i].r.last;
		if (i > 0 && t->e[i - 1].r.first.family == t->e[i].r.first.family &&
		    ip_cmp(&t->maxlast[i - 1], &t->maxlast[i]) > 0)
			t->maxlast[i] = t->maxlast[i - 1];
	}
}

static void check_overlaps(struct model *m, const struct range_table *t,
			   struct diag_list *d)
{
	/* best: the entry seen so far (in address order) that reaches
	 * furthest; any later entry starting at or before its end overlaps
	 * it. */
	const struct rent *best = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const struct rent *e = &t->e[i];
		if (best && best->r.first.family != e->r.first.family)
			best = NULL;
		if (best && ip_cmp(&e->r.first, &best->r.last) <= 0) {
			const struct rent *later = input_later(e, best) ? e : best;
			const struct rent *other = later == e ? best : e;
			struct pool *lp = &m->pools[later->pool];
			const struct pool *op = &m->pools[other->pool];
			char *lt = pool_entry_text(lp, later->k);
			char *ot = pool_entry_text(op, other->k);
			char *where = pool_entry_where(op, other->k);
			char *path = path_idx("spec.addresses", lp->range_entry[later->k]);
			verr(d, &lp->meta, 0, path, "%s overlaps %s of %s%s", lt, ot,
			     op->meta.display, where);
			lp->meta.invalid = true;
			free(path);
			free(where);
			free(ot);
			free(lt);
		}
		if (!best || ip_cmp(&e->r.last, &best->r.last) > 0)
			best = e;
	}
}

/* The entry holding address a, or NULL. */
static const struct rent *range_lookup(const struct range_table *t, const struct ip_addr *a)
{
	/* last entry with first <= a */
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ip_cmp(&t->e[mid].r.first, a) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0;) {
		const struct rent *e = &t->e[i];
		if (e->r.first.family != a->family || ip_cmp(&t->maxlast[i], a) < 0)
			break;
		if (ip_range_contains(&e->r, a))
			return e;
	}
	return NULL;
}

static bool pool_has_family(const struct pool *p, enum ip_family f)
{
	for (size_t i = 0; i < p->nranges; i++)
		if (p->ranges[i].first.family == f)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* node sets */

/* Whether two lists of node selectors can select a common node.  With Node
 * objects in the model this is exact; without, only what the selectors
 * say: an empty list (every node) or a selector in both lists overlaps,
 * and anything else is taken as disjoint (MetalLB, which computes node
 * sets from the cluster's Nodes, calls every pair disjoint when there are
 * none). */
static bool nodes_overlap(const struct model *m, const struct label_selector *a, size_t na,
			  const struct label_selector *b, size_t nb)
{
	if (m->nnodes > 0) {
		for (size_t i = 0; i < m->nnodes; i++) {
			const struct labels *l = &m->nodes[i].meta.labels;
			if (selectors_match_any(a, na, l, true) &&
			    selectors_match_any(b, nb, l, true))
				return true;
		}
		return false;
	}
	if (na == 0 || nb == 0)
		return true;
	bool found = false;
	for (size_t i = 0; i < na && !found; i++) {
		char *ca = selector_canon(&a[i]);
		for (size_t k = 0; k < nb && !found; k++) {
			char *cb = selector_canon(&b[k]);
			found = strcmp(ca, cb) == 0;
			free(cb);
		}
		free(ca);
	}
	return found;
}

/* ------------------------------------------------------------------ */
/* community aliases */

static void check_aliases(struct model *m, struct diag_list *d)
{
	for (size_t i = 0; i < m->ncommunities; i++) {
		struct community *c = &m->communities[i];
		for (size_t k = 0; k < c->naliases; k++) {
			struct community_alias *a = &c->aliases[k];
			if (!a->name || !*a->name)
				continue;
			/* earlier definitions, in input order */
			bool dup = false;
			for (size_t j = 0; j <= i && !dup; j++) {
				const struct community *o = &m->communities[j];
				size_t lim = j == i ? k : o->naliases;
				for (size_t h = 0; h < lim; h++) {
					const struct community_alias *b = &o->aliases[h];
					if (!b->name || strcmp(b->name, a->name) != 0)
						continue;
					char *bp = xasprintf("spec.communities[%zu].name", b->index);
					char *where = meta_where(&o->meta, bp);
					char *ap = xasprintf("spec.communities[%zu].name", a->index);
					char *q = quote(a->name);
					verr(d, &c->meta, 0, ap,
					     "community alias %s is already defined in %s%s", q,
					     o->meta.display, where);
					free(q);
					free(ap);
					free(where);
					free(bp);
					a->valid = false;
					c->meta.invalid = true;
					dup = true;
					break;
				}
			}
		}
	}
}

static const char **alias_names(const struct model *m, size_t *n)
{
	const char **v = NULL;
	*n = 0;
	for (size_t i = 0; i < m->ncommunities; i++)
		for (size_t k = 0; k < m->communities[i].naliases; k++)
			if (m->communities[i].aliases[k].name)
				*VEC_PUSH(v, *n) = m->communities[i].aliases[k].name;
	return v;
}

/* ------------------------------------------------------------------ */
/* peers */

#define SECRET_RULE "passwordSecret needs type kubernetes.io/basic-auth with a \"password\" key"

static void check_peer_secret(struct model *m, struct bgppeer *p, struct diag_list *d)
{
	const char *ns = p->password_secret_namespace ? p->password_secret_namespace
						      : m->config_namespace;
	if (strcmp(ns, m->config_namespace) != 0)
		vwarn(d, &p->meta, "spec.passwordSecret.namespace",
		      "MetalLB reads password Secrets only from its own namespace (%s)",
		      m->config_namespace);
	const struct secret *s = model_find_secret(m, ns, p->password_secret_name);
	if (!s) {
		verr(d, &p->meta, DIAG_FLAG_REFERENCE, "spec.passwordSecret.name",
		     "unknown Secret %s/%s", ns, p->password_secret_name);
		/* without its password the session would go out unauthenticated */
		p->meta.invalid = true;
		return;
	}
	const struct secret_kv *pw = NULL;
	for (size_t i = 0; i < s->ndata; i++)
		if (strcmp(s->data[i].key, "password") == 0)
			pw = &s->data[i];
	if (strcmp(s->type, "kubernetes.io/basic-auth") != 0) {
		char *q = quote(s->type);
		verr(d, &p->meta, 0, "spec.passwordSecret.name", "%s has type %s; " SECRET_RULE,
		     s->meta.display, q);
		free(q);
		p->meta.invalid = true;
		return;
	}
	if (!pw) {
		verr(d, &p->meta, 0, "spec.passwordSecret.name",
		     "%s has no \"password\" key; " SECRET_RULE, s->meta.display);
		p->meta.invalid = true;
		return;
	}
	if (memchr(pw->value, '\n', pw->len) || memchr(pw->value, '\r', pw->len) ||
	    memchr(pw->value, '\0', pw->len)) {
		verr(d, &p->meta, 0, "spec.passwordSecret.name",
		     "the \"password\" of %s contains a line break or a NUL byte (not accepted in "
		     "a password)",
		     s->meta.display);
		p->meta.invalid = true;
		return;
	}
	free(p->resolved_password);
	p->resolved_password = xstrndup((const char *)pw->value, pw->len);
}

static char *session_key(const struct bgppeer *p)
{
	char buf[IP_STR_MAX];
	return xasprintf("%s|%u|%s",
			 p->has_peer_address ? ip_format(&p->peer_address, buf)
			 : p->interface	     ? p->interface
					     : "",
			 p->peer_port, p->vrf ? p->vrf : "");
}

static void check_peers(struct model *m, struct diag_list *d)
{
	char **keys = xcalloc(m->npeers ? m->npeers : 1, sizeof(*keys));
	for (size_t i = 0; i < m->npeers; i++) {
		struct bgppeer *p = &m->peers[i];
		p->bfd = NULL;
		if (p->bfd_profile) {
			p->bfd = model_find_bfdprofile(m, p->bfd_profile);
			if (!p->bfd)
				unknown_ref(d, m, &p->meta, "spec.bfdProfile", KIND_BFDPROFILE,
					    p->bfd_profile);
		}
		free(p->resolved_password);
		p->resolved_password = NULL;
		if (p->password)
			p->resolved_password = xstrdup(p->password);
		else if (p->password_secret_name)
			check_peer_secret(m, p, d);

		keys[i] = session_key(p);
		if (!p->has_peer_address && !p->interface)
			continue;
		for (size_t k = 0; k < i; k++) {
			const struct bgppeer *o = &m->peers[k];
			if (strcmp(keys[k], keys[i]) != 0)
				continue;
			if (!nodes_overlap(m, p->node_selectors, p->nnode_selectors,
					   o->node_selectors, o->nnode_selectors))
				continue;
			char *where = meta_where(&o->meta, NULL);
			const char *what = p->has_peer_address ? "spec.peerAddress" : "spec.interface";
			verr(d, &p->meta, 0, what,
			     "duplicate session: %s%s has the same %s, port %u and VRF, on nodes "
			     "this peer also selects",
			     o->meta.display, where, p->has_peer_address ? "peerAddress" : "interface",
			     p->peer_port);
			p->meta.invalid = true;
			free(where);
			break;
		}
	}
	for (size_t i = 0; i < m->npeers; i++)
		free(keys[i]);
	free(keys);
}

/* ------------------------------------------------------------------ */
/* advertisements */

static void check_pool_refs(struct model *m, struct diag_list *d, const struct obj_meta *meta,
			    char *const *pools, size_t npools, size_t npool_selectors,
			    const struct label_selector *sels)
{
	for (size_t i = 0; i < npools; i++) {
		if (model_find_pool(m, pools[i]))
			continue;
		char *path = path_idx("spec.ipAddressPools", i);
		unknown_ref(d, m, meta, path, KIND_IPADDRESSPOOL, pools[i]);
		free(path);
	}
	if (npools == 0 && npool_selectors > 0) {
		bool any = false;
		for (size_t i = 0; i < m->npools && !any; i++)
			any = selectors_match_any(sels, npool_selectors, &m->pools[i].meta.labels,
						  false);
		if (!any)
			vwarn(d, meta, "spec.ipAddressPoolSelectors",
			      "matches no IPAddressPool: this advertisement announces nothing");
	}
}

static void check_bgpadv_refs(struct model *m, struct bgpadv *a, struct diag_list *d)
{
	check_pool_refs(m, d, &a->meta, a->pools, a->npools, a->npool_selectors,
			a->pool_selectors);
	for (size_t i = 0; i < a->npeers; i++) {
		if (model_find_peer(m, a->peers[i]))
			continue;
		char *path = path_idx("spec.peers", i);
		unknown_ref(d, m, &a->meta, path, KIND_BGPPEER, a->peers[i]);
		free(path);
	}
	free(a->community_values);
	a->community_values = xcalloc(a->ncommunities ? a->ncommunities : 1,
				      sizeof(*a->community_values));
	for (size_t i = 0; i < a->ncommunities; i++) {
		if (model_resolve_community(m, a->communities[i], &a->community_values[i]) == 0)
			continue;
		if (strchr(a->communities[i], ':')) {
			/* a literal that does not parse: reported by model_add */
			continue;
		}
		size_t n;
		const char **names = alias_names(m, &n);
		char *hint = known_names_hint(a->communities[i], names, n);
		char *q = quote(a->communities[i]);
		char *path = path_idx("spec.communities", i);
		verr(d, &a->meta, DIAG_FLAG_REFERENCE, path,
		     "unknown community alias %s%s (a value without ':' names an alias of a "
		     "Community object)",
		     q, hint);
		free(path);
		free(q);
		free(hint);
		free(names);
		/* Announcing without a community the user asked for (say, a
		 * no-export) could leak routes: leave the advertisement out. */
		a->meta.invalid = true;
	}
}

static void check_aggregation(struct model *m, struct bgpadv *a, struct diag_list *d)
{
	for (size_t pi = 0; pi < m->npools; pi++) {
		const struct pool *p = &m->pools[pi];
		if (!bgpadv_selects_pool(a, p))
			continue;
		bool done4 = false, done6 = false;
		for (size_t k = 0; k < p->nranges; k++) {
			bool v4 = p->ranges[k].first.family == IP_FAMILY_V4;
			int len = v4 ? a->aggregation_length : a->aggregation_length_v6;
			unsigned need = ip_range_min_prefix_len(&p->ranges[k]);
			if (len < 0 || (unsigned)len >= need || (v4 ? done4 : done6))
				continue;
			char *t = pool_entry_text(p, k);
			char *where = pool_entry_where(p, k);
			verr(d, &a->meta, 0, v4 ? "spec.aggregationLength" : "spec.aggregationLengthV6",
			     "%s %d would announce addresses outside %s of %s%s (accepted: %u..%u)",
			     v4 ? "aggregationLength" : "aggregationLengthV6", len, t,
			     p->meta.display, where, need, v4 ? 32 : 128);
			a->meta.invalid = true;
			free(where);
			free(t);
			if (v4)
				done4 = true;
			else
				done6 = true;
		}
	}
}

#define NAMES_MAX 5

static void check_local_pref_ibgp(struct model *m, const struct bgpadv *a, struct diag_list *d)
{
	if (!a->has_local_pref)
		return;
	size_t nt = 0, nebgp = 0;
	char *names = xstrdup("");
	for (size_t i = 0; i < m->npeers; i++) {
		const struct bgppeer *p = &m->peers[i];
		if (!bgpadv_selects_peer(a, p))
			continue;
		nt++;
		if (bgppeer_is_ibgp(p))
			break;
		nebgp++;
		if (nebgp <= NAMES_MAX) {
			char *n = xasprintf("%s%s%s", names, nebgp > 1 ? ", " : "", p->meta.name);
			free(names);
			names = n;
		}
	}
	if (nt > 0 && nt == nebgp)
		vwarn(d, &a->meta, "spec.localPref",
		      "localPref %u is sent only on iBGP sessions; %s %s%s %s eBGP", a->local_pref,
		      nebgp == 1 ? "peer" : "peers", names, nebgp > NAMES_MAX ? ", ..." : "",
		      nebgp == 1 ? "is" : "are");
	free(names);
}

/* MetalLB's rule: two advertisements of one pool are told apart by the
 * aggregation length of every family the pool has. */
static bool aggregation_differs(const struct bgpadv *a, const struct bgpadv *b,
				const struct pool *p)
{
	bool v4 = pool_has_family(p, IP_FAMILY_V4), v6 = pool_has_family(p, IP_FAMILY_V6);
	bool d4 = a->aggregation_length != b->aggregation_length;
	bool d6 = a->aggregation_length_v6 != b->aggregation_length_v6;
	if (!v4 && !v6)
		return true;
	if (v4 && v6)
		return d4 && d6;
	return v4 ? d4 : d6;
}

static bool peers_disjoint(const struct bgpadv *a, const struct bgpadv *b)
{
	if (a->npeers == 0 || b->npeers == 0)
		return false;
	for (size_t i = 0; i < a->npeers; i++)
		for (size_t k = 0; k < b->npeers; k++)
			if (strcmp(a->peers[i], b->peers[k]) == 0)
				return false;
	return true;
}

static void check_local_pref_conflicts(struct model *m, struct diag_list *d)
{
	for (size_t j = 0; j < m->nbgpadvs; j++) {
		struct bgpadv *b = &m->bgpadvs[j];
		if (b->nsvc_selectors > 0)
			continue;
		for (size_t i = 0; i < j; i++) {
			const struct bgpadv *a = &m->bgpadvs[i];
			if (a->nsvc_selectors > 0 || a->local_pref == b->local_pref)
				continue;
			if (peers_disjoint(a, b) ||
			    !nodes_overlap(m, a->node_selectors, a->nnode_selectors,
					   b->node_selectors, b->nnode_selectors))
				continue;
			const struct pool *shared = NULL;
			for (size_t pi = 0; pi < m->npools && !shared; pi++) {
				const struct pool *p = &m->pools[pi];
				if (bgpadv_selects_pool(a, p) && bgpadv_selects_pool(b, p) &&
				    !aggregation_differs(a, b, p))
					shared = p;
			}
			if (!shared)
				continue;
			char *where = meta_where(&a->meta, "spec.localPref");
			verr(d, &b->meta, 0, "spec.localPref",
			     "localPref %u conflicts with localPref %u of %s%s: both announce %s to "
			     "the same peers from the same nodes with the same aggregation length",
			     b->local_pref, a->local_pref, a->meta.display, where,
			     shared->meta.display);
			b->meta.invalid = true;
			free(where);
			break;
		}
	}
}

/* MetalLB refuses BFD echo mode on a session that announces an IPv6 pool. */
static void check_bfd_echo(struct model *m, struct diag_list *d)
{
	bool *reported = xcalloc(m->npeers ? m->npeers : 1, sizeof(*reported));
	for (size_t pi = 0; pi < m->npools; pi++) {
		const struct pool *p = &m->pools[pi];
		if (!pool_has_family(p, IP_FAMILY_V6))
			continue;
		for (size_t ai = 0; ai < m->nbgpadvs; ai++) {
			const struct bgpadv *a = &m->bgpadvs[ai];
			if (!bgpadv_selects_pool(a, p))
				continue;
			for (size_t k = 0; k < m->npeers; k++) {
				struct bgppeer *peer = &m->peers[k];
				if (reported[k] || !peer->bfd || !peer->bfd->echo_mode ||
				    !bgpadv_selects_peer(a, peer))
					continue;
				verr(d, &peer->meta, 0, "spec.bfdProfile",
				     "BFD echo mode (%s) cannot be used on a session that announces "
				     "IPv6 pool %s (through %s)",
				     peer->bfd->meta.display, p->meta.name, a->meta.display);
				peer->meta.invalid = true;
				reported[k] = true;
			}
		}
	}
	free(reported);
}

/* ------------------------------------------------------------------ */
/* services */

static char *annotation_path(const struct service *s, const char *name)
{
	char *knew = xasprintf(ANNOT_PREFIX_NEW "%s", name);
	char *key = labels_get(&s->meta.annotations, knew)
			    ? knew
			    : xasprintf(ANNOT_PREFIX_OLD "%s", name);
	char *p = path_key("metadata.annotations", key);
	if (key != knew)
		free(key);
	free(knew);
	return p;
}

static void check_service(const struct model *m, const struct range_table *t,
			  const struct service *s, struct diag_list *d)
{
	{
		if (!service_is_load_balancer(s))
			return;
		if (s->npool_names > 0) {
			char *path = annotation_path(s, "address-pool");
			for (size_t k = 0; k < s->npool_names; k++)
				if (!model_find_pool(m, s->pool_names[k]))
					unknown_ref(d, m, &s->meta, path, KIND_IPADDRESSPOOL,
						    s->pool_names[k]);
			free(path);
		}
		if (s->nrequested == 0)
			return;
		char *path = labels_get(&s->meta.annotations, ANNOT_PREFIX_NEW "loadBalancerIPs") ||
					     labels_get(&s->meta.annotations,
							ANNOT_PREFIX_OLD "loadBalancerIPs")
				     ? annotation_path(s, "loadBalancerIPs")
				     : xstrdup("spec.loadBalancerIP");
		for (size_t k = 0; k < s->nrequested; k++) {
			const struct ip_addr *a = &s->requested[k];
			char buf[IP_STR_MAX];
			ip_format(a, buf);
			const struct rent *e = range_lookup(t, a);
			if (!e) {
				verr(d, &s->meta, 0, path, "%s is in no IPAddressPool", buf);
				continue;
			}
			const struct pool *p = &m->pools[e->pool];
			uint32_t low = (uint32_t)(a->v & 0xff);
			if (p->avoid_buggy_ips && a->family == IP_FAMILY_V4 &&
			    (low == 0 || low == 255))
				verr(d, &s->meta, 0, path,
				     "%s ends in .%u, which %s does not hand out (avoidBuggyIPs)", buf,
				     low, p->meta.display);
			bool named = s->npool_names == 0;
			for (size_t n = 0; n < s->npool_names; n++)
				named |= strcmp(s->pool_names[n], p->meta.name) == 0;
			if (!named)
				verr(d, &s->meta, 0, path,
				     "%s is in %s, which the address-pool annotation does not name",
				     buf, p->meta.display);
		}
		free(path);
	}
}

static void check_services(struct model *m, const struct range_table *t, struct diag_list *d)
{
	for (size_t i = 0; i < m->nservices; i++)
		check_service(m, t, &m->services[i], d);
}

size_t model_validate_service(const struct model *m, const struct service *s,
			      struct diag_list *d)
{
	size_t before = diag_count(d, DIAG_ERROR);
	struct range_table t;
	build_ranges(m, &t);
	check_service(m, &t, s, d);
	free(t.e);
	free(t.maxlast);
	return diag_count(d, DIAG_ERROR) - before;
}

/* ------------------------------------------------------------------ */
/* addresses that hurt on a LAN (warnings: MetalLB hands them out) */

/* The first valid L2Advertisement announcing pool p, or NULL. */
static const struct l2adv *l2_announcer(const struct model *m, const struct pool *p)
{
	for (size_t i = 0; i < m->nl2advs; i++)
		if (!m->l2advs[i].meta.invalid && l2adv_selects_pool(&m->l2advs[i], p))
			return &m->l2advs[i];
	return NULL;
}

/* Why an address ip_lan_hazard() names hurts. */
static const char *lan_harm(const struct ip_addr *a)
{
	return a->family == IP_FAMILY_V4 ? "which some clients and CPE firmware drop"
					 : "which routers on the link also answer";
}

/* A pool announced on a link (Layer 2) holding /24 network or broadcast
 * addresses, or Subnet-Router anycast addresses, that automatic
 * allocation may hand out: with avoidBuggyIPs it skips both. */
static void check_lan_pool(const struct model *m, const struct pool *p, struct diag_list *d)
{
	if (p->avoid_buggy_ips || p->meta.invalid)
		return;
	const struct l2adv *a = l2_announcer(m, p);
	if (!a)
		return;
	for (size_t i = 0; i < p->nranges; i++) {
		struct ip_addr first;
		u128 n = ip_range_lan_hazards(&p->ranges[i], &first);
		if (n == 0)
			continue;
		char fb[IP_STR_MAX], nb[U128_STR_MAX];
		ip_format(&first, fb);
		char *text = pool_entry_text(p, i);
		char *path = path_idx("spec.addresses", p->range_entry[i]);
		bool v4 = first.family == IP_FAMILY_V4;
		char *held = n == 1 ? xasprintf("%s, %s", fb, ip_lan_hazard(&first))
			     : v4   ? xasprintf("%s addresses ending in .0 or .255 (the first: %s), "
						"the network and broadcast addresses of /24s",
						u128_format(n, nb), fb)
				    : xasprintf("%s Subnet-Router anycast addresses (RFC 4291 2.6.1), "
						"the first address of each /64 (the first: %s)",
						u128_format(n, nb), fb);
		vwarn(d, &p->meta, path,
		      "%s holds %s, %s, and %s announces this pool on the LAN; avoidBuggyIPs: true "
		      "keeps %s out of %sallocation",
		      text, held, lan_harm(&first), a->meta.display, n == 1 ? "it" : "them",
		      v4 ? "" : "automatic ");
		free(held);
		free(path);
		free(text);
	}
}

/* An address of a router or a node inside a pool: a Service given it
 * would answer for the router or the node. */
static void check_pool_holds(const struct model *m, const struct range_table *t,
			     const struct ip_addr *addr, const struct obj_meta *owner,
			     const char *field, struct diag_list *d)
{
	const struct rent *e = range_lookup(t, addr);
	if (!e)
		return;
	const struct pool *p = &m->pools[e->pool];
	if (p->meta.invalid)
		return;
	char ab[IP_STR_MAX];
	ip_format(addr, ab);
	char *text = pool_entry_text(p, e->k);
	char *path = path_idx("spec.addresses", p->range_entry[e->k]);
	char *where = meta_where(owner, NULL);
	vwarn(d, &p->meta, path,
	      "%s holds %s, the %s of %s%s: a Service given it would take that address "
	      "from it; leave it out of the pool (a range, or several entries)",
	      text, ab, field, owner->display, where);
	free(where);
	free(path);
	free(text);
}

static void check_lan(const struct model *m, const struct range_table *t, struct diag_list *d)
{
	for (size_t i = 0; i < m->npools; i++)
		check_lan_pool(m, &m->pools[i], d);
	for (size_t i = 0; i < m->npeers; i++)
		if (m->peers[i].has_peer_address)
			check_pool_holds(m, t, &m->peers[i].peer_address, &m->peers[i].meta,
					 "peerAddress", d);
	for (size_t i = 0; i < m->nnodes; i++)
		for (size_t k = 0; k < m->nodes[i].ninternal; k++)
			check_pool_holds(m, t, &m->nodes[i].internal[k], &m->nodes[i].meta,
					 "InternalIP", d);
}

char *model_address_warning(const struct model *m, const char *pool, const struct ip_addr *a)
{
	const char *what = ip_lan_hazard(a);
	if (!what || !pool)
		return NULL;
	const struct pool *p = model_find_pool(m, pool);
	const struct l2adv *adv = p ? l2_announcer(m, p) : NULL;
	if (!adv)
		return NULL;
	char ab[IP_STR_MAX];
	ip_format(a, ab);
	return xasprintf("%s is %s, %s, and %s announces pool %s on the LAN", ab, what,
			 lan_harm(a), adv->meta.display, pool);
}

/* ------------------------------------------------------------------ */

size_t model_validate(struct model *m, struct diag_list *d)
{
	size_t before = diag_count(d, DIAG_ERROR);
	struct range_table t;
	build_ranges(m, &t);
	check_overlaps(m, &t, d);
	check_aliases(m, d);
	check_peers(m, d);
	for (size_t i = 0; i < m->nl2advs; i++) {
		struct l2adv *a = &m->l2advs[i];
		check_pool_refs(m, d, &a->meta, a->pools, a->npools, a->npool_selectors,
				a->pool_selectors);
	}
	for (size_t i = 0; i < m->nbgpadvs; i++) {
		struct bgpadv *a = &m->bgpadvs[i];
		check_bgpadv_refs(m, a, d);
		check_aggregation(m, a, d);
		check_local_pref_ibgp(m, a, d);
	}
	check_local_pref_conflicts(m, d);
	check_bfd_echo(m, d);
	check_services(m, &t, d);
	check_lan(m, &t, d);
	free(t.e);
	free(t.maxlast);
	return diag_count(d, DIAG_ERROR) - before;
}
