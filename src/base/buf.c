/* Bounded reader and sticky-error writer for wire formats (see buf.h). */
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* --- reader --- */

void rbuf_init(struct rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = p ? len : 0;
	r->off = 0;
}

size_t rbuf_left(const struct rbuf *r)
{
	return r->len - r->off;
}

const uint8_t *rbuf_ptr(const struct rbuf *r)
{
	return r->p ? r->p + r->off : NULL;
}

/* Big-endian value of the next n (1..8) bytes, which the caller has
 * checked are there. */
static uint64_t rbuf_be(const struct rbuf *r, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | r->p[r->off + i];
	return v;
}

int rbuf_peek_u8(const struct rbuf *r, uint8_t *v)
{
	if (rbuf_left(r) < 1)
		return -1;
	*v = (uint8_t)rbuf_be(r, 1);
	return 0;
}

int rbuf_peek_u16(const struct rbuf *r, uint16_t *v)
{
	if (rbuf_left(r) < 2)
		return -1;
	*v = (uint16_t)rbuf_be(r, 2);
	return 0;
}

int rbuf_u8(struct rbuf *r, uint8_t *v)
{
	if (rbuf_peek_u8(r, v) != 0)
		return -1;
	r->off += 1;
	return 0;
}

int rbuf_u16(struct rbuf *r, uint16_t *v)
{
	if (rbuf_peek_u16(r, v) != 0)
		return -1;
	r->off += 2;
	return 0;
}

int rbuf_u32(struct rbuf *r, uint32_t *v)
{
	if (rbuf_left(r) < 4)
		return -1;
	*v = (uint32_t)rbuf_be(r, 4);
	r->off += 4;
	return 0;
}

int rbuf_u64(struct rbuf *r, uint64_t *v)
{
	if (rbuf_left(r) < 8)
		return -1;
	*v = rbuf_be(r, 8);
	r->off += 8;
	return 0;
}

int rbuf_bytes(struct rbuf *r, void *dst, size_t n)
{
	if (rbuf_left(r) < n)
		return -1;
	if (n)
		memcpy(dst, r->p + r->off, n);
	r->off += n;
	return 0;
}

int rbuf_skip(struct rbuf *r, size_t n)
{
	if (rbuf_left(r) < n)
		return -1;
	r->off += n;
	return 0;
}

int rbuf_sub(struct rbuf *r, size_t n, struct rbuf *view)
{
	if (rbuf_left(r) < n)
		return -1;
	view->p = r->p ? r->p + r->off : NULL;
	view->len = n;
	view->off = 0;
	r->off += n;
	return 0;
}

/* --- writer --- */

void wbuf_init_fixed(struct wbuf *w, void *buf, size_t cap)
{
	w->p = buf;
	w->cap = buf ? cap : 0;
	w->len = 0;
	w->err = false;
	w->owned = false;
}

void wbuf_init_dyn(struct wbuf *w, size_t hint)
{
	w->cap = hint ? hint : 256;
	w->p = xmalloc(w->cap);
	w->len = 0;
	w->err = false;
	w->owned = true;
}

void wbuf_free(struct wbuf *w)
{
	if (w->owned)
		free(w->p);
	w->p = NULL;
	w->cap = 0;
	w->len = 0;
	w->err = true;
	w->owned = false;
}

void wbuf_reset(struct wbuf *w)
{
	w->len = 0;
	w->err = false;
}

bool wbuf_ok(const struct wbuf *w)
{
	return !w->err;
}

/* Make room for n (> 0) more bytes and return where they go, or NULL with
 * err set.  A fixed buffer never grows; a dynamic one doubles. */
static uint8_t *wbuf_room(struct wbuf *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n > SIZE_MAX - w->len) {
		w->err = true;
		return NULL;
	}
	size_t need = w->len + n;
	if (need > w->cap) {
		if (!w->owned) {
			w->err = true;
			return NULL;
		}
		size_t cap = w->cap ? w->cap : 256;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		w->p = xrealloc(w->p, cap);
		w->cap = cap;
	}
	uint8_t *at = w->p + w->len;
	w->len = need;
	return at;
}

static void put_be(uint8_t *at, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		at[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static int wbuf_be(struct wbuf *w, uint64_t v, size_t n)
{
	uint8_t *at = wbuf_room(w, n);
	if (!at)
		return -1;
	put_be(at, v, n);
	return 0;
}

int wbuf_u8(struct wbuf *w, uint8_t v)
{
	return wbuf_be(w, v, 1);
}

int wbuf_u16(struct wbuf *w, uint16_t v)
{
	return wbuf_be(w, v, 2);
}

int wbuf_u32(struct wbuf *w, uint32_t v)
{
	return wbuf_be(w, v, 4);
}

int wbuf_u64(struct wbuf *w, uint64_t v)
{
	return wbuf_be(w, v, 8);
}

int wbuf_bytes(struct wbuf *w, const void *src, size_t n)
{
	if (n == 0)
		return w->err ? -1 : 0;
	uint8_t *at = wbuf_room(w, n);
	if (!at)
		return -1;
	memcpy(at, src, n);
	return 0;
}

int wbuf_zero(struct wbuf *w, size_t n)
{
	if (n == 0)
		return w->err ? -1 : 0;
	uint8_t *at = wbuf_room(w, n);
	if (!at)
		return -1;
	memset(at, 0, n);
	return 0;
}

size_t wbuf_mark(const struct wbuf *w)
{
	return w->len;
}

static int wbuf_patch_be(struct wbuf *w, size_t off, uint64_t v, size_t n)
{
	if (w->err)
		return -1;
	if (off > w->len || n > w->len - off) {
		w->err = true;
		return -1;
	}
	put_be(w->p + off, v, n);
	return 0;
}

int wbuf_patch_u8(struct wbuf *w, size_t off, uint8_t v)
{
	return wbuf_patch_be(w, off, v, 1);
}

int wbuf_patch_u16(struct wbuf *w, size_t off, uint16_t v)
{
	return wbuf_patch_be(w, off, v, 2);
}

int wbuf_patch_u32(struct wbuf *w, size_t off, uint32_t v)
{
	return wbuf_patch_be(w, off, v, 4);
}

static int wbuf_patch_len(struct wbuf *w, size_t off, size_t since, size_t n, size_t max)
{
	if (w->err)
		return -1;
	if (since > w->len || w->len - since > max) {
		w->err = true;
		return -1;
	}
	return wbuf_patch_be(w, off, w->len - since, n);
}

int wbuf_patch_len_u8(struct wbuf *w, size_t off, size_t since)
{
	return wbuf_patch_len(w, off, since, 1, UINT8_MAX);
}

int wbuf_patch_len_u16(struct wbuf *w, size_t off, size_t since)
{
	return wbuf_patch_len(w, off, since, 2, UINT16_MAX);
}
