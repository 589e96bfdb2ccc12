/*
 * Logging: one line per event in logfmt (key=value), level first:
 *
 *   level=info msg="address announced" service=default/web ip=192.168.100.10 iface=eth0
 *
 * log_msg() takes the message and then key/value string pairs ending with
 * NULL; values are quoted when they contain blanks, quotes or '='.  Output
 * goes to stderr (or a FILE set with log_set_output) with a timestamp.
 */
#ifndef IRONLB_BASE_LOG_H
#define IRONLB_BASE_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* "debug", "info", "warn", "error"; -1 for anything else. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level l);
void log_set_level(enum log_level l);
bool log_enabled(enum log_level l);
void log_set_output(FILE *f);

/* log_msg(LOG_INFO, "address announced", "service", "default/web", "ip", ip, NULL) */
void log_msg(enum log_level l, const char *msg, ...) __attribute__((sentinel));

/*
 * A limit for a line that others can make us repeat at will (a refused
 * connection): at most `burst` lines per `interval` seconds; beyond that
 * the lines are counted instead, and log_limit_flush() writes the count as
 * one line.  Times are the caller's (the loop's clock), so it is pure.
 *
 *   static struct log_limit refused = LOG_LIMIT_INIT(5.0, 5);
 *   if (log_limit_allow(&refused, now))
 *           log_warn("bgp connection refused", ...);
 *   ... once the interval is over (a timer, or before the next line):
 *   log_limit_flush(&refused, LOG_WARN, "bgp connections refused, not logged one by one",
 *                   NULL, NULL);
 */
struct log_limit {
	double interval;
	unsigned burst;
	double start;            /* of the current interval */
	bool started;
	unsigned n;              /* lines logged in it */
	unsigned long suppressed; /* lines not logged since the last flush */
};
#define LOG_LIMIT_INIT(interval_, burst_) { .interval = (interval_), .burst = (burst_) }

/* true: log this line; false: it was counted as suppressed. */
bool log_limit_allow(struct log_limit *ll, double now);
/* When lines were suppressed: log msg at level l with `key`=`value` (the
 * object concerned; key NULL for none), suppressed=N and the limit, and
 * start counting again.  Nothing otherwise. */
void log_limit_flush(struct log_limit *ll, enum log_level l, const char *msg, const char *key,
		     const char *value);
/* When the current interval ends (for a timer to flush then). */
double log_limit_end(const struct log_limit *ll);

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
