/*
 * Hash map: byte-string keys to pointers, the one hash table of the code
 * base (the allocator's records, holdings and sharing keys, the model's
 * index, the API object stores, the controller's sent records).
 *
 * Keys are byte strings (pointer and length, so that a composite key such
 * as "namespace\0name" or a packed address works as well as a C string).
 * By default a key is borrowed: the map keeps the caller's pointer, which
 * must stay valid and unchanged while the entry is in the map; this is
 * what an entry that holds its own key wants (no second copy, no second
 * allocation).  A map initialised with copy_keys keeps its own copy of
 * each key (NUL-terminated) and frees it.
 *
 * Hash: 64-bit FNV-1a over the key bytes, finished with a 64-bit mixer so
 * that the low bits, which pick the slot, depend on every byte.
 *
 * Layout: open addressing in one array of slots (a power of two, at most
 * 2^32; 24 bytes each: key, value, 32 bits of hash, length), Robin Hood
 * linear probing, grown to twice the size when more than 7/8 full.
 * Deletion shifts the following entries of the cluster back (no
 * tombstones), so lookups do not slow down with churn.
 *
 * Complexity: get, put and del are O(1) expected (O(key length) to hash
 * and compare); a put that grows the table is O(n), amortised O(1).
 * Iteration is O(capacity), in no particular order.  Memory: 24 bytes per
 * slot, 27 to 55 bytes per entry.  Not thread-safe.
 */
#ifndef IRONLB_BASE_HASHMAP_H
#define IRONLB_BASE_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashmap_slot {
	const char *key;   /* NULL: empty */
	void *value;
	uint32_t hash;     /* low half of the 64-bit hash: it picks the slot */
	uint32_t len;
};

struct hashmap {
	struct hashmap_slot *slots;
	size_t cap;        /* 0 or a power of two */
	size_t n;
	bool copy_keys;
};

/* An empty map needs no allocation; a zeroed struct hashmap is an empty
 * map that borrows its keys. */
void hashmap_init(struct hashmap *m, bool copy_keys);
/* Remove every entry and free the table (and copied keys); the values are
 * the caller's.  The map stays usable. */
void hashmap_clear(struct hashmap *m);

static inline size_t hashmap_count(const struct hashmap *m)
{
	return m->n;
}

uint64_t hashmap_hash(const void *key, size_t len);

/* The value under key: true and *value set (when value is not NULL), or
 * false when there is no such key. */
bool hashmap_find(const struct hashmap *m, const void *key, size_t len, void **value);
/* The value under key, or NULL when absent (for maps of non-NULL values). */
void *hashmap_get(const struct hashmap *m, const void *key, size_t len);
void *hashmap_get_str(const struct hashmap *m, const char *key);

/* Insert, or replace the entry with an equal key (its key pointer too, so
 * that a borrowed key can move to the new value).  Returns true when an
 * entry was replaced, its value in *old (when old is not NULL).  Keys are
 * shorter than 4 GiB. */
bool hashmap_put(struct hashmap *m, const void *key, size_t len, void *value, void **old);
bool hashmap_put_str(struct hashmap *m, const char *key, void *value, void **old);

/* Remove the entry under key: true and its value in *old (when old is not
 * NULL), or false when there is no such key. */
bool hashmap_del(struct hashmap *m, const void *key, size_t len, void **old);
bool hashmap_del_str(struct hashmap *m, const char *key, void **old);

/*
 * Iteration:
 *
 *	struct hashmap_iter it;
 *	hashmap_iter_init(&it, &map);
 *	while (hashmap_iter_next(&it))
 *		use(it.key, it.len, it.value);
 *
 * Every entry is seen once.  hashmap_iter_del() removes the current entry
 * and iteration goes on correctly (it starts at an empty slot, so a
 * deletion only moves entries not seen yet); any other change to the map
 * during an iteration is not allowed.
 */
struct hashmap_iter {
	struct hashmap *map;
	size_t pos, left;
	bool stay;
	const char *key;
	size_t len;
	void *value;
};

void hashmap_iter_init(struct hashmap_iter *it, const struct hashmap *m);
bool hashmap_iter_next(struct hashmap_iter *it);
void hashmap_iter_del(struct hashmap_iter *it);

#endif
