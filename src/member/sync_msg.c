/*
 * The state exchange's wire format (pure): bounded reads through rbuf,
 * writes through wbuf.  Every count and length is checked against what is
 * left before anything is allocated for it, so a peer cannot make a
 * decoder allocate more than the message's own size allows.
 */
#include "member/sync.h"

#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/hmac.h"
#include "base/util.h"

/* key length (2) + flags (1) + stamp (8) + naddrs (1) + a 1-byte key */
#define ENTRY_MIN 13

static const char *const err_str[SYNC_MSG_ERR_COUNT] = {
	[SYNC_MSG_OK] = "ok",
	[SYNC_MSG_SHORT] = "a field runs past the end",
	[SYNC_MSG_TOO_LONG] = "longer than the maximum",
	[SYNC_MSG_BAD_MAGIC] = "bad magic",
	[SYNC_MSG_BAD_VERSION] = "unknown version",
	[SYNC_MSG_BAD_TYPE] = "unknown type",
	[SYNC_MSG_BAD_FLAGS] = "unknown flags",
	[SYNC_MSG_BAD_NAME] = "invalid member name",
	[SYNC_MSG_BAD_KEY] = "invalid or unordered Service key",
	[SYNC_MSG_BAD_ADDR] = "invalid address",
	[SYNC_MSG_TOO_MANY] = "too many entries",
	[SYNC_MSG_TRAILING] = "bytes after the last field",
};

const char *sync_msg_err_str(enum sync_msg_err e)
{
	return (unsigned)e < SYNC_MSG_ERR_COUNT ? err_str[e] : "?";
}

void sync_state_free(struct sync_state *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->entries[i].key);
	free(s->entries);
	s->entries = NULL;
	s->n = 0;
}

