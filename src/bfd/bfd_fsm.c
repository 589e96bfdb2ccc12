/*
 * BFD state machine table and timer arithmetic (RFC 5880 §6.2, §6.8.1-
 * §6.8.7).  See bfd_fsm.h.
 */
#include "bfd/bfd_fsm.h"

const char *const bfd_fsm_event_name[BFD_FSM_EVENT_COUNT] = {
	[BFD_FSM_EV_RX_ADMIN_DOWN] = "rx AdminDown",
	[BFD_FSM_EV_RX_DOWN] = "rx Down",
	[BFD_FSM_EV_RX_INIT] = "rx Init",
	[BFD_FSM_EV_RX_UP] = "rx Up",
	[BFD_FSM_EV_TIMER_EXPIRED] = "detection time expired",
	[BFD_FSM_EV_ECHO_EXPIRED] = "echo detection time expired",
	[BFD_FSM_EV_ADMIN_UP] = "admin up",
	[BFD_FSM_EV_ADMIN_DOWN] = "admin down",
};

#define AD BFD_STATE_ADMIN_DOWN
#define DN BFD_STATE_DOWN
#define IN BFD_STATE_INIT
#define UP BFD_STATE_UP
#define KEEP BFD_FSM_DIAG_KEEP
#define STAY(s) { s, KEEP, false }

static const struct bfd_fsm_cell fsm[BFD_STATE_COUNT][BFD_FSM_EVENT_COUNT] = {
	/* §6.8.6: "If bfd.SessionState is AdminDown, discard the packet";
	 * timers do not run; only an administrative enable leaves it. */
	[AD] = {
		[BFD_FSM_EV_RX_ADMIN_DOWN] = { AD, KEEP, true },
		[BFD_FSM_EV_RX_DOWN] = { AD, KEEP, true },
		[BFD_FSM_EV_RX_INIT] = { AD, KEEP, true },
		[BFD_FSM_EV_RX_UP] = { AD, KEEP, true },
		[BFD_FSM_EV_TIMER_EXPIRED] = STAY(AD),
		[BFD_FSM_EV_ECHO_EXPIRED] = STAY(AD),
		[BFD_FSM_EV_ADMIN_UP] = { DN, BFD_DIAG_NONE, false },
		[BFD_FSM_EV_ADMIN_DOWN] = STAY(AD),
	},
	/* §6.2: Down goes to Init on the peer's Down, to Up on its Init; its
	 * Up is ignored (the peer has not heard us yet).  Coming Up clears
	 * the diagnostic of the last failure (as FRR and BIRD do): it no
	 * longer describes the session. */
	[DN] = {
		[BFD_FSM_EV_RX_ADMIN_DOWN] = STAY(DN),
		[BFD_FSM_EV_RX_DOWN] = { IN, KEEP, false },
		[BFD_FSM_EV_RX_INIT] = { UP, BFD_DIAG_NONE, false },
		[BFD_FSM_EV_RX_UP] = STAY(DN),
		[BFD_FSM_EV_TIMER_EXPIRED] = STAY(DN),
		[BFD_FSM_EV_ECHO_EXPIRED] = STAY(DN),
		[BFD_FSM_EV_ADMIN_UP] = STAY(DN),
		[BFD_FSM_EV_ADMIN_DOWN] = { AD, BFD_DIAG_ADMIN_DOWN, false },
	},
	/* Init goes Up on the peer's Init or Up, Down on its AdminDown
	 * (diag 3) or on the detection timer (diag 1). */
	[IN] = {
		[BFD_FSM_EV_RX_ADMIN_DOWN] = { DN, BFD_DIAG_NEIGHBOR_DOWN, false },
		[BFD_FSM_EV_RX_DOWN] = STAY(IN),
		[BFD_FSM_EV_RX_INIT] = { UP, BFD_DIAG_NONE, false },
		[BFD_FSM_EV_RX_UP] = { UP, BFD_DIAG_NONE, false },
		[BFD_FSM_EV_TIMER_EXPIRED] = { DN, BFD_DIAG_TIME_EXPIRED, false },
		[BFD_FSM_EV_ECHO_EXPIRED] = STAY(IN),
		[BFD_FSM_EV_ADMIN_UP] = STAY(IN),
		[BFD_FSM_EV_ADMIN_DOWN] = { AD, BFD_DIAG_ADMIN_DOWN, false },
	},
	/* Up goes Down on the peer's Down or AdminDown (diag 3), on the
	 * detection timer (diag 1) or on echo loss (diag 2, §6.8.5). */
	[UP] = {
		[BFD_FSM_EV_RX_ADMIN_DOWN] = { DN, BFD_DIAG_NEIGHBOR_DOWN, false },
		[BFD_FSM_EV_RX_DOWN] = { DN, BFD_DIAG_NEIGHBOR_DOWN, false },
		[BFD_FSM_EV_RX_INIT] = STAY(UP),
		[BFD_FSM_EV_RX_UP] = STAY(UP),
		[BFD_FSM_EV_TIMER_EXPIRED] = { DN, BFD_DIAG_TIME_EXPIRED, false },
		[BFD_FSM_EV_ECHO_EXPIRED] = { DN, BFD_DIAG_ECHO_FAILED, false },
		[BFD_FSM_EV_ADMIN_UP] = STAY(UP),
		[BFD_FSM_EV_ADMIN_DOWN] = { AD, BFD_DIAG_ADMIN_DOWN, false },
	},
};

