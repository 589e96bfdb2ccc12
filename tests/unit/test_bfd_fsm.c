/*
 * Tests for the BFD state machine table and timer arithmetic
 * (bfd/bfd_fsm.h): every cell of the state x event table against RFC 5880
 * §6.2 / §6.8.6, timer negotiation (§6.8.2-§6.8.4), the Poll Sequence
 * rules of §6.8.3 and the jitter bounds of §6.8.7.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bfd/bfd_fsm.h"

#define AD BFD_STATE_ADMIN_DOWN
#define DN BFD_STATE_DOWN
#define IN BFD_STATE_INIT
#define UP BFD_STATE_UP
#define K BFD_FSM_DIAG_KEEP

struct cell_case {
	enum bfd_state state;
	enum bfd_fsm_event ev;
	enum bfd_state next;
	int diag;
	bool discard;
};

/* All 32 cells, written out from the RFC rather than from the table. */
static const struct cell_case cells[] = {
	/* AdminDown: received packets are discarded (§6.8.6); only admin up
	 * leaves it, to Down. */
	{ AD, BFD_FSM_EV_RX_ADMIN_DOWN, AD, K, true },
	{ AD, BFD_FSM_EV_RX_DOWN, AD, K, true },
	{ AD, BFD_FSM_EV_RX_INIT, AD, K, true },
	{ AD, BFD_FSM_EV_RX_UP, AD, K, true },
	{ AD, BFD_FSM_EV_TIMER_EXPIRED, AD, K, false },
	{ AD, BFD_FSM_EV_ECHO_EXPIRED, AD, K, false },
	{ AD, BFD_FSM_EV_ADMIN_UP, DN, BFD_DIAG_NONE, false },
	{ AD, BFD_FSM_EV_ADMIN_DOWN, AD, K, false },
	/* Down */
	{ DN, BFD_FSM_EV_RX_ADMIN_DOWN, DN, K, false },
	{ DN, BFD_FSM_EV_RX_DOWN, IN, K, false },
	{ DN, BFD_FSM_EV_RX_INIT, UP, BFD_DIAG_NONE, false },
	{ DN, BFD_FSM_EV_RX_UP, DN, K, false },
	{ DN, BFD_FSM_EV_TIMER_EXPIRED, DN, K, false },
	{ DN, BFD_FSM_EV_ECHO_EXPIRED, DN, K, false },
	{ DN, BFD_FSM_EV_ADMIN_UP, DN, K, false },
	{ DN, BFD_FSM_EV_ADMIN_DOWN, AD, BFD_DIAG_ADMIN_DOWN, false },
	/* Init */
	{ IN, BFD_FSM_EV_RX_ADMIN_DOWN, DN, BFD_DIAG_NEIGHBOR_DOWN, false },
	{ IN, BFD_FSM_EV_RX_DOWN, IN, K, false },
	{ IN, BFD_FSM_EV_RX_INIT, UP, BFD_DIAG_NONE, false },
	{ IN, BFD_FSM_EV_RX_UP, UP, BFD_DIAG_NONE, false },
	{ IN, BFD_FSM_EV_TIMER_EXPIRED, DN, BFD_DIAG_TIME_EXPIRED, false },
	{ IN, BFD_FSM_EV_ECHO_EXPIRED, IN, K, false },
	{ IN, BFD_FSM_EV_ADMIN_UP, IN, K, false },
	{ IN, BFD_FSM_EV_ADMIN_DOWN, AD, BFD_DIAG_ADMIN_DOWN, false },
	/* Up */
	{ UP, BFD_FSM_EV_RX_ADMIN_DOWN, DN, BFD_DIAG_NEIGHBOR_DOWN, false },
	{ UP, BFD_FSM_EV_RX_DOWN, DN, BFD_DIAG_NEIGHBOR_DOWN, false },
	{ UP, BFD_FSM_EV_RX_INIT, UP, K, false },
	{ UP, BFD_FSM_EV_RX_UP, UP, K, false },
	{ UP, BFD_FSM_EV_TIMER_EXPIRED, DN, BFD_DIAG_TIME_EXPIRED, false },
	{ UP, BFD_FSM_EV_ECHO_EXPIRED, DN, BFD_DIAG_ECHO_FAILED, false },
	{ UP, BFD_FSM_EV_ADMIN_UP, UP, K, false },
	{ UP, BFD_FSM_EV_ADMIN_DOWN, AD, BFD_DIAG_ADMIN_DOWN, false },
};

