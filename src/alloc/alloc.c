/*
 * The address allocator (see alloc.h for the rules it follows and where
 * they differ from MetalLB's controller).
 *
 * State, and how one alloc_service() call moves through it:
 *
 *   pools     copied from the model by alloc_set_config(), sorted by name.
 *             Per family: the ranges sorted by start, and the addresses in
 *             use as merged runs in an ipset.  An IPv4 family with
 *             avoidBuggyIPs works in "compressed" coordinates that leave out
 *             every x.y.z.0 and x.y.z.255, so that the ipset's "next free
 *             value" never lands on an address the pool may not hand out and
 *             the runs of a full pool stay merged across /24 boundaries; an
 *             IPv6 family with avoidBuggyIPs likewise leaves out the first
 *             address of every /64 (the Subnet-Router anycast address, an
 *             ironlb extension), which a Service may still ask for.
 *   records   Service "namespace/name" -> what it holds (addresses, their
 *             pools) and what decides sharing (key, backend, ports).  They
 *             outlive configuration changes and are re-checked lazily.
 *   holdings  address -> the record holding it, or a block listing the
 *             records when it is shared (see "holdings" below).
 *   keys      (allow-shared-ip key, backend) -> the addresses held under
 *             it, and per port the addresses where that port is taken, so
 *             that a sharing Service finds the lowest address it can share
 *             by skipping whole runs of clashing addresses, not by looking
 *             at each one.
 *
 * alloc_service(): take the record's addresses out of the indexes (so that
 * every check below sees only other Services), decide which of them are
 * still valid, find addresses for the families still missing (requested
 * addresses, else the annotated pools, else the automatic pools), apply the
 * IP family policy (all-or-nothing unless PreferDualStack), then put the
 * result back into the indexes and describe it with MetalLB's events.
 */
#include "alloc/alloc.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/ipset.h"
#include "base/hashmap.h"
#include "base/slab.h"
#include "base/util.h"

/* Index of a family in the per-family arrays. */
static int fam_idx(enum ip_family f)
{
	return f == IP_FAMILY_V6 ? 1 : 0;
}

static enum ip_family idx_fam(int i)
{
	return i ? IP_FAMILY_V6 : IP_FAMILY_V4;
}

/* ------------------------------------------------------------------ */
/* hash keys (base/hashmap.h) */

/* Records are keyed by "namespace\0name" and sharing keys by
 * "key\0backend" ("key" alone without a backend): NUL cannot occur in
 * either part, so the encoding is unambiguous.  Lookups build the key on
 * the stack (on the heap when it is long). */
struct ckey {
	char *p;
	size_t len;
	char buf[320];
};

static void ckey_make(struct ckey *k, const char *a, const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) + 1 : 0;
	k->len = la + lb;
	k->p = k->len + 1 <= sizeof(k->buf) ? k->buf : xmalloc(k->len + 1);
	memcpy(k->p, a, la + 1);
	if (b)
		memcpy(k->p + la + 1, b, lb);
}

static void ckey_done(struct ckey *k)
{
	if (k->p != k->buf)
		free(k->p);
}

/* Holdings are kept in one map per family, keyed by the bytes of the
 * address value (an unsigned __int128 has no padding). */
#define ADDR_KEY(a) ((const char *)&(a)->v), sizeof((a)->v)

/* ------------------------------------------------------------------ */
/* state */

/* Records are kept in slabs by size, in steps of REC_CLASS bytes (the
 * key's length varies); a record longer than the last class (a key of
 * hundreds of bytes, which Kubernetes names do not reach) is a block of
 * malloc's. */
#define REC_CLASS 16
#define REC_NCLASSES 32

struct aport {
	char proto[8];
	int port;
};

/* What one Service holds, and what decides whom it may share with.  One
 * per Service (tens of thousands): the addresses as their values' bytes
 * and families (two struct ip_addr would take 64 bytes and align the
 * record to 16), namespace and name only in the key, the pointers, then
 * the counts and flags packed at the end, so that nothing is padding.
 * rec_addr() and rec_ns()/rec_name() read them.  The one port most
 * Services have is in the record (ports points at port1), and the record
 * is in a slab of its size class (see rec_new()): both are kept as long
 * as the Service, and a block of malloc's of their own each landed among
 * the short-lived blocks of the pass that made them (event texts, change
 * lists), holding those blocks' pages resident once they were freed. */
struct rec {
	unsigned char av[2][sizeof(u128)];  /* addresses, ingress order: values' bytes */
	const char *pools[2];   /* interned pool names */
	char *sharing_key;      /* NULL: shares with nobody */
	char *backend;          /* selector text under externalTrafficPolicy Local */
	struct aport *ports;
	char *additional_msg;   /* last AdditionalAssignFailed reason reported */
	char *failure;          /* message of the last Warning event, NULL after success */
	/* Adopted by alloc_run_all() before any Service allocates: what the
	 * Service's status said it held (alloc_service() judges these). */
	struct ip_addr *adopt;  /* two, allocated only while adopting */
	/* When the Service asked (service_asked_cmp()): who keeps an address
	 * two Services want, and the order in which waiting ones are served. */
	uint64_t created_us, seen;
	unsigned mark;
	/* Index + 1 in alloc.waiters, the Services waiting for addresses
	 * (failed, or short of a family under PreferDualStack) that a freed
	 * address must find; 0 when not waiting. */
	uint32_t widx;
	uint32_t nports;
	struct aport port1;     /* ports[0] when nports == 1 */
	uint8_t afam[2];        /* enum ip_family of av[i] */
	uint8_t naddrs;         /* at most 2 */
	uint8_t nadopt;         /* at most 2 */
	bool adopting;
	/* "ns\0name\0": the hash key, one allocation with the record */
	char key[];             /* one allocation with the record */
};

static struct ip_addr rec_addr(const struct rec *r, size_t i)
{
	struct ip_addr a = {.family = (enum ip_family)r->afam[i]};
	memcpy(&a.v, r->av[i], sizeof(a.v));
	return a;
}

static void rec_set_addr(struct rec *r, size_t i, const struct ip_addr *a)
{
	memcpy(r->av[i], &a->v, sizeof(r->av[i]));
	r->afam[i] = (uint8_t)a->family;
}

/* The record's addresses as struct ip_addr, in ingress order. */
static size_t rec_addrs(const struct rec *r, struct ip_addr out[2])
{
	for (size_t i = 0; i < r->naddrs; i++)
		out[i] = rec_addr(r, i);
	return r->naddrs;
}

static const char *rec_ns(const struct rec *r)
{
	return r->key;
}

static const char *rec_name(const struct rec *r)
{
	return r->key + strlen(r->key) + 1;
}

/* An address held by more than one Service (shared), and those Services.
 * An address held by one Service, the rule, has no such block: see
 * "holdings" below. */
struct holding {
	unsigned char v[sizeof(u128)];   /* the bytes of the address's value: the hash key */
	uint32_t nrest;
	struct rec *first;
	struct rec **rest;
};

/* The addresses of one shkey on which a port is in use. */
struct portset {
	struct aport port;
	struct ipset set[2];
};

/* The addresses held under one allow-shared-ip key by Services with one
 * backend (every holder of an address has the same key and backend), and
 * per port the addresses where it is taken: an address r can share is a
 * member of r's shkey outside the portsets of r's ports. */
struct shkey {
	char *key;              /* one allocation with backend: the hash key */
	char *backend;          /* NULL: none (externalTrafficPolicy Cluster) */
	size_t klen;
	struct ipset set[2];
	size_t nports;
	struct portset *ports;  /* sorted by port, then protocol */
};

/* A range of a pool family in that family's coordinates. */
struct crange {
	u128 lo, hi;
};

struct pool_fam {
	size_t nranges;
	struct crange *r;       /* sorted, disjoint, non-empty */
	bool compressed;        /* avoidBuggyIPs: coordinates skip addresses */
	bool v6;                /* IPv6: /64 blocks in compressed coordinates */
	struct ipset in_use;
	u128 total;
	bool total_overflow;
};

struct apool {
	const char *name;       /* interned */
	bool auto_assign;
	bool has_sa;
	int priority;
	size_t nnamespaces;
	char **namespaces;
	size_t nns_sel;
	struct label_selector *ns_sel;
	size_t nsvc_sel;
	struct label_selector *svc_sel;
	struct pool_fam fam[2];
};

/* Every pool range of one family in real addresses, for "which pool holds
 * this address". */
struct range_ix {
	u128 lo, hi;
	size_t pool;
};

struct alloc {
	char *lb_class;
	size_t npools;
	struct apool *pools;    /* name order */
	size_t *auto_order;     /* pool indices: serviceAllocation, priority, name */
	size_t nix[2];
	struct range_ix *ix[2];
	struct hashmap recs, keys;   /* rec, shkey */
	struct hashmap holdings[2];  /* holding, per family */
	struct slab holding_slab;    /* the holdings, packed (base/slab.h) */
	struct slab rec_slabs[REC_NCLASSES];  /* the records, by size class */
	size_t nnames;
	char **names;           /* interned pool names, kept until alloc_free */
	unsigned epoch;
	struct rec **waiters;   /* in no order; rec.widx is the index + 1 */
	size_t nwaiters, capwaiters;
};

/* ------------------------------------------------------------------ */
/* small helpers */

