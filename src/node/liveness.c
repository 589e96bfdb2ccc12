/*
 * liveness: the failure detector and the Ready condition feeding the
 * Layer 2 election (see liveness.h).
 *
 * State: the detector (NULL until this node's Node object has an
 * InternalIP), the set of nodes it holds dead or left (`down`, changed by
 * its events only), and two sets that keep warnings and logs to one line
 * per change (nodes without an address; nodes not Ready).
 */
#include "node/liveness.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/log.h"
#include "base/util.h"
#include "member/member.h"

struct liveness {
	struct ev_loop *loop;
	struct liveness_opts o;
	char *node_name;
	char *key_hint;
	uint8_t *key;
	size_t key_len;
	struct member_io *mio;
	struct hashmap down;       /* node name -> (void *)1 */
	struct hashmap no_addr;    /* warned: no InternalIP */
	struct hashmap not_ready;  /* logged: Ready False/Unknown */
	bool self_warned;
	ev_timer changed_w;
	struct member_timing timing;
	char *timing_name;
};

static void key_forget(struct liveness *l)
{
	if (l->key)
		memset(l->key, 0, l->key_len);
	free(l->key);
	l->key = NULL;
	l->key_len = 0;
}

static void on_changed(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct liveness *l = w->data;
	(void)loop;
	(void)revents;
	if (l->o.on_change)
		l->o.on_change(l->o.arg);
}

struct liveness *liveness_new(struct ev_loop *loop, const struct liveness_opts *o)
{
	struct liveness *l = xcalloc(1, sizeof(*l));
	l->loop = loop;
	l->o = *o;
	l->node_name = xstrdup(o->node_name);
	l->o.node_name = l->node_name;
	l->key_hint = o->key_hint ? xstrdup(o->key_hint) : NULL;
	l->o.key_hint = l->key_hint;
	/* The caller accepted the name (member_timing_named()). */
	l->timing_name = xstrdup(o->timing ? o->timing : "default");
	l->o.timing = l->timing_name;
	if (member_timing_named(l->timing_name, &l->timing) != 0)
		member_timing_default(&l->timing);
	hashmap_init(&l->down, true);
	hashmap_init(&l->no_addr, true);
	hashmap_init(&l->not_ready, true);
	ev_timer_init(&l->changed_w, on_changed, 0., 0.);
	l->changed_w.data = l;
	return l;
}

void liveness_free(struct liveness *l)
{
	if (!l)
		return;
	ev_timer_stop(l->loop, &l->changed_w);
	member_io_free(l->mio);
	hashmap_clear(&l->down);
	hashmap_clear(&l->no_addr);
	hashmap_clear(&l->not_ready);
	key_forget(l);
	free(l->node_name);
	free(l->key_hint);
	free(l->timing_name);
	free(l);
}

void liveness_set_key(struct liveness *l, const uint8_t *key, size_t key_len)
{
	if (!key)
		key_len = 0;
	if (key_len == l->key_len && (key_len == 0 || memcmp(key, l->key, key_len) == 0))
		return;
	bool had = l->key_len > 0;
	key_forget(l);
	if (key_len) {
		l->key = xmalloc(key_len);
		memcpy(l->key, key, key_len);
		l->key_len = key_len;
	}
	if (!l->mio)
		return;
	member_io_set_key(l->mio, l->key, l->key_len);
	if (key_len)
		log_info(had ? "member key changed; the previous one stays in use for a grace time"
			     : "member key set; the member protocol is authenticated after a grace time",
			 "node", l->node_name, NULL);
	else
		log_warn("member key removed; the member protocol is unauthenticated after a grace "
			 "time",
			 "node", l->node_name, "fix", l->key_hint ? l->key_hint : "", NULL);
}

bool liveness_down(const struct liveness *l, const char *node)
{
	return hashmap_get_str(&l->down, node) != NULL;
}

void liveness_mark(const struct liveness *l, struct model *m)
{
	for (size_t i = 0; i < m->nnodes; i++) {
		struct node_obj *n = &m->nodes[i];
		n->member_down = liveness_down(l, n->meta.name) || (l->o.use_ready && n->not_ready);
	}
}

