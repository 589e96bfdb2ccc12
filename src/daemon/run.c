/*
 * `ironlb run`: the standalone daemon (see daemon.h for the data flow).
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "alloc/alloc_metrics.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/announcer.h"
#include "daemon/state.h"
#include "base/metrics.h"
#include "http/server.h"
#include "manifest/manifest.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "reconcile/reconciler.h"

/* Events kept per Service for /status, newest last. */
#define EVENTS_KEPT 8

struct svc_events {
	char *key; /* "ns/name" */
	size_t n;
	struct alloc_event ev[EVENTS_KEPT];
};

struct daemon {
	const struct daemon_opts *o;
	struct ev_loop *loop;

	/* The manifest directory feeds the pipeline (pipeline.h), which keeps
	 * the last good configuration and Services and judges every reload. */
	struct pipeline *pipe;
	/* what is in force: the model of the last pass that ran, and its
	 * allocations (one per model.services) */
	bool have_model;
	struct model model;
	struct alloc_result *results;

	/* what the last reload said: its problems and its verdict (a pass
	 * whose model and results moved above) */
	struct diag_list diags;
	struct pipeline_pass judged;
	bool stale;
	unsigned long reloads, reload_failures;
	double last_reload;   /* wall clock of the last reload attempt */
	double last_applied;  /* wall clock the last good model was applied */

	struct alloc *alloc;
	struct state saved;   /* what the state file holds */
	struct state adopt;   /* loaded at start: addresses to adopt */
	size_t nevents, nevents_sorted;
	struct svc_events *events; /* sorted by key up to nevents_sorted */

	struct announcer *ann;

	struct metrics_registry *reg;
	struct metrics_family *m_loaded, *m_stale, *m_updates, *m_update_errors;
	struct alloc_metrics am;
	struct http_server *http;

	int inotify_fd;
	int watch;
	ev_io inotify_w;
	struct reconciler *rec;   /* when reloads run; signals */
	const char *trigger;      /* why the next reload runs ("start", "SIGHUP") */
	int exit_code;
};

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* events per Service */

static int events_cmp(const void *a, const void *b)
{
	return strcmp(((const struct svc_events *)a)->key, ((const struct svc_events *)b)->key);
}

/* Looked up in the sorted prefix; Services new in this reload are
 * appended and sorted in once by events_sort(), so a reload of n new
 * Services costs n log n, not n^2. */
static struct svc_events *events_find(struct daemon *d, const char *key)
{
	struct svc_events k = {.key = (char *)key};
	return xbsearch(&k, d->events, d->nevents_sorted, sizeof(k), events_cmp);
}

static void events_sort(struct daemon *d)
{
	xqsort(d->events, d->nevents, sizeof(*d->events), events_cmp);
	d->nevents_sorted = d->nevents;
}

static void events_record(struct daemon *d, const char *key, const struct alloc_event *ev)
{
	struct svc_events *se = events_find(d, key);
	if (!se) {
		/* Each Service's events are recorded in one run of its results,
		 * so a key is appended at most once per reload. */
		if (d->nevents > d->nevents_sorted &&
		    strcmp(d->events[d->nevents - 1].key, key) == 0)
			se = &d->events[d->nevents - 1];
		else {
			se = VEC_PUSH(d->events, d->nevents);
			se->key = xstrdup(key);
		}
	}
	if (se->n == EVENTS_KEPT) {
		free(se->ev[0].type);
		free(se->ev[0].reason);
		free(se->ev[0].message);
		memmove(&se->ev[0], &se->ev[1], (EVENTS_KEPT - 1) * sizeof(se->ev[0]));
		se->n--;
	}
	se->ev[se->n].type = xstrdup(ev->type);
	se->ev[se->n].reason = xstrdup(ev->reason);
	se->ev[se->n].message = xstrdup(ev->message);
	se->n++;
}

static void events_free(struct daemon *d)
{
	for (size_t i = 0; i < d->nevents; i++) {
		for (size_t k = 0; k < d->events[i].n; k++) {
			free(d->events[i].ev[k].type);
			free(d->events[i].ev[k].reason);
			free(d->events[i].ev[k].message);
		}
		free(d->events[i].key);
	}
	free(d->events);
	d->events = NULL;
	d->nevents = d->nevents_sorted = 0;
}

