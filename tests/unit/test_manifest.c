/*
 * Manifest reader and tree: scalar resolution, documents and Lists,
 * positions, duplicate keys, syntax errors, anchors and merge keys,
 * directories, paths, and the jansson conversions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/util.h"
#include "manifest/manifest.h"
#include "manifest/tree.h"

/* ---- helpers ---- */

static int read_text(struct manifest_set *set, struct diag_list *d, const char *text)
{
	return manifest_read_buffer(set, "x.yaml", text, strlen(text), d);
}

/* The formatted diagnostic containing needle, or NULL. */
static char *find_diag(const struct diag_list *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->items[i]);
		if (strstr(s, needle))
			return s;
		free(s);
	}
	return NULL;
}

static void expect_diag(const struct diag_list *d, const char *needle)
{
	char *s = find_diag(d, needle);
	if (!s) {
		print_error("no diagnostic contains \"%s\"; got %zu:\n", needle, d->n);
		diag_print(d, stderr);
		fail();
	}
	free(s);
}

static void expect_no_diags(const struct diag_list *d)
{
	if (d->n) {
		diag_print(d, stderr);
		fail_msg("expected no diagnostics, got %zu", d->n);
	}
}

static const char *name_of(const struct tree *obj)
{
	return tree_get_str(tree_get(obj, "metadata"), "name");
}

/* ---- scalars ---- */

struct scalar_case {
	const char *yaml;   /* written after "v: " */
	enum tree_type type;
	int64_t i;
	double f;           /* NAN: expect a NaN */
	bool b;
	const char *text;
	bool overflow;
};

static const struct scalar_case scalar_cases[] = {
	{"true", TREE_BOOL, .b = true, .text = "true"},
	{"True", TREE_BOOL, .b = true, .text = "True"},
	{"TRUE", TREE_BOOL, .b = true, .text = "TRUE"},
	{"false", TREE_BOOL, .b = false, .text = "false"},
	{"False", TREE_BOOL, .b = false, .text = "False"},
	{"FALSE", TREE_BOOL, .b = false, .text = "FALSE"},
	{"tRUE", TREE_STRING, .text = "tRUE"},
	{"yes", TREE_STRING, .text = "yes"},
	{"null", TREE_NULL, .text = "null"},
	{"Null", TREE_NULL, .text = "Null"},
	{"NULL", TREE_NULL, .text = "NULL"},
	{"~", TREE_NULL, .text = "~"},
	{"", TREE_NULL, .text = ""},
	{"nULL", TREE_STRING, .text = "nULL"},
	{"0", TREE_INT, .i = 0, .text = "0"},
	{"42", TREE_INT, .i = 42, .text = "42"},
	{"-17", TREE_INT, .i = -17, .text = "-17"},
	{"+5", TREE_INT, .i = 5, .text = "+5"},
	{"007", TREE_INT, .i = 7, .text = "007"},
	{"0x1F", TREE_INT, .i = 31, .text = "0x1F"},
	{"0xff", TREE_INT, .i = 255, .text = "0xff"},
	{"0o17", TREE_INT, .i = 15, .text = "0o17"},
	{"9223372036854775807", TREE_INT, .i = INT64_MAX, .text = "9223372036854775807"},
	{"-9223372036854775808", TREE_INT, .i = INT64_MIN, .text = "-9223372036854775808"},
	{"9223372036854775808", TREE_FLOAT, .f = 9223372036854775808.0,
	 .text = "9223372036854775808", .overflow = true},
	{"0x10000000000000000", TREE_FLOAT, .f = 18446744073709551616.0,
	 .text = "0x10000000000000000", .overflow = true},
	{"0x", TREE_STRING, .text = "0x"},
	{"0o8", TREE_STRING, .text = "0o8"},
	{"0xg", TREE_STRING, .text = "0xg"},
	{"1_000", TREE_STRING, .text = "1_000"},
	{"1.5", TREE_FLOAT, .f = 1.5, .text = "1.5"},
	{"1e3", TREE_FLOAT, .f = 1000, .text = "1e3"},
	{"-2.5E-3", TREE_FLOAT, .f = -0.0025, .text = "-2.5E-3"},
	{".5", TREE_FLOAT, .f = 0.5, .text = ".5"},
	{"1.", TREE_FLOAT, .f = 1, .text = "1."},
	{".inf", TREE_FLOAT, .f = INFINITY, .text = ".inf"},
	{"-.Inf", TREE_FLOAT, .f = -INFINITY, .text = "-.Inf"},
	{".NaN", TREE_FLOAT, .f = NAN, .text = ".NaN"},
	{".", TREE_STRING, .text = "."},
	{"e3", TREE_STRING, .text = "e3"},
	{"1e", TREE_STRING, .text = "1e"},
	{"1.2.3", TREE_STRING, .text = "1.2.3"},
	{"64500:100", TREE_STRING, .text = "64500:100"},
	{"2001:db8::1", TREE_STRING, .text = "2001:db8::1"},
	{"192.168.1.1", TREE_STRING, .text = "192.168.1.1"},
	{"10.0.0.0/8", TREE_STRING, .text = "10.0.0.0/8"},
	{"90s", TREE_STRING, .text = "90s"},
	{"1h30m", TREE_STRING, .text = "1h30m"},
	/* quoted, block and tagged scalars */
	{"\"true\"", TREE_STRING, .text = "true"},
	{"'42'", TREE_STRING, .text = "42"},
	{"\"null\"", TREE_STRING, .text = "null"},
	{"''", TREE_STRING, .text = ""},
	{"\"a\\tb\"", TREE_STRING, .text = "a\tb"},
	{"|\n  12\n", TREE_STRING, .text = "12\n"},
	{">-\n  a\n  b\n", TREE_STRING, .text = "a b"},
	{"!!str 42", TREE_STRING, .text = "42"},
	{"! 42", TREE_STRING, .text = "42"},
	{"!!int \"42\"", TREE_INT, .i = 42, .text = "42"},
	{"!!float 3", TREE_FLOAT, .f = 3, .text = "3"},
	{"!!bool 'true'", TREE_BOOL, .b = true, .text = "true"},
	{"multi\n  line", TREE_STRING, .text = "multi line"},
};

static void check_scalar(const struct scalar_case *c, const struct tree *t)
{
	assert_non_null(t);
	if (t->type != c->type)
		fail_msg("%s: type %s, expected %s", c->yaml, tree_type_name(t->type),
			 tree_type_name(c->type));
	assert_string_equal(t->text, c->text);
	assert_int_equal(t->int_overflow, c->overflow);
	switch (c->type) {
	case TREE_BOOL:
		assert_int_equal(t->b, c->b);
		break;
	case TREE_INT:
		assert_true(t->i == c->i);
		break;
	case TREE_FLOAT:
		if (isnan(c->f))
			assert_true(isnan(t->f));
		else
			assert_true(t->f == c->f);
		break;
	default:
		break;
	}
}

static void test_scalar_resolution(void **state)
{
	for (size_t k = 0; k < ARRAY_SIZE(scalar_cases); k++) {
		const struct scalar_case *c = &scalar_cases[k];
		char *doc = xasprintf("apiVersion: v1\nkind: ConfigMap\nv: %s\n", c->yaml);
		struct manifest_set set = {0};
		struct diag_list d = {0};
		assert_int_equal(read_text(&set, &d, doc), 0);
		expect_no_diags(&d);
		assert_int_equal(set.n, 1);
		const struct tree *v = tree_get(set.objects[0], "v");
		check_scalar(c, v);
		assert_int_equal(v->line, 3);
		/* the plain resolver on its own agrees for plain scalars */
		if (!strchr("\"'|>!", c->yaml[0]) && !strchr(c->yaml, '\n')) {
			struct tree *p = tree_new_plain_scalar(c->yaml, NULL, 0);
			check_scalar(c, p);
			tree_free(p);
		}
		manifest_set_free(&set);
		diag_list_free(&d);
		free(doc);
	}
}

