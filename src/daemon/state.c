/* The standalone state file (see state.h). */
#include "daemon/state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

static int entry_cmp(const void *pa, const void *pb)
{
	const struct state_entry *a = pa, *b = pb;
	int c = strcmp(a->namespace_, b->namespace_);
	return c ? c : strcmp(a->name, b->name);
}

void state_add(struct state *s, const char *ns, const char *name, size_t naddrs,
	       const struct ip_addr *addrs, char *const *pools)
{
	struct state_entry *e = VEC_PUSH(s->entries, s->n);
	e->namespace_ = xstrdup(ns);
	e->name = xstrdup(name);
	e->naddrs = naddrs > 2 ? 2 : naddrs;
	for (size_t i = 0; i < e->naddrs; i++) {
		e->addrs[i] = addrs[i];
		e->pools[i] = xstrdup(pools ? pools[i] : "");
	}
}

const struct state_entry *state_find(const struct state *s, const char *ns, const char *name)
{
	struct state_entry key = {.namespace_ = (char *)ns, .name = (char *)name};
	return xbsearch(&key, s->entries, s->n, sizeof(key), entry_cmp);
}

void state_free(struct state *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->entries[i].namespace_);
		free(s->entries[i].name);
		for (size_t k = 0; k < s->entries[i].naddrs; k++)
			free(s->entries[i].pools[k]);
	}
	free(s->entries);
	s->entries = NULL;
	s->n = 0;
}

int state_parse(const char *text, size_t len, struct state *out, char **why)
{
	memset(out, 0, sizeof(*out));
	json_error_t err;
	json_t *root = json_loadb(text, len, 0, &err);
	if (!root) {
		*why = xasprintf("line %d: %s", err.line, err.text);
		return -1;
	}
	json_t *ver = json_object_get(root, "version");
	json_t *svcs = json_object_get(root, "services");
	if (!json_is_object(root) || !json_is_integer(ver) || json_integer_value(ver) != 1 ||
	    !json_is_array(svcs)) {
		*why = xstrdup("not an ironlb state document (want {\"version\": 1, \"services\": [...]})");
		json_decref(root);
		return -1;
	}
	size_t i;
	json_t *e;
	json_array_foreach(svcs, i, e) {
		const char *ns = json_string_value(json_object_get(e, "namespace"));
		const char *name = json_string_value(json_object_get(e, "name"));
		json_t *addrs = json_object_get(e, "addresses");
		json_t *pools = json_object_get(e, "pools");
		if (!ns || !name || !json_is_array(addrs) || !json_is_array(pools) ||
		    json_array_size(addrs) > 2 || json_array_size(addrs) != json_array_size(pools)) {
			*why = xasprintf("services[%zu]: needs namespace, name, and addresses "
					 "and pools of equal length (at most 2)",
					 i);
			goto fail;
		}
		struct ip_addr a[2];
		char *p[2];
		size_t n = json_array_size(addrs);
		for (size_t k = 0; k < n; k++) {
			const char *as = json_string_value(json_array_get(addrs, k));
			const char *ps = json_string_value(json_array_get(pools, k));
			char w[128];
			if (!as || !ps || ip_parse(as, &a[k], w, sizeof(w)) != 0) {
				*why = xasprintf("services[%zu].addresses[%zu]: not an address", i, k);
				goto fail;
			}
			p[k] = (char *)ps;
		}
		if (n == 2 && a[0].family == a[1].family) {
			*why = xasprintf("services[%zu]: two addresses of one family", i);
			goto fail;
		}
		if (state_find(out, ns, name) != NULL) {
			*why = xasprintf("services[%zu]: %s/%s listed twice", i, ns, name);
			goto fail;
		}
		json_t *stamp = json_object_get(e, "allocated");
		if (stamp && (!json_is_integer(stamp) || json_integer_value(stamp) < 0)) {
			*why = xasprintf("services[%zu].allocated: not a count of microseconds "
					 "(a non-negative integer)",
					 i);
			goto fail;
		}
		state_add(out, ns, name, n, a, p);
		out->entries[out->n - 1].stamp = stamp ? (uint64_t)json_integer_value(stamp) : 0;
		xqsort(out->entries, out->n, sizeof(*out->entries), entry_cmp);
	}
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	state_free(out);
	return -1;
}

