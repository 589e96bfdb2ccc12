/*
 * One BFD session on the libev loop: transmit socket, periodic transmission
 * with jitter, detection timer, Poll Sequences, state changes.  See
 * bfd_session.h; the protocol rules are RFC 5880 §6.8, the socket rules RFC
 * 5881 §4-§5 (single hop) and RFC 5883 §2-§5 (multihop).
 */
#include "bfd/bfd_session.h"

#include <errno.h>
#include <ev.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/jw.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"
#include "bfd/bfd_echo.h"

/* RFC 5881 §4: the source port of control packets. */
#define SRC_PORT_MIN 49152
#define SRC_PORT_MAX 65535
/* Retry opening the transmit socket this often while it fails. */
#define REOPEN_S 1.0
/* How many AdminDown packets announce a shutdown (at the tx interval). */
#define ADMIN_DOWN_PACKETS 3

struct bfd_session {
	struct bfd_session_env env;
	struct bfd_session_cfg cfg;
	char label[IP_STR_MAX];

	enum bfd_state state, remote_state;
	enum bfd_diag local_diag, remote_diag;
	uint32_t local_disc, remote_disc;
	bool remote_demand;
	struct bfd_timers t;
	uint8_t detect_mult;

	int fd;                      /* transmit socket, -1 when not open */
	int ifindex;                 /* of cfg.interface, 0 if none */
	/* The transmit socket is not connected: the kernel picks the source
	 * address for each packet, so an address that appears or becomes
	 * usable after the session started (a tentative IPv6 address, one
	 * added later) is used as soon as it can be, instead of a source
	 * chosen once and kept (a connected socket opened too early keeps
	 * ::1, which the peer drops). */
	struct sockaddr_storage peer_sa;
	socklen_t peer_sl;
	/* Our address as the peer sends to it (the destination of its last
	 * packet): the status's "local", and the echo packets' address. */
	struct ip_addr rx_local;
	bool has_rx_local;
	uint16_t src_port;
	double next_open;            /* earliest retry of the socket */
	int open_errno;              /* last failure logged, 0 after a success */
	unsigned admin_down_left;    /* AdminDown packets still to send */

	/* echo function (RFC 5880 §6.4): see bfd_echo.h */
	bool echo_active;
	int echo_fd;                 /* AF_PACKET socket, -1 when not active */
	int echo_ifindex;
	uint8_t echo_mac[6];
	struct ip_addr echo_self;
	uint32_t remote_echo_rx_us;  /* the peer's Required Min Echo RX */
	uint32_t echo_rx_adv;        /* our Required Min Echo RX */
	uint32_t echo_tx_us;         /* echo interval in use */
	uint64_t echo_seq;
	double echo_next_try;        /* earliest retry after a failed start */
	const char *echo_why;        /* why echo is not active, for status */
	ev_io echo_io;
	ev_timer echo_tx_timer;
	ev_timer echo_detect_timer;

	ev_timer tx_timer;           /* next periodic packet */
	ev_timer detect_timer;       /* detection time (only with a peer) */

	double up_since;             /* ev_now() when it came Up */
	const char *last_down_reason;
	uint64_t control_in, control_out, echo_in, echo_out;
	uint64_t up_events, down_events, dropped;
};

static double now(const struct bfd_session *s)
{
	return ev_now(s->env.loop);
}

/* MetalLB's FRR exporter labels BFD series with the peer address and
 * FRR's VRF name, "default" for the default VRF. */
static const char *metric_vrf(const struct bfd_session *s)
{
	return s->cfg.vrf ? s->cfg.vrf : "default";
}

static void metric_add(const struct bfd_session *s, struct metrics_family *f, double v)
{
	const char *labels[] = { s->label, metric_vrf(s) };

	if (f)
		metrics_add(f, labels, v);
}

static void metric_set(const struct bfd_session *s, struct metrics_family *f, double v)
{
	const char *labels[] = { s->label, metric_vrf(s) };

	if (f)
		metrics_set(f, labels, v);
}

static uint32_t ms_to_us(uint32_t ms)
{
	/* The profile's ranges end at 60 s; anything larger would not fit
	 * the 32-bit microsecond fields, so it is capped. */
	return ms > UINT32_MAX / 1000 ? UINT32_MAX / 1000 * 1000 : ms * 1000;
}

