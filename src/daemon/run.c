/*
 * `ironlb run`: the standalone daemon (see daemon.h for the data flow).
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "alloc/alloc_metrics.h"
#include "base/privs.h"
#include "base/hashmap.h"
#include "base/jw.h"
#include "base/log.h"
#include "base/util.h"
#include "node/announcer.h"
#include "node/sandbox.h"
#include "node/liveness.h"
#include "daemon/state.h"
#include "base/metrics.h"
#include "http/server.h"
#include "member/member.h"
#include "member/sync.h"
#include "manifest/manifest.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "reconcile/reconciler.h"
#include "status/status.h"

/* Events kept per Service for /status, newest last. */
#define EVENTS_KEPT 8
/* A step that took at least this many Services trims the heap. */
#define TRIM_AFTER_SERVICES 256
/* A pass reads at most this many of the files inotify named and leaves
 * the rest to the next pass, which the reconciler runs at once: under a
 * stream of changes passes stay short (tens of milliseconds) and a change
 * never waits behind one long pass and then its spacing. */
#define PASS_FILES 128
/* While such passes follow each other, this node's holding for the
 * members is built again at most this often (seconds). */
#define OWN_BATCH 0.05
/* At most one state file write per this many seconds. */
#define STATE_INTERVAL 1.0
/* Seconds a node that leaves keeps its addresses after telling the
 * members: the successor's takeover takes one network delay and a
 * re-election (milliseconds); the rest is margin for a loaded host. */
#define LEAVE_LINGER 0.15
/* How often a lost directory watch is tried again (watch_dir()). */
#define WATCH_RETRY 0.5
/* A node that starts adopts the running members' address table once it
 * has every live member's state, or after this long without it. */
#define SETTLE_GRACE 3.0

/* What the daemon keeps of a Service, by "ns/name", in one block: when
 * its addresses were allocated and its events for /status, newest last.
 * Each event is its kind (a byte: the index of its type and reason in
 * ev_kinds, which holds the few pairs the allocator uses; EV_KIND_INLINE:
 * "type\0reason\0" follow) and its message.  10,000 Services held 4
 * MiB of events as struct alloc_event copies, EVENTS_KEPT slots each;
 * with the text of the type and reason, and the time in a map of its own,
 * 20,000 held 4.7 MiB.  The map borrows the key, so the block is taken
 * out of the map while it is reallocated; a block with neither a time
 * nor an event goes. */
struct svc_rec {
	uint64_t stamp;     /* wall clock (us) its addresses were allocated; 0: unknown */
	uint32_t len;       /* bytes of data in use */
	unsigned char n;    /* events */
	char data[];        /* "ns/name\0", then the events, oldest first */
};

#define EV_KIND_INLINE 255

struct ev_kind {
	char *type, *reason;
};

struct daemon {
	const struct daemon_opts *o;
	struct ev_loop *loop;

	/* The manifest directory feeds the pipeline (pipeline.h), which keeps
	 * the last good configuration and Services and judges every reload. */
	struct pipeline *pipe;
	/* What is in force and the verdict, kept between passes and changed
	 * one object at a time (pipeline_step()). */
	struct pipeline_live live;
	bool have_model;
	bool stale;
	unsigned long reloads, reload_failures;
	double last_reload;   /* wall clock of the last reload attempt */
	double last_applied;  /* wall clock the last good model was applied */

	struct alloc *alloc;
	struct state saved;   /* what the state file holds */
	struct state adopt;   /* loaded at start: addresses to adopt */
	/* The state file is written off the critical path: at most once per
	 * STATE_INTERVAL after allocations changed, and at exit. */
	bool state_dirty;
	ev_timer state_w;
	/* A write in a child process (fork: it sees the allocations as they
	 * are; the loop goes on while it serialises and fsyncs), or -1. */
	pid_t state_child;
	ev_child state_child_w;
	struct hashmap svcs;   /* "ns/name" -> struct svc_rec (the key is borrowed) */
	size_t nev_kinds;
	struct ev_kind ev_kinds[EV_KIND_INLINE];

	struct announcer *ann;

	/* The failure detector between nodes (NULL until this node's Node
	 * object has an InternalIP).  A node it holds dead or left is in
	 * `down` and is no Layer 2 candidate until it is alive again; a
	 * change is applied by a whole re-plan (liveness changes are rare),
	 * from a zero timer so that it runs after the detector's own work. */
	struct member_io *mio;
	struct hashmap down;       /* node name -> (void *)1, keys copied */
	/* The members' address table (docs/operations.md, "One address
	 * table"): every member's holding, pulled over the state exchange
	 * when its digest changes, and this node's own.  A node is settled
	 * once it adopted the table of the running members; until then it
	 * is no Layer 2 candidate and its holding does not count. */
	struct sync_io *sio;
	struct hashmap holdings;   /* member name -> struct sync_state *, keys copied */
	struct sync_state own;
	bool settled;
	double settle_by;          /* ev_now by which to settle regardless */
	unsigned long adopted;     /* Services whose addresses the table moved */
	ev_timer table_w;          /* resolve the table (a holding arrived) */
	ev_timer settle_w;         /* the grace time for settling is over */
	ev_timer claims_w;         /* a holding arrived: did the claims change? */
	ev_timer own_w;            /* publish this node's holding again */
	/* Layer 2 placement (sticky, balanced): who announces what now, from
	 * the live members' holdings and this node's plan, with since when
	 * (d->since: this node's, "ns/name" -> uint64_t *). */
	struct announce_claim *claims;
	size_t nclaims;
	struct hashmap since;
	struct hashmap no_addr;    /* nodes already warned about, keys copied */
	bool self_warned;
	ev_timer liveness_w;
	/* Graceful leave: between telling the members and withdrawing. */
	ev_timer linger_w;
	bool lingering;

	struct metrics_registry *reg;
	struct metrics_family *m_loaded, *m_stale, *m_updates, *m_update_errors;
	struct alloc_metrics am;
	struct http_server *http;

