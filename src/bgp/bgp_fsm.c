/*
 * The RFC 4271 §8 state machine as a table (see bgp_fsm.h).  Each row is
 * one state, written out in full so that every (state, event) pair has a
 * cell someone chose; the unit test walks the same grid.
 */
#include "bgp/bgp_fsm.h"

#include "bgp/bgp_msg.h"

const char *const bgp_fsm_state_name[BGP_FSM_STATE_COUNT] = {
	[BGP_FSM_IDLE] = "Idle",
	[BGP_FSM_CONNECT] = "Connect",
	[BGP_FSM_ACTIVE] = "Active",
	[BGP_FSM_OPENSENT] = "OpenSent",
	[BGP_FSM_OPENCONFIRM] = "OpenConfirm",
	[BGP_FSM_ESTABLISHED] = "Established",
};

const char *const bgp_fsm_event_name[BGP_FSM_EVENT_COUNT] = {
	[BGP_FSM_EV_MANUAL_START] = "ManualStart",
	[BGP_FSM_EV_MANUAL_STOP] = "ManualStop",
	[BGP_FSM_EV_AUTOMATIC_START] = "AutomaticStart",
	[BGP_FSM_EV_AUTOMATIC_START_PASSIVE] = "AutomaticStart_with_PassiveTcpEstablishment",
	[BGP_FSM_EV_GRACEFUL_STOP] = "GracefulStop",
	[BGP_FSM_EV_CONNECT_RETRY_EXPIRES] = "ConnectRetryTimer_Expires",
	[BGP_FSM_EV_HOLD_EXPIRES] = "HoldTimer_Expires",
	[BGP_FSM_EV_KEEPALIVE_EXPIRES] = "KeepaliveTimer_Expires",
	[BGP_FSM_EV_TCP_CR_ACKED] = "Tcp_CR_Acked",
	[BGP_FSM_EV_TCP_CONFIRMED] = "TcpConnectionConfirmed",
	[BGP_FSM_EV_TCP_FAILS] = "TcpConnectionFails",
	[BGP_FSM_EV_OPEN] = "BGPOpen",
	[BGP_FSM_EV_HEADER_ERR] = "BGPHeaderErr",
	[BGP_FSM_EV_OPEN_ERR] = "BGPOpenMsgErr",
	[BGP_FSM_EV_OPEN_COLLISION_DUMP] = "OpenCollisionDump",
	[BGP_FSM_EV_NOTIF_VER_ERR] = "NotifMsgVerErr",
	[BGP_FSM_EV_NOTIF] = "NotifMsg",
	[BGP_FSM_EV_KEEPALIVE] = "KeepAliveMsg",
	[BGP_FSM_EV_UPDATE] = "UpdateMsg",
	[BGP_FSM_EV_UPDATE_ERR] = "UpdateMsgErr",
	[BGP_FSM_EV_ROUTE_REFRESH] = "RouteRefreshMsg",
	[BGP_FSM_EV_ROUTE_REFRESH_ERR] = "RouteRefreshMsgErr",
};

const char *const bgp_fsm_action_name[BGP_FSM_ACTION_COUNT] = {
	[BGP_FSM_ACT_NONE] = "none",
	[BGP_FSM_ACT_CONNECT] = "connect",
	[BGP_FSM_ACT_START_PASSIVE] = "start-passive",
	[BGP_FSM_ACT_STOP] = "stop",
	[BGP_FSM_ACT_STOP_CEASE] = "stop-cease",
	[BGP_FSM_ACT_CONNECT_FAILED] = "connect-failed",
	[BGP_FSM_ACT_SEND_OPEN] = "send-open",
	[BGP_FSM_ACT_TRACK] = "track",
	[BGP_FSM_ACT_REFUSE] = "refuse",
	[BGP_FSM_ACT_OPEN_ACCEPT] = "open-accept",
	[BGP_FSM_ACT_ESTABLISH] = "establish",
	[BGP_FSM_ACT_SEND_KEEPALIVE] = "send-keepalive",
	[BGP_FSM_ACT_KEEPALIVE_RX] = "keepalive-rx",
	[BGP_FSM_ACT_UPDATE_RX] = "update-rx",
	[BGP_FSM_ACT_ROUTE_REFRESH_RX] = "route-refresh-rx",
	[BGP_FSM_ACT_NOTIFY_ERR] = "notify-error",
	[BGP_FSM_ACT_NOTIFY_FSM] = "notify-fsm-error",
	[BGP_FSM_ACT_NOTIFY_HOLD] = "notify-hold-expired",
	[BGP_FSM_ACT_COLLISION_DUMP] = "collision-dump",
	[BGP_FSM_ACT_DROP] = "drop",
};

