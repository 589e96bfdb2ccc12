/*
 * BFD module entry points (see bfd.h).  First cut: the configuration is
 * kept and reported; sessions stay Down until the session layer lands.
 */
#include "bfd/bfd.h"

#include <stdlib.h>
#include <string.h>

#include "base/jw.h"
#include "base/util.h"

struct bfd_entry {
	struct bfd_session_cfg cfg;
	enum bfd_state state;
};

struct bfd {
	struct ev_loop *loop;
	struct metrics_registry *reg;
	struct bfd_opts opts;
	bfd_state_fn listener;
	void *listener_arg;
	struct bfd_entry *v;
	size_t n;
};

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool bfd_session_cfg_same_identity(const struct bfd_session_cfg *a,
				   const struct bfd_session_cfg *b)
{
	return str_eq(a->name, b->name) && ip_eq(&a->peer, &b->peer) &&
	       a->has_local == b->has_local && (!a->has_local || ip_eq(&a->local, &b->local)) &&
	       str_eq(a->interface, b->interface) && str_eq(a->vrf, b->vrf) &&
	       a->multihop == b->multihop;
}

bool bfd_session_cfg_differs(const struct bfd_session_cfg *a, const struct bfd_session_cfg *b)
{
	return !bfd_session_cfg_same_identity(a, b) || !str_eq(a->profile, b->profile) ||
	       a->rx_interval_ms != b->rx_interval_ms || a->tx_interval_ms != b->tx_interval_ms ||
	       a->detect_mult != b->detect_mult || a->echo_interval_ms != b->echo_interval_ms ||
	       a->echo_mode != b->echo_mode || a->passive_mode != b->passive_mode ||
	       a->minimum_ttl != b->minimum_ttl;
}

struct bfd *bfd_new(struct ev_loop *loop, struct metrics_registry *reg,
		    const struct bfd_opts *opts)
{
	struct bfd *b = xcalloc(1, sizeof(*b));

	b->loop = loop;
	b->reg = reg;
	if (opts)
		b->opts = *opts;
	return b;
}

static void cfg_free(struct bfd_session_cfg *c)
{
	free(c->name);
	free(c->profile);
	free(c->interface);
	free(c->vrf);
}

static void cfg_copy(struct bfd_session_cfg *dst, const struct bfd_session_cfg *src)
{
	*dst = *src;
	dst->name = xstrdup(src->name);
	dst->profile = xstrdup(src->profile);
	dst->interface = xstrdup(src->interface);
	dst->vrf = xstrdup(src->vrf);
}

int bfd_set(struct bfd *b, const struct bfd_session_cfg *cfgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (str_eq(cfgs[i].name, cfgs[j].name))
				return -1;
	for (size_t i = 0; i < b->n; i++)
		cfg_free(&b->v[i].cfg);
	free(b->v);
	b->v = n ? xcalloc(n, sizeof(*b->v)) : NULL;
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		cfg_copy(&b->v[i].cfg, &cfgs[i]);
		b->v[i].state = BFD_STATE_DOWN;
	}
	return 0;
}

void bfd_set_listener(struct bfd *b, bfd_state_fn fn, void *arg)
{
	b->listener = fn;
	b->listener_arg = arg;
}

enum bfd_state bfd_state_of(const struct bfd *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (str_eq(b->v[i].cfg.name, name))
			return b->v[i].state;
	return BFD_STATE_NONE;
}

void bfd_stop(struct bfd *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->v[i].state = BFD_STATE_ADMIN_DOWN;
}

void bfd_free(struct bfd *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		cfg_free(&b->v[i].cfg);
	free(b->v);
	free(b);
}

void bfd_status_write(const struct bfd *b, struct jw *w)
{
	char buf[IP_STR_MAX];

	jw_arr_begin(w);
	for (size_t i = 0; i < b->n; i++) {
		const struct bfd_entry *e = &b->v[i];
		jw_obj_begin(w);
		jw_kstr(w, "name", e->cfg.name);
		jw_kstr(w, "profile", e->cfg.profile);
		jw_kstr(w, "peer", ip_format(&e->cfg.peer, buf));
		jw_kstr(w, "state", bfd_state_str(e->state));
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

json_t *bfd_status_json(const struct bfd *b)
{
	struct jw w;
	char *text;
	json_t *j;

	jw_init(&w, false);
	bfd_status_write(b, &w);
	text = jw_finish(&w, NULL);
	j = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	return j;
}
