/*
 * BGP message framing, OPEN, NOTIFICATION, KEEPALIVE and ROUTE-REFRESH
 * (see bgp_msg.h).  UPDATE lives in bgp_update.c.
 *
 * Decoders take the body that bgp_frame() delimited and read it through an
 * rbuf; every refusal names the RFC section it follows.  Encoders append
 * whole messages to a wbuf and report failure through its sticky error.
 */
#include "bgp/bgp_msg.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* ------------------------------------------------------------------ */
/* NOTIFICATION contents */

void bgp_notify_set(struct bgp_notify *n, uint8_t code, uint8_t subcode, const void *data,
		    size_t len)
{
	n->code = code;
	n->subcode = subcode;
	if (!data || len == 0) {
		n->len = 0;
		return;
	}
	if (len > BGP_NOTIFY_DATA_MAX)
		len = BGP_NOTIFY_DATA_MAX;
	memcpy(n->data, data, len);
	n->len = (uint16_t)len;
}

/* RFC 3629 UTF-8, without NUL so that the text is also a C string. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp, min;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (n - i - 1 < k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

int bgp_notify_shutdown(struct bgp_notify *n, uint8_t subcode, const char *msg)
{
	size_t len = msg ? strlen(msg) : 0;

	bgp_notify_set(n, BGP_ERR_CEASE, subcode, NULL, 0);
	if (!utf8_valid((const uint8_t *)msg, len))
		return -1;
	/* RFC 9003 §2: at most 255 octets; never split a character. */
	if (len > BGP_SHUTDOWN_MSG_MAX) {
		len = BGP_SHUTDOWN_MSG_MAX;
		while (len > 0 && ((uint8_t)msg[len] & 0xc0) == 0x80)
			len--;
	}
	if (len == 0)
		return 0;
	n->data[0] = (uint8_t)len;
	memcpy(n->data + 1, msg, len);
	n->len = (uint16_t)(len + 1);
	return 0;
}

int bgp_notify_shutdown_msg(const struct bgp_notify *n, char out[BGP_SHUTDOWN_MSG_MAX + 1])
{
	struct rbuf r;
	uint8_t len;

	out[0] = '\0';
	/* RFC 9003 §2: only Administrative Shutdown and Reset carry one. */
	if (n->code != BGP_ERR_CEASE ||
	    (n->subcode != BGP_CEASE_ADMIN_SHUTDOWN && n->subcode != BGP_CEASE_ADMIN_RESET))
		return 0;
	rbuf_init(&r, n->data, n->len);
	if (rbuf_u8(&r, &len) != 0 || len == 0)
		return 0;
	/* RFC 9003 §2: a length past the data, or bytes that are not UTF-8,
	 * make the communication invalid (to be logged, not shown). */
	if (rbuf_left(&r) < len || !utf8_valid(rbuf_ptr(&r), len))
		return -1;
	rbuf_bytes(&r, out, len);
	out[len] = '\0';
	return 1;
}

/* ------------------------------------------------------------------ */
/* Names for logs */

#define N_HDR "Message Header Error"
#define N_OPEN "OPEN Message Error"
#define N_UPD "UPDATE Message Error"
#define N_HOLD "Hold Timer Expired"
#define N_FSM "Finite State Machine Error"
#define N_CEASE "Cease"
#define N_RR "ROUTE-REFRESH Message Error"

static const char *const hdr_sub[] = {
	N_HDR " / Unspecific",
	N_HDR " / Connection Not Synchronized",
	N_HDR " / Bad Message Length",
	N_HDR " / Bad Message Type",
};

static const char *const open_sub[] = {
	N_OPEN " / Unspecific",
	N_OPEN " / Unsupported Version Number",
	N_OPEN " / Bad Peer AS",
	N_OPEN " / Bad BGP Identifier",
	N_OPEN " / Unsupported Optional Parameter",
	N_OPEN " / Authentication Failure (deprecated)",
	N_OPEN " / Unacceptable Hold Time",
	N_OPEN " / Unsupported Capability",
	N_OPEN " / deprecated subcode 8",
	N_OPEN " / deprecated subcode 9",
	N_OPEN " / deprecated subcode 10",
	N_OPEN " / Role Mismatch",
};

