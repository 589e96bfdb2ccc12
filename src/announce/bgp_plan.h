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

/*
 * Incremental BGP planning for one node: the plan lives between changes
 * and each change re-plans only the Services it names.
 *
 * The planner keeps every (session, prefix, Service, advertisement)
 * record, grouped by (session, prefix).  A route depends on its group
 * only, so an update takes a changed Service's records out of their
 * groups, plans the Service again, files its new records, and rebuilds
 * just the routes of the groups it touched: an
 * aggregated prefix shared by many Services is rebuilt from its group
 * (O(k log k) for k records), withdrawn when its last Service leaves, and
 * never re-planned because another Service under it changed.
 *   - bgp_planner_update(): Services whose allocation, labels or
 *     EndpointSlices changed, or that were deleted.
 *   - bgp_planner_reset(): after a change to BGPPeers, BGPAdvertisements,
 *     IPAddressPools, Communities, Secrets (passwords), BFD profiles or the
 *     local Node (sessions, reach and attributes of every route may move),
 *     and whenever the model's arrays of those kinds may have moved (the
 *     planner keeps pointers into them).  Costs what announce_bgp() costs.
 * After any sequence of calls the plan equals announce_bgp() over the same
 * model and allocations.
 */
struct bgp_planner;

struct bgp_planner *bgp_planner_new(const char *node_name);
void bgp_planner_free(struct bgp_planner *p);
void bgp_planner_reset(struct bgp_planner *p, const struct model *m,
		       const struct announce_svc *svcs, size_t nsvcs);
void bgp_planner_update(struct bgp_planner *p, const struct model *m,
			const struct announce_change *changes, size_t nchanges);
/* The current plan; valid until the next call. */
const struct bgp_plan *bgp_planner_plan(const struct bgp_planner *p);
/* The (session, prefix) pairs the last bgp_planner_update() touched:
 * every route it built again, added or withdrew, each once; none after
 * bgp_planner_reset() (everything may have moved).  Valid until the next
 * call. */
size_t bgp_planner_changed(const struct bgp_planner *p, const struct bgp_route_change **out);
/* The routes of the current plan that Service key ("ns/name") is part
 * of: fn once per (session, route) record of it (a route reached by two
 * of its advertisements comes twice).  O(its records x log routes). */
void bgp_planner_service_routes(const struct bgp_planner *p, const char *key,
				void (*fn)(void *arg, const struct bgp_route *r), void *arg);

/* The same, with the index of the route's session in the plan: fn once
 * per (session, route) record of the Service, as above. */
void bgp_planner_service_sessions(const struct bgp_planner *p, const char *key,
				  void (*fn)(void *arg, size_t session, const struct bgp_route *r),
				  void *arg);

/* Whether the session carries prefixes of family f: the peer address's
 * family, or both with dualStackAddressFamily or an unnumbered (interface)
 * peer, whose MP-BGP session carries IPv4 and IPv6 alike. */
bool bgp_session_carries(const struct bgp_session_cfg *c, enum ip_family f);
/* Deep copy of one session's parameters (dst overwritten, not freed). */
void bgp_session_cfg_copy(struct bgp_session_cfg *dst, const struct bgp_session_cfg *src);
void bgp_session_cfg_free(struct bgp_session_cfg *c);

#endif
