/*
 * The member protocol's binding to the system: one UDP socket (IPv6
 * dual-stack on the wildcard, or the family of the bind address), a libev
 * read watcher and one libev timer armed at the core's next deadline, a
 * monotonic clock, and the counters published as ironlb_member_* metrics
 * and in the status JSON.
 *
 * Data flow: datagram -> member_input(); timer -> drain the socket, then
 * member_tick(); either way the core may call io_send() (sendto) and the
 * caller's on_change, then the timer is re-armed and the metrics brought
 * up to date.  The socket is drained before every tick so that a node whose
 * CPU was starved reads the acks that wait for it before it judges anyone.
 */
#include "member/member.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "base/hashmap.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"

#define DRAIN_MAX 256            /* datagrams read per wakeup */

struct member_io {
	struct ev_loop *loop;
	int fd;
	int family;                  /* AF_INET6 or AF_INET */
	uint16_t port;
	char *name;
	ev_io rw;
	ev_timer timer;
	struct member *m;
	bool silenced;
	void (*on_change)(void *ctx, const struct member_event *ev);
	void (*on_digest)(void *ctx, const char *name, uint64_t digest);
	void *ctx;
	struct member_counters published;
	struct member_timing timing;   /* for /status */
	struct {
		struct metrics_family *in, *out, *dropped, *probes, *probes_failed, *failovers,
			*members, *awareness;
	} mf;
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static socklen_t to_sockaddr(const struct member_io *io, const struct member_addr *a,
			     struct sockaddr_storage *ss)
{
	uint8_t b[16];

	memset(ss, 0, sizeof(*ss));
	ip_to_bytes(&a->ip, b);
	if (io->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (a->ip.family != IP_FAMILY_V4)
			return 0;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, b, 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(a->port);
	if (a->ip.family == IP_FAMILY_V4) {
		/* ::ffff:a.b.c.d through the dual-stack socket */
		s6->sin6_addr.s6_addr[10] = 0xff;
		s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], b, 4);
	} else {
		memcpy(&s6->sin6_addr, b, 16);
	}
	return sizeof(*s6);
}

static int from_sockaddr(const struct sockaddr_storage *ss, struct member_addr *a)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		a->ip = ip_from_bytes(IP_FAMILY_V4, (const uint8_t *)&s4->sin_addr);
		a->port = ntohs(s4->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		a->ip = ip_from_bytes(IP_FAMILY_V6, s6->sin6_addr.s6_addr);
		if (ip_is_v4_mapped(&a->ip))
			a->ip = ip_from_bytes(IP_FAMILY_V4, s6->sin6_addr.s6_addr + 12);
		a->port = ntohs(s6->sin6_port);
		return 0;
	}
	return -1;
}

static int io_send(void *ctx, const struct member_addr *to, const uint8_t *p, size_t len)
{
	struct member_io *io = ctx;
	struct sockaddr_storage ss;
	socklen_t sl;

	if (io->silenced)
		return 0;
	sl = to_sockaddr(io, to, &ss);
	if (!sl)
		return -1;       /* an IPv6 member from an IPv4-only socket */
	if (sendto(io->fd, p, len, 0, (struct sockaddr *)&ss, sl) < 0)
		return -1;
	return 0;
}

static void io_change(void *ctx, const struct member_event *ev)
{
	struct member_io *io = ctx;
	char ip[IP_STR_MAX], ms[32];

	ip_format(&ev->addr->ip, ip);
	if (ev->last_heard)
		snprintf(ms, sizeof(ms), "%.1f", (double)(ev->at - ev->last_heard) / 1000.0);
	else
		snprintf(ms, sizeof(ms), "never");
	/* Suspicions come and go under loss: debug; a member lost or back: info. */
	enum log_level lvl = ev->to == MEMBER_SUSPECT ||
			     (ev->from == MEMBER_SUSPECT && ev->to == MEMBER_ALIVE) ? LOG_DEBUG : LOG_INFO;
	if (log_enabled(lvl))
		log_msg(lvl, "member state changed", "member", ev->name, "ip", ip, "from",
			member_state_name[ev->from], "to", member_state_name[ev->to],
			"last_heard_ms_ago", ms, NULL);
	if (io->mf.failovers && ev->from != ev->to &&
	    (ev->to == MEMBER_DEAD || ev->to == MEMBER_LEFT)) {
		const char *v[] = { member_state_name[ev->to] };
		metrics_inc(io->mf.failovers, v);
	}
	if (io->on_change)
		io->on_change(io->ctx, ev);
}

static void io_digest(void *ctx, const char *name, uint64_t digest)
{
	struct member_io *io = ctx;

	if (io->on_digest)
		io->on_digest(io->ctx, name, digest);
}