static void cfg_defaults(struct bfd_session_cfg *c)
{
	if (!c->rx_interval_ms)
		c->rx_interval_ms = BFD_DEFAULT_RX_MS;
	if (!c->tx_interval_ms)
		c->tx_interval_ms = BFD_DEFAULT_TX_MS;
	if (!c->detect_mult)
		c->detect_mult = BFD_DEFAULT_DETECT_MULT;
	if (c->detect_mult > 255)
		c->detect_mult = 255;
	if (!c->echo_interval_ms)
		c->echo_interval_ms = BFD_DEFAULT_ECHO_MS;
	if (!c->minimum_ttl)
		c->minimum_ttl = BFD_DEFAULT_MIN_TTL;
}

static void cfg_copy(struct bfd_session_cfg *dst, const struct bfd_session_cfg *src)
{
	*dst = *src;
	dst->name = xstrdup(src->name ? src->name : "");
	dst->profile = xstrdup(src->profile);
	dst->interface = src->interface && *src->interface ? xstrdup(src->interface) : NULL;
	dst->vrf = src->vrf && *src->vrf ? xstrdup(src->vrf) : NULL;
	cfg_defaults(dst);
}

static void cfg_release(struct bfd_session_cfg *c)
{
	free(c->name);
	free(c->profile);
	free(c->interface);
	free(c->vrf);
}

/* ------------------------------------------------------------------ */
/* socket */

static bool is_link_local(const struct ip_addr *a)
{
	return a->family == IP_FAMILY_V6 && (uint16_t)(a->v >> 112) >> 6 == 0xfe80 >> 6;
}

static uint16_t peer_port(const struct bfd_session *s)
{
	const struct bfd_opts *o = s->env.opts;

	if (s->cfg.multihop)
		return o->peer_port_multi ? o->peer_port_multi
		       : o->port_multi	   ? o->port_multi
					   : BFD_PORT_MULTI;
	return o->peer_port_single ? o->peer_port_single
	       : o->port_single	   ? o->port_single
				   : BFD_PORT_SINGLE;
}

static void close_tx(struct bfd_session *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static int open_tx(struct bfd_session *s)
{
	const struct bfd_session_cfg *c = &s->cfg;
	int af = c->peer.family == IP_FAMILY_V4 ? AF_INET : AF_INET6;
	const char *dev = !c->multihop && c->interface ? c->interface : c->vrf;
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, ttl = 255, fd, rc = -1;
	uint16_t r16;

	if (s->fd >= 0)
		return 0;
	if (now(s) < s->next_open)
		return -1;
	s->next_open = now(s) + REOPEN_S;
	fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (dev && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev) + 1) < 0)
		goto fail;
	/* RFC 5881 §5 / RFC 5883 §5: send with TTL (hop limit) 255, so that
	 * the peer's GTSM check and minimumTtl can work. */
	if (af == AF_INET) {
		if (setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)) < 0)
			goto fail;
		(void)setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	} else {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl)) < 0)
			goto fail;
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
	}
	s->ifindex = c->interface ? (int)if_nametoindex(c->interface) : 0;
	/* RFC 5881 §4: one source port in 49152-65535 for the session. */
	for (int i = 0; i < 64; i++) {
		struct ip_addr any = { .family = c->peer.family };
		if (getrandom(&r16, sizeof(r16), 0) != sizeof(r16))
			r16 = (uint16_t)rand();
		s->src_port = (uint16_t)(SRC_PORT_MIN + r16 % (SRC_PORT_MAX - SRC_PORT_MIN + 1));
		sl = (socklen_t)ip_to_sockaddr(c->has_local ? &c->local : &any, s->src_port,
					       c->has_local && is_link_local(&c->local)
						       ? (uint32_t)s->ifindex
						       : 0,
					       &ss);
		rc = bind(fd, (struct sockaddr *)&ss, sl);
		if (rc == 0 || errno != EADDRINUSE)
			break;
	}
	if (rc < 0)
		goto fail;
	s->peer_sl = (socklen_t)ip_to_sockaddr(&c->peer, peer_port(s),
					       is_link_local(&c->peer) ? (uint32_t)s->ifindex : 0,
					       &s->peer_sa);
	s->fd = fd;
	s->open_errno = 0;
	return 0;
fail:
	/* Retried every second; said once per kind of failure. */
	if (errno != s->open_errno)
		log_warn("bfd transmit socket failed, retrying", "peer", s->cfg.name, "address",
			 s->label, "device", dev ? dev : "", "error", strerror(errno), NULL);
	s->open_errno = errno;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* ------------------------------------------------------------------ */
/* transmission */

/* §6.8.7: a passive session sends nothing until it knows its peer; a
 * session shut down sends its few AdminDown packets and then nothing. */
static bool may_send(const struct bfd_session *s)
{
	if (s->cfg.passive_mode && s->remote_disc == 0)
		return false;
	if (s->state == BFD_STATE_ADMIN_DOWN && s->admin_down_left == 0)
		return false;
	return true;
}

