/*
 * ipset: ordered sets of u128 values kept as merged runs (src/alloc/ipset.h).
 *
 * Tables of operations with the runs expected afterwards, lookups at the
 * edges of the u128 space, and a randomised comparison against a plain
 * bitmap over a small universe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc/ipset.h"

#define MAX128 (~(u128)0)

/* "lo-hi lo-hi ..." of the set, small values only. */
static void runs_text(const struct ipset *s, char *buf, size_t len)
{
	buf[0] = '\0';
	u128 v = 0, lo, hi;
	size_t off = 0;
	while (ipset_run_from(s, v, &lo, &hi) == 0) {
		off += (size_t)snprintf(buf + off, len - off, "%s%llu-%llu", off ? " " : "",
					(unsigned long long)lo, (unsigned long long)hi);
		if (hi == MAX128)
			break;
		v = hi + 1;
	}
}

struct op {
	char kind;        /* '+' add, '-' remove */
	unsigned lo, hi;
};

static const struct {
	const char *name;
	struct op ops[6];
	const char *runs;
	unsigned count;
} op_cases[] = {
	{"empty", {{0}}, "", 0},
	{"one value", {{'+', 5, 5}}, "5-5", 1},
	{"adjacent merge right", {{'+', 5, 5}, {'+', 6, 6}}, "5-6", 2},
	{"adjacent merge left", {{'+', 6, 6}, {'+', 5, 5}}, "5-6", 2},
	{"gap stays", {{'+', 5, 5}, {'+', 7, 7}}, "5-5 7-7", 2},
	{"fill gap merges three", {{'+', 5, 5}, {'+', 7, 7}, {'+', 6, 6}}, "5-7", 3},
	{"overlap", {{'+', 1, 10}, {'+', 5, 20}}, "1-20", 20},
	{"swallow many", {{'+', 2, 3}, {'+', 6, 7}, {'+', 10, 11}, {'+', 0, 20}}, "0-20", 21},
	{"add present", {{'+', 1, 10}, {'+', 3, 4}}, "1-10", 10},
	{"remove middle splits", {{'+', 1, 10}, {'-', 4, 6}}, "1-3 7-10", 7},
	{"remove left edge", {{'+', 1, 10}, {'-', 0, 1}}, "2-10", 9},
	{"remove right edge", {{'+', 1, 10}, {'-', 10, 30}}, "1-9", 9},
	{"remove across runs",
	 {{'+', 1, 3}, {'+', 5, 7}, {'+', 9, 11}, {'-', 2, 10}},
	 "1-1 11-11",
	 2},
	{"remove absent", {{'+', 1, 3}, {'-', 5, 9}}, "1-3", 3},
	{"remove all", {{'+', 1, 3}, {'+', 5, 7}, {'-', 0, 100}}, "", 0},
	{"remove one then add back", {{'+', 0, 9}, {'-', 4, 4}, {'+', 4, 4}}, "0-9", 10},
};

static void test_ops_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(op_cases) / sizeof(op_cases[0]); i++) {
		struct ipset s = IPSET_INIT;
		for (size_t j = 0; j < 6 && op_cases[i].ops[j].kind; j++) {
			const struct op *o = &op_cases[i].ops[j];
			if (o->kind == '+')
				ipset_add(&s, o->lo, o->hi);
			else
				ipset_remove(&s, o->lo, o->hi);
		}
		char buf[256];
		runs_text(&s, buf, sizeof(buf));
		u128 c;
		assert_int_equal(ipset_count(&s, &c), 0);
		if (strcmp(buf, op_cases[i].runs) != 0 || c != op_cases[i].count)
			fail_msg("%s: runs \"%s\" count %llu, want \"%s\" %u", op_cases[i].name,
				 buf, (unsigned long long)c, op_cases[i].runs, op_cases[i].count);
		ipset_clear(&s);
	}
}

