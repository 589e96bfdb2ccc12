/*
 * The pipeline (see pipeline.h): the store of source objects, the verdict,
 * last good records and the pass.
 *
 * A pass decodes the store into a model (builds are cheap next to what
 * comes after, and the model is append-only, so a pass builds afresh):
 *
 *   1. every current object -> the verdict on the configuration (rules 1,
 *      3, 4); Namespaces, Secrets and EndpointSlices with errors are left
 *      out and the model built again without them;
 *   2. when the current configuration is not taken, the last good
 *      configuration with the current other objects;
 *   3. when Services fail (rule 2, judged against the configuration in
 *      force), once more with each failed Service in its last good version
 *      or left out.
 */
#include "pipeline/pipeline.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "base/hashmap.h"
#include "base/util.h"
#include "manifest/manifest.h"

/* Kept texts this long or longer are deflated (a file of a few objects
 * stays as it is: its bytes cost less than zlib's work). */
#define TEXT_ZIP_MIN (16 * 1024)

/* ------------------------------------------------------------------ */
/* a small string map (chained, power-of-two buckets) */

struct hnode {
	struct hnode *next;
	uint64_t h;
	char *key;
	void *val;
	size_t idx;
};

/* Nodes come from blocks of HMAP_CHUNK, with a list of the free ones:
 * a store's index of 20,000 entries, and the maps a pass makes and drops,
 * were 20,000 small blocks each; dropped between the blocks that stay,
 * they left the heap full of holes that could not be given back. */
#define HMAP_CHUNK 256

struct hchunk {
	struct hchunk *next;
	struct hnode nodes[HMAP_CHUNK];
};

/* Copied keys, for the same reason, are packed into blocks freed with the
 * map (a removed key's bytes stay until then), except in a map that
 * lives long and removes keys (keys_each: a block per key). */
#define HKEYS_BLOCK 4096

struct hkeys {
	struct hkeys *next;
	size_t used, cap;
	char data[];
};

struct hmap {
	struct hnode **b;
	size_t nb, n;
	bool borrow;        /* keys are the caller's (they outlive the node) */
	bool keys_each;     /* (not borrow) each copied key a block of its own */
	struct hchunk *chunks;
	struct hnode *spare;    /* free nodes, by next */
	struct hkeys *keys;     /* (not borrow nor keys_each) the copied keys */
};

static char *hkey_copy(struct hmap *m, const char *key)
{
	if (m->keys_each)
		return xstrdup(key);
	size_t len = strlen(key) + 1;
	struct hkeys *k = m->keys;
	if (!k || k->cap - k->used < len) {
		size_t cap = len > HKEYS_BLOCK ? len : HKEYS_BLOCK;
		k = xmalloc(sizeof(*k) + cap);
		k->used = 0;
		k->cap = cap;
		k->next = m->keys;
		m->keys = k;
	}
	char *c = memcpy(k->data + k->used, key, len);
	k->used += len;
	return c;
}

static struct hnode *hnode_new(struct hmap *m)
{
	if (!m->spare) {
		struct hchunk *c = xmalloc(sizeof(*c));
		c->next = m->chunks;
		m->chunks = c;
		for (size_t i = HMAP_CHUNK; i-- > 0;) {
			c->nodes[i].next = m->spare;
			m->spare = &c->nodes[i];
		}
	}
	struct hnode *n = m->spare;
	m->spare = n->next;
	memset(n, 0, sizeof(*n));
	return n;
}

static void hnode_free(struct hmap *m, struct hnode *n)
{
	n->next = m->spare;
	m->spare = n;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct hnode *hmap_get(const struct hmap *m, const char *key)
{
	if (!m->nb)
		return NULL;
	uint64_t h = hash_str(key);
	for (struct hnode *n = m->b[h & (m->nb - 1)]; n; n = n->next)
		if (n->h == h && strcmp(n->key, key) == 0)
			return n;
	return NULL;
}

static struct hnode *hmap_put(struct hmap *m, const char *key)
{
	struct hnode *n = hmap_get(m, key);
	if (n)
		return n;
	if (m->n + 1 > m->nb) {
		size_t nb = m->nb ? m->nb * 2 : 16;
		struct hnode **b = xcalloc(nb, sizeof(*b));
		for (size_t i = 0; i < m->nb; i++)
			for (struct hnode *x = m->b[i], *nx; x; x = nx) {
				nx = x->next;
				x->next = b[x->h & (nb - 1)];
				b[x->h & (nb - 1)] = x;
			}
		free(m->b);
		m->b = b;
		m->nb = nb;
	}
	n = hnode_new(m);
	n->h = hash_str(key);
	n->key = m->borrow ? (char *)key : hkey_copy(m, key);
	n->next = m->b[n->h & (m->nb - 1)];
	m->b[n->h & (m->nb - 1)] = n;
	m->n++;
	return n;
}

/* Remove key; returns its value (the caller frees it) or NULL. */
static void *hmap_del(struct hmap *m, const char *key)
{
	if (!m->nb)
		return NULL;
	uint64_t h = hash_str(key);
	for (struct hnode **pp = &m->b[h & (m->nb - 1)]; *pp; pp = &(*pp)->next) {
		struct hnode *n = *pp;
		if (n->h != h || strcmp(n->key, key) != 0)
			continue;
		*pp = n->next;
		void *v = n->val;
		if (!m->borrow && m->keys_each)
			free(n->key);
		hnode_free(m, n);
		m->n--;
		return v;
	}
	return NULL;
}

static void hmap_clear(struct hmap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->nb; i++)
		for (struct hnode *x = m->b[i], *nx; x; x = nx) {
			nx = x->next;
			if (free_val)
				free_val(x->val);
			if (!m->borrow && m->keys_each)
				free(x->key);
		}
	free(m->b);
	for (struct hchunk *c = m->chunks, *nc; c; c = nc) {
		nc = c->next;
		free(c);
	}
	for (struct hkeys *k = m->keys, *nk; k; k = nk) {
		nk = k->next;
		free(k);
	}
	bool borrow = m->borrow, keys_each = m->keys_each;
	memset(m, 0, sizeof(*m));
	m->borrow = borrow;
	m->keys_each = keys_each;
}

/* Empty m for its next use.  A small map (one block of nodes, one of
 * keys, few buckets: the maps a step fills with its few changes) keeps
 * its blocks, so that a step does not allocate and link a block of
 * HMAP_CHUNK nodes for each map again; a larger one is given back
 * (hmap_clear()), so that one whole pass does not pin its memory. */
static void hmap_reset(struct hmap *m)
{
	if (m->nb > 2 * HMAP_CHUNK || (m->chunks && m->chunks->next) ||
	    (m->keys && m->keys->next) || m->keys_each) {
		hmap_clear(m, NULL);
		return;
	}
	for (size_t i = 0; i < m->nb; i++)
		for (struct hnode *x = m->b[i], *nx; x; x = nx) {
			nx = x->next;
			hnode_free(m, x);
		}
	if (m->nb)
		memset(m->b, 0, m->nb * sizeof(*m->b));
	m->n = 0;
	if (m->keys)
		m->keys->used = 0;
}

static void free_tree_val(void *v)
{
	tree_free(v);
}

/* ------------------------------------------------------------------ */
/* the store */

struct entry {
	/* "Kind/ns/name" (a duplicate in one source: "#2" added); once stored
	 * (entry_pack()) one block with ns and name, and the source's index
	 * borrows it. */
	char *key;
	int kind;           /* enum obj_kind, or -1 */
	char *ns, *name;
	struct tree *tree;
	/* When the store first took the object (1, 2, ...): the order of
	 * reading, file order then document order, later arrivals after;
	 * kept across updates.  A Service's `seen` (who asked first). */
	uint64_t seq;
	bool good;          /* a Service whose tree was judged good (for last good) */
	bool ignored;       /* rule 3: left out of this pass */
};

struct source {
	char *name;
	size_t n;
	struct entry *e;    /* in source order; an entry with key NULL is a
			     * hole left by delete_at() */
	size_t ndead;       /* holes among e[0..n) */
	struct hmap index;  /* key -> position (keys borrowed from the entries) */
	bool failed;
	bool ever_read;     /* read successfully once (a failure keeps its objects) */
	struct diag_list problems;
	/* A file synced by pipeline_sync_dir(): the text its objects were
	 * last read from.  Its trees are released after each pass and parsed
	 * again from the file (or, when the file is broken, from this text),
	 * so that `ironlb run` holds the objects once, in the model, not twice.
	 * A text of TEXT_ZIP_MIN bytes or more is kept deflated (zlib): 10,000
	 * Services in one file are 2.3 MB of YAML and about a tenth of that
	 * deflated (text_keep(), text_get()). */
	char *text;
	size_t len;         /* length of the text */
	size_t zlen;        /* deflated: the bytes text holds; 0: text is the text */
};

