/*
 * Layer 2 placement with claims (announce_l2_claims, l2_planner with
 * claims): sticky (a claimant keeps its Service; the newest of several
 * claims wins), balanced (a Service without a valid claim goes to the
 * node announcing the fewest, ties by the hash order; N nodes and M new
 * Services: at most ceil(M/N) each), preferredNodeSelectors and
 * externalTrafficPolicy Local still honoured, the same plan on every node
 * and in every input order, and the incremental planner equal to a whole
 * plan given its own owners as claims.
 */
#include "announce_fixtures.h"

struct pcase {
	const char *name;
	struct node_spec nodes[8];
	const char *prefs;          /* the advertisement's preferredNodeSelectors */
	const char *svcs;           /* "web,api,..." addresses 192.168.10.1.. in order */
	bool local;                 /* every Service externalTrafficPolicy Local */
	const char *eps;            /* Local: "svc=node:r,node:r;svc2=..." */
	const char *claims;         /* "svc@node@since;..." */
	const char *want;           /* "svc=node,..." ("-": no owner) */
};

static const struct pcase cases[] = {
	{
		.name = "sticky: the claimant keeps the Service (not the hash's first)",
		.nodes = {{"node-a"}, {"node-b"}, {"node-c"}},
		.svcs = "web",
		.claims = "web@node-c@10",
		.want = "web=node-c",
	},
	{
		.name = "a node that comes back takes nothing back",
		.nodes = {{"node-a"}, {"node-b"}, {"node-c"}},
		.svcs = "web,api",
		.claims = "web@node-b@10;api@node-b@10",
		.want = "web=node-b,api=node-b",
	},
	{
		.name = "a claimant held down is not honoured: the least loaded takes over",
		.nodes = {{"node-a"}, {"node-b", .down = true}, {"node-c"}},
		.svcs = "web,api,api2",
		.claims = "web@node-b@10;api@node-a@5;api2@node-a@5",
		.want = "api=node-a,api2=node-a,web=node-c",
	},
	{
		.name = "two claimants (after a partition): the newest claim wins",
		.nodes = {{"node-a"}, {"node-b"}, {"node-c"}},
		.svcs = "web,api",
		.claims = "web@node-a@10;web@node-c@20;api@node-a@30;api@node-b@20",
		.want = "web=node-c,api=node-a",
	},
	{
		.name = "balanced: a new Service goes to the node announcing the fewest",
		.nodes = {{"node-a"}, {"node-b"}, {"node-c"}},
		.svcs = "s1,s2,s3,s4,new",
		.claims = "s1@node-a@1;s2@node-a@1;s3@node-b@1;s4@node-b@1",
		.want = "s1=node-a,s2=node-a,s3=node-b,s4=node-b,new=node-c",
	},
	{
		.name = "preferredNodeSelectors first: a claim on a less preferred node yields",
		.nodes = {{"node-a"}, {"node-b", "tier=gold"}, {"node-c"}},
		.prefs = "50:tier=gold",
		.svcs = "web,api",
		.claims = "web@node-a@10",
		.want = "web=node-b,api=node-b",
	},
	{
		.name = "preferredNodeSelectors: among equally preferred nodes, sticky then balanced",
		.nodes = {{"node-a", "tier=gold"}, {"node-b", "tier=gold"}, {"node-c"}},
		.prefs = "50:tier=gold",
		.svcs = "web,api,db",
		.claims = "web@node-b@10",
		.want = "web=node-b,api=node-a,db=-gold",
	},
	{
		.name = "externalTrafficPolicy Local: a claimant without an endpoint yields",
		.nodes = {{"node-a"}, {"node-b"}, {"node-c"}},
		.svcs = "web,api",
		.local = true,
		.eps = "web=node-b:r,node-c:r;api=node-a:r,node-c:r",
		.claims = "web@node-a@10;api@node-c@10",
		.want = "web=node-b,api=node-c",
	},
};