/* ------------------------------------------------------------------ */
/* metrics */

static void metrics_setup(struct daemon *d)
{
	d->reg = metrics_registry_new();
	alloc_metrics_register(&d->am, d->reg);
	d->m_loaded = d->am.config_loaded;
	d->m_stale = d->am.config_stale;
	d->m_updates = d->am.updates;
	d->m_update_errors = d->am.update_errors;
}

static void metrics_update(struct daemon *d)
{
	metrics_set(d->m_loaded, NULL, d->have_model ? 1 : 0);
	metrics_set(d->m_stale, NULL, d->stale ? 1 : 0);

	alloc_metrics_update_pools(&d->am, d->alloc);
}

/* ------------------------------------------------------------------ */
/* state file */

static void state_collect(const char *ns, const char *name, size_t naddrs,
			  const struct ip_addr *addrs, char *const *pools, void *arg)
{
	state_add(arg, ns, name, naddrs, addrs, pools);
}

static bool state_equal(const struct state *a, const struct state *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct state_entry *x = &a->entries[i], *y = &b->entries[i];
		if (strcmp(x->namespace_, y->namespace_) || strcmp(x->name, y->name) ||
		    x->naddrs != y->naddrs)
			return false;
		for (size_t k = 0; k < x->naddrs; k++)
			if (!ip_eq(&x->addrs[k], &y->addrs[k]) || strcmp(x->pools[k], y->pools[k]))
				return false;
	}
	return true;
}

static void state_persist(struct daemon *d)
{
	if (!d->o->state_path)
		return;
	struct state now = {0};
	alloc_foreach(d->alloc, state_collect, &now);
	if (state_equal(&now, &d->saved)) {
		state_free(&now);
		return;
	}
	char *why = NULL;
	if (state_save(d->o->state_path, d->o->node_name, &now, &why) != 0) {
		log_error("cannot save state; allocations will be redone on restart", "path",
			  d->o->state_path, "error", why, NULL);
		free(why);
		state_free(&now);
		return;
	}
	state_free(&d->saved);
	d->saved = now;
	char n[32];
	snprintf(n, sizeof(n), "%zu", now.n);
	log_debug("state saved", "path", d->o->state_path, "services", n, NULL);
}

/* ------------------------------------------------------------------ */
/* applying a model */

static void svc_key(const struct service *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", s->meta.namespace_, s->meta.name);
}

static int svc_ptr_cmp(const void *a, const void *b)
{
	const struct service *x = *(const struct service *const *)a;
	const struct service *y = *(const struct service *const *)b;
	int c = strcmp(x->meta.namespace_, y->meta.namespace_);
	return c ? c : strcmp(x->meta.name, y->meta.name);
}

static void free_results(struct alloc_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		alloc_result_free(&r[i]);
	free(r);
}

/* Record (and log) a Service's event; a failure repeated by every reload
 * is recorded once. */
static void service_event(struct daemon *d, const char *key, const struct alloc_event *ev)
{
	enum log_level lvl = strcmp(ev->type, "Warning") == 0 ? LOG_WARN : LOG_INFO;
	log_msg(lvl, ev->message, "service", key, "reason", ev->reason, NULL);
	const struct svc_events *se = events_find(d, key);
	if (!se && d->nevents > d->nevents_sorted &&
	    strcmp(d->events[d->nevents - 1].key, key) == 0)
		se = &d->events[d->nevents - 1];
	if (se && se->n && strcmp(ev->reason, "AllocationFailed") == 0 &&
	    strcmp(se->ev[se->n - 1].reason, ev->reason) == 0 &&
	    strcmp(se->ev[se->n - 1].message, ev->message) == 0)
		return;
	events_record(d, key, ev);
}

/* Put the pass's model in force: allocate (after adopting what the state
 * file holds), record events, announce.  The model and results move into
 * d; the previous ones are freed. */
