/*
 * The state exchange: the wire format as tables of messages and raw
 * bytes (round trips, the tag, every bound the decoder enforces), the
 * digest in the member packet header (a change reaches every member), and
 * real pulls over TCP on loopback between two instances on one libev
 * loop: 100,000 Services in one answer, a wrong key refused, a stranger
 * refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <ev.h>

#include "base/util.h"
#include "member/member.h"
#include "member/sync.h"
#include "test_skip.h"

static const uint8_t key[] = "sync test key";
#define KEYLEN (sizeof(key) - 1)

static int cmp_entry_key(const void *a, const void *b)
{
	return strcmp(((const struct sync_entry *)a)->key, ((const struct sync_entry *)b)->key);
}

static struct sync_state make_state(size_t n, bool settled)
{
	struct sync_state s = {.settled = settled, .n = n};
	s.entries = xcalloc(n ? n : 1, sizeof(*s.entries));
	for (size_t i = 0; i < n; i++) {
		struct sync_entry *e = &s.entries[i];
		e->key = xasprintf("ns%03zu/svc-%07zu", i % 7, i);
		e->naddrs = 2;
		e->addrs[0] = ip_v4(0x0a140000u + (uint32_t)i);
		struct ip_addr v6 = {.family = IP_FAMILY_V6};
		v6.v = ((u128)0x20010db8u << 96) | i;
		e->addrs[1] = v6;
		e->stamp = 1700000000000000ull + i;
		e->announcing = i % 3 == 0;
		e->since = e->announcing ? 1700000000500000ull + i : 0;
	}
	/* Keys sorted (the ns prefix puts them out of order). */
	qsort(s.entries, n, sizeof(*s.entries), cmp_entry_key);
	s.digest = sync_state_digest(&s);
	return s;
}

static void same_state(const struct sync_state *a, const struct sync_state *b)
{
	assert_int_equal(a->settled, b->settled);
	assert_int_equal(a->digest, b->digest);
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct sync_entry *x = &a->entries[i], *y = &b->entries[i];
		assert_string_equal(x->key, y->key);
		assert_int_equal(x->naddrs, y->naddrs);
		for (size_t k = 0; k < x->naddrs; k++)
			assert_true(ip_eq(&x->addrs[k], &y->addrs[k]));
		assert_int_equal(x->stamp, y->stamp);
		assert_int_equal(x->announcing, y->announcing);
		assert_int_equal(x->since, y->since);
	}
}

static void test_round_trip(void **st)
{
	(void)st;
	for (int keyed = 0; keyed < 2; keyed++) {
		struct sync_msg m = {.type = SYNC_MSG_STATE};
		strcpy(m.sender, "node-a");
		memset(m.nonce, 0xab, sizeof(m.nonce));
		m.state = make_state(50, true);
		struct wbuf w;
		wbuf_init_dyn(&w, 0);
		assert_int_equal(sync_msg_encode(&w, &m, keyed ? key : NULL, keyed ? KEYLEN : 0), 0);
		uint32_t len = (uint32_t)w.p[0] << 24 | (uint32_t)w.p[1] << 16 |
			       (uint32_t)w.p[2] << 8 | w.p[3];
		assert_int_equal(len + 4, w.len);
		struct sync_msg d;
		enum sync_msg_err why;
		assert_int_equal(sync_msg_decode(w.p + 4, len, &d, &why), 0);
		assert_int_equal(d.type, SYNC_MSG_STATE);
		assert_int_equal(d.tagged, keyed);
		assert_string_equal(d.sender, "node-a");
		assert_memory_equal(d.nonce, m.nonce, SYNC_NONCE_LEN);
		same_state(&m.state, &d.state);
		if (keyed) {
			assert_true(sync_msg_tag_ok(w.p + 4, len, key, KEYLEN));
			assert_false(sync_msg_tag_ok(w.p + 4, len, (const uint8_t *)"other", 5));
			/* Any byte changed breaks the tag. */
			w.p[4 + 30] ^= 1;
			assert_false(sync_msg_tag_ok(w.p + 4, len, key, KEYLEN));
		}
		sync_state_free(&d.state);
		sync_state_free(&m.state);
		wbuf_free(&w);
	}
}

