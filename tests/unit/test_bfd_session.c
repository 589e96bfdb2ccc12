/*
 * Tests for BFD sessions over real UDP on loopback, without privileges
 * (bfd/bfd.h): two struct bfd instances, each on its own libev loop, with
 * crossed unprivileged ports, and a scripted peer socket for the wire
 * details.  Every wait polls with a deadline.
 *
 * Covered: both ends come Up (IPv4 and IPv6) with the negotiated
 * intervals; AdminDown from bfd_stop() takes the other end Down with
 * diag 3 and tells the listener it was the peer's AdminDown; a frozen
 * end (its loop not run) is detected within the detection time with
 * diag 1; passive mode sends nothing until the peer speaks; a profile
 * change on a live session is a Poll Sequence without a flap; metrics;
 * the first packets: TTL 255, source port 49152-65535, slow rate of
 * 1 s with jitter while Down, Desired Min TX 1 s, Your Discriminator 0;
 * the answer to a Poll is a Final; packets with a TTL below 255 are
 * dropped on single hop, and multihop packets below minimumTtl; echo
 * asked for where it cannot run leaves the session Up and says why.
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
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "bfd/bfd.h"

#define WAIT 5.0

struct end {
	struct ev_loop *loop;
	struct bfd *b;
	struct metrics_registry *reg;
	struct bfd_opts opts;
	bool frozen;
	/* listener record */
	int changes;
	enum bfd_state last_from, last_to;
	enum bfd_diag last_diag;
	bool last_peer_admin_down;
	double last_change_at;
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t free_udp_port(int af)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = af == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(af, SOCK_DGRAM, 0);
	uint16_t port;

	ss.ss_family = (sa_family_t)af;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	port = ntohs(af == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				   : ((struct sockaddr_in6 *)&ss)->sin6_port);
	close(fd);
	return port;
}

static void on_change(void *arg, const char *name, enum bfd_state from, enum bfd_state to,
		      enum bfd_diag diag, bool peer_admin_down)
{
	struct end *e = arg;

	(void)name;
	e->changes++;
	e->last_from = from;
	e->last_to = to;
	e->last_diag = diag;
	e->last_peer_admin_down = peer_admin_down;
	e->last_change_at = mono();
}

static void end_init(struct end *e, uint16_t port, uint16_t peer_port)
{
	memset(e, 0, sizeof(*e));
	e->loop = ev_loop_new(EVFLAG_AUTO);
	e->reg = metrics_registry_new();
	e->opts.node_name = "test";
	e->opts.port_single = port;
	e->opts.peer_port_single = peer_port;
	e->opts.port_multi = port;
	e->opts.peer_port_multi = peer_port;
	e->opts.port_echo = free_udp_port(AF_INET);
	e->b = bfd_new(e->loop, e->reg, &e->opts);
	bfd_set_listener(e->b, on_change, e);
}

static void end_fini(struct end *e)
{
	bfd_free(e->b);
	metrics_registry_free(e->reg);
	ev_loop_destroy(e->loop);
}

/* Run both loops (the unfrozen ones) for a moment. */
static void pump(struct end *a, struct end *b)
{
	struct end *ends[] = { a, b };

	for (int i = 0; i < 2; i++) {
		if (!ends[i] || ends[i]->frozen)
			continue;
		ev_now_update(ends[i]->loop);
		ev_run(ends[i]->loop, EVRUN_NOWAIT);
	}
	poll(NULL, 0, 1);
}

typedef bool (*cond_fn)(void *arg);

static bool wait_for(struct end *a, struct end *b, cond_fn fn, void *arg, double secs)
{
	double until = mono() + secs;

	while (mono() < until) {
		pump(a, b);
		if (fn(arg))
			return true;
	}
	return fn(arg);
}

struct state_want {
	struct end *e;
	const char *name;
	enum bfd_state want;
};

