/*
 * Property test of the live pipeline (pipeline_step): seeded random
 * sequences of store changes, as `ironlb run` makes them from files
 * (each Service and each EndpointSlice in its own file, the configuration
 * objects in one file rewritten as a whole), including Services that fail
 * (an unparsable loadBalancerIPs, an unknown pool), broken configuration
 * objects, files that cannot be read, and deletes.  The same changes go
 * into two pipelines:
 *   - the live one: pipeline_step() on a long-lived model and allocator,
 *     then the Layer 2 and BGP planners updated with the Services the step
 *     names, or reset after a whole pass (what ironlb run does);
 *   - the reference: pipeline_build() of the whole store, a new allocator
 *     running pipeline_allocate() with every Service holding what the live
 *     allocator gave it (as its status), and announce_l2()/announce_bgp().
 * After EVERY step they must agree on the verdict (configuration, its
 * errors, failed Services and their messages, objects left out), the
 * diagnostics, the Services in force, each Service's addresses, pools and
 * failure, the pools' counters, the Layer 2 plan and the BGP routes.
 * IRONLB_PROPERTY_SEED=N and IRONLB_PROPERTY_STEPS=N replay one seed.
 *
 * The same again as the controller and the speaker feed the store
 * (api_mode): every Service and EndpointSlice one object at a time into
 * one source (pipeline_upsert(), pipeline_delete(), what a watch event
 * does), the configuration as a whole into another; EndpointSlice
 * changes are then steps too.
 *
 * The object generators and comparisons are test_incremental.c's (the
 * same objects, one level up): it is included, its own test left unused.
 */
#pragma GCC diagnostic ignored "-Wunused-function"
#define main test_incremental_main
int test_incremental_main(void);
#include "test_incremental.c"
#undef main

#include "pipeline/pipeline.h"

/* Each object in its own source ("file"); the configuration in one. */
static const char *const config_src = "config.yaml";

struct pworld {
	struct world w;
	bool broken_pool;      /* config.yaml holds a pool with a bad range */
};

struct side {
	struct pipeline *p;
};

static struct tree *clone_of(const char *text)
{
	return tree_clone(tree_of(text));
}

static const char broken_pool_yaml[] =
	"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
	"metadata: {name: pbad, namespace: metallb-system}\n"
	"spec: {addresses: [10.99.0.0/33]}\n";

/* A BGPAdvertisement, most often one the pools accept (an aggregation
 * length longer than a pool's prefix is refused, and keeps the whole
 * configuration invalid until it changes again). */
static char *gen_bgp_mostly_valid(int k)
{
	char *y = gen_bgp(k);
	if (coin(97)) {
		char *at = strstr(y, "aggregationLength: 29\n");
		if (at)
			memcpy(at + strlen("aggregationLength: "), "30", 2);
		at = strstr(y, "aggregationLengthV6: 125\n");
		if (at)
			memcpy(at + strlen("aggregationLengthV6: "), "126", 3);
		/* Every localPref the same: no conflict. */
		if (!strstr(y, "localPref") && (at = strstr(y, "  aggregationLength: ")) != NULL) {
			char *n = xasprintf("%.*s  localPref: 100\n%s", (int)(at - y), y, at);
			free(y);
			y = n;
		}
	}
	return y;
}

/* config.yaml written again: every configuration object, in order. */
static void put_config(struct pipeline *p, const struct pworld *pw)
{
	struct tree *objs[NPOOL + NL2 + NBGP + NNODE + 4];
	size_t n = 0;
	const struct world *w = &pw->w;
	for (int k = 0; k < NPOOL; k++)
		if (w->pool[k])
			objs[n++] = clone_of(w->pool[k]);
	if (pw->broken_pool)
		objs[n++] = clone_of(broken_pool_yaml);
	for (int k = 0; k < NL2; k++)
		if (w->l2[k])
			objs[n++] = clone_of(w->l2[k]);
	for (int k = 0; k < NBGP; k++)
		if (w->bgp[k])
			objs[n++] = clone_of(w->bgp[k]);
	peers_parse();
	for (size_t k = 0; k < npeer_trees; k++)
		objs[n++] = tree_clone(peer_trees[k]);
	for (int k = 0; k < NNODE; k++)
		if (w->node[k])
			objs[n++] = clone_of(w->node[k]);
	pipeline_source_set(p, config_src, objs, n);
}

