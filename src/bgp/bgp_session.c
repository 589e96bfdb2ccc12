/*
 * One BGP session on a libev loop (see bgp_session.h).
 *
 * State:
 *   conn     the connection the state machine runs on (NULL in Idle and
 *            Active; in Connect, our connection attempt).
 *   tracked  a second connection to the same peer while the first is in
 *            OpenSent or OpenConfirm (RFC 4271 §6.8): an incoming one, or
 *            our own attempt when the peer's connection arrived first.  Our
 *            OPEN goes out on it as soon as it is up; the peer's OPEN on
 *            either connection tells which one survives, and the loser is
 *            closed with Cease / Connection Collision Resolution.
 *   timers   ConnectRetryTimer (connect timeout in Connect, backoff delay in
 *            Active), HoldTimer, KeepaliveTimer, and a zero-delay restart
 *            timer that takes an Idle session that was not stopped back to
 *            Active (RFC 4271 Event 5).
 *
 * Every socket and timer callback ends in fsm_event(), which looks the
 * cell up in the bgp_fsm table, runs its action and calls change_state(),
 * the one place that arms timers per state, logs transitions, counts and
 * calls the owner's hooks.  Callbacks never nest: connection attempts
 * report through their write watcher even when connect() finished at once,
 * and sending only queues.
 *
 * A connection closed while its receive loop is still walking its buffer
 * is only marked dead; the loop frees it.
 */
#include "bgp/bgp_session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <linux/tcp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "base/metrics.h"

#define RX_BUF_SIZE (64 * 1024)
#define DEFAULT_CONNECT_TIME 10.0
/* How long a NOTIFICATION may take to leave before its connection is
 * closed anyway. */
#define CLOSE_FLUSH_MS 200
#define LABEL_MAX (IP_STR_MAX + 16)
#define ERROR_MAX 320

struct conn {
	struct bgp_session *s;
	int fd;
	bool outgoing;         /* we initiated it */
	bool connecting;       /* connect() not finished */
	bool open_sent;
	bool have_open;        /* tracked: the peer's OPEN, already checked */
	bool busy;             /* its receive loop is running */
	bool dead;             /* closed while busy: the loop frees it */
	struct bgp_open open;
	ev_io rw, ww;
	uint8_t *rx;
	size_t rxlen;
	struct wbuf tx;
	size_t txoff;
	struct ip_addr local, remote;
	uint16_t local_port, remote_port;
	uint32_t scope;        /* IPv6 interface of a link-local remote */
};

struct bgp_session {
	struct bgp_session_cfg cfg;
	struct ev_loop *loop;
	const struct bgp_session_hooks *hooks;
	void *arg;
	const struct bgp_session_metrics *m;
	char label[LABEL_MAX];
	uint32_t router_id;
	uint32_t local_as;
	bool passive;          /* no peer address: wait for the peer */
	enum bgp_fsm_state state;
	struct conn *conn, *tracked;
	struct conn *event_conn;       /* the connection of a TCP event */
	ev_timer t_retry, t_hold, t_keepalive, t_restart;
	unsigned failures;     /* consecutive, for the backoff */
	/* Connections refused in a state that takes none: the peer's address
	 * can repeat them at will, so a few lines and then a count. */
	struct log_limit refused_log;
	int connect_err;       /* a connect() that failed at once */
	bool stopped;
	bool gr_restarted;
	/* The peer uses GTSM (RFC 5082): its last SYN to us came with TTL
	 * 255.  Single-hop eBGP only (see detect_gtsm()). */
	bool gtsm;
	uint8_t stop_subcode;
	char *stop_msg;
	uint64_t rand_state;
	/* Our OPEN; its arrays point here. */
	struct bgp_open local_open;
	struct bgp_afi_safi mp[2];
	struct bgp_gr_family grf[2];
	struct bgp_ext_nh ext_nh;
	struct bgp_open peer_open;
	bool have_peer_open;
	struct bgp_route_refresh rr;
	struct bgp_session_info info;
	double established_at;
	char last_error[ERROR_MAX];
	struct bgp_session_counters c;
	struct bgp_notify err;         /* what a decoder asked to send */
	struct bgp_notify rx_notify;   /* what the peer sent */
};

static void fsm_event(struct bgp_session *s, enum bgp_fsm_event ev, const char *reason);

/* ------------------------------------------------------------------ */
/* small helpers */

#define SLOG(level, msg, ...)                                                                      \
	do {                                                                                       \
		if (log_enabled(level))                                                            \
			log_msg(level, msg, "session", s->cfg.name, "peer", s->label,              \
				__VA_ARGS__);                                                      \
	} while (0)

static void metric_inc(const struct bgp_session *s, struct metrics_family *f)
{
	const char *v[] = { s->label };

	if (f)
		metrics_inc(f, v);
}

static void metric_touch(const struct bgp_session *s, struct metrics_family *f)
{
	const char *v[] = { s->label };

	if (f)
		metrics_add(f, v, 0);
}

static void metric_set(const struct bgp_session *s, struct metrics_family *f, double x)
{
	const char *v[] = { s->label };

	if (f)
		metrics_set(f, v, x);
}

static const struct bgp_session_metrics no_metrics;

static const struct bgp_session_metrics *M(const struct bgp_session *s)
{
	return s->m ? s->m : &no_metrics;
}

static void set_error(struct bgp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct bgp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	va_end(ap);
}

static double rand01(struct bgp_session *s)
{
	/* xorshift64*: jitter only, no secrecy needed. */
	uint64_t x = s->rand_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rand_state = x;
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static struct ip_addr unmap(struct ip_addr a)
{
	if (a.family == IP_FAMILY_V6 && ip_is_v4_mapped(&a))
		return ip_v4((uint32_t)a.v);
	return a;
}

static bool is_link_local6(const struct ip_addr *a)
{
	return a->family == IP_FAMILY_V6 && (a->v >> 118) == (0xfe80 >> 6);
}

static int sa_to_ip(const struct sockaddr_storage *ss, struct ip_addr *a, uint16_t *port,
		    uint32_t *scope)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		*a = ip_from_bytes(IP_FAMILY_V4, (const uint8_t *)&sin->sin_addr);
		*port = ntohs(sin->sin_port);
		*scope = 0;
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		*a = unmap(ip_from_bytes(IP_FAMILY_V6, sin6->sin6_addr.s6_addr));
		*port = ntohs(sin6->sin6_port);
		*scope = sin6->sin6_scope_id;
		return 0;
	}
	return -1;
}

void bgp_session_format_peer(char *buf, size_t len, const struct ip_addr *a, uint16_t port)
{
	char ip[IP_STR_MAX];

	ip_format(a, ip);
	/* Go's net.JoinHostPort, which MetalLB uses for the label. */
	if (a->family == IP_FAMILY_V6)
		snprintf(buf, len, "[%s]:%u", ip, port);
	else
		snprintf(buf, len, "%s:%u", ip, port);
}

int bgp_session_md5(int fd, int af, const struct ip_addr *addr, const char *key)
{
	struct tcp_md5sig md;
	size_t keylen = key ? strlen(key) : 0;

	memset(&md, 0, sizeof(md));
	if (keylen > TCP_MD5SIG_MAXKEYLEN) {
		errno = EINVAL;
		return -1;
	}
	if (af == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&md.tcpm_addr;
		sin6->sin6_family = AF_INET6;
		if (addr->family == IP_FAMILY_V4) {
			/* RFC 4291 §2.5.5.2: how an IPv4 peer appears on a
			 * dual-stack socket. */
			sin6->sin6_addr.s6_addr[10] = 0xff;
			sin6->sin6_addr.s6_addr[11] = 0xff;
			ip_to_bytes(addr, &sin6->sin6_addr.s6_addr[12]);
		} else {
			ip_to_bytes(addr, sin6->sin6_addr.s6_addr);
		}
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&md.tcpm_addr;
		if (addr->family != IP_FAMILY_V4) {
			errno = EAFNOSUPPORT;
			return -1;
		}
		sin->sin_family = AF_INET;
		ip_to_bytes(addr, (uint8_t *)&sin->sin_addr);
	}
	md.tcpm_keylen = (uint16_t)keylen;
	if (keylen)
		memcpy(md.tcpm_key, key, keylen);
	return setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &md, sizeof(md));
}

