/*
 * The speaker's input types (see bgp_config.h): comparing, copying and
 * freeing sessions' parameters, routes and plans.
 */
#include "bgp/bgp_config.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static bool str_differs(const char *a, const char *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a, b) != 0;
}

static bool opt_addr_differs(bool has_a, const struct ip_addr *a, bool has_b,
			     const struct ip_addr *b)
{
	if (has_a != has_b)
		return true;
	return has_a && !ip_eq(a, b);
}

bool bgp_session_cfg_differs(const struct bgp_session_cfg *a, const struct bgp_session_cfg *b)
{
	return a->my_asn != b->my_asn || a->peer_asn != b->peer_asn ||
	       a->dynamic_asn != b->dynamic_asn || a->local_asn != b->local_asn ||
	       !ip_eq(&a->peer_address, &b->peer_address) || a->peer_port != b->peer_port ||
	       opt_addr_differs(a->has_source_address, &a->source_address,
				b->has_source_address, &b->source_address) ||
	       opt_addr_differs(a->has_router_id, &a->router_id, b->has_router_id,
				&b->router_id) ||
	       a->hold_time_s != b->hold_time_s || a->keepalive_time_s != b->keepalive_time_s ||
	       a->connect_time_s != b->connect_time_s ||
	       a->has_connect_time != b->has_connect_time ||
	       str_differs(a->password, b->password) ||
	       a->ebgp_multihop != b->ebgp_multihop || str_differs(a->vrf, b->vrf) ||
	       a->graceful_restart != b->graceful_restart ||
	       a->dual_stack_address_family != b->dual_stack_address_family ||
	       a->ibgp != b->ibgp || str_differs(a->interface, b->interface);
}

bool bgp_session_carries(const struct bgp_session_cfg *c, enum ip_family f)
{
	if (f != IP_FAMILY_V4 && f != IP_FAMILY_V6)
		return false;
	if (c->dual_stack_address_family || c->interface)
		return true;
	return c->peer_address.family == f;
}

void bgp_session_cfg_copy(struct bgp_session_cfg *dst, const struct bgp_session_cfg *src)
{
	*dst = *src;
	dst->name = xstrdup(src->name);
	dst->password = xstrdup(src->password);
	dst->vrf = xstrdup(src->vrf);
	dst->interface = xstrdup(src->interface);
}

void bgp_session_cfg_free(struct bgp_session_cfg *c)
{
	free(c->name);
	free(c->password);
	free(c->vrf);
	free(c->interface);
	memset(c, 0, sizeof(*c));
}

void bgp_route_free(struct bgp_route *r)
{
	free(r->communities);
	free(r->services);
	memset(r, 0, sizeof(*r));
}

void bgp_plan_free(struct bgp_plan *p)
{
	for (size_t i = 0; i < p->nsessions; i++) {
		struct bgp_session_plan *sp = &p->sessions[i];
		bgp_session_cfg_free(&sp->cfg);
		for (size_t k = 0; k < sp->nroutes; k++)
			bgp_route_free(&sp->routes[k]);
		free(sp->routes);
	}
	free(p->sessions);
	p->sessions = NULL;
	p->nsessions = 0;
}

void bgp_route_copy(struct bgp_route *dst, const struct bgp_route *src)
{
	*dst = *src;
	dst->communities = NULL;
	dst->services = NULL;
	if (src->ncommunities) {
		dst->communities = xcalloc(src->ncommunities, sizeof(*dst->communities));
		memcpy(dst->communities, src->communities,
		       src->ncommunities * sizeof(*dst->communities));
	}
	dst->services = bgp_route_services((const char *const *)src->services, src->nservices);
}

/* One allocation for a route's names: every route holds one or a few. */
char **bgp_route_services(const char *const *v, size_t n)
{
	if (n == 0)
		return NULL;
	size_t size = n * sizeof(char *);
	for (size_t i = 0; i < n; i++)
		size += strlen(v[i]) + 1;
	char **out = xmalloc(size);
	char *sp = (char *)(out + n);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]) + 1;
		memcpy(sp, v[i], l);
		out[i] = sp;
		sp += l;
	}
	return out;
}

void bgp_plan_copy(struct bgp_plan *dst, const struct bgp_plan *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src->nsessions)
		return;
	dst->nsessions = src->nsessions;
	dst->sessions = xcalloc(src->nsessions, sizeof(*dst->sessions));
	for (size_t i = 0; i < src->nsessions; i++) {
		const struct bgp_session_plan *s = &src->sessions[i];
		struct bgp_session_plan *d = &dst->sessions[i];
		bgp_session_cfg_copy(&d->cfg, &s->cfg);
		d->nroutes = s->nroutes;
		if (s->nroutes) {
			d->routes = xcalloc(s->nroutes, sizeof(*d->routes));
			for (size_t k = 0; k < s->nroutes; k++)
				bgp_route_copy(&d->routes[k], &s->routes[k]);
		}
	}
}

static bool community_eq(const struct community_value *x, const struct community_value *y)
{
	return x->kind == y->kind && x->a == y->a && x->b == y->b &&
	       (x->kind != COMMUNITY_LARGE || x->c == y->c);
}

bool bgp_route_same_attrs(const struct bgp_route *a, const struct bgp_route *b)
{
	if (bgp_prefix_cmp(&a->prefix, &b->prefix) != 0)
		return false;
	if (a->has_local_pref != b->has_local_pref ||
	    (a->has_local_pref && a->local_pref != b->local_pref))
		return false;
	if (a->ncommunities != b->ncommunities)
		return false;
	for (size_t i = 0; i < a->ncommunities; i++)
		if (!community_eq(&a->communities[i], &b->communities[i]))
			return false;
	return true;
}

struct bgp_prefix bgp_prefix_pack(const struct ip_prefix *p)
{
	struct bgp_prefix r = { .family = (uint8_t)p->addr.family, .len = (uint8_t)p->len };

	for (int i = 0; i < 16; i++)
		r.addr[i] = (uint8_t)(p->addr.v >> (8 * (15 - i)));
	return r;
}

struct ip_prefix bgp_prefix_unpack(const struct bgp_prefix *r)
{
	struct ip_prefix p = { .len = r->len };

	p.addr.family = (enum ip_family)r->family;
	for (int i = 0; i < 16; i++)
		p.addr.v = p.addr.v << 8 | r->addr[i];
	return p;
}

int bgp_prefix_cmp(const struct bgp_prefix *a, const struct bgp_prefix *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}
