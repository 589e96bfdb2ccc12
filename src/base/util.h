/*
 * Small helpers shared by every module: allocation that aborts on
 * out-of-memory (the daemon cannot do anything sensible without memory, and
 * checking every strdup hides the real error paths), growable arrays, and
 * string helpers.
 */
#ifndef IRONLB_BASE_UTIL_H
#define IRONLB_BASE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);            /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* The strings up to a NULL, one after the other, in a new string: for
 * keys and paths made on every change, where xasprintf()'s format
 * parsing costs several times the copy. */
char *xconcat(const char *first, ...) __attribute__((sentinel));

/*
 * Grow an array (ptr, count) by one element and return a pointer to the new,
 * zeroed element.  `cap` is not tracked: the array is reallocated to the
 * next power of two when count reaches one, so appends are amortised O(1).
 */
void *xappend(void *ptr_to_array, size_t *count, size_t elem_size);
#define VEC_PUSH(arr, count) ((__typeof__(&(arr)[0]))xappend(&(arr), &(count), sizeof(*(arr))))

/*
 * qsort and bsearch that accept an empty array given as NULL (the C library
 * declares both pointers non-null, so the plain calls are undefined there).
 */
void xqsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
void *xbsearch(const void *key, const void *base, size_t n, size_t size,
	       int (*cmp)(const void *, const void *));

/* Value of a hexadecimal digit (either case), or -1. */
int hex_digit_value(char c);

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
/* Copy of s with leading and trailing blanks (space, tab) removed. */
char *str_trim_dup(const char *s, size_t len);

/* Read a whole file into a NUL-terminated buffer; NULL and errno on error. */
char *file_read_all(const char *path, size_t *len);

/* An RFC 3339 time ("2026-12-07T01:47:30Z", with optional fraction and
 * offset), as Kubernetes writes metadata.creationTimestamp, in
 * microseconds since the epoch; -1 when it is not one. */
int time_rfc3339_us(const char *text, uint64_t *out);

#endif
