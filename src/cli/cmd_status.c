/*
 * ironlb status: fetch a running daemon's /status and print it for a
 * person (a table) or a program (-o json, the document as served).
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"

static void status_usage(FILE *out)
{
	fputs("usage: ironlb status [--server URL] [-o table|json]\n"
	      "\n"
	      "Show a running ironlb's configuration state, the addresses of its\n"
	      "Services, which node announces each, its interfaces and pool usage.\n"
	      "\n"
	      "options:\n"
	      "  -s, --server URL      the daemon's HTTP address (default\n"
	      "                        http://127.0.0.1:7472)\n"
	      "  -o, --output FORMAT   table (default) or json\n"
	      "  -h, --help            this text\n",
	      out);
}

struct body {
	char *p;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	b->p = xrealloc(b->p, b->len + add + 1);
	memcpy(b->p + b->len, ptr, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

static const char *js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static char *join_strings(json_t *arr)
{
	if (!json_array_size(arr))
		return xstrdup("<none>");
	char *out = xstrdup("");
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		char *n = xasprintf("%s%s%s", out, i ? "," : "", json_string_value(v));
		free(out);
		out = n;
	}
	return out;
}

static void print_status(json_t *root)
{
	json_t *cfg = json_object_get(root, "config");
	bool loaded = json_is_true(json_object_get(cfg, "loaded"));
	bool stale = json_is_true(json_object_get(cfg, "stale"));
	printf("node:        %s\n", js(root, "node"));
	printf("manifests:   %s\n", js(root, "manifests"));
	printf("config:      %s (%lld reloads, %lld rejected)\n",
	       !loaded ? "not loaded" : stale ? "STALE: the latest change was rejected" : "valid",
	       (long long)json_integer_value(json_object_get(cfg, "reloads")),
	       (long long)json_integer_value(json_object_get(cfg, "failed_reloads")));
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(cfg, "errors"), i, v)
		printf("  error:     %s\n", json_string_value(v));
	json_array_foreach(json_object_get(cfg, "warnings"), i, v)
		printf("  warning:   %s\n", json_string_value(v));

	printf("\n%-12s %-28s %-34s %-26s %-10s %s\n", "NAMESPACE", "NAME", "EXTERNAL-IP",
	       "POOL(S)", "OWNER", "HERE");
	json_array_foreach(json_object_get(root, "services"), i, v) {
		char *ing = join_strings(json_object_get(v, "ingress"));
		char *pools = join_strings(json_object_get(v, "pools"));
		json_t *owner = json_object_get(v, "owner");
		printf("%-12s %-28s %-34s %-26s %-10s %s\n", js(v, "namespace"), js(v, "name"),
		       ing, pools, json_is_string(owner) ? json_string_value(owner) : "<none>",
		       json_is_true(json_object_get(v, "announced_here")) ? "yes" : "no");
		free(ing);
		free(pools);
	}

	json_t *eng = json_object_get(root, "l2_engine");
	if (eng) {
		printf("\n%-16s %-8s %-19s %s\n", "INTERFACE", "USABLE", "MAC", "NOTE");
		json_array_foreach(json_object_get(eng, "interfaces"), i, v) {
			bool usable = json_is_true(json_object_get(v, "usable"));
			printf("%-16s %-8s %-19s %s\n", js(v, "name"), usable ? "yes" : "no",
			       js(v, "mac"), usable ? "" : js(v, "reason"));
		}
		printf("\n%-40s %-36s %-20s %s\n", "ANNOUNCED", "SERVICE", "INTERFACES",
		       "REQUESTS/REPLIES/GRATUITOUS");
		json_array_foreach(json_object_get(eng, "addresses"), i, v) {
			char *ifs = join_strings(json_object_get(v, "interfaces"));
			printf("%-40s %-36s %-20s %lld/%lld/%lld\n", js(v, "ip"), js(v, "service"),
			       ifs, (long long)json_integer_value(json_object_get(v, "requests")),
			       (long long)json_integer_value(json_object_get(v, "responses")),
			       (long long)json_integer_value(json_object_get(v, "gratuitous")));
			free(ifs);
		}
	}

	printf("\n%-24s %-7s %-24s %-24s %s\n", "POOL", "FAMILY", "IN-USE", "AVAILABLE", "TOTAL");
	json_array_foreach(json_object_get(root, "pools"), i, v) {
		for (int f = 0; f < 2; f++) {
			json_t *c = json_object_get(v, f ? "ipv6" : "ipv4");
			if (!c)
				continue;
			const char *avail = js(c, "available");
			printf("%-24s %-7s %-24s %-24s %s\n", js(v, "name"), f ? "IPv6" : "IPv4",
			       js(c, "in_use"), *avail ? avail : "-", js(c, "total"));
		}
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *server = "http://127.0.0.1:7472";
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = true;
			else if (strcmp(optarg, "table") != 0) {
				fprintf(stderr,
					"ironlb status: unknown output format \"%s\" (accepted: table, json)\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			status_usage(stdout);
			return 0;
		default:
			status_usage(stderr);
			return 2;
		}
	}
	char *url = xasprintf("%s%s/status", strstr(server, "://") ? "" : "http://", server);
	CURL *h = curl_easy_init();
	struct body b = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	CURLcode rc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	int ret = 0;
	if (rc != CURLE_OK) {
		fprintf(stderr, "ironlb status: cannot reach %s: %s (is `ironlb run` running there?)\n",
			url, *errbuf ? errbuf : curl_easy_strerror(rc));
		ret = 1;
	} else if (code != 200) {
		fprintf(stderr, "ironlb status: %s answered HTTP %ld\n", url, code);
		ret = 1;
	} else if (json) {
		fwrite(b.p, 1, b.len, stdout);
		if (b.len && b.p[b.len - 1] != '\n')
			putchar('\n');
	} else {
		json_error_t e;
		json_t *root = json_loadb(b.p, b.len, 0, &e);
		if (!root) {
			fprintf(stderr, "ironlb status: %s: not JSON: %s\n", url, e.text);
			ret = 1;
		} else {
			print_status(root);
			json_decref(root);
		}
	}
	free(b.p);
	free(url);
	return ret;
}
