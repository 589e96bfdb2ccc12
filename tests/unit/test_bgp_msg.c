/*
 * Unit tests for BGP framing, OPEN, NOTIFICATION, KEEPALIVE and
 * ROUTE-REFRESH (bgp/bgp_msg.h).  The byte vectors are written out by hand
 * from the layouts of RFC 4271 §4, RFC 5492, RFC 9072, RFC 2918 and the
 * capability RFCs; every refusal is checked for its NOTIFICATION code,
 * subcode and data.  UPDATE has its own file (test_bgp_msg_update.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bgp/bgp_msg.h"

#define MARKER                                                                                     \
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  \
		0xff

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

static void assert_notify(const struct bgp_notify *n, uint8_t code, uint8_t sub,
			  const uint8_t *data, size_t len)
{
	if (n->code != code || n->subcode != sub)
		fail_msg("NOTIFICATION %u/%u (%s), want %u/%u (%s)", n->code, n->subcode,
			 bgp_notify_name(n->code, n->subcode), code, sub,
			 bgp_notify_name(code, sub));
	assert_bytes(n->data, n->len, data, len);
}

/* ------------------------------------------------------------------ */
/* Framing (RFC 4271 §4.1, §6.1) */

struct frame_case {
	const char *name;
	const uint8_t *bytes;
	size_t len;
	enum bgp_frame_result want;
	size_t msg_len;
	uint8_t type;
	uint8_t sub;                   /* header error subcode */
	const uint8_t *data;
	size_t dlen;
};

