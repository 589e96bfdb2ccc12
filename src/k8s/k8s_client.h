/*
 * The Kubernetes API client: requests to the API server on the daemon's
 * libev loop, and reflectors that keep a local copy of one resource with
 * list+watch.
 *
 * Transport: k8s_http.c on the same loop (non-blocking sockets, each an
 * ev_io, and timers), so requests never block and an idle client costs no
 * wake-ups.  HTTP/2 (nghttp2) when the server offers it by ALPN (all
 * requests then share one connection), else HTTP/1.1 with keep-alive
 * connections reused; TLS (GnuTLS) checked against the configuration's
 * CA, a bearer token (re-read from its file when that changes) and/or a
 * client certificate.  GnuTLS and nghttp2 are linked into this module
 * only.
 *
 * Requests are asynchronous: each operation returns a handle (NULL only
 * for bad arguments) and later calls its callback exactly once, with a
 * k8s_response, unless the handle was cancelled first.  After the callback
 * the handle is gone.  Callbacks run on the loop; they may start and cancel
 * requests (also from inside a watch's event callback), but must not free
 * the client.
 *
 * Errors carry what a person needs: the HTTP status and the API's Status
 * (reason and message), or the transport failure (connect, TLS, timeout),
 * in one line such as
 *   PUT /api/v1/namespaces/a/services/web: 409 Conflict: Operation cannot be fulfilled on services "web": the object has been modified; please apply your changes to the latest version and try again
 *   GET https://10.0.0.1:6443/api/v1/services: TLS: the server's certificate is not trusted: no configured CA signed it
 */
#ifndef IRONLB_K8S_K8S_CLIENT_H
#define IRONLB_K8S_K8S_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "k8s/k8s_config.h"
#include "k8s/k8s_watch.h"
#include "manifest/tree.h"

struct ev_loop;
struct k8s_client;
struct k8s_request;

/* Requests other than watches fail after this many seconds by default. */
#define K8S_DEFAULT_TIMEOUT 30.0
/* A response body larger than this fails the request. */
#define K8S_MAX_BODY ((size_t)256 << 20)

enum k8s_error {
	K8S_OK,
	K8S_ERR_HTTP,        /* the server answered with a status other than 2xx */
	K8S_ERR_CONNECT,     /* no connection, or it broke */
	K8S_ERR_TLS,         /* handshake or certificate check failed */
	K8S_ERR_TIMEOUT,     /* the request took longer than its timeout */
	K8S_ERR_PROTOCOL,    /* the body is not what the API sends (bad JSON, too large) */
	K8S_ERR_AUTH,        /* no credentials to send (unreadable token file) */
};

/* "ok", "http", "connect", "tls", "timeout", "protocol", "auth" */
const char *k8s_error_name(enum k8s_error e);

struct k8s_response {
	enum k8s_error error;     /* K8S_OK for a 2xx response */
	long status;              /* HTTP status; 0 when none arrived */
	const char *message;      /* NULL when ok; else the one-line error above */
	/* From the API's Status object of an error (or NULL): "Conflict",
	 * "NotFound", "Forbidden", "Unauthorized", "AlreadyExists", "Expired", ... */
	const char *reason;
	const char *status_message;  /* the Status's own message, or NULL */
	const char *body;         /* the body as received (NUL-terminated) */
	size_t body_len;
	/* The body as a tree when it is JSON (objects, lists, Status), else
	 * NULL.  The callback may take it (set it to NULL). */
	struct tree *object;
};

typedef void k8s_response_fn(struct k8s_response *resp, void *arg);

/* Takes over cfg's content (cfg is left empty).  Never NULL today; err is
 * kept for callers (a server that cannot be reached or a certificate that
 * cannot be read fails each request instead). */
struct k8s_client *k8s_client_new(struct ev_loop *loop, struct k8s_config *cfg, char **err);
/* Cancels every request (no callbacks) and frees; NULL is a no-op.  Not
 * from inside a callback of this client. */
void k8s_client_free(struct k8s_client *c);
const struct k8s_config *k8s_client_config(const struct k8s_client *c);
/* Timeout of requests other than watches, in seconds (0: none). */
void k8s_client_set_timeout(struct k8s_client *c, double seconds);
/* The protocol of the newest connection to the server: "h2", "http/1.1",
 * or NULL before the first was set up. */
