/*
 * model_add(): decoding one object tree into a typed object.
 *
 * Decoding is strict the way `kubectl apply` with strict field validation
 * is: every field of a metallb.io object must be one its version has, of
 * the right type; values are checked one by one (syntax, ranges) and
 * MetalLB's defaults applied.  For the Kubernetes kinds, which have many
 * fields ironlb does not use, only metadata is checked for unknown fields
 * and only the fields ironlb reads are decoded.
 *
 * Each problem is reported against the field's path (so the diagnostic
 * carries that field's line) and decoding goes on, so that one run shows
 * every problem of an object.  What spans objects is model_validate()'s.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/util.h"
#include "model/internal.h"
#include "model/model.h"

struct dctx {
	struct model *m;
	struct diag_list *d;
	struct obj_meta *meta;
};

static void __attribute__((format(printf, 3, 4)))
derr(struct dctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	model_vdiag(c->d, DIAG_ERROR, c->meta, path, fmt, ap);
	va_end(ap);
	c->meta->invalid = true;
}

static void __attribute__((format(printf, 3, 4)))
dwarn(struct dctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	model_vdiag(c->d, DIAG_WARNING, c->meta, path, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* generic field access */

/* A member, or NULL when absent or null (Kubernetes reads an explicit null
 * as "not set"). */
static const struct tree *member(const struct tree *obj, const char *key)
{
	const struct tree *t = tree_get(obj, key);
	return t && t->type != TREE_NULL ? t : NULL;
}

static bool is_scalar(const struct tree *t)
{
	return t->type == TREE_BOOL || t->type == TREE_INT || t->type == TREE_FLOAT ||
	       t->type == TREE_STRING;
}

static void type_error(struct dctx *c, const char *path, const struct tree *t,
		       enum tree_type want)
{
	const char *exp = tree_type_name(want), *found = tree_type_name(t->type);
	if (is_scalar(t) && t->text) {
		char *q = quote(t->text);
		if (want == TREE_STRING)
			derr(c, path, "expected %s, found %s (quote it: %s)", exp, found, q);
		else
			derr(c, path, "expected %s, found %s (%s)", exp, found, q);
		free(q);
	} else {
		derr(c, path, "expected %s, found %s", exp, found);
	}
}

/* The member `key` of obj if it is of type `want`: 1, and *out and, when
 * fpath is not NULL, its path (caller frees); 0 when absent; -1 when of
 * another type (reported). */
static int get_typed(struct dctx *c, const struct tree *obj, const char *path, const char *key,
		     enum tree_type want, const struct tree **out, char **fpath)
{
	const struct tree *t = member(obj, key);
	if (fpath)
		*fpath = NULL;
	if (!t)
		return 0;
	char *p = path_key(path, key);
	if (t->type != want) {
		type_error(c, p, t, want);
		free(p);
		return -1;
	}
	*out = t;
	if (fpath)
		*fpath = p;
	else
		free(p);
	return 1;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; list && *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static char *join_list(const char *const *list)
{
	char *acc = xstrdup("");
	for (size_t i = 0; list[i]; i++) {
		char *n = xasprintf("%s%s%s", acc, i ? ", " : "", list[i]);
		free(acc);
		acc = n;
	}
	return acc;
}

/* Report every member of obj that is not in `allowed`.  `other` lists the
 * fields another version of the kind has, named by `other_hint`. */
static void check_fields_ex(struct dctx *c, const struct tree *obj, const char *path,
			    const char *const *allowed, const char *const *other,
			    const char *other_hint)
{
	if (!obj || obj->type != TREE_OBJECT)
		return;
	for (size_t i = 0; i < obj->n; i++) {
		const char *k = obj->keys[i];
		if (in_list(k, allowed))
			continue;
		char *p = path_key(path, k);
		char *q = quote(k);
		size_t nallowed = 0;
		while (allowed[nallowed])
			nallowed++;
		const char *close = closest_name(k, allowed, nallowed);
		if (other && in_list(k, other)) {
			derr(c, p, "unknown field %s (%s)", q, other_hint);
		} else if (close) {
			derr(c, p, "unknown field %s (did you mean \"%s\"?)", q, close);
		} else {
			char *list = join_list(allowed);
			derr(c, p, "unknown field %s (accepted: %s)", q, list);
			free(list);
		}
		free(q);
		free(p);
	}
}

static void check_fields(struct dctx *c, const struct tree *obj, const char *path,
			 const char *const *allowed)
{
	check_fields_ex(c, obj, path, allowed, NULL, NULL);
}

static int get_bool(struct dctx *c, const struct tree *obj, const char *path, const char *key,
		    bool *out)
{
	const struct tree *t;
	int r = get_typed(c, obj, path, key, TREE_BOOL, &t, NULL);
	if (r == 1)
		*out = t->b;
	return r;
}

/* A string member, copied into *out (freeing what was there). */
static int get_str(struct dctx *c, const struct tree *obj, const char *path, const char *key,
		   char **out)
{
	const struct tree *t;
	int r = get_typed(c, obj, path, key, TREE_STRING, &t, NULL);
	if (r == 1) {
		free(*out);
		*out = xstrdup(t->text ? t->text : "");
	}
	return r;
}

/* get_str() for the fields that may hold model_strdup()'s shared values. */
static int get_common_str(struct dctx *c, const struct tree *obj, const char *path,
			  const char *key, char **out)
{
	const struct tree *t;
	int r = get_typed(c, obj, path, key, TREE_STRING, &t, NULL);
	if (r == 1) {
		model_strfree(*out);
		*out = model_strdup(t->text ? t->text : "");
	}
	return r;
}

/* An integer in lo..hi. */
static int tree_int(struct dctx *c, const struct tree *t, const char *path, int64_t lo,
		    int64_t hi, int64_t *out)
{
	if (t->type == TREE_FLOAT && t->int_overflow) {
		derr(c, path, "%s is out of range (accepted: %" PRId64 "..%" PRId64 ")",
		     t->text ? t->text : "the number", lo, hi);
		return -1;
	}
	if (t->type != TREE_INT) {
		type_error(c, path, t, TREE_INT);
		return -1;
	}
	if (t->i < lo || t->i > hi) {
		derr(c, path, "%" PRId64 " is out of range (accepted: %" PRId64 "..%" PRId64 ")",
		     t->i, lo, hi);
		return -1;
	}
	*out = t->i;
	return 0;
}

static int get_int(struct dctx *c, const struct tree *obj, const char *path, const char *key,
		   int64_t lo, int64_t hi, int64_t *out)
{
	const struct tree *t = member(obj, key);
	if (!t)
		return 0;
	char *p = path_key(path, key);
	int r = tree_int(c, t, p, lo, hi, out);
	free(p);
	return r == 0 ? 1 : -1;
}

/* An object member; also reports unknown fields when `allowed` is given. */
static int get_obj(struct dctx *c, const struct tree *obj, const char *path, const char *key,
		   const char *const *allowed, const struct tree **out, char **fpath)
{
	int r = get_typed(c, obj, path, key, TREE_OBJECT, out, fpath);
	if (r == 1 && allowed)
		check_fields(c, *out, *fpath, allowed);
	return r;
}

/* A list of strings.  `check` (optional) returns NULL for a valid entry or
 * a text saying what is accepted; `what` names an entry in its messages.
 * With `unique`, an entry written twice is an error.  Entries that are not
 * valid are reported and left out. */
static int get_str_list(struct dctx *c, const struct tree *obj, const char *path,
			const char *key, char ***out, size_t *nout, bool unique,
			const char *(*check)(const char *), const char *what)
{
	const struct tree *t;
	char *lp;
	int r = get_typed(c, obj, path, key, TREE_ARRAY, &t, &lp);
	if (r != 1)
		return r;
	int ret = 1;
	for (size_t i = 0; i < t->n; i++) {
		const struct tree *e = t->items[i];
		char *ep = path_idx(lp, i);
		if (e->type != TREE_STRING) {
			type_error(c, ep, e, TREE_STRING);
			ret = -1;
			free(ep);
			continue;
		}
		const char *s = e->text ? e->text : "";
		const char *why = check ? check(s) : NULL;
		if (why) {
			char *q = quote(s);
			derr(c, ep, "%s is not %s (%s)", q, what, why);
			free(q);
			ret = -1;
			free(ep);
			continue;
		}
		bool dup = false;
		for (size_t k = 0; unique && k < i; k++) {
			const struct tree *o = t->items[k];
			if (o->type == TREE_STRING && o->text && strcmp(o->text, s) == 0) {
				char *q = quote(s);
				derr(c, ep, "%s is listed twice (also at %s[%zu])", q, key, k);
				free(q);
				dup = true;
				ret = -1;
				break;
			}
		}
		if (!dup)
			*VEC_PUSH(*out, *nout) = xstrdup(s);
		free(ep);
	}
	free(lp);
	return ret;
}

/* A map of strings (labels, annotations, a Service's selector).  Keys are
 * checked as label keys when `keys_syntax`, values as label values when
 * `values_syntax`. */
static int get_str_map(struct dctx *c, const struct tree *obj, const char *path, const char *key,
		       struct labels *out, bool keys_syntax, bool values_syntax)
{
	const struct tree *t;
	char *mp;
	int r = get_typed(c, obj, path, key, TREE_OBJECT, &t, &mp);
	if (r != 1)
		return r;
	int ret = 1;
	for (size_t i = 0; i < t->n; i++) {
		const char *k = t->keys[i];
		const struct tree *v = t->items[i];
		char *ep = path_key(mp, k);
		const char *why;
		if (keys_syntax && (why = check_label_key(k)) != NULL) {
			char *q = quote(k);
			derr(c, ep, "%s is not a valid key (%s)", q, why);
			free(q);
			ret = -1;
		} else if (v->type != TREE_STRING) {
			type_error(c, ep, v, TREE_STRING);
			ret = -1;
		} else if (values_syntax && (why = check_label_value(v->text)) != NULL) {
			char *q = quote(v->text);
			derr(c, ep, "%s is not a valid label value (%s)", q, why);
			free(q);
			ret = -1;
		} else {
			labels_set(out, k, v->text);
		}
		free(ep);
	}
	free(mp);
	labels_pack(out);
	return ret;
}

/* ------------------------------------------------------------------ */
/* durations */

/* Go's time.ParseDuration syntax ("90s", "1m30s", "1.5h", "500ms"), in
 * nanoseconds.  Returns 0, or -1 with *why. */
static int parse_go_duration(const char *s, int64_t *out, char *why, size_t whylen)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {
		{"ns", 1ull},
		{"us", 1000ull},
		{"\xc2\xb5s", 1000ull}, /* U+00B5 MICRO SIGN */
		{"\xce\xbcs", 1000ull}, /* U+03BC GREEK SMALL LETTER MU */
		{"ms", 1000000ull},
		{"s", 1000000000ull},
		{"m", 60000000000ull},
		{"h", 3600000000000ull},
	};
	const char *p = s;
	bool neg = false;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (strcmp(p, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (!*p) {
		snprintf(why, whylen, "is not a duration (write e.g. \"90s\", \"1m30s\" or \"500ms\")");
		return -1;
	}
	const uint64_t limit = (uint64_t)INT64_MAX + (neg ? 1 : 0);
	uint64_t total = 0;
	while (*p) {
		uint64_t whole = 0, frac = 0, scale = 1;
		bool overflow = false;
		const char *start = p;
		while (*p >= '0' && *p <= '9') {
			if (whole > (UINT64_MAX - 9) / 10)
				overflow = true;
			else
				whole = whole * 10 + (uint64_t)(*p - '0');
			p++;
		}
		bool had_whole = p != start;
		bool had_frac = false;
		if (*p == '.') {
			p++;
			const char *fs = p;
			while (*p >= '0' && *p <= '9') {
				if (scale < 1000000000000000000ull) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					scale *= 10;
				}
				p++;
			}
			had_frac = p != fs;
		}
		if (!had_whole && !had_frac) {
			snprintf(why, whylen,
				 "is not a duration (expected a number before each unit, e.g. "
				 "\"1m30s\")");
			return -1;
		}
		const char *us = p;
		while (*p && *p != '.' && !(*p >= '0' && *p <= '9'))
			p++;
		size_t ulen = (size_t)(p - us);
		if (ulen == 0) {
			snprintf(why, whylen,
				 "is not a duration (a number needs a unit: ns, us, ms, s, m or h; "
				 "e.g. \"90s\")");
			return -1;
		}
		uint64_t unit = 0;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++)
			if (strlen(units[i].name) == ulen && memcmp(units[i].name, us, ulen) == 0)
				unit = units[i].ns;
		if (!unit) {
			char u[16];
			size_t l = ulen < sizeof(u) - 1 ? ulen : sizeof(u) - 1;
			memcpy(u, us, l);
			u[l] = '\0';
			char *q = quote(u);
			snprintf(why, whylen,
				 "is not a duration (unknown unit %s; accepted: ns, us, ms, s, m, h)",
				 q);
			free(q);
			return -1;
		}
		if (overflow || whole > limit / unit) {
			snprintf(why, whylen, "is not a duration (too large)");
			return -1;
		}
		uint64_t v = whole * unit;
		/* frac < scale <= 1e18 and unit <= 3.6e12: compute frac*unit/scale
		 * without overflowing. */
		unsigned __int128 fv = (unsigned __int128)frac * unit / scale;
		v += (uint64_t)fv;
		if (v > limit || total > limit - v) {
			snprintf(why, whylen, "is not a duration (too large)");
			return -1;
		}
		total += v;
	}
	*out = neg ? (int64_t)(0 - total) : (int64_t)total;
	return 0;
}

