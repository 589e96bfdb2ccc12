/*
 * Layer 2 announcement frames: ARP (RFC 826) and NDP Neighbor Solicitation
 * and Advertisement (RFC 4861) over Ethernet, parsed and built without any
 * system call.
 *
 * The responders hand every frame read from an AF_PACKET socket to
 * arp_parse() or ndp_parse_ns().  A frame is either accepted, with its
 * fields decoded into a struct arp_msg / struct ndp_ns, or refused with an
 * enum l2_result saying why, which the responder counts and never treats
 * as fatal.  Whether an accepted frame asks about an address this node
 * owns is the responder's decision, not this module's.  The builders then
 * write complete Ethernet frames (ARP reply, gratuitous ARP, solicited and
 * unsolicited Neighbor Advertisement) into a struct wbuf, ready for send().
 *
 * One 802.1Q tag is accepted and reported in struct l2_eth; a reply to a
 * tagged frame carries the same tag.  Frames built here are padded to the
 * 60-byte Ethernet minimum (RFC 894).
 */
#ifndef IRONLB_L2_FRAME_H
#define IRONLB_L2_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "net/ip.h"

#define L2_MAC_LEN 6
/* "aa:bb:cc:dd:ee:ff" and the NUL. */
#define L2_MAC_STR_MAX 18
/* Large enough for every frame this module builds (NA with a VLAN tag: 90). */
#define L2_FRAME_MAX 128

#define L2_ETHERTYPE_IPV4 0x0800
#define L2_ETHERTYPE_ARP 0x0806
#define L2_ETHERTYPE_VLAN 0x8100
#define L2_ETHERTYPE_IPV6 0x86dd

/* Why a frame was refused.  L2_OK means accepted. */
enum l2_result {
	L2_OK = 0,
	L2_ETH_SHORT,           /* shorter than an Ethernet header (+ tag) */
	L2_ETH_SRC_MULTICAST,   /* Ethernet source is a group address */
	L2_ETH_VLAN_STACKED,    /* more than one 802.1Q tag */
	L2_ARP_NOT_ARP,         /* EtherType is not ARP */
	L2_ARP_SHORT,           /* fewer than 28 bytes of ARP */
	L2_ARP_HTYPE,           /* hardware type is not Ethernet (1) */
	L2_ARP_PTYPE,           /* protocol type is not IPv4 (0x0800) */
	L2_ARP_HLEN,            /* hardware address length is not 6 */
	L2_ARP_PLEN,            /* protocol address length is not 4 */
	L2_ARP_OP,              /* opcode is not request (1) or reply (2) */
	L2_ARP_SHA_MULTICAST,   /* sender hardware address is a group address */
	L2_NDP_NOT_IPV6,        /* EtherType is not IPv6 */
	L2_NDP_IP6_SHORT,       /* shorter than an IPv6 header */
	L2_NDP_IP6_VERSION,     /* IP version is not 6 */
	L2_NDP_IP6_TRUNCATED,   /* payload length is 0 or beyond the frame */
	L2_NDP_IP6_SRC_MULTICAST, /* IPv6 source is multicast */
	L2_NDP_EXT_HEADER,      /* extension header that cannot precede an NS */
	L2_NDP_NOT_ICMP6,       /* next header is not ICMPv6 */
	L2_NDP_ICMP6_SHORT,     /* ICMPv6 message shorter than 4 bytes */
	L2_NDP_NOT_NS,          /* ICMPv6 type is not Neighbor Solicitation */
	L2_NDP_HOP_LIMIT,       /* hop limit is not 255 */
	L2_NDP_CODE,            /* ICMPv6 code is not 0 */
	L2_NDP_NS_SHORT,        /* ICMPv6 length below 24 */
	L2_NDP_CHECKSUM,        /* ICMPv6 checksum does not verify */
	L2_NDP_TARGET_MULTICAST, /* target address is multicast */
	L2_NDP_OPT_MALFORMED,   /* option with length 0 or past the end */
	L2_NDP_SLLAO_LEN,       /* source link-layer option is not 8 bytes */
	L2_NDP_SLLAO_MULTICAST, /* source link-layer address is a group address */
	L2_NDP_DAD_SLLAO,       /* source :: with a source link-layer option */
	L2_NDP_DAD_DEST,        /* source :: not sent to a solicited-node group */
	L2_RESULT_COUNT
};

/* A short snake_case name for a metric label or log key ("arp_htype"). */
const char *l2_result_name(enum l2_result r);
/* A sentence fragment for a person ("ARP hardware type is not Ethernet (1)"). */
const char *l2_result_str(enum l2_result r);

struct l2_eth {
	uint8_t dst[L2_MAC_LEN];
	uint8_t src[L2_MAC_LEN];
	bool has_vlan;
	uint16_t vlan_tci;      /* priority, DEI and VLAN id, as on the wire */
	uint16_t ethertype;     /* the one after the tag, if any */
};

enum arp_op {
	ARP_OP_REQUEST = 1,
	ARP_OP_REPLY = 2,
};

