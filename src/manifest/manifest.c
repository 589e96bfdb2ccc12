/*
 * Manifest reader: files, directories and standard input in, object trees
 * out (see manifest.h).
 *
 * libfyaml is used as an event parser; the tree is built here, which lets
 * the reader resolve scalars the Kubernetes way (tree_new_plain_scalar),
 * give every node a line, refuse duplicate keys with both lines, expand
 * aliases and `<<` merge keys, and bound what a hostile file can cost
 * (size, nesting depth, alias expansion).  Quoted and block scalars are
 * decoded here from the source text (yaml_text.c), because libfyaml 0.7.12
 * returns wrong text, uninitialised bytes or leaked buffers for some of
 * them; plain scalars, which it reads correctly, come from libfyaml.
 *
 * Data flow: manifest_read_buffer() checks the bytes (size, NUL, UTF-8),
 * then feeds events to a stack of frames, one per open mapping or sequence.
 * A finished node is attached to the frame below it; a finished document
 * root goes to add_object(), which checks apiVersion and kind and expands
 * `*List` kinds into their items.  An error inside a document drops that
 * document only.  A YAML syntax error stops libfyaml, so parsing restarts
 * at the next `---` line after the error; the documents before it are kept.
 *
 * Lines: every node has the line of its first token (for a block scalar,
 * of its `|` or `>` header), except that a mapping or sequence that is the
 * value of a key gets the key's line, so an error about a missing field
 * points at `spec:` rather than at its first member.
 * An alias gets the alias's line at its top; the nodes inside keep the
 * lines of the anchored text they were copied from.
 */
#include "manifest/manifest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "base/hashmap.h"
#include "base/util.h"
#include "manifest/utf8.h"
#include "manifest/yaml_text.h"

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"
#define OBJECT_EXPECTED "a Kubernetes object (a mapping with apiVersion and kind) is expected"

struct anchor {
	char *name;
	struct tree *node; /* a private copy: later changes to the document do not reach it */
	size_t size;       /* nodes in it */
	size_t height;     /* levels in it, 1 for a scalar */
};

struct frame {
	struct tree *node; /* TREE_OBJECT or TREE_ARRAY being built */
	char *anchor;      /* registered when the node is complete */
	int column;        /* of its entries (block collections), for block scalars */
	/* mappings only */
	bool have_key;     /* a key was read; its value comes next */
	char *key;         /* NULL with have_key: the key was refused, drop the value */
	int key_line;
	bool key_merge;    /* the key is a plain `<<` */
	int *key_lines;    /* the line of each key in node->keys */
	/* Mappings of more than 16 keys: key -> position in node->keys plus
	 * one, for duplicate detection (borrows the keys). */
	struct hashmap index;
	struct tree **merges; /* values of `<<`, applied when the mapping ends */
	size_t nmerges;
};

struct reader {
	struct manifest_set *set;
	struct diag_list *diags;
	const char *file;
	const char *src; /* the text being parsed, for decoding scalars */
	size_t src_len;
	size_t prev_end; /* where the previous event's token ends in src */
	int line_base; /* lines before the text being parsed (after a restart) */
	int last_line;
	unsigned errors;
	size_t alias_nodes; /* nodes copied for anchors and aliases so far */
	bool alias_limit_reported;
	/* the current document */
	bool doc_bad;
	bool skipping; /* ignore events until the document ends */
	struct frame *frames;
	size_t nframes;
	struct tree *root;
	struct anchor *anchors;
	size_t nanchors;
};

static void reader_verror(struct reader *r, int line, const char *path, const char *fmt,
			  va_list ap) __attribute__((format(printf, 4, 0)));
static void reader_verror(struct reader *r, int line, const char *path, const char *fmt,
			  va_list ap)
{
	diag_vadd(r->diags, DIAG_ERROR, r->file, line, NULL, path, fmt, ap);
	r->errors++;
	r->doc_bad = true;
}

