/*
 * bench_incremental [SERVICES...]: one Service change, incremental versus
 * from scratch, in the same run (default: 10000 and 100000 Services).
 *
 * The objects are read as a daemon reads a manifest directory: a /12 IPv4
 * and a /64 IPv6 pool, an L2Advertisement and a BGPAdvertisement for both
 * (the latter aggregating IPv4 to /24, so that 254 Services share each
 * route), one BGPPeer, three Nodes, and N PreferDualStack Services.  The
 * long-lived model, allocator and planners are built once; then
 *
 *   full       what a pass costs today: alloc_run_all() over every Service
 *              (each keeps what it has) + announce_l2() + announce_bgp()
 *   add        one new Service: model_upsert (decoding it included),
 *              alloc_update_service, l2_planner_update, bgp_planner_update
 *   change     the same for a new version of an existing Service (a new
 *              label, and a requested address, so it moves)
 *   delete     model_remove and the same updates
 *
 * each repeated (full 3 times, the others 300 times) and printed as median
 * and 99th percentile.  Output: one "key: value" per line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc/alloc.h"
#include "announce/announce.h"
#include "announce/bgp_plan.h"
#include "base/diag.h"
#include "base/util.h"
#include "manifest/manifest.h"
#include "model/model.h"

#define REPS 300
#define NODE "node-0"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char config_yaml[] =
	"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
	"metadata: {name: v4, namespace: metallb-system}\n"
	"spec: {addresses: [10.0.0.0/12]}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
	"metadata: {name: v6, namespace: metallb-system}\n"
	"spec: {addresses: [\"fd00::/64\"]}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
	"metadata: {name: l2, namespace: metallb-system}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\n"
	"metadata: {name: bgp, namespace: metallb-system}\n"
	"spec: {aggregationLength: 24}\n"
	"---\n"
	"apiVersion: metallb.io/v1beta2\nkind: BGPPeer\n"
	"metadata: {name: router, namespace: metallb-system}\n"
	"spec: {myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1}\n"
	"---\n"
	"apiVersion: v1\nkind: Node\nmetadata: {name: node-0}\n"
	"---\n"
	"apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\n"
	"---\n"
	"apiVersion: v1\nkind: Node\nmetadata: {name: node-2}\n";

static char *service_yaml(size_t i, const char *extra)
{
	return xasprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%06zu\n"
			 "  namespace: ns-%zu\n  labels: {app: a%zu%s}\n%s"
			 "spec:\n  type: LoadBalancer\n  ipFamilyPolicy: PreferDualStack\n"
			 "  ipFamilies: [IPv4, IPv6]\n  ports: [{port: 80}]\n",
			 i, i % 50, i, extra ? ", version: v2" : "", extra ? extra : "");
}

/* Read a text into trees (outside the timed sections). */
static struct tree *read_one(struct manifest_set *keep, const char *yaml)
{
	struct diag_list d = {0};
	size_t before = keep->n;
	manifest_read_buffer(keep, "bench.yaml", yaml, strlen(yaml), &d);
	diag_list_free(&d);
	if (keep->n != before + 1) {
		fprintf(stderr, "bench_incremental: could not read:\n%s\n", yaml);
		exit(1);
	}
	struct tree *t = keep->objects[before];
	keep->objects[before] = NULL;
	return t;
}

static void add_all(struct model *m, struct manifest_set *keep, const char *yaml)
{
	struct diag_list d = {0};
	size_t before = keep->n;
	manifest_read_buffer(keep, "bench.yaml", yaml, strlen(yaml), &d);
	for (size_t i = before; i < keep->n; i++) {
		model_upsert(m, keep->objects[i], &d, NULL);
		keep->objects[i] = NULL;
	}
	if (diag_count(&d, DIAG_ERROR)) {
		fprintf(stderr, "bench_incremental: errors in the configuration\n");
		exit(1);
	}
	diag_list_free(&d);
}

struct world {
	struct model m;
	struct alloc *a;
	struct l2_planner *l2;
	struct bgp_planner *bgp;
};

static struct announce_svc *svcs_of(struct world *w)
{
	struct announce_svc *v = xcalloc(w->m.nservices + 1, sizeof(*v));
	for (size_t i = 0; i < w->m.nservices; i++) {
		const struct service *s = &w->m.services[i];
		const char *pools[2];
		v[i].svc = s;
		v[i].naddrs = alloc_get(w->a, s->meta.namespace_, s->meta.name, v[i].addrs, pools);
		for (size_t k = 0; k < v[i].naddrs; k++)
			v[i].pools[k] = pools[k];
	}
	return v;
}

