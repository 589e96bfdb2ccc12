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

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