static void reader_error(struct reader *r, int line, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reader_error(struct reader *r, int line, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reader_verror(r, line, path, fmt, ap);
	va_end(ap);
}

/* ---- key index ---- */

static void index_insert(struct hashmap *ix, char *const *keys, size_t pos)
{
	/* The first of duplicate keys is the one found, as by the linear search. */
	if (!hashmap_find(ix, keys[pos], strlen(keys[pos]), NULL))
		hashmap_put_str(ix, keys[pos], (void *)(uintptr_t)(pos + 1), NULL);
}

/* Position of key in the frame's mapping, or -1. */
static ssize_t frame_find_key(const struct frame *f, const char *key)
{
	const struct tree *m = f->node;
	if (!hashmap_count(&f->index)) {
		for (size_t i = 0; i < m->n; i++)
			if (strcmp(m->keys[i], key) == 0)
				return (ssize_t)i;
		return -1;
	}
	void *v = hashmap_get_str(&f->index, key);
	return v ? (ssize_t)((uintptr_t)v - 1) : -1;
}

/* Note the key just appended; mappings of up to 16 keys are searched linearly. */
static void frame_index_added(struct frame *f)
{
	size_t n = f->node->n;
	if (n <= 16)
		return;
	if (!hashmap_count(&f->index)) {
		for (size_t i = 0; i < n; i++)
			index_insert(&f->index, f->node->keys, i);
		return;
	}
	index_insert(&f->index, f->node->keys, n - 1);
}

/* Append a member to the frame's mapping (takes key and value). */
static void frame_append(struct frame *f, char *key, struct tree *value, int key_line)
{
	struct tree *m = f->node;
	size_t n = m->n;
	*VEC_PUSH(m->keys, n) = key;
	n = m->n;
	*VEC_PUSH(m->items, n) = value;
	n = m->n;
	*VEC_PUSH(f->key_lines, n) = key_line;
	m->n = (uint32_t)n;
	frame_index_added(f);
}

/* ---- frames and documents ---- */

static void frame_free(struct frame *f)
{
	tree_free(f->node);
	free(f->anchor);
	free(f->key);
	free(f->key_lines);
	hashmap_clear(&f->index);
	for (size_t i = 0; i < f->nmerges; i++)
		tree_free(f->merges[i]);
	free(f->merges);
	memset(f, 0, sizeof(*f));
}

static void drop_frames(struct reader *r)
{
	while (r->nframes > 0)
		frame_free(&r->frames[--r->nframes]);
}

/* Forget the current document's state (the root is freed, not kept). */
static void discard_document(struct reader *r)
{
	drop_frames(r);
	tree_free(r->root);
	r->root = NULL;
	for (size_t i = 0; i < r->nanchors; i++) {
		free(r->anchors[i].name);
		tree_free(r->anchors[i].node);
	}
	free(r->anchors);
	r->anchors = NULL;
	r->nanchors = 0;
	r->doc_bad = false;
	r->skipping = false;
}

/* Path of the node that frame `depth - 1` builds, for messages. */
static char *frames_path(const struct reader *r, size_t depth)
{
	char *path = xstrdup("");
	for (size_t i = 1; i < depth; i++) {
		const struct frame *parent = &r->frames[i - 1];
		char *next;
		if (parent->node->type == TREE_OBJECT)
			next = tree_path_join_key(path, parent->key ? parent->key : "?");
		else
			next = tree_path_join_index(path, parent->node->n);
		free(path);
		path = next;
	}
	return path;
}

static size_t tree_size(const struct tree *t)
{
	size_t n = 1;
	for (size_t i = 0; i < t->n; i++)
		n += tree_size(t->items[i]);
	return n;
}

static size_t tree_height(const struct tree *t)
{
	size_t h = 0;
	for (size_t i = 0; i < t->n; i++) {
		size_t c = tree_height(t->items[i]);
		if (c > h)
			h = c;
	}
	return h + 1;
}

/* Charge n copied nodes to the buffer's alias budget; false when over it. */
static bool alias_budget(struct reader *r, size_t n, int line)
{
	if (n <= MANIFEST_MAX_ALIAS_NODES - r->alias_nodes) {
		r->alias_nodes += n;
		return true;
	}
	r->doc_bad = true;
	if (!r->alias_limit_reported) {
		reader_error(r, line, NULL,
			     "anchors and aliases expand to more than %zu nodes; write the data out instead",
			     MANIFEST_MAX_ALIAS_NODES);
		r->alias_limit_reported = true;
	}
	return false;
}

/* Takes name; keeps a copy of node. */
static void register_anchor(struct reader *r, char *name, const struct tree *node)
{
	struct anchor *a = VEC_PUSH(r->anchors, r->nanchors);
	a->name = name;
	a->size = tree_size(node);
	a->height = tree_height(node);
	if (alias_budget(r, a->size, node->line))
		a->node = tree_clone(node);
}

static void add_merge(struct reader *r, struct frame *f, struct tree *value)
{
	bool ok = value->type == TREE_OBJECT;
	if (value->type == TREE_ARRAY) {
		ok = true;
		for (size_t i = 0; i < value->n; i++)
			ok = ok && value->items[i]->type == TREE_OBJECT;
	}
	if (!ok) {
		char *path = frames_path(r, r->nframes);
		reader_error(r, value->line, path,
			     "the merge key \"<<\" takes a mapping or a list of mappings, not %s",
			     tree_type_name(value->type));
		free(path);
		tree_free(value);
		return;
	}
	*VEC_PUSH(f->merges, f->nmerges) = value;
}

/* Move the members of src that the mapping does not have into it. */
static void merge_from(struct frame *f, struct tree *src)
{
	for (size_t i = 0; i < src->n; i++) {
		if (frame_find_key(f, src->keys[i]) < 0) {
			frame_append(f, src->keys[i], src->items[i], src->items[i]->line);
		} else {
			free(src->keys[i]);
			tree_free(src->items[i]);
		}
	}
	src->n = 0;
}

/*
 * Merge keys: the mapping's own keys win, then the merged mappings in the
 * order given (an earlier one wins over a later one), as YAML's merge type
 * says.
 */
static void apply_merges(struct frame *f)
{
	for (size_t m = 0; m < f->nmerges; m++) {
		struct tree *v = f->merges[m];
		if (v->type == TREE_OBJECT) {
			merge_from(f, v);
		} else {
			for (size_t i = 0; i < v->n; i++)
				merge_from(f, v->items[i]);
		}
		tree_free(v);
	}
	free(f->merges);
	f->merges = NULL;
	f->nmerges = 0;
}

static void take_key(struct reader *r, struct frame *f, struct tree *key, bool merge)
{
	f->have_key = true;
	f->key_line = key->line;
	f->key_merge = merge;
	f->key = NULL;
	if (key->type == TREE_ARRAY || key->type == TREE_OBJECT) {
		char *path = frames_path(r, r->nframes);
		reader_error(r, key->line, path,
			     "a mapping key is %s; Kubernetes objects take only scalar keys",
			     tree_type_name(key->type));
		free(path);
	} else {
		f->key = xstrdup(key->text ? key->text : "");
	}
	tree_free(key);
}

/* Hand a complete node to its parent (or make it the document root). */
static void attach(struct reader *r, struct tree *node, bool merge_key)
{
	if (r->nframes == 0) {
		tree_free(r->root);
		r->root = node;
		return;
	}
	struct frame *f = &r->frames[r->nframes - 1];
	if (f->node->line == 0)
		f->node->line = node->line;
	if (f->node->type == TREE_ARRAY) {
		tree_array_append(f->node, node);
		return;
	}
	if (!f->have_key) {
		take_key(r, f, node, merge_key);
		return;
	}
	f->have_key = false;
	char *key = f->key;
	f->key = NULL;
	if (!key) {
		tree_free(node);
		return;
	}
	if (node->type == TREE_ARRAY || node->type == TREE_OBJECT)
		node->line = f->key_line;
	if (f->key_merge) {
		free(key);
		add_merge(r, f, node);
		return;
	}
	ssize_t prev = frame_find_key(f, key);
	if (prev >= 0) {
		char *path = frames_path(r, r->nframes);
		reader_error(r, f->key_line, path, "duplicate key \"%s\" (first at line %d)", key,
			     f->key_lines[prev]);
		free(path);
		free(key);
		tree_free(node);
		return;
	}
	frame_append(f, key, node, f->key_line);
}

/* ---- objects ---- */

/* apiVersion or kind: present, a string, not empty. */
static bool check_type_field(struct reader *r, const struct tree *obj, const char *name,
			     const char *path)
{
	const struct tree *v = tree_get(obj, name);
	if (!v || v->type == TREE_NULL || (v->type == TREE_STRING && !v->text[0])) {
		reader_error(r, obj->line, path, "object has no %s", name);
		return false;
	}
	if (v->type != TREE_STRING) {
		char *p = tree_path_join_key(path, name);
		reader_error(r, v->line, p, "expected a string, found %s (%s)",
			     tree_type_name(v->type), v->text ? v->text : "...");
		free(p);
		return false;
	}
	return true;
}

/* Check an object and add it to the set, or its items for a List (takes obj). */
static void add_object(struct reader *r, struct tree *obj, const char *path)
{
	if (obj->type != TREE_OBJECT) {
		reader_error(r, obj->line, path, "list item is %s; " OBJECT_EXPECTED,
			     tree_type_name(obj->type));
		tree_free(obj);
		return;
	}
	bool ok = check_type_field(r, obj, "apiVersion", path);
	ok = check_type_field(r, obj, "kind", path) && ok;
	if (!ok) {
		tree_free(obj);
		return;
	}
	struct tree *items = tree_get(obj, "items");
	if (!str_has_suffix(tree_get_str(obj, "kind"), "List") || !items) {
		*VEC_PUSH(r->set->objects, r->set->n) = obj;
		return;
	}
	char *ipath = tree_path_join_key(path, "items");
	if (items->type == TREE_ARRAY) {
		for (size_t i = 0; i < items->n; i++) {
			char *p = tree_path_join_index(ipath, i);
			add_object(r, items->items[i], p);
			items->items[i] = NULL;
			free(p);
		}
	} else if (items->type != TREE_NULL) {
		reader_error(r, items->line, ipath, "expected a list of objects, found %s",
			     tree_type_name(items->type));
	}
	free(ipath);
	tree_free(obj);
}

static void finish_document(struct reader *r)
{
	struct tree *root = r->root;
	r->root = NULL;
	bool bad = r->doc_bad;
	discard_document(r);
	if (!root)
		return;
	/* kubectl skips empty and null documents. */
	if (bad || root->type == TREE_NULL) {
		tree_free(root);
		return;
	}
	if (root->type == TREE_ARRAY) {
		reader_error(r, root->line, NULL, "document is a sequence; " OBJECT_EXPECTED);
	} else if (root->type != TREE_OBJECT) {
		reader_error(r, root->line, NULL, "document is a scalar (%s \"%.40s%s\"); " OBJECT_EXPECTED,
			     tree_type_name(root->type), root->text,
			     strlen(root->text) > 40 ? "..." : "");
	} else {
		add_object(r, root, NULL);
		return;
	}
	tree_free(root);
}

/* ---- events ---- */

static struct tree *tagged_scalar(struct reader *r, const char *text, const char *type, int line)
{
	static const struct {
		const char *tag;
		enum tree_type type;
	} core[] = {
		{"int", TREE_INT},
		{"float", TREE_FLOAT},
		{"bool", TREE_BOOL},
		{"null", TREE_NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(core); i++) {
		if (strcmp(type, core[i].tag) != 0)
			continue;
		struct tree *n = tree_new_plain_scalar(text, r->file, line);
		if (core[i].type == TREE_FLOAT && n->type == TREE_INT) {
			n->type = TREE_FLOAT;
			n->f = (double)n->i;
		}
		if (n->type == core[i].type)
			return n;
		reader_error(r, line, NULL, "\"%s\" is tagged !!%s but is %s", text, type,
			     tree_type_name(n->type));
		tree_free(n);
		return tree_new_string(text, r->file, line);
	}
	return NULL;
}

static struct tree *make_scalar(struct reader *r, const char *text, bool plain, const char *tag,
				int line)
{
	if (tag && strcmp(tag, "!") == 0)
		return tree_new_string(text, r->file, line);
	if (tag && str_has_prefix(tag, YAML_TAG_PREFIX)) {
		const char *type = tag + strlen(YAML_TAG_PREFIX);
		if (strcmp(type, "str") == 0 || strcmp(type, "binary") == 0 ||
		    strcmp(type, "timestamp") == 0)
			return tree_new_string(text, r->file, line);
		struct tree *n = tagged_scalar(r, text, type, line);
		if (n)
			return n;
	}
	return plain ? tree_new_plain_scalar(text, r->file, line)
		     : tree_new_string(text, r->file, line);
}

/*
 * The header of a block scalar whose content starts at src[start]: the `|`
 * or `>` and its indicators, found on the line before, after whatever the
 * parser has already passed on that line (a key, a tag, an anchor).
 * Returns false when the header cannot be read.
 */
static bool block_header(const struct reader *r, const struct fy_event *e, size_t start,
			 bool *folded, enum yaml_chomp *chomp, int *m)
{
	const char *src = r->src;
	size_t end = start - 1;
	if (end > 0 && src[end] == '\n' && src[end - 1] == '\r')
		end--;
	size_t p = end;
	while (p > 0 && src[p - 1] != '\n' && src[p - 1] != '\r')
		p--;
	size_t after[3] = {r->prev_end, 0, 0};
	struct fy_token *toks[2] = {e->scalar.tag, e->scalar.anchor};
	for (size_t k = 0; k < 2; k++) {
		const struct fy_mark *tm = toks[k] ? fy_token_end_mark(toks[k]) : NULL;
		after[k + 1] = tm ? tm->input_pos : 0;
	}
	for (size_t k = 0; k < 3; k++)
		if (after[k] > p && after[k] <= end)
			p = after[k];
	while (p < end && src[p] && strchr(" \t-?:\"'", src[p]))
		p++;
	if (p >= end || (src[p] != '|' && src[p] != '>'))
		return false;
	*folded = src[p++] == '>';
	*chomp = YAML_CHOMP_CLIP;
	*m = 0;
	for (int k = 0; k < 2 && p < end; k++) {
		if (*chomp == YAML_CHOMP_CLIP && (src[p] == '+' || src[p] == '-'))
			*chomp = src[p++] == '+' ? YAML_CHOMP_KEEP : YAML_CHOMP_STRIP;
		else if (*m == 0 && src[p] >= '1' && src[p] <= '9')
			*m = src[p++] - '0';
	}
	while (p < end && (src[p] == ' ' || src[p] == '\t'))
		p++;
	return p == end || src[p] == '#';
}

static char *block_value(const struct reader *r, struct fy_event *e, size_t start, size_t stop,
			 size_t *len)
{
	/* no line after the header: the scalar is empty */
	if (start == 0 || (r->src[start - 1] != '\n' && r->src[start - 1] != '\r')) {
		*len = 0;
		return xstrdup("");
	}
	bool folded;
	enum yaml_chomp chomp;
	int m;
	if (!block_header(r, e, start, &folded, &chomp, &m))
		return NULL;
	int indent = 0;
	if (m) {
		/* relative to the enclosing block collection (0 at the top) */
		int n = r->nframes ? r->frames[r->nframes - 1].column : -1;
		indent = (n > 0 ? n : 0) + m;
	}
	return yaml_block_scalar(r->src + start, stop - start, folded, chomp, indent, len);
}

/* A scalar's value: quoted and block scalars are decoded here from the
 * source (see yaml_text.h), plain ones taken from libfyaml. */
static char *scalar_value(const struct reader *r, struct fy_event *e, enum fy_scalar_style style,
			  size_t *len)
{
	struct fy_token *v = e->scalar.value;
	const struct fy_mark *a = fy_token_start_mark(v);
	const struct fy_mark *b = fy_token_end_mark(v);
	char *out = NULL;
	if (style != FYSS_PLAIN && r->src && a && b && a->input_pos <= b->input_pos &&
	    b->input_pos <= r->src_len) {
		const char *s = r->src + a->input_pos;
		size_t n = b->input_pos - a->input_pos;
		switch (style) {
		case FYSS_SINGLE_QUOTED:
			out = yaml_single_quoted(s, n, len);
			break;
		case FYSS_DOUBLE_QUOTED:
			out = yaml_double_quoted(s, n, len);
			break;
		case FYSS_LITERAL:
		case FYSS_FOLDED:
			out = block_value(r, e, a->input_pos, b->input_pos, len);
			break;
		default:
			break;
		}
	}
	if (out)
		return out;
	const char *t = fy_token_get_text(v, len);
	if (!t)
		*len = 0;
	out = xmalloc(*len + 1);
	if (*len)
		memcpy(out, t, *len);
	out[*len] = '\0';
	return out;
}

static char *token_dup(struct fy_token *t)
{
	size_t len = 0;
	const char *s = t ? fy_token_get_text(t, &len) : NULL;
	return s ? xstrndup(s, len) : NULL;
}

static void on_scalar(struct reader *r, struct fy_event *e, int line)
{
	size_t len = 0;
	enum fy_scalar_style style = fy_token_scalar_style(e->scalar.value);
	bool plain = style == FYSS_PLAIN;
	const char *tag = e->scalar.tag ? fy_token_get_text0(e->scalar.tag) : NULL;
	char *text = scalar_value(r, e, style, &len);
	if (memchr(text, '\0', len))
		reader_error(r, line, NULL, "a string contains a NUL character (\\0)");
	struct tree *n = make_scalar(r, text, plain, tag, line);
	bool merge = plain && !tag && strcmp(text, "<<") == 0;
	free(text);
	char *anchor = token_dup(e->scalar.anchor);
	if (anchor)
		register_anchor(r, anchor, n);
	attach(r, n, merge);
}

static void on_alias(struct reader *r, struct fy_event *e, int line)
{
	char *name = token_dup(e->alias.anchor);
	const struct anchor *a = NULL;
	for (size_t i = r->nanchors; name && i > 0; i--) {
		if (strcmp(r->anchors[i - 1].name, name) == 0) {
			a = &r->anchors[i - 1];
			break;
		}
	}
	struct tree *n = NULL;
	if (!a) {
		reader_error(r, line, NULL, "alias *%s has no anchor &%s before it in the document",
			     name ? name : "", name ? name : "");
	} else if (!a->node) {
		/* over the alias budget, reported when the anchor was made */
		r->doc_bad = true;
	} else if (r->nframes + a->height > MANIFEST_MAX_DEPTH) {
		reader_error(r, line, NULL, "alias *%s nests deeper than %d levels", name,
			     MANIFEST_MAX_DEPTH);
	} else if (alias_budget(r, a->size, line)) {
		n = tree_clone(a->node);
		n->line = line;
	}
	free(name);
	attach(r, n ? n : tree_new(TREE_NULL, r->file, line), false);
}

static void on_collection_start(struct reader *r, struct fy_event *e, enum tree_type type, int line)
{
	if (r->nframes >= MANIFEST_MAX_DEPTH) {
		reader_error(r, line, NULL, "nesting deeper than %d levels", MANIFEST_MAX_DEPTH);
		drop_frames(r);
		r->skipping = true;
		return;
	}
	const struct fy_mark *m = fy_event_start_mark(e);
	int column = m ? m->column : r->nframes ? r->frames[r->nframes - 1].column : -1;
	struct frame *f = VEC_PUSH(r->frames, r->nframes);
	f->column = column;
	f->node = tree_new(type, r->file, line);
	f->anchor = token_dup(type == TREE_OBJECT ? e->mapping_start.anchor
						  : e->sequence_start.anchor);
}

static void on_collection_end(struct reader *r)
{
	if (r->nframes == 0)
		return;
	struct frame f = r->frames[--r->nframes];
	if (f.node->type == TREE_OBJECT)
		apply_merges(&f);
	struct tree *node = f.node;
	char *anchor = f.anchor;
	f.node = NULL;
	f.anchor = NULL;
	frame_free(&f);
	if (node->line == 0)
		node->line = r->last_line;
	if (anchor)
		register_anchor(r, anchor, node);
	attach(r, node, false);
}

static void on_event(struct reader *r, struct fy_event *e)
{
	const struct fy_mark *m = fy_event_start_mark(e);
	int line = r->last_line;
	if (m && m->line >= 0) {
		line = r->line_base + m->line + 1;
		/* A block scalar's mark is at the start of the line after its
		 * `|` or `>` header; the header's line is the one to point at. */
		if (e->type == FYET_SCALAR && m->column == 0 && m->line > 0) {
			enum fy_scalar_style st = fy_token_scalar_style(e->scalar.value);
			if (st == FYSS_LITERAL || st == FYSS_FOLDED)
				line--;
		}
		r->last_line = line;
	}
	switch (e->type) {
	case FYET_DOCUMENT_START:
		discard_document(r);
		return;
	case FYET_DOCUMENT_END:
		finish_document(r);
		return;
	default:
		break;
	}
	if (r->skipping)
		return;
	switch (e->type) {
	case FYET_MAPPING_START:
		on_collection_start(r, e, TREE_OBJECT, line);
		break;
	case FYET_SEQUENCE_START:
		on_collection_start(r, e, TREE_ARRAY, line);
		break;
	case FYET_MAPPING_END:
	case FYET_SEQUENCE_END:
		on_collection_end(r);
		break;
	case FYET_SCALAR:
		on_scalar(r, e, line);
		break;
	case FYET_ALIAS:
		on_alias(r, e, line);
		break;
	default:
		break;
	}
}

static void discard_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
}

/*
 * Parse text (which starts r->line_base lines into the file) until its end
 * or a syntax error.  Returns 0 at the end, or -1 after reporting a syntax
 * error; *err_line is then its line in the file (0 when unknown).
 */
static int parse_text(struct reader *r, const char *text, size_t len, int *err_line)
{
	struct fy_diag_cfg dc;
	fy_diag_cfg_default(&dc);
	dc.fp = NULL;
	dc.output_fn = discard_output;
	dc.colorize = false;
	*err_line = 0;
	struct fy_diag *fd = fy_diag_create(&dc);
	if (!fd) {
		reader_error(r, 0, NULL, "cannot create the YAML parser's diagnostics");
		return -1;
	}
	fy_diag_set_collect_errors(fd, true);
	struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET, .diag = fd};
	struct fy_parser *p = fy_parser_create(&cfg);
	if (!p || fy_parser_set_string(p, text, len) != 0) {
		if (p)
			fy_parser_destroy(p);
		fy_diag_destroy(fd);
		reader_error(r, 0, NULL, "cannot create the YAML parser");
		return -1;
	}
	r->src = text;
	r->src_len = len;
	r->prev_end = 0;
	struct fy_event *e;
	while ((e = fy_parser_parse(p)) != NULL) {
		on_event(r, e);
		const struct fy_mark *end = fy_event_end_mark(e);
		if (end)
			r->prev_end = end->input_pos;
		fy_parser_event_free(p, e);
	}
	r->src = NULL;
	int rc = 0;
	if (fy_parser_get_stream_error(p)) {
		rc = -1;
		struct fy_diag_error *de;
		void *iter = NULL;
		while ((de = fy_diag_errors_iterate(fd, &iter)) != NULL)
			if (de->type >= FYET_ERROR)
				break;
		int line = de && de->line > 0 ? r->line_base + de->line : r->last_line;
		reader_error(r, line, NULL, "%s", de && de->msg ? de->msg : "YAML syntax error");
		*err_line = line;
	}
	discard_document(r);
	fy_parser_destroy(p);
	fy_diag_destroy(fd);
	return rc;
}