static const char *const upd_sub[] = {
	N_UPD " / Unspecific",
	N_UPD " / Malformed Attribute List",
	N_UPD " / Unrecognized Well-known Attribute",
	N_UPD " / Missing Well-known Attribute",
	N_UPD " / Attribute Flags Error",
	N_UPD " / Attribute Length Error",
	N_UPD " / Invalid ORIGIN Attribute",
	N_UPD " / AS Routing Loop (deprecated)",
	N_UPD " / Invalid NEXT_HOP Attribute",
	N_UPD " / Optional Attribute Error",
	N_UPD " / Invalid Network Field",
	N_UPD " / Malformed AS_PATH",
};

static const char *const hold_sub[] = {
	N_HOLD,
};

static const char *const fsm_sub[] = {
	N_FSM " / Unspecified Error",
	N_FSM " / Receive Unexpected Message in OpenSent State",
	N_FSM " / Receive Unexpected Message in OpenConfirm State",
	N_FSM " / Receive Unexpected Message in Established State",
};

static const char *const cease_sub[] = {
	N_CEASE " / Unspecific",
	N_CEASE " / Maximum Number of Prefixes Reached",
	N_CEASE " / Administrative Shutdown",
	N_CEASE " / Peer De-configured",
	N_CEASE " / Administrative Reset",
	N_CEASE " / Connection Rejected",
	N_CEASE " / Other Configuration Change",
	N_CEASE " / Connection Collision Resolution",
	N_CEASE " / Out of Resources",
	N_CEASE " / Hard Reset",
	N_CEASE " / BFD Down",
};

static const char *const rr_sub[] = {
	N_RR " / Reserved",
	N_RR " / Invalid Message Length",
};

struct bgp_notify_names {
	const char *const *sub;
	size_t nsub;
	const char *unknown;
};

static const struct bgp_notify_names notify_names[] = {
	[BGP_ERR_HEADER] = { hdr_sub, ARRAY_SIZE(hdr_sub), N_HDR " / unknown subcode" },
	[BGP_ERR_OPEN] = { open_sub, ARRAY_SIZE(open_sub), N_OPEN " / unknown subcode" },
	[BGP_ERR_UPDATE] = { upd_sub, ARRAY_SIZE(upd_sub), N_UPD " / unknown subcode" },
	[BGP_ERR_HOLD_TIMER] = { hold_sub, ARRAY_SIZE(hold_sub), N_HOLD " / unknown subcode" },
	[BGP_ERR_FSM] = { fsm_sub, ARRAY_SIZE(fsm_sub), N_FSM " / unknown subcode" },
	[BGP_ERR_CEASE] = { cease_sub, ARRAY_SIZE(cease_sub), N_CEASE " / unknown subcode" },
	[BGP_ERR_ROUTE_REFRESH] = { rr_sub, ARRAY_SIZE(rr_sub), N_RR " / unknown subcode" },
};

const char *bgp_notify_name(uint8_t code, uint8_t subcode)
{
	if (code >= ARRAY_SIZE(notify_names) || !notify_names[code].sub)
		return "unknown error code";
	if (subcode >= notify_names[code].nsub)
		return notify_names[code].unknown;
	return notify_names[code].sub[subcode];
}

const char *bgp_msg_type_name(uint8_t type)
{
	static const char *const names[] = {
		[BGP_MSG_OPEN] = "OPEN",
		[BGP_MSG_UPDATE] = "UPDATE",
		[BGP_MSG_NOTIFICATION] = "NOTIFICATION",
		[BGP_MSG_KEEPALIVE] = "KEEPALIVE",
		[BGP_MSG_ROUTE_REFRESH] = "ROUTE-REFRESH",
	};

	if (type >= ARRAY_SIZE(names) || !names[type])
		return "unknown";
	return names[type];
}

/* ------------------------------------------------------------------ */
/* Framing */

enum bgp_frame_result bgp_frame(const uint8_t *buf, size_t buflen, size_t *len, uint8_t *type,
				struct bgp_notify *err)
{
	struct rbuf r;
	size_t marker = buflen < BGP_MARKER_LEN ? buflen : BGP_MARKER_LEN;
	uint16_t l;
	uint8_t t, lf[2];
	size_t min;

