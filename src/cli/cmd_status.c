/*
 * ironlb status: fetch a running daemon's /status and print it for a
 * person (a table) or a program (-o json, the document as served).
 *
 * The request is one HTTP/1.0 GET to ironlb's own server, so a few lines
 * of socket code do it; linking an HTTP client library would cost the
 * daemon (the same binary) megabytes of resident memory.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
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
	      "Services, which node announces each, its interfaces, its BGP sessions\n"
	      "and the prefixes announced on them, its BFD sessions, the failure\n"
	      "detector's members, and pool usage.\n"
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

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Split "http://HOST:PORT[/...]", "HOST:PORT" or "[V6]:PORT" into host
 * and port; -1 with *why when it is none of those. */
static int parse_server(const char *server, char *host, size_t hostlen, char *port,
			size_t portlen, const char **why)
{
	const char *p = server;
	if (str_has_prefix(p, "http://"))
		p += 7;
	else if (strstr(p, "://")) {
		*why = "only http:// is served by ironlb";
		return -1;
	}
	const char *end = p + strcspn(p, "/");
	const char *colon;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb || rb[1] != ':') {
			*why = "an IPv6 address is written [ADDR]:PORT";
			return -1;
		}
		if ((size_t)(rb - p - 1) >= hostlen) {
			*why = "address too long";
			return -1;
		}
		memcpy(host, p + 1, (size_t)(rb - p - 1));
		host[rb - p - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = NULL;
		for (const char *q = p; q < end; q++)
			if (*q == ':')
				colon = q;
		if (!colon) {
			*why = "no port (HOST:PORT, e.g. 127.0.0.1:7472)";
			return -1;
		}
		if ((size_t)(colon - p) >= hostlen) {
			*why = "address too long";
			return -1;
		}
		memcpy(host, p, (size_t)(colon - p));
		host[colon - p] = '\0';
	}
	size_t pl = (size_t)(end - colon - 1);
	if (pl == 0 || pl >= portlen || strspn(colon + 1, "0123456789") < pl) {
		*why = "the port is not a number";
		return -1;
	}
	memcpy(port, colon + 1, pl);
	port[pl] = '\0';
	return 0;
}

/* GET path from server with a deadline; the body of a 200 answer, or -1
 * with a message. */
static int http_get(const char *server, const char *path, double timeout, struct body *b,
		    char **err)
{
	char host[256], port[16];
	const char *why = NULL;
	if (parse_server(server, host, sizeof(host), port, sizeof(port), &why) != 0) {
		*err = xasprintf("bad --server \"%s\": %s", server, why);
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		*err = xasprintf("%s: %s", host, gai_strerror(gai));
		return -1;
	}
	double deadline = mono_now() + timeout;
	int fd = -1, last_errno = 0;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			last_errno = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		*err = xasprintf("cannot connect to %s:%s: %s", host, port,
				 strerror(last_errno ? last_errno : ECONNREFUSED));
		return -1;
	}
	char *req = xasprintf("GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n", path,
			      host, port);
	size_t off = 0, len = strlen(req);
	while (off < len) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			*err = xasprintf("cannot send to %s:%s: %s", host, port, strerror(errno));
			free(req);
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	free(req);
	char *buf = NULL;
	size_t n = 0;
	for (;;) {
		int left = (int)((deadline - mono_now()) * 1000);
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&pfd, 1, left) == 0) {
			*err = xasprintf("%s:%s did not answer within %.0f s", host, port, timeout);
			free(buf);
			close(fd);
			return -1;
		}
		buf = xrealloc(buf, n + 65536 + 1);
		ssize_t r = recv(fd, buf + n, 65536, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*err = xasprintf("reading from %s:%s: %s", host, port, strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!buf)
		buf = xstrdup("");
	buf[n] = '\0';
	int code = 0;
	char *hdr_end = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/%*d.%*d %d", &code) != 1 || !hdr_end) {
		*err = xasprintf("%s:%s did not answer HTTP", host, port);
		free(buf);
		return -1;
	}
	if (code != 200) {
		*err = xasprintf("%s:%s answered HTTP %d", host, port, code);
		free(buf);
		return -1;
	}
	size_t body_off = (size_t)(hdr_end + 4 - buf);
	b->len = n - body_off;
	b->p = xmalloc(b->len + 1);
	memcpy(b->p, buf + body_off, b->len);
	b->p[b->len] = '\0';
	free(buf);
	return 0;
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

/* A duration in milliseconds for the members table: "-" when null. */
static void fmt_ms(json_t *v, char *out, size_t len)
{
	if (!json_is_number(v)) {
		snprintf(out, len, "-");
		return;
	}
	double ms = json_number_value(v);
	if (ms < 10000)
		snprintf(out, len, "%.1fms", ms);
	else
		snprintf(out, len, "%.0fs", ms / 1000);
}