static bool single_hop_ebgp(const struct bgp_session *s)
{
	return !s->cfg.ibgp && !s->cfg.ebgp_multihop;
}

/* RFC 5082 §3: accept TTLs from 255 - hops + 1 to 255; a directly
 * connected peer is one hop away. */
#define GTSM_MIN_TTL (255 - 1 + 1)

/* The TTL of our packets: 1 towards a single-hop external peer, else 255
 * (RFC 4271 leaves it to configuration; MetalLB's ebgpMultiHop).  Towards
 * a single-hop peer that uses GTSM, 255, and nothing received below
 * GTSM_MIN_TTL: such a peer drops what arrives below it and sends with
 * 255 itself. */
static void set_ttl(const struct bgp_session *s, int fd)
{
	int ttl = single_hop_ebgp(s) && !s->gtsm ? 1 : 255;
	int min = single_hop_ebgp(s) && s->gtsm ? GTSM_MIN_TTL : 0;

	/* An IPv4 peer may sit on an AF_INET6 socket (v4-mapped), where the
	 * IPv4 option is the one that counts; the other one fails harmlessly. */
	setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
	setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
	setsockopt(fd, IPPROTO_IP, IP_MINTTL, &min, sizeof(min));
	setsockopt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, &min, sizeof(min));
}

int bgp_session_syn_ttl(const void *syn, size_t len)
{
	struct rbuf r;
	uint8_t vihl, b;

	rbuf_init(&r, syn, len);
	if (rbuf_peek_u8(&r, &vihl) < 0)
		return -1;
	if (vihl >> 4 == 4) {
		uint8_t ttl, proto;

		/* RFC 791 §3.1: IHL counts 32-bit words, at least 5; the
		 * whole header must be there. */
		if ((vihl & 0x0f) < 5 || (size_t)(vihl & 0x0f) * 4 > len)
			return -1;
		if (rbuf_skip(&r, 8) < 0 || rbuf_u8(&r, &ttl) < 0 || rbuf_u8(&r, &proto) < 0)
			return -1;
		return proto == IPPROTO_TCP ? ttl : -1;
	}
	if (vihl >> 4 == 6) {
		/* RFC 8200 §3: a fixed 40-byte header, Hop Limit at offset 7. */
		if (len < 40 || rbuf_skip(&r, 7) < 0 || rbuf_u8(&r, &b) < 0)
			return -1;
		return b;
	}
	return -1;
}

/* RFC 5082 has no negotiation, and MetalLB's BGPPeer no field for it: a
 * peer that uses GTSM shows it by the TTL 255 of its SYN (it is directly
 * connected, so nothing decremented it), and it would drop our TTL-1
 * packets.  The listener saved the SYN (TCP_SAVE_SYN); reading it frees
 * it.  A connection whose SYN cannot be read changes nothing. */
static void detect_gtsm(struct bgp_session *s, int fd)
{
	uint8_t syn[512];
	socklen_t len = sizeof(syn);
	int ttl;
	bool was = s->gtsm;

	if (!single_hop_ebgp(s))
		return;
	if (getsockopt(fd, IPPROTO_TCP, TCP_SAVED_SYN, syn, &len) < 0) {
		SLOG(LOG_DEBUG, "bgp saved syn not readable", "error", strerror(errno), NULL);
		return;
	}
	ttl = bgp_session_syn_ttl(syn, len);
	if (ttl < 0) {
		SLOG(LOG_DEBUG, "bgp saved syn not parsable", NULL);
		return;
	}
	s->gtsm = ttl == 255;
	/* The other connection (ours, or the peer's older one) follows: a
	 * GTSM peer drops its TTL-1 segments, retransmissions included. */
	if (s->gtsm != was) {
		if (s->conn && s->conn->fd >= 0)
			set_ttl(s, s->conn->fd);
		if (s->tracked && s->tracked->fd >= 0)
			set_ttl(s, s->tracked->fd);
	}
	if (s->gtsm && !was)
		SLOG(LOG_INFO, "peer uses GTSM (RFC 5082): TTL 255 and minimum TTL 255", NULL);
	else if (!s->gtsm && was)
		SLOG(LOG_INFO, "peer no longer uses GTSM (RFC 5082): TTL 1", NULL);
}

/* ------------------------------------------------------------------ */
/* connections */

static void on_read(struct ev_loop *loop, ev_io *w, int revents);
static void on_write(struct ev_loop *loop, ev_io *w, int revents);

static struct conn *conn_new(struct bgp_session *s, int fd, bool outgoing)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->fd = fd;
	c->outgoing = outgoing;
	c->rx = xmalloc(RX_BUF_SIZE);
	wbuf_init_dyn(&c->tx, 4096);
	ev_io_init(&c->rw, on_read, fd, EV_READ);
	ev_io_init(&c->ww, on_write, fd, EV_WRITE);
	c->rw.data = c;
	c->ww.data = c;
	return c;
}

static void conn_fill_addrs(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint32_t scope;

	if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) == 0)
		sa_to_ip(&ss, &c->local, &c->local_port, &scope);
	sl = sizeof(ss);
	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0)
		sa_to_ip(&ss, &c->remote, &c->remote_port, &c->scope);
}

static const char *conn_dir(const struct conn *c)
{
	return c->outgoing ? "outgoing" : "incoming";
}

static void conn_free(struct conn *c)
{
	if (c->have_open)
		bgp_open_free(&c->open);
	free(c->rx);
	wbuf_free(&c->tx);
	free(c);
}

/* Write what is queued without blocking; -1 with errno on a socket
 * error. */
/* The send buffer kept between bursts; a larger one is freed once sent. */
#define TX_KEEP (64 * 1024)

