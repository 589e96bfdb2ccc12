/*
 * The BGP-4 finite state machine of RFC 4271 §8 as a table (pure: no
 * sockets, no timers, no clock).
 *
 * FSM[state][event] gives the action the session layer performs and the
 * state it then enters.  The session layer (bgp_session.c) turns what
 * happens on its sockets and timers into events, looks the cell up, runs
 * the action and calls its one change-state function, which starts and
 * stops timers, logs the transition and keeps the counters.
 *
 * Events carry the RFC 4271 §8.1 names and numbers; two are added:
 * ROUTE-REFRESH received (RFC 2918) and a malformed one (RFC 7313 §5), and
 * a ManualStop that keeps the peer's routes (RFC 4724 §4.1: a restarting
 * speaker closes without a NOTIFICATION).  Optional RFC attributes not
 * used here (DelayOpen, CollisionDetectEstablishedState, the separate
 * IdleHoldTimer, passive-only start) have no events.
 *
 * Where this table departs from the RFC text, on purpose:
 *   - Connect: a failed or timed-out connection attempt goes to Active with
 *     the ConnectRetryTimer set to the backoff delay, so that the peer can
 *     still connect to us while we wait (§8.2.2 goes to Idle or redials at
 *     once).
 *   - A received NOTIFICATION closes the connection in every state without
 *     answering it (§6.4: the sender closes right after sending it), where
 *     §8.2.2 OpenSent would answer with an FSM Error.
 *   - OpenCollisionDump is raised only when the tracked second connection
 *     won the collision (§6.8); the session then goes on, in OpenSent, on
 *     that connection, where its OPEN has already been sent.
 *   - A BGPHeaderErr in Established sends the header error of §6.1, not
 *     an FSM Error.
 *   - ROUTE-REFRESH restarts the HoldTimer like UPDATE and KEEPALIVE do.
 */
#ifndef IRONLB_BGP_BGP_FSM_H
#define IRONLB_BGP_BGP_FSM_H

#include <stdbool.h>
#include <stdint.h>

enum bgp_fsm_state {
	BGP_FSM_IDLE,
	BGP_FSM_CONNECT,
	BGP_FSM_ACTIVE,
	BGP_FSM_OPENSENT,
	BGP_FSM_OPENCONFIRM,
	BGP_FSM_ESTABLISHED,
	BGP_FSM_STATE_COUNT,
};

/* RFC 4271 §8.1 event numbers in the comments. */
enum bgp_fsm_event {
	BGP_FSM_EV_MANUAL_START,              /* 1 ManualStart */
	BGP_FSM_EV_MANUAL_STOP,               /* 2 ManualStop */
	BGP_FSM_EV_AUTOMATIC_START,           /* 3 AutomaticStart */
	BGP_FSM_EV_AUTOMATIC_START_PASSIVE,   /* 5 ..._with_PassiveTcpEstablishment */
	BGP_FSM_EV_GRACEFUL_STOP,             /* ManualStop, no NOTIFICATION (RFC 4724) */
	BGP_FSM_EV_CONNECT_RETRY_EXPIRES,     /* 9 ConnectRetryTimer_Expires */
	BGP_FSM_EV_HOLD_EXPIRES,              /* 10 HoldTimer_Expires */
	BGP_FSM_EV_KEEPALIVE_EXPIRES,         /* 11 KeepaliveTimer_Expires */
	BGP_FSM_EV_TCP_CR_ACKED,              /* 16 Tcp_CR_Acked (our connect done) */
	BGP_FSM_EV_TCP_CONFIRMED,             /* 17 TcpConnectionConfirmed (accepted) */
	BGP_FSM_EV_TCP_FAILS,                 /* 18 TcpConnectionFails */
	BGP_FSM_EV_OPEN,                      /* 19 BGPOpen (decoded and accepted) */
	BGP_FSM_EV_HEADER_ERR,                /* 21 BGPHeaderErr */
	BGP_FSM_EV_OPEN_ERR,                  /* 22 BGPOpenMsgErr */
	BGP_FSM_EV_OPEN_COLLISION_DUMP,       /* 23 OpenCollisionDump */
	BGP_FSM_EV_NOTIF_VER_ERR,             /* 24 NotifMsgVerErr */
	BGP_FSM_EV_NOTIF,                     /* 25 NotifMsg */
	BGP_FSM_EV_KEEPALIVE,                 /* 26 KeepAliveMsg */
	BGP_FSM_EV_UPDATE,                    /* 27 UpdateMsg */
	BGP_FSM_EV_UPDATE_ERR,                /* 28 UpdateMsgErr */
	BGP_FSM_EV_ROUTE_REFRESH,             /* RFC 2918 ROUTE-REFRESH */
	BGP_FSM_EV_ROUTE_REFRESH_ERR,         /* RFC 7313 §5 malformed ROUTE-REFRESH */
	BGP_FSM_EVENT_COUNT,
};