#define NS_PER_S 1000000000ll

/* A BGP timer: a duration string of whole seconds, 0..max. */
static int get_seconds(struct dctx *c, const struct tree *obj, const char *path, const char *key,
		       int64_t max, int64_t *secs)
{
	const struct tree *t = member(obj, key);
	if (!t)
		return 0;
	char *p = path_key(path, key);
	int ret = -1;
	if (t->type == TREE_INT) {
		derr(c, p,
		     "expected a duration string, found an integer (write \"%" PRId64 "s\" for %" PRId64
		     " seconds)",
		     t->i, t->i);
	} else if (t->type != TREE_STRING) {
		type_error(c, p, t, TREE_STRING);
	} else {
		char why[160];
		int64_t ns;
		char *q = quote(t->text);
		if (parse_go_duration(t->text, &ns, why, sizeof(why)) < 0)
			derr(c, p, "%s %s", q, why);
		else if (ns < 0)
			derr(c, p, "%s is negative (accepted: 0s to %" PRId64 "s)", q, max);
		else if (ns % NS_PER_S != 0)
			derr(c, p, "%s is not a whole number of seconds (BGP timers count seconds)",
			     q);
		else if (ns / NS_PER_S > max)
			derr(c, p, "%s is too long (accepted: at most %" PRId64 "s)", q, max);
		else {
			*secs = ns / NS_PER_S;
			ret = 1;
		}
		free(q);
	}
	free(p);
	return ret;
}

/* ------------------------------------------------------------------ */
/* label selectors */

static const char *const selector_fields[] = {"matchLabels", "matchExpressions", NULL};
static const char *const requirement_fields[] = {"key", "operator", "values", NULL};

static int decode_selector(struct dctx *c, const struct tree *t, const char *path,
			   struct label_selector *out)
{
	if (t->type != TREE_OBJECT) {
		type_error(c, path, t, TREE_OBJECT);
		return -1;
	}
	int ret = 0;
	check_fields(c, t, path, selector_fields);
	if (get_str_map(c, t, path, "matchLabels", &out->match_labels, true, true) < 0)
		ret = -1;
	const struct tree *exprs;
	char *ep;
	int r = get_typed(c, t, path, "matchExpressions", TREE_ARRAY, &exprs, &ep);
	if (r < 0)
		ret = -1;
	/* pos[k]: the index in matchExpressions of out->reqs[k] */
	size_t *pos = r == 1 ? xcalloc(exprs->n ? exprs->n : 1, sizeof(*pos)) : NULL;
	for (size_t i = 0; r == 1 && i < exprs->n; i++) {
		const struct tree *e = exprs->items[i];
		char *rp = path_idx(ep, i);
		if (e->type != TREE_OBJECT) {
			type_error(c, rp, e, TREE_OBJECT);
			ret = -1;
			free(rp);
			continue;
		}
		check_fields(c, e, rp, requirement_fields);
		struct sel_req req = {0};
		bool ok = true;
		if (get_str(c, e, rp, "key", &req.key) != 1) {
			if (!member(e, "key")) {
				char *kp = path_key(rp, "key");
				derr(c, kp, "missing (the label key the expression tests)");
				free(kp);
			}
			ok = false;
		} else {
			const char *why = check_label_key(req.key);
			if (why) {
				char *kp = path_key(rp, "key");
				char *q = quote(req.key);
				derr(c, kp, "%s is not a valid label key (%s)", q, why);
				free(q);
				free(kp);
				ok = false;
			}
		}
		char *opname = NULL;
		char *op_path = path_key(rp, "operator");
		int ro = get_str(c, e, rp, "operator", &opname);
		if (ro == 0) {
			derr(c, op_path, "missing (accepted: In, NotIn, Exists, DoesNotExist)");
			ok = false;
		} else if (ro < 0) {
			ok = false;
		} else if (strcmp(opname, "In") == 0) {
			req.op = SEL_OP_IN;
		} else if (strcmp(opname, "NotIn") == 0) {
			req.op = SEL_OP_NOT_IN;
		} else if (strcmp(opname, "Exists") == 0) {
			req.op = SEL_OP_EXISTS;
		} else if (strcmp(opname, "DoesNotExist") == 0) {
			req.op = SEL_OP_DOES_NOT_EXIST;
		} else {
			char *q = quote(opname);
			derr(c, op_path,
			     "%s is not an operator (accepted: In, NotIn, Exists, DoesNotExist)", q);
			free(q);
			ok = false;
		}
		if (get_str_list(c, e, rp, "values", &req.values, &req.nvalues, true,
				 check_label_value, "a valid label value") < 0)
			ok = false;
		if (ok) {
			char *vp = path_key(rp, "values");
			bool needs = req.op == SEL_OP_IN || req.op == SEL_OP_NOT_IN;
			if (needs && req.nvalues == 0) {
				derr(c, member(e, "values") ? vp : rp,
				     "operator %s needs at least one value", opname);
				ok = false;
			} else if (!needs && req.nvalues > 0) {
				derr(c, vp, "operator %s takes no values", opname);
				ok = false;
			}
			free(vp);
		}
		free(op_path);
		free(opname);
		for (size_t k = 0; ok && k < out->nreqs; k++) {
			if (sel_req_same(&out->reqs[k], &req)) {
				derr(c, rp,
				     "this expression is listed twice in one selector (also at "
				     "matchExpressions[%zu]); write it once",
				     pos[k]);
				ok = false;
			}
		}
		if (ok) {
			pos[out->nreqs] = i;
			*VEC_PUSH(out->reqs, out->nreqs) = req;
		} else {
			free(req.key);
			for (size_t k = 0; k < req.nvalues; k++)
				free(req.values[k]);
			free(req.values);
			ret = -1;
		}
		free(rp);
	}
	free(pos);
	free(ep);
	return ret;
}

/* A list of label selectors; a selector written twice is an error (as in
 * MetalLB). */
static int get_selectors(struct dctx *c, const struct tree *obj, const char *path,
			 const char *key, struct label_selector **out, size_t *nout)
{
	const struct tree *t;
	char *lp;
	int r = get_typed(c, obj, path, key, TREE_ARRAY, &t, &lp);
	if (r != 1)
		return r;
	int ret = 1;
	char **canon = xcalloc(t->n ? t->n : 1, sizeof(*canon));
	size_t *pos = xcalloc(t->n ? t->n : 1, sizeof(*pos));
	size_t ncanon = 0;
	for (size_t i = 0; i < t->n; i++) {
		char *ep = path_idx(lp, i);
		struct label_selector s = {0};
		if (decode_selector(c, t->items[i], ep, &s) < 0) {
			selector_free(&s);
			ret = -1;
			free(ep);
			continue;
		}
		char *cs = selector_canon(&s);
		bool dup = false;
		for (size_t k = 0; k < ncanon; k++) {
			if (strcmp(canon[k], cs) == 0) {
				derr(c, ep, "this selector is listed twice (also at %s[%zu])", key,
				     pos[k]);
				dup = true;
				break;
			}
		}
		if (dup) {
			selector_free(&s);
			free(cs);
			ret = -1;
		} else {
			canon[ncanon] = cs;
			pos[ncanon++] = i;
			*VEC_PUSH(*out, *nout) = s;
		}
		free(ep);
	}
	for (size_t k = 0; k < ncanon; k++)
		free(canon[k]);
	free(canon);
	free(pos);
	free(lp);
	return ret;
}