	int inotify_fd;
	int watch;
	/* Files inotify named since the last pass (read alone), or a full
	 * resync (start, SIGHUP, inotify overflow, the directory moved). */
	struct hashmap pending;  /* name -> NULL, keys copied */
	/* The same names in the order they first came (oldest at qhead), so
	 * that a bounded pass takes the oldest and none waits for ever, and
	 * when (ev_now), for the wait the reconciler counts. */
	struct pending_file {
		char *name;
		double at;
	} *queue;
	size_t qhead, qn, qcap;
	bool resync;
	ev_io inotify_w;
	/* While the directory cannot be watched (deleted, not created yet):
	 * try again every WATCH_RETRY; the configuration counts as stale. */
	ev_timer rewatch_w;
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

/* When a Service's addresses were allocated (wall clock, us), for the
 * members' address table and the state file. */
static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------------------ */
/* per Service: allocation time and events */

static struct svc_rec *rec_find(const struct daemon *d, const char *key)
{
	return hashmap_get_str(&d->svcs, key);
}

/* The parts of a packed event. */
static const char *ev_body(const char *ev)
{
	if ((unsigned char)*ev != EV_KIND_INLINE)
		return ev + 1;
	const char *r = ev + 1 + strlen(ev + 1) + 1;
	return r + strlen(r) + 1;
}

static const char *ev_type(const struct daemon *d, const char *ev)
{
	unsigned char k = (unsigned char)*ev;
	return k == EV_KIND_INLINE ? ev + 1 : d->ev_kinds[k].type;
}

static const char *ev_reason(const struct daemon *d, const char *ev)
{
	unsigned char k = (unsigned char)*ev;
	return k == EV_KIND_INLINE ? ev + 1 + strlen(ev + 1) + 1 : d->ev_kinds[k].reason;
}

static const char *ev_message(const char *ev)
{
	return ev_body(ev);
}

/* The event after ev. */
static const char *ev_next(const char *ev)
{
	const char *m = ev_body(ev);
	return m + strlen(m) + 1;
}

static const char *ev_first(const struct svc_rec *r)
{
	return r->data + strlen(r->data) + 1;
}

static const char *ev_last(const struct svc_rec *r)
{
	const char *e = ev_first(r);
	for (size_t k = 1; k < r->n; k++)
		e = ev_next(e);
	return e;
}

/* The kind byte of a type and reason (EV_KIND_INLINE once the table is
 * full, which the allocator's few reasons never fill). */
static unsigned char ev_kind(struct daemon *d, const char *type, const char *reason)
{
	for (size_t k = 0; k < d->nev_kinds; k++)
		if (strcmp(d->ev_kinds[k].type, type) == 0 &&
		    strcmp(d->ev_kinds[k].reason, reason) == 0)
			return (unsigned char)k;
	if (d->nev_kinds == EV_KIND_INLINE)
		return EV_KIND_INLINE;
	d->ev_kinds[d->nev_kinds].type = xstrdup(type);
	d->ev_kinds[d->nev_kinds].reason = xstrdup(reason);
	return (unsigned char)d->nev_kinds++;
}

/* The record of key taken out of the map (to be changed, then put back
 * with rec_put()), or a new one. */
static struct svc_rec *rec_take(struct daemon *d, const char *key)
{
	struct svc_rec *r = NULL;
	if (hashmap_del_str(&d->svcs, key, (void **)&r))
		return r;
	size_t kl = strlen(key) + 1;
	r = xmalloc(sizeof(*r) + kl);
	r->stamp = 0;
	r->n = 0;
	r->len = (uint32_t)kl;
	memcpy(r->data, key, kl);
	return r;
}

static void rec_put(struct daemon *d, struct svc_rec *r)
{
	if (!r->stamp && !r->n) {
		free(r);
		return;
	}
	hashmap_put_str(&d->svcs, r->data, r, NULL);
}

static uint64_t stamp_get(const struct daemon *d, const char *key)
{
	const struct svc_rec *r = rec_find(d, key);
	return r ? r->stamp : 0;
}

static void stamp_set(struct daemon *d, const char *key, uint64_t v)
{
	struct svc_rec *r = rec_find(d, key);
	if (r) {
		/* In place: the block does not move. */
		r->stamp = v;
		if (!v)
			rec_put(d, rec_take(d, key));
		return;
	}
	if (!v)
		return;
	r = rec_take(d, key);
	r->stamp = v;
	rec_put(d, r);
}

static void stamp_del(struct daemon *d, const char *key)
{
	stamp_set(d, key, 0);
}

static void events_record(struct daemon *d, const char *key, const struct alloc_event *ev)
{
	unsigned char kind = ev_kind(d, ev->type, ev->reason);
	size_t lk = kind == EV_KIND_INLINE ? strlen(ev->type) + strlen(ev->reason) + 2 : 0;
	size_t lm = strlen(ev->message) + 1;
	struct svc_rec *r = rec_take(d, key);
	if (r->n == EVENTS_KEPT) {
		/* The oldest goes. */
		const char *first = ev_first(r);
		size_t drop = (size_t)(ev_next(first) - first);
		size_t at = (size_t)(first - r->data);
		memmove(r->data + at, r->data + at + drop, r->len - at - drop);
		r->len -= (uint32_t)drop;
		r->n--;
	}
	r = xrealloc(r, sizeof(*r) + r->len + 1 + lk + lm);
	char *p = r->data + r->len;
	*p++ = (char)kind;
	if (lk) {
		size_t lt = strlen(ev->type) + 1;
		memcpy(p, ev->type, lt);
		memcpy(p + lt, ev->reason, lk - lt);
		p += lk;
	}
	memcpy(p, ev->message, lm);
	r->len += (uint32_t)(1 + lk + lm);
	r->n++;
	rec_put(d, r);
}

static void recs_free(struct daemon *d)
{
	struct hashmap_iter it;
	hashmap_iter_init(&it, &d->svcs);
	while (hashmap_iter_next(&it))
		free(it.value);
	hashmap_clear(&d->svcs);
	for (size_t k = 0; k < d->nev_kinds; k++) {
		free(d->ev_kinds[k].type);
		free(d->ev_kinds[k].reason);
	}
	d->nev_kinds = 0;
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
		    x->naddrs != y->naddrs || x->stamp != y->stamp)
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
	for (size_t i = 0; i < now.n; i++) {
		char *key = xasprintf("%s/%s", now.entries[i].namespace_, now.entries[i].name);
		now.entries[i].stamp = stamp_get(d, key);
		free(key);
	}
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

/* The writer is done: a failure is logged by the child; what changed
 * meanwhile is written next. */
static void on_state_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct daemon *d = w->data;
	(void)revents;
	ev_child_stop(loop, w);
	d->state_child = -1;
	if (d->state_dirty && !ev_is_active(&d->state_w))
		ev_timer_start(loop, &d->state_w);
}

/* Wait for a write under way (exit, or a synchronous write). */
static void state_child_wait(struct daemon *d)
{
	if (d->state_child < 0)
		return;
	int st;
	while (waitpid(d->state_child, &st, 0) < 0 && errno == EINTR)
		;
	ev_child_stop(d->loop, &d->state_child_w);
	d->state_child = -1;
}

/* The coalescing timer: the allocations of every step in the last
 * STATE_INTERVAL, written once, by a child process: with 100,000
 * Services serialising and fsyncing the file takes longer than a change
 * may wait.  The first write (nothing saved yet, or the file as loaded)
 * and any write when fork fails are made here. */
static void on_state_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)revents;
	if (!d->state_dirty)
		return;
	if (d->state_child >= 0)
		return; /* written again when the child is done */
	d->state_dirty = false;
	pid_t pid = fork();
	if (pid == 0) {
		/* The child: write and go, touching nothing of the loop. */
		state_persist(d);
		_exit(0);
	}
	if (pid < 0) {
		state_persist(d);
		return;
	}
	d->state_child = pid;
	ev_child_set(&d->state_child_w, pid, 0);
	ev_child_start(loop, &d->state_child_w);
}

/* ------------------------------------------------------------------ */
/* applying a step */

/* Record (and log) a Service's event; a failure repeated by every reload
 * is recorded once. */
static void service_event(struct daemon *d, const char *key, const struct alloc_event *ev)
{
	enum log_level lvl = strcmp(ev->type, "Warning") == 0 ? LOG_WARN : LOG_INFO;
	log_msg(lvl, ev->message, "service", key, "reason", ev->reason, NULL);
	const struct svc_rec *r = rec_find(d, key);
	if (r && r->n && strcmp(ev->reason, "AllocationFailed") == 0 &&
	    strcmp(ev_reason(d, ev_last(r)), ev->reason) == 0 &&
	    strcmp(ev_message(ev_last(r)), ev->message) == 0)
		return;
	events_record(d, key, ev);
}

/* A Service the allocator sees for the first time adopts what the state
 * file says it held. */
static void adopt(void *arg, struct service *s)
{
	struct daemon *d = arg;
	if (s->ningress)
		return;
	const struct state_entry *e = state_find(&d->adopt, s->meta.namespace_, s->meta.name);
	if (!e)
		return;
	s->ningress = e->naddrs;
	for (size_t k = 0; k < e->naddrs; k++)
		s->ingress[k] = e->addrs[k];
}

/* A Service's allocation as the planners take it (pools point into the
 * allocator). */
static size_t service_alloc(struct daemon *d, const struct service *s, struct announce_svc *as)
{
	memset(as, 0, sizeof(*as));
	as->svc = s;
	if (!s || !pipeline_service_ours(d->pipe, s))
		return 0;
	const char *pools[2] = {NULL, NULL};
	as->naddrs = alloc_get(d->alloc, s->meta.namespace_, s->meta.name, as->addrs, pools);
	as->pools[0] = pools[0];
	as->pools[1] = pools[1];
	return as->naddrs;
}

static size_t addrs_of(void *arg, const char *key, struct ip_addr addrs[2])
{
	struct daemon *d = arg;
	const char *slash = strchr(key, '/');
	if (!slash)
		return 0;
	char ns[256];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
	return alloc_get(d->alloc, ns, slash + 1, addrs, NULL);
}

/* Plan every Service again and announce (a whole pass, or a member's
 * liveness changed). */
static bool claims_build(struct daemon *d);

/* Plan every Service again with the claims in force. */
static void plan_all(struct daemon *d)
{
	struct model *m = &d->live.model;
	struct announce_svc *as = xcalloc(m->nservices ? m->nservices : 1, sizeof(*as));
	size_t nas = 0;
	for (size_t i = 0; i < m->nservices; i++)
		if (service_alloc(d, &m->services[i], &as[nas]))
			nas++;
	announcer_apply(d->ann, m, as, nas);
	free(as);
}

static void announce_all(struct daemon *d)
{
	claims_build(d);
	plan_all(d);
}

/* ------------------------------------------------------------------ */
/* members: the failure detector feeding the Layer 2 election */

