/*
 * The BGP speaker (see bgp_speaker.h): sessions by name, the listening
 * socket, and one Adj-RIB-Out per session.
 *
 * State:
 *   plan     the last plan given to bgp_speaker_set(), borrowed: its owner
 *            (the announcer's planner) keeps it unchanged until it calls
 *            bgp_speaker_set() again, so the plan exists once in memory,
 *            not once in the planner and once more here.
 *   peers    one per session of the plan, in the plan's order (by name):
 *            the bgp_session, and the Adj-RIB-Out, the routes the peer
 *            has from us (sorted by prefix; each a compact prefix and the
 *            index of its attribute set, the sets kept once per peer).
 *   listener one dual-stack TCP socket on [::]:port (an AF_INET one where
 *            IPv6 is missing) that hands connections from a configured
 *            peer address to its session and closes the others at once.
 *            It carries the MD5 key of every peer that has one, since a
 *            key must be on the listening socket before the SYN arrives.
 *            It keeps each SYN (TCP_SAVE_SYN) for the session to tell a
 *            peer that uses GTSM (RFC 5082), and answers with TTL 255 so
 *            that such a peer takes the SYN-ACK.
 *
 * Data flow: bgp_speaker_update() takes a plan with the same sessions and
 * the (session, prefix) pairs that may have changed, and compares just
 * those with the Adj-RIB-Out (rib_sync_some(); a step of one Service
 * costs a few binary searches, not a walk of every route).
 * bgp_speaker_set() takes any plan and walks old and new
 * sessions by name.  Sessions whose parameters differ are replaced; for
 * the others rib_sync() compares what the plan wants with the Adj-RIB-Out
 * and sends only the difference: withdrawals, then announcements grouped
 * by identical attributes so that each group packs into as few UPDATEs as
 * the codec can make.  A session that becomes Established starts from an
 * empty Adj-RIB-Out, so the same function sends it everything, followed
 * by an End-of-RIB per family.
 *
 * A route is sent only when its family was negotiated and the session has
 * a next hop for it (an IPv6 global address for IPv6 routes; for IPv4
 * routes an IPv4 address, or over an IPv6 session with the extended next
 * hop capability, RFC 8950, the IPv6 one).  Routes that cannot be sent
 * stay out of the Adj-RIB-Out and show as not announced in the status.
 */
#include "bgp/bgp_speaker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/jw.h"
#include "base/log.h"
#include "base/util.h"
#include "bgp/bgp_msg.h"
#include "bgp/bgp_session.h"
#include "base/metrics.h"

#define DEFAULT_PORT 179
#define LISTEN_BACKLOG 64
#define STOP_MESSAGE "ironlb speaker stopping"
/* Refused connections logged one by one: anyone who reaches the port can
 * make them, so at most this many per interval, then a count. */
#define REFUSED_LOG_BURST 5
#define REFUSED_LOG_INTERVAL 5.0
#define REFUSED_LOG_SUMMARY "bgp connections refused, not logged one by one"

struct rib_entry;
struct rib_attrs;

struct peer {
	struct bgp_speaker *sp;
	const struct bgp_session_plan *plan;  /* inside sp->plan; NULL while the
					       * peer is being rebound or removed */
	struct bgp_session *s;
	struct rib_entry *rib;                /* Adj-RIB-Out, sorted by prefix */
	size_t nrib;
	struct rib_attrs *attrs;              /* its attribute sets, sorted */
	size_t nattrs;
	bool md5_set;                         /* key on the listener */
	struct ip_addr md5_addr;
	bool bfd_held;                        /* BFD went Down: kept Idle */
};

struct bgp_speaker {
	struct ev_loop *loop;
	struct metrics_registry *reg;
	struct bgp_session_metrics sm;
	struct metrics_family *m_announced, *m_pending;
	char *node_name;
	uint16_t listen_port;
	bool listen, listen_any;
	uint32_t default_router_id;
	int lfd, laf;
	uint16_t bound_port;
	ev_io lw;
	const struct bgp_plan *plan;          /* borrowed (see above) */
	struct peer **peers;
	size_t npeers;
	struct ip_addr *seen;                 /* peers established once */
	size_t nseen;
	bool stopped;
	struct bgp_speaker_work work;
	struct log_limit refused_log;
	ev_timer t_refused;                   /* writes its count */
};

/* ------------------------------------------------------------------ */
/* routes */

static int community_cmp(const struct community_value *a, const struct community_value *b)
{
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	/* c is part of large communities only (bgp_route_same_attrs()). */
	if (a->kind == COMMUNITY_LARGE && a->c != b->c)
		return a->c < b->c ? -1 : 1;
	return 0;
}

/* The attributes of a route, or of an attribute set of the Adj-RIB-Out
 * (the communities borrowed from either). */
struct attrs_view {
	bool has_local_pref;
	uint32_t local_pref;
	size_t ncommunities;
	const struct community_value *communities;
};

static struct attrs_view route_attrs(const struct bgp_route *r)
{
	return (struct attrs_view){ r->has_local_pref, r->local_pref, r->ncommunities,
				    r->communities };
}

/* Attributes only (not the prefix), to group routes into UPDATEs. */
static int attrs_cmp(const struct attrs_view *a, const struct attrs_view *b)
{
	if (a->has_local_pref != b->has_local_pref)
		return a->has_local_pref ? 1 : -1;
	if (a->has_local_pref && a->local_pref != b->local_pref)
		return a->local_pref < b->local_pref ? -1 : 1;
	if (a->ncommunities != b->ncommunities)
		return a->ncommunities < b->ncommunities ? -1 : 1;
	for (size_t i = 0; i < a->ncommunities; i++) {
		int c = community_cmp(&a->communities[i], &b->communities[i]);
		if (c)
			return c;
	}
	return 0;
}

static int route_attrs_cmp(const struct bgp_route *a, const struct bgp_route *b)
{
	struct attrs_view x = route_attrs(a), y = route_attrs(b);

	return attrs_cmp(&x, &y);
}

static int ptr_prefix_cmp(const void *x, const void *y)
{
	const struct bgp_route *const *a = x, *const *b = y;

	return bgp_prefix_cmp(&(*a)->prefix, &(*b)->prefix);
}

static int ptr_attrs_cmp(const void *x, const void *y)
{
	const struct bgp_route *const *a = x, *const *b = y;
	int c = route_attrs_cmp(*a, *b);

	return c ? c : bgp_prefix_cmp(&(*a)->prefix, &(*b)->prefix);
}

/*
 * The Adj-RIB-Out holds what was sent and nothing more: per route the
 * prefix in 18 bytes (struct bgp_prefix) and the index of its attribute
 * set, 24 bytes in all (a struct bgp_route and its communities took
 * about 130).  Routes share
 * their attribute sets (nearly all of a node's routes carry the same
 * communities and LOCAL_PREF), so each distinct set is kept once per
 * peer, numbered in attribute order, and a route names its set by index.
 */