enum bgp_fsm_action {
	BGP_FSM_ACT_NONE,          /* the event is ignored */
	/* Start the ConnectRetryTimer with the connect timeout and initiate
	 * a TCP connection (§8.2.2 Idle, Event 1/3; Active, Event 9). */
	BGP_FSM_ACT_CONNECT,
	/* Start the ConnectRetryTimer with the backoff delay and wait for
	 * the peer to connect (§8.2.2 Idle, Event 5). */
	BGP_FSM_ACT_START_PASSIVE,
	/* Stop: drop the connection attempt, stop every timer, zero the
	 * ConnectRetryCounter; no restart.  Nothing was sent yet, or the
	 * peer is to keep our routes (graceful stop). */
	BGP_FSM_ACT_STOP,
	/* Stop as above after sending a Cease NOTIFICATION (subcode chosen
	 * by whoever stops the session). */
	BGP_FSM_ACT_STOP_CEASE,
	/* The connection attempt failed or timed out: drop it, count it, and
	 * start the ConnectRetryTimer with the backoff delay. */
	BGP_FSM_ACT_CONNECT_FAILED,
	/* A TCP connection is up: stop the ConnectRetryTimer, send OPEN, set
	 * the HoldTimer to the large value (§8.2.2: 4 minutes). */
	BGP_FSM_ACT_SEND_OPEN,
	/* A second connection while one is in OpenSent/OpenConfirm: send OPEN
	 * on it too and keep it until its OPEN tells who wins (§6.8). */
	BGP_FSM_ACT_TRACK,
	/* Close the new connection at once (Idle refuses connections, §8.2.2;
	 * a collision with an Established session keeps the old one, §6.8). */
	BGP_FSM_ACT_REFUSE,
	/* The peer's OPEN is acceptable: send KEEPALIVE, set the HoldTimer
	 * and KeepaliveTimer to the negotiated values. */
	BGP_FSM_ACT_OPEN_ACCEPT,
	/* The first KEEPALIVE: restart the HoldTimer; the session is up and
	 * the Adj-RIB-Out goes out. */
	BGP_FSM_ACT_ESTABLISH,
	/* Send KEEPALIVE, restart the KeepaliveTimer. */
	BGP_FSM_ACT_SEND_KEEPALIVE,
	/* Restart the HoldTimer. */
	BGP_FSM_ACT_KEEPALIVE_RX,
	/* Restart the HoldTimer; the UPDATE is applied (here: ignored). */
	BGP_FSM_ACT_UPDATE_RX,
	/* Restart the HoldTimer; resend the Adj-RIB-Out of the family. */
	BGP_FSM_ACT_ROUTE_REFRESH_RX,
	/* Send the NOTIFICATION that the decoder asked for, drop. */
	BGP_FSM_ACT_NOTIFY_ERR,
	/* Send Finite State Machine Error (RFC 6608 subcode of the state),
	 * drop. */
	BGP_FSM_ACT_NOTIFY_FSM,
	/* Send Hold Timer Expired, drop. */
	BGP_FSM_ACT_NOTIFY_HOLD,
	/* Send Cease / Connection Collision Resolution on the connection and
	 * close it; go on with the tracked second connection if there is
	 * one. */
	BGP_FSM_ACT_COLLISION_DUMP,
	/* Drop the connection without a NOTIFICATION (TCP failed, or the
	 * peer sent a NOTIFICATION). */
	BGP_FSM_ACT_DROP,
	BGP_FSM_ACTION_COUNT,
};

struct bgp_fsm_cell {
	enum bgp_fsm_action action;
	enum bgp_fsm_state next;
};

extern const char *const bgp_fsm_state_name[BGP_FSM_STATE_COUNT];
extern const char *const bgp_fsm_event_name[BGP_FSM_EVENT_COUNT];
extern const char *const bgp_fsm_action_name[BGP_FSM_ACTION_COUNT];

/* The cell of (state, event).  Out-of-range arguments give {NONE, state}
 * (or Idle for a bad state). */
struct bgp_fsm_cell bgp_fsm_lookup(enum bgp_fsm_state state, enum bgp_fsm_event event);

/* Whether an action leaves the session stopped (no automatic restart
 * when it reaches Idle). */
bool bgp_fsm_action_stops(enum bgp_fsm_action a);

/* RFC 6608 §4: the FSM Error subcode for an unexpected event in state s
 * (OpenSent 1, OpenConfirm 2, Established 3, else 0 Unspecific). */
uint8_t bgp_fsm_error_subcode(enum bgp_fsm_state s);

/* ------------------------------------------------------------------ */
/* Pure helpers of the session layer, kept here to be tested by tables. */

/* Timers after the OPEN exchange (RFC 4271 §4.2, §10): the hold time is
 * the smaller of ours and the peer's; 0 means no HoldTimer and no
 * KEEPALIVEs.  Otherwise the keepalive interval is a third of it, at most
 * the configured interval (when not 0), at least 1 second. */
struct bgp_fsm_timers {
	uint16_t hold_time;
	uint16_t keepalive;
};
struct bgp_fsm_timers bgp_fsm_negotiate_timers(uint16_t local_hold, uint32_t local_keepalive,
					       uint16_t peer_hold);

/* Connect retry backoff: the delay after `failures` consecutive failed
 * attempts (1 for the first), starting at BGP_FSM_BACKOFF_MIN seconds and
 * doubling up to BGP_FSM_BACKOFF_MAX, scaled by a jitter factor in
 * (0.75, 1] picked from r01 in [0, 1). */
#define BGP_FSM_BACKOFF_MIN 1.0
#define BGP_FSM_BACKOFF_MAX 120.0
double bgp_fsm_backoff(unsigned failures, double r01);
/* The same, at most `cap` seconds when cap > 0: a BGPPeer's connectTime,
 * which MetalLB (FRR's "timers connect") uses as the interval between
 * attempts; unset, MetalLB's cap is 2 minutes, as BGP_FSM_BACKOFF_MAX. */
double bgp_fsm_retry_delay(unsigned failures, double r01, double cap);

/* RFC 4271 §6.8: on a collision, keep the connection initiated by the
 * speaker with the higher BGP Identifier (compared as host-order
 * unsigned integers); with equal identifiers (possible between external
 * peers, RFC 6286 §2.3) the one with the larger AS.  true: keep the one
 * we initiated. */
bool bgp_fsm_collision_keep_ours(uint32_t local_id, uint32_t remote_id, uint32_t local_as,
				 uint32_t remote_as);

#endif