static bool state_is(void *arg)
{
	struct state_want *w = arg;

	return bfd_state_of(w->e->b, w->name) == w->want;
}

static bool both_up(struct end *a, struct end *b, double secs)
{
	struct state_want wa = { a, "a-to-b", BFD_STATE_UP }, wb = { b, "b-to-a", BFD_STATE_UP };
	double until = mono() + secs;

	while (mono() < until) {
		pump(a, b);
		if (state_is(&wa) && state_is(&wb))
			return true;
	}
	return false;
}

static struct bfd_session_cfg cfg(const char *name, const char *peer, uint32_t tx, uint32_t rx,
				  uint32_t mult)
{
	struct bfd_session_cfg c = { 0 };
	char why[128];

	c.name = (char *)name;
	c.profile = (char *)"fast";
	assert_int_equal(ip_parse(peer, &c.peer, why, sizeof(why)), 0);
	c.tx_interval_ms = tx;
	c.rx_interval_ms = rx;
	c.detect_mult = mult;
	return c;
}

static json_t *status_of(struct end *e, const char *name)
{
	json_t *arr = bfd_status_json(e->b), *v;
	size_t i;

	assert_non_null(arr);
	json_array_foreach(arr, i, v) {
		if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0) {
			json_incref(v);
			json_decref(arr);
			return v;
		}
	}
	json_decref(arr);
	return NULL;
}

static long long status_int(struct end *e, const char *name, const char *key)
{
	json_t *s = status_of(e, name);
	long long v;

	assert_non_null(s);
	v = json_integer_value(json_object_get(s, key));
	json_decref(s);
	return v;
}

static double metric(struct end *e, const char *fam, const char *peer)
{
	const char *labels[] = { peer, "default" };
	double v = -1;

	metrics_get(metrics_family_find(e->reg, fam), labels, &v);
	return v;
}

/* Two ends on loopback addresses of family af, peering with each other. */
static void pair(struct end *a, struct end *b, int af, uint32_t tx, uint32_t rx, uint32_t mult)
{
	uint16_t pa = free_udp_port(af), pb = free_udp_port(af);
	const char *addr = af == AF_INET ? "127.0.0.1" : "::1";
	struct bfd_session_cfg ca = cfg("a-to-b", addr, tx, rx, mult);
	struct bfd_session_cfg cb = cfg("b-to-a", addr, tx, rx, mult);

	end_init(a, pa, pb);
	end_init(b, pb, pa);
	assert_int_equal(bfd_set(a->b, &ca, 1), 0);
	assert_int_equal(bfd_set(b->b, &cb, 1), 0);
}

static bool have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&s, sizeof(s)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* ------------------------------------------------------------------ */

