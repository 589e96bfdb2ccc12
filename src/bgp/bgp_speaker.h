/*
 * The BGP speaker (I/O): holds the sessions of a bgp_plan and keeps each
 * peer's Adj-RIB-Out equal to the plan's routes for it.
 *
 * bgp_speaker_set() takes a new plan and diffs it against the current one:
 *   - a session that appears is created (connect with connectTime timeout
 *     and exponential backoff, and accept from its peer address);
 *   - a session that disappears is closed with a Cease / Peer
 *     De-configured NOTIFICATION (RFC 4486);
 *   - a session whose parameters changed (bgp_session_cfg_differs) is
 *     reset with Cease / Other Configuration Change, and only that one;
 *   - for every other session, only the routes that differ are sent: new or
 *     changed routes as announcements (packed, many prefixes per UPDATE),
 *     removed ones as withdrawals.  A configuration change that only
 *     touches announcements never resets a session.
 *
 * Layers: bgp_msg (wire codec, pure), bgp_fsm (the RFC 4271 state machine
 * as a state x event table, pure), bgp_session (sockets, timers, MD5,
 * TTL), bgp_speaker (sessions, Adj-RIB-Out, plan diffs).
 *
 * Metrics (MetalLB's names, label peer = "address:port"):
 * metallb_bgp_session_up, metallb_bgp_announced_prefixes_total,
 * metallb_bgp_pending_prefixes_total, metallb_bgp_updates_total,
 * metallb_bgp_opens_sent, metallb_bgp_opens_received,
 * metallb_bgp_notifications_sent, metallb_bgp_keepalives_sent,
 * metallb_bgp_keepalives_received, metallb_bgp_updates_total_received,
 * metallb_bgp_route_refresh_sent, metallb_bgp_total_sent,
 * metallb_bgp_total_received.
 */
#ifndef IRONLB_BGP_BGP_SPEAKER_H
#define IRONLB_BGP_BGP_SPEAKER_H

#include <jansson.h>

#include <stdbool.h>
#include <stdint.h>

#include "bgp/bgp_config.h"

struct ev_loop;
struct metrics_registry;
struct bgp_speaker;
struct jw;

struct bgp_speaker_opts {
	uint16_t listen_port;        /* default 179; 0 = do not listen */
	bool no_listen;
	const char *node_name;       /* for logs */
	/* Router ID when a session has none: a stable IPv4 address of this
	 * host (the lowest global IPv4 on an up interface), else derived from
	 * a hash of the node name. */
	bool listen_any_port;        /* listen on a port the kernel picks
				      * (tests; see bgp_speaker_listen_port) */
};

struct bgp_speaker *bgp_speaker_new(struct ev_loop *loop, struct metrics_registry *reg,
				    const struct bgp_speaker_opts *opts);
/* Start listening (if enabled).  -1 with a logged reason. */
int bgp_speaker_start(struct bgp_speaker *sp);
/* Converge to plan.  The plan is borrowed, not copied: it must stay valid
 * and unchanged until the next bgp_speaker_set() or bgp_speaker_free()
 * (the speaker reads it when a session comes up and for the status).  Its
 * owner may free or change it once it has called here again, or replace
 * it and call here at once, with nothing in between (the event loop does
 * not run in between). */
void bgp_speaker_set(struct bgp_speaker *sp, const struct bgp_plan *plan);
/* Converge to plan when only the routes ch[0..nch) may differ from the
 * plan of the last call (the incremental planner's changes,
 * bgp_planner_changed()): just those are compared and sent.  A plan
 * whose sessions differ from the current ones is a bgp_speaker_set().
 * The plan is borrowed as there. */
void bgp_speaker_update(struct bgp_speaker *sp, const struct bgp_plan *plan,
			const struct bgp_route_change *ch, size_t nch);
/* What the last bgp_speaker_set() or bgp_speaker_update() did (/status):
 * whether it compared the whole plan, and how many routes it compared
 * with the Adj-RIB-Outs (sessions not Established compare none); and how
 * many of each kind of call there were. */
struct bgp_speaker_work {
	bool whole;
	size_t compared;
	uint64_t whole_syncs, partial_syncs;
};
void bgp_speaker_last_work(const struct bgp_speaker *sp, struct bgp_speaker_work *out);
/* Stop: sessions with graceful restart negotiated are closed without a
 * NOTIFICATION so the peer keeps the routes (RFC 4724 helper mode); the
 * others get Cease / Administrative Shutdown. */
void bgp_speaker_stop(struct bgp_speaker *sp);
void bgp_speaker_free(struct bgp_speaker *sp);

/* For /status: per session its name, peer, state, uptime, negotiated
 * capabilities and hold time, last error, counters, and the routes
 * announced with their attributes, and whether BFD holds it down
 * ("bfd_held"), written as one object by w.
 * bgp_speaker_status_json() is the same as a new jansson object (for
 * tests; /status streams it). */
void bgp_speaker_status_write(const struct bgp_speaker *sp, struct jw *w);
json_t *bgp_speaker_status_json(const struct bgp_speaker *sp);

/* Coupling with BFD (RFC 5882 §4.3).  held = true: BFD declared the path
 * to session `name`'s peer down, so the session is torn down at once with
 * Cease / BFD Down (RFC 9384; no graceful restart: the peer drops our
 * routes) and kept Idle: no connection is made, and one from the peer is
 * refused.  held = false (BFD Up again): the session starts again.  The
 * hold survives plan changes of that session; it ends with the session.
 * Logged; the status shows "bfd_held".  -1 when there is no such
 * session. */
int bgp_speaker_bfd_hold(struct bgp_speaker *sp, const char *name, bool held,
			 const char *reason);
bool bgp_speaker_bfd_held(const struct bgp_speaker *sp, const char *name);
/* The RFC 4271 state of session `name` ("Idle", ..., "Established"),
 * NULL when there is no such session. */
const char *bgp_speaker_session_state(const struct bgp_speaker *sp, const char *name);

/* The port listened on (0 when not listening). */
uint16_t bgp_speaker_listen_port(const struct bgp_speaker *sp);
/* The router ID of sessions without one (host order). */
uint32_t bgp_speaker_router_id(const struct bgp_speaker *sp);
/* How that default is chosen: the lowest IPv4 address on an up,
 * non-loopback interface that is not in 0/8, 127/8 or 169.254/16; on a
 * host without one, the 32-bit FNV-1a hash of the node name (1 if that is
 * 0), the same on every start. */
uint32_t bgp_speaker_default_router_id(const char *node_name);

#endif
