/*
 * BFD module: the sessions of a daemon, the listening sockets they share,
 * demultiplexing of received packets, configuration, status and metrics
 * (see bfd.h).
 *
 * Listening sockets are opened per (address family, hop mode, VRF) while a
 * session needs one: UDP 3784 for single hop (RFC 5881 §4), 4784 for
 * multihop (RFC 5883 §5), with IP_PKTINFO and IP_RECVTTL (or their IPv6
 * counterparts) so that the destination address, the arrival interface and
 * the TTL of each packet are known.  A packet is decoded and checked by
 * bfd_pkt, then given to the session its Your Discriminator names, or,
 * while that is zero, to the session of its addresses (RFC 5880 §6.8.6).
 * A socket that cannot be opened (the VRF device does not exist yet) is
 * retried every few seconds.  Sessions with echo also get the echo port
 * (3785), which only reflects FRR's IPv6 echo packets (echo_reflect_cb);
 * our own echo packets travel on the sessions' packet sockets
 * (bfd_echo.h).
 */
#include "bfd/bfd.h"

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/jw.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"
#include "bfd/bfd_session.h"

#define RETRY_S 5.0

struct bfd_sock {
	struct bfd *b;
	int af;
	bool multihop;
	bool echo;                   /* the echo port: reflector (see below) */
	char *vrf;                   /* NULL: default */
	int fd;
	int open_errno;              /* last failure logged, 0 after a success */
	ev_io io;
	bool used;                   /* mark during bfd_set */
};

struct bfd {
	struct ev_loop *loop;
	struct bfd_opts opts;
	char *node_name;
	struct bfd_metrics m;
	struct bfd_session_env env;
	bfd_state_fn listener;
	void *listener_arg;
	struct bfd_session **s;      /* sorted by name */
	size_t n;
	struct bfd_sock **socks;
	size_t nsocks;
	ev_timer retry;
	bool stopped;
	uint64_t drops[BFD_PKT_ERR_COUNT];
};

static bool str_eq(const char *a, const char *b)
{
	if (!a || !*a || !b || !*b)
		return (!a || !*a) && (!b || !*b);
	return strcmp(a, b) == 0;
}

bool bfd_session_cfg_same_identity(const struct bfd_session_cfg *a,
				   const struct bfd_session_cfg *b)
{
	return str_eq(a->name, b->name) && ip_eq(&a->peer, &b->peer) &&
	       a->has_local == b->has_local && (!a->has_local || ip_eq(&a->local, &b->local)) &&
	       str_eq(a->interface, b->interface) && str_eq(a->vrf, b->vrf) &&
	       a->multihop == b->multihop;
}

bool bfd_session_cfg_differs(const struct bfd_session_cfg *a, const struct bfd_session_cfg *b)
{
	return !bfd_session_cfg_same_identity(a, b) || !str_eq(a->profile, b->profile) ||
	       a->rx_interval_ms != b->rx_interval_ms || a->tx_interval_ms != b->tx_interval_ms ||
	       a->detect_mult != b->detect_mult || a->echo_interval_ms != b->echo_interval_ms ||
	       a->echo_mode != b->echo_mode || a->passive_mode != b->passive_mode ||
	       a->minimum_ttl != b->minimum_ttl;
}

/* ------------------------------------------------------------------ */
/* receive */

static uint16_t listen_port(const struct bfd *b, bool multihop, bool echo)
{
	if (echo)
		return b->opts.port_echo ? b->opts.port_echo : BFD_PORT_ECHO;
	if (multihop)
		return b->opts.port_multi ? b->opts.port_multi : BFD_PORT_MULTI;
	return b->opts.port_single ? b->opts.port_single : BFD_PORT_SINGLE;
}

static struct bfd_session *by_disc(const struct bfd *b, uint32_t disc)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->s[i] && bfd_session_local_disc(b->s[i]) == disc)
			return b->s[i];
	return NULL;
}

static struct bfd_session *by_addr(const struct bfd *b, const struct bfd_sock *k,
				   const struct bfd_rx_meta *m)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct bfd_session_cfg *c = bfd_session_get_cfg(b->s[i]);
		if (str_eq(c->vrf, k->vrf) && bfd_session_matches(b->s[i], m))
			return b->s[i];
	}
	return NULL;
}

static void drop(struct bfd *b, enum bfd_pkt_err e, const struct bfd_rx_meta *m)
{
	char buf[IP_STR_MAX];

	b->drops[e]++;
	log_debug("bfd packet dropped", "from", ip_format(&m->src, buf), "reason",
		  bfd_pkt_err_name[e], NULL);
}

