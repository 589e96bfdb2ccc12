/*
 * The reconciler: the scheduling shell that `ironlb run`, `ironlb
 * controller` and `ironlb speaker` share around their passes.
 *
 * Sources (the manifest directory's inotify watch, the API reflectors) say
 * that something changed with reconciler_changed(); the reconciler decides
 * when the owner's pass runs.  The rules (docs/architecture.md, "The
 * reconciler"):
 *
 * - quiet: a pass waits until no change came for `quiet` seconds, so a
 *   burst (a `cp *.yaml`, a thousand Services getting addresses) is one
 *   pass;
 * - max_delay: but never longer than `max_delay` after the first change it
 *   has not yet taken, so a steady stream of changes cannot postpone passes
 *   for ever;
 * - spacing: a pass starts at least min(cost_factor x the last pass's
 *   duration, max_spacing) after the last one ended, so that under a burst
 *   a large cluster spends a bounded share of its time in passes, each
 *   taking more changes at once (max_delay still wins);
 * - more: a pass that bounds its work (`run` reads at most so many changed
 *   files in one) says with reconciler_more() that it left changes for
 *   the next one, which then runs at once, with no quiet time and no
 *   spacing: under a stream of changes passes stay short and follow each
 *   other, and the loop serves everything else between two of them;
 *   the owner says when the oldest change it left came, from which the
 *   wait figures count;
 * - synced: no pass runs before reconciler_synced() (the sources have their
 *   first complete view); changes before then are kept and give one pass
 *   at once when it comes;
 * - signals: SIGTERM and SIGINT call the owner's stop callback, then wait
 *   while its pending callback says work is under way (requests to the API
 *   server), for `drain` seconds at most, and end the loop; a second signal
 *   ends it at once.  SIGHUP calls the reload callback (when there is one).
 *
 * It only schedules: a pass is the owner's function, called from the event
 * loop.  The counters (passes, durations, the longest wait between a change
 * and the pass that took it) are read with reconciler_stats() or
 * reconciler_status_json() for /status, and kept as ironlb_reconcile_*
 * metrics in the owner's registry (reconciler_metrics()); reconciler_ready()
 * is what /healthz answers.
 */
#ifndef IRONLB_RECONCILE_RECONCILER_H
#define IRONLB_RECONCILE_RECONCILER_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>

struct reconciler_opts {
	double quiet;        /* seconds without a change before a pass */
	double max_delay;    /* at most this long after the first change taken */
	double cost_factor;  /* spacing = cost_factor x the last pass's duration... */
	double max_spacing;  /* ...at most this */
	double drain;        /* seconds the stop waits for pending work */
	bool signals;        /* handle SIGTERM, SIGINT (and SIGHUP with reload) */

	void (*pass)(void *arg);      /* required */
	void (*stop)(void *arg);      /* on SIGTERM/SIGINT, before the drain */
	bool (*pending)(void *arg);   /* work still under way, drained at stop */
	void (*reload)(void *arg);    /* on SIGHUP; NULL leaves SIGHUP alone */
	void *arg;
};

/* Defaults per user (docs/operations.md, "Reconciler timing").  `run`
 * gathers a burst of file writes for 1 ms as it always has; the controller
 * and the speaker wait 5 ms after a watch event.  All three space passes by
 * the cost of the last one (at most 0.5 s) and never let a change wait more
 * than 0.5 s for its pass; the Kubernetes commands give requests under way
 * 2 s to finish at exit. */
#define RECONCILER_RUN_DEFAULTS                                                          \
	.quiet = 0.001, .max_delay = 0.5, .cost_factor = 1.0, .max_spacing = 0.5,         \
	.drain = 0.0, .signals = true
#define RECONCILER_K8S_DEFAULTS                                                          \
	.quiet = 0.005, .max_delay = 0.5, .cost_factor = 1.0, .max_spacing = 0.5,         \
	.drain = 2.0, .signals = true

struct reconciler_stats {
	unsigned long passes;        /* passes run */
	unsigned long changes;       /* reconciler_changed() calls */
	unsigned long own_writes;    /* changes the owner recognised as its own writes */
	double last_pass;            /* seconds the last pass took */
	double longest_pass;         /* seconds the longest pass took */
	double last_wait;            /* first pending change to its pass, last pass (s) */
	double longest_wait;         /* the longest such wait so far (s) */
	bool synced, stopping;
	bool pending;                /* a pass is due */
};

struct reconciler;

struct reconciler *reconciler_new(struct ev_loop *loop, const struct reconciler_opts *o);
void reconciler_free(struct reconciler *r);

/* Something changed: a pass is due by the rules above. */
void reconciler_changed(struct reconciler *r);
/* Called by a pass that took only part of the changes (it bounds its
 * work): the rest are due at once, without the quiet time or the spacing.
 * `since`: when the oldest change left came (the loop's time, ev_now()),
 * from which its wait is counted (no earlier than the first change the
 * pass was given).  Outside a pass: as if a change came at `since` that
 * is due at once. */
void reconciler_more(struct reconciler *r, double since);
/* A change the owner recognised as an echo of its own write: counted, no
 * pass. */
void reconciler_own_write(struct reconciler *r);
/* A pass `after` seconds from now at the latest (a retry after a failed
 * request; 0: as soon as the spacing allows).  Not a change: it does not
 * move the quiet time or the max_delay deadline. */
void reconciler_retry(struct reconciler *r, double after);
/* Drop what is due (the controller lost its lease: it writes nothing). */
void reconciler_cancel(struct reconciler *r);
/* The sources are synced: passes may run (the first at once). */
void reconciler_synced(struct reconciler *r);
/* Run a pass now, outside the timers (a start, SIGHUP), counted as any. */
void reconciler_pass_now(struct reconciler *r);
/* Stop as on SIGTERM: the stop callback, the drain, the loop's end. */
void reconciler_stop(struct reconciler *r);

/* synced, and at least one pass done. */
bool reconciler_ready(const struct reconciler *r);
bool reconciler_stopping(const struct reconciler *r);
void reconciler_stats(const struct reconciler *r, struct reconciler_stats *s);
const struct reconciler_opts *reconciler_opts(const struct reconciler *r);
/* The stats and timing rules as a JSON object, for /status. */
json_t *reconciler_status_json(const struct reconciler *r);

struct metrics_registry;
/* Register the ironlb_reconcile_* families in reg (docs/operations.md) and
 * keep them up to date from now on; reg must outlive r's last pass. */
void reconciler_metrics(struct reconciler *r, struct metrics_registry *reg);

#endif
