/*
 * The member protocol's wire format (docs/member-protocol.md), pure.
 *
 * Every field is read through an rbuf and written through a wbuf; every
 * count and length is bounded before it is used, and a packet that breaks
 * a rule is rejected with a reason, never asserted on.  The tag is the
 * HMAC-SHA256 of every byte before it; the decoder only locates it, the
 * protocol core checks it (it alone holds the key).
 */
#include "member/member.h"

#include <string.h>

#include "base/hmac.h"

const char *const member_state_name[MEMBER_STATE_COUNT] = {
	[MEMBER_ALIVE] = "alive",
	[MEMBER_SUSPECT] = "suspect",
	[MEMBER_DEAD] = "dead",
	[MEMBER_LEFT] = "left",
};

static const char *const err_str[MEMBER_MSG_ERR_COUNT] = {
	[MEMBER_MSG_OK] = "ok",
	[MEMBER_MSG_SHORT] = "truncated",
	[MEMBER_MSG_TOO_LONG] = "longer than 1200 bytes",
	[MEMBER_MSG_BAD_MAGIC] = "not a member packet (magic)",
	[MEMBER_MSG_BAD_VERSION] = "unsupported version",
	[MEMBER_MSG_BAD_TYPE] = "unknown type",
	[MEMBER_MSG_BAD_FLAGS] = "unknown flags",
	[MEMBER_MSG_BAD_NAME] = "invalid member name",
	[MEMBER_MSG_BAD_ADDR] = "invalid address",
	[MEMBER_MSG_BAD_STATE] = "invalid member state",
	[MEMBER_MSG_TOO_MANY] = "too many updates",
	[MEMBER_MSG_TRAILING] = "bytes after the last field",
};

const char *member_msg_err_str(enum member_msg_err e)
{
	if ((unsigned)e >= MEMBER_MSG_ERR_COUNT)
		return "?";
	return err_str[e];
}

bool member_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > MEMBER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* Printable, no blanks: names go into logs and JSON as they are. */
		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

static int read_name(struct rbuf *r, char out[MEMBER_NAME_MAX + 1], enum member_msg_err *why)
{
	uint8_t n;

	if (rbuf_u8(r, &n) != 0) {
		*why = MEMBER_MSG_SHORT;
		return -1;
	}
	if (rbuf_left(r) < n) {
		*why = MEMBER_MSG_SHORT;
		return -1;
	}
	if (!member_name_valid((const char *)rbuf_ptr(r), n)) {
		*why = MEMBER_MSG_BAD_NAME;
		return -1;
	}
	rbuf_bytes(r, out, n);
	out[n] = '\0';
	return 0;
}

static int read_addr(struct rbuf *r, struct member_addr *a, enum member_msg_err *why)
{
	uint8_t fam, b[16];

	if (rbuf_u8(r, &fam) != 0) {
		*why = MEMBER_MSG_SHORT;
		return -1;
	}
	if (fam != 4 && fam != 6) {
		*why = MEMBER_MSG_BAD_ADDR;
		return -1;
	}
	if (rbuf_bytes(r, b, fam == 4 ? 4 : 16) != 0 || rbuf_u16(r, &a->port) != 0) {
		*why = MEMBER_MSG_SHORT;
		return -1;
	}
	if (a->port == 0) {
		*why = MEMBER_MSG_BAD_ADDR;
		return -1;
	}
	a->ip = ip_from_bytes(fam == 4 ? IP_FAMILY_V4 : IP_FAMILY_V6, b);
	return 0;
}

int member_msg_decode(const uint8_t *p, size_t len, struct member_msg *m,
		      enum member_msg_err *why)
{
	enum member_msg_err dummy;
	struct rbuf r;
	uint32_t magic;
	uint8_t version, type, flags, count;

