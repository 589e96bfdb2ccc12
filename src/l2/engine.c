/*
 * The Layer 2 engine (see engine.h).
 *
 * State, from the top:
 *
 *   addrs   the owned addresses, sorted by address (a request is looked up
 *           by binary search).  Each holds the announcements it has: one
 *           struct l2_ann per interface it is announced on (the first
 *           inside the address's record), with its next gratuitous round.
 *   rounds  the announcements with a gratuitous round due, a min-heap by
 *           due time, behind one timer.
 *   ports   one per interface that carries at least one announcement: the
 *           ARP and IPv6 packet sockets with their ev_io watchers, and the
 *           solicited-node multicast groups joined on it, reference-counted
 *           because addresses whose low 24 bits match share a group.
 *   ifs     the rtnetlink interface table (iface.h).
 *
 * Every change (l2_engine_set(), an interface event, the retry timer) ends
 * in reconcile(), which compares the announcements each address should
 * have, given its interface restriction and the interfaces' usability,
 * with those it has, adds and removes the difference, opens the ports the
 * new announcements need and closes the ports left without any.  Adding
 * an announcement is a takeover on that interface: gratuitous frames go
 * out at once from reconcile() and then from the timer of the rounds.
 *
 * A socket error is logged, the port's packet sockets are closed, and the
 * engine's retry timer reopens them later; nothing a peer sends, and no
 * error of one interface, stops the engine.
 */
#include "l2/engine.h"

#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/hashmap.h"
#include "base/jw.h"
#include "base/log.h"
#include "base/util.h"
#include "base/metrics.h"
#include "base/slab.h"
#include "l2/frame.h"
#include "l2/iface.h"

#define DEFAULT_VIP_DEVICE "lo"
#define DEFAULT_GARP_INTERVAL 1.1
#define DEFAULT_GARP_DURATION 5.0
#define DEFAULT_GARP_BURST 3
#define DEFAULT_GARP_BURST_GAP 0.1
/* Delay before reopening failed sockets and retrying failed address
 * installs. */
#define RETRY_INTERVAL 5.0
/* Frames read per readiness event, so that one busy interface cannot
 * starve the others. */
#define READ_BUDGET 64
/* RFC 5227 §2.4: DEFEND_INTERVAL.  Conflicting announcements for one
 * address are logged at most this often. */
#define CONFLICT_LOG_INTERVAL 10.0
#define RX_BUF_SIZE 4096
#define REASON_MAX 96

enum vip_state {
	VIP_NONE,       /* not installed (yet) */
	VIP_INSTALLED,  /* added by us: removed when released */
	VIP_FOREIGN,    /* the device already had it: never removed by us */
	VIP_FAILED,     /* the last attempt failed: retried */
};

static const char *const vip_state_name[] = {
	[VIP_NONE] = "none",
	[VIP_INSTALLED] = "installed",
	[VIP_FOREIGN] = "present",
	[VIP_FAILED] = "failed",
};

struct l2_addr;

/* One address announced on one interface.  Its next gratuitous round is
 * due at `due` while it is in the engine's heap of rounds (one timer for
 * all of them, not an ev_timer each). */
struct l2_ann {
	ev_tstamp garp_start;
	ev_tstamp due;
	int ifindex;
	unsigned garp_round;    /* rounds sent since garp_start */
	uint32_t heap_pos;      /* index + 1 in e->rounds; 0: no round due */
	bool in_record;         /* the first, inside its address's record */
};

/* An announcement other than the first: a block of its own, which says
 * whose it is (the first finds its record by its place in it). */
struct l2_ann_more {
	struct l2_ann ann;      /* first: a struct l2_ann * to it is one to the block */
	struct l2_addr *a;
};

/* One per owned address (tens of thousands): 112 bytes, in a slab.  No
 * text form kept (ADDR_IP formats it for a log line); the address as its
 * 128-bit value in two words and its family in a byte (a struct ip_addr
 * would take 32 bytes and 16-byte alignment: addr_ip() rebuilds one); no
 * pointer back to the engine (every caller has it).  The first
 * announcement is part of the record (an address is announced on one
 * interface, as a rule) and finds the record by its place in it; the
 * others have a block each (struct l2_ann_more), since their timers must
 * not move. */
struct l2_addr {
	uint64_t v_lo, v_hi;    /* the address's value, as struct ip_addr.v */
	char *service;          /* "ns/name"; several joined by ',' when shared */
	char **ifnames;
	struct l2_ann **more;   /* announcements 1 .. nanns-1 */
	uint64_t requests, responses, gratuitous;
	struct l2_ann first;    /* announcement 0, when nanns > 0 */
	int vip_ifindex;
	uint16_t nanns;
	uint16_t nifnames;      /* ... else exactly these */
	uint8_t family;         /* enum ip_family */
	uint8_t vip;            /* enum vip_state */
	bool all;               /* every usable interface ... */
};

static struct ip_addr addr_ip(const struct l2_addr *a)
{
	struct ip_addr r = {.v = (u128)a->v_hi << 64 | a->v_lo, .family = a->family};
	return r;
}

static void addr_set_ip(struct l2_addr *a, const struct ip_addr *ip)
{
	a->v_lo = (uint64_t)ip->v;
	a->v_hi = (uint64_t)(ip->v >> 64);
	a->family = (uint8_t)ip->family;
}

/* a's address as a const struct ip_addr *, valid to the end of the
 * enclosing block (a compound literal). */
#define AIP(a) ((const struct ip_addr *)(struct ip_addr[1]){ addr_ip(a) })

/* The address whose announcement ann is. */
static struct l2_addr *ann_addr(struct l2_ann *ann)
{
	if (ann->in_record)
		return (struct l2_addr *)(void *)((char *)ann - offsetof(struct l2_addr, first));
	return ((struct l2_ann_more *)(void *)ann)->a;
}

/* Announcement i of a (i < a->nanns). */
static struct l2_ann *ann_at(const struct l2_addr *a, size_t i)
{
	return i == 0 ? (struct l2_ann *)&a->first : a->more[i - 1];
}

/* The address of a as text, in a buffer that lives to the end of the
 * enclosing block (a compound literal). */
#define ADDR_IP(a) ip_format(AIP(a), (char[IP_STR_MAX]){0})

/* Solicited-node groups joined one by one on an interface, at most.  The
 * kernel keeps an interface's multicast memberships in lists walked on
 * every join, so joins cost O(groups) each and 100,000 addresses (as many
 * groups in a /64) would take the kernel minutes; past this many the IPv6
 * packet socket takes every multicast frame (PACKET_MR_ALLMULTI, its BPF
 * filter still passing only Neighbor Solicitations) and no further MLD
 * report is sent (logged once: a switch that snoops MLD must then flood
 * multicast to the port). */
#define L2_MC_JOIN_MAX 1024

/* A solicited-node group on a port (one per IPv6 address announced there,
 * less those sharing their low 24 bits): 12 bytes, since the group is
 * ff02::1:ff00:0/104 and those bits. */
struct mc_group {
	uint32_t low24;         /* the group's last 24 bits: its key, the array's order */
	uint32_t refs;
	int16_t mld_sock;       /* index into port->mld, -1 when not joined */
	bool link_joined;       /* PACKET_ADD_MEMBERSHIP on the IPv6 socket */
	bool joined;            /* counted in port->njoined: it has (or tries) its own joins */
	bool link_warned, mld_warned;   /* a failure is logged once */
};

struct l2_port {
	struct l2_engine *e;
	int ifindex;
	char name[L2_IFACE_NAME_MAX];
	int arp_fd, ndp_fd;
	ev_io arp_w, ndp_w;
	bool failed;            /* packet sockets closed after an error */
	size_t nanns;
	size_t ngroups;
	struct mc_group *groups;     /* sorted by low24 (binary search) */
	size_t njoined;         /* groups holding their own joins (at most L2_MC_JOIN_MAX) */
	bool allmulti;          /* the IPv6 packet socket receives every multicast frame */
	bool cap_logged;
	/* A group may gain a join by trying again (one failed, the port's
	 * sockets were closed, or the cap of joins was reached and a joined
	 * group left): reconcile_ports() looks at this port's groups only
	 * then, not at every group on every pass. */
	bool groups_unsettled;
	size_t nmld;
	int *mld;               /* UDP sockets holding the MLD joins */
};

/* The usability last logged for an interface, to log changes only. */
struct seen_iface {
	int index;
	bool usable;
	char name[L2_IFACE_NAME_MAX];
};