static void apply_model(struct daemon *d, struct pipeline_pass *ps)
{
	struct model *m = &ps->model;
	struct model old_model = d->model;
	struct alloc_result *old_results = d->results;
	size_t old_n = d->have_model ? old_model.nservices : 0;

	/* Services that went away (looked up in the new model sorted by
	 * namespace/name: reloads of 10,000 Services must stay linear-ish). */
	if (d->have_model) {
		const struct service **now = xcalloc(m->nservices ? m->nservices : 1, sizeof(*now));
		for (size_t i = 0; i < m->nservices; i++)
			now[i] = &m->services[i];
		xqsort(now, m->nservices, sizeof(*now), svc_ptr_cmp);
		for (size_t i = 0; i < old_model.nservices; i++) {
			const struct service *s = &old_model.services[i];
			if (xbsearch(&s, now, m->nservices, sizeof(*now), svc_ptr_cmp))
				continue;
			char key[512];
			svc_key(s, key, sizeof(key));
			alloc_release(d->alloc, s->meta.namespace_, s->meta.name);
			log_info("service removed; addresses released", "service", key, NULL);
		}
		free(now);
	}

	/* Adopt what the state file says for Services that hold nothing. */
	for (size_t i = 0; i < m->nservices; i++) {
		struct service *s = &m->services[i];
		if (s->ningress)
			continue;
		const struct state_entry *e = state_find(&d->adopt, s->meta.namespace_, s->meta.name);
		if (!e)
			continue;
		s->ningress = e->naddrs;
		for (size_t k = 0; k < e->naddrs; k++)
			s->ingress[k] = e->addrs[k];
	}

	pipeline_allocate(ps, d->alloc);
	d->model = ps->model;
	d->results = ps->results;
	model_init(&ps->model, d->o->config_namespace);
	ps->results = NULL;
	ps->nresults = 0;
	d->have_model = true;
	m = &d->model;

	struct announce_svc *as = xcalloc(m->nservices ? m->nservices : 1, sizeof(*as));
	size_t nas = 0;
	for (size_t i = 0; i < m->nservices; i++) {
		const struct alloc_result *r = &d->results[i];
		char key[512];
		svc_key(&m->services[i], key, sizeof(key));
		for (size_t e = 0; e < r->nevents; e++)
			service_event(d, key, &r->events[e]);
		if (!r->ours || r->naddrs == 0)
			continue;
		as[nas].svc = &m->services[i];
		as[nas].naddrs = r->naddrs;
		for (size_t k = 0; k < r->naddrs; k++) {
			as[nas].addrs[k] = r->addrs[k];
			as[nas].pools[k] = r->pools[k];
		}
		nas++;
	}
	/* Failed Services that were never good: not in the model, only their
	 * event. */
	for (size_t i = 0; i < ps->verdict.nfailed; i++) {
		const struct pipeline_failed *f = &ps->verdict.failed[i];
		if (f->kept)
			continue;
		char key[512];
		snprintf(key, sizeof(key), "%s/%s", f->namespace_, f->name);
		struct alloc_event ev = pipeline_failed_event(f);
		service_event(d, key, &ev);
	}
	events_sort(d);
	state_persist(d);

	announcer_apply(d->ann, m, as, nas);
	free(as);
	free_results(old_results, old_n);
	model_free(&old_model);
}

