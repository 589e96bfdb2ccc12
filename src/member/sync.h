/*
 * The state exchange between members: each node's view of what it holds
 * (every Service's addresses, when they were allocated, and whether this
 * node announces it), too large for a datagram at 100,000 Services, so it
 * travels over TCP on the member port.
 *
 *   sync_msg.c  the wire format (pure): a pull request and a state
 *               answer, both HMAC-SHA256-tagged under the member key; the
 *               answer's tag covers the requester's fresh nonce, so an
 *               answer cannot be replayed;
 *   sync_io.c   the binding: a TCP listener on the member port and
 *               non-blocking pulls, bounded (connections at once, bytes,
 *               time, pulls per second per peer).
 *
 * When to pull is the caller's: the member protocol carries each node's
 * state digest in the header of every packet (member_set_digest()), and
 * the caller pulls a member whose digest differs from the one it last
 * pulled (as memberlist's push-pull, driven by a digest instead of a
 * period).  docs/member-protocol.md describes the format.
 */
#ifndef IRONLB_MEMBER_SYNC_H
#define IRONLB_MEMBER_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "member/member.h"
#include "net/ip.h"

#define SYNC_MAGIC 0x494c4253U       /* "ILBS" */
#define SYNC_VERSION 1
#define SYNC_NONCE_LEN 16
#define SYNC_KEY_MAX 512             /* "namespace/name" */
/* An answer never exceeds this many bytes (100,000 dual-stack Services
 * take about 6 MB) nor this many entries. */
#define SYNC_MSG_MAX (64u << 20)
#define SYNC_ENTRIES_MAX 1000000u
#define SYNC_REQUEST_MAX 600         /* a request: header, name, nonce, tag */

enum sync_msg_type {
	SYNC_MSG_PULL = 1,           /* "send me your state" */
	SYNC_MSG_STATE = 2,          /* the answer */
};

#define SYNC_FLAG_TAG 0x01           /* a 32-byte tag ends the message */
#define SYNC_FLAG_SETTLED 0x02       /* STATE: the sender adopted the members' table */
#define SYNC_ENTRY_ANNOUNCING 0x01   /* the sender announces this Service */

/* One Service as a node holds it. */
struct sync_entry {
	char *key;                   /* "namespace/name" */
	size_t naddrs;               /* 0..2 */
	struct ip_addr addrs[2];     /* ingress order */
	uint64_t stamp;              /* when the addresses were allocated (wall clock, us) */
	bool announcing;
	uint64_t since;              /* announcing: since when (wall clock, us) */
};

/* A node's state: its entries sorted by key, unique. */
struct sync_state {
	bool settled;
	uint64_t digest;
	size_t n;
	struct sync_entry *entries;
};

void sync_state_free(struct sync_state *s);
/* 64-bit hash of an entry (key, addresses, stamp, announcing).  A state's
 * digest is the XOR of its entries' hashes (and a constant when settled),
 * so a holder can keep it current one change at a time. */
uint64_t sync_entry_hash(const struct sync_entry *e);
uint64_t sync_state_digest(const struct sync_state *s);

struct sync_msg {
	enum sync_msg_type type;
	bool tagged;
	char sender[MEMBER_NAME_MAX + 1];
	uint8_t nonce[SYNC_NONCE_LEN];
	struct sync_state state;     /* STATE (settled from the flag) */
};

enum sync_msg_err {
	SYNC_MSG_OK = 0,
	SYNC_MSG_SHORT,              /* a field runs past the end */
	SYNC_MSG_TOO_LONG,
	SYNC_MSG_BAD_MAGIC,
	SYNC_MSG_BAD_VERSION,
	SYNC_MSG_BAD_TYPE,
	SYNC_MSG_BAD_FLAGS,
	SYNC_MSG_BAD_NAME,
	SYNC_MSG_BAD_KEY,            /* empty, too long, not printable, or out of order */
	SYNC_MSG_BAD_ADDR,
	SYNC_MSG_TOO_MANY,
	SYNC_MSG_TRAILING,
	SYNC_MSG_ERR_COUNT,
};
const char *sync_msg_err_str(enum sync_msg_err e);

