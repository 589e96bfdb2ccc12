/*
 * The standalone state file (see state.h).  Loading is one jansson parse,
 * one pass over the entries and one sort, so 100,000 Services load in a
 * fraction of a second; an entry that is wrong is dropped on its own and
 * reported with its line, the rest kept.  Only a file that is not JSON or
 * not a state document at all is moved aside whole.
 */
#include "daemon/state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
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

/* By namespace/name, then by where in the file: among duplicates the
 * first listed sorts first. */
static int entry_line_cmp(const void *pa, const void *pb)
{
	const struct state_entry *a = pa, *b = pb;
	int c = entry_cmp(pa, pb);
	return c ? c : (a->line > b->line) - (a->line < b->line);
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

static void entry_free(struct state_entry *e)
{
	free(e->namespace_);
	free(e->name);
	for (size_t k = 0; k < e->naddrs; k++)
		free(e->pools[k]);
}

void state_free(struct state *s)
{
	for (size_t i = 0; i < s->n; i++)
		entry_free(&s->entries[i]);
	free(s->entries);
	for (size_t i = 0; i < s->ndropped; i++)
		free(s->dropped[i]);
	free(s->dropped);
	memset(s, 0, sizeof(*s));
}

/*
 * The line on which each element of the top-level "services" array
 * starts, in order, for the messages about dropped entries (jansson keeps
 * no positions).  Only called on text jansson has accepted, so this is a
 * scan of valid JSON: strings (with escapes) skipped, nesting counted.
 */
static size_t *service_lines(const char *text, size_t len, size_t *n)
{
	size_t *lines = NULL, line = 1, depth = 0;
	bool in_services = false, want_elem = false, key_services = false;

	*n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c == '\n') {
			line++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r')
			continue;
		if (in_services && depth == 2 && want_elem && c != ']') {
			*VEC_PUSH(lines, *n) = line;
			want_elem = false;
		}
		switch (c) {
		case '"': {
			size_t start = i + 1;
			for (i++; i < len && text[i] != '"'; i++)
				if (text[i] == '\\')
					i++;
			/* A member name of the root object: remember whether it
			 * is "services" for the value that follows. */
			if (depth == 1)
				key_services = i - start == 8 &&
					       memcmp(text + start, "services", 8) == 0;
			break;
		}
		case '{':
		case '[':
			depth++;
			if (depth == 2 && c == '[' && key_services) {
				in_services = true;
				want_elem = true;
			}
			break;
		case '}':
		case ']':
			if (depth == 2)
				in_services = false;
			depth--;
			break;
		case ',':
			if (depth == 1)
				key_services = false;
			if (in_services && depth == 2)
				want_elem = true;
			break;
		default:
			break;
		}
	}
	return lines;
}

/* One element of "services"; -1 and *why when it cannot be kept. */
static int parse_entry(json_t *e, size_t i, struct state *out, size_t line, char **why)
{
	const char *ns = json_string_value(json_object_get(e, "namespace"));
	const char *name = json_string_value(json_object_get(e, "name"));
	json_t *addrs = json_object_get(e, "addresses");
	json_t *pools = json_object_get(e, "pools");
	if (!ns || !name || !json_is_array(addrs) || !json_is_array(pools) ||
	    json_array_size(addrs) > 2 || json_array_size(addrs) != json_array_size(pools)) {
		*why = xasprintf("services[%zu]: needs namespace, name, and addresses "
				 "and pools of equal length (at most 2)",
				 i);
		return -1;
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
			return -1;
		}
		p[k] = (char *)ps;
	}
	if (n == 2 && a[0].family == a[1].family) {
		*why = xasprintf("services[%zu]: two addresses of one family", i);
		return -1;
	}
	json_t *stamp = json_object_get(e, "allocated");
	if (stamp && (!json_is_integer(stamp) || json_integer_value(stamp) < 0)) {
		*why = xasprintf("services[%zu].allocated: not a count of microseconds "
				 "(a non-negative integer)",
				 i);
		return -1;
	}
	state_add(out, ns, name, n, a, p);
	out->entries[out->n - 1].stamp = stamp ? (uint64_t)json_integer_value(stamp) : 0;
	out->entries[out->n - 1].line = line;
	return 0;
}

