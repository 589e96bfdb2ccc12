/* Unit tests for the /status builder (status/status.h): the layout of the
 * common sections, what a command adds, and what it leaves out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/jw.h"
#include "status/status.h"

static json_t *doc_json(struct status_doc *d)
{
	size_t len;
	char *text = status_doc_text(d, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	json_error_t err;
	json_t *v = json_loads(text, 0, &err);
	assert_non_null(v);
	free(text);
	return v;
}

static void counters(struct jw *w, void *arg)
{
	(void)arg;
	jw_kbool(w, "synced", true);
	jw_kint(w, "updates", 7);
}

/* The controller's shape: no node, no announcer, no members; a verdict of
 * null before the first pass. */
static void test_controller_shape(void **state)
{
	(void)state;
	struct status_doc d = {
		.namespace_ = "metallb-system",
		.leader = 1,
		.loaded = false,
		.stale = true,
		.config_extra = counters,
	};
	json_t *v = doc_json(&d);
	const char *key;
	json_t *x;
	const char *want[] = {"namespace", "leader", "config"};
	size_t n = 0;
	json_object_foreach(v, key, x)
	{
		assert_true(n < 3);
		assert_string_equal(key, want[n++]);
	}
	assert_int_equal(n, 3);
	assert_true(json_is_true(json_object_get(v, "leader")));
	json_t *c = json_object_get(v, "config");
	assert_true(json_is_false(json_object_get(c, "loaded")));
	assert_true(json_is_true(json_object_get(c, "stale")));
	assert_true(json_is_true(json_object_get(c, "synced")));
	assert_int_equal(json_integer_value(json_object_get(c, "updates")), 7);
	assert_true(json_is_null(json_object_get(c, "verdict")));
	json_decref(v);
}

static void services(struct jw *w, void *arg)
{
	(void)arg;
	const char *ips[] = {"192.0.2.1", "2001:db8::1"}, *pools[] = {"p4", "p6"};
	struct status_service s = {.namespace_ = "team-a",
				   .name = "web \"quoted\"",
				   .ingress = ips,
				   .pools = pools,
				   .naddrs = 2,
				   .owner = "node-a",
				   .announced_here = true};
	status_service_begin(w, &s);
	status_event(w, "Normal", "IPAllocated", "Assigned IP [\"192.0.2.1\"]");
	status_service_end(w);
	struct status_service f = {.namespace_ = "team-b", .name = "api"};
	status_service_begin(w, &f);
	status_service_end(w);
}

static void members(struct jw *w, void *arg)
{
	(void)arg;
	jw_null(w);
}

/* run's shape: its own errors replace the verdict's, the verdict's other
 * members follow, services are written entry by entry. */
static void test_run_shape(void **state)
{
	(void)state;
	json_t *verdict = json_pack("{s:s, s:[s], s:[{s:s, s:s, s:s}]}", "verdict", "valid",
				    "errors", "config error", "failed", "namespace", "team-b",
				    "name", "api", "message", "bad");
	struct status_doc d = {
		.node = "node-a",
		.manifests = "/etc/ironlb",
		.leader = -1,
		.loaded = true,
		.verdict = verdict,
		.errors = json_pack("[s, s]", "e1", "e2"),
		.warnings = json_array(),
		.services = services,
		.pools = json_array(),
		.members = members,
	};
	json_t *v = doc_json(&d);
	assert_null(d.errors);
	assert_null(d.pools);
	assert_null(json_object_get(v, "leader"));
	assert_null(json_object_get(v, "namespace"));
	assert_string_equal(json_string_value(json_object_get(v, "node")), "node-a");
	json_t *c = json_object_get(v, "config");
	assert_int_equal(json_array_size(json_object_get(c, "errors")), 2);
	assert_int_equal(json_array_size(json_object_get(c, "warnings")), 0);
	assert_string_equal(json_string_value(json_object_get(c, "verdict")), "valid");
	assert_true(json_equal(json_object_get(c, "failed"), json_object_get(verdict, "failed")));
	json_t *svcs = json_object_get(v, "services");
	assert_int_equal(json_array_size(svcs), 2);
	json_t *s0 = json_array_get(svcs, 0), *s1 = json_array_get(svcs, 1);
	assert_string_equal(json_string_value(json_object_get(s0, "name")), "web \"quoted\"");
	assert_string_equal(json_string_value(json_array_get(json_object_get(s0, "ingress"), 1)),
			    "2001:db8::1");
	assert_string_equal(json_string_value(json_array_get(json_object_get(s0, "pools"), 0)),
			    "p4");
	assert_string_equal(json_string_value(json_object_get(s0, "owner")), "node-a");
	assert_true(json_is_true(json_object_get(s0, "announced_here")));
	json_t *ev = json_array_get(json_object_get(s0, "events"), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "reason")), "IPAllocated");
	assert_true(json_is_null(json_object_get(s1, "owner")));
	assert_int_equal(json_array_size(json_object_get(s1, "ingress")), 0);
	assert_int_equal(json_array_size(json_object_get(s1, "events")), 0);
	assert_true(json_is_array(json_object_get(v, "pools")));
	assert_true(json_is_null(json_object_get(v, "members")));
	assert_true(json_object_get(v, "members") != NULL);
	json_decref(v);
	json_decref(verdict);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controller_shape),
		cmocka_unit_test(test_run_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
