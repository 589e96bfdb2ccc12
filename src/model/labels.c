/*
 * Labels, label selectors and the syntax of Kubernetes names, plus the text
 * helpers the decoder and the validator use to write diagnostics (quoting
 * what was found, field paths, "did you mean").
 *
 * Labels are kept sorted by key so that lookups are a binary search and two
 * label sets compare by walking them once.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/internal.h"
#include "model/model.h"

/* ------------------------------------------------------------------ */
/* labels */

static size_t labels_find(const struct labels *l, const char *key, bool *found)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->items[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const char *labels_get(const struct labels *l, const char *key)
{
	bool found;
	size_t i = labels_find(l, key, &found);
	return found ? l->items[i].value : NULL;
}

/* A label is one block, "key\0value\0", and the array has exactly n
 * items: a Service's selector of one label was an array of four and two
 * strings.  A decoded set is packed further (labels_pack()): its array
 * and every "key\0value\0" in one block, the strings after the array. */
static bool labels_packed(const struct labels *l)
{
	return l->packed;
}

static void kv_set(struct kv *kv, const char *key, const char *value)
{
	size_t lk = strlen(key) + 1, lv = strlen(value) + 1;
	char *b = xmalloc(lk + lv);
	memcpy(b, key, lk);
	memcpy(b + lk, value, lv);
	kv->key = b;
	kv->value = b + lk;
}

/* Back to a block per label, so that one can change. */
static void labels_unpack(struct labels *l)
{
	if (!labels_packed(l))
		return;
	struct kv *items = xcalloc(l->n, sizeof(*items));
	for (size_t i = 0; i < l->n; i++)
		kv_set(&items[i], l->items[i].key, l->items[i].value);
	free(l->items);
	l->items = items;
	l->packed = false;
}

void labels_pack(struct labels *l)
{
	if (!l->n || labels_packed(l))
		return;
	size_t len = l->n * sizeof(struct kv);
	for (size_t i = 0; i < l->n; i++)
		len += strlen(l->items[i].key) + strlen(l->items[i].value) + 2;
	struct kv *items = xmalloc(len);
	char *p = (char *)&items[l->n];
	for (size_t i = 0; i < l->n; i++) {
		size_t lk = strlen(l->items[i].key) + 1, lv = strlen(l->items[i].value) + 1;
		items[i].key = memcpy(p, l->items[i].key, lk);
		items[i].value = memcpy(p + lk, l->items[i].value, lv);
		p += lk + lv;
		free(l->items[i].key);
	}
	free(l->items);
	l->items = items;
	l->packed = true;
}

void labels_set(struct labels *l, const char *key, const char *value)
{
	labels_unpack(l);
	bool found;
	size_t i = labels_find(l, key, &found);
	if (found) {
		char *old = l->items[i].key;
		kv_set(&l->items[i], old, value);
		free(old);
		return;
	}
	l->items = xrealloc(l->items, (l->n + 1) * sizeof(l->items[0]));
	l->n++;
	memmove(&l->items[i + 1], &l->items[i], (l->n - 1 - i) * sizeof(l->items[0]));
	kv_set(&l->items[i], key, value);
}

void labels_free(struct labels *l)
{
	if (!labels_packed(l))
		for (size_t i = 0; i < l->n; i++)
			free(l->items[i].key);
	free(l->items);
	l->items = NULL;
	l->n = 0;
	l->packed = false;
}

/* ------------------------------------------------------------------ */
/* selectors */

static bool req_has_value(const struct sel_req *r, const char *v)
{
	for (size_t i = 0; i < r->nvalues; i++)
		if (strcmp(r->values[i], v) == 0)
			return true;
	return false;
}

bool sel_req_same(const struct sel_req *a, const struct sel_req *b)
{
	/* Values within one expression are unique (decode refuses a repeat),
	 * so equal counts and inclusion mean equal sets. */
	if (a->op != b->op || a->nvalues != b->nvalues || strcmp(a->key, b->key) != 0)
		return false;
	for (size_t i = 0; i < a->nvalues; i++)
		if (!req_has_value(b, a->values[i]))
			return false;
	return true;
}

bool selector_matches(const struct label_selector *s, const struct labels *l)
{
	for (size_t i = 0; i < s->match_labels.n; i++) {
		const char *v = labels_get(l, s->match_labels.items[i].key);
		if (!v || strcmp(v, s->match_labels.items[i].value) != 0)
			return false;
	}
	for (size_t i = 0; i < s->nreqs; i++) {
		const struct sel_req *r = &s->reqs[i];
		const char *v = labels_get(l, r->key);
		switch (r->op) {
		case SEL_OP_IN:
			if (!v || !req_has_value(r, v))
				return false;
			break;
		case SEL_OP_NOT_IN:
			if (v && req_has_value(r, v))
				return false;
			break;
		case SEL_OP_EXISTS:
			if (!v)
				return false;
			break;
		case SEL_OP_DOES_NOT_EXIST:
			if (v)
				return false;
			break;
		}
	}
	return true;
}

bool selectors_match_any(const struct label_selector *s, size_t n, const struct labels *l,
			 bool empty_matches)
{
	if (n == 0)
		return empty_matches;
	for (size_t i = 0; i < n; i++)
		if (selector_matches(&s[i], l))
			return true;
	return false;
}

void selector_free(struct label_selector *s)
{
	labels_free(&s->match_labels);
	for (size_t i = 0; i < s->nreqs; i++) {
		free(s->reqs[i].key);
		for (size_t k = 0; k < s->reqs[i].nvalues; k++)
			free(s->reqs[i].values[k]);
		free(s->reqs[i].values);
	}
	free(s->reqs);
	s->reqs = NULL;
	s->nreqs = 0;
}

void selectors_free(struct label_selector *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		selector_free(&s[i]);
	free(s);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *const sel_op_names[] = {"in", "notin", "exists", "!exists"};

char *selector_canon(const struct label_selector *s)
{
	/* matchLabels are already sorted; expressions are rendered one by one
	 * (values sorted) and the renderings sorted. */
	char **parts = xcalloc(s->match_labels.n + s->nreqs, sizeof(*parts));
	size_t np = 0;
	for (size_t i = 0; i < s->match_labels.n; i++)
		parts[np++] = xasprintf("%s=%s", s->match_labels.items[i].key,
					s->match_labels.items[i].value);
	for (size_t i = 0; i < s->nreqs; i++) {
		const struct sel_req *r = &s->reqs[i];
		char **vals = xcalloc(r->nvalues, sizeof(*vals));
		if (r->nvalues)
			memcpy(vals, r->values, r->nvalues * sizeof(*vals));
		xqsort(vals, r->nvalues, sizeof(*vals), cmp_strp);
		char *acc = xasprintf("%s %s (", r->key, sel_op_names[r->op]);
		for (size_t k = 0; k < r->nvalues; k++) {
			char *n = xasprintf("%s%s%s", acc, k ? "," : "", vals[k]);
			free(acc);
			acc = n;
		}
		parts[np++] = xasprintf("%s)", acc);
		free(acc);
		free(vals);
	}
	xqsort(parts + s->match_labels.n, s->nreqs, sizeof(*parts), cmp_strp);
	char *out = xstrdup("");
	for (size_t i = 0; i < np; i++) {
		char *n = xasprintf("%s%s%s", out, i ? ";" : "", parts[i]);
		free(out);
		free(parts[i]);
		out = n;
	}
	free(parts);
	return out;
}

/* ------------------------------------------------------------------ */
/* name syntax */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* One DNS-1123 label: lower case alphanumerics and '-', alphanumeric at
 * both ends, 1..63 characters; n is its length. */
static bool dns_label_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return false;
	if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

static const char subdomain_rule[] =
	"accepted: lower case letters, digits, '-' and '.', starting and ending with a letter "
	"or digit, at most 253 characters";

const char *check_dns1123_subdomain(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 253)
		return subdomain_rule;
	const char *p = s;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (!dns_label_ok(p, n))
			return subdomain_rule;
		if (!dot)
			return NULL;
		p = dot + 1;
	}
}

