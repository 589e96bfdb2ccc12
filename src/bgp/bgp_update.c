/*
 * UPDATE messages (see bgp_msg.h): the decoder with RFC 7606 error
 * handling, and the encoder that packs announcements and withdrawals.
 *
 * Decoding cuts the body into its three fields first (Withdrawn Routes,
 * Path Attributes, NLRI), so that the NLRI can always be located from the
 * Total Path Attribute Length however broken the attributes inside are
 * (RFC 7606 §4).  Each attribute is then cut out with rbuf_sub() and
 * handed to the check for its type.  A problem is recorded with the
 * action RFC 7606 §7 gives it; the strongest action wins (§3 h), and a
 * "session reset" stops decoding at once.
 *
 * Encoding writes the attributes common to a batch once into a scratch
 * buffer, then for each message computes how many prefixes fit in 4096
 * bytes before writing it, so no message is ever written and taken back.
 */
#include "bgp/bgp_msg.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Prefixes (RFC 4271 §4.3, RFC 4760 §5) */

static size_t prefix_wire_len(const struct ip_prefix *p)
{
	return 1 + (p->len + 7) / 8;
}

/* One prefix of family f: a length in bits and the fewest octets that
 * hold it.  Trailing bits past the length are irrelevant and cleared.
 * -1 when the length exceeds the family's or the octets run out. */
static int prefix_read(struct rbuf *r, enum ip_family f, struct ip_prefix *p)
{
	uint8_t bits, raw[16] = { 0 };
	struct ip_addr a;

	if (rbuf_u8(r, &bits) != 0 || bits > ip_family_bits(f))
		return -1;
	if (rbuf_bytes(r, raw, (bits + 7u) / 8) != 0)
		return -1;
	a = ip_from_bytes(f, raw);
	p->addr = ip_mask(&a, bits);
	p->len = bits;
	return 0;
}

static int prefixes_read(struct rbuf *r, enum ip_family f, struct ip_prefix **arr, size_t *n)
{
	while (rbuf_left(r) > 0) {
		struct ip_prefix p;

		if (prefix_read(r, f, &p) != 0)
			return -1;
		*VEC_PUSH(*arr, *n) = p;
	}
	return 0;
}

static void prefix_write(struct wbuf *w, const struct ip_prefix *p)
{
	uint8_t raw[16];
	struct ip_addr a = ip_mask(&p->addr, p->len);

	ip_to_bytes(&a, raw);
	wbuf_u8(w, (uint8_t)p->len);
	wbuf_bytes(w, raw, (p->len + 7) / 8);
}

/* ------------------------------------------------------------------ */
/* Decoding */

void bgp_update_free(struct bgp_update *u)
{
	struct bgp_path_attrs *a = &u->attrs;

	free(u->withdrawn);
	free(u->nlri);
	free(a->as_path.segs);
	free(a->as_path.asns);
	free(a->as4_path.segs);
	free(a->as4_path.asns);
	free(a->communities);
	free(a->large);
	free(a->cluster_list);
	for (size_t i = 0; i < a->nother; i++)
		free(a->other[i].data);
	free(a->other);
	u->withdrawn = u->nlri = NULL;
	u->nwithdrawn = u->nnlri = 0;
	memset(a, 0, sizeof(*a));
}

bool bgp_update_discarded(const struct bgp_update *u, uint8_t type)
{
	return (u->discarded[type / 64] >> (type % 64)) & 1;
}

const char *bgp_update_action_name(enum bgp_update_action a)
{
	switch (a) {
	case BGP_UPDATE_OK:
		return "ok";
	case BGP_UPDATE_ATTR_DISCARD:
		return "attribute-discard";
	case BGP_UPDATE_TREAT_AS_WITHDRAW:
		return "treat-as-withdraw";
	case BGP_UPDATE_SESSION_RESET:
		return "session-reset";
	}
	return "?";
}

bool bgp_update_is_eor(const struct bgp_update *u, uint16_t *afi, uint8_t *safi)
{
	if (u->nwithdrawn || u->nnlri)
		return false;
	/* RFC 4724 §2: the empty UPDATE is the IPv4 unicast End-of-RIB. */
	if (u->nattrs == 0) {
		*afi = BGP_AFI_IPV4;
		*safi = BGP_SAFI_UNICAST;
		return true;
	}
	/* RFC 4724 §2: an MP_UNREACH_NLRI with no NLRI and nothing else. */
	if (u->nattrs == 1 && u->has_mp_unreach && u->mp_unreach_empty) {
		*afi = u->mp_unreach_afi;
		*safi = u->mp_unreach_safi;
		return true;
	}
	return false;
}

/* The decoding of one message. */
struct bgp_dec {
	const struct bgp_msg_opts *o;
	struct bgp_update *u;
	size_t nlri_field;             /* prefixes in the NLRI field */
	uint64_t seen[4];              /* type codes met */
};

/* Record a problem handled by action a; the first of the strongest kind
 * is kept for the log and, for a session reset, the NOTIFICATION. */
static void problem(struct bgp_dec *d, enum bgp_update_action a, uint8_t subcode, const void *data,
		    size_t len)
{
	struct bgp_update *u = d->u;

	if (a > u->action) {
		u->action = a;
		bgp_notify_set(&u->why, BGP_ERR_UPDATE, subcode, data, len);
	}
}

static int reset(struct bgp_dec *d, uint8_t subcode, const void *data, size_t len)
{
	problem(d, BGP_UPDATE_SESSION_RESET, subcode, data, len);
	return -1;
}

static void discard(struct bgp_dec *d, uint8_t type, uint8_t subcode, const void *data, size_t len)
{
	d->u->discarded[type / 64] |= (uint64_t)1 << (type % 64);
	problem(d, BGP_UPDATE_ATTR_DISCARD, subcode, data, len);
}

/* A view of one attribute while it is checked. */
struct bgp_attr_view {
	uint8_t flags;
	uint8_t type;
	const uint8_t *raw;            /* flags through value, for NOTIFICATION */
	size_t rawlen;                 /* data (RFC 4271 §6.3) */
	struct rbuf v;                 /* the value */
};

/* RFC 4271 §5 and the RFCs of each attribute: the Optional and Transitive
 * bits it must carry, or -1 when this codec does not know the type. */
