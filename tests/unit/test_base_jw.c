/* Unit tests for the streaming JSON writer (base/jw.h): its output is
 * byte for byte what jansson writes for the same tree, any bytes make a
 * valid JSON string, and misuse is caught. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/jw.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* A valid UTF-8 string of ASCII, control characters, quotes and multibyte
 * characters. */
static char *rnd_text(void)
{
	static const char *const parts[] = {"a", "Z", "\"", "\\", "/", "\n", "\t", "\x01",
					    "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
					    "\xf0\x9f\x98\x80", " ", "\r", "\b", "\f"};
	size_t n = rnd(12);
	char *s = calloc(1, n * 4 + 1);
	for (size_t i = 0; i < n; i++)
		strcat(s, parts[rnd(sizeof(parts) / sizeof(parts[0]))]);
	return s;
}

static json_t *rnd_tree(int depth)
{
	unsigned k = rnd(depth > 4 ? 5 : 7);
	switch (k) {
	case 0: {
		char *s = rnd_text();
		json_t *v = json_string(s);
		free(s);
		return v;
	}
	case 1:
		return json_integer((json_int_t)rnd(1u << 30) - (1 << 29));
	case 2:
		return json_boolean(rnd(2));
	case 3:
		return json_null();
	case 4:
		return json_real((double)rnd(1000) / 8.0);
	case 5: {
		json_t *a = json_array();
		for (unsigned i = rnd(4); i > 0; i--)
			json_array_append_new(a, rnd_tree(depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (unsigned i = rnd(4); i > 0; i--) {
			char *key = rnd_text();
			json_object_set_new(o, key, rnd_tree(depth + 1));
			free(key);
		}
		return o;
	}
	}
}

/* Writes v with the writer's own calls (not jw_json). */
static void emit(struct jw *w, const json_t *v)
{
	const char *key;
	json_t *x;
	size_t i;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		jw_obj_begin(w);
		json_object_foreach((json_t *)v, key, x)
		{
			jw_key(w, key);
			emit(w, x);
		}
		jw_obj_end(w);
		break;
	case JSON_ARRAY:
		jw_arr_begin(w);
		json_array_foreach(v, i, x)
			emit(w, x);
		jw_arr_end(w);
		break;
	case JSON_STRING:
		jw_strn(w, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		jw_int(w, (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		jw_real(w, json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		jw_bool(w, json_is_true(v));
		break;
	default:
		jw_null(w);
	}
}

static void test_same_text_as_jansson(void **state)
{
	(void)state;
	for (int round = 0; round < 3000; round++) {
		json_t *v = rnd_tree(0);
		for (int pretty = 0; pretty < 2; pretty++) {
			size_t flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
				       (pretty ? JSON_INDENT(2) : JSON_COMPACT);
			char *want = json_dumps(v, flags);
			struct jw w;
			jw_init(&w, pretty);
			emit(&w, v);
			size_t len;
			char *got = jw_finish(&w, &len);
			assert_non_null(got);
			assert_string_equal(got, want);
			assert_int_equal(len, strlen(want));
			free(got);
			/* Embedded through jw_json inside an array: the same
			 * value comes back. */
			jw_init(&w, pretty);
			jw_arr_begin(&w);
			jw_json(&w, v);
			jw_arr_end(&w);
			got = jw_finish(&w, NULL);
			json_t *back = json_loads(got, JSON_DECODE_ANY, NULL);
			assert_non_null(back);
			assert_true(json_equal(json_array_get(back, 0), v));
			json_decref(back);
			free(got);
			free(want);
		}
		json_decref(v);
	}
}

/* Any bytes at all make a valid JSON string; valid UTF-8 comes back as it
 * was, an invalid byte as U+FFFD. */
static void test_any_bytes_are_escaped(void **state)
{
	(void)state;
	for (int round = 0; round < 20000; round++) {
		unsigned char b[24];
		size_t n = rnd(sizeof(b));
		for (size_t i = 0; i < n; i++)
			b[i] = (unsigned char)rnd(256);
		struct jw w;
		jw_init(&w, false);
		jw_strn(&w, (const char *)b, n);
		char *got = jw_finish(&w, NULL);
		assert_non_null(got);
		json_error_t err;
		json_t *v = json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
		assert_non_null(v);
		json_t *orig = json_stringn((const char *)b, n);
		if (orig)
			assert_true(json_equal(v, orig));
		json_decref(orig);
		json_decref(v);
		free(got);
	}
	struct jw w;
	jw_init(&w, false);
	jw_strn(&w, "a\xff\xc0\xafz\xed\xa0\x80", 8);
	char *got = jw_finish(&w, NULL);
	assert_string_equal(got, "\"a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz"
				 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	free(got);
	jw_init(&w, false);
	jw_strn(&w, "\0\x1f", 2);
	got = jw_finish(&w, NULL);
	assert_string_equal(got, "\"\\u0000\\u001F\"");
	free(got);
}

static void test_misuse_is_caught(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w, true);
	jw_obj_begin(&w);
	jw_str(&w, "value without a key");
	assert_false(jw_ok(&w));
	assert_null(jw_finish(&w, NULL));

	jw_init(&w, true);
	jw_arr_begin(&w);
	jw_obj_end(&w);
	assert_null(jw_finish(&w, NULL));

	jw_init(&w, true);
	jw_arr_begin(&w);
	assert_null(jw_finish(&w, NULL)); /* unbalanced */

	jw_init(&w, true);
	jw_obj_begin(&w);
	jw_key(&w, "k");
	jw_obj_end(&w); /* a key without its value */
	assert_null(jw_finish(&w, NULL));

	jw_init(&w, true);
	jw_int(&w, 1);
	jw_int(&w, 2); /* two documents */
	assert_null(jw_finish(&w, NULL));

	jw_init(&w, false);
	for (int i = 0; i < JW_DEPTH_MAX + 1; i++)
		jw_arr_begin(&w);
	assert_false(jw_ok(&w));
	jw_free(&w);

	jw_init(&w, false);
	assert_null(jw_finish(&w, NULL)); /* nothing written */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_text_as_jansson),
		cmocka_unit_test(test_any_bytes_are_escaped),
		cmocka_unit_test(test_misuse_is_caught),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
