/*
 * Unit tests for BGP UPDATE messages (bgp/bgp_msg.h): byte vectors
 * written out by hand from RFC 4271 §4.3, RFC 4760, RFC 6793, RFC 1997,
 * RFC 8092, RFC 8950 and RFC 4724 for every attribute in both directions;
 * a table of malformed messages with the RFC 7606 action and the
 * NOTIFICATION code, subcode and data each one must produce; and packing
 * of thousands of prefixes into 4096-byte messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bgp/bgp_msg.h"

#define MARKER                                                                                     \
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  \
		0xff

#define BYTES(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })
#define NONE NULL, 0

static const struct bgp_msg_opts ebgp4 = { .as4 = true, .ebgp = true };
static const struct bgp_msg_opts ibgp4 = { .as4 = true };
static const struct bgp_msg_opts ebgp2 = { .as4 = false, .ebgp = true };

static struct ip_addr addr(const char *s)
{
	struct ip_addr a;
	char why[128];

	if (ip_parse(s, &a, why, sizeof(why)) != 0)
		fail_msg("ip_parse(%s): %s", s, why);
	return a;
}

static struct ip_prefix pfx(const char *s)
{
	struct ip_prefix p;
	char why[128];

	if (ip_prefix_parse(s, &p, NULL, why, sizeof(why)) != 0)
		fail_msg("ip_prefix_parse(%s): %s", s, why);
	return p;
}

static void assert_prefix(const struct ip_prefix *got, const char *want)
{
	struct ip_prefix w = pfx(want);
	char buf[IP_STR_MAX];

	if (!ip_eq(&got->addr, &w.addr) || got->len != w.len)
		fail_msg("prefix %s, want %s", ip_prefix_format(got, buf), want);
}

static void assert_ip(const struct ip_addr *got, const char *want)
{
	struct ip_addr w = addr(want);
	char buf[IP_STR_MAX];

	if (!ip_eq(got, &w))
		fail_msg("address %s, want %s", ip_format(got, buf), want);
}

static void assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t len)
{
	if (got_len != len)
		fail_msg("%zu bytes, want %zu", got_len, len);
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i])
			fail_msg("byte %zu is 0x%02x, want 0x%02x", i, got[i], want[i]);
}

static void assert_wbuf(const struct wbuf *w, const uint8_t *want, size_t len)
{
	assert_true(wbuf_ok(w));
	assert_bytes(w->p, w->len, want, len);
}

/* Decode a whole UPDATE message (header included). */
static int decode_msg(const uint8_t *msg, size_t len, const struct bgp_msg_opts *o,
		      struct bgp_update *u, struct bgp_notify *err)
{
	size_t mlen;
	uint8_t type;

	assert_int_equal(bgp_frame(msg, len, &mlen, &type, err), BGP_FRAME_MSG);
	assert_int_equal(mlen, len);
	assert_int_equal(type, BGP_MSG_UPDATE);
	return bgp_update_decode(msg + BGP_HEADER_LEN, len - BGP_HEADER_LEN, o, u, err);
}

/* ------------------------------------------------------------------ */
/* Vectors, both directions */

/* eBGP, 4-octet AS: 192.0.2.0/24 and 198.51.100.7/32 from AS 65001 via
 * 192.0.2.1 with communities 65001:50, 65001:100 and large community
 * 65001:1:2. */
static const uint8_t upd_v4[] = {
	MARKER, 0x00, 0x4e, 0x02,       /* 78 bytes */
	0x00, 0x00,                     /* no withdrawn routes */
	0x00, 0x2e,                     /* 46 bytes of attributes */
	0x40, 0x01, 0x01, 0x00,         /* ORIGIN IGP */
	0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9,   /* AS_PATH (65001) */
	0x40, 0x03, 0x04, 0xc0, 0x00, 0x02, 0x01,               /* NEXT_HOP */
	0xc0, 0x08, 0x08, 0xfd, 0xe9, 0x00, 0x32, 0xfd, 0xe9, 0x00, 0x64, /* COMMUNITIES */
	0xc0, 0x20, 0x0c, 0x00, 0x00, 0xfd, 0xe9, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
	0x18, 0xc0, 0x00, 0x02,         /* 192.0.2.0/24 */
	0x20, 0xc6, 0x33, 0x64, 0x07,   /* 198.51.100.7/32 */
};

static void test_encode_v4(void **state)
{
	static const uint32_t path[] = { 65001 };
	/* Unsorted, with a repeat: written sorted and unique. */
	static const uint32_t comm[] = { 0xfde90064, 0xfde90032, 0xfde90064 };
	static const struct bgp_large_community large[] = { { 65001, 1, 2 }, { 65001, 1, 2 } };
	struct bgp_attr_set a = {
		.origin = BGP_ORIGIN_IGP, .as_path_len = 1, .as_path = path,
		.next_hop = addr("192.0.2.1"),
		.ncommunities = 3, .communities = comm, .nlarge = 2, .large = large,
	};
	struct ip_prefix p[] = { pfx("192.0.2.0/24"), pfx("198.51.100.7/32") };
	struct wbuf w;
	size_t n;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, p, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_wbuf(&w, upd_v4, sizeof(upd_v4));
	wbuf_free(&w);
}

static void test_decode_v4(void **state)
{
	struct bgp_update u;
	struct bgp_notify err;
	const struct bgp_path_attrs *a = &u.attrs;

	(void)state;
	assert_int_equal(decode_msg(upd_v4, sizeof(upd_v4), &ebgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_int_equal(u.why.code, 0);
	assert_int_equal(u.nattrs, 5);
	assert_int_equal(u.nwithdrawn, 0);
	assert_int_equal(u.nnlri, 2);
	assert_prefix(&u.nlri[0], "192.0.2.0/24");
	assert_prefix(&u.nlri[1], "198.51.100.7/32");
	assert_true(a->has_origin);
	assert_int_equal(a->origin, BGP_ORIGIN_IGP);
	assert_true(a->has_as_path);
	assert_int_equal(a->as_path.nsegs, 1);
	assert_int_equal(a->as_path.segs[0].type, BGP_AS_SEQUENCE);
	assert_int_equal(a->as_path.segs[0].count, 1);
	assert_int_equal(a->as_path.asns[0], 65001);
	assert_true(a->has_next_hop);
	assert_ip(&a->next_hop, "192.0.2.1");
	assert_false(a->has_med);
	assert_false(a->has_local_pref);
	assert_int_equal(a->ncommunities, 2);
	assert_int_equal(a->communities[0], 0xfde90032);
	assert_int_equal(a->communities[1], 0xfde90064);
	assert_int_equal(a->nlarge, 1);
	assert_int_equal(a->large[0].global, 65001);
	assert_int_equal(a->large[0].local1, 1);
	assert_int_equal(a->large[0].local2, 2);
	assert_false(u.has_mp_reach);
	bgp_update_free(&u);
}

/* AS path (4200000001 65001) with MED 100 towards a 2-octet speaker:
 * AS_TRANS in AS_PATH, the true path in AS4_PATH (RFC 6793 §4.2.2). */
static const uint8_t upd_as2[] = {
	MARKER, 0x00, 0x43, 0x02,
	0x00, 0x00, 0x00, 0x28,
	0x40, 0x01, 0x01, 0x00,
	0x40, 0x02, 0x06, 0x02, 0x02, 0x5b, 0xa0, 0xfd, 0xe9,  /* (23456 65001) */
	0x40, 0x03, 0x04, 0xc0, 0x00, 0x02, 0x01,
	0x80, 0x04, 0x04, 0x00, 0x00, 0x00, 0x64,              /* MED 100 */
	0xc0, 0x11, 0x0a, 0x02, 0x02, 0xfa, 0x56, 0xea, 0x01, 0x00, 0x00, 0xfd, 0xe9, /* AS4_PATH */
	0x18, 0xc0, 0x00, 0x02,
};

/* The same towards a 4-octet speaker. */
static const uint8_t upd_as4[] = {
	MARKER, 0x00, 0x3a, 0x02,
	0x00, 0x00, 0x00, 0x1f,
	0x40, 0x01, 0x01, 0x00,
	0x40, 0x02, 0x0a, 0x02, 0x02, 0xfa, 0x56, 0xea, 0x01, 0x00, 0x00, 0xfd, 0xe9,
	0x40, 0x03, 0x04, 0xc0, 0x00, 0x02, 0x01,
	0x80, 0x04, 0x04, 0x00, 0x00, 0x00, 0x64,
	0x18, 0xc0, 0x00, 0x02,
};

static void test_as2_as4(void **state)
{
	static const uint32_t path[] = { 4200000001u, 65001 };
	struct bgp_attr_set a = {
		.origin = BGP_ORIGIN_IGP, .as_path_len = 2, .as_path = path,
		.next_hop = addr("192.0.2.1"), .has_med = true, .med = 100,
	};
	struct ip_prefix p = pfx("192.0.2.0/24");
	struct bgp_update u;
	struct bgp_notify err;
	struct wbuf w;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp2, &a, &p, 1, NULL), 0);
	assert_wbuf(&w, upd_as2, sizeof(upd_as2));
	wbuf_reset(&w);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p, 1, NULL), 0);
	assert_wbuf(&w, upd_as4, sizeof(upd_as4));
	wbuf_free(&w);

	assert_int_equal(decode_msg(upd_as2, sizeof(upd_as2), &ebgp2, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_int_equal(u.attrs.as_path.nasns, 2);
	assert_int_equal(u.attrs.as_path.asns[0], BGP_AS_TRANS);
	assert_int_equal(u.attrs.as_path.asns[1], 65001);
	assert_true(u.attrs.has_as4_path);
	assert_int_equal(u.attrs.as4_path.nasns, 2);
	assert_int_equal(u.attrs.as4_path.asns[0], 4200000001u);
	assert_true(u.attrs.has_med);
	assert_int_equal(u.attrs.med, 100);
	bgp_update_free(&u);

	assert_int_equal(decode_msg(upd_as4, sizeof(upd_as4), &ebgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_int_equal(u.attrs.as_path.asns[0], 4200000001u);
	assert_false(u.attrs.has_as4_path);
	bgp_update_free(&u);

	/* Every ASN mappable: no AS4_PATH on a 2-octet session. */
	a.as_path_len = 1;
	a.as_path = path + 1;
	a.has_med = false;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp2, &a, &p, 1, NULL), 0);
	assert_wbuf(&w,
		    (const uint8_t[]){ MARKER, 0x00, 0x2d, 0x02, 0x00, 0x00, 0x00, 0x12,
				       0x40, 0x01, 0x01, 0x00,
				       0x40, 0x02, 0x04, 0x02, 0x01, 0xfd, 0xe9,
				       0x40, 0x03, 0x04, 0xc0, 0x00, 0x02, 0x01,
				       0x18, 0xc0, 0x00, 0x02 },
		    45);
	wbuf_free(&w);
}

/* iBGP: empty AS_PATH, LOCAL_PREF 100, 10.96.0.10/32 via 10.0.0.1. */
static const uint8_t upd_ibgp[] = {
	MARKER, 0x00, 0x31, 0x02,
	0x00, 0x00, 0x00, 0x15,
	0x40, 0x01, 0x01, 0x00,
	0x40, 0x02, 0x00,                                       /* empty AS_PATH */
	0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01,
	0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0x64,               /* LOCAL_PREF 100 */
	0x20, 0x0a, 0x60, 0x00, 0x0a,
};

static void test_ibgp(void **state)
{
	struct bgp_attr_set a = {
		.origin = BGP_ORIGIN_IGP, .next_hop = addr("10.0.0.1"),
		.has_local_pref = true, .local_pref = 100,
	};
	struct ip_prefix p = pfx("10.96.0.10/32");
	struct bgp_update u;
	struct bgp_notify err;
	struct wbuf w;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_announce(&w, &ibgp4, &a, &p, 1, NULL), 0);
	assert_wbuf(&w, upd_ibgp, sizeof(upd_ibgp));
	assert_int_equal(decode_msg(w.p, w.len, &ibgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_true(u.attrs.has_as_path);
	assert_int_equal(u.attrs.as_path.nsegs, 0);
	assert_true(u.attrs.has_local_pref);
	assert_int_equal(u.attrs.local_pref, 100);
	bgp_update_free(&u);

	/* RFC 4271 §5.1.5: LOCAL_PREF never goes to an external peer. */
	wbuf_reset(&w);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p, 1, NULL), 0);
	assert_int_equal(w.len, sizeof(upd_ibgp) - 7);
	assert_int_equal(w.p[22], 0x0e);
	wbuf_free(&w);
}

