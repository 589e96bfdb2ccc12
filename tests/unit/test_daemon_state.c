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
#include <time.h>
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

/* A document with one entry (E) between two good ones. */
#define GOOD1 "{\"namespace\":\"a\",\"name\":\"first\",\"addresses\":[\"10.0.0.1\"],\"pools\":[\"p\"]}"
#define GOOD2 "{\"namespace\":\"z\",\"name\":\"last\",\"addresses\":[\"10.0.0.2\"],\"pools\":[\"p\"]}"
#define DOC(E) "{\"version\":1,\"services\":[" GOOD1 ",\n" E ",\n" GOOD2 "]}"

static const struct {
	const char *text;
	const char *why;     /* not a state document: the error; NULL: parsed */
	const char *dropped; /* parsed, but the middle entry dropped with this */
} parse_rows[] = {
	{"{\"version\":1,\"services\":[]}", NULL, NULL},
	{"{\"version\":1,\"node\":\"n\",\"services\":[{\"namespace\":\"default\",\"name\":\"web\","
	 "\"addresses\":[\"192.168.100.10\",\"2001:db8:1::10\"],\"pools\":[\"a\",\"b\"]}]}",
	 NULL, NULL},
	{"{\"version\":2,\"services\":[]}", "not an ironlb state document", NULL},
	{"[]", "not an ironlb state document", NULL},
	{"{\"version\":1,", "line 1", NULL},
	{DOC("{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[\"1.2.3.4\"],\"pools\":[]}"), NULL,
	 "line 2: services[1]: needs namespace, name"},
	{DOC("{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[\"1.2.3\"],\"pools\":[\"p\"]}"), NULL,
	 "line 2: services[1].addresses[0]: not an address"},
	{DOC("{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[\"1.2.3.4\",\"1.2.3.5\"],"
	     "\"pools\":[\"p\",\"p\"]}"),
	 NULL, "line 2: services[1]: two addresses of one family"},
	{DOC("{\"namespace\":\"a\",\"name\":\"first\",\"addresses\":[],\"pools\":[]}"), NULL,
	 "line 2: a/first listed twice; the entry at line 1 is kept"},
	{DOC("{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[],\"pools\":[],"
	     "\"allocated\":1764000000000000}"),
	 NULL, NULL},
	{DOC("{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[],\"pools\":[],\"allocated\":-1}"),
	 NULL, "line 2: services[1].allocated: not a count of microseconds"},
	{DOC("{\"namespace\":\"a\",\"name\":\"b\",\"addresses\":[],\"pools\":[],\"allocated\":\"x\"}"),
	 NULL, "line 2: services[1].allocated: not a count of microseconds"},
	{DOC("7"), NULL, "line 2: services[1]: needs namespace, name"},
	/* Strings that look like structure do not confuse the line count. */
	{"{\"node\":\"[services\\\"{\",\"version\":1,\"services\":\n[" GOOD1 ",\n\n"
	 "{\"namespace\":\"a]\",\"name\":\",\",\"addresses\":[\"x\"],\"pools\":[\"p\"]}]}",
	 NULL, "line 4: services[1].addresses[0]: not an address"},
};

