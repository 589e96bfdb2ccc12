/*
 * ARP and NDP frames over Ethernet (see frame.h).
 *
 * Parsing runs one bounded reader down the frame: the Ethernet header (and
 * at most one 802.1Q tag), then the ARP body, or the IPv6 header, the
 * payload cut to the IPv6 payload length (so Ethernet padding is never read
 * as data), the options headers that may precede ICMPv6, and the ICMPv6
 * message, whose options are each cut out as their own sub-view.  The
 * first failing check decides the reported reason, so the order of checks
 * below is the order a responder's counters see.
 *
 * Building writes the same layouts through a wbuf; the IPv6 payload length
 * is back-patched and the ICMPv6 checksum is computed over the written
 * bytes and patched in last.
 */
#include "l2/frame.h"

#include <string.h>

#include "base/util.h"

#define ARP_HTYPE_ETHERNET 1
#define ARP_BODY_LEN 28
#define ETH_HDR_LEN 14
#define ETH_MIN_PAYLOAD 46
#define ETHERTYPE_8021AD 0x88a8      /* S-tag */

#define IP6_HDR_LEN 40
#define IP6_NEXT_HOPOPTS 0
#define IP6_NEXT_ROUTING 43
#define IP6_NEXT_FRAGMENT 44
#define IP6_NEXT_ESP 50
#define IP6_NEXT_AH 51
#define IP6_NEXT_ICMP6 58
#define IP6_NEXT_DSTOPTS 60
#define IP6_NEXT_MOBILITY 135
#define IP6_NEXT_HIP 139
#define IP6_NEXT_SHIM6 140

#define ICMP6_NS 135
#define ICMP6_NA 136
#define NDP_HOP_LIMIT 255
#define NDP_NS_MIN_LEN 24
#define NDP_NA_LEN 32           /* header, target, one 8-byte TLLA option */
#define NDP_OPT_SLLA 1
#define NDP_OPT_TLLA 2
#define NDP_NA_FLAG_ROUTER 0x80000000u
#define NDP_NA_FLAG_SOLICITED 0x40000000u
#define NDP_NA_FLAG_OVERRIDE 0x20000000u