	rbuf_init(&r, buf, buflen);
	/* RFC 4271 §4.1, §6.1: the marker is all ones, else Connection Not
	 * Synchronized; judged on the bytes already here. */
	for (size_t i = 0; i < marker; i++) {
		uint8_t b;

		rbuf_u8(&r, &b);
		if (b != 0xff) {
			bgp_notify_set(err, BGP_ERR_HEADER, BGP_ERR_HDR_NOT_SYNC, NULL, 0);
			return BGP_FRAME_ERROR;
		}
	}
	if (rbuf_u16(&r, &l) != 0 || rbuf_u8(&r, &t) != 0)
		return BGP_FRAME_MORE;
	lf[0] = (uint8_t)(l >> 8);
	lf[1] = (uint8_t)l;
	/* RFC 4271 §6.1: Length outside 19..4096 is Bad Message Length with
	 * the Length field as data. */
	if (l < BGP_HEADER_LEN || l > BGP_MSG_MAX) {
		bgp_notify_set(err, BGP_ERR_HEADER, BGP_ERR_HDR_BAD_LENGTH, lf, 2);
		return BGP_FRAME_ERROR;
	}
	/* RFC 4271 §6.1: an unknown Type is Bad Message Type, data the Type
	 * field.  ROUTE-REFRESH is RFC 2918 §3. */
	switch (t) {
	case BGP_MSG_OPEN:
		min = BGP_OPEN_MIN;
		break;
	case BGP_MSG_UPDATE:
		min = BGP_UPDATE_MIN;
		break;
	case BGP_MSG_NOTIFICATION:
		min = BGP_NOTIFICATION_MIN;
		break;
	case BGP_MSG_KEEPALIVE:
		min = BGP_HEADER_LEN;
		break;
	case BGP_MSG_ROUTE_REFRESH:
		min = BGP_ROUTE_REFRESH_LEN;
		break;
	default:
		bgp_notify_set(err, BGP_ERR_HEADER, BGP_ERR_HDR_BAD_TYPE, &t, 1);
		return BGP_FRAME_ERROR;
	}
	/* RFC 4271 §6.1: below the minimum of its type, or a KEEPALIVE
	 * (§4.4) longer than the header, is Bad Message Length. */
	if (l < min || (t == BGP_MSG_KEEPALIVE && l != BGP_HEADER_LEN)) {
		bgp_notify_set(err, BGP_ERR_HEADER, BGP_ERR_HDR_BAD_LENGTH, lf, 2);
		return BGP_FRAME_ERROR;
	}
	if (buflen < l)
		return BGP_FRAME_MORE;
	*len = l;
	*type = t;
	return BGP_FRAME_MSG;
}

size_t bgp_msg_begin(struct wbuf *w, uint8_t type)
{
	size_t start = wbuf_mark(w);
	static const uint8_t marker[BGP_MARKER_LEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};

	wbuf_bytes(w, marker, sizeof(marker));
	wbuf_u16(w, 0);
	wbuf_u8(w, type);
	return start;
}

int bgp_msg_finish(struct wbuf *w, size_t start)
{
	if (!wbuf_ok(w))
		return -1;
	/* RFC 4271 §4.1: no message exceeds 4096 octets. */
	if (wbuf_mark(w) - start > BGP_MSG_MAX) {
		w->err = true;
		return -1;
	}
	return wbuf_patch_len_u16(w, start + BGP_MARKER_LEN, start);
}

/* ------------------------------------------------------------------ */
/* OPEN */

static void caps_free(struct bgp_caps *c)
{
	free(c->mp);
	free(c->gr_families);
	free(c->ext_nh);
	for (size_t i = 0; i < c->nunknown; i++)
		free(c->unknown[i].data);
	free(c->unknown);
	memset(c, 0, sizeof(*c));
}

void bgp_open_free(struct bgp_open *o)
{
	caps_free(&o->caps);
}

static int open_unspecific(struct bgp_notify *err)
{
	bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_UNSPECIFIC, NULL, 0);
	return -1;
}

/* One capability's value v (RFC 5492 §4).  A known capability with a
 * length its RFC does not allow is refused: its meaning would be a guess. */