static bool node_down(const struct daemon *d, const char *name)
{
	return hashmap_get_str(&d->down, name) != NULL;
}

static bool node_unsettled(const struct daemon *d, const char *name);
static void on_member_digest(void *ctx, const char *name, uint64_t digest);
static void table_start(struct daemon *d);
static void pull_member(struct daemon *d, const char *name);
static void own_kick(struct daemon *d);

/* Mark the model's nodes the detector holds dead or left, and this node
 * until it has adopted the address table (a whole pass builds the model
 * afresh, without the marks). */
static void mark_down_nodes(struct daemon *d)
{
	struct model *m = &d->live.model;
	for (size_t i = 0; i < m->nnodes; i++)
		m->nodes[i].member_down = node_down(d, m->nodes[i].meta.name) ||
					  node_unsettled(d, m->nodes[i].meta.name);
}

static void on_member_change(void *ctx, const struct member_event *ev)
{
	struct daemon *d = ctx;
	int r = liveness_note_event(&d->down, ev);
	if (r < 0)
		return;
	if (r == 0)
		/* What it holds now (it may have restarted). */
		pull_member(d, ev->name);
	if (!ev_is_active(&d->liveness_w))
		ev_timer_start(d->loop, &d->liveness_w);
}

static void on_liveness(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)loop;
	(void)revents;
	if (!d->have_model || !d->live.running)
		return;
	mark_down_nodes(d);
	announce_all(d);
	own_kick(d);
}

/* The address a member is reached at: an InternalIP of the family of
 * this node's own (the other family still works: the socket is
 * dual-stack), else the first InternalIP. */
static const struct ip_addr *member_address(const struct node_obj *n, enum ip_family fam)
{
	for (size_t k = 0; k < n->ninternal; k++)
		if (n->internal[k].family == fam)
			return &n->internal[k];
	return n->ninternal ? &n->internal[0] : NULL;
}

/* After a whole pass: the members are the Node objects' InternalIP
 * addresses; start the detector once this node has one. */
static void members_sync(struct daemon *d)
{
	struct model *m = &d->live.model;
	const struct node_obj *self = model_find_node(m, d->o->node_name);
	if (!d->mio && (!self || self->ninternal == 0)) {
		if (!d->self_warned)
			log_warn("this node's Node object has no InternalIP in status.addresses; "
				 "the failure detector is not started: no failover between nodes",
				 "node", d->o->node_name, NULL);
		d->self_warned = true;
		d->settled = true;
		mark_down_nodes(d);
		return;
	}
	if (!d->mio) {
		struct member_io_config mc = {
			.name = d->o->node_name,
			.port = (uint16_t)d->o->member_port,
			.key = d->o->member_key,
			.key_len = d->o->member_key_len,
			.on_change = on_member_change,
			.on_digest = on_member_digest,
			.ctx = d,
			.metrics = d->reg,
		};
		/* cmd_run accepted the name; "default" when not given. */
		if (member_timing_named(d->o->member_timing ? d->o->member_timing : "default",
					&mc.timing) != 0)
			member_timing_default(&mc.timing);
		char why[512];
		d->mio = member_io_new(d->loop, &mc, why, sizeof(why));
		if (!d->mio) {
			if (!d->self_warned)
				log_error("cannot start the failure detector; no failover between nodes",
					  "error", why, NULL);
			d->self_warned = true;
			d->settled = true;
			mark_down_nodes(d);
			return;
		}
		table_start(d);
		char port[16];
		snprintf(port, sizeof(port), "%u", member_io_port(d->mio));
		if (!d->o->member_key)
			log_warn("the member protocol is unauthenticated: give --member-key FILE "
				 "(the same key on every node)",
				 "port", port, NULL);
		log_info("failure detector started", "node", d->o->node_name, "port", port,
			 "authenticated", d->o->member_key ? "true" : "false", "timing",
			 d->o->member_timing ? d->o->member_timing : "default", NULL);
	}
	enum ip_family fam = self && self->ninternal ? self->internal[0].family : IP_FAMILY_V4;
	struct member_peer *peers = xcalloc(m->nnodes ? m->nnodes : 1, sizeof(*peers));
	size_t np = 0;
	for (size_t i = 0; i < m->nnodes; i++) {
		const struct node_obj *n = &m->nodes[i];
		if (strcmp(n->meta.name, d->o->node_name) == 0)
			continue;
		const struct ip_addr *a = member_address(n, fam);
		if (!a) {
			if (!hashmap_get_str(&d->no_addr, n->meta.name)) {
				hashmap_put_str(&d->no_addr, n->meta.name, (void *)1, NULL);
				log_warn("Node has no InternalIP in status.addresses: it is not a "
					 "member of the failure detector and has no failover",
					 "node", n->meta.name, NULL);
			}
			continue;
		}
		if (!member_name_valid(n->meta.name, strlen(n->meta.name)))
			continue;
		/* Duplicate Node names: the first one, as the election takes it. */
		bool dup = false;
		for (size_t k = 0; k < np && !dup; k++)
			dup = strcmp(peers[k].name, n->meta.name) == 0;
		if (dup)
			continue;
		peers[np].name = n->meta.name;
		peers[np].addr.ip = *a;
		peers[np].addr.port = (uint16_t)d->o->member_port;
		np++;
	}
	bool first = member_count(member_io_core(d->mio)) == 0 && np > 0;
	if (member_io_set_peers(d->mio, peers, np) != 0)
		log_error("cannot set the failure detector's members", NULL);
	free(peers);
	/* A node no longer configured is forgotten (no event): drop it
	 * from `down`, or it would stay down if it came back. */
	struct hashmap_iter it;
	hashmap_iter_init(&it, &d->down);
	while (hashmap_iter_next(&it)) {
		struct member_info mi;
		if (member_find(member_io_core(d->mio), it.key, &mi) != 0 ||
		    (mi.state != MEMBER_DEAD && mi.state != MEMBER_LEFT))
			hashmap_iter_del(&it);
	}
	if (first)
		/* Members that hold us dead from an earlier run learn at once
		 * that we are back. */
		member_io_join(d->mio);
	mark_down_nodes(d);
}

/* ------------------------------------------------------------------ */
/* the members' address table */

static void own_kick(struct daemon *d)
{
	if (!d->mio)
		return;
	/* The holding is built from every Service (milliseconds with
	 * 10,000): while bounded passes follow each other (files left for
	 * the next one) it is built every OWN_BATCH, not after each of
	 * them, and at once after the last. */
	double after = d->qhead < d->qn ? OWN_BATCH : 0.;
	if (ev_is_active(&d->own_w)) {
		if (after > 0)
			return;
		ev_timer_stop(d->loop, &d->own_w);
	}
	ev_timer_set(&d->own_w, after, 0.);
	ev_timer_start(d->loop, &d->own_w);
}

static void table_kick(struct daemon *d)
{
	if (d->mio && !ev_is_active(&d->table_w))
		ev_timer_start(d->loop, &d->table_w);
}

/* This node announces nothing until it is settled.  The others stay
 * candidates while they settle: a Service placed on one of them is
 * announced once it is (within SETTLE_GRACE), and nodes that start
 * together are all candidates from the first plan, so they share the
 * Services out evenly rather than the first one settled taking them all. */
static bool node_unsettled(const struct daemon *d, const char *name)
{
	return d->mio && !d->settled && strcmp(name, d->o->node_name) == 0;
}

static void pull_member(struct daemon *d, const char *name)
{
	struct member_info mi;
	if (!d->sio || member_find(member_io_core(d->mio), name, &mi) != 0)
		return;
	sync_io_pull(d->sio, name, &mi.addr);
}

/* A member's digest differs from the one it sent before: pull its state
 * unless we hold that one already. */
static void on_member_digest(void *ctx, const char *name, uint64_t digest)
{
	struct daemon *d = ctx;
	const struct sync_state *st = hashmap_get_str(&d->holdings, name);
	if (!st || st->digest != digest)
		pull_member(d, name);
}

static bool sync_is_member(void *ctx, const char *name)
{
	struct daemon *d = ctx;
	struct member_info mi;
	return d->mio && member_find(member_io_core(d->mio), name, &mi) == 0;
}

static const struct sync_state *sync_local(void *ctx)
{
	return &((struct daemon *)ctx)->own;
}

