/*
 * Echoes of our own writes (src/k8sd/echo.c): which watch events the
 * controller and the speaker may take as their own writes coming back, so
 * that they cause no pass, and which must cause one.
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

#define ANN "metallb.io/ip-allocated-from-pool"

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

/* A Service before the controller's writes. */
#define SVC_BEFORE                                                                          \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","      \
	"\"namespace\":\"a\",\"resourceVersion\":\"10\",\"uid\":\"u1\","                  \
	"\"managedFields\":[{\"manager\":\"kubectl\"}]},"                                  \
	"\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"                  \
	"\"status\":{\"loadBalancer\":{}}}"

static const struct {
	const char *name;
	const char *after;
	const char *sent_ingress, *sent_pools;
	bool echo;
} svc_rows[] = {
	{"status as sent",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"11\",\"uid\":\"u1\","
	 "\"managedFields\":[{\"manager\":\"kubectl\"},{\"manager\":\"ironlb\"}]},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"
	 "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.1\",\"ipMode\":\"VIP\"}]}}}",
	 "[{\"ip\":\"192.0.2.1\"}]", NULL, true},
	{"status not what was sent",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"11\",\"uid\":\"u1\","
	 "\"managedFields\":[{\"manager\":\"kubectl\"}]},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"
	 "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.9\"}]}}}",
	 "[{\"ip\":\"192.0.2.1\"}]", NULL, false},
	{"status changed, nothing sent",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"11\",\"uid\":\"u1\","
	 "\"managedFields\":[{\"manager\":\"kubectl\"}]},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"
	 "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.1\"}]}}}",
	 NULL, NULL, false},
	{"annotation as sent",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"11\",\"uid\":\"u1\","
	 "\"annotations\":{\"" ANN "\":\"p1\"},"
	 "\"managedFields\":[{\"manager\":\"kubectl\"}]},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"
	 "\"status\":{\"loadBalancer\":{}}}",
	 NULL, "p1", true},
	{"annotation not as sent",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"11\",\"uid\":\"u1\","
	 "\"annotations\":{\"" ANN "\":\"p2\"}},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"
	 "\"status\":{\"loadBalancer\":{}}}",
	 NULL, "p1", false},
	{"annotation removal sent, but it appeared",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"11\",\"uid\":\"u1\","
	 "\"annotations\":{\"" ANN "\":\"p2\"}},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"
	 "\"status\":{\"loadBalancer\":{}}}",
	 NULL, "", false},
	{"another annotation",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"11\",\"uid\":\"u1\","
	 "\"annotations\":{\"" ANN "\":\"p1\",\"team\":\"x\"},"
	 "\"managedFields\":[{\"manager\":\"kubectl\"}]},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"
	 "\"status\":{\"loadBalancer\":{}}}",
	 NULL, "p1", false},
	{"spec changed along with the status",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"11\",\"uid\":\"u1\","
	 "\"managedFields\":[{\"manager\":\"kubectl\"}]},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":81}]},"
	 "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.1\"}]}}}",
	 "[{\"ip\":\"192.0.2.1\"}]", NULL, false},
	{"other status field",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"11\",\"uid\":\"u1\","
	 "\"managedFields\":[{\"manager\":\"kubectl\"}]},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"
	 "\"status\":{\"loadBalancer\":{},\"conditions\":[{\"type\":\"X\"}]}}",
	 "[]", NULL, false},
	{"bookkeeping only",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"12\",\"uid\":\"u1\",\"generation\":2,"
	 "\"managedFields\":[{\"manager\":\"other\"}]},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"
	 "\"status\":{\"loadBalancer\":{}}}",
	 NULL, NULL, true},
	{"members in another order, an empty annotation map",
	 "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"uid\":\"u1\","
	 "\"name\":\"web\",\"namespace\":\"a\",\"resourceVersion\":\"12\",\"annotations\":{}},"
	 "\"spec\":{\"ports\":[{\"port\":80}],\"type\":\"LoadBalancer\"},"
	 "\"status\":{\"loadBalancer\":{}}}",
	 NULL, NULL, true},
	{"a port's order changed",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"12\",\"uid\":\"u1\"},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80},{\"port\":81}]},"
	 "\"status\":{\"loadBalancer\":{}}}",
	 NULL, NULL, false},
	{"labels changed",
	 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
	 "\"namespace\":\"a\",\"resourceVersion\":\"12\",\"uid\":\"u1\",\"labels\":{\"a\":\"b\"},"
	 "\"managedFields\":[{\"manager\":\"kubectl\"}]},"
	 "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]},"
	 "\"status\":{\"loadBalancer\":{}}}",
	 NULL, NULL, false},
};