static int conn_flush(struct conn *c)
{
	while (c->txoff < c->tx.len) {
		ssize_t n = send(c->fd, c->tx.p + c->txoff, c->tx.len - c->txoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->txoff += (size_t)n;
	}
	/* All sent.  A full table (hundreds of KiB of UPDATEs) leaves a
	 * buffer that size behind: give it back rather than keep it for
	 * KEEPALIVEs and the odd change. */
	if (c->tx.cap > TX_KEEP) {
		wbuf_free(&c->tx);
		wbuf_init_dyn(&c->tx, 4096);
	} else {
		wbuf_reset(&c->tx);
	}
	c->txoff = 0;
	return 0;
}

static void conn_queue(struct bgp_session *s, struct conn *c, const void *p, size_t len)
{
	wbuf_bytes(&c->tx, p, len);
	if (!c->connecting && !ev_is_active(&c->ww))
		ev_io_start(s->loop, &c->ww);
}

/* Close a connection, after giving what is queued (a NOTIFICATION) a
 * short time to leave. */
static void conn_close(struct bgp_session *s, struct conn *c)
{
	if (!c)
		return;
	if (s->conn == c)
		s->conn = NULL;
	if (s->tracked == c)
		s->tracked = NULL;
	ev_io_stop(s->loop, &c->rw);
	ev_io_stop(s->loop, &c->ww);
	if (c->fd >= 0) {
		if (!c->connecting) {
			struct timespec t0, t1;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			while (c->txoff < c->tx.len && conn_flush(c) == 0 && c->txoff < c->tx.len) {
				struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
				long spent;

				clock_gettime(CLOCK_MONOTONIC, &t1);
				spent = (t1.tv_sec - t0.tv_sec) * 1000 +
					(t1.tv_nsec - t0.tv_nsec) / 1000000;
				if (spent >= CLOSE_FLUSH_MS ||
				    poll(&pfd, 1, (int)(CLOSE_FLUSH_MS - spent)) <= 0)
					break;
			}
			/* Unread input would turn the close into a reset, which
			 * may destroy the NOTIFICATION before the peer reads it. */
			for (int i = 0; i < 16; i++) {
				uint8_t junk[4096];
				if (recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0)
					break;
			}
			shutdown(c->fd, SHUT_WR);
		}
		close(c->fd);
		c->fd = -1;
	}
	if (c->busy)
		c->dead = true;
	else
		conn_free(c);
}

static void close_all(struct bgp_session *s)
{
	conn_close(s, s->tracked);
	conn_close(s, s->conn);
}

/* ------------------------------------------------------------------ */
/* sending */

static void count_sent(struct bgp_session *s, uint8_t type)
{
	s->c.total_sent++;
	metric_inc(s, M(s)->total_sent);
	switch (type) {
	case BGP_MSG_OPEN:
		s->c.opens_sent++;
		metric_inc(s, M(s)->opens_sent);
		break;
	case BGP_MSG_KEEPALIVE:
		s->c.keepalives_sent++;
		metric_inc(s, M(s)->keepalives_sent);
		break;
	case BGP_MSG_NOTIFICATION:
		s->c.notifications_sent++;
		metric_inc(s, M(s)->notifications_sent);
		break;
	case BGP_MSG_ROUTE_REFRESH:
		s->c.route_refresh_sent++;
		metric_inc(s, M(s)->route_refresh_sent);
		break;
	default:
		break;
	}
}

static void build_local_open(struct bgp_session *s)
{
	struct bgp_open *o = &s->local_open;
	bool v4 = bgp_session_carries(&s->cfg, IP_FAMILY_V4);
	bool v6 = bgp_session_carries(&s->cfg, IP_FAMILY_V6);
	uint32_t hold = s->cfg.hold_time_s;
	size_t n = 0;

	memset(o, 0, sizeof(*o));
	o->version = BGP_VERSION;
	o->asn = s->local_as;
	/* RFC 4271 §4.2: 0 or at least 3 seconds. */
	if (hold > 0xffff)
		hold = 0xffff;
	if (hold == 1 || hold == 2)
		hold = 3;
	o->hold_time = (uint16_t)hold;
	o->bgp_id = s->router_id;
	/* RFC 4760 §8: the families this session carries. */
	if (v4)
		s->mp[n++] = (struct bgp_afi_safi){ BGP_AFI_IPV4, BGP_SAFI_UNICAST };
	if (v6)
		s->mp[n++] = (struct bgp_afi_safi){ BGP_AFI_IPV6, BGP_SAFI_UNICAST };
	o->caps.mp = s->mp;
	o->caps.nmp = n;
	o->caps.route_refresh = true;          /* RFC 2918 */
	o->caps.as4 = true;                    /* RFC 6793 */
	if (s->cfg.graceful_restart) {
		/* RFC 4724 §3: R while this process has not yet held a session
		 * with the peer; F for every family, as forwarding goes on
		 * while the speaker restarts. */
		o->caps.gr = true;
		o->caps.gr_restarting = s->gr_restarted;
		o->caps.gr_time = BGP_SESSION_GR_TIME;
		for (size_t i = 0; i < n; i++)
			s->grf[i] = (struct bgp_gr_family){ s->mp[i].afi, s->mp[i].safi, true };
		o->caps.gr_families = s->grf;
		o->caps.ngr = n;
	}
	if (v4 && s->cfg.peer_address.family == IP_FAMILY_V6) {
		/* RFC 8950 §3: IPv4 routes with IPv6 next hops. */
		s->ext_nh = (struct bgp_ext_nh){ BGP_AFI_IPV4, BGP_SAFI_UNICAST, BGP_AFI_IPV6 };
		o->caps.ext_nh = &s->ext_nh;
		o->caps.next_nh = 1;
	}
}

static int send_open(struct bgp_session *s, struct conn *c)
{
	struct wbuf w;
	int r;

	build_local_open(s);
	wbuf_init_dyn(&w, 128);
	r = bgp_open_encode(&w, &s->local_open);
	if (r == 0) {
		conn_queue(s, c, w.p, w.len);
		c->open_sent = true;
		count_sent(s, BGP_MSG_OPEN);
		SLOG(LOG_DEBUG, "bgp open sent", "connection", conn_dir(c), NULL);
	} else {
		SLOG(LOG_ERROR, "bgp open not encodable", "error",
		     "AS 0, router ID 0 or a hold time of 1 or 2 s", NULL);
	}
	wbuf_free(&w);
	return r;
}

static void send_keepalive(struct bgp_session *s, struct conn *c)
{
	struct wbuf w;

	if (!c)
		return;
	wbuf_init_dyn(&w, BGP_HEADER_LEN);
	if (bgp_keepalive_encode(&w) == 0) {
		conn_queue(s, c, w.p, w.len);
		count_sent(s, BGP_MSG_KEEPALIVE);
	}
	wbuf_free(&w);
}

/* Send a NOTIFICATION on c and close it. */
static void notify_close(struct bgp_session *s, struct conn *c, const struct bgp_notify *n)
{
	char code[8], sub[8];
	struct wbuf w;

	if (!c)
		return;
	snprintf(code, sizeof(code), "%u", n->code);
	snprintf(sub, sizeof(sub), "%u", n->subcode);
	if (!c->connecting) {
		wbuf_init_dyn(&w, BGP_NOTIFICATION_MIN + n->len);
		if (bgp_notification_encode(&w, n) == 0) {
			conn_queue(s, c, w.p, w.len);
			count_sent(s, BGP_MSG_NOTIFICATION);
			/* A Cease is this side closing on purpose (stopping, a
			 * peer removed, a collision): no error to warn of. */
			bool cease = n->code == BGP_ERR_CEASE;
			SLOG(cease ? LOG_INFO : LOG_WARN, "bgp notification sent", "connection",
			     conn_dir(c), "code", code, "subcode", sub, cease ? "reason" : "error",
			     bgp_notify_name(n->code, n->subcode), NULL);
			if (c == s->conn)
				set_error(s, "sent NOTIFICATION: %s",
					  bgp_notify_name(n->code, n->subcode));
		}
		wbuf_free(&w);
	}
	conn_close(s, c);
}

static void notify_cease(struct bgp_session *s, struct conn *c, uint8_t subcode, const char *msg)
{
	struct bgp_notify n;

	if ((subcode == BGP_CEASE_ADMIN_SHUTDOWN || subcode == BGP_CEASE_ADMIN_RESET) && msg &&
	    *msg) {
		if (bgp_notify_shutdown(&n, subcode, msg) != 0)
			bgp_notify_set(&n, BGP_ERR_CEASE, subcode, NULL, 0);
	} else {
		bgp_notify_set(&n, BGP_ERR_CEASE, subcode, NULL, 0);
	}
	notify_close(s, c, &n);
}

/* ------------------------------------------------------------------ */
/* timers */

static void restart_hold(struct bgp_session *s, double t)
{
	if (t > 0) {
		s->t_hold.repeat = t;
		ev_timer_again(s->loop, &s->t_hold);
	} else {
		ev_timer_stop(s->loop, &s->t_hold);
	}
}

static void arm_retry(struct bgp_session *s, double t)
{
	ev_timer_stop(s->loop, &s->t_retry);
	ev_timer_set(&s->t_retry, t, 0.0);
	ev_timer_start(s->loop, &s->t_retry);
}

static void arm_backoff(struct bgp_session *s)
{
	if (s->passive) {
		ev_timer_stop(s->loop, &s->t_retry);
		return;
	}
	double cap = s->cfg.has_connect_time ? (double)s->cfg.connect_time_s : 0;

	arm_retry(s, bgp_fsm_retry_delay(s->failures ? s->failures : 1, rand01(s), cap));
}

/* ------------------------------------------------------------------ */
/* connecting */

static void start_connect(struct bgp_session *s)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, af;
	double timeout = s->cfg.connect_time_s ? (double)s->cfg.connect_time_s
					       : DEFAULT_CONNECT_TIME;
	const char *what = "socket";

	conn_close(s, s->conn);
	s->connect_err = 0;
	if (s->passive) {
		ev_timer_stop(s->loop, &s->t_retry);
		return;
	}
	af = s->cfg.peer_address.family == IP_FAMILY_V4 ? AF_INET : AF_INET6;
	fd = socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (s->cfg.vrf && *s->cfg.vrf) {
		what = "SO_BINDTODEVICE";
		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, s->cfg.vrf,
			       (socklen_t)strlen(s->cfg.vrf)) < 0)
			goto fail;
	}
	if (s->cfg.password && *s->cfg.password) {
		what = "TCP_MD5SIG";
		/* RFC 2385 §2: every segment of the connection, the SYN too. */
		if (bgp_session_md5(fd, af, &s->cfg.peer_address, s->cfg.password) < 0)
			goto fail;
	}
	set_ttl(s, fd);
	if (s->cfg.has_source_address) {
		what = "bind to sourceAddress";
		sl = (socklen_t)ip_to_sockaddr(&s->cfg.source_address, 0, 0, &ss);
		if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
			goto fail;
	}
	what = "connect";
	/* A link-local peer is reached through its interface. */
	sl = (socklen_t)ip_to_sockaddr(&s->cfg.peer_address, s->cfg.peer_port,
				       is_link_local6(&s->cfg.peer_address) && s->cfg.interface
					       ? if_nametoindex(s->cfg.interface)
					       : 0,
				       &ss);
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
		goto fail;
	s->conn = conn_new(s, fd, true);
	s->conn->connecting = true;
	/* Completion, at once or later, is reported by the write watcher. */
	ev_io_start(s->loop, &s->conn->ww);
	arm_retry(s, timeout);
	SLOG(LOG_DEBUG, "bgp connecting", NULL);
	return;
