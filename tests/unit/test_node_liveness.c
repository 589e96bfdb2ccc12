/* Which nodes liveness marks member_down (the failure detector and the
 * Ready condition), and the detector it starts from the Nodes' addresses. */
#include "test_model_helpers.h"

#include <ev.h>

#include "node/liveness.h"

static const char NODES[] =
	"apiVersion: v1\nkind: Node\nmetadata:\n  name: a\nstatus:\n"
	"  conditions:\n  - type: Ready\n    status: \"True\"\n"
	"  addresses:\n  - type: InternalIP\n    address: 127.0.0.1\n"
	"---\napiVersion: v1\nkind: Node\nmetadata:\n  name: b\nstatus:\n"
	"  conditions:\n  - type: Ready\n    status: \"False\"\n"
	"  addresses:\n  - type: InternalIP\n    address: 127.0.0.2\n"
	"  - type: ExternalIP\n    address: 192.0.2.2\n"
	"---\napiVersion: v1\nkind: Node\nmetadata:\n  name: c\nstatus:\n"
	"  conditions:\n  - type: Ready\n    status: Unknown\n"
	"---\napiVersion: v1\nkind: Node\nmetadata:\n  name: d\n";

static bool down(const struct model *m, const char *name)
{
	const struct node_obj *n = model_find_node(m, name);
	assert_non_null(n);
	return n->member_down;
}

/* Without an InternalIP of its own the detector does not start; Ready
 * False/Unknown still removes a node, when asked to. */
static void test_ready_marks(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct loaded l;
	load_yaml(&l, "nodes.yaml", NODES, false);
	for (int use_ready = 0; use_ready <= 1; use_ready++) {
		struct liveness_opts o = {.node_name = "d", .use_ready = use_ready};
		struct liveness *lv = liveness_new(loop, &o);
		liveness_sync(lv, &l.m);
		assert_false(down(&l.m, "a"));
		assert_int_equal(down(&l.m, "b"), use_ready);
		assert_int_equal(down(&l.m, "c"), use_ready);
		assert_false(down(&l.m, "d"));
		json_t *st = liveness_status_json(lv);
		assert_true(json_is_null(st));
		json_decref(st);
		liveness_free(lv);
	}
	unload(&l);
	ev_loop_destroy(loop);
}

/* With one, the detector runs: the other Nodes' InternalIP addresses are
 * its members (a node without one is none), the key set before the start
 * is used, and a node not Ready is down though the detector holds it
 * alive. */
static void test_detector_members(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct loaded l;
	load_yaml(&l, "nodes.yaml", NODES, false);
	struct liveness_opts o = {.node_name = "a", .port = 0, .use_ready = true};
	struct liveness *lv = liveness_new(loop, &o);
	static const char key[] = "unit-test-key";
	liveness_set_key(lv, (const uint8_t *)key, strlen(key));
	liveness_sync(lv, &l.m);
	json_t *st = liveness_status_json(lv);
	assert_true(json_is_object(st));
	assert_string_equal(json_string_value(json_object_get(st, "name")), "a");
	assert_true(json_is_true(json_object_get(st, "authenticated")));
	json_t *ms = json_object_get(st, "members");
	assert_int_equal(json_array_size(ms), 1);
	json_t *b = json_array_get(ms, 0);
	assert_string_equal(json_string_value(json_object_get(b, "name")), "b");
	assert_string_equal(json_string_value(json_object_get(b, "address")), "127.0.0.2");
	assert_string_equal(json_string_value(json_object_get(b, "state")), "alive");
	json_decref(st);
	assert_false(liveness_down(lv, "b"));
	assert_true(down(&l.m, "b"));      /* Ready False */
	assert_false(down(&l.m, "a"));

	/* The same key again is no rotation; another one is. */
	liveness_set_key(lv, (const uint8_t *)key, strlen(key));
	liveness_set_key(lv, (const uint8_t *)"another", 7);
	liveness_set_key(lv, NULL, 0);
	liveness_leave(lv);
	liveness_free(lv);
	unload(&l);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_marks),
		cmocka_unit_test(test_detector_members),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