/* ------------------------------------------------------------------ */
/* addresses */

/* An address field: 1 with *out, 0 absent, -1 error (reported). */
static int get_addr(struct dctx *c, const struct tree *obj, const char *path, const char *key,
		    struct ip_addr *out)
{
	char *s = NULL;
	int r = get_str(c, obj, path, key, &s);
	if (r != 1)
		return r;
	char why[160];
	if (ip_parse(s, out, why, sizeof(why)) < 0) {
		char *p = path_key(path, key);
		char *q = quote(s);
		derr(c, p, "%s %s", q, why);
		free(q);
		free(p);
		r = -1;
	}
	free(s);
	return r;
}

/* ------------------------------------------------------------------ */
/* metallb.io kinds */

static const char *const mlb_top_fields[] = {"apiVersion", "kind", "metadata", "spec", "status",
					     NULL};

static const struct tree *get_spec(struct dctx *c, const struct tree *root,
				   const char *const *allowed)
{
	const struct tree *spec = NULL;
	char *sp;
	if (get_obj(c, root, "", "spec", allowed, &spec, &sp) != 1)
		return NULL;
	free(sp);
	return spec;
}

static const char *const pool_fields[] = {"addresses", "autoAssign", "avoidBuggyIPs",
					  "serviceAllocation", NULL};
static const char *const svc_alloc_fields[] = {"priority", "namespaces", "namespaceSelectors",
					       "serviceSelectors", NULL};

static void decode_pool(struct dctx *c, const struct tree *root, struct pool *p)
{
	p->auto_assign = true;
	const struct tree *spec = get_spec(c, root, pool_fields);
	const struct tree *addrs = NULL;
	char *ap = NULL;
	int r = spec ? get_typed(c, spec, "spec", "addresses", TREE_ARRAY, &addrs, &ap) : 0;
	if (r == 0 || (r == 1 && addrs->n == 0))
		derr(c, "spec.addresses",
		     "at least one entry is required (a CIDR such as 192.168.10.0/24, or a range "
		     "such as 192.168.10.10-192.168.10.20)");
	for (size_t i = 0; r == 1 && i < addrs->n; i++) {
		const struct tree *e = addrs->items[i];
		char *ep = path_idx(ap, i);
		if (e->type != TREE_STRING) {
			type_error(c, ep, e, TREE_STRING);
			free(ep);
			continue;
		}
		char why[200];
		struct ip_range range;
		char *q = quote(e->text);
		if (ip_range_parse(e->text, &range, why, sizeof(why)) < 0) {
			derr(c, ep, "%s %s", q, why);
		} else {
			size_t nent = p->nranges;
			*VEC_PUSH(p->ranges, p->nranges) = range;
			*VEC_PUSH(p->range_entry, nent) = i;
			if (strchr(e->text, '/') && !strchr(e->text, '-')) {
				struct ip_prefix pfx;
				bool host_bits = false;
				if (ip_prefix_parse(e->text, &pfx, &host_bits, NULL, 0) == 0 &&
				    host_bits) {
					char buf[IP_STR_MAX];
					dwarn(c, ep, "%s has host bits set; read as %s", q,
					      ip_prefix_format(&pfx, buf));
				}
			}
		}
		free(q);
		free(ep);
	}
	free(ap);
	if (!spec)
		return;
	get_bool(c, spec, "spec", "autoAssign", &p->auto_assign);
	get_bool(c, spec, "spec", "avoidBuggyIPs", &p->avoid_buggy_ips);
	const struct tree *sa;
	char *sap;
	if (get_obj(c, spec, "spec", "serviceAllocation", svc_alloc_fields, &sa, &sap) == 1) {
		p->has_service_allocation = true;
		int64_t prio;
		if (get_int(c, sa, sap, "priority", INT32_MIN, INT32_MAX, &prio) == 1)
			p->priority = (int)prio;
		get_str_list(c, sa, sap, "namespaces", &p->namespaces, &p->nnamespaces, true,
			     check_dns1123_label, "a namespace name");
		get_selectors(c, sa, sap, "namespaceSelectors", &p->ns_selectors,
			      &p->nns_selectors);
		get_selectors(c, sa, sap, "serviceSelectors", &p->svc_selectors,
			      &p->nsvc_selectors);
		free(sap);
	}
}

static const char *const l2adv_fields[] = {"ipAddressPools", "ipAddressPoolSelectors",
					   "nodeSelectors",  "interfaces",
					   "serviceSelectors", "preferredNodeSelectors",
					   NULL};
static const char *const preferred_fields[] = {"weight", "preference", NULL};

static void decode_l2adv(struct dctx *c, const struct tree *root, struct l2adv *a)
{
	const struct tree *spec = get_spec(c, root, l2adv_fields);
	if (!spec)
		return;
	get_str_list(c, spec, "spec", "ipAddressPools", &a->pools, &a->npools, true, NULL, NULL);
	get_selectors(c, spec, "spec", "ipAddressPoolSelectors", &a->pool_selectors,
		      &a->npool_selectors);
	get_selectors(c, spec, "spec", "nodeSelectors", &a->node_selectors, &a->nnode_selectors);
	get_str_list(c, spec, "spec", "interfaces", &a->interfaces, &a->ninterfaces, true,
		     check_ifname, "an interface name");
	get_selectors(c, spec, "spec", "serviceSelectors", &a->svc_selectors, &a->nsvc_selectors);
	const struct tree *pl;
	char *pp;
	if (get_typed(c, spec, "spec", "preferredNodeSelectors", TREE_ARRAY, &pl, &pp) != 1)
		return;
	for (size_t i = 0; i < pl->n; i++) {
		const struct tree *e = pl->items[i];
		char *ep = path_idx(pp, i);
		if (e->type != TREE_OBJECT) {
			type_error(c, ep, e, TREE_OBJECT);
			free(ep);
			continue;
		}
		check_fields(c, e, ep, preferred_fields);
		struct preferred_node_selector pns = {0};
		int64_t w;
		int rw = get_int(c, e, ep, "weight", 1, 100, &w);
		bool ok = rw == 1;
		if (rw == 0) {
			char *wp = path_key(ep, "weight");
			derr(c, wp, "missing (a weight from 1 to 100)");
			free(wp);
		}
		pns.weight = ok ? (int)w : 0;
		const struct tree *pref = member(e, "preference");
		char *prp = path_key(ep, "preference");
		if (!pref) {
			derr(c, prp, "missing (a label selector of preferred nodes)");
			ok = false;
		} else if (decode_selector(c, pref, prp, &pns.preference) < 0) {
			ok = false;
		}
		free(prp);
		if (ok)
			*VEC_PUSH(a->preferred_nodes, a->npreferred_nodes) = pns;
		else
			selector_free(&pns.preference);
		free(ep);
	}
	free(pp);
}

static const char *const bgpadv_fields[] = {
	"aggregationLength", "aggregationLengthV6", "localPref", "communities",
	"ipAddressPools",    "ipAddressPoolSelectors", "nodeSelectors", "peers",
	"serviceSelectors",  NULL};

static void decode_bgpadv(struct dctx *c, const struct tree *root, struct bgpadv *a)
{
	a->aggregation_length = 32;
	a->aggregation_length_v6 = 128;
	const struct tree *spec = get_spec(c, root, bgpadv_fields);
	if (!spec)
		return;
	int64_t v;
	bool agg_set = false, agg6_set = false;
	if (get_int(c, spec, "spec", "aggregationLength", 1, 32, &v) == 1) {
		a->aggregation_length = (int)v;
		agg_set = true;
	}
	if (get_int(c, spec, "spec", "aggregationLengthV6", 0, 128, &v) == 1) {
		a->aggregation_length_v6 = (int)v;
		agg6_set = true;
	}
	if (get_int(c, spec, "spec", "localPref", 0, UINT32_MAX, &v) == 1) {
		a->has_local_pref = true;
		a->local_pref = (uint32_t)v;
	}
	get_str_list(c, spec, "spec", "communities", &a->communities, &a->ncommunities, true, NULL,
		     NULL);
	for (size_t i = 0; i < a->ncommunities; i++) {
		struct community_value cv;
		char why[200];
		if (!strchr(a->communities[i], ':'))
			continue; /* an alias name, resolved by model_validate */
		if (community_parse(a->communities[i], &cv, why, sizeof(why)) < 0) {
			/* find the entry's index in the list as written */
			const struct tree *lt = member(spec, "communities");
			size_t idx = i;
			for (size_t k = 0; lt && k < lt->n; k++)
				if (lt->items[k]->type == TREE_STRING &&
				    strcmp(lt->items[k]->text, a->communities[i]) == 0) {
					idx = k;
					break;
				}
			char *ep = path_idx("spec.communities", idx);
			char *q = quote(a->communities[i]);
			derr(c, ep, "%s %s", q, why);
			free(q);
			free(ep);
		}
	}
	get_str_list(c, spec, "spec", "ipAddressPools", &a->pools, &a->npools, true, NULL, NULL);
	get_selectors(c, spec, "spec", "ipAddressPoolSelectors", &a->pool_selectors,
		      &a->npool_selectors);
	get_selectors(c, spec, "spec", "nodeSelectors", &a->node_selectors, &a->nnode_selectors);
	get_str_list(c, spec, "spec", "peers", &a->peers, &a->npeers, true, NULL, NULL);
	get_selectors(c, spec, "spec", "serviceSelectors", &a->svc_selectors, &a->nsvc_selectors);
	if (a->nsvc_selectors > 0) {
		if (agg_set && a->aggregation_length != 32)
			derr(c, "spec.aggregationLength",
			     "%d cannot be combined with serviceSelectors (accepted with "
			     "serviceSelectors: 32, the default)",
			     a->aggregation_length);
		if (agg6_set && a->aggregation_length_v6 != 128)
			derr(c, "spec.aggregationLengthV6",
			     "%d cannot be combined with serviceSelectors (accepted with "
			     "serviceSelectors: 128, the default)",
			     a->aggregation_length_v6);
	}
}

static const char *const peer_v1beta2_fields[] = {
	"myASN",        "peerASN",        "dynamicASN",    "localASN",
	"peerAddress",  "interface",      "sourceAddress", "peerPort",
	"holdTime",     "keepaliveTime",  "connectTime",   "routerID",
	"nodeSelectors", "password",      "passwordSecret", "bfdProfile",
	"enableGracefulRestart", "ebgpMultiHop", "vrf",    "disableMP",
	"dualStackAddressFamily", NULL};
