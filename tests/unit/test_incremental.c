/*
 * Property test of incremental work: seeded random sequences of changes
 * (Services added, changed and deleted with every IP family policy,
 * requested addresses, pool annotations and sharing keys; EndpointSlices;
 * pools small enough to run out; L2 and BGP advertisements; nodes) are
 * applied one at a time to a long-lived model (model_upsert/model_remove),
 * allocator (alloc_update_service/alloc_update_config) and planners
 * (l2_planner/bgp_planner update or reset).  After EVERY step the state is
 * compared with a computation from scratch over the same objects, each
 * Service carrying the addresses it holds as status: a new allocator
 * running alloc_run_all(), and announce_l2()/announce_bgp() for node n0,
 * over the long-lived model's objects after every step, and over a model
 * read anew from the objects' text every 16th step and at the end.
 * Compared: each Service's addresses, pools and failure message, the
 * pools' counters, the Layer 2 plan and the BGP routes.  A second Layer 2
 * planner places with claims (sticky, balanced: what `ironlb run` does),
 * each reset given its own plan's owners as claims; after every step its
 * plan must equal announce_l2_claims() from scratch given the same
 * (its current owners, the owner of a Service's first address newest).  A mismatch names
 * the seed and the step; IRONLB_PROPERTY_SEED=N and
 * IRONLB_PROPERTY_STEPS=N replay one seed, IRONLB_PROPERTY_DEBUG=1 says
 * how much each seed exercised.
 */
#include "test_model_helpers.h"

#include "alloc/alloc.h"
#include "announce/announce.h"
#include "announce/bgp_plan.h"

#define NSVC 24
#define NPOOL 4
#define NL2 3
#define NBGP 3
#define NNODE 4
#define LOCAL_NODE "n0"

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)((rng >> 11) % n);
}

static bool coin(uint32_t pct)
{
	return rnd(100) < pct;
}

/* The objects as text (NULL: absent). */
struct world {
	char *svc[NSVC];
	char *slice[NSVC];
	char *pool[NPOOL];
	char *l2[NL2];
	char *bgp[NBGP];
	char *node[NNODE];
};

static const char peers_yaml[] =
	"apiVersion: metallb.io/v1beta2\nkind: BGPPeer\n"
	"metadata: {name: peer4, namespace: metallb-system}\n"
	"spec: {myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta2\nkind: BGPPeer\n"
	"metadata: {name: peer6, namespace: metallb-system}\n"
	"spec: {myASN: 64500, peerASN: 64500, peerAddress: \"2001:db8::1\"}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta2\nkind: BGPPeer\n"
	"metadata: {name: peerdual, namespace: metallb-system}\n"
	"spec: {myASN: 64500, peerASN: 64502, peerAddress: 192.0.2.2,"
	" dualStackAddressFamily: true, nodeSelectors: [{matchLabels: {zone: a}}]}\n";

static const char *svc_ns(int i)
{
	return i % 2 ? "team-b" : "team-a";
}

static char *svc_name(int i)
{
	return xasprintf("s%02d", i);
}

static char *rand_v4(void)
{
	return xasprintf("10.%u.0.%u", rnd(NPOOL + 1), 4 + rnd(12));
}

static char *rand_v6(void)
{
	return xasprintf("fd00:0:0:%u::%x", rnd(NPOOL + 1), 4 + rnd(12));
}

static char *gen_service(int i)
{
	char *name = svc_name(i);
	static const char *const policies[] = {"SingleStack", "PreferDualStack",
					       "RequireDualStack"};
	const char *policy = policies[rnd(3)];
	bool single = policy[0] == 'S';
	const char *fams = single ? (coin(70) ? "[IPv4]" : "[IPv6]")
				  : (coin(70) ? "[IPv4, IPv6]" : "[IPv6, IPv4]");
	char *annots = xstrdup("");
#define ANNOT(...)                                                \
	do {                                                      \
		char *a_ = xasprintf(__VA_ARGS__);                \
		char *n_ = xasprintf("%s    %s\n", annots, a_);   \
		free(a_);                                         \
		free(annots);                                     \
		annots = n_;                                      \
	} while (0)
	/* Contested addresses: one address many Services ask for, so that
	 * who asked first (creationTimestamp, then order of reading) decides
	 * often. */
	if (coin(10))
		ANNOT("metallb.io/loadBalancerIPs: \"%s\"", coin(70) ? "10.0.0.9" : "fd00::9");
	else if (coin(20)) {
		char *a = rand_v4(), *b = rand_v6();
		switch (rnd(4)) {
		case 0:
			ANNOT("metallb.io/loadBalancerIPs: \"%s\"", a);
			break;
		case 1:
			ANNOT("metallb.io/loadBalancerIPs: \"%s\"", b);
			break;
		case 2:
			ANNOT("metallb.io/loadBalancerIPs: \"%s,%s\"", a, b);
			break;
		default:
			ANNOT("metallb.io/loadBalancerIPs: \"not-an-ip\"");
		}
		free(a);
		free(b);
	}
	if (coin(25)) {
		if (coin(10))
			ANNOT("metallb.io/address-pool: nosuchpool");
		else if (coin(30))
			ANNOT("metallb.io/address-pool: \"p%u,p%u\"", rnd(NPOOL), rnd(NPOOL));
		else
			ANNOT("metallb.io/address-pool: p%u", rnd(NPOOL));
	}
	if (coin(30))
		ANNOT("metallb.io/allow-shared-ip: k%u", rnd(2));
#undef ANNOT
	char *ports = coin(50) ? xasprintf("  ports:\n  - {port: %u, protocol: TCP}\n",
					   coin(50) ? 80 : 443)
			       : xasprintf("  ports:\n  - {port: 80}\n  - {port: 443}\n");
	/* Three creation times (ties in one second included), or none. */
	char *created = coin(50) ? xasprintf("  creationTimestamp: \"2026-01-0%uT00:00:00Z\"\n",
					     1 + rnd(3))
				 : xstrdup("");
	char *y = xasprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n%s"
			    "  namespace: %s\n  labels: {app: %s}\n%s%s"
			    "spec:\n  type: %s\n  ipFamilyPolicy: %s\n  ipFamilies: %s\n"
			    "  externalTrafficPolicy: %s\n  selector: {app: %s}\n%s",
			    name, created, svc_ns(i), coin(50) ? "web" : "db",
			    *annots ? "  annotations:\n" : "", annots,
			    coin(92) ? "LoadBalancer" : "ClusterIP", policy, fams,
			    coin(25) ? "Local" : "Cluster", coin(50) ? "x" : "y", ports);
	free(created);
	free(ports);
	free(annots);
	free(name);
	return y;
}