const char *k8s_client_protocol(const struct k8s_client *c);
/* Requests started and not yet completed or cancelled. */
size_t k8s_client_pending(const struct k8s_client *c);

/*
 * The client-side rate limit of requests other than watches: `qps` a
 * second on average, `burst` at once (a token bucket, as client-go's
 * QPS and Burst); qps <= 0: none.  The defaults let the largest burst
 * ironlb makes through at the speed an API server answers it (two writes
 * per Service when a controller starts into Services without addresses:
 * 20,000 for 10,000 Services, which a busy API server takes at about 30 a
 * second and an idle one at a few hundred) and stop a loop that writes
 * without end at a rate an API server survives; client-go's 5 a second
 * would make that start take 4,000 s.  docs/operations.md has the
 * arithmetic.
 */
#define K8S_DEFAULT_QPS 500.0
#define K8S_DEFAULT_BURST 1000u
void k8s_client_set_rate_limit(struct k8s_client *c, double qps, unsigned burst);

struct k8s_client_stats {
	double throttled_seconds;        /* the queue waited for the rate limit */
	unsigned long throttled_requests; /* requests that waited for it */
	unsigned long retries;           /* answers 429/503 sent again after Retry-After */
};
void k8s_client_get_stats(const struct k8s_client *c, struct k8s_client_stats *out);

/* Cancel: the callback is not called; NULL is a no-op.  Not for a handle
 * whose callback has been called. */
void k8s_request_cancel(struct k8s_request *r);

/* The callback will not read resp->object of a successful answer: the
 * body is not parsed (resp->body still holds it).  For writes, whose
 * answer is the whole object written: reading it cost more than the
 * write.  Returns nothing; NULL is a no-op. */
void k8s_request_skip_object(struct k8s_request *r);

/*
 * Any request: `path` starts with '/' and may carry a query
 * ("/api/v1/namespaces/a/services/web/status"); body (JSON text, or NULL)
 * is sent with content_type.
 */
struct k8s_request *k8s_request(struct k8s_client *c, const char *method, const char *path,
				const char *content_type, const char *body,
				k8s_response_fn *done, void *arg);

struct k8s_request *k8s_get(struct k8s_client *c, const char *path, k8s_response_fn *done,
			    void *arg);
/* POST: create; 409 AlreadyExists when it exists. */
struct k8s_request *k8s_create(struct k8s_client *c, const char *path, const char *json,
			       k8s_response_fn *done, void *arg);
/* PUT: update; with metadata.resourceVersion set, 409 Conflict when the
 * object changed since. */
struct k8s_request *k8s_update(struct k8s_client *c, const char *path, const char *json,
			       k8s_response_fn *done, void *arg);
struct k8s_request *k8s_delete(struct k8s_client *c, const char *path, k8s_response_fn *done,
			       void *arg);

enum k8s_patch_type {
	K8S_PATCH_MERGE,      /* application/merge-patch+json (RFC 7386) */
	K8S_PATCH_JSON,       /* application/json-patch+json (RFC 6902) */
	K8S_PATCH_STRATEGIC,  /* application/strategic-merge-patch+json (built-in kinds) */
	K8S_PATCH_APPLY,      /* application/apply-patch+yaml; give ?fieldManager= in path */
};

/* PATCH; the status subresource is path + "/status". */
struct k8s_request *k8s_patch(struct k8s_client *c, const char *path, enum k8s_patch_type type,
			      const char *patch, k8s_response_fn *done, void *arg);

struct k8s_list_opts {
	const char *resource_version;        /* NULL: the latest (a consistent read) */
	const char *resource_version_match;  /* "NotOlderThan", "Exact", or NULL */
	unsigned limit;                      /* page size; 0: all at once */
	const char *continue_token;          /* from the previous page */
	const char *label_selector;
	const char *field_selector;
	double timeout;                      /* seconds; 0: the client's */
};

/* One page of a list: resp->object is the List; see k8s_list_continue(). */
struct k8s_request *k8s_list(struct k8s_client *c, const char *path,
			     const struct k8s_list_opts *opts, k8s_response_fn *done, void *arg);
/* metadata.continue of a List page, or NULL on the last page. */
const char *k8s_list_continue(const struct tree *list);