static const char *const peer_v1beta1_fields[] = {
	"myASN",     "peerASN",       "peerAddress", "sourceAddress", "peerPort",   "holdTime",
	"keepaliveTime", "routerID", "nodeSelectors", "password",     "bfdProfile", "ebgpMultiHop",
	NULL};
static const char *const secret_ref_fields[] = {"name", "namespace", NULL};

/* MetalLB's CRD bounds peerPort to 16384. */
#define PEER_PORT_MAX 16384
#define BGP_HOLD_MAX 65535

static void decode_peer(struct dctx *c, const struct tree *root, struct bgppeer *p)
{
	p->peer_port = 179;
	p->hold_time_s = 90;
	p->keepalive_time_s = 30;
	p->connect_time_s = 10;
	bool v1 = p->is_v1beta1;
	const struct tree *spec = NULL;
	char *sp;
	if (get_obj(c, root, "", "spec", NULL, &spec, &sp) == 1) {
		free(sp);
		if (v1)
			check_fields_ex(c, spec, "spec", peer_v1beta1_fields, peer_v1beta2_fields,
					"metallb.io/v1beta1 does not have it; use apiVersion "
					"metallb.io/v1beta2");
		else
			check_fields(c, spec, "spec", peer_v1beta2_fields);
	}
	if (!spec) {
		derr(c, "spec.myASN", "missing (the local AS number, 1..4294967295)");
		return;
	}
	int64_t v;
	int r = get_int(c, spec, "spec", "myASN", 0, UINT32_MAX, &v);
	if (r == 0)
		derr(c, "spec.myASN", "missing (the local AS number, 1..4294967295)");
	else if (r == 1 && v == 0)
		derr(c, "spec.myASN", "0 is not an AS number (accepted: 1..4294967295)");
	else if (r == 1)
		p->my_asn = (uint32_t)v;

	r = get_int(c, spec, "spec", "peerASN", 0, UINT32_MAX, &v);
	bool has_peer_asn = r == 1 && v != 0;
	if (r == 1)
		p->peer_asn = (uint32_t)v;
	bool peer_asn_bad = r < 0;
	if (r == 1 && v == 0) {
		derr(c, "spec.peerASN", "0 is not an AS number (accepted: 1..4294967295)");
		peer_asn_bad = true;
	}
	char *dyn = NULL;
	r = get_str(c, spec, "spec", "dynamicASN", &dyn);
	if (r == 1) {
		if (strcmp(dyn, "internal") == 0)
			p->dynamic_asn = DYNAMIC_ASN_INTERNAL;
		else if (strcmp(dyn, "external") == 0)
			p->dynamic_asn = DYNAMIC_ASN_EXTERNAL;
		else {
			char *q = quote(dyn);
			derr(c, "spec.dynamicASN", "%s is not accepted (accepted: internal, external)",
			     q);
			free(q);
		}
	}
	free(dyn);
	if (has_peer_asn && p->dynamic_asn != DYNAMIC_ASN_NONE)
		derr(c, "spec.dynamicASN", "peerASN and dynamicASN cannot both be set");
	else if (!has_peer_asn && r == 0 && !peer_asn_bad)
		derr(c, "spec.peerASN",
		     v1 ? "missing (the peer's AS number, 1..4294967295)"
			: "missing: set peerASN (the peer's AS number, 1..4294967295) or dynamicASN "
			  "(internal or external)");
	if (get_int(c, spec, "spec", "localASN", 0, UINT32_MAX, &v) == 1)
		p->local_asn = (uint32_t)v;

	r = get_addr(c, spec, "spec", "peerAddress", &p->peer_address);
	p->has_peer_address = r == 1;
	bool addr_given = member(spec, "peerAddress") != NULL;
	int ri = get_str(c, spec, "spec", "interface", &p->interface);
	if (ri == 1) {
		const char *why = check_ifname(p->interface);
		if (why) {
			char *q = quote(p->interface);
			derr(c, "spec.interface", "%s is not an interface name (%s)", q, why);
			free(q);
		}
	}
	if (addr_given && ri == 1)
		derr(c, "spec.interface", "peerAddress and interface cannot both be set");
	else if (!addr_given && ri == 0)
		derr(c, "spec.peerAddress",
		     v1 ? "missing (the address to dial, IPv4 or IPv6)"
			: "missing: set peerAddress (IPv4 or IPv6) or interface (unnumbered BGP)");

	r = get_addr(c, spec, "spec", "sourceAddress", &p->source_address);
	p->has_source_address = r == 1;
	if (p->has_source_address && p->has_peer_address &&
	    p->source_address.family != p->peer_address.family) {
		char a[IP_STR_MAX], b[IP_STR_MAX];
		derr(c, "spec.sourceAddress", "%s is %s but peerAddress %s is %s",
		     ip_format(&p->source_address, a), ip_family_name(p->source_address.family),
		     ip_format(&p->peer_address, b), ip_family_name(p->peer_address.family));
	}

	if (get_int(c, spec, "spec", "peerPort", v1 ? 0 : 1, PEER_PORT_MAX, &v) == 1 && v != 0)
		p->peer_port = (uint16_t)v;

	int64_t hold = 0, keep = 0, conn = 0;
	int rh = get_seconds(c, spec, "spec", "holdTime", INT64_MAX / NS_PER_S, &hold);
	int rk = get_seconds(c, spec, "spec", "keepaliveTime", INT64_MAX / NS_PER_S, &keep);
	p->has_hold_time = rh == 1;
	p->has_keepalive_time = rk == 1;
	if (rh >= 0 && rk >= 0) {
		if (rh == 1 && rk == 0)
			keep = hold / 3;
		else if (rh == 0 && rk == 1)
			hold = keep * 3;
		if (rh == 1 || rk == 1) {
			const char *hp = rh == 1 ? "spec.holdTime" : "spec.keepaliveTime";
			if (hold != 0 && hold < 3)
				derr(c, hp,
				     "hold time %" PRId64 "s is not accepted (accepted: 0s, or 3s to "
				     "%ds)",
				     hold, BGP_HOLD_MAX);
			else if (hold > BGP_HOLD_MAX)
				derr(c, hp,
				     "hold time %" PRId64 "s is too long (BGP carries it in 16 bits: "
				     "at most %ds)",
				     hold, BGP_HOLD_MAX);
			else if (keep > hold)
				derr(c, "spec.keepaliveTime",
				     "keepaliveTime %" PRId64 "s is longer than holdTime %" PRId64
				     "s (accepted: at most the hold time)",
				     keep, hold);
			else {
				p->hold_time_s = (uint32_t)hold;
				p->keepalive_time_s = (uint32_t)keep;
			}
		}
	}
	int rc = get_seconds(c, spec, "spec", "connectTime", INT64_MAX / NS_PER_S, &conn);
	if (rc == 1) {
		if (conn < 1 || conn > 65535)
			derr(c, "spec.connectTime",
			     "%" PRId64 "s is out of range (accepted: 1s to 65535s)", conn);
		else {
			p->connect_time_s = (uint32_t)conn;
			p->has_connect_time = true;
		}
	}

	r = get_addr(c, spec, "spec", "routerID", &p->router_id);
	if (r == 1 && p->router_id.family != IP_FAMILY_V4) {
		char a[IP_STR_MAX];
		derr(c, "spec.routerID", "%s is not an IPv4 address (a BGP router ID is 32 bits)",
		     ip_format(&p->router_id, a));
	} else if (r == 1) {
		p->has_router_id = true;
	}

	get_selectors(c, spec, "spec", "nodeSelectors", &p->node_selectors, &p->nnode_selectors);

	if (get_str(c, spec, "spec", "password", &p->password) == 1) {
		if (strpbrk(p->password, "\r\n"))
			derr(c, "spec.password", "contains a line break (not accepted in a password)");
		if (!*p->password) {
			free(p->password);
			p->password = NULL;
		}
	}
	const struct tree *ps;
	char *psp;
	if (get_obj(c, spec, "spec", "passwordSecret", secret_ref_fields, &ps, &psp) == 1) {
		get_str(c, ps, psp, "name", &p->password_secret_name);
		get_str(c, ps, psp, "namespace", &p->password_secret_namespace);
		if (p->password_secret_name && !*p->password_secret_name) {
			free(p->password_secret_name);
			p->password_secret_name = NULL;
		}
		if (p->password_secret_namespace && !*p->password_secret_namespace) {
			free(p->password_secret_namespace);
			p->password_secret_namespace = NULL;
		}
		if (!p->password_secret_name && p->password_secret_namespace) {
			char *np = path_key(psp, "name");
			derr(c, np, "missing (the name of a kubernetes.io/basic-auth Secret)");
			free(np);
		}
		free(psp);
	}
	if (p->password && p->password_secret_name)
		derr(c, "spec.passwordSecret", "password and passwordSecret cannot both be set");

	if (get_str(c, spec, "spec", "bfdProfile", &p->bfd_profile) == 1 && !*p->bfd_profile) {
		free(p->bfd_profile);
		p->bfd_profile = NULL;
	}
	get_bool(c, spec, "spec", "enableGracefulRestart", &p->enable_graceful_restart);
	get_bool(c, spec, "spec", "ebgpMultiHop", &p->ebgp_multihop);
	if (get_str(c, spec, "spec", "vrf", &p->vrf) == 1) {
		const char *why = *p->vrf ? check_ifname(p->vrf) : NULL;
		if (why) {
			char *q = quote(p->vrf);
			derr(c, "spec.vrf", "%s is not a VRF name (%s)", q, why);
			free(q);
		}
		if (!*p->vrf) {
			free(p->vrf);
			p->vrf = NULL;
		}
	}
	get_bool(c, spec, "spec", "disableMP", &p->disable_mp);
	get_bool(c, spec, "spec", "dualStackAddressFamily", &p->dual_stack_address_family);

	if (p->ebgp_multihop && p->my_asn && (has_peer_asn || p->dynamic_asn) &&
	    bgppeer_is_ibgp(p))
		derr(c, "spec.ebgpMultiHop",
		     "ebgpMultiHop applies to eBGP sessions only, and this session is iBGP (%s)",
		     p->dynamic_asn == DYNAMIC_ASN_INTERNAL ? "dynamicASN is internal"
		     : p->local_asn			    ? "peerASN equals localASN"
							    : "peerASN equals myASN");
}

static const char *const bfd_fields[] = {"receiveInterval", "transmitInterval",
					 "detectMultiplier", "echoInterval",
					 "echoMode",        "passiveMode",
					 "minimumTtl",      NULL};

