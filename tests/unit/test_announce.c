/*
 * Tests for src/announce/announce.c (Layer 2 planning).
 *
 * Scenarios are tables: nodes, pools, L2Advertisements, Services and
 * EndpointSlices written as short strings, turned into a struct model by
 * hand, planned, and compared with the expected entries.  The election
 * order is never written out by hand: the test computes it on its own
 * (SHA-256 of "node#first-address" through a one-shot digest, sorted as
 * bytes) from the expected set of eligible nodes, so a row states only
 * which nodes may announce.  The key itself is checked against digests
 * computed with sha256sum.
 */
#include "announce_fixtures.h"

#include <openssl/evp.h>

/* ------------------------------------------------------------------ */
/* building a model from strings (see announce_fixtures.h) */

struct adv_spec {
	const char *name;
	const char *pools;       /* ipAddressPools */
	const char *pool_sels;   /* ipAddressPoolSelectors */
	const char *node_sels;
	const char *ifaces;
	const char *svc_sels;
	const char *prefs;       /* "weight:k=v;weight:k=v" */
	bool invalid;
};

static void add_adv(struct model *m, const struct adv_spec *s)
{
	struct l2adv *a = VEC_PUSH(m->l2advs, m->nl2advs);
	a->meta.kind = KIND_L2ADVERTISEMENT;
	a->meta.name = xstrdup(s->name);
	a->meta.namespace_ = xstrdup(MODEL_DEFAULT_CONFIG_NAMESPACE);
	a->meta.invalid = s->invalid;
	a->pools = strv_of(s->pools, &a->npools);
	a->pool_selectors = selectors_of(s->pool_sels, &a->npool_selectors);
	a->node_selectors = selectors_of(s->node_sels, &a->nnode_selectors);
	a->interfaces = strv_of(s->ifaces, &a->ninterfaces);
	a->svc_selectors = selectors_of(s->svc_sels, &a->nsvc_selectors);
	char *parts[MAXN];
	size_t n = split(s->prefs, ';', parts);
	a->preferred_nodes = xcalloc(n, sizeof(*a->preferred_nodes));
	a->npreferred_nodes = n;
	for (size_t i = 0; i < n; i++) {
		char *colon = strchr(parts[i], ':');
		assert_non_null(colon);
		*colon = '\0';
		a->preferred_nodes[i].weight = atoi(parts[i]);
		labels_of(&a->preferred_nodes[i].preference.match_labels, colon + 1);
	}
	free_parts(parts, n);
}

/* The allocation of the model's i-th Service, from its spec. */
static void svc_input(const struct model *m, size_t i, const struct svc_spec *s,
		      struct announce_svc *out, char **pool_store)
{
	memset(out, 0, sizeof(*out));
	out->svc = &m->services[i];
	svc_addrs_of(s, out, pool_store);
}

/* ------------------------------------------------------------------ */
/* the election order, computed independently of announce.c */

struct ref_cand {
	const char *name;
	long score;
	unsigned char key[32];
};

static void ref_key(const char *node, const char *addr_text, unsigned char out[32])
{
	char buf[512];
	int len = snprintf(buf, sizeof(buf), "%s#%s", node, addr_text);
	assert_true(len > 0 && (size_t)len < sizeof(buf));
	unsigned int mdlen = 0;
	assert_int_equal(EVP_Digest(buf, (size_t)len, out, &mdlen, EVP_sha256(), NULL), 1);
	assert_int_equal(mdlen, 32);
}

static int cmp_ref(const void *a, const void *b)
{
	const struct ref_cand *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return memcmp(x->key, y->key, 32);
}

/* Order `names` (comma list) for an address given as text; `scores`
 * ("node=score,...") ranks first when given. */
static size_t ref_order(const char *names, const char *scores, const char *first_addr,
			char **out)
{
	size_t n = split(names, ',', out);
	struct ref_cand c[MAXN];
	char *sc[MAXN];
	size_t nsc = split(scores, ',', sc);
	for (size_t i = 0; i < n; i++) {
		c[i].name = out[i];
		c[i].score = 0;
		for (size_t k = 0; k < nsc; k++) {
			const char *eq = strchr(sc[k], '=');
			if ((size_t)(eq - sc[k]) == strlen(out[i]) &&
			    strncmp(sc[k], out[i], (size_t)(eq - sc[k])) == 0)
				c[i].score = atol(eq + 1);
		}
		ref_key(out[i], first_addr, c[i].key);
	}
	free_parts(sc, nsc);
	qsort(c, n, sizeof(c[0]), cmp_ref);
	char *sorted[MAXN];
	for (size_t i = 0; i < n; i++)
		sorted[i] = (char *)c[i].name;
	memcpy(out, sorted, n * sizeof(*out));
	return n;
}

