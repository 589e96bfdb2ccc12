/* Unit tests for the bounded reader and the sticky-error writer (base/buf.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"

static const uint8_t seq[] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
};

/* --- reader --- */

static void test_rbuf_reads_network_order(void **state)
{
	struct rbuf r;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	rbuf_init(&r, seq, 15);
	assert_int_equal(rbuf_left(&r), 15);
	assert_int_equal(rbuf_u8(&r, &v8), 0);
	assert_int_equal(v8, 0x01);
	assert_int_equal(rbuf_u16(&r, &v16), 0);
	assert_int_equal(v16, 0x0203);
	assert_int_equal(rbuf_u32(&r, &v32), 0);
	assert_int_equal(v32, 0x04050607);
	assert_int_equal(rbuf_u64(&r, &v64), 0);
	assert_true(v64 == 0x08090a0b0c0d0e0fULL);
	assert_int_equal(rbuf_left(&r), 0);
	assert_int_equal(r.off, 15);
}

static void test_rbuf_high_bits(void **state)
{
	static const uint8_t ff[8] = { 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8 };
	struct rbuf r;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	rbuf_init(&r, ff, 8);
	assert_int_equal(rbuf_u64(&r, &v64), 0);
	assert_true(v64 == 0xfffefdfcfbfaf9f8ULL);
	rbuf_init(&r, ff, 8);
	assert_int_equal(rbuf_u32(&r, &v32), 0);
	assert_true(v32 == 0xfffefdfcu);
	assert_int_equal(rbuf_u16(&r, &v16), 0);
	assert_int_equal(v16, 0xfbfa);
}

/* Every read that does not fit fails and moves nothing, at every offset. */
static void test_rbuf_short_reads_leave_reader(void **state)
{
	for (size_t len = 0; len <= 8; len++) {
		struct rbuf r;
		uint8_t v8 = 0xaa;
		uint16_t v16 = 0xaaaa;
		uint32_t v32 = 0xaaaaaaaa;
		uint64_t v64 = 0xaaaaaaaaaaaaaaaaULL;
		uint8_t dst[9];

		rbuf_init(&r, seq, len);
		if (len < 1) {
			assert_int_equal(rbuf_u8(&r, &v8), -1);
			assert_int_equal(rbuf_peek_u8(&r, &v8), -1);
			assert_int_equal(v8, 0xaa);
		}
		if (len < 2) {
			assert_int_equal(rbuf_u16(&r, &v16), -1);
			assert_int_equal(rbuf_peek_u16(&r, &v16), -1);
			assert_int_equal(v16, 0xaaaa);
		}
		if (len < 4) {
			assert_int_equal(rbuf_u32(&r, &v32), -1);
			assert_true(v32 == 0xaaaaaaaa);
		}
		if (len < 8) {
			assert_int_equal(rbuf_u64(&r, &v64), -1);
			assert_true(v64 == 0xaaaaaaaaaaaaaaaaULL);
		}
		memset(dst, 0xaa, sizeof(dst));
		assert_int_equal(rbuf_bytes(&r, dst, len + 1), -1);
		assert_int_equal(dst[0], 0xaa);
		assert_int_equal(rbuf_skip(&r, len + 1), -1);
		assert_int_equal(r.off, 0);
		assert_int_equal(rbuf_left(&r), len);
	}
}

static void test_rbuf_short_read_mid_buffer(void **state)
{
	struct rbuf r;
	uint32_t v32;
	uint16_t v16;

	rbuf_init(&r, seq, 5);
	assert_int_equal(rbuf_u16(&r, &v16), 0);
	assert_int_equal(rbuf_u32(&r, &v32), -1);
	assert_int_equal(r.off, 2);
	assert_int_equal(rbuf_u16(&r, &v16), 0);
	assert_int_equal(v16, 0x0304);
	assert_int_equal(rbuf_u16(&r, &v16), -1);
	assert_int_equal(r.off, 4);
}

