/*
 * The rtnetlink interface table (see iface.h).
 *
 * Links are kept in an array sorted by index.  Each entry remembers the
 * generation of the last listing that showed it, and so does each of its
 * link-local addresses: after a full listing (the recovery from lost
 * notifications) whatever carries an older generation is gone.
 *
 * The monitoring socket is non-blocking and read from an ev_io; listings
 * and address changes use short-lived blocking sockets of their own, so
 * that replies never mix with notifications.
 */
#include "l2/iface.h"

#include <errno.h>
#include <ev.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

/* RFC 2863 ifOperStatus values, as rtnetlink reports them (IF_OPER_*). */
#define OPER_UNKNOWN 0
#define OPER_UP 6

/* A listing arrives in messages of up to 32 KiB (libmnl's dump size). */
#define NL_BUF_SIZE 32768
/* Room for notifications that arrive while the loop is busy; past it the
 * kernel drops them and reports ENOBUFS, and the table lists again. */
#define NL_RCVBUF (1 << 20)
/* A listing that changes under the kernel's feet is flagged
 * NLM_F_DUMP_INTR; it is retried this many times before being used. */
#define DUMP_TRIES 5

struct iface_entry {
	struct l2_iface pub;
	unsigned gen;
	unsigned *ll_gen;       /* parallel to pub.ll */
};

struct l2_iface_table {
	struct ev_loop *loop;
	struct l2_iface_callback cb;
	struct mnl_socket *mon;
	ev_io mon_w;
	bool quiet;             /* no callbacks: the first listing */
	unsigned gen;
	bool dump_intr;
	struct iface_entry **v; /* sorted by index */
	size_t n;
	uint8_t *buf;
};

/* --- message parsing --- */

struct attrs {
	const struct nlattr *tb[IFLA_MAX + 1 > IFA_MAX + 1 ? IFLA_MAX + 1 : IFA_MAX + 1];
	int max;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct attrs *at = data;
	int type = mnl_attr_get_type(a);

	/* Attributes newer than these headers are skipped, not refused. */
	if (type > at->max)
		return MNL_CB_OK;
	at->tb[type] = a;
	return MNL_CB_OK;
}

static int linkinfo_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **kind = data;

	if (mnl_attr_get_type(a) == IFLA_INFO_KIND)
		*kind = a;
	return MNL_CB_OK;
}

