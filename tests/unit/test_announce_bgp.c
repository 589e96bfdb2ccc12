/*
 * Tests for src/announce/bgp_plan.c (BGP announcement planning).
 *
 * Scenarios are tables: nodes, pools, BGPPeers, BGPAdvertisements,
 * community aliases, Services and EndpointSlices written as short strings,
 * turned into a struct model by hand, planned for one node, and the plan
 * printed one line per session and per route:
 *
 *   session NAME
 *   NAME PREFIX [lp=N] [c=COMMUNITY,...] s=SERVICE,...
 *
 * which is compared with the expected lines.  Besides the tables: session
 * parameters, bgp_session_cfg_differs field by field, route attribute
 * equality, deep copies, independence from input order, the guide's own
 * manifests read through the decoder and validator, and a timed scale case.
 */
#include "announce_fixtures.h"

#include "announce/bgp_plan.h"
#include "test_model_helpers.h"

/* ------------------------------------------------------------------ */
/* building a model from strings (see announce_fixtures.h) */

struct peer_spec {
	const char *name;
	const char *addr;        /* peerAddress */
	uint32_t my_asn;         /* 0 = 64500 */
	uint32_t peer_asn;       /* 0 = 64501 (eBGP) */
	enum dynamic_asn dyn;
	const char *iface;       /* spec.interface */
	const char *node_sels;
	bool dual;               /* dualStackAddressFamily */
	bool invalid;
};

struct adv_spec {
	const char *name;
	const char *pools;       /* ipAddressPools */
	const char *pool_sels;   /* ipAddressPoolSelectors */
	const char *node_sels;
	const char *peers;
	const char *svc_sels;
	const char *comms;       /* literals or alias names */
	int len4, len6;          /* 0 = default (32, 128) */
	uint32_t lp;             /* localPref, 0 = none */
	bool invalid;
};

static void add_peer(struct model *m, const struct peer_spec *s)
{
	struct bgppeer *p = VEC_PUSH(m->peers, m->npeers);
	p->meta.kind = KIND_BGPPEER;
	p->meta.name = xstrdup(s->name);
	p->meta.namespace_ = xstrdup(MODEL_DEFAULT_CONFIG_NAMESPACE);
	p->meta.invalid = s->invalid;
	p->my_asn = s->my_asn ? s->my_asn : 64500;
	p->dynamic_asn = s->dyn;
	p->peer_asn = s->dyn != DYNAMIC_ASN_NONE ? 0 : s->peer_asn ? s->peer_asn : 64501;
	if (s->addr) {
		p->has_peer_address = true;
		p->peer_address = addr_of(s->addr);
	}
	p->interface = xstrdup(s->iface);
	p->peer_port = 179;
	p->hold_time_s = 90;
	p->keepalive_time_s = 30;
	p->connect_time_s = 10;
	p->node_selectors = selectors_of(s->node_sels, &p->nnode_selectors);
	p->dual_stack_address_family = s->dual;
}

/* Communities are resolved as model_validate does it. */
static void add_adv(struct model *m, const struct adv_spec *s)
{
	struct bgpadv *a = VEC_PUSH(m->bgpadvs, m->nbgpadvs);
	a->meta.kind = KIND_BGPADVERTISEMENT;
	a->meta.name = xstrdup(s->name);
	a->meta.namespace_ = xstrdup(MODEL_DEFAULT_CONFIG_NAMESPACE);
	a->meta.invalid = s->invalid;
	a->aggregation_length = s->len4 ? s->len4 : 32;
	a->aggregation_length_v6 = s->len6 ? s->len6 : 128;
	a->has_local_pref = s->lp != 0;
	a->local_pref = s->lp;
	a->pools = strv_of(s->pools, &a->npools);
	a->pool_selectors = selectors_of(s->pool_sels, &a->npool_selectors);
	a->node_selectors = selectors_of(s->node_sels, &a->nnode_selectors);
	a->peers = strv_of(s->peers, &a->npeers);
	a->svc_selectors = selectors_of(s->svc_sels, &a->nsvc_selectors);
	a->communities = strv_of(s->comms, &a->ncommunities);
	a->community_values = xcalloc(a->ncommunities ? a->ncommunities : 1,
				      sizeof(*a->community_values));
	for (size_t i = 0; i < a->ncommunities; i++)
		if (model_resolve_community(m, a->communities[i], &a->community_values[i]) < 0)
			fail_msg("%s: community %s does not resolve", s->name, a->communities[i]);
}

/* "name=value,..." as one Community object. */
static void add_aliases(struct model *m, const char *s)
{
	char *parts[MAXN];
	size_t n = split(s, ',', parts);
	if (n == 0)
		return;
	struct community *c = VEC_PUSH(m->communities, m->ncommunities);
	c->meta.kind = KIND_COMMUNITY;
	c->meta.name = xstrdup("aliases");
	c->meta.namespace_ = xstrdup(MODEL_DEFAULT_CONFIG_NAMESPACE);
	c->aliases = xcalloc(n, sizeof(*c->aliases));
	c->naliases = n;
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(parts[i], '=');
		assert_non_null(eq);
		*eq = '\0';
		struct community_alias *al = &c->aliases[i];
		al->name = xstrdup(parts[i]);
		al->value_text = xstrdup(eq + 1);
		char why[128];
		assert_int_equal(community_parse(al->value_text, &al->value, why, sizeof(why)), 0);
		al->valid = true;
		al->index = i;
	}
	free_parts(parts, n);
}

/* ------------------------------------------------------------------ */
/* scenarios */

struct scenario {
	const char *name;
	const char *local;
	struct node_spec nodes[4];
	struct pool_spec pools[4];
	struct peer_spec peers[5];
	struct adv_spec advs[4];
	const char *aliases;
	struct svc_spec svcs[6];
	struct slice_spec slices[4];
	const char *want[14];
};

static struct model build(const struct scenario *sc)
{
	struct model m;
	model_init(&m, NULL);
	add_nodes(&m, sc->nodes, ARRAY_SIZE(sc->nodes));
	add_pools(&m, sc->pools, ARRAY_SIZE(sc->pools));
	for (size_t i = 0; i < ARRAY_SIZE(sc->peers) && sc->peers[i].name; i++)
		add_peer(&m, &sc->peers[i]);
	add_aliases(&m, sc->aliases);
	for (size_t i = 0; i < ARRAY_SIZE(sc->advs) && sc->advs[i].name; i++)
		add_adv(&m, &sc->advs[i]);
	add_services(&m, sc->svcs, ARRAY_SIZE(sc->svcs));
	add_slices(&m, sc->slices, ARRAY_SIZE(sc->slices));
	return m;
}

static size_t count_svcs(const struct scenario *sc)
{
	return count_svc_specs(sc->svcs, ARRAY_SIZE(sc->svcs));
}

/* The allocation inputs of a scenario; the model's Service is found by
 * name so that the model's arrays may be in any order.  The pool names
 * are owned by `store`. */
struct inputs {
	size_t n;
	struct announce_svc in[ARRAY_SIZE(((struct scenario *)0)->svcs)];
	char *store[ARRAY_SIZE(((struct scenario *)0)->svcs)][MAXN];
	size_t nstore[ARRAY_SIZE(((struct scenario *)0)->svcs)];
};