static void sync_on_state(void *ctx, const char *name, struct sync_state *st)
{
	struct daemon *d = ctx;
	struct sync_state *held = hashmap_get_str(&d->holdings, name);
	bool was_settled = held && held->settled;
	if (!held) {
		held = xcalloc(1, sizeof(*held));
		hashmap_put_str(&d->holdings, name, held, NULL);
	}
	sync_state_free(held);
	*held = *st;
	memset(st, 0, sizeof(*st));
	char n[32];
	snprintf(n, sizeof(n), "%zu", held->n);
	log_debug("member state pulled", "member", name, "services", n, "settled",
		  held->settled ? "true" : "false", NULL);
	(void)was_settled;
	/* Its claims may have changed: plan again if they did. */
	if (!ev_is_active(&d->claims_w))
		ev_timer_start(d->loop, &d->claims_w);
	table_kick(d);
}

/* Since when this node announces a Service (set the first time asked). */
static uint64_t since_of(struct daemon *d, const char *key, uint64_t now)
{
	uint64_t *v = hashmap_get_str(&d->since, key);
	if (!v) {
		v = xmalloc(sizeof(*v));
		*v = now;
		hashmap_put_str(&d->since, key, v, NULL);
	}
	return *v;
}

static void claims_free(struct daemon *d)
{
	for (size_t i = 0; i < d->nclaims; i++) {
		free((char *)d->claims[i].service);
		free((char *)d->claims[i].node);
	}
	free(d->claims);
	d->claims = NULL;
	d->nclaims = 0;
}

/* The claims the next whole plan starts from: this node's current plan
 * (what it announces now) and every live member's last holding.  Without
 * the detector there are none: MetalLB's hash election, as before. */
static bool claims_same(const struct announce_claim *a, size_t na,
			const struct announce_claim *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].since != b[i].since || strcmp(a[i].service, b[i].service) != 0 ||
		    strcmp(a[i].node, b[i].node) != 0)
			return false;
	return true;
}

/* Returns whether the claims changed. */
static bool claims_build(struct daemon *d)
{
	struct announce_claim *old = d->claims;
	size_t nold = d->nclaims;
	d->claims = NULL;
	d->nclaims = 0;
	if (!d->mio) {
		announcer_set_claims(d->ann, NULL);
		d->claims = old;
		d->nclaims = nold;
		claims_free(d);
		return nold != 0;
	}
	uint64_t now = wall_us();
	const struct l2_plan *plan = announcer_l2_plan(d->ann);
	for (size_t i = 0; plan && i < plan->n; i++) {
		const struct l2_entry *e = &plan->entries[i];
		if (!e->here || (i && plan->entries[i - 1].here &&
				 strcmp(plan->entries[i - 1].service, e->service) == 0))
			continue;
		struct announce_claim *c = VEC_PUSH(d->claims, d->nclaims);
		c->service = xstrdup(e->service);
		c->node = xstrdup(d->o->node_name);
		c->since = since_of(d, e->service, now);
	}
	struct hashmap_iter it;
	hashmap_iter_init(&it, &d->holdings);
	while (hashmap_iter_next(&it)) {
		const struct sync_state *st = it.value;
		struct member_info mi;
		if (member_find(member_io_core(d->mio), it.key, &mi) != 0 ||
		    mi.state == MEMBER_DEAD || mi.state == MEMBER_LEFT)
			continue;
		for (size_t k = 0; k < st->n; k++) {
			if (!st->entries[k].announcing)
				continue;
			struct announce_claim *c = VEC_PUSH(d->claims, d->nclaims);
			c->service = xstrdup(st->entries[k].key);
			c->node = xstrdup(it.key);
			c->since = st->entries[k].since;
		}
	}
	/* One claim per (Service, node): a plan lists a dual-stack Service's
	 * addresses apart, not always next to each other. */
	announce_claims_sort(d->claims, d->nclaims);
	size_t u = 0;
	for (size_t i = 0; i < d->nclaims; i++) {
		if (u && strcmp(d->claims[u - 1].service, d->claims[i].service) == 0 &&
		    strcmp(d->claims[u - 1].node, d->claims[i].node) == 0) {
			free((char *)d->claims[i].service);
			free((char *)d->claims[i].node);
			continue;
		}
		d->claims[u++] = d->claims[i];
	}
	d->nclaims = u;
	struct announce_claims cl = {.n = d->nclaims, .v = d->claims};
	announcer_set_claims(d->ann, &cl);
	bool changed = !claims_same(old, nold, d->claims, d->nclaims);
	for (size_t i = 0; i < nold; i++) {
		free((char *)old[i].service);
		free((char *)old[i].node);
	}
	free(old);
	return changed;
}

/* A member's holding arrived: plan again only if what anyone claims
 * changed (most holdings change in addresses, not in who announces). */
static void on_claims(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)loop;
	(void)revents;
	if (!d->have_model || !d->live.running)
		return;
	if (claims_build(d)) {
		mark_down_nodes(d);
		plan_all(d);
		own_kick(d);
	}
}

struct own_collect {
	struct daemon *d;
	struct hashmap here;       /* Services this node announces */
	struct sync_state *st;
	uint64_t now;
};

static void own_collect(const char *ns, const char *name, size_t naddrs,
			const struct ip_addr *addrs, char *const *pools, void *arg)
{
	struct own_collect *oc = arg;
	(void)pools;
	if (naddrs == 0)
		return;
	struct sync_entry *e = VEC_PUSH(oc->st->entries, oc->st->n);
	memset(e, 0, sizeof(*e));
	e->key = xasprintf("%s/%s", ns, name);
	e->naddrs = naddrs > 2 ? 2 : naddrs;
	for (size_t k = 0; k < e->naddrs; k++)
		e->addrs[k] = addrs[k];
	e->stamp = stamp_get(oc->d, e->key);
	if (!e->stamp) {
		/* Allocated before stamps were kept (an old state file). */
		e->stamp = oc->now;
		stamp_set(oc->d, e->key, e->stamp);
	}
	e->announcing = hashmap_get_str(&oc->here, e->key) != NULL;
	if (e->announcing)
		e->since = since_of(oc->d, e->key, oc->now);
}

static int cmp_sync_entry(const void *a, const void *b)
{
	return strcmp(((const struct sync_entry *)a)->key, ((const struct sync_entry *)b)->key);
}

/* This node's holding from the allocator and the plan, and its digest
 * into the member packets. */
static void own_build(struct daemon *d)
{
	struct own_collect oc = {.d = d, .now = wall_us()};
	hashmap_init(&oc.here, false);
	const struct l2_plan *plan = announcer_l2_plan(d->ann);
	for (size_t i = 0; plan && i < plan->n; i++)
		if (plan->entries[i].here)
			hashmap_put_str(&oc.here, plan->entries[i].service, (void *)1, NULL);
	struct sync_state st = {.settled = d->settled};
	oc.st = &st;
	alloc_foreach(d->alloc, own_collect, &oc);
	/* Forget since when we announced what we no longer announce. */
	struct hashmap_iter it;
	hashmap_iter_init(&it, &d->since);
	while (hashmap_iter_next(&it))
		if (!hashmap_get_str(&oc.here, it.key)) {
			free(it.value);
			hashmap_iter_del(&it);
		}
	hashmap_clear(&oc.here);
	xqsort(st.entries, st.n, sizeof(*st.entries), cmp_sync_entry);
	st.digest = sync_state_digest(&st);
	sync_state_free(&d->own);
	d->own = st;
	if (d->mio)
		member_io_set_digest(d->mio, st.digest);
}

static bool same_addrs(size_t n1, const struct ip_addr *a1, size_t n2, const struct ip_addr *a2)
{
	if (n1 != n2)
		return false;
	for (size_t k = 0; k < n1; k++)
		if (!ip_eq(&a1[k], &a2[k]))
			return false;
	return true;
}

/* The holdings that count: live members' that are settled, and ours
 * once we are. */
static size_t table_holdings(struct daemon *d, struct sync_holding *h)
{
	size_t n = 0;
	if (d->settled)
		h[n++] = (struct sync_holding){d->o->node_name, &d->own};
	struct hashmap_iter it;
	hashmap_iter_init(&it, &d->holdings);
	while (hashmap_iter_next(&it)) {
		const struct sync_state *st = it.value;
		struct member_info mi;
		if (!st->settled || member_find(member_io_core(d->mio), it.key, &mi) != 0 ||
		    mi.state == MEMBER_DEAD || mi.state == MEMBER_LEFT)
			continue;
		h[n++] = (struct sync_holding){it.key, st};
	}
	return n;
}