struct l2_engine {
	struct ev_loop *loop;
	struct metrics_family *m_requests, *m_responses, *m_gratuitous;
	bool install_vips;
	char *vip_device;
	struct l2_engine_opts garp;     /* the gratuitous schedule, defaults applied */
	bool running;
	struct l2_iface_table *ifs;
	struct l2_addr **addrs;         /* sorted by address */
	size_t naddrs;
	struct l2_port **ports;
	size_t nports;
	struct seen_iface *seen;
	size_t nseen;
	ev_timer retry;
	/* The announcements with a gratuitous round due, a binary min-heap
	 * by due time, and the one timer for the earliest. */
	struct l2_ann **rounds;
	size_t nrounds, caprounds;
	ev_timer rounds_w;
	/* When a conflict for an address was last logged (rare: a map, not
	 * a field of every address's record): key addr_key(), value a
	 * malloc'd ev_tstamp. */
	struct hashmap conflicts;
	/* The records of the owned addresses, packed apart from the heap's
	 * short-lived blocks (base/slab.h). */
	struct slab addr_slab;
	bool vip_device_missing_logged;
	uint64_t invalid[L2_RESULT_COUNT];
	uint8_t rx[RX_BUF_SIZE];
};

static const uint8_t mac_broadcast[L2_MAC_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void reconcile(struct l2_engine *e);

/* --- small helpers --- */

static const char *iface_name(const struct l2_engine *e, int index, char buf[L2_IFACE_NAME_MAX])
{
	const struct l2_iface *ifc = e->ifs ? l2_iface_find(e->ifs, index) : NULL;

	if (ifc)
		return ifc->name;
	snprintf(buf, L2_IFACE_NAME_MAX, "#%d", index);
	return buf;
}

/* The per-address counters are the metric series of the addresses owned
 * now (made from them when the metrics are read: no series held per
 * owned address, no series lookup per frame); an address released adds
 * its counts to a held series, which stays (and which the address, taken
 * again, counts on from). */
static void count(struct l2_engine *e, struct metrics_family *fam, struct l2_addr *a,
		  uint64_t *field)
{
	(void)e;
	(void)fam;
	(*field)++;
}

static void fold_one(struct metrics_family *fam, const struct l2_addr *a, uint64_t n)
{
	if (!fam || !n)
		return;
	const char *labels[] = { ADDR_IP(a) };
	metrics_add(fam, labels, (double)n);
}

/* a is released: its counts go to the held series. */
static void counters_fold(struct l2_engine *e, const struct l2_addr *a)
{
	fold_one(e->m_requests, a, a->requests);
	fold_one(e->m_responses, a, a->responses);
	fold_one(e->m_gratuitous, a, a->gratuitous);
}

static void collect(struct metrics_family *fam, const struct l2_engine *e, size_t off)
{
	for (size_t i = 0; i < e->naddrs; i++) {
		const struct l2_addr *a = e->addrs[i];
		uint64_t n;
		memcpy(&n, (const char *)a + off, sizeof(n));
		if (!n)
			continue;
		const char *labels[] = { ADDR_IP(a) };
		double held = 0;
		metrics_get(fam, labels, &held);
		metrics_add(fam, labels, held + (double)n);
	}
}

static void collect_requests(struct metrics_family *fam, void *arg)
{
	collect(fam, arg, offsetof(struct l2_addr, requests));
}

static void collect_responses(struct metrics_family *fam, void *arg)
{
	collect(fam, arg, offsetof(struct l2_addr, responses));
}

static void collect_gratuitous(struct metrics_family *fam, void *arg)
{
	collect(fam, arg, offsetof(struct l2_addr, gratuitous));
}

static void schedule_retry(struct l2_engine *e)
{
	if (!ev_is_active(&e->retry)) {
		ev_timer_set(&e->retry, RETRY_INTERVAL, 0.0);
		ev_timer_start(e->loop, &e->retry);
	}
}

/* --- interface usability --- */

/* MetalLB's default excluded interface names: prefixes, except "lo"
 * which must match whole. */
static const char *const excluded_prefixes[] = {
	"docker", "cbr", "dummy", "virbr", "lxcbr", "veth", "cali", "tunl",
	"flannel", "kube-ipvs", "cni", "nodelocaldns", "lxc",
};

static const char *excluded_name(const char *name)
{
	if (strcmp(name, "lo") == 0)
		return "lo";
	for (size_t i = 0; i < ARRAY_SIZE(excluded_prefixes); i++)
		if (str_has_prefix(name, excluded_prefixes[i]))
			return excluded_prefixes[i];
	return NULL;
}

/* Why ifc cannot carry announcements (into why), or NULL when it can.
 * by_name applies the excluded-names rule, which an explicit interface
 * list overrides. */
static const char *iface_unusable(const struct l2_engine *e, const struct l2_iface *ifc,
				  bool by_name, char why[REASON_MAX])
{
	if (ifc->flags & IFF_LOOPBACK)
		return "loopback";
	if (ifc->type != ARPHRD_ETHER || !ifc->has_mac)
		return "not an Ethernet interface";
	if (!(ifc->flags & IFF_UP))
		return "down";
	if (!l2_iface_is_up(ifc))
		return "no link (operstate not up)";
	if (!(ifc->flags & IFF_BROADCAST))
		return "not broadcast-capable";
	if (ifc->flags & IFF_NOARP)
		return "NOARP";
	if (ifc->master) {
		char buf[L2_IFACE_NAME_MAX];
		snprintf(why, REASON_MAX, "enslaved to %s", iface_name(e, ifc->master, buf));
		return why;
	}
	const char *p = by_name ? excluded_name(ifc->name) : NULL;
	if (p) {
		snprintf(why, REASON_MAX, "name matches %s%s (used only when listed)", p,
			 strcmp(p, "lo") == 0 ? "" : "*");
		return why;
	}
	return NULL;
}

static bool addr_wants(const struct l2_engine *e, const struct l2_addr *a,
		       const struct l2_iface *ifc)
{
	char why[REASON_MAX];

	if (a->all)
		return iface_unusable(e, ifc, true, why) == NULL;
	for (size_t i = 0; i < a->nifnames; i++)
		if (strcmp(a->ifnames[i], ifc->name) == 0)
			return iface_unusable(e, ifc, false, why) == NULL;
	return false;
}

/* --- addresses --- */

static int addr_cmp_key(const void *key, const void *elem)
{
	const struct ip_addr *k = key;
	const struct l2_addr *const *a = elem;
	return ip_cmp(k, AIP(*a));
}

/* The key of an address in e->conflicts: family, then its bytes. */
static size_t addr_key(const struct ip_addr *addr, uint8_t key[17])
{
	key[0] = (uint8_t)addr->family;
	ip_to_bytes(addr, key + 1);
	return addr->family == IP_FAMILY_V4 ? 5 : 17;
}

static struct l2_addr *addr_find(const struct l2_engine *e, const struct ip_addr *ip)
{
	struct l2_addr **p;

	if (!e->naddrs)
		return NULL;
	p = xbsearch(ip, e->addrs, e->naddrs, sizeof(*e->addrs), addr_cmp_key);
	return p ? *p : NULL;
}

static struct l2_ann *ann_find(const struct l2_addr *a, int ifindex)
{
	for (size_t i = 0; i < a->nanns; i++)
		if (ann_at(a, i)->ifindex == ifindex)
			return ann_at(a, i);
	return NULL;
}

/* --- packet sockets --- */

/* Only ARP (the bound protocol already selects it; the filter makes it
 * explicit). */
static struct sock_filter arp_filter[] = {
	BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, 0xffff),
	BPF_STMT(BPF_RET | BPF_K, 0),
};

/* Only ICMPv6 Neighbor Solicitations (type 135), directly after the IPv6
 * header (offset 14 + 40) or after one hop-by-hop options header. */
static struct sock_filter ndp_filter[] = {
	/* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
	/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 14),
	/* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),            /* next header */
	/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 9, 0),
	/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 11),
	/* 5 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),            /* its next header */
	/* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 9),
	/* 7 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 55),            /* its length ... */
	/* 8 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),
	/* 9 */ BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 3),            /* ... in bytes */
	/* 10 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
	/* 11 */ BPF_STMT(BPF_LD | BPF_B | BPF_IND, 54),           /* ICMPv6 type */
	/* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 135, 2, 3),
	/* 13 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),           /* ICMPv6 type */
	/* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 135, 0, 1),
	/* 15 */ BPF_STMT(BPF_RET | BPF_K, 0xffff),
	/* 16 */ BPF_STMT(BPF_RET | BPF_K, 0),
};

/* A non-blocking packet socket on ifindex for one EtherType, with its
 * filter attached before it is bound (a socket of protocol 0 receives
 * nothing until then, so no unfiltered frame is ever queued). */
static int packet_socket(int ifindex, uint16_t proto, struct sock_filter *code, size_t len)
{
	struct sock_fprog prog = { .len = (unsigned short)len, .filter = code };
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(proto),
		.sll_ifindex = ifindex,
	};
	int fd, err, one = 1;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		goto fail;
	/* Our own frames are of no interest (kernels before 4.20 lack the
	 * option; the receive path checks the packet type as well). */
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static int send_frame(struct l2_port *p, int fd, const struct wbuf *w, const struct l2_addr *a,
		      const char *what)
{
	if (fd < 0)
		return -1;
	if (send(fd, w->p, w->len, 0) == (ssize_t)w->len)
		return 0;
	log_warn("sending frame failed", "what", what, "ip", ADDR_IP(a), "service", a->service,
		 "iface", p->name, "error", strerror(errno), NULL);
	return -1;
}

