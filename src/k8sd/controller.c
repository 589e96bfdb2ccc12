/*
 * `ironlb controller` (in ironlb-k8s, see k8sd.h): reflectors for Services, Namespaces and the metallb.io
 * configuration kinds of the config namespace; once all are synced, and
 * after changes (src/reconcile: quiet time, maximum delay), a pipeline step
 * (src/pipeline/pipeline.h) takes what the reflectors fed it (each Service
 * event one object; the configuration kinds as a whole when one changed):
 * the model in force (the last good configuration when the current one has
 * errors; a Service with errors fails alone, with an AllocationFailed
 * Event), the allocator updated for the changed Services only (every
 * Service after a configuration change), and of the Services the step
 * names (all after a whole pass) those whose addresses differ from their
 * status get status.loadBalancer.ingress and the
 * metallb.io/ip-allocated-from-pool annotation patched; allocator events
 * are posted as events.k8s.io/v1 Events.  After each pass, IPAddressPools
 * whose figures changed get status.assignedIPv4/IPv6 and
 * availableIPv4/IPv6 patched, and the ConfigurationState "controller" says
 * whether the configuration is Valid (or Invalid, with the diagnostics).
 * A Service that stops being ours (type or loadBalancerClass) gives its
 * addresses back and, when they provably were ours, loses them from its
 * status and the annotation (clear_service()).
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
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "alloc/alloc_metrics.h"
#include "base/diag.h"
#include "base/privs.h"
#include "base/hashmap.h"
#include "base/jw.h"
#include "base/log.h"
#include "base/util.h"
#include "base/metrics.h"
#include "http/server.h"
#include "k8s/k8s_client.h"
#include "k8s/k8s_config.h"
#include "manifest/tree.h"
#include "model/model.h"
#include "node/sandbox.h"
#include "reconcile/reconciler.h"
#include "status/status.h"
#include "k8sd/k8sd.h"
#include "pipeline/pipeline.h"

#define POOL_ANNOTATION "metallb.io/ip-allocated-from-pool"
/* The Events' source, as MetalLB's controller names it: the From column of
 * `kubectl describe svc` reads the same. */
#define REPORTING_CONTROLLER "metallb-controller"
/* A pass to send failed writes again: after RETRY seconds, doubling for
 * each pass whose writes failed again, up to RETRY_MAX (k8s_backoff). */
#define RETRY 1.0
#define RETRY_MAX 30.0
#define DRAIN 3.0     /* seconds the Lease release and requests under way may take at exit */

#define CONFIG_STATE_NAME "controller"
#define LEASE_NAME "ironlb-controller"
#define LEASE_DURATION 15    /* seconds */
#define LEASE_RENEW 5.0      /* the leader renews this often */
#define LEASE_RETRY 2.0      /* a follower checks the Lease this often */
#define LEASE_RENEW_DEADLINE 10.0  /* a leader unable to renew this long steps down */

enum { R_SERVICES, R_NAMESPACES, R_POOLS, R_L2ADVS, R_BGPADVS, R_COMMUNITIES, R_BFD,
       R_PEERS, R_COUNT };

/*
 * Sent records: what was last sent for a Service (status ingress and
 * annotation) or an IPAddressPool (status figures), so that a pass before
 * the watch shows a patch does not send it again.  In a hash map by key:
 * every pass looks up every Service, and a linear search made a pass
 * O(n^2) in the number of Services.
 */

struct sent {
	char *key;            /* "namespace/name" of a Service, or a pool name */
	char *status;         /* Service: ingress JSON sent, or NULL */
	char *pools;          /* Service: annotation sent ("": removed), or NULL */
	long long v[4];       /* pool: assignedIPv4, assignedIPv6, availableIPv4, availableIPv6 */
};

struct sent_table {
	struct hashmap map;   /* key -> sent, borrowing sent.key */
};

static void sent_free(struct sent *s)
{
	free(s->key);
	free(s->status);
	free(s->pools);
	free(s);
}

static struct sent *sent_get(struct sent_table *t, const char *key, bool create)
{
	struct sent *s = hashmap_get_str(&t->map, key);
	if (s || !create)
		return s;
	s = xcalloc(1, sizeof(*s));
	s->key = xstrdup(key);
	hashmap_put_str(&t->map, s->key, s, NULL);
	return s;
}

static void sent_forget(struct sent_table *t, const char *key)
{
	void *s;
	if (hashmap_del_str(&t->map, key, &s))
		sent_free(s);
}

/* Forget the records for which keep() says no. */
static void sent_filter(struct sent_table *t, bool (*keep)(const struct sent *s, void *arg),
			void *arg)
{
	struct hashmap_iter it;
	hashmap_iter_init(&it, &t->map);
	while (hashmap_iter_next(&it)) {
		struct sent *s = it.value;
		if (keep && keep(s, arg))
			continue;
		hashmap_iter_del(&it);
		sent_free(s);
	}
}

static void sent_clear(struct sent_table *t)
{
	sent_filter(t, NULL, NULL);
	hashmap_clear(&t->map);
}

struct req_ctx;

struct ctl {
	struct k8s_backoff write_backoff;
	/* Services whose status or annotation write failed: the next pass
	 * syncs them even when nothing changed (a pass that is not whole
	 * only syncs what changed). */
	struct hashmap rewrite;
	json_t *verdict;   /* the last pass's, for /status */
	struct ev_loop *loop;
	struct k8s_client *client;
	const char *ns;
	const char *lb_class;
	char *instance;
	struct k8s_reflector *refl[R_COUNT];
	char *paths[R_COUNT];
	struct refl_arg {
		struct ctl *c;
		int i;
	} rargs[R_COUNT];
	bool started;          /* all reflectors synced once */
	struct reconciler *rec;   /* when passes run; signals; drain at exit */