struct built {
	struct model m;
	size_t n;
	struct announce_svc in[MAXN];
	char *pools[MAXN][MAXN];
	struct announce_claim claims[16];
	size_t nclaims;
	char *claim_strs[32];
	size_t nstrs;
};

static void build(const struct pcase *pc, struct built *b, bool reverse)
{
	memset(b, 0, sizeof(*b));
	model_init(&b->m, NULL);
	add_nodes(&b->m, pc->nodes, 8);
	struct pool_spec pool = {.name = "pool-a"};
	add_pool(&b->m, &pool);
	struct l2adv *a = VEC_PUSH(b->m.l2advs, b->m.nl2advs);
	a->meta.kind = KIND_L2ADVERTISEMENT;
	a->meta.name = xstrdup("all");
	a->meta.namespace_ = xstrdup(MODEL_DEFAULT_CONFIG_NAMESPACE);
	char *pp[MAXN];
	size_t np = split(pc->prefs, ';', pp);
	a->preferred_nodes = xcalloc(np ? np : 1, sizeof(*a->preferred_nodes));
	a->npreferred_nodes = np;
	for (size_t i = 0; i < np; i++) {
		char *colon = strchr(pp[i], ':');
		*colon = 0;
		a->preferred_nodes[i].weight = atoi(pp[i]);
		labels_of(&a->preferred_nodes[i].preference.match_labels, colon + 1);
	}
	free_parts(pp, np);

	char *names[MAXN];
	b->n = split(pc->svcs, ',', names);
	for (size_t k = 0; k < b->n; k++) {
		size_t i = reverse ? b->n - 1 - k : k;
		char addr[32];
		snprintf(addr, sizeof(addr), "192.168.10.%zu", i + 1);
		struct svc_spec s = {.ns = "default", .name = names[i], .local = pc->local,
				     .addrs = addr, .pools = "pool-a"};
		add_service(&b->m, &s);
	}
	for (size_t k = 0; k < b->n; k++) {
		size_t i = reverse ? b->n - 1 - k : k;
		char addr[32];
		snprintf(addr, sizeof(addr), "192.168.10.%zu", i + 1);
		struct svc_spec s = {.ns = "default", .name = names[i], .addrs = addr,
				     .pools = "pool-a"};
		b->in[k].svc = &b->m.services[k];
		svc_addrs_of(&s, &b->in[k], b->pools[k]);
	}
	free_parts(names, b->n);
	char *eps[MAXN];
	size_t ne = split(pc->eps, ';', eps);
	for (size_t i = 0; i < ne; i++) {
		char *eq = strchr(eps[i], '=');
		*eq = 0;
		struct slice_spec sl = {.ns = "default", .service = eps[i], .eps = eq + 1};
		add_slice(&b->m, &sl, i);
	}
	free_parts(eps, ne);
	char *cl[MAXN];
	size_t nc = split(pc->claims, ';', cl);   /* at most MAXN claims */
	for (size_t i = 0; i < nc; i++) {
		char *at1 = strchr(cl[i], '@'), *at2 = strrchr(cl[i], '@');
		*at1 = *at2 = 0;
		char *svc = xasprintf("default/%s", cl[i]);
		char *node = xstrdup(at1 + 1);
		b->claim_strs[b->nstrs++] = svc;
		b->claim_strs[b->nstrs++] = node;
		b->claims[b->nclaims++] =
			(struct announce_claim){svc, node, (uint64_t)strtoull(at2 + 1, NULL, 10)};
	}
	free_parts(cl, nc);
	announce_claims_sort(b->claims, b->nclaims);
}

static void unbuild(struct built *b)
{
	for (size_t i = 0; i < b->n; i++)
		free_parts(b->pools[i], b->in[i].naddrs);
	for (size_t i = 0; i < b->nstrs; i++)
		free(b->claim_strs[i]);
	model_free(&b->m);
}

static const char *owner_of(const struct l2_plan *p, const char *svc)
{
	char full[128];
	snprintf(full, sizeof(full), "default/%s", svc);
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->entries[i].service, full) == 0)
			return p->entries[i].owner ? p->entries[i].owner : "-";
	return NULL;
}