static void reload(struct daemon *d, const char *why)
{
	d->reloads++;
	d->last_reload = wall_now();
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	metrics_inc(d->m_updates, NULL);

	/* The directory is the source: each file's objects are upserted or
	 * deleted; a file that cannot be read keeps its objects. */
	pipeline_sync_dir(d->pipe, d->o->manifests_dir);
	struct pipeline_pass ps;
	pipeline_build(d->pipe, &ps);
	pipeline_release_trees(d->pipe);

	for (size_t i = 0; i < ps.diags.n; i++) {
		const struct diag *g = &ps.diags.items[i];
		if (g->level == DIAG_NOTE)
			continue;
		char *s = diag_format(g);
		log_msg(g->level == DIAG_ERROR ? LOG_ERROR : LOG_WARN, "configuration problem",
			"detail", s, NULL);
		free(s);
	}
	diag_list_free(&d->diags);
	d->diags = ps.diags;
	ps.diags = (struct diag_list){0};

	const struct pipeline_verdict *v = &ps.verdict;
	char nerr[32];
	snprintf(nerr, sizeof(nerr), "%zu", v->nconfig_errors);
	if (v->config != PIPELINE_CONFIG_VALID) {
		d->reload_failures++;
		metrics_inc(d->m_update_errors, NULL);
	}
	d->stale = ps.stale;
	if (!ps.running)
		log_error("configuration rejected; nothing to run yet", "dir", d->o->manifests_dir,
			  "errors", nerr, "trigger", why, NULL);
	else if (!ps.taken)
		log_error("configuration rejected; keeping the last good one", "dir",
			  d->o->manifests_dir, "errors", nerr, "trigger", why, NULL);
	else if (v->config != PIPELINE_CONFIG_VALID)
		log_warn("configuration refers to objects that do not exist; running it (no valid "
			 "one yet), those references select nothing",
			 "dir", d->o->manifests_dir, "errors", nerr, "trigger", why, NULL);

	if (ps.running) {
		apply_model(d, &ps);
		if (ps.taken)
			d->last_applied = wall_now();
	}
	/* Keep the verdict for /status. */
	pipeline_pass_free(&d->judged);
	d->judged = ps;
	metrics_update(d);
	if (!d->have_model)
		return;
	char nsvc[32], npools[32], nfailed[32], ms[32];
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	snprintf(nsvc, sizeof(nsvc), "%zu", d->model.nservices);
	snprintf(npools, sizeof(npools), "%zu", d->model.npools);
	snprintf(nfailed, sizeof(nfailed), "%zu", v->nfailed);
	snprintf(ms, sizeof(ms), "%.1f",
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	log_info(ps.taken ? "configuration applied" : "services applied with the last good configuration",
		 "dir", d->o->manifests_dir, "pools", npools, "services", nsvc, "failed_services",
		 nfailed, "verdict", pipeline_config_name(d->judged.verdict.config), "trigger",
		 why, "duration_ms", ms, NULL);
	/* A reload builds and drops whole trees; give the memory back. */
	malloc_trim(0);
}

/* ------------------------------------------------------------------ */
/* HTTP */

static void h_healthz(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct daemon *d = arg;
	(void)req;
	if (d->have_model && reconciler_ready(d->rec))
		http_response_printf(resp, 200, "ok\n");
	else
		http_response_printf(resp, 503, "no valid configuration loaded yet\n");
}

/* The plan's entries sorted by Service, for /status lookups. */
static int entry_svc_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct l2_entry *const *)a)->service,
		      (*(const struct l2_entry *const *)b)->service);
}

static const struct l2_entry **plan_by_service(const struct l2_plan *p)
{
	const struct l2_entry **v = xcalloc(p->n ? p->n : 1, sizeof(*v));
	for (size_t i = 0; i < p->n; i++)
		v[i] = &p->entries[i];
	xqsort(v, p->n, sizeof(*v), entry_svc_cmp);
	return v;
}

static const struct l2_entry *plan_by_service_find(const struct l2_entry **v, size_t n,
						   const char *service)
{
	struct l2_entry key = {.service = (char *)service};
	const struct l2_entry *kp = &key;
	const struct l2_entry *const *hit = xbsearch(&kp, v, n, sizeof(*v), entry_svc_cmp);
	return hit ? *hit : NULL;
}

/* A row of /status services, listed in namespace/name order. */
struct status_row {
	const char *ns, *name;
	json_t *j;
};

static int status_row_cmp(const void *a, const void *b)
{
	const struct status_row *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);
	return c ? c : strcmp(x->name, y->name);
}