int liveness_note_event(struct hashmap *down, const struct member_event *ev)
{
	bool was_down = hashmap_get_str(down, ev->name) != NULL;
	bool is_down = ev->to == MEMBER_DEAD || ev->to == MEMBER_LEFT;
	char addr[IP_STR_MAX];
	ip_format(&ev->addr->ip, addr);
	if (is_down == was_down) {
		log_debug("member state changed", "node", ev->name, "address", addr, "from",
			  member_state_name[ev->from], "to", member_state_name[ev->to], NULL);
		return -1;
	}
	if (is_down) {
		/* Detection time: from its last sign of life to now; a graceful
		 * leave is immediate. */
		char ms[32];
		if (ev->last_heard > 0)
			snprintf(ms, sizeof(ms), "%.1f", (double)(ev->at - ev->last_heard) / 1e3);
		else
			snprintf(ms, sizeof(ms), "unknown");
		hashmap_put_str(down, ev->name, (void *)1, NULL);
		log_warn(ev->to == MEMBER_LEFT ? "member left; its Services fail over"
					       : "member dead; its Services fail over",
			 "node", ev->name, "address", addr, "from", member_state_name[ev->from],
			 "detection_ms", ms, NULL);
		return 1;
	}
	hashmap_del_str(down, ev->name, NULL);
	log_info("member alive again; it is a candidate again", "node", ev->name, "address", addr,
		 NULL);
	return 0;
}

static void on_member_change(void *ctx, const struct member_event *ev)
{
	struct liveness *l = ctx;
	if (liveness_note_event(&l->down, ev) < 0)
		return;
	if (!ev_is_active(&l->changed_w))
		ev_timer_start(l->loop, &l->changed_w);
}

/* The address a member is reached at: an InternalIP of the family of
 * this node's own (the other family works too: the socket is dual-stack),
 * else the first InternalIP. */
static const struct ip_addr *member_address(const struct node_obj *n, enum ip_family fam)
{
	for (size_t k = 0; k < n->ninternal; k++)
		if (n->internal[k].family == fam)
			return &n->internal[k];
	return n->ninternal ? &n->internal[0] : NULL;
}

static bool start(struct liveness *l)
{
	struct member_io_config mc = {
		.name = l->node_name,
		.port = l->o.port,
		.key = l->key,
		.key_len = l->key_len,
		.on_change = on_member_change,
		.ctx = l,
		.metrics = l->o.metrics,
	};
	mc.timing = l->timing;
	char why[512];
	l->mio = member_io_new(l->loop, &mc, why, sizeof(why));
	if (!l->mio) {
		if (!l->self_warned)
			log_error("cannot start the failure detector; no failover between nodes",
				  "node", l->node_name, "error", why, NULL);
		l->self_warned = true;
		return false;
	}
	char port[16];
	snprintf(port, sizeof(port), "%u", member_io_port(l->mio));
	if (!l->key_len)
		log_warn("the member protocol is unauthenticated: anyone who can send it UDP "
			 "packets can fail Services over",
			 "port", port, "fix", l->key_hint ? l->key_hint : "", NULL);
	log_info("failure detector started", "node", l->node_name, "port", port, "authenticated",
		 l->key_len ? "true" : "false", "timing", l->timing_name, NULL);
	return true;
}

