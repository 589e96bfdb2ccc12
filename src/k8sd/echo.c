/*
 * Echoes of our own writes.  Everything the controller and the speaker
 * write to objects they also watch comes back through the watch: a
 * Service's status and pool annotation (controller), this node's
 * ServiceL2Status / ServiceBGPStatus objects (speaker).  A pass rebuilds
 * the model from every object, so such an echo must not cause one when it
 * shows exactly what was written; only a difference (someone else's write,
 * a deletion) does.  These functions compare; the callers count an echo
 * with reconciler_own_write() instead of asking for a pass.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/util.h"
#include "k8sd/k8sd.h"

/* json_equal() on trees: objects as unordered maps, integers and reals
 * apart, without building jansson values (these comparisons run on
 * every watch event). */
static bool same_value(const struct tree *a, const struct tree *b)
{
	if (!a || !b)
		return a == b;
	if (a->type != b->type || a->n != b->n)
		return false;
	switch (a->type) {
	case TREE_OBJECT:
		for (size_t k = 0; k < a->n; k++)
			if (!same_value(a->items[k], tree_get(b, a->keys[k])))
				return false;
		return true;
	case TREE_ARRAY:
		for (size_t k = 0; k < a->n; k++)
			if (!same_value(a->items[k], b->items[k]))
				return false;
		return true;
	case TREE_STRING:
		return strcmp(a->text, b->text) == 0;
	case TREE_INT:
		return a->i == b->i;
	case TREE_FLOAT:
		return a->f == b->f;
	case TREE_BOOL:
		return a->b == b->b;
	default:
		return true;
	}
}

/* What a comparison leaves out of an object (a list ended by key NULL):
 * a member by name, or with `inner`, that member (when an object)
 * compared without inner's members, and left out when none is left (the
 * API server drops an emptied map). */
struct skip {
	const char *key;
	const struct skip *inner;
};

static const struct skip *skip_of(const struct skip *list, const char *key)
{
	for (; list && list->key; list++)
		if (strcmp(list->key, key) == 0)
			return list;
	return NULL;
}

static size_t count_kept(const struct tree *o, const struct skip *list);

/* Whether member v, with its skip entry sk (NULL: none), is compared. */
static bool kept(const struct tree *v, const struct skip *sk)
{
	if (!sk)
		return true;
	if (!sk->inner)
		return false;
	return v->type != TREE_OBJECT || count_kept(v, sk->inner) > 0;
}

static size_t count_kept(const struct tree *o, const struct skip *list)
{
	size_t n = 0;
	for (size_t k = 0; k < o->n; k++)
		n += kept(o->items[k], skip_of(list, o->keys[k]));
	return n;
}

/* a and b equal once what list names is left out of them. */
static bool same_except(const struct tree *a, const struct tree *b, const struct skip *list)
{
	if (a->type != TREE_OBJECT || b->type != TREE_OBJECT)
		return same_value(a, b);
	if (count_kept(a, list) != count_kept(b, list))
		return false;
	for (size_t k = 0; k < a->n; k++) {
		const struct skip *sk = skip_of(list, a->keys[k]);
		if (!kept(a->items[k], sk))
			continue;
		const struct tree *y = tree_get(b, a->keys[k]);
		if (!y || !kept(y, sk))
			return false;
		if (sk ? !same_except(a->items[k], y, sk->inner) : !same_value(a->items[k], y))
			return false;
	}
	return true;
}

/* Metadata bookkeeping: what a write changes besides what it writes. */
#define META_BOOKKEEPING {"resourceVersion", NULL}, {"managedFields", NULL}, {"generation", NULL}

char *k8sd_ingress_json(const struct tree *obj)
{
	json_t *ing = json_array();
	const struct tree *arr = tree_path(obj, "status.loadBalancer.ingress");
	json_t *j = arr ? tree_to_json(arr) : NULL;
	size_t i;
	json_t *v;
	if (j && json_is_array(j))
		json_array_foreach(j, i, v)
		{
			const char *ip = json_string_value(json_object_get(v, "ip"));
			if (ip)
				json_array_append_new(ing, json_pack("{s:s}", "ip", ip));
		}
	json_decref(j);
	char *s = json_dumps(ing, JSON_COMPACT);
	json_decref(ing);
	return s;
}

