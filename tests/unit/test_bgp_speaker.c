/*
 * Tests for the BGP speaker and sessions (bgp/bgp_speaker.h,
 * bgp/bgp_session.h) over real TCP on loopback, with no daemon: the peer
 * is a small scripted BGP speaker written here with the codec
 * (bgp/bgp_msg.h), driven step by step by the test while the speaker's
 * libev loop runs in between.  Every wait polls with a deadline; nothing
 * sleeps.
 *
 * Covered: sessions over IPv4 and IPv6; the OPEN and its capabilities
 * (multiprotocol, route refresh, 4-octet AS, graceful restart with the R
 * bit); the plan's routes arriving with their attributes and the
 * End-of-RIB; plan changes sent as single UPDATEs without a session reset;
 * a parameter change resetting only its session; NOTIFICATIONs for a
 * malformed UPDATE, a wrong peer AS and hold timer expiry; TCP MD5 with
 * matching and mismatching keys, dialled and accepted; connection
 * collisions resolved both ways; ROUTE-REFRESH; stop() with and without
 * graceful restart; connections from unknown addresses refused; metrics;
 * GTSM (RFC 5082) detected from the TTL of the peer's SYN, with the
 * parsing of saved SYN headers from raw bytes; the hold BFD puts on a
 * session (RFC 5882); and two speakers of this
 * project peering with each other over both families.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "bgp/bgp_msg.h"
#include "bgp/bgp_session.h"
#include "bgp/bgp_speaker.h"
#include "base/metrics.h"

#define WAIT 5.0                       /* seconds any single step may take */

static struct ev_loop *loop;

/* ------------------------------------------------------------------ */
/* the loop */

static void on_guard(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
}

/* Run the speaker's loop for one round of events, at most max seconds. */
static void pump(double max)
{
	ev_timer guard;

	ev_timer_init(&guard, on_guard, max, 0.0);
	ev_timer_start(loop, &guard);
	ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
}

static void pump_for(double t)
{
	double end = ev_time() + t;

	while (ev_time() < end)
		pump(end - ev_time());
}

/* ------------------------------------------------------------------ */
/* addresses and sockets of the scripted peer */

static struct ip_addr A(const char *s)
{
	struct ip_addr a;
	char why[128];

	if (ip_parse(s, &a, why, sizeof(why)) < 0)
		fail_msg("%s: %s", s, why);
	return a;
}

static struct ip_prefix P(const char *s)
{
	struct ip_prefix p;
	char why[128];

	if (ip_prefix_parse(s, &p, NULL, why, sizeof(why)) < 0)
		fail_msg("%s: %s", s, why);
	return p;
}

static bool ip_is(const struct ip_addr *a, const char *s)
{
	struct ip_addr b = A(s);

	return ip_eq(a, &b);
}

static uint32_t ID(const char *s)
{
	return (uint32_t)A(s).v;
}

static socklen_t loopback(int af, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_addr = in6addr_loopback;
	return sizeof(*sin6);
}

/* The scripted peer's own RFC 2385 key setting, independent of the code
 * under test. */
static void set_md5(int fd, int af, const char *key)
{
	struct tcp_md5sig md;
	struct sockaddr_storage ss;

	memset(&md, 0, sizeof(md));
	loopback(af, 0, &ss);
	memcpy(&md.tcpm_addr, &ss, sizeof(ss));
	md.tcpm_keylen = (uint16_t)strlen(key);
	memcpy(md.tcpm_key, key, strlen(key));
	assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &md, sizeof(md)), 0);
}

static int tlisten(int af, uint16_t *port, const char *md5)
{
	struct sockaddr_storage ss;
	socklen_t sl = loopback(af, 0, &ss);
	int one = 1, fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (md5)
		set_md5(fd, af, md5);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(listen(fd, 8), 0);
	sl = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	*port = ntohs(af == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* Accept within timeout seconds, running the loop meanwhile; -1 if none. */
static int taccept(int lfd, double timeout)
{
	double end = ev_time() + timeout;

	for (;;) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1)
			return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (ev_time() > end)
			return -1;
		pump(0.01);
	}
}

static int tconnect(int af, uint16_t port, const char *md5)
{
	struct sockaddr_storage ss;
	socklen_t sl = loopback(af, port, &ss);
	int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (md5)
		set_md5(fd, af, md5);
	/* Loopback: the handshake completes without the speaker's accept. */
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
	return fd;
}

/* Connect with this TTL (IPv4) or hop limit (IPv6) on the SYN. */
static int tconnect_ttl(int af, uint16_t port, int ttl)
{
	struct sockaddr_storage ss;
	socklen_t sl = loopback(af, port, &ss);
	int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (af == AF_INET)
		assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
	else
		assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl)),
				 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
	return fd;
}

/* An address and port as 16 bytes (IPv4 v4-mapped) and a port, so that
 * an AF_INET address matches its v4-mapped AF_INET6 form. */
static void tsa_norm(const struct sockaddr_storage *ss, uint8_t a[18])
{
	memset(a, 0, 18);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &sin->sin_addr, 4);
		memcpy(a + 16, &sin->sin_port, 2);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		memcpy(a, &sin6->sin6_addr, 16);
		memcpy(a + 16, &sin6->sin6_port, 2);
	}
}

/* The speaker's end of the scripted peer's connection fd: the socket of
 * this process whose local address is fd's remote one and back. */
static int tother_end(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint8_t mine[18], theirs[18], a[18];

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	tsa_norm(&ss, mine);
	sl = sizeof(ss);
	assert_int_equal(getpeername(fd, (struct sockaddr *)&ss, &sl), 0);
	tsa_norm(&ss, theirs);
	for (int i = 0; i < 4096; i++) {
		if (i == fd)
			continue;
		sl = sizeof(ss);
		if (getsockname(i, (struct sockaddr *)&ss, &sl) < 0)
			continue;
		tsa_norm(&ss, a);
		if (memcmp(a, theirs, 18) != 0)
			continue;
		sl = sizeof(ss);
		if (getpeername(i, (struct sockaddr *)&ss, &sl) < 0)
			continue;
		tsa_norm(&ss, a);
		if (memcmp(a, mine, 18) == 0)
			return i;
	}
	fail_msg("no socket of the speaker at the other end of fd %d", fd);
	return -1;
}

/* The IPv4 option on an IPv4 or v4-mapped socket, else the IPv6 one. */
static int tsockopt_ttl(int fd, bool v4, bool min)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (v4)
		assert_int_equal(getsockopt(fd, IPPROTO_IP, min ? IP_MINTTL : IP_TTL, &v, &l), 0);
	else
		assert_int_equal(getsockopt(fd, IPPROTO_IPV6,
					    min ? IPV6_MINHOPCOUNT : IPV6_UNICAST_HOPS, &v, &l),
				 0);
	return v;
}

/* ------------------------------------------------------------------ */
/* messages of the scripted peer */

struct tconn {
	int fd;
	size_t len;
	uint8_t buf[1 << 16];
};

struct tmsg {
	uint8_t type;
	size_t len;
	uint8_t b[BGP_MSG_MAX];
};

#define BODY(m) ((m)->b + BGP_HEADER_LEN)
#define BODY_LEN(m) ((m)->len - BGP_HEADER_LEN)

static struct tconn *tconn_new(int fd)
{
	struct tconn *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_true(fd >= 0);
	c->fd = fd;
	return c;
}