static json_t *status_json(struct daemon *d)
{
	json_t *root = json_object();
	json_object_set_new(root, "node", json_string(d->o->node_name));
	json_object_set_new(root, "manifests", json_string(d->o->manifests_dir));

	json_t *errors = json_array(), *warnings = json_array();
	for (size_t i = 0; i < d->diags.n; i++) {
		const struct diag *g = &d->diags.items[i];
		if (g->level == DIAG_NOTE)
			continue;
		char *s = diag_format(g);
		json_array_append_new(g->level == DIAG_ERROR ? errors : warnings, json_string(s));
		free(s);
	}
	json_t *failed = json_array();
	const struct pipeline_verdict *v = &d->judged.verdict;
	for (size_t i = 0; i < v->nfailed; i++)
		json_array_append_new(failed, json_pack("{s:s, s:s, s:s}", "namespace",
							v->failed[i].namespace_, "name",
							v->failed[i].name, "message",
							v->failed[i].message));
	json_object_set_new(root, "config",
			    json_pack("{s:b, s:b, s:I, s:I, s:f, s:f, s:o, s:o, s:s, s:o}", "loaded",
				      d->have_model, "stale", d->stale, "reloads",
				      (json_int_t)d->reloads, "failed_reloads",
				      (json_int_t)d->reload_failures, "last_reload",
				      d->last_reload, "last_applied", d->last_applied, "errors",
				      errors, "warnings", warnings, "verdict",
				      pipeline_config_name(v->config), "failed", failed));

	/* Listed by namespace/name: the Services in force that are ours, and
	 * failed Services that were never good (only their events). */
	struct status_row *rows = NULL;
	size_t nrows = 0;
	if (d->have_model) {
		const struct l2_plan *plan = announcer_l2_plan(d->ann);
		const struct l2_entry **by_svc = plan_by_service(plan);
		for (size_t i = 0; i < d->model.nservices; i++) {
			const struct service *s = &d->model.services[i];
			const struct alloc_result *r = &d->results[i];
			if (!r->ours)
				continue;
			char key[512];
			svc_key(s, key, sizeof(key));
			json_t *ingress = json_array(), *pools = json_array();
			for (size_t k = 0; k < r->naddrs; k++) {
				char ip[IP_STR_MAX];
				json_array_append_new(ingress, json_string(ip_format(&r->addrs[k], ip)));
				json_array_append_new(pools, json_string(r->pools[k]));
			}
			const char *owner = NULL;
			bool here = false;
			const struct l2_entry *pe = plan_by_service_find(by_svc, plan->n, key);
			if (pe) {
				owner = pe->owner;
				here = pe->here;
			}
			struct status_row *row = VEC_PUSH(rows, nrows);
			row->ns = s->meta.namespace_;
			row->name = s->meta.name;
			row->j = json_pack("{s:s, s:s, s:o, s:o, s:o, s:b}", "namespace",
					   s->meta.namespace_, "name", s->meta.name, "ingress",
					   ingress, "pools", pools, "owner",
					   owner ? json_string(owner) : json_null(), "announced_here",
					   here);
		}
		free(by_svc);
	}
	for (size_t i = 0; i < v->nfailed; i++) {
		const struct pipeline_failed *f = &v->failed[i];
		if (f->kept && d->have_model)
			continue;
		struct status_row *row = VEC_PUSH(rows, nrows);
		row->ns = f->namespace_;
		row->name = f->name;
		row->j = json_pack("{s:s, s:s, s:[], s:[], s:n, s:b}", "namespace", f->namespace_,
				   "name", f->name, "ingress", "pools", "owner", "announced_here",
				   false);
	}
	xqsort(rows, nrows, sizeof(*rows), status_row_cmp);
	json_t *svcs = json_array();
	for (size_t i = 0; i < nrows; i++) {
		char key[512];
		snprintf(key, sizeof(key), "%s/%s", rows[i].ns, rows[i].name);
		json_t *ev = json_array();
		const struct svc_events *se = events_find(d, key);
		for (size_t k = 0; se && k < se->n; k++)
			json_array_append_new(ev, json_pack("{s:s, s:s, s:s}", "type",
							    se->ev[k].type, "reason",
							    se->ev[k].reason, "message",
							    se->ev[k].message));
		json_object_set_new(rows[i].j, "events", ev);
		json_array_append_new(svcs, rows[i].j);
	}
	free(rows);
	json_object_set_new(root, "services", svcs);

	json_t *pools = alloc_pools_json(d->alloc);
	json_object_set_new(root, "pools", pools);

	announcer_status_json(d->ann, root);
	json_object_set_new(root, "reconciler", reconciler_status_json(d->rec));
	return root;
}