static bool str_eq_null(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Append "sep + formatted text" to *s (just the text when *s is NULL). */
static void __attribute__((format(printf, 3, 4))) sappend(char **s, const char *sep,
							  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *t = xvasprintf(fmt, ap);
	va_end(ap);
	if (!*s) {
		*s = t;
		return;
	}
	char *n = xasprintf("%s%s%s", *s, sep, t);
	free(*s);
	free(t);
	*s = n;
}

static char *fmt_ip(const struct ip_addr *a, char buf[IP_STR_MAX])
{
	return ip_format(a, buf);
}

/* ["a" "b"], as Go prints a []net.IP with %q. */
static char *fmt_ip_list(const struct ip_addr *v, size_t n)
{
	char *s = xstrdup("[");
	for (size_t i = 0; i < n; i++) {
		char b[IP_STR_MAX];
		char *t = xasprintf("%s%s\"%s\"", s, i ? " " : "", fmt_ip(&v[i], b));
		free(s);
		s = t;
	}
	char *t = xasprintf("%s]", s);
	free(s);
	return t;
}

/* "a", "b" */
static char *fmt_names(char *const *names, size_t n)
{
	char *s = NULL;
	for (size_t i = 0; i < n; i++)
		sappend(&s, ", ", "\"%s\"", names[i]);
	return s ? s : xstrdup("");
}

static void add_event(struct alloc_result *out, const char *type, const char *reason,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add_event(struct alloc_result *out, const char *type, const char *reason,
		      const char *fmt, ...)
{
	struct alloc_event *e = VEC_PUSH(out->events, out->nevents);
	e->type = xstrdup(type);
	e->reason = xstrdup(reason);
	va_list ap;
	va_start(ap, fmt);
	e->message = xvasprintf(fmt, ap);
	va_end(ap);
}

static const char *intern(struct alloc *a, const char *name)
{
	for (size_t i = 0; i < a->nnames; i++)
		if (strcmp(a->names[i], name) == 0)
			return a->names[i];
	char **slot = VEC_PUSH(a->names, a->nnames);
	*slot = xstrdup(name);
	return *slot;
}

/* --- compressed coordinates (avoidBuggyIPs) ---
 *
 * An address is a block (v >> shift) and an offset in it.  The offsets
 * kept are 1..width: IPv4 blocks are /24s (width 254: .0 and .255 left
 * out), IPv6 blocks are /64s (width 2^64 - 1: the all-zeros interface
 * identifier left out).  The compressed value is block * width + offset - 1,
 * which fits in 128 bits for both. */

struct comp {
	unsigned shift;
	u128 width;
};

static struct comp comp_of(const struct pool_fam *pf)
{
	if (pf->v6)
		return (struct comp){64, (((u128)1) << 64) - 1};
	return (struct comp){8, 254};
}

/* An address the coordinates leave out. */
static bool comp_skips(struct comp k, u128 v)
{
	u128 off = v & ((((u128)1) << k.shift) - 1);
	return off == 0 || off > k.width;
}

static bool v4_buggy(u128 v)
{
	return comp_skips((struct comp){8, 254}, v);
}

/* v must not be skipped. */
static u128 comp_to(struct comp k, u128 v)
{
	return (v >> k.shift) * k.width + ((v & ((((u128)1) << k.shift) - 1)) - 1);
}

static u128 comp_from(struct comp k, u128 c)
{
	return ((c / k.width) << k.shift) | (c % k.width + 1);
}

static u128 to_coord(const struct pool_fam *pf, u128 v)
{
	return pf->compressed ? comp_to(comp_of(pf), v) : v;
}

static u128 from_coord(const struct pool_fam *pf, u128 c)
{
	return pf->compressed ? comp_from(comp_of(pf), c) : c;
}

/* An address of the pool family that automatic allocation never hands
 * out (it has no coordinate). */
static bool fam_skips(const struct pool_fam *pf, u128 v)
{
	return pf->compressed && comp_skips(comp_of(pf), v);
}

/* ------------------------------------------------------------------ */
/* records */

static struct rec *rec_find(const struct alloc *a, const char *ns, const char *name)
{
	struct ckey k;
	ckey_make(&k, ns, name);
	struct rec *r = hashmap_get(&a->recs, k.p, k.len);
	ckey_done(&k);
	return r;
}

static size_t rec_key_len(const struct rec *r)
{
	size_t lns = strlen(r->key);
	return lns + 1 + strlen(r->key + lns + 1);
}

/* Bytes of a record whose key ("ns\0name\0") has key_len bytes before
 * its last NUL. */
static size_t rec_size(size_t key_len)
{
	return offsetof(struct rec, key) + key_len + 1;
}

/* A zeroed record of size bytes: from the slab of its size class, so that
 * the records of a pass sit side by side in pages of their own rather
 * than among the pass's short-lived blocks. */
static struct rec *rec_alloc(struct alloc *a, size_t size)
{
	size_t c = (size + REC_CLASS - 1) / REC_CLASS;
	if (c > REC_NCLASSES)
		return xcalloc(1, size);
	return slab_alloc(&a->rec_slabs[c - 1]);
}

static void rec_release(struct alloc *a, struct rec *r)
{
	size_t c = (rec_size(rec_key_len(r)) + REC_CLASS - 1) / REC_CLASS;
	if (c > REC_NCLASSES)
		free(r);
	else
		slab_free(&a->rec_slabs[c - 1], r);
}

static struct rec *rec_new(struct alloc *a, const char *ns, const char *name)
{
	size_t lns = strlen(ns), lname = strlen(name);
	struct rec *r = rec_alloc(a, rec_size(lns + 1 + lname));
	memcpy(r->key, ns, lns + 1);
	memcpy(r->key + lns + 1, name, lname + 1);
	hashmap_put(&a->recs, r->key, lns + 1 + lname, r, NULL);
	return r;
}

static void rec_set_waiting(struct alloc *a, struct rec *r, bool waiting)
{
	if ((r->widx != 0) == waiting)
		return;
	if (waiting) {
		if (a->nwaiters == a->capwaiters) {
			a->capwaiters = a->capwaiters ? 2 * a->capwaiters : 16;
			a->waiters = xrealloc(a->waiters, a->capwaiters * sizeof(*a->waiters));
		}
		a->waiters[a->nwaiters++] = r;
		r->widx = (uint32_t)a->nwaiters;
		return;
	}
	/* Swap the last one into the gap (settle() sorts them anyway). */
	size_t i = r->widx - 1;
	struct rec *last = a->waiters[--a->nwaiters];
	a->waiters[i] = last;
	last->widx = (uint32_t)(i + 1);
	r->widx = 0;
	if (a->nwaiters == 0) {
		free(a->waiters);
		a->waiters = NULL;
		a->capwaiters = 0;
	}
}

static void rec_free_params(struct rec *r)
{
	free(r->sharing_key);
	free(r->backend);
	if (r->ports != &r->port1)
		free(r->ports);
	r->sharing_key = r->backend = NULL;
	r->ports = NULL;
	r->nports = 0;
}

static int rec_cmp(const void *x, const void *y)
{
	const struct rec *a = *(struct rec *const *)x, *b = *(struct rec *const *)y;
	int c = strcmp(rec_ns(a), rec_ns(b));
	return c ? c : strcmp(rec_name(a), rec_name(b));
}

/* Who asked first (service_asked_cmp()), then namespace/name: the order
 * alloc_run_all() serves the holders in, then the others. */
static int rec_asked_cmp(const struct rec *a, const struct rec *b)
{
	int c = service_asked_cmp(a->created_us, a->seen, b->created_us, b->seen);
	return c ? c : rec_cmp(&a, &b);
}

/* --- sharing keys --- */

static struct shkey *key_find(const struct alloc *a, const char *key, const char *backend)
{
	struct ckey k;
	ckey_make(&k, key, backend);
	struct shkey *x = hashmap_get(&a->keys, k.p, k.len);
	ckey_done(&k);
	return x;
}

static void key_free(struct shkey *k)
{
	for (int f = 0; f < 2; f++)
		ipset_clear(&k->set[f]);
	for (size_t i = 0; i < k->nports; i++)
		for (int f = 0; f < 2; f++)
			ipset_clear(&k->ports[i].set[f]);
	free(k->ports);
	free(k->key);
	free(k);
}

static int aport_cmp(const struct aport *x, const struct aport *y)
{
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return strcmp(x->proto, y->proto);
}

/* Index of the port in k->ports, or where it would go (*found false). */
static size_t portset_pos(const struct shkey *k, const struct aport *port, bool *found)
{
	size_t lo = 0, hi = k->nports;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = aport_cmp(&k->ports[mid].port, port);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static const struct portset *portset_find(const struct shkey *k, const struct aport *port)
{
	bool found;
	size_t i = portset_pos(k, port, &found);
	return found ? &k->ports[i] : NULL;
}

/* r starts holding addr: index the address under r's key (when r is its
 * first holder) and r's ports on it. */
static void share_index_add(struct alloc *a, const struct rec *r, const struct ip_addr *addr,
			    bool first)
{
	struct shkey *k = key_find(a, r->sharing_key, r->backend);
	if (!k) {
		struct ckey ck;
		ckey_make(&ck, r->sharing_key, r->backend);
		k = xcalloc(1, sizeof(*k));
		k->klen = ck.len;
		k->key = xmalloc(ck.len + 1);
		memcpy(k->key, ck.p, ck.len + 1);
		k->backend = r->backend ? k->key + strlen(k->key) + 1 : NULL;
		ckey_done(&ck);
		hashmap_put(&a->keys, k->key, k->klen, k, NULL);
	}
	int fi = fam_idx(addr->family);
	if (first)
		ipset_add(&k->set[fi], addr->v, addr->v);
	for (size_t p = 0; p < r->nports; p++) {
		bool found;
		size_t i = portset_pos(k, &r->ports[p], &found);
		if (!found) {
			VEC_PUSH(k->ports, k->nports);
			memmove(&k->ports[i + 1], &k->ports[i],
				(k->nports - 1 - i) * sizeof(k->ports[0]));
			memset(&k->ports[i], 0, sizeof(k->ports[i]));
			k->ports[i].port = r->ports[p];
		}
		ipset_add(&k->ports[i].set[fi], addr->v, addr->v);
	}
}

static void share_index_remove(struct alloc *a, const struct rec *r, const struct ip_addr *addr,
			       bool last)
{
	struct shkey *k = key_find(a, r->sharing_key, r->backend);
	if (!k)
		return;
	int fi = fam_idx(addr->family);
	/* A port is used by one holder per address (holders never clash). */
	for (size_t p = 0; p < r->nports; p++) {
		bool found;
		size_t i = portset_pos(k, &r->ports[p], &found);
		if (!found)
			continue;
		struct portset *ps = &k->ports[i];
		ipset_remove(&ps->set[fi], addr->v, addr->v);
		if (ipset_nruns(&ps->set[0]) == 0 && ipset_nruns(&ps->set[1]) == 0) {
			memmove(ps, ps + 1, (k->nports - 1 - i) * sizeof(*ps));
			k->nports--;
		}
	}
	if (last)
		ipset_remove(&k->set[fi], addr->v, addr->v);
	if (ipset_nruns(&k->set[0]) == 0 && ipset_nruns(&k->set[1]) == 0 && k->nports == 0) {
		hashmap_del(&a->keys, k->key, k->klen, NULL);
		key_free(k);
	}
}

/* --- pools: lookups --- */

/* The pool whose ranges hold the address (real coordinates), or -1. */
static long pool_lookup(const struct alloc *a, const struct ip_addr *addr)
{
	if (addr->family != IP_FAMILY_V4 && addr->family != IP_FAMILY_V6)
		return -1;
	int fi = fam_idx(addr->family);
	const struct range_ix *ix = a->ix[fi];
	size_t lo = 0, hi = a->nix[fi];
	/* last range with start <= v */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix[mid].lo <= addr->v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || ix[lo - 1].hi < addr->v)
		return -1;
	return (long)ix[lo - 1].pool;
}

/* A buggy IPv4 address of an avoidBuggyIPs pool: inside the ranges, but
 * never handed out (nor requestable). */
static bool pool_avoids(const struct apool *p, const struct ip_addr *addr)
{
	return addr->family == IP_FAMILY_V4 && p->fam[0].compressed && v4_buggy(addr->v);
}

/* An address of p that is in no coordinate of its family: an avoided IPv4
 * address, or a Subnet-Router anycast address a Service asked for. */
static bool pool_skips(const struct apool *p, const struct ip_addr *addr)
{
	return fam_skips(&p->fam[fam_idx(addr->family)], addr->v);
}

static long pool_by_name(const struct alloc *a, const char *name)
{
	size_t lo = 0, hi = a->npools;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(a->pools[mid].name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* --- holdings ---
 *
 * holdings[family]: the bytes of an address's value -> who holds it.
 * With one holder, the rule, the value is that record and the key its
 * own copy of the address (rec.av), so that an address held costs a map
 * slot and nothing more; with more (sharing), the value is a struct
 * holding tagged with the low bit (records and holdings are at least
 * 8-aligned), whose own copy is the key.  An address goes back to the
 * first form when its holders drop to one. */

#define HV_SHARED ((uintptr_t)1)

static void *holders_find(const struct alloc *a, const struct ip_addr *addr)
{
	return hashmap_get(&a->holdings[fam_idx(addr->family)], ADDR_KEY(addr));
}

static struct holding *hv_shared(const void *v)
{
	return (uintptr_t)v & HV_SHARED ? (struct holding *)((uintptr_t)v & ~HV_SHARED) : NULL;
}

static size_t holders(const void *v)
{
	const struct holding *x = hv_shared(v);
	return x ? 1 + x->nrest : v ? 1 : 0;
}

static struct rec *holder_at(const void *v, size_t i)
{
	const struct holding *x = hv_shared(v);
	if (!x)
		return (struct rec *)v;
	return i == 0 ? x->first : x->rest[i - 1];
}

/* r's own copy of addr's value (the key of the address it holds alone),
 * NULL when r does not list addr. */
static const unsigned char *rec_key_of(const struct rec *r, const struct ip_addr *addr)
{
	for (size_t i = 0; i < r->naddrs; i++)
		if (r->afam[i] == (uint8_t)addr->family &&
		    memcmp(r->av[i], &addr->v, sizeof(r->av[i])) == 0)
			return r->av[i];
	return NULL;
}

/* The pool the address counts in (looked up, not kept: set_config()
 * counts every held address again under the new pools). */
static void in_use_add(struct alloc *a, const struct ip_addr *addr)
{
	long p = pool_lookup(a, addr);
	if (p < 0 || pool_skips(&a->pools[p], addr))
		return;
	struct pool_fam *pf = &a->pools[p].fam[fam_idx(addr->family)];
	u128 c = to_coord(pf, addr->v);
	ipset_add(&pf->in_use, c, c);
}

static void in_use_remove(struct alloc *a, const struct ip_addr *addr)
{
	long p = pool_lookup(a, addr);
	if (p < 0 || pool_skips(&a->pools[p], addr))
		return;
	struct pool_fam *pf = &a->pools[p].fam[fam_idx(addr->family)];
	u128 c = to_coord(pf, addr->v);
	ipset_remove(&pf->in_use, c, c);
}

/* The holders of addr become exactly {r}: r's copy of the address is the
 * key (a holding's own copy when r has none, which the callers never
 * cause). */
static void holders_set_single(struct alloc *a, struct rec *r, const struct ip_addr *addr)
{
	struct hashmap *m = &a->holdings[fam_idx(addr->family)];
	const unsigned char *key = rec_key_of(r, addr);
	if (key) {
		hashmap_put(m, (const char *)key, sizeof(addr->v), r, NULL);
		return;
	}
	struct holding *x = slab_alloc(&a->holding_slab);
	memcpy(x->v, &addr->v, sizeof(x->v));
	x->first = r;
	hashmap_put(m, (const char *)x->v, sizeof(x->v), (void *)((uintptr_t)x | HV_SHARED), NULL);
}

static void hold(struct alloc *a, struct rec *r, const struct ip_addr *addr)
{
	void *v = holders_find(a, addr);
	bool first = v == NULL;
	if (first) {
		holders_set_single(a, r, addr);
		in_use_add(a, addr);
	} else {
		struct holding *x = hv_shared(v);
		if (!x) {
			/* A second holder: the address gets a block of its own. */
			x = slab_alloc(&a->holding_slab);
			memcpy(x->v, &addr->v, sizeof(x->v));
			x->first = v;
			hashmap_put(&a->holdings[fam_idx(addr->family)], (const char *)x->v,
				    sizeof(x->v), (void *)((uintptr_t)x | HV_SHARED), NULL);
		}
		size_t nrest = x->nrest;
		*VEC_PUSH(x->rest, nrest) = r;
		x->nrest = (uint32_t)nrest;
	}
	if (r->sharing_key)
		share_index_add(a, r, addr, first);
}

static void unhold(struct alloc *a, struct rec *r, const struct ip_addr *addr)
{
	void *v = holders_find(a, addr);
	if (!v)
		return;
	size_t n = holders(v);
	size_t i = 0;
	while (i < n && holder_at(v, i) != r)
		i++;
	if (i == n)
		return;
	if (r->sharing_key)
		share_index_remove(a, r, addr, n == 1);
	struct holding *x = hv_shared(v);
	if (n > 1) {
		/* Keep the array dense: move the last holder into the gap. */
		struct rec *last = holder_at(v, n - 1);
		if (i == 0)
			x->first = last;
		else
			x->rest[i - 1] = last;
		x->nrest--;
		if (x->nrest == 0) {
			/* One holder left: its own copy is the key again. */
			holders_set_single(a, x->first, addr);
			free(x->rest);
			slab_free(&a->holding_slab, x);
		}
		return;
	}
	in_use_remove(a, addr);
	hashmap_del(&a->holdings[fam_idx(addr->family)], ADDR_KEY(addr), NULL);
	if (x) {
		free(x->rest);
		slab_free(&a->holding_slab, x);
	}
}

static void rec_unregister(struct alloc *a, struct rec *r)
{
	for (size_t i = 0; i < r->naddrs; i++)
		unhold(a, r, (struct ip_addr[1]){ rec_addr(r, i) });
	r->naddrs = 0;
}

static void rec_delete(struct alloc *a, struct rec *r)
{
	rec_unregister(a, r);
	rec_set_waiting(a, r, false);
	hashmap_del(&a->recs, r->key, rec_key_len(r), NULL);
	rec_free_params(r);
	free(r->additional_msg);
	free(r->failure);
	free(r->adopt);
	rec_release(a, r);
}

/* ------------------------------------------------------------------ */
/* Service properties */

static const char *svc_ns(const struct service *svc)
{
	return svc->meta.namespace_ ? svc->meta.namespace_ : "";
}

static const char *svc_name(const struct service *svc)
{
	return svc->meta.name ? svc->meta.name : "";
}

static bool class_matches(const struct alloc *a, const struct service *svc)
{
	const char *want = a->lb_class, *got = svc->lb_class;
	if (got && !*got)
		got = NULL;
	if (!want)
		return got == NULL;
	return got && strcmp(want, got) == 0;
}

/* Sharing inputs, as MetalLB's allocator sees them: the allow-shared-ip
 * key, the ports, and a backend key that is the selector when
 * externalTrafficPolicy is Local (Services sending traffic only to local
 * endpoints can share an address only when their endpoints are the same). */
static void rec_set_params(struct rec *r, const struct service *svc)
{
	rec_free_params(r);
	r->created_us = svc->created_us;
	r->seen = svc->seen;
	if (svc->sharing_key && *svc->sharing_key)
		r->sharing_key = xstrdup(svc->sharing_key);
	if (svc->external_traffic_policy && strcmp(svc->external_traffic_policy, "Local") == 0) {
		char *s = NULL;
		for (size_t i = 0; i < svc->selector.n; i++)
			sappend(&s, ",", "%s=%s", svc->selector.items[i].key,
				svc->selector.items[i].value);
		r->backend = s;
	}
	if (svc->nports) {
		r->ports = svc->nports == 1 ? &r->port1 : xcalloc(svc->nports, sizeof(*r->ports));
		for (size_t i = 0; i < svc->nports; i++) {
			const char *p = svc->ports[i].protocol ? svc->ports[i].protocol : "TCP";
			snprintf(r->ports[i].proto, sizeof(r->ports[i].proto), "%s", p);
			r->ports[i].port = svc->ports[i].port;
		}
		r->nports = svc->nports;
	}
}

/* Why r may not hold addr beside holder h, or NULL when it may. */
static char *holder_conflict(const struct rec *r, const struct rec *h, const char *ab)
{
	if (!h->sharing_key)
		return xasprintf("\"%s\" is in use by \"%s/%s\", which does not allow "
				 "sharing (no allow-shared-ip annotation)",
				 ab, rec_ns(h), rec_name(h));
	if (!r->sharing_key)
		return xasprintf("\"%s\" is in use by \"%s/%s\" and this Service does not "
				 "allow sharing (no allow-shared-ip annotation)",
				 ab, rec_ns(h), rec_name(h));
	if (strcmp(h->sharing_key, r->sharing_key) != 0)
		return xasprintf("\"%s\" is in use by \"%s/%s\" with sharing key \"%s\", "
				 "not \"%s\"",
				 ab, rec_ns(h), rec_name(h), h->sharing_key, r->sharing_key);
	if (!str_eq_null(h->backend, r->backend))
		return xasprintf("\"%s\" is in use by \"%s/%s\" with other backends "
				 "(with externalTrafficPolicy Local, Services share an "
				 "address only when their selectors are equal)",
				 ab, rec_ns(h), rec_name(h));
	for (size_t p = 0; p < r->nports; p++)
		for (size_t q = 0; q < h->nports; q++)
			if (r->ports[p].port == h->ports[q].port &&
			    strcmp(r->ports[p].proto, h->ports[q].proto) == 0)
				return xasprintf("port %s/%d is already in use on \"%s\" "
						 "by \"%s/%s\"",
						 r->ports[p].proto, r->ports[p].port, ab,
						 rec_ns(h), rec_name(h));
	return NULL;
}

/* Why r may not use addr next to its current holders, or NULL when it may
 * (the address is free, or every holder shares with r).  The holder named
 * is the first by namespace/name that r clashes with, so that the reason
 * does not depend on the order in which the holders came. */
static char *sharing_conflict(const struct alloc *a, const struct rec *r,
			      const struct ip_addr *addr, const struct rec **holder)
{
	const void *x = holders_find(a, addr);
	if (!x)
		return NULL;
	char ab[IP_STR_MAX];
	fmt_ip(addr, ab);
	const struct rec *best = NULL;
	char *why = NULL;
	for (size_t i = 0; i < holders(x); i++) {
		const struct rec *h = holder_at(x, i);
		if (h == r || (best && rec_cmp(&h, &best) > 0))
			continue;
		char *w = holder_conflict(r, h, ab);
		if (!w)
			continue;
		free(why);
		why = w;
		best = h;
	}
	if (holder)
		*holder = best;
	return why;
}

/* Why holder h, and not r, keeps an address both want: it asked first
 * (rec_asked_cmp()), or it held the address before r asked for it
 * (holding wins: an address is never taken from a Service that has it). */
static const char *contest_reason(const struct rec *r, const struct rec *h)
{
	if (rec_asked_cmp(h, r) > 0)
		return "it held the address already";
	if (h->created_us && h->created_us != r->created_us)
		return r->created_us ? "asked first (older creationTimestamp)"
				     : "asked first (it has a creationTimestamp, this Service none)";
	if (h->seen != r->seen)
		return "asked first (read earlier: file order, then document order)";
	return "asked first (earlier in namespace/name order)";
}

/* sharing_conflict() for an address the Service asks for or holds, and
 * why the holder it names keeps the address. */
static char *contest_conflict(const struct alloc *a, const struct rec *r,
			      const struct ip_addr *addr, const struct rec **holder)
{
	const struct rec *h = NULL;
	char *w = sharing_conflict(a, r, addr, &h);
	if (holder)
		*holder = h;
	if (!w || !h)
		return w;
	char *out = xasprintf("%s; \"%s/%s\" keeps it: %s", w, rec_ns(h), rec_name(h),
			      contest_reason(r, h));
	free(w);
	return out;
}

static const struct labels no_labels;

/* The labels of the Service's Namespace object (none when there is no such
 * object), looked up only when a pool has namespaceSelectors. */
struct nsctx {
	const struct model *m;
	const char *ns;
	const struct labels *labels;
};

static const struct labels *ns_labels(struct nsctx *c)
{
	if (c->labels)
		return c->labels;
	const struct namespace_obj *n = c->m ? model_find_namespace(c->m, c->ns) : NULL;
	/* A model assembled without its index finds nothing by name. */
	for (size_t i = 0; !n && c->m && i < c->m->nnamespaces; i++)
		if (c->m->namespaces[i].meta.name &&
		    strcmp(c->m->namespaces[i].meta.name, c->ns) == 0)
			n = &c->m->namespaces[i];
	c->labels = n ? &n->meta.labels : &no_labels;
	return c->labels;
}

/* Whether the pool's spec.serviceAllocation lets the Service use it; when
 * not, *why says which part refused. */
static bool pool_admits(const struct apool *p, const struct service *svc,
			struct nsctx *nsl, char **why)
{
	if (!p->has_sa)
		return true;
	if (p->nnamespaces || p->nns_sel) {
		bool in = false;
		for (size_t i = 0; i < p->nnamespaces && !in; i++)
			in = strcmp(p->namespaces[i], svc_ns(svc)) == 0;
		if (!in && p->nns_sel)
			in = selectors_match_any(p->ns_sel, p->nns_sel, ns_labels(nsl), false);
		if (!in) {
			if (why)
				*why = xasprintf("namespace \"%s\" is not selected by pool "
						 "\"%s\"'s spec.serviceAllocation.namespaces "
						 "or namespaceSelectors",
						 svc_ns(svc), p->name);
			return false;
		}
	}
	if (p->nsvc_sel &&
	    !selectors_match_any(p->svc_sel, p->nsvc_sel, &svc->meta.labels, false)) {
		if (why)
			*why = xasprintf("the Service's labels match none of pool \"%s\"'s "
					 "spec.serviceAllocation.serviceSelectors",
					 p->name);
		return false;
	}
	return true;
}

static bool name_listed(const struct service *svc, const char *pool)
{
	for (size_t i = 0; i < svc->npool_names; i++)
		if (strcmp(svc->pool_names[i], pool) == 0)
			return true;
	return false;
}

static char *pool_names_text(const struct service *svc)
{
	char *s = NULL;
	for (size_t i = 0; i < svc->npool_names; i++)
		sappend(&s, ",", "%s", svc->pool_names[i]);
	return s ? s : xstrdup("");
}

/* ------------------------------------------------------------------ */
/* finding addresses */

/* The lowest member of k's addresses in [v, hi] that none of r's ports
 * is taken on; conflicting runs are skipped whole. */
static int next_shareable(const struct shkey *k, int fi, const struct rec *r, u128 v, u128 hi,
			  u128 *out)
{
	while (ipset_next_member(&k->set[fi], v, hi, &v) == 0) {
		bool moved = false;
		for (size_t p = 0; p < r->nports; p++) {
			const struct portset *ps = portset_find(k, &r->ports[p]);
			u128 rlo, rhi;
			if (!ps || ipset_run_from(&ps->set[fi], v, &rlo, &rhi) != 0 || rlo > v)
				continue;
			if (rhi >= hi)
				return -1;
			v = rhi + 1;
			moved = true;
		}
		if (!moved) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* The lowest address of the pool family that r may take: free, or held
 * under r's sharing key by Services r can share with.  As MetalLB scans a
 * pool from its first address and takes the first address that is free or
 * shareable, the lower of "lowest free" and "lowest shareable" wins. */
static int pool_pick(const struct alloc *a, const struct apool *p, int fi, const struct rec *r,
		     struct ip_addr *out)
{
	const struct pool_fam *pf = &p->fam[fi];
	const struct shkey *k = r->sharing_key ? key_find(a, r->sharing_key, r->backend) : NULL;
	if (k && ipset_nruns(&k->set[fi]) == 0)
		k = NULL;
	for (size_t i = 0; i < pf->nranges; i++) {
		u128 c;
		bool have_free = ipset_next_free(&pf->in_use, pf->r[i].lo, pf->r[i].hi, &c) == 0;
		u128 free_v = have_free ? from_coord(pf, c) : 0;
		u128 lo = from_coord(pf, pf->r[i].lo);
		if (k && !(have_free && free_v == lo)) {
			u128 hi = have_free ? free_v - 1 : from_coord(pf, pf->r[i].hi);
			u128 v;
			while (lo <= hi && next_shareable(k, fi, r, lo, hi, &v) == 0) {
				struct ip_addr cand = {.v = v, .family = idx_fam(fi)};
				/* The index answers for key, backend and ports;
				 * the full check stays the judge. */
				char *why = pool_skips(p, &cand) ? xstrdup("avoided")
								  : sharing_conflict(a, r, &cand, NULL);
				if (!why) {
					*out = cand;
					return 0;
				}
				free(why);
				if (v == hi)
					break;
				lo = v + 1;
			}
		}
		if (have_free) {
			out->v = free_v;
			out->family = idx_fam(fi);
			return 0;
		}
	}
	return -1;
}

/* An address from the pools the annotation names, in the given order
 * (autoAssign does not matter; serviceAllocation still does). */
static int pick_pinned(const struct alloc *a, const struct service *svc, struct nsctx *nsl,
		       const struct rec *r, int fi, struct ip_addr *out, long *pool, char **why)
{
	size_t nwith = 0;
	char **with = NULL;
	char *refused = NULL;
	for (size_t i = 0; i < svc->npool_names; i++) {
		long p = pool_by_name(a, svc->pool_names[i]);
		if (p < 0 || a->pools[p].fam[fi].nranges == 0)
			continue;
		char *w = NULL;
		if (!pool_admits(&a->pools[p], svc, nsl, &w)) {
			sappend(&refused, "; ", "pool %s not compatible for ip assignment: %s",
				a->pools[p].name, w);
			free(w);
			continue;
		}
		if (pool_pick(a, &a->pools[p], fi, r, out) == 0) {
			free(with);
			free(refused);
			*pool = p;
			return 0;
		}
		char **slot = VEC_PUSH(with, nwith);
		*slot = svc->pool_names[i];
	}
	if (nwith) {
		char *names = fmt_names(with, nwith);
		*why = xasprintf("no available IPs in pool%s %s%s%s", nwith == 1 ? "" : "s", names,
				 refused ? "; " : "", refused ? refused : "");
		free(names);
	} else if (refused) {
		*why = refused;
		refused = NULL;
	} else {
		char *names = fmt_names(svc->pool_names, svc->npool_names);
		if (svc->npool_names == 1)
			*why = xasprintf("pool %s has no %s addresses", names,
					 ip_family_name(idx_fam(fi)));
		else
			*why = xasprintf("none of the pools %s has %s addresses", names,
					 ip_family_name(idx_fam(fi)));
		free(names);
	}
	free(with);
	free(refused);
	return -1;
}

/* Why an automatic search may not use a pool, or NULL. */
static char *auto_refusal(const struct apool *p, const struct service *svc, struct nsctx *nsl)
{
	char *w = NULL;
	if (!p->auto_assign)
		w = xasprintf("pool \"%s\" has autoAssign false, so only Services naming it in "
			      "the address-pool annotation use it",
			      p->name);
	else
		pool_admits(p, svc, nsl, &w); /* sets w when it refuses */
	return w;
}

/* An address from the pools open to automatic assignment that admit the
 * Service: those with a serviceAllocation (selecting it) first, by
 * priority (unset last) then name, then those without, by name. */
static int pick_auto(const struct alloc *a, const struct service *svc, struct nsctx *nsl,
		     const struct rec *r, int fi, struct ip_addr *out, long *pool, char **why)
{
	size_t nwith = 0, nfam = 0;
	for (size_t k = 0; k < a->npools; k++) {
		const struct apool *p = &a->pools[a->auto_order[k]];
		if (p->fam[fi].nranges == 0)
			continue;
		nfam++;
		if (!p->auto_assign || !pool_admits(p, svc, nsl, NULL))
			continue;
		nwith++;
		if (pool_pick(a, p, fi, r, out) == 0) {
			*pool = (long)a->auto_order[k];
			return 0;
		}
	}
	if (nfam == 0) {
		*why = xasprintf("no available IPs: no pool has %s addresses",
				 ip_family_name(idx_fam(fi)));
	} else if (nwith == 0) {
		/* Name a few of the pools passed over, so that the message
		 * says what to change. */
		char *excluded = NULL;
		size_t nexcl = 0;
		for (size_t k = 0; k < a->npools; k++) {
			const struct apool *p = &a->pools[a->auto_order[k]];
			if (p->fam[fi].nranges == 0 || nexcl++ >= 3)
				continue;
			char *w = auto_refusal(p, svc, nsl);
			sappend(&excluded, "; ", "%s", w);
			free(w);
		}
		*why = xasprintf("no available IPs: no pool this Service may use has %s addresses "
				 "(%s%s)",
				 ip_family_name(idx_fam(fi)), excluded, nexcl > 3 ? "; ..." : "");
		free(excluded);
	} else {
		*why = xstrdup("no available IPs");
	}
	return -1;
}

/* Whether a requested address can be had. */
static int check_requested(const struct alloc *a, const struct service *svc,
			   struct nsctx *nsl, const struct rec *r,
			   const struct ip_addr *addr, long *pool, char **why,
			   const struct rec **holder)
{
	char ab[IP_STR_MAX];
	fmt_ip(addr, ab);
	long p = pool_lookup(a, addr);
	if (p < 0) {
		*why = xasprintf("\"%s\" is not allowed in config: no pool contains it", ab);
		return -1;
	}
	const struct apool *ap = &a->pools[p];
	if (pool_avoids(ap, addr)) {
		*why = xasprintf("\"%s\" is not allowed in config: pool \"%s\" has avoidBuggyIPs "
				 "and the address ends in .%u",
				 ab, ap->name, (unsigned)(addr->v & 0xff));
		return -1;
	}
	char *w = NULL;
	if (!pool_admits(ap, svc, nsl, &w)) {
		*why = xasprintf("pool %s not compatible for ip assignment: %s", ap->name, w);
		free(w);
		return -1;
	}
	if (svc->npool_names && !name_listed(svc, ap->name)) {
		char *names = pool_names_text(svc);
		*why = xasprintf("requested loadBalancer IP \"%s\" is not compatible with "
				 "requested address pool %s: it is in pool \"%s\"",
				 ab, names, ap->name);
		free(names);
		return -1;
	}
	if ((w = contest_conflict(a, r, addr, holder))) {
		*why = w;
		return -1;
	}
	*pool = p;
	return 0;
}

/* Whether an address the Service holds may stay with it. */
static int check_held(const struct alloc *a, const struct service *svc, struct nsctx *nsl,
		      const struct rec *r, const struct ip_addr *addr, const char *was_pool,
		      long *pool, char **why)
{
	char ab[IP_STR_MAX];
	fmt_ip(addr, ab);
	long p = pool_lookup(a, addr);
	if (p < 0) {
		if (!was_pool)
			*why = xasprintf("no pool contains %s", ab);
		else if (pool_by_name(a, was_pool) >= 0)
			*why = xasprintf("pool \"%s\" no longer contains %s", was_pool, ab);
		else
			*why = xasprintf("pool \"%s\" was removed", was_pool);
		return -1;
	}
	const struct apool *ap = &a->pools[p];
	if (pool_avoids(ap, addr)) {
		*why = xasprintf("pool \"%s\" has avoidBuggyIPs and %s ends in .%u", ap->name, ab,
				 (unsigned)(addr->v & 0xff));
		return -1;
	}
	char *w = NULL;
	if (!pool_admits(ap, svc, nsl, &w)) {
		*why = xasprintf("%s is in pool \"%s\", which does not serve this Service: %s", ab,
				 ap->name, w);
		free(w);
		return -1;
	}
	if (svc->npool_names && !name_listed(svc, ap->name)) {
		char *names = pool_names_text(svc);
		*why = xasprintf("%s is in pool \"%s\", but the Service asks for address pool %s",
				 ab, ap->name, names);
		free(names);
		return -1;
	}
	if ((w = contest_conflict(a, r, addr, NULL))) {
		*why = w;
		return -1;
	}
	*pool = p;
	return 0;
}

/* ------------------------------------------------------------------ */
/* configuration */

static void labels_copy(struct labels *dst, const struct labels *src)
{
	dst->n = src->n;
	dst->items = src->n ? xcalloc(src->n, sizeof(*dst->items)) : NULL;
	for (size_t i = 0; i < src->n; i++) {
		dst->items[i].key = xstrdup(src->items[i].key);
		dst->items[i].value = xstrdup(src->items[i].value);
	}
}

static void labels_copy_free(struct labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
}

static struct label_selector *selectors_copy(const struct label_selector *src, size_t n)
{
	if (!n)
		return NULL;
	struct label_selector *dst = xcalloc(n, sizeof(*dst));
	for (size_t i = 0; i < n; i++) {
		labels_copy(&dst[i].match_labels, &src[i].match_labels);
		dst[i].nreqs = src[i].nreqs;
		dst[i].reqs = src[i].nreqs ? xcalloc(src[i].nreqs, sizeof(*dst[i].reqs)) : NULL;
		for (size_t j = 0; j < src[i].nreqs; j++) {
			const struct sel_req *s = &src[i].reqs[j];
			struct sel_req *d = &dst[i].reqs[j];
			d->key = xstrdup(s->key);
			d->op = s->op;
			d->nvalues = s->nvalues;
			d->values = s->nvalues ? xcalloc(s->nvalues, sizeof(char *)) : NULL;
			for (size_t k = 0; k < s->nvalues; k++)
				d->values[k] = xstrdup(s->values[k]);
		}
	}
	return dst;
}

static void selectors_copy_free(struct label_selector *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		labels_copy_free(&s[i].match_labels);
		for (size_t j = 0; j < s[i].nreqs; j++) {
			free(s[i].reqs[j].key);
			for (size_t k = 0; k < s[i].reqs[j].nvalues; k++)
				free(s[i].reqs[j].values[k]);
			free(s[i].reqs[j].values);
		}
		free(s[i].reqs);
	}
	free(s);
}

static void pools_free(struct alloc *a)
{
	for (size_t i = 0; i < a->npools; i++) {
		struct apool *p = &a->pools[i];
		for (size_t j = 0; j < p->nnamespaces; j++)
			free(p->namespaces[j]);
		free(p->namespaces);
		selectors_copy_free(p->ns_sel, p->nns_sel);
		selectors_copy_free(p->svc_sel, p->nsvc_sel);
		for (int f = 0; f < 2; f++) {
			free(p->fam[f].r);
			ipset_clear(&p->fam[f].in_use);
		}
	}
	free(a->pools);
	free(a->auto_order);
	free(a->ix[0]);
	free(a->ix[1]);
	a->pools = NULL;
	a->auto_order = NULL;
	a->ix[0] = a->ix[1] = NULL;
	a->nix[0] = a->nix[1] = 0;
	a->npools = 0;
}

static int crange_cmp(const void *x, const void *y)
{
	const struct crange *a = x, *b = y;
	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static int range_ix_cmp(const void *x, const void *y)
{
	const struct range_ix *a = x, *b = y;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return a->pool < b->pool ? -1 : a->pool > b->pool;
}

/* A range in the family's coordinates; false when it holds no address the
 * pool may hand out (a /32 or /31 of buggy addresses). */
static bool range_coords(const struct pool_fam *pf, const struct ip_range *r, struct crange *out)
{
	u128 lo = r->first.v, hi = r->last.v;
	if (!pf->compressed) {
		out->lo = lo;
		out->hi = hi;
		return true;
	}
	/* Move lo up and hi down to kept offsets (1..width of a block). */
	struct comp k = comp_of(pf);
	u128 bs = ((u128)1) << k.shift, mask = bs - 1;
	if ((lo & mask) == 0) {
		lo += 1;
	} else if ((lo & mask) > k.width) {
		if ((lo >> k.shift) == (~(u128)0 >> k.shift))
			return false; /* the last block: nothing above */
		lo = (lo & ~mask) + bs + 1;
	}
	if ((hi & mask) > k.width) {
		hi = (hi & ~mask) + k.width;
	} else if ((hi & mask) == 0) {
		if ((hi >> k.shift) == 0)
			return false; /* the first block: nothing below */
		hi = (hi & ~mask) - bs + k.width;
	}
	if (lo > hi)
		return false;
	out->lo = comp_to(k, lo);
	out->hi = comp_to(k, hi);
	return true;
}

static void pool_fam_build(struct pool_fam *pf, const struct pool *mp, enum ip_family f)
{
	pf->compressed = mp->avoid_buggy_ips;
	pf->v6 = f == IP_FAMILY_V6;
	ipset_init(&pf->in_use);
	for (size_t i = 0; i < mp->nranges; i++) {
		const struct ip_range *r = &mp->ranges[i];
		if (r->first.family != f || r->last.family != f || r->first.v > r->last.v)
			continue;
		struct crange c;
		if (!range_coords(pf, r, &c))
			continue;
		*VEC_PUSH(pf->r, pf->nranges) = c;
	}
	if (!pf->nranges)
		return;
	xqsort(pf->r, pf->nranges, sizeof(*pf->r), crange_cmp);
	/* Ranges of one pool do not overlap in a valid model; merging anyway
	 * keeps the totals right if they ever do. */
	size_t n = 0;
	for (size_t i = 1; i < pf->nranges; i++) {
		if (pf->r[i].lo <= pf->r[n].hi || pf->r[i].lo == pf->r[n].hi + 1) {
			if (pf->r[i].hi > pf->r[n].hi)
				pf->r[n].hi = pf->r[i].hi;
		} else {
			pf->r[++n] = pf->r[i];
		}
	}
	pf->nranges = n + 1;
	for (size_t i = 0; i < pf->nranges; i++) {
		u128 sz = pf->r[i].hi - pf->r[i].lo + 1;
		if (sz == 0 || pf->total + sz < pf->total)
			pf->total_overflow = true;
		pf->total += sz;
	}
	if (pf->total_overflow)
		pf->total = 0;
}

static int pool_name_cmp(const void *x, const void *y)
{
	const struct apool *a = x, *b = y;
	return strcmp(a->name, b->name);
}

static int auto_cmp(const void *x, const void *y, void *arg)
{
	const struct alloc *al = arg;
	const struct apool *a = &al->pools[*(const size_t *)x];
	const struct apool *b = &al->pools[*(const size_t *)y];
	/* As MetalLB: the pools whose serviceAllocation selects the Service
	 * are tried before any pool without one (pick_auto() skips the pools
	 * that do not select it), whatever their priority. */
	if (a->has_sa != b->has_sa)
		return a->has_sa ? -1 : 1;
	/* priority 1 first, ..., unset (0) last */
	unsigned pa = a->priority > 0 ? (unsigned)a->priority : ~0u;
	unsigned pb = b->priority > 0 ? (unsigned)b->priority : ~0u;
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return strcmp(a->name, b->name);
}

void alloc_set_config(struct alloc *a, const struct model *m)
{
	pools_free(a);
	size_t n = 0;
	a->pools = xcalloc(m && m->npools ? m->npools : 1, sizeof(*a->pools));
	for (size_t i = 0; m && i < m->npools; i++) {
		const struct pool *mp = &m->pools[i];
		if (mp->meta.invalid || !mp->meta.name)
			continue;
		struct apool *p = &a->pools[n];
		memset(p, 0, sizeof(*p));
		p->name = intern(a, mp->meta.name);
		p->auto_assign = mp->auto_assign;
		p->has_sa = mp->has_service_allocation;
		p->priority = mp->priority;
		p->nnamespaces = mp->nnamespaces;
		p->namespaces = mp->nnamespaces ? xcalloc(mp->nnamespaces, sizeof(char *)) : NULL;
		for (size_t j = 0; j < mp->nnamespaces; j++)
			p->namespaces[j] = xstrdup(mp->namespaces[j]);
		p->nns_sel = mp->nns_selectors;
		p->ns_sel = selectors_copy(mp->ns_selectors, mp->nns_selectors);
		p->nsvc_sel = mp->nsvc_selectors;
		p->svc_sel = selectors_copy(mp->svc_selectors, mp->nsvc_selectors);
		pool_fam_build(&p->fam[0], mp, IP_FAMILY_V4);
		pool_fam_build(&p->fam[1], mp, IP_FAMILY_V6);
		n++;
	}
	a->npools = n;
	xqsort(a->pools, n, sizeof(*a->pools), pool_name_cmp);

	a->auto_order = xcalloc(n ? n : 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		a->auto_order[i] = i;
	qsort_r(a->auto_order, n, sizeof(size_t), auto_cmp, a);

	/* Real-address index of every range (avoided addresses included:
	 * they lie in the pool, which is what lookups report). */
	for (size_t i = 0; m && i < m->npools; i++) {
		const struct pool *mp = &m->pools[i];
		if (mp->meta.invalid || !mp->meta.name)
			continue;
		long p = pool_by_name(a, mp->meta.name);
		for (size_t j = 0; j < mp->nranges; j++) {
			const struct ip_range *r = &mp->ranges[j];
			enum ip_family f = r->first.family;
			if ((f != IP_FAMILY_V4 && f != IP_FAMILY_V6) || r->last.family != f ||
			    r->first.v > r->last.v)
				continue;
			int fi = fam_idx(f);
			struct range_ix *x = VEC_PUSH(a->ix[fi], a->nix[fi]);
			x->lo = r->first.v;
			x->hi = r->last.v;
			x->pool = (size_t)p;
		}
	}
	for (int fi = 0; fi < 2; fi++)
		if (a->nix[fi])
			xqsort(a->ix[fi], a->nix[fi], sizeof(*a->ix[fi]), range_ix_cmp);

	/* Addresses held now count as in use in whichever pool holds them
	 * under the new configuration. */
	for (int fi = 0; fi < 2; fi++) {
		struct hashmap_iter it;
		hashmap_iter_init(&it, &a->holdings[fi]);
		while (hashmap_iter_next(&it)) {
			struct ip_addr addr = {.family = idx_fam(fi)};
			memcpy(&addr.v, it.key, sizeof(addr.v));
			in_use_add(a, &addr);
		}
	}
}

/* ------------------------------------------------------------------ */
/* life cycle */

struct alloc *alloc_new(void)
{
	struct alloc *a = xcalloc(1, sizeof(struct alloc));
	slab_init(&a->holding_slab, sizeof(struct holding));
	for (size_t c = 0; c < REC_NCLASSES; c++)
		slab_init(&a->rec_slabs[c], (c + 1) * REC_CLASS);
	return a;
}

void alloc_free(struct alloc *a)
{
	if (!a)
		return;
	struct hashmap_iter it;
	for (int fi = 0; fi < 2; fi++) {
		hashmap_iter_init(&it, &a->holdings[fi]);
		while (hashmap_iter_next(&it)) {
			struct holding *x = hv_shared(it.value);
			if (x) {
				free(x->rest);
				slab_free(&a->holding_slab, x);
			}
		}
		hashmap_clear(&a->holdings[fi]);
	}
	hashmap_iter_init(&it, &a->recs);
	while (hashmap_iter_next(&it)) {
		struct rec *r = it.value;
		rec_free_params(r);
		free(r->additional_msg);
		free(r->failure);
		free(r->adopt);
		rec_release(a, r);
	}
	hashmap_iter_init(&it, &a->keys);
	while (hashmap_iter_next(&it))
		key_free(it.value);
	hashmap_clear(&a->recs);
	hashmap_clear(&a->keys);
	pools_free(a);
	for (size_t i = 0; i < a->nnames; i++)
		free(a->names[i]);
	free(a->names);
	free(a->lb_class);
	free(a->waiters);
	slab_destroy(&a->holding_slab);
	for (size_t c = 0; c < REC_NCLASSES; c++)
		slab_destroy(&a->rec_slabs[c]);
	free(a);
}

void alloc_set_lb_class(struct alloc *a, const char *lb_class)
{
	free(a->lb_class);
	a->lb_class = lb_class && *lb_class ? xstrdup(lb_class) : NULL;
}

void alloc_result_free(struct alloc_result *r)
{
	for (size_t i = 0; i < r->naddrs; i++)
		free(r->pools[i]);
	for (size_t i = 0; i < r->nevents; i++) {
		free(r->events[i].type);
		free(r->events[i].reason);
		free(r->events[i].message);
	}
	free(r->events);
	free(r->held_by);
	memset(r, 0, sizeof(*r));
}

void alloc_release(struct alloc *a, const char *ns, const char *name)
{
	struct rec *r = rec_find(a, ns ? ns : "", name ? name : "");
	if (r)
		rec_delete(a, r);
}

/* ------------------------------------------------------------------ */
/* one Service */

struct held {
	struct ip_addr addr;
	const char *pool;       /* pool recorded for it, NULL when adopted */
};

/* One family the Service is to get, while alloc_service() decides. */
struct slot {
	enum ip_family fam;
	const struct ip_addr *req; /* the requested address, or NULL */
	bool have;              /* an address it held stays */
	bool found;             /* a new address was found */
	struct ip_addr addr;
	long pool;
	char *why;              /* why no address was found */
};

/* What one alloc_service() call works with. */
struct call {
	struct alloc *a;
	const struct service *svc;
	struct rec *r;
	struct nsctx ns;
	bool requested;         /* exact addresses asked for, and parsable */
	const struct rec *held_by; /* keeps an address asked for (the first) */
	struct ip_addr held_addr;
	size_t n;
	struct slot s[2];       /* ingress order */
};

/* The families to serve, primary first, without duplicates. */
static size_t wanted_families(const struct service *svc, enum ip_family out[2])
{
	enum ip_family f[2];
	size_t n = service_families(svc, f), k = 0;
	for (size_t i = 0; i < n && i < 2; i++) {
		if (f[i] != IP_FAMILY_V4 && f[i] != IP_FAMILY_V6)
			continue;
		if (k == 1 && out[0] == f[i])
			continue;
		out[k++] = f[i];
	}
	if (svc->policy == POLICY_SINGLE_STACK && k > 1)
		k = 1;
	return k;
}

static int slot_of(const struct call *c, enum ip_family f)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->s[i].fam == f)
			return (int)i;
	return -1;
}

/* Why the Service cannot be served at all, before looking at any pool; NULL
 * when it can.  Sets up the slots: the wanted families, or those of the
 * requested addresses. */
static char *plan_slots(struct call *c)
{
	const struct service *svc = c->svc;
	enum ip_family want[2];
	size_t nwant = wanted_families(svc, want);
	if (nwant == 0)
		return xstrdup("the Service has no IP family (spec.ipFamilies, spec.clusterIPs)");
	if (svc->policy == POLICY_REQUIRE_DUAL_STACK && nwant < 2)
		return xasprintf("RequireDualStack needs both IPv4 and IPv6, but the Service's IP "
				 "families are [%s]",
				 ip_family_name(want[0]));
	for (size_t i = 0; i < svc->npool_names; i++)
		if (pool_by_name(c->a, svc->pool_names[i]) < 0)
			return xasprintf("unknown pool \"%s\"", svc->pool_names[i]);
	if (svc->nrequested == 0 || svc->request_invalid) {
		for (size_t i = 0; i < nwant; i++)
			c->s[c->n++].fam = want[i];
		return NULL;
	}
	/* Requested addresses must cover exactly the Service's families; a
	 * PreferDualStack Service may ask for just one of them. */
	size_t nreq = svc->nrequested < 2 ? svc->nrequested : 2;
	const struct ip_addr *by_want[2] = {NULL, NULL};
	bool ok = true;
	for (size_t i = 0; i < nreq && ok; i++) {
		size_t w = 0;
		while (w < nwant && want[w] != svc->requested[i].family)
			w++;
		ok = w < nwant && !by_want[w];
		if (ok)
			by_want[w] = &svc->requested[i];
	}
	if (ok && svc->policy != POLICY_PREFER_DUAL_STACK && nreq != nwant)
		ok = false;
	if (!ok) {
		char *l = fmt_ip_list(svc->requested, nreq);
		char *fams = NULL;
		for (size_t i = 0; i < nwant; i++)
			sappend(&fams, " and ", "%s", ip_family_name(want[i]));
		char *msg = xasprintf("requested loadBalancer IP(s) %s does not match the "
				      "ipFamily of the service (%s, %s)",
				      l, ip_family_policy_name(svc->policy), fams);
		free(l);
		free(fams);
		return msg;
	}
	for (size_t i = 0; i < nwant; i++) {
		if (!by_want[i])
			continue;
		c->s[c->n].fam = want[i];
		c->s[c->n].req = by_want[i];
		c->n++;
	}
	c->requested = true;
	return NULL;
}

/* Mark the held addresses that may stay; the reasons for the others, for
 * the ClearAssignment event, or NULL when all stay. */
static char *keep_held(struct call *c, const struct held *prev, size_t nprev)
{
	char *clear = NULL;
	for (size_t i = 0; i < nprev; i++) {
		const struct ip_addr *h = &prev[i].addr;
		char hb[IP_STR_MAX];
		fmt_ip(h, hb);
		int t = slot_of(c, h->family);
		struct slot *sl = t >= 0 ? &c->s[t] : NULL;
		char *why = NULL;
		long p = -1;
		if (!sl && c->requested) {
			char *l = fmt_ip_list(c->svc->requested, c->svc->nrequested);
			why = xasprintf("the Service requests %s, not %s", l, hb);
			free(l);
		} else if (!sl) {
			why = xasprintf("the Service does not ask for an %s address (%s)",
					ip_family_name(h->family), hb);
		} else if (sl->have) {
			why = xasprintf("it holds two %s addresses (%s)", ip_family_name(h->family),
					hb);
		} else if (sl->req && !ip_eq(sl->req, h)) {
			char rb[IP_STR_MAX];
			why = xasprintf("the Service requests %s instead of %s",
					fmt_ip(sl->req, rb), hb);
		} else if (check_held(c->a, c->svc, &c->ns, c->r, h, prev[i].pool, &p, &why) == 0) {
			sl->have = true;
			sl->addr = *h;
			sl->pool = p;
		}
		if (why) {
			sappend(&clear, "; ", "%s", why);
			free(why);
		}
	}
	return clear;
}

static void find_missing(struct call *c)
{
	for (size_t t = 0; t < c->n; t++) {
		struct slot *sl = &c->s[t];
		if (sl->have)
			continue;
		int fi = fam_idx(sl->fam);
		int rc;
		if (c->requested) {
			const struct rec *h = NULL;
			rc = check_requested(c->a, c->svc, &c->ns, c->r, sl->req, &sl->pool,
					     &sl->why, &h);
			sl->addr = *sl->req;
			if (h && !c->held_by) {
				c->held_by = h;
				c->held_addr = *sl->req;
			}
		} else if (c->svc->npool_names) {
			rc = pick_pinned(c->a, c->svc, &c->ns, c->r, fi, &sl->addr, &sl->pool,
					 &sl->why);
		} else {
			rc = pick_auto(c->a, c->svc, &c->ns, c->r, fi, &sl->addr, &sl->pool,
				       &sl->why);
		}
		sl->found = rc == 0;
	}
}

static bool slot_served(const struct slot *sl)
{
	return sl->have || sl->found;
}

/* The AllocationFailed text when the policy is not met. */
static char *failure_text(const struct call *c, bool strict)
{
	const struct slot *s = c->s;
	if (c->n == 2 && strict) {
		const char *need = c->svc->policy == POLICY_REQUIRE_DUAL_STACK
					   ? "RequireDualStack needs both"
					   : "the Service requests both";
		const char *f0 = ip_family_name(s[0].fam), *f1 = ip_family_name(s[1].fam);
		if (!slot_served(&s[0]) && !slot_served(&s[1]))
			return xasprintf("%s %s and %s, and neither could be allocated: %s: %s; "
					 "%s: %s",
					 need, f0, f1, f0, s[0].why, f1, s[1].why);
		const struct slot *bad = slot_served(&s[0]) ? &s[1] : &s[0];
		const struct slot *good = slot_served(&s[0]) ? &s[0] : &s[1];
		char b[IP_STR_MAX];
		char *lost = good->have ? xasprintf(" (released %s rather than hold one family "
						    "only)",
						    fmt_ip(&good->addr, b))
					: xstrdup("");
		char *msg = xasprintf("%s %s and %s, but %s could not be allocated: %s%s", need,
				      f0, f1, ip_family_name(bad->fam), bad->why, lost);
		free(lost);
		return msg;
	}
	if (c->n == 2 && s[0].why && s[1].why && strcmp(s[0].why, s[1].why) != 0)
		return xasprintf("%s: %s; %s: %s", ip_family_name(s[0].fam), s[0].why,
				 ip_family_name(s[1].fam), s[1].why);
	for (size_t t = 0; t < c->n; t++)
		if (s[t].why)
			return xstrdup(s[t].why);
	return xstrdup("no available IPs");
}

/* IPAllocated for new addresses, and, for a PreferDualStack Service left
 * with one family, AdditionalAssignFailed: once per reason, since the daemon
 * re-runs every Service after each change.  A new address that hurts on a
 * LAN (model_address_warning()) gets a Warning UnsafeAddress beside its
 * IPAllocated: MetalLB hands it out, and so does ironlb. */
static void report_success(struct call *c, const struct model *m, bool cleared,
			   struct alloc_result *out)
{
	size_t nkept = 0, nnew = 0, nserved = 0;
	for (size_t t = 0; t < c->n; t++) {
		nkept += c->s[t].have;
		nnew += c->s[t].found;
		nserved += slot_served(&c->s[t]);
	}
	if (nnew && (nkept == 0 || cleared)) {
		struct ip_addr held[2];
		char *l = fmt_ip_list(held, rec_addrs(c->r, held));
		add_event(out, "Normal", "IPAllocated", "Assigned IP %s", l);
		free(l);
	} else if (nnew) {
		for (size_t t = 0; t < c->n; t++) {
			char b[IP_STR_MAX];
			if (!c->s[t].found)
				continue;
			add_event(out, "Normal", "IPAllocated", "Assigned additional IP \"%s\"",
				  fmt_ip(&c->s[t].addr, b));
		}
	}
	for (size_t t = 0; t < c->n && nnew; t++) {
		if (!c->s[t].found)
			continue;
		char *msg = model_address_warning(m, c->a->pools[c->s[t].pool].name, &c->s[t].addr);
		if (msg)
			add_event(out, "Warning", "UnsafeAddress", "%s", msg);
		free(msg);
	}
	const char *w = NULL;
	for (size_t t = 0; t < c->n && nserved < c->n; t++)
		if (!slot_served(&c->s[t]) && c->s[t].why)
			w = c->s[t].why;
	if (w && !str_eq_null(c->r->additional_msg, w)) {
		add_event(out, "Normal", "AdditionalAssignFailed",
			  "cannot assign additional IP in PreferDualStack: %s", w);
		free(c->r->additional_msg);
		c->r->additional_msg = xstrdup(w);
	} else if (!w) {
		free(c->r->additional_msg);
		c->r->additional_msg = NULL;
	}
}

int alloc_service(struct alloc *a, const struct model *m, const struct service *svc,
		  struct alloc_result *out)
{
	memset(out, 0, sizeof(*out));
	const char *ns = svc_ns(svc), *name = svc_name(svc);
	struct rec *r = rec_find(a, ns, name);
	out->ours = service_is_load_balancer(svc) && class_matches(a, svc);
	if (!out->ours) {
		/* MetalLB clears a Service that stopped being a LoadBalancer
		 * without an event. */
		if (r) {
			out->changed = r->naddrs > 0;
			rec_delete(a, r);
		}
		return 0;
	}

	/* What it holds now, taken out of the indexes for the checks. */
	struct held prev[2];
	size_t nprev = 0;
	if (!r) {
		r = rec_new(a, ns, name);
		for (size_t i = 0; i < svc->ningress && nprev < 2; i++) {
			enum ip_family f = svc->ingress[i].family;
			if (f != IP_FAMILY_V4 && f != IP_FAMILY_V6)
				continue;
			prev[nprev].addr = svc->ingress[i];
			prev[nprev].pool = NULL;
			nprev++;
		}
	} else if (r->adopting) {
		/* Adopted by alloc_run_all(): judged as on first sight. */
		for (size_t i = 0; i < r->nadopt; i++) {
			prev[nprev].addr = r->adopt[i];
			prev[nprev].pool = NULL;
			nprev++;
		}
		r->adopting = false;
		free(r->adopt);
		r->adopt = NULL;
		rec_unregister(a, r);
	} else {
		for (size_t i = 0; i < r->naddrs; i++) {
			prev[nprev].addr = rec_addr(r, i);
			prev[nprev].pool = r->pools[i];
			nprev++;
		}
		rec_unregister(a, r);
	}
	rec_set_params(r, svc);

	struct call c = {.a = a, .svc = svc, .r = r, .ns = {.m = m, .ns = ns}};
	char *key = xasprintf("%s/%s", ns, name);
	char *fail_msg = plan_slots(&c);
	bool fail = fail_msg != NULL;
	char *clear = fail ? NULL : keep_held(&c, prev, nprev);
	if (clear)
		add_event(out, "Normal", "ClearAssignment",
			  "current IP for \"%s\" not allowed by config, will attempt for new IP "
			  "assignment: %s",
			  key, clear);

	if (!fail && svc->request_invalid) {
		/* As MetalLB: report, and leave valid held addresses alone. */
		add_event(out, "Warning", "LoadBalancerFailed",
			  "invalid requested loadbalancer IPs: spec.loadBalancerIP or the "
			  "loadBalancerIPs annotation is not a valid list of addresses");
		fail = true;
	} else if (!fail) {
		find_missing(&c);
		/* Everything or nothing, except PreferDualStack without
		 * requested addresses, which takes what it can get. */
		size_t nserved = 0;
		for (size_t t = 0; t < c.n; t++)
			nserved += slot_served(&c.s[t]);
		bool strict = c.requested || svc->policy != POLICY_PREFER_DUAL_STACK;
		if (strict ? nserved < c.n : nserved == 0) {
			fail = true;
			fail_msg = failure_text(&c, strict);
		}
	}
	if (fail_msg)
		add_event(out, "Warning", "AllocationFailed",
			  "Failed to allocate IP for \"%s\": %s", key, fail_msg);
	if (fail && c.held_by) {
		out->held_by = xasprintf("%s/%s", rec_ns(c.held_by), rec_name(c.held_by));
		out->held_addr = c.held_addr;
	}

	/* Commit. */
	r->naddrs = 0;
	for (size_t t = 0; t < c.n; t++) {
		const struct slot *sl = &c.s[t];
		bool take = svc->request_invalid ? sl->have : !fail && slot_served(sl);
		if (!take)
			continue;
		rec_set_addr(r, r->naddrs, &sl->addr);
		r->pools[r->naddrs] = a->pools[sl->pool].name;
		r->naddrs++;
		hold(a, r, &sl->addr);
	}
	if (!fail)
		report_success(&c, m, clear != NULL, out);

	out->naddrs = r->naddrs;
	for (size_t i = 0; i < r->naddrs; i++) {
		out->addrs[i] = rec_addr(r, i);
		out->pools[i] = xstrdup(r->pools[i]);
	}
	out->changed = r->naddrs != nprev;
	for (size_t i = 0; i < r->naddrs && !out->changed; i++)
		out->changed = !ip_eq(&out->addrs[i], &prev[i].addr);
	free(r->failure);
	r->failure = NULL;
	for (size_t i = 0; i < out->nevents; i++)
		if (strcmp(out->events[i].type, "Warning") == 0) {
			free(r->failure);
			r->failure = xstrdup(out->events[i].message);
		}
	rec_set_waiting(a, r, fail || r->naddrs < c.n);

	for (size_t t = 0; t < c.n; t++)
		free(c.s[t].why);
	free(fail_msg);
	free(clear);
	free(key);
	return fail ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* everything */

struct run_order {
	const struct model *m;
	const bool *holds;
};

static int run_cmp(const void *x, const void *y, void *arg)
{
	const struct run_order *o = arg;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	if (o->holds[i] != o->holds[j])
		return o->holds[i] ? -1 : 1;
	const struct service *a = &o->m->services[i], *b = &o->m->services[j];
	int c = service_asked_cmp(a->created_us, a->seen, b->created_us, b->seen);
	if (!c)
		c = strcmp(svc_ns(a), svc_ns(b));
	if (!c)
		c = strcmp(svc_name(a), svc_name(b));
	if (!c)
		c = i < j ? -1 : i > j;
	return c;
}

/* Take in what a Service's status says it holds before any Service looks
 * for new addresses, so that a restart cannot hand a held address to
 * another Service that comes earlier in the order: the addresses it would
 * keep are entered (checked against those adopted before it, as
 * alloc_service() will check them), and alloc_service() later judges the
 * whole status list as on first sight. */
static void pre_adopt(struct alloc *a, const struct model *m, const struct service *svc)
{
	const char *ns = svc_ns(svc), *name = svc_name(svc);
	if (!service_is_load_balancer(svc) || !class_matches(a, svc) || rec_find(a, ns, name))
		return;
	struct rec *r = rec_new(a, ns, name);
	rec_set_params(r, svc);
	r->adopting = true;
	r->adopt = xcalloc(2, sizeof(*r->adopt));
	struct held prev[2];
	size_t nprev = 0;
	for (size_t i = 0; i < svc->ningress && nprev < 2; i++) {
		enum ip_family f = svc->ingress[i].family;
		if (f != IP_FAMILY_V4 && f != IP_FAMILY_V6)
			continue;
		r->adopt[nprev] = svc->ingress[i];
		prev[nprev].addr = svc->ingress[i];
		prev[nprev].pool = NULL;
		nprev++;
	}
	r->nadopt = nprev;
	struct call c = {.a = a, .svc = svc, .r = r, .ns = {.m = m, .ns = ns}};
	char *fail_msg = plan_slots(&c);
	if (!fail_msg) {
		free(keep_held(&c, prev, nprev));
		for (size_t t = 0; t < c.n; t++) {
			if (!c.s[t].have)
				continue;
			rec_set_addr(r, r->naddrs, &c.s[t].addr);
			r->pools[r->naddrs] = a->pools[c.s[t].pool].name;
			r->naddrs++;
			hold(a, r, &c.s[t].addr);
		}
	}
	free(fail_msg);
}

size_t alloc_run_all(struct alloc *a, const struct model *m, struct alloc_result *results)
{
	/* Services gone from the model give their addresses back first. */
	a->epoch++;
	for (size_t i = 0; i < m->nservices; i++) {
		struct rec *r = rec_find(a, svc_ns(&m->services[i]), svc_name(&m->services[i]));
		if (r)
			r->mark = a->epoch;
	}
	struct rec **gone = NULL;
	size_t ngone = 0;
	struct hashmap_iter it;
	hashmap_iter_init(&it, &a->recs);
	while (hashmap_iter_next(&it))
		if (((struct rec *)it.value)->mark != a->epoch)
			*VEC_PUSH(gone, ngone) = it.value;
	for (size_t i = 0; i < ngone; i++)
		rec_delete(a, gone[i]);
	free(gone);

	size_t n = m->nservices;
	size_t *order = xcalloc(n ? n : 1, sizeof(size_t));
	bool *holds = xcalloc(n ? n : 1, sizeof(bool));
	for (size_t i = 0; i < n; i++) {
		const struct service *s = &m->services[i];
		const struct rec *r = rec_find(a, svc_ns(s), svc_name(s));
		order[i] = i;
		holds[i] = r ? r->naddrs > 0 : s->ningress > 0;
	}
	struct run_order ro = {m, holds};
	qsort_r(order, n, sizeof(size_t), run_cmp, &ro);
	for (size_t k = 0; k < n && holds[order[k]]; k++)
		pre_adopt(a, m, &m->services[order[k]]);

	size_t failed = 0;
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		if (alloc_service(a, m, &m->services[i], &results[i]) != 0)
			failed++;
	}
	free(order);
	free(holds);
	return failed;
}

size_t alloc_pool_stats(const struct alloc *a, struct alloc_pool_stats **out)
{
	struct alloc_pool_stats *s = xcalloc(a->npools ? a->npools : 1, sizeof(*s));
	for (size_t i = 0; i < a->npools; i++) {
		const struct apool *p = &a->pools[i];
		s[i].name = p->name;
		s[i].total_v4 = p->fam[0].total;
		s[i].total_v6 = p->fam[1].total;
		s[i].total_v6_overflow = p->fam[1].total_overflow;
		if (ipset_count(&p->fam[0].in_use, &s[i].in_use_v4) != 0)
			s[i].in_use_v4 = 0;
		if (ipset_count(&p->fam[1].in_use, &s[i].in_use_v6) != 0)
			s[i].in_use_v6 = 0;
	}
	*out = s;
	return a->npools;
}

void alloc_foreach(const struct alloc *a,
		   void (*fn)(const char *ns, const char *name, size_t naddrs,
			      const struct ip_addr *addrs, char *const *pools, void *arg),
		   void *arg)
{
	struct rec **v = NULL;
	size_t n = 0;
	struct hashmap_iter it;
	hashmap_iter_init(&it, &a->recs);
	while (hashmap_iter_next(&it))
		if (((struct rec *)it.value)->naddrs)
			*VEC_PUSH(v, n) = it.value;
	if (n)
		xqsort(v, n, sizeof(*v), rec_cmp);
	for (size_t i = 0; i < n; i++) {
		char *pools[2] = {(char *)v[i]->pools[0], (char *)v[i]->pools[1]};
		struct ip_addr addrs[2];
		size_t na = rec_addrs(v[i], addrs);
		fn(rec_ns(v[i]), rec_name(v[i]), na, addrs, pools, arg);
	}
	free(v);
}

size_t alloc_get(const struct alloc *a, const char *ns, const char *name,
		 struct ip_addr addrs[2], const char *pools[2])
{
	const struct rec *r = rec_find(a, ns ? ns : "", name ? name : "");
	if (!r)
		return 0;
	for (size_t i = 0; i < r->naddrs; i++) {
		if (addrs)
			addrs[i] = rec_addr(r, i);
		if (pools)
			pools[i] = r->pools[i];
	}
	return r->naddrs;
}

const char *alloc_failure(const struct alloc *a, const char *ns, const char *name)
{
	const struct rec *r = rec_find(a, ns ? ns : "", name ? name : "");
	return r ? r->failure : NULL;
}

size_t alloc_waiting(const struct alloc *a)
{
	return a->nwaiters;
}

/* ------------------------------------------------------------------ */
/* incremental driver */

static struct alloc_change *change_push(struct alloc_changes *out, const char *ns,
					const char *name)
{
	struct alloc_change *c = VEC_PUSH(out->items, out->n);
	memset(c, 0, sizeof(*c));
	c->ns = xstrdup(ns);
	c->name = xstrdup(name);
	return c;
}

static void change_pop(struct alloc_changes *out)
{
	struct alloc_change *c = &out->items[--out->n];
	free(c->ns);
	free(c->name);
	alloc_result_free(&c->result);
}

void alloc_changes_free(struct alloc_changes *c)
{
	while (c->n)
		change_pop(c);
	free(c->items);
	c->items = NULL;
}

static int waiter_cmp(const void *x, const void *y)
{
	const struct rec *a = *(struct rec *const *)x, *b = *(struct rec *const *)y;
	/* alloc_run_all()'s order: Services holding addresses first */
	if ((a->naddrs > 0) != (b->naddrs > 0))
		return a->naddrs > 0 ? -1 : 1;
	return rec_asked_cmp(a, b);
}

/* Give what may have been freed to the Services waiting for addresses, in
 * alloc_run_all()'s order, pass after pass until a pass changes no
 * addresses: then every waiting Service has been judged against the final
 * holdings, and its result is what a run from scratch would give. */
static void settle(struct alloc *a, const struct model *m, struct alloc_changes *out)
{
	for (;;) {
		size_t n = 0;
		struct rec **v = xcalloc(a->nwaiters ? a->nwaiters : 1, sizeof(*v));
		for (size_t i = 0; i < a->nwaiters; i++)
			v[n++] = a->waiters[i];
		xqsort(v, n, sizeof(*v), waiter_cmp);
		/* Names copied: alloc_service() deletes the record of a Service
		 * that stopped being ours. */
		char **keys = xcalloc(n ? 2 * n : 1, sizeof(*keys));
		for (size_t i = 0; i < n; i++) {
			keys[2 * i] = xstrdup(rec_ns(v[i]));
			keys[2 * i + 1] = xstrdup(rec_name(v[i]));
		}
		bool moved = false;
		for (size_t i = 0; i < n; i++) {
			const char *ns = keys[2 * i], *name = keys[2 * i + 1];
			const struct service *svc = model_find_service(m, *ns ? ns : NULL, name);
			if (!svc)
				svc = model_find_service(m, ns, name);
			if (!svc)
				continue; /* gone; the caller's update for it releases it */
			const struct rec *r = rec_find(a, ns, name);
			char *before = r && r->failure ? xstrdup(r->failure) : NULL;
			struct alloc_change *c = change_push(out, ns, name);
			c->rc = alloc_service(a, m, svc, &c->result);
			r = rec_find(a, ns, name);
			const char *after = r ? r->failure : NULL;
			if (c->result.changed)
				moved = true;
			else if (str_eq_null(before, after) && (before == NULL) == (after == NULL))
				change_pop(out); /* nothing to tell */
			free(before);
		}
		for (size_t i = 0; i < 2 * n; i++)
			free(keys[i]);
		free(keys);
		free(v);
		if (!moved)
			break;
	}
}

int alloc_update_service(struct alloc *a, const struct model *m, const char *ns,
			 const char *name, struct alloc_changes *out)
{
	const char *kns = ns ? ns : "", *kname = name ? name : "";
	struct rec *r = rec_find(a, kns, kname);
	bool touches = r && r->naddrs > 0;
	const struct service *svc = name ? model_find_service(m, ns, name) : NULL;
	int rc = 0;
	if (svc) {
		struct alloc_change *c = change_push(out, kns, kname);
		rc = c->rc = alloc_service(a, m, svc, &c->result);
		touches |= c->result.naddrs > 0;
	} else if (r) {
		struct alloc_change *c = change_push(out, kns, kname);
		c->removed = true;
		c->result.changed = r->naddrs > 0;
		rec_delete(a, r);
	}
	/* A Service that held nothing before and holds nothing now changed
	 * nothing another Service could see. */
	if (touches && a->nwaiters)
		settle(a, m, out);
	return rc;
}

void alloc_update_config(struct alloc *a, const struct model *m, struct alloc_changes *out)
{
	alloc_set_config(a, m);
	/* Services gone from the model: reported as removed (alloc_run_all()
	 * would release them silently). */
	struct rec **gone = NULL;
	size_t ngone = 0;
	struct hashmap_iter it;
	hashmap_iter_init(&it, &a->recs);
	while (hashmap_iter_next(&it)) {
		struct rec *r = it.value;
		if (!model_find_service(m, *rec_ns(r) ? rec_ns(r) : NULL, rec_name(r)) &&
		    !model_find_service(m, rec_ns(r), rec_name(r)))
			*VEC_PUSH(gone, ngone) = r;
	}
	for (size_t i = 0; i < ngone; i++) {
		struct alloc_change *c = change_push(out, rec_ns(gone[i]), rec_name(gone[i]));
		c->removed = true;
		c->result.changed = gone[i]->naddrs > 0;
		rec_delete(a, gone[i]);
	}
	free(gone);
	size_t n = m->nservices;
	struct alloc_result *res = xcalloc(n ? n : 1, sizeof(*res));
	alloc_run_all(a, m, res);
	for (size_t i = 0; i < n; i++) {
		const struct service *svc = &m->services[i];
		struct alloc_change *c = change_push(out, svc_ns(svc), svc_name(svc));
		c->result = res[i];
		c->rc = res[i].ours && alloc_failure(a, svc_ns(svc), svc_name(svc)) ? -1 : 0;
	}
	free(res);
	if (a->nwaiters)
		settle(a, m, out);
}
