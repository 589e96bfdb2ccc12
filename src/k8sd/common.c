/*
 * What controller and speaker write alike: Events and ConfigurationState
 * (see k8sd.h).
 */
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/hashmap.h"
#include "base/jw.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"
#include "http/server.h"
#include "k8sd/k8sd.h"

void k8sd_micro_time(char *buf, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06ldZ", stamp, ts.tv_nsec / 1000);
}

/* ------------------------------------------------------------------ */
/* Events */

/* Events under way, so that those still out when the client is freed
 * (cancelled without callbacks) are freed too. */
struct event_req {
	char *what;
	struct event_req *prev, *next;
};

static struct event_req *events_out;

static void event_req_free(struct event_req *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		events_out = e->next;
	if (e->next)
		e->next->prev = e->prev;
	free(e->what);
	free(e);
}

void k8sd_log_api_retry(const char *what, const char *key, const char *value,
			const struct k8s_response *resp)
{
	bool busy = resp->status == 429;
	enum log_level l = busy ? LOG_INFO : LOG_WARN;
	const char *msg = busy ? "API server busy; the request is sent again later"
			       : "API request failed";
	const char *why = busy ? "answer" : "error";

	if (key)
		log_msg(l, msg, "what", what, key, value, why, resp->message, NULL);
	else
		log_msg(l, msg, "what", what, why, resp->message, NULL);
}

static void on_event_done(struct k8s_response *resp, void *arg)
{
	struct event_req *e = arg;
	if (resp->error != K8S_OK)
		log_warn("API request failed", "what", e->what, "error", resp->message, NULL);
	event_req_free(e);
}

void k8sd_events_forget(void)
{
	while (events_out)
		event_req_free(events_out);
}

/* Event notes are limited to 1 KiB by the API server. */
#define NOTE_MAX 1024

static void post_event(struct k8s_client *c, const char *reporting_controller,
		       const char *instance, const char *api_version, const char *kind,
		       const struct tree *obj, const char *ns, const char *name,
		       const char *type, const char *reason, const char *message)
{
	char when[64];
	k8sd_micro_time(when, sizeof(when));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	const char *uid = obj ? tree_get_str(tree_get(obj, "metadata"), "uid") : NULL;
	const char *rv = obj ? tree_get_str(tree_get(obj, "metadata"), "resourceVersion") : NULL;
	char note[NOTE_MAX];
	if (strlen(message) >= NOTE_MAX)
		snprintf(note, sizeof(note), "%.*s...", NOTE_MAX - 4, message);
	else
		snprintf(note, sizeof(note), "%s", message);
	/* Unique names as client-go's recorder makes them: object name and a
	 * timestamp in hex (plus a counter for events of the same instant). */
	static unsigned seq;
	char *gen = xasprintf("%s.%llx", name,
			      (unsigned long long)ts.tv_sec * 1000000000ull +
				      (unsigned long long)ts.tv_nsec + seq++);
	/* Written with jw: a jansson tree and its dump were most of the cost
	 * of an event. */
	struct jw w;
	jw_init(&w, false);
	jw_obj_begin(&w);
	jw_key(&w, "apiVersion");
	jw_str(&w, "events.k8s.io/v1");
	jw_key(&w, "kind");
	jw_str(&w, "Event");
	jw_key(&w, "metadata");
	jw_obj_begin(&w);
	jw_key(&w, "name");
	jw_str(&w, gen);
	jw_key(&w, "namespace");
	jw_str(&w, ns);
	jw_obj_end(&w);
	static const char *const keys[] = {"eventTime", "reportingController", "reportingInstance",
					   "action", "reason", "note", "type"};
	const char *vals[] = {when, reporting_controller, instance, reason, reason, note, type};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		jw_key(&w, keys[i]);
		jw_str(&w, vals[i]);
	}
	jw_key(&w, "regarding");
	jw_obj_begin(&w);
	const char *rkeys[] = {"apiVersion", "kind", "namespace", "name", "uid", "resourceVersion"};
	const char *rvals[] = {api_version, kind, ns, name, uid, rv};
	for (size_t i = 0; i < ARRAY_SIZE(rkeys); i++) {
		if (!rvals[i])
			continue;   /* uid and resourceVersion when known */
		jw_key(&w, rkeys[i]);
		jw_str(&w, rvals[i]);
	}
	jw_obj_end(&w);
	jw_obj_end(&w);
	free(gen);
	char *body = jw_finish(&w, NULL);
	char *path = xasprintf("/apis/events.k8s.io/v1/namespaces/%s/events", ns);
	struct event_req *er = xcalloc(1, sizeof(*er));
	er->what = xasprintf("event %s for %s/%s", reason, ns, name);
	er->next = events_out;
	if (events_out)
		events_out->prev = er;
	events_out = er;
	struct k8s_request *req = k8s_create(c, path, body, on_event_done, er);
	if (!req)
		event_req_free(er);
	k8s_request_skip_object(req);
	free(path);
	free(body);
}