static void send_ctrl(struct bfd_session *s, bool poll, bool final)
{
	struct bfd_pkt p = { 0 };
	uint8_t buf[BFD_PKT_LEN];
	int n;

	if (!may_send(s) || open_tx(s) < 0)
		return;
	p.state = s->state;
	p.diag = s->local_diag;
	p.poll = poll && !final;   /* §6.8.7: never both */
	p.final = final;
	p.detect_mult = s->detect_mult;
	p.my_disc = s->local_disc;
	p.your_disc = s->remote_disc;
	p.desired_min_tx_us = s->t.adv_tx_us;
	p.required_min_rx_us = s->t.adv_rx_us;
	p.required_min_echo_rx_us = s->echo_rx_adv;
	n = bfd_pkt_encode(&p, buf, sizeof(buf));
	if (n < 0)
		return;
	if (sendto(s->fd, buf, (size_t)n, 0, (struct sockaddr *)&s->peer_sa, s->peer_sl) < 0) {
		/* Not worth a log line per packet; a route change is
		 * followed by reopening. */
		if (errno != EAGAIN)
			log_debug("bfd send failed", "peer", s->cfg.name, "error", strerror(errno),
				  NULL);
		if (errno == ENETUNREACH || errno == EADDRNOTAVAIL || errno == ENODEV)
			close_tx(s);
		return;
	}
	s->control_out++;
	metric_add(s, s->env.metrics->control_out, 1);
	if (s->state == BFD_STATE_ADMIN_DOWN && s->admin_down_left)
		s->admin_down_left--;
}

/* Jitter needs no secrecy, only independence between sessions and
 * restarts: a xorshift generator seeded once from the kernel, rather
 * than a system call for each of the thousands of packets a second that
 * a hundred fast sessions send. */
static double random01(void)
{
	static uint64_t x;

	while (x == 0)
		if (getrandom(&x, sizeof(x), 0) != sizeof(x))
			x = (uint64_t)rand() << 32 | (uint64_t)rand() | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (double)(x >> 11) / 9007199254740992.0;   /* 53 bits, [0, 1) */
}

/* The time to the next periodic packet: the negotiated interval with
 * jitter, or a slow poll of 1 s when the peer wants no periodic packets
 * (Required Min RX 0, or Demand mode while both are Up). */
static double next_tx_delay(const struct bfd_session *s)
{
	uint32_t iv = bfd_timers_tx_interval_us(&s->t);

	if (iv == 0 || (s->remote_demand && s->state == BFD_STATE_UP &&
			s->remote_state == BFD_STATE_UP))
		return 1.0;
	return (double)bfd_jitter_us(iv, s->detect_mult, random01()) / 1e6;
}

static bool periodic_allowed(const struct bfd_session *s)
{
	if (bfd_timers_tx_interval_us(&s->t) == 0)
		return false;
	/* §6.8.7: no periodic packets to a peer in Demand mode while both
	 * are Up. */
	if (s->remote_demand && s->state == BFD_STATE_UP && s->remote_state == BFD_STATE_UP)
		return false;
	return true;
}

static void tx_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bfd_session *s = w->data;

	if (periodic_allowed(s))
		send_ctrl(s, s->t.polling, false);
	ev_timer_stop(loop, w);
	ev_timer_set(w, next_tx_delay(s), 0);
	ev_timer_start(loop, w);
}

/* After the interval shrank (session Up, Final, the peer's first packet),
 * do not wait out the old, longer one. */
static void tx_reschedule(struct bfd_session *s)
{
	double d = next_tx_delay(s);

	if (!ev_is_active(&s->tx_timer) || ev_timer_remaining(s->env.loop, &s->tx_timer) > d) {
		ev_timer_stop(s->env.loop, &s->tx_timer);
		ev_timer_set(&s->tx_timer, d, 0);
		ev_timer_start(s->env.loop, &s->tx_timer);
	}
}


/* ------------------------------------------------------------------ */
/* echo function */

static void run_event(struct bfd_session *s, enum bfd_fsm_event ev);
static void apply_timers(struct bfd_session *s, const char *why);

/* Whether this host forwards packets of the family: only then can it
 * loop the peer's echo packets back, so only then do we advertise a
 * Required Min Echo RX Interval (§6.8.6: 0 tells the peer not to send
 * echo packets). */