#define C(a, s) { BGP_FSM_ACT_##a, BGP_FSM_##s }

static const struct bgp_fsm_cell fsm[BGP_FSM_STATE_COUNT][BGP_FSM_EVENT_COUNT] = {
	/* §8.2.2 Idle: only a start leaves it; connections are refused and
	 * everything else is ignored. */
	[BGP_FSM_IDLE] = {
		[BGP_FSM_EV_MANUAL_START] = C(CONNECT, CONNECT),
		[BGP_FSM_EV_MANUAL_STOP] = C(NONE, IDLE),
		[BGP_FSM_EV_AUTOMATIC_START] = C(CONNECT, CONNECT),
		[BGP_FSM_EV_AUTOMATIC_START_PASSIVE] = C(START_PASSIVE, ACTIVE),
		[BGP_FSM_EV_GRACEFUL_STOP] = C(NONE, IDLE),
		[BGP_FSM_EV_CONNECT_RETRY_EXPIRES] = C(NONE, IDLE),
		[BGP_FSM_EV_HOLD_EXPIRES] = C(NONE, IDLE),
		[BGP_FSM_EV_KEEPALIVE_EXPIRES] = C(NONE, IDLE),
		[BGP_FSM_EV_TCP_CR_ACKED] = C(REFUSE, IDLE),
		[BGP_FSM_EV_TCP_CONFIRMED] = C(REFUSE, IDLE),
		[BGP_FSM_EV_TCP_FAILS] = C(NONE, IDLE),
		[BGP_FSM_EV_OPEN] = C(NONE, IDLE),
		[BGP_FSM_EV_HEADER_ERR] = C(NONE, IDLE),
		[BGP_FSM_EV_OPEN_ERR] = C(NONE, IDLE),
		[BGP_FSM_EV_OPEN_COLLISION_DUMP] = C(NONE, IDLE),
		[BGP_FSM_EV_NOTIF_VER_ERR] = C(NONE, IDLE),
		[BGP_FSM_EV_NOTIF] = C(NONE, IDLE),
		[BGP_FSM_EV_KEEPALIVE] = C(NONE, IDLE),
		[BGP_FSM_EV_UPDATE] = C(NONE, IDLE),
		[BGP_FSM_EV_UPDATE_ERR] = C(NONE, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH] = C(NONE, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH_ERR] = C(NONE, IDLE),
	},
	/* §8.2.2 Connect: waiting for our connection attempt. */
	[BGP_FSM_CONNECT] = {
		[BGP_FSM_EV_MANUAL_START] = C(NONE, CONNECT),
		[BGP_FSM_EV_MANUAL_STOP] = C(STOP, IDLE),
		[BGP_FSM_EV_AUTOMATIC_START] = C(NONE, CONNECT),
		[BGP_FSM_EV_AUTOMATIC_START_PASSIVE] = C(NONE, CONNECT),
		[BGP_FSM_EV_GRACEFUL_STOP] = C(STOP, IDLE),
		[BGP_FSM_EV_CONNECT_RETRY_EXPIRES] = C(CONNECT_FAILED, ACTIVE),
		[BGP_FSM_EV_HOLD_EXPIRES] = C(DROP, IDLE),
		[BGP_FSM_EV_KEEPALIVE_EXPIRES] = C(DROP, IDLE),
		[BGP_FSM_EV_TCP_CR_ACKED] = C(SEND_OPEN, OPENSENT),
		[BGP_FSM_EV_TCP_CONFIRMED] = C(SEND_OPEN, OPENSENT),
		[BGP_FSM_EV_TCP_FAILS] = C(CONNECT_FAILED, ACTIVE),
		[BGP_FSM_EV_OPEN] = C(DROP, IDLE),
		[BGP_FSM_EV_HEADER_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_OPEN_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_OPEN_COLLISION_DUMP] = C(DROP, IDLE),
		[BGP_FSM_EV_NOTIF_VER_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_NOTIF] = C(DROP, IDLE),
		[BGP_FSM_EV_KEEPALIVE] = C(DROP, IDLE),
		[BGP_FSM_EV_UPDATE] = C(DROP, IDLE),
		[BGP_FSM_EV_UPDATE_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH] = C(DROP, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH_ERR] = C(DROP, IDLE),
	},
	/* §8.2.2 Active: waiting for the peer to connect, or for the
	 * ConnectRetryTimer to try again. */
	[BGP_FSM_ACTIVE] = {
		[BGP_FSM_EV_MANUAL_START] = C(NONE, ACTIVE),
		[BGP_FSM_EV_MANUAL_STOP] = C(STOP, IDLE),
		[BGP_FSM_EV_AUTOMATIC_START] = C(NONE, ACTIVE),
		[BGP_FSM_EV_AUTOMATIC_START_PASSIVE] = C(NONE, ACTIVE),
		[BGP_FSM_EV_GRACEFUL_STOP] = C(STOP, IDLE),
		[BGP_FSM_EV_CONNECT_RETRY_EXPIRES] = C(CONNECT, CONNECT),
		[BGP_FSM_EV_HOLD_EXPIRES] = C(DROP, IDLE),
		[BGP_FSM_EV_KEEPALIVE_EXPIRES] = C(DROP, IDLE),
		[BGP_FSM_EV_TCP_CR_ACKED] = C(SEND_OPEN, OPENSENT),
		[BGP_FSM_EV_TCP_CONFIRMED] = C(SEND_OPEN, OPENSENT),
		[BGP_FSM_EV_TCP_FAILS] = C(DROP, IDLE),
		[BGP_FSM_EV_OPEN] = C(DROP, IDLE),
		[BGP_FSM_EV_HEADER_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_OPEN_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_OPEN_COLLISION_DUMP] = C(DROP, IDLE),
		[BGP_FSM_EV_NOTIF_VER_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_NOTIF] = C(DROP, IDLE),
		[BGP_FSM_EV_KEEPALIVE] = C(DROP, IDLE),
		[BGP_FSM_EV_UPDATE] = C(DROP, IDLE),
		[BGP_FSM_EV_UPDATE_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH] = C(DROP, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH_ERR] = C(DROP, IDLE),
	},
	/* §8.2.2 OpenSent: our OPEN is out, the peer's is awaited. */
	[BGP_FSM_OPENSENT] = {
		[BGP_FSM_EV_MANUAL_START] = C(NONE, OPENSENT),
		[BGP_FSM_EV_MANUAL_STOP] = C(STOP_CEASE, IDLE),
		[BGP_FSM_EV_AUTOMATIC_START] = C(NONE, OPENSENT),
		[BGP_FSM_EV_AUTOMATIC_START_PASSIVE] = C(NONE, OPENSENT),
		[BGP_FSM_EV_GRACEFUL_STOP] = C(STOP_CEASE, IDLE),
		[BGP_FSM_EV_CONNECT_RETRY_EXPIRES] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_HOLD_EXPIRES] = C(NOTIFY_HOLD, IDLE),
		[BGP_FSM_EV_KEEPALIVE_EXPIRES] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_TCP_CR_ACKED] = C(TRACK, OPENSENT),
		[BGP_FSM_EV_TCP_CONFIRMED] = C(TRACK, OPENSENT),
		[BGP_FSM_EV_TCP_FAILS] = C(CONNECT_FAILED, ACTIVE),
		[BGP_FSM_EV_OPEN] = C(OPEN_ACCEPT, OPENCONFIRM),
		[BGP_FSM_EV_HEADER_ERR] = C(NOTIFY_ERR, IDLE),
		[BGP_FSM_EV_OPEN_ERR] = C(NOTIFY_ERR, IDLE),
		[BGP_FSM_EV_OPEN_COLLISION_DUMP] = C(COLLISION_DUMP, OPENSENT),
		[BGP_FSM_EV_NOTIF_VER_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_NOTIF] = C(DROP, IDLE),
		[BGP_FSM_EV_KEEPALIVE] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_UPDATE] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_UPDATE_ERR] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH_ERR] = C(NOTIFY_FSM, IDLE),
	},
	/* §8.2.2 OpenConfirm: OPENs exchanged, the first KEEPALIVE awaited. */
	[BGP_FSM_OPENCONFIRM] = {
		[BGP_FSM_EV_MANUAL_START] = C(NONE, OPENCONFIRM),
		[BGP_FSM_EV_MANUAL_STOP] = C(STOP_CEASE, IDLE),
		[BGP_FSM_EV_AUTOMATIC_START] = C(NONE, OPENCONFIRM),
		[BGP_FSM_EV_AUTOMATIC_START_PASSIVE] = C(NONE, OPENCONFIRM),
		[BGP_FSM_EV_GRACEFUL_STOP] = C(STOP_CEASE, IDLE),
		[BGP_FSM_EV_CONNECT_RETRY_EXPIRES] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_HOLD_EXPIRES] = C(NOTIFY_HOLD, IDLE),
		[BGP_FSM_EV_KEEPALIVE_EXPIRES] = C(SEND_KEEPALIVE, OPENCONFIRM),
		[BGP_FSM_EV_TCP_CR_ACKED] = C(TRACK, OPENCONFIRM),
		[BGP_FSM_EV_TCP_CONFIRMED] = C(TRACK, OPENCONFIRM),
		[BGP_FSM_EV_TCP_FAILS] = C(DROP, IDLE),
		[BGP_FSM_EV_OPEN] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_HEADER_ERR] = C(NOTIFY_ERR, IDLE),
		[BGP_FSM_EV_OPEN_ERR] = C(NOTIFY_ERR, IDLE),
		[BGP_FSM_EV_OPEN_COLLISION_DUMP] = C(COLLISION_DUMP, OPENSENT),
		[BGP_FSM_EV_NOTIF_VER_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_NOTIF] = C(DROP, IDLE),
		[BGP_FSM_EV_KEEPALIVE] = C(ESTABLISH, ESTABLISHED),
		[BGP_FSM_EV_UPDATE] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_UPDATE_ERR] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH_ERR] = C(NOTIFY_FSM, IDLE),
	},
	/* §8.2.2 Established. */
	[BGP_FSM_ESTABLISHED] = {
		[BGP_FSM_EV_MANUAL_START] = C(NONE, ESTABLISHED),
		[BGP_FSM_EV_MANUAL_STOP] = C(STOP_CEASE, IDLE),
		[BGP_FSM_EV_AUTOMATIC_START] = C(NONE, ESTABLISHED),
		[BGP_FSM_EV_AUTOMATIC_START_PASSIVE] = C(NONE, ESTABLISHED),
		[BGP_FSM_EV_GRACEFUL_STOP] = C(STOP, IDLE),
		[BGP_FSM_EV_CONNECT_RETRY_EXPIRES] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_HOLD_EXPIRES] = C(NOTIFY_HOLD, IDLE),
		[BGP_FSM_EV_KEEPALIVE_EXPIRES] = C(SEND_KEEPALIVE, ESTABLISHED),
		[BGP_FSM_EV_TCP_CR_ACKED] = C(REFUSE, ESTABLISHED),
		[BGP_FSM_EV_TCP_CONFIRMED] = C(REFUSE, ESTABLISHED),
		[BGP_FSM_EV_TCP_FAILS] = C(DROP, IDLE),
		[BGP_FSM_EV_OPEN] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_HEADER_ERR] = C(NOTIFY_ERR, IDLE),
		[BGP_FSM_EV_OPEN_ERR] = C(NOTIFY_FSM, IDLE),
		[BGP_FSM_EV_OPEN_COLLISION_DUMP] = C(COLLISION_DUMP, IDLE),
		[BGP_FSM_EV_NOTIF_VER_ERR] = C(DROP, IDLE),
		[BGP_FSM_EV_NOTIF] = C(DROP, IDLE),
		[BGP_FSM_EV_KEEPALIVE] = C(KEEPALIVE_RX, ESTABLISHED),
		[BGP_FSM_EV_UPDATE] = C(UPDATE_RX, ESTABLISHED),
		[BGP_FSM_EV_UPDATE_ERR] = C(NOTIFY_ERR, IDLE),
		[BGP_FSM_EV_ROUTE_REFRESH] = C(ROUTE_REFRESH_RX, ESTABLISHED),
		[BGP_FSM_EV_ROUTE_REFRESH_ERR] = C(NOTIFY_ERR, IDLE),
	},
};

