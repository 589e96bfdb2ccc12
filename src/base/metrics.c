/*
 * Prometheus registry and text exposition (see metrics.h).
 *
 * Each family owns an array of series pointers kept sorted by label values;
 * every operation is a binary search that either finds the series or gives
 * the slot where a new one goes.  A series is one allocation: the value,
 * then its label values one after another, each NUL-terminated (a daemon
 * holds one series per owned address and counter: 20,000 addresses, three
 * counters; no pointer per label).  The rare value that must stay exact
 * past 2^53 (an IPv6 pool's address count) has a block of its own.
 *
 * A family may have a collector: series made from the owner's state when
 * the registry is rendered (metallb_speaker_announced, one series per
 * announced address, is derived from the plan instead of being held).
 */
#include "base/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* 2^53: above it a double no longer holds every integer. */
#define EXACT_LIMIT 9007199254740992.0
/* 2^128 as a double: integral doubles below it convert to u128. */
#define U128_LIMIT 340282366920938463463374607431768211456.0

struct metrics_series {
	double v;
	/* When not NULL, the value is *exact and v only approximates it. */
	unsigned __int128 *exact;
	char values[]; /* n_labels NUL-terminated strings */
};

struct metrics_family {
	char *name;
	char *help;
	enum metrics_type type;
	size_t n_labels;
	char **labels;
	struct metrics_series **series; /* sorted by label values */
	size_t n_series;
	size_t cap_series;
	/* The collector, and the series it made during a render (unsorted
	 * while it runs). */
	void (*collect)(struct metrics_family *fam, void *arg);
	void *collect_arg;
	bool collecting;
	struct metrics_series **made;
	size_t n_made;
};

struct metrics_registry {
	struct metrics_family **fams; /* registration order */
	size_t n_fams;
};

/* Growable output buffer; always NUL-terminated once reserved. */
struct outbuf {
	char *p;
	size_t len;
	size_t cap;
};

static void out_reserve(struct outbuf *o, size_t more)
{
	if (o->len + more + 1 <= o->cap)
		return;
	size_t cap = o->cap ? o->cap : 256;
	while (cap < o->len + more + 1)
		cap *= 2;
	o->p = xrealloc(o->p, cap);
	o->cap = cap;
}

static void out_mem(struct outbuf *o, const char *s, size_t n)
{
	out_reserve(o, n);
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void out_str(struct outbuf *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

static void out_char(struct outbuf *o, char c)
{
	out_mem(o, &c, 1);
}

/*
 * Escaping per the 0.0.4 text format: in HELP text backslash and newline,
 * in label values also the double quote.
 */
static void out_escaped(struct outbuf *o, const char *s, bool quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = NULL;
		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '"' && quote)
			esc = "\\\"";
		if (!esc)
			continue;
		out_mem(o, run, (size_t)(s - run));
		out_str(o, esc);
		run = s + 1;
	}
	out_mem(o, run, (size_t)(s - run));
}