static int attr_class(uint8_t type)
{
	switch (type) {
	case BGP_ATTR_ORIGIN:
	case BGP_ATTR_AS_PATH:
	case BGP_ATTR_NEXT_HOP:
	case BGP_ATTR_LOCAL_PREF:
	case BGP_ATTR_ATOMIC_AGGREGATE:
		return BGP_ATTR_F_TRANSITIVE;
	case BGP_ATTR_MED:
	case BGP_ATTR_ORIGINATOR_ID:
	case BGP_ATTR_CLUSTER_LIST:
	case BGP_ATTR_MP_REACH_NLRI:
	case BGP_ATTR_MP_UNREACH_NLRI:
		return BGP_ATTR_F_OPTIONAL;
	case BGP_ATTR_AGGREGATOR:
	case BGP_ATTR_COMMUNITIES:
	case BGP_ATTR_EXT_COMMUNITIES:
	case BGP_ATTR_AS4_PATH:
	case BGP_ATTR_AS4_AGGREGATOR:
	case BGP_ATTR_IPV6_EXT_COMMUNITIES:
	case BGP_ATTR_LARGE_COMMUNITIES:
		return BGP_ATTR_F_OPTIONAL | BGP_ATTR_F_TRANSITIVE;
	default:
		return -1;
	}
}

/* A malformed attribute, handled as RFC 7606 §7 says for its type:
 * "attribute discard" for ATOMIC_AGGREGATE (§7.6), AGGREGATOR (§7.7) and
 * AS4_PATH / AS4_AGGREGATOR (RFC 6793 §6); NEXT_HOP too when there is no
 * NLRI field for it to serve (RFC 4760 §3); LOCAL_PREF, ORIGINATOR_ID and
 * CLUSTER_LIST from an external peer, which are discarded anyway (§7.5,
 * §7.9, §7.10); "treat-as-withdraw" for the rest (§7.1-§7.5, §7.8-§7.10,
 * §7.14, §7.15, RFC 8092 §6). */
static void malformed(struct bgp_dec *d, const struct bgp_attr_view *at, uint8_t subcode,
		      const void *data, size_t len)
{
	switch (at->type) {
	case BGP_ATTR_ATOMIC_AGGREGATE:
	case BGP_ATTR_AGGREGATOR:
	case BGP_ATTR_AS4_PATH:
	case BGP_ATTR_AS4_AGGREGATOR:
		discard(d, at->type, subcode, data, len);
		return;
	case BGP_ATTR_NEXT_HOP:
		if (d->nlri_field == 0) {
			discard(d, at->type, subcode, data, len);
			return;
		}
		break;
	case BGP_ATTR_LOCAL_PREF:
	case BGP_ATTR_ORIGINATOR_ID:
	case BGP_ATTR_CLUSTER_LIST:
		if (d->o->ebgp) {
			discard(d, at->type, subcode, data, len);
			return;
		}
		break;
	default:
		break;
	}
	problem(d, BGP_UPDATE_TREAT_AS_WITHDRAW, subcode, data, len);
}

static void malformed_attr(struct bgp_dec *d, const struct bgp_attr_view *at, uint8_t subcode)
{
	malformed(d, at, subcode, at->raw, at->rawlen);
}

/* AS_PATH and AS4_PATH segments (RFC 4271 §4.3, RFC 6793 §3): type (1),
 * count (1), count ASNs of asn_len octets.  RFC 7606 §7.2: an unknown
 * type, a count of 0, an overrun or a trailing underrun is malformed. */
static int as_path_parse(struct rbuf *v, unsigned asn_len, struct bgp_as_path *p)
{
	while (rbuf_left(v) > 0) {
		uint8_t type, count;
		struct bgp_as_seg *seg;

		if (rbuf_u8(v, &type) != 0 || rbuf_u8(v, &count) != 0)
			return -1;
		if (type < BGP_AS_SET || type > BGP_AS_CONFED_SET || count == 0)
			return -1;
		if (rbuf_left(v) < (size_t)count * asn_len)
			return -1;
		seg = VEC_PUSH(p->segs, p->nsegs);
		seg->type = type;
		seg->count = count;
		seg->first = p->nasns;
		for (unsigned i = 0; i < count; i++) {
			uint32_t *asn = VEC_PUSH(p->asns, p->nasns);
			uint16_t a16;

			if (asn_len == 2) {
				rbuf_u16(v, &a16);
				*asn = a16;
			} else {
				rbuf_u32(v, asn);
			}
		}
	}
	return 0;
}

static void as_path_free(struct bgp_as_path *p)
{
	free(p->segs);
	free(p->asns);
	memset(p, 0, sizeof(*p));
}

static bool as_path_has(const struct bgp_as_path *p, uint32_t asn)
{
	for (size_t i = 0; i < p->nasns; i++)
		if (p->asns[i] == asn)
			return true;
	return false;
}

static bool as_path_has_confed(const struct bgp_as_path *p)
{
	for (size_t i = 0; i < p->nsegs; i++)
		if (p->segs[i].type == BGP_AS_CONFED_SEQUENCE ||
		    p->segs[i].type == BGP_AS_CONFED_SET)
			return true;
	return false;
}

static void attr_as_path(struct bgp_dec *d, struct bgp_attr_view *at)
{
	struct bgp_path_attrs *a = &d->u->attrs;
	struct bgp_as_path p = { 0 };

	/* RFC 7606 §7.2: malformed segments; no data for Malformed AS_PATH
	 * (RFC 4271 §6.3). */
	if (as_path_parse(&at->v, d->o->as4 ? 4 : 2, &p) != 0) {
		as_path_free(&p);
		malformed(d, at, BGP_ERR_UPD_AS_PATH, NULL, 0);
		return;
	}
	/* RFC 7607 §2: AS 0 makes the AS_PATH malformed. */
	if (as_path_has(&p, 0)) {
		as_path_free(&p);
		malformed(d, at, BGP_ERR_UPD_AS_PATH, NULL, 0);
		return;
	}
	if (d->o->ebgp) {
		/* RFC 5065 §5: confederation segments from outside the
		 * confederation make a malformed AS_PATH. */
		if (as_path_has_confed(&p)) {
			as_path_free(&p);
			malformed(d, at, BGP_ERR_UPD_AS_PATH, NULL, 0);
			return;
		}
		/* RFC 4271 §6.3 (MAY), RFC 7606 §7.2: the leftmost AS is the
		 * peer's; a 2-octet session shows a large one as AS_TRANS. */
		if (d->o->first_as != 0) {
			uint32_t want = d->o->first_as;

			if (!d->o->as4 && want > 0xffff)
				want = BGP_AS_TRANS;
			if (p.nsegs == 0 || p.segs[0].type != BGP_AS_SEQUENCE ||
			    p.asns[0] != want) {
				as_path_free(&p);
				malformed(d, at, BGP_ERR_UPD_AS_PATH, NULL, 0);
				return;
			}
		}
	}
	a->as_path = p;
	a->has_as_path = true;
}