fail:
	s->connect_err = errno ? errno : EIO;
	set_error(s, "%s: %s", what, strerror(s->connect_err));
	if (fd >= 0)
		close(fd);
	/* Reported from the timer, outside this event. */
	arm_retry(s, 0);
}

/* ------------------------------------------------------------------ */
/* next hops and negotiated values */

static bool addr_of_ifa(const struct ifaddrs *ifa, struct ip_addr *a, struct ip_addr *mask)
{
	uint16_t port;
	uint32_t scope;
	struct sockaddr_storage ss;

	if (!ifa->ifa_addr)
		return false;
	if (ifa->ifa_addr->sa_family != AF_INET && ifa->ifa_addr->sa_family != AF_INET6)
		return false;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, ifa->ifa_addr, ifa->ifa_addr->sa_family == AF_INET
					   ? sizeof(struct sockaddr_in)
					   : sizeof(struct sockaddr_in6));
	sa_to_ip(&ss, a, &port, &scope);
	if (mask) {
		mask->family = IP_FAMILY_NONE;
		if (ifa->ifa_netmask) {
			memset(&ss, 0, sizeof(ss));
			memcpy(&ss, ifa->ifa_netmask, ifa->ifa_addr->sa_family == AF_INET
							      ? sizeof(struct sockaddr_in)
							      : sizeof(struct sockaddr_in6));
			ss.ss_family = ifa->ifa_addr->sa_family;
			sa_to_ip(&ss, mask, &port, &scope);
		}
	}
	return true;
}

static unsigned mask_len(const struct ip_addr *m)
{
	unsigned bits = ip_family_bits(m->family), n = 0;

	while (n < bits && ((m->v >> (bits - 1 - n)) & 1))
		n++;
	return n;
}

static void compute_next_hops(struct bgp_session *s, const struct conn *c)
{
	struct bgp_session_info *in = &s->info;
	struct ifaddrs *list = NULL;
	char ifname[IF_NAMESIZE + 1] = "";
	struct ip_addr a, m, best4 = { 0 }, best6 = { 0 }, ll = { 0 };
	bool direct = false;

	in->next_hop4.family = IP_FAMILY_NONE;
	in->next_hop6.family = IP_FAMILY_NONE;
	in->next_hop6_ll.family = IP_FAMILY_NONE;
	if (getifaddrs(&list) == 0) {
		/* The interface that holds our end of the connection. */
		for (struct ifaddrs *i = list; i; i = i->ifa_next)
			if (addr_of_ifa(i, &a, NULL) && ip_eq(&a, &c->local)) {
				snprintf(ifname, sizeof(ifname), "%s", i->ifa_name);
				break;
			}
		for (struct ifaddrs *i = list; *ifname && i; i = i->ifa_next) {
			if (strcmp(i->ifa_name, ifname) != 0 || !addr_of_ifa(i, &a, &m))
				continue;
			if (a.family == IP_FAMILY_V4 && (best4.family == IP_FAMILY_NONE ||
							 ip_cmp(&a, &best4) < 0))
				best4 = a;
			if (a.family == IP_FAMILY_V6 && !is_link_local6(&a) &&
			    (best6.family == IP_FAMILY_NONE || ip_cmp(&a, &best6) < 0))
				best6 = a;
			if (is_link_local6(&a) && ll.family == IP_FAMILY_NONE)
				ll = a;
			/* Directly connected: the peer is inside one of the
			 * interface's prefixes, or link-local. */
			if (m.family == a.family && a.family == c->remote.family) {
				struct ip_prefix p = { ip_mask(&a, mask_len(&m)), mask_len(&m) };
				if (ip_prefix_contains(&p, &c->remote))
					direct = true;
			}
		}
		freeifaddrs(list);
	}
	if (is_link_local6(&c->remote))
		direct = true;
	/* NEXT_HOP (RFC 4271 §5.1.3): sourceAddress, else our end of the
	 * connection, else an IPv4 address of the same interface. */
	if (s->cfg.has_source_address && s->cfg.source_address.family == IP_FAMILY_V4)
		in->next_hop4 = s->cfg.source_address;
	else if (c->local.family == IP_FAMILY_V4)
		in->next_hop4 = c->local;
	else
		in->next_hop4 = best4;
	/* MP_REACH_NLRI next hop (RFC 2545 §3): a global IPv6 address. */
	if (s->cfg.has_source_address && s->cfg.source_address.family == IP_FAMILY_V6)
		in->next_hop6 = s->cfg.source_address;
	else if (c->local.family == IP_FAMILY_V6 && !is_link_local6(&c->local))
		in->next_hop6 = c->local;
	else if (best6.family == IP_FAMILY_V6)
		in->next_hop6 = best6;
	else if (is_link_local6(&c->local))
		in->next_hop6 = c->local;
	/* RFC 2545 §3: the link-local address too, on a shared link. */
	if (direct && in->next_hop6.family == IP_FAMILY_V6) {
		if (is_link_local6(&c->local))
			in->next_hop6_ll = c->local;
		else if (ll.family == IP_FAMILY_V6)
			in->next_hop6_ll = ll;
	}
}

/* ------------------------------------------------------------------ */
/* OPEN checks and collisions */

/* Decode and judge the peer's OPEN.  -1 with s->err set. */
static int open_validate(struct bgp_session *s, const uint8_t *body, size_t len,
			 struct bgp_open *o, const char **why)
{
	struct bgp_open_policy pol = {
		.local_as = s->local_as,
		.local_id = s->router_id,
		.peer_as = s->cfg.peer_asn,
	};
	bool v4 = bgp_session_carries(&s->cfg, IP_FAMILY_V4);
	bool v6 = bgp_session_carries(&s->cfg, IP_FAMILY_V6);

	*why = "malformed OPEN";
	if (bgp_open_decode(body, len, o, &s->err) < 0)
		return -1;
	*why = "OPEN refused";
	/* RFC 4271 §6.2 (peer AS, hold time), RFC 6286 §2.2 (identifier). */
	if (bgp_open_check(o, &pol, &s->err) < 0)
		goto refuse;
	/* RFC 4271 §6.2 Bad Peer AS, for dynamicASN: internal means our AS,
	 * external any other. */
	if (!s->cfg.peer_asn &&
	    ((s->cfg.dynamic_asn == DYNAMIC_ASN_INTERNAL && o->asn != s->local_as) ||
	     (s->cfg.dynamic_asn == DYNAMIC_ASN_EXTERNAL && o->asn == s->local_as))) {
		bgp_notify_set(&s->err, BGP_ERR_OPEN, BGP_ERR_OPEN_PEER_AS, NULL, 0);
		goto refuse;
	}
	/* RFC 5492 §5: no family in common leaves nothing to talk about;
	 * Unsupported Capability lists ours. */
	if (!(v4 && bgp_open_has_family(o, BGP_AFI_IPV4, BGP_SAFI_UNICAST)) &&
	    !(v6 && bgp_open_has_family(o, BGP_AFI_IPV6, BGP_SAFI_UNICAST))) {
		struct bgp_open_policy fam = pol;

		fam.peer_as = 0;
		fam.required = (v4 ? BGP_REQUIRE_IPV4_UNICAST : 0u) |
			       (v6 ? BGP_REQUIRE_IPV6_UNICAST : 0u);
		if (bgp_open_check(o, &fam, &s->err) < 0)
			goto refuse;
	}
	return 0;
refuse:
	bgp_open_free(o);
	return -1;
}

/* Which of two connections to the peer survives, knowing the peer's
 * identifier and AS. */
static struct conn *collision_winner(struct bgp_session *s, struct conn *primary,
				     struct conn *second, const struct bgp_open *o)
{
	bool ours = bgp_fsm_collision_keep_ours(s->router_id, o->bgp_id, s->local_as, o->asn);

