/*
 * Planning and announcing for this node (see announcer.h).
 */
#include "node/announcer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "announce/bfd_plan.h"
#include "base/jw.h"
#include "base/log.h"
#include "base/util.h"
#include "bfd/bfd.h"
#include "bgp/bgp_speaker.h"
#include "base/metrics.h"
#include "l2/engine.h"

struct announcer {
	struct announcer_opts o;
	char *node;
	struct ev_loop *loop;
	struct metrics_registry *reg;
	/* The planners keep the plans between changes (announce.h,
	 * bgp_plan.h): a reset plans everything, an update the Services
	 * named. */
	struct l2_planner *l2p;
	struct bgp_planner *bgpp;
	struct l2_engine *l2;
	/* The addresses of a Service by "ns/name" (BGP series name the
	 * Service's addresses under each route, when /metrics is read). */
	size_t (*addrs_of)(void *arg, const char *key, struct ip_addr addrs[2]);
	void *addrs_arg;
	struct bgp_speaker *speaker; /* created when a plan first has sessions */
	/* BFD: created when a plan first has a BGPPeer with a bfdProfile;
	 * its state changes hold BGP sessions down (RFC 5882), then go to
	 * bfd_fn (the speaker posts Events). */
	struct bfd *bfd;
	announcer_bfd_fn bfd_fn;
	void *bfd_arg;
	struct metrics_family *m_announced;
	/* BGP work of the last apply or update (/status "bgp_work"): whether
	 * it was whole, the routes planned again. */
	bool bgp_whole;
	size_t bgp_replanned;
	uint64_t bgp_wholes, bgp_steps;
};

static void collect_announced(struct metrics_family *fam, void *arg);

int announcer_parse_interval(const char *s, double *out)
{
	static const struct {
		const char *unit;
		double seconds;
	} units[] = { {"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600} };
	char *end;

	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (!(*s >= '0' && *s <= '9'))
		return -1;
	double v = strtod(s, &end);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			v *= units[i].seconds;
			if (!(v >= 0.1 && v <= 86400.0 * 365))
				return -1;
			*out = v;
			return 0;
		}
	}
	return -1;
}

struct announcer *announcer_new(struct ev_loop *loop, struct metrics_registry *reg,
				const struct announcer_opts *o)
{
	static const char *const ann_l[] = {"ip", "node", "protocol", "service", NULL};
	struct announcer *a = xcalloc(1, sizeof(*a));
	a->o = *o;
	a->node = xstrdup(o->node_name);
	a->o.node_name = a->node;
	a->loop = loop;
	a->reg = reg;
	a->l2p = l2_planner_new(a->node);
	a->bgpp = bgp_planner_new(a->node);
	a->m_announced = metrics_family_add(reg, "metallb_speaker_announced",
					    "Services being announced from this node. This is "
					    "desired state, it does not guarantee that the routing "
					    "protocols have converged.",
					    METRICS_GAUGE, ann_l);
	if (a->m_announced)
		metrics_family_set_collector(a->m_announced, collect_announced, a);
	if (!o->no_l2) {
		struct l2_engine_opts lo = {
			.install_vips = o->install_vips,
			.vip_device = o->vip_device ? o->vip_device : "lo",
			.garp_interval = 1.1,
			.garp_duration = 5.0,
			.gratuitous_interval = o->gratuitous_interval,
		};
		a->l2 = l2_engine_new(loop, reg, &lo);
	}
	return a;
}

int announcer_start(struct announcer *a)
{
	if (a->l2 && l2_engine_start(a->l2) != 0) {
		log_error("cannot start Layer 2 announcements (needs CAP_NET_RAW and "
			  "CAP_NET_ADMIN; --no-l2 runs without them)",
			  NULL);
		return -1;
	}
	return 0;
}

