/*
 * The member protocol over real UDP sockets on loopback: three instances
 * in one process on one libev loop, over 127.0.0.1 and over ::1.  They hear
 * each other; one stops sending and is found dead by the others within the
 * deadline; one leaves and is left at the others at once.  Every wait polls
 * with a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <ev.h>

#include "base/metrics.h"
#include "member/member.h"
#include "test_skip.h"

#define N 3

struct rec {
	double dead_at[N][N], left_at[N][N];   /* [observer][subject], 0: not yet */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct rec shared;

static void on_change(void *ctx, const struct member_event *ev)
{
	int obs = *(int *)ctx, subj = ev->name[1] - '0';

	if (ev->to == MEMBER_DEAD && !shared.dead_at[obs][subj])
		shared.dead_at[obs][subj] = now_s();
	if (ev->to == MEMBER_LEFT && !shared.left_at[obs][subj])
		shared.left_at[obs][subj] = now_s();
}

static bool heard_all(struct member_io **io, int n)
{
	for (int i = 0; i < n; i++) {
		struct member_info mi;
		for (size_t j = 0; member_get(member_io_core(io[i]), j, &mi) == 0; j++)
			if (mi.state != MEMBER_ALIVE || !mi.last_heard || mi.rtt_us < 0)
				return false;
	}
	return true;
}

/* Run the loop until cond() or the deadline (seconds from now). */
static bool run_until(struct ev_loop *loop, double deadline, bool (*cond)(void *), void *arg)
{
	double end = now_s() + deadline;

	while (!cond(arg)) {
		if (now_s() > end)
			return false;
		ev_run(loop, EVRUN_ONCE);
	}
	return true;
}

struct ctx {
	struct member_io **io;
	int victim;
};

static bool cond_heard(void *arg)
{
	struct ctx *c = arg;
	return heard_all(c->io, N);
}

static struct member_io **watched;

static bool cond_bad_tag(void *arg)
{
	const uint64_t *before = arg;
	return member_counters(member_io_core(watched[0]))->bad_tag > *before &&
	       member_counters(member_io_core(watched[2]))->bad_tag > 0;
}

static bool cond_dead(void *arg)
{
	struct ctx *c = arg;
	for (int o = 0; o < N; o++)
		if (o != c->victim && !shared.dead_at[o][c->victim])
			return false;
	return true;
}

static bool cond_left(void *arg)
{
	struct ctx *c = arg;
	for (int o = 0; o < N; o++)
		if (o != c->victim && c->io[o] && !shared.left_at[o][c->victim])
			return false;
	return true;
}