static void put_file(struct pipeline *p, const char *src, const char *text);

static char *src_name(const char *what, int i)
{
	return xasprintf("%s-%02d.yaml", what, i);
}

/* Services and EndpointSlices as watch events (one source), not files. */
static bool api_mode;

/* One object changed: written (text), or deleted (NULL; old: what it
 * was).  A file of its own, or a watch event in api_mode. */
static void put_obj(struct pipeline *p, const char *src, const char *old, const char *text)
{
	if (!api_mode) {
		put_file(p, src, text);
		return;
	}
	if (text) {
		pipeline_upsert(p, "api", clone_of(text));
		return;
	}
	if (!old)
		return;
	/* Parsed apart (freed with the others at the end): the cache of
	 * tree_of() is keyed by the text's address. */
	const struct tree *t = parse(old)->objects[0];
	const struct tree *md = tree_get(t, "metadata");
	pipeline_delete(p, "api", tree_get_str(t, "kind"), tree_get_str(md, "namespace"),
			tree_get_str(md, "name"));
}

/* A file holding one object, written (text) or deleted (NULL). */
static void put_file(struct pipeline *p, const char *src, const char *text)
{
	if (!text) {
		pipeline_source_remove(p, src);
		return;
	}
	struct tree *t = clone_of(text);
	pipeline_source_set(p, src, &t, 1);
}

static void fail_file(struct pipeline *p, const char *src)
{
	struct diag_list d = {0};
	diag_add(&d, DIAG_ERROR, src, 3, NULL, NULL, "mapping values are not allowed here");
	pipeline_source_failed(p, src, &d);
	diag_list_free(&d);
}

/* The live side's planning after a step. */
static void live_plan(struct pipeline *p, struct pipeline_live *live, struct alloc *a,
		      struct l2_planner *l2, struct bgp_planner *bgp,
		      const struct pipeline_step *st)
{
	const struct model *m = &live->model;
	if (!live->running)
		return;
	if (st->full) {
		struct announce_svc *v = xcalloc(m->nservices + 1, sizeof(*v));
		size_t n = 0;
		for (size_t i = 0; i < m->nservices; i++) {
			const struct service *s = &m->services[i];
			if (!pipeline_service_ours(p, s))
				continue;
			const char *pools[2];
			v[n].svc = s;
			v[n].naddrs = alloc_get(a, s->meta.namespace_, s->meta.name, v[n].addrs, pools);
			for (size_t k = 0; k < v[n].naddrs; k++)
				v[n].pools[k] = pools[k];
			if (v[n].naddrs)
				n++;
		}
		l2_planner_reset(l2, m, v, n);
		bgp_planner_reset(bgp, m, v, n);
		free(v);
		return;
	}
	struct announce_change *ch = xcalloc(st->nreplan + 1, sizeof(*ch));
	char **keys = xcalloc(st->nreplan + 1, sizeof(*keys));
	for (size_t i = 0; i < st->nreplan; i++) {
		keys[i] = xstrdup(st->replan[i]);
		char *slash = strchr(keys[i], '/');
		*slash = 0;
		ch[i].ns = keys[i];
		ch[i].name = slash + 1;
		const struct service *s = model_find_service(m, ch[i].ns, ch[i].name);
		if (!s || !pipeline_service_ours(p, s))
			continue;
		const char *pools[2];
		ch[i].as.svc = s;
		ch[i].as.naddrs = alloc_get(a, ch[i].ns, ch[i].name, ch[i].as.addrs, pools);
		for (size_t k = 0; k < ch[i].as.naddrs; k++)
			ch[i].as.pools[k] = pools[k];
	}
	l2_planner_update(l2, m, ch, st->nreplan);
	bgp_planner_update(bgp, m, ch, st->nreplan);
	for (size_t i = 0; i < st->nreplan; i++)
		free(keys[i]);
	free(keys);
	free(ch);
}