/* --- multicast groups --- */

/* The group's address. */
static struct ip_addr group_addr(const struct mc_group *g)
{
	struct ip_addr low = {.v = g->low24, .family = IP_FAMILY_V6}, sn;
	ndp_solicited_node(&low, &sn);
	return sn;
}

static int group_link(struct l2_port *p, struct mc_group *g, bool join)
{
	struct packet_mreq mr = {
		.mr_ifindex = p->ifindex,
		.mr_type = PACKET_MR_MULTICAST,
		.mr_alen = L2_MAC_LEN,
	};

	struct ip_addr ga = group_addr(g);
	if (ndp_multicast_mac(&ga, mr.mr_address) < 0 || p->ndp_fd < 0)
		return -1;
	int op = join ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP;
	return setsockopt(p->ndp_fd, SOL_PACKET, op, &mr, sizeof(mr));
}

static void group_mreq(const struct l2_port *p, const struct mc_group *g, struct ipv6_mreq *mr)
{
	memset(mr, 0, sizeof(*mr));
	struct ip_addr ga = group_addr(g);
	ip_to_bytes(&ga, mr->ipv6mr_multiaddr.s6_addr);
	mr->ipv6mr_interface = (unsigned)p->ifindex;
}

/* Join g through one of the port's UDP sockets; a socket runs out of
 * option memory after some hundreds of groups (optmem_max), and then
 * another one is opened. */
static int group_mld_join(struct l2_port *p, struct mc_group *g)
{
	struct ipv6_mreq mr;

	group_mreq(p, g, &mr);
	for (size_t i = 0;; i++) {
		if (i == p->nmld) {
			int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				return -1;
			p->mld = xrealloc(p->mld, (p->nmld + 1) * sizeof(*p->mld));
			p->mld[p->nmld++] = fd;
		}
		int r = setsockopt(p->mld[i], IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mr, sizeof(mr));
		if (r == 0) {
			g->mld_sock = (int16_t)i;
			return 0;
		}
		if (errno != ENOBUFS && errno != ENOMEM)
			return -1;
	}
}

static void group_mld_leave(struct l2_port *p, struct mc_group *g)
{
	struct ipv6_mreq mr;

	if (g->mld_sock < 0)
		return;
	group_mreq(p, g, &mr);
	setsockopt(p->mld[g->mld_sock], IPPROTO_IPV6, IPV6_DROP_MEMBERSHIP, &mr, sizeof(mr));
	g->mld_sock = -1;
}

/* Make the joins of g match its reference count (join what is missing). */
static void port_allmulti(struct l2_port *p)
{
	if (p->allmulti || p->ndp_fd < 0)
		return;
	struct packet_mreq mr = {.mr_ifindex = p->ifindex, .mr_type = PACKET_MR_ALLMULTI};
	if (setsockopt(p->ndp_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) == 0)
		p->allmulti = true;
	else
		log_warn("receiving all multicast failed; solicitations for the addresses past "
			 "the joined groups may be missed", "iface", p->name, "error",
			 strerror(errno), NULL);
}

static bool group_settled(const struct l2_port *p, const struct mc_group *g)
{
	if (!g->joined)   /* past the cap: all multicast instead */
		return p->allmulti || p->ndp_fd < 0;
	return (g->link_joined || p->ndp_fd < 0) && g->mld_sock >= 0;
}

/* Join what g misses; whether it is settled then (nothing more to try
 * until something changes, group_settled()). */
static bool group_sync(struct l2_port *p, struct mc_group *g)
{
	char gs[IP_STR_MAX];
	struct ip_addr ga;

	if (g->joined && (g->link_joined || p->ndp_fd < 0) && g->mld_sock >= 0)
		return true;
	ga = group_addr(g);
	if (!g->joined) {
		if (p->njoined >= L2_MC_JOIN_MAX) {
			if (!p->cap_logged) {
				p->cap_logged = true;
				char n[32];
				snprintf(n, sizeof(n), "%d", L2_MC_JOIN_MAX);
				log_warn("more solicited-node groups than are joined one by one; "
					 "receiving all multicast instead, MLD reports sent for the "
					 "first groups only (an MLD-snooping switch must flood to "
					 "this port)",
					 "iface", p->name, "joined", n, NULL);
			}
			port_allmulti(p);
			return group_settled(p, g);
		}
		g->joined = true;
		p->njoined++;
	}

	if (!g->link_joined && p->ndp_fd >= 0) {
		if (group_link(p, g, true) == 0) {
			g->link_joined = true;
			g->link_warned = false;
		} else if (!g->link_warned) {
			g->link_warned = true;
			log_warn("joining link-layer multicast group failed", "group",
				 ip_format(&ga, gs), "iface", p->name, "error",
				 strerror(errno), NULL);
		}
	}
	if (g->mld_sock < 0) {
		if (group_mld_join(p, g) == 0) {
			g->mld_warned = false;
		} else if (!g->mld_warned) {
			/* Retried on the next change of the interface (IPv6
			 * being enabled on it brings a link-local address). */
			g->mld_warned = true;
			log_warn("joining IPv6 multicast group failed; snooping switches may not forward solicitations",
				 "group", ip_format(&ga, gs), "iface", p->name, "error",
				 strerror(errno), NULL);
		}
	}
	return group_settled(p, g);
}

/* Every group of p again, when one may gain a join. */
static void groups_sync(struct l2_port *p, bool force)
{
	if (!force && !p->groups_unsettled)
		return;
	bool settled = true;
	for (size_t i = 0; i < p->ngroups; i++)
		settled &= group_sync(p, &p->groups[i]);
	p->groups_unsettled = !settled;
}

/* The position of the group with these low 24 bits in p->groups, or
 * where it would go. */
static size_t group_pos(const struct l2_port *p, uint32_t low24)
{
	size_t lo = 0, hi = p->ngroups;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->groups[mid].low24 < low24)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint32_t addr_low24(const struct ip_addr *addr)
{
	return (uint32_t)(addr->v & 0xffffff);
}

static void group_ref(struct l2_port *p, const struct ip_addr *addr)
{
	if (addr->family != IP_FAMILY_V6)
		return;
	uint32_t low = addr_low24(addr);
	size_t i = group_pos(p, low);
	if (i == p->ngroups || p->groups[i].low24 != low) {
		/* Addresses are mostly taken in ascending order: the new
		 * group usually goes at the end. */
		VEC_PUSH(p->groups, p->ngroups);
		memmove(&p->groups[i + 1], &p->groups[i],
			(p->ngroups - 1 - i) * sizeof(*p->groups));
		memset(&p->groups[i], 0, sizeof(p->groups[i]));
		p->groups[i].low24 = low;
		p->groups[i].mld_sock = -1;
	}
	struct mc_group *g = &p->groups[i];
	if (g->refs++ == 0 && !group_sync(p, g))
		p->groups_unsettled = true;
}

static void group_unref(struct l2_port *p, const struct ip_addr *addr)
{
	if (addr->family != IP_FAMILY_V6)
		return;
	uint32_t low = addr_low24(addr);
	size_t i = group_pos(p, low);
	if (i == p->ngroups || p->groups[i].low24 != low)
		return;
	struct mc_group *g = &p->groups[i];
	if (--g->refs > 0)
		return;
	if (g->link_joined)
		group_link(p, g, false);
	group_mld_leave(p, g);
	if (g->joined) {
		/* Below the cap again: a group past it may join now. */
		if (p->njoined-- >= L2_MC_JOIN_MAX)
			p->groups_unsettled = true;
	}
	memmove(&p->groups[i], &p->groups[i + 1], (p->ngroups - 1 - i) * sizeof(*p->groups));
	p->ngroups--;
}

/* --- ports --- */

static struct l2_port *port_find(const struct l2_engine *e, int ifindex)
{
	for (size_t i = 0; i < e->nports; i++)
		if (e->ports[i]->ifindex == ifindex)
			return e->ports[i];
	return NULL;
}

static void port_close_sockets(struct l2_port *p)
{
	struct l2_engine *e = p->e;

	if (p->arp_fd >= 0) {
		ev_io_stop(e->loop, &p->arp_w);
		close(p->arp_fd);
		p->arp_fd = -1;
	}
	if (p->ndp_fd >= 0) {
		ev_io_stop(e->loop, &p->ndp_w);
		close(p->ndp_fd);
		p->ndp_fd = -1;
	}
	/* Link-layer memberships belong to the IPv6 packet socket. */
	for (size_t i = 0; i < p->ngroups; i++)
		p->groups[i].link_joined = false;
	p->allmulti = false;
	p->groups_unsettled = true;
}

static void on_arp(struct ev_loop *loop, ev_io *w, int revents);
static void on_ndp(struct ev_loop *loop, ev_io *w, int revents);