static const struct service *find_service(const struct model *m, const char *ns, const char *name)
{
	for (size_t i = 0; i < m->nservices; i++)
		if (strcmp(m->services[i].meta.namespace_, ns) == 0 &&
		    strcmp(m->services[i].meta.name, name) == 0)
			return &m->services[i];
	fail_msg("no Service %s/%s", ns, name);
	return NULL;
}

static void inputs_build(struct inputs *in, const struct model *m, const struct scenario *sc,
			 bool reverse)
{
	memset(in, 0, sizeof(*in));
	in->n = count_svcs(sc);
	for (size_t k = 0; k < in->n; k++) {
		const struct svc_spec *s = &sc->svcs[reverse ? in->n - 1 - k : k];
		struct announce_svc *as = &in->in[k];
		as->svc = find_service(m, s->ns, s->name);
		in->nstore[k] = svc_addrs_of(s, as, in->store[k]);
	}
}

static void inputs_free(struct inputs *in)
{
	for (size_t k = 0; k < in->n; k++)
		free_parts(in->store[k], in->nstore[k]);
}

/* ------------------------------------------------------------------ */
/* printing a plan */

struct lines {
	size_t n;
	char **v;
};

static void lines_free(struct lines *l)
{
	free_parts(l->v, l->n);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(char **s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *add = xvasprintf(fmt, ap);
	va_end(ap);
	char *joined = xasprintf("%s%s", *s, add);
	free(add);
	free(*s);
	*s = joined;
}

static char *route_line(const char *session, const struct bgp_route *r)
{
	char buf[IP_STR_MAX];
	struct ip_prefix pf = bgp_prefix_unpack(&r->prefix);
	char *s = xasprintf("%s %s", session, ip_prefix_format(&pf, buf));
	if (r->has_local_pref)
		append(&s, " lp=%u", r->local_pref);
	for (size_t i = 0; i < r->ncommunities; i++) {
		const struct community_value *c = &r->communities[i];
		append(&s, "%s", i ? "," : " c=");
		if (c->kind == COMMUNITY_LARGE)
			append(&s, "large:%u:%u:%u", c->a, c->b, c->c);
		else
			append(&s, "%u:%u", c->a, c->b);
	}
	for (size_t i = 0; i < r->nservices; i++)
		append(&s, "%s%s", i ? "," : " s=", r->services[i]);
	return s;
}

static struct lines plan_lines(const struct bgp_plan *p)
{
	struct lines l = {0};
	for (size_t i = 0; i < p->nsessions; i++) {
		const struct bgp_session_plan *sp = &p->sessions[i];
		*VEC_PUSH(l.v, l.n) = xasprintf("session %s", sp->cfg.name);
		for (size_t k = 0; k < sp->nroutes; k++)
			*VEC_PUSH(l.v, l.n) = route_line(sp->cfg.name, &sp->routes[k]);
	}
	return l;
}

static bool lines_equal(const struct lines *a, const char *const *want, size_t nwant)
{
	if (a->n != nwant)
		return false;
	for (size_t i = 0; i < nwant; i++)
		if (strcmp(a->v[i], want[i]) != 0)
			return false;
	return true;
}

static void check_lines(const char *what, const struct bgp_plan *p, const char *const *want,
			size_t nwant)
{
	struct lines got = plan_lines(p);
	if (!lines_equal(&got, want, nwant)) {
		print_error("%s: plan differs\n", what);
		for (size_t i = 0; i < nwant; i++)
			print_error("    want: %s\n", want[i]);
		for (size_t i = 0; i < got.n; i++)
			print_error("    got:  %s\n", got.v[i]);
		lines_free(&got);
		fail_msg("%s", what);
	}
	lines_free(&got);
}

static size_t count_want(const char *const *want, size_t max)
{
	size_t n = 0;
	while (n < max && want[n])
		n++;
	return n;
}

/* ------------------------------------------------------------------ */
/* the tables */

#define POOL4 {.name = "ipv4-pool"}
#define POOL6 {.name = "ipv6-pool"}
#define ROUTER4 {.name = "router-ipv4", .addr = "192.168.1.1"}
#define ROUTER6 {.name = "router-ipv6", .addr = "2001:db8::1"}
#define ALL_ADV {.name = "all"}
#define WEB4(a) {.ns = "default", .name = "web", .addrs = a, .pools = "ipv4-pool"}

static const struct scenario scenarios[] = {
	{
		.name = "guide bgp-advertisements: each family to its own router, community",
		.local = "worker-1",
		.nodes = {{.name = "worker-1"}},
		.pools = {POOL4, POOL6},
		.peers = {ROUTER4, ROUTER6},
		.advs = {{.name = "dual-stack-bgp-advertisement", .pools = "ipv4-pool,ipv6-pool",
			  .peers = "router-ipv4,router-ipv6", .len4 = 32, .len6 = 128,
			  .comms = "64500:100"}},
		.svcs = {{.ns = "default", .name = "web", .addrs = "192.168.100.10,2001:db8:1::10",
			  .pools = "ipv4-pool,ipv6-pool"},
			 {.ns = "default", .name = "api", .addrs = "2001:db8:1::11,192.168.100.11",
			  .pools = "ipv6-pool,ipv4-pool"},
			 {.ns = "shop", .name = "v4only", .addrs = "192.168.100.2",
			  .pools = "ipv4-pool"}},
		.want = {"session router-ipv4",
			 "router-ipv4 192.168.100.2/32 c=64500:100 s=shop/v4only",
			 "router-ipv4 192.168.100.10/32 c=64500:100 s=default/web",
			 "router-ipv4 192.168.100.11/32 c=64500:100 s=default/api",
			 "session router-ipv6",
			 "router-ipv6 2001:db8:1::10/128 c=64500:100 s=default/web",
			 "router-ipv6 2001:db8:1::11/128 c=64500:100 s=default/api"},
	},
	{
		.name = "a session without routes still appears; no advertisement, no routes",
		.local = "worker-1",
		.pools = {POOL4},
		.peers = {ROUTER6, ROUTER4},
		.svcs = {WEB4("192.168.100.10")},
		.want = {"session router-ipv4", "session router-ipv6"},
	},
	{
		.name = "aggregation: aggregationLengthV6 64 gives one /64 for several Services",
		.local = "worker-1",
		.pools = {POOL4, POOL6},
		.peers = {ROUTER4, ROUTER6},
		.advs = {{.name = "aggregated", .len4 = 24, .len6 = 64}},
		.svcs = {{.ns = "default", .name = "b", .addrs = "2001:db8:1::20",
			  .pools = "ipv6-pool"},
			 {.ns = "default", .name = "a", .addrs = "2001:db8:1::ffff:1",
			  .pools = "ipv6-pool"},
			 {.ns = "apps", .name = "c", .addrs = "2001:db8:1:0:8000::1",
			  .pools = "ipv6-pool"},
			 {.ns = "default", .name = "d", .addrs = "2001:db8:1:1::5",
			  .pools = "ipv6-pool"},
			 {.ns = "default", .name = "e",
			  .addrs = "192.168.100.200,2001:db8:1:1::6",
			  .pools = "ipv4-pool,ipv6-pool"},
			 {.ns = "default", .name = "f", .addrs = "192.168.100.7",
			  .pools = "ipv4-pool"}},
		.want = {"session router-ipv4",
			 "router-ipv4 192.168.100.0/24 s=default/e,default/f",
			 "session router-ipv6",
			 "router-ipv6 2001:db8:1::/64 s=apps/c,default/a,default/b",
			 "router-ipv6 2001:db8:1:1::/64 s=default/d,default/e"},
	},
	{
		.name = "aggregation: one Service with two addresses in one aggregate counts once",
		.local = "worker-1",
		.pools = {POOL6},
		.peers = {{.name = "r6", .addr = "2001:db8::1"}},
		.advs = {{.name = "agg", .len6 = 48}},
		.svcs = {{.ns = "default", .name = "twice", .addrs = "2001:db8:1::1,2001:db8:1::2",
			  .pools = "ipv6-pool,ipv6-pool"}},
		.want = {"session r6", "r6 2001:db8:1::/48 s=default/twice"},
	},
	{
		.name = "aggregation: advertisements with different lengths give both prefixes",
		.local = "worker-1",
		.pools = {POOL4},
		.peers = {ROUTER4},
		.advs = {{.name = "host", .comms = "64500:1"},
			 {.name = "agg", .len4 = 26, .comms = "64500:2"}},
		.svcs = {WEB4("192.168.100.70")},
		.want = {"session router-ipv4",
			 "router-ipv4 192.168.100.64/26 c=64500:2 s=default/web",
			 "router-ipv4 192.168.100.70/32 c=64500:1 s=default/web"},
	},
	{
		.name = "communities: aliases, literals and large ones merged, sorted, unique",
		.local = "worker-1",
		.pools = {POOL4},
		.peers = {ROUTER4},
		.aliases = "primary-path=64500:100,no-export=65535:65281,big=large:64500:2:1",
		.advs = {{.name = "one", .comms = "large:64500:1:2,primary-path,64500:300,big"},
			 {.name = "two", .comms = "no-export,64500:100,large:64500:1:1,65535:65281"}},
		.svcs = {WEB4("192.168.100.10")},
		.want = {"session router-ipv4",
			 "router-ipv4 192.168.100.10/32 c=64500:100,64500:300,65535:65281,"
			 "large:64500:1:1,large:64500:1:2,large:64500:2:1 s=default/web"},
	},
	{
		.name = "communities: each advertisement only where it reaches",
		.local = "worker-1",
		.pools = {POOL4},
		.peers = {{.name = "tor1", .addr = "10.0.1.1"}, {.name = "tor2", .addr = "10.0.2.1"}},
		.aliases = "primary-path=64500:100,backup-path=64500:200",
		.advs = {{.name = "primary", .peers = "tor1", .comms = "primary-path"},
			 {.name = "backup", .peers = "tor2", .comms = "backup-path"}},
		.svcs = {WEB4("192.168.100.10")},
		.want = {"session tor1", "tor1 192.168.100.10/32 c=64500:100 s=default/web",
			 "session tor2", "tor2 192.168.100.10/32 c=64500:200 s=default/web"},
	},
	{
		.name = "localPref: kept on iBGP (highest wins), dropped on eBGP",
		.local = "worker-1",
		.pools = {POOL4},
		.peers = {{.name = "ebgp", .addr = "10.0.1.1", .peer_asn = 64510},
			  {.name = "ibgp", .addr = "10.0.2.1", .peer_asn = 64500},
			  {.name = "ibgp-dyn", .addr = "10.0.3.1", .dyn = DYNAMIC_ASN_INTERNAL},
			  {.name = "ebgp-dyn", .addr = "10.0.4.1", .dyn = DYNAMIC_ASN_EXTERNAL}},
		.advs = {{.name = "low", .lp = 100}, {.name = "high", .lp = 200},
			 {.name = "none", .comms = "64500:7"}},
		.svcs = {WEB4("192.168.100.10")},
		.want = {"session ebgp", "ebgp 192.168.100.10/32 c=64500:7 s=default/web",
			 "session ebgp-dyn", "ebgp-dyn 192.168.100.10/32 c=64500:7 s=default/web",
			 "session ibgp", "ibgp 192.168.100.10/32 lp=200 c=64500:7 s=default/web",
			 "session ibgp-dyn",
			 "ibgp-dyn 192.168.100.10/32 lp=200 c=64500:7 s=default/web"},
	},
	{
		.name = "localPref: only from the advertisements that reach the route",
		.local = "worker-1",
		.pools = {POOL4, {.name = "other"}},
		.peers = {{.name = "ibgp", .addr = "10.0.2.1", .peer_asn = 64500}},
		.advs = {{.name = "mine", .pools = "ipv4-pool", .lp = 150},
			 {.name = "elsewhere", .pools = "other", .lp = 300},
			 {.name = "no-lp", .pools = "other"}},
		.svcs = {WEB4("192.168.100.10"),
			 {.ns = "default", .name = "o", .addrs = "10.9.0.1", .pools = "other"}},
		.want = {"session ibgp", "ibgp 10.9.0.1/32 lp=300 s=default/o",
			 "ibgp 192.168.100.10/32 lp=150 s=default/web"},
	},
	{
		.name = "peers: only the listed sessions; missing or unselected names reach nothing",
		.local = "worker-1",
		.nodes = {{.name = "worker-1", .labels = "rack=r1"}},
		.pools = {POOL4},
		.peers = {{.name = "tor1", .addr = "10.0.1.1"},
			  {.name = "tor2", .addr = "10.0.2.1"},
			  {.name = "tor3", .addr = "10.0.3.1", .node_sels = "rack=r2"}},
		.advs = {{.name = "restricted", .peers = "tor1,missing,tor3"}},
		.svcs = {WEB4("192.168.100.10")},
		.want = {"session tor1", "tor1 192.168.100.10/32 s=default/web", "session tor2"},
	},
	{
		.name = "nodeSelectors on advertisements: only those selecting this node",
		.local = "worker-1",
		.nodes = {{.name = "worker-1", .labels = "zone=east"}, {.name = "worker-2",
									   .labels = "zone=west"}},
		.pools = {POOL4},
		.peers = {ROUTER4},
		.advs = {{.name = "east", .node_sels = "zone=north;zone=east", .comms = "64500:1"},
			 {.name = "west", .node_sels = "zone=west", .comms = "64500:2"}},
		.svcs = {WEB4("192.168.100.10")},
		.want = {"session router-ipv4",
			 "router-ipv4 192.168.100.10/32 c=64500:1 s=default/web"},
	},
	{
		.name = "nodeSelectors on peers: sessions only where selected",
		.local = "worker-1",
		.nodes = {{.name = "worker-1", .labels = "bgp-capable=true"},
			  {.name = "worker-2"}},
		.pools = {POOL4},
		.peers = {{.name = "capable", .addr = "10.0.1.1", .node_sels = "bgp-capable=true"},
			  {.name = "elsewhere", .addr = "10.0.2.1", .node_sels = "bgp-capable=false"},
			  {.name = "everywhere", .addr = "10.0.3.1"}},
		.advs = {ALL_ADV},
		.svcs = {WEB4("192.168.100.10")},
		.want = {"session capable", "capable 192.168.100.10/32 s=default/web",
			 "session everywhere", "everywhere 192.168.100.10/32 s=default/web"},
	},
	{
		.name = "local node without a Node object: no labels",
		.local = "self",
		.nodes = {{.name = "worker-1", .labels = "bgp-capable=true"}},
		.pools = {POOL4},
		.peers = {{.name = "capable", .addr = "10.0.1.1", .node_sels = "bgp-capable=true"},
			  {.name = "everywhere", .addr = "10.0.3.1"}},
		.advs = {{.name = "labelled", .node_sels = "bgp-capable=true", .comms = "1:1"},
			 {.name = "any", .comms = "2:2"}},
		.svcs = {WEB4("192.168.100.10")},
		.want = {"session everywhere", "everywhere 192.168.100.10/32 c=2:2 s=default/web"},
	},
	{
		.name = "serviceSelectors pick the advertisements of each Service",
		.local = "worker-1",
		.pools = {POOL4},
		.peers = {ROUTER4},
		.advs = {{.name = "web", .svc_sels = "app=web", .comms = "64500:80"},
			 {.name = "db", .svc_sels = "app=db", .comms = "64500:5432"}},
		.svcs = {{.ns = "default", .name = "web", .labels = "app=web",
			  .addrs = "192.168.100.10", .pools = "ipv4-pool"},
			 {.ns = "default", .name = "other", .addrs = "192.168.100.11",
			  .pools = "ipv4-pool"}},
		.want = {"session router-ipv4",
			 "router-ipv4 192.168.100.10/32 c=64500:80 s=default/web"},
	},
	{
		.name = "ipAddressPools and ipAddressPoolSelectors",
		.local = "worker-1",
		.pools = {{.name = "p1"}, {.name = "p2", .labels = "tier=front"}, {.name = "p3"}},
		.peers = {ROUTER4},
		.advs = {{.name = "some", .pools = "p1", .pool_sels = "tier=front"}},
		.svcs = {{.ns = "ns", .name = "s1", .addrs = "10.1.0.1", .pools = "p1"},
			 {.ns = "ns", .name = "s2", .addrs = "10.2.0.1", .pools = "p2"},
			 {.ns = "ns", .name = "s3", .addrs = "10.3.0.1", .pools = "p3"},
			 {.ns = "ns", .name = "s4", .addrs = "10.4.0.1", .pools = "nope"}},
		.want = {"session router-ipv4", "router-ipv4 10.1.0.1/32 s=ns/s1",
			 "router-ipv4 10.2.0.1/32 s=ns/s2"},
	},
	{
		.name = "externalTrafficPolicy Local: announced only with a serving endpoint here",
		.local = "worker-1",
		.nodes = {{.name = "worker-1"}, {.name = "worker-2"}},
		.pools = {POOL4},
		.peers = {ROUTER4},
		.advs = {ALL_ADV},
		.svcs = {{.ns = "default", .name = "here", .local = true, .addrs = "192.168.100.1",
			  .pools = "ipv4-pool"},
			 {.ns = "default", .name = "there", .local = true, .addrs = "192.168.100.2",
			  .pools = "ipv4-pool"},
			 {.ns = "default", .name = "terminating", .local = true,
			  .addrs = "192.168.100.3", .pools = "ipv4-pool"},
			 {.ns = "default", .name = "notready", .local = true, .addrs = "192.168.100.4",
			  .pools = "ipv4-pool"},
			 {.ns = "default", .name = "none", .local = true, .addrs = "192.168.100.5",
			  .pools = "ipv4-pool"},
			 {.ns = "default", .name = "cluster", .addrs = "192.168.100.6",
			  .pools = "ipv4-pool"}},
		.slices = {{"default", "here", "worker-2:r,worker-1:r"},
			   {"default", "there", "worker-2:r"},
			   {"default", "terminating", "worker-1:s"},
			   {"default", "notready", "worker-1:-,worker-2:r"}},
		.want = {"session router-ipv4", "router-ipv4 192.168.100.1/32 s=default/here",
			 "router-ipv4 192.168.100.3/32 s=default/terminating",
			 "router-ipv4 192.168.100.6/32 s=default/cluster"},
	},
	{
		.name = "externalTrafficPolicy Local: slices of another namespace do not count",
		.local = "worker-1",
		.pools = {POOL4},
		.peers = {ROUTER4},
		.advs = {ALL_ADV},
		.svcs = {{.ns = "default", .name = "web", .local = true, .addrs = "192.168.100.1",
			  .pools = "ipv4-pool"}},
		.slices = {{"other", "web", "worker-1:r"}, {"default", "webx", "worker-1:r"}},
		.want = {"session router-ipv4"},
	},
	{
		.name = "excluded node: sessions kept, nothing announced",
		.local = "worker-1",
		.nodes = {{.name = "worker-1", .excluded = true}},
		.pools = {POOL4},
		.peers = {ROUTER4},
		.advs = {ALL_ADV},
		.svcs = {WEB4("192.168.100.10")},
		.want = {"session router-ipv4"},
	},
	{
		.name = "NetworkUnavailable node: sessions kept, nothing announced",
		.local = "worker-1",
		.nodes = {{.name = "worker-1", .unavailable = true}, {.name = "worker-2"}},
		.pools = {POOL4},
		.peers = {ROUTER4},
		.advs = {ALL_ADV},
		.svcs = {WEB4("192.168.100.10")},
		.want = {"session router-ipv4"},
	},
	{
		.name = "dualStackAddressFamily and unnumbered peers carry both families",
		.local = "worker-1",
		.pools = {POOL4, POOL6},
		.peers = {{.name = "v4", .addr = "192.168.1.1"},
			  {.name = "v4-dual", .addr = "192.168.1.2", .dual = true},
			  {.name = "v6-dual", .addr = "2001:db8::2", .dual = true},
			  {.name = "unnumbered", .iface = "eth1"}},
		.advs = {ALL_ADV},
		.svcs = {{.ns = "default", .name = "web", .addrs = "192.168.100.10,2001:db8:1::10",
			  .pools = "ipv4-pool,ipv6-pool"}},
		.want = {"session unnumbered", "unnumbered 192.168.100.10/32 s=default/web",
			 "unnumbered 2001:db8:1::10/128 s=default/web",
			 "session v4", "v4 192.168.100.10/32 s=default/web",
			 "session v4-dual", "v4-dual 192.168.100.10/32 s=default/web",
			 "v4-dual 2001:db8:1::10/128 s=default/web",
			 "session v6-dual", "v6-dual 192.168.100.10/32 s=default/web",
			 "v6-dual 2001:db8:1::10/128 s=default/web"},
	},
	{
		.name = "invalid peers, advertisements and pools are skipped",
		.local = "worker-1",
		.pools = {POOL4, {.name = "broken", .invalid = true}},
		.peers = {ROUTER4, {.name = "bad-peer", .addr = "10.0.9.1", .invalid = true}},
		.advs = {{.name = "bad", .invalid = true, .comms = "64500:666"},
			 {.name = "good", .pools = "ipv4-pool,broken"}},
		.svcs = {WEB4("192.168.100.10"),
			 {.ns = "default", .name = "b", .addrs = "192.168.30.1", .pools = "broken"}},
		.want = {"session router-ipv4", "router-ipv4 192.168.100.10/32 s=default/web"},
	},
	{
		.name = "shared address: one route, every Service listed",
		.local = "worker-1",
		.pools = {POOL4},
		.peers = {ROUTER4},
		.advs = {ALL_ADV},
		.svcs = {{.ns = "default", .name = "web-udp", .addrs = "192.168.100.7",
			  .pools = "ipv4-pool"},
			 {.ns = "default", .name = "web-tcp", .addrs = "192.168.100.7",
			  .pools = "ipv4-pool"}},
		.want = {"session router-ipv4",
			 "router-ipv4 192.168.100.7/32 s=default/web-tcp,default/web-udp"},
	},
};

static void plan_scenario(const struct scenario *sc, const struct model *m, bool reverse,
			  struct bgp_plan *p)
{
	struct inputs in;
	inputs_build(&in, m, sc, reverse);
	assert_int_equal(announce_bgp(m, sc->local, in.in, in.n, p), 0);
	inputs_free(&in);
}

static void test_scenarios(void **state)
{
	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(scenarios); s++) {
		const struct scenario *sc = &scenarios[s];
		struct model m = build(sc);
		struct bgp_plan p;
		plan_scenario(sc, &m, false, &p);
		check_lines(sc->name, &p, sc->want, count_want(sc->want, ARRAY_SIZE(sc->want)));
		bgp_plan_free(&p);
		model_free(&m);
	}
}