static void add_delta(struct metrics_family *f, const char *const *v, uint64_t now,
		      uint64_t before)
{
	if (f && now > before)
		metrics_add(f, v, (double)(now - before));
}

static void publish(struct member_io *io)
{
	const struct member_counters *c = member_counters(io->m);
	struct member_counters *p = &io->published;

	add_delta(io->mf.in, NULL, c->packets_in, p->packets_in);
	add_delta(io->mf.out, NULL, c->packets_out, p->packets_out);
	{
		const char *v[] = { "malformed" };
		add_delta(io->mf.dropped, v, c->bad, p->bad);
	}
	{
		const char *v[] = { "bad_tag" };
		add_delta(io->mf.dropped, v, c->bad_tag, p->bad_tag);
	}
	{
		const char *v[] = { "replayed" };
		add_delta(io->mf.dropped, v, c->replayed, p->replayed);
	}
	{
		const char *v[] = { "unknown_sender" };
		add_delta(io->mf.dropped, v, c->unknown_sender, p->unknown_sender);
	}
	add_delta(io->mf.probes, NULL, c->probes, p->probes);
	add_delta(io->mf.probes_failed, NULL, c->probes_failed, p->probes_failed);
	*p = *c;
	if (io->mf.members) {
		unsigned n[MEMBER_STATE_COUNT] = {0};
		struct member_info mi;
		for (size_t i = 0; member_get(io->m, i, &mi) == 0; i++)
			n[mi.state]++;
		for (int s = 0; s < MEMBER_STATE_COUNT; s++) {
			const char *v[] = { member_state_name[s] };
			metrics_set(io->mf.members, v, n[s]);
		}
	}
	if (io->mf.awareness)
		metrics_set(io->mf.awareness, NULL, member_awareness(io->m));
}

static void rearm(struct member_io *io)
{
	int64_t d = member_next_deadline(io->m);

	ev_timer_stop(io->loop, &io->timer);
	/* libev times from the loop's cached clock: refresh it so the timer
	 * does not fire early by however long this iteration has run. */
	ev_now_update(io->loop);
	if (d != INT64_MAX && !io->silenced) {
		int64_t wait = d - mono_us();
		ev_timer_set(&io->timer, wait > 0 ? (double)wait / 1e6 : 0.0, 0.0);
		ev_timer_start(io->loop, &io->timer);
	}
	publish(io);
}

static void drain(struct member_io *io)
{
	uint8_t buf[MEMBER_PACKET_MAX + 1];

	for (int i = 0; i < DRAIN_MAX && !io->silenced; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(io->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss,
				     &sl);
		struct member_addr from;

		if (n < 0)
			break;      /* EAGAIN, or an ICMP error reported on the socket */
		if (from_sockaddr(&ss, &from) != 0)
			continue;
		/* One byte more than the largest packet: a longer datagram is
		 * seen as too long, not silently cut to a valid one. */
		member_input(io->m, &from, buf, (size_t)n, mono_us());
	}
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct member_io *io = w->data;

	(void)loop;
	(void)revents;
	drain(io);
	rearm(io);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct member_io *io = w->data;

	(void)loop;
	(void)revents;
	drain(io);
	member_tick(io->m, mono_us());
	rearm(io);
}

static int open_socket(struct member_io *io, const struct ip_addr *bind_ip, uint16_t port,
		       char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, zero = 0;

	io->family = bind_ip && bind_ip->family == IP_FAMILY_V4 ? AF_INET : AF_INET6;
	fd = socket(io->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && !bind_ip && errno == EAFNOSUPPORT) {
		io->family = AF_INET;     /* a host without IPv6 */
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		snprintf(why, whylen, "member: cannot open a UDP socket: %s", strerror(errno));
		return -1;
	}
	if (io->family == AF_INET6 && !bind_ip)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&ss, 0, sizeof(ss));
	if (io->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (bind_ip) {
			uint8_t b[4];
			ip_to_bytes(bind_ip, b);
			memcpy(&s4->sin_addr, b, 4);
		}
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (bind_ip)
			ip_to_bytes(bind_ip, s6->sin6_addr.s6_addr);
		sl = sizeof(*s6);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		char ip[IP_STR_MAX];
		snprintf(why, whylen, "member: cannot bind UDP port %u on %s: %s", port,
			 bind_ip ? ip_format(bind_ip, ip) : "the wildcard address",
			 strerror(errno));
		close(fd);
		return -1;
	}
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		struct member_addr a;
		if (from_sockaddr(&ss, &a) == 0)
			io->port = a.port;
	}
	io->fd = fd;
	return 0;
}