static void parse_cmsgs(struct msghdr *mh, struct bfd_rx_meta *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
			int v;
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			m->ttl = v;
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			m->dst = ip_from_bytes(IP_FAMILY_V4, (uint8_t *)&pi.ipi_addr);
			m->ifindex = pi.ipi_ifindex;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
			int v;
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			m->ttl = v;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			m->dst = ip_from_bytes(IP_FAMILY_V6, pi.ipi6_addr.s6_addr);
			m->ifindex = (int)pi.ipi6_ifindex;
		}
	}
}

static struct ip_addr from_sockaddr(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ip_from_bytes(IP_FAMILY_V4,
				     (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr);
	return ip_from_bytes(IP_FAMILY_V6, ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr);
}

/* One datagram with its addresses and ancillary data, for the receive
 * loops below (the echo reflector sends it back through mh). */
struct rx_buf {
	uint8_t buf[512];
	union {
		char c[256];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_storage from;
	struct iovec iov;
	struct msghdr mh;
};

/* Receives one datagram into r without blocking and fills m's source,
 * destination, interface and TTL; its length, or -1 when none waits. */
static ssize_t rx_recv(int fd, struct rx_buf *r, struct bfd_rx_meta *m)
{
	r->iov = (struct iovec){ r->buf, sizeof(r->buf) };
	r->mh = (struct msghdr){ .msg_name = &r->from, .msg_namelen = sizeof(r->from),
				 .msg_iov = &r->iov, .msg_iovlen = 1,
				 .msg_control = r->ctl.c, .msg_controllen = sizeof(r->ctl.c) };
	ssize_t n = recvmsg(fd, &r->mh, MSG_DONTWAIT);
	if (n < 0)
		return -1;
	m->src = from_sockaddr(&r->from);
	parse_cmsgs(&r->mh, m);
	return n;
}

static void rx_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bfd_sock *k = w->data;
	struct bfd *b = k->b;

	/* Bounded, so that one busy socket cannot starve the loop. */
	for (int i = 0; i < 64; i++) {
		struct rx_buf r;
		struct bfd_rx_meta m = { .ttl = -1, .multihop = k->multihop };
		struct bfd_session *s;
		struct bfd_pkt p;
		enum bfd_pkt_err e;
		ssize_t n = rx_recv(k->fd, &r, &m);

		if (n < 0)
			return;
		e = bfd_pkt_decode(r.buf, (size_t)n, &p);
		if (e != BFD_PKT_OK) {
			drop(b, e, &m);
			/* Counted on the session of its addresses, if any. */
			if ((s = by_addr(b, k, &m)))
				bfd_session_count_drop(s);
			continue;
		}
		/* §6.8.6: Your Discriminator selects the session; while it is
		 * zero, the addresses (and interface) do. */
		s = p.your_disc ? by_disc(b, p.your_disc) : by_addr(b, k, &m);
		if (s && p.your_disc && bfd_session_get_cfg(s)->multihop != k->multihop)
			s = NULL;
		if (!s) {
			drop(b, BFD_PKT_ERR_NO_SESSION, &m);
			if ((s = by_addr(b, k, &m)))
				bfd_session_count_drop(s);
			continue;
		}
		e = bfd_session_rx(s, &p, &m);
		if (e != BFD_PKT_OK)
			drop(b, e, &m);
	}
}

/*
 * Echo packets delivered to our own echo port.  A true echo (RFC 5881 §4)
 * never arrives here: it is addressed to its sender and our kernel
 * forwards it back.  FRR's bfdd sends its IPv6 echo packets to the peer's
 * address instead, with hop limit 255, and expects the peer to send them
 * back with 254 (its bfdd does so for its own kind); we do the same, for
 * the peers of sessions that asked for echo and are Up, so that FRR's
 * IPv6 echo works against us.  Anything else is dropped.
 */
static void echo_reflect_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bfd_sock *k = w->data;
	struct bfd *b = k->b;

	for (int i = 0; i < 64; i++) {
		struct rx_buf r;
		struct msghdr *mh = &r.mh;
		struct bfd_rx_meta m = { .ttl = -1 };
		const struct bfd_session *s = NULL;
		ssize_t n = rx_recv(k->fd, &r, &m);

		if (n < 0)
			return;
		if (m.ttl != 255)
			continue;
		for (size_t j = 0; j < b->n && !s; j++) {
			const struct bfd_session_cfg *c = bfd_session_get_cfg(b->s[j]);
			if (c->echo_mode && !c->multihop && str_eq(c->vrf, k->vrf) &&
			    bfd_session_state(b->s[j]) == BFD_STATE_UP && ip_eq(&c->peer, &m.src))
				s = b->s[j];
		}
		if (!s)
			continue;
		/* Back to where it came from, from the address it was sent to,
		 * with one hop less. */
		union {
			char c[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} out;
		int hops = 254;
		memset(&out, 0, sizeof(out));
		mh->msg_iov->iov_len = (size_t)n;
		mh->msg_control = out.c;
		mh->msg_flags = 0;
		struct cmsghdr *c = (struct cmsghdr *)out.c;
		if (k->af == AF_INET) {
			struct in_pktinfo pi = { 0 };
			pi.ipi_ifindex = m.ifindex;
			ip_to_bytes(&m.dst, (uint8_t *)&pi.ipi_spec_dst);
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			c = (struct cmsghdr *)(out.c + CMSG_SPACE(sizeof(pi)));
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_TTL;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &hops, sizeof(int));
			mh->msg_controllen = CMSG_SPACE(sizeof(pi)) + CMSG_SPACE(sizeof(int));
		} else {
			struct in6_pktinfo pi = { 0 };
			pi.ipi6_ifindex = (unsigned)m.ifindex;
			ip_to_bytes(&m.dst, pi.ipi6_addr.s6_addr);
			c->cmsg_level = IPPROTO_IPV6;
			c->cmsg_type = IPV6_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			c = (struct cmsghdr *)(out.c + CMSG_SPACE(sizeof(pi)));
			c->cmsg_level = IPPROTO_IPV6;
			c->cmsg_type = IPV6_HOPLIMIT;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &hops, sizeof(int));
			mh->msg_controllen = CMSG_SPACE(sizeof(pi)) + CMSG_SPACE(sizeof(int));
		}
		if (sendmsg(k->fd, mh, MSG_DONTWAIT) < 0)
			log_debug("bfd echo reflect failed", "peer", bfd_session_name(s), "error",
				  strerror(errno), NULL);
	}
}