static void test_up_and_admin_down(void **state)
{
	struct end a, b;

	(void)state;
	pair(&a, &b, AF_INET, 50, 100, 3);
	assert_int_equal(bfd_state_of(a.b, "a-to-b"), BFD_STATE_DOWN);
	assert_int_equal(bfd_state_of(a.b, "nothing"), BFD_STATE_NONE);
	assert_true(both_up(&a, &b, WAIT));
	assert_int_equal(a.last_to, BFD_STATE_UP);
	/* tx = max(our 50, peer's required 100); detection = 3 x max(our
	 * 100, peer's 50). */
	json_t *s;
	double until = mono() + WAIT;
	while (mono() < until && (status_int(&a, "a-to-b", "txIntervalMs") != 100 ||
				  status_int(&a, "a-to-b", "detectionTimeMs") != 300))
		pump(&a, &b);
	assert_int_equal(status_int(&a, "a-to-b", "txIntervalMs"), 100);
	assert_int_equal(status_int(&a, "a-to-b", "detectionTimeMs"), 300);
	assert_int_equal(status_int(&a, "a-to-b", "upEvents"), 1);
	assert_true(status_int(&a, "a-to-b", "controlIn") > 0);
	assert_true(metric(&a, "metallb_bfd_session_up", "127.0.0.1") == 1);
	assert_true(metric(&a, "metallb_bfd_control_packet_input", "127.0.0.1") > 0);
	assert_true(metric(&a, "metallb_bfd_control_packet_output", "127.0.0.1") > 0);
	assert_true(metric(&a, "metallb_bfd_session_up_events", "127.0.0.1") == 1);
	assert_true(metric(&a, "metallb_bfd_session_down_events", "127.0.0.1") == 0);
	assert_true(metric(&a, "metallb_bfd_echo_packet_input", "127.0.0.1") == 0);
	assert_true(metric(&a, "metallb_bfd_echo_packet_output", "127.0.0.1") == 0);
	s = status_of(&a, "a-to-b");
	assert_string_equal(json_string_value(json_object_get(s, "local")), "127.0.0.1");
	assert_string_equal(json_string_value(json_object_get(s, "remoteState")), "Up");
	json_decref(s);

	/* b stops: a hears AdminDown and goes Down, diag 3, flagged as the
	 * peer's AdminDown (RFC 5882 §3.2). */
	bfd_stop(b.b);
	assert_int_equal(bfd_state_of(b.b, "b-to-a"), BFD_STATE_ADMIN_DOWN);
	struct state_want wd = { &a, "a-to-b", BFD_STATE_DOWN };
	assert_true(wait_for(&a, &b, state_is, &wd, WAIT));
	assert_int_equal(a.last_diag, BFD_DIAG_NEIGHBOR_DOWN);
	assert_true(a.last_peer_admin_down);
	assert_int_equal(b.last_to, BFD_STATE_ADMIN_DOWN);
	assert_int_equal(b.last_diag, BFD_DIAG_ADMIN_DOWN);
	assert_true(metric(&a, "metallb_bfd_session_up", "127.0.0.1") == 0);
	assert_true(metric(&a, "metallb_bfd_session_down_events", "127.0.0.1") == 1);
	s = status_of(&a, "a-to-b");
	assert_string_equal(json_string_value(json_object_get(s, "remoteState")), "AdminDown");
	assert_string_equal(json_string_value(json_object_get(s, "lastDownReason")),
			    "Neighbor Signaled Session Down");
	json_decref(s);
	/* a stays Down while b is AdminDown (not Init). */
	until = mono() + 0.3;
	while (mono() < until)
		pump(&a, &b);
	assert_int_equal(bfd_state_of(a.b, "a-to-b"), BFD_STATE_DOWN);
	end_fini(&a);
	end_fini(&b);
}

static void test_frozen_peer_detected(void **state)
{
	struct end a, b;

	(void)state;
	pair(&a, &b, AF_INET, 50, 50, 3);
	assert_true(both_up(&a, &b, WAIT));
	/* Let the Poll Sequence of coming Up finish so the detection time
	 * is the negotiated 150 ms. */
	double until = mono() + WAIT;
	while (mono() < until && status_int(&a, "a-to-b", "detectionTimeMs") != 150)
		pump(&a, &b);
	assert_int_equal(status_int(&a, "a-to-b", "detectionTimeMs"), 150);
	long long ups = status_int(&a, "a-to-b", "upEvents");
	b.frozen = true;
	double t0 = mono();
	struct state_want wd = { &a, "a-to-b", BFD_STATE_DOWN };
	assert_true(wait_for(&a, NULL, state_is, &wd, WAIT));
	double took = a.last_change_at - t0;
	/* Within the detection time (150 ms) plus scheduling slack. */
	assert_true(took <= 0.150 + 0.100);
	assert_int_equal(a.last_diag, BFD_DIAG_TIME_EXPIRED);
	assert_false(a.last_peer_admin_down);
	json_t *s = status_of(&a, "a-to-b");
	assert_string_equal(json_string_value(json_object_get(s, "lastDownReason")),
			    "Control Detection Time Expired");
	assert_string_equal(json_string_value(json_object_get(s, "localDiag")),
			    "Control Detection Time Expired");
	json_decref(s);
	/* Thawed, the two come Up again. */
	b.frozen = false;
	assert_true(both_up(&a, &b, WAIT));
	assert_int_equal(status_int(&a, "a-to-b", "upEvents"), ups + 1);
	end_fini(&a);
	end_fini(&b);
}