static void decode_bfd(struct dctx *c, const struct tree *root, struct bfdprofile *b)
{
	b->receive_interval_ms = 300;
	b->transmit_interval_ms = 300;
	b->detect_multiplier = 3;
	b->echo_interval_ms = 50;
	b->minimum_ttl = 254;
	const struct tree *spec = get_spec(c, root, bfd_fields);
	if (!spec)
		return;
	int64_t v;
	if (get_int(c, spec, "spec", "receiveInterval", 10, 60000, &v) == 1)
		b->receive_interval_ms = (uint32_t)v;
	if (get_int(c, spec, "spec", "transmitInterval", 10, 60000, &v) == 1)
		b->transmit_interval_ms = (uint32_t)v;
	if (get_int(c, spec, "spec", "detectMultiplier", 2, 255, &v) == 1)
		b->detect_multiplier = (uint32_t)v;
	if (get_int(c, spec, "spec", "echoInterval", 10, 60000, &v) == 1)
		b->echo_interval_ms = (uint32_t)v;
	get_bool(c, spec, "spec", "echoMode", &b->echo_mode);
	get_bool(c, spec, "spec", "passiveMode", &b->passive_mode);
	if (get_int(c, spec, "spec", "minimumTtl", 1, 254, &v) == 1)
		b->minimum_ttl = (uint32_t)v;
}

static const char *const community_fields[] = {"communities", NULL};
static const char *const alias_fields[] = {"name", "value", NULL};

static void decode_community(struct dctx *c, const struct tree *root, struct community *co)
{
	const struct tree *spec = get_spec(c, root, community_fields);
	const struct tree *l;
	char *lp;
	if (!spec || get_typed(c, spec, "spec", "communities", TREE_ARRAY, &l, &lp) != 1)
		return;
	for (size_t i = 0; i < l->n; i++) {
		const struct tree *e = l->items[i];
		char *ep = path_idx(lp, i);
		if (e->type != TREE_OBJECT) {
			type_error(c, ep, e, TREE_OBJECT);
			free(ep);
			continue;
		}
		check_fields(c, e, ep, alias_fields);
		struct community_alias a = {.index = i};
		bool ok = true;
		char *np = path_key(ep, "name"), *vp = path_key(ep, "value");
		int rn = get_str(c, e, ep, "name", &a.name);
		if (rn == 0 || (rn == 1 && !*a.name)) {
			derr(c, np, "missing (the alias name advertisements use)");
			ok = false;
		} else if (rn < 0) {
			ok = false;
		} else if (strchr(a.name, ':')) {
			char *q = quote(a.name);
			derr(c, np,
			     "%s cannot be an alias name: advertisements read a value with ':' as a "
			     "community, not as an alias",
			     q);
			free(q);
			ok = false;
		}
		int rv = get_str(c, e, ep, "value", &a.value_text);
		if (rv == 0) {
			derr(c, vp, "missing (A:B or large:A:B:C)");
			ok = false;
		} else if (rv < 0) {
			ok = false;
		} else {
			char why[200];
			if (community_parse(a.value_text, &a.value, why, sizeof(why)) < 0) {
				char *q = quote(a.value_text);
				derr(c, vp, "%s %s", q, why);
				free(q);
				ok = false;
			}
		}
		a.valid = ok;
		*VEC_PUSH(co->aliases, co->naliases) = a;
		free(np);
		free(vp);
		free(ep);
	}
	free(lp);
}

/* ------------------------------------------------------------------ */
/* Kubernetes kinds */

static const char *const service_types[] = {"ClusterIP", "NodePort", "LoadBalancer",
					    "ExternalName", NULL};

static bool parse_family(const char *s, enum ip_family *f)
{
	if (strcmp(s, "IPv4") == 0)
		*f = IP_FAMILY_V4;
	else if (strcmp(s, "IPv6") == 0)
		*f = IP_FAMILY_V6;
	else
		return false;
	return true;
}

/* The value of a MetalLB Service annotation: metallb.io/NAME wins over
 * metallb.universe.tf/NAME.  *path is the annotation's path (caller
 * frees). */
static const char *svc_annotation(struct dctx *c, const char *name, char **path)
{
	char *knew = xconcat(ANNOT_PREFIX_NEW, name, NULL);
	char *kold = xconcat(ANNOT_PREFIX_OLD, name, NULL);
	const char *vnew = labels_get(&c->meta->annotations, knew);
	const char *vold = labels_get(&c->meta->annotations, kold);
	char *pnew = path_key("metadata.annotations", knew);
	char *pold = path_key("metadata.annotations", kold);
	if (vnew && vold && strcmp(vnew, vold) != 0) {
		char *q = quote(vnew);
		dwarn(c, pold, "ignored: %s is also set (to %s) and takes precedence", knew, q);
		free(q);
	}
	*path = vnew ? pnew : pold;
	free(vnew ? pold : pnew);
	free(knew);
	free(kold);
	return vnew ? vnew : vold;
}

/* Split a comma-separated annotation, trimming blanks; NULL (and an error)
 * when an entry is empty. */
static char **split_list(struct dctx *c, const char *value, const char *path, const char *what,
			 size_t *n)
{
	char **out = NULL;
	*n = 0;
	const char *p = value;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *e = str_trim_dup(p, len);
		if (!*e) {
			char *q = quote(value);
			derr(c, path, "%s has an empty entry (accepted: %s separated by commas)", q,
			     what);
			free(q);
			free(e);
			for (size_t i = 0; i < *n; i++)
				free(out[i]);
			free(out);
			*n = 0;
			return NULL;
		}
		*VEC_PUSH(out, *n) = e;
		if (!comma)
			break;
		p = comma + 1;
	}
	return out;
}

static void decode_service_requests(struct dctx *c, const struct tree *spec, struct service *s)
{
	char *pool_path, *ips_path, *share_path;
	const char *pools = svc_annotation(c, "address-pool", &pool_path);
	const char *ips = svc_annotation(c, "loadBalancerIPs", &ips_path);
	const char *share = svc_annotation(c, "allow-shared-ip", &share_path);

	if (pools) {
		size_t n;
		char **names = split_list(c, pools, pool_path, "IPAddressPool names", &n);
		for (size_t i = 0; i < n; i++) {
			bool dup = false;
			for (size_t k = 0; k < s->npool_names; k++)
				dup |= strcmp(s->pool_names[k], names[i]) == 0;
			if (dup) {
				char *q = quote(names[i]);
				derr(c, pool_path, "%s is listed twice", q);
				free(q);
				free(names[i]);
			} else {
				*VEC_PUSH(s->pool_names, s->npool_names) = names[i];
			}
		}
		free(names);
	}
	if (share && *share)
		s->sharing_key = xstrdup(share);

	char *lb_ip = NULL;
	int rl = spec ? get_str(c, spec, "spec", "loadBalancerIP", &lb_ip) : 0;
	if (rl == 1 && !*lb_ip)
		rl = 0;
	if (rl < 0)
		s->request_invalid = true;

	const char *req_path = NULL;
	if (ips && rl == 1) {
		derr(c, "spec.loadBalancerIP",
		     "cannot be set together with the %sloadBalancerIPs annotation (MetalLB refuses "
		     "both); request the addresses in the annotation only",
		     ANNOT_PREFIX_NEW);
		s->request_invalid = true;
	} else if (ips) {
		req_path = ips_path;
		size_t n;
		char **list = split_list(c, ips, ips_path, "IPv4 and IPv6 addresses", &n);
		if (!list)
			s->request_invalid = true;
		for (size_t i = 0; i < n; i++) {
			struct ip_addr a;
			char why[160];
			if (ip_parse(list[i], &a, why, sizeof(why)) < 0) {
				char *q = quote(list[i]);
				derr(c, ips_path, "%s %s", q, why);
				free(q);
				s->request_invalid = true;
			} else if (s->nrequested == 2 ||
				   (s->nrequested == 1 && s->requested[0].family == a.family)) {
				char *q = quote(ips);
				derr(c, ips_path,
				     "%s requests more than one %s address (accepted: at most one "
				     "IPv4 and one IPv6 address)",
				     q, ip_family_name(a.family));
				free(q);
				s->request_invalid = true;
			} else {
				if (!s->requested)
					s->requested = xcalloc(2, sizeof(*s->requested));
				s->requested[s->nrequested++] = a;
			}
			free(list[i]);
		}
		free(list);
	} else if (rl == 1) {
		req_path = "spec.loadBalancerIP";
		struct ip_addr a;
		char why[160];
		if (ip_parse(lb_ip, &a, why, sizeof(why)) < 0) {
			char *q = quote(lb_ip);
			derr(c, "spec.loadBalancerIP", "%s %s", q, why);
			free(q);
			s->request_invalid = true;
		} else {
			if (!s->requested)
				s->requested = xcalloc(2, sizeof(*s->requested));
			s->requested[s->nrequested++] = a;
		}
	}
	if (s->request_invalid) {
		s->nrequested = 0;
	} else if (s->nrequested > 0) {
		enum ip_family fams[2];
		size_t nf = service_families(s, fams);
		for (size_t i = 0; i < s->nrequested; i++) {
			bool ok = false;
			for (size_t k = 0; k < nf; k++)
				ok |= fams[k] == s->requested[i].family;
			if (ok)
				continue;
			char a[IP_STR_MAX];
			derr(c, req_path,
			     "%s is %s, but the Service's families are [%s%s%s] (ipFamilyPolicy %s)",
			     ip_format(&s->requested[i], a),
			     ip_family_name(s->requested[i].family), ip_family_name(fams[0]),
			     nf > 1 ? ", " : "", nf > 1 ? ip_family_name(fams[1]) : "",
			     ip_family_policy_name(s->policy));
			s->request_invalid = true;
		}
		if (s->request_invalid)
			s->nrequested = 0;
	}
	free(lb_ip);
	free(pool_path);
	free(ips_path);
	free(share_path);
}

