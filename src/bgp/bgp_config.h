/*
 * What the BGP speaker is told to do: the sessions this node holds and the
 * routes it announces on each, with their attributes.  The bgp module owns
 * these types; the planner (announce/bgp_plan.h) produces them from the
 * model, and bgp_speaker_set() diffs them against what was sent.
 *
 * A plan is plain data: it does not point into the model.  A plan from
 * announce_bgp() or bgp_plan_copy() owns every string and array in it
 * (bgp_plan_free); the incremental planner's plan is the planner's (see
 * struct bgp_route).
 */
#ifndef IRONLB_BGP_BGP_CONFIG_H
#define IRONLB_BGP_BGP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"   /* enum dynamic_asn, struct community_value */
#include "net/ip.h"

/* A session's parameters, copied from the BGPPeer. */
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
	/* connectTime was written: besides the connect timeout it caps the
	 * delay between dial attempts (BGP_FSM_BACKOFF_MAX otherwise). */
	bool has_connect_time;
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

/* A prefix in 18 bytes (struct ip_prefix takes 48): the address in network
 * byte order, so that memcmp() is numeric order.  For what is held per
 * route: a plan's routes, the speaker's Adj-RIB-Out, the planner's
 * records. */
struct bgp_prefix {
	uint8_t addr[16];
	uint8_t family;              /* enum ip_family */
	uint8_t len;
};

struct bgp_prefix bgp_prefix_pack(const struct ip_prefix *p);
struct ip_prefix bgp_prefix_unpack(const struct bgp_prefix *p);
/* The order of ip_cmp() then length: family, address, length. */
int bgp_prefix_cmp(const struct bgp_prefix *a, const struct bgp_prefix *b);

/* A route: 48 bytes.  In a plan from announce_bgp() (or bgp_plan_copy())
 * the route owns its arrays: communities, and services as one allocation
 * of the pointers and the names (bgp_route_services(); bgp_route_free()
 * frees both).  In the incremental planner's plan (bgp_planner_plan())
 * they are the planner's and may be shared: a route of one Service points
 * at the planner's copy of its name, a route of one advertisement at that
 * advertisement's communities; read it, never free it. */
struct bgp_route {
	struct bgp_prefix prefix;
	bool has_local_pref;
	uint32_t local_pref;
	uint32_t ncommunities;
	uint32_t nservices;
	struct community_value *communities; /* sorted: standard first, then large */
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

/* One (session, prefix) of a plan whose route may differ from the plan
 * before (built again, added or gone): what the incremental planner
 * reports after an update (bgp_planner_changed()), so that the speaker
 * compares just those routes with what it has sent
 * (bgp_speaker_update()).  session indexes the plan's sessions. */
struct bgp_route_change {
	uint32_t session;
	struct bgp_prefix prefix;
};

void bgp_plan_free(struct bgp_plan *p);
/* Deep copy (the speaker keeps the plan it was given). */
void bgp_plan_copy(struct bgp_plan *dst, const struct bgp_plan *src);
/* Deep copy of one route, and freeing one (its fields; the struct is
 * zeroed). */
void bgp_route_copy(struct bgp_route *dst, const struct bgp_route *src);
void bgp_route_free(struct bgp_route *r);
/* The services array of a route: v[0..n) copied into one allocation
 * (the pointers, then the names); NULL when n is 0. */
char **bgp_route_services(const char *const *v, size_t n);
/* Route equality (prefix and attributes, not services). */
bool bgp_route_same_attrs(const struct bgp_route *a, const struct bgp_route *b);

/* Whether the session carries prefixes of family f: the peer address's
 * family, or both with dualStackAddressFamily or an unnumbered (interface)
 * peer, whose MP-BGP session carries IPv4 and IPv6 alike. */
bool bgp_session_carries(const struct bgp_session_cfg *c, enum ip_family f);
/* Deep copy of one session's parameters (dst overwritten, not freed). */
void bgp_session_cfg_copy(struct bgp_session_cfg *dst, const struct bgp_session_cfg *src);
void bgp_session_cfg_free(struct bgp_session_cfg *c);

#endif
