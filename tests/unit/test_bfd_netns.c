/*
 * Tests for BFD over a real link, in network namespaces: the echo function
 * (AF_PACKET sockets, neighbour lookup, forwarding by the peer's kernel)
 * and single hop across a veth pair, which loopback cannot show.
 *
 * Two namespaces, "node" and "router", joined by a veth pair (n0 / r0),
 * each with its own struct bfd on its own libev loop.  The test process
 * switches into a namespace with setns() before running that side's loop
 * or changing its settings, so that every socket a side opens (lazily, from
 * its loop) is opened in its own namespace.  Both kernels forward, so each
 * loops the other's echo packets back.
 *
 * Covered, over IPv4 and IPv6: both sides Up; echo active both ways with
 * echo packets counted in and out; while echo runs, Required Min RX is
 * raised to 1 s and the peer slows its control packets to that; the
 * router's kernel stops forwarding: the node's session goes Down with
 * diag 2 (echo failed) within its echo detection time, and comes back
 * with echo once forwarding returns; a node that does not forward does
 * not ask for the peer's echo packets (Required Min Echo RX 0), so the
 * peer runs none and says why; IPv6 sessions bound to their interface,
 * to a global and to a link-local peer.
 *
 * Needs root (namespaces, packet sockets); otherwise reported as skipped
 * (exit 77), or failed under CI (test_skip.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_skip.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"
#include "bfd/bfd.h"
#include "bfd/bfd_echo.h"
#include <net/if.h>

#define WAIT 8.0

struct side {
	int ns;
	struct ev_loop *loop;
	struct metrics_registry *reg;
	struct bfd *b;
	const char *name;            /* the session's name on this side */
	int changes;
	enum bfd_state last_to;
	enum bfd_diag last_diag;
	double last_change_at;
};

static struct side N, R;

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void enter(const struct side *s)
{
	if (setns(s->ns, CLONE_NEWNET) != 0)
		fail_msg("setns: %s", strerror(errno));
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = xvasprintf(fmt, ap);
	va_end(ap);
	char *full = xasprintf("%s >/dev/null 2>&1", cmd);
	int r = system(full);
	free(full);
	if (r != 0)
		fail_msg("command failed (%d): %s", r, cmd);
	free(cmd);
}

static void write_sysctl(const char *path, const char *v)
{
	FILE *f = fopen(path, "w");

	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	fputs(v, f);
	fclose(f);
}

static void forwarding(const struct side *s, bool on)
{
	enter(s);
	write_sysctl("/proc/sys/net/ipv4/ip_forward", on ? "1" : "0");
	write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", on ? "1" : "0");
}

static void on_change(void *arg, const char *name, enum bfd_state from, enum bfd_state to,
		      enum bfd_diag diag, bool peer_admin_down)
{
	struct side *s = arg;

	s->changes++;
	s->last_to = to;
	s->last_diag = diag;
	s->last_change_at = mono();
}

static void pump(void)
{
	enter(&N);
	ev_now_update(N.loop);
	ev_run(N.loop, EVRUN_NOWAIT);
	enter(&R);
	ev_now_update(R.loop);
	ev_run(R.loop, EVRUN_NOWAIT);
	poll(NULL, 0, 1);
}

static json_t *status(const struct side *s)
{
	json_t *arr = bfd_status_json(s->b);
	json_t *v = json_incref(json_array_get(arr, 0));

	json_decref(arr);
	assert_non_null(v);
	return v;
}

static long long st_int(const struct side *s, const char *key)
{
	json_t *v = status(s);
	long long n = json_integer_value(json_object_get(v, key));

	json_decref(v);
	return n;
}

static bool st_true(const struct side *s, const char *key)
{
	json_t *v = status(s);
	bool t = json_is_true(json_object_get(v, key));

	json_decref(v);
	return t;
}

static bool both_up(void)
{
	return bfd_state_of(N.b, N.name) == BFD_STATE_UP && bfd_state_of(R.b, R.name) == BFD_STATE_UP;
}

static bool both_echo(void)
{
	return both_up() && st_true(&N, "echoActive") && st_true(&R, "echoActive") &&
	       st_int(&N, "echoIn") > 3 && st_int(&R, "echoIn") > 3;
}

static void print_status(const struct side *s)
{
	json_t *arr = bfd_status_json(s->b);
	char *t = json_dumps(arr, JSON_COMPACT);

	print_message("%s: %s\n", s->name, t);
	free(t);
	json_decref(arr);
}

static bool wait_until(bool (*fn)(void), double secs)
{
	double until = mono() + secs;

	while (mono() < until) {
		pump();
		if (fn())
			return true;
	}
	if (fn())
		return true;
	/* What a failure needs explained. */
	print_status(&N);
	print_status(&R);
	return false;
}

static void side_init(struct side *s, const char *name)
{
	s->name = name;
	s->loop = ev_loop_new(EVFLAG_AUTO);
	s->reg = metrics_registry_new();
	struct bfd_opts o = { .node_name = name };
	s->b = bfd_new(s->loop, s->reg, &o);
	bfd_set_listener(s->b, on_change, s);
}