static struct metrics_family *family(struct metrics_registry *reg, const char *name,
				     const char *help, enum metrics_type type,
				     const char *const *labels)
{
	struct metrics_family *f = metrics_family_find(reg, name);

	return f ? f : metrics_family_add(reg, name, help, type, labels);
}

static void register_metrics(struct member_io *io, struct metrics_registry *reg)
{
	static const char *const reason[] = { "reason", NULL };
	static const char *const state[] = { "state", NULL };

	io->mf.in = family(reg, "ironlb_member_packets_received_total",
			   "Member protocol packets received.", METRICS_COUNTER, NULL);
	io->mf.out = family(reg, "ironlb_member_packets_sent_total",
			    "Member protocol packets sent.", METRICS_COUNTER, NULL);
	io->mf.dropped = family(reg, "ironlb_member_packets_dropped_total",
				"Member protocol packets dropped, by reason (malformed, bad_tag: "
				"missing or wrong HMAC, replayed, unknown_sender).",
				METRICS_COUNTER, reason);
	io->mf.probes = family(reg, "ironlb_member_probes_total",
			       "Probes of other members started.", METRICS_COUNTER, NULL);
	io->mf.probes_failed = family(reg, "ironlb_member_probes_failed_total",
				      "Probes that got no ack, direct or indirect.",
				      METRICS_COUNTER, NULL);
	io->mf.failovers = family(reg, "ironlb_member_failovers_total",
				  "Members found dead or left (what they announced fails over), "
				  "by state.", METRICS_COUNTER, state);
	io->mf.members = family(reg, "ironlb_member_members",
				"Configured members by state.", METRICS_GAUGE, state);
	io->mf.awareness = family(reg, "ironlb_member_local_health",
				  "Local health score (0 healthy); probe timeouts scale by it + 1.",
				  METRICS_GAUGE, NULL);
}

struct member_io *member_io_new(struct ev_loop *loop, const struct member_io_config *cfg,
				char *why, size_t whylen)
{
	struct member_io *io = xcalloc(1, sizeof(*io));
	struct timespec ts;

	io->loop = loop;
	io->fd = -1;
	io->on_change = cfg->on_change;
	io->on_digest = cfg->on_digest;
	io->ctx = cfg->ctx;
	if (!cfg->name || !member_name_valid(cfg->name, strlen(cfg->name))) {
		snprintf(why, whylen, "member: node name \"%s\" is not a valid member name "
			 "(1 to %d printable ASCII characters without blanks)",
			 cfg->name ? cfg->name : "", MEMBER_NAME_MAX);
		free(io);
		return NULL;
	}
	io->name = xstrdup(cfg->name);
	io->timing = cfg->timing;
	if (open_socket(io, cfg->bind, cfg->port, why, whylen) != 0) {
		free(io->name);
		free(io);
		return NULL;
	}
	/* The boot epoch, unless given: wall-clock microseconds, greater at
	 * every start as long as the clock does not step back across a
	 * restart. */
	clock_gettime(CLOCK_REALTIME, &ts);
	struct member_config mc = {
		.name = cfg->name,
		.epoch = cfg->epoch ? cfg->epoch
				    : (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u,
		.key = cfg->key, .key_len = cfg->key_len,
		.timing = cfg->timing,
		.seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^
			hashmap_hash(cfg->name, strlen(cfg->name)),
		.send = io_send, .on_change = io_change, .on_digest = io_digest, .ctx = io,
	};
	io->m = member_new(&mc, mono_us());
	if (!io->m) {
		snprintf(why, whylen, "member: invalid timing (probe timeout must be below the "
			 "probe interval, every multiplier at least 1)");
		close(io->fd);
		free(io->name);
		free(io);
		return NULL;
	}
	if (cfg->metrics)
		register_metrics(io, cfg->metrics);
	ev_io_init(&io->rw, on_read, io->fd, EV_READ);
	io->rw.data = io;
	ev_io_start(loop, &io->rw);
	ev_init(&io->timer, on_timer);
	io->timer.data = io;
	rearm(io);
	return io;
}

void member_io_free(struct member_io *io)
{
	if (!io)
		return;
	ev_io_stop(io->loop, &io->rw);
	ev_timer_stop(io->loop, &io->timer);
	if (io->fd >= 0)
		close(io->fd);
	member_free(io->m);
	free(io->name);
	free(io);
}

int member_io_set_peers(struct member_io *io, const struct member_peer *peers, size_t n)
{
	int rc = member_set_peers(io->m, peers, n, mono_us());

	rearm(io);
	return rc;
}

void member_io_join(struct member_io *io)
{
	member_join(io->m, mono_us());
	rearm(io);
}

void member_io_set_digest(struct member_io *io, uint64_t digest)
{
	member_set_digest(io->m, digest, mono_us());
	rearm(io);
}

void member_io_leave(struct member_io *io)
{
	member_leave(io->m, mono_us());
	rearm(io);
}

void member_io_set_key(struct member_io *io, const uint8_t *key, size_t key_len)
{
	member_set_key(io->m, key, key_len, mono_us());
}

void member_io_silence(struct member_io *io)
{
	io->silenced = true;
	ev_io_stop(io->loop, &io->rw);
	ev_timer_stop(io->loop, &io->timer);
}

struct member *member_io_core(struct member_io *io)
{
	return io->m;
}

uint16_t member_io_port(const struct member_io *io)
{
	return io->port;
}

int member_key_read(const char *path, uint8_t **key, size_t *len, char *why, size_t whylen)
{
	size_t n;
	char *buf = file_read_all(path, &n);

	if (!buf) {
		snprintf(why, whylen, "%s: cannot read the member key: %s", path, strerror(errno));
		return -1;
	}
	/* Editors and `echo` end the file with a newline: not part of the key. */
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
		     buf[n - 1] == '\t'))
		n--;
	if (n == 0 || n > MEMBER_KEY_MAX) {
		snprintf(why, whylen, "%s: the member key is %s; expected 1 to %d bytes of text "
			 "(the same on every node)", path, n ? "too long" : "empty", MEMBER_KEY_MAX);
		memset(buf, 0, n);
		free(buf);
		return -1;
	}
	*key = (uint8_t *)buf;
	*len = n;
	return 0;
}

