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
#include "model/model.h"
#include "net/ip.h"

/* A session's parameters, copied from the BGPPeer (the plan does not point
 * into the model). */
struct bgp_session_cfg {
	char *name;                  /* BGPPeer metadata.name */
	uint32_t my_asn;
	uint32_t peer_asn;           /* 0 with dynamic_asn */
	enum dynamic_asn dynamic_asn;
	uint32_t local_asn;          /* 0 = my_asn */
	struct ip_addr peer_address;
	uint16_t peer_port;
	bool has_source_address;
	struct ip_addr source_address;
	bool has_router_id;
	struct ip_addr router_id;
	uint32_t hold_time_s, keepalive_time_s, connect_time_s;
	char *password;              /* resolved MD5 key, NULL for none */
	bool ebgp_multihop;
	char *vrf;                   /* NULL for the default VRF */
	bool graceful_restart;
	bool dual_stack_address_family;
	bool ibgp;
	char *interface;             /* spec.interface (unnumbered), NULL for none */
};

/* true when the two differ in anything that needs the session reset. */
bool bgp_session_cfg_differs(const struct bgp_session_cfg *a, const struct bgp_session_cfg *b);

struct bgp_route {
	struct ip_prefix prefix;
	bool has_local_pref;
	uint32_t local_pref;
	size_t ncommunities;
	struct community_value *communities; /* sorted: standard first, then large */
	size_t nservices;
	char **services;             /* "ns/name" that make this route, sorted */
};

struct bgp_session_plan {
	struct bgp_session_cfg cfg;
	size_t nroutes;
	struct bgp_route *routes;    /* sorted by prefix, unique */
};

struct bgp_plan {
	size_t nsessions;
	struct bgp_session_plan *sessions; /* sorted by name */
};

int announce_bgp(const struct model *m, const char *node_name, const struct announce_svc *svcs,
		 size_t nsvcs, struct bgp_plan *out);
void bgp_plan_free(struct bgp_plan *p);
/* Deep copy (the speaker keeps the plan it was given). */
void bgp_plan_copy(struct bgp_plan *dst, const struct bgp_plan *src);
/* Deep copy of one route, and freeing one (its fields; the struct is
 * zeroed). */
void bgp_route_copy(struct bgp_route *dst, const struct bgp_route *src);
void bgp_route_free(struct bgp_route *r);
/* Route equality (prefix and attributes, not services). */
bool bgp_route_same_attrs(const struct bgp_route *a, const struct bgp_route *b);

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

/* Whether the session carries prefixes of family f: the peer address's
 * family, or both with dualStackAddressFamily or an unnumbered (interface)
 * peer, whose MP-BGP session carries IPv4 and IPv6 alike. */
bool bgp_session_carries(const struct bgp_session_cfg *c, enum ip_family f);
/* Deep copy of one session's parameters (dst overwritten, not freed). */
void bgp_session_cfg_copy(struct bgp_session_cfg *dst, const struct bgp_session_cfg *src);
void bgp_session_cfg_free(struct bgp_session_cfg *c);

#endif
