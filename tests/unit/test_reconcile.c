/*
 * The reconciler's timing rules on a real libev loop: quiet time, the
 * maximum delay under a steady stream of changes, spacing by the cost of
 * the last pass, the synced gate, retries, and stop with its drain.
 *
 * Every wait is a loop run with a deadline that ends as soon as the
 * awaited thing happened; only the checks that something did NOT happen
 * run the loop for a fixed (short) time.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/metrics.h"
#include "reconcile/reconciler.h"

/* Slack for a loaded machine and a sanitizer build: timers fire late, never
 * early. */
#define SLACK 0.15
/* Times are doubles of seconds since 1970: differences carry ~1e-7 s of
 * rounding. */
#define EPS 1e-6

struct rig {
	struct ev_loop *loop;
	struct reconciler *r;
	unsigned passes;
	double pass_at[256];       /* ev_time() at the start of each pass */
	double pass_cost;          /* seconds each pass spins */
	unsigned work;             /* units left; a pass takes one, says more */
	double changed_at;         /* when they came (ev_now) */
	unsigned stops, reloads;
	bool busy;                 /* what pending() says */
	/* a stream of changes */
	ev_timer stream;
	unsigned stream_left;
};

static void spin(double s)
{
	double end = ev_time() + s;
	while (ev_time() < end)
		;
}

static void on_pass(void *arg)
{
	struct rig *g = arg;
	if (g->passes < 256)
		g->pass_at[g->passes] = ev_time();
	g->passes++;
	if (g->pass_cost > 0)
		spin(g->pass_cost);
	if (g->work > 0 && --g->work > 0)
		reconciler_more(g->r, g->changed_at);
}

static void on_stop(void *arg)
{
	((struct rig *)arg)->stops++;
}

static bool on_pending(void *arg)
{
	return ((struct rig *)arg)->busy;
}

static void on_reload(void *arg)
{
	((struct rig *)arg)->reloads++;
}

static void rig_init(struct rig *g, struct reconciler_opts o)
{
	memset(g, 0, sizeof(*g));
	g->loop = ev_default_loop(0);
	ev_now_update(g->loop);
	o.pass = on_pass;
	o.stop = on_stop;
	o.pending = on_pending;
	o.arg = g;
	g->r = reconciler_new(g->loop, &o);
}

static void rig_free(struct rig *g)
{
	ev_timer_stop(g->loop, &g->stream);
	reconciler_free(g->r);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	*(bool *)w->data = true;
}

/* Run the loop until g->passes reaches n or `timeout` seconds passed;
 * whether it did. */
static bool run_until_passes(struct rig *g, unsigned n, double timeout)
{
	bool expired = false;
	ev_timer t;
	ev_timer_init(&t, on_deadline, timeout, 0.);
	t.data = &expired;
	ev_timer_start(g->loop, &t);
	while (g->passes < n && !expired)
		ev_run(g->loop, EVRUN_ONCE);
	ev_timer_stop(g->loop, &t);
	return g->passes >= n;
}

/* Run the loop for `s` seconds (to see that something does NOT happen). */
static void run_for(struct rig *g, double s)
{
	bool expired = false;
	ev_timer t;
	ev_timer_init(&t, on_deadline, s, 0.);
	t.data = &expired;
	ev_timer_start(g->loop, &t);
	while (!expired)
		ev_run(g->loop, EVRUN_ONCE);
}

static void on_stream(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rig *g = w->data;
	(void)loop;
	(void)revents;
	reconciler_changed(g->r);
	if (--g->stream_left == 0)
		ev_timer_stop(g->loop, w);
}

/* A change every `every` seconds, n of them. */
static void start_stream(struct rig *g, double every, unsigned n)
{
	ev_timer_init(&g->stream, on_stream, every, every);
	g->stream.data = g;
	g->stream_left = n;
	ev_timer_start(g->loop, &g->stream);
}

static void test_single_change_after_quiet(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.05, .max_delay = 1.0});
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 1, 2.0));   /* the pass at sync */
	assert_true(reconciler_ready(g.r));
	ev_now_update(g.loop);
	double t0 = ev_time();
	reconciler_changed(g.r);
	assert_true(run_until_passes(&g, 2, 2.0));
	double took = g.pass_at[1] - t0;
	assert_true(took >= 0.05 - 0.002);
	assert_true(took <= 0.05 + SLACK);
	struct reconciler_stats st;
	reconciler_stats(g.r, &st);
	assert_int_equal(st.passes, 2);
	assert_int_equal(st.changes, 1);
	assert_false(st.pending);
	rig_free(&g);
}