static void test_rbuf_peek(void **state)
{
	struct rbuf r;
	uint8_t v8;
	uint16_t v16;

	rbuf_init(&r, seq, 3);
	assert_int_equal(rbuf_peek_u8(&r, &v8), 0);
	assert_int_equal(v8, 0x01);
	assert_int_equal(rbuf_peek_u16(&r, &v16), 0);
	assert_int_equal(v16, 0x0102);
	assert_int_equal(r.off, 0);
}

static void test_rbuf_bytes_skip_ptr(void **state)
{
	struct rbuf r;
	uint8_t dst[4];

	rbuf_init(&r, seq, sizeof(seq));
	assert_ptr_equal(rbuf_ptr(&r), seq);
	assert_int_equal(rbuf_skip(&r, 3), 0);
	assert_ptr_equal(rbuf_ptr(&r), seq + 3);
	assert_int_equal(rbuf_bytes(&r, dst, 4), 0);
	assert_memory_equal(dst, seq + 3, 4);
	assert_int_equal(rbuf_bytes(&r, NULL, 0), 0);
	assert_int_equal(rbuf_skip(&r, 0), 0);
	assert_int_equal(rbuf_skip(&r, 9), 0);
	assert_int_equal(rbuf_left(&r), 0);
	assert_int_equal(rbuf_skip(&r, 1), -1);
	assert_int_equal(rbuf_skip(&r, SIZE_MAX), -1);
}

static void test_rbuf_empty_and_null(void **state)
{
	struct rbuf r;
	uint8_t v8;

	rbuf_init(&r, NULL, 100);
	assert_int_equal(rbuf_left(&r), 0);
	assert_null(rbuf_ptr(&r));
	assert_int_equal(rbuf_u8(&r, &v8), -1);

	struct rbuf v;
	assert_int_equal(rbuf_sub(&r, 0, &v), 0);
	assert_int_equal(rbuf_left(&v), 0);
	assert_int_equal(rbuf_u8(&v, &v8), -1);
}

static void test_rbuf_sub_bounded(void **state)
{
	struct rbuf r, v;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;

	rbuf_init(&r, seq, sizeof(seq));
	assert_int_equal(rbuf_u8(&r, &v8), 0);
	assert_int_equal(rbuf_sub(&r, 3, &v), 0);
	/* The parent moved past the view. */
	assert_int_equal(r.off, 4);
	assert_int_equal(rbuf_u8(&r, &v8), 0);
	assert_int_equal(v8, 0x05);
	/* The view starts at 0 and ends after its 3 bytes, though the
	 * parent's bytes follow. */
	assert_int_equal(v.off, 0);
	assert_int_equal(rbuf_left(&v), 3);
	assert_int_equal(rbuf_u32(&v, &v32), -1);
	assert_int_equal(rbuf_u16(&v, &v16), 0);
	assert_int_equal(v16, 0x0203);
	assert_int_equal(rbuf_u16(&v, &v16), -1);
	assert_int_equal(rbuf_skip(&v, 2), -1);
	assert_int_equal(rbuf_u8(&v, &v8), 0);
	assert_int_equal(v8, 0x04);
	assert_int_equal(rbuf_u8(&v, &v8), -1);
}

static void test_rbuf_sub_nested_and_too_long(void **state)
{
	struct rbuf r, outer, inner, keep;
	uint8_t v8;

	rbuf_init(&r, seq, sizeof(seq));
	assert_int_equal(rbuf_sub(&r, 6, &outer), 0);
	/* A view longer than what is left fails and changes nothing. */
	memset(&keep, 0x5a, sizeof(keep));
	inner = keep;
	assert_int_equal(rbuf_sub(&outer, 7, &inner), -1);
	assert_memory_equal(&inner, &keep, sizeof(keep));
	assert_int_equal(outer.off, 0);
	assert_int_equal(rbuf_sub(&outer, SIZE_MAX, &inner), -1);

	assert_int_equal(rbuf_skip(&outer, 2), 0);
	assert_int_equal(rbuf_sub(&outer, 4, &inner), 0);
	assert_int_equal(rbuf_left(&outer), 0);
	assert_int_equal(rbuf_u8(&inner, &v8), 0);
	assert_int_equal(v8, 0x03);
	assert_int_equal(rbuf_skip(&inner, 3), 0);
	assert_int_equal(rbuf_u8(&inner, &v8), -1);
	assert_int_equal(rbuf_left(&r), sizeof(seq) - 6);
}