	struct alloc *alloc;
	struct pipeline *pipe;         /* the store, verdict and last good records */
	/* What is in force, followed one change at a time (pipeline_step());
	 * the Services fed since the last pass ("ns/name" -> struct held: what
	 * the allocator held for each before the pass), and whether any
	 * other kind changed (the configuration source is fed again). */
	struct pipeline_live live;
	struct hashmap pending;
	bool config_dirty;
	struct sent_table failed_sent; /* by Service key: the AllocationFailed message posted */
	bool have_config;
	bool stale;
	unsigned long updates, update_errors;
	/* Of the passes: whole ones (everything judged and planned again). */
	unsigned long whole_passes;

	struct sent_table sent;        /* by Service key */
	struct sent_table pool_sent;   /* by pool name */
	struct req_ctx *reqs;          /* patches under way */

	struct k8sd_cstate *cstate;   /* ConfigurationState "controller" */

	/* Leader election */
	bool leader;
	bool lease_busy;          /* a Lease request is under way */
	bool stopping;
	char *identity;
	ev_timer lease_timer;
	double last_renew;        /* ev_now of the last successful renewal */
	char *observed;           /* holder + renewTime last seen */
	double observed_at;

	struct metrics_registry *reg;
	struct metrics_family *m_loaded, *m_stale, *m_updates, *m_update_errors;
	struct alloc_metrics am;
	struct http_server *http;
};

/*
 * When passes run is the reconciler's (src/reconcile/reconciler.h): the
 * next pass waits as long as the last one took (at most max_spacing; a
 * step is short, a whole pass O(Services)), and no change waits longer
 * than max_delay.  Our own status and annotation patches
 * coming back through the watch cause none (on_change()).
 */

/* ------------------------------------------------------------------ */
/* requests */

/* A patch under way.  On failure its sent record is dropped, so that a
 * later pass sends it again.  Kept in a list so that those still under
 * way at exit are freed (k8s_client_free() cancels without callbacks). */
struct req_ctx {
	struct ctl *c;
	struct req_ctx *prev, *next;
	char *what;
	char *key;    /* Service key or pool name */
	bool pool;    /* key names a pool */
};

static void req_free(struct req_ctx *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		r->c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	free(r->what);
	free(r->key);
	free(r);
}

static void on_done(struct k8s_response *resp, void *arg)
{
	struct req_ctx *r = arg;
	struct ctl *c = r->c;
	if (resp->error != K8S_OK) {
		k8sd_log_api_retry(r->what, r->pool ? "pool" : "service", r->key, resp);
		sent_forget(r->pool ? &c->pool_sent : &c->sent, r->key);
		/* A deleted object needs no retry: the watch shows the
		 * deletion.  Anything else (a 409 from a resourceVersion
		 * precondition, a timeout) is tried again with fresh data. */
		if (!resp->reason || strcmp(resp->reason, "NotFound") != 0) {
			if (!r->pool)
				hashmap_put_str(&c->rewrite, r->key, c, NULL);
			reconciler_retry(c->rec, k8s_backoff_failed(&c->write_backoff,
								   ev_now(c->loop)));
		}
	} else {
		k8s_backoff_succeeded(&c->write_backoff);
		log_debug("API request done", "what", r->what, r->pool ? "pool" : "service", r->key,
			  NULL);
	}
	req_free(r);
}

/* A patch of path; key (a Service's, or a pool name when pool) names the
 * sent record that a failure drops. */
static void send_patch(struct ctl *c, const char *path, enum k8s_patch_type type,
		       json_t *patch, const char *what, const char *key, bool pool)
{
	char *body = json_dumps(patch, JSON_COMPACT);
	struct req_ctx *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->what = xstrdup(what);
	r->key = xstrdup(key);
	r->pool = pool;
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	struct k8s_request *req = k8s_patch(c->client, path, type, body, on_done, r);
	/* The answer is the whole Service: its echo comes through the watch. */
	k8s_request_skip_object(req);
	if (!req) {
		log_warn("API request not sent", "what", what, pool ? "pool" : "service", key,
			 "path", path, NULL);
		sent_forget(pool ? &c->pool_sent : &c->sent, key);
		req_free(r);
	}
	free(body);
}

/* ------------------------------------------------------------------ */
/* IPAddressPool status */

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
		struct sent *ps = sent_get(&c->pool_sent, s->name, false);
		if (same) {
			if (ps)
				sent_forget(&c->pool_sent, s->name);
			continue;
		}
		if (ps && memcmp(ps->v, want, sizeof(want)) == 0)
			continue;   /* sent; the watch has not shown it yet */
		ps = sent_get(&c->pool_sent, s->name, true);
		memcpy(ps->v, want, sizeof(want));
		json_t *fields = json_object();
		for (int k = 0; k < 4; k++)
			json_object_set_new(fields, POOL_FIELDS[k], json_integer(want[k]));
		json_t *p = json_pack("{s:o}", "status", fields);
		char *path = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/ipaddresspools/%s/status",
				       c->ns, s->name);
		char *body = json_dumps(fields, JSON_COMPACT);
		log_debug("updating pool status", "pool", s->name, "status", body, NULL);
		free(body);
		send_patch(c, path, K8S_PATCH_MERGE, p, "pool status patch", s->name, true);
		json_decref(p);
		free(path);
	}
	free(st);
}