int l2_iface_parse_link(const struct nlmsghdr *nlh, struct l2_iface *out)
{
	struct attrs at = { .max = IFLA_MAX };
	const struct ifinfomsg *ifi;

	memset(out, 0, sizeof(*out));
	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return -1;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return -1;
	ifi = mnl_nlmsg_get_payload(nlh);
	/* Bridge port messages (AF_BRIDGE) describe a port's role in its
	 * bridge, not the link; an RTM_DELLINK of that family means the
	 * port left the bridge, not that the link is gone. */
	if (ifi->ifi_family != AF_UNSPEC || ifi->ifi_index <= 0)
		return -1;
	if (mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, &at) < 0)
		return -1;

	out->index = ifi->ifi_index;
	out->flags = ifi->ifi_flags;
	out->type = ifi->ifi_type;
	out->operstate = OPER_UNKNOWN;

	const struct nlattr *a = at.tb[IFLA_IFNAME];
	if (!a || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return -1;
	const char *name = mnl_attr_get_str(a);
	if (name[0] == '\0' || strlen(name) >= sizeof(out->name))
		return -1;
	strcpy(out->name, name);

	a = at.tb[IFLA_ADDRESS];
	if (a && mnl_attr_get_payload_len(a) == L2_MAC_LEN) {
		memcpy(out->mac, mnl_attr_get_payload(a), L2_MAC_LEN);
		out->has_mac = true;
	}
	a = at.tb[IFLA_MASTER];
	if (a && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		out->master = (int)mnl_attr_get_u32(a);
	a = at.tb[IFLA_OPERSTATE];
	if (a && mnl_attr_validate(a, MNL_TYPE_U8) == 0)
		out->operstate = mnl_attr_get_u8(a);
	a = at.tb[IFLA_LINKINFO];
	if (a && mnl_attr_validate(a, MNL_TYPE_NESTED) == 0) {
		const struct nlattr *kind = NULL;
		if (mnl_attr_parse_nested(a, linkinfo_cb, &kind) >= 0 && kind &&
		    mnl_attr_validate(kind, MNL_TYPE_NUL_STRING) == 0) {
			const char *k = mnl_attr_get_str(kind);
			if (strlen(k) < sizeof(out->kind))
				strcpy(out->kind, k);
		}
	}
	return 0;
}

int l2_iface_parse_addr(const struct nlmsghdr *nlh, int *index, struct ip_addr *addr,
			uint32_t *flags)
{
	struct attrs at = { .max = IFA_MAX };
	const struct ifaddrmsg *ifa;

	if (nlh->nlmsg_type != RTM_NEWADDR && nlh->nlmsg_type != RTM_DELADDR)
		return -1;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifa)))
		return -1;
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_family != AF_INET6 || ifa->ifa_index == 0)
		return -1;
	if (mnl_attr_parse(nlh, sizeof(*ifa), attr_cb, &at) < 0)
		return -1;
	/* rtnetlink(7): for IPv6, IFA_ADDRESS is the local address;
	 * IFA_LOCAL appears only on point-to-point links, and then it is
	 * the local one. */
	const struct nlattr *a = at.tb[IFA_LOCAL] ? at.tb[IFA_LOCAL] : at.tb[IFA_ADDRESS];
	if (!a || mnl_attr_get_payload_len(a) != 16)
		return -1;
	*index = (int)ifa->ifa_index;
	*addr = ip_from_bytes(IP_FAMILY_V6, mnl_attr_get_payload(a));
	*flags = ifa->ifa_flags;
	if (at.tb[IFA_FLAGS] && mnl_attr_validate(at.tb[IFA_FLAGS], MNL_TYPE_U32) == 0)
		*flags = mnl_attr_get_u32(at.tb[IFA_FLAGS]);
	return 0;
}

/* fe80::/10 (RFC 4291 §2.5.6). */
static bool is_link_local(const struct ip_addr *a)
{
	return a->family == IP_FAMILY_V6 && (uint16_t)(a->v >> 112 & 0xffc0) == 0xfe80;
}

bool l2_iface_link_local(const struct l2_iface *ifc, struct ip_addr *out)
{
	for (size_t i = 0; i < ifc->nll; i++) {
		/* RFC 4862 §5.4: a tentative address is not yet ours to use
		 * as a source. */
		if (ifc->ll[i].flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))
			continue;
		*out = ifc->ll[i].addr;
		return true;
	}
	return false;
}

bool l2_iface_is_up(const struct l2_iface *ifc)
{
	return (ifc->flags & IFF_UP) &&
	       (ifc->operstate == OPER_UP || ifc->operstate == OPER_UNKNOWN);
}

/* --- the table --- */

static void notify(struct l2_iface_table *t, const struct l2_iface *ifc, enum l2_iface_event ev,
		   unsigned changed)
{
	if (!t->quiet && t->cb.fn)
		t->cb.fn(t->cb.arg, ifc, ev, changed);
}

/* Position of index in the sorted array, or where it would go. */
static size_t find_pos(const struct l2_iface_table *t, int index, bool *found)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->v[mid]->pub.index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < t->n && t->v[lo]->pub.index == index;
	return lo;
}

static struct iface_entry *entry_find(const struct l2_iface_table *t, int index)
{
	bool found;
	size_t i = find_pos(t, index, &found);
	return found ? t->v[i] : NULL;
}

static void entry_free(struct iface_entry *en)
{
	free(en->pub.ll);
	free(en->ll_gen);
	free(en);
}

