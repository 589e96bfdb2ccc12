/*
 * member: the failure detector between ironlb nodes (a SWIM-style protocol
 * with the Lifeguard refinements), over UDP, IPv4 or IPv6.
 *
 * Three layers, as for BGP:
 *
 *   member_msg.c  the wire format (pure): encode/decode through rbuf/wbuf,
 *                 the HMAC-SHA256 tag and the per-sender replay window;
 *   member.c      the protocol (pure and deterministic): no syscalls, an
 *                 injected clock (every entry point takes `now`, in
 *                 microseconds of a monotonic clock) and an injected send
 *                 function; it probes, suspects, gossips and reports state
 *                 changes through a callback;
 *   member_io.c   the binding: one UDP socket (IPv6 dual-stack, or the
 *                 family of the bind address), a libev timer, counters as
 *                 a status JSON object and ironlb_member_* metrics.
 *
 * The member list is given by the caller (Node objects' InternalIP
 * addresses); gossip never adds a member the caller did not configure, it
 * only changes the state of configured ones.  docs/member-protocol.md
 * describes the packet format, the timing and the cost.
 */
#ifndef IRONLB_MEMBER_MEMBER_H
#define IRONLB_MEMBER_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "net/ip.h"

#define MEMBER_DEFAULT_PORT 7946
#define MEMBER_VERSION 1
#define MEMBER_MAGIC 0x494c424dU     /* "ILBM" */
/* Kubernetes node names are DNS subdomains: at most 253 bytes. */
#define MEMBER_NAME_MAX 253
/* A packet never exceeds this: it fits the IPv6 minimum MTU (1280) less
 * the IPv6 and UDP headers, so it is never fragmented. */
#define MEMBER_PACKET_MAX 1200
#define MEMBER_HEADER_LEN 27         /* fixed fields before the sender name */
#define MEMBER_TAG_LEN 32            /* HMAC-SHA256 */
#define MEMBER_UPDATES_MAX 32        /* per packet, checked when decoding */
#define MEMBER_REPLAY_WINDOW 64      /* sequence numbers */

/* ---------------------------------------------------------------- wire */

enum member_msg_type {
	MEMBER_MSG_PING = 1,       /* probe: "ack if you are <target>" */
	MEMBER_MSG_PING_REQ = 2,   /* indirect probe: "ping <target> for me" */
	MEMBER_MSG_ACK = 3,        /* answer to a ping, or relayed */
	MEMBER_MSG_NACK = 4,       /* relay: "the target did not answer me" */
	MEMBER_MSG_GOSSIP = 5,     /* membership updates only */
	MEMBER_MSG_TYPE_MAX = MEMBER_MSG_GOSSIP,
};

enum member_state {
	MEMBER_ALIVE = 0,
	MEMBER_SUSPECT = 1,
	MEMBER_DEAD = 2,
	MEMBER_LEFT = 3,
	MEMBER_STATE_COUNT,
};
extern const char *const member_state_name[MEMBER_STATE_COUNT];

#define MEMBER_FLAG_TAG 0x01         /* header flag: a tag ends the packet */
/* Header flag: an 8-byte state digest of the sender follows the probe
 * number (the state exchange, src/member/sync.h, pulls a member's state
 * over TCP when its digest differs from the one last pulled). */
#define MEMBER_FLAG_DIGEST 0x02
#define MEMBER_DIGEST_LEN 8
/* In an update's state byte: the sender suspects the member because its
 * own probe failed (Lifeguard counts only such independent suspicions). */
#define MEMBER_UPDATE_OWN 0x80

struct member_addr {
	struct ip_addr ip;           /* IPv4 or IPv6 */
	uint16_t port;
};

struct member_update {
	enum member_state state;
	bool own;                    /* MEMBER_UPDATE_OWN */
	uint32_t incarnation;
	char name[MEMBER_NAME_MAX + 1];
};

