/*
 * Helpers shared by the model's source files (labels.c, model.c,
 * decode.c, validate.c, community.c).  Not part of the module's interface:
 * other modules include model/model.h only.
 */
#ifndef IRONLB_MODEL_INTERNAL_H
#define IRONLB_MODEL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"

/* --- labels.c --- */

void selector_free(struct label_selector *s);
void selectors_free(struct label_selector *s, size_t n);
/* A canonical text of a selector (sorted matchLabels, sorted expressions
 * with sorted values), so that equal selectors have equal texts. */
char *selector_canon(const struct label_selector *s);
/* Whether two expressions say the same: key, operator and the same set of
 * values in any order (MetalLB refuses such a repeat in one selector). */
bool sel_req_same(const struct sel_req *a, const struct sel_req *b);

/* Syntax of Kubernetes names and label parts.  Each returns NULL when
 * valid, else a static text saying what is accepted. */
const char *check_dns1123_subdomain(const char *s);
const char *check_dns1123_label(const char *s);
const char *check_dns1035_label(const char *s);
const char *check_label_key(const char *s);   /* [prefix/]name (also annotation keys) */
const char *check_label_value(const char *s);
const char *check_ifname(const char *s);      /* a Linux interface name */

/* --- model.c --- */

/* Index of every added object by kind, namespace and name. */
struct obj_meta *model_meta_at(const struct model *m, enum obj_kind k, size_t i);
size_t model_count(const struct model *m, enum obj_kind k);
/* Index in the kind's array, or (size_t)-1. */
size_t model_lookup(const struct model *m, enum obj_kind k, const char *ns, const char *name);
void model_index_add(struct model *m, enum obj_kind k, size_t i);
/* Take object (k, i) out of the index / index it at `to` instead (its key
 * is read from the object, which must still be in place). */
void model_index_del(struct model *m, enum obj_kind k, size_t i);
void model_index_move(struct model *m, enum obj_kind k, size_t from, size_t to);
const char *model_intern_file(struct model *m, const char *file);

/* Values that thousands of objects share ("v1", "default", "LoadBalancer",
 * "Cluster", "TCP", ...) are not copied for each: model_strdup() returns
 * the one static copy of such a value (else a copy of s, NULL for NULL),
 * and model_strfree() frees anything else.  Only the fields that are
 * documented to be set this way (obj_meta's api_version and namespace_,
 * a Service's type, external_traffic_policy and ports' protocol) may hold
 * them; they are freed with model_strfree(). */
char *model_strdup(const char *s);
void model_strfree(char *s);

void meta_free(struct obj_meta *meta);
void pool_free(struct pool *p);
void l2adv_free(struct l2adv *a);
void bgpadv_free(struct bgpadv *a);
void bgppeer_free(struct bgppeer *p);
void bfdprofile_free(struct bfdprofile *b);
void community_free(struct community *c);
void service_free(struct service *s);
void node_free(struct node_obj *n);
void namespace_free(struct namespace_obj *n);
void secret_free(struct secret *s);
void endpointslice_free(struct endpointslice *e);

/* model_diag with a va_list; returns the diagnostic added. */
struct diag *model_vdiag(struct diag_list *d, enum diag_level level, const struct obj_meta *m,
			 const char *path, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/* " (file:line)" for an object's field, or "" when it has no file; caller
 * frees. */
char *meta_where(const struct obj_meta *m, const char *path);

/* --- text helpers (labels.c) --- */

/* The text in double quotes, with quotes, backslashes and control
 * characters escaped and long texts shortened; caller frees. */
char *quote(const char *s);
/* Path of a member: "parent.key", or parent["key"] when the key is not a
 * plain word; caller frees. */
char *path_key(const char *parent, const char *key);
char *path_idx(const char *parent, size_t i);
/* "did you mean" helper: the candidate closest to s within a small edit
 * distance, or NULL. */
const char *closest_name(const char *s, const char *const *cands, size_t n);
/* " (known: a, b, c, ...)" / " (did you mean "x"?)" / " (none is defined)"
 * after an unknown name; caller frees. */
char *known_names_hint(const char *s, const char *const *cands, size_t n);

#endif