static void decode_service(struct dctx *c, const struct tree *root, struct service *s)
{
	const struct tree *spec = member(root, "spec");
	if (spec && spec->type != TREE_OBJECT) {
		type_error(c, "spec", spec, TREE_OBJECT);
		spec = NULL;
	}
	s->type = model_strdup("ClusterIP");
	s->external_traffic_policy = model_strdup("Cluster");
	/* Decides who keeps an address two Services ask for; one that cannot
	 * be read counts as absent (a manifest not applied yet), with a
	 * warning, rather than failing the Service. */
	const struct tree *md = member(root, "metadata");
	const struct tree *ct = md && md->type == TREE_OBJECT ? member(md, "creationTimestamp") : NULL;
	if (ct && (ct->type != TREE_STRING || time_rfc3339_us(ct->text, &s->created_us) != 0 ||
		   s->created_us == 0)) {
		s->created_us = 0;
		dwarn(c, "metadata.creationTimestamp",
		      "not an RFC 3339 time (like \"2026-12-07T01:47:30Z\"); the Service "
		      "counts as not created yet when two Services ask for one address");
	}
	s->policy = POLICY_SINGLE_STACK;
	if (spec) {
		if (get_common_str(c, spec, "spec", "type", &s->type) == 1 &&
		    !in_list(s->type, service_types)) {
			char *q = quote(s->type);
			char *l = join_list(service_types);
			derr(c, "spec.type", "%s is not a Service type (accepted: %s)", q, l);
			free(l);
			free(q);
		}
		get_str(c, spec, "spec", "loadBalancerClass", &s->lb_class);
		char *pol = NULL;
		if (get_str(c, spec, "spec", "ipFamilyPolicy", &pol) == 1) {
			if (strcmp(pol, "SingleStack") == 0)
				s->policy = POLICY_SINGLE_STACK;
			else if (strcmp(pol, "PreferDualStack") == 0)
				s->policy = POLICY_PREFER_DUAL_STACK;
			else if (strcmp(pol, "RequireDualStack") == 0)
				s->policy = POLICY_REQUIRE_DUAL_STACK;
			else {
				char *q = quote(pol);
				derr(c, "spec.ipFamilyPolicy",
				     "%s is not accepted (accepted: SingleStack, PreferDualStack, "
				     "RequireDualStack)",
				     q);
				free(q);
				pol[0] = '\0';
			}
			s->has_policy = pol[0] != '\0';
		}
		free(pol);

		char **fams = NULL;
		size_t nf = 0;
		get_str_list(c, spec, "spec", "ipFamilies", &fams, &nf, true, NULL, NULL);
		for (size_t i = 0; i < nf; i++) {
			enum ip_family f;
			char *ep = path_idx("spec.ipFamilies", i);
			if (!parse_family(fams[i], &f)) {
				char *q = quote(fams[i]);
				derr(c, ep, "%s is not an IP family (accepted: IPv4, IPv6)", q);
				free(q);
			} else if (s->nfamilies == 2) {
				derr(c, ep, "a Service has at most two families (IPv4 and IPv6)");
			} else {
				s->families[s->nfamilies++] = f;
			}
			free(ep);
			free(fams[i]);
		}
		free(fams);
		if (s->nfamilies == 2 && s->has_policy && s->policy == POLICY_SINGLE_STACK)
			derr(c, "spec.ipFamilies",
			     "two families with ipFamilyPolicy SingleStack (accepted: one family, or "
			     "ipFamilyPolicy PreferDualStack or RequireDualStack)");
		else if (s->nfamilies == 2 && !s->has_policy)
			derr(c, "spec.ipFamilies",
			     "two families need ipFamilyPolicy PreferDualStack or RequireDualStack "
			     "(the default is SingleStack)");
		else if (s->nfamilies == 1 && s->policy == POLICY_REQUIRE_DUAL_STACK)
			derr(c, "spec.ipFamilies",
			     "ipFamilyPolicy RequireDualStack needs both families (accepted: [IPv4, "
			     "IPv6] or [IPv6, IPv4])");

		char **cips = NULL;
		size_t ncips = 0;
		const char *cips_path = "spec.clusterIPs";
		if (member(spec, "clusterIPs")) {
			get_str_list(c, spec, "spec", "clusterIPs", &cips, &ncips, true, NULL, NULL);
		} else {
			char *one = NULL;
			if (get_str(c, spec, "spec", "clusterIP", &one) == 1)
				*VEC_PUSH(cips, ncips) = one;
			else
				free(one);
			cips_path = "spec.clusterIP";
		}
		for (size_t i = 0; i < ncips; i++) {
			char *ep = member(spec, "clusterIPs") ? path_idx(cips_path, i)
							      : xstrdup(cips_path);
			struct ip_addr a;
			char why[160];
			if (!*cips[i] || strcmp(cips[i], "None") == 0) {
				/* headless, or not yet allocated */
			} else if (ip_parse(cips[i], &a, why, sizeof(why)) < 0) {
				char *q = quote(cips[i]);
				derr(c, ep, "%s %s", q, why);
				free(q);
			} else if (s->ncluster_ips == 2 ||
				   (s->ncluster_ips == 1 && s->cluster_ips[0].family == a.family)) {
				derr(c, ep, "a Service has at most one cluster IP per family");
			} else if (s->nfamilies > s->ncluster_ips &&
				   s->families[s->ncluster_ips] != a.family) {
				char buf[IP_STR_MAX];
				derr(c, ep, "%s is %s, but spec.ipFamilies[%zu] is %s",
				     ip_format(&a, buf), ip_family_name(a.family), (size_t)s->ncluster_ips,
				     ip_family_name(s->families[s->ncluster_ips]));
			} else {
				if (!s->cluster_ips)
					s->cluster_ips = xcalloc(2, sizeof(*s->cluster_ips));
				s->cluster_ips[s->ncluster_ips++] = a;
			}
			free(ep);
			free(cips[i]);
		}
		free(cips);

		if (get_common_str(c, spec, "spec", "externalTrafficPolicy",
				   &s->external_traffic_policy) == 1 &&
		    strcmp(s->external_traffic_policy, "Cluster") != 0 &&
		    strcmp(s->external_traffic_policy, "Local") != 0) {
			char *q = quote(s->external_traffic_policy);
			derr(c, "spec.externalTrafficPolicy", "%s is not accepted (accepted: Cluster, Local)",
			     q);
			free(q);
		}
		get_str_map(c, spec, "spec", "selector", &s->selector, false, false);

		const struct tree *ports;
		char *pp;
		if (get_typed(c, spec, "spec", "ports", TREE_ARRAY, &ports, &pp) == 1) {
			for (size_t i = 0; i < ports->n; i++) {
				const struct tree *e = ports->items[i];
				char *ep = path_idx(pp, i);
				if (e->type != TREE_OBJECT) {
					type_error(c, ep, e, TREE_OBJECT);
					free(ep);
					continue;
				}
				struct svc_port port = {0};
				get_str(c, e, ep, "name", &port.name);
				if (get_common_str(c, e, ep, "protocol", &port.protocol) == 1 &&
				    strcmp(port.protocol, "TCP") != 0 &&
				    strcmp(port.protocol, "UDP") != 0 &&
				    strcmp(port.protocol, "SCTP") != 0) {
					char *prp = path_key(ep, "protocol");
					char *q = quote(port.protocol);
					derr(c, prp, "%s is not a protocol (accepted: TCP, UDP, SCTP)",
					     q);
					free(q);
					free(prp);
				}
				if (!port.protocol)
					port.protocol = model_strdup("TCP");
				int64_t v;
				int r = get_int(c, e, ep, "port", 1, 65535, &v);
				if (r == 0) {
					char *prp = path_key(ep, "port");
					derr(c, prp, "missing (a port number, 1..65535)");
					free(prp);
				}
				port.port = r == 1 ? (int)v : 0;
				*VEC_PUSH(s->ports, s->nports) = port;
				free(ep);
			}
			free(pp);
			/* Built once: exactly its length (most Services have a
			 * port or two, the growth step is four). */
			if (s->nports)
				s->ports = xrealloc(s->ports, s->nports * sizeof(*s->ports));
		}
	}

	const struct tree *ing;
	char *ip;
	if (get_obj(c, root, "", "status", NULL, &ing, &ip) == 1) {
		const struct tree *lb;
		char *lbp;
		if (get_obj(c, ing, ip, "loadBalancer", NULL, &lb, &lbp) == 1) {
			const struct tree *l;
			char *lp;
			if (get_typed(c, lb, lbp, "ingress", TREE_ARRAY, &l, &lp) == 1) {
				for (size_t i = 0; i < l->n; i++) {
					char *ep = path_idx(lp, i);
					struct ip_addr a;
					if (l->items[i]->type != TREE_OBJECT) {
						type_error(c, ep, l->items[i], TREE_OBJECT);
					} else if (get_addr(c, l->items[i], ep, "ip", &a) == 1) {
						if (s->ningress == 2)
							derr(c, ep,
							     "more than two ingress addresses");
						else
							s->ingress[s->ningress++] = a;
					}
					free(ep);
				}
				free(lp);
			}
			free(lbp);
		}
		free(ip);
	}

	if (service_is_load_balancer(s))
		decode_service_requests(c, spec, s);
}

#define EXCLUDE_LABEL "node.kubernetes.io/exclude-from-external-load-balancers"

static void decode_node(struct dctx *c, const struct tree *root, struct node_obj *n)
{
	n->excluded = labels_get(&n->meta.labels, EXCLUDE_LABEL) != NULL;
	const struct tree *st;
	char *stp;
	if (get_obj(c, root, "", "status", NULL, &st, &stp) != 1)
		return;
	const struct tree *l;
	char *lp;
	if (get_typed(c, st, stp, "conditions", TREE_ARRAY, &l, &lp) == 1) {
		for (size_t i = 0; i < l->n; i++) {
			if (l->items[i]->type != TREE_OBJECT)
				continue;
			const char *type = tree_get_str(l->items[i], "type");
			const char *status = tree_get_str(l->items[i], "status");
			if (type && status && strcmp(type, "NetworkUnavailable") == 0 &&
			    strcmp(status, "True") == 0)
				n->network_unavailable = true;
			/* The kubelet stopped reporting (Unknown) or reports the
			 * node unhealthy (False); no Ready condition at all (a
			 * standalone manifest) is no evidence either way. */
			if (type && status && strcmp(type, "Ready") == 0 &&
			    (strcmp(status, "False") == 0 || strcmp(status, "Unknown") == 0))
				n->not_ready = true;
		}
		free(lp);
	}
	if (get_typed(c, st, stp, "addresses", TREE_ARRAY, &l, &lp) == 1) {
		for (size_t i = 0; i < l->n; i++) {
			const struct tree *e = l->items[i];
			char *ep = path_idx(lp, i);
			const char *type = e->type == TREE_OBJECT ? tree_get_str(e, "type") : NULL;
			struct ip_addr a;
			if (type && (strcmp(type, "InternalIP") == 0 ||
				     strcmp(type, "ExternalIP") == 0) &&
			    get_addr(c, e, ep, "address", &a) == 1) {
				*VEC_PUSH(n->addresses, n->naddresses) = a;
				if (strcmp(type, "InternalIP") == 0)
					*VEC_PUSH(n->internal, n->ninternal) = a;
			}
			free(ep);
		}
		free(lp);
	}
	free(stp);
}

