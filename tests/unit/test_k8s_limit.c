/*
 * The API client's rate limit and Retry-After: a token bucket driven by a
 * clock the test sets (burst, refill, waits, a clock going back, no
 * limit), Retry-After in its four forms and wrong ones, when an answer is
 * sent again and after how long, and the backoff of failed writes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "k8s/k8s_limit.h"

static void near(double got, double want)
{
	if (fabs(got - want) > 1e-9)
		fail_msg("got %.12g, want %.12g", got, want);
}

static void test_bucket_burst_then_qps(void **state)
{
	(void)state;
	struct k8s_bucket b;
	k8s_bucket_init(&b, 5, 10, 100.0);
	/* client-go's defaults: 10 at once, then one each 0.2 s */
	for (int i = 0; i < 10; i++)
		near(k8s_bucket_take(&b, 100.0), 0);
	near(k8s_bucket_take(&b, 100.0), 0.2);
	near(k8s_bucket_take(&b, 100.0), 0.2);   /* asking again takes nothing */
	near(k8s_bucket_take(&b, 100.1), 0.1);
	near(k8s_bucket_take(&b, 100.2), 0);
	near(k8s_bucket_take(&b, 100.2), 0.2);
	/* an idle minute fills it to the burst, not beyond */
	for (int i = 0; i < 10; i++)
		near(k8s_bucket_take(&b, 160.0), 0);
	near(k8s_bucket_take(&b, 160.0), 0.2);
}

static void test_bucket_clock_back_and_off(void **state)
{
	(void)state;
	struct k8s_bucket b;
	k8s_bucket_init(&b, 2, 1, 50.0);
	near(k8s_bucket_take(&b, 50.0), 0);
	near(k8s_bucket_take(&b, 40.0), 0.5);    /* back in time: nothing refilled */
	near(k8s_bucket_take(&b, 50.5), 0);
	/* burst 0 holds one token all the same */
	k8s_bucket_init(&b, 1, 0, 0.0);
	near(k8s_bucket_take(&b, 0.0), 0);
	near(k8s_bucket_take(&b, 0.0), 1.0);
	/* qps <= 0: no limit */
	k8s_bucket_init(&b, 0, 1, 0.0);
	for (int i = 0; i < 1000; i++)
		near(k8s_bucket_take(&b, 0.0), 0);
	k8s_bucket_init(&b, -1, 1, 0.0);
	near(k8s_bucket_take(&b, 0.0), 0);
	near(k8s_bucket_take(&b, 0.0), 0);
}

/* 1994-11-06T08:49:37Z, RFC 9110's example date */
#define EXAMPLE 784111777

static void test_retry_after_parse(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		time_t now;
		int rc;
		double seconds;
	} t[] = {
		{"1", 0, 0, 1},
		{"0", 0, 0, 0},
		{" 120 ", 0, 0, 120},
		{"120\r", 0, 0, 120},
		{"99999999999999999999", 0, 0, 1e12},   /* saturates */
		{"Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE - 30, 0, 30},
		{"Sunday, 06-Nov-94 08:49:37 GMT", EXAMPLE - 30, 0, 30},
		{"Sun Nov  6 08:49:37 1994", EXAMPLE - 30, 0, 30},
		{"Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE + 5, 0, 0},  /* in the past */
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0, 0, 0},
		{"Tue, 29 Feb 2028 23:59:59 GMT", 1835481599 - 2, 0, 2},  /* leap day */
		{"Mon, 07 Dec 2026 09:00:10 GMT", 1796634000, 0, 10},
		{"", 0, -1, 0},
		{"-1", 0, -1, 0},
		{"1.5", 0, -1, 0},
		{"12s", 0, -1, 0},
		{"soon", 0, -1, 0},
		{"Sun, 6 Nov 1994 08:49:37 GMT", 0, -1, 0},     /* day not two digits */
		{"Sun, 06 Nov 1994 08:49:37 UTC", 0, -1, 0},    /* GMT only */
		{"Sun, 06 Nox 1994 08:49:37 GMT", 0, -1, 0},
		{"Sun, 06 Nov 1994 24:49:37 GMT", 0, -1, 0},
		{"Sun, 06 Nov 1994 08:49:37 GMT trailing", 0, -1, 0},
		{"Sun, 32 Nov 1994 08:49:37 GMT", 0, -1, 0},
		{"Sun Nov 6 08:49:37 1994", 0, -1, 0},          /* asctime pads the day */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		double s = -7;
		int rc = k8s_retry_after_parse(t[i].value, t[i].now, &s);
		if (rc != t[i].rc)
			fail_msg("\"%s\": rc %d, want %d", t[i].value, rc, t[i].rc);
		if (rc == 0 && fabs(s - t[i].seconds) > 1e-9)
			fail_msg("\"%s\": %.12g s, want %.12g", t[i].value, s, t[i].seconds);
	}
	double s;
	assert_int_equal(k8s_retry_after_parse(NULL, 0, &s), -1);
}

static void test_retry_delay(void **state)
{
	(void)state;
	near(k8s_retry_delay(429, "1", 1, 0), 1);
	near(k8s_retry_delay(429, NULL, 1, 0), K8S_RETRY_AFTER_DEFAULT);
	near(k8s_retry_delay(429, "bad", 1, 0), K8S_RETRY_AFTER_DEFAULT);
	near(k8s_retry_delay(429, "3600", 1, 0), K8S_RETRY_AFTER_MAX);   /* capped */
	near(k8s_retry_delay(429, "Mon, 07 Dec 2026 09:00:10 GMT", 1, 1796634000), 10);
	near(k8s_retry_delay(503, "2", 1, 0), 2);
	near(k8s_retry_delay(503, NULL, 1, 0), -1);    /* 503 without a time: the caller's */
	near(k8s_retry_delay(500, "1", 1, 0), -1);
	near(k8s_retry_delay(409, "1", 1, 0), -1);
	near(k8s_retry_delay(200, "1", 1, 0), -1);
	near(k8s_retry_delay(429, "1", K8S_RETRY_MAX, 0), 1);
	near(k8s_retry_delay(429, "1", K8S_RETRY_MAX + 1, 0), -1);  /* bounded */
}

static void test_backoff(void **state)
{
	(void)state;
	struct k8s_backoff b;
	k8s_backoff_init(&b, 1, 30);
	near(k8s_backoff_failed(&b, 100.0), 1);
	/* the rest of the same pass's failures: the same wait */
	near(k8s_backoff_failed(&b, 100.1), 1);
	near(k8s_backoff_failed(&b, 100.9), 1);
	/* the retry failed again: twice as long, up to the cap */
	near(k8s_backoff_failed(&b, 101.05), 2);
	near(k8s_backoff_failed(&b, 103.1), 4);
	near(k8s_backoff_failed(&b, 107.2), 8);
	near(k8s_backoff_failed(&b, 115.3), 16);
	near(k8s_backoff_failed(&b, 131.4), 30);
	near(k8s_backoff_failed(&b, 161.5), 30);
	/* a success starts over */
	k8s_backoff_succeeded(&b);
	near(k8s_backoff_failed(&b, 200.0), 1);
	/* max below initial is initial */
	k8s_backoff_init(&b, 5, 1);
	near(k8s_backoff_failed(&b, 0), 5);
	near(k8s_backoff_failed(&b, 6), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_burst_then_qps),
		cmocka_unit_test(test_bucket_clock_back_and_off),
		cmocka_unit_test(test_retry_after_parse),
		cmocka_unit_test(test_retry_delay),
		cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