static const uint8_t mac_broadcast[L2_MAC_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mac_zero[L2_MAC_LEN];

/* --- results --- */

static const struct {
	const char *name;
	const char *str;
} results[L2_RESULT_COUNT] = {
	[L2_OK] = { "ok", "accepted" },
	[L2_ETH_SHORT] = { "eth_short", "frame is shorter than its Ethernet header" },
	[L2_ETH_SRC_MULTICAST] = { "eth_src_multicast",
				   "Ethernet source address is a group address" },
	[L2_ETH_VLAN_STACKED] = { "eth_vlan_stacked", "frame carries more than one VLAN tag" },
	[L2_ARP_NOT_ARP] = { "arp_not_arp", "EtherType is not ARP (0x0806)" },
	[L2_ARP_SHORT] = { "arp_short", "ARP message is shorter than 28 bytes" },
	[L2_ARP_HTYPE] = { "arp_htype", "ARP hardware type is not Ethernet (1)" },
	[L2_ARP_PTYPE] = { "arp_ptype", "ARP protocol type is not IPv4 (0x0800)" },
	[L2_ARP_HLEN] = { "arp_hlen", "ARP hardware address length is not 6" },
	[L2_ARP_PLEN] = { "arp_plen", "ARP protocol address length is not 4" },
	[L2_ARP_OP] = { "arp_op", "ARP opcode is not request (1) or reply (2)" },
	[L2_ARP_SHA_MULTICAST] = { "arp_sha_multicast",
				   "ARP sender hardware address is a group address" },
	[L2_NDP_NOT_IPV6] = { "ndp_not_ipv6", "EtherType is not IPv6 (0x86dd)" },
	[L2_NDP_IP6_SHORT] = { "ndp_ip6_short", "frame is shorter than an IPv6 header" },
	[L2_NDP_IP6_VERSION] = { "ndp_ip6_version", "IP version is not 6" },
	[L2_NDP_IP6_TRUNCATED] = { "ndp_ip6_truncated",
				   "IPv6 payload length is 0 or runs past the frame" },
	[L2_NDP_IP6_SRC_MULTICAST] = { "ndp_ip6_src_multicast",
				       "IPv6 source address is multicast" },
	[L2_NDP_EXT_HEADER] = { "ndp_ext_header",
				"IPv6 extension header other than hop-by-hop or destination "
				"options" },
	[L2_NDP_NOT_ICMP6] = { "ndp_not_icmp6", "IPv6 next header is not ICMPv6 (58)" },
	[L2_NDP_ICMP6_SHORT] = { "ndp_icmp6_short", "ICMPv6 message is shorter than 4 bytes" },
	[L2_NDP_NOT_NS] = { "ndp_not_ns", "ICMPv6 type is not Neighbor Solicitation (135)" },
	[L2_NDP_HOP_LIMIT] = { "ndp_hop_limit", "Neighbor Solicitation hop limit is not 255" },
	[L2_NDP_CODE] = { "ndp_code", "Neighbor Solicitation ICMPv6 code is not 0" },
	[L2_NDP_NS_SHORT] = { "ndp_ns_short", "Neighbor Solicitation is shorter than 24 bytes" },
	[L2_NDP_CHECKSUM] = { "ndp_checksum", "ICMPv6 checksum does not verify" },
	[L2_NDP_TARGET_MULTICAST] = { "ndp_target_multicast",
				      "Neighbor Solicitation target is a multicast address" },
	[L2_NDP_OPT_MALFORMED] = { "ndp_opt_malformed",
				   "NDP option has length 0 or runs past the message" },
	[L2_NDP_SLLAO_LEN] = { "ndp_sllao_len",
			       "source link-layer address option is not 8 bytes long" },
	[L2_NDP_SLLAO_MULTICAST] = { "ndp_sllao_multicast",
				     "source link-layer address option holds a group address" },
	[L2_NDP_DAD_SLLAO] = { "ndp_dad_sllao",
			       "solicitation from :: carries a source link-layer address option" },
	[L2_NDP_DAD_DEST] = { "ndp_dad_dest",
			      "solicitation from :: is not sent to a solicited-node multicast "
			      "address" },
};

const char *l2_result_name(enum l2_result r)
{
	if ((unsigned)r >= L2_RESULT_COUNT)
		return "unknown";
	return results[r].name;
}

const char *l2_result_str(enum l2_result r)
{
	if ((unsigned)r >= L2_RESULT_COUNT)
		return "unknown reason";
	return results[r].str;
}

static int refuse(enum l2_result *why, enum l2_result r)
{
	if (why)
		*why = r;
	return -1;
}

/* --- MAC addresses --- */

bool l2_mac_is_group(const uint8_t mac[L2_MAC_LEN])
{
	return mac[0] & 0x01;
}

int l2_mac_parse(const char *s, uint8_t mac[L2_MAC_LEN])
{
	uint8_t m[L2_MAC_LEN];

	if (!s || strlen(s) != 3 * L2_MAC_LEN - 1)
		return -1;
	for (int i = 0; i < L2_MAC_LEN; i++) {
		const char *p = s + 3 * i;
		int hi = hex_digit_value(p[0]), lo = hex_digit_value(p[1]);
		if (hi < 0 || lo < 0)
			return -1;
		if (i < L2_MAC_LEN - 1 && p[2] != ':')
			return -1;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, m, L2_MAC_LEN);
	return 0;
}

char *l2_mac_format(const uint8_t mac[L2_MAC_LEN], char buf[L2_MAC_STR_MAX])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < L2_MAC_LEN; i++) {
		buf[3 * i] = hex[mac[i] >> 4];
		buf[3 * i + 1] = hex[mac[i] & 0xf];
		buf[3 * i + 2] = i < L2_MAC_LEN - 1 ? ':' : '\0';
	}
	return buf;
}

/* --- IPv6 address classes --- */

static bool ip6_is_multicast(const struct ip_addr *a)
{
	/* RFC 4291 §2.7: ff00::/8. */
	return a->family == IP_FAMILY_V6 && (uint8_t)(a->v >> 120) == 0xff;
}

static bool ip6_is_unspecified(const struct ip_addr *a)
{
	/* RFC 4291 §2.5.2: ::. */
	return a->family == IP_FAMILY_V6 && a->v == 0;
}

/* ff02:0:0:0:0:1:ff00::/104 (RFC 4291 §2.7.1). */
static const uint8_t solicited_node_prefix[13] = {
	0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff,
};

/* ff02::1, all-nodes (RFC 4291 §2.7.1). */
static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 0x01 };

