/*
 * Kubernetes API client on the libev loop (see k8s_client.h).
 *
 * The exchanges go through k8s_http.c (connections, TLS, HTTP), whose
 * handlers tell a request its status, its body as it arrives, and its end.
 *
 * Re-entrancy.  Response bodies arrive in the transport's data handler,
 * and a watch's events are decoded and delivered from there, i.e. while
 * the transport is in the middle of reading a connection.  The transport
 * must not be called at that moment, and a reflector's change callback is
 * exactly where a controller wants to start a PATCH or to stop a watch.
 * So while `in_io` is set (between the transport's enter and leave
 * hooks), a new request is only linked into the client's list (sent
 * afterwards), a cancelled one is only marked (aborted afterwards) and a
 * finished one is put on the done list; after_io() does all three once the
 * transport has returned.  Completion callbacks run outside the transport
 * and may do anything but free the client.
 *
 * How much it asks.  Requests other than watches go out only with a
 * free slot (K8S_MAX_ACTIVE) and a token of the client's bucket
 * (k8s_limit.h); otherwise they wait in one FIFO queue, which the limit's
 * timer or a finished transfer drains.  A 429 (or a 503 with Retry-After)
 * is sent again after the time the server asks (capped), up to
 * K8S_RETRY_MAX times, before the caller sees it: its callback runs once,
 * with the last answer.
 *
 * The reflector is a small state machine on top: LISTING (pages of
 * k8s_list) -> WATCHING (k8s_watch from the list's resourceVersion) ->
 * WATCHING again when the server ends the watch; WAITING (a backoff
 * timer) -> WATCHING from the same resourceVersion when the stream broke
 * (refl_may_resume()), WAITING -> LISTING when it is gone (410) or
 * anything else failed.  The store (k8s_watch.c) turns
 * both the list and the events into exactly-once changes.
 */
#include "k8s/k8s_client.h"

#include <ev.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "base/log.h"
#include "base/util.h"
#include "k8s/k8s_http.h"
#include "k8s/k8s_limit.h"

/* Requests other than watches in flight at once; more wait in a queue.
 * Each exchange holds buffers (a stream's or a connection's, a body's): a
 * burst of thousands of writes (status of every Service after a restart)
 * must not hold them all at once.  With HTTP/2 these share one connection
 * anyway. */
#define K8S_MAX_ACTIVE 8
/* A watch's connection outlives the server's timeoutSeconds by this. */
#define K8S_WATCH_MARGIN 30
/* The body of a failed watch (a Status) is kept up to this size. */
#define K8S_ERROR_BODY_MAX ((size_t)1 << 20)
/* Reflector: list requests' timeout, page size, and how long a watch must
 * have been up for the backoff to start again from the beginning. */
#define REFL_LIST_TIMEOUT 60.0
#define REFL_PAGE_LIMIT 500
#define REFL_STABLE_SECONDS 10.0

static const char *const error_names[] = {
	[K8S_OK] = "ok",
	[K8S_ERR_HTTP] = "http",
	[K8S_ERR_CONNECT] = "connect",
	[K8S_ERR_TLS] = "tls",
	[K8S_ERR_TIMEOUT] = "timeout",
	[K8S_ERR_PROTOCOL] = "protocol",
	[K8S_ERR_AUTH] = "auth",
};

const char *k8s_error_name(enum k8s_error e)
{
	if ((size_t)e < ARRAY_SIZE(error_names))
		return error_names[e];
	return "?";
}

struct k8s_client {
	struct ev_loop *loop;
	struct k8s_config cfg;
	struct k8s_http *http;
	ev_timer timer;          /* runs after_io() from the loop */
	int in_io;               /* inside the transport's handlers */
	double timeout;
	struct k8s_request *head;
	size_t pending;
	size_t active;           /* requests other than watches sent */
	struct k8s_request *qhead, *qtail;  /* waiting for a free slot or a token, FIFO */
	struct k8s_request *dhead, *dtail;  /* ended by the transport, to finish; FIFO */
	/* Created or cancelled while the transport was busy: after_io()
	 * sends or destroys them, oldest first (doubly linked: a request
	 * destroyed meanwhile leaves it at once).  No pass over every
	 * request: thousands may wait in the queue at a start. */
	struct k8s_request *shead, *stail;
	char *user_agent;
	/* the rate limit */
	struct k8s_bucket bucket;
	ev_timer limit_timer;    /* when the queue's head gets its token */
	double limited_since;    /* when the queue began to wait for a token; 0: not */
	unsigned long denials;   /* times a token was missing */
	struct k8s_client_stats stats;
};

struct k8s_request {
	struct k8s_client *c;
	struct k8s_request *prev, *next;
	struct k8s_http_xfer *xfer;  /* its exchange while the transport has it */
	bool in_multi;           /* sent (counts in active unless a watch) */
	bool watch;              /* not counted in active, never queued */
	bool queued;             /* in the client's queue */
	struct k8s_request *qnext;
	bool cancelled;          /* by the caller: no callback, aborted after the transport */
	bool finishing;          /* its callback is running */
	bool skip_object;        /* a 2xx body is not parsed (k8s_request_skip_object()) */
	bool delayed;            /* waiting for retry_timer to be sent again */
	bool deferred;           /* on the client's shead list */
	struct k8s_request *sprev, *snext;
	unsigned attempts;       /* answers that were retried */
	ev_timer retry_timer;
	double queued_at;        /* ev_time() when it was queued */
	unsigned long denials_at_queue;  /* the client's denials then */
	char *method, *path, *url;
	char *content_type, *req_body;  /* the request's, kept until it is sent */
	double timeout;
	/* the response */
	long status;
	char retry_after[64];    /* its Retry-After header, "" when none */
	bool ended;              /* on the client's done list */
	struct k8s_request *dnext;
	enum k8s_error xerror;   /* how the transport ended it */
	char *xdetail;
	char *body;
	size_t len, cap, max;
	/* set when we made the transport end the exchange */
	enum k8s_error abort_error;
	char *abort_message;
	bool stopped;            /* a watch's receiver ended it */
	/* watches */
	k8s_event_fn *on_event;
	struct k8s_watch_stream stream;
	k8s_response_fn *done;
	void *arg;
};

