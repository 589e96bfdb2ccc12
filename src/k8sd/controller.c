/*
 * `ironlb controller` (in ironlb-k8s, see k8sd.h): reflectors for Services, Namespaces and the metallb.io
 * configuration kinds of the config namespace; once all are synced, and
 * after each change (debounced), a model is built from the stores, the
 * allocator runs over every Service, and Services whose addresses differ
 * from their status get status.loadBalancer.ingress and the
 * metallb.io/ip-allocated-from-pool annotation patched; allocator events
 * are posted as events.k8s.io/v1 Events.  After each pass, IPAddressPools
 * whose figures changed get status.assignedIPv4/IPv6 and
 * availableIPv4/IPv6 patched, and the ConfigurationState "controller" says
 * whether the configuration is Valid (or Invalid, with the diagnostics).
 *
 * Only the holder of the Lease "ironlb-controller" (config namespace) writes
 * anything; other replicas keep their reflectors in sync and take over when
 * the Lease expires (or is given up on SIGTERM).
 */
#include <errno.h>
#include <ev.h>
#include <stdint.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "alloc/alloc_metrics.h"
#include "base/diag.h"
#include "base/log.h"
#include "base/util.h"
#include "http/metrics.h"
#include "http/server.h"
#include "k8s/k8s_client.h"
#include "k8s/k8s_config.h"
#include "manifest/tree.h"
#include "model/model.h"
#include "k8sd/k8sd.h"

#define POOL_ANNOTATION "metallb.io/ip-allocated-from-pool"
#define REPORTING_CONTROLLER "metallb.io/controller"
#define DEBOUNCE 0.005
#define RETRY 1.0

#define CONFIG_STATE_NAME "controller"
#define LEASE_NAME "ironlb-controller"
#define LEASE_DURATION 15    /* seconds */
#define LEASE_RENEW 5.0      /* the leader renews this often */
#define LEASE_RETRY 2.0      /* a follower checks the Lease this often */
#define LEASE_RENEW_DEADLINE 10.0  /* a leader unable to renew this long steps down */

enum { R_SERVICES, R_NAMESPACES, R_POOLS, R_L2ADVS, R_BGPADVS, R_COMMUNITIES, R_BFD,
       R_PEERS, R_COUNT };

/* The status figures last sent for an IPAddressPool. */
struct pool_sent {
	char *name;
	long long v[4];   /* assignedIPv4, assignedIPv6, availableIPv4, availableIPv6 */
};

/* What was last sent for a Service (status ingress and annotation), so a
 * rebuild before the watch shows the patch does not send it again. */
struct sent {
	char *key;
	char *status;
	char *pools;
};

struct ctl {
	struct ev_loop *loop;
	struct k8s_client *client;
	const char *ns;
	const char *lb_class;
	char *instance;
	struct k8s_reflector *refl[R_COUNT];
	char *paths[R_COUNT];
	bool started;          /* all reflectors synced once */
	ev_timer debounce;
	ev_signal sig_term, sig_int;

	struct alloc *alloc;
	bool have_config;
	bool stale;
	unsigned long updates, update_errors;

	size_t nsent;
	struct sent *sent;
	size_t npool_sent;
	struct pool_sent *pool_sent;

	struct k8sd_cstate *cstate;   /* ConfigurationState "controller" */

	/* Leader election */
	bool leader;
	bool lease_busy;          /* a Lease request is under way */
	bool stopping;
	char *identity;
	ev_timer lease_timer, stop_timer;
	double last_renew;        /* ev_now of the last successful renewal */
	char *observed;           /* holder + renewTime last seen */
	double observed_at;

	struct metrics_registry *reg;
	struct metrics_family *m_loaded, *m_stale, *m_updates, *m_update_errors;
	struct alloc_metrics am;
	struct http_server *http;
};

static void schedule(struct ctl *c, double after)
{
	if (!c->started)
		return;
	ev_timer_stop(c->loop, &c->debounce);
	ev_timer_set(&c->debounce, after, 0.);
	ev_timer_start(c->loop, &c->debounce);
}

/* ------------------------------------------------------------------ */
/* sent records */

static struct sent *sent_get(struct ctl *c, const char *key, bool create)
{
	for (size_t i = 0; i < c->nsent; i++)
		if (strcmp(c->sent[i].key, key) == 0)
			return &c->sent[i];
	if (!create)
		return NULL;
	struct sent *s = VEC_PUSH(c->sent, c->nsent);
	memset(s, 0, sizeof(*s));
	s->key = xstrdup(key);
	return s;
}