static int port_open_sockets(struct l2_port *p)
{
	struct l2_engine *e = p->e;

	if (p->arp_fd < 0) {
		p->arp_fd = packet_socket(p->ifindex, ETH_P_ARP, arp_filter,
					  ARRAY_SIZE(arp_filter));
		if (p->arp_fd < 0)
			goto fail;
		ev_io_set(&p->arp_w, p->arp_fd, EV_READ);
		ev_io_start(e->loop, &p->arp_w);
	}
	if (p->ndp_fd < 0) {
		p->ndp_fd = packet_socket(p->ifindex, ETH_P_IPV6, ndp_filter,
					  ARRAY_SIZE(ndp_filter));
		if (p->ndp_fd < 0)
			goto fail;
		ev_io_set(&p->ndp_w, p->ndp_fd, EV_READ);
		ev_io_start(e->loop, &p->ndp_w);
	}
	groups_sync(p, true);
	if (p->failed)
		log_info("interface sockets reopened", "iface", p->name, NULL);
	p->failed = false;
	return 0;
fail:
	if (!p->failed)
		log_error("cannot open packet socket", "iface", p->name, "error", strerror(errno),
			  "retry_in_s", "5", NULL);
	port_close_sockets(p);
	p->failed = true;
	schedule_retry(e);
	return -1;
}

static void port_fail(struct l2_port *p, const char *what, int err)
{
	log_error("packet socket error, reopening later", "iface", p->name, "socket", what, "error",
		  strerror(err), "retry_in_s", "5", NULL);
	port_close_sockets(p);
	p->failed = true;
	schedule_retry(p->e);
}

static struct l2_port *port_get(struct l2_engine *e, const struct l2_iface *ifc)
{
	struct l2_port *p = port_find(e, ifc->index);

	if (p)
		return p;
	p = xcalloc(1, sizeof(*p));
	p->e = e;
	p->ifindex = ifc->index;
	memcpy(p->name, ifc->name, sizeof(p->name));
	p->arp_fd = p->ndp_fd = -1;
	ev_init(&p->arp_w, on_arp);
	ev_init(&p->ndp_w, on_ndp);
	p->arp_w.data = p->ndp_w.data = p;
	*VEC_PUSH(e->ports, e->nports) = p;
	port_open_sockets(p);
	return p;
}

static void port_free(struct l2_engine *e, size_t i)
{
	struct l2_port *p = e->ports[i];

	port_close_sockets(p);
	for (size_t j = 0; j < p->nmld; j++)
		close(p->mld[j]);
	free(p->mld);
	free(p->groups);
	free(p);
	e->ports[i] = e->ports[--e->nports];
}

/* --- gratuitous announcements --- */

/* The IPv6 source of unsolicited advertisements on ifc: its link-local
 * address, or the advertised address itself when it has none usable. */
static struct ip_addr na_source(const struct l2_iface *ifc, const struct l2_addr *a)
{
	struct ip_addr src;

	if (l2_iface_link_local(ifc, &src))
		return src;
	return addr_ip(a);
}

static void garp_send(struct l2_engine *e, struct l2_ann *ann)
{
	struct l2_addr *a = ann_addr(ann);
	struct l2_port *p = port_find(e, ann->ifindex);
	const struct l2_iface *ifc = l2_iface_find(e->ifs, ann->ifindex);
	uint8_t buf[L2_FRAME_MAX];
	struct wbuf w;

	if (!p || !ifc || !ifc->has_mac || p->failed)
		return;
	if (a->family == IP_FAMILY_V4) {
		/* RFC 5227 §3: both forms, since some stacks update their
		 * caches from only one of them. */
		static const enum arp_op ops[] = { ARP_OP_REQUEST, ARP_OP_REPLY };
		for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
			wbuf_init_fixed(&w, buf, sizeof(buf));
			if (arp_build_gratuitous(&w, ops[i], ifc->mac, AIP(a)) < 0)
				continue;
			if (send_frame(p, p->arp_fd, &w, a, "gratuitous ARP") == 0)
				count(e, e->m_gratuitous, a, &a->gratuitous);
		}
		return;
	}
	struct ip_addr src = na_source(ifc, a);
	wbuf_init_fixed(&w, buf, sizeof(buf));
	if (ndp_build_unsolicited_na(&w, ifc->mac, &src, AIP(a)) < 0)
		return;
	if (send_frame(p, p->ndp_fd, &w, a, "unsolicited neighbor advertisement") == 0)
		count(e, e->m_gratuitous, a, &a->gratuitous);
}

int l2_garp_offset(const struct l2_engine_opts *o, unsigned r, double *at)
{
	/* The burst: round 0 always, the others while before duration. */
	unsigned nb = 1;
	while (o->garp_burst_gap > 0 && nb < o->garp_burst && nb * o->garp_burst_gap < o->garp_duration)
		nb++;
	if (r < nb) {
		*at = r * o->garp_burst_gap;
		return 0;
	}
	r -= nb;
	double last = (nb - 1) * o->garp_burst_gap;
	/* Interval rounds the burst has not already covered. */
	if (o->garp_interval > 0) {
		unsigned k = 1;
		while (k * o->garp_interval <= last + 1e-9)
			k++;
		for (; k * o->garp_interval < o->garp_duration; k++) {
			last = k * o->garp_interval;
			if (r == 0) {
				*at = last;
				return 0;
			}
			r--;
		}
	}
	if (o->gratuitous_interval > 0) {
		*at = last + (r + 1) * o->gratuitous_interval;
		return 0;
	}
	return -1;
}

/* --- the heap of gratuitous rounds --- */

static void rounds_put(struct l2_engine *e, size_t i, struct l2_ann *ann)
{
	e->rounds[i] = ann;
	ann->heap_pos = (uint32_t)(i + 1);
}

static void rounds_up(struct l2_engine *e, size_t i)
{
	struct l2_ann *x = e->rounds[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (e->rounds[parent]->due <= x->due)
			break;
		rounds_put(e, i, e->rounds[parent]);
		i = parent;
	}
	rounds_put(e, i, x);
}

static void rounds_down(struct l2_engine *e, size_t i)
{
	struct l2_ann *x = e->rounds[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= e->nrounds)
			break;
		if (c + 1 < e->nrounds && e->rounds[c + 1]->due < e->rounds[c]->due)
			c++;
		if (x->due <= e->rounds[c]->due)
			break;
		rounds_put(e, i, e->rounds[c]);
		i = c;
	}
	rounds_put(e, i, x);
}

static void rounds_remove(struct l2_engine *e, struct l2_ann *ann)
{
	if (!ann->heap_pos)
		return;
	size_t i = ann->heap_pos - 1;
	ann->heap_pos = 0;
	struct l2_ann *last = e->rounds[--e->nrounds];
	if (last == ann)
		return;
	rounds_put(e, i, last);
	rounds_up(e, i);
	rounds_down(e, last->heap_pos - 1);
}

/* ann's next round is at ann->due: into the heap, or moved in it. */
static void rounds_set(struct l2_engine *e, struct l2_ann *ann)
{
	if (!ann->heap_pos) {
		if (e->nrounds == e->caprounds) {
			e->caprounds = e->caprounds ? 2 * e->caprounds : 16;
			e->rounds = xrealloc(e->rounds, e->caprounds * sizeof(*e->rounds));
		}
		rounds_put(e, e->nrounds++, ann);
	}
	rounds_up(e, ann->heap_pos - 1);
	rounds_down(e, ann->heap_pos - 1);
}

/* The timer follows the earliest round. */
static void rounds_arm(struct l2_engine *e)
{
	if (!e->nrounds) {
		ev_timer_stop(e->loop, &e->rounds_w);
		free(e->rounds);
		e->rounds = NULL;
		e->caprounds = 0;
		return;
	}
	double delay = e->rounds[0]->due - ev_now(e->loop);
	ev_timer_stop(e->loop, &e->rounds_w);
	ev_timer_set(&e->rounds_w, delay > 0 ? delay : 0, 0.0);
	ev_timer_start(e->loop, &e->rounds_w);
}

/* Schedule the round after garp_round, or none when the schedule has no
 * more.  Rounds are due at start + offset, so a late wake-up does not push
 * the later ones back.  The caller arms the timer (rounds_arm()). */
static void garp_schedule(struct l2_engine *e, struct l2_ann *ann)
{
	double at;

	if (l2_garp_offset(&e->garp, ann->garp_round, &at) < 0) {
		rounds_remove(e, ann);
		return;
	}
	ann->due = ann->garp_start + at;
	rounds_set(e, ann);
}

static void on_rounds(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct l2_engine *e = w->data;
	/* Due now, within the timer's resolution. */
	double now = ev_now(loop) + 1e-6;

	while (e->nrounds && e->rounds[0]->due <= now) {
		struct l2_ann *ann = e->rounds[0];
		garp_send(e, ann);
		ann->garp_round++;
		garp_schedule(e, ann);
	}
	rounds_arm(e);
}

