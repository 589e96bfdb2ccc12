/* logfmt logging (see log.h). */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static FILE *log_out;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcmp(s, "warning") == 0)
		return LOG_WARN;
	return -1;
}

const char *log_level_name(enum log_level l)
{
	return (unsigned)l < 4 ? level_names[l] : "?";
}

void log_set_level(enum log_level l)
{
	min_level = l;
}

bool log_enabled(enum log_level l)
{
	return l >= min_level;
}

void log_set_output(FILE *f)
{
	log_out = f;
}

/* A line is built in memory and written with one call: the output is
 * usually stderr, which is unbuffered, and putting a line out piece by
 * piece cost a system call per key and value (a third of a busy daemon's
 * time under a stream of changes); one write also keeps a line whole
 * beside another process writing to the same file. */
struct line {
	char *p;
	size_t len, cap;
	char stack[1024];
};

static void line_grow(struct line *l, size_t more)
{
	if (l->len + more <= l->cap)
		return;
	size_t cap = l->cap * 2;
	while (cap < l->len + more)
		cap *= 2;
	char *np = malloc(cap);
	if (!np)
		abort();
	memcpy(np, l->p, l->len);
	if (l->p != l->stack)
		free(l->p);
	l->p = np;
	l->cap = cap;
}

static void line_put(struct line *l, const char *s, size_t n)
{
	line_grow(l, n);
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void line_puts(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

static void line_putc(struct line *l, char c)
{
	line_put(l, &c, 1);
}

static void put_value(struct line *l, const char *v)
{
	if (!v) {
		line_puts(l, "\"\"");
		return;
	}
	size_t plain = strcspn(v, " \t\"=\\\n");
	if (*v != '\0' && v[plain] == '\0') {
		line_put(l, v, plain);
		return;
	}
	/* Quoted: the runs between characters to escape go in whole. */
	line_putc(l, '"');
	for (const char *p = v;;) {
		size_t run = strcspn(p, "\"\\\n");
		line_put(l, p, run);
		p += run;
		if (!*p)
			break;
		line_put(l, *p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\", 2);
		p++;
	}
	line_putc(l, '"');
}

/* "level=L ts=YYYY-MM-DDTHH:MM:SS.mmmZ msg=" into head; its length.  The
 * seconds are formatted once per second, not on every line. */
static size_t line_head(char *head, size_t size, enum log_level l, const struct timeval *tv)
{
	static time_t cached_sec = (time_t)-1;
	static char cached[32];
	if (tv->tv_sec != cached_sec) {
		struct tm tm;
		gmtime_r(&tv->tv_sec, &tm);
		strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = tv->tv_sec;
	}
	int hn = snprintf(head, size, "level=%s ts=%s.%03ldZ msg=", log_level_name(l), cached,
			  (long)tv->tv_usec / 1000);
	if (hn < 0)
		return 0;
	return (size_t)hn >= size ? size - 1 : (size_t)hn;
}

void log_msg(enum log_level l, const char *msg, ...)
{
	if (!log_enabled(l))
		return;
	FILE *f = log_out ? log_out : stderr;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct line ln;
	ln.p = ln.stack;
	ln.len = 0;
	ln.cap = sizeof(ln.stack);
	char head[96];
	line_put(&ln, head, line_head(head, sizeof(head), l, &tv));
	put_value(&ln, msg);
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		line_putc(&ln, ' ');
		line_puts(&ln, k);
		line_putc(&ln, '=');
		put_value(&ln, v);
	}
	va_end(ap);
	line_putc(&ln, '\n');
	fwrite(ln.p, 1, ln.len, f);
	fflush(f);
	if (ln.p != ln.stack)
		free(ln.p);
}

bool log_limit_allow(struct log_limit *ll, double now)
{
	if (!ll->started || now - ll->start >= ll->interval || now < ll->start) {
		ll->started = true;
		ll->start = now;
		ll->n = 0;
	}
	if (ll->n < ll->burst) {
		ll->n++;
		return true;
	}
	ll->suppressed++;
	return false;
}

void log_limit_flush(struct log_limit *ll, enum log_level l, const char *msg, const char *key,
		     const char *value)
{
	char n[24], within[48];

	if (!ll->suppressed)
		return;
	snprintf(n, sizeof(n), "%lu", ll->suppressed);
	snprintf(within, sizeof(within), "%u lines per %gs", ll->burst, ll->interval);
	if (key)
		log_msg(l, msg, key, value, "suppressed", n, "limit", within, NULL);
	else
		log_msg(l, msg, "suppressed", n, "limit", within, NULL);
	ll->suppressed = 0;
}

double log_limit_end(const struct log_limit *ll)
{
	return ll->start + ll->interval;
}