static void test_cases(void **st)
{
	(void)st;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct pcase *pc = &cases[c];
		char *first_plan[MAXN] = {NULL};
		/* In both input orders and from every node's point of view: the
		 * same owners. */
		for (int rev = 0; rev < 2; rev++) {
			for (size_t ln = 0; ln < 8 && pc->nodes[ln].name; ln++) {
				struct built b;
				build(pc, &b, rev);
				struct announce_claims cl = {b.nclaims, b.claims};
				struct l2_plan p;
				assert_int_equal(announce_l2_claims(&b.m, pc->nodes[ln].name, b.in,
								    b.n, &cl, &p), 0);
				char *want[MAXN];
				size_t nw = split(pc->want, ',', want);
				for (size_t w = 0; w < nw; w++) {
					char *eq = strchr(want[w], '=');
					*eq = 0;
					const char *got = owner_of(&p, want[w]);
					if (!got)
						fail_msg("%s: %s not planned", pc->name, want[w]);
					if (strcmp(eq + 1, "-gold") == 0) {
						/* any of the preferred nodes, but not node-c */
						if (strcmp(got, "node-c") == 0)
							fail_msg("%s: %s on node-c", pc->name, want[w]);
					} else if (strcmp(got, eq + 1) != 0) {
						fail_msg("%s (rev %d, local %s): %s on %s, want %s",
							 pc->name, rev, pc->nodes[ln].name, want[w],
							 got, eq + 1);
					}
					if (!first_plan[w])
						first_plan[w] = xstrdup(got);
					else if (strcmp(first_plan[w], got) != 0)
						fail_msg("%s: %s on %s and on %s", pc->name, want[w],
							 first_plan[w], got);
				}
				free_parts(want, nw);
				l2_plan_free(&p);
				unbuild(&b);
			}
		}
		free_parts(first_plan, MAXN);
	}
}

/* N nodes, M Services, no claims: at most ceil(M/N) each, at least
 * floor(M/N) -- where MetalLB's hash can put two of three on one node of
 * seven. */
static void test_balanced_fresh(void **st)
{
	(void)st;
	for (size_t nn = 1; nn <= 7; nn++) {
		for (size_t ms = 0; ms <= 40; ms += (ms < 10 ? 1 : 7)) {
			struct model m;
			model_init(&m, NULL);
			for (size_t i = 0; i < nn; i++) {
				char name[16];
				snprintf(name, sizeof(name), "node-%zu", i);
				struct node_spec s = {.name = name};
				add_node(&m, &s);
			}
			struct pool_spec pool = {.name = "pool-a"};
			add_pool(&m, &pool);
			struct l2adv *a = VEC_PUSH(m.l2advs, m.nl2advs);
			a->meta.kind = KIND_L2ADVERTISEMENT;
			a->meta.name = xstrdup("all");
			a->meta.namespace_ = xstrdup(MODEL_DEFAULT_CONFIG_NAMESPACE);
			struct announce_svc *in = xcalloc(ms ? ms : 1, sizeof(*in));
			char **pools = xcalloc(ms ? ms : 1, sizeof(*pools));
			for (size_t i = 0; i < ms; i++) {
				char name[16], addr[32];
				snprintf(name, sizeof(name), "svc-%zu", i);
				snprintf(addr, sizeof(addr), "10.1.%zu.%zu", i / 200, i % 200 + 1);
				struct svc_spec s = {.ns = "default", .name = name, .addrs = addr,
						     .pools = "pool-a"};
				add_service(&m, &s);
				svc_addrs_of(&s, &in[i], &pools[i]);
			}
			for (size_t i = 0; i < ms; i++)
				in[i].svc = &m.services[i];
			struct announce_claims none = {0};
			struct l2_plan p;
			announce_l2_claims(&m, "node-0", in, ms, &none, &p);
			size_t count[8] = {0};
			assert_int_equal(p.n, ms);
			for (size_t i = 0; i < p.n; i++)
				count[p.entries[i].owner[5] - '0']++;
			size_t hi = (ms + nn - 1) / nn, lo = ms / nn;
			for (size_t i = 0; i < nn; i++)
				if (count[i] > hi || count[i] < lo)
					fail_msg("%zu nodes, %zu Services: node-%zu announces %zu", nn,
						 ms, i, count[i]);
			/* Without claims the hash alone decides (MetalLB): it may
			 * not be balanced; with the same addresses the plan is
			 * MetalLB's order. */
			struct l2_plan h;
			announce_l2(&m, "node-0", in, ms, &h);
			assert_int_equal(h.n, p.n);
			l2_plan_free(&h);
			l2_plan_free(&p);
			for (size_t i = 0; i < ms; i++)
				free(pools[i]);
			free(pools);
			free(in);
			model_free(&m);
		}
	}
}