/* --- writer --- */

static void test_wbuf_fixed_writes(void **state)
{
	uint8_t buf[32];
	struct wbuf w;
	static const uint8_t want[] = {
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xaa,
		0xbb, 0x00, 0x00, 0x00,
	};

	wbuf_init_fixed(&w, buf, sizeof(buf));
	assert_int_equal(wbuf_u8(&w, 0x01), 0);
	assert_int_equal(wbuf_u16(&w, 0x0203), 0);
	assert_int_equal(wbuf_u32(&w, 0x04050607), 0);
	assert_int_equal(wbuf_u64(&w, 0x08090a0b0c0d0e0fULL), 0);
	assert_int_equal(wbuf_bytes(&w, "\xaa\xbb", 2), 0);
	assert_int_equal(wbuf_zero(&w, 3), 0);
	assert_int_equal(wbuf_bytes(&w, NULL, 0), 0);
	assert_int_equal(wbuf_zero(&w, 0), 0);
	assert_true(wbuf_ok(&w));
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_false(w.owned);
}

/* A write that does not fit writes nothing, sets err, and every later
 * write does nothing even when it would fit. */
static void test_wbuf_fixed_overflow_sticky(void **state)
{
	uint8_t buf[8];
	struct wbuf w;

	memset(buf, 0xee, sizeof(buf));
	wbuf_init_fixed(&w, buf, 6);
	assert_int_equal(wbuf_u32(&w, 0x01020304), 0);
	assert_int_equal(wbuf_u32(&w, 0x05060708), -1);
	assert_false(wbuf_ok(&w));
	assert_int_equal(w.len, 4);
	assert_int_equal(buf[4], 0xee);
	assert_int_equal(wbuf_u8(&w, 0x09), -1);
	assert_int_equal(wbuf_u16(&w, 0x0a0b), -1);
	assert_int_equal(wbuf_bytes(&w, "x", 1), -1);
	assert_int_equal(wbuf_bytes(&w, NULL, 0), -1);
	assert_int_equal(wbuf_zero(&w, 0), -1);
	assert_int_equal(wbuf_patch_u8(&w, 0, 0x77), -1);
	assert_int_equal(w.len, 4);
	assert_int_equal(buf[0], 0x01);
	assert_int_equal(buf[4], 0xee);
	assert_int_equal(buf[6], 0xee);

	wbuf_reset(&w);
	assert_true(wbuf_ok(&w));
	assert_int_equal(w.len, 0);
	assert_int_equal(wbuf_u16(&w, 0x1122), 0);
	assert_int_equal(buf[0], 0x11);
}

static void test_wbuf_fixed_exact_fit(void **state)
{
	uint8_t buf[3];
	struct wbuf w;

	wbuf_init_fixed(&w, buf, sizeof(buf));
	assert_int_equal(wbuf_u16(&w, 1), 0);
	assert_int_equal(wbuf_u8(&w, 2), 0);
	assert_true(wbuf_ok(&w));
	assert_int_equal(wbuf_zero(&w, 1), -1);
	assert_false(wbuf_ok(&w));

	wbuf_init_fixed(&w, NULL, 10);
	assert_int_equal(w.cap, 0);
	assert_int_equal(wbuf_u8(&w, 1), -1);
	assert_int_equal(wbuf_zero(&w, SIZE_MAX), -1);
	wbuf_free(&w);
}