static void test_service_echo(void **state)
{
	(void)state;
	struct tree *before = T(SVC_BEFORE);
	for (size_t i = 0; i < sizeof(svc_rows) / sizeof(svc_rows[0]); i++) {
		struct tree *after = T(svc_rows[i].after);
		bool got = k8sd_service_echo(before, after, ANN, svc_rows[i].sent_ingress,
					     svc_rows[i].sent_pools);
		if (got != svc_rows[i].echo)
			fail_msg("%s: echo %d, want %d", svc_rows[i].name, got, svc_rows[i].echo);
		tree_free(after);
	}
	assert_false(k8sd_service_echo(NULL, before, ANN, NULL, NULL));
	tree_free(before);
}

/* Our annotation removed and status emptied (a Service no longer ours). */
static void test_service_echo_removal(void **state)
{
	(void)state;
	struct tree *before = T(
		"{\"metadata\":{\"name\":\"web\",\"namespace\":\"a\",\"resourceVersion\":\"5\","
		"\"annotations\":{\"" ANN "\":\"p1\"}},\"spec\":{\"type\":\"ClusterIP\"},"
		"\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.1\"}]}}}");
	struct tree *after = T("{\"metadata\":{\"name\":\"web\",\"namespace\":\"a\","
			       "\"resourceVersion\":\"6\"},\"spec\":{\"type\":\"ClusterIP\"},"
			       "\"status\":{\"loadBalancer\":{}}}");
	assert_true(k8sd_service_echo(before, after, ANN, "[]", ""));
	assert_false(k8sd_service_echo(before, after, ANN, "[]", NULL));
	assert_false(k8sd_service_echo(before, after, ANN, NULL, ""));
	tree_free(before);
	tree_free(after);
}

static void test_ingress_json(void **state)
{
	(void)state;
	struct tree *t = T("{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.1\","
			   "\"ipMode\":\"VIP\"},{\"hostname\":\"x\"},{\"ip\":\"2001:db8::1\"}]}}}");
	char *s = k8sd_ingress_json(t);
	assert_string_equal(s, "[{\"ip\":\"192.0.2.1\"},{\"ip\":\"2001:db8::1\"}]");
	free(s);
	tree_free(t);
	t = T("{\"metadata\":{}}");
	s = k8sd_ingress_json(t);
	assert_string_equal(s, "[]");
	free(s);
	tree_free(t);
}

#define WANT "{\"interfaces\":[{\"name\":\"eth0\"}],\"node\":\"n1\",\"serviceName\":\"web\"," \
	     "\"serviceNamespace\":\"a\"}"