struct pipeline {
	char *config_ns;
	char *lb_class;
	size_t nsources;
	struct source **sources;    /* in file order; each its own block */
	struct hashmap sources_ix;  /* name -> struct source * (borrows the name) */
	size_t nfiles;
	char **files;       /* interned file names the stored trees point at */
	struct hashmap files_ix;  /* name -> its copy in files (borrowed) */

	/* last good */
	bool have_good;
	size_t ngood;
	struct tree **good_config;  /* configuration objects and Secrets */
	struct hmap good_svc;       /* "ns/name" -> tree of a Service replaced while good */

	/* Changes since the last pipeline_step(): the Services by "ns/name",
	 * and whether anything else changed (configuration objects, Nodes,
	 * Namespaces, Secrets, EndpointSlices, source problems, file order). */
	struct hmap changed;
	/* EndpointSlices upserted or deleted one at a time (pipeline_upsert,
	 * pipeline_delete) by "ns/name", and the Services ("ns/name") their
	 * earlier versions belonged to: a step re-plans those Services. */
	struct hmap changed_slices;
	struct hmap slice_svcs;
	/* A step's own sets (hmap_reset() between steps): the Services of
	 * the EndpointSlices it takes, the Services it re-plans. */
	struct hmap step_slice_svcs, step_seen;
	bool dirty;
	bool live_ok;       /* the live state holds a pass that ran to build on */
	uint64_t seq;       /* the last entry.seq given */
};

static bool kind_is_config(int k)
{
	switch (k) {
	case KIND_IPADDRESSPOOL:
	case KIND_L2ADVERTISEMENT:
	case KIND_BGPADVERTISEMENT:
	case KIND_BGPPEER:
	case KIND_BFDPROFILE:
	case KIND_COMMUNITY:
	case KIND_NODE:
		return true;
	default:
		return false;
	}
}

/* In the last good configuration too: what the configuration objects read. */
static bool kind_in_good_config(int k)
{
	return kind_is_config(k) || k == KIND_SECRET;
}

static bool kind_is_ignorable(int k)
{
	return k == KIND_NAMESPACE || k == KIND_SECRET || k == KIND_ENDPOINTSLICE;
}

static int kind_of(const char *name)
{
	for (int k = 0; name && k < KIND_COUNT_; k++)
		if (strcmp(obj_kind_name((enum obj_kind)k), name) == 0)
			return k;
	return -1;
}

const char *pipeline_config_name(enum pipeline_config c)
{
	switch (c) {
	case PIPELINE_CONFIG_VALID:
		return "valid";
	case PIPELINE_CONFIG_INVALID_RUNNABLE:
		return "invalid but runnable";
	case PIPELINE_CONFIG_INVALID:
		return "invalid";
	}
	return "?";
}

struct pipeline *pipeline_new(const struct pipeline_opts *o)
{
	struct pipeline *p = xcalloc(1, sizeof(*p));
	p->config_ns = xstrdup(o && o->config_namespace ? o->config_namespace
						     : MODEL_DEFAULT_CONFIG_NAMESPACE);
	p->lb_class = o && o->lb_class && *o->lb_class ? xstrdup(o->lb_class) : NULL;
	hashmap_init(&p->files_ix, false);
	hashmap_init(&p->sources_ix, false);
	p->good_svc.keys_each = true;  /* lives as long as the pipeline, with removals */
	return p;
}

/* A stored entry's key, namespace and name in one block (10,000 Services
 * in a file: three blocks fewer each, with the index's key copy). */
static void entry_pack(struct entry *e)
{
	size_t lk = strlen(e->key) + 1;
	size_t ln = e->ns ? strlen(e->ns) + 1 : 0, lm = e->name ? strlen(e->name) + 1 : 0;
	char *b = xmalloc(lk + ln + lm);
	memcpy(b, e->key, lk);
	if (e->ns)
		memcpy(b + lk, e->ns, ln);
	if (e->name)
		memcpy(b + lk + ln, e->name, lm);
	free(e->key);
	free(e->ns);
	free(e->name);
	e->key = b;
	e->ns = ln ? b + lk : NULL;
	e->name = lm ? b + lk + ln : NULL;
}

static void entry_free(struct entry *e)
{
	free(e->key);
	tree_free(e->tree);
}

static void source_free(struct source *s)
{
	for (size_t i = 0; i < s->n; i++)
		entry_free(&s->e[i]);
	free(s->e);
	hmap_clear(&s->index, NULL);
	diag_list_free(&s->problems);
	free(s->text);
	free(s->name);
}

static void good_config_free(struct pipeline *p)
{
	for (size_t i = 0; i < p->ngood; i++)
		tree_free(p->good_config[i]);
	free(p->good_config);
	p->good_config = NULL;
	p->ngood = 0;
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	hashmap_clear(&p->sources_ix);
	for (size_t i = 0; i < p->nsources; i++) {
		source_free(p->sources[i]);
		free(p->sources[i]);
	}
	free(p->sources);
	good_config_free(p);
	hmap_clear(&p->good_svc, free_tree_val);
	hmap_clear(&p->changed, NULL);
	hmap_clear(&p->changed_slices, NULL);
	hmap_clear(&p->slice_svcs, NULL);
	hmap_clear(&p->step_slice_svcs, NULL);
	hmap_clear(&p->step_seen, NULL);
	hashmap_clear(&p->files_ix);
	for (size_t i = 0; i < p->nfiles; i++)
		free(p->files[i]);
	free(p->files);
	free(p->config_ns);
	free(p->lb_class);
	free(p);
}

static const char *intern_file(struct pipeline *p, const char *file)
{
	if (!file)
		return NULL;
	const char *have = hashmap_get_str(&p->files_ix, file);
	if (have)
		return have;
	char *s = xstrdup(file);
	*VEC_PUSH(p->files, p->nfiles) = s;
	hashmap_put_str(&p->files_ix, s, s, NULL);
	return s;
}

/* Point every node of a tree at the pipeline's copy of its file name (the
 * reader's copy goes with its manifest_set). */
static void retarget(struct tree *t, const char *file)
{
	if (!t)
		return;
	t->file = file;
	for (size_t i = 0; i < t->n; i++)
		retarget(t->items[i], file);
}

static struct source *source_find(struct pipeline *p, const char *name)
{
	/* A directory of 10,000 files: a scan of every name per file read
	 * was a fifth of a pass under a stream of changes. */
	return hashmap_get_str(&p->sources_ix, name);
}

static struct source *source_get(struct pipeline *p, const char *name)
{
	struct source *s = source_find(p, name);
	if (s)
		return s;
	s = xcalloc(1, sizeof(*s));
	s->name = xstrdup(name);
	s->index.borrow = true;
	*VEC_PUSH(p->sources, p->nsources) = s;
	hashmap_put_str(&p->sources_ix, s->name, s, NULL);
	return s;
}

static void svc_key(char *buf, size_t len, const char *ns, const char *name)
{
	snprintf(buf, len, "%s/%s", ns ? ns : "", name ? name : "");
}

/* Note a change for the next pipeline_step(). */
static void mark(struct pipeline *p, int kind, const char *ns, const char *name)
{
	if (kind != KIND_SERVICE || !name) {
		p->dirty = true;
		return;
	}
	char k[512];
	svc_key(k, sizeof(k), ns, name);
	hmap_put(&p->changed, k);
}

/* The Service ("ns/name") an EndpointSlice tree belongs to, into buf;
 * false when it names none. */
static bool slice_service(const struct tree *t, const char *ns, char *buf, size_t len)
{
	const struct tree *labels = t ? tree_path(t, "metadata.labels") : NULL;
	const char *svc = labels && labels->type == TREE_OBJECT
				  ? tree_get_str(labels, "kubernetes.io/service-name")
				  : NULL;
	if (!svc || !*svc)
		return false;
	svc_key(buf, len, ns, svc);
	return true;
}

/* An EndpointSlice changed one object at a time (upsert or delete from
 * the API): noted apart, with the Service its old version (old, may be
 * NULL) belonged to, so that a step takes it without a whole pass. */
static void mark_slice(struct pipeline *p, const char *ns, const char *name, bool had,
		       const struct tree *old)
{
	/* An old version whose tree was released (a file's): its Service is
	 * not known here; a whole pass. */
	if (!name || (had && !old)) {
		p->dirty = true;
		return;
	}
	char k[512];
	svc_key(k, sizeof(k), ns, name);
	hmap_put(&p->changed_slices, k);
	if (slice_service(old, ns, k, sizeof(k)))
		hmap_put(&p->slice_svcs, k);
}

