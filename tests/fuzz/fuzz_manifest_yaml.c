/*
 * libFuzzer harness for the manifest reader: the bytes as a YAML/JSON file
 * through manifest_read_buffer(), and, when jansson accepts them as JSON,
 * through tree_from_json() and back.  Checks that the reader's promises
 * hold (every object an object with apiVersion and kind, every node with a
 * file and a line; the JSON round trip is lossless), and that
 * tree_parse_json() accepts what jansson accepts and gives the same tree,
 * and aborts otherwise.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "manifest/manifest.h"
#include "manifest/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_node(const struct tree *t, const char *file, size_t depth)
{
	if (t->file != file || t->line <= 0 || depth > MANIFEST_MAX_DEPTH)
		abort();
	if (t->type != TREE_ARRAY && t->type != TREE_OBJECT && !t->text)
		abort();
	for (size_t i = 0; i < t->n; i++)
		check_node(t->items[i], file, depth + 1);
}

static void check_set(const struct manifest_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct tree *o = set->objects[i];
		if (o->type != TREE_OBJECT || !tree_get_str(o, "apiVersion") ||
		    !tree_get_str(o, "kind"))
			abort();
		check_node(o, set->files[0], 1);
		/* paths built from the keys lead back to the members */
		for (size_t k = 0; k < o->n; k++) {
			char *p = tree_path_join_key(NULL, o->keys[k]);
			if (tree_path(o, p) != tree_get(o, o->keys[k]))
				abort();
			free(p);
		}
		tree_path_line(o, "spec.addresses[1]");
		tree_path_line(o, "metadata.annotations[\"metallb.io/address-pool\"]");
		json_t *j = tree_to_json(o);
		if (!j)
			abort();
		json_decref(j);
	}
}

static void fuzz_json(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	char *err = NULL;
	struct tree *direct = tree_parse_json((const char *)data, size, TREE_JSON_ANY, &err);
	/* Both accept the same, but for a NUL byte outside strings, which
	 * jansson sometimes skips and tree_parse_json() always refuses. */
	if ((!j && direct) || (!direct && !err) || (j && !direct && !memchr(data, 0, size)))
		abort();
	free(err);
	if (!j || !direct) {
		json_decref(j);
		return;
	}
	struct tree *t = tree_from_json(j);
	if (!tree_equal(t, direct))
		abort();
	tree_free(direct);
	struct tree *c = tree_clone(t);
	json_t *back = tree_to_json(c);
	if (!json_equal(j, back))
		abort();
	json_decref(back);
	json_decref(j);
	tree_free(t);
	tree_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest_set set = {0};
	struct diag_list diags = {0};
	int rc = manifest_read_buffer(&set, "fuzz.yaml", (const char *)data, size, &diags);
	if ((rc != 0) != (diag_count(&diags, DIAG_ERROR) != 0))
		abort();
	check_set(&set);
	manifest_set_free(&set);
	diag_list_free(&diags);
	fuzz_json(data, size);
	return 0;
}