static void sent_forget(struct ctl *c, const char *key)
{
	for (size_t i = 0; i < c->nsent; i++)
		if (strcmp(c->sent[i].key, key) == 0) {
			free(c->sent[i].key);
			free(c->sent[i].status);
			free(c->sent[i].pools);
			c->sent[i] = c->sent[--c->nsent];
			return;
		}
}

/* ------------------------------------------------------------------ */
/* requests */

struct req_ctx {
	struct ctl *c;
	char *what;
	char *key;   /* Service key whose sent record is dropped on failure */
};

static void on_done(struct k8s_response *resp, void *arg)
{
	struct req_ctx *r = arg;
	if (resp->error != K8S_OK) {
		log_warn("API request failed", "what", r->what, "error", resp->message, NULL);
		if (r->key) {
			sent_forget(r->c, r->key);
			schedule(r->c, RETRY);
		}
	} else {
		log_debug("API request done", "what", r->what, NULL);
	}
	free(r->what);
	free(r->key);
	free(r);
}

static void send_patch(struct ctl *c, const char *path, json_t *patch, const char *what,
		       const char *key)
{
	char *body = json_dumps(patch, JSON_COMPACT);
	struct req_ctx *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->what = xstrdup(what);
	r->key = xstrdup(key);
	if (!k8s_patch(c->client, path, K8S_PATCH_MERGE, body, on_done, r)) {
		free(r->what);
		free(r->key);
		free(r);
	}
	free(body);
}

/* ------------------------------------------------------------------ */
/* IPAddressPool status */

static struct pool_sent *pool_sent_get(struct ctl *c, const char *name, bool create)
{
	for (size_t i = 0; i < c->npool_sent; i++)
		if (strcmp(c->pool_sent[i].name, name) == 0)
			return &c->pool_sent[i];
	if (!create)
		return NULL;
	struct pool_sent *p = VEC_PUSH(c->pool_sent, c->npool_sent);
	memset(p, 0, sizeof(*p));
	p->name = xstrdup(name);
	return p;
}

static void pool_sent_forget(struct ctl *c, const char *name)
{
	for (size_t i = 0; i < c->npool_sent; i++)
		if (strcmp(c->pool_sent[i].name, name) == 0) {
			free(c->pool_sent[i].name);
			c->pool_sent[i] = c->pool_sent[--c->npool_sent];
			return;
		}
}

static void pool_sent_clear(struct ctl *c)
{
	while (c->npool_sent)
		pool_sent_forget(c, c->pool_sent[0].name);
}

struct pool_req {
	struct ctl *c;
	char *name;
};

static void on_pool_done(struct k8s_response *resp, void *arg)
{
	struct pool_req *r = arg;
	if (resp->error != K8S_OK) {
		log_warn("API request failed", "what", "pool status patch", "pool", r->name,
			 "error", resp->message, NULL);
		pool_sent_forget(r->c, r->name);
		if (resp->reason == NULL || strcmp(resp->reason, "NotFound") != 0)
			schedule(r->c, RETRY);
	}
	free(r->name);
	free(r);
}

/* The status fields are int64 (as MetalLB's): a count beyond that (a /64
 * pool holds 2^64 addresses, the whole IPv6 space 2^128) is capped at
 * INT64_MAX, the largest value the field can hold. */
static long long cap_int64(u128 v)
{
	return v > (u128)INT64_MAX ? INT64_MAX : (long long)v;
}

static const char *const POOL_FIELDS[4] = {"assignedIPv4", "assignedIPv6", "availableIPv4",
					   "availableIPv6"};

