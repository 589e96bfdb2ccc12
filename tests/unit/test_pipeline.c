/*
 * The pipeline (src/pipeline/pipeline.h): the store, the verdict by kind,
 * last good bookkeeping and the pass, without any API server or network.
 *
 * Objects are written as YAML documents and fed to the store as a source
 * would (whole-source replacement for files, upsert/delete for API
 * objects); each step checks the verdict, what the model in force holds
 * and what the allocator gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc/alloc.h"
#include "base/util.h"
#include "manifest/manifest.h"
#include "pipeline/pipeline.h"

#define POOL(name, addr)                                                        \
	"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: " name \
	"\n  namespace: metallb-system\nspec:\n  addresses: [" addr "]\n"

#define SVC(ns, name, annotations)                                                      \
	"apiVersion: v1\nkind: Service\nmetadata:\n  name: " name "\n  namespace: " ns \
	"\n  annotations: {" annotations "}\nspec:\n  type: LoadBalancer\n  ports: [{port: 80}]\n"

#define L2ADV(name, pool)                                                          \
	"apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: " name \
	"\n  namespace: metallb-system\nspec:\n  ipAddressPools: [" pool "]\n"

/* Replace what source `src` holds by the documents of text. */
static void set_source(struct pipeline *p, const char *src, const char *text)
{
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(manifest_read_buffer(&set, src, text, strlen(text), &d), 0);
	pipeline_source_set(p, src, set.objects, set.n);
	for (size_t i = 0; i < set.n; i++)
		set.objects[i] = NULL;
	set.n = 0;
	manifest_set_free(&set);
	diag_list_free(&d);
}

static void upsert(struct pipeline *p, const char *src, const char *text)
{
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(manifest_read_buffer(&set, "api", text, strlen(text), &d), 0);
	for (size_t i = 0; i < set.n; i++) {
		pipeline_upsert(p, src, set.objects[i]);
		set.objects[i] = NULL;
	}
	set.n = 0;
	manifest_set_free(&set);
	diag_list_free(&d);
}

static const struct service *find_svc(const struct model *m, const char *ns, const char *name,
				      size_t *index)
{
	for (size_t i = 0; i < m->nservices; i++)
		if (strcmp(m->services[i].meta.namespace_, ns) == 0 &&
		    strcmp(m->services[i].meta.name, name) == 0) {
			if (index)
				*index = i;
			return &m->services[i];
		}
	return NULL;
}

/* The address the pass gave Service ns/name ("" for none, "-" when it is
 * not in the model). */
static const char *addr_of(const struct pipeline_pass *ps, const char *ns, const char *name,
			   char *buf)
{
	size_t i;
	if (!find_svc(&ps->model, ns, name, &i))
		return "-";
	if (ps->results[i].naddrs == 0)
		return "";
	return ip_format(&ps->results[i].addrs[0], buf);
}

static bool has_event(const struct alloc_result *r, const char *reason, const char *part)
{
	for (size_t i = 0; i < r->nevents; i++)
		if (strcmp(r->events[i].reason, reason) == 0 && strstr(r->events[i].message, part))
			return true;
	return false;
}

/* 1. One team's broken Service fails alone. */
static void test_broken_service_fails_alone(void **state)
{
	(void)state;
	struct pipeline *p = pipeline_new(NULL);
	set_source(p, "pool.yaml", POOL("teams", "192.0.2.10-192.0.2.19") "---\n" L2ADV("l2", "teams"));
	set_source(p, "a.yaml", SVC("team-a", "web", ""));
	set_source(p, "b.yaml", SVC("team-b", "api", "metallb.io/loadBalancerIPs: not-an-ip"));
	set_source(p, "c.yaml", SVC("team-c", "db", "metallb.io/address-pool: nosuch"));
	set_source(p, "d.yaml", SVC("team-d", "far", "metallb.io/loadBalancerIPs: 198.51.100.1"));
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_VALID);
	assert_true(ps.running && ps.taken && !ps.stale);
	assert_int_equal(ps.verdict.nfailed, 3);
	assert_string_equal(ps.verdict.failed[0].namespace_, "team-b");
	assert_non_null(strstr(ps.verdict.failed[0].why, "not-an-ip"));
	assert_string_equal(ps.verdict.failed[1].namespace_, "team-c");
	assert_non_null(strstr(ps.verdict.failed[1].why, "unknown IPAddressPool \"nosuch\""));
	assert_string_equal(ps.verdict.failed[2].namespace_, "team-d");
	assert_non_null(strstr(ps.verdict.failed[2].why, "is in no IPAddressPool"));
	for (size_t i = 0; i < 3; i++) {
		assert_false(ps.verdict.failed[i].kept);
		struct alloc_event ev = pipeline_failed_event(&ps.verdict.failed[i]);
		assert_string_equal(ev.reason, "AllocationFailed");
		assert_string_equal(ev.type, "Warning");
	}
	assert_int_equal(ps.model.nservices, 1);

	struct alloc *a = alloc_new();
	pipeline_allocate(&ps, a);
	char b[IP_STR_MAX];
	assert_string_equal(addr_of(&ps, "team-a", "web", b), "192.0.2.10");
	pipeline_pass_free(&ps);
	alloc_free(a);
	pipeline_free(p);
}

