/*
 * ironlb plan PATH... [-o table|json]: judge the manifests with the verdict
 * every mode follows (pipeline.h), then allocate addresses for every
 * Service exactly as `ironlb run` would from a cold start (a Service that
 * fails gets its AllocationFailed event and the others proceed), and
 * print per Service its addresses (in ingress order), the pools they came
 * from and its events, and per pool the addresses in use and available.
 *
 * The JSON form is stable (docs/cli.md), and -o json always writes it, the
 * configuration's errors included:
 *   {"planned": bool, "configuration": {"verdict", "errors": [...],
 *                                       "failed": [{"namespace", "name", "message"}]},
 *    "services": [{"namespace", "name", "type", "ingress": ["ip", ...],
 *                  "pools": ["pool", ...], "events": [{"type", "reason", "message"}]}],
 *    "pools": [{"name", "ipv4": {"total", "in_use", "available"},
 *               "ipv6": {...}}]}
 * Counts are decimal strings: an IPv6 pool can hold more addresses than a
 * JSON number can carry exactly.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"
#include "base/util.h"
#include "cli/cli.h"
#include "pipeline/pipeline.h"

static void plan_usage(FILE *out)
{
	fputs("usage: ironlb plan [options] PATH...\n"
	      "\n"
	      "Validate the manifests, then show which addresses every LoadBalancer\n"
	      "Service would get, from which pools, and why (events), and how full each\n"
	      "pool would be.  Nothing is changed anywhere.\n"
	      "\n"
	      "options:\n"
	      "  -o, --output FORMAT  table (default) or json\n"
	      "  -n, --namespace NS   namespace MetalLB configuration is read from\n"
	      "                       (default " MODEL_DEFAULT_CONFIG_NAMESPACE ")\n"
	      "      --lb-class NAME  serve Services of this spec.loadBalancerClass\n"
	      "                       (default: only Services without a class)\n"
	      "  -h, --help           this text\n"
	      "\n"
	      "exit status: 0 planned (even if some Services failed or got no address),\n"
	      "1 not planned: ironlb run would run nothing (the configuration has errors\n"
	      "other than unresolved references), 2 usage error\n",
	      out);
}

struct table {
	size_t ncols;
	size_t nrows;
	char **cells; /* nrows * ncols, row-major; row 0 is the header */
};

static void table_row(struct table *t, char **cols)
{
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = cols[i];
	t->nrows++;
}

static void table_print(struct table *t, FILE *out)
{
	size_t *w = xcalloc(t->ncols, sizeof(size_t));
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t l = strlen(t->cells[r * t->ncols + c]);
			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (c + 1 < t->ncols)
				fprintf(out, "%-*s   ", (int)w[c], s);
			else
				fprintf(out, "%s\n", s);
		}
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(w);
}

static char *join_addrs(const struct alloc_result *r)
{
	if (r->naddrs == 0)
		return xstrdup("<pending>");
	char a[IP_STR_MAX], b[IP_STR_MAX];
	if (r->naddrs == 1)
		return xstrdup(ip_format(&r->addrs[0], a));
	return xasprintf("%s,%s", ip_format(&r->addrs[0], a), ip_format(&r->addrs[1], b));
}

static char *join_pools(const struct alloc_result *r)
{
	if (r->naddrs == 0)
		return xstrdup("<none>");
	if (r->naddrs == 1 || strcmp(r->pools[0], r->pools[1]) == 0)
		return xstrdup(r->pools[0]);
	return xasprintf("%s,%s", r->pools[0], r->pools[1]);
}

static char *join_ports(const struct service *s)
{
	if (s->nports == 0)
		return xstrdup("<none>");
	char *out = xstrdup("");
	for (size_t i = 0; i < s->nports; i++) {
		char *n = xasprintf("%s%s%d/%s", out, i ? "," : "", s->ports[i].port,
				    s->ports[i].protocol ? s->ports[i].protocol : "TCP");
		free(out);
		out = n;
	}
	return out;
}

/* One Service of the plan: a Service of the model with its allocation, or
 * a failed Service that is left out (rule 2: never good, so nothing). */