static void test_wbuf_dyn_grows(void **state)
{
	struct wbuf w;

	wbuf_init_dyn(&w, 1);
	assert_true(w.owned);
	for (unsigned i = 0; i < 10000; i++)
		assert_int_equal(wbuf_u16(&w, (uint16_t)i), 0);
	assert_true(wbuf_ok(&w));
	assert_int_equal(w.len, 20000);
	assert_true(w.cap >= w.len);
	for (unsigned i = 0; i < 10000; i += 997) {
		assert_int_equal(w.p[2 * i], (i >> 8) & 0xff);
		assert_int_equal(w.p[2 * i + 1], i & 0xff);
	}
	assert_int_equal(wbuf_zero(&w, 100000), 0);
	assert_int_equal(w.len, 120000);
	assert_int_equal(w.p[119999], 0);
	/* A size that cannot exist fails without touching what is there. */
	assert_int_equal(wbuf_zero(&w, SIZE_MAX - 10), -1);
	assert_false(wbuf_ok(&w));
	assert_int_equal(w.len, 120000);
	wbuf_free(&w);
	assert_null(w.p);
	assert_false(wbuf_ok(&w));
	assert_int_equal(wbuf_u8(&w, 1), -1);

	wbuf_init_dyn(&w, 0);
	assert_int_equal(wbuf_u8(&w, 1), 0);
	wbuf_reset(&w);
	assert_int_equal(w.len, 0);
	assert_int_equal(wbuf_u8(&w, 2), 0);
	assert_int_equal(w.p[0], 2);
	wbuf_free(&w);
	wbuf_free(&w);
}

static void test_wbuf_patch(void **state)
{
	uint8_t buf[16];
	struct wbuf w;

	wbuf_init_fixed(&w, buf, sizeof(buf));
	size_t at16 = wbuf_mark(&w);
	assert_int_equal(at16, 0);
	wbuf_u16(&w, 0);
	size_t at8 = wbuf_mark(&w);
	wbuf_u8(&w, 0);
	size_t at32 = wbuf_mark(&w);
	wbuf_u32(&w, 0);
	assert_int_equal(wbuf_patch_u16(&w, at16, 0xbeef), 0);
	assert_int_equal(wbuf_patch_u8(&w, at8, 0x42), 0);
	assert_int_equal(wbuf_patch_u32(&w, at32, 0xcafef00d), 0);
	static const uint8_t want[] = { 0xbe, 0xef, 0x42, 0xca, 0xfe, 0xf0, 0x0d };
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_true(wbuf_ok(&w));

	/* The last written byte can be patched; one past it cannot. */
	assert_int_equal(wbuf_patch_u8(&w, 6, 0x0e), 0);
	assert_int_equal(wbuf_patch_u16(&w, 6, 0), -1);
	assert_false(wbuf_ok(&w));
	assert_int_equal(buf[6], 0x0e);

	wbuf_reset(&w);
	wbuf_u16(&w, 0);
	assert_int_equal(wbuf_patch_u32(&w, 0, 0), -1);
	wbuf_reset(&w);
	wbuf_u16(&w, 0);
	assert_int_equal(wbuf_patch_u8(&w, SIZE_MAX, 0), -1);
	wbuf_reset(&w);
	wbuf_u16(&w, 0);
	assert_int_equal(wbuf_patch_u16(&w, SIZE_MAX - 1, 0), -1);
}

/* The two ways lengths are counted on the wire: including the length field
 * (BGP message header) and counting only what follows it (an attribute). */
static void test_wbuf_patch_len(void **state)
{
	uint8_t buf[64];
	struct wbuf w;

	wbuf_init_fixed(&w, buf, sizeof(buf));
	size_t msg = wbuf_mark(&w);
	wbuf_u16(&w, 0);                /* length of the whole message */
	wbuf_u8(&w, 7);
	size_t attr_len = wbuf_mark(&w);
	wbuf_u8(&w, 0);                 /* length of what follows */
	size_t body = wbuf_mark(&w);
	wbuf_bytes(&w, "abcde", 5);
	assert_int_equal(wbuf_patch_len_u8(&w, attr_len, body), 0);
	assert_int_equal(wbuf_patch_len_u16(&w, msg, msg), 0);
	static const uint8_t want[] = { 0x00, 0x09, 0x07, 0x05, 'a', 'b', 'c', 'd', 'e' };
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_true(wbuf_ok(&w));

	/* Nothing written since the mark: zero. */
	assert_int_equal(wbuf_patch_len_u16(&w, msg, wbuf_mark(&w)), 0);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], 0);

	/* A mark beyond the end is an error. */
	assert_int_equal(wbuf_patch_len_u8(&w, attr_len, w.len + 1), -1);
	assert_false(wbuf_ok(&w));
}