static void attr_as4_path(struct bgp_dec *d, struct bgp_attr_view *at)
{
	struct bgp_path_attrs *a = &d->u->attrs;
	struct bgp_as_path p = { 0 };

	/* RFC 6793 §4.1: a NEW speaker does not send AS4_PATH to a NEW
	 * speaker; one that arrives anyway is discarded. */
	if (d->o->as4) {
		discard(d, at->type, BGP_ERR_UPD_UNSPECIFIC, at->raw, at->rawlen);
		return;
	}
	/* RFC 6793 §6: malformed like an AS_PATH, with confederation
	 * segments (§3), or with AS 0 (RFC 7607 §2): discarded. */
	if (as_path_parse(&at->v, 4, &p) != 0 || as_path_has_confed(&p) || as_path_has(&p, 0)) {
		as_path_free(&p);
		malformed_attr(d, at, BGP_ERR_UPD_OPTIONAL_ATTR);
		return;
	}
	a->as4_path = p;
	a->has_as4_path = true;
}

/* RFC 4271 §6.3 semantic checks: an IPv4 next hop is a unicast host
 * address (not 0/8, loopback, multicast or reserved). */
static bool next_hop4_ok(const struct ip_addr *a)
{
	uint32_t top = (uint32_t)(a->v >> 24);

	return top != 0 && top != 127 && top < 224;
}

/* Likewise for IPv6: not unspecified and not multicast. */
static bool next_hop6_ok(const struct ip_addr *a)
{
	return a->v != 0 && (uint8_t)(a->v >> 120) != 0xff;
}

static void attr_next_hop(struct bgp_dec *d, struct bgp_attr_view *at)
{
	struct bgp_path_attrs *a = &d->u->attrs;
	uint32_t nh;

	/* RFC 7606 §7.3: length 4. */
	if (rbuf_left(&at->v) != 4) {
		malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
		return;
	}
	rbuf_u32(&at->v, &nh);
	a->next_hop = ip_v4(nh);
	/* RFC 4271 §6.3: a next hop that cannot be one is Invalid NEXT_HOP,
	 * data the attribute. */
	if (!next_hop4_ok(&a->next_hop)) {
		malformed_attr(d, at, BGP_ERR_UPD_NEXT_HOP);
		return;
	}
	a->has_next_hop = true;
}

/* MP_REACH_NLRI (RFC 4760 §3): AFI (2), SAFI (1), next hop length (1),
 * next hop, reserved (1), NLRI.  Until the NLRI is located, every fault
 * is a session reset (RFC 7606 §7.11, subcode per RFC 4760 §7). */
static int attr_mp_reach(struct bgp_dec *d, struct bgp_attr_view *at)
{
	struct bgp_update *u = d->u;
	struct rbuf nh;
	uint16_t afi;
	uint8_t safi, nhlen, reserved;
	enum ip_family f;
	uint8_t raw[16];

	if (rbuf_u16(&at->v, &afi) != 0 || rbuf_u8(&at->v, &safi) != 0 ||
	    rbuf_u8(&at->v, &nhlen) != 0 || rbuf_sub(&at->v, nhlen, &nh) != 0 ||
	    rbuf_u8(&at->v, &reserved) != 0)
		return reset(d, BGP_ERR_UPD_OPTIONAL_ATTR, at->raw, at->rawlen);
	u->has_mp_reach = true;
	u->mp_reach_afi = afi;
	u->mp_reach_safi = safi;
	if (safi != BGP_SAFI_UNICAST || (afi != BGP_AFI_IPV4 && afi != BGP_AFI_IPV6))
		return 0;               /* a family this codec does not carry */
	f = afi == BGP_AFI_IPV4 ? IP_FAMILY_V4 : IP_FAMILY_V6;
	if (afi == BGP_AFI_IPV4 && nhlen == 4) {
		rbuf_bytes(&nh, raw, 4);
		u->mp_next_hop = ip_from_bytes(IP_FAMILY_V4, raw);
	} else if (nhlen == 16 || nhlen == 32) {
		/* RFC 2545 §3: global, then optionally link-local.  For IPv4
		 * NLRI only when RFC 8950 was negotiated (§4). */
		if (afi == BGP_AFI_IPV4 && !d->o->ext_nh_ipv4)
			return reset(d, BGP_ERR_UPD_OPTIONAL_ATTR, at->raw, at->rawlen);
		rbuf_bytes(&nh, raw, 16);
		u->mp_next_hop = ip_from_bytes(IP_FAMILY_V6, raw);
		if (nhlen == 32) {
			rbuf_bytes(&nh, raw, 16);
			u->mp_next_hop_ll = ip_from_bytes(IP_FAMILY_V6, raw);
		}
	} else {
		return reset(d, BGP_ERR_UPD_OPTIONAL_ATTR, at->raw, at->rawlen);
	}
	/* RFC 4271 §6.3 for the NLRI, RFC 7606 §5.3: unparseable NLRI is a
	 * session reset, Invalid Network Field. */
	if (prefixes_read(&at->v, f, &u->nlri, &u->nnlri) != 0)
		return reset(d, BGP_ERR_UPD_NETWORK, NULL, 0);
	if (u->mp_next_hop.family == IP_FAMILY_V4 ? !next_hop4_ok(&u->mp_next_hop)
						  : !next_hop6_ok(&u->mp_next_hop))
		problem(d, BGP_UPDATE_TREAT_AS_WITHDRAW, BGP_ERR_UPD_NEXT_HOP, at->raw, at->rawlen);
	return 0;
}