/* ------------------------------------------------------------------ */
/* input order */

#define REVERSE(arr, n)                                                                  \
	do {                                                                             \
		for (size_t i_ = 0; i_ < (n) / 2; i_++) {                                \
			__typeof__((arr)[0]) t_ = (arr)[i_];                             \
			(arr)[i_] = (arr)[(n) - 1 - i_];                                 \
			(arr)[(n) - 1 - i_] = t_;                                        \
		}                                                                        \
	} while (0)

/* Every array of the model reversed (and every advertisement's
 * communities), Services given in reverse: the plan is the same. */
static void test_input_order(void **state)
{
	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(scenarios); s++) {
		const struct scenario *sc = &scenarios[s];
		struct model m = build(sc);
		REVERSE(m.nodes, m.nnodes);
		REVERSE(m.pools, m.npools);
		REVERSE(m.peers, m.npeers);
		REVERSE(m.bgpadvs, m.nbgpadvs);
		REVERSE(m.services, m.nservices);
		REVERSE(m.slices, m.nslices);
		for (size_t i = 0; i < m.nbgpadvs; i++) {
			REVERSE(m.bgpadvs[i].communities, m.bgpadvs[i].ncommunities);
			REVERSE(m.bgpadvs[i].community_values, m.bgpadvs[i].ncommunities);
			REVERSE(m.bgpadvs[i].peers, m.bgpadvs[i].npeers);
		}
		struct bgp_plan p;
		plan_scenario(sc, &m, true, &p);
		check_lines(sc->name, &p, sc->want, count_want(sc->want, ARRAY_SIZE(sc->want)));
		bgp_plan_free(&p);
		model_free(&m);
	}
}