static void update_pool_status(struct ctl *c)
{
	struct alloc_pool_stats *st = NULL;
	size_t n = alloc_pool_stats(c->alloc, &st);
	const struct k8s_store *pools = k8s_reflector_store(c->refl[R_POOLS]);
	for (size_t i = 0; i < n; i++) {
		const struct alloc_pool_stats *s = &st[i];
		const struct tree *obj = k8s_store_get(pools, c->ns, s->name);
		if (!obj)
			continue;
		long long want[4] = {
			cap_int64(s->in_use_v4),
			cap_int64(s->in_use_v6),
			cap_int64(s->total_v4 - s->in_use_v4),
			s->total_v6_overflow ? INT64_MAX : cap_int64(s->total_v6 - s->in_use_v6),
		};
		bool same = true;
		const struct tree *status = tree_get(obj, "status");
		json_t *have = status ? tree_to_json(status) : NULL;
		for (int k = 0; k < 4; k++) {
			json_t *v = have ? json_object_get(have, POOL_FIELDS[k]) : NULL;
			if (!v || !json_is_integer(v) || json_integer_value(v) != want[k])
				same = false;
		}
		json_decref(have);
		struct pool_sent *ps = pool_sent_get(c, s->name, false);
		if (same) {
			if (ps)
				pool_sent_forget(c, s->name);
			continue;
		}
		if (ps && memcmp(ps->v, want, sizeof(want)) == 0)
			continue;   /* sent; the watch has not shown it yet */
		ps = pool_sent_get(c, s->name, true);
		memcpy(ps->v, want, sizeof(want));
		json_t *fields = json_object();
		for (int k = 0; k < 4; k++)
			json_object_set_new(fields, POOL_FIELDS[k], json_integer(want[k]));
		json_t *p = json_pack("{s:o}", "status", fields);
		char *body = json_dumps(p, JSON_COMPACT);
		json_decref(p);
		char *path = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/ipaddresspools/%s/status",
				       c->ns, s->name);
		log_debug("updating pool status", "pool", s->name, "status", body, NULL);
		struct pool_req *r = xcalloc(1, sizeof(*r));
		r->c = c;
		r->name = xstrdup(s->name);
		if (!k8s_patch(c->client, path, K8S_PATCH_MERGE, body, on_pool_done, r)) {
			pool_sent_forget(c, s->name);
			free(r->name);
			free(r);
		}
		free(path);
		free(body);
	}
	free(st);
}

/* ------------------------------------------------------------------ */
/* ConfigurationState */

static void retry_soon(void *arg)
{
	schedule(arg, RETRY);
}

/* ------------------------------------------------------------------ */
/* Leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * LeaseLock: the leader renews every LEASE_RENEW seconds; a follower takes
 * the Lease when it is free or its record (holder, renewTime) has not
 * changed for leaseDurationSeconds by the follower's own clock.  Only the
 * leader allocates and writes; a follower keeps its reflectors in sync. */

static char *lease_path(const struct ctl *c)
{
	return xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", c->ns,
			 LEASE_NAME);
}

static void reset_state(struct ctl *c)
{
	alloc_free(c->alloc);
	c->alloc = alloc_new();
	alloc_set_lb_class(c->alloc, c->lb_class);
	c->have_config = false;
	c->stale = false;
	while (c->nsent)
		sent_forget(c, c->sent[0].key);
	pool_sent_clear(c);
	k8sd_cstate_reset(c->cstate);
}

static void set_leader(struct ctl *c, bool leader)
{
	if (leader == c->leader)
		return;
	c->leader = leader;
	if (leader) {
		log_info("became leader", "identity", c->identity, "lease", LEASE_NAME, NULL);
		/* Start from what the Services hold, as after a restart. */
		reset_state(c);
		schedule(c, 0);
	} else {
		log_warn("lost leadership", "identity", c->identity, "lease", LEASE_NAME, NULL);
		ev_timer_stop(c->loop, &c->debounce);
		reset_state(c);
	}
}

static void lease_arm(struct ctl *c)
{
	ev_timer_stop(c->loop, &c->lease_timer);
	ev_timer_set(&c->lease_timer, c->leader ? LEASE_RENEW : LEASE_RETRY, 0.);
	ev_timer_start(c->loop, &c->lease_timer);
}

static void on_release_get(struct k8s_response *resp, void *arg);

static void on_lease_write(struct k8s_response *resp, void *arg)
{
	struct ctl *c = arg;
	c->lease_busy = false;
	if (c->stopping) {
		char *path = lease_path(c);
		c->lease_busy = resp->error == K8S_OK &&
				k8s_get(c->client, path, on_release_get, c) != NULL;
		free(path);
		if (!c->lease_busy)
			ev_break(c->loop, EVBREAK_ALL);
		return;
	}
	if (resp->error == K8S_OK) {
		c->last_renew = ev_now(c->loop);
		set_leader(c, true);
	} else {
		log_debug("lease write failed", "error", resp->message, NULL);
		if (c->leader && ev_now(c->loop) - c->last_renew > LEASE_RENEW_DEADLINE)
			set_leader(c, false);
	}
	lease_arm(c);
}