static int cap_parse(uint8_t code, struct rbuf *v, struct bgp_open *o, struct bgp_notify *err)
{
	struct bgp_caps *c = &o->caps;
	size_t len = rbuf_left(v);

	switch (code) {
	case BGP_CAP_MP: {
		/* RFC 4760 §8: AFI (2), Reserved (1), SAFI (1). */
		struct bgp_afi_safi *as;
		uint16_t afi;
		uint8_t res, safi;

		if (len != 4)
			return open_unspecific(err);
		rbuf_u16(v, &afi);
		rbuf_u8(v, &res);
		rbuf_u8(v, &safi);
		as = VEC_PUSH(c->mp, c->nmp);
		as->afi = afi;
		as->safi = safi;
		return 0;
	}
	case BGP_CAP_ROUTE_REFRESH:
		/* RFC 2918 §2: length 0. */
		if (len != 0)
			return open_unspecific(err);
		c->route_refresh = true;
		return 0;
	case BGP_CAP_ENHANCED_RR:
		/* RFC 7313 §3.1: length 0. */
		if (len != 0)
			return open_unspecific(err);
		c->enhanced_route_refresh = true;
		return 0;
	case BGP_CAP_AS4: {
		/* RFC 6793 §3: the 4-octet AS, length 4. */
		uint32_t asn;

		if (len != 4)
			return open_unspecific(err);
		rbuf_u32(v, &asn);
		/* RFC 7607 §2: AS 0 as the peer AS is Bad Peer AS. */
		if (asn == 0) {
			bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_PEER_AS, NULL, 0);
			return -1;
		}
		c->as4 = true;
		o->asn = asn;
		return 0;
	}
	case BGP_CAP_GRACEFUL_RESTART: {
		/* RFC 4724 §3: flags (4 bits) and restart time (12 bits), then
		 * AFI (2), SAFI (1), flags (1) per family. */
		uint16_t ft;

		if (len < 2 || (len - 2) % 4 != 0)
			return open_unspecific(err);
		rbuf_u16(v, &ft);
		c->gr = true;
		c->gr_restarting = (ft & 0x8000) != 0;
		c->gr_notification = (ft & 0x4000) != 0;
		c->gr_time = ft & 0x0fff;
		free(c->gr_families);
		c->gr_families = NULL;
		c->ngr = 0;
		while (rbuf_left(v) > 0) {
			struct bgp_gr_family *f = VEC_PUSH(c->gr_families, c->ngr);
			uint8_t flags;

			rbuf_u16(v, &f->afi);
			rbuf_u8(v, &f->safi);
			rbuf_u8(v, &flags);
			f->forwarding = (flags & 0x80) != 0;
		}
		return 0;
	}
	case BGP_CAP_EXT_NEXT_HOP:
		/* RFC 8950 §3: tuples of NLRI AFI (2), NLRI SAFI (2), Next Hop
		 * AFI (2). */
		if (len % 6 != 0)
			return open_unspecific(err);
		while (rbuf_left(v) > 0) {
			struct bgp_ext_nh *e = VEC_PUSH(c->ext_nh, c->next_nh);

			rbuf_u16(v, &e->nlri_afi);
			rbuf_u16(v, &e->nlri_safi);
			rbuf_u16(v, &e->nh_afi);
		}
		return 0;
	default: {
		/* RFC 5492 §4: an unrecognized capability is ignored. */
		struct bgp_cap_raw *raw = VEC_PUSH(c->unknown, c->nunknown);

		raw->code = code;
		raw->len = (uint8_t)len;
		raw->data = len ? xmalloc(len) : NULL;
		rbuf_bytes(v, raw->data, len);
		return 0;
	}
	}
}

/* The value of a Capabilities optional parameter: a list of code (1),
 * length (1), value (RFC 5492 §4). */
static int caps_parse(struct rbuf *v, struct bgp_open *o, struct bgp_notify *err)
{
	while (rbuf_left(v) > 0) {
		uint8_t code, len;
		struct rbuf cv;

		if (rbuf_u8(v, &code) != 0 || rbuf_u8(v, &len) != 0 || rbuf_sub(v, len, &cv) != 0)
			return open_unspecific(err);
		if (cap_parse(code, &cv, o, err) != 0)
			return -1;
	}
	return 0;
}

/* Optional Parameters (RFC 4271 §4.2, RFC 9072 §2): r holds exactly the
 * bytes after the Optional Parameters Length octet optlen. */
static int opt_params_parse(struct rbuf *r, uint8_t optlen, struct bgp_open *o,
			    struct bgp_notify *err)
{
	uint8_t first;
	bool ext = false;

