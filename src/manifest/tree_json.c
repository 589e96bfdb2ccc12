/*
 * JSON text straight into a tree (see tree.h, tree_parse_json()).
 *
 * The API client reads every watch event and response body through here.
 * Parsing with jansson and converting its json_t into a tree built every
 * object twice (jansson's hash tables, then the tree) and freed the first
 * copy at once: most of the controller's and the speaker's CPU per change.
 * This reader builds the tree directly, and with TREE_JSON_NO_MANAGED_FIELDS
 * only scans metadata.managedFields (usually the largest part of an object,
 * of no use to ironlb) instead of building it: skip_value() checks it as
 * parse_value() would (the same code, building nothing), so a body is
 * refused or taken alike with and without the flag.
 *
 * It accepts exactly what jansson's json_loadb() accepts and gives the tree
 * tree_from_json() would give (a unit test and a fuzz harness compare the
 * two): RFC 8259 JSON, UTF-8 only, no "\u0000" in strings (trees hold C
 * strings), integers within int64 (larger ones are an error, as in
 * jansson), finite reals, nesting at most 2048 deep, nothing but
 * whitespace after the value, and for a key given twice the last value at
 * the first one's place.  One difference: a NUL byte outside a string is
 * always an error here, where jansson skips one that follows a number or
 * a literal (in some places: "-7\0" and "[1\0]" pass, "[-7\0,2]" does
 * not).  No JSON encoder writes one.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/util.h"
#include "manifest/tree.h"
#include "manifest/utf8.h"

/* jansson's JSON_PARSER_MAX_DEPTH. */
#define JSON_MAX_DEPTH 2048
/* Objects up to this many members look for a repeated key by a linear
 * search; larger ones through a hash map (a hostile body must not cost
 * quadratic time). */
#define DUP_LINEAR_MAX 16

struct jp {
	const char *p, *end, *start;
	unsigned flags;
	char *err;
	/* A string's value, decoded (reused between strings). */
	char *sbuf;
	size_t slen, scap;
};