static bool host_forwards(enum ip_family f)
{
	const char *path = f == IP_FAMILY_V4 ? "/proc/sys/net/ipv4/ip_forward"
					     : "/proc/sys/net/ipv6/conf/all/forwarding";
	FILE *fp = fopen(path, "r");
	int c = fp ? fgetc(fp) : EOF;

	if (fp)
		fclose(fp);
	return c == '1';
}

static uint32_t echo_rx_advertised(const struct bfd_session *s)
{
	if (!s->cfg.echo_mode || s->cfg.multihop || !host_forwards(s->cfg.peer.family))
		return 0;
	return ms_to_us(s->cfg.echo_interval_ms);
}

static bool echo_wanted(const struct bfd_session *s)
{
	/* §6.8.9 / RFC 5883 §3: echo only on single hop, only while Up,
	 * only when the peer is willing to loop echo packets back. */
	return s->cfg.echo_mode && !s->cfg.multihop && s->state == BFD_STATE_UP &&
	       s->remote_echo_rx_us != 0;
}

static uint32_t echo_interval_us(const struct bfd_session *s)
{
	uint32_t mine = ms_to_us(s->cfg.echo_interval_ms);

	return mine > s->remote_echo_rx_us ? mine : s->remote_echo_rx_us;
}

static double echo_detect_s(const struct bfd_session *s)
{
	return (double)s->detect_mult * (double)s->echo_tx_us / 1e6;
}

static void echo_tx_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bfd_session *s = w->data;
	struct bfd_echo_payload p = { .disc = s->local_disc, .seq = ++s->echo_seq };
	uint8_t pkt[BFD_ECHO_MAX];
	int n = bfd_echo_build(pkt, sizeof(pkt), &s->echo_self, s->src_port, BFD_PORT_ECHO, &p);

	if (n > 0 && bfd_echo_send(s->echo_fd, s->echo_ifindex, s->echo_self.family, s->echo_mac,
				   pkt, (size_t)n) == 0) {
		s->echo_out++;
		metric_add(s, s->env.metrics->echo_out, 1);
	}
	ev_timer_stop(loop, w);
	ev_timer_set(w, (double)bfd_jitter_us(s->echo_tx_us, s->detect_mult, random01()) / 1e6, 0);
	ev_timer_start(loop, w);
}

static void echo_rx_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bfd_session *s = w->data;

	for (int i = 0; i < 64; i++) {
		uint8_t buf[256];
		struct bfd_echo_payload p;
		struct ip_addr src;
		long n = bfd_echo_recv(s->echo_fd, buf, sizeof(buf));

		if (n < 0)
			return;
		if (n == 0 || bfd_echo_parse(buf, (size_t)n, BFD_PORT_ECHO, &src, &p) < 0)
			continue;
		/* Ours: from our address, with our discriminator, not from
		 * the future. */
		if (!ip_eq(&src, &s->echo_self) || p.disc != s->local_disc || p.seq > s->echo_seq)
			continue;
		s->echo_in++;
		metric_add(s, s->env.metrics->echo_in, 1);
		ev_timer_stop(loop, &s->echo_detect_timer);
		ev_timer_set(&s->echo_detect_timer, echo_detect_s(s), 0);
		ev_timer_start(loop, &s->echo_detect_timer);
	}
}

static void echo_detect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bfd_session *s = w->data;

	ev_timer_stop(loop, w);
	log_warn("bfd echo packets lost", "peer", s->cfg.name, "address", s->label, NULL);
	run_event(s, BFD_FSM_EV_ECHO_EXPIRED);
}

static void echo_stop(struct bfd_session *s)
{
	if (!s->echo_active)
		return;
	s->echo_active = false;
	ev_io_stop(s->env.loop, &s->echo_io);
	ev_timer_stop(s->env.loop, &s->echo_tx_timer);
	ev_timer_stop(s->env.loop, &s->echo_detect_timer);
	close(s->echo_fd);
	s->echo_fd = -1;
	log_info("bfd echo stopped", "peer", s->cfg.name, "address", s->label, NULL);
}

