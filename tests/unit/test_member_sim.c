/*
 * The member protocol in an in-process simulation: N nodes (the real
 * protocol core, member.c) over a simulated network with a virtual clock,
 * seeded, so every run is reproducible.  The network delivers each packet
 * after 0.2-0.8 ms, may drop it (random loss), may cut groups apart
 * (partition), and a node may die silently, leave, restart, or be starved
 * (its timers fire late and its packets are handled late).
 *
 * Detection figures are printed (min / median / p95 / max from a member's
 * death to "dead" at each other member) and asserted against the targets:
 * p95 under 1 s with the default timing, under 0.3 s with the fast one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "member/member.h"

#define MS 1000LL
#define SEC 1000000LL

struct sim;

struct snode {
	struct sim *sim;
	int id;
	char name[16];
	struct member *m;
	bool dead;
	int group;
	int64_t starve_timer_us;     /* timers fire up to this late */
	int64_t starve_input_us;     /* packets handled up to this late */
	int64_t frozen_until;        /* nothing runs before (SIGSTOP) */
	bool expect_dead;            /* being found dead is right */
	uint64_t gen;                /* of the pending timer event */
	uint64_t sent;
	uint64_t epoch;
};

enum ev_kind { EV_TIMER, EV_PACKET };

struct event {
	int64_t t;
	uint64_t order;
	enum ev_kind kind;
	int node;
	uint64_t gen;
	int from;
	uint8_t *pkt;
	size_t len;
};

struct sim {
	int n;
	struct snode *nodes;
	struct member_timing timing;
	const char *key;
	int64_t now;
	uint64_t rng, order;
	double loss;
	bool partitioned;
	struct event *heap;
	size_t nh, caph;
	/* detect[obs * n + subj]: first time obs saw subj dead / left, 0: never */
	int64_t *dead_at, *left_at;
	int false_dead;              /* dead reported about a member that was not killed */
	int64_t kill_at;
	int killed;
	/* capture of packets from one node to another, for the replay test */
	int cap_from, cap_to;
	uint8_t *cap;
	size_t cap_len;
};

static uint64_t srnd(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double sfrac(struct sim *s)
{
	return (double)(srnd(s) >> 11) / 9007199254740992.0;
}

static int ev_less(const struct event *a, const struct event *b)
{
	return a->t < b->t || (a->t == b->t && a->order < b->order);
}

static void push_ev(struct sim *s, struct event e)
{
	if (s->nh == s->caph) {
		s->caph = s->caph ? 2 * s->caph : 1024;
		s->heap = xrealloc(s->heap, s->caph * sizeof(*s->heap));
	}
	e.order = s->order++;
	size_t i = s->nh++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!ev_less(&e, &s->heap[p]))
			break;
		s->heap[i] = s->heap[p];
		i = p;
	}
	s->heap[i] = e;
}

