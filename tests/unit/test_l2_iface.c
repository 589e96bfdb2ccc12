/*
 * Tests for src/l2/iface.c: the message parsers and the table's update
 * rules on hand-built rtnetlink messages, then (as root, in a network
 * namespace of its own, entered by the last test) the table following a
 * real kernel and the address add/remove requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_skip.h"

#include <errno.h>
#include <ev.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "l2/iface.h"

#define OPER_UP 6
#define OPER_DOWN 2

static const uint8_t mac1[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t mac2[6] = { 0x02, 0, 0, 0, 0, 0x02 };

/* --- message builders --- */

struct link_spec {
	uint16_t type;          /* RTM_NEWLINK / RTM_DELLINK */
	uint8_t family;
	int index;
	unsigned flags;
	const char *name;       /* NULL: no IFLA_IFNAME */
	const uint8_t *mac;
	size_t maclen;
	int master;
	int operstate;          /* -1: none */
	const char *kind;
};

static struct nlmsghdr *put_link(void *buf, const struct link_spec *s)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = s->type;
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = s->family;
	ifi->ifi_type = ARPHRD_ETHER;
	ifi->ifi_index = s->index;
	ifi->ifi_flags = s->flags;
	if (s->name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, s->name);
	if (s->mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, s->maclen, s->mac);
	if (s->master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)s->master);
	if (s->operstate >= 0)
		mnl_attr_put_u8(nlh, IFLA_OPERSTATE, (uint8_t)s->operstate);
	if (s->kind) {
		struct nlattr *nest = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, s->kind);
		mnl_attr_nest_end(nlh, nest);
	}
	return nlh;
}

static struct link_spec eth(int index, const char *name)
{
	struct link_spec s = {
		.type = RTM_NEWLINK,
		.family = AF_UNSPEC,
		.index = index,
		.flags = IFF_UP | IFF_BROADCAST | IFF_MULTICAST,
		.name = name,
		.mac = mac1,
		.maclen = 6,
		.operstate = OPER_UP,
	};
	return s;
}

static struct nlmsghdr *put_addr(void *buf, uint16_t type, uint8_t family, int index,
				 const char *addr, uint8_t ifa_flags, int64_t ext_flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = family;
	ifa->ifa_prefixlen = 64;
	ifa->ifa_flags = ifa_flags;
	ifa->ifa_index = (unsigned)index;
	struct ip_addr a;
	uint8_t b[16];
	assert_int_equal(ip_parse(addr, &a, NULL, 0), 0);
	ip_to_bytes(&a, b);
	mnl_attr_put(nlh, IFA_ADDRESS, a.family == IP_FAMILY_V6 ? 16 : 4, b);
	if (ext_flags >= 0)
		mnl_attr_put_u32(nlh, IFA_FLAGS, (uint32_t)ext_flags);
	return nlh;
}

/* --- parsers --- */

static void test_parse_link(void **state)
{
	uint8_t buf[1024];
	struct l2_iface ifc;
	struct link_spec s = eth(7, "eth0.100");
	s.master = 3;
	s.kind = "vlan";

	assert_int_equal(l2_iface_parse_link(put_link(buf, &s), &ifc), 0);
	assert_int_equal(ifc.index, 7);
	assert_string_equal(ifc.name, "eth0.100");
	assert_int_equal(ifc.flags, IFF_UP | IFF_BROADCAST | IFF_MULTICAST);
	assert_int_equal(ifc.type, ARPHRD_ETHER);
	assert_true(ifc.has_mac);
	assert_memory_equal(ifc.mac, mac1, 6);
	assert_int_equal(ifc.master, 3);
	assert_string_equal(ifc.kind, "vlan");
	assert_int_equal(ifc.operstate, OPER_UP);
	assert_int_equal(ifc.nll, 0);
	assert_true(l2_iface_is_up(&ifc));

	/* No operstate reported: unknown, which counts as up. */
	s = eth(7, "eth0");
	s.operstate = -1;
	assert_int_equal(l2_iface_parse_link(put_link(buf, &s), &ifc), 0);
	assert_int_equal(ifc.operstate, 0);
	assert_true(l2_iface_is_up(&ifc));
	assert_string_equal(ifc.kind, "");
	assert_int_equal(ifc.master, 0);

	/* Up but without a link. */
	s.operstate = OPER_DOWN;
	assert_int_equal(l2_iface_parse_link(put_link(buf, &s), &ifc), 0);
	assert_false(l2_iface_is_up(&ifc));

	/* A 20-byte hardware address (InfiniBand) is not a MAC. */
	static const uint8_t ib[20] = { 1 };
	s = eth(7, "ib0");
	s.mac = ib;
	s.maclen = sizeof(ib);
	assert_int_equal(l2_iface_parse_link(put_link(buf, &s), &ifc), 0);
	assert_false(ifc.has_mac);
}

