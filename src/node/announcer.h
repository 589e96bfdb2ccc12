/*
 * The announcing half of a speaker, shared by `ironlb run` and
 * `ironlb speaker`: from a validated model and each Service's addresses,
 * plan Layer 2 and BGP for this node (announce.h, bgp_plan.h) and make it
 * so: the Layer 2 engine owns exactly the addresses elected to this node,
 * the BGP speaker holds the planned sessions and routes (both diffed, so a
 * change costs only what changed), ownership changes are logged, and
 * metallb_speaker_announced says what this node announces.
 */
#ifndef IRONLB_DAEMON_ANNOUNCER_H
#define IRONLB_DAEMON_ANNOUNCER_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

#include "announce/announce.h"
#include "announce/bgp_plan.h"
#include "bfd/bfd_pkt.h"
#include "model/model.h"

struct ev_loop;
struct metrics_registry;
struct announcer;
struct bfd;
struct bgp_speaker;
struct jw;

struct announcer_opts {
	const char *node_name;
	bool no_l2;                  /* plan Layer 2, announce nothing */
	bool no_bgp;                 /* hold no BGP sessions */
	bool install_vips;
	const char *vip_device;      /* default "lo" */
	unsigned bgp_port;           /* listen port (default 179; 0 = do not listen) */
	bool bgp_port_set;
	double gratuitous_interval;  /* seconds; 0: no periodic gratuitous rounds */
};

/* A --gratuitous-interval value: "0" (off), or a number (fraction
 * allowed) with one unit ms, s, m or h, at least 100ms (shorter floods the
 * link for nothing: switch tables age out in minutes); -1 otherwise. */
int announcer_parse_interval(const char *s, double *out);

struct announcer *announcer_new(struct ev_loop *loop, struct metrics_registry *reg,
				const struct announcer_opts *o);
/* Start the Layer 2 engine (unless no_l2); -1 with a logged reason. */
int announcer_start(struct announcer *a);
/* Plan everything again and announce (svcs: Services of m with their
 * addresses): after a change to configuration objects or Nodes, or when
 * the model's arrays moved. */
void announcer_apply(struct announcer *a, const struct model *m, const struct announce_svc *svcs,
		     size_t nsvcs);
/* Plan again only the Services named (announce.h: struct announce_change;
 * the model must be the one the last announcer_apply() saw, changed only
 * in Services and EndpointSlices since) and announce the difference. */
void announcer_update(struct announcer *a, const struct model *m,
		      const struct announce_change *changes, size_t nchanges);
/* Layer 2 placement from claims from now on (announce.h: sticky and
 * balanced; NULL: MetalLB's hash).  The array is borrowed until the next
 * call; it takes effect at the next announcer_apply(). */
void announcer_set_claims(struct announcer *a, const struct announce_claims *claims);
/* How the BGP series of metallb_speaker_announced, made when the metrics
 * are read, find a Service's addresses by "ns/name" (without it they are
 * not made). */
void announcer_addrs_source(struct announcer *a,
			    size_t (*fn)(void *arg, const char *key, struct ip_addr addrs[2]),
			    void *arg);
const struct l2_plan *announcer_l2_plan(const struct announcer *a);
const struct bgp_plan *announcer_bgp_plan(const struct announcer *a);
/* The BGP routes of Service key ("ns/name") in the plan, with the index
 * of their session (bgp_planner_service_sessions(): found by the
 * Service, not by a scan of the routes). */
void announcer_bgp_service_routes(const struct announcer *a, const char *key,
				  void (*fn)(void *arg, size_t session, const struct bgp_route *r),
				  void *arg);
/* The interfaces the Layer 2 engine answers for addr on (at most max
 * names); 0 when it does not own it, has no usable interface for it, or
 * runs without Layer 2. */
size_t announcer_interfaces(const struct announcer *a, const struct ip_addr *addr,
			    char names[][16], size_t max);
/* BFD: a session per BGP session whose BGPPeer has a bfdProfile
 * (announce/bfd_plan.h), converged on every announcer_apply().  BFD Up ->
 * Down holds that BGP session down until BFD is Up again (RFC 5882 §4.3;
 * not when the peer said AdminDown, §3.2).  fn is told every state change
 * after that (bfd.h: bfd_state_fn), e.g. to post an Event. */
typedef void (*announcer_bfd_fn)(void *arg, const char *name, enum bfd_state from,
				 enum bfd_state to, enum bfd_diag diag, bool peer_admin_down);
void announcer_bfd_listener(struct announcer *a, announcer_bfd_fn fn, void *arg);
/* The BFD sessions (NULL until a plan first had one). */
const struct bfd *announcer_bfd(const struct announcer *a);
/* The BGP speaker (NULL until a plan first had a session). */
const struct bgp_speaker *announcer_bgp_speaker(const struct announcer *a);
/* Writes the members "layer2" (the plan: an entry per address),
 * "l2_engine" (with the engine), "bgp" and "bfd" (bfd.h:
 * bfd_status_write, [] without sessions) into the object w is in: the
 * announcer's part of /status (status/status.h). */
void announcer_status_write(const struct announcer *a, struct jw *w);
/* Withdraw everything (orderly shutdown). */
void announcer_stop(struct announcer *a);
void announcer_free(struct announcer *a);

#endif
