/*
 * Tests for src/l2/engine.c against the real kernel, in network namespaces.
 *
 * Each test gets two fresh namespaces: the engine's (the test process
 * itself, after unshare(CLONE_NEWNET)) and the client's (created the same
 * way, held by a file descriptor; the process switches into it with
 * setns() only to create sockets and run commands there).  veth pairs join
 * them: the "e" end in the engine's namespace, the "c" end in the
 * client's, so nothing the engine sends can be short-circuited by the
 * kernel.  The client talks through packet sockets opened in its
 * namespace, with frames written byte by byte here, and the test runs the
 * engine's event loop until the expected frame arrives or a deadline
 * passes.  Both namespaces vanish when the test's descriptors and sockets
 * are closed.
 *
 * Needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN); otherwise
 * reported as skipped (exit 77), or failed under CI (test_skip.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_skip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "base/metrics.h"
#include "l2/engine.h"
#include "l2/frame.h"

#define MAX_PAIRS 4

struct pair {
	char e[16], c[16];
	uint8_t emac[6], cmac[6];
	int cfd;                /* packet socket on c, in the client namespace */
	bool up;
};

struct lab {
	int ens, cns;           /* namespace descriptors */
	struct ev_loop *loop;
	struct metrics_registry *reg;
	struct l2_engine *e;
	struct pair p[MAX_PAIRS];
	size_t np;
};

static struct lab L;

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t zero_mac[6];

/* --- namespaces and commands --- */

static void in_client(void)
{
	if (setns(L.cns, CLONE_NEWNET) != 0)
		fail_msg("setns(client): %s", strerror(errno));
}

static void in_engine(void)
{
	if (setns(L.ens, CLONE_NEWNET) != 0)
		fail_msg("setns(engine): %s", strerror(errno));
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = xvasprintf(fmt, ap);
	va_end(ap);
	char *full = xasprintf("%s >/dev/null 2>&1", cmd);
	int r = system(full);
	if (r != 0)
		print_message("command failed (%d): %s\n", r, cmd);
	free(full);
	free(cmd);
	return r;
}

static void must_sh(const char *cmd)
{
	if (sh("%s", cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* Where `ip ... netns` can find the client namespace. */
static char *client_ns_path(void)
{
	return xasprintf("/proc/%d/fd/%d", (int)getpid(), L.cns);
}

static void write_sysctl(const char *path, const char *v)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(v, f);
		fclose(f);
	}
}

/* No Duplicate Address Detection, so link-local addresses are usable at
 * once. */
static void no_dad(void)
{
	write_sysctl("/proc/sys/net/ipv6/conf/all/accept_dad", "0");
	write_sysctl("/proc/sys/net/ipv6/conf/default/accept_dad", "0");
}

/* --- the event loop --- */

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	ev_io_stop(loop, w);
}

/* Run the loop once, returning after at most max seconds, or earlier when
 * fd (if >= 0) becomes readable or the engine had something to do. */
static void pump(int fd, double max)
{
	ev_timer guard;
	ev_io io;

	ev_timer_init(&guard, on_guard, max > 0 ? max : 0, 0);
	ev_timer_start(L.loop, &guard);
	if (fd >= 0) {
		ev_io_init(&io, on_readable, fd, EV_READ);
		ev_io_start(L.loop, &io);
	}
	ev_run(L.loop, EVRUN_ONCE);
	ev_timer_stop(L.loop, &guard);
	if (fd >= 0)
		ev_io_stop(L.loop, &io);
}

/* --- setup --- */

static int lab_setup(void **state)
{
	memset(&L, 0, sizeof(L));
	L.ens = L.cns = -1;
	if (unshare(CLONE_NEWNET) != 0)
		fail_msg("unshare: %s", strerror(errno));
	L.ens = open("/proc/self/ns/net", O_RDONLY);
	must_sh("ip link set lo up");
	no_dad();
	if (unshare(CLONE_NEWNET) != 0)
		fail_msg("unshare: %s", strerror(errno));
	L.cns = open("/proc/self/ns/net", O_RDONLY);
	must_sh("ip link set lo up");
	no_dad();
	in_engine();
	L.loop = ev_loop_new(EVFLAG_AUTO);
	L.reg = metrics_registry_new();
	return 0;
}

static int lab_teardown(void **state)
{
	l2_engine_free(L.e);
	for (size_t i = 0; i < L.np; i++)
		if (L.p[i].cfd >= 0)
			close(L.p[i].cfd);
	if (L.loop)
		ev_loop_destroy(L.loop);
	metrics_registry_free(L.reg);
	close(L.cns);
	close(L.ens);
	memset(&L, 0, sizeof(L));
	return 0;
}

static void set_mac(uint8_t mac[6], size_t pair, uint8_t last)
{
	const uint8_t m[6] = { 0x02, 0, 0, 0, (uint8_t)(pair + 1), last };
	memcpy(mac, m, 6);
}

static void open_client_socket(struct pair *p)
{
	in_client();
	p->cfd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (p->cfd < 0)
		fail_msg("client socket: %s", strerror(errno));
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)if_nametoindex(p->c),
	};
	if (sll.sll_ifindex == 0 || bind(p->cfd, (struct sockaddr *)&sll, sizeof(sll)) != 0)
		fail_msg("client bind %s: %s", p->c, strerror(errno));
	in_engine();
}

static void drain(struct pair *p)
{
	uint8_t b[2048];
	while (recv(p->cfd, b, sizeof(b), 0) > 0 || errno == ENETDOWN)
		;
}

/* A veth pair: ename here, cname in the client namespace, both up unless
 * `up` is false. */
static struct pair *add_pair(const char *ename, const char *cname, bool up)
{
	struct pair *p = &L.p[L.np++];
	char em[L2_MAC_STR_MAX], cm[L2_MAC_STR_MAX];
	char *ns = client_ns_path();

	snprintf(p->e, sizeof(p->e), "%s", ename);
	snprintf(p->c, sizeof(p->c), "%s", cname);
	set_mac(p->emac, L.np - 1, 1);
	set_mac(p->cmac, L.np - 1, 2);
	p->cfd = -1;
	if (sh("ip link add %s address %s type veth peer name %s address %s netns %s", p->e,
	       l2_mac_format(p->emac, em), p->c, l2_mac_format(p->cmac, cm), ns) != 0)
		fail_msg("cannot create veth pair %s/%s", ename, cname);
	free(ns);
	if (up) {
		in_client();
		int r = sh("ip link set %s up", p->c);
		in_engine();
		if (r != 0 || sh("ip link set %s up", p->e) != 0)
			fail_msg("cannot bring %s/%s up", ename, cname);
		p->up = true;
	}
	open_client_socket(p);
	return p;
}

static void wait_link(const char *iface);

/* Start an engine and wait until it sees a working link on the engine end
 * of every pair that is up (carrier comes up asynchronously). */
static void start_engine(const struct l2_engine_opts *opts)
{
	L.e = l2_engine_new(L.loop, L.reg, opts);
	assert_int_equal(l2_engine_start(L.e), 0);
	for (size_t i = 0; i < L.np; i++)
		if (L.p[i].up)
			wait_link(L.p[i].e);
}

/* --- status --- */

static json_t *status(void)
{
	return l2_engine_status_json(L.e);
}