/* ------------------------------------------------------------------ */
/* session parameters */

static void test_session_cfg(void **state)
{
	(void)state;
	struct model m;
	model_init(&m, NULL);
	struct bgppeer *p = VEC_PUSH(m.peers, m.npeers);
	p->meta.name = xstrdup("tor1-ipv4");
	p->my_asn = 64500;
	p->peer_asn = 64510;
	p->local_asn = 64999;
	p->has_peer_address = true;
	p->peer_address = addr_of("10.0.1.1");
	p->peer_port = 1179;
	p->has_source_address = true;
	p->source_address = addr_of("10.0.1.10");
	p->has_router_id = true;
	p->router_id = addr_of("10.0.1.10");
	p->hold_time_s = 9;
	p->keepalive_time_s = 3;
	p->connect_time_s = 5;
	p->password = xstrdup("literal");
	p->password_secret_name = xstrdup("bgp-auth-secret");
	p->resolved_password = xstrdup("from-secret");
	p->ebgp_multihop = true;
	p->vrf = xstrdup("red");
	p->enable_graceful_restart = true;
	p->dual_stack_address_family = true;
	/* A second peer: iBGP through localASN, no password, empty vrf. */
	struct bgppeer *q = VEC_PUSH(m.peers, m.npeers);
	q->meta.name = xstrdup("ibgp");
	q->my_asn = 64500;
	q->local_asn = 65001;
	q->peer_asn = 65001;
	q->has_peer_address = true;
	q->peer_address = addr_of("2001:db8::1");
	q->peer_port = 179;
	q->vrf = xstrdup("");
	q->resolved_password = xstrdup("");

	struct bgp_plan plan;
	assert_int_equal(announce_bgp(&m, "n1", NULL, 0, &plan), 0);
	assert_int_equal(plan.nsessions, 2);
	const struct bgp_session_cfg *c = &plan.sessions[1].cfg;
	assert_string_equal(c->name, "tor1-ipv4");
	assert_int_equal(c->my_asn, 64500);
	assert_int_equal(c->peer_asn, 64510);
	assert_int_equal(c->local_asn, 64999);
	assert_int_equal(c->dynamic_asn, DYNAMIC_ASN_NONE);
	assert_true(ip_eq(&c->peer_address, &p->peer_address));
	assert_int_equal(c->peer_port, 1179);
	assert_true(c->has_source_address && ip_eq(&c->source_address, &p->source_address));
	assert_true(c->has_router_id && ip_eq(&c->router_id, &p->router_id));
	assert_int_equal(c->hold_time_s, 9);
	assert_int_equal(c->keepalive_time_s, 3);
	assert_int_equal(c->connect_time_s, 5);
	assert_string_equal(c->password, "from-secret");
	assert_true(c->ebgp_multihop);
	assert_string_equal(c->vrf, "red");
	assert_true(c->graceful_restart);
	assert_true(c->dual_stack_address_family);
	assert_false(c->ibgp);
	assert_null(c->interface);
	assert_true(bgp_session_carries(c, IP_FAMILY_V4));
	assert_true(bgp_session_carries(c, IP_FAMILY_V6));

	c = &plan.sessions[0].cfg;
	assert_string_equal(c->name, "ibgp");
	assert_true(c->ibgp);
	assert_null(c->password);
	assert_null(c->vrf);
	assert_false(bgp_session_carries(c, IP_FAMILY_V4));
	assert_true(bgp_session_carries(c, IP_FAMILY_V6));
	assert_false(bgp_session_carries(c, IP_FAMILY_NONE));
	bgp_plan_free(&plan);

	/* Before model_validate: the literal password. */
	free(p->resolved_password);
	p->resolved_password = NULL;
	assert_int_equal(announce_bgp(&m, "n1", NULL, 0, &plan), 0);
	assert_string_equal(plan.sessions[1].cfg.password, "literal");
	bgp_plan_free(&plan);
	model_free(&m);
}

