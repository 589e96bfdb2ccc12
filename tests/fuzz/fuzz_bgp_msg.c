/*
 * libFuzzer harness for the BGP message codec (bgp/bgp_msg.h).
 *
 * An input that starts with a BGP marker byte (0xff) is a TCP stream: it
 * is framed with bgp_frame() message by message and each message goes to
 * the decoder for its type.  Any other input is one message body: the
 * first byte picks the decoder (and, for UPDATE, the session options) and
 * the rest is the body, so the fuzzer need not rediscover the header.
 *
 * What decodes is checked and re-encoded: an OPEN is written again and
 * must decode to the same fields; an UPDATE is decoded under 2- and
 * 4-octet AS, internal and external, with and without RFC 8950, and when
 * its shape allows, its prefixes are announced or withdrawn again and
 * must come back the same; NOTIFICATION and ROUTE-REFRESH must re-encode
 * to the very bytes they came from.  Every refusal must carry a
 * NOTIFICATION code that belongs to the message type.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bgp/bgp_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_notify(const struct bgp_notify *n)
{
	check(n->code >= BGP_ERR_HEADER && n->code <= BGP_ERR_ROUTE_REFRESH);
	check(n->len <= BGP_NOTIFY_DATA_MAX);
	check(bgp_notify_name(n->code, n->subcode) != NULL);
}

/* ------------------------------------------------------------------ */
/* OPEN */

static void fuzz_open(const uint8_t *body, size_t len)
{
	static struct bgp_afi_safi mp[] = { { 1, 1 }, { 2, 1 } };
	struct bgp_open o, back;
	struct bgp_open local = { .asn = 65001, .hold_time = 90, .bgp_id = 0x0a000001 };
	struct bgp_open_policy pol = { .local_as = 65001, .local_id = 0x0a000001,
				       .min_hold_time = 3,
				       .required = BGP_REQUIRE_IPV4_UNICAST | BGP_REQUIRE_AS4 };
	struct bgp_negotiated neg;
	struct bgp_notify err;
	struct wbuf w;

	local.caps.nmp = 2;
	local.caps.mp = mp;
	local.caps.as4 = true;
	if (bgp_open_decode(body, len, &o, &err) != 0) {
		check_notify(&err);
		check(err.code == BGP_ERR_HEADER || err.code == BGP_ERR_OPEN);
		check(o.caps.mp == NULL && o.caps.unknown == NULL);
		return;
	}
	/* RFC 4271 §6.2, RFC 7607: what a decoded OPEN cannot hold. */
	check(o.version == BGP_VERSION);
	check(o.asn != 0 && o.bgp_id != 0);
	check(o.hold_time == 0 || o.hold_time >= 3);
	check(o.caps.as4 || o.asn == o.my_as);
	check(o.caps.gr_time <= 0x0fff);

	if (bgp_open_check(&o, &pol, &err) != 0) {
		check_notify(&err);
		check(err.code == BGP_ERR_OPEN);
	}
	bgp_open_negotiate(&local, &o, &neg);
	check(neg.hold_time <= 90);
	check(neg.keepalive == neg.hold_time / 3);

	wbuf_init_dyn(&w, 0);
	if (bgp_open_encode(&w, &o) == 0) {
		size_t mlen;
		uint8_t type;

		check(w.len <= BGP_MSG_MAX);
		check(bgp_frame(w.p, w.len, &mlen, &type, &err) == BGP_FRAME_MSG);
		check(mlen == w.len && type == BGP_MSG_OPEN);
		check(bgp_open_decode(w.p + BGP_HEADER_LEN, w.len - BGP_HEADER_LEN, &back, &err) ==
		      0);
		check(back.asn == o.asn && back.hold_time == o.hold_time &&
		      back.bgp_id == o.bgp_id);
		check(back.caps.nmp == o.caps.nmp && back.caps.next_nh == o.caps.next_nh &&
		      back.caps.nunknown == o.caps.nunknown);
		check(back.caps.as4 == o.caps.as4 && back.caps.gr == o.caps.gr &&
		      back.caps.route_refresh == o.caps.route_refresh &&
		      back.caps.enhanced_route_refresh == o.caps.enhanced_route_refresh);
		if (o.caps.nmp)
			check(memcmp(back.caps.mp, o.caps.mp,
				     o.caps.nmp * sizeof(*o.caps.mp)) == 0);
		if (o.caps.gr) {
			check(back.caps.gr_time == o.caps.gr_time && back.caps.ngr == o.caps.ngr);
			check(back.caps.gr_restarting == o.caps.gr_restarting);
		}
		for (size_t i = 0; i < o.caps.nunknown; i++) {
			check(back.caps.unknown[i].code == o.caps.unknown[i].code);
			check(back.caps.unknown[i].len == o.caps.unknown[i].len);
			check(o.caps.unknown[i].len == 0 ||
			      memcmp(back.caps.unknown[i].data, o.caps.unknown[i].data,
				     o.caps.unknown[i].len) == 0);
		}
		bgp_open_free(&back);
	}
	wbuf_free(&w);
	bgp_open_free(&o);
}