/* A burst within the quiet time is one pass. */
static void test_burst_is_one_pass(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.05, .max_delay = 1.0});
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 1, 2.0));
	for (int i = 0; i < 100; i++)
		reconciler_changed(g.r);
	assert_true(run_until_passes(&g, 2, 2.0));
	run_for(&g, 0.15);
	assert_int_equal(g.passes, 2);
	rig_free(&g);
}

/*
 * The starvation case: a change every 5 ms, while a pass needs 30 ms of
 * quiet.  Without the maximum delay there would be no pass at all; with it,
 * no change waits longer than max_delay and passes are no further apart.
 */
static void test_stream_bounded_by_max_delay(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.03, .max_delay = 0.1});
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 1, 2.0));
	start_stream(&g, 0.005, 200);   /* 1 s of changes */
	unsigned before = g.passes;
	while (g.stream_left > 0)
		assert_true(run_until_passes(&g, g.passes + 1, 0.1 + SLACK + 0.5));
	assert_true(g.passes - before >= 5);
	for (unsigned i = before + 1; i < g.passes && i < 256; i++)
		assert_true(g.pass_at[i] - g.pass_at[i - 1] <= 0.1 + SLACK);
	struct reconciler_stats st;
	reconciler_stats(g.r, &st);
	assert_true(st.longest_wait <= 0.1 + SLACK);
	assert_true(st.longest_wait >= 0.1 - 0.01);   /* the deadline, not the quiet, ended waits */
	rig_free(&g);
}

static void test_no_pass_before_synced(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.01, .max_delay = 0.05});
	reconciler_changed(g.r);
	reconciler_retry(g.r, 0);
	assert_false(reconciler_ready(g.r));
	run_for(&g, 0.2);   /* four times max_delay */
	assert_int_equal(g.passes, 0);
	reconciler_pass_now(g.r);   /* a pass on demand still runs */
	assert_int_equal(g.passes, 1);
	assert_false(reconciler_ready(g.r));
	reconciler_changed(g.r);
	run_for(&g, 0.2);
	assert_int_equal(g.passes, 1);
	/* Synced: the changes that came before give a pass at once. */
	double t0 = ev_time();
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 2, 2.0));
	assert_true(g.pass_at[1] - t0 <= SLACK);
	assert_true(reconciler_ready(g.r));
	run_for(&g, 0.1);
	assert_int_equal(g.passes, 2);
	rig_free(&g);
}

/* The next pass waits as long as the last one took (bounded). */
static void test_spacing_follows_cost(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.001, .max_delay = 5.0,
					       .cost_factor = 2.0, .max_spacing = 5.0});
	g.pass_cost = 0.05;
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 1, 2.0));
	double end = ev_time();
	reconciler_changed(g.r);
	assert_true(run_until_passes(&g, 2, 3.0));
	assert_true(g.pass_at[1] - end >= 2 * 0.05 - 0.01);
	assert_true(g.pass_at[1] - end <= 2 * 0.05 + SLACK);
	reconciler_free(g.r);

	/* Bounded by max_spacing. */
	rig_init(&g, (struct reconciler_opts){.quiet = 0.001, .max_delay = 5.0,
					       .cost_factor = 100.0, .max_spacing = 0.02});
	g.pass_cost = 0.05;
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 1, 2.0));
	end = ev_time();
	reconciler_changed(g.r);
	assert_true(run_until_passes(&g, 2, 3.0));
	assert_true(g.pass_at[1] - end <= 0.02 + SLACK);
	struct reconciler_stats st;
	reconciler_stats(g.r, &st);
	assert_true(st.last_pass >= 0.05 - EPS);
	assert_true(st.longest_pass >= 0.05 - EPS);
	rig_free(&g);
}

/* The maximum delay wins over the spacing. */
static void test_max_delay_beats_spacing(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.001, .max_delay = 0.05,
					       .cost_factor = 20.0, .max_spacing = 10.0});
	g.pass_cost = 0.05;   /* spacing 1 s */
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 1, 2.0));
	double t0 = ev_time();
	reconciler_changed(g.r);
	assert_true(run_until_passes(&g, 2, 3.0));
	assert_true(g.pass_at[1] - t0 <= 0.05 + SLACK);
	rig_free(&g);
}

/*
 * A pass that bounds its work and leaves the rest: the next one runs at
 * once, neither after the quiet time nor after the spacing its cost would
 * ask for, until nothing is left; the wait of what is left counts from
 * when it came, as the pass says.
 */