bool ndp_is_solicited_node(const struct ip_addr *a)
{
	uint8_t b[16];

	if (a->family != IP_FAMILY_V6)
		return false;
	ip_to_bytes(a, b);
	return memcmp(b, solicited_node_prefix, sizeof(solicited_node_prefix)) == 0;
}

int ndp_solicited_node(const struct ip_addr *a, struct ip_addr *out)
{
	uint8_t b[16];

	if (a->family != IP_FAMILY_V6)
		return -1;
	ip_to_bytes(a, b);
	memcpy(b, solicited_node_prefix, sizeof(solicited_node_prefix));
	*out = ip_from_bytes(IP_FAMILY_V6, b);
	return 0;
}

/* RFC 2464 §7: 33:33 followed by the last four octets of the group. */
static void mac_of_group(const uint8_t group[16], uint8_t mac[L2_MAC_LEN])
{
	mac[0] = 0x33;
	mac[1] = 0x33;
	memcpy(mac + 2, group + 12, 4);
}

int ndp_multicast_mac(const struct ip_addr *group, uint8_t mac[L2_MAC_LEN])
{
	uint8_t b[16];

	if (!ip6_is_multicast(group))
		return -1;
	ip_to_bytes(group, b);
	mac_of_group(b, mac);
	return 0;
}

int ndp_solicited_node_mac(const struct ip_addr *a, uint8_t mac[L2_MAC_LEN])
{
	struct ip_addr sn;

	if (ndp_solicited_node(a, &sn) != 0)
		return -1;
	return ndp_multicast_mac(&sn, mac);
}

/* --- Ethernet --- */

/* Read the Ethernet header and at most one 802.1Q tag; refuse the frame
 * with not_type unless the EtherType after the tag is want. */
static int eth_parse(struct rbuf *r, struct l2_eth *eth, uint16_t want, enum l2_result not_type,
		     enum l2_result *why)
{
	if (rbuf_bytes(r, eth->dst, L2_MAC_LEN) != 0 || rbuf_bytes(r, eth->src, L2_MAC_LEN) != 0 ||
	    rbuf_u16(r, &eth->ethertype) != 0)
		return refuse(why, L2_ETH_SHORT);
	if (eth->ethertype == L2_ETHERTYPE_VLAN) {
		/* IEEE 802.1Q: TCI, then the encapsulated EtherType. */
		eth->has_vlan = true;
		if (rbuf_u16(r, &eth->vlan_tci) != 0 || rbuf_u16(r, &eth->ethertype) != 0)
			return refuse(why, L2_ETH_SHORT);
		/* A second C-tag or an S-tag (802.1ad, 0x88a8) is Q-in-Q,
		 * which an access port never delivers. */
		if (eth->ethertype == L2_ETHERTYPE_VLAN || eth->ethertype == ETHERTYPE_8021AD)
			return refuse(why, L2_ETH_VLAN_STACKED);
	}
	if (eth->ethertype != want)
		return refuse(why, not_type);
	/* IEEE 802: the I/G bit is 0 in every source address; a group source
	 * cannot be answered by unicast. */
	if (l2_mac_is_group(eth->src))
		return refuse(why, L2_ETH_SRC_MULTICAST);
	return 0;
}

static void eth_put(struct wbuf *w, const uint8_t dst[L2_MAC_LEN], const uint8_t src[L2_MAC_LEN],
		    const struct l2_eth *tag_of, uint16_t ethertype)
{
	wbuf_bytes(w, dst, L2_MAC_LEN);
	wbuf_bytes(w, src, L2_MAC_LEN);
	if (tag_of && tag_of->has_vlan) {
		wbuf_u16(w, L2_ETHERTYPE_VLAN);
		wbuf_u16(w, tag_of->vlan_tci);
	}
	wbuf_u16(w, ethertype);
}

/* Pad the payload that started at offset start to the Ethernet minimum
 * (RFC 894: 46 bytes of data). */
static void eth_pad(struct wbuf *w, size_t start)
{
	size_t n = wbuf_mark(w) - start;

	if (wbuf_ok(w) && n < ETH_MIN_PAYLOAD)
		wbuf_zero(w, ETH_MIN_PAYLOAD - n);
}

/* --- ARP (RFC 826) --- */

