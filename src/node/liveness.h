/*
 * liveness: which nodes may be elected, from the failure detector between
 * ironlb nodes (src/member) and, in Kubernetes, the Node condition Ready.
 *
 * The owner (`ironlb speaker`; `ironlb run` keeps its own set of down
 * nodes, fed through liveness_note_event(), beside its address table)
 * hands it every model it plans from.  liveness_sync() makes the
 * detector's members the model's Nodes' InternalIP addresses (starting
 * the detector once this node's own Node has one) and sets
 * node_obj.member_down on every node that may not be a Layer 2 candidate:
 * one the detector holds dead or left, and, when use_ready is set, one
 * whose Ready condition is False or Unknown (node_obj.not_ready: the
 * fallback when members cannot talk to each other).  The election itself
 * (src/announce) only reads member_down.
 *
 * When the detector's verdict on a node changes (dead, left, alive
 * again), on_change(arg) is called from a zero timer, after the
 * detector's own work: the owner plans again with a model passed through
 * liveness_sync() (or liveness_mark()), at once, without waiting for
 * anything else.
 */
#ifndef IRONLB_NODE_LIVENESS_H
#define IRONLB_NODE_LIVENESS_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

struct ev_loop;
struct hashmap;
struct member_event;
struct metrics_registry;
struct liveness;

struct liveness_opts {
	const char *node_name;
	uint16_t port;               /* MEMBER_DEFAULT_PORT; 0: any free port */
	bool use_ready;              /* Ready False/Unknown removes a node */
	/* What the warning about a missing key tells the user to do. */
	const char *key_hint;
	/* member_timing_named(): "default" (NULL) or "fast". */
	const char *timing;
	struct metrics_registry *metrics;   /* ironlb_member_*; NULL: none */
	void (*on_change)(void *arg);
	void *arg;
};

struct liveness *liveness_new(struct ev_loop *loop, const struct liveness_opts *o);
void liveness_free(struct liveness *l);

/* The shared key (NULL/0: none, unauthenticated, with a warning when the
 * detector starts).  Before the detector starts it is simply kept; after,
 * a different key is a rotation (member_set_key(): the previous one stays
 * in use for a grace time) and is logged. */
void liveness_set_key(struct liveness *l, const uint8_t *key, size_t key_len);

/* Members from m's Nodes; then liveness_mark(m). */
void liveness_sync(struct liveness *l, struct model *m);
/* Set member_down on m's nodes as the detector and the conditions say. */
void liveness_mark(const struct liveness *l, struct model *m);
/* Whether the node is held dead or left by the detector. */
bool liveness_down(const struct liveness *l, const char *node);

/* Apply one of the detector's state changes to a set of down nodes
 * (names; dead or left) and log what it means: 1 the node is now down,
 * 0 it is alive again, -1 nothing changed for the election (logged at
 * debug).  For owners that keep their own set (`ironlb run`). */
int liveness_note_event(struct hashmap *down, const struct member_event *ev);

/* Whether any other member is alive (or suspect): someone who takes
 * over at a graceful leave. */
bool liveness_others_alive(const struct liveness *l);
/* Graceful leave (SIGTERM): every member is told at once and takes over. */
void liveness_leave(struct liveness *l);
/* member_io_status_json() of the detector, or JSON null before it runs. */
json_t *liveness_status_json(const struct liveness *l);

#endif