static void link_update(struct l2_iface_table *t, const struct l2_iface *in)
{
	bool found;
	size_t pos = find_pos(t, in->index, &found);

	if (!found) {
		struct iface_entry *en = xcalloc(1, sizeof(*en));
		en->pub = *in;
		en->gen = t->gen;
		t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
		memmove(t->v + pos + 1, t->v + pos, (t->n - pos) * sizeof(*t->v));
		t->v[pos] = en;
		t->n++;
		notify(t, &en->pub, L2_IFACE_ADDED, 0);
		return;
	}

	struct iface_entry *en = t->v[pos];
	struct l2_iface *cur = &en->pub;
	unsigned changed = 0;
	en->gen = t->gen;
	if (strcmp(cur->name, in->name) != 0)
		changed |= L2_IFACE_CH_NAME;
	if (cur->flags != in->flags)
		changed |= L2_IFACE_CH_FLAGS;
	if (cur->type != in->type)
		changed |= L2_IFACE_CH_TYPE;
	if (cur->has_mac != in->has_mac || memcmp(cur->mac, in->mac, L2_MAC_LEN) != 0)
		changed |= L2_IFACE_CH_MAC;
	if (cur->master != in->master)
		changed |= L2_IFACE_CH_MASTER;
	if (strcmp(cur->kind, in->kind) != 0)
		changed |= L2_IFACE_CH_KIND;
	if (cur->operstate != in->operstate)
		changed |= L2_IFACE_CH_OPERSTATE;
	if (!changed)
		return;
	memcpy(cur->name, in->name, sizeof(cur->name));
	cur->flags = in->flags;
	cur->type = in->type;
	cur->has_mac = in->has_mac;
	memcpy(cur->mac, in->mac, L2_MAC_LEN);
	cur->master = in->master;
	memcpy(cur->kind, in->kind, sizeof(cur->kind));
	cur->operstate = in->operstate;
	notify(t, cur, L2_IFACE_CHANGED, changed);
}

static void link_remove_at(struct l2_iface_table *t, size_t pos)
{
	struct iface_entry *en = t->v[pos];

	memmove(t->v + pos, t->v + pos + 1, (t->n - pos - 1) * sizeof(*t->v));
	t->n--;
	notify(t, &en->pub, L2_IFACE_REMOVED, 0);
	entry_free(en);
}

static void link_remove(struct l2_iface_table *t, int index)
{
	bool found;
	size_t pos = find_pos(t, index, &found);

	if (found)
		link_remove_at(t, pos);
}

static void ll_update(struct l2_iface_table *t, bool add, int index, const struct ip_addr *addr,
		      uint32_t flags)
{
	struct iface_entry *en = entry_find(t, index);
	struct l2_iface *ifc;
	size_t i;

	if (!en || !is_link_local(addr))
		return;
	ifc = &en->pub;
	for (i = 0; i < ifc->nll; i++)
		if (ip_eq(&ifc->ll[i].addr, addr))
			break;
	if (add) {
		if (i == ifc->nll) {
			ifc->ll = xrealloc(ifc->ll, (ifc->nll + 1) * sizeof(*ifc->ll));
			en->ll_gen = xrealloc(en->ll_gen, (ifc->nll + 1) * sizeof(*en->ll_gen));
			ifc->ll[i].addr = *addr;
			ifc->ll[i].flags = flags;
			en->ll_gen[i] = t->gen;
			ifc->nll++;
			notify(t, ifc, L2_IFACE_CHANGED, L2_IFACE_CH_LL);
			return;
		}
		en->ll_gen[i] = t->gen;
		if (ifc->ll[i].flags == flags)
			return;
		ifc->ll[i].flags = flags;
		notify(t, ifc, L2_IFACE_CHANGED, L2_IFACE_CH_LL);
		return;
	}
	if (i == ifc->nll)
		return;
	memmove(ifc->ll + i, ifc->ll + i + 1, (ifc->nll - i - 1) * sizeof(*ifc->ll));
	memmove(en->ll_gen + i, en->ll_gen + i + 1, (ifc->nll - i - 1) * sizeof(*en->ll_gen));
	ifc->nll--;
	notify(t, ifc, L2_IFACE_CHANGED, L2_IFACE_CH_LL);
}

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct l2_iface_table *t = data;
	struct l2_iface ifc;
	struct ip_addr addr;
	uint32_t flags;
	int index;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		t->dump_intr = true;
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
		if (l2_iface_parse_link(nlh, &ifc) == 0)
			link_update(t, &ifc);
		break;
	case RTM_DELLINK:
		if (l2_iface_parse_link(nlh, &ifc) == 0)
			link_remove(t, ifc.index);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		if (l2_iface_parse_addr(nlh, &index, &addr, &flags) == 0)
			ll_update(t, nlh->nlmsg_type == RTM_NEWADDR, index, &addr, flags);
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