int arp_parse(const uint8_t *frame, size_t len, struct arp_msg *out, enum l2_result *why)
{
	struct rbuf r;
	uint16_t htype, ptype, op;
	uint8_t hlen, plen;
	uint32_t spa, tpa;

	memset(out, 0, sizeof(*out));
	if (why)
		*why = L2_OK;
	rbuf_init(&r, frame, len);
	if (eth_parse(&r, &out->eth, L2_ETHERTYPE_ARP, L2_ARP_NOT_ARP, why) != 0)
		return -1;

	/* RFC 826 "Packet format": ar$hrd, ar$pro, ar$hln, ar$pln, ar$op. */
	if (rbuf_u16(&r, &htype) != 0 || rbuf_u16(&r, &ptype) != 0 || rbuf_u8(&r, &hlen) != 0 ||
	    rbuf_u8(&r, &plen) != 0 || rbuf_u16(&r, &op) != 0)
		return refuse(why, L2_ARP_SHORT);
	/* RFC 826 "Packet Reception": the hardware type must be ours
	 * (Ethernet, 1) and the protocol one we speak (IPv4, 0x0800), with
	 * their address lengths 6 and 4. */
	if (htype != ARP_HTYPE_ETHERNET)
		return refuse(why, L2_ARP_HTYPE);
	if (ptype != L2_ETHERTYPE_IPV4)
		return refuse(why, L2_ARP_PTYPE);
	if (hlen != L2_MAC_LEN)
		return refuse(why, L2_ARP_HLEN);
	if (plen != 4)
		return refuse(why, L2_ARP_PLEN);
	/* RFC 826: ares_op$REQUEST (1) and ares_op$REPLY (2); RARP and
	 * InARP opcodes are for other protocols. */
	if (op != ARP_OP_REQUEST && op != ARP_OP_REPLY)
		return refuse(why, L2_ARP_OP);

	if (rbuf_bytes(&r, out->sha, L2_MAC_LEN) != 0 || rbuf_u32(&r, &spa) != 0 ||
	    rbuf_bytes(&r, out->tha, L2_MAC_LEN) != 0 || rbuf_u32(&r, &tpa) != 0)
		return refuse(why, L2_ARP_SHORT);
	/* RFC 1812 §3.3.2: an ARP message claiming a broadcast (or any group)
	 * hardware address for a host is not to be believed. */
	if (l2_mac_is_group(out->sha))
		return refuse(why, L2_ARP_SHA_MULTICAST);

	out->op = op;
	out->spa = ip_v4(spa);
	out->tpa = ip_v4(tpa);
	return 0;
}

static void arp_put(struct wbuf *w, enum arp_op op, const uint8_t sha[L2_MAC_LEN],
		    const struct ip_addr *spa, const uint8_t tha[L2_MAC_LEN],
		    const struct ip_addr *tpa)
{
	uint8_t b[16];

	wbuf_u16(w, ARP_HTYPE_ETHERNET);
	wbuf_u16(w, L2_ETHERTYPE_IPV4);
	wbuf_u8(w, L2_MAC_LEN);
	wbuf_u8(w, 4);
	wbuf_u16(w, op);
	wbuf_bytes(w, sha, L2_MAC_LEN);
	ip_to_bytes(spa, b);
	wbuf_bytes(w, b, 4);
	wbuf_bytes(w, tha, L2_MAC_LEN);
	ip_to_bytes(tpa, b);
	wbuf_bytes(w, b, 4);
}

int arp_build_reply(struct wbuf *w, const struct arp_msg *req, const uint8_t our_mac[L2_MAC_LEN],
		    const struct ip_addr *addr)
{
	if (req->op != ARP_OP_REQUEST || addr->family != IP_FAMILY_V4 ||
	    req->tpa.family != IP_FAMILY_V4 || req->spa.family != IP_FAMILY_V4 ||
	    !ip_eq(addr, &req->tpa) || l2_mac_is_group(our_mac))
		return -1;
	/* RFC 826 "Packet Reception": swap the sender and target fields, put
	 * our hardware address in the sender field, set the opcode to reply
	 * and send the packet to the (new) target hardware address. */
	eth_put(w, req->sha, our_mac, &req->eth, L2_ETHERTYPE_ARP);
	size_t start = wbuf_mark(w);
	arp_put(w, ARP_OP_REPLY, our_mac, addr, req->sha, &req->spa);
	eth_pad(w, start);
	return wbuf_ok(w) ? 0 : -1;
}