	if (!why)
		why = &dummy;
	*why = MEMBER_MSG_OK;
	memset(m, 0, sizeof(*m));
	if (len > MEMBER_PACKET_MAX) {
		*why = MEMBER_MSG_TOO_LONG;
		return -1;
	}
	rbuf_init(&r, p, len);
	if (rbuf_u32(&r, &magic) != 0) {
		*why = MEMBER_MSG_SHORT;
		return -1;
	}
	if (magic != MEMBER_MAGIC) {
		*why = MEMBER_MSG_BAD_MAGIC;
		return -1;
	}
	if (rbuf_u8(&r, &version) != 0 || rbuf_u8(&r, &type) != 0 || rbuf_u8(&r, &flags) != 0) {
		*why = MEMBER_MSG_SHORT;
		return -1;
	}
	if (version != MEMBER_VERSION) {
		*why = MEMBER_MSG_BAD_VERSION;
		return -1;
	}
	if (type < MEMBER_MSG_PING || type > MEMBER_MSG_TYPE_MAX) {
		*why = MEMBER_MSG_BAD_TYPE;
		return -1;
	}
	if (flags & ~(MEMBER_FLAG_TAG | MEMBER_FLAG_DIGEST)) {
		*why = MEMBER_MSG_BAD_FLAGS;
		return -1;
	}
	m->type = type;
	m->tagged = flags & MEMBER_FLAG_TAG;
	/* The tag is cut off first so that no field can run into it. */
	if (m->tagged) {
		if (len < MEMBER_TAG_LEN + 7) {
			*why = MEMBER_MSG_SHORT;
			return -1;
		}
		rbuf_init(&r, p, len - MEMBER_TAG_LEN);
		rbuf_skip(&r, 7);
	}
	if (rbuf_u64(&r, &m->epoch) != 0 || rbuf_u64(&r, &m->seq) != 0 ||
	    rbuf_u32(&r, &m->probe) != 0) {
		*why = MEMBER_MSG_SHORT;
		return -1;
	}
	m->has_digest = flags & MEMBER_FLAG_DIGEST;
	if (m->has_digest && rbuf_u64(&r, &m->digest) != 0) {
		*why = MEMBER_MSG_SHORT;
		return -1;
	}
	if (read_name(&r, m->sender, why) != 0)
		return -1;
	if (type == MEMBER_MSG_PING || type == MEMBER_MSG_PING_REQ) {
		if (read_name(&r, m->target, why) != 0)
			return -1;
	}
	if (type == MEMBER_MSG_PING_REQ && read_addr(&r, &m->target_addr, why) != 0)
		return -1;
	if (rbuf_u8(&r, &count) != 0) {
		*why = MEMBER_MSG_SHORT;
		return -1;
	}
	if (count > MEMBER_UPDATES_MAX) {
		*why = MEMBER_MSG_TOO_MANY;
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		struct member_update *u = &m->updates[i];
		uint8_t st;

		if (rbuf_u8(&r, &st) != 0 || rbuf_u32(&r, &u->incarnation) != 0) {
			*why = MEMBER_MSG_SHORT;
			return -1;
		}
		u->own = st & MEMBER_UPDATE_OWN;
		st &= (uint8_t)~MEMBER_UPDATE_OWN;
		/* Only a suspicion can be the sender's own observation. */
		if (st >= MEMBER_STATE_COUNT || (u->own && st != MEMBER_SUSPECT)) {
			*why = MEMBER_MSG_BAD_STATE;
			return -1;
		}
		u->state = st;
		if (read_name(&r, u->name, why) != 0)
			return -1;
		m->n_updates = i + 1;
	}
	if (rbuf_left(&r) != 0) {
		*why = MEMBER_MSG_TRAILING;
		return -1;
	}
	return 0;
}

bool member_msg_tag_ok(const uint8_t *p, size_t len, const uint8_t *key, size_t key_len)
{
	uint8_t tag[MEMBER_TAG_LEN];

	if (len < MEMBER_TAG_LEN)
		return false;
	hmac_sha256(key, key_len, p, len - MEMBER_TAG_LEN, tag);
	return hmac_equal(tag, p + len - MEMBER_TAG_LEN, MEMBER_TAG_LEN);
}