/* A takeover on this interface: one round now, the rest from the timer. */
static void garp_start(struct l2_engine *e, struct l2_ann *ann)
{
	ev_now_update(e->loop);
	ann->garp_start = ev_now(e->loop);
	ann->garp_round = 0;
	garp_send(e, ann);
	ann->garp_round = 1;
	garp_schedule(e, ann);
	rounds_arm(e);
}

/* --- announcements --- */

static void ann_add(struct l2_engine *e, struct l2_addr *a, const struct l2_iface *ifc)
{
	struct l2_port *p = port_get(e, ifc);
	struct l2_ann *ann = &a->first;

	if (a->nanns) {
		struct l2_ann_more *m = xcalloc(1, sizeof(*m));
		m->a = a;
		ann = &m->ann;
		a->more = xrealloc(a->more, a->nanns * sizeof(*a->more));
		a->more[a->nanns - 1] = ann;
	} else {
		memset(ann, 0, sizeof(*ann));
		ann->in_record = true;
	}
	a->nanns++;
	ann->ifindex = ifc->index;
	p->nanns++;
	if (a->family == IP_FAMILY_V6)
		group_ref(p, AIP(a));
	/* What the node now does for the address, in the words of the guide's
	 * troubleshooting (`grep -i neighbor` for NDP). */
	log_info("announcing address", "ip", ADDR_IP(a), "service", a->service, "iface", ifc->name,
		 "answers",
		 a->family == IP_FAMILY_V6 ? "neighbor solicitations (NDP)" : "ARP requests",
		 NULL);
	garp_start(e, ann);
}

static void ann_remove(struct l2_engine *e, struct l2_addr *a, size_t i, const char *why)
{
	struct l2_ann *ann = ann_at(a, i);
	struct l2_port *p = port_find(e, ann->ifindex);
	char buf[L2_IFACE_NAME_MAX];

	rounds_remove(e, ann);
	rounds_arm(e);
	if (p) {
		if (a->family == IP_FAMILY_V6)
			group_unref(p, AIP(a));
		p->nanns--;
	}
	log_info("stopped announcing address", "ip", ADDR_IP(a), "service", a->service, "iface",
		 p ? p->name : iface_name(e, ann->ifindex, buf), "reason", why, NULL);
	/* The last announcement takes the place of the removed one. */
	size_t last = a->nanns - 1U;
	if (i == 0 && last > 0) {
		/* Into the record, its place in the heap of rounds with it
		 * (due when it was). */
		struct l2_ann *m = a->more[last - 1];
		a->first = *m;
		a->first.in_record = true;
		if (m->heap_pos)
			rounds_put(e, m->heap_pos - 1, &a->first);
		free(m);
	} else if (i > 0) {
		free(ann);
		a->more[i - 1] = a->more[last - 1];
	}
	a->nanns--;
	if (a->nanns <= 1) {
		free(a->more);
		a->more = NULL;
	}
}

/* --- installed addresses --- */

static void vip_install(struct l2_engine *e, struct l2_addr *a)
{
	const struct l2_iface *dev;

	if (!e->install_vips || a->vip == VIP_INSTALLED || a->vip == VIP_FOREIGN)
		return;
	dev = l2_iface_find_name(e->ifs, e->vip_device);
	if (!dev) {
		if (!e->vip_device_missing_logged)
			log_error("device for service addresses not found, waiting for it", "iface",
				  e->vip_device, NULL);
		e->vip_device_missing_logged = true;
		return;
	}
	int r = l2_iface_addr_add(dev->index, AIP(a));
	if (r < 0) {
		if (a->vip != VIP_FAILED)
			log_error("cannot add service address to device", "ip", ADDR_IP(a), "service",
				  a->service, "iface", dev->name, "error", strerror(errno),
				  "retry_in_s", "5", NULL);
		a->vip = VIP_FAILED;
		schedule_retry(e);
		return;
	}
	a->vip_ifindex = dev->index;
	a->vip = r == 0 ? VIP_INSTALLED : VIP_FOREIGN;
	if (r == 0)
		log_info("service address added to device", "ip", ADDR_IP(a), "service", a->service,
			 "iface", dev->name, NULL);
	else
		log_info("service address already on device, left as it is", "ip", ADDR_IP(a),
			 "service", a->service, "iface", dev->name, NULL);
}

static void vip_remove(struct l2_engine *e, struct l2_addr *a)
{
	char buf[L2_IFACE_NAME_MAX];

	if (a->vip == VIP_INSTALLED) {
		const char *dev = iface_name(e, a->vip_ifindex, buf);
		if (l2_iface_addr_del(a->vip_ifindex, AIP(a)) == 0 || errno == EADDRNOTAVAIL ||
		    errno == ENODEV)
			log_info("service address removed from device", "ip", ADDR_IP(a), "service",
				 a->service, "iface", dev, NULL);
		else
			log_error("cannot remove service address from device", "ip", ADDR_IP(a),
				  "service", a->service, "iface", dev, "error", strerror(errno),
				  NULL);
	}
	a->vip = VIP_NONE;
}

/* --- reconciliation --- */

static void addr_withdraw_all(struct l2_engine *e, struct l2_addr *a, const char *why)
{
	while (a->nanns)
		ann_remove(e, a, a->nanns - 1, why);
}

/* One address: its announcements follow the interfaces it wants. */
static void reconcile_addr(struct l2_engine *e, struct l2_addr *a, size_t nifs)
{
	for (size_t j = a->nanns; j-- > 0;) {
		const struct l2_iface *ifc = l2_iface_find(e->ifs, ann_at(a, j)->ifindex);
		if (!ifc)
			ann_remove(e, a, j, "interface gone");
		else if (!addr_wants(e, a, ifc))
			ann_remove(e, a, j, "interface not usable or not selected");
	}
	for (size_t k = 0; k < nifs; k++) {
		const struct l2_iface *ifc = l2_iface_at(e->ifs, k);
		if (addr_wants(e, a, ifc) && !ann_find(a, ifc->index))
			ann_add(e, a, ifc);
	}
}

/* Ports without announcements close; the others follow their interface. */
static void reconcile_ports(struct l2_engine *e)
{
	for (size_t i = e->nports; i-- > 0;) {
		struct l2_port *p = e->ports[i];
		if (p->nanns == 0) {
			port_free(e, i);
			continue;
		}
		const struct l2_iface *ifc = l2_iface_find(e->ifs, p->ifindex);
		if (ifc)
			memcpy(p->name, ifc->name, sizeof(p->name));
		groups_sync(p, false);
	}
}

static void reconcile(struct l2_engine *e)
{
	size_t nifs;

	if (!e->running)
		return;
	nifs = l2_iface_count(e->ifs);
	for (size_t i = 0; i < e->naddrs; i++)
		reconcile_addr(e, e->addrs[i], nifs);
	reconcile_ports(e);
	for (size_t i = 0; i < e->naddrs; i++)
		vip_install(e, e->addrs[i]);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct l2_engine *e = w->data;

	if (!e->running)
		return;
	for (size_t i = 0; i < e->nports; i++) {
		struct l2_port *p = e->ports[i];
		if (!p->failed || port_open_sockets(p) < 0)
			continue;
		/* Sockets back: what the neighbours missed meanwhile is
		 * announced again. */
		for (size_t j = 0; j < e->naddrs; j++) {
			struct l2_ann *ann = ann_find(e->addrs[j], p->ifindex);
			if (ann)
				garp_start(e, ann);
		}
	}
	reconcile(e);
}

/* --- receiving --- */

static void count_invalid(struct l2_engine *e, struct l2_port *p, enum l2_result why)
{
	if ((unsigned)why < L2_RESULT_COUNT)
		e->invalid[why]++;
	log_debug("frame ignored", "iface", p->name, "reason", l2_result_name(why), NULL);
}

/* Read up to READ_BUDGET frames and hand each to fn.  On a socket error
 * the port is failed and reading stops. */
static void read_frames(struct l2_port *p, int fd, const char *what,
			void (*fn)(struct l2_port *p, const uint8_t *f, size_t n))
{
	struct l2_engine *e = p->e;

	for (int i = 0; i < READ_BUDGET && fd >= 0; i++) {
		struct sockaddr_ll sll;
		socklen_t slen = sizeof(sll);
		ssize_t n = recvfrom(fd, e->rx, sizeof(e->rx), 0, (struct sockaddr *)&sll, &slen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			/* packet(7): the socket reports ENETDOWN once when its
			 * interface goes down, and keeps working once it is
			 * up again; the interface table handles the rest. */
			if (errno == ENETDOWN)
				continue;
			port_fail(p, what, errno);
			return;
		}
		/* Our own frames, and unicast frames to other hosts seen in
		 * promiscuous mode, are never answered. */
		if (sll.sll_pkttype == PACKET_OUTGOING || sll.sll_pkttype == PACKET_OTHERHOST)
			continue;
		fn(p, e->rx, (size_t)n);
	}
}