static void test_parse_link_refused(void **state)
{
	uint8_t buf[1024];
	struct l2_iface ifc;
	struct link_spec s;

	/* A bridge port message. */
	s = eth(7, "eth0");
	s.family = AF_BRIDGE;
	assert_int_equal(l2_iface_parse_link(put_link(buf, &s), &ifc), -1);
	/* No name, an empty name, a name too long. */
	s = eth(7, NULL);
	assert_int_equal(l2_iface_parse_link(put_link(buf, &s), &ifc), -1);
	s = eth(7, "");
	assert_int_equal(l2_iface_parse_link(put_link(buf, &s), &ifc), -1);
	s = eth(7, "abcdefghijklmnopq");
	assert_int_equal(l2_iface_parse_link(put_link(buf, &s), &ifc), -1);
	/* Index 0. */
	s = eth(0, "eth0");
	assert_int_equal(l2_iface_parse_link(put_link(buf, &s), &ifc), -1);
	/* Another message type. */
	s = eth(7, "eth0");
	struct nlmsghdr *nlh = put_link(buf, &s);
	nlh->nlmsg_type = RTM_NEWADDR;
	assert_int_equal(l2_iface_parse_link(nlh, &ifc), -1);
	/* Shorter than its header. */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	mnl_nlmsg_put_extra_header(nlh, 4);
	assert_int_equal(l2_iface_parse_link(nlh, &ifc), -1);
	/* An attribute claiming to run past the message: it and all after
	 * it are unreadable, the name among them. */
	s = eth(7, "eth0");
	nlh = put_link(buf, &s);
	struct nlattr *first = (struct nlattr *)((uint8_t *)mnl_nlmsg_get_payload(nlh) +
						 MNL_ALIGN(sizeof(struct ifinfomsg)));
	first->nla_len = 0xfff0;
	assert_int_equal(l2_iface_parse_link(nlh, &ifc), -1);
}

static void test_parse_addr(void **state)
{
	uint8_t buf[512];
	int index;
	struct ip_addr a, want;
	uint32_t flags;

	assert_int_equal(l2_iface_parse_addr(put_addr(buf, RTM_NEWADDR, AF_INET6, 4, "fe80::1",
						      IFA_F_PERMANENT, IFA_F_TENTATIVE | 0x100),
					     &index, &a, &flags),
			 0);
	assert_int_equal(index, 4);
	assert_int_equal(ip_parse("fe80::1", &want, NULL, 0), 0);
	assert_true(ip_eq(&a, &want));
	/* IFA_FLAGS wins over the 8-bit field. */
	assert_int_equal(flags, IFA_F_TENTATIVE | 0x100);

	assert_int_equal(l2_iface_parse_addr(put_addr(buf, RTM_DELADDR, AF_INET6, 4, "2001:db8::1",
						      IFA_F_NODAD, -1),
					     &index, &a, &flags),
			 0);
	assert_int_equal(flags, IFA_F_NODAD);

	/* IPv4 is not followed. */
	assert_int_equal(l2_iface_parse_addr(put_addr(buf, RTM_NEWADDR, AF_INET, 4, "192.0.2.1", 0,
						      -1),
					     &index, &a, &flags),
			 -1);
	/* Index 0, wrong type. */
	assert_int_equal(l2_iface_parse_addr(put_addr(buf, RTM_NEWADDR, AF_INET6, 0, "fe80::1", 0,
						      -1),
					     &index, &a, &flags),
			 -1);
	struct nlmsghdr *nlh = put_addr(buf, RTM_NEWADDR, AF_INET6, 4, "fe80::1", 0, -1);
	nlh->nlmsg_type = RTM_NEWLINK;
	assert_int_equal(l2_iface_parse_addr(nlh, &index, &a, &flags), -1);
}

