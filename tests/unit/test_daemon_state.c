/* The state file: parsing, atomic save and load, corrupt files moved aside. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/util.h"
#include "daemon/state.h"

static struct ip_addr A(const char *s)
{
	struct ip_addr a;
	assert_int_equal(ip_parse(s, &a, NULL, 0), 0);
	return a;
}

static const struct {
	const char *text;
	const char *why; /* NULL: accepted */
} parse_rows[] = {
	{"{\"version\":1,\"services\":[]}", NULL},
	{"{\"version\":1,\"node\":\"n\",\"services\":[{\"namespace\":\"default\",\"name\":\"web\","
	 "\"addresses\":[\"192.168.100.10\",\"2001:db8:1::10\"],\"pools\":[\"a\",\"b\"]}]}",
	 NULL},
	{"{\"version\":2,\"services\":[]}", "not an ironlb state document"},
	{"[]", "not an ironlb state document"},
	{"{\"version\":1,\"services\":[{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[\"1.2.3.4\"],"
	 "\"pools\":[]}]}",
	 "services[0]: needs namespace, name"},
	{"{\"version\":1,\"services\":[{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[\"1.2.3\"],"
	 "\"pools\":[\"p\"]}]}",
	 "services[0].addresses[0]: not an address"},
	{"{\"version\":1,\"services\":[{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[\"1.2.3.4\","
	 "\"1.2.3.5\"],\"pools\":[\"p\",\"p\"]}]}",
	 "two addresses of one family"},
	{"{\"version\":1,\"services\":[{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[],\"pools\":[]},"
	 "{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[],\"pools\":[]}]}",
	 "a/b listed twice"},
	{"{\"version\":1,", "line 1"},
	{"{\"version\":1,\"services\":[{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[],"
	 "\"pools\":[],\"allocated\":1764000000000000}]}",
	 NULL},
	{"{\"version\":1,\"services\":[{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[],"
	 "\"pools\":[],\"allocated\":-1}]}",
	 "services[0].allocated: not a count of microseconds"},
	{"{\"version\":1,\"services\":[{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[],"
	 "\"pools\":[],\"allocated\":\"x\"}]}",
	 "services[0].allocated: not a count of microseconds"},
};

static void test_parse_table(void **st)
{
	(void)st;
	for (size_t i = 0; i < ARRAY_SIZE(parse_rows); i++) {
		struct state s;
		char *why = NULL;
		int rc = state_parse(parse_rows[i].text, strlen(parse_rows[i].text), &s, &why);
		if (!parse_rows[i].why) {
			assert_int_equal(rc, 0);
			state_free(&s);
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(why);
			if (!strstr(why, parse_rows[i].why))
				fail_msg("row %zu: \"%s\" does not contain \"%s\"", i, why,
					 parse_rows[i].why);
			free(why);
		}
	}
}

static char *tmpdir(void)
{
	char *t = xstrdup("/tmp/ironlb-state-XXXXXX");
	assert_non_null(mkdtemp(t));
	return t;
}

/* The file is written as text directly: the same bytes jansson gives for
 * the document (JSON_INDENT(1)), and names that need escaping come back
 * as they were. */
static void test_save_text_layout(void **st)
{
	(void)st;
	char *dir = tmpdir();
	char *path = xasprintf("%s/state.json", dir);
	struct state s = {0}, back;
	struct ip_addr two[2] = {A("2001:db8:1::2"), A("192.168.100.2")};
	char *pools[2] = {"ipv6-pool", "ipv4-pool"};
	state_add(&s, "default", "we\"b\\x\ty\001", 2, two, pools);
	s.entries[0].stamp = 1764000000123456ull;
	state_add(&s, "apps", "none", 0, NULL, NULL);
	char *why = NULL, *aside = NULL;
	assert_int_equal(state_save(path, "node-\"a", &s, &why), 0);
	size_t len = 0;
	char *text = file_read_all(path, &len);
	assert_non_null(text);
	json_error_t err;
	json_t *doc = json_loads(text, 0, &err);
	assert_non_null(doc);
	char *want = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	assert_int_equal(len, strlen(want) + 1);
	assert_memory_equal(text, want, strlen(want));
	assert_int_equal(text[len - 1], '\n');
	assert_int_equal(state_load(path, &back, &aside, &why), STATE_LOADED);
	assert_non_null(state_find(&back, "default", "we\"b\\x\ty\001"));
	assert_int_equal(state_find(&back, "default", "we\"b\\x\ty\001")->stamp,
			 1764000000123456ull);
	free(want);
	json_decref(doc);
	free(text);
	state_free(&back);
	state_free(&s);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

static void test_save_load_roundtrip(void **st)
{
	(void)st;
	char *dir = tmpdir();
	char *path = xasprintf("%s/state.json", dir);
	struct state s = {0}, back;
	struct ip_addr two[2] = {A("2001:db8:1::2"), A("192.168.100.2")};
	char *pools[2] = {"ipv6-pool", "ipv4-pool"};
	state_add(&s, "default", "web", 2, two, pools);
	s.entries[0].stamp = 1764000000123456ull;   /* when allocated */
	struct ip_addr one = A("192.168.100.3");
	char *p1[1] = {"ipv4-pool"};
	state_add(&s, "apps", "api", 1, &one, p1);
	char *why = NULL, *aside = NULL;
	assert_int_equal(state_load(path, &back, &aside, &why), STATE_MISSING);
	assert_int_equal(state_save(path, "node-a", &s, &why), 0);
	assert_int_equal(state_load(path, &back, &aside, &why), STATE_LOADED);
	assert_int_equal(back.n, 2);
	const struct state_entry *e = state_find(&back, "default", "web");
	assert_non_null(e);
	assert_int_equal(e->naddrs, 2);
	/* ingress order is kept */
	assert_true(ip_eq(&e->addrs[0], &two[0]));
	assert_true(ip_eq(&e->addrs[1], &two[1]));
	assert_string_equal(e->pools[0], "ipv6-pool");
	assert_int_equal(e->stamp, 1764000000123456ull);
	assert_int_equal(state_find(&back, "apps", "api")->stamp, 0);   /* unknown: not written */
	assert_non_null(state_find(&back, "apps", "api"));
	assert_null(state_find(&back, "apps", "nope"));
	/* no temporary file left behind */
	DIR *d = opendir(dir);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d)) != NULL)
		files += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(files, 1);
	state_free(&back);
	state_free(&s);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

static void test_corrupt_is_moved_aside(void **st)
{
	(void)st;
	char *dir = tmpdir();
	char *path = xasprintf("%s/state.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"version\":1, \"services\": [", f);
	fclose(f);
	struct state s;
	char *why = NULL, *aside = NULL;
	assert_int_equal(state_load(path, &s, &aside, &why), STATE_CORRUPT);
	assert_non_null(aside);
	assert_non_null(why);
	struct stat sb;
	assert_int_equal(stat(path, &sb), -1);     /* original moved, not overwritten */
	assert_int_equal(stat(aside, &sb), 0);     /* kept for a person to read */
	assert_true(strstr(aside, "state.json.corrupt-") != NULL);
	assert_int_equal(s.n, 0);
	unlink(aside);
	rmdir(dir);
	free(aside);
	free(why);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_save_load_roundtrip),
		cmocka_unit_test(test_save_text_layout),
		cmocka_unit_test(test_corrupt_is_moved_aside),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
