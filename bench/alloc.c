/*
 * bench_alloc [SERVICES] [--require] [--share]: allocation at scale.
 *
 * Builds a model in C: one /16 IPv4 pool, one /64 IPv6 pool, and a small
 * dual-stack pool with priority 1 that every search tries first (and finds
 * full after its first 256 Services).  Then:
 *
 *   allocate   every Service once, in name order (alloc_service in a loop)
 *   recheck    alloc_run_all over the same Services: each keeps what it has
 *              (what the daemon does after every change)
 *   churn      release every 10th Service, then allocate as many new ones
 *              (they fill the holes: lowest free address first)
 *
 * Services are PreferDualStack [IPv4, IPv6] by default: a /16 holds fewer
 * than 100,000 IPv4 addresses, so the Services after the first 65,792 get
 * IPv6 only.  --require makes them RequireDualStack (those then fail);
 * --share puts them in pairs under one allow-shared-ip key (TCP/53 and
 * UDP/53, as for DNS), so that 100,000 RequireDualStack Services fit.
 *
 * Output: one "key: value" per line.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "alloc/alloc.h"
#include "base/util.h"
#include "model/model.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double peak_rss_mib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static void add_range(struct pool *p, const char *text)
{
	char why[128];
	struct ip_range *r = VEC_PUSH(p->ranges, p->nranges);
	if (ip_range_parse(text, r, why, sizeof(why)) != 0) {
		fprintf(stderr, "bench_alloc: %s: %s\n", text, why);
		exit(1);
	}
}

static struct pool *add_pool(struct model *m, const char *name)
{
	struct pool *p = VEC_PUSH(m->pools, m->npools);
	p->meta.kind = KIND_IPADDRESSPOOL;
	p->meta.name = xstrdup(name);
	p->meta.namespace_ = xstrdup(m->config_namespace);
	p->auto_assign = true;
	return p;
}

struct opts {
	size_t n;
	bool require;
	bool share;
};

static void add_service(struct model *m, const struct opts *o, const char *prefix, size_t i)
{
	struct service *s = VEC_PUSH(m->services, m->nservices);
	s->meta.kind = KIND_SERVICE;
	s->meta.name = xasprintf("%s-%06zu", prefix, i);
	s->meta.namespace_ = xstrdup("bench");
	s->type = xstrdup("LoadBalancer");
	s->policy = o->require ? POLICY_REQUIRE_DUAL_STACK : POLICY_PREFER_DUAL_STACK;
	s->has_policy = true;
	s->nfamilies = 2;
	s->families[0] = IP_FAMILY_V4;
	s->families[1] = IP_FAMILY_V6;
	s->external_traffic_policy = xstrdup("Cluster");
	s->ports = xcalloc(1, sizeof(*s->ports));
	s->nports = 1;
	s->ports[0].port = 53;
	s->ports[0].protocol = xstrdup(i % 2 ? "UDP" : "TCP");
	if (o->share)
		s->sharing_key = xasprintf("%s-%zu", prefix, i / 2);
}

int main(int argc, char **argv)
{
	struct opts o = {.n = 100000};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--require") == 0) {
			o.require = true;
		} else if (strcmp(argv[i], "--share") == 0) {
			o.share = true;
			o.require = true;
		} else if (argv[i][0] >= '1' && argv[i][0] <= '9') {
			o.n = strtoul(argv[i], NULL, 10);
		} else {
			fprintf(stderr, "usage: bench_alloc [SERVICES] [--require] [--share]\n");
			return 2;
		}
	}
	size_t churn = o.n / 10;

	struct model m;
	model_init(&m, NULL);
	struct pool *p = add_pool(&m, "ipv4");
	add_range(p, "10.20.0.0/16");
	p = add_pool(&m, "ipv6");
	add_range(p, "2001:db8:1::/64");
	p = add_pool(&m, "first");
	add_range(p, "10.99.0.0/24");
	add_range(p, "2001:db8:99::/120");
	p->has_service_allocation = true;
	p->priority = 1;

	for (size_t i = 0; i < o.n; i++)
		add_service(&m, &o, "svc", i);

	size_t heap0 = heap_in_use();
	struct alloc *a = alloc_new();
	alloc_set_config(a, &m);

	/* allocate */
	size_t failed = 0, dual = 0;
	struct alloc_result r;
	double t0 = now_s();
	for (size_t i = 0; i < o.n; i++) {
		if (alloc_service(a, &m, &m.services[i], &r) != 0)
			failed++;
		dual += r.naddrs == 2;
		alloc_result_free(&r);
	}
	double t_alloc = now_s() - t0;
	size_t heap1 = heap_in_use();

	/* recheck: everything keeps its addresses */
	struct alloc_result *res = xcalloc(o.n + churn, sizeof(*res));
	t0 = now_s();
	size_t failed_again = alloc_run_all(a, &m, res);
	double t_recheck = now_s() - t0;
	size_t changed = 0;
	for (size_t i = 0; i < o.n; i++) {
		changed += res[i].changed;
		alloc_result_free(&res[i]);
	}

	/* churn: release every 10th, allocate as many new Services */
	for (size_t i = 0; i < churn; i++)
		add_service(&m, &o, "new", i);
	size_t refailed = 0;
	t0 = now_s();
	for (size_t i = 0; i < o.n; i += 10)
		alloc_release(a, m.services[i].meta.namespace_, m.services[i].meta.name);
	for (size_t i = o.n; i < o.n + churn; i++) {
		if (alloc_service(a, &m, &m.services[i], &r) != 0)
			refailed++;
		alloc_result_free(&r);
	}
	double t_churn = now_s() - t0;

	struct alloc_pool_stats *ps;
	size_t nps = alloc_pool_stats(a, &ps);
	u128 used4 = 0, used6 = 0;
	for (size_t i = 0; i < nps; i++) {
		used4 += ps[i].in_use_v4;
		used6 += ps[i].in_use_v6;
	}
	free(ps);

	printf("services: %zu\n", o.n);
	printf("policy: %s%s\n", o.require ? "RequireDualStack" : "PreferDualStack",
	       o.share ? " (pairs sharing one allow-shared-ip key)" : "");
	printf("pools: ipv4 10.20.0.0/16, ipv6 2001:db8:1::/64, first (priority 1) "
	       "10.99.0.0/24 + 2001:db8:99::/120\n");
	printf("allocate_total_ms: %.1f\n", t_alloc * 1e3);
	printf("allocate_mean_us: %.3f\n", t_alloc * 1e6 / (double)o.n);
	printf("allocate_dual_stack: %zu\n", dual);
	printf("allocate_failed: %zu\n", failed);
	printf("recheck_total_ms: %.1f\n", t_recheck * 1e3);
	printf("recheck_mean_us: %.3f\n", t_recheck * 1e6 / (double)o.n);
	printf("recheck_changed: %zu\n", changed);
	printf("recheck_failed: %zu\n", failed_again);
	printf("churn_released: %zu\n", (o.n + 9) / 10);
	printf("churn_allocated: %zu\n", churn);
	printf("churn_failed: %zu\n", refailed);
	printf("churn_total_ms: %.1f\n", t_churn * 1e3);
	printf("ipv4_in_use: %llu\n", (unsigned long long)used4);
	printf("ipv6_in_use: %llu\n", (unsigned long long)used6);
	printf("peak_rss_mib: %.1f\n", peak_rss_mib());
	printf("allocator_heap_mib: %.1f\n", (double)(heap1 - heap0) / (1024.0 * 1024.0));
	printf("allocator_bytes_per_service: %.0f\n", (double)(heap1 - heap0) / (double)o.n);

	free(res);
	alloc_free(a);
	model_free(&m);
	return 0;
}