/* ------------------------------------------------------------------ */
/* scenario tables */

struct want_entry {
	const char *addr;
	const char *service;
	const char *pool;
	const char *eligible;    /* the eligible nodes, any order; "" = none */
	const char *ifaces;      /* "*" = all interfaces */
	const char *scores;      /* preference scores, "node=score,..." */
	const char *owner;       /* when set: the expected owner ("" = none) */
};

struct scenario {
	const char *name;
	const char *local;
	struct node_spec nodes[MAXN];
	struct pool_spec pools[4];
	struct adv_spec advs[4];
	struct svc_spec svcs[4];
	struct slice_spec slices[4];
	struct want_entry want[6];
};

#define ANY_ADV {.name = "all"}
#define POOL_A {.name = "pool-a"}
#define NODES_ABC {.name = "node-a"}, {.name = "node-b"}, {.name = "node-c"}
#define WEB(addr) {.ns = "default", .name = "web", .addrs = addr, .pools = "pool-a"}

static const struct scenario scenarios[] = {
	{
		.name = "one advertisement for all: every node eligible, all interfaces",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a,node-b,node-c", "*"}},
	},
	{
		.name = "excluded and NetworkUnavailable nodes are skipped",
		.local = "node-a",
		.nodes = {{.name = "node-a"},
			  {.name = "node-b", .excluded = true},
			  {.name = "node-c", .unavailable = true},
			  {.name = "node-d"}},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a,node-d", "*"}},
	},
	{
		.name = "a node the failure detector holds down is skipped until it is back",
		.local = "node-a",
		.nodes = {{.name = "node-a"}, {.name = "node-b", .down = true}, {.name = "node-c"}},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a,node-c", "*"}},
	},
	{
		.name = "nodeSelectors: any selector of the list may match",
		.local = "node-a",
		.nodes = {{.name = "node-a", .labels = "zone=east"},
			  {.name = "node-b", .labels = "zone=west"},
			  {.name = "node-c", .labels = "zone=north,role=lb"},
			  {.name = "node-d"}},
		.pools = {POOL_A},
		.advs = {{.name = "east", .node_sels = "zone=east;role=lb"}},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a,node-c", "*"}},
	},
	{
		.name = "nodeSelectors matching no node: entry without owner",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A},
		.advs = {{.name = "nowhere", .node_sels = "zone=mars"}},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "", "", .owner = ""}},
	},
	{
		.name = "ipAddressPoolSelectors select pools by label",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {{.name = "front", .labels = "tier=front"}, {.name = "back", .labels = "tier=back"}},
		.advs = {{.name = "front-only", .pool_sels = "tier=front"}},
		.svcs = {{.ns = "default", .name = "web", .addrs = "192.168.10.1", .pools = "front"},
			 {.ns = "default", .name = "db", .addrs = "192.168.20.1", .pools = "back"}},
		.want = {{"192.168.10.1", "default/web", "front", "node-a,node-b,node-c", "*"}},
	},
	{
		.name = "ipAddressPools by name, or by selector",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {{.name = "p1"}, {.name = "p2", .labels = "x=y"}, {.name = "p3"}},
		.advs = {{.name = "named", .pools = "p1", .pool_sels = "x=y", .ifaces = "eth0"}},
		.svcs = {{.ns = "ns1", .name = "s1", .addrs = "10.1.0.1", .pools = "p1"},
			 {.ns = "ns1", .name = "s2", .addrs = "10.2.0.1", .pools = "p2"},
			 {.ns = "ns1", .name = "s3", .addrs = "10.3.0.1", .pools = "p3"}},
		.want = {{"10.1.0.1", "ns1/s1", "p1", "node-a,node-b,node-c", "eth0"},
			 {"10.2.0.1", "ns1/s2", "p2", "node-a,node-b,node-c", "eth0"}},
	},
	{
		.name = "no L2Advertisement: no entry",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A},
		.svcs = {WEB("192.168.10.1")},
	},
	{
		.name = "invalid L2Advertisement and invalid pool are skipped",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A, {.name = "broken", .invalid = true}},
		.advs = {{.name = "bad", .invalid = true},
			 {.name = "good", .pools = "broken"}},
		.svcs = {WEB("192.168.10.1"),
			 {.ns = "default", .name = "b", .addrs = "192.168.30.1", .pools = "broken"}},
	},
	{
		.name = "interfaces: union of the advertisements, sorted, unique",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A},
		.advs = {{.name = "one", .ifaces = "eth1,eth0"}, {.name = "two", .ifaces = "eth0,bond0"}},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a,node-b,node-c",
			  "bond0,eth0,eth1"}},
	},
	{
		.name = "interfaces: an advertisement without a list means all",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A},
		.advs = {{.name = "one", .ifaces = "eth1"}, {.name = "two"}},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a,node-b,node-c", "*"}},
	},
	{
		.name = "interfaces: only advertisements that select the owner node count",
		.local = "node-a",
		.nodes = {{.name = "node-a", .labels = "zone=east"},
			  {.name = "node-b", .labels = "zone=west", .excluded = true}},
		.pools = {POOL_A},
		.advs = {{.name = "east", .node_sels = "zone=east", .ifaces = "eth0"},
			 {.name = "west", .node_sels = "zone=west", .ifaces = "eth9"},
			 {.name = "west-all", .node_sels = "zone=west"},
			 {.name = "any", .ifaces = "eth1"}},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a", "eth0,eth1",
			  .owner = "node-a"}},
	},
	{
		.name = "serviceSelectors pick the advertisements of each Service",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A},
		.advs = {{.name = "web", .svc_sels = "app=web", .ifaces = "eth0"},
			 {.name = "db", .svc_sels = "app=db", .ifaces = "eth1", .node_sels = "db=yes"}},
		.svcs = {{.ns = "default", .name = "web", .labels = "app=web", .addrs = "192.168.10.1",
			  .pools = "pool-a"},
			 {.ns = "default", .name = "other", .addrs = "192.168.10.2", .pools = "pool-a"}},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a,node-b,node-c", "eth0"}},
	},
	{
		.name = "Local policy: only the node with an endpoint",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {{.ns = "default", .name = "web", .local = true, .addrs = "192.168.10.1",
			  .pools = "pool-a"}},
		.slices = {{"default", "web", "node-b:r"}},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-b", "*", .owner = "node-b"}},
	},
	{
		.name = "Local policy: a serving endpoint counts, neither ready nor serving does not",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {{.ns = "default", .name = "web", .local = true, .addrs = "192.168.10.1",
			  .pools = "pool-a"}},
		.slices = {{"default", "web", "node-a:s,node-c:-"}, {"default", "web", "ghost:r"}},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a", "*"}},
	},
	{
		.name = "Local policy: slices of another namespace or Service do not count",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {{.ns = "default", .name = "web", .local = true, .addrs = "192.168.10.1",
			  .pools = "pool-a"}},
		.slices = {{"other", "web", "node-a:r"}, {"default", "webx", "node-b:r"}},
		.want = {{"192.168.10.1", "default/web", "pool-a", "", "", .owner = ""}},
	},
	{
		.name = "Local policy: endpoint on an excluded node does not count",
		.local = "node-a",
		.nodes = {{.name = "node-a"}, {.name = "node-b", .excluded = true}, {.name = "node-c"}},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {{.ns = "default", .name = "web", .local = true, .addrs = "192.168.10.1",
			  .pools = "pool-a"}},
		.slices = {{"default", "web", "node-b:r,node-c:r"}},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-c", "*"}},
	},
	{
		.name = "no eligible node: owner NULL",
		.local = "node-a",
		.nodes = {{.name = "node-a", .excluded = true}, {.name = "node-b", .unavailable = true}},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "", "", .owner = ""}},
	},
	{
		.name = "local node without a Node object takes part",
		.local = "self",
		.nodes = {{.name = "node-a"}, {.name = "node-b"}},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a,node-b,self", "*"}},
	},
	{
		.name = "local node without a Node object has no labels",
		.local = "self",
		.nodes = {{.name = "node-a", .labels = "zone=east"}, {.name = "node-b"}},
		.pools = {POOL_A},
		.advs = {{.name = "east", .node_sels = "zone=east"}},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "node-a", "*", .owner = "node-a"}},
	},
	{
		.name = "local node alone",
		.local = "self",
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {WEB("2001:db8::1")},
		.want = {{"2001:db8::1", "default/web", "pool-a", "self", "*", .owner = "self"}},
	},
	{
		.name = "shared address: one entry per Service, sorted by address then name",
		.local = "node-a",
		.nodes = {NODES_ABC},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {{.ns = "default", .name = "web-udp", .addrs = "192.168.10.7", .pools = "pool-a"},
			 {.ns = "default", .name = "web-tcp", .addrs = "192.168.10.7", .pools = "pool-a"},
			 {.ns = "apps", .name = "x", .addrs = "192.168.10.3", .pools = "pool-a"}},
		.want = {{"192.168.10.3", "apps/x", "pool-a", "node-a,node-b,node-c", "*"},
			 {"192.168.10.7", "default/web-tcp", "pool-a", "node-a,node-b,node-c", "*"},
			 {"192.168.10.7", "default/web-udp", "pool-a", "node-a,node-b,node-c", "*"}},
	},
	{
		.name = "dual stack: both addresses elected on the first ingress address",
		.local = "node-a",
		.nodes = {NODES_ABC, {.name = "node-d"}, {.name = "node-e"}},
		.pools = {POOL_A},
		.advs = {ANY_ADV},
		.svcs = {{.ns = "default", .name = "web", .addrs = "2001:db8::10,192.168.10.5",
			  .pools = "pool-a,pool-a"}},
		.want = {{"192.168.10.5", "default/web", "pool-a", "node-a,node-b,node-c,node-d,node-e",
			  "*"},
			 {"2001:db8::10", "default/web", "pool-a", "node-a,node-b,node-c,node-d,node-e",
			  "*"}},
	},
	{
		.name = "dual stack from two pools: each address by its own pool",
		.local = "node-a",
		.nodes = {{.name = "node-a", .labels = "v6=yes"}, {.name = "node-b"}, {.name = "node-c"}},
		.pools = {{.name = "v4"}, {.name = "v6"}, {.name = "v4-unadvertised"}},
		.advs = {{.name = "v4", .pools = "v4", .ifaces = "eth0"},
			 {.name = "v6", .pools = "v6", .node_sels = "v6=yes", .ifaces = "eth1"}},
		.svcs = {{.ns = "default", .name = "web", .addrs = "192.168.10.5,2001:db8::10",
			  .pools = "v4,v6"},
			 {.ns = "default", .name = "half", .addrs = "192.168.20.5,2001:db8::20",
			  .pools = "v4-unadvertised,v6"}},
		.want = {{"192.168.10.5", "default/web", "v4", "node-a,node-b,node-c", "eth0"},
			 {"2001:db8::10", "default/web", "v6", "node-a", "eth1", .owner = "node-a"},
			 {"2001:db8::20", "default/half", "v6", "node-a", "eth1", .owner = "node-a"}},
	},
	{
		.name = "preferredNodeSelectors: higher summed weight first, hash breaks ties",
		.local = "edge-b",
		.nodes = {{.name = "edge-a", .labels = "role=edge,zone=primary"},
			  {.name = "edge-b", .labels = "role=edge"},
			  {.name = "work-a", .labels = "zone=primary"},
			  {.name = "work-b"},
			  {.name = "work-c"}},
		.pools = {POOL_A},
		.advs = {{.name = "p", .prefs = "60:zone=primary;50:role=edge"},
			 {.name = "q", .prefs = "10:role=edge"}},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "edge-a,edge-b,work-a,work-b,work-c",
			  "*", .scores = "edge-a=120,edge-b=60,work-a=60", .owner = "edge-a"}},
	},
	{
		.name = "preferredNodeSelectors score only nodes of their own advertisement",
		.local = "lb-1",
		.nodes = {{.name = "lb-1", .labels = "role=lb"},
			  {.name = "lb-2", .labels = "role=lb"},
			  {.name = "gpu-1", .labels = "role=gpu,zone=primary"},
			  {.name = "lb-3", .labels = "role=lb,zone=primary"}},
		.pools = {POOL_A},
		.advs = {{.name = "lb", .node_sels = "role=lb"},
			 {.name = "gpu", .node_sels = "role=gpu", .prefs = "100:zone=primary"}},
		.svcs = {WEB("192.168.10.1")},
		.want = {{"192.168.10.1", "default/web", "pool-a", "gpu-1,lb-1,lb-2,lb-3", "*",
			  .scores = "gpu-1=100", .owner = "gpu-1"}},
	},
};