void k8sd_post_event_on(struct k8s_client *c, const char *reporting_controller,
			const char *instance, const char *api_version, const char *kind,
			const struct tree *obj, const char *ns, const char *name,
			const char *type, const char *reason, const char *message)
{
	post_event(c, reporting_controller, instance, api_version, kind, obj, ns, name, type,
		   reason, message);
}

void k8sd_post_event(struct k8s_client *c, const char *reporting_controller,
		     const char *instance, const struct tree *svc, const char *ns,
		     const char *name, const char *type, const char *reason,
		     const char *message)
{
	post_event(c, reporting_controller, instance, "v1", "Service", svc, ns, name, type, reason,
		   message);
}

/* ------------------------------------------------------------------ */
/* the reflectors feeding the pipeline, and a step */

void k8sd_feed(struct pipeline *p, enum k8s_change change, const struct tree *obj)
{
	if (change != K8S_CHANGE_DELETED) {
		/* The watch cache's object is read-only: shared, not copied. */
		pipeline_upsert(p, K8SD_SOURCE_OBJECTS, tree_ref((struct tree *)obj));
		return;
	}
	const struct tree *meta = tree_get(obj, "metadata");
	pipeline_delete(p, K8SD_SOURCE_OBJECTS, tree_get_str(obj, "kind"),
			tree_get_str(meta, "namespace"), tree_get_str(meta, "name"));
}

/* Stored-object changes since the last trim, and the timer that trims
 * once they stop (one per process: one loop). */
static unsigned heap_changes;
static ev_timer heap_quiet_w;

static void heap_trim(void)
{
	heap_changes = 0;
	malloc_trim(0);
}

static void on_heap_quiet(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	ev_timer_stop(loop, w);
	if (heap_changes)
		heap_trim();
}

void k8sd_heap_changed(struct ev_loop *loop)
{
	if (++heap_changes >= K8SD_TRIM_EVERY)
		heap_trim();
	if (!heap_quiet_w.repeat)   /* not set up yet */
		ev_timer_init(&heap_quiet_w, on_heap_quiet, 0., K8SD_TRIM_QUIET);
	ev_timer_again(loop, &heap_quiet_w);   /* K8SD_TRIM_QUIET from now */
}

void k8sd_status_memory(struct jw *w, struct k8s_reflector *const *refl, size_t nrefl)
{
	size_t objects = 0, bytes = 0;
	for (size_t i = 0; i < nrefl; i++) {
		if (!refl[i])
			continue;
		objects += k8s_store_count(k8s_reflector_store(refl[i]));
		bytes += k8s_store_bytes(k8s_reflector_store(refl[i]));
	}
	struct mallinfo2 mi = mallinfo2();
	jw_kint(w, "stored_objects", (long long)objects);
	jw_kint(w, "stored_bytes", (long long)bytes);
	jw_kint(w, "heap_in_use_bytes", (long long)(mi.uordblks + mi.hblkhd));
	jw_kint(w, "heap_free_bytes", (long long)mi.fordblks);
}

static void collect_obj(const char *key, const struct tree *obj, void *arg)
{
	struct tree_vec_ {
		size_t n;
		struct tree **t;
	} *v = arg;
	(void)key;
	*VEC_PUSH(v->t, v->n) = tree_ref((struct tree *)obj);
}

void k8sd_feed_config(struct pipeline *p, struct k8s_reflector *const *refl, size_t nrefl)
{
	struct {
		size_t n;
		struct tree **t;
	} objs = {0};
	/* Reflector by reflector, each in key order (namespace/name): the
	 * order depends on the objects alone, never on when they arrived, so
	 * that a restart takes the same pool as "the later one" of two that
	 * overlap. */
	for (size_t i = 0; i < nrefl; i++)
		k8s_store_foreach(k8s_reflector_store(refl[i]), collect_obj, &objs);
	pipeline_source_set(p, K8SD_SOURCE_CONFIG, objs.t, objs.n);
	free(objs.t);
}