static void after_io(struct k8s_client *c);
static void retry_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void request_finish(struct k8s_request *r);
static const struct k8s_http_handler request_handler;

/* ------------------------------------------------------------------ */
/* the transport's hooks */

static void io_enter(void *arg)
{
	struct k8s_client *c = arg;
	c->in_io++;
}

static void io_leave(void *arg)
{
	struct k8s_client *c = arg;
	c->in_io--;
	after_io(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct k8s_client *c = (struct k8s_client *)((char *)w - offsetof(struct k8s_client, timer));
	(void)loop;
	(void)revents;
	after_io(c);
}

/* The queue's head has its token now. */
static void limit_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct k8s_client *c = (struct k8s_client *)((char *)w -
						     offsetof(struct k8s_client, limit_timer));
	(void)loop;
	(void)revents;
	after_io(c);
}

/* ------------------------------------------------------------------ */
/* client */

struct k8s_client *k8s_client_new(struct ev_loop *loop, struct k8s_config *cfg, char **err)
{
	(void)err;  /* nothing here can fail: the transport reports per request */
	struct k8s_client *c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	c->timeout = K8S_DEFAULT_TIMEOUT;
	c->user_agent = xasprintf("ironlb/%s", IRONLB_VERSION);
	ev_timer_init(&c->timer, timer_cb, 0.0, 0.0);
	ev_timer_init(&c->limit_timer, limit_timer_cb, 0.0, 0.0);
	k8s_bucket_init(&c->bucket, K8S_DEFAULT_QPS, K8S_DEFAULT_BURST, ev_time());
	struct k8s_http_hooks hooks = { .enter = io_enter, .leave = io_leave, .arg = c };
	c->http = k8s_http_new(loop, &c->cfg, c->user_agent, &hooks);
	return c;
}

const struct k8s_config *k8s_client_config(const struct k8s_client *c)
{
	return &c->cfg;
}

void k8s_client_set_timeout(struct k8s_client *c, double seconds)
{
	c->timeout = seconds;
}

void k8s_client_set_rate_limit(struct k8s_client *c, double qps, unsigned burst)
{
	k8s_bucket_init(&c->bucket, qps, burst, ev_time());
}

void k8s_client_get_stats(const struct k8s_client *c, struct k8s_client_stats *out)
{
	*out = c->stats;
	if (c->limited_since > 0)
		out->throttled_seconds += ev_time() - c->limited_since;
}

const char *k8s_client_protocol(const struct k8s_client *c)
{
	return k8s_http_protocol(c->http);
}

size_t k8s_client_pending(const struct k8s_client *c)
{
	size_t n = 0;
	for (const struct k8s_request *r = c->head; r; r = r->next)
		n += !r->cancelled && !r->finishing;
	return n;
}

static void unqueue(struct k8s_request *r)
{
	struct k8s_client *c = r->c;
	struct k8s_request *prev = NULL;
	for (struct k8s_request *q = c->qhead; q; prev = q, q = q->qnext)
		if (q == r) {
			if (prev)
				prev->qnext = r->qnext;
			else
				c->qhead = r->qnext;
			if (c->qtail == r)
				c->qtail = prev;
			break;
		}
	r->queued = false;
	r->qnext = NULL;
}

/* Take r from the transport (it counted as active unless a watch). */
static void leave_multi(struct k8s_request *r)
{
	if (!r->in_multi)
		return;
	k8s_http_abort(r->xfer);
	r->xfer = NULL;
	r->in_multi = false;
	if (!r->watch)
		r->c->active--;
}

/* Whether a request other than a watch may be sent now: a free slot,
 * and a token (taken).  Without a token, the limit's timer is set for when
 * there will be one. */
static bool may_start(struct k8s_client *c)
{
	if (c->active >= K8S_MAX_ACTIVE)
		return false;
	double now = ev_time();
	double wait = k8s_bucket_take(&c->bucket, now);
	if (wait <= 0) {
		if (c->limited_since > 0) {
			c->stats.throttled_seconds += now - c->limited_since;
			c->limited_since = 0;
		}
		return true;
	}
	if (c->limited_since <= 0)
		c->limited_since = now;
	c->denials++;
	if (!ev_is_active(&c->limit_timer)) {
		ev_timer_set(&c->limit_timer, wait, 0.0);
		ev_timer_start(c->loop, &c->limit_timer);
	}
	return false;
}

static void send_request(struct k8s_request *r);

/* Send r now if it is a watch, or nothing waits before it and it may
 * start; else queue it. */
static void enter_multi(struct k8s_request *r)
{
	struct k8s_client *c = r->c;
	if (!r->watch && (c->qhead || !may_start(c))) {
		if (!r->queued) {
			r->queued = true;
			r->queued_at = ev_time();
			r->denials_at_queue = c->denials;
			if (c->qtail)
				c->qtail->qnext = r;
			else
				c->qhead = r;
			c->qtail = r;
		}
		return;
	}
	send_request(r);
}

/* For after_io(): r was created or cancelled while the transport was
 * busy. */
static void defer(struct k8s_request *r)
{
	struct k8s_client *c = r->c;
	if (r->deferred)
		return;
	r->deferred = true;
	r->snext = NULL;
	r->sprev = c->stail;
	if (c->stail)
		c->stail->snext = r;
	else
		c->shead = r;
	c->stail = r;
}