static void tconn_free(struct tconn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* 1: a message; 0: none within timeout; -1: the connection closed. */
static int trecv(struct tconn *c, struct tmsg *m, double timeout)
{
	double end = ev_time() + timeout;

	for (;;) {
		if (c->len >= BGP_HEADER_LEN) {
			size_t len = (size_t)c->buf[16] << 8 | c->buf[17];

			assert_true(len >= BGP_HEADER_LEN && len <= BGP_MSG_MAX);
			if (c->len >= len) {
				m->type = c->buf[18];
				m->len = len;
				memcpy(m->b, c->buf, len);
				memmove(c->buf, c->buf + len, c->len - len);
				c->len -= len;
				return 1;
			}
		}
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -1;
		if (ev_time() > end)
			return 0;
		pump(0.005);
	}
}

/* The next message that is not a KEEPALIVE. */
static int trecv_nk(struct tconn *c, struct tmsg *m, double timeout)
{
	double end = ev_time() + timeout;
	int r;

	do
		r = trecv(c, m, end - ev_time() > 0 ? end - ev_time() : 0);
	while (r == 1 && m->type == BGP_MSG_KEEPALIVE);
	return r;
}

static void texpect(struct tconn *c, struct tmsg *m, uint8_t type)
{
	int r = trecv(c, m, WAIT);

	if (r != 1)
		fail_msg("waiting for %s: %s", bgp_msg_type_name(type),
			 r == 0 ? "timed out" : "connection closed");
	if (m->type != type)
		fail_msg("got %s, want %s", bgp_msg_type_name(m->type), bgp_msg_type_name(type));
}

static void texpect_notify(struct tconn *c, uint8_t code, uint8_t subcode)
{
	struct tmsg m;
	struct bgp_notify n;
	int r = trecv_nk(c, &m, WAIT);

	while (r == 1 && m.type == BGP_MSG_UPDATE)
		r = trecv_nk(c, &m, WAIT);
	if (r != 1)
		fail_msg("waiting for NOTIFICATION %u/%u: %s", code, subcode,
			 r == 0 ? "timed out" : "connection closed");
	if (m.type != BGP_MSG_NOTIFICATION)
		fail_msg("got %s, want NOTIFICATION", bgp_msg_type_name(m.type));
	assert_int_equal(bgp_notification_decode(BODY(&m), BODY_LEN(&m), &n), 0);
	if (n.code != code || n.subcode != subcode)
		fail_msg("NOTIFICATION %s, want %s", bgp_notify_name(n.code, n.subcode),
			 bgp_notify_name(code, subcode));
}

/* The connection closes (after any UPDATEs and KEEPALIVEs), with no
 * NOTIFICATION. */
static void texpect_close_silent(struct tconn *c)
{
	struct tmsg m;
	int r;

	do
		r = trecv(c, &m, WAIT);
	while (r == 1 && (m.type == BGP_MSG_KEEPALIVE || m.type == BGP_MSG_UPDATE));
	if (r == 1)
		fail_msg("got %s, want the connection closed", bgp_msg_type_name(m.type));
	assert_int_equal(r, -1);
}

static void tsend_raw(struct tconn *c, const void *p, size_t len)
{
	assert_int_equal(send(c->fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void tsend_w(struct tconn *c, struct wbuf *w)
{
	assert_true(wbuf_ok(w));
	tsend_raw(c, w->p, w->len);
	wbuf_free(w);
}

struct topen {
	uint32_t asn;
	const char *id;
	uint16_t hold;
	bool v4, v6, gr, no_rr;
	bool ext_nh;       /* RFC 8950: IPv4 unicast with an IPv6 next hop */
};

#define OPEN4(as, i) (&(struct topen){ .asn = (as), .id = (i), .hold = 90, .v4 = true })
#define OPEN6(as, i) (&(struct topen){ .asn = (as), .id = (i), .hold = 90, .v6 = true })

static void tsend_open(struct tconn *c, const struct topen *t)
{
	struct bgp_open o;
	struct bgp_afi_safi mp[2];
	struct wbuf w;
	size_t n = 0;

	memset(&o, 0, sizeof(o));
	o.asn = t->asn;
	o.hold_time = t->hold;
	o.bgp_id = ID(t->id);
	if (t->v4)
		mp[n++] = (struct bgp_afi_safi){ BGP_AFI_IPV4, BGP_SAFI_UNICAST };
	if (t->v6)
		mp[n++] = (struct bgp_afi_safi){ BGP_AFI_IPV6, BGP_SAFI_UNICAST };
	o.caps.mp = mp;
	o.caps.nmp = n;
	o.caps.as4 = true;
	o.caps.route_refresh = !t->no_rr;
	if (t->gr) {
		o.caps.gr = true;
		o.caps.gr_time = 120;
	}
	struct bgp_ext_nh xnh = { BGP_AFI_IPV4, BGP_SAFI_UNICAST, BGP_AFI_IPV6 };
	if (t->ext_nh) {
		o.caps.ext_nh = &xnh;
		o.caps.next_nh = 1;
	}
	wbuf_init_dyn(&w, 64);
	assert_int_equal(bgp_open_encode(&w, &o), 0);
	tsend_w(c, &w);
}

static void tsend_keepalive(struct tconn *c)
{
	struct wbuf w;

	wbuf_init_dyn(&w, 19);
	bgp_keepalive_encode(&w);
	tsend_w(c, &w);
}

static void texpect_open(struct tconn *c, struct bgp_open *o)
{
	struct tmsg m;
	struct bgp_notify err;

	texpect(c, &m, BGP_MSG_OPEN);
	assert_int_equal(bgp_open_decode(BODY(&m), BODY_LEN(&m), o, &err), 0);
}

/* Received UPDATEs, decoded. */
struct rx {
	size_t n;
	struct bgp_update u[32];
	size_t eor4, eor6;
};

static void rx_free(struct rx *r)
{
	for (size_t i = 0; i < r->n; i++)
		bgp_update_free(&r->u[i]);
	memset(r, 0, sizeof(*r));
}

/* Read UPDATEs until want_eor End-of-RIB markers have come (or, with
 * want_eor 0, until `quiet` seconds pass without a message). */
static void rx_read(struct tconn *c, const struct bgp_msg_opts *o, struct rx *r, size_t want_eor,
		    double quiet)
{
	struct tmsg m;

	while (want_eor ? r->eor4 + r->eor6 < want_eor : true) {
		struct bgp_notify err;
		uint16_t afi;
		uint8_t safi;
		int got = trecv_nk(c, &m, want_eor ? WAIT : quiet);

		if (!want_eor && got == 0)
			return;
		if (got != 1)
			fail_msg("waiting for UPDATEs: %s", got == 0 ? "timed out" : "closed");
		if (m.type != BGP_MSG_UPDATE)
			fail_msg("got %s, want UPDATE", bgp_msg_type_name(m.type));
		assert_true(r->n < 32);
		if (bgp_update_decode(BODY(&m), BODY_LEN(&m), o, &r->u[r->n], &err) != 0)
			fail_msg("speaker sent a malformed UPDATE: %s",
				 bgp_notify_name(err.code, err.subcode));
		/* The codec refuses loopback next hops (RFC 4271 §6.3), which
		 * is all a test on 127.0.0.1 can get. */
		if (r->u[r->n].action != BGP_UPDATE_OK &&
		    !(r->u[r->n].why.code == BGP_ERR_UPDATE &&
		      r->u[r->n].why.subcode == BGP_ERR_UPD_NEXT_HOP &&
		      ip_is(&r->u[r->n].attrs.next_hop, "127.0.0.1")))
			fail_msg("UPDATE decoded with %s: %s",
				 bgp_update_action_name(r->u[r->n].action),
				 bgp_notify_name(r->u[r->n].why.code, r->u[r->n].why.subcode));
		if (bgp_update_is_eor(&r->u[r->n], &afi, &safi)) {
			if (afi == BGP_AFI_IPV4)
				r->eor4++;
			else
				r->eor6++;
		}
		r->n++;
	}
}

/* The UPDATE that carries prefix p in its NLRI, or NULL. */
static const struct bgp_update *rx_find(const struct rx *r, const char *p)
{
	struct ip_prefix want = P(p);

	for (size_t i = 0; i < r->n; i++)
		for (size_t k = 0; k < r->u[i].nnlri; k++)
			if (ip_eq(&r->u[i].nlri[k].addr, &want.addr) &&
			    r->u[i].nlri[k].len == want.len)
				return &r->u[i];
	return NULL;
}

static size_t rx_nlri(const struct rx *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += r->u[i].nnlri;
	return n;
}

static bool has_prefix(const struct ip_prefix *v, size_t n, const char *p)
{
	struct ip_prefix want = P(p);

	for (size_t i = 0; i < n; i++)
		if (ip_eq(&v[i].addr, &want.addr) && v[i].len == want.len)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* plans */

static char *svc_web[] = { "default/web" };
static char *svc_two[] = { "default/a", "default/b" };

struct tplan {
	struct bgp_plan plan;
	struct bgp_session_plan s[4];
	struct bgp_route r[4][8];
	struct community_value c[4][8][4];
};

static struct bgp_session_cfg *tp_session(struct tplan *t, const char *name, const char *peer,
					  uint16_t port, uint32_t my_asn, uint32_t peer_asn)
{
	struct bgp_session_plan *s = &t->s[t->plan.nsessions];

	memset(s, 0, sizeof(*s));
	s->cfg.name = (char *)name;
	s->cfg.my_asn = my_asn;
	s->cfg.peer_asn = peer_asn;
	s->cfg.peer_address = A(peer);
	s->cfg.peer_port = port;
	s->cfg.has_router_id = true;
	s->cfg.router_id = A("10.0.0.1");
	s->cfg.hold_time_s = 90;
	s->cfg.keepalive_time_s = 30;
	s->cfg.connect_time_s = 2;
	s->cfg.ibgp = my_asn == peer_asn;
	s->routes = t->r[t->plan.nsessions];
	t->plan.sessions = t->s;
	t->plan.nsessions++;
	return &s->cfg;
}

/* Add a route to session i; comms like "65000:100", "large:64500:1:2". */
static struct bgp_route *tp_route(struct tplan *t, size_t i, const char *prefix, const char *c1,
				  const char *c2)
{
	struct bgp_session_plan *s = &t->s[i];
	struct bgp_route *r = &t->r[i][s->nroutes];
	struct community_value *cv = t->c[i][s->nroutes];
	const char *cs[] = { c1, c2 };
	char why[128];

	memset(r, 0, sizeof(*r));
	struct ip_prefix pf = P(prefix);
	r->prefix = bgp_prefix_pack(&pf);
	r->communities = cv;
	for (size_t k = 0; k < 2; k++)
		if (cs[k]) {
			if (community_parse(cs[k], &cv[r->ncommunities], why, sizeof(why)) < 0)
				fail_msg("%s: %s", cs[k], why);
			r->ncommunities++;
		}
	r->nservices = 1;
	r->services = svc_web;
	s->nroutes++;
	return r;
}

static void tp_del_route(struct tplan *t, size_t i, size_t k)
{
	struct bgp_session_plan *s = &t->s[i];

	memmove(&t->r[i][k], &t->r[i][k + 1], (s->nroutes - k - 1) * sizeof(t->r[i][0]));
	memmove(&t->c[i][k], &t->c[i][k + 1], (s->nroutes - k - 1) * sizeof(t->c[i][0]));
	s->nroutes--;
	for (size_t n = 0; n < s->nroutes; n++)
		t->r[i][n].communities = t->c[i][n];
}

/* ------------------------------------------------------------------ */
/* speaker status */

static json_t *tstatus(struct bgp_speaker *sp, const char *name)
{
	json_t *root = bgp_speaker_status_json(sp), *v, *found = NULL;
	size_t i;

	json_array_foreach(json_object_get(root, "sessions"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
			found = json_incref(v);
	json_decref(root);
	if (!found)
		fail_msg("no session %s in the status", name);
	return found;
}

static const char *tstate(struct bgp_speaker *sp, const char *name)
{
	static char buf[32];
	json_t *s = tstatus(sp, name);

	snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(s, "state")));
	json_decref(s);
	return buf;
}

static long tcounter(struct bgp_speaker *sp, const char *name, const char *counter)
{
	json_t *s = tstatus(sp, name);
	long v = (long)json_integer_value(json_object_get(json_object_get(s, "counters"), counter));

	json_decref(s);
	return v;
}

static void twait_state(struct bgp_speaker *sp, const char *name, const char *state)
{
	double end = ev_time() + WAIT;

	while (strcmp(tstate(sp, name), state) != 0) {
		if (ev_time() > end)
			fail_msg("session %s: %s, want %s", name, tstate(sp, name), state);
		pump(0.01);
	}
}

/* A series' value, -1 when it does not exist. */
static double tmetric(struct metrics_registry *reg, const char *family, const char *peer)
{
	const char *v[] = { peer };
	double x;

	if (metrics_get(metrics_family_find(reg, family), v, &x) < 0)
		return -1;
	return x;
}

static struct bgp_speaker *tspeaker(struct metrics_registry *reg)
{
	struct bgp_speaker_opts o = { .listen_any_port = true, .node_name = "node-1" };
	struct bgp_speaker *sp = bgp_speaker_new(loop, reg, &o);

	assert_int_equal(bgp_speaker_start(sp), 0);
	assert_true(bgp_speaker_listen_port(sp) != 0);
	return sp;
}

/* Accept the speaker's connection and bring the session up; *o gets the
 * speaker's OPEN. */
static struct tconn *testablish(int lfd, const struct topen *t, struct bgp_open *o)
{
	struct tconn *c = tconn_new(taccept(lfd, WAIT));
	struct tmsg m;

	texpect_open(c, o);
	tsend_open(c, t);
	tsend_keepalive(c);
	texpect(c, &m, BGP_MSG_KEEPALIVE);
	return c;
}

static const struct bgp_msg_opts ebgp_opts = { .as4 = true, .ebgp = true };
static const struct bgp_msg_opts ibgp_opts = { .as4 = true };

/* ------------------------------------------------------------------ */
/* tests */

static void test_ipv4_ebgp_routes(void **state)
{
	struct metrics_registry *reg = metrics_registry_new();
	struct bgp_speaker *sp = tspeaker(reg);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct rx r = { 0 };
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);
	const struct bgp_update *u;
	char label[64];

	tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501);
	tp_route(&t, 0, "192.0.2.10/32", "65000:100", "large:64500:1:2");
	tp_route(&t, 0, "192.0.2.11/32", NULL, NULL)->services = svc_two;
	t.r[0][1].nservices = 2;
	tp_route(&t, 0, "198.51.100.0/24", "65000:100", "large:64500:1:2");
	bgp_speaker_set(sp, &t.plan);

	struct tconn *c = testablish(lfd, OPEN4(64501, "10.0.0.9"), &o);
	/* The OPEN (RFC 4271 §4.2, RFC 5492). */
	assert_int_equal(o.asn, 64500);
	assert_int_equal(o.hold_time, 90);
	assert_int_equal(o.bgp_id, ID("10.0.0.1"));
	assert_int_equal(o.caps.nmp, 1);
	assert_int_equal(o.caps.mp[0].afi, BGP_AFI_IPV4);
	assert_true(o.caps.as4);
	assert_true(o.caps.route_refresh);
	assert_false(o.caps.gr);
	assert_int_equal(o.caps.next_nh, 0);
	bgp_open_free(&o);

	/* Two attribute groups, then End-of-RIB. */
	rx_read(c, &ebgp_opts, &r, 1, 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.eor4, 1);
	assert_int_equal(rx_nlri(&r), 3);
	u = rx_find(&r, "192.0.2.10/32");
	assert_non_null(u);
	assert_ptr_equal(u, rx_find(&r, "198.51.100.0/24"));
	assert_true(u->attrs.has_origin);
	assert_int_equal(u->attrs.origin, BGP_ORIGIN_IGP);
	assert_int_equal(u->attrs.as_path.nsegs, 1);
	assert_int_equal(u->attrs.as_path.segs[0].type, BGP_AS_SEQUENCE);
	assert_int_equal(u->attrs.as_path.nasns, 1);
	assert_int_equal(u->attrs.as_path.asns[0], 64500);
	assert_true(ip_is(&u->attrs.next_hop, "127.0.0.1"));
	assert_false(u->attrs.has_local_pref);
	assert_int_equal(u->attrs.ncommunities, 1);
	assert_int_equal(u->attrs.communities[0], 65000u << 16 | 100);
	assert_int_equal(u->attrs.nlarge, 1);
	assert_int_equal(u->attrs.large[0].global, 64500);
	assert_int_equal(u->attrs.large[0].local1, 1);
	assert_int_equal(u->attrs.large[0].local2, 2);
	u = rx_find(&r, "192.0.2.11/32");
	assert_non_null(u);
	assert_int_equal(u->nnlri, 1);
	assert_int_equal(u->attrs.ncommunities, 0);
	assert_int_equal(u->attrs.nlarge, 0);
	rx_free(&r);

	/* Status and metrics. */
	json_t *s = tstatus(sp, "r1");
	json_t *caps = json_object_get(s, "capabilities");
	json_t *routes = json_object_get(s, "routes");
	json_t *r0 = json_array_get(routes, 0), *r1 = json_array_get(routes, 1);
	assert_string_equal(json_string_value(json_object_get(s, "state")), "Established");
	assert_int_equal(json_integer_value(json_object_get(s, "hold_time")), 90);
	assert_int_equal(json_integer_value(json_object_get(s, "keepalive")), 30);
	assert_true(json_is_true(json_object_get(caps, "ipv4_unicast")));
	assert_false(json_is_true(json_object_get(caps, "ipv6_unicast")));
	assert_int_equal(json_array_size(routes), 3);
	assert_string_equal(json_string_value(json_object_get(r0, "prefix")), "192.0.2.10/32");
	assert_true(json_is_true(json_object_get(r0, "announced")));
	assert_string_equal(
		json_string_value(json_array_get(json_object_get(r0, "communities"), 0)),
		"65000:100");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r1, "services"), 1)),
			    "default/b");
	json_decref(s);
	snprintf(label, sizeof(label), "127.0.0.1:%u", port);
	assert_true(tmetric(reg, "metallb_bgp_session_up", label) == 1);
	assert_true(tmetric(reg, "metallb_bgp_announced_prefixes_total", label) == 3);
	assert_true(tmetric(reg, "metallb_bgp_pending_prefixes_total", label) == 3);
	assert_true(tmetric(reg, "metallb_bgp_updates_total", label) == 3);
	assert_true(tmetric(reg, "metallb_bgp_opens_received", label) == 1);
	assert_true(tmetric(reg, "metallb_bgp_keepalives_received", label) == 1);

	bgp_speaker_free(sp);
	/* No graceful restart: Cease / Administrative Shutdown. */
	texpect_notify(c, BGP_ERR_CEASE, BGP_CEASE_ADMIN_SHUTDOWN);
	tconn_free(c);
	close(lfd);
	/* The session's series left with it. */
	assert_true(tmetric(reg, "metallb_bgp_session_up", label) == -1);
	metrics_registry_free(reg);
}

