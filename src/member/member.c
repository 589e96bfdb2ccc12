/*
 * The member protocol: SWIM failure detection with the Lifeguard
 * refinements, pure and deterministic (no syscalls; time comes in as `now`,
 * packets go out through cfg.send, randomness from a seeded generator).
 *
 * Each probe period this node pings one member: every other period its
 * successor on a ring of the members (so each member is probed at least
 * every two periods), the others in a shuffled round-robin order (so every
 * node probes every member within a pass), and a member it heard is
 * suspected out of turn, to confirm or not.  No ack within the probe
 * timeout: the member is pinged again and k
 * other members are asked to ping it (ping-req); no ack by the end of the
 * period: it becomes suspect.  A suspect that hears of it refutes by raising
 * its incarnation; otherwise it is declared dead when the suspicion times
 * out, which happens sooner the more members independently suspect it
 * (Lifeguard's dynamic suspicion).  This node's own health (Lifeguard's
 * local health multiplier) stretches its timeouts when its probes fail for
 * reasons that look local (missing nacks from relays, being suspected
 * itself, timers that fire late because the CPU was starved), so a slow
 * node does not declare healthy ones dead.
 *
 * Membership news (alive / suspect / dead / left with incarnations) is
 * piggybacked on every packet, each update sent a bounded number of times
 * (retransmit_mult * ceil(log10(N+1))); news this node learns is also
 * pushed at once to gossip_fanout members, so it spreads through the
 * cluster in O(log N) network hops instead of probe periods.  The updates
 * about a packet's recipient go first (Lifeguard's buddy system), so a
 * suspect learns of the suspicion from the very probes that test it.
 */
#include "member/member.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/util.h"

#define RELAY_MAX 32
#define SUSPECT_PINGS_MAX 3      /* buddy pings per period to members we suspect */
#define SUSPICION_K_MAX 8

struct mnode {
	char *name;
	struct member_addr addr;
	enum member_state state;
	uint32_t inc;
	int64_t since, last_heard, rtt_us;
	struct member_replay replay;
	bool self;
	/* Suspicion (state SUSPECT). */
	int64_t susp_start, susp_deadline;
	unsigned susp_k, susp_n;
	uint64_t susp_confirm[SUSPICION_K_MAX];   /* name hashes of confirmers */
	bool susp_own;                            /* our own probe failed */
	/* Dissemination of its current state. */
	bool queued;
	unsigned transmits;
	int64_t told_at;                          /* last buddy message sent to it */
	/* Its state digest, from the header of its packets. */
	bool has_digest;
	uint64_t digest;
};

struct relay {
	bool used, acked, nacked;
	uint32_t id;                 /* our ping to the target */
	uint32_t req_probe;          /* the requester's probe number */
	struct member_addr req_addr;
	int64_t nack_at, expire;
};

struct member {
	char *name;
	uint64_t epoch, seq;
	uint8_t *key;
	size_t key_len;
	/* The key before the last member_set_key() (prev_key_len 0: there
	 * was none): packets go out under it, and are accepted under either,
	 * while in_rotation, until prev_until. */
	uint8_t *prev_key;
	size_t prev_key_len;
	int64_t prev_until;
	bool in_rotation;
	struct member_timing t;
	uint64_t rng;
	int (*send)(void *ctx, const struct member_addr *to, const uint8_t *p, size_t len);
	void (*on_change)(void *ctx, const struct member_event *ev);
	void (*on_digest)(void *ctx, const char *name, uint64_t digest);
	void *ctx;

	/* This node's state digest (member_set_digest), in every header;
	 * a change is also sent to every live member, rate-limited. */
	bool has_digest;
	uint64_t digest;
	bool digest_dirty;
	int64_t next_digest_at;

	struct mnode **nodes;        /* nodes[0] is this node */
	size_t n;
	struct hashmap by_name;
	unsigned count[MEMBER_STATE_COUNT];   /* of the others */
	unsigned n_suspect_timers;

	struct mnode **order;        /* probe order (others) */
	size_t n_order, pos;
	struct mnode *probe_first;   /* heard suspected: probe it next */
	struct mnode **ring;         /* all members by hash of name, this node too */
	bool ring_turn;              /* every other probe goes to the successor */
	bool last_out_of_turn;

	struct mnode **queue;        /* updates to disseminate */
	size_t nq;
	bool push;                   /* news to push to gossip_fanout members */
	const struct mnode *push_skip;

	struct {
		bool active, acked, indirect;
		bool direct_only;            /* out of turn, to confirm a suspicion */
		struct mnode *target;
		uint32_t id;
		int64_t start, direct_deadline, end;
		unsigned nacks_expected, nacks;
	} probe;
	uint32_t next_id;
	struct relay relays[RELAY_MAX];

	int64_t next_probe_at, next_gossip_at, next_reconnect_at, due;
	unsigned awareness;
	bool left;
	bool announce_self;          /* join/leave: our own update in every packet */
	bool refuted;                /* during this input */
	struct member_counters c;
	uint8_t pkt[MEMBER_PACKET_MAX];
};

/* ------------------------------------------------------------ helpers */