/* ------------------------------------------------------------------ */
/* ConfigurationState */

static void retry_soon(void *arg)
{
	struct ctl *c = arg;
	reconciler_retry(c->rec, k8s_backoff_failed(&c->write_backoff, ev_now(c->loop)));
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
	/* The next pass is a whole one, into a fresh allocator. */
	pipeline_live_free(&c->live);
	pipeline_live_init(&c->live, c->ns);
	pipeline_resync(c->pipe);
	c->config_dirty = true;
	c->have_config = false;
	c->stale = false;
	sent_clear(&c->sent);
	sent_clear(&c->pool_sent);
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
		reconciler_retry(c->rec, 0);
	} else {
		log_warn("lost leadership", "identity", c->identity, "lease", LEASE_NAME, NULL);
		reconciler_cancel(c->rec);
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
 * once; the reconciler's drain ends the loop when that is done (lease_busy
 * false) or after DRAIN seconds. */
static void on_lease_released(struct k8s_response *resp, void *arg)
{
	struct ctl *c = arg;
	(void)resp;
	c->lease_busy = false;
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
		return;
	}
	json_object_set_new(spec, "holderIdentity", json_string(""));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
	char *body = json_dumps(l, JSON_COMPACT);
	json_decref(l);
	char *path = lease_path(c);
	c->lease_busy = k8s_update(c->client, path, body, on_lease_released, c) != NULL;
	free(path);
	free(body);
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

static void h_healthz(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct ctl *c = arg;
	(void)req;
	if (reconciler_ready(c->rec))
		http_response_printf(resp, 200, "ok\n");
	else
		http_response_printf(resp, 503, "not synced with the API server yet\n");
}

/* ------------------------------------------------------------------ */
/* reconciling */

/* Collect a reflector store's objects (clones) for the pipeline. */
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
	/* The form own_service_write() compares with what was sent. */
	return k8sd_ingress_json(obj);
}

static char *pools_of(const struct alloc_result *r)
{
	if (r->naddrs == 0)
		return NULL;
	if (r->naddrs == 2 && strcmp(r->pools[0], r->pools[1]) != 0)
		return xasprintf("%s,%s", r->pools[0], r->pools[1]);
	return xstrdup(r->pools[0]);
}

/* Patch status.loadBalancer.ingress to want (JSON array text) when the
 * Service shows something else (differs), unless that was sent already and
 * the watch has not shown it yet.  expect: when not NULL, the ingress the
 * patch requires to find (a JSON Patch "test"; the patch fails when someone
 * else wrote the status meanwhile).  Returns true when a patch was sent. */
static bool sync_status(struct ctl *c, const char *key, const char *ns, const char *name,
			const char *want, bool differs, json_t *expect)
{
	struct sent *st = sent_get(&c->sent, key, false);
	if (!differs) {
		if (st) {
			free(st->status);
			st->status = NULL;
		}
		return false;
	}
	if (st && st->status && strcmp(st->status, want) == 0)
		return false;   /* sent; the watch has not shown it yet */
	st = sent_get(&c->sent, key, true);
	free(st->status);
	st->status = xstrdup(want);
	char *path = xasprintf("/api/v1/namespaces/%s/services/%s/status", ns, name);
	json_t *p;
	if (expect)
		p = json_pack("[{s:s, s:s, s:O}, {s:s, s:s, s:o}]", "op", "test", "path",
			      "/status/loadBalancer/ingress", "value", expect, "op", "replace",
			      "path", "/status/loadBalancer/ingress", "value",
			      json_loads(want, 0, NULL));
	else
		p = json_pack("{s:{s:{s:o}}}", "status", "loadBalancer", "ingress",
			      json_loads(want, 0, NULL));
	log_info("updating service status", "service", key, "ingress", want, NULL);
	send_patch(c, path, expect ? K8S_PATCH_JSON : K8S_PATCH_MERGE, p, "status patch", key,
		   false);
	json_decref(p);
	free(path);
	return true;
}

/* The same for the pool annotation: set it to want, or remove it (want
 * NULL); have is its value now (NULL when absent). */
static bool sync_annotation(struct ctl *c, const char *key, const char *ns, const char *name,
			    const char *want, const char *have)
{
	struct sent *st = sent_get(&c->sent, key, false);
	bool same = want && have ? strcmp(want, have) == 0 : want == have;
	if (same) {
		if (st) {
			free(st->pools);
			st->pools = NULL;
		}
		return false;
	}
	const char *w = want ? want : "";   /* "" in the record: removal sent */
	if (st && st->pools && strcmp(st->pools, w) == 0)
		return false;
	st = sent_get(&c->sent, key, true);
	free(st->pools);
	st->pools = xstrdup(w);
	char *path = xasprintf("/api/v1/namespaces/%s/services/%s", ns, name);
	json_t *p = json_pack("{s:{s:{s:o}}}", "metadata", "annotations", POOL_ANNOTATION,
			      want ? json_string(want) : json_null());
	log_debug(want ? "updating service annotation" : "removing service annotation", "service",
		  key, "annotation", POOL_ANNOTATION, "value", w, NULL);
	send_patch(c, path, K8S_PATCH_MERGE, p, "annotation patch", key, false);
	json_decref(p);
	free(path);
	return true;
}

/* Drop the record of a Service once nothing it holds is awaited. */
static void sent_tidy(struct ctl *c, const char *key)
{
	struct sent *st = sent_get(&c->sent, key, false);
	if (st && !st->status && !st->pools)
		sent_forget(&c->sent, key);
}

/* Addresses the allocator held for a Service before a pass. */
struct held {
	size_t n;
	struct ip_addr a[2];
};