static char *fmt_verdict(const struct pipeline_verdict *v, bool running,
			 const struct diag_list *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fprintf(f, "running=%d\n", running);
	pipeline_verdict_print(v, f);
	for (size_t i = 0; i < v->nconfig_errors; i++)
		fprintf(f, "config error: %s\n", v->config_errors[i]);
	for (size_t i = 0; i < v->nignored; i++)
		fprintf(f, "ignored: %s\n", v->ignored[i]);
	for (size_t i = 0; i < v->nfailed; i++)
		fprintf(f, "failed message: %s\n", v->failed[i].message);
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->items[i]);
		fprintf(f, "diag %s: %s\n", diag_level_name(d->items[i].level), s);
		free(s);
	}
	fclose(f);
	return buf;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *fmt_services(const struct model *m)
{
	char **keys = xcalloc(m->nservices + 1, sizeof(*keys));
	for (size_t i = 0; i < m->nservices; i++)
		keys[i] = xasprintf("%s/%s", m->services[i].meta.namespace_,
				    m->services[i].meta.name);
	qsort(keys, m->nservices, sizeof(*keys), cmp_keys);
	char *out = xstrdup("");
	for (size_t i = 0; i < m->nservices; i++) {
		char *n = xasprintf("%s%s\n", out, keys[i]);
		free(out);
		free(keys[i]);
		out = n;
	}
	free(keys);
	return out;
}