static void test_ipv6(void **state)
{
	struct end a, b;

	(void)state;
	if (!have_ipv6()) {
		skip();
		return;
	}
	pair(&a, &b, AF_INET6, 50, 50, 3);
	assert_true(both_up(&a, &b, WAIT));
	assert_true(metric(&a, "metallb_bfd_session_up", "::1") == 1);
	end_fini(&a);
	end_fini(&b);
}

static void test_passive(void **state)
{
	struct end a, b;
	uint16_t pa = free_udp_port(AF_INET), pb = free_udp_port(AF_INET);
	struct bfd_session_cfg ca = cfg("a-to-b", "127.0.0.1", 100, 100, 3);
	struct bfd_session_cfg cb = cfg("b-to-a", "127.0.0.1", 100, 100, 3);

	(void)state;
	ca.passive_mode = cb.passive_mode = true;
	end_init(&a, pa, pb);
	end_init(&b, pb, pa);
	assert_int_equal(bfd_set(a.b, &ca, 1), 0);
	assert_int_equal(bfd_set(b.b, &cb, 1), 0);
	/* Both passive: nobody speaks (§6.1), over more than one slow
	 * interval. */
	double until = mono() + 1.2;
	while (mono() < until)
		pump(&a, &b);
	assert_int_equal(status_int(&a, "a-to-b", "controlOut"), 0);
	assert_int_equal(status_int(&b, "b-to-a", "controlOut"), 0);
	assert_int_equal(bfd_state_of(a.b, "a-to-b"), BFD_STATE_DOWN);
	json_t *s = status_of(&a, "a-to-b");
	assert_true(json_is_true(json_object_get(s, "passive")));
	json_decref(s);
	/* b turns active: a answers, both come Up, no restart of a. */
	cb.passive_mode = false;
	assert_int_equal(bfd_set(b.b, &cb, 1), 0);
	assert_true(both_up(&a, &b, WAIT));
	end_fini(&a);
	end_fini(&b);
}

