/*
 * The host's interface table, kept current through rtnetlink (libmnl).
 *
 * l2_iface_table_start() subscribes to link changes (RTNLGRP_LINK) and to
 * IPv6 address changes (RTNLGRP_IPV6_IFADDR) first and only then lists the
 * links and the IPv6 addresses on a second socket, so no change can fall
 * between the listing and the subscription.  Every message, listed or
 * notified, goes through the same update: a link is created or refreshed
 * from RTM_NEWLINK, dropped on RTM_DELLINK; an IPv6 link-local address is
 * added to or removed from its link.  Only changes that matter to a Layer 2
 * responder (name, flags, type, MAC, master, kind, operstate, link-local
 * addresses) reach the callback, with a mask saying which.  When the kernel
 * reports that notifications were lost (ENOBUFS), the table lists
 * everything again and drops what the listing no longer shows.
 *
 * The parsers of single messages are public so that tests can feed them
 * hand-built messages; l2_iface_table_input() feeds a whole buffer of
 * messages as if it had come from the socket.
 *
 * l2_iface_addr_add() / l2_iface_addr_del() add or remove one host address
 * (IPv4 /32 or IPv6 /128 without Duplicate Address Detection) on a link,
 * for the engine's installed service addresses.
 */
#ifndef IRONLB_L2_IFACE_H
#define IRONLB_L2_IFACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "l2/frame.h"
#include "net/ip.h"

struct ev_loop;
struct nlmsghdr;
struct l2_iface_table;

#define L2_IFACE_NAME_MAX 16    /* IFNAMSIZ */
#define L2_IFACE_KIND_MAX 32

/* One IPv6 link-local address of a link, with its IFA_F_* flags. */
struct l2_iface_ll {
	struct ip_addr addr;
	uint32_t flags;
};

struct l2_iface {
	int index;
	char name[L2_IFACE_NAME_MAX];
	unsigned flags;                 /* IFF_* */
	unsigned short type;            /* ARPHRD_* */
	bool has_mac;                   /* a 6-byte IFLA_ADDRESS */
	uint8_t mac[L2_MAC_LEN];
	int master;                     /* IFLA_MASTER, 0 when not enslaved */
	char kind[L2_IFACE_KIND_MAX];   /* IFLA_INFO_KIND ("vlan", "bond"), "" if none */
	uint8_t operstate;              /* IF_OPER_*, IF_OPER_UNKNOWN when not reported */
	size_t nll;
	struct l2_iface_ll *ll;         /* IPv6 link-local addresses, in arrival order */
};

enum l2_iface_event {
	L2_IFACE_ADDED,
	L2_IFACE_CHANGED,
	L2_IFACE_REMOVED,
};

/* Bits of the `changed` mask passed with L2_IFACE_CHANGED. */
enum {
	L2_IFACE_CH_NAME = 1 << 0,
	L2_IFACE_CH_FLAGS = 1 << 1,
	L2_IFACE_CH_TYPE = 1 << 2,
	L2_IFACE_CH_MAC = 1 << 3,
	L2_IFACE_CH_MASTER = 1 << 4,
	L2_IFACE_CH_KIND = 1 << 5,
	L2_IFACE_CH_OPERSTATE = 1 << 6,
	L2_IFACE_CH_LL = 1 << 7,
};

/* Called after the table changed.  For L2_IFACE_REMOVED, ifc is the link
 * as it was, valid only during the call.  The callback may read the table
 * but must not free it. */
struct l2_iface_callback {
	void (*fn)(void *arg, const struct l2_iface *ifc, enum l2_iface_event ev,
		   unsigned changed);
	void *arg;
};

/* A table fed by l2_iface_table_input() only, until started.  loop may be
 * NULL for such a table. */
struct l2_iface_table *l2_iface_table_new(struct ev_loop *loop, const struct l2_iface_callback *cb);
/* Subscribe, then list links and IPv6 addresses (no callbacks for what the
 * first listing finds).  -1 with errno and a logged reason on failure. */
int l2_iface_table_start(struct l2_iface_table *t);
void l2_iface_table_free(struct l2_iface_table *t);

/* Process a buffer of netlink messages (RTM_NEWLINK, RTM_DELLINK,
 * RTM_NEWADDR, RTM_DELADDR; anything else is skipped).  -1 when the
 * buffer is not a sequence of whole netlink messages. */
int l2_iface_table_input(struct l2_iface_table *t, const void *buf, size_t len);

size_t l2_iface_count(const struct l2_iface_table *t);
/* The i-th link, in index order (i < l2_iface_count()). */
const struct l2_iface *l2_iface_at(const struct l2_iface_table *t, size_t i);
const struct l2_iface *l2_iface_find(const struct l2_iface_table *t, int index);
const struct l2_iface *l2_iface_find_name(const struct l2_iface_table *t, const char *name);

/* The first link-local address that is neither tentative nor failed DAD;
 * false when there is none. */
bool l2_iface_link_local(const struct l2_iface *ifc, struct ip_addr *out);
/* Administratively up and with a working link: IFF_UP, and operstate up
 * or unknown (drivers that do not report one). */
bool l2_iface_is_up(const struct l2_iface *ifc);

/* Parse an RTM_NEWLINK / RTM_DELLINK message of family AF_UNSPEC into *out
 * (nll 0, ll NULL).  -1 for another type or family (AF_BRIDGE port
 * messages among them), a short or malformed message, or no name. */
int l2_iface_parse_link(const struct nlmsghdr *nlh, struct l2_iface *out);
/* Parse an RTM_NEWADDR / RTM_DELADDR message of family AF_INET6: the
 * link's index, the address and its flags (IFA_FLAGS when present, else
 * ifa_flags).  -1 for anything else or a malformed message. */
int l2_iface_parse_addr(const struct nlmsghdr *nlh, int *index, struct ip_addr *addr,
			uint32_t *flags);

/* Add addr (IPv4 as a /32, IPv6 as a /128 with IFA_F_NODAD) to the link
 * ifindex: 0 when added, 1 when the link already had it (left alone), -1
 * with errno otherwise. */
int l2_iface_addr_add(int ifindex, const struct ip_addr *addr);
/* Remove it: 0, or -1 with errno (EADDRNOTAVAIL when it was not there). */
int l2_iface_addr_del(int ifindex, const struct ip_addr *addr);

#endif