/* Re-plan what one allocator update reported. */
static void replan(struct world *w, const struct alloc_changes *ch)
{
	struct announce_change *v = xcalloc(ch->n + 1, sizeof(*v));
	struct ip_addr addrs[2];
	const char *pools[2];
	for (size_t k = 0; k < ch->n; k++) {
		v[k].ns = ch->items[k].ns;
		v[k].name = ch->items[k].name;
		v[k].as.svc = model_find_service(&w->m, v[k].ns, v[k].name);
		if (!v[k].as.svc)
			continue;
		v[k].as.naddrs = alloc_get(w->a, v[k].ns, v[k].name, addrs, pools);
		for (size_t i = 0; i < v[k].as.naddrs; i++) {
			v[k].as.addrs[i] = addrs[i];
			v[k].as.pools[i] = pools[i];
		}
	}
	l2_planner_update(w->l2, &w->m, v, ch->n);
	bgp_planner_update(w->bgp, &w->m, v, ch->n);
	free(v);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(size_t n, const char *what, double *t, size_t reps)
{
	qsort(t, reps, sizeof(*t), cmp_double);
	size_t p99 = (reps * 99) / 100;
	if (p99 >= reps)
		p99 = reps - 1;
	printf("services_%zu_%s_median_ms: %.3f\n", n, what, t[reps / 2] * 1e3);
	printf("services_%zu_%s_p99_ms: %.3f\n", n, what, t[p99] * 1e3);
}

static void bench(size_t n)
{
	struct world w = {0};
	struct manifest_set keep = {0};
	model_init(&w.m, NULL);
	add_all(&w.m, &keep, config_yaml);
	struct diag_list d = {0};
	model_validate(&w.m, &d);
	diag_list_free(&d);

	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		char *y = service_yaml(i, NULL);
		struct tree *t = read_one(&keep, y);
		free(y);
		model_upsert(&w.m, t, &d, NULL);
	}
	diag_list_free(&d);
	model_drop_trees(&w.m);
	double t_read = now_s() - t0;

	w.a = alloc_new();
	w.l2 = l2_planner_new(NODE);
	w.bgp = bgp_planner_new(NODE);
	struct alloc_changes ch = {0};
	t0 = now_s();
	alloc_update_config(w.a, &w.m, &ch);
	alloc_changes_free(&ch);
	struct announce_svc *v = svcs_of(&w);
	l2_planner_reset(w.l2, &w.m, v, w.m.nservices);
	bgp_planner_reset(w.bgp, &w.m, v, w.m.nservices);
	free(v);
	double t_start = now_s() - t0;
	printf("services: %zu\n", n);
	printf("services_%zu_read_s: %.2f\n", n, t_read);
	printf("services_%zu_first_allocation_and_plan_s: %.2f\n", n, t_start);

	/* Today's pass. */
	double full[3];
	struct alloc_result *res = xcalloc(w.m.nservices + 1, sizeof(*res));
	for (int r = 0; r < 3; r++) {
		t0 = now_s();
		alloc_run_all(w.a, &w.m, res);
		v = svcs_of(&w);
		struct l2_plan l2;
		struct bgp_plan bgp;
		announce_l2(&w.m, NODE, v, w.m.nservices, &l2);
		announce_bgp(&w.m, NODE, v, w.m.nservices, &bgp);
		full[r] = now_s() - t0;
		l2_plan_free(&l2);
		bgp_plan_free(&bgp);
		free(v);
		for (size_t i = 0; i < w.m.nservices; i++)
			alloc_result_free(&res[i]);
	}
	free(res);
	report(n, "full_pass", full, 3);

	/* One change at a time. */
	double add[REPS], change[REPS], del[REPS];
	struct tree **news = xcalloc(REPS, sizeof(*news));
	struct tree **versions = xcalloc(REPS, sizeof(*versions));
	for (size_t r = 0; r < REPS; r++) {
		char *y = service_yaml(n + r, NULL);
		news[r] = read_one(&keep, y);
		free(y);
		char *req = xasprintf("  annotations: {metallb.io/loadBalancerIPs: "
				      "\"10.15.0.%zu\"}\n",
				      r % 250 + 1);
		y = service_yaml(r * (n / REPS), req);
		versions[r] = read_one(&keep, y);
		free(y);
		free(req);
	}
	for (size_t r = 0; r < REPS; r++) {
		char name[32], ns[16];
		snprintf(name, sizeof(name), "svc-%06zu", n + r);
		snprintf(ns, sizeof(ns), "ns-%zu", (n + r) % 50);
		t0 = now_s();
		model_upsert(&w.m, news[r], &d, NULL);
		alloc_update_service(w.a, &w.m, ns, name, &ch);
		replan(&w, &ch);
		add[r] = now_s() - t0;
		alloc_changes_free(&ch);

		size_t i = r * (n / REPS);
		snprintf(name, sizeof(name), "svc-%06zu", i);
		snprintf(ns, sizeof(ns), "ns-%zu", i % 50);
		t0 = now_s();
		model_upsert(&w.m, versions[r], &d, NULL);
		alloc_update_service(w.a, &w.m, ns, name, &ch);
		replan(&w, &ch);
		change[r] = now_s() - t0;
		alloc_changes_free(&ch);

		snprintf(name, sizeof(name), "svc-%06zu", n + r);
		snprintf(ns, sizeof(ns), "ns-%zu", (n + r) % 50);
		t0 = now_s();
		model_remove(&w.m, KIND_SERVICE, ns, name);
		alloc_update_service(w.a, &w.m, ns, name, &ch);
		replan(&w, &ch);
		del[r] = now_s() - t0;
		alloc_changes_free(&ch);
	}
	diag_list_free(&d);
	free(news);
	free(versions);
	report(n, "incremental_add", add, REPS);
	report(n, "incremental_change", change, REPS);
	report(n, "incremental_delete", del, REPS);
	printf("services_%zu_l2_entries: %zu\n", n, l2_planner_plan(w.l2)->n);
	printf("services_%zu_bgp_routes: %zu\n", n,
	       bgp_planner_plan(w.bgp)->nsessions ? bgp_planner_plan(w.bgp)->sessions[0].nroutes
						  : 0);

	l2_planner_free(w.l2);
	bgp_planner_free(w.bgp);
	alloc_free(w.a);
	model_free(&w.m);
	manifest_set_free(&keep);
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: bench_incremental [SERVICES...]   (default: 10000 100000)\n");
		return 0;
	}
	if (argc < 2) {
		bench(10000);
		bench(100000);
		return 0;
	}
	for (int i = 1; i < argc; i++)
		bench((size_t)strtoul(argv[i], NULL, 10));
	return 0;
}
