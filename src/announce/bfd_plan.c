/*
 * DOC: BFD session planning.
 *
 * announce_bfd() walks this node's BGP plan (announce/bgp_plan.c decided
 * which BGPPeers select this node) and, for each session whose BGPPeer has
 * a BFD profile, copies the session's addressing and the profile's fields
 * into a bfd_session_cfg.  Sessions are matched to BGPPeers by name: the
 * BGP plan's session name is the BGPPeer's metadata.name, and duplicate
 * names keep the first object in model order, as the BGP planner does
 * (model_find_peer).  Pure: no I/O; the result depends on the inputs only,
 * so bfd_set() can diff two plans.
 */
#include <stdlib.h>
#include <string.h>

#include "announce/bfd_plan.h"
#include "base/util.h"

static char *dup_nonempty(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

static void cfg_from(struct bfd_session_cfg *c, const struct bgp_session_cfg *s,
		     const struct bfdprofile *prof)
{
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(s->name);
	c->profile = xstrdup(prof->meta.name);
	c->peer = s->peer_address;
	c->has_local = s->has_source_address;
	if (s->has_source_address)
		c->local = s->source_address;
	c->vrf = dup_nonempty(s->vrf);
	c->multihop = s->ebgp_multihop;
	c->rx_interval_ms = prof->receive_interval_ms;
	c->tx_interval_ms = prof->transmit_interval_ms;
	c->detect_mult = prof->detect_multiplier;
	c->echo_interval_ms = prof->echo_interval_ms;
	c->echo_mode = prof->echo_mode;
	c->passive_mode = prof->passive_mode;
	c->minimum_ttl = prof->minimum_ttl;
}

int announce_bfd(const struct model *m, const struct bgp_plan *bgp, struct bfd_plan *out)
{
	memset(out, 0, sizeof(*out));
	if (!bgp || bgp->nsessions == 0)
		return 0;
	out->v = xcalloc(bgp->nsessions, sizeof(*out->v));
	for (size_t i = 0; i < bgp->nsessions; i++) {
		const struct bgp_session_cfg *s = &bgp->sessions[i].cfg;
		const struct bgppeer *p = model_find_peer(m, s->name);
		if (!p || !p->bfd_profile || !p->bfd)
			continue;
		/* Unnumbered: no address to run BFD with yet (see the header). */
		if (s->interface && !p->has_peer_address)
			continue;
		cfg_from(&out->v[out->n++], s, p->bfd);
	}
	if (out->n == 0) {
		free(out->v);
		out->v = NULL;
	}
	return 0;
}

void bfd_plan_free(struct bfd_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].profile);
		free(p->v[i].interface);
		free(p->v[i].vrf);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}
