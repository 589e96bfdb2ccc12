/*
 * The incremental planners (l2_planner, bgp_planner) on a small case that
 * reads as a story: an aggregated BGP prefix shared by two Services stays
 * announced while either holds an address under it and is withdrawn with
 * the last; Layer 2 entries come and go with their Service.  After every
 * step the plan equals announce_l2()/announce_bgp() over the same inputs.
 * (tests/unit/test_incremental.c checks the same property on random
 * sequences of changes.)
 */
#include "test_model_helpers.h"

#include "announce/announce.h"
#include "announce/bgp_plan.h"

static const char config[] =
	"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
	"metadata: {name: p, namespace: metallb-system}\n"
	"spec: {addresses: [10.0.0.0/24]}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\n"
	"metadata: {name: agg, namespace: metallb-system}\n"
	"spec: {aggregationLength: 24}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
	"metadata: {name: l2, namespace: metallb-system}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta2\nkind: BGPPeer\n"
	"metadata: {name: router, namespace: metallb-system}\n"
	"spec: {myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1}\n"
	"---\n"
	"apiVersion: v1\nkind: Node\nmetadata: {name: n0}\n"
	"---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: web}\n"
	"spec: {type: LoadBalancer}\n"
	"---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: web}\n"
	"spec: {type: LoadBalancer}\n";

static struct announce_svc alloc_of(const struct model *m, const char *name, const char *ip)
{
	struct announce_svc as = {.svc = model_find_service(m, "web", name)};
	assert_non_null(as.svc);
	if (ip) {
		char why[64];
		assert_int_equal(ip_parse(ip, &as.addrs[0], why, sizeof(why)), 0);
		as.naddrs = 1;
		as.pools[0] = "p";
	}
	return as;
}

/* The routes of the one session as "prefix svc,svc;...". */
static char *routes(const struct bgp_plan *p)
{
	char *s = xstrdup("");
	assert_int_equal(p->nsessions, 1);
	for (size_t i = 0; i < p->sessions[0].nroutes; i++) {
		const struct bgp_route *r = &p->sessions[0].routes[i];
		char b[IP_STR_MAX];
		struct ip_prefix pf = bgp_prefix_unpack(&r->prefix);
		char *t = xasprintf("%s%s/%u", s, ip_format(&pf.addr, b), pf.len);
		free(s);
		s = t;
		for (size_t k = 0; k < r->nservices; k++) {
			t = xasprintf("%s %s", s, r->services[k]);
			free(s);
			s = t;
		}
		t = xasprintf("%s;", s);
		free(s);
		s = t;
	}
	return s;
}

static char *entries(const struct l2_plan *p)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < p->n; i++) {
		char b[IP_STR_MAX];
		char *t = xasprintf("%s%s %s %s;", s, ip_format(&p->entries[i].addr, b),
				    p->entries[i].service, p->entries[i].owner);
		free(s);
		s = t;
	}
	return s;
}

/* The planners' plans equal the whole-plan functions' and read as wanted. */
static void expect(const struct model *m, struct l2_planner *l2, struct bgp_planner *bgp,
		   const struct announce_svc *all, size_t nall, const char *want_routes,
		   const char *want_entries)
{
	struct bgp_plan full_bgp;
	struct l2_plan full_l2;
	announce_bgp(m, "n0", all, nall, &full_bgp);
	announce_l2(m, "n0", all, nall, &full_l2);
	char *a = routes(bgp_planner_plan(bgp)), *b = routes(&full_bgp);
	assert_string_equal(a, b);
	assert_string_equal(a, want_routes);
	free(a);
	free(b);
	a = entries(l2_planner_plan(l2));
	b = entries(&full_l2);
	assert_string_equal(a, b);
	assert_string_equal(a, want_entries);
	free(a);
	free(b);
	bgp_plan_free(&full_bgp);
	l2_plan_free(&full_l2);
}

/* Both planners take one change; then as expect(). */
static void update(const struct model *m, struct l2_planner *l2, struct bgp_planner *bgp,
		   struct announce_change ch, const struct announce_svc *all, size_t nall,
		   const char *want_routes, const char *want_entries)
{
	l2_planner_update(l2, m, &ch, 1);
	bgp_planner_update(bgp, m, &ch, 1);
	expect(m, l2, bgp, all, nall, want_routes, want_entries);
}

static void test_shared_aggregate(void **state)
{
	(void)state;
	struct loaded l;
	load_yaml(&l, NULL, config, true);
	assert_int_equal(diag_count(&l.d, DIAG_ERROR), 0);
	const struct model *m = &l.m;
	struct l2_planner *l2 = l2_planner_new("n0");
	struct bgp_planner *bgp = bgp_planner_new("n0");

	struct announce_svc all[2] = {alloc_of(m, "a", "10.0.0.1"), alloc_of(m, "b", NULL)};
	l2_planner_reset(l2, m, all, 2);
	bgp_planner_reset(bgp, m, all, 2);
	expect(m, l2, bgp, all, 2, "10.0.0.0/24 web/a;", "10.0.0.1 web/a n0;");

	/* b gets an address under the same /24: one route, two Services. */
	all[1] = alloc_of(m, "b", "10.0.0.2");
	update(m, l2, bgp, (struct announce_change){.ns = "web", .name = "b", .as = all[1]}, all,
	       2, "10.0.0.0/24 web/a web/b;", "10.0.0.1 web/a n0;10.0.0.2 web/b n0;");

	/* a is deleted: the route stays, for b alone. */
	update(m, l2, bgp, (struct announce_change){.ns = "web", .name = "a"}, &all[1], 1,
	       "10.0.0.0/24 web/b;", "10.0.0.2 web/b n0;");

	/* b loses its address: the route is withdrawn. */
	all[1] = alloc_of(m, "b", NULL);
	update(m, l2, bgp, (struct announce_change){.ns = "web", .name = "b", .as = all[1]},
	       &all[1], 1, "", "");

	l2_planner_free(l2);
	bgp_planner_free(bgp);
	unload(&l);
}

/* A Service planned again with its address unchanged (its EndpointSlices
 * changed): its entry is replaced where it stands, the plan reads the
 * same, and the old block is freed (under ASan, a leak or a read of it
 * fails).  One whose address moves leaves its old place. */
static void test_replan_in_place(void **state)
{
	(void)state;
	struct loaded l;
	load_yaml(&l, NULL, config, true);
	const struct model *m = &l.m;
	struct l2_planner *l2 = l2_planner_new("n0");
	struct bgp_planner *bgp = bgp_planner_new("n0");
	struct announce_svc all[2] = {alloc_of(m, "a", "10.0.0.1"), alloc_of(m, "b", "10.0.0.3")};
	l2_planner_reset(l2, m, all, 2);
	bgp_planner_reset(bgp, m, all, 2);
	for (int round = 0; round < 3; round++)
		update(m, l2, bgp, (struct announce_change){.ns = "web", .name = "a", .as = all[0]},
		       all, 2, "10.0.0.0/24 web/a web/b;", "10.0.0.1 web/a n0;10.0.0.3 web/b n0;");
	/* a moves past b: out of its old place, into its new one. */
	all[0] = alloc_of(m, "a", "10.0.0.5");
	update(m, l2, bgp, (struct announce_change){.ns = "web", .name = "a", .as = all[0]}, all, 2,
	       "10.0.0.0/24 web/a web/b;", "10.0.0.3 web/b n0;10.0.0.5 web/a n0;");
	l2_planner_free(l2);
	bgp_planner_free(bgp);
	unload(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_aggregate),
		cmocka_unit_test(test_replan_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