/* --- the table on hand-built messages --- */

struct event {
	int index;
	enum l2_iface_event ev;
	unsigned changed;
	char name[16];
};

static struct event events[32];
static size_t nevents;

static void record(void *arg, const struct l2_iface *ifc, enum l2_iface_event ev, unsigned changed)
{
	assert_true(nevents < ARRAY_SIZE(events));
	events[nevents].index = ifc->index;
	events[nevents].ev = ev;
	events[nevents].changed = changed;
	snprintf(events[nevents].name, sizeof(events[nevents].name), "%s", ifc->name);
	nevents++;
}

static void feed(struct l2_iface_table *t, const struct nlmsghdr *nlh)
{
	nevents = 0;
	assert_int_equal(l2_iface_table_input(t, nlh, nlh->nlmsg_len), 0);
}

static void test_table_updates(void **state)
{
	struct l2_iface_callback cb = { .fn = record };
	struct l2_iface_table *t = l2_iface_table_new(NULL, &cb);
	uint8_t buf[1024];
	struct link_spec s = eth(5, "eth0");
	struct ip_addr ll;

	feed(t, put_link(buf, &s));
	assert_int_equal(nevents, 1);
	assert_int_equal(events[0].ev, L2_IFACE_ADDED);
	assert_int_equal(events[0].index, 5);

	/* The same again (statistics, a queue change): nothing. */
	feed(t, put_link(buf, &s));
	assert_int_equal(nevents, 0);

	/* Down, a new MAC, enslaved, renamed: one event with each bit. */
	s.flags &= ~(unsigned)IFF_UP;
	s.mac = mac2;
	s.master = 9;
	s.name = "lan0";
	s.operstate = OPER_DOWN;
	feed(t, put_link(buf, &s));
	assert_int_equal(nevents, 1);
	assert_int_equal(events[0].ev, L2_IFACE_CHANGED);
	assert_int_equal(events[0].changed, L2_IFACE_CH_FLAGS | L2_IFACE_CH_MAC |
						    L2_IFACE_CH_MASTER | L2_IFACE_CH_NAME |
						    L2_IFACE_CH_OPERSTATE);
	const struct l2_iface *ifc = l2_iface_find(t, 5);
	assert_non_null(ifc);
	assert_string_equal(ifc->name, "lan0");
	assert_memory_equal(ifc->mac, mac2, 6);
	assert_ptr_equal(l2_iface_find_name(t, "lan0"), ifc);
	assert_null(l2_iface_find_name(t, "eth0"));

	/* Link-local addresses: tentative ones are not used. */
	feed(t, put_addr(buf, RTM_NEWADDR, AF_INET6, 5, "fe80::5", 0, IFA_F_TENTATIVE));
	assert_int_equal(nevents, 1);
	assert_int_equal(events[0].changed, L2_IFACE_CH_LL);
	assert_false(l2_iface_link_local(l2_iface_find(t, 5), &ll));
	feed(t, put_addr(buf, RTM_NEWADDR, AF_INET6, 5, "fe80::5", 0, IFA_F_PERMANENT));
	assert_int_equal(nevents, 1);
	assert_true(l2_iface_link_local(l2_iface_find(t, 5), &ll));
	char s6[IP_STR_MAX];
	assert_string_equal(ip_format(&ll, s6), "fe80::5");
	/* Unchanged, a global address, an unknown link: nothing. */
	feed(t, put_addr(buf, RTM_NEWADDR, AF_INET6, 5, "fe80::5", 0, IFA_F_PERMANENT));
	assert_int_equal(nevents, 0);
	feed(t, put_addr(buf, RTM_NEWADDR, AF_INET6, 5, "2001:db8::5", 0, 0));
	assert_int_equal(nevents, 0);
	feed(t, put_addr(buf, RTM_NEWADDR, AF_INET6, 77, "fe80::77", 0, 0));
	assert_int_equal(nevents, 0);
	/* A second one; the first stays the one used until removed. */
	feed(t, put_addr(buf, RTM_NEWADDR, AF_INET6, 5, "fe80::6", 0, 0));
	assert_int_equal(l2_iface_find(t, 5)->nll, 2);
	feed(t, put_addr(buf, RTM_DELADDR, AF_INET6, 5, "fe80::5", 0, 0));
	assert_int_equal(nevents, 1);
	assert_true(l2_iface_link_local(l2_iface_find(t, 5), &ll));
	assert_string_equal(ip_format(&ll, s6), "fe80::6");

	/* A bridge port leaving its bridge is not the link going away. */
	s.type = RTM_DELLINK;
	s.family = AF_BRIDGE;
	feed(t, put_link(buf, &s));
	assert_int_equal(nevents, 0);
	assert_non_null(l2_iface_find(t, 5));

	s.family = AF_UNSPEC;
	feed(t, put_link(buf, &s));
	assert_int_equal(nevents, 1);
	assert_int_equal(events[0].ev, L2_IFACE_REMOVED);
	assert_string_equal(events[0].name, "lan0");
	assert_null(l2_iface_find(t, 5));
	assert_int_equal(l2_iface_count(t), 0);

	l2_iface_table_free(t);
}