static bool is_document_start(const char *s, size_t avail)
{
	return avail >= 3 && memcmp(s, "---", 3) == 0 &&
	       (avail == 3 || s[3] == ' ' || s[3] == '\t' || s[3] == '\r' || s[3] == '\n');
}

/*
 * Where to go on after a syntax error at err_line: the first `---` line at
 * or after it, past `start` so that parsing always moves on.  SIZE_MAX when
 * there is none.  *line is set to the file line of that offset minus one.
 */
static size_t restart_offset(const char *text, size_t len, size_t start, int line_base,
			     int err_line, int *lines_before)
{
	int line = line_base + 1;
	size_t pos = start;
	while (pos < len) {
		if (line >= err_line && pos > start && is_document_start(text + pos, len - pos)) {
			*lines_before = line - 1;
			return pos;
		}
		const char *nl = memchr(text + pos, '\n', len - pos);
		if (!nl)
			break;
		pos = (size_t)(nl - text) + 1;
		line++;
	}
	return SIZE_MAX;
}

static int line_at(const char *text, size_t off)
{
	int line = 1;
	for (size_t i = 0; i < off; i++)
		line += text[i] == '\n';
	return line;
}

/* Bytes the parser must not see: NUL (libfyaml stops there silently) and
 * invalid UTF-8 (which it may drop silently). */