void k8sd_feed_all(struct pipeline *p, struct k8s_reflector *const *refl, size_t nrefl)
{
	struct {
		size_t n;
		struct tree **t;
	} objs = {0};
	for (size_t i = 0; i < nrefl; i++)
		k8s_store_foreach(k8s_reflector_store(refl[i]), collect_obj, &objs);
	pipeline_source_set(p, K8SD_SOURCE_OBJECTS, objs.t, objs.n);
	free(objs.t);
}

/* The problems worth a line: every error after a whole pass; after a
 * step, those of the Services it changed. */
static void log_problems(const struct pipeline_live *live, const struct pipeline_step *st)
{
	struct hashmap only;
	hashmap_init(&only, false);
	for (size_t i = 0; !st->full && i < st->nreplan; i++)
		hashmap_put_str(&only, st->replan[i], st->replan[i], NULL);
	for (size_t i = 0; i < live->diags.n && (st->full || hashmap_count(&only)); i++) {
		const struct diag *g = &live->diags.items[i];
		if (g->level != DIAG_ERROR)
			continue;
		if (!st->full) {
			if (g->kind != KIND_SERVICE || !g->obj_name)
				continue;
			char key[512];
			snprintf(key, sizeof(key), "%s/%s",
				 g->obj_namespace ? g->obj_namespace : "default", g->obj_name);
			if (!hashmap_get_str(&only, key))
				continue;
		}
		char *line = diag_format(g);
		log_warn("configuration problem", "error", line, NULL);
		free(line);
	}
	hashmap_clear(&only);
}

bool k8sd_step(struct pipeline *p, struct alloc *a, struct pipeline_live *live,
	       struct k8sd_cstate *cs, json_t **verdict, struct pipeline_step *st)
{
	pipeline_step(p, a, live, NULL, NULL, st);
	log_problems(live, st);
	const struct pipeline_verdict *v = &live->verdict;
	bool invalid = v->config != PIPELINE_CONFIG_VALID;
	/* A step takes only good Services: the verdict is the last whole
	 * pass's. */
	if (!st->full && *verdict)
		return invalid;
	json_decref(*verdict);
	*verdict = pipeline_verdict_json(v);
	char *errors = xstrdup("");
	for (size_t i = 0; i < v->nconfig_errors; i++) {
		char *e = xasprintf("%s%s%s", errors, *errors ? "\n" : "", v->config_errors[i]);
		free(errors);
		errors = e;
	}
	k8sd_cstate_set(cs, !invalid, errors);
	free(errors);
	return invalid;
}

/* ------------------------------------------------------------------ */
/* ConfigurationState */

struct k8sd_cstate {
	struct k8s_client *client;
	char *ns, *name, *component, *node;
	void (*retry)(void *arg);
	void *arg;
	char *reporter, *instance;   /* for Events */
	bool was_invalid;            /* what the last Event said */
	/* What was last sent ("Valid\n" or "Invalid\n<errors>"), NULL when
	 * nothing was (or it failed). */
	char *sent;
	struct cs_req *pending;   /* requests under way, cancelled at free */
	/* A newer status waits for the request under way: two PATCHes in
	 * flight at once may reach the API server in either order, and the
	 * older one would win. */
	bool dirty;
	/* The object on the server has been read since the start (or the
	 * last reset): until then what it holds is unknown, and a restart
	 * into an unchanged configuration must not write it again. */
	bool checked;
};

struct cs_req {
	struct k8sd_cstate *s;
	bool reading;     /* the GET before the first write */
	bool may_create;
	bool creating;
	struct k8s_request *req;
	struct cs_req *next;
};

static void cs_send(struct k8sd_cstate *s, bool may_create);

static struct cs_req *cs_req_new(struct k8sd_cstate *s)
{
	struct cs_req *r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->next = s->pending;
	s->pending = r;
	return r;
}

