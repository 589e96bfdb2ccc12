/*
 * Layer 2 claims from ServiceL2Status objects (src/k8sd/claims.c): what
 * claim an object makes, and which claim changes call for planning every
 * Service again (the speaker's own writes and the other nodes' expected
 * ones must not).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "k8sd/k8sd.h"

static struct tree *T(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	if (!j)
		fail_msg("bad test JSON: %s: %s", e.text, text);
	struct tree *t = tree_from_json(j);
	json_decref(j);
	return t;
}

#define META(ts)                                                                             \
	"\"metadata\":{\"name\":\"l2-0123456789\",\"namespace\":\"metallb-system\","          \
	"\"creationTimestamp\":\"" ts "\",\"labels\":{\"metallb.io/node\":\"node-b\","        \
	"\"metallb.io/service-name\":\"web\",\"metallb.io/service-namespace\":\"shop\"}}"

static void test_time(void **state)
{
	(void)state;
	uint64_t us;
	assert_int_equal(k8sd_time_us("1970-01-01T00:00:00Z", &us), 0);
	assert_int_equal(us, 0);
	assert_int_equal(k8sd_time_us("2026-12-07T01:47:30Z", &us), 0);
	assert_int_equal(us, 1796608050ull * 1000000u);
	assert_int_equal(k8sd_time_us("2026-12-07T01:47:30.25Z", &us), 0);
	assert_int_equal(us, 1796608050ull * 1000000u + 250000u);
	assert_int_equal(k8sd_time_us("2026-12-07T01:47:30.1234567Z", &us), 0);
	assert_int_equal(us, 1796608050ull * 1000000u + 123456u);
	assert_int_equal(k8sd_time_us("2026-12-07T02:47:30+01:00", &us), 0);
	assert_int_equal(us, 1796608050ull * 1000000u);
	const char *bad[] = {"", "2026-12-07", "2026-12-07T01:47:30", "2026-13-07T01:47:30Z",
			     "2026-12-07T01:47:30.Z", "2026-12-07T01:47:30Zx",
			     "2026-12-07 01:47:30Z"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(k8sd_time_us(bad[i], &us), -1);
	assert_int_equal(k8sd_time_us(NULL, &us), -1);
}

static void test_claim_from_status(void **state)
{
	(void)state;
	/* status as the speaker writes it: status.node wins over the label */
	struct tree *t = T("{\"kind\":\"ServiceL2Status\"," META("2026-12-07T01:47:30Z") ","
			   "\"status\":{\"node\":\"node-a\",\"serviceName\":\"web\","
			   "\"serviceNamespace\":\"shop\",\"interfaces\":[{\"name\":\"eth0\"}]}}");
	struct announce_claim c;
	assert_int_equal(k8sd_l2_claim(t, &c), 0);
	assert_string_equal(c.service, "shop/web");
	assert_string_equal(c.node, "node-a");
	assert_int_equal(c.since, 1796608050ull * 1000000u);
	free((char *)c.service);
	free((char *)c.node);
	tree_free(t);

	/* created, its status not patched yet: the labels */
	t = T("{\"kind\":\"ServiceL2Status\"," META("2026-12-07T01:47:31Z") "}");
	assert_int_equal(k8sd_l2_claim(t, &c), 0);
	assert_string_equal(c.service, "shop/web");
	assert_string_equal(c.node, "node-b");
	assert_int_equal(c.since, 1796608051ull * 1000000u);
	free((char *)c.service);
	free((char *)c.node);
	tree_free(t);

	/* no node anywhere, or no creation time: no claim */
	t = T("{\"metadata\":{\"name\":\"x\",\"creationTimestamp\":\"2026-12-07T01:47:31Z\"},"
	      "\"status\":{\"serviceName\":\"web\",\"serviceNamespace\":\"shop\"}}");
	assert_int_equal(k8sd_l2_claim(t, &c), -1);
	tree_free(t);
	t = T("{\"metadata\":{\"name\":\"x\"},\"status\":{\"node\":\"node-a\","
	      "\"serviceName\":\"web\",\"serviceNamespace\":\"shop\"}}");
	assert_int_equal(k8sd_l2_claim(t, &c), -1);
	tree_free(t);
}

/* Sorted claims (announce_claims_sort()) of the objects, as the speaker
 * hands them to the announcer. */
static void test_claims_sorted(void **state)
{
	(void)state;
	const char *objs[] = {
		"{\"metadata\":{\"creationTimestamp\":\"2026-12-07T01:00:02Z\"},\"status\":"
		"{\"node\":\"node-c\",\"serviceName\":\"b\",\"serviceNamespace\":\"ns\"}}",
		"{\"metadata\":{\"creationTimestamp\":\"2026-12-07T01:00:01Z\"},\"status\":"
		"{\"node\":\"node-a\",\"serviceName\":\"b\",\"serviceNamespace\":\"ns\"}}",
		"{\"metadata\":{\"creationTimestamp\":\"2026-12-07T01:00:00Z\"},\"status\":"
		"{\"node\":\"node-b\",\"serviceName\":\"a\",\"serviceNamespace\":\"ns\"}}",
	};
	struct announce_claim v[3];
	for (size_t i = 0; i < 3; i++) {
		struct tree *t = T(objs[i]);
		assert_int_equal(k8sd_l2_claim(t, &v[i]), 0);
		tree_free(t);
	}
	announce_claims_sort(v, 3);
	assert_string_equal(v[0].service, "ns/a");
	assert_string_equal(v[0].node, "node-b");
	assert_string_equal(v[1].service, "ns/b");
	assert_string_equal(v[1].node, "node-a");
	assert_string_equal(v[2].node, "node-c");
	assert_true(v[2].since > v[1].since);
	for (size_t i = 0; i < 3; i++) {
		free((char *)v[i].service);
		free((char *)v[i].node);
	}
}

static void test_claim_news(void **state)
{
	(void)state;
	/* The planned owner writes its object (another node's, or its
	 * echo): confirmed, no pass. */
	assert_false(k8sd_claim_news(true, "node-b", true, "node-b", "node-a"));
	/* A node that is not the planned owner deletes its object (it let
	 * go, or a survivor deleted a dead node's): confirmed. */
	assert_false(k8sd_claim_news(false, "node-c", true, "node-b", "node-a"));
	/* Another node than the planned owner claims it: plan again. */
	assert_true(k8sd_claim_news(true, "node-c", true, "node-b", "node-a"));
	assert_true(k8sd_claim_news(true, "node-c", true, "node-a", "node-a"));
	/* The planned owner let go: it planned otherwise; plan again. */
	assert_true(k8sd_claim_news(false, "node-b", true, "node-b", "node-a"));
	/* This node's own objects follow its plan: never. */
	assert_false(k8sd_claim_news(true, "node-a", true, "node-b", "node-a"));
	assert_false(k8sd_claim_news(false, "node-a", true, "node-a", "node-a"));
	/* Not in the plan (not placed yet, or no candidate): the claim is
	 * read when it is placed. */
	assert_false(k8sd_claim_news(true, "node-c", false, NULL, "node-a"));
	assert_false(k8sd_claim_news(true, "node-c", true, NULL, "node-a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_claim_from_status),
		cmocka_unit_test(test_claims_sorted),
		cmocka_unit_test(test_claim_news),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