static void test_profile_change_polls_without_flap(void **state)
{
	struct end a, b;
	struct bfd_session_cfg ca = cfg("a-to-b", "127.0.0.1", 100, 100, 3);

	(void)state;
	pair(&a, &b, AF_INET, 100, 100, 3);
	assert_true(both_up(&a, &b, WAIT));
	uint32_t disc = (uint32_t)status_int(&a, "a-to-b", "localDiscriminator");
	/* a now transmits every 200 ms and wants packets every 300 ms. */
	ca.tx_interval_ms = 200;
	ca.rx_interval_ms = 300;
	assert_int_equal(bfd_set(a.b, &ca, 1), 0);
	double until = mono() + WAIT;
	while (mono() < until && (status_int(&b, "b-to-a", "txIntervalMs") != 300 ||
				  status_int(&a, "a-to-b", "txIntervalMs") != 200 ||
				  status_int(&b, "b-to-a", "detectionTimeMs") != 600))
		pump(&a, &b);
	/* b: tx = max(100, a's 300); detection = 3 x max(100, a's 200). */
	assert_int_equal(status_int(&b, "b-to-a", "txIntervalMs"), 300);
	assert_int_equal(status_int(&b, "b-to-a", "detectionTimeMs"), 600);
	assert_int_equal(status_int(&a, "a-to-b", "txIntervalMs"), 200);
	/* a: detection = 3 x max(300, b's 100). */
	until = mono() + WAIT;
	while (mono() < until && status_int(&a, "a-to-b", "detectionTimeMs") != 900)
		pump(&a, &b);
	assert_int_equal(status_int(&a, "a-to-b", "detectionTimeMs"), 900);
	json_t *s = status_of(&a, "a-to-b");
	assert_false(json_is_true(json_object_get(s, "pollActive")));
	json_decref(s);
	/* No flap, same session. */
	assert_int_equal(status_int(&a, "a-to-b", "downEvents"), 0);
	assert_int_equal(status_int(&b, "b-to-a", "downEvents"), 0);
	assert_int_equal(status_int(&a, "a-to-b", "upEvents"), 1);
	assert_int_equal(status_int(&a, "a-to-b", "localDiscriminator"), disc);
	assert_int_equal(bfd_state_of(a.b, "a-to-b"), BFD_STATE_UP);
	/* Two changes in a row: the second waits for the first's Poll
	 * Sequence and gets its own; the last one holds, still no flap. */
	ca.tx_interval_ms = 300;
	ca.rx_interval_ms = 100;
	assert_int_equal(bfd_set(a.b, &ca, 1), 0);
	ca.tx_interval_ms = 100;
	assert_int_equal(bfd_set(a.b, &ca, 1), 0);
	until = mono() + WAIT;
	while (mono() < until && (status_int(&b, "b-to-a", "detectionTimeMs") != 300 ||
				  status_int(&a, "a-to-b", "detectionTimeMs") != 300 ||
				  status_int(&b, "b-to-a", "txIntervalMs") != 100))
		pump(&a, &b);
	assert_int_equal(status_int(&b, "b-to-a", "detectionTimeMs"), 300);
	assert_int_equal(status_int(&a, "a-to-b", "detectionTimeMs"), 300);
	assert_int_equal(status_int(&b, "b-to-a", "txIntervalMs"), 100);
	assert_int_equal(status_int(&a, "a-to-b", "downEvents"), 0);
	assert_int_equal(status_int(&b, "b-to-a", "downEvents"), 0);
	/* Removing the session sends AdminDown: b goes Down; a's listener
	 * is not told about a session it removed. */
	int changes = a.changes;
	assert_int_equal(bfd_set(a.b, NULL, 0), 0);
	assert_int_equal(a.changes, changes);
	assert_int_equal(bfd_state_of(a.b, "a-to-b"), BFD_STATE_NONE);
	struct state_want wd = { &b, "b-to-a", BFD_STATE_DOWN };
	assert_true(wait_for(&a, &b, state_is, &wd, WAIT));
	assert_true(b.last_peer_admin_down);
	/* Its metrics are gone. */
	assert_true(metric(&a, "metallb_bfd_session_up", "127.0.0.1") == -1);
	end_fini(&a);
	end_fini(&b);
}

static void test_set_refuses_duplicates(void **state)
{
	struct end a;
	struct bfd_session_cfg c[2] = { cfg("x", "127.0.0.1", 300, 300, 3),
					cfg("x", "127.0.0.2", 300, 300, 3) };

	(void)state;
	end_init(&a, free_udp_port(AF_INET), free_udp_port(AF_INET));
	assert_int_equal(bfd_set(a.b, c, 2), -1);
	assert_int_equal(bfd_state_of(a.b, "x"), BFD_STATE_NONE);
	c[1].name = (char *)"y";
	c[1].vrf = (char *)"blue";
	assert_int_equal(bfd_set(a.b, c, 2), 0);
	json_t *arr = bfd_status_json(a.b);
	assert_int_equal(json_array_size(arr), 2);
	json_decref(arr);
	/* Series labelled with peer and VRF ("default" for none), as
	 * MetalLB's FRR exporter does; a VRF device that does not exist
	 * leaves the session Down, not the daemon failing. */
	const char *l0[] = { "127.0.0.1", "default" }, *l1[] = { "127.0.0.2", "blue" };
	double v = -1;
	assert_int_equal(metrics_get(metrics_family_find(a.reg, "metallb_bfd_session_up"), l0, &v), 0);
	assert_true(v == 0);
	assert_int_equal(metrics_get(metrics_family_find(a.reg, "metallb_bfd_session_up"), l1, &v), 0);
	assert_int_equal(bfd_state_of(a.b, "y"), BFD_STATE_DOWN);
	/* Removing one session removes only its series. */
	assert_int_equal(bfd_set(a.b, c, 1), 0);
	assert_int_equal(metrics_get(metrics_family_find(a.reg, "metallb_bfd_session_up"), l0, &v), 0);
	assert_int_equal(metrics_get(metrics_family_find(a.reg, "metallb_bfd_session_up"), l1, &v), -1);
	/* Same configuration again (defaults given as 0 or spelled out): no
	 * change. */
	assert_false(bfd_session_cfg_differs(&c[0], &c[0]));
	assert_true(bfd_session_cfg_differs(&c[0], &c[1]));
	assert_false(bfd_session_cfg_same_identity(&c[0], &c[1]));
	end_fini(&a);
}

