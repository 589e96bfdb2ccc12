/*
 * libFuzzer harness for the model: the bytes are read as a manifest
 * (manifest_read_buffer), every object goes through model_add(), then
 * model_validate(); when jansson reads the bytes as a JSON object, that
 * object also goes in as the API server's would (no file, no lines).
 *
 * Checks the model's promises and aborts otherwise: model_add() returns -1
 * exactly when it reported an error; every added object has a name and a
 * display text and is found again by its name; the queries on objects
 * answer without crashing.  Must never crash or leak.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "manifest/manifest.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void add_checked(struct model *m, struct tree *t, struct diag_list *d)
{
	size_t before = diag_count(d, DIAG_ERROR);
	int r = model_add(m, t, d);
	size_t errors = diag_count(d, DIAG_ERROR) - before;
	check(r >= -1 && r <= 1);
	check((r == -1) == (errors > 0));
}

static void check_model(const struct model *m)
{
	for (size_t i = 0; i < m->npools; i++) {
		const struct pool *p = &m->pools[i];
		check(p->meta.name && p->meta.display);
		check(model_find_pool(m, p->meta.name) == p);
		for (size_t k = 0; k < p->nranges; k++)
			check(p->ranges[k].first.family == p->ranges[k].last.family);
	}
	for (size_t i = 0; i < m->npeers; i++) {
		check(model_find_peer(m, m->peers[i].meta.name) == &m->peers[i]);
		(void)bgppeer_is_ibgp(&m->peers[i]);
		check(m->peers[i].keepalive_time_s <= m->peers[i].hold_time_s);
	}
	for (size_t i = 0; i < m->nbgpadvs; i++) {
		const struct bgpadv *a = &m->bgpadvs[i];
		for (size_t k = 0; k < m->npools; k++)
			(void)bgpadv_selects_pool(a, &m->pools[k]);
		for (size_t k = 0; k < m->npeers; k++)
			(void)bgpadv_selects_peer(a, &m->peers[k]);
		check(a->ncommunities == 0 || a->community_values);
	}
	for (size_t i = 0; i < m->nl2advs; i++)
		for (size_t k = 0; k < m->npools; k++)
			(void)l2adv_selects_pool(&m->l2advs[i], &m->pools[k]);
	for (size_t i = 0; i < m->nservices; i++) {
		const struct service *s = &m->services[i];
		enum ip_family f[2];
		size_t n = service_families(s, f);
		check(n >= 1 && n <= 2);
		check(s->nrequested <= 2 && s->ningress <= 2);
		check(!s->request_invalid || s->nrequested == 0);
	}
	for (size_t i = 0; i < m->nsecrets; i++)
		check(model_find_secret(m, m->secrets[i].meta.namespace_,
					m->secrets[i].meta.name) == &m->secrets[i]);
}

static void check_diags(const struct diag_list *d)
{
	for (size_t i = 0; i < d->n; i++) {
		check(d->items[i].message != NULL);
		char *s = diag_format(&d->items[i]);
		free(s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest_set set = {0};
	struct diag_list d = {0};
	struct model m;
	manifest_read_buffer(&set, "fuzz.yaml", (const char *)data, size, &d);
	model_init(&m, NULL);
	for (size_t i = 0; i < set.n; i++) {
		add_checked(&m, set.objects[i], &d);
		set.objects[i] = NULL;
	}
	set.n = 0;

	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	if (j) {
		struct tree *t = tree_from_json(j);
		json_decref(j);
		if (t)
			add_checked(&m, t, &d);
	}

	model_validate(&m, &d);
	check_model(&m);
	check_diags(&d);
	model_free(&m);
	manifest_set_free(&set);
	diag_list_free(&d);
	return 0;
}