	/* RFC 9072 §2: a non-zero Non-Ext OP Len followed by the reserved
	 * parameter type 255 announces the extended form: a 2-octet total
	 * length and 2-octet parameter lengths. */
	if (optlen != 0 && rbuf_peek_u8(r, &first) == 0 && first == 255) {
		uint16_t extlen;

		rbuf_skip(r, 1);
		if (rbuf_u16(r, &extlen) != 0 || rbuf_left(r) != extlen)
			return open_unspecific(err);
		ext = true;
	} else if (rbuf_left(r) != optlen) {
		/* RFC 4271 §4.2: the parameters fill the rest of the message. */
		return open_unspecific(err);
	}
	o->ext_params = ext;
	while (rbuf_left(r) > 0) {
		uint8_t type;
		uint16_t plen;
		uint8_t plen8;
		struct rbuf pv;

		if (rbuf_u8(r, &type) != 0)
			return open_unspecific(err);
		if (ext) {
			if (rbuf_u16(r, &plen) != 0)
				return open_unspecific(err);
		} else {
			if (rbuf_u8(r, &plen8) != 0)
				return open_unspecific(err);
			plen = plen8;
		}
		if (rbuf_sub(r, plen, &pv) != 0)
			return open_unspecific(err);
		/* RFC 4271 §6.2, RFC 5492 §4: Capabilities (2) is the only
		 * parameter in use; any other is Unsupported Optional
		 * Parameter. */
		if (type != 2) {
			bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_OPT_PARAM, NULL, 0);
			return -1;
		}
		if (caps_parse(&pv, o, err) != 0)
			return -1;
	}
	return 0;
}

int bgp_open_decode(const uint8_t *body, size_t len, struct bgp_open *o, struct bgp_notify *err)
{
	struct rbuf r;
	uint8_t optlen;

	memset(o, 0, sizeof(*o));
	rbuf_init(&r, body, len);
	/* RFC 4271 §6.1: shorter than the fixed part is Bad Message Length. */
	if (len + BGP_HEADER_LEN < BGP_OPEN_MIN || len + BGP_HEADER_LEN > BGP_MSG_MAX) {
		uint8_t lf[2] = { (uint8_t)((len + BGP_HEADER_LEN) >> 8),
				  (uint8_t)(len + BGP_HEADER_LEN) };

		bgp_notify_set(err, BGP_ERR_HEADER, BGP_ERR_HDR_BAD_LENGTH, lf, 2);
		return -1;
	}
	rbuf_u8(&r, &o->version);
	/* RFC 4271 §6.2: Unsupported Version Number, data the largest
	 * version supported (2 octets). */
	if (o->version != BGP_VERSION) {
		static const uint8_t ver[2] = { 0, BGP_VERSION };

		bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_VERSION, ver, sizeof(ver));
		return -1;
	}
	rbuf_u16(&r, &o->my_as);
	rbuf_u16(&r, &o->hold_time);
	rbuf_u32(&r, &o->bgp_id);
	rbuf_u8(&r, &optlen);
	/* RFC 7607 §2: AS 0 is Bad Peer AS. */
	if (o->my_as == 0) {
		bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_PEER_AS, NULL, 0);
		return -1;
	}
	/* RFC 4271 §4.2, §6.2: hold time 0 or at least 3 seconds. */
	if (o->hold_time == 1 || o->hold_time == 2) {
		bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_HOLD_TIME, NULL, 0);
		return -1;
	}
	/* RFC 6286 §2.2: the identifier is any non-zero 32-bit value. */
	if (o->bgp_id == 0) {
		bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_BGP_ID, NULL, 0);
		return -1;
	}
	o->asn = o->my_as;
	if (opt_params_parse(&r, optlen, o, err) != 0) {
		bgp_open_free(o);
		return -1;
	}
	return 0;
}

static void cap_hdr(struct wbuf *w, uint8_t code, uint8_t len)
{
	wbuf_u8(w, code);
	wbuf_u8(w, len);
}

