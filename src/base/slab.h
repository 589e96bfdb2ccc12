/*
 * Slab: fixed-size records packed into pages of their own.
 *
 * For records the daemon keeps one of per address or per Service (tens of
 * thousands, each alive for as long as the address is): allocated one by
 * one with malloc, each costs malloc's 8-byte header and its size rounded
 * up to 16, and each lands wherever the heap has a hole at that moment,
 * among the short-lived blocks of the same pass (decoded trees, change
 * lists, events), so that when those are freed the pages they shared with
 * the long-lived records stay resident half empty.  A slab puts the
 * records side by side in 64 KiB pages that hold nothing else: no header,
 * no rounding beyond 8 bytes, and the short-lived blocks' pages can go
 * back to the system whole.
 *
 * A page is freed when its last record is freed (one empty page is kept,
 * so that a record freed and allocated again does not map and unmap a
 * page each time): memory follows the records alive, as with malloc.
 * Records are zeroed when allocated, aligned to 16 bytes when their size
 * is a multiple of 16 (else to 8).
 *
 * Under AddressSanitizer every record is a malloc'd block of its own, so
 * that the sanitizer sees each record's bounds and lifetime.
 *
 * Not thread-safe (as the daemon: one event loop).
 */
#ifndef IRONLB_BASE_SLAB_H
#define IRONLB_BASE_SLAB_H

#include <stddef.h>

struct slab_page;

struct slab {
	size_t size;                /* record size, rounded up to 8 */
	size_t per_page;            /* records a page holds */
	struct slab_page *partial;  /* pages with a free slot, doubly linked */
	struct slab_page *empty;    /* the one empty page kept, or NULL */
	size_t npages;              /* pages mapped (the empty one counted) */
	size_t nlive;               /* records allocated and not freed */
};

/* An empty slab of records of `size` bytes (at most 4 KiB); a zeroed
 * struct slab must be initialised before use. */
void slab_init(struct slab *s, size_t size);
/* A zeroed record; aborts when out of memory, as xmalloc does. */
void *slab_alloc(struct slab *s);
/* Free a record of s (NULL does nothing). */
void slab_free(struct slab *s, void *p);
/* Free the pages left; every record must have been freed before (under
 * AddressSanitizer one that was not is reported as a leak).  The slab is
 * usable afterwards. */
void slab_destroy(struct slab *s);

#endif