static char *gen_slice(int i)
{
	char *name = svc_name(i);
	char *eps = xstrdup("");
	unsigned n = rnd(3);
	for (unsigned k = 0; k < n; k++) {
		char *e = xasprintf("%s- addresses: [10.244.%d.%u]\n  nodeName: n%u\n"
				    "  conditions: {ready: %s}\n",
				    eps, i, k + 1, rnd(NNODE), coin(80) ? "true" : "false");
		free(eps);
		eps = e;
	}
	char *y = xasprintf("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			    "metadata:\n  name: %s-eps\n  namespace: %s\n"
			    "  labels: {kubernetes.io/service-name: %s}\n"
			    "addressType: IPv4\nendpoints:%s\n%s",
			    name, svc_ns(i), name, n ? "" : " []", eps);
	free(eps);
	free(name);
	return y;
}

static char *gen_pool(int i)
{
	char *addrs;
	unsigned len4 = coin(50) ? 30 : 29, len6 = coin(50) ? 126 : 125;
	switch (rnd(4)) {
	case 0:
		addrs = xasprintf("[10.%d.0.8/%u]", i, len4);
		break;
	case 1:
		addrs = xasprintf("[\"fd00:0:0:%d::8/%u\"]", i, len6);
		break;
	default:
		addrs = xasprintf("[10.%d.0.8/%u, \"fd00:0:0:%d::8/%u\"]", i, len4, i, len6);
	}
	char *sa = xstrdup("");
	if (coin(20)) {
		free(sa);
		/* Pools that select some Services, with a priority or without:
		 * they come before the pools without serviceAllocation. */
		char *prio = coin(60) ? xasprintf("    priority: %u\n", 1 + rnd(3)) : xstrdup("");
		const char *sel = coin(50)   ? "    namespaces: [team-a]\n"
				  : coin(50) ? "    serviceSelectors: [{matchLabels: {app: web}}]\n"
					     : "";
		sa = xasprintf("  serviceAllocation:\n%s%s", prio, sel);
		if (!*prio && !*sel) {
			free(sa);
			sa = xstrdup("");
		}
		free(prio);
	}
	char *y = xasprintf("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
			    "metadata:\n  name: p%d\n  namespace: metallb-system\n"
			    "  labels: {tier: %s}\n"
			    "spec:\n  addresses: %s\n  autoAssign: %s\n%s",
			    i, coin(50) ? "gold" : "iron", addrs, coin(85) ? "true" : "false", sa);
	free(addrs);
	free(sa);
	return y;
}

static char *pools_list(void)
{
	char *l = xstrdup("");
	for (int p = 0; p < NPOOL; p++) {
		if (!coin(40))
			continue;
		char *n = xasprintf("%s%sp%d", l, *l ? ", " : "", p);
		free(l);
		l = n;
	}
	return l;
}

static char *gen_l2(int i)
{
	char *pools = pools_list();
	char *y = xasprintf("apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
			    "metadata:\n  name: l2-%d\n  namespace: metallb-system\n"
			    "spec:\n  ipAddressPools: [%s]\n%s%s%s",
			    i, pools,
			    coin(40) ? "  nodeSelectors: [{matchLabels: {zone: a}}]\n" : "",
			    coin(30) ? "  interfaces: [eth0]\n" : "",
			    coin(20) ? "  serviceSelectors: [{matchLabels: {app: web}}]\n" : "");
	free(pools);
	return y;
}

