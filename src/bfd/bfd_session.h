/*
 * One BFD session (I/O): its transmit socket, its timers and its state on
 * a libev loop.  Received packets are demultiplexed by bfd.c, which owns
 * the listening sockets, and handed over with bfd_session_rx().
 *
 * The session sends periodic control packets at the negotiated interval
 * with the jitter of §6.8.7 (none while passive and the peer is unknown,
 * §6.1), restarts its detection timer on every valid packet (§6.8.4),
 * runs Poll Sequences when its advertised intervals change (§6.5, §6.8.3)
 * and answers the peer's Poll with Final at once.  Each state change goes
 * through one function, which logs it, counts it, keeps the metrics and
 * calls the owner's hook.
 */
#ifndef IRONLB_BFD_BFD_SESSION_H
#define IRONLB_BFD_BFD_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "bfd/bfd.h"
#include "bfd/bfd_fsm.h"
#include "bfd/bfd_pkt.h"

struct ev_loop;
struct jw;
struct metrics_family;
struct bfd_session;

struct bfd_metrics {
	struct metrics_family *session_up;
	struct metrics_family *control_in, *control_out;
	struct metrics_family *echo_in, *echo_out;
	struct metrics_family *up_events, *down_events;
};

struct bfd_session_env {
	struct ev_loop *loop;
	const struct bfd_opts *opts;        /* ports and GTSM */
	const struct bfd_metrics *metrics;  /* families may be NULL */
	/* Every state change, after it is logged. */
	void (*changed)(struct bfd_session *s, enum bfd_state from, enum bfd_state to,
			enum bfd_diag diag, bool peer_admin_down, void *arg);
	void *arg;
};

/* What the receive path knows about a datagram besides its bytes. */
struct bfd_rx_meta {
	struct ip_addr src, dst;
	int ifindex;              /* arrival interface, 0 if unknown */
	int ttl;                  /* TTL / hop limit, -1 if unknown */
	bool multihop;            /* arrived on the multihop port */
};

/* A new session in Down (the transmit socket is opened lazily and
 * retried); cfg is copied, local_disc is non-zero and unique. */
struct bfd_session *bfd_session_new(const struct bfd_session_env *env,
				    const struct bfd_session_cfg *cfg, uint32_t local_disc);
/* Send AdminDown once (when the peer knows us) and free. */
void bfd_session_free(struct bfd_session *s);

/* Apply changed timers, flags or profile name (same identity). */
void bfd_session_reconfigure(struct bfd_session *s, const struct bfd_session_cfg *cfg);
/* AdminDown (diag 7): announced for a detection time, then quiet. */
void bfd_session_admin_down(struct bfd_session *s);

/* A decoded, checked packet (bfd_pkt_decode() said OK) for this session.
 * Returns the drop reason of the session-level checks (TTL), or
 * BFD_PKT_OK. */
enum bfd_pkt_err bfd_session_rx(struct bfd_session *s, const struct bfd_pkt *p,
				const struct bfd_rx_meta *m);
/* Count a packet from this session's peer that was dropped before it
 * reached the session (refused by the codec, or naming an unknown
 * discriminator): the status's "dropped". */
void bfd_session_count_drop(struct bfd_session *s);
/* Whether a packet with Your Discriminator 0 from m belongs to s
 * (§6.8.6: by addresses, interface and hop mode). */
bool bfd_session_matches(const struct bfd_session *s, const struct bfd_rx_meta *m);

const char *bfd_session_name(const struct bfd_session *s);
const struct bfd_session_cfg *bfd_session_get_cfg(const struct bfd_session *s);
enum bfd_state bfd_session_state(const struct bfd_session *s);
uint32_t bfd_session_local_disc(const struct bfd_session *s);
const struct bfd_timers *bfd_session_timers(const struct bfd_session *s);
void bfd_session_status(const struct bfd_session *s, struct jw *w);

/* The peer label of the session's metrics (the peer address; the vrf
 * label is the VRF, or "default"). */
const char *bfd_session_label(const struct bfd_session *s);

#endif