/* The object an entry names, from its tree. */
static void entry_name(struct pipeline *p, struct entry *e, const struct tree *t)
{
	const char *kind = t && t->type == TREE_OBJECT ? tree_get_str(t, "kind") : NULL;
	const struct tree *md = kind ? tree_get(t, "metadata") : NULL;
	const char *ns = md && md->type == TREE_OBJECT ? tree_get_str(md, "namespace") : NULL;
	const char *name = md && md->type == TREE_OBJECT ? tree_get_str(md, "name") : NULL;
	e->kind = kind_of(kind);
	if (!ns || !*ns) {
		if (kind_is_config(e->kind) && e->kind != KIND_NODE)
			ns = p->config_ns;
		else if (e->kind == KIND_NODE || e->kind == KIND_NAMESPACE)
			ns = NULL;
		else
			ns = "default";
	}
	e->ns = xstrdup(ns);
	e->name = xstrdup(name);
}

/* A tree replaced or deleted: a Service's good tree becomes its last good
 * version, anything else goes. */
static void retire(struct pipeline *p, struct entry *e)
{
	if (e->kind == KIND_SERVICE && e->good && e->name && e->tree) {
		char k[512];
		svc_key(k, sizeof(k), e->ns, e->name);
		struct hnode *n = hmap_put(&p->good_svc, k);
		tree_free(n->val);
		n->val = e->tree;
	} else {
		tree_free(e->tree);
	}
	e->tree = NULL;
	e->good = false;
}

static char *entry_key(const struct entry *e, size_t pos)
{
	if (!e->name)
		return xasprintf("#%zu", pos);
	return xasprintf("%d/%s/%s", e->kind, e->ns ? e->ns : "", e->name);
}

static void upsert(struct pipeline *p, struct source *s, struct tree *obj)
{
	const char *file = intern_file(p, obj ? obj->file : NULL);
	retarget(obj, file);
	struct entry tmp = {0};
	entry_name(p, &tmp, obj);
	tmp.key = entry_key(&tmp, s->n);
	struct hnode *n = hmap_get(&s->index, tmp.key);
	if (tmp.kind == KIND_ENDPOINTSLICE)
		mark_slice(p, tmp.ns, tmp.name, n != NULL, n ? s->e[n->idx].tree : NULL);
	else
		mark(p, tmp.kind, tmp.ns, tmp.name);
	if (n) {
		struct entry *e = &s->e[n->idx];
		retire(p, e);
		e->tree = obj;
		free(tmp.key);
		free(tmp.ns);
		free(tmp.name);
		return;
	}
	tmp.tree = obj;
	tmp.seq = ++p->seq;
	entry_pack(&tmp);
	struct entry *e = VEC_PUSH(s->e, s->n);
	*e = tmp;
	hmap_put(&s->index, e->key)->idx = s->n - 1;
}

void pipeline_upsert(struct pipeline *p, const char *source, struct tree *obj)
{
	upsert(p, source_get(p, source), obj);
}

void pipeline_refresh(struct pipeline *p, const char *source, struct tree *obj)
{
	struct source *s = source_get(p, source);
	struct entry tmp = {0};
	entry_name(p, &tmp, obj);
	tmp.key = entry_key(&tmp, s->n);
	struct hnode *n = hmap_get(&s->index, tmp.key);
	struct entry *e = n ? &s->e[n->idx] : NULL;
	free(tmp.key);
	free(tmp.ns);
	free(tmp.name);
	if (!e || e->kind != KIND_SERVICE || !e->good || !e->tree) {
		upsert(p, s, obj);
		return;
	}
	retarget(obj, intern_file(p, obj ? obj->file : NULL));
	tree_free(e->tree);
	e->tree = obj;
}

void pipeline_resync(struct pipeline *p)
{
	p->dirty = true;
}

/* Close the holes of deleted entries (in order), moving each entry's
 * position in the index with it. */
static void compact(struct source *s)
{
	size_t j = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (!s->e[i].key)
			continue;
		if (i != j) {
			s->e[j] = s->e[i];
			hmap_get(&s->index, s->e[j].key)->idx = j;
		}
		j++;
	}
	s->n = j;
	s->ndead = 0;
}

/* Delete the entry at i (its last good version goes too: the object is
 * gone).  Amortized O(1), keeping the order of the others (it decides
 * the order of diagnostics that share a place, and "the later of two
 * overlapping pools"): the entry becomes a hole (key NULL), and the
 * holes are closed in one walk once they are half the array. */
static void delete_at(struct pipeline *p, struct source *s, size_t i)
{
	struct entry *e = &s->e[i];
	if (e->kind == KIND_ENDPOINTSLICE)
		mark_slice(p, e->ns, e->name, true, e->tree);
	else
		mark(p, e->kind, e->ns, e->name);
	if (e->kind == KIND_SERVICE && e->name) {
		char k[512];
		svc_key(k, sizeof(k), e->ns, e->name);
		tree_free(hmap_del(&p->good_svc, k));
	}
	/* The index borrows the entry's key: out of the index first. */
	hmap_del(&s->index, e->key);
	entry_free(e);
	*e = (struct entry){.kind = -1};
	s->ndead++;
	while (s->n && !s->e[s->n - 1].key) {
		s->n--;
		s->ndead--;
	}
	if (s->ndead > 16 && 2 * s->ndead > s->n)
		compact(s);
}

int pipeline_delete(struct pipeline *p, const char *source, const char *kind, const char *ns,
		    const char *name)
{
	struct source *s = source_find(p, source);
	if (!s)
		return -1;
	struct entry tmp = {.kind = kind_of(kind), .ns = (char *)ns, .name = (char *)name};
	if (!tmp.ns) {
		if (kind_is_config(tmp.kind) && tmp.kind != KIND_NODE)
			tmp.ns = p->config_ns;
		else if (tmp.kind != KIND_NODE && tmp.kind != KIND_NAMESPACE)
			tmp.ns = "default";
	}
	char *key = entry_key(&tmp, 0);
	struct hnode *n = hmap_get(&s->index, key);
	free(key);
	if (!n)
		return -1;
	delete_at(p, s, n->idx);
	return 0;
}

void pipeline_source_set(struct pipeline *p, const char *source, struct tree **objs, size_t n)
{
	struct source *s = source_get(p, source);
	if (s->problems.n || s->failed)
		p->dirty = true;
	/* Old entries by key; each new object takes its old entry (an update:
	 * a good Service's tree becomes its last good version) or is new. */
	size_t nold = s->n;
	struct entry *old = s->e;
	struct hmap old_index = s->index;
	memset(&s->index, 0, sizeof(s->index));
	s->index.borrow = true;
	s->e = NULL;
	s->n = s->ndead = 0;
	bool *taken = xcalloc(nold ? nold : 1, sizeof(*taken));
	for (size_t i = 0; i < n; i++) {
		struct tree *obj = objs[i];
		const char *file = intern_file(p, obj ? obj->file : NULL);
		retarget(obj, file);
		struct entry tmp = {0};
		entry_name(p, &tmp, obj);
		tmp.key = entry_key(&tmp, i);
		mark(p, tmp.kind, tmp.ns, tmp.name);
		/* The same object twice in one source: keep both (the model
		 * reports the duplicate), under distinct keys. */
		for (int dup = 2; hmap_get(&s->index, tmp.key); dup++) {
			char *k = entry_key(&tmp, i);
			free(tmp.key);
			tmp.key = xasprintf("%s#%d", k, dup);
			free(k);
		}
		struct hnode *on = hmap_get(&old_index, tmp.key);
		tmp.seq = 0;
		if (on && !taken[on->idx]) {
			struct entry *oe = &old[on->idx];
			taken[on->idx] = true;
			retire(p, oe);
			tmp.good = false;
			tmp.seq = oe->seq;
		}
		if (!tmp.seq)
			tmp.seq = ++p->seq;
		tmp.tree = obj;
		entry_pack(&tmp);
		struct entry *e = VEC_PUSH(s->e, s->n);
		*e = tmp;
		hmap_put(&s->index, e->key)->idx = s->n - 1;
	}
	/* Old entries not taken were deleted. */
	for (size_t i = 0; i < nold; i++) {
		if (!old[i].key)
			continue;   /* a hole */
		if (!taken[i])
			mark(p, old[i].kind, old[i].ns, old[i].name);
		if (!taken[i] && old[i].kind == KIND_SERVICE && old[i].name) {
			/* Gone from this source; still its last good version if the
			 * Service lives on in another source?  No: a Service belongs to
			 * one source; it is gone. */
			char k[512];
			svc_key(k, sizeof(k), old[i].ns, old[i].name);
			tree_free(hmap_del(&p->good_svc, k));
		}
		entry_free(&old[i]);
	}
	free(old);
	free(taken);
	hmap_clear(&old_index, NULL);
	s->failed = false;
	s->ever_read = true;
	diag_list_free(&s->problems);
}

void pipeline_source_failed(struct pipeline *p, const char *source,
			    const struct diag_list *problems)
{
	struct source *s = source_get(p, source);
	p->dirty = true;
	s->failed = true;
	diag_list_free(&s->problems);
	for (size_t i = 0; problems && i < problems->n; i++)
		diag_append_copy(&s->problems, &problems->items[i]);
}

