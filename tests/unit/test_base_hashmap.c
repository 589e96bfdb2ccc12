/* Unit tests for the hash map (base/hashmap.h): tables of operations with
 * their expected results, and seeded random sequences checked step by step
 * against a plain array searched linearly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/hashmap.h"

/* --- table-driven --- */

enum op { PUT, GET, DEL, COUNT };

struct step {
	enum op op;
	const char *key;
	size_t len;        /* 0: strlen(key) */
	intptr_t value;    /* PUT: value put; GET/DEL: expected value, or 0 when absent */
	bool expect;       /* PUT: replaced; GET/DEL: found */
	size_t count;      /* COUNT: expected count */
};

static void *V(intptr_t v)
{
	return (void *)v;
}

static void run_steps(struct hashmap *m, const struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		size_t len = s->len ? s->len : (s->key ? strlen(s->key) : 0);
		void *v = NULL;
		switch (s->op) {
		case PUT:
			assert_int_equal(hashmap_put(m, s->key, len, V(s->value), &v), s->expect);
			break;
		case GET:
			assert_int_equal(hashmap_find(m, s->key, len, &v), s->expect);
			if (s->expect)
				assert_ptr_equal(v, V(s->value));
			assert_ptr_equal(hashmap_get(m, s->key, len), s->expect ? V(s->value) : NULL);
			break;
		case DEL:
			assert_int_equal(hashmap_del(m, s->key, len, &v), s->expect);
			if (s->expect)
				assert_ptr_equal(v, V(s->value));
			break;
		case COUNT:
			assert_int_equal(hashmap_count(m), s->count);
			break;
		}
	}
}

static const struct step basic[] = {
	{ COUNT, .count = 0 },
	{ GET, "a", 0, 0, false, 0 },
	{ DEL, "a", 0, 0, false, 0 },
	{ PUT, "a", 0, 1, false, 0 },
	{ PUT, "b", 0, 2, false, 0 },
	{ PUT, "", 0, 3, false, 0 },          /* the empty key is a key */
	{ COUNT, .count = 3 },
	{ GET, "a", 0, 1, true, 0 },
	{ GET, "b", 0, 2, true, 0 },
	{ GET, "", 0, 3, true, 0 },
	{ GET, "ab", 0, 0, false, 0 },
	{ PUT, "a", 0, 4, true, 0 },          /* replace */
	{ GET, "a", 0, 4, true, 0 },
	{ COUNT, .count = 3 },
	{ DEL, "a", 0, 4, true, 0 },
	{ DEL, "a", 0, 0, false, 0 },
	{ GET, "a", 0, 0, false, 0 },
	{ GET, "b", 0, 2, true, 0 },
	{ COUNT, .count = 2 },
	/* Keys are bytes: "x\0y" and "x\0z" and "x" differ. */
	{ PUT, "x\0y", 3, 5, false, 0 },
	{ PUT, "x\0z", 3, 6, false, 0 },
	{ PUT, "x", 1, 7, false, 0 },
	{ GET, "x\0y", 3, 5, true, 0 },
	{ GET, "x\0z", 3, 6, true, 0 },
	{ GET, "x", 1, 7, true, 0 },
	{ DEL, "x\0y", 3, 5, true, 0 },
	{ GET, "x\0z", 3, 6, true, 0 },
	{ COUNT, .count = 4 },
	/* A NULL value is stored and found (hashmap_get cannot tell). */
	{ PUT, "null", 0, 0, false, 0 },
	{ GET, "null", 0, 0, true, 0 },
};

static void test_table_borrowed(void **state)
{
	struct hashmap m;
	hashmap_init(&m, false);
	run_steps(&m, basic, sizeof(basic) / sizeof(basic[0]));
	hashmap_clear(&m);
	assert_int_equal(hashmap_count(&m), 0);
	assert_null(hashmap_get_str(&m, "b"));
	/* Usable again after a clear. */
	assert_false(hashmap_put_str(&m, "b", V(9), NULL));
	assert_ptr_equal(hashmap_get_str(&m, "b"), V(9));
	hashmap_clear(&m);
}

static void test_table_copied(void **state)
{
	struct hashmap m;
	hashmap_init(&m, true);
	run_steps(&m, basic, sizeof(basic) / sizeof(basic[0]));
	/* The map's own copy: the caller's buffer may change. */
	char buf[16];
	strcpy(buf, "temp");
	assert_false(hashmap_put_str(&m, buf, V(42), NULL));
	strcpy(buf, "gone");
	assert_ptr_equal(hashmap_get_str(&m, "temp"), V(42));
	assert_null(hashmap_get_str(&m, "gone"));
	assert_true(hashmap_del_str(&m, "temp", NULL));
	hashmap_clear(&m);
}

