/*
 * Planning and announcing for this node (see announcer.h).
 */
#include "daemon/announcer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "bgp/bgp_speaker.h"
#include "base/metrics.h"
#include "l2/engine.h"

struct announcer {
	struct announcer_opts o;
	char *node;
	struct ev_loop *loop;
	struct metrics_registry *reg;
	struct l2_plan plan;
	struct l2_engine *l2;
	struct bgp_plan bgp;
	struct bgp_speaker *speaker; /* created when a plan first has sessions */
	struct metrics_family *m_announced;
};

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
	a->m_announced = metrics_family_add(reg, "metallb_speaker_announced",
					    "Services being announced from this node. This is "
					    "desired state, it does not guarantee that the routing "
					    "protocols have converged.",
					    METRICS_GAUGE, ann_l);
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

/* Whether plan (sorted by address) has addr owned by this node: binary
 * search for the first entry of addr, then its Services. */
static bool plan_owned_here(const struct l2_plan *p, const struct ip_addr *addr)
{
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ip_cmp(&p->entries[mid].addr, addr) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; k < p->n && ip_eq(&p->entries[k].addr, addr); k++)
		if (p->entries[k].here)
			return true;
	return false;
}

/* Hand the BGP plan to the speaker, creating it the first time there is a
 * session to hold. */
static void apply_bgp(struct announcer *a, struct bgp_plan *bgp)
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
	bgp_plan_free(&a->bgp);
	a->bgp = *bgp;
}

static int svc_ref_cmp(const void *a, const void *b)
{
	const struct service *x = (*(const struct announce_svc *const *)a)->svc;
	const struct service *y = (*(const struct announce_svc *const *)b)->svc;
	int c = strcmp(x->meta.namespace_, y->meta.namespace_);
	return c ? c : strcmp(x->meta.name, y->meta.name);
}

/* metallb_speaker_announced: one series per (address, Service) announced
 * here, labelled with the Service's address (for BGP too, also when the
 * route is an aggregate). */
static void metrics_update(struct announcer *a, const struct announce_svc *svcs, size_t nsvcs)
{
	metrics_family_clear(a->m_announced);
	for (size_t i = 0; i < a->plan.n; i++) {
		const struct l2_entry *e = &a->plan.entries[i];
		if (!e->here)
			continue;
		char ip[IP_STR_MAX];
		const char *l[] = {ip_format(&e->addr, ip), a->node, "layer2", e->service};
		metrics_set(a->m_announced, l, 1);
	}
	if (!a->bgp.nsessions)
		return;
	const struct announce_svc **by_key = xcalloc(nsvcs ? nsvcs : 1, sizeof(*by_key));
	for (size_t i = 0; i < nsvcs; i++)
		by_key[i] = &svcs[i];
	xqsort(by_key, nsvcs, sizeof(*by_key), svc_ref_cmp);
	for (size_t s = 0; s < a->bgp.nsessions; s++) {
		const struct bgp_session_plan *sp = &a->bgp.sessions[s];
		for (size_t r = 0; r < sp->nroutes; r++) {
			const struct bgp_route *rt = &sp->routes[r];
			for (size_t k = 0; k < rt->nservices; k++) {
				/* "ns/name": names cannot hold '/'. */
				char *ns = xstrdup(rt->services[k]);
				char *slash = strchr(ns, '/');
				if (!slash) {
					free(ns);
					continue;
				}
				*slash = 0;
				struct service ks = {.meta = {.namespace_ = ns, .name = slash + 1}};
				struct announce_svc ka = {.svc = &ks};
				const struct announce_svc *kp = &ka;
				const struct announce_svc *const *hit =
					xbsearch(&kp, by_key, nsvcs, sizeof(*by_key), svc_ref_cmp);
				free(ns);
				for (size_t x = 0; hit && x < (*hit)->naddrs; x++) {
					if (!ip_prefix_contains(&rt->prefix, &(*hit)->addrs[x]))
						continue;
					char ip[IP_STR_MAX];
					const char *l[] = {ip_format(&(*hit)->addrs[x], ip), a->node,
							   "bgp", rt->services[k]};
					metrics_set(a->m_announced, l, 1);
				}
			}
		}
	}
	free(by_key);
}