static bool run_pipeline_seed(uint64_t seed, int steps)
{
	rng = seed * 0x9e3779b97f4a7c15ull + 7;
	struct pworld pw = {0};
	struct world *w = &pw.w;
	struct pipeline *pi = pipeline_new(NULL), *pr = pipeline_new(NULL);
	struct pipeline_live live;
	pipeline_live_init(&live, NULL);
	struct alloc *ai = alloc_new();
	struct l2_planner *l2 = l2_planner_new(LOCAL_NODE);
	struct bgp_planner *bgp = bgp_planner_new(LOCAL_NODE);

	/* Every pool is there (advertisements name any of them; a missing
	 * one would keep the configuration invalid, and every step a whole
	 * pass); pools change, and break. */
	for (int k = 0; k < NPOOL; k++)
		w->pool[k] = gen_pool(k);
	w->l2[0] = gen_l2(0);
	w->bgp[0] = gen_bgp_mostly_valid(0);
	for (int k = 0; k < NNODE; k++)
		w->node[k] = gen_node(k);
	put_config(pi, &pw);
	put_config(pr, &pw);

	bool ok = true;
	size_t nfull = 0, nfailed = 0, nstale = 0;
	bool broken[NSVC] = {false};
	bool config_broken = false;
	for (int step = 0; step < steps && ok; step++) {
		char action[96];
		/* A broken file is fixed (written again) after a while, with
		 * the change of this step. */
		for (int i = 0; i < NSVC; i++) {
			if (!broken[i] || !coin(40))
				continue;
			char *src = src_name("svc", i);
			put_file(pi, src, w->svc[i]);
			put_file(pr, src, w->svc[i]);
			free(src);
			broken[i] = false;
		}
		if (config_broken && coin(40)) {
			pw.broken_pool = false;
			put_config(pi, &pw);
			put_config(pr, &pw);
			config_broken = false;
		}
		uint32_t r = rnd(100);
		/* No broken files among watch events. */
		if (api_mode && r >= 60 && r < 64)
			r = 59;
		if (r < 60) {
			int i = (int)rnd(NSVC);
			char *src = src_name("svc", i);
			char *old = w->svc[i] ? xstrdup(w->svc[i]) : NULL;
			if (w->svc[i] && coin(25)) {
				set_text(&w->svc[i], NULL);
				snprintf(action, sizeof(action), "delete %s", src);
			} else {
				snprintf(action, sizeof(action), "%s %s", w->svc[i] ? "change" : "add", src);
				set_text(&w->svc[i], gen_service(i));
			}
			put_obj(pi, src, old, w->svc[i]);
			put_obj(pr, src, old, w->svc[i]);
			free(old);
			broken[i] = false;
			free(src);
		} else if (r < 64) {
			int i = (int)rnd(NSVC);
			char *src = src_name("svc", i);
			snprintf(action, sizeof(action), "broken file %s", src);
			fail_file(pi, src);
			fail_file(pr, src);
			broken[i] = true;
			free(src);
		} else if (r < 76) {
			int i = (int)rnd(NSVC);
			char *src = src_name("eps", i);
			char *old = w->slice[i] ? xstrdup(w->slice[i]) : NULL;
			if (w->slice[i] && coin(30))
				set_text(&w->slice[i], NULL);
			else
				set_text(&w->slice[i], gen_slice(i));
			snprintf(action, sizeof(action), "%s", src);
			put_obj(pi, src, old, w->slice[i]);
			put_obj(pr, src, old, w->slice[i]);
			free(old);
			free(src);
		} else {
			uint32_t c = rnd(100);
			if (c < 30) {
				int k = (int)rnd(NPOOL);
				set_text(&w->pool[k], gen_pool(k));
				snprintf(action, sizeof(action), "pool p%d", k);
			} else if (c < 40) {
				/* Fixed by the next change to the configuration. */
				pw.broken_pool = true;
				config_broken = true;
				snprintf(action, sizeof(action), "broken pool");
			} else if (c < 70) {
				bool isl2 = coin(50);
				int k = (int)rnd(isl2 ? NL2 : NBGP);
				char **slot = isl2 ? &w->l2[k] : &w->bgp[k];
				set_text(slot, *slot && coin(30) ? NULL : isl2 ? gen_l2(k) : gen_bgp_mostly_valid(k));
				snprintf(action, sizeof(action), "advertisement %d", k);
			} else if (c < 90) {
				int k = (int)rnd(NNODE);
				set_text(&w->node[k], w->node[k] && coin(20) ? NULL : gen_node(k));
				snprintf(action, sizeof(action), "node n%d", k);
			} else {
				snprintf(action, sizeof(action), "broken config file");
				fail_file(pi, config_src);
				fail_file(pr, config_src);
				config_broken = true;
				goto judged;
			}
			put_config(pi, &pw);
			put_config(pr, &pw);
		}
	judged:;
		/* The live side. */
		struct pipeline_step st;
		pipeline_step(pi, ai, &live, NULL, NULL, &st);
		nfull += st.full;
		live_plan(pi, &live, ai, l2, bgp, &st);
		pipeline_step_free(&st);

		/* The reference: a whole pass. */
		struct pipeline_pass ps;
		pipeline_build(pr, &ps);
		struct alloc *af = alloc_new();
		struct l2_plan rl2 = {0};
		struct bgp_plan rbgp = {0};
		if (ps.running) {
			struct model *m = &ps.model;
			for (size_t i = 0; i < m->nservices; i++) {
				struct service *s = &m->services[i];
				s->ningress = alloc_get(ai, s->meta.namespace_, s->meta.name, s->ingress,
							NULL);
			}
			pipeline_allocate(&ps, af);
			struct announce_svc *v = xcalloc(m->nservices + 1, sizeof(*v));
			size_t n = 0;
			for (size_t i = 0; i < m->nservices; i++) {
				const struct alloc_result *res = &ps.results[i];
				if (!res->ours || !res->naddrs)
					continue;
				v[n].svc = &m->services[i];
				v[n].naddrs = res->naddrs;
				for (size_t k = 0; k < res->naddrs; k++) {
					v[n].addrs[k] = res->addrs[k];
					v[n].pools[k] = res->pools[k];
				}
				n++;
			}
			announce_l2(m, LOCAL_NODE, v, n, &rl2);
			announce_bgp(m, LOCAL_NODE, v, n, &rbgp);
			free(v);
		}
		nfailed += ps.verdict.nfailed;
		nstale += !ps.taken;




		/* Compare. */
		char *vi = fmt_verdict(&live.verdict, live.running, &live.diags);
		char *vr = fmt_verdict(&ps.verdict, ps.running, &ps.diags);
		if (strcmp(vi, vr) != 0) {
			if (getenv("IRONLB_PROPERTY_DEBUG"))
				fprintf(stderr, "---- live\n%s---- reference\n%s", vi, vr);
			show("verdict", vi, vr, seed, step, action);
			ok = false;
		} else {
			free(vi);
			free(vr);
		}
		if (ok && ps.running) {
			char *si = fmt_services(&live.model), *sr = fmt_services(&ps.model);
			if (strcmp(si, sr) != 0) {
				show("Services in force", si, sr, seed, step, action);
				ok = false;
			} else {
				free(si);
				free(sr);
			}
		}
		for (int i = 0; ok && ps.running && i < NSVC; i++) {
			char *name = svc_name(i);
			if (!alloc_same(ai, af, svc_ns(i), name)) {
				char *what = xasprintf("allocation of %s/%s", svc_ns(i), name);
				show(what, fmt_alloc(ai, svc_ns(i), name), fmt_alloc(af, svc_ns(i), name),
				     seed, step, action);
				free(what);
				ok = false;
			}
			free(name);
		}
		if (ok && ps.running && !pools_same(ai, af)) {
			show("pool counters", fmt_pools(ai), fmt_pools(af), seed, step, action);
			ok = false;
		}
		if (ok && ps.running && !l2_same(l2_planner_plan(l2), &rl2)) {
			show("Layer 2 plan", fmt_l2(l2_planner_plan(l2)), fmt_l2(&rl2), seed, step,
			     action);
			ok = false;
		}
		if (ok && ps.running && !bgp_same(bgp_planner_plan(bgp), &rbgp)) {
			show("BGP plan", fmt_bgp(bgp_planner_plan(bgp)), fmt_bgp(&rbgp), seed, step,
			     action);
			ok = false;
		}
		l2_plan_free(&rl2);
		bgp_plan_free(&rbgp);
		alloc_free(af);
		pipeline_pass_free(&ps);
	}
	if (getenv("IRONLB_PROPERTY_DEBUG"))
		print_message("seed %llu: %zu whole passes of %d steps, %zu with the last good "
			      "configuration, %zu failed Services summed over steps\n",
			      (unsigned long long)seed, nfull, steps, nstale, nfailed);
	/* A good share of the steps must be steps, not whole passes, or
	 * little incremental was tested (configuration changes,
	 * EndpointSlices, failing Services and the time a broken object
	 * keeps the last good configuration in force are whole passes). */
	if (ok && steps >= 100 && nfull * 4 > (size_t)steps * 3) {
		print_error("seed %llu: %zu of %d steps were whole passes\n",
			    (unsigned long long)seed, nfull, steps);
		ok = false;
	}
	l2_planner_free(l2);
	bgp_planner_free(bgp);
	alloc_free(ai);
	pipeline_live_free(&live);
	pipeline_free(pi);
	pipeline_free(pr);
	for (int k = 0; k < NSVC; k++) {
		free(w->svc[k]);
		free(w->slice[k]);
	}
	for (int k = 0; k < NPOOL; k++)
		free(w->pool[k]);
	for (int k = 0; k < NL2; k++)
		free(w->l2[k]);
	for (int k = 0; k < NBGP; k++)
		free(w->bgp[k]);
	for (int k = 0; k < NNODE; k++)
		free(w->node[k]);
	sets_free();
	return ok;
}

static int pipeline_steps(void)
{
	const char *e = getenv("IRONLB_PROPERTY_STEPS");
	return e && atoi(e) > 0 ? atoi(e) : 600;
}

static void test_pipeline_random_changes(void **state)
{
	(void)state;
	static const uint64_t seeds[] = {3, 20261206};
	const char *one = getenv("IRONLB_PROPERTY_SEED");
	if (one) {
		assert_true(run_pipeline_seed(strtoull(one, NULL, 10), pipeline_steps()));
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(seeds); i++)
		assert_true(run_pipeline_seed(seeds[i], pipeline_steps()));
}

/* As the controller and speaker feed it: watch events one object at a
 * time. */
static void test_pipeline_random_watch_events(void **state)
{
	(void)state;
	static const uint64_t seeds[] = {5, 20261207};
	api_mode = true;
	const char *one = getenv("IRONLB_PROPERTY_SEED");
	if (one) {
		assert_true(run_pipeline_seed(strtoull(one, NULL, 10), pipeline_steps()));
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(seeds); i++)
			assert_true(run_pipeline_seed(seeds[i], pipeline_steps()));
	}
	api_mode = false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_random_changes),
		cmocka_unit_test(test_pipeline_random_watch_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