/* MP_UNREACH_NLRI (RFC 4760 §4): AFI (2), SAFI (1), withdrawn routes. */
static int attr_mp_unreach(struct bgp_dec *d, struct bgp_attr_view *at)
{
	struct bgp_update *u = d->u;
	uint16_t afi;
	uint8_t safi;

	if (rbuf_u16(&at->v, &afi) != 0 || rbuf_u8(&at->v, &safi) != 0)
		return reset(d, BGP_ERR_UPD_OPTIONAL_ATTR, at->raw, at->rawlen);
	u->has_mp_unreach = true;
	u->mp_unreach_afi = afi;
	u->mp_unreach_safi = safi;
	u->mp_unreach_empty = rbuf_left(&at->v) == 0;
	if (safi != BGP_SAFI_UNICAST || (afi != BGP_AFI_IPV4 && afi != BGP_AFI_IPV6))
		return 0;
	/* RFC 7606 §5.3: unparseable withdrawn NLRI is a session reset. */
	if (prefixes_read(&at->v, afi == BGP_AFI_IPV4 ? IP_FAMILY_V4 : IP_FAMILY_V6, &u->withdrawn,
			  &u->nwithdrawn) != 0)
		return reset(d, BGP_ERR_UPD_NETWORK, NULL, 0);
	return 0;
}

static void attr_keep(struct bgp_dec *d, struct bgp_attr_view *at)
{
	struct bgp_path_attrs *a = &d->u->attrs;
	struct bgp_attr_raw *raw = VEC_PUSH(a->other, a->nother);
	size_t len = rbuf_left(&at->v);

	raw->flags = at->flags;
	raw->type = at->type;
	raw->len = (uint16_t)len;
	raw->data = len ? xmalloc(len) : NULL;
	rbuf_bytes(&at->v, raw->data, len);
}

/* Check one attribute whose flags agree with its type (or is unknown).
 * -1 only for a session reset. */
static int attr_value(struct bgp_dec *d, struct bgp_attr_view *at)
{
	struct bgp_path_attrs *a = &d->u->attrs;
	size_t len = rbuf_left(&at->v);
	unsigned agg_len = d->o->as4 ? 8 : 6;

	switch (at->type) {
	case BGP_ATTR_ORIGIN:
		/* RFC 7606 §7.1: length 1, value 0..2 (Invalid ORIGIN). */
		if (len != 1) {
			malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
			return 0;
		}
		rbuf_u8(&at->v, &a->origin);
		if (a->origin > BGP_ORIGIN_INCOMPLETE) {
			malformed_attr(d, at, BGP_ERR_UPD_ORIGIN);
			return 0;
		}
		a->has_origin = true;
		return 0;
	case BGP_ATTR_AS_PATH:
		attr_as_path(d, at);
		return 0;
	case BGP_ATTR_NEXT_HOP:
		attr_next_hop(d, at);
		return 0;
	case BGP_ATTR_MED:
		/* RFC 7606 §7.4: length 4. */
		if (len != 4) {
			malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
			return 0;
		}
		rbuf_u32(&at->v, &a->med);
		a->has_med = true;
		return 0;
	case BGP_ATTR_LOCAL_PREF:
		/* RFC 7606 §7.5: discarded from external peers (RFC 4271
		 * §5.1.5), length 4 from internal ones. */
		if (d->o->ebgp) {
			discard(d, at->type, BGP_ERR_UPD_UNSPECIFIC, at->raw, at->rawlen);
			return 0;
		}
		if (len != 4) {
			malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
			return 0;
		}
		rbuf_u32(&at->v, &a->local_pref);
		a->has_local_pref = true;
		return 0;
	case BGP_ATTR_ATOMIC_AGGREGATE:
		/* RFC 7606 §7.6: length 0. */
		if (len != 0) {
			malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
			return 0;
		}
		a->atomic_aggregate = true;
		return 0;
	case BGP_ATTR_AGGREGATOR:
	case BGP_ATTR_AS4_AGGREGATOR: {
		/* RFC 7606 §7.7: AS (2 or 4 octets as negotiated) and an IPv4
		 * address; RFC 6793 §3: AS4_AGGREGATOR always 4 + 4, and not
		 * between NEW speakers (§4.1).  RFC 7607 §2: AS 0 malformed. */
		bool as4 = at->type == BGP_ATTR_AS4_AGGREGATOR;
		uint32_t asn, addr;
		uint16_t a16;

		if (as4 && d->o->as4) {
			discard(d, at->type, BGP_ERR_UPD_UNSPECIFIC, at->raw, at->rawlen);
			return 0;
		}
		if (len != (as4 ? 8 : agg_len)) {
			malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
			return 0;
		}
		if (len == 8) {
			rbuf_u32(&at->v, &asn);
		} else {
			rbuf_u16(&at->v, &a16);
			asn = a16;
		}
		rbuf_u32(&at->v, &addr);
		if (asn == 0) {
			malformed_attr(d, at, BGP_ERR_UPD_OPTIONAL_ATTR);
			return 0;
		}
		if (as4) {
			a->has_as4_aggregator = true;
			a->as4_aggregator_as = asn;
			a->as4_aggregator_addr = ip_v4(addr);
		} else {
			a->has_aggregator = true;
			a->aggregator_as = asn;
			a->aggregator_addr = ip_v4(addr);
		}
		return 0;
	}
	case BGP_ATTR_COMMUNITIES:
		/* RFC 7606 §7.8: a non-zero multiple of 4. */
		if (len == 0 || len % 4 != 0) {
			malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
			return 0;
		}
		a->communities = xmalloc(len);
		a->ncommunities = len / 4;
		for (size_t i = 0; i < a->ncommunities; i++)
			rbuf_u32(&at->v, &a->communities[i]);
		return 0;
	case BGP_ATTR_LARGE_COMMUNITIES:
		/* RFC 8092 §6: a non-zero multiple of 12. */
		if (len == 0 || len % 12 != 0) {
			malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
			return 0;
		}
		a->nlarge = len / 12;
		a->large = xcalloc(a->nlarge, sizeof(*a->large));
		for (size_t i = 0; i < a->nlarge; i++) {
			rbuf_u32(&at->v, &a->large[i].global);
			rbuf_u32(&at->v, &a->large[i].local1);
			rbuf_u32(&at->v, &a->large[i].local2);
		}
		return 0;
	case BGP_ATTR_ORIGINATOR_ID:
		/* RFC 7606 §7.9: discarded from external peers; length 4. */
		if (d->o->ebgp) {
			discard(d, at->type, BGP_ERR_UPD_UNSPECIFIC, at->raw, at->rawlen);
			return 0;
		}
		if (len != 4) {
			malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
			return 0;
		}
		rbuf_u32(&at->v, &a->originator_id);
		a->has_originator_id = true;
		return 0;
	case BGP_ATTR_CLUSTER_LIST:
		/* RFC 7606 §7.10: discarded from external peers; a non-zero
		 * multiple of 4. */
		if (d->o->ebgp) {
			discard(d, at->type, BGP_ERR_UPD_UNSPECIFIC, at->raw, at->rawlen);
			return 0;
		}
		if (len == 0 || len % 4 != 0) {
			malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
			return 0;
		}
		a->cluster_list = xmalloc(len);
		a->ncluster = len / 4;
		for (size_t i = 0; i < a->ncluster; i++)
			rbuf_u32(&at->v, &a->cluster_list[i]);
		return 0;
	case BGP_ATTR_MP_REACH_NLRI:
		return attr_mp_reach(d, at);
	case BGP_ATTR_MP_UNREACH_NLRI:
		return attr_mp_unreach(d, at);
	case BGP_ATTR_EXT_COMMUNITIES:
	case BGP_ATTR_IPV6_EXT_COMMUNITIES: {
		/* RFC 7606 §7.14, §7.15: non-zero multiples of 8 and 20. */
		size_t unit = at->type == BGP_ATTR_EXT_COMMUNITIES ? 8 : 20;

		if (len == 0 || len % unit != 0) {
			malformed_attr(d, at, BGP_ERR_UPD_ATTR_LENGTH);
			return 0;
		}
		attr_keep(d, at);
		return 0;
	}
	case BGP_ATTR_AS4_PATH:
		attr_as4_path(d, at);
		return 0;
	default:
		break;
	}
	/* RFC 4271 §6.3: an unrecognized well-known attribute resets the
	 * session, data the attribute.  §5: unrecognized optional transitive
	 * attributes are kept, non-transitive ones quietly ignored. */
	if (!(at->flags & BGP_ATTR_F_OPTIONAL))
		return reset(d, BGP_ERR_UPD_WELLKNOWN_UNRECOGNIZED, at->raw, at->rawlen);
	if (at->flags & BGP_ATTR_F_TRANSITIVE)
		attr_keep(d, at);
	return 0;
}

