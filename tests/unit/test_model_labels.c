/*
 * Labels, label selectors, community values and name syntax: tables of
 * inputs and expected results.
 */
#include "test_model_helpers.h"

#include "model/internal.h"

static void test_labels(void **state)
{
	(void)state;
	struct labels l = {0};
	const char *keys[] = {"m", "a", "z", "b", "a"};
	const char *vals[] = {"1", "2", "3", "4", "5"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		labels_set(&l, keys[i], vals[i]);
	assert_int_equal(l.n, 4);
	const char *sorted[] = {"a", "b", "m", "z"};
	for (size_t i = 0; i < l.n; i++)
		assert_string_equal(l.items[i].key, sorted[i]);
	assert_string_equal(labels_get(&l, "a"), "5");
	assert_string_equal(labels_get(&l, "z"), "3");
	assert_null(labels_get(&l, "c"));
	labels_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(labels_get(&l, "a"));
}

/* A packed set (one block, as decoding leaves it) reads the same, and
 * changes like any other (ASan checks the blocks). */
static void test_labels_pack(void **state)
{
	(void)state;
	struct labels l = {0};
	labels_pack(&l);
	assert_int_equal(l.n, 0);
	labels_set(&l, "app", "web");
	labels_set(&l, "tier", "front");
	labels_set(&l, "a", "");
	assert_false(l.packed);
	labels_pack(&l);
	labels_pack(&l);
	assert_true(l.packed);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0].key, "a");
	assert_string_equal(l.items[0].value, "");
	assert_string_equal(labels_get(&l, "app"), "web");
	assert_string_equal(labels_get(&l, "tier"), "front");
	/* changing a value and adding a key to a packed set */
	labels_set(&l, "app", "api");
	assert_false(l.packed);
	assert_string_equal(labels_get(&l, "app"), "api");
	assert_string_equal(labels_get(&l, "tier"), "front");
	labels_pack(&l);
	labels_set(&l, "b", "2");
	assert_int_equal(l.n, 4);
	assert_string_equal(l.items[2].key, "b");
	assert_string_equal(labels_get(&l, "a"), "");
	labels_pack(&l);
	labels_free(&l);
	assert_int_equal(l.n, 0);
	labels_free(&l);
}

/* Selectors are written in YAML (as in a manifest) and matched against
 * label sets written "k=v,k2=v2". */
static void labels_from(struct labels *l, const char *text)
{
	char *copy = xstrdup(text);
	for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
		char *eq = strchr(tok, '=');
		*eq = '\0';
		labels_set(l, tok, eq + 1);
	}
	free(copy);
}