enum state_load_result state_load(const char *path, struct state *out, char **aside, char **why)
{
	memset(out, 0, sizeof(*out));
	*aside = NULL;
	*why = NULL;
	size_t len;
	char *text = file_read_all(path, &len);
	if (!text) {
		if (errno == ENOENT)
			return STATE_MISSING;
		*why = xasprintf("%s: %s", path, strerror(errno));
		return STATE_UNREADABLE;
	}
	char *perr = NULL;
	int rc = state_parse(text, len, out, &perr);
	free(text);
	if (rc == 0)
		return STATE_LOADED;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	char *dest = xasprintf("%s.corrupt-%s", path, stamp);
	if (rename(path, dest) != 0) {
		*why = xasprintf("%s: %s; could not move it aside: %s", path, perr,
				 strerror(errno));
		free(perr);
		free(dest);
		return STATE_UNREADABLE;
	}
	*why = perr;
	*aside = dest;
	return STATE_CORRUPT;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The document is written as text directly, in the layout jansson's
 * JSON_INDENT(1) gives: building it as a tree of JSON values first cost
 * the writer (a child process, once a second under a stream of changes)
 * about 0.3 s of CPU for 10,000 Services, on cores the daemon needs. */
struct text {
	char *p;
	size_t len, cap;
};

static void text_put(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		while (cap < t->len + n + 1)
			cap *= 2;
		t->p = xrealloc(t->p, cap);
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = 0;
}

static void text_puts(struct text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

/* A JSON string: quotes, backslashes and control characters escaped;
 * anything else (UTF-8 included) as it is. */
static void text_string(struct text *t, const char *s)
{
	text_put(t, "\"", 1);
	const char *run = s;
	for (const char *c = s; *c; c++) {
		unsigned char u = (unsigned char)*c;
		if (u >= 0x20 && u != '"' && u != '\\')
			continue;
		text_put(t, run, (size_t)(c - run));
		char esc[8];
		if (u == '"' || u == '\\')
			snprintf(esc, sizeof(esc), "\\%c", u);
		else if (u == '\n')
			snprintf(esc, sizeof(esc), "\\n");
		else if (u == '\t')
			snprintf(esc, sizeof(esc), "\\t");
		else
			snprintf(esc, sizeof(esc), "\\u%04x", u);
		text_puts(t, esc);
		run = c + 1;
	}
	text_puts(t, run);
	text_put(t, "\"", 1);
}

static char *state_text(const char *node, const struct state *s)
{
	struct text t = {0};
	text_puts(&t, "{\n \"version\": 1,\n \"node\": ");
	text_string(&t, node ? node : "");
	text_puts(&t, ",\n \"services\": [");
	for (size_t i = 0; i < s->n; i++) {
		const struct state_entry *e = &s->entries[i];
		text_puts(&t, i ? ",\n  {\n   \"namespace\": " : "\n  {\n   \"namespace\": ");
		text_string(&t, e->namespace_);
		text_puts(&t, ",\n   \"name\": ");
		text_string(&t, e->name);
		text_puts(&t, ",\n   \"addresses\": [");
		for (size_t k = 0; k < e->naddrs; k++) {
			char buf[IP_STR_MAX];
			text_puts(&t, k ? ",\n    " : "\n    ");
			text_string(&t, ip_format(&e->addrs[k], buf));
		}
		text_puts(&t, e->naddrs ? "\n   ],\n   \"pools\": [" : "],\n   \"pools\": [");
		for (size_t k = 0; k < e->naddrs; k++) {
			text_puts(&t, k ? ",\n    " : "\n    ");
			text_string(&t, e->pools[k] ? e->pools[k] : "");
		}
		text_puts(&t, e->naddrs ? "\n   ]" : "]");
		if (e->stamp) {
			char num[64];
			snprintf(num, sizeof(num), ",\n   \"allocated\": %llu",
				 (unsigned long long)e->stamp);
			text_puts(&t, num);
		}
		text_puts(&t, "\n  }");
	}
	text_puts(&t, s->n ? "\n ]\n}" : "]\n}");
	return t.p;
}

int state_save(const char *path, const char *node, const struct state *s, char **why)
{
	char *text = state_text(node, s);

	char *tmp = xasprintf("%s.tmp-%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = -1;
	if (fd < 0) {
		*why = xasprintf("cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0 ||
	    fsync(fd) != 0) {
		*why = xasprintf("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		*why = xasprintf("cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	/* Make the rename itself durable. */
	char *dircopy = xstrdup(path);
	int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(dircopy);
	rc = 0;
out:
	free(tmp);
	free(text);
	return rc;
}
