/*
 * Quoted and block scalar values from their source text (see yaml_text.h).
 *
 * Flow scalars (quoted) fold their line breaks: the white space around a
 * break is dropped, one break becomes a space, and each empty line after it
 * a newline.  Block scalars keep their lines (literal `|`) or fold lines
 * that start with a non-blank character (folded `>`); more-indented lines
 * keep their breaks; the chomping indicator decides the final breaks.
 */
#include "manifest/yaml_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_break(char c)
{
	return c == '\n' || c == '\r';
}

/* Skip the line break at s[i] (CR LF counts as one). */
static size_t skip_break(const char *s, size_t len, size_t i)
{
	if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
		return i + 2;
	return i + 1;
}

/*
 * After a line break: skip the empty lines (blanks only) and the next
 * line's leading blanks.  Returns the number of empty lines skipped.
 */
static size_t skip_empty_lines(const char *s, size_t len, size_t *pi)
{
	size_t i = *pi, n = 0;
	for (;;) {
		while (i < len && is_blank(s[i]))
			i++;
		if (i >= len || !is_break(s[i]))
			break;
		i = skip_break(s, len, i);
		n++;
	}
	*pi = i;
	return n;
}

char *yaml_single_quoted(const char *s, size_t len, size_t *out_len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0, keep = 0;
	for (size_t i = 0; i < len;) {
		char c = s[i];
		if (c == '\'') {
			if (i + 1 >= len || s[i + 1] != '\'') {
				free(out);
				return NULL;
			}
			out[o++] = '\'';
			keep = o;
			i += 2;
		} else if (is_break(c)) {
			o = keep;
			i = skip_break(s, len, i);
			size_t empty = skip_empty_lines(s, len, &i);
			if (empty == 0)
				out[o++] = ' ';
			for (; empty; empty--)
				out[o++] = '\n';
			keep = o;
		} else {
			out[o++] = c;
			if (!is_blank(c))
				keep = o;
			i++;
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * One escape (s[0] is the character after the backslash): appends its value
 * at o and returns the number of source characters used, or 0 when it is not
 * a valid escape (§5.7).
 */
static size_t escape(const char *s, size_t avail, char *o, size_t *olen)
{
	static const char simple_in[] = "0abtnvfre \"/\\\t";
	static const char simple_out[] = "\0\a\b\t\n\v\f\r\x1b \"/\\\t";
	const char *p = memchr(simple_in, s[0], sizeof(simple_in) - 1);
	if (p && s[0]) {
		o[0] = simple_out[p - simple_in];
		*olen = 1;
		return 1;
	}
	uint32_t cp;
	size_t digits;
	switch (s[0]) {
	case 'N':
		*olen = put_utf8(o, 0x85);
		return 1;
	case '_':
		*olen = put_utf8(o, 0xa0);
		return 1;
	case 'L':
		*olen = put_utf8(o, 0x2028);
		return 1;
	case 'P':
		*olen = put_utf8(o, 0x2029);
		return 1;
	case 'x':
		digits = 2;
		break;
	case 'u':
		digits = 4;
		break;
	case 'U':
		digits = 8;
		break;
	default:
		return 0;
	}
	if (avail < 1 + digits)
		return 0;
	cp = 0;
	for (size_t k = 1; k <= digits; k++) {
		int v = hex_digit_value(s[k]);
		if (v < 0)
			return 0;
		cp = (cp << 4) | (uint32_t)v;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*olen = put_utf8(o, cp);
	return 1 + digits;
}

char *yaml_double_quoted(const char *s, size_t len, size_t *out_len)
{
	/* the longest expansion is \L or \P: two characters to three bytes */
	char *out = xmalloc(2 * len + 1);
	size_t o = 0, keep = 0;
	for (size_t i = 0; i < len;) {
		char c = s[i];
		if (c == '\\') {
			if (i + 1 >= len)
				goto bad;
			if (is_break(s[i + 1])) {
				/* an escaped break joins the lines; empty lines still count */
				i = skip_break(s, len, i + 1);
				for (size_t empty = skip_empty_lines(s, len, &i); empty; empty--)
					out[o++] = '\n';
				keep = o;
				continue;
			}
			size_t n, used = escape(s + i + 1, len - i - 1, out + o, &n);
			if (!used)
				goto bad;
			o += n;
			keep = o;
			i += 1 + used;
		} else if (is_break(c)) {
			o = keep;
			i = skip_break(s, len, i);
			size_t empty = skip_empty_lines(s, len, &i);
			if (empty == 0)
				out[o++] = ' ';
			for (; empty; empty--)
				out[o++] = '\n';
			keep = o;
		} else {
			if (c == '"')
				goto bad;
			out[o++] = c;
			if (!is_blank(c))
				keep = o;
			i++;
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
bad:
	free(out);
	return NULL;
}

struct line {
	size_t start, end; /* without the break */
	bool has_break;
};

static bool next_line(const char *s, size_t len, size_t *pos, struct line *l)
{
	size_t i = *pos;
	if (i >= len)
		return false;
	l->start = i;
	while (i < len && !is_break(s[i]))
		i++;
	l->end = i;
	l->has_break = i < len;
	*pos = l->has_break ? skip_break(s, len, i) : i;
	return true;
}

static size_t leading_spaces(const char *s, const struct line *l)
{
	size_t n = 0;
	while (l->start + n < l->end && s[l->start + n] == ' ')
		n++;
	return n;
}

char *yaml_block_scalar(const char *s, size_t len, bool folded, enum yaml_chomp chomp,
			int indent, size_t *out_len)
{
	struct line l;
	size_t pos = 0;
	if (indent <= 0) {
		/* the first line with more than spaces sets the indentation */
		indent = 0;
		while (next_line(s, len, &pos, &l)) {
			size_t sp = leading_spaces(s, &l);
			if (l.start + sp < l.end) {
				indent = (int)sp;
				break;
			}
			if ((int)sp > indent)
				indent = (int)sp;
		}
		if (indent == 0)
			indent = 1;
		pos = 0;
	}
	size_t ind = (size_t)indent;
	char *out = xmalloc(len + 2);
	size_t o = 0;
	size_t empty = 0;        /* empty lines since the last content line */
	bool have_content = false;
	bool prev_plain = false; /* the last content line starts with a non-blank */
	bool prev_break = false; /* ... and ends with a line break */
	while (next_line(s, len, &pos, &l)) {
		size_t sp = leading_spaces(s, &l);
		bool blank_rest = l.start + (sp < ind ? sp : ind) == l.end;
		if (blank_rest || (sp >= ind && l.start + ind == l.end)) {
			/* an empty line: it counts only when a break ends it */
			if (l.has_break)
				empty++;
			continue;
		}
		if (sp < ind)
			break; /* less indented: the scalar has ended */
		size_t a = l.start + ind;
		bool plain = !is_blank(s[a]);
		if (!have_content) {
			for (; empty; empty--)
				out[o++] = '\n';
		} else if (folded && prev_plain && plain) {
			if (empty == 0)
				out[o++] = ' ';
			for (; empty; empty--)
				out[o++] = '\n';
		} else {
			out[o++] = '\n';
			for (; empty; empty--)
				out[o++] = '\n';
		}
		memcpy(out + o, s + a, l.end - a);
		o += l.end - a;
		have_content = true;
		prev_plain = plain;
		prev_break = l.has_break;
	}
	if (chomp != YAML_CHOMP_STRIP && have_content && prev_break)
		out[o++] = '\n';
	if (chomp == YAML_CHOMP_KEEP)
		for (; empty; empty--)
			out[o++] = '\n';
	out[o] = '\0';
	*out_len = o;
	return out;
}
