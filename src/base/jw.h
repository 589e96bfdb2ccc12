/*
 * Streaming JSON writer: appends a JSON document to one growing text
 * buffer as it is produced, without building a tree of values first.
 *
 * Why: a document of tens of thousands of entries (the /status of 20,000
 * addresses) built as a jansson tree costs a small heap block per value,
 * several times the size of the text itself, and all of it is alive at
 * once; written here, the only memory is the text.
 *
 * The writer keeps the structure itself: commas, "key": separators and a
 * two-space indentation are inserted where they belong, so a caller only
 * says what comes next (jw_key() before each member of an object).
 * Strings are escaped as RFC 8259 requires (quote, backslash and every
 * control character), and bytes that are not valid UTF-8 are written as
 * U+FFFD, so the output is always valid JSON text in UTF-8 whatever the
 * input.  Misuse (a value where a key is due, an unbalanced end, nesting
 * deeper than JW_DEPTH_MAX) is sticky: jw_ok() turns false and
 * jw_finish() returns NULL.  Out of memory aborts, as everywhere in the
 * project.
 */
#ifndef IRONLB_BASE_JW_H
#define IRONLB_BASE_JW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_DEPTH_MAX 32

struct jw {
	char *p;
	size_t len, cap;
	unsigned depth;
	bool pretty;
	bool err;
	bool want_value;               /* a key was written, its value is due */
	bool first[JW_DEPTH_MAX + 1];  /* nothing written yet at this level */
	bool is_obj[JW_DEPTH_MAX + 1]; /* the container at this level is an object */
};

/* pretty: newlines and two spaces per level (as json_dumps JSON_INDENT(2));
 * otherwise compact. */
void jw_init(struct jw *w, bool pretty);
/* The text (malloc'd, NUL-terminated, *len its length without the NUL)
 * when the document is complete and well formed, else NULL; the writer is
 * empty afterwards either way. */
char *jw_finish(struct jw *w, size_t *len);
void jw_free(struct jw *w);
bool jw_ok(const struct jw *w);

void jw_obj_begin(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w);
void jw_arr_end(struct jw *w);
/* The name of the next member of the current object. */
void jw_key(struct jw *w, const char *key);

void jw_str(struct jw *w, const char *s);  /* NULL writes null */
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, long long v);
void jw_uint(struct jw *w, unsigned long long v);
void jw_real(struct jw *w, double v);      /* not finite: null */
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* A jansson value written in place (NULL writes null): for the small
 * sections still built as trees. */
void jw_json(struct jw *w, const json_t *v);
/* The members of a jansson object written as members of the current
 * object (nothing for anything else). */
void jw_json_members(struct jw *w, const json_t *obj);

/* A member in one call: jw_key() then the value. */
void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_kint(struct jw *w, const char *key, long long v);
void jw_kbool(struct jw *w, const char *key, bool v);
void jw_kreal(struct jw *w, const char *key, double v);
/* Takes the reference of v (as json_object_set_new) and writes it. */
void jw_kjson_new(struct jw *w, const char *key, json_t *v);

#endif
