/*
 * BFD (RFC 5880 asynchronous mode; RFC 5881 single hop, RFC 5883
 * multihop; the echo function of RFC 5880 §6.4): the module the daemons
 * use.
 *
 * One struct bfd per daemon holds every session, keyed by a name (the
 * BGPPeer's metadata.name).  bfd_set() converges to a list of session
 * configurations: a new name starts a session, a missing one ends it
 * (AdminDown sent first), a changed identity (peer, local address,
 * interface, VRF, hop mode) replaces it, and changed timers or flags are
 * applied to the live session with a Poll Sequence (§6.8.3), without a
 * flap.  Every state change is logged and then reported to the listener,
 * which couples BFD to BGP (RFC 5882) outside this module.
 *
 * Layers: bfd_pkt (the wire codec and the checks of §6.8.6), bfd_fsm (the
 * state machine as a table, and the pure timer arithmetic), bfd_session
 * (one session's timers and sockets on the libev loop), and this file
 * (sockets shared by sessions, demultiplexing, configuration, status and
 * metrics).
 */
#ifndef IRONLB_BFD_BFD_H
#define IRONLB_BFD_BFD_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bfd/bfd_pkt.h"
#include "net/ip.h"

struct ev_loop;
struct metrics_registry;
struct jw;
struct bfd;

/* MetalLB's BFDProfile defaults (used for a field given as 0). */
#define BFD_DEFAULT_RX_MS 300
#define BFD_DEFAULT_TX_MS 300
#define BFD_DEFAULT_DETECT_MULT 3
#define BFD_DEFAULT_ECHO_MS 50
#define BFD_DEFAULT_MIN_TTL 254

/* UDP ports: RFC 5881 §4 (control 3784, echo 3785), RFC 5883 §5 (4784). */
#define BFD_PORT_SINGLE 3784
#define BFD_PORT_ECHO 3785
#define BFD_PORT_MULTI 4784

/* One session: one per BGP peer with a bfdProfile.  Strings are copied by
 * bfd_set(); the caller keeps ownership of what it passes. */
struct bfd_session_cfg {
	char *name;                  /* BGPPeer metadata.name: key, logs, status */
	char *profile;               /* BFDProfile name (status only) */
	struct ip_addr peer;         /* the BGP peer address */
	bool has_local;
	struct ip_addr local;        /* source address, if known */
	char *interface;             /* bind to this device (single hop), or NULL */
	char *vrf;                   /* VRF device, or NULL for the default */
	bool multihop;               /* ebgpMultiHop: RFC 5883, UDP 4784 */
	uint32_t rx_interval_ms;     /* receiveInterval (0: 300) */
	uint32_t tx_interval_ms;     /* transmitInterval (0: 300) */
	uint32_t detect_mult;        /* detectMultiplier (0: 3) */
	uint32_t echo_interval_ms;   /* echoInterval (0: 50) */
	bool echo_mode;
	bool passive_mode;
	uint32_t minimum_ttl;        /* multihop: least TTL accepted (0: 254) */
};

/* true when a and b differ in anything (bfd_set() would change the
 * session). */
bool bfd_session_cfg_differs(const struct bfd_session_cfg *a, const struct bfd_session_cfg *b);
/* true when a and b name the same session on the wire (name, peer, local
 * address, interface, VRF, hop mode): only timers, flags or the profile
 * name differ, which bfd_set() applies without restarting the session. */
bool bfd_session_cfg_same_identity(const struct bfd_session_cfg *a,
				   const struct bfd_session_cfg *b);

struct bfd_opts {
	const char *node_name;       /* for logs */
	/* Ports we listen on; 0 = 3784 / 4784 / 3785. */
	uint16_t port_single, port_multi, port_echo;
	/* Ports we send to; 0 = the same as the listening ones.  Tests run
	 * two instances in one network namespace with crossed ports. */
	uint16_t peer_port_single, peer_port_multi;
	/* Do not require TTL 255 on single-hop receipt nor send with it
	 * (tests on loopback without privileges need neither; default
	 * false: RFC 5881 §5 applies). */
	bool no_gtsm;
};

struct bfd *bfd_new(struct ev_loop *loop, struct metrics_registry *reg,
		    const struct bfd_opts *opts);

/* Converge to cfgs (names unique; a duplicate name is refused with -1 and
 * nothing changes).  Sockets that cannot be opened are logged and retried;
 * they do not fail the call. */
int bfd_set(struct bfd *b, const struct bfd_session_cfg *cfgs, size_t n);

/* Called on every state change of a session, after it is logged.
 * local_diag is the diagnostic we set with the change; peer_admin_down is
 * true when the session went Down because the peer said AdminDown (RFC
 * 5882 §3.2: the client should not treat that as a failure).  The
 * listener may call bfd_state_of() but not bfd_set() or bfd_free().  It
 * is not called for sessions that bfd_set() removes or bfd_free() ends
 * (their AdminDown is sent all the same). */
typedef void (*bfd_state_fn)(void *arg, const char *name, enum bfd_state from,
			     enum bfd_state to, enum bfd_diag local_diag, bool peer_admin_down);
void bfd_set_listener(struct bfd *b, bfd_state_fn fn, void *arg);

/* The local state of a session, BFD_STATE_NONE when there is no such
 * name. */
enum bfd_state bfd_state_of(const struct bfd *b, const char *name);

/* Send AdminDown (diag 7) to every peer a few times and then stay quiet;
 * sessions remain (bfd_state_of says AdminDown) until bfd_free().  The
 * first AdminDown packet is sent before this returns, the others (one a
 * second, three in all) while the loop runs on.  The listener hears each
 * Up/Init/Down -> AdminDown change, with diag 7. */
void bfd_stop(struct bfd *b);
void bfd_free(struct bfd *b);

/* The sessions as a JSON array (sorted by name), one object each:
 * name, profile, peer, local, interface, vrf, multihop, passive, state,
 * remoteState, localDiscriminator, remoteDiscriminator, localDiag,
 * remoteDiag, txIntervalMs, rxIntervalMs, detectMult, remoteDetectMult,
 * detectionTimeMs, echoActive, echoIntervalMs, uptimeS, lastDownReason,
 * controlIn, controlOut, echoIn, echoOut, upEvents, downEvents,
 * dropped (packets from the peer's address refused: by the checks of
 * RFC 5880 §6.8.6, an unknown discriminator, or the TTL), pollActive,
 * remoteEchoRxIntervalMs, echoRxIntervalMs, echoInactiveReason (why echo
 * is off when the profile asks for it, else null). */
void bfd_status_write(const struct bfd *b, struct jw *w);
json_t *bfd_status_json(const struct bfd *b);

#endif