#define BYTES(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static void test_frame(void **state)
{
	const struct frame_case cases[] = {
		{ "keepalive", BYTES(MARKER, 0x00, 0x13, 0x04), BGP_FRAME_MSG, 19, 4, 0, NULL, 0 },
		{ "keepalive then more", BYTES(MARKER, 0x00, 0x13, 0x04, 0xff, 0xff), BGP_FRAME_MSG,
		  19, 4, 0, NULL, 0 },
		{ "empty", NULL, 0, BGP_FRAME_MORE, 0, 0, 0, NULL, 0 },
		{ "marker only", BYTES(MARKER), BGP_FRAME_MORE, 0, 0, 0, NULL, 0 },
		{ "header only of an open", BYTES(MARKER, 0x00, 0x1d, 0x01), BGP_FRAME_MORE,
		  0, 0, 0, NULL, 0 },
		{ "update one byte short", BYTES(MARKER, 0x00, 0x18, 0x02, 0, 0, 0, 0),
		  BGP_FRAME_MORE,
		  0, 0, 0, NULL, 0 },
		{ "update", BYTES(MARKER, 0x00, 0x17, 0x02, 0, 0, 0, 0), BGP_FRAME_MSG, 23, 2, 0,
		  NULL, 0 },
		{ "bad marker seen early", BYTES(0xff, 0xff, 0xfe), BGP_FRAME_ERROR, 0, 0,
		  BGP_ERR_HDR_NOT_SYNC, NULL, 0 },
		{ "zero marker", BYTES(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 19, 4),
		  BGP_FRAME_ERROR, 0, 0, BGP_ERR_HDR_NOT_SYNC, NULL, 0 },
		{ "length 18", BYTES(MARKER, 0x00, 0x12, 0x04), BGP_FRAME_ERROR, 0, 0,
		  BGP_ERR_HDR_BAD_LENGTH, BYTES(0x00, 0x12) },
		{ "length 4097", BYTES(MARKER, 0x10, 0x01, 0x02), BGP_FRAME_ERROR, 0, 0,
		  BGP_ERR_HDR_BAD_LENGTH, BYTES(0x10, 0x01) },
		{ "length 0", BYTES(MARKER, 0x00, 0x00, 0x02), BGP_FRAME_ERROR, 0, 0,
		  BGP_ERR_HDR_BAD_LENGTH, BYTES(0x00, 0x00) },
		{ "type 0", BYTES(MARKER, 0x00, 0x13, 0x00), BGP_FRAME_ERROR, 0, 0,
		  BGP_ERR_HDR_BAD_TYPE, BYTES(0x00) },
		{ "type 6", BYTES(MARKER, 0x00, 0x40, 0x06), BGP_FRAME_ERROR, 0, 0,
		  BGP_ERR_HDR_BAD_TYPE, BYTES(0x06) },
		{ "keepalive length 20", BYTES(MARKER, 0x00, 0x14, 0x04, 0x00), BGP_FRAME_ERROR,
		  0, 0, BGP_ERR_HDR_BAD_LENGTH, BYTES(0x00, 0x14) },
		{ "open length 28", BYTES(MARKER, 0x00, 0x1c, 0x01), BGP_FRAME_ERROR, 0, 0,
		  BGP_ERR_HDR_BAD_LENGTH, BYTES(0x00, 0x1c) },
		{ "update length 22", BYTES(MARKER, 0x00, 0x16, 0x02), BGP_FRAME_ERROR, 0, 0,
		  BGP_ERR_HDR_BAD_LENGTH, BYTES(0x00, 0x16) },
		{ "notification length 20", BYTES(MARKER, 0x00, 0x14, 0x03), BGP_FRAME_ERROR, 0, 0,
		  BGP_ERR_HDR_BAD_LENGTH, BYTES(0x00, 0x14) },
		{ "route-refresh length 22", BYTES(MARKER, 0x00, 0x16, 0x05), BGP_FRAME_ERROR, 0, 0,
		  BGP_ERR_HDR_BAD_LENGTH, BYTES(0x00, 0x16) },
		{ "route-refresh", BYTES(MARKER, 0x00, 0x17, 0x05, 0x00, 0x01, 0x00, 0x01),
		  BGP_FRAME_MSG, 23, 5, 0, NULL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct frame_case *c = &cases[i];
		struct bgp_notify err = { 0 };
		size_t len = 0;
		uint8_t type = 0;
		enum bgp_frame_result got = bgp_frame(c->bytes, c->len, &len, &type, &err);

		if (got != c->want)
			fail_msg("%s: result %d, want %d", c->name, got, c->want);
		if (got == BGP_FRAME_MSG) {
			assert_int_equal(len, c->msg_len);
			assert_int_equal(type, c->type);
		} else if (got == BGP_FRAME_ERROR) {
			assert_notify(&err, BGP_ERR_HEADER, c->sub, c->data, c->dlen);
		}
	}
}

/* A stream cut at every byte frames only once the whole message is in. */
static void test_frame_every_split(void **state)
{
	static const uint8_t msg[] = { MARKER, 0x00, 0x17, 0x05, 0x00, 0x02, 0x00, 0x01 };
	struct bgp_notify err;
	size_t len;
	uint8_t type;

	(void)state;
	for (size_t n = 0; n < sizeof(msg); n++)
		assert_int_equal(bgp_frame(msg, n, &len, &type, &err), BGP_FRAME_MORE);
	assert_int_equal(bgp_frame(msg, sizeof(msg), &len, &type, &err), BGP_FRAME_MSG);
	assert_int_equal(len, 23);
	assert_int_equal(type, BGP_MSG_ROUTE_REFRESH);
}

/* ------------------------------------------------------------------ */
/* OPEN */

/* AS 65001, hold 90, id 192.0.2.1; multiprotocol IPv4 and IPv6 unicast,
 * route refresh, 4-octet AS 65001. */
static const uint8_t open_basic[] = {
	MARKER,
	0x00, 0x33, 0x01,               /* length 51, OPEN */
	0x04,                           /* version */
	0xfd, 0xe9,                     /* my AS 65001 */
	0x00, 0x5a,                     /* hold time 90 */
	0xc0, 0x00, 0x02, 0x01,         /* BGP identifier */
	0x16,                           /* optional parameters length 22 */
	0x02, 0x14,                     /* Capabilities, 20 */
	0x01, 0x04, 0x00, 0x01, 0x00, 0x01,     /* MP IPv4 unicast */
	0x01, 0x04, 0x00, 0x02, 0x00, 0x01,     /* MP IPv6 unicast */
	0x02, 0x00,                     /* route refresh */
	0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9,     /* 4-octet AS 65001 */
};

/* AS 4200000001 (AS_TRANS in My AS), hold 180, id 10.0.0.1; MP IPv4,
 * extended next hop IPv4/unicast over IPv6, graceful restart (R bit,
 * 120 s, IPv4 unicast with forwarding state), 4-octet AS, enhanced route
 * refresh and an unknown capability 73 kept as is. */
static const uint8_t open_full[] = {
	MARKER,
	0x00, 0x42, 0x01,               /* length 66 */
	0x04,
	0x5b, 0xa0,                     /* AS_TRANS */
	0x00, 0xb4,                     /* 180 */
	0x0a, 0x00, 0x00, 0x01,
	0x25,                           /* 37 */
	0x02, 0x23,                     /* Capabilities, 35 */
	0x01, 0x04, 0x00, 0x01, 0x00, 0x01,
	0x05, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x02,
	0x40, 0x06, 0x80, 0x78, 0x00, 0x01, 0x01, 0x80,
	0x41, 0x04, 0xfa, 0x56, 0xea, 0x01,
	0x46, 0x00,
	0x49, 0x03, 0x01, 0x61, 0x62,
};

static void test_open_decode_basic(void **state)
{
	struct bgp_open o;
	struct bgp_notify err;

	(void)state;
	assert_int_equal(bgp_open_decode(open_basic + 19, sizeof(open_basic) - 19, &o, &err), 0);
	assert_int_equal(o.version, 4);
	assert_int_equal(o.my_as, 65001);
	assert_int_equal(o.asn, 65001);
	assert_int_equal(o.hold_time, 90);
	assert_int_equal(o.bgp_id, 0xc0000201);
	assert_false(o.ext_params);
	assert_int_equal(o.caps.nmp, 2);
	assert_int_equal(o.caps.mp[0].afi, BGP_AFI_IPV4);
	assert_int_equal(o.caps.mp[0].safi, BGP_SAFI_UNICAST);
	assert_int_equal(o.caps.mp[1].afi, BGP_AFI_IPV6);
	assert_true(o.caps.route_refresh);
	assert_true(o.caps.as4);
	assert_false(o.caps.gr);
	assert_false(o.caps.enhanced_route_refresh);
	assert_int_equal(o.caps.nunknown, 0);
	assert_true(bgp_open_has_family(&o, BGP_AFI_IPV6, BGP_SAFI_UNICAST));
	bgp_open_free(&o);
}

static void test_open_decode_full(void **state)
{
	struct bgp_open o;
	struct bgp_notify err;

	(void)state;
	assert_int_equal(bgp_open_decode(open_full + 19, sizeof(open_full) - 19, &o, &err), 0);
	assert_int_equal(o.my_as, BGP_AS_TRANS);
	assert_int_equal(o.asn, 4200000001u);
	assert_int_equal(o.hold_time, 180);
	assert_int_equal(o.caps.nmp, 1);
	assert_int_equal(o.caps.next_nh, 1);
	assert_int_equal(o.caps.ext_nh[0].nlri_afi, 1);
	assert_int_equal(o.caps.ext_nh[0].nlri_safi, 1);
	assert_int_equal(o.caps.ext_nh[0].nh_afi, 2);
	assert_true(o.caps.gr);
	assert_true(o.caps.gr_restarting);
	assert_false(o.caps.gr_notification);
	assert_int_equal(o.caps.gr_time, 120);
	assert_int_equal(o.caps.ngr, 1);
	assert_int_equal(o.caps.gr_families[0].afi, 1);
	assert_int_equal(o.caps.gr_families[0].safi, 1);
	assert_true(o.caps.gr_families[0].forwarding);
	assert_true(o.caps.as4);
	assert_true(o.caps.enhanced_route_refresh);
	assert_false(o.caps.route_refresh);
	assert_int_equal(o.caps.nunknown, 1);
	assert_int_equal(o.caps.unknown[0].code, 0x49);
	assert_bytes(o.caps.unknown[0].data, o.caps.unknown[0].len,
		     (const uint8_t[]){ 0x01, 0x61, 0x62 }, 3);
	bgp_open_free(&o);
}

static void test_open_encode(void **state)
{
	struct bgp_afi_safi mp[] = { { 1, 1 }, { 2, 1 } };
	struct bgp_open o = {
		.asn = 65001,
		.hold_time = 90,
		.bgp_id = 0xc0000201,
		.caps = { .nmp = 2, .mp = mp, .route_refresh = true, .as4 = true },
	};
	struct wbuf w;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_open_encode(&w, &o), 0);
	assert_wbuf(&w, open_basic, sizeof(open_basic));
	wbuf_free(&w);
}