void pipeline_source_remove(struct pipeline *p, const char *source)
{
	struct source *s = source_find(p, source);
	if (!s)
		return;
	if (s->problems.n || s->failed)
		p->dirty = true;
	while (s->n)
		delete_at(p, s, s->n - 1);
	hashmap_del_str(&p->sources_ix, s->name, NULL);
	size_t i = 0;
	while (p->sources[i] != s)
		i++;
	memmove(&p->sources[i], &p->sources[i + 1], (p->nsources - i - 1) * sizeof(*p->sources));
	p->nsources--;
	source_free(s);
	free(s);
}

void pipeline_source_order(struct pipeline *p, const char *const *names, size_t n)
{
	size_t at = 0;
	for (size_t k = 0; k < n; k++)
		for (size_t i = at; i < p->nsources; i++)
			if (strcmp(p->sources[i]->name, names[k]) == 0) {
				struct source *tmp = p->sources[i];
				memmove(&p->sources[at + 1], &p->sources[at], (i - at) * sizeof(tmp));
				p->sources[at++] = tmp;
				break;
			}
	/* The indexes live inside each source and moved with it. */
}

/* Read one file as a source: its objects replace what it held, unless it
 * has problems; then it keeps them (or, never read before, takes what
 * could be read, so that `check` still reports on those objects). */
static void read_one(struct pipeline *p, const char *path)
{
	struct manifest_set set = {0};
	struct diag_list d = {0};
	int rc = manifest_read_file(&set, path, &d);
	struct source *s = source_find(p, path);
	bool failed = rc != 0 || diag_count(&d, DIAG_ERROR) > 0;
	if (!failed || !s || !s->ever_read) {
		pipeline_source_set(p, path, set.objects, set.n);
		for (size_t i = 0; i < set.n; i++)
			set.objects[i] = NULL;
		set.n = 0;
		if (failed)
			source_find(p, path)->ever_read = false;
	}
	if (failed)
		pipeline_source_failed(p, path, &d);
	else if (d.n && (p->dirty = true))
		/* Warnings and notes of the reader stay with the source. */
		for (size_t i = 0; i < d.n; i++)
			diag_append_copy(&source_find(p, path)->problems, &d.items[i]);
	diag_list_free(&d);
	manifest_set_free(&set);
}

/* Keep text (taken) as the source's last good text, deflated when large. */
static void text_keep(struct source *s, char *text, size_t len)
{
	free(s->text);
	s->text = text;
	s->len = len;
	s->zlen = 0;
	if (len < TEXT_ZIP_MIN)
		return;
	uLongf zlen = compressBound((uLong)len);
	Bytef *z = xmalloc(zlen);
	if (compress2(z, &zlen, (const Bytef *)text, (uLong)len, Z_BEST_SPEED) != Z_OK) {
		free(z);
		return;
	}
	s->text = xrealloc(z, zlen);
	s->zlen = zlen;
	free(text);
}

/* The source's kept text, NUL-terminated: s->text itself (*owned false)
 * or a new inflated copy (*owned true); NULL when none is kept or it
 * cannot be inflated. */
static char *text_get(const struct source *s, bool *owned)
{
	*owned = false;
	if (!s->text || !s->zlen)
		return s->text;
	char *t = xmalloc(s->len + 1);
	uLongf len = s->len;
	if (uncompress((Bytef *)t, &len, (const Bytef *)s->text, (uLong)s->zlen) != Z_OK ||
	    len != s->len) {
		free(t);
		return NULL;
	}
	t[len] = '\0';
	*owned = true;
	return t;
}

/* Whether the source's kept text is text. */
static bool text_same(const struct source *s, const char *text, size_t len)
{
	if (!s->text || s->len != len)
		return false;
	bool owned;
	char *t = text_get(s, &owned);
	bool same = t && memcmp(t, text, len) == 0;
	if (owned)
		free(t);
	return same;
}

/* Parse text as file `name`; the trees in *objs (caller owns).  -1 when it
 * has problems (in d). */
static int parse_text(struct pipeline *p, const char *name, const char *text, size_t len,
		      struct tree ***objs, size_t *n, struct diag_list *d)
{
	struct manifest_set set = {0};
	int rc = manifest_read_buffer(&set, name, text, len, d);
	/* The trees point at the set's copy of the file name: point them at
	 * the pipeline's before the set goes. */
	const char *file = intern_file(p, name);
	for (size_t i = 0; i < set.n; i++)
		retarget(set.objects[i], file);
	*objs = set.objects;
	*n = set.n;
	set.objects = NULL;
	set.n = 0;
	manifest_set_free(&set);
	return rc != 0 || diag_count(d, DIAG_ERROR) ? -1 : 0;
}

/* Give a source's entries back their trees (objs in entry order, taken);
 * 0, or -1 when they do not match (then objs are freed). */
static int attach(struct pipeline *p, struct source *s, struct tree **objs, size_t n)
{
	int rc = n == s->n ? 0 : -1;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			retarget(objs[i], intern_file(p, objs[i] ? objs[i]->file : NULL));
			tree_free(s->e[i].tree);
			s->e[i].tree = objs[i];
		} else {
			tree_free(objs[i]);
		}
	}
	free(objs);
	return rc;
}

/* Restore the trees of a source from the text it was last read from. */
static void restore(struct pipeline *p, struct source *s)
{
	bool owned;
	char *text = text_get(s, &owned);
	if (!text)
		return;
	struct tree **objs;
	size_t n;
	struct diag_list d = {0};
	parse_text(p, s->name, text, s->len, &objs, &n, &d);
	if (owned)
		free(text);
	diag_list_free(&d);
	attach(p, s, objs, n);
}

/* One file of a synced directory: like read_one(), keeping the text. */
static void sync_one(struct pipeline *p, const char *path)
{
	size_t len = 0;
	char *text = file_read_all(path, &len);
	struct source *s = source_find(p, path);
	if (!text || len > MANIFEST_MAX_BYTES) {
		/* The reader says why, the same way check does. */
		free(text);
		if (s)
			restore(p, s);
		read_one(p, path);
		return;
	}
	struct tree **objs;
	size_t n;
	struct diag_list d = {0};
	int rc = parse_text(p, path, text, len, &objs, &n, &d);
	if (rc != 0 && s && s->ever_read) {
		/* Broken: it keeps the objects of its last good text. */
		for (size_t i = 0; i < n; i++)
			tree_free(objs[i]);
		free(objs);
		restore(p, s);
		pipeline_source_failed(p, path, &d);
		free(text);
		diag_list_free(&d);
		return;
	}
	if (s && text_same(s, text, len) && rc == 0 &&
	    n == s->n && attach(p, s, objs, n) == 0) {
		/* Unchanged: the same objects, judged as before (after a
		 * broken version, this is the file fixed). */
		if (s->failed || s->problems.n || d.n)
			p->dirty = true;
		s->failed = false;
		diag_list_free(&s->problems);
		for (size_t i = 0; i < d.n; i++)
			diag_append_copy(&s->problems, &d.items[i]);
		free(text);
		diag_list_free(&d);
		return;
	}
	/* Changed: with its old trees back, replacing them hands good
	 * Services' old versions to their last good records. */
	if (s)
		restore(p, s);
	pipeline_source_set(p, path, objs, n);
	free(objs);
	s = source_find(p, path);
	if (rc != 0) {
		/* Never read before: what could be read, reported. */
		s->ever_read = false;
		pipeline_source_failed(p, path, &d);
		free(text);
	} else {
		text_keep(s, text, len);
		if (d.n)
			p->dirty = true;
		for (size_t i = 0; i < d.n; i++)
			diag_append_copy(&s->problems, &d.items[i]);
	}
	diag_list_free(&d);
}

void pipeline_release_trees(struct pipeline *p)
{
	for (size_t si = 0; si < p->nsources; si++) {
		struct source *s = p->sources[si];
		if (!s->text)
			continue;
		for (size_t i = 0; i < s->n; i++) {
			tree_free(s->e[i].tree);
			s->e[i].tree = NULL;
		}
	}
}

void pipeline_read_paths(struct pipeline *p, const char *const *paths, size_t npaths)
{
	for (size_t i = 0; i < npaths; i++) {
		const char *path = paths[i];
		char **files = NULL;
		size_t n = 0;
		struct diag_list d = {0};
		bool dir = false;
		/* A directory lists its files; anything else is read as one. */
		if (strcmp(path, "-") != 0 && manifest_dir_files(path, &files, &n, &d) == 0)
			dir = true;
		diag_list_free(&d);
		if (!dir) {
			read_one(p, path);
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			read_one(p, files[k]);
			free(files[k]);
		}
		free(files);
	}
}