/* 2. A broken configuration change keeps the last good one, with the
 * current Services. */
static void test_broken_config_keeps_last_good(void **state)
{
	(void)state;
	struct pipeline *p = pipeline_new(NULL);
	struct alloc *a = alloc_new();
	set_source(p, "pool.yaml", POOL("good", "192.0.2.0/29"));
	set_source(p, "svc.yaml", SVC("default", "one", ""));
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	pipeline_allocate(&ps, a);
	char b[IP_STR_MAX];
	assert_string_equal(addr_of(&ps, "default", "one", b), "192.0.2.0");
	pipeline_pass_free(&ps);

	/* The pool is replaced by a broken one; a new Service arrives. */
	set_source(p, "pool.yaml", POOL("good", "198.51.100.0/29, 2001:db8:prod::/64"));
	set_source(p, "svc.yaml", SVC("default", "one", "") "---\n" SVC("default", "two", ""));
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_INVALID);
	assert_true(ps.running && !ps.taken && ps.stale);
	assert_int_equal(ps.verdict.nconfig_errors, 1);
	assert_non_null(strstr(ps.verdict.config_errors[0], "2001:db8:prod::/64"));
	pipeline_allocate(&ps, a);
	assert_string_equal(addr_of(&ps, "default", "one", b), "192.0.2.0");
	assert_string_equal(addr_of(&ps, "default", "two", b), "192.0.2.1");
	pipeline_pass_free(&ps);

	/* Fixed: the new configuration is taken. */
	set_source(p, "pool.yaml", POOL("good", "198.51.100.0/29"));
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_VALID);
	assert_true(ps.taken && !ps.stale);
	pipeline_allocate(&ps, a);
	assert_string_equal(addr_of(&ps, "default", "one", b), "198.51.100.0");
	pipeline_pass_free(&ps);
	alloc_free(a);
	pipeline_free(p);
}

/* 3. Unresolved references only: run when nothing better exists, else
 * keep the last good configuration. */
static void test_references_only(void **state)
{
	(void)state;
	struct pipeline *p = pipeline_new(NULL);
	set_source(p, "c.yaml", POOL("p", "192.0.2.0/29") "---\n" L2ADV("l2", "nosuch"));
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_INVALID_RUNNABLE);
	assert_true(ps.running && ps.taken && ps.stale);
	assert_int_equal(ps.model.nl2advs, 1);
	pipeline_pass_free(&ps);

	set_source(p, "c.yaml", POOL("p", "192.0.2.0/29") "---\n" L2ADV("l2", "p"));
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_VALID);
	assert_true(ps.taken && !ps.stale);
	pipeline_pass_free(&ps);

	/* Now a good configuration exists: a dangling reference is not taken. */
	set_source(p, "c.yaml", POOL("q", "192.0.2.0/29") "---\n" L2ADV("l2", "p"));
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_INVALID_RUNNABLE);
	assert_true(ps.running && !ps.taken && ps.stale);
	assert_int_equal(ps.model.npools, 1);
	assert_string_equal(ps.model.pools[0].meta.name, "p");
	pipeline_pass_free(&ps);
	pipeline_free(p);
}