/* Quoted and block scalars; the values are what PyYAML reads. */
static const struct {
	const char *yaml; /* after "v: " */
	const char *value;
} text_cases[] = {
	{"'x''''\t'", "x''\t"},
	{"'a''''''''''b'", "a'''''b"},
	{"'one\n  two\n\n  three  \n   four'", "one two\nthree four"},
	{"'x\r\n  y'", "x y"},
	{"\" \\ \n  \"", "   "},
	{"\"\\\\\t\n  \"", "\\ "},
	{"\"\\\n  \n\n  \"", "\n\n"},
	{"\"a \\\n   b\"", "a b"},
	{"\"\\x41\\u00e9\\U0001F600\\N\\_\\L\\P\\/\\e\"", "A\xc3\xa9" "\xf0\x9f\x98\x80" "\xc2\x85" "\xc2\xa0" "\xe2\x80\xa8" "\xe2\x80\xa9" "/\x1b"},
	{"\"tab\\\tx\"", "tab\tx"},
	{"\"fold\n  me\n\n  twice\"", "fold me\ntwice"},
	{">\n  x\n\n   x\n", "x\n\n x\n"},
	{">\n  a\n  b\n\n  c\n   d\n  e\n", "a b\nc\n d\ne\n"},
	{">-\n  a\n  b\n\n", "a b"},
	{">+\n  a\n\n\n", "a\n\n\n"},
	{"|\n  \n  \t\n", "\n\t\n"},
	{"|\n  a\n   b\n\n", "a\n b\n"},
	{"|-\n  a\n\n", "a"},
	{"|+\n  a\n\n", "a\n\n"},
	{"|2\n   x\n  y\n", " x\ny\n"},
	{"|1-\n  x\n", " x"},
	{"|  # comment\n  text\n", "text\n"},
	{"!!str |\n  tagged\n", "tagged\n"},
	{"&anchor >\n  anchored\n  line\n", "anchored line\n"},
};

static void test_quoted_and_block_scalars(void **state)
{
	for (size_t k = 0; k < ARRAY_SIZE(text_cases); k++) {
		const char *y = text_cases[k].yaml;
		bool nl = y[strlen(y) - 1] == '\n';
		char *doc = xasprintf("apiVersion: v1\nkind: A\nv: %s%sw: end\n", y, nl ? "" : "\n");
		struct manifest_set set = {0};
		struct diag_list d = {0};
		assert_int_equal(read_text(&set, &d, doc), 0);
		expect_no_diags(&d);
		const struct tree *v = tree_get(set.objects[0], "v");
		assert_int_equal(v->type, TREE_STRING);
		if (strcmp(v->text, text_cases[k].value) != 0)
			fail_msg("case %zu: got \"%s\"", k, v->text);
		assert_int_equal(v->line, 3);
		assert_string_equal(tree_get_str(set.objects[0], "w"), "end");
		manifest_set_free(&set);
		diag_list_free(&d);
		free(doc);
	}
}

static void test_tag_mismatch(void **state)
{
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(read_text(&set, &d, "apiVersion: v1\nkind: A\nv: !!int abc\n"), -1);
	expect_diag(&d, "x.yaml:3: \"abc\" is tagged !!int but is a string");
	assert_int_equal(set.n, 0);
	manifest_set_free(&set);
	diag_list_free(&d);
}

/* ---- documents ---- */

static void test_multi_document(void **state)
{
	static const char text[] =
		"# leading comment\n"                 /* 1 */
		"---\n"                               /* 2 */
		"# a document of comments only\n"    /* 3 */
		"---\n"                               /* 4 */
		"apiVersion: v1\n"                    /* 5 */
		"kind: ConfigMap   # trailing\n"      /* 6 */
		"metadata: {name: one}\n"             /* 7 */
		"---\n"                               /* 8 */
		"---\n"                               /* 9 */
		"\n"                                  /* 10 */
		"# comment before the object\n"      /* 11 */
		"apiVersion: v1\n"                    /* 12 */
		"kind: ConfigMap\n"                   /* 13 */
		"metadata:\n"                         /* 14 */
		"  name: two\n"                       /* 15 */
		"...\n"                               /* 16 */
		"--- null\n"                          /* 17 */
		"--- ~\n"                             /* 18 */
		"---\n"                               /* 19 */
		"apiVersion: v1\n"                    /* 20 */
		"kind: ConfigMap\n"                   /* 21 */
		"metadata:\n"                         /* 22 */
		"  name: three\n"                     /* 23 */
		"---\n"                               /* 24 */
		"# trailing comment\n";               /* 25 */
	static const struct {
		const char *name;
		int line;
	} want[] = {{"one", 5}, {"two", 12}, {"three", 20}};
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(read_text(&set, &d, text), 0);
	expect_no_diags(&d);
	assert_int_equal(set.n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_string_equal(name_of(set.objects[i]), want[i].name);
		assert_int_equal(set.objects[i]->line, want[i].line);
		assert_string_equal(set.objects[i]->file, "x.yaml");
	}
	manifest_set_free(&set);
	diag_list_free(&d);
}

static void test_empty_inputs(void **state)
{
	static const char *const texts[] = {
		"", "\n\n", "# only a comment\n", "---\n", "---\n---\n# x\n...\n", "null\n", "~",
	};
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct manifest_set set = {0};
		struct diag_list d = {0};
		assert_int_equal(read_text(&set, &d, texts[i]), 0);
		expect_no_diags(&d);
		assert_int_equal(set.n, 0);
		manifest_set_free(&set);
		diag_list_free(&d);
	}
}

struct error_case {
	const char *text;
	const char *diag;  /* expected in one formatted diagnostic */
	size_t objects;    /* objects still read */
};

