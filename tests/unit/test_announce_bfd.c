/*
 * Tests for BFD session planning (announce/bfd_plan.h): MetalLB manifests
 * through the decoder and validator, the BGP plan of a node, and the BFD
 * sessions that follow from it: only peers with a bfdProfile, the
 * profile's fields and MetalLB's defaults, the hop mode from
 * ebgpMultiHop, the source address and VRF, nodeSelectors respected (a
 * peer not selecting this node has no BGP session, so no BFD session),
 * and an unnumbered peer left out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "announce_fixtures.h"

#include "announce/bfd_plan.h"
#include "announce/bgp_plan.h"
#include "test_model_helpers.h"

static const char yaml[] =
	"apiVersion: metallb.io/v1beta1\n"
	"kind: BFDProfile\n"
	"metadata: {name: fast, namespace: metallb-system}\n"
	"spec:\n"
	"  receiveInterval: 50\n"
	"  transmitInterval: 60\n"
	"  detectMultiplier: 4\n"
	"  echoInterval: 70\n"
	"  echoMode: true\n"
	"  passiveMode: true\n"
	"  minimumTtl: 250\n"
	"---\n"
	"apiVersion: metallb.io/v1beta1\n"
	"kind: BFDProfile\n"
	"metadata: {name: defaults, namespace: metallb-system}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta2\n"
	"kind: BGPPeer\n"
	"metadata: {name: a-single, namespace: metallb-system}\n"
	"spec: {myASN: 64500, peerASN: 64501, peerAddress: 192.168.1.1, bfdProfile: fast,\n"
	"       sourceAddress: 192.168.1.10}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta2\n"
	"kind: BGPPeer\n"
	"metadata: {name: b-multi, namespace: metallb-system}\n"
	"spec: {myASN: 64500, peerASN: 64502, peerAddress: \"2001:db8:2::1\",\n"
	"       bfdProfile: defaults, ebgpMultiHop: true, vrf: red}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta2\n"
	"kind: BGPPeer\n"
	"metadata: {name: c-nobfd, namespace: metallb-system}\n"
	"spec: {myASN: 64500, peerASN: 64503, peerAddress: 192.168.1.3}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta2\n"
	"kind: BGPPeer\n"
	"metadata: {name: d-elsewhere, namespace: metallb-system}\n"
	"spec:\n"
	"  myASN: 64500\n"
	"  peerASN: 64504\n"
	"  peerAddress: 192.168.1.4\n"
	"  bfdProfile: fast\n"
	"  nodeSelectors:\n"
	"  - matchLabels: {rack: r9}\n";

static void test_sessions_from_peers(void **state)
{
	(void)state;
	struct loaded l;
	struct bgp_plan bgp;
	struct bfd_plan p;

	load_yaml(&l, "bfd.yaml", yaml, true);
	for (size_t i = 0; i < l.d.n; i++)
		if (l.d.items[i].level == DIAG_ERROR) {
			print_diags(&l.d);
			fail_msg("the manifests do not validate");
		}
	assert_int_equal(announce_bgp(&l.m, "worker-1", NULL, 0, &bgp), 0);
	assert_int_equal(bgp.nsessions, 3);
	assert_int_equal(announce_bfd(&l.m, &bgp, &p), 0);
	assert_int_equal(p.n, 2);

	const struct bfd_session_cfg *a = &p.v[0];
	assert_string_equal(a->name, "a-single");
	assert_string_equal(a->profile, "fast");
	{
		struct ip_addr want = addr_of("192.168.1.1"), src = addr_of("192.168.1.10");
		assert_true(ip_eq(&a->peer, &want));
		assert_true(a->has_local);
		assert_true(ip_eq(&a->local, &src));
	}
	assert_false(a->multihop);
	assert_null(a->vrf);
	assert_null(a->interface);
	assert_int_equal(a->rx_interval_ms, 50);
	assert_int_equal(a->tx_interval_ms, 60);
	assert_int_equal(a->detect_mult, 4);
	assert_int_equal(a->echo_interval_ms, 70);
	assert_true(a->echo_mode);
	assert_true(a->passive_mode);
	assert_int_equal(a->minimum_ttl, 250);

	const struct bfd_session_cfg *b = &p.v[1];
	assert_string_equal(b->name, "b-multi");
	assert_string_equal(b->profile, "defaults");
	{
		struct ip_addr want = addr_of("2001:db8:2::1");
		assert_true(ip_eq(&b->peer, &want));
	}
	assert_false(b->has_local);
	assert_true(b->multihop);
	assert_string_equal(b->vrf, "red");
	/* MetalLB's defaults. */
	assert_int_equal(b->rx_interval_ms, 300);
	assert_int_equal(b->tx_interval_ms, 300);
	assert_int_equal(b->detect_mult, 3);
	assert_int_equal(b->echo_interval_ms, 50);
	assert_false(b->echo_mode);
	assert_false(b->passive_mode);
	assert_int_equal(b->minimum_ttl, 254);

	/* The plan is the same whenever the inputs are: bfd_set() sees no
	 * difference. */
	struct bfd_plan q;
	assert_int_equal(announce_bfd(&l.m, &bgp, &q), 0);
	assert_int_equal(q.n, p.n);
	for (size_t i = 0; i < p.n; i++)
		assert_false(bfd_session_cfg_differs(&p.v[i], &q.v[i]));
	bfd_plan_free(&q);

	bfd_plan_free(&p);
	assert_int_equal(p.n, 0);
	bgp_plan_free(&bgp);
	unload(&l);
}

static void test_no_sessions(void **state)
{
	(void)state;
	struct loaded l;
	struct bgp_plan bgp = { 0 };
	struct bfd_plan p;

	load_yaml(&l, "empty.yaml", "", true);
	assert_int_equal(announce_bfd(&l.m, &bgp, &p), 0);
	assert_int_equal(p.n, 0);
	assert_null(p.v);
	bfd_plan_free(&p);
	unload(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sessions_from_peers),
		cmocka_unit_test(test_no_sessions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