static void trio(const char *addr)
{
	static int ids[N] = {0, 1, 2};
	static const char key[] = "loopback test key";
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct metrics_registry *reg = metrics_registry_new();
	struct member_io *io[N];
	struct member_peer peers[N];
	char names[N][8], why[256];
	struct ip_addr ip;

	memset(&shared, 0, sizeof(shared));
	assert_int_equal(ip_parse(addr, &ip, NULL, 0), 0);
	for (int i = 0; i < N; i++) {
		struct member_io_config cfg = {
			.name = names[i], .port = 0, .bind = &ip,
			.key = (const uint8_t *)key, .key_len = sizeof(key) - 1,
			.on_change = on_change, .ctx = &ids[i], .metrics = reg,
		};
		snprintf(names[i], sizeof(names[i]), "n%d", i);
		member_timing_default(&cfg.timing);
		io[i] = member_io_new(loop, &cfg, why, sizeof(why));
		if (!io[i])
			fail_msg("%s", why);
		peers[i].name = names[i];
		peers[i].addr.ip = ip;
		peers[i].addr.port = member_io_port(io[i]);
		assert_true(peers[i].addr.port != 0);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(member_io_set_peers(io[i], peers, N), 0);
		member_io_join(io[i]);
	}

	struct ctx c = { .io = io, .victim = 2 };
	watched = io;
	assert_true(run_until(loop, 5.0, cond_heard, &c));

	json_t *st = member_io_status_json(io[0]);
	assert_true(json_is_true(json_object_get(st, "authenticated")));
	assert_int_equal(json_array_size(json_object_get(st, "members")), N - 1);
	json_t *m0 = json_array_get(json_object_get(st, "members"), 0);
	assert_string_equal(json_string_value(json_object_get(m0, "state")), "alive");
	assert_string_equal(json_string_value(json_object_get(m0, "address")), addr);
	assert_true(json_is_number(json_object_get(m0, "rtt_ms")));
	json_decref(st);

	/* An intruder with another key, claiming to be n1, joins: every
	 * packet it sends is dropped for its tag and nothing changes. */
	{
		static const char bad_key[] = "not the key";
		static int intruder_id = 1;
		struct member_io_config icfg = {
			.name = "n1", .port = 0, .bind = &ip,
			.key = (const uint8_t *)bad_key, .key_len = sizeof(bad_key) - 1,
			.on_change = on_change, .ctx = &intruder_id,
		};
		member_timing_default(&icfg.timing);
		struct member_io *intruder = member_io_new(loop, &icfg, why, sizeof(why));
		assert_non_null(intruder);
		assert_int_equal(member_io_set_peers(intruder, peers, N), 0);
		member_io_join(intruder);
		uint64_t before = member_counters(member_io_core(io[0]))->bad_tag;
		assert_true(run_until(loop, 2.0, cond_bad_tag, &before));
		member_io_free(intruder);
		assert_true(heard_all(io, N));
		assert_true(shared.dead_at[0][1] == 0 && shared.dead_at[2][1] == 0);
	}

	/* n2 stops answering, as if killed. */
	member_io_silence(io[2]);
	double killed = now_s();
	assert_true(run_until(loop, 3.0, cond_dead, &c));
	for (int o = 0; o < 2; o++)
		print_message("%s: n2 silent -> dead at n%d after %.0f ms\n", addr, o,
			      (shared.dead_at[o][2] - killed) * 1e3);
	for (int o = 0; o < 2; o++)
		assert_true(shared.dead_at[o][2] - killed < 2.0);
	/* Nobody else is dead. */
	assert_true(shared.dead_at[0][1] == 0 && shared.dead_at[1][0] == 0);

	/* n1 leaves: left at n0 at once. */
	struct member_io *silent = io[2];
	c.victim = 1;
	io[2] = NULL;
	double left = now_s();
	member_io_leave(io[1]);
	assert_true(run_until(loop, 1.0, cond_left, &c));
	print_message("%s: n1 leaves -> left at n0 after %.1f ms\n", addr,
		      (shared.left_at[0][1] - left) * 1e3);
	assert_true(shared.left_at[0][1] - left < 0.2);

	/* The metrics saw it. */
	char *text = NULL;
	size_t len = 0;
	metrics_render(reg, &text, &len);
	assert_non_null(strstr(text, "ironlb_member_failovers_total{state=\"dead\"}"));
	assert_non_null(strstr(text, "ironlb_member_failovers_total{state=\"left\"}"));
	assert_non_null(strstr(text, "ironlb_member_packets_received_total "));
	free(text);

	for (int i = 0; i < N; i++)
		member_io_free(io[i]);
	member_io_free(silent);
	metrics_registry_free(reg);
	ev_loop_destroy(loop);
}

static void test_ipv4(void **state)
{
	(void)state;
	trio("127.0.0.1");
}

static void test_ipv6(void **state)
{
	(void)state;
	struct ip_addr ip;
	char why[256];
	struct member_io_config cfg = { .name = "probe", .port = 0, .bind = &ip };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	ip_parse("::1", &ip, NULL, 0);
	member_timing_default(&cfg.timing);
	struct member_io *io = member_io_new(loop, &cfg, why, sizeof(why));
	member_io_free(io);
	ev_loop_destroy(loop);
	if (!io)
		TEST_SKIP("no IPv6 loopback: %s", why);
	trio("::1");
}

static struct member_io *pair[2];

static bool cond_pair(void *arg)
{
	(void)arg;
	return heard_all(pair, 2);
}

/* The default socket: the IPv6 wildcard, dual-stack.  An IPv4 member is
 * reached through it as a v4-mapped address and its answers come back as
 * IPv4. */
static void test_dual_stack(void **state)
{
	(void)state;
	static int ids[2] = {0, 1};
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct ip_addr v4;
	char why[256];

	ip_parse("127.0.0.1", &v4, NULL, 0);
	struct member_io_config a = { .name = "n0", .port = 0, .bind = NULL,
				      .on_change = on_change, .ctx = &ids[0] };
	struct member_io_config b = { .name = "n1", .port = 0, .bind = &v4,
				      .on_change = on_change, .ctx = &ids[1] };
	member_timing_default(&a.timing);
	member_timing_default(&b.timing);
	pair[0] = member_io_new(loop, &a, why, sizeof(why));
	if (!pair[0])
		fail_msg("%s", why);
	pair[1] = member_io_new(loop, &b, why, sizeof(why));
	if (!pair[1])
		fail_msg("%s", why);
	struct member_peer peers[2] = {
		{ "n0", { v4, member_io_port(pair[0]) } },
		{ "n1", { v4, member_io_port(pair[1]) } },
	};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(member_io_set_peers(pair[i], peers, 2), 0);
		member_io_join(pair[i]);
	}
	assert_true(run_until(loop, 5.0, cond_pair, NULL));
	json_t *st = member_io_status_json(pair[0]);
	assert_false(json_is_true(json_object_get(st, "authenticated")));
	json_decref(st);
	member_io_free(pair[0]);
	member_io_free(pair[1]);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_dual_stack),
	};
	return test_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