static char *gen_bgp(int i)
{
	char *pools = pools_list();
	static const unsigned len4[] = {32, 31, 30, 29};
	static const unsigned len6[] = {128, 126, 125};
	char *y = xasprintf("apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\n"
			    "metadata:\n  name: bgp-%d\n  namespace: metallb-system\n"
			    "spec:\n  ipAddressPools: [%s]\n  aggregationLength: %u\n"
			    "  aggregationLengthV6: %u\n%s%s%s%s",
			    i, pools, len4[rnd(4)], len6[rnd(3)],
			    coin(40) ? "  communities: [\"65000:1\"]\n" : "",
			    coin(30) ? "  localPref: 100\n" : "",
			    coin(30) ? "  peers: [peer4, peer6]\n" : "",
			    coin(20) ? "  nodeSelectors: [{matchLabels: {zone: a}}]\n" : "");
	free(pools);
	return y;
}

static char *gen_node(int i)
{
	return xasprintf("apiVersion: v1\nkind: Node\nmetadata:\n  name: n%d\n"
			 "  labels:\n    zone: %s\n%s",
			 i, coin(50) ? "a" : "b",
			 coin(15) ? "    node.kubernetes.io/exclude-from-external-load-balancers: \"\"\n"
				  : "");
}

/* ------------------------------------------------------------------ */
/* objects read once: each text is parsed when it is made, and both sides
 * decode copies of its tree (a from-scratch model per step stays cheap). */

static struct manifest_set *sets;  /* kept to the end of a run: trees point at their file names */
static size_t nsets;

struct tcache {
	const char *text;
	struct tree *t;
};

static struct tcache cache[128];
static size_t ncache;

static struct manifest_set *parse(const char *text)
{
	struct manifest_set *set = VEC_PUSH(sets, nsets);
	struct diag_list d = {0};
	manifest_read_buffer(set, "x.yaml", text, strlen(text), &d);
	diag_list_free(&d);
	return set;
}

static const struct tree *tree_of(const char *text)
{
	for (size_t i = 0; i < ncache; i++)
		if (cache[i].text == text)
			return cache[i].t;
	struct manifest_set *set = parse(text);
	assert_int_equal(set->n, 1);
	assert_true(ncache < ARRAY_SIZE(cache));
	cache[ncache++] = (struct tcache){text, set->objects[0]};
	return set->objects[0];
}

static void forget(const char *text)
{
	for (size_t i = 0; i < ncache; i++)
		if (cache[i].text == text) {
			cache[i] = cache[--ncache];
			return;
		}
}

static struct tree *peer_trees[3];
static size_t npeer_trees;

static void peers_parse(void)
{
	if (npeer_trees)
		return;
	struct manifest_set *set = parse(peers_yaml);
	assert_int_equal(set->n, ARRAY_SIZE(peer_trees));
	for (size_t i = 0; i < set->n; i++)
		peer_trees[npeer_trees++] = set->objects[i];
}

static void sets_free(void)
{
	for (size_t i = 0; i < nsets; i++)
		manifest_set_free(&sets[i]);
	free(sets);
	sets = NULL;
	nsets = 0;
	ncache = 0;
	npeer_trees = 0;
}

/* ------------------------------------------------------------------ */
/* the incremental side */

/* Claims with the strings they point at. */
struct claimset {
	size_t n;
	struct announce_claim *v;
};

struct inc {
	struct model m;
	struct alloc *a;
	struct l2_planner *l2;
	struct bgp_planner *bgp;
	struct l2_planner *l2c;       /* with claims */
	struct claimset cs;           /* what l2c was last reset with */
};

static void claimset_free(struct claimset *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		free((char *)cs->v[i].service);
		free((char *)cs->v[i].node);
	}
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}

/* A plan's owners as claims: the owner of a Service's first address (its
 * first election, which the later ones prefer) newest. */
static void claims_of(const struct l2_plan *p, const struct alloc *a, struct claimset *cs)
{
	claimset_free(cs);
	for (size_t i = 0; i < p->n; i++) {
		const struct l2_entry *e = &p->entries[i];
		if (!e->owner)
			continue;
		char *slash = strchr(e->service, '/');
		char *ns = xstrndup(e->service, (size_t)(slash - e->service));
		struct ip_addr addrs[2];
		size_t n = alloc_get(a, ns, slash + 1, addrs, NULL);
		free(ns);
		uint64_t since = n && ip_eq(&addrs[0], &e->addr) ? 2 : 1;
		bool dup = false;
		for (size_t k = 0; k < cs->n && !dup; k++)
			if (strcmp(cs->v[k].service, e->service) == 0 &&
			    strcmp(cs->v[k].node, e->owner) == 0) {
				dup = true;
				if (since > cs->v[k].since)
					cs->v[k].since = since;
			}
		if (dup)
			continue;
		struct announce_claim *c = VEC_PUSH(cs->v, cs->n);
		c->service = xstrdup(e->service);
		c->node = xstrdup(e->owner);
		c->since = since;
	}
	announce_claims_sort(cs->v, cs->n);
}

static void inc_upsert(struct model *m, const char *yaml)
{
	struct diag_list d = {0};
	if (yaml == peers_yaml) {
		peers_parse();
		for (size_t i = 0; i < npeer_trees; i++)
			model_upsert(m, tree_clone(peer_trees[i]), &d, NULL);
	} else {
		model_upsert(m, tree_clone(tree_of(yaml)), &d, NULL);
	}
	diag_list_free(&d);
}

