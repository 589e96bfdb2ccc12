/*
 * The pipeline fed by a manifest directory (pipeline_sync_dir()), as
 * `ironlb run` feeds it: files read again on every sync, trees released
 * between passes and parsed again (or, for a broken file, from the text it
 * was last read from), a broken file keeping its objects, a Service's last
 * good version surviving a change of its file, a removed file's objects
 * gone.  The same again with files large enough for their text to be kept
 * deflated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc/alloc.h"
#include "base/util.h"
#include "pipeline/pipeline.h"

#define POOL                                                                             \
	"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\n"    \
	"  namespace: metallb-system\nspec:\n  addresses: [192.0.2.0/29]\n"
#define SVC(name, annotations)                                                          \
	"apiVersion: v1\nkind: Service\nmetadata:\n  name: " name "\n  namespace: default\n" \
	"  annotations: {" annotations "}\nspec:\n  type: LoadBalancer\n  ports: [{port: 80}]\n"

static char dir[64];

/* Written at the top of every file: "" or a long comment. */
static char *pad;

static void write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	if (pad)
		fputs(pad, f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static void remove_file(const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	unlink(path);
	free(path);
}

/* One reload as `ironlb run` does it; returns the address of default/NAME
 * ("" none, "-" not in the model). */
static void reload(struct pipeline *p, struct alloc *a, struct pipeline_pass *ps)
{
	pipeline_sync_dir(p, dir);
	pipeline_build(p, ps);
	pipeline_release_trees(p);
	pipeline_allocate(ps, a);
}

static const char *addr(const struct pipeline_pass *ps, const char *name, char *buf)
{
	for (size_t i = 0; i < ps->model.nservices; i++)
		if (strcmp(ps->model.services[i].meta.name, name) == 0)
			return ps->results[i].naddrs ? ip_format(&ps->results[i].addrs[0], buf) : "";
	return "-";
}

static void directory(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ironlb-test-pipeline-XXXXXX");
	assert_non_null(mkdtemp(dir));
	struct pipeline *p = pipeline_new(NULL);
	struct alloc *a = alloc_new();
	struct pipeline_pass ps;
	char b[IP_STR_MAX];

	write_file("pool.yaml", POOL);
	write_file("svc.yaml", SVC("one", "metallb.io/loadBalancerIPs: 192.0.2.5") "---\n"
			       SVC("two", ""));
	reload(p, a, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_VALID);
	assert_string_equal(addr(&ps, "one", b), "192.0.2.5");
	assert_string_equal(addr(&ps, "two", b), "192.0.2.0");
	pipeline_pass_free(&ps);

	/* Unchanged files: the same again. */
	reload(p, a, &ps);
	assert_true(ps.taken);
	assert_int_equal(ps.model.nservices, 2);
	assert_string_equal(addr(&ps, "one", b), "192.0.2.5");
	pipeline_pass_free(&ps);

	/* "one" breaks: its last good version keeps its address. */
	write_file("svc.yaml", SVC("one", "metallb.io/loadBalancerIPs: 192.0.2.x") "---\n"
			       SVC("two", ""));
	for (int round = 0; round < 2; round++) {
		reload(p, a, &ps);
		assert_int_equal(ps.verdict.nfailed, 1);
		assert_true(ps.verdict.failed[0].kept);
		assert_string_equal(addr(&ps, "one", b), "192.0.2.5");
		assert_string_equal(addr(&ps, "two", b), "192.0.2.0");
		pipeline_pass_free(&ps);
	}

	/* The file cannot be parsed: its objects stay; the configuration is
	 * Invalid, the last good one in force. */
	write_file("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: [unclosed\n");
	reload(p, a, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_INVALID);
	assert_true(ps.running && ps.stale);
	assert_string_equal(addr(&ps, "one", b), "192.0.2.5");
	assert_string_equal(addr(&ps, "two", b), "192.0.2.0");
	bool named = false;
	for (size_t i = 0; i < ps.verdict.nconfig_errors; i++)
		named |= strstr(ps.verdict.config_errors[i], "svc.yaml") != NULL;
	assert_true(named);
	pipeline_pass_free(&ps);

	/* Back to exactly its last good text: valid again. */
	write_file("svc.yaml", SVC("one", "metallb.io/loadBalancerIPs: 192.0.2.x") "---\n"
			       SVC("two", ""));
	reload(p, a, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_VALID);
	assert_false(ps.stale);
	assert_int_equal(ps.verdict.nfailed, 1);
	assert_string_equal(addr(&ps, "one", b), "192.0.2.5");
	pipeline_pass_free(&ps);

	/* Fixed, with "one" good again at another address. */
	write_file("svc.yaml", SVC("one", "metallb.io/loadBalancerIPs: 192.0.2.6") "---\n"
			       SVC("two", ""));
	reload(p, a, &ps);
	assert_int_equal(ps.verdict.config, PIPELINE_CONFIG_VALID);
	assert_int_equal(ps.verdict.nfailed, 0);
	assert_string_equal(addr(&ps, "one", b), "192.0.2.6");
	pipeline_pass_free(&ps);

	/* Removed: gone. */
	remove_file("svc.yaml");
	reload(p, a, &ps);
	assert_int_equal(ps.model.nservices, 0);
	assert_int_equal(ps.model.npools, 1);
	pipeline_pass_free(&ps);

	remove_file("pool.yaml");
	rmdir(dir);
	alloc_free(a);
	pipeline_free(p);
}

static void test_directory(void **state)
{
	(void)state;
	directory();
}

/* Files of 40 KiB: their last good text is kept deflated, and a broken
 * one is restored from it. */
static void test_directory_large_files(void **state)
{
	(void)state;
	size_t n = 40 * 1024;
	pad = xmalloc(n + 1);
	memset(pad, 'x', n);
	pad[0] = '#';
	pad[n - 1] = '\n';
	pad[n] = '\0';
	directory();
	free(pad);
	pad = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_directory_large_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
