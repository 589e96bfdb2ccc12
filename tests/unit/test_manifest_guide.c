/*
 * Every ```yaml block of the dual-stack MetalLB guide kept in
 * shared/reference reads without errors into the number of objects it
 * holds, and a few of its values resolve as Kubernetes would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_skip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "base/util.h"
#include "manifest/manifest.h"
#include "manifest/tree.h"

#define GUIDE_PATH IRONLB_SOURCE_DIR "/../shared/reference/000_e4b1695a272b69ca.txt"

/* Objects in each ```yaml block, in the order the guide has them. */
static const size_t block_objects[] = {2, 1, 4, 1, 1, 1, 1, 1, 1, 2, 1,
				       2, 4, 3, 2, 5, 2, 1, 5, 2, 3};

struct block {
	char *text;
	int line; /* of the ```yaml fence in the guide */
};

/* The ```yaml blocks of the guide; returns their number. */
static size_t extract_blocks(const char *guide, struct block **out)
{
	struct block *blocks = NULL;
	size_t n = 0;
	const char *p = guide;
	int line = 1;
	const char *start = NULL;
	int start_line = 0;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *content = p;
		while (content < p + len && (*content == ' ' || *content == '\t'))
			content++;
		if (!start && str_has_prefix(content, "```yaml")) {
			start = eol ? eol + 1 : p + len;
			start_line = line;
		} else if (start && str_has_prefix(content, "```")) {
			struct block *b = VEC_PUSH(blocks, n);
			b->text = xstrndup(start, (size_t)(p - start));
			b->line = start_line;
			start = NULL;
		}
		if (!eol)
			break;
		p = eol + 1;
		line++;
	}
	*out = blocks;
	return n;
}

static void test_guide_blocks(void **state)
{
	size_t len;
	char *guide = file_read_all(GUIDE_PATH, &len);
	if (!guide) {
		TEST_SKIP("%s is missing", GUIDE_PATH);
	}
	struct block *blocks;
	size_t n = extract_blocks(guide, &blocks);
	assert_int_equal(n, ARRAY_SIZE(block_objects));
	struct manifest_set all = {0};
	for (size_t i = 0; i < n; i++) {
		struct manifest_set set = {0};
		struct diag_list d = {0};
		char *name = xasprintf("guide-block-%zu.yaml", i + 1);
		int rc = manifest_read_buffer(&set, name, blocks[i].text, strlen(blocks[i].text), &d);
		if (rc != 0 || d.n) {
			diag_print(&d, stderr);
			fail_msg("block %zu (guide line %d) has errors", i + 1, blocks[i].line);
		}
		if (set.n != block_objects[i])
			fail_msg("block %zu (guide line %d): %zu objects, expected %zu", i + 1,
				 blocks[i].line, set.n, block_objects[i]);
		for (size_t k = 0; k < set.n; k++) {
			assert_non_null(tree_get_str(set.objects[k], "apiVersion"));
			assert_non_null(tree_get_str(set.objects[k], "kind"));
			assert_true(set.objects[k]->line > 0);
		}
		/* kept for the value checks below */
		manifest_read_buffer(&all, name, blocks[i].text, strlen(blocks[i].text), &d);
		manifest_set_free(&set);
		diag_list_free(&d);
		free(name);
		free(blocks[i].text);
	}
	free(blocks);
	free(guide);

	/* values that must stay strings, and ones that must not */
	bool seen_community = false, seen_hold = false, seen_pool = false;
	for (size_t k = 0; k < all.n; k++) {
		const struct tree *o = all.objects[k];
		const char *kind = tree_get_str(o, "kind");
		const char *name = tree_get_str(tree_get(o, "metadata"), "name");
		if (strcmp(kind, "BGPAdvertisement") == 0 &&
		    strcmp(name, "dual-stack-bgp-advertisement") == 0) {
			const struct tree *c = tree_path(o, "spec.communities[0]");
			assert_int_equal(c->type, TREE_STRING);
			assert_string_equal(c->text, "64500:100");
			assert_int_equal(tree_path(o, "spec.aggregationLengthV6")->i, 128);
			seen_community = true;
		}
		if (strcmp(kind, "BGPPeer") == 0 && strcmp(name, "router-ipv6-advanced") == 0) {
			assert_int_equal(tree_path(o, "spec.holdTime")->type, TREE_STRING);
			assert_string_equal(tree_path(o, "spec.holdTime")->text, "90s");
			assert_int_equal(tree_path(o, "spec.myASN")->type, TREE_INT);
			assert_int_equal(tree_path(o, "spec.myASN")->i, 64500);
			const struct tree *sel =
				tree_path(o, "spec.nodeSelectors[0].matchLabels[\"bgp-capable\"]");
			assert_int_equal(sel->type, TREE_STRING);
			seen_hold = true;
		}
		if (strcmp(kind, "IPAddressPool") == 0 && strcmp(name, "production-pool") == 0) {
			const struct tree *a = tree_path(o, "spec.addresses[1]");
			assert_string_equal(a->text, "2001:db8:prod::/64");
			assert_int_equal(tree_path(o, "spec.autoAssign")->type, TREE_BOOL);
			seen_pool = true;
		}
	}
	assert_true(seen_community && seen_hold && seen_pool);
	manifest_set_free(&all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guide_blocks),
	};
	return test_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