#undef C

struct bgp_fsm_cell bgp_fsm_lookup(enum bgp_fsm_state state, enum bgp_fsm_event event)
{
	struct bgp_fsm_cell none = { BGP_FSM_ACT_NONE, state };

	if ((unsigned)state >= BGP_FSM_STATE_COUNT) {
		none.next = BGP_FSM_IDLE;
		return none;
	}
	if ((unsigned)event >= BGP_FSM_EVENT_COUNT)
		return none;
	return fsm[state][event];
}

bool bgp_fsm_action_stops(enum bgp_fsm_action a)
{
	return a == BGP_FSM_ACT_STOP || a == BGP_FSM_ACT_STOP_CEASE;
}

uint8_t bgp_fsm_error_subcode(enum bgp_fsm_state s)
{
	/* RFC 6608 §4. */
	switch (s) {
	case BGP_FSM_OPENSENT:
		return BGP_ERR_FSM_OPENSENT;
	case BGP_FSM_OPENCONFIRM:
		return BGP_ERR_FSM_OPENCONFIRM;
	case BGP_FSM_ESTABLISHED:
		return BGP_ERR_FSM_ESTABLISHED;
	default:
		return BGP_ERR_FSM_UNSPECIFIC;
	}
}

struct bgp_fsm_timers bgp_fsm_negotiate_timers(uint16_t local_hold, uint32_t local_keepalive,
					       uint16_t peer_hold)
{
	struct bgp_fsm_timers t;

	/* RFC 4271 §4.2: the smaller of the two; 0 on either side turns
	 * the HoldTimer and KEEPALIVEs off. */
	t.hold_time = local_hold < peer_hold ? local_hold : peer_hold;
	t.keepalive = 0;
	if (t.hold_time == 0)
		return t;
	/* RFC 4271 §10: one third of the hold time is suggested; a smaller
	 * configured interval is honoured. */
	t.keepalive = t.hold_time / 3;
	if (local_keepalive && local_keepalive < t.keepalive)
		t.keepalive = (uint16_t)local_keepalive;
	if (t.keepalive == 0)
		t.keepalive = 1;
	return t;
}