static void test_bounded_pass_takes_rest_at_once(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.5, .max_delay = 5.0,
					       .cost_factor = 100.0, .max_spacing = 2.0});
	g.pass_cost = 0.01;   /* spacing 1 s */
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 1, 2.0));
	run_for(&g, 1.1);   /* past the spacing of the pass at sync */
	g.work = 5;
	double t0 = ev_time();
	g.changed_at = ev_now(g.loop);
	reconciler_changed(g.r);
	assert_true(run_until_passes(&g, 6, 3.0));
	/* The first waited the quiet time... */
	assert_true(g.pass_at[1] - t0 >= 0.5 - 0.002);
	/* ...the rest followed at once: well within the quiet time (0.5 s)
	 * and the spacing (1 s) they would otherwise have waited. */
	for (unsigned i = 2; i < 6; i++)
		assert_true(g.pass_at[i] - g.pass_at[i - 1] <= 0.01 + 2 * SLACK);
	struct reconciler_stats st;
	reconciler_stats(g.r, &st);
	assert_false(st.pending);
	assert_true(st.last_wait >= g.pass_at[5] - t0 - 0.01 - EPS);
	assert_true(st.longest_wait >= 0.5 + 4 * 0.01 - 0.002);
	assert_int_equal(st.changes, 1);
	/* Nothing left: no more passes. */
	run_for(&g, 0.6);
	assert_int_equal(g.passes, 6);

	/* Outside a pass it is a change due at once (no quiet time). */
	run_for(&g, 1.1);
	t0 = ev_time();
	reconciler_more(g.r, ev_now(g.loop));
	assert_true(run_until_passes(&g, 7, 2.0));
	assert_true(g.pass_at[6] - t0 <= 2 * SLACK);
	/* Its wait counts from the time given, not from the changes before. */
	reconciler_stats(g.r, &st);
	assert_true(st.last_wait <= 2 * SLACK);
	rig_free(&g);
}

static void test_retry_and_cancel(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.001, .max_delay = 0.05});
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 1, 2.0));
	double t0 = ev_time();
	reconciler_retry(g.r, 0.1);
	/* A later retry does not put the earlier one off, and the pass
	 * takes both. */
	reconciler_retry(g.r, 5.0);
	assert_true(run_until_passes(&g, 2, 2.0));
	assert_true(g.pass_at[1] - t0 >= 0.1 - 0.002);
	run_for(&g, 0.2);
	assert_int_equal(g.passes, 2);
	reconciler_changed(g.r);
	reconciler_retry(g.r, 0.01);
	reconciler_cancel(g.r);
	run_for(&g, 0.15);
	assert_int_equal(g.passes, 2);
	struct reconciler_stats st;
	reconciler_stats(g.r, &st);
	assert_false(st.pending);
	rig_free(&g);
}

static void test_own_writes_counted_no_pass(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.001, .max_delay = 0.05});
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 1, 2.0));
	reconciler_own_write(g.r);
	reconciler_own_write(g.r);
	run_for(&g, 0.1);
	assert_int_equal(g.passes, 1);
	struct reconciler_stats st;
	reconciler_stats(g.r, &st);
	assert_int_equal(st.own_writes, 2);
	assert_int_equal(st.changes, 0);
	json_t *j = reconciler_status_json(g.r);
	assert_int_equal(json_integer_value(json_object_get(j, "passes")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "own_writes")), 2);
	assert_true(json_is_object(json_object_get(j, "timing")));
	json_decref(j);
	rig_free(&g);
}

static double metric(struct metrics_registry *reg, const char *name)
{
	double v = -1;
	assert_non_null(metrics_family_find(reg, name));
	assert_int_equal(metrics_get(metrics_family_find(reg, name), NULL, &v), 0);
	return v;
}

static void test_metrics(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.001, .max_delay = 0.05});
	g.pass_cost = 0.01;
	reconciler_synced(g.r);
	reconciler_pass_now(g.r);   /* before the registry: counted too */
	struct metrics_registry *reg = metrics_registry_new();
	reconciler_metrics(g.r, reg);
	assert_true(metric(reg, "ironlb_reconcile_passes_total") == 1);
	assert_true(metric(reg, "ironlb_reconcile_last_pass_seconds") >= 0.01 - EPS);
	reconciler_changed(g.r);
	reconciler_own_write(g.r);
	assert_true(run_until_passes(&g, 2, 2.0));
	assert_true(metric(reg, "ironlb_reconcile_passes_total") == 2);
	assert_true(metric(reg, "ironlb_reconcile_changes_total") == 1);
	assert_true(metric(reg, "ironlb_reconcile_own_writes_total") == 1);
	assert_true(metric(reg, "ironlb_reconcile_longest_pass_seconds") >= 0.01 - EPS);
	assert_true(metric(reg, "ironlb_reconcile_last_wait_seconds") >= 0.001 - 0.0005);
	assert_true(metric(reg, "ironlb_reconcile_longest_wait_seconds") >=
		    metric(reg, "ironlb_reconcile_last_wait_seconds"));
	rig_free(&g);
	metrics_registry_free(reg);
}