/* ------------------------------------------------------------------ */
/* UPDATE */

static bool prefix_eq(const struct ip_prefix *a, const struct ip_prefix *b)
{
	return ip_eq(&a->addr, &b->addr) && a->len == b->len;
}

/* Decode every message of w (all UPDATEs) and check that together they
 * carry exactly want[0..n) as NLRI (or withdrawals) in order. */
static void check_unpack(const struct wbuf *w, const struct bgp_msg_opts *o,
			 const struct ip_prefix *want, size_t n, bool withdrawn)
{
	size_t off = 0, k = 0;

	check(wbuf_ok(w));
	while (off < w->len) {
		struct bgp_update u;
		struct bgp_notify err;
		size_t mlen, got;
		uint8_t type;
		const struct ip_prefix *p;

		check(bgp_frame(w->p + off, w->len - off, &mlen, &type, &err) == BGP_FRAME_MSG);
		check(type == BGP_MSG_UPDATE && mlen <= BGP_MSG_MAX);
		check(bgp_update_decode(w->p + off + BGP_HEADER_LEN, mlen - BGP_HEADER_LEN, o, &u,
					&err) == 0);
		check(u.action == BGP_UPDATE_OK);
		got = withdrawn ? u.nwithdrawn : u.nnlri;
		p = withdrawn ? u.withdrawn : u.nlri;
		check(got > 0);
		for (size_t i = 0; i < got; i++) {
			check(k < n);
			check(prefix_eq(&p[i], &want[k]));
			k++;
		}
		bgp_update_free(&u);
		off += mlen;
	}
	check(k == n);
}

/* Announce the decoded prefixes again with the decoded attributes when
 * they fit struct bgp_attr_set: one family from one place, an AS_PATH of
 * at most one AS_SEQUENCE. */
static void reannounce(const struct bgp_update *u, const struct bgp_msg_opts *o)
{
	const struct bgp_path_attrs *a = &u->attrs;
	struct bgp_attr_set s = { 0 };
	struct wbuf w;
	bool v4_field = !u->has_mp_reach;

	if (u->nnlri == 0 || !a->has_origin || !a->has_as_path || a->as_path.nsegs > 1 ||
	    (a->as_path.nsegs == 1 && a->as_path.segs[0].type != BGP_AS_SEQUENCE))
		return;
	if (v4_field) {
		if (!a->has_next_hop)
			return;
		s.next_hop = a->next_hop;
	} else {
		/* Only MP_REACH_NLRI prefixes, and an NLRI field would mix. */
		for (size_t i = 0; i < u->nnlri; i++)
			if (u->nlri[i].addr.family != u->nlri[0].addr.family)
				return;
		if (u->mp_next_hop.family != IP_FAMILY_V6)
			return;
		s.next_hop6 = u->mp_next_hop;
		s.next_hop6_ll = u->mp_next_hop_ll;
	}
	s.origin = a->origin;
	s.as_path = a->as_path.asns;
	s.as_path_len = a->as_path.nasns;
	s.has_med = a->has_med;
	s.med = a->med;
	s.has_local_pref = a->has_local_pref;
	s.local_pref = a->local_pref;
	s.communities = a->communities;
	s.ncommunities = a->ncommunities;
	s.large = a->large;
	s.nlarge = a->nlarge;
	wbuf_init_dyn(&w, 0);
	check(bgp_update_build_announce(&w, o, &s, u->nlri, u->nnlri, NULL) == 0);
	check_unpack(&w, o, u->nlri, u->nnlri, false);
	wbuf_free(&w);
}