/* One field changed at a time. */
struct cfg_change {
	const char *what;
	bool differs;
	void (*apply)(struct bgp_session_cfg *c);
};

static void ch_name(struct bgp_session_cfg *c)
{
	free(c->name);
	c->name = xstrdup("renamed");
}

static void ch_my_asn(struct bgp_session_cfg *c)
{
	c->my_asn++;
}

static void ch_peer_asn(struct bgp_session_cfg *c)
{
	c->peer_asn++;
}

static void ch_dynamic(struct bgp_session_cfg *c)
{
	c->dynamic_asn = DYNAMIC_ASN_EXTERNAL;
}

static void ch_local_asn(struct bgp_session_cfg *c)
{
	c->local_asn = 65000;
}

static void ch_peer_addr(struct bgp_session_cfg *c)
{
	c->peer_address.v++;
}

static void ch_peer_family(struct bgp_session_cfg *c)
{
	c->peer_address.family = IP_FAMILY_V6;
}

static void ch_port(struct bgp_session_cfg *c)
{
	c->peer_port = 1179;
}

static void ch_src_has(struct bgp_session_cfg *c)
{
	c->has_source_address = false;
}

static void ch_src(struct bgp_session_cfg *c)
{
	c->source_address.v++;
}

static void ch_rid_has(struct bgp_session_cfg *c)
{
	c->has_router_id = false;
}

