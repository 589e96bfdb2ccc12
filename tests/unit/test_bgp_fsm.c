/*
 * Tests for the BGP state machine table (bgp/bgp_fsm.h): every (state,
 * event) cell of RFC 4271 §8 as chosen for ironlb, written out here a
 * second time, row by row, and compared with the table; then the pure
 * helpers (timer negotiation, backoff, collision resolution, RFC 6608
 * subcodes) by tables of inputs and outputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bgp/bgp_fsm.h"
#include "bgp/bgp_msg.h"

#define S(x) BGP_FSM_##x
#define E(x) BGP_FSM_EV_##x
#define A(x) BGP_FSM_ACT_##x

struct cell_case {
	enum bgp_fsm_state state;
	enum bgp_fsm_event event;
	enum bgp_fsm_action action;
	enum bgp_fsm_state next;
};

static const struct cell_case cells[] = {
	/* Idle */
	{ S(IDLE), E(MANUAL_START), A(CONNECT), S(CONNECT) },
	{ S(IDLE), E(MANUAL_STOP), A(NONE), S(IDLE) },
	{ S(IDLE), E(AUTOMATIC_START), A(CONNECT), S(CONNECT) },
	{ S(IDLE), E(AUTOMATIC_START_PASSIVE), A(START_PASSIVE), S(ACTIVE) },
	{ S(IDLE), E(GRACEFUL_STOP), A(NONE), S(IDLE) },
	{ S(IDLE), E(CONNECT_RETRY_EXPIRES), A(NONE), S(IDLE) },
	{ S(IDLE), E(HOLD_EXPIRES), A(NONE), S(IDLE) },
	{ S(IDLE), E(KEEPALIVE_EXPIRES), A(NONE), S(IDLE) },
	{ S(IDLE), E(TCP_CR_ACKED), A(REFUSE), S(IDLE) },
	{ S(IDLE), E(TCP_CONFIRMED), A(REFUSE), S(IDLE) },
	{ S(IDLE), E(TCP_FAILS), A(NONE), S(IDLE) },
	{ S(IDLE), E(OPEN), A(NONE), S(IDLE) },
	{ S(IDLE), E(HEADER_ERR), A(NONE), S(IDLE) },
	{ S(IDLE), E(OPEN_ERR), A(NONE), S(IDLE) },
	{ S(IDLE), E(OPEN_COLLISION_DUMP), A(NONE), S(IDLE) },
	{ S(IDLE), E(NOTIF_VER_ERR), A(NONE), S(IDLE) },
	{ S(IDLE), E(NOTIF), A(NONE), S(IDLE) },
	{ S(IDLE), E(KEEPALIVE), A(NONE), S(IDLE) },
	{ S(IDLE), E(UPDATE), A(NONE), S(IDLE) },
	{ S(IDLE), E(UPDATE_ERR), A(NONE), S(IDLE) },
	{ S(IDLE), E(ROUTE_REFRESH), A(NONE), S(IDLE) },
	{ S(IDLE), E(ROUTE_REFRESH_ERR), A(NONE), S(IDLE) },
	/* Connect */
	{ S(CONNECT), E(MANUAL_START), A(NONE), S(CONNECT) },
	{ S(CONNECT), E(MANUAL_STOP), A(STOP), S(IDLE) },
	{ S(CONNECT), E(AUTOMATIC_START), A(NONE), S(CONNECT) },
	{ S(CONNECT), E(AUTOMATIC_START_PASSIVE), A(NONE), S(CONNECT) },
	{ S(CONNECT), E(GRACEFUL_STOP), A(STOP), S(IDLE) },
	{ S(CONNECT), E(CONNECT_RETRY_EXPIRES), A(CONNECT_FAILED), S(ACTIVE) },
	{ S(CONNECT), E(HOLD_EXPIRES), A(DROP), S(IDLE) },
	{ S(CONNECT), E(KEEPALIVE_EXPIRES), A(DROP), S(IDLE) },
	{ S(CONNECT), E(TCP_CR_ACKED), A(SEND_OPEN), S(OPENSENT) },
	{ S(CONNECT), E(TCP_CONFIRMED), A(SEND_OPEN), S(OPENSENT) },
	{ S(CONNECT), E(TCP_FAILS), A(CONNECT_FAILED), S(ACTIVE) },
	{ S(CONNECT), E(OPEN), A(DROP), S(IDLE) },
	{ S(CONNECT), E(HEADER_ERR), A(DROP), S(IDLE) },
	{ S(CONNECT), E(OPEN_ERR), A(DROP), S(IDLE) },
	{ S(CONNECT), E(OPEN_COLLISION_DUMP), A(DROP), S(IDLE) },
	{ S(CONNECT), E(NOTIF_VER_ERR), A(DROP), S(IDLE) },
	{ S(CONNECT), E(NOTIF), A(DROP), S(IDLE) },
	{ S(CONNECT), E(KEEPALIVE), A(DROP), S(IDLE) },
	{ S(CONNECT), E(UPDATE), A(DROP), S(IDLE) },
	{ S(CONNECT), E(UPDATE_ERR), A(DROP), S(IDLE) },
	{ S(CONNECT), E(ROUTE_REFRESH), A(DROP), S(IDLE) },
	{ S(CONNECT), E(ROUTE_REFRESH_ERR), A(DROP), S(IDLE) },
	/* Active */
	{ S(ACTIVE), E(MANUAL_START), A(NONE), S(ACTIVE) },
	{ S(ACTIVE), E(MANUAL_STOP), A(STOP), S(IDLE) },
	{ S(ACTIVE), E(AUTOMATIC_START), A(NONE), S(ACTIVE) },
	{ S(ACTIVE), E(AUTOMATIC_START_PASSIVE), A(NONE), S(ACTIVE) },
	{ S(ACTIVE), E(GRACEFUL_STOP), A(STOP), S(IDLE) },
	{ S(ACTIVE), E(CONNECT_RETRY_EXPIRES), A(CONNECT), S(CONNECT) },
	{ S(ACTIVE), E(HOLD_EXPIRES), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(KEEPALIVE_EXPIRES), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(TCP_CR_ACKED), A(SEND_OPEN), S(OPENSENT) },
	{ S(ACTIVE), E(TCP_CONFIRMED), A(SEND_OPEN), S(OPENSENT) },
	{ S(ACTIVE), E(TCP_FAILS), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(OPEN), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(HEADER_ERR), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(OPEN_ERR), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(OPEN_COLLISION_DUMP), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(NOTIF_VER_ERR), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(NOTIF), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(KEEPALIVE), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(UPDATE), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(UPDATE_ERR), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(ROUTE_REFRESH), A(DROP), S(IDLE) },
	{ S(ACTIVE), E(ROUTE_REFRESH_ERR), A(DROP), S(IDLE) },
	/* Opensent */
	{ S(OPENSENT), E(MANUAL_START), A(NONE), S(OPENSENT) },
	{ S(OPENSENT), E(MANUAL_STOP), A(STOP_CEASE), S(IDLE) },
	{ S(OPENSENT), E(AUTOMATIC_START), A(NONE), S(OPENSENT) },
	{ S(OPENSENT), E(AUTOMATIC_START_PASSIVE), A(NONE), S(OPENSENT) },
	{ S(OPENSENT), E(GRACEFUL_STOP), A(STOP_CEASE), S(IDLE) },
	{ S(OPENSENT), E(CONNECT_RETRY_EXPIRES), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENSENT), E(HOLD_EXPIRES), A(NOTIFY_HOLD), S(IDLE) },
	{ S(OPENSENT), E(KEEPALIVE_EXPIRES), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENSENT), E(TCP_CR_ACKED), A(TRACK), S(OPENSENT) },
	{ S(OPENSENT), E(TCP_CONFIRMED), A(TRACK), S(OPENSENT) },
	{ S(OPENSENT), E(TCP_FAILS), A(CONNECT_FAILED), S(ACTIVE) },
	{ S(OPENSENT), E(OPEN), A(OPEN_ACCEPT), S(OPENCONFIRM) },
	{ S(OPENSENT), E(HEADER_ERR), A(NOTIFY_ERR), S(IDLE) },
	{ S(OPENSENT), E(OPEN_ERR), A(NOTIFY_ERR), S(IDLE) },
	{ S(OPENSENT), E(OPEN_COLLISION_DUMP), A(COLLISION_DUMP), S(OPENSENT) },
	{ S(OPENSENT), E(NOTIF_VER_ERR), A(DROP), S(IDLE) },
	{ S(OPENSENT), E(NOTIF), A(DROP), S(IDLE) },
	{ S(OPENSENT), E(KEEPALIVE), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENSENT), E(UPDATE), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENSENT), E(UPDATE_ERR), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENSENT), E(ROUTE_REFRESH), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENSENT), E(ROUTE_REFRESH_ERR), A(NOTIFY_FSM), S(IDLE) },
	/* Openconfirm */
	{ S(OPENCONFIRM), E(MANUAL_START), A(NONE), S(OPENCONFIRM) },
	{ S(OPENCONFIRM), E(MANUAL_STOP), A(STOP_CEASE), S(IDLE) },
	{ S(OPENCONFIRM), E(AUTOMATIC_START), A(NONE), S(OPENCONFIRM) },
	{ S(OPENCONFIRM), E(AUTOMATIC_START_PASSIVE), A(NONE), S(OPENCONFIRM) },
	{ S(OPENCONFIRM), E(GRACEFUL_STOP), A(STOP_CEASE), S(IDLE) },
	{ S(OPENCONFIRM), E(CONNECT_RETRY_EXPIRES), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENCONFIRM), E(HOLD_EXPIRES), A(NOTIFY_HOLD), S(IDLE) },
	{ S(OPENCONFIRM), E(KEEPALIVE_EXPIRES), A(SEND_KEEPALIVE), S(OPENCONFIRM) },
	{ S(OPENCONFIRM), E(TCP_CR_ACKED), A(TRACK), S(OPENCONFIRM) },
	{ S(OPENCONFIRM), E(TCP_CONFIRMED), A(TRACK), S(OPENCONFIRM) },
	{ S(OPENCONFIRM), E(TCP_FAILS), A(DROP), S(IDLE) },
	{ S(OPENCONFIRM), E(OPEN), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENCONFIRM), E(HEADER_ERR), A(NOTIFY_ERR), S(IDLE) },
	{ S(OPENCONFIRM), E(OPEN_ERR), A(NOTIFY_ERR), S(IDLE) },
	{ S(OPENCONFIRM), E(OPEN_COLLISION_DUMP), A(COLLISION_DUMP), S(OPENSENT) },
	{ S(OPENCONFIRM), E(NOTIF_VER_ERR), A(DROP), S(IDLE) },
	{ S(OPENCONFIRM), E(NOTIF), A(DROP), S(IDLE) },
	{ S(OPENCONFIRM), E(KEEPALIVE), A(ESTABLISH), S(ESTABLISHED) },
	{ S(OPENCONFIRM), E(UPDATE), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENCONFIRM), E(UPDATE_ERR), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENCONFIRM), E(ROUTE_REFRESH), A(NOTIFY_FSM), S(IDLE) },
	{ S(OPENCONFIRM), E(ROUTE_REFRESH_ERR), A(NOTIFY_FSM), S(IDLE) },
	/* Established */
	{ S(ESTABLISHED), E(MANUAL_START), A(NONE), S(ESTABLISHED) },
	{ S(ESTABLISHED), E(MANUAL_STOP), A(STOP_CEASE), S(IDLE) },
	{ S(ESTABLISHED), E(AUTOMATIC_START), A(NONE), S(ESTABLISHED) },
	{ S(ESTABLISHED), E(AUTOMATIC_START_PASSIVE), A(NONE), S(ESTABLISHED) },
	{ S(ESTABLISHED), E(GRACEFUL_STOP), A(STOP), S(IDLE) },
	{ S(ESTABLISHED), E(CONNECT_RETRY_EXPIRES), A(NOTIFY_FSM), S(IDLE) },
	{ S(ESTABLISHED), E(HOLD_EXPIRES), A(NOTIFY_HOLD), S(IDLE) },
	{ S(ESTABLISHED), E(KEEPALIVE_EXPIRES), A(SEND_KEEPALIVE), S(ESTABLISHED) },
	{ S(ESTABLISHED), E(TCP_CR_ACKED), A(REFUSE), S(ESTABLISHED) },
	{ S(ESTABLISHED), E(TCP_CONFIRMED), A(REFUSE), S(ESTABLISHED) },
	{ S(ESTABLISHED), E(TCP_FAILS), A(DROP), S(IDLE) },
	{ S(ESTABLISHED), E(OPEN), A(NOTIFY_FSM), S(IDLE) },
	{ S(ESTABLISHED), E(HEADER_ERR), A(NOTIFY_ERR), S(IDLE) },
	{ S(ESTABLISHED), E(OPEN_ERR), A(NOTIFY_FSM), S(IDLE) },
	{ S(ESTABLISHED), E(OPEN_COLLISION_DUMP), A(COLLISION_DUMP), S(IDLE) },
	{ S(ESTABLISHED), E(NOTIF_VER_ERR), A(DROP), S(IDLE) },
	{ S(ESTABLISHED), E(NOTIF), A(DROP), S(IDLE) },
	{ S(ESTABLISHED), E(KEEPALIVE), A(KEEPALIVE_RX), S(ESTABLISHED) },
	{ S(ESTABLISHED), E(UPDATE), A(UPDATE_RX), S(ESTABLISHED) },
	{ S(ESTABLISHED), E(UPDATE_ERR), A(NOTIFY_ERR), S(IDLE) },
	{ S(ESTABLISHED), E(ROUTE_REFRESH), A(ROUTE_REFRESH_RX), S(ESTABLISHED) },
	{ S(ESTABLISHED), E(ROUTE_REFRESH_ERR), A(NOTIFY_ERR), S(IDLE) },
};