static json_t *ms_ago(int64_t now, int64_t t)
{
	return t ? json_real((double)(now - t) / 1000.0) : json_null();
}

/* The settings an operator compares between nodes (every node should run
 * the same timing: a node with a shorter suspicion than its peers'
 * refutation delay declares them dead sooner than they can answer). */
static json_t *timing_json(const struct member_timing *t)
{
	double min_ms = (double)t->suspicion_mult * (double)t->probe_interval_us / 1000.0;
	json_t *o = json_object();

	json_object_set_new(o, "probe_interval_ms", json_real((double)t->probe_interval_us / 1000.0));
	json_object_set_new(o, "probe_timeout_ms", json_real((double)t->probe_timeout_us / 1000.0));
	json_object_set_new(o, "suspicion_min_ms", json_real(min_ms));
	json_object_set_new(o, "suspicion_max_ms", json_real(min_ms * t->suspicion_max_mult));
	return o;
}

json_t *member_io_status_json(const struct member_io *io)
{
	const struct member_counters *c = member_counters(io->m);
	int64_t now = mono_us();
	json_t *o = json_object(), *cs = json_object(), *list = json_array();

	json_object_set_new(o, "name", json_string(io->name));
	json_object_set_new(o, "port", json_integer(io->port));
	json_object_set_new(o, "authenticated", json_boolean(member_has_key(io->m)));
	json_object_set_new(o, "incarnation", json_integer(member_incarnation(io->m)));
	json_object_set_new(o, "local_health", json_integer(member_awareness(io->m)));
	json_object_set_new(o, "timing", timing_json(&io->timing));
#define C(f) json_object_set_new(cs, #f, json_integer((json_int_t)c->f))
	C(packets_in); C(packets_out); C(bad); C(bad_tag); C(replayed); C(unknown_sender);
	C(send_errors); C(probes); C(probes_failed); C(indirect_probes); C(suspects);
	C(deaths); C(refutes); C(late_ticks);
#undef C
	json_object_set_new(o, "counters", cs);
	struct member_info mi;
	for (size_t i = 0; member_get(io->m, i, &mi) == 0; i++) {
		char ip[IP_STR_MAX];
		json_t *e = json_object();
		json_object_set_new(e, "name", json_string(mi.name));
		json_object_set_new(e, "address", json_string(ip_format(&mi.addr.ip, ip)));
		json_object_set_new(e, "port", json_integer(mi.addr.port));
		json_object_set_new(e, "state", json_string(member_state_name[mi.state]));
		json_object_set_new(e, "incarnation", json_integer(mi.incarnation));
		json_object_set_new(e, "in_state_ms", ms_ago(now, mi.since));
		json_object_set_new(e, "last_heard_ms_ago", ms_ago(now, mi.last_heard));
		json_object_set_new(e, "rtt_ms", mi.rtt_us >= 0 ? json_real((double)mi.rtt_us / 1000.0)
								: json_null());
		json_array_append_new(list, e);
	}
	json_object_set_new(o, "members", list);
	return o;
}