static void echo_start(struct bfd_session *s)
{
	const char *why = NULL;
	char err[64] = "";

	if (now(s) < s->echo_next_try)
		return;
	s->echo_next_try = now(s) + 5.0;
	if (s->cfg.has_local)
		s->echo_self = s->cfg.local;
	else if (s->has_rx_local)
		s->echo_self = s->rx_local;
	else {
		why = "local address unknown";
		goto fail;
	}
	s->echo_ifindex = s->ifindex ? s->ifindex : bfd_echo_ifindex_of(&s->echo_self);
	if (!s->echo_ifindex) {
		why = "no interface holds the local address";
		goto fail;
	}
	if (bfd_echo_neighbour(s->echo_ifindex, &s->cfg.peer, s->echo_mac) < 0) {
		why = "peer not in the neighbour table";
		goto fail;
	}
	s->echo_fd = bfd_echo_socket(s->echo_ifindex, s->echo_self.family, BFD_PORT_ECHO,
				     s->local_disc);
	if (s->echo_fd < 0) {
		why = "packet socket refused";
		snprintf(err, sizeof(err), "%s", strerror(errno));
		goto fail;
	}
	s->echo_active = true;
	s->echo_why = NULL;
	s->echo_tx_us = echo_interval_us(s);
	ev_io_init(&s->echo_io, echo_rx_cb, s->echo_fd, EV_READ);
	s->echo_io.data = s;
	ev_io_start(s->env.loop, &s->echo_io);
	ev_timer_set(&s->echo_tx_timer, 0, 0);
	ev_timer_start(s->env.loop, &s->echo_tx_timer);
	ev_timer_set(&s->echo_detect_timer, echo_detect_s(s), 0);
	ev_timer_start(s->env.loop, &s->echo_detect_timer);
	{
		char ms[16];
		snprintf(ms, sizeof(ms), "%u", s->echo_tx_us / 1000);
		log_info("bfd echo started", "peer", s->cfg.name, "address", s->label,
			 "interval_ms", ms, NULL);
	}
	return;
fail:
	if (s->echo_why != why)
		log_warn("bfd echo not started", "peer", s->cfg.name, "address", s->label,
			 "reason", why, "error", err, NULL);
	s->echo_why = why;
}

/* Start, stop or retune echo after anything it depends on changed; the
 * control packets slow down while it runs (§6.8.3). */
static void echo_update(struct bfd_session *s)
{
	bool was = s->echo_active;

	if (echo_wanted(s) && !s->echo_active)
		echo_start(s);
	else if (!echo_wanted(s) && s->echo_active)
		echo_stop(s);
	else if (s->echo_active)
		s->echo_tx_us = echo_interval_us(s);
	if (was != s->echo_active)
		apply_timers(s, s->echo_active ? "echo started" : "echo stopped");
}

/* ------------------------------------------------------------------ */
/* state */

/* why: what changed, for the log (a profile change is worth an info
 * line; the Poll of every state change is not). */
static void apply_timers(struct bfd_session *s, const char *why)
{
	bool up = s->state == BFD_STATE_UP;
	uint32_t rx = ms_to_us(s->cfg.rx_interval_ms);

	/* §6.8.3: while echo does the detecting, ask for control packets
	 * no faster than one a second. */
	if (s->echo_active && rx < BFD_SLOW_TX_US)
		rx = BFD_SLOW_TX_US;
	if (bfd_timers_update(&s->t, ms_to_us(s->cfg.tx_interval_ms), rx, s->detect_mult, up)) {
		char txs[16], rxs[16];
		snprintf(txs, sizeof(txs), "%u", s->t.adv_tx_us / 1000);
		snprintf(rxs, sizeof(rxs), "%u", s->t.adv_rx_us / 1000);
		log_msg(strcmp(why, "profile changed") == 0 ? LOG_INFO : LOG_DEBUG,
			"bfd poll sequence started", "peer", s->cfg.name, "address", s->label,
			"reason", why, "desired_min_tx_ms", txs, "required_min_rx_ms", rxs, NULL);
		send_ctrl(s, true, false);
	}
	if (!up)
		bfd_timers_stop_poll(&s->t);
}

static void change_state(struct bfd_session *s, enum bfd_fsm_event ev,
			 const struct bfd_fsm_cell *c)
{
	enum bfd_state from = s->state;
	char buf[16];

	if (c->diag != BFD_FSM_DIAG_KEEP)
		s->local_diag = (enum bfd_diag)c->diag;
	if (c->next == from)
		return;
	s->state = c->next;
	if (from == BFD_STATE_UP) {
		s->down_events++;
		s->last_down_reason = bfd_diag_str(s->local_diag);
		metric_add(s, s->env.metrics->down_events, 1);
		metric_set(s, s->env.metrics->session_up, 0);
	}
	if (c->next == BFD_STATE_UP) {
		s->up_since = now(s);
		s->up_events++;
		metric_add(s, s->env.metrics->up_events, 1);
		metric_set(s, s->env.metrics->session_up, 1);
	}
	if (c->next == BFD_STATE_ADMIN_DOWN)
		s->admin_down_left = ADMIN_DOWN_PACKETS;
	snprintf(buf, sizeof(buf), "%d", (int)s->local_diag);
	log_msg(c->next == BFD_STATE_UP || from != BFD_STATE_UP ? LOG_INFO : LOG_WARN,
		"bfd session state changed", "peer", s->cfg.name, "address", s->label, "from",
		bfd_state_str(from), "to", bfd_state_str(c->next), "event", bfd_fsm_event_name[ev],
		"diag", bfd_diag_str(s->local_diag), "remote_state", bfd_state_str(s->remote_state),
		NULL);
	if (s->echo_active && c->next != BFD_STATE_UP)
		echo_stop(s);
	apply_timers(s, "state changed");
	/* Tell the peer at once rather than at the next periodic packet. */
	if (!(s->t.polling && c->next == BFD_STATE_UP))
		send_ctrl(s, s->t.polling, false);
	tx_reschedule(s);
	if (s->env.changed)
		s->env.changed(s, from, c->next, s->local_diag, ev == BFD_FSM_EV_RX_ADMIN_DOWN,
			       s->env.arg);
}

