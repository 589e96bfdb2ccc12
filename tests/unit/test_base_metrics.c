/*
 * Tests for src/base/metrics.c: value formatting and name validation as
 * tables; registries rendered and compared byte for byte with the expected
 * exposition text.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "base/metrics.h"

#define L(...) ((const char *const[]){ __VA_ARGS__ })
#define NONE ((const char *const *)NULL)

static const unsigned __int128 TWO53 = (unsigned __int128)1 << 53;
static const unsigned __int128 TWO64 = (unsigned __int128)1 << 64;

static char *render(const struct metrics_registry *reg)
{
	char *buf = NULL;
	size_t len = 0;

	metrics_render(reg, &buf, &len);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	return buf;
}

static void assert_render(const struct metrics_registry *reg, const char *want)
{
	char *got = render(reg);
	if (strcmp(got, want) != 0)
		fail_msg("rendered:\n%s\nexpected:\n%s", got, want);
	free(got);
}

static void test_format_double(void **state)
{
	static const struct {
		double v;
		const char *want;
	} rows[] = {
		{ 0, "0" },
		{ -0.0, "0" },
		{ 1, "1" },
		{ -1, "-1" },
		{ 42, "42" },
		{ 1e6, "1000000" },
		{ 0.1, "0.1" },
		{ 1.5, "1.5" },
		{ -2.25, "-2.25" },
		{ 123.456, "123.456" },
		{ 1.0 / 3, "0.3333333333333333" },
		{ 0.1 + 0.2, "0.30000000000000004" },
		{ 1e-7, "1e-07" },
		{ 9007199254740992.0, "9007199254740992" },   /* 2^53 */
		{ -9007199254740992.0, "-9007199254740992" },
		{ 18014398509481984.0, "18014398509481984" }, /* 2^54: %.17g stays fixed */
		{ 18446744073709551616.0, "1.8446744073709552e+19" }, /* 2^64 */
		{ 1e300, "1e+300" },
		{ INFINITY, "+Inf" },
		{ -INFINITY, "-Inf" },
		{ NAN, "NaN" },
	};
	char out[METRICS_VALUE_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		size_t n = metrics_format_double(out, rows[i].v);
		if (strcmp(out, rows[i].want) != 0 || n != strlen(rows[i].want))
			fail_msg("row %zu: got \"%s\" (%zu), want \"%s\"", i, out, n, rows[i].want);
	}
}

static void test_format_u128(void **state)
{
	static const struct {
		unsigned __int128 v;
		const char *want;
	} rows[] = {
		{ 0, "0" },
		{ 7, "7" },
		{ (unsigned __int128)1 << 53, "9007199254740992" },
		{ ((unsigned __int128)1 << 53) + 1, "9007199254740993" },
		{ (unsigned __int128)1 << 64, "18446744073709551616" },
		{ (unsigned __int128)1 << 96, "79228162514264337593543950336" },
		{ ~(unsigned __int128)0, "340282366920938463463374607431768211455" },
	};
	char out[METRICS_VALUE_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		metrics_format_u128(out, rows[i].v);
		if (strcmp(out, rows[i].want) != 0)
			fail_msg("row %zu: got \"%s\", want \"%s\"", i, out, rows[i].want);
	}
}