static bool is_local_mac(const struct l2_engine *e, const uint8_t mac[L2_MAC_LEN])
{
	for (size_t i = 0; i < l2_iface_count(e->ifs); i++) {
		const struct l2_iface *ifc = l2_iface_at(e->ifs, i);
		if (ifc->has_mac && memcmp(ifc->mac, mac, L2_MAC_LEN) == 0)
			return true;
	}
	return false;
}

static void handle_arp(struct l2_port *p, const uint8_t *frame, size_t len)
{
	struct l2_engine *e = p->e;
	const struct l2_iface *ifc = l2_iface_find(e->ifs, p->ifindex);
	struct arp_msg m;
	enum l2_result why;
	struct l2_addr *a;

	if (arp_parse(frame, len, &m, &why) < 0) {
		count_invalid(e, p, why);
		return;
	}
	if (!ifc || !ifc->has_mac)
		return;
	/* Someone else announcing or answering for an owned address (our own
	 * frames from another interface on the same segment excepted). */
	a = addr_find(e, &m.spa);
	if (a && ann_find(a, p->ifindex) && !is_local_mac(e, m.sha)) {
		ev_tstamp now = ev_now(e->loop);
		uint8_t key[17];
		size_t klen = addr_key(AIP(a), key);
		ev_tstamp *logged = hashmap_get(&e->conflicts, key, klen);
		if (!logged) {
			logged = xcalloc(1, sizeof(*logged));
			hashmap_put(&e->conflicts, key, klen, logged, NULL);
		}
		if (*logged == 0 || now - *logged >= CONFLICT_LOG_INTERVAL) {
			char mac[L2_MAC_STR_MAX];
			*logged = now;
			log_warn("another host claims an owned address", "ip", ADDR_IP(a), "service",
				 a->service, "iface", p->name, "mac", l2_mac_format(m.sha, mac),
				 NULL);
		}
	}
	if (m.op != ARP_OP_REQUEST)
		return;
	if (memcmp(m.eth.dst, mac_broadcast, L2_MAC_LEN) != 0 &&
	    memcmp(m.eth.dst, ifc->mac, L2_MAC_LEN) != 0)
		return;
	/* RFC 5227 §2.3: sender IP = target IP is an announcement of the
	 * sender's own address, not a question; it is never answered.  A
	 * probe (RFC 5227 §2.1.1, sender IP 0.0.0.0) is a question, and
	 * answering it is how the address is defended. */
	if (ip_eq(&m.spa, &m.tpa))
		return;
	a = addr_find(e, &m.tpa);
	if (!a || !ann_find(a, p->ifindex))
		return;
	count(e, e->m_requests, a, &a->requests);

	uint8_t buf[L2_FRAME_MAX];
	struct wbuf w;
	wbuf_init_fixed(&w, buf, sizeof(buf));
	if (arp_build_reply(&w, &m, ifc->mac, AIP(a)) < 0)
		return;
	if (send_frame(p, p->arp_fd, &w, a, "ARP reply") == 0)
		count(e, e->m_responses, a, &a->responses);
}

static void handle_ns(struct l2_port *p, const uint8_t *frame, size_t len)
{
	struct l2_engine *e = p->e;
	const struct l2_iface *ifc = l2_iface_find(e->ifs, p->ifindex);
	struct ndp_ns ns;
	enum l2_result why;
	struct ip_addr sn;
	struct l2_addr *a;

	if (ndp_parse_ns(frame, len, &ns, &why) < 0) {
		count_invalid(e, p, why);
		return;
	}
	if (!ifc || !ifc->has_mac)
		return;
	/* RFC 4861 §7.2.3 answers a solicitation for one of the interface's
	 * addresses, sent to it (unicast, to our MAC) or to its
	 * solicited-node group (at that group's MAC). */
	ndp_solicited_node(&ns.target, &sn);
	if (ip_eq(&ns.dst, &ns.target)) {
		if (memcmp(ns.eth.dst, ifc->mac, L2_MAC_LEN) != 0)
			return;
	} else if (ip_eq(&ns.dst, &sn)) {
		uint8_t gmac[L2_MAC_LEN];
		ndp_multicast_mac(&sn, gmac);
		if (memcmp(ns.eth.dst, gmac, L2_MAC_LEN) != 0)
			return;
	} else {
		return;
	}
	a = addr_find(e, &ns.target);
	if (!a || !ann_find(a, p->ifindex))
		return;
	count(e, e->m_requests, a, &a->requests);

	/* The answer comes from the address asked about, as the kernel's own
	 * answers do: resolvers that compare the answer's scope with the
	 * question's (ndisc6 among them) ignore a link-local source for a
	 * global target. */
	uint8_t buf[L2_FRAME_MAX];
	struct wbuf w;
	wbuf_init_fixed(&w, buf, sizeof(buf));
	if (ndp_build_na(&w, &ns, ifc->mac, AIP(a)) < 0)
		return;
	if (send_frame(p, p->ndp_fd, &w, a, "neighbor advertisement") == 0)
		count(e, e->m_responses, a, &a->responses);
}

static void on_arp(struct ev_loop *loop, ev_io *w, int revents)
{
	struct l2_port *p = w->data;
	read_frames(p, p->arp_fd, "arp", handle_arp);
}

static void on_ndp(struct ev_loop *loop, ev_io *w, int revents)
{
	struct l2_port *p = w->data;
	read_frames(p, p->ndp_fd, "ndp", handle_ns);
}

/* --- interface events --- */

static struct seen_iface *seen_find(struct l2_engine *e, int index)
{
	for (size_t i = 0; i < e->nseen; i++)
		if (e->seen[i].index == index)
			return &e->seen[i];
	return NULL;
}

static void log_iface(const char *msg, const struct l2_iface *ifc, const char *why, bool info)
{
	char idx[16], mac[L2_MAC_STR_MAX] = "";

	snprintf(idx, sizeof(idx), "%d", ifc->index);
	if (ifc->has_mac)
		l2_mac_format(ifc->mac, mac);
	if (info)
		log_info(msg, "iface", ifc->name, "index", idx, "mac", mac, why ? "reason" : NULL,
			 why, NULL);
	else
		log_debug(msg, "iface", ifc->name, "index", idx, "mac", mac, why ? "reason" : NULL,
			  why, NULL);
}

static void seen_update(struct l2_engine *e, const struct l2_iface *ifc, bool added)
{
	char why[REASON_MAX];
	const char *reason = iface_unusable(e, ifc, true, why);
	struct seen_iface *s = seen_find(e, ifc->index);

	if (!s) {
		s = VEC_PUSH(e->seen, e->nseen);
		s->index = ifc->index;
		s->usable = reason == NULL;
		memcpy(s->name, ifc->name, sizeof(s->name));
		/* Container interfaces come and go by the hundred: only
		 * usable ones are worth an info line. */
		log_iface(added ? "interface appeared" : "interface found", ifc, reason,
			  reason == NULL);
		return;
	}
	if (strcmp(s->name, ifc->name) != 0) {
		log_info("interface renamed", "iface", ifc->name, "old", s->name, NULL);
		memcpy(s->name, ifc->name, sizeof(s->name));
	}
	if (s->usable != (reason == NULL)) {
		s->usable = reason == NULL;
		log_iface(reason ? "interface unusable" : "interface usable", ifc, reason, true);
	}
}

static void seen_remove(struct l2_engine *e, const struct l2_iface *ifc)
{
	struct seen_iface *s = seen_find(e, ifc->index);

	log_iface("interface gone", ifc, NULL, s && s->usable);
	if (s)
		*s = e->seen[--e->nseen];
}

static void on_iface(void *arg, const struct l2_iface *ifc, enum l2_iface_event ev,
		     unsigned changed)
{
	struct l2_engine *e = arg;

	switch (ev) {
	case L2_IFACE_ADDED:
		seen_update(e, ifc, true);
		break;
	case L2_IFACE_CHANGED:
		seen_update(e, ifc, false);
		break;
	case L2_IFACE_REMOVED:
		seen_remove(e, ifc);
		/* Its addresses went with it. */
		for (size_t i = 0; i < e->naddrs; i++)
			if (e->addrs[i]->vip_ifindex == ifc->index &&
			    e->addrs[i]->vip != VIP_NONE) {
				e->addrs[i]->vip = VIP_NONE;
				e->addrs[i]->vip_ifindex = 0;
			}
		break;
	}
	reconcile(e);

	/* A new MAC makes the neighbours' caches wrong: announce again on
	 * that interface. */
	if (ev == L2_IFACE_CHANGED && (changed & L2_IFACE_CH_MAC)) {
		for (size_t i = 0; i < e->naddrs; i++) {
			struct l2_ann *ann = ann_find(e->addrs[i], ifc->index);
			if (ann) {
				char mac[L2_MAC_STR_MAX];
				log_info("interface MAC changed, announcing again", "ip",
					 ADDR_IP(e->addrs[i]), "service", e->addrs[i]->service, "iface",
					 ifc->name, "mac", l2_mac_format(ifc->mac, mac), NULL);
				garp_start(e, ann);
			}
		}
	}
}