/* Why a Service is not ours, for the log and the event. */
static char *not_ours_why(const struct ctl *c, const struct service *s)
{
	if (!service_is_load_balancer(s))
		return xasprintf("its type is %s, not LoadBalancer",
				 s->type && *s->type ? s->type : "ClusterIP");
	if (s->lb_class && *s->lb_class && c->lb_class)
		return xasprintf("its loadBalancerClass is \"%s\", not \"%s\"", s->lb_class,
				 c->lb_class);
	if (s->lb_class && *s->lb_class)
		return xasprintf("its loadBalancerClass is \"%s\"; this controller serves "
				 "Services without one",
				 s->lb_class);
	return xasprintf("it has no loadBalancerClass; this controller serves \"%s\"",
			 c->lb_class ? c->lb_class : "");
}

static void list_append(char **list, const char *sep, const char *item)
{
	char *n = xasprintf("%s%s%s", *list ? *list : "", *list ? sep : "", item);
	free(*list);
	*list = n;
}

/*
 * A Service that is not ours (not a LoadBalancer, or of another
 * loadBalancerClass).  As MetalLB's controller, we clear a Service we had
 * given addresses to once it stops being ours: its addresses are released
 * (alloc_service() did that), its ingress emptied and the pool annotation
 * removed.  But another implementation writes the status of Services of its
 * class, so we act only on evidence that the addresses are ours:
 *
 * - the allocator held addresses for it before this pass: those leave the
 *   ingress, and the annotation goes;
 * - after a restart or a change of leader the allocator knows nothing, and
 *   the annotation is the evidence.  A Service that is no longer a
 *   LoadBalancer loses it (the API server emptied its status when the type
 *   changed; nobody else can hold addresses for it).  A LoadBalancer of
 *   another class loses the ingress addresses that lie in our pools (ours
 *   when --lb-class changed across a restart) and then the annotation, and
 *   is otherwise left alone: the annotation may be another instance's
 *   (MetalLB instances of different classes write the same one), or a
 *   leftover from a Service that went through ClusterIP to another class
 *   while we were down, whose status the other implementation now writes.
 *
 * The status patch tests that the ingress is still what we saw, so a write
 * by another implementation in between makes it fail (and the next pass
 * looks again) instead of being lost.
 */
static void clear_service(struct ctl *c, const struct model *m, const struct service *s,
			  const struct tree *obj, const char *key, const struct held *held)
{
	const char *ns = s->meta.namespace_, *name = s->meta.name;
	const char *ann = tree_get_str(tree_path(obj, "metadata.annotations"), POOL_ANNOTATION);
	if (!held->n && !ann) {
		sent_forget(&c->sent, key);   /* never ours, or cleared already */
		return;
	}
	bool lb = service_is_load_balancer(s);
	json_t *keep = json_array();
	char *dropped = NULL;
	size_t ndrop = 0;
	const struct tree *arr = tree_path(obj, "status.loadBalancer.ingress");
	json_t *ing = arr ? tree_to_json(arr) : NULL;
	size_t i;
	json_t *v;
	if (ing && json_is_array(ing))
		json_array_foreach(ing, i, v)
		{
			const char *ip = json_string_value(json_object_get(v, "ip"));
			struct ip_addr a;
			bool parsed = ip && ip_parse(ip, &a, NULL, 0) == 0;
			/* A Service that is not a LoadBalancer may hold no
			 * ingress at all (the API server refuses it). */
			bool mine = !lb;
			for (size_t k = 0; parsed && k < held->n && !mine; k++)
				mine = ip_eq(&a, &held->a[k]);
			if (parsed && !mine && ann)
				mine = model_pool_containing(m, &a) != NULL;
			if (mine) {
				list_append(&dropped, ", ", ip ? ip : "(no ip)");
				ndrop++;
			} else {
				json_array_append(keep, v);
			}
		}
	if (!held->n && lb && !ndrop) {
		json_decref(ing);
		json_decref(keep);
		sent_forget(&c->sent, key);
		return;
	}
	char *want = json_dumps(keep, JSON_COMPACT);
	json_decref(keep);
	bool status_sent = sync_status(c, key, ns, name, want, ndrop > 0, ing);
	json_decref(ing);
	bool ann_sent = sync_annotation(c, key, ns, name, NULL, ann);
	sent_tidy(c, key);
	if (held->n || status_sent || ann_sent) {
		char *why = not_ours_why(c, s);
		char *released = NULL, *done = NULL;
		for (size_t k = 0; k < held->n; k++) {
			char b[IP_STR_MAX];
			list_append(&released, ", ", ip_format(&held->a[k], b));
		}
		if (released) {
			char *x = xasprintf("released %s", released);
			list_append(&done, "; ", x);
			free(x);
		}
		if (status_sent) {
			char *x = xasprintf("cleared %s from its status", dropped ? dropped : "");
			list_append(&done, "; ", x);
			free(x);
		}
		if (ann_sent)
			list_append(&done, "; ", "removed the " POOL_ANNOTATION " annotation");
		char *msg = xasprintf("\"%s\" is no longer served by this controller (%s): %s", key,
				      why, done ? done : "");
		log_info("clearing service", "service", key, "why", why, "released",
			 released ? released : "", "cleared",
			 status_sent && dropped ? dropped : "", NULL);
		k8sd_post_event(c->client, REPORTING_CONTROLLER, c->instance, obj, ns, name,
				"Normal", "ClearAssignment", msg);
		free(msg);
		free(done);
		free(released);
		free(why);
	}
	free(want);
	free(dropped);
}