static void test_every_cell(void **state)
{
	bool seen[BFD_STATE_COUNT][BFD_FSM_EVENT_COUNT] = { { false } };

	(void)state;
	for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
		const struct cell_case *c = &cells[i];
		struct bfd_fsm_cell got = bfd_fsm_lookup(c->state, c->ev);
		if (got.next != c->next || got.diag != c->diag || got.discard != c->discard)
			fail_msg("%s x %s: got %s diag %d discard %d, want %s diag %d discard %d",
				 bfd_state_str(c->state), bfd_fsm_event_name[c->ev],
				 bfd_state_str(got.next), got.diag, got.discard,
				 bfd_state_str(c->next), c->diag, c->discard);
		seen[c->state][c->ev] = true;
	}
	for (int s = 0; s < BFD_STATE_COUNT; s++)
		for (int e = 0; e < BFD_FSM_EVENT_COUNT; e++)
			if (!seen[s][e])
				fail_msg("cell %s x %s not covered", bfd_state_str((enum bfd_state)s),
					 bfd_fsm_event_name[e]);
}

static void test_out_of_range(void **state)
{
	struct bfd_fsm_cell c = bfd_fsm_lookup(UP, BFD_FSM_EVENT_COUNT);

	(void)state;
	assert_int_equal(c.next, UP);
	assert_true(c.discard);
	c = bfd_fsm_lookup((enum bfd_state)7, BFD_FSM_EV_RX_UP);
	assert_true(c.discard);
	assert_int_equal(bfd_fsm_rx_event(AD), BFD_FSM_EV_RX_ADMIN_DOWN);
	assert_int_equal(bfd_fsm_rx_event(DN), BFD_FSM_EV_RX_DOWN);
	assert_int_equal(bfd_fsm_rx_event(IN), BFD_FSM_EV_RX_INIT);
	assert_int_equal(bfd_fsm_rx_event(UP), BFD_FSM_EV_RX_UP);
}

/* A three-way handshake driven through the table: both ends Down, each
 * hears the other's Down -> Init, each hears Init -> Up. */
static void test_handshake(void **state)
{
	enum bfd_state a = DN, b = DN, a_sent, b_sent;

	(void)state;
	for (int round = 0; round < 3; round++) {
		a_sent = a;
		b_sent = b;
		a = bfd_fsm_lookup(a, bfd_fsm_rx_event(b_sent)).next;
		b = bfd_fsm_lookup(b, bfd_fsm_rx_event(a_sent)).next;
	}
	assert_int_equal(a, UP);
	assert_int_equal(b, UP);
}

/* ------------------------------------------------------------------ */
/* timers */

static void test_slow_rate_while_down(void **state)
{
	struct bfd_timers t;

	(void)state;
	/* §6.8.3: Desired Min TX at least 1 s while not Up. */
	bfd_timers_init(&t, 50000, 50000, 3);
	assert_int_equal(t.adv_tx_us, 1000000);
	assert_int_equal(t.adv_rx_us, 50000);
	assert_false(t.polling);
	/* Before any packet RemoteMinRxInterval is 1 (§6.8.1). */
	assert_int_equal(bfd_timers_tx_interval_us(&t), 1000000);
	assert_int_equal(bfd_timers_detect_us(&t), 0);
	/* A configured interval above 1 s is kept. */
	bfd_timers_init(&t, 2000000, 50000, 3);
	assert_int_equal(t.adv_tx_us, 2000000);
}