void pipeline_sync_dir(struct pipeline *p, const char *dir)
{
	char **files = NULL;
	size_t n = 0;
	struct diag_list d = {0};
	if (manifest_dir_files(dir, &files, &n, &d) != 0) {
		/* Unlistable: every file keeps its objects. */
		pipeline_source_failed(p, dir, &d);
		diag_list_free(&d);
		return;
	}
	diag_list_free(&d);
	/* A full resync: the next step judges everything again. */
	p->dirty = true;
	struct source *ds = source_find(p, dir);
	if (ds)
		pipeline_source_remove(p, dir);
	/* Files that are gone. */
	struct hashmap listed;
	hashmap_init(&listed, false);
	for (size_t k = 0; k < n; k++)
		hashmap_put_str(&listed, files[k], files[k], NULL);
	for (size_t i = p->nsources; i-- > 0;) {
		if (!hashmap_get_str(&listed, p->sources[i]->name)) {
			char *name = xstrdup(p->sources[i]->name);
			pipeline_source_remove(p, name);
			free(name);
		}
	}
	hashmap_clear(&listed);
	for (size_t k = 0; k < n; k++)
		sync_one(p, files[k]);
	pipeline_source_order(p, (const char *const *)files, n);
	for (size_t k = 0; k < n; k++)
		free(files[k]);
	free(files);
}