static int jp_fail(struct jp *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int jp_fail(struct jp *j, const char *fmt, ...)
{
	if (j->err)
		return -1;
	/* Line and column of the failure, 1-based, as jansson counts them. */
	int line = 1, col = 0;
	for (const char *q = j->start; q < j->p && q < j->end; q++) {
		if (*q == '\n') {
			line++;
			col = 0;
		} else {
			col++;
		}
	}
	char what[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	j->err = xasprintf("%s at line %d column %d", what, line, col);
	return -1;
}

static void skip_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static void sbuf_put(struct jp *j, const char *s, size_t n)
{
	size_t need = j->slen + n + 1;
	if (need > j->scap) {
		j->scap = need < 64 ? 64 : 2 * need;
		j->sbuf = xrealloc(j->sbuf, j->scap);
	}
	memcpy(j->sbuf + j->slen, s, n);
	j->slen += n;
	j->sbuf[j->slen] = 0;
}

static int hex4(struct jp *j, const char *q, unsigned *out)
{
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		char c = q[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return jp_fail(j, "invalid escape");
	}
	*out = v;
	return 0;
}

static void put_utf8(struct jp *j, unsigned cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	sbuf_put(j, b, n);
}

/* What a byte inside a string is: 0 ends a run (a quote, a backslash or
 * a control character), STR_ASCII goes on, STR_HIGH goes on and makes the
 * run's UTF-8 worth checking (ASCII alone always is valid). */
enum { STR_ASCII = 1, STR_HIGH = 2 };
static const unsigned char str_byte[256] = {
	[0x20 ... 0x21] = STR_ASCII,   /* '"' is 0x22 */
	[0x23 ... 0x5b] = STR_ASCII,   /* '\\' is 0x5c */
	[0x5d ... 0x7f] = STR_ASCII,
	[0x80 ... 0xff] = STR_HIGH,
};

/* A string at j->p (its opening quote) into j->sbuf / j->slen; only
 * checked when !keep (j->sbuf untouched). */
static int parse_string(struct jp *j, bool keep)
{
	j->slen = 0;
	if (keep)
		sbuf_put(j, "", 0);
	j->p++;
	for (;;) {
		const char *run = j->p;
		unsigned seen = 0;
		unsigned k;
		while (j->p < j->end && (k = str_byte[(unsigned char)*j->p]) != 0) {
			seen |= k;
			j->p++;
		}
		if (j->p > run) {
			size_t n = (size_t)(j->p - run);
			size_t ok = seen & STR_HIGH ? utf8_check(run, n) : n;
			if (ok != n) {
				j->p = run + ok;
				return jp_fail(j, "unable to decode byte 0x%x",
					       (unsigned char)run[ok]);
			}
			if (keep)
				sbuf_put(j, run, n);
		}
		if (j->p >= j->end)
			return jp_fail(j, "premature end of input");
		char c = *j->p;
		if (c == '"') {
			j->p++;
			return 0;
		}
		if (c != '\\')
			return jp_fail(j, "control character 0x%x", (unsigned char)c);
		if (j->end - j->p < 2)
			return jp_fail(j, "premature end of input");
		char e = j->p[1];
		j->p += 2;
		static const char esc[] = "\"\\/bfnrt", dec[] = "\"\\/\b\f\n\r\t";
		const char *simple = e ? strchr(esc, e) : NULL;
		if (simple) {
			if (keep)
				sbuf_put(j, &dec[simple - esc], 1);
			continue;
		}
		if (e != 'u')
			return jp_fail(j, "invalid escape");
		unsigned cp;
		if (j->end - j->p < 4 || hex4(j, j->p, &cp) < 0)
			return jp_fail(j, "invalid escape");
		j->p += 4;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			unsigned lo;
			if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
			    hex4(j, j->p + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
				return jp_fail(j, "invalid Unicode '\\u%04X'", cp);
			j->p += 6;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
			return jp_fail(j, "invalid Unicode '\\u%04X'", cp);
		} else if (cp == 0) {
			return jp_fail(j, "\\u0000 is not allowed (strings cannot hold NUL)");
		}
		if (keep)
			put_utf8(j, cp);
	}
}

/* Past one or more digits at q; NULL (failed) when there is none. */
static const char *digits(struct jp *j, const char *q)
{
	if (q >= j->end || *q < '0' || *q > '9') {
		j->p = q;
		jp_fail(j, "invalid token");
		return NULL;
	}
	while (q < j->end && *q >= '0' && *q <= '9')
		q++;
	return q;
}

/* An integer's text as "%" PRId64 writes it, without printf. */
static char *int_text(int64_t v)
{
	char b[24], *q = b + sizeof(b);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	*--q = 0;
	do
		*--q = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--q = '-';
	return xstrdup(q);
}

/* A number at j->p: into *out (a new node) when out is not NULL, else
 * only checked, with the same errors.  0 or -1. */
static int parse_number(struct jp *j, struct tree **out)
{
	const char *s = j->p, *q = s;
	bool real = false;
	if (q < j->end && *q == '-')
		q++;
	if (q < j->end && *q == '0') {
		q++;
	} else if (q < j->end && *q >= '1' && *q <= '9') {
		while (q < j->end && *q >= '0' && *q <= '9')
			q++;
	} else {
		return jp_fail(j, "invalid token");
	}
	if (q < j->end && *q == '.') {
		real = true;
		if (!(q = digits(j, q + 1)))
			return -1;
	}
	if (q < j->end && (*q == 'e' || *q == 'E')) {
		real = true;
		q++;
		if (q < j->end && (*q == '+' || *q == '-'))
			q++;
		if (!(q = digits(j, q)))
			return -1;
	}
	/* strtoll / strtod need a terminated copy: the input is not. */
	char num[64];
	size_t n = (size_t)(q - s);
	char *text = n < sizeof(num) ? num : xmalloc(n + 1);
	memcpy(text, s, n);
	text[n] = 0;
	int rc = 0;
	errno = 0;
	if (!real) {
		long long v = strtoll(text, NULL, 10);
		if (errno == ERANGE) {
			rc = jp_fail(j, "too big %sinteger", v < 0 ? "negative " : "");
		} else if (out) {
			*out = tree_new(TREE_INT, NULL, 0);
			(*out)->i = (int64_t)v;
			(*out)->text = int_text((*out)->i);
		}
	} else {
		double v = strtod(text, NULL);
		if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)) {
			rc = jp_fail(j, "real number overflow");
		} else if (out) {
			*out = tree_new(TREE_FLOAT, NULL, 0);
			(*out)->f = v;
			(*out)->text = tree_format_double(v);
		}
	}
	if (text != num)
		free(text);
	j->p = q;
	return rc;
}