static void run_event(struct bfd_session *s, enum bfd_fsm_event ev)
{
	struct bfd_fsm_cell c = bfd_fsm_lookup(s->state, ev);

	change_state(s, ev, &c);
}

static void detect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bfd_session *s = w->data;

	ev_timer_stop(loop, w);
	log_debug("bfd detection time expired", "peer", s->cfg.name, "state",
		  bfd_state_str(s->state), NULL);
	/* §6.8.1: bfd.RemoteDiscr is zeroed when the Detection Time passes
	 * without a valid packet; the peer is unknown again. */
	s->remote_disc = 0;
	s->remote_state = BFD_STATE_DOWN;
	s->remote_demand = false;
	s->remote_echo_rx_us = 0;
	bfd_timers_remote(&s->t, 0, 1, 0);
	run_event(s, BFD_FSM_EV_TIMER_EXPIRED);
}

enum bfd_pkt_err bfd_session_rx(struct bfd_session *s, const struct bfd_pkt *p,
				const struct bfd_rx_meta *m)
{
	struct bfd_fsm_cell c;
	bool first = s->remote_disc == 0;
	uint64_t det;

	/* RFC 5881 §5: single hop packets arrive with TTL 255 or not at
	 * all; RFC 5883 §5: multihop ones with at least minimumTtl. */
	if (m->ttl >= 0) {
		if (!s->cfg.multihop && !s->env.opts->no_gtsm && m->ttl != 255)
			goto ttl;
		if (s->cfg.multihop && (uint32_t)m->ttl < s->cfg.minimum_ttl)
			goto ttl;
	}
	s->control_in++;
	metric_add(s, s->env.metrics->control_in, 1);
	if (m->dst.family) {
		s->rx_local = m->dst;
		s->has_rx_local = true;
	}

	/* §6.8.6, in order. */
	s->remote_disc = p->my_disc;
	s->remote_state = p->state;
	s->remote_diag = p->diag;
	s->remote_demand = p->demand;
	bfd_timers_remote(&s->t, p->desired_min_tx_us, p->required_min_rx_us, p->detect_mult);
	s->remote_echo_rx_us = p->required_min_echo_rx_us;
	if (p->final && s->t.polling) {
		log_debug("bfd poll sequence done", "peer", s->cfg.name, "address", s->label, NULL);
		if (bfd_timers_final(&s->t)) {
			log_debug("bfd poll sequence started", "peer", s->cfg.name, "address",
				  s->label, "reason", "queued change", NULL);
			send_ctrl(s, true, false);
		}
	}
	c = bfd_fsm_lookup(s->state, bfd_fsm_rx_event(p->state));
	if (c.discard)
		return BFD_PKT_OK;
	change_state(s, bfd_fsm_rx_event(p->state), &c);
	/* §6.8.6: answer a Poll with Final at once (§6.8.7: P and F never
	 * together). */
	if (p->poll)
		send_ctrl(s, false, true);

	/* §6.8.4: restart the detection timer on every valid packet. */
	det = bfd_timers_detect_us(&s->t);
	ev_timer_stop(s->env.loop, &s->detect_timer);
	if (det && s->state != BFD_STATE_ADMIN_DOWN) {
		ev_timer_set(&s->detect_timer, (double)det / 1e6, 0);
		ev_timer_start(s->env.loop, &s->detect_timer);
	}
	if (first || p->final)
		tx_reschedule(s);
	if (s->cfg.echo_mode || s->echo_active)
		echo_update(s);
	return BFD_PKT_OK;
ttl:
	s->dropped++;
	return BFD_PKT_ERR_TTL;
}

void bfd_session_count_drop(struct bfd_session *s)
{
	s->dropped++;
}