static void test_ipv6_ibgp_routes(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct rx r = { 0 };
	uint16_t port;
	int lfd = tlisten(AF_INET6, &port, NULL);
	struct bgp_route *rt;
	const struct bgp_update *u;

	tp_session(&t, "r6", "::1", port, 64500, 64500);
	rt = tp_route(&t, 0, "2001:db8::10/128", "65000:200", NULL);
	rt->has_local_pref = true;
	rt->local_pref = 200;
	tp_route(&t, 0, "2001:db8:1::/64", NULL, NULL);
	bgp_speaker_set(sp, &t.plan);

	struct tconn *c = testablish(lfd, OPEN6(64500, "10.0.0.9"), &o);
	assert_int_equal(o.caps.nmp, 1);
	assert_int_equal(o.caps.mp[0].afi, BGP_AFI_IPV6);
	bgp_open_free(&o);

	rx_read(c, &ibgp_opts, &r, 1, 0);
	assert_int_equal(r.eor6, 1);
	assert_int_equal(r.eor4, 0);
	assert_int_equal(rx_nlri(&r), 2);
	u = rx_find(&r, "2001:db8::10/128");
	assert_non_null(u);
	assert_true(u->has_mp_reach);
	assert_int_equal(u->mp_reach_afi, BGP_AFI_IPV6);
	assert_true(ip_is(&u->mp_next_hop, "::1"));
	/* ::1 is on lo, which has no link-local address. */
	assert_int_equal(u->mp_next_hop_ll.family, IP_FAMILY_NONE);
	/* iBGP: empty AS_PATH, LOCAL_PREF kept. */
	assert_true(u->attrs.has_as_path);
	assert_int_equal(u->attrs.as_path.nasns, 0);
	assert_true(u->attrs.has_local_pref);
	assert_int_equal(u->attrs.local_pref, 200);
	assert_int_equal(u->attrs.ncommunities, 1);
	u = rx_find(&r, "2001:db8:1::/64");
	assert_non_null(u);
	assert_false(u->attrs.has_local_pref);
	rx_free(&r);

	json_t *s = tstatus(sp, "r6");
	char want[64];
	snprintf(want, sizeof(want), "[::1]:%u", port);
	assert_string_equal(json_string_value(json_object_get(s, "peer")), want);
	json_decref(s);

	bgp_speaker_free(sp);
	tconn_free(c);
	close(lfd);
}