#define NH6 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01
#define LL6 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01

/* IPv6: 2001:db8:1::/48 and 2001:db8::1/128 via 2001:db8::1 and
 * fe80::1, MP_REACH_NLRI first (RFC 7606 §5.1). */
static const uint8_t upd_v6[] = {
	MARKER, 0x00, 0x64, 0x02,
	0x00, 0x00, 0x00, 0x4d,
	0x80, 0x0e, 0x3d,               /* MP_REACH_NLRI, 61 */
	0x00, 0x02, 0x01,               /* IPv6 unicast */
	0x20, NH6, LL6,                 /* next hop length 32 */
	0x00,                           /* reserved */
	0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01,
	0x80, NH6,
	0x40, 0x01, 0x01, 0x00,
	0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9,
};

static void test_v6(void **state)
{
	static const uint32_t path[] = { 65001 };
	struct bgp_attr_set a = {
		.origin = BGP_ORIGIN_IGP, .as_path_len = 1, .as_path = path,
		.next_hop6 = addr("2001:db8::1"), .next_hop6_ll = addr("fe80::1"),
	};
	struct ip_prefix p[] = { pfx("2001:db8:1::/48"), pfx("2001:db8::1/128") };
	struct bgp_update u;
	struct bgp_notify err;
	struct wbuf w;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, p, 2, NULL), 0);
	assert_wbuf(&w, upd_v6, sizeof(upd_v6));
	wbuf_free(&w);

	assert_int_equal(decode_msg(upd_v6, sizeof(upd_v6), &ebgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_true(u.has_mp_reach);
	assert_int_equal(u.mp_reach_afi, BGP_AFI_IPV6);
	assert_int_equal(u.mp_reach_safi, BGP_SAFI_UNICAST);
	assert_ip(&u.mp_next_hop, "2001:db8::1");
	assert_ip(&u.mp_next_hop_ll, "fe80::1");
	assert_int_equal(u.nnlri, 2);
	assert_prefix(&u.nlri[0], "2001:db8:1::/48");
	assert_prefix(&u.nlri[1], "2001:db8::1/128");
	assert_false(u.attrs.has_next_hop);
	bgp_update_free(&u);
}

/* RFC 8950: 192.0.2.0/24 in MP_REACH_NLRI with next hop 2001:db8::1. */
static const uint8_t upd_v4_nh6[] = {
	MARKER, 0x00, 0x40, 0x02,
	0x00, 0x00, 0x00, 0x29,
	0x80, 0x0e, 0x19,
	0x00, 0x01, 0x01,               /* IPv4 unicast */
	0x10, NH6,
	0x00,
	0x18, 0xc0, 0x00, 0x02,
	0x40, 0x01, 0x01, 0x00,
	0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9,
};

static void test_v4_over_v6(void **state)
{
	static const uint32_t path[] = { 65001 };
	struct bgp_attr_set a = {
		.origin = BGP_ORIGIN_IGP, .as_path_len = 1, .as_path = path,
		.next_hop6 = addr("2001:db8::1"),
	};
	struct bgp_msg_opts o = ebgp4;
	struct ip_prefix p = pfx("192.0.2.0/24");
	struct bgp_update u;
	struct bgp_notify err;
	struct wbuf w;

	(void)state;
	wbuf_init_dyn(&w, 0);
	/* Not negotiated: no IPv4 next hop to use. */
	assert_int_equal(bgp_update_build_announce(&w, &o, &a, &p, 1, NULL), -1);
	assert_int_equal(w.len, 0);
	o.ext_nh_ipv4 = true;
	assert_int_equal(bgp_update_build_announce(&w, &o, &a, &p, 1, NULL), 0);
	assert_wbuf(&w, upd_v4_nh6, sizeof(upd_v4_nh6));
	wbuf_free(&w);

	assert_int_equal(decode_msg(upd_v4_nh6, sizeof(upd_v4_nh6), &o, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_int_equal(u.mp_reach_afi, BGP_AFI_IPV4);
	assert_ip(&u.mp_next_hop, "2001:db8::1");
	assert_int_equal(u.mp_next_hop_ll.family, IP_FAMILY_NONE);
	assert_int_equal(u.nnlri, 1);
	assert_prefix(&u.nlri[0], "192.0.2.0/24");
	bgp_update_free(&u);

	/* Without the capability the next hop length is unexpected: RFC
	 * 7606 §7.11 session reset, Optional Attribute Error (RFC 4760 §7),
	 * data the attribute. */
	assert_int_equal(decode_msg(upd_v4_nh6, sizeof(upd_v4_nh6), &ebgp4, &u, &err), -1);
	assert_int_equal(err.code, BGP_ERR_UPDATE);
	assert_int_equal(err.subcode, BGP_ERR_UPD_OPTIONAL_ATTR);
	assert_bytes(err.data, err.len, upd_v4_nh6 + 23, 28);
	assert_int_equal(u.action, BGP_UPDATE_SESSION_RESET);
	assert_int_equal(u.nnlri, 0);
	bgp_update_free(&u);

	/* An IPv4 next hop inside MP_REACH_NLRI is fine for IPv4 NLRI. */
	assert_int_equal(decode_msg((const uint8_t[]){ MARKER, 0x00, 0x34, 0x02, 0x00, 0x00, 0x00,
						       0x1d, 0x80, 0x0e, 0x0d, 0x00, 0x01,
						       0x01, 0x04, 0xc0, 0x00, 0x02, 0x01, 0x00,
						       0x18, 0xc6, 0x33, 0x64,
						       0x40, 0x01, 0x01, 0x02,
						       0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00,
						       0xfd, 0xe9 },
				 52, &ebgp4, &u, &err),
			 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_ip(&u.mp_next_hop, "192.0.2.1");
	assert_prefix(&u.nlri[0], "198.51.100.0/24");
	assert_int_equal(u.attrs.origin, BGP_ORIGIN_INCOMPLETE);
	bgp_update_free(&u);
}

static const uint8_t wd_v4[] = {
	MARKER, 0x00, 0x20, 0x02,
	0x00, 0x09,
	0x18, 0xc0, 0x00, 0x02,
	0x20, 0xc6, 0x33, 0x64, 0x07,
	0x00, 0x00,
};

static const uint8_t wd_v6[] = {
	MARKER, 0x00, 0x24, 0x02,
	0x00, 0x00, 0x00, 0x0d,
	0x80, 0x0f, 0x0a, 0x00, 0x02, 0x01,     /* MP_UNREACH_NLRI IPv6 unicast */
	0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01,
};

static void test_withdraw(void **state)
{
	struct ip_prefix p[] = { pfx("192.0.2.0/24"), pfx("2001:db8:1::/48"),
				 pfx("198.51.100.7/32") };
	struct bgp_update u;
	struct bgp_notify err;
	struct wbuf w;
	size_t n;
	uint16_t afi;
	uint8_t safi;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_withdraw(&w, p, 3, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(w.len, sizeof(wd_v4) + sizeof(wd_v6));
	assert_bytes(w.p, sizeof(wd_v4), wd_v4, sizeof(wd_v4));
	assert_bytes(w.p + sizeof(wd_v4), sizeof(wd_v6), wd_v6, sizeof(wd_v6));
	wbuf_free(&w);

	assert_int_equal(decode_msg(wd_v4, sizeof(wd_v4), &ebgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_int_equal(u.nwithdrawn, 2);
	assert_prefix(&u.withdrawn[1], "198.51.100.7/32");
	assert_false(bgp_update_is_eor(&u, &afi, &safi));
	bgp_update_free(&u);

	assert_int_equal(decode_msg(wd_v6, sizeof(wd_v6), &ebgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_true(u.has_mp_unreach);
	assert_false(u.mp_unreach_empty);
	assert_int_equal(u.nwithdrawn, 1);
	assert_prefix(&u.withdrawn[0], "2001:db8:1::/48");
	assert_false(bgp_update_is_eor(&u, &afi, &safi));
	bgp_update_free(&u);
}

static const uint8_t eor_v4[] = { MARKER, 0x00, 0x17, 0x02, 0x00, 0x00, 0x00, 0x00 };
static const uint8_t eor_v6[] = {
	MARKER, 0x00, 0x1d, 0x02,
	0x00, 0x00, 0x00, 0x06,
	0x80, 0x0f, 0x03, 0x00, 0x02, 0x01,
};

static void test_end_of_rib(void **state)
{
	struct bgp_update u;
	struct bgp_notify err;
	struct wbuf w;
	uint16_t afi = 0;
	uint8_t safi = 0;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_eor(&w, BGP_AFI_IPV4, BGP_SAFI_UNICAST), 0);
	assert_wbuf(&w, eor_v4, sizeof(eor_v4));
	wbuf_reset(&w);
	assert_int_equal(bgp_update_build_eor(&w, BGP_AFI_IPV6, BGP_SAFI_UNICAST), 0);
	assert_wbuf(&w, eor_v6, sizeof(eor_v6));
	wbuf_free(&w);

	assert_int_equal(decode_msg(eor_v4, sizeof(eor_v4), &ebgp4, &u, &err), 0);
	assert_true(bgp_update_is_eor(&u, &afi, &safi));
	assert_int_equal(afi, BGP_AFI_IPV4);
	assert_int_equal(safi, BGP_SAFI_UNICAST);
	bgp_update_free(&u);
	assert_int_equal(decode_msg(eor_v6, sizeof(eor_v6), &ebgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_true(bgp_update_is_eor(&u, &afi, &safi));
	assert_int_equal(afi, BGP_AFI_IPV6);
	assert_int_equal(safi, BGP_SAFI_UNICAST);
	bgp_update_free(&u);
	/* An UPDATE with attributes is not an End-of-RIB. */
	assert_int_equal(decode_msg(upd_v6, sizeof(upd_v6), &ebgp4, &u, &err), 0);
	assert_false(bgp_update_is_eor(&u, &afi, &safi));
	bgp_update_free(&u);
}

/* Large communities are written in (global, local1, local2) order, each
 * once (RFC 8092 §5 asks for no duplicates). */
static void test_large_order(void **state)
{
	static const struct bgp_large_community lg[] = {
		{ 2, 0, 0 }, { 1, 5, 5 }, { 1, 5, 4 }, { 1, 4, 9 }, { 1, 5, 5 },
	};
	struct bgp_attr_set a = {
		.origin = BGP_ORIGIN_EGP, .next_hop = addr("10.0.0.1"), .nlarge = 5, .large = lg,
	};
	struct ip_prefix p = pfx("0.0.0.0/0");
	static const uint8_t want[] = {
		MARKER, 0x00, 0x59, 0x02,               /* 89 bytes */
		0x00, 0x00, 0x00, 0x41,                 /* 65 of attributes */
		0x40, 0x01, 0x01, 0x01,                 /* ORIGIN EGP */
		0x40, 0x02, 0x00,
		0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01,
		0xc0, 0x20, 0x30,
		0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 9,
		0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 4,
		0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 5,
		0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
		0x00,                                   /* 0.0.0.0/0 */
	};
	struct bgp_update u;
	struct bgp_notify err;
	struct wbuf w;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_announce(&w, &ibgp4, &a, &p, 1, NULL), 0);
	assert_wbuf(&w, want, sizeof(want));
	assert_int_equal(decode_msg(w.p, w.len, &ibgp4, &u, &err), 0);
	assert_int_equal(u.attrs.origin, BGP_ORIGIN_EGP);
	assert_int_equal(u.attrs.nlarge, 4);
	assert_int_equal(u.attrs.large[3].global, 2);
	assert_prefix(&u.nlri[0], "0.0.0.0/0");
	bgp_update_free(&u);
	wbuf_free(&w);
}

/* Attributes past 255 bytes get the Extended Length flag; long paths are
 * split into segments of 255. */
static void test_extended_length(void **state)
{
	uint32_t comm[100], path[300];
	struct bgp_attr_set a = {
		.origin = BGP_ORIGIN_IGP, .next_hop = addr("10.0.0.1"),
		.ncommunities = 100, .communities = comm,
	};
	struct ip_prefix p = pfx("10.96.0.0/16");
	struct bgp_update u;
	struct bgp_notify err;
	struct wbuf w;

	(void)state;
	for (uint32_t i = 0; i < 100; i++)
		comm[i] = 0xfde90000 + 99 - i;
	for (uint32_t i = 0; i < 300; i++)
		path[i] = 4200000000u + i;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_announce(&w, &ibgp4, &a, &p, 1, NULL), 0);
	/* ORIGIN (4), empty AS_PATH (3), NEXT_HOP (7), then COMMUNITIES. */
	assert_bytes(w.p + 37, 8,
		     (const uint8_t[]){ 0xd0, 0x08, 0x01, 0x90, 0xfd, 0xe9, 0x00, 0x00 }, 8);
	assert_int_equal(decode_msg(w.p, w.len, &ibgp4, &u, &err), 0);
	assert_int_equal(u.attrs.ncommunities, 100);
	assert_int_equal(u.attrs.communities[99], 0xfde90063);
	bgp_update_free(&u);

	wbuf_reset(&w);
	a.ncommunities = 0;
	a.as_path = path;
	a.as_path_len = 300;
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p, 1, NULL), 0);
	/* AS_PATH: 0x50, 2, 2 + 1020 + 2 + 180 = 1204 = 0x04b4. */
	assert_bytes(w.p + 27, 6, (const uint8_t[]){ 0x50, 0x02, 0x04, 0xb4, 0x02, 0xff }, 6);
	assert_int_equal(decode_msg(w.p, w.len, &ebgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_int_equal(u.attrs.as_path.nsegs, 2);
	assert_int_equal(u.attrs.as_path.segs[1].count, 45);
	assert_int_equal(u.attrs.as_path.segs[1].first, 255);
	assert_int_equal(u.attrs.as_path.nasns, 300);
	assert_int_equal(u.attrs.as_path.asns[299], 4200000299u);
	bgp_update_free(&u);

	/* The same path towards a 2-octet speaker: AS_TRANS throughout,
	 * and AS4_PATH with the real ASNs. */
	wbuf_reset(&w);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp2, &a, &p, 1, NULL), 0);
	assert_int_equal(decode_msg(w.p, w.len, &ebgp2, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_int_equal(u.attrs.as_path.asns[123], BGP_AS_TRANS);
	assert_true(u.attrs.has_as4_path);
	assert_int_equal(u.attrs.as4_path.nasns, 300);
	assert_int_equal(u.attrs.as4_path.asns[123], 4200000123u);
	bgp_update_free(&u);
	wbuf_free(&w);
}

/* ------------------------------------------------------------------ */
/* Malformed messages and RFC 7606 */

#define ORIGIN_IGP 0x40, 0x01, 0x01, 0x00
#define AS_PATH_65001 0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9
#define AS_PATH_65001_2 0x40, 0x02, 0x04, 0x02, 0x01, 0xfd, 0xe9
#define NEXT_HOP_1 0x40, 0x03, 0x04, 0xc0, 0x00, 0x02, 0x01
#define BASE ORIGIN_IGP, AS_PATH_65001, NEXT_HOP_1
#define NLRI_24 0x18, 0xc0, 0x00, 0x02
#define MP_REACH_V6_BODY 0x00, 0x02, 0x01, 0x10, NH6, 0x00, 0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01
#define MP_REACH_V6 0x80, 0x0e, 0x1c, MP_REACH_V6_BODY
#define MP_REACH_NH15                                                                              \
	0x80, 0x0e, 0x1b, 0x00, 0x02, 0x01, 0x0f, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,  \
		0, 0, 0, 0x00, 0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01
#define MP_REACH_V4_NH6 0x80, 0x0e, 0x19, 0x00, 0x01, 0x01, 0x10, NH6, 0x00, NLRI_24
#define MP_REACH_NH_ZERO                                                                           \
	0x80, 0x0e, 0x1c, 0x00, 0x02, 0x01, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  \
		0x00, 0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01

struct upd_case {
	const char *name;
	const struct bgp_msg_opts *o;
	const uint8_t *raw;            /* a whole body, else built from: */
	size_t rawlen;
	const uint8_t *wd;
	size_t wdlen;
	const uint8_t *attrs;
	size_t alen;
	const uint8_t *nlri;
	size_t nlen;
	int rc;
	enum bgp_update_action action;
	uint8_t sub;
	const uint8_t *data;
	size_t dlen;
	int discarded;                 /* a type code that must be discarded */
};

static size_t build_body(const struct upd_case *c, uint8_t *body)
{
	size_t n = 0;

	if (c->raw) {
		memcpy(body, c->raw, c->rawlen);
		return c->rawlen;
	}
	body[n++] = (uint8_t)(c->wdlen >> 8);
	body[n++] = (uint8_t)c->wdlen;
	if (c->wdlen)
		memcpy(body + n, c->wd, c->wdlen);
	n += c->wdlen;
	body[n++] = (uint8_t)(c->alen >> 8);
	body[n++] = (uint8_t)c->alen;
	if (c->alen)
		memcpy(body + n, c->attrs, c->alen);
	n += c->alen;
	if (c->nlen)
		memcpy(body + n, c->nlri, c->nlen);
	return n + c->nlen;
}

#define OK_(name, o, attrs, nlri) { name, o, NONE, NONE, attrs, nlri, 0, BGP_UPDATE_OK, 0, NONE, 0 }

static void test_malformed(void **state)
{
	static const struct bgp_msg_opts first_as = { .as4 = true, .ebgp = true,
		.first_as = 65002 };
	static const struct bgp_msg_opts first_ok = { .as4 = true, .ebgp = true,
		.first_as = 65001 };
	static const struct bgp_msg_opts first_big = { .as4 = false, .ebgp = true,
						       .first_as = 4200000001u };
	static const struct bgp_msg_opts ext_nh = { .as4 = true, .ebgp = true,
		.ext_nh_ipv4 = true };
	const enum bgp_update_action TAW = BGP_UPDATE_TREAT_AS_WITHDRAW;
	const enum bgp_update_action DIS = BGP_UPDATE_ATTR_DISCARD;
	const enum bgp_update_action RST = BGP_UPDATE_SESSION_RESET;
	const struct upd_case cases[] = {
		OK_("valid", &ebgp4, BYTES(BASE), BYTES(NLRI_24)),
		OK_("partial bit ignored", &ebgp4,
		  BYTES(0x60, 0x01, 0x01, 0x00, AS_PATH_65001, NEXT_HOP_1), BYTES(NLRI_24)),
		OK_("extended length on a short attribute", &ebgp4,
		  BYTES(0x50, 0x01, 0x00, 0x01, 0x00, AS_PATH_65001, NEXT_HOP_1), BYTES(NLRI_24)),
		OK_("2-octet AS_PATH on a 2-octet session", &ebgp2,
		  BYTES(ORIGIN_IGP, AS_PATH_65001_2, NEXT_HOP_1), BYTES(NLRI_24)),
		OK_("confederation from an internal peer", &ibgp4,
		  BYTES(ORIGIN_IGP, 0x40, 0x02, 0x06, 0x03, 0x01, 0x00, 0x00, 0xfd, 0xe9,
		        NEXT_HOP_1), BYTES(NLRI_24)),
		OK_("AS_SET", &ebgp4,
		  BYTES(ORIGIN_IGP, 0x40, 0x02, 0x0c, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9, 0x01,
		        0x01, 0x00, 0x00, 0xfd, 0xea, NEXT_HOP_1), BYTES(NLRI_24)),
		OK_("first AS matches", &first_ok, BYTES(BASE), BYTES(NLRI_24)),
		OK_("first AS as AS_TRANS", &first_big,
		  BYTES(ORIGIN_IGP, 0x40, 0x02, 0x04, 0x02, 0x01, 0x5b, 0xa0, NEXT_HOP_1),
		  BYTES(NLRI_24)),
		OK_("AGGREGATOR on a 2-octet session", &ebgp2,
		  BYTES(ORIGIN_IGP, AS_PATH_65001_2, NEXT_HOP_1, 0xc0, 0x07, 0x06, 0xfd, 0xe9, 0xc0,
		        0x00, 0x02, 0x01), BYTES(NLRI_24)),
		OK_("AGGREGATOR and ATOMIC_AGGREGATE", &ebgp4,
		  BYTES(BASE, 0x40, 0x06, 0x00, 0xc0, 0x07, 0x08, 0x00, 0x00, 0xfd, 0xe9, 0xc0,
		        0x00, 0x02, 0x01), BYTES(NLRI_24)),
		OK_("unknown optional non-transitive ignored", &ebgp4,
		  BYTES(BASE, 0x80, 0x63, 0x01, 0xff), BYTES(NLRI_24)),
		OK_("MP_REACH_NLRI of another family skipped", &ebgp4,
		  BYTES(ORIGIN_IGP, AS_PATH_65001, 0x80, 0x0e, 0x0a, 0x00, 0x01, 0x80, 0x04, 0x0a,
		        0x00, 0x00, 0x01, 0x00, 0xff), NONE),
		OK_("IPv4 NLRI with IPv6 next hop, negotiated", &ext_nh,
		  BYTES(MP_REACH_V4_NH6, ORIGIN_IGP, AS_PATH_65001), NONE),
		OK_("link-local next hop alone", &ebgp4,
		  BYTES(0x80, 0x0e, 0x1c, 0x00, 0x02, 0x01, 0x10, LL6, 0x00, 0x30, 0x20, 0x01, 0x0d,
		        0xb8, 0x00, 0x01, ORIGIN_IGP, AS_PATH_65001), NONE),

		/* RFC 4271 §6.3: lengths past the message. */
		{ "withdrawn length past the body", &ebgp4, BYTES(0x00, 0x10, 0x00, 0x00), NONE,
		  NONE, NONE, -1, RST, BGP_ERR_UPD_ATTR_LIST, NONE, 0 },
		{ "attribute length past the body", &ebgp4,
		  BYTES(0x00, 0x00, 0x00, 0x30, ORIGIN_IGP), NONE, NONE, NONE, -1, RST,
		  BGP_ERR_UPD_ATTR_LIST, NONE, 0 },
		{ "three-byte body", &ebgp4, BYTES(0x00, 0x00, 0x00), NONE, NONE, NONE, -1, RST,
		  BGP_ERR_UPD_ATTR_LIST, NONE, 0 },
		/* RFC 7606 §5.3: unparseable NLRI. */
		{ "NLRI /33", &ebgp4, NONE, NONE, BYTES(BASE),
		  BYTES(0x21, 0xc0, 0x00, 0x02, 0x00, 0x00), -1, RST, BGP_ERR_UPD_NETWORK, NONE,
		  0 },
		{ "NLRI overrun", &ebgp4, NONE, NONE, BYTES(BASE), BYTES(0x18, 0xc0, 0x00), -1, RST,
		  BGP_ERR_UPD_NETWORK, NONE, 0 },
		{ "withdrawn /33", &ebgp4, NONE, BYTES(0x21, 0xc0, 0x00, 0x02, 0x00, 0x00), NONE,
		  NONE, -1, RST, BGP_ERR_UPD_NETWORK, NONE, 0 },
		{ "withdrawn overrun", &ebgp4, NONE, BYTES(0x20, 0xc0), NONE, NONE, -1, RST,
		  BGP_ERR_UPD_NETWORK, NONE, 0 },

		/* RFC 7606 §7.1 */
		{ "ORIGIN 3", &ebgp4, NONE, NONE,
		  BYTES(0x40, 0x01, 0x01, 0x03, AS_PATH_65001, NEXT_HOP_1), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ORIGIN, BYTES(0x40, 0x01, 0x01, 0x03), 0 },
		{ "ORIGIN length 2", &ebgp4, NONE, NONE,
		  BYTES(0x40, 0x01, 0x02, 0x00, 0x00, AS_PATH_65001, NEXT_HOP_1), BYTES(NLRI_24), 0,
		  TAW, BGP_ERR_UPD_ATTR_LENGTH, BYTES(0x40, 0x01, 0x02, 0x00, 0x00), 0 },
		/* RFC 7606 §3 c */
		{ "ORIGIN marked optional", &ebgp4, NONE, NONE,
		  BYTES(0xc0, 0x01, 0x01, 0x00, AS_PATH_65001, NEXT_HOP_1), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_FLAGS, BYTES(0xc0, 0x01, 0x01, 0x00), 0 },
		{ "ORIGIN not transitive", &ebgp4, NONE, NONE,
		  BYTES(0x00, 0x01, 0x01, 0x00, AS_PATH_65001, NEXT_HOP_1), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_FLAGS, BYTES(0x00, 0x01, 0x01, 0x00), 0 },
		{ "MED transitive", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0xc0, 0x04, 0x04, 0x00, 0x00, 0x00, 0x01), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_FLAGS, BYTES(0xc0, 0x04, 0x04, 0x00, 0x00, 0x00, 0x01), 0 },
		{ "COMMUNITIES well-known", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0x40, 0x08, 0x04, 0xfd, 0xe9, 0x00, 0x01), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_FLAGS, BYTES(0x40, 0x08, 0x04, 0xfd, 0xe9, 0x00, 0x01), 0 },
		/* RFC 7606 §3 d: data the missing type code. */
		{ "ORIGIN missing", &ebgp4, NONE, NONE, BYTES(AS_PATH_65001, NEXT_HOP_1),
		  BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_WELLKNOWN_MISSING, BYTES(0x01), 0 },
		{ "AS_PATH missing", &ebgp4, NONE, NONE, BYTES(ORIGIN_IGP, NEXT_HOP_1),
		  BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_WELLKNOWN_MISSING, BYTES(0x02), 0 },
		{ "NEXT_HOP missing", &ebgp4, NONE, NONE, BYTES(ORIGIN_IGP, AS_PATH_65001),
		  BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_WELLKNOWN_MISSING, BYTES(0x03), 0 },
		{ "AS_PATH missing with MP_REACH_NLRI", &ebgp4, NONE, NONE,
		  BYTES(MP_REACH_V6, ORIGIN_IGP), NONE, 0, TAW, BGP_ERR_UPD_WELLKNOWN_MISSING,
		  BYTES(0x02), 0 },
		/* RFC 7606 §7.2, no data (RFC 4271 §6.3). */
		{ "AS_PATH segment of 0", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, 0x40, 0x02, 0x02, 0x02, 0x00, NEXT_HOP_1), BYTES(NLRI_24), 0,
		  TAW, BGP_ERR_UPD_AS_PATH, NONE, 0 },
		{ "AS_PATH overrun", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, 0x40, 0x02, 0x06, 0x02, 0x02, 0x00, 0x00, 0xfd, 0xe9,
		        NEXT_HOP_1), BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_AS_PATH, NONE, 0 },
		{ "AS_PATH underrun", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, 0x40, 0x02, 0x07, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9, 0x02,
		        NEXT_HOP_1), BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_AS_PATH, NONE, 0 },
		{ "AS_PATH segment type 5", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, 0x40, 0x02, 0x06, 0x05, 0x01, 0x00, 0x00, 0xfd, 0xe9,
		        NEXT_HOP_1), BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_AS_PATH, NONE, 0 },
		{ "2-octet AS_PATH on a 4-octet session", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, AS_PATH_65001_2, NEXT_HOP_1), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_AS_PATH, NONE, 0 },
		{ "AS 0 in AS_PATH", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, 0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00,
		        NEXT_HOP_1), BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_AS_PATH, NONE, 0 },
		{ "confederation from an external peer", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, 0x40, 0x02, 0x06, 0x03, 0x01, 0x00, 0x00, 0xfd, 0xe9,
		        NEXT_HOP_1), BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_AS_PATH, NONE, 0 },
		{ "first AS not the peer's", &first_as, NONE, NONE, BYTES(BASE), BYTES(NLRI_24), 0,
		  TAW, BGP_ERR_UPD_AS_PATH, NONE, 0 },
		{ "empty AS_PATH from a checked external peer", &first_as, NONE, NONE,
		  BYTES(ORIGIN_IGP, 0x40, 0x02, 0x00, NEXT_HOP_1), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_AS_PATH, NONE, 0 },
		/* RFC 7606 §7.3, RFC 4271 §6.3 */
		{ "NEXT_HOP length 5", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, AS_PATH_65001, 0x40, 0x03, 0x05, 0xc0, 0x00, 0x02, 0x01, 0x00),
		  BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_ATTR_LENGTH,
		  BYTES(0x40, 0x03, 0x05, 0xc0, 0x00, 0x02, 0x01, 0x00), 0 },
		{ "NEXT_HOP 0.0.0.0", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, AS_PATH_65001, 0x40, 0x03, 0x04, 0, 0, 0, 0), BYTES(NLRI_24), 0,
		  TAW, BGP_ERR_UPD_NEXT_HOP, BYTES(0x40, 0x03, 0x04, 0, 0, 0, 0), 0 },
		{ "NEXT_HOP multicast", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, AS_PATH_65001, 0x40, 0x03, 0x04, 0xe0, 0, 0, 1), BYTES(NLRI_24),
		  0, TAW, BGP_ERR_UPD_NEXT_HOP, BYTES(0x40, 0x03, 0x04, 0xe0, 0, 0, 1), 0 },
		{ "NEXT_HOP bad without NLRI field", &ebgp4, NONE, NONE,
		  BYTES(MP_REACH_V6, ORIGIN_IGP, AS_PATH_65001, 0x40, 0x03, 0x04, 0, 0, 0, 0), NONE,
		  0, DIS, BGP_ERR_UPD_NEXT_HOP, BYTES(0x40, 0x03, 0x04, 0, 0, 0, 0),
		  BGP_ATTR_NEXT_HOP },
		/* RFC 7606 §7.4, §7.5 */
		{ "MED length 3", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0x80, 0x04, 0x03, 0x00, 0x00, 0x01), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_LENGTH, BYTES(0x80, 0x04, 0x03, 0x00, 0x00, 0x01), 0 },
		{ "LOCAL_PREF from an external peer", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0x64), BYTES(NLRI_24), 0, DIS,
		  BGP_ERR_UPD_UNSPECIFIC, BYTES(0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0x64),
		  BGP_ATTR_LOCAL_PREF },
		{ "LOCAL_PREF with bad flags from an external peer", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0xc0, 0x05, 0x04, 0x00, 0x00, 0x00, 0x64), BYTES(NLRI_24), 0, DIS,
		  BGP_ERR_UPD_ATTR_FLAGS, BYTES(0xc0, 0x05, 0x04, 0x00, 0x00, 0x00, 0x64),
		  BGP_ATTR_LOCAL_PREF },
		{ "LOCAL_PREF length 2", &ibgp4, NONE, NONE,
		  BYTES(BASE, 0x40, 0x05, 0x02, 0x00, 0x64), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_LENGTH, BYTES(0x40, 0x05, 0x02, 0x00, 0x64), 0 },
		/* RFC 7606 §7.6, §7.7, RFC 7607 */
		{ "ATOMIC_AGGREGATE length 1", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0x40, 0x06, 0x01, 0x00), BYTES(NLRI_24), 0, DIS,
		  BGP_ERR_UPD_ATTR_LENGTH, BYTES(0x40, 0x06, 0x01, 0x00),
		  BGP_ATTR_ATOMIC_AGGREGATE },
		{ "ATOMIC_AGGREGATE optional", &ebgp4, NONE, NONE, BYTES(BASE, 0xc0, 0x06, 0x00),
		  BYTES(NLRI_24), 0, DIS, BGP_ERR_UPD_ATTR_FLAGS, BYTES(0xc0, 0x06, 0x00),
		  BGP_ATTR_ATOMIC_AGGREGATE },
		{ "AGGREGATOR of 6 on a 4-octet session", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0xc0, 0x07, 0x06, 0xfd, 0xe9, 0xc0, 0x00, 0x02, 0x01), BYTES(NLRI_24),
		  0, DIS, BGP_ERR_UPD_ATTR_LENGTH,
		  BYTES(0xc0, 0x07, 0x06, 0xfd, 0xe9, 0xc0, 0x00, 0x02, 0x01),
		  BGP_ATTR_AGGREGATOR },
		{ "AGGREGATOR AS 0", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0xc0, 0x07, 0x08, 0, 0, 0, 0, 0xc0, 0x00, 0x02, 0x01), BYTES(NLRI_24),
		  0, DIS, BGP_ERR_UPD_OPTIONAL_ATTR,
		  BYTES(0xc0, 0x07, 0x08, 0, 0, 0, 0, 0xc0, 0x00, 0x02, 0x01),
		  BGP_ATTR_AGGREGATOR },
		/* RFC 7606 §7.8, RFC 8092 §6 */
		{ "COMMUNITIES length 5", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0xc0, 0x08, 0x05, 0, 0, 0, 0, 0), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_LENGTH, BYTES(0xc0, 0x08, 0x05, 0, 0, 0, 0, 0), 0 },
		{ "COMMUNITIES empty", &ebgp4, NONE, NONE, BYTES(BASE, 0xc0, 0x08, 0x00),
		  BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_ATTR_LENGTH, BYTES(0xc0, 0x08, 0x00), 0 },
		{ "LARGE_COMMUNITIES length 13", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0xc0, 0x20, 0x0d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		  BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_ATTR_LENGTH,
		  BYTES(0xc0, 0x20, 0x0d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 0 },
		/* RFC 7606 §7.9, §7.10, §7.14 */
		{ "ORIGINATOR_ID from an external peer", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0x80, 0x09, 0x04, 0x0a, 0, 0, 1), BYTES(NLRI_24), 0, DIS,
		  BGP_ERR_UPD_UNSPECIFIC, BYTES(0x80, 0x09, 0x04, 0x0a, 0, 0, 1),
		  BGP_ATTR_ORIGINATOR_ID },
		{ "ORIGINATOR_ID length 3", &ibgp4, NONE, NONE,
		  BYTES(BASE, 0x80, 0x09, 0x03, 0x0a, 0, 0), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_LENGTH, BYTES(0x80, 0x09, 0x03, 0x0a, 0, 0), 0 },
		{ "CLUSTER_LIST length 6", &ibgp4, NONE, NONE,
		  BYTES(BASE, 0x80, 0x0a, 0x06, 0x0a, 0, 0, 1, 0, 0), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_LENGTH, BYTES(0x80, 0x0a, 0x06, 0x0a, 0, 0, 1, 0, 0), 0 },
		{ "EXT_COMMUNITIES length 7", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0xc0, 0x10, 0x07, 0, 2, 0xfd, 0xe9, 0, 0, 0), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_LENGTH, BYTES(0xc0, 0x10, 0x07, 0, 2, 0xfd, 0xe9, 0, 0, 0), 0 },
		/* RFC 6793 §4.1, §6 */
		{ "AS4_PATH between 4-octet speakers", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0xc0, 0x11, 0x06, 0x02, 0x01, 0, 0, 0xfd, 0xe9), BYTES(NLRI_24), 0,
		  DIS, BGP_ERR_UPD_UNSPECIFIC,
		  BYTES(0xc0, 0x11, 0x06, 0x02, 0x01, 0, 0, 0xfd, 0xe9), BGP_ATTR_AS4_PATH },
		{ "AS4_PATH with a confederation segment", &ebgp2, NONE, NONE,
		  BYTES(ORIGIN_IGP, AS_PATH_65001_2, NEXT_HOP_1, 0xc0, 0x11, 0x06, 0x03, 0x01, 0, 0,
		        0xfd, 0xe9), BYTES(NLRI_24), 0, DIS, BGP_ERR_UPD_OPTIONAL_ATTR,
		  BYTES(0xc0, 0x11, 0x06, 0x03, 0x01, 0, 0, 0xfd, 0xe9), BGP_ATTR_AS4_PATH },
		{ "AS4_AGGREGATOR of 6", &ebgp2, NONE, NONE,
		  BYTES(ORIGIN_IGP, AS_PATH_65001_2, NEXT_HOP_1, 0xc0, 0x12, 0x06, 0xfd, 0xe9, 0xc0,
		        0, 2, 1), BYTES(NLRI_24), 0, DIS, BGP_ERR_UPD_ATTR_LENGTH,
		  BYTES(0xc0, 0x12, 0x06, 0xfd, 0xe9, 0xc0, 0, 2, 1), BGP_ATTR_AS4_AGGREGATOR },
		/* RFC 4271 §6.3: unrecognized well-known: session reset. */
		{ "unknown well-known", &ebgp4, NONE, NONE, BYTES(BASE, 0x40, 0x63, 0x01, 0xff),
		  BYTES(NLRI_24), -1, RST, BGP_ERR_UPD_WELLKNOWN_UNRECOGNIZED,
		  BYTES(0x40, 0x63, 0x01, 0xff), 0 },
		/* RFC 7606 §3 g */
		{ "ORIGIN twice", &ebgp4, NONE, NONE, BYTES(BASE, 0x40, 0x01, 0x01, 0x02),
		  BYTES(NLRI_24), 0, DIS, BGP_ERR_UPD_ATTR_LIST, BYTES(0x40, 0x01, 0x01, 0x02), 0 },
		{ "MP_REACH_NLRI twice", &ebgp4, NONE, NONE,
		  BYTES(MP_REACH_V6, MP_REACH_V6, ORIGIN_IGP, AS_PATH_65001), NONE, -1, RST,
		  BGP_ERR_UPD_ATTR_LIST, NONE, 0 },
		{ "MP_UNREACH_NLRI twice", &ebgp4, NONE, NONE,
		  BYTES(0x80, 0x0f, 0x03, 0x00, 0x02, 0x01, 0x80, 0x0f, 0x03, 0x00, 0x02, 0x01),
		  NONE, -1, RST, BGP_ERR_UPD_ATTR_LIST, NONE, 0 },
		/* RFC 7606 §4 */
		{ "attribute past the attributes", &ebgp4, NONE, NONE,
		  BYTES(BASE, 0xc0, 0x08, 0x08, 0xfd, 0xe9), BYTES(NLRI_24), 0, TAW,
		  BGP_ERR_UPD_ATTR_LENGTH, BYTES(0xc0, 0x08, 0x08, 0xfd, 0xe9), 0 },
		{ "attribute header cut", &ebgp4, NONE, NONE, BYTES(BASE, 0x40), BYTES(NLRI_24), 0,
		  TAW, BGP_ERR_UPD_ATTR_LIST, NONE, 0 },
		{ "extended length header cut", &ebgp4, NONE, NONE, BYTES(BASE, 0x50, 0x08, 0x00),
		  BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_ATTR_LIST, NONE, 0 },
		/* RFC 7606 §5.2: attributes, no reachable NLRI, an error
		 * beyond discard: session reset. */
		{ "bad ORIGIN without NLRI", &ebgp4, NONE, NONE,
		  BYTES(0x40, 0x01, 0x01, 0x03, AS_PATH_65001, NEXT_HOP_1), NONE, -1, RST,
		  BGP_ERR_UPD_ORIGIN, BYTES(0x40, 0x01, 0x01, 0x03), 0 },
		{ "bad ORIGIN with withdrawals only", &ebgp4, NONE, BYTES(NLRI_24),
		  BYTES(0x40, 0x01, 0x01, 0x03), NONE, -1, RST, BGP_ERR_UPD_ORIGIN,
		  BYTES(0x40, 0x01, 0x01, 0x03), 0 },
		{ "discard without NLRI", &ebgp4, NONE, NONE,
		  BYTES(ORIGIN_IGP, AS_PATH_65001, 0x40, 0x06, 0x01, 0x00), NONE, 0, DIS,
		  BGP_ERR_UPD_ATTR_LENGTH, BYTES(0x40, 0x06, 0x01, 0x00),
		  BGP_ATTR_ATOMIC_AGGREGATE },
		{ "MP_UNREACH_NLRI with bad flags alone", &ebgp4, NONE, NONE,
		  BYTES(0x40, 0x0f, 0x0a, 0x00, 0x02, 0x01, 0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00,
		        0x01), NONE, 0, TAW, BGP_ERR_UPD_ATTR_FLAGS,
		  BYTES(0x40, 0x0f, 0x0a, 0x00, 0x02, 0x01, 0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00,
		        0x01), 0 },
		/* RFC 7606 §7.11, RFC 4760 §7 */
		{ "MP_REACH_NLRI next hop length 15", &ebgp4, NONE, NONE,
		  BYTES(MP_REACH_NH15, ORIGIN_IGP, AS_PATH_65001), NONE, -1, RST,
		  BGP_ERR_UPD_OPTIONAL_ATTR, BYTES(MP_REACH_NH15), 0 },
		{ "MP_REACH_NLRI IPv6 next hop for IPv4, not negotiated", &ebgp4, NONE, NONE,
		  BYTES(MP_REACH_V4_NH6, ORIGIN_IGP, AS_PATH_65001), NONE, -1, RST,
		  BGP_ERR_UPD_OPTIONAL_ATTR, BYTES(MP_REACH_V4_NH6), 0 },
		{ "MP_REACH_NLRI cut", &ebgp4, NONE, NONE,
		  BYTES(0x80, 0x0e, 0x02, 0x00, 0x02, ORIGIN_IGP, AS_PATH_65001), NONE, -1, RST,
		  BGP_ERR_UPD_OPTIONAL_ATTR, BYTES(0x80, 0x0e, 0x02, 0x00, 0x02), 0 },
		{ "MP_REACH_NLRI without reserved octet", &ebgp4, NONE, NONE,
		  BYTES(0x80, 0x0e, 0x14, 0x00, 0x02, 0x01, 0x10, NH6), NONE, -1, RST,
		  BGP_ERR_UPD_OPTIONAL_ATTR, BYTES(0x80, 0x0e, 0x14, 0x00, 0x02, 0x01, 0x10, NH6),
		  0 },
		{ "MP_REACH_NLRI /129", &ebgp4, NONE, NONE,
		  BYTES(0x80, 0x0e, 0x16, 0x00, 0x02, 0x01, 0x10, NH6, 0x00, 0x81, ORIGIN_IGP,
		        AS_PATH_65001), NONE, -1, RST, BGP_ERR_UPD_NETWORK, NONE, 0 },
		{ "MP_UNREACH_NLRI cut", &ebgp4, NONE, NONE, BYTES(0x80, 0x0f, 0x02, 0x00, 0x02),
		  NONE, -1, RST, BGP_ERR_UPD_OPTIONAL_ATTR, BYTES(0x80, 0x0f, 0x02, 0x00, 0x02),
		  0 },
		{ "MP_UNREACH_NLRI overrun", &ebgp4, NONE, NONE,
		  BYTES(0x80, 0x0f, 0x05, 0x00, 0x02, 0x01, 0x40, 0x20), NONE, -1, RST,
		  BGP_ERR_UPD_NETWORK, NONE, 0 },
		{ "MP_REACH_NLRI well-known", &ebgp4, NONE, NONE,
		  BYTES(0x40, 0x0e, 0x1c, MP_REACH_V6_BODY, ORIGIN_IGP, AS_PATH_65001), NONE, 0,
		  TAW, BGP_ERR_UPD_ATTR_FLAGS, BYTES(0x40, 0x0e, 0x1c, MP_REACH_V6_BODY), 0 },
		{ "MP_REACH_NLRI next hop ::", &ebgp4, NONE, NONE,
		  BYTES(MP_REACH_NH_ZERO, ORIGIN_IGP, AS_PATH_65001), NONE, 0, TAW,
		  BGP_ERR_UPD_NEXT_HOP, BYTES(MP_REACH_NH_ZERO), 0 },
		/* RFC 7606 §3 h: the strongest action wins, the first of it
		 * is reported. */
		{ "discard then treat-as-withdraw", &ebgp4, NONE, NONE,
		  BYTES(0x40, 0x06, 0x01, 0x00, 0x40, 0x01, 0x01, 0x03, AS_PATH_65001, NEXT_HOP_1),
		  BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_ORIGIN, BYTES(0x40, 0x01, 0x01, 0x03),
		  BGP_ATTR_ATOMIC_AGGREGATE },
		{ "two treat-as-withdraw", &ebgp4, NONE, NONE,
		  BYTES(0x40, 0x01, 0x01, 0x03, 0x40, 0x02, 0x02, 0x02, 0x00, NEXT_HOP_1),
		  BYTES(NLRI_24), 0, TAW, BGP_ERR_UPD_ORIGIN, BYTES(0x40, 0x01, 0x01, 0x03), 0 },
		{ "treat-as-withdraw then reset", &ebgp4, NONE, NONE,
		  BYTES(0x40, 0x01, 0x01, 0x03, AS_PATH_65001, NEXT_HOP_1, 0x40, 0x63, 0x00),
		  BYTES(NLRI_24), -1, RST, BGP_ERR_UPD_WELLKNOWN_UNRECOGNIZED,
		  BYTES(0x40, 0x63, 0x00), 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct upd_case *c = &cases[i];
		uint8_t body[BGP_MSG_MAX];
		size_t len = build_body(c, body);
		struct bgp_update u;
		struct bgp_notify err = { 0 };
		int rc = bgp_update_decode(body, len, c->o, &u, &err);
		const struct bgp_notify *why = rc == 0 ? &u.why : &err;

		if (rc != c->rc || u.action != c->action)
			fail_msg("%s: rc %d action %s (%s), want rc %d action %s", c->name, rc,
				 bgp_update_action_name(u.action),
				 bgp_notify_name(u.why.code, u.why.subcode), c->rc,
				 bgp_update_action_name(c->action));
		if (c->action == BGP_UPDATE_OK) {
			if (why->code != 0)
				fail_msg("%s: why %s", c->name,
					 bgp_notify_name(why->code, why->subcode));
		} else {
			if (why->code != BGP_ERR_UPDATE || why->subcode != c->sub)
				fail_msg("%s: %s, want %s", c->name,
					 bgp_notify_name(why->code, why->subcode),
					 bgp_notify_name(BGP_ERR_UPDATE, c->sub));
			if (why->len != c->dlen || (c->dlen && memcmp(why->data, c->data, c->dlen)))
				fail_msg("%s: data of %u bytes differs (want %zu)", c->name,
					 why->len, c->dlen);
		}
		if (rc == -1) {
			/* Nothing is left to free, and u->why matches. */
			assert_null(u.nlri);
			assert_null(u.withdrawn);
			assert_int_equal(u.why.subcode, err.subcode);
		}
		if (c->discarded && !bgp_update_discarded(&u, (uint8_t)c->discarded))
			fail_msg("%s: type %d not discarded", c->name, c->discarded);
		bgp_update_free(&u);
	}
}