static void secret_put(struct secret *s, const char *key, uint8_t *value, size_t len)
{
	for (size_t i = 0; i < s->ndata; i++) {
		if (strcmp(s->data[i].key, key) == 0) {
			memset(s->data[i].value, 0, s->data[i].len);
			free(s->data[i].value);
			s->data[i].value = value;
			s->data[i].len = len;
			return;
		}
	}
	struct secret_kv *kv = VEC_PUSH(s->data, s->ndata);
	kv->key = xstrdup(key);
	kv->value = value;
	kv->len = len;
}

static void decode_secret(struct dctx *c, const struct tree *root, struct secret *s)
{
	if (get_str(c, root, "", "type", &s->type) != 1 || !*s->type) {
		free(s->type);
		s->type = xstrdup("Opaque");
	}
	const struct tree *data;
	char *dp;
	if (get_typed(c, root, "", "data", TREE_OBJECT, &data, &dp) == 1) {
		for (size_t i = 0; i < data->n; i++) {
			const struct tree *v = data->items[i];
			char *ep = path_key(dp, data->keys[i]);
			uint8_t *bytes;
			size_t len;
			char why[160];
			if (v->type == TREE_NULL) {
				/* an empty value */
				secret_put(s, data->keys[i], xcalloc(1, 1), 0);
			} else if (v->type != TREE_STRING) {
				derr(c, ep, "expected a base64 string, found %s",
				     tree_type_name(v->type));
			} else if (base64_decode(v->text, &bytes, &len, why, sizeof(why)) < 0) {
				derr(c, ep, "the value %s", why);
			} else {
				secret_put(s, data->keys[i], bytes, len);
			}
			free(ep);
		}
		free(dp);
	}
	if (get_typed(c, root, "", "stringData", TREE_OBJECT, &data, &dp) == 1) {
		for (size_t i = 0; i < data->n; i++) {
			const struct tree *v = data->items[i];
			char *ep = path_key(dp, data->keys[i]);
			if (v->type != TREE_STRING) {
				derr(c, ep, "expected a string, found %s", tree_type_name(v->type));
			} else {
				size_t len = strlen(v->text);
				uint8_t *b = xmalloc(len + 1);
				memcpy(b, v->text, len + 1);
				secret_put(s, data->keys[i], b, len);
			}
			free(ep);
		}
		free(dp);
	}
}

static void decode_slice(struct dctx *c, const struct tree *root, struct endpointslice *e)
{
	const char *svc = labels_get(&e->meta.labels, "kubernetes.io/service-name");
	e->service_name = xstrdup(svc);
	char *at = NULL;
	int r = get_str(c, root, "", "addressType", &at);
	if (r == 1) {
		if (strcmp(at, "IPv4") == 0)
			e->address_type = IP_FAMILY_V4;
		else if (strcmp(at, "IPv6") == 0)
			e->address_type = IP_FAMILY_V6;
		else if (strcmp(at, "FQDN") != 0) {
			char *q = quote(at);
			derr(c, "addressType", "%s is not accepted (accepted: IPv4, IPv6, FQDN)", q);
			free(q);
		}
	} else if (r == 0) {
		derr(c, "addressType", "missing (accepted: IPv4, IPv6, FQDN)");
	}
	free(at);
	const struct tree *l;
	char *lp;
	if (get_typed(c, root, "", "endpoints", TREE_ARRAY, &l, &lp) != 1)
		return;
	for (size_t i = 0; i < l->n; i++) {
		const struct tree *t = l->items[i];
		char *ep = path_idx(lp, i);
		if (t->type != TREE_OBJECT) {
			type_error(c, ep, t, TREE_OBJECT);
			free(ep);
			continue;
		}
		struct endpoint pt = {.ready = true};
		char **addrs = NULL;
		size_t na = 0;
		get_str_list(c, t, ep, "addresses", &addrs, &na, false, NULL, NULL);
		for (size_t k = 0; k < na; k++) {
			struct ip_addr a;
			char why[160];
			if (e->address_type == IP_FAMILY_NONE) {
				/* FQDN endpoints carry names, not addresses */
			} else if (ip_parse(addrs[k], &a, why, sizeof(why)) < 0) {
				char *ap = path_key(ep, "addresses");
				char *app = path_idx(ap, k);
				char *q = quote(addrs[k]);
				derr(c, app, "%s %s", q, why);
				free(q);
				free(app);
				free(ap);
			} else if (a.family != e->address_type) {
				char *ap = path_key(ep, "addresses");
				char *app = path_idx(ap, k);
				char buf[IP_STR_MAX];
				derr(c, app, "%s is %s, but addressType is %s", ip_format(&a, buf),
				     ip_family_name(a.family), ip_family_name(e->address_type));
				free(app);
				free(ap);
			} else {
				*VEC_PUSH(pt.addresses, pt.naddresses) = a;
			}
			free(addrs[k]);
		}
		free(addrs);
		get_str(c, t, ep, "nodeName", &pt.node_name);
		const struct tree *cond;
		char *cp;
		bool serving_set = false;
		if (get_obj(c, t, ep, "conditions", NULL, &cond, &cp) == 1) {
			get_bool(c, cond, cp, "ready", &pt.ready);
			serving_set = get_bool(c, cond, cp, "serving", &pt.serving) == 1;
			free(cp);
		}
		if (!serving_set)
			pt.serving = pt.ready;
		*VEC_PUSH(e->endpoints, e->nendpoints) = pt;
		free(ep);
	}
	free(lp);
}

/* ------------------------------------------------------------------ */
/* identification and metadata */

struct kind_info {
	const char *group;
	const char *kind;
	const char *versions[3];
	enum obj_kind k;
	bool config;      /* a metallb.io configuration kind */
	bool namespaced;
};

static const struct kind_info kinds[] = {
	{"metallb.io", "IPAddressPool", {"v1beta1"}, KIND_IPADDRESSPOOL, true, true},
	{"metallb.io", "L2Advertisement", {"v1beta1"}, KIND_L2ADVERTISEMENT, true, true},
	{"metallb.io", "BGPAdvertisement", {"v1beta1"}, KIND_BGPADVERTISEMENT, true, true},
	{"metallb.io", "BGPPeer", {"v1beta2", "v1beta1"}, KIND_BGPPEER, true, true},
	{"metallb.io", "BFDProfile", {"v1beta1"}, KIND_BFDPROFILE, true, true},
	{"metallb.io", "Community", {"v1beta1"}, KIND_COMMUNITY, true, true},
	{"", "Service", {"v1"}, KIND_SERVICE, false, true},
	{"", "Node", {"v1"}, KIND_NODE, false, false},
	{"", "Namespace", {"v1"}, KIND_NAMESPACE, false, false},
	{"", "Secret", {"v1"}, KIND_SECRET, false, true},
	{"discovery.k8s.io", "EndpointSlice", {"v1"}, KIND_ENDPOINTSLICE, false, true},
};

static const char *const meta_fields[] = {
	"name",           "generateName",      "namespace",
	"selfLink",       "uid",               "resourceVersion",
	"generation",     "creationTimestamp", "deletionTimestamp",
	"deletionGracePeriodSeconds", "labels", "annotations",
	"ownerReferences", "finalizers",       "managedFields",
	NULL};

static void display_set(struct obj_meta *meta)
{
	if (meta->name_in_display) {
		meta->name = xstrdup(meta->name);
		meta->name_in_display = false;
	}
	free(meta->display);
	const char *name = meta->name ? meta->name : "(no name)";
	if (meta->namespace_)
		meta->display = xconcat(obj_kind_name(meta->kind), " ", meta->namespace_, "/",
					name, NULL);
	else
		meta->display = xconcat(obj_kind_name(meta->kind), " ", name, NULL);
}

/* Decode metadata.  Returns -1 when the object cannot be identified (no
 * usable name). */
static int decode_meta(struct dctx *c, const struct tree *root, const struct kind_info *ki)
{
	struct obj_meta *meta = c->meta;
	/* A first display from the raw tree, for the diagnostics about
	 * metadata itself. */
	const struct tree *raw = tree_get(root, "metadata");
	const char *raw_ns = raw ? tree_get_str(raw, "namespace") : NULL;
	meta->name = xstrdup(raw ? tree_get_str(raw, "name") : NULL);
	if (ki->namespaced)
		meta->namespace_ = model_strdup(raw_ns && *raw_ns ? raw_ns
						: ki->config		  ? c->m->config_namespace
									  : "default");
	display_set(meta);
	free(meta->name);
	meta->name = NULL;
	model_strfree(meta->namespace_);
	meta->namespace_ = NULL;

	const struct tree *md = NULL;
	char *mp = NULL;
	int r = get_obj(c, root, "", "metadata", meta_fields, &md, &mp);
	free(mp);
	if (md) {
		get_str(c, md, "metadata", "name", &meta->name);
		if (ki->namespaced)
			get_common_str(c, md, "metadata", "namespace", &meta->namespace_);
		get_str(c, md, "metadata", "uid", &meta->uid);
		get_str(c, md, "metadata", "resourceVersion", &meta->resource_version);
		get_str_map(c, md, "metadata", "labels", &meta->labels, true, true);
		get_str_map(c, md, "metadata", "annotations", &meta->annotations, true, false);
	}
	if (meta->namespace_ && !*meta->namespace_) {
		model_strfree(meta->namespace_);
		meta->namespace_ = NULL;
	}
	if (meta->namespace_) {
		const char *why = check_dns1123_label(meta->namespace_);
		if (why) {
			char *q = quote(meta->namespace_);
			derr(c, "metadata.namespace", "%s is not a namespace name (%s)", q, why);
			free(q);
		}
	}
	if (ki->namespaced && !meta->namespace_)
		meta->namespace_ = model_strdup(ki->config ? c->m->config_namespace : "default");
	display_set(meta);
	/* The display ends with the name: one block for both (a block less
	 * per object; 20,000 Services held 0.6 MiB of names). */
	if (meta->name && *meta->name) {
		size_t ld = strlen(meta->display), ln = strlen(meta->name);
		if (ld >= ln && strcmp(meta->display + ld - ln, meta->name) == 0) {
			free(meta->name);
			meta->name = meta->display + ld - ln;
			meta->name_in_display = true;
		}
	}
	if (!meta->name || !*meta->name) {
		if (r >= 0 && !(md && member(md, "name") && member(md, "name")->type != TREE_STRING))
			derr(c, "metadata.name", "missing (every object needs a name)");
		return -1;
	}
	const char *why = ki->k == KIND_SERVICE     ? check_dns1035_label(meta->name)
			  : ki->k == KIND_NAMESPACE ? check_dns1123_label(meta->name)
						    : check_dns1123_subdomain(meta->name);
	if (why) {
		char *q = quote(meta->name);
		derr(c, "metadata.name", "%s is not a valid %s name (%s)", q,
		     obj_kind_name(ki->k), why);
		free(q);
	}
	return 0;
}