static void fuzz_update_opts(const uint8_t *body, size_t len, const struct bgp_msg_opts *o)
{
	struct bgp_update u;
	struct bgp_notify err;
	struct wbuf w;
	uint16_t afi;
	uint8_t safi;

	if (bgp_update_decode(body, len, o, &u, &err) != 0) {
		check_notify(&err);
		check(err.code == BGP_ERR_UPDATE);
		check(u.action == BGP_UPDATE_SESSION_RESET);
		check(u.nlri == NULL && u.withdrawn == NULL);
		bgp_update_free(&u);
		return;
	}
	check(u.action < BGP_UPDATE_SESSION_RESET);
	check((u.action == BGP_UPDATE_OK) == (u.why.code == 0));
	if (u.why.code)
		check_notify(&u.why);
	for (size_t i = 0; i < u.nnlri; i++)
		check(u.nlri[i].len <= ip_family_bits(u.nlri[i].addr.family));
	for (size_t i = 0; i < u.nwithdrawn; i++)
		check(u.withdrawn[i].len <= ip_family_bits(u.withdrawn[i].addr.family));
	for (size_t i = 0; i < u.attrs.as_path.nsegs; i++)
		check(u.attrs.as_path.segs[i].first + u.attrs.as_path.segs[i].count <=
		      u.attrs.as_path.nasns);

	if (u.nwithdrawn) {
		wbuf_init_dyn(&w, 0);
		check(bgp_update_build_withdraw(&w, u.withdrawn, u.nwithdrawn, NULL) == 0);
		/* Withdrawals come back grouped by family, IPv4 first. */
		struct ip_prefix *want = malloc(u.nwithdrawn * sizeof(*want));
		size_t k = 0;

		for (size_t i = 0; i < u.nwithdrawn; i++)
			if (u.withdrawn[i].addr.family == IP_FAMILY_V4)
				want[k++] = u.withdrawn[i];
		for (size_t i = 0; i < u.nwithdrawn; i++)
			if (u.withdrawn[i].addr.family == IP_FAMILY_V6)
				want[k++] = u.withdrawn[i];
		check_unpack(&w, o, want, k, true);
		free(want);
		wbuf_free(&w);
	}
	if (u.action == BGP_UPDATE_OK)
		reannounce(&u, o);
	if (bgp_update_is_eor(&u, &afi, &safi)) {
		struct bgp_update back;
		uint16_t afi2;
		uint8_t safi2;

		wbuf_init_dyn(&w, 0);
		check(bgp_update_build_eor(&w, afi, safi) == 0);
		check(bgp_update_decode(w.p + BGP_HEADER_LEN, w.len - BGP_HEADER_LEN, o, &back,
					&err) == 0);
		check(bgp_update_is_eor(&back, &afi2, &safi2) && afi2 == afi && safi2 == safi);
		bgp_update_free(&back);
		wbuf_free(&w);
	}
	bgp_update_free(&u);
}

static void fuzz_update(const uint8_t *body, size_t len, unsigned sel)
{
	struct bgp_msg_opts o = {
		.as4 = sel & 1,
		.ebgp = (sel & 2) != 0,
		.ext_nh_ipv4 = (sel & 4) != 0,
		.first_as = (sel & 8) ? 65001 : 0,
	};

	fuzz_update_opts(body, len, &o);
}

/* ------------------------------------------------------------------ */
/* NOTIFICATION, ROUTE-REFRESH */

