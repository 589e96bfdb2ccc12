/*
 * Streaming JSON writer (see jw.h): one growing buffer, the structure
 * tracked per nesting level, strings escaped byte by byte.
 */
#include "base/jw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void jw_init(struct jw *w, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->pretty = pretty;
	w->first[0] = true;
}

void jw_free(struct jw *w)
{
	free(w->p);
	jw_init(w, w->pretty);
}

bool jw_ok(const struct jw *w)
{
	return !w->err;
}

char *jw_finish(struct jw *w, size_t *len)
{
	bool pretty = w->pretty;
	if (w->err || w->depth != 0 || w->first[0] || w->want_value) {
		jw_free(w);
		return NULL;
	}
	char *p = w->p;
	if (len)
		*len = w->len;
	if (!p)
		p = xstrdup("");
	jw_init(w, pretty);
	return p;
}

static void put(struct jw *w, const char *s, size_t n)
{
	if (w->err)
		return;
	if (w->cap - w->len < n + 1) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap - w->len < n + 1)
			cap *= 2;
		w->p = xrealloc(w->p, cap);
		w->cap = cap;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

static void putc_(struct jw *w, char c)
{
	put(w, &c, 1);
}

static void newline(struct jw *w, unsigned depth)
{
	static const char spaces[] = "                                ";
	if (!w->pretty)
		return;
	putc_(w, '\n');
	for (unsigned i = 0; i < depth; i++)
		put(w, spaces, 2);
}

/* The separator before a member or an array element at the current level. */
static void separate(struct jw *w)
{
	if (!w->first[w->depth])
		putc_(w, ',');
	w->first[w->depth] = false;
	newline(w, w->depth);
}

/* 0 when a value may be written here, after writing what precedes it. */
static int before_value(struct jw *w)
{
	if (w->err)
		return -1;
	if (w->depth == 0) {
		if (!w->first[0])
			goto bad; /* one value per document */
		w->first[0] = false;
		return 0;
	}
	if (w->is_obj[w->depth]) {
		if (!w->want_value)
			goto bad; /* a member needs its key first */
		w->want_value = false;
		return 0;
	}
	separate(w);
	return 0;
bad:
	w->err = true;
	return -1;
}

static void begin(struct jw *w, bool obj)
{
	if (before_value(w) < 0)
		return;
	if (w->depth >= JW_DEPTH_MAX) {
		w->err = true;
		return;
	}
	putc_(w, obj ? '{' : '[');
	w->depth++;
	w->first[w->depth] = true;
	w->is_obj[w->depth] = obj;
}

static void end(struct jw *w, bool obj)
{
	if (w->err)
		return;
	if (w->depth == 0 || w->is_obj[w->depth] != obj || w->want_value) {
		w->err = true;
		return;
	}
	bool empty = w->first[w->depth];
	w->depth--;
	if (!empty)
		newline(w, w->depth);
	putc_(w, obj ? '}' : ']');
}

void jw_obj_begin(struct jw *w)
{
	begin(w, true);
}

void jw_obj_end(struct jw *w)
{
	end(w, true);
}

void jw_arr_begin(struct jw *w)
{
	begin(w, false);
}

void jw_arr_end(struct jw *w)
{
	end(w, false);
}

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void put_string(struct jw *w, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	putc_(w, '"');
	size_t run = 0; /* bytes at s[i - run .. i) to copy as they are */
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		const char *esc = NULL;
		char u[8];
		size_t len = 1;
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\t')
			esc = "\\t";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\b')
			esc = "\\b";
		else if (c == '\f')
			esc = "\\f";
		else if (c < 0x20) {
			snprintf(u, sizeof(u), "\\u%04X", c);
			esc = u;
		} else if (c >= 0x80) {
			len = utf8_len(s + i, n - i);
			if (len == 0) {
				esc = "\xef\xbf\xbd"; /* U+FFFD for a byte that is not UTF-8 */
				len = 1;
			}
		}
		if (esc) {
			put(w, (const char *)s + i - run, run);
			run = 0;
			put(w, esc, strlen(esc));
		} else {
			run += len;
		}
		i += len;
	}
	put(w, (const char *)s + n - run, run);
	putc_(w, '"');
}

void jw_key(struct jw *w, const char *key)
{
	if (w->err)
		return;
	if (w->depth == 0 || !w->is_obj[w->depth] || w->want_value || !key) {
		w->err = true;
		return;
	}
	separate(w);
	put_string(w, key, strlen(key));
	put(w, w->pretty ? ": " : ":", w->pretty ? 2 : 1);
	w->want_value = true;
}

void jw_strn(struct jw *w, const char *s, size_t n)
{
	if (before_value(w) < 0)
		return;
	put_string(w, s, n);
}

void jw_str(struct jw *w, const char *s)
{
	if (!s)
		jw_null(w);
	else
		jw_strn(w, s, strlen(s));
}

static void put_literal(struct jw *w, const char *s)
{
	if (before_value(w) < 0)
		return;
	put(w, s, strlen(s));
}

void jw_int(struct jw *w, long long v)
{
	char b[32];
	snprintf(b, sizeof(b), "%lld", v);
	put_literal(w, b);
}

void jw_uint(struct jw *w, unsigned long long v)
{
	char b[32];
	snprintf(b, sizeof(b), "%llu", v);
	put_literal(w, b);
}

void jw_real(struct jw *w, double v)
{
	char b[40];
	if (!isfinite(v)) {
		put_literal(w, "null");
		return;
	}
	snprintf(b, sizeof(b), "%.17g", v);
	/* As jansson writes a real: always recognisable as one. */
	if (!strpbrk(b, ".eE"))
		strcat(b, ".0");
	put_literal(w, b);
}

void jw_bool(struct jw *w, bool v)
{
	put_literal(w, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
	put_literal(w, "null");
}

/* jansson's output, re-indented to the writer's current depth. */
static int dump_cb(const char *buf, size_t size, void *data)
{
	struct jw *w = data;
	size_t start = 0;
	for (size_t i = 0; i < size; i++) {
		if (buf[i] != '\n')
			continue;
		put(w, buf + start, i - start);
		newline(w, w->depth);
		start = i + 1;
	}
	put(w, buf + start, size - start);
	return 0;
}

void jw_json(struct jw *w, const json_t *v)
{
	if (!v) {
		jw_null(w);
		return;
	}
	if (before_value(w) < 0)
		return;
	size_t flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
		       (w->pretty ? JSON_INDENT(2) : JSON_COMPACT);
	if (json_dump_callback(v, dump_cb, w, flags) < 0)
		w->err = true;
}

void jw_json_members(struct jw *w, const json_t *obj)
{
	const char *key;
	json_t *v;
	if (!json_is_object(obj))
		return;
	json_object_foreach((json_t *)obj, key, v)
	{
		jw_key(w, key);
		jw_json(w, v);
	}
}

void jw_kstr(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_str(w, s);
}

void jw_kint(struct jw *w, const char *key, long long v)
{
	jw_key(w, key);
	jw_int(w, v);
}

void jw_kbool(struct jw *w, const char *key, bool v)
{
	jw_key(w, key);
	jw_bool(w, v);
}

void jw_kreal(struct jw *w, const char *key, double v)
{
	jw_key(w, key);
	jw_real(w, v);
}

void jw_kjson_new(struct jw *w, const char *key, json_t *v)
{
	jw_key(w, key);
	jw_json(w, v);
	json_decref(v);
}
