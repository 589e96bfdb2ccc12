/*
 * One BGP session (I/O): the sockets, timers and state machine of one
 * configured peer, on a libev loop.
 *
 * The session connects to the peer (non-blocking, from sourceAddress when
 * set, bound to the VRF device when set, with TCP MD5 and the TTL of its
 * kind), takes the connections the speaker accepted from the peer's
 * address, exchanges OPENs, enforces the negotiated hold time, resolves
 * connection collisions, and answers every fault of the peer with the
 * NOTIFICATION the codec names.  Received UPDATEs are decoded and checked
 * (RFC 7606) and then ignored: this speaker only announces.
 *
 * GTSM (RFC 5082) towards a single-hop eBGP peer is detected, not
 * configured: when the SYN of a connection the peer made came with TTL
 * 255 (the speaker's listener saves SYNs), the session sends with TTL 255
 * and accepts only TTL 255 (RFC 5082 §3, one hop) from then on, on that
 * connection and on the ones it makes.
 *
 * It knows nothing about routes.  Its owner (the speaker) is told through
 * hooks when the session becomes Established (send the Adj-RIB-Out), when
 * it leaves Established (the peer forgot it), and when the peer asks for a
 * ROUTE-REFRESH; it sends UPDATEs with bgp_session_send_updates() and
 * builds them with what bgp_session_info() says (negotiated options, local
 * AS, next hops).
 *
 * Events from sockets and timers are fed to the bgp_fsm table one at a
 * time from libev callbacks, never nested; sending only queues bytes, so
 * an owner may send from inside a hook.
 */
#ifndef IRONLB_BGP_BGP_SESSION_H
#define IRONLB_BGP_BGP_SESSION_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bgp/bgp_config.h"
#include "base/buf.h"
#include "bgp/bgp_fsm.h"
#include "bgp/bgp_msg.h"
#include "net/ip.h"

struct ev_loop;
struct metrics_family;
struct sockaddr;
struct bgp_session;

/* RFC 4724 §3: the Restart Time advertised with Graceful Restart. */
#define BGP_SESSION_GR_TIME 120
/* RFC 4271 §8.2.2: the HoldTimer while the peer's OPEN is awaited. */
#define BGP_SESSION_OPEN_HOLD 240.0

struct bgp_session_hooks {
	/* The session entered Established: send the Adj-RIB-Out. */
	void (*established)(struct bgp_session *s, void *arg);
	/* The session left Established: the peer has dropped our routes
	 * (or keeps them as stale, with graceful restart). */
	void (*down)(struct bgp_session *s, void *arg);
	/* RFC 2918: the peer asked for our routes of afi/safi again (only
	 * for a family this session advertised). */
	void (*route_refresh)(struct bgp_session *s, uint16_t afi, uint8_t safi, void *arg);
};

/* Metric families the session keeps current, label "peer" (any may be
 * NULL). */
struct bgp_session_metrics {
	struct metrics_family *session_up;
	struct metrics_family *opens_sent, *opens_received;
	struct metrics_family *notifications_sent;
	struct metrics_family *keepalives_sent, *keepalives_received;
	struct metrics_family *updates_sent, *updates_received;
	struct metrics_family *route_refresh_sent;
	struct metrics_family *total_sent, *total_received;
};

struct bgp_session_env {
	struct ev_loop *loop;
	uint32_t default_router_id;  /* host order; used when cfg has none */
	bool gr_restarted;           /* R bit in OPENs until first Established */
	const struct bgp_session_hooks *hooks;
	void *arg;
	const struct bgp_session_metrics *metrics; /* NULL: none */
};

struct bgp_session_counters {
	uint64_t opens_sent, opens_received;
	uint64_t updates_sent, updates_received;
	uint64_t keepalives_sent, keepalives_received;
	uint64_t notifications_sent, notifications_received;
	uint64_t route_refresh_sent, route_refresh_received;
	uint64_t total_sent, total_received;       /* messages of every type */
	uint64_t established;        /* transitions into Established */
	uint64_t connect_retries;    /* RFC 4271 ConnectRetryCounter */
};