static void test_open_encode_full(void **state)
{
	struct bgp_afi_safi mp[] = { { 1, 1 } };
	struct bgp_ext_nh enh[] = { { 1, 1, 2 } };
	struct bgp_gr_family gr[] = { { 1, 1, true } };
	uint8_t raw[] = { 0x01, 0x61, 0x62 };
	struct bgp_cap_raw unk[] = { { 0x49, 3, raw } };
	struct bgp_open o = {
		.asn = 4200000001u,
		.hold_time = 180,
		.bgp_id = 0x0a000001,
		.caps = {
			.nmp = 1, .mp = mp,
			.next_nh = 1, .ext_nh = enh,
			.gr = true, .gr_restarting = true, .gr_time = 120, .ngr = 1,
			.gr_families = gr,
			.as4 = true, .enhanced_route_refresh = true,
			.nunknown = 1, .unknown = unk,
		},
	};
	struct wbuf w;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_open_encode(&w, &o), 0);
	assert_wbuf(&w, open_full, sizeof(open_full));
	wbuf_free(&w);
}

/* RFC 9072: Non-Ext OP Len 255, Non-Ext OP Type 255, Extended Opt. Parm.
 * Length 9, one Capabilities parameter with a 2-octet length 6. */
static void test_open_decode_extended(void **state)
{
	static const uint8_t body[] = {
		0x04, 0xfd, 0xe9, 0x00, 0x5a, 0xc0, 0x00, 0x02, 0x01,
		0xff,                   /* Non-Ext OP Len */
		0xff,                   /* Non-Ext OP Type */
		0x00, 0x09,             /* Extended Opt. Parm. Length */
		0x02, 0x00, 0x06,       /* Capabilities, 6 */
		0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9,
	};
	struct bgp_open o;
	struct bgp_notify err;

	(void)state;
	assert_int_equal(bgp_open_decode(body, sizeof(body), &o, &err), 0);
	assert_true(o.ext_params);
	assert_true(o.caps.as4);
	assert_int_equal(o.asn, 65001);
	bgp_open_free(&o);
}

/* More than 253 octets of capabilities switch to the RFC 9072 form. */
static void test_open_encode_extended(void **state)
{
	struct bgp_afi_safi mp[50];
	struct bgp_open o = { .asn = 65001, .hold_time = 90, .bgp_id = 1,
			      .caps = { .nmp = 50, .mp = mp } };
	struct bgp_open back;
	struct bgp_notify err;
	struct wbuf w;

	(void)state;
	for (int i = 0; i < 50; i++)
		mp[i] = (struct bgp_afi_safi){ 1, (uint8_t)(i + 1) };
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_open_encode(&w, &o), 0);
	assert_true(wbuf_ok(&w));
	assert_int_equal(w.len, 19 + 10 + 3 + 3 + 300);
	assert_int_equal(w.p[28], 0xff);
	assert_int_equal(w.p[29], 0xff);
	assert_int_equal(w.p[30] << 8 | w.p[31], 303);
	assert_int_equal(w.p[32], 2);
	assert_int_equal(w.p[33] << 8 | w.p[34], 300);
	assert_int_equal(bgp_open_decode(w.p + 19, w.len - 19, &back, &err), 0);
	assert_true(back.ext_params);
	assert_int_equal(back.caps.nmp, 50);
	assert_int_equal(back.caps.mp[49].safi, 50);
	bgp_open_free(&back);

	/* 253 octets still fit the classic form. */
	wbuf_reset(&w);
	o.caps.nmp = 42;        /* 252 octets */
	o.caps.route_refresh = false;
	assert_int_equal(bgp_open_encode(&w, &o), 0);
	assert_int_equal(w.p[28], 254);
	assert_int_equal(w.p[29], 2);
	assert_int_equal(w.p[30], 252);
	wbuf_free(&w);
}

/* One capability per optional parameter, as older speakers send them. */
static void test_open_decode_split_params(void **state)
{
	static const uint8_t body[] = {
		0x04, 0xfd, 0xe9, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x01,
		0x0c,
		0x02, 0x06, 0x01, 0x04, 0x00, 0x02, 0x00, 0x01,
		0x02, 0x02, 0x02, 0x00,
	};
	struct bgp_open o;
	struct bgp_notify err;

	(void)state;
	assert_int_equal(bgp_open_decode(body, sizeof(body), &o, &err), 0);
	assert_int_equal(o.hold_time, 0);
	assert_int_equal(o.caps.nmp, 1);
	assert_int_equal(o.caps.mp[0].afi, 2);
	assert_true(o.caps.route_refresh);
	assert_false(bgp_open_has_family(&o, BGP_AFI_IPV4, BGP_SAFI_UNICAST));
	bgp_open_free(&o);
}