/* Details of decoded messages the table does not look at. */
static void test_decode_details(void **state)
{
	static const uint8_t dup[] = {
		0x00, 0x00, 0x00, 0x18, BASE, 0x40, 0x01, 0x01, 0x02, NLRI_24,
	};
	static const uint8_t kept[] = {
		0x00, 0x00, 0x00, 0x27, BASE, 0xc0, 0x63, 0x02, 0xaa, 0xbb,
		0xc0, 0x10, 0x08, 0x00, 0x02, 0xfd, 0xe9, 0x00, 0x00, 0x00, 0x01,
		0x80, 0x64, 0x00, NLRI_24,
	};
	static const uint8_t ibgp[] = {
		0x00, 0x00, 0x00, 0x2b, ORIGIN_IGP, 0x40, 0x02, 0x00, NEXT_HOP_1,
		0x80, 0x09, 0x04, 0x0a, 0x00, 0x00, 0x09,
		0x80, 0x0a, 0x08, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
		0xc0, 0x07, 0x08, 0x00, 0x00, 0xfd, 0xe9, 0xc0, 0x00, 0x02, 0x01,
		NLRI_24,
	};
	/* Bits past the prefix length are cleared. */
	static const uint8_t host_bits[] = { 0x00, 0x00, 0x00, 0x14, BASE, 0x17, 0xc0, 0x00, 0x03 };
	struct bgp_update u;
	struct bgp_notify err;

	(void)state;
	/* The first of a repeated attribute is kept. */
	assert_int_equal(bgp_update_decode(dup, sizeof(dup), &ebgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_ATTR_DISCARD);
	assert_int_equal(u.attrs.origin, BGP_ORIGIN_IGP);
	assert_int_equal(u.nattrs, 4);
	bgp_update_free(&u);

	/* Optional transitive attributes are kept as they came; unknown
	 * non-transitive ones are dropped. */
	assert_int_equal(bgp_update_decode(kept, sizeof(kept), &ebgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_int_equal(u.attrs.nother, 2);
	assert_int_equal(u.attrs.other[0].type, 0x63);
	assert_int_equal(u.attrs.other[0].flags, 0xc0);
	assert_bytes(u.attrs.other[0].data, u.attrs.other[0].len, (const uint8_t[]){ 0xaa, 0xbb },
		     2);
	assert_int_equal(u.attrs.other[1].type, BGP_ATTR_EXT_COMMUNITIES);
	assert_int_equal(u.attrs.other[1].len, 8);
	bgp_update_free(&u);

	/* Route reflection attributes and AGGREGATOR from an internal peer. */
	assert_int_equal(bgp_update_decode(ibgp, sizeof(ibgp), &ibgp4, &u, &err), 0);
	assert_int_equal(u.action, BGP_UPDATE_OK);
	assert_true(u.attrs.has_originator_id);
	assert_int_equal(u.attrs.originator_id, 0x0a000009);
	assert_int_equal(u.attrs.ncluster, 2);
	assert_int_equal(u.attrs.cluster_list[1], 0x0a000002);
	assert_true(u.attrs.has_aggregator);
	assert_int_equal(u.attrs.aggregator_as, 65001);
	assert_ip(&u.attrs.aggregator_addr, "192.0.2.1");
	bgp_update_free(&u);

	assert_int_equal(bgp_update_decode(host_bits, sizeof(host_bits), &ebgp4, &u, &err), 0);
	assert_prefix(&u.nlri[0], "192.0.2.0/23");
	bgp_update_free(&u);

	/* Treat-as-withdraw still lists the prefixes to withdraw. */
	assert_int_equal(bgp_update_decode((const uint8_t[]){ 0x00, 0x00, 0x00, 0x14, 0x40, 0x01,
							      0x01, 0x07, AS_PATH_65001, NEXT_HOP_1,
							      NLRI_24 },
					   28, &ebgp4, &u, &err),
			 0);
	assert_int_equal(u.action, BGP_UPDATE_TREAT_AS_WITHDRAW);
	assert_int_equal(u.nnlri, 1);
	assert_prefix(&u.nlri[0], "192.0.2.0/24");
	bgp_update_free(&u);

	assert_string_equal(bgp_update_action_name(BGP_UPDATE_OK), "ok");
	assert_string_equal(bgp_update_action_name(BGP_UPDATE_ATTR_DISCARD), "attribute-discard");
	assert_string_equal(bgp_update_action_name(BGP_UPDATE_TREAT_AS_WITHDRAW),
			    "treat-as-withdraw");
	assert_string_equal(bgp_update_action_name(BGP_UPDATE_SESSION_RESET), "session-reset");
}

/* ------------------------------------------------------------------ */
/* Packing */

/* Frame every message in w, check its size, decode it and gather its
 * prefixes. */
static size_t unpack(const struct wbuf *w, const struct bgp_msg_opts *o, struct ip_prefix *out,
		     size_t max, bool withdrawn, size_t *sizes, size_t *nmsgs)
{
	size_t off = 0, n = 0;

	*nmsgs = 0;
	while (off < w->len) {
		struct bgp_update u;
		struct bgp_notify err;
		size_t len;
		uint8_t type;

		assert_int_equal(bgp_frame(w->p + off, w->len - off, &len, &type, &err),
				 BGP_FRAME_MSG);
		assert_true(len <= BGP_MSG_MAX);
		assert_int_equal(type, BGP_MSG_UPDATE);
		sizes[(*nmsgs)++] = len;
		assert_int_equal(bgp_update_decode(w->p + off + 19, len - 19, o, &u, &err), 0);
		assert_int_equal(u.action, BGP_UPDATE_OK);
		for (size_t i = 0; i < (withdrawn ? u.nwithdrawn : u.nnlri); i++) {
			assert_true(n < max);
			out[n++] = withdrawn ? u.withdrawn[i] : u.nlri[i];
		}
		assert_int_equal(withdrawn ? u.nnlri : u.nwithdrawn, 0);
		bgp_update_free(&u);
		off += len;
	}
	return n;
}

static void assert_same(const struct ip_prefix *a, const struct ip_prefix *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ip_eq(&a[i].addr, &b[i].addr) || a[i].len != b[i].len)
			fail_msg("prefix %zu differs", i);
}

static void test_pack_v4(void **state)
{
	static const uint32_t path[] = { 65001 };
	static const uint32_t comm[] = { 0xfde90032, 0xfde90064 };
	static const struct bgp_large_community large[] = { { 65001, 1, 2 } };
	struct bgp_attr_set a = {
		.origin = BGP_ORIGIN_IGP, .as_path_len = 1, .as_path = path,
		.next_hop = addr("192.0.2.1"),
		.ncommunities = 2, .communities = comm, .nlarge = 1, .large = large,
	};
	enum { N = 2000 };
	struct ip_prefix *p = calloc(N, sizeof(*p)), *back = calloc(N, sizeof(*back));
	size_t sizes[16], nmsgs, n;
	struct wbuf w;

	(void)state;
	for (uint32_t i = 0; i < N; i++)
		p[i] = (struct ip_prefix){ ip_v4(0x0a000000 + i), 32 };
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, p, N, &n), 0);
	/* 46 bytes of attributes leave 4027 for 5-byte prefixes: 805 a
	 * message, so 805 + 805 + 390. */
	assert_int_equal(n, 3);
	assert_int_equal(unpack(&w, &ebgp4, back, N, false, sizes, &nmsgs), N);
	assert_int_equal(nmsgs, 3);
	assert_int_equal(sizes[0], 23 + 46 + 805 * 5);
	assert_int_equal(sizes[1], 23 + 46 + 805 * 5);
	assert_int_equal(sizes[2], 23 + 46 + 390 * 5);
	assert_same(p, back, N);

	/* Withdrawals: 814 /32s fill 4093 bytes. */
	wbuf_reset(&w);
	assert_int_equal(bgp_update_build_withdraw(&w, p, N, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(unpack(&w, &ebgp4, back, N, true, sizes, &nmsgs), N);
	assert_int_equal(sizes[0], 23 + 814 * 5);
	assert_int_equal(sizes[2], 23 + (N - 2 * 814) * 5);
	assert_same(p, back, N);
	wbuf_free(&w);
	free(p);
	free(back);
}

static void test_pack_v6(void **state)
{
	static const uint32_t path[] = { 65001 };
	struct bgp_attr_set a = {
		.origin = BGP_ORIGIN_IGP, .as_path_len = 1, .as_path = path,
		.next_hop6 = addr("2001:db8::1"), .next_hop6_ll = addr("fe80::1"),
	};
	enum { N = 2000 };
	struct ip_prefix *p = calloc(N, sizeof(*p)), *back = calloc(N, sizeof(*back));
	struct ip_addr base = addr("2001:db8:100::");
	size_t sizes[16], nmsgs, n;
	struct wbuf w;

	(void)state;
	for (uint32_t i = 0; i < N; i++) {
		p[i].addr = base;
		p[i].addr.v += i * 7919u;
		p[i].len = 128;
	}
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, p, N, &n), 0);
	/* 23 + 13 of ORIGIN and AS_PATH + 4 + 5 + 32 of MP_REACH_NLRI leave
	 * 4019 bytes: 236 prefixes of 17 a message, 9 messages. */
	assert_int_equal(n, 9);
	assert_int_equal(unpack(&w, &ebgp4, back, N, false, sizes, &nmsgs), N);
	assert_int_equal(nmsgs, 9);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(sizes[i], 77 + 236 * 17);
	assert_int_equal(sizes[8], 77 + (N - 8 * 236) * 17);
	assert_same(p, back, N);

	/* Withdrawals: 23 + 4 + 3 leave 4066, 239 a message. */
	wbuf_reset(&w);
	assert_int_equal(bgp_update_build_withdraw(&w, p, N, &n), 0);
	assert_int_equal(n, 9);
	assert_int_equal(unpack(&w, &ebgp4, back, N, true, sizes, &nmsgs), N);
	assert_int_equal(sizes[0], 30 + 239 * 17);
	assert_same(p, back, N);
	wbuf_free(&w);
	free(p);
	free(back);
}