static struct model build(const struct scenario *sc)
{
	struct model m;
	model_init(&m, NULL);
	add_nodes(&m, sc->nodes, ARRAY_SIZE(sc->nodes));
	add_pools(&m, sc->pools, ARRAY_SIZE(sc->pools));
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

/* Plan a scenario; pool name strings live in pool_store. */
static void plan(const struct scenario *sc, const struct model *m, const char *local,
		 struct l2_plan *out, char *pool_store[][MAXN], size_t *npool_store)
{
	size_t n = count_svcs(sc);
	struct announce_svc in[ARRAY_SIZE(sc->svcs)];
	for (size_t i = 0; i < n; i++) {
		svc_input(m, i, &sc->svcs[i], &in[i], pool_store[i]);
		npool_store[i] = in[i].naddrs;
	}
	assert_int_equal(announce_l2(m, local, in, n, out), 0);
}

static const char *first_addr_of(const struct scenario *sc, const char *service,
				 char buf[IP_STR_MAX])
{
	for (size_t i = 0; i < ARRAY_SIZE(sc->svcs) && sc->svcs[i].name; i++) {
		char full[256];
		snprintf(full, sizeof(full), "%s/%s", sc->svcs[i].ns, sc->svcs[i].name);
		if (strcmp(full, service) != 0)
			continue;
		char *addrs[MAXN] = {NULL};
		size_t n = split(sc->svcs[i].addrs, ',', addrs);
		assert_true(n > 0);
		struct ip_addr a = addr_of(addrs[0]);
		free_parts(addrs, n);
		return ip_format(&a, buf);
	}
	fail_msg("no Service %s in the scenario", service);
	return NULL;
}

static void check_entry(const struct scenario *sc, size_t row, const struct l2_entry *e,
			const struct want_entry *w)
{
	char ab[IP_STR_MAX];
	const char *what = sc->name;
	struct ip_addr wa = addr_of(w->addr);
	if (!ip_eq(&e->addr, &wa))
		fail_msg("%s: entry %zu: address %s, want %s", what, row, ip_format(&e->addr, ab),
			 w->addr);
	if (strcmp(e->service, w->service) != 0 || strcmp(e->pool, w->pool) != 0)
		fail_msg("%s: entry %zu: %s from %s, want %s from %s", what, row, e->service,
			 e->pool, w->service, w->pool);

	char *order[MAXN];
	char fb[IP_STR_MAX];
	size_t n = ref_order(w->eligible, w->scores, first_addr_of(sc, w->service, fb), order);
	if (e->ncandidates != n)
		fail_msg("%s: entry %zu: %zu candidates, want %zu (%s)", what, row, e->ncandidates,
			 n, w->eligible);
	for (size_t i = 0; i < n; i++)
		if (strcmp(e->candidates[i], order[i]) != 0)
			fail_msg("%s: entry %zu: candidate %zu is %s, want %s", what, row, i,
				 e->candidates[i], order[i]);
	const char *want_owner = n ? order[0] : NULL;
	if (w->owner && strcmp(w->owner, want_owner ? want_owner : "") != 0)
		fail_msg("%s: entry %zu: table says owner %s, election order says %s", what, row,
			 w->owner, want_owner ? want_owner : "(none)");
	if (!want_owner)
		assert_null(e->owner);
	else if (!e->owner || strcmp(e->owner, want_owner) != 0)
		fail_msg("%s: entry %zu: owner %s, want %s", what, row,
			 e->owner ? e->owner : "(none)", want_owner);
	bool here = want_owner && sc->local && strcmp(want_owner, sc->local) == 0;
	if (e->here != here)
		fail_msg("%s: entry %zu: here=%d, want %d", what, row, e->here, here);
	for (size_t i = 0; i < n; i++)
		free(order[i]);

	bool all = strcmp(w->ifaces, "*") == 0;
	if (e->all_interfaces != all)
		fail_msg("%s: entry %zu: all_interfaces=%d, want %d", what, row, e->all_interfaces,
			 all);
	char *ifs[MAXN];
	size_t ni = all ? 0 : split(w->ifaces, ',', ifs);
	if (e->ninterfaces != ni)
		fail_msg("%s: entry %zu: %zu interfaces, want %zu", what, row, e->ninterfaces, ni);
	for (size_t i = 0; i < ni; i++)
		if (strcmp(e->interfaces[i], ifs[i]) != 0)
			fail_msg("%s: entry %zu: interface %zu is %s, want %s", what, row, i,
				 e->interfaces[i], ifs[i]);
	free_parts(ifs, ni);
}

static void free_pool_store(char *store[][MAXN], const size_t *n, size_t nsvcs)
{
	for (size_t i = 0; i < nsvcs; i++)
		free_parts(store[i], n[i]);
}

static void test_scenarios(void **state)
{
	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(scenarios); s++) {
		const struct scenario *sc = &scenarios[s];
		struct model m = build(sc);
		char *pools[ARRAY_SIZE(sc->svcs)][MAXN];
		size_t npools[ARRAY_SIZE(sc->svcs)] = {0};
		struct l2_plan p;
		plan(sc, &m, sc->local, &p, pools, npools);
		size_t nwant = 0;
		while (nwant < ARRAY_SIZE(sc->want) && sc->want[nwant].addr)
			nwant++;
		if (p.n != nwant)
			fail_msg("%s: %zu entries, want %zu", sc->name, p.n, nwant);
		for (size_t i = 0; i < nwant; i++)
			check_entry(sc, i, &p.entries[i], &sc->want[i]);
		l2_plan_free(&p);
		free_pool_store(pools, npools, count_svcs(sc));
		model_free(&m);
	}
}