static bool sent_service_exists(const struct sent *s, void *arg)
{
	return k8s_store_get_key(arg, s->key) != NULL;
}

/* Post a Service's event; a failure repeated by every pass is posted once
 * (until the Service stops failing or the message changes). */
static void service_event(struct ctl *c, const struct tree *obj, const char *key,
			  const char *ns, const char *name, const struct alloc_event *ev)
{
	bool failure = strcmp(ev->reason, "AllocationFailed") == 0;
	if (failure) {
		struct sent *f = sent_get(&c->failed_sent, key, true);
		if (f->status && strcmp(f->status, ev->message) == 0)
			return;
		free(f->status);
		f->status = xstrdup(ev->message);
	}
	enum log_level lvl = strcmp(ev->type, "Warning") == 0 ? LOG_WARN : LOG_INFO;
	/* The Service's families in the line: the guide looks for IPv6
	 * allocation problems with `kubectl logs ... | grep -i ipv6`, and an
	 * event's message names addresses and pools, not families. */
	char fam[16] = "";
	const struct tree *fs = obj ? tree_path(obj, "spec.ipFamilies") : NULL;
	for (size_t i = 0; fs && fs->type == TREE_ARRAY && i < fs->n && i < 2; i++) {
		const struct tree *f = fs->items[i];
		const char *fname = f->type != TREE_STRING ? NULL
				    : strcmp(f->text, "IPv4") == 0 ? "ipv4"
				    : strcmp(f->text, "IPv6") == 0 ? "ipv6" : NULL;
		if (fname)
			snprintf(fam + strlen(fam), sizeof(fam) - strlen(fam), "%s%s",
				 fam[0] ? "," : "", fname);
	}
	log_msg(lvl, ev->message, "service", key, "reason", ev->reason,
		fam[0] ? "families" : NULL, fam, NULL);
	k8sd_post_event(c->client, REPORTING_CONTROLLER, c->instance, obj, ns, name, ev->type,
			ev->reason, ev->message);
}

/* Whether the verdict fails ns/name (rule 2). */
static bool verdict_fails(const struct pipeline_verdict *v, const char *ns, const char *name)
{
	for (size_t i = 0; i < v->nfailed; i++)
		if (strcmp(v->failed[i].namespace_, ns) == 0 && strcmp(v->failed[i].name, name) == 0)
			return true;
	return false;
}

/* Bring one Service's status and annotation to what the allocator holds
 * for it (or clear it when it is no longer ours); held: what the
 * allocator held before the pass (NULL: nothing known). */
static void sync_service(struct ctl *c, const struct service *s, const struct held *held)
{
	const char *ns = s->meta.namespace_, *name = s->meta.name;
	const struct tree *obj = k8s_store_get(k8s_reflector_store(c->refl[R_SERVICES]), ns, name);
	if (!obj)
		return;
	char key[512];
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (!pipeline_service_ours(c->pipe, s)) {
		static const struct held none;
		clear_service(c, &c->live.model, s, obj, key, held ? held : &none);
		return;
	}
	struct alloc_result r = {0};
	const char *pools[2] = {NULL, NULL};
	r.naddrs = alloc_get(c->alloc, ns, name, r.addrs, pools);
	r.pools[0] = (char *)pools[0];
	r.pools[1] = (char *)pools[1];
	char *want = status_json(&r);
	char *have = ingress_json_of(obj);
	char *ann = pools_of(&r);
	sync_status(c, key, ns, name, want, strcmp(want, have) != 0, NULL);
	sync_annotation(c, key, ns, name, ann,
			tree_get_str(tree_path(obj, "metadata.annotations"), POOL_ANNOTATION));
	sent_tidy(c, key);
	free(want);
	free(have);
	free(ann);
}

/* sync_service() for the Service "ns/name" of the model, if it is there. */
static void sync_key(struct ctl *c, const struct model *m, const char *key)
{
	const char *slash = strchr(key, '/');
	if (!slash)
		return;
	char ns[256];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
	const struct service *svc = model_find_service(m, ns, slash + 1);
	if (svc)
		sync_service(c, svc, hashmap_get_str(&c->pending, key));
}

/*
 * One pass: a pipeline step over what the reflectors fed since the last
 * one (on_change()).  Services and EndpointSlices were fed one change at a
 * time; when a configuration kind changed, its source is fed again.  A
 * step that only saw good Services allocates just those
 * (alloc_update_service()) and patches the status of those and of the
 * Services whose addresses it moved; anything else is a whole pass
 * (every Service checked, its status compared).
 */