static void fuzz_notification(const uint8_t *body, size_t len)
{
	struct bgp_notify n;
	struct wbuf w;
	char msg[BGP_SHUTDOWN_MSG_MAX + 1];
	int rc;

	if (bgp_notification_decode(body, len, &n) != 0) {
		check(len < 2 || len - 2 > BGP_NOTIFY_DATA_MAX);
		return;
	}
	check(bgp_notify_name(n.code, n.subcode) != NULL);
	rc = bgp_notify_shutdown_msg(&n, msg);
	check(rc >= -1 && rc <= 1);
	check(strlen(msg) <= BGP_SHUTDOWN_MSG_MAX);
	if (rc == 1) {
		struct bgp_notify again;

		check(bgp_notify_shutdown(&again, n.subcode, msg) == 0);
		check(again.len == strlen(msg) + 1 && memcmp(again.data, n.data, again.len) == 0);
	}
	wbuf_init_dyn(&w, 0);
	check(bgp_notification_encode(&w, &n) == 0);
	check(w.len == len + BGP_HEADER_LEN && memcmp(w.p + BGP_HEADER_LEN, body, len) == 0);
	wbuf_free(&w);
}

static void fuzz_route_refresh(const uint8_t *body, size_t len)
{
	struct bgp_route_refresh rr;
	struct bgp_notify err;
	struct wbuf w;

	if (bgp_route_refresh_decode(body, len, &rr, &err) != 0) {
		check_notify(&err);
		check(err.code == BGP_ERR_HEADER || err.code == BGP_ERR_ROUTE_REFRESH);
		return;
	}
	wbuf_init_dyn(&w, 0);
	check(bgp_route_refresh_encode(&w, &rr) == 0);
	check(w.len == 23 && memcmp(w.p + BGP_HEADER_LEN, body, 4) == 0);
	wbuf_free(&w);
}

/* A shutdown communication built from arbitrary text. */
static void fuzz_shutdown(const uint8_t *p, size_t len)
{
	char *s = malloc(len + 1);
	struct bgp_notify n;
	char msg[BGP_SHUTDOWN_MSG_MAX + 1];

	memcpy(s, p, len);
	s[len] = '\0';
	if (bgp_notify_shutdown(&n, BGP_CEASE_ADMIN_SHUTDOWN, s) == 0) {
		check(n.len == 0 || bgp_notify_shutdown_msg(&n, msg) == 1);
		check(n.len <= BGP_SHUTDOWN_MSG_MAX + 1);
		check(n.len == 0 || strncmp(msg, s, strlen(msg)) == 0);
	} else {
		check(n.len == 0);
	}
	free(s);
}

/* ------------------------------------------------------------------ */

static void fuzz_message(uint8_t type, const uint8_t *body, size_t len)
{
	switch (type) {
	case BGP_MSG_OPEN:
		fuzz_open(body, len);
		break;
	case BGP_MSG_UPDATE:
		for (unsigned sel = 0; sel < 16; sel += 3)
			fuzz_update(body, len, sel);
		break;
	case BGP_MSG_NOTIFICATION:
		fuzz_notification(body, len);
		break;
	case BGP_MSG_ROUTE_REFRESH:
		fuzz_route_refresh(body, len);
		break;
	default:
		check(len == 0);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (size > 0 && data[0] != 0xff) {
		const uint8_t *body = data + 1;
		size_t len = size - 1;

		if (len > BGP_MSG_MAX - BGP_HEADER_LEN)
			return 0;
		switch (data[0] & 7) {
		case 0:
			fuzz_open(body, len);
			break;
		case 1:
		case 2:
			fuzz_update(body, len, data[0] >> 3);
			break;
		case 3:
			fuzz_notification(body, len);
			break;
		case 4:
			fuzz_route_refresh(body, len);
			break;
		case 5:
			fuzz_shutdown(body, len);
			break;
		default:
			fuzz_message(BGP_MSG_UPDATE, body, len);
			break;
		}
		return 0;
	}
	while (off < size) {
		struct bgp_notify err;
		size_t len = 0;
		uint8_t type = 0;
		enum bgp_frame_result r = bgp_frame(data + off, size - off, &len, &type, &err);

		if (r == BGP_FRAME_ERROR) {
			check(err.code == BGP_ERR_HEADER);
			check(err.subcode >= BGP_ERR_HDR_NOT_SYNC &&
			      err.subcode <= BGP_ERR_HDR_BAD_TYPE);
			check(err.len <= 2);
			break;
		}
		if (r == BGP_FRAME_MORE)
			break;
		check(len >= BGP_HEADER_LEN && len <= BGP_MSG_MAX && len <= size - off);
		fuzz_message(type, data + off + BGP_HEADER_LEN, len - BGP_HEADER_LEN);
		off += len;
	}
	return 0;
}