static void lease_write(struct ctl *c, json_t *lease, bool create)
{
	char *body = json_dumps(lease, JSON_COMPACT);
	char *path = lease_path(c);
	struct k8s_request *r;
	if (create) {
		char *coll = xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases", c->ns);
		r = k8s_create(c->client, coll, body, on_lease_write, c);
		free(coll);
	} else {
		r = k8s_update(c->client, path, body, on_lease_write, c);
	}
	c->lease_busy = r != NULL;
	if (!r)
		lease_arm(c);
	free(path);
	free(body);
}

static void on_lease_get(struct k8s_response *resp, void *arg)
{
	struct ctl *c = arg;
	c->lease_busy = false;
	if (c->stopping) {
		on_release_get(resp, arg);
		return;
	}
	char now[64];
	k8sd_micro_time(now, sizeof(now));
	if (resp->error != K8S_OK) {
		if (resp->reason && strcmp(resp->reason, "NotFound") == 0) {
			json_t *l = json_pack(
				"{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:i}}",
				"apiVersion", "coordination.k8s.io/v1", "kind", "Lease", "metadata",
				"name", LEASE_NAME, "namespace", c->ns, "spec", "holderIdentity",
				c->identity, "leaseDurationSeconds", LEASE_DURATION, "acquireTime",
				now, "renewTime", now, "leaseTransitions", 0);
			lease_write(c, l, true);
			json_decref(l);
			return;
		}
		log_warn("lease read failed", "error", resp->message, NULL);
		if (c->leader && ev_now(c->loop) - c->last_renew > LEASE_RENEW_DEADLINE)
			set_leader(c, false);
		lease_arm(c);
		return;
	}
	json_t *l = resp->object ? tree_to_json(resp->object) : NULL;
	json_t *spec = l ? json_object_get(l, "spec") : NULL;
	if (!spec || !json_is_object(spec)) {
		json_decref(l);
		lease_arm(c);
		return;
	}
	const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
	const char *renew = json_string_value(json_object_get(spec, "renewTime"));
	json_int_t dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
	if (dur <= 0)
		dur = LEASE_DURATION;
	char *record = xasprintf("%s|%s", holder ? holder : "", renew ? renew : "");
	if (!c->observed || strcmp(c->observed, record) != 0) {
		free(c->observed);
		c->observed = record;
		c->observed_at = ev_now(c->loop);
	} else {
		free(record);
	}
	bool mine = holder && strcmp(holder, c->identity) == 0;
	bool free_ = !holder || !*holder || ev_now(c->loop) - c->observed_at > (double)dur;
	if (!mine && !free_) {
		set_leader(c, false);
		json_decref(l);
		lease_arm(c);
		return;
	}
	if (!mine) {
		/* Log before holderIdentity is replaced: holder points into it. */
		log_info("taking over the lease", "from", holder ? holder : "", NULL);
		json_int_t tr = json_integer_value(json_object_get(spec, "leaseTransitions"));
		json_object_set_new(spec, "leaseTransitions", json_integer(tr + 1));
		json_object_set_new(spec, "acquireTime", json_string(now));
		json_object_set_new(spec, "holderIdentity", json_string(c->identity));
	}
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(LEASE_DURATION));
	json_object_set_new(spec, "renewTime", json_string(now));
	/* metadata.resourceVersion stays: a concurrent writer makes this a 409. */
	lease_write(c, l, false);
	json_decref(l);
}

static void on_lease_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl *c = w->data;
	(void)loop;
	(void)revents;
	if (c->lease_busy || c->stopping)
		return;
	char *path = lease_path(c);
	c->lease_busy = k8s_get(c->client, path, on_lease_get, c) != NULL;
	if (!c->lease_busy)
		lease_arm(c);
	free(path);
}

/* On shutdown a leader gives the Lease up (holderIdentity emptied, as
 * client-go's ReleaseOnCancel) so that another controller takes over at
 * once; the loop ends when that is done or after a short wait. */
static void on_lease_released(struct k8s_response *resp, void *arg)
{
	struct ctl *c = arg;
	(void)resp;
	c->lease_busy = false;
	ev_break(c->loop, EVBREAK_ALL);
}