int arp_build_gratuitous(struct wbuf *w, enum arp_op op, const uint8_t mac[L2_MAC_LEN],
			 const struct ip_addr *addr)
{
	if ((op != ARP_OP_REQUEST && op != ARP_OP_REPLY) || addr->family != IP_FAMILY_V4 ||
	    l2_mac_is_group(mac))
		return -1;
	eth_put(w, mac_broadcast, mac, NULL, L2_ETHERTYPE_ARP);
	size_t start = wbuf_mark(w);
	/* RFC 5227 §2.3: an announcement has sender IP = target IP = the
	 * address and, as a request, a zero target hardware address. */
	arp_put(w, op, mac, addr, op == ARP_OP_REQUEST ? mac_zero : mac_broadcast, addr);
	eth_pad(w, start);
	return wbuf_ok(w) ? 0 : -1;
}

/* --- NDP (RFC 4861) --- */

/* The ones' complement sum (RFC 1071), folded to 16 bits, of the IPv6
 * pseudo-header (RFC 8200 §8.1: source, destination, upper-layer length,
 * three zero bytes, next header 58) and the ICMPv6 message in msg.  An odd
 * final byte is summed as if followed by a zero. */
static uint16_t icmp6_sum(const uint8_t src[16], const uint8_t dst[16], struct rbuf msg)
{
	uint64_t sum = 0;
	size_t len = rbuf_left(&msg);
	uint16_t v16;
	uint8_t v8;

	for (int i = 0; i < 16; i += 2) {
		sum += (uint32_t)src[i] << 8 | src[i + 1];
		sum += (uint32_t)dst[i] << 8 | dst[i + 1];
	}
	sum += (uint64_t)len >> 16 & 0xffff;
	sum += len & 0xffff;
	sum += IP6_NEXT_ICMP6;
	while (rbuf_u16(&msg, &v16) == 0)
		sum += v16;
	if (rbuf_u8(&msg, &v8) == 0)
		sum += (uint32_t)v8 << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static bool ext_header_unsupported(uint8_t next)
{
	switch (next) {
	case IP6_NEXT_ROUTING:
	case IP6_NEXT_FRAGMENT:
	case IP6_NEXT_ESP:
	case IP6_NEXT_AH:
	case IP6_NEXT_MOBILITY:
	case IP6_NEXT_HIP:
	case IP6_NEXT_SHIM6:
		return true;
	default:
		return false;
	}
}

int ndp_parse_ns(const uint8_t *frame, size_t len, struct ndp_ns *out, enum l2_result *why)
{
	struct rbuf r, ip, pl, icmp;
	uint32_t vtcfl;
	uint16_t plen, cksum;
	uint8_t next, hops, type, code;
	uint8_t src[16], dst[16], target[16];

	memset(out, 0, sizeof(*out));
	if (why)
		*why = L2_OK;
	rbuf_init(&r, frame, len);
	if (eth_parse(&r, &out->eth, L2_ETHERTYPE_IPV6, L2_NDP_NOT_IPV6, why) != 0)
		return -1;

	/* RFC 8200 §3: the fixed 40-byte header. */
	if (rbuf_sub(&r, IP6_HDR_LEN, &ip) != 0)
		return refuse(why, L2_NDP_IP6_SHORT);
	rbuf_u32(&ip, &vtcfl);
	rbuf_u16(&ip, &plen);
	rbuf_u8(&ip, &next);
	rbuf_u8(&ip, &hops);
	rbuf_bytes(&ip, src, 16);
	rbuf_bytes(&ip, dst, 16);
	if (vtcfl >> 28 != 6)
		return refuse(why, L2_NDP_IP6_VERSION);
	/* RFC 8200 §3: the payload is exactly plen bytes; anything after it
	 * is Ethernet padding.  0 means a jumbogram, which an NS never is. */
	if (plen == 0 || rbuf_sub(&r, plen, &pl) != 0)
		return refuse(why, L2_NDP_IP6_TRUNCATED);
	out->src = ip_from_bytes(IP_FAMILY_V6, src);
	out->dst = ip_from_bytes(IP_FAMILY_V6, dst);
	/* RFC 4291 §2.7: a multicast address is never a source. */
	if (ip6_is_multicast(&out->src))
		return refuse(why, L2_NDP_IP6_SRC_MULTICAST);

	/* RFC 8200 §4.3, §4.6: hop-by-hop and destination options headers
	 * share one layout (next header, length in 8-byte units not counting
	 * the first 8) and do not change the checksum's pseudo-header.  A
	 * routing header would (RFC 8200 §8.1), and fragments, ESP and AH
	 * cannot carry a solicitation this parser can check. */
	while (next == IP6_NEXT_HOPOPTS || next == IP6_NEXT_DSTOPTS) {
		uint8_t hlen;
		if (rbuf_u8(&pl, &next) != 0 || rbuf_u8(&pl, &hlen) != 0 ||
		    rbuf_skip(&pl, 6 + 8 * (size_t)hlen) != 0)
			return refuse(why, L2_NDP_IP6_TRUNCATED);
	}
	if (ext_header_unsupported(next))
		return refuse(why, L2_NDP_EXT_HEADER);
	if (next != IP6_NEXT_ICMP6)
		return refuse(why, L2_NDP_NOT_ICMP6);

	rbuf_sub(&pl, rbuf_left(&pl), &icmp);
	struct rbuf whole = icmp;
	/* RFC 4443 §2.1: type, code, checksum. */
	if (rbuf_u8(&icmp, &type) != 0 || rbuf_u8(&icmp, &code) != 0 ||
	    rbuf_u16(&icmp, &cksum) != 0)
		return refuse(why, L2_NDP_ICMP6_SHORT);
	if (type != ICMP6_NS)
		return refuse(why, L2_NDP_NOT_NS);
	/* RFC 4861 §7.1.1: the IP hop limit is 255 (the message cannot have
	 * crossed a router), the ICMP code is 0, the ICMP length is 24 or
	 * more, and the ICMP checksum (RFC 4443 §2.3) is valid. */
	if (hops != NDP_HOP_LIMIT)
		return refuse(why, L2_NDP_HOP_LIMIT);
	if (code != 0)
		return refuse(why, L2_NDP_CODE);
	if (rbuf_left(&whole) < NDP_NS_MIN_LEN)
		return refuse(why, L2_NDP_NS_SHORT);
	/* The sum over a message that carries its checksum is all ones. */
	if (icmp6_sum(src, dst, whole) != 0xffff)
		return refuse(why, L2_NDP_CHECKSUM);

	/* RFC 4861 §4.3: reserved, target address, options. */
	rbuf_skip(&icmp, 4);
	rbuf_bytes(&icmp, target, 16);
	out->target = ip_from_bytes(IP_FAMILY_V6, target);
	/* RFC 4861 §7.1.1: the target is not a multicast address. */
	if (ip6_is_multicast(&out->target))
		return refuse(why, L2_NDP_TARGET_MULTICAST);

	while (rbuf_left(&icmp) > 0) {
		struct rbuf opt;
		uint8_t otype, olen;
		/* RFC 4861 §4.6: type, length in units of 8 bytes including
		 * the type and length; §7.1.1: every length is above zero. */
		if (rbuf_u8(&icmp, &otype) != 0 || rbuf_u8(&icmp, &olen) != 0 || olen == 0 ||
		    rbuf_sub(&icmp, 8 * (size_t)olen - 2, &opt) != 0)
			return refuse(why, L2_NDP_OPT_MALFORMED);
		/* RFC 4861 §4.6: options not recognised are ignored. */
		if (otype != NDP_OPT_SLLA || out->has_sllao)
			continue;
		/* RFC 2464 §6: on Ethernet the option is 8 bytes, the
		 * address in the 6 after type and length. */
		if (olen != 1)
			return refuse(why, L2_NDP_SLLAO_LEN);
		rbuf_bytes(&opt, out->sllao, L2_MAC_LEN);
		if (l2_mac_is_group(out->sllao))
			return refuse(why, L2_NDP_SLLAO_MULTICAST);
		out->has_sllao = true;
	}

	/* RFC 4861 §7.1.1: from the unspecified address (Duplicate Address
	 * Detection, RFC 4862 §5.4.2), no source link-layer address option
	 * and a solicited-node multicast destination. */
	if (ip6_is_unspecified(&out->src)) {
		if (out->has_sllao)
			return refuse(why, L2_NDP_DAD_SLLAO);
		if (!ndp_is_solicited_node(&out->dst))
			return refuse(why, L2_NDP_DAD_DEST);
	}
	return 0;
}

/* An Ethernet frame with an IPv6 header and a Neighbor Advertisement for
 * target with a target link-layer address option (RFC 4861 §4.4). */
static int na_put(struct wbuf *w, const struct l2_eth *tag_of, const uint8_t dst_mac[L2_MAC_LEN],
		  const uint8_t our_mac[L2_MAC_LEN], const struct ip_addr *src,
		  const uint8_t dst[16], const struct ip_addr *target, uint32_t flags)
{
	uint8_t s[16], t[16];

	ip_to_bytes(src, s);
	ip_to_bytes(target, t);

	eth_put(w, dst_mac, our_mac, tag_of, L2_ETHERTYPE_IPV6);
	size_t ip_start = wbuf_mark(w);
	/* RFC 8200 §3: version 6, traffic class and flow label 0. */
	wbuf_u32(w, 6u << 28);
	size_t plen_at = wbuf_mark(w);
	wbuf_u16(w, 0);
	wbuf_u8(w, IP6_NEXT_ICMP6);
	wbuf_u8(w, NDP_HOP_LIMIT);      /* RFC 4861 §7.1.2 checks it is 255 */
	wbuf_bytes(w, s, 16);
	wbuf_bytes(w, dst, 16);

	size_t icmp_start = wbuf_mark(w);
	wbuf_u8(w, ICMP6_NA);
	wbuf_u8(w, 0);
	wbuf_u16(w, 0);                 /* checksum, patched below */
	wbuf_u32(w, flags);
	wbuf_bytes(w, t, 16);
	wbuf_u8(w, NDP_OPT_TLLA);
	wbuf_u8(w, 1);                  /* RFC 2464 §6 */
	wbuf_bytes(w, our_mac, L2_MAC_LEN);

	wbuf_patch_len_u16(w, plen_at, icmp_start);
	eth_pad(w, ip_start);
	if (!wbuf_ok(w))
		return -1;
	struct rbuf msg;
	rbuf_init(&msg, w->p + icmp_start, NDP_NA_LEN);
	/* RFC 4443 §2.3: the checksum is the complement of the sum computed
	 * with the checksum field zero. */
	wbuf_patch_u16(w, icmp_start + 2, (uint16_t)~icmp6_sum(s, dst, msg));
	return wbuf_ok(w) ? 0 : -1;
}

int ndp_build_na(struct wbuf *w, const struct ndp_ns *ns, const uint8_t our_mac[L2_MAC_LEN],
		 const struct ip_addr *src)
{
	uint8_t dst[16], dst_mac[L2_MAC_LEN];
	uint32_t flags;

	if (src->family != IP_FAMILY_V6 || ip6_is_multicast(src) ||
	    ns->src.family != IP_FAMILY_V6 || ns->target.family != IP_FAMILY_V6 ||
	    ip6_is_multicast(&ns->target) || l2_mac_is_group(our_mac))
		return -1;
	if (ip6_is_unspecified(&ns->src)) {
		/* RFC 4861 §7.2.4: a solicitation from :: is answered to
		 * all-nodes with Solicited clear. */
		memcpy(dst, all_nodes, 16);
		mac_of_group(all_nodes, dst_mac);
		flags = 0;
	} else {
		/* RFC 4861 §7.2.4: otherwise to the solicitor, Solicited
		 * set.  Override stays clear: the address is a service
		 * address that moves between nodes, not this interface's
		 * own, and the unsolicited NA on takeover is what
		 * overrides caches. */
		ip_to_bytes(&ns->src, dst);
		memcpy(dst_mac, ns->has_sllao ? ns->sllao : ns->eth.src, L2_MAC_LEN);
		flags = NDP_NA_FLAG_SOLICITED;
	}
	return na_put(w, &ns->eth, dst_mac, our_mac, src, dst, &ns->target, flags);
}

int ndp_build_unsolicited_na(struct wbuf *w, const uint8_t mac[L2_MAC_LEN],
			     const struct ip_addr *src, const struct ip_addr *target)
{
	uint8_t dst_mac[L2_MAC_LEN];

	if (src->family != IP_FAMILY_V6 || ip6_is_multicast(src) ||
	    target->family != IP_FAMILY_V6 || ip6_is_multicast(target) || l2_mac_is_group(mac))
		return -1;
	/* RFC 4861 §7.2.6: to all-nodes, Solicited clear, Override set so
	 * that neighbours replace the cached link-layer address. */
	mac_of_group(all_nodes, dst_mac);
	return na_put(w, NULL, dst_mac, mac, src, all_nodes, target, NDP_NA_FLAG_OVERRIDE);
}