static const struct {
	const char *name;
	unsigned lo, hi;   /* query */
	int free_rc;
	unsigned free_v;
	int member_rc;
	unsigned member_v;
} lookup_cases[] = {
	/* set: 10-19 30-39 */
	{"before everything", 0, 5, 0, 0, -1, 0},
	{"start inside run", 10, 50, 0, 20, 0, 10},
	{"start at run end", 19, 50, 0, 20, 0, 19},
	{"bounded inside run", 10, 19, -1, 0, 0, 10},
	{"gap", 20, 29, 0, 20, -1, 0},
	{"gap then run", 25, 35, 0, 25, 0, 30},
	{"second run to end", 30, 39, -1, 0, 0, 30},
	{"after everything", 40, 100, 0, 40, -1, 0},
	{"empty query", 9, 8, -1, 0, -1, 0},
};

static void test_lookup_table(void **state)
{
	(void)state;
	struct ipset s = IPSET_INIT;
	ipset_add(&s, 10, 19);
	ipset_add(&s, 30, 39);
	for (size_t i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
		u128 v = 12345;
		int rc = ipset_next_free(&s, lookup_cases[i].lo, lookup_cases[i].hi, &v);
		if (rc != lookup_cases[i].free_rc || (rc == 0 && v != lookup_cases[i].free_v))
			fail_msg("%s: next_free rc %d v %llu", lookup_cases[i].name, rc,
				 (unsigned long long)v);
		rc = ipset_next_member(&s, lookup_cases[i].lo, lookup_cases[i].hi, &v);
		if (rc != lookup_cases[i].member_rc || (rc == 0 && v != lookup_cases[i].member_v))
			fail_msg("%s: next_member rc %d v %llu", lookup_cases[i].name, rc,
				 (unsigned long long)v);
	}
	assert_true(ipset_contains(&s, 10));
	assert_true(ipset_contains(&s, 39));
	assert_false(ipset_contains(&s, 20));
	assert_false(ipset_contains(&s, 9));
	assert_int_equal(ipset_nruns(&s), 2);
	ipset_clear(&s);
	assert_int_equal(ipset_nruns(&s), 0);
}

static void test_edges_of_space(void **state)
{
	(void)state;
	struct ipset s = IPSET_INIT;
	u128 v, c;

	/* The whole space: one run whose size does not fit. */
	ipset_add(&s, 0, MAX128);
	assert_int_equal(ipset_nruns(&s), 1);
	assert_int_equal(ipset_count(&s, &c), -1);
	assert_int_equal(ipset_next_free(&s, 0, MAX128, &v), -1);
	assert_true(ipset_contains(&s, MAX128));

	/* Punch out the last value and the first one. */
	ipset_remove(&s, MAX128, MAX128);
	assert_int_equal(ipset_count(&s, &c), 0);
	assert_true(c == MAX128);
	assert_int_equal(ipset_next_free(&s, 0, MAX128, &v), 0);
	assert_true(v == MAX128);
	ipset_remove(&s, 0, 0);
	assert_int_equal(ipset_next_free(&s, 0, MAX128, &v), 0);
	assert_true(v == 0);
	assert_int_equal(ipset_next_member(&s, 0, MAX128, &v), 0);
	assert_true(v == 1);

	/* Adding them back merges everything into one run again. */
	ipset_add(&s, MAX128, MAX128);
	ipset_add(&s, 0, 0);
	assert_int_equal(ipset_nruns(&s), 1);
	assert_int_equal(ipset_count(&s, &c), -1);
	ipset_clear(&s);

	/* Values near the top of the IPv6 space, one by one. */
	for (u128 x = MAX128 - 9;; x++) {
		ipset_add(&s, x, x);
		if (x == MAX128)
			break;
	}
	assert_int_equal(ipset_nruns(&s), 1);
	assert_int_equal(ipset_count(&s, &c), 0);
	assert_true(c == 10);
	assert_int_equal(ipset_next_free(&s, MAX128 - 20, MAX128, &v), 0);
	assert_true(v == MAX128 - 20);
	assert_int_equal(ipset_next_free(&s, MAX128 - 9, MAX128, &v), -1);
	ipset_clear(&s);

	/* A /64 worth of values is one run: two 64-bit halves. */
	u128 base = (u128)0x20010db800010000ULL << 64;
	ipset_add(&s, base, base + (((u128)1 << 64) - 1));
	assert_int_equal(ipset_count(&s, &c), 0);
	assert_true(c == (u128)1 << 64);
	ipset_clear(&s);
}

/* Random adds and removes over [0, N) compared with a bitmap after each. */
#define N 512