static void undefer(struct k8s_request *r)
{
	struct k8s_client *c = r->c;
	if (!r->deferred)
		return;
	if (r->sprev)
		r->sprev->snext = r->snext;
	else
		c->shead = r->snext;
	if (r->snext)
		r->snext->sprev = r->sprev;
	else
		c->stail = r->sprev;
	r->deferred = false;
	r->sprev = r->snext = NULL;
}

/* Off the client's done list. */
static void unlist_done(struct k8s_request *r)
{
	struct k8s_client *c = r->c;
	struct k8s_request *prev = NULL;
	for (struct k8s_request *q = c->dhead; q; prev = q, q = q->dnext)
		if (q == r) {
			if (prev)
				prev->dnext = r->dnext;
			else
				c->dhead = r->dnext;
			if (c->dtail == r)
				c->dtail = prev;
			break;
		}
	r->ended = false;
	r->dnext = NULL;
}

static void request_destroy(struct k8s_request *r)
{
	struct k8s_client *c = r->c;
	leave_multi(r);
	if (r->queued)
		unqueue(r);
	if (r->ended)
		unlist_done(r);
	undefer(r);
	ev_timer_stop(c->loop, &r->retry_timer);
	if (r->prev)
		r->prev->next = r->next;
	else
		c->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	k8s_watch_stream_free(&r->stream);
	free(r->method);
	free(r->path);
	free(r->url);
	free(r->content_type);
	free(r->req_body);
	free(r->body);
	free(r->abort_message);
	free(r->xdetail);
	free(r);
}

void k8s_client_free(struct k8s_client *c)
{
	if (!c)
		return;
	if (c->in_io)
		abort();  /* freed from inside one of its callbacks: see k8s_client.h */
	while (c->head)
		request_destroy(c->head);
	k8s_http_free(c->http);
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_stop(c->loop, &c->limit_timer);
	k8s_config_free(&c->cfg);
	free(c->user_agent);
	free(c);
}

void k8s_request_skip_object(struct k8s_request *r)
{
	if (r)
		r->skip_object = true;
}

void k8s_request_cancel(struct k8s_request *r)
{
	if (!r || r->cancelled || r->finishing)
		return;
	struct k8s_client *c = r->c;
	r->cancelled = true;
	if (!c->in_io) {
		request_destroy(r);
		/* A slot may have freed: let the timer start queued requests
		 * (not from here, inside the caller). */
		if (c->qhead) {
			ev_timer_stop(c->loop, &c->timer);
			ev_timer_set(&c->timer, 0., 0.);
			ev_timer_start(c->loop, &c->timer);
		}
	} else {
		defer(r);   /* after_io() destroys it */
	}
}

/* ------------------------------------------------------------------ */
/* responses */

static const char *status_text(long status)
{
	static const struct {
		long status;
		const char *text;
	} t[] = {
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
		{ 409, "Conflict" }, { 410, "Gone" }, { 413, "Request Entity Too Large" },
		{ 415, "Unsupported Media Type" }, { 422, "Unprocessable Entity" },
		{ 429, "Too Many Requests" }, { 500, "Internal Server Error" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (t[i].status == status)
			return t[i].text;
	return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "Unexpected";
}

/* Parse JSON text into a tree; NULL (and *why) when it is not JSON.
 * managedFields are left out as they are read: no reader needs them
 * (strip_object()). */
static struct tree *parse_json(const char *text, size_t len, char **why)
{
	return tree_parse_json(text, len, TREE_JSON_ANY | TREE_JSON_NO_MANAGED_FIELDS, why);
}

/* A short printable excerpt of a non-JSON body, for messages. */
static char *body_excerpt(const char *body, size_t len)
{
	size_t n = len < 200 ? len : 200;
	char *s = xmalloc(n + 4);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)body[i];
		s[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
	}
	strcpy(s + n, len > n ? "..." : "");
	return s;
}

/* An answer that asks to be asked later (429; 503 with Retry-After): set
 * r up to be sent again after the wait, unless it has been K8S_RETRY_MAX
 * times already.  Whether it will be. */
static bool request_retry(struct k8s_request *r, long status)
{
	if (status != 429 && status != 503)
		return false;
	struct k8s_client *c = r->c;
	char after[64];
	snprintf(after, sizeof(after), "%s", r->retry_after);
	double delay = k8s_retry_delay(status, after[0] ? after : NULL, r->attempts + 1,
				       time(NULL));
	if (delay < 0)
		return false;
	r->attempts++;
	c->stats.retries++;
	char code[16], wait[32], attempt[16];
	snprintf(code, sizeof(code), "%ld", status);
	snprintf(wait, sizeof(wait), "%gs", delay);
	snprintf(attempt, sizeof(attempt), "%u", r->attempts);
	/* Not a warning: the server sheds load and says when to come back. */
	log_info("API server busy; sending the request again", "method", r->method, "path",
		 r->path, "status", code, "retry_after", after, "in", wait, "attempt", attempt,
		 NULL);
	/* A fresh answer when it goes again. */
	r->status = 0;
	r->len = 0;
	r->retry_after[0] = '\0';
	free(r->xdetail);
	r->xdetail = NULL;
	r->delayed = true;
	ev_timer_set(&r->retry_timer, delay, 0.0);
	ev_timer_start(c->loop, &r->retry_timer);
	return true;
}

static void retry_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct k8s_request *r = (struct k8s_request *)((char *)w -
						       offsetof(struct k8s_request, retry_timer));
	(void)loop;
	(void)revents;
	r->delayed = false;
	enter_multi(r);
}