/* One Service's allocation as the planners take it. */
static struct announce_change change_of(struct inc *s, int i, char *name,
					struct ip_addr addrs[2], const char *pools[2])
{
	struct announce_change c = {.ns = svc_ns(i), .name = name};
	c.as.svc = model_find_service(&s->m, svc_ns(i), name);
	if (c.as.svc) {
		c.as.naddrs = alloc_get(s->a, svc_ns(i), name, addrs, pools);
		for (size_t k = 0; k < c.as.naddrs; k++) {
			c.as.addrs[k] = addrs[k];
			c.as.pools[k] = pools[k];
		}
	}
	return c;
}

static void all_svcs(struct inc *s, struct announce_svc **out, size_t *n)
{
	*out = xcalloc(s->m.nservices + 1, sizeof(**out));
	*n = s->m.nservices;
	for (size_t i = 0; i < s->m.nservices; i++) {
		struct announce_svc *as = &(*out)[i];
		as->svc = &s->m.services[i];
		const char *pools[2];
		as->naddrs = alloc_get(s->a, s->m.services[i].meta.namespace_,
				       s->m.services[i].meta.name, as->addrs, pools);
		for (size_t k = 0; k < as->naddrs; k++)
			as->pools[k] = pools[k];
	}
}

static void replan_all(struct inc *s)
{
	struct announce_svc *v;
	size_t n;
	all_svcs(s, &v, &n);
	l2_planner_reset(s->l2, &s->m, v, n);
	claims_of(l2_planner_plan(s->l2c), s->a, &s->cs);
	struct announce_claims cl = {s->cs.n, s->cs.v};
	l2_planner_set_claims(s->l2c, &cl);
	l2_planner_reset(s->l2c, &s->m, v, n);
	bgp_planner_reset(s->bgp, &s->m, v, n);
	free(v);
}

/* Whether session prefix k of plan p is among the update's changes. */
static bool in_changes(const struct bgp_route_change *rc, size_t nrc, size_t session,
		       const struct bgp_prefix *k)
{
	for (size_t i = 0; i < nrc; i++)
		if (rc[i].session == session && bgp_prefix_cmp(&rc[i].prefix, k) == 0)
			return true;
	return false;
}

/* bgp_planner_changed()'s promise, which the speaker's partial sync
 * relies on: every route that came, went or changed its attributes in an
 * update is among the changes it reports. */
static void check_changes_cover(const struct bgp_plan *before, const struct bgp_planner *p)
{
	const struct bgp_plan *after = bgp_planner_plan(p);
	const struct bgp_route_change *rc;
	size_t nrc = bgp_planner_changed(p, &rc);
	assert_int_equal(before->nsessions, after->nsessions);
	for (size_t s = 0; s < after->nsessions; s++) {
		const struct bgp_session_plan *a = &before->sessions[s], *b = &after->sessions[s];
		size_t i = 0, j = 0;
		while (i < a->nroutes || j < b->nroutes) {
			int c = i == a->nroutes	  ? 1
				: j == b->nroutes ? -1
						  : bgp_prefix_cmp(&a->routes[i].prefix,
								   &b->routes[j].prefix);
			const struct bgp_prefix *k = c <= 0 ? &a->routes[i].prefix
							    : &b->routes[j].prefix;
			bool differs = c != 0 || !bgp_route_same_attrs(&a->routes[i], &b->routes[j]);
			if (differs && !in_changes(rc, nrc, s, k)) {
				char buf[IP_STR_MAX];
				struct ip_prefix pf = bgp_prefix_unpack(k);
				fail_msg("session %zu: route %s changed but is not among the %zu "
					 "changes reported",
					 s, ip_prefix_format(&pf, buf), nrc);
			}
			i += c <= 0;
			j += c >= 0;
		}
	}
}

/* Re-plan the Services an allocator update reported, plus `extra`. */
static void replan_changes(struct inc *s, const struct alloc_changes *ch, int extra)
{
	bool want[NSVC] = {false};
	if (extra >= 0)
		want[extra] = true;
	for (size_t k = 0; k < ch->n; k++) {
		int i = atoi(ch->items[k].name + 1);
		want[i] = true;
	}
	struct announce_change v[NSVC];
	char *names[NSVC];
	struct ip_addr addrs[NSVC][2];
	const char *pools[NSVC][2];
	size_t n = 0;
	for (int i = 0; i < NSVC; i++) {
		if (!want[i])
			continue;
		names[n] = svc_name(i);
		v[n] = change_of(s, i, names[n], addrs[n], pools[n]);
		n++;
	}
	l2_planner_update(s->l2, &s->m, v, n);
	l2_planner_update(s->l2c, &s->m, v, n);
	struct bgp_plan before = {0};
	bgp_plan_copy(&before, bgp_planner_plan(s->bgp));
	bgp_planner_update(s->bgp, &s->m, v, n);
	check_changes_cover(&before, s->bgp);
	bgp_plan_free(&before);
	for (size_t k = 0; k < n; k++)
		free(names[k]);
}

/* Configuration objects are read again as a whole after any of them
 * changes, so that flags model_validate() set on an object for a conflict
 * that is gone are not kept (as a pipeline re-judging the configuration
 * would). */
