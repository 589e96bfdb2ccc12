/*
 * The reconciler (see reconciler.h): one timer for the next pass, signal
 * watchers, and at stop a drain timer with a prepare watcher that ends the
 * loop once the owner has nothing under way.
 *
 * Times are the loop's (ev_now): changes are stamped when the loop hands
 * them over, and the loop's clock is brought up to date after each pass,
 * whose duration is measured with ev_time().
 */
#include "reconcile/reconciler.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"

struct reconciler {
	struct ev_loop *loop;
	struct reconciler_opts o;
	ev_timer timer;           /* the next pass */
	ev_timer drain_timer;     /* the bound of the drain at stop */
	ev_prepare drain_prepare;   /* before the loop blocks, while draining */
	ev_signal sig_term, sig_int, sig_hup;

	bool synced, stopping, in_pass;
	bool have_change;         /* changes not yet taken by a pass */
	bool more;                /* the owner left some for the next pass */
	double more_since;        /* when the oldest of those came */
	double first_change, last_change;
	bool have_retry;
	double retry_at;
	double last_end;          /* when the last pass ended (ev_now) */

	struct reconciler_stats st;

	/* ironlb_reconcile_*, when the owner has a registry */
	struct metrics_family *m_passes, *m_changes, *m_own_writes, *m_last_pass,
		*m_longest_pass, *m_last_wait, *m_longest_wait;
};

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

static double max_d(double a, double b)
{
	return a > b ? a : b;
}

/* When the next pass is due, by the rules of reconciler.h; INFINITY when
 * none is. */
static double due_at(const struct reconciler *r)
{
	/* The rest of a bounded pass: at once, with no quiet time and no
	 * spacing (the pass was short because it was bounded). */
	if (r->more)
		return ev_now(r->loop);
	double earliest = -INFINITY;
	if (r->st.passes)
		earliest = r->last_end + min_d(r->o.cost_factor * r->st.last_pass, r->o.max_spacing);
	double due = INFINITY;
	if (r->have_change) {
		double d = max_d(r->last_change + r->o.quiet, earliest);
		due = min_d(d, r->first_change + r->o.max_delay);
	}
	if (r->have_retry)
		due = min_d(due, max_d(r->retry_at, earliest));
	return due;
}

static void arm(struct reconciler *r)
{
	ev_timer_stop(r->loop, &r->timer);
	/* In a pass, the pass arms the timer when it is done. */
	if (!r->synced || r->stopping || r->in_pass)
		return;
	double due = due_at(r);
	if (due == INFINITY)
		return;
	double after = due - ev_now(r->loop);
	ev_timer_set(&r->timer, after > 0 ? after : 0., 0.);
	ev_timer_start(r->loop, &r->timer);
}

static void count(struct metrics_family *f)
{
	if (f)
		metrics_inc(f, NULL);
}

/* The gauges, after a pass (or when the families are registered). */
static void metrics_gauges(const struct reconciler *r)
{
	struct metrics_family *f[4] = {r->m_last_pass, r->m_longest_pass, r->m_last_wait,
				       r->m_longest_wait};
	double v[4] = {r->st.last_pass, r->st.longest_pass, r->st.last_wait,
		       r->st.longest_wait};
	for (int i = 0; i < 4; i++)
		if (f[i])
			metrics_set(f[i], NULL, v[i]);
}

static void run_pass(struct reconciler *r)
{
	ev_timer_stop(r->loop, &r->timer);
	double t0 = ev_time();
	if (r->have_change) {
		r->st.last_wait = max_d(t0 - r->first_change, 0.);
		r->st.longest_wait = max_d(r->st.longest_wait, r->st.last_wait);
	} else {
		r->st.last_wait = 0;
	}
	/* Changes that come while the pass runs (none from this loop, but
	 * the owner may call in) are for the next one. */
	bool had = r->have_change;
	double first = r->first_change;
	r->have_change = false;
	r->have_retry = false;
	r->more = false;
	r->in_pass = true;
	r->o.pass(r->o.arg);
	r->in_pass = false;
	if (r->more) {
		/* What the pass left has waited since the owner says, which
		 * is no earlier than the first change the pass was given. */
		double since = r->more_since;
		if (had && since < first)
			since = first;
		if (since > t0)
			since = t0;
		if (!r->have_change || since < r->first_change)
			r->first_change = since;
		if (!r->have_change)
			r->last_change = since;
		r->have_change = true;
	}
	double took = max_d(ev_time() - t0, 0.);
	ev_now_update(r->loop);
	r->last_end = ev_now(r->loop);
	r->st.passes++;
	r->st.last_pass = took;
	r->st.longest_pass = max_d(r->st.longest_pass, took);
	count(r->m_passes);
	metrics_gauges(r);
	if (log_enabled(LOG_DEBUG)) {
		char t[32], w[32];
		snprintf(t, sizeof(t), "%.6f", took);
		snprintf(w, sizeof(w), "%.6f", r->st.last_wait);
		log_debug("pass done", "seconds", t, "waited", w, NULL);
	}
	arm(r);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	run_pass(w->data);
}