/* ------------------------------------------------------------------ */
/* the election key against sha256sum */

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_election_key(void **state)
{
	(void)state;
	static const struct {
		const char *node, *addr, *sha256;
	} rows[] = {
		/* printf 'node-a#192.168.10.1' | sha256sum */
		{"node-a", "192.168.10.1",
		 "e27b2bdf6f3ed62b8696eef394f1b0e6ee8575a3a690dedf8dd09eb23b76ad44"},
		/* the address is hashed in RFC 5952 form: "worker-1#2001:db8::10" */
		{"worker-1", "2001:0DB8:0:0:0:0:0:0010",
		 "25fa3642824c454c9c22f0c2a237df84c5c857e2b8133233ebdc012c0dd6fda0"},
		{"kind-control-plane", "fd00:10:96:0::a",
		 "36e0216d39bba106ab56ed7aa2edaa888ff8cd7cb9ed9667cac5567f614e6026"},
		/* IPv4-mapped: hashed as the dotted quad, "n#1.2.3.4" */
		{"n", "::ffff:1.2.3.4",
		 "e647b58972622ed31bf7069c24ee47add9f5cdb8a6be8f38059dad50975a2931"},
		{"n", "1.2.3.4", "e647b58972622ed31bf7069c24ee47add9f5cdb8a6be8f38059dad50975a2931"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct ip_addr a = addr_of(rows[i].addr);
		unsigned char key[32];
		char got[65];
		announce_election_key(rows[i].node, &a, key);
		hex(key, 32, got);
		if (strcmp(got, rows[i].sha256) != 0)
			fail_msg("row %zu (%s#%s): %s, want %s", i, rows[i].node, rows[i].addr, got,
				 rows[i].sha256);
	}

	/* A node name too long for the stack buffer. */
	char name[600];
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	struct ip_addr a = addr_of("10.0.0.1");
	unsigned char key[32], want[32];
	announce_election_key(name, &a, key);
	char *text = xasprintf("%s#10.0.0.1", name);
	unsigned int len = 0;
	assert_int_equal(EVP_Digest(text, strlen(text), want, &len, EVP_sha256(), NULL), 1);
	assert_memory_equal(key, want, 32);
	free(text);
}

/* ------------------------------------------------------------------ */
/* failover, agreement between nodes, input order */

static const struct scenario five_nodes = {
	.name = "five nodes",
	.nodes = {{.name = "n1"}, {.name = "n2"}, {.name = "n3"}, {.name = "n4"}, {.name = "n5"}},
	.pools = {POOL_A},
	.advs = {ANY_ADV},
	.svcs = {{.ns = "default", .name = "a", .addrs = "192.168.10.1", .pools = "pool-a"},
		 {.ns = "default", .name = "b", .addrs = "192.168.10.2", .pools = "pool-a"},
		 {.ns = "default", .name = "c", .addrs = "2001:db8::3", .pools = "pool-a"},
		 {.ns = "default", .name = "d", .addrs = "192.168.10.4,2001:db8::4",
		  .pools = "pool-a,pool-a"}},
};

static void plan_model(const struct scenario *sc, const struct model *m, const char *local,
		       struct l2_plan *p)
{
	char *pools[ARRAY_SIZE(sc->svcs)][MAXN];
	size_t npools[ARRAY_SIZE(sc->svcs)] = {0};
	plan(sc, m, local, p, pools, npools);
	free_pool_store(pools, npools, count_svcs(sc));
}

static void remove_node(struct model *m, const char *name)
{
	for (size_t i = 0; i < m->nnodes; i++) {
		if (strcmp(m->nodes[i].meta.name, name) != 0)
			continue;
		free(m->nodes[i].meta.name);
		labels_free(&m->nodes[i].meta.labels);
		memmove(&m->nodes[i], &m->nodes[i + 1], (m->nnodes - i - 1) * sizeof(m->nodes[0]));
		m->nnodes--;
		return;
	}
	fail_msg("no node %s", name);
}

static void test_failover(void **state)
{
	(void)state;
	struct model m = build(&five_nodes);
	struct l2_plan before, after, back;
	plan_model(&five_nodes, &m, NULL, &before);
	assert_int_equal(before.n, 5);
	for (size_t i = 0; i < before.n; i++) {
		const struct l2_entry *e = &before.entries[i];
		assert_int_equal(e->ncandidates, 5);
		assert_string_equal(e->owner, e->candidates[0]);
	}

	/* The owner of the first entry leaves: the next candidate takes over
	 * (and, planning as that node, finds the address is now its own), the
	 * others keep their order. */
	char *gone = xstrdup(before.entries[0].owner);
	const char *next = before.entries[0].candidates[1];
	remove_node(&m, gone);
	plan_model(&five_nodes, &m, next, &after);
	assert_int_equal(after.n, before.n);
	assert_true(after.entries[0].here);
	for (size_t i = 0; i < after.n; i++) {
		const struct l2_entry *b = &before.entries[i], *a = &after.entries[i];
		assert_int_equal(a->ncandidates, 4);
		size_t k = 0;
		for (size_t j = 0; j < b->ncandidates; j++) {
			if (strcmp(b->candidates[j], gone) == 0)
				continue;
			assert_string_equal(a->candidates[k], b->candidates[j]);
			k++;
		}
		if (strcmp(b->owner, gone) == 0)
			assert_string_equal(a->owner, b->candidates[1]);
		else
			assert_string_equal(a->owner, b->owner);
	}

	/* It comes back: the election gives it its addresses again. */
	add_node(&m, &(struct node_spec){.name = gone});
	plan_model(&five_nodes, &m, next, &back);
	assert_false(back.entries[0].here);
	assert_int_equal(back.n, before.n);
	for (size_t i = 0; i < back.n; i++)
		assert_string_equal(back.entries[i].owner, before.entries[i].owner);

	/* NetworkUnavailable has the same effect as leaving. */
	for (size_t i = 0; i < m.nnodes; i++)
		if (strcmp(m.nodes[i].meta.name, gone) == 0)
			m.nodes[i].network_unavailable = true;
	l2_plan_free(&back);
	plan_model(&five_nodes, &m, next, &back);
	for (size_t i = 0; i < back.n; i++)
		assert_string_equal(back.entries[i].owner, after.entries[i].owner);

	free(gone);
	l2_plan_free(&before);
	l2_plan_free(&after);
	l2_plan_free(&back);
	model_free(&m);
}

/* Every node computes the same plan; exactly one says `here`. */
static void test_nodes_agree(void **state)
{
	(void)state;
	struct model m = build(&five_nodes);
	struct l2_plan ref;
	plan_model(&five_nodes, &m, NULL, &ref);
	for (size_t i = 0; i < ref.n; i++)
		assert_false(ref.entries[i].here);
	size_t *heres = xcalloc(ref.n, sizeof(*heres));
	for (size_t k = 0; k < m.nnodes; k++) {
		const char *local = m.nodes[k].meta.name;
		struct l2_plan p;
		plan_model(&five_nodes, &m, local, &p);
		assert_int_equal(p.n, ref.n);
		for (size_t i = 0; i < p.n; i++) {
			assert_string_equal(p.entries[i].owner, ref.entries[i].owner);
			assert_int_equal(p.entries[i].here,
					 strcmp(ref.entries[i].owner, local) == 0);
			heres[i] += p.entries[i].here;
		}
		l2_plan_free(&p);
	}
	for (size_t i = 0; i < ref.n; i++)
		assert_int_equal(heres[i], 1);
	/* Both addresses of the dual-stack Service go to one node. */
	const char *d_owner = NULL;
	for (size_t i = 0; i < ref.n; i++) {
		if (strcmp(ref.entries[i].service, "default/d") != 0)
			continue;
		if (d_owner)
			assert_string_equal(ref.entries[i].owner, d_owner);
		d_owner = ref.entries[i].owner;
	}
	assert_non_null(d_owner);
	free(heres);
	l2_plan_free(&ref);
	model_free(&m);
}

/* The order of Node objects and Services in the input changes nothing. */
static void test_input_order(void **state)
{
	(void)state;
	struct model m = build(&five_nodes);
	struct l2_plan a, b;
	plan_model(&five_nodes, &m, "n2", &a);
	for (size_t i = 0; i < m.nnodes / 2; i++) {
		struct node_obj t = m.nodes[i];
		m.nodes[i] = m.nodes[m.nnodes - 1 - i];
		m.nodes[m.nnodes - 1 - i] = t;
	}
	/* Services given in reverse. */
	size_t n = count_svcs(&five_nodes);
	struct announce_svc in[ARRAY_SIZE(five_nodes.svcs)];
	char *pools[ARRAY_SIZE(five_nodes.svcs)][MAXN];
	size_t npools[ARRAY_SIZE(five_nodes.svcs)];
	for (size_t i = 0; i < n; i++) {
		svc_input(&m, n - 1 - i, &five_nodes.svcs[n - 1 - i], &in[i], pools[i]);
		npools[i] = in[i].naddrs;
	}
	assert_int_equal(announce_l2(&m, "n2", in, n, &b), 0);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		assert_true(ip_eq(&a.entries[i].addr, &b.entries[i].addr));
		assert_string_equal(a.entries[i].service, b.entries[i].service);
		assert_string_equal(a.entries[i].owner, b.entries[i].owner);
		assert_int_equal(a.entries[i].here, b.entries[i].here);
		for (size_t k = 0; k < a.entries[i].ncandidates; k++)
			assert_string_equal(a.entries[i].candidates[k], b.entries[i].candidates[k]);
	}
	free_pool_store(pools, npools, n);
	l2_plan_free(&a);
	l2_plan_free(&b);
	model_free(&m);
}