size_t member_update_wire_len(const struct member_update *u)
{
	return 1 + 4 + 1 + strlen(u->name);
}

static void write_name(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	if (!member_name_valid(s, n)) {
		w->err = true;
		return;
	}
	wbuf_u8(w, (uint8_t)n);
	wbuf_bytes(w, s, n);
}

int member_msg_encode(struct wbuf *w, const struct member_msg *m, const uint8_t *key,
		      size_t key_len)
{
	size_t start = wbuf_mark(w);
	bool tag = key && key_len;

	if (m->n_updates > MEMBER_UPDATES_MAX || m->type < MEMBER_MSG_PING ||
	    m->type > MEMBER_MSG_TYPE_MAX)
		return -1;
	wbuf_u32(w, MEMBER_MAGIC);
	wbuf_u8(w, MEMBER_VERSION);
	wbuf_u8(w, (uint8_t)m->type);
	wbuf_u8(w, (uint8_t)((tag ? MEMBER_FLAG_TAG : 0) | (m->has_digest ? MEMBER_FLAG_DIGEST : 0)));
	wbuf_u64(w, m->epoch);
	wbuf_u64(w, m->seq);
	wbuf_u32(w, m->probe);
	if (m->has_digest)
		wbuf_u64(w, m->digest);
	write_name(w, m->sender);
	if (m->type == MEMBER_MSG_PING || m->type == MEMBER_MSG_PING_REQ)
		write_name(w, m->target);
	if (m->type == MEMBER_MSG_PING_REQ) {
		const struct member_addr *a = &m->target_addr;
		uint8_t b[16];

		if ((a->ip.family != IP_FAMILY_V4 && a->ip.family != IP_FAMILY_V6) || !a->port)
			return -1;
		ip_to_bytes(&a->ip, b);
		wbuf_u8(w, a->ip.family == IP_FAMILY_V4 ? 4 : 6);
		wbuf_bytes(w, b, a->ip.family == IP_FAMILY_V4 ? 4 : 16);
		wbuf_u16(w, a->port);
	}
	wbuf_u8(w, (uint8_t)m->n_updates);
	for (size_t i = 0; i < m->n_updates; i++) {
		const struct member_update *u = &m->updates[i];

		if ((unsigned)u->state >= MEMBER_STATE_COUNT ||
		    (u->own && u->state != MEMBER_SUSPECT))
			return -1;
		wbuf_u8(w, (uint8_t)(u->state | (u->own ? MEMBER_UPDATE_OWN : 0)));
		wbuf_u32(w, u->incarnation);
		write_name(w, u->name);
	}
	if (!wbuf_ok(w))
		return -1;
	if (tag) {
		uint8_t t[MEMBER_TAG_LEN];

		hmac_sha256(key, key_len, w->p + start, wbuf_mark(w) - start, t);
		wbuf_bytes(w, t, sizeof(t));
	}
	if (!wbuf_ok(w) || wbuf_mark(w) - start > MEMBER_PACKET_MAX)
		return -1;
	return 0;
}

int member_replay_check(struct member_replay *r, uint64_t epoch, uint64_t seq)
{
	if (seq == 0 || epoch < r->epoch)
		return -1;
	if (epoch > r->epoch) {
		/* The sender restarted: its earlier packets are all replays now. */
		r->epoch = epoch;
		r->top = seq;
		r->seen = 1;
		return 0;
	}
	if (seq > r->top) {
		uint64_t shift = seq - r->top;

		r->seen = shift >= MEMBER_REPLAY_WINDOW ? 0 : r->seen << shift;
		r->seen |= 1;
		r->top = seq;
		return 0;
	}
	uint64_t back = r->top - seq;
	if (back >= MEMBER_REPLAY_WINDOW || (r->seen & (1ULL << back)))
		return -1;
	r->seen |= 1ULL << back;
	return 0;
}