struct row {
	const char *ns, *name, *type;
	const struct service *svc;       /* NULL for a failed Service left out */
	const struct alloc_result *res;  /* NULL for a failed Service left out */
	struct alloc_event event;        /* the failure's event when left out */
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);
	return c ? c : strcmp(x->name, y->name);
}

/* The LoadBalancer Services of the plan and the failed ones, by
 * namespace/name. */
static struct row *plan_rows(const struct pipeline_pass *ps, size_t *nrows)
{
	const struct model *m = &ps->model;
	struct row *rows = NULL;
	size_t n = 0;
	for (size_t i = 0; i < m->nservices; i++) {
		const struct service *s = &m->services[i];
		if (!service_is_load_balancer(s))
			continue;
		*VEC_PUSH(rows, n) = (struct row){s->meta.namespace_, s->meta.name, s->type, s,
						  &ps->results[i], {0}};
	}
	for (size_t i = 0; i < ps->verdict.nfailed; i++) {
		const struct pipeline_failed *f = &ps->verdict.failed[i];
		if (f->kept)
			continue;
		*VEC_PUSH(rows, n) = (struct row){f->namespace_, f->name, "LoadBalancer", NULL, NULL,
						  pipeline_failed_event(f)};
	}
	xqsort(rows, n, sizeof(*rows), row_cmp);
	*nrows = n;
	return rows;
}

static const struct alloc_event *row_events(const struct row *r, size_t *n)
{
	if (r->res) {
		*n = r->res->nevents;
		return r->res->events;
	}
	*n = 1;
	return &r->event;
}

static void print_table(const struct row *rows, size_t nrows, struct alloc_pool_stats *ps,
			size_t nps)
{
	static const struct alloc_result none = {0};
	struct table t = {.ncols = 6};
	table_row(&t, (char *[]){xstrdup("NAMESPACE"), xstrdup("NAME"), xstrdup("TYPE"),
				 xstrdup("EXTERNAL-IP"), xstrdup("PORT(S)"), xstrdup("POOL(S)")});
	for (size_t i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		const struct alloc_result *res = r->res ? r->res : &none;
		table_row(&t, (char *[]){xstrdup(r->ns), xstrdup(r->name), xstrdup(r->type),
					 join_addrs(res), r->svc ? join_ports(r->svc) : xstrdup("<none>"),
					 join_pools(res)});
	}
	if (nrows) {
		table_print(&t, stdout);
	} else {
		for (size_t i = 0; i < t.nrows * t.ncols; i++)
			free(t.cells[i]);
		free(t.cells);
		puts("No LoadBalancer Services in the manifests.");
	}

	bool any_events = false;
	for (size_t i = 0; i < nrows; i++) {
		size_t ne;
		const struct alloc_event *ev = row_events(&rows[i], &ne);
		for (size_t e = 0; e < ne; e++) {
			if (!any_events)
				puts("\nEVENTS");
			any_events = true;
			printf("  %s/%s: %s %s: %s\n", rows[i].ns, rows[i].name, ev[e].type,
			       ev[e].reason, ev[e].message);
		}
	}

	if (nps) {
		puts("");
		struct table p = {.ncols = 5};
		table_row(&p, (char *[]){xstrdup("POOL"), xstrdup("FAMILY"), xstrdup("IN-USE"),
					 xstrdup("AVAILABLE"), xstrdup("TOTAL")});
		for (size_t i = 0; i < nps; i++) {
			for (int f = 0; f < 2; f++) {
				u128 total = f ? ps[i].total_v6 : ps[i].total_v4;
				u128 used = f ? ps[i].in_use_v6 : ps[i].in_use_v4;
				bool full_space = f && ps[i].total_v6_overflow;
				if (total == 0 && !full_space)
					continue;
				char a[U128_STR_MAX], b[U128_STR_MAX], c[U128_STR_MAX];
				u128_format(used, a);
				if (full_space) {
					strcpy(b, "2^128-");
					strcpy(c, "2^128");
				} else {
					u128_format(total - used, b);
					u128_format(total, c);
				}
				table_row(&p, (char *[]){xstrdup(ps[i].name),
							 xstrdup(f ? "IPv6" : "IPv4"), xstrdup(a),
							 xstrdup(b), xstrdup(c)});
			}
		}
		table_print(&p, stdout);
	}
}