static json_t *status_iface(json_t *st, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(st, "interfaces"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
			return v;
	return NULL;
}

static json_t *status_addr(json_t *st, const char *ip)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(st, "addresses"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "ip")), ip) == 0)
			return v;
	return NULL;
}

/* Whether ip is announced on iface (per the status). */
static bool announced_on(const char *ip, const char *iface)
{
	json_t *st = status();
	json_t *a = status_addr(st, ip);
	bool found = false;
	size_t i;
	json_t *v;

	if (a)
		json_array_foreach(json_object_get(a, "interfaces"), i, v)
			if (strcmp(json_string_value(v), iface) == 0)
				found = true;
	json_decref(st);
	return found;
}

static bool iface_has_link_local(const char *iface)
{
	json_t *st = status();
	json_t *i = status_iface(st, iface);
	bool r = i && json_object_get(i, "link_local");
	json_decref(st);
	return r;
}

static void wait_until(bool (*cond)(const char *a, const char *b), const char *a, const char *b,
		       double timeout)
{
	double deadline = ev_time() + timeout;

	while (!cond(a, b)) {
		if (ev_time() > deadline)
			fail_msg("condition not met within %.1fs (%s %s)", timeout, a, b ? b : "");
		pump(-1, 0.02);
	}
}

static bool cond_link_local(const char *iface, const char *unused)
{
	return iface_has_link_local(iface);
}

/* Up with a link, as far as the engine knows: usable, or unusable only
 * for its name. */
static bool cond_link(const char *iface, const char *unused)
{
	json_t *st = status();
	json_t *i = status_iface(st, iface);
	const char *reason = i ? json_string_value(json_object_get(i, "reason")) : NULL;
	bool r = i && (!reason || strncmp(reason, "name matches", 12) == 0);
	json_decref(st);
	return r;
}

static void wait_link(const char *iface)
{
	wait_until(cond_link, iface, NULL, 3.0);
}

static bool cond_announced(const char *ip, const char *iface)
{
	return announced_on(ip, iface);
}

static bool cond_not_announced(const char *ip, const char *iface)
{
	return !announced_on(ip, iface);
}

/* --- metrics --- */

/* The value of family{ip="ip"} as /metrics shows it (0 when absent). */
static double metric(const char *family, const char *ip)
{
	char *text = NULL, *want = NULL;
	size_t len = 0;
	double v = 0;

	assert_non_null(metrics_family_find(L.reg, family));
	metrics_render(L.reg, &text, &len);
	want = xasprintf("%s{ip=\"%s\"} ", family, ip);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, want, strlen(want)) == 0)
			v = strtod(line + strlen(want), NULL);
	free(want);
	free(text);
	return v;
}

/* --- owned addresses --- */

static struct ip_addr ip(const char *s)
{
	struct ip_addr a;
	char why[128];
	if (ip_parse(s, &a, why, sizeof(why)) < 0)
		fail_msg("bad address %s: %s", s, why);
	return a;
}

static struct l2_owned owned(const char *addr, const char *svc)
{
	struct l2_owned o = { .addr = ip(addr), .service = svc, .all_interfaces = true };
	return o;
}

static struct l2_owned owned_on(const char *addr, const char *svc, size_t n, char *const *ifs)
{
	struct l2_owned o = {
		.addr = ip(addr), .service = svc, .ninterfaces = n, .interfaces = ifs,
	};
	return o;
}

/* --- frames the client sends --- */

static void send_client(struct pair *p, const struct wbuf *w)
{
	assert_true(wbuf_ok(w));
	ssize_t n = send(p->cfd, w->p, w->len, 0);
	/* A socket bound while its interface was down reports ENETDOWN
	 * once (packet(7)). */
	if (n < 0 && errno == ENETDOWN)
		n = send(p->cfd, w->p, w->len, 0);
	if (n != (ssize_t)w->len)
		fail_msg("client send on %s: %s", p->c, strerror(errno));
}

static void put_ip(struct wbuf *w, const char *s)
{
	uint8_t b[16];
	struct ip_addr a = ip(s);
	ip_to_bytes(&a, b);
	wbuf_bytes(w, b, a.family == IP_FAMILY_V4 ? 4 : 16);
}

/* An ARP message, padded to 60 bytes. */
static void mk_arp(struct wbuf *w, const uint8_t dst[6], const uint8_t src[6], uint16_t htype,
		   uint16_t op, const char *spa, const uint8_t tha[6], const char *tpa)
{
	wbuf_bytes(w, dst, 6);
	wbuf_bytes(w, src, 6);
	wbuf_u16(w, 0x0806);
	wbuf_u16(w, htype);
	wbuf_u16(w, 0x0800);
	wbuf_u8(w, 6);
	wbuf_u8(w, 4);
	wbuf_u16(w, op);
	wbuf_bytes(w, src, 6);
	put_ip(w, spa);
	wbuf_bytes(w, tha, 6);
	put_ip(w, tpa);
	wbuf_zero(w, 60 - w->len);
}

static void arp_request(struct pair *p, const char *spa, const char *tpa)
{
	uint8_t b[128];
	struct wbuf w;
	wbuf_init_fixed(&w, b, sizeof(b));
	mk_arp(&w, bcast, p->cmac, 1, 1, spa, zero_mac, tpa);
	send_client(p, &w);
}