struct member_msg {
	enum member_msg_type type;
	bool tagged;                 /* MEMBER_FLAG_TAG */
	uint64_t epoch;              /* sender's boot epoch */
	uint64_t seq;                /* sender's packet sequence, from 1 */
	uint32_t probe;              /* probe number (ping, ping-req, ack, nack) */
	bool has_digest;             /* MEMBER_FLAG_DIGEST */
	uint64_t digest;             /* sender's state digest */
	char sender[MEMBER_NAME_MAX + 1];
	char target[MEMBER_NAME_MAX + 1];   /* ping, ping-req */
	struct member_addr target_addr;     /* ping-req */
	size_t n_updates;
	struct member_update updates[MEMBER_UPDATES_MAX];
};

enum member_msg_err {
	MEMBER_MSG_OK = 0,
	MEMBER_MSG_SHORT,            /* a field runs past the end */
	MEMBER_MSG_TOO_LONG,         /* more than MEMBER_PACKET_MAX bytes */
	MEMBER_MSG_BAD_MAGIC,
	MEMBER_MSG_BAD_VERSION,
	MEMBER_MSG_BAD_TYPE,
	MEMBER_MSG_BAD_FLAGS,
	MEMBER_MSG_BAD_NAME,         /* empty, too long, or not printable ASCII */
	MEMBER_MSG_BAD_ADDR,         /* family neither 4 nor 6, or port 0 */
	MEMBER_MSG_BAD_STATE,
	MEMBER_MSG_TOO_MANY,         /* more than MEMBER_UPDATES_MAX updates */
	MEMBER_MSG_TRAILING,         /* bytes after the last field */
	MEMBER_MSG_ERR_COUNT,
};
const char *member_msg_err_str(enum member_msg_err e);

/* Decode a packet.  0, or -1 with *why set; never trusts a count or a
 * length (every one is bounded and checked against what is left).  The tag
 * is located, not checked: see member_msg_tag_ok(). */
int member_msg_decode(const uint8_t *p, size_t len, struct member_msg *m,
		      enum member_msg_err *why);
/* Whether the last MEMBER_TAG_LEN bytes of a decoded tagged packet are the
 * HMAC-SHA256 of the bytes before them under key. */
bool member_msg_tag_ok(const uint8_t *p, size_t len, const uint8_t *key, size_t key_len);
/* Append the encoded packet to w; with a key (key_len > 0) the flag is set
 * and the tag appended.  -1 when a name is invalid, a count exceeds
 * MEMBER_UPDATES_MAX, or the result exceeds MEMBER_PACKET_MAX or w. */
int member_msg_encode(struct wbuf *w, const struct member_msg *m, const uint8_t *key,
		      size_t key_len);
/* Bytes an update takes on the wire. */
size_t member_update_wire_len(const struct member_update *u);
/* A valid member name: 1..MEMBER_NAME_MAX bytes of printable ASCII
 * without blanks. */
bool member_name_valid(const char *s, size_t len);

/* Replay window of one sender: an epoch greater than the one seen starts
 * afresh; within an epoch, a sequence number is accepted once and only if
 * it is above the highest seen minus the window. */
struct member_replay {
	uint64_t epoch;
	uint64_t top;                /* highest sequence accepted, 0: none */
	uint64_t seen;               /* bit i: top - i accepted */
};
/* 0: fresh (and now recorded); -1: a replay, too old or seq 0. */
int member_replay_check(struct member_replay *r, uint64_t epoch, uint64_t seq);

/* ---------------------------------------------------------------- protocol */

struct member_timing {
	int64_t probe_interval_us;   /* one probe per period */
	int64_t probe_timeout_us;    /* direct ack wait, then indirect probes */
	unsigned indirect_k;         /* relays asked when the direct probe fails */
	/* Suspicion lasts between min = suspicion_mult * probe_interval and
	 * suspicion_max_mult * min, shorter as independent confirmations
	 * arrive (Lifeguard). */
	unsigned suspicion_mult;
	unsigned suspicion_max_mult;
	unsigned suspicion_k;        /* confirmations that bring it down to min */
	unsigned retransmit_mult;    /* an update is sent mult * ceil(log10(N+1)) times */
	unsigned gossip_fanout;      /* members pushed a new update at once */
	unsigned awareness_max;      /* local health: timeouts scale up to (max+1)x */
	int64_t reconnect_interval_us;   /* how often a dead member is tried */
};
/* Default: 100 ms probes; death -> dead well under 1 s at p95. */
void member_timing_default(struct member_timing *t);
/* Faster: 30 ms probes; death -> dead under 0.3 s at p95, three times the
 * packets of the default. */
