/*
 * ironlb check PATH...: validate manifests offline, as admission would, and
 * stricter where MetalLB silently does the wrong thing.  Prints every
 * error, warning and note with file:line, object and field, then the
 * verdict every mode follows (pipeline.h: whether the configuration would
 * run, which Services fail and why) and a count; exit 0 when there is no
 * error, 1 when there is, 2 on a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/pipeline.h"

static void check_usage(FILE *out)
{
	fputs("usage: ironlb check [options] PATH...\n"
	      "\n"
	      "Validate MetalLB manifests (files or directories of YAML/JSON, \"-\" for\n"
	      "standard input) without touching any cluster or network.\n"
	      "\n"
	      "options:\n"
	      "  -n, --namespace NS   namespace MetalLB configuration is read from\n"
	      "                       (default " MODEL_DEFAULT_CONFIG_NAMESPACE ")\n"
	      "  -q, --quiet          print errors and warnings only, no notes or summary\n"
	      "  -W, --warnings-as-errors\n"
	      "                       exit 1 on warnings too\n"
	      "  -h, --help           this text\n"
	      "\n"
	      "exit status: 0 valid, 1 errors found, 2 usage error\n",
	      out);
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"namespace", required_argument, NULL, 'n'},
		{"quiet", no_argument, NULL, 'q'},
		{"warnings-as-errors", no_argument, NULL, 'W'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *ns = MODEL_DEFAULT_CONFIG_NAMESPACE;
	bool quiet = false, werror = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:qWh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ns = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'W':
			werror = true;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs("ironlb check: no PATH given (a file, a directory, or - for stdin)\n", stderr);
		check_usage(stderr);
		return 2;
	}

	/* The same pipeline and verdict as `ironlb run` from a cold start. */
	struct pipeline_opts po = {.config_namespace = ns};
	struct pipeline *p = pipeline_new(&po);
	pipeline_read_paths(p, (const char *const *)argv + optind, (size_t)(argc - optind));
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	/* Allocate as a cold start would, for what only allocation shows: a
	 * Service asking for an address another one keeps. */
	struct alloc *a = alloc_new();
	pipeline_allocate(&ps, a);
	pipeline_contest_warnings(&ps);
	alloc_free(a);
	const struct diag_list *d = &ps.diags;
	size_t errors = diag_count(d, DIAG_ERROR);
	size_t warnings = diag_count(d, DIAG_WARNING);
	for (size_t i = 0; i < d->n; i++) {
		if (quiet && d->items[i].level == DIAG_NOTE)
			continue;
		char *s = diag_format(&d->items[i]);
		puts(s);
		free(s);
	}
	if (!quiet) {
		pipeline_verdict_print(&ps.verdict, stdout);
		printf("%s: %zu object%s checked, %zu skipped: %zu error%s, %zu warning%s\n",
		       errors ? "invalid" : "valid", ps.nobjects, ps.nobjects == 1 ? "" : "s",
		       ps.nskipped, errors, errors == 1 ? "" : "s", warnings,
		       warnings == 1 ? "" : "s");
	}
	pipeline_pass_free(&ps);
	pipeline_free(p);
	if (errors)
		return 1;
	return werror && warnings ? 1 : 0;
}