static void test_replace_moves_borrowed_key(void **state)
{
	struct hashmap m;
	hashmap_init(&m, false);
	char *k1 = strdup("key"), *k2 = strdup("key");
	void *old = NULL;
	assert_false(hashmap_put_str(&m, k1, V(1), NULL));
	assert_true(hashmap_put_str(&m, k2, V(2), &old));
	assert_ptr_equal(old, V(1));
	free(k1);   /* the map now points at k2 */
	struct hashmap_iter it;
	hashmap_iter_init(&it, &m);
	assert_true(hashmap_iter_next(&it));
	assert_ptr_equal(it.key, k2);
	assert_false(hashmap_iter_next(&it));
	hashmap_clear(&m);
	free(k2);
}

/* --- randomized against a reference --- */

/*
 * Keys are the strings of length 0..6 over the four bytes 'a', 'b', '/'
 * and NUL (5461 of them), numbered so that the reference is a plain array
 * indexed by that number: a key comes back often (replacements, deletions
 * that hit) and contains NUL bytes.
 */
#define KEY_MAXLEN 6
#define NKEYS 5461   /* 4^0 + 4^1 + ... + 4^6 */

static const char alphabet[4] = { 'a', 'b', '/', '\0' };

static size_t key_of(size_t id, char *k)
{
	size_t len = 0, first = 0, span = 1;
	while (id >= first + span) {
		first += span;
		span *= 4;
		len++;
	}
	size_t x = id - first;
	for (size_t i = 0; i < len; i++, x /= 4)
		k[i] = alphabet[x % 4];
	return len;
}

static size_t digit_of(char c)
{
	for (size_t d = 0; d < 4; d++)
		if (alphabet[d] == c)
			return d;
	fail_msg("byte %d is not in the key alphabet", c);
	return 0;
}

static size_t id_of(const char *k, size_t len)
{
	size_t first = 0, span = 1;
	for (size_t i = 0; i < len; i++) {
		first += span;
		span *= 4;
	}
	size_t x = 0;
	for (size_t i = len; i-- > 0;)
		x = x * 4 + digit_of(k[i]);
	return first + x;
}

struct ref {
	size_t n;
	bool present[NKEYS];
	intptr_t vals[NKEYS];
};

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: reproducible from the seed, independent of libc. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void check_same(const struct hashmap *m, const struct ref *r, size_t universe)
{
	assert_int_equal(hashmap_count(m), r->n);
	for (size_t id = 0; id < universe; id++) {
		char k[KEY_MAXLEN];
		size_t len = key_of(id, k);
		void *v = NULL;
		assert_int_equal(hashmap_find(m, k, len, &v), r->present[id]);
		if (r->present[id])
			assert_ptr_equal(v, V(r->vals[id]));
	}
	/* Iteration sees each entry once. */
	static bool seen[NKEYS];
	memset(seen, 0, sizeof(seen));
	size_t nseen = 0;
	struct hashmap_iter it;
	hashmap_iter_init(&it, m);
	while (hashmap_iter_next(&it)) {
		size_t id = id_of(it.key, it.len);
		assert_true(r->present[id]);
		assert_false(seen[id]);
		seen[id] = true;
		assert_ptr_equal(it.value, V(r->vals[id]));
		nseen++;
	}
	assert_int_equal(nseen, r->n);
}