static void test_digest(void **st)
{
	(void)st;
	struct sync_state a = make_state(10, true), b = make_state(10, true);
	assert_int_equal(a.digest, b.digest);
	b.entries[3].stamp++;
	assert_int_not_equal(sync_state_digest(&a), sync_state_digest(&b));
	b.entries[3].stamp--;
	b.entries[4].announcing = !b.entries[4].announcing;
	assert_int_not_equal(sync_state_digest(&a), sync_state_digest(&b));
	b.entries[4].announcing = !b.entries[4].announcing;
	size_t ann = 0;
	while (!b.entries[ann].announcing)
		ann++;
	b.entries[ann].since++;
	assert_int_not_equal(sync_state_digest(&a), sync_state_digest(&b));
	b.entries[ann].since--;
	b.settled = false;
	assert_int_not_equal(sync_state_digest(&a), sync_state_digest(&b));
	/* XOR of entries: the order of computation does not matter, and
	 * removing an entry is one XOR. */
	uint64_t d = a.digest ^ sync_entry_hash(&a.entries[2]);
	free(a.entries[2].key);
	memmove(&a.entries[2], &a.entries[3], 7 * sizeof(*a.entries));
	a.n--;
	assert_int_equal(d, sync_state_digest(&a));
	sync_state_free(&a);
	sync_state_free(&b);
}

/* A pull request, byte by byte. */
static void test_pull_bytes(void **st)
{
	(void)st;
	struct sync_msg m = {.type = SYNC_MSG_PULL};
	strcpy(m.sender, "n1");
	for (int i = 0; i < SYNC_NONCE_LEN; i++)
		m.nonce[i] = (uint8_t)i;
	struct wbuf w;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(sync_msg_encode(&w, &m, NULL, 0), 0);
	static const uint8_t want[] = {
		0, 0, 0, 26,                     /* frame length */
		'I', 'L', 'B', 'S', 1, 1, 0,     /* magic, version, PULL, flags */
		2, 'n', '1',                     /* sender */
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	};
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.p, want, sizeof(want));
	wbuf_free(&w);
}

/* Raw messages the decoder must refuse, with the reason. */
static void test_decode_errors(void **st)
{
	(void)st;
	/* A STATE with one entry, untagged: header(7) name(3) nonce(16)
	 * digest(8) count(4) entry: klen(2) "a/b"(3) flags(1: announcing)
	 * stamp(8) since(8) naddrs(1) fam(1) addr(4). */
	uint8_t good[] = {
		'I', 'L', 'B', 'S', 1, 2, 0, 2, 'n', '1',
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 9,
		0, 0, 0, 1,
		0, 3, 'a', '/', 'b', 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 6,
		1, 4, 10, 0, 0, 1,
	};
	struct sync_msg d;
	enum sync_msg_err why;
	assert_int_equal(sync_msg_decode(good, sizeof(good), &d, &why), 0);
	assert_int_equal(d.state.n, 1);
	assert_string_equal(d.state.entries[0].key, "a/b");
	assert_true(d.state.entries[0].announcing);
	assert_int_equal(d.state.entries[0].stamp, 5);
	assert_int_equal(d.state.entries[0].since, 6);
	sync_state_free(&d.state);

	struct {
		size_t at;
		int value;         /* -1: cut the message at `at` */
		enum sync_msg_err why;
	} cases[] = {
		{0, 'X', SYNC_MSG_BAD_MAGIC},
		{4, 2, SYNC_MSG_BAD_VERSION},
		{5, 3, SYNC_MSG_BAD_TYPE},
		{6, 0x80, SYNC_MSG_BAD_FLAGS},
		{7, 0, SYNC_MSG_SHORT},            /* empty name (refused, see below) */
		{8, ' ', SYNC_MSG_BAD_NAME},
		{34, 0x10, SYNC_MSG_TOO_MANY},    /* count 0x10000001 */
		{37, 2, SYNC_MSG_SHORT},          /* count 2, only one entry */
		{39, 0, SYNC_MSG_SHORT},          /* empty key (refused, see below) */
		{40, ' ', SYNC_MSG_BAD_KEY},
		{43, 2, SYNC_MSG_BAD_FLAGS},
		{60, 3, SYNC_MSG_BAD_ADDR},
		{61, 5, SYNC_MSG_BAD_ADDR},
		{65, -1, SYNC_MSG_SHORT},
		{50, -1, SYNC_MSG_SHORT},         /* in the claim's time */
		{10, -1, SYNC_MSG_SHORT},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t b[sizeof(good) + 4];
		memcpy(b, good, sizeof(good));
		size_t len = sizeof(good);
		if (cases[i].value < 0)
			len = cases[i].at;
		else
			b[cases[i].at] = (uint8_t)cases[i].value;
		int rc = sync_msg_decode(b, len, &d, &why);
		sync_state_free(&d.state);
		if (cases[i].at == 7 || cases[i].at == 39) {
			/* Name or key length 0: refused either way. */
			assert_int_equal(rc, -1);
			continue;
		}
		if (rc != -1 || why != cases[i].why)
			fail_msg("case %zu: rc %d why %s", i, rc, sync_msg_err_str(why));
	}
	/* Bytes after the last field. */
	uint8_t more[sizeof(good) + 1];
	memcpy(more, good, sizeof(good));
	more[sizeof(good)] = 0;
	assert_int_equal(sync_msg_decode(more, sizeof(more), &d, &why), -1);
	assert_int_equal(why, SYNC_MSG_TRAILING);
	sync_state_free(&d.state);

	/* Keys out of order or repeated. */
	struct sync_state s = make_state(3, false);
	struct sync_msg m = {.type = SYNC_MSG_STATE, .state = s};
	strcpy(m.sender, "n1");
	free(s.entries[1].key);
	s.entries[1].key = xstrdup(s.entries[0].key);
	m.state = s;
	struct wbuf w;
	wbuf_init_dyn(&w, 0);
	assert_int_equal(sync_msg_encode(&w, &m, NULL, 0), -1);
	wbuf_free(&w);
	sync_state_free(&s);
}