/* What the owner needs to build UPDATEs; valid in Established. */
struct bgp_session_info {
	uint32_t local_as;           /* the AS in our OPEN and AS_PATH */
	uint32_t peer_as;
	uint32_t router_id, peer_router_id;        /* host order */
	bool ibgp;
	struct bgp_negotiated neg;   /* families, options (opts.first_as set) */
	bool gr;                     /* both sent Graceful Restart */
	uint16_t hold_time, keepalive;
	struct ip_addr local, remote;  /* transport addresses (unmapped) */
	uint16_t local_port, remote_port;
	/* Next hops: NONE when there is none. */
	struct ip_addr next_hop4;    /* NEXT_HOP of IPv4 routes */
	struct ip_addr next_hop6;    /* MP_REACH global: IPv6 routes, and
				      * IPv4 routes by RFC 8950 */
	struct ip_addr next_hop6_ll; /* RFC 2545 §3 link-local, directly
				      * connected peers only */
};

struct bgp_session *bgp_session_new(const struct bgp_session_cfg *cfg,
				    const struct bgp_session_env *env);
/* ManualStart: connect now (a session without a peer address waits for
 * the peer, RFC 4271 Event 5). */
void bgp_session_start(struct bgp_session *s);
/* ManualStop with Cease / cease_subcode (RFC 4486) and, for Administrative
 * Shutdown or Reset, an RFC 9003 message (may be NULL).  With keep_routes
 * and graceful restart negotiated in Established, the connection closes
 * without a NOTIFICATION so that the peer keeps our routes (RFC 4724
 * §4.1).  A stopped session stays Idle until started again. */
void bgp_session_stop(struct bgp_session *s, uint8_t cease_subcode, const char *msg,
		      bool keep_routes);
/* Close everything without sending and free (stop first to notify). */
void bgp_session_free(struct bgp_session *s);

/* A connection the speaker accepted from this peer's address; the session
 * owns fd from here on (it may close it at once: RFC 4271 §8.2.2 Idle
 * refuses, §6.8 an Established session keeps its connection). */
void bgp_session_accept(struct bgp_session *s, int fd);
/* Whether a connection from addr (scope_id: IPv6 interface, 0 if none)
 * belongs to this session: its peer address, or for an unnumbered session
 * a link-local address on its interface. */
bool bgp_session_wants(const struct bgp_session *s, const struct ip_addr *addr,
		       uint32_t scope_id);

/* Queue complete UPDATE messages (nmsgs of them, len bytes) for the peer.
 * -1 when the session is not Established (nothing queued). */
int bgp_session_send_updates(struct bgp_session *s, const uint8_t *msgs, size_t len,
			     size_t nmsgs);

const char *bgp_session_name(const struct bgp_session *s);
/* "192.168.1.1:179", "[2001:db8::1]:179" (MetalLB's peer label), or the
 * interface name for an unnumbered session. */
const char *bgp_session_peer_label(const struct bgp_session *s);
const struct bgp_session_cfg *bgp_session_cfg(const struct bgp_session *s);
enum bgp_fsm_state bgp_session_state(const struct bgp_session *s);
const struct bgp_session_info *bgp_session_info(const struct bgp_session *s);
const struct bgp_session_counters *bgp_session_counters(const struct bgp_session *s);
/* Seconds in Established, 0 when not. */
double bgp_session_uptime(const struct bgp_session *s);
/* The last error ("" when none): a NOTIFICATION sent or received, a
 * socket error. */
const char *bgp_session_last_error(const struct bgp_session *s);
/* Whether the peer uses GTSM (RFC 5082), as its last SYN to us said. */
bool bgp_session_gtsm(const struct bgp_session *s);
/* Status of this session as a new jansson object: name, peer, state,
 * uptime_s, hold_time, keepalive, capabilities, gtsm, last_error,
 * counters. */
json_t *bgp_session_status_json(const struct bgp_session *s);

/* The TTL (IPv4) or hop limit (IPv6) of a SYN as TCP_SAVED_SYN gives it
 * (network header first), -1 when len bytes hold no valid IPv4 header of
 * a TCP segment or IPv6 fixed header. */
int bgp_session_syn_ttl(const void *syn, size_t len);

/* The peer label of an address and port, as above. */
void bgp_session_format_peer(char *buf, size_t len, const struct ip_addr *a, uint16_t port);

/* Set (key non-NULL and non-empty) or delete (key NULL) the RFC 2385 key
 * for addr on socket fd of family af (AF_INET or AF_INET6; IPv4 peers on
 * an AF_INET6 socket as v4-mapped addresses).  0 / -1 with errno. */
int bgp_session_md5(int fd, int af, const struct ip_addr *addr, const char *key);

#endif