static const struct error_case error_cases[] = {
	/* documents that are not objects */
	{"- a\n- b\n", "x.yaml:1: document is a sequence; a Kubernetes object (a mapping with "
		       "apiVersion and kind) is expected", 0},
	{"apiVersion: v1\nkind: A\n---\n\n- a\n", "x.yaml:5: document is a sequence", 1},
	{"hello\n", "x.yaml:1: document is a scalar (a string \"hello\")", 0},
	{"--- 42\n", "x.yaml:1: document is a scalar (an integer \"42\")", 0},
	/* apiVersion and kind */
	{"apiVersion: v1\nmetadata:\n  name: a\n", "x.yaml:1: object has no kind", 0},
	{"# c\n\n\nkind: A\nmetadata: {}\n", "x.yaml:4: object has no apiVersion", 0},
	{"apiVersion: v1\nkind: \"\"\n", "x.yaml:1: object has no kind", 0},
	{"apiVersion: v1\nkind:\n", "x.yaml:1: object has no kind", 0},
	{"apiVersion: v1\nkind: 5\n", "x.yaml:2: kind: expected a string, found an integer (5)", 0},
	{"apiVersion: [v1]\nkind: A\n", "x.yaml:1: apiVersion: expected a string, found an array", 0},
	/* duplicate keys */
	{"apiVersion: v1\nkind: A\nmetadata:\n  name: a\n  labels: {}\n  name: b\n",
	 "x.yaml:6: metadata: duplicate key \"name\" (first at line 4)", 0},
	{"apiVersion: v1\nkind: A\nkind: B\n", "x.yaml:3: duplicate key \"kind\" (first at line 2)", 0},
	{"apiVersion: v1\nkind: A\nspec:\n  x: [{a: 1, a: 2}]\n",
	 "x.yaml:4: spec.x[0]: duplicate key \"a\" (first at line 4)", 0},
	{"apiVersion: v1\nkind: A\nmetadata:\n  annotations:\n    metallb.io/p: a\n"
	 "    metallb.io/p: b\n",
	 "x.yaml:6: metadata.annotations: duplicate key \"metallb.io/p\" (first at line 5)", 0},
	{"apiVersion: v1\nkind: A\n\"kind\": B\n", "duplicate key \"kind\"", 0},
	{"apiVersion: v1\nkind: A\nbad: 1\n---\napiVersion: v1\nkind: B\nbad: 1\nbad: 2\n---\n"
	 "apiVersion: v1\nkind: C\n", "x.yaml:8: duplicate key \"bad\" (first at line 7)", 2},
	/* keys */
	{"apiVersion: v1\nkind: A\n? [a, b]\n: c\n",
	 "x.yaml:3: a mapping key is an array; Kubernetes objects take only scalar keys", 0},
	/* syntax errors: the file goes on at the next document */
	{"apiVersion: v1\nkind: A\nmetadata: {name: a\n---\napiVersion: v1\nkind: B\n",
	 "x.yaml:4: ", 1},
	{"apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n  bad: indent\n---\n"
	 "apiVersion: v1\nkind: C\n---\napiVersion: v1\nkind: D\n", "x.yaml:5: ", 3},
	{"apiVersion: v1\nkind: A\nx: \"unterminated\n", "x.yaml:", 0},
	{"apiVersion: v1\n\tkind: A\n", "x.yaml:1: ", 0},
	/* bytes */
	{"apiVersion: v1\nkind: A\nx: \xff\n", "x.yaml:3: invalid UTF-8 (byte 0xff)", 0},
	{"apiVersion: v1\nkind: A\nx: \xc0\x80\n", "x.yaml:3: invalid UTF-8 (byte 0xc0)", 0},
	{"apiVersion: v1\nkind: A\nx: \"a\\0b\"\n", "x.yaml:3: a string contains a NUL", 0},
	/* anchors, aliases, merge keys */
	{"apiVersion: v1\nkind: A\nx: *nope\n", "x.yaml:3: alias *nope has no anchor &nope", 0},
	{"apiVersion: v1\nkind: A\nx: &a [1, *a]\n", "alias *a has no anchor", 0},
	{"apiVersion: v1\nkind: A\nx:\n  <<: 5\n",
	 "x.yaml:4: x: the merge key \"<<\" takes a mapping or a list of mappings, not an integer", 0},
	{"apiVersion: v1\nkind: A\nx:\n  <<: [{a: 1}, b]\n", "the merge key \"<<\" takes", 0},
	/* Lists */
	{"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: A\n- apiVersion: v1\n"
	 "  metadata: {name: b}\n- apiVersion: v1\n  kind: C\n",
	 "x.yaml:6: items[1]: object has no kind", 2},
	{"apiVersion: v1\nkind: List\nitems:\n- 5\n",
	 "x.yaml:4: items[0]: list item is an integer; a Kubernetes object", 0},
	{"apiVersion: v1\nkind: List\nitems: {a: 1}\n",
	 "x.yaml:3: items: expected a list of objects, found an object", 0},
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
		const struct error_case *c = &error_cases[i];
		struct manifest_set set = {0};
		struct diag_list d = {0};
		int rc = read_text(&set, &d, c->text);
		if (rc != -1 || !d.n) {
			print_error("case %zu: rc %d with %zu diagnostics\n", i, rc, d.n);
			fail();
		}
		assert_int_equal(diag_count(&d, DIAG_ERROR), d.n);
		expect_diag(&d, c->diag);
		if (set.n != c->objects)
			fail_msg("case %zu: %zu objects, expected %zu", i, set.n, c->objects);
		manifest_set_free(&set);
		diag_list_free(&d);
	}
}

static void test_syntax_error_recovery(void **state)
{
	static const char text[] =
		"apiVersion: v1\n"          /* 1 */
		"kind: A\n"                 /* 2 */
		"---\n"                     /* 3 */
		"apiVersion: v1\n"          /* 4 */
		"kind: B\n"                 /* 5 */
		"spec: [1, 2\n"             /* 6 */
		"---\n"                     /* 7 */
		"apiVersion: v1\n"          /* 8 */
		"kind: C\n"                 /* 9 */
		"---\n"                     /* 10 */
		"apiVersion: v1\n"          /* 11 */
		"kind: D\n"                 /* 12 */
		"dup: 1\n"                  /* 13 */
		"dup: 2\n"                  /* 14 */
		"---\n"                     /* 15 */
		"apiVersion: v1\n"          /* 16 */
		"kind: E\n"                 /* 17 */
		"x: {\n";                   /* 18 */
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(read_text(&set, &d, text), -1);
	assert_int_equal(set.n, 2);
	assert_string_equal(tree_get_str(set.objects[0], "kind"), "A");
	assert_string_equal(tree_get_str(set.objects[1], "kind"), "C");
	assert_int_equal(set.objects[1]->line, 8);
	assert_int_equal(d.n, 3);
	/* libfyaml finds the unclosed sequence when it meets the next document */
	assert_true(d.items[0].line >= 6 && d.items[0].line <= 7);
	assert_non_null(d.items[0].message);
	assert_true(strlen(d.items[0].message) > 0);
	assert_int_equal(d.items[1].line, 14);
	assert_true(d.items[2].line >= 18);
	manifest_set_free(&set);
	diag_list_free(&d);
}

static void test_list_expansion(void **state)
{
	static const char text[] =
		"apiVersion: v1\n"                          /* 1 */
		"kind: List\n"                              /* 2 */
		"items:\n"                                  /* 3 */
		"- apiVersion: metallb.io/v1beta1\n"        /* 4 */
		"  kind: IPAddressPool\n"                   /* 5 */
		"  metadata: {name: a}\n"                   /* 6 */
		"- apiVersion: v1\n"                        /* 7 */
		"  kind: ConfigMapList\n"                   /* 8 */
		"  items:\n"                                /* 9 */
		"  - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n" /* 10 */
		"  - apiVersion: v1\n"                      /* 11 */
		"    kind: ConfigMap\n"                     /* 12 */
		"    metadata: {name: c}\n"                 /* 13 */
		"---\n"                                     /* 14 */
		"apiVersion: metallb.io/v1beta1\n"          /* 15 */
		"kind: IPAddressPoolList\n"                 /* 16 */
		"metadata: {}\n"                            /* 17 */
		"items:\n"                                  /* 18 */
		"  - apiVersion: metallb.io/v1beta1\n"      /* 19 */
		"    kind: IPAddressPool\n"                 /* 20 */
		"    metadata: {name: d}\n"                 /* 21 */
		"---\n"                                     /* 22 */
		"apiVersion: v1\n"                          /* 23 */
		"kind: List\n"                              /* 24 */
		"items: []\n"                               /* 25 */
		"---\n"                                     /* 26 */
		"apiVersion: example.com/v1\n"              /* 27 */
		"kind: WishList\n"                          /* 28 */
		"metadata: {name: e}\n";                    /* 29 */
	static const struct {
		const char *name;
		int line;
	} want[] = {{"a", 4}, {"b", 10}, {"c", 11}, {"d", 19}, {"e", 27}};
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(read_text(&set, &d, text), 0);
	expect_no_diags(&d);
	assert_int_equal(set.n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_string_equal(name_of(set.objects[i]), want[i].name);
		assert_int_equal(set.objects[i]->line, want[i].line);
	}
	manifest_set_free(&set);
	diag_list_free(&d);
}

/* ---- positions ---- */

static const char pool_yaml[] =
	"# pools\n"                                              /* 1 */
	"apiVersion: metallb.io/v1beta1\n"                       /* 2 */
	"kind: IPAddressPool\n"                                  /* 3 */
	"metadata:\n"                                            /* 4 */
	"  name: best\n"                                         /* 5 */
	"  namespace: metallb-system\n"                          /* 6 */
	"  annotations:\n"                                       /* 7 */
	"    metallb.io/address-pool: \"x\"\n"                   /* 8 */
	"spec:\n"                                                /* 9 */
	"  addresses:\n"                                         /* 10 */
	"  - 192.168.100.0/24\n"                                 /* 11 */
	"  # a comment between items\n"                         /* 12 */
	"  - 2001:db8:1::/64\n"                                  /* 13 */
	"  autoAssign: true\n"                                   /* 14 */
	"  serviceAllocation:\n"                                 /* 15 */
	"    priority: 50\n"                                     /* 16 */
	"    namespaces: [a,\n"                                  /* 17 */
	"      b]\n";                                            /* 18 */

struct position_case {
	const char *path;
	int line;          /* tree_path_line */
	bool exists;
};

