/* Unit tests for the slab (base/slab.h): records are zeroed, aligned and
 * distinct; seeded random sequences of allocations and frees keep every
 * live record's contents; pages go back when their records are freed
 * (checked when the slab uses pages, i.e. not under AddressSanitizer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/slab.h"

#if defined(__SANITIZE_ADDRESS__)
#define PAGES_CHECKED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PAGES_CHECKED 0
#endif
#endif
#ifndef PAGES_CHECKED
#define PAGES_CHECKED 1
#endif

static void test_zeroed_aligned_distinct(void **state)
{
	(void)state;
	static const size_t sizes[] = { 1, 8, 12, 40, 48, 120, 128, 200, 4096 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct slab s;
		slab_init(&s, sizes[k]);
		size_t n = 3000;
		unsigned char **v = calloc(n, sizeof(*v));
		for (size_t i = 0; i < n; i++) {
			v[i] = slab_alloc(&s);
			for (size_t b = 0; b < sizes[k]; b++)
				assert_int_equal(v[i][b], 0);
			assert_int_equal((uintptr_t)v[i] % 8, 0);
			if (sizes[k] % 16 == 0)
				assert_int_equal((uintptr_t)v[i] % 16, 0);
			memset(v[i], 0xa5, sizes[k]);
		}
		assert_int_equal(s.nlive, n);
		/* Freed and allocated again: zeroed again. */
		for (size_t i = 0; i < n; i += 2) {
			slab_free(&s, v[i]);
			v[i] = slab_alloc(&s);
			for (size_t b = 0; b < sizes[k]; b++)
				assert_int_equal(v[i][b], 0);
			memset(v[i], 0xa5, sizes[k]);
		}
		for (size_t i = 0; i < n; i++)
			for (size_t b = 0; b < sizes[k]; b++)
				assert_int_equal(v[i][b], 0xa5);
		for (size_t i = 0; i < n; i++)
			slab_free(&s, v[i]);
		assert_int_equal(s.nlive, 0);
		if (PAGES_CHECKED)
			assert_true(s.npages <= 1);
		slab_destroy(&s);
		assert_int_equal(s.npages, 0);
		free(v);
	}
}

/* Each live record holds its own index and a fill of it; frees and
 * allocations at random, checked against the expected contents. */
static void test_random_sequences(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 20; seed++) {
		srand(seed);
		size_t size = 8 + (size_t)(rand() % 200);
		struct slab s;
		slab_init(&s, size);
		size_t cap = 5000, n = 0;
		unsigned char **v = calloc(cap, sizeof(*v));
		uint32_t *tag = calloc(cap, sizeof(*tag));
		uint32_t next = 1;
		for (int step = 0; step < 20000; step++) {
			bool alloc = n == 0 || (n < cap && rand() % 100 < 55);
			if (alloc) {
				v[n] = slab_alloc(&s);
				tag[n] = next++;
				memset(v[n], (int)(tag[n] & 0xff), size);
				memcpy(v[n], &tag[n], sizeof(tag[n]));
				n++;
			} else {
				size_t i = (size_t)rand() % n;
				uint32_t t;
				memcpy(&t, v[i], sizeof(t));
				assert_int_equal(t, tag[i]);
				for (size_t b = sizeof(t); b < size; b++)
					assert_int_equal(v[i][b], tag[i] & 0xff);
				slab_free(&s, v[i]);
				v[i] = v[n - 1];
				tag[i] = tag[n - 1];
				n--;
			}
			assert_int_equal(s.nlive, n);
		}
		for (size_t i = 0; i < n; i++) {
			uint32_t t;
			memcpy(&t, v[i], sizeof(t));
			assert_int_equal(t, tag[i]);
			slab_free(&s, v[i]);
		}
		if (PAGES_CHECKED)
			assert_true(s.npages <= 1);
		slab_destroy(&s);
		free(v);
		free(tag);
	}
}

/* Pages follow the records alive: many records, then all but a few freed
 * from different pages. */
static void test_pages_follow_records(void **state)
{
	(void)state;
	struct slab s;
	slab_init(&s, 120);
	size_t n = 20000;
	void **v = calloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = slab_alloc(&s);
	size_t full = s.npages;
	if (PAGES_CHECKED) {
		/* 64 KiB pages of 120-byte records: about 545 a page. */
		assert_true(full >= n / 546 && full <= n / 500 + 1);
	}
	for (size_t i = 0; i < n; i++)
		if (i % 1000 != 0)
			slab_free(&s, v[i]);
	if (PAGES_CHECKED)
		assert_true(s.npages <= 21 + 1);
	for (size_t i = 0; i < n; i += 1000)
		slab_free(&s, v[i]);
	assert_int_equal(s.nlive, 0);
	slab_destroy(&s);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zeroed_aligned_distinct),
		cmocka_unit_test(test_random_sequences),
		cmocka_unit_test(test_pages_follow_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