const char *check_dns1123_label(const char *s)
{
	if (!dns_label_ok(s, strlen(s)))
		return "accepted: lower case letters, digits and '-', starting and ending with a "
		       "letter or digit, at most 63 characters";
	return NULL;
}

const char *check_dns1035_label(const char *s)
{
	if (!dns_label_ok(s, strlen(s)) || !(s[0] >= 'a' && s[0] <= 'z'))
		return "accepted: lower case letters, digits and '-', starting with a letter and "
		       "ending with a letter or digit, at most 63 characters";
	return NULL;
}

/* The name part of a qualified name (label keys) and label values share
 * this syntax; an empty string is allowed only for values. */
static bool qualified_part_ok(const char *s, size_t n, bool allow_empty)
{
	if (n == 0)
		return allow_empty;
	if (n > 63)
		return false;
	if (!is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

const char *check_label_key(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *name = s;
	if (slash) {
		char *prefix = xstrndup(s, (size_t)(slash - s));
		bool ok = check_dns1123_subdomain(prefix) == NULL;
		free(prefix);
		if (!ok)
			return "accepted: an optional DNS subdomain prefix and '/', then a name of "
			       "letters, digits, '-', '_' and '.', starting and ending with a letter "
			       "or digit, at most 63 characters";
		name = slash + 1;
	}
	if (!qualified_part_ok(name, strlen(name), false))
		return "accepted: an optional DNS subdomain prefix and '/', then a name of letters, "
		       "digits, '-', '_' and '.', starting and ending with a letter or digit, at "
		       "most 63 characters";
	return NULL;
}

const char *check_label_value(const char *s)
{
	if (!qualified_part_ok(s, strlen(s), true))
		return "accepted: empty, or letters, digits, '-', '_' and '.', starting and ending "
		       "with a letter or digit, at most 63 characters";
	return NULL;
}

const char *check_ifname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return "accepted: a Linux interface name, 1 to 15 characters without '/' or blanks";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '/' || c == ':' || isspace(c) || c < 0x20 || c == 0x7f)
			return "accepted: a Linux interface name, 1 to 15 characters without '/', "
			       "':' or blanks";
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* text helpers */

#define QUOTE_MAX 100

char *quote(const char *s)
{
	size_t n = strlen(s);
	size_t show = n > QUOTE_MAX ? QUOTE_MAX : n;
	char *out = xmalloc(show * 4 + 8);
	char *o = out;
	*o++ = '"';
	for (size_t i = 0; i < show; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (c == '\t') {
			*o++ = '\\';
			*o++ = 't';
		} else if (c < 0x20 || c == 0x7f) {
			static const char hex[] = "0123456789abcdef";
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	if (show < n) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

char *path_key(const char *parent, const char *key)
{
	return tree_path_join_key(parent, key);
}

char *path_idx(const char *parent, size_t i)
{
	return tree_path_join_index(parent, i);
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t prev[65], cur[65];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) !=
						    tolower((unsigned char)b[j - 1]));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			size_t best = sub < del ? sub : del;
			cur[j] = best < ins ? best : ins;
		}
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

/* Beyond this many candidates, "did you mean" is not worth its cost. */
#define CLOSEST_MAX_CANDIDATES 512

const char *closest_name(const char *s, const char *const *cands, size_t n)
{
	if (n > CLOSEST_MAX_CANDIDATES)
		return NULL;
	size_t len = strlen(s);
	size_t limit = len < 4 ? 1 : len < 10 ? 2 : 3;
	const char *best = NULL;
	size_t bestd = (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(s, cands[i]);
		if (d <= limit && d < bestd) {
			best = cands[i];
			bestd = d;
		}
	}
	return best;
}

#define KNOWN_MAX 5

char *known_names_hint(const char *s, const char *const *cands, size_t n)
{
	if (n == 0)
		return xstrdup(" (none is defined)");
	const char *close = closest_name(s, cands, n);
	if (close)
		return xasprintf(" (did you mean \"%s\"?)", close);
	const char **sorted = xcalloc(n, sizeof(*sorted));
	memcpy(sorted, cands, n * sizeof(*sorted));
	xqsort(sorted, n, sizeof(*sorted), cmp_strp);
	char *acc = xstrdup(" (known: ");
	size_t shown = 0;
	bool more = false;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0)
			continue;
		if (shown == KNOWN_MAX) {
			more = true;
			break;
		}
		char *next = xasprintf("%s%s%s", acc, shown ? ", " : "", sorted[i]);
		free(acc);
		acc = next;
		shown++;
	}
	char *out = xasprintf("%s%s)", acc, more ? ", ..." : "");
	free(acc);
	free(sorted);
	return out;
}