struct redo {
	char *key;
	const struct sync_agreed *a;   /* NULL: allocate afresh */
};

struct local_collect {
	struct redo *v;
	size_t n;
	const struct sync_table *t;
	struct hashmap *taken;         /* address text -> key, agreed */
	struct daemon *d;
};

static void local_collect(const char *ns, const char *name, size_t naddrs,
			  const struct ip_addr *addrs, char *const *pools, void *arg)
{
	struct local_collect *lc = arg;
	(void)pools;
	char *key = xasprintf("%s/%s", ns, name);
	const struct sync_agreed *a = sync_table_find(lc->t, key);
	if (a) {
		if (!same_addrs(naddrs, addrs, a->naddrs, a->addrs)) {
			*VEC_PUSH(lc->v, lc->n) = (struct redo){key, a->naddrs ? a : NULL};
			return;
		}
		if (a->stamp != stamp_get(lc->d, key))
			/* Same addresses, allocated here a moment later: take
			 * the older time so that every holding agrees. */
			stamp_set(lc->d, key, a->stamp);
		free(key);
		return;
	}
	/* Not in the table: it keeps its addresses unless the table gives
	 * one of them to another Service. */
	for (size_t k = 0; k < naddrs; k++) {
		char txt[IP_STR_MAX];
		const char *other = hashmap_get_str(lc->taken, ip_format(&addrs[k], txt));
		if (other && strcmp(other, key) != 0) {
			*VEC_PUSH(lc->v, lc->n) = (struct redo){key, NULL};
			return;
		}
	}
	free(key);
}

/* Make the allocator hold what the table says: Services whose addresses
 * differ are released, then given the table's addresses (older
 * allocations keep theirs), then those that lost an address are
 * allocated afresh.  Returns how many Services moved. */
static size_t table_apply(struct daemon *d, const struct sync_table *t)
{
	struct model *m = &d->live.model;
	struct hashmap taken;
	hashmap_init(&taken, true);
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < t->v[i].naddrs; k++) {
			char txt[IP_STR_MAX];
			hashmap_put_str(&taken, ip_format(&t->v[i].addrs[k], txt), (void *)t->v[i].key,
					NULL);
		}
	struct local_collect lc = {.t = t, .taken = &taken, .d = d};
	alloc_foreach(d->alloc, local_collect, &lc);
	/* Services of ours without addresses here that the table has. */
	for (size_t i = 0; i < t->n; i++) {
		if (!t->v[i].naddrs)
			continue;
		const char *slash = strchr(t->v[i].key, '/');
		if (!slash)
			continue;
		char *ns = xstrndup(t->v[i].key, (size_t)(slash - t->v[i].key));
		const struct service *s = model_find_service(m, ns, slash + 1);
		if (s && pipeline_service_ours(d->pipe, s) &&
		    alloc_get(d->alloc, ns, slash + 1, NULL, NULL) == 0)
			*VEC_PUSH(lc.v, lc.n) = (struct redo){xstrdup(t->v[i].key), &t->v[i]};
		free(ns);
	}
	hashmap_clear(&taken);
	if (lc.n == 0) {
		free(lc.v);
		return 0;
	}
	struct alloc_changes changes = {0};
	for (size_t i = 0; i < lc.n; i++) {
		char *slash = strchr(lc.v[i].key, '/');
		*slash = 0;
		alloc_release(d->alloc, lc.v[i].key, slash + 1);
		*slash = '/';
	}
	/* Adopted first (they take their addresses), then the fresh ones. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < lc.n; i++) {
			const struct sync_agreed *a = lc.v[i].a;
			if ((pass == 0) != (a != NULL))
				continue;
			char *slash = strchr(lc.v[i].key, '/');
			*slash = 0;
			struct service *s = (struct service *)model_find_service(m, lc.v[i].key,
										 slash + 1);
			if (s) {
				size_t n0 = s->ningress;
				struct ip_addr i0[2] = {s->ingress[0], s->ingress[1]};
				s->ningress = a ? a->naddrs : 0;
				for (size_t k = 0; a && k < a->naddrs; k++)
					s->ingress[k] = a->addrs[k];
				alloc_update_service(d->alloc, m, lc.v[i].key, slash + 1, &changes);
				s->ningress = n0;
				s->ingress[0] = i0[0];
				s->ingress[1] = i0[1];
			}
			*slash = '/';
			if (a)
				stamp_set(d, lc.v[i].key, a->stamp);
			else
				stamp_del(d, lc.v[i].key);
			log_info(a ? "addresses adopted from the members' address table"
				   : "address given to an older allocation by the members' address "
				     "table; allocating again",
				 "service", lc.v[i].key, "from", a ? a->node : "-", NULL);
		}
	}
	/* Re-plan what moved (retried waiting Services included). */
	struct announce_change *ch = xcalloc(changes.n ? changes.n : 1, sizeof(*ch));
	for (size_t i = 0; i < changes.n; i++) {
		const struct alloc_change *c = &changes.items[i];
		char key[600];
		snprintf(key, sizeof(key), "%s/%s", c->ns, c->name);
		if (c->result.changed && c->result.naddrs && !stamp_get(d, key))
			stamp_set(d, key, wall_us());
		ch[i].ns = c->ns;
		ch[i].name = c->name;
		const struct service *s = model_find_service(m, c->ns, c->name);
		if (service_alloc(d, s, &ch[i].as) == 0)
			ch[i].as.svc = s && pipeline_service_ours(d->pipe, s) ? s : NULL;
	}
	announcer_update(d->ann, m, ch, changes.n);
	free(ch);
	alloc_changes_free(&changes);
	for (size_t i = 0; i < lc.n; i++)
		free(lc.v[i].key);
	free(lc.v);
	if (d->o->state_path) {
		d->state_dirty = true;
		if (!ev_is_active(&d->state_w))
			ev_timer_start(d->loop, &d->state_w);
	}
	d->adopted += lc.n;
	return lc.n;
}

/* Every live member's state is here (or the grace time is over). */
static bool settle_ready(struct daemon *d)
{
	if (ev_now(d->loop) >= d->settle_by)
		return true;
	struct member_info mi;
	for (size_t i = 0; member_get(member_io_core(d->mio), i, &mi) == 0; i++)
		if ((mi.state == MEMBER_ALIVE || mi.state == MEMBER_SUSPECT) &&
		    !hashmap_get_str(&d->holdings, mi.name))
			return false;
	return true;
}

static void on_table(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)loop;
	(void)revents;
	if (!d->mio || !d->have_model || !d->live.running)
		return;
	bool settling = !d->settled;
	if (settling && !settle_ready(d)) {
		/* Try again when the grace time is over, if no pull ends
		 * sooner. */
		if (!ev_is_active(&d->settle_w)) {
			ev_timer_set(&d->settle_w, d->settle_by - ev_now(d->loop) + 0.01, 0.);
			ev_timer_start(d->loop, &d->settle_w);
		}
		return;
	}
	struct sync_holding *h = xcalloc(hashmap_count(&d->holdings) + 1, sizeof(*h));
	size_t nh = table_holdings(d, h);
	struct sync_table t;
	sync_resolve(h, nh, &t);
	size_t moved = table_apply(d, &t);
	sync_table_free(&t);
	free(h);
	if (settling) {
		d->settled = true;
		ev_timer_stop(d->loop, &d->settle_w);
		char n[32], m[32];
		snprintf(n, sizeof(n), "%zu", nh);
		snprintf(m, sizeof(m), "%zu", moved);
		log_info("address table adopted; this node is a candidate now", "members_settled", n,
			 "services_moved", m, NULL);
		mark_down_nodes(d);
		announce_all(d);
	}
	own_build(d);
}

static void on_own(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)loop;
	(void)revents;
	if (d->mio && d->have_model)
		own_build(d);
}

/* The exchange starts with the detector, on its port (TCP). */
static void table_start(struct daemon *d)
{
	struct sync_io_config sc = {
		.name = d->o->node_name,
		.port = member_io_port(d->mio),
		.key = d->o->member_key,
		.key_len = d->o->member_key_len,
		.is_member = sync_is_member,
		.local = sync_local,
		.on_state = sync_on_state,
		.ctx = d,
	};
	char why[512];
	d->sio = sync_io_new(d->loop, &sc, why, sizeof(why));
	if (!d->sio) {
		log_error("cannot start the state exchange; this node keeps its own addresses",
			  "error", why, NULL);
		d->settled = true;
		return;
	}
	d->settle_by = ev_now(d->loop) + SETTLE_GRACE;
}