/* Build the response of a finished transfer and run the callback. */
static void request_finish(struct k8s_request *r)
{
	leave_multi(r);
	if (r->cancelled) {
		request_destroy(r);
		return;
	}
	long status = r->status;
	if (!r->abort_error && !r->stopped && r->xerror == K8S_OK && request_retry(r, status))
		return;
	if (!r->body) {
		r->body = xmalloc(1);
		r->cap = 1;
	}
	r->body[r->len] = '\0';

	struct k8s_response resp = {
		.status = status,
		.body = r->body,
		.body_len = r->len,
	};
	char *message = NULL;
	bool watch = r->on_event != NULL;
	if (r->abort_error) {
		resp.error = r->abort_error;
		message = xasprintf("%s %s: %s", r->method, r->url, r->abort_message);
	} else if (r->stopped) {
		resp.error = K8S_OK;
	} else if (r->xerror != K8S_OK) {
		resp.error = r->xerror;
		const char *detail = r->xdetail ? r->xdetail : k8s_error_name(r->xerror);
		const char *what = resp.error == K8S_ERR_TLS ? "TLS"
				 : resp.error == K8S_ERR_TIMEOUT ? "timeout"
				 : watch && status >= 200 && status < 300 ? "the stream broke"
				 : "connection";
		message = xasprintf("%s %s: %s: %s", r->method, r->url, what, detail);
	} else if (status < 200 || status > 299) {
		resp.error = K8S_ERR_HTTP;
		resp.object = r->len ? parse_json(r->body, r->len, NULL) : NULL;
		if (resp.object && resp.object->type == TREE_OBJECT) {
			resp.reason = tree_get_str(resp.object, "reason");
			resp.status_message = tree_get_str(resp.object, "message");
		}
		if (resp.status_message) {
			message = xasprintf("%s %s: %ld %s: %s", r->method, r->path, status,
					    status_text(status), resp.status_message);
		} else {
			char *ex = body_excerpt(r->body, r->len);
			message = xasprintf("%s %s: %ld %s%s%s", r->method, r->path, status,
					    status_text(status), ex[0] ? ": " : "", ex);
			free(ex);
		}
	} else if (watch) {
		if (k8s_watch_stream_end(&r->stream) < 0) {
			resp.error = K8S_ERR_PROTOCOL;
			message = xasprintf("%s %s: %s", r->method, r->path, r->stream.error);
		}
	} else if (r->len && !r->skip_object) {
		char *why = NULL;
		resp.object = parse_json(r->body, r->len, &why);
		if (!resp.object) {
			resp.error = K8S_ERR_PROTOCOL;
			message = xasprintf("%s %s: %ld response is not JSON: %s", r->method, r->path,
					    status, why);
			free(why);
		}
	}
	resp.message = message;
	r->finishing = true;
	if (r->done)
		r->done(&resp, r->arg);
	tree_free(resp.object);
	free(message);
	request_destroy(r);
}

static void after_io(struct k8s_client *c)
{
	if (c->in_io)
		return;
	while (c->dhead) {
		struct k8s_request *r = c->dhead;
		unlist_done(r);
		request_finish(r);  /* may add, cancel and finish others */
	}
	/* Requests cancelled or started while the transport was busy, oldest
	 * first (a new one queues behind those waiting); then queued ones as
	 * slots free up. */
	while (c->shead) {
		struct k8s_request *r = c->shead;
		undefer(r);
		if (r->cancelled)
			request_destroy(r);
		else if (!r->in_multi && !r->queued && !r->finishing && !r->delayed && !r->ended)
			enter_multi(r);
	}
	while (c->qhead && may_start(c)) {
		struct k8s_request *q = c->qhead;
		unqueue(q);
		if (c->denials != q->denials_at_queue) {
			char waited[32];
			snprintf(waited, sizeof(waited), "%.3fs", ev_time() - q->queued_at);
			c->stats.throttled_requests++;
			log_debug("API request waited for the client rate limit", "method",
				  q->method, "path", q->path, "waited", waited, NULL);
		}
		send_request(q);
	}
}

/* ------------------------------------------------------------------ */
/* requests */

static int deliver_event(struct k8s_event *ev, void *arg)
{
	struct k8s_request *r = arg;
	if (r->cancelled)
		return 1;
	int stop = r->on_event(ev, r->arg);
	if (stop && !r->cancelled)
		r->stopped = true;
	return stop || r->cancelled;
}

static void on_head(void *arg, long status, const char *retry_after)
{
	struct k8s_request *r = arg;
	r->status = status;
	snprintf(r->retry_after, sizeof(r->retry_after), "%s", retry_after ? retry_after : "");
}

