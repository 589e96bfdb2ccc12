/*
 * BFD session planning (pure): which BFD sessions this node runs, one per
 * BGP session of its plan whose BGPPeer names a BFDProfile (spec.bfdProfile,
 * resolved by model_validate), with the profile's timers and flags.  The
 * BFD module (bfd/bfd.h) owns the session type and converges to this list
 * with bfd_set().
 *
 * From each session: the peer address, the source address when the
 * BGPPeer sets one, the VRF, and the hop mode (ebgpMultiHop: RFC 5883
 * multihop, else RFC 5881 single hop).  An unnumbered peer (spec.interface
 * without a peerAddress) gets no BFD session: its address is only learnt
 * by BGP on the link, and the plan is made before that.
 */
#ifndef IRONLB_ANNOUNCE_BFD_PLAN_H
#define IRONLB_ANNOUNCE_BFD_PLAN_H

#include <stddef.h>

#include "bfd/bfd.h"
#include "bgp/bgp_config.h"
#include "model/model.h"

struct bfd_plan {
	size_t n;
	struct bfd_session_cfg *v;   /* sorted by name (the BGP plan's order) */
};

/* The BFD sessions of bgp (this node's BGP plan from the same model):
 * every session whose BGPPeer in m has a resolved BFD profile.  out is
 * overwritten (not freed first).  Returns 0. */
int announce_bfd(const struct model *m, const struct bgp_plan *bgp, struct bfd_plan *out);
/* Frees what announce_bfd() allocated; out is zeroed. */
void bfd_plan_free(struct bfd_plan *p);

#endif