static void test_every_cell(void **state)
{
	bool seen[BGP_FSM_STATE_COUNT][BGP_FSM_EVENT_COUNT] = { { false } };
	size_t bad = 0;

	for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
		const struct cell_case *c = &cells[i];
		struct bgp_fsm_cell got = bgp_fsm_lookup(c->state, c->event);

		assert_false(seen[c->state][c->event]);
		seen[c->state][c->event] = true;
		if (got.action != c->action || got.next != c->next) {
			print_error("%s + %s: got %s -> %s, want %s -> %s\n",
				    bgp_fsm_state_name[c->state], bgp_fsm_event_name[c->event],
				    bgp_fsm_action_name[got.action], bgp_fsm_state_name[got.next],
				    bgp_fsm_action_name[c->action], bgp_fsm_state_name[c->next]);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	/* The grid above covers the whole table. */
	for (int s = 0; s < BGP_FSM_STATE_COUNT; s++)
		for (int e = 0; e < BGP_FSM_EVENT_COUNT; e++)
			if (!seen[s][e])
				fail_msg("no expectation for %s + %s", bgp_fsm_state_name[s],
					 bgp_fsm_event_name[e]);
}

static void test_lookup_out_of_range(void **state)
{
	struct bgp_fsm_cell c = bgp_fsm_lookup(BGP_FSM_STATE_COUNT, BGP_FSM_EV_MANUAL_START);

	assert_int_equal(c.action, BGP_FSM_ACT_NONE);
	assert_int_equal(c.next, BGP_FSM_IDLE);
	c = bgp_fsm_lookup(BGP_FSM_ESTABLISHED, BGP_FSM_EVENT_COUNT);
	assert_int_equal(c.action, BGP_FSM_ACT_NONE);
	assert_int_equal(c.next, BGP_FSM_ESTABLISHED);
	c = bgp_fsm_lookup((enum bgp_fsm_state)-1, (enum bgp_fsm_event)-1);
	assert_int_equal(c.action, BGP_FSM_ACT_NONE);
}

static void test_names(void **state)
{
	static const char *const states[] = { "Idle", "Connect", "Active", "OpenSent",
					      "OpenConfirm", "Established" };

	for (int s = 0; s < BGP_FSM_STATE_COUNT; s++)
		assert_string_equal(bgp_fsm_state_name[s], states[s]);
	for (int e = 0; e < BGP_FSM_EVENT_COUNT; e++) {
		assert_non_null(bgp_fsm_event_name[e]);
		for (int k = 0; k < e; k++)
			assert_string_not_equal(bgp_fsm_event_name[e], bgp_fsm_event_name[k]);
	}
	for (int a = 0; a < BGP_FSM_ACTION_COUNT; a++) {
		assert_non_null(bgp_fsm_action_name[a]);
		for (int k = 0; k < a; k++)
			assert_string_not_equal(bgp_fsm_action_name[a], bgp_fsm_action_name[k]);
	}
	assert_string_equal(bgp_fsm_event_name[BGP_FSM_EV_HOLD_EXPIRES], "HoldTimer_Expires");
	assert_string_equal(bgp_fsm_event_name[BGP_FSM_EV_TCP_CR_ACKED], "Tcp_CR_Acked");
}

static void test_action_stops(void **state)
{
	for (int a = 0; a < BGP_FSM_ACTION_COUNT; a++)
		assert_int_equal(bgp_fsm_action_stops((enum bgp_fsm_action)a),
				 a == BGP_FSM_ACT_STOP || a == BGP_FSM_ACT_STOP_CEASE);
}

static void test_error_subcode(void **state)
{
	/* RFC 6608 §4. */
	static const uint8_t want[BGP_FSM_STATE_COUNT] = { 0, 0, 0, 1, 2, 3 };

	for (int s = 0; s < BGP_FSM_STATE_COUNT; s++)
		assert_int_equal(bgp_fsm_error_subcode((enum bgp_fsm_state)s), want[s]);
	assert_int_equal(BGP_ERR_FSM_OPENSENT, 1);
	assert_int_equal(BGP_ERR_FSM_ESTABLISHED, 3);
}

static void test_negotiate_timers(void **state)
{
	static const struct {
		uint16_t local_hold;
		uint32_t local_keepalive;
		uint16_t peer_hold;
		uint16_t hold, keepalive;
	} t[] = {
		{ 90, 30, 90, 90, 30 },
		{ 90, 30, 180, 90, 30 },     /* the smaller hold time */
		{ 180, 60, 9, 9, 3 },        /* a third of the peer's */
		{ 90, 10, 90, 90, 10 },      /* configured keepalive below a third */
		{ 90, 0, 90, 90, 30 },       /* no configured keepalive */
		{ 90, 60, 90, 90, 30 },      /* configured above a third: a third */
		{ 3, 1, 90, 3, 1 },
		{ 3, 0, 3, 3, 1 },
		{ 4, 0, 4, 4, 1 },           /* 4 / 3 rounds down to 1 */
		{ 0, 30, 90, 0, 0 },         /* hold 0: no keepalives */
		{ 90, 30, 0, 0, 0 },
		{ 65535, 0, 65535, 65535, 21845 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bgp_fsm_timers r = bgp_fsm_negotiate_timers(t[i].local_hold,
								   t[i].local_keepalive,
								   t[i].peer_hold);
		if (r.hold_time != t[i].hold || r.keepalive != t[i].keepalive)
			fail_msg("case %zu: hold %u keepalive %u, want %u %u", i, r.hold_time,
				 r.keepalive, t[i].hold, t[i].keepalive);
	}
}

static void test_backoff(void **state)
{
	static const struct {
		unsigned failures;
		double r;
		double want;
	} t[] = {
		{ 1, 0.0, 1.0 },   { 2, 0.0, 2.0 },     { 3, 0.0, 4.0 },   { 7, 0.0, 64.0 },
		{ 8, 0.0, 120.0 }, { 100, 0.0, 120.0 }, { 0, 0.0, 1.0 },   { 1, 0.5, 0.875 },
		{ 8, 0.999, 120.0 * (1 - 0.25 * 0.999) },
		{ 3, 2.0, 4.0 * 0.875 },                /* r out of range: the middle */
		{ 4000000000u, 0.0, 120.0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		double d = bgp_fsm_backoff(t[i].failures, t[i].r);
		if (d < t[i].want - 1e-9 || d > t[i].want + 1e-9)
			fail_msg("case %zu: %g, want %g", i, d, t[i].want);
	}
	for (unsigned f = 1; f < 40; f++)
		for (double r = 0; r < 1; r += 0.125) {
			double d = bgp_fsm_backoff(f, r);
			assert_true(d > 0.74 && d <= BGP_FSM_BACKOFF_MAX);
		}
}

/* A BGPPeer's connectTime caps the delay (after the jitter). */
static void test_retry_delay_cap(void **state)
{
	static const struct {
		unsigned failures;
		double r, cap, want;
	} t[] = {
		{ 8, 0.0, 0.0, 120.0 },  /* no connectTime: MetalLB's 2 minutes */
		{ 8, 0.0, 5.0, 5.0 },    { 8, 0.5, 5.0, 5.0 * 0.875 },
		{ 1, 0.0, 5.0, 1.0 },    { 3, 0.0, 5.0, 4.0 },   { 4, 0.0, 5.0, 5.0 },
		{ 2, 0.0, 1.0, 1.0 },    { 100, 0.0, 300.0, 120.0 },
		{ 8, 7.0, 10.0, 10.0 * 0.875 }, /* r out of range: the middle */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		double d = bgp_fsm_retry_delay(t[i].failures, t[i].r, t[i].cap);
		if (d < t[i].want - 1e-9 || d > t[i].want + 1e-9)
			fail_msg("case %zu: %g, want %g", i, d, t[i].want);
	}
}

static void test_collision(void **state)
{
	static const struct {
		uint32_t local_id, remote_id, local_as, remote_as;
		bool keep_ours;
	} t[] = {
		{ 0x0a000002, 0x0a000001, 65000, 65001, true },
		{ 0x0a000001, 0x0a000002, 65000, 65001, false },
		{ 0xc0000001, 0x0a000001, 1, 2, true },    /* unsigned comparison */
		{ 0x7fffffff, 0x80000000, 1, 2, false },
		{ 0x0a000001, 0x0a000001, 65002, 65001, true },  /* RFC 6286 §2.3 */
		{ 0x0a000001, 0x0a000001, 65001, 65002, false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(bgp_fsm_collision_keep_ours(t[i].local_id, t[i].remote_id,
							     t[i].local_as, t[i].remote_as),
				 t[i].keep_ours);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_cell),
		cmocka_unit_test(test_lookup_out_of_range),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_action_stops),
		cmocka_unit_test(test_error_subcode),
		cmocka_unit_test(test_negotiate_timers),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_retry_delay_cap),
		cmocka_unit_test(test_collision),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