struct open_err_case {
	const char *name;
	const uint8_t *body;
	size_t len;
	uint8_t code, sub;
	const uint8_t *data;
	size_t dlen;
};

/* Fixed part: AS 65001, hold 90, id 192.0.2.1. */
#define OPEN_FIXED 0x04, 0xfd, 0xe9, 0x00, 0x5a, 0xc0, 0x00, 0x02, 0x01

static void test_open_errors(void **state)
{
	const struct open_err_case cases[] = {
		{ "short", BYTES(0x04, 0xfd, 0xe9, 0x00, 0x5a, 0xc0, 0x00, 0x02, 0x01),
		  BGP_ERR_HEADER, BGP_ERR_HDR_BAD_LENGTH, BYTES(0x00, 0x1c) },
		{ "version 3", BYTES(0x03, 0xfd, 0xe9, 0x00, 0x5a, 0xc0, 0x00, 0x02, 0x01, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_VERSION, BYTES(0x00, 0x04) },
		{ "version 5", BYTES(0x05, 0xfd, 0xe9, 0x00, 0x5a, 0xc0, 0x00, 0x02, 0x01, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_VERSION, BYTES(0x00, 0x04) },
		{ "AS 0", BYTES(0x04, 0x00, 0x00, 0x00, 0x5a, 0xc0, 0x00, 0x02, 0x01, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_PEER_AS, NULL, 0 },
		{ "hold 1", BYTES(0x04, 0xfd, 0xe9, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x01, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_HOLD_TIME, NULL, 0 },
		{ "hold 2", BYTES(0x04, 0xfd, 0xe9, 0x00, 0x02, 0xc0, 0x00, 0x02, 0x01, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_HOLD_TIME, NULL, 0 },
		{ "id 0", BYTES(0x04, 0xfd, 0xe9, 0x00, 0x5a, 0x00, 0x00, 0x00, 0x00, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_BGP_ID, NULL, 0 },
		{ "authentication parameter", BYTES(OPEN_FIXED, 0x03, 0x01, 0x01, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_OPT_PARAM, NULL, 0 },
		{ "params shorter than their length", BYTES(OPEN_FIXED, 0x04, 0x02, 0x02, 0x02),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "bytes after the params", BYTES(OPEN_FIXED, 0x00, 0x02),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "parameter past the params", BYTES(OPEN_FIXED, 0x03, 0x02, 0x05, 0x02),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "capability past its parameter", BYTES(OPEN_FIXED, 0x04, 0x02, 0x02, 0x41, 0x04),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "MP length 3", BYTES(OPEN_FIXED, 0x07, 0x02, 0x05, 0x01, 0x03, 0x00, 0x01, 0x01),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "route refresh length 1", BYTES(OPEN_FIXED, 0x05, 0x02, 0x03, 0x02, 0x01, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "AS4 length 2", BYTES(OPEN_FIXED, 0x06, 0x02, 0x04, 0x41, 0x02, 0xfd, 0xe9),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "AS4 zero", BYTES(OPEN_FIXED, 0x08, 0x02, 0x06, 0x41, 0x04, 0, 0, 0, 0),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_PEER_AS, NULL, 0 },
		{ "GR length 3", BYTES(OPEN_FIXED, 0x07, 0x02, 0x05, 0x40, 0x03, 0x00, 0x78, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "ext NH length 5",
		  BYTES(OPEN_FIXED, 0x09, 0x02, 0x07, 0x05, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "extended length wrong",
		  BYTES(OPEN_FIXED, 0xff, 0xff, 0x00, 0x04, 0x02, 0x00, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "extended length cut", BYTES(OPEN_FIXED, 0xff, 0xff, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "extended parameter cut", BYTES(OPEN_FIXED, 0xff, 0xff, 0x00, 0x02, 0x02, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0 },
		{ "extended unknown parameter",
		  BYTES(OPEN_FIXED, 0xff, 0xff, 0x00, 0x03, 0x01, 0x00, 0x00),
		  BGP_ERR_OPEN, BGP_ERR_OPEN_OPT_PARAM, NULL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct open_err_case *c = &cases[i];
		struct bgp_open o;
		struct bgp_notify err = { 0 };

		if (bgp_open_decode(c->body, c->len, &o, &err) != -1)
			fail_msg("%s: accepted", c->name);
		if (err.code != c->code || err.subcode != c->sub)
			fail_msg("%s: %s, want %s", c->name, bgp_notify_name(err.code, err.subcode),
				 bgp_notify_name(c->code, c->sub));
		assert_bytes(err.data, err.len, c->data, c->dlen);
		/* Nothing to free after a refusal. */
		assert_null(o.caps.mp);
		assert_null(o.caps.unknown);
	}
}

static void test_open_decode_edges(void **state)
{
	/* Hold time 3 is the smallest non-zero one accepted; a
	 * capabilities parameter may be empty; a zero-length unknown
	 * capability is kept. */
	static const uint8_t body[] = { 0x04, 0xfd, 0xe9, 0x00, 0x03, 0xc0, 0x00, 0x02, 0x01,
					0x06, 0x02, 0x00, 0x02, 0x02, 0x80, 0x00 };
	struct bgp_open o;
	struct bgp_notify err;

	(void)state;
	assert_int_equal(bgp_open_decode(body, sizeof(body), &o, &err), 0);
	assert_int_equal(o.hold_time, 3);
	assert_int_equal(o.caps.nunknown, 1);
	assert_int_equal(o.caps.unknown[0].code, 0x80);
	assert_int_equal(o.caps.unknown[0].len, 0);
	/* With no multiprotocol capability, IPv4 unicast only. */
	assert_true(bgp_open_has_family(&o, BGP_AFI_IPV4, BGP_SAFI_UNICAST));
	assert_false(bgp_open_has_family(&o, BGP_AFI_IPV6, BGP_SAFI_UNICAST));
	bgp_open_free(&o);
}

static void test_open_encode_refuses(void **state)
{
	struct bgp_open o = { .asn = 65001, .hold_time = 90, .bgp_id = 1 };
	struct wbuf w;
	uint8_t small[30];

	(void)state;
	wbuf_init_dyn(&w, 0);
	o.asn = 0;
	assert_int_equal(bgp_open_encode(&w, &o), -1);
	o.asn = 70000;          /* needs the 4-octet AS capability */
	assert_int_equal(bgp_open_encode(&w, &o), -1);
	o.caps.as4 = true;
	assert_int_equal(bgp_open_encode(&w, &o), 0);
	assert_int_equal(w.p[20] << 8 | w.p[21], BGP_AS_TRANS);
	wbuf_reset(&w);
	o.hold_time = 2;
	assert_int_equal(bgp_open_encode(&w, &o), -1);
	o.hold_time = 0;
	o.bgp_id = 0;
	assert_int_equal(bgp_open_encode(&w, &o), -1);
	o.bgp_id = 1;
	o.caps.gr = true;
	o.caps.gr_time = 4096;
	assert_int_equal(bgp_open_encode(&w, &o), -1);
	wbuf_free(&w);

	/* A fixed writer too small for the message. */
	o.caps.gr = false;
	wbuf_init_fixed(&w, small, sizeof(small));
	assert_int_equal(bgp_open_encode(&w, &o), -1);
	assert_false(wbuf_ok(&w));
}

static void test_open_check(void **state)
{
	struct bgp_afi_safi mp4[] = { { 1, 1 } };
	struct bgp_open peer = { .asn = 65002, .hold_time = 90, .bgp_id = 0x0a000002,
				 .caps = { .nmp = 1, .mp = mp4 } };
	struct bgp_open_policy p = { .local_as = 65001, .local_id = 0x0a000001,
				     .peer_as = 65002 };
	struct bgp_notify err;

	(void)state;
	assert_int_equal(bgp_open_check(&peer, &p, &err), 0);

	p.peer_as = 65003;
	assert_int_equal(bgp_open_check(&peer, &p, &err), -1);
	assert_notify(&err, BGP_ERR_OPEN, BGP_ERR_OPEN_PEER_AS, NULL, 0);
	p.peer_as = 0;
	assert_int_equal(bgp_open_check(&peer, &p, &err), 0);

	/* RFC 6286: the same identifier is refused from an internal peer
	 * only. */
	peer.bgp_id = p.local_id;
	assert_int_equal(bgp_open_check(&peer, &p, &err), 0);
	peer.asn = 65001;
	assert_int_equal(bgp_open_check(&peer, &p, &err), -1);
	assert_notify(&err, BGP_ERR_OPEN, BGP_ERR_OPEN_BGP_ID, NULL, 0);
	peer.asn = 65002;
	peer.bgp_id = 0x0a000002;

	p.min_hold_time = 30;
	peer.hold_time = 9;
	assert_int_equal(bgp_open_check(&peer, &p, &err), -1);
	assert_notify(&err, BGP_ERR_OPEN, BGP_ERR_OPEN_HOLD_TIME, NULL, 0);
	peer.hold_time = 0;
	assert_int_equal(bgp_open_check(&peer, &p, &err), 0);
	p.refuse_zero_hold = true;
	assert_int_equal(bgp_open_check(&peer, &p, &err), -1);
	assert_notify(&err, BGP_ERR_OPEN, BGP_ERR_OPEN_HOLD_TIME, NULL, 0);
	peer.hold_time = 90;

	/* RFC 5492 §5: the missing capabilities as data. */
	p.required = BGP_REQUIRE_IPV4_UNICAST | BGP_REQUIRE_IPV6_UNICAST;
	assert_int_equal(bgp_open_check(&peer, &p, &err), -1);
	assert_notify(&err, BGP_ERR_OPEN, BGP_ERR_OPEN_CAPABILITY,
		      (const uint8_t[]){ 0x01, 0x04, 0x00, 0x02, 0x00, 0x01 }, 6);
	p.required = BGP_REQUIRE_AS4 | BGP_REQUIRE_ROUTE_REFRESH | BGP_REQUIRE_EXT_NH_IPV4;
	assert_int_equal(bgp_open_check(&peer, &p, &err), -1);
	assert_notify(&err, BGP_ERR_OPEN, BGP_ERR_OPEN_CAPABILITY,
		      (const uint8_t[]){ 0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9,
					 0x02, 0x00,
					 0x05, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x02 },
		      16);
	/* A speaker without multiprotocol capability has IPv4 unicast. */
	peer.caps.nmp = 0;
	p.required = BGP_REQUIRE_IPV4_UNICAST;
	assert_int_equal(bgp_open_check(&peer, &p, &err), 0);
}

static void test_open_negotiate(void **state)
{
	struct bgp_afi_safi both[] = { { 1, 1 }, { 2, 1 } };
	struct bgp_afi_safi v6[] = { { 2, 1 } };
	struct bgp_ext_nh enh[] = { { 1, 1, 2 } };
	struct bgp_open local = {
		.asn = 65001, .hold_time = 90,
		.caps = { .nmp = 2, .mp = both, .as4 = true, .route_refresh = true,
			  .next_nh = 1, .ext_nh = enh },
	};
	struct bgp_open peer = {
		.asn = 65002, .hold_time = 30,
		.caps = { .nmp = 1, .mp = v6, .as4 = true, .gr = true,
			  .next_nh = 1, .ext_nh = enh },
	};
	struct bgp_negotiated n;

	(void)state;
	bgp_open_negotiate(&local, &peer, &n);
	assert_int_equal(n.hold_time, 30);
	assert_int_equal(n.keepalive, 10);
	assert_false(n.ipv4_unicast);
	assert_true(n.ipv6_unicast);
	assert_false(n.route_refresh);
	assert_true(n.peer_gr);
	assert_true(n.opts.as4);
	assert_true(n.opts.ext_nh_ipv4);
	assert_true(n.opts.ebgp);

	peer.asn = 65001;
	peer.hold_time = 0;
	peer.caps.as4 = false;
	peer.caps.next_nh = 0;
	peer.caps.nmp = 0;
	bgp_open_negotiate(&local, &peer, &n);
	assert_int_equal(n.hold_time, 0);
	assert_int_equal(n.keepalive, 0);
	assert_true(n.ipv4_unicast);
	assert_false(n.ipv6_unicast);
	assert_false(n.opts.as4);
	assert_false(n.opts.ext_nh_ipv4);
	assert_false(n.opts.ebgp);
}

/* ------------------------------------------------------------------ */
/* KEEPALIVE, NOTIFICATION */

static void test_keepalive(void **state)
{
	static const uint8_t want[] = { MARKER, 0x00, 0x13, 0x04 };
	struct wbuf w;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_keepalive_encode(&w), 0);
	assert_wbuf(&w, want, sizeof(want));
	wbuf_free(&w);
}

/* Cease / Administrative Shutdown with "maintenance" (RFC 9003). */
static const uint8_t notify_shutdown[] = {
	MARKER, 0x00, 0x21, 0x03,
	0x06, 0x02,
	0x0b, 'm', 'a', 'i', 'n', 't', 'e', 'n', 'a', 'n', 'c', 'e',
};

static void test_notification(void **state)
{
	static const uint8_t hold[] = { MARKER, 0x00, 0x15, 0x03, 0x04, 0x00 };
	static const uint8_t bad_len[] = { MARKER, 0x00, 0x17, 0x03, 0x01, 0x02, 0x10, 0x01 };
	struct bgp_notify n, back;
	struct wbuf w;
	char msg[BGP_SHUTDOWN_MSG_MAX + 1];

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_notify_shutdown(&n, BGP_CEASE_ADMIN_SHUTDOWN, "maintenance"), 0);
	assert_int_equal(bgp_notification_encode(&w, &n), 0);
	assert_wbuf(&w, notify_shutdown, sizeof(notify_shutdown));
	assert_int_equal(bgp_notification_decode(w.p + 19, w.len - 19, &back), 0);
	assert_int_equal(back.code, BGP_ERR_CEASE);
	assert_int_equal(back.subcode, BGP_CEASE_ADMIN_SHUTDOWN);
	assert_int_equal(bgp_notify_shutdown_msg(&back, msg), 1);
	assert_string_equal(msg, "maintenance");

	wbuf_reset(&w);
	bgp_notify_set(&n, BGP_ERR_HOLD_TIMER, 0, NULL, 0);
	assert_int_equal(bgp_notification_encode(&w, &n), 0);
	assert_wbuf(&w, hold, sizeof(hold));

	wbuf_reset(&w);
	bgp_notify_set(&n, BGP_ERR_HEADER, BGP_ERR_HDR_BAD_LENGTH, (const uint8_t[]){ 0x10, 0x01 },
		       2);
	assert_int_equal(bgp_notification_encode(&w, &n), 0);
	assert_wbuf(&w, bad_len, sizeof(bad_len));
	assert_int_equal(bgp_notification_decode(bad_len + 19, sizeof(bad_len) - 19, &back), 0);
	assert_notify(&back, 1, 2, (const uint8_t[]){ 0x10, 0x01 }, 2);
	assert_int_equal(bgp_notify_shutdown_msg(&back, msg), 0);

	/* The largest NOTIFICATION fills 4096 bytes. */
	wbuf_reset(&w);
	memset(n.data, 0xab, sizeof(n.data));
	n.len = BGP_NOTIFY_DATA_MAX;
	assert_int_equal(bgp_notification_encode(&w, &n), 0);
	assert_int_equal(w.len, BGP_MSG_MAX);
	assert_int_equal(bgp_notification_decode(w.p + 19, w.len - 19, &back), 0);
	assert_int_equal(back.len, BGP_NOTIFY_DATA_MAX);
	wbuf_free(&w);

	assert_int_equal(bgp_notification_decode((const uint8_t[]){ 0x06 }, 1, &back), -1);
	assert_int_equal(bgp_notification_decode(NULL, 0, &back), -1);
}

static void test_shutdown_communication(void **state)
{
	struct bgp_notify n;
	char msg[BGP_SHUTDOWN_MSG_MAX + 1];
	char longmsg[401];

	(void)state;
	/* Length past the data. */
	bgp_notify_set(&n, 6, 2, (const uint8_t[]){ 0x05, 'a', 'b' }, 3);
	assert_int_equal(bgp_notify_shutdown_msg(&n, msg), -1);
	assert_string_equal(msg, "");
	/* Not UTF-8: a lone continuation byte, an overlong '/', a
	 * surrogate, a NUL. */
	bgp_notify_set(&n, 6, 4, (const uint8_t[]){ 0x02, 'a', 0x80 }, 3);
	assert_int_equal(bgp_notify_shutdown_msg(&n, msg), -1);
	bgp_notify_set(&n, 6, 4, (const uint8_t[]){ 0x02, 0xc0, 0xaf }, 3);
	assert_int_equal(bgp_notify_shutdown_msg(&n, msg), -1);
	bgp_notify_set(&n, 6, 4, (const uint8_t[]){ 0x03, 0xed, 0xa0, 0x80 }, 4);
	assert_int_equal(bgp_notify_shutdown_msg(&n, msg), -1);
	bgp_notify_set(&n, 6, 4, (const uint8_t[]){ 0x01, 0x00 }, 2);
	assert_int_equal(bgp_notify_shutdown_msg(&n, msg), -1);
	/* UTF-8 text, Administrative Reset; trailing data ignored. */
	bgp_notify_set(&n, 6, 4, (const uint8_t[]){ 0x06, 'c', 'a', 'f', 0xc3, 0xa9, '!', 0x99 },
		       8);
	assert_int_equal(bgp_notify_shutdown_msg(&n, msg), 1);
	assert_string_equal(msg, "caf\xc3\xa9!");
	/* Length 0, or another subcode: none. */
	bgp_notify_set(&n, 6, 2, (const uint8_t[]){ 0x00 }, 1);
	assert_int_equal(bgp_notify_shutdown_msg(&n, msg), 0);
	bgp_notify_set(&n, 6, 3, (const uint8_t[]){ 0x01, 'a' }, 2);
	assert_int_equal(bgp_notify_shutdown_msg(&n, msg), 0);

	/* Encoding cuts at 255 octets on a character boundary: 200
	 * two-octet characters give 127 of them. */
	for (int i = 0; i < 200; i++) {
		longmsg[2 * i] = (char)0xc3;
		longmsg[2 * i + 1] = (char)0xa9;
	}
	longmsg[400] = '\0';
	assert_int_equal(bgp_notify_shutdown(&n, BGP_CEASE_ADMIN_SHUTDOWN, longmsg), 0);
	assert_int_equal(n.data[0], 254);
	assert_int_equal(n.len, 255);
	assert_int_equal(bgp_notify_shutdown_msg(&n, msg), 1);
	assert_int_equal(strlen(msg), 254);
	/* Not UTF-8, or nothing: no communication. */
	assert_int_equal(bgp_notify_shutdown(&n, BGP_CEASE_ADMIN_RESET, "\xff"), -1);
	assert_int_equal(n.len, 0);
	assert_int_equal(bgp_notify_shutdown(&n, BGP_CEASE_ADMIN_RESET, NULL), 0);
	assert_int_equal(n.len, 0);
	assert_int_equal(n.code, BGP_ERR_CEASE);
	assert_int_equal(n.subcode, BGP_CEASE_ADMIN_RESET);
}

static void test_names(void **state)
{
	static const struct {
		uint8_t code, sub;
		const char *name;
	} cases[] = {
		{ 1, 1, "Message Header Error / Connection Not Synchronized" },
		{ 1, 2, "Message Header Error / Bad Message Length" },
		{ 1, 3, "Message Header Error / Bad Message Type" },
		{ 2, 1, "OPEN Message Error / Unsupported Version Number" },
		{ 2, 2, "OPEN Message Error / Bad Peer AS" },
		{ 2, 3, "OPEN Message Error / Bad BGP Identifier" },
		{ 2, 4, "OPEN Message Error / Unsupported Optional Parameter" },
		{ 2, 6, "OPEN Message Error / Unacceptable Hold Time" },
		{ 2, 7, "OPEN Message Error / Unsupported Capability" },
		{ 2, 11, "OPEN Message Error / Role Mismatch" },
		{ 2, 12, "OPEN Message Error / unknown subcode" },
		{ 3, 1, "UPDATE Message Error / Malformed Attribute List" },
		{ 3, 2, "UPDATE Message Error / Unrecognized Well-known Attribute" },
		{ 3, 3, "UPDATE Message Error / Missing Well-known Attribute" },
		{ 3, 4, "UPDATE Message Error / Attribute Flags Error" },
		{ 3, 5, "UPDATE Message Error / Attribute Length Error" },
		{ 3, 6, "UPDATE Message Error / Invalid ORIGIN Attribute" },
		{ 3, 8, "UPDATE Message Error / Invalid NEXT_HOP Attribute" },
		{ 3, 9, "UPDATE Message Error / Optional Attribute Error" },
		{ 3, 10, "UPDATE Message Error / Invalid Network Field" },
		{ 3, 11, "UPDATE Message Error / Malformed AS_PATH" },
		{ 4, 0, "Hold Timer Expired" },
		{ 4, 1, "Hold Timer Expired / unknown subcode" },
		{ 5, 2,
		  "Finite State Machine Error / Receive Unexpected Message in OpenConfirm State" },
		{ 6, 2, "Cease / Administrative Shutdown" },
		{ 6, 4, "Cease / Administrative Reset" },
		{ 6, 9, "Cease / Hard Reset" },
		{ 6, 10, "Cease / BFD Down" },
		{ 6, 200, "Cease / unknown subcode" },
		{ 7, 1, "ROUTE-REFRESH Message Error / Invalid Message Length" },
		{ 0, 0, "unknown error code" },
		{ 8, 1, "unknown error code" },
		{ 255, 255, "unknown error code" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(bgp_notify_name(cases[i].code, cases[i].sub), cases[i].name);
	assert_string_equal(bgp_msg_type_name(BGP_MSG_OPEN), "OPEN");
	assert_string_equal(bgp_msg_type_name(BGP_MSG_ROUTE_REFRESH), "ROUTE-REFRESH");
	assert_string_equal(bgp_msg_type_name(0), "unknown");
	assert_string_equal(bgp_msg_type_name(9), "unknown");
}

/* ------------------------------------------------------------------ */
/* ROUTE-REFRESH (RFC 2918 §3, RFC 7313 §3.2, §5) */

static void test_route_refresh(void **state)
{
	static const uint8_t v6[] = { MARKER, 0x00, 0x17, 0x05, 0x00, 0x02, 0x00, 0x01 };
	static const uint8_t eorr[] = { MARKER, 0x00, 0x17, 0x05, 0x00, 0x01, 0x02, 0x01 };
	static const uint8_t borr_long[] = {
		MARKER, 0x00, 0x18, 0x05, 0x00, 0x01, 0x01, 0x01, 0x00,
	};
	struct bgp_route_refresh rr = { .afi = 2, .subtype = BGP_RR_NORMAL, .safi = 1 };
	struct bgp_notify err;
	struct wbuf w;

	(void)state;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(bgp_route_refresh_encode(&w, &rr), 0);
	assert_wbuf(&w, v6, sizeof(v6));
	wbuf_reset(&w);
	rr = (struct bgp_route_refresh){ .afi = 1, .subtype = BGP_RR_EORR, .safi = 1 };
	assert_int_equal(bgp_route_refresh_encode(&w, &rr), 0);
	assert_wbuf(&w, eorr, sizeof(eorr));
	wbuf_free(&w);

	assert_int_equal(bgp_route_refresh_decode(v6 + 19, 4, &rr, &err), 0);
	assert_int_equal(rr.afi, 2);
	assert_int_equal(rr.subtype, 0);
	assert_int_equal(rr.safi, 1);
	assert_int_equal(bgp_route_refresh_decode(eorr + 19, 4, &rr, &err), 0);
	assert_int_equal(rr.subtype, BGP_RR_EORR);

	/* RFC 7313 §5: a BoRR of 5 octets; data the whole message. */
	assert_int_equal(bgp_route_refresh_decode(borr_long + 19, 5, &rr, &err), -1);
	assert_notify(&err, BGP_ERR_ROUTE_REFRESH, BGP_ERR_RR_BAD_LENGTH, borr_long,
		      sizeof(borr_long));
	/* A normal request may carry ORF entries (RFC 5291). */
	assert_int_equal(bgp_route_refresh_decode((const uint8_t[]){ 0, 1, 0, 1, 1, 2, 3 }, 7,
						  &rr, &err),
			 0);
	/* Unknown subtypes decode (RFC 7313 §5 says to ignore them). */
	assert_int_equal(
		bgp_route_refresh_decode((const uint8_t[]){ 0, 1, 7, 1 }, 4, &rr, &err), 0);
	assert_int_equal(rr.subtype, 7);
	/* Shorter than AFI, subtype, SAFI. */
	assert_int_equal(bgp_route_refresh_decode((const uint8_t[]){ 0, 1, 0 }, 3, &rr, &err), -1);
	assert_notify(&err, BGP_ERR_HEADER, BGP_ERR_HDR_BAD_LENGTH,
		      (const uint8_t[]){ 0x00, 0x16 }, 2);
}

/* Framing a run of encoded messages gives them back one by one. */
static void test_stream(void **state)
{
	struct bgp_route_refresh rr = { .afi = 1, .safi = 1 };
	struct bgp_notify n, err;
	struct wbuf w;
	size_t off = 0, len;
	uint8_t type, want[] = { BGP_MSG_KEEPALIVE, BGP_MSG_ROUTE_REFRESH, BGP_MSG_NOTIFICATION };

	(void)state;
	wbuf_init_dyn(&w, 0);
	bgp_keepalive_encode(&w);
	bgp_route_refresh_encode(&w, &rr);
	bgp_notify_set(&n, BGP_ERR_CEASE, BGP_CEASE_PEER_DECONFIGURED, NULL, 0);
	bgp_notification_encode(&w, &n);
	assert_true(wbuf_ok(&w));
	for (size_t i = 0; i < sizeof(want); i++) {
		assert_int_equal(bgp_frame(w.p + off, w.len - off, &len, &type, &err),
				 BGP_FRAME_MSG);
		assert_int_equal(type, want[i]);
		off += len;
	}
	assert_int_equal(off, w.len);
	assert_int_equal(bgp_frame(w.p + off, 0, &len, &type, &err), BGP_FRAME_MORE);
	wbuf_free(&w);
}

static void test_msg_finish_limit(void **state)
{
	struct wbuf w;
	size_t start;

	(void)state;
	wbuf_init_dyn(&w, 0);
	start = bgp_msg_begin(&w, BGP_MSG_UPDATE);
	wbuf_zero(&w, BGP_MSG_MAX - BGP_HEADER_LEN);
	assert_int_equal(bgp_msg_finish(&w, start), 0);
	assert_int_equal(w.p[16] << 8 | w.p[17], 4096);
	start = bgp_msg_begin(&w, BGP_MSG_UPDATE);
	wbuf_zero(&w, BGP_MSG_MAX - BGP_HEADER_LEN + 1);
	assert_int_equal(bgp_msg_finish(&w, start), -1);
	assert_false(wbuf_ok(&w));
	wbuf_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_frame_every_split),
		cmocka_unit_test(test_open_decode_basic),
		cmocka_unit_test(test_open_decode_full),
		cmocka_unit_test(test_open_encode),
		cmocka_unit_test(test_open_encode_full),
		cmocka_unit_test(test_open_decode_extended),
		cmocka_unit_test(test_open_encode_extended),
		cmocka_unit_test(test_open_decode_split_params),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_open_decode_edges),
		cmocka_unit_test(test_open_encode_refuses),
		cmocka_unit_test(test_open_check),
		cmocka_unit_test(test_open_negotiate),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_notification),
		cmocka_unit_test(test_shutdown_communication),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_route_refresh),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_msg_finish_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
