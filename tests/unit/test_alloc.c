/*
 * The allocator (src/alloc/alloc.h): which address each Service gets, from
 * which pool, and which events say so.
 *
 * Models are built directly in C from small specs (no YAML), then each
 * scenario allocates its Services in order and compares every result with
 * a table row: addresses in ingress order, pools, return code, event
 * reasons, and a part of the last event's message.  Multi-step behaviour
 * (configuration changes, releases, a PreferDualStack Service gaining its
 * second family, adoption of status.loadBalancer.ingress) has its own tests
 * below the tables, and a randomised test compares single-stack allocation
 * with a brute-force first-free scan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc/alloc.h"
#include "base/util.h"
#include "model/model.h"

/* Table rows leave their trailing fields out (zero: not checked / none). */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ------------------------------------------------------------------ */
/* building models */

struct pool_spec {
	const char *name;
	const char *addresses;    /* spec.addresses, comma-separated */
	bool manual;              /* autoAssign: false */
	bool avoid;               /* avoidBuggyIPs */
	int priority;             /* serviceAllocation.priority */
	const char *namespaces;   /* serviceAllocation.namespaces, comma-separated */
	const char *ns_selector;  /* one namespaceSelector: matchLabels "k=v,..." */
	const char *svc_selector; /* one serviceSelector: matchLabels "k=v,..." */
	bool invalid;             /* meta.invalid */
};

struct svc_spec {
	const char *name;
	const char *ns;           /* default "default" */
	const char *policy;       /* "Single" (default), "Prefer", "Require" */
	const char *families;     /* "4", "6", "4,6", "6,4"; NULL: from the policy */
	const char *pools;        /* address-pool annotation */
	const char *request;      /* loadBalancerIPs */
	const char *key;          /* allow-shared-ip */
	const char *ports;        /* "TCP/80,UDP/53" */
	bool local;               /* externalTrafficPolicy: Local */
	const char *selector;     /* spec.selector "k=v,..." */
	const char *labels;       /* metadata.labels "k=v,..." */
	const char *ingress;      /* status.loadBalancer.ingress "a,b" */
	const char *type;         /* default LoadBalancer */
	const char *lb_class;
	bool request_invalid;
	const char *created;      /* metadata.creationTimestamp (RFC 3339) */
	uint64_t seen;            /* the order of reading (the pipeline's) */
};

/* Split "a, b,c" into trimmed pieces; returns the count. */
static size_t split(const char *s, char ***out)
{
	*out = NULL;
	size_t n = 0;
	if (!s || !*s)
		return 0;
	const char *p = s;
	for (;;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		*VEC_PUSH(*out, n) = str_trim_dup(p, len);
		if (!c)
			break;
		p = c + 1;
	}
	return n;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void parse_labels(struct labels *l, const char *s)
{
	char **kv;
	size_t n = split(s, &kv);
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(kv[i], '=');
		assert_non_null(eq);
		*eq = '\0';
		labels_set(l, kv[i], eq + 1);
	}
	strv_free(kv, n);
}

static struct label_selector *one_selector(const char *s)
{
	struct label_selector *sel = xcalloc(1, sizeof(*sel));
	parse_labels(&sel->match_labels, s);
	return sel;
}

static struct ip_addr addr(const char *s)
{
	struct ip_addr a;
	char why[128];
	if (ip_parse(s, &a, why, sizeof(why)) != 0)
		fail_msg("bad address in test: %s: %s", s, why);
	return a;
}

static void add_pool(struct model *m, const struct pool_spec *ps)
{
	struct pool *p = VEC_PUSH(m->pools, m->npools);
	p->meta.kind = KIND_IPADDRESSPOOL;
	p->meta.name = xstrdup(ps->name);
	p->meta.namespace_ = xstrdup(m->config_namespace);
	p->meta.invalid = ps->invalid;
	char **entries;
	size_t n = split(ps->addresses, &entries);
	p->ranges = xcalloc(n ? n : 1, sizeof(*p->ranges));
	for (size_t i = 0; i < n; i++) {
		char why[128];
		if (ip_range_parse(entries[i], &p->ranges[i], why, sizeof(why)) != 0)
			fail_msg("bad range in test: %s: %s", entries[i], why);
	}
	p->nranges = n;
	strv_free(entries, n);
	p->auto_assign = !ps->manual;
	p->avoid_buggy_ips = ps->avoid;
	if (ps->priority || ps->namespaces || ps->ns_selector || ps->svc_selector) {
		p->has_service_allocation = true;
		p->priority = ps->priority;
		p->nnamespaces = split(ps->namespaces, &p->namespaces);
		if (ps->ns_selector) {
			p->ns_selectors = one_selector(ps->ns_selector);
			p->nns_selectors = 1;
		}
		if (ps->svc_selector) {
			p->svc_selectors = one_selector(ps->svc_selector);
			p->nsvc_selectors = 1;
		}
	}
}

static void add_namespace(struct model *m, const char *name, const char *labels)
{
	struct namespace_obj *n = VEC_PUSH(m->namespaces, m->nnamespaces);
	n->meta.kind = KIND_NAMESPACE;
	n->meta.name = xstrdup(name);
	parse_labels(&n->meta.labels, labels);
}

static enum ip_family_policy policy_of(const char *s)
{
	if (!s || strcmp(s, "Single") == 0)
		return POLICY_SINGLE_STACK;
	if (strcmp(s, "Prefer") == 0)
		return POLICY_PREFER_DUAL_STACK;
	assert_string_equal(s, "Require");
	return POLICY_REQUIRE_DUAL_STACK;
}

static void fill_svc(struct model *m, struct service *s, const struct svc_spec *ss)
{
	(void)m;
	s->meta.kind = KIND_SERVICE;
	s->meta.name = xstrdup(ss->name);
	s->meta.namespace_ = xstrdup(ss->ns ? ss->ns : "default");
	parse_labels(&s->meta.labels, ss->labels);
	s->type = xstrdup(ss->type ? ss->type : "LoadBalancer");
	s->lb_class = xstrdup(ss->lb_class);
	s->policy = policy_of(ss->policy);
	s->has_policy = ss->policy != NULL;
	if (ss->families) {
		char **f;
		size_t n = split(ss->families, &f);
		for (size_t i = 0; i < n && i < 2; i++)
			s->families[i] = strcmp(f[i], "6") == 0 ? IP_FAMILY_V6 : IP_FAMILY_V4;
		s->nfamilies = n;
		strv_free(f, n);
	}
	s->external_traffic_policy = xstrdup(ss->local ? "Local" : "Cluster");
	parse_labels(&s->selector, ss->selector);
	char **v;
	size_t n = split(ss->ports, &v);
	s->ports = xcalloc(n ? n : 1, sizeof(*s->ports));
	for (size_t i = 0; i < n; i++) {
		char *slash = strchr(v[i], '/');
		assert_non_null(slash);
		*slash = '\0';
		s->ports[i].protocol = xstrdup(v[i]);
		s->ports[i].port = atoi(slash + 1);
	}
	s->nports = n;
	strv_free(v, n);
	n = split(ss->request, &v);
	if (n)
		s->requested = xcalloc(2, sizeof(*s->requested));
	for (size_t i = 0; i < n && i < 2; i++)
		s->requested[i] = addr(v[i]);
	s->nrequested = n;
	strv_free(v, n);
	s->request_invalid = ss->request_invalid;
	if (ss->created)
		assert_int_equal(time_rfc3339_us(ss->created, &s->created_us), 0);
	s->seen = ss->seen;
	s->npool_names = split(ss->pools, &s->pool_names);
	s->sharing_key = xstrdup(ss->key);
	n = split(ss->ingress, &v);
	for (size_t i = 0; i < n && i < 2; i++)
		s->ingress[i] = addr(v[i]);
	s->ningress = n;
	strv_free(v, n);
}

static struct service *add_svc(struct model *m, const struct svc_spec *ss)
{
	struct service *s = VEC_PUSH(m->services, m->nservices);
	fill_svc(m, s, ss);
	return s;
}

/* Services replaced by reset_svc(), freed with this model at the end. */
static struct model replaced;

/* Replace a Service of the model with a new spec (same slot). */
static void reset_svc(struct model *m, size_t i, const struct svc_spec *ss)
{
	if (!replaced.config_namespace)
		model_init(&replaced, NULL);
	*VEC_PUSH(replaced.services, replaced.nservices) = m->services[i];
	memset(&m->services[i], 0, sizeof(m->services[i]));
	fill_svc(m, &m->services[i], ss);
}

/* ------------------------------------------------------------------ */
/* checking results */

struct expect {
	const char *addrs;    /* "a,b" in ingress order; "" none */
	const char *pools;    /* "p,q" */
	int rc;
	const char *reasons;  /* event reasons in order, "A,B"; "" none */
	const char *message;  /* part of the last event's message; NULL: unchecked */
	bool not_ours;
};

static char *join_addrs(const struct alloc_result *r)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < r->naddrs; i++) {
		char b[IP_STR_MAX];
		char *t = xasprintf("%s%s%s", s, i ? "," : "", ip_format(&r->addrs[i], b));
		free(s);
		s = t;
	}
	return s;
}

static char *join_pools(const struct alloc_result *r)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < r->naddrs; i++) {
		char *t = xasprintf("%s%s%s", s, i ? "," : "", r->pools[i]);
		free(s);
		s = t;
	}
	return s;
}

static char *join_reasons(const struct alloc_result *r)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < r->nevents; i++) {
		char *t = xasprintf("%s%s%s", s, i ? "," : "", r->events[i].reason);
		free(s);
		s = t;
	}
	return s;
}

static void dump(const char *ctx, const struct alloc_result *r, int rc)
{
	char *a = join_addrs(r), *p = join_pools(r);
	fprintf(stderr, "%s: rc=%d ours=%d changed=%d addrs=[%s] pools=[%s]\n", ctx, rc, r->ours,
		r->changed, a, p);
	for (size_t i = 0; i < r->nevents; i++)
		fprintf(stderr, "    %s %s: %s\n", r->events[i].type, r->events[i].reason,
			r->events[i].message);
	free(a);
	free(p);
}

static void check(const char *ctx, const struct alloc_result *r, int rc, const struct expect *e)
{
	char *a = join_addrs(r), *p = join_pools(r), *ev = join_reasons(r);
	bool ok = strcmp(a, e->addrs ? e->addrs : "") == 0 && rc == e->rc &&
		  strcmp(ev, e->reasons ? e->reasons : "") == 0 && r->ours == !e->not_ours;
	if (ok && e->pools)
		ok = strcmp(p, e->pools) == 0;
	if (ok && e->message)
		ok = r->nevents > 0 && strstr(r->events[r->nevents - 1].message, e->message);
	if (getenv("ALLOC_TEST_DUMP"))
		dump(ctx, r, rc);
	if (!ok) {
		if (!getenv("ALLOC_TEST_DUMP"))
			dump(ctx, r, rc);
		fail_msg("%s: want rc=%d addrs=[%s] pools=[%s] reasons=[%s] message~\"%s\"", ctx,
			 e->rc, e->addrs ? e->addrs : "", e->pools ? e->pools : "*",
			 e->reasons ? e->reasons : "", e->message ? e->message : "*");
	}
	free(a);
	free(p);
	free(ev);
}

/* Allocate one Service of the model and compare. */
static void step(struct alloc *a, const struct model *m, size_t i, const struct expect *e)
{
	struct alloc_result r;
	int rc = alloc_service(a, m, &m->services[i], &r);
	char ctx[128];
	snprintf(ctx, sizeof(ctx), "%s/%s", m->services[i].meta.namespace_,
		 m->services[i].meta.name);
	check(ctx, &r, rc, e);
	alloc_result_free(&r);
}