static int check_bytes(struct reader *r, const char *text, size_t len)
{
	const char *nul = memchr(text, '\0', len);
	size_t bad = utf8_check(text, nul ? (size_t)(nul - text) : len);
	if (nul && bad == (size_t)(nul - text)) {
		reader_error(r, line_at(text, bad), NULL,
			     "the file contains a NUL byte; YAML and JSON files are text");
		return -1;
	}
	if (bad < len) {
		reader_error(r, line_at(text, bad), NULL,
			     "invalid UTF-8 (byte 0x%02x); YAML and JSON files must be UTF-8",
			     (unsigned char)text[bad]);
		return -1;
	}
	return 0;
}

int manifest_read_buffer(struct manifest_set *set, const char *name, const char *text,
			 size_t len, struct diag_list *diags)
{
	struct reader r = {
		.set = set,
		.diags = diags,
		.file = manifest_intern_file(set, name ? name : "<input>"),
	};
	if (len > MANIFEST_MAX_BYTES) {
		reader_error(&r, 0, NULL, "the file is larger than the limit of %zu MiB",
			     MANIFEST_MAX_BYTES >> 20);
		return -1;
	}
	if (!text || check_bytes(&r, text, len) != 0)
		return text ? -1 : 0;
	size_t start = 0;
	for (;;) {
		int err_line;
		if (parse_text(&r, text + start, len - start, &err_line) == 0 || err_line <= 0)
			break;
		int before;
		size_t next = restart_offset(text, len, start, r.line_base, err_line, &before);
		if (next == SIZE_MAX)
			break;
		start = next;
		r.line_base = before;
		r.alias_limit_reported = false;
	}
	free(r.frames);
	return r.errors ? -1 : 0;
}