/* ------------------------------------------------------------ digest in the header */

struct net {
	struct member *m[3];
	uint64_t heard[3][3];      /* [observer][subject] */
	int64_t now;
};

static struct net net;

static int net_send(void *ctx, const struct member_addr *to, const uint8_t *p, size_t len)
{
	(void)ctx;
	int dst = (int)to->port - 1;
	member_input(net.m[dst], to, p, len, net.now);
	return 0;
}

static void net_digest(void *ctx, const char *name, uint64_t digest)
{
	int obs = *(int *)ctx, subj = name[1] - '1';
	net.heard[obs][subj] = digest;
}

static void test_header_digest(void **st)
{
	(void)st;
	static int ids[3] = {0, 1, 2};
	memset(&net, 0, sizeof(net));
	net.now = 1000000;
	struct member_peer peers[3];
	char names[3][4] = {"n1", "n2", "n3"};
	for (int i = 0; i < 3; i++) {
		peers[i].name = names[i];
		peers[i].addr.ip = ip_v4(0x7f000001);
		peers[i].addr.port = (uint16_t)(i + 1);
	}
	for (int i = 0; i < 3; i++) {
		struct member_config c = {.name = names[i], .epoch = 1, .key = key,
					  .key_len = KEYLEN, .seed = (uint64_t)i + 1,
					  .send = net_send, .on_digest = net_digest,
					  .ctx = &ids[i]};
		member_timing_default(&c.timing);
		net.m[i] = member_new(&c, net.now);
		assert_non_null(net.m[i]);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(member_set_peers(net.m[i], peers, 3, net.now), 0);
	/* A change is sent to every member at once, in one packet each. */
	member_set_digest(net.m[0], 0x1234, net.now);
	assert_int_equal(net.heard[1][0], 0x1234);
	assert_int_equal(net.heard[2][0], 0x1234);
	struct member_info mi;
	assert_int_equal(member_find(net.m[1], "n1", &mi), 0);
	assert_true(mi.has_digest);
	assert_int_equal(mi.digest, 0x1234);
	/* A second change within the period waits for the next one. */
	member_set_digest(net.m[0], 0x5678, net.now + 1000);
	assert_int_equal(net.heard[1][0], 0x1234);
	for (int step = 0; step < 40; step++) {
		net.now += 10000;
		for (int i = 0; i < 3; i++)
			if (member_next_deadline(net.m[i]) <= net.now)
				member_tick(net.m[i], net.now);
	}
	assert_int_equal(net.heard[1][0], 0x5678);
	assert_int_equal(net.heard[2][0], 0x5678);
	for (int i = 0; i < 3; i++)
		member_free(net.m[i]);
}

/* ------------------------------------------------------------ table */

struct hold_row {
	const char *key;
	uint32_t v4;                 /* 10.20.0.x, 0: no address */
	uint64_t stamp;
};

static struct sync_state holding(const struct hold_row *rows, size_t n)
{
	struct sync_state s = {.settled = true, .n = n};
	s.entries = xcalloc(n ? n : 1, sizeof(*s.entries));
	for (size_t i = 0; i < n; i++) {
		s.entries[i].key = xstrdup(rows[i].key);
		s.entries[i].naddrs = rows[i].v4 ? 1 : 0;
		s.entries[i].addrs[0] = ip_v4(0x0a140000u + rows[i].v4);
		s.entries[i].stamp = rows[i].stamp;
	}
	qsort(s.entries, n, sizeof(*s.entries), cmp_entry_key);
	return s;
}

/* key -> 10.20.0.x (0: no address left) and the node whose holding won */
struct want_row {
	const char *key;
	uint32_t v4;
	const char *node;
};

static void check_table(const struct sync_holding *h, size_t nh, const struct want_row *want,
			size_t nw)
{
	/* The holdings in both orders: the result must not depend on it. */
	for (int rev = 0; rev < 2; rev++) {
		struct sync_holding hh[4];
		for (size_t i = 0; i < nh; i++)
			hh[i] = h[rev ? nh - 1 - i : i];
		struct sync_table t;
		sync_resolve(hh, nh, &t);
		assert_int_equal(t.n, nw);
		for (size_t i = 0; i < nw; i++) {
			const struct sync_agreed *a = sync_table_find(&t, want[i].key);
			assert_non_null(a);
			assert_string_equal(a->node, want[i].node);
			if (want[i].v4) {
				assert_int_equal(a->naddrs, 1);
				assert_true(
					    a->addrs[0].v == 0x0a140000u + want[i].v4);
				assert_false(a->lost);
			} else {
				assert_int_equal(a->naddrs, 0);
				assert_true(a->lost);
			}
		}
		sync_table_free(&t);
	}
}

static void test_resolve(void **st)
{
	(void)st;
	/* Issue 10's divergence: node-a (running) holds s3 = .0 and s1 = .2;
	 * node-b (returning, not settled) is not a holding that counts, so
	 * the table is node-a's: s3 = .10, s1 = .2. */
	/* (.10 stands for the issue's .0: 0 means "no address" in these rows) */
	struct hold_row a_rows[] = {{"default/s1", 2, 400}, {"default/s2", 1, 200},
				    {"default/s3", 10, 300}};
	struct sync_state a = holding(a_rows, 3);
	struct sync_holding h1[] = {{"node-a", &a}};
	struct want_row w1[] = {{"default/s1", 2, "node-a"}, {"default/s2", 1, "node-a"},
				{"default/s3", 10, "node-a"}};
	check_table(h1, 1, w1, 3);

	/* Two settled members that diverged (a partition): node-b still
	 * holds s1 = .10 from long ago.  s1: the oldest allocation wins (b's);
	 * .10: s1's allocation is older than s3's, so s3 loses it and is
	 * allocated again; s2 agrees. */
	struct hold_row b_rows[] = {{"default/s1", 10, 100}, {"default/s2", 1, 200}};
	struct sync_state b = holding(b_rows, 2);
	struct sync_holding h2[] = {{"node-a", &a}, {"node-b", &b}};
	struct want_row w2[] = {{"default/s1", 10, "node-b"}, {"default/s2", 1, "node-a"},
				{"default/s3", 0, "node-a"}};
	check_table(h2, 2, w2, 3);

	/* Ties: the same stamp for one Service on two nodes -> the least
	 * node name; one address for two Services with the same stamp -> the
	 * least key keeps it. */
	struct hold_row c_rows[] = {{"default/x", 5, 700}, {"default/y", 6, 700}};
	struct hold_row d_rows[] = {{"default/x", 7, 700}, {"default/z", 6, 700}};
	struct sync_state c = holding(c_rows, 2), dd = holding(d_rows, 2);
	struct sync_holding h3[] = {{"node-c", &c}, {"node-b", &dd}};
	struct want_row w3[] = {{"default/x", 7, "node-b"}, {"default/y", 6, "node-c"},
				{"default/z", 0, "node-b"}};
	check_table(h3, 2, w3, 3);

	/* Entries without addresses are no claim. */
	struct hold_row e_rows[] = {{"default/x", 0, 1}};
	struct sync_state e = holding(e_rows, 1);
	struct sync_holding h4[] = {{"node-b", &dd}, {"node-a", &e}};
	struct want_row w4[] = {{"default/x", 7, "node-b"}, {"default/z", 6, "node-b"}};
	check_table(h4, 2, w4, 2);

	sync_state_free(&a);
	sync_state_free(&b);
	sync_state_free(&c);
	sync_state_free(&dd);
	sync_state_free(&e);
}

/* ------------------------------------------------------------ TCP */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct side {
	const char *name;
	struct sync_state state;
	struct sync_state got;
	int ngot;
	const char *peer;
};

static bool side_is_member(void *ctx, const char *name)
{
	struct side *s = ctx;
	return strcmp(name, s->peer) == 0;
}

static const struct sync_state *side_local(void *ctx)
{
	return &((struct side *)ctx)->state;
}

static void side_on_state(void *ctx, const char *name, struct sync_state *st)
{
	struct side *s = ctx;
	assert_string_equal(name, s->peer);
	sync_state_free(&s->got);
	s->got = *st;
	memset(st, 0, sizeof(*st));
	s->ngot++;
}

static struct sync_io *side_io(struct ev_loop *loop, struct side *s, const uint8_t *k,
			       size_t klen, uint32_t ip, uint16_t port)
{
	struct ip_addr lo = ip_v4(ip);
	struct sync_io_config c = {.name = s->name, .port = port, .bind = &lo, .key = k,
				   .key_len = klen, .is_member = side_is_member,
				   .local = side_local, .on_state = side_on_state, .ctx = s};
	char why[256];
	struct sync_io *io = sync_io_new(loop, &c, why, sizeof(why));
	if (!io)
		fail_msg("%s", why);
	return io;
}

static void run_until(struct ev_loop *loop, double secs, int *count, int want)
{
	double end = now_s() + secs;
	while (*count < want && now_s() < end)
		ev_run(loop, EVRUN_ONCE);
}

static void test_tcp_pull(void **st)
{
	(void)st;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct side a = {.name = "a", .peer = "b"}, b = {.name = "b", .peer = "a"};
	a.state = make_state(100000, true);
	b.state = make_state(3, false);
	/* Both listen on one port, as the daemon's members do on the
	 * member port, at two loopback addresses. */
	struct sync_io *ia = side_io(loop, &a, key, KEYLEN, 0x7f000001, 0);
	struct sync_io *ib = side_io(loop, &b, key, KEYLEN, 0x7f000002, sync_io_port(ia));
	struct member_addr to_a = {.ip = ip_v4(0x7f000001), .port = sync_io_port(ia)};
	double t0 = now_s();
	/* b pulls a's 100,000 Services. */
	sync_io_pull(ib, "a", &to_a);
	run_until(loop, 20, &b.ngot, 1);
	assert_int_equal(b.ngot, 1);
	same_state(&a.state, &b.got);
	print_message("pulled 100,000 Services in %.0f ms\n", (now_s() - t0) * 1e3);
	/* a pulls b (at 127.0.0.2, the same port). */
	struct member_addr b_addr = {.ip = ip_v4(0x7f000002), .port = sync_io_port(ia)};
	sync_io_pull(ia, "b", &b_addr);
	run_until(loop, 5, &a.ngot, 1);
	assert_int_equal(a.ngot, 1);
	same_state(&b.state, &a.got);

	/* A change, pulled again (after the minimum gap). */
	b.state.entries[0].stamp = 42;
	b.state.digest = sync_state_digest(&b.state);
	sync_io_pull(ia, "b", &b_addr);
	run_until(loop, 5, &a.ngot, 2);
	assert_int_equal(a.ngot, 2);
	assert_int_equal(a.got.entries[0].stamp, 42);

	json_t *js = sync_io_status_json(ia);
	assert_true(json_integer_value(json_object_get(js, "served")) >= 1);
	assert_true(json_integer_value(json_object_get(js, "pulls")) == 2);
	json_decref(js);

	/* A node with another key: its pull is refused, nothing arrives. */
	sync_io_free(ib);
	struct side c = {.name = "b", .peer = "a"};
	c.state = make_state(1, true);
	struct sync_io *ic = side_io(loop, &c, (const uint8_t *)"wrong", 5, 0x7f000002,
				     sync_io_port(ia));
	js = sync_io_status_json(ia);
	json_int_t refused = json_integer_value(json_object_get(js, "refused"));
	json_decref(js);
	sync_io_pull(ic, "a", &to_a);
	double end = now_s() + 5;
	for (;;) {
		js = sync_io_status_json(ia);
		json_int_t r = json_integer_value(json_object_get(js, "refused"));
		json_decref(js);
		if (r > refused || now_s() > end)
			break;
		ev_run(loop, EVRUN_ONCE);
	}
	js = sync_io_status_json(ia);
	assert_true(json_integer_value(json_object_get(js, "refused")) > refused);
	json_decref(js);
	/* ... and the puller records an error, no state. */
	end = now_s() + 5;
	for (;;) {
		js = sync_io_status_json(ic);
		json_int_t e = json_integer_value(json_object_get(js, "pull_errors"));
		json_decref(js);
		if (e > 0 || now_s() > end)
			break;
		ev_run(loop, EVRUN_ONCE);
	}
	assert_int_equal(c.ngot, 0);

	sync_io_free(ic);
	sync_io_free(ia);
	sync_state_free(&a.state);
	sync_state_free(&a.got);
	sync_state_free(&b.state);
	sync_state_free(&b.got);
	sync_state_free(&c.state);
	sync_state_free(&c.got);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_pull_bytes),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_header_digest),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_tcp_pull),
	};
	return test_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