static void split_api_version(const char *av, char **group, char **version)
{
	const char *slash = strrchr(av, '/');
	if (slash) {
		*group = xstrndup(av, (size_t)(slash - av));
		*version = xstrdup(slash + 1);
	} else {
		*group = xstrdup("");
		*version = xstrdup(av);
	}
}

static char *served_list(const struct kind_info *ki)
{
	char *acc = xstrdup("");
	for (size_t i = 0; i < ARRAY_SIZE(ki->versions) && ki->versions[i]; i++) {
		char *n = xasprintf("%s%s%s%s%s", acc, i ? ", " : "", ki->group,
				    *ki->group ? "/" : "", ki->versions[i]);
		free(acc);
		acc = n;
	}
	return acc;
}

/* Append a decoded object to its array and index it, or, when replacing,
 * free the old object at index `prev` and put the new one in its slot (the
 * key is the same, so the index entry stays). */
#define PUSH(arr, n, obj, kind, freefn)                                \
	do {                                                           \
		if (prev != (size_t)-1) {                              \
			freefn(&m->arr[prev]);                         \
			m->arr[prev] = (obj);                          \
		} else {                                               \
			*VEC_PUSH(m->arr, m->n) = (obj);               \
			model_index_add(m, (kind), m->n - 1);          \
		}                                                      \
	} while (0)

static int add_object(struct model *m, struct tree *obj, struct diag_list *d, bool replace,
		      bool *replaced);

int model_add(struct model *m, struct tree *obj, struct diag_list *d)
{
	return add_object(m, obj, d, false, NULL);
}

int model_upsert(struct model *m, struct tree *obj, struct diag_list *d, bool *replaced)
{
	bool r = false;
	int rc = add_object(m, obj, d, true, &r);
	if (replaced)
		*replaced = r;
	return rc;
}

static int add_object(struct model *m, struct tree *obj, struct diag_list *d, bool replace,
		      bool *replaced)
{
	if (!obj)
		return -1;
	const char *file = model_intern_file(m, obj->file);
	if (obj->type != TREE_OBJECT) {
		diag_add(d, DIAG_ERROR, file, obj->line, NULL, NULL,
			 "expected an object (a map with apiVersion and kind), found %s",
			 tree_type_name(obj->type));
		tree_free(obj);
		return -1;
	}
	const char *av = tree_get_str(obj, "apiVersion");
	const char *kind = tree_get_str(obj, "kind");
	if (!av || !kind || !*av || !*kind) {
		diag_add(d, DIAG_ERROR, file, obj->line, NULL, !kind || !*kind ? "kind" : "apiVersion",
			 "missing or not a string (every object needs apiVersion and kind)");
		tree_free(obj);
		return -1;
	}
	char *group, *version;
	split_api_version(av, &group, &version);
	const struct kind_info *ki = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (strcmp(kinds[i].kind, kind) == 0 &&
		    (strcmp(kinds[i].group, group) == 0 ||
		     (kinds[i].config && strcmp(group, "metallb.io") != 0 &&
		      !strchr(group, '.'))))
			ki = &kinds[i];
	/* A MetalLB kind written with a core apiVersion ("v1") falls through
	 * to the served-versions error below. */
	bool group_ok = ki && strcmp(ki->group, group) == 0;

	if (!ki) {
		/* Name the object in the note when it has a readable name. */
		const struct tree *md = tree_get(obj, "metadata");
		const char *name = md ? tree_get_str(md, "name") : NULL;
		const char *ns = md ? tree_get_str(md, "namespace") : NULL;
		char *disp = name ? (ns ? xasprintf("%s %s/%s", kind, ns, name)
					: xasprintf("%s %s", kind, name))
				  : NULL;
		if (strcmp(group, "metallb.io") == 0 && strcmp(kind, "AddressPool") == 0)
			diag_add(d, DIAG_WARNING, file, obj->line, disp, NULL,
				 "ignored: MetalLB no longer reads AddressPool objects; write an "
				 "IPAddressPool (and an L2Advertisement or BGPAdvertisement) instead");
		else
			diag_add(d, DIAG_NOTE, file, obj->line, disp, NULL,
				 "skipped: ironlb does not read %s objects", kind);
		free(disp);
		free(group);
		free(version);
		tree_free(obj);
		m->nskipped++;
		return 1;
	}
	bool served = false;
	for (size_t i = 0; group_ok && i < ARRAY_SIZE(ki->versions) && ki->versions[i]; i++)
		served |= strcmp(ki->versions[i], version) == 0;
	if (!served) {
		char *list = served_list(ki);
		char *q = quote(av);
		diag_add(d, DIAG_ERROR, file, tree_path_line(obj, "apiVersion"), NULL, "apiVersion",
			 "%s is not served for %s (served: %s)", q, kind, list);
		/* The object is known by kind and name even though it cannot be
		 * decoded: its problem is that object's, not the file's. */
		const struct tree *md = tree_get(obj, "metadata");
		diag_set_object(&d->items[d->n - 1], (int)ki->k, md ? tree_get_str(md, "namespace") : NULL,
				md ? tree_get_str(md, "name") : NULL);
		free(q);
		free(list);
		free(group);
		free(version);
		tree_free(obj);
		return -1;
	}
	free(group);
	free(version);

	/* Every kind's struct starts with its meta; decode into a local
	 * object of the largest kind and copy it into its array. */
	union {
		struct pool pool;
		struct l2adv l2;
		struct bgpadv bgpadv;
		struct bgppeer peer;
		struct bfdprofile bfd;
		struct community community;
		struct service svc;
		struct node_obj node;
		struct namespace_obj ns;
		struct secret secret;
		struct endpointslice slice;
	} u;
	memset(&u, 0, sizeof(u));
	struct obj_meta *meta = &u.pool.meta;
	meta->kind = ki->k;
	meta->api_version = model_strdup(av);
	meta->file = file;
	meta->line = obj->line;
	meta->tree = obj;
	struct dctx c = {.m = m, .d = d, .meta = meta};

	if (decode_meta(&c, obj, ki) < 0) {
		meta_free(meta);
		return -1;
	}
	/* MetalLB's webhooks refuse its objects outside its own namespace; a
	 * pool written for another namespace is a mistake to report, not an
	 * object to use or to pass over quietly.  An object with no namespace
	 * was decoded into the configuration namespace above (what
	 * `kubectl apply -n <namespace>` does with it). */
	if (ki->config && strcmp(meta->namespace_, m->config_namespace) != 0) {
		char *q = quote(meta->namespace_);
		model_diag(d, DIAG_ERROR, meta, "metadata.namespace",
			   "%s is not the configuration namespace: %s objects must be in "
			   "namespace %s (--namespace chooses it)",
			   q, obj_kind_name(ki->k), m->config_namespace);
		free(q);
		meta_free(meta);
		return -1;
	}
	size_t prev = model_lookup(m, ki->k, meta->namespace_, meta->name);
	if (prev != (size_t)-1 && replace) {
		*replaced = true;
	} else if (prev != (size_t)-1) {
		const struct obj_meta *pm = model_meta_at(m, ki->k, prev);
		char *where = meta_where(pm, NULL);
		/* where is " (file:line)": say "at file:line" */
		size_t wl = strlen(where);
		if (wl > 3)
			where[wl - 1] = '\0';
		model_diag(d, DIAG_ERROR, meta, NULL, "duplicate: %s is already defined%s%s",
			   pm->display, wl > 3 ? " at " : "", wl > 3 ? where + 2 : "");
		free(where);
		meta_free(meta);
		return -1;
	}
	if (ki->config)
		check_fields(&c, obj, "", mlb_top_fields);

	switch (ki->k) {
	case KIND_IPADDRESSPOOL:
		decode_pool(&c, obj, &u.pool);
		PUSH(pools, npools, u.pool, ki->k, pool_free);
		break;
	case KIND_L2ADVERTISEMENT:
		decode_l2adv(&c, obj, &u.l2);
		PUSH(l2advs, nl2advs, u.l2, ki->k, l2adv_free);
		break;
	case KIND_BGPADVERTISEMENT:
		decode_bgpadv(&c, obj, &u.bgpadv);
		PUSH(bgpadvs, nbgpadvs, u.bgpadv, ki->k, bgpadv_free);
		break;
	case KIND_BGPPEER:
		u.peer.is_v1beta1 = strcmp(av, "metallb.io/v1beta1") == 0;
		decode_peer(&c, obj, &u.peer);
		PUSH(peers, npeers, u.peer, ki->k, bgppeer_free);
		break;
	case KIND_BFDPROFILE:
		decode_bfd(&c, obj, &u.bfd);
		PUSH(bfdprofiles, nbfdprofiles, u.bfd, ki->k, bfdprofile_free);
		break;
	case KIND_COMMUNITY:
		decode_community(&c, obj, &u.community);
		PUSH(communities, ncommunities, u.community, ki->k, community_free);
		break;
	case KIND_SERVICE:
		decode_service(&c, obj, &u.svc);
		PUSH(services, nservices, u.svc, ki->k, service_free);
		break;
	case KIND_NODE:
		decode_node(&c, obj, &u.node);
		PUSH(nodes, nnodes, u.node, ki->k, node_free);
		break;
	case KIND_NAMESPACE:
		PUSH(namespaces, nnamespaces, u.ns, ki->k, namespace_free);
		break;
	case KIND_SECRET:
		decode_secret(&c, obj, &u.secret);
		PUSH(secrets, nsecrets, u.secret, ki->k, secret_free);
		break;
	case KIND_ENDPOINTSLICE:
		decode_slice(&c, obj, &u.slice);
		PUSH(slices, nslices, u.slice, ki->k, endpointslice_free);
		break;
	case KIND_COUNT_:
		break;
	}
	/* meta points into u, which was copied: read the flag from there */
	return meta->invalid ? -1 : 0;
}