static void sock_close(struct bfd_sock *k)
{
	if (k->fd >= 0) {
		ev_io_stop(k->b->loop, &k->io);
		close(k->fd);
	}
	k->fd = -1;
}

static int sock_open(struct bfd_sock *k)
{
	struct bfd *b = k->b;
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int one = 1, fd;
	uint16_t port = listen_port(b, k->multihop, k->echo);

	fd = socket(k->af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (k->vrf && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, k->vrf,
				 (socklen_t)strlen(k->vrf) + 1) < 0)
		goto fail;
	if (k->af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one)) < 0)
			goto fail;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one)) < 0)
			goto fail;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sl = sizeof(*sin6);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		goto fail;
	k->fd = fd;
	k->open_errno = 0;
	ev_io_init(&k->io, k->echo ? echo_reflect_cb : rx_cb, fd, EV_READ);
	k->io.data = k;
	ev_io_start(b->loop, &k->io);
	return 0;
fail:
	/* Retried every few seconds; said once per kind of failure. */
	if (errno != k->open_errno) {
		char pbuf[8];
		k->open_errno = errno;
		snprintf(pbuf, sizeof(pbuf), "%u", port);
		log_warn("bfd listening socket failed, retrying", "family",
			 k->af == AF_INET ? "ipv4" : "ipv6", "port", pbuf, "vrf",
			 k->vrf ? k->vrf : "", "error", strerror(errno), NULL);
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bfd *b = w->data;

	for (size_t i = 0; i < b->nsocks; i++)
		if (b->socks[i]->fd < 0)
			sock_open(b->socks[i]);
}

static void sock_need(struct bfd *b, const struct bfd_session_cfg *c, bool echo)
{
	int af = c->peer.family == IP_FAMILY_V4 ? AF_INET : AF_INET6;
	struct bfd_sock *k;

	for (size_t i = 0; i < b->nsocks; i++) {
		k = b->socks[i];
		if (k->af == af && k->echo == echo && (echo || k->multihop == c->multihop) &&
		    str_eq(k->vrf, c->vrf)) {
			k->used = true;
			return;
		}
	}
	k = xcalloc(1, sizeof(*k));
	k->b = b;
	k->af = af;
	k->multihop = !echo && c->multihop;
	k->echo = echo;
	k->vrf = c->vrf && *c->vrf ? xstrdup(c->vrf) : NULL;
	k->fd = -1;
	k->used = true;
	sock_open(k);
	*(struct bfd_sock **)xappend(&b->socks, &b->nsocks, sizeof(k)) = k;
}