/* ---- files ---- */

const char *manifest_intern_file(struct manifest_set *set, const char *name)
{
	for (size_t i = 0; i < set->nfiles; i++)
		if (strcmp(set->files[i], name) == 0)
			return set->files[i];
	char *s = xstrdup(name);
	*VEC_PUSH(set->files, set->nfiles) = s;
	return s;
}

void manifest_set_free(struct manifest_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		tree_free(set->objects[i]);
	free(set->objects);
	for (size_t i = 0; i < set->nfiles; i++)
		free(set->files[i]);
	free(set->files);
	memset(set, 0, sizeof(*set));
}

/* strerror() in the lower case the rest of a diagnostic uses. */
static void path_error(struct diag_list *diags, const char *path, int err)
{
	char *msg = xstrdup(strerror(err));
	if (msg[0] && msg[1] && !isupper((unsigned char)msg[1]))
		msg[0] = (char)tolower((unsigned char)msg[0]);
	diag_add(diags, DIAG_ERROR, path, 0, NULL, NULL, "%s", msg);
	free(msg);
}

static int read_file(struct manifest_set *set, const char *path, const struct stat *st,
		     struct diag_list *diags)
{
	if ((uint64_t)st->st_size > MANIFEST_MAX_BYTES) {
		diag_add(diags, DIAG_ERROR, path, 0, NULL, NULL,
			 "the file is larger than the limit of %zu MiB", MANIFEST_MAX_BYTES >> 20);
		return -1;
	}
	size_t len;
	char *buf = file_read_all(path, &len);
	if (!buf) {
		path_error(diags, path, errno);
		return -1;
	}
	int rc = manifest_read_buffer(set, path, buf, len, diags);
	free(buf);
	return rc;
}