/* The incremental planner with claims: after updates, its plan equals a
 * whole plan given its own owners as claims; a new Service goes to the
 * least loaded node; a deleted one frees its node's load. */
static void test_incremental_claims(void **st)
{
	(void)st;
	const struct pcase pc = {
		.nodes = {{"node-a"}, {"node-b"}, {"node-c"}},
		.svcs = "s1,s2,s3,s4,s5,s6",
		.claims = "s1@node-a@1;s2@node-a@1;s3@node-a@1;s4@node-b@1",
	};
	struct built b;
	build(&pc, &b, false);
	struct announce_claims cl = {b.nclaims, b.claims};
	struct l2_planner *lp = l2_planner_new("node-a");
	l2_planner_set_claims(lp, &cl);
	/* s5 and s6 are not in the first pass: added as changes. */
	l2_planner_reset(lp, &b.m, b.in, 4);
	const struct l2_plan *p = l2_planner_plan(lp);
	assert_string_equal(owner_of(p, "s1"), "node-a");
	assert_string_equal(owner_of(p, "s4"), "node-b");
	struct announce_change ch = {.ns = "default", .name = "s5", .as = b.in[4]};
	l2_planner_update(lp, &b.m, &ch, 1);
	assert_string_equal(owner_of(l2_planner_plan(lp), "s5"), "node-c");
	ch = (struct announce_change){.ns = "default", .name = "s6", .as = b.in[5]};
	l2_planner_update(lp, &b.m, &ch, 1);
	/* loads a 3, b 1, c 1: the hash order breaks the b/c tie */
	const char *s6 = owner_of(l2_planner_plan(lp), "s6");
	assert_true(strcmp(s6, "node-b") == 0 || strcmp(s6, "node-c") == 0);
	/* s1 goes away, then comes back: node-a has 2 now, the others 2 */
	ch = (struct announce_change){.ns = "default", .name = "s1"};
	l2_planner_update(lp, &b.m, &ch, 1);
	assert_null(owner_of(l2_planner_plan(lp), "s1"));

	/* The plan equals a whole plan given its owners as claims. */
	p = l2_planner_plan(lp);
	struct announce_claim own[MAXN];
	size_t no = 0;
	for (size_t i = 0; i < p->n; i++)
		own[no++] = (struct announce_claim){p->entries[i].service, p->entries[i].owner, 1};
	announce_claims_sort(own, no);
	struct announce_claims ocl = {no, own};
	struct l2_plan whole;
	announce_l2_claims(&b.m, "node-a", b.in + 1, 5, &ocl, &whole);
	assert_int_equal(whole.n, p->n);
	for (size_t i = 0; i < p->n; i++) {
		assert_string_equal(whole.entries[i].service, p->entries[i].service);
		assert_string_equal(whole.entries[i].owner, p->entries[i].owner);
		assert_int_equal(whole.entries[i].here, p->entries[i].here);
	}
	l2_plan_free(&whole);
	l2_planner_free(lp);
	unbuild(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_balanced_fresh),
		cmocka_unit_test(test_incremental_claims),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