static json_t *table_status_json(const struct daemon *d)
{
	json_t *o = json_object();
	char hex[24];
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)d->own.digest);
	json_object_set_new(o, "settled", json_boolean(d->settled));
	json_object_set_new(o, "digest", json_string(hex));
	json_object_set_new(o, "services", json_integer((json_int_t)d->own.n));
	json_object_set_new(o, "adopted", json_integer((json_int_t)d->adopted));
	json_t *hs = json_object();
	struct hashmap_iter it;
	hashmap_iter_init(&it, &d->holdings);
	while (hashmap_iter_next(&it)) {
		const struct sync_state *st = it.value;
		snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)st->digest);
		json_object_set_new(hs, it.key,
				    json_pack("{s:b, s:s, s:I}", "settled", st->settled, "digest", hex,
					      "services", (json_int_t)st->n));
	}
	json_object_set_new(o, "members", hs);
	json_object_set_new(o, "exchange", d->sio ? sync_io_status_json(d->sio) : json_null());
	return o;
}

/* Events of what the allocator computed, announce what the step changed. */
static void apply_step(struct daemon *d, struct pipeline_step *st)
{
	struct model *m = &d->live.model;
	for (size_t i = 0; i < st->changes.n; i++) {
		const struct alloc_change *c = &st->changes.items[i];
		char key[512];
		snprintf(key, sizeof(key), "%s/%s", c->ns, c->name);
		if (c->removed && c->result.changed)
			log_info("service removed; addresses released", "service", key, NULL);
		/* When the addresses were allocated, for the members' table. */
		if (c->removed || c->result.naddrs == 0)
			stamp_del(d, key);
		else if (c->result.changed || !stamp_get(d, key))
			stamp_set(d, key, wall_us());
		for (size_t e = 0; e < c->result.nevents; e++)
			service_event(d, key, &c->result.events[e]);
	}
	if (st->full) {
		/* Failed Services: their AllocationFailed event (recorded once
		 * while it says the same). */
		for (size_t i = 0; i < d->live.verdict.nfailed; i++) {
			const struct pipeline_failed *f = &d->live.verdict.failed[i];
			char key[512];
			snprintf(key, sizeof(key), "%s/%s", f->namespace_, f->name);
			struct alloc_event ev = pipeline_failed_event(f);
			service_event(d, key, &ev);
		}
		members_sync(d);
		announce_all(d);
	} else {
		struct announce_change *ch = xcalloc(st->nreplan ? st->nreplan : 1, sizeof(*ch));
		char **names = xcalloc(st->nreplan ? st->nreplan : 1, sizeof(*names));
		for (size_t i = 0; i < st->nreplan; i++) {
			names[i] = xstrdup(st->replan[i]);
			char *slash = strchr(names[i], '/');
			*slash = 0;
			ch[i].ns = names[i];
			ch[i].name = slash + 1;
			const struct service *s = model_find_service(m, ch[i].ns, ch[i].name);
			if (service_alloc(d, s, &ch[i].as) == 0)
				ch[i].as.svc = s && pipeline_service_ours(d->pipe, s) ? s : NULL;
		}
		announcer_update(d->ann, m, ch, st->nreplan);
		for (size_t i = 0; i < st->nreplan; i++)
			free(names[i]);
		free(names);
		free(ch);
	}
	if ((st->full || st->changes.n) && d->o->state_path) {
		d->state_dirty = true;
		if (!ev_is_active(&d->state_w))
			ev_timer_start(d->loop, &d->state_w);
	}
	own_kick(d);
	if (st->full && d->mio && !ev_is_active(&d->table_w))
		/* A whole pass may have met members for the first time. */
		ev_timer_start(d->loop, &d->table_w);
}

/* Log the problems of the current objects: all of them after a whole
 * pass, those of the changed Services after a step. */
static void log_diags(struct daemon *d, const struct pipeline_step *st)
{
	struct hashmap only = {0};
	for (size_t i = 0; !st->full && i < st->nreplan; i++)
		hashmap_put_str(&only, st->replan[i], st->replan[i], NULL);
	for (size_t i = 0; i < d->live.diags.n && (st->full || only.n); i++) {
		const struct diag *g = &d->live.diags.items[i];
		if (g->level == DIAG_NOTE)
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
		char *txt = diag_format(g);
		log_msg(g->level == DIAG_ERROR ? LOG_ERROR : LOG_WARN, "configuration problem",
			"detail", txt, NULL);
		free(txt);
	}
	hashmap_clear(&only);
}

/* A file inotify named: read by a coming pass, once however often it
 * changes meanwhile (the pass reads what it holds then). */
static void set_stale(struct daemon *d);
static void watch_dir(struct daemon *d);

static void pending_add(struct daemon *d, const char *name)
{
	if (hashmap_find(&d->pending, name, strlen(name), NULL))
		return;
	hashmap_put_str(&d->pending, name, NULL, NULL);
	if (d->qn == d->qcap) {
		if (d->qhead > 0) {
			/* Taken names leave room at the front. */
			memmove(d->queue, d->queue + d->qhead,
				(d->qn - d->qhead) * sizeof(*d->queue));
			d->qn -= d->qhead;
			d->qhead = 0;
		}
		if (d->qn == d->qcap) {
			d->qcap = d->qcap ? 2 * d->qcap : 64;
			d->queue = xrealloc(d->queue, d->qcap * sizeof(*d->queue));
		}
	}
	d->queue[d->qn++] = (struct pending_file){xstrdup(name), ev_now(d->loop)};
}

static void pending_clear(struct daemon *d)
{
	for (size_t i = d->qhead; i < d->qn; i++)
		free(d->queue[i].name);
	d->qhead = d->qn = 0;
	hashmap_clear(&d->pending);
}