/* ------------------------------------------------------------------ */
/* scenarios: pools, then Services allocated in order */

#define MAXP 6
#define MAXS 7

struct scenario {
	const char *name;
	const char *lb_class;
	struct pool_spec pools[MAXP];
	struct svc_spec svcs[MAXS];
	struct expect want[MAXS];
	const char *namespaces[3][2]; /* {name, labels} Namespace objects */
};

/* The guide's pools. */
#define IPV4_POOL {.name = "ipv4-pool", .addresses = "192.168.100.0/24"}
#define IPV6_POOL {.name = "ipv6-pool", .addresses = "2001:db8:1::/64"}

static const struct scenario scenarios[] = {
	{
		.name = "guide: separate ipv4-pool and ipv6-pool serve a dual-stack Service",
		.pools = {IPV4_POOL, IPV6_POOL},
		.svcs = {{.name = "my-dual-stack-service", .policy = "Prefer", .families = "4,6"},
			 {.name = "require", .policy = "Require", .families = "4,6"},
			 {.name = "single"}},
		.want = {{"192.168.100.0,2001:db8:1::", "ipv4-pool,ipv6-pool", 0, "IPAllocated",
			  "Assigned IP [\"192.168.100.0\" \"2001:db8:1::\"]"},
			 {"192.168.100.1,2001:db8:1::1", "ipv4-pool,ipv6-pool", 0, "IPAllocated"},
			 {"192.168.100.2", "ipv4-pool", 0, "IPAllocated",
			  "Assigned IP [\"192.168.100.2\"]"}},
	},
	{
		.name = "guide: IPv6-primary Service lists IPv6 first",
		.pools = {IPV4_POOL, IPV6_POOL},
		.svcs = {{.name = "ipv6-primary-service", .policy = "Prefer", .families = "6,4"},
			 {.name = "v6-only", .families = "6"}},
		.want = {{"2001:db8:1::,192.168.100.0", "ipv6-pool,ipv4-pool", 0, "IPAllocated",
			  "Assigned IP [\"2001:db8:1::\" \"192.168.100.0\"]"},
			 {"2001:db8:1::1", "ipv6-pool", 0, "IPAllocated"}},
	},
	{
		.name = "avoidBuggyIPs skips .0, .255 and (extension) IPv6 Subnet-Router anycast",
		.pools = {{.name = "ipv4-pool", .addresses = "192.168.100.0/24", .avoid = true},
			  {.name = "v6", .addresses = "2001:db8::/126", .avoid = true},
			  {.name = "edge", .addresses = "10.0.0.254-10.0.1.1", .avoid = true,
			   .manual = true}},
		.svcs = {{.name = "a", .policy = "Require", .families = "4,6"},
			 {.name = "b", .pools = "edge"},
			 {.name = "c", .pools = "edge"},
			 {.name = "d", .pools = "edge"},
			 {.name = "e", .request = "192.168.100.255"},
			 {.name = "f", .families = "6", .request = "2001:db8::"},
			 {.name = "g", .families = "6"}},
		.want = {{"192.168.100.1,2001:db8::1", "ipv4-pool,v6", 0, "IPAllocated"},
			 {"10.0.0.254", "edge", 0, "IPAllocated"},
			 {"10.0.1.1", "edge", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed",
			  "Failed to allocate IP for \"default/d\": no available IPs in pool "
			  "\"edge\""},
			 {"", "", -1, "AllocationFailed", "has avoidBuggyIPs"},
			 /* asked for: given, as MetalLB gives it */
			 {"2001:db8::", "v6", 0, "IPAllocated"},
			 {"2001:db8::2", "v6", 0, "IPAllocated"}},
	},
	{
		.name = "IPv6 avoidBuggyIPs across a /64 boundary",
		.pools = {{.name = "v6", .avoid = true,
			   .addresses = "2001:db8:0:0:ffff:ffff:ffff:fffe-2001:db8:0:1::1"}},
		.svcs = {{.name = "a", .families = "6"},
			 {.name = "b", .families = "6"},
			 {.name = "c", .families = "6"},
			 {.name = "d", .families = "6"}},
		.want = {{"2001:db8::ffff:ffff:ffff:fffe", "v6", 0, "IPAllocated"},
			 {"2001:db8::ffff:ffff:ffff:ffff", "v6", 0, "IPAllocated"},
			 {"2001:db8:0:1::1", "v6", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed", "no available IPs"}},
	},
	{
		.name = "guide: combined dual-stack-pool named by the annotation",
		.pools = {{.name = "dual-stack-pool",
			   .addresses = "192.168.100.100-192.168.100.150, "
					"2001:db8:1::100-2001:db8:1::1ff"}},
		.svcs = {{.name = "my-dual-stack-service", .policy = "Prefer", .families = "4,6",
			  .pools = "dual-stack-pool"},
			 {.name = "auto", .policy = "Require", .families = "6,4"}},
		.want = {{"192.168.100.100,2001:db8:1::100", "dual-stack-pool,dual-stack-pool", 0,
			  "IPAllocated"},
			 {"2001:db8:1::101,192.168.100.101", "dual-stack-pool,dual-stack-pool", 0,
			  "IPAllocated"}},
	},
	{
		.name = "guide: segmented pools with autoAssign false, RequireDualStack annotated",
		.pools = {{.name = "production-ipv4", .addresses = "192.168.100.0/25",
			   .manual = true},
			  {.name = "production-ipv6", .addresses = "2001:db8:1::/65",
			   .manual = true},
			  {.name = "staging-ipv4", .addresses = "192.168.100.128/25",
			   .manual = true},
			  {.name = "staging-ipv6", .addresses = "2001:db8:1:0:8000::/65",
			   .manual = true}},
		.svcs = {{.name = "critical-dual-stack-service", .policy = "Require",
			  .families = "4,6", .pools = "production-ipv4,production-ipv6"},
			 {.name = "staging", .policy = "Prefer", .families = "6,4",
			  .pools = "staging-ipv4, staging-ipv6"},
			 {.name = "unannotated"},
			 {.name = "wrong-family", .families = "6", .pools = "production-ipv4"},
			 {.name = "both-listed", .pools = "staging-ipv4,production-ipv4"}},
		.want = {{"192.168.100.0,2001:db8:1::", "production-ipv4,production-ipv6", 0,
			  "IPAllocated"},
			 {"2001:db8:1:0:8000::,192.168.100.128", "staging-ipv6,staging-ipv4", 0,
			  "IPAllocated"},
			 {"", "", -1, "AllocationFailed",
			  "no available IPs: no pool this Service may use has IPv4 addresses "
			  "(pool \"production-ipv4\" has autoAssign false, so only Services "
			  "naming it in the address-pool annotation use it; pool \"staging-ipv4\""},
			 {"", "", -1, "AllocationFailed",
			  "pool \"production-ipv4\" has no IPv6 addresses"},
			 {"192.168.100.129", "staging-ipv4", 0, "IPAllocated"}},
	},
	{
		.name = "guide: specific IPs",
		.pools = {IPV4_POOL, IPV6_POOL},
		.svcs = {{.name = "fixed-ip-service", .policy = "Require", .families = "4,6",
			  .request = "192.168.100.50,2001:db8:1::50"},
			 {.name = "auto", .policy = "Require", .families = "4,6"},
			 {.name = "same-ip", .request = "192.168.100.50"},
			 {.name = "prefer-one", .policy = "Prefer", .families = "4,6",
			  .request = "192.168.100.60"}},
		.want = {{"192.168.100.50,2001:db8:1::50", "ipv4-pool,ipv6-pool", 0, "IPAllocated",
			  "Assigned IP [\"192.168.100.50\" \"2001:db8:1::50\"]"},
			 {"192.168.100.0,2001:db8:1::", "ipv4-pool,ipv6-pool", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed",
			  "\"192.168.100.50\" is in use by \"default/fixed-ip-service\", which "
			  "does not allow sharing"},
			 /* requested one family only: that one, and no complaint */
			 {"192.168.100.60", "ipv4-pool", 0, "IPAllocated"}},
	},
	{
		.name = "RequireDualStack with only IPv4 pools: nothing, never half",
		.pools = {IPV4_POOL},
		.svcs = {{.name = "dual", .policy = "Require", .families = "4,6"},
			 {.name = "v4"},
			 {.name = "prefer", .policy = "Prefer", .families = "6,4"}},
		.want = {{"", "", -1, "AllocationFailed",
			  "Failed to allocate IP for \"default/dual\": RequireDualStack needs "
			  "both IPv4 and IPv6, but IPv6 could not be allocated: no available "
			  "IPs: no pool has IPv6 addresses"},
			 /* .0 is still free: the failed Service kept nothing */
			 {"192.168.100.0", "ipv4-pool", 0, "IPAllocated"},
			 /* PreferDualStack takes the family it can get, primary or not */
			 {"192.168.100.1", "ipv4-pool", 0, "IPAllocated,AdditionalAssignFailed",
			  "cannot assign additional IP in PreferDualStack: no available IPs: no "
			  "pool has IPv6 addresses"}},
	},
	{
		.name = "RequireDualStack when neither family can be had",
		.pools = {{.name = "tiny4", .addresses = "10.0.0.1/32"},
			  {.name = "tiny6", .addresses = "fd00::1/128"}},
		.svcs = {{.name = "a", .policy = "Require", .families = "4,6"},
			 {.name = "b", .policy = "Require", .families = "6,4"},
			 {.name = "c", .policy = "Prefer", .families = "4,6"}},
		.want = {{"10.0.0.1,fd00::1", "tiny4,tiny6", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed",
			  "RequireDualStack needs both IPv6 and IPv4, and neither could be "
			  "allocated: IPv6: no available IPs; IPv4: no available IPs"},
			 {"", "", -1, "AllocationFailed",
			  "Failed to allocate IP for \"default/c\": no available IPs"}},
	},
	{
		.name = "PreferDualStack pinned to a one-family pool gets that family",
		.pools = {IPV4_POOL, IPV6_POOL},
		.svcs = {{.name = "pinned", .policy = "Prefer", .families = "4,6",
			  .pools = "ipv4-pool"}},
		.want = {{"192.168.100.0", "ipv4-pool", 0, "IPAllocated,AdditionalAssignFailed",
			  "pool \"ipv4-pool\" has no IPv6 addresses"}},
	},
	{
		.name = "annotation with several pools: given order, next pool when full",
		.pools = {{.name = "p1", .addresses = "10.0.1.0/32", .manual = true},
			  {.name = "p2", .addresses = "10.0.2.0/31", .manual = true},
			  {.name = "auto", .addresses = "10.0.9.0/24"}},
		.svcs = {{.name = "a", .pools = "p2,p1"},
			 {.name = "b", .pools = "p1,p2"},
			 {.name = "c", .pools = "p1,p2"},
			 {.name = "d", .pools = "p1,p2"},
			 {.name = "e", .pools = "auto,nope"},
			 {.name = "f", .pools = "nope"}},
		.want = {{"10.0.2.0", "p2", 0, "IPAllocated"},
			 {"10.0.1.0", "p1", 0, "IPAllocated"},
			 {"10.0.2.1", "p2", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed",
			  "no available IPs in pools \"p1\", \"p2\""},
			 {"", "", -1, "AllocationFailed",
			  "Failed to allocate IP for \"default/e\": unknown pool \"nope\""},
			 {"", "", -1, "AllocationFailed", "unknown pool \"nope\""}},
	},
	{
		.name = "priority first (0 = last), then pool name",
		.pools = {{.name = "zz-unset", .addresses = "10.0.0.0/32"},
			  {.name = "b-prio2", .addresses = "10.0.1.0/32", .priority = 2},
			  {.name = "d-prio1", .addresses = "10.0.2.0/32", .priority = 1},
			  {.name = "c-prio1", .addresses = "10.0.3.0/32", .priority = 1},
			  {.name = "aa-unset", .addresses = "10.0.4.0/32"}},
		.svcs = {{.name = "s1"}, {.name = "s2"}, {.name = "s3"}, {.name = "s4"},
			 {.name = "s5"}, {.name = "s6"}},
		.want = {{"10.0.3.0", "c-prio1", 0, "IPAllocated"},
			 {"10.0.2.0", "d-prio1", 0, "IPAllocated"},
			 {"10.0.1.0", "b-prio2", 0, "IPAllocated"},
			 {"10.0.4.0", "aa-unset", 0, "IPAllocated"},
			 {"10.0.0.0", "zz-unset", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed", "\"default/s6\": no available IPs"}},
	},
	{
		/* MetalLB tries the pools whose serviceAllocation selects the
		 * Service (by priority, unset last) and only then the pools
		 * without one: a pinned pool without priority is not beaten by
		 * a general pool whose name sorts first. */
		.name = "serviceAllocation pools that select the Service come first",
		.pools = {{.name = "aa-general", .addresses = "10.0.0.0/30"},
			  {.name = "zz-team-a", .addresses = "10.0.9.0/32", .namespaces = "team-a"},
			  {.name = "mm-prio3", .addresses = "10.0.3.0/32", .priority = 3,
			   .namespaces = "team-a"},
			  {.name = "bb-web", .addresses = "10.0.5.0/32", .svc_selector = "app=web"},
			  {.name = "cc-prod", .addresses = "10.0.6.0/32", .ns_selector = "env=prod"}},
		.namespaces = {{"team-a", "env=dev"}, {"prod", "env=prod"}},
		.svcs = {{.name = "s1", .ns = "team-a"},
			 {.name = "s2", .ns = "team-a"},
			 {.name = "web", .ns = "team-a", .labels = "app=web"},
			 {.name = "s3", .ns = "team-a"},
			 {.name = "other", .ns = "team-b"},
			 {.name = "p1", .ns = "prod"},
			 {.name = "p2", .ns = "prod"}},
		.want = {{"10.0.3.0", "mm-prio3", 0, "IPAllocated"},
			 {"10.0.9.0", "zz-team-a", 0, "IPAllocated"},
			 {"10.0.5.0", "bb-web", 0, "IPAllocated"},
			 /* the selecting pools are full: the general one */
			 {"10.0.0.0", "aa-general", 0, "IPAllocated"},
			 {"10.0.0.1", "aa-general", 0, "IPAllocated"},
			 {"10.0.6.0", "cc-prod", 0, "IPAllocated"},
			 {"10.0.0.2", "aa-general", 0, "IPAllocated"}},
	},
	{
		/* A documented difference: MetalLB never picks such a pool by
		 * itself; here it selects every Service (what the priority asks). */
		.name = "serviceAllocation with only a priority selects every Service",
		.pools = {{.name = "aa-general", .addresses = "10.0.0.0/30"},
			  {.name = "zz-prio", .addresses = "10.0.9.0/32", .priority = 2}},
		.svcs = {{.name = "s1"}, {.name = "s2", .ns = "other"}},
		.want = {{"10.0.9.0", "zz-prio", 0, "IPAllocated"},
			 {"10.0.0.0", "aa-general", 0, "IPAllocated"}},
	},
	{
		.name = "selecting pools: priority first, unset after, then name",
		.pools = {{.name = "general", .addresses = "10.0.0.0/30"},
			  {.name = "d-unset", .addresses = "10.0.4.0/32", .namespaces = "t"},
			  {.name = "c-unset", .addresses = "10.0.3.0/32", .namespaces = "t"},
			  {.name = "b-prio9", .addresses = "10.0.2.0/32", .priority = 9,
			   .namespaces = "t"},
			  {.name = "a-prio9", .addresses = "10.0.1.0/32", .priority = 9,
			   .namespaces = "t"},
			  {.name = "z-prio1", .addresses = "10.0.9.0/32", .priority = 1,
			   .namespaces = "t"}},
		.svcs = {{.name = "s1", .ns = "t"}, {.name = "s2", .ns = "t"},
			 {.name = "s3", .ns = "t"}, {.name = "s4", .ns = "t"},
			 {.name = "s5", .ns = "t"}, {.name = "s6", .ns = "t"}},
		.want = {{"10.0.9.0", "z-prio1", 0, "IPAllocated"},
			 {"10.0.1.0", "a-prio9", 0, "IPAllocated"},
			 {"10.0.2.0", "b-prio9", 0, "IPAllocated"},
			 {"10.0.3.0", "c-unset", 0, "IPAllocated"},
			 {"10.0.4.0", "d-unset", 0, "IPAllocated"},
			 {"10.0.0.0", "general", 0, "IPAllocated"}},
	},
	{
		.name = "pools in address order within a pool; ranges sorted by start",
		.pools = {{.name = "p", .addresses = "10.0.5.0/31, 10.0.1.7-10.0.1.8, "
						     "fd00::9/128, fd00::2-fd00::3"}},
		.svcs = {{.name = "a", .policy = "Require", .families = "6,4"},
			 {.name = "b", .policy = "Require", .families = "6,4"},
			 {.name = "c", .policy = "Require", .families = "6,4"},
			 {.name = "d"}},
		.want = {{"fd00::2,10.0.1.7", "p,p", 0, "IPAllocated"},
			 {"fd00::3,10.0.1.8", "p,p", 0, "IPAllocated"},
			 {"fd00::9,10.0.5.0", "p,p", 0, "IPAllocated"},
			 {"10.0.5.1", "p", 0, "IPAllocated"}},
	},
	{
		.name = "serviceAllocation.namespaces; never a fallback for others",
		.pools = {{.name = "team-a-pool", .addresses = "10.1.0.0/30", .priority = 1,
			   .namespaces = "team-a"}},
		.svcs = {{.name = "x", .ns = "team-a"},
			 {.name = "y", .ns = "team-b"},
			 {.name = "z", .ns = "team-b", .pools = "team-a-pool"},
			 {.name = "w", .ns = "team-b", .request = "10.1.0.3"}},
		.want = {{"10.1.0.0", "team-a-pool", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed",
			  "no pool this Service may use has IPv4 addresses (namespace "
			  "\"team-b\" is not selected by pool \"team-a-pool\"'s "
			  "spec.serviceAllocation.namespaces or namespaceSelectors)"},
			 {"", "", -1, "AllocationFailed",
			  "pool team-a-pool not compatible for ip assignment: namespace "
			  "\"team-b\""},
			 {"", "", -1, "AllocationFailed",
			  "pool team-a-pool not compatible for ip assignment"}},
	},
	{
		.name = "serviceAllocation: namespaces before the general pool",
		.pools = {{.name = "general", .addresses = "10.2.0.0/30"},
			  {.name = "team-a-pool", .addresses = "10.1.0.0/30", .priority = 1,
			   .namespaces = "team-a"}},
		.svcs = {{.name = "x", .ns = "team-a"}, {.name = "y", .ns = "team-b"}},
		.want = {{"10.1.0.0", "team-a-pool", 0, "IPAllocated"},
			 {"10.2.0.0", "general", 0, "IPAllocated"}},
	},
	{
		.name = "serviceAllocation.namespaceSelectors against Namespace labels",
		.pools = {{.name = "general", .addresses = "10.2.0.0/30"},
			  {.name = "prod-pool", .addresses = "10.3.0.0/30", .priority = 5,
			   .ns_selector = "env=prod"}},
		.namespaces = {{"prod", "env=prod,team=x"}, {"dev", "env=dev"}},
		.svcs = {{.name = "a", .ns = "prod"},
			 {.name = "b", .ns = "dev"},
			 {.name = "c", .ns = "no-namespace-object"}},
		.want = {{"10.3.0.0", "prod-pool", 0, "IPAllocated"},
			 {"10.2.0.0", "general", 0, "IPAllocated"},
			 {"10.2.0.1", "general", 0, "IPAllocated"}},
	},
	{
		.name = "serviceAllocation.serviceSelectors against Service labels",
		.pools = {{.name = "general", .addresses = "10.2.0.0/30"},
			  {.name = "web-pool", .addresses = "10.4.0.0/30", .priority = 1,
			   .svc_selector = "app=web"}},
		.svcs = {{.name = "web", .labels = "app=web,tier=front"},
			 {.name = "db", .labels = "app=db"},
			 {.name = "web2", .labels = "app=web", .pools = "web-pool"},
			 {.name = "db2", .labels = "app=db", .request = "10.4.0.3"}},
		.want = {{"10.4.0.0", "web-pool", 0, "IPAllocated"},
			 {"10.2.0.0", "general", 0, "IPAllocated"},
			 {"10.4.0.1", "web-pool", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed",
			  "match none of pool \"web-pool\"'s "
			  "spec.serviceAllocation.serviceSelectors"}},
	},
	{
		.name = "autoAssign false: only by annotation or request",
		.pools = {{.name = "manual", .addresses = "10.0.0.0/30", .manual = true},
			  {.name = "auto", .addresses = "10.9.0.0/30"}},
		.svcs = {{.name = "a"},
			 {.name = "b", .pools = "manual"},
			 {.name = "c", .request = "10.0.0.3"},
			 {.name = "d", .request = "10.0.0.2", .pools = "auto"}},
		.want = {{"10.9.0.0", "auto", 0, "IPAllocated"},
			 {"10.0.0.0", "manual", 0, "IPAllocated"},
			 {"10.0.0.3", "manual", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed",
			  "requested loadBalancer IP \"10.0.0.2\" is not compatible with requested "
			  "address pool auto: it is in pool \"manual\""}},
	},
	{
		.name = "requested addresses that cannot be had",
		.pools = {IPV4_POOL, IPV6_POOL},
		.svcs = {{.name = "outside", .request = "172.16.0.1"},
			 {.name = "wrong-family", .request = "2001:db8:1::5"},
			 {.name = "half", .policy = "Require", .families = "4,6",
			  .request = "192.168.100.5"},
			 {.name = "unparsable", .request_invalid = true},
			 {.name = "v6-taken-v4-ok", .policy = "Require", .families = "4,6",
			  .request = "192.168.100.7,2001:db8:1::1", .key = "k"},
			 {.name = "holder", .request = "2001:db8:1::1", .families = "6"},
			 {.name = "again", .policy = "Require", .families = "4,6",
			  .request = "192.168.100.7,2001:db8:1::2", .key = "k2"}},
		.want = {{"", "", -1, "AllocationFailed",
			  "\"172.16.0.1\" is not allowed in config: no pool contains it"},
			 {"", "", -1, "AllocationFailed",
			  "requested loadBalancer IP(s) [\"2001:db8:1::5\"] does not match the "
			  "ipFamily of the service (SingleStack, IPv4)"},
			 {"", "", -1, "AllocationFailed", "does not match the ipFamily"},
			 {"", "", -1, "LoadBalancerFailed", "invalid requested loadbalancer IPs"},
			 {"192.168.100.7,2001:db8:1::1", "ipv4-pool,ipv6-pool", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed",
			  "this Service does not allow sharing"},
			 {"", "", -1, "AllocationFailed",
			  "RequireDualStack needs both IPv4 and IPv6, but IPv4 could not be "
			  "allocated: \"192.168.100.7\" is in use by "
			  "\"default/v6-taken-v4-ok\" with sharing key \"k\", not \"k2\""}},
	},
	{
		.name = "sharing: same key and no port clash share; clashes and other keys do not",
		.pools = {{.name = "p", .addresses = "10.0.0.0/29"}},
		.svcs = {{.name = "a", .key = "k", .ports = "TCP/80"},
			 {.name = "b", .key = "k", .ports = "TCP/443"},
			 {.name = "c", .key = "k", .ports = "TCP/80"},
			 {.name = "d", .key = "other", .ports = "TCP/8080"},
			 {.name = "e", .ports = "TCP/9"},
			 {.name = "f", .key = "k", .ports = "UDP/80"},
			 {.name = "g", .key = "k", .ports = "TCP/80,TCP/443"}},
		.want = {{"10.0.0.0", "p", 0, "IPAllocated"},
			 {"10.0.0.0", "p", 0, "IPAllocated"},
			 {"10.0.0.1", "p", 0, "IPAllocated"},
			 {"10.0.0.2", "p", 0, "IPAllocated"},
			 {"10.0.0.3", "p", 0, "IPAllocated"},
			 {"10.0.0.0", "p", 0, "IPAllocated"},
			 {"10.0.0.4", "p", 0, "IPAllocated"}},
	},
	{
		.name = "sharing with externalTrafficPolicy Local needs the same selector",
		.pools = {{.name = "p", .addresses = "10.0.0.0/29"}},
		.svcs = {{.name = "a", .key = "k", .ports = "TCP/80", .local = true,
			  .selector = "app=x"},
			 {.name = "b", .key = "k", .ports = "TCP/81", .local = true,
			  .selector = "app=y"},
			 {.name = "c", .key = "k", .ports = "TCP/82", .local = true,
			  .selector = "app=x"},
			 {.name = "d", .key = "k", .ports = "TCP/83"},
			 {.name = "e", .key = "k", .ports = "TCP/84", .request = "10.0.0.1",
			  .local = true, .selector = "app=x"}},
		.want = {{"10.0.0.0", "p", 0, "IPAllocated"},
			 {"10.0.0.1", "p", 0, "IPAllocated"},
			 {"10.0.0.0", "p", 0, "IPAllocated"},
			 {"10.0.0.2", "p", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed",
			  "\"10.0.0.1\" is in use by \"default/b\" with other backends"}},
	},
	{
		.name = "sharing: the shared address still serves when the pool is otherwise full",
		.pools = {{.name = "p", .addresses = "10.0.0.0/31"}},
		.svcs = {{.name = "a", .key = "k", .ports = "TCP/80"},
			 {.name = "b", .ports = "TCP/80"},
			 {.name = "c", .key = "k", .ports = "TCP/443"},
			 {.name = "d", .key = "k", .ports = "TCP/80"},
			 {.name = "e", .key = "k", .ports = "TCP/443", .request = "10.0.0.0"}},
		.want = {{"10.0.0.0", "p", 0, "IPAllocated"},
			 {"10.0.0.1", "p", 0, "IPAllocated"},
			 {"10.0.0.0", "p", 0, "IPAllocated"},
			 {"", "", -1, "AllocationFailed", "no available IPs"},
			 {"", "", -1, "AllocationFailed",
			  "port TCP/443 is already in use on \"10.0.0.0\" by \"default/c\""}},
	},
	{
		.name = "loadBalancerClass: default serves only Services without a class",
		.pools = {IPV4_POOL},
		.svcs = {{.name = "mine"},
			 {.name = "theirs", .lb_class = "other.example/lb"},
			 {.name = "cluster-ip", .type = "ClusterIP"},
			 {.name = "node-port", .type = "NodePort", .ingress = "192.168.100.1"}},
		.want = {{"192.168.100.0", "ipv4-pool", 0, "IPAllocated"},
			 {.addrs = "", .not_ours = true},
			 {.addrs = "", .not_ours = true},
			 {.addrs = "", .not_ours = true}},
	},
	{
		.name = "loadBalancerClass: a configured class serves only that class",
		.lb_class = "ironlb.example/lb",
		.pools = {IPV4_POOL},
		.svcs = {{.name = "classless"},
			 {.name = "ours", .lb_class = "ironlb.example/lb"},
			 {.name = "theirs", .lb_class = "other.example/lb"}},
		.want = {{.addrs = "", .not_ours = true},
			 {"192.168.100.0", "ipv4-pool", 0, "IPAllocated"},
			 {.addrs = "", .not_ours = true}},
	},
	{
		.name = "invalid pools are skipped; no pools at all",
		.pools = {{.name = "broken", .addresses = "10.0.0.0/24", .invalid = true}},
		.svcs = {{.name = "a"}, {.name = "b", .pools = "broken"}},
		.want = {{"", "", -1, "AllocationFailed",
			  "no available IPs: no pool has IPv4 addresses"},
			 {"", "", -1, "AllocationFailed", "unknown pool \"broken\""}},
	},
	{
		.name = "families: default from the policy, SingleStack takes only the primary",
		.pools = {IPV4_POOL, IPV6_POOL},
		.svcs = {{.name = "default-single"},
			 {.name = "default-prefer", .policy = "Prefer"},
			 {.name = "single-two", .families = "6,4"}},
		.want = {{"192.168.100.0", "ipv4-pool", 0, "IPAllocated"},
			 {"192.168.100.1,2001:db8:1::", "ipv4-pool,ipv6-pool", 0, "IPAllocated"},
			 {"2001:db8:1::1", "ipv6-pool", 0, "IPAllocated"}},
	},
};

static void run_scenario(const struct scenario *sc)
{
	struct model m;
	model_init(&m, NULL);
	for (size_t i = 0; i < MAXP && sc->pools[i].name; i++)
		add_pool(&m, &sc->pools[i]);
	for (size_t i = 0; i < 3 && sc->namespaces[i][0]; i++)
		add_namespace(&m, sc->namespaces[i][0], sc->namespaces[i][1]);
	for (size_t i = 0; i < MAXS && sc->svcs[i].name; i++)
		add_svc(&m, &sc->svcs[i]);
	struct alloc *a = alloc_new();
	alloc_set_lb_class(a, sc->lb_class);
	alloc_set_config(a, &m);
	for (size_t i = 0; i < m.nservices; i++) {
		struct alloc_result r;
		int rc = alloc_service(a, &m, &m.services[i], &r);
		char ctx[256];
		snprintf(ctx, sizeof(ctx), "[%s] %s", sc->name, m.services[i].meta.name);
		check(ctx, &r, rc, &sc->want[i]);
		alloc_result_free(&r);
	}
	alloc_free(a);
	model_free(&m);
}

static void test_scenarios(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);
}

/* ------------------------------------------------------------------ */
/* multi-step behaviour */

struct fixture {
	struct model m;
	struct alloc *a;
};

static void fx_init(struct fixture *f, const struct pool_spec *pools, size_t npools)
{
	model_init(&f->m, NULL);
	for (size_t i = 0; i < npools; i++)
		add_pool(&f->m, &pools[i]);
	f->a = alloc_new();
	alloc_set_config(f->a, &f->m);
}

static void fx_free(struct fixture *f)
{
	alloc_free(f->a);
	model_free(&f->m);
	if (replaced.config_namespace)
		model_free(&replaced);
}

/* Move the Services of f->m into a new model with other pools, free the old
 * model (the allocator must not point into it), and configure. */
static void fx_reconfigure(struct fixture *f, const struct pool_spec *pools, size_t npools)
{
	struct model n;
	model_init(&n, NULL);
	for (size_t i = 0; i < npools; i++)
		add_pool(&n, &pools[i]);
	n.services = f->m.services;
	n.nservices = f->m.nservices;
	f->m.services = NULL;
	f->m.nservices = 0;
	alloc_set_config(f->a, &n);
	model_free(&f->m);
	f->m = n;
}

#define NP(x) (sizeof(x) / sizeof((x)[0]))

static void test_adopts_ingress(void **state)
{
	(void)state;
	struct pool_spec pools[] = {IPV4_POOL, IPV6_POOL};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	add_svc(&f.m, &(struct svc_spec){.name = "held", .policy = "Prefer", .families = "4,6",
					 .ingress = "192.168.100.77,2001:db8:1::77"});
	add_svc(&f.m, &(struct svc_spec){.name = "swapped", .policy = "Prefer", .families = "4,6",
					 .ingress = "2001:db8:1::78,192.168.100.78"});
	add_svc(&f.m, &(struct svc_spec){.name = "outside", .ingress = "10.9.9.9"});
	add_svc(&f.m, &(struct svc_spec){.name = "new"});

	struct alloc_result r;
	assert_int_equal(alloc_service(f.a, &f.m, &f.m.services[0], &r), 0);
	check("held", &r, 0,
	      &(struct expect){"192.168.100.77,2001:db8:1::77", "ipv4-pool,ipv6-pool", 0, ""});
	assert_false(r.changed);
	alloc_result_free(&r);

	/* ingress follows ipFamilies: same addresses, reordered */
	assert_int_equal(alloc_service(f.a, &f.m, &f.m.services[1], &r), 0);
	check("swapped", &r, 0, &(struct expect){"192.168.100.78,2001:db8:1::78", NULL, 0, ""});
	assert_true(r.changed);
	alloc_result_free(&r);

	step(f.a, &f.m, 2,
	     &(struct expect){"192.168.100.0", "ipv4-pool", 0, "ClearAssignment,IPAllocated",
			      "Assigned IP [\"192.168.100.0\"]"});
	assert_int_equal(alloc_service(f.a, &f.m, &f.m.services[2], &r), 0);
	assert_false(r.changed); /* now it holds what it got */
	assert_int_equal(r.nevents, 0);
	alloc_result_free(&r);

	/* The adopted addresses are taken: the first new one is .1. */
	step(f.a, &f.m, 3, &(struct expect){"192.168.100.1", "ipv4-pool", 0, "IPAllocated"});

	/* Released, then seen again: new to the allocator, so its ingress is
	 * looked at again (and refused again). */
	alloc_release(f.a, "default", "outside");
	assert_int_equal(alloc_service(f.a, &f.m, &f.m.services[2], &r), 0);
	check("outside", &r, 0,
	      &(struct expect){"192.168.100.0", "ipv4-pool", 0, "ClearAssignment,IPAllocated"});
	assert_string_equal(r.events[0].message,
			    "current IP for \"default/outside\" not allowed by config, will "
			    "attempt for new IP assignment: no pool contains 10.9.9.9");
	alloc_result_free(&r);
	fx_free(&f);
}

/* Who keeps an address two Services ask for and cannot share, over a
 * whole run (alloc_run_all(): the order `plan` and a restart use): the
 * Service that asked first (older creationTimestamp; none after any; then
 * the order of reading), never the one whose name sorts first; a Service
 * that holds the address keeps it.  The loser's event names the winner and
 * why. */
struct contest {
	const char *name;
	struct svc_spec svcs[3];
	struct expect want[3];
	const char *loser_event; /* part of some event of the last Service */
};

#define JAN "2026-01-05T10:00:00Z"
#define FEB "2026-02-05T10:00:00Z"
#define ASK(n, ...) {.name = n, .request = "10.0.0.5", __VA_ARGS__}

static const struct contest contests[] = {
	{"older creationTimestamp wins over name order",
	 {ASK("b-old", .created = JAN, .seen = 2), ASK("a-new", .created = FEB, .seen = 1)},
	 {{"10.0.0.5", "p", 0, "IPAllocated"},
	  {"", "", -1, "AllocationFailed",
	   "\"default/b-old\" keeps it: asked first (older creationTimestamp)"}}},
	{"no timestamps: the order of reading, not the name",
	 {ASK("z-first", .seen = 1), ASK("a-second", .seen = 2)},
	 {{"10.0.0.5", "p", 0, "IPAllocated"},
	  {"", "", -1, "AllocationFailed",
	   "\"10.0.0.5\" is in use by \"default/z-first\", which does not allow sharing "
	   "(no allow-shared-ip annotation); \"default/z-first\" keeps it: asked first (read earlier: file order, then "
	   "document order)"}}},
	{"a creationTimestamp before none",
	 {ASK("z-created", .created = FEB, .seen = 9), ASK("a-manifest", .seen = 1)},
	 {{"10.0.0.5", "p", 0, "IPAllocated"},
	  {"", "", -1, "AllocationFailed",
	   "asked first (it has a creationTimestamp, this Service none)"}}},
	{"same second: the order of reading",
	 {ASK("z", .created = JAN, .seen = 1), ASK("a", .created = JAN, .seen = 2)},
	 {{"10.0.0.5", "p", 0, "IPAllocated"},
	  {"", "", -1, "AllocationFailed", "\"default/z\" keeps it: asked first (read earlier"}}},
	{"different sharing keys",
	 {ASK("z", .key = "k1", .seen = 1), ASK("a", .key = "k2", .seen = 2)},
	 {{"10.0.0.5", "p", 0, "IPAllocated"},
	  {"", "", -1, "AllocationFailed",
	   "with sharing key \"k1\", not \"k2\"; \"default/z\" keeps it: asked first"}}},
	{"same key, clashing ports",
	 {ASK("z", .key = "k", .ports = "TCP/80", .seen = 1),
	  ASK("a", .key = "k", .ports = "TCP/80", .seen = 2)},
	 {{"10.0.0.5", "p", 0, "IPAllocated"},
	  {"", "", -1, "AllocationFailed",
	   "port TCP/80 is already in use on \"10.0.0.5\" by \"default/z\"; \"default/z\" "
	   "keeps it: asked first"}}},
	{"externalTrafficPolicy Local with other backends",
	 {ASK("z", .key = "k", .ports = "TCP/80", .local = true, .selector = "app=x", .seen = 1),
	  ASK("a", .key = "k", .ports = "TCP/81", .local = true, .selector = "app=y", .seen = 2)},
	 {{"10.0.0.5", "p", 0, "IPAllocated"},
	  {"", "", -1, "AllocationFailed", "with other backends"}}},
	{"shareable: both get it, whatever the order",
	 {ASK("z", .key = "k", .ports = "TCP/80", .seen = 1),
	  ASK("a", .key = "k", .ports = "TCP/81", .seen = 2)},
	 {{"10.0.0.5", "p", 0, "IPAllocated"}, {"10.0.0.5", "p", 0, "IPAllocated"}}},
	{"a Service holding the address keeps it against an older one",
	 {ASK("z-holds", .created = FEB, .ingress = "10.0.0.5", .seen = 2),
	  ASK("a-old", .created = JAN, .seen = 1)},
	 {{"10.0.0.5", "p", 0, ""},
	  {"", "", -1, "AllocationFailed",
	   "\"default/z-holds\" keeps it: it held the address already"}}},
	{"two statuses claim one address: the older Service keeps it",
	 {{.name = "z-old", .created = JAN, .ingress = "10.0.0.5", .seen = 2},
	  {.name = "fresh", .seen = 3},
	  {.name = "a-new", .created = FEB, .ingress = "10.0.0.5", .seen = 1}},
	 {{"10.0.0.5", "p", 0, ""},
	  {"10.0.0.1", "p", 0, "IPAllocated"},
	  {"10.0.0.0", "p", 0, "ClearAssignment,IPAllocated"}},
	 "\"default/z-old\" keeps it: asked first (older creationTimestamp)"},
};

static void test_contested(void **state)
{
	(void)state;
	struct pool_spec pools[] = {{.name = "p", .addresses = "10.0.0.0/29"}};
	for (size_t c = 0; c < sizeof(contests) / sizeof(contests[0]); c++) {
		const struct contest *ct = &contests[c];
		/* Model order must not matter: each table in its order and
		 * reversed. */
		for (int rev = 0; rev < 2; rev++) {
			struct fixture f;
			fx_init(&f, pools, NP(pools));
			size_t n = 0;
			while (n < 3 && ct->svcs[n].name)
				n++;
			for (size_t i = 0; i < n; i++)
				add_svc(&f.m, &ct->svcs[rev ? n - 1 - i : i]);
			struct alloc_result r[3];
			alloc_run_all(f.a, &f.m, r);
			for (size_t i = 0; i < n; i++) {
				size_t k = rev ? n - 1 - i : i;
				char ctx[160];
				snprintf(ctx, sizeof(ctx), "[%s%s] %s", ct->name,
					 rev ? ", reversed" : "", ct->svcs[k].name);
				check(ctx, &r[i], r[i].nevents && r[i].ours &&
						 strcmp(r[i].events[r[i].nevents - 1].type,
							"Warning") == 0 ? -1 : 0,
				      &ct->want[k]);
				bool found = !ct->loser_event || k != n - 1;
				for (size_t e = 0; !found && e < r[i].nevents; e++)
					found = strstr(r[i].events[e].message, ct->loser_event);
				if (!found) {
					dump(ctx, &r[i], 0);
					fail_msg("%s: no event says \"%s\"", ctx, ct->loser_event);
				}
			}
			for (size_t i = 0; i < n; i++)
				alloc_result_free(&r[i]);
			fx_free(&f);
		}
	}
}

static void test_adoption_conflict(void **state)
{
	(void)state;
	struct pool_spec pools[] = {{.name = "p", .addresses = "10.0.0.0/29"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	/* Two Services claim the same address in their status: run_all takes
	 * holders in name order, the first keeps it. */
	add_svc(&f.m, &(struct svc_spec){.name = "zz", .ingress = "10.0.0.5"});
	add_svc(&f.m, &(struct svc_spec){.name = "fresh"});
	add_svc(&f.m, &(struct svc_spec){.name = "aa", .ingress = "10.0.0.5"});
	struct alloc_result r[3];
	assert_int_equal(alloc_run_all(f.a, &f.m, r), 0);
	check("zz", &r[0], 0,
	      &(struct expect){"10.0.0.0", "p", 0, "ClearAssignment,IPAllocated", NULL});
	assert_non_null(strstr(r[0].events[0].message,
			       "\"10.0.0.5\" is in use by \"default/aa\", which does not allow "
			       "sharing"));
	/* holders first ("aa", then "zz"), then the rest */
	check("fresh", &r[1], 0, &(struct expect){"10.0.0.1", "p", 0, "IPAllocated"});
	check("aa", &r[2], 0, &(struct expect){"10.0.0.5", "p", 0, ""});
	for (int i = 0; i < 3; i++)
		alloc_result_free(&r[i]);
	fx_free(&f);
}

/* A restart (a new allocator, Services carrying status) never moves an
 * address a Service holds: a PreferDualStack Service earlier in name order
 * that lacks IPv6 does not take the only IPv6 address from a later holder. */
static void test_restart_keeps_held(void **state)
{
	(void)state;
	struct pool_spec pools[] = {IPV4_POOL, {.name = "v6", .addresses = "fd00::1/128"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	add_svc(&f.m, &(struct svc_spec){.name = "aa", .policy = "Prefer", .families = "4,6",
					 .ingress = "192.168.100.5"});
	add_svc(&f.m, &(struct svc_spec){.name = "zz", .families = "6", .ingress = "fd00::1"});
	struct alloc_result r[2];
	assert_int_equal(alloc_run_all(f.a, &f.m, r), 0);
	check("aa", &r[0], 0,
	      &(struct expect){"192.168.100.5", "ipv4-pool", 0, "AdditionalAssignFailed",
			       "cannot assign additional IP in PreferDualStack: no available IPs"});
	check("zz", &r[1], 0, &(struct expect){"fd00::1", "v6", 0, ""});
	assert_false(r[1].changed);
	alloc_result_free(&r[0]);
	alloc_result_free(&r[1]);
	assert_int_equal(alloc_waiting(f.a), 1);
	fx_free(&f);
}

/* alloc_update_service(): a released address goes to the first waiting
 * Service in alloc_run_all()'s order; a Service that still waits with the
 * same reason is not reported again. */
static void test_update_gives_freed_to_waiting(void **state)
{
	(void)state;
	struct pool_spec pools[] = {{.name = "p", .addresses = "10.0.0.0/31"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	add_svc(&f.m, &(struct svc_spec){.name = "a"});
	add_svc(&f.m, &(struct svc_spec){.name = "b"});
	add_svc(&f.m, &(struct svc_spec){.name = "d"});
	add_svc(&f.m, &(struct svc_spec){.name = "c"});
	struct alloc_changes ch = {0};
	for (int i = 0; i < 4; i++) {
		alloc_update_service(f.a, &f.m, "default", f.m.services[i].meta.name, &ch);
		alloc_changes_free(&ch);
	}
	assert_int_equal(alloc_waiting(f.a), 2);
	assert_non_null(alloc_failure(f.a, "default", "c"));
	assert_non_null(strstr(alloc_failure(f.a, "default", "d"), "no available IPs"));

	/* b stops being a LoadBalancer: its address goes to c, not d. */
	reset_svc(&f.m, 1, &(struct svc_spec){.name = "b", .type = "ClusterIP"});
	assert_int_equal(alloc_update_service(f.a, &f.m, "default", "b", &ch), 0);
	assert_int_equal(ch.n, 2);
	assert_string_equal(ch.items[0].name, "b");
	assert_true(ch.items[0].result.changed);
	assert_false(ch.items[0].result.ours);
	assert_string_equal(ch.items[1].name, "c");
	check("c", &ch.items[1].result, ch.items[1].rc,
	      &(struct expect){"10.0.0.1", "p", 0, "IPAllocated"});
	alloc_changes_free(&ch);
	assert_null(alloc_failure(f.a, "default", "c"));
	assert_non_null(alloc_failure(f.a, "default", "d"));
	assert_int_equal(alloc_waiting(f.a), 1);

	/* A Service gone from the model: its address goes to d. */
	if (!replaced.config_namespace)
		model_init(&replaced, NULL);
	/* "c", the last one, leaves the model (freed with `replaced`) */
	*VEC_PUSH(replaced.services, replaced.nservices) = f.m.services[--f.m.nservices];
	assert_int_equal(alloc_update_service(f.a, &f.m, "default", "c", &ch), 0);
	assert_int_equal(ch.n, 2);
	assert_true(ch.items[0].removed);
	check("d", &ch.items[1].result, ch.items[1].rc,
	      &(struct expect){"10.0.0.1", "p", 0, "IPAllocated"});
	alloc_changes_free(&ch);
	assert_int_equal(alloc_waiting(f.a), 0);

	/* Nothing held before or after: the waiting Services are not tried. */
	add_svc(&f.m, &(struct svc_spec){.name = "e"});
	alloc_update_service(f.a, &f.m, "default", "e", &ch);
	assert_int_equal(ch.n, 1);
	assert_int_equal(ch.items[0].rc, -1);
	alloc_changes_free(&ch);
	fx_free(&f);
}

static void test_config_change_keeps_and_clears(void **state)
{
	(void)state;
	struct pool_spec pools[] = {{.name = "p", .addresses = "10.0.0.0/29"},
				    {.name = "other", .addresses = "10.7.0.0/29",
				     .manual = true}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	for (int i = 0; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "s%d", i);
		add_svc(&f.m, &(struct svc_spec){.name = name});
	}
	char want[32];
	for (size_t i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "10.0.0.%zu", i);
		step(f.a, &f.m, i, &(struct expect){want, "p", 0, "IPAllocated"});
	}

	/* The pool grows: everybody keeps its address, silently. */
	struct pool_spec grown[] = {{.name = "p", .addresses = "10.0.0.0/24"},
				    {.name = "other", .addresses = "10.7.0.0/29",
				     .manual = true}};
	fx_reconfigure(&f, grown, NP(grown));
	for (size_t i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "10.0.0.%zu", i);
		struct alloc_result r;
		assert_int_equal(alloc_service(f.a, &f.m, &f.m.services[i], &r), 0);
		check("grown", &r, 0, &(struct expect){want, "p", 0, ""});
		assert_false(r.changed);
		alloc_result_free(&r);
	}

	/* The pool shrinks away from s2 and s3; a second pool takes over. */
	struct pool_spec shrunk[] = {{.name = "p", .addresses = "10.0.0.0/31"},
				     {.name = "q", .addresses = "10.0.1.0/30"},
				     {.name = "other", .addresses = "10.7.0.0/29",
				      .manual = true}};
	fx_reconfigure(&f, shrunk, NP(shrunk));
	step(f.a, &f.m, 0, &(struct expect){"10.0.0.0", "p", 0, ""});
	step(f.a, &f.m, 2,
	     &(struct expect){"10.0.1.0", "q", 0, "ClearAssignment,IPAllocated", NULL});
	struct alloc_result r;
	alloc_service(f.a, &f.m, &f.m.services[3], &r);
	check("s3", &r, 0, &(struct expect){"10.0.1.1", "q", 0, "ClearAssignment,IPAllocated"});
	assert_string_equal(r.events[0].type, "Normal");
	assert_string_equal(r.events[0].message,
			    "current IP for \"default/s3\" not allowed by config, will attempt "
			    "for new IP assignment: pool \"p\" no longer contains 10.0.0.3");
	assert_true(r.changed);
	alloc_result_free(&r);

	/* The pool is removed. */
	struct pool_spec removed[] = {{.name = "q", .addresses = "10.0.1.0/30"},
				      {.name = "other", .addresses = "10.7.0.0/29",
				       .manual = true}};
	fx_reconfigure(&f, removed, NP(removed));
	step(f.a, &f.m, 1,
	     &(struct expect){"10.0.1.2", "q", 0, "ClearAssignment,IPAllocated", NULL});
	alloc_service(f.a, &f.m, &f.m.services[0], &r);
	check("s0", &r, 0, &(struct expect){"10.0.1.3", "q", 0, "ClearAssignment,IPAllocated"});
	assert_non_null(strstr(r.events[0].message, ": pool \"p\" was removed"));
	alloc_result_free(&r);

	/* The address moves to another pool by a rename: still valid. */
	struct pool_spec renamed[] = {{.name = "q2", .addresses = "10.0.1.0/30"},
				      {.name = "other", .addresses = "10.7.0.0/29",
				       .manual = true}};
	fx_reconfigure(&f, renamed, NP(renamed));
	step(f.a, &f.m, 2, &(struct expect){"10.0.1.0", "q2", 0, ""});

	/* The annotation now names another pool: move there. */
	reset_svc(&f.m, 2, &(struct svc_spec){.name = "s2", .pools = "other"});
	alloc_service(f.a, &f.m, &f.m.services[2], &r);
	check("s2 pinned", &r, 0,
	      &(struct expect){"10.7.0.0", "other", 0, "ClearAssignment,IPAllocated"});
	assert_non_null(strstr(r.events[0].message,
			       "10.0.1.0 is in pool \"q2\", but the Service asks for address pool "
			       "other"));
	alloc_result_free(&r);

	/* The request changes. */
	reset_svc(&f.m, 2, &(struct svc_spec){.name = "s2", .request = "10.7.0.5"});
	alloc_service(f.a, &f.m, &f.m.services[2], &r);
	check("s2 requested", &r, 0,
	      &(struct expect){"10.7.0.5", "other", 0, "ClearAssignment,IPAllocated"});
	assert_non_null(strstr(r.events[0].message,
			       "the Service requests 10.7.0.5 instead of 10.7.0.0"));
	alloc_result_free(&r);
	fx_free(&f);
}

static void test_prefer_gains_second_family(void **state)
{
	(void)state;
	struct pool_spec pools[] = {IPV4_POOL, {.name = "v6", .addresses = "fd00::1/128"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	add_svc(&f.m, &(struct svc_spec){.name = "holder", .families = "6"});
	add_svc(&f.m, &(struct svc_spec){.name = "web", .policy = "Prefer", .families = "4,6"});
	step(f.a, &f.m, 0, &(struct expect){"fd00::1", "v6", 0, "IPAllocated"});
	step(f.a, &f.m, 1,
	     &(struct expect){"192.168.100.0", "ipv4-pool", 0, "IPAllocated,AdditionalAssignFailed",
			      "cannot assign additional IP in PreferDualStack: no available IPs"});
	/* The same reason is not repeated on every run. */
	step(f.a, &f.m, 1, &(struct expect){"192.168.100.0", "ipv4-pool", 0, ""});

	alloc_release(f.a, "default", "holder");
	struct alloc_result r;
	assert_int_equal(alloc_service(f.a, &f.m, &f.m.services[1], &r), 0);
	check("web", &r, 0,
	      &(struct expect){"192.168.100.0,fd00::1", "ipv4-pool,v6", 0, "IPAllocated",
			       "Assigned additional IP \"fd00::1\""});
	assert_true(r.changed);
	alloc_result_free(&r);
	step(f.a, &f.m, 1, &(struct expect){"192.168.100.0,fd00::1", "ipv4-pool,v6", 0, ""});
	fx_free(&f);
}

static void test_prefer_gains_primary_later(void **state)
{
	(void)state;
	struct pool_spec pools[] = {{.name = "v4", .addresses = "10.0.0.1/32"}, IPV6_POOL};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	add_svc(&f.m, &(struct svc_spec){.name = "holder"});
	add_svc(&f.m, &(struct svc_spec){.name = "web", .policy = "Prefer", .families = "4,6"});
	step(f.a, &f.m, 0, &(struct expect){"10.0.0.1", "v4", 0, "IPAllocated"});
	/* primary unavailable: the other family */
	step(f.a, &f.m, 1,
	     &(struct expect){"2001:db8:1::", "ipv6-pool", 0,
			      "IPAllocated,AdditionalAssignFailed"});
	/* freed: gains it, primary first, IPv6 address unchanged */
	reset_svc(&f.m, 0, &(struct svc_spec){.name = "holder", .type = "ClusterIP"});
	struct alloc_result r;
	assert_int_equal(alloc_service(f.a, &f.m, &f.m.services[0], &r), 0);
	check("holder", &r, 0, &(struct expect){.addrs = "", .not_ours = true});
	assert_true(r.changed); /* it held one; no event, as MetalLB */
	alloc_result_free(&r);
	step(f.a, &f.m, 1,
	     &(struct expect){"10.0.0.1,2001:db8:1::", "v4,ipv6-pool", 0, "IPAllocated",
			      "Assigned additional IP \"10.0.0.1\""});
	fx_free(&f);
}

static void test_require_never_half(void **state)
{
	(void)state;
	struct pool_spec pools[] = {{.name = "v4", .addresses = "10.0.0.0/30"},
				    {.name = "v6", .addresses = "fd00::/127"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	add_svc(&f.m, &(struct svc_spec){.name = "a", .policy = "Require", .families = "4,6"});
	add_svc(&f.m, &(struct svc_spec){.name = "b", .policy = "Require", .families = "4,6"});
	add_svc(&f.m, &(struct svc_spec){.name = "c", .policy = "Require", .families = "4,6"});
	add_svc(&f.m, &(struct svc_spec){.name = "d"});
	step(f.a, &f.m, 0, &(struct expect){"10.0.0.0,fd00::", "v4,v6", 0, "IPAllocated"});
	step(f.a, &f.m, 1, &(struct expect){"10.0.0.1,fd00::1", "v4,v6", 0, "IPAllocated"});
	step(f.a, &f.m, 2,
	     &(struct expect){"", "", -1, "AllocationFailed",
			      "RequireDualStack needs both IPv4 and IPv6, but IPv6 could not be "
			      "allocated: no available IPs"});
	step(f.a, &f.m, 3, &(struct expect){"10.0.0.2", "v4", 0, "IPAllocated"});

	/* b's IPv6 pool goes away: it must not keep IPv4 alone. */
	struct pool_spec only4[] = {{.name = "v4", .addresses = "10.0.0.0/30"}};
	fx_reconfigure(&f, only4, NP(only4));
	step(f.a, &f.m, 1,
	     &(struct expect){"", "", -1, "ClearAssignment,AllocationFailed",
			      "(released 10.0.0.1 rather than hold one family only)"});
	/* and its IPv4 address is free again */
	step(f.a, &f.m, 2,
	     &(struct expect){"", "", -1, "AllocationFailed", "no pool has IPv6 addresses"});
	reset_svc(&f.m, 2, &(struct svc_spec){.name = "c"});
	step(f.a, &f.m, 2, &(struct expect){"10.0.0.1", "v4", 0, "IPAllocated"});
	fx_free(&f);
}

static void test_sharing_lowest_address_wins(void **state)
{
	(void)state;
	/* MetalLB scans a pool from its first address and takes the first
	 * one that is free or shareable; no preference for shared ones. */
	struct pool_spec pools[] = {{.name = "p", .addresses = "10.0.0.0/29"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	add_svc(&f.m, &(struct svc_spec){.name = "x"});
	add_svc(&f.m, &(struct svc_spec){.name = "a", .key = "k", .ports = "TCP/80"});
	add_svc(&f.m, &(struct svc_spec){.name = "c", .key = "k", .ports = "TCP/443"});
	add_svc(&f.m, &(struct svc_spec){.name = "d", .key = "k", .ports = "TCP/8080"});
	step(f.a, &f.m, 0, &(struct expect){"10.0.0.0", "p", 0, "IPAllocated"});
	step(f.a, &f.m, 1, &(struct expect){"10.0.0.1", "p", 0, "IPAllocated"});
	alloc_release(f.a, "default", "x");
	step(f.a, &f.m, 2, &(struct expect){"10.0.0.0", "p", 0, "IPAllocated"});
	step(f.a, &f.m, 3, &(struct expect){"10.0.0.0", "p", 0, "IPAllocated"});

	/* A key change while alone on the address: kept.  With others on it:
	 * cleared and moved. */
	reset_svc(&f.m, 1, &(struct svc_spec){.name = "a", .key = "k2", .ports = "TCP/80"});
	step(f.a, &f.m, 1, &(struct expect){"10.0.0.1", "p", 0, ""});
	reset_svc(&f.m, 3, &(struct svc_spec){.name = "d", .key = "k2", .ports = "TCP/8080"});
	step(f.a, &f.m, 3,
	     &(struct expect){"10.0.0.1", "p", 0, "ClearAssignment,IPAllocated", NULL});
	fx_free(&f);
}

static void foreach_cb(const char *ns, const char *name, size_t n, const struct ip_addr *addrs,
	char *const *pls, void *arg)
{
	char *text = arg;
	size_t off = strlen(text);
	off += (size_t)snprintf(text + off, 256 - off, "%s/%s=", ns, name);
	for (size_t i = 0; i < n; i++) {
		char b[IP_STR_MAX];
		off += (size_t)snprintf(text + off, 256 - off, "%s%s@%s", i ? "," : "",
					ip_format(&addrs[i], b), pls[i]);
	}
	snprintf(text + off, 256 - off, ";");
}

static void test_release_foreach_get(void **state)
{
	(void)state;
	struct pool_spec pools[] = {IPV4_POOL, IPV6_POOL};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	add_svc(&f.m, &(struct svc_spec){.name = "b", .ns = "x"});
	add_svc(&f.m, &(struct svc_spec){.name = "a", .ns = "x-y", .policy = "Require",
					 .families = "6,4"});
	add_svc(&f.m, &(struct svc_spec){.name = "z", .ns = "x"});
	add_svc(&f.m, &(struct svc_spec){.name = "failed", .ns = "x", .request = "10.0.0.1"});
	struct alloc_result r[4];
	assert_int_equal(alloc_run_all(f.a, &f.m, r), 1);
	for (int i = 0; i < 4; i++)
		alloc_result_free(&r[i]);

	struct ip_addr got[2];
	const char *pools_of[2];
	assert_int_equal(alloc_get(f.a, "x-y", "a", got, pools_of), 2);
	assert_int_equal(got[0].family, IP_FAMILY_V6);
	assert_string_equal(pools_of[0], "ipv6-pool");
	assert_string_equal(pools_of[1], "ipv4-pool");
	assert_int_equal(alloc_get(f.a, "x", "nope", NULL, NULL), 0);

	/* namespace/name order: "x" sorts before "x-y" */
	struct seen {
		char text[256];
	} seen = {""};
	alloc_foreach(f.a, foreach_cb, seen.text);
	assert_string_equal(seen.text,
			    "x/b=192.168.100.0@ipv4-pool;x/z=192.168.100.1@ipv4-pool;"
			    "x-y/a=2001:db8:1::@ipv6-pool,192.168.100.2@ipv4-pool;");

	alloc_release(f.a, "x", "b");
	assert_int_equal(alloc_get(f.a, "x", "b", NULL, NULL), 0);
	alloc_release(f.a, "x", "b"); /* twice is fine */
	add_svc(&f.m, &(struct svc_spec){.name = "new", .ns = "x"});
	step(f.a, &f.m, 4, &(struct expect){"192.168.100.0", "ipv4-pool", 0, "IPAllocated"});
	fx_free(&f);
}


static void test_pool_stats(void **state)
{
	(void)state;
	struct pool_spec pools[] = {
		{.name = "b-v4", .addresses = "192.168.100.0/24", .avoid = true},
		{.name = "a-v6", .addresses = "2001:db8:1::/64", .avoid = true},
		{.name = "c-both", .addresses = "10.0.0.0/30, 10.0.1.0/24, fd00::/120",
		 .manual = true},
		{.name = "e-buggy-only", .addresses = "10.9.0.0/32,10.9.0.255/32", .avoid = true,
		 .manual = true},
	};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	add_svc(&f.m, &(struct svc_spec){.name = "s1", .policy = "Require", .families = "4,6",
					 .key = "k", .ports = "TCP/80"});
	add_svc(&f.m, &(struct svc_spec){.name = "s2", .policy = "Require", .families = "4,6",
					 .key = "k", .ports = "TCP/443"});
	add_svc(&f.m, &(struct svc_spec){.name = "s3", .policy = "Require", .families = "4,6"});
	struct alloc_result r[3];
	assert_int_equal(alloc_run_all(f.a, &f.m, r), 0);
	check("s2", &r[1], 0,
	      &(struct expect){"192.168.100.1,2001:db8:1::1", NULL, 0, "IPAllocated"});
	for (int i = 0; i < 3; i++)
		alloc_result_free(&r[i]);

	struct alloc_pool_stats *ps;
	size_t n = alloc_pool_stats(f.a, &ps);
	assert_int_equal(n, 4);
	assert_string_equal(ps[0].name, "a-v6");
	assert_true(ps[0].total_v4 == 0);
	assert_true(ps[0].total_v6 == ((u128)1 << 64) - 1); /* without 2001:db8:1:: */
	assert_false(ps[0].total_v6_overflow);
	assert_true(ps[0].in_use_v6 == 2); /* shared address counted once */
	assert_string_equal(ps[1].name, "b-v4");
	assert_true(ps[1].total_v4 == 254);
	assert_true(ps[1].in_use_v4 == 2);
	assert_string_equal(ps[2].name, "c-both");
	assert_true(ps[2].total_v4 == 4 + 256);
	assert_true(ps[2].total_v6 == 256);
	assert_true(ps[2].in_use_v4 == 0);
	assert_string_equal(ps[3].name, "e-buggy-only");
	assert_true(ps[3].total_v4 == 0);
	free(ps);
	fx_free(&f);

	/* The whole IPv6 space does not fit a u128. */
	struct pool_spec all[] = {{.name = "all", .addresses = "::/0"},
				  {.name = "halves", .addresses = "::/1, 8000::/1",
				   .manual = true}};
	fx_init(&f, all, 1);
	add_svc(&f.m, &(struct svc_spec){.name = "s", .families = "6"});
	step(f.a, &f.m, 0, &(struct expect){"::", "all", 0, "IPAllocated"});
	n = alloc_pool_stats(f.a, &ps);
	assert_int_equal(n, 1);
	assert_true(ps[0].total_v6_overflow);
	assert_true(ps[0].in_use_v6 == 1);
	free(ps);
	/* Held addresses stay valid in a pool with autoAssign false. */
	fx_reconfigure(&f, &all[1], 1);
	step(f.a, &f.m, 0, &(struct expect){"::", "halves", 0, ""});
	n = alloc_pool_stats(f.a, &ps);
	assert_true(ps[0].total_v6_overflow);
	assert_true(ps[0].in_use_v6 == 1);
	free(ps);
	fx_free(&f);
}

/* Same input, any order of m->services: same results. */
static void build_mixed(struct model *m, const size_t *perm, size_t n)
{
	struct pool_spec pools[] = {
		{.name = "v4", .addresses = "10.0.0.0/28", .avoid = true},
		{.name = "v6", .addresses = "fd00::/125"},
		{.name = "prio", .addresses = "10.1.0.0/30", .priority = 1, .namespaces = "b"},
	};
	model_init(m, NULL);
	for (size_t i = 0; i < NP(pools); i++)
		add_pool(m, &pools[i]);
	static const char *policies[] = {"Single", "Prefer", "Require"};
	static const char *fams[] = {"4", "4,6", "6,4"};
	for (size_t k = 0; k < n; k++) {
		size_t i = perm[k];
		char name[16], ns[4], ingress[32] = "", key[8] = "", ports[16];
		snprintf(name, sizeof(name), "svc%02zu", i);
		snprintf(ns, sizeof(ns), "%c", (int)('a' + i % 3));
		if (i % 7 == 3)
			snprintf(ingress, sizeof(ingress), "10.0.0.%zu", 14 - i % 5);
		if (i % 5 == 0)
			snprintf(key, sizeof(key), "k%zu", i % 2);
		snprintf(ports, sizeof(ports), "TCP/%zu", 80 + i % 4);
		const char *pol = policies[i % 3];
		add_svc(m, &(struct svc_spec){.name = name, .ns = ns, .policy = pol,
					      .families = i % 3 ? fams[i % 3] : fams[0],
					      .ingress = *ingress ? ingress : NULL,
					      .key = *key ? key : NULL, .ports = ports});
	}
}

static char *describe(const struct service *s, const struct alloc_result *r)
{
	char *a = join_addrs(r), *p = join_pools(r);
	char *d = xasprintf("%s/%s [%s] [%s]", s->meta.namespace_, s->meta.name, a, p);
	free(a);
	free(p);
	for (size_t i = 0; i < r->nevents; i++) {
		char *t = xasprintf("%s %s:%s", d, r->events[i].reason, r->events[i].message);
		free(d);
		d = t;
	}
	return d;
}

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void test_run_all_deterministic(void **state)
{
	(void)state;
	enum { N = 30 };
	char *first[N];
	size_t fails0 = 0;
	for (int round = 0; round < 4; round++) {
		size_t perm[N];
		for (size_t i = 0; i < N; i++)
			perm[i] = i;
		if (round == 1)
			for (size_t i = 0; i < N; i++)
				perm[i] = N - 1 - i;
		if (round >= 2) {
			srand((unsigned)round);
			for (size_t i = N - 1; i > 0; i--) {
				size_t j = (size_t)rand() % (i + 1), t = perm[i];
				perm[i] = perm[j];
				perm[j] = t;
			}
		}
		struct model m;
		build_mixed(&m, perm, N);
		struct alloc *a = alloc_new();
		alloc_set_config(a, &m);
		struct alloc_result r[N];
		size_t fails = alloc_run_all(a, &m, r);
		char *got[N];
		for (size_t i = 0; i < N; i++) {
			got[i] = describe(&m.services[i], &r[i]);
			alloc_result_free(&r[i]);
		}
		qsort(got, N, sizeof(char *), str_cmp);
		if (round == 0) {
			memcpy(first, got, sizeof(got));
			fails0 = fails;
			assert_true(fails > 0 && fails < N); /* the pools are small */
		} else {
			assert_int_equal(fails, fails0);
			for (size_t i = 0; i < N; i++) {
				assert_string_equal(got[i], first[i]);
				free(got[i]);
			}
		}
		alloc_free(a);
		model_free(&m);
	}
	for (size_t i = 0; i < N; i++)
		free(first[i]);
}

static void test_run_all_releases_deleted(void **state)
{
	(void)state;
	struct pool_spec pools[] = {{.name = "p", .addresses = "10.0.0.0/30"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	add_svc(&f.m, &(struct svc_spec){.name = "a"});
	add_svc(&f.m, &(struct svc_spec){.name = "b"});
	struct alloc_result r[2];
	alloc_run_all(f.a, &f.m, r);
	alloc_result_free(&r[0]);
	alloc_result_free(&r[1]);
	/* "a" is deleted; a new Service appears */
	reset_svc(&f.m, 0, &(struct svc_spec){.name = "c"});
	alloc_run_all(f.a, &f.m, r);
	check("c", &r[0], 0, &(struct expect){"10.0.0.0", "p", 0, "IPAllocated"});
	check("b", &r[1], 0, &(struct expect){"10.0.0.1", "p", 0, ""});
	alloc_result_free(&r[0]);
	alloc_result_free(&r[1]);
	assert_int_equal(alloc_get(f.a, "default", "a", NULL, NULL), 0);
	fx_free(&f);
}

/* Single-stack allocation and release at random, compared with a scan of
 * the pool from its first address. */
static void test_random_vs_first_free_scan(void **state)
{
	(void)state;
	for (int avoid = 0; avoid < 2; avoid++) {
		/* two ranges, out of order, crossing /24 boundaries */
		struct pool_spec pools[] = {{.name = "p",
					     .addresses = "10.0.3.250-10.0.4.9, "
							  "10.0.0.200-10.0.1.60",
					     .avoid = avoid}};
		u128 lo[2] = {(10u << 24) | 200, (10u << 24) | (3u << 8) | 250};
		u128 hi[2] = {(10u << 24) | (1u << 8) | 60, (10u << 24) | (4u << 8) | 9};
		struct fixture f;
		fx_init(&f, pools, NP(pools));
		enum { NS = 150 };
		for (int i = 0; i < NS; i++) {
			char name[8];
			snprintf(name, sizeof(name), "s%d", i);
			add_svc(&f.m, &(struct svc_spec){.name = name});
		}
		u128 held[NS];
		bool has[NS] = {false};
		srand(99 + (unsigned)avoid);
		for (int it = 0; it < 3000; it++) {
			int i = rand() % NS;
			if (has[i] && rand() % 2) {
				alloc_release(f.a, "default", f.m.services[i].meta.name);
				has[i] = false;
				continue;
			}
			if (has[i])
				continue;
			/* brute force: first address of the pool held by nobody */
			bool found = false;
			u128 want = 0;
			for (int r = 0; r < 2 && !found; r++)
				for (u128 v = lo[r]; v <= hi[r] && !found; v++) {
					unsigned o = (unsigned)(v & 0xff);
					if (avoid && (o == 0 || o == 255))
						continue;
					bool used = false;
					for (int k = 0; k < NS && !used; k++)
						used = has[k] && held[k] == v;
					if (!used) {
						want = v;
						found = true;
					}
				}
			struct alloc_result res;
			int rc = alloc_service(f.a, &f.m, &f.m.services[i], &res);
			if (!found) {
				assert_int_equal(rc, -1);
			} else {
				assert_int_equal(rc, 0);
				assert_int_equal(res.naddrs, 1);
				if (res.addrs[0].v != want) {
					char b1[IP_STR_MAX], b2[IP_STR_MAX];
					struct ip_addr w = {.v = want, .family = IP_FAMILY_V4};
					fail_msg("avoid=%d it=%d: got %s want %s", avoid, it,
						 ip_format(&res.addrs[0], b1), ip_format(&w, b2));
				}
				held[i] = want;
				has[i] = true;
			}
			alloc_result_free(&res);
		}
		fx_free(&f);
	}
}

/* Sharing at random (keys, backends, ports, releases), compared with a
 * scan of the pool for the first address that is free or whose holders all
 * share with the Service. */
struct rnd_svc {
	const char *key;     /* NULL: no sharing */
	const char *sel;     /* selector when Local, NULL for Cluster */
	int ports[2];        /* encoded proto*100000 + port */
	size_t nports;
};

static bool rnd_compatible(const struct rnd_svc *a, const struct rnd_svc *b)
{
	if (!a->key || !b->key || strcmp(a->key, b->key) != 0)
		return false;
	if ((a->sel == NULL) != (b->sel == NULL) || (a->sel && strcmp(a->sel, b->sel) != 0))
		return false;
	for (size_t i = 0; i < a->nports; i++)
		for (size_t j = 0; j < b->nports; j++)
			if (a->ports[i] == b->ports[j])
				return false;
	return true;
}

static void test_random_sharing_vs_scan(void **state)
{
	(void)state;
	enum { NS = 120, NA = 32 };
	static const char *keys[] = {NULL, "a", "b"};
	static const char *sels[] = {NULL, "app=x", "app=y"};
	static const char *protos[] = {"TCP", "UDP"};
	static const int portnums[] = {53, 80, 443};
	struct pool_spec pools[] = {{.name = "p", .addresses = "10.0.0.0/27"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	struct rnd_svc spec[NS];
	srand(4242);
	for (int i = 0; i < NS; i++) {
		struct rnd_svc *r = &spec[i];
		r->key = keys[rand() % 3];
		r->sel = rand() % 4 ? NULL : sels[1 + rand() % 2];
		r->nports = 1 + (size_t)(rand() % 2);
		char ports[64] = "";
		for (size_t k = 0; k < r->nports; k++) {
			int pr = rand() % 2, pn = portnums[rand() % 3];
			r->ports[k] = pr * 100000 + pn;
			if (k == 1 && r->ports[1] == r->ports[0])
				r->ports[1] = (1 - pr) * 100000 + pn;
			snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), "%s%s/%d",
				 k ? "," : "", protos[r->ports[k] / 100000], r->ports[k] % 100000);
		}
		char name[8];
		snprintf(name, sizeof(name), "s%d", i);
		add_svc(&f.m, &(struct svc_spec){.name = name, .key = r->key, .ports = ports,
						 .local = r->sel != NULL, .selector = r->sel});
	}
	int held[NS];
	for (int i = 0; i < NS; i++)
		held[i] = -1;
	int nshared = 0, nfull = 0;
	for (int it = 0; it < 4000; it++) {
		int i = rand() % NS;
		if (held[i] >= 0) {
			if (rand() % 2) {
				alloc_release(f.a, "default", f.m.services[i].meta.name);
				held[i] = -1;
			}
			continue;
		}
		int want = -1;
		for (int v = 0; v < NA && want < 0; v++) {
			bool ok = true;
			for (int k = 0; k < NS && ok; k++)
				if (held[k] == v)
					ok = rnd_compatible(&spec[i], &spec[k]);
			if (ok)
				want = v;
		}
		struct alloc_result res;
		int rc = alloc_service(f.a, &f.m, &f.m.services[i], &res);
		if (want < 0) {
			nfull++;
			if (rc != -1)
				fail_msg("it=%d s%d: got an address, want none", it, i);
		} else {
			for (int k = 0; k < NS; k++)
				nshared += held[k] == want;
			if (rc != 0 || res.naddrs != 1 || (int)(res.addrs[0].v & 0xff) != want) {
				dump("random sharing", &res, rc);
				fail_msg("it=%d s%d: want 10.0.0.%d", it, i, want);
			}
			held[i] = want;
		}
		alloc_result_free(&res);
	}
	/* both sharing and a full pool happened, many times */
	assert_true(nshared > 100);
	assert_true(nfull > 100);
	fx_free(&f);
}

/* Many Services under one key with the same port: none can share, and the
 * search must not look at every address of the key each time. */
static void test_same_key_same_port_many(void **state)
{
	(void)state;
	struct pool_spec pools[] = {{.name = "p", .addresses = "10.0.0.0/8"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	enum { N = 30000 };
	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%05d", i);
		add_svc(&f.m, &(struct svc_spec){.name = name, .key = "true",
						 .ports = i % 3 ? "TCP/443" : "TCP/443,UDP/443"});
	}
	for (int i = 0; i < N; i++) {
		struct alloc_result r;
		assert_int_equal(alloc_service(f.a, &f.m, &f.m.services[i], &r), 0);
		assert_true(r.addrs[0].v == ((u128)10 << 24) + (u128)i);
		alloc_result_free(&r);
	}
	/* A Service under the key with another port shares the first one. */
	add_svc(&f.m, &(struct svc_spec){.name = "web", .key = "true", .ports = "TCP/80"});
	step(f.a, &f.m, N, &(struct expect){"10.0.0.0", "p", 0, "IPAllocated"});
	fx_free(&f);
}

/* Records in several size classes (16-byte steps: in "default", names of
 * 10 and 11, 26 and 27 characters straddle a step), the last class (378)
 * and past it (379 and more: blocks of malloc's), with one port (kept in
 * the record) and two (a block of their own): sharing reads the ports of
 * each; released and allocated again, each record is found by its key. */
static void test_record_sizes_and_ports(void **state)
{
	(void)state;
	struct pool_spec pools[] = {{.name = "p", .addresses = "10.0.0.0/8"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	static const size_t lens[] = {1, 10, 11, 26, 27, 100, 200, 300, 378, 379, 400};
	enum { N = sizeof(lens) / sizeof(lens[0]) };
	char names[N][401];
	for (size_t i = 0; i < N; i++) {
		memset(names[i], 'a' + (int)(i % 26), lens[i]);
		names[i][lens[i]] = '\0';
		add_svc(&f.m, &(struct svc_spec){.name = names[i], .key = "k",
						 .ports = i % 2 ? "TCP/80,UDP/53" : "TCP/80"});
	}
	/* Each takes an address of its own: every one holds TCP/80. */
	for (size_t i = 0; i < N; i++) {
		char want[32];
		snprintf(want, sizeof(want), "10.0.0.%zu", i);
		step(f.a, &f.m, i, &(struct expect){want, "p", 0, "IPAllocated"});
	}
	/* Another port under the key shares the lowest address. */
	add_svc(&f.m, &(struct svc_spec){.name = "web", .key = "k", .ports = "TCP/443"});
	step(f.a, &f.m, N, &(struct expect){"10.0.0.0", "p", 0, "IPAllocated"});
	for (size_t i = 0; i < N; i++) {
		alloc_release(f.a, "default", names[i]);
		assert_int_equal(alloc_get(f.a, "default", names[i], NULL, NULL), 0);
	}
	for (size_t i = 0; i < N; i++) {
		struct alloc_result r;
		assert_int_equal(alloc_service(f.a, &f.m, &f.m.services[i], &r), 0);
		assert_int_equal(r.naddrs, 1);
		alloc_result_free(&r);
		assert_int_equal(alloc_get(f.a, "default", names[i], NULL, NULL), 1);
	}
	fx_free(&f);
}

/* A larger run for the scale rules: consecutive addresses, nothing lost. */
static void test_many_dual_stack(void **state)
{
	(void)state;
	struct pool_spec pools[] = {{.name = "v4", .addresses = "10.20.0.0/16"},
				    {.name = "v6", .addresses = "2001:db8:1::/64"}};
	struct fixture f;
	fx_init(&f, pools, NP(pools));
	enum { N = 20000 };
	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "svc-%05d", i);
		add_svc(&f.m, &(struct svc_spec){.name = name, .policy = "Require",
						 .families = "4,6"});
	}
	struct alloc_result *r = xcalloc(N, sizeof(*r));
	assert_int_equal(alloc_run_all(f.a, &f.m, r), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].naddrs, 2);
		assert_true(r[i].addrs[0].v == (((u128)10 << 24) | (20u << 16)) + (u128)i);
		assert_true((uint64_t)r[i].addrs[1].v == (uint64_t)i);
		alloc_result_free(&r[i]);
	}
	free(r);
	struct alloc_pool_stats *ps;
	alloc_pool_stats(f.a, &ps);
	assert_true(ps[0].in_use_v4 == N);
	assert_true(ps[1].in_use_v6 == N);
	free(ps);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_adopts_ingress),
		cmocka_unit_test(test_contested),
		cmocka_unit_test(test_adoption_conflict),
		cmocka_unit_test(test_restart_keeps_held),
		cmocka_unit_test(test_update_gives_freed_to_waiting),
		cmocka_unit_test(test_config_change_keeps_and_clears),
		cmocka_unit_test(test_prefer_gains_second_family),
		cmocka_unit_test(test_prefer_gains_primary_later),
		cmocka_unit_test(test_require_never_half),
		cmocka_unit_test(test_sharing_lowest_address_wins),
		cmocka_unit_test(test_release_foreach_get),
		cmocka_unit_test(test_pool_stats),
		cmocka_unit_test(test_run_all_deterministic),
		cmocka_unit_test(test_run_all_releases_deleted),
		cmocka_unit_test(test_random_vs_first_free_scan),
		cmocka_unit_test(test_random_sharing_vs_scan),
		cmocka_unit_test(test_same_key_same_port_many),
		cmocka_unit_test(test_many_dual_stack),
		cmocka_unit_test(test_record_sizes_and_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