static bool bit_test(const uint64_t *set, uint8_t i)
{
	return (set[i / 64] >> (i % 64)) & 1;
}

static void bit_set(uint64_t *set, uint8_t i)
{
	set[i / 64] |= (uint64_t)1 << (i % 64);
}

static bool is_mp(uint8_t type)
{
	return type == BGP_ATTR_MP_REACH_NLRI || type == BGP_ATTR_MP_UNREACH_NLRI;
}

/* The Path Attributes field.  -1 only for a session reset. */
static int attrs_parse(struct bgp_dec *d, struct rbuf *r)
{
	while (rbuf_left(r) > 0) {
		struct bgp_attr_view at;
		uint16_t len;
		uint8_t len8;
		int cls;

		at.raw = rbuf_ptr(r);
		/* RFC 7606 §4: too few octets left for an attribute header, or
		 * an attribute running past the field: treat-as-withdraw, and
		 * the NLRI is still found from the Total Path Attribute
		 * Length. */
		if (rbuf_u8(r, &at.flags) != 0 || rbuf_u8(r, &at.type) != 0) {
			problem(d, BGP_UPDATE_TREAT_AS_WITHDRAW, BGP_ERR_UPD_ATTR_LIST, NULL, 0);
			return 0;
		}
		if (at.flags & BGP_ATTR_F_EXT_LEN) {
			if (rbuf_u16(r, &len) != 0) {
				problem(d, BGP_UPDATE_TREAT_AS_WITHDRAW, BGP_ERR_UPD_ATTR_LIST,
					NULL, 0);
				return 0;
			}
		} else {
			if (rbuf_u8(r, &len8) != 0) {
				problem(d, BGP_UPDATE_TREAT_AS_WITHDRAW, BGP_ERR_UPD_ATTR_LIST,
					NULL, 0);
				return 0;
			}
			len = len8;
		}
		at.rawlen = (size_t)(rbuf_ptr(r) - at.raw) + len;
		if (rbuf_sub(r, len, &at.v) != 0) {
			problem(d, BGP_UPDATE_TREAT_AS_WITHDRAW, BGP_ERR_UPD_ATTR_LENGTH, at.raw,
				(size_t)(rbuf_ptr(r) - at.raw) + rbuf_left(r));
			return 0;
		}
		d->u->nattrs++;
		/* RFC 7606 §3 g: MP_REACH_NLRI or MP_UNREACH_NLRI twice is a
		 * Malformed Attribute List (session reset); any other repeat
		 * is discarded, the first occurrence kept. */
		if (bit_test(d->seen, at.type)) {
			if (is_mp(at.type))
				return reset(d, BGP_ERR_UPD_ATTR_LIST, NULL, 0);
			problem(d, BGP_UPDATE_ATTR_DISCARD, BGP_ERR_UPD_ATTR_LIST, at.raw,
				at.rawlen);
			continue;
		}
		bit_set(d->seen, at.type);
		/* RFC 7606 §3 c: Optional or Transitive bits that contradict
		 * the type make the attribute malformed (Attribute Flags
		 * Error, data the attribute).  The multiprotocol attributes
		 * are still read: treat-as-withdraw needs their NLRI (§3 j). */
		cls = attr_class(at.type);
		if (cls >= 0 && (at.flags & (BGP_ATTR_F_OPTIONAL | BGP_ATTR_F_TRANSITIVE)) != cls) {
			malformed_attr(d, &at, BGP_ERR_UPD_ATTR_FLAGS);
			if (!is_mp(at.type))
				continue;
		}
		if (attr_value(d, &at) != 0)
			return -1;
	}
	return 0;
}

int bgp_update_decode(const uint8_t *body, size_t len, const struct bgp_msg_opts *o,
		      struct bgp_update *u, struct bgp_notify *err)
{
	struct bgp_dec d = { .o = o, .u = u };
	struct rbuf r, wr, ar;
	uint16_t wlen, alen;
	bool reachable;