static void test_negotiation(void **state)
{
	struct bfd_timers t;

	(void)state;
	bfd_timers_init(&t, 300000, 300000, 3);
	/* Going Up: the configured 300 ms are advertised; a decrease of
	 * Desired Min TX is used at once, with a Poll Sequence. */
	assert_true(bfd_timers_update(&t, 300000, 300000, 3, true));
	assert_true(t.polling);
	assert_int_equal(t.use_tx_us, 300000);
	/* §6.8.2 / §6.8.7: tx = max(our Desired Min TX, peer's Required Min
	 * RX). */
	bfd_timers_remote(&t, 100000, 500000, 5);
	assert_int_equal(bfd_timers_tx_interval_us(&t), 500000);
	bfd_timers_remote(&t, 100000, 50000, 5);
	assert_int_equal(bfd_timers_tx_interval_us(&t), 300000);
	/* §6.8.4: detection = peer's Detect Mult x max(our Required Min RX,
	 * peer's Desired Min TX). */
	assert_int_equal(bfd_timers_detect_us(&t), 5 * 300000);
	bfd_timers_remote(&t, 700000, 50000, 2);
	assert_int_equal(bfd_timers_detect_us(&t), 2 * 700000);
	/* The peer wants no periodic packets: Required Min RX 0. */
	bfd_timers_remote(&t, 700000, 0, 2);
	assert_int_equal(bfd_timers_tx_interval_us(&t), 0);
}

static void test_poll_increase_tx_waits_for_final(void **state)
{
	struct bfd_timers t;

	(void)state;
	bfd_timers_init(&t, 100000, 100000, 3);
	bfd_timers_update(&t, 100000, 100000, 3, true);
	bfd_timers_final(&t);
	assert_false(t.polling);
	bfd_timers_remote(&t, 100000, 100000, 3);
	/* Increase Desired Min TX to 400 ms: advertised at once, used only
	 * after Final (§6.8.3). */
	assert_true(bfd_timers_update(&t, 400000, 100000, 3, true));
	assert_true(t.polling);
	assert_int_equal(t.adv_tx_us, 400000);
	assert_int_equal(t.use_tx_us, 100000);
	assert_int_equal(bfd_timers_tx_interval_us(&t), 100000);
	bfd_timers_final(&t);
	assert_false(t.polling);
	assert_int_equal(bfd_timers_tx_interval_us(&t), 400000);
}

static void test_poll_reduce_rx_keeps_detection(void **state)
{
	struct bfd_timers t;

	(void)state;
	bfd_timers_init(&t, 100000, 500000, 3);
	bfd_timers_update(&t, 100000, 500000, 3, true);
	bfd_timers_final(&t);
	bfd_timers_remote(&t, 100000, 100000, 3);
	assert_int_equal(bfd_timers_detect_us(&t), 1500000);
	/* Reduce Required Min RX to 100 ms: the old value still counts for
	 * the detection time until Final (§6.8.3). */
	assert_true(bfd_timers_update(&t, 100000, 100000, 3, true));
	assert_int_equal(t.adv_rx_us, 100000);
	assert_int_equal(bfd_timers_detect_us(&t), 1500000);
	bfd_timers_final(&t);
	assert_int_equal(bfd_timers_detect_us(&t), 300000);
	/* An increase is used at once. */
	assert_true(bfd_timers_update(&t, 100000, 900000, 3, true));
	assert_int_equal(bfd_timers_detect_us(&t), 2700000);
	/* A Final without a Poll changes nothing. */
	bfd_timers_final(&t);
	bfd_timers_final(&t);
	assert_int_equal(bfd_timers_detect_us(&t), 2700000);
}

static void test_poll_decrease_tx_at_once(void **state)
{
	struct bfd_timers t;

	(void)state;
	bfd_timers_init(&t, 400000, 100000, 3);
	bfd_timers_update(&t, 400000, 100000, 3, true);
	bfd_timers_final(&t);
	bfd_timers_remote(&t, 100000, 100000, 3);
	assert_true(bfd_timers_update(&t, 100000, 100000, 3, true));
	assert_int_equal(bfd_timers_tx_interval_us(&t), 100000);
	/* Nothing changed: no Poll Sequence. */
	bfd_timers_final(&t);
	assert_false(bfd_timers_update(&t, 100000, 100000, 3, true));
	assert_false(t.polling);
	/* A detect multiplier change is advertised with a Poll too. */
	assert_true(bfd_timers_update(&t, 100000, 100000, 5, true));
}

static void test_changes_while_down_apply_at_once(void **state)
{
	struct bfd_timers t;

	(void)state;
	bfd_timers_init(&t, 100000, 100000, 3);
	assert_false(bfd_timers_update(&t, 100000, 700000, 3, false));
	assert_false(t.polling);
	assert_int_equal(t.use_rx_us, 700000);
	assert_int_equal(t.adv_tx_us, 1000000);
	/* Going Down after Up: back to the slow rate, poll abandoned. */
	bfd_timers_update(&t, 100000, 700000, 3, true);
	assert_true(t.polling);
	bfd_timers_update(&t, 100000, 700000, 3, false);
	bfd_timers_stop_poll(&t);
	assert_false(t.polling);
	assert_int_equal(t.use_tx_us, 1000000);
}