static void cs_req_unlink(struct cs_req *r)
{
	for (struct cs_req **p = &r->s->pending; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
}

static void cs_failed(struct k8sd_cstate *s, const char *what, const struct k8s_response *resp)
{
	k8sd_log_api_retry(what, "name", s->name, resp);
	free(s->sent);
	s->sent = NULL;
	/* 404: the CRD is not installed; the next change tries again. */
	if (resp->status != 404 && s->retry)
		s->retry(s->arg);
}

static void on_cs_done(struct k8s_response *resp, void *arg)
{
	struct cs_req *r = arg;
	struct k8sd_cstate *s = r->s;
	cs_req_unlink(r);
	if (r->reading) {
		/* Write only what the object does not hold already; anything
		 * but an answer that shows it (404, a failure) writes. */
		s->checked = true;
		const struct tree *st = resp->error == K8S_OK ? tree_get(resp->object, "status")
							      : NULL;
		const char *result = tree_get_str(st, "result");
		const char *summary = tree_get_str(st, "errorSummary");
		char *have = result ? xasprintf("%s\n%s", result, summary ? summary : "") : NULL;
		if (!have || !s->sent || strcmp(have, s->sent) != 0)
			s->dirty = true;
		else
			log_debug("ConfigurationState holds the status already; not written",
				  "name", s->name, NULL);
		free(have);
	} else if (r->creating) {
		if (resp->error == K8S_OK ||
		    (resp->reason && strcmp(resp->reason, "AlreadyExists") == 0))
			cs_send(s, false);
		else
			cs_failed(s, "ConfigurationState create", resp);
	} else if (resp->error != K8S_OK) {
		if (r->may_create && resp->reason && strcmp(resp->reason, "NotFound") == 0) {
			json_t *labels = json_pack("{s:s}", "metallb.io/component-type",
						   s->component);
			if (s->node)
				json_object_set_new(labels, "metallb.io/node-name",
						    json_string(s->node));
			json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}}", "apiVersion",
					      "metallb.io/v1beta1", "kind", "ConfigurationState",
					      "metadata", "name", s->name, "namespace", s->ns,
					      "labels", labels);
			char *body = json_dumps(o, JSON_COMPACT);
			json_decref(o);
			char *path = xasprintf(
				"/apis/metallb.io/v1beta1/namespaces/%s/configurationstates", s->ns);
			struct cs_req *n = cs_req_new(s);
			n->creating = true;
			n->req = k8s_create(s->client, path, body, on_cs_done, n);
			k8s_request_skip_object(n->req);
			if (!n->req) {
				cs_req_unlink(n);
				free(n);
			}
			free(path);
			free(body);
		} else {
			cs_failed(s, "ConfigurationState status", resp);
		}
	}
	free(r);
	if (!s->pending && s->dirty) {
		s->dirty = false;
		cs_send(s, true);
	}
}

/* PATCH the status from s->sent; when the object is missing, create it
 * (may_create) and patch again. */
static void cs_send(struct k8sd_cstate *s, bool may_create)
{
	if (!s->sent)
		return;
	if (s->pending) {
		s->dirty = true;   /* sent when the one under way is done */
		return;
	}
	if (!s->checked) {
		char *path = xasprintf(
			"/apis/metallb.io/v1beta1/namespaces/%s/configurationstates/%s", s->ns,
			s->name);
		struct cs_req *r = cs_req_new(s);
		r->reading = true;
		r->req = k8s_get(s->client, path, on_cs_done, r);
		free(path);
		if (r->req)
			return;
		cs_req_unlink(r);
		free(r);
		s->checked = true;
	}
	const char *nl = strchr(s->sent, '\n');
	char *result = xasprintf("%.*s", (int)(nl - s->sent), s->sent);
	json_t *p = json_pack("{s:{s:s, s:s}}", "status", "result", result, "errorSummary",
			      nl + 1);
	free(result);
	char *body = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	char *path = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/configurationstates/%s/status",
			       s->ns, s->name);
	struct cs_req *r = cs_req_new(s);
	r->may_create = may_create;
	r->req = k8s_patch(s->client, path, K8S_PATCH_MERGE, body, on_cs_done, r);
	k8s_request_skip_object(r->req);
	if (!r->req) {
		cs_req_unlink(r);
		free(r);
	}
	free(path);
	free(body);
}

struct k8sd_cstate *k8sd_cstate_new(struct k8s_client *c, const char *ns, const char *name,
				    const char *component, const char *node,
				    const char *reporter, const char *instance,
				    void (*retry)(void *arg), void *arg)
{
	struct k8sd_cstate *s = xcalloc(1, sizeof(*s));
	s->reporter = xstrdup(reporter);
	s->instance = xstrdup(instance);
	s->client = c;
	s->ns = xstrdup(ns);
	s->name = xstrdup(name);
	s->component = xstrdup(component);
	s->node = node ? xstrdup(node) : NULL;
	s->retry = retry;
	s->arg = arg;
	return s;
}

