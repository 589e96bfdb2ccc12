/*
 * Slab (see slab.h).  A page is SLAB_PAGE bytes aligned to SLAB_PAGE, so
 * that a record finds its page by masking its address; the page's header
 * comes first, then the records.  A page hands out its records from a
 * bump index first, then from the list of those freed (threaded through
 * the records themselves).  Pages with a free slot are on the slab's
 * partial list; a full page is on no list until a record of it is freed.
 */
#include "base/slab.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_MALLOC 1
#endif
#endif

#define SLAB_PAGE ((size_t)64 * 1024)

struct slab_page {
	struct slab_page *prev, *next;  /* on slab.partial */
	void *free;                     /* freed records, linked through their first word */
	uint32_t live;                  /* records allocated from the page */
	uint32_t bump;                  /* records never handed out start here */
};

/* Records start after the header, 16-aligned. */
#define SLAB_HEAD ((sizeof(struct slab_page) + 15) / 16 * 16)

void slab_init(struct slab *s, size_t size)
{
	memset(s, 0, sizeof(*s));
	if (size < sizeof(void *))
		size = sizeof(void *);
	s->size = (size + 7) / 8 * 8;
	if (s->size > 4096) {
		fprintf(stderr, "slab: record of %zu bytes is too large\n", size);
		abort();
	}
	s->per_page = (SLAB_PAGE - SLAB_HEAD) / s->size;
}

/* The page helpers serve the slab itself; under ASan every record is a
 * malloc block of its own (see SLAB_MALLOC). */
#ifndef SLAB_MALLOC
static struct slab_page *page_of(const void *p)
{
	return (struct slab_page *)((uintptr_t)p & ~(uintptr_t)(SLAB_PAGE - 1));
}

static void partial_push(struct slab *s, struct slab_page *pg)
{
	pg->prev = NULL;
	pg->next = s->partial;
	if (s->partial)
		s->partial->prev = pg;
	s->partial = pg;
}

static void partial_unlink(struct slab *s, struct slab_page *pg)
{
	if (pg->prev)
		pg->prev->next = pg->next;
	else
		s->partial = pg->next;
	if (pg->next)
		pg->next->prev = pg->prev;
	pg->prev = pg->next = NULL;
}
#endif

void *slab_alloc(struct slab *s)
{
	s->nlive++;
#ifdef SLAB_MALLOC
	return xcalloc(1, s->size);
#else
	struct slab_page *pg = s->partial;
	if (!pg) {
		pg = s->empty;
		s->empty = NULL;
		if (!pg) {
			void *mem = NULL;
			if (posix_memalign(&mem, SLAB_PAGE, SLAB_PAGE) != 0) {
				fprintf(stderr, "out of memory (slab page)\n");
				abort();
			}
			pg = mem;
			memset(pg, 0, sizeof(*pg));
			s->npages++;
		}
		partial_push(s, pg);
	}
	void *p;
	if (pg->free) {
		p = pg->free;
		memcpy(&pg->free, p, sizeof(void *));
	} else {
		p = (char *)pg + SLAB_HEAD + (size_t)pg->bump * s->size;
		pg->bump++;
	}
	pg->live++;
	if (!pg->free && pg->bump == s->per_page)
		partial_unlink(s, pg);
	memset(p, 0, s->size);
	return p;
#endif
}

void slab_free(struct slab *s, void *p)
{
	if (!p)
		return;
	s->nlive--;
#ifdef SLAB_MALLOC
	free(p);
#else
	struct slab_page *pg = page_of(p);
	bool was_full = !pg->free && pg->bump == s->per_page;
	memcpy(p, &pg->free, sizeof(void *));
	pg->free = p;
	pg->live--;
	if (was_full)
		partial_push(s, pg);
	if (pg->live)
		return;
	/* Empty: keep one such page, give the others back. */
	partial_unlink(s, pg);
	pg->free = NULL;
	pg->bump = 0;
	if (!s->empty) {
		s->empty = pg;
		return;
	}
	free(pg);
	s->npages--;
#endif
}

void slab_destroy(struct slab *s)
{
#ifndef SLAB_MALLOC
	while (s->partial) {
		struct slab_page *pg = s->partial;
		partial_unlink(s, pg);
		free(pg);
	}
	free(s->empty);
#endif
	size_t size = s->size;
	slab_init(s, size ? size : sizeof(void *));
}
