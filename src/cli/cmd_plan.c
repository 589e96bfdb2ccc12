/*
 * ironlb plan PATH... [-o table|json]: validate, then allocate addresses for
 * every Service in the manifests exactly as the running daemon would, and
 * print per Service its addresses (in ingress order), the pools they came
 * from and its events, and per pool the addresses in use and available.
 *
 * The JSON form is stable (docs/cli.md):
 *   {"services": [{"namespace", "name", "type", "ingress": ["ip", ...],
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
	      "exit status: 0 planned (even if some Services got no address), 1 the\n"
	      "manifests have errors (nothing planned), 2 usage error\n",
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

/* Services sorted by namespace/name for output. */
static const struct model *sort_model;
static int svc_order(const void *a, const void *b)
{
	const struct service *x = &sort_model->services[*(const size_t *)a];
	const struct service *y = &sort_model->services[*(const size_t *)b];
	int c = strcmp(x->meta.namespace_, y->meta.namespace_);
	return c ? c : strcmp(x->meta.name, y->meta.name);
}

static void print_table(const struct model *m, const struct alloc_result *res,
			const size_t *order, struct alloc_pool_stats *ps, size_t nps)
{
	struct table t = {.ncols = 6};
	table_row(&t, (char *[]){xstrdup("NAMESPACE"), xstrdup("NAME"), xstrdup("TYPE"),
				 xstrdup("EXTERNAL-IP"), xstrdup("PORT(S)"), xstrdup("POOL(S)")});
	size_t shown = 0;
	for (size_t k = 0; k < m->nservices; k++) {
		size_t i = order[k];
		const struct service *s = &m->services[i];
		if (!service_is_load_balancer(s))
			continue;
		shown++;
		table_row(&t, (char *[]){xstrdup(s->meta.namespace_), xstrdup(s->meta.name),
					 xstrdup(s->type), join_addrs(&res[i]), join_ports(s),
					 join_pools(&res[i])});
	}
	if (shown) {
		table_print(&t, stdout);
	} else {
		for (size_t i = 0; i < t.nrows * t.ncols; i++)
			free(t.cells[i]);
		free(t.cells);
		puts("No LoadBalancer Services in the manifests.");
	}

	bool any_events = false;
	for (size_t k = 0; k < m->nservices; k++) {
		size_t i = order[k];
		const struct service *s = &m->services[i];
		for (size_t e = 0; e < res[i].nevents; e++) {
			if (!any_events)
				puts("\nEVENTS");
			any_events = true;
			printf("  %s/%s: %s %s: %s\n", s->meta.namespace_, s->meta.name,
			       res[i].events[e].type, res[i].events[e].reason,
			       res[i].events[e].message);
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

static void print_json(const struct model *m, const struct alloc_result *res, const size_t *order,
		       const struct alloc *alloc)
{
	json_t *root = json_object();
	json_t *svcs = json_array();
	for (size_t k = 0; k < m->nservices; k++) {
		size_t i = order[k];
		const struct service *s = &m->services[i];
		if (!service_is_load_balancer(s))
			continue;
		json_t *ingress = json_array(), *pools = json_array(), *events = json_array();
		for (size_t a = 0; a < res[i].naddrs; a++) {
			char buf[IP_STR_MAX];
			json_array_append_new(ingress, json_string(ip_format(&res[i].addrs[a], buf)));
			json_array_append_new(pools, json_string(res[i].pools[a]));
		}
		for (size_t e = 0; e < res[i].nevents; e++)
			json_array_append_new(events,
					      json_pack("{s:s, s:s, s:s}", "type",
							res[i].events[e].type, "reason",
							res[i].events[e].reason, "message",
							res[i].events[e].message));
		json_array_append_new(svcs, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "namespace",
						      s->meta.namespace_, "name", s->meta.name,
						      "type", s->type, "ingress", ingress, "pools",
						      pools, "events", events));
	}
	json_object_set_new(root, "services", svcs);
	json_t *pools = alloc_pools_json(alloc);
	json_object_set_new(root, "pools", pools);
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

	struct manifest_set set = {0};
	struct model m;
	struct diag_list d = {0};
	size_t errors = cli_load_model((const char *const *)argv + optind,
				       (size_t)(argc - optind), ns, &set, &m, &d);
	for (size_t i = 0; i < d.n; i++) {
		if (d.items[i].level == DIAG_NOTE)
			continue;
		char *s = diag_format(&d.items[i]);
		fprintf(stderr, "%s\n", s);
		free(s);
	}
	int rc = 0;
	if (errors) {
		fprintf(stderr,
			"ironlb plan: not planned: the manifests have %zu error%s (see above)\n",
			errors, errors == 1 ? "" : "s");
		rc = 1;
	} else {
		struct alloc *a = alloc_new();
		alloc_set_lb_class(a, lb_class);
		alloc_set_config(a, &m);
		struct alloc_result *res = xcalloc(m.nservices ? m.nservices : 1, sizeof(*res));
		alloc_run_all(a, &m, res);
		size_t *order = xcalloc(m.nservices ? m.nservices : 1, sizeof(size_t));
		for (size_t i = 0; i < m.nservices; i++)
			order[i] = i;
		sort_model = &m;
		xqsort(order, m.nservices, sizeof(size_t), svc_order);
		struct alloc_pool_stats *ps = NULL;
		size_t nps = alloc_pool_stats(a, &ps);
		if (json)
			print_json(&m, res, order, a);
		else
			print_table(&m, res, order, ps, nps);
		free(ps);
		for (size_t i = 0; i < m.nservices; i++)
			alloc_result_free(&res[i]);
		free(res);
		free(order);
		alloc_free(a);
	}
	model_free(&m);
	manifest_set_free(&set);
	diag_list_free(&d);
	return rc;
}