/* Body bytes; non-zero ends the exchange. */
static int on_data(void *arg, const char *p, size_t n)
{
	struct k8s_request *r = arg;
	if (r->cancelled || r->stopped)
		return 1;
	if (r->on_event && r->status >= 200 && r->status <= 299) {
		int rc = k8s_watch_stream_feed(&r->stream, p, n, deliver_event, r);
		if (rc < 0) {
			r->abort_error = K8S_ERR_PROTOCOL;
			r->abort_message = xstrdup(r->stream.error);
			return 1;
		}
		return rc > 0;
	}
	if (n > r->max - r->len) {
		r->abort_error = K8S_ERR_PROTOCOL;
		r->abort_message = xasprintf("%ld response larger than %zu bytes", r->status, r->max);
		return 1;
	}
	if (r->cap - r->len <= n) {
		size_t cap = r->cap ? r->cap : 16384;
		while (cap - r->len <= n)
			cap *= 2;
		r->body = xrealloc(r->body, cap);
		r->cap = cap;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	return 0;
}

/* The exchange ended: r goes on the done list, finished by after_io(). */
static void on_done(void *arg, enum k8s_error error, const char *detail)
{
	struct k8s_request *r = arg;
	struct k8s_client *c = r->c;
	r->xfer = NULL;
	r->xerror = error;
	free(r->xdetail);
	r->xdetail = detail ? xstrdup(detail) : NULL;
	r->ended = true;
	r->dnext = NULL;
	if (c->dtail)
		c->dtail->dnext = r;
	else
		c->dhead = r;
	c->dtail = r;
}

static const struct k8s_http_handler request_handler = {
	.head = on_head,
	.data = on_data,
	.done = on_done,
};

/* Hand r to the transport.  The token is read now, so a queued request
 * goes out with the freshest one. */
static void send_request(struct k8s_request *r)
{
	struct k8s_client *c = r->c;
	char *token_err = NULL;
	const char *token = k8s_config_token(&c->cfg, &token_err);
	if (token_err) {
		log_warn("cannot read the API token; using the last one", "error", token_err, NULL);
		free(token_err);
	}
	struct k8s_http_request req = {
		.method = r->method,
		.path = r->path,
		.token = token,
		.content_type = r->req_body ? (r->content_type ? r->content_type : "application/json")
					    : NULL,
		.body = r->req_body,
		.body_len = r->req_body ? strlen(r->req_body) : 0,
		.timeout = r->timeout,
	};
	r->in_multi = true;
	if (!r->watch)
		c->active++;
	r->xfer = k8s_http_send(c->http, &req, &request_handler, r);
}

static struct k8s_request *request_start(struct k8s_client *c, const char *method,
					 const char *path, const char *content_type,
					 const char *body, double timeout, bool watch,
					 k8s_response_fn *done, void *arg)
{
	if (!c || !method || !path || path[0] != '/')
		return NULL;
	struct k8s_request *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->method = xstrdup(method);
	r->path = xstrdup(path);
	r->url = xasprintf("%s%s", c->cfg.server ? c->cfg.server : "", path);
	r->content_type = content_type ? xstrdup(content_type) : NULL;
	r->req_body = body ? xstrdup(body) : NULL;
	r->timeout = timeout;
	r->max = K8S_MAX_BODY;
	r->done = done;
	r->arg = arg;
	r->watch = watch;
	ev_timer_init(&r->retry_timer, retry_timer_cb, 0.0, 0.0);

	r->next = c->head;
	if (c->head)
		c->head->prev = r;
	c->head = r;
	if (!c->in_io)
		enter_multi(r);
	else
		defer(r);
	return r;
}

struct k8s_request *k8s_request(struct k8s_client *c, const char *method, const char *path,
				const char *content_type, const char *body,
				k8s_response_fn *done, void *arg)
{
	return request_start(c, method, path, content_type, body, c ? c->timeout : 0, false,
			     done, arg);
}

struct k8s_request *k8s_get(struct k8s_client *c, const char *path, k8s_response_fn *done,
			    void *arg)
{
	return k8s_request(c, "GET", path, NULL, NULL, done, arg);
}

struct k8s_request *k8s_create(struct k8s_client *c, const char *path, const char *json,
			       k8s_response_fn *done, void *arg)
{
	return json ? k8s_request(c, "POST", path, "application/json", json, done, arg) : NULL;
}

struct k8s_request *k8s_update(struct k8s_client *c, const char *path, const char *json,
			       k8s_response_fn *done, void *arg)
{
	return json ? k8s_request(c, "PUT", path, "application/json", json, done, arg) : NULL;
}

struct k8s_request *k8s_delete(struct k8s_client *c, const char *path, k8s_response_fn *done,
			       void *arg)
{
	return k8s_request(c, "DELETE", path, NULL, NULL, done, arg);
}

struct k8s_request *k8s_patch(struct k8s_client *c, const char *path, enum k8s_patch_type type,
			      const char *patch, k8s_response_fn *done, void *arg)
{
	static const char *const types[] = {
		[K8S_PATCH_MERGE] = "application/merge-patch+json",
		[K8S_PATCH_JSON] = "application/json-patch+json",
		[K8S_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
		[K8S_PATCH_APPLY] = "application/apply-patch+yaml",
	};
	if (!patch || (size_t)type >= ARRAY_SIZE(types))
		return NULL;
	return k8s_request(c, "PATCH", path, types[type], patch, done, arg);
}

/* path + "?" or "&" + the parameters given (values URL-encoded). */
struct query {
	char *s;
	bool first;
};

static void query_add(struct query *q, const char *key, const char *value)
{
	if (!value)
		return;
	char *v = k8s_http_escape(value);
	char *s = xasprintf("%s%c%s=%s", q->s, q->first ? '?' : '&', key, v);
	free(v);
	free(q->s);
	q->s = s;
	q->first = false;
}

static void query_init(struct query *q, const char *path)
{
	q->s = xstrdup(path);
	q->first = strchr(path, '?') == NULL;
}

struct k8s_request *k8s_list(struct k8s_client *c, const char *path,
			     const struct k8s_list_opts *o, k8s_response_fn *done, void *arg)
{
	static const struct k8s_list_opts none;
	if (!o)
		o = &none;
	if (!path)
		return NULL;
	struct query q;
	char limit[24];
	query_init(&q, path);
	query_add(&q, "resourceVersion", o->resource_version);
	query_add(&q, "resourceVersionMatch", o->resource_version_match);
	if (o->limit) {
		snprintf(limit, sizeof(limit), "%u", o->limit);
		query_add(&q, "limit", limit);
	}
	query_add(&q, "continue", o->continue_token);
	query_add(&q, "labelSelector", o->label_selector);
	query_add(&q, "fieldSelector", o->field_selector);
	struct k8s_request *r = request_start(c, "GET", q.s, NULL, NULL,
					      o->timeout > 0 ? o->timeout : c ? c->timeout : 0,
					      false, done, arg);
	free(q.s);
	return r;
}

const char *k8s_list_continue(const struct tree *list)
{
	const char *s = tree_get_str(tree_get(list, "metadata"), "continue");
	return s && s[0] ? s : NULL;
}

struct k8s_request *k8s_watch(struct k8s_client *c, const char *path,
			      const struct k8s_watch_opts *o, k8s_event_fn *on_event,
			      k8s_response_fn *done, void *arg)
{
	static const struct k8s_watch_opts none;
	if (!o)
		o = &none;
	if (!path || !on_event)
		return NULL;
	unsigned timeout = o->timeout_seconds ? o->timeout_seconds : 300;
	char ts[24];
	snprintf(ts, sizeof(ts), "%u", timeout);
	struct query q;
	query_init(&q, path);
	query_add(&q, "watch", "1");
	query_add(&q, "resourceVersion", o->resource_version);
	if (!o->no_bookmarks)
		query_add(&q, "allowWatchBookmarks", "true");
	query_add(&q, "timeoutSeconds", ts);
	query_add(&q, "labelSelector", o->label_selector);
	query_add(&q, "fieldSelector", o->field_selector);
	struct k8s_request *r = request_start(c, "GET", q.s, NULL, NULL,
					      (double)timeout + K8S_WATCH_MARGIN, true, done, arg);
	free(q.s);
	if (!r)
		return NULL;
	r->on_event = on_event;
	r->max = K8S_ERROR_BODY_MAX;
	k8s_watch_stream_init(&r->stream, o->max_object);
	return r;
}

/* ------------------------------------------------------------------ */
/* reflector */

enum refl_state { REFL_IDLE, REFL_LISTING, REFL_WATCHING, REFL_WAITING };

static const char *const refl_state_name[] = {
	[REFL_IDLE] = "idle",
	[REFL_LISTING] = "listing",
	[REFL_WATCHING] = "watching",
	[REFL_WAITING] = "waiting",
};

struct k8s_reflector {
	struct k8s_client *c;
	char *path, *label_selector, *field_selector;
	unsigned page_limit, watch_timeout;
	double backoff_initial, backoff_max;
	k8s_change_fn *on_change;
	k8s_reflector_synced_fn *on_synced;
	k8s_reflector_error_fn *on_error;
	void *arg;
	const char *const *keep;
	char *keep_whole_label;
	const char *const *keep_labelled;

	enum refl_state state;
	struct k8s_store *store;
	char *rv;                    /* where the store is */
	bool synced;
	unsigned lists;
	struct k8s_request *req;
	ev_timer timer;
	unsigned failures;           /* since the last stable watch */
	uint64_t rng;
	/* the list being collected */
	struct tree **items;
	size_t nitems;
	char *list_rv, *list_kind, *list_api_version, *continue_token;
	bool unpaged;                /* continue token expired: list in one go */
	bool resume;                 /* the timer watches from rv, instead of listing */
	unsigned resumes;            /* watches started again from rv after a failure */
	/* the watch */
	double watch_since;
	bool watch_gone;             /* a 410 ended it */
	bool watch_failed;           /* an ERROR event ended it */
};

static void refl_list(struct k8s_reflector *r);
static void refl_watch(struct k8s_reflector *r);

static void refl_set_state(struct k8s_reflector *r, enum refl_state s)
{
	if (r->state != s)
		log_debug("reflector state", "resource", r->path, "from", refl_state_name[r->state],
			  "to", refl_state_name[s], NULL);
	r->state = s;
}

static double refl_random(struct k8s_reflector *r)
{
	/* xorshift64*: jitter only, nothing secret */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return (double)((r->rng * 2685821657736338717ull) >> 11) / (double)(1ull << 53);
}

static void refl_drop_list(struct k8s_reflector *r)
{
	for (size_t i = 0; i < r->nitems; i++)
		tree_free(r->items[i]);
	free(r->items);
	r->items = NULL;
	r->nitems = 0;
	free(r->list_rv);
	free(r->list_kind);
	free(r->list_api_version);
	free(r->continue_token);
	r->list_rv = r->list_kind = r->list_api_version = r->continue_token = NULL;
}

static void refl_report(struct k8s_reflector *r, const struct k8s_response *resp)
{
	const char *why = resp->message ? resp->message : k8s_error_name(resp->error);

	/* 429: the API server asks to be asked later (a kind's storage still
	 * starting, throttling); the retry mends it, so no warning. */
	if (resp->status == 429)
		log_info("API server busy; listing and watching again later", "resource", r->path,
			 "answer", why, NULL);
	else
		log_warn("API list/watch failed", "resource", r->path, "error", why, NULL);
	if (r->on_error)
		r->on_error(resp, r->arg);
}

static void refl_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct k8s_reflector *r = (struct k8s_reflector *)((char *)w -
							   offsetof(struct k8s_reflector, timer));
	(void)loop;
	(void)revents;
	if (r->resume) {
		r->resume = false;
		r->resumes++;
		refl_watch(r);
	} else {
		refl_list(r);
	}
}

/* List again after the backoff; `now` lists at once the first time (410:
 * the usual way a watch ends for good, and nothing is wrong). */
static void refl_retry(struct k8s_reflector *r, bool now)
{
	struct ev_loop *loop = r->c->loop;
	if (r->state == REFL_WATCHING && ev_now(loop) - r->watch_since >= REFL_STABLE_SECONDS)
		r->failures = 0;
	double delay = 0;
	if (!now || r->failures > 0) {
		double base = r->backoff_initial;
		for (unsigned i = 0; i < r->failures && base < r->backoff_max; i++)
			base *= 2;
		if (base > r->backoff_max)
			base = r->backoff_max;
		delay = base * (0.5 + 0.5 * refl_random(r));
	}
	r->failures++;
	r->resume = false;
	refl_drop_list(r);
	refl_set_state(r, REFL_WAITING);
	ev_timer_stop(loop, &r->timer);
	ev_timer_set(&r->timer, delay, 0.0);
	ev_timer_start(loop, &r->timer);
}

static void refl_list_done(struct k8s_response *resp, void *arg);

static void refl_list_page(struct k8s_reflector *r)
{
	struct k8s_list_opts o = {
		.limit = r->unpaged ? 0 : r->page_limit,
		.continue_token = r->continue_token,
		.label_selector = r->label_selector,
		.field_selector = r->field_selector,
		.timeout = REFL_LIST_TIMEOUT,
	};
	r->req = k8s_list(r->c, r->path, &o, refl_list_done, r);
	if (!r->req) {
		struct k8s_response resp = { .error = K8S_ERR_CONNECT,
					     .message = "cannot start a list request" };
		refl_report(r, &resp);
		refl_retry(r, false);
	}
}

static void refl_list(struct k8s_reflector *r)
{
	refl_drop_list(r);
	refl_set_state(r, REFL_LISTING);
	refl_list_page(r);
}

/* The kind of the items of a List kind: "ServiceList" -> "Service". */
static char *item_kind(const char *list_kind)
{
	if (!list_kind || !str_has_suffix(list_kind, "List") || strlen(list_kind) <= 4)
		return NULL;
	return xstrndup(list_kind, strlen(list_kind) - 4);
}

/* What no reader of a store needs and costs the most memory: the
 * field-manager records (often larger than the object) and kubectl's
 * last-applied copy of the whole object, as client-go's informers are
 * commonly told to drop. */
static void strip_object(struct tree *o)
{
	struct tree *meta = tree_get(o, "metadata");
	tree_free(tree_object_take(meta, "managedFields"));
	tree_free(tree_object_take(tree_get(meta, "annotations"),
				   "kubectl.kubernetes.io/last-applied-configuration"));
}

/* Only what the reader asked for, but objects with keep_whole_label
 * whole, or with keep_labelled's members. */
static void refl_prune(const struct k8s_reflector *r, struct tree *o)
{
	if (!k8s_object_labelled(o, r->keep_whole_label))
		k8s_object_prune(o, r->keep);
	else if (r->keep_labelled)
		k8s_object_prune(o, r->keep_labelled);
}

static void refl_apply_list(struct k8s_reflector *r)
{
	k8s_store_replace_begin(r->store);
	for (size_t i = 0; i < r->nitems; i++) {
		struct tree *o = r->items[i];
		r->items[i] = NULL;
		if (k8s_store_replace_add(r->store, o, r->on_change, r->arg) < 0)
			log_warn("API list item without metadata.name ignored", "resource", r->path,
				 NULL);
	}
	k8s_store_replace_end(r->store, r->on_change, r->arg);
	free(r->rv);
	r->rv = xstrdup(r->list_rv ? r->list_rv : "");
	r->lists++;
	refl_drop_list(r);
}

static void refl_list_done(struct k8s_response *resp, void *arg)
{
	struct k8s_reflector *r = arg;
	r->req = NULL;
	if (resp->error) {
		if (resp->status == 410 && r->continue_token && !r->unpaged) {
			/* The continue token expired between pages: one list
			 * without pages (client-go does the same). */
			log_info("API list continue token expired; listing without pages",
				 "resource", r->path, NULL);
			r->unpaged = true;
			refl_list(r);
			return;
		}
		refl_report(r, resp);
		refl_retry(r, false);
		return;
	}
	struct tree *list = resp->object;
	struct tree *items = tree_get(list, "items");
	if (!list || list->type != TREE_OBJECT ||
	    (items && items->type != TREE_ARRAY && items->type != TREE_NULL)) {
		struct k8s_response bad = *resp;
		bad.error = K8S_ERR_PROTOCOL;
		bad.message = "the response to a list is not a List (no items array)";
		refl_report(r, &bad);
		refl_retry(r, false);
		return;
	}
	if (!r->list_kind) {
		r->list_kind = item_kind(tree_get_str(list, "kind"));
		r->list_api_version = xstrdup(tree_get_str(list, "apiVersion"));
	}
	for (size_t i = 0; items && items->type == TREE_ARRAY && i < items->n; i++) {
		struct tree *o = items->items[i];
		items->items[i] = NULL;
		if (o->type != TREE_OBJECT) {
			tree_free(o);
			continue;
		}
		if (r->list_kind && !tree_get(o, "kind"))
			tree_object_set(o, "kind", tree_new_string(r->list_kind, NULL, 0));
		if (r->list_api_version && !tree_get(o, "apiVersion"))
			tree_object_set(o, "apiVersion",
					tree_new_string(r->list_api_version, NULL, 0));
		strip_object(o);
		refl_prune(r, o);
		/* Packed as the store keeps it: the pages of a list wait
		 * here until the last one has come. */
		*VEC_PUSH(r->items, r->nitems) = tree_pack(o);
	}
	free(r->list_rv);
	r->list_rv = xstrdup(tree_get_str(tree_get(list, "metadata"), "resourceVersion"));
	const char *cont = k8s_list_continue(list);
	free(r->continue_token);
	r->continue_token = xstrdup(cont);
	if (cont && !r->unpaged) {
		refl_list_page(r);
		return;
	}
	r->unpaged = false;
	refl_apply_list(r);
	if (!r->synced) {
		r->synced = true;
		log_info("API resource synced", "resource", r->path, "resourceVersion", r->rv, NULL);
		if (r->on_synced)
			r->on_synced(r->arg);
	}
	refl_watch(r);
}

static int refl_event(struct k8s_event *ev, void *arg)
{
	struct k8s_reflector *r = arg;
	if (ev->type == K8S_EVENT_ERROR) {
		char *m = xasprintf("watch %s: ERROR event: %d %s: %s", r->path, ev->code,
				    ev->reason ? ev->reason : "", ev->message ? ev->message : "");
		struct k8s_response resp = {
			.error = K8S_ERR_HTTP,
			.status = ev->code,
			.message = m,
			.reason = ev->reason,
			.status_message = ev->message,
		};
		if (k8s_event_gone(ev)) {
			log_info("API watch expired; listing again", "resource", r->path, "error", m,
				 NULL);
			if (r->on_error)
				r->on_error(&resp, r->arg);
			r->watch_gone = true;
		} else {
			refl_report(r, &resp);
			r->watch_failed = true;
		}
		free(m);
		return 1;
	}
	const char *rv = k8s_object_resource_version(ev->object);
	if (rv) {
		free(r->rv);
		r->rv = xstrdup(rv);
	}
	if (ev->type != K8S_EVENT_BOOKMARK) {
		struct tree *o = ev->object;
		ev->object = NULL;
		strip_object(o);
		refl_prune(r, o);
		k8s_store_apply(r->store, ev->type, o, r->on_change, r->arg);
	}
	return 0;
}

/* Whether a watch that failed this way is started again from where the
 * store is, without a list: the connection broke, timed out or was
 * refused, the stream was cut inside an event, or the server answered
 * 429 or 5xx.  Every event before the break is in the store and the
 * resourceVersion with it, so a watch from there brings exactly what
 * came since; if the server no longer has that version, it says 410 and
 * the reflector lists.  A list of a large resource costs the API server
 * far more than a watch (client-go also watches again after a refused
 * connection or a 429). */
static bool refl_may_resume(const struct k8s_reflector *r, const struct k8s_response *resp)
{
	if (!r->synced || !r->rv || !r->rv[0])
		return false;
	switch (resp->error) {
	case K8S_ERR_CONNECT:
	case K8S_ERR_TIMEOUT:
	case K8S_ERR_PROTOCOL:
		return true;
	case K8S_ERR_HTTP:
		return resp->status == 429 || resp->status >= 500;
	default:
		return false;
	}
}

static void refl_watch_done(struct k8s_response *resp, void *arg)
{
	struct k8s_reflector *r = arg;
	r->req = NULL;
	if (r->watch_gone) {
		refl_retry(r, true);
	} else if (r->watch_failed) {
		refl_retry(r, false);
	} else if (resp->error == K8S_OK) {
		/* The server's timeoutSeconds: carry on from where we are. */
		r->failures = 0;
		refl_watch(r);
	} else if (resp->status == 410) {
		log_info("API watch expired; listing again", "resource", r->path, "error",
			 resp->message ? resp->message : "410 Gone", NULL);
		if (r->on_error)
			r->on_error(resp, r->arg);
		refl_retry(r, true);
	} else if (refl_may_resume(r, resp)) {
		refl_report(r, resp);
		refl_retry(r, false);
		r->resume = true;
	} else {
		refl_report(r, resp);
		refl_retry(r, false);
	}
}

static void refl_watch(struct k8s_reflector *r)
{
	unsigned timeout = r->watch_timeout;
	if (!timeout)
		timeout = 300 + (unsigned)(refl_random(r) * 300.0);
	struct k8s_watch_opts o = {
		.resource_version = r->rv,
		.label_selector = r->label_selector,
		.field_selector = r->field_selector,
		.timeout_seconds = timeout,
	};
	refl_set_state(r, REFL_WATCHING);
	r->watch_gone = r->watch_failed = false;
	r->watch_since = ev_now(r->c->loop);
	r->req = k8s_watch(r->c, r->path, &o, refl_event, refl_watch_done, r);
	if (!r->req) {
		struct k8s_response resp = { .error = K8S_ERR_CONNECT,
					     .message = "cannot start a watch request" };
		refl_report(r, &resp);
		refl_retry(r, false);
	}
}

struct k8s_reflector *k8s_reflector_new(struct k8s_client *c, const struct k8s_reflector_opts *o)
{
	if (!c || !o || !o->path || o->path[0] != '/')
		return NULL;
	struct k8s_reflector *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->path = xstrdup(o->path);
	r->label_selector = xstrdup(o->label_selector);
	r->keep = o->keep;
	r->keep_whole_label = xstrdup(o->keep_whole_label);
	r->keep_labelled = o->keep_labelled;
	r->field_selector = xstrdup(o->field_selector);
	r->page_limit = o->page_limit ? o->page_limit : REFL_PAGE_LIMIT;
	r->watch_timeout = o->watch_timeout;
	r->backoff_initial = o->backoff_initial > 0 ? o->backoff_initial : 0.5;
	r->backoff_max = o->backoff_max > 0 ? o->backoff_max : 30.0;
	if (r->backoff_max < r->backoff_initial)
		r->backoff_max = r->backoff_initial;
	r->on_change = o->on_change;
	r->on_synced = o->on_synced;
	r->on_error = o->on_error;
	r->arg = o->arg;
	r->store = k8s_store_new();
	r->rv = xstrdup("");
	r->rng = (uint64_t)(uintptr_t)r ^ ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	if (!r->rng)
		r->rng = 1;
	ev_timer_init(&r->timer, refl_timer_cb, 0.0, 0.0);
	return r;
}

void k8s_reflector_start(struct k8s_reflector *r)
{
	if (r->state == REFL_IDLE)
		refl_list(r);
}

void k8s_reflector_free(struct k8s_reflector *r)
{
	if (!r)
		return;
	k8s_request_cancel(r->req);
	ev_timer_stop(r->c->loop, &r->timer);
	refl_drop_list(r);
	k8s_store_free(r->store);
	free(r->rv);
	free(r->path);
	free(r->label_selector);
	free(r->keep_whole_label);
	free(r->field_selector);
	free(r);
}

const struct k8s_store *k8s_reflector_store(const struct k8s_reflector *r)
{
	return r->store;
}

bool k8s_reflector_synced(const struct k8s_reflector *r)
{
	return r->synced;
}

const char *k8s_reflector_resource_version(const struct k8s_reflector *r)
{
	return r->rv;
}

unsigned k8s_reflector_lists(const struct k8s_reflector *r)
{
	return r->lists;
}

unsigned k8s_reflector_resumes(const struct k8s_reflector *r)
{
	return r->resumes;
}