	memset(u, 0, sizeof(*u));
	rbuf_init(&r, body, len);
	/* RFC 4271 §6.3: Withdrawn Routes Length or Total Path Attribute
	 * Length past the message is a Malformed Attribute List. */
	if (rbuf_u16(&r, &wlen) != 0 || rbuf_sub(&r, wlen, &wr) != 0 || rbuf_u16(&r, &alen) != 0 ||
	    rbuf_sub(&r, alen, &ar) != 0) {
		reset(&d, BGP_ERR_UPD_ATTR_LIST, NULL, 0);
		goto fail;
	}
	/* RFC 4271 §6.3, RFC 7606 §5.3: Withdrawn Routes and NLRI that do
	 * not parse (a length past 32, an overrun) are Invalid Network
	 * Field, a session reset.  What is left in r is the NLRI field. */
	if (prefixes_read(&wr, IP_FAMILY_V4, &u->withdrawn, &u->nwithdrawn) != 0 ||
	    prefixes_read(&r, IP_FAMILY_V4, &u->nlri, &u->nnlri) != 0) {
		reset(&d, BGP_ERR_UPD_NETWORK, NULL, 0);
		goto fail;
	}
	d.nlri_field = u->nnlri;
	if (attrs_parse(&d, &ar) != 0)
		goto fail;

