/*
 * Unit tests for ARP and NDP frames (l2/frame.h): raw byte vectors written
 * out from the RFC 826 / RFC 4861 layouts, every refusal reason, and
 * build-then-parse round trips.  The ICMPv6 checksums in the vectors are
 * checked against a separate, deliberately naive routine below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "l2/frame.h"

/* The requester / solicitor, and this node. */
static const uint8_t mac_a[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t mac_b[6] = { 0x02, 0x42, 0xac, 0x11, 0x00, 0x02 };

static struct ip_addr addr(const char *s)
{
	struct ip_addr a;
	char why[128];

	if (ip_parse(s, &a, why, sizeof(why)) != 0)
		fail_msg("ip_parse(%s): %s", s, why);
	return a;
}

static void assert_ip(const struct ip_addr *got, const char *want)
{
	struct ip_addr w = addr(want);
	char buf[IP_STR_MAX];

	if (!ip_eq(got, &w))
		fail_msg("address %s, want %s", ip_format(got, buf), want);
}

static void assert_frame(const struct wbuf *w, const uint8_t *want, size_t len)
{
	assert_true(wbuf_ok(w));
	if (w->len != len)
		fail_msg("built %zu bytes, want %zu", w->len, len);
	for (size_t i = 0; i < len; i++)
		if (w->p[i] != want[i])
			fail_msg("byte %zu is 0x%02x, want 0x%02x", i, w->p[i], want[i]);
}

/* ------------------------------------------------------------------ */
/* ARP vectors (RFC 826 "Packet format"), padded to 60 bytes (RFC 894). */

/* who-has 192.0.2.10 tell 192.0.2.1, broadcast. */
static const uint8_t arp_request[60] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff,     /* Ethernet destination */
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,     /* Ethernet source */
	0x08, 0x06,                             /* EtherType ARP */
	0x00, 0x01,                             /* ar$hrd Ethernet */
	0x08, 0x00,                             /* ar$pro IPv4 */
	0x06, 0x04,                             /* ar$hln, ar$pln */
	0x00, 0x01,                             /* ar$op request */
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,     /* ar$sha */
	0xc0, 0x00, 0x02, 0x01,                 /* ar$spa 192.0.2.1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00,     /* ar$tha */
	0xc0, 0x00, 0x02, 0x0a,                 /* ar$tpa 192.0.2.10 */
	/* 18 bytes of padding */
};

/* Our answer to arp_request. */
static const uint8_t arp_reply[60] = {
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
	0x08, 0x06,
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
	0x00, 0x02,                             /* reply */
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02,     /* sha: us */
	0xc0, 0x00, 0x02, 0x0a,                 /* spa: the service address */
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,     /* tha: the requester */
	0xc0, 0x00, 0x02, 0x01,                 /* tpa */
};

/* arp_request with an 802.1Q tag, VLAN 100, priority 5, unpadded. */
static const uint8_t arp_request_vlan[46] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	0x81, 0x00, 0xa0, 0x64,                 /* TPID, TCI */
	0x08, 0x06,
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0x00, 0x02, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x0a,
};

static const uint8_t arp_reply_vlan[64] = {
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
	0x81, 0x00, 0xa0, 0x64,
	0x08, 0x06,
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0xc0, 0x00, 0x02, 0x0a,
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0x00, 0x02, 0x01,
};

static const uint8_t garp_request[60] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
	0x08, 0x06,
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0xc0, 0x00, 0x02, 0x0a,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x0a,
};

static const uint8_t garp_reply[60] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
	0x08, 0x06,
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0xc0, 0x00, 0x02, 0x0a,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0, 0x00, 0x02, 0x0a,
};

/* ------------------------------------------------------------------ */
/* NDP vectors (RFC 8200 §3 header, RFC 4861 §4.3 / §4.4 messages). */

#define IP6 14
#define IP6_PLEN (IP6 + 4)
#define IP6_NEXT (IP6 + 6)
#define IP6_HOPS (IP6 + 7)
#define IP6_SRC (IP6 + 8)
#define IP6_DST (IP6 + 24)
#define ICMP (IP6 + 40)
#define ICMP_CKSUM (ICMP + 2)
#define NS_TARGET (ICMP + 8)
#define NS_OPT (ICMP + 24)

/* 2001:db8::1 asks for 2001:db8::10 at its solicited-node group, with a
 * source link-layer address option. */
static const uint8_t ns_sllao[86] = {
	0x33, 0x33, 0xff, 0x00, 0x00, 0x10,
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	0x86, 0xdd,
	0x60, 0x00, 0x00, 0x00,                 /* version 6 */
	0x00, 0x20,                             /* payload length 32 */
	0x3a, 0xff,                             /* ICMPv6, hop limit 255 */
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x10,
	0x87, 0x00, 0x97, 0x4f,                 /* NS, code 0, checksum */
	0x00, 0x00, 0x00, 0x00,                 /* reserved */
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x01, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
};

