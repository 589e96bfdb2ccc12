/*
 * libFuzzer harness for the ARP and NDP frame parsers (l2/frame.h).
 *
 * Every input goes to both parsers.  An accepted ARP request or Neighbor
 * Solicitation is answered with the builders, both into a growable writer
 * and into a fixed one whose size the input's first byte picks, and the
 * answers are checked: an ARP reply must parse back as the reply it was
 * meant to be, and a writer must never report more bytes than it holds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "l2/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t our_mac[L2_MAC_LEN] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01 };

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_writer(const struct wbuf *w)
{
	check(w->len <= w->cap);
	check(!wbuf_ok(w) || w->len <= L2_FRAME_MAX);
}

static void fuzz_arp(const uint8_t *data, size_t size, size_t cap)
{
	struct arp_msg m, back;
	enum l2_result why;
	uint8_t fixed[L2_FRAME_MAX];
	struct wbuf w;

	if (arp_parse(data, size, &m, &why) != 0) {
		check(why != L2_OK && why < L2_RESULT_COUNT);
		check(l2_result_str(why) != NULL);
		return;
	}
	check(why == L2_OK);
	check(m.spa.family == IP_FAMILY_V4 && m.tpa.family == IP_FAMILY_V4);

	wbuf_init_dyn(&w, 0);
	if (m.op == ARP_OP_REQUEST) {
		check(arp_build_reply(&w, &m, our_mac, &m.tpa) == 0);
		check(arp_parse(w.p, w.len, &back, &why) == 0);
		check(back.op == ARP_OP_REPLY);
		check(ip_eq(&back.spa, &m.tpa) && ip_eq(&back.tpa, &m.spa));
		check(memcmp(back.tha, m.sha, L2_MAC_LEN) == 0);
		check(back.eth.has_vlan == m.eth.has_vlan && back.eth.vlan_tci == m.eth.vlan_tci);

		struct wbuf f;
		wbuf_init_fixed(&f, fixed, cap);
		int rc = arp_build_reply(&f, &m, our_mac, &m.tpa);
		check(rc == (cap >= w.len ? 0 : -1));
		check_writer(&f);
		if (rc == 0)
			check(f.len == w.len && memcmp(fixed, w.p, w.len) == 0);
	} else {
		check(arp_build_reply(&w, &m, our_mac, &m.tpa) == -1);
	}
	for (int op = ARP_OP_REQUEST; op <= ARP_OP_REPLY; op++) {
		wbuf_reset(&w);
		check(arp_build_gratuitous(&w, op, our_mac, &m.spa) == 0);
		check(arp_parse(w.p, w.len, &back, NULL) == 0);
	}
	check_writer(&w);
	wbuf_free(&w);
}

static void fuzz_ndp(const uint8_t *data, size_t size, size_t cap)
{
	static const uint8_t ll[16] = { 0xfe, 0x80, [15] = 0x01 };
	struct ip_addr src = ip_from_bytes(IP_FAMILY_V6, ll);
	struct ndp_ns ns;
	enum l2_result why;
	uint8_t fixed[L2_FRAME_MAX];
	struct wbuf w, f;

	if (ndp_parse_ns(data, size, &ns, &why) != 0) {
		check(why != L2_OK && why < L2_RESULT_COUNT);
		check(l2_result_str(why) != NULL);
		return;
	}
	check(why == L2_OK);

	wbuf_init_dyn(&w, 0);
	check(ndp_build_na(&w, &ns, our_mac, &src) == 0);
	check(w.len == (ns.eth.has_vlan ? 90u : 86u));
	wbuf_init_fixed(&f, fixed, cap);
	int rc = ndp_build_na(&f, &ns, our_mac, &src);
	check(rc == (cap >= w.len ? 0 : -1));
	check_writer(&f);
	if (rc == 0)
		check(memcmp(fixed, w.p, w.len) == 0);

	/* The target can be announced after a takeover as well. */
	wbuf_reset(&w);
	rc = ndp_build_unsolicited_na(&w, our_mac, &src, &ns.target);
	check(rc == 0);
	check_writer(&w);

	struct ip_addr sn;
	uint8_t mac[L2_MAC_LEN];
	check(ndp_solicited_node(&ns.target, &sn) == 0);
	check(ndp_is_solicited_node(&sn));
	check(ndp_multicast_mac(&sn, mac) == 0);
	wbuf_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap = size ? data[0] % (L2_FRAME_MAX + 1) : 0;

	fuzz_arp(data, size, cap);
	fuzz_ndp(data, size, cap);

	/* MAC text: any NUL-terminated prefix of the input. */
	char text[32];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	uint8_t mac[L2_MAC_LEN];
	if (l2_mac_parse(text, mac) == 0) {
		char buf[L2_MAC_STR_MAX];
		uint8_t again[L2_MAC_LEN];
		check(l2_mac_parse(l2_mac_format(mac, buf), again) == 0);
		check(memcmp(mac, again, L2_MAC_LEN) == 0);
	}
	return 0;
}