	reachable = d.nlri_field > 0 || u->has_mp_reach;
	/* RFC 4271 §6.3, RFC 7606 §3 d: ORIGIN and AS_PATH with any
	 * reachable NLRI, NEXT_HOP with NLRI-field prefixes (RFC 4760 §3);
	 * missing is treat-as-withdraw, data the missing type code. */
	if (reachable) {
		static const uint8_t mandatory[] = { BGP_ATTR_ORIGIN, BGP_ATTR_AS_PATH,
						     BGP_ATTR_NEXT_HOP };

		for (size_t i = 0; i < ARRAY_SIZE(mandatory); i++) {
			uint8_t t = mandatory[i];

			if (t == BGP_ATTR_NEXT_HOP && d.nlri_field == 0)
				continue;
			if (!bit_test(d.seen, t))
				problem(&d, BGP_UPDATE_TREAT_AS_WITHDRAW,
					BGP_ERR_UPD_WELLKNOWN_MISSING, &t, 1);
		}
	}
	/* RFC 7606 §5.2: attributes other than MP_UNREACH_NLRI with no
	 * reachable NLRI leave no proof that the NLRI was parsed right; any
	 * error there beyond attribute discard resets the session. */
	if (u->action == BGP_UPDATE_TREAT_AS_WITHDRAW && !reachable &&
	    u->nattrs > (bit_test(d.seen, BGP_ATTR_MP_UNREACH_NLRI) ? 1u : 0u)) {
		u->action = BGP_UPDATE_SESSION_RESET;
		goto fail;
	}
	return 0;

fail:
	*err = u->why;
	bgp_update_free(u);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Encoding */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_large(const void *a, const void *b)
{
	const struct bgp_large_community *x = a, *y = b;

	if (x->global != y->global)
		return x->global < y->global ? -1 : 1;
	if (x->local1 != y->local1)
		return x->local1 < y->local1 ? -1 : 1;
	if (x->local2 != y->local2)
		return x->local2 < y->local2 ? -1 : 1;
	return 0;
}

/* Sort a copy of n elements and drop repeats; returns the new count. */
static size_t sorted_unique(void *arr, size_t n, size_t size,
			    int (*cmp)(const void *, const void *))
{
	uint8_t *p = arr;
	size_t k = 0;

	if (n == 0)
		return 0;
	xqsort(arr, n, size, cmp);
	for (size_t i = 1; i < n; i++)
		if (cmp(p + k * size, p + i * size) != 0) {
			k++;
			memmove(p + k * size, p + i * size, size);
		}
	return k + 1;
}

/* Flags, type and length (RFC 4271 §4.3), the Extended Length bit only
 * when the value needs it. */
static void attr_hdr(struct wbuf *w, uint8_t flags, uint8_t type, size_t len)
{
	if (len > UINT16_MAX) {
		w->err = true;
		return;
	}
	if (len > 255) {
		wbuf_u8(w, flags | BGP_ATTR_F_EXT_LEN);
		wbuf_u8(w, type);
		wbuf_u16(w, (uint16_t)len);
	} else {
		wbuf_u8(w, flags);
		wbuf_u8(w, type);
		wbuf_u8(w, (uint8_t)len);
	}
}

static size_t attr_hdr_len(size_t len)
{
	return len > 255 ? 4 : 3;
}

/* AS_SEQUENCE segments of at most 255 ASNs (RFC 4271 §4.3). */
static void as_path_write(struct wbuf *w, uint8_t flags, uint8_t type, const uint32_t *asns,
			  size_t n, unsigned asn_len)
{
	size_t nseg = (n + 254) / 255;

	attr_hdr(w, flags, type, nseg * 2 + n * asn_len);
	for (size_t i = 0; i < n; i += 255) {
		size_t cnt = n - i < 255 ? n - i : 255;

		wbuf_u8(w, BGP_AS_SEQUENCE);
		wbuf_u8(w, (uint8_t)cnt);
		for (size_t k = i; k < i + cnt; k++) {
			if (asn_len == 4)
				wbuf_u32(w, asns[k]);
			else
				wbuf_u16(w, asns[k] > 0xffff ? BGP_AS_TRANS : (uint16_t)asns[k]);
		}
	}
}

/* Every attribute but the multiprotocol ones, in type order (RFC 4271
 * §5: SHOULD ascend). */
static void attrs_write(struct wbuf *w, const struct bgp_msg_opts *o, const struct bgp_attr_set *a,
			bool next_hop)
{
	const uint8_t wk = BGP_ATTR_F_TRANSITIVE;
	const uint8_t opt_tr = BGP_ATTR_F_OPTIONAL | BGP_ATTR_F_TRANSITIVE;
	bool need_as4_path = false;

	attr_hdr(w, wk, BGP_ATTR_ORIGIN, 1);
	wbuf_u8(w, a->origin);
	/* RFC 6793 §4.2.2: towards a 2-octet speaker large ASNs become
	 * AS_TRANS and the true path follows in AS4_PATH. */
	as_path_write(w, wk, BGP_ATTR_AS_PATH, a->as_path, a->as_path_len, o->as4 ? 4 : 2);
	for (size_t i = 0; !o->as4 && i < a->as_path_len; i++)
		if (a->as_path[i] > 0xffff)
			need_as4_path = true;
	if (next_hop) {
		attr_hdr(w, wk, BGP_ATTR_NEXT_HOP, 4);
		wbuf_u32(w, (uint32_t)a->next_hop.v);
	}
	if (a->has_med) {
		attr_hdr(w, BGP_ATTR_F_OPTIONAL, BGP_ATTR_MED, 4);
		wbuf_u32(w, a->med);
	}
	/* RFC 4271 §5.1.5: never to an external peer. */
	if (a->has_local_pref && !o->ebgp) {
		attr_hdr(w, wk, BGP_ATTR_LOCAL_PREF, 4);
		wbuf_u32(w, a->local_pref);
	}
	if (a->ncommunities) {
		uint32_t *c = xmalloc(a->ncommunities * sizeof(*c));
		size_t n;

		memcpy(c, a->communities, a->ncommunities * sizeof(*c));
		n = sorted_unique(c, a->ncommunities, sizeof(*c), cmp_u32);
		attr_hdr(w, opt_tr, BGP_ATTR_COMMUNITIES, n * 4);
		for (size_t i = 0; i < n; i++)
			wbuf_u32(w, c[i]);
		free(c);
	}
	if (need_as4_path)
		as_path_write(w, opt_tr, BGP_ATTR_AS4_PATH, a->as_path, a->as_path_len, 4);
	if (a->nlarge) {
		struct bgp_large_community *c = xmalloc(a->nlarge * sizeof(*c));
		size_t n;

		memcpy(c, a->large, a->nlarge * sizeof(*c));
		n = sorted_unique(c, a->nlarge, sizeof(*c), cmp_large);
		attr_hdr(w, opt_tr, BGP_ATTR_LARGE_COMMUNITIES, n * 12);
		for (size_t i = 0; i < n; i++) {
			wbuf_u32(w, c[i].global);
			wbuf_u32(w, c[i].local1);
			wbuf_u32(w, c[i].local2);
		}
		free(c);
	}
}

/* How one family's prefixes travel. */
enum bgp_pack_kind {
	BGP_PACK_NLRI,                     /* NLRI field, common attributes */
	BGP_PACK_MP_REACH,                 /* MP_REACH_NLRI, then common attributes */
	BGP_PACK_WITHDRAWN,                /* Withdrawn Routes field */
	BGP_PACK_MP_UNREACH,               /* MP_UNREACH_NLRI */
};

struct bgp_pack {
	enum bgp_pack_kind kind;
	enum ip_family family;
	uint16_t afi;
	const uint8_t *common;         /* attributes after MP_REACH_NLRI */
	size_t common_len;
	uint8_t nh[32];                /* MP_REACH_NLRI next hop */
	size_t nhlen;
};

/* Size of a message that carries nlri_bytes of prefixes. */
static size_t pack_size(const struct bgp_pack *k, size_t nlri_bytes)
{
	size_t v;

	switch (k->kind) {
	case BGP_PACK_NLRI:
		return BGP_UPDATE_MIN + k->common_len + nlri_bytes;
	case BGP_PACK_MP_REACH:
		v = 5 + k->nhlen + nlri_bytes;
		return BGP_UPDATE_MIN + attr_hdr_len(v) + v + k->common_len;
	case BGP_PACK_WITHDRAWN:
		return BGP_UPDATE_MIN + nlri_bytes;
	case BGP_PACK_MP_UNREACH:
		v = 3 + nlri_bytes;
		return BGP_UPDATE_MIN + attr_hdr_len(v) + v;
	}
	return SIZE_MAX;
}

/* Write one UPDATE carrying the prefixes of k's family in pfx[i..j). */
static void pack_write(struct wbuf *w, const struct bgp_pack *k, const struct ip_prefix *pfx,
		       size_t i, size_t j, size_t nlri_bytes)
{
	size_t start = bgp_msg_begin(w, BGP_MSG_UPDATE);
	size_t v;

	switch (k->kind) {
	case BGP_PACK_NLRI:
		wbuf_u16(w, 0);
		wbuf_u16(w, (uint16_t)k->common_len);
		wbuf_bytes(w, k->common, k->common_len);
		break;
	case BGP_PACK_WITHDRAWN:
		wbuf_u16(w, (uint16_t)nlri_bytes);
		break;
	case BGP_PACK_MP_REACH:
		/* RFC 7606 §5.1: MP_REACH_NLRI comes first. */
		v = 5 + k->nhlen + nlri_bytes;
		wbuf_u16(w, 0);
		wbuf_u16(w, (uint16_t)(attr_hdr_len(v) + v + k->common_len));
		attr_hdr(w, BGP_ATTR_F_OPTIONAL, BGP_ATTR_MP_REACH_NLRI, v);
		wbuf_u16(w, k->afi);
		wbuf_u8(w, BGP_SAFI_UNICAST);
		wbuf_u8(w, (uint8_t)k->nhlen);
		wbuf_bytes(w, k->nh, k->nhlen);
		wbuf_u8(w, 0);
		break;
	case BGP_PACK_MP_UNREACH:
		v = 3 + nlri_bytes;
		wbuf_u16(w, 0);
		wbuf_u16(w, (uint16_t)(attr_hdr_len(v) + v));
		attr_hdr(w, BGP_ATTR_F_OPTIONAL, BGP_ATTR_MP_UNREACH_NLRI, v);
		wbuf_u16(w, k->afi);
		wbuf_u8(w, BGP_SAFI_UNICAST);
		break;
	}
	for (size_t p = i; p < j; p++)
		if (pfx[p].addr.family == k->family)
			prefix_write(w, &pfx[p]);
	switch (k->kind) {
	case BGP_PACK_MP_REACH:
		wbuf_bytes(w, k->common, k->common_len);
		break;
	case BGP_PACK_WITHDRAWN:
		wbuf_u16(w, 0);
		break;
	default:
		break;
	}
	bgp_msg_finish(w, start);
}

/* Every prefix of k's family must fit in a message of its own. */
static bool pack_fits(const struct bgp_pack *k, const struct ip_prefix *pfx, size_t n)
{
	size_t longest = 0;

	for (size_t i = 0; i < n; i++)
		if (pfx[i].addr.family == k->family && prefix_wire_len(&pfx[i]) > longest)
			longest = prefix_wire_len(&pfx[i]);
	return pack_size(k, longest) <= BGP_MSG_MAX;
}

/* Greedy: each message takes prefixes of k's family, in order, while the
 * message stays within 4096 bytes. */
static void pack_all(struct wbuf *w, const struct bgp_pack *k, const struct ip_prefix *pfx,
		     size_t n, size_t *count)
{
	size_t i = 0;

	for (;;) {
		size_t j, bytes = 0;

		while (i < n && pfx[i].addr.family != k->family)
			i++;
		if (i == n)
			return;
		for (j = i; j < n; j++) {
			size_t pl;

			if (pfx[j].addr.family != k->family)
				continue;
			pl = prefix_wire_len(&pfx[j]);
			if (pack_size(k, bytes + pl) > BGP_MSG_MAX)
				break;
			bytes += pl;
		}
		/* bgp_update_build_announce() checked that every prefix fits
		 * alone; a batch without one would never end. */
		if (bytes == 0) {
			w->err = true;
			return;
		}
		pack_write(w, k, pfx, i, j, bytes);
		(*count)++;
		i = j;
	}
}

static int prefixes_check(const struct ip_prefix *pfx, size_t n, bool *has4, bool *has6)
{
	*has4 = *has6 = false;
	for (size_t i = 0; i < n; i++) {
		enum ip_family f = pfx[i].addr.family;

		if ((f != IP_FAMILY_V4 && f != IP_FAMILY_V6) || pfx[i].len > ip_family_bits(f))
			return -1;
		if (f == IP_FAMILY_V4)
			*has4 = true;
		else
			*has6 = true;
	}
	return 0;
}

static void nh6_bytes(struct bgp_pack *k, const struct bgp_attr_set *a)
{
	/* RFC 2545 §3: the global address, then the link-local one. */
	ip_to_bytes(&a->next_hop6, k->nh);
	k->nhlen = 16;
	if (a->next_hop6_ll.family == IP_FAMILY_V6) {
		ip_to_bytes(&a->next_hop6_ll, k->nh + 16);
		k->nhlen = 32;
	}
}

int bgp_update_build_announce(struct wbuf *w, const struct bgp_msg_opts *o,
			      const struct bgp_attr_set *a, const struct ip_prefix *pfx, size_t n,
			      size_t *nmsgs)
{
	struct wbuf cnh, cmp;
	struct bgp_pack k4 = { .family = IP_FAMILY_V4, .afi = BGP_AFI_IPV4 };
	struct bgp_pack k6 = { .kind = BGP_PACK_MP_REACH, .family = IP_FAMILY_V6,
			       .afi = BGP_AFI_IPV6 };
	bool has4, has6, ok = true;
	size_t count = 0;

	if (nmsgs)
		*nmsgs = 0;
	if (prefixes_check(pfx, n, &has4, &has6) != 0)
		return -1;
	if (n == 0)
		return wbuf_ok(w) ? 0 : -1;
	/* RFC 4271 §5.1.1: ORIGIN 0..2; RFC 7607 §2: no AS 0. */
	if (a->origin > BGP_ORIGIN_INCOMPLETE || (a->as_path_len && !a->as_path) ||
	    (a->ncommunities && !a->communities) || (a->nlarge && !a->large))
		return -1;
	for (size_t i = 0; i < a->as_path_len; i++)
		if (a->as_path[i] == 0)
			return -1;
	if (a->next_hop6_ll.family != IP_FAMILY_NONE && a->next_hop6_ll.family != IP_FAMILY_V6)
		return -1;
	if (has4) {
		if (a->next_hop.family == IP_FAMILY_V4) {
			k4.kind = BGP_PACK_NLRI;
		} else if (o->ext_nh_ipv4 && a->next_hop6.family == IP_FAMILY_V6) {
			/* RFC 8950 §3: IPv4 NLRI in MP_REACH_NLRI with an IPv6
			 * next hop. */
			k4.kind = BGP_PACK_MP_REACH;
			nh6_bytes(&k4, a);
		} else {
			return -1;
		}
	}
	if (has6) {
		if (a->next_hop6.family != IP_FAMILY_V6)
			return -1;
		nh6_bytes(&k6, a);
	}
	wbuf_init_dyn(&cnh, 256);
	wbuf_init_dyn(&cmp, 256);
	attrs_write(&cnh, o, a, true);
	attrs_write(&cmp, o, a, false);
	if (!wbuf_ok(&cnh) || !wbuf_ok(&cmp)) {
		ok = false;
		goto out;
	}
	k4.common = k4.kind == BGP_PACK_NLRI ? cnh.p : cmp.p;
	k4.common_len = k4.kind == BGP_PACK_NLRI ? cnh.len : cmp.len;
	k6.common = cmp.p;
	k6.common_len = cmp.len;
	if ((has4 && !pack_fits(&k4, pfx, n)) || (has6 && !pack_fits(&k6, pfx, n))) {
		ok = false;
		goto out;
	}
	if (has4)
		pack_all(w, &k4, pfx, n, &count);
	if (has6)
		pack_all(w, &k6, pfx, n, &count);
out:
	wbuf_free(&cnh);
	wbuf_free(&cmp);
	if (!ok || !wbuf_ok(w))
		return -1;
	if (nmsgs)
		*nmsgs = count;
	return 0;
}

int bgp_update_build_withdraw(struct wbuf *w, const struct ip_prefix *pfx, size_t n,
			      size_t *nmsgs)
{
	struct bgp_pack k4 = { .kind = BGP_PACK_WITHDRAWN, .family = IP_FAMILY_V4,
			       .afi = BGP_AFI_IPV4 };
	struct bgp_pack k6 = { .kind = BGP_PACK_MP_UNREACH, .family = IP_FAMILY_V6,
			       .afi = BGP_AFI_IPV6 };
	bool has4, has6;
	size_t count = 0;

	if (nmsgs)
		*nmsgs = 0;
	if (prefixes_check(pfx, n, &has4, &has6) != 0)
		return -1;
	if (has4)
		pack_all(w, &k4, pfx, n, &count);
	if (has6)
		pack_all(w, &k6, pfx, n, &count);
	if (!wbuf_ok(w))
		return -1;
	if (nmsgs)
		*nmsgs = count;
	return 0;
}

int bgp_update_build_eor(struct wbuf *w, uint16_t afi, uint8_t safi)
{
	size_t start = bgp_msg_begin(w, BGP_MSG_UPDATE);

	/* RFC 4724 §2: IPv4 unicast: no withdrawn routes, no attributes,
	 * no NLRI.  Others: an MP_UNREACH_NLRI with only AFI and SAFI. */
	wbuf_u16(w, 0);
	if (afi == BGP_AFI_IPV4 && safi == BGP_SAFI_UNICAST) {
		wbuf_u16(w, 0);
	} else {
		wbuf_u16(w, 6);
		attr_hdr(w, BGP_ATTR_F_OPTIONAL, BGP_ATTR_MP_UNREACH_NLRI, 3);
		wbuf_u16(w, afi);
		wbuf_u8(w, safi);
	}
	return bgp_msg_finish(w, start);
}