int l2_iface_table_input(struct l2_iface_table *t, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;

	if (len > (size_t)INT32_MAX)
		return -1;
	while (mnl_nlmsg_ok(nlh, left))
		nlh = mnl_nlmsg_next(nlh, &left);
	if (left != 0)
		return -1;
	return mnl_cb_run(buf, len, 0, 0, msg_cb, t) < 0 ? -1 : 0;
}

/* Drop the links, and the link-local addresses, that the listing of
 * generation t->gen did not show. */
static void sweep_links(struct l2_iface_table *t)
{
	for (size_t i = t->n; i-- > 0;)
		if (t->v[i]->gen != t->gen)
			link_remove_at(t, i);
}

static void sweep_addrs(struct l2_iface_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct iface_entry *en = t->v[i];
		for (size_t j = en->pub.nll; j-- > 0;) {
			if (en->ll_gen[j] == t->gen)
				continue;
			struct ip_addr a = en->pub.ll[j].addr;
			ll_update(t, false, en->pub.index, &a, 0);
		}
	}
}

/* List links (RTM_GETLINK) or IPv6 addresses (RTM_GETADDR) on a socket of
 * its own and feed every reply through msg_cb. */
static int dump_once(struct l2_iface_table *t, uint16_t type)
{
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	unsigned seq, portid;
	int ret = -1, err = 0;
	ssize_t n;

	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return -1;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	portid = mnl_socket_get_portid(nl);
	seq = (unsigned)time(NULL);

	nlh = mnl_nlmsg_put_header(t->buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	if (type == RTM_GETLINK) {
		struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_family = AF_UNSPEC;
	} else {
		struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
		ifa->ifa_family = AF_INET6;
	}
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto out;
	for (;;) {
		n = mnl_socket_recvfrom(nl, t->buf, NL_BUF_SIZE);
		if (n < 0)
			goto out;
		int r = mnl_cb_run(t->buf, (size_t)n, seq, portid, msg_cb, t);
		if (r < 0)
			goto out;
		if (r == MNL_CB_STOP)
			break;
	}
	ret = 0;
out:
	err = errno;
	mnl_socket_close(nl);
	errno = err;
	return ret;
}

static int dump(struct l2_iface_table *t, uint16_t type)
{
	for (int i = 0; i < DUMP_TRIES; i++) {
		t->dump_intr = false;
		if (dump_once(t, type) < 0)
			return -1;
		if (!t->dump_intr)
			return 0;
	}
	/* Still changing: what was read is used, and the notifications
	 * that the changes caused will complete it. */
	return 0;
}

static int list_all(struct l2_iface_table *t)
{
	t->gen++;
	if (dump(t, RTM_GETLINK) < 0)
		return -1;
	sweep_links(t);
	if (dump(t, RTM_GETADDR) < 0)
		return -1;
	sweep_addrs(t);
	return 0;
}

static void on_monitor(struct ev_loop *loop, ev_io *w, int revents)
{
	struct l2_iface_table *t = w->data;

	/* Bounded, so that a flood of changes cannot starve the loop; what
	 * is left is read on the next iteration. */
	for (int i = 0; i < 64; i++) {
		ssize_t n = mnl_socket_recvfrom(t->mon, t->buf, NL_BUF_SIZE);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			if (errno == ENOBUFS) {
				log_warn("interface notifications lost, listing interfaces again",
					 NULL);
				if (list_all(t) < 0)
					log_error("cannot list interfaces", "error",
						  strerror(errno), NULL);
				continue;
			}
			log_error("reading interface notifications failed", "error",
				  strerror(errno), NULL);
			return;
		}
		mnl_cb_run(t->buf, (size_t)n, 0, 0, msg_cb, t);
	}
}

struct l2_iface_table *l2_iface_table_new(struct ev_loop *loop, const struct l2_iface_callback *cb)
{
	struct l2_iface_table *t = xcalloc(1, sizeof(*t));