static void caps_write(struct wbuf *w, const struct bgp_open *o)
{
	const struct bgp_caps *c = &o->caps;

	for (size_t i = 0; i < c->nmp; i++) {
		cap_hdr(w, BGP_CAP_MP, 4);
		wbuf_u16(w, c->mp[i].afi);
		wbuf_u8(w, 0);
		wbuf_u8(w, c->mp[i].safi);
	}
	if (c->route_refresh)
		cap_hdr(w, BGP_CAP_ROUTE_REFRESH, 0);
	if (c->next_nh) {
		size_t at;

		cap_hdr(w, BGP_CAP_EXT_NEXT_HOP, 0);
		at = wbuf_mark(w);
		for (size_t i = 0; i < c->next_nh; i++) {
			wbuf_u16(w, c->ext_nh[i].nlri_afi);
			wbuf_u16(w, c->ext_nh[i].nlri_safi);
			wbuf_u16(w, c->ext_nh[i].nh_afi);
		}
		wbuf_patch_len_u8(w, at - 1, at);
	}
	if (c->gr) {
		size_t at;
		uint16_t ft = c->gr_time & 0x0fff;

		if (c->gr_restarting)
			ft |= 0x8000;
		if (c->gr_notification)
			ft |= 0x4000;
		cap_hdr(w, BGP_CAP_GRACEFUL_RESTART, 0);
		at = wbuf_mark(w);
		wbuf_u16(w, ft);
		for (size_t i = 0; i < c->ngr; i++) {
			wbuf_u16(w, c->gr_families[i].afi);
			wbuf_u8(w, c->gr_families[i].safi);
			wbuf_u8(w, c->gr_families[i].forwarding ? 0x80 : 0);
		}
		wbuf_patch_len_u8(w, at - 1, at);
	}
	if (c->as4) {
		cap_hdr(w, BGP_CAP_AS4, 4);
		wbuf_u32(w, o->asn);
	}
	if (c->enhanced_route_refresh)
		cap_hdr(w, BGP_CAP_ENHANCED_RR, 0);
	for (size_t i = 0; i < c->nunknown; i++) {
		cap_hdr(w, c->unknown[i].code, c->unknown[i].len);
		wbuf_bytes(w, c->unknown[i].data, c->unknown[i].len);
	}
}

int bgp_open_encode(struct wbuf *w, const struct bgp_open *o)
{
	struct wbuf caps;
	size_t start;

	/* RFC 4271 §4.2 / §6.2, RFC 6286, RFC 7607, RFC 4724 §3: the fields a
	 * peer would refuse. */
	if (o->asn == 0 || o->hold_time == 1 || o->hold_time == 2 || o->bgp_id == 0 ||
	    (o->caps.gr && o->caps.gr_time > 0x0fff))
		return -1;
	/* RFC 6793 §4.1: an AS above 65535 goes as AS_TRANS next to the
	 * 4-octet AS capability, which therefore has to be sent. */
	if (o->asn > 0xffff && !o->caps.as4)
		return -1;
	wbuf_init_dyn(&caps, 256);
	caps_write(&caps, o);
	if (!wbuf_ok(&caps)) {
		wbuf_free(&caps);
		return -1;
	}
	start = bgp_msg_begin(w, BGP_MSG_OPEN);
	wbuf_u8(w, BGP_VERSION);
	wbuf_u16(w, o->asn > 0xffff ? BGP_AS_TRANS : (uint16_t)o->asn);
	wbuf_u16(w, o->hold_time);
	wbuf_u32(w, o->bgp_id);
	if (caps.len == 0) {
		wbuf_u8(w, 0);
	} else if (caps.len + 2 <= 255) {
		wbuf_u8(w, (uint8_t)(caps.len + 2));
		wbuf_u8(w, 2);
		wbuf_u8(w, (uint8_t)caps.len);
		wbuf_bytes(w, caps.p, caps.len);
	} else {
		/* RFC 9072 §2: Non-Ext OP Len 255, Non-Ext OP Type 255, then
		 * the 2-octet length of parameters with 2-octet lengths. */
		wbuf_u8(w, 255);
		wbuf_u8(w, 255);
		if (caps.len + 3 > UINT16_MAX)
			w->err = true;
		wbuf_u16(w, (uint16_t)(caps.len + 3));
		wbuf_u8(w, 2);
		wbuf_u16(w, (uint16_t)caps.len);
		wbuf_bytes(w, caps.p, caps.len);
	}
	wbuf_free(&caps);
	return bgp_msg_finish(w, start);
}

bool bgp_open_has_family(const struct bgp_open *o, uint16_t afi, uint8_t safi)
{
	/* RFC 4760 §8 / RFC 4271: a speaker without the capability speaks
	 * IPv4 unicast only. */
	if (o->caps.nmp == 0)
		return afi == BGP_AFI_IPV4 && safi == BGP_SAFI_UNICAST;
	for (size_t i = 0; i < o->caps.nmp; i++)
		if (o->caps.mp[i].afi == afi && o->caps.mp[i].safi == safi)
			return true;
	return false;
}

static bool has_ext_nh_ipv4(const struct bgp_open *o)
{
	for (size_t i = 0; i < o->caps.next_nh; i++) {
		const struct bgp_ext_nh *e = &o->caps.ext_nh[i];

		if (e->nlri_afi == BGP_AFI_IPV4 && e->nlri_safi == BGP_SAFI_UNICAST &&
		    e->nh_afi == BGP_AFI_IPV6)
			return true;
	}
	return false;
}