/* Mixed families: IPv4 messages first, then IPv6, each family in input
 * order. */
static void test_pack_mixed(void **state)
{
	static const uint32_t path[] = { 65001 };
	struct bgp_attr_set a = {
		.origin = BGP_ORIGIN_IGP, .as_path_len = 1, .as_path = path,
		.next_hop = addr("192.0.2.1"), .next_hop6 = addr("2001:db8::1"),
	};
	enum { N = 2000 };
	struct ip_prefix *p = calloc(N, sizeof(*p)), *back = calloc(N, sizeof(*back));
	struct ip_prefix *want = calloc(N, sizeof(*want));
	size_t sizes[16], nmsgs, n, k = 0;
	struct wbuf w;

	(void)state;
	for (uint32_t i = 0; i < N; i++) {
		if (i % 2) {
			p[i] = pfx("2001:db8::/48");
			p[i].addr.v += (u128)i << 80;
		} else {
			p[i] = (struct ip_prefix){ ip_v4(0xc6336400 + (i << 8)), 24 };
		}
	}
	for (size_t i = 0; i < N; i += 2)
		want[k++] = p[i];
	for (size_t i = 1; i < N; i += 2)
		want[k++] = p[i];
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, p, N, &n), 0);
	/* IPv4: 1000 4-byte prefixes, 20 + 13 attributes: 1 message;
	 * IPv6: 1000 7-byte prefixes in 4096 - 23 - 13 - 4 - 21 = 4035: 2. */
	assert_int_equal(n, 3);
	assert_int_equal(unpack(&w, &ebgp4, back, N, false, sizes, &nmsgs), N);
	assert_same(want, back, N);
	wbuf_free(&w);
	free(p);
	free(back);
	free(want);
}