static struct tree *parse_value(struct jp *j, int depth, bool skip_managed);
static int skip_value(struct jp *j, int depth);

/* At a container's opening bracket: true (and past its closing one) when
 * it is empty. */
static bool container_open(struct jp *j, char close)
{
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return true;
	}
	return false;
}

/* After a member: 1 past a comma (another follows), 0 past the closing
 * bracket, -1 on anything else. */
static int container_next(struct jp *j, char close)
{
	skip_ws(j);
	if (j->p < j->end && *j->p == ',') {
		j->p++;
		return 1;
	}
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	return jp_fail(j, j->p >= j->end ? "premature end of input" : "'%c' expected", close);
}

/* A key given twice: the last value at the first one's place (as
 * jansson's json_object_set() does). */
static void object_dedup(struct tree *o)
{
	if (o->n < 2)
		return;
	size_t u = 0;
	if (o->n <= DUP_LINEAR_MAX) {
		for (size_t i = 0; i < o->n; i++) {
			size_t k;
			for (k = 0; k < u && strcmp(o->keys[k], o->keys[i]) != 0; k++)
				;
			if (k < u) {
				tree_free(o->items[k]);
				o->items[k] = o->items[i];
				free(o->keys[i]);
				continue;
			}
			o->keys[u] = o->keys[i];
			o->items[u++] = o->items[i];
		}
		o->n = u;
		return;
	}
	struct hashmap seen;
	hashmap_init(&seen, false);   /* the keys stay in o */
	for (size_t i = 0; i < o->n; i++) {
		void *at = hashmap_get_str(&seen, o->keys[i]);
		if (at) {
			size_t k = (size_t)(uintptr_t)at - 1;
			tree_free(o->items[k]);
			o->items[k] = o->items[i];
			free(o->keys[i]);
			continue;
		}
		o->keys[u] = o->keys[i];
		o->items[u] = o->items[i];
		hashmap_put_str(&seen, o->keys[u], (void *)(uintptr_t)(u + 1), NULL);
		u++;
	}
	hashmap_clear(&seen);
	o->n = u;
}

/* An object's members; metadata (skip_managed) leaves managedFields out. */
static struct tree *parse_object(struct jp *j, int depth, bool skip_managed)
{
	struct tree *o = tree_new(TREE_OBJECT, NULL, 0);
	size_t cap = 0;
	if (container_open(j, '}'))
		return o;
	for (;;) {
		skip_ws(j);
		if (j->p >= j->end || *j->p != '"') {
			jp_fail(j, j->p >= j->end ? "premature end of input" : "string or '}' expected");
			goto fail;
		}
		if (parse_string(j, true) < 0)
			goto fail;
		char *key = xstrdup(j->sbuf);
		skip_ws(j);
		if (j->p >= j->end || *j->p != ':') {
			free(key);
			jp_fail(j, "':' expected");
			goto fail;
		}
		j->p++;
		if (skip_managed && strcmp(key, "managedFields") == 0) {
			/* Checked, not built. */
			free(key);
			if (skip_value(j, depth + 1) < 0)
				goto fail;
		} else {
			bool meta = (j->flags & TREE_JSON_NO_MANAGED_FIELDS) &&
				    strcmp(key, "metadata") == 0;
			struct tree *v = parse_value(j, depth + 1, meta);
			if (!v) {
				free(key);
				goto fail;
			}
			if (o->n == cap) {
				cap = cap ? 2 * cap : 8;
				o->keys = xrealloc(o->keys, cap * sizeof(*o->keys));
				o->items = xrealloc(o->items, cap * sizeof(*o->items));
			}
			o->keys[o->n] = key;
			o->items[o->n++] = v;
		}
		int more = container_next(j, '}');
		if (more < 0)
			goto fail;
		if (!more) {
			object_dedup(o);
			return o;
		}
	}
fail:
	tree_free(o);
	return NULL;
}

static struct tree *parse_array(struct jp *j, int depth)
{
	struct tree *a = tree_new(TREE_ARRAY, NULL, 0);
	size_t cap = 0;
	if (container_open(j, ']'))
		return a;
	for (;;) {
		struct tree *v = parse_value(j, depth + 1, false);
		if (!v)
			goto fail;
		if (a->n == cap) {
			cap = cap ? 2 * cap : 8;
			a->items = xrealloc(a->items, cap * sizeof(*a->items));
		}
		a->items[a->n++] = v;
		int more = container_next(j, ']');
		if (more < 0)
			goto fail;
		if (!more)
			return a;
	}
fail:
	tree_free(a);
	return NULL;
}