static void side_set(struct side *s, const char *peer, const char *iface, bool echo)
{
	struct bfd_session_cfg c = { 0 };
	char why[100];

	c.name = (char *)s->name;
	c.profile = (char *)"echo";
	assert_int_equal(ip_parse(peer, &c.peer, why, sizeof(why)), 0);
	c.interface = (char *)iface;
	c.tx_interval_ms = 50;
	c.rx_interval_ms = 50;
	c.detect_mult = 3;
	c.echo_interval_ms = 50;
	c.echo_mode = echo;
	enter(s);
	assert_int_equal(bfd_set(s->b, &c, 1), 0);
}

static int lab_setup(void **state)
{
	memset(&N, 0, sizeof(N));
	memset(&R, 0, sizeof(R));
	if (unshare(CLONE_NEWNET) != 0)
		fail_msg("unshare: %s", strerror(errno));
	N.ns = open("/proc/self/ns/net", O_RDONLY);
	write_sysctl("/proc/sys/net/ipv6/conf/all/accept_dad", "0");
	write_sysctl("/proc/sys/net/ipv6/conf/default/accept_dad", "0");
	sh("ip link set lo up");
	if (unshare(CLONE_NEWNET) != 0)
		fail_msg("unshare: %s", strerror(errno));
	R.ns = open("/proc/self/ns/net", O_RDONLY);
	write_sysctl("/proc/sys/net/ipv6/conf/all/accept_dad", "0");
	write_sysctl("/proc/sys/net/ipv6/conf/default/accept_dad", "0");
	sh("ip link set lo up");
	char *nspath = xasprintf("/proc/%d/fd/%d", (int)getpid(), N.ns);
	sh("ip link add r0 type veth peer name n0 netns %s", nspath);
	free(nspath);
	sh("ip addr add 10.98.0.2/24 dev r0");
	sh("ip addr add fd98::2/64 dev r0");
	sh("ip link set r0 up");
	enter(&N);
	sh("ip addr add 10.98.0.1/24 dev n0");
	sh("ip addr add fd98::1/64 dev n0");
	sh("ip link set n0 up");
	forwarding(&N, true);
	forwarding(&R, true);
	enter(&N);
	side_init(&N, "node-to-router");
	enter(&R);
	side_init(&R, "router-to-node");
	return 0;
}

static int lab_teardown(void **state)
{
	enter(&N);
	bfd_free(N.b);
	enter(&R);
	bfd_free(R.b);
	ev_loop_destroy(N.loop);
	ev_loop_destroy(R.loop);
	metrics_registry_free(N.reg);
	metrics_registry_free(R.reg);
	close(N.ns);
	close(R.ns);
	return 0;
}

static void echo_both_ways(bool v6)
{
	side_set(&N, v6 ? "fd98::2" : "10.98.0.2", v6 ? "n0" : NULL, true);
	side_set(&R, v6 ? "fd98::1" : "10.98.0.1", v6 ? "r0" : NULL, true);
	assert_true(wait_until(both_up, WAIT));
	assert_true(wait_until(both_echo, WAIT));
	assert_int_equal(st_int(&N, "echoIntervalMs"), 50);
	assert_int_equal(st_int(&N, "remoteEchoRxIntervalMs"), 50);
	assert_true(st_int(&N, "echoOut") >= st_int(&N, "echoIn"));
	/* Echo does the detecting: each side asks for control packets once
	 * a second, and the other sends them at that rate (§6.8.3). */
	double until = mono() + WAIT;
	while (mono() < until && (st_int(&R, "txIntervalMs") != 1000 ||
				  st_int(&N, "detectionTimeMs") != 3000))
		pump();
	assert_int_equal(st_int(&R, "txIntervalMs"), 1000);
	assert_int_equal(st_int(&N, "detectionTimeMs"), 3000);
	const char *peer = v6 ? "fd98::2" : "10.98.0.2";
	const char *labels[] = { peer, "default" };
	double v = 0;
	assert_int_equal(metrics_get(metrics_family_find(N.reg, "metallb_bfd_echo_packet_input"),
				     labels, &v), 0);
	assert_true(v > 3);
	assert_int_equal(metrics_get(metrics_family_find(N.reg, "metallb_bfd_echo_packet_output"),
				     labels, &v), 0);
	assert_true(v > 3);
	assert_int_equal(st_int(&N, "downEvents"), 0);

	/* The socket filter passes a session's own echo packets only. */
	enter(&N);
	uint32_t disc = (uint32_t)st_int(&N, "localDiscriminator");
	int idx = (int)if_nametoindex("n0");
	enum ip_family fam = v6 ? IP_FAMILY_V6 : IP_FAMILY_V4;
	int mine = bfd_echo_socket(idx, fam, 3785, disc);
	int other = bfd_echo_socket(idx, fam, 3785, disc + 1);
	assert_true(mine >= 0 && other >= 0);
	until = mono() + 0.5;
	while (mono() < until)
		pump();
	uint8_t buf[256];
	int got_mine = 0, got_other = 0;
	long n;
	while ((n = bfd_echo_recv(mine, buf, sizeof(buf))) >= 0)
		got_mine += n > 0;
	while ((n = bfd_echo_recv(other, buf, sizeof(buf))) >= 0)
		got_other++;
	close(mine);
	close(other);
	assert_true(got_mine > 0);
	assert_int_equal(got_other, 0);

	/* The router stops forwarding: the node's echo packets are lost. */
	forwarding(&R, false);
	double t0 = mono();
	int before = N.changes;
	until = mono() + WAIT;
	while (mono() < until && N.changes == before)
		pump();
	assert_int_equal(N.last_to, BFD_STATE_DOWN);
	assert_int_equal(N.last_diag, BFD_DIAG_ECHO_FAILED);
	/* Echo detection: 3 x 50 ms, plus scheduling slack. */
	assert_true(N.last_change_at - t0 <= 0.150 + 0.150);
	json_t *s = status(&N);
	assert_string_equal(json_string_value(json_object_get(s, "lastDownReason")),
			    "Echo Function Failed");
	json_decref(s);

	/* Forwarding back: Up again on control packets, then echo again. */
	forwarding(&R, true);
	assert_true(wait_until(both_echo, WAIT));
}