void pipeline_sync_file(struct pipeline *p, const char *dir, const char *name)
{
	size_t dlen = strlen(dir);
	char *path = xasprintf("%s%s%s", dir, dlen && dir[dlen - 1] == '/' ? "" : "/", name);
	bool manifest = str_has_suffix(name, ".yaml") || str_has_suffix(name, ".yml") ||
			str_has_suffix(name, ".json");
	if (!manifest || access(path, F_OK) != 0) {
		pipeline_source_remove(p, path);
		free(path);
		return;
	}
	bool fresh = !source_find(p, path);
	sync_one(p, path);
	if (fresh && p->nsources > 1) {
		/* A new file takes its place in name order (the directory's
		 * files are in that order; it decides which of two overlapping
		 * pools is the later one). */
		/* The others are in name order: the first one after it, by
		 * bisection (what a scan back from the end would find). */
		size_t lo = 0, hi = p->nsources - 1;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (strcmp(p->sources[mid]->name, path) > 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		size_t at = lo;
		if (at != p->nsources - 1) {
			struct source *tmp = p->sources[p->nsources - 1];
			memmove(&p->sources[at + 1], &p->sources[at],
				(p->nsources - 1 - at) * sizeof(tmp));
			p->sources[at] = tmp;
		}
	}
	free(path);
}

/* ------------------------------------------------------------------ */
/* building a model */

enum cfg_from { CFG_CURRENT, CFG_GOOD };

struct build {
	enum cfg_from cfg;
	bool detect_ignored;       /* mark rule-3 objects with errors */
	struct diag_list ignored_diags;
	size_t nignored;
	const struct hmap *failed; /* "ns/name" -> struct pipeline_failed * */
};

static void restore(struct pipeline *p, struct source *s);

/* A Service just added to (or replaced in) the model gets the order in
 * which the store first took it: the allocator's "who asked first" after
 * the creationTimestamp. */
static void stamp_seen(struct model *m, size_t before, const struct entry *e)
{
	if (e->kind != KIND_SERVICE)
		return;
	if (m->nservices > before) {
		m->services[m->nservices - 1].seen = e->seq;
		return;
	}
	if (before != SIZE_MAX)
		return; /* not added (a duplicate, or no name) */
	/* Replaced where it stood (model_upsert(), before SIZE_MAX): found by
	 * name, through the model's index (a scan of every Service was most
	 * of a step), else as the index does not key it. */
	const struct service *svc = e->name ? model_find_service(m, e->ns, e->name) : NULL;
	if (svc) {
		m->services[svc - m->services].seen = e->seq;
		return;
	}
	for (size_t i = 0; e->name && i < m->nservices; i++) {
		const struct obj_meta *mm = &m->services[i].meta;
		if (mm->name && strcmp(mm->name, e->name) == 0 &&
		    strcmp(mm->namespace_ ? mm->namespace_ : "default", e->ns ? e->ns : "default") == 0) {
			m->services[i].seen = e->seq;
			return;
		}
	}
}

/* The trees of a file with kept text are moved into the model (no copy:
 * `ironlb run` with 10,000 Services must not hold them twice); a later
 * build in the same pass parses the text again. */
static void build_model(struct pipeline *p, struct build *b, struct model *m,
			struct diag_list *d)
{
	model_init(m, p->config_ns);
	for (size_t si = 0; si < p->nsources; si++) {
		struct source *s = p->sources[si];
		bool moved = false;
		for (size_t i = 0; s->text && i < s->n && !moved; i++)
			moved = !s->e[i].tree;
		if (moved)
			restore(p, s);
		for (size_t i = 0; i < s->n; i++) {
			struct entry *e = &s->e[i];
			if (!e->tree)
				continue;
			if (b->cfg == CFG_GOOD && kind_in_good_config(e->kind))
				continue;
			if (!b->detect_ignored && e->ignored)
				continue;
			if (b->failed && e->kind == KIND_SERVICE && e->name) {
				char k[512];
				svc_key(k, sizeof(k), e->ns, e->name);
				const struct hnode *fn = hmap_get(b->failed, k);
				if (fn) {
					struct pipeline_failed *f = fn->val;
					const struct hnode *g = hmap_get(&p->good_svc, k);
					const struct tree *last = g ? g->val : e->good ? e->tree : NULL;
					f->kept = false;
					if (last) {
						size_t before = m->nservices;
						model_add(m, tree_ref((struct tree *)last), d);
						stamp_seen(m, before, e);
						if (last == e->tree && s->text) {
							tree_free(e->tree);
							e->tree = NULL;
						}
						if (m->nservices > before) {
							f->kept = true;
							f->index = m->nservices - 1;
						}
					}
					continue;
				}
			}
			size_t dn = d->n;
			struct tree *t = e->tree;
			if (s->text)
				e->tree = NULL;
			else
				t = tree_ref(t);
			size_t before = m->nservices;
			int rc = model_add(m, t, d);
			stamp_seen(m, before, e);
			if (b->detect_ignored) {
				e->ignored = rc < 0 && kind_is_ignorable(e->kind);
				if (e->ignored) {
					b->nignored++;
					for (size_t k = dn; k < d->n; k++)
						diag_append_copy(&b->ignored_diags, &d->items[k]);
				}
			}
		}
	}
	if (b->cfg == CFG_GOOD)
		for (size_t i = 0; i < p->ngood; i++)
			model_add(m, tree_ref(p->good_config[i]), d);
	model_validate(m, d);
}

/* ------------------------------------------------------------------ */
/* the verdict */

static bool ours(const struct pipeline *p, const struct service *s)
{
	if (!service_is_load_balancer(s))
		return false;
	const char *got = s->lb_class && *s->lb_class ? s->lb_class : NULL;
	if (!p->lb_class)
		return got == NULL;
	return got && strcmp(got, p->lb_class) == 0;
}

static bool any_config_invalid(const struct model *m)
{
#define ANY_INVALID(n, arr)                  \
	for (size_t i = 0; i < m->n; i++)    \
		if (m->arr[i].meta.invalid)  \
			return true;
	ANY_INVALID(npools, pools)
	ANY_INVALID(nl2advs, l2advs)
	ANY_INVALID(nbgpadvs, bgpadvs)
	ANY_INVALID(npeers, peers)
	ANY_INVALID(nbfdprofiles, bfdprofiles)
	ANY_INVALID(ncommunities, communities)
	ANY_INVALID(nnodes, nodes)
#undef ANY_INVALID
	return false;
}

/* Rules 1, 3 and 4 on the diagnostics of the current objects. */
static void judge_config(struct pipeline *p, const struct model *m, const struct diag_list *d,
			 struct pipeline_verdict *v)
{
	size_t hard = 0, refs = 0;
	for (size_t si = 0; si < p->nsources; si++)
		hard += p->sources[si]->failed;
	for (size_t i = 0; i < d->n; i++) {
		const struct diag *g = &d->items[i];
		if (g->level != DIAG_ERROR)
			continue;
		bool config = g->kind == DIAG_KIND_NONE || kind_is_config(g->kind);
		if (config) {
			*VEC_PUSH(v->config_errors, v->nconfig_errors) = diag_format(g);
			if (g->kind != DIAG_KIND_NONE && (g->flags & DIAG_FLAG_REFERENCE))
				refs++;
			else
				hard++;
		} else if (g->kind != KIND_SERVICE || !g->obj_name) {
			*VEC_PUSH(v->ignored, v->nignored) = diag_format(g);
		}
	}
	if (hard || any_config_invalid(m))
		v->config = PIPELINE_CONFIG_INVALID;
	else if (refs)
		v->config = PIPELINE_CONFIG_INVALID_RUNNABLE;
	else
		v->config = PIPELINE_CONFIG_VALID;
}

static int failed_cmp(const void *a, const void *b)
{
	const struct pipeline_failed *x = a, *y = b;
	int c = strcmp(x->namespace_, y->namespace_);
	return c ? c : strcmp(x->name, y->name);
}

/* Rule 2: the Services of ours with errors in model m (diagnostics d).
 * failed maps "ns/name" to entries of v->failed (valid until v changes). */
static void judge_services(struct pipeline *p, const struct model *m, const struct diag_list *d,
			   struct pipeline_verdict *v, struct hmap *failed)
{
	struct hmap svcs = {0};
	for (size_t i = 0; i < m->nservices; i++) {
		char k[512];
		svc_key(k, sizeof(k), m->services[i].meta.namespace_, m->services[i].meta.name);
		hmap_put(&svcs, k)->idx = i;
	}
	struct hmap msgs = {0};   /* "ns/name" -> message so far */
	char **order = NULL;
	size_t norder = 0;
	for (size_t i = 0; i < d->n; i++) {
		const struct diag *g = &d->items[i];
		if (g->level != DIAG_ERROR || g->kind != KIND_SERVICE || !g->obj_name)
			continue;
		char k[512];
		svc_key(k, sizeof(k), g->obj_namespace ? g->obj_namespace : "default", g->obj_name);
		const struct hnode *sn = hmap_get(&svcs, k);
		if (sn && !ours(p, &m->services[sn->idx]))
			continue;
		char *text = g->path ? xasprintf("%s: %s", g->path, g->message) : xstrdup(g->message);
		struct hnode *n = hmap_get(&msgs, k);
		if (!n) {
			n = hmap_put(&msgs, k);
			n->val = xstrdup(text);
			*VEC_PUSH(order, norder) = xstrdup(k);
		} else {
			char *x = xasprintf("%s; %s", (char *)n->val, text);
			free(n->val);
			n->val = x;
		}
		free(text);
	}
	for (size_t i = 0; i < norder; i++) {
		struct pipeline_failed *f = VEC_PUSH(v->failed, v->nfailed);
		char *slash = strchr(order[i], '/');
		f->namespace_ = xstrndup(order[i], (size_t)(slash - order[i]));
		f->name = xstrdup(slash + 1);
		f->why = hmap_get(&msgs, order[i])->val;
		f->message = xasprintf("Failed to allocate IP for \"%s\": %s", order[i], f->why);
		free(order[i]);
	}
	free(order);
	hmap_clear(&msgs, NULL);
	hmap_clear(&svcs, NULL);
	xqsort(v->failed, v->nfailed, sizeof(*v->failed), failed_cmp);
	for (size_t i = 0; i < v->nfailed; i++) {
		char k[512];
		svc_key(k, sizeof(k), v->failed[i].namespace_, v->failed[i].name);
		hmap_put(failed, k)->val = &v->failed[i];
	}
}

static void verdict_free(struct pipeline_verdict *v)
{
	for (size_t i = 0; i < v->nconfig_errors; i++)
		free(v->config_errors[i]);
	free(v->config_errors);
	for (size_t i = 0; i < v->nignored; i++)
		free(v->ignored[i]);
	free(v->ignored);
	for (size_t i = 0; i < v->nfailed; i++) {
		free(v->failed[i].namespace_);
		free(v->failed[i].name);
		free(v->failed[i].message);
		free(v->failed[i].why);
	}
	free(v->failed);
	memset(v, 0, sizeof(*v));
}

/* Keep the configuration objects (and Secrets) of the current pass as the
 * last good configuration. */
static void keep_good_config(struct pipeline *p, const struct model *m)
{
	good_config_free(p);
#define KEEP(n, arr)                                                                   \
	for (size_t i = 0; i < m->n; i++)                                              \
		if (m->arr[i].meta.tree)                                               \
			*VEC_PUSH(p->good_config, p->ngood) = tree_ref(m->arr[i].meta.tree);
	KEEP(npools, pools)
	KEEP(nl2advs, l2advs)
	KEEP(nbgpadvs, bgpadvs)
	KEEP(npeers, peers)
	KEEP(nbfdprofiles, bfdprofiles)
	KEEP(ncommunities, communities)
	KEEP(nnodes, nodes)
	KEEP(nsecrets, secrets)
#undef KEEP
	p->have_good = true;
}

/* After a pass that ran: Services in force in their current version are
 * good; their older last good versions go. */
static void mark_good_services(struct pipeline *p, const struct hmap *failed)
{
	for (size_t si = 0; si < p->nsources; si++)
		for (size_t i = 0; i < p->sources[si]->n; i++) {
			struct entry *e = &p->sources[si]->e[i];
			if (e->kind != KIND_SERVICE || !e->name)
				continue;
			char k[512];
			svc_key(k, sizeof(k), e->ns, e->name);
			if (hmap_get(failed, k)) {
				/* Its current tree is not good (and any earlier
				 * judgement of this same tree no longer holds). */
				if (e->good && e->tree) {
					struct hnode *n = hmap_put(&p->good_svc, k);
					if (!n->val)
						n->val = tree_ref(e->tree);
				}
				e->good = false;
				continue;
			}
			e->good = true;
			tree_free(hmap_del(&p->good_svc, k));
		}
}

void pipeline_build(struct pipeline *p, struct pipeline_pass *out)
{
	memset(out, 0, sizeof(*out));
	struct diag_list *d = &out->diags;
	for (size_t si = 0; si < p->nsources; si++) {
		const struct source *s = p->sources[si];
		for (size_t i = 0; i < s->problems.n; i++)
			diag_append_copy(d, &s->problems.items[i]);
	}
	size_t nsource_diags = d->n;

	/* 1. Every current object. */
	struct build b = {.cfg = CFG_CURRENT, .detect_ignored = true};
	struct model cur;
	build_model(p, &b, &cur, d);
	if (b.nignored) {
		/* Again without the objects of rule 3; their own problems
		 * are kept. */
		for (size_t i = nsource_diags; i < d->n; i++) {
			struct diag *g = &d->items[i];
			free(g->file);
			free(g->object);
			free(g->path);
			free(g->message);
			free(g->obj_namespace);
			free(g->obj_name);
		}
		d->n = nsource_diags;
		for (size_t i = 0; i < b.ignored_diags.n; i++)
			diag_append_copy(d, &b.ignored_diags.items[i]);
		model_free(&cur);
		b.detect_ignored = false;
		build_model(p, &b, &cur, d);
	}
	diag_list_free(&b.ignored_diags);
	diag_sort(d);

	out->nobjects = cur.npools + cur.nl2advs + cur.nbgpadvs + cur.npeers + cur.nbfdprofiles +
			cur.ncommunities + cur.nservices + cur.nnodes + cur.nnamespaces +
			cur.nsecrets + cur.nslices + b.nignored;
	out->nskipped = cur.nskipped;

	struct pipeline_verdict *v = &out->verdict;
	judge_config(p, &cur, d, v);
	out->taken = v->config == PIPELINE_CONFIG_VALID ||
		     (v->config == PIPELINE_CONFIG_INVALID_RUNNABLE && !p->have_good);
	if (out->taken)
		keep_good_config(p, &cur);
	out->running = p->have_good;
	out->stale = out->running && (!out->taken || v->config != PIPELINE_CONFIG_VALID);

	/* 2. The configuration in force. */
	struct model use;
	struct diag_list use_d = {0};
	enum cfg_from cfg = out->taken || !out->running ? CFG_CURRENT : CFG_GOOD;
	if (cfg == CFG_CURRENT) {
		use = cur;
		for (size_t i = 0; i < d->n; i++)
			diag_append_copy(&use_d, &d->items[i]);
	} else {
		model_free(&cur);
		struct build b2 = {.cfg = CFG_GOOD};
		build_model(p, &b2, &use, &use_d);
	}

	/* 3. Services, judged against that configuration. */
	struct hmap failed = {0};
	judge_services(p, &use, &use_d, v, &failed);
	diag_list_free(&use_d);
	if (v->nfailed && out->running) {
		model_free(&use);
		struct build b3 = {.cfg = cfg, .failed = &failed};
		struct diag_list d3 = {0};
		build_model(p, &b3, &use, &d3);
		/* A last good version that fails now too (its pool went away,
		 * say) is left out as well. */
		bool again = false;
		for (size_t i = 0; i < d3.n; i++) {
			const struct diag *g = &d3.items[i];
			if (g->level != DIAG_ERROR || g->kind != KIND_SERVICE || !g->obj_name)
				continue;
			char k[512];
			svc_key(k, sizeof(k), g->obj_namespace, g->obj_name);
			const struct hnode *fn = hmap_get(&failed, k);
			if (fn && ((struct pipeline_failed *)fn->val)->kept) {
				struct hnode *gn = hmap_get(&p->good_svc, k);
				if (gn) {
					tree_free(gn->val);
					hmap_del(&p->good_svc, k);
				}
				again = true;
			}
		}
		diag_list_free(&d3);
		if (again) {
			/* The entries' good flags name the current tree, which
			 * failed: they are not the last good version. */
			for (size_t si = 0; si < p->nsources; si++)
				for (size_t i = 0; i < p->sources[si]->n; i++) {
					struct entry *e = &p->sources[si]->e[i];
					if (e->kind != KIND_SERVICE || !e->name)
						continue;
					char k[512];
					svc_key(k, sizeof(k), e->ns, e->name);
					if (hmap_get(&failed, k) && !hmap_get(&p->good_svc, k))
						e->good = false;
				}
			model_free(&use);
			d3 = (struct diag_list){0};
			build_model(p, &b3, &use, &d3);
			diag_list_free(&d3);
		}
	}
	if (out->running)
		mark_good_services(p, &failed);
	hmap_clear(&failed, NULL);
	out->model = use;
	if (!out->running) {
		/* Nothing in force: an empty model (the verdict still lists
		 * the failing Services, for check). */
		model_free(&out->model);
		model_init(&out->model, p->config_ns);
		for (size_t i = 0; i < v->nfailed; i++)
			v->failed[i].kept = false;
	}
	model_drop_trees(&out->model);
}

struct alloc_event pipeline_failed_event(const struct pipeline_failed *f)
{
	return (struct alloc_event){.type = (char *)"Warning",
				    .reason = (char *)"AllocationFailed",
				    .message = f->message};
}

void pipeline_allocate(struct pipeline_pass *ps, struct alloc *a)
{
	if (!ps->running)
		return;
	const struct model *m = &ps->model;
	alloc_set_config(a, m);
	ps->nresults = m->nservices;
	ps->results = xcalloc(m->nservices ? m->nservices : 1, sizeof(*ps->results));
	alloc_run_all(a, m, ps->results);
	for (size_t i = 0; i < ps->verdict.nfailed; i++) {
		const struct pipeline_failed *f = &ps->verdict.failed[i];
		if (!f->kept || f->index >= m->nservices)
			continue;
		struct alloc_result *r = &ps->results[f->index];
		struct alloc_event *e = VEC_PUSH(r->events, r->nevents);
		e->type = xstrdup("Warning");
		e->reason = xstrdup("AllocationFailed");
		e->message = xstrdup(f->message);
	}
}

size_t pipeline_contest_warnings(struct pipeline_pass *ps)
{
	size_t n = 0;
	for (size_t i = 0; i < ps->nresults && i < ps->model.nservices; i++) {
		const struct alloc_result *r = &ps->results[i];
		if (!r->held_by)
			continue;
		const struct service *svc = &ps->model.services[i];
		char ab[IP_STR_MAX];
		/* The model's trees are dropped by now: the Service's line. */
		model_diag(&ps->diags, DIAG_WARNING, &svc->meta, NULL,
			   "asks for %s (spec.loadBalancerIP or the loadBalancerIPs "
			   "annotation), which Service %s keeps (it asked first, or held it): "
			   "this Service gets no address until %s lets it go; to share the "
			   "address give both the same metallb.io/allow-shared-ip key and "
			   "different ports (and, with externalTrafficPolicy Local, the same "
			   "selector)",
			   ip_format(&r->held_addr, ab), r->held_by, r->held_by);
		n++;
	}
	if (n)
		diag_sort(&ps->diags);
	return n;
}

void pipeline_pass_free(struct pipeline_pass *ps)
{
	for (size_t i = 0; i < ps->nresults; i++)
		alloc_result_free(&ps->results[i]);
	free(ps->results);
	model_free(&ps->model);
	verdict_free(&ps->verdict);
	diag_list_free(&ps->diags);
	memset(ps, 0, sizeof(*ps));
}

void pipeline_verdict_print(const struct pipeline_verdict *v, FILE *out)
{
	if (v->config == PIPELINE_CONFIG_INVALID_RUNNABLE)
		fprintf(out, "configuration: invalid but runnable (only unresolved references, "
			     "which select nothing)\n");
	else
		fprintf(out, "configuration: %s\n", pipeline_config_name(v->config));
	for (size_t i = 0; i < v->nfailed; i++)
		fprintf(out, "service %s/%s: failed: %s\n", v->failed[i].namespace_,
			v->failed[i].name, v->failed[i].why);
}

/* ------------------------------------------------------------------ */
/* the live pass: one change at a time */

bool pipeline_service_ours(const struct pipeline *p, const struct service *s)
{
	return ours(p, s);
}

void pipeline_live_init(struct pipeline_live *l, const char *config_namespace)
{
	memset(l, 0, sizeof(*l));
	model_init(&l->model, config_namespace);
}

void pipeline_live_free(struct pipeline_live *l)
{
	model_free(&l->model);
	verdict_free(&l->verdict);
	diag_list_free(&l->diags);
	memset(l, 0, sizeof(*l));
}

void pipeline_step_free(struct pipeline_step *st)
{
	alloc_changes_free(&st->changes);
	for (size_t i = 0; i < st->nreplan; i++)
		free(st->replan[i]);
	free(st->replan);
	memset(st, 0, sizeof(*st));
}

static void diag_fields_free(struct diag *g)
{
	free(g->file);
	free(g->object);
	free(g->path);
	free(g->message);
	free(g->obj_namespace);
	free(g->obj_name);
}

/* Drop the diagnostics of one Service from l. */
static void diags_drop_service(struct diag_list *l, const char *ns, const char *name)
{
	size_t w = 0;
	for (size_t i = 0; i < l->n; i++) {
		struct diag *g = &l->items[i];
		if (g->kind == KIND_SERVICE && g->obj_name && strcmp(g->obj_name, name) == 0 &&
		    strcmp(g->obj_namespace ? g->obj_namespace : "default", ns) == 0) {
			diag_fields_free(g);
			continue;
		}
		l->items[w++] = *g;
	}
	l->n = w;
}

static bool verdict_has_failed(const struct pipeline_verdict *v, const char *ns,
			       const char *name)
{
	struct pipeline_failed k = {.namespace_ = (char *)ns, .name = (char *)name};
	return xbsearch(&k, v->failed, v->nfailed, sizeof(k), failed_cmp) != NULL;
}

/* The one entry of that kind in the store named ns/name: 0 with *out
 * (NULL when there is none), -1 when several sources hold it (a
 * duplicate: judged by a whole pass). */
static int find_entry(struct pipeline *p, int kind, const char *ns, const char *name,
		      struct source **src, struct entry **out)
{
	*out = NULL;
	*src = NULL;
	struct entry tmp = {.kind = kind, .ns = (char *)ns, .name = (char *)name};
	char *key = entry_key(&tmp, 0);
	size_t found = 0;
	for (size_t si = 0; si < p->nsources; si++) {
		struct source *s = p->sources[si];
		const struct hnode *n = hmap_get(&s->index, key);
		if (!n)
			continue;
		/* Twice in one source: "#2" keys. */
		char *dup = xasprintf("%s#2", key);
		bool twice = hmap_get(&s->index, dup) != NULL;
		free(dup);
		found += twice ? 2 : 1;
		*out = &s->e[n->idx];
		*src = s;
	}
	free(key);
	return found > 1 ? -1 : 0;
}

/* Whether the live diagnostics name an EndpointSlice (it was left out or
 * warned about: a whole pass judges its new version). */
static bool slice_has_diags(const struct diag_list *l, const char *ns, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct diag *g = &l->items[i];
		if (g->kind == KIND_ENDPOINTSLICE && g->obj_name && strcmp(g->obj_name, name) == 0 &&
		    strcmp(g->obj_namespace ? g->obj_namespace : "default", ns) == 0)
			return true;
	}
	return false;
}