static uint64_t rnd(struct member *m)
{
	/* splitmix64: small, and good enough for probe order and fanout. */
	uint64_t z = (m->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rnd_below(struct member *m, size_t n)
{
	return n ? (size_t)(rnd(m) % n) : 0;
}

static int64_t scaled(const struct member *m, int64_t us)
{
	return us * (int64_t)(m->awareness + 1);
}

static void awareness_add(struct member *m, int d)
{
	int a = (int)m->awareness + d;

	if (a < 0)
		a = 0;
	if (a > (int)m->t.awareness_max)
		a = (int)m->t.awareness_max;
	m->awareness = (unsigned)a;
}

static unsigned retransmit_limit(const struct member *m)
{
	unsigned l = (unsigned)ceil(log10((double)m->n + 1.0));

	return m->t.retransmit_mult * (l ? l : 1);
}

static struct mnode *node_by_name(const struct member *m, const char *name)
{
	return hashmap_get_str(&m->by_name, name);
}

static bool live(const struct mnode *x)
{
	return x->state == MEMBER_ALIVE || x->state == MEMBER_SUSPECT;
}

static void enqueue(struct member *m, struct mnode *x)
{
	x->transmits = 0;
	if (!x->queued) {
		x->queued = true;
		m->queue = xrealloc(m->queue, (m->nq + 1) * sizeof(*m->queue));
		m->queue[m->nq++] = x;
	}
	m->push = true;
}

static void dequeue_at(struct member *m, size_t i)
{
	m->queue[i]->queued = false;
	m->queue[i] = m->queue[--m->nq];
}

static void node_update(const struct member *m, const struct mnode *x, struct member_update *u)
{
	memset(u, 0, sizeof(*u));
	if (x->self) {
		u->state = m->left ? MEMBER_LEFT : MEMBER_ALIVE;
	} else {
		u->state = x->state;
		u->own = x->state == MEMBER_SUSPECT && x->susp_own;
	}
	u->incarnation = x->inc;
	strcpy(u->name, x->name);
}

/* ------------------------------------------------------------ sending */

static size_t base_len(const struct member *m, const struct member_msg *msg)
{
	size_t n = MEMBER_HEADER_LEN + 1 + strlen(m->name) + 1;

	if (msg->type == MEMBER_MSG_PING || msg->type == MEMBER_MSG_PING_REQ)
		n += 1 + strlen(msg->target);
	if (msg->type == MEMBER_MSG_PING_REQ)
		n += 1 + 16 + 2;
	if (m->in_rotation ? m->prev_key_len : m->key_len)
		n += MEMBER_TAG_LEN;
	if (m->has_digest)
		n += MEMBER_DIGEST_LEN;
	return n;
}

static int by_transmits(const void *a, const void *b)
{
	const struct mnode *x = *(struct mnode *const *)a, *y = *(struct mnode *const *)b;

	return (x->transmits > y->transmits) - (x->transmits < y->transmits);
}

/*
 * Send msg to `to` with as many updates as fit: first what we hold about
 * the recipient when it is not simply alive (so it can refute), then the
 * queued updates sent the fewest times.
 */
static void send_msg(struct member *m, const struct member_addr *to, struct member_msg *msg,
		     struct mnode *dest)
{
	size_t len = base_len(m, msg);
	struct mnode *picked[MEMBER_UPDATES_MAX];
	size_t npicked = 0;

	msg->epoch = m->epoch;
	msg->seq = ++m->seq;
	msg->has_digest = m->has_digest;
	msg->digest = m->digest;
	strcpy(msg->sender, m->name);
	msg->n_updates = 0;
	if (dest && !dest->self && dest->state != MEMBER_ALIVE) {
		node_update(m, dest, &msg->updates[0]);
		len += member_update_wire_len(&msg->updates[0]);
		msg->n_updates = 1;
	}
	if (m->announce_self) {
		struct member_update *u = &msg->updates[msg->n_updates++];
		node_update(m, m->nodes[0], u);
		len += member_update_wire_len(u);
	}
	/* Fewest transmissions first.  The queue is usually a handful of
	 * updates but can hold one per member after a partition heals, so it
	 * is sorted rather than scanned once per slot. */
	struct mnode **byt = NULL;
	size_t nc = 0;
	if (m->nq) {
		byt = xmalloc(m->nq * sizeof(*byt));
		for (size_t i = 0; i < m->nq; i++) {
			struct mnode *x = m->queue[i];
			if ((x == dest && !x->self && x->state != MEMBER_ALIVE) ||
			    (m->announce_self && x->self))
				continue;     /* already in */
			byt[nc++] = x;
		}
		qsort(byt, nc, sizeof(*byt), by_transmits);
	}
	for (size_t i = 0; i < nc && msg->n_updates < MEMBER_UPDATES_MAX; i++) {
		struct member_update *u = &msg->updates[msg->n_updates];
		node_update(m, byt[i], u);
		size_t ul = member_update_wire_len(u);
		if (len + ul > MEMBER_PACKET_MAX)
			break;
		len += ul;
		msg->n_updates++;
		picked[npicked++] = byt[i];
	}
	free(byt);

	struct wbuf w;
	wbuf_init_fixed(&w, m->pkt, sizeof(m->pkt));
	if (member_msg_encode(&w, msg, m->in_rotation ? m->prev_key : m->key,
			      m->in_rotation ? m->prev_key_len : m->key_len) != 0) {
		m->c.send_errors++;
		return;
	}
	if (m->send(m->ctx, to, w.p, w.len) != 0)
		m->c.send_errors++;
	m->c.packets_out++;

	/* Count the transmissions; retire updates sent often enough (from the
	 * highest index down, so removals do not move unvisited ones). */
	unsigned limit = retransmit_limit(m);
	for (size_t j = 0; j < npicked; j++)
		picked[j]->transmits++;
	for (size_t i = m->nq; i-- > 0;)
		if (m->queue[i]->transmits >= limit)
			dequeue_at(m, i);
}

static void send_simple(struct member *m, enum member_msg_type type, const struct member_addr *to,
			uint32_t probe, struct mnode *dest)
{
	struct member_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	msg.probe = probe;
	if (type == MEMBER_MSG_PING)
		strcpy(msg.target, dest->name);
	send_msg(m, to, &msg, dest);
}

/* Up to k distinct members other than the excluded ones, alive (or
 * suspect too when want_suspect). */
static size_t pick_members(struct member *m, struct mnode **out, size_t k, bool want_suspect,
			   const struct mnode *ex1, const struct mnode *ex2)
{
	size_t got = 0, others = m->n - 1;

	if (!others)
		return 0;
	/* Random draws first (cheap at any size), then a scan from a random
	 * start when the draws found too few. */
	for (size_t attempt = 0; attempt < 4 * k + 8 && got < k; attempt++) {
		struct mnode *x = m->nodes[1 + rnd_below(m, others)];
		bool dup = false;

		if (x == ex1 || x == ex2 || !(x->state == MEMBER_ALIVE ||
					      (want_suspect && x->state == MEMBER_SUSPECT)))
			continue;
		for (size_t j = 0; j < got; j++)
			dup |= out[j] == x;
		if (!dup)
			out[got++] = x;
	}
	size_t start = rnd_below(m, others);
	for (size_t i = 0; i < others && got < k; i++) {
		struct mnode *x = m->nodes[1 + (start + i) % others];
		bool dup = false;

		if (x == ex1 || x == ex2 || !(x->state == MEMBER_ALIVE ||
					      (want_suspect && x->state == MEMBER_SUSPECT)))
			continue;
		for (size_t j = 0; j < got; j++)
			dup |= out[j] == x;
		if (!dup)
			out[got++] = x;
	}
	return got;
}

static void gossip_to(struct member *m, struct mnode *x)
{
	struct member_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = MEMBER_MSG_GOSSIP;
	send_msg(m, &x->addr, &msg, x);
}

static void flush_push(struct member *m)
{
	struct mnode *to[16];
	size_t k = m->t.gossip_fanout < 16 ? m->t.gossip_fanout : 16;

	if (!m->push)
		return;
	m->push = false;
	if (!m->nq)
		return;
	size_t n = pick_members(m, to, k, true, m->push_skip, NULL);
	for (size_t i = 0; i < n && m->nq; i++)
		gossip_to(m, to[i]);
	m->push_skip = NULL;
}

/* ------------------------------------------------------------ state */

static void set_state(struct member *m, struct mnode *x, enum member_state to, int64_t now)
{
	enum member_state from = x->state;

	if (from == MEMBER_SUSPECT && to != MEMBER_SUSPECT) {
		m->n_suspect_timers--;
		x->susp_n = 0;
		x->susp_own = false;
	}
	enqueue(m, x);
	if (from == to)
		return;
	m->count[from]--;
	m->count[to]++;
	x->state = to;
	x->since = now;
	/* A dead member is back: likely a partition healed, and the others
	 * behind it are alive too.  Try the next dead member within a period
	 * rather than the next reconnect round (at most one try a period). */
	if (from == MEMBER_DEAD && to == MEMBER_ALIVE &&
	    m->next_reconnect_at > now + m->t.probe_interval_us)
		m->next_reconnect_at = now + m->t.probe_interval_us;
	if (m->on_change) {
		struct member_event ev = {
			.name = x->name, .addr = &x->addr, .from = from, .to = to,
			.incarnation = x->inc, .at = now, .last_heard = x->last_heard,
		};
		m->on_change(m->ctx, &ev);
	}
}

static int64_t suspicion_timeout(const struct member *m, const struct mnode *x)
{
	double min = (double)m->t.suspicion_mult * (double)m->t.probe_interval_us;
	double max = min * (double)m->t.suspicion_max_mult;

	if (x->susp_k < 1)
		return (int64_t)min;
	double frac = log((double)x->susp_n + 1.0) / log((double)x->susp_k + 1.0);
	double v = max - (max - min) * frac;
	return (int64_t)(v < min ? min : v);
}

static void suspect(struct member *m, struct mnode *x, uint32_t inc, bool own, int64_t now)
{
	/* Confirmations that can come: the other live members but the suspect
	 * and us (Lifeguard's K = min(k, n - 2)). */
	unsigned others = m->count[MEMBER_ALIVE] + m->count[MEMBER_SUSPECT];
	unsigned k = others >= 1 ? others - 1 : 0;

	if (k > m->t.suspicion_k)
		k = m->t.suspicion_k;
	if (x->state != MEMBER_SUSPECT)
		m->n_suspect_timers++;
	x->inc = inc;
	x->susp_start = now;
	x->susp_k = k;
	x->susp_n = 0;
	x->susp_own = own;
	x->susp_deadline = now + suspicion_timeout(m, x);
	set_state(m, x, MEMBER_SUSPECT, now);
}

static void confirm(struct member *m, struct mnode *x, const char *by)
{
	uint64_t h = hashmap_hash(by, strlen(by));

	for (unsigned i = 0; i < x->susp_n; i++)
		if (x->susp_confirm[i] == h)
			return;
	if (x->susp_n >= x->susp_k)
		return;
	x->susp_confirm[x->susp_n++] = h;
	x->susp_deadline = x->susp_start + suspicion_timeout(m, x);
}

static void refute(struct member *m, uint32_t heard, int64_t now)
{
	struct mnode *self = m->nodes[0];

	self->inc = heard + 1;
	m->c.refutes++;
	m->refuted = true;
	/* Being suspected while alive suggests we are the slow one. */
	awareness_add(m, 1);
	enqueue(m, self);
}

/* An update from `from` (the packet's sender). */
static void apply(struct member *m, const struct member_update *u, struct mnode *from, int64_t now)
{
	struct mnode *x = node_by_name(m, u->name);

	if (!x)
		return;
	if (x->self) {
		if (m->left)
			return;
		if (u->state != MEMBER_ALIVE && u->incarnation >= x->inc) {
			refute(m, u->incarnation, now);
		} else if (u->state != MEMBER_ALIVE) {
			/* An accusation we already refuted: its sender missed the
			 * refutation, which may have run out of retransmissions.
			 * Send it again, to the sender first. */
			enqueue(m, x);
			m->refuted = true;
		}
		else if (u->state == MEMBER_ALIVE && u->incarnation > x->inc)
			refute(m, u->incarnation, now);    /* an earlier run's, outdo it */
		return;
	}
	switch (u->state) {
	case MEMBER_ALIVE:
		if (u->incarnation > x->inc) {
			x->inc = u->incarnation;
			set_state(m, x, MEMBER_ALIVE, now);
		}
		break;
	case MEMBER_SUSPECT:
		if (x->state == MEMBER_ALIVE && u->incarnation >= x->inc) {
			suspect(m, x, u->incarnation, false, now);
			if (u->own)
				confirm(m, x, from->name);
			/* Check it ourselves in the next period, out of turn: our
			 * own failed probe confirms the suspicion (and shortens
			 * it) at no extra cost, an ack weighs against it. */
			m->probe_first = x;
		} else if (x->state == MEMBER_SUSPECT && u->incarnation == x->inc) {
			if (u->own)
				confirm(m, x, from->name);
		} else if (u->incarnation > x->inc) {
			/* A newer suspicion: it refuted one we missed, or came
			 * back from dead and is suspected again. */
			suspect(m, x, u->incarnation, false, now);
			if (u->own)
				confirm(m, x, from->name);
		}
		break;
	case MEMBER_DEAD:
		if ((live(x) && u->incarnation >= x->inc) ||
		    (x->state == MEMBER_DEAD && u->incarnation > x->inc)) {
			x->inc = u->incarnation;
			set_state(m, x, MEMBER_DEAD, now);
		}
		break;
	case MEMBER_LEFT:
		if ((x->state != MEMBER_LEFT && u->incarnation >= x->inc) ||
		    (x->state == MEMBER_LEFT && u->incarnation > x->inc)) {
			x->inc = u->incarnation;
			set_state(m, x, MEMBER_LEFT, now);
		}
		break;
	default:
		break;
	}
	if (m->push && !m->push_skip)
		m->push_skip = from;
}

/* ------------------------------------------------------------ probing */

static void shuffle_order(struct member *m)
{
	size_t k = 0;

	m->order = xrealloc(m->order, (m->n ? m->n : 1) * sizeof(*m->order));
	for (size_t i = 1; i < m->n; i++)
		m->order[k++] = m->nodes[i];
	for (size_t i = k; i > 1; i--) {
		size_t j = rnd_below(m, i);
		struct mnode *tmp = m->order[i - 1];
		m->order[i - 1] = m->order[j];
		m->order[j] = tmp;
	}
	m->n_order = k;
	m->pos = 0;
}

static struct mnode *next_target(struct member *m)
{
	for (size_t tries = 0; tries < 2 * m->n_order + 1; tries++) {
		if (m->pos >= m->n_order)
			shuffle_order(m);
		if (!m->n_order)
			return NULL;
		struct mnode *x = m->order[m->pos++];
		if (live(x))
			return x;
	}
	return NULL;
}

static int by_ring(const void *a, const void *b)
{
	const struct mnode *x = *(struct mnode *const *)a, *y = *(struct mnode *const *)b;
	uint64_t hx = hashmap_hash(x->name, strlen(x->name));
	uint64_t hy = hashmap_hash(y->name, strlen(y->name));

	if (hx != hy)
		return hx < hy ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The next live member after us on the ring (members ordered by a hash of
 * their name, the same order at every node). */
static struct mnode *successor(const struct member *m)
{
	size_t self = 0;

	for (size_t i = 0; i < m->n; i++)
		if (m->ring[i]->self)
			self = i;
	for (size_t k = 1; k < m->n; k++) {
		struct mnode *x = m->ring[(self + k) % m->n];
		if (live(x))
			return x;
	}
	return NULL;
}

/*
 * The target of this period's probe.  Every other probe goes to our
 * successor on the ring, so every member is probed at least every two
 * periods by its predecessor however large the cluster (with random
 * targets alone, at 100 nodes no one probes a given member in a period
 * more than a third of the time, and the first probe of a dead member
 * comes after a geometric wait).  The others follow a shuffled round-robin
 * order, which gossip and asymmetric faults need.  A member we heard is
 * suspected goes first, out of turn.
 */
static struct mnode *pick_target(struct member *m, bool *out_of_turn)
{
	struct mnode *x = m->probe_first;
	bool wanted = x && x->state == MEMBER_SUSPECT && !x->susp_own;

	*out_of_turn = false;
	if (!wanted)
		m->probe_first = NULL;
	/* Never two out of turn in a row: when many members are suspected at
	 * once (a partition), probing in turn must go on (the suspect waits
	 * for the next period). */
	if (wanted && !m->last_out_of_turn) {
		m->probe_first = NULL;
		*out_of_turn = m->last_out_of_turn = true;
		return x;
	}
	m->last_out_of_turn = false;
	m->ring_turn = !m->ring_turn;
	if (m->ring_turn && (x = successor(m)))
		return x;
	return next_target(m);
}

static void start_probe(struct member *m, int64_t now)
{
	bool out_of_turn;
	struct mnode *x = pick_target(m, &out_of_turn);

	if (!x)
		return;
	m->c.probes++;
	m->probe.active = true;
	m->probe.acked = false;
	m->probe.indirect = false;
	m->probe.target = x;
	m->probe.id = ++m->next_id ? m->next_id : ++m->next_id;
	m->probe.start = now;
	m->probe.direct_deadline = now + scaled(m, m->t.probe_timeout_us);
	m->probe.end = now + scaled(m, m->t.probe_interval_us);
	m->probe.nacks = m->probe.nacks_expected = 0;
	m->probe.direct_only = out_of_turn;
	send_simple(m, MEMBER_MSG_PING, &x->addr, m->probe.id, x);
}

static void probe_indirect(struct member *m)
{
	struct mnode *x = m->probe.target, *relays[16];
	size_t k = m->t.indirect_k < 16 ? m->t.indirect_k : 16;
	/* A confirming probe asks no relays: the suspicion it confirms was
	 * already checked through them, and every member confirms at once,
	 * so relays would multiply the cost of each death by the cluster. */
	size_t n = m->probe.direct_only ? 0 : pick_members(m, relays, k, false, x, NULL);

	m->probe.indirect = true;
	/* A second direct try as well: under loss the first ping or its ack
	 * may simply have been dropped. */
	send_simple(m, MEMBER_MSG_PING, &x->addr, m->probe.id, x);
	for (size_t i = 0; i < n; i++) {
		struct member_msg msg;

		memset(&msg, 0, sizeof(msg));
		msg.type = MEMBER_MSG_PING_REQ;
		msg.probe = m->probe.id;
		strcpy(msg.target, x->name);
		msg.target_addr = x->addr;
		send_msg(m, &relays[i]->addr, &msg, relays[i]);
		m->c.indirect_probes++;
	}
	m->probe.nacks_expected = (unsigned)n;
}

static void probe_end(struct member *m, int64_t now)
{
	struct mnode *x = m->probe.target;

	m->probe.active = false;
	if (m->probe.acked)
		return;
	m->c.probes_failed++;
	/* Relays that did not even nack: our own network or CPU is the likely
	 * culprit (Lifeguard), so slow down rather than accuse. */
	if (m->probe.nacks < m->probe.nacks_expected)
		awareness_add(m, 1);
	if (x->state == MEMBER_ALIVE) {
		m->c.suspects++;
		suspect(m, x, x->inc, true, now);
	} else if (x->state == MEMBER_SUSPECT && !x->susp_own) {
		x->susp_own = true;
		enqueue(m, x);
	}
}

/* ------------------------------------------------------------ input */

static struct relay *relay_new(struct member *m)
{
	struct relay *oldest = &m->relays[0];

	for (size_t i = 0; i < RELAY_MAX; i++) {
		if (!m->relays[i].used)
			return &m->relays[i];
		if (m->relays[i].expire < oldest->expire)
			oldest = &m->relays[i];
	}
	return oldest;       /* bounded: the oldest request is dropped */
}

static void handle(struct member *m, const struct member_msg *msg, struct mnode *from,
		   const struct member_addr *src, int64_t now)
{
	switch (msg->type) {
	case MEMBER_MSG_PING:
		if (strcmp(msg->target, m->name) != 0)
			return;      /* meant for another node behind this address */
		send_simple(m, MEMBER_MSG_ACK, src, msg->probe, from);
		break;
	case MEMBER_MSG_PING_REQ: {
		struct mnode *target = node_by_name(m, msg->target);
		struct member_msg ping;

		/* Only configured members are pinged on request, at the address
		 * we hold: a ping-req cannot aim our packets elsewhere. */
		if (!target || target->self)
			return;
		struct relay *r = relay_new(m);
		memset(r, 0, sizeof(*r));
		r->used = true;
		r->id = ++m->next_id ? m->next_id : ++m->next_id;
		r->req_probe = msg->probe;
		r->req_addr = *src;
		r->nack_at = now + m->t.probe_timeout_us * 8 / 10;
		r->expire = now + 2 * m->t.probe_interval_us;
		memset(&ping, 0, sizeof(ping));
		ping.type = MEMBER_MSG_PING;
		ping.probe = r->id;
		strcpy(ping.target, msg->target);
		send_msg(m, &target->addr, &ping, target);
		break;
	}
	case MEMBER_MSG_ACK:
		if (!msg->probe)
			break;
		if (m->probe.active && msg->probe == m->probe.id && !m->probe.acked) {
			m->probe.acked = true;
			if (from == m->probe.target)
				from->rtt_us = now - m->probe.start;
			awareness_add(m, -1);
			break;
		}
		for (size_t i = 0; i < RELAY_MAX; i++) {
			struct relay *r = &m->relays[i];

			if (r->used && !r->acked && r->id == msg->probe) {
				r->acked = true;
				send_simple(m, MEMBER_MSG_ACK, &r->req_addr, r->req_probe, NULL);
				r->used = false;
				break;
			}
		}
		break;
	case MEMBER_MSG_NACK:
		if (m->probe.active && msg->probe == m->probe.id)
			m->probe.nacks++;
		break;
	case MEMBER_MSG_GOSSIP:
		break;
	}
	/* A member we do not hold alive is talking to us: tell it what we
	 * hold, at most once a period, so it can refute (it restarted, or a
	 * partition healed).  A ping was already answered with it. */
	if (msg->type != MEMBER_MSG_PING && from->state != MEMBER_ALIVE &&
	    now - from->told_at >= m->t.probe_interval_us) {
		from->told_at = now;
		gossip_to(m, from);
	}
}

static bool tag_ok_under(const uint8_t *key, size_t key_len, const struct member_msg *msg,
			 const uint8_t *p, size_t len)
{
	return key_len == 0 || (msg->tagged && member_msg_tag_ok(p, len, key, key_len));
}

/* Under the key, or under the previous one while a rotation is in its
 * grace time. */
static bool tag_accepted(const struct member *m, const struct member_msg *msg, const uint8_t *p,
			 size_t len, int64_t now)
{
	if (tag_ok_under(m->key, m->key_len, msg, p, len))
		return true;
	return m->in_rotation && now < m->prev_until &&
	       tag_ok_under(m->prev_key, m->prev_key_len, msg, p, len);
}

void member_input(struct member *m, const struct member_addr *src, const uint8_t *p,
		  size_t len, int64_t now)
{
	struct member_msg *msg;
	enum member_msg_err why;

	m->c.packets_in++;
	if (m->left)
		return;
	msg = xmalloc(sizeof(*msg));
	if (member_msg_decode(p, len, msg, &why) != 0) {
		m->c.bad++;
		goto out;
	}
	if (!tag_accepted(m, msg, p, len, now)) {
		m->c.bad_tag++;
		goto out;
	}
	struct mnode *from = node_by_name(m, msg->sender);
	if (!from || from->self) {
		m->c.unknown_sender++;
		goto out;
	}
	if (member_replay_check(&from->replay, msg->epoch, msg->seq) != 0) {
		m->c.replayed++;
		goto out;
	}
	from->last_heard = now;
	if (msg->has_digest && (!from->has_digest || from->digest != msg->digest)) {
		from->has_digest = true;
		from->digest = msg->digest;
		if (m->on_digest)
			m->on_digest(m->ctx, from->name, from->digest);
	}
	m->refuted = false;
	for (size_t i = 0; i < msg->n_updates; i++)
		apply(m, &msg->updates[i], from, now);
	handle(m, msg, from, src, now);
	/* The one who told us we are suspected hears the refutation straight
	 * away (a ping's ack already carried it). */
	if (m->refuted && msg->type != MEMBER_MSG_PING && now - from->told_at > 0) {
		from->told_at = now;
		gossip_to(m, from);
	}
	m->refuted = false;
	flush_push(m);
	m->due = member_next_deadline(m);
out:
	free(msg);
}

/* ------------------------------------------------------------ digest */

/* Tell every live member our new digest at once (one small gossip packet
 * each), then no more often than max(probe_interval, N x 10 ms): a
 * stream of changes costs at most 100 packets a second, and the digest
 * rides on every ping and ack anyway. */
static void digest_broadcast(struct member *m, int64_t now)
{
	m->digest_dirty = false;
	int64_t gap = (int64_t)(m->n - 1) * 10000;
	if (gap < m->t.probe_interval_us)
		gap = m->t.probe_interval_us;
	m->next_digest_at = now + gap;
	for (size_t i = 1; i < m->n; i++)
		if (live(m->nodes[i]))
			gossip_to(m, m->nodes[i]);
}

void member_set_digest(struct member *m, uint64_t digest, int64_t now)
{
	if (m->has_digest && m->digest == digest)
		return;
	m->has_digest = true;
	m->digest = digest;
	if (m->left)
		return;
	m->digest_dirty = true;
	if (now >= m->next_digest_at)
		digest_broadcast(m, now);
	m->due = member_next_deadline(m);
}

/* ------------------------------------------------------------ timers */

static void drop_prev_key(struct member *m)
{
	if (m->prev_key)
		memset(m->prev_key, 0, m->prev_key_len);
	free(m->prev_key);
	m->prev_key = NULL;
	m->prev_key_len = 0;
	m->in_rotation = false;
}

void member_tick(struct member *m, int64_t now)
{
	if (m->left)
		return;
	if (m->in_rotation && now >= m->prev_until)
		drop_prev_key(m);
	int64_t late = now - m->due;
	if (m->due && late > m->t.probe_timeout_us) {
		/* Our timers fired late: the CPU was starved.  What we did not
		 * hear meanwhile may be sitting unread; do not judge others by
		 * it.  Slow down, drop the probe whose wait we overslept, and give
		 * suspects the time we lost to refute. */
		m->c.late_ticks++;
		awareness_add(m, 1);
		if (m->probe.active && now >= m->probe.direct_deadline && !m->probe.acked)
			m->probe.active = false;
		for (size_t i = 1; i < m->n && m->n_suspect_timers; i++)
			if (m->nodes[i]->state == MEMBER_SUSPECT)
				m->nodes[i]->susp_deadline += late;
	}

	for (size_t i = 0; i < RELAY_MAX; i++) {
		struct relay *r = &m->relays[i];

		if (!r->used)
			continue;
		if (!r->acked && !r->nacked && now >= r->nack_at) {
			r->nacked = true;
			send_simple(m, MEMBER_MSG_NACK, &r->req_addr, r->req_probe, NULL);
		}
		if (now >= r->expire)
			r->used = false;
	}

	if (m->probe.active) {
		if (!m->probe.acked && !m->probe.indirect && now >= m->probe.direct_deadline)
			probe_indirect(m);
		if (now >= m->probe.end)
			probe_end(m, now);
	}

	if (m->n_suspect_timers) {
		for (size_t i = 1; i < m->n; i++) {
			struct mnode *x = m->nodes[i];

			if (x->state == MEMBER_SUSPECT && now >= x->susp_deadline) {
				m->c.deaths++;
				set_state(m, x, MEMBER_DEAD, now);
			}
		}
	}

	if (now >= m->next_probe_at) {
		m->next_probe_at = now + scaled(m, m->t.probe_interval_us);
		if (!m->probe.active)
			start_probe(m, now);
		/* Members we suspect on our own evidence are pinged every
		 * period, carrying the suspicion, so they can refute in their
		 * ack (those who only heard of it do not: the cost stays one
		 * extra packet per suspecting prober). */
		unsigned sent = 0;
		for (size_t i = 1; i < m->n && m->n_suspect_timers && sent < SUSPECT_PINGS_MAX; i++) {
			struct mnode *x = m->nodes[i];

			if (x->state == MEMBER_SUSPECT && x->susp_own && x != m->probe.target) {
				send_simple(m, MEMBER_MSG_PING, &x->addr, 0, x);
				sent++;
			}
		}
	}

	if (now >= m->next_gossip_at) {
		m->next_gossip_at = now + m->t.probe_interval_us;
		if (m->nq) {
			struct mnode *to[16];
			size_t k = m->t.gossip_fanout < 16 ? m->t.gossip_fanout : 16;
			size_t n = pick_members(m, to, k, true, NULL, NULL);
			for (size_t i = 0; i < n && m->nq; i++)
				gossip_to(m, to[i]);
		}
	}

	if (now >= m->next_reconnect_at) {
		/* Try one dead member: after a partition heals, neither side
		 * probes the other, so one side has to reach out.  Each node
		 * tries every reconnect_interval x N/10, so the whole cluster
		 * sends about 10 / reconnect_interval such pings however large
		 * it is, rather than every node pinging a dead machine. */
		size_t scale = (m->n - 1) / 10;
		int64_t period = m->t.reconnect_interval_us * (int64_t)(scale ? scale : 1);
		/* Jittered (0.5 to 1.5 periods): nodes started together must not
		 * all try at the same instants and leave long gaps between. */
		m->next_reconnect_at = now + period / 2 + (int64_t)rnd_below(m, (size_t)period);
		if (m->count[MEMBER_DEAD]) {
			size_t start = rnd_below(m, m->n - 1);
			for (size_t i = 0; i < m->n - 1; i++) {
				struct mnode *x = m->nodes[1 + (start + i) % (m->n - 1)];
				if (x->state == MEMBER_DEAD) {
					x->told_at = now;
					send_simple(m, MEMBER_MSG_PING, &x->addr, 0, x);
					break;
				}
			}
		}
	}
	if (m->digest_dirty && now >= m->next_digest_at)
		digest_broadcast(m, now);
	flush_push(m);
	m->due = member_next_deadline(m);
}

int64_t member_next_deadline(const struct member *m)
{
	int64_t d = m->next_probe_at;

#define EARLIER(v) do { if ((v) < d) d = (v); } while (0)
	if (m->left)
		return INT64_MAX;
	if (m->probe.active) {
		if (!m->probe.acked && !m->probe.indirect)
			EARLIER(m->probe.direct_deadline);
		EARLIER(m->probe.end);
	}
	for (size_t i = 0; i < RELAY_MAX; i++) {
		const struct relay *r = &m->relays[i];
		if (!r->used)
			continue;
		if (!r->acked && !r->nacked)
			EARLIER(r->nack_at);
		EARLIER(r->expire);
	}
	if (m->n_suspect_timers)
		for (size_t i = 1; i < m->n; i++)
			if (m->nodes[i]->state == MEMBER_SUSPECT)
				EARLIER(m->nodes[i]->susp_deadline);
	if (m->nq)
		EARLIER(m->next_gossip_at);
	if (m->count[MEMBER_DEAD])
		EARLIER(m->next_reconnect_at);
	if (m->digest_dirty)
		EARLIER(m->next_digest_at);
#undef EARLIER
	return d;
}

/* ------------------------------------------------------------ setup */

void member_timing_default(struct member_timing *t)
{
	*t = (struct member_timing){
		.probe_interval_us = 100000,
		.probe_timeout_us = 40000,
		.indirect_k = 3,
		.suspicion_mult = 3,
		.suspicion_max_mult = 2,
		.suspicion_k = 3,
		.retransmit_mult = 4,
		.gossip_fanout = 3,
		.awareness_max = 8,
		.reconnect_interval_us = 500000,
	};
}

void member_timing_fast(struct member_timing *t)
{
	member_timing_default(t);
	t->probe_interval_us = 30000;
	t->probe_timeout_us = 12000;
	t->reconnect_interval_us = 300000;
}

int member_timing_named(const char *name, struct member_timing *t)
{
	if (strcmp(name, "default") == 0)
		member_timing_default(t);
	else if (strcmp(name, "fast") == 0)
		member_timing_fast(t);
	else
		return -1;
	return 0;
}

static bool timing_ok(const struct member_timing *t)
{
	return t->probe_interval_us >= 1000 && t->probe_timeout_us >= 100 &&
	       t->probe_timeout_us < t->probe_interval_us && t->suspicion_mult >= 1 &&
	       t->suspicion_max_mult >= 1 && t->suspicion_k <= SUSPICION_K_MAX &&
	       t->retransmit_mult >= 1 && t->awareness_max <= 64 &&
	       t->reconnect_interval_us >= 1000;
}

static struct mnode *node_new(const char *name, const struct member_addr *addr, int64_t now)
{
	struct mnode *x = xcalloc(1, sizeof(*x));

	x->name = xstrdup(name);
	if (addr)
		x->addr = *addr;
	x->state = MEMBER_ALIVE;
	x->since = now;
	x->rtt_us = -1;
	x->told_at = INT64_MIN / 2;
	return x;
}

static void node_free(struct mnode *x)
{
	if (!x)
		return;
	free(x->name);
	free(x);
}

struct member *member_new(const struct member_config *cfg, int64_t now)
{
	if (!cfg->name || !member_name_valid(cfg->name, strlen(cfg->name)) || !cfg->send ||
	    !timing_ok(&cfg->timing))
		return NULL;
	struct member *m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(cfg->name);
	m->epoch = cfg->epoch;
	if (cfg->key && cfg->key_len) {
		m->key = xmalloc(cfg->key_len);
		memcpy(m->key, cfg->key, cfg->key_len);
		m->key_len = cfg->key_len;
	}
	m->t = cfg->timing;
	m->rng = cfg->seed ^ 0x6d656d626572ULL;
	m->send = cfg->send;
	m->on_change = cfg->on_change;
	m->on_digest = cfg->on_digest;
	m->ctx = cfg->ctx;
	hashmap_init(&m->by_name, false);
	struct mnode *self = node_new(cfg->name, NULL, now);
	self->self = true;
	m->nodes = xmalloc(sizeof(*m->nodes));
	m->nodes[0] = self;
	m->n = 1;
	hashmap_put_str(&m->by_name, self->name, self, NULL);
	m->ring = xmalloc(sizeof(*m->ring));
	m->ring[0] = self;
	/* The first probe at a random point of the first period, so nodes
	 * started together do not probe in lockstep. */
	m->next_probe_at = now + (int64_t)rnd_below(m, (size_t)m->t.probe_interval_us);
	m->next_gossip_at = now + m->t.probe_interval_us;
	m->next_reconnect_at = now + (int64_t)rnd_below(m, (size_t)m->t.reconnect_interval_us);
	m->due = 0;
	return m;
}

void member_free(struct member *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		node_free(m->nodes[i]);
	free(m->nodes);
	free(m->order);
	free(m->ring);
	free(m->queue);
	hashmap_clear(&m->by_name);
	if (m->key)
		memset(m->key, 0, m->key_len);
	free(m->key);
	drop_prev_key(m);
	free(m->name);
	free(m);
}

void member_set_key(struct member *m, const uint8_t *key, size_t key_len, int64_t now)
{
	if (key_len == m->key_len && (key_len == 0 || memcmp(key, m->key, key_len) == 0))
		return;
	/* A rotation during a rotation: the nodes still on the oldest key
	 * are the ones the grace time is for; keep sending under it. */
	if (m->in_rotation) {
		if (m->key)
			memset(m->key, 0, m->key_len);
		free(m->key);
	} else {
		m->prev_key = m->key;
		m->prev_key_len = m->key_len;
		m->in_rotation = true;
	}
	m->prev_until = now + MEMBER_KEY_GRACE_US;
	m->key = NULL;
	m->key_len = 0;
	if (key && key_len) {
		m->key = xmalloc(key_len);
		memcpy(m->key, key, key_len);
		m->key_len = key_len;
	}
}

int member_set_peers(struct member *m, const struct member_peer *peers, size_t n, int64_t now)
{
	struct hashmap seen;

	hashmap_init(&seen, false);
	for (size_t i = 0; i < n; i++) {
		const char *nm = peers[i].name;
		if (!nm || !member_name_valid(nm, strlen(nm)) ||
		    hashmap_put_str(&seen, nm, (void *)&peers[i], NULL)) {
			hashmap_clear(&seen);
			return -1;
		}
	}
	hashmap_clear(&seen);

	struct mnode **nodes = xmalloc((n + 1) * sizeof(*nodes));
	size_t k = 1;
	nodes[0] = m->nodes[0];
	for (size_t i = 0; i < n; i++) {
		if (strcmp(peers[i].name, m->name) == 0)
			continue;
		struct mnode *x = node_by_name(m, peers[i].name);
		if (x) {
			hashmap_del_str(&m->by_name, x->name, NULL);
			x->addr = peers[i].addr;
		} else {
			x = node_new(peers[i].name, &peers[i].addr, now);
		}
		nodes[k++] = x;
	}
	/* What is left in the map (but us) is gone from the configuration. */
	for (size_t i = 1; i < m->n; i++) {
		struct mnode *x = m->nodes[i];
		if (hashmap_get_str(&m->by_name, x->name) != x)
			continue;
		for (size_t q = m->nq; q-- > 0;)
			if (m->queue[q] == x)
				dequeue_at(m, q);
		if (m->probe.target == x)
			m->probe.active = false, m->probe.target = NULL;
		if (m->push_skip == x)
			m->push_skip = NULL;
		if (m->probe_first == x)
			m->probe_first = NULL;
		node_free(x);
	}
	free(m->nodes);
	m->nodes = nodes;
	m->n = k;
	hashmap_clear(&m->by_name);
	memset(m->count, 0, sizeof(m->count));
	m->n_suspect_timers = 0;
	for (size_t i = 0; i < k; i++) {
		hashmap_put_str(&m->by_name, nodes[i]->name, nodes[i], NULL);
		if (i) {
			m->count[nodes[i]->state]++;
			if (nodes[i]->state == MEMBER_SUSPECT)
				m->n_suspect_timers++;
		}
	}
	shuffle_order(m);
	m->ring = xrealloc(m->ring, k * sizeof(*m->ring));
	memcpy(m->ring, nodes, k * sizeof(*m->ring));
	qsort(m->ring, k, sizeof(*m->ring), by_ring);
	m->due = member_next_deadline(m);
	return 0;
}

void member_join(struct member *m, int64_t now)
{
	if (m->left)
		return;
	enqueue(m, m->nodes[0]);
	m->announce_self = true;
	for (size_t i = 1; i < m->n; i++)
		gossip_to(m, m->nodes[i]);
	m->announce_self = false;
	m->push = false;
	m->due = member_next_deadline(m);
}

void member_leave(struct member *m, int64_t now)
{
	if (m->left)
		return;
	m->left = true;
	m->nodes[0]->inc++;
	enqueue(m, m->nodes[0]);
	/* Everyone at once, not by gossip: a leave must take effect now.  One
	 * packet per member, once. */
	m->announce_self = true;
	for (size_t i = 1; i < m->n; i++)
		if (live(m->nodes[i]))
			gossip_to(m, m->nodes[i]);
	m->announce_self = false;
	m->push = false;
}

/* ------------------------------------------------------------ queries */

size_t member_count(const struct member *m)
{
	return m->n - 1;
}

static void info(const struct mnode *x, struct member_info *out)
{
	out->name = x->name;
	out->addr = x->addr;
	out->state = x->state;
	out->incarnation = x->inc;
	out->since = x->since;
	out->last_heard = x->last_heard;
	out->rtt_us = x->rtt_us;
	out->has_digest = x->has_digest;
	out->digest = x->digest;
}

int member_get(const struct member *m, size_t i, struct member_info *out)
{
	if (i + 1 >= m->n)
		return -1;
	info(m->nodes[i + 1], out);
	return 0;
}

int member_find(const struct member *m, const char *name, struct member_info *out)
{
	const struct mnode *x = node_by_name(m, name);

	if (!x || x->self)
		return -1;
	info(x, out);
	return 0;
}

const struct member_counters *member_counters(const struct member *m)
{
	return &m->c;
}

unsigned member_awareness(const struct member *m)
{
	return m->awareness;
}

uint32_t member_incarnation(const struct member *m)
{
	return m->nodes[0]->inc;
}

bool member_has_key(const struct member *m)
{
	return m->key_len > 0;
}