int bgp_open_check(const struct bgp_open *peer, const struct bgp_open_policy *p,
		   struct bgp_notify *err)
{
	uint8_t data[64];
	struct wbuf w;

	/* RFC 4271 §6.2: an AS other than the configured one. */
	if (p->peer_as != 0 && peer->asn != p->peer_as) {
		bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_PEER_AS, NULL, 0);
		return -1;
	}
	/* RFC 6286 §2.2: an internal peer must not use our identifier. */
	if (peer->asn == p->local_as && peer->bgp_id == p->local_id) {
		bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_BGP_ID, NULL, 0);
		return -1;
	}
	/* RFC 4271 §6.2: a hold time may be refused by local policy. */
	if ((peer->hold_time == 0 && p->refuse_zero_hold) ||
	    (peer->hold_time != 0 && peer->hold_time < p->min_hold_time)) {
		bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_HOLD_TIME, NULL, 0);
		return -1;
	}
	/* RFC 5492 §5: Unsupported Capability lists the capabilities that
	 * are required and missing, as they would be advertised. */
	wbuf_init_fixed(&w, data, sizeof(data));
	if ((p->required & BGP_REQUIRE_AS4) && !peer->caps.as4) {
		cap_hdr(&w, BGP_CAP_AS4, 4);
		wbuf_u32(&w, p->local_as);
	}
	if ((p->required & BGP_REQUIRE_IPV4_UNICAST) &&
	    !bgp_open_has_family(peer, BGP_AFI_IPV4, BGP_SAFI_UNICAST)) {
		cap_hdr(&w, BGP_CAP_MP, 4);
		wbuf_u16(&w, BGP_AFI_IPV4);
		wbuf_u8(&w, 0);
		wbuf_u8(&w, BGP_SAFI_UNICAST);
	}
	if ((p->required & BGP_REQUIRE_IPV6_UNICAST) &&
	    !bgp_open_has_family(peer, BGP_AFI_IPV6, BGP_SAFI_UNICAST)) {
		cap_hdr(&w, BGP_CAP_MP, 4);
		wbuf_u16(&w, BGP_AFI_IPV6);
		wbuf_u8(&w, 0);
		wbuf_u8(&w, BGP_SAFI_UNICAST);
	}
	if ((p->required & BGP_REQUIRE_ROUTE_REFRESH) && !peer->caps.route_refresh)
		cap_hdr(&w, BGP_CAP_ROUTE_REFRESH, 0);
	if ((p->required & BGP_REQUIRE_EXT_NH_IPV4) && !has_ext_nh_ipv4(peer)) {
		cap_hdr(&w, BGP_CAP_EXT_NEXT_HOP, 6);
		wbuf_u16(&w, BGP_AFI_IPV4);
		wbuf_u16(&w, BGP_SAFI_UNICAST);
		wbuf_u16(&w, BGP_AFI_IPV6);
	}
	if (w.len > 0) {
		bgp_notify_set(err, BGP_ERR_OPEN, BGP_ERR_OPEN_CAPABILITY, data, w.len);
		return -1;
	}
	return 0;
}

void bgp_open_negotiate(const struct bgp_open *local, const struct bgp_open *peer,
			struct bgp_negotiated *out)
{
	memset(out, 0, sizeof(*out));
	/* RFC 4271 §4.2: the smaller hold time; keepalives at a third. */
	out->hold_time = local->hold_time < peer->hold_time ? local->hold_time : peer->hold_time;
	out->keepalive = out->hold_time / 3;
	out->ipv4_unicast = bgp_open_has_family(local, BGP_AFI_IPV4, BGP_SAFI_UNICAST) &&
			    bgp_open_has_family(peer, BGP_AFI_IPV4, BGP_SAFI_UNICAST);
	out->ipv6_unicast = bgp_open_has_family(local, BGP_AFI_IPV6, BGP_SAFI_UNICAST) &&
			    bgp_open_has_family(peer, BGP_AFI_IPV6, BGP_SAFI_UNICAST);
	out->route_refresh = local->caps.route_refresh && peer->caps.route_refresh;
	out->enhanced_route_refresh =
		local->caps.enhanced_route_refresh && peer->caps.enhanced_route_refresh;
	out->peer_gr = peer->caps.gr;
	/* RFC 6793 §4.1: 4-octet ASNs only between two NEW speakers. */
	out->opts.as4 = local->caps.as4 && peer->caps.as4;
	/* RFC 8950 §4: each side sends IPv6 next hops for IPv4 NLRI only to a
	 * speaker that advertised it; used here only when both did. */
	out->opts.ext_nh_ipv4 = has_ext_nh_ipv4(local) && has_ext_nh_ipv4(peer);
	out->opts.ebgp = local->asn != peer->asn;
}

