/*
 * Watch streams and object stores: the pure half of list+watch (no I/O).
 *
 * A watch response body (GET ...?watch=1) is a stream of JSON objects
 * {"type": T, "object": O}, which the API server writes one per line.
 * k8s_watch_stream frames that stream as it arrives in pieces of any size:
 * it tracks JSON strings and nesting, so an event split across reads, a
 * pretty-printed event spanning lines, or events not separated by newlines
 * are all framed alike.  Each complete event is decoded with jansson and
 * turned into the tree that manifests are read into (tree_from_json), so
 * the one decoder (model_add) serves the API and files.
 *
 * Bounds: an event larger than the stream's max_object (default
 * K8S_WATCH_MAX_OBJECT) or nested deeper than K8S_WATCH_MAX_DEPTH fails
 * the stream; the buffer never grows past max_object.  A failed stream
 * stays failed (the caller drops the connection and lists again).
 *
 * k8s_store is what a reflector keeps: the objects of one resource keyed
 * "namespace/name" (or "name" when cluster-scoped).  Watch events are
 * applied to it and a list is merged into it; either way every change of
 * the store's content is reported exactly once (ADDED for a key that was
 * absent, MODIFIED when the resourceVersion differs, DELETED for a key that
 * was present), so a replayed or duplicated event, or a relist that brings
 * nothing new, delivers nothing.  Stored objects have
 * metadata.managedFields removed: large and of no use to ironlb.
 */
#ifndef IRONLB_K8S_K8S_WATCH_H
#define IRONLB_K8S_K8S_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "manifest/tree.h"

#define K8S_WATCH_MAX_OBJECT ((size_t)16 << 20)
#define K8S_WATCH_MAX_DEPTH 512

enum k8s_event_type {
	K8S_EVENT_ADDED,
	K8S_EVENT_MODIFIED,
	K8S_EVENT_DELETED,
	K8S_EVENT_BOOKMARK,
	K8S_EVENT_ERROR,
};

/* "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" */
const char *k8s_event_type_name(enum k8s_event_type t);

struct k8s_event {
	enum k8s_event_type type;
	struct tree *object;     /* owned; a receiver may take it (set it to NULL) */
	/* ERROR events (object is a metav1.Status): code 0 when absent;
	 * reason and message point into object, or are NULL. */
	int code;
	const char *reason;
	const char *message;
};

/* An ERROR event saying the resourceVersion is gone (410 Gone, reason
 * "Expired" or "Gone"): the watcher must list again. */
bool k8s_event_gone(const struct k8s_event *ev);

/* Decode one event (a JSON object) into *ev.  Checks: "type" is one of the
 * five, "object" is an object; ADDED, MODIFIED and DELETED objects have
 * metadata.name, a BOOKMARK has metadata.resourceVersion.  -1 on error,
 * with *err a malloc'd message. */
int k8s_event_decode(const char *text, size_t len, struct k8s_event *ev, char **err);
void k8s_event_clear(struct k8s_event *ev);

/* Called for each event in order.  Return 0 to go on, non-zero to stop: the
 * feed returns 1 at once and the rest of its data is dropped. */
typedef int k8s_event_fn(struct k8s_event *ev, void *arg);

struct k8s_watch_stream {
	size_t max_object;
	char *buf;               /* the open event's bytes seen so far */
	size_t len, cap;
	int depth;               /* 0: between events */
	bool in_string, escape;
	size_t offset;           /* bytes fed so far, for messages */
	size_t events;           /* events delivered */
	char *error;             /* set once the stream failed */
};

/* max_object 0 means K8S_WATCH_MAX_OBJECT. */
void k8s_watch_stream_init(struct k8s_watch_stream *s, size_t max_object);
void k8s_watch_stream_free(struct k8s_watch_stream *s);
/* 0 when all was consumed, 1 when cb stopped, -1 when the stream failed
 * (now or before; s->error says why). */
int k8s_watch_stream_feed(struct k8s_watch_stream *s, const char *data, size_t len,
			  k8s_event_fn *cb, void *arg);
/* The body ended: -1 (and s->error) when it ended inside an event. */
int k8s_watch_stream_end(struct k8s_watch_stream *s);

/* ------------------------------------------------------------------ */
/* objects */

/* "namespace/name", or "name" for an object without a namespace; NULL
 * when metadata.name is missing or empty.  malloc'd. */
char *k8s_object_key(const struct tree *obj);
/* metadata.resourceVersion, or NULL. */
const char *k8s_object_resource_version(const struct tree *obj);
/* Remove metadata.managedFields. */
void k8s_object_strip(struct tree *obj);
/* Keep only the members named by keep (dotted paths of object members,
 * such as "metadata.labels" or "status.node"; NULL-terminated), with
 * whatever is below them, and the members the store itself reads (kind,
 * apiVersion, metadata.name, metadata.namespace,
 * metadata.resourceVersion).  keep NULL: the object stays whole.  For
 * what a daemon watches in numbers and reads little of. */
void k8s_object_prune(struct tree *obj, const char *const *keep);
/* Whether obj's metadata.labels hold label ("key=value"): value equal,
 * or, for "key" alone, the key present.  False for NULL label. */
bool k8s_object_labelled(const struct tree *obj, const char *label);

/* ------------------------------------------------------------------ */
/* store */

enum k8s_change { K8S_CHANGE_ADDED, K8S_CHANGE_MODIFIED, K8S_CHANGE_DELETED };

const char *k8s_change_name(enum k8s_change c); /* "ADDED", "MODIFIED", "DELETED" */

/* A change of the store: `object` is the new state (ADDED, MODIFIED) or the
 * last known one (DELETED); `old` is the previous state for MODIFIED, else
 * NULL.  Both live until the callback returns; the new state stays in the
 * store until the next change of its key. */
typedef void k8s_change_fn(enum k8s_change change, const struct tree *object,
			   const struct tree *old, void *arg);

struct k8s_store;

struct k8s_store *k8s_store_new(void);
void k8s_store_free(struct k8s_store *s);
size_t k8s_store_count(const struct k8s_store *s);
/* Bytes the stored objects take (tree_bytes(), keys and entries): where a
 * daemon's memory goes, for /status. */
size_t k8s_store_bytes(const struct k8s_store *s);
/* namespace_ NULL or "" for cluster-scoped objects. */
const struct tree *k8s_store_get(const struct k8s_store *s, const char *namespace_,
				 const char *name);
const struct tree *k8s_store_get_key(const struct k8s_store *s, const char *key);
/* Every object, in key order. */
void k8s_store_foreach(const struct k8s_store *s,
		       void (*fn)(const char *key, const struct tree *obj, void *arg), void *arg);

/* Apply an ADDED, MODIFIED or DELETED event's object (taken, even on
 * error); fn (may be NULL) is called for the change, if any.  -1 when the
 * object has no name or the type is not one of the three. */
int k8s_store_apply(struct k8s_store *s, enum k8s_event_type type, struct tree *object,
		    k8s_change_fn *fn, void *arg);

/* Replace the content by a list's items, reporting the difference: begin,
 * then add every item (taken), then end, which deletes what was not added
 * since begin (in key order).  An item whose key was already added since
 * begin replaces it. */
void k8s_store_replace_begin(struct k8s_store *s);
int k8s_store_replace_add(struct k8s_store *s, struct tree *object, k8s_change_fn *fn,
			  void *arg);
void k8s_store_replace_end(struct k8s_store *s, k8s_change_fn *fn, void *arg);

#endif