static void reload(struct daemon *d, const char *why)
{
	d->reloads++;
	d->last_reload = wall_now();
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	metrics_inc(d->m_updates, NULL);

	/* The directory is the source: each file's objects are upserted or
	 * deleted; a file that cannot be read keeps its objects.  Only the
	 * files inotify named are read, unless a full resync is due. */
	if (d->resync) {
		pipeline_sync_dir(d->pipe, d->o->manifests_dir);
		pending_clear(d);
	} else {
		/* The oldest PASS_FILES; the rest in the next pass, at once. */
		for (size_t k = 0; k < PASS_FILES && d->qhead < d->qn; k++) {
			char *name = d->queue[d->qhead++].name;
			hashmap_del_str(&d->pending, name, NULL);
			pipeline_sync_file(d->pipe, d->o->manifests_dir, name);
			free(name);
		}
		if (d->qhead < d->qn)
			reconciler_more(d->rec, d->queue[d->qhead].at);
		else
			d->qhead = d->qn = 0;
	}
	d->resync = false;
	struct pipeline_step st;
	pipeline_step(d->pipe, d->alloc, &d->live, adopt, d, &st);
	pipeline_release_trees(d->pipe);
	log_diags(d, &st);

	const struct pipeline_verdict *v = &d->live.verdict;
	char nerr[32];
	snprintf(nerr, sizeof(nerr), "%zu", v->nconfig_errors);
	if (v->config != PIPELINE_CONFIG_VALID) {
		d->reload_failures++;
		metrics_inc(d->m_update_errors, NULL);
	}
	set_stale(d);
	if (st.full) {
		if (!d->live.running)
			log_error("configuration rejected; nothing to run yet", "dir",
				  d->o->manifests_dir, "errors", nerr, "trigger", why, NULL);
		else if (!st.taken)
			log_error("configuration rejected; keeping the last good one", "dir",
				  d->o->manifests_dir, "errors", nerr, "trigger", why, NULL);
		else if (v->config != PIPELINE_CONFIG_VALID)
			log_warn("configuration refers to objects that do not exist; running it (no "
				 "valid one yet), those references select nothing",
				 "dir", d->o->manifests_dir, "errors", nerr, "trigger", why, NULL);
	}

	if (d->live.running) {
		d->have_model = true;
		apply_step(d, &st);
		if (st.full && st.taken)
			d->last_applied = wall_now();
	}
	metrics_update(d);
	bool full = st.full;
	/* A step that took many Services (a large file written) parsed and
	 * dropped as many trees as a whole pass does. */
	bool big = full || st.nreplan >= TRIM_AFTER_SERVICES;
	pipeline_step_free(&st);
	if (!d->have_model)
		return;
	char nsvc[32], npools[32], nfailed[32], ms[32];
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	snprintf(nsvc, sizeof(nsvc), "%zu", d->live.model.nservices);
	snprintf(npools, sizeof(npools), "%zu", d->live.model.npools);
	snprintf(nfailed, sizeof(nfailed), "%zu", v->nfailed);
	snprintf(ms, sizeof(ms), "%.1f",
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	if (full) {
		log_info(d->live.taken ? "configuration applied"
				       : "services applied with the last good configuration",
			 "dir", d->o->manifests_dir, "pools", npools, "services", nsvc,
			 "failed_services", nfailed, "verdict", pipeline_config_name(v->config),
			 "trigger", why, "duration_ms", ms, NULL);
	} else {
		log_debug("services applied", "services", nsvc, "failed_services", nfailed,
			  "trigger", why, "duration_ms", ms, NULL);
	}
	/* A whole pass, or a large step, builds and drops whole trees; give
	 * the memory back now, not at the next whole pass or /status. */
	if (big)
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

/* A row of /status services, listed in namespace/name order: a Service
 * in force (s) or a failed one that was never good (s NULL). */
struct status_row {
	const char *ns, *name;
	const struct service *s;
};

static int status_row_cmp(const void *a, const void *b)
{
	const struct status_row *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);
	return c ? c : strcmp(x->name, y->name);
}

/* The entries of "services", written one at a time (status/status.h). */
static void status_services(struct jw *w, void *arg)
{
	struct daemon *d = arg;
	const struct pipeline_verdict *v = &d->live.verdict;
	/* Listed by namespace/name: the Services in force that are ours, and
	 * failed Services that were never good (only their events). */
	struct status_row *rows = NULL;
	size_t nrows = 0;
	if (d->have_model) {
		for (size_t i = 0; i < d->live.model.nservices; i++) {
			const struct service *s = &d->live.model.services[i];
			if (!pipeline_service_ours(d->pipe, s))
				continue;
			*VEC_PUSH(rows, nrows) =
				(struct status_row){s->meta.namespace_, s->meta.name, s};
		}
	}
	for (size_t i = 0; i < v->nfailed; i++) {
		const struct pipeline_failed *f = &v->failed[i];
		if (d->have_model && model_find_service(&d->live.model, f->namespace_, f->name))
			continue;
		*VEC_PUSH(rows, nrows) = (struct status_row){f->namespace_, f->name, NULL};
	}
	xqsort(rows, nrows, sizeof(*rows), status_row_cmp);

	const struct l2_plan *plan = d->have_model ? announcer_l2_plan(d->ann) : NULL;
	const struct l2_entry **by_svc = plan ? plan_by_service(plan) : NULL;
	for (size_t i = 0; i < nrows; i++) {
		char key[512];
		snprintf(key, sizeof(key), "%s/%s", rows[i].ns, rows[i].name);
		struct status_service row = {.namespace_ = rows[i].ns, .name = rows[i].name};
		char ips[2][IP_STR_MAX];
		const char *ingress[2], *pools[2];
		if (rows[i].s) {
			struct announce_svc r;
			service_alloc(d, rows[i].s, &r);
			for (size_t k = 0; k < r.naddrs && k < 2; k++) {
				ingress[k] = ip_format(&r.addrs[k], ips[k]);
				pools[k] = r.pools[k];
			}
			row.naddrs = r.naddrs < 2 ? r.naddrs : 2;
			row.ingress = ingress;
			row.pools = pools;
			const struct l2_entry *pe = plan_by_service_find(by_svc, plan->n, key);
			if (pe) {
				row.owner = pe->owner;
				row.announced_here = pe->here;
			}
		}
		status_service_begin(w, &row);
		const struct svc_rec *r = rec_find(d, key);
		const char *e = r ? ev_first(r) : NULL;
		for (size_t k = 0; r && k < r->n; k++, e = ev_next(e))
			status_event(w, ev_type(d, e), ev_reason(d, e), ev_message(e));
		status_service_end(w);
	}
	free(by_svc);
	free(rows);
}

static void status_config(struct jw *w, void *arg)
{
	struct daemon *d = arg;
	jw_kint(w, "reloads", (long long)d->reloads);
	jw_kint(w, "failed_reloads", (long long)d->reload_failures);
	jw_kreal(w, "last_reload", d->last_reload);
	jw_kreal(w, "last_applied", d->last_applied);
}

static void status_members(struct jw *w, void *arg)
{
	struct daemon *d = arg;
	if (!d->mio) {
		jw_null(w);
		return;
	}
	json_t *members = member_io_status_json(d->mio);
	json_object_set_new(members, "table", table_status_json(d));
	jw_json(w, members);
	json_decref(members);
}

static void h_status(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct daemon *d = arg;
	(void)req;
	json_t *errors = json_array(), *warnings = json_array();
	for (size_t i = 0; i < d->live.diags.n; i++) {
		const struct diag *g = &d->live.diags.items[i];
		if (g->level == DIAG_NOTE)
			continue;
		char *s = diag_format(g);
		json_array_append_new(g->level == DIAG_ERROR ? errors : warnings, json_string(s));
		free(s);
	}
	json_t *verdict = pipeline_verdict_json(&d->live.verdict);
	struct status_doc doc = {
		.node = d->o->node_name,
		.manifests = d->o->manifests_dir,
		.leader = -1,
		.loaded = d->have_model,
		.stale = d->stale,
		.config_extra = status_config,
		.verdict = verdict,
		.errors = errors,
		.warnings = warnings,
		.services = status_services,
		.pools = alloc_pools_json(d->alloc),
		.ann = d->ann,
		.rec = d->rec,
		.members = status_members,
		.arg = d,
	};
	status_doc_respond(&doc, resp);
	json_decref(verdict);
	/* The small blocks of the document's parts: hand them back. */
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
	d->resync = true;
	/* A watch lost with its directory is armed again (watch_dir()). */
	if (d->inotify_fd >= 0 && d->watch < 0)
		watch_dir(d);
	reconciler_pass_now(d->rec);
}

/* Withdraw every announcement and write the state: the end of a stop. */
static void stop_announcing(struct daemon *d)
{
	d->lingering = false;
	ev_timer_stop(d->loop, &d->linger_w);
	announcer_stop(d->ann);
	/* What the coalescing timer has not written yet. */
	state_child_wait(d);
	if (d->state_dirty) {
		d->state_dirty = false;
		state_persist(d);
	}
	ev_timer_stop(d->loop, &d->state_w);
}

static void on_linger_end(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	stop_announcing(w->data);
}

/* Whether any other member is alive: someone to hand the Services to. */
static bool members_alive(struct daemon *d)
{
	struct member_info mi;
	const struct member *m = member_io_core(d->mio);
	for (size_t i = 0; member_get(m, i, &mi) == 0; i++)
		if (mi.state == MEMBER_ALIVE || mi.state == MEMBER_SUSPECT)
			return true;
	return false;
}

static void on_stop(void *arg)
{
	struct daemon *d = arg;
	ev_timer_stop(d->loop, &d->liveness_w);
	/* Nothing may plan (and so announce) again after the leave. */
	ev_timer_stop(d->loop, &d->claims_w);
	ev_timer_stop(d->loop, &d->table_w);
	ev_timer_stop(d->loop, &d->settle_w);
	ev_timer_stop(d->loop, &d->own_w);
	if (d->sio) {
		sync_io_free(d->sio);
		d->sio = NULL;
	}
	/* Tell the other members first, so that they take over at once
	 * rather than after detecting our silence; then make before break:
	 * keep our addresses a moment (LEAVE_LINGER), until the successor's
	 * gratuitous ARP / unsolicited NA has moved the clients, so that a
	 * request sent meanwhile finds a node that still answers instead of
	 * one that just dropped the address. */
	if (d->mio && members_alive(d)) {
		member_io_leave(d->mio);
		d->lingering = true;
		ev_timer_set(&d->linger_w, LEAVE_LINGER, 0.);
		ev_timer_start(d->loop, &d->linger_w);
		return;
	}
	stop_announcing(d);
}

/* The drain at stop waits for the linger. */
static bool on_pending(void *arg)
{
	const struct daemon *d = arg;
	return d->lingering;
}

/*
 * The directory watch.  A directory deleted (or moved away) and created
 * again is a new inode that the old watch does not see: the watch is
 * armed again by path, at once and then every WATCH_RETRY until the
 * directory is back (and on SIGHUP), with a full resync when it is; until
 * then /status and the stale metric say the configuration is stale,
 * since changes may go unseen.
 */
static void set_stale(struct daemon *d)
{
	d->stale = d->live.stale || (d->inotify_fd >= 0 && d->watch < 0);
	metrics_set(d->m_stale, NULL, d->stale ? 1 : 0);
}

static void watch_dir(struct daemon *d)
{
	/* Lost before (not the first watch at start): the retry runs. */
	bool was_lost = ev_is_active(&d->rewatch_w);
	if (d->watch >= 0)
		inotify_rm_watch(d->inotify_fd, d->watch);
	/* IN_CREATE: a symlink is complete when it is created (a file is
	 * not: it waits for IN_CLOSE_WRITE). */
	d->watch = inotify_add_watch(d->inotify_fd, d->o->manifests_dir,
				     IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
					     IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB |
					     IN_ONLYDIR);
	if (d->watch < 0) {
		if (!ev_is_active(&d->rewatch_w)) {
			char retry[16];
			snprintf(retry, sizeof(retry), "%gs", WATCH_RETRY);
			log_error("cannot watch the manifests directory; watching again when it "
				  "is back (or on SIGHUP), the configuration in force meanwhile is "
				  "reported stale",
				  "dir", d->o->manifests_dir, "error", strerror(errno),
				  "retry_every", retry, NULL);
			ev_timer_again(d->loop, &d->rewatch_w);
		}
	} else {
		ev_timer_stop(d->loop, &d->rewatch_w);
		if (was_lost && d->rec) {
			log_info("watching the manifests directory again", "dir",
				 d->o->manifests_dir, NULL);
			/* What changed meanwhile is unknown: read it all. */
			d->resync = true;
			d->trigger = "directory watched again";
			reconciler_changed(d->rec);
		}
	}
	set_stale(d);
}

static void on_rewatch(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)loop;
	(void)revents;
	if (d->watch < 0)
		watch_dir(d);
}