static uint16_t sum16(const uint8_t *b, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The ICMPv6 checksum of icmp[0..len) between src and dst. */
static uint16_t icmp6_cksum(const uint8_t src[16], const uint8_t dst[16], const uint8_t *icmp,
			    size_t len)
{
	uint8_t ph[40];
	memcpy(ph, src, 16);
	memcpy(ph + 16, dst, 16);
	ph[32] = 0;
	ph[33] = 0;
	ph[34] = (uint8_t)(len >> 8);
	ph[35] = (uint8_t)len;
	ph[36] = ph[37] = ph[38] = 0;
	ph[39] = 58;
	uint16_t s = sum16(ph, sizeof(ph), 0);
	return sum16(icmp, len, s);
}

/* A Neighbor Solicitation for target from src to dst (IPv6), with a source
 * link-layer option when sllao. */
static void ns_request(struct pair *p, const uint8_t eth_dst[6], const char *src, const char *dst,
		       const char *target, bool sllao, bool bad_cksum)
{
	uint8_t b[128], s[16], d[16];
	struct wbuf w;
	struct ip_addr sa = ip(src), da = ip(dst);

	ip_to_bytes(&sa, s);
	ip_to_bytes(&da, d);
	wbuf_init_fixed(&w, b, sizeof(b));
	wbuf_bytes(&w, eth_dst, 6);
	wbuf_bytes(&w, p->cmac, 6);
	wbuf_u16(&w, 0x86dd);
	wbuf_u32(&w, 6u << 28);
	wbuf_u16(&w, sllao ? 32 : 24);
	wbuf_u8(&w, 58);
	wbuf_u8(&w, 255);
	wbuf_bytes(&w, s, 16);
	wbuf_bytes(&w, d, 16);
	size_t icmp = w.len;
	wbuf_u8(&w, 135);
	wbuf_u8(&w, 0);
	wbuf_u16(&w, 0);
	wbuf_u32(&w, 0);
	put_ip(&w, target);
	if (sllao) {
		wbuf_u8(&w, 1);
		wbuf_u8(&w, 1);
		wbuf_bytes(&w, p->cmac, 6);
	}
	uint16_t ck = (uint16_t)~icmp6_cksum(s, d, b + icmp, w.len - icmp);
	if (bad_cksum)
		ck ^= 0x5555;
	wbuf_patch_u16(&w, icmp + 2, ck);
	send_client(p, &w);
}

/* Solicitation to the target's solicited-node group, as a resolver sends. */
static void ns_multicast(struct pair *p, const char *src, const char *target)
{
	struct ip_addr t = ip(target), sn;
	uint8_t mac[6];
	char sns[IP_STR_MAX];

	ndp_solicited_node(&t, &sn);
	ndp_multicast_mac(&sn, mac);
	ns_request(p, mac, src, ip_format(&sn, sns), target, true, false);
}

/* --- frames the client receives --- */

struct na {
	uint8_t eth_dst[6], eth_src[6];
	struct ip_addr src, dst, target;
	bool router, solicited, override;
	bool has_tlla;
	uint8_t tlla[6];
};

static uint16_t be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* A Neighbor Advertisement without extension headers, its checksum
 * verified. */
static bool parse_na(const uint8_t *f, size_t n, struct na *out)
{
	memset(out, 0, sizeof(*out));
	if (n < 78 || be16(f + 12) != 0x86dd || f[20] != 58 || f[21] != 255 || f[54] != 136)
		return false;
	size_t plen = be16(f + 18);
	if (54 + plen > n || plen < 24)
		return false;
	if (icmp6_cksum(f + 22, f + 38, f + 54, plen) != 0xffff)
		fail_msg("neighbor advertisement with a bad checksum");
	memcpy(out->eth_dst, f, 6);
	memcpy(out->eth_src, f + 6, 6);
	out->src = ip_from_bytes(IP_FAMILY_V6, f + 22);
	out->dst = ip_from_bytes(IP_FAMILY_V6, f + 38);
	out->router = f[58] & 0x80;
	out->solicited = f[58] & 0x40;
	out->override = f[58] & 0x20;
	out->target = ip_from_bytes(IP_FAMILY_V6, f + 62);
	for (size_t o = 78; o + 8 <= 54 + plen && f[o + 1];) {
		if (f[o] == 2 && f[o + 1] == 1) {
			out->has_tlla = true;
			memcpy(out->tlla, f + o + 2, 6);
		}
		o += 8 * (size_t)f[o + 1];
	}
	return true;
}

/* Read what has arrived on p's client socket and count the frames that
 * match, until want (0: no limit) have matched or timeout seconds have
 * passed, running the engine's loop meanwhile. */
static int collect(struct pair *p, bool (*match)(const uint8_t *f, size_t n, void *arg), void *arg,
		   int want, double timeout)
{
	double deadline = ev_time() + timeout;
	int got = 0;
	uint8_t b[2048];

	for (;;) {
		for (;;) {
			struct sockaddr_ll sll;
			socklen_t sl = sizeof(sll);
			ssize_t n = recvfrom(p->cfd, b, sizeof(b), 0, (struct sockaddr *)&sll, &sl);
			if (n < 0) {
				if (errno == ENETDOWN || errno == EINTR)
					continue;
				break;
			}
			if (sll.sll_pkttype == PACKET_OUTGOING)
				continue;
			if (match(b, (size_t)n, arg) && ++got == want)
				return got;
		}
		double now = ev_time();
		if (now >= deadline)
			return got;
		pump(p->cfd, deadline - now < 0.05 ? deadline - now : 0.05);
	}
}

struct arp_want {
	const uint8_t *eth_dst;         /* NULL: any */
	const uint8_t *sha;
	enum arp_op op;
	const char *spa, *tpa;
};

static bool match_arp(const uint8_t *f, size_t n, void *arg)
{
	struct arp_want *w = arg;
	struct arp_msg m;

	if (arp_parse(f, n, &m, NULL) < 0 || m.op != w->op)
		return false;
	if (w->eth_dst && memcmp(m.eth.dst, w->eth_dst, 6) != 0)
		return false;
	if (memcmp(m.sha, w->sha, 6) != 0 || memcmp(m.eth.src, w->sha, 6) != 0)
		return false;
	struct ip_addr spa = ip(w->spa), tpa = ip(w->tpa);
	return ip_eq(&m.spa, &spa) && ip_eq(&m.tpa, &tpa);
}

/* An ARP reply from the engine's end of p for addr to the client at
 * client_ip. */
static int arp_replies(struct pair *p, const char *addr, const char *client_ip, double timeout)
{
	struct arp_want w = { p->cmac, p->emac, ARP_OP_REPLY, addr, client_ip };
	return collect(p, match_arp, &w, 1, timeout);
}

struct na_want {
	const char *target;
	struct na last;
};

/* A solicited or DAD answer (Override clear), not an unsolicited one. */
static bool match_na(const uint8_t *f, size_t n, void *arg)
{
	struct na_want *w = arg;
	struct na na;
	struct ip_addr t = ip(w->target);

	if (!parse_na(f, n, &na) || !ip_eq(&na.target, &t) || na.override)
		return false;
	w->last = na;
	return true;
}

/* An unsolicited advertisement to all-nodes with Override set. */
static bool match_na_unsolicited(const uint8_t *f, size_t n, void *arg)
{
	static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	struct na_want *w = arg;
	struct na na;
	struct ip_addr t = ip(w->target), all_nodes = ip("ff02::1");

	if (!parse_na(f, n, &na) || !ip_eq(&na.target, &t))
		return false;
	if (na.solicited || !na.override || na.router || !ip_eq(&na.dst, &all_nodes) ||
	    memcmp(na.eth_dst, all_nodes_mac, 6) != 0 || !na.has_tlla)
		return false;
	w->last = na;
	return true;
}

/* Gratuitous frames of one round kind each, from mac, for v4 and v6. */
struct garp_count {
	const uint8_t *mac;
	const char *v4, *v6;
	int req, rep, na;
	double t0, first;       /* when counting started, first arrival */
};

static bool match_garp(const uint8_t *f, size_t n, void *arg)
{
	struct garp_count *c = arg;
	struct arp_want req = { bcast, c->mac, ARP_OP_REQUEST, c->v4, c->v4 };
	struct arp_want rep = { bcast, c->mac, ARP_OP_REPLY, c->v4, c->v4 };
	struct na_want na = { .target = c->v6 };
	bool hit = false;

	if (c->v4 && match_arp(f, n, &req)) {
		c->req++;
		hit = true;
	} else if (c->v4 && match_arp(f, n, &rep)) {
		/* RFC 5227 §3: as a reply, the target hardware address is
		 * the broadcast address. */
		struct arp_msg m;
		arp_parse(f, n, &m, NULL);
		assert_memory_equal(m.tha, bcast, 6);
		c->rep++;
		hit = true;
	} else if (c->v6 && match_na_unsolicited(f, n, &na)) {
		assert_memory_equal(na.last.tlla, c->mac, 6);
		assert_memory_equal(na.last.eth_src, c->mac, 6);
		assert_true((uint16_t)(na.last.src.v >> 112) == 0xfe80);
		c->na++;
		hit = true;
	}
	if (hit && c->first == 0)
		c->first = ev_time() - c->t0;
	return false;
}

/* --- tests --- */

static const struct l2_engine_opts one_round = { .garp_interval = 10, .garp_duration = 1 };

static void test_arp_answers_owned_only(void **state)
{
	struct pair *p = add_pair("l2e0", "l2c0", true);
	start_engine(&one_round);
	struct l2_owned o[] = { owned("192.0.2.10", "default/web") };
	l2_engine_set(L.e, o, 1);

	arp_request(p, "192.0.2.1", "192.0.2.10");
	assert_int_equal(arp_replies(p, "192.0.2.10", "192.0.2.1", 2.0), 1);

	/* Not owned: no reply. */
	arp_request(p, "192.0.2.1", "192.0.2.11");
	assert_int_equal(arp_replies(p, "192.0.2.11", "192.0.2.1", 0.3), 0);

	/* RFC 5227 probe (sender 0.0.0.0): answered, to defend the address. */
	arp_request(p, "0.0.0.0", "192.0.2.10");
	assert_int_equal(arp_replies(p, "192.0.2.10", "0.0.0.0", 2.0), 1);

	/* Another host's announcement of the address: not a question. */
	arp_request(p, "192.0.2.10", "192.0.2.10");
	assert_int_equal(arp_replies(p, "192.0.2.10", "192.0.2.10", 0.3), 0);

	/* A request sent to another host's MAC is not ours to answer. */
	uint8_t b[128], other[6] = { 0x02, 0, 0, 0, 0x77, 0x77 };
	struct wbuf w;
	wbuf_init_fixed(&w, b, sizeof(b));
	mk_arp(&w, other, p->cmac, 1, 1, "192.0.2.1", zero_mac, "192.0.2.10");
	send_client(p, &w);
	assert_int_equal(arp_replies(p, "192.0.2.10", "192.0.2.1", 0.3), 0);

	/* ... but one sent to our MAC is. */
	wbuf_init_fixed(&w, b, sizeof(b));
	mk_arp(&w, p->emac, p->cmac, 1, 1, "192.0.2.1", zero_mac, "192.0.2.10");
	send_client(p, &w);
	assert_int_equal(arp_replies(p, "192.0.2.10", "192.0.2.1", 2.0), 1);

	assert_true(metric("metallb_layer2_requests_received", "192.0.2.10") == 3);
	assert_true(metric("metallb_layer2_responses_sent", "192.0.2.10") == 3);
	assert_true(metric("metallb_layer2_requests_received", "192.0.2.11") == 0);
	json_t *st = status();
	json_t *a = status_addr(st, "192.0.2.10");
	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "requests")), 3);
	assert_int_equal(json_integer_value(json_object_get(a, "responses")), 3);
	assert_string_equal(json_string_value(json_object_get(a, "service")), "default/web");
	json_decref(st);

	/* Released: no longer answered from the moment set() returns. */
	l2_engine_set(L.e, NULL, 0);
	arp_request(p, "192.0.2.1", "192.0.2.10");
	assert_int_equal(arp_replies(p, "192.0.2.10", "192.0.2.1", 0.3), 0);
}

