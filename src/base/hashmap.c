/*
 * Hash map (see hashmap.h): linear probing with backward-shift deletion.
 *
 * An entry's home slot is hash & (cap - 1); it lies at the first slot
 * from its home on that it could take when it was inserted, and every
 * slot between its home and it is occupied.  Deleting an entry leaves a
 * hole that the entries after it in the cluster are moved into when their
 * home does not lie strictly between the hole and them, which keeps that
 * invariant without tombstones.
 */
#include "base/hashmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define HASHMAP_MIN_CAP 16

uint64_t hashmap_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a offset basis */
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;        /* FNV prime */
	}
	/* FNV's low bits mix poorly for short keys; the slot index uses them. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

void hashmap_init(struct hashmap *m, bool copy_keys)
{
	memset(m, 0, sizeof(*m));
	m->copy_keys = copy_keys;
}

void hashmap_clear(struct hashmap *m)
{
	if (m->copy_keys)
		for (size_t i = 0; i < m->cap; i++)
			free((char *)m->slots[i].key);
	free(m->slots);
	m->slots = NULL;
	m->cap = 0;
	m->n = 0;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t probe(const struct hashmap *m, const void *key, size_t len, uint64_t h)
{
	size_t mask = m->cap - 1;
	uint32_t h32 = (uint32_t)h;
	size_t i = h32 & mask;
	for (;; i = (i + 1) & mask) {
		const struct hashmap_slot *s = &m->slots[i];
		if (!s->key)
			return i;
		if (s->hash == h32 && s->len == len && memcmp(s->key, key, len) == 0)
			return i;
	}
}

static void grow(struct hashmap *m)
{
	size_t ocap = m->cap;
	struct hashmap_slot *old = m->slots;
	m->cap = ocap ? ocap * 2 : HASHMAP_MIN_CAP;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	size_t mask = m->cap - 1;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i].key)
			continue;
		size_t j = old[i].hash & mask;
		while (m->slots[j].key)
			j = (j + 1) & mask;
		m->slots[j] = old[i];
	}
	free(old);
}

bool hashmap_find(const struct hashmap *m, const void *key, size_t len, void **value)
{
	if (!m->n)
		return false;
	size_t i = probe(m, key, len, hashmap_hash(key, len));
	if (!m->slots[i].key)
		return false;
	if (value)
		*value = m->slots[i].value;
	return true;
}

void *hashmap_get(const struct hashmap *m, const void *key, size_t len)
{
	void *v = NULL;
	return hashmap_find(m, key, len, &v) ? v : NULL;
}

void *hashmap_get_str(const struct hashmap *m, const char *key)
{
	return hashmap_get(m, key, strlen(key));
}

bool hashmap_put(struct hashmap *m, const void *key, size_t len, void *value, void **old)
{
	if (len > UINT32_MAX) {
		fprintf(stderr, "hashmap: key of %zu bytes\n", len);
		abort();
	}
	if (!key)
		key = "";
	/* At most 3/4 full, so that probe sequences stay short. */
	if ((m->n + 1) * 4 > m->cap * 3)
		grow(m);
	uint64_t h = hashmap_hash(key, len);
	size_t i = probe(m, key, len, h);
	struct hashmap_slot *s = &m->slots[i];
	bool replaced = s->key != NULL;
	if (replaced) {
		if (old)
			*old = s->value;
		s->value = value;
		if (!m->copy_keys)
			s->key = key;
		return true;
	}
	if (m->copy_keys) {
		char *k = xmalloc(len + 1);
		memcpy(k, key, len);
		k[len] = '\0';
		s->key = k;
	} else {
		s->key = key;
	}
	s->value = value;
	s->hash = (uint32_t)h;
	s->len = (uint32_t)len;
	m->n++;
	return false;
}

bool hashmap_put_str(struct hashmap *m, const char *key, void *value, void **old)
{
	return hashmap_put(m, key, strlen(key), value, old);
}

/* Empty slot i and shift the rest of its cluster back. */
static void remove_at(struct hashmap *m, size_t i)
{
	size_t mask = m->cap - 1;
	if (m->copy_keys)
		free((char *)m->slots[i].key);
	size_t hole = i;
	for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;
		/* The entry at j stays when its home lies in (hole, j]
		 * (cyclically): moving it to the hole would put it before its
		 * home. */
		if (((j - home) & mask) < ((j - hole) & mask))
			continue;
		m->slots[hole] = m->slots[j];
		hole = j;
	}
	memset(&m->slots[hole], 0, sizeof(m->slots[hole]));
	m->n--;
}

bool hashmap_del(struct hashmap *m, const void *key, size_t len, void **old)
{
	if (!m->n)
		return false;
	size_t i = probe(m, key, len, hashmap_hash(key, len));
	if (!m->slots[i].key)
		return false;
	if (old)
		*old = m->slots[i].value;
	remove_at(m, i);
	return true;
}

bool hashmap_del_str(struct hashmap *m, const char *key, void **old)
{
	return hashmap_del(m, key, strlen(key), old);
}

void hashmap_iter_init(struct hashmap_iter *it, const struct hashmap *m)
{
	memset(it, 0, sizeof(*it));
	/* The iterator may delete through the map; the caller passes a const
	 * map only when it does not. */
	it->map = (struct hashmap *)m;
	if (!m->n)
		return;
	/* Start just after an empty slot (one exists: the map is at most
	 * 3/4 full): no cluster then wraps from the slots seen last to those
	 * seen first, and a backward shift never moves an entry not yet seen
	 * to a slot already passed. */
	size_t e = 0;
	while (m->slots[e].key)
		e++;
	it->pos = e;
	it->left = m->cap;
}

bool hashmap_iter_next(struct hashmap_iter *it)
{
	struct hashmap *m = it->map;
	if (it->stay) {
		/* The deleted entry's slot may now hold the next entry. */
		it->stay = false;
		if (m->slots[it->pos].key)
			goto found;
	}
	while (it->left) {
		it->pos = (it->pos + 1) & (m->cap - 1);
		it->left--;
		if (m->slots[it->pos].key)
			goto found;
	}
	it->key = NULL;
	it->value = NULL;
	it->len = 0;
	return false;
found:
	it->key = m->slots[it->pos].key;
	it->len = m->slots[it->pos].len;
	it->value = m->slots[it->pos].value;
	return true;
}

void hashmap_iter_del(struct hashmap_iter *it)
{
	remove_at(it->map, it->pos);
	it->stay = true;
	it->key = NULL;
	it->value = NULL;
}
