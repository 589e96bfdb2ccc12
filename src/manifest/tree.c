/*
 * The JSON-shaped tree (see tree.h): construction, lookup by path, deep
 * copies, plain-scalar resolution shared with the YAML reader, and the
 * conversions to and from jansson.
 *
 * Arrays and objects grow with VEC_PUSH, whose capacity follows the element
 * count, so every array in a tree must be built by appending (never
 * allocated to an exact size) for later appends to stay in bounds.  Objects
 * keep `keys` and `items` in step: both arrays are grown from the same count.
 *
 * Paths: `a.b[2]` steps through members and array elements; a member whose
 * name holds anything but letters, digits, '-' and '_' is written
 * `["metallb.io/address-pool"]` (backslash escapes `"` and `\`).
 * tree_path_join_key() writes that form, tree_path() reads it.
 */
#include "manifest/tree.h"

#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "base/util.h"
#include "manifest/utf8.h"

const char *tree_type_name(enum tree_type t)
{
	switch (t) {
	case TREE_NULL:
		return "null";
	case TREE_BOOL:
		return "a boolean";
	case TREE_INT:
		return "an integer";
	case TREE_FLOAT:
		return "a float";
	case TREE_STRING:
		return "a string";
	case TREE_ARRAY:
		return "an array";
	case TREE_OBJECT:
		return "an object";
	}
	return "an unknown value";
}

struct tree *tree_new(enum tree_type t, const char *file, int line)
{
	struct tree *n = xcalloc(1, sizeof(*n));
	n->type = t;
	n->file = file;
	n->line = line;
	return n;
}

struct tree *tree_new_string(const char *s, const char *file, int line)
{
	struct tree *n = tree_new(TREE_STRING, file, line);
	n->text = xstrdup(s ? s : "");
	return n;
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	if (t->refs) {
		t->refs--;
		return;
	}
	if (t->packed) {
		/* Inner nodes live in their root's block. */
		if (t->packed == TREE_PACKED_ROOT)
			free(t);
		return;
	}
	bool obj = t->type == TREE_OBJECT;
	for (size_t i = 0; i < t->n; i++) {
		tree_free(t->items[i]);
		if (obj)
			free(t->keys[i]);
	}
	free(t->items);
	if (obj)
		free(t->keys);
	free(t->text);
	free(t);
}

/* A packed tree's arrays have no room to grow and its nodes are shared
 * with whoever holds the block: a change is a bug of the caller, and
 * going on would write over someone else's memory. */
static void check_writable(const struct tree *t)
{
	if (t->packed) {
		fprintf(stderr, "BUG: change to a packed (read-only) tree\n");
		abort();
	}
}

void tree_array_append(struct tree *arr, struct tree *item)
{
	check_writable(arr);
	if (arr->type != TREE_ARRAY) {
		tree_free(item);
		return;
	}
	size_t n = arr->n;
	*VEC_PUSH(arr->items, n) = item;
	arr->n = (uint32_t)n;
}

/* Append a member without looking for an existing one; takes `key`. */
static void object_append_owned(struct tree *obj, char *key, struct tree *value)
{
	size_t n = obj->n;
	*VEC_PUSH(obj->keys, n) = key;
	n = obj->n;
	*VEC_PUSH(obj->items, n) = value;
	obj->n = (uint32_t)n;
}