/* The failure detector's members (absent or null: not running). */
static void print_members(json_t *mem)
{
	if (!json_is_object(mem)) {
		printf("\nmembers:     failure detector not running (no InternalIP for this node)\n");
		return;
	}
	printf("\nmembers:     port %lld, %s, local health %lld\n",
	       (long long)json_integer_value(json_object_get(mem, "port")),
	       json_is_true(json_object_get(mem, "authenticated")) ? "authenticated"
								     : "UNAUTHENTICATED",
	       (long long)json_integer_value(json_object_get(mem, "local_health")));
	printf("%-28s %-40s %-8s %-12s %-12s %s\n", "MEMBER", "ADDRESS", "STATE", "IN-STATE",
	       "LAST-HEARD", "RTT");
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(mem, "members"), i, v) {
		char in_state[32], heard[32], rtt[32];
		fmt_ms(json_object_get(v, "in_state_ms"), in_state, sizeof(in_state));
		fmt_ms(json_object_get(v, "last_heard_ms_ago"), heard, sizeof(heard));
		fmt_ms(json_object_get(v, "rtt_ms"), rtt, sizeof(rtt));
		printf("%-28s %-40s %-8s %-12s %-12s %s\n", js(v, "name"), js(v, "address"),
		       js(v, "state"), in_state, heard, rtt);
	}
}

static long long ji(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* One line per BFD session: local and remote state, the intervals in use
 * (negotiated, ms) and the detection time, the diagnostic, uptime. */
static void print_bfd(const json_t *bfd)
{
	size_t i;
	json_t *v;

	if (!json_array_size(bfd))
		return;
	printf("\n%-22s %-28s %-5s %-10s %-10s %-12s %-8s %-24s %s\n", "BFD SESSION", "PEER",
	       "HOPS", "STATE", "REMOTE", "TX/RX MS", "DETECT", "DIAGNOSTIC", "UPTIME");
	json_array_foreach(bfd, i, v) {
		char iv[32], det[24], up[32];
		long long u = ji(v, "uptimeS");

		snprintf(iv, sizeof(iv), "%lld/%lld", ji(v, "txIntervalMs"), ji(v, "rxIntervalMs"));
		snprintf(det, sizeof(det), "%lldms", ji(v, "detectionTimeMs"));
		if (u >= 3600)
			snprintf(up, sizeof(up), "%lldh%02lldm", u / 3600, u / 60 % 60);
		else
			snprintf(up, sizeof(up), "%lldm%02llds", u / 60, u % 60);
		printf("%-22s %-28s %-5s %-10s %-10s %-12s %-8s %-24s %s\n", js(v, "name"),
		       js(v, "peer"), json_is_true(json_object_get(v, "multihop")) ? "multi" : "one",
		       js(v, "state"), js(v, "remoteState"), iv, det, js(v, "localDiag"), up);
	}
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

	json_t *bgp = json_object_get(json_object_get(root, "bgp"), "sessions");
	if (json_array_size(bgp)) {
		printf("\n%-22s %-28s %-12s %-10s %-6s %-9s %s\n", "BGP SESSION", "PEER", "STATE",
		       "UPTIME", "HOLD", "PREFIXES", "LAST ERROR");
		json_array_foreach(bgp, i, v) {
			char up[32];
			long long u = (long long)json_integer_value(json_object_get(v, "uptime_s"));
			if (u >= 3600)
				snprintf(up, sizeof(up), "%lldh%02lldm", u / 3600, u / 60 % 60);
			else
				snprintf(up, sizeof(up), "%lldm%02llds", u / 60, u % 60);
			char st[40];
			snprintf(st, sizeof(st), "%s%s", js(v, "state"),
				 json_is_true(json_object_get(v, "bfd_held")) ? " (BFD)" : "");
			printf("%-22s %-28s %-12s %-10s %-6lld %-9lld %s\n", js(v, "name"), js(v, "peer"),
			       st, up,
			       (long long)json_integer_value(json_object_get(v, "hold_time")),
			       (long long)json_integer_value(json_object_get(v, "announced_prefixes")),
			       js(v, "last_error"));
		}
		printf("\n%-22s %-44s %-10s %s\n", "BGP SESSION", "PREFIX", "LOCALPREF",
		       "COMMUNITIES");
		json_array_foreach(bgp, i, v) {
			size_t k;
			json_t *r;
			json_array_foreach(json_object_get(v, "routes"), k, r) {
				char *comm = join_strings(json_object_get(r, "communities"));
				json_t *lp = json_object_get(r, "local_pref");
				char lps[16] = "-";
				if (json_is_integer(lp))
					snprintf(lps, sizeof(lps), "%lld", (long long)json_integer_value(lp));
				printf("%-22s %-44s %-10s %s%s\n", js(v, "name"), js(r, "prefix"), lps,
				       comm,
				       json_is_false(json_object_get(r, "announced")) ? "  (not sent)" : "");
				free(comm);
			}
		}
	}

	print_bfd(json_object_get(root, "bfd"));
	print_members(json_object_get(root, "members"));

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
	struct body b = {0};
	char *err = NULL;
	int ret = 0;
	if (http_get(server, "/status", 10.0, &b, &err) != 0) {
		fprintf(stderr, "ironlb status: %s (is `ironlb run` serving there?)\n", err);
		free(err);
		ret = 1;
	} else if (json) {
		fwrite(b.p, 1, b.len, stdout);
		if (b.len && b.p[b.len - 1] != '\n')
			putchar('\n');
	} else {
		json_error_t e;
		json_t *root = json_loadb(b.p, b.len, 0, &e);
		if (!root) {
			fprintf(stderr, "ironlb status: %s: not JSON: %s\n", server, e.text);
			ret = 1;
		} else {
			print_status(root);
			json_decref(root);
		}
	}
	free(b.p);
	return ret;
}