static struct event pop_ev(struct sim *s)
{
	struct event top = s->heap[0], last = s->heap[--s->nh];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->nh)
			break;
		if (c + 1 < s->nh && ev_less(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_less(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->nh)
		s->heap[i] = last;
	return top;
}

static struct member_addr addr_of(int id)
{
	struct member_addr a = { .ip = ip_v4(0x0a000000u | (uint32_t)id), .port = 7946 };
	return a;
}

static void arm(struct snode *x)
{
	struct sim *s = x->sim;
	int64_t t = member_next_deadline(x->m);

	if (x->dead || t == INT64_MAX)
		return;
	if (t < s->now)
		t = s->now;
	if (x->starve_timer_us)
		t += (int64_t)(sfrac(s) * (double)x->starve_timer_us);
	x->gen++;
	push_ev(s, (struct event){ .t = t, .kind = EV_TIMER, .node = x->id, .gen = x->gen });
}

static int sim_send(void *ctx, const struct member_addr *to, const uint8_t *p, size_t len)
{
	struct snode *x = ctx;
	struct sim *s = x->sim;
	int dst = (int)(to->ip.v & 0xffffff);

	x->sent++;
	if (dst < 0 || dst >= s->n)
		return 0;
	if (s->cap_from == x->id && s->cap_to == dst && !s->cap) {
		s->cap = xmalloc(len);
		memcpy(s->cap, p, len);
		s->cap_len = len;
	}
	if (s->loss > 0 && sfrac(s) < s->loss)
		return 0;
	if (s->partitioned && s->nodes[dst].group != x->group)
		return 0;
	int64_t delay = 200 + (int64_t)(sfrac(s) * 600);
	if (s->nodes[dst].starve_input_us)
		delay += (int64_t)(sfrac(s) * (double)s->nodes[dst].starve_input_us);
	uint8_t *copy = xmalloc(len);
	memcpy(copy, p, len);
	push_ev(s, (struct event){ .t = s->now + delay, .kind = EV_PACKET, .node = dst,
				   .from = x->id, .pkt = copy, .len = len });
	return 0;
}

static void sim_change(void *ctx, const struct member_event *ev)
{
	struct snode *x = ctx;
	struct sim *s = x->sim;
	int subj = atoi(ev->name + 1);

	if (ev->to == MEMBER_DEAD) {
		if (!s->dead_at[x->id * s->n + subj])
			s->dead_at[x->id * s->n + subj] = ev->at;
		if (!s->nodes[subj].dead && !s->nodes[subj].expect_dead)
			s->false_dead++;
	}
	if (ev->to == MEMBER_LEFT && !s->left_at[x->id * s->n + subj])
		s->left_at[x->id * s->n + subj] = ev->at;
}

static void node_start(struct sim *s, int i)
{
	struct snode *x = &s->nodes[i];
	struct member_config cfg = {
		.name = x->name, .epoch = ++x->epoch, .timing = s->timing,
		.seed = srnd(s), .send = sim_send, .on_change = sim_change, .ctx = x,
	};
	if (s->key) {
		cfg.key = (const uint8_t *)s->key;
		cfg.key_len = strlen(s->key);
	}
	x->m = member_new(&cfg, s->now);
	assert_non_null(x->m);

	struct member_peer *peers = xcalloc((size_t)s->n, sizeof(*peers));
	for (int j = 0; j < s->n; j++) {
		peers[j].name = s->nodes[j].name;
		peers[j].addr = addr_of(j);
	}
	assert_int_equal(member_set_peers(x->m, peers, (size_t)s->n, s->now), 0);
	free(peers);
	x->dead = false;
	arm(x);
}

static struct sim *sim_new(int n, const struct member_timing *t, uint64_t seed)
{
	struct sim *s = xcalloc(1, sizeof(*s));

	s->n = n;
	s->timing = *t;
	s->rng = seed * 7919 + 1;
	s->key = "sim-shared-key";
	s->cap_from = s->cap_to = -1;
	s->now = 1 * SEC;
	s->nodes = xcalloc((size_t)n, sizeof(*s->nodes));
	s->dead_at = xcalloc((size_t)n * (size_t)n, sizeof(int64_t));
	s->left_at = xcalloc((size_t)n * (size_t)n, sizeof(int64_t));
	for (int i = 0; i < n; i++) {
		s->nodes[i].sim = s;
		s->nodes[i].id = i;
		s->nodes[i].epoch = 1000;
		snprintf(s->nodes[i].name, sizeof(s->nodes[i].name), "n%d", i);
	}
	for (int i = 0; i < n; i++)
		node_start(s, i);
	return s;
}

static void sim_free(struct sim *s)
{
	for (size_t i = 0; i < s->nh; i++)
		free(s->heap[i].pkt);
	for (int i = 0; i < s->n; i++)
		member_free(s->nodes[i].m);
	free(s->heap);
	free(s->nodes);
	free(s->dead_at);
	free(s->left_at);
	free(s->cap);
	free(s);
}

static void run_until(struct sim *s, int64_t end)
{
	while (s->nh && s->heap[0].t <= end) {
		struct event e = pop_ev(s);
		struct snode *x = &s->nodes[e.node];

		if (x->frozen_until > e.t && !x->dead) {
			/* Frozen: everything waits for the process to run again. */
			e.t = x->frozen_until;
			push_ev(s, e);
			continue;
		}
		s->now = e.t;
		if (e.kind == EV_TIMER) {
			if (!x->dead && e.gen == x->gen) {
				member_tick(x->m, s->now);
				arm(x);
			}
		} else {
			if (!x->dead) {
				struct member_addr from = addr_of(e.from);
				member_input(x->m, &from, e.pkt, e.len, s->now);
				arm(x);
			}
			free(e.pkt);
		}
	}
	s->now = end;
}

static void kill_node(struct sim *s, int i)
{
	s->nodes[i].dead = true;
	s->kill_at = s->now;
	s->killed = i;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

struct dist {
	int64_t *v;
	size_t n;
};

static void dist_add(struct dist *d, int64_t v)
{
	d->v = xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
	d->v[d->n++] = v;
}

static int64_t dist_pct(struct dist *d, double p)
{
	qsort(d->v, d->n, sizeof(*d->v), cmp_i64);
	size_t i = (size_t)(p * (double)(d->n - 1) + 0.5);
	return d->v[i];
}

/* Kill one member of n, `runs` times with different seeds; the delays from
 * the death to "dead" at every other member. */
static void kill_runs(int n, const struct member_timing *t, int runs, struct dist *d)
{
	for (int r = 0; r < runs; r++) {
		struct sim *s = sim_new(n, t, (uint64_t)(r + 1) * 1000003 + (uint64_t)n);

		run_until(s, s->now + 2 * SEC);
		assert_int_equal(s->false_dead, 0);
		/* Die at a random point of a probe period. */
		run_until(s, s->now + (int64_t)(sfrac(s) * (double)t->probe_interval_us));
		int victim = (int)(srnd(s) % (uint64_t)n);
		kill_node(s, victim);
		run_until(s, s->now + 4 * SEC);
		for (int o = 0; o < n; o++) {
			if (o == victim)
				continue;
			int64_t at = s->dead_at[o * n + victim];
			assert_true(at != 0);          /* every member noticed */
			dist_add(d, at - s->kill_at);
		}
		assert_int_equal(s->false_dead, 0);
		sim_free(s);
	}
}

static void report(const char *what, int n, struct dist *d)
{
	print_message("%s n=%d: death -> dead over %zu observations: min %.0f ms, median %.0f ms, "
		      "p95 %.0f ms, max %.0f ms\n",
		      what, n, d->n, (double)dist_pct(d, 0) / 1e3, (double)dist_pct(d, 0.5) / 1e3,
		      (double)dist_pct(d, 0.95) / 1e3, (double)dist_pct(d, 1.0) / 1e3);
}

static void check_detection(const struct member_timing *t, const char *what, int64_t p95_max)
{
	static const struct { int n, runs; } sizes[] = { {2, 60}, {3, 60}, {10, 30}, {100, 12} };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct dist d = {0};

		kill_runs(sizes[i].n, t, sizes[i].runs, &d);
		report(what, sizes[i].n, &d);
		assert_true(dist_pct(&d, 0.95) < p95_max);
		free(d.v);
	}
}

static void test_detect_default(void **state)
{
	(void)state;
	struct member_timing t;

	member_timing_default(&t);
	check_detection(&t, "default", 1 * SEC);
}

static void test_detect_fast(void **state)
{
	(void)state;
	struct member_timing t;

	member_timing_fast(&t);
	check_detection(&t, "fast", 300 * MS);
}

static void test_leave(void **state)
{
	(void)state;
	struct member_timing t;
	const int n = 10;

	member_timing_default(&t);
	struct sim *s = sim_new(n, &t, 42);
	run_until(s, s->now + 2 * SEC);
	int64_t at = s->now;
	member_leave(s->nodes[4].m, s->now);
	run_until(s, s->now + 5 * MS);
	/* Left at every other member within one network delay. */
	for (int o = 0; o < n; o++) {
		if (o == 4)
			continue;
		int64_t l = s->left_at[o * n + 4];
		if (!(l != 0 && l - at <= 1 * MS))
			print_message("n%d: left_at %lld at %lld\n", o, (long long)l, (long long)at);
		assert_true(l != 0 && l - at <= 1 * MS);
	}
	s->nodes[4].dead = true;      /* it exits */
	run_until(s, s->now + 5 * SEC);
	assert_int_equal(s->false_dead, 0);
	for (int o = 0; o < n; o++) {
		struct member_info mi;
		if (o == 4)
			continue;
		assert_int_equal(member_find(s->nodes[o].m, "n4", &mi), 0);
		assert_int_equal(mi.state, MEMBER_LEFT);
	}
	sim_free(s);
}

static bool all_alive(struct sim *s)
{
	for (int o = 0; o < s->n; o++) {
		for (size_t i = 0; i < member_count(s->nodes[o].m); i++) {
			struct member_info mi;
			member_get(s->nodes[o].m, i, &mi);
			if (mi.state != MEMBER_ALIVE)
				return false;
		}
	}
	return true;
}

static void partition(int n, int minority, uint64_t seed)
{
	struct member_timing t;

	member_timing_default(&t);
	struct sim *s = sim_new(n, &t, seed);
	run_until(s, s->now + 2 * SEC);
	for (int i = 0; i < n; i++)
		s->nodes[i].group = i < minority;
	s->partitioned = true;
	run_until(s, s->now + 5 * SEC);
	/* Each side holds the other dead. */
	for (int o = 0; o < n; o++)
		for (int x = 0; x < n; x++)
			if (s->nodes[o].group != s->nodes[x].group)
				assert_true(s->dead_at[o * n + x] != 0);
	s->partitioned = false;
	int64_t healed = s->now;
	while (!all_alive(s) && s->now - healed < 10 * SEC)
		run_until(s, s->now + 10 * MS);
	int64_t took = s->now - healed;
	assert_true(all_alive(s));
	print_message("partition %d/%d healed: every member alive everywhere within %.0f ms\n",
		      minority, n - minority, (double)took / 1e3);
	/* And it stays so. */
	memset(s->dead_at, 0, (size_t)n * (size_t)n * sizeof(int64_t));
	run_until(s, s->now + 10 * SEC);
	assert_true(all_alive(s));
	sim_free(s);
}

static void test_partition_heals(void **state)
{
	(void)state;
	partition(10, 4, 7);
	partition(3, 1, 8);
	partition(100, 30, 9);
}

static void no_false_dead(int n, const struct member_timing *t, double loss, int starved,
			  int64_t duration, uint64_t seed)
{
	struct sim *s = sim_new(n, t, seed);

	s->loss = loss;
	if (starved >= 0) {
		s->nodes[starved].starve_timer_us = 300 * MS;
		s->nodes[starved].starve_input_us = 80 * MS;
	}
	run_until(s, s->now + duration);
	assert_int_equal(s->false_dead, 0);
	struct member_counters sum = {0};
	for (int i = 0; i < n; i++) {
		const struct member_counters *c = member_counters(s->nodes[i].m);
		sum.probes += c->probes;
		sum.probes_failed += c->probes_failed;
		sum.suspects += c->suspects;
		sum.refutes += c->refutes;
	}
	print_message("n=%d loss=%.0f%% starved node=%d for %.0f s: no false dead; all nodes: "
		      "%llu probes, %llu failed, %llu suspicions raised, %llu refuted",
		      n, loss * 100, starved, (double)duration / 1e6,
		      (unsigned long long)sum.probes, (unsigned long long)sum.probes_failed,
		      (unsigned long long)sum.suspects, (unsigned long long)sum.refutes);
	if (starved >= 0)
		print_message("; the starved node: %llu late timers, local health %u",
			      (unsigned long long)member_counters(s->nodes[starved].m)->late_ticks,
			      member_awareness(s->nodes[starved].m));
	print_message("\n");
	sim_free(s);
}

static void test_loss_no_false_dead(void **state)
{
	(void)state;
	struct member_timing t;

	member_timing_default(&t);
	no_false_dead(10, &t, 0.03, -1, 300 * SEC, 11);
	member_timing_fast(&t);
	no_false_dead(10, &t, 0.03, -1, 120 * SEC, 12);
	/* Two nodes: no relay to ask, only the second direct ping. */
	member_timing_default(&t);
	no_false_dead(2, &t, 0.03, -1, 300 * SEC, 14);
	/* A margin: ten percent. */
	member_timing_default(&t);
	no_false_dead(10, &t, 0.10, -1, 120 * SEC, 13);
}

static void test_starved_no_false_dead(void **state)
{
	(void)state;
	struct member_timing t;

	member_timing_default(&t);
	no_false_dead(10, &t, 0.0, 3, 120 * SEC, 21);
	no_false_dead(10, &t, 0.01, 3, 120 * SEC, 22);
}

/* A node frozen (SIGSTOP, a long stall) for 250 ms every 3 s: shorter
 * than the suspicion, so it refutes when it runs again and nobody is
 * declared dead; frozen for 2 s, it is. */
static void test_frozen(void **state)
{
	(void)state;
	struct member_timing t;
	const int n = 10;

	member_timing_default(&t);
	struct sim *s = sim_new(n, &t, 31);
	run_until(s, s->now + 2 * SEC);
	for (int i = 0; i < 20; i++) {
		s->nodes[5].frozen_until = s->now + 250 * MS;
		run_until(s, s->now + 3 * SEC);
	}
	assert_int_equal(s->false_dead, 0);
	print_message("frozen 250 ms x 20: no false dead; the frozen node refuted %llu suspicions\n",
		      (unsigned long long)member_counters(s->nodes[5].m)->refutes);

	/* Frozen for 2 s: dead at every other member (a failover), and alive
	 * again everywhere once it runs. */
	int64_t at = s->now;
	s->nodes[5].frozen_until = s->now + 2 * SEC;
	s->nodes[5].expect_dead = true;
	run_until(s, s->now + 2 * SEC - 1);
	for (int o = 0; o < n; o++)
		if (o != 5)
			assert_true(s->dead_at[o * n + 5] != 0 && s->dead_at[o * n + 5] - at < 1 * SEC);
	int64_t back = s->now;
	while (!all_alive(s) && s->now - back < 5 * SEC)
		run_until(s, s->now + 10 * MS);
	int64_t took = s->now - back;
	assert_true(all_alive(s));
	s->nodes[5].expect_dead = false;
	run_until(s, s->now + 5 * SEC);
	assert_true(all_alive(s));
	print_message("frozen 2 s: dead everywhere, alive again within %.0f ms after it thawed\n",
		      (double)took / 1e3);
	sim_free(s);
}

/* An intruder without the key, and a replay of a real packet from an
 * earlier run of a member, change nothing and are counted. */
static void test_wrong_key_and_replay(void **state)
{
	(void)state;
	struct member_timing t;
	const int n = 3;

	member_timing_default(&t);
	struct sim *s = sim_new(n, &t, 5);
	run_until(s, s->now + 1 * SEC);

	/* n2 leaves; what it sends n0 is captured. */
	s->cap_from = 2;
	s->cap_to = 0;
	member_leave(s->nodes[2].m, s->now);
	run_until(s, s->now + 10 * MS);
	assert_non_null(s->cap);
	struct member_info mi;
	assert_int_equal(member_find(s->nodes[0].m, "n2", &mi), 0);
	assert_int_equal(mi.state, MEMBER_LEFT);

	/* n2 starts again (a new epoch) and rejoins. */
	member_free(s->nodes[2].m);
	node_start(s, 2);
	member_join(s->nodes[2].m, s->now);
	run_until(s, s->now + 1 * SEC);
	assert_true(all_alive(s));

	/* The old leave, replayed: dropped. */
	const struct member_counters *c0 = member_counters(s->nodes[0].m);
	uint64_t replayed = c0->replayed;
	struct member_addr from = addr_of(2);
	member_input(s->nodes[0].m, &from, s->cap, s->cap_len, s->now);
	assert_int_equal(c0->replayed, replayed + 1);
	run_until(s, s->now + 1 * SEC);
	assert_true(all_alive(s));

	/* An intruder with another key claims n1 left and n2 is dead. */
	struct member_msg msg;
	memset(&msg, 0, sizeof(msg));
	msg.type = MEMBER_MSG_GOSSIP;
	msg.epoch = UINT64_MAX;
	msg.seq = 1;
	strcpy(msg.sender, "n2");
	msg.n_updates = 2;
	msg.updates[0] = (struct member_update){ .state = MEMBER_LEFT, .incarnation = 1000, .name = "n1" };
	msg.updates[1] = (struct member_update){ .state = MEMBER_DEAD, .incarnation = 1000, .name = "n2" };
	uint8_t buf[MEMBER_PACKET_MAX];
	struct wbuf w;
	static const char bad_key[] = "not-the-key";
	wbuf_init_fixed(&w, buf, sizeof(buf));
	assert_int_equal(member_msg_encode(&w, &msg, (const uint8_t *)bad_key, strlen(bad_key)), 0);
	uint64_t bad_tag = c0->bad_tag;
	member_input(s->nodes[0].m, &from, buf, w.len, s->now);
	/* Untagged, too. */
	wbuf_init_fixed(&w, buf, sizeof(buf));
	assert_int_equal(member_msg_encode(&w, &msg, NULL, 0), 0);
	member_input(s->nodes[0].m, &from, buf, w.len, s->now);
	assert_int_equal(c0->bad_tag, bad_tag + 2);
	run_until(s, s->now + 1 * SEC);
	assert_true(all_alive(s));
	assert_int_equal(s->false_dead, 0);
	sim_free(s);
}

/* A key rotation as the memberlist Secret's watch delivers it: each node
 * gets the new key a little later than the one before; the grace time on
 * the previous key keeps every member alive.  Past the grace time the old
 * key is refused. */
static void test_key_rotation(void **state)
{
	(void)state;
	struct member_timing t;
	const int n = 4;
	static const char new_key[] = "rotated-shared-key";

	member_timing_default(&t);
	struct sim *s = sim_new(n, &t, 9);
	run_until(s, s->now + 1 * SEC);
	assert_true(all_alive(s));
	for (int i = 0; i < n; i++) {
		member_set_key(s->nodes[i].m, (const uint8_t *)new_key, strlen(new_key), s->now);
		run_until(s, s->now + 300 * MS);
	}
	run_until(s, s->now + 2 * SEC);
	assert_true(all_alive(s));
	assert_int_equal(s->false_dead, 0);

	/* The same key again changes nothing (no new grace time). */
	member_set_key(s->nodes[0].m, (const uint8_t *)new_key, strlen(new_key), s->now);

	/* Past the grace time, a packet under the old key is refused. */
	run_until(s, s->now + MEMBER_KEY_GRACE_US);
	struct member_msg msg;
	memset(&msg, 0, sizeof(msg));
	msg.type = MEMBER_MSG_GOSSIP;
	msg.epoch = UINT64_MAX;
	msg.seq = 1;
	strcpy(msg.sender, "n1");
	uint8_t buf[MEMBER_PACKET_MAX];
	struct wbuf w;
	wbuf_init_fixed(&w, buf, sizeof(buf));
	assert_int_equal(member_msg_encode(&w, &msg, (const uint8_t *)s->key, strlen(s->key)), 0);
	const struct member_counters *c0 = member_counters(s->nodes[0].m);
	uint64_t bad_tag = c0->bad_tag;
	struct member_addr from = addr_of(1);
	member_input(s->nodes[0].m, &from, buf, w.len, s->now);
	assert_int_equal(c0->bad_tag, bad_tag + 1);
	sim_free(s);
}

static void per_node_rate(struct sim *s, int64_t window, double *mean, double *max)
{
	for (int i = 0; i < s->n; i++)
		s->nodes[i].sent = 0;
	run_until(s, s->now + window);
	double sum = 0, mx = 0;
	int alive = 0;
	for (int i = 0; i < s->n; i++) {
		if (s->nodes[i].dead)
			continue;
		double r = (double)s->nodes[i].sent / ((double)window / 1e6);
		sum += r;
		alive++;
		if (r > mx)
			mx = r;
	}
	*mean = sum / alive;
	*max = mx;
}

/* Packets each node sends per second: in a healthy cluster, and over the
 * 3 s after a member dies (probes, suspicion, gossip of suspect and dead),
 * at both timings; docs/member-protocol.md quotes what this prints. */
static void rate_bounded(const struct member_timing *t, const char *what)
{
	static const int sizes[] = { 10, 100, 1000 };
	/* One probe per period and its ack: 2 / interval packets a second
	 * (20 at the default timing), whatever N. */
	double base = 2.0 * 1e6 / (double)t->probe_interval_us;

	for (size_t i = 0; i < 3; i++) {
		struct sim *s = sim_new(sizes[i], t, 99);
		double mean, max, fmean, fmax;

		run_until(s, s->now + 1 * SEC);
		per_node_rate(s, 3 * SEC, &mean, &max);
		kill_node(s, 1);
		per_node_rate(s, 3 * SEC, &fmean, &fmax);
		assert_int_equal(s->false_dead, 0);
		sim_free(s);
		print_message("%s n=%d: packets sent per node per second: healthy: mean %.1f, "
			      "max %.1f; over the 3 s after a death: mean %.1f, max %.1f\n",
			      what, sizes[i], mean, max, fmean, fmax);
		assert_true(mean <= base * 1.05);
		assert_true(max <= base * 1.5);
		assert_true(fmean <= base * 1.75);
		assert_true(fmax <= base * 2.25);
	}
}

static void test_rate_bounded(void **state)
{
	(void)state;
	struct member_timing t;

	member_timing_default(&t);
	rate_bounded(&t, "default");
	member_timing_fast(&t);
	rate_bounded(&t, "fast");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect_default),
		cmocka_unit_test(test_detect_fast),
		cmocka_unit_test(test_leave),
		cmocka_unit_test(test_partition_heals),
		cmocka_unit_test(test_wrong_key_and_replay),
		cmocka_unit_test(test_key_rotation),
		cmocka_unit_test(test_loss_no_false_dead),
		cmocka_unit_test(test_starved_no_false_dead),
		cmocka_unit_test(test_frozen),
		cmocka_unit_test(test_rate_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