static ssize_t object_find(const struct tree *obj, const char *key)
{
	for (size_t i = 0; i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return (ssize_t)i;
	return -1;
}

void tree_object_set(struct tree *obj, const char *key, struct tree *value)
{
	check_writable(obj);
	if (obj->type != TREE_OBJECT) {
		tree_free(value);
		return;
	}
	ssize_t i = object_find(obj, key);
	if (i >= 0) {
		tree_free(obj->items[i]);
		obj->items[i] = value;
		return;
	}
	object_append_owned(obj, xstrdup(key), value);
}

bool tree_equal(const struct tree *a, const struct tree *b)
{
	/* i compared as bits: the same test for a float's f (a NaN equal to
	 * itself, -0 apart from 0); an object's keys share those bits. */
	if (a->type != b->type || a->n != b->n ||
	    (a->type != TREE_OBJECT && a->i != b->i) || a->b != b->b ||
	    a->int_overflow != b->int_overflow ||
	    strcmp(a->text ? a->text : "", b->text ? b->text : "") != 0)
		return false;
	for (size_t k = 0; k < a->n; k++) {
		if (a->type == TREE_OBJECT && strcmp(a->keys[k], b->keys[k]) != 0)
			return false;
		if (!tree_equal(a->items[k], b->items[k]))
			return false;
	}
	return true;
}

struct tree *tree_object_take(struct tree *obj, const char *key)
{
	ssize_t i = obj && obj->type == TREE_OBJECT ? object_find(obj, key) : -1;
	if (i < 0)
		return NULL;
	check_writable(obj);
	struct tree *v = obj->items[i];
	free(obj->keys[i]);
	size_t rest = obj->n - (size_t)i - 1;
	memmove(&obj->items[i], &obj->items[i + 1], rest * sizeof(*obj->items));
	memmove(&obj->keys[i], &obj->keys[i + 1], rest * sizeof(*obj->keys));
	obj->n--;
	return v;
}

struct tree *tree_get(const struct tree *t, const char *key)
{
	if (!t || t->type != TREE_OBJECT || !key)
		return NULL;
	ssize_t i = object_find(t, key);
	return i >= 0 ? t->items[i] : NULL;
}

const char *tree_get_str(const struct tree *t, const char *key)
{
	const struct tree *v = tree_get(t, key);
	return v && v->type == TREE_STRING ? v->text : NULL;
}

/* ---- paths ---- */

/*
 * One step of a path.  On return *key is a new string (member step) or NULL
 * (index step, *index set).  Returns the rest of the path, or NULL when the
 * step is malformed.
 */
static const char *path_step(const char *p, bool first, char **key, size_t *index)
{
	*key = NULL;
	if (*p == '[') {
		p++;
		if (*p == '"' || *p == '\'') {
			char q = *p++;
			size_t cap = strlen(p) + 1, n = 0;
			char *k = xmalloc(cap);
			while (*p && *p != q) {
				if (*p == '\\' && (p[1] == q || p[1] == '\\'))
					p++;
				k[n++] = *p++;
			}
			k[n] = '\0';
			if (*p != q || p[1] != ']') {
				free(k);
				return NULL;
			}
			*key = k;
			return p + 2;
		}
		if (*p < '0' || *p > '9')
			return NULL;
		size_t v = 0;
		while (*p >= '0' && *p <= '9') {
			size_t d = (size_t)(*p++ - '0');
			if (v > (SIZE_MAX - d) / 10)
				return NULL;
			v = v * 10 + d;
		}
		if (*p != ']')
			return NULL;
		*index = v;
		return p + 1;
	}
	if (!first) {
		if (*p != '.')
			return NULL;
		p++;
	}
	size_t len = strcspn(p, ".[");
	if (len == 0)
		return NULL;
	*key = xstrndup(p, len);
	return p + len;
}

/*
 * Follow `path` from t.  Returns the node at the end, or NULL; *deepest is
 * set to the last node reached (t itself when the first step fails).
 */
static const struct tree *path_walk(const struct tree *t, const char *path,
				    const struct tree **deepest)
{
	const struct tree *cur = t;
	bool first = true;
	*deepest = t;
	if (!t || !path)
		return NULL;
	while (*path) {
		char *key;
		size_t index = 0;
		path = path_step(path, first, &key, &index);
		first = false;
		if (!path)
			return NULL;
		const struct tree *next = NULL;
		if (key) {
			next = tree_get(cur, key);
			free(key);
		} else if (cur->type == TREE_ARRAY && index < cur->n) {
			next = cur->items[index];
		}
		if (!next)
			return NULL;
		cur = next;
		*deepest = cur;
	}
	return cur;
}

struct tree *tree_path(const struct tree *t, const char *path)
{
	const struct tree *deepest;
	return (struct tree *)path_walk(t, path, &deepest);
}

int tree_path_line(const struct tree *t, const char *path)
{
	const struct tree *deepest;
	if (!t)
		return 0;
	path_walk(t, path, &deepest);
	return deepest && deepest->line > 0 ? deepest->line : t->line;
}

static bool key_is_simple(const char *key)
{
	if (!*key)
		return false;
	for (const char *p = key; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

char *tree_path_join_key(const char *path, const char *key)
{
	if (!path)
		path = "";
	if (key_is_simple(key))
		return *path ? xconcat(path, ".", key, NULL) : xstrdup(key);
	size_t n = strlen(path), k = strlen(key);
	char *s = xmalloc(n + 2 * k + 5);
	char *o = s;
	memcpy(o, path, n);
	o += n;
	*o++ = '[';
	*o++ = '"';
	for (const char *p = key; *p; p++) {
		if (*p == '"' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	*o++ = '"';
	*o++ = ']';
	*o = '\0';
	return s;
}

char *tree_path_join_index(const char *path, size_t index)
{
	char num[24], *q = num + sizeof(num);
	*--q = 0;
	*--q = ']';
	do
		*--q = (char)('0' + index % 10);
	while (index /= 10);
	*--q = '[';
	return xconcat(path ? path : "", q, NULL);
}

/* ---- copies ---- */

struct tree *tree_clone(const struct tree *t)
{
	if (!t)
		return NULL;
	struct tree *c = tree_new(t->type, t->file, t->line);
	c->text = xstrdup(t->text);
	c->b = t->b;
	if (t->type != TREE_OBJECT)
		c->i = t->i;   /* or f: the same bytes */
	c->int_overflow = t->int_overflow;
	for (size_t k = 0; k < t->n; k++) {
		if (t->type == TREE_OBJECT)
			object_append_owned(c, xstrdup(t->keys[k]), tree_clone(t->items[k]));
		else
			tree_array_append(c, tree_clone(t->items[k]));
	}
	return c;
}

/* ---- sharing and packing ---- */

struct tree *tree_ref(struct tree *t)
{
	if (!t)
		return NULL;
	if (t->packed == TREE_PACKED_INNER)
		return tree_clone(t);
	t->refs++;
	return t;
}

/*
 * Strings a packed tree points at instead of holding: the member names and
 * values that recur in every Kubernetes object of a kind (a packed tree is
 * read-only, so its strings can be shared).  Sorted by strcmp() (bytes);
 * test_tree_pack_common checks the order.  A fixed list, not a table that
 * grows: label keys and names would make it grow without bound.
 */
static const char *const common_strings[] = {
	"Cluster", "ClusterIP", "EndpointSlice", "ExternalIP", "FQDN", "False",
	"Hostname", "IPv4", "IPv6", "InternalIP", "LoadBalancer", "Local", "Node",
	"NodePort", "None", "Pod", "PreferDualStack", "Proxy", "Ready",
	"RequireDualStack", "SCTP", "Service", "ServiceBGPStatus", "ServiceL2Status",
	"SingleStack", "TCP", "True", "UDP", "Unknown", "VIP", "address",
	"addressType", "addresses", "allocateLoadBalancerNodePorts", "amd64",
	"annotations", "apiVersion", "appProtocol", "arm64", "blockOwnerDeletion",
	"clusterIP", "clusterIPs", "conditions", "controller", "creationTimestamp",
	"default", "deletionTimestamp", "discovery.k8s.io/v1", "endpoints",
	"endpointslice-controller.k8s.io", "endpointslice.kubernetes.io/managed-by",
	"externalIPs", "externalTrafficPolicy", "finalizers", "forZones",
	"generation", "healthCheckNodePort", "hints", "hostname", "http", "https",
	"ingress", "interfaces", "internalTrafficPolicy", "ip", "ipFamilies",
	"ipFamilyPolicy", "ipMode", "kind", "kube-public", "kube-system",
	"kubernetes.io/arch", "kubernetes.io/hostname", "kubernetes.io/os",
	"kubernetes.io/service-name", "labels", "lastHeartbeatTime",
	"lastTransitionTime", "linux", "loadBalancer", "loadBalancerClass",
	"loadBalancerIP", "loadBalancerSourceRanges", "message", "metadata",
	"metallb-system", "metallb.io/address-pool",
	"metallb.io/ip-allocated-from-pool", "metallb.io/loadBalancerIPs",
	"metallb.io/node", "metallb.io/service-name", "metallb.io/service-namespace",
	"metallb.io/v1beta1", "metallb.io/v1beta2", "name", "namespace", "node",
	"node.kubernetes.io/exclude-from-external-load-balancers", "nodeName",
	"nodePort", "ownerReferences", "peer", "port", "ports", "protocol", "ready",
	"reason", "resourceVersion", "selector", "serviceName", "serviceNamespace",
	"serving", "sessionAffinity", "spec", "status", "targetPort", "targetRef",
	"terminating", "type", "uid", "v1", "v1beta1", "zone",
};

static int common_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

static const char *common_string(const char *s)
{
	const char *const *at = bsearch(s, common_strings,
					sizeof(common_strings) / sizeof(*common_strings),
					sizeof(*common_strings), common_cmp);
	return at ? *at : NULL;
}

bool tree_common_strings_sorted(void)
{
	for (size_t k = 1; k < sizeof(common_strings) / sizeof(*common_strings); k++)
		if (strcmp(common_strings[k - 1], common_strings[k]) >= 0)
			return false;
	return true;
}

/* Bytes a packed copy of s takes in the block (none for a common one). */
static size_t pack_str_bytes(const char *s)
{
	return common_string(s) ? 0 : strlen(s) + 1;
}

/* What a packed copy of t needs: nodes, pointer slots (items, and keys of
 * objects) and string bytes (terminators included). */
static void pack_count(const struct tree *t, size_t *nodes, size_t *slots, size_t *bytes)
{
	(*nodes)++;
	if (t->text)
		*bytes += pack_str_bytes(t->text);
	*slots += t->type == TREE_OBJECT ? 2 * t->n : t->n;
	for (size_t k = 0; k < t->n; k++) {
		if (t->type == TREE_OBJECT)
			*bytes += pack_str_bytes(t->keys[k]);
		pack_count(t->items[k], nodes, slots, bytes);
	}
}

struct pack_cursor {
	struct tree *node;
	void **slot;
	char *str;
};

static char *pack_str(struct pack_cursor *c, const char *s)
{
	const char *common = common_string(s);
	if (common)
		return (char *)common;   /* read-only, as the whole packed tree */
	size_t n = strlen(s) + 1;
	char *d = memcpy(c->str, s, n);
	c->str += n;
	return d;
}

static struct tree *pack_copy(struct pack_cursor *c, const struct tree *t, unsigned char kind)
{
	struct tree *d = c->node++;
	*d = (struct tree){
		.type = t->type,
		.line = t->line,
		.file = t->file,
		.i = t->type == TREE_OBJECT ? 0 : t->i,   /* or f */
		.n = t->n,
		.b = t->b,
		.int_overflow = t->int_overflow,
		.packed = kind,
	};
	if (t->text)
		d->text = pack_str(c, t->text);
	if (!t->n)
		return d;
	d->items = (struct tree **)c->slot;
	c->slot += t->n;
	if (t->type == TREE_OBJECT) {
		d->keys = (char **)c->slot;
		c->slot += t->n;
	}
	for (size_t k = 0; k < t->n; k++) {
		if (t->type == TREE_OBJECT)
			d->keys[k] = pack_str(c, t->keys[k]);
		d->items[k] = pack_copy(c, t->items[k], TREE_PACKED_INNER);
	}
	return d;
}

struct tree *tree_pack(struct tree *t)
{
	if (!t || t->packed || t->refs)
		return t;
	size_t nodes = 0, slots = 0, bytes = 0;
	pack_count(t, &nodes, &slots, &bytes);
	/* Nodes first (the root at the start: free() of it frees the
	 * block), then the pointer arrays, then the strings: each part keeps
	 * the alignment of the one before. */
	char *block = xmalloc(nodes * sizeof(struct tree) + slots * sizeof(void *) + bytes);
	struct pack_cursor c = {
		.node = (struct tree *)block,
		.slot = (void **)(block + nodes * sizeof(struct tree)),
		.str = block + nodes * sizeof(struct tree) + slots * sizeof(void *),
	};
	struct tree *root = pack_copy(&c, t, TREE_PACKED_ROOT);
	tree_free(t);
	return root;
}

size_t tree_bytes(const struct tree *t)
{
	if (!t)
		return 0;
	if (t->packed) {
		size_t nodes = 0, slots = 0, bytes = 0;
		pack_count(t, &nodes, &slots, &bytes);
		return nodes * sizeof(struct tree) + slots * sizeof(void *) + bytes;
	}
	size_t n = malloc_usable_size((void *)t) + malloc_usable_size(t->text) +
		   malloc_usable_size(t->items) +
		   (t->type == TREE_OBJECT ? malloc_usable_size(t->keys) : 0);
	for (size_t k = 0; k < t->n; k++) {
		if (t->type == TREE_OBJECT)
			n += malloc_usable_size(t->keys[k]);
		n += tree_bytes(t->items[k]);
	}
	return n;
}

/* ---- plain scalars ---- */

static bool text_is(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(s, *words) == 0)
			return true;
	return false;
}

static int digit_value(char c, int base)
{
	int v;
	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return -1;
	return v < base ? v : -1;
}

/*
 * An integer: optional sign, then decimal digits, 0x and hex digits, or 0o
 * and octal digits.  Returns false when s is not one; otherwise sets the
 * node to TREE_INT, or to TREE_FLOAT with int_overflow when the value does
 * not fit int64.
 */
static bool resolve_int(const char *s, struct tree *n)
{
	const char *all = s;
	bool neg = false;
	int base = 10;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		s += 2;
	}
	if (!*s)
		return false;
	uint64_t mag = 0;
	double approx = 0;
	bool overflow = false;
	for (; *s; s++) {
		int d = digit_value(*s, base);
		if (d < 0)
			return false;
		if (mag > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			overflow = true;
		else
			mag = mag * (uint64_t)base + (uint64_t)d;
		approx = approx * base + d;
	}
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (overflow || mag > limit) {
		n->type = TREE_FLOAT;
		n->int_overflow = true;
		/* strtod rounds decimal and hex correctly; it has no 0o form */
		n->f = base == 8 ? (neg ? -approx : approx) : strtod(all, NULL);
		return true;
	}
	n->type = TREE_INT;
	if (neg)
		n->i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	else
		n->i = (int64_t)mag;
	return true;
}

static size_t skip_digits(const char *s)
{
	size_t k = 0;
	while (s[k] >= '0' && s[k] <= '9')
		k++;
	return k;
}

/* YAML 1.2 core schema floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
 * [-+]?.inf and .nan (each in three spellings). */
static bool resolve_float(const char *s, struct tree *n)
{
	static const char *const infs[] = {".inf", ".Inf", ".INF", NULL};
	static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
	const char *p = s;
	if (text_is(p, nans)) {
		n->type = TREE_FLOAT;
		n->f = NAN;
		return true;
	}
	bool neg = false;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (text_is(p, infs)) {
		n->type = TREE_FLOAT;
		n->f = neg ? -INFINITY : INFINITY;
		return true;
	}
	size_t whole = skip_digits(p);
	p += whole;
	size_t frac = 0;
	if (*p == '.') {
		p++;
		frac = skip_digits(p);
		p += frac;
		/* "1." is a float; "." is not. */
		if (whole == 0 && frac == 0)
			return false;
	} else if (whole == 0) {
		return false;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		size_t e = skip_digits(p);
		if (e == 0)
			return false;
		p += e;
	}
	if (*p)
		return false;
	n->type = TREE_FLOAT;
	n->f = strtod(s, NULL);
	return true;
}

struct tree *tree_new_plain_scalar(const char *text, const char *file, int line)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", NULL};
	struct tree *n = tree_new(TREE_STRING, file, line);
	n->text = xstrdup(text ? text : "");
	if (text_is(n->text, nulls)) {
		n->type = TREE_NULL;
	} else if (text_is(n->text, trues)) {
		n->type = TREE_BOOL;
		n->b = true;
	} else if (text_is(n->text, falses)) {
		n->type = TREE_BOOL;
		n->b = false;
	} else if (!resolve_int(n->text, n)) {
		resolve_float(n->text, n);
	}
	return n;
}

/* ---- jansson ---- */

char *tree_format_double(double f)
{
	if (isnan(f))
		return xstrdup(".nan");
	if (isinf(f))
		return xstrdup(f < 0 ? "-.inf" : ".inf");
	/* The shortest of the usual precisions that reads back exactly. */
	for (int prec = 15; prec <= 17; prec++) {
		char *s = xasprintf("%.*g", prec, f);
		if (prec == 17 || strtod(s, NULL) == f)
			return s;
		free(s);
	}
	return NULL;
}

struct tree *tree_from_json(const json_t *j)
{
	if (!j)
		return NULL;
	struct tree *n;
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		n = tree_new(TREE_OBJECT, NULL, 0);
		const char *key;
		json_t *value;
		/* jansson iterates objects in insertion order. */
		json_object_foreach((json_t *)j, key, value)
			object_append_owned(n, xstrdup(key), tree_from_json(value));
		break;
	}
	case JSON_ARRAY:
		n = tree_new(TREE_ARRAY, NULL, 0);
		for (size_t i = 0; i < json_array_size(j); i++)
			tree_array_append(n, tree_from_json(json_array_get(j, i)));
		break;
	case JSON_STRING:
		n = tree_new(TREE_STRING, NULL, 0);
		n->text = xstrndup(json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		n = tree_new(TREE_INT, NULL, 0);
		n->i = (int64_t)json_integer_value(j);
		n->text = xasprintf("%" PRId64, n->i);
		break;
	case JSON_REAL:
		n = tree_new(TREE_FLOAT, NULL, 0);
		n->f = json_real_value(j);
		n->text = tree_format_double(n->f);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		n = tree_new(TREE_BOOL, NULL, 0);
		n->b = json_is_true(j);
		n->text = xstrdup(n->b ? "true" : "false");
		break;
	case JSON_NULL:
	default:
		n = tree_new(TREE_NULL, NULL, 0);
		n->text = xstrdup("null");
		break;
	}
	return n;
}

static bool utf8_valid(const char *s)
{
	size_t n = strlen(s);
	return utf8_check(s, n) == n;
}

/* A copy of s in which every byte that is not part of valid UTF-8 is '?'. */
static char *utf8_sanitize(const char *s)
{
	char *d = xstrdup(s);
	size_t n = strlen(d), i = 0;
	while ((i += utf8_check(d + i, n - i)) < n)
		d[i++] = '?';
	return d;
}

static json_t *string_to_json(const char *s)
{
	if (utf8_valid(s))
		return json_string(s);
	char *clean = utf8_sanitize(s);
	json_t *j = json_string(clean);
	free(clean);
	return j;
}

/*
 * JSON has no infinity or NaN: such floats become null.  Strings that are
 * not valid UTF-8 (jansson refuses them) have the bad bytes replaced by '?'.
 */
json_t *tree_to_json(const struct tree *t)
{
	if (!t)
		return json_null();
	switch (t->type) {
	case TREE_NULL:
		return json_null();
	case TREE_BOOL:
		return json_boolean(t->b);
	case TREE_INT:
		return json_integer((json_int_t)t->i);
	case TREE_FLOAT:
		return isfinite(t->f) ? json_real(t->f) : json_null();
	case TREE_STRING:
		return string_to_json(t->text ? t->text : "");
	case TREE_ARRAY: {
		json_t *a = json_array();
		for (size_t i = 0; i < t->n; i++)
			json_array_append_new(a, tree_to_json(t->items[i]));
		return a;
	}
	case TREE_OBJECT: {
		json_t *o = json_object();
		for (size_t i = 0; i < t->n; i++) {
			json_t *v = tree_to_json(t->items[i]);
			if (utf8_valid(t->keys[i])) {
				json_object_set_new(o, t->keys[i], v);
			} else {
				char *clean = utf8_sanitize(t->keys[i]);
				json_object_set_new(o, clean, v);
				free(clean);
			}
		}
		return o;
	}
	}
	return json_null();
}