static void test_set_sends_only_the_difference(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct rx r = { 0 };
	struct tmsg m;
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);
	json_t *s;

	tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501);
	tp_route(&t, 0, "192.0.2.10/32", NULL, NULL);
	tp_route(&t, 0, "192.0.2.11/32", NULL, NULL);
	bgp_speaker_set(sp, &t.plan);
	struct tconn *c = testablish(lfd, OPEN4(64501, "10.0.0.9"), &o);
	bgp_open_free(&o);
	rx_read(c, &ebgp_opts, &r, 1, 0);
	rx_free(&r);

	/* One route more: one UPDATE with just it. */
	tp_route(&t, 0, "192.0.2.12/32", NULL, NULL);
	bgp_speaker_set(sp, &t.plan);
	rx_read(c, &ebgp_opts, &r, 0, 0.3);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.u[0].nnlri, 1);
	assert_int_equal(r.u[0].nwithdrawn, 0);
	assert_non_null(rx_find(&r, "192.0.2.12/32"));
	rx_free(&r);

	/* One route less: one withdrawal. */
	tp_del_route(&t, 0, 1);
	bgp_speaker_set(sp, &t.plan);
	rx_read(c, &ebgp_opts, &r, 0, 0.3);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.u[0].nnlri, 0);
	assert_int_equal(r.u[0].nwithdrawn, 1);
	assert_true(has_prefix(r.u[0].withdrawn, 1, "192.0.2.11/32"));
	rx_free(&r);

	/* Changed attributes: announced again with the new ones. */
	community_parse("65000:7", &t.c[0][0][0], NULL, 0);
	t.r[0][0].ncommunities = 1;
	bgp_speaker_set(sp, &t.plan);
	rx_read(c, &ebgp_opts, &r, 0, 0.3);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.u[0].nnlri, 1);
	assert_non_null(rx_find(&r, "192.0.2.10/32"));
	assert_int_equal(r.u[0].attrs.ncommunities, 1);
	assert_int_equal(r.u[0].attrs.communities[0], 65000u << 16 | 7);
	rx_free(&r);

	/* The same plan again: nothing. */
	bgp_speaker_set(sp, &t.plan);
	assert_int_equal(trecv_nk(c, &m, 0.3), 0);

	/* Only services changed: nothing on the wire either. */
	t.r[0][0].services = svc_two;
	t.r[0][0].nservices = 2;
	bgp_speaker_set(sp, &t.plan);
	assert_int_equal(trecv_nk(c, &m, 0.3), 0);

	/* The session never went down. */
	s = tstatus(sp, "r1");
	assert_string_equal(json_string_value(json_object_get(s, "state")), "Established");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "counters"),
							    "established")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "counters"),
							    "opens_sent")), 1);
	assert_int_equal(json_array_size(json_object_get(s, "routes")), 2);
	json_decref(s);

	bgp_speaker_free(sp);
	tconn_free(c);
	close(lfd);
}

/* bgp_speaker_update(): only the routes named are compared, and what is
 * sent is what bgp_speaker_set() would send. */
static struct bgp_route_change tchange(uint32_t session, const char *prefix)
{
	struct ip_prefix pf = P(prefix);

	return (struct bgp_route_change){ .session = session, .prefix = bgp_prefix_pack(&pf) };
}

static void test_update_compares_only_the_changes(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct bgp_speaker_work wk;
	struct tplan t = { 0 };
	struct bgp_open o;
	struct rx r = { 0 };
	struct tmsg m;
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);
	struct bgp_route_change ch[2];
	json_t *s;

	(void)state;
	tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501);
	tp_route(&t, 0, "192.0.2.10/32", "65000:1", NULL);
	tp_route(&t, 0, "192.0.2.11/32", "65000:1", NULL);
	tp_route(&t, 0, "192.0.2.12/32", "65000:1", NULL);
	tp_route(&t, 0, "192.0.2.13/32", "65000:2", NULL);
	bgp_speaker_set(sp, &t.plan);
	struct tconn *c = testablish(lfd, OPEN4(64501, "10.0.0.9"), &o);
	bgp_open_free(&o);
	rx_read(c, &ebgp_opts, &r, 1, 0);
	rx_free(&r);
	bgp_speaker_last_work(sp, &wk);
	assert_true(wk.whole);

	/* A route more: one UPDATE with it, one route compared. */
	tp_route(&t, 0, "192.0.2.14/32", "65000:2", NULL);
	ch[0] = tchange(0, "192.0.2.14/32");
	bgp_speaker_update(sp, &t.plan, ch, 1);
	rx_read(c, &ebgp_opts, &r, 0, 0.3);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.u[0].nnlri, 1);
	assert_int_equal(r.u[0].nwithdrawn, 0);
	assert_non_null(rx_find(&r, "192.0.2.14/32"));
	rx_free(&r);
	bgp_speaker_last_work(sp, &wk);
	assert_false(wk.whole);
	assert_int_equal(wk.compared, 1);
	assert_int_equal(wk.partial_syncs, 1);

	/* A route less, and a route named that did not change: one
	 * withdrawal, two compared. */
	tp_del_route(&t, 0, 1);
	ch[0] = tchange(0, "192.0.2.11/32");
	ch[1] = tchange(0, "192.0.2.12/32");
	bgp_speaker_update(sp, &t.plan, ch, 2);
	rx_read(c, &ebgp_opts, &r, 0, 0.3);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.u[0].nnlri, 0);
	assert_int_equal(r.u[0].nwithdrawn, 1);
	assert_true(has_prefix(r.u[0].withdrawn, 1, "192.0.2.11/32"));
	rx_free(&r);
	bgp_speaker_last_work(sp, &wk);
	assert_int_equal(wk.compared, 2);

	/* Another set of the peer's table: announced again with it. */
	community_parse("65000:2", &t.c[0][0][0], NULL, 0);
	ch[0] = tchange(0, "192.0.2.10/32");
	bgp_speaker_update(sp, &t.plan, ch, 1);
	rx_read(c, &ebgp_opts, &r, 0, 0.3);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.u[0].nnlri, 1);
	assert_non_null(rx_find(&r, "192.0.2.10/32"));
	assert_int_equal(r.u[0].attrs.communities[0], 65000u << 16 | 2);
	rx_free(&r);
	bgp_speaker_last_work(sp, &wk);
	assert_false(wk.whole);
	assert_int_equal(wk.compared, 1);

	/* A set the table lacks: still right (the whole way round). */
	community_parse("65000:9", &t.c[0][2][0], NULL, 0);
	ch[0] = tchange(0, "192.0.2.13/32");
	bgp_speaker_update(sp, &t.plan, ch, 1);
	rx_read(c, &ebgp_opts, &r, 0, 0.3);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.u[0].nnlri, 1);
	assert_non_null(rx_find(&r, "192.0.2.13/32"));
	assert_int_equal(r.u[0].attrs.communities[0], 65000u << 16 | 9);
	rx_free(&r);

	/* Nothing named: nothing sent; a whole set finds nothing to send
	 * either (the Adj-RIB-Out is what the plan says). */
	bgp_speaker_update(sp, &t.plan, NULL, 0);
	bgp_speaker_set(sp, &t.plan);
	assert_int_equal(trecv_nk(c, &m, 0.3), 0);
	s = tstatus(sp, "r1");
	assert_int_equal(json_array_size(json_object_get(s, "routes")), 4);
	assert_string_equal(json_string_value(json_object_get(s, "state")), "Established");
	json_decref(s);

	/* Another session: sessions change, which is a whole set. */
	tp_session(&t, "r2", "127.0.0.1", (uint16_t)(port + 1), 64500, 64502);
	bgp_speaker_update(sp, &t.plan, NULL, 0);
	bgp_speaker_last_work(sp, &wk);
	assert_true(wk.whole);
	s = tstatus(sp, "r2");
	json_decref(s);

	bgp_speaker_free(sp);
	tconn_free(c);
	close(lfd);
}