void announcer_apply(struct announcer *a, const struct model *m, const struct announce_svc *svcs,
		     size_t nsvcs)
{
	struct l2_plan plan = {0};
	announce_l2(m, a->node, svcs, nsvcs, &plan);
	struct bgp_plan bgp = {0};
	if (!a->o.no_bgp)
		announce_bgp(m, a->node, svcs, nsvcs, &bgp);
	apply_bgp(a, &bgp);

	/* Log ownership changes for this node. */
	for (size_t i = 0; i < plan.n; i++) {
		const struct l2_entry *e = &plan.entries[i];
		bool before = plan_owned_here(&a->plan, &e->addr);
		if (e->here != before) {
			char ip[IP_STR_MAX];
			log_info(e->here ? "address owned by this node" : "address owned by another node",
				 "ip", ip_format(&e->addr, ip), "service", e->service, "owner",
				 e->owner ? e->owner : "", NULL);
		}
	}
	l2_plan_free(&a->plan);
	a->plan = plan;

	if (a->l2) {
		struct l2_owned *own = xcalloc(plan.n ? plan.n : 1, sizeof(*own));
		size_t n = 0;
		for (size_t i = 0; i < plan.n; i++) {
			const struct l2_entry *e = &plan.entries[i];
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
	metrics_update(a, svcs, nsvcs);
}

const struct l2_plan *announcer_l2_plan(const struct announcer *a)
{
	return &a->plan;
}

const struct bgp_plan *announcer_bgp_plan(const struct announcer *a)
{
	return &a->bgp;
}

size_t announcer_interfaces(const struct announcer *a, const struct ip_addr *addr,
			    char names[][16], size_t max)
{
	return a->l2 ? l2_engine_announced_on(a->l2, addr, names, max) : 0;
}

void announcer_status_json(const struct announcer *a, json_t *root)
{
	json_t *l2 = json_array();
	for (size_t i = 0; i < a->plan.n; i++) {
		const struct l2_entry *e = &a->plan.entries[i];
		char ip[IP_STR_MAX];
		json_t *ifs = json_array(), *cands = json_array();
		for (size_t k = 0; k < e->ninterfaces; k++)
			json_array_append_new(ifs, json_string(e->interfaces[k]));
		for (size_t k = 0; k < e->ncandidates; k++)
			json_array_append_new(cands, json_string(e->candidates[k]));
		json_array_append_new(
			l2, json_pack("{s:s, s:s, s:s, s:o, s:b, s:b, s:o, s:o}", "ip",
				      ip_format(&e->addr, ip), "service", e->service, "pool",
				      e->pool ? e->pool : "", "owner",
				      e->owner ? json_string(e->owner) : json_null(), "here", e->here,
				      "all_interfaces", e->all_interfaces, "interfaces", ifs,
				      "candidates", cands));
	}
	json_object_set_new(root, "layer2", l2);
	if (a->l2)
		json_object_set_new(root, "l2_engine", l2_engine_status_json(a->l2));
	if (a->speaker)
		json_object_set_new(root, "bgp", bgp_speaker_status_json(a->speaker));
	else
		json_object_set_new(root, "bgp", json_pack("{s:[]}", "sessions"));
}

void announcer_stop(struct announcer *a)
{
	if (a->l2)
		l2_engine_stop(a->l2);
	if (a->speaker)
		bgp_speaker_stop(a->speaker);
}

void announcer_free(struct announcer *a)
{
	if (!a)
		return;
	if (a->l2)
		l2_engine_free(a->l2);
	if (a->speaker)
		bgp_speaker_free(a->speaker);
	bgp_plan_free(&a->bgp);
	l2_plan_free(&a->plan);
	free(a->node);
	free(a);
}