/* Whether an event on `name` may change files it does not name.
 * Kubernetes mounts a ConfigMap or Secret as a directory of symlinks
 * (web.yaml -> ..data/web.yaml) and changes it by swapping the ..data
 * symlink to a new timestamped directory: the visible names get no event
 * of their own, so a change to a ".."-name is a change to everything.  A
 * subdirectory or a symlink to one likewise. */
static bool changes_others(const struct inotify_event *ev)
{
	return (ev->mask & IN_ISDIR) || (ev->len && strncmp(ev->name, "..", 2) == 0);
}

/* A name created: only a symlink is complete already. */
static bool created_symlink(const struct daemon *d, const char *name)
{
	struct stat st;
	char *path = xasprintf("%s/%s", d->o->manifests_dir, name);
	bool link = lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
	free(path);
	return link;
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
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
				rewatch = true;
				d->resync = true;
			}
			if (ev->mask & IN_Q_OVERFLOW)
				/* Events were lost: which files changed is unknown. */
				d->resync = true;
			else if (changes_others(ev))
				d->resync = true;
			else if ((ev->mask & IN_CREATE) && !created_symlink(d, ev->name))
				; /* an empty new file: its IN_CLOSE_WRITE follows */
			else if (ev->len && ev->name[0])
				pending_add(d, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
	if (rewatch)
		watch_dir(d);
	/* Only complete files wake us (closed after writing, renamed into the
	 * directory, a symlink created; not a file's IN_CREATE, which fires
	 * on an empty new file).
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
	bool ran = false;
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
	pipeline_live_init(&d.live, o->config_namespace);
	hashmap_init(&d.pending, true);
	hashmap_init(&d.down, true);
	hashmap_init(&d.no_addr, true);
	ev_timer_init(&d.liveness_w, on_liveness, 0., 0.);
	d.liveness_w.data = &d;
	ev_timer_init(&d.linger_w, on_linger_end, 0., 0.);
	d.linger_w.data = &d;
	hashmap_init(&d.holdings, true);
	hashmap_init(&d.since, true);
	ev_timer_init(&d.table_w, on_table, 0., 0.);
	d.table_w.data = &d;
	ev_timer_init(&d.own_w, on_own, 0., 0.);
	d.own_w.data = &d;
	ev_timer_init(&d.settle_w, on_table, 0., 0.);
	d.settle_w.data = &d;
	ev_timer_init(&d.claims_w, on_claims, 0., 0.);
	d.claims_w.data = &d;
	ev_init(&d.rewatch_w, on_rewatch);
	d.rewatch_w.repeat = WATCH_RETRY;
	d.rewatch_w.data = &d;
	d.resync = true;
	ev_timer_init(&d.state_w, on_state_timer, STATE_INTERVAL, 0.);
	d.state_w.data = &d;
	d.state_child = -1;
	ev_child_init(&d.state_child_w, on_state_child, 0, 0);
	d.state_child_w.data = &d;
	d.alloc = alloc_new();
	alloc_set_lb_class(d.alloc, o->lb_class);
	struct pipeline_opts po = {.config_namespace = o->config_namespace, .lb_class = o->lb_class};
	d.pipe = pipeline_new(&po);
	metrics_setup(&d);
	struct reconciler_opts ro = {
		RECONCILER_RUN_DEFAULTS,
		.pass = on_pass,
		.stop = on_stop,
		.pending = on_pending,
		.reload = on_sighup,
		.arg = &d,
	};
	/* The linger of a graceful leave, with room to spare; a second signal
	 * ends it at once. */
	ro.drain = 2 * LEAVE_LINGER;
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
			for (size_t i = 0; i < d.adopt.ndropped; i++)
				log_warn("state file entry dropped; that Service is allocated anew",
					 "path", o->state_path, "error", d.adopt.dropped[i], NULL);
			/* The file matches what we will write unless allocations change. */
			for (size_t i = 0; i < d.adopt.n; i++) {
				const struct state_entry *e = &d.adopt.entries[i];
				state_add(&d.saved, e->namespace_, e->name, e->naddrs, e->addrs,
					  e->pools);
				d.saved.entries[d.saved.n - 1].stamp = e->stamp;
				if (e->stamp) {
					char *key = xasprintf("%s/%s", e->namespace_, e->name);
					stamp_set(&d, key, e->stamp);
					free(key);
				}
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
			d.exit_code = 1;
			goto out;
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
		d.exit_code = 1;
		goto out;
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
	announcer_addrs_source(d.ann, addrs_of, &d);
	if (announcer_start(d.ann) != 0) {
		d.exit_code = 1;
		goto out;
	}

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

	/* Everything opened at start is open: keep only what the loop uses. */
	privs_restrict("run", PRIVS_NET);
	sandbox_enter(SANDBOX_RUN);

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
	ran = true;

	/* Orderly shutdown (a linger cut short by a second signal ends here),
	 * and the way out of a start that failed: everything set up so far is
	 * freed, so that a leak checker sees none on either path. */
out:
	if (d.lingering)
		stop_announcing(&d);
	reconciler_free(d.rec);
	ev_timer_stop(d.loop, &d.liveness_w);
	ev_timer_stop(d.loop, &d.table_w);
	ev_timer_stop(d.loop, &d.own_w);
	ev_timer_stop(d.loop, &d.settle_w);
	ev_timer_stop(d.loop, &d.claims_w);
	ev_timer_stop(d.loop, &d.rewatch_w);
	sync_io_free(d.sio);
	member_io_free(d.mio);
	struct hashmap_iter hit;
	hashmap_iter_init(&hit, &d.holdings);
	while (hashmap_iter_next(&hit)) {
		sync_state_free(hit.value);
		free(hit.value);
	}
	hashmap_clear(&d.holdings);
	hashmap_iter_init(&hit, &d.since);
	while (hashmap_iter_next(&hit))
		free(hit.value);
	hashmap_clear(&d.since);
	sync_state_free(&d.own);
	hashmap_clear(&d.down);
	hashmap_clear(&d.no_addr);
	announcer_free(d.ann);
	claims_free(&d);
	http_server_free(d.http);
	if (d.inotify_fd >= 0)
		close(d.inotify_fd);
	state_child_wait(&d);
	if (d.state_dirty)
		state_persist(&d);
	pipeline_live_free(&d.live);
	pending_clear(&d);
	free(d.queue);
	pipeline_free(d.pipe);
	alloc_free(d.alloc);
	state_free(&d.saved);
	state_free(&d.adopt);
	recs_free(&d);
	metrics_registry_free(d.reg);
	if (ran)
		log_info("stopped", NULL);
	return d.exit_code;
}