static const struct position_case position_cases[] = {
	{"", 2, true},
	{"apiVersion", 2, true},
	{"metadata", 4, true},
	{"metadata.name", 5, true},
	{"metadata.annotations[\"metallb.io/address-pool\"]", 8, true},
	{"spec", 9, true},
	{"spec.addresses", 10, true},
	{"spec.addresses[0]", 11, true},
	{"spec.addresses[1]", 13, true},
	{"spec.autoAssign", 14, true},
	{"spec.serviceAllocation.priority", 16, true},
	{"spec.serviceAllocation.namespaces", 17, true},
	{"spec.serviceAllocation.namespaces[1]", 18, true},
	/* missing: the deepest node that exists */
	{"spec.avoidBuggyIPs", 9, false},
	{"spec.addresses[2]", 10, false},
	{"spec.serviceAllocation.podSelector.matchLabels", 15, false},
	{"status.x", 2, false},
	{"metadata.name.x", 5, false},
	{"spec..x", 9, false},
};

static void test_positions(void **state)
{
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(manifest_read_buffer(&set, "pools.yaml", pool_yaml, strlen(pool_yaml), &d), 0);
	expect_no_diags(&d);
	assert_int_equal(set.n, 1);
	const struct tree *obj = set.objects[0];
	for (size_t i = 0; i < ARRAY_SIZE(position_cases); i++) {
		const struct position_case *c = &position_cases[i];
		const struct tree *t = tree_path(obj, c->path);
		if ((t != NULL) != c->exists)
			fail_msg("%s: exists %d", c->path, t != NULL);
		if (tree_path_line(obj, c->path) != c->line)
			fail_msg("%s: line %d, expected %d", c->path, tree_path_line(obj, c->path),
				 c->line);
		if (t) {
			assert_int_equal(t->line, c->line);
			assert_string_equal(t->file, "pools.yaml");
		}
	}
	assert_string_equal(tree_path(obj, "spec.addresses[1]")->text, "2001:db8:1::/64");
	assert_int_equal(tree_path(obj, "spec.serviceAllocation.priority")->i, 50);
	/* every node carries the interned file name */
	assert_int_equal(set.nfiles, 1);
	assert_ptr_equal(obj->file, set.files[0]);
	assert_ptr_equal(tree_path(obj, "spec.addresses[0]")->file, set.files[0]);
	manifest_set_free(&set);
	diag_list_free(&d);
}

static void test_json_file_lines(void **state)
{
	static const char text[] =
		"{\n"                                         /* 1 */
		"\t\"apiVersion\": \"v1\",\n"                 /* 2 */
		"\t\"kind\": \"List\",\n"                     /* 3 */
		"\t\"items\": [\n"                            /* 4 */
		"\t\t{\n"                                     /* 5 */
		"\t\t\t\"apiVersion\": \"metallb.io/v1beta1\",\n" /* 6 */
		"\t\t\t\"kind\": \"BGPPeer\",\n"              /* 7 */
		"\t\t\t\"spec\": {\"myASN\": 64500, \"holdTime\": \"90s\",\n" /* 8 */
		"\t\t\t\t\"peerAddress\": \"2001:db8::1\", \"x\": 1.5e2, \"y\": null, \"z\": false}\n"
		"\t\t}\n"                                     /* 10 */
		"\t]\n"                                       /* 11 */
		"}\n";                                        /* 12 */
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(manifest_read_buffer(&set, "peers.json", text, strlen(text), &d), 0);
	expect_no_diags(&d);
	assert_int_equal(set.n, 1);
	const struct tree *o = set.objects[0];
	assert_int_equal(o->line, 5);
	assert_int_equal(tree_path(o, "spec.myASN")->type, TREE_INT);
	assert_int_equal(tree_path(o, "spec.myASN")->line, 8);
	assert_int_equal(tree_path(o, "spec.peerAddress")->line, 9);
	assert_int_equal(tree_path(o, "spec.x")->type, TREE_FLOAT);
	assert_int_equal(tree_path(o, "spec.y")->type, TREE_NULL);
	assert_int_equal(tree_path(o, "spec.z")->type, TREE_BOOL);
	manifest_set_free(&set);
	diag_list_free(&d);
}

static void test_block_scalar_lines(void **state)
{
	static const char text[] =
		"apiVersion: v1\n"   /* 1 */
		"kind: A\n"          /* 2 */
		"a: |\n"             /* 3 */
		"  text\n"           /* 4 */
		"b:\n"               /* 5 */
		"- >\n"              /* 6 */
		"  folded\n"         /* 7 */
		"- |  # comment\n"   /* 8 */
		"\n"                 /* 9 */
		"  after blank\n"    /* 10 */
		"c: |";              /* 11 */
	static const struct {
		const char *path;
		int line;
	} want[] = {{"a", 3}, {"b[0]", 6}, {"b[1]", 8}, {"c", 11}};
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(read_text(&set, &d, text), 0);
	expect_no_diags(&d);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const struct tree *t = tree_path(set.objects[0], want[i].path);
		assert_non_null(t);
		if (t->line != want[i].line)
			fail_msg("%s: line %d, expected %d", want[i].path, t->line, want[i].line);
	}
	assert_string_equal(tree_path(set.objects[0], "b[1]")->text, "\nafter blank\n");
	manifest_set_free(&set);
	diag_list_free(&d);
}

static void test_line_endings_and_bom(void **state)
{
	static const char *const texts[] = {
		"apiVersion: v1\r\nkind: A\r\nmetadata:\r\n  name: n\r\nx: |\r\n  a\r\n  b\r\n",
		"\xef\xbb\xbf" "apiVersion: v1\nkind: A\nmetadata:\n  name: n\nx: |\n  a\n  b\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct manifest_set set = {0};
		struct diag_list d = {0};
		assert_int_equal(read_text(&set, &d, texts[i]), 0);
		expect_no_diags(&d);
		assert_int_equal(set.n, 1);
		const struct tree *o = set.objects[0];
		assert_string_equal(o->keys[0], "apiVersion");
		assert_string_equal(name_of(o), "n");
		assert_int_equal(tree_path(o, "metadata.name")->line, 4);
		assert_string_equal(tree_get_str(o, "x"), "a\nb\n");
		manifest_set_free(&set);
		diag_list_free(&d);
	}
}

/* ---- anchors and merge keys ---- */

static void test_anchors_and_merge(void **state)
{
	static const char text[] =
		"apiVersion: v1\n"                        /* 1 */
		"kind: A\n"                               /* 2 */
		"base: &base\n"                           /* 3 */
		"  a: 1\n"                                /* 4 */
		"  b: 2\n"                                /* 5 */
		"other: &other {b: 20, c: 30}\n"          /* 6 */
		"copy: *base\n"                           /* 7 */
		"over:\n"                                 /* 8 */
		"  <<: *base\n"                           /* 9 */
		"  b: 3\n"                                /* 10 */
		"many:\n"                                 /* 11 */
		"  b: 0\n"                                /* 12 */
		"  <<: [*other, *base]\n"                 /* 13 */
		"inline:\n"                               /* 14 */
		"  <<: &in {q: 1}\n"                      /* 15 */
		"again: *in\n"                            /* 16 */
		"str: &s hello\n"                         /* 17 */
		"strs: [*s, *s]\n"                        /* 18 */
		"quoted:\n"                               /* 19 */
		"  \"<<\": x\n";                          /* 20 */
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(read_text(&set, &d, text), 0);
	expect_no_diags(&d);
	assert_int_equal(set.n, 1);
	const struct tree *o = set.objects[0];
	static const struct {
		const char *path;
		int64_t i;
	} ints[] = {
		{"copy.a", 1}, {"copy.b", 2}, {"over.a", 1}, {"over.b", 3}, {"many.a", 1},
		{"many.b", 0}, {"many.c", 30}, {"inline.q", 1}, {"again.q", 1}, {"base.b", 2},
	};
	for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
		const struct tree *t = tree_path(o, ints[i].path);
		if (!t || t->type != TREE_INT || t->i != ints[i].i)
			fail_msg("%s", ints[i].path);
	}
	assert_null(tree_path(o, "over[\"<<\"]"));
	assert_int_equal(tree_get(o, "over")->n, 2);
	assert_int_equal(tree_get(o, "many")->n, 3);
	assert_string_equal(tree_path(o, "strs[1]")->text, "hello");
	assert_int_equal(tree_path(o, "strs[1]")->line, 18);
	assert_string_equal(tree_path(o, "quoted[\"<<\"]")->text, "x");
	/* an alias's top node is where it is used; its inside is where it was written */
	assert_int_equal(tree_path(o, "copy")->line, 7);
	assert_int_equal(tree_path(o, "copy.a")->line, 4);
	manifest_set_free(&set);
	diag_list_free(&d);
}