	/* Two connections from the peer: it gave up on the older one. */
	if (primary->outgoing == second->outgoing)
		return second;
	return primary->outgoing == ours ? primary : second;
}

static void log_collision(struct bgp_session *s, const struct conn *keep, const struct conn *drop)
{
	SLOG(LOG_INFO, "bgp connection collision", "kept", conn_dir(keep), "closed", conn_dir(drop),
	     "rule", "higher BGP identifier keeps the connection it initiated (RFC 4271 6.8)",
	     NULL);
}

/* ------------------------------------------------------------------ */
/* the state machine driver */

static void peer_open_clear(struct bgp_session *s)
{
	if (s->have_peer_open)
		bgp_open_free(&s->peer_open);
	s->have_peer_open = false;
}

static void negotiate(struct bgp_session *s)
{
	struct bgp_session_info *in = &s->info;
	struct bgp_fsm_timers t;

	bgp_open_negotiate(&s->local_open, &s->peer_open, &in->neg);
	t = bgp_fsm_negotiate_timers(s->local_open.hold_time, s->cfg.keepalive_time_s,
				     s->peer_open.hold_time);
	in->hold_time = t.hold_time;
	in->keepalive = t.keepalive;
	in->neg.hold_time = t.hold_time;
	in->neg.keepalive = t.keepalive;
	/* RFC 4271 §6.3: an external peer's routes start with its AS. */
	in->neg.opts.first_as = in->neg.opts.ebgp ? s->peer_open.asn : 0;
	in->gr = s->local_open.caps.gr && s->peer_open.caps.gr;
	in->local_as = s->local_as;
	in->peer_as = s->peer_open.asn;
	in->router_id = s->router_id;
	in->peer_router_id = s->peer_open.bgp_id;
	in->ibgp = s->cfg.ibgp;
	if (s->conn) {
		in->local = s->conn->local;
		in->remote = s->conn->remote;
		in->local_port = s->conn->local_port;
		in->remote_port = s->conn->remote_port;
		compute_next_hops(s, s->conn);
	}
}

static void do_action(struct bgp_session *s, enum bgp_fsm_action a, enum bgp_fsm_state from)
{
	struct conn *c;
	struct bgp_notify n;

	switch (a) {
	case BGP_FSM_ACT_NONE:
		break;
	case BGP_FSM_ACT_CONNECT:
		start_connect(s);
		break;
	case BGP_FSM_ACT_START_PASSIVE:
		arm_backoff(s);
		break;
	case BGP_FSM_ACT_STOP:
		close_all(s);
		s->c.connect_retries = 0;
		break;
	case BGP_FSM_ACT_STOP_CEASE:
		conn_close(s, s->tracked);
		notify_cease(s, s->conn, s->stop_subcode, s->stop_msg);
		s->c.connect_retries = 0;
		break;
	case BGP_FSM_ACT_CONNECT_FAILED:
		close_all(s);
		s->failures++;
		s->c.connect_retries++;
		arm_backoff(s);
		break;
	case BGP_FSM_ACT_SEND_OPEN:
		c = s->event_conn;
		if (c && c != s->conn) {
			/* The peer connected while our own attempt may still
			 * be under way: keep the attempt for §6.8. */
			if (s->conn) {
				conn_close(s, s->tracked);
				s->tracked = s->conn;
			}
			s->conn = c;
		}
		s->event_conn = NULL;
		ev_timer_stop(s->loop, &s->t_retry);
		if (s->conn && send_open(s, s->conn) < 0)
			conn_close(s, s->conn);
		break;
	case BGP_FSM_ACT_TRACK:
		c = s->event_conn;
		s->event_conn = NULL;
		if (!c)
			break;
		if (c != s->tracked) {
			conn_close(s, s->tracked);
			s->tracked = c;
		}
		SLOG(LOG_INFO, "bgp second connection", "connection", conn_dir(c), "state",
		     bgp_fsm_state_name[from], "note", "kept until the peer's OPEN (RFC 4271 6.8)",
		     NULL);
		if (send_open(s, c) < 0)
			conn_close(s, c);
		break;
	case BGP_FSM_ACT_REFUSE:
		c = s->event_conn;
		s->event_conn = NULL;
		if (c) {
			if (log_limit_allow(&s->refused_log, ev_now(s->loop))) {
				/* The count of the interval before, if any. */
				log_limit_flush(&s->refused_log, LOG_INFO,
						"bgp connections refused, not logged one by one",
						"session", s->cfg.name);
				SLOG(LOG_INFO, "bgp connection refused", "connection", conn_dir(c),
				     "state", bgp_fsm_state_name[from], NULL);
			}
			conn_close(s, c);
		}
		break;
	case BGP_FSM_ACT_OPEN_ACCEPT:
		negotiate(s);
		send_keepalive(s, s->conn);
		break;
	case BGP_FSM_ACT_ESTABLISH:
	case BGP_FSM_ACT_KEEPALIVE_RX:
	case BGP_FSM_ACT_UPDATE_RX:
		restart_hold(s, s->info.hold_time);
		break;
	case BGP_FSM_ACT_SEND_KEEPALIVE:
		send_keepalive(s, s->conn);
		break;
	case BGP_FSM_ACT_ROUTE_REFRESH_RX:
		restart_hold(s, s->info.hold_time);
		/* RFC 2918 §4: only for a family we advertised; RFC 7313 §4:
		 * BoRR/EoRR mark the peer's own refresh, not a request. */
		if (s->rr.subtype != BGP_RR_NORMAL ||
		    !bgp_open_has_family(&s->local_open, s->rr.afi, s->rr.safi)) {
			SLOG(LOG_DEBUG, "bgp route refresh ignored", NULL);
			break;
		}
		if (s->hooks && s->hooks->route_refresh)
			s->hooks->route_refresh(s, s->rr.afi, s->rr.safi, s->arg);
		break;
	case BGP_FSM_ACT_NOTIFY_ERR:
		conn_close(s, s->tracked);
		notify_close(s, s->conn, &s->err);
		break;
	case BGP_FSM_ACT_NOTIFY_FSM:
		/* RFC 6608 §4: the subcode names the state the error hit. */
		bgp_notify_set(&n, BGP_ERR_FSM, bgp_fsm_error_subcode(from), NULL, 0);
		conn_close(s, s->tracked);
		notify_close(s, s->conn, &n);
		break;
	case BGP_FSM_ACT_NOTIFY_HOLD:
		/* RFC 4271 §6.5. */
		bgp_notify_set(&n, BGP_ERR_HOLD_TIMER, 0, NULL, 0);
		conn_close(s, s->tracked);
		notify_close(s, s->conn, &n);
		break;
	case BGP_FSM_ACT_COLLISION_DUMP:
		c = s->tracked;
		s->tracked = NULL;
		if (s->conn && c)
			log_collision(s, c, s->conn);
		/* RFC 4271 §6.8, RFC 4486 §4: Connection Collision
		 * Resolution. */
		notify_cease(s, s->conn, BGP_CEASE_COLLISION, NULL);
		s->conn = c;
		peer_open_clear(s);
		if (c)
			restart_hold(s, BGP_SESSION_OPEN_HOLD);
		break;
	case BGP_FSM_ACT_DROP:
		close_all(s);
		break;
	case BGP_FSM_ACTION_COUNT:
		break;
	}
}