static void test_parse_table(void **st)
{
	(void)st;
	for (size_t i = 0; i < ARRAY_SIZE(parse_rows); i++) {
		struct state s;
		char *why = NULL;
		int rc = state_parse(parse_rows[i].text, strlen(parse_rows[i].text), &s, &why);
		if (!parse_rows[i].why) {
			if (rc != 0)
				fail_msg("row %zu: %s", i, why);
			if (parse_rows[i].dropped) {
				assert_int_equal(s.ndropped, 1);
				if (strncmp(s.dropped[0], parse_rows[i].dropped,
					    strlen(parse_rows[i].dropped)) != 0)
					fail_msg("row %zu: \"%s\" does not start with \"%s\"", i,
						 s.dropped[0], parse_rows[i].dropped);
			} else {
				assert_int_equal(s.ndropped, 0);
			}
			/* The entries around a dropped one are kept. */
			if (strstr(parse_rows[i].text, GOOD1))
				assert_non_null(state_find(&s, "a", "first"));
			if (strstr(parse_rows[i].text, GOOD2))
				assert_non_null(state_find(&s, "z", "last"));
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

/* A file as the daemon writes it, with one entry damaged by hand: that
 * entry alone is dropped, reported with its line, and the other 999 keep
 * their addresses. */
static void test_damaged_entry_keeps_the_rest(void **st)
{
	(void)st;
	char *dir = tmpdir();
	char *path = xasprintf("%s/state.json", dir);
	struct state s = {0}, back;
	char *pools[1] = {"p"};
	for (unsigned i = 0; i < 1000; i++) {
		char name[32], ip[32];
		struct ip_addr a;
		snprintf(name, sizeof(name), "svc-%04u", i);
		snprintf(ip, sizeof(ip), "10.1.%u.%u", i / 250, i % 250 + 1);
		a = A(ip);
		state_add(&s, "default", name, 1, &a, pools);
	}
	char *why = NULL, *aside = NULL;
	assert_int_equal(state_save(path, "n", &s, &why), 0);
	size_t len;
	char *text = file_read_all(path, &len);
	/* svc-0500's address, on the line it is written on */
	char *hit = strstr(text, "\"10.1.2.1\"");
	assert_non_null(hit);
	size_t line = 1;
	for (const char *c = text; c < hit; c++)
		line += *c == '\n';
	memcpy(hit + 1, "10.1.2.", 7);
	hit[8] = 'x';
	FILE *f = fopen(path, "w");
	fwrite(text, 1, len, f);
	fclose(f);
	free(text);

	assert_int_equal(state_load(path, &back, &aside, &why), STATE_LOADED);
	assert_int_equal(back.n, 999);
	assert_null(state_find(&back, "default", "svc-0500"));
	assert_non_null(state_find(&back, "default", "svc-0499"));
	assert_non_null(state_find(&back, "default", "svc-0501"));
	assert_int_equal(back.ndropped, 1);
	/* The entry's line: its opening brace, four lines above the address. */
	char *want = xasprintf("line %zu: services[500].addresses[0]: not an address",
			       line - 4);
	assert_string_equal(back.dropped[0], want);
	free(want);
	state_free(&back);
	state_free(&s);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: what the load costs, whatever else the
 * machine runs meanwhile. */
static double cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100,000 entries load in about half a second of CPU on a quiet machine
 * (a sort after each entry took minutes); the limit leaves room for a
 * machine busy with other work (shared caches), and more for the
 * sanitizer build. */
static void test_large_file_loads_fast(void **st)
{
	(void)st;
	char *dir = tmpdir();
	char *path = xasprintf("%s/state.json", dir);
	struct state s = {0}, back;
	char *pools[2] = {"v4", "v6"};
	for (unsigned i = 0; i < 100000; i++) {
		char ns[32], name[32], ip4[32], ip6[48];
		snprintf(ns, sizeof(ns), "team-%02u", i % 50);
		snprintf(name, sizeof(name), "service-%06u", (i * 7919u) % 100000);
		snprintf(ip4, sizeof(ip4), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		snprintf(ip6, sizeof(ip6), "2001:db8::%x:%x", i >> 16, i & 0xffff);
		struct ip_addr a[2] = {A(ip4), A(ip6)};
		state_add(&s, ns, name, 2, a, pools);
		s.entries[s.n - 1].stamp = 1764000000000000ull + i;
	}
	char *why = NULL, *aside = NULL;
	assert_int_equal(state_save(path, "n", &s, &why), 0);
	double t0 = mono(), c0 = cpu();
	assert_int_equal(state_load(path, &back, &aside, &why), STATE_LOADED);
	double took = cpu() - c0, wall = mono() - t0;
	assert_int_equal(back.n, 100000);
	assert_int_equal(back.ndropped, 0);
	assert_non_null(state_find(&back, "team-07", "service-055433"));
#if defined(__SANITIZE_ADDRESS__) || defined(IRONLB_SANITIZE)
	double limit = 5.0;
#else
	double limit = 1.0;
#endif
	printf("100,000 entries loaded in %.3f s of CPU (%.3f s wall)\n", took, wall);
	if (took > limit)
		fail_msg("100,000 entries took %.2f s of CPU to load (limit %.1f s)", took,
			 limit);
	state_free(&back);
	state_free(&s);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

/* Not a regular file, or too large: refused unread, the path untouched. */
static void test_size_limit_and_devices(void **st)
{
	(void)st;
	struct state s;
	char *why = NULL, *aside = NULL;
	double t0 = mono();
	assert_int_equal(state_load("/dev/zero", &s, &aside, &why), STATE_UNREADABLE);
	assert_true(mono() - t0 < 1.0);
	assert_null(aside);
	assert_non_null(strstr(why, "/dev/zero: not a regular file"));
	free(why);

	char *dir = tmpdir();
	char *path = xasprintf("%s/state.json", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"version\":1,\"services\":[", f);
	assert_int_equal(ftruncate(fileno(f), (off_t)STATE_MAX_BYTES + 1), 0);
	fclose(f);
	assert_int_equal(state_load(path, &s, &aside, &why), STATE_UNREADABLE);
	assert_null(aside);
	assert_non_null(strstr(why, "larger than 64 MiB"));
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0); /* left where it was */
	free(why);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

/* Two damaged files within one second are both kept, under two names. */
static void test_corrupt_twice_in_a_second(void **st)
{
	(void)st;
	char *dir = tmpdir();
	char *path = xasprintf("%s/state.json", dir);
	char *asides[3] = {0};
	for (int i = 0; i < 3; i++) {
		FILE *f = fopen(path, "w");
		fprintf(f, "damaged %d", i);
		fclose(f);
		struct state s;
		char *why = NULL;
		assert_int_equal(state_load(path, &s, &asides[i], &why), STATE_CORRUPT);
		free(why);
	}
	for (int i = 0; i < 3; i++) {
		char want[32];
		snprintf(want, sizeof(want), "damaged %d", i);
		char *text = file_read_all(asides[i], NULL);
		assert_non_null(text);
		assert_string_equal(text, want);
		free(text);
		unlink(asides[i]);
		free(asides[i]);
	}
	assert_int_equal(rmdir(dir), 0); /* nothing else left */
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
		cmocka_unit_test(test_damaged_entry_keeps_the_rest),
		cmocka_unit_test(test_large_file_loads_fast),
		cmocka_unit_test(test_size_limit_and_devices),
		cmocka_unit_test(test_corrupt_twice_in_a_second),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
