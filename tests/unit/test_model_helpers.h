/*
 * Shared by the model's unit tests: read a YAML text into a model the way
 * `ironlb check` does (manifest_read_buffer, model_add for each object,
 * model_validate) and compare the diagnostics, formatted by diag_format and
 * sorted by diag_sort, with an expected list.
 */
#ifndef IRONLB_TEST_MODEL_HELPERS_H
#define IRONLB_TEST_MODEL_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/diag.h"
#include "base/util.h"
#include "manifest/manifest.h"
#include "model/model.h"

/* One case: YAML read as file "pools.yaml" and the diagnostics expected,
 * in file/line order, NULL-terminated. */
struct diag_case {
	const char *name;
	const char *yaml;
	const char *const *want;
};

#define WANT(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE ((const char *const[]){NULL})

struct loaded {
	struct manifest_set set;
	struct model m;
	struct diag_list d;
};

static inline void load_yaml(struct loaded *l, const char *file, const char *yaml, bool validate)
{
	memset(l, 0, sizeof(*l));
	manifest_read_buffer(&l->set, file ? file : "pools.yaml", yaml, strlen(yaml), &l->d);
	model_init(&l->m, NULL);
	for (size_t i = 0; i < l->set.n; i++) {
		model_add(&l->m, l->set.objects[i], &l->d);
		l->set.objects[i] = NULL;
	}
	l->set.n = 0;
	if (validate)
		model_validate(&l->m, &l->d);
	diag_sort(&l->d);
}

static inline void unload(struct loaded *l)
{
	model_free(&l->m);
	manifest_set_free(&l->set);
	diag_list_free(&l->d);
}

static inline void print_diags(const struct diag_list *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->items[i]);
		fprintf(stderr, "    got:  %s\n", s);
		free(s);
	}
}

/* Compare; on a mismatch print the case and both lists.  Returns true when
 * they match. */
static inline bool diags_match(const char *name, const struct diag_list *d,
			       const char *const *want)
{
	size_t nwant = 0;
	while (want[nwant])
		nwant++;
	bool ok = nwant == d->n;
	for (size_t i = 0; ok && i < d->n; i++) {
		char *s = diag_format(&d->items[i]);
		ok = strcmp(s, want[i]) == 0;
		free(s);
	}
	if (!ok) {
		fprintf(stderr, "case %s: diagnostics differ\n", name);
		for (size_t i = 0; i < nwant; i++)
			fprintf(stderr, "    want: %s\n", want[i]);
		print_diags(d);
	}
	return ok;
}

static inline void run_diag_cases(const struct diag_case *cases, size_t n)
{
	size_t failed = 0;
	for (size_t i = 0; i < n; i++) {
		struct loaded l;
		load_yaml(&l, NULL, cases[i].yaml, true);
		if (!diags_match(cases[i].name, &l.d, cases[i].want))
			failed++;
		unload(&l);
	}
	if (failed)
		fail_msg("%zu of %zu cases failed", failed, n);
}

/* The diagnostic whose formatted text contains `needle`, or NULL. */
static inline const struct diag *find_diag(const struct diag_list *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->items[i]);
		bool hit = strstr(s, needle) != NULL;
		free(s);
		if (hit)
			return &d->items[i];
	}
	return NULL;
}

/* Headers of the configuration kinds, five lines each (apiVersion, kind,
 * metadata, name, spec), so that the first spec field is on line 6. */
#define HDR(api, kind, name) "apiVersion: " api "\nkind: " kind "\nmetadata:\n  name: " name "\nspec:\n"
#define POOL(name) HDR("metallb.io/v1beta1", "IPAddressPool", name)
#define L2ADV(name) HDR("metallb.io/v1beta1", "L2Advertisement", name)
#define BGPADV(name) HDR("metallb.io/v1beta1", "BGPAdvertisement", name)
#define PEER(name) HDR("metallb.io/v1beta2", "BGPPeer", name)
#define PEER1(name) HDR("metallb.io/v1beta1", "BGPPeer", name)
#define BFD(name) HDR("metallb.io/v1beta1", "BFDProfile", name)
#define COMMUNITY(name) HDR("metallb.io/v1beta1", "Community", name)
/* Services: four lines (apiVersion, kind, metadata, name); the caller goes
 * on with metadata (annotations) or spec. */
#define SVC(name) "apiVersion: v1\nkind: Service\nmetadata:\n  name: " name "\n"

#endif