static void test_status_object_echo(void **state)
{
	(void)state;
	struct tree *same = T("{\"metadata\":{\"name\":\"l2-0a\",\"resourceVersion\":\"3\"},"
			      "\"status\":{\"node\":\"n1\",\"serviceName\":\"web\","
			      "\"serviceNamespace\":\"a\",\"interfaces\":[{\"name\":\"eth0\"}]}}");
	struct tree *other = T("{\"metadata\":{\"name\":\"l2-0a\"},"
			       "\"status\":{\"node\":\"n1\",\"serviceName\":\"web\","
			       "\"serviceNamespace\":\"a\",\"interfaces\":[{\"name\":\"eth1\"}]}}");
	struct tree *bare = T("{\"metadata\":{\"name\":\"l2-0a\"}}");

	/* The object holds what we want: ours, whatever is under way. */
	assert_true(k8sd_status_object_echo(K8S_CHANGE_MODIFIED, same, WANT, WANT));
	assert_true(k8sd_status_object_echo(K8S_CHANGE_MODIFIED, same, WANT, NULL));
	assert_true(k8sd_status_object_echo(K8S_CHANGE_ADDED, same, WANT, NULL));
	/* Someone changed it. */
	assert_false(k8sd_status_object_echo(K8S_CHANGE_MODIFIED, other, WANT, NULL));
	assert_false(k8sd_status_object_echo(K8S_CHANGE_MODIFIED, other, WANT, WANT));
	/* Our create, its status patch still to come. */
	assert_true(k8sd_status_object_echo(K8S_CHANGE_ADDED, bare, WANT, WANT));
	assert_false(k8sd_status_object_echo(K8S_CHANGE_ADDED, bare, WANT, NULL));
	assert_false(k8sd_status_object_echo(K8S_CHANGE_MODIFIED, bare, WANT, WANT));
	/* Deleted by someone else while we want it; by us when we do not. */
	assert_false(k8sd_status_object_echo(K8S_CHANGE_DELETED, same, WANT, NULL));
	assert_false(k8sd_status_object_echo(K8S_CHANGE_DELETED, same, WANT, WANT));
	assert_true(k8sd_status_object_echo(K8S_CHANGE_DELETED, same, NULL, "-"));
	/* Not wanted and no delete of ours under way: not ours to ignore. */
	assert_false(k8sd_status_object_echo(K8S_CHANGE_DELETED, same, NULL, NULL));
	assert_false(k8sd_status_object_echo(K8S_CHANGE_ADDED, other, NULL, NULL));
	assert_true(k8sd_status_object_echo(K8S_CHANGE_MODIFIED, other, NULL, "-"));
	/* Whether an object holds a status (what the speaker writes is
	 * compared before it writes): keys in any order, values exact. */
	assert_true(k8sd_status_holds(same, WANT));
	assert_false(k8sd_status_holds(other, WANT));
	assert_false(k8sd_status_holds(bare, WANT));
	assert_false(k8sd_status_holds(NULL, WANT));
	assert_false(k8sd_status_holds(same, "not json"));
	tree_free(same);
	tree_free(other);
	tree_free(bare);
}

static void test_status_patch_echo(void **state)
{
	(void)state;
	struct tree *before = T("{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"1\"},"
				"\"spec\":{\"addresses\":[\"192.0.2.0/24\"]},"
				"\"status\":{\"assignedIPv4\":0,\"availableIPv4\":256}}");
	struct tree *mine = T("{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"2\"},"
			      "\"spec\":{\"addresses\":[\"192.0.2.0/24\"]},"
			      "\"status\":{\"assignedIPv4\":1,\"availableIPv4\":255}}");
	struct tree *spec = T("{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"2\"},"
			      "\"spec\":{\"addresses\":[\"192.0.2.0/25\"]},"
			      "\"status\":{\"assignedIPv4\":1,\"availableIPv4\":255}}");
	const char *sent = "{\"assignedIPv4\":1,\"availableIPv4\":255}";
	assert_true(k8sd_status_patch_echo(before, mine, sent));
	assert_false(k8sd_status_patch_echo(before, mine, NULL));
	assert_false(k8sd_status_patch_echo(before, mine, "{\"assignedIPv4\":2,\"availableIPv4\":254}"));
	assert_false(k8sd_status_patch_echo(before, spec, sent));
	assert_false(k8sd_status_patch_echo(before, mine, "not json"));
	/* Whoever wrote it, a status-only update changes no configuration. */
	assert_true(k8sd_status_only(K8S_CHANGE_MODIFIED, before, mine));
	assert_false(k8sd_status_only(K8S_CHANGE_MODIFIED, before, spec));
	assert_false(k8sd_status_only(K8S_CHANGE_ADDED, NULL, mine));
	assert_false(k8sd_status_only(K8S_CHANGE_DELETED, NULL, mine));
	tree_free(before);
	tree_free(mine);
	tree_free(spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_echo),
		cmocka_unit_test(test_service_echo_removal),
		cmocka_unit_test(test_ingress_json),
		cmocka_unit_test(test_status_object_echo),
		cmocka_unit_test(test_status_patch_echo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