struct k8s_watch_opts {
	const char *resource_version;  /* where to start; NULL: now ("" sends every object first) */
	const char *label_selector;
	const char *field_selector;
	unsigned timeout_seconds;      /* the server ends the watch after this; 0: 300 */
	bool no_bookmarks;             /* allowWatchBookmarks=true unless set */
	size_t max_object;             /* 0: K8S_WATCH_MAX_OBJECT */
};

/*
 * A watch: ?watch=1&resourceVersion=..&allowWatchBookmarks=true&timeoutSeconds=..
 * on_event gets each event as it arrives (return non-zero to end the watch
 * early: done is then called with K8S_OK); done gets the end: K8S_OK when
 * the server ended the stream (its timeout), an error when the request
 * failed, the stream broke or held something that is not a watch event.
 * The connection's own timeout is timeout_seconds plus a margin.
 */
struct k8s_request *k8s_watch(struct k8s_client *c, const char *path,
			      const struct k8s_watch_opts *opts, k8s_event_fn *on_event,
			      k8s_response_fn *done, void *arg);

/* ------------------------------------------------------------------ */
/* reflector */

/*
 * A reflector keeps a k8s_store of one resource (path such as
 * "/api/v1/services" or
 * "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools") up to
 * date: it lists (in pages), then watches from the list's resourceVersion;
 * bookmarks and events move the resourceVersion on.  When the watch ends
 * normally it watches again from there.  When the stream breaks or the
 * watch fails for a passing reason (connection, timeout, an event cut
 * short, 429, 5xx) it watches again from there too, after a backoff that
 * doubles from backoff_initial to backoff_max, with jitter, reset once a
 * watch has been up for a while: no list.  On 410 Gone (the server no
 * longer has that version), an ERROR event or any other failure, it lists
 * again (after the backoff; at once for a first 410) and merges the list
 * into the store.  Either way every change is delivered exactly once,
 * whatever happened while the stream was down.
 *
 * List items lack kind and apiVersion; the reflector sets them from the
 * List's, so that objects from the list and from the watch look alike.
 * Stored objects lack metadata.managedFields and the annotation
 * kubectl.kubernetes.io/last-applied-configuration: nothing here reads
 * them, and they are most of an object's size.
 */
struct k8s_reflector;

/* Called for each failure (the reflector retries by itself): the response
 * describes it; for an ERROR watch event, status is its code and reason
 * and status_message its Status's. */
typedef void k8s_reflector_error_fn(const struct k8s_response *resp, void *arg);
typedef void k8s_reflector_synced_fn(void *arg);

struct k8s_reflector_opts {
	const char *path;
	const char *label_selector;
	const char *field_selector;
	/* Members kept in the stored objects (k8s_object_prune(); NULL:
	 * all); the array must outlive the reflector. */
	const char *const *keep;
	/* "key=value": objects with this label are kept whole whatever keep
	 * says (k8s_object_labelled()), or with the members in
	 * keep_labelled when that is set; one watch then serves both a few
	 * objects read in full and many read for a few fields. */
	const char *keep_whole_label;
	const char *const *keep_labelled;
	unsigned page_limit;            /* 0: 500 */
	unsigned watch_timeout;         /* seconds; 0: random in 300..600 as client-go */
	double backoff_initial;         /* seconds; 0: 0.5 */
	double backoff_max;             /* seconds; 0: 30 */
	k8s_change_fn *on_change;
	k8s_reflector_synced_fn *on_synced;  /* once, after the first list is in the store */
	k8s_reflector_error_fn *on_error;
	void *arg;
};

struct k8s_reflector *k8s_reflector_new(struct k8s_client *c, const struct k8s_reflector_opts *o);
/* Begins listing; the callbacks run from the loop. */
void k8s_reflector_start(struct k8s_reflector *r);
/* Stops (cancels what is under way) and frees; not from its own callbacks. */
void k8s_reflector_free(struct k8s_reflector *r);
const struct k8s_store *k8s_reflector_store(const struct k8s_reflector *r);
bool k8s_reflector_synced(const struct k8s_reflector *r);
/* The resourceVersion the store is at ("" before the first list). */
const char *k8s_reflector_resource_version(const struct k8s_reflector *r);
/* Lists done (the first one included), for tests and metrics. */
unsigned k8s_reflector_lists(const struct k8s_reflector *r);
/* Watches started again from the store's resourceVersion after a failure
 * (no list), for tests and metrics. */
unsigned k8s_reflector_resumes(const struct k8s_reflector *r);

#endif
