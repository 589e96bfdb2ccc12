/* logfmt logging (see log.h). */
#include "base/log.h"

#include <stdarg.h>
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

static void put_value(FILE *f, const char *v)
{
	if (!v) {
		fputs("\"\"", f);
		return;
	}
	bool quote = *v == '\0' || strpbrk(v, " \t\"=\\\n") != NULL;
	if (!quote) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		if (*p == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*p, f);
	}
	fputc('"', f);
}

void log_msg(enum log_level l, const char *msg, ...)
{
	if (!log_enabled(l))
		return;
	FILE *f = log_out ? log_out : stderr;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char ts[32];
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	flockfile(f);
	fprintf(f, "level=%s ts=%s.%03ldZ msg=", log_level_name(l), ts, (long)tv.tv_usec / 1000);
	put_value(f, msg);
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		fprintf(f, " %s=", k);
		put_value(f, v);
	}
	va_end(ap);
	fputc('\n', f);
	funlockfile(f);
	fflush(f);
}