bool bfd_session_matches(const struct bfd_session *s, const struct bfd_rx_meta *m)
{
	const struct bfd_session_cfg *c = &s->cfg;

	if (c->multihop != m->multihop || !ip_eq(&c->peer, &m->src))
		return false;
	if (c->has_local && m->dst.family && !ip_eq(&c->local, &m->dst))
		return false;
	if (!c->multihop && c->interface && s->ifindex && m->ifindex && m->ifindex != s->ifindex)
		return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* lifecycle */

struct bfd_session *bfd_session_new(const struct bfd_session_env *env,
				    const struct bfd_session_cfg *cfg, uint32_t local_disc)
{
	struct bfd_session *s = xcalloc(1, sizeof(*s));

	s->env = *env;
	cfg_copy(&s->cfg, cfg);
	ip_format(&s->cfg.peer, s->label);
	s->fd = -1;
	s->state = BFD_STATE_DOWN;
	s->remote_state = BFD_STATE_DOWN;
	s->local_disc = local_disc;
	s->detect_mult = (uint8_t)s->cfg.detect_mult;
	s->last_down_reason = "";
	bfd_timers_init(&s->t, ms_to_us(s->cfg.tx_interval_ms), ms_to_us(s->cfg.rx_interval_ms),
			s->detect_mult);
	ev_timer_init(&s->tx_timer, tx_cb, 0, 0);
	s->tx_timer.data = s;
	ev_timer_init(&s->detect_timer, detect_cb, 0, 0);
	s->detect_timer.data = s;
	s->echo_fd = -1;
	ev_timer_init(&s->echo_tx_timer, echo_tx_cb, 0, 0);
	s->echo_tx_timer.data = s;
	ev_timer_init(&s->echo_detect_timer, echo_detect_cb, 0, 0);
	s->echo_detect_timer.data = s;
	s->echo_rx_adv = echo_rx_advertised(s);
	/* Every series from the start, at 0, so that a scrape shows the
	 * session before anything happened to it. */
	metric_set(s, env->metrics->session_up, 0);
	metric_add(s, env->metrics->control_in, 0);
	metric_add(s, env->metrics->control_out, 0);
	metric_add(s, env->metrics->echo_in, 0);
	metric_add(s, env->metrics->echo_out, 0);
	metric_add(s, env->metrics->up_events, 0);
	metric_add(s, env->metrics->down_events, 0);
	log_info("bfd session created", "peer", s->cfg.name, "address", s->label, "profile",
		 s->cfg.profile ? s->cfg.profile : "", "multihop", s->cfg.multihop ? "true" : "false",
		 "passive", s->cfg.passive_mode ? "true" : "false", NULL);
	/* The first packet goes out at once (not passive), then at the slow
	 * rate of §6.8.3 until the session is Up. */
	ev_timer_set(&s->tx_timer, 0, 0);
	ev_timer_start(env->loop, &s->tx_timer);
	return s;
}

void bfd_session_reconfigure(struct bfd_session *s, const struct bfd_session_cfg *cfg)
{
	struct bfd_session_cfg n;

	cfg_copy(&n, cfg);
	cfg_release(&s->cfg);
	s->cfg = n;
	s->detect_mult = (uint8_t)s->cfg.detect_mult;
	log_info("bfd session reconfigured", "peer", s->cfg.name, "address", s->label, "profile",
		 s->cfg.profile ? s->cfg.profile : "", NULL);
	s->echo_rx_adv = echo_rx_advertised(s);
	s->echo_next_try = 0;
	echo_update(s);
	apply_timers(s, "profile changed");
	tx_reschedule(s);
}

void bfd_session_admin_down(struct bfd_session *s)
{
	bool known = s->remote_disc != 0;

	ev_timer_stop(s->env.loop, &s->detect_timer);
	run_event(s, BFD_FSM_EV_ADMIN_DOWN);
	if (!known)
		s->admin_down_left = 0;
}

void bfd_session_free(struct bfd_session *s)
{
	const struct bfd_metrics *m;

	if (!s)
		return;
	/* The owner removed the session: it is not told about its end (and
	 * may be in the middle of changing its own tables). */
	s->env.changed = NULL;
	if (s->state != BFD_STATE_ADMIN_DOWN)
		bfd_session_admin_down(s);
	m = s->env.metrics;
	echo_stop(s);
	ev_timer_stop(s->env.loop, &s->tx_timer);
	ev_timer_stop(s->env.loop, &s->detect_timer);
	close_tx(s);
	{
		struct metrics_family *fams[] = { m->session_up, m->control_in, m->control_out,
						  m->echo_in,	 m->echo_out,	m->up_events,
						  m->down_events };
		for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++)
			if (fams[i]) {
				const char *labels[] = { s->label, metric_vrf(s) };
				metrics_remove(fams[i], labels);
			}
	}
	log_info("bfd session removed", "peer", s->cfg.name, "address", s->label, NULL);
	cfg_release(&s->cfg);
	free(s);
}

