/*
 * Watch stream framing and decoding, and the object store (see
 * k8s_watch.h).  No I/O: k8s_client.c feeds the bytes k8s_http.c receives and
 * applies the events; the fuzz harness and the unit tests feed their own.
 *
 * Framing: between events only whitespace may appear; an event starts at
 * '{' and ends at the brace that brings the nesting back to zero, braces
 * and brackets inside strings (with their backslash escapes) not counting.
 * The scanner keeps its state across feeds, so each byte is looked at
 * once however the stream is cut.  An event that arrives whole in one feed
 * is decoded from the caller's bytes without a copy; otherwise its pieces
 * are collected in `buf`, which is checked against max_object before it
 * grows and given back after an event larger than STREAM_KEEP_BYTES.
 *
 * Store: entries in a hash map by key (base/hashmap.h).  A relist marks entries
 * with the store's generation as it sees them; those left unmarked at the
 * end are the deleted ones.  Objects are stored packed (tree_pack()):
 * read-only, one block each; the change callbacks may keep them with
 * tree_ref() instead of a copy.
 */
#include "k8s/k8s_watch.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/util.h"

/* A buffer larger than this is freed after its event rather than kept for
 * the next one. */
#define STREAM_KEEP_BYTES ((size_t)64 << 10)

static const char *const event_type_names[] = {
	[K8S_EVENT_ADDED] = "ADDED",
	[K8S_EVENT_MODIFIED] = "MODIFIED",
	[K8S_EVENT_DELETED] = "DELETED",
	[K8S_EVENT_BOOKMARK] = "BOOKMARK",
	[K8S_EVENT_ERROR] = "ERROR",
};

const char *k8s_event_type_name(enum k8s_event_type t)
{
	if ((size_t)t < ARRAY_SIZE(event_type_names))
		return event_type_names[t];
	return "?";
}

bool k8s_event_gone(const struct k8s_event *ev)
{
	if (ev->type != K8S_EVENT_ERROR)
		return false;
	if (ev->code == 410)
		return true;
	return ev->reason && (strcmp(ev->reason, "Expired") == 0 || strcmp(ev->reason, "Gone") == 0);
}

void k8s_event_clear(struct k8s_event *ev)
{
	tree_free(ev->object);
	memset(ev, 0, sizeof(*ev));
}

static const char *metadata_str(const struct tree *obj, const char *key)
{
	const char *s = tree_get_str(tree_get(obj, "metadata"), key);
	return s && s[0] ? s : NULL;
}

int k8s_event_decode(const char *text, size_t len, struct k8s_event *ev, char **err)
{
	memset(ev, 0, sizeof(*ev));
	char *why = NULL;
	/* Read straight into a tree, managedFields left out: most of an
	 * event's bytes, and of no use here (k8s_object_strip()). */
	struct tree *j = tree_parse_json(text, len, TREE_JSON_NO_MANAGED_FIELDS, &why);
	if (!j) {
		*err = xasprintf("not JSON: %s", why);
		free(why);
		return -1;
	}
	int rc = -1;
	const struct tree *type = tree_get(j, "type");
	struct tree *obj = tree_get(j, "object");
	if (j->type != TREE_OBJECT) {
		*err = xstrdup("expected an object {\"type\": ..., \"object\": ...}");
		goto out;
	}
	if (!type || type->type != TREE_STRING) {
		*err = xstrdup("\"type\" is missing or not a string");
		goto out;
	}
	const char *t = type->text;
	size_t k;
	for (k = 0; k < ARRAY_SIZE(event_type_names); k++)
		if (strcmp(t, event_type_names[k]) == 0)
			break;
	if (k == ARRAY_SIZE(event_type_names)) {
		*err = xasprintf("unknown event type \"%.40s\" (expected ADDED, MODIFIED, DELETED, "
				 "BOOKMARK or ERROR)", t);
		goto out;
	}
	ev->type = (enum k8s_event_type)k;
	if (!obj || obj->type != TREE_OBJECT) {
		*err = xasprintf("%s event: \"object\" is missing or not an object", t);
		goto out;
	}
	/* Take the object out of the event rather than copy it. */
	ev->object = tree_object_take(j, "object");
	switch (ev->type) {
	case K8S_EVENT_ADDED:
	case K8S_EVENT_MODIFIED:
	case K8S_EVENT_DELETED:
		if (!metadata_str(ev->object, "name")) {
			*err = xasprintf("%s event: object has no metadata.name", t);
			goto out;
		}
		break;
	case K8S_EVENT_BOOKMARK:
		if (!metadata_str(ev->object, "resourceVersion")) {
			*err = xstrdup("BOOKMARK event: object has no metadata.resourceVersion");
			goto out;
		}
		break;
	case K8S_EVENT_ERROR: {
		const struct tree *code = tree_get(ev->object, "code");
		if (code && code->type == TREE_INT && code->i >= 0 && code->i < 1000)
			ev->code = (int)code->i;
		ev->reason = tree_get_str(ev->object, "reason");
		ev->message = tree_get_str(ev->object, "message");
		break;
	}
	}
	rc = 0;
out:
	tree_free(j);
	if (rc < 0)
		k8s_event_clear(ev);
	return rc;
}