static void h_status(const struct http_request *req, struct http_response *resp, void *arg)
{
	(void)req;
	json_t *root = status_json(arg);
	resp->body = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	resp->body_len = strlen(resp->body);
	resp->status = 200;
	resp->content_type = HTTP_APPLICATION_JSON;
	json_decref(root);
	/* The document's tree was many small blocks: hand them back. */
	malloc_trim(0);
}

/* ------------------------------------------------------------------ */
/* watching the directory, signals */

/* The reconciler's pass: a reload, for the reason given or a file change. */
static void on_pass(void *arg)
{
	struct daemon *d = arg;
	const char *why = d->trigger ? d->trigger : "file change";
	d->trigger = NULL;
	reload(d, why);
}

static void on_sighup(void *arg)
{
	struct daemon *d = arg;
	d->trigger = "SIGHUP";
	reconciler_pass_now(d->rec);
}

static void on_stop(void *arg)
{
	struct daemon *d = arg;
	announcer_stop(d->ann);
}

static void watch_dir(struct daemon *d)
{
	if (d->watch >= 0)
		inotify_rm_watch(d->inotify_fd, d->watch);
	d->watch = inotify_add_watch(d->inotify_fd, d->o->manifests_dir,
				     IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
					     IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB);
	if (d->watch < 0)
		log_error("cannot watch the manifests directory; send SIGHUP to reload", "dir",
			  d->o->manifests_dir, "error", strerror(errno), NULL);
}