/* --- public API --- */

static struct metrics_family *family(struct metrics_registry *reg, const char *name,
				     const char *help)
{
	static const char *const labels[] = { "ip", NULL };
	struct metrics_family *f;

	if (!reg)
		return NULL;
	f = metrics_family_find(reg, name);
	if (!f)
		f = metrics_family_add(reg, name, help, METRICS_COUNTER, labels);
	return f;
}

struct l2_engine *l2_engine_new(struct ev_loop *loop, struct metrics_registry *reg,
				const struct l2_engine_opts *opts)
{
	struct l2_engine *e = xcalloc(1, sizeof(*e));
	slab_init(&e->addr_slab, sizeof(struct l2_addr));

	e->loop = loop;
	e->install_vips = opts && opts->install_vips;
	e->vip_device = xstrdup(opts && opts->vip_device && opts->vip_device[0] ? opts->vip_device
									      : DEFAULT_VIP_DEVICE);
	e->garp.garp_interval = opts && opts->garp_interval > 0 ? opts->garp_interval
								 : DEFAULT_GARP_INTERVAL;
	e->garp.garp_duration = opts && opts->garp_duration > 0 ? opts->garp_duration
								 : DEFAULT_GARP_DURATION;
	e->garp.garp_burst = opts && opts->garp_burst > 0 ? opts->garp_burst : DEFAULT_GARP_BURST;
	e->garp.garp_burst_gap = opts && opts->garp_burst_gap > 0 ? opts->garp_burst_gap
								   : DEFAULT_GARP_BURST_GAP;
	e->garp.gratuitous_interval = opts && opts->gratuitous_interval > 0
					      ? opts->gratuitous_interval
					      : 0;
	e->m_requests = family(reg, "metallb_layer2_requests_received",
			       "Number of layer2 requests received for owned IPs");
	e->m_responses = family(reg, "metallb_layer2_responses_sent",
				"Number of layer2 responses sent for owned IPs in response to requests");
	e->m_gratuitous = family(reg, "metallb_layer2_gratuitous_sent",
				 "Number of gratuitous layer2 packets sent for owned IPs as a result of failovers");
	if (e->m_requests)
		metrics_family_set_collector(e->m_requests, collect_requests, e);
	if (e->m_responses)
		metrics_family_set_collector(e->m_responses, collect_responses, e);
	if (e->m_gratuitous)
		metrics_family_set_collector(e->m_gratuitous, collect_gratuitous, e);
	hashmap_init(&e->conflicts, true);
	ev_init(&e->rounds_w, on_rounds);
	e->rounds_w.data = e;
	ev_init(&e->retry, on_retry);
	e->retry.data = e;
	return e;
}

static bool have_cap(int cap)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) != 0)
		return true;    /* cannot tell: let the operation itself fail */
	return d[cap / 32].effective & (1u << (cap % 32));
}

int l2_engine_start(struct l2_engine *e)
{
	if (e->running)
		return 0;
	/* Fail now, with a reason, rather than on the first takeover. */
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;
		if (err == EPERM || err == EACCES)
			log_error("layer2 needs raw sockets: missing CAP_NET_RAW (run as root or grant the capability)",
				  "error", strerror(err), NULL);
		else
			log_error("cannot open a packet socket", "error", strerror(err), NULL);
		errno = err;
		return -1;
	}
	close(fd);
	if (e->install_vips && !have_cap(CAP_NET_ADMIN)) {
		log_error("installing service addresses needs CAP_NET_ADMIN (or turn install_vips off)",
			  "iface", e->vip_device, NULL);
		errno = EPERM;
		return -1;
	}

	struct l2_iface_callback cb = { .fn = on_iface, .arg = e };
	e->ifs = l2_iface_table_new(e->loop, &cb);
	if (l2_iface_table_start(e->ifs) < 0) {
		int err = errno;
		l2_iface_table_free(e->ifs);
		e->ifs = NULL;
		errno = err;
		return -1;
	}
	for (size_t i = 0; i < l2_iface_count(e->ifs); i++)
		seen_update(e, l2_iface_at(e->ifs, i), false);
	if (e->install_vips && !l2_iface_find_name(e->ifs, e->vip_device)) {
		log_error("device for service addresses not found, waiting for it", "iface",
			  e->vip_device, NULL);
		e->vip_device_missing_logged = true;
	}
	e->running = true;
	reconcile(e);
	return 0;
}

static void addr_free(struct l2_engine *e, struct l2_addr *a)
{
	if (e && e->conflicts.n) {
		uint8_t key[17];
		void *old;
		if (hashmap_del(&e->conflicts, key, addr_key(AIP(a), key), &old))
			free(old);
	}
	for (size_t i = 0; i < a->nifnames; i++)
		free(a->ifnames[i]);
	free(a->ifnames);
	free(a->more);
	free(a->service);
	slab_free(&e->addr_slab, a);
}

/* Release an owned address: from here on nothing is sent or answered
 * for it. */
static void addr_release(struct l2_engine *e, struct l2_addr *a, const char *why)
{
	addr_withdraw_all(e, a, why);
	vip_remove(e, a);
}

void l2_engine_stop(struct l2_engine *e)
{
	if (!e->running)
		return;
	for (size_t i = 0; i < e->naddrs; i++)
		addr_release(e, e->addrs[i], "engine stopped");
	while (e->nports)
		port_free(e, e->nports - 1);
	ev_timer_stop(e->loop, &e->retry);
	ev_timer_stop(e->loop, &e->rounds_w);
	l2_iface_table_free(e->ifs);
	e->ifs = NULL;
	free(e->seen);
	e->seen = NULL;
	e->nseen = 0;
	e->running = false;
	log_info("layer2 engine stopped", NULL);
}

void l2_engine_free(struct l2_engine *e)
{
	if (!e)
		return;
	/* The families are the registry's and may outlive the engine. */
	struct metrics_family *fams[] = { e->m_requests, e->m_responses, e->m_gratuitous };
	for (size_t i = 0; i < ARRAY_SIZE(fams); i++)
		if (fams[i])
			metrics_family_set_collector(fams[i], NULL, NULL);
	l2_engine_stop(e);
	for (size_t i = 0; i < e->naddrs; i++)
		addr_free(e, e->addrs[i]);
	free(e->addrs);
	free(e->ports);
	free(e->rounds);
	struct hashmap_iter it;
	hashmap_iter_init(&it, &e->conflicts);
	while (hashmap_iter_next(&it))
		free(it.value);
	hashmap_clear(&e->conflicts);
	slab_destroy(&e->addr_slab);
	free(e->vip_device);
	free(e);
}

/* --- l2_engine_set --- */

static int owned_cmp(const void *x, const void *y)
{
	const struct l2_owned *const *a = x, *const *b = y;
	return ip_cmp(&(*a)->addr, &(*b)->addr);
}

static bool names_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* The wanted state of one address, merged from every entry of the input
 * that names it (Services sharing an address). */
static struct l2_addr *want_build(struct l2_engine *e, const struct l2_owned *const *in, size_t n)
{
	struct l2_addr *w = slab_alloc(&e->addr_slab);
	size_t svclen = 0;

	addr_set_ip(w, &in[0]->addr);
	for (size_t i = 0; i < n; i++) {
		const char *svc = in[i]->service ? in[i]->service : "";
		size_t l = strlen(svc);
		w->service = xrealloc(w->service, svclen + l + 2);
		if (svclen)
			w->service[svclen++] = ',';
		memcpy(w->service + svclen, svc, l + 1);
		svclen += l;
		if (in[i]->all_interfaces || in[i]->ninterfaces == 0)
			w->all = true;
		for (size_t j = 0; j < in[i]->ninterfaces; j++) {
			const char *name = in[i]->interfaces[j];
			if (name && !names_has(w->ifnames, w->nifnames, name) &&
			    w->nifnames < UINT16_MAX) {
				size_t k = w->nifnames;
				*VEC_PUSH(w->ifnames, k) = xstrdup(name);
				w->nifnames = (uint16_t)k;
			}
		}
	}
	if (w->all) {
		for (size_t i = 0; i < w->nifnames; i++)
			free(w->ifnames[i]);
		free(w->ifnames);
		w->ifnames = NULL;
		w->nifnames = 0;
	}
	return w;
}

static bool same_selection(const struct l2_addr *a, const struct l2_addr *b)
{
	if (a->all != b->all || a->nifnames != b->nifnames)
		return false;
	for (size_t i = 0; i < a->nifnames; i++)
		if (!names_has(b->ifnames, b->nifnames, a->ifnames[i]))
			return false;
	return true;
}

/* "all", or the listed names joined by ','. */
static char *selection_str(const struct l2_addr *a)
{
	size_t len = 1;
	char *s;

	if (a->all)
		return xstrdup("all");
	for (size_t i = 0; i < a->nifnames; i++)
		len += strlen(a->ifnames[i]) + 1;
	s = xcalloc(1, len);
	for (size_t i = 0; i < a->nifnames; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, a->ifnames[i]);
	}
	return s;
}