static void test_alias_bomb(void **state)
{
	/* each level doubles: 2^30 nodes if expanded */
	char *text = xstrdup("apiVersion: v1\nkind: A\nl0: &l0 [x, x]\n");
	for (int i = 1; i <= 30; i++) {
		char *next = xasprintf("%sl%d: &l%d [*l%d, *l%d]\n", text, i, i, i - 1, i - 1);
		free(text);
		text = next;
	}
	char *full = xasprintf("%s---\napiVersion: v1\nkind: B\n", text);
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(read_text(&set, &d, full), -1);
	expect_diag(&d, "anchors and aliases expand to more than");
	assert_int_equal(d.n, 1);
	assert_int_equal(set.n, 1);
	assert_string_equal(tree_get_str(set.objects[0], "kind"), "B");
	manifest_set_free(&set);
	diag_list_free(&d);
	free(text);
	free(full);
}

static void test_depth_limit(void **state)
{
	size_t depth = MANIFEST_MAX_DEPTH + 10;
	char *text = xmalloc(2 * depth + 64);
	char *p = text + sprintf(text, "apiVersion: v1\nkind: A\nx: ");
	memset(p, '[', depth);
	memset(p + depth, ']', depth);
	strcpy(p + 2 * depth, "\n---\napiVersion: v1\nkind: B\n");
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(read_text(&set, &d, text), -1);
	expect_diag(&d, "x.yaml:3: nesting deeper than");
	assert_int_equal(set.n, 1);
	manifest_set_free(&set);
	diag_list_free(&d);
	free(text);
}

static void test_large_mapping(void **state)
{
	/* enough keys for the hashed duplicate check */
	size_t cap = 1 << 16, len = 0;
	char *text = xmalloc(cap);
	len += (size_t)sprintf(text, "apiVersion: v1\nkind: A\ndata:\n");
	for (int i = 0; i < 1000; i++)
		len += (size_t)sprintf(text + len, "  k%d: %d\n", i, i);
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(manifest_read_buffer(&set, "x.yaml", text, len, &d), 0);
	assert_int_equal(set.n, 1);
	assert_int_equal(tree_get(set.objects[0], "data")->n, 1000);
	assert_int_equal(tree_path(set.objects[0], "data.k999")->i, 999);
	manifest_set_free(&set);
	len += (size_t)sprintf(text + len, "  k500: again\n");
	assert_int_equal(manifest_read_buffer(&set, "x.yaml", text, len, &d), -1);
	expect_diag(&d, "x.yaml:1004: data: duplicate key \"k500\" (first at line 504)");
	assert_int_equal(set.n, 0);
	manifest_set_free(&set);
	diag_list_free(&d);
	free(text);
}

static void test_size_limit(void **state)
{
	size_t len = MANIFEST_MAX_BYTES + 1;
	char *text = xmalloc(len);
	memset(text, ' ', len);
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(manifest_read_buffer(&set, "big.yaml", text, len, &d), -1);
	expect_diag(&d, "big.yaml: the file is larger than the limit of 8 MiB");
	manifest_set_free(&set);
	diag_list_free(&d);
	free(text);
}

static void test_nul_byte(void **state)
{
	static const char text[] = "apiVersion: v1\nkind: A\n\nx: a\0b\n";
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(manifest_read_buffer(&set, "x.yaml", text, sizeof(text) - 1, &d), -1);
	expect_diag(&d, "x.yaml:4: the file contains a NUL byte");
	assert_int_equal(set.n, 0);
	manifest_set_free(&set);
	diag_list_free(&d);
}

/* ---- files and directories ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static char *object_yaml(const char *name)
{
	return xasprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n", name);
}

static void remove_tree(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void test_read_directory(void **state)
{
	char tmpl[] = "/tmp/ironlb-manifest-XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	static const char *const files[] = {"b.yaml", "a.yml", "c.json", "d.txt", "e.yaml~",
					    "B.yaml", ".hidden.yaml", "f.YAML"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *y = object_yaml(files[i]);
		write_file(dir, files[i], y);
		free(y);
	}
	char *sub = xasprintf("%s/sub.yaml", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	char *y = object_yaml("nested");
	write_file(sub, "g.yaml", y);
	free(y);

	/* name order (bytewise), only .yaml/.yml/.json, regular files, not recursive */
	static const char *const want[] = {".hidden.yaml", "B.yaml", "a.yml", "b.yaml", "c.json"};
	char *with_slash = xasprintf("%s/", dir);
	const char *variants[] = {dir, with_slash};
	for (size_t v = 0; v < ARRAY_SIZE(variants); v++) {
		struct manifest_set set = {0};
		struct diag_list d = {0};
		const char *paths[] = {variants[v]};
		assert_int_equal(manifest_read_paths(&set, paths, 1, &d), 0);
		expect_no_diags(&d);
		assert_int_equal(set.n, ARRAY_SIZE(want));
		for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
			assert_string_equal(name_of(set.objects[i]), want[i]);
			char *file = xasprintf("%s/%s", dir, want[i]);
			assert_string_equal(set.objects[i]->file, file);
			free(file);
		}
		manifest_set_free(&set);
		diag_list_free(&d);
	}

	/* a file named directly is read whatever its name; errors go on to the next path */
	char *txt = xasprintf("%s/d.txt", dir);
	char *missing = xasprintf("%s/missing.yaml", dir);
	const char *paths[] = {missing, txt, sub};
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(manifest_read_paths(&set, paths, ARRAY_SIZE(paths), &d), -1);
	assert_int_equal(d.n, 1);
	char *want_diag = xasprintf("%s: no such file or directory", missing);
	char *got = diag_format(&d.items[0]);
	assert_string_equal(got, want_diag);
	assert_int_equal(set.n, 2);
	assert_string_equal(name_of(set.objects[0]), "d.txt");
	assert_string_equal(name_of(set.objects[1]), "nested");
	free(got);
	free(want_diag);
	manifest_set_free(&set);
	diag_list_free(&d);

	/* an error in one file does not stop the next */
	write_file(dir, "b.yaml", "apiVersion: v1\nkind: [\n");
	const char *dpaths[] = {dir};
	assert_int_equal(manifest_read_paths(&set, dpaths, 1, &d), -1);
	assert_int_equal(set.n, ARRAY_SIZE(want) - 1);
	assert_int_equal(d.n, 1);
	char *bfile = xasprintf("%s/b.yaml", dir);
	assert_string_equal(d.items[0].file, bfile);
	free(bfile);
	manifest_set_free(&set);
	diag_list_free(&d);

	free(txt);
	free(missing);
	free(sub);
	free(with_slash);
	remove_tree(dir);
}