static void test_ndp_answers_owned_only(void **state)
{
	struct pair *p = add_pair("l2e0", "l2c0", true);
	start_engine(&one_round);
	wait_until(cond_link_local, "l2e0", NULL, 3.0);
	struct l2_owned o[] = { owned("2001:db8::10", "default/web6") };
	l2_engine_set(L.e, o, 1);

	/* To the solicited-node group, with a source link-layer option. */
	struct na_want w = { .target = "2001:db8::10" };
	ns_multicast(p, "2001:db8::1", "2001:db8::10");
	assert_int_equal(collect(p, match_na, &w, 1, 2.0), 1);
	struct ip_addr client = ip("2001:db8::1");
	assert_memory_equal(w.last.eth_dst, p->cmac, 6);
	assert_memory_equal(w.last.eth_src, p->emac, 6);
	assert_true(ip_eq(&w.last.dst, &client));
	struct ip_addr target = ip("2001:db8::10");
	assert_true(ip_eq(&w.last.src, &target));
	assert_true(w.last.solicited);
	assert_false(w.last.override);
	assert_false(w.last.router);
	assert_true(w.last.has_tlla);
	assert_memory_equal(w.last.tlla, p->emac, 6);

	/* Unicast (neighbour unreachability detection), no option: answered
	 * to the Ethernet source. */
	ns_request(p, p->emac, "2001:db8::1", "2001:db8::10", "2001:db8::10", false, false);
	assert_int_equal(collect(p, match_na, &w, 1, 2.0), 1);
	assert_memory_equal(w.last.eth_dst, p->cmac, 6);
	assert_true(w.last.solicited);

	/* Duplicate Address Detection for our address: answered to all-nodes
	 * with Solicited clear, which makes the other node give it up. */
	ns_request(p, (const uint8_t[]){ 0x33, 0x33, 0xff, 0, 0, 0x10 }, "::", "ff02::1:ff00:10",
		   "2001:db8::10", false, false);
	assert_int_equal(collect(p, match_na, &w, 1, 2.0), 1);
	struct ip_addr all_nodes = ip("ff02::1");
	assert_true(ip_eq(&w.last.dst, &all_nodes));
	assert_false(w.last.solicited);

	/* Not owned: nothing. */
	struct na_want w11 = { .target = "2001:db8::11" };
	ns_multicast(p, "2001:db8::1", "2001:db8::11");
	assert_int_equal(collect(p, match_na, &w11, 1, 0.3), 0);

	assert_true(metric("metallb_layer2_requests_received", "2001:db8::10") == 3);
	assert_true(metric("metallb_layer2_responses_sent", "2001:db8::10") == 3);

	l2_engine_set(L.e, NULL, 0);
	ns_multicast(p, "2001:db8::1", "2001:db8::10");
	assert_int_equal(collect(p, match_na, &w, 1, 0.3), 0);
}

static void test_ndp_without_link_local(void **state)
{
	struct pair *p = add_pair("l2e0", "l2c0", false);
	/* No link-local address on the engine's side. */
	must_sh("ip link set l2e0 addrgenmode none");
	in_client();
	must_sh("ip link set l2c0 up");
	in_engine();
	must_sh("ip link set l2e0 up");
	p->up = true;
	start_engine(&one_round);
	drain(p);
	struct l2_owned o[] = { owned("2001:db8::20", "default/web6") };
	l2_engine_set(L.e, o, 1);

	/* The unsolicited advertisement falls back to the address itself. */
	struct na_want w = { .target = "2001:db8::20" };
	assert_int_equal(collect(p, match_na_unsolicited, &w, 1, 2.0), 1);
	struct ip_addr self = ip("2001:db8::20");
	assert_true(ip_eq(&w.last.src, &self));
	assert_memory_equal(w.last.tlla, p->emac, 6);

	/* And solicitations are answered all the same. */
	ns_multicast(p, "2001:db8::1", "2001:db8::20");
	assert_int_equal(collect(p, match_na, &w, 1, 2.0), 1);
	assert_true(ip_eq(&w.last.src, &self));
}