static void drain_done(struct reconciler *r)
{
	ev_timer_stop(r->loop, &r->drain_timer);
	ev_prepare_stop(r->loop, &r->drain_prepare);
	ev_break(r->loop, EVBREAK_ALL);
}

/* A prepare watcher runs after every callback of an iteration, just before
 * the loop would block: the last request's callback has run by then. */
static void on_drain_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct reconciler *r = w->data;
	(void)loop;
	(void)revents;
	if (!r->o.pending || !r->o.pending(r->o.arg))
		drain_done(r);
}

static void on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reconciler *r = w->data;
	(void)loop;
	(void)revents;
	char b[32];
	snprintf(b, sizeof(b), "%g", r->o.drain);
	log_warn("requests still under way at exit; not waiting longer", "waited_seconds", b,
		 NULL);
	drain_done(r);
}

void reconciler_stop(struct reconciler *r)
{
	if (r->stopping) {
		/* A second signal: no more waiting. */
		drain_done(r);
		return;
	}
	r->stopping = true;
	r->st.stopping = true;
	ev_timer_stop(r->loop, &r->timer);
	if (r->o.stop)
		r->o.stop(r->o.arg);
	if (!r->o.pending || !r->o.pending(r->o.arg) || r->o.drain <= 0) {
		ev_break(r->loop, EVBREAK_ALL);
		return;
	}
	ev_timer_set(&r->drain_timer, r->o.drain, 0.);
	ev_timer_start(r->loop, &r->drain_timer);
	ev_prepare_start(r->loop, &r->drain_prepare);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct reconciler *r = w->data;
	(void)loop;
	(void)revents;
	if (w->signum == SIGHUP) {
		if (!r->stopping && r->o.reload)
			r->o.reload(r->o.arg);
		return;
	}
	log_info(r->stopping ? "stopping now" : "stopping", "signal",
		 w->signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
	reconciler_stop(r);
}

struct reconciler *reconciler_new(struct ev_loop *loop, const struct reconciler_opts *o)
{
	struct reconciler *r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->o = *o;
	ev_timer_init(&r->timer, on_timer, 0., 0.);
	r->timer.data = r;
	ev_timer_init(&r->drain_timer, on_drain_timeout, 0., 0.);
	r->drain_timer.data = r;
	ev_prepare_init(&r->drain_prepare, on_drain_prepare);
	r->drain_prepare.data = r;
	ev_signal_init(&r->sig_term, on_signal, SIGTERM);
	ev_signal_init(&r->sig_int, on_signal, SIGINT);
	ev_signal_init(&r->sig_hup, on_signal, SIGHUP);
	r->sig_term.data = r->sig_int.data = r->sig_hup.data = r;
	if (o->signals) {
		ev_signal_start(loop, &r->sig_term);
		ev_signal_start(loop, &r->sig_int);
		if (o->reload)
			ev_signal_start(loop, &r->sig_hup);
		/* A client that goes away mid-response must not end the daemon. */
		signal(SIGPIPE, SIG_IGN);
	}
	return r;
}

void reconciler_free(struct reconciler *r)
{
	if (!r)
		return;
	ev_timer_stop(r->loop, &r->timer);
	ev_timer_stop(r->loop, &r->drain_timer);
	ev_prepare_stop(r->loop, &r->drain_prepare);
	ev_signal_stop(r->loop, &r->sig_term);
	ev_signal_stop(r->loop, &r->sig_int);
	ev_signal_stop(r->loop, &r->sig_hup);
	free(r);
}

void reconciler_changed(struct reconciler *r)
{
	double now = ev_now(r->loop);
	r->st.changes++;
	count(r->m_changes);
	if (!r->have_change) {
		r->have_change = true;
		r->first_change = now;
	}
	r->last_change = now;
	arm(r);
}

void reconciler_own_write(struct reconciler *r)
{
	r->st.own_writes++;
	count(r->m_own_writes);
}

void reconciler_retry(struct reconciler *r, double after)
{
	double at = ev_now(r->loop) + (after > 0 ? after : 0);
	if (!r->have_retry || at < r->retry_at)
		r->retry_at = at;
	r->have_retry = true;
	arm(r);
}

void reconciler_more(struct reconciler *r, double since)
{
	r->more = true;
	r->more_since = since;
	if (!r->in_pass) {
		double now = ev_now(r->loop);
		if (since > now)
			since = now;
		if (!r->have_change) {
			r->have_change = true;
			r->first_change = r->last_change = since;
		} else if (since < r->first_change) {
			r->first_change = since;
		}
		arm(r);
	}
}

void reconciler_cancel(struct reconciler *r)
{
	r->more = false;
	r->have_change = false;
	r->have_retry = false;
	ev_timer_stop(r->loop, &r->timer);
}

void reconciler_synced(struct reconciler *r)
{
	if (r->synced)
		return;
	r->synced = true;
	r->st.synced = true;
	reconciler_retry(r, 0);
}

void reconciler_pass_now(struct reconciler *r)
{
	if (r->stopping || r->in_pass)
		return;
	run_pass(r);
}

bool reconciler_ready(const struct reconciler *r)
{
	return r->synced && r->st.passes > 0 && !r->stopping;
}

bool reconciler_stopping(const struct reconciler *r)
{
	return r->stopping;
}

void reconciler_stats(const struct reconciler *r, struct reconciler_stats *s)
{
	*s = r->st;
	s->pending = (r->have_change || r->have_retry) && !r->stopping;
}

const struct reconciler_opts *reconciler_opts(const struct reconciler *r)
{
	return &r->o;
}

json_t *reconciler_status_json(const struct reconciler *r)
{
	struct reconciler_stats s;
	reconciler_stats(r, &s);
	return json_pack("{s:b, s:b, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:{s:f, s:f, s:f, s:f}}",
			 "synced", s.synced, "pending", s.pending, "passes",
			 (json_int_t)s.passes, "changes", (json_int_t)s.changes, "own_writes",
			 (json_int_t)s.own_writes, "last_pass_seconds", s.last_pass,
			 "longest_pass_seconds", s.longest_pass, "last_wait_seconds",
			 s.last_wait, "longest_wait_seconds", s.longest_wait, "timing", "quiet",
			 r->o.quiet, "max_delay", r->o.max_delay, "cost_factor",
			 r->o.cost_factor, "max_spacing", r->o.max_spacing);
}

void reconciler_metrics(struct reconciler *r, struct metrics_registry *reg)
{
	r->m_passes = metrics_family_add(reg, "ironlb_reconcile_passes_total",
					 "Reconcile passes run.", METRICS_COUNTER, NULL);
	r->m_changes = metrics_family_add(reg, "ironlb_reconcile_changes_total",
					  "Changes from the sources (files, watches) that asked "
					  "for a pass.",
					  METRICS_COUNTER, NULL);
	r->m_own_writes = metrics_family_add(reg, "ironlb_reconcile_own_writes_total",
					     "Watch events recognised as this process's own "
					     "writes, which asked for no pass.",
					     METRICS_COUNTER, NULL);
	r->m_last_pass = metrics_family_add(reg, "ironlb_reconcile_last_pass_seconds",
					    "How long the last pass took.", METRICS_GAUGE, NULL);
	r->m_longest_pass = metrics_family_add(reg, "ironlb_reconcile_longest_pass_seconds",
					       "How long the longest pass took.", METRICS_GAUGE,
					       NULL);
	r->m_last_wait = metrics_family_add(reg, "ironlb_reconcile_last_wait_seconds",
					    "Time from the first change the last pass took to "
					    "that pass.",
					    METRICS_GAUGE, NULL);
	r->m_longest_wait = metrics_family_add(reg, "ironlb_reconcile_longest_wait_seconds",
					       "The longest time a change waited for its pass.",
					       METRICS_GAUGE, NULL);
	/* What happened before (a start pass) is counted too. */
	struct metrics_family *f[3] = {r->m_passes, r->m_changes, r->m_own_writes};
	unsigned long v[3] = {r->st.passes, r->st.changes, r->st.own_writes};
	for (int i = 0; i < 3; i++)
		if (f[i] && v[i])
			metrics_add(f[i], NULL, (double)v[i]);
	metrics_gauges(r);
}