/* ------------------------------------------------------------------ */
/* the wire, seen from a scripted peer */

struct rx {
	uint8_t buf[64];
	ssize_t n;
	int ttl;
	uint16_t sport;
	double at;
};

static bool recv_one(struct end *e, int fd, struct rx *r, double secs)
{
	double until = mono() + secs;

	while (mono() < until) {
		struct sockaddr_in from;
		union {
			char c[128];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { r->buf, sizeof(r->buf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.c, .msg_controllen = sizeof(ctl.c) };
		pump(e, NULL);
		r->n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (r->n < 0)
			continue;
		r->at = mono();
		r->ttl = -1;
		r->sport = ntohs(from.sin_port);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL)
				memcpy(&r->ttl, CMSG_DATA(c), sizeof(int));
		return true;
	}
	return false;
}

static int peer_socket(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };

	s.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&s, sizeof(s)), 0);
	return fd;
}

static void send_to(int fd, uint16_t port, const struct bfd_pkt *p, int ttl)
{
	uint8_t buf[24];
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };

	s.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
	assert_int_equal(bfd_pkt_encode(p, buf, sizeof(buf)), 24);
	assert_int_equal(sendto(fd, buf, 24, 0, (struct sockaddr *)&s, sizeof(s)), 24);
}

static void test_wire_slow_rate_ttl_port(void **state)
{
	struct end a;
	uint16_t pa = free_udp_port(AF_INET), pb = free_udp_port(AF_INET);
	struct bfd_session_cfg ca = cfg("a-to-b", "127.0.0.1", 50, 70, 4);
	int fd = peer_socket(pb);
	struct rx r[4];
	struct bfd_pkt p;

	(void)state;
	end_init(&a, pa, pb);
	assert_int_equal(bfd_set(a.b, &ca, 1), 0);
	for (int i = 0; i < 4; i++)
		assert_true(recv_one(&a, fd, &r[i], 2.0));
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].n, 24);
		/* RFC 5881 §5 TTL 255, §4 one source port in 49152-65535. */
		assert_int_equal(r[i].ttl, 255);
		assert_true(r[i].sport >= 49152);
		assert_int_equal(r[i].sport, r[0].sport);
		assert_int_equal(bfd_pkt_decode(r[i].buf, 24, &p), BFD_PKT_OK);
		assert_int_equal(p.state, BFD_STATE_DOWN);
		assert_int_equal(p.your_disc, 0);
		assert_int_equal(p.detect_mult, 4);
		/* §6.8.3: 1 s while not Up; the receive interval as set. */
		assert_int_equal(p.desired_min_tx_us, 1000000);
		assert_int_equal(p.required_min_rx_us, 70000);
		assert_int_equal(p.required_min_echo_rx_us, 0);
		assert_false(p.poll || p.final || p.demand || p.auth || p.multipoint);
	}
	/* Slow rate with jitter: 0.75-1 s between packets (plus slack). */
	for (int i = 1; i < 4; i++) {
		double gap = r[i].at - r[i - 1].at;
		assert_true(gap >= 0.74 && gap <= 1.05);
	}

	/* A peer speaking with TTL 254 is not single hop: dropped.  (Its
	 * Detect Mult of 50 keeps the session from timing out while the
	 * test sends it a packet now and then.) */
	uint32_t mine = p.my_disc;
	struct bfd_pkt q = { .state = BFD_STATE_DOWN, .detect_mult = 50, .my_disc = 77,
			     .desired_min_tx_us = 50000, .required_min_rx_us = 50000 };
	send_to(fd, pa, &q, 254);
	double until = mono() + 0.3;
	while (mono() < until)
		pump(&a, NULL);
	assert_int_equal(status_int(&a, "a-to-b", "controlIn"), 0);
	assert_int_equal(status_int(&a, "a-to-b", "dropped"), 1);
	/* With TTL 255 it is taken: a goes Init. */
	send_to(fd, pa, &q, 255);
	struct state_want wi = { &a, "a-to-b", BFD_STATE_INIT };
	assert_true(wait_for(&a, NULL, state_is, &wi, WAIT));
	/* A Poll is answered with Final at once. */
	q.state = BFD_STATE_INIT;
	q.your_disc = mine;
	q.poll = true;
	send_to(fd, pa, &q, 255);
	bool final = false;
	until = mono() + 1.0;
	while (!final && mono() < until) {
		struct rx x;
		if (!recv_one(&a, fd, &x, 0.5))
			break;
		assert_int_equal(bfd_pkt_decode(x.buf, 24, &p), BFD_PKT_OK);
		if (p.final) {
			final = true;
			assert_false(p.poll);
			assert_int_equal(p.your_disc, 77);
			assert_true(x.at - r[3].at >= 0);
		}
	}
	assert_true(final);
	assert_int_equal(bfd_state_of(a.b, "a-to-b"), BFD_STATE_UP);
	/* An unknown Your Discriminator matches no session: dropped, and
	 * counted on the session of the peer's address. */
	q.your_disc = mine + 1;
	q.poll = false;
	send_to(fd, pa, &q, 255);
	until = mono() + 0.2;
	while (mono() < until)
		pump(&a, NULL);
	assert_int_equal(bfd_state_of(a.b, "a-to-b"), BFD_STATE_UP);
	assert_int_equal(status_int(&a, "a-to-b", "dropped"), 2);
	/* So is a packet the codec refuses (§6.8.6: a Detect Mult of 0). */
	q.your_disc = mine;
	q.detect_mult = 0;
	send_to(fd, pa, &q, 255);
	until = mono() + 0.2;
	while (mono() < until)
		pump(&a, NULL);
	assert_int_equal(status_int(&a, "a-to-b", "dropped"), 3);
	assert_int_equal(bfd_state_of(a.b, "a-to-b"), BFD_STATE_UP);
	close(fd);
	end_fini(&a);
}