static void test_parameter_change_resets_only_its_session(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct rx r = { 0 };
	struct tmsg m;
	uint16_t pa, pb;
	int la = tlisten(AF_INET, &pa, NULL), lb = tlisten(AF_INET6, &pb, NULL);

	tp_session(&t, "a", "127.0.0.1", pa, 64500, 64501);
	tp_session(&t, "b", "::1", pb, 64500, 64502);
	tp_route(&t, 0, "192.0.2.10/32", NULL, NULL);
	tp_route(&t, 1, "2001:db8::10/128", NULL, NULL);
	bgp_speaker_set(sp, &t.plan);
	struct tconn *ca = testablish(la, OPEN4(64501, "10.0.0.9"), &o);
	bgp_open_free(&o);
	struct tconn *cb = testablish(lb, OPEN6(64502, "10.0.0.8"), &o);
	bgp_open_free(&o);
	rx_read(ca, &ebgp_opts, &r, 1, 0);
	rx_free(&r);
	rx_read(cb, &ebgp_opts, &r, 1, 0);
	rx_free(&r);

	t.s[0].cfg.hold_time_s = 60;
	bgp_speaker_set(sp, &t.plan);
	/* RFC 4486: Other Configuration Change, then a new session with the
	 * new hold time. */
	texpect_notify(ca, BGP_ERR_CEASE, BGP_CEASE_CONFIG_CHANGE);
	assert_int_equal(trecv(ca, &m, WAIT), -1);
	tconn_free(ca);
	ca = testablish(la, OPEN4(64501, "10.0.0.9"), &o);
	assert_int_equal(o.hold_time, 60);
	bgp_open_free(&o);
	rx_read(ca, &ebgp_opts, &r, 1, 0);
	assert_int_equal(rx_nlri(&r), 1);
	rx_free(&r);
	twait_state(sp, "a", "Established");
	json_t *st = tstatus(sp, "a");
	assert_int_equal(json_integer_value(json_object_get(st, "hold_time")), 60);
	json_decref(st);

	/* b saw nothing and is still up on its first connection. */
	assert_int_equal(trecv_nk(cb, &m, 0.3), 0);
	assert_string_equal(tstate(sp, "b"), "Established");
	assert_int_equal(tcounter(sp, "b", "established"), 1);
	assert_int_equal(tcounter(sp, "b", "opens_sent"), 1);

	/* A removed peer gets Peer De-configured. */
	t.plan.nsessions = 1;
	bgp_speaker_set(sp, &t.plan);
	texpect_notify(cb, BGP_ERR_CEASE, BGP_CEASE_PEER_DECONFIGURED);
	assert_string_equal(tstate(sp, "a"), "Established");

	bgp_speaker_free(sp);
	tconn_free(ca);
	tconn_free(cb);
	close(la);
	close(lb);
}

static void test_malformed_update(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct rx r = { 0 };
	struct tmsg m;
	uint16_t pa, pb;
	int la = tlisten(AF_INET, &pa, NULL), lb = tlisten(AF_INET6, &pb, NULL);
	/* Total Path Attribute Length (16) beyond the message: RFC 7606 §4
	 * session reset, Malformed Attribute List. */
	static const uint8_t bad[] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0x00, 27, BGP_MSG_UPDATE, 0, 0, 0, 16, 0x40, 1, 1, 0,
	};
	/* A bad ORIGIN value: RFC 7606 §7.1 treat-as-withdraw, session kept. */
	static const uint8_t tolerable[] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0x00, 54, BGP_MSG_UPDATE, 0, 0, 0, 27,
		0x40, 1, 1, 9,                                  /* ORIGIN 9 */
		0x40, 2, 6, 2, 1, 0, 0, 0xfb, 0xf5,             /* AS_PATH 64501 */
		0x40, 3, 4, 127, 0, 0, 1,                       /* NEXT_HOP */
		0x80, 4, 4, 0, 0, 0, 0,                         /* MED */
		24, 203, 0, 113,                                /* 203.0.113.0/24 */
	};

	tp_session(&t, "a", "127.0.0.1", pa, 64500, 64501);
	tp_session(&t, "b", "::1", pb, 64500, 64502);
	bgp_speaker_set(sp, &t.plan);
	struct tconn *ca = testablish(la, OPEN4(64501, "10.0.0.9"), &o);
	bgp_open_free(&o);
	struct tconn *cb = testablish(lb, OPEN6(64502, "10.0.0.8"), &o);
	bgp_open_free(&o);
	rx_read(ca, &ebgp_opts, &r, 1, 0);
	rx_free(&r);
	rx_read(cb, &ebgp_opts, &r, 1, 0);
	rx_free(&r);

	tsend_raw(ca, tolerable, sizeof(tolerable));
	assert_int_equal(trecv_nk(ca, &m, 0.3), 0);
	assert_string_equal(tstate(sp, "a"), "Established");
	assert_int_equal(tcounter(sp, "a", "updates_received"), 1);

	tsend_raw(ca, bad, sizeof(bad));
	texpect_notify(ca, BGP_ERR_UPDATE, BGP_ERR_UPD_ATTR_LIST);
	assert_int_equal(trecv(ca, &m, WAIT), -1);
	assert_string_not_equal(tstate(sp, "a"), "Established");
	json_t *s = tstatus(sp, "a");
	assert_non_null(strstr(json_string_value(json_object_get(s, "last_error")),
			       "Malformed Attribute List"));
	json_decref(s);

	/* b is untouched and still answers. */
	tsend_keepalive(cb);
	pump_for(0.1);
	assert_string_equal(tstate(sp, "b"), "Established");
	assert_int_equal(tcounter(sp, "b", "keepalives_received"), 2);
	assert_int_equal(trecv_nk(cb, &m, 0.1), 0);

	/* A header error on b: Bad Message Type with the type as data. */
	uint8_t badtype[19];
	memset(badtype, 0xff, 16);
	badtype[16] = 0;
	badtype[17] = 19;
	badtype[18] = 9;
	tsend_raw(cb, badtype, sizeof(badtype));
	texpect_notify(cb, BGP_ERR_HEADER, BGP_ERR_HDR_BAD_TYPE);

	bgp_speaker_free(sp);
	tconn_free(ca);
	tconn_free(cb);
	close(la);
	close(lb);
}

static void test_open_errors(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct tmsg m;
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);

	tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501);
	bgp_speaker_set(sp, &t.plan);
	struct tconn *c = tconn_new(taccept(lfd, WAIT));
	texpect_open(c, &o);
	bgp_open_free(&o);
	/* RFC 4271 §6.2: an AS other than the configured one. */
	tsend_open(c, OPEN4(64999, "10.0.0.9"));
	texpect_notify(c, BGP_ERR_OPEN, BGP_ERR_OPEN_PEER_AS);
	assert_int_equal(trecv(c, &m, WAIT), -1);
	tconn_free(c);

	/* It comes back after the backoff (about a second); this time a
	 * KEEPALIVE before the OPEN is an FSM error in OpenSent (RFC 6608). */
	c = tconn_new(taccept(lfd, WAIT));
	texpect_open(c, &o);
	bgp_open_free(&o);
	tsend_keepalive(c);
	texpect_notify(c, BGP_ERR_FSM, BGP_ERR_FSM_OPENSENT);
	tconn_free(c);
	assert_true(tcounter(sp, "r1", "connect_retries") >= 2);

	bgp_speaker_free(sp);
	close(lfd);
}

static void test_dynamic_asn(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);
	struct bgp_session_cfg *cfg = tp_session(&t, "r1", "127.0.0.1", port, 64500, 0);

	cfg->dynamic_asn = DYNAMIC_ASN_EXTERNAL;
	cfg->ibgp = false;
	bgp_speaker_set(sp, &t.plan);
	struct tconn *c = tconn_new(taccept(lfd, WAIT));
	texpect_open(c, &o);
	bgp_open_free(&o);
	/* dynamicASN external: our own AS is refused... */
	tsend_open(c, OPEN4(64500, "10.0.0.9"));
	texpect_notify(c, BGP_ERR_OPEN, BGP_ERR_OPEN_PEER_AS);
	tconn_free(c);
	/* ...any other is taken. */
	c = testablish(lfd, OPEN4(4200000000u, "10.0.0.9"), &o);
	bgp_open_free(&o);
	twait_state(sp, "r1", "Established");
	json_t *s = tstatus(sp, "r1");
	assert_int_equal(json_integer_value(json_object_get(s, "peer_asn")), 4200000000u);
	json_decref(s);

	bgp_speaker_free(sp);
	tconn_free(c);
	close(lfd);
}

/* BGPPeer localASN (MetalLB has FRR say "local-as ASN no-prepend
 * replace-as"): this session's OPEN carries it instead of myASN, and so
 * does the AS_PATH of the routes sent on it. */
static void test_local_asn(void **state)
{
	struct tplan t = { 0 };
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);

	tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501)->local_asn = 64999;
	tp_route(&t, 0, "192.0.2.10/32", NULL, NULL);
	struct bgp_speaker *sp = tspeaker(NULL);
	bgp_speaker_set(sp, &t.plan);

	struct bgp_open o;
	struct tconn *c = testablish(lfd, OPEN4(64501, "10.0.0.9"), &o);
	assert_int_equal(o.asn, 64999);
	bgp_open_free(&o);
	struct rx r = { 0 };
	rx_read(c, &ebgp_opts, &r, 1, 0);
	const struct bgp_update *u = rx_find(&r, "192.0.2.10/32");
	assert_non_null(u);
	assert_int_equal(u->attrs.as_path.nasns, 1);
	assert_int_equal(u->attrs.as_path.asns[0], 64999);
	rx_free(&r);
	bgp_speaker_free(sp);
	tconn_free(c);
	close(lfd);
}

static void test_hold_timer_expires(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct tmsg m;
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);
	struct bgp_session_cfg *cfg = tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501);
	size_t keepalives = 0;
	double t0;
	int r;

	cfg->hold_time_s = 3;
	cfg->keepalive_time_s = 1;
	bgp_speaker_set(sp, &t.plan);
	struct tconn *c = testablish(
		lfd, &(struct topen){ .asn = 64501, .id = "10.0.0.9", .hold = 3, .v4 = true }, &o);
	t0 = ev_time();
	assert_int_equal(o.hold_time, 3);
	bgp_open_free(&o);
	/* Silence from here: the speaker keeps sending KEEPALIVEs every
	 * second, then gives up after 3 s (RFC 4271 §6.5). */
	for (;;) {
		r = trecv(c, &m, WAIT);
		assert_int_equal(r, 1);
		if (m.type == BGP_MSG_KEEPALIVE)
			keepalives++;
		if (m.type == BGP_MSG_NOTIFICATION)
			break;
	}
	struct bgp_notify n;
	assert_int_equal(bgp_notification_decode(BODY(&m), BODY_LEN(&m), &n), 0);
	assert_int_equal(n.code, BGP_ERR_HOLD_TIMER);
	assert_int_equal(n.subcode, 0);
	assert_true(ev_time() - t0 > 2.5);
	assert_true(ev_time() - t0 < 4.0);
	assert_true(keepalives >= 2);
	json_t *s = tstatus(sp, "r1");
	assert_string_equal(json_string_value(json_object_get(s, "last_error")),
			    "sent NOTIFICATION: Hold Timer Expired");
	json_decref(s);

	bgp_speaker_free(sp);
	tconn_free(c);
	close(lfd);
}