/* A change during a Poll Sequence waits for it: the Final answers the
 * values that were polled, then the queued ones get their own Poll. */
static void test_change_during_poll_is_queued(void **state)
{
	struct bfd_timers t;

	(void)state;
	bfd_timers_init(&t, 100000, 100000, 3);
	bfd_timers_update(&t, 100000, 100000, 3, true);
	assert_false(bfd_timers_final(&t));
	bfd_timers_remote(&t, 100000, 100000, 3);
	/* First change: tx 200 ms, polled. */
	assert_true(bfd_timers_update(&t, 200000, 100000, 3, true));
	assert_int_equal(t.adv_tx_us, 200000);
	/* Second change while polling: queued, nothing new advertised. */
	assert_false(bfd_timers_update(&t, 400000, 300000, 3, true));
	assert_true(t.queued);
	assert_int_equal(t.adv_tx_us, 200000);
	assert_int_equal(t.adv_rx_us, 100000);
	assert_int_equal(t.use_tx_us, 100000);
	/* The same change again is still only queued. */
	assert_false(bfd_timers_update(&t, 400000, 300000, 3, true));
	/* Final of the first: 200 ms in use, the queued change polled. */
	assert_true(bfd_timers_final(&t));
	assert_true(t.polling);
	assert_false(t.queued);
	assert_int_equal(t.adv_tx_us, 400000);
	assert_int_equal(t.adv_rx_us, 300000);
	assert_int_equal(t.use_tx_us, 200000);
	assert_int_equal(t.use_rx_us, 300000);   /* an increase, at once */
	assert_false(bfd_timers_final(&t));
	assert_int_equal(t.use_tx_us, 400000);
	/* A change undone before the Poll Sequence ends needs no second
	 * one. */
	assert_true(bfd_timers_update(&t, 100000, 300000, 3, true));
	assert_false(bfd_timers_update(&t, 400000, 300000, 3, true));
	assert_false(bfd_timers_update(&t, 100000, 300000, 3, true));
	assert_false(bfd_timers_final(&t));
	assert_false(t.polling);
	/* Leaving Up with a change queued applies it. */
	assert_true(bfd_timers_update(&t, 100000, 400000, 3, true));
	assert_false(bfd_timers_update(&t, 100000, 500000, 3, true));
	bfd_timers_stop_poll(&t);
	assert_int_equal(t.adv_rx_us, 500000);
	assert_int_equal(t.use_rx_us, 500000);
}

static void test_jitter_bounds(void **state)
{
	(void)state;
	/* §6.8.7: 75-100 % of the interval; 90-100 % with Detect Mult 1. */
	for (int i = 0; i < 1000; i++) {
		double r = i / 1000.0;
		uint64_t j3 = bfd_jitter_us(1000000, 3, r);
		uint64_t j1 = bfd_jitter_us(1000000, 1, r);
		assert_true(j3 >= 750000 && j3 <= 1000000);
		assert_true(j1 >= 900000 && j1 <= 1000000);
	}
	assert_int_equal(bfd_jitter_us(1000000, 3, 0.0), 1000000);
	assert_true(bfd_jitter_us(1000000, 3, 0.999999) <= 750001);
	assert_true(bfd_jitter_us(1000000, 1, 0.999999) <= 900001);
	/* Out of range random input is treated as 0. */
	assert_int_equal(bfd_jitter_us(1000000, 3, 1.5), 1000000);
	assert_int_equal(bfd_jitter_us(1000000, 3, -1), 1000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_cell),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_slow_rate_while_down),
		cmocka_unit_test(test_negotiation),
		cmocka_unit_test(test_poll_increase_tx_waits_for_final),
		cmocka_unit_test(test_poll_reduce_rx_keeps_detection),
		cmocka_unit_test(test_poll_decrease_tx_at_once),
		cmocka_unit_test(test_changes_while_down_apply_at_once),
		cmocka_unit_test(test_change_during_poll_is_queued),
		cmocka_unit_test(test_jitter_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
