/*
 * The members' address table (pure): from the holdings that count, one
 * address set per Service, the same on every node (rules in sync.h and
 * docs/operations.md).  Cost: O(E log E) for E entries over all holdings.
 */
#include "member/sync.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct cand {
	const struct sync_entry *e;
	const char *node;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = strcmp(x->e->key, y->e->key);
	if (c)
		return c;
	if (x->e->stamp != y->e->stamp)
		return x->e->stamp < y->e->stamp ? -1 : 1;
	return strcmp(x->node, y->node);
}

/* One address of a winner, for the per-address pass. */
struct use {
	struct ip_addr addr;
	uint64_t stamp;
	const char *key;
	size_t agreed;               /* index into the table */
};

static int cmp_use(const void *a, const void *b)
{
	const struct use *x = a, *y = b;
	int c = ip_cmp(&x->addr, &y->addr);
	if (c)
		return c;
	if (x->stamp != y->stamp)
		return x->stamp < y->stamp ? -1 : 1;
	return strcmp(x->key, y->key);
}

void sync_resolve(const struct sync_holding *h, size_t nh, struct sync_table *out)
{
	memset(out, 0, sizeof(*out));
	size_t nc = 0;
	for (size_t i = 0; i < nh; i++)
		nc += h[i].state ? h[i].state->n : 0;
	struct cand *c = xcalloc(nc ? nc : 1, sizeof(*c));
	nc = 0;
	for (size_t i = 0; i < nh; i++)
		for (size_t k = 0; h[i].state && k < h[i].state->n; k++)
			if (h[i].state->entries[k].naddrs)
				c[nc++] = (struct cand){&h[i].state->entries[k], h[i].node};
	xqsort(c, nc, sizeof(*c), cmp_cand);
	out->v = xcalloc(nc ? nc : 1, sizeof(*out->v));
	size_t nuse = 0;
	for (size_t i = 0; i < nc; i++) {
		if (i && strcmp(c[i - 1].e->key, c[i].e->key) == 0)
			continue;          /* a younger holding of the same Service */
		struct sync_agreed *a = &out->v[out->n++];
		a->key = c[i].e->key;
		a->node = c[i].node;
		a->naddrs = c[i].e->naddrs > 2 ? 2 : c[i].e->naddrs;
		memcpy(a->addrs, c[i].e->addrs, sizeof(a->addrs));
		a->stamp = c[i].e->stamp;
		nuse += a->naddrs;
	}
	free(c);

	struct use *u = xcalloc(nuse ? nuse : 1, sizeof(*u));
	nuse = 0;
	for (size_t i = 0; i < out->n; i++)
		for (size_t k = 0; k < out->v[i].naddrs; k++)
			u[nuse++] = (struct use){out->v[i].addrs[k], out->v[i].stamp, out->v[i].key, i};
	xqsort(u, nuse, sizeof(*u), cmp_use);
	for (size_t i = 1; i < nuse; i++) {
		if (!ip_eq(&u[i - 1].addr, &u[i].addr))
			continue;
		/* u[i] is younger than the first holder of this address. */
		struct sync_agreed *a = &out->v[u[i].agreed];
		for (size_t k = 0; k < a->naddrs; k++) {
			if (!ip_eq(&a->addrs[k], &u[i].addr))
				continue;
			memmove(&a->addrs[k], &a->addrs[k + 1], (a->naddrs - k - 1) * sizeof(*a->addrs));
			a->naddrs--;
			a->lost = true;
			break;
		}
	}
	free(u);
}

static int cmp_agreed_key(const void *a, const void *b)
{
	return strcmp(((const struct sync_agreed *)a)->key, ((const struct sync_agreed *)b)->key);
}

const struct sync_agreed *sync_table_find(const struct sync_table *t, const char *key)
{
	struct sync_agreed k = {.key = key};
	return xbsearch(&k, t->v, t->n, sizeof(*t->v), cmp_agreed_key);
}

void sync_table_free(struct sync_table *t)
{
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