static void test_gratuitous(void **state)
{
	struct pair *p = add_pair("l2e0", "l2c0", true);
	/* Rounds at 0, 0.1 and 0.2 s; the next would fall after 0.25 s. */
	struct l2_engine_opts opts = { .garp_interval = 0.1, .garp_duration = 0.25 };
	start_engine(&opts);
	wait_until(cond_link_local, "l2e0", NULL, 3.0);
	drain(p);
	struct garp_count c = { p->emac, "192.0.2.30", "2001:db8::30", .t0 = ev_time() };
	struct l2_owned o[] = {
		owned("192.0.2.30", "default/a"),
		owned("2001:db8::30", "default/a"),
	};
	l2_engine_set(L.e, o, 2);

	collect(p, match_garp, &c, 0, 0.6);
	assert_int_equal(c.req, 3);
	assert_int_equal(c.rep, 3);
	assert_int_equal(c.na, 3);
	/* The first round left within set(). */
	assert_true(c.first < 0.08);
	/* MetalLB counts every frame. */
	assert_true(metric("metallb_layer2_gratuitous_sent", "192.0.2.30") == 6);
	assert_true(metric("metallb_layer2_gratuitous_sent", "2001:db8::30") == 3);
	json_t *st = status();
	assert_int_equal(json_integer_value(json_object_get(status_addr(st, "192.0.2.30"),
							    "gratuitous")), 6);
	assert_int_equal(json_integer_value(json_object_get(status_addr(st, "2001:db8::30"),
							    "gratuitous")), 3);
	json_decref(st);
}

static bool match_nothing(const uint8_t *f, size_t n, void *arg)
{
	return false;
}

/* The schedule, as a table: options, then the offsets of rounds 0.. (a
 * negative entry: no such round). */
static void test_garp_schedule(void **state)
{
	static const struct {
		struct l2_engine_opts o;
		double at[9];
	} cases[] = {
		/* The defaults: a burst, then the interval rounds, then stop. */
		{ { .garp_interval = 1.1, .garp_duration = 5, .garp_burst = 3, .garp_burst_gap = 0.1 },
		  { 0, 0.1, 0.2, 1.1, 2.2, 3.3, 4.4, -1 } },
		/* Periodic rounds after the last interval round. */
		{ { .garp_interval = 1.1, .garp_duration = 5, .garp_burst = 3, .garp_burst_gap = 0.1,
		    .gratuitous_interval = 30 },
		  { 0, 0.1, 0.2, 1.1, 2.2, 3.3, 4.4, 34.4, 64.4 } },
		/* Interval rounds the burst covers are not sent twice. */
		{ { .garp_interval = 0.1, .garp_duration = 0.25, .garp_burst = 3, .garp_burst_gap = 0.1 },
		  { 0, 0.1, 0.2, -1 } },
		{ { .garp_interval = 0.1, .garp_duration = 0.45, .garp_burst = 3, .garp_burst_gap = 0.05 },
		  { 0, 0.05, 0.1, 0.2, 0.3, 0.4, -1 } },
		/* The burst ends with the duration; round 0 always goes. */
		{ { .garp_interval = 10, .garp_duration = 0.15, .garp_burst = 3, .garp_burst_gap = 0.1 },
		  { 0, 0.1, -1 } },
		{ { .garp_interval = 10, .garp_duration = 0.01, .garp_burst = 3, .garp_burst_gap = 0.1,
		    .gratuitous_interval = 2 },
		  { 0, 2, 4, 6 } },
		/* No burst: today's rounds at k * interval. */
		{ { .garp_interval = 1, .garp_duration = 3, .garp_burst = 1, .garp_burst_gap = 0.1 },
		  { 0, 1, 2, -1 } },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		for (unsigned r = 0; r < ARRAY_SIZE(cases[i].at); r++) {
			double want = cases[i].at[r], got = -1;
			int rc = l2_garp_offset(&cases[i].o, r, &got);
			if (want < 0) {
				if (rc != -1)
					fail_msg("case %zu round %u: got %g, want none", i, r, got);
				break;
			}
			if (rc != 0 || got < want - 1e-6 || got > want + 1e-6)
				fail_msg("case %zu round %u: got %g (rc %d), want %g", i, r, got, rc, want);
			if (r == ARRAY_SIZE(cases[i].at) - 1 || cases[i].at[r + 1] == 0)
				break;
		}
	}
}

/* With gratuitous_interval the rounds go on after garp_duration, and the
 * counters count each frame. */
static void test_gratuitous_periodic(void **state)
{
	struct pair *p = add_pair("l2e0", "l2c0", true);
	/* Burst 0, 0.05, 0.1 (the duration ends it), then every 0.3 s. */
	struct l2_engine_opts opts = { .garp_interval = 10, .garp_duration = 0.12,
				       .garp_burst_gap = 0.05, .gratuitous_interval = 0.3 };
	start_engine(&opts);
	wait_until(cond_link_local, "l2e0", NULL, 3.0);
	drain(p);
	struct garp_count c = { p->emac, "192.0.2.32", "2001:db8::32", .t0 = ev_time() };
	struct l2_owned o[] = {
		owned("192.0.2.32", "default/p"),
		owned("2001:db8::32", "default/p"),
	};
	l2_engine_set(L.e, o, 2);
	/* Rounds at 0, 0.05, 0.1, 0.4, 0.7, 1.0: six by 1.15 s. */
	collect(p, match_garp, &c, 0, 1.15);
	assert_int_equal(c.req, 6);
	assert_int_equal(c.rep, 6);
	assert_int_equal(c.na, 6);
	assert_true(metric("metallb_layer2_gratuitous_sent", "192.0.2.32") == 12);
	assert_true(metric("metallb_layer2_gratuitous_sent", "2001:db8::32") == 6);

	/* Released: the periodic rounds stop. */
	l2_engine_set(L.e, NULL, 0);
	collect(p, match_nothing, NULL, 0, 0.03);
	c.req = c.rep = c.na = 0;
	collect(p, match_garp, &c, 0, 0.7);
	assert_int_equal(c.req + c.rep + c.na, 0);
	/* The series stay, and count on when the address is taken again. */
	assert_true(metric("metallb_layer2_gratuitous_sent", "192.0.2.32") == 12);
	assert_true(metric("metallb_layer2_gratuitous_sent", "2001:db8::32") == 6);
	l2_engine_set(L.e, o, 1);
	c.t0 = ev_time();
	collect(p, match_garp, &c, 2, 1.0);
	assert_true(metric("metallb_layer2_gratuitous_sent", "192.0.2.32") >= 14);
	assert_true(metric("metallb_layer2_gratuitous_sent", "2001:db8::32") == 6);
}


static void test_gratuitous_stops_when_released(void **state)
{
	struct pair *p = add_pair("l2e0", "l2c0", true);
	struct l2_engine_opts opts = { .garp_interval = 0.1, .garp_duration = 5 };
	start_engine(&opts);
	drain(p);
	struct l2_owned o[] = { owned("192.0.2.31", "default/b") };
	l2_engine_set(L.e, o, 1);
	struct garp_count c = { p->emac, "192.0.2.31", NULL, .t0 = ev_time() };
	while (c.req < 2 && ev_time() - c.t0 < 2.0)
		collect(p, match_garp, &c, 0, 0.05);
	assert_true(c.req >= 2);

	l2_engine_set(L.e, NULL, 0);
	/* Frames sent before set() returned may still be on their way. */
	collect(p, match_nothing, NULL, 0, 0.03);
	c.req = c.rep = 0;
	collect(p, match_garp, &c, 0, 0.35);
	assert_int_equal(c.req + c.rep, 0);
}