static void reconcile(struct ctl *c)
{
	if (!c->leader)
		return;   /* a follower writes nothing; its reflectors stay in sync */
	if (c->config_dirty) {
		k8sd_feed_config(c->pipe, &c->refl[R_NAMESPACES], R_COUNT - R_NAMESPACES);
		c->config_dirty = false;
	}
	/* What the allocator holds for each changed Service before the step:
	 * one that stopped being ours is released by it, and clear_service()
	 * needs to know which addresses were ours. */
	struct hashmap_iter it;
	hashmap_iter_init(&it, &c->pending);
	while (hashmap_iter_next(&it)) {
		struct held *h = it.value;
		const char *slash = strchr(it.key, '/');
		char ns[256];
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - (const char *)it.key),
			 (const char *)it.key);
		h->n = alloc_get(c->alloc, ns, slash + 1, h->a, NULL);
	}
	struct pipeline_step st;
	bool invalid = k8sd_step(c->pipe, c->alloc, &c->live, c->cstate, &c->verdict, &st);
	c->whole_passes += st.full;
	const struct pipeline_verdict *v = &c->live.verdict;
	c->updates++;
	if (invalid)
		c->update_errors++;
	if (st.full) {
		if (!c->live.running)
			log_error("configuration has errors; nothing allocated until it is fixed",
				  NULL);
		else if (!st.taken)
			log_error("configuration has errors; keeping the last good one", NULL);
		else if (invalid)
			log_warn("configuration refers to objects that do not exist; running it "
				 "(no valid one yet), those references select nothing",
				 NULL);
	}
	c->have_config = c->live.running;
	c->stale = c->live.stale;

	const struct k8s_store *svcs = k8s_reflector_store(c->refl[R_SERVICES]);
	struct model *m = &c->live.model;
	/* The allocator's events (each Service it computed), in order. */
	for (size_t i = 0; c->have_config && i < st.changes.n; i++) {
		const struct alloc_change *ch = &st.changes.items[i];
		const struct alloc_result *r = &ch->result;
		char key[512];
		snprintf(key, sizeof(key), "%s/%s", ch->ns, ch->name);
		const struct tree *obj = k8s_store_get(svcs, ch->ns, ch->name);
		bool failing = false;
		for (size_t e = 0; e < r->nevents; e++) {
			failing |= strcmp(r->events[e].reason, "AllocationFailed") == 0;
			service_event(c, obj, key, ch->ns, ch->name, &r->events[e]);
		}
		if (!failing && !verdict_fails(v, ch->ns, ch->name))
			sent_forget(&c->failed_sent, key);
	}
	if (c->have_config && st.full) {
		for (size_t i = 0; i < m->nservices; i++) {
			char key[512];
			snprintf(key, sizeof(key), "%s/%s", m->services[i].meta.namespace_,
				 m->services[i].meta.name);
			sync_service(c, &m->services[i], hashmap_get_str(&c->pending, key));
		}
		/* Failed Services: their AllocationFailed event (posted once
		 * while it says the same). */
		for (size_t i = 0; i < v->nfailed; i++) {
			const struct pipeline_failed *f = &v->failed[i];
			char key[512];
			snprintf(key, sizeof(key), "%s/%s", f->namespace_, f->name);
			struct alloc_event ev = pipeline_failed_event(f);
			service_event(c, k8s_store_get(svcs, f->namespace_, f->name), key,
				      f->namespace_, f->name, &ev);
		}
		/* Records of Services that are gone. */
		sent_filter(&c->sent, sent_service_exists, (void *)svcs);
		sent_filter(&c->failed_sent, sent_service_exists, (void *)svcs);
	} else if (c->have_config) {
		for (size_t i = 0; i < st.nreplan; i++)
			sync_key(c, m, st.replan[i]);
		/* Writes that failed: sent again (their sent record is gone,
		 * so sync_service() sends what the Service lacks). */
		hashmap_iter_init(&it, &c->rewrite);
		while (hashmap_iter_next(&it))
			sync_key(c, m, it.key);
	}
	if (c->have_config)
		hashmap_clear(&c->rewrite);
	bool full = st.full;
	pipeline_step_free(&st);
	hashmap_iter_init(&it, &c->pending);
	while (hashmap_iter_next(&it))
		free(it.value);
	/* Emptied, not kept at the size the start's burst gave it: every
	 * pass walks all of its slots. */
	hashmap_clear(&c->pending);
	if (c->have_config)
		update_pool_status(c);
	metrics_update(c);
	/* A whole pass builds and drops a whole model: give the memory back
	 * (as the speaker does). */
	if (full)
		malloc_trim(0);
}

static void on_pass(void *arg)
{
	reconcile(arg);
}

/* Whether a Service update only shows the status and annotation patches
 * this controller sent (k8sd_service_echo()): those need no pass. */
static bool own_service_write(struct ctl *c, enum k8s_change change, const struct tree *object,
			      const struct tree *old)
{
	if (change != K8S_CHANGE_MODIFIED || !old)
		return false;
	const struct tree *meta = tree_get(object, "metadata");
	const char *ns = tree_get_str(meta, "namespace"), *name = tree_get_str(meta, "name");
	if (!ns || !name)
		return false;
	char key[512];
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	struct sent *st = sent_get(&c->sent, key, false);
	if (!k8sd_service_echo(old, object, POOL_ANNOTATION, st ? st->status : NULL,
			       st ? st->pools : NULL))
		return false;
	if (!st)
		return true;
	/* What the watch now shows is no longer awaited: a later write by
	 * someone else is a difference that the next pass must undo. */
	if (st->status) {
		char *have = k8sd_ingress_json(object);
		if (strcmp(have, st->status) == 0) {
			free(st->status);
			st->status = NULL;
		}
		free(have);
	}
	if (st->pools) {
		const char *ann = tree_get_str(tree_path(object, "metadata.annotations"),
					       POOL_ANNOTATION);
		if (ann ? strcmp(ann, st->pools) == 0 : !*st->pools) {
			free(st->pools);
			st->pools = NULL;
		}
	}
	sent_tidy(c, key);
	return true;
}

/* Whether an IPAddressPool update only shows the status figures this
 * controller sent (k8sd_status_patch_echo()). */