static void test_echo_ipv4(void **state)
{
	echo_both_ways(false);
}

static void test_echo_ipv6(void **state)
{
	echo_both_ways(true);
}

static bool router_says_why(void)
{
	json_t *s;
	bool ok;

	if (!both_up())
		return false;
	s = status(&R);
	ok = !json_is_true(json_object_get(s, "echoActive")) &&
	     json_string_value(json_object_get(s, "echoInactiveReason")) &&
	     strstr(json_string_value(json_object_get(s, "echoInactiveReason")), "Echo RX 0");
	json_decref(s);
	return ok;
}

static void test_node_not_forwarding_asks_for_no_echo(void **state)
{
	forwarding(&N, false);
	side_set(&N, "10.98.0.2", NULL, true);
	side_set(&R, "10.98.0.1", NULL, true);
	assert_true(wait_until(router_says_why, WAIT));
	assert_int_equal(st_int(&N, "echoRxIntervalMs"), 0);
	assert_int_equal(st_int(&R, "echoOut"), 0);
	/* The node still runs its own echo through the forwarding router. */
	double until = mono() + WAIT;
	while (mono() < until && !st_true(&N, "echoActive"))
		pump();
	assert_true(st_true(&N, "echoActive"));
}

/* Single hop over a real link: the GTSM check passes with TTL 255 from
 * the router, and the session is bound to its interface. */
static void test_single_hop_bound_to_interface(void **state)
{
	side_set(&N, "fd98::2", "n0", false);
	side_set(&R, "fd98::1", "r0", false);
	assert_true(wait_until(both_up, WAIT));
	json_t *s = status(&N);
	assert_string_equal(json_string_value(json_object_get(s, "interface")), "n0");
	assert_string_equal(json_string_value(json_object_get(s, "local")), "fd98::1");
	assert_int_equal(json_integer_value(json_object_get(s, "dropped")), 0);
	assert_null(json_string_value(json_object_get(s, "echoInactiveReason")));
	json_decref(s);
}

/* An IPv6 link-local peer (BGP unnumbered style): the interface gives
 * the scope to send to, and packets from it are matched to the session. */
static void test_link_local_peer(void **state)
{
	/* Only these link-local addresses, so that the kernel's source
	 * address is the one the other side expects. */
	sh("ip -6 addr flush dev r0 scope link");
	sh("ip addr add fe80::12/64 dev r0");
	enter(&N);
	sh("ip -6 addr flush dev n0 scope link");
	sh("ip addr add fe80::11/64 dev n0");
	side_set(&N, "fe80::12", "n0", false);
	side_set(&R, "fe80::11", "r0", false);
	assert_true(wait_until(both_up, WAIT));
	assert_int_equal(st_int(&N, "dropped"), 0);
	assert_int_equal(st_int(&R, "dropped"), 0);
}

int main(void)
{
	if (geteuid() != 0)
		return test_skip_program("test_bfd_netns",
					 "needs root (network namespaces, packet sockets)");
	pid_t pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return test_skip_program("test_bfd_netns", "cannot create network namespaces here");
	log_set_level(getenv("IRONLB_TEST_LOG") ? LOG_DEBUG : LOG_ERROR);

#define LAB_TEST(t) cmocka_unit_test_setup_teardown(t, lab_setup, lab_teardown)
	const struct CMUnitTest tests[] = {
		LAB_TEST(test_echo_ipv4),
		LAB_TEST(test_echo_ipv6),
		LAB_TEST(test_node_not_forwarding_asks_for_no_echo),
		LAB_TEST(test_single_hop_bound_to_interface),
		LAB_TEST(test_link_local_peer),
	};
	return test_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