/* Duplicate Node objects count once; an empty input plans nothing. */
static void test_edges(void **state)
{
	(void)state;
	struct model m;
	model_init(&m, NULL);
	struct l2_plan p;
	assert_int_equal(announce_l2(&m, "n1", NULL, 0, &p), 0);
	assert_int_equal(p.n, 0);
	l2_plan_free(&p);

	add_node(&m, &(struct node_spec){.name = "n1"});
	add_node(&m, &(struct node_spec){.name = "n1", .excluded = true});
	add_pool(&m, &(struct pool_spec){.name = "pool-a"});
	add_adv(&m, &(struct adv_spec){.name = "all"});
	add_service(&m, &(struct svc_spec){.ns = "default", .name = "web"});
	struct announce_svc in[3] = {
		{.svc = &m.services[0], .naddrs = 1, .addrs = {addr_of("10.0.0.1")},
		 .pools = {"pool-a"}},
		/* no address, unknown pool: nothing */
		{.svc = &m.services[0], .naddrs = 0},
		{.svc = &m.services[0], .naddrs = 1, .addrs = {addr_of("10.0.0.2")},
		 .pools = {"nope"}},
	};
	assert_int_equal(announce_l2(&m, "n1", in, 3, &p), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.entries[0].ncandidates, 1);
	assert_string_equal(p.entries[0].owner, "n1");
	assert_true(p.entries[0].here);
	l2_plan_free(&p);
	model_free(&m);
}