/* ------------------------------------------------------------------ */
/* framing */

void k8s_watch_stream_init(struct k8s_watch_stream *s, size_t max_object)
{
	memset(s, 0, sizeof(*s));
	s->max_object = max_object ? max_object : K8S_WATCH_MAX_OBJECT;
}

void k8s_watch_stream_free(struct k8s_watch_stream *s)
{
	free(s->buf);
	free(s->error);
	memset(s, 0, sizeof(*s));
}

static int stream_fail(struct k8s_watch_stream *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int stream_fail(struct k8s_watch_stream *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	free(s->error);
	s->error = m;
	s->len = 0;
	return -1;
}

static void stream_append(struct k8s_watch_stream *s, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (s->cap - s->len < n) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap - s->len < n)
			cap *= 2;
		if (cap > s->max_object)
			cap = s->max_object;
		s->buf = xrealloc(s->buf, cap);
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

/* A whole event: decode it and hand it to cb.  `at` is its stream offset. */
static int stream_event(struct k8s_watch_stream *s, const char *text, size_t n, size_t at,
			k8s_event_fn *cb, void *arg)
{
	struct k8s_event ev;
	char *err = NULL;
	if (k8s_event_decode(text, n, &ev, &err) < 0) {
		stream_fail(s, "watch event %zu (bytes %zu-%zu): %s", s->events + 1, at,
			    at + n - 1, err);
		free(err);
		return -1;
	}
	s->events++;
	int stop = cb(&ev, arg);
	k8s_event_clear(&ev);
	if (stop) {
		stream_fail(s, "stopped by the receiver after event %zu", s->events);
		return 1;
	}
	return 0;
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int k8s_watch_stream_feed(struct k8s_watch_stream *s, const char *data, size_t len,
			  k8s_event_fn *cb, void *arg)
{
	if (s->error)
		return -1;
	size_t i = 0;
	while (i < len) {
		size_t start = i;
		if (s->depth == 0) {
			while (i < len && is_json_space(data[i]))
				i++;
			if (i == len)
				break;
			if (data[i] != '{') {
				unsigned char c = (unsigned char)data[i];
				if (c >= 0x20 && c < 0x7f)
					return stream_fail(s, "byte %zu: expected '{' to start a watch "
							   "event, found '%c'", s->offset + i, c);
				return stream_fail(s, "byte %zu: expected '{' to start a watch event, "
						   "found byte 0x%02x", s->offset + i, c);
			}
			start = i++;
			s->depth = 1;
			s->in_string = s->escape = false;
		}
		/* The event's bytes so far (s->len of them buffered) and this
		 * piece may not pass max_object: checked byte by byte, so the
		 * first fault in the stream is reported however it is cut. */
		size_t allow = s->max_object - s->len;
		size_t end = allow < len - start ? start + allow : len;
		bool done = false;
		for (; i < len && !done; i++) {
			if (i >= end)
				return stream_fail(s, "watch event %zu is larger than %zu bytes",
						   s->events + 1, s->max_object);
			char c = data[i];
			if (s->in_string) {
				if (s->escape) {
					s->escape = false;
				} else if (c == '\\') {
					s->escape = true;
				} else if (c == '"') {
					s->in_string = false;
				} else {
					/* Most of an event is string bytes: on to the
					 * next quote or backslash at memchr's pace. */
					const char *q = memchr(data + i, '"', end - i);
					size_t stop = q ? (size_t)(q - data) : end;
					const char *b = memchr(data + i, '\\', stop - i);
					i = (b ? (size_t)(b - data) : stop) - 1;
				}
				continue;
			}
			switch (c) {
			case '"':
				s->in_string = true;
				break;
			case '{':
			case '[':
				if (++s->depth > K8S_WATCH_MAX_DEPTH)
					return stream_fail(s, "watch event %zu: nested deeper than %d "
							   "levels", s->events + 1,
							   K8S_WATCH_MAX_DEPTH);
				break;
			case '}':
			case ']':
				done = --s->depth == 0;
				break;
			default:
				break;
			}
		}
		size_t piece = i - start;
		if (!done) {
			stream_append(s, data + start, piece);
			break;
		}
		int rc;
		if (s->len == 0) {
			rc = stream_event(s, data + start, piece, s->offset + start, cb, arg);
		} else {
			stream_append(s, data + start, piece);
			size_t n = s->len;
			s->len = 0;
			rc = stream_event(s, s->buf, n, s->offset + i - n, cb, arg);
			if (s->cap > STREAM_KEEP_BYTES) {
				free(s->buf);
				s->buf = NULL;
				s->cap = 0;
			}
		}
		if (rc != 0) {
			s->offset += i;
			return rc;
		}
	}
	s->offset += len;
	return 0;
}

int k8s_watch_stream_end(struct k8s_watch_stream *s)
{
	if (s->error)
		return -1;
	if (s->depth != 0)
		return stream_fail(s, "the stream ended inside watch event %zu (%zu bytes of it "
				   "received)", s->events + 1, s->len);
	return 0;
}

/* ------------------------------------------------------------------ */
/* objects */

char *k8s_object_key(const struct tree *obj)
{
	const char *name = metadata_str(obj, "name");
	if (!name)
		return NULL;
	const char *ns = metadata_str(obj, "namespace");
	return ns ? xconcat(ns, "/", name, NULL) : xstrdup(name);
}

const char *k8s_object_resource_version(const struct tree *obj)
{
	return metadata_str(obj, "resourceVersion");
}

void k8s_object_strip(struct tree *obj)
{
	if (obj->packed)
		return;   /* stripped before it was packed */
	tree_free(tree_object_take(tree_get(obj, "metadata"), "managedFields"));
}

static const char *const store_reads[] = {
	"kind", "apiVersion", "metadata.name", "metadata.namespace", "metadata.resourceVersion",
	NULL,
};

/* How path (len bytes) stands to the paths in list: 2 when it is one of
 * them, 1 when one of them is below it, 0 otherwise. */
static int prune_match(const char *path, size_t len, const char *const *list)
{
	int best = 0;
	for (; list && *list; list++) {
		if (strncmp(*list, path, len) != 0)
			continue;
		if ((*list)[len] == '\0')
			return 2;
		if ((*list)[len] == '.')
			best = 1;
	}
	return best;
}

static void prune_object(struct tree *obj, char *path, size_t len, size_t cap,
			 const char *const *keep)
{
	for (size_t k = 0; k < obj->n;) {
		const char *key = obj->keys[k];
		size_t kl = strlen(key);
		size_t at = len ? len + 1 : 0;
		int m = 0;
		if (at + kl < cap) {
			if (len)
				path[len] = '.';
			memcpy(path + at, key, kl + 1);
			int a = prune_match(path, at + kl, keep);
			int b = prune_match(path, at + kl, store_reads);
			m = a > b ? a : b;
		}
		if (m == 2) {
			k++;
		} else if (m == 1 && obj->items[k]->type == TREE_OBJECT) {
			prune_object(obj->items[k], path, at + kl, cap, keep);
			k++;
		} else {
			tree_free(tree_object_take(obj, key));
		}
		path[len] = '\0';
	}
}

void k8s_object_prune(struct tree *obj, const char *const *keep)
{
	if (!keep || !obj || obj->type != TREE_OBJECT || obj->packed)
		return;
	char path[256] = "";
	prune_object(obj, path, 0, sizeof(path), keep);
}

bool k8s_object_labelled(const struct tree *obj, const char *label)
{
	if (!obj || !label)
		return false;
	const struct tree *labels = tree_path(obj, "metadata.labels");
	const char *eq = strchr(label, '=');
	size_t kl = eq ? (size_t)(eq - label) : strlen(label);
	for (size_t k = 0; labels && labels->type == TREE_OBJECT && k < labels->n; k++) {
		if (strncmp(labels->keys[k], label, kl) != 0 || labels->keys[k][kl] != '\0')
			continue;
		if (!eq)
			return true;
		const struct tree *v = labels->items[k];
		return v->type == TREE_STRING && v->text && strcmp(v->text, eq + 1) == 0;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* store */

static const char *const change_names[] = {
	[K8S_CHANGE_ADDED] = "ADDED",
	[K8S_CHANGE_MODIFIED] = "MODIFIED",
	[K8S_CHANGE_DELETED] = "DELETED",
};

const char *k8s_change_name(enum k8s_change c)
{
	if ((size_t)c < ARRAY_SIZE(change_names))
		return change_names[c];
	return "?";
}

struct store_entry {
	char *key;               /* the map borrows it */
	struct tree *obj;
	unsigned gen;
};

struct k8s_store {
	struct hashmap map;      /* key -> store_entry */
	unsigned gen;
};

struct k8s_store *k8s_store_new(void)
{
	return xcalloc(1, sizeof(struct k8s_store));
}

static void entry_free(struct store_entry *e)
{
	tree_free(e->obj);
	free(e->key);
	free(e);
}

void k8s_store_free(struct k8s_store *s)
{
	if (!s)
		return;
	struct hashmap_iter it;
	hashmap_iter_init(&it, &s->map);
	while (hashmap_iter_next(&it))
		entry_free(it.value);
	hashmap_clear(&s->map);
	free(s);
}

size_t k8s_store_count(const struct k8s_store *s)
{
	return hashmap_count(&s->map);
}

size_t k8s_store_bytes(const struct k8s_store *s)
{
	size_t n = 0;
	struct hashmap_iter it;
	hashmap_iter_init(&it, &s->map);
	while (hashmap_iter_next(&it)) {
		const struct store_entry *e = it.value;
		n += sizeof(*e) + strlen(e->key) + 1 + tree_bytes(e->obj);
	}
	return n;
}

const struct tree *k8s_store_get_key(const struct k8s_store *s, const char *key)
{
	struct store_entry *e = hashmap_get_str(&s->map, key);
	return e ? e->obj : NULL;
}

const struct tree *k8s_store_get(const struct k8s_store *s, const char *namespace_,
				 const char *name)
{
	char *key = namespace_ && namespace_[0] ? xconcat(namespace_, "/", name, NULL)
						: xstrdup(name);
	const struct tree *t = k8s_store_get_key(s, key);
	free(key);
	return t;
}

static int cmp_entry_key(const void *a, const void *b)
{
	const struct store_entry *x = *(struct store_entry *const *)a;
	const struct store_entry *y = *(struct store_entry *const *)b;
	return strcmp(x->key, y->key);
}

/* Entries (all, or those not of the current generation) sorted by key. */
static struct store_entry **store_sorted(const struct k8s_store *s, bool stale_only, size_t *n)
{
	struct store_entry **v = NULL;
	*n = 0;
	struct hashmap_iter it;
	hashmap_iter_init(&it, &s->map);
	while (hashmap_iter_next(&it)) {
		struct store_entry *e = it.value;
		if (!stale_only || e->gen != s->gen)
			*VEC_PUSH(v, *n) = e;
	}
	xqsort(v, *n, sizeof(*v), cmp_entry_key);
	return v;
}

void k8s_store_foreach(const struct k8s_store *s,
		       void (*fn)(const char *key, const struct tree *obj, void *arg), void *arg)
{
	size_t n;
	struct store_entry **v = store_sorted(s, false, &n);
	for (size_t i = 0; i < n; i++)
		fn(v[i]->key, v[i]->obj, arg);
	free(v);
}

static bool same_version(const struct tree *a, const struct tree *b)
{
	const char *ra = k8s_object_resource_version(a);
	const char *rb = k8s_object_resource_version(b);
	return ra && rb && strcmp(ra, rb) == 0;
}

/* ADDED or MODIFIED: insert or replace (takes obj). */
static int store_upsert(struct k8s_store *s, struct tree *obj, k8s_change_fn *fn, void *arg)
{
	char *key = k8s_object_key(obj);
	if (!key) {
		tree_free(obj);
		return -1;
	}
	k8s_object_strip(obj);
	/* Stored objects are only read from here on, and shared with the
	 * pipeline's store (tree_ref()): one block each, about half the
	 * bytes of the parsed tree. */
	obj = tree_pack(obj);
	struct store_entry *e = hashmap_get_str(&s->map, key);
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->key = key;
		e->obj = obj;
		e->gen = s->gen;
		hashmap_put_str(&s->map, e->key, e, NULL);
		if (fn)
			fn(K8S_CHANGE_ADDED, obj, NULL, arg);
		return 0;
	}
	free(key);
	e->gen = s->gen;
	if (same_version(e->obj, obj)) {
		tree_free(obj);
		return 0;
	}
	struct tree *old = e->obj;
	e->obj = obj;
	if (fn)
		fn(K8S_CHANGE_MODIFIED, obj, old, arg);
	tree_free(old);
	return 0;
}

static void store_unlink(struct k8s_store *s, struct store_entry *e)
{
	hashmap_del_str(&s->map, e->key, NULL);
}

int k8s_store_apply(struct k8s_store *s, enum k8s_event_type type, struct tree *object,
		    k8s_change_fn *fn, void *arg)
{
	if (type == K8S_EVENT_ADDED || type == K8S_EVENT_MODIFIED)
		return store_upsert(s, object, fn, arg);
	if (type != K8S_EVENT_DELETED) {
		tree_free(object);
		return -1;
	}
	char *key = k8s_object_key(object);
	if (!key) {
		tree_free(object);
		return -1;
	}
	struct store_entry *e = hashmap_get_str(&s->map, key);
	free(key);
	if (e) {
		store_unlink(s, e);
		k8s_object_strip(object);
		if (fn)
			fn(K8S_CHANGE_DELETED, object, NULL, arg);
		entry_free(e);
	}
	tree_free(object);
	return 0;
}

void k8s_store_replace_begin(struct k8s_store *s)
{
	s->gen++;
}

int k8s_store_replace_add(struct k8s_store *s, struct tree *object, k8s_change_fn *fn,
			  void *arg)
{
	return store_upsert(s, object, fn, arg);
}

void k8s_store_replace_end(struct k8s_store *s, k8s_change_fn *fn, void *arg)
{
	size_t n;
	struct store_entry **v = store_sorted(s, true, &n);
	for (size_t i = 0; i < n; i++) {
		store_unlink(s, v[i]);
		if (fn)
			fn(K8S_CHANGE_DELETED, v[i]->obj, NULL, arg);
		entry_free(v[i]);
	}
	free(v);
}
