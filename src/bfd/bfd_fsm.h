/*
 * The BFD state machine (RFC 5880 §6.2, with the state updates of §6.8.6)
 * as a table, and the pure timer arithmetic of §6.8.2-§6.8.4 and §6.8.7
 * (no sockets, no clock: everything here is tested by tables).
 *
 * FSM[state][event] gives the next state and the diagnostic to set.  The
 * session layer (bfd_session.c) turns received packets, the detection
 * timer and administrative commands into events, looks the cell up and
 * calls its one change-state function, which restarts timers, logs the
 * transition, counts it and tells the listener.
 *
 * Timers: a session keeps the intervals it advertises (what goes into
 * Desired Min TX and Required Min RX) apart from the ones it uses, because
 * §6.8.3 delays some changes until a Poll Sequence ends: an increased
 * Desired Min TX is used only once the peer sent Final, and so is a
 * reduced Required Min RX for the detection time; the opposite changes
 * take effect at once.  While the session is not Up the advertised
 * Desired Min TX is at least one second (§6.8.3).
 */
#ifndef IRONLB_BFD_BFD_FSM_H
#define IRONLB_BFD_BFD_FSM_H

#include <stdbool.h>
#include <stdint.h>

#include "bfd/bfd_pkt.h"

enum bfd_fsm_event {
	BFD_FSM_EV_RX_ADMIN_DOWN,   /* a valid packet with State AdminDown */
	BFD_FSM_EV_RX_DOWN,         /* ... State Down */
	BFD_FSM_EV_RX_INIT,         /* ... State Init */
	BFD_FSM_EV_RX_UP,           /* ... State Up */
	BFD_FSM_EV_TIMER_EXPIRED,   /* Detection Time passed without a packet */
	BFD_FSM_EV_ECHO_EXPIRED,    /* echo packets lost for the echo detection time */
	BFD_FSM_EV_ADMIN_UP,        /* the session is enabled */
	BFD_FSM_EV_ADMIN_DOWN,      /* the session is disabled (bfd_stop, removal) */
	BFD_FSM_EVENT_COUNT,
};

/* diag value meaning "leave bfd.LocalDiag as it is". */
#define BFD_FSM_DIAG_KEEP (-1)

struct bfd_fsm_cell {
	enum bfd_state next;
	int diag;          /* an enum bfd_diag, or BFD_FSM_DIAG_KEEP */
	bool discard;      /* §6.8.6: the packet is discarded (AdminDown) */
};

extern const char *const bfd_fsm_event_name[BFD_FSM_EVENT_COUNT];

/* The cell of (state, event); out of range gives {state, KEEP, true}. */
struct bfd_fsm_cell bfd_fsm_lookup(enum bfd_state state, enum bfd_fsm_event event);
/* The event of a received packet's State field. */
enum bfd_fsm_event bfd_fsm_rx_event(enum bfd_state remote);

/* ------------------------------------------------------------------ */
/* Timers, all in microseconds as on the wire. */

#define BFD_SLOW_TX_US 1000000u   /* §6.8.3: at least 1 s while not Up */

struct bfd_timers {
	/* configured (the profile) */
	uint32_t cfg_tx_us, cfg_rx_us;
	uint8_t detect_mult;
	/* advertised: bfd.DesiredMinTxInterval, bfd.RequiredMinRxInterval */
	uint32_t adv_tx_us, adv_rx_us;
	/* in use for our transmissions and our detection time */
	uint32_t use_tx_us, use_rx_us;
	bool polling;                 /* a Poll Sequence is in progress */
	/* A change made during a Poll Sequence waits for it to end and
	 * then starts one of its own, so that a Final always answers the
	 * values it was polled with. */
	bool queued;
	uint32_t next_tx_us, next_rx_us;
	/* from the peer's last valid packet */
	uint32_t remote_min_rx_us;    /* bfd.RemoteMinRxInterval (1 before any packet) */
	uint32_t remote_tx_us;        /* its Desired Min TX */
	uint8_t remote_mult;
};

/* Initial values for a session in Down with the configured intervals:
 * advertised and used Desired Min TX are max(tx, 1 s). */
void bfd_timers_init(struct bfd_timers *t, uint32_t tx_us, uint32_t rx_us, uint8_t detect_mult);

/*
 * Recompute what is advertised from the configuration and whether the
 * session is Up (§6.8.3), e.g. after the profile changed or the session
 * came Up or went Down.  When the advertised values change while up is
 * true, a Poll Sequence is started (t->polling) and the used values follow
 * §6.8.3's rules, or, if one is in progress, the change is queued behind
 * it; while not Up they take effect at once.  Returns true when a Poll
 * Sequence must be started now (the caller sends a packet with P).
 */
bool bfd_timers_update(struct bfd_timers *t, uint32_t tx_us, uint32_t rx_us, uint8_t detect_mult,
		       bool up);
/* A packet with F arrived: the Poll Sequence ends and the advertised
 * values are used.  Returns true when a queued change starts the next
 * Poll Sequence (the caller sends a packet with P). */
bool bfd_timers_final(struct bfd_timers *t);
/* The session left Up or was reset: end any Poll Sequence (a queued
 * change is applied at once). */
void bfd_timers_stop_poll(struct bfd_timers *t);
/* Record the peer's values from a valid packet. */
void bfd_timers_remote(struct bfd_timers *t, uint32_t remote_tx_us, uint32_t remote_min_rx_us,
		       uint8_t remote_mult);

/* §6.8.7: the interval between our periodic packets, before jitter:
 * max(used Desired Min TX, bfd.RemoteMinRxInterval); 0 when the peer's
 * Required Min RX is 0 (it wants no periodic packets, §6.8.7). */
uint32_t bfd_timers_tx_interval_us(const struct bfd_timers *t);
/* §6.8.4 asynchronous mode: the peer's Detect Mult times max(used
 * Required Min RX, the peer's Desired Min TX); 0 before any packet. */
uint64_t bfd_timers_detect_us(const struct bfd_timers *t);
/* §6.8.7: the interval reduced by a random 0-25 % (75-100 % of it), or
 * by 0-10 % (90-100 %) when our Detect Mult is 1; r01 in [0, 1). */
uint64_t bfd_jitter_us(uint64_t interval_us, uint8_t detect_mult, double r01);

#endif