static void test_interface_restriction(void **state)
{
	struct pair *p0 = add_pair("l2e0", "l2c0", true);
	struct pair *p1 = add_pair("l2e1", "l2c1", true);
	struct pair *pv = add_pair("veth-l2x", "l2c2", true);
	start_engine(&one_round);

	char *only1[] = { "l2e1" };
	char *onlyv[] = { "veth-l2x" };
	char *nowhere[] = { "nosuch0" };
	struct l2_owned o[] = {
		owned_on("192.0.2.40", "default/one", 1, only1),
		owned("192.0.2.41", "default/all"),
		owned_on("192.0.2.42", "default/veth", 1, onlyv),
		owned_on("192.0.2.43", "default/none", 1, nowhere),
	};
	l2_engine_set(L.e, o, ARRAY_SIZE(o));

	arp_request(p0, "192.0.2.1", "192.0.2.40");
	assert_int_equal(arp_replies(p0, "192.0.2.40", "192.0.2.1", 0.3), 0);
	arp_request(p1, "192.0.2.1", "192.0.2.40");
	assert_int_equal(arp_replies(p1, "192.0.2.40", "192.0.2.1", 2.0), 1);

	/* On every usable interface, which a veth* name is not ... */
	arp_request(p0, "192.0.2.1", "192.0.2.41");
	assert_int_equal(arp_replies(p0, "192.0.2.41", "192.0.2.1", 2.0), 1);
	arp_request(p1, "192.0.2.1", "192.0.2.41");
	assert_int_equal(arp_replies(p1, "192.0.2.41", "192.0.2.1", 2.0), 1);
	arp_request(pv, "192.0.2.1", "192.0.2.41");
	assert_int_equal(arp_replies(pv, "192.0.2.41", "192.0.2.1", 0.3), 0);

	/* ... unless it is listed by name. */
	arp_request(pv, "192.0.2.1", "192.0.2.42");
	assert_int_equal(arp_replies(pv, "192.0.2.42", "192.0.2.1", 2.0), 1);
	arp_request(p0, "192.0.2.1", "192.0.2.42");
	assert_int_equal(arp_replies(p0, "192.0.2.42", "192.0.2.1", 0.3), 0);

	json_t *st = status();
	json_t *v = status_iface(st, "veth-l2x");
	assert_non_null(v);
	assert_false(json_is_true(json_object_get(v, "usable")));
	assert_non_null(strstr(json_string_value(json_object_get(v, "reason")), "veth"));
	assert_true(json_is_true(json_object_get(status_iface(st, "l2e0"), "usable")));
	json_t *lo = status_iface(st, "lo");
	assert_string_equal(json_string_value(json_object_get(lo, "reason")), "loopback");
	assert_int_equal(json_array_size(json_object_get(status_addr(st, "192.0.2.43"),
							 "interfaces")), 0);
	assert_int_equal(json_array_size(json_object_get(status_addr(st, "192.0.2.41"),
							 "interfaces")), 2);
	json_decref(st);
}

/* Whether `ip -j addr show dev lo` lists addr/plen. */
static bool lo_has(const char *addr, const char *plen_s)
{
	FILE *f = popen("ip -j addr show dev lo", "r");
	char buf[16384];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	pclose(f);
	buf[n] = '\0';

	json_t *root = json_loads(buf, 0, NULL);
	bool found = false;
	size_t i, j;
	json_t *link, *ai;
	assert_non_null(root);
	json_array_foreach(root, i, link)
		json_array_foreach(json_object_get(link, "addr_info"), j, ai)
			if (json_string_value(json_object_get(ai, "local")) &&
			    strcmp(json_string_value(json_object_get(ai, "local")), addr) == 0 &&
			    json_integer_value(json_object_get(ai, "prefixlen")) == atoi(plen_s))
				found = true;
	json_decref(root);
	return found;
}

static void test_install_vips(void **state)
{
	add_pair("l2e0", "l2c0", true);
	/* Already there before the engine: never removed by it. */
	must_sh("ip addr add 192.0.2.52/32 dev lo");
	struct l2_engine_opts opts = one_round;
	opts.install_vips = true;
	opts.vip_device = "lo";
	start_engine(&opts);

	struct l2_owned o[] = {
		owned("192.0.2.50", "default/a"),
		owned("2001:db8::50", "default/a"),
		owned("192.0.2.52", "default/c"),
	};
	l2_engine_set(L.e, o, 3);
	assert_true(lo_has("192.0.2.50", "32"));
	assert_true(lo_has("2001:db8::50", "128"));
	json_t *st = status();
	json_t *a50 = status_addr(st, "192.0.2.50"), *a52 = status_addr(st, "192.0.2.52");
	assert_string_equal(json_string_value(json_object_get(a50, "vip")), "installed");
	assert_string_equal(json_string_value(json_object_get(a52, "vip")), "present");
	json_decref(st);

	l2_engine_set(L.e, o + 2, 1);
	assert_false(lo_has("192.0.2.50", "32"));
	assert_false(lo_has("2001:db8::50", "128"));
	assert_true(lo_has("192.0.2.52", "32"));
	l2_engine_set(L.e, NULL, 0);
	assert_true(lo_has("192.0.2.52", "32"));

	l2_engine_set(L.e, o, 2);
	assert_true(lo_has("192.0.2.50", "32"));
	assert_true(lo_has("2001:db8::50", "128"));
	l2_engine_stop(L.e);
	assert_false(lo_has("192.0.2.50", "32"));
	assert_false(lo_has("2001:db8::50", "128"));
	assert_true(lo_has("192.0.2.52", "32"));
}