static void sock_free(struct bfd_sock *k)
{
	sock_close(k);
	free(k->vrf);
	free(k);
}

/* ------------------------------------------------------------------ */
/* sessions */

static void on_change(struct bfd_session *s, enum bfd_state from, enum bfd_state to,
		      enum bfd_diag diag, bool peer_admin_down, void *arg)
{
	struct bfd *b = arg;

	if (b->listener)
		b->listener(b->listener_arg, bfd_session_name(s), from, to, diag, peer_admin_down);
}

static uint32_t new_disc(const struct bfd *b)
{
	uint32_t d;

	/* §6.8.1: a unique, non-zero local discriminator, chosen at random
	 * so that a restart is not mistaken for the old session. */
	do {
		if (getrandom(&d, sizeof(d), 0) != sizeof(d))
			d = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
	} while (d == 0 || by_disc(b, d));
	return d;
}

static struct metrics_family *family(struct metrics_registry *reg, const char *name,
				     const char *help, enum metrics_type type)
{
	static const char *const labels[] = { "peer", "vrf", NULL };
	struct metrics_family *f;

	if (!reg)
		return NULL;
	f = metrics_family_find(reg, name);
	if (!f)
		f = metrics_family_add(reg, name, help, type, labels);
	return f;
}

struct bfd *bfd_new(struct ev_loop *loop, struct metrics_registry *reg,
		    const struct bfd_opts *opts)
{
	struct bfd *b = xcalloc(1, sizeof(*b));

	b->loop = loop;
	if (opts)
		b->opts = *opts;
	b->node_name = xstrdup(b->opts.node_name ? b->opts.node_name : "");
	b->opts.node_name = b->node_name;
	/* MetalLB's names and help texts (its FRR exporter). */
	b->m.session_up = family(reg, "metallb_bfd_session_up",
				 "BFD session state (1 is up, 0 is down)", METRICS_GAUGE);
	b->m.control_in = family(reg, "metallb_bfd_control_packet_input",
				 "Number of received BFD control packets", METRICS_COUNTER);
	b->m.control_out = family(reg, "metallb_bfd_control_packet_output",
				  "Number of sent BFD control packets", METRICS_COUNTER);
	b->m.echo_in = family(reg, "metallb_bfd_echo_packet_input",
			      "Number of received BFD echo packets", METRICS_COUNTER);
	b->m.echo_out = family(reg, "metallb_bfd_echo_packet_output",
			       "Number of sent BFD echo packets", METRICS_COUNTER);
	b->m.up_events = family(reg, "metallb_bfd_session_up_events",
				"Number of BFD session up events", METRICS_COUNTER);
	b->m.down_events = family(reg, "metallb_bfd_session_down_events",
				  "Number of BFD session down events", METRICS_COUNTER);
	b->env.loop = loop;
	b->env.opts = &b->opts;
	b->env.metrics = &b->m;
	b->env.changed = on_change;
	b->env.arg = b;
	ev_timer_init(&b->retry, retry_cb, RETRY_S, RETRY_S);
	b->retry.data = b;
	return b;
}

static int find(const struct bfd *b, const char *name, size_t *at)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(bfd_session_name(b->s[mid]), name);
		if (c == 0) {
			*at = mid;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return -1;
}

static int cmp_cfg_ptr(const void *a, const void *b)
{
	const struct bfd_session_cfg *x = *(const struct bfd_session_cfg *const *)a;
	const struct bfd_session_cfg *y = *(const struct bfd_session_cfg *const *)b;

	return strcmp(x->name, y->name);
}

/* A shallow copy with the defaults the session applies, so that a field
 * given as 0 compares equal to the default it stands for. */
static const struct bfd_session_cfg *with_defaults(const struct bfd_session_cfg *c,
						   struct bfd_session_cfg *tmp)
{
	*tmp = *c;
	if (!tmp->rx_interval_ms)
		tmp->rx_interval_ms = BFD_DEFAULT_RX_MS;
	if (!tmp->tx_interval_ms)
		tmp->tx_interval_ms = BFD_DEFAULT_TX_MS;
	if (!tmp->detect_mult)
		tmp->detect_mult = BFD_DEFAULT_DETECT_MULT;
	if (tmp->detect_mult > 255)
		tmp->detect_mult = 255;
	if (!tmp->echo_interval_ms)
		tmp->echo_interval_ms = BFD_DEFAULT_ECHO_MS;
	if (!tmp->minimum_ttl)
		tmp->minimum_ttl = BFD_DEFAULT_MIN_TTL;
	return tmp;
}