void member_timing_fast(struct member_timing *t);
/* The timing named by `ironlb run --member-timing NAME`: "default" or
 * "fast"; -1 (t untouched) for another name.  MEMBER_TIMING_NAMES lists
 * the accepted names for error messages. */
#define MEMBER_TIMING_NAMES "default, fast"
int member_timing_named(const char *name, struct member_timing *t);

/* A configured member: a Node's name and its InternalIP and port. */
struct member_peer {
	const char *name;
	struct member_addr addr;
};

struct member_event {
	const char *name;
	const struct member_addr *addr;
	enum member_state from, to;
	uint32_t incarnation;
	int64_t at;                  /* detection time (now of the call) */
	int64_t last_heard;          /* when a packet from it last arrived, 0: never */
};

struct member_counters {
	uint64_t packets_in, packets_out;
	uint64_t bad;                /* undecodable */
	uint64_t bad_tag;            /* missing or wrong tag */
	uint64_t replayed;
	uint64_t unknown_sender;     /* not a configured member */
	uint64_t send_errors;
	uint64_t probes;             /* probes started */
	uint64_t probes_failed;      /* no ack, direct or indirect */
	uint64_t indirect_probes;    /* ping-req sent */
	uint64_t suspects;           /* suspicions we raised */
	uint64_t deaths;             /* members declared dead by us */
	uint64_t refutes;            /* suspicions of us we refuted */
	uint64_t late_ticks;         /* timers that fired late (starved) */
};

struct member_config {
	const char *name;            /* this node, a valid member name */
	/* Greater at every start of this node (e.g. wall-clock microseconds at
	 * start), so that packets of an earlier run are replays. */
	uint64_t epoch;
	const uint8_t *key;          /* NULL/0: unauthenticated */
	size_t key_len;
	struct member_timing timing;
	uint64_t seed;               /* randomness of probe order and fanout */
	/* Send one packet; 0 or -1 (counted, never fatal). */
	int (*send)(void *ctx, const struct member_addr *to, const uint8_t *p, size_t len);
	void (*on_change)(void *ctx, const struct member_event *ev);
	/* Optional: a member's state digest differs from the one it sent
	 * before (first heard, or changed). */
	void (*on_digest)(void *ctx, const char *name, uint64_t digest);
	void *ctx;
};

struct member_info {
	const char *name;
	struct member_addr addr;
	enum member_state state;
	uint32_t incarnation;
	int64_t since;               /* when it entered state */
	int64_t last_heard;          /* 0: never */
	int64_t rtt_us;              /* last direct probe round trip, -1: none */
	bool has_digest;             /* a digest was heard from it */
	uint64_t digest;             /* its state digest, as last heard */
};

struct member;

/* NULL when the name is invalid or a timing field is out of range. */
struct member *member_new(const struct member_config *cfg, int64_t now);
void member_free(struct member *m);
/* Replace the configured list (this node's own entry is skipped).  New
 * members start alive; kept ones keep their state; removed ones are
 * forgotten without an event.  -1 (nothing changed) when a name is invalid
 * or repeated. */
int member_set_peers(struct member *m, const struct member_peer *peers, size_t n, int64_t now);
/* Tell every member we are alive (at start: a member that holds us dead
 * from an earlier run learns at once that we are back). */
void member_join(struct member *m, int64_t now);
/* Graceful leave: every member is told at once; we stop probing. */
void member_leave(struct member *m, int64_t now);
/* This node's state digest, sent in the header of every packet from now
 * on.  When it changes, every live member is also sent a gossip packet
 * carrying it, at most once per max(probe_interval, N x 10 ms) (so a
 * stream of changes costs at most 100 packets a second per node). */
void member_set_digest(struct member *m, uint64_t digest, int64_t now);
/* A packet received from `from`. */
void member_input(struct member *m, const struct member_addr *from, const uint8_t *p,
		  size_t len, int64_t now);