static void test_family_add_validation(void **state)
{
	static const struct {
		const char *name;
		const char *labels[4];
		int ok;
	} rows[] = {
		{ "metallb_bgp_session_up", { "peer" }, 1 },
		{ "ns:metric_total", { NULL }, 1 },
		{ "_underscore", { "_x", "y1" }, 1 },
		{ "", { NULL }, 0 },
		{ "1abc", { NULL }, 0 },
		{ "has-dash", { NULL }, 0 },
		{ "has space", { NULL }, 0 },
		{ "ok_name", { "1label" }, 0 },
		{ "ok_name", { "la:bel" }, 0 },
		{ "ok_name", { "__reserved" }, 0 },
		{ "ok_name", { "" }, 0 },
		{ "ok_name", { "pool", "pool" }, 0 },
		{ "dup", { NULL }, 1 },
		{ "dup", { "other" }, 0 }, /* same name as the row above */
	};
	struct metrics_registry *reg = metrics_registry_new();

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct metrics_family *f =
			metrics_family_add(reg, rows[i].name, "h", METRICS_GAUGE, rows[i].labels);
		if ((f != NULL) != rows[i].ok)
			fail_msg("row %zu (%s): got %s", i, rows[i].name, f ? "a family" : "NULL");
		if (f)
			assert_ptr_equal(metrics_family_find(reg, rows[i].name), f);
	}
	assert_null(metrics_family_find(reg, "nope"));
	metrics_registry_free(reg);
}