static bool own_pool_write(struct ctl *c, enum k8s_change change, const struct tree *object,
			   const struct tree *old)
{
	if (change != K8S_CHANGE_MODIFIED || !old)
		return false;
	const char *name = tree_get_str(tree_get(object, "metadata"), "name");
	const struct sent *ps = name ? sent_get(&c->pool_sent, name, false) : NULL;
	if (!ps)
		return false;
	json_t *fields = json_object();
	for (int k = 0; k < 4; k++)
		json_object_set_new(fields, POOL_FIELDS[k], json_integer(ps->v[k]));
	char *sent = json_dumps(fields, JSON_COMPACT);
	json_decref(fields);
	bool echo = k8sd_status_patch_echo(old, object, sent);
	free(sent);
	if (echo)
		sent_forget(&c->pool_sent, name);   /* shown: no longer awaited */
	return echo;
}

static void on_change(enum k8s_change change, const struct tree *object,
		      const struct tree *old, void *arg)
{
	struct refl_arg *ra = arg;
	struct ctl *c = ra->c;
	k8sd_heap_changed(c->loop);
	if (ra->i == R_SERVICES && own_service_write(c, change, object, old)) {
		/* The store follows (a later change of the Service is read
		 * with it), without a step. */
		pipeline_refresh(c->pipe, K8SD_SOURCE_OBJECTS, tree_ref((struct tree *)object));
		reconciler_own_write(c->rec);
		return;
	}
	if (ra->i == R_POOLS && own_pool_write(c, change, object, old)) {
		reconciler_own_write(c->rec);
		return;
	}
	if (ra->i == R_SERVICES) {
		k8sd_feed(c->pipe, change, object);
		char *key = k8s_object_key(object);
		if (key && !hashmap_get_str(&c->pending, key))
			hashmap_put_str(&c->pending, key, xcalloc(1, sizeof(struct held)), NULL);
		if (key && change == K8S_CHANGE_DELETED)
			sent_forget(&c->sent, key);
		free(key);
	} else if (ra->i == R_NAMESPACES || !k8sd_status_only(change, object, old)) {
		/* A status-only change of a metallb.io object (someone else's
		 * write of a pool's figures) changes no configuration: the pass
		 * is a step, whose pool status update puts the figures back. */
		c->config_dirty = true;
	}
	reconciler_changed(c->rec);
}

static void on_synced(void *arg)
{
	struct ctl *c = ((struct refl_arg *)arg)->c;
	if (c->started)
		return;
	for (int i = 0; i < R_COUNT; i++)
		if (!k8s_reflector_synced(c->refl[i]))
			return;
	c->started = true;
	log_info("all resources synced", NULL);
	reconciler_synced(c->rec);
}

static void on_refl_error(const struct k8s_response *resp, void *arg)
{
	(void)arg;
	if (resp->status == 429)
		return;   /* the API server is busy: the reflector said so, at info */
	log_warn("watch failed; retrying", "error", resp->message ? resp->message : "?",
		 "reason", resp->reason, NULL);
}

/* SIGTERM/SIGINT (the reconciler's stop): no more watches; a leader gives
 * its Lease up.  The reconciler then lets the Lease release and the
 * requests under way (patches, Events) finish, for DRAIN seconds at most:
 * a patch cut off may or may not have been applied.  A second signal ends
 * the wait. */
static void on_stop(void *arg)
{
	struct ctl *c = arg;
	c->stopping = true;
	ev_timer_stop(c->loop, &c->lease_timer);
	for (int i = 0; i < R_COUNT; i++) {
		k8s_reflector_free(c->refl[i]);
		c->refl[i] = NULL;
	}
	if (c->leader && !c->lease_busy) {
		/* Give the Lease up. */
		char *path = lease_path(c);
		c->lease_busy = k8s_get(c->client, path, on_release_get, c) != NULL;
		free(path);
	}
}

static bool on_pending(void *arg)
{
	struct ctl *c = arg;
	return c->lease_busy || k8s_client_pending(c->client);
}

static void status_config(struct jw *w, void *arg)
{
	struct ctl *c = arg;
	jw_kbool(w, "synced", c->started);
	jw_kint(w, "updates", (long long)c->updates);
	jw_kint(w, "failed_updates", (long long)c->update_errors);
	jw_kint(w, "whole_passes", (long long)c->whole_passes);
	k8sd_status_memory(w, c->refl, R_COUNT);
}

static void h_status(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct ctl *c = arg;
	(void)req;
	struct status_doc doc = {
		.namespace_ = c->ns,
		.leader = c->leader,
		.loaded = c->have_config,
		.stale = c->stale,
		.config_extra = status_config,
		.verdict = c->verdict,
		.rec = c->rec,
		.arg = c,
	};
	status_doc_respond(&doc, resp);
}

/* ------------------------------------------------------------------ */

static void controller_usage(FILE *out)
{
	fputs("usage: ironlb controller [--kubeconfig FILE] [--metrics-listen ADDR:PORT]\n"
	      "                         [--metrics-host ADDR] [--namespace NS]\n"
	      "                         [--lb-class CLASS] [--log-level L]\n"
	      "                         [--kube-api-qps QPS] [--kube-api-burst N]\n"
	      "\n"
	      "Give LoadBalancer Services addresses from the metallb.io IPAddressPools of\n"
	      "NS (default metallb-system), writing status.loadBalancer.ingress.\n"
	      "--metrics-listen defaults to :7472; --metrics-host ADDR (IPv4 or IPv6, no\n"
	      "port) serves on that address alone, at --metrics-listen's port.\n"
	      "--kube-api-qps (default 500; 0: no limit) and --kube-api-burst (default\n"
	      "1000): requests to the API server a second, and at once (watches aside).\n",
	      out);
}