static void test_read_stdin(void **state)
{
	char tmpl[] = "/tmp/ironlb-manifest-XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	char *y = object_yaml("from-stdin");
	write_file(dir, "in.yaml", y);
	free(y);
	char *path = xasprintf("%s/in.yaml", dir);
	assert_non_null(freopen(path, "r", stdin));
	const char *paths[] = {"-"};
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(manifest_read_paths(&set, paths, 1, &d), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(name_of(set.objects[0]), "from-stdin");
	assert_string_equal(set.objects[0]->file, MANIFEST_STDIN_NAME);
	manifest_set_free(&set);
	diag_list_free(&d);
	free(path);
	remove_tree(dir);
}

static void test_intern(void **state)
{
	struct manifest_set set = {0};
	const char *a = manifest_intern_file(&set, "a.yaml");
	const char *b = manifest_intern_file(&set, "b.yaml");
	assert_ptr_equal(manifest_intern_file(&set, "a.yaml"), a);
	assert_ptr_not_equal(a, b);
	assert_int_equal(set.nfiles, 2);
	manifest_set_free(&set);
}

/* ---- tree ---- */

struct path_case {
	const char *path;
	const char *text; /* NULL: not found */
};

static const struct path_case path_cases[] = {
	{"metadata.name", "pool"},
	{"metadata.labels.app", "web"},
	{"metadata.annotations[\"metallb.io/address-pool\"]", "best"},
	{"metadata.annotations['metallb.io/address-pool']", "best"},
	{"metadata[\"annotations\"][\"metallb.io/address-pool\"]", "best"},
	{"[\"metadata\"].name", "pool"},
	{"metadata.annotations[\"a\\\"b\"]", "quote"},
	{"metadata.annotations[\"back\\\\slash\"]", "bs"},
	{"spec.addresses[0]", "10.0.0.0/24"},
	{"spec.addresses[1]", "2001:db8::/64"},
	{"spec.nested[0][1]", "y"},
	{"spec.nested[1].k", "v"},
	{"spec.addresses[2]", NULL},
	{"spec.addresses[99999999999999999999999]", NULL},
	{"metadata.annotations.metallb.io/address-pool", NULL},
	{"metadata.missing", NULL},
	{"metadata[0]", NULL},
	{"spec.addresses.x", NULL},
	{"metadata..name", NULL},
	{"metadata.", NULL},
	{".metadata", NULL},
	{"metadata[", NULL},
	{"metadata[\"name\"", NULL},
	{"metadata[\"name]", NULL},
	{"spec.addresses[-1]", NULL},
	{"spec.addresses[1x]", NULL},
	{"metadata.name[0]", NULL},
};

static void test_tree_path(void **state)
{
	static const char text[] =
		"apiVersion: v1\nkind: A\n"
		"metadata:\n"
		"  name: pool\n"
		"  labels: {app: web}\n"
		"  annotations:\n"
		"    metallb.io/address-pool: best\n"
		"    'a\"b': quote\n"
		"    'back\\slash': bs\n"
		"spec:\n"
		"  addresses: [10.0.0.0/24, 2001:db8::/64]\n"
		"  nested: [[x, y], {k: v}]\n";
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(read_text(&set, &d, text), 0);
	const struct tree *o = set.objects[0];
	for (size_t i = 0; i < ARRAY_SIZE(path_cases); i++) {
		const struct path_case *c = &path_cases[i];
		const struct tree *t = tree_path(o, c->path);
		if (!c->text) {
			if (t)
				fail_msg("%s: found, expected nothing", c->path);
			continue;
		}
		if (!t || !t->text || strcmp(t->text, c->text) != 0)
			fail_msg("%s: expected %s", c->path, c->text);
	}
	assert_ptr_equal(tree_path(o, ""), o);
	assert_null(tree_path(NULL, "a"));
	assert_null(tree_path(o, NULL));
	assert_string_equal(tree_get_str(tree_get(o, "metadata"), "name"), "pool");
	assert_null(tree_get_str(o, "metadata"));
	assert_null(tree_get(tree_path(o, "spec.addresses"), "x"));
	manifest_set_free(&set);
	diag_list_free(&d);
}

static void test_path_join(void **state)
{
	static const struct {
		const char *path, *key, *want;
	} cases[] = {
		{"", "spec", "spec"},
		{NULL, "spec", "spec"},
		{"spec", "addresses", "spec.addresses"},
		{"metadata.annotations", "metallb.io/address-pool",
		 "metadata.annotations[\"metallb.io/address-pool\"]"},
		{"", "a.b", "[\"a.b\"]"},
		{"x", "", "x[\"\"]"},
		{"x", "q\"\\", "x[\"q\\\"\\\\\"]"},
		{"x", "snake_case-9", "x.snake_case-9"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *s = tree_path_join_key(cases[i].path, cases[i].key);
		assert_string_equal(s, cases[i].want);
		/* what join writes, tree_path reads */
		struct tree *obj = tree_new(TREE_OBJECT, NULL, 0);
		struct tree *inner = obj;
		if (cases[i].path && *cases[i].path) {
			inner = tree_new(TREE_OBJECT, NULL, 0);
			tree_object_set(obj, cases[i].path, inner);
		}
		tree_object_set(inner, cases[i].key, tree_new_string("found", NULL, 7));
		if (!cases[i].path || !strchr(cases[i].path, '.')) {
			const struct tree *t = tree_path(obj, s);
			assert_non_null(t);
			assert_string_equal(t->text, "found");
		}
		tree_free(obj);
		free(s);
	}
	char *s = tree_path_join_index("spec.addresses", 3);
	assert_string_equal(s, "spec.addresses[3]");
	free(s);
	s = tree_path_join_index(NULL, 0);
	assert_string_equal(s, "[0]");
	free(s);
	s = tree_path_join_index("a", 18446744073709551615u);
	assert_string_equal(s, "a[18446744073709551615]");
	free(s);
	s = xconcat("", NULL);
	assert_string_equal(s, "");
	free(s);
}

static void test_tree_build(void **state)
{
	struct tree *o = tree_new(TREE_OBJECT, "f.yaml", 3);
	for (int i = 0; i < 40; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		tree_object_set(o, key, tree_new_plain_scalar(key + 1, "f.yaml", 4 + i));
	}
	tree_object_set(o, "k7", tree_new_string("replaced", NULL, 0));
	assert_int_equal(o->n, 40);
	assert_string_equal(tree_get_str(o, "k7"), "replaced");
	assert_int_equal(tree_get(o, "k39")->i, 39);
	struct tree *a = tree_new(TREE_ARRAY, NULL, 0);
	for (int i = 0; i < 33; i++)
		tree_array_append(a, tree_new_plain_scalar("1.5", NULL, 0));
	tree_object_set(o, "arr", a);
	assert_int_equal(tree_path(o, "arr[32]")->type, TREE_FLOAT);
	assert_int_equal(tree_path_line(o, "k3"), 7);
	assert_int_equal(tree_path_line(o, "k7"), 3); /* line 0 falls back to the root */
	assert_int_equal(tree_path_line(o, "nope.x"), 3);
	struct tree *c = tree_clone(o);
	tree_free(o);
	assert_int_equal(c->n, 41);
	assert_string_equal(tree_get_str(c, "k7"), "replaced");
	assert_string_equal(c->file, "f.yaml");
	/* appending to a clone must keep working past its size */
	for (int i = 0; i < 40; i++)
		tree_array_append(tree_get(c, "arr"), tree_new(TREE_NULL, NULL, 0));
	tree_object_set(c, "new", tree_new(TREE_BOOL, NULL, 0));
	assert_int_equal(tree_get(c, "arr")->n, 73);
	tree_free(c);
	tree_free(NULL);
	static const enum tree_type types[] = {TREE_NULL,   TREE_BOOL,  TREE_INT,   TREE_FLOAT,
					       TREE_STRING, TREE_ARRAY, TREE_OBJECT};
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		assert_true(strlen(tree_type_name(types[i])) > 0);
	assert_string_equal(tree_type_name(TREE_INT), "an integer");
}

/* ---- jansson ---- */

static void test_json_round_trip(void **state)
{
	static const char *const docs[] = {
		"{\"z\": 1, \"a\": [true, false, null], \"m\": {\"x\": 1.5, \"y\": \"s\"}}",
		"[1, -9223372036854775808, 9223372036854775807, 0.1, 1e300, \"\\u00e9\\u4e2d\"]",
		"{}",
		"[]",
		"\"just a string\"",
		"{\"nested\": [[[{\"deep\": [1, {\"a\": \"b\"}]}]]]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
		json_error_t err;
		json_t *j = json_loads(docs[i], JSON_DECODE_ANY, &err);
		assert_non_null(j);
		struct tree *t = tree_from_json(j);
		assert_non_null(t);
		assert_null(t->file);
		assert_int_equal(t->line, 0);
		json_t *back = tree_to_json(t);
		assert_true(json_equal(j, back));
		char *s1 = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		char *s2 = json_dumps(back, JSON_COMPACT | JSON_ENCODE_ANY);
		assert_string_equal(s1, s2); /* same key order */
		struct tree *c = tree_clone(t);
		json_t *back2 = tree_to_json(c);
		assert_true(json_equal(j, back2));
		free(s1);
		free(s2);
		json_decref(j);
		json_decref(back);
		json_decref(back2);
		tree_free(t);
		tree_free(c);
	}
}

static void test_json_types(void **state)
{
	json_t *j = json_loads("{\"z\": 1, \"a\": 2.5, \"m\": true, \"b\": null, \"s\": \"x\","
			       " \"arr\": [1]}", 0, NULL);
	struct tree *t = tree_from_json(j);
	static const char *const order[] = {"z", "a", "m", "b", "s", "arr"};
	assert_int_equal(t->n, ARRAY_SIZE(order));
	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		assert_string_equal(t->keys[i], order[i]);
	assert_int_equal(tree_get(t, "z")->type, TREE_INT);
	assert_string_equal(tree_get(t, "z")->text, "1");
	assert_int_equal(tree_get(t, "a")->type, TREE_FLOAT);
	assert_string_equal(tree_get(t, "a")->text, "2.5");
	assert_int_equal(tree_get(t, "m")->type, TREE_BOOL);
	assert_int_equal(tree_get(t, "b")->type, TREE_NULL);
	assert_string_equal(tree_get_str(t, "s"), "x");
	assert_int_equal(tree_get(t, "arr")->type, TREE_ARRAY);
	tree_free(t);
	json_decref(j);
	assert_null(tree_from_json(NULL));
}

/* Accepted and refused documents, for tree_parse_json() against jansson. */
static const char *const json_docs[] = {
		"{\"z\": 1, \"a\": [true, false, null], \"m\": {\"x\": 1.5, \"y\": \"s\"}}",
		"[1, -9223372036854775808, 9223372036854775807, 0.1, 1e300, -0, -0.0, 1E-400]",
		"[\"\\u00e9\\u4e2d\\ud83d\\ude00 \\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\xc3\xa9\xf0\x9f\x98\x80\"]",
		" {} ", "[]", "[[[[]]]]", "{\"a\":{}}",
		"{\"k\": 1, \"j\": 2, \"k\": 3}",
		"{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,"
		"\"k9\":9,\"ka\":10,\"kb\":11,\"kc\":12,\"kd\":13,\"ke\":14,\"kf\":15,\"kg\":16,"
		"\"k3\":33,\"kg\":66,\"k0\":0.5}",
		"\"top string\"", "12", "true", "null",
		/* refused by both */
		"", "   ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[01]", "[1.]", "[.5]",
		"[1e]", "[-]", "[+1]", "[tru]", "[nul]", "[1] x", "{}{}", "[\"\\u0000\"]",
		"[\"\\ud800\"]", "[\"\\udc00\\ud800\"]", "[\"\\x\"]", "[\"\\u12\"]", "[\"a\nb\"]",
		"[\"\xff\"]", "[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]", "[9223372036854775808]",
		"[-9223372036854775809]", "[1e400]", "[\"unterminated", "{\"a\":[1,2}", "[1 2]",
		"['a']", "[NaN]", "[Infinity]",
};

/* tree_parse_json() accepts what jansson accepts and gives what
 * tree_from_json() gives. */
static void test_json_parse_like_jansson(void **state)
{
	const char *const *docs = json_docs;
	for (size_t i = 0; i < ARRAY_SIZE(json_docs); i++) {
		for (int any = 0; any <= 1; any++) {
			json_error_t je;
			json_t *j = json_loads(docs[i], any ? JSON_DECODE_ANY : 0, &je);
			char *err = NULL;
			struct tree *t = tree_parse_json(docs[i], strlen(docs[i]),
							 any ? TREE_JSON_ANY : 0, &err);
			if (!j != !t)
				fail_msg("%s (any %d): jansson %s, tree_parse_json %s", docs[i], any,
					 j ? "accepts" : je.text, t ? "accepts" : err);
			if (j) {
				struct tree *want = tree_from_json(j);
				assert_true(tree_equal(want, t));
				tree_free(want);
			} else {
				assert_non_null(strstr(err, " at line "));
			}
			json_decref(j);
			tree_free(t);
			free(err);
		}
	}
	/* A NUL byte outside a string: always refused here (jansson lets
	 * one pass after a number or literal). */
	static const char nul[] = "-7\0";
	assert_null(tree_parse_json(nul, sizeof(nul) - 1, TREE_JSON_ANY, NULL));
	static const char nul2[] = "[1] \0";
	assert_null(tree_parse_json(nul2, sizeof(nul2) - 1, 0, NULL));
	/* Nesting: jansson's limit of 2048. */
	char deep[2 * 2050 + 1];
	for (size_t d = 2048; d <= 2049; d++) {
		memset(deep, '[', d);
		memset(deep + d, ']', d);
		struct tree *t = tree_parse_json(deep, 2 * d, 0, NULL);
		json_t *j = json_loadb(deep, 2 * d, 0, NULL);
		assert_true(!t == !j);
		assert_true(d == 2048 ? t != NULL : t == NULL);
		tree_free(t);
		json_decref(j);
	}
}

/* managedFields of metadata objects are left out, at any depth, and
 * nothing else. */
static void test_json_parse_no_managed_fields(void **state)
{
	static const char text[] =
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"managedFields\":"
		"[{\"manager\":\"m\",\"fieldsV1\":{\"f:spec\":{}}}],\"uid\":\"u\"},"
		"\"spec\":{\"managedFields\":1}},\"items\":[{\"metadata\":{\"managedFields\":[]}}]}";
	struct tree *t = tree_parse_json(text, strlen(text), TREE_JSON_NO_MANAGED_FIELDS, NULL);
	assert_non_null(t);
	const struct tree *md = tree_path(t, "object.metadata");
	assert_int_equal(md->n, 2);
	assert_string_equal(tree_get_str(md, "name"), "a");
	assert_string_equal(tree_get_str(md, "uid"), "u");
	assert_non_null(tree_path(t, "object.spec.managedFields"));
	assert_int_equal(tree_get(t, "items")->items[0]->items[0]->n, 0);
	tree_free(t);
	/* A bad value inside managedFields is still an error. */
	static const char bad[] = "{\"metadata\":{\"managedFields\":[1,]}}";
	assert_null(tree_parse_json(bad, strlen(bad), TREE_JSON_NO_MANAGED_FIELDS, NULL));
	/* managedFields is checked without being built: every document as
	 * its value is refused with the same error as when it is built, or
	 * taken, and the rest of the tree is the same. */
	for (size_t i = 0; i < ARRAY_SIZE(json_docs); i++) {
		char *doc = xasprintf("{\"metadata\":{\"managedFields\":%s,\"name\":\"a\"}}",
				       json_docs[i]);
		char *err_built = NULL, *err_skipped = NULL;
		struct tree *built = tree_parse_json(doc, strlen(doc), 0, &err_built);
		struct tree *skipped = tree_parse_json(doc, strlen(doc),
						       TREE_JSON_NO_MANAGED_FIELDS, &err_skipped);
		if (!built != !skipped)
			fail_msg("%s: built %s, skipped %s", doc, built ? "accepts" : err_built,
				 skipped ? "accepts" : err_skipped);
		if (built) {
			tree_free(tree_object_take(tree_get(built, "metadata"), "managedFields"));
			assert_true(tree_equal(built, skipped));
		} else {
			assert_string_equal(err_built, err_skipped);
		}
		tree_free(built);
		tree_free(skipped);
		free(err_built);
		free(err_skipped);
		free(doc);
	}
}

/* A Service as the API server sends it (managedFields left out). */
static const char packed_service[] =
	"{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s1\","
	"\"namespace\":\"default\",\"uid\":\"7c3f0a52-8c1e-4b7e-9d0a-2f6b1c9e4d11\","
	"\"resourceVersion\":\"123456\",\"creationTimestamp\":\"2026-12-07T09:00:00Z\","
	"\"annotations\":{\"metallb.io/ip-allocated-from-pool\":\"default\"}},"
	"\"spec\":{\"ports\":[{\"protocol\":\"TCP\",\"port\":80,\"targetPort\":80}],"
	"\"clusterIP\":\"10.96.0.12\",\"clusterIPs\":[\"10.96.0.12\",\"fd00::12\"],"
	"\"type\":\"LoadBalancer\",\"sessionAffinity\":\"None\","
	"\"ipFamilies\":[\"IPv4\",\"IPv6\"],\"ipFamilyPolicy\":\"RequireDualStack\","
	"\"allocateLoadBalancerNodePorts\":false,\"internalTrafficPolicy\":\"Cluster\","
	"\"externalTrafficPolicy\":\"Cluster\",\"weight\":1.5,"
	"\"none\":null,\"empty\":{},\"list\":[]},"
	"\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.1\","
	"\"ipMode\":\"VIP\"},{\"ip\":\"2001:db8::1\",\"ipMode\":\"VIP\"}]}}}";

/* Packed trees share the member names and values common to Kubernetes
 * objects (one static copy, not one per block) and hold the others; a
 * node's numbers and an object's keys share their bytes without one
 * reading as the other. */
static void test_tree_pack_common(void **state)
{
	(void)state;
	assert_true(tree_common_strings_sorted());
	const char *text = "{\"metadata\":{\"name\":\"svc-a\"},\"spec\":{\"type\":"
			   "\"LoadBalancer\",\"ports\":[{\"port\":80}],\"x-own\":\"x-value\"}}";
	struct tree *a = tree_pack(tree_parse_json(text, strlen(text), 0, NULL));
	struct tree *b = tree_pack(tree_parse_json(text, strlen(text), 0, NULL));
	assert_true(tree_equal(a, b));
	assert_ptr_equal(a->keys[0], b->keys[0]);   /* "metadata" */
	assert_ptr_equal(tree_path(a, "spec.type")->text, tree_path(b, "spec.type")->text);
	/* Names and values of their own: in each block. */
	assert_ptr_not_equal(tree_path(a, "metadata.name")->text,
			     tree_path(b, "metadata.name")->text);
	assert_string_equal(tree_get_str(tree_get(a, "spec"), "x-own"), "x-value");
	assert_int_equal(tree_path(b, "spec.ports[0].port")->i, 80);
	/* Shared strings take no bytes of the block: a's strings are
	 * "svc-a", "x-own", "x-value" and "80". */
	size_t nodes = 9, slots = 2 * 2 + 2 * 1 + 2 * 3 + 1 + 2 * 1;
	assert_int_equal(tree_bytes(a), nodes * sizeof(struct tree) + slots * sizeof(void *) +
						sizeof("svc-a") + sizeof("x-own") + sizeof("x-value") +
						sizeof("80"));
	/* A copy reads alike and is freed string by string. */
	struct tree *c = tree_clone(a);
	assert_true(tree_equal(c, b));
	struct tree *n = tree_clone(tree_path(a, "spec.ports[0].port"));
	assert_int_equal(n->i, 80);
	tree_free(n);
	tree_free(c);
	tree_free(a);
	tree_free(b);
}

/* A packed tree reads as the tree it was made from, in fewer bytes, and
 * is freed whole; shared owners each free once. */
static void test_tree_pack(void **state)
{
	(void)state;
	struct tree *t = tree_parse_json(packed_service, strlen(packed_service), 0, NULL);
	assert_non_null(t);
	struct tree *copy = tree_clone(t);
	size_t loose = tree_bytes(copy);
	struct tree *p = tree_pack(copy);
	assert_int_equal(p->packed, TREE_PACKED_ROOT);
	assert_true(tree_equal(t, p));
	assert_true(tree_bytes(p) < loose);
	assert_string_equal(tree_get_str(tree_path(p, "metadata.annotations"),
					 "metallb.io/ip-allocated-from-pool"), "default");
	assert_string_equal(tree_path(p, "status.loadBalancer.ingress[1].ip")->text,
			    "2001:db8::1");
	assert_int_equal(tree_path(p, "spec.ports[0].port")->i, 80);
	assert_int_equal(tree_path(p, "spec.empty")->n, 0);
	assert_int_equal(tree_path(p, "spec.list")->type, TREE_ARRAY);
	/* Packing a packed tree is a no-op. */
	assert_ptr_equal(tree_pack(p), p);

	/* A second owner: the tree outlives the first free. */
	assert_ptr_equal(tree_ref(p), p);
	tree_free(p);
	assert_true(tree_equal(t, p));
	/* A member of it cannot be shared beyond its block: a copy. */
	struct tree *spec = tree_ref(tree_get(p, "spec"));
	assert_ptr_not_equal(spec, tree_get(p, "spec"));
	assert_int_equal(spec->packed, TREE_PACKED_NO);
	/* Freeing an inner node does nothing; the root frees the block. */
	tree_free(tree_get(p, "status"));
	tree_free(p);
	assert_true(tree_equal(spec, tree_get(t, "spec")));
	/* The copy is an ordinary tree again. */
	tree_object_set(spec, "type", tree_new_string("ClusterIP", NULL, 0));
	assert_string_equal(tree_get_str(spec, "type"), "ClusterIP");
	tree_free(spec);

	/* An unpacked tree can be shared as well; one with owners is not
	 * packed. */
	struct tree *u = tree_ref(t);
	assert_ptr_equal(tree_pack(u), t);
	tree_free(u);
	tree_free(t);
}

static void test_yaml_to_json(void **state)
{
	static const char text[] =
		"apiVersion: metallb.io/v1beta2\n"
		"kind: BGPPeer\n"
		"spec:\n"
		"  myASN: 64500\n"
		"  peerAddress: \"2001:db8::1\"\n"
		"  holdTime: 90s\n"
		"  ebgpMultiHop: true\n"
		"  x: .inf\n"
		"  big: 99999999999999999999\n"
		"  none: ~\n";
	struct manifest_set set = {0};
	struct diag_list d = {0};
	assert_int_equal(read_text(&set, &d, text), 0);
	json_t *j = tree_to_json(set.objects[0]);
	char *s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(s, "{\"apiVersion\":\"metallb.io/v1beta2\",\"kind\":\"BGPPeer\","
			       "\"spec\":{\"myASN\":64500,\"peerAddress\":\"2001:db8::1\","
			       "\"holdTime\":\"90s\",\"ebgpMultiHop\":true,\"x\":null,"
			       "\"big\":1e20,\"none\":null}}");
	free(s);
	json_decref(j);
	manifest_set_free(&set);
	diag_list_free(&d);

	/* strings that are not UTF-8 still make valid JSON */
	struct tree *o = tree_new(TREE_OBJECT, NULL, 0);
	tree_object_set(o, "k\xff", tree_new_string("v\xc3", NULL, 0));
	j = tree_to_json(o);
	s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(s, "{\"k?\":\"v?\"}");
	free(s);
	json_decref(j);
	tree_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalar_resolution),
		cmocka_unit_test(test_quoted_and_block_scalars),
		cmocka_unit_test(test_tag_mismatch),
		cmocka_unit_test(test_multi_document),
		cmocka_unit_test(test_empty_inputs),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_syntax_error_recovery),
		cmocka_unit_test(test_list_expansion),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_json_file_lines),
		cmocka_unit_test(test_block_scalar_lines),
		cmocka_unit_test(test_line_endings_and_bom),
		cmocka_unit_test(test_anchors_and_merge),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_large_mapping),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_read_directory),
		cmocka_unit_test(test_read_stdin),
		cmocka_unit_test(test_intern),
		cmocka_unit_test(test_tree_pack),
		cmocka_unit_test(test_tree_pack_common),
		cmocka_unit_test(test_tree_path),
		cmocka_unit_test(test_path_join),
		cmocka_unit_test(test_tree_build),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_types),
		cmocka_unit_test(test_json_parse_like_jansson),
		cmocka_unit_test(test_json_parse_no_managed_fields),
		cmocka_unit_test(test_yaml_to_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