struct bfd_fsm_cell bfd_fsm_lookup(enum bfd_state state, enum bfd_fsm_event event)
{
	if ((int)state < 0 || (int)state >= BFD_STATE_COUNT || (int)event < 0 ||
	    (int)event >= BFD_FSM_EVENT_COUNT)
		return (struct bfd_fsm_cell){ state, KEEP, true };
	return fsm[state][event];
}

enum bfd_fsm_event bfd_fsm_rx_event(enum bfd_state remote)
{
	switch (remote) {
	case BFD_STATE_ADMIN_DOWN: return BFD_FSM_EV_RX_ADMIN_DOWN;
	case BFD_STATE_DOWN: return BFD_FSM_EV_RX_DOWN;
	case BFD_STATE_INIT: return BFD_FSM_EV_RX_INIT;
	default: return BFD_FSM_EV_RX_UP;
	}
}

/* ------------------------------------------------------------------ */
/* timers */

static uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

void bfd_timers_init(struct bfd_timers *t, uint32_t tx_us, uint32_t rx_us, uint8_t detect_mult)
{
	*t = (struct bfd_timers){ 0 };
	t->cfg_tx_us = tx_us;
	t->cfg_rx_us = rx_us;
	t->detect_mult = detect_mult;
	t->adv_tx_us = t->use_tx_us = max_u32(tx_us, BFD_SLOW_TX_US);
	t->adv_rx_us = t->use_rx_us = rx_us;
	/* §6.8.1: bfd.RemoteMinRxInterval starts at 1 (microsecond). */
	t->remote_min_rx_us = 1;
}

/* Advertise tx/rx with a Poll Sequence while Up (§6.8.3): an increased
 * Desired Min TX is used only after the Poll Sequence, a decrease at
 * once; a reduced Required Min RX keeps the old one for the detection time
 * until then, an increase is used at once. */
static void start_poll(struct bfd_timers *t, uint32_t tx_us, uint32_t rx_us)
{
	if (tx_us < t->use_tx_us)
		t->use_tx_us = tx_us;
	if (rx_us > t->use_rx_us)
		t->use_rx_us = rx_us;
	t->adv_tx_us = tx_us;
	t->adv_rx_us = rx_us;
	t->polling = true;
}

bool bfd_timers_update(struct bfd_timers *t, uint32_t tx_us, uint32_t rx_us, uint8_t detect_mult,
		       bool up)
{
	uint32_t adv_tx = up ? tx_us : max_u32(tx_us, BFD_SLOW_TX_US);
	uint32_t cur_tx = t->queued ? t->next_tx_us : t->adv_tx_us;
	uint32_t cur_rx = t->queued ? t->next_rx_us : t->adv_rx_us;
	bool mult_changed = detect_mult != t->detect_mult;

	t->cfg_tx_us = tx_us;
	t->cfg_rx_us = rx_us;
	t->detect_mult = detect_mult;
	if (!up) {
		/* Nothing is negotiated yet that a change could break. */
		t->adv_tx_us = t->use_tx_us = adv_tx;
		t->adv_rx_us = t->use_rx_us = rx_us;
		t->polling = t->queued = false;
		return false;
	}
	if (adv_tx == cur_tx && rx_us == cur_rx) {
		/* A new Detect Mult is carried by every packet; a Poll makes
		 * the peer look at it at once. */
		if (mult_changed && !t->polling) {
			t->polling = true;
			return true;
		}
		return false;
	}
	if (t->polling) {
		t->queued = true;
		t->next_tx_us = adv_tx;
		t->next_rx_us = rx_us;
		return false;
	}
	start_poll(t, adv_tx, rx_us);
	return true;
}

bool bfd_timers_final(struct bfd_timers *t)
{
	if (!t->polling)
		return false;
	t->polling = false;
	t->use_tx_us = t->adv_tx_us;
	t->use_rx_us = t->adv_rx_us;
	if (!t->queued)
		return false;
	t->queued = false;
	if (t->next_tx_us == t->adv_tx_us && t->next_rx_us == t->adv_rx_us)
		return false;
	start_poll(t, t->next_tx_us, t->next_rx_us);
	return true;
}

void bfd_timers_stop_poll(struct bfd_timers *t)
{
	if (t->queued) {
		t->adv_tx_us = t->next_tx_us;
		t->adv_rx_us = t->next_rx_us;
	}
	t->polling = t->queued = false;
	t->use_tx_us = t->adv_tx_us;
	t->use_rx_us = t->adv_rx_us;
}

void bfd_timers_remote(struct bfd_timers *t, uint32_t remote_tx_us, uint32_t remote_min_rx_us,
		       uint8_t remote_mult)
{
	t->remote_tx_us = remote_tx_us;
	t->remote_min_rx_us = remote_min_rx_us;
	t->remote_mult = remote_mult;
}

uint32_t bfd_timers_tx_interval_us(const struct bfd_timers *t)
{
	if (t->remote_min_rx_us == 0)
		return 0;
	return max_u32(t->use_tx_us, t->remote_min_rx_us);
}

uint64_t bfd_timers_detect_us(const struct bfd_timers *t)
{
	return (uint64_t)t->remote_mult * max_u32(t->use_rx_us, t->remote_tx_us);
}

uint64_t bfd_jitter_us(uint64_t interval_us, uint8_t detect_mult, double r01)
{
	double span = detect_mult == 1 ? 0.10 : 0.25;

	if (r01 < 0 || r01 >= 1)
		r01 = 0;
	/* 1 - span*r01 lies in (1 - span, 1]. */
	return (uint64_t)((double)interval_us * (1.0 - span * r01));
}