/* Run what is due; call at member_next_deadline() (later is tolerated and
 * detected as starvation). */
void member_tick(struct member *m, int64_t now);
int64_t member_next_deadline(const struct member *m);

size_t member_count(const struct member *m);            /* configured, self excluded */
int member_get(const struct member *m, size_t i, struct member_info *out);
/* -1 when no member has that name. */
int member_find(const struct member *m, const char *name, struct member_info *out);
const struct member_counters *member_counters(const struct member *m);
unsigned member_awareness(const struct member *m);     /* 0: healthy */
uint32_t member_incarnation(const struct member *m);
bool member_has_key(const struct member *m);
/* A key rotation (the memberlist Secret changed; NULL/0: no key).  For
 * MEMBER_KEY_GRACE_US packets still go out under the previous key (untagged
 * when there was none) and are accepted under either, so that nodes that
 * learn the new key later (each speaker's watch delivers the Secret on its
 * own) hear and are heard throughout: a rotation fails nothing over.  Then
 * only the new key is used.  A node that starts during the grace time with
 * the new key alone does not hear the others until it ends.  The same key
 * again changes nothing. */
#define MEMBER_KEY_GRACE_US (10 * 1000000LL)
void member_set_key(struct member *m, const uint8_t *key, size_t key_len, int64_t now);

/* ---------------------------------------------------------------- I/O */

#define MEMBER_KEY_MAX 4096
/* Read a shared key from a file holding it as text (--member-key FILE):
 * the file's bytes with trailing blanks and newlines removed, 1 to
 * MEMBER_KEY_MAX bytes.  0 with *key (malloc'd; the caller frees it) and
 * *len, or -1 with a message naming the file in why. */
int member_key_read(const char *path, uint8_t **key, size_t *len, char *why, size_t whylen);

struct ev_loop;
struct metrics_registry;
struct member_io;

struct member_io_config {
	const char *name;
	uint16_t port;               /* MEMBER_DEFAULT_PORT; 0: any free port (tests) */
	/* Bind address; NULL: the IPv6 wildcard, dual-stack (IPv4 peers are
	 * reached as v4-mapped addresses), or the IPv4 wildcard when the host
	 * has no IPv6. */
	const struct ip_addr *bind;
	const uint8_t *key;
	size_t key_len;
	/* Boot epoch, greater at every start (see member_config); 0: the wall
	 * clock in microseconds, which fails only if the clock steps back
	 * across a restart (a caller with a state file can persist
	 * max(clock, last + 1) instead). */
	uint64_t epoch;
	struct member_timing timing;
	void (*on_change)(void *ctx, const struct member_event *ev);
	void (*on_digest)(void *ctx, const char *name, uint64_t digest);
	void *ctx;
	struct metrics_registry *metrics;   /* NULL: no metrics */
};

/* Open the sockets and start the timer.  NULL with a message in why. */
struct member_io *member_io_new(struct ev_loop *loop, const struct member_io_config *cfg,
				char *why, size_t whylen);
void member_io_free(struct member_io *io);
int member_io_set_peers(struct member_io *io, const struct member_peer *peers, size_t n);
void member_io_join(struct member_io *io);
void member_io_set_digest(struct member_io *io, uint64_t digest);
void member_io_leave(struct member_io *io);
/* member_set_key() now. */
void member_io_set_key(struct member_io *io, const uint8_t *key, size_t key_len);
/* Stop sending and receiving, as if the node had died (for tests). */
void member_io_silence(struct member_io *io);
struct member *member_io_core(struct member_io *io);
/* The port the sockets are bound to (useful with port 0 in tests). */
uint16_t member_io_port(const struct member_io *io);
/* {"name","port","authenticated","incarnation","local_health",
 *  "timing":{"probe_interval_ms","probe_timeout_ms","suspicion_min_ms",
 *  "suspicion_max_ms"},"counters":{},
 *  "members":[{"name","address","port","state","incarnation","in_state_ms",
 *  "last_heard_ms_ago" (null: never),"rtt_ms" (null: none)}]} */
json_t *member_io_status_json(const struct member_io *io);

#endif