static void ch_rid(struct bgp_session_cfg *c)
{
	c->router_id.v++;
}

static void ch_hold(struct bgp_session_cfg *c)
{
	c->hold_time_s = 30;
}

static void ch_keepalive(struct bgp_session_cfg *c)
{
	c->keepalive_time_s = 10;
}

static void ch_connect(struct bgp_session_cfg *c)
{
	c->connect_time_s = 20;
}

static void ch_pw(struct bgp_session_cfg *c)
{
	free(c->password);
	c->password = xstrdup("other");
}

static void ch_pw_none(struct bgp_session_cfg *c)
{
	free(c->password);
	c->password = NULL;
}

static void ch_multihop(struct bgp_session_cfg *c)
{
	c->ebgp_multihop = !c->ebgp_multihop;
}

static void ch_vrf(struct bgp_session_cfg *c)
{
	free(c->vrf);
	c->vrf = xstrdup("blue");
}

static void ch_vrf_none(struct bgp_session_cfg *c)
{
	free(c->vrf);
	c->vrf = NULL;
}

static void ch_gr(struct bgp_session_cfg *c)
{
	c->graceful_restart = !c->graceful_restart;
}

static void ch_dual(struct bgp_session_cfg *c)
{
	c->dual_stack_address_family = !c->dual_stack_address_family;
}

static void ch_ibgp(struct bgp_session_cfg *c)
{
	c->ibgp = !c->ibgp;
}

static void ch_iface(struct bgp_session_cfg *c)
{
	c->interface = xstrdup("eth0");
}

/* Unused address bytes behind a has_ flag that is false do not count. */
static void ch_src_hidden(struct bgp_session_cfg *c)
{
	c->has_source_address = false;
	c->source_address = (struct ip_addr){0};
}

static void ch_nothing(struct bgp_session_cfg *c)
{
	(void)c;
}

static void test_cfg_differs(void **state)
{
	(void)state;
	static const struct cfg_change rows[] = {
		{"nothing", false, ch_nothing},
		{"name only", false, ch_name},
		{"myASN", true, ch_my_asn},
		{"peerASN", true, ch_peer_asn},
		{"dynamicASN", true, ch_dynamic},
		{"localASN", true, ch_local_asn},
		{"peerAddress", true, ch_peer_addr},
		{"peerAddress family", true, ch_peer_family},
		{"peerPort", true, ch_port},
		{"sourceAddress removed", true, ch_src_has},
		{"sourceAddress", true, ch_src},
		{"routerID removed", true, ch_rid_has},
		{"routerID", true, ch_rid},
		{"holdTime", true, ch_hold},
		{"keepaliveTime", true, ch_keepalive},
		{"connectTime", true, ch_connect},
		{"password", true, ch_pw},
		{"password removed", true, ch_pw_none},
		{"ebgpMultiHop", true, ch_multihop},
		{"vrf", true, ch_vrf},
		{"vrf removed", true, ch_vrf_none},
		{"enableGracefulRestart", true, ch_gr},
		{"dualStackAddressFamily", true, ch_dual},
		{"iBGP", true, ch_ibgp},
		{"interface", true, ch_iface},
	};
	struct bgp_session_cfg base = {
		.name = xstrdup("tor1"),
		.my_asn = 64500,
		.peer_asn = 64510,
		.peer_address = addr_of("10.0.1.1"),
		.peer_port = 179,
		.has_source_address = true,
		.source_address = addr_of("10.0.1.10"),
		.has_router_id = true,
		.router_id = addr_of("10.0.1.10"),
		.hold_time_s = 90,
		.keepalive_time_s = 30,
		.connect_time_s = 10,
		.password = xstrdup("secret"),
		.vrf = xstrdup("red"),
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct bgp_session_cfg c;
		bgp_session_cfg_copy(&c, &base);
		rows[i].apply(&c);
		if (bgp_session_cfg_differs(&base, &c) != rows[i].differs ||
		    bgp_session_cfg_differs(&c, &base) != rows[i].differs)
			fail_msg("%s: differs should be %d", rows[i].what, rows[i].differs);
		bgp_session_cfg_free(&c);
	}
	/* Two sessions without source address that differ only in the unused
	 * address bytes are the same. */
	struct bgp_session_cfg a, b;
	bgp_session_cfg_copy(&a, &base);
	bgp_session_cfg_copy(&b, &base);
	ch_src_has(&a);
	ch_src_hidden(&b);
	assert_false(bgp_session_cfg_differs(&a, &b));
	bgp_session_cfg_free(&a);
	bgp_session_cfg_free(&b);
	bgp_session_cfg_free(&base);
}

/* ------------------------------------------------------------------ */
/* route attributes, copies */

static void test_route_same_attrs(void **state)
{
	(void)state;
	struct community_value c1[] = {{COMMUNITY_STANDARD, 64500, 100, 0},
				       {COMMUNITY_LARGE, 64500, 1, 2}};
	struct community_value c2[] = {{COMMUNITY_STANDARD, 64500, 100, 0},
				       {COMMUNITY_LARGE, 64500, 1, 3}};
	char *svc_a[] = {"default/a"}, *svc_b[] = {"default/b", "default/c"};
	struct ip_prefix p4 = {addr_of("192.168.100.10"), 32};
	struct ip_prefix p4b = {addr_of("192.168.100.11"), 32};
	struct ip_prefix p4s = {addr_of("192.168.100.10"), 31};
	struct ip_prefix p6 = {addr_of("::ffff:192.168.100.10"), 128};
	const struct bgp_route base = {.prefix = bgp_prefix_pack(&p4), .has_local_pref = true, .local_pref = 100,
				       .ncommunities = 2, .communities = c1,
				       .nservices = 1, .services = svc_a};
	static const struct {
		const char *what;
		bool same;
	} names[] = {
		{"identical", true},  {"other services", true}, {"other address", false},
		{"other length", false}, {"other family", false}, {"no localPref", false},
		{"other localPref", false}, {"fewer communities", false},
		{"other community", false},
	};
	struct bgp_route rows[ARRAY_SIZE(names)];
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		rows[i] = base;
	rows[1].nservices = 2;
	rows[1].services = svc_b;
	rows[2].prefix = bgp_prefix_pack(&p4b);
	rows[3].prefix = bgp_prefix_pack(&p4s);
	rows[4].prefix = bgp_prefix_pack(&p6);
	rows[5].has_local_pref = false;
	rows[6].local_pref = 200;
	rows[7].ncommunities = 1;
	rows[8].communities = c2;
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		if (bgp_route_same_attrs(&base, &rows[i]) != names[i].same ||
		    bgp_route_same_attrs(&rows[i], &base) != names[i].same)
			fail_msg("%s: same should be %d", names[i].what, names[i].same);
	/* Without LOCAL_PREF its value is not looked at. */
	struct bgp_route x = base, y = base;
	x.has_local_pref = y.has_local_pref = false;
	y.local_pref = 7;
	assert_true(bgp_route_same_attrs(&x, &y));
}

