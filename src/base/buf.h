/*
 * Bounded reader and writer for wire formats (BGP, BFD, ARP, NDP).
 *
 * Every field that arrives from the network is read through a struct rbuf:
 * each read checks the remaining length first, converts from network byte
 * order, and on short data returns -1 leaving the reader exactly where it
 * was.  A variable-length element (a BGP path attribute, an NDP option) is
 * cut out with rbuf_sub(), which yields a reader that cannot see past the
 * element's end, so a bad inner length cannot make a parser wander into the
 * bytes that follow.  Nothing is ever read by overlaying a struct on the
 * bytes.
 *
 * A struct wbuf writes network-order fields either into a caller's fixed
 * buffer or into a heap buffer that grows.  Errors are sticky: once a write
 * does not fit (fixed buffer) or a patch is out of range, err is set, that
 * write and every later one does nothing, and the encoder checks wbuf_ok()
 * once at the end instead of after each field.  Length fields are written
 * as placeholders and back-patched: remember wbuf_mark() before the field,
 * write the body, then wbuf_patch_len_u16() (or _u8) stores the number of
 * bytes written since a chosen offset.
 */
#ifndef IRONLB_BASE_BUF_H
#define IRONLB_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;     /* bytes consumed, 0..len */
};

void rbuf_init(struct rbuf *r, const void *p, size_t len);
size_t rbuf_left(const struct rbuf *r);
/* The next unread byte (p + off); valid for rbuf_left() bytes. */
const uint8_t *rbuf_ptr(const struct rbuf *r);

/* Read a big-endian field into host order.  -1 when fewer bytes remain than
 * the field needs; then *v and the reader are left unchanged. */
int rbuf_u8(struct rbuf *r, uint8_t *v);
int rbuf_u16(struct rbuf *r, uint16_t *v);
int rbuf_u32(struct rbuf *r, uint32_t *v);
int rbuf_u64(struct rbuf *r, uint64_t *v);
/* Same as above without advancing. */
int rbuf_peek_u8(const struct rbuf *r, uint8_t *v);
int rbuf_peek_u16(const struct rbuf *r, uint16_t *v);
/* Copy / skip n bytes; -1 (reader unchanged) when fewer remain. */
int rbuf_bytes(struct rbuf *r, void *dst, size_t n);
int rbuf_skip(struct rbuf *r, size_t n);
/* Cut the next n bytes out as an independent reader *view (its off starts
 * at 0 and it cannot read past those n bytes) and advance r past them.
 * -1 (r and *view unchanged) when fewer than n bytes remain. */
int rbuf_sub(struct rbuf *r, size_t n, struct rbuf *view);

struct wbuf {
	uint8_t *p;
	size_t cap;
	size_t len;     /* bytes written */
	bool err;       /* sticky: a write or patch failed */
	bool owned;     /* p is heap memory that grows and wbuf_free() frees */
};

/* Write into buf[0..cap).  A write past cap sets err. */
void wbuf_init_fixed(struct wbuf *w, void *buf, size_t cap);
/* Write into a heap buffer that grows as needed (hint: initial capacity,
 * 0 for a default).  Out of memory aborts, as everywhere in the project. */
void wbuf_init_dyn(struct wbuf *w, size_t hint);
/* Frees the heap buffer of a dynamic writer; a no-op for a fixed one.
 * The writer is left empty and in error, so stale use is caught. */
void wbuf_free(struct wbuf *w);
/* Forget what was written and clear err, keeping the buffer. */
void wbuf_reset(struct wbuf *w);
bool wbuf_ok(const struct wbuf *w);

/* Append a field in network order.  0, or -1 when err is (now) set; a
 * failing write writes nothing at all. */
int wbuf_u8(struct wbuf *w, uint8_t v);
int wbuf_u16(struct wbuf *w, uint16_t v);
int wbuf_u32(struct wbuf *w, uint32_t v);
int wbuf_u64(struct wbuf *w, uint64_t v);
int wbuf_bytes(struct wbuf *w, const void *src, size_t n);
int wbuf_zero(struct wbuf *w, size_t n);

/* The current length, to patch a field later or measure what follows. */
size_t wbuf_mark(const struct wbuf *w);
/* Overwrite an already written field at offset off.  A field that does not
 * lie entirely inside the written bytes sets err and returns -1. */
int wbuf_patch_u8(struct wbuf *w, size_t off, uint8_t v);
int wbuf_patch_u16(struct wbuf *w, size_t off, uint16_t v);
int wbuf_patch_u32(struct wbuf *w, size_t off, uint32_t v);
/* Patch the field at off with the number of bytes written since offset
 * `since` (wbuf_mark() - since).  since may be off itself (the length
 * counts the field) or the end of the field (it does not).  A count that
 * does not fit the field, or since > the current length, sets err. */
int wbuf_patch_len_u8(struct wbuf *w, size_t off, size_t since);
int wbuf_patch_len_u16(struct wbuf *w, size_t off, size_t since);

#endif