static void on_deadline_break(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	*(bool *)w->data = true;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until the reconciler ends it, or `timeout` seconds; whether
 * the reconciler did. */
static bool run_to_end(struct rig *g, double timeout, double *took)
{
	bool expired = false;
	ev_timer t;
	ev_timer_init(&t, on_deadline_break, timeout, 0.);
	t.data = &expired;
	ev_timer_start(g->loop, &t);
	double t0 = ev_time();
	ev_run(g->loop, 0);
	*took = ev_time() - t0;
	ev_timer_stop(g->loop, &t);
	return !expired;
}

static void on_not_busy(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	((struct rig *)w->data)->busy = false;
}

static void on_raise(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	raise(SIGTERM);
}

/* SIGTERM: the stop callback, then the loop runs until nothing is pending
 * any more, then ends; no pass after the stop. */
static void test_stop_drains(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.quiet = 0.001, .max_delay = 0.05, .drain = 5.0,
					       .signals = true});
	reconciler_synced(g.r);
	assert_true(run_until_passes(&g, 1, 2.0));
	g.busy = true;
	ev_timer work;
	ev_timer_init(&work, on_not_busy, 0.1, 0.);
	work.data = &g;
	ev_timer_start(g.loop, &work);
	reconciler_changed(g.r);
	raise(SIGTERM);
	double took;
	assert_true(run_to_end(&g, 3.0, &took));
	assert_int_equal(g.stops, 1);
	assert_false(g.busy);            /* it waited for the work */
	assert_true(took >= 0.1 - 0.01);
	assert_int_equal(g.passes, 1);   /* the change after the stop was dropped */
	assert_true(reconciler_stopping(g.r));
	assert_false(reconciler_ready(g.r));
	reconciler_changed(g.r);
	reconciler_pass_now(g.r);
	assert_int_equal(g.passes, 1);
	rig_free(&g);
}

/* The drain is bounded; a second signal ends it at once. */
static void test_stop_drain_bounded(void **state)
{
	(void)state;
	struct rig g;
	rig_init(&g, (struct reconciler_opts){.drain = 0.1, .signals = true});
	g.busy = true;
	raise(SIGINT);
	double took;
	assert_true(run_to_end(&g, 3.0, &took));
	assert_true(took >= 0.1 - 0.01);
	assert_true(took <= 0.1 + SLACK);
	rig_free(&g);

	rig_init(&g, (struct reconciler_opts){.drain = 60.0, .signals = true});
	g.busy = true;
	raise(SIGTERM);
	ev_timer again;
	ev_timer_init(&again, on_raise, 0.05, 0.);
	ev_timer_start(g.loop, &again);
	assert_true(run_to_end(&g, 3.0, &took));
	assert_int_equal(g.stops, 1);
	assert_true(took <= 1.0);
	rig_free(&g);

	/* Nothing pending: the loop ends at the signal. */
	rig_init(&g, (struct reconciler_opts){.drain = 60.0, .signals = true});
	raise(SIGTERM);
	assert_true(run_to_end(&g, 3.0, &took));
	assert_true(took <= SLACK);
	rig_free(&g);
}

static void test_sighup_reloads(void **state)
{
	(void)state;
	struct rig g;
	memset(&g, 0, sizeof(g));
	g.loop = ev_default_loop(0);
	struct reconciler_opts o = {.quiet = 0.001, .max_delay = 0.05, .signals = true,
				    .pass = on_pass, .reload = on_reload, .arg = &g};
	g.r = reconciler_new(g.loop, &o);
	raise(SIGHUP);
	bool expired = false;
	ev_timer t;
	ev_timer_init(&t, on_deadline, 2.0, 0.);
	t.data = &expired;
	ev_timer_start(g.loop, &t);
	while (!g.reloads && !expired)
		ev_run(g.loop, EVRUN_ONCE);
	ev_timer_stop(g.loop, &t);
	assert_int_equal(g.reloads, 1);
	assert_int_equal(g.passes, 0);
	reconciler_free(g.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_change_after_quiet),
		cmocka_unit_test(test_burst_is_one_pass),
		cmocka_unit_test(test_stream_bounded_by_max_delay),
		cmocka_unit_test(test_no_pass_before_synced),
		cmocka_unit_test(test_spacing_follows_cost),
		cmocka_unit_test(test_max_delay_beats_spacing),
		cmocka_unit_test(test_bounded_pass_takes_rest_at_once),
		cmocka_unit_test(test_retry_and_cancel),
		cmocka_unit_test(test_own_writes_counted_no_pass),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_stop_drains),
		cmocka_unit_test(test_stop_drain_bounded),
		cmocka_unit_test(test_sighup_reloads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