static void test_wbuf_patch_len_overflow(void **state)
{
	struct wbuf w;

	wbuf_init_dyn(&w, 0);
	wbuf_u8(&w, 0);
	wbuf_zero(&w, 254);
	assert_int_equal(wbuf_patch_len_u8(&w, 0, 1), 0);       /* 254 */
	assert_int_equal(w.p[0], 254);
	assert_int_equal(wbuf_patch_len_u8(&w, 0, 0), 0);       /* 255 */
	assert_int_equal(w.p[0], 255);
	wbuf_u8(&w, 0);
	assert_int_equal(wbuf_patch_len_u8(&w, 0, 0), -1);      /* 256 */
	assert_false(wbuf_ok(&w));
	assert_int_equal(w.p[0], 255);
	wbuf_free(&w);

	wbuf_init_dyn(&w, 0);
	wbuf_u16(&w, 0);
	wbuf_zero(&w, 65533);
	assert_int_equal(wbuf_patch_len_u16(&w, 0, 0), 0);      /* 65535 */
	assert_int_equal(w.p[0], 0xff);
	assert_int_equal(w.p[1], 0xff);
	wbuf_u8(&w, 0);
	assert_int_equal(wbuf_patch_len_u16(&w, 0, 0), -1);     /* 65536 */
	assert_false(wbuf_ok(&w));
	/* Once in error, even a patch that would fit does nothing. */
	assert_int_equal(wbuf_patch_len_u16(&w, 0, 65530), -1);
	assert_int_equal(w.p[0], 0xff);
	wbuf_free(&w);
}

/* What a writer writes, a reader reads back. */
static void test_round_trip(void **state)
{
	struct wbuf w;
	struct rbuf r, v;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	wbuf_init_dyn(&w, 0);
	wbuf_u64(&w, 0x8000000000000001ULL);
	size_t len_at = wbuf_mark(&w);
	wbuf_u16(&w, 0);
	size_t start = wbuf_mark(&w);
	wbuf_u32(&w, 0xdeadbeef);
	wbuf_u8(&w, 0x80);
	wbuf_patch_len_u16(&w, len_at, start);
	wbuf_u8(&w, 0x99);
	assert_true(wbuf_ok(&w));

	rbuf_init(&r, w.p, w.len);
	assert_int_equal(rbuf_u64(&r, &v64), 0);
	assert_true(v64 == 0x8000000000000001ULL);
	assert_int_equal(rbuf_u16(&r, &v16), 0);
	assert_int_equal(v16, 5);
	assert_int_equal(rbuf_sub(&r, v16, &v), 0);
	assert_int_equal(rbuf_u32(&v, &v32), 0);
	assert_true(v32 == 0xdeadbeef);
	assert_int_equal(rbuf_u8(&v, &v8), 0);
	assert_int_equal(v8, 0x80);
	assert_int_equal(rbuf_left(&v), 0);
	assert_int_equal(rbuf_u8(&r, &v8), 0);
	assert_int_equal(v8, 0x99);
	assert_int_equal(rbuf_left(&r), 0);
	wbuf_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rbuf_reads_network_order),
		cmocka_unit_test(test_rbuf_high_bits),
		cmocka_unit_test(test_rbuf_short_reads_leave_reader),
		cmocka_unit_test(test_rbuf_short_read_mid_buffer),
		cmocka_unit_test(test_rbuf_peek),
		cmocka_unit_test(test_rbuf_bytes_skip_ptr),
		cmocka_unit_test(test_rbuf_empty_and_null),
		cmocka_unit_test(test_rbuf_sub_bounded),
		cmocka_unit_test(test_rbuf_sub_nested_and_too_long),
		cmocka_unit_test(test_wbuf_fixed_writes),
		cmocka_unit_test(test_wbuf_fixed_overflow_sticky),
		cmocka_unit_test(test_wbuf_fixed_exact_fit),
		cmocka_unit_test(test_wbuf_dyn_grows),
		cmocka_unit_test(test_wbuf_patch),
		cmocka_unit_test(test_wbuf_patch_len),
		cmocka_unit_test(test_wbuf_patch_len_overflow),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