static void on_release_get(struct k8s_response *resp, void *arg)
{
	struct ctl *c = arg;
	json_t *l = resp->error == K8S_OK && resp->object ? tree_to_json(resp->object) : NULL;
	json_t *spec = l ? json_object_get(l, "spec") : NULL;
	const char *holder = spec ? json_string_value(json_object_get(spec, "holderIdentity")) : NULL;
	if (!holder || strcmp(holder, c->identity) != 0) {
		json_decref(l);
		c->lease_busy = false;
		ev_break(c->loop, EVBREAK_ALL);
		return;
	}
	json_object_set_new(spec, "holderIdentity", json_string(""));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
	char *body = json_dumps(l, JSON_COMPACT);
	json_decref(l);
	char *path = lease_path(c);
	if (!k8s_update(c->client, path, body, on_lease_released, c)) {
		c->lease_busy = false;
		ev_break(c->loop, EVBREAK_ALL);
	}
	free(path);
	free(body);
}

static void on_stop_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* ------------------------------------------------------------------ */
/* metrics */

static void metrics_setup(struct ctl *c)
{
	c->reg = metrics_registry_new();
	alloc_metrics_register(&c->am, c->reg);
	c->m_loaded = c->am.config_loaded;
	c->m_stale = c->am.config_stale;
	c->m_updates = c->am.updates;
	c->m_update_errors = c->am.update_errors;
}

static void metrics_update(struct ctl *c)
{
	metrics_set(c->m_loaded, NULL, c->have_config ? 1 : 0);
	metrics_set(c->m_stale, NULL, c->stale ? 1 : 0);
	metrics_family_clear(c->m_updates);
	metrics_add(c->m_updates, NULL, (double)c->updates);
	metrics_family_clear(c->m_update_errors);
	metrics_add(c->m_update_errors, NULL, (double)c->update_errors);
	alloc_metrics_update_pools(&c->am, c->alloc);
}

static void h_metrics(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct ctl *c = arg;
	(void)req;
	char *buf = NULL;
	size_t len = 0;
	metrics_render(c->reg, &buf, &len);
	resp->status = 200;
	resp->content_type = METRICS_CONTENT_TYPE;
	resp->body = buf;
	resp->body_len = len;
}

static void h_healthz(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct ctl *c = arg;
	(void)req;
	if (c->started)
		http_response_printf(resp, 200, "ok\n");
	else
		http_response_printf(resp, 503, "not synced with the API server yet\n");
}

/* ------------------------------------------------------------------ */
/* reconciling */

static void add_obj(const char *key, const struct tree *obj, void *arg)
{
	struct diag_list *d = ((void **)arg)[1];
	struct model *m = ((void **)arg)[0];
	(void)key;
	model_add(m, tree_clone(obj), d);
}

static bool config_invalid(const struct model *m)
{
#define ANY_INVALID(n, arr)                          \
	for (size_t i = 0; i < m->n; i++)            \
		if (m->arr[i].meta.invalid)          \
			return true;
	ANY_INVALID(npools, pools)
	ANY_INVALID(nl2advs, l2advs)
	ANY_INVALID(nbgpadvs, bgpadvs)
	ANY_INVALID(npeers, peers)
	ANY_INVALID(nbfdprofiles, bfdprofiles)
	ANY_INVALID(ncommunities, communities)
#undef ANY_INVALID
	return false;
}

static char *status_json(const struct alloc_result *r)
{
	json_t *ing = json_array();
	for (size_t k = 0; k < r->naddrs; k++) {
		char ip[IP_STR_MAX];
		json_array_append_new(ing, json_pack("{s:s}", "ip", ip_format(&r->addrs[k], ip)));
	}
	char *s = json_dumps(ing, JSON_COMPACT);
	json_decref(ing);
	return s;
}

static char *ingress_json_of(const struct tree *obj)
{
	json_t *ing = json_array();
	const struct tree *arr = tree_path(obj, "status.loadBalancer.ingress");
	json_t *j = arr ? tree_to_json(arr) : NULL;
	size_t i;
	json_t *v;
	if (j && json_is_array(j))
		json_array_foreach(j, i, v)
		{
			const char *ip = json_string_value(json_object_get(v, "ip"));
			if (ip)
				json_array_append_new(ing, json_pack("{s:s}", "ip", ip));
		}
	json_decref(j);
	char *s = json_dumps(ing, JSON_COMPACT);
	json_decref(ing);
	return s;
}

static char *pools_of(const struct alloc_result *r)
{
	if (r->naddrs == 0)
		return NULL;
	if (r->naddrs == 2 && strcmp(r->pools[0], r->pools[1]) != 0)
		return xasprintf("%s,%s", r->pools[0], r->pools[1]);
	return xstrdup(r->pools[0]);
}