static void check_against_bitmap(const struct ipset *s, const unsigned char *bm)
{
	/* runs */
	size_t runs = 0, count = 0;
	for (unsigned i = 0; i < N; i++) {
		count += bm[i];
		if (bm[i] && (i == 0 || !bm[i - 1]))
			runs++;
	}
	assert_int_equal(ipset_nruns(s), runs);
	u128 c;
	assert_int_equal(ipset_count(s, &c), 0);
	assert_true(c == count);
	u128 v = 0, lo, hi;
	while (ipset_run_from(s, v, &lo, &hi) == 0) {
		assert_true(lo <= hi && hi < N);
		for (u128 x = lo; x <= hi; x++)
			assert_true(bm[x]);
		if (lo > 0)
			assert_false(bm[lo - 1]);
		if (hi + 1 < N)
			assert_false(bm[hi + 1]);
		v = hi + 1;
	}
	/* lookups at a few random windows */
	for (int k = 0; k < 8; k++) {
		unsigned a = (unsigned)rand() % N, b = (unsigned)rand() % N;
		if (a > b) {
			unsigned t = a;
			a = b;
			b = t;
		}
		int want_free = -1, want_member = -1;
		for (unsigned x = a; x <= b; x++) {
			if (!bm[x] && want_free < 0)
				want_free = (int)x;
			if (bm[x] && want_member < 0)
				want_member = (int)x;
		}
		u128 out;
		int rc = ipset_next_free(s, a, b, &out);
		assert_int_equal(rc, want_free < 0 ? -1 : 0);
		if (rc == 0)
			assert_true(out == (u128)want_free);
		rc = ipset_next_member(s, a, b, &out);
		assert_int_equal(rc, want_member < 0 ? -1 : 0);
		if (rc == 0)
			assert_true(out == (u128)want_member);
		assert_int_equal(ipset_contains(s, a), bm[a]);
	}
}

static void test_random_vs_bitmap(void **state)
{
	(void)state;
	srand(12345);
	for (int round = 0; round < 20; round++) {
		struct ipset s = IPSET_INIT;
		unsigned char bm[N] = {0};
		for (int step = 0; step < 400; step++) {
			unsigned lo = (unsigned)rand() % N;
			/* mostly short intervals, sometimes long ones */
			unsigned len = rand() % 8 ? (unsigned)rand() % 4 : (unsigned)rand() % 64;
			unsigned hi = lo + len < N ? lo + len : N - 1;
			bool add = rand() % 3 != 0;
			if (add)
				ipset_add(&s, lo, hi);
			else
				ipset_remove(&s, lo, hi);
			for (unsigned x = lo; x <= hi; x++)
				bm[x] = add;
			check_against_bitmap(&s, bm);
		}
		ipset_clear(&s);
	}
}

/* Many separate runs stay fast: the tree is balanced whatever the order of
 * insertion. */
static void test_many_runs(void **state)
{
	(void)state;
	struct ipset s = IPSET_INIT;
	const unsigned n = 200000;
	for (unsigned i = 0; i < n; i++)
		ipset_add(&s, 2 * (u128)i, 2 * (u128)i);          /* ascending */
	for (unsigned i = n; i > 0; i--) {
		u128 v = 4 * (u128)n + 2 * (u128)i; /* descending */
		ipset_add(&s, v, v);
	}
	assert_int_equal(ipset_nruns(&s), 2 * n);
	u128 v;
	assert_int_equal(ipset_next_free(&s, 0, 10, &v), 0);
	assert_true(v == 1);
	/* Filling the gaps merges everything below 2n into one run. */
	for (unsigned i = 0; i < n; i++)
		ipset_add(&s, 2 * (u128)i + 1, 2 * (u128)i + 1);
	assert_int_equal(ipset_nruns(&s), n + 1);
	assert_int_equal(ipset_next_free(&s, 0, 4 * (u128)n, &v), 0);
	assert_true(v == 2 * (u128)n);
	ipset_clear(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_table),
		cmocka_unit_test(test_lookup_table),
		cmocka_unit_test(test_edges_of_space),
		cmocka_unit_test(test_random_vs_bitmap),
		cmocka_unit_test(test_many_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