void k8sd_cstate_set(struct k8sd_cstate *s, bool valid, const char *errors)
{
	char *want = xasprintf("%s\n%s", valid ? "Valid" : "Invalid", valid ? "" : errors);
	if (s->sent && strcmp(s->sent, want) == 0) {
		free(want);
		return;
	}
	free(s->sent);
	s->sent = want;
	cs_send(s, true);
	/* An Event on the ConfigurationState when the verdict changes (and
	 * for the first invalid one), so `kubectl get events` shows it too. */
	if (!valid || s->was_invalid) {
		char *msg = valid ? xstrdup("the configuration is valid again")
				  : xasprintf("the configuration has errors; the last valid one "
					      "stays in force: %s", errors);
		post_event(s->client, s->reporter, s->instance, "metallb.io/v1beta1",
			   "ConfigurationState", NULL, s->ns, s->name, valid ? "Normal" : "Warning",
			   valid ? "ConfigurationValid" : "ConfigurationInvalid", msg);
		free(msg);
	}
	s->was_invalid = !valid;
}

void k8sd_cstate_reset(struct k8sd_cstate *s)
{
	free(s->sent);
	s->sent = NULL;
	s->checked = false;
}

void k8sd_cstate_free(struct k8sd_cstate *s)
{
	if (!s)
		return;
	while (s->pending) {
		struct cs_req *r = s->pending;
		s->pending = r->next;
		k8s_request_cancel(r->req);
		free(r);
	}
	free(s->sent);
	free(s->reporter);
	free(s->instance);
	free(s->ns);
	free(s->name);
	free(s->component);
	free(s->node);
	free(s);
}

int k8sd_listen_address(const char *cmd, const char **listen, const char *dflt, const char *host,
			char **owned)
{
	char *why = NULL;
	*owned = NULL;
	if (!*listen)
		*listen = dflt;
	if (!host)
		return 0;
	if (http_listen_with_host(*listen, host, owned, &why) != 0) {
		fprintf(stderr, "ironlb %s: --metrics-host: %s\n", cmd, why);
		free(why);
		return -1;
	}
	*listen = *owned;
	return 0;
}

int k8sd_rate_option(const char *cmd, int opt, const char *text, double *qps, unsigned *burst)
{
	const char *name = opt == OPT_KUBE_API_QPS ? "kube-api-qps" : "kube-api-burst";
	char *end;
	errno = 0;
	if (opt == OPT_KUBE_API_QPS) {
		double v = strtod(text, &end);
		if (errno || end == text || *end || !(v >= 0) || v > 1e6) {
			fprintf(stderr,
				"ironlb %s: bad --%s \"%s\" (requests a second, a number from 0 "
				"to 1000000; 0 = no limit)\n", cmd, name, text);
			return -1;
		}
		*qps = v;
		return 0;
	}
	unsigned long v = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || v < 1 || v > 1000000) {
		fprintf(stderr, "ironlb %s: bad --%s \"%s\" (requests at once, 1 to 1000000)\n",
			cmd, name, text);
		return -1;
	}
	*burst = (unsigned)v;
	return 0;
}

static void collect_throttled_seconds(struct metrics_family *fam, void *arg)
{
	struct k8s_client_stats st;
	k8s_client_get_stats(arg, &st);
	metrics_add(fam, NULL, st.throttled_seconds);
}

static void collect_throttled_requests(struct metrics_family *fam, void *arg)
{
	struct k8s_client_stats st;
	k8s_client_get_stats(arg, &st);
	metrics_add(fam, NULL, (double)st.throttled_requests);
}

static void collect_retries(struct metrics_family *fam, void *arg)
{
	struct k8s_client_stats st;
	k8s_client_get_stats(arg, &st);
	metrics_add(fam, NULL, (double)st.retries);
}

void k8sd_client_metrics(struct metrics_registry *reg, struct k8s_client *c)
{
	static const struct {
		const char *name, *help;
		void (*fn)(struct metrics_family *fam, void *arg);
	} fams[] = {
		{"ironlb_k8s_client_throttled_seconds_total",
		 "Seconds requests to the API server waited for the client-side rate limit "
		 "(--kube-api-qps, --kube-api-burst).", collect_throttled_seconds},
		{"ironlb_k8s_client_throttled_requests_total",
		 "Requests to the API server that waited for the client-side rate limit.",
		 collect_throttled_requests},
		{"ironlb_k8s_client_retries_total",
		 "Answers 429 (or 503 with Retry-After) from the API server whose request was "
		 "sent again after the time the server asked for.", collect_retries},
	};
	for (size_t i = 0; i < ARRAY_SIZE(fams); i++) {
		struct metrics_family *f =
			metrics_family_add(reg, fams[i].name, fams[i].help, METRICS_COUNTER, NULL);
		if (f)
			metrics_family_set_collector(f, fams[i].fn, c);
	}
}