uint64_t sync_entry_hash(const struct sync_entry *e)
{
	uint8_t b[8 + 8 + 1 + 2 * 17] = {0};
	size_t n = 0;
	for (int i = 0; i < 8; i++)
		b[n++] = (uint8_t)(e->stamp >> (8 * i));
	for (int i = 0; i < 8; i++)
		b[n++] = (uint8_t)((e->announcing ? e->since : 0) >> (8 * i));
	b[n++] = (uint8_t)((e->announcing ? 0x80 : 0) | (e->naddrs & 3));
	for (size_t k = 0; k < e->naddrs && k < 2; k++) {
		b[n++] = (uint8_t)e->addrs[k].family;
		ip_to_bytes(&e->addrs[k], b + n);
		n += 16;
	}
	uint64_t h = hashmap_hash(e->key, strlen(e->key));
	/* Mix the two halves so that XOR-ing entries does not cancel
	 * structure (splitmix64 finaliser). */
	uint64_t z = h ^ (hashmap_hash(b, n) * 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t sync_state_digest(const struct sync_state *s)
{
	uint64_t d = s->settled ? 0x5e771edULL : 0;
	for (size_t i = 0; i < s->n; i++)
		d ^= sync_entry_hash(&s->entries[i]);
	return d;
}

static bool key_valid(const uint8_t *s, size_t n)
{
	if (n == 0 || n > SYNC_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

static int read_name(struct rbuf *r, char *out, enum sync_msg_err *why)
{
	uint8_t n;
	struct rbuf v;
	if (rbuf_u8(r, &n) != 0 || rbuf_sub(r, n, &v) != 0) {
		*why = SYNC_MSG_SHORT;
		return -1;
	}
	if (!member_name_valid((const char *)rbuf_ptr(&v), n)) {
		*why = SYNC_MSG_BAD_NAME;
		return -1;
	}
	memcpy(out, rbuf_ptr(&v), n);
	out[n] = 0;
	return 0;
}

static int read_entry(struct rbuf *r, struct sync_entry *e, const char *prev,
		      enum sync_msg_err *why)
{
	uint16_t klen;
	uint8_t flags, naddrs;
	struct rbuf v;
	if (rbuf_u16(r, &klen) != 0 || rbuf_sub(r, klen, &v) != 0) {
		*why = SYNC_MSG_SHORT;
		return -1;
	}
	if (!key_valid(rbuf_ptr(&v), klen)) {
		*why = SYNC_MSG_BAD_KEY;
		return -1;
	}
	e->key = xmalloc((size_t)klen + 1);
	memcpy(e->key, rbuf_ptr(&v), klen);
	e->key[klen] = 0;
	/* Strictly ascending: sorted and unique, checked in one comparison. */
	if (prev && strcmp(prev, e->key) >= 0) {
		*why = SYNC_MSG_BAD_KEY;
		return -1;
	}
	if (rbuf_u8(r, &flags) != 0 || rbuf_u64(r, &e->stamp) != 0) {
		*why = SYNC_MSG_SHORT;
		return -1;
	}
	if (flags & ~SYNC_ENTRY_ANNOUNCING) {
		*why = SYNC_MSG_BAD_FLAGS;
		return -1;
	}
	e->announcing = flags & SYNC_ENTRY_ANNOUNCING;
	/* The claim's time follows the stamp, only when announcing. */
	if ((e->announcing && rbuf_u64(r, &e->since) != 0) || rbuf_u8(r, &naddrs) != 0) {
		*why = SYNC_MSG_SHORT;
		return -1;
	}
	if (naddrs > 2) {
		*why = SYNC_MSG_BAD_ADDR;
		return -1;
	}
	for (size_t k = 0; k < naddrs; k++) {
		uint8_t fam, b[16];
		if (rbuf_u8(r, &fam) != 0) {
			*why = SYNC_MSG_SHORT;
			return -1;
		}
		if (fam != 4 && fam != 6) {
			*why = SYNC_MSG_BAD_ADDR;
			return -1;
		}
		if (rbuf_bytes(r, b, fam == 4 ? 4 : 16) != 0) {
			*why = SYNC_MSG_SHORT;
			return -1;
		}
		e->addrs[k] = ip_from_bytes(fam == 4 ? IP_FAMILY_V4 : IP_FAMILY_V6, b);
	}
	e->naddrs = naddrs;
	return 0;
}

int sync_msg_decode(const uint8_t *p, size_t len, struct sync_msg *m, enum sync_msg_err *why)
{
	enum sync_msg_err dummy;
	struct rbuf r;
	uint32_t magic, count;
	uint8_t version, type, flags;

	if (!why)
		why = &dummy;
	*why = SYNC_MSG_OK;
	memset(m, 0, sizeof(*m));
	if (len > SYNC_MSG_MAX) {
		*why = SYNC_MSG_TOO_LONG;
		return -1;
	}
	rbuf_init(&r, p, len);
	if (rbuf_u32(&r, &magic) != 0 || rbuf_u8(&r, &version) != 0 || rbuf_u8(&r, &type) != 0 ||
	    rbuf_u8(&r, &flags) != 0) {
		*why = SYNC_MSG_SHORT;
		return -1;
	}
	if (magic != SYNC_MAGIC) {
		*why = SYNC_MSG_BAD_MAGIC;
		return -1;
	}
	if (version != SYNC_VERSION) {
		*why = SYNC_MSG_BAD_VERSION;
		return -1;
	}
	if (type != SYNC_MSG_PULL && type != SYNC_MSG_STATE) {
		*why = SYNC_MSG_BAD_TYPE;
		return -1;
	}
	if ((flags & ~(SYNC_FLAG_TAG | SYNC_FLAG_SETTLED)) ||
	    (type == SYNC_MSG_PULL && (flags & SYNC_FLAG_SETTLED))) {
		*why = SYNC_MSG_BAD_FLAGS;
		return -1;
	}
	m->type = type;
	m->tagged = flags & SYNC_FLAG_TAG;
	m->state.settled = flags & SYNC_FLAG_SETTLED;
	if (type == SYNC_MSG_PULL && len > SYNC_REQUEST_MAX) {
		*why = SYNC_MSG_TOO_LONG;
		return -1;
	}
	/* The tag is cut off first so that no field can run into it. */
	if (m->tagged) {
		if (len < 7 + HMAC_SHA256_LEN) {
			*why = SYNC_MSG_SHORT;
			return -1;
		}
		rbuf_init(&r, p, len - HMAC_SHA256_LEN);
		rbuf_skip(&r, 7);
	}
	if (read_name(&r, m->sender, why) != 0)
		return -1;
	if (rbuf_bytes(&r, m->nonce, SYNC_NONCE_LEN) != 0) {
		*why = SYNC_MSG_SHORT;
		return -1;
	}
	if (type == SYNC_MSG_STATE) {
		if (rbuf_u64(&r, &m->state.digest) != 0 || rbuf_u32(&r, &count) != 0) {
			*why = SYNC_MSG_SHORT;
			return -1;
		}
		if (count > SYNC_ENTRIES_MAX) {
			*why = SYNC_MSG_TOO_MANY;
			return -1;
		}
		/* Never trust the count: it must fit in what is left. */
		if ((uint64_t)count * ENTRY_MIN > rbuf_left(&r)) {
			*why = SYNC_MSG_SHORT;
			return -1;
		}
		m->state.entries = xcalloc(count ? count : 1, sizeof(*m->state.entries));
		for (uint32_t i = 0; i < count; i++) {
			struct sync_entry *e = &m->state.entries[i];
			int rc = read_entry(&r, e, i ? m->state.entries[i - 1].key : NULL, why);
			m->state.n = i + 1;
			if (rc != 0)
				return -1;
		}
	}
	if (rbuf_left(&r) != 0) {
		*why = SYNC_MSG_TRAILING;
		return -1;
	}
	return 0;
}

bool sync_msg_tag_ok(const uint8_t *p, size_t len, const uint8_t *key, size_t key_len)
{
	uint8_t tag[HMAC_SHA256_LEN];
	if (len < HMAC_SHA256_LEN)
		return false;
	hmac_sha256(key, key_len, p, len - HMAC_SHA256_LEN, tag);
	return hmac_equal(tag, p + len - HMAC_SHA256_LEN, HMAC_SHA256_LEN);
}

int sync_msg_encode(struct wbuf *w, const struct sync_msg *m, const uint8_t *key,
		    size_t key_len)
{
	bool tag = key && key_len;
	size_t n = strlen(m->sender);
	if (!member_name_valid(m->sender, n) ||
	    (m->type != SYNC_MSG_PULL && m->type != SYNC_MSG_STATE) ||
	    m->state.n > SYNC_ENTRIES_MAX)
		return -1;
	size_t frame = wbuf_mark(w);
	wbuf_u32(w, 0);
	size_t start = wbuf_mark(w);
	wbuf_u32(w, SYNC_MAGIC);
	wbuf_u8(w, SYNC_VERSION);
	wbuf_u8(w, (uint8_t)m->type);
	wbuf_u8(w, (uint8_t)((tag ? SYNC_FLAG_TAG : 0) |
			     (m->type == SYNC_MSG_STATE && m->state.settled ? SYNC_FLAG_SETTLED : 0)));
	wbuf_u8(w, (uint8_t)n);
	wbuf_bytes(w, m->sender, n);
	wbuf_bytes(w, m->nonce, SYNC_NONCE_LEN);
	if (m->type == SYNC_MSG_STATE) {
		wbuf_u64(w, m->state.digest);
		wbuf_u32(w, (uint32_t)m->state.n);
		for (size_t i = 0; i < m->state.n; i++) {
			const struct sync_entry *e = &m->state.entries[i];
			size_t kl = strlen(e->key);
			if (!key_valid((const uint8_t *)e->key, kl) || e->naddrs > 2 ||
			    (i && strcmp(m->state.entries[i - 1].key, e->key) >= 0))
				return -1;
			wbuf_u16(w, (uint16_t)kl);
			wbuf_bytes(w, e->key, kl);
			wbuf_u8(w, e->announcing ? SYNC_ENTRY_ANNOUNCING : 0);
			wbuf_u64(w, e->stamp);
			if (e->announcing)
				wbuf_u64(w, e->since);
			wbuf_u8(w, (uint8_t)e->naddrs);
			for (size_t k = 0; k < e->naddrs; k++) {
				uint8_t b[16];
				bool v4 = e->addrs[k].family == IP_FAMILY_V4;
				if (!v4 && e->addrs[k].family != IP_FAMILY_V6)
					return -1;
				ip_to_bytes(&e->addrs[k], b);
				wbuf_u8(w, v4 ? 4 : 6);
				wbuf_bytes(w, b, v4 ? 4 : 16);
			}
			if (!wbuf_ok(w))
				return -1;
		}
	}
	if (!wbuf_ok(w))
		return -1;
	if (tag) {
		uint8_t t[HMAC_SHA256_LEN];
		hmac_sha256(key, key_len, w->p + start, wbuf_mark(w) - start, t);
		wbuf_bytes(w, t, sizeof(t));
	}
	size_t len = wbuf_mark(w) - start;
	if (!wbuf_ok(w) || len > SYNC_MSG_MAX ||
	    (m->type == SYNC_MSG_PULL && len > SYNC_REQUEST_MAX))
		return -1;
	wbuf_patch_u32(w, frame, (uint32_t)len);
	return 0;
}