struct arp_msg {
	struct l2_eth eth;
	enum arp_op op;
	uint8_t sha[L2_MAC_LEN];        /* sender hardware address */
	struct ip_addr spa;             /* sender IPv4 address (0.0.0.0 in a probe) */
	uint8_t tha[L2_MAC_LEN];        /* target hardware address */
	struct ip_addr tpa;             /* target IPv4 address */
};

/* Parse an Ethernet frame carrying Ethernet/IPv4 ARP.  Trailing padding is
 * ignored.  0 on success; -1 otherwise with *why (if not NULL) saying why.
 * *out is fully written either way (zeroed where not decoded). */
int arp_parse(const uint8_t *frame, size_t len, struct arp_msg *out, enum l2_result *why);

/* Append the reply to an ARP request for addr, which must be the request's
 * target: sent to the requester's hardware address, with sender = our_mac
 * and addr, and the request's VLAN tag.  -1 if req is not a request, addr
 * is not req->tpa, or w fails. */
int arp_build_reply(struct wbuf *w, const struct arp_msg *req, const uint8_t our_mac[L2_MAC_LEN],
		    const struct ip_addr *addr);

/* Append a broadcast gratuitous ARP for the IPv4 address addr with sender =
 * target = addr and sender hardware address mac.  As a request the target
 * hardware address is zero (RFC 5227 §3); as a reply it is the broadcast
 * address the frame goes to.  -1 on a bad op or family, or if w fails. */
int arp_build_gratuitous(struct wbuf *w, enum arp_op op, const uint8_t mac[L2_MAC_LEN],
			 const struct ip_addr *addr);

struct ndp_ns {
	struct l2_eth eth;
	struct ip_addr src;             /* :: for Duplicate Address Detection */
	struct ip_addr dst;
	struct ip_addr target;
	bool has_sllao;
	uint8_t sllao[L2_MAC_LEN];      /* source link-layer address option */
};

/* Parse an Ethernet frame carrying an IPv6 Neighbor Solicitation, with the
 * checks of RFC 4861 §7.1.1 and the ICMPv6 checksum.  Hop-by-hop and
 * destination options headers are skipped; any other extension header
 * refuses the frame.  0 / -1 and *why as arp_parse(). */
int ndp_parse_ns(const uint8_t *frame, size_t len, struct ndp_ns *out, enum l2_result *why);

/* Append the solicited Neighbor Advertisement answering ns for ns->target:
 * IPv6 source src (the engine passes the target itself, as the Linux kernel
 * does: some clients, ndisc6 among them, ignore a link-local source), sent to the
 * solicitor (its SLLAO, else its Ethernet source) with Solicited=1, or, when
 * ns came from ::, to ff02::1 with Solicited=0.  Router=0, Override=0, a
 * target link-layer address option with our_mac, hop limit 255, the VLAN tag
 * of ns.  -1 if src is not IPv6 or w fails. */
int ndp_build_na(struct wbuf *w, const struct ndp_ns *ns, const uint8_t our_mac[L2_MAC_LEN],
		 const struct ip_addr *src);

/* Append an unsolicited Neighbor Advertisement for target to ff02::1
 * (33:33:00:00:00:01) from src: Router=0, Solicited=0, Override=1, target
 * link-layer address option = mac.  -1 if an address is not IPv6, target
 * is multicast, or w fails. */
int ndp_build_unsolicited_na(struct wbuf *w, const uint8_t mac[L2_MAC_LEN],
			     const struct ip_addr *src, const struct ip_addr *target);

/* ff02::1:ffXX:XXXX for the low 24 bits of an IPv6 address (RFC 4291
 * §2.7.1).  -1 if a is not IPv6. */
int ndp_solicited_node(const struct ip_addr *a, struct ip_addr *out);
/* 33:33 and the low 32 bits of an IPv6 multicast group (RFC 2464 §7).
 * -1 if group is not IPv6 multicast. */
int ndp_multicast_mac(const struct ip_addr *group, uint8_t mac[L2_MAC_LEN]);
/* 33:33:ff:XX:XX:XX, the MAC of a's solicited-node group.  -1 if a is not
 * IPv6. */
int ndp_solicited_node_mac(const struct ip_addr *a, uint8_t mac[L2_MAC_LEN]);
bool ndp_is_solicited_node(const struct ip_addr *a);

/* Parse exactly "aa:bb:cc:dd:ee:ff" (hex digits of either case).  -1 on
 * anything else, mac unchanged. */
int l2_mac_parse(const char *s, uint8_t mac[L2_MAC_LEN]);
/* Lower-case "aa:bb:cc:dd:ee:ff"; returns buf. */
char *l2_mac_format(const uint8_t mac[L2_MAC_LEN], char buf[L2_MAC_STR_MAX]);
/* The I/G bit: group (multicast or broadcast) address. */
bool l2_mac_is_group(const uint8_t mac[L2_MAC_LEN]);

#endif