static void reload_config(struct inc *s, const struct world *w)
{
	for (int k = 0; k < NPOOL; k++)
		if (w->pool[k])
			inc_upsert(&s->m, w->pool[k]);
	for (int k = 0; k < NL2; k++)
		if (w->l2[k])
			inc_upsert(&s->m, w->l2[k]);
	for (int k = 0; k < NBGP; k++)
		if (w->bgp[k])
			inc_upsert(&s->m, w->bgp[k]);
	inc_upsert(&s->m, peers_yaml);
	struct diag_list d = {0};
	model_validate(&s->m, &d);
	diag_list_free(&d);
}

/* ------------------------------------------------------------------ */
/* from scratch */

struct scratch {
	struct model m;
	struct alloc *a;
	struct l2_plan l2;
	struct l2_plan l2c;
	struct bgp_plan bgp;
};

/* The claims the from-scratch placement is given (the incremental
 * planner's current owners). */
static const struct announce_claims *scratch_claims;

static void scratch_plan(struct scratch *f, const struct model *m)
{
	f->a = alloc_new();
	alloc_set_config(f->a, m);
	struct alloc_result *res = xcalloc(m->nservices + 1, sizeof(*res));
	alloc_run_all(f->a, m, res);
	struct announce_svc *v = xcalloc(m->nservices + 1, sizeof(*v));
	for (size_t i = 0; i < m->nservices; i++) {
		v[i].svc = &m->services[i];
		const char *pools[2];
		v[i].naddrs = alloc_get(f->a, m->services[i].meta.namespace_,
					m->services[i].meta.name, v[i].addrs, pools);
		for (size_t k = 0; k < v[i].naddrs; k++)
			v[i].pools[k] = pools[k];
		alloc_result_free(&res[i]);
	}
	free(res);
	announce_l2(m, LOCAL_NODE, v, m->nservices, &f->l2);
	announce_l2_claims(m, LOCAL_NODE, v, m->nservices, scratch_claims, &f->l2c);
	announce_bgp(m, LOCAL_NODE, v, m->nservices, &f->bgp);
	free(v);
}

static void scratch_add(struct model *m, const char *text)
{
	if (!text)
		return;
	struct diag_list d = {0};
	model_add(m, tree_clone(tree_of(text)), &d);
	diag_list_free(&d);
}

/* From scratch: a new allocator and new plans, over a model read anew from
 * the objects (rebuild) or over the long-lived model itself (its objects
 * are the same; test_model_change checks that model_upsert/model_remove
 * keep them so), which costs a fraction and so can run after every step. */
static void scratch_build(struct scratch *f, const struct world *w, struct inc *s,
			  bool rebuild)
{
	if (!rebuild) {
		struct model *m = &s->m;
		for (size_t i = 0; i < m->nservices; i++) {
			struct service *svc = &m->services[i];
			svc->ningress = alloc_get(s->a, svc->meta.namespace_, svc->meta.name,
						  svc->ingress, NULL);
		}
		scratch_plan(f, m);
		for (size_t i = 0; i < m->nservices; i++)
			m->services[i].ningress = 0;
		return;
	}
	model_init(&f->m, NULL);
	struct diag_list d = {0};
	peers_parse();
	for (size_t k = 0; k < npeer_trees; k++)
		model_add(&f->m, tree_clone(peer_trees[k]), &d);
	/* Configuration objects in the long-lived model's order: validation
	 * refuses the later of two conflicting objects, so "the same
	 * objects" means the same order too. */
	for (size_t k = 0; k < s->m.npools; k++)
		scratch_add(&f->m, w->pool[atoi(s->m.pools[k].meta.name + 1)]);
	for (size_t k = 0; k < s->m.nl2advs; k++)
		scratch_add(&f->m, w->l2[atoi(s->m.l2advs[k].meta.name + 3)]);
	for (size_t k = 0; k < s->m.nbgpadvs; k++)
		scratch_add(&f->m, w->bgp[atoi(s->m.bgpadvs[k].meta.name + 4)]);
	for (int k = 0; k < NNODE; k++)
		scratch_add(&f->m, w->node[k]);
	for (int k = 0; k < NSVC; k++) {
		scratch_add(&f->m, w->slice[k]);
		scratch_add(&f->m, w->svc[k]);
	}
	/* Each Service's status: the addresses it holds (what decoding
	 * status.loadBalancer.ingress would give). */
	for (size_t i = 0; i < f->m.nservices; i++) {
		struct service *svc = &f->m.services[i];
		svc->ningress = alloc_get(s->a, svc->meta.namespace_, svc->meta.name, svc->ingress,
					  NULL);
	}
	model_validate(&f->m, &d);
	diag_list_free(&d);
	scratch_plan(f, &f->m);
}

static void scratch_free(struct scratch *f)
{
	l2_plan_free(&f->l2);
	l2_plan_free(&f->l2c);
	bgp_plan_free(&f->bgp);
	alloc_free(f->a);
	model_free(&f->m); /* empty unless rebuilt */
}

/* ------------------------------------------------------------------ */
/* comparing */

static char *fmt_alloc(struct alloc *a, const char *ns, const char *name)
{
	struct ip_addr addrs[2];
	const char *pools[2];
	size_t n = alloc_get(a, ns, name, addrs, pools);
	const char *f = alloc_failure(a, ns, name);
	char b0[IP_STR_MAX] = "", b1[IP_STR_MAX] = "";
	if (n > 0)
		ip_format(&addrs[0], b0);
	if (n > 1)
		ip_format(&addrs[1], b1);
	return xasprintf("[%s(%s) %s(%s)] failure=%s", b0, n > 0 ? pools[0] : "", b1,
			 n > 1 ? pools[1] : "", f ? f : "-");
}

