/*
 * BGP announcement planning (pure): from a validated model, the
 * allocations, and this node's name, compute the BGP sessions this node
 * holds and exactly which prefixes, with which attributes, it announces on
 * each.  The speaker (src/bgp/) diffs this plan against what it has sent.
 *
 * Sessions: every valid BGPPeer whose nodeSelectors select this node (empty
 * = all nodes; the node's labels come from its Node object, none when it
 * has none); a session appears in the plan even when nothing is announced
 * on it.
 *
 * Routes: for each Service address, for each valid BGPAdvertisement that
 * selects the address's pool (ipAddressPools / ipAddressPoolSelectors, both
 * empty = all pools), the Service (serviceSelectors) and this node
 * (nodeSelectors), the prefix is the address masked to aggregationLength
 * (IPv4) or aggregationLengthV6 (IPv6), announced to the advertisement's
 * peers (empty = all sessions of this node) — only to sessions of the
 * prefix's family (the peer address's family), or to both families when
 * the peer sets dualStackAddressFamily.  For externalTrafficPolicy: Local
 * a node announces a Service only when it has a serving endpoint of it;
 * nodes that are excluded or NetworkUnavailable announce nothing.
 * Advertisements reaching the same (session, prefix) merge: communities
 * united (sorted, unique), LOCAL_PREF the highest given (validation refuses
 * real conflicts); LOCAL_PREF is kept only for iBGP sessions.
 */
#ifndef IRONLB_ANNOUNCE_BGP_PLAN_H
#define IRONLB_ANNOUNCE_BGP_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "announce/announce.h"
#include "bgp/bgp_config.h"
#include "model/model.h"
#include "net/ip.h"

/* This node's plan.  Its types (sessions, routes) are the speaker's input
 * and belong to the bgp module (bgp/bgp_config.h). */
int announce_bgp(const struct model *m, const char *node_name, const struct announce_svc *svcs,
		 size_t nsvcs, struct bgp_plan *out);

#endif