/* 4. A Service that breaks keeps its last good version and addresses. */
static void test_service_keeps_last_good_version(void **state)
{
	(void)state;
	struct pipeline *p = pipeline_new(NULL);
	struct alloc *a = alloc_new();
	upsert(p, "api", POOL("p", "192.0.2.0/29"));
	upsert(p, "api", SVC("default", "fixed", "metallb.io/loadBalancerIPs: 192.0.2.5"));
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	pipeline_allocate(&ps, a);
	char b[IP_STR_MAX];
	assert_string_equal(addr_of(&ps, "default", "fixed", b), "192.0.2.5");
	pipeline_pass_free(&ps);

	upsert(p, "api", SVC("default", "fixed", "metallb.io/loadBalancerIPs: 192.0.2.x"));
	for (int round = 0; round < 2; round++) {
		pipeline_build(p, &ps);
		assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_VALID);
		assert_int_equal(ps.verdict.nfailed, 1);
		assert_true(ps.verdict.failed[0].kept);
		pipeline_allocate(&ps, a);
		assert_string_equal(addr_of(&ps, "default", "fixed", b), "192.0.2.5");
		size_t i;
		find_svc(&ps.model, "default", "fixed", &i);
		assert_true(has_event(&ps.results[i], "AllocationFailed", "192.0.2.x"));
		pipeline_pass_free(&ps);
	}

	/* Deleted: it goes, with its last good version. */
	assert_int_equal(pipeline_delete(p, "api", "Service", "default", "fixed"), 0);
	assert_int_equal(pipeline_delete(p, "api", "Service", "default", "fixed"), -1);
	pipeline_build(p, &ps);
	assert_int_equal(ps.model.nservices, 0);
	assert_int_equal(ps.verdict.nfailed, 0);
	pipeline_pass_free(&ps);
	/* Back in its broken form: never good, so nothing. */
	upsert(p, "api", SVC("default", "fixed", "metallb.io/loadBalancerIPs: 192.0.2.x"));
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.nfailed, 1);
	assert_false(ps.verdict.failed[0].kept);
	assert_int_equal(ps.model.nservices, 0);
	pipeline_pass_free(&ps);
	alloc_free(a);
	pipeline_free(p);
}

/* 5. A source that cannot be read keeps its objects and makes the
 * configuration Invalid. */
static void test_failed_source_keeps_objects(void **state)
{
	(void)state;
	struct pipeline *p = pipeline_new(NULL);
	set_source(p, "all.yaml", POOL("p", "192.0.2.0/29") "---\n" SVC("default", "s", ""));
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	assert_true(ps.taken);
	pipeline_pass_free(&ps);

	struct diag_list d = {0};
	diag_add(&d, DIAG_ERROR, "all.yaml", 3, NULL, NULL, "flow sequence without a closing bracket");
	pipeline_source_failed(p, "all.yaml", &d);
	diag_list_free(&d);
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_INVALID);
	assert_true(ps.running && ps.stale);
	assert_int_equal(ps.model.npools, 1);
	assert_int_equal(ps.model.nservices, 1);
	assert_int_equal(ps.verdict.nconfig_errors, 1);
	assert_non_null(strstr(ps.verdict.config_errors[0], "all.yaml:3"));
	pipeline_pass_free(&ps);

	/* Read again: valid. */
	set_source(p, "all.yaml", POOL("p", "192.0.2.0/29"));
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_VALID);
	assert_int_equal(ps.model.nservices, 0);
	pipeline_pass_free(&ps);
	/* Removed: an empty configuration is a valid one. */
	pipeline_source_remove(p, "all.yaml");
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_VALID);
	assert_true(ps.taken);
	assert_int_equal(ps.model.npools, 0);
	pipeline_pass_free(&ps);
	pipeline_free(p);
}

/* 6. A Secret with errors is left out and reported; the configuration is
 * judged without it. */
static void test_broken_secret_is_ignored(void **state)
{
	(void)state;
	struct pipeline *p = pipeline_new(NULL);
	set_source(p, "c.yaml",
		   POOL("p", "192.0.2.0/29") "---\n"
		   "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: metallb-system}\n"
		   "type: kubernetes.io/basic-auth\ndata: {password: '!!!'}\n");
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_VALID);
	assert_int_equal(ps.verdict.nignored, 1);
	assert_non_null(strstr(ps.verdict.ignored[0], "Secret metallb-system/s"));
	assert_int_equal(ps.model.nsecrets, 0);
	assert_int_equal(ps.nobjects, 2);
	assert_int_equal(diag_count(&ps.diags, DIAG_ERROR), 1);
	pipeline_pass_free(&ps);

	/* A peer that reads it sees it missing: the configuration is
	 * Invalid (rule 1). */
	set_source(p, "peer.yaml",
		   "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\n"
		   "metadata: {name: r, namespace: metallb-system}\n"
		   "spec: {myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.254, "
		   "passwordSecret: {name: s}}\n");
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_INVALID);
	assert_false(ps.taken);
	pipeline_pass_free(&ps);
	pipeline_free(p);
}

/* 7. The diagnostics carry the kind of their object; the printed text does
 * not change. */