static bool literal(struct jp *j, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return false;
	j->p += n;
	return true;
}

/* A value; depth is the nesting it has if it is an object or array. */
static struct tree *parse_value(struct jp *j, int depth, bool skip_managed)
{
	skip_ws(j);
	if (j->p >= j->end) {
		jp_fail(j, "premature end of input");
		return NULL;
	}
	struct tree *t;
	if ((*j->p == '{' || *j->p == '[') && depth > JSON_MAX_DEPTH) {
		jp_fail(j, "maximum parsing depth reached");
		return NULL;
	}
	switch (*j->p) {
	case '{':
		return parse_object(j, depth, skip_managed);
	case '[':
		return parse_array(j, depth);
	case '"':
		if (parse_string(j, true) < 0)
			return NULL;
		t = tree_new(TREE_STRING, NULL, 0);
		/* A string may hold a NUL only through \u0000, refused above. */
		t->text = xstrndup(j->sbuf, j->slen);
		return t;
	case 't':
	case 'f': {
		bool b = literal(j, "true");
		if (!b && !literal(j, "false"))
			break;
		t = tree_new(TREE_BOOL, NULL, 0);
		t->b = b;
		t->text = xstrdup(b ? "true" : "false");
		return t;
	}
	case 'n':
		if (!literal(j, "null"))
			break;
		t = tree_new(TREE_NULL, NULL, 0);
		t->text = xstrdup("null");
		return t;
	default:
		if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
			return parse_number(j, &t) < 0 ? NULL : t;
		break;
	}
	jp_fail(j, "invalid token");
	return NULL;
}

/* What parse_value() reads, checked alike (the same errors at the same
 * places) and built into nothing.  0 or -1. */
static int skip_value(struct jp *j, int depth)
{
	skip_ws(j);
	if (j->p >= j->end)
		return jp_fail(j, "premature end of input");
	char c = *j->p;
	if ((c == '{' || c == '[') && depth > JSON_MAX_DEPTH)
		return jp_fail(j, "maximum parsing depth reached");
	switch (c) {
	case '{':
	case '[': {
		char close = c == '{' ? '}' : ']';
		if (container_open(j, close))
			return 0;
		for (;;) {
			if (close == '}') {   /* a member's key and colon first */
				skip_ws(j);
				if (j->p >= j->end || *j->p != '"')
					return jp_fail(j, j->p >= j->end ? "premature end of input"
									 : "string or '}' expected");
				if (parse_string(j, false) < 0)
					return -1;
				skip_ws(j);
				if (j->p >= j->end || *j->p != ':')
					return jp_fail(j, "':' expected");
				j->p++;
			}
			if (skip_value(j, depth + 1) < 0)
				return -1;
			int more = container_next(j, close);
			if (more <= 0)
				return more;
		}
	}
	case '"':
		return parse_string(j, false);
	case 't':
	case 'f':
		if (literal(j, "true") || literal(j, "false"))
			return 0;
		break;
	case 'n':
		if (literal(j, "null"))
			return 0;
		break;
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return parse_number(j, NULL);
		break;
	}
	return jp_fail(j, "invalid token");
}

struct tree *tree_parse_json(const char *text, size_t len, unsigned flags, char **err)
{
	struct jp j = {.p = text, .end = text + len, .start = text, .flags = flags};
	skip_ws(&j);
	struct tree *t = NULL;
	if (j.p >= j.end)
		jp_fail(&j, "'[' or '{' expected near end of file");
	else if (!(flags & TREE_JSON_ANY) && *j.p != '{' && *j.p != '[')
		jp_fail(&j, "'[' or '{' expected");
	else
		t = parse_value(&j, 1, false);
	if (t) {
		skip_ws(&j);
		if (j.p < j.end) {
			jp_fail(&j, "end of file expected");
			tree_free(t);
			t = NULL;
		}
	}
	free(j.sbuf);
	if (!t) {
		if (err)
			*err = j.err;
		else
			free(j.err);
	}
	return t;
}