static char *fmt_l2(const struct l2_plan *p)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < p->n; i++) {
		const struct l2_entry *e = &p->entries[i];
		char b[IP_STR_MAX];
		char *c = xstrdup("");
		for (size_t k = 0; k < e->ncandidates; k++) {
			char *t = xasprintf("%s%s,", c, e->candidates[k]);
			free(c);
			c = t;
		}
		for (size_t k = 0; k < e->ninterfaces; k++) {
			char *t = xasprintf("%s%s;", c, e->interfaces[k]);
			free(c);
			c = t;
		}
		char *t = xasprintf("%s%s %s %s owner=%s here=%d all=%d %s\n", s,
				    ip_format(&e->addr, b), e->service, e->pool,
				    e->owner ? e->owner : "-", e->here, e->all_interfaces, c);
		free(c);
		free(s);
		s = t;
	}
	return s;
}

static char *fmt_bgp(const struct bgp_plan *p)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < p->nsessions; i++) {
		const struct bgp_session_plan *sp = &p->sessions[i];
		char *t = xasprintf("%ssession %s\n", s, sp->cfg.name);
		free(s);
		s = t;
		for (size_t k = 0; k < sp->nroutes; k++) {
			const struct bgp_route *r = &sp->routes[k];
			char b[IP_STR_MAX];
			char *attrs = xasprintf("lp=%d:%u c=", r->has_local_pref, r->local_pref);
			for (size_t c = 0; c < r->ncommunities; c++) {
				char cb[64];
				char *u = xasprintf("%s%s,", attrs,
						    community_format(&r->communities[c], cb,
								     sizeof(cb)));
				free(attrs);
				attrs = u;
			}
			for (size_t c = 0; c < r->nservices; c++) {
				char *u = xasprintf("%s %s", attrs, r->services[c]);
				free(attrs);
				attrs = u;
			}
			struct ip_prefix pf = bgp_prefix_unpack(&r->prefix);
			t = xasprintf("%s  %s/%u %s\n", s, ip_format(&pf.addr, b), pf.len, attrs);
			free(attrs);
			free(s);
			s = t;
		}
	}
	return s;
}

static char *fmt_pools(struct alloc *a)
{
	struct alloc_pool_stats *st;
	size_t n = alloc_pool_stats(a, &st);
	char *s = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *t = xasprintf("%s%s v4=%llu/%llu v6=%llu/%llu\n", s, st[i].name,
				    (unsigned long long)st[i].in_use_v4,
				    (unsigned long long)st[i].total_v4,
				    (unsigned long long)st[i].in_use_v6,
				    (unsigned long long)st[i].total_v6);
		free(s);
		s = t;
	}
	free(st);
	return s;
}

/* Show a mismatch: both sides as text. */
static void show(const char *what, char *inc, char *ref, uint64_t seed, int step,
		 const char *action)
{
	print_error("seed %llu step %d (%s): %s differs\nincremental:\n%s\nfrom scratch:\n%s\n",
		    (unsigned long long)seed, step, action, what, inc, ref);
	free(inc);
	free(ref);
}

/* Structural checks, cheap enough for every step. */
static bool str_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool alloc_same(struct alloc *x, struct alloc *y, const char *ns, const char *name)
{
	struct ip_addr ax[2], ay[2];
	const char *px[2], *py[2];
	size_t n = alloc_get(x, ns, name, ax, px);
	if (n != alloc_get(y, ns, name, ay, py))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ip_eq(&ax[i], &ay[i]) || strcmp(px[i], py[i]) != 0)
			return false;
	return str_same(alloc_failure(x, ns, name), alloc_failure(y, ns, name));
}