static void test_md5(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct rx r = { 0 };
	uint16_t pgood, pbad, pnone;
	int lgood = tlisten(AF_INET, &pgood, "s3cret");
	int lbad = tlisten(AF_INET6, &pbad, "other");
	int lnone = tlisten(AF_INET, &pnone, NULL);
	int closed;

	tp_session(&t, "good", "127.0.0.1", pgood, 64500, 64501)->password = "s3cret";
	tp_session(&t, "bad", "::1", pbad, 64500, 64502)->password = "s3cret";
	bgp_speaker_set(sp, &t.plan);

	/* Matching keys: up. */
	struct tconn *c = testablish(lgood, OPEN4(64501, "10.0.0.9"), &o);
	bgp_open_free(&o);
	rx_read(c, &ebgp_opts, &r, 1, 0);
	rx_free(&r);
	twait_state(sp, "good", "Established");
	tconn_free(c);

	/* Mismatching keys: the SYN never gets an answer (RFC 2385 §2.1). */
	assert_int_equal(taccept(lbad, 1.5), -1);
	assert_string_not_equal(tstate(sp, "bad"), "Established");

	/* The listening socket has the peer's key: a connection from the
	 * peer with it is accepted, one without it is not. */
	t.plan.nsessions = 0;
	bgp_speaker_set(sp, &t.plan);
	pump_for(0.05);
	tp_session(&t, "in", "127.0.0.1", 1, 64500, 64501)->password = "s3cret";
	bgp_speaker_set(sp, &t.plan);
	c = tconn_new(tconnect(AF_INET, bgp_speaker_listen_port(sp), "s3cret"));
	texpect_open(c, &o);
	bgp_open_free(&o);
	tsend_open(c, OPEN4(64501, "10.0.0.9"));
	tsend_keepalive(c);
	twait_state(sp, "in", "Established");
	tconn_free(c);
	{
		/* No key: the handshake itself fails, so connect() does not
		 * complete. */
		struct sockaddr_storage ss;
		socklen_t sl = loopback(AF_INET, bgp_speaker_listen_port(sp), &ss);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		assert_true(connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno == EINPROGRESS);
		closed = 0;
		for (int i = 0; i < 50 && !closed; i++) {
			pump(0.01);
			closed = poll(&pfd, 1, 0);
		}
		assert_int_equal(closed, 0);
		close(fd);
	}

	bgp_speaker_free(sp);
	close(lgood);
	close(lbad);
	close(lnone);
}

/* The speaker dials the scripted peer (c1) and the peer dials the speaker
 * (c2); the peer's identifier decides which connection survives. */
static void collision(bool peer_higher)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct tmsg m;
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);
	struct topen peer = {
		.asn = 64501, .id = peer_higher ? "10.0.0.200" : "9.0.0.1", .hold = 90, .v4 = true
	};
	char local[64];

	tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501);
	tp_route(&t, 0, "192.0.2.10/32", NULL, NULL);
	bgp_speaker_set(sp, &t.plan);
	struct tconn *c1 = tconn_new(taccept(lfd, WAIT));
	texpect_open(c1, &o);
	bgp_open_free(&o);
	struct tconn *c2 = tconn_new(tconnect(AF_INET, bgp_speaker_listen_port(sp), NULL));
	texpect_open(c2, &o);
	bgp_open_free(&o);
	tsend_open(c2, &peer);
	if (peer_higher) {
		/* Ours (c1) is closed; the peer's (c2) goes on. */
		texpect_notify(c1, BGP_ERR_CEASE, BGP_CEASE_COLLISION);
		texpect(c2, &m, BGP_MSG_KEEPALIVE);
		tsend_keepalive(c2);
		snprintf(local, sizeof(local), "127.0.0.1:%u", bgp_speaker_listen_port(sp));
	} else {
		/* The peer's (c2) is closed; ours (c1) goes on. */
		texpect_notify(c2, BGP_ERR_CEASE, BGP_CEASE_COLLISION);
		tsend_open(c1, &peer);
		texpect(c1, &m, BGP_MSG_KEEPALIVE);
		tsend_keepalive(c1);
		local[0] = '\0';
	}
	twait_state(sp, "r1", "Established");
	json_t *s = tstatus(sp, "r1");
	if (*local)
		assert_string_equal(json_string_value(json_object_get(s, "local")), local);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "counters"),
							    "established")), 1);
	json_decref(s);
	struct rx r = { 0 };
	rx_read(peer_higher ? c2 : c1, &ebgp_opts, &r, 1, 0);
	assert_int_equal(rx_nlri(&r), 1);
	rx_free(&r);

	bgp_speaker_free(sp);
	tconn_free(c1);
	tconn_free(c2);
	close(lfd);
}

static void test_collision_peer_wins(void **state)
{
	collision(true);
}

static void test_collision_we_win(void **state)
{
	collision(false);
}

/* dualStackAddressFamily over an IPv6 session: IPv4 routes go in
 * MP_REACH_NLRI with an IPv6 next hop once both sides announce RFC 8950
 * extended next hop. */
static void test_ipv4_routes_over_ipv6_session(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct rx r = { 0 };
	uint16_t port;
	int lfd = tlisten(AF_INET6, &port, NULL);
	struct bgp_session_cfg *cfg = tp_session(&t, "r6", "::1", port, 64500, 64500);
	struct topen peer = { .asn = 64500, .id = "10.0.0.9", .hold = 90, .v4 = true,
			      .v6 = true, .ext_nh = true };

	(void)state;
	cfg->dual_stack_address_family = true;
	tp_route(&t, 0, "192.0.2.10/32", NULL, NULL);
	tp_route(&t, 0, "2001:db8::10/128", NULL, NULL);
	bgp_speaker_set(sp, &t.plan);
	struct tconn *c = testablish(lfd, &peer, &o);
	/* Our OPEN offers both families and IPv4 with an IPv6 next hop. */
	assert_int_equal(o.caps.nmp, 2);
	assert_int_equal(o.caps.next_nh, 1);
	assert_int_equal(o.caps.ext_nh[0].nlri_afi, BGP_AFI_IPV4);
	assert_int_equal(o.caps.ext_nh[0].nh_afi, BGP_AFI_IPV6);
	bgp_open_free(&o);

	struct bgp_msg_opts xopts = { .as4 = true, .ext_nh_ipv4 = true };
	rx_read(c, &xopts, &r, 2, 0);
	assert_int_equal(rx_nlri(&r), 2);
	const struct bgp_update *u = rx_find(&r, "192.0.2.10/32");
	assert_non_null(u);
	assert_true(u->has_mp_reach);
	assert_int_equal(u->mp_reach_afi, BGP_AFI_IPV4);
	assert_true(ip_is(&u->mp_next_hop, "::1"));
	u = rx_find(&r, "2001:db8::10/128");
	assert_non_null(u);
	assert_true(ip_is(&u->mp_next_hop, "::1"));
	json_t *st = tstatus(sp, "r6");
	assert_true(json_is_true(json_object_get(json_object_get(st, "capabilities"),
						 "extended_next_hop")));
	json_decref(st);
	rx_free(&r);
	bgp_speaker_free(sp);
	tconn_free(c);
	close(lfd);
}

static void test_graceful_restart(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct rx r = { 0 };
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);
	struct bgp_session_cfg *cfg = tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501);
	struct topen peer = { .asn = 64501, .id = "10.0.0.9", .hold = 90, .v4 = true, .gr = true };

	cfg->graceful_restart = true;
	cfg->dual_stack_address_family = true;
	tp_route(&t, 0, "192.0.2.10/32", NULL, NULL);
	tp_route(&t, 0, "2001:db8::10/128", NULL, NULL);
	bgp_speaker_set(sp, &t.plan);
	struct tconn *c = testablish(lfd, &peer, &o);
	/* RFC 4724 §3: restart time, R set on the first session of this
	 * process, F for every family the session carries. */
	assert_true(o.caps.gr);
	assert_true(o.caps.gr_restarting);
	assert_int_equal(o.caps.gr_time, 120);
	assert_int_equal(o.caps.ngr, 2);
	assert_int_equal(o.caps.gr_families[0].afi, BGP_AFI_IPV4);
	assert_true(o.caps.gr_families[0].forwarding);
	assert_int_equal(o.caps.gr_families[1].afi, BGP_AFI_IPV6);
	assert_true(o.caps.gr_families[1].forwarding);
	assert_int_equal(o.caps.nmp, 2);
	/* IPv4 transport: no extended next hop needed. */
	assert_int_equal(o.caps.next_nh, 0);
	bgp_open_free(&o);
	/* The peer speaks IPv4 only: the IPv6 route waits. */
	rx_read(c, &ebgp_opts, &r, 1, 0);
	assert_int_equal(rx_nlri(&r), 1);
	rx_free(&r);
	json_t *s = tstatus(sp, "r1");
	assert_true(json_is_true(json_object_get(json_object_get(s, "capabilities"),
						 "graceful_restart")));
	assert_false(json_is_true(json_object_get(json_array_get(json_object_get(s, "routes"), 1),
						  "announced")));
	json_decref(s);

	/* The peer resets the session: the next OPEN has R clear. */
	{
		struct wbuf w;
		struct bgp_notify n;

		bgp_notify_set(&n, BGP_ERR_CEASE, BGP_CEASE_ADMIN_RESET, NULL, 0);
		wbuf_init_dyn(&w, 32);
		bgp_notification_encode(&w, &n);
		tsend_w(c, &w);
	}
	tconn_free(c);
	peer.v6 = true;
	c = testablish(lfd, &peer, &o);
	assert_true(o.caps.gr);
	assert_false(o.caps.gr_restarting);
	bgp_open_free(&o);
	rx_read(c, &ebgp_opts, &r, 2, 0);
	assert_int_equal(rx_nlri(&r), 2);
	const struct bgp_update *u = rx_find(&r, "2001:db8::10/128");
	assert_non_null(u);
	/* An IPv6 route over an IPv4 session: the next hop is the global
	 * IPv6 address of the interface holding our end (lo: ::1). */
	assert_true(ip_is(&u->mp_next_hop, "::1"));
	rx_free(&r);

	/* stop(): closed without a NOTIFICATION, the peer keeps the routes
	 * (RFC 4724 §4.1). */
	bgp_speaker_stop(sp);
	texpect_close_silent(c);
	assert_string_equal(tstate(sp, "r1"), "Idle");
	bgp_speaker_free(sp);
	tconn_free(c);
	close(lfd);
}