static void change_state(struct bgp_session *s, enum bgp_fsm_state next, const char *reason)
{
	enum bgp_fsm_state from = s->state;

	if (from == next)
		return;
	s->state = next;
	SLOG(LOG_INFO, "bgp session state changed", "from", bgp_fsm_state_name[from], "to",
	     bgp_fsm_state_name[next], "reason", reason, NULL);
	switch (next) {
	case BGP_FSM_IDLE:
		ev_timer_stop(s->loop, &s->t_retry);
		ev_timer_stop(s->loop, &s->t_hold);
		ev_timer_stop(s->loop, &s->t_keepalive);
		close_all(s);
		peer_open_clear(s);
		if (!s->stopped) {
			/* Back to Active at once (RFC 4271 Event 5), waiting
			 * for the peer while the backoff delay runs. */
			s->failures++;
			s->c.connect_retries++;
			ev_timer_stop(s->loop, &s->t_restart);
			ev_timer_set(&s->t_restart, 0.0, 0.0);
			ev_timer_start(s->loop, &s->t_restart);
		}
		break;
	case BGP_FSM_CONNECT:
	case BGP_FSM_ACTIVE:
		ev_timer_stop(s->loop, &s->t_hold);
		ev_timer_stop(s->loop, &s->t_keepalive);
		break;
	case BGP_FSM_OPENSENT:
		ev_timer_stop(s->loop, &s->t_retry);
		ev_timer_stop(s->loop, &s->t_keepalive);
		restart_hold(s, BGP_SESSION_OPEN_HOLD);
		break;
	case BGP_FSM_OPENCONFIRM:
		restart_hold(s, s->info.hold_time);
		if (s->info.keepalive) {
			s->t_keepalive.repeat = s->info.keepalive;
			ev_timer_again(s->loop, &s->t_keepalive);
		}
		break;
	case BGP_FSM_ESTABLISHED:
		/* §6.8: a collision with an Established session keeps it. */
		conn_close(s, s->tracked);
		s->established_at = ev_time();
		s->failures = 0;
		s->c.established++;
		s->gr_restarted = false;
		s->last_error[0] = '\0';
		metric_set(s, M(s)->session_up, 1);
		if (s->hooks && s->hooks->established)
			s->hooks->established(s, s->arg);
		break;
	case BGP_FSM_STATE_COUNT:
		break;
	}
	if (from == BGP_FSM_ESTABLISHED) {
		metric_set(s, M(s)->session_up, 0);
		if (s->hooks && s->hooks->down)
			s->hooks->down(s, s->arg);
	}
}

static void fsm_event(struct bgp_session *s, enum bgp_fsm_event ev, const char *reason)
{
	enum bgp_fsm_state from = s->state;
	struct bgp_fsm_cell cell = bgp_fsm_lookup(from, ev);

	SLOG(LOG_DEBUG, "bgp fsm event", "state", bgp_fsm_state_name[from], "event",
	     bgp_fsm_event_name[ev], "action", bgp_fsm_action_name[cell.action], NULL);
	/* Before the change of state, which restarts only sessions that
	 * were not stopped. */
	if (bgp_fsm_action_stops(cell.action))
		s->stopped = true;
	do_action(s, cell.action, from);
	/* A connection the action did not take is not kept. */
	if (s->event_conn) {
		conn_close(s, s->event_conn);
		s->event_conn = NULL;
	}
	change_state(s, cell.next, reason);
}

/* ------------------------------------------------------------------ */
/* receiving */

static void conn_failed(struct bgp_session *s, struct conn *c, const char *why)
{
	if (c == s->conn) {
		set_error(s, "%s", why);
		fsm_event(s, BGP_FSM_EV_TCP_FAILS, why);
	} else {
		SLOG(LOG_DEBUG, "bgp second connection lost", "connection", conn_dir(c), "reason",
		     why, NULL);
		conn_close(s, c);
	}
}

/* The peer's OPEN is on s->peer_open: take the state machine on. */
static void open_accepted(struct bgp_session *s)
{
	s->have_peer_open = true;
	fsm_event(s, BGP_FSM_EV_OPEN, "OPEN received");
}

/* Switch to the tracked connection, which won the collision. */
static void switch_to_tracked(struct bgp_session *s)
{
	fsm_event(s, BGP_FSM_EV_OPEN_COLLISION_DUMP, "connection collision");
	if (s->conn && s->conn->have_open && s->state == BGP_FSM_OPENSENT) {
		peer_open_clear(s);
		s->peer_open = s->conn->open;
		s->conn->have_open = false;
		open_accepted(s);
	}
}

static void handle_open(struct bgp_session *s, struct conn *c, const uint8_t *body, size_t len)
{
	struct bgp_open o;
	const char *why;

	if (open_validate(s, body, len, &o, &why) < 0) {
		set_error(s, "%s", why);
		fsm_event(s, BGP_FSM_EV_OPEN_ERR, why);
		return;
	}
	if (s->tracked) {
		struct conn *t = s->tracked;
		struct conn *win = collision_winner(s, c, t, &o);

		if (win == c) {
			log_collision(s, c, t);
			if (t->connecting)
				conn_close(s, t);
			else
				notify_cease(s, t, BGP_CEASE_COLLISION, NULL);
		} else if (t->open_sent) {
			bgp_open_free(&o);
			switch_to_tracked(s);
			return;
		}
		/* The winner is still connecting: go on here until its OPEN
		 * arrives. */
	}
	peer_open_clear(s);
	s->peer_open = o;
	open_accepted(s);
}

/* A message on the tracked connection: only its OPEN matters. */
static void tracked_msg(struct bgp_session *s, struct conn *c, uint8_t type, const uint8_t *body,
			size_t len)
{
	struct bgp_notify n;
	struct bgp_open o;
	const char *why;

	switch (type) {
	case BGP_MSG_OPEN:
		s->c.opens_received++;
		metric_inc(s, M(s)->opens_received);
		if (c->have_open) {
			bgp_notify_set(&n, BGP_ERR_FSM, BGP_ERR_FSM_OPENCONFIRM, NULL, 0);
			notify_close(s, c, &n);
			return;
		}
		if (open_validate(s, body, len, &o, &why) < 0) {
			SLOG(LOG_WARN, "bgp second connection", "error", why, NULL);
			notify_close(s, c, &s->err);
			return;
		}
		c->open = o;
		c->have_open = true;
		if (!s->conn || collision_winner(s, s->conn, c, &o) == c) {
			switch_to_tracked(s);
		} else {
			log_collision(s, s->conn, c);
			notify_cease(s, c, BGP_CEASE_COLLISION, NULL);
		}
		return;
	case BGP_MSG_NOTIFICATION:
		if (bgp_notification_decode(body, len, &s->rx_notify) == 0)
			SLOG(LOG_INFO, "bgp notification received on second connection", "error",
			     bgp_notify_name(s->rx_notify.code, s->rx_notify.subcode), NULL);
		conn_close(s, c);
		return;
	default:
		/* RFC 4271 §8.2.2 OpenSent: anything but OPEN is an FSM
		 * error. */
		bgp_notify_set(&n, BGP_ERR_FSM, BGP_ERR_FSM_OPENSENT, NULL, 0);
		notify_close(s, c, &n);
		return;
	}
}

static void handle_update(struct bgp_session *s, const uint8_t *body, size_t len)
{
	struct bgp_update u;
	uint16_t afi;
	uint8_t safi;

	if (s->state != BGP_FSM_ESTABLISHED) {
		fsm_event(s, BGP_FSM_EV_UPDATE, "UPDATE before Established");
		return;
	}
	/* RFC 7606: -1 only for errors that reset the session. */
	if (bgp_update_decode(body, len, &s->info.neg.opts, &u, &s->err) < 0) {
		bgp_update_free(&u);
		set_error(s, "malformed UPDATE: %s", bgp_notify_name(s->err.code, s->err.subcode));
		fsm_event(s, BGP_FSM_EV_UPDATE_ERR, "malformed UPDATE");
		return;
	}
	if (u.action != BGP_UPDATE_OK)
		SLOG(LOG_WARN, "bgp update with errors", "action", bgp_update_action_name(u.action),
		     "error", bgp_notify_name(u.why.code, u.why.subcode), NULL);
	else if (bgp_update_is_eor(&u, &afi, &safi))
		SLOG(LOG_DEBUG, "bgp end-of-rib received", "afi",
		     afi == BGP_AFI_IPV4 ? "ipv4" : afi == BGP_AFI_IPV6 ? "ipv6" : "other", NULL);
	/* Received routes are not used: this speaker only announces. */
	bgp_update_free(&u);
	fsm_event(s, BGP_FSM_EV_UPDATE, "UPDATE received");
}

static void handle_notification(struct bgp_session *s, const uint8_t *body, size_t len)
{
	struct bgp_notify *n = &s->rx_notify;
	char msg[BGP_SHUTDOWN_MSG_MAX + 1] = "";
	char code[8], sub[8];

	if (bgp_notification_decode(body, len, n) < 0)
		bgp_notify_set(n, 0, 0, NULL, 0);
	bgp_notify_shutdown_msg(n, msg);
	snprintf(code, sizeof(code), "%u", n->code);
	snprintf(sub, sizeof(sub), "%u", n->subcode);
	SLOG(LOG_WARN, "bgp notification received", "code", code, "subcode", sub, "error",
	     bgp_notify_name(n->code, n->subcode), "message", msg, NULL);
	if (*msg)
		set_error(s, "received NOTIFICATION: %s: %s", bgp_notify_name(n->code, n->subcode),
			  msg);
	else
		set_error(s, "received NOTIFICATION: %s", bgp_notify_name(n->code, n->subcode));
	s->c.notifications_received++;
	/* RFC 4271 §8.1.2 Event 24: version error. */
	fsm_event(s,
		  n->code == BGP_ERR_OPEN && n->subcode == BGP_ERR_OPEN_VERSION
			  ? BGP_FSM_EV_NOTIF_VER_ERR
			  : BGP_FSM_EV_NOTIF,
		  "NOTIFICATION received");
}