bool k8sd_service_echo(const struct tree *old, const struct tree *obj, const char *annotation,
		       const char *sent_ingress, const char *sent_pools)
{
	if (!old || !obj)
		return false;
	/* The object without what a Service echo may change: metadata
	 * bookkeeping, the pool annotation and status.loadBalancer. */
	const struct skip ann[] = {{annotation, NULL}, {NULL, NULL}};
	const struct skip meta[] = {META_BOOKKEEPING, {"annotations", ann}, {NULL, NULL}};
	const struct skip lb[] = {{"loadBalancer", NULL}, {NULL, NULL}};
	const struct skip rest[] = {{"metadata", meta}, {"status", lb}, {NULL, NULL}};
	if (!same_except(old, obj, rest))
		return false;
	/* The ingress: unchanged, or what was sent. */
	if (!same_value(tree_path(old, "status.loadBalancer"),
			tree_path(obj, "status.loadBalancer"))) {
		if (!sent_ingress)
			return false;
		char *have = k8sd_ingress_json(obj);
		json_t *h = json_loads(have, 0, NULL), *s = json_loads(sent_ingress, 0, NULL);
		bool same = h && s && json_equal(h, s);
		json_decref(h);
		json_decref(s);
		free(have);
		if (!same)
			return false;
	}
	/* The annotation: unchanged, or what was sent ("" for its removal). */
	const char *was = tree_get_str(tree_path(old, "metadata.annotations"), annotation);
	const char *is = tree_get_str(tree_path(obj, "metadata.annotations"), annotation);
	if (was && is ? strcmp(was, is) != 0 : was != is) {
		if (!sent_pools)
			return false;
		if (is ? strcmp(is, sent_pools) != 0 : *sent_pools != '\0')
			return false;
	}
	return true;
}

bool k8sd_status_object_echo(enum k8s_change change, const struct tree *obj, const char *want,
			     const char *sent)
{
	bool deleting = sent && strcmp(sent, "-") == 0;
	if (change == K8S_CHANGE_DELETED)
		return !want && deleting;
	if (!want)
		/* Not wanted: our delete is under way and this is an older
		 * write of ours coming back.  Otherwise someone made it. */
		return deleting;
	if (!obj || !tree_get(obj, "status"))
		/* The create of a status object (its status comes in a patch
		 * after it) is ours while that write is under way. */
		return change == K8S_CHANGE_ADDED && sent && strcmp(sent, want) == 0;
	return k8sd_status_holds(obj, want);
}

bool k8sd_status_holds(const struct tree *obj, const char *want)
{
	const struct tree *st = obj ? tree_get(obj, "status") : NULL;
	if (!st)
		return false;
	struct tree *w = tree_parse_json(want, strlen(want), 0, NULL);
	bool same = w && same_value(st, w);
	tree_free(w);
	return same;
}

bool k8sd_status_patch_echo(const struct tree *old, const struct tree *obj, const char *sent)
{
	if (!old || !obj || !sent)
		return false;
	struct tree *want = tree_parse_json(sent, strlen(sent), 0, NULL);
	if (!want || want->type != TREE_OBJECT) {
		tree_free(want);
		return false;
	}
	/* The rest of the object unchanged: without metadata bookkeeping
	 * and the status fields the patch sets... */
	struct skip *fields = xcalloc(want->n + 1, sizeof(*fields));
	for (size_t k = 0; k < want->n; k++)
		fields[k].key = want->keys[k];
	const struct skip meta[] = {META_BOOKKEEPING, {NULL, NULL}};
	const struct skip rest[] = {{"metadata", meta}, {"status", fields}, {NULL, NULL}};
	bool same = same_except(old, obj, rest);
	free(fields);
	/* ...and those fields as sent. */
	const struct tree *have = tree_get(obj, "status");
	for (size_t k = 0; k < want->n && same; k++)
		same = have && have->type == TREE_OBJECT &&
		       same_value(tree_get(have, want->keys[k]), want->items[k]);
	tree_free(want);
	return same;
}

bool k8sd_status_only(enum k8s_change change, const struct tree *old, const struct tree *obj)
{
	if (change != K8S_CHANGE_MODIFIED || !old)
		return false;
	/* The object without metadata bookkeeping and status. */
	const struct skip meta[] = {META_BOOKKEEPING, {NULL, NULL}};
	const struct skip rest[] = {{"metadata", meta}, {"status", NULL}, {NULL, NULL}};
	return same_except(old, obj, rest);
}