/* Unicast reachability probe for 2001:db8::10, no option. */
static const uint8_t ns_unicast[78] = {
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	0x86, 0xdd,
	0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x3a, 0xff,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x87, 0x00, 0xef, 0x60,
	0x00, 0x00, 0x00, 0x00,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* Duplicate Address Detection for 2001:db8::10: from ::, no option. */
static const uint8_t ns_dad[78] = {
	0x33, 0x33, 0xff, 0x00, 0x00, 0x10,
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	0x86, 0xdd,
	0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x3a, 0xff,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x10,
	0x87, 0x00, 0x4c, 0xcf,
	0x00, 0x00, 0x00, 0x00,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* Our answer to ns_sllao from fe80::42:acff:fe11:2: Solicited only. */
static const uint8_t na_solicited[86] = {
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
	0x86, 0xdd,
	0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
	0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x42, 0xac, 0xff, 0xfe, 0x11, 0x00, 0x02,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x88, 0x00, 0x81, 0xf4,                 /* NA, code 0, checksum */
	0x40, 0x00, 0x00, 0x00,                 /* R=0 S=1 O=0 */
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x02, 0x01, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02, /* TLLA */
};

/* Our answer to ns_dad: to all-nodes, no flag. */
static const uint8_t na_dad[86] = {
	0x33, 0x33, 0x00, 0x00, 0x00, 0x01,
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
	0x86, 0xdd,
	0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
	0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x42, 0xac, 0xff, 0xfe, 0x11, 0x00, 0x02,
	0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x88, 0x00, 0xf0, 0xaa,
	0x00, 0x00, 0x00, 0x00,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x02, 0x01, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
};

/* Takeover announcement for 2001:db8::10: Override only. */
static const uint8_t na_unsolicited[86] = {
	0x33, 0x33, 0x00, 0x00, 0x00, 0x01,
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
	0x86, 0xdd,
	0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
	0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x42, 0xac, 0xff, 0xfe, 0x11, 0x00, 0x02,
	0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x88, 0x00, 0xd0, 0xaa,
	0x20, 0x00, 0x00, 0x00,                 /* R=0 S=0 O=1 */
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x02, 0x01, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
};

/*
 * The ICMPv6 checksum the plain way (RFC 4443 §2.3): lay the pseudo-header
 * (RFC 8200 §8.1) and the message side by side in one array, add up the
 * 16-bit words, fold the carries, complement.  ip6 points at an IPv6 header
 * without extension headers; msg has its checksum field zeroed.
 */
static uint16_t ref_checksum(const uint8_t *ip6, const uint8_t *msg, size_t len)
{
	uint8_t buf[40 + 512 + 1] = { 0 };
	uint32_t sum = 0;

	assert_true(len <= 512);
	memcpy(buf, ip6 + 8, 32);
	buf[32] = (uint8_t)(len >> 24);
	buf[33] = (uint8_t)(len >> 16);
	buf[34] = (uint8_t)(len >> 8);
	buf[35] = (uint8_t)len;
	buf[39] = 58;
	memcpy(buf + 40, msg, len);
	for (size_t i = 0; i < 40 + len; i += 2)
		sum += (uint32_t)buf[i] << 8 | buf[i + 1];
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Recompute the checksum of an untagged NS/NA frame with no extension
 * header, after a test changed it. */
static void fix_checksum(uint8_t *frame)
{
	size_t len = (size_t)frame[IP6_PLEN] << 8 | frame[IP6_PLEN + 1];
	frame[ICMP_CKSUM] = 0;
	frame[ICMP_CKSUM + 1] = 0;
	uint16_t c = ref_checksum(frame + IP6, frame + ICMP, len);
	frame[ICMP_CKSUM] = (uint8_t)(c >> 8);
	frame[ICMP_CKSUM + 1] = (uint8_t)c;
}

static void test_vector_checksums(void **state)
{
	static const struct {
		const uint8_t *frame;
		size_t len;
	} v[] = {
		{ ns_sllao, sizeof(ns_sllao) }, { ns_unicast, sizeof(ns_unicast) },
		{ ns_dad, sizeof(ns_dad) }, { na_solicited, sizeof(na_solicited) },
		{ na_dad, sizeof(na_dad) }, { na_unsolicited, sizeof(na_unsolicited) },
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		uint8_t f[128];
		memcpy(f, v[i].frame, v[i].len);
		fix_checksum(f);
		if (memcmp(f, v[i].frame, v[i].len) != 0)
			fail_msg("vector %zu: checksum %02x%02x, computed %02x%02x", i,
				 v[i].frame[ICMP_CKSUM], v[i].frame[ICMP_CKSUM + 1], f[ICMP_CKSUM],
				 f[ICMP_CKSUM + 1]);
	}
}

/* ------------------------------------------------------------------ */
/* ARP */

static void test_arp_parse_request(void **state)
{
	struct arp_msg m;
	enum l2_result why = L2_RESULT_COUNT;

	assert_int_equal(arp_parse(arp_request, sizeof(arp_request), &m, &why), 0);
	assert_int_equal(why, L2_OK);
	assert_int_equal(m.op, ARP_OP_REQUEST);
	assert_memory_equal(m.eth.dst, "\xff\xff\xff\xff\xff\xff", 6);
	assert_memory_equal(m.eth.src, mac_a, 6);
	assert_false(m.eth.has_vlan);
	assert_int_equal(m.eth.ethertype, L2_ETHERTYPE_ARP);
	assert_memory_equal(m.sha, mac_a, 6);
	assert_memory_equal(m.tha, "\0\0\0\0\0\0", 6);
	assert_ip(&m.spa, "192.0.2.1");
	assert_ip(&m.tpa, "192.0.2.10");

	/* Without the padding too, and with why not wanted. */
	assert_int_equal(arp_parse(arp_request, 42, &m, NULL), 0);
}

static void test_arp_parse_reply(void **state)
{
	struct arp_msg m;

	assert_int_equal(arp_parse(arp_reply, sizeof(arp_reply), &m, NULL), 0);
	assert_int_equal(m.op, ARP_OP_REPLY);
	assert_memory_equal(m.eth.dst, mac_a, 6);
	assert_memory_equal(m.sha, mac_b, 6);
	assert_memory_equal(m.tha, mac_a, 6);
	assert_ip(&m.spa, "192.0.2.10");
	assert_ip(&m.tpa, "192.0.2.1");
}

static void test_arp_parse_vlan(void **state)
{
	struct arp_msg m;
	enum l2_result why;

	assert_int_equal(arp_parse(arp_request_vlan, sizeof(arp_request_vlan), &m, &why), 0);
	assert_true(m.eth.has_vlan);
	assert_int_equal(m.eth.vlan_tci, 0xa064);
	assert_int_equal(m.eth.vlan_tci & 0xfff, 100);
	assert_int_equal(m.eth.ethertype, L2_ETHERTYPE_ARP);
	assert_ip(&m.tpa, "192.0.2.10");
}

static void test_arp_build_reply(void **state)
{
	struct arp_msg req;
	struct ip_addr a = addr("192.0.2.10");
	uint8_t buf[60];
	struct wbuf w;

	assert_int_equal(arp_parse(arp_request, sizeof(arp_request), &req, NULL), 0);
	wbuf_init_fixed(&w, buf, sizeof(buf));
	assert_int_equal(arp_build_reply(&w, &req, mac_b, &a), 0);
	assert_frame(&w, arp_reply, sizeof(arp_reply));

	/* One byte short of the frame: refused, not truncated. */
	wbuf_init_fixed(&w, buf, sizeof(buf) - 1);
	assert_int_equal(arp_build_reply(&w, &req, mac_b, &a), -1);
	assert_false(wbuf_ok(&w));
}

static void test_arp_build_reply_vlan(void **state)
{
	struct arp_msg req;
	struct ip_addr a = addr("192.0.2.10");
	struct wbuf w;

	assert_int_equal(arp_parse(arp_request_vlan, sizeof(arp_request_vlan), &req, NULL), 0);
	wbuf_init_dyn(&w, 0);
	assert_int_equal(arp_build_reply(&w, &req, mac_b, &a), 0);
	assert_frame(&w, arp_reply_vlan, sizeof(arp_reply_vlan));
	wbuf_free(&w);
}

static void test_arp_build_reply_refuses(void **state)
{
	struct arp_msg req, rep;
	struct ip_addr right = addr("192.0.2.10");
	struct ip_addr other = addr("192.0.2.11");
	struct ip_addr v6 = addr("2001:db8::10");
	static const uint8_t group[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	struct wbuf w;

	assert_int_equal(arp_parse(arp_request, sizeof(arp_request), &req, NULL), 0);
	assert_int_equal(arp_parse(arp_reply, sizeof(arp_reply), &rep, NULL), 0);
	wbuf_init_dyn(&w, 0);
	assert_int_equal(arp_build_reply(&w, &rep, mac_b, &right), -1);
	assert_int_equal(arp_build_reply(&w, &req, mac_b, &other), -1);
	assert_int_equal(arp_build_reply(&w, &req, mac_b, &v6), -1);
	assert_int_equal(arp_build_reply(&w, &req, group, &right), -1);
	assert_int_equal(w.len, 0);
	wbuf_free(&w);
}

static void test_arp_build_gratuitous(void **state)
{
	struct ip_addr a = addr("192.0.2.10");
	struct ip_addr v6 = addr("2001:db8::10");
	struct wbuf w;

	wbuf_init_dyn(&w, 0);
	assert_int_equal(arp_build_gratuitous(&w, ARP_OP_REQUEST, mac_b, &a), 0);
	assert_frame(&w, garp_request, sizeof(garp_request));
	wbuf_reset(&w);
	assert_int_equal(arp_build_gratuitous(&w, ARP_OP_REPLY, mac_b, &a), 0);
	assert_frame(&w, garp_reply, sizeof(garp_reply));
	wbuf_reset(&w);
	assert_int_equal(arp_build_gratuitous(&w, (enum arp_op)3, mac_b, &a), -1);
	assert_int_equal(arp_build_gratuitous(&w, ARP_OP_REQUEST, mac_b, &v6), -1);
	assert_int_equal(w.len, 0);
	wbuf_free(&w);
}

/* What we build, we (and so any peer) parse back to the same fields. */
static void test_arp_round_trip(void **state)
{
	struct ip_addr a = addr("198.51.100.200");
	struct arp_msg m, r;
	struct wbuf w;

	wbuf_init_dyn(&w, 0);
	for (int op = ARP_OP_REQUEST; op <= ARP_OP_REPLY; op++) {
		wbuf_reset(&w);
		assert_int_equal(arp_build_gratuitous(&w, op, mac_b, &a), 0);
		assert_int_equal(arp_parse(w.p, w.len, &m, NULL), 0);
		assert_int_equal(m.op, op);
		assert_memory_equal(m.eth.src, mac_b, 6);
		assert_memory_equal(m.sha, mac_b, 6);
		assert_true(ip_eq(&m.spa, &a));
		assert_true(ip_eq(&m.tpa, &a));
	}

	/* A request for a, answered, parses as the reply to the requester. */
	assert_int_equal(arp_parse(arp_request, sizeof(arp_request), &m, NULL), 0);
	m.tpa = a;
	wbuf_reset(&w);
	assert_int_equal(arp_build_reply(&w, &m, mac_b, &a), 0);
	assert_int_equal(w.len, 60);
	assert_int_equal(arp_parse(w.p, w.len, &r, NULL), 0);
	assert_int_equal(r.op, ARP_OP_REPLY);
	assert_memory_equal(r.eth.dst, mac_a, 6);
	assert_memory_equal(r.tha, mac_a, 6);
	assert_true(ip_eq(&r.spa, &a));
	assert_true(ip_eq(&r.tpa, &m.spa));
	wbuf_free(&w);
}

/* A change to a copy of a vector and the reason it must be refused with. */
struct mutation {
	const char *name;
	size_t off;             /* where bytes go */
	size_t n;               /* how many (0: none) */
	uint8_t bytes[16];
	size_t len;             /* frame length to pass; 0: the whole vector */
	bool fix;               /* recompute the ICMPv6 checksum */
	enum l2_result want;
};

static void run_mutations(const uint8_t *base, size_t base_len, const struct mutation *m, size_t n,
			  bool ndp)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t f[256];
		enum l2_result why = L2_OK;
		struct arp_msg am;
		struct ndp_ns nm;
		int rc;

		memcpy(f, base, base_len);
		memcpy(f + m[i].off, m[i].bytes, m[i].n);
		if (m[i].fix)
			fix_checksum(f);
		size_t len = m[i].len ? m[i].len : base_len;
		if (ndp)
			rc = ndp_parse_ns(f, len, &nm, &why);
		else
			rc = arp_parse(f, len, &am, &why);
		if (rc != -1 || why != m[i].want)
			fail_msg("%s: rc %d why %s, want %s", m[i].name, rc, l2_result_name(why),
				 l2_result_name(m[i].want));
	}
}

static void test_arp_refusals(void **state)
{
	static const struct mutation m[] = {
		{ "13 bytes", .len = 13, .want = L2_ETH_SHORT },
		{ "IPv4 EtherType", 12, 2, { 0x08, 0x00 }, .want = L2_ARP_NOT_ARP },
		{ "IPv6 EtherType", 12, 2, { 0x86, 0xdd }, .want = L2_ARP_NOT_ARP },
		{ "802.3 length", 12, 2, { 0x00, 0x2e }, .want = L2_ARP_NOT_ARP },
		{ "S-tag", 12, 2, { 0x88, 0xa8 }, .want = L2_ARP_NOT_ARP },
		{ "group source", 6, 1, { 0x53 }, .want = L2_ETH_SRC_MULTICAST },
		{ "broadcast source", 6, 6, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		  .want = L2_ETH_SRC_MULTICAST },
		{ "header only", .len = 14, .want = L2_ARP_SHORT },
		{ "7 bytes of ARP", .len = 21, .want = L2_ARP_SHORT },
		{ "27 bytes of ARP", .len = 41, .want = L2_ARP_SHORT },
		{ "htype IEEE 802", 14, 2, { 0x00, 0x06 }, .want = L2_ARP_HTYPE },
		{ "ptype IPv6", 16, 2, { 0x86, 0xdd }, .want = L2_ARP_PTYPE },
		{ "hlen 8", 18, 1, { 8 }, .want = L2_ARP_HLEN },
		{ "plen 16", 19, 1, { 16 }, .want = L2_ARP_PLEN },
		{ "op 0", 20, 2, { 0, 0 }, .want = L2_ARP_OP },
		{ "op 3 (RARP)", 20, 2, { 0, 3 }, .want = L2_ARP_OP },
		{ "op 8 (InARP)", 20, 2, { 0, 8 }, .want = L2_ARP_OP },
		{ "op 0x0101", 20, 2, { 1, 1 }, .want = L2_ARP_OP },
		{ "sha broadcast", 22, 6, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		  .want = L2_ARP_SHA_MULTICAST },
		{ "sha multicast", 22, 1, { 0x01 }, .want = L2_ARP_SHA_MULTICAST },
	};
	/* Length 0 means "the whole vector" in the table. */
	enum l2_result why;
	struct arp_msg am;
	assert_int_equal(arp_parse(arp_request, 0, &am, &why), -1);
	assert_int_equal(why, L2_ETH_SHORT);
	assert_int_equal(arp_parse(NULL, 0, &am, &why), -1);
	assert_int_equal(why, L2_ETH_SHORT);
	run_mutations(arp_request, sizeof(arp_request), m, ARRAY_SIZE(m), false);
}

static void test_arp_refusals_vlan(void **state)
{
	static const struct mutation m[] = {
		{ "tag only", .len = 16, .want = L2_ETH_SHORT },
		{ "tag and half a type", .len = 17, .want = L2_ETH_SHORT },
		{ "two C-tags", 16, 2, { 0x81, 0x00 }, .want = L2_ETH_VLAN_STACKED },
		{ "C-tag then S-tag", 16, 2, { 0x88, 0xa8 }, .want = L2_ETH_VLAN_STACKED },
		{ "IPv6 inside", 16, 2, { 0x86, 0xdd }, .want = L2_ARP_NOT_ARP },
		{ "short ARP inside", .len = 45, .want = L2_ARP_SHORT },
		{ "htype inside", 18, 2, { 0x00, 0x02 }, .want = L2_ARP_HTYPE },
	};
	run_mutations(arp_request_vlan, sizeof(arp_request_vlan), m, ARRAY_SIZE(m), false);
}

/* Every cut of a valid frame is refused, with the reason for where it is
 * cut. */
static void test_arp_every_truncation(void **state)
{
	for (size_t len = 0; len < 42; len++) {
		struct arp_msg m;
		enum l2_result why;
		assert_int_equal(arp_parse(arp_request, len, &m, &why), -1);
		assert_int_equal(why, len < 14 ? L2_ETH_SHORT : L2_ARP_SHORT);
	}
	for (size_t len = 0; len < sizeof(arp_request_vlan); len++) {
		struct arp_msg m;
		enum l2_result why;
		assert_int_equal(arp_parse(arp_request_vlan, len, &m, &why), -1);
		assert_int_equal(why, len < 18 ? L2_ETH_SHORT : L2_ARP_SHORT);
	}
}

/* ------------------------------------------------------------------ */
/* NDP */

static void test_ndp_parse_ns_sllao(void **state)
{
	struct ndp_ns ns;
	enum l2_result why = L2_RESULT_COUNT;

	assert_int_equal(ndp_parse_ns(ns_sllao, sizeof(ns_sllao), &ns, &why), 0);
	assert_int_equal(why, L2_OK);
	assert_memory_equal(ns.eth.dst, "\x33\x33\xff\x00\x00\x10", 6);
	assert_memory_equal(ns.eth.src, mac_a, 6);
	assert_int_equal(ns.eth.ethertype, L2_ETHERTYPE_IPV6);
	assert_ip(&ns.src, "2001:db8::1");
	assert_ip(&ns.dst, "ff02::1:ff00:10");
	assert_ip(&ns.target, "2001:db8::10");
	assert_true(ns.has_sllao);
	assert_memory_equal(ns.sllao, mac_a, 6);
}

static void test_ndp_parse_ns_unicast(void **state)
{
	struct ndp_ns ns;

	assert_int_equal(ndp_parse_ns(ns_unicast, sizeof(ns_unicast), &ns, NULL), 0);
	assert_ip(&ns.src, "2001:db8::1");
	assert_ip(&ns.dst, "2001:db8::10");
	assert_ip(&ns.target, "2001:db8::10");
	assert_false(ns.has_sllao);
}

static void test_ndp_parse_ns_dad(void **state)
{
	struct ndp_ns ns;

	assert_int_equal(ndp_parse_ns(ns_dad, sizeof(ns_dad), &ns, NULL), 0);
	assert_ip(&ns.src, "::");
	assert_ip(&ns.dst, "ff02::1:ff00:10");
	assert_ip(&ns.target, "2001:db8::10");
	assert_false(ns.has_sllao);
}

/* Ethernet padding after the IPv6 payload is not part of the message
 * (the checksum would fail if it were). */
static void test_ndp_parse_ns_padding(void **state)
{
	uint8_t f[100];
	struct ndp_ns ns;

	memset(f, 0xa5, sizeof(f));
	memcpy(f, ns_unicast, sizeof(ns_unicast));
	assert_int_equal(ndp_parse_ns(f, sizeof(f), &ns, NULL), 0);
	assert_ip(&ns.target, "2001:db8::10");
}

/* Unknown options are skipped; only the first SLLAO counts. */
static void test_ndp_parse_ns_options(void **state)
{
	uint8_t f[128];
	struct ndp_ns ns;
	static const uint8_t opts[] = {
		0x0e, 0x01, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,         /* nonce */
		0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x09,         /* SLLAO */
		0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x07,         /* second, */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,         /* ignored */
		0xfe, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,         /* unknown */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};

	memcpy(f, ns_sllao, NS_OPT);
	memcpy(f + NS_OPT, opts, sizeof(opts));
	f[IP6_PLEN + 1] = 24 + sizeof(opts);
	fix_checksum(f);
	assert_int_equal(ndp_parse_ns(f, NS_OPT + sizeof(opts), &ns, NULL), 0);
	assert_true(ns.has_sllao);
	assert_memory_equal(ns.sllao, "\x02\x00\x00\x00\x00\x09", 6);
}

/* Hop-by-hop and destination options headers are stepped over; the
 * pseudo-header length is the ICMPv6 message's alone. */
static void test_ndp_parse_ns_ext_headers(void **state)
{
	uint8_t f[160];
	struct ndp_ns ns;
	enum l2_result why;
	static const uint8_t exts[] = {
		60, 0, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,      /* hop-by-hop: PadN */
		58, 1, 0x01, 0x0c, 0, 0, 0, 0,                  /* dest opts, 16 bytes */
		0, 0, 0, 0, 0, 0, 0, 0,
	};
	size_t icmp_len = sizeof(ns_sllao) - ICMP;

	memcpy(f, ns_sllao, ICMP);
	memcpy(f + ICMP, exts, sizeof(exts));
	memcpy(f + ICMP + sizeof(exts), ns_sllao + ICMP, icmp_len);
	f[IP6_NEXT] = 0;
	f[IP6_PLEN + 1] = (uint8_t)(sizeof(exts) + icmp_len);
	size_t len = ICMP + sizeof(exts) + icmp_len;
	/* The message moved but its checksum did not change. */
	assert_int_equal(ndp_parse_ns(f, len, &ns, &why), 0);
	assert_ip(&ns.target, "2001:db8::10");

	/* Cut inside the options headers. */
	f[IP6_PLEN + 1] = 12;
	assert_int_equal(ndp_parse_ns(f, len, &ns, &why), -1);
	assert_int_equal(why, L2_NDP_IP6_TRUNCATED);

	/* A routing header after the hop-by-hop one. */
	f[IP6_PLEN + 1] = (uint8_t)(sizeof(exts) + icmp_len);
	f[ICMP] = 43;
	assert_int_equal(ndp_parse_ns(f, len, &ns, &why), -1);
	assert_int_equal(why, L2_NDP_EXT_HEADER);

	/* An options header that claims more than the payload. */
	f[ICMP] = 60;
	f[ICMP + 8 + 1] = 200;
	assert_int_equal(ndp_parse_ns(f, len, &ns, &why), -1);
	assert_int_equal(why, L2_NDP_IP6_TRUNCATED);
}

static void test_ndp_parse_ns_vlan(void **state)
{
	uint8_t f[128];
	struct ndp_ns ns;

	memcpy(f, ns_sllao, 12);
	memcpy(f + 12, "\x81\x00\x00\x2a", 4);
	memcpy(f + 16, ns_sllao + 12, sizeof(ns_sllao) - 12);
	assert_int_equal(ndp_parse_ns(f, sizeof(ns_sllao) + 4, &ns, NULL), 0);
	assert_true(ns.eth.has_vlan);
	assert_int_equal(ns.eth.vlan_tci, 42);
	assert_ip(&ns.target, "2001:db8::10");
}

static void test_ndp_refusals(void **state)
{
	static const struct mutation m[] = {
		{ "13 bytes", .len = 13, .want = L2_ETH_SHORT },
		{ "IPv4 EtherType", 12, 2, { 0x08, 0x00 }, .want = L2_NDP_NOT_IPV6 },
		{ "ARP EtherType", 12, 2, { 0x08, 0x06 }, .want = L2_NDP_NOT_IPV6 },
		{ "group source", 6, 1, { 0x33 }, .want = L2_ETH_SRC_MULTICAST },
		{ "two tags", 12, 6, { 0x81, 0x00, 0x00, 0x01, 0x81, 0x00 },
		  .want = L2_ETH_VLAN_STACKED },
		{ "no IPv6 header", .len = 14, .want = L2_NDP_IP6_SHORT },
		{ "39-byte IPv6 header", .len = IP6 + 39, .want = L2_NDP_IP6_SHORT },
		{ "version 4", IP6, 1, { 0x40 }, .want = L2_NDP_IP6_VERSION },
		{ "version 0", IP6, 1, { 0x00 }, .want = L2_NDP_IP6_VERSION },
		{ "version 15", IP6, 1, { 0xf0 }, .want = L2_NDP_IP6_VERSION },
		{ "payload length 0", IP6_PLEN, 2, { 0, 0 }, .want = L2_NDP_IP6_TRUNCATED },
		{ "payload past frame", IP6_PLEN, 2, { 0, 33 }, .want = L2_NDP_IP6_TRUNCATED },
		{ "payload 65535", IP6_PLEN, 2, { 0xff, 0xff }, .want = L2_NDP_IP6_TRUNCATED },
		{ "frame cut in payload", .len = 85, .want = L2_NDP_IP6_TRUNCATED },
		{ "multicast source", IP6_SRC, 1, { 0xff }, .want = L2_NDP_IP6_SRC_MULTICAST },
		{ "UDP", IP6_NEXT, 1, { 17 }, .want = L2_NDP_NOT_ICMP6 },
		{ "no next header", IP6_NEXT, 1, { 59 }, .want = L2_NDP_NOT_ICMP6 },
		{ "ICMPv4", IP6_NEXT, 1, { 1 }, .want = L2_NDP_NOT_ICMP6 },
		{ "routing header", IP6_NEXT, 1, { 43 }, .want = L2_NDP_EXT_HEADER },
		{ "fragment header", IP6_NEXT, 1, { 44 }, .want = L2_NDP_EXT_HEADER },
		{ "AH", IP6_NEXT, 1, { 51 }, .want = L2_NDP_EXT_HEADER },
		{ "ESP", IP6_NEXT, 1, { 50 }, .want = L2_NDP_EXT_HEADER },
		{ "3-byte ICMPv6", IP6_PLEN, 2, { 0, 3 }, .want = L2_NDP_ICMP6_SHORT },
		{ "NA", ICMP, 1, { 136 }, .fix = true, .want = L2_NDP_NOT_NS },
		{ "echo request", ICMP, 1, { 128 }, .fix = true, .want = L2_NDP_NOT_NS },
		{ "router solicitation", ICMP, 1, { 133 }, .fix = true, .want = L2_NDP_NOT_NS },
		{ "hop limit 64", IP6_HOPS, 1, { 64 }, .want = L2_NDP_HOP_LIMIT },
		{ "hop limit 254", IP6_HOPS, 1, { 254 }, .want = L2_NDP_HOP_LIMIT },
		{ "hop limit 0", IP6_HOPS, 1, { 0 }, .want = L2_NDP_HOP_LIMIT },
		{ "code 1", ICMP + 1, 1, { 1 }, .fix = true, .want = L2_NDP_CODE },
		{ "code 255", ICMP + 1, 1, { 255 }, .fix = true, .want = L2_NDP_CODE },
		{ "ICMPv6 length 23", IP6_PLEN, 2, { 0, 23 }, .want = L2_NDP_NS_SHORT },
		{ "ICMPv6 length 4", IP6_PLEN, 2, { 0, 4 }, .want = L2_NDP_NS_SHORT },
		{ "checksum off by one", ICMP_CKSUM + 1, 1, { 0x50 }, .want = L2_NDP_CHECKSUM },
		{ "checksum zero", ICMP_CKSUM, 2, { 0, 0 }, .want = L2_NDP_CHECKSUM },
		{ "target changed", NS_TARGET + 15, 1, { 0x11 }, .want = L2_NDP_CHECKSUM },
		{ "source changed", IP6_SRC + 15, 1, { 0x02 }, .want = L2_NDP_CHECKSUM },
		{ "ICMPv6 length 30", IP6_PLEN, 2, { 0, 30 }, .want = L2_NDP_CHECKSUM },
		{ "multicast target", NS_TARGET, 2, { 0xff, 0x02 }, .fix = true,
		  .want = L2_NDP_TARGET_MULTICAST },
		{ "option length 0", NS_OPT + 1, 1, { 0 }, .fix = true,
		  .want = L2_NDP_OPT_MALFORMED },
		{ "option past the end", NS_OPT + 1, 1, { 2 }, .fix = true,
		  .want = L2_NDP_OPT_MALFORMED },
		{ "option cut after type", IP6_PLEN, 2, { 0, 25 }, .fix = true,
		  .want = L2_NDP_OPT_MALFORMED },
		{ "option cut inside", IP6_PLEN, 2, { 0, 30 }, .fix = true,
		  .want = L2_NDP_OPT_MALFORMED },
		{ "SLLAO multicast", NS_OPT + 2, 1, { 0x01 }, .fix = true,
		  .want = L2_NDP_SLLAO_MULTICAST },
		{ "DAD with SLLAO", IP6_SRC, 16, { 0 }, .fix = true, .want = L2_NDP_DAD_SLLAO },
	};
	run_mutations(ns_sllao, sizeof(ns_sllao), m, ARRAY_SIZE(m), true);
}

static void test_ndp_refusals_dad(void **state)
{
	static const struct mutation m[] = {
		{ "DAD to the target", IP6_DST, 16,
		  { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10 }, .fix = true,
		  .want = L2_NDP_DAD_DEST },
		{ "DAD to all-nodes", IP6_DST + 11, 5, { 0, 0, 0, 0, 1 }, .fix = true,
		  .want = L2_NDP_DAD_DEST },
		{ "DAD to ff02::2:ff00:10", IP6_DST + 11, 1, { 0x02 }, .fix = true,
		  .want = L2_NDP_DAD_DEST },
		{ "DAD to ff05::1:ff00:10", IP6_DST + 1, 1, { 0x05 }, .fix = true,
		  .want = L2_NDP_DAD_DEST },
		{ "DAD hop limit", IP6_HOPS, 1, { 1 }, .want = L2_NDP_HOP_LIMIT },
	};
	run_mutations(ns_dad, sizeof(ns_dad), m, ARRAY_SIZE(m), true);

	/* DAD to the solicited-node group of another address is still
	 * well-formed (§7.1.1 asks only for "a" solicited-node group). */
	uint8_t f[sizeof(ns_dad)];
	struct ndp_ns ns;
	memcpy(f, ns_dad, sizeof(f));
	f[IP6_DST + 15] = 0x77;
	fix_checksum(f);
	assert_int_equal(ndp_parse_ns(f, sizeof(f), &ns, NULL), 0);
}

static void test_ndp_refusal_sllao_len(void **state)
{
	uint8_t f[128];
	struct ndp_ns ns;
	enum l2_result why;

	memcpy(f, ns_sllao, sizeof(ns_sllao));
	memset(f + sizeof(ns_sllao), 0, 8);
	f[NS_OPT + 1] = 2;
	f[IP6_PLEN + 1] = 40;
	fix_checksum(f);
	assert_int_equal(ndp_parse_ns(f, sizeof(ns_sllao) + 8, &ns, &why), -1);
	assert_int_equal(why, L2_NDP_SLLAO_LEN);
}

static void test_ndp_every_truncation(void **state)
{
	for (size_t len = 0; len < sizeof(ns_sllao); len++) {
		struct ndp_ns ns;
		enum l2_result why;
		enum l2_result want = len < 14 ? L2_ETH_SHORT
				    : len < 54 ? L2_NDP_IP6_SHORT
					       : L2_NDP_IP6_TRUNCATED;
		assert_int_equal(ndp_parse_ns(ns_sllao, len, &ns, &why), -1);
		assert_int_equal(why, want);
	}
}

static void test_ndp_build_na(void **state)
{
	struct ip_addr ll = addr("fe80::42:acff:fe11:2");
	struct ndp_ns ns;
	uint8_t buf[L2_FRAME_MAX];
	struct wbuf w;

	assert_int_equal(ndp_parse_ns(ns_sllao, sizeof(ns_sllao), &ns, NULL), 0);
	wbuf_init_fixed(&w, buf, sizeof(buf));
	assert_int_equal(ndp_build_na(&w, &ns, mac_b, &ll), 0);
	assert_frame(&w, na_solicited, sizeof(na_solicited));

	/* Without SLLAO: to the Ethernet source, same bytes. */
	assert_int_equal(ndp_parse_ns(ns_unicast, sizeof(ns_unicast), &ns, NULL), 0);
	wbuf_reset(&w);
	assert_int_equal(ndp_build_na(&w, &ns, mac_b, &ll), 0);
	assert_frame(&w, na_solicited, sizeof(na_solicited));

	/* The SLLAO wins over the Ethernet source. */
	assert_int_equal(ndp_parse_ns(ns_sllao, sizeof(ns_sllao), &ns, NULL), 0);
	memcpy(ns.sllao, "\x02\x00\x00\x00\x00\x01", 6);
	wbuf_reset(&w);
	assert_int_equal(ndp_build_na(&w, &ns, mac_b, &ll), 0);
	assert_memory_equal(w.p, "\x02\x00\x00\x00\x00\x01", 6);
	assert_memory_equal(w.p + 6, na_solicited + 6, sizeof(na_solicited) - 6);

	/* DAD: to all-nodes, Solicited clear. */
	assert_int_equal(ndp_parse_ns(ns_dad, sizeof(ns_dad), &ns, NULL), 0);
	wbuf_reset(&w);
	assert_int_equal(ndp_build_na(&w, &ns, mac_b, &ll), 0);
	assert_frame(&w, na_dad, sizeof(na_dad));
}

static void test_ndp_build_na_vlan(void **state)
{
	struct ip_addr ll = addr("fe80::42:acff:fe11:2");
	uint8_t f[128];
	struct ndp_ns ns;
	struct wbuf w;

	memcpy(f, ns_sllao, 12);
	memcpy(f + 12, "\x81\x00\x00\x2a", 4);
	memcpy(f + 16, ns_sllao + 12, sizeof(ns_sllao) - 12);
	assert_int_equal(ndp_parse_ns(f, sizeof(ns_sllao) + 4, &ns, NULL), 0);
	wbuf_init_dyn(&w, 0);
	assert_int_equal(ndp_build_na(&w, &ns, mac_b, &ll), 0);
	assert_int_equal(w.len, sizeof(na_solicited) + 4);
	assert_memory_equal(w.p, na_solicited, 12);
	assert_memory_equal(w.p + 12, "\x81\x00\x00\x2a", 4);
	assert_memory_equal(w.p + 16, na_solicited + 12, sizeof(na_solicited) - 12);
	wbuf_free(&w);
}

static void test_ndp_build_unsolicited_na(void **state)
{
	struct ip_addr ll = addr("fe80::42:acff:fe11:2");
	struct ip_addr target = addr("2001:db8::10");
	struct wbuf w;

	wbuf_init_dyn(&w, 0);
	assert_int_equal(ndp_build_unsolicited_na(&w, mac_b, &ll, &target), 0);
	assert_frame(&w, na_unsolicited, sizeof(na_unsolicited));
	wbuf_free(&w);
}

static void test_ndp_build_refuses(void **state)
{
	struct ip_addr ll = addr("fe80::1");
	struct ip_addr v4 = addr("192.0.2.1");
	struct ip_addr mc = addr("ff02::1");
	struct ip_addr target = addr("2001:db8::10");
	static const uint8_t group[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	struct ndp_ns ns;
	struct wbuf w;

	assert_int_equal(ndp_parse_ns(ns_sllao, sizeof(ns_sllao), &ns, NULL), 0);
	wbuf_init_dyn(&w, 0);
	assert_int_equal(ndp_build_na(&w, &ns, mac_b, &v4), -1);
	assert_int_equal(ndp_build_na(&w, &ns, mac_b, &mc), -1);
	assert_int_equal(ndp_build_na(&w, &ns, group, &ll), -1);
	assert_int_equal(ndp_build_unsolicited_na(&w, mac_b, &v4, &target), -1);
	assert_int_equal(ndp_build_unsolicited_na(&w, mac_b, &ll, &v4), -1);
	assert_int_equal(ndp_build_unsolicited_na(&w, mac_b, &ll, &mc), -1);
	assert_int_equal(ndp_build_unsolicited_na(&w, group, &ll, &target), -1);
	assert_int_equal(w.len, 0);
	wbuf_free(&w);
}

/* The NA we build is a valid NS in every respect the NS parser checks
 * except its type, and its checksum verifies with the reference routine. */
static void test_ndp_round_trip(void **state)
{
	struct ip_addr ll = addr("fe80::1234:5678:9abc:def0");
	struct ip_addr target = addr("2001:db8:ffff:1::abcd");
	struct ndp_ns ns;
	enum l2_result why;
	struct wbuf w;

	wbuf_init_dyn(&w, 0);
	assert_int_equal(ndp_build_unsolicited_na(&w, mac_b, &ll, &target), 0);
	assert_int_equal(ndp_parse_ns(w.p, w.len, &ns, &why), -1);
	assert_int_equal(why, L2_NDP_NOT_NS);
	uint8_t f[128];
	memcpy(f, w.p, w.len);
	fix_checksum(f);
	assert_memory_equal(f, w.p, w.len);

	/* Turned into an NS (type 135, checksum fixed), it parses back. */
	f[ICMP] = 135;
	f[ICMP + 4] = 0;
	f[NS_OPT] = 1;
	fix_checksum(f);
	assert_int_equal(ndp_parse_ns(f, w.len, &ns, &why), 0);
	assert_true(ip_eq(&ns.src, &ll));
	assert_ip(&ns.dst, "ff02::1");
	assert_true(ip_eq(&ns.target, &target));
	assert_true(ns.has_sllao);
	assert_memory_equal(ns.sllao, mac_b, 6);
	wbuf_free(&w);
}

/* Every builder fails cleanly in every buffer too small for its frame. */
static void test_builders_small_buffers(void **state)
{
	struct ip_addr a4 = addr("192.0.2.10");
	struct ip_addr ll = addr("fe80::1");
	struct ip_addr t6 = addr("2001:db8::10");
	struct arp_msg req;
	struct ndp_ns ns;
	uint8_t buf[L2_FRAME_MAX];

	assert_int_equal(arp_parse(arp_request_vlan, sizeof(arp_request_vlan), &req, NULL), 0);
	req.tpa = a4;
	assert_int_equal(ndp_parse_ns(ns_sllao, sizeof(ns_sllao), &ns, NULL), 0);
	for (size_t cap = 0; cap <= sizeof(buf); cap++) {
		struct wbuf w;
		int rc;

		memset(buf, 0, sizeof(buf));
		wbuf_init_fixed(&w, buf, cap);
		rc = arp_build_reply(&w, &req, mac_b, &a4);
		assert_int_equal(rc, cap >= 64 ? 0 : -1);
		wbuf_init_fixed(&w, buf, cap);
		rc = arp_build_gratuitous(&w, ARP_OP_REPLY, mac_b, &a4);
		assert_int_equal(rc, cap >= 60 ? 0 : -1);
		wbuf_init_fixed(&w, buf, cap);
		rc = ndp_build_na(&w, &ns, mac_b, &ll);
		assert_int_equal(rc, cap >= 86 ? 0 : -1);
		wbuf_init_fixed(&w, buf, cap);
		rc = ndp_build_unsolicited_na(&w, mac_b, &ll, &t6);
		assert_int_equal(rc, cap >= 86 ? 0 : -1);
		assert_int_equal(wbuf_ok(&w), rc == 0);
	}
}

/* A builder appends after what the writer already holds. */
static void test_builders_append(void **state)
{
	struct ip_addr ll = addr("fe80::42:acff:fe11:2");
	struct ip_addr target = addr("2001:db8::10");
	struct wbuf w;

	wbuf_init_dyn(&w, 0);
	wbuf_bytes(&w, "xyz", 3);
	assert_int_equal(ndp_build_unsolicited_na(&w, mac_b, &ll, &target), 0);
	assert_int_equal(w.len, 3 + sizeof(na_unsolicited));
	assert_memory_equal(w.p + 3, na_unsolicited, sizeof(na_unsolicited));
	wbuf_free(&w);
}

/* ------------------------------------------------------------------ */
/* Helpers */

static void test_solicited_node(void **state)
{
	static const struct {
		const char *in, *group;
		uint8_t mac[6];
	} t[] = {
		{ "2001:db8::10", "ff02::1:ff00:10", { 0x33, 0x33, 0xff, 0x00, 0x00, 0x10 } },
		{ "2001:db8::abcd:ef12:3456", "ff02::1:ff12:3456",
		  { 0x33, 0x33, 0xff, 0x12, 0x34, 0x56 } },
		{ "fe80::42:acff:fe11:2", "ff02::1:ff11:2",
		  { 0x33, 0x33, 0xff, 0x11, 0x00, 0x02 } },
		{ "::", "ff02::1:ff00:0", { 0x33, 0x33, 0xff, 0x00, 0x00, 0x00 } },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff02::1:ffff:ffff",
		  { 0x33, 0x33, 0xff, 0xff, 0xff, 0xff } },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct ip_addr a = addr(t[i].in), g;
		uint8_t mac[6];
		assert_int_equal(ndp_solicited_node(&a, &g), 0);
		assert_ip(&g, t[i].group);
		assert_true(ndp_is_solicited_node(&g));
		assert_int_equal(ndp_solicited_node_mac(&a, mac), 0);
		assert_memory_equal(mac, t[i].mac, 6);
	}

	struct ip_addr v4 = addr("192.0.2.1"), g;
	uint8_t mac[6];
	assert_int_equal(ndp_solicited_node(&v4, &g), -1);
	assert_int_equal(ndp_solicited_node_mac(&v4, mac), -1);
	assert_false(ndp_is_solicited_node(&v4));
	struct ip_addr x = addr("ff02::1:fe00:10");
	assert_false(ndp_is_solicited_node(&x));
	x = addr("ff02::2:ff00:10");
	assert_false(ndp_is_solicited_node(&x));
	x = addr("2001:db8::10");
	assert_false(ndp_is_solicited_node(&x));
}

static void test_multicast_mac(void **state)
{
	static const struct {
		const char *group;
		uint8_t mac[6];
	} t[] = {
		{ "ff02::1", { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 } },
		{ "ff02::2", { 0x33, 0x33, 0x00, 0x00, 0x00, 0x02 } },
		{ "ff02::1:2", { 0x33, 0x33, 0x00, 0x01, 0x00, 0x02 } },
		{ "ff05::1:3", { 0x33, 0x33, 0x00, 0x01, 0x00, 0x03 } },
		{ "ff0e::dead:beef", { 0x33, 0x33, 0xde, 0xad, 0xbe, 0xef } },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct ip_addr g = addr(t[i].group);
		uint8_t mac[6];
		assert_int_equal(ndp_multicast_mac(&g, mac), 0);
		assert_memory_equal(mac, t[i].mac, 6);
		assert_true(l2_mac_is_group(mac));
	}

	uint8_t mac[6] = { 9, 9, 9, 9, 9, 9 };
	struct ip_addr u = addr("2001:db8::1");
	struct ip_addr v4 = addr("224.0.0.1");
	assert_int_equal(ndp_multicast_mac(&u, mac), -1);
	assert_int_equal(ndp_multicast_mac(&v4, mac), -1);
	assert_memory_equal(mac, "\x09\x09\x09\x09\x09\x09", 6);
}

static void test_mac_parse_format(void **state)
{
	static const struct {
		const char *in;
		uint8_t mac[6];
		const char *out;
	} good[] = {
		{ "aa:bb:cc:dd:ee:ff", { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff },
		  "aa:bb:cc:dd:ee:ff" },
		{ "00:00:00:00:00:00", { 0 }, "00:00:00:00:00:00" },
		{ "02:42:AC:11:00:02", { 0x02, 0x42, 0xac, 0x11, 0x00, 0x02 },
		  "02:42:ac:11:00:02" },
		{ "Ff:fF:09:90:a0:0A", { 0xff, 0xff, 0x09, 0x90, 0xa0, 0x0a },
		  "ff:ff:09:90:a0:0a" },
	};
	static const char *const bad[] = {
		"", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:", "aa:bb:cc:dd:ee:ff:00",
		"aa-bb-cc-dd-ee-ff", "aabb.ccdd.eeff", "a:bb:cc:dd:ee:ff0", "aa:bb:cc:dd:ee:fg",
		"aa:bb:cc:dd:ee:f", " aa:bb:cc:dd:ee:f", "aa:bb:cc:dd:ee:ff ", "aa:bb:cc:dd:ee-ff",
		"aa::bb:cc:dd:eee", "gg:bb:cc:dd:ee:ff", "aabbccddeeff00000",
	};

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		uint8_t mac[6];
		char buf[L2_MAC_STR_MAX];
		assert_int_equal(l2_mac_parse(good[i].in, mac), 0);
		assert_memory_equal(mac, good[i].mac, 6);
		assert_string_equal(l2_mac_format(mac, buf), good[i].out);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t mac[6] = { 1, 2, 3, 4, 5, 6 };
		if (l2_mac_parse(bad[i], mac) != -1)
			fail_msg("\"%s\" parsed as a MAC", bad[i]);
		assert_memory_equal(mac, "\x01\x02\x03\x04\x05\x06", 6);
	}
	assert_int_equal(l2_mac_parse(NULL, (uint8_t[6]){ 0 }), -1);

	assert_false(l2_mac_is_group(mac_a));
	assert_true(l2_mac_is_group((const uint8_t *)"\xff\xff\xff\xff\xff\xff"));
	assert_true(l2_mac_is_group((const uint8_t *)"\x01\x00\x5e\x00\x00\x01"));
}

static void test_result_names(void **state)
{
	for (int i = 0; i < L2_RESULT_COUNT; i++) {
		const char *n = l2_result_name(i), *s = l2_result_str(i);
		assert_non_null(n);
		assert_non_null(s);
		assert_true(strlen(n) > 0 && strlen(s) > 0);
		assert_string_not_equal(n, "unknown");
		for (size_t k = 0; n[k]; k++)
			assert_true((n[k] >= 'a' && n[k] <= 'z') || (n[k] >= '0' && n[k] <= '9') ||
				    n[k] == '_');
		for (int j = 0; j < i; j++) {
			assert_string_not_equal(n, l2_result_name(j));
			assert_string_not_equal(s, l2_result_str(j));
		}
	}
	assert_string_equal(l2_result_name(L2_RESULT_COUNT), "unknown");
	assert_string_equal(l2_result_name((enum l2_result)-1), "unknown");
	assert_non_null(l2_result_str(L2_RESULT_COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_checksums),
		cmocka_unit_test(test_arp_parse_request),
		cmocka_unit_test(test_arp_parse_reply),
		cmocka_unit_test(test_arp_parse_vlan),
		cmocka_unit_test(test_arp_build_reply),
		cmocka_unit_test(test_arp_build_reply_vlan),
		cmocka_unit_test(test_arp_build_reply_refuses),
		cmocka_unit_test(test_arp_build_gratuitous),
		cmocka_unit_test(test_arp_round_trip),
		cmocka_unit_test(test_arp_refusals),
		cmocka_unit_test(test_arp_refusals_vlan),
		cmocka_unit_test(test_arp_every_truncation),
		cmocka_unit_test(test_ndp_parse_ns_sllao),
		cmocka_unit_test(test_ndp_parse_ns_unicast),
		cmocka_unit_test(test_ndp_parse_ns_dad),
		cmocka_unit_test(test_ndp_parse_ns_padding),
		cmocka_unit_test(test_ndp_parse_ns_options),
		cmocka_unit_test(test_ndp_parse_ns_ext_headers),
		cmocka_unit_test(test_ndp_parse_ns_vlan),
		cmocka_unit_test(test_ndp_refusals),
		cmocka_unit_test(test_ndp_refusals_dad),
		cmocka_unit_test(test_ndp_refusal_sllao_len),
		cmocka_unit_test(test_ndp_every_truncation),
		cmocka_unit_test(test_ndp_build_na),
		cmocka_unit_test(test_ndp_build_na_vlan),
		cmocka_unit_test(test_ndp_build_unsolicited_na),
		cmocka_unit_test(test_ndp_build_refuses),
		cmocka_unit_test(test_ndp_round_trip),
		cmocka_unit_test(test_builders_small_buffers),
		cmocka_unit_test(test_builders_append),
		cmocka_unit_test(test_solicited_node),
		cmocka_unit_test(test_multicast_mac),
		cmocka_unit_test(test_mac_parse_format),
		cmocka_unit_test(test_result_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