static void test_diag_kinds(void **state)
{
	(void)state;
	struct pipeline *p = pipeline_new(NULL);
	set_source(p, "x.yaml", POOL("p", "nope") "---\n" SVC("ns1", "s", "metallb.io/address-pool: q"));
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	size_t pools = 0, svcs = 0;
	for (size_t i = 0; i < ps.diags.n; i++) {
		const struct diag *g = &ps.diags.items[i];
		if (g->kind == KIND_IPADDRESSPOOL) {
			pools++;
			assert_string_equal(g->obj_name, "p");
			assert_string_equal(g->obj_namespace, "metallb-system");
		}
		if (g->kind == KIND_SERVICE) {
			svcs++;
			assert_string_equal(g->obj_namespace, "ns1");
			char *s = diag_format(g);
			assert_non_null(strstr(s, "x.yaml:"));
			assert_non_null(strstr(s, "Service ns1/s: "));
			free(s);
		}
	}
	assert_int_equal(pools, 1);
	assert_int_equal(svcs, 1);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_INVALID);
	assert_false(ps.running);
	assert_int_equal(ps.model.nservices, 0);
	/* check still lists the Service that fails. */
	assert_int_equal(ps.verdict.nfailed, 1);
	pipeline_pass_free(&ps);
	pipeline_free(p);
}

/* 8. Services of another class are not ours: their errors fail nothing. */
static void test_other_class_is_not_judged(void **state)
{
	(void)state;
	struct pipeline_opts o = {.lb_class = "ironlb"};
	struct pipeline *p = pipeline_new(&o);
	set_source(p, "x.yaml", POOL("p", "192.0.2.0/29") "---\n"
				SVC("default", "theirs", "metallb.io/loadBalancerIPs: bad"));
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	assert_int_equal(ps.verdict.nfailed, 0);
	assert_int_equal(ps.model.nservices, 1);
	pipeline_pass_free(&ps);
	pipeline_free(p);
}

/* 9. Deletes from a source fed object by object, in a scrambled order:
 * after each one every remaining object is still found (a delete of it
 * succeeds once) and the model holds exactly the remaining Services. */
static void test_delete_keeps_the_rest(void **state)
{
	(void)state;
	enum { N = 400 };
	struct pipeline *p = pipeline_new(&(struct pipeline_opts){0});
	set_source(p, "config", POOL("pool", "192.0.2.0/24"));
	for (int i = 0; i < N; i++) {
		char text[512];
		snprintf(text, sizeof(text),
			 "apiVersion: v1\nkind: Service\nmetadata:\n  name: s%03d\n"
			 "  namespace: default\nspec:\n  type: LoadBalancer\n"
			 "  ports: [{port: 80}]\n",
			 i);
		upsert(p, "api", text);
	}
	bool gone[N] = {false};
	/* A fixed permutation: i * 7 mod N (7 and 400 are coprime). */
	for (int k = 0; k < N; k++) {
		int i = (k * 7) % N;
		char name[16];
		snprintf(name, sizeof(name), "s%03d", i);
		assert_int_equal(pipeline_delete(p, "api", "Service", "default", name), 0);
		assert_int_equal(pipeline_delete(p, "api", "Service", "default", name), -1);
		gone[i] = true;
		if (k % 97 != 0 && k != N / 2)
			continue;
		struct pipeline_pass ps;
		pipeline_build(p, &ps);
		size_t left = 0;
		for (int j = 0; j < N; j++) {
			snprintf(name, sizeof(name), "s%03d", j);
			bool found = find_svc(&ps.model, "default", name, NULL) != NULL;
			assert_int_equal(found, !gone[j]);
			left += !gone[j];
		}
		assert_int_equal(ps.model.nservices, left);
		pipeline_pass_free(&ps);
	}
	/* Put back and deleted again: the index follows the moved entries. */
	upsert(p, "api", SVC("default", "s001", ""));
	upsert(p, "api", SVC("default", "s002", ""));
	assert_int_equal(pipeline_delete(p, "api", "Service", "default", "s001"), 0);
	assert_int_equal(pipeline_delete(p, "api", "Service", "default", "s002"), 0);
	assert_int_equal(pipeline_delete(p, "api", "Service", "default", "s002"), -1);
	pipeline_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_broken_service_fails_alone),
		cmocka_unit_test(test_broken_config_keeps_last_good),
		cmocka_unit_test(test_references_only),
		cmocka_unit_test(test_service_keeps_last_good_version),
		cmocka_unit_test(test_failed_source_keeps_objects),
		cmocka_unit_test(test_broken_secret_is_ignored),
		cmocka_unit_test(test_diag_kinds),
		cmocka_unit_test(test_other_class_is_not_judged),
		cmocka_unit_test(test_delete_keeps_the_rest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