static void test_plan_copy(void **state)
{
	(void)state;
	const struct scenario *sc = &scenarios[0];
	struct model m = build(sc);
	struct bgp_plan orig, copy;
	plan_scenario(sc, &m, false, &orig);
	/* Give the copy every optional string to carry. */
	orig.sessions[0].cfg.password = xstrdup("pw");
	orig.sessions[0].cfg.vrf = xstrdup("red");
	orig.sessions[0].cfg.interface = xstrdup("eth0");
	bgp_plan_copy(&copy, &orig);
	assert_int_equal(copy.nsessions, orig.nsessions);
	for (size_t i = 0; i < copy.nsessions; i++) {
		const struct bgp_session_plan *a = &orig.sessions[i], *b = &copy.sessions[i];
		assert_ptr_not_equal(a->cfg.name, b->cfg.name);
		assert_false(bgp_session_cfg_differs(&a->cfg, &b->cfg));
		assert_int_equal(a->nroutes, b->nroutes);
		assert_ptr_not_equal(a->routes, b->routes);
		for (size_t k = 0; k < a->nroutes; k++) {
			assert_true(bgp_route_same_attrs(&a->routes[k], &b->routes[k]));
			assert_ptr_not_equal(a->routes[k].communities, b->routes[k].communities);
			assert_ptr_not_equal(a->routes[k].services, b->routes[k].services);
			assert_ptr_not_equal(a->routes[k].services[0], b->routes[k].services[0]);
		}
	}
	/* The copy outlives the original (ASan checks nothing is shared). */
	bgp_plan_free(&orig);
	assert_null(orig.sessions);
	assert_string_equal(copy.sessions[0].cfg.password, "pw");
	assert_string_equal(copy.sessions[0].cfg.vrf, "red");
	assert_string_equal(copy.sessions[0].cfg.interface, "eth0");
	check_lines("copy", &copy, sc->want, count_want(sc->want, ARRAY_SIZE(sc->want)));

	/* A copy of a copy, and of an empty plan. */
	struct bgp_plan again, empty = {0}, empty_copy;
	bgp_plan_copy(&again, &copy);
	bgp_plan_free(&copy);
	check_lines("copy of copy", &again, sc->want, count_want(sc->want, ARRAY_SIZE(sc->want)));
	bgp_plan_copy(&empty_copy, &empty);
	assert_int_equal(empty_copy.nsessions, 0);
	bgp_plan_free(&empty_copy);
	bgp_plan_free(&again);
	model_free(&m);
}

/* ------------------------------------------------------------------ */
/* edges */

static void test_edges(void **state)
{
	(void)state;
	struct model m;
	model_init(&m, NULL);
	struct bgp_plan p;
	/* Nothing at all. */
	assert_int_equal(announce_bgp(&m, "n1", NULL, 0, &p), 0);
	assert_int_equal(p.nsessions, 0);
	assert_null(p.sessions);
	bgp_plan_free(&p);

	add_pool(&m, &(struct pool_spec){.name = "ipv4-pool"});
	add_peer(&m, &(struct peer_spec){.name = "r", .addr = "10.0.0.254"});
	add_peer(&m, &(struct peer_spec){.name = "r", .addr = "10.0.0.253"});
	add_peer(&m, &(struct peer_spec){.name = "nowhere"});
	add_adv(&m, &(struct adv_spec){.name = "all", .comms = "64500:1"});
	add_service(&m, &(struct svc_spec){.ns = "default", .name = "web"});
	/* Resolution when model_validate has not filled community_values. */
	free(m.bgpadvs[0].community_values);
	m.bgpadvs[0].community_values = NULL;
	struct announce_svc in[] = {
		{.svc = &m.services[0], .naddrs = 1, .addrs = {addr_of("10.0.0.1")},
		 .pools = {"ipv4-pool"}},
		/* no address, no Service, unknown pool, no family: nothing */
		{.svc = &m.services[0], .naddrs = 0},
		{.svc = NULL, .naddrs = 1, .addrs = {addr_of("10.0.0.3")}, .pools = {"ipv4-pool"}},
		{.svc = &m.services[0], .naddrs = 1, .addrs = {addr_of("10.0.0.2")},
		 .pools = {"nope"}},
		{.svc = &m.services[0], .naddrs = 1, .pools = {"ipv4-pool"}},
	};
	/* No node name: a node without labels or endpoints. */
	assert_int_equal(announce_bgp(&m, NULL, in, ARRAY_SIZE(in), &p), 0);
	static const char *const want[] = {"session nowhere", "session r",
					   "r 10.0.0.1/32 c=64500:1 s=default/web"};
	check_lines("edges", &p, want, ARRAY_SIZE(want));
	/* Duplicate names: the first peer in the model wins. */
	assert_true(ip_eq(&p.sessions[1].cfg.peer_address, &m.peers[0].peer_address));
	bgp_plan_free(&p);
	model_free(&m);
}

/* ------------------------------------------------------------------ */
/* the guide's manifests through the decoder and validator */

static const char guide_yaml[] =
	"apiVersion: metallb.io/v1beta1\n"
	"kind: IPAddressPool\n"
	"metadata:\n"
	"  name: ipv4-pool\n"
	"  namespace: metallb-system\n"
	"spec:\n"
	"  addresses:\n"
	"  - 192.168.100.0/24\n"
	"  autoAssign: true\n"
	"---\n"
	"apiVersion: metallb.io/v1beta1\n"
	"kind: IPAddressPool\n"
	"metadata:\n"
	"  name: ipv6-pool\n"
	"  namespace: metallb-system\n"
	"spec:\n"
	"  addresses:\n"
	"  - 2001:db8:1::/64\n"
	"  autoAssign: true\n"
	"---\n"
	"apiVersion: metallb.io/v1beta2\n"
	"kind: BGPPeer\n"
	"metadata:\n"
	"  name: router-ipv4\n"
	"  namespace: metallb-system\n"
	"spec:\n"
	"  myASN: 64500\n"
	"  peerASN: 64501\n"
	"  peerAddress: 192.168.1.1\n"
	"---\n"
	"apiVersion: metallb.io/v1beta2\n"
	"kind: BGPPeer\n"
	"metadata:\n"
	"  name: router-ipv6\n"
	"  namespace: metallb-system\n"
	"spec:\n"
	"  myASN: 64500\n"
	"  peerASN: 64501\n"
	"  peerAddress: \"2001:db8::1\"\n"
	"---\n"
	"apiVersion: metallb.io/v1beta1\n"
	"kind: BGPAdvertisement\n"
	"metadata:\n"
	"  name: dual-stack-bgp-advertisement\n"
	"  namespace: metallb-system\n"
	"spec:\n"
	"  ipAddressPools:\n"
	"  - ipv4-pool\n"
	"  - ipv6-pool\n"
	"  peers:\n"
	"  - router-ipv4\n"
	"  - router-ipv6\n"
	"  aggregationLength: 32\n"
	"  aggregationLengthV6: 128\n"
	"  communities:\n"
	"  - 64500:100\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata:\n"
	"  name: web\n"
	"  namespace: default\n"
	"spec:\n"
	"  type: LoadBalancer\n"
	"  ipFamilyPolicy: RequireDualStack\n"
	"  ipFamilies:\n"
	"  - IPv4\n"
	"  - IPv6\n"
	"  ports:\n"
	"  - port: 80\n";

