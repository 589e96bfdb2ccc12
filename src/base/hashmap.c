/*
 * Hash map (see hashmap.h): linear probing, Robin Hood insertion and
 * backward-shift deletion.
 *
 * An entry's home slot is hash & (cap - 1) and its distance how far past
 * its home it lies.  Insertion walks from the home and takes the slot of
 * the first entry nearer its own home than the new one is (which then
 * moves on in its place), so along a cluster the homes never go back.
 * A lookup can therefore stop at the first entry nearer its home than the
 * key would be, which keeps misses short at high load.  Deleting an
 * entry moves the following entries of its cluster back by one until an
 * empty slot or an entry at its home, without tombstones.
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

static size_t dist(const struct hashmap *m, size_t i)
{
	return (i - (m->slots[i].hash & (m->cap - 1))) & (m->cap - 1);
}

/* The slot holding key, or (size_t)-1. */
static size_t probe(const struct hashmap *m, const void *key, size_t len, uint64_t h)
{
	size_t mask = m->cap - 1;
	uint32_t h32 = (uint32_t)h;
	size_t i = h32 & mask;
	for (size_t d = 0;; i = (i + 1) & mask, d++) {
		const struct hashmap_slot *s = &m->slots[i];
		if (!s->key || dist(m, i) < d)
			return (size_t)-1;
		if (s->hash == h32 && s->len == len && memcmp(s->key, key, len) == 0)
			return i;
	}
}

/* Place an entry whose key is not in the map. */
static void insert(struct hashmap *m, struct hashmap_slot e)
{
	size_t mask = m->cap - 1;
	size_t i = e.hash & mask;
	for (size_t d = 0;; i = (i + 1) & mask, d++) {
		if (!m->slots[i].key) {
			m->slots[i] = e;
			return;
		}
		size_t di = dist(m, i);
		if (di < d) {
			struct hashmap_slot t = m->slots[i];
			m->slots[i] = e;
			e = t;
			d = di;
		}
	}
}

static void grow(struct hashmap *m)
{
	size_t ocap = m->cap;
	struct hashmap_slot *old = m->slots;
	m->cap = ocap ? ocap * 2 : HASHMAP_MIN_CAP;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (size_t i = 0; i < ocap; i++)
		if (old[i].key)
			insert(m, old[i]);
	free(old);
}

bool hashmap_find(const struct hashmap *m, const void *key, size_t len, void **value)
{
	if (!m->n)
		return false;
	size_t i = probe(m, key, len, hashmap_hash(key, len));
	if (i == (size_t)-1)
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
	uint64_t h = hashmap_hash(key, len);
	size_t i = m->n ? probe(m, key, len, h) : (size_t)-1;
	if (i != (size_t)-1) {
		struct hashmap_slot *s = &m->slots[i];
		if (old)
			*old = s->value;
		s->value = value;
		if (!m->copy_keys)
			s->key = key;
		return true;
	}
	/* At most 7/8 full: Robin Hood keeps probes short up to there, and
	 * the slots cost memory in every daemon. */
	if ((m->n + 1) * 8 > m->cap * 7)
		grow(m);
	struct hashmap_slot e = { .value = value, .hash = (uint32_t)h, .len = (uint32_t)len };
	if (m->copy_keys) {
		char *k = xmalloc(len + 1);
		memcpy(k, key, len);
		k[len] = '\0';
		e.key = k;
	} else {
		e.key = key;
	}
	insert(m, e);
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
	for (size_t j = (i + 1) & mask; m->slots[j].key && dist(m, j) > 0; j = (j + 1) & mask) {
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
	if (i == (size_t)-1)
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
	 * 7/8 full): no cluster then wraps from the slots seen last to those
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