static int read_stdin(struct manifest_set *set, struct diag_list *diags)
{
	size_t cap = 65536, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap > MANIFEST_MAX_BYTES) {
				free(buf);
				diag_add(diags, DIAG_ERROR, MANIFEST_STDIN_NAME, 0, NULL, NULL,
					 "the input is larger than the limit of %zu MiB",
					 MANIFEST_MAX_BYTES >> 20);
				return -1;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		size_t n = fread(buf + len, 1, cap - len, stdin);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(stdin)) {
		free(buf);
		path_error(diags, MANIFEST_STDIN_NAME, errno ? errno : EIO);
		return -1;
	}
	int rc = manifest_read_buffer(set, MANIFEST_STDIN_NAME, buf, len, diags);
	free(buf);
	return rc;
}

static bool manifest_name(const char *name)
{
	return str_has_suffix(name, ".yaml") || str_has_suffix(name, ".yml") ||
	       str_has_suffix(name, ".json");
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int manifest_dir_files(const char *dir, char ***files, size_t *nfiles, struct diag_list *diags)
{
	*files = NULL;
	*nfiles = 0;
	DIR *d = opendir(dir);
	if (!d) {
		path_error(diags, dir, errno);
		return -1;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (manifest_name(de->d_name))
			*VEC_PUSH(names, n) = xstrdup(de->d_name);
	closedir(d);
	if (n)
		xqsort(names, n, sizeof(*names), cmp_name);
	size_t dlen = strlen(dir);
	bool slash = dlen > 0 && dir[dlen - 1] == '/';
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s%s%s", dir, slash ? "" : "/", names[i]);
		free(names[i]);
		names[i] = path;
	}
	*files = names;
	*nfiles = n;
	return 0;
}

int manifest_read_file(struct manifest_set *set, const char *path, struct diag_list *diags)
{
	if (strcmp(path, "-") == 0)
		return read_stdin(set, diags);
	struct stat st;
	if (stat(path, &st) != 0) {
		path_error(diags, path, errno);
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	return read_file(set, path, &st, diags);
}

/* Like `kubectl apply -f DIR`: the directory's manifest files in name
 * order; subdirectories are not entered. */
static int read_dir(struct manifest_set *set, const char *dir, struct diag_list *diags)
{
	char **files;
	size_t n;
	if (manifest_dir_files(dir, &files, &n, diags) != 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (manifest_read_file(set, files[i], diags) != 0)
			rc = -1;
		free(files[i]);
	}
	free(files);
	return rc;
}

int manifest_read_paths(struct manifest_set *set, const char *const *paths, size_t npaths,
			struct diag_list *diags)
{
	int rc = 0;
	for (size_t i = 0; i < npaths; i++) {
		const char *path = paths[i];
		struct stat st;
		int r;
		if (strcmp(path, "-") == 0) {
			r = read_stdin(set, diags);
		} else if (stat(path, &st) != 0) {
			path_error(diags, path, errno);
			r = -1;
		} else if (S_ISDIR(st.st_mode)) {
			r = read_dir(set, path, diags);
		} else {
			r = read_file(set, path, &st, diags);
		}
		if (r != 0)
			rc = -1;
	}
	return rc;
}