/* ------------------------------------------------------------------ */
/* KEEPALIVE, NOTIFICATION, ROUTE-REFRESH */

int bgp_keepalive_encode(struct wbuf *w)
{
	/* RFC 4271 §4.4: the header alone. */
	size_t start = bgp_msg_begin(w, BGP_MSG_KEEPALIVE);

	return bgp_msg_finish(w, start);
}

int bgp_notification_encode(struct wbuf *w, const struct bgp_notify *n)
{
	size_t start;

	if (n->len > BGP_NOTIFY_DATA_MAX)
		return -1;
	start = bgp_msg_begin(w, BGP_MSG_NOTIFICATION);
	wbuf_u8(w, n->code);
	wbuf_u8(w, n->subcode);
	wbuf_bytes(w, n->data, n->len);
	return bgp_msg_finish(w, start);
}

int bgp_notification_decode(const uint8_t *body, size_t len, struct bgp_notify *n)
{
	struct rbuf r;

	rbuf_init(&r, body, len);
	memset(n, 0, offsetof(struct bgp_notify, data));
	/* RFC 4271 §4.5: code and subcode, then data to the end. */
	if (rbuf_u8(&r, &n->code) != 0 || rbuf_u8(&r, &n->subcode) != 0)
		return -1;
	if (rbuf_left(&r) > BGP_NOTIFY_DATA_MAX)
		return -1;
	n->len = (uint16_t)rbuf_left(&r);
	rbuf_bytes(&r, n->data, n->len);
	return 0;
}

int bgp_route_refresh_encode(struct wbuf *w, const struct bgp_route_refresh *rr)
{
	/* RFC 2918 §3, RFC 7313 §3.2: AFI (2), subtype (1), SAFI (1). */
	size_t start = bgp_msg_begin(w, BGP_MSG_ROUTE_REFRESH);

	wbuf_u16(w, rr->afi);
	wbuf_u8(w, rr->subtype);
	wbuf_u8(w, rr->safi);
	return bgp_msg_finish(w, start);
}

int bgp_route_refresh_decode(const uint8_t *body, size_t len, struct bgp_route_refresh *rr,
			     struct bgp_notify *err)
{
	struct rbuf r;

	rbuf_init(&r, body, len);
	memset(rr, 0, sizeof(*rr));
	/* RFC 4271 §6.1 (minimum length of the type): Bad Message Length. */
	if (len < 4 || len + BGP_HEADER_LEN > BGP_MSG_MAX) {
		uint8_t lf[2] = { (uint8_t)((len + BGP_HEADER_LEN) >> 8),
				  (uint8_t)(len + BGP_HEADER_LEN) };

		bgp_notify_set(err, BGP_ERR_HEADER, BGP_ERR_HDR_BAD_LENGTH, lf, 2);
		return -1;
	}
	rbuf_u16(&r, &rr->afi);
	rbuf_u8(&r, &rr->subtype);
	rbuf_u8(&r, &rr->safi);
	/* RFC 7313 §5: a BoRR or EoRR whose body is not 4 octets is Invalid
	 * Message Length, data the complete message. */
	if (len != 4 && (rr->subtype == BGP_RR_BORR || rr->subtype == BGP_RR_EORR)) {
		struct wbuf w;
		size_t room = BGP_NOTIFY_DATA_MAX - BGP_HEADER_LEN;

		/* A message too long to echo whole is echoed as far as the
		 * NOTIFICATION has room, its Length field intact. */
		wbuf_init_fixed(&w, err->data, sizeof(err->data));
		bgp_msg_begin(&w, BGP_MSG_ROUTE_REFRESH);
		wbuf_patch_u16(&w, BGP_MARKER_LEN, (uint16_t)(len + BGP_HEADER_LEN));
		wbuf_bytes(&w, body, len < room ? len : room);
		err->code = BGP_ERR_ROUTE_REFRESH;
		err->subcode = BGP_ERR_RR_BAD_LENGTH;
		err->len = (uint16_t)w.len;
		return -1;
	}
	return 0;
}