static void full_step(struct pipeline *p, struct alloc *a, struct pipeline_live *live,
		      pipeline_adopt_fn adopt, void *arg, struct pipeline_step *out)
{
	struct pipeline_pass ps;
	pipeline_build(p, &ps);
	out->full = true;
	out->taken = ps.taken;
	live->running = ps.running;
	live->taken = ps.taken;
	live->stale = ps.stale;
	live->nobjects = ps.nobjects;
	live->nskipped = ps.nskipped;
	verdict_free(&live->verdict);
	live->verdict = ps.verdict;
	ps.verdict = (struct pipeline_verdict){0};
	diag_list_free(&live->diags);
	live->diags = ps.diags;
	ps.diags = (struct diag_list){0};
	if (ps.running) {
		for (size_t i = 0; adopt && i < ps.model.nservices; i++)
			adopt(arg, &ps.model.services[i]);
		/* The pools and every Service checked again (what alloc_run_all
		 * does), then the waiting ones retried. */
		if (a)
			alloc_update_config(a, &ps.model, &out->changes);
		model_free(&live->model);
		live->model = ps.model;
		model_init(&ps.model, p->config_ns);
	}
	pipeline_pass_free(&ps);
	/* Steps build on a model of the current configuration only: with
	 * the last good one in force, the diagnostics (of the current
	 * objects) and the verdict (against the configuration in force) are
	 * judged against different pools, which a whole pass does. */
	p->live_ok = live->running && live->taken;
}