/* Decode one message (without the 4-byte length that frames it on the
 * stream).  0, or -1 with *why set; out->state is freed by
 * sync_state_free() either way.  The tag is located, not checked. */
int sync_msg_decode(const uint8_t *p, size_t len, struct sync_msg *out, enum sync_msg_err *why);
bool sync_msg_tag_ok(const uint8_t *p, size_t len, const uint8_t *key, size_t key_len);
/* Append a framed message (4-byte length, then the message and its tag
 * when key_len > 0) to w.  -1 when a name or key is invalid or the size
 * exceeds the bounds. */
int sync_msg_encode(struct wbuf *w, const struct sync_msg *m, const uint8_t *key,
		    size_t key_len);

/* ---------------------------------------------------------------- table */

/*
 * The address table the members agree on (pure; every node computes it
 * alike from the same holdings):
 *   - per Service, the holding with the oldest allocation wins: the least
 *     stamp, then the least node name;
 *   - per address, when the winners of two Services hold it, the oldest
 *     allocation keeps it (least stamp, then least Service key); the other
 *     Service loses that address and is allocated another one.
 * An address in use thus never moves for a newer claim.  The caller gives
 * only the holdings that count: those of live members that are settled
 * (a node that starts or returns counts only once it has adopted the
 * table), and its own once it is settled.
 */
struct sync_holding {
	const char *node;
	const struct sync_state *state;
};

struct sync_agreed {
	const char *key;             /* points into the holdings */
	const char *node;            /* whose holding won */
	size_t naddrs;               /* 0..2, less than the holding's when one was lost */
	struct ip_addr addrs[2];
	uint64_t stamp;
	bool lost;                   /* an address went to an older allocation */
};

struct sync_table {
	size_t n;
	struct sync_agreed *v;       /* sorted by key */
};

void sync_resolve(const struct sync_holding *h, size_t nh, struct sync_table *out);
const struct sync_agreed *sync_table_find(const struct sync_table *t, const char *key);
void sync_table_free(struct sync_table *t);

/* ---------------------------------------------------------------- I/O */

struct ev_loop;
struct sync_io;

struct sync_io_config {
	const char *name;            /* this node */
	uint16_t port;               /* TCP, the member port */
	const struct ip_addr *bind;  /* NULL: IPv6 wildcard, dual-stack */
	const uint8_t *key;
	size_t key_len;
	/* Whether a pulling node is a configured member (others are refused). */
	bool (*is_member)(void *ctx, const char *name);
	/* This node's current state, encoded for each pull. */
	const struct sync_state *(*local)(void *ctx);
	/* A pull from `name` succeeded: *st is the caller's to keep (it may
	 * move the entries out and free the rest with sync_state_free()). */
	void (*on_state)(void *ctx, const char *name, struct sync_state *st);
	void *ctx;
};

struct sync_io *sync_io_new(struct ev_loop *loop, const struct sync_io_config *cfg, char *why,
			    size_t whylen);
void sync_io_free(struct sync_io *io);
/* Pull `name`'s state from addr (its member address; the port is the
 * member port).  A pull already under way is repeated once it ends; pulls
 * of one member start at most every SYNC_PULL_GAP_MS; a failed one is
 * tried again SYNC_RETRIES times, SYNC_RETRY_S apart. */
void sync_io_pull(struct sync_io *io, const char *name, const struct member_addr *addr);
uint16_t sync_io_port(const struct sync_io *io);
/* {"pulls","pull_errors","served","refused","bytes_in","bytes_out"} */
json_t *sync_io_status_json(const struct sync_io *io);

#define SYNC_PULL_GAP_MS 50
#define SYNC_RETRIES 3
#define SYNC_RETRY_S 0.5
#define SYNC_CONNS_MAX 16            /* served at once; more wait in the backlog */
#define SYNC_TIMEOUT_S 10.0          /* a connection that takes longer is closed */

#endif