size_t metrics_format_u128(char *out, unsigned __int128 v)
{
	char tmp[40];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

size_t metrics_format_double(char *out, double v)
{
	int n;

	if (isnan(v))
		return (size_t)snprintf(out, METRICS_VALUE_MAX, "NaN");
	if (isinf(v))
		return (size_t)snprintf(out, METRICS_VALUE_MAX, v > 0 ? "+Inf" : "-Inf");
	if (v == 0)
		return (size_t)snprintf(out, METRICS_VALUE_MAX, "0");
	if (fabs(v) <= EXACT_LIMIT && v == trunc(v))
		return (size_t)snprintf(out, METRICS_VALUE_MAX, "%.0f", v);
	/* The shortest of 15, 16 or 17 significant digits that reads back as v:
	 * 15 digits always render a value that has a shorter exact form, and
	 * %g drops the trailing zeros. */
	for (int prec = 15; prec < 17; prec++) {
		n = snprintf(out, METRICS_VALUE_MAX, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return (size_t)n;
	}
	return (size_t)snprintf(out, METRICS_VALUE_MAX, "%.17g", v);
}

static bool valid_name(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (colon && c == ':') || (p != s && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

/* Label value i of a series. */
static const char *series_value(const struct metrics_series *s, size_t i)
{
	const char *p = s->values;
	while (i--)
		p += strlen(p) + 1;
	return p;
}

static int cmp_values(const struct metrics_family *fam, const struct metrics_series *s,
		      const char *const *b)
{
	const char *a = s->values;
	for (size_t i = 0; i < fam->n_labels; i++) {
		int c = strcmp(a, b[i]);
		if (c)
			return c;
		a += strlen(a) + 1;
	}
	return 0;
}

/* Two series of one family, by label values. */
static int cmp_series(const struct metrics_family *fam, const struct metrics_series *x,
		      const struct metrics_series *y)
{
	const char *a = x->values, *b = y->values;
	for (size_t i = 0; i < fam->n_labels; i++) {
		int c = strcmp(a, b);
		if (c)
			return c;
		a += strlen(a) + 1;
		b += strlen(b) + 1;
	}
	return 0;
}

static void series_free(struct metrics_series *s)
{
	if (s)
		free(s->exact);
	free(s);
}

/* v exact when it needs to be (past 2^53), else the double alone. */
static void series_set_exact(struct metrics_series *s, unsigned __int128 v)
{
	s->v = (double)v;
	if (v > (unsigned __int128)EXACT_LIMIT) {
		if (!s->exact)
			s->exact = xmalloc(sizeof(*s->exact));
		*s->exact = v;
	} else {
		free(s->exact);
		s->exact = NULL;
	}
}

static void series_set_double(struct metrics_series *s, double v)
{
	s->v = v;
	free(s->exact);
	s->exact = NULL;
}

static bool values_ok(const struct metrics_family *fam, const char *const *values)
{
	if (fam->n_labels && !values)
		return false;
	for (size_t i = 0; i < fam->n_labels; i++)
		if (!values[i])
			return false;
	return true;
}

/* The index of the series with these values, or -1 with *slot set to the
 * index where such a series would be inserted. */
static ptrdiff_t series_search(const struct metrics_family *fam, const char *const *values,
			       size_t *slot)
{
	size_t lo = 0, hi = fam->n_series;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_values(fam, fam->series[mid], values);
		if (c == 0)
			return (ptrdiff_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (slot)
		*slot = lo;
	return -1;
}

static struct metrics_series *series_new(const struct metrics_family *fam,
					 const char *const *values)
{
	size_t total = sizeof(struct metrics_series);

	for (size_t i = 0; i < fam->n_labels; i++)
		total += strlen(values[i]) + 1;

	struct metrics_series *s = xcalloc(1, total);
	char *p = s->values;
	for (size_t i = 0; i < fam->n_labels; i++) {
		size_t n = strlen(values[i]) + 1;
		memcpy(p, values[i], n);
		p += n;
	}
	return s;
}

/* Find the series, creating it at 0 when absent. */
static struct metrics_series *series_get(struct metrics_family *fam, const char *const *values)
{
	size_t slot = 0;
	if (fam->collecting) {
		/* Sorted once the collector is done. */
		struct metrics_series *s = series_new(fam, values);
		*VEC_PUSH(fam->made, fam->n_made) = s;
		return s;
	}
	ptrdiff_t i = series_search(fam, values, &slot);

	if (i >= 0)
		return fam->series[i];
	if (fam->n_series == fam->cap_series) {
		fam->cap_series = fam->cap_series ? fam->cap_series * 2 : 8;
		fam->series = xrealloc(fam->series, fam->cap_series * sizeof(*fam->series));
	}
	memmove(&fam->series[slot + 1], &fam->series[slot],
		(fam->n_series - slot) * sizeof(*fam->series));
	fam->series[slot] = series_new(fam, values);
	fam->n_series++;
	return fam->series[slot];
}

static const struct metrics_series *series_find(const struct metrics_family *fam,
						const char *const *values)
{
	if (!values_ok(fam, values))
		return NULL;
	ptrdiff_t i = series_search(fam, values, NULL);
	return i >= 0 ? fam->series[i] : NULL;
}

struct metrics_registry *metrics_registry_new(void)
{
	return xcalloc(1, sizeof(struct metrics_registry));
}

static void family_free(struct metrics_family *fam)
{
	metrics_family_clear(fam);
	free(fam->series);
	free(fam->made);
	for (size_t i = 0; i < fam->n_labels; i++)
		free(fam->labels[i]);
	free(fam->labels);
	free(fam->name);
	free(fam->help);
	free(fam);
}

void metrics_registry_free(struct metrics_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->n_fams; i++)
		family_free(reg->fams[i]);
	free(reg->fams);
	free(reg);
}

struct metrics_family *metrics_family_find(const struct metrics_registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->n_fams; i++)
		if (strcmp(reg->fams[i]->name, name) == 0)
			return reg->fams[i];
	return NULL;
}

struct metrics_family *metrics_family_add(struct metrics_registry *reg, const char *name,
					  const char *help, enum metrics_type type,
					  const char *const *label_names)
{
	size_t n = 0;

	if (!valid_name(name, true) || metrics_family_find(reg, name))
		return NULL;
	if (type != METRICS_COUNTER && type != METRICS_GAUGE)
		return NULL;
	for (; label_names && label_names[n]; n++) {
		if (!valid_name(label_names[n], false) || str_has_prefix(label_names[n], "__"))
			return NULL;
		for (size_t j = 0; j < n; j++)
			if (strcmp(label_names[j], label_names[n]) == 0)
				return NULL;
	}

	struct metrics_family *fam = xcalloc(1, sizeof(*fam));
	fam->name = xstrdup(name);
	fam->help = xstrdup(help ? help : "");
	fam->type = type;
	fam->n_labels = n;
	fam->labels = xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		fam->labels[i] = xstrdup(label_names[i]);
	if (n == 0)
		series_get(fam, NULL);

	*VEC_PUSH(reg->fams, reg->n_fams) = fam;
	return fam;
}

size_t metrics_family_series_count(const struct metrics_family *fam)
{
	return fam->n_series;
}

int metrics_set(struct metrics_family *fam, const char *const *values, double v)
{
	if (fam->type != METRICS_GAUGE || !values_ok(fam, values))
		return -1;
	series_set_double(series_get(fam, values), v);
	return 0;
}

int metrics_set_u128(struct metrics_family *fam, const char *const *values,
		     unsigned __int128 v)
{
	if (fam->type != METRICS_GAUGE || !values_ok(fam, values))
		return -1;
	series_set_exact(series_get(fam, values), v);
	return 0;
}

int metrics_add(struct metrics_family *fam, const char *const *values, double delta)
{
	if (!values_ok(fam, values))
		return -1;
	if (fam->type == METRICS_COUNTER && !(delta >= 0))
		return -1;
	struct metrics_series *s = series_get(fam, values);

	if (s->exact && delta == trunc(delta) && fabs(delta) < U128_LIMIT) {
		unsigned __int128 d = (unsigned __int128)fabs(delta);
		unsigned __int128 x = *s->exact, r;
		bool ok;
		if (delta >= 0) {
			r = x + d;
			ok = r >= x;
		} else {
			r = x - d;
			ok = d <= x;
		}
		if (ok) {
			series_set_exact(s, r);
			return 0;
		}
	}
	series_set_double(s, s->v + delta);
	return 0;
}

int metrics_inc(struct metrics_family *fam, const char *const *values)
{
	return metrics_add(fam, values, 1);
}

int metrics_remove(struct metrics_family *fam, const char *const *values)
{
	if (!values_ok(fam, values))
		return -1;
	ptrdiff_t i = series_search(fam, values, NULL);
	if (i < 0)
		return -1;
	series_free(fam->series[i]);
	memmove(&fam->series[i], &fam->series[i + 1],
		(fam->n_series - (size_t)i - 1) * sizeof(*fam->series));
	fam->n_series--;
	return 0;
}

int metrics_remove_matching(struct metrics_family *fam, const char *label, const char *value)
{
	size_t li, kept = 0;
	int removed = 0;

	for (li = 0; li < fam->n_labels; li++)
		if (strcmp(fam->labels[li], label) == 0)
			break;
	if (li == fam->n_labels || !value)
		return -1;
	/* Compacting in place keeps the survivors sorted. */
	for (size_t i = 0; i < fam->n_series; i++) {
		if (strcmp(series_value(fam->series[i], li), value) == 0) {
			series_free(fam->series[i]);
			removed++;
		} else {
			fam->series[kept++] = fam->series[i];
		}
	}
	fam->n_series = kept;
	return removed;
}

void metrics_family_clear(struct metrics_family *fam)
{
	for (size_t i = 0; i < fam->n_series; i++)
		series_free(fam->series[i]);
	fam->n_series = 0;
}

int metrics_get(const struct metrics_family *fam, const char *const *values, double *v)
{
	const struct metrics_series *s = series_find(fam, values);
	if (!s)
		return -1;
	*v = s->v;
	return 0;
}

int metrics_get_u128(const struct metrics_family *fam, const char *const *values,
		     unsigned __int128 *v)
{
	const struct metrics_series *s = series_find(fam, values);
	if (!s)
		return -1;
	if (s->exact) {
		*v = *s->exact;
		return 0;
	}
	if (!(s->v >= 0 && s->v < U128_LIMIT && s->v == trunc(s->v)))
		return -1;
	*v = (unsigned __int128)s->v;
	return 0;
}

static void render_series(struct outbuf *o, const struct metrics_family *fam,
			  const struct metrics_series *s)
{
	char num[METRICS_VALUE_MAX];

	out_str(o, fam->name);
	if (fam->n_labels) {
		const char *v = s->values;
		out_char(o, '{');
		for (size_t l = 0; l < fam->n_labels; l++) {
			if (l)
				out_char(o, ',');
			out_str(o, fam->labels[l]);
			out_str(o, "=\"");
			out_escaped(o, v, true);
			out_char(o, '"');
			v += strlen(v) + 1;
		}
		out_char(o, '}');
	}
	out_char(o, ' ');
	size_t n = s->exact ? metrics_format_u128(num, *s->exact) : metrics_format_double(num, s->v);
	out_mem(o, num, n);
	out_char(o, '\n');
}

static const struct metrics_family *sort_fam; /* for cmp_made (one thread) */

static int cmp_made(const void *a, const void *b)
{
	return cmp_series(sort_fam, *(struct metrics_series *const *)a,
			  *(struct metrics_series *const *)b);
}

/* Run the family's collector: fam->made holds its series, sorted, one per
 * label set (a label set made twice is written once). */
static void collect(struct metrics_family *fam)
{
	fam->collecting = true;
	fam->collect(fam, fam->collect_arg);
	fam->collecting = false;
	sort_fam = fam;
	xqsort(fam->made, fam->n_made, sizeof(*fam->made), cmp_made);
	size_t kept = 0;
	for (size_t i = 0; i < fam->n_made; i++) {
		if (kept && cmp_series(fam, fam->made[kept - 1], fam->made[i]) == 0) {
			series_free(fam->made[i]);
			continue;
		}
		fam->made[kept++] = fam->made[i];
	}
	fam->n_made = kept;
}

static void made_free(struct metrics_family *fam)
{
	for (size_t i = 0; i < fam->n_made; i++)
		series_free(fam->made[i]);
	free(fam->made);
	fam->made = NULL;
	fam->n_made = 0;
}

static void render_family(struct outbuf *o, const struct metrics_family *fam)
{
	out_str(o, "# HELP ");
	out_str(o, fam->name);
	out_char(o, ' ');
	out_escaped(o, fam->help, false);
	out_str(o, "\n# TYPE ");
	out_str(o, fam->name);
	out_str(o, fam->type == METRICS_COUNTER ? " counter\n" : " gauge\n");

	/* The held series and the collector's, merged in label order; a
	 * made series stands for a held one of the same labels. */
	size_t i = 0, j = 0;
	while (i < fam->n_series || j < fam->n_made) {
		int c = j == fam->n_made  ? -1
			: i == fam->n_series ? 1
					     : cmp_series(fam, fam->series[i], fam->made[j]);
		if (c < 0) {
			render_series(o, fam, fam->series[i++]);
			continue;
		}
		if (c == 0)
			i++;
		render_series(o, fam, fam->made[j++]);
	}
}

void metrics_render(const struct metrics_registry *reg, char **buf, size_t *len)
{
	/* Only *len bytes are known to be there: the first reserve reallocates. */
	struct outbuf o = { .p = *buf, .len = *buf ? *len : 0, .cap = *buf ? *len : 0 };

	out_reserve(&o, 0);
	o.p[o.len] = '\0';
	for (size_t i = 0; i < reg->n_fams; i++) {
		struct metrics_family *fam = reg->fams[i];
		if (fam->collect)
			collect(fam);
		if (fam->n_series || fam->n_made)
			render_family(&o, fam);
		made_free(fam);
	}
	*buf = o.p;
	*len = o.len;
}

void metrics_family_set_collector(struct metrics_family *fam,
				  void (*fn)(struct metrics_family *fam, void *arg), void *arg)
{
	fam->collect = fn;
	fam->collect_arg = arg;
}