static void print_json(const struct pipeline_pass *ps, const struct row *rows, size_t nrows,
		       const struct alloc *alloc)
{
	json_t *root = json_object();
	json_object_set_new(root, "planned", json_boolean(ps->running));
	json_object_set_new(root, "configuration", pipeline_verdict_json(&ps->verdict));
	json_t *svcs = json_array();
	for (size_t k = 0; k < nrows; k++) {
		const struct row *r = &rows[k];
		json_t *ingress = json_array(), *pools = json_array(), *events = json_array();
		for (size_t a = 0; r->res && a < r->res->naddrs; a++) {
			char buf[IP_STR_MAX];
			json_array_append_new(ingress, json_string(ip_format(&r->res->addrs[a], buf)));
			json_array_append_new(pools, json_string(r->res->pools[a]));
		}
		size_t ne;
		const struct alloc_event *ev = row_events(r, &ne);
		for (size_t e = 0; e < ne; e++)
			json_array_append_new(events, json_pack("{s:s, s:s, s:s}", "type", ev[e].type,
								"reason", ev[e].reason, "message",
								ev[e].message));
		json_array_append_new(svcs, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "namespace",
						      r->ns, "name", r->name, "type", r->type,
						      "ingress", ingress, "pools", pools, "events",
						      events));
	}
	json_object_set_new(root, "services", svcs);
	json_object_set_new(root, "pools", alloc ? alloc_pools_json(alloc) : json_array());
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(root);
}

int cmd_plan(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"namespace", required_argument, NULL, 'n'},
		{"lb-class", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *ns = MODEL_DEFAULT_CONFIG_NAMESPACE, *lb_class = NULL;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = true;
			else if (strcmp(optarg, "table") == 0)
				json = false;
			else {
				fprintf(stderr,
					"ironlb plan: unknown output format \"%s\" (accepted: table, json)\n",
					optarg);
				return 2;
			}
			break;
		case 'n':
			ns = optarg;
			break;
		case 'L':
			lb_class = optarg;
			break;
		case 'h':
			plan_usage(stdout);
			return 0;
		default:
			plan_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs("ironlb plan: no PATH given (a file, a directory, or - for stdin)\n", stderr);
		plan_usage(stderr);
		return 2;
	}

	/* What `ironlb run` would do from a cold start on these manifests: the
	 * same pipeline, verdict and allocator, no state file. */
	struct pipeline_opts po = {.config_namespace = ns, .lb_class = lb_class};
	struct pipeline *p = pipeline_new(&po);
	pipeline_read_paths(p, (const char *const *)argv + optind, (size_t)(argc - optind));
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	for (size_t i = 0; i < ps.diags.n; i++) {
		if (ps.diags.items[i].level == DIAG_NOTE)
			continue;
		char *s = diag_format(&ps.diags.items[i]);
		fprintf(stderr, "%s\n", s);
		free(s);
	}
	if (ps.verdict.config != PIPELINE_CONFIG_VALID || ps.verdict.nfailed)
		pipeline_verdict_print(&ps.verdict, stderr);
	int rc = 0;
	if (!ps.running) {
		size_t errors = diag_count(&ps.diags, DIAG_ERROR);
		fprintf(stderr,
			"ironlb plan: not planned: the configuration has %zu error%s (see above); "
			"ironlb run would allocate and announce nothing\n",
			errors, errors == 1 ? "" : "s");
		if (json)
			print_json(&ps, NULL, 0, NULL);
		rc = 1;
	} else {
		struct alloc *a = alloc_new();
		alloc_set_lb_class(a, lb_class);
		pipeline_allocate(&ps, a);
		size_t nrows;
		struct row *rows = plan_rows(&ps, &nrows);
		struct alloc_pool_stats *pst = NULL;
		size_t nps = alloc_pool_stats(a, &pst);
		if (json)
			print_json(&ps, rows, nrows, a);
		else
			print_table(rows, nrows, pst, nps);
		free(pst);
		free(rows);
		alloc_free(a);
	}
	pipeline_pass_free(&ps);
	pipeline_free(p);
	return rc;
}