static void test_route_refresh(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct rx r = { 0 };
	struct tmsg m;
	struct wbuf w;
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);

	tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501);
	tp_route(&t, 0, "192.0.2.10/32", "65000:1", NULL);
	tp_route(&t, 0, "192.0.2.11/32", NULL, NULL);
	bgp_speaker_set(sp, &t.plan);
	struct tconn *c = testablish(lfd, OPEN4(64501, "10.0.0.9"), &o);
	bgp_open_free(&o);
	rx_read(c, &ebgp_opts, &r, 1, 0);
	rx_free(&r);

	/* RFC 2918: the whole Adj-RIB-Out of IPv4 unicast again. */
	wbuf_init_dyn(&w, 32);
	bgp_route_refresh_encode(&w, &(struct bgp_route_refresh){ BGP_AFI_IPV4, 0, 1 });
	tsend_w(c, &w);
	rx_read(c, &ebgp_opts, &r, 0, 0.3);
	assert_int_equal(r.n, 2);
	/* Each with its own attributes again (one UPDATE per set). */
	const struct bgp_update *u10 = rx_find(&r, "192.0.2.10/32");
	const struct bgp_update *u11 = rx_find(&r, "192.0.2.11/32");
	assert_non_null(u10);
	assert_non_null(u11);
	assert_int_equal(u10->attrs.ncommunities, 1);
	assert_int_equal(u10->attrs.communities[0], 65000u << 16 | 1);
	assert_int_equal(u11->attrs.ncommunities, 0);
	rx_free(&r);
	/* A family we did not advertise is ignored (RFC 2918 §4). */
	wbuf_init_dyn(&w, 32);
	bgp_route_refresh_encode(&w, &(struct bgp_route_refresh){ BGP_AFI_IPV6, 0, 1 });
	tsend_w(c, &w);
	assert_int_equal(trecv_nk(c, &m, 0.3), 0);
	assert_int_equal(tcounter(sp, "r1", "route_refresh_received"), 2);

	bgp_speaker_free(sp);
	tconn_free(c);
	close(lfd);
}

static void test_unknown_address_refused(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct tmsg m;

	/* Only 127.0.0.1 is a peer; a connection from ::1 is closed at
	 * once. */
	tp_session(&t, "r1", "127.0.0.1", 1, 64500, 64501);
	bgp_speaker_set(sp, &t.plan);
	struct tconn *c = tconn_new(tconnect(AF_INET6, bgp_speaker_listen_port(sp), NULL));
	assert_int_equal(trecv(c, &m, WAIT), -1);
	tconn_free(c);
	assert_string_not_equal(tstate(sp, "r1"), "Established");
	bgp_speaker_free(sp);
}

/* Lines of the log file f holding `what`; *suppressed gets the sum of
 * their suppressed= values. */
static unsigned tlog_count(FILE *f, const char *what, unsigned long *suppressed)
{
	char line[1024];
	unsigned n = 0;

	fflush(f);
	rewind(f);
	*suppressed = 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, what))
			continue;
		n++;
		const char *p = strstr(line, "suppressed=");
		if (p)
			*suppressed += strtoul(p + 11, NULL, 10);
	}
	fseek(f, 0, SEEK_END);
	return n;
}

/* 500 connections from an address that is no peer's: a few lines each,
 * then one line with the count of the others, soon after. */
static void test_refused_logs_limited(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	FILE *f = tmpfile();
	unsigned long suppressed = 0;
	unsigned lines = 0;

	assert_non_null(f);
	log_set_output(f);
	log_set_level(LOG_WARN);
	tp_session(&t, "r1", "127.0.0.1", 1, 64500, 64501);
	bgp_speaker_set(sp, &t.plan);
	for (int i = 0; i < 500; i++) {
		close(tconnect(AF_INET6, bgp_speaker_listen_port(sp), NULL));
		if (i % 16 == 15)
			pump(0.001);
	}
	double end = ev_time() + 15;
	unsigned long sup = 0;
	while (ev_time() < end) {
		lines = tlog_count(f, "msg=\"bgp connection refused\"", &sup);
		tlog_count(f, "bgp connections refused, not logged one by one", &suppressed);
		if (lines + suppressed >= 500)
			break;
		pump(0.05);
	}
	log_set_output(stderr);
	log_set_level(getenv("IRONLB_TEST_VERBOSE") ? LOG_DEBUG
						      : (enum log_level)(LOG_ERROR + 1));
	fclose(f);
	bgp_speaker_free(sp);
	if (lines + suppressed != 500 || lines > 20 || suppressed == 0)
		fail_msg("%u refusals logged and %lu counted, want 500 with few lines", lines,
			 suppressed);
}

/* connectTime caps the delay between dial attempts: a peer that closes
 * every connection at once is dialled about once a second with
 * connectTime 1s, where the backoff alone would be at 4 s by then. */
static void test_connect_time_caps_retry(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);
	struct bgp_session_cfg *cfg = tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501);
	unsigned attempts = 0;

	cfg->connect_time_s = 1;
	cfg->has_connect_time = true;
	bgp_speaker_set(sp, &t.plan);
	double end = ev_time() + 6.0;
	while (ev_time() < end) {
		int fd = taccept(lfd, end - ev_time());
		if (fd < 0)
			break;
		attempts++;
		close(fd);
	}
	close(lfd);
	bgp_speaker_free(sp);
	/* Backoff alone: attempts at 0, <=1, <=3, <=7 s: 4 at most in 6 s. */
	if (attempts < 6)
		fail_msg("%u dial attempts in 6 s with connectTime 1s", attempts);
}

/* RFC 5882 §4.3 coupling: BFD Down tears the session down at once with
 * Cease / BFD Down (RFC 9384) and keeps it Idle (no dial, the peer's
 * connection refused) until BFD is Up again, when it dials again. */
static void test_bfd_hold(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	struct bgp_open o;
	struct tmsg m;
	struct bgp_notify n;
	uint16_t port;
	int lfd = tlisten(AF_INET, &port, NULL);
	int r;

	tp_session(&t, "r1", "127.0.0.1", port, 64500, 64501);
	bgp_speaker_set(sp, &t.plan);
	assert_int_equal(bgp_speaker_bfd_hold(sp, "nope", true, NULL), -1);
	struct tconn *c = testablish(
		lfd, &(struct topen){ .asn = 64501, .id = "10.0.0.9", .hold = 90, .v4 = true }, &o);
	bgp_open_free(&o);
	assert_false(bgp_speaker_bfd_held(sp, "r1"));

	assert_int_equal(bgp_speaker_bfd_hold(sp, "r1", true, "test"), 0);
	assert_true(bgp_speaker_bfd_held(sp, "r1"));
	do {
		r = trecv(c, &m, WAIT);
		assert_int_equal(r, 1);
	} while (m.type != BGP_MSG_NOTIFICATION);
	assert_int_equal(bgp_notification_decode(BODY(&m), BODY_LEN(&m), &n), 0);
	assert_int_equal(n.code, BGP_ERR_CEASE);
	assert_int_equal(n.subcode, BGP_CEASE_BFD_DOWN);
	tconn_free(c);
	assert_string_equal(tstate(sp, "r1"), "Idle");
	json_t *s = tstatus(sp, "r1");
	assert_true(json_is_true(json_object_get(s, "bfd_held")));
	json_decref(s);

	/* Held: no dial within three connect retries' worth of time... */
	assert_int_equal(taccept(lfd, 1.5), -1);
	/* ...and a connection from the peer is closed at once. */
	c = tconn_new(tconnect(AF_INET, bgp_speaker_listen_port(sp), NULL));
	assert_int_equal(trecv(c, &m, WAIT), -1);
	tconn_free(c);
	/* A plan change that keeps the session keeps the hold. */
	bgp_speaker_set(sp, &t.plan);
	assert_true(bgp_speaker_bfd_held(sp, "r1"));

	/* BFD Up: the speaker dials again and the session comes up. */
	assert_int_equal(bgp_speaker_bfd_hold(sp, "r1", false, "test"), 0);
	c = testablish(lfd, &(struct topen){ .asn = 64501, .id = "10.0.0.9", .hold = 90,
					     .v4 = true }, &o);
	bgp_open_free(&o);
	assert_false(bgp_speaker_bfd_held(sp, "r1"));
	tconn_free(c);
	bgp_speaker_free(sp);
	close(lfd);
}