static void replan_add(struct pipeline_step *out, struct hmap *seen, const char *ns,
		       const char *name)
{
	char k[512];
	svc_key(k, sizeof(k), ns, name);
	if (hmap_get(seen, k))
		return;
	hmap_put(seen, k);
	*VEC_PUSH(out->replan, out->nreplan) = xstrdup(k);
}

void pipeline_step(struct pipeline *p, struct alloc *a, struct pipeline_live *live,
		   pipeline_adopt_fn adopt, void *arg, struct pipeline_step *out)
{
	memset(out, 0, sizeof(*out));
	bool full = !p->live_ok || p->dirty;
	/* The changed Services, with their entries, checked before anything
	 * moves: a Service held twice, or failing before, goes through a
	 * whole pass (its verdict reads the others). */
	size_t nch = 0;
	struct {
		char *ns, *name;
		struct source *s;
		struct entry *e;
	} *ch = NULL;
	for (size_t b = 0; !full && b < p->changed.nb; b++)
		for (struct hnode *n = p->changed.b[b]; n && !full; n = n->next) {
			const char *slash = strchr(n->key, '/');
			char *ns = xstrndup(n->key, (size_t)(slash - n->key));
			char *name = xstrdup(slash + 1);
			struct source *s;
			struct entry *e;
			if (find_entry(p, KIND_SERVICE, ns, name, &s, &e) != 0 ||
			    verdict_has_failed(&live->verdict, ns, name) ||
			    (e && !e->tree && !s->text)) {
				full = true;
				free(ns);
				free(name);
				break;
			}
			ch = xrealloc(ch, (nch + 1) * sizeof(*ch));
			ch[nch].ns = ns;
			ch[nch].name = name;
			ch[nch].s = s;
			ch[nch].e = e;
			nch++;
		}
	/* Decode each new version into the live model; an error there is
	 * rule 2's business, for a whole pass (the live model is rebuilt). */
	struct diag_list nd = {0};
	size_t decoded = 0;
	for (size_t i = 0; !full && i < nch; i++, decoded++) {
		struct entry *e = ch[i].e;
		if (!e) {
			if (model_remove(&live->model, KIND_SERVICE, ch[i].ns, ch[i].name) == 0)
				live->nobjects--;
			continue;
		}
		if (!e->tree)
			restore(p, ch[i].s);
		struct diag_list d = {0};
		bool replaced = false;
		/* A file's tree is moved into the model, as build_model() does
		 * (the source parses its kept text again when it needs trees):
		 * a copy per Service, made among the model's new strings and
		 * freed after the step, left the heap's pages pinned by those
		 * strings (10,000 Services: 14 MiB resident in holes). */
		struct tree *t = e->tree;
		if (t && ch[i].s->text)
			e->tree = NULL;
		else if (t)
			t = tree_ref(t);
		size_t before = live->model.nservices;
		int rc = t ? model_upsert(&live->model, t, &d, &replaced) : -1;
		if (rc == 0)
			stamp_seen(&live->model, replaced ? SIZE_MAX : before, e);
		if (rc == 0) {
			/* What validation checks of a Service: its pools and
			 * requested addresses against the pools in force. */
			const struct service *svc =
				model_find_service(&live->model, ch[i].ns, ch[i].name);
			if (svc)
				model_validate_service(&live->model, svc, &d);
		}
		if (rc != 0 || diag_count(&d, DIAG_ERROR) > 0) {
			full = true;
		} else if (!replaced) {
			live->nobjects++;
		}
		for (size_t k = 0; k < d.n; k++)
			diag_append_copy(&nd, &d.items[k]);
		diag_list_free(&d);
	}
	/* EndpointSlices: each new version into the live model (one with
	 * any problem, held twice, or left out until now goes through a whole
	 * pass: rule 3 reads it), and the Services of its old and new
	 * versions are planned again. */
	struct hmap *slice_svcs = &p->step_slice_svcs;
	for (size_t b = 0; !full && b < p->changed_slices.nb; b++)
		for (struct hnode *n = p->changed_slices.b[b]; n && !full; n = n->next) {
			const char *slash = strchr(n->key, '/');
			char *ns = xstrndup(n->key, (size_t)(slash - n->key));
			const char *name = slash + 1;
			struct source *s;
			struct entry *e;
			if (find_entry(p, KIND_ENDPOINTSLICE, ns, name, &s, &e) != 0 ||
			    (e && !e->tree) || slice_has_diags(&live->diags, ns, name)) {
				full = true;
			} else if (!e) {
				if (model_remove(&live->model, KIND_ENDPOINTSLICE, ns, name) == 0)
					live->nobjects--;
			} else {
				char k[512];
				if (slice_service(e->tree, ns, k, sizeof(k)))
					hmap_put(slice_svcs, k);
				struct diag_list d = {0};
				bool replaced = false;
				if (model_upsert(&live->model, tree_ref(e->tree), &d, &replaced) != 0 ||
				    d.n > 0)
					full = true;
				else if (!replaced)
					live->nobjects++;
				diag_list_free(&d);
			}
			free(ns);
		}
	if (full) {
		for (size_t i = 0; i < nch; i++) {
			free(ch[i].ns);
			free(ch[i].name);
		}
		free(ch);
		diag_list_free(&nd);
		hmap_reset(slice_svcs);
		full_step(p, a, live, adopt, arg, out);
		hmap_clear(&p->changed, NULL);
		hmap_clear(&p->changed_slices, NULL);
		hmap_clear(&p->slice_svcs, NULL);
		p->dirty = false;
		return;
	}
	(void)decoded;
	/* The upserted Services' trees were for error positions; they are
	 * judged (model_drop_trees() for just them, not a walk of the model). */
	for (size_t i = 0; i < nch; i++) {
		struct service *svc =
			(struct service *)model_find_service(&live->model, ch[i].ns, ch[i].name);
		if (svc && svc->meta.tree) {
			tree_free(svc->meta.tree);
			svc->meta.tree = NULL;
		}
	}
	/* Judged good: the last good records follow (as mark_good_services
	 * does), the diagnostics of each changed Service are its new ones. */
	bool resort = false;
	for (size_t i = 0; i < nch; i++) {
		size_t before = live->diags.n;
		diags_drop_service(&live->diags, ch[i].ns, ch[i].name);
		resort |= before != live->diags.n;
		if (ch[i].e) {
			ch[i].e->good = true;
			char k[512];
			svc_key(k, sizeof(k), ch[i].ns, ch[i].name);
			tree_free(hmap_del(&p->good_svc, k));
		}
	}
	for (size_t k = 0; k < nd.n; k++)
		diag_append_copy(&live->diags, &nd.items[k]);
	if (resort || nd.n)
		diag_sort(&live->diags);
	diag_list_free(&nd);

	/* Allocate each, and re-plan each and whatever the allocator moved. */
	struct hmap *seen = &p->step_seen;
	for (size_t i = 0; i < nch; i++) {
		const struct service *svc = model_find_service(&live->model, ch[i].ns, ch[i].name);
		if (svc && adopt)
			adopt(arg, (struct service *)svc);
		if (a)
			alloc_update_service(a, &live->model, ch[i].ns, ch[i].name,
					     &out->changes);
		replan_add(out, seen, ch[i].ns, ch[i].name);
	}
	/* The Services whose EndpointSlices changed. */
	for (int pass = 0; pass < 2; pass++) {
		const struct hmap *set = pass ? &p->slice_svcs : slice_svcs;
		for (size_t b = 0; b < set->nb; b++)
			for (struct hnode *n = set->b[b]; n; n = n->next) {
				const char *slash = strchr(n->key, '/');
				char ns[256];
				snprintf(ns, sizeof(ns), "%.*s", (int)(slash - n->key), n->key);
				replan_add(out, seen, ns, slash + 1);
			}
	}
	hmap_reset(slice_svcs);
	hmap_reset(&p->changed_slices);
	hmap_reset(&p->slice_svcs);
	for (size_t k = 0; k < out->changes.n; k++)
		replan_add(out, seen, out->changes.items[k].ns, out->changes.items[k].name);
	hmap_reset(seen);
	for (size_t i = 0; i < nch; i++) {
		free(ch[i].ns);
		free(ch[i].name);
	}
	free(ch);
	hmap_reset(&p->changed);
	out->taken = false;
}

json_t *pipeline_verdict_json(const struct pipeline_verdict *v)
{
	json_t *errors = json_array(), *failed = json_array();
	for (size_t i = 0; i < v->nconfig_errors; i++)
		json_array_append_new(errors, json_string(v->config_errors[i]));
	for (size_t i = 0; i < v->nfailed; i++)
		json_array_append_new(failed, json_pack("{s:s, s:s, s:s}", "namespace",
							v->failed[i].namespace_, "name",
							v->failed[i].name, "message",
							v->failed[i].message));
	return json_pack("{s:s, s:o, s:o}", "verdict", pipeline_config_name(v->config), "errors",
			 errors, "failed", failed);
}