static void reconcile(struct ctl *c)
{
	if (!c->leader)
		return;   /* a follower writes nothing; its reflectors stay in sync */
	struct model m;
	struct diag_list d = {0};
	model_init(&m, c->ns);
	void *args[2] = {&m, &d};
	for (int i = 0; i < R_COUNT; i++)
		k8s_store_foreach(k8s_reflector_store(c->refl[i]), add_obj, args);
	model_validate(&m, &d);

	size_t nerr = 0;
	char *errors = xstrdup("");
	for (size_t i = 0; i < d.n; i++) {
		const struct diag *x = &d.items[i];
		if (x->level != DIAG_ERROR)
			continue;
		char *line = diag_format(x);
		log_warn("configuration problem", "error", line, NULL);
		if (!(x->object && str_has_prefix(x->object, "Service "))) {
			char *e = xasprintf("%s%s%s", errors, *errors ? "\n" : "", line);
			free(errors);
			errors = e;
		}
		free(line);
		if (!(x->flags & DIAG_FLAG_REFERENCE) &&
		    !(x->object && str_has_prefix(x->object, "Service ")))
			nerr++;
	}
	c->updates++;
	bool invalid = nerr || config_invalid(&m);
	k8sd_cstate_set(c->cstate, !invalid, errors);
	free(errors);
	if (invalid) {
		c->update_errors++;
		c->stale = c->have_config;
		log_error("configuration has errors; keeping the last good one", NULL);
	} else {
		alloc_set_config(c->alloc, &m);
		c->have_config = true;
		c->stale = false;
	}
	model_drop_trees(&m);

	struct alloc_result *res = xcalloc(m.nservices ? m.nservices : 1, sizeof(*res));
	if (c->have_config)
		alloc_run_all(c->alloc, &m, res);

	const struct k8s_store *svcs = k8s_reflector_store(c->refl[R_SERVICES]);
	for (size_t i = 0; c->have_config && i < m.nservices; i++) {
		const struct service *s = &m.services[i];
		const struct alloc_result *r = &res[i];
		const char *ns = s->meta.namespace_, *name = s->meta.name;
		const struct tree *obj = k8s_store_get(svcs, ns, name);
		char key[512];
		snprintf(key, sizeof(key), "%s/%s", ns, name);
		for (size_t e = 0; e < r->nevents; e++) {
			enum log_level lvl =
				strcmp(r->events[e].type, "Warning") == 0 ? LOG_WARN : LOG_INFO;
			log_msg(lvl, r->events[e].message, "service", key, "reason",
				r->events[e].reason, NULL);
			k8sd_post_event(c->client, REPORTING_CONTROLLER, c->instance, obj, ns, name,
					r->events[e].type, r->events[e].reason,
					r->events[e].message);
		}
		if (!r->ours || !obj)
			continue;
		char *want = status_json(r);
		char *have = ingress_json_of(obj);
		char *pools = pools_of(r);
		const char *have_pools =
			tree_get_str(tree_path(obj, "metadata.annotations"), POOL_ANNOTATION);
		struct sent *st = sent_get(c, key, false);
		if (strcmp(want, have) != 0) {
			if (!st || !st->status || strcmp(st->status, want) != 0) {
				st = sent_get(c, key, true);
				free(st->status);
				st->status = xstrdup(want);
				char *path = xasprintf("/api/v1/namespaces/%s/services/%s/status",
						       ns, name);
				json_t *p = json_pack("{s:{s:{s:o}}}", "status", "loadBalancer",
						      "ingress", json_loads(want, 0, NULL));
				log_info("updating service status", "service", key, "ingress",
					 want, NULL);
				send_patch(c, path, p, "status patch", key);
				json_decref(p);
				free(path);
			}
		} else if (st) {
			free(st->status);
			st->status = NULL;
		}
		bool pools_same = (!pools && !have_pools) ||
				  (pools && have_pools && strcmp(pools, have_pools) == 0);
		st = sent_get(c, key, false);
		if (!pools_same) {
			const char *sent_p = st ? st->pools : NULL;
			if (!sent_p || !pools || strcmp(sent_p, pools) != 0) {
				st = sent_get(c, key, true);
				free(st->pools);
				st->pools = xstrdup(pools ? pools : "");
				char *path = xasprintf("/api/v1/namespaces/%s/services/%s", ns,
						       name);
				json_t *p = json_pack("{s:{s:{s:o}}}", "metadata", "annotations",
						      POOL_ANNOTATION,
						      pools ? json_string(pools) : json_null());
				send_patch(c, path, p, "annotation patch", key);
				json_decref(p);
				free(path);
			}
		} else if (st) {
			free(st->pools);
			st->pools = NULL;
		}
		st = sent_get(c, key, false);
		if (st && !st->status && !st->pools)
			sent_forget(c, key);
		free(want);
		free(have);
		free(pools);
	}
	for (size_t i = 0; i < m.nservices; i++)
		alloc_result_free(&res[i]);
	free(res);
	/* Records of Services that are gone. */
	for (size_t i = 0; i < c->nsent;) {
		char *slash = strchr(c->sent[i].key, '/');
		*slash = 0;
		bool gone = !k8s_store_get(svcs, c->sent[i].key, slash + 1);
		*slash = '/';
		if (gone)
			sent_forget(c, c->sent[i].key);
		else
			i++;
	}
	if (c->have_config)
		update_pool_status(c);
	metrics_update(c);
	diag_list_free(&d);
	model_free(&m);
}