int cmd_controller(int argc, char **argv)
{
	static const struct option opts[] = {
		{"kubeconfig", required_argument, NULL, 'k'},
		{"metrics-listen", required_argument, NULL, 'm'},
		{"metrics-host", required_argument, NULL, 'H'},
		{"namespace", required_argument, NULL, 'n'},
		{"lb-class", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'l'},
		{"kube-api-qps", required_argument, NULL, OPT_KUBE_API_QPS},
		{"kube-api-burst", required_argument, NULL, OPT_KUBE_API_BURST},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *kubeconfig = NULL, *listen = NULL, *ns = NULL, *lb_class = NULL;
	const char *metrics_host = NULL;
	double api_qps = K8S_DEFAULT_QPS;
	unsigned api_burst = K8S_DEFAULT_BURST;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': kubeconfig = optarg; break;
		case 'm': listen = optarg; break;
		case 'H': metrics_host = optarg; break;
		case 'n': ns = optarg; break;
		case 'c': lb_class = optarg; break;
		case OPT_KUBE_API_QPS:
		case OPT_KUBE_API_BURST:
			if (k8sd_rate_option("controller", ch, optarg, &api_qps, &api_burst) != 0)
				return 2;
			break;
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
	/* Static: reachable at an early exit, freed at the end. */
	static char *listen_at;
	if (k8sd_listen_address("controller", &listen, ":7472", metrics_host, &listen_at) != 0)
		return 2;
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
	/* Long-running, with bursts of allocation (the start's lists and
	 * whole pass): large blocks from mmap, the heap's top returned early
	 * (as the speaker and ironlb run). */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	static struct ctl c;
	c.loop = ev_default_loop(0);
	k8s_backoff_init(&c.write_backoff, RETRY, RETRY_MAX);
	hashmap_init(&c.rewrite, true);
	c.ns = ns;
	c.lb_class = lb_class && *lb_class ? lb_class : NULL;   /* "": no class, as the allocator takes it */
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
	k8s_client_set_rate_limit(c.client, api_qps, api_burst);
	c.cstate = k8sd_cstate_new(c.client, ns, CONFIG_STATE_NAME, "controller", NULL,
				   REPORTING_CONTROLLER, c.instance, retry_soon, &c);
	c.alloc = alloc_new();
	alloc_set_lb_class(c.alloc, lb_class);
	struct pipeline_opts po = {.config_namespace = ns, .lb_class = c.lb_class};
	c.pipe = pipeline_new(&po);
	pipeline_live_init(&c.live, ns);
	hashmap_init(&c.pending, true);
	c.config_dirty = true;
	struct reconciler_opts ro = {
		RECONCILER_K8S_DEFAULTS,
		.pass = on_pass,
		.stop = on_stop,
		.pending = on_pending,
		.arg = &c,
	};
	ro.drain = DRAIN;   /* the Lease release comes first */
	c.rec = reconciler_new(c.loop, &ro);
	metrics_setup(&c);
	reconciler_metrics(c.rec, c.reg);
	k8sd_client_metrics(c.reg, c.client);
	metrics_update(&c);

	c.http = http_server_new(c.loop);
	http_server_route(c.http, "GET", "/metrics", http_metrics_handler, c.reg);
	http_server_route(c.http, "GET", "/healthz", h_healthz, &c);
	http_server_route(c.http, "GET", "/status", h_status, &c);
	if (http_server_start(c.http, listen, &err) != 0) {
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

	for (int i = 0; i < R_COUNT; i++) {
		c.rargs[i] = (struct refl_arg){&c, i};
		struct k8s_reflector_opts o = {
			.path = c.paths[i],
			.on_change = on_change,
			.on_synced = on_synced,
			.on_error = on_refl_error,
			.arg = &c.rargs[i],
		};
		c.refl[i] = k8s_reflector_new(c.client, &o);
		k8s_reflector_start(c.refl[i]);
	}

	ev_timer_init(&c.lease_timer, on_lease_timer, 0., 0.);
	c.lease_timer.data = &c;
	ev_timer_start(c.loop, &c.lease_timer);

	/* The controller only talks to the API server: it keeps nothing.
	 * The kubeconfig, its token and certificates are read by now. */
	privs_restrict("controller", 0);
	sandbox_enter(SANDBOX_CONTROLLER);

	char port[16];
	snprintf(port, sizeof(port), "%u", http_server_port(c.http));
	log_info("controller started", "namespace", ns, "server",
		 k8s_client_config(c.client)->server, "metrics_port", port, NULL);
	ev_run(c.loop, 0);

	/* The reconciler ended the loop after on_stop() and the drain. */
	ev_timer_stop(c.loop, &c.lease_timer);
	for (int i = 0; i < R_COUNT; i++) {
		k8s_reflector_free(c.refl[i]);
		free(c.paths[i]);
	}
	reconciler_free(c.rec);

	k8sd_cstate_free(c.cstate);
	k8s_client_free(c.client);   /* cancels the rest, without callbacks */
	while (c.reqs)
		req_free(c.reqs);
	k8sd_events_forget();
	http_server_free(c.http);
	free(listen_at);
	metrics_registry_free(c.reg);
	alloc_free(c.alloc);
	pipeline_live_free(&c.live);
	struct hashmap_iter it;
	hashmap_iter_init(&it, &c.pending);
	while (hashmap_iter_next(&it))
		free(it.value);
	hashmap_clear(&c.pending);
	hashmap_clear(&c.rewrite);
	pipeline_free(c.pipe);
	json_decref(c.verdict);
	sent_clear(&c.sent);
	sent_clear(&c.failed_sent);
	sent_clear(&c.pool_sent);
	free(c.observed);
	free(c.identity);
	free(c.instance);
	return 0;
}