struct rib_entry {
	struct bgp_prefix pfx;
	uint32_t attrs;        /* index into the peer's attribute sets */
};

struct rib_attrs {
	bool has_local_pref;
	uint32_t local_pref;
	uint32_t ncommunities;
	struct community_value *communities;
};

static struct attrs_view rib_attrs_view(const struct peer *p, const struct rib_entry *e)
{
	const struct rib_attrs *a = &p->attrs[e->attrs];

	return (struct attrs_view){ a->has_local_pref, a->local_pref, a->ncommunities,
				    a->communities };
}

static void attrs_table_free(struct rib_attrs *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].communities);
	free(v);
}

static void rib_clear(struct peer *p)
{
	free(p->rib);
	p->rib = NULL;
	p->nrib = 0;
	attrs_table_free(p->attrs, p->nattrs);
	p->attrs = NULL;
	p->nattrs = 0;
}

static const struct rib_entry *rib_find(const struct peer *p, const struct bgp_prefix *key)
{
	size_t lo = 0, hi = p->nrib;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = bgp_prefix_cmp(&p->rib[mid].pfx, key);

		if (c == 0)
			return &p->rib[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Whether the peer has route r with r's attributes. */
static bool rib_has(const struct peer *p, const struct bgp_route *r)
{
	const struct rib_entry *e = rib_find(p, &r->prefix);
	struct attrs_view a, b;

	if (!e)
		return false;
	a = rib_attrs_view(p, e);
	b = route_attrs(r);
	return attrs_cmp(&a, &b) == 0;
}

/* Whether the session can carry a route of family f now. */
static bool sendable(const struct bgp_session_info *in, enum ip_family f)
{
	if (f == IP_FAMILY_V4)
		return in->neg.ipv4_unicast &&
		       (in->next_hop4.family == IP_FAMILY_V4 ||
			(in->neg.opts.ext_nh_ipv4 && in->next_hop6.family == IP_FAMILY_V6));
	if (f == IP_FAMILY_V6)
		return in->neg.ipv6_unicast && in->next_hop6.family == IP_FAMILY_V6;
	return false;
}

/* The attribute set of attributes r on a session (communities converted
 * into the arrays given). */
static void attr_set(const struct bgp_session_info *in, const struct attrs_view *r,
		     const uint32_t *as_path, uint32_t *std, struct bgp_large_community *large,
		     struct bgp_attr_set *a)
{
	memset(a, 0, sizeof(*a));
	/* MetalLB: ORIGIN IGP, AS_PATH empty towards internal peers and our
	 * AS towards external ones (RFC 4271 §5.1.2). */
	a->origin = BGP_ORIGIN_IGP;
	a->as_path_len = in->ibgp ? 0 : 1;
	a->as_path = as_path;
	/* IPv4 over an IPv6 session with RFC 8950 uses the IPv6 next hop. */
	if (!(in->local.family == IP_FAMILY_V6 && in->neg.opts.ext_nh_ipv4 &&
	      in->next_hop6.family == IP_FAMILY_V6))
		a->next_hop = in->next_hop4;
	a->next_hop6 = in->next_hop6;
	a->next_hop6_ll = in->next_hop6_ll;
	a->has_local_pref = r->has_local_pref && in->ibgp;
	a->local_pref = r->local_pref;
	for (size_t i = 0; i < r->ncommunities; i++) {
		const struct community_value *c = &r->communities[i];

		if (c->kind == COMMUNITY_STANDARD)
			std[a->ncommunities++] = (c->a & 0xffff) << 16 | (c->b & 0xffff);
		else
			large[a->nlarge++] = (struct bgp_large_community){ c->a, c->b, c->c };
	}
	a->communities = std;
	a->large = large;
}

/* Append the announcement of prefixes pfx[0..n), all with attributes r,
 * in as few UPDATEs as the codec packs them.  The number of messages, or
 * -1 (nothing written) when they cannot be encoded. */
static long announce_group(struct peer *p, struct wbuf *w, const struct attrs_view *r,
			   const struct ip_prefix *pfx, size_t n)
{
	const struct bgp_session_info *in = bgp_session_info(p->s);
	uint32_t as_path[1] = { in->local_as };
	uint32_t *std = xcalloc(r->ncommunities + 1, sizeof(*std));
	struct bgp_large_community *large = xcalloc(r->ncommunities + 1, sizeof(*large));
	struct bgp_attr_set a;
	size_t mark = wbuf_mark(w), nmsgs = 0;
	long ret = -1;

	attr_set(in, r, as_path, std, large, &a);
	if (bgp_update_build_announce(w, &in->neg.opts, &a, pfx, n, &nmsgs) == 0) {
		ret = (long)nmsgs;
	} else {
		char buf[IP_STR_MAX];

		/* Drop whatever the failed call wrote. */
		w->len = mark;
		w->err = false;
		log_error("bgp routes not encodable", "session", bgp_session_name(p->s), "peer",
			  bgp_session_peer_label(p->s), "first_prefix",
			  ip_prefix_format(&pfx[0], buf), NULL);
	}
	free(std);
	free(large);
	return ret;
}

/* Append announcements of routes v[0..n) (sorted by attributes), one
 * group of equal attributes at a time.  ok[i] says whether v[i] went
 * out. */
static size_t build_announce(struct peer *p, struct wbuf *w, const struct bgp_route **v, size_t n,
			     bool *ok)
{
	struct ip_prefix *pfx = xcalloc(n + 1, sizeof(*pfx));
	size_t total = 0;

	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		struct attrs_view a = route_attrs(v[i]);
		long m;

		while (j < n && route_attrs_cmp(v[i], v[j]) == 0)
			j++;
		for (size_t k = i; k < j; k++)
			pfx[k - i] = bgp_prefix_unpack(&v[k]->prefix);
		m = announce_group(p, w, &a, pfx, j - i);
		if (m >= 0) {
			total += (size_t)m;
			for (size_t k = i; k < j; k++)
				ok[k] = true;
		}
		i = j;
	}
	free(pfx);
	return total;
}

static void peer_metrics(struct peer *p)
{
	struct bgp_speaker *sp = p->sp;
	const char *v[] = { bgp_session_peer_label(p->s) };

	if (sp->m_announced)
		metrics_set(sp->m_announced, v, (double)p->nrib);
	/* MetalLB's meaning: the prefixes that should be advertised. */
	if (sp->m_pending)
		metrics_set(sp->m_pending, v, p->plan ? (double)p->plan->nroutes : 0.0);
}

/* The index of attributes a in the sorted sets v[0..n), or where it
 * would go. */
static size_t attrs_lower(const struct rib_attrs *v, size_t n, const struct attrs_view *a)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct attrs_view have = { v[mid].has_local_pref, v[mid].local_pref,
					   v[mid].ncommunities, v[mid].communities };

		if (attrs_cmp(&have, a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The new Adj-RIB-Out of a peer: the routes v[0..n) (sorted by prefix)
 * that are not skip[i], what was sent (prefix and attributes: the
 * Services behind a route stay in the plan).  The attribute sets are
 * kept sorted, so a route finds its set by a binary search; consecutive
 * routes nearly always share one, so each route costs one comparison. */
static void rib_rebuild(struct peer *p, const struct bgp_route **v, size_t n, const bool *skip)
{
	struct rib_entry *rib = xcalloc(n + 1, sizeof(*rib));
	struct rib_attrs *attrs = NULL;
	size_t nrib = 0, nattrs = 0, cap = 0;
	const struct bgp_route *last = NULL;

	/* The distinct sets, sorted (a set new to the table is inserted in
	 * its place; there are few). */
	for (size_t i = 0; i < n; i++) {
		struct attrs_view a;
		size_t at;

		if (skip[i] || (last && route_attrs_cmp(last, v[i]) == 0))
			continue;
		last = v[i];
		a = route_attrs(v[i]);
		at = attrs_lower(attrs, nattrs, &a);
		if (at < nattrs) {
			struct attrs_view have = { attrs[at].has_local_pref, attrs[at].local_pref,
						   attrs[at].ncommunities, attrs[at].communities };

			if (attrs_cmp(&have, &a) == 0)
				continue;
		}
		if (nattrs == cap) {
			cap = cap ? 2 * cap : 4;
			attrs = xrealloc(attrs, cap * sizeof(*attrs));
		}
		memmove(&attrs[at + 1], &attrs[at], (nattrs - at) * sizeof(*attrs));
		nattrs++;
		attrs[at] = (struct rib_attrs){ .has_local_pref = a.has_local_pref,
						.local_pref = a.local_pref,
						.ncommunities = (uint32_t)a.ncommunities };
		if (a.ncommunities) {
			attrs[at].communities = xcalloc(a.ncommunities, sizeof(*attrs[at].communities));
			memcpy(attrs[at].communities, a.communities,
			       a.ncommunities * sizeof(*attrs[at].communities));
		}
	}
	last = NULL;
	for (size_t i = 0, id = 0; i < n; i++) {
		if (skip[i])
			continue;
		if (!last || route_attrs_cmp(last, v[i]) != 0) {
			struct attrs_view a = route_attrs(v[i]);

			id = attrs_lower(attrs, nattrs, &a);
			last = v[i];
		}
		rib[nrib].pfx = v[i]->prefix;
		rib[nrib].attrs = (uint32_t)id;
		nrib++;
	}
	rib_clear(p);
	/* Exactly the size needed: the table lives until the next change. */
	if (nrib) {
		p->rib = xrealloc(rib, nrib * sizeof(*rib));
	} else {
		free(rib);
		p->rib = NULL;
	}
	p->nrib = nrib;
	if (nattrs) {
		p->attrs = xrealloc(attrs, nattrs * sizeof(*attrs));
	} else {
		free(attrs);
		p->attrs = NULL;
	}
	p->nattrs = nattrs;
}

static bool sorted_by_prefix(const struct bgp_route **v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (bgp_prefix_cmp(&v[i - 1]->prefix, &v[i]->prefix) >= 0)
			return false;
	return true;
}

/* Bring the peer's Adj-RIB-Out to what the plan wants: withdraw what went
 * away, announce what is new or changed.  initial: the session just came
 * up, so End-of-RIB markers follow (RFC 4724 §2). */
static void rib_sync(struct peer *p, bool initial)
{
	const struct bgp_session_plan *pl = p->plan;
	const struct bgp_session_info *in;
	const struct bgp_route **want = NULL, **ann = NULL;
	struct ip_prefix *wd = NULL;
	bool *ok = NULL, *failed = NULL;
	size_t nwant = 0, nann = 0, nwd = 0, nmsgs = 0, k;
	struct wbuf w, wa;
	struct timespec t0, t1;

	if (!pl || bgp_session_state(p->s) != BGP_FSM_ESTABLISHED) {
		peer_metrics(p);
		return;
	}
	/* CPU time of the diff and the encoding, for the log (bench/bgp.py
	 * reports it beside BIRD's). */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	in = bgp_session_info(p->s);
	p->sp->work.compared += pl->nroutes + p->nrib;
	want = xcalloc(pl->nroutes + 1, sizeof(*want));
	for (size_t i = 0; i < pl->nroutes; i++)
		if (sendable(in, (enum ip_family)pl->routes[i].prefix.family))
			want[nwant++] = &pl->routes[i];
	/* A plan's routes are sorted by prefix (bgp_config.h); a plan built
	 * by other means is sorted here. */
	if (!sorted_by_prefix(want, nwant))
		xqsort(want, nwant, sizeof(*want), ptr_prefix_cmp);

	/* Announce: new, or attributes changed (an implicit withdraw of
	 * the old path, RFC 4271 §3.1).  Both lists are sorted by prefix:
	 * one walk. */
	ann = xcalloc(nwant + 1, sizeof(*ann));
	for (size_t i = 0, j = 0; i < nwant; i++) {
		int c = 1;

		while (j < p->nrib && (c = bgp_prefix_cmp(&p->rib[j].pfx, &want[i]->prefix)) < 0)
			j++;
		if (j < p->nrib && c == 0) {
			struct attrs_view have = rib_attrs_view(p, &p->rib[j]);
			struct attrs_view a = route_attrs(want[i]);

			if (attrs_cmp(&have, &a) == 0)
				continue;
		}
		ann[nann++] = want[i];
	}
	xqsort(ann, nann, sizeof(*ann), ptr_attrs_cmp);
	ok = xcalloc(nann + 1, sizeof(*ok));
	wbuf_init_dyn(&wa, 4096);
	nmsgs += build_announce(p, &wa, ann, nann, ok);

	/* Which wanted routes failed to encode (rare: a broken plan). */
	failed = xcalloc(nwant + 1, sizeof(*failed));
	for (k = 0; k < nann; k++)
		if (!ok[k]) {
			const struct bgp_route **at = xbsearch(&ann[k], want, nwant, sizeof(*want),
							      ptr_prefix_cmp);
			if (at)
				failed[at - want] = true;
		}

	/* Withdraw: gone from the plan, or not sendable any more, or a
	 * changed route that could not be encoded. */
	wd = xcalloc(p->nrib + 1, sizeof(*wd));
	for (size_t i = 0, j = 0; i < p->nrib; i++) {
		const struct bgp_prefix *r = &p->rib[i].pfx;
		int c = 1;

		while (j < nwant && (c = bgp_prefix_cmp(&want[j]->prefix, r)) < 0)
			j++;
		if (j < nwant && c == 0 && !failed[j])
			continue;
		wd[nwd++] = bgp_prefix_unpack(r);
	}
	wbuf_init_dyn(&w, 4096);
	if (nwd) {
		size_t n = 0;
		if (bgp_update_build_withdraw(&w, wd, nwd, &n) == 0)
			nmsgs += n;
	}
	wbuf_bytes(&w, wa.p, wa.len);
	wbuf_free(&wa);
	if (initial) {
		/* RFC 4724 §2: End-of-RIB for every family of the session. */
		if (in->neg.ipv4_unicast &&
		    bgp_update_build_eor(&w, BGP_AFI_IPV4, BGP_SAFI_UNICAST) == 0)
			nmsgs++;
		if (in->neg.ipv6_unicast &&
		    bgp_update_build_eor(&w, BGP_AFI_IPV6, BGP_SAFI_UNICAST) == 0)
			nmsgs++;
	}

	/* The new Adj-RIB-Out: every wanted route that is at the peer now
	 * (the same as before when nothing was sent, the common case for
	 * the sessions of the other family). */
	if (nann || nwd || initial)
		rib_rebuild(p, want, nwant, failed);

	if (w.len && wbuf_ok(&w))
		bgp_session_send_updates(p->s, w.p, w.len, nmsgs);
	wbuf_free(&w);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	if (nann || nwd || initial) {
		char a[24], d[24], m[24], cpu[32];

		snprintf(a, sizeof(a), "%zu", nann);
		snprintf(d, sizeof(d), "%zu", nwd);
		snprintf(m, sizeof(m), "%zu", nmsgs);
		snprintf(cpu, sizeof(cpu), "%.1f",
			 (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
				 (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
		log_info("bgp routes sent", "session", bgp_session_name(p->s), "peer",
			 bgp_session_peer_label(p->s), "announced", a, "withdrawn", d, "updates", m,
			 "initial", initial ? "true" : "false", "cpu_ms", cpu, NULL);
	}
	if (nwant < pl->nroutes) {
		char n[24];

		snprintf(n, sizeof(n), "%zu", pl->nroutes - nwant);
		log_debug("bgp routes held back", "session", bgp_session_name(p->s), "peer",
			  bgp_session_peer_label(p->s), "count", n, "reason",
			  "family not negotiated or no next hop of that family", NULL);
	}
	peer_metrics(p);
	free(want);
	free(ann);
	free(ok);
	free(failed);
	free(wd);
}

/* The route of a plan's session at prefix, or NULL. */
static const struct bgp_route *plan_find(const struct bgp_session_plan *pl,
					 const struct bgp_prefix *key)
{
	size_t lo = 0, hi = pl->nroutes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = bgp_prefix_cmp(&pl->routes[mid].prefix, key);

		if (c == 0)
			return &pl->routes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The index of the Adj-RIB-Out entry at prefix key, or where it would go. */
static size_t rib_lower(const struct peer *p, const struct bgp_prefix *key)
{
	size_t lo = 0, hi = p->nrib;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bgp_prefix_cmp(&p->rib[mid].pfx, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The index of attribute set a in the peer's table, or -1 when the table
 * has no such set. */
static long attrs_index(const struct peer *p, const struct attrs_view *a)
{
	size_t at = attrs_lower(p->attrs, p->nattrs, a);

	if (at < p->nattrs) {
		struct attrs_view have = { p->attrs[at].has_local_pref, p->attrs[at].local_pref,
					   p->attrs[at].ncommunities, p->attrs[at].communities };

		if (attrs_cmp(&have, a) == 0)
			return (long)at;
	}
	return -1;
}

/*
 * rib_sync() for the prefixes of session `session` among ch[0..nch) only:
 * each compared with the Adj-RIB-Out (two binary searches), the difference
 * sent, and the Adj-RIB-Out changed in place.  The rest of the plan is
 * unchanged since the last sync (the planner's promise,
 * bgp_planner_changed()), so this sends what rib_sync() would.  A route
 * with an attribute set the peer's table lacks (a new community set:
 * inserting it would renumber the others) or that cannot be encoded goes
 * the whole way, through rib_sync().
 */
static void rib_sync_some(struct peer *p, const struct bgp_route_change *ch, size_t nch,
			  uint32_t session)
{
	const struct bgp_session_plan *pl = p->plan;
	const struct bgp_session_info *in;
	const struct bgp_route **ann = NULL;
	struct ip_prefix *wd = NULL;
	bool *ok = NULL, whole = false;
	size_t nann = 0, nwd = 0, nmsgs = 0, cap = 0;
	struct wbuf w, wa;
	struct timespec t0, t1;

	if (!pl || bgp_session_state(p->s) != BGP_FSM_ESTABLISHED) {
		peer_metrics(p);
		return;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	in = bgp_session_info(p->s);
	for (size_t i = 0; i < nch; i++)
		cap += ch[i].session == session;
	ann = xcalloc(cap + 1, sizeof(*ann));
	wd = xcalloc(cap + 1, sizeof(*wd));
	for (size_t i = 0; i < nch && !whole; i++) {
		const struct bgp_route *r;
		const struct rib_entry *e;

		if (ch[i].session != session)
			continue;
		p->sp->work.compared++;
		r = plan_find(pl, &ch[i].prefix);
		if (r && !sendable(in, (enum ip_family)r->prefix.family))
			r = NULL;
		e = rib_find(p, &ch[i].prefix);
		if (r) {
			struct attrs_view a = route_attrs(r);

			if (e) {
				struct attrs_view have = rib_attrs_view(p, e);

				if (attrs_cmp(&have, &a) == 0)
					continue;
			}
			if (attrs_index(p, &a) < 0)
				whole = true;
			ann[nann++] = r;
		} else if (e) {
			wd[nwd++] = bgp_prefix_unpack(&e->pfx);
		}
	}
	if (!whole && !nann && !nwd) {
		free(ann);
		free(wd);
		peer_metrics(p);
		return;
	}
	wbuf_init_dyn(&wa, 4096);
	if (!whole) {
		xqsort(ann, nann, sizeof(*ann), ptr_attrs_cmp);
		ok = xcalloc(nann + 1, sizeof(*ok));
		nmsgs += build_announce(p, &wa, ann, nann, ok);
		for (size_t k = 0; k < nann && !whole; k++)
			whole = !ok[k];
	}
	if (whole) {
		wbuf_free(&wa);
		free(ann);
		free(wd);
		free(ok);
		rib_sync(p, false);
		return;
	}
	wbuf_init_dyn(&w, 4096);
	if (nwd) {
		size_t n = 0;

		if (bgp_update_build_withdraw(&w, wd, nwd, &n) == 0)
			nmsgs += n;
	}
	wbuf_bytes(&w, wa.p, wa.len);
	wbuf_free(&wa);

	/* The Adj-RIB-Out in place: withdrawn entries out, announced ones
	 * in or with their new set. */
	for (size_t k = 0; k < nwd; k++) {
		struct bgp_prefix key = bgp_prefix_pack(&wd[k]);
		size_t at = rib_lower(p, &key);

		memmove(&p->rib[at], &p->rib[at + 1], (p->nrib - at - 1) * sizeof(*p->rib));
		p->nrib--;
	}
	for (size_t k = 0; k < nann; k++) {
		struct attrs_view a = route_attrs(ann[k]);
		size_t at = rib_lower(p, &ann[k]->prefix);

		if (at == p->nrib || bgp_prefix_cmp(&p->rib[at].pfx, &ann[k]->prefix) != 0) {
			p->rib = xrealloc(p->rib, (p->nrib + 1) * sizeof(*p->rib));
			memmove(&p->rib[at + 1], &p->rib[at], (p->nrib - at) * sizeof(*p->rib));
			p->nrib++;
			p->rib[at].pfx = ann[k]->prefix;
		}
		p->rib[at].attrs = (uint32_t)attrs_index(p, &a);
	}

	if (w.len && wbuf_ok(&w))
		bgp_session_send_updates(p->s, w.p, w.len, nmsgs);
	wbuf_free(&w);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	{
		char a[24], d[24], m[24], cpu[32];

		snprintf(a, sizeof(a), "%zu", nann);
		snprintf(d, sizeof(d), "%zu", nwd);
		snprintf(m, sizeof(m), "%zu", nmsgs);
		snprintf(cpu, sizeof(cpu), "%.3f",
			 (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
				 (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
		log_info("bgp routes sent", "session", bgp_session_name(p->s), "peer",
			 bgp_session_peer_label(p->s), "announced", a, "withdrawn", d, "updates", m,
			 "initial", "false", "cpu_ms", cpu, NULL);
	}
	peer_metrics(p);
	free(ann);
	free(wd);
	free(ok);
}

/* ------------------------------------------------------------------ */
/* session hooks */

static void seen_add(struct bgp_speaker *sp, const struct ip_addr *a)
{
	for (size_t i = 0; i < sp->nseen; i++)
		if (ip_eq(&sp->seen[i], a))
			return;
	*VEC_PUSH(sp->seen, sp->nseen) = *a;
}

static bool seen_has(const struct bgp_speaker *sp, const struct ip_addr *a)
{
	for (size_t i = 0; i < sp->nseen; i++)
		if (ip_eq(&sp->seen[i], a))
			return true;
	return false;
}

static void hook_established(struct bgp_session *s, void *arg)
{
	struct peer *p = arg;

	seen_add(p->sp, &bgp_session_info(s)->remote);
	rib_clear(p);
	rib_sync(p, true);
	/* The whole table went out: its scratch (the route lists, the
	 * UPDATEs before they were queued) was as large as the table and
	 * sits in the middle of the heap; hand those pages back. */
	malloc_trim(0);
}

static void hook_down(struct bgp_session *s, void *arg)
{
	struct peer *p = arg;

	rib_clear(p);
	peer_metrics(p);
}

static int entry_cmp(const void *x, const void *y)
{
	const struct rib_entry *const *a = x, *const *b = y;

	if ((*a)->attrs != (*b)->attrs)
		return (*a)->attrs < (*b)->attrs ? -1 : 1;
	return bgp_prefix_cmp(&(*a)->pfx, &(*b)->pfx);
}

static void hook_route_refresh(struct bgp_session *s, uint16_t afi, uint8_t safi, void *arg)
{
	struct peer *p = arg;
	enum ip_family f = afi == BGP_AFI_IPV4 ? IP_FAMILY_V4 : IP_FAMILY_V6;
	const struct rib_entry **v = xcalloc(p->nrib + 1, sizeof(*v));
	struct ip_prefix *pfx = xcalloc(p->nrib + 1, sizeof(*pfx));
	size_t n = 0, nmsgs = 0;
	struct wbuf w;

	/* RFC 2918 §4: the whole Adj-RIB-Out of the family again, grouped
	 * by attribute set (the sets are numbered in attribute order). */
	for (size_t i = 0; i < p->nrib; i++)
		if (p->rib[i].pfx.family == (uint8_t)f)
			v[n++] = &p->rib[i];
	xqsort(v, n, sizeof(*v), entry_cmp);
	wbuf_init_dyn(&w, 4096);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		struct attrs_view a = rib_attrs_view(p, v[i]);
		long m;

		while (j < n && v[j]->attrs == v[i]->attrs) {
			pfx[j - i] = bgp_prefix_unpack(&v[j]->pfx);
			j++;
		}
		m = announce_group(p, &w, &a, pfx, j - i);
		if (m > 0)
			nmsgs += (size_t)m;
		i = j;
	}
	if (w.len)
		bgp_session_send_updates(s, w.p, w.len, nmsgs);
	log_info("bgp route refresh answered", "session", bgp_session_name(s), "peer",
		 bgp_session_peer_label(s), "afi", f == IP_FAMILY_V4 ? "ipv4" : "ipv6", NULL);
	wbuf_free(&w);
	free(v);
	free(pfx);
}

static const struct bgp_session_hooks hooks = {
	.established = hook_established,
	.down = hook_down,
	.route_refresh = hook_route_refresh,
};

/* ------------------------------------------------------------------ */
/* peers */

static bool md5_wanted(const struct bgp_session_cfg *c)
{
	return c->password && *c->password && c->peer_address.family != IP_FAMILY_NONE &&
	       !(c->vrf && *c->vrf);
}

static void md5_apply(struct peer *p)
{
	struct bgp_speaker *sp = p->sp;
	const struct bgp_session_cfg *c = &p->plan->cfg;

	if (sp->lfd < 0 || !md5_wanted(c))
		return;
	if (bgp_session_md5(sp->lfd, sp->laf, &c->peer_address, c->password) < 0) {
		log_warn("bgp md5 key not set on the listening socket", "session", c->name, "peer",
			 bgp_session_peer_label(p->s), "error", strerror(errno), NULL);
		return;
	}
	p->md5_set = true;
	p->md5_addr = c->peer_address;
}

static void md5_remove(struct peer *p)
{
	struct bgp_speaker *sp = p->sp;

	if (!p->md5_set || sp->lfd < 0)
		return;
	bgp_session_md5(sp->lfd, sp->laf, &p->md5_addr, NULL);
	p->md5_set = false;
}

static void session_create(struct peer *p)
{
	struct bgp_speaker *sp = p->sp;
	struct bgp_session_env env = {
		.loop = sp->loop,
		.default_router_id = sp->default_router_id,
		.gr_restarted = !seen_has(sp, &p->plan->cfg.peer_address),
		.hooks = &hooks,
		.arg = p,
		.metrics = &sp->sm,
	};

	p->s = bgp_session_new(&p->plan->cfg, &env);
	peer_metrics(p);
	md5_apply(p);
	if (!sp->stopped && !p->bfd_held)
		bgp_session_start(p->s);
}

static void peer_metrics_remove(struct peer *p)
{
	struct bgp_speaker *sp = p->sp;
	const char *label = bgp_session_peer_label(p->s);
	struct metrics_family *fams[] = {
		sp->m_announced, sp->m_pending, sp->sm.session_up, sp->sm.opens_sent,
		sp->sm.opens_received, sp->sm.notifications_sent, sp->sm.keepalives_sent,
		sp->sm.keepalives_received, sp->sm.updates_sent, sp->sm.updates_received,
		sp->sm.route_refresh_sent, sp->sm.total_sent, sp->sm.total_received,
	};

	for (size_t i = 0; i < ARRAY_SIZE(fams); i++)
		if (fams[i])
			metrics_remove_matching(fams[i], "peer", label);
}

/* Close and free the session (after a NOTIFICATION with Cease /
 * subcode). */
static void session_destroy(struct peer *p, uint8_t subcode)
{
	if (!p->s)
		return;
	bgp_session_stop(p->s, subcode, NULL, false);
	md5_remove(p);
	peer_metrics_remove(p);
	bgp_session_free(p->s);
	p->s = NULL;
	rib_clear(p);
}

static void peer_free(struct peer *p, uint8_t subcode)
{
	session_destroy(p, subcode);
	free(p);
}

/* ------------------------------------------------------------------ */
/* listening */

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bgp_speaker *sp = w->data;

	for (int budget = 0; budget < 64; budget++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct ip_addr a = { 0 };
		uint16_t port = 0;
		uint32_t scope = 0;
		struct peer *p = NULL;
		char from[IP_STR_MAX + 16];
		int fd;

		fd = accept4(sp->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("bgp accept failed", "error", strerror(errno), NULL);
			return;
		}
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
			a = ip_from_bytes(IP_FAMILY_V4, (const uint8_t *)&sin->sin_addr);
			port = ntohs(sin->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
			a = ip_from_bytes(IP_FAMILY_V6, sin6->sin6_addr.s6_addr);
			if (ip_is_v4_mapped(&a))
				a = ip_v4((uint32_t)a.v);
			port = ntohs(sin6->sin6_port);
			scope = sin6->sin6_scope_id;
		}
		/* Several sessions may share an address (other ports): the
		 * first by name takes it. */
		for (size_t i = 0; i < sp->npeers && !p; i++)
			if (sp->peers[i]->s && bgp_session_wants(sp->peers[i]->s, &a, scope))
				p = sp->peers[i];
		bgp_session_format_peer(from, sizeof(from), &a, port);
		if (!p) {
			if (log_limit_allow(&sp->refused_log, ev_now(loop)))
				log_warn("bgp connection refused", "from", from, "reason",
					 "not the address of a configured peer", NULL);
			else if (!ev_is_active(&sp->t_refused)) {
				ev_timer_set(&sp->t_refused,
					     log_limit_end(&sp->refused_log) - ev_now(loop), 0.0);
				ev_timer_start(loop, &sp->t_refused);
			}
			close(fd);
			continue;
		}
		if (p->bfd_held) {
			/* RFC 5882 §4.3: not until BFD is Up again. */
			log_info("bgp connection refused", "session", bgp_session_name(p->s), "from",
				 from, "reason", "held down by BFD", NULL);
			close(fd);
			continue;
		}
		log_debug("bgp connection accepted", "session", bgp_session_name(p->s), "from",
			  from, NULL);
		bgp_session_accept(p->s, fd);
	}
}

static void on_refused_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bgp_speaker *sp = w->data;

	log_limit_flush(&sp->refused_log, LOG_WARN, REFUSED_LOG_SUMMARY, NULL, NULL);
}

static int listen_open(struct bgp_speaker *sp)
{
	int fd, one = 1, zero = 0, ttl = 255;
	uint16_t port = sp->listen_any ? 0 : sp->listen_port;
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				     .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_ANY) };
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	sp->laf = AF_INET6;
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && errno == EAFNOSUPPORT) {
		sp->laf = AF_INET;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* GTSM (RFC 5082): the session reads the TTL of the peer's SYN; the
	 * SYN-ACK leaves with the listener's TTL, and a GTSM peer drops one
	 * below 255.  Each session sets its own TTL once accepted. */
	setsockopt(fd, IPPROTO_TCP, TCP_SAVE_SYN, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
	if (sp->laf == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
	if (sp->laf == AF_INET6) {
		/* One socket for both families. */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0)
			goto fail;
	} else if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		sp->bound_port = ntohs(ss.ss_family == AF_INET6
					       ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	sp->lfd = fd;
	ev_io_init(&sp->lw, on_accept, fd, EV_READ);
	sp->lw.data = sp;
	ev_io_start(sp->loop, &sp->lw);
	return 0;
fail: {
	char p[8];
	int err = errno;

	snprintf(p, sizeof(p), "%u", port);
	log_error("bgp listening socket failed", "port", p, "error", strerror(err), "hint",
		  port && port < 1024 ? "binding a port below 1024 needs CAP_NET_BIND_SERVICE"
				      : "is another BGP speaker running on this port?",
		  NULL);
	if (fd >= 0)
		close(fd);
	errno = err;
	return -1;
}
}

static void listen_close(struct bgp_speaker *sp)
{
	if (sp->lfd < 0)
		return;
	ev_io_stop(sp->loop, &sp->lw);
	close(sp->lfd);
	sp->lfd = -1;
	sp->bound_port = 0;
	for (size_t i = 0; i < sp->npeers; i++)
		sp->peers[i]->md5_set = false;
}

/* ------------------------------------------------------------------ */
/* router ID */

uint32_t bgp_speaker_default_router_id(const char *node_name)
{
	struct ifaddrs *list = NULL;
	uint32_t best = 0, h = 2166136261u;

	if (getifaddrs(&list) == 0) {
		for (struct ifaddrs *i = list; i; i = i->ifa_next) {
			uint32_t v;

			if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
			    !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			v = ntohl(((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
			/* Global only: not 0/8, 127/8 or link-local 169.254/16. */
			if ((v >> 24) == 0 || (v >> 24) == 127 || (v >> 16) == 0xa9fe)
				continue;
			if (!best || v < best)
				best = v;
		}
		freeifaddrs(list);
	}
	if (best)
		return best;
	/* No address: FNV-1a of the node name, stable across restarts. */
	for (const char *c = node_name ? node_name : ""; *c; c++) {
		h ^= (uint8_t)*c;
		h *= 16777619u;
	}
	return h ? h : 1;
}

/* ------------------------------------------------------------------ */
/* public API */

static struct metrics_family *family(struct metrics_registry *reg, const char *name,
				     const char *help, enum metrics_type type)
{
	static const char *const labels[] = { "peer", NULL };
	struct metrics_family *f;

	if (!reg)
		return NULL;
	f = metrics_family_find(reg, name);
	if (!f)
		f = metrics_family_add(reg, name, help, type, labels);
	return f;
}

struct bgp_speaker *bgp_speaker_new(struct ev_loop *loop, struct metrics_registry *reg,
				    const struct bgp_speaker_opts *opts)
{
	struct bgp_speaker *sp = xcalloc(1, sizeof(*sp));

	sp->loop = loop;
	sp->reg = reg;
	sp->lfd = -1;
	sp->node_name = xstrdup(opts && opts->node_name ? opts->node_name : "");
	sp->listen_port = opts ? opts->listen_port : DEFAULT_PORT;
	sp->listen_any = opts && opts->listen_any_port;
	sp->listen = !(opts && opts->no_listen) && (sp->listen_port != 0 || sp->listen_any);
	sp->default_router_id = bgp_speaker_default_router_id(sp->node_name);
	sp->refused_log = (struct log_limit)LOG_LIMIT_INIT(REFUSED_LOG_INTERVAL, REFUSED_LOG_BURST);
	ev_init(&sp->t_refused, on_refused_timer);
	sp->t_refused.data = sp;
	sp->sm.session_up = family(reg, "metallb_bgp_session_up",
				   "BGP session state (1 is up, 0 is down)", METRICS_GAUGE);
	sp->sm.updates_sent = family(reg, "metallb_bgp_updates_total",
				     "Number of BGP UPDATE messages sent", METRICS_COUNTER);
	sp->m_announced = family(reg, "metallb_bgp_announced_prefixes_total",
				 "Number of prefixes currently being advertised on the BGP session",
				 METRICS_GAUGE);
	sp->m_pending = family(reg, "metallb_bgp_pending_prefixes_total",
			       "Number of prefixes that should be advertised on the BGP session",
			       METRICS_GAUGE);
	sp->sm.opens_sent = family(reg, "metallb_bgp_opens_sent",
				   "Number of BGP open messages sent", METRICS_COUNTER);
	sp->sm.opens_received = family(reg, "metallb_bgp_opens_received",
				       "Number of BGP open messages received", METRICS_COUNTER);
	sp->sm.notifications_sent = family(reg, "metallb_bgp_notifications_sent",
					   "Number of BGP notification messages sent",
					   METRICS_COUNTER);
	sp->sm.updates_received = family(reg, "metallb_bgp_updates_total_received",
					 "Number of BGP UPDATE messages received", METRICS_COUNTER);
	sp->sm.keepalives_sent = family(reg, "metallb_bgp_keepalives_sent",
					"Number of BGP keepalive messages sent", METRICS_COUNTER);
	sp->sm.keepalives_received = family(reg, "metallb_bgp_keepalives_received",
					    "Number of BGP keepalive messages received",
					    METRICS_COUNTER);
	sp->sm.route_refresh_sent = family(reg, "metallb_bgp_route_refresh_sent",
					   "Number of BGP route refresh messages sent",
					   METRICS_COUNTER);
	sp->sm.total_sent = family(reg, "metallb_bgp_total_sent",
				   "Number of total BGP messages sent", METRICS_COUNTER);
	sp->sm.total_received = family(reg, "metallb_bgp_total_received",
				       "Number of total BGP messages received", METRICS_COUNTER);
	return sp;
}

int bgp_speaker_start(struct bgp_speaker *sp)
{
	int r = 0;

	sp->stopped = false;
	if (sp->listen && sp->lfd < 0) {
		/* Sessions still dial out when the port cannot be had. */
		if (listen_open(sp) < 0) {
			r = -1;
		} else {
			char p[8];

			for (size_t i = 0; i < sp->npeers; i++)
				md5_apply(sp->peers[i]);
			snprintf(p, sizeof(p), "%u", sp->bound_port);
			log_info("bgp listening", "port", p, "family",
				 sp->laf == AF_INET6 ? "ipv4+ipv6" : "ipv4", NULL);
		}
	}
	for (size_t i = 0; i < sp->npeers; i++)
		if (sp->peers[i]->s && bgp_session_state(sp->peers[i]->s) == BGP_FSM_IDLE)
			bgp_session_start(sp->peers[i]->s);
	return r;
}

static struct peer *take_peer(struct peer **v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] && strcmp(bgp_session_cfg(v[i]->s)->name, name) == 0) {
			struct peer *p = v[i];
			v[i] = NULL;
			return p;
		}
	return NULL;
}

void bgp_speaker_set(struct bgp_speaker *sp, const struct bgp_plan *plan)
{
	const struct bgp_plan *np = plan;
	struct peer **old = sp->peers, **nv;
	size_t nold = sp->npeers;

	sp->work.whole = true;
	sp->work.compared = 0;
	sp->work.whole_syncs++;

	/* The previous plan may be gone already (its owner replaced it before
	 * calling here): nothing below reads it.  A session closed on the way
	 * reports down, which reads the peer's plan, so unbind them first. */
	for (size_t i = 0; i < nold; i++)
		old[i]->plan = NULL;
	sp->plan = np;
	/* Removed sessions first, so that a key or address they free is not
	 * one a new session has just taken. */
	for (size_t i = 0; i < nold; i++) {
		bool kept = false;

		for (size_t k = 0; k < np->nsessions && !kept; k++)
			kept = strcmp(bgp_session_name(old[i]->s), np->sessions[k].cfg.name) == 0;
		if (kept)
			continue;
		log_info("bgp peer removed", "session", bgp_session_name(old[i]->s), "peer",
			 bgp_session_peer_label(old[i]->s), NULL);
		/* RFC 4486 §4: Peer De-configured. */
		peer_free(old[i], BGP_CEASE_PEER_DECONFIGURED);
		old[i] = NULL;
	}
	nv = xcalloc(np->nsessions + 1, sizeof(*nv));
	for (size_t i = 0; i < np->nsessions; i++) {
		const struct bgp_session_plan *sp_new = &np->sessions[i];
		struct peer *p = take_peer(old, nold, sp_new->cfg.name);

		if (!p) {
			p = xcalloc(1, sizeof(*p));
			p->sp = sp;
			p->plan = sp_new;
			session_create(p);
			log_info("bgp peer added", "session", sp_new->cfg.name, "peer",
				 bgp_session_peer_label(p->s), NULL);
		} else if (bgp_session_cfg_differs(bgp_session_cfg(p->s), &sp_new->cfg)) {
			log_info("bgp peer changed", "session", sp_new->cfg.name, "peer",
				 bgp_session_peer_label(p->s), "action", "session reset", NULL);
			/* RFC 4486 §4: Other Configuration Change. */
			p->plan = sp_new;
			session_destroy(p, BGP_CEASE_CONFIG_CHANGE);
			session_create(p);
		} else {
			p->plan = sp_new;
			rib_sync(p, false);
		}
		nv[i] = p;
	}
	free(old);
	sp->peers = nv;
	sp->npeers = np->nsessions;
}

void bgp_speaker_update(struct bgp_speaker *sp, const struct bgp_plan *plan,
			const struct bgp_route_change *ch, size_t nch)
{
	bool same = plan->nsessions == sp->npeers;

	/* The same sessions with the same parameters, in the same order:
	 * otherwise sessions come and go, which is bgp_speaker_set()'s. */
	for (size_t i = 0; same && i < sp->npeers; i++)
		same = strcmp(bgp_session_name(sp->peers[i]->s), plan->sessions[i].cfg.name) == 0 &&
		       !bgp_session_cfg_differs(bgp_session_cfg(sp->peers[i]->s),
						&plan->sessions[i].cfg);
	if (!same) {
		bgp_speaker_set(sp, plan);
		return;
	}
	sp->work.whole = false;
	sp->work.compared = 0;
	sp->work.partial_syncs++;
	sp->plan = plan;
	for (size_t i = 0; i < sp->npeers; i++)
		sp->peers[i]->plan = &plan->sessions[i];
	for (size_t i = 0; i < sp->npeers; i++)
		rib_sync_some(sp->peers[i], ch, nch, (uint32_t)i);
}

void bgp_speaker_last_work(const struct bgp_speaker *sp, struct bgp_speaker_work *out)
{
	*out = sp->work;
}

void bgp_speaker_stop(struct bgp_speaker *sp)
{
	sp->stopped = true;
	listen_close(sp);
	/* RFC 4724 §4.1 with graceful restart; RFC 9003 Administrative
	 * Shutdown otherwise. */
	for (size_t i = 0; i < sp->npeers; i++)
		if (sp->peers[i]->s)
			bgp_session_stop(sp->peers[i]->s, BGP_CEASE_ADMIN_SHUTDOWN, STOP_MESSAGE,
					 true);
}

void bgp_speaker_free(struct bgp_speaker *sp)
{
	if (!sp)
		return;
	if (!sp->stopped)
		bgp_speaker_stop(sp);
	listen_close(sp);
	ev_timer_stop(sp->loop, &sp->t_refused);
	log_limit_flush(&sp->refused_log, LOG_WARN, REFUSED_LOG_SUMMARY, NULL, NULL);
	for (size_t i = 0; i < sp->npeers; i++)
		peer_free(sp->peers[i], BGP_CEASE_ADMIN_SHUTDOWN);
	free(sp->peers);
	free(sp->seen);
	free(sp->node_name);
	free(sp);
}

static struct peer *peer_by_name(const struct bgp_speaker *sp, const char *name)
{
	for (size_t i = 0; i < sp->npeers; i++)
		if (sp->peers[i]->s && strcmp(bgp_session_name(sp->peers[i]->s), name) == 0)
			return sp->peers[i];
	return NULL;
}

int bgp_speaker_bfd_hold(struct bgp_speaker *sp, const char *name, bool held,
			 const char *reason)
{
	struct peer *p = peer_by_name(sp, name);

	if (!p)
		return -1;
	if (p->bfd_held == held)
		return 0;
	p->bfd_held = held;
	if (held) {
		/* RFC 5882 §4.3 and RFC 9384: at once, with Cease / BFD Down,
		 * and the routes go with the session (no graceful restart: the
		 * path is what failed).  The NOTIFICATION is sent if the
		 * connection can still carry it. */
		log_warn("bgp session held down by BFD", "session", name, "peer",
			 bgp_session_peer_label(p->s), "reason", reason ? reason : "BFD down",
			 NULL);
		bgp_session_stop(p->s, BGP_CEASE_BFD_DOWN, NULL, false);
		rib_clear(p);
		peer_metrics(p);
	} else {
		log_info("bgp session released by BFD", "session", name, "peer",
			 bgp_session_peer_label(p->s), "reason", reason ? reason : "BFD up", NULL);
		if (!sp->stopped)
			bgp_session_start(p->s);
	}
	return 0;
}

const char *bgp_speaker_session_state(const struct bgp_speaker *sp, const char *name)
{
	const struct peer *p = peer_by_name(sp, name);

	return p ? bgp_fsm_state_name[bgp_session_state(p->s)] : NULL;
}

bool bgp_speaker_bfd_held(const struct bgp_speaker *sp, const char *name)
{
	const struct peer *p = peer_by_name(sp, name);

	return p && p->bfd_held;
}

uint16_t bgp_speaker_listen_port(const struct bgp_speaker *sp)
{
	return sp->bound_port;
}

uint32_t bgp_speaker_router_id(const struct bgp_speaker *sp)
{
	return sp->default_router_id;
}

static void route_write(struct jw *w, const struct peer *p, const struct bgp_route *r)
{
	char buf[IP_STR_MAX];
	struct ip_prefix pf = bgp_prefix_unpack(&r->prefix);

	jw_obj_begin(w);
	jw_kstr(w, "prefix", ip_prefix_format(&pf, buf));
	jw_key(w, "local_pref");
	if (r->has_local_pref)
		jw_uint(w, r->local_pref);
	else
		jw_null(w);
	jw_key(w, "communities");
	jw_arr_begin(w);
	for (size_t i = 0; i < r->ncommunities; i++) {
		char c[64];
		community_format(&r->communities[i], c, sizeof(c));
		jw_str(w, c);
	}
	jw_arr_end(w);
	jw_key(w, "services");
	jw_arr_begin(w);
	for (size_t i = 0; i < r->nservices; i++)
		jw_str(w, r->services[i]);
	jw_arr_end(w);
	jw_kbool(w, "announced", rib_has(p, r));
	jw_obj_end(w);
}

void bgp_speaker_status_write(const struct bgp_speaker *sp, struct jw *w)
{
	char rid[IP_STR_MAX];
	struct ip_addr a = ip_v4(sp->default_router_id);

	jw_obj_begin(w);
	jw_kstr(w, "default_router_id", ip_format(&a, rid));
	jw_kint(w, "listen_port", sp->bound_port);
	jw_key(w, "sessions");
	jw_arr_begin(w);
	for (size_t i = 0; i < sp->npeers; i++) {
		const struct peer *p = sp->peers[i];
		if (!p->s)
			continue;
		jw_obj_begin(w);
		json_t *o = bgp_session_status_json(p->s);
		jw_json_members(w, o);
		json_decref(o);
		jw_kbool(w, "bfd_held", p->bfd_held);
		/* A route per announced prefix, possibly tens of thousands:
		 * written as read, never held as a tree. */
		jw_key(w, "routes");
		jw_arr_begin(w);
		for (size_t k = 0; k < p->plan->nroutes; k++)
			route_write(w, p, &p->plan->routes[k]);
		jw_arr_end(w);
		jw_kint(w, "announced_prefixes", (long long)p->nrib);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
}

json_t *bgp_speaker_status_json(const struct bgp_speaker *sp)
{
	struct jw w;
	jw_init(&w, false);
	bgp_speaker_status_write(sp, &w);
	char *text = jw_finish(&w, NULL);
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	return v;
}