	t->loop = loop;
	if (cb)
		t->cb = *cb;
	t->buf = xmalloc(NL_BUF_SIZE);
	ev_init(&t->mon_w, on_monitor);
	t->mon_w.data = t;
	return t;
}

int l2_iface_table_start(struct l2_iface_table *t)
{
	int err;

	if (t->mon)
		return 0;
	t->mon = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!t->mon) {
		err = errno;
		log_error("cannot open rtnetlink socket", "error", strerror(err), NULL);
		errno = err;
		return -1;
	}
	int rcvbuf = NL_RCVBUF;
	setsockopt(mnl_socket_get_fd(t->mon), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_bind(t->mon, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	unsigned groups[] = { RTNLGRP_LINK, RTNLGRP_IPV6_IFADDR };
	for (size_t i = 0; i < ARRAY_SIZE(groups); i++) {
		int g = (int)groups[i];
		if (mnl_socket_setsockopt(t->mon, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0)
			goto fail;
	}
	t->quiet = true;
	int r = list_all(t);
	t->quiet = false;
	if (r < 0)
		goto fail;
	if (t->loop) {
		ev_io_set(&t->mon_w, mnl_socket_get_fd(t->mon), EV_READ);
		ev_io_start(t->loop, &t->mon_w);
	}
	return 0;
fail:
	err = errno;
	log_error("cannot follow interfaces through rtnetlink", "error", strerror(err), NULL);
	mnl_socket_close(t->mon);
	t->mon = NULL;
	errno = err;
	return -1;
}

void l2_iface_table_free(struct l2_iface_table *t)
{
	if (!t)
		return;
	if (t->mon) {
		if (t->loop)
			ev_io_stop(t->loop, &t->mon_w);
		mnl_socket_close(t->mon);
	}
	for (size_t i = 0; i < t->n; i++)
		entry_free(t->v[i]);
	free(t->v);
	free(t->buf);
	free(t);
}

size_t l2_iface_count(const struct l2_iface_table *t)
{
	return t->n;
}

const struct l2_iface *l2_iface_at(const struct l2_iface_table *t, size_t i)
{
	return i < t->n ? &t->v[i]->pub : NULL;
}

const struct l2_iface *l2_iface_find(const struct l2_iface_table *t, int index)
{
	struct iface_entry *en = entry_find(t, index);
	return en ? &en->pub : NULL;
}

const struct l2_iface *l2_iface_find_name(const struct l2_iface_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i]->pub.name, name) == 0)
			return &t->v[i]->pub;
	return NULL;
}

/* --- adding and removing addresses --- */

static int addr_request(uint16_t type, uint16_t flags, int ifindex, const struct ip_addr *addr)
{
	uint8_t buf[512];
	uint8_t bytes[16];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	unsigned seq, portid;
	int ret = -1, err;
	bool v6 = addr->family == IP_FAMILY_V6;
	size_t alen = v6 ? 16 : 4;

	if (addr->family != IP_FAMILY_V4 && !v6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	ip_to_bytes(addr, bytes);
	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return -1;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	portid = mnl_socket_get_portid(nl);
	seq = (unsigned)time(NULL);

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = seq;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = v6 ? AF_INET6 : AF_INET;
	ifa->ifa_prefixlen = v6 ? 128 : 32;
	ifa->ifa_flags = v6 ? IFA_F_NODAD : 0;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, alen, bytes);
	mnl_attr_put(nlh, IFA_ADDRESS, alen, bytes);
	if (v6)
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto out;
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		goto out;
	/* The acknowledgement is an NLMSG_ERROR with error 0; mnl_cb_run()
	 * turns a non-zero error into -1 and errno. */
	if (mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL) < 0)
		goto out;
	ret = 0;
out:
	err = errno;
	mnl_socket_close(nl);
	errno = err;
	return ret;
}

int l2_iface_addr_add(int ifindex, const struct ip_addr *addr)
{
	if (addr_request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, addr) == 0)
		return 0;
	return errno == EEXIST ? 1 : -1;
}

int l2_iface_addr_del(int ifindex, const struct ip_addr *addr)
{
	return addr_request(RTM_DELADDR, 0, ifindex, addr);
}
