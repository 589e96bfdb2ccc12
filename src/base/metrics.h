/*
 * Metrics: a small Prometheus registry rendered in the text exposition
 * format, version 0.0.4 (Content-Type: METRICS_CONTENT_TYPE).
 *
 * The daemon registers each family once (name, help, counter or gauge, label
 * names) and then updates series addressed by their label values, in the
 * order of the family's label names.  A series comes into existence on its
 * first update and leaves the output when removed, so a family mirrors what
 * is true now: the speaker removes metallb_speaker_announced{...} for a
 * service it stops announcing, and a deleted pool's series go with
 * metrics_remove_matching(fam, "pool", name).
 *
 * A family without labels has one series from the moment it is registered,
 * at 0, as Prometheus client libraries do; a family whose series have all
 * been removed is left out of the output, HELP and TYPE lines included.
 *
 * Values are doubles.  Address counts of IPv6 pools exceed 2^53, where a
 * double loses integers, so metrics_set_u128() keeps such a value exact and
 * it is written as a decimal integer (Prometheus reads any decimal integer
 * as a float).  Adding to an exact value keeps it exact while the result is
 * a non-negative integer.
 *
 * Output is stable: families in registration order, series sorted by label
 * values (byte-wise, first label first).  Each family keeps its series in an
 * array sorted that way, so lookups are binary searches and rendering is a
 * single pass.  Not thread-safe: the daemon runs one event loop.
 */
#ifndef IRONLB_BASE_METRICS_H
#define IRONLB_BASE_METRICS_H

#include <stddef.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE };

struct metrics_registry;
struct metrics_family;

struct metrics_registry *metrics_registry_new(void);
void metrics_registry_free(struct metrics_registry *reg);

/*
 * Register a family.  label_names is a NULL-terminated array (NULL itself
 * for no labels).  The name must match [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * names [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"; names must be
 * unique within the registry and label names within the family.  NULL when
 * one of those does not hold.  The family belongs to the registry.
 */
struct metrics_family *metrics_family_add(struct metrics_registry *reg, const char *name,
					  const char *help, enum metrics_type type,
					  const char *const *label_names);
struct metrics_family *metrics_family_find(const struct metrics_registry *reg, const char *name);
size_t metrics_family_series_count(const struct metrics_family *fam);

/*
 * Series operations.  `values` holds one label value per label name, in
 * the family's order (NULL for a family without labels); values may be any
 * string and are copied.  -1 when a value is NULL, or when the operation
 * does not fit the family: set on a counter, a negative or NaN delta on a
 * counter.
 */
int metrics_set(struct metrics_family *fam, const char *const *values, double v);
int metrics_set_u128(struct metrics_family *fam, const char *const *values,
		     unsigned __int128 v);
int metrics_add(struct metrics_family *fam, const char *const *values, double delta);
int metrics_inc(struct metrics_family *fam, const char *const *values);

/* 0 when the series existed and is gone, -1 when there was no such series. */
int metrics_remove(struct metrics_family *fam, const char *const *values);
/* Remove every series whose label `label` equals `value`; the number
 * removed, or -1 when the family has no such label. */
int metrics_remove_matching(struct metrics_family *fam, const char *label, const char *value);
/* Remove every series (a family without labels too). */
void metrics_family_clear(struct metrics_family *fam);

/* The value of a series; -1 when there is no such series. */
int metrics_get(const struct metrics_family *fam, const char *const *values, double *v);
/* The exact value of a series holding a non-negative integer (kept exact
 * by metrics_set_u128, or a double with an integral value below 2^128); -1
 * when there is no such series or its value is not such an integer. */
int metrics_get_u128(const struct metrics_family *fam, const char *const *values,
		     unsigned __int128 *v);

/*
 * A collector makes series when the registry is rendered, from the
 * owner's state, so that a family of one series per owned address need
 * not be held between scrapes: fn calls metrics_set() (or add) on fam,
 * and those series are written with the held ones, in label order, and
 * dropped afterwards; a made series is written instead of a held one
 * with the same labels (fn may read the held one with metrics_get()).  They are seen by nothing but the rendering
 * (metrics_get() and metrics_family_series_count() see the held series
 * only).  fn NULL removes the collector.
 */
void metrics_family_set_collector(struct metrics_family *fam,
				  void (*fn)(struct metrics_family *fam, void *arg), void *arg);

/*
 * Append the exposition text to a growable buffer: *buf (NULL or malloc'd)
 * holding *len bytes is grown with realloc, stays NUL-terminated, and *len
 * becomes the new length.
 */
void metrics_render(const struct metrics_registry *reg, char **buf, size_t *len);

/*
 * How a value is written: integers up to 2^53 in magnitude as decimal
 * integers, other finite numbers in the shortest form that reads back to
 * the same double ("0.1", "1e+300"), and "+Inf", "-Inf", "NaN".  Writes at
 * most METRICS_VALUE_MAX bytes including the NUL; returns the length.
 */
#define METRICS_VALUE_MAX 48
size_t metrics_format_double(char *out, double v);
size_t metrics_format_u128(char *out, unsigned __int128 v);

#endif