static void test_build_refuses(void **state)
{
	static const uint32_t path0[] = { 65001, 0 };
	uint32_t *comm = calloc(1100, sizeof(*comm));
	struct bgp_attr_set a = { .origin = BGP_ORIGIN_IGP, .next_hop = addr("192.0.2.1") };
	struct ip_prefix p4 = pfx("192.0.2.0/24"), p6 = pfx("2001:db8::/32");
	struct ip_prefix bad = { .addr = { .v = 0, .family = IP_FAMILY_NONE }, .len = 0 };
	struct ip_prefix long4 = { ip_v4(0), 33 };
	struct wbuf w;
	size_t n = 99;
	uint8_t small[40];

	(void)state;
	wbuf_init_dyn(&w, 0);
	/* No IPv6 next hop for IPv6 prefixes. */
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p6, 1, &n), -1);
	assert_int_equal(n, 0);
	/* Malformed prefixes. */
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &bad, 1, NULL), -1);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &long4, 1, NULL), -1);
	assert_int_equal(bgp_update_build_withdraw(&w, &long4, 1, NULL), -1);
	/* ORIGIN beyond 2, AS 0 in the path. */
	a.origin = 3;
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p4, 1, NULL), -1);
	a.origin = BGP_ORIGIN_IGP;
	a.as_path = path0;
	a.as_path_len = 2;
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p4, 1, NULL), -1);
	a.as_path_len = 0;
	/* IPv4 next hop missing. */
	a.next_hop.family = IP_FAMILY_NONE;
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p4, 1, NULL), -1);
	a.next_hop = addr("192.0.2.1");
	/* 1100 communities (4400 bytes) leave no room for a prefix. */
	for (uint32_t i = 0; i < 1100; i++)
		comm[i] = i;
	a.communities = comm;
	a.ncommunities = 1100;
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p4, 1, NULL), -1);
	/* Nothing was written by any refusal. */
	assert_int_equal(w.len, 0);
	assert_true(wbuf_ok(&w));
	/* ...but 1000 still do. */
	a.ncommunities = 1000;
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p4, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(w.len, 23 + 14 + 4004 + 4);
	/* 1013 communities leave 3 bytes: a /16 fits, a /24 does not, and
	 * a list holding both is refused whole. */
	wbuf_reset(&w);
	a.ncommunities = 1013;
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p4, 1, NULL), -1);
	assert_int_equal(w.len, 0);
	{
		struct ip_prefix two[] = { pfx("10.1.0.0/16"), p4 };

		assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, two, 2, NULL), -1);
		assert_int_equal(w.len, 0);
		assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, two, 1, &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(w.len, BGP_MSG_MAX);
	}
	/* No prefixes: no messages. */
	wbuf_reset(&w);
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, NULL, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(bgp_update_build_withdraw(&w, NULL, 0, &n), 0);
	assert_int_equal(w.len, 0);
	wbuf_free(&w);

	/* A fixed writer that fills up. */
	a.ncommunities = 0;
	wbuf_init_fixed(&w, small, sizeof(small));
	assert_int_equal(bgp_update_build_announce(&w, &ebgp4, &a, &p4, 1, NULL), -1);
	assert_int_equal(bgp_update_build_eor(&w, 2, 1), -1);
	free(comm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_v4),
		cmocka_unit_test(test_decode_v4),
		cmocka_unit_test(test_as2_as4),
		cmocka_unit_test(test_ibgp),
		cmocka_unit_test(test_v6),
		cmocka_unit_test(test_v4_over_v6),
		cmocka_unit_test(test_withdraw),
		cmocka_unit_test(test_end_of_rib),
		cmocka_unit_test(test_large_order),
		cmocka_unit_test(test_extended_length),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_decode_details),
		cmocka_unit_test(test_pack_v4),
		cmocka_unit_test(test_pack_v6),
		cmocka_unit_test(test_pack_mixed),
		cmocka_unit_test(test_build_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
