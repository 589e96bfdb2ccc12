/*
 * model_upsert() and model_remove(): a model that follows objects one
 * change at a time stays equal to one built from scratch, its index finds
 * every object (and nothing removed) after thousands of random changes,
 * and the pointer-stability rules of model.h hold.
 */
#include "test_model_helpers.h"

static int upsert(struct model *m, const char *yaml, bool *replaced)
{
	struct manifest_set set = {0};
	struct diag_list d = {0};
	manifest_read_buffer(&set, "x.yaml", yaml, strlen(yaml), &d);
	assert_int_equal(set.n, 1);
	int r = model_upsert(m, set.objects[0], &d, replaced);
	set.objects[0] = NULL;
	manifest_set_free(&set);
	diag_list_free(&d);
	return r;
}

static char *svc_yaml(const char *ns, const char *name, const char *lbip)
{
	return xasprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n"
			 "  namespace: %s\nspec:\n  type: LoadBalancer\n"
			 "  loadBalancerIP: %s\n",
			 name, ns, lbip);
}

static char *pool_yaml(const char *name, const char *cidr)
{
	return xasprintf("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
			 "metadata:\n  name: %s\n  namespace: metallb-system\n"
			 "spec:\n  addresses: [%s]\n",
			 name, cidr);
}

static void test_upsert_replaces_in_place(void **state)
{
	(void)state;
	struct model m;
	model_init(&m, NULL);
	bool replaced = true;
	char *a = svc_yaml("team-a", "web", "10.0.0.1");
	char *b = svc_yaml("team-b", "web", "10.0.0.2");
	assert_int_equal(upsert(&m, a, &replaced), 0);
	assert_false(replaced);
	assert_int_equal(upsert(&m, b, &replaced), 0);
	assert_false(replaced);
	const struct service *before = model_find_service(&m, "team-a", "web");
	assert_ptr_equal(before, &m.services[0]);

	char *a2 = svc_yaml("team-a", "web", "10.0.0.9");
	assert_int_equal(upsert(&m, a2, &replaced), 0);
	assert_true(replaced);
	assert_int_equal(m.nservices, 2);
	/* Same slot, new contents. */
	assert_ptr_equal(model_find_service(&m, "team-a", "web"), before);
	assert_true(before->requested[0].v == ip_v4(0x0a000009).v);
	assert_non_null(model_find_service(&m, "team-b", "web"));
	assert_null(model_find_service(&m, "team-c", "web"));

	/* model_add still reports a duplicate and changes nothing. */
	struct manifest_set set = {0};
	struct diag_list d = {0};
	manifest_read_buffer(&set, "x.yaml", a, strlen(a), &d);
	assert_int_equal(model_add(&m, set.objects[0], &d), -1);
	set.objects[0] = NULL;
	assert_int_equal(m.nservices, 2);
	assert_true(m.services[0].requested[0].v == ip_v4(0x0a000009).v);
	manifest_set_free(&set);
	diag_list_free(&d);

	free(a);
	free(b);
	free(a2);
	model_free(&m);
}

static void test_remove_keeps_config_order(void **state)
{
	(void)state;
	struct model m;
	model_init(&m, NULL);
	const char *names[] = {"p0", "p1", "p2", "p3"};
	for (int i = 0; i < 4; i++) {
		char cidr[32];
		snprintf(cidr, sizeof(cidr), "10.%d.0.0/24", i);
		char *y = pool_yaml(names[i], cidr);
		assert_int_equal(upsert(&m, y, NULL), 0);
		free(y);
	}
	assert_int_equal(model_remove(&m, KIND_IPADDRESSPOOL, "metallb-system", "p1"), 0);
	assert_int_equal(model_remove(&m, KIND_IPADDRESSPOOL, "metallb-system", "p1"), -1);
	assert_int_equal(m.npools, 3);
	assert_string_equal(m.pools[0].meta.name, "p0");
	assert_string_equal(m.pools[1].meta.name, "p2");
	assert_string_equal(m.pools[2].meta.name, "p3");
	for (int i = 0; i < 4; i++) {
		const struct pool *p = model_find_pool(&m, names[i]);
		if (i == 1) {
			assert_null(p);
			continue;
		}
		assert_non_null(p);
		assert_string_equal(p->meta.name, names[i]);
	}
	/* Services: the last one moves into the gap. */
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		char *y = svc_yaml("default", name, "10.0.0.1");
		assert_int_equal(upsert(&m, y, NULL), 0);
		free(y);
	}
	assert_int_equal(model_remove(&m, KIND_SERVICE, "default", "s0"), 0);
	assert_int_equal(m.nservices, 2);
	assert_string_equal(m.services[0].meta.name, "s2");
	assert_ptr_equal(model_find_service(&m, "default", "s2"), &m.services[0]);
	assert_ptr_equal(model_find_service(&m, "default", "s1"), &m.services[1]);
	assert_int_equal(model_remove(&m, KIND_SERVICE, "default", "s1"), 0);
	assert_int_equal(model_remove(&m, KIND_SERVICE, "default", "s2"), 0);
	assert_int_equal(m.nservices, 0);
	assert_int_equal(model_remove(&m, KIND_SERVICE, "default", "s2"), -1);
	model_free(&m);
}

/* Thousands of random adds, replacements and removals over a small name
 * space (so that probe chains collide and wrap), checked after every step
 * against a plain table of what must be present. */
static void test_random_changes_keep_index(void **state)
{
	(void)state;
	enum { NAMES = 300, STEPS = 6000 };
	struct model m;
	model_init(&m, NULL);
	int version[NAMES] = {0}; /* 0: absent, else the last octet written */
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	for (int step = 0; step < STEPS; step++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		unsigned r = (unsigned)(seed >> 33);
		int k = (int)(r % NAMES);
		char name[16];
		snprintf(name, sizeof(name), "s%d", k);
		const char *ns = k % 3 ? "a" : "b";
		if ((r >> 12) % 3 == 0) {
			int rc = model_remove(&m, KIND_SERVICE, ns, name);
			assert_int_equal(rc, version[k] ? 0 : -1);
			version[k] = 0;
		} else {
			int v = 1 + (int)((r >> 16) % 250);
			char ip[32];
			snprintf(ip, sizeof(ip), "10.0.0.%d", v);
			char *y = svc_yaml(ns, name, ip);
			bool replaced;
			assert_int_equal(upsert(&m, y, &replaced), 0);
			assert_int_equal(replaced, version[k] != 0);
			free(y);
			version[k] = v;
		}
		size_t present = 0;
		for (int i = 0; i < NAMES; i++) {
			snprintf(name, sizeof(name), "s%d", i);
			const struct service *s = model_find_service(&m, i % 3 ? "a" : "b", name);
			if (!version[i]) {
				if (s)
					fail_msg("step %d: s%d found after removal", step, i);
				continue;
			}
			present++;
			if (!s)
				fail_msg("step %d: s%d lost from the index", step, i);
			assert_string_equal(s->meta.name, name);
			assert_true(s->requested[0].v == (ip_v4(0x0a000000).v | (unsigned)version[i]));
		}
		assert_int_equal(m.nservices, present);
	}
	model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upsert_replaces_in_place),
		cmocka_unit_test(test_remove_keeps_config_order),
		cmocka_unit_test(test_random_changes_keep_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