/* A peer whose BFD is not running yet answers with ICMP port
 * unreachable; that must not cost any packet (on a connected socket the
 * error failed the next send). */
static void test_peer_not_listening_yet(void **state)
{
	struct end a;
	struct bfd_session_cfg ca = cfg("a-to-b", "127.0.0.1", 300, 300, 3);

	(void)state;
	end_init(&a, free_udp_port(AF_INET), free_udp_port(AF_INET));
	assert_int_equal(bfd_set(a.b, &ca, 1), 0);
	double until = mono() + 3.2;
	while (mono() < until)
		pump(&a, NULL);
	/* At 0 s, then every 0.75-1 s: at least four. */
	assert_true(status_int(&a, "a-to-b", "controlOut") >= 4);
	end_fini(&a);
}

/* RFC 5883 §5: a multihop session takes packets with at least
 * minimumTtl and drops the others. */
static void test_multihop_minimum_ttl(void **state)
{
	struct end a;
	uint16_t pa = free_udp_port(AF_INET), pb = free_udp_port(AF_INET);
	struct bfd_session_cfg ca = cfg("mh", "127.0.0.1", 50, 50, 3);
	int fd = peer_socket(pb);
	struct rx r;
	struct bfd_pkt p;

	(void)state;
	ca.multihop = true;
	ca.minimum_ttl = 200;
	end_init(&a, pa, pb);
	assert_int_equal(bfd_set(a.b, &ca, 1), 0);
	assert_true(recv_one(&a, fd, &r, 2.0));
	assert_int_equal(r.ttl, 255);
	assert_int_equal(bfd_pkt_decode(r.buf, 24, &p), BFD_PKT_OK);
	struct bfd_pkt q = { .state = BFD_STATE_DOWN, .detect_mult = 3, .my_disc = 99,
			     .desired_min_tx_us = 50000, .required_min_rx_us = 50000 };
	send_to(fd, pa, &q, 199);
	double until = mono() + 0.3;
	while (mono() < until)
		pump(&a, NULL);
	assert_int_equal(status_int(&a, "mh", "dropped"), 1);
	assert_int_equal(bfd_state_of(a.b, "mh"), BFD_STATE_DOWN);
	send_to(fd, pa, &q, 200);
	struct state_want wi = { &a, "mh", BFD_STATE_INIT };
	assert_true(wait_for(&a, NULL, state_is, &wi, WAIT));
	json_t *s = status_of(&a, "mh");
	assert_true(json_is_true(json_object_get(s, "multihop")));
	json_decref(s);
	close(fd);
	end_fini(&a);
}