static void on_inotify(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;
	(void)revents;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool rewatch = false;
	for (;;) {
		ssize_t n = read(d->inotify_fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				rewatch = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (rewatch)
		watch_dir(d);
	/* Only complete files wake us (closed after writing, or renamed into
	 * the directory; not IN_CREATE, which fires on an empty new file).
	 * The reconciler's quiet time (1 ms) gathers a burst (a `cp *.yaml`)
	 * into one reload. */
	(void)loop;
	reconciler_changed(d->rec);
}

/* ------------------------------------------------------------------ */

/*
 * With --install-vips an owned IPv4 address is local to this host; with
 * the kernel's default arp_ignore=0 the kernel then answers ARP for it on
 * every interface too, outside the interfaces an L2Advertisement names.
 * arp_ignore=1 (what kube-proxy's strictARP sets) limits the kernel to
 * addresses of the receiving interface.  Say so rather than change the
 * host's settings behind its owner's back.
 */
static void check_arp_ignore(void)
{
	char *v = file_read_all("/proc/sys/net/ipv4/conf/all/arp_ignore", NULL);
	if (v && atoi(v) == 0)
		log_warn("net.ipv4.conf.all.arp_ignore is 0: the kernel will also answer ARP "
			 "for installed addresses on every interface; set it to 1 "
			 "(sysctl -w net.ipv4.conf.all.arp_ignore=1) to keep answers on the "
			 "announced interfaces",
			 NULL);
	free(v);
}

int daemon_run(const struct daemon_opts *o)
{
	struct daemon d = {.o = o, .inotify_fd = -1, .watch = -1};
	/* A long-running daemon with bursts of allocation (reloads, /status):
	 * large blocks come from mmap and go back at free, and the heap's top
	 * is returned early.  Measured in bench/l2.py rss. */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop) {
		log_error("cannot create the event loop", NULL);
		return 1;
	}
	model_init(&d.model, o->config_namespace);
	d.alloc = alloc_new();
	alloc_set_lb_class(d.alloc, o->lb_class);
	struct pipeline_opts po = {.config_namespace = o->config_namespace, .lb_class = o->lb_class};
	d.pipe = pipeline_new(&po);
	metrics_setup(&d);
	struct reconciler_opts ro = {
		RECONCILER_RUN_DEFAULTS,
		.pass = on_pass,
		.stop = on_stop,
		.reload = on_sighup,
		.arg = &d,
	};
	d.rec = reconciler_new(d.loop, &ro);
	reconciler_metrics(d.rec, d.reg);
	metrics_set(d.m_loaded, NULL, 0);
	metrics_set(d.m_stale, NULL, 0);

	if (o->state_path) {
		char *aside = NULL, *why = NULL;
		switch (state_load(o->state_path, &d.adopt, &aside, &why)) {
		case STATE_LOADED: {
			char n[32];
			snprintf(n, sizeof(n), "%zu", d.adopt.n);
			log_info("state loaded", "path", o->state_path, "services", n, NULL);
			/* The file matches what we will write unless allocations change. */
			for (size_t i = 0; i < d.adopt.n; i++) {
				const struct state_entry *e = &d.adopt.entries[i];
				state_add(&d.saved, e->namespace_, e->name, e->naddrs, e->addrs,
					  e->pools);
			}
			break;
		}
		case STATE_MISSING:
			log_info("no state file yet; starting fresh", "path", o->state_path, NULL);
			break;
		case STATE_CORRUPT:
			log_error("state file is corrupt; moved aside, allocations start fresh",
				  "path", o->state_path, "moved_to", aside, "error", why, NULL);
			break;
		case STATE_UNREADABLE:
			log_error("cannot read the state file", "path", o->state_path, "error", why,
				  NULL);
			free(why);
			return 1;
		}
		free(aside);
		free(why);
	}

	d.http = http_server_new(d.loop);
	http_server_route(d.http, "GET", "/metrics", http_metrics_handler, d.reg);
	http_server_route(d.http, "GET", "/healthz", h_healthz, &d);
	http_server_route(d.http, "GET", "/status", h_status, &d);
	char *err = NULL;
	if (http_server_start(d.http, o->listen ? o->listen : "127.0.0.1:7472", &err) != 0) {
		log_error("cannot serve metrics and status", "error", err, NULL);
		free(err);
		return 1;
	}

	if (!o->no_l2 && o->install_vips)
		check_arp_ignore();
	struct announcer_opts ao = {
		.node_name = o->node_name,
		.no_l2 = o->no_l2,
		.no_bgp = o->no_bgp,
		.install_vips = o->install_vips,
		.vip_device = o->vip_device,
		.bgp_port = o->bgp_port,
		.bgp_port_set = o->bgp_port_set,
		.gratuitous_interval = o->gratuitous_interval,
	};
	d.ann = announcer_new(d.loop, d.reg, &ao);
	if (announcer_start(d.ann) != 0)
		return 1;

	d.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d.inotify_fd < 0) {
		log_error("inotify unavailable; send SIGHUP to reload", "error", strerror(errno),
			  NULL);
	} else {
		watch_dir(&d);
		ev_io_init(&d.inotify_w, on_inotify, d.inotify_fd, EV_READ);
		d.inotify_w.data = &d;
		ev_io_start(d.loop, &d.inotify_w);
	}

	char port[16];
	snprintf(port, sizeof(port), "%u", http_server_port(d.http));
	log_info("ironlb running", "version", IRONLB_VERSION, "node", o->node_name, "manifests",
		 o->manifests_dir, "listen", o->listen ? o->listen : "127.0.0.1:7472", "port",
		 port, NULL);
	/* A directory is complete as soon as it is read: no gate to wait for. */
	reconciler_synced(d.rec);
	d.trigger = "start";
	reconciler_pass_now(d.rec);

	ev_run(d.loop, 0);

	/* Orderly shutdown. */
	reconciler_free(d.rec);
	announcer_free(d.ann);
	http_server_free(d.http);
	if (d.inotify_fd >= 0)
		close(d.inotify_fd);
	if (d.have_model)
		free_results(d.results, d.model.nservices);
	model_free(&d.model);
	pipeline_pass_free(&d.judged);
	pipeline_free(d.pipe);
	alloc_free(d.alloc);
	state_free(&d.saved);
	state_free(&d.adopt);
	events_free(&d);
	diag_list_free(&d.diags);
	metrics_registry_free(d.reg);
	log_info("stopped", NULL);
	return d.exit_code;
}