static void handle_msg(struct bgp_session *s, struct conn *c, uint8_t type, const uint8_t *body,
		       size_t len)
{
	s->c.total_received++;
	metric_inc(s, M(s)->total_received);
	if (c != s->conn) {
		tracked_msg(s, c, type, body, len);
		return;
	}
	switch (type) {
	case BGP_MSG_OPEN:
		s->c.opens_received++;
		metric_inc(s, M(s)->opens_received);
		if (s->state == BGP_FSM_OPENSENT)
			handle_open(s, c, body, len);
		else
			fsm_event(s, BGP_FSM_EV_OPEN, "unexpected OPEN");
		break;
	case BGP_MSG_UPDATE:
		s->c.updates_received++;
		metric_inc(s, M(s)->updates_received);
		handle_update(s, body, len);
		break;
	case BGP_MSG_NOTIFICATION:
		handle_notification(s, body, len);
		break;
	case BGP_MSG_KEEPALIVE:
		s->c.keepalives_received++;
		metric_inc(s, M(s)->keepalives_received);
		fsm_event(s, BGP_FSM_EV_KEEPALIVE, "KEEPALIVE received");
		break;
	case BGP_MSG_ROUTE_REFRESH:
		s->c.route_refresh_received++;
		if (bgp_route_refresh_decode(body, len, &s->rr, &s->err) < 0) {
			set_error(s, "malformed ROUTE-REFRESH");
			fsm_event(s, BGP_FSM_EV_ROUTE_REFRESH_ERR, "malformed ROUTE-REFRESH");
		} else {
			fsm_event(s, BGP_FSM_EV_ROUTE_REFRESH, "ROUTE-REFRESH received");
		}
		break;
	default:
		/* bgp_frame() lets only types 1..5 through. */
		break;
	}
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	struct bgp_session *s = c->s;
	size_t off = 0;
	ssize_t n;

	n = recv(c->fd, c->rx + c->rxlen, RX_BUF_SIZE - c->rxlen, MSG_DONTWAIT);
	if (n == 0) {
		conn_failed(s, c, "connection closed by the peer");
		return;
	}
	if (n < 0) {
		char why[128];

		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		snprintf(why, sizeof(why), "receive: %s", strerror(errno));
		conn_failed(s, c, why);
		return;
	}
	c->rxlen += (size_t)n;
	c->busy = true;
	while (!c->dead) {
		size_t len;
		uint8_t type;
		enum bgp_frame_result r =
			bgp_frame(c->rx + off, c->rxlen - off, &len, &type, &s->err);

		if (r == BGP_FRAME_MORE)
			break;
		if (r == BGP_FRAME_ERROR) {
			/* RFC 4271 §6.1. */
			if (c == s->conn) {
				set_error(s, "bad message header: %s",
					  bgp_notify_name(s->err.code, s->err.subcode));
				fsm_event(s, BGP_FSM_EV_HEADER_ERR, "bad message header");
			} else {
				notify_close(s, c, &s->err);
			}
			break;
		}
		handle_msg(s, c, type, c->rx + off + BGP_HEADER_LEN, len - BGP_HEADER_LEN);
		off += len;
	}
	c->busy = false;
	if (c->dead) {
		conn_free(c);
		return;
	}
	memmove(c->rx, c->rx + off, c->rxlen - off);
	c->rxlen -= off;
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	struct bgp_session *s = c->s;

	if (c->connecting) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			return;
		c->connecting = false;
		ev_io_stop(loop, &c->ww);
		if (err) {
			char why[128];

			snprintf(why, sizeof(why), "connect: %s", strerror(err));
			conn_failed(s, c, why);
			return;
		}
		conn_fill_addrs(c);
		ev_io_start(loop, &c->rw);
		s->event_conn = c;
		fsm_event(s, BGP_FSM_EV_TCP_CR_ACKED, "connected");
		return;
	}
	if (conn_flush(c) < 0) {
		char why[128];

		snprintf(why, sizeof(why), "send: %s", strerror(errno));
		conn_failed(s, c, why);
		return;
	}
	if (c->txoff >= c->tx.len)
		ev_io_stop(loop, &c->ww);
}

/* ------------------------------------------------------------------ */
/* timers */

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bgp_session *s = w->data;

	if (s->connect_err) {
		char why[128];

		snprintf(why, sizeof(why), "connect: %s", strerror(s->connect_err));
		s->connect_err = 0;
		fsm_event(s, BGP_FSM_EV_TCP_FAILS, why);
		return;
	}
	/* RFC 2385 §2.0: a segment whose MD5 digest is missing or wrong is
	 * dropped without an answer, so a password mismatch looks exactly like
	 * an unreachable peer.  Say so when this session signs its segments. */
	bool md5 = s->cfg.password && *s->cfg.password;
	const char *why = s->state != BGP_FSM_CONNECT ? "connect retry timer expired"
			  : md5 ? "connect timed out; TCP MD5 is set for this peer: a password "
				  "mismatch, or a peer without MD5, drops our segments silently"
				: "connect timed out";
	if (s->state == BGP_FSM_CONNECT)
		set_error(s, "%s", md5 ? "connect: timed out (TCP MD5 is set for this peer: "
					  "check that both sides use the same password)"
				       : "connect: timed out");
	fsm_event(s, BGP_FSM_EV_CONNECT_RETRY_EXPIRES, why);
}

static void on_hold(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bgp_session *s = w->data;

	set_error(s, "hold timer expired");
	fsm_event(s, BGP_FSM_EV_HOLD_EXPIRES, "hold timer expired");
}

static void on_keepalive(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bgp_session *s = w->data;

	fsm_event(s, BGP_FSM_EV_KEEPALIVE_EXPIRES, "keepalive timer expired");
}

static void on_restart(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bgp_session *s = w->data;

	if (!s->stopped)
		fsm_event(s, BGP_FSM_EV_AUTOMATIC_START_PASSIVE, "restart after error");
}

/* ------------------------------------------------------------------ */
/* public API */

struct bgp_session *bgp_session_new(const struct bgp_session_cfg *cfg,
				    const struct bgp_session_env *env)
{
	struct bgp_session *s = xcalloc(1, sizeof(*s));

	s->refused_log = (struct log_limit)LOG_LIMIT_INIT(5.0, 5);
	bgp_session_cfg_copy(&s->cfg, cfg);
	s->loop = env->loop;
	s->hooks = env->hooks;
	s->arg = env->arg;
	s->m = env->metrics;
	s->gr_restarted = env->gr_restarted;
	s->router_id = cfg->has_router_id && cfg->router_id.family == IP_FAMILY_V4
			       ? (uint32_t)cfg->router_id.v
			       : env->default_router_id;
	if (!s->router_id)
		s->router_id = 1;
	s->local_as = cfg->local_asn ? cfg->local_asn : cfg->my_asn;
	s->passive = cfg->peer_address.family == IP_FAMILY_NONE;
	s->state = BGP_FSM_IDLE;
	s->stopped = true;
	if (s->passive)
		snprintf(s->label, sizeof(s->label), "%s", cfg->interface ? cfg->interface : "");
	else
		bgp_session_format_peer(s->label, sizeof(s->label), &cfg->peer_address,
					cfg->peer_port);
	s->rand_state = ((uint64_t)(ev_time() * 1e6) ^ (uint64_t)cfg->peer_address.v ^
			 ((uint64_t)cfg->peer_port << 48) ^ (uint64_t)(uintptr_t)s) |
			1;
	ev_init(&s->t_retry, on_retry);
	ev_init(&s->t_hold, on_hold);
	ev_init(&s->t_keepalive, on_keepalive);
	ev_init(&s->t_restart, on_restart);
	s->t_retry.data = s->t_hold.data = s->t_keepalive.data = s->t_restart.data = s;
	build_local_open(s);
	metric_set(s, M(s)->session_up, 0);
	metric_touch(s, M(s)->opens_sent);
	metric_touch(s, M(s)->opens_received);
	metric_touch(s, M(s)->notifications_sent);
	metric_touch(s, M(s)->keepalives_sent);
	metric_touch(s, M(s)->keepalives_received);
	metric_touch(s, M(s)->updates_sent);
	metric_touch(s, M(s)->updates_received);
	metric_touch(s, M(s)->route_refresh_sent);
	metric_touch(s, M(s)->total_sent);
	metric_touch(s, M(s)->total_received);
	return s;
}