static void test_table_order_and_framing(void **state)
{
	struct l2_iface_table *t = l2_iface_table_new(NULL, NULL);
	uint8_t buf[4096];
	size_t len = 0;
	static const int order[] = { 9, 2, 5 };

	/* Three messages in one buffer, as a listing delivers them. */
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		char name[8];
		snprintf(name, sizeof(name), "e%d", order[i]);
		struct link_spec s = eth(order[i], name);
		struct nlmsghdr *nlh = put_link(buf + len, &s);
		len += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	assert_int_equal(l2_iface_table_input(t, buf, len), 0);
	assert_int_equal(l2_iface_count(t), 3);
	assert_int_equal(l2_iface_at(t, 0)->index, 2);
	assert_int_equal(l2_iface_at(t, 1)->index, 5);
	assert_int_equal(l2_iface_at(t, 2)->index, 9);
	assert_null(l2_iface_at(t, 3));

	/* A cut message is refused whole. */
	struct link_spec s = eth(11, "e11");
	struct nlmsghdr *nlh = put_link(buf, &s);
	assert_int_equal(l2_iface_table_input(t, buf, nlh->nlmsg_len - 1), -1);
	assert_int_equal(l2_iface_table_input(t, buf, 3), -1);
	assert_null(l2_iface_find(t, 11));
	l2_iface_table_free(t);
}

/* --- against the kernel --- */

