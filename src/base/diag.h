/*
 * Diagnostics: the errors, warnings and notes that validation produces for a
 * person to read.  Each names where the problem is (file:line when the object
 * came from a file), the object (Kind namespace/name), the field path, and a
 * message saying what was found and what is accepted instead:
 *
 *   pools.yaml:12: IPAddressPool metallb-system/best: spec.addresses[1]: "2001:db8:prod::/64" is not an IPv6 prefix (hex digits only)
 *
 * Errors are printed exactly like that; warnings and notes put "warning: "
 * or "note: " after the location.
 */
#ifndef IRONLB_BASE_DIAG_H
#define IRONLB_BASE_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

enum diag_level { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE };

/* Flags on a diagnostic.  DIAG_FLAG_REFERENCE: an error about a reference
 * to an object that does not exist (a pool, peer, BFD profile, community
 * alias, Secret).  `ironlb check` fails on it; the running daemon reports it
 * and keeps the rest of the configuration, as MetalLB does. */
#define DIAG_FLAG_REFERENCE 0x1u

struct diag {
	enum diag_level level;
	char *file;    /* NULL when the object did not come from a file */
	int line;      /* 0 when unknown */
	char *object;  /* "IPAddressPool metallb-system/best", or NULL */
	char *path;    /* "spec.addresses[1]", or NULL */
	char *message;
	unsigned flags;
	/* The object the diagnostic belongs to, for deciding by kind (never by
	 * the text of `object`): kind is the model's enum obj_kind, or
	 * DIAG_KIND_NONE for a problem of a source (a file that cannot be read
	 * or parsed, a document that names no object).  Set by model_diag();
	 * obj_namespace is NULL for cluster-scoped kinds. */
	int kind;
	char *obj_namespace;
	char *obj_name;
};

#define DIAG_KIND_NONE (-1)

struct diag_list {
	size_t n;
	struct diag *items;
};

void diag_add(struct diag_list *l, enum diag_level level, const char *file, int line,
	      const char *object, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
void diag_vadd(struct diag_list *l, enum diag_level level, const char *file, int line,
	       const char *object, const char *path, const char *fmt, va_list ap)
	__attribute__((format(printf, 7, 0)));
size_t diag_count(const struct diag_list *l, enum diag_level level);
/* Set the object a diagnostic belongs to (see struct diag). */
void diag_set_object(struct diag *d, int kind, const char *ns, const char *name);
/* Append a copy of d to l. */
void diag_append_copy(struct diag_list *l, const struct diag *d);
/* Stable sort by file, line, then insertion order. */
void diag_sort(struct diag_list *l);
/* One line, without the newline; caller frees. */
char *diag_format(const struct diag *d);
void diag_print(const struct diag_list *l, FILE *out);
void diag_list_free(struct diag_list *l);
const char *diag_level_name(enum diag_level level);

#endif