void bgp_session_start(struct bgp_session *s)
{
	s->stopped = false;
	s->failures = 0;
	fsm_event(s, s->passive ? BGP_FSM_EV_AUTOMATIC_START_PASSIVE : BGP_FSM_EV_MANUAL_START,
		  "started");
}

void bgp_session_stop(struct bgp_session *s, uint8_t cease_subcode, const char *msg,
		      bool keep_routes)
{
	bool graceful = keep_routes && s->state == BGP_FSM_ESTABLISHED && s->info.gr;

	s->stop_subcode = cease_subcode;
	free(s->stop_msg);
	s->stop_msg = xstrdup(msg);
	if (graceful)
		SLOG(LOG_INFO, "bgp session closing without notification", "reason",
		     "graceful restart: the peer keeps our routes (RFC 4724 4.1)", NULL);
	fsm_event(s, graceful ? BGP_FSM_EV_GRACEFUL_STOP : BGP_FSM_EV_MANUAL_STOP,
		  msg && *msg ? msg : "stopped");
	s->stopped = true;
	ev_timer_stop(s->loop, &s->t_restart);
	ev_timer_stop(s->loop, &s->t_retry);
}

void bgp_session_free(struct bgp_session *s)
{
	if (!s)
		return;
	ev_timer_stop(s->loop, &s->t_retry);
	ev_timer_stop(s->loop, &s->t_hold);
	ev_timer_stop(s->loop, &s->t_keepalive);
	ev_timer_stop(s->loop, &s->t_restart);
	/* Nothing is sent from here on. */
	if (s->conn)
		wbuf_reset(&s->conn->tx);
	if (s->tracked)
		wbuf_reset(&s->tracked->tx);
	close_all(s);
	peer_open_clear(s);
	bgp_session_cfg_free(&s->cfg);
	free(s->stop_msg);
	free(s);
}

void bgp_session_accept(struct bgp_session *s, int fd)
{
	struct conn *c;
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	detect_gtsm(s, fd);
	set_ttl(s, fd);
	c = conn_new(s, fd, false);
	conn_fill_addrs(c);
	ev_io_start(s->loop, &c->rw);
	s->event_conn = c;
	fsm_event(s, BGP_FSM_EV_TCP_CONFIRMED, "peer connected");
}

bool bgp_session_wants(const struct bgp_session *s, const struct ip_addr *addr, uint32_t scope_id)
{
	struct ip_addr a = unmap(*addr);

	/* The listening socket is in the default VRF. */
	if (s->cfg.vrf && *s->cfg.vrf)
		return false;
	if (!s->passive)
		return ip_eq(&a, &s->cfg.peer_address);
	if (!s->cfg.interface || !is_link_local6(&a))
		return false;
	return scope_id != 0 && scope_id == if_nametoindex(s->cfg.interface);
}

int bgp_session_send_updates(struct bgp_session *s, const uint8_t *msgs, size_t len, size_t nmsgs)
{
	const char *v[] = { s->label };

	if (s->state != BGP_FSM_ESTABLISHED || !s->conn)
		return -1;
	if (!len)
		return 0;
	conn_queue(s, s->conn, msgs, len);
	s->c.updates_sent += nmsgs;
	s->c.total_sent += nmsgs;
	if (M(s)->updates_sent)
		metrics_add(M(s)->updates_sent, v, (double)nmsgs);
	if (M(s)->total_sent)
		metrics_add(M(s)->total_sent, v, (double)nmsgs);
	return 0;
}

const char *bgp_session_name(const struct bgp_session *s)
{
	return s->cfg.name;
}

const char *bgp_session_peer_label(const struct bgp_session *s)
{
	return s->label;
}

const struct bgp_session_cfg *bgp_session_cfg(const struct bgp_session *s)
{
	return &s->cfg;
}

enum bgp_fsm_state bgp_session_state(const struct bgp_session *s)
{
	return s->state;
}

const struct bgp_session_info *bgp_session_info(const struct bgp_session *s)
{
	return &s->info;
}

const struct bgp_session_counters *bgp_session_counters(const struct bgp_session *s)
{
	return &s->c;
}

double bgp_session_uptime(const struct bgp_session *s)
{
	if (s->state != BGP_FSM_ESTABLISHED)
		return 0;
	return ev_time() - s->established_at;
}

bool bgp_session_gtsm(const struct bgp_session *s)
{
	return s->gtsm;
}

const char *bgp_session_last_error(const struct bgp_session *s)
{
	return s->last_error;
}

static json_t *id_json(uint32_t id)
{
	struct ip_addr a = ip_v4(id);
	char buf[IP_STR_MAX];

	return json_string(ip_format(&a, buf));
}

json_t *bgp_session_status_json(const struct bgp_session *s)
{
	const struct bgp_session_info *in = &s->info;
	const struct bgp_session_counters *c = &s->c;
	bool negotiated = s->state == BGP_FSM_OPENCONFIRM || s->state == BGP_FSM_ESTABLISHED;
	json_t *o = json_object(), *caps = json_object(), *cnt = json_object();
	char buf[LABEL_MAX];

	json_object_set_new(o, "name", json_string(s->cfg.name));
	json_object_set_new(o, "peer", json_string(s->label));
	json_object_set_new(o, "state", json_string(bgp_fsm_state_name[s->state]));
	json_object_set_new(o, "uptime_s", json_integer((json_int_t)bgp_session_uptime(s)));
	json_object_set_new(o, "local_asn", json_integer(s->local_as));
	json_object_set_new(o, "peer_asn",
			    json_integer(negotiated ? in->peer_as : s->cfg.peer_asn));
	json_object_set_new(o, "router_id", id_json(s->router_id));
	json_object_set_new(o, "configured_hold_time", json_integer(s->local_open.hold_time));
	json_object_set_new(o, "hold_time", json_integer(negotiated ? in->hold_time : 0));
	json_object_set_new(o, "keepalive", json_integer(negotiated ? in->keepalive : 0));
	if (negotiated) {
		json_object_set_new(o, "peer_router_id", id_json(in->peer_router_id));
		bgp_session_format_peer(buf, sizeof(buf), &in->local, in->local_port);
		json_object_set_new(o, "local", json_string(buf));
	}
	json_object_set_new(caps, "ipv4_unicast", json_boolean(negotiated && in->neg.ipv4_unicast));
	json_object_set_new(caps, "ipv6_unicast", json_boolean(negotiated && in->neg.ipv6_unicast));
	json_object_set_new(caps, "route_refresh",
			    json_boolean(negotiated && in->neg.route_refresh));
	json_object_set_new(caps, "four_octet_as", json_boolean(negotiated && in->neg.opts.as4));
	json_object_set_new(caps, "extended_next_hop",
			    json_boolean(negotiated && in->neg.opts.ext_nh_ipv4));
	json_object_set_new(caps, "graceful_restart", json_boolean(negotiated && in->gr));
	json_object_set_new(o, "capabilities", caps);
	json_object_set_new(o, "gtsm", json_boolean(s->gtsm));
	json_object_set_new(o, "last_error", json_string(s->last_error));
#define CNT(name) json_object_set_new(cnt, #name, json_integer((json_int_t)c->name))
	CNT(opens_sent);
	CNT(opens_received);
	CNT(updates_sent);
	CNT(updates_received);
	CNT(keepalives_sent);
	CNT(keepalives_received);
	CNT(notifications_sent);
	CNT(notifications_received);
	CNT(route_refresh_sent);
	CNT(route_refresh_received);
	CNT(total_sent);
	CNT(total_received);
	CNT(established);
	CNT(connect_retries);
#undef CNT
	json_object_set_new(o, "counters", cnt);
	return o;
}