/* Echo asked for where it cannot run (loopback has no neighbour to loop
 * through; or the peer does not loop): the session stays Up on control
 * packets and the status says why echo is off. */
static void test_echo_unavailable_says_why(void **state)
{
	struct end a, b;
	uint16_t pa = free_udp_port(AF_INET), pb = free_udp_port(AF_INET);
	struct bfd_session_cfg ca = cfg("a-to-b", "127.0.0.1", 100, 100, 3);
	struct bfd_session_cfg cb = cfg("b-to-a", "127.0.0.1", 100, 100, 3);

	(void)state;
	ca.echo_mode = cb.echo_mode = true;
	end_init(&a, pa, pb);
	end_init(&b, pb, pa);
	assert_int_equal(bfd_set(a.b, &ca, 1), 0);
	assert_int_equal(bfd_set(b.b, &cb, 1), 0);
	assert_true(both_up(&a, &b, WAIT));
	double until = mono() + 0.5;
	while (mono() < until)
		pump(&a, &b);
	json_t *s = status_of(&a, "a-to-b");
	assert_false(json_is_true(json_object_get(s, "echoActive")));
	assert_non_null(json_string_value(json_object_get(s, "echoInactiveReason")));
	json_decref(s);
	assert_int_equal(bfd_state_of(a.b, "a-to-b"), BFD_STATE_UP);
	assert_int_equal(status_int(&a, "a-to-b", "downEvents"), 0);
	end_fini(&a);
	end_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up_and_admin_down),
		cmocka_unit_test(test_frozen_peer_detected),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_passive),
		cmocka_unit_test(test_profile_change_polls_without_flap),
		cmocka_unit_test(test_set_refuses_duplicates),
		cmocka_unit_test(test_wire_slow_rate_ttl_port),
		cmocka_unit_test(test_peer_not_listening_yet),
		cmocka_unit_test(test_multihop_minimum_ttl),
		cmocka_unit_test(test_echo_unavailable_says_why),
	};
	log_set_level(getenv("IRONLB_TEST_LOG") ? LOG_DEBUG : LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