static void test_interface_appears_later(void **state)
{
	struct pair *p0 = add_pair("l2e0", "l2c0", true);
	struct l2_engine_opts opts = { .garp_interval = 0.1, .garp_duration = 0.5 };
	start_engine(&opts);
	struct l2_owned o[] = {
		owned("192.0.2.60", "default/a"),
		owned("2001:db8::60", "default/a"),
	};
	l2_engine_set(L.e, o, 2);

	/* A new interface: announced there once it is up, starting with
	 * gratuitous frames (a takeover on that interface). */
	struct pair *p1 = add_pair("l2e1", "l2c1", true);
	struct arp_want req = { bcast, p1->emac, ARP_OP_REQUEST, "192.0.2.60", "192.0.2.60" };
	assert_true(collect(p1, match_arp, &req, 1, 3.0) == 1);
	struct na_want na = { .target = "2001:db8::60" };
	assert_true(collect(p1, match_na_unsolicited, &na, 1, 3.0) == 1);
	assert_true(announced_on("192.0.2.60", "l2e1"));
	arp_request(p1, "192.0.2.1", "192.0.2.60");
	assert_int_equal(arp_replies(p1, "192.0.2.60", "192.0.2.1", 2.0), 1);
	struct na_want w = { .target = "2001:db8::60" };
	ns_multicast(p1, "2001:db8::1", "2001:db8::60");
	assert_int_equal(collect(p1, match_na, &w, 1, 2.0), 1);
	assert_memory_equal(w.last.tlla, p1->emac, 6);

	/* Down: withdrawn there; up again: announced again. */
	must_sh("ip link set l2e1 down");
	wait_until(cond_not_announced, "192.0.2.60", "l2e1", 3.0);
	assert_true(announced_on("192.0.2.60", "l2e0"));
	drain(p1);
	must_sh("ip link set l2e1 up");
	wait_until(cond_announced, "192.0.2.60", "l2e1", 3.0);
	assert_true(collect(p1, match_arp, &req, 1, 3.0) == 1);

	/* Gone: withdrawn. */
	must_sh("ip link del l2e1");
	wait_until(cond_not_announced, "192.0.2.60", "l2e1", 3.0);
	json_t *st = status();
	assert_null(status_iface(st, "l2e1"));
	json_decref(st);

	/* A new MAC: the neighbours are told again, with it. */
	drain(p0);
	must_sh("ip link set l2e0 address 02:00:00:00:01:99");
	uint8_t newmac[6] = { 0x02, 0, 0, 0, 0x01, 0x99 };
	struct arp_want again = { bcast, newmac, ARP_OP_REQUEST, "192.0.2.60", "192.0.2.60" };
	assert_true(collect(p0, match_arp, &again, 1, 3.0) == 1);
	arp_request(p0, "192.0.2.1", "192.0.2.60");
	struct arp_want rep = { p0->cmac, newmac, ARP_OP_REPLY, "192.0.2.60", "192.0.2.1" };
	assert_int_equal(collect(p0, match_arp, &rep, 1, 2.0), 1);
}

/* The first interface of an address going down: the announcement on the
 * other one (moved into the address's record) keeps its gratuitous rounds
 * and its answers. */
static void test_first_interface_down(void **state)
{
	add_pair("l2e0", "l2c0", true);
	struct pair *p1 = add_pair("l2e1", "l2c1", true);
	/* Rounds every 0.2 s for 3 s. */
	struct l2_engine_opts opts = { .garp_interval = 0.2, .garp_duration = 3.0 };
	start_engine(&opts);
	struct l2_owned o[] = { owned("192.0.2.70", "default/f") };
	l2_engine_set(L.e, o, 1);
	assert_true(announced_on("192.0.2.70", "l2e0"));
	assert_true(announced_on("192.0.2.70", "l2e1"));

	must_sh("ip link set l2e0 down");
	wait_until(cond_not_announced, "192.0.2.70", "l2e0", 3.0);
	assert_true(announced_on("192.0.2.70", "l2e1"));
	drain(p1);
	struct arp_want req = { bcast, p1->emac, ARP_OP_REQUEST, "192.0.2.70", "192.0.2.70" };
	assert_true(collect(p1, match_arp, &req, 2, 1.5) == 2);
	arp_request(p1, "192.0.2.1", "192.0.2.70");
	assert_int_equal(arp_replies(p1, "192.0.2.70", "192.0.2.1", 2.0), 1);

	/* Up again: announced there too; released: the rounds stop. */
	must_sh("ip link set l2e0 up");
	wait_until(cond_announced, "192.0.2.70", "l2e0", 3.0);
	l2_engine_set(L.e, NULL, 0);
	collect(p1, match_nothing, NULL, 0, 0.03);
	assert_int_equal(collect(p1, match_arp, &req, 1, 0.5), 0);
}

/* Whether the text of file has a line naming iface and containing hex. */
static bool proc_has(const char *file, const char *iface, const char *hex)
{
	size_t len;
	char *s = file_read_all(file, &len);
	bool found = false;

	assert_non_null(s);
	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, iface) && strstr(line, hex))
			found = true;
	free(s);
	return found;
}

static void test_multicast_groups(void **state)
{
	add_pair("l2e0", "l2c0", true);
	start_engine(&one_round);
	/* Both map to ff02::1:ff01:5, MAC 33:33:ff:01:00:05. */
	struct l2_owned o[] = { owned("2001:db8::1:5", "default/a"),
				owned("2001:db8:1::1:5", "default/b") };
	const char *group = "ff0200000000000000000001ff010005";
	const char *mac = "3333ff010005";

	assert_false(proc_has("/proc/net/igmp6", "l2e0", group));
	l2_engine_set(L.e, o, 2);
	assert_true(proc_has("/proc/net/igmp6", "l2e0", group));
	assert_true(proc_has("/proc/net/dev_mcast", "l2e0", mac));

	/* Still needed by the other address. */
	l2_engine_set(L.e, o + 1, 1);
	assert_true(proc_has("/proc/net/igmp6", "l2e0", group));
	assert_true(proc_has("/proc/net/dev_mcast", "l2e0", mac));

	l2_engine_set(L.e, NULL, 0);
	assert_false(proc_has("/proc/net/igmp6", "l2e0", group));
	assert_false(proc_has("/proc/net/dev_mcast", "l2e0", mac));
}

static bool cond_igmp6(const char *iface, const char *group)
{
	return proc_has("/proc/net/igmp6", iface, group);
}

/* A join that failed is tried again when the interface changes, even
 * though the groups of a port are otherwise looked at only when one is
 * added (not on every pass). */
static void test_multicast_join_retried(void **state)
{
	add_pair("l2e0", "l2c0", true);
	/* Below IPv6's minimum MTU the interface has no IPv6 at all: the
	 * MLD join fails. */
	must_sh("ip link set l2e0 mtu 1200");
	start_engine(&one_round);
	struct l2_owned o[] = { owned("2001:db8::1:7", "default/a") };
	const char *group = "ff0200000000000000000001ff010007";
	l2_engine_set(L.e, o, 1);
	assert_false(proc_has("/proc/net/igmp6", "l2e0", group));
	/* Another pass while nothing changed: still not joined, still tried. */
	l2_engine_set(L.e, o, 1);
	assert_false(proc_has("/proc/net/igmp6", "l2e0", group));
	must_sh("ip link set l2e0 mtu 1500");
	wait_until(cond_igmp6, "l2e0", group, 5.0);
}

static void test_bad_frames_counted(void **state)
{
	struct pair *p = add_pair("l2e0", "l2c0", true);
	start_engine(&one_round);
	struct l2_owned o[] = {
		owned("192.0.2.70", "default/a"),
		owned("2001:db8::70", "default/a"),
	};
	l2_engine_set(L.e, o, 2);

	uint8_t b[128];
	struct wbuf w;
	wbuf_init_fixed(&w, b, sizeof(b));
	mk_arp(&w, bcast, p->cmac, 6 /* IEEE 802 */, 1, "192.0.2.1", zero_mac, "192.0.2.70");
	send_client(p, &w);
	ns_request(p, (const uint8_t[]){ 0x33, 0x33, 0xff, 0, 0, 0x70 }, "2001:db8::1",
		   "ff02::1:ff00:70", "2001:db8::70", true, true);

	/* Refused, counted, and the engine goes on answering. */
	arp_request(p, "192.0.2.1", "192.0.2.70");
	assert_int_equal(arp_replies(p, "192.0.2.70", "192.0.2.1", 2.0), 1);
	struct na_want na = { .target = "2001:db8::70" };
	ns_multicast(p, "2001:db8::1", "2001:db8::70");
	assert_int_equal(collect(p, match_na, &na, 1, 2.0), 1);

	json_t *st = status();
	json_t *inv = json_object_get(st, "invalid_frames");
	assert_int_equal(json_integer_value(json_object_get(inv, "arp_htype")), 1);
	assert_int_equal(json_integer_value(json_object_get(inv, "ndp_checksum")), 1);
	json_decref(st);
	assert_true(metric("metallb_layer2_requests_received", "192.0.2.70") == 1);
}