/* The first entry of plan (sorted by address) at or after addr. */
static size_t plan_lower(const struct l2_plan *p, const struct ip_addr *addr)
{
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ip_cmp(&p->entries[mid].addr, addr) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether plan (sorted by address) has addr owned by this node: binary
 * search for the first entry of addr, then its Services. */
static bool plan_owned_here(const struct l2_plan *p, const struct ip_addr *addr)
{
	size_t lo = plan_lower(p, addr);
	for (size_t k = lo; k < p->n && ip_eq(&p->entries[k].addr, addr); k++)
		if (p->entries[k].here)
			return true;
	return false;
}

/* Hand the BGP plan to the speaker, creating it the first time there is a
 * session to hold. */
static void apply_bgp(struct announcer *a, const struct bgp_plan *bgp)
{
	if (!a->speaker && bgp->nsessions) {
		struct bgp_speaker_opts so = {
			.listen_port = a->o.bgp_port_set ? (uint16_t)a->o.bgp_port : 179,
			.no_listen = a->o.bgp_port_set && a->o.bgp_port == 0,
			.node_name = a->node,
		};
		a->speaker = bgp_speaker_new(a->loop, a->reg, &so);
		if (bgp_speaker_start(a->speaker) != 0)
			log_error("BGP: cannot listen for peers; sessions are still dialled out",
				  NULL);
	}
	if (a->speaker)
		bgp_speaker_set(a->speaker, bgp);
}

/* RFC 5882 §4.3: a BFD session that goes from Up to Down takes its BGP
 * session down at once and holds it there until BFD is Up again; a peer
 * that says AdminDown (§3.2: it is being shut down, not failing) leaves
 * BGP alone. */
static void on_bfd_state(void *arg, const char *name, enum bfd_state from, enum bfd_state to,
			 enum bfd_diag diag, bool peer_admin_down)
{
	struct announcer *a = arg;

	if (a->speaker && from == BFD_STATE_UP && to == BFD_STATE_DOWN) {
		if (peer_admin_down) {
			log_info("bfd peer is administratively down; BGP session kept", "session",
				 name, "rfc", "5882 3.2", NULL);
		} else {
			char why[96];

			snprintf(why, sizeof(why), "BFD down: %s", bfd_diag_str(diag));
			bgp_speaker_bfd_hold(a->speaker, name, true, why);
		}
	} else if (a->speaker && to == BFD_STATE_UP) {
		bgp_speaker_bfd_hold(a->speaker, name, false, "BFD up");
	}
	if (a->bfd_fn)
		a->bfd_fn(a->bfd_arg, name, from, to, diag, peer_admin_down);
}

/* Hand the BFD sessions of the BGP plan to the BFD module, creating it the
 * first time there is one; a BGP session whose BFD session is gone (its
 * profile removed) is no longer held. */
static void apply_bfd(struct announcer *a, const struct model *m, const struct bgp_plan *bgp)
{
	struct bfd_plan bp;

	announce_bfd(m, bgp, &bp);
	if (!a->bfd && bp.n) {
		struct bfd_opts bo = { .node_name = a->node };

		a->bfd = bfd_new(a->loop, a->reg, &bo);
		bfd_set_listener(a->bfd, on_bfd_state, a);
	}
	if (a->bfd && bfd_set(a->bfd, bp.v, bp.n) != 0)
		log_error("bfd sessions not changed: the plan names a session twice", NULL);
	if (a->speaker)
		for (size_t i = 0; i < bgp->nsessions; i++) {
			const char *name = bgp->sessions[i].cfg.name;

			if ((!a->bfd || bfd_state_of(a->bfd, name) == BFD_STATE_NONE) &&
			    bgp_speaker_bfd_held(a->speaker, name))
				bgp_speaker_bfd_hold(a->speaker, name, false,
						     "BFD no longer configured");
		}
	bfd_plan_free(&bp);
}

void announcer_bfd_listener(struct announcer *a, announcer_bfd_fn fn, void *arg)
{
	a->bfd_fn = fn;
	a->bfd_arg = arg;
}

const struct bfd *announcer_bfd(const struct announcer *a)
{
	return a->bfd;
}

const struct bgp_speaker *announcer_bgp_speaker(const struct announcer *a)
{
	return a->speaker;
}

/* Plan every BGP route again; logged with its CPU time when this node has
 * sessions (bench/bgp.py reports it beside BIRD's). */
static void bgp_plan_all(struct announcer *a, const struct model *m,
			 const struct announce_svc *svcs, size_t nsvcs)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	bgp_planner_reset(a->bgpp, m, svcs, nsvcs);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	const struct bgp_plan *plan = bgp_planner_plan(a->bgpp);
	if (!plan->nsessions)
		return;
	size_t nroutes = 0;
	for (size_t s = 0; s < plan->nsessions; s++)
		nroutes += plan->sessions[s].nroutes;
	char ns[24], nr[24], cpu[32];
	snprintf(ns, sizeof(ns), "%zu", plan->nsessions);
	snprintf(nr, sizeof(nr), "%zu", nroutes);
	snprintf(cpu, sizeof(cpu), "%.1f",
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	log_info("bgp planned", "sessions", ns, "routes", nr, "cpu_ms", cpu, NULL);
}

/* metallb_speaker_announced: one series per (address, Service) announced
 * here, labelled with the Service's address (for BGP too, also when the
 * route is an aggregate).  Made from the plans when the metrics are read:
 * held, the 40,000 series of 20,000 dual-stack Services cost about 2.7
 * MiB of small blocks (and more in malloc's overhead). */
static void collect_bgp(struct metrics_family *fam, const struct announcer *a)
{
	const struct bgp_plan *bgp = bgp_planner_plan(a->bgpp);
	if (!a->addrs_of)
		return;
	for (size_t s = 0; s < bgp->nsessions; s++) {
		const struct bgp_session_plan *sp = &bgp->sessions[s];
		for (size_t r = 0; r < sp->nroutes; r++) {
			const struct bgp_route *rt = &sp->routes[r];
			struct ip_prefix pf = bgp_prefix_unpack(&rt->prefix);
			for (size_t k = 0; k < rt->nservices; k++) {
				struct ip_addr addrs[2];
				size_t n = a->addrs_of(a->addrs_arg, rt->services[k], addrs);
				for (size_t x = 0; x < n && x < 2; x++) {
					if (!ip_prefix_contains(&pf, &addrs[x]))
						continue;
					char ip[IP_STR_MAX];
					const char *l[] = {ip_format(&addrs[x], ip), a->node, "bgp",
							   rt->services[k]};
					metrics_set(fam, l, 1);
				}
			}
		}
	}
}

static void collect_announced(struct metrics_family *fam, void *arg)
{
	const struct announcer *a = arg;
	const struct l2_plan *plan = l2_planner_plan(a->l2p);
	for (size_t i = 0; i < plan->n; i++) {
		const struct l2_entry *e = &plan->entries[i];
		if (!e->here)
			continue;
		char ip[IP_STR_MAX];
		const char *l[] = {ip_format(&e->addr, ip), a->node, "layer2", e->service};
		metrics_set(fam, l, 1);
	}
	collect_bgp(fam, a);
}

/* Log an ownership change of this node's addresses (before: whether the
 * old plan had the address owned here). */
static void log_owner(const struct l2_entry *e, bool before)
{
	if (e->here == before)
		return;
	char ip[IP_STR_MAX];
	log_info(e->here ? "address owned by this node" : "address owned by another node", "ip",
		 ip_format(&e->addr, ip), "service", e->service, "owner", e->owner ? e->owner : "",
		 NULL);
}

/* The Layer 2 engine owns exactly the addresses planned here. */
static void apply_l2(struct announcer *a)
{
	if (!a->l2)
		return;
	const struct l2_plan *plan = l2_planner_plan(a->l2p);
	struct l2_owned *own = xcalloc(plan->n ? plan->n : 1, sizeof(*own));
	size_t n = 0;
	for (size_t i = 0; i < plan->n; i++) {
		const struct l2_entry *e = &plan->entries[i];
		if (!e->here)
			continue;
		/* Shared addresses appear once per Service; own once. */
		if (n && ip_eq(&own[n - 1].addr, &e->addr))
			continue;
		own[n].addr = e->addr;
		own[n].service = e->service;
		own[n].all_interfaces = e->all_interfaces;
		own[n].ninterfaces = e->ninterfaces;
		own[n].interfaces = e->interfaces;
		n++;
	}
	l2_engine_set(a->l2, own, n);
	free(own);
}

void announcer_apply(struct announcer *a, const struct model *m, const struct announce_svc *svcs,
		     size_t nsvcs)
{
	/* The old plan, for the ownership log. */
	struct l2_plan old = {0};
	const struct l2_plan *cur = l2_planner_plan(a->l2p);
	old.n = cur->n;
	old.entries = xcalloc(cur->n ? cur->n : 1, sizeof(*old.entries));
	if (cur->n)
		memcpy(old.entries, cur->entries, cur->n * sizeof(*old.entries));
	/* The entries' strings are the planner's and go at reset: keep only
	 * what the comparison reads (addresses and here). */
	for (size_t i = 0; i < old.n; i++) {
		old.entries[i].service = NULL;
		old.entries[i].pool = NULL;
		old.entries[i].owner = NULL;
		old.entries[i].interfaces = NULL;
		old.entries[i].candidates = NULL;
		old.entries[i].ninterfaces = old.entries[i].ncandidates = 0;
	}
	l2_planner_reset(a->l2p, m, svcs, nsvcs);
	if (!a->o.no_bgp)
		bgp_plan_all(a, m, svcs, nsvcs);
	apply_bgp(a, bgp_planner_plan(a->bgpp));
	a->bgp_whole = true;
	a->bgp_replanned = 0;
	for (size_t s = 0; s < bgp_planner_plan(a->bgpp)->nsessions; s++)
		a->bgp_replanned += bgp_planner_plan(a->bgpp)->sessions[s].nroutes;
	a->bgp_wholes++;
	apply_bfd(a, m, bgp_planner_plan(a->bgpp));
	const struct l2_plan *plan = l2_planner_plan(a->l2p);
	for (size_t i = 0; i < plan->n; i++)
		log_owner(&plan->entries[i], plan_owned_here(&old, &plan->entries[i].addr));
	free(old.entries);
	apply_l2(a);
}

/* The Layer 2 engine takes the addresses the changes can move: each
 * changed Service's old ones (those the plan had entries for, as
 * l2_planner_held() said before the update) and new ones, owned now by the first Service of
 * the plan that has them here (as apply_l2() picks), or gone. */
struct held_addrs {
	size_t n;
	struct ip_addr addrs[2];
};

static void l2_apply_changes(struct announcer *a, const struct announce_change *changes,
			     size_t nchanges, const struct held_addrs *old)
{
	const struct l2_plan *plan = l2_planner_plan(a->l2p);
	struct l2_owned *own = xcalloc(4 * nchanges + 1, sizeof(*own));
	struct ip_addr *gone = xcalloc(4 * nchanges + 1, sizeof(*gone));
	size_t nown = 0, ngone = 0;
	for (size_t i = 0; i < nchanges; i++) {
		struct ip_addr cand[4];
		size_t nc = 0;
		for (size_t x = 0; x < old[i].n; x++)
			cand[nc++] = old[i].addrs[x];
		for (size_t x = 0; changes[i].as.svc && x < changes[i].as.naddrs && x < 2; x++)
			cand[nc++] = changes[i].as.addrs[x];
		for (size_t c = 0; c < nc; c++) {
			size_t lo = plan_lower(plan, &cand[c]);
			const struct l2_entry *e = NULL;
			for (size_t k = lo; k < plan->n && ip_eq(&plan->entries[k].addr, &cand[c]) && !e;
			     k++)
				if (plan->entries[k].here)
					e = &plan->entries[k];
			if (!e) {
				gone[ngone++] = cand[c];
				continue;
			}
			own[nown].addr = e->addr;
			own[nown].service = e->service;
			own[nown].all_interfaces = e->all_interfaces;
			own[nown].ninterfaces = e->ninterfaces;
			own[nown].interfaces = e->interfaces;
			nown++;
		}
	}
	if (a->l2)
		l2_engine_update(a->l2, own, nown, gone, ngone);
	free(own);
	free(gone);
}

void announcer_update(struct announcer *a, const struct model *m,
		      const struct announce_change *changes, size_t nchanges)
{
	if (!nchanges)
		return;
	/* Whether each changed Service's new addresses were owned here
	 * before, read from the plan before it moves. */
	bool(*before)[2] = xcalloc(nchanges, sizeof(*before));
	struct held_addrs *old = xcalloc(nchanges, sizeof(*old));
	const struct l2_plan *plan = l2_planner_plan(a->l2p);
	for (size_t i = 0; i < nchanges; i++) {
		for (size_t x = 0; x < changes[i].as.naddrs && x < 2; x++)
			before[i][x] = plan_owned_here(plan, &changes[i].as.addrs[x]);
		char key[512];
		snprintf(key, sizeof(key), "%s/%s", changes[i].ns, changes[i].name);
		old[i].n = l2_planner_held(a->l2p, key, old[i].addrs);
	}
	l2_planner_update(a->l2p, m, changes, nchanges);
	a->bgp_whole = false;
	a->bgp_replanned = 0;
	a->bgp_steps++;
	if (!a->o.no_bgp) {
		bgp_planner_update(a->bgpp, m, changes, nchanges);
		const struct bgp_route_change *rc;
		size_t nrc = bgp_planner_changed(a->bgpp, &rc);
		a->bgp_replanned = nrc;
		/* The sessions are those of the last apply: the speaker
		 * compares just the routes the planner touched. */
		if (a->speaker)
			bgp_speaker_update(a->speaker, bgp_planner_plan(a->bgpp), rc, nrc);
		else if (bgp_planner_plan(a->bgpp)->nsessions)
			apply_bgp(a, bgp_planner_plan(a->bgpp));
	}
	plan = l2_planner_plan(a->l2p);
	for (size_t i = 0; i < nchanges; i++) {
		char key[512];
		snprintf(key, sizeof(key), "%s/%s", changes[i].ns, changes[i].name);
		for (size_t x = 0; changes[i].as.svc && x < changes[i].as.naddrs && x < 2; x++) {
			const struct ip_addr *ad = &changes[i].as.addrs[x];
			size_t lo = plan_lower(plan, ad);
			for (size_t k = lo; k < plan->n && ip_eq(&plan->entries[k].addr, ad); k++)
				if (strcmp(plan->entries[k].service, key) == 0)
					log_owner(&plan->entries[k], before[i][x]);
		}
	}
	free(before);
	l2_apply_changes(a, changes, nchanges, old);
	free(old);
}

void announcer_set_claims(struct announcer *a, const struct announce_claims *claims)
{
	l2_planner_set_claims(a->l2p, claims);
}

const struct l2_plan *announcer_l2_plan(const struct announcer *a)
{
	return l2_planner_plan(a->l2p);
}

const struct bgp_plan *announcer_bgp_plan(const struct announcer *a)
{
	return bgp_planner_plan(a->bgpp);
}

void announcer_bgp_service_routes(const struct announcer *a, const char *key,
				  void (*fn)(void *arg, size_t session, const struct bgp_route *r),
				  void *arg)
{
	bgp_planner_service_sessions(a->bgpp, key, fn, arg);
}

void announcer_addrs_source(struct announcer *a,
			    size_t (*fn)(void *arg, const char *key, struct ip_addr addrs[2]),
			    void *arg)
{
	a->addrs_of = fn;
	a->addrs_arg = arg;
}

size_t announcer_interfaces(const struct announcer *a, const struct ip_addr *addr,
			    char names[][16], size_t max)
{
	return a->l2 ? l2_engine_announced_on(a->l2, addr, names, max) : 0;
}

void announcer_status_write(const struct announcer *a, struct jw *w)
{
	/* One entry per planned address, possibly tens of thousands: written
	 * as the plan is read, never held as a tree. */
	jw_key(w, "layer2");
	jw_arr_begin(w);
	const struct l2_plan *plan = l2_planner_plan(a->l2p);
	for (size_t i = 0; i < plan->n; i++) {
		const struct l2_entry *e = &plan->entries[i];
		char ip[IP_STR_MAX];
		jw_obj_begin(w);
		jw_kstr(w, "ip", ip_format(&e->addr, ip));
		jw_kstr(w, "service", e->service);
		jw_kstr(w, "pool", e->pool ? e->pool : "");
		jw_kstr(w, "owner", e->owner); /* null while nobody may announce it */
		jw_kbool(w, "here", e->here);
		jw_kbool(w, "all_interfaces", e->all_interfaces);
		jw_key(w, "interfaces");
		jw_arr_begin(w);
		for (size_t k = 0; k < e->ninterfaces; k++)
			jw_str(w, e->interfaces[k]);
		jw_arr_end(w);
		jw_key(w, "candidates");
		jw_arr_begin(w);
		for (size_t k = 0; k < e->ncandidates; k++)
			jw_str(w, e->candidates[k]);
		jw_arr_end(w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	if (a->l2) {
		jw_key(w, "l2_engine");
		l2_engine_status_write(a->l2, w);
	}
	/* How much BGP work the last pass or step did: a step of one
	 * Service plans and compares its few routes, not every route. */
	struct bgp_speaker_work sw = {0};
	if (a->speaker)
		bgp_speaker_last_work(a->speaker, &sw);
	jw_key(w, "bgp_work");
	jw_obj_begin(w);
	jw_kbool(w, "last_whole", a->bgp_whole);
	jw_kint(w, "last_routes_planned", (long long)a->bgp_replanned);
	jw_kint(w, "last_routes_compared", (long long)sw.compared);
	jw_kint(w, "whole_passes", (long long)a->bgp_wholes);
	jw_kint(w, "steps", (long long)a->bgp_steps);
	jw_kint(w, "speaker_whole_syncs", (long long)sw.whole_syncs);
	jw_kint(w, "speaker_partial_syncs", (long long)sw.partial_syncs);
	jw_obj_end(w);
	jw_key(w, "bgp");
	if (a->speaker) {
		bgp_speaker_status_write(a->speaker, w);
	} else {
		jw_obj_begin(w);
		jw_key(w, "sessions");
		jw_arr_begin(w);
		jw_arr_end(w);
		jw_obj_end(w);
	}
	jw_key(w, "bfd");
	if (a->bfd) {
		bfd_status_write(a->bfd, w);
	} else {
		jw_arr_begin(w);
		jw_arr_end(w);
	}
}

void announcer_stop(struct announcer *a)
{
	if (a->l2)
		l2_engine_stop(a->l2);
	/* AdminDown first: the peers' BGP sessions are then not torn down by
	 * BFD (RFC 5882 3.2) before our own graceful close reaches them. */
	if (a->bfd)
		bfd_stop(a->bfd);
	if (a->speaker)
		bgp_speaker_stop(a->speaker);
}

void announcer_free(struct announcer *a)
{
	if (!a)
		return;
	/* The family is the registry's and may outlive the announcer. */
	if (a->m_announced)
		metrics_family_set_collector(a->m_announced, NULL, NULL);
	if (a->l2)
		l2_engine_free(a->l2);
	if (a->bfd)
		bfd_free(a->bfd);
	if (a->speaker)
		bgp_speaker_free(a->speaker);
	l2_planner_free(a->l2p);
	bgp_planner_free(a->bgpp);
	free(a->node);
	free(a);
}
