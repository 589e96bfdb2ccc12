/*
 * An ordered set of unsigned 128-bit values, kept as disjoint inclusive
 * runs [lo, hi] in an AVL tree.  Runs are always merged: no two runs
 * overlap or touch (a.hi + 1 < b.lo), so a set of n contiguous values is
 * one node however large n is.
 *
 * The allocator keeps one set of addresses in use per pool family; the
 * lowest free address of a range is then one descent of the tree
 * (ipset_next_free), and memory grows with the number of runs, never with
 * the size of the range covered.
 *
 * Every operation is O(log runs), except add/remove of an interval that
 * swallows k runs, which is O(k log runs).
 */
#ifndef IRONLB_ALLOC_IPSET_H
#define IRONLB_ALLOC_IPSET_H

#include <stdbool.h>
#include <stddef.h>

#include "net/ip.h"

struct ipset_node;

struct ipset {
	struct ipset_node *root;
	size_t nruns;
	u128 count;      /* values in the set, modulo 2^128 (see ipset_count) */
};

#define IPSET_INIT {NULL, 0, 0}

void ipset_init(struct ipset *s);
/* Remove everything and free the nodes; the set stays usable. */
void ipset_clear(struct ipset *s);

/* Add / remove every value of [lo, hi] (lo <= hi), merging or splitting
 * runs as needed.  Adding values already present, or removing absent ones,
 * is allowed. */
void ipset_add(struct ipset *s, u128 lo, u128 hi);
void ipset_remove(struct ipset *s, u128 lo, u128 hi);

bool ipset_contains(const struct ipset *s, u128 v);

/* The lowest value in [lo, hi] that is NOT in the set: 0 and *out, or -1
 * when every value of [lo, hi] is in the set. */
int ipset_next_free(const struct ipset *s, u128 lo, u128 hi, u128 *out);
/* The lowest value in [lo, hi] that IS in the set: 0 and *out, or -1. */
int ipset_next_member(const struct ipset *s, u128 lo, u128 hi, u128 *out);

/* The first run that ends at or after v (the run holding v, or the next
 * one): 0 and its bounds, or -1.  Iterate with v = hi + 1 (stop when hi is
 * the largest u128). */
int ipset_run_from(const struct ipset *s, u128 v, u128 *lo, u128 *hi);

size_t ipset_nruns(const struct ipset *s);
/* Number of values: 0 and *out, or -1 when the set holds all 2^128 values
 * (which does not fit). */
int ipset_count(const struct ipset *s, u128 *out);

#endif