static void drop(struct state *s, size_t line, char *why)
{
	*VEC_PUSH(s->dropped, s->ndropped) =
		line ? xasprintf("line %zu: %s", line, why) : xstrdup(why);
	free(why);
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
	size_t nlines;
	size_t *lines = service_lines(text, len, &nlines);
	size_t i;
	json_t *e;
	/* A bad entry costs that Service its addresses, not every Service. */
	json_array_foreach(svcs, i, e) {
		size_t line = i < nlines ? lines[i] : 0;
		char *ewhy = NULL;
		if (parse_entry(e, i, out, line, &ewhy) != 0)
			drop(out, line, ewhy);
	}
	json_decref(root);
	free(lines);

	/* One sort for the whole file (sorting after each entry made a load
	 * quadratic: minutes for 100,000 Services), then duplicates: the
	 * first listed is kept. */
	xqsort(out->entries, out->n, sizeof(*out->entries), entry_line_cmp);
	size_t kept = 0;
	for (i = 0; i < out->n; i++) {
		struct state_entry *cur = &out->entries[i];
		if (kept && entry_cmp(&out->entries[kept - 1], cur) == 0) {
			const struct state_entry *first = &out->entries[kept - 1];
			drop(out, cur->line,
			     xasprintf("%s/%s listed twice; the entry at line %zu is kept",
				       cur->namespace_, cur->name, first->line));
			entry_free(cur);
			continue;
		}
		out->entries[kept++] = *cur;
	}
	out->n = kept;
	return 0;
}

/* Read at most STATE_MAX_BYTES of a regular file; NULL with *why set
 * (errno kept for ENOENT) otherwise. */
static char *read_bounded(const char *path, size_t *len, char **why)
{
	/* O_NONBLOCK: a FIFO at the path must not hang the open. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat sb;
	if (fd < 0) {
		int e = errno;
		*why = xasprintf("%s: %s", path, strerror(errno));
		errno = e;
		return NULL;
	}
	if (fstat(fd, &sb) != 0) {
		*why = xasprintf("%s: %s", path, strerror(errno));
		close(fd);
		errno = EIO;
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		*why = xasprintf("%s: not a regular file; --state wants the path of a file (it is "
				 "created if missing)",
				 path);
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	size_t cap = sb.st_size > 0 && (uint64_t)sb.st_size < STATE_MAX_BYTES
			     ? (size_t)sb.st_size + 1 : 65536, n = 0;
	char *buf = xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap > STATE_MAX_BYTES)
				break;
			cap = cap * 2 > STATE_MAX_BYTES + 1 ? STATE_MAX_BYTES + 1 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why = xasprintf("%s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			errno = EIO;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > STATE_MAX_BYTES) {
		*why = xasprintf("%s: larger than %u MiB, the limit for a state file (100,000 "
				 "Services take about 25 MiB); not loaded",
				 path, STATE_MAX_BYTES >> 20);
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Move a damaged file aside to PATH.corrupt-TIMESTAMP, or with -N added
 * when that exists: never onto an earlier one (RENAME_NOREPLACE, or
 * link() where the file system lacks it).  NULL with errno on failure. */
static char *move_aside(const char *path)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (unsigned k = 0; k < 1000; k++) {
		char *dest = k ? xasprintf("%s.corrupt-%s-%u", path, stamp, k)
			       : xasprintf("%s.corrupt-%s", path, stamp);
		int rc = renameat2(AT_FDCWD, path, AT_FDCWD, dest, RENAME_NOREPLACE);
		if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
			rc = link(path, dest);
			if (rc == 0 && unlink(path) != 0) {
				int e = errno;
				unlink(dest);
				errno = e;
				rc = -1;
			}
		}
		if (rc == 0)
			return dest;
		free(dest);
		if (errno != EEXIST)
			return NULL;
	}
	errno = EEXIST;
	return NULL;
}

enum state_load_result state_load(const char *path, struct state *out, char **aside, char **why)
{
	memset(out, 0, sizeof(*out));
	*aside = NULL;
	*why = NULL;
	size_t len;
	char *rerr = NULL;
	char *text = read_bounded(path, &len, &rerr);
	if (!text) {
		if (errno == ENOENT) {
			free(rerr);
			return STATE_MISSING;
		}
		*why = rerr;
		return STATE_UNREADABLE;
	}
	char *perr = NULL;
	int rc = state_parse(text, len, out, &perr);
	free(text);
	if (rc == 0)
		return STATE_LOADED;
	char *dest = move_aside(path);
	if (!dest) {
		*why = xasprintf("%s: %s; could not move it aside: %s", path, perr,
				 strerror(errno));
		free(perr);
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