static bool saw(int index, enum l2_iface_event ev, unsigned bits)
{
	for (size_t i = 0; i < nevents; i++)
		if (events[i].index == index && events[i].ev == ev &&
		    (events[i].changed & bits) == bits)
			return true;
	return false;
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* Run the loop until the table reports ev for index, or 3 s pass. */
static bool wait_event(struct ev_loop *loop, int index, enum l2_iface_event ev, unsigned bits)
{
	double deadline = ev_time() + 3.0;
	ev_timer guard;

	while (!saw(index, ev, bits)) {
		if (ev_time() > deadline)
			return false;
		ev_timer_init(&guard, on_guard, 0.05, 0);
		ev_timer_start(loop, &guard);
		ev_run(loop, EVRUN_ONCE);
		ev_timer_stop(loop, &guard);
	}
	return true;
}

static void live(void)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct l2_iface_callback cb = { .fn = record };
	struct l2_iface_table *t = l2_iface_table_new(loop, &cb);
	struct ip_addr a, ll;

	assert_int_equal(system("ip link set lo up"), 0);
	nevents = 0;
	assert_int_equal(l2_iface_table_start(t), 0);
	assert_int_equal(nevents, 0);   /* the first listing is silent */
	const struct l2_iface *lo = l2_iface_find_name(t, "lo");
	assert_non_null(lo);
	assert_true(lo->flags & IFF_LOOPBACK);

	assert_int_equal(system("ip link add iftest0 address 02:00:00:00:00:09"
				" type veth peer name iftest1"),
			 0);
	int index = (int)if_nametoindex("iftest0");
	assert_true(wait_event(loop, index, L2_IFACE_ADDED, 0));
	const struct l2_iface *d = l2_iface_find(t, index);
	assert_non_null(d);
	assert_string_equal(d->kind, "veth");
	assert_int_equal(d->mac[5], 0x09);

	/* Up: flags change, then a link-local address appears. */
	assert_int_equal(system("echo 0 > /proc/sys/net/ipv6/conf/iftest0/accept_dad"), 0);
	assert_int_equal(system("ip link set iftest1 up && ip link set iftest0 up"), 0);
	assert_true(wait_event(loop, index, L2_IFACE_CHANGED, L2_IFACE_CH_FLAGS));
	assert_true(wait_event(loop, index, L2_IFACE_CHANGED, L2_IFACE_CH_LL));
	assert_true(l2_iface_link_local(l2_iface_find(t, index), &ll));
	assert_true((uint16_t)(ll.v >> 112) == 0xfe80);

	/* Adding and removing addresses: a second add finds it there. */
	assert_int_equal(ip_parse("192.0.2.9", &a, NULL, 0), 0);
	assert_int_equal(l2_iface_addr_add(index, &a), 0);
	assert_int_equal(l2_iface_addr_add(index, &a), 1);
	assert_int_equal(l2_iface_addr_del(index, &a), 0);
	assert_int_equal(l2_iface_addr_del(index, &a), -1);
	assert_int_equal(errno, EADDRNOTAVAIL);
	assert_int_equal(ip_parse("2001:db8::9", &a, NULL, 0), 0);
	assert_int_equal(l2_iface_addr_add(index, &a), 0);
	assert_int_equal(system("ip -6 addr show dev iftest0 | grep -q '2001:db8::9/128.*nodad'"),
			 0);
	assert_int_equal(l2_iface_addr_add(index, &a), 1);
	assert_int_equal(l2_iface_addr_del(index, &a), 0);
	assert_int_equal(l2_iface_addr_add(1 << 30, &a), -1);

	nevents = 0;
	assert_int_equal(system("ip link del iftest0"), 0);
	assert_true(wait_event(loop, index, L2_IFACE_REMOVED, 0));
	assert_null(l2_iface_find(t, index));

	l2_iface_table_free(t);
	ev_loop_destroy(loop);
}

static void test_live_kernel(void **state)
{
	if (geteuid() != 0)
		TEST_SKIP("not root: the kernel part");
	/* The process moves to a namespace of its own, which disappears
	 * with it. */
	if (unshare(CLONE_NEWNET) != 0)
		TEST_SKIP("cannot create a network namespace: the kernel part");
	live();
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_link),
		cmocka_unit_test(test_parse_link_refused),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_table_updates),
		cmocka_unit_test(test_table_order_and_framing),
		cmocka_unit_test(test_live_kernel),
	};
	return test_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