/* ------------------------------------------------------------------ */
/* accessors and status */

const char *bfd_session_name(const struct bfd_session *s)
{
	return s->cfg.name;
}

const struct bfd_session_cfg *bfd_session_get_cfg(const struct bfd_session *s)
{
	return &s->cfg;
}

enum bfd_state bfd_session_state(const struct bfd_session *s)
{
	return s->state;
}

uint32_t bfd_session_local_disc(const struct bfd_session *s)
{
	return s->local_disc;
}

const struct bfd_timers *bfd_session_timers(const struct bfd_session *s)
{
	return &s->t;
}

const char *bfd_session_label(const struct bfd_session *s)
{
	return s->label;
}

static const char *echo_inactive_reason(const struct bfd_session *s)
{
	if (!s->cfg.echo_mode || s->echo_active)
		return NULL;
	if (s->cfg.multihop)
		return "multihop session (RFC 5883 §3: no echo)";
	if (s->state != BFD_STATE_UP)
		return "session not up";
	if (s->remote_echo_rx_us == 0)
		return "peer does not loop echo packets (Required Min Echo RX 0)";
	return s->echo_why ? s->echo_why : "starting";
}

void bfd_session_status(const struct bfd_session *s, struct jw *w)
{
	const struct bfd_session_cfg *c = &s->cfg;
	char buf[IP_STR_MAX];
	bool up = s->state == BFD_STATE_UP;

	jw_obj_begin(w);
	jw_kstr(w, "name", c->name);
	jw_kstr(w, "profile", c->profile);
	jw_kstr(w, "peer", s->label);
	if (c->has_local)
		jw_kstr(w, "local", ip_format(&c->local, buf));
	else if (s->has_rx_local)
		jw_kstr(w, "local", ip_format(&s->rx_local, buf));
	else
		jw_kstr(w, "local", NULL);
	jw_kstr(w, "interface", c->interface);
	jw_kstr(w, "vrf", c->vrf);
	jw_kbool(w, "multihop", c->multihop);
	jw_kbool(w, "passive", c->passive_mode);
	jw_kstr(w, "state", bfd_state_str(s->state));
	jw_kstr(w, "remoteState", bfd_state_str(s->remote_state));
	jw_kint(w, "localDiscriminator", s->local_disc);
	jw_kint(w, "remoteDiscriminator", s->remote_disc);
	jw_kstr(w, "localDiag", bfd_diag_str(s->local_diag));
	jw_kstr(w, "remoteDiag", bfd_diag_str(s->remote_diag));
	jw_kint(w, "txIntervalMs", bfd_timers_tx_interval_us(&s->t) / 1000);
	jw_kint(w, "rxIntervalMs", (long long)(s->t.use_rx_us > s->t.remote_tx_us ? s->t.use_rx_us
										 : s->t.remote_tx_us) /
					  1000);
	jw_kint(w, "detectMult", s->detect_mult);
	jw_kint(w, "remoteDetectMult", s->t.remote_mult);
	jw_kint(w, "detectionTimeMs", (long long)(bfd_timers_detect_us(&s->t) / 1000));
	jw_kbool(w, "pollActive", s->t.polling);
	jw_kbool(w, "echoActive", s->echo_active);
	jw_kint(w, "echoIntervalMs", s->echo_active ? s->echo_tx_us / 1000 : 0);
	jw_kint(w, "remoteEchoRxIntervalMs", s->remote_echo_rx_us / 1000);
	jw_kint(w, "echoRxIntervalMs", s->echo_rx_adv / 1000);
	jw_kstr(w, "echoInactiveReason", echo_inactive_reason(s));
	jw_kint(w, "uptimeS", up ? (long long)floor(now(s) - s->up_since) : 0);
	jw_kstr(w, "lastDownReason", s->last_down_reason);
	jw_kint(w, "controlIn", (long long)s->control_in);
	jw_kint(w, "controlOut", (long long)s->control_out);
	jw_kint(w, "echoIn", (long long)s->echo_in);
	jw_kint(w, "echoOut", (long long)s->echo_out);
	jw_kint(w, "upEvents", (long long)s->up_events);
	jw_kint(w, "downEvents", (long long)s->down_events);
	jw_kint(w, "dropped", (long long)s->dropped);
	jw_obj_end(w);
}