/* ------------------------------------------------------------------ */
/* scale: 10,000 Services x 10 nodes x 10 advertisements */

static void test_scale(void **state)
{
	(void)state;
	enum { NSVC = 10000, NNODE = 10, NADV = 10 };
	struct model m;
	model_init(&m, NULL);
	for (int i = 0; i < NNODE; i++) {
		char name[32], labels[64];
		snprintf(name, sizeof(name), "node-%d", i);
		snprintf(labels, sizeof(labels), "zone=z%d,rack=r%d", i % 3, i);
		add_node(&m, &(struct node_spec){.name = name, .labels = labels});
	}
	add_pool(&m, &(struct pool_spec){.name = "pool-a", .labels = "tier=front"});
	add_pool(&m, &(struct pool_spec){.name = "pool-b"});
	for (int i = 0; i < NADV; i++) {
		char name[32], nodesel[32], svcsel[32], ifc[32];
		snprintf(name, sizeof(name), "adv-%d", i);
		snprintf(nodesel, sizeof(nodesel), "zone=z%d", i % 3);
		snprintf(svcsel, sizeof(svcsel), "app=a%d", i % 4);
		snprintf(ifc, sizeof(ifc), "eth%d", i % 3);
		add_adv(&m, &(struct adv_spec){.name = name,
					       .pool_sels = i % 2 ? "tier=front" : NULL,
					       .node_sels = nodesel,
					       .svc_sels = i % 5 == 0 ? svcsel : NULL,
					       .ifaces = ifc});
	}
	for (int i = 0; i < NSVC; i++) {
		char name[32], labels[32];
		snprintf(name, sizeof(name), "svc-%05d", i);
		snprintf(labels, sizeof(labels), "app=a%d", i % 7);
		add_service(&m, &(struct svc_spec){.ns = "default", .name = name, .labels = labels,
						   .local = i % 10 == 0});
	}
	for (int i = 0; i < NSVC; i += 10) {
		char svc[32], eps[64];
		snprintf(svc, sizeof(svc), "svc-%05d", i);
		snprintf(eps, sizeof(eps), "node-%d:r,node-%d:r", i % NNODE, (i / 10) % NNODE);
		add_slice(&m, &(struct slice_spec){.ns = "default", .service = svc, .eps = eps},
			  (size_t)i);
	}
	struct announce_svc *in = xcalloc(NSVC, sizeof(*in));
	for (int i = 0; i < NSVC; i++) {
		in[i].svc = &m.services[i];
		in[i].naddrs = 2;
		in[i].addrs[0] = ip_v4(0x0a000000u + (uint32_t)i);
		in[i].addrs[1] = addr_of("2001:db8::");
		in[i].addrs[1].v += (u128)i;
		in[i].pools[0] = in[i].pools[1] = i % 2 ? "pool-a" : "pool-b";
	}
	double t0 = now_s();
	struct l2_plan p;
	assert_int_equal(announce_l2(&m, "node-0", in, NSVC, &p), 0);
	double t1 = now_s();
	print_message("      10000 Services x %d nodes x %d advertisements: %zu entries in "
		      "%.1f ms\n",
		      NNODE, NADV, p.n, (t1 - t0) * 1e3);
	assert_int_equal(p.n, 2 * NSVC);
	for (size_t i = 1; i < p.n; i++)
		assert_true(ip_cmp(&p.entries[i - 1].addr, &p.entries[i].addr) < 0);
	for (size_t i = 0; i < p.n; i++)
		assert_true(p.entries[i].ncandidates > 0);
	l2_plan_free(&p);
	free(in);
	model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_election_key),
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_nodes_agree),
		cmocka_unit_test(test_input_order),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_scale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