static void test_guide_manifests(void **state)
{
	(void)state;
	struct loaded l;
	load_yaml(&l, "guide.yaml", guide_yaml, true);
	for (size_t i = 0; i < l.d.n; i++)
		if (l.d.items[i].level == DIAG_ERROR) {
			print_diags(&l.d);
			fail_msg("the guide's manifests do not validate");
		}
	const struct service *web = find_service(&l.m, "default", "web");
	struct announce_svc in = {.svc = web, .naddrs = 2,
				  .addrs = {addr_of("192.168.100.10"), addr_of("2001:db8:1::10")},
				  .pools = {"ipv4-pool", "ipv6-pool"}};
	struct bgp_plan p;
	assert_int_equal(announce_bgp(&l.m, "worker-1", &in, 1, &p), 0);
	static const char *const want[] = {
		"session router-ipv4",
		"router-ipv4 192.168.100.10/32 c=64500:100 s=default/web",
		"session router-ipv6",
		"router-ipv6 2001:db8:1::10/128 c=64500:100 s=default/web",
	};
	check_lines("guide", &p, want, ARRAY_SIZE(want));
	/* The decoder's defaults reach the session. */
	const struct bgp_session_cfg *c = &p.sessions[0].cfg;
	assert_int_equal(c->my_asn, 64500);
	assert_int_equal(c->peer_asn, 64501);
	assert_int_equal(c->peer_port, 179);
	assert_int_equal(c->hold_time_s, 90);
	assert_int_equal(c->keepalive_time_s, 30);
	assert_false(c->ibgp);
	assert_null(c->password);
	bgp_plan_free(&p);
	unload(&l);
}

/* ------------------------------------------------------------------ */
/* scale: 10,000 Services x 4 sessions x 3 advertisements */

#if defined(__SANITIZE_ADDRESS__)
#define SCALE_BUDGET_MS 1000.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCALE_BUDGET_MS 1000.0
#endif
#endif
#ifndef SCALE_BUDGET_MS
#define SCALE_BUDGET_MS 100.0
#endif

static void test_scale(void **state)
{
	(void)state;
	enum { NSVC = 10000 };
	struct model m;
	model_init(&m, NULL);
	add_node(&m, &(struct node_spec){.name = "node-0", .labels = "zone=z0"});
	add_pool(&m, &(struct pool_spec){.name = "ipv4-pool"});
	add_pool(&m, &(struct pool_spec){.name = "ipv6-pool"});
	add_peer(&m, &(struct peer_spec){.name = "tor1-ipv4", .addr = "10.0.1.1"});
	add_peer(&m, &(struct peer_spec){.name = "tor1-ipv6", .addr = "2001:db8:1::1"});
	add_peer(&m, &(struct peer_spec){.name = "tor2-ipv4", .addr = "10.0.2.1",
					 .peer_asn = 64500});
	add_peer(&m, &(struct peer_spec){.name = "tor2-ipv6", .addr = "2001:db8:2::1"});
	add_aliases(&m, "primary=64500:100,backup=64500:200");
	add_adv(&m, &(struct adv_spec){.name = "primary", .peers = "tor1-ipv4,tor1-ipv6",
				       .comms = "primary,large:64500:1:1", .lp = 200});
	add_adv(&m, &(struct adv_spec){.name = "backup", .peers = "tor2-ipv4,tor2-ipv6",
				       .comms = "backup", .lp = 100, .node_sels = "zone=z0"});
	add_adv(&m, &(struct adv_spec){.name = "aggregated", .pools = "ipv6-pool", .len6 = 120,
				       .svc_sels = "tier=front", .comms = "64500:300"});
	for (int i = 0; i < NSVC; i++) {
		char name[32];
		snprintf(name, sizeof(name), "svc-%05d", i);
		add_service(&m, &(struct svc_spec){.ns = "default", .name = name,
						   .labels = i % 2 ? "tier=front" : "tier=back",
						   .local = i % 10 == 0});
	}
	for (int i = 0; i < NSVC; i += 10) {
		char svc[32];
		snprintf(svc, sizeof(svc), "svc-%05d", i);
		add_slice(&m, &(struct slice_spec){.ns = "default", .service = svc,
						   .eps = i % 20 ? "node-0:r" : "node-1:r"},
			  (size_t)i);
	}
	struct announce_svc *in = xcalloc(NSVC, sizeof(*in));
	for (int i = 0; i < NSVC; i++) {
		/* Given in reverse so that the planner's sorting does the work. */
		size_t k = NSVC - 1 - (size_t)i;
		in[k].svc = &m.services[i];
		in[k].naddrs = 2;
		in[k].addrs[0] = ip_v4(0xc0a80000u + (uint32_t)i);
		in[k].addrs[1] = addr_of("2001:db8:1::");
		in[k].addrs[1].v += (u128)i;
		in[k].pools[0] = "ipv4-pool";
		in[k].pools[1] = "ipv6-pool";
	}
	/* The best of three runs, so that a busy machine does not fail the
	 * budget; the first run is printed too. */
	struct bgp_plan p;
	double first = 0, best = 0;
	for (int run = 0; run < 3; run++) {
		if (run)
			bgp_plan_free(&p);
		double t0 = now_s();
		assert_int_equal(announce_bgp(&m, "node-0", in, NSVC, &p), 0);
		double ms = (now_s() - t0) * 1e3;
		if (run == 0)
			first = best = ms;
		else if (ms < best)
			best = ms;
	}
	size_t nroutes = 0;
	for (size_t s = 0; s < p.nsessions; s++)
		nroutes += p.sessions[s].nroutes;
	print_message("      10000 Services x %zu sessions x %zu advertisements: %zu routes in "
		      "%.1f ms (first run %.1f ms)\n",
		      p.nsessions, m.nbgpadvs, nroutes, best, first);

	/* 500 Local Services have no endpoint here; the /120 aggregates of
	 * the front Services add 40 prefixes on each IPv6 session. */
	const size_t announced = NSVC - NSVC / 20;
	assert_int_equal(p.nsessions, 4);
	for (size_t s = 0; s < p.nsessions; s++) {
		const struct bgp_session_plan *sp = &p.sessions[s];
		bool v6 = sp->cfg.peer_address.family == IP_FAMILY_V6;
		assert_int_equal(sp->nroutes, announced + (v6 ? NSVC / 256 + 1 : 0));
		for (size_t k = 1; k < sp->nroutes; k++) {
			struct ip_prefix a = bgp_prefix_unpack(&sp->routes[k - 1].prefix);
			struct ip_prefix b = bgp_prefix_unpack(&sp->routes[k].prefix);
			int c = ip_cmp(&a.addr, &b.addr);
			assert_true(c < 0 || (c == 0 && a.len < b.len));
		}
		bool ibgp = strcmp(sp->cfg.name, "tor2-ipv4") == 0;
		for (size_t k = 0; k < sp->nroutes; k++) {
			const struct bgp_route *r = &sp->routes[k];
			assert_int_equal(r->has_local_pref, ibgp);
			if (ibgp)
				assert_int_equal(r->local_pref, 100);
		}
	}
	assert_true(best < SCALE_BUDGET_MS);
	bgp_plan_free(&p);
	free(in);
	model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_input_order),
		cmocka_unit_test(test_session_cfg),
		cmocka_unit_test(test_cfg_differs),
		cmocka_unit_test(test_route_same_attrs),
		cmocka_unit_test(test_plan_copy),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_guide_manifests),
		cmocka_unit_test(test_scale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