static void on_debounce(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	reconcile(w->data);
}

static void on_change(enum k8s_change change, const struct tree *object,
		      const struct tree *old, void *arg)
{
	(void)change;
	(void)object;
	(void)old;
	schedule(arg, DEBOUNCE);
}

static void on_synced(void *arg)
{
	struct ctl *c = arg;
	if (c->started)
		return;
	for (int i = 0; i < R_COUNT; i++)
		if (!k8s_reflector_synced(c->refl[i]))
			return;
	c->started = true;
	log_info("all resources synced", NULL);
	schedule(c, 0);
}

static void on_refl_error(const struct k8s_response *resp, void *arg)
{
	(void)arg;
	log_warn("watch failed; retrying", "error", resp->message ? resp->message : "?",
		 "reason", resp->reason, NULL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct ctl *c = w->data;
	(void)revents;
	log_info("stopping", NULL);
	if (c->stopping || !c->leader) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	c->stopping = true;
	ev_timer_stop(loop, &c->debounce);
	ev_timer_stop(loop, &c->lease_timer);
	ev_timer_start(loop, &c->stop_timer);
	if (!c->lease_busy) {
		/* Give the Lease up; the callbacks end the loop. */
		char *path = lease_path(c);
		c->lease_busy = k8s_get(c->client, path, on_release_get, c) != NULL;
		free(path);
		if (!c->lease_busy)
			ev_break(loop, EVBREAK_ALL);
	}
}

/* ------------------------------------------------------------------ */

static void controller_usage(FILE *out)
{
	fputs("usage: ironlb controller [--kubeconfig FILE] [--metrics-listen ADDR:PORT]\n"
	      "                         [--namespace NS] [--lb-class CLASS] [--log-level L]\n"
	      "\n"
	      "Give LoadBalancer Services addresses from the metallb.io IPAddressPools of\n"
	      "NS (default metallb-system), writing status.loadBalancer.ingress.\n",
	      out);
}

int cmd_controller(int argc, char **argv)
{
	static const struct option opts[] = {
		{"kubeconfig", required_argument, NULL, 'k'},
		{"metrics-listen", required_argument, NULL, 'm'},
		{"namespace", required_argument, NULL, 'n'},
		{"lb-class", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *kubeconfig = NULL, *listen = NULL, *ns = NULL, *lb_class = NULL;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': kubeconfig = optarg; break;
		case 'm': listen = optarg; break;
		case 'n': ns = optarg; break;
		case 'c': lb_class = optarg; break;
		case 'l': {
			int l = log_level_parse(optarg);
			if (l < 0) {
				fprintf(stderr, "ironlb controller: bad --log-level \"%s\"\n",
					optarg);
				return 2;
			}
			log_set_level((enum log_level)l);
			break;
		}
		case 'h': controller_usage(stdout); return 0;
		default: controller_usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ironlb controller: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!ns)
		ns = getenv("METALLB_NAMESPACE");
	if (!ns || !*ns)
		ns = "metallb-system";

	struct k8s_config cfg = {0};
	char *err = NULL;
	if (k8s_config_load(&cfg, kubeconfig, NULL, NULL, &err) != 0) {
		fprintf(stderr, "ironlb controller: %s\n", err);
		free(err);
		return 1;
	}
	static struct ctl c;
	c.loop = ev_default_loop(0);
	c.ns = ns;
	c.lb_class = lb_class;
	char host[256] = "ironlb";
	gethostname(host, sizeof(host) - 1);
	c.instance = xasprintf("%s", getenv("POD_NAME") ? getenv("POD_NAME") : host);
	if (getenv("POD_NAME") && *getenv("POD_NAME"))
		c.identity = xstrdup(getenv("POD_NAME"));
	else
		c.identity = xasprintf("%s_%ld", host, (long)getpid());
	c.client = k8s_client_new(c.loop, &cfg, &err);
	if (!c.client) {
		fprintf(stderr, "ironlb controller: %s\n", err);
		free(err);
		return 1;
	}
	c.cstate = k8sd_cstate_new(c.client, ns, CONFIG_STATE_NAME, "controller", NULL,
				   retry_soon, &c);
	c.alloc = alloc_new();
	alloc_set_lb_class(c.alloc, lb_class);
	metrics_setup(&c);
	metrics_update(&c);

	c.http = http_server_new(c.loop);
	http_server_route(c.http, "GET", "/metrics", h_metrics, &c);
	http_server_route(c.http, "GET", "/healthz", h_healthz, &c);
	if (http_server_start(c.http, listen ? listen : ":7472", &err) != 0) {
		fprintf(stderr, "ironlb controller: %s\n", err);
		free(err);
		return 1;
	}

	c.paths[R_SERVICES] = xstrdup("/api/v1/services");
	c.paths[R_NAMESPACES] = xstrdup("/api/v1/namespaces");
	c.paths[R_POOLS] = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/ipaddresspools", ns);
	c.paths[R_L2ADVS] = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/l2advertisements", ns);
	c.paths[R_BGPADVS] =
		xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/bgpadvertisements", ns);
	c.paths[R_COMMUNITIES] = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/communities", ns);
	c.paths[R_BFD] = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/bfdprofiles", ns);
	c.paths[R_PEERS] = xasprintf("/apis/metallb.io/v1beta2/namespaces/%s/bgppeers", ns);

	ev_timer_init(&c.debounce, on_debounce, DEBOUNCE, 0.);
	c.debounce.data = &c;
	for (int i = 0; i < R_COUNT; i++) {
		struct k8s_reflector_opts o = {
			.path = c.paths[i],
			.on_change = on_change,
			.on_synced = on_synced,
			.on_error = on_refl_error,
			.arg = &c,
		};
		c.refl[i] = k8s_reflector_new(c.client, &o);
		k8s_reflector_start(c.refl[i]);
	}

	ev_timer_init(&c.lease_timer, on_lease_timer, 0., 0.);
	c.lease_timer.data = &c;
	ev_timer_start(c.loop, &c.lease_timer);
	ev_timer_init(&c.stop_timer, on_stop_timeout, 3., 0.);
	c.stop_timer.data = &c;

	ev_signal_init(&c.sig_term, on_signal, SIGTERM);
	ev_signal_init(&c.sig_int, on_signal, SIGINT);
	c.sig_term.data = &c;
	c.sig_int.data = &c;
	ev_signal_start(c.loop, &c.sig_term);
	ev_signal_start(c.loop, &c.sig_int);
	signal(SIGPIPE, SIG_IGN);

	char port[16];
	snprintf(port, sizeof(port), "%u", http_server_port(c.http));
	log_info("controller started", "namespace", ns, "server",
		 k8s_client_config(c.client)->server, "metrics_port", port, NULL);
	ev_run(c.loop, 0);

	ev_timer_stop(c.loop, &c.debounce);
	ev_timer_stop(c.loop, &c.lease_timer);
	ev_timer_stop(c.loop, &c.stop_timer);
	for (int i = 0; i < R_COUNT; i++) {
		k8s_reflector_free(c.refl[i]);
		free(c.paths[i]);
	}
	k8sd_cstate_free(c.cstate);
	k8s_client_free(c.client);
	http_server_free(c.http);
	metrics_registry_free(c.reg);
	alloc_free(c.alloc);
	while (c.nsent)
		sent_forget(&c, c.sent[0].key);
	free(c.sent);
	pool_sent_clear(&c);
	free(c.pool_sent);
	free(c.observed);
	free(c.identity);
	free(c.instance);
	return 0;
}
