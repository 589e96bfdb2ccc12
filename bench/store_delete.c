/*
 * bench_store_delete [SERVICES...]: the cost of deleting one object from
 * the pipeline's store as the controller and speaker do it (a watch's
 * DELETED event: pipeline_delete() on the source fed object by object),
 * with N Services in the store (default: 10000 and 100000).
 *
 * The store is filled with N Services, then every one of them is deleted
 * in a scrambled order (i * a prime mod N), each delete timed on its own.
 * Only the store is measured: no pass runs in between (a step's own cost
 * is bench_incremental's).  Output: one "key: value" per line, median,
 * 99th percentile and max per delete, and the whole run's total.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/diag.h"
#include "base/util.h"
#include "manifest/manifest.h"
#include "pipeline/pipeline.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Services [from, to) as one YAML text (a manifest text has a size
 * limit: 100,000 Services go in chunks). */
static char *services_text(size_t from, size_t to, size_t *len)
{
	size_t cap = (to - from) * 160 + 1;
	char *t = xcalloc(cap, 1);
	size_t at = 0;
	for (size_t i = from; i < to; i++)
		at += (size_t)snprintf(t + at, cap - at,
				       "---\napiVersion: v1\nkind: Service\nmetadata:\n"
				       "  name: s%zu\n  namespace: ns%zu\nspec:\n"
				       "  type: LoadBalancer\n  ports: [{port: 80}]\n",
				       i, i % 50);
	*len = at;
	return t;
}

static int run(size_t n)
{
	struct pipeline *p = pipeline_new(&(struct pipeline_opts){0});
	for (size_t from = 0; from < n; from += 20000) {
		size_t to = from + 20000 < n ? from + 20000 : n, len;
		char *text = services_text(from, to, &len);
		struct manifest_set set = {0};
		struct diag_list d = {0};
		if (manifest_read_buffer(&set, "api", text, len, &d) != 0 || set.n != to - from) {
			fprintf(stderr, "bench_store_delete: cannot read the generated Services: %s\n",
				d.n ? d.items[0].message : "count differs");
			return -1;
		}
		free(text);
		diag_list_free(&d);
		for (size_t i = 0; i < set.n; i++) {
			pipeline_upsert(p, "objects", set.objects[i]);
			set.objects[i] = NULL;
		}
		set.n = 0;
		manifest_set_free(&set);
	}

	/* A prime that does not divide n walks every index once. */
	size_t step = 7919;
	while (n % step == 0)
		step += 2;
	double *t = xcalloc(n, sizeof(*t));
	double total0 = now_s();
	for (size_t k = 0; k < n; k++) {
		size_t i = (k * step) % n;
		char name[32], ns[16];
		snprintf(name, sizeof(name), "s%zu", i);
		snprintf(ns, sizeof(ns), "ns%zu", i % 50);
		double t0 = now_s();
		int rc = pipeline_delete(p, "objects", "Service", ns, name);
		t[k] = now_s() - t0;
		if (rc != 0) {
			fprintf(stderr, "bench_store_delete: %s/%s was not found\n", ns, name);
			return -1;
		}
	}
	double total = now_s() - total0;
	/* The first half of the deletes are from a store of more than n/2. */
	xqsort(t, n / 2, sizeof(*t), cmp_double);
	printf("services: %zu\n", n);
	printf("delete_first_half_median_us: %.2f\n", t[n / 4] * 1e6);
	printf("delete_first_half_p99_us: %.2f\n", t[(size_t)((double)(n / 2) * 0.99)] * 1e6);
	printf("delete_first_half_max_us: %.2f\n", t[n / 2 - 1] * 1e6);
	printf("delete_all_total_s: %.3f\n", total);
	free(t);
	pipeline_free(p);
	return 0;
}

int main(int argc, char **argv)
{
	size_t sizes[8] = {10000, 100000};
	size_t nsizes = 2;
	if (argc > 1) {
		nsizes = 0;
		for (int i = 1; i < argc && nsizes < 8; i++)
			sizes[nsizes++] = strtoul(argv[i], NULL, 10);
	}
	for (size_t i = 0; i < nsizes; i++)
		if (sizes[i] < 2 || run(sizes[i]) != 0)
			return 1;
	return 0;
}
