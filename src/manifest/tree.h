/*
 * The JSON-shaped tree every object is decoded from.
 *
 * YAML files (libfyaml) and the API server's JSON (jansson) are both turned
 * into this one tree, so one decoder serves files and the API alike.  Each
 * node remembers where it came from (file and line; line 0 when unknown) so
 * that every error can point at it.
 *
 * Scalars are resolved like Kubernetes' YAML reader: plain `true`/`false` are
 * booleans, plain `null`, `~` and the empty value are null, plain integers
 * (decimal, 0x hex, 0o octal) are integers, plain floats are floats, and
 * everything else, and every quoted scalar, is a string.  The original text
 * of every scalar is kept in `text`, so a decoder can say exactly what it
 * found.
 */
#ifndef IRONLB_MANIFEST_TREE_H
#define IRONLB_MANIFEST_TREE_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tree_type {
	TREE_NULL,
	TREE_BOOL,
	TREE_INT,
	TREE_FLOAT,
	TREE_STRING,
	TREE_ARRAY,
	TREE_OBJECT,
};

/* 48 bytes (64 before, 96 in the first, padded, layout): the Kubernetes
 * daemons keep tens of nodes per watched object.  i, f and keys share
 * their bytes: a reader looks at the one its type says (keys belongs to
 * objects alone; copying i of a scalar copies either number).  type holds
 * an enum tree_type in a byte, n counts up to 2^32 - 1 members. */
struct tree {
	unsigned char type; /* enum tree_type */
	bool b;
	bool int_overflow;
	unsigned char packed; /* TREE_PACKED_*: part of a tree_pack() block */
	int line;           /* 1-based; 0 when unknown */
	uint32_t n;         /* arrays and objects */
	unsigned refs;      /* owners beyond the first (tree_ref()) */
	const char *file;   /* not owned (interned by the reader); NULL for API data */
	char *text;         /* scalars: the source text (strings: the value) */
	union {
		int64_t i;  /* TREE_INT (an integer too large for int64 is a TREE_FLOAT
			       with int_overflow set) */
		double f;   /* TREE_FLOAT */
		char **keys; /* TREE_OBJECT: keys[k] names items[k]; insertion order */
	};
	struct tree **items; /* arrays and objects */
};

enum {
	TREE_PACKED_NO,
	TREE_PACKED_ROOT,   /* the block starts with this node */
	TREE_PACKED_INNER,
};

const char *tree_type_name(enum tree_type t); /* "a string", "an integer", ... */

struct tree *tree_new(enum tree_type t, const char *file, int line);
struct tree *tree_new_string(const char *s, const char *file, int line);
void tree_free(struct tree *t);
/* Append to an array / set a key of an object (replacing an existing key). */
void tree_array_append(struct tree *arr, struct tree *item);
void tree_object_set(struct tree *obj, const char *key, struct tree *value);
/* Remove a member of an object and hand it to the caller (NULL when
 * absent or when obj is not an object). */
struct tree *tree_object_take(struct tree *obj, const char *key);

/* Member of an object; NULL when absent or when t is not an object. */
struct tree *tree_get(const struct tree *t, const char *key);
/* Follow a path such as "spec.addresses[1]" or "metadata.labels.app"; NULL
 * when any step is missing. */
struct tree *tree_path(const struct tree *t, const char *path);
/* The line of the deepest node on the path that exists (so an error about a
 * missing field points at its parent); the object's own line as a fallback. */
int tree_path_line(const struct tree *t, const char *path);
/* String value of a member, or NULL when absent or not a string. */
const char *tree_get_str(const struct tree *t, const char *key);

/* Path building in the syntax tree_path reads: `path.key`, or
 * `path["key"]` when the key holds anything but letters, digits, '-' and '_'
 * (so "metallb.io/address-pool" stays one step); `path[index]`.  An empty
 * or NULL path gives the bare step.  Return new strings. */
char *tree_path_join_key(const char *path, const char *key);
char *tree_path_join_index(const char *path, size_t index);

/* A scalar resolved as the YAML reader resolves a plain (unquoted) one: null,
 * boolean, integer, float, or else a string; `text` is a copy of text. */
struct tree *tree_new_plain_scalar(const char *text, const char *file, int line);

/* Same types, values, texts and key order all through (file and line
 * not compared). */
bool tree_equal(const struct tree *a, const struct tree *b);

/* Deep copy. */
struct tree *tree_clone(const struct tree *t);

/*
 * Sharing, for trees that are only read from then on (the daemons' stored
 * API objects: the watch cache and the pipeline's store hold the same
 * one).  tree_ref() adds an owner and returns t; tree_free() then drops
 * one owner and frees the tree with the last.  A member of a packed tree
 * (below) cannot outlive its block, so tree_ref() of one is a tree_clone().
 *
 * tree_pack() moves a whole tree into one block (nodes, member arrays and
 * strings) and frees t: no malloc header and no spare array capacity per
 * node, and the member names and values common to Kubernetes objects
 * ("metadata", "LoadBalancer", ...) point at one static copy instead of
 * one in each block.  A
 * packed tree is read-only: tree_object_set(), tree_object_take() and
 * tree_array_append() on any of its nodes abort.  It is freed whole, by
 * tree_free() of its root; tree_free() of an inner node does nothing.
 * A tree with other owners is returned unchanged.
 */
struct tree *tree_ref(struct tree *t);
struct tree *tree_pack(struct tree *t);
/* Whether tree_pack()'s list of shared strings (the member names and
 * values common to Kubernetes objects, which a packed tree points at
 * instead of holding) is in the order its search needs; for tests. */
bool tree_common_strings_sorted(void);
/* Bytes a tree occupies (malloc blocks at their usable size, headers
 * not counted); for tests and measurements. */
size_t tree_bytes(const struct tree *t);

/* Conversions to and from jansson's json_t.  from_json nodes have file
 * NULL, line 0. */
struct tree *tree_from_json(const json_t *json);
json_t *tree_to_json(const struct tree *t);  /* a new reference */

/* JSON text (not terminated) into a tree, without jansson in between:
 * the same acceptance and the same tree as tree_from_json(json_loadb())
 * (tree_json.c), at a fraction of the cost.  NULL and *err (when err is
 * not NULL; "what at line L column C", to be freed) when it is not JSON. */
enum {
	TREE_JSON_ANY = 1,                 /* any value at the top, not only {} or [] */
	TREE_JSON_NO_MANAGED_FIELDS = 2,   /* leave out "managedFields" of "metadata" objects */
};
struct tree *tree_parse_json(const char *text, size_t len, unsigned flags, char **err);

/* A real's text: the shortest of %.15g..%.17g that reads back exactly. */
char *tree_format_double(double f);

#endif