static bool strv_same(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool l2_same(const struct l2_plan *x, const struct l2_plan *y)
{
	if (x->n != y->n)
		return false;
	for (size_t i = 0; i < x->n; i++) {
		const struct l2_entry *a = &x->entries[i], *b = &y->entries[i];
		if (!ip_eq(&a->addr, &b->addr) || strcmp(a->service, b->service) != 0 ||
		    strcmp(a->pool, b->pool) != 0 || !str_same(a->owner, b->owner) ||
		    a->here != b->here || a->all_interfaces != b->all_interfaces ||
		    !strv_same(a->interfaces, a->ninterfaces, b->interfaces, b->ninterfaces) ||
		    !strv_same(a->candidates, a->ncandidates, b->candidates, b->ncandidates))
			return false;
	}
	return true;
}

static bool bgp_same(const struct bgp_plan *x, const struct bgp_plan *y)
{
	if (x->nsessions != y->nsessions)
		return false;
	for (size_t i = 0; i < x->nsessions; i++) {
		const struct bgp_session_plan *a = &x->sessions[i], *b = &y->sessions[i];
		if (strcmp(a->cfg.name, b->cfg.name) != 0 || a->nroutes != b->nroutes)
			return false;
		for (size_t k = 0; k < a->nroutes; k++)
			if (!bgp_route_same_attrs(&a->routes[k], &b->routes[k]) ||
			    !strv_same(a->routes[k].services, a->routes[k].nservices,
				       b->routes[k].services, b->routes[k].nservices))
				return false;
	}
	return true;
}

static bool pools_same(struct alloc *x, struct alloc *y)
{
	struct alloc_pool_stats *a, *b;
	size_t na = alloc_pool_stats(x, &a), nb = alloc_pool_stats(y, &b);
	bool ok = na == nb;
	for (size_t i = 0; ok && i < na; i++)
		ok = strcmp(a[i].name, b[i].name) == 0 && a[i].in_use_v4 == b[i].in_use_v4 &&
		     a[i].in_use_v6 == b[i].in_use_v6 && a[i].total_v4 == b[i].total_v4 &&
		     a[i].total_v6 == b[i].total_v6;
	free(a);
	free(b);
	return ok;
}

static bool compare(struct inc *s, struct scratch *f, uint64_t seed, int step,
		    const char *action)
{
	bool ok = true;
	for (int i = 0; i < NSVC && ok; i++) {
		char *name = svc_name(i);
		if (!alloc_same(s->a, f->a, svc_ns(i), name)) {
			char *what = xasprintf("allocation of %s/%s", svc_ns(i), name);
			show(what, fmt_alloc(s->a, svc_ns(i), name), fmt_alloc(f->a, svc_ns(i), name),
			     seed, step, action);
			free(what);
			ok = false;
		}
		free(name);
	}
	if (ok && !pools_same(s->a, f->a)) {
		show("pool counters", fmt_pools(s->a), fmt_pools(f->a), seed, step, action);
		ok = false;
	}
	if (ok && !l2_same(l2_planner_plan(s->l2), &f->l2)) {
		show("Layer 2 plan", fmt_l2(l2_planner_plan(s->l2)), fmt_l2(&f->l2), seed, step,
		     action);
		ok = false;
	}
	if (ok && !l2_same(l2_planner_plan(s->l2c), &f->l2c)) {
		show("Layer 2 plan with claims", fmt_l2(l2_planner_plan(s->l2c)), fmt_l2(&f->l2c),
		     seed, step, action);
		ok = false;
	}
	if (ok && !bgp_same(bgp_planner_plan(s->bgp), &f->bgp)) {
		show("BGP plan", fmt_bgp(bgp_planner_plan(s->bgp)), fmt_bgp(&f->bgp), seed, step,
		     action);
		ok = false;
	}
	if (!ok && getenv("IRONLB_PROPERTY_DEBUG")) {
		for (size_t k = 0; k < s->m.nbgpadvs; k++)
			print_error("inc %s invalid=%d\n", s->m.bgpadvs[k].meta.name, s->m.bgpadvs[k].meta.invalid);
		for (size_t k = 0; k < f->m.nbgpadvs; k++)
			print_error("ref %s invalid=%d\n", f->m.bgpadvs[k].meta.name, f->m.bgpadvs[k].meta.invalid);
		for (size_t k = 0; k < s->m.nnodes; k++)
			print_error("inc node %s zone=%s\n", s->m.nodes[k].meta.name, labels_get(&s->m.nodes[k].meta.labels, "zone"));
	}
	return ok;
}

/* ------------------------------------------------------------------ */
/* one run */

static void set_text(char **slot, char *text)
{
	if (*slot)
		forget(*slot);
	free(*slot);
	*slot = text;
}

static bool run_seed(uint64_t seed, int steps)
{
	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	struct world w = {0};
	struct inc s = {0};
	model_init(&s.m, NULL);
	s.a = alloc_new();
	s.l2 = l2_planner_new(LOCAL_NODE);
	s.l2c = l2_planner_new(LOCAL_NODE);
	{
		struct announce_claims none = {0};
		l2_planner_set_claims(s.l2c, &none);
	}
	s.bgp = bgp_planner_new(LOCAL_NODE);

	/* A starting configuration. */
	for (int k = 0; k < NPOOL; k++)
		if (k < 2 || coin(50))
			w.pool[k] = gen_pool(k);
	w.l2[0] = gen_l2(0);
	w.bgp[0] = gen_bgp(0);
	for (int k = 0; k < NNODE; k++)
		w.node[k] = gen_node(k);
	for (int k = 0; k < NNODE; k++)
		inc_upsert(&s.m, w.node[k]);
	reload_config(&s, &w);
	struct alloc_changes ch = {0};
	alloc_update_config(s.a, &s.m, &ch);
	alloc_changes_free(&ch);
	replan_all(&s);

	bool ok = true;
	size_t nwaiting = 0, nl2 = 0, nroutes = 0;
	for (int step = 0; step < steps && ok; step++) {
		char action[96];
		uint32_t r = rnd(100);
		if (r < 55) {
			int i = (int)rnd(NSVC);
			char *name = svc_name(i);
			if (w.svc[i] && coin(30)) {
				set_text(&w.svc[i], NULL);
				model_remove(&s.m, KIND_SERVICE, svc_ns(i), name);
				snprintf(action, sizeof(action), "delete Service %s/%s", svc_ns(i), name);
			} else {
				snprintf(action, sizeof(action), "%s Service %s/%s",
					 w.svc[i] ? "change" : "add", svc_ns(i), name);
				set_text(&w.svc[i], gen_service(i));
				inc_upsert(&s.m, w.svc[i]);
			}
			alloc_update_service(s.a, &s.m, svc_ns(i), name, &ch);
			replan_changes(&s, &ch, i);
			alloc_changes_free(&ch);
			free(name);
		} else if (r < 67) {
			int i = (int)rnd(NSVC);
			char *name = svc_name(i);
			if (w.slice[i] && coin(30)) {
				char *sl = xasprintf("%s-eps", name);
				set_text(&w.slice[i], NULL);
				model_remove(&s.m, KIND_ENDPOINTSLICE, svc_ns(i), sl);
				free(sl);
			} else {
				set_text(&w.slice[i], gen_slice(i));
				inc_upsert(&s.m, w.slice[i]);
			}
			snprintf(action, sizeof(action), "EndpointSlice of %s/%s", svc_ns(i), name);
			struct alloc_changes none = {0};
			replan_changes(&s, &none, i);
			free(name);
		} else if (r < 77) {
			int k = (int)rnd(NPOOL);
			char pn[8];
			snprintf(pn, sizeof(pn), "p%d", k);
			if (w.pool[k] && coin(30)) {
				set_text(&w.pool[k], NULL);
				model_remove(&s.m, KIND_IPADDRESSPOOL, "metallb-system", pn);
			} else {
				set_text(&w.pool[k], gen_pool(k));
			}
			snprintf(action, sizeof(action), "pool %s", pn);
			reload_config(&s, &w);
			alloc_update_config(s.a, &s.m, &ch);
			alloc_changes_free(&ch);
			replan_all(&s);
		} else if (r < 87) {
			bool l2 = coin(50);
			int k = (int)rnd(l2 ? NL2 : NBGP);
			char **slot = l2 ? &w.l2[k] : &w.bgp[k];
			char an[16];
			snprintf(an, sizeof(an), "%s-%d", l2 ? "l2" : "bgp", k);
			if (*slot && coin(30)) {
				set_text(slot, NULL);
				model_remove(&s.m, l2 ? KIND_L2ADVERTISEMENT : KIND_BGPADVERTISEMENT,
					     "metallb-system", an);
			} else {
				set_text(slot, l2 ? gen_l2(k) : gen_bgp(k));
			}
			snprintf(action, sizeof(action), "advertisement %s", an);
			reload_config(&s, &w);
			replan_all(&s);
		} else {
			int k = (int)rnd(NNODE);
			char nn[8];
			snprintf(nn, sizeof(nn), "n%d", k);
			if (w.node[k] && coin(20)) {
				set_text(&w.node[k], NULL);
				model_remove(&s.m, KIND_NODE, NULL, nn);
			} else {
				set_text(&w.node[k], gen_node(k));
				inc_upsert(&s.m, w.node[k]);
			}
			snprintf(action, sizeof(action), "node %s", nn);
			/* Validation reads Nodes (localPref conflicts between
			 * advertisements whose nodeSelectors overlap). */
			reload_config(&s, &w);
			replan_all(&s);
		}
		nwaiting += alloc_waiting(s.a) > 0;
		nl2 += l2_planner_plan(s.l2)->n;
		for (size_t k = 0; k < bgp_planner_plan(s.bgp)->nsessions; k++)
			nroutes += bgp_planner_plan(s.bgp)->sessions[k].nroutes;
		struct scratch f = {0};
		struct claimset now = {0};
		claims_of(l2_planner_plan(s.l2c), s.a, &now);
		struct announce_claims ncl = {now.n, now.v};
		scratch_claims = &ncl;
		scratch_build(&f, &w, &s, step % 16 == 15 || step == steps - 1);
		scratch_claims = NULL;
		claimset_free(&now);
		ok = compare(&s, &f, seed, step, action);
		scratch_free(&f);
	}

	/* How much the run exercised (steps with Services waiting for
	 * addresses, plan sizes summed over steps). */
	if (getenv("IRONLB_PROPERTY_DEBUG"))
		print_message("seed %llu: %zu steps with waiting Services, %zu L2 entries, "
			      "%zu BGP routes\n",
			      (unsigned long long)seed, nwaiting, nl2, nroutes);
	l2_planner_free(s.l2);
	l2_planner_free(s.l2c);
	claimset_free(&s.cs);
	bgp_planner_free(s.bgp);
	alloc_free(s.a);
	model_free(&s.m);
	for (int k = 0; k < NSVC; k++) {
		free(w.svc[k]);
		free(w.slice[k]);
	}
	for (int k = 0; k < NPOOL; k++)
		free(w.pool[k]);
	for (int k = 0; k < NL2; k++)
		free(w.l2[k]);
	for (int k = 0; k < NBGP; k++)
		free(w.bgp[k]);
	for (int k = 0; k < NNODE; k++)
		free(w.node[k]);
	sets_free();
	return ok;
}

static int steps_per_seed(void)
{
	const char *e = getenv("IRONLB_PROPERTY_STEPS");
	return e && atoi(e) > 0 ? atoi(e) : 2000;
}

static void test_random_changes(void **state)
{
	(void)state;
	static const uint64_t seeds[] = {1, 2, 20261206};
	const char *one = getenv("IRONLB_PROPERTY_SEED");
	if (one) {
		assert_true(run_seed(strtoull(one, NULL, 10), steps_per_seed()));
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(seeds); i++)
		assert_true(run_seed(seeds[i], steps_per_seed()));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