/* Run argv in the client namespace while the engine's loop runs; its
 * output goes to out.  Returns the exit status, or -1 after a timeout. */
static int run_client(char *const argv[], char *out, size_t outlen, double timeout)
{
	int pfd[2];
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	in_client();
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	in_engine();
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	double deadline = ev_time() + timeout;
	size_t len = 0;
	int st = -1;
	for (;;) {
		ssize_t n = read(pfd[0], out + len, outlen - 1 - len);
		if (n > 0)
			len += (size_t)n;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			while ((n = read(pfd[0], out + len, outlen - 1 - len)) > 0)
				len += (size_t)n;
			st = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
			break;
		}
		if (ev_time() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			st = -1;
			break;
		}
		pump(pfd[0], 0.02);
	}
	out[len] = '\0';
	close(pfd[0]);
	return st;
}

static void test_real_clients(void **state)
{
	if (access("/usr/sbin/arping", X_OK) != 0 && access("/usr/bin/arping", X_OK) != 0) {
		TEST_SKIP("arping not installed");
	}
	add_pair("l2e0", "l2c0", true);
	in_client();
	must_sh("ip addr add 192.0.2.1/24 dev l2c0");
	must_sh("ip addr add 2001:db8::1/64 dev l2c0 nodad");
	in_engine();
	start_engine(&one_round);
	wait_until(cond_link_local, "l2e0", NULL, 3.0);
	struct l2_owned o[] = {
		owned("192.0.2.80", "default/a"),
		owned("2001:db8::80", "default/a"),
	};
	l2_engine_set(L.e, o, 2);

	char out[4096];
	char *arping[] = { "arping", "-c", "1", "-w", "2", "-i", "l2c0", "192.0.2.80", NULL };
	int st = run_client(arping, out, sizeof(out), 5.0);
	if (st != 0)
		fail_msg("arping exited %d: %s", st, out);
	assert_non_null(strcasestr(out, "02:00:00:00:01:01"));

	char *ndisc[] = { "ndisc6", "-1", "-r", "3", "-w", "500", "2001:db8::80", "l2c0", NULL };
	st = run_client(ndisc, out, sizeof(out), 5.0);
	if (st == 127)
		TEST_SKIP("ndisc6 not installed");
	if (st != 0)
		fail_msg("ndisc6 exited %d: %s", st, out);
	assert_non_null(strcasestr(out, "02:00:00:00:01:01"));

	/* The client's kernel as the resolver: a ping (that nobody answers)
	 * makes it resolve the address, and its neighbour table says what
	 * it learnt. */
	static const char *const targets[] = { "192.0.2.80", "2001:db8::80" };
	for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
		char *ping[] = { "ping", "-c", "1", "-W", "1", (char *)targets[i], NULL };
		run_client(ping, out, sizeof(out), 3.0);
		char *neigh[] = { "ip", "neigh", "show", (char *)targets[i], "dev", "l2c0", NULL };
		assert_int_equal(run_client(neigh, out, sizeof(out), 3.0), 0);
		if (!strcasestr(out, "lladdr 02:00:00:00:01:01"))
			fail_msg("client's neighbour entry for %s: %s", targets[i], out);
	}
}

static void test_start_needs_cap_net_raw(void **state)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct d[2];
		if (syscall(SYS_capget, &h, d) != 0)
			_exit(2);
		d[CAP_NET_RAW / 32].effective &= ~(1u << (CAP_NET_RAW % 32));
		if (syscall(SYS_capset, &h, d) != 0)
			_exit(3);
		struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
		struct l2_engine *e = l2_engine_new(loop, NULL, NULL);
		int r = l2_engine_start(e);
		l2_engine_free(e);
		ev_loop_destroy(loop);
		_exit(r == -1 ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_shared_address_and_existing_families(void **state)
{
	struct pair *p = add_pair("l2e0", "l2c0", true);
	/* Families registered elsewhere first are reused. */
	static const char *const labels[] = { "ip", NULL };
	struct metrics_family *pre = metrics_family_add(L.reg, "metallb_layer2_requests_received",
							 "pre-registered", METRICS_COUNTER, labels);
	assert_non_null(pre);
	start_engine(&one_round);

	/* Two Services sharing one address: one announcement. */
	struct l2_owned o[] = {
		owned("192.0.2.90", "default/a"),
		owned("192.0.2.90", "default/b"),
	};
	l2_engine_set(L.e, o, 2);
	json_t *st = status();
	assert_int_equal(json_array_size(json_object_get(st, "addresses")), 1);
	assert_string_equal(json_string_value(json_object_get(status_addr(st, "192.0.2.90"),
							      "service")), "default/a,default/b");
	json_decref(st);
	arp_request(p, "192.0.2.1", "192.0.2.90");
	assert_int_equal(arp_replies(p, "192.0.2.90", "192.0.2.1", 2.0), 1);
	/* The pre-registered family counts it (as /metrics shows it). */
	assert_ptr_equal(metrics_family_find(L.reg, "metallb_layer2_requests_received"), pre);
	assert_true(metric("metallb_layer2_requests_received", "192.0.2.90") == 1);

	/* One of them gone: still owned. */
	l2_engine_set(L.e, o + 1, 1);
	arp_request(p, "192.0.2.1", "192.0.2.90");
	assert_int_equal(arp_replies(p, "192.0.2.90", "192.0.2.1", 2.0), 1);
}

int main(void)
{
	if (geteuid() != 0)
		return test_skip_program("test_l2_engine",
					 "needs root (network namespaces, raw sockets)");
	/* Fails under a container runtime that forbids new namespaces. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return test_skip_program("test_l2_engine", "cannot create network namespaces here");
	log_set_level(getenv("IRONLB_TEST_LOG") ? LOG_DEBUG : LOG_ERROR);

#define LAB_TEST(t) cmocka_unit_test_setup_teardown(t, lab_setup, lab_teardown)
	const struct CMUnitTest tests[] = {
		LAB_TEST(test_arp_answers_owned_only),
		LAB_TEST(test_ndp_answers_owned_only),
		LAB_TEST(test_ndp_without_link_local),
		LAB_TEST(test_gratuitous),
		LAB_TEST(test_gratuitous_stops_when_released),
		cmocka_unit_test(test_garp_schedule),
		LAB_TEST(test_gratuitous_periodic),
		LAB_TEST(test_interface_restriction),
		LAB_TEST(test_install_vips),
		LAB_TEST(test_interface_appears_later),
		LAB_TEST(test_first_interface_down),
		LAB_TEST(test_multicast_groups),
		LAB_TEST(test_multicast_join_retried),
		LAB_TEST(test_bad_frames_counted),
		LAB_TEST(test_real_clients),
		LAB_TEST(test_start_needs_cap_net_raw),
		LAB_TEST(test_shared_address_and_existing_families),
	};
	return test_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