int bfd_set(struct bfd *b, const struct bfd_session_cfg *cfgs, size_t n)
{
	const struct bfd_session_cfg **sorted = n ? xcalloc(n, sizeof(*sorted)) : NULL;
	struct bfd_session **next = n ? xcalloc(n, sizeof(*next)) : NULL;
	bool *kept = b->n ? xcalloc(b->n, sizeof(*kept)) : NULL;

	for (size_t i = 0; i < n; i++) {
		if (!cfgs[i].name || !*cfgs[i].name ||
		    (cfgs[i].peer.family != IP_FAMILY_V4 && cfgs[i].peer.family != IP_FAMILY_V6)) {
			log_error("bfd session refused: a name and a peer address are required",
				  "peer", cfgs[i].name ? cfgs[i].name : "", NULL);
			goto refuse;
		}
		sorted[i] = &cfgs[i];
	}
	if (n)
		qsort(sorted, n, sizeof(*sorted), cmp_cfg_ptr);
	for (size_t i = 1; i < n; i++)
		if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
			log_error("bfd sessions refused: the same name twice", "peer",
				  sorted[i]->name, NULL);
			goto refuse;
		}

	for (size_t i = 0; i < b->nsocks; i++)
		b->socks[i]->used = false;
	for (size_t i = 0; i < n; i++) {
		const struct bfd_session_cfg *c = sorted[i];
		struct bfd_session_cfg tmp;
		size_t at;

		sock_need(b, c, false);
		if (c->echo_mode && !c->multihop)
			sock_need(b, c, true);
		if (find(b, c->name, &at) == 0 &&
		    bfd_session_cfg_same_identity(bfd_session_get_cfg(b->s[at]), c)) {
			next[i] = b->s[at];
			kept[at] = true;
			if (bfd_session_cfg_differs(bfd_session_get_cfg(b->s[at]),
						    with_defaults(c, &tmp)))
				bfd_session_reconfigure(b->s[at], c);
			continue;
		}
		next[i] = NULL;   /* created below, after the old one is gone */
	}
	for (size_t i = 0; i < b->n; i++)
		if (!kept[i])
			bfd_session_free(b->s[i]);
	free(b->s);
	b->s = next;
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		if (!next[i]) {
			next[i] = bfd_session_new(&b->env, sorted[i], new_disc(b));
			if (b->stopped)
				bfd_session_admin_down(next[i]);
		}
	}
	for (size_t i = 0; i < b->nsocks;) {
		if (!b->socks[i]->used) {
			sock_free(b->socks[i]);
			b->socks[i] = b->socks[--b->nsocks];
		} else {
			i++;
		}
	}
	if (b->nsocks && !ev_is_active(&b->retry))
		ev_timer_start(b->loop, &b->retry);
	else if (!b->nsocks)
		ev_timer_stop(b->loop, &b->retry);
	free(sorted);
	free(kept);
	return 0;
refuse:
	free(sorted);
	free(next);
	free(kept);
	return -1;
}

void bfd_set_listener(struct bfd *b, bfd_state_fn fn, void *arg)
{
	b->listener = fn;
	b->listener_arg = arg;
}

enum bfd_state bfd_state_of(const struct bfd *b, const char *name)
{
	size_t at;

	if (!name || find(b, name, &at) < 0)
		return BFD_STATE_NONE;
	return bfd_session_state(b->s[at]);
}

void bfd_stop(struct bfd *b)
{
	b->stopped = true;
	for (size_t i = 0; i < b->n; i++)
		if (bfd_session_state(b->s[i]) != BFD_STATE_ADMIN_DOWN)
			bfd_session_admin_down(b->s[i]);
}

void bfd_free(struct bfd *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		bfd_session_free(b->s[i]);
	free(b->s);
	for (size_t i = 0; i < b->nsocks; i++)
		sock_free(b->socks[i]);
	free(b->socks);
	ev_timer_stop(b->loop, &b->retry);
	free(b->node_name);
	free(b);
}

void bfd_status_write(const struct bfd *b, struct jw *w)
{
	jw_arr_begin(w);
	for (size_t i = 0; i < b->n; i++)
		bfd_session_status(b->s[i], w);
	jw_arr_end(w);
}

json_t *bfd_status_json(const struct bfd *b)
{
	struct jw w;
	char *text;
	json_t *j;

	jw_init(&w, false);
	bfd_status_write(b, &w);
	text = jw_finish(&w, NULL);
	j = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	return j;
}