/* RFC 5082 detection: the TTL of saved SYN headers, from raw bytes. */
static void test_syn_ttl(void **state)
{
	static const uint8_t v4[] = { 0x45, 0, 0, 60, 0, 0, 0x40, 0, 255, 6, 0, 0,
				      127, 0, 0, 1, 127, 0, 0, 1 };
	static const uint8_t v4_opts[24] = { 0x46, [8] = 64, [9] = 6 };
	static const uint8_t v4_udp[20] = { 0x45, [8] = 255, [9] = 17 };
	static const uint8_t v4_short_ihl[20] = { 0x44, [8] = 255, [9] = 6 };
	static const uint8_t v4_ihl_past_end[20] = { 0x46, [8] = 255, [9] = 6 };
	static const uint8_t v6[40] = { 0x60, [6] = 6, [7] = 255 };
	static const uint8_t v5[40] = { 0x50, [7] = 255 };
	static const struct {
		const uint8_t *p;
		size_t len;
		int want;
	} t[] = {
		{ v4, sizeof(v4), 255 },
		{ v4_opts, sizeof(v4_opts), 64 },
		{ v4, 19, -1 },                      /* shorter than IHL says */
		{ v4, 9, -1 },
		{ v4_udp, sizeof(v4_udp), -1 },      /* not TCP */
		{ v4_short_ihl, sizeof(v4_short_ihl), -1 },   /* RFC 791: IHL >= 5 */
		{ v4_ihl_past_end, sizeof(v4_ihl_past_end), -1 },
		{ v6, sizeof(v6), 255 },
		{ v6, 39, -1 },                      /* RFC 8200: 40-byte header */
		{ v6, 8, -1 },
		{ v5, sizeof(v5), -1 },
		{ v4, 0, -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (bgp_session_syn_ttl(t[i].p, t[i].len) != t[i].want)
			fail_msg("case %zu: %d, want %d", i, bgp_session_syn_ttl(t[i].p, t[i].len),
				 t[i].want);
}

/* The scripted peer dials the speaker and brings the session up; the
 * speaker's end of that connection. */
static int tgtsm_up(struct bgp_speaker *sp, struct tconn *c, const char *name, uint32_t asn,
		    bool v4)
{
	struct bgp_open o;

	texpect_open(c, &o);
	bgp_open_free(&o);
	tsend_open(c, v4 ? OPEN4(asn, "10.0.0.9") : OPEN6(asn, "10.0.0.9"));
	tsend_keepalive(c);
	twait_state(sp, name, "Established");
	return tother_end(c->fd);
}

static bool tgtsm_status(struct bgp_speaker *sp, const char *name)
{
	json_t *s = tstatus(sp, name);
	json_t *g = json_object_get(s, "gtsm");
	bool v;

	assert_true(json_is_boolean(g));
	v = json_is_true(g);
	json_decref(s);
	return v;
}

/* RFC 5082: a single-hop eBGP peer whose SYN comes with TTL 255 uses
 * GTSM; the speaker answers with TTL 255 and accepts only 255 (§3:
 * 255 - hops + 1, one hop).  One
 * with the default TTL keeps the classic TTL 1 and no minimum. */
static void test_gtsm_detected(void **state)
{
	struct bgp_speaker *sp = tspeaker(NULL);
	struct tplan t = { 0 };
	uint16_t lport = bgp_speaker_listen_port(sp);
	struct tconn *c;
	int fd;

	(void)state;
	/* Port 1: the speaker's own dialling is refused; the peer dials. */
	tp_session(&t, "r4", "127.0.0.1", 1, 64500, 64501);
	tp_session(&t, "r6", "::1", 1, 64500, 64502);
	bgp_speaker_set(sp, &t.plan);
	assert_false(tgtsm_status(sp, "r4"));

	c = tconn_new(tconnect_ttl(AF_INET, lport, 255));
	fd = tgtsm_up(sp, c, "r4", 64501, true);
	assert_int_equal(tsockopt_ttl(fd, true, true), 255);
	assert_int_equal(tsockopt_ttl(fd, true, false), 255);
	assert_true(tgtsm_status(sp, "r4"));
	tconn_free(c);

	c = tconn_new(tconnect_ttl(AF_INET6, lport, 255));
	fd = tgtsm_up(sp, c, "r6", 64502, false);
	assert_int_equal(tsockopt_ttl(fd, false, true), 255);
	assert_int_equal(tsockopt_ttl(fd, false, false), 255);
	assert_true(tgtsm_status(sp, "r6"));
	tconn_free(c);

	/* The peer of r4 comes back with the default TTL (64): no GTSM. */
	c = tconn_new(tconnect(AF_INET, lport, NULL));
	fd = tgtsm_up(sp, c, "r4", 64501, true);
	assert_int_equal(tsockopt_ttl(fd, true, true), 0);
	assert_int_equal(tsockopt_ttl(fd, true, false), 1);
	assert_false(tgtsm_status(sp, "r4"));
	tconn_free(c);

	bgp_speaker_free(sp);
}

/* Two speakers of this project, each dialling the other over IPv4 and
 * IPv6 (every pair collides, and the identifiers sort it out). */
static void test_two_speakers(void **state)
{
	struct bgp_speaker *s1 = tspeaker(NULL), *s2 = tspeaker(NULL);
	struct tplan p1 = { 0 }, p2 = { 0 };
	uint16_t l1 = bgp_speaker_listen_port(s1), l2 = bgp_speaker_listen_port(s2);
	double end;

	tp_session(&p1, "v4", "127.0.0.1", l2, 64500, 64501);
	tp_session(&p1, "v6", "::1", l2, 64500, 64501);
	tp_session(&p2, "v4", "127.0.0.1", l1, 64501, 64500);
	tp_session(&p2, "v6", "::1", l1, 64501, 64500);
	for (int i = 0; i < 2; i++) {
		p2.s[i].cfg.router_id = A("10.0.0.2");
		p1.s[i].cfg.connect_time_s = 1;
	}
	tp_route(&p1, 0, "192.0.2.10/32", "65000:1", NULL);
	tp_route(&p1, 1, "2001:db8::10/128", NULL, NULL);
	tp_route(&p2, 0, "198.51.100.1/32", NULL, NULL);
	bgp_speaker_set(s1, &p1.plan);
	bgp_speaker_set(s2, &p2.plan);
	end = ev_time() + 15;
	for (;;) {
		bool up = true;
		const char *names[] = { "v4", "v6" };

		for (int i = 0; i < 2; i++)
			up = up && strcmp(tstate(s1, names[i]), "Established") == 0 &&
			     strcmp(tstate(s2, names[i]), "Established") == 0;
		if (up)
			break;
		if (ev_time() > end)
			fail_msg("s1 v4 %s v6 %s, s2 v4 %s v6 %s", tstate(s1, "v4"),
				 tstate(s1, "v6"), tstate(s2, "v4"), tstate(s2, "v6"));
		pump(0.01);
	}
	pump_for(0.1);
	/* Routes and End-of-RIB arrived. */
	assert_int_equal(tcounter(s2, "v4", "updates_received"), 2);
	assert_int_equal(tcounter(s2, "v6", "updates_received"), 2);
	assert_int_equal(tcounter(s1, "v4", "updates_received"), 2);

	/* One more route on s1: one more UPDATE at s2, nothing else. */
	tp_route(&p1, 0, "192.0.2.11/32", "65000:1", NULL);
	bgp_speaker_set(s1, &p1.plan);
	pump_for(0.2);
	assert_int_equal(tcounter(s2, "v4", "updates_received"), 3);
	assert_int_equal(tcounter(s2, "v4", "established"), 1);
	assert_int_equal(tcounter(s1, "v4", "established"), 1);

	bgp_speaker_free(s1);
	pump_for(0.2);
	assert_string_not_equal(tstate(s2, "v4"), "Established");
	bgp_speaker_free(s2);
}

static int setup(void **state)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	if (!getenv("IRONLB_TEST_VERBOSE"))
		log_set_level((enum log_level)(LOG_ERROR + 1));
	else
		log_set_level(LOG_DEBUG);
	return loop ? 0 : -1;
}

static int teardown(void **state)
{
	ev_loop_destroy(loop);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_ebgp_routes),
		cmocka_unit_test(test_ipv6_ibgp_routes),
		cmocka_unit_test(test_set_sends_only_the_difference),
		cmocka_unit_test(test_update_compares_only_the_changes),
		cmocka_unit_test(test_parameter_change_resets_only_its_session),
		cmocka_unit_test(test_malformed_update),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_dynamic_asn),
		cmocka_unit_test(test_local_asn),
		cmocka_unit_test(test_hold_timer_expires),
		cmocka_unit_test(test_md5),
		cmocka_unit_test(test_collision_peer_wins),
		cmocka_unit_test(test_collision_we_win),
		cmocka_unit_test(test_graceful_restart),
		cmocka_unit_test(test_ipv4_routes_over_ipv6_session),
		cmocka_unit_test(test_route_refresh),
		cmocka_unit_test(test_unknown_address_refused),
		cmocka_unit_test(test_refused_logs_limited),
		cmocka_unit_test(test_connect_time_caps_retry),
		cmocka_unit_test(test_bfd_hold),
		cmocka_unit_test(test_syn_ttl),
		cmocka_unit_test(test_gtsm_detected),
		cmocka_unit_test(test_two_speakers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