static void random_run(uint64_t seed, bool copy_keys, size_t steps, size_t universe,
		       size_t check_every)
{
	struct hashmap m;
	hashmap_init(&m, copy_keys);
	struct ref *r = calloc(1, sizeof(*r));
	/* Borrowed keys must stay while their entry does: one fixed copy of
	 * every key. */
	char (*keys)[KEY_MAXLEN] = calloc(NKEYS, sizeof(*keys));
	size_t lens[NKEYS];
	for (size_t id = 0; id < NKEYS; id++)
		lens[id] = key_of(id, keys[id]);
	uint64_t rng = seed;

	for (size_t s = 0; s < steps; s++) {
		size_t id = (size_t)(rng_next(&rng) % universe);
		char k[KEY_MAXLEN];
		size_t len = key_of(id, k);   /* lookups use another copy */
		uint64_t what = rng_next(&rng) % 20;
		void *v = NULL;
		if (what < 10) {
			intptr_t val = (intptr_t)(s + 1);
			bool replaced = hashmap_put(&m, keys[id], lens[id], V(val), &v);
			assert_int_equal(replaced, r->present[id]);
			if (replaced)
				assert_ptr_equal(v, V(r->vals[id]));
			else
				r->n++;
			r->present[id] = true;
			r->vals[id] = val;
		} else if (what < 16) {
			bool found = hashmap_del(&m, k, len, &v);
			assert_int_equal(found, r->present[id]);
			if (found) {
				assert_ptr_equal(v, V(r->vals[id]));
				r->present[id] = false;
				r->n--;
			}
		} else if (what < 19) {
			bool found = hashmap_find(&m, k, len, &v);
			assert_int_equal(found, r->present[id]);
			if (found)
				assert_ptr_equal(v, V(r->vals[id]));
		} else {
			/* Delete about a third of the entries while iterating. */
			struct hashmap_iter it;
			size_t seen = 0, n0 = r->n;
			hashmap_iter_init(&it, &m);
			while (hashmap_iter_next(&it)) {
				seen++;
				size_t j = id_of(it.key, it.len);
				assert_true(r->present[j]);
				if (rng_next(&rng) % 3 == 0) {
					hashmap_iter_del(&it);
					r->present[j] = false;
					r->n--;
				}
			}
			assert_int_equal(seen, n0);
		}
		if (s % check_every == 0 || s + 1 == steps)
			check_same(&m, r, universe);
	}
	hashmap_clear(&m);
	free(keys);
	free(r);
}

static void test_key_numbering(void **state)
{
	for (size_t id = 0; id < NKEYS; id++) {
		char k[KEY_MAXLEN];
		size_t len = key_of(id, k);
		assert_int_equal(id_of(k, len), id);
	}
}

static void test_random_small(void **state)
{
	/* Few distinct keys: the table stays small and clusters wrap. */
	for (uint64_t seed = 1; seed <= 20; seed++)
		random_run(seed * 0x9e3779b97f4a7c15ull, seed & 1, 4000, 40, 1);
}

static void test_random_large(void **state)
{
	/* Every key: the table grows to thousands of entries and shrinks
	 * again by deletion. */
	for (uint64_t seed = 1; seed <= 4; seed++)
		random_run(seed * 0xbf58476d1ce4e5b9ull, seed & 1, 60000, NKEYS, 997);
}

static void test_many_and_iterate_delete_all(void **state)
{
	struct hashmap m;
	hashmap_init(&m, true);
	char k[32];
	for (int i = 0; i < 100000; i++) {
		snprintf(k, sizeof(k), "ns-%d/svc-%d", i % 97, i);
		assert_false(hashmap_put_str(&m, k, V(i + 1), NULL));
	}
	assert_int_equal(hashmap_count(&m), 100000);
	for (int i = 0; i < 100000; i += 7) {
		snprintf(k, sizeof(k), "ns-%d/svc-%d", i % 97, i);
		assert_ptr_equal(hashmap_get_str(&m, k), V(i + 1));
	}
	size_t seen = 0;
	struct hashmap_iter it;
	hashmap_iter_init(&it, &m);
	while (hashmap_iter_next(&it)) {
		assert_int_equal(strlen(it.key), it.len);   /* copies are NUL-terminated */
		hashmap_iter_del(&it);
		seen++;
	}
	assert_int_equal(seen, 100000);
	assert_int_equal(hashmap_count(&m), 0);
	hashmap_clear(&m);
}

static void test_hash_is_fnv1a_mixed(void **state)
{
	/* Equal bytes, equal hash; the length is part of the key. */
	assert_true(hashmap_hash("abc", 3) == hashmap_hash("abcd", 3));
	assert_true(hashmap_hash("abc", 3) != hashmap_hash("abc", 4));
	assert_true(hashmap_hash("", 0) != hashmap_hash("a", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_borrowed),
		cmocka_unit_test(test_table_copied),
		cmocka_unit_test(test_replace_moves_borrowed_key),
		cmocka_unit_test(test_key_numbering),
		cmocka_unit_test(test_random_small),
		cmocka_unit_test(test_random_large),
		cmocka_unit_test(test_many_and_iterate_delete_all),
		cmocka_unit_test(test_hash_is_fnv1a_mixed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