/* An address held and wanted again: take the wanted version's Service
 * name and interface selection (logged when it changes); frees w. */
static void addr_take_wanted(struct l2_engine *e, struct l2_addr *a, struct l2_addr *w)
{
	if (strcmp(a->service, w->service) != 0) {
		free(a->service);
		a->service = w->service;
		w->service = NULL;
	}
	if (!same_selection(a, w)) {
		for (size_t k = 0; k < a->nifnames; k++)
			free(a->ifnames[k]);
		free(a->ifnames);
		a->all = w->all;
		a->ifnames = w->ifnames;
		a->nifnames = w->nifnames;
		w->ifnames = NULL;
		w->nifnames = 0;
		char *names = selection_str(a);
		log_info("address interfaces changed", "ip", ADDR_IP(a), "service", a->service,
			 "interfaces", names, NULL);
		free(names);
	}
	addr_free(e, w);
}

void l2_engine_set(struct l2_engine *e, const struct l2_owned *owned, size_t n)
{
	const struct l2_owned **in = xcalloc(n ? n : 1, sizeof(*in));
	struct l2_addr **want = NULL, **next = NULL;
	size_t nin = 0, nwant = 0, nnext = 0;

	for (size_t i = 0; i < n; i++) {
		if (owned[i].addr.family != IP_FAMILY_V4 && owned[i].addr.family != IP_FAMILY_V6) {
			log_warn("owned address of unknown family ignored", "service",
				 owned[i].service, NULL);
			continue;
		}
		in[nin++] = &owned[i];
	}
	xqsort(in, nin, sizeof(*in), owned_cmp);
	for (size_t i = 0; i < nin;) {
		size_t j = i + 1;
		while (j < nin && ip_eq(&in[j]->addr, &in[i]->addr))
			j++;
		*VEC_PUSH(want, nwant) = want_build(e, in + i, j - i);
		i = j;
	}
	free(in);

	/* Merge the sorted old and wanted lists. */
	size_t i = 0, j = 0;
	while (i < e->naddrs || j < nwant) {
		int c = i == e->naddrs ? 1
			: j == nwant   ? -1
				       : ip_cmp(AIP(e->addrs[i]), AIP(want[j]));
		if (c < 0) {
			struct l2_addr *a = e->addrs[i++];
			addr_release(e, a, "address released");
			log_info("address released", "ip", ADDR_IP(a), "service", a->service, NULL);
			counters_fold(e, a);
			addr_free(e, a);
		} else if (c > 0) {
			struct l2_addr *w = want[j++];
			char *names = selection_str(w);
			log_info("address taken", "ip", ADDR_IP(w), "service", w->service, "interfaces",
				 names, NULL);
			free(names);
			*VEC_PUSH(next, nnext) = w;
		} else {
			struct l2_addr *a = e->addrs[i++];
			addr_take_wanted(e, a, want[j++]);
			*VEC_PUSH(next, nnext) = a;
		}
	}
	free(want);
	free(e->addrs);
	e->addrs = next;
	e->naddrs = nnext;
	reconcile(e);
}

/* The position of addr in e->addrs (sorted), or where it would go. */
static size_t addr_pos(const struct l2_engine *e, const struct ip_addr *addr)
{
	size_t lo = 0, hi = e->naddrs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ip_cmp(AIP(e->addrs[mid]), addr) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void l2_engine_update(struct l2_engine *e, const struct l2_owned *owned, size_t n,
		      const struct ip_addr *gone, size_t ngone)
{
	size_t nifs = e->running ? l2_iface_count(e->ifs) : 0;
	for (size_t k = 0; k < ngone; k++) {
		size_t i = addr_pos(e, &gone[k]);
		if (i == e->naddrs || !ip_eq(AIP(e->addrs[i]), &gone[k]))
			continue;
		struct l2_addr *a = e->addrs[i];
		addr_release(e, a, "address released");
		log_info("address released", "ip", ADDR_IP(a), "service", a->service, NULL);
		counters_fold(e, a);
		addr_free(e, a);
		memmove(&e->addrs[i], &e->addrs[i + 1], (e->naddrs - i - 1) * sizeof(*e->addrs));
		e->naddrs--;
	}
	for (size_t k = 0; k < n; k++) {
		if (owned[k].addr.family != IP_FAMILY_V4 && owned[k].addr.family != IP_FAMILY_V6)
			continue;
		const struct l2_owned *in = &owned[k];
		struct l2_addr *w = want_build(e, &in, 1);
		size_t i = addr_pos(e, AIP(w));
		struct l2_addr *a = NULL;
		if (i < e->naddrs && ip_eq(AIP(e->addrs[i]), AIP(w))) {
			a = e->addrs[i];
			addr_take_wanted(e, a, w);
		} else {
			char *names = selection_str(w);
			log_info("address taken", "ip", ADDR_IP(w), "service", w->service, "interfaces",
				 names, NULL);
			free(names);
			e->addrs = xrealloc(e->addrs, (e->naddrs + 1) * sizeof(*e->addrs));
			memmove(&e->addrs[i + 1], &e->addrs[i], (e->naddrs - i) * sizeof(*e->addrs));
			e->addrs[i] = w;
			e->naddrs++;
			a = w;
		}
		if (e->running) {
			reconcile_addr(e, a, nifs);
			vip_install(e, a);
		}
	}
	if (e->running)
		reconcile_ports(e);
}

/* --- status --- */

void l2_engine_status_write(const struct l2_engine *e, struct jw *w)
{
	char buf[L2_IFACE_NAME_MAX];

	jw_obj_begin(w);
	jw_key(w, "interfaces");
	jw_arr_begin(w);
	for (size_t i = 0; e->ifs && i < l2_iface_count(e->ifs); i++) {
		const struct l2_iface *ifc = l2_iface_at(e->ifs, i);
		char why[REASON_MAX], mac[L2_MAC_STR_MAX] = "";
		const char *reason = iface_unusable(e, ifc, true, why);
		if (ifc->has_mac)
			l2_mac_format(ifc->mac, mac);
		jw_obj_begin(w);
		jw_kstr(w, "name", ifc->name);
		jw_kint(w, "index", ifc->index);
		jw_kstr(w, "mac", mac);
		if (ifc->kind[0])
			jw_kstr(w, "kind", ifc->kind);
		struct ip_addr ll;
		char lls[IP_STR_MAX];
		if (l2_iface_link_local(ifc, &ll))
			jw_kstr(w, "link_local", ip_format(&ll, lls));
		jw_kbool(w, "usable", reason == NULL);
		if (reason)
			jw_kstr(w, "reason", reason);
		const struct l2_port *p = port_find(e, ifc->index);
		if (p && p->failed)
			jw_kstr(w, "error", "sockets failed, retrying");
		jw_obj_end(w);
	}
	jw_arr_end(w);
	/* One entry per owned address, possibly tens of thousands: written
	 * as they are read, never held as a tree. */
	jw_key(w, "addresses");
	jw_arr_begin(w);
	for (size_t i = 0; i < e->naddrs; i++) {
		const struct l2_addr *a = e->addrs[i];
		jw_obj_begin(w);
		jw_kstr(w, "ip", ADDR_IP(a));
		jw_kstr(w, "service", a->service);
		jw_key(w, "interfaces");
		jw_arr_begin(w);
		for (size_t j = 0; j < a->nanns; j++)
			jw_str(w, iface_name(e, ann_at(a, j)->ifindex, buf));
		jw_arr_end(w);
		jw_kint(w, "requests", (long long)a->requests);
		jw_kint(w, "responses", (long long)a->responses);
		jw_kint(w, "gratuitous", (long long)a->gratuitous);
		if (e->install_vips)
			jw_kstr(w, "vip", vip_state_name[a->vip]);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_key(w, "invalid_frames");
	jw_obj_begin(w);
	for (size_t r = 0; r < L2_RESULT_COUNT; r++)
		if (e->invalid[r])
			jw_kint(w, l2_result_name((enum l2_result)r), (long long)e->invalid[r]);
	jw_obj_end(w);
	jw_obj_end(w);
}

json_t *l2_engine_status_json(const struct l2_engine *e)
{
	struct jw w;
	jw_init(&w, false);
	l2_engine_status_write(e, &w);
	char *text = jw_finish(&w, NULL);
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	return v;
}

size_t l2_engine_announced_on(const struct l2_engine *e, const struct ip_addr *addr,
			      char names[][L2_IFACE_NAME_MAX], size_t max)
{
	const struct l2_addr *a = addr_find(e, addr);
	size_t n = 0;
	for (size_t j = 0; a && j < a->nanns && n < max; j++, n++) {
		char buf[L2_IFACE_NAME_MAX];
		snprintf(names[n], L2_IFACE_NAME_MAX, "%s",
			 iface_name(e, ann_at(a, j)->ifindex, buf));
	}
	return n;
}