/* One line per change of a node's Ready condition (not at every pass). */
static void log_ready(struct liveness *l, const struct model *m)
{
	for (size_t i = 0; i < m->nnodes; i++) {
		const struct node_obj *n = &m->nodes[i];
		bool was = hashmap_get_str(&l->not_ready, n->meta.name) != NULL;
		if (n->not_ready == was)
			continue;
		if (n->not_ready) {
			hashmap_put_str(&l->not_ready, n->meta.name, (void *)1, NULL);
			log_warn("Node is not Ready (condition Ready False or Unknown); it is no "
				 "Layer 2 candidate until it is Ready again",
				 "node", n->meta.name, NULL);
		} else {
			hashmap_del_str(&l->not_ready, n->meta.name, NULL);
			log_info("Node is Ready again; it is a Layer 2 candidate again", "node",
				 n->meta.name, NULL);
		}
	}
	/* Nodes deleted while not Ready: forgotten (a new one is logged). */
	struct hashmap_iter it;
	hashmap_iter_init(&it, &l->not_ready);
	while (hashmap_iter_next(&it)) {
		const struct node_obj *n = model_find_node(m, it.key);
		if (!n || !n->not_ready)
			hashmap_iter_del(&it);
	}
}

void liveness_sync(struct liveness *l, struct model *m)
{
	if (l->o.use_ready)
		log_ready(l, m);
	const struct node_obj *self = model_find_node(m, l->node_name);
	if (!l->mio && (!self || self->ninternal == 0)) {
		if (!l->self_warned)
			log_warn("this node's Node object has no InternalIP in status.addresses; "
				 "the failure detector is not started: no failover between nodes",
				 "node", l->node_name, NULL);
		l->self_warned = true;
		liveness_mark(l, m);
		return;
	}
	if (!l->mio && !start(l)) {
		liveness_mark(l, m);
		return;
	}
	enum ip_family fam = self && self->ninternal ? self->internal[0].family : IP_FAMILY_V4;
	struct member_peer *peers = xcalloc(m->nnodes ? m->nnodes : 1, sizeof(*peers));
	size_t np = 0;
	uint16_t port = member_io_port(l->mio);
	for (size_t i = 0; i < m->nnodes; i++) {
		const struct node_obj *n = &m->nodes[i];
		if (strcmp(n->meta.name, l->node_name) == 0)
			continue;
		const struct ip_addr *a = member_address(n, fam);
		if (!a) {
			if (!hashmap_get_str(&l->no_addr, n->meta.name)) {
				hashmap_put_str(&l->no_addr, n->meta.name, (void *)1, NULL);
				log_warn("Node has no InternalIP in status.addresses: it is not a "
					 "member of the failure detector and has no failover",
					 "node", n->meta.name, NULL);
			}
			continue;
		}
		hashmap_del_str(&l->no_addr, n->meta.name, NULL);
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
		/* Every node listens on the same port (one DaemonSet setting);
		 * with port 0 (tests) the one this node got. */
		peers[np].addr.port = l->o.port ? l->o.port : port;
		np++;
	}
	bool first = member_count(member_io_core(l->mio)) == 0 && np > 0;
	if (member_io_set_peers(l->mio, peers, np) != 0)
		log_error("cannot set the failure detector's members", "node", l->node_name, NULL);
	free(peers);
	/* A node no longer configured is forgotten (no event): drop it from
	 * `down`, or it would stay down if it came back. */
	struct hashmap_iter it;
	hashmap_iter_init(&it, &l->down);
	while (hashmap_iter_next(&it)) {
		struct member_info mi;
		if (member_find(member_io_core(l->mio), it.key, &mi) != 0 ||
		    (mi.state != MEMBER_DEAD && mi.state != MEMBER_LEFT))
			hashmap_iter_del(&it);
	}
	if (first)
		/* Members that hold us dead from an earlier run learn at once
		 * that we are back. */
		member_io_join(l->mio);
	liveness_mark(l, m);
}

bool liveness_others_alive(const struct liveness *l)
{
	if (!l->mio)
		return false;
	struct member_info mi;
	const struct member *m = member_io_core(l->mio);
	for (size_t i = 0; member_get(m, i, &mi) == 0; i++)
		if (mi.state == MEMBER_ALIVE || mi.state == MEMBER_SUSPECT)
			return true;
	return false;
}

void liveness_leave(struct liveness *l)
{
	ev_timer_stop(l->loop, &l->changed_w);
	if (l->mio)
		member_io_leave(l->mio);
}

json_t *liveness_status_json(const struct liveness *l)
{
	return l->mio ? member_io_status_json(l->mio) : json_null();
}
