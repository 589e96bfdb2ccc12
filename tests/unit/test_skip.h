/*
 * Skipping unit tests that cannot run here (not root, no network
 * namespaces, no IPv6 loopback, a tool or a reference file missing).
 *
 * A skip must not look like a pass: a test program whose tests, or some
 * of them, could not run exits with TEST_SKIP_EXIT (77), which
 * CMakeLists.txt declares as SKIP_RETURN_CODE, so ctest reports it as
 * "Skipped".  A failure still wins: a program with a failed test exits
 * non-zero otherwise and ctest reports it as failed.
 *
 * Under CI (the environment variable CI set and not empty) nothing may be
 * skipped: CI runs as root with every tool installed, so a test that
 * cannot run there is broken; the skip becomes a failure, as in the
 * pytest suites (tests/cli/conftest.py).
 *
 * In a cmocka test:       TEST_SKIP("arping not installed");
 * For a whole program:    return test_skip_program("test_x", "needs root");
 * At the end of main():   return test_skip_status(cmocka_run_group_tests(...));
 */
#ifndef IRONLB_TESTS_UNIT_TEST_SKIP_H
#define IRONLB_TESTS_UNIT_TEST_SKIP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define TEST_SKIP_EXIT 77

static inline bool test_under_ci(void)
{
	const char *ci = getenv("CI");
	return ci && *ci;
}

/* How many test cases of this program skipped themselves. */
static inline int *test_skip_count(void)
{
	static int n;
	return &n;
}

/* Skip the rest of the current cmocka test case (why: a printf format),
 * or fail it under CI. */
#define TEST_SKIP(fmt, ...)                                                            \
	do {                                                                           \
		if (test_under_ci())                                                   \
			fail_msg("CI is set, where every test must run, but: " fmt,    \
				 ##__VA_ARGS__);                                       \
		print_message("skipping: " fmt "\n", ##__VA_ARGS__);                   \
		(*test_skip_count())++;                                                \
		skip();                                                                \
	} while (0)

/* The whole program cannot run: says why; the status main() returns. */
static inline int test_skip_program(const char *prog, const char *why)
{
	if (test_under_ci()) {
		fprintf(stderr, "%s: FAILED: CI is set, where every test must run, but: %s\n",
			prog, why);
		return 1;
	}
	printf("%s: skipped: %s\n", prog, why);
	return TEST_SKIP_EXIT;
}

/* The status main() returns after cmocka_run_group_tests() returned
 * `failed`: the failures, else TEST_SKIP_EXIT when a case was skipped. */
static inline int test_skip_status(int failed)
{
	if (failed)
		return 1;   /* not a count: 77 failures must not read as skipped */
	return *test_skip_count() ? TEST_SKIP_EXIT : 0;
}

#endif
