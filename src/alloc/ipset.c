/*
 * Disjoint merged runs in an AVL tree (see ipset.h).
 *
 * The tree is keyed by a run's first value.  Because runs never overlap,
 * ordering by first value is also ordering by last value, which is what
 * makes the one search every operation needs, "the first run ending at or
 * after v", a single descent.  Adding or removing an interval is expressed
 * as: take out every run the interval touches (found with that search), then
 * put back the merged run, or the pieces left on either side.
 */
#include "alloc/ipset.h"

#include <stdlib.h>

#include "base/util.h"

#define U128_MAX (~(u128)0)

struct ipset_node {
	u128 lo, hi;
	struct ipset_node *left, *right;
	int height;
};

static int height(const struct ipset_node *n)
{
	return n ? n->height : 0;
}

static void update(struct ipset_node *n)
{
	int l = height(n->left), r = height(n->right);
	n->height = (l > r ? l : r) + 1;
}

static struct ipset_node *rotate_right(struct ipset_node *n)
{
	struct ipset_node *l = n->left;
	n->left = l->right;
	l->right = n;
	update(n);
	update(l);
	return l;
}

static struct ipset_node *rotate_left(struct ipset_node *n)
{
	struct ipset_node *r = n->right;
	n->right = r->left;
	r->left = n;
	update(n);
	update(r);
	return r;
}

static struct ipset_node *rebalance(struct ipset_node *n)
{
	update(n);
	int bal = height(n->left) - height(n->right);
	if (bal > 1) {
		if (height(n->left->left) < height(n->left->right))
			n->left = rotate_left(n->left);
		return rotate_right(n);
	}
	if (bal < -1) {
		if (height(n->right->right) < height(n->right->left))
			n->right = rotate_right(n->right);
		return rotate_left(n);
	}
	return n;
}

/* The caller guarantees [lo, hi] overlaps no run of the tree. */
static struct ipset_node *node_insert(struct ipset_node *n, struct ipset_node *fresh)
{
	if (!n)
		return fresh;
	if (fresh->lo < n->lo)
		n->left = node_insert(n->left, fresh);
	else
		n->right = node_insert(n->right, fresh);
	return rebalance(n);
}

/* Detach the leftmost node of a subtree into *min. */
static struct ipset_node *node_take_min(struct ipset_node *n, struct ipset_node **min)
{
	if (!n->left) {
		*min = n;
		return n->right;
	}
	n->left = node_take_min(n->left, min);
	return rebalance(n);
}

/* Remove and free the run starting at lo (it exists). */
static struct ipset_node *node_delete(struct ipset_node *n, u128 lo)
{
	if (!n)
		return NULL;
	if (lo < n->lo) {
		n->left = node_delete(n->left, lo);
	} else if (lo > n->lo) {
		n->right = node_delete(n->right, lo);
	} else {
		struct ipset_node *l = n->left, *r = n->right;
		free(n);
		if (!r)
			return l;
		struct ipset_node *min;
		r = node_take_min(r, &min);
		min->left = l;
		min->right = r;
		n = min;
	}
	return rebalance(n);
}

static void node_free_all(struct ipset_node *n)
{
	while (n) {
		node_free_all(n->left);
		struct ipset_node *r = n->right;
		free(n);
		n = r;
	}
}

static const struct ipset_node *first_ending_from(const struct ipset *s, u128 v)
{
	const struct ipset_node *n = s->root, *best = NULL;
	while (n) {
		if (n->hi >= v) {
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

/* Size of a run modulo 2^128: the run of every value counts 0, which keeps
 * the running total consistent (see ipset_count). */
static u128 run_size(u128 lo, u128 hi)
{
	return hi - lo + 1;
}

static void put(struct ipset *s, u128 lo, u128 hi)
{
	struct ipset_node *n = xmalloc(sizeof(*n));
	n->lo = lo;
	n->hi = hi;
	n->left = n->right = NULL;
	n->height = 1;
	s->root = node_insert(s->root, n);
	s->nruns++;
	s->count += run_size(lo, hi);
}

static void take(struct ipset *s, u128 lo, u128 hi)
{
	s->root = node_delete(s->root, lo);
	s->nruns--;
	s->count -= run_size(lo, hi);
}

void ipset_init(struct ipset *s)
{
	s->root = NULL;
	s->nruns = 0;
	s->count = 0;
}

void ipset_clear(struct ipset *s)
{
	node_free_all(s->root);
	ipset_init(s);
}

void ipset_add(struct ipset *s, u128 lo, u128 hi)
{
	/* Runs that overlap [lo, hi] or touch it on either side merge with it. */
	u128 from = lo ? lo - 1 : 0;
	u128 upto = hi == U128_MAX ? U128_MAX : hi + 1;
	u128 mlo = lo, mhi = hi;
	const struct ipset_node *r;
	while ((r = first_ending_from(s, from)) && r->lo <= upto) {
		u128 rlo = r->lo, rhi = r->hi;
		if (rlo < mlo)
			mlo = rlo;
		if (rhi > mhi)
			mhi = rhi;
		take(s, rlo, rhi);
	}
	put(s, mlo, mhi);
}

void ipset_remove(struct ipset *s, u128 lo, u128 hi)
{
	const struct ipset_node *r;
	while ((r = first_ending_from(s, lo)) && r->lo <= hi) {
		u128 rlo = r->lo, rhi = r->hi;
		take(s, rlo, rhi);
		/* The left piece ends at lo - 1, so the next search skips it. */
		if (rlo < lo)
			put(s, rlo, lo - 1);
		if (rhi > hi) {
			put(s, hi + 1, rhi);
			break;
		}
	}
}

bool ipset_contains(const struct ipset *s, u128 v)
{
	const struct ipset_node *r = first_ending_from(s, v);
	return r && r->lo <= v;
}

int ipset_next_free(const struct ipset *s, u128 lo, u128 hi, u128 *out)
{
	if (lo > hi)
		return -1;
	const struct ipset_node *r = first_ending_from(s, lo);
	if (!r || r->lo > lo) {
		*out = lo;
		return 0;
	}
	/* Runs never touch, so the value after a run is free. */
	if (r->hi >= hi)
		return -1;
	*out = r->hi + 1;
	return 0;
}

int ipset_next_member(const struct ipset *s, u128 lo, u128 hi, u128 *out)
{
	if (lo > hi)
		return -1;
	const struct ipset_node *r = first_ending_from(s, lo);
	if (!r || r->lo > hi)
		return -1;
	*out = r->lo > lo ? r->lo : lo;
	return 0;
}

int ipset_run_from(const struct ipset *s, u128 v, u128 *lo, u128 *hi)
{
	const struct ipset_node *r = first_ending_from(s, v);
	if (!r)
		return -1;
	*lo = r->lo;
	*hi = r->hi;
	return 0;
}

size_t ipset_nruns(const struct ipset *s)
{
	return s->nruns;
}

int ipset_count(const struct ipset *s, u128 *out)
{
	if (s->nruns == 1 && s->root->lo == 0 && s->root->hi == U128_MAX)
		return -1;
	*out = s->count;
	return 0;
}