/* A registry like the daemon's, rendered byte for byte. */
static void test_render_basic(void **state)
{
	struct metrics_registry *reg = metrics_registry_new();
	struct metrics_family *loaded = metrics_family_add(
		reg, "metallb_k8s_client_config_loaded_bool",
		"1 if the MetalLB configuration was successfully loaded at least once.",
		METRICS_GAUGE, NULL);
	struct metrics_family *updates = metrics_family_add(
		reg, "metallb_k8s_client_updates_total",
		"Number of k8s object updates that have been processed.", METRICS_COUNTER, NULL);
	struct metrics_family *in_use = metrics_family_add(
		reg, "metallb_allocator_addresses_in_use_total",
		"Number of IP addresses in use, per pool", METRICS_GAUGE, L("pool", NULL));
	struct metrics_family *sess = metrics_family_add(
		reg, "metallb_bgp_session_up", "BGP session state (1 is up, 0 is down)",
		METRICS_GAUGE, L("peer", NULL));

	assert_non_null(loaded);
	assert_non_null(updates);
	assert_non_null(in_use);
	assert_non_null(sess);

	/* Families without labels are there from the start, at 0; families
	 * with labels appear with their first series. */
	assert_render(reg, "# HELP metallb_k8s_client_config_loaded_bool 1 if the MetalLB "
			   "configuration was successfully loaded at least once.\n"
			   "# TYPE metallb_k8s_client_config_loaded_bool gauge\n"
			   "metallb_k8s_client_config_loaded_bool 0\n"
			   "# HELP metallb_k8s_client_updates_total Number of k8s object updates "
			   "that have been processed.\n"
			   "# TYPE metallb_k8s_client_updates_total counter\n"
			   "metallb_k8s_client_updates_total 0\n");

	assert_int_equal(metrics_set(loaded, NONE, 1), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(metrics_inc(updates, NONE), 0);
	assert_int_equal(metrics_add(updates, NONE, 2), 0);
	assert_int_equal(metrics_set(in_use, L("production"), 12), 0);
	assert_int_equal(metrics_set(in_use, L("dev"), 0.5), 0);
	assert_int_equal(metrics_set(sess, L("[2001:db8::1]:179"), 1), 0);
	assert_int_equal(metrics_set(sess, L("192.0.2.1:179"), 0), 0);

	assert_render(reg, "# HELP metallb_k8s_client_config_loaded_bool 1 if the MetalLB "
			   "configuration was successfully loaded at least once.\n"
			   "# TYPE metallb_k8s_client_config_loaded_bool gauge\n"
			   "metallb_k8s_client_config_loaded_bool 1\n"
			   "# HELP metallb_k8s_client_updates_total Number of k8s object updates "
			   "that have been processed.\n"
			   "# TYPE metallb_k8s_client_updates_total counter\n"
			   "metallb_k8s_client_updates_total 5\n"
			   "# HELP metallb_allocator_addresses_in_use_total Number of IP addresses "
			   "in use, per pool\n"
			   "# TYPE metallb_allocator_addresses_in_use_total gauge\n"
			   "metallb_allocator_addresses_in_use_total{pool=\"dev\"} 0.5\n"
			   "metallb_allocator_addresses_in_use_total{pool=\"production\"} 12\n"
			   "# HELP metallb_bgp_session_up BGP session state (1 is up, 0 is down)\n"
			   "# TYPE metallb_bgp_session_up gauge\n"
			   "metallb_bgp_session_up{peer=\"192.0.2.1:179\"} 0\n"
			   "metallb_bgp_session_up{peer=\"[2001:db8::1]:179\"} 1\n");
	metrics_registry_free(reg);
}

static void test_render_escaping(void **state)
{
	struct metrics_registry *reg = metrics_registry_new();
	struct metrics_family *f = metrics_family_add(
		reg, "esc", "help with \\ backslash,\nnewline and \"quotes\"", METRICS_GAUGE,
		L("a", NULL));
	static const struct {
		const char *value;
		const char *rendered;
	} rows[] = {
		{ "plain", "plain" },
		{ "back\\slash", "back\\\\slash" },
		{ "say \"hi\"", "say \\\"hi\\\"" },
		{ "two\nlines", "two\\nlines" },
		{ "\\\"\n", "\\\\\\\"\\n" },
		{ "", "" },
		{ "ünïcödé", "ünïcödé" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		metrics_family_clear(f);
		assert_int_equal(metrics_set(f, L(rows[i].value), 1), 0);
		char *want = xasprintf("# HELP esc help with \\\\ backslash,\\nnewline and "
				       "\"quotes\"\n# TYPE esc gauge\nesc{a=\"%s\"} 1\n",
				       rows[i].rendered);
		char *got = render(reg);
		if (strcmp(got, want) != 0)
			fail_msg("row %zu: rendered\n%s\nexpected\n%s", i, got, want);
		free(got);
		free(want);
	}
	metrics_registry_free(reg);
}

/* Series come out sorted by label values, first label first, whatever the
 * order they were created in. */
static void test_render_sorted(void **state)
{
	struct metrics_registry *reg = metrics_registry_new();
	struct metrics_family *f = metrics_family_add(reg, "metallb_speaker_announced",
						      "Services being announced from this node.",
						      METRICS_GAUGE,
						      L("service", "protocol", "node", "ip", NULL));
	static const char *const order[][4] = {
		{ "ns/web", "layer2", "n1", "2001:db8::10" },
		{ "ns/api", "bgp", "n1", "192.0.2.10" },
		{ "ns/web", "layer2", "n1", "192.0.2.11" },
		{ "ns/api", "bgp", "n1", "2001:db8::5" },
		{ "ns/api", "bgp", "n0", "192.0.2.10" },
		{ "ns/Api", "bgp", "n1", "192.0.2.9" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		assert_int_equal(metrics_set(f, order[i], 1), 0);
	/* Setting an existing series does not add one. */
	assert_int_equal(metrics_set(f, order[0], 1), 0);
	assert_int_equal(metrics_family_series_count(f), ARRAY_SIZE(order));

	assert_render(reg,
		"# HELP metallb_speaker_announced Services being announced from this node.\n"
		"# TYPE metallb_speaker_announced gauge\n"
		"metallb_speaker_announced{service=\"ns/Api\",protocol=\"bgp\",node=\"n1\",ip=\"192.0.2.9\"} 1\n"
		"metallb_speaker_announced{service=\"ns/api\",protocol=\"bgp\",node=\"n0\",ip=\"192.0.2.10\"} 1\n"
		"metallb_speaker_announced{service=\"ns/api\",protocol=\"bgp\",node=\"n1\",ip=\"192.0.2.10\"} 1\n"
		"metallb_speaker_announced{service=\"ns/api\",protocol=\"bgp\",node=\"n1\",ip=\"2001:db8::5\"} 1\n"
		"metallb_speaker_announced{service=\"ns/web\",protocol=\"layer2\",node=\"n1\",ip=\"192.0.2.11\"} 1\n"
		"metallb_speaker_announced{service=\"ns/web\",protocol=\"layer2\",node=\"n1\",ip=\"2001:db8::10\"} 1\n");

	/* Withdrawing one service's addresses removes their series; the
	 * family goes with its last series. */
	assert_int_equal(metrics_remove(f, order[1]), 0);
	assert_int_equal(metrics_remove(f, order[1]), -1);
	assert_int_equal(metrics_remove(f, L("ns/none", "bgp", "n1", "192.0.2.1")), -1);
	assert_int_equal(metrics_remove_matching(f, "service", "ns/web"), 2);
	assert_int_equal(metrics_remove_matching(f, "service", "ns/web"), 0);
	assert_int_equal(metrics_remove_matching(f, "pool", "x"), -1);
	assert_render(reg,
		"# HELP metallb_speaker_announced Services being announced from this node.\n"
		"# TYPE metallb_speaker_announced gauge\n"
		"metallb_speaker_announced{service=\"ns/Api\",protocol=\"bgp\",node=\"n1\",ip=\"192.0.2.9\"} 1\n"
		"metallb_speaker_announced{service=\"ns/api\",protocol=\"bgp\",node=\"n0\",ip=\"192.0.2.10\"} 1\n"
		"metallb_speaker_announced{service=\"ns/api\",protocol=\"bgp\",node=\"n1\",ip=\"2001:db8::5\"} 1\n");
	assert_int_equal(metrics_remove_matching(f, "protocol", "bgp"), 3);
	assert_int_equal(metrics_family_series_count(f), 0);
	assert_render(reg, "");
	metrics_registry_free(reg);
}

/* Address counts of IPv6 pools go beyond what a double holds exactly. */
static void test_u128_values(void **state)
{
	struct metrics_registry *reg = metrics_registry_new();
	struct metrics_family *f = metrics_family_add(
		reg, "metallb_allocator_addresses_total",
		"Number of usable IP addresses, per pool", METRICS_GAUGE, L("pool", NULL));
	static const struct {
		const char *pool;
		unsigned __int128 set;
		double add; /* then added, when not 0 */
		const char *rendered;
		int exact; /* metrics_get_u128 succeeds */
		unsigned __int128 get;
	} rows[] = {
		{ "a-v4", 256, 0, "256", 1, 256 },
		{ "b-2^53", TWO53, 0, "9007199254740992", 1, TWO53 },
		{ "c-2^53+1", TWO53 + 1, 0, "9007199254740993", 1, TWO53 + 1 },
		{ "d-/64", TWO64, 0, "18446744073709551616", 1, TWO64 },
		{ "e-/64+1", TWO64, 1, "18446744073709551617", 1, TWO64 + 1 },
		{ "f-/64-3", TWO64, -3, "18446744073709551613", 1, TWO64 - 3 },
		{ "g-/64+0.5", TWO64, 0.5, "1.8446744073709552e+19", 1, TWO64 },
		{ "h-max", ~(unsigned __int128)0, 0, "340282366920938463463374607431768211455", 1,
		  ~(unsigned __int128)0 },
		{ "i-drop", TWO53 + 2, -4, "9007199254740990", 1, TWO53 - 2 },
		{ "j-neg", TWO53 + 2, -18014398509481984.0, "-9007199254740990", 0, 0 },
	};
	char *want = xstrdup("# HELP metallb_allocator_addresses_total Number of usable IP "
			     "addresses, per pool\n"
			     "# TYPE metallb_allocator_addresses_total gauge\n");

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		assert_int_equal(metrics_set_u128(f, L(rows[i].pool), rows[i].set), 0);
		if (rows[i].add != 0)
			assert_int_equal(metrics_add(f, L(rows[i].pool), rows[i].add), 0);
		unsigned __int128 got = 0;
		int rc = metrics_get_u128(f, L(rows[i].pool), &got);
		if ((rc == 0) != rows[i].exact || (rc == 0 && got != rows[i].get))
			fail_msg("row %zu (%s): metrics_get_u128 rc %d", i, rows[i].pool, rc);
		char *w = xasprintf("%smetallb_allocator_addresses_total{pool=\"%s\"} %s\n", want,
				    rows[i].pool, rows[i].rendered);
		free(want);
		want = w;
	}
	assert_render(reg, want);
	free(want);

	double d;
	assert_int_equal(metrics_get(f, L("d-/64"), &d), 0);
	assert_true(d == 18446744073709551616.0);
	/* A later set with a double forgets the exact value. */
	assert_int_equal(metrics_set(f, L("d-/64"), 3), 0);
	unsigned __int128 u;
	assert_int_equal(metrics_get_u128(f, L("d-/64"), &u), 0);
	assert_true(u == 3);
	metrics_registry_free(reg);
}

static void test_operation_errors(void **state)
{
	struct metrics_registry *reg = metrics_registry_new();
	struct metrics_family *c = metrics_family_add(reg, "c_total", "c", METRICS_COUNTER,
						      L("peer", NULL));
	struct metrics_family *g = metrics_family_add(reg, "g", "g", METRICS_GAUGE,
						      L("a", "b", NULL));
	double v;
	unsigned __int128 u;

	/* Counters only go up. */
	assert_int_equal(metrics_set(c, L("p"), 1), -1);
	assert_int_equal(metrics_set_u128(c, L("p"), 1), -1);
	assert_int_equal(metrics_add(c, L("p"), -1), -1);
	assert_int_equal(metrics_add(c, L("p"), NAN), -1);
	assert_int_equal(metrics_family_series_count(c), 0);
	assert_int_equal(metrics_add(c, L("p"), 0), 0);
	assert_int_equal(metrics_get(c, L("p"), &v), 0);
	assert_true(v == 0);
	assert_int_equal(metrics_add(c, L("p"), 2.5), 0);
	assert_int_equal(metrics_inc(c, L("p")), 0);
	assert_int_equal(metrics_get(c, L("p"), &v), 0);
	assert_true(v == 3.5);
	assert_int_equal(metrics_get_u128(c, L("p"), &u), -1); /* not an integer */

	/* Gauges go both ways. */
	assert_int_equal(metrics_add(g, L("x", "y"), -2), 0);
	assert_int_equal(metrics_get(g, L("x", "y"), &v), 0);
	assert_true(v == -2);
	assert_int_equal(metrics_get_u128(g, L("x", "y"), &u), -1); /* negative */

	/* Missing label values and missing series. */
	assert_int_equal(metrics_set(g, L("x", NULL), 1), -1);
	assert_int_equal(metrics_set(g, NONE, 1), -1);
	assert_int_equal(metrics_remove(g, L(NULL, "y")), -1);
	assert_int_equal(metrics_remove_matching(g, "a", NULL), -1);
	assert_int_equal(metrics_get(g, L("x", "z"), &v), -1);
	assert_int_equal(metrics_get(g, NONE, &v), -1);
	assert_int_equal(metrics_get(c, L("q"), &v), -1);
	assert_int_equal(metrics_get_u128(c, L("q"), &u), -1);
	assert_int_equal(metrics_family_series_count(g), 1);
	metrics_registry_free(reg);
}

static void test_label_less_family(void **state)
{
	struct metrics_registry *reg = metrics_registry_new();
	struct metrics_family *f = metrics_family_add(reg, "stale", "h", METRICS_GAUGE,
						      L(NULL));
	double v = -1;

	assert_int_equal(metrics_family_series_count(f), 1);
	assert_int_equal(metrics_get(f, NONE, &v), 0);
	assert_true(v == 0);
	assert_int_equal(metrics_set(f, NONE, INFINITY), 0);
	assert_render(reg, "# HELP stale h\n# TYPE stale gauge\nstale +Inf\n");
	assert_int_equal(metrics_set(f, NONE, -INFINITY), 0);
	assert_render(reg, "# HELP stale h\n# TYPE stale gauge\nstale -Inf\n");
	assert_int_equal(metrics_set(f, NONE, NAN), 0);
	assert_render(reg, "# HELP stale h\n# TYPE stale gauge\nstale NaN\n");
	metrics_family_clear(f);
	assert_render(reg, "");
	assert_int_equal(metrics_remove(f, NONE), -1);
	assert_int_equal(metrics_inc(f, NONE), 0);
	assert_render(reg, "# HELP stale h\n# TYPE stale gauge\nstale 1\n");
	assert_int_equal(metrics_remove(f, NONE), 0);
	assert_render(reg, "");
	metrics_registry_free(reg);
}

/* metrics_render appends to what the buffer holds. */
static void test_render_appends(void **state)
{
	struct metrics_registry *reg = metrics_registry_new();
	struct metrics_family *f = metrics_family_add(reg, "x", "h", METRICS_GAUGE, NULL);
	char *buf = xmalloc(6);
	size_t len = 6;

	memcpy(buf, "prefix", 6); /* no NUL */
	metrics_set(f, NONE, 2);
	metrics_render(reg, &buf, &len);
	assert_string_equal(buf, "prefix# HELP x h\n# TYPE x gauge\nx 2\n");
	assert_int_equal(len, strlen(buf));
	metrics_render(reg, &buf, &len);
	assert_string_equal(buf, "prefix# HELP x h\n# TYPE x gauge\nx 2\n"
				 "# HELP x h\n# TYPE x gauge\nx 2\n");
	free(buf);

	/* An empty registry renders an empty, NUL-terminated buffer. */
	struct metrics_registry *empty = metrics_registry_new();
	buf = NULL;
	len = 99;
	metrics_render(empty, &buf, &len);
	assert_non_null(buf);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
	metrics_registry_free(empty);
	metrics_registry_free(reg);
}

/* Thousands of series: every lookup finds its own, output stays sorted. */
static void test_many_series(void **state)
{
	enum { N = 5000 };
	struct metrics_registry *reg = metrics_registry_new();
	struct metrics_family *f =
		metrics_family_add(reg, "metallb_layer2_requests_received",
				   "Number of layer2 requests received for owned IPs",
				   METRICS_COUNTER, L("ip", NULL));
	char ip[64];

	/* A permutation of 0..N-1 (7919 is prime, so coprime with N). */
	for (unsigned i = 0; i < N; i++) {
		unsigned k = (i * 7919u) % N;
		snprintf(ip, sizeof(ip), "2001:db8::%x", k);
		assert_int_equal(metrics_add(f, L(ip), k), 0);
	}
	assert_int_equal(metrics_family_series_count(f), N);
	for (unsigned k = 0; k < N; k++) {
		double v;
		snprintf(ip, sizeof(ip), "2001:db8::%x", k);
		assert_int_equal(metrics_inc(f, L(ip)), 0);
		assert_int_equal(metrics_get(f, L(ip), &v), 0);
		assert_true(v == k + 1);
	}

	char *out = render(reg);
	const char *prev = NULL;
	size_t lines = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		if (prev)
			assert_true(strcmp(prev, line) < 0);
		prev = line;
		lines++;
	}
	assert_int_equal(lines, N);
	free(out);

	for (unsigned k = 0; k < N; k += 2) {
		snprintf(ip, sizeof(ip), "2001:db8::%x", k);
		assert_int_equal(metrics_remove(f, L(ip)), 0);
	}
	assert_int_equal(metrics_family_series_count(f), N / 2);
	metrics_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_double),
		cmocka_unit_test(test_format_u128),
		cmocka_unit_test(test_family_add_validation),
		cmocka_unit_test(test_render_basic),
		cmocka_unit_test(test_render_escaping),
		cmocka_unit_test(test_render_sorted),
		cmocka_unit_test(test_u128_values),
		cmocka_unit_test(test_operation_errors),
		cmocka_unit_test(test_label_less_family),
		cmocka_unit_test(test_render_appends),
		cmocka_unit_test(test_many_series),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