static void test_selectors(void **state)
{
	(void)state;
	struct {
		const char *selector; /* YAML flow map; "" for an empty selector */
		const char *labels;
		bool match;
	} rows[] = {
		{"{}", "", true},
		{"{}", "a=1", true},
		{"{matchLabels: {a: \"1\"}}", "a=1", true},
		{"{matchLabels: {a: \"1\"}}", "a=2", false},
		{"{matchLabels: {a: \"1\"}}", "b=1", false},
		{"{matchLabels: {a: \"1\", b: \"2\"}}", "a=1,b=2,c=3", true},
		{"{matchLabels: {a: \"1\", b: \"2\"}}", "a=1", false},
		{"{matchExpressions: [{key: a, operator: In, values: [\"1\", \"2\"]}]}", "a=2", true},
		{"{matchExpressions: [{key: a, operator: In, values: [\"1\"]}]}", "b=1", false},
		{"{matchExpressions: [{key: a, operator: NotIn, values: [\"1\"]}]}", "a=2", true},
		{"{matchExpressions: [{key: a, operator: NotIn, values: [\"1\"]}]}", "b=2", true},
		{"{matchExpressions: [{key: a, operator: NotIn, values: [\"1\"]}]}", "a=1", false},
		{"{matchExpressions: [{key: a, operator: Exists}]}", "a=", true},
		{"{matchExpressions: [{key: a, operator: Exists}]}", "b=1", false},
		{"{matchExpressions: [{key: a, operator: DoesNotExist}]}", "b=1", true},
		{"{matchExpressions: [{key: a, operator: DoesNotExist}]}", "a=1", false},
		{"{matchLabels: {a: \"1\"}, matchExpressions: [{key: b, operator: Exists}]}",
		 "a=1,b=x", true},
		{"{matchLabels: {a: \"1\"}, matchExpressions: [{key: b, operator: Exists}]}", "a=1",
		 false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char *y = xasprintf(L2ADV("a") "  nodeSelectors:\n  - %s\n", rows[i].selector);
		struct loaded l;
		load_yaml(&l, NULL, y, false);
		if (l.d.n)
			print_diags(&l.d);
		assert_int_equal(l.d.n, 0);
		const struct l2adv *a = &l.m.l2advs[0];
		assert_int_equal(a->nnode_selectors, 1);
		struct labels lb = {0};
		labels_from(&lb, rows[i].labels);
		if (selector_matches(&a->node_selectors[0], &lb) != rows[i].match)
			fail_msg("row %zu: %s against %s", i, rows[i].selector, rows[i].labels);
		/* a list of one matches as the selector does */
		assert_int_equal(selectors_match_any(a->node_selectors, 1, &lb, false),
				 rows[i].match);
		labels_free(&lb);
		unload(&l);
		free(y);
	}
	struct labels none = {0};
	assert_true(selectors_match_any(NULL, 0, &none, true));
	assert_false(selectors_match_any(NULL, 0, &none, false));
}

static void test_selector_canon(void **state)
{
	(void)state;
	struct {
		const char *a, *b;
		bool same;
	} rows[] = {
		{"{matchLabels: {a: \"1\", b: \"2\"}}", "{matchLabels: {b: \"2\", a: \"1\"}}", true},
		{"{matchExpressions: [{key: a, operator: In, values: [x, y]}]}",
		 "{matchExpressions: [{key: a, operator: In, values: [y, x]}]}", true},
		{"{matchExpressions: [{key: a, operator: Exists}, {key: b, operator: Exists}]}",
		 "{matchExpressions: [{key: b, operator: Exists}, {key: a, operator: Exists}]}", true},
		{"{matchExpressions: [{key: a, operator: In, values: [x]}]}",
		 "{matchExpressions: [{key: a, operator: NotIn, values: [x]}]}", false},
		{"{matchLabels: {a: \"1\"}}", "{matchExpressions: [{key: a, operator: In, values: "
					      "[\"1\"]}]}",
		 false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char *y = xasprintf(L2ADV("a") "  nodeSelectors:\n  - %s\n  - %s\n", rows[i].a,
				    rows[i].b);
		struct loaded l;
		load_yaml(&l, NULL, y, false);
		/* the same selector twice is reported; different ones are not */
		if ((l.d.n == 1) != rows[i].same) {
			print_diags(&l.d);
			fail_msg("row %zu", i);
		}
		unload(&l);
		free(y);
	}
}

static void test_community_parse(void **state)
{
	(void)state;
	struct {
		const char *in;
		int ret;
		enum community_kind kind;
		uint32_t a, b, c;
		const char *out;
	} rows[] = {
		{"64500:100", 0, COMMUNITY_STANDARD, 64500, 100, 0, "64500:100"},
		{"0:0", 0, COMMUNITY_STANDARD, 0, 0, 0, "0:0"},
		{"65535:65535", 0, COMMUNITY_STANDARD, 65535, 65535, 0, "65535:65535"},
		{"0064500:01", 0, COMMUNITY_STANDARD, 64500, 1, 0, "64500:1"},
		{"large:4294967295:0:1", 0, COMMUNITY_LARGE, 4294967295u, 0, 1,
		 "large:4294967295:0:1"},
		{"65536:1", -1, 0, 0, 0, 0, NULL},
		{"1:65536", -1, 0, 0, 0, 0, NULL},
		{"large:4294967296:0:1", -1, 0, 0, 0, 0, NULL},
		{"LARGE:1:2:3", -1, 0, 0, 0, 0, NULL},
		{"big:1:2:3", -1, 0, 0, 0, 0, NULL},
		{"1:2:3", -1, 0, 0, 0, 0, NULL},
		{"1:2:3:4:5", -1, 0, 0, 0, 0, NULL},
		{"no-export", -1, 0, 0, 0, 0, NULL},
		{"1:", -1, 0, 0, 0, 0, NULL},
		{":1", -1, 0, 0, 0, 0, NULL},
		{"+1:1", -1, 0, 0, 0, 0, NULL},
		{" 1:1", -1, 0, 0, 0, 0, NULL},
		{"1:1 ", -1, 0, 0, 0, 0, NULL},
		{"", -1, 0, 0, 0, 0, NULL},
		{"99999999999999999999:1", -1, 0, 0, 0, 0, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct community_value v;
		char why[200] = "";
		int r = community_parse(rows[i].in, &v, why, sizeof(why));
		if (r != rows[i].ret)
			fail_msg("row %zu (%s): got %d", i, rows[i].in, r);
		if (r < 0) {
			assert_true(strncmp(why, "is not a community", 18) == 0);
			continue;
		}
		assert_int_equal(v.kind, rows[i].kind);
		assert_int_equal(v.a, rows[i].a);
		assert_int_equal(v.b, rows[i].b);
		assert_int_equal(v.c, rows[i].c);
		char buf[64];
		assert_string_equal(community_format(&v, buf, sizeof(buf)), rows[i].out);
	}
	/* why may be NULL */
	struct community_value v;
	assert_int_equal(community_parse("x", &v, NULL, 0), -1);
	assert_int_equal(community_parse("1:70000", &v, NULL, 0), -1);
}

static void test_names(void **state)
{
	(void)state;
	struct {
		const char *s;
		bool subdomain, label, dns1035, key, value, ifname;
	} rows[] = {
		{"a", true, true, true, true, true, true},
		{"ipv4-pool", true, true, true, true, true, true},
		{"metallb-system", true, true, true, true, true, true},
		{"a.b", true, false, false, true, true, true},
		{"1abc", true, true, false, true, true, true},
		{"-a", false, false, false, false, false, true},
		{"a-", false, false, false, false, false, true},
		{"A", false, false, false, true, true, true},
		{"a_b", false, false, false, true, true, true},
		{"a..b", false, false, false, true, true, true},
		{"", false, false, false, false, true, false},
		{"example.com/name", false, false, false, true, false, false},
		{"Example.com/name", false, false, false, false, false, false},
		{"example.com/", false, false, false, false, false, false},
		{"a/b/c", false, false, false, false, false, false},
		{"eth0.100", true, false, false, true, true, true},
		{"has space", false, false, false, false, false, false},
		{"0123456789abcdef", true, true, false, true, true, false},
		{"bond0:1", false, false, false, false, false, false},
		{".", false, false, false, false, false, false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *s = rows[i].s;
		if ((check_dns1123_subdomain(s) == NULL) != rows[i].subdomain ||
		    (check_dns1123_label(s) == NULL) != rows[i].label ||
		    (check_dns1035_label(s) == NULL) != rows[i].dns1035 ||
		    (check_label_key(s) == NULL) != rows[i].key ||
		    (check_label_value(s) == NULL) != rows[i].value ||
		    (check_ifname(s) == NULL) != rows[i].ifname)
			fail_msg("row %zu (\"%s\")", i, s);
	}
	char long_label[65];
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	assert_non_null(check_dns1123_label(long_label));
	assert_non_null(check_label_value(long_label));
	long_label[63] = '\0';
	assert_null(check_dns1123_label(long_label));
	assert_null(check_label_value(long_label));
}

static void test_text_helpers(void **state)
{
	(void)state;
	struct {
		const char *in, *out;
	} q[] = {
		{"abc", "\"abc\""},
		{"a\"b\\c", "\"a\\\"b\\\\c\""},
		{"a\nb\tc\x01", "\"a\\nb\\tc\\x01\""},
	};
	for (size_t i = 0; i < ARRAY_SIZE(q); i++) {
		char *s = quote(q[i].in);
		assert_string_equal(s, q[i].out);
		free(s);
	}
	char longs[300];
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	char *s = quote(longs);
	assert_int_equal(strlen(s), 100 + 5);
	assert_true(strcmp(s + 101, "...\"") == 0);
	free(s);

	const char *names[] = {"ipv6-pool", "ipv4-pool", "production-ipv4", "staging-ipv4",
			       "a", "b", "c"};
	struct {
		const char *name;
		size_t n;
		const char *hint;
	} h[] = {
		{"ipv4-pol", 4, " (did you mean \"ipv4-pool\"?)"},
		{"critical-ipv6-pool", 2, " (known: ipv4-pool, ipv6-pool)"},
		{"zzz", 7, " (known: a, b, c, ipv4-pool, ipv6-pool, ...)"},
		{"zzz", 0, " (none is defined)"},
		{"IPV6-POOL", 1, " (did you mean \"ipv6-pool\"?)"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(h); i++) {
		char *t = known_names_hint(h[i].name, names, h[i].n);
		assert_string_equal(t, h[i].hint);
		free(t);
	}
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(obj_kind_name(KIND_IPADDRESSPOOL), "IPAddressPool");
	assert_string_equal(obj_kind_name(KIND_ENDPOINTSLICE), "EndpointSlice");
	assert_string_equal(obj_kind_name(KIND_COUNT_), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_labels_pack),
		cmocka_unit_test(test_selectors),
		cmocka_unit_test(test_selector_canon),
		cmocka_unit_test(test_community_parse),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_text_helpers),
		cmocka_unit_test(test_kind_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
