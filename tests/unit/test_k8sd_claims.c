/*
 * Layer 2 claims from ServiceL2Status objects (src/k8sd/claims.c): what
 * claim an object makes, and which claim changes call for planning every
 * Service again (the speaker's own writes and the other nodes' expected
 * ones must not).
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/util.h"
#include "k8sd/k8sd.h"
#include "model/model.h"
#include "net/ip.h"

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

/* What a Service decodes to, as text: the model's fields and its
 * diagnostics, to compare a Service decoded whole with the speaker's
 * pruned copy (k8sd_service_fields). */
static char *decoded(struct tree *obj, bool prune)
{
	if (prune)
		k8s_object_prune(obj, k8sd_service_fields);
	struct model m;
	struct diag_list d = {0};
	model_init(&m, NULL);
	model_add(&m, obj, &d);
	model_validate(&m, &d);
	char *text = NULL;
	size_t len = 0;
	FILE *b = open_memstream(&text, &len);
	assert_non_null(b);
	for (size_t i = 0; i < d.n; i++) {
		char *t = diag_format(&d.items[i]);
		fprintf(b, "diag %s\n", t);
		free(t);
	}
	char ip[IP_STR_MAX];
	for (size_t i = 0; i < m.nservices; i++) {
		const struct service *v = &m.services[i];
		fprintf(b, "svc %s uid=%s invalid=%d type=%s class=%s etp=%s policy=%d/%d "
			       "created=%llu labels=%u annotations=%u selector=%u\n",
			   v->meta.display, v->meta.uid, v->meta.invalid, v->type,
			   v->lb_class ? v->lb_class : "-", v->external_traffic_policy,
			   (int)v->policy, v->has_policy, (unsigned long long)v->created_us,
			   v->meta.labels.n, v->meta.annotations.n, v->selector.n);
		for (unsigned k = 0; k < v->nfamilies; k++)
			fprintf(b, "family %d\n", (int)v->families[k]);
		for (unsigned k = 0; k < v->ncluster_ips; k++)
			fprintf(b, "cluster %s\n", ip_format(&v->cluster_ips[k], ip));
		for (unsigned k = 0; k < v->nrequested; k++)
			fprintf(b, "requested %s\n", ip_format(&v->requested[k], ip));
		for (unsigned k = 0; k < v->ningress; k++)
			fprintf(b, "ingress %s\n", ip_format(&v->ingress[k], ip));
		for (size_t k = 0; k < v->nports; k++)
			fprintf(b, "port %s %s %d\n", v->ports[k].name ? v->ports[k].name : "-",
				   v->ports[k].protocol, v->ports[k].port);
		for (size_t k = 0; k < v->npool_names; k++)
			fprintf(b, "pool %s\n", v->pool_names[k]);
		fprintf(b, "sharing %s request_invalid=%d\n",
			   v->sharing_key ? v->sharing_key : "-", v->request_invalid);
		for (uint32_t k = 0; k < v->selector.n; k++)
			fprintf(b, "selector %s=%s\n", v->selector.items[k].key,
				   v->selector.items[k].value);
	}
	model_free(&m);
	diag_list_free(&d);
	fclose(b);
	return text;
}

#define SVC_META                                                                              \
	"\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","          \
	"\"namespace\":\"shop\",\"uid\":\"u-1\",\"resourceVersion\":\"9\",\"generation\":3," \
	"\"creationTimestamp\":\"2026-12-07T09:00:00Z\",\"labels\":{\"app\":\"web\"},"        \
	"\"annotations\":{\"metallb.io/address-pool\":\"a,b\","                              \
	"\"metallb.io/allow-shared-ip\":\"k\"},\"finalizers\":[\"service.kubernetes.io/"     \
	"load-balancer-cleanup\"]}"

/* The speaker keeps of a Service what the model reads: a Service decodes
 * to the same fields and diagnostics whole and pruned, valid or not, and
 * the fields nothing reads are gone. */
static void test_service_fields(void **state)
{
	(void)state;
	static const char *const svcs[] = {
		/* As the API server returns one: defaults, node ports, status. */
		"{" SVC_META ",\"spec\":{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.96.0.7\","
		"\"clusterIPs\":[\"10.96.0.7\",\"fd00::7\"],\"ipFamilies\":[\"IPv4\",\"IPv6\"],"
		"\"ipFamilyPolicy\":\"RequireDualStack\",\"ports\":[{\"name\":\"http\","
		"\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080,\"nodePort\":31000}],"
		"\"selector\":{\"app\":\"web\"},\"sessionAffinity\":\"None\","
		"\"externalTrafficPolicy\":\"Local\",\"healthCheckNodePort\":32000,"
		"\"internalTrafficPolicy\":\"Cluster\",\"allocateLoadBalancerNodePorts\":true,"
		"\"loadBalancerClass\":\"ironlb\",\"loadBalancerIP\":\"192.0.2.9\","
		"\"externalIPs\":[\"198.51.100.1\"]},\"status\":{\"loadBalancer\":{\"ingress\":["
		"{\"ip\":\"192.0.2.9\",\"ipMode\":\"VIP\"},{\"ip\":\"2001:db8::9\"}]},"
		"\"conditions\":[{\"type\":\"x\",\"status\":\"True\"}]}}",
		/* Every value the decoder refuses. */
		"{" SVC_META ",\"spec\":{\"type\":\"Balancer\",\"clusterIPs\":[\"10.96.0.300\"],"
		"\"ipFamilies\":[\"IPv5\"],\"ipFamilyPolicy\":\"Single\",\"ports\":[{"
		"\"protocol\":\"HTTP\",\"port\":70000},7],\"selector\":{\"a\":1},"
		"\"externalTrafficPolicy\":\"Far\",\"sessionAffinity\":7},"
		"\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"x\"},3]}}}",
		"{" SVC_META ",\"spec\":{\"type\":\"LoadBalancer\",\"loadBalancerIP\":\"nope\","
		"\"loadBalancerClass\":5},\"status\":{\"loadBalancer\":7}}",
		"{" SVC_META ",\"spec\":{\"type\":\"LoadBalancer\"},\"status\":{}}",
	};
	for (size_t i = 0; i < sizeof(svcs) / sizeof(*svcs); i++) {
		char *whole = decoded(T(svcs[i]), false);
		char *pruned = decoded(T(svcs[i]), true);
		assert_string_equal(pruned, whole);
		free(whole);
		free(pruned);
	}
	struct tree *o = T(svcs[0]);
	k8s_object_prune(o, k8sd_service_fields);
	static const char *const gone[] = {
		"spec.sessionAffinity", "spec.healthCheckNodePort", "spec.internalTrafficPolicy",
		"spec.allocateLoadBalancerNodePorts", "spec.externalIPs", "status.conditions",
	};
	for (size_t k = 0; k < sizeof(gone) / sizeof(*gone); k++)
		if (tree_path(o, gone[k]))
			fail_msg("%s kept", gone[k]);
	assert_non_null(tree_path(o, "metadata.finalizers"));
	assert_non_null(tree_path(o, "spec.ports"));
	assert_non_null(tree_path(o, "status.loadBalancer.ingress"));
	tree_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_claim_from_status),
		cmocka_unit_test(test_claims_sorted),
		cmocka_unit_test(test_claim_news),
		cmocka_unit_test(test_service_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