double bgp_fsm_backoff(unsigned failures, double r01)
{
	double d = BGP_FSM_BACKOFF_MIN;

	for (unsigned i = 1; i < failures && d < BGP_FSM_BACKOFF_MAX; i++)
		d *= 2;
	if (d > BGP_FSM_BACKOFF_MAX)
		d = BGP_FSM_BACKOFF_MAX;
	/* Jitter only shortens the delay, so that speakers started together
	 * drift apart and no delay exceeds the maximum. */
	if (!(r01 >= 0.0 && r01 < 1.0))
		r01 = 0.5;
	return d * (1.0 - 0.25 * r01);
}

double bgp_fsm_retry_delay(unsigned failures, double r01, double cap)
{
	double d = bgp_fsm_backoff(failures, r01);

	/* Capped after the jitter, so that a short connectTime is kept to and
	 * the jitter still spreads the attempts below it. */
	if (cap > 0 && d > cap) {
		if (!(r01 >= 0.0 && r01 < 1.0))
			r01 = 0.5;
		d = cap * (1.0 - 0.25 * r01);
	}
	return d;
}

bool bgp_fsm_collision_keep_ours(uint32_t local_id, uint32_t remote_id, uint32_t local_as,
				 uint32_t remote_as)
{
	/* RFC 4271 §6.8: the connection initiated by the speaker with the
	 * higher BGP Identifier survives; RFC 6286 §2.3: on equal
	 * identifiers, the speaker with the larger AS. */
	if (local_id != remote_id)
		return local_id > remote_id;
	return local_as > remote_as;
}
