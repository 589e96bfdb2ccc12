/*
 * Tests for the BFD control packet codec (bfd/bfd_pkt.h): raw byte vectors
 * for each field, every drop reason of RFC 5880 §6.8.6 in its order, and
 * encode/decode round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bfd/bfd_pkt.h"

/* Version 1, diag 3, state Up with P, mult 3, length 24, my disc
 * 0x01020304, your disc 0x0a0b0c0d, tx 300 ms, rx 200 ms, echo 50 ms. */
static const uint8_t good[24] = {
	0x23, 0xe0, 0x03, 0x18, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d,
	0x00, 0x04, 0x93, 0xe0, 0x00, 0x03, 0x0d, 0x40, 0x00, 0x00, 0xc3, 0x50,
};

static void test_decode_fields(void **state)
{
	struct bfd_pkt p;

	(void)state;
	assert_int_equal(bfd_pkt_decode(good, sizeof(good), &p), BFD_PKT_OK);
	assert_int_equal(p.version, 1);
	assert_int_equal(p.diag, BFD_DIAG_NEIGHBOR_DOWN);
	assert_int_equal(p.state, BFD_STATE_UP);
	assert_true(p.poll);
	assert_false(p.final);
	assert_false(p.cpi);
	assert_false(p.auth);
	assert_false(p.demand);
	assert_false(p.multipoint);
	assert_int_equal(p.detect_mult, 3);
	assert_int_equal(p.length, 24);
	assert_int_equal(p.my_disc, 0x01020304);
	assert_int_equal(p.your_disc, 0x0a0b0c0d);
	assert_int_equal(p.desired_min_tx_us, 300000);
	assert_int_equal(p.required_min_rx_us, 200000);
	assert_int_equal(p.required_min_echo_rx_us, 50000);
}

static void test_decode_flags(void **state)
{
	uint8_t b[24];
	struct bfd_pkt p;

	(void)state;
	memcpy(b, good, sizeof(b));
	b[1] = 0x40 | BFD_FLAG_FINAL | BFD_FLAG_CPI | BFD_FLAG_DEMAND; /* Down, F C D */
	assert_int_equal(bfd_pkt_decode(b, sizeof(b), &p), BFD_PKT_OK);
	assert_int_equal(p.state, BFD_STATE_DOWN);
	assert_false(p.poll);
	assert_true(p.final);
	assert_true(p.cpi);
	assert_true(p.demand);
	/* Padding after Length is ignored (§6.8.6 checks Length <= payload). */
	uint8_t padded[40] = { 0 };
	memcpy(padded, good, 24);
	assert_int_equal(bfd_pkt_decode(padded, sizeof(padded), &p), BFD_PKT_OK);
}

struct drop_case {
	const char *what;
	size_t off;          /* byte to change */
	uint8_t val;
	size_t len;          /* bytes passed */
	enum bfd_pkt_err want;
};

static void test_every_drop(void **state)
{
	static const struct drop_case cases[] = {
		{ "empty", 0, 0x23, 0, BFD_PKT_ERR_SHORT },
		{ "three bytes", 0, 0x23, 3, BFD_PKT_ERR_SHORT },
		{ "version 0", 0, 0x03, 24, BFD_PKT_ERR_VERSION },
		{ "version 2", 0, 0x43, 24, BFD_PKT_ERR_VERSION },
		{ "version 7", 0, 0xe3, 24, BFD_PKT_ERR_VERSION },
		{ "length 23", 3, 23, 24, BFD_PKT_ERR_LENGTH_SHORT },
		{ "length 0", 3, 0, 24, BFD_PKT_ERR_LENGTH_SHORT },
		{ "length 25 of 24", 3, 25, 24, BFD_PKT_ERR_LENGTH_OVER },
		{ "length 24 of 20", 3, 24, 20, BFD_PKT_ERR_LENGTH_OVER },
		{ "detect mult 0", 2, 0, 24, BFD_PKT_ERR_DETECT_MULT },
		{ "multipoint", 1, 0xc0 | BFD_FLAG_MULTIPOINT, 24, BFD_PKT_ERR_MULTIPOINT },
		{ "my disc 0", 4, 0, 24, BFD_PKT_ERR_MY_DISC },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t b[24];
		struct bfd_pkt p;
		memcpy(b, good, sizeof(b));
		if (cases[i].off == 4)
			memset(b + 4, 0, 4);
		else
			b[cases[i].off] = cases[i].val;
		enum bfd_pkt_err e = bfd_pkt_decode(b, cases[i].len, &p);
		if (e != cases[i].want)
			fail_msg("%s: got %s, want %s", cases[i].what, bfd_pkt_err_name[e],
				 bfd_pkt_err_name[cases[i].want]);
	}
}

static void test_your_disc_zero(void **state)
{
	uint8_t b[24];
	struct bfd_pkt p;

	(void)state;
	memcpy(b, good, sizeof(b));
	memset(b + 8, 0, 4);
	/* §6.8.6: zero Your Discriminator only in Down or AdminDown. */
	b[1] = 0xc0; /* Up */
	assert_int_equal(bfd_pkt_decode(b, 24, &p), BFD_PKT_ERR_YOUR_DISC);
	b[1] = 0x80; /* Init */
	assert_int_equal(bfd_pkt_decode(b, 24, &p), BFD_PKT_ERR_YOUR_DISC);
	b[1] = 0x40; /* Down */
	assert_int_equal(bfd_pkt_decode(b, 24, &p), BFD_PKT_OK);
	b[1] = 0x00; /* AdminDown */
	assert_int_equal(bfd_pkt_decode(b, 24, &p), BFD_PKT_OK);
}

static void test_auth_dropped(void **state)
{
	uint8_t b[32] = { 0 };
	struct bfd_pkt p;

	(void)state;
	memcpy(b, good, 24);
	b[1] |= BFD_FLAG_AUTH;
	/* With A, a Length of 24 is too small (§6.8.6: at least 26). */
	assert_int_equal(bfd_pkt_decode(b, 32, &p), BFD_PKT_ERR_LENGTH_SHORT);
	/* A well-formed simple password section (type 1, len 5, key 1, "x"):
	 * still dropped, no authentication is configured. */
	b[3] = 29;
	b[24] = 1;
	b[25] = 5;
	b[26] = 1;
	b[27] = 'x';
	b[28] = 'y';
	assert_int_equal(bfd_pkt_decode(b, 29, &p), BFD_PKT_ERR_AUTH);
	assert_true(p.auth);
}

static void test_encode_roundtrip(void **state)
{
	struct bfd_pkt p = { 0 }, q;
	uint8_t buf[24];

	(void)state;
	p.diag = BFD_DIAG_NEIGHBOR_DOWN;
	p.state = BFD_STATE_UP;
	p.poll = true;
	p.detect_mult = 3;
	p.my_disc = 0x01020304;
	p.your_disc = 0x0a0b0c0d;
	p.desired_min_tx_us = 300000;
	p.required_min_rx_us = 200000;
	p.required_min_echo_rx_us = 50000;
	assert_int_equal(bfd_pkt_encode(&p, buf, sizeof(buf)), 24);
	assert_memory_equal(buf, good, 24);
	assert_int_equal(bfd_pkt_decode(buf, 24, &q), BFD_PKT_OK);
	assert_int_equal(q.my_disc, p.my_disc);
	/* A, D and M are never written. */
	p.auth = p.demand = p.multipoint = true;
	assert_int_equal(bfd_pkt_encode(&p, buf, sizeof(buf)), 24);
	assert_int_equal(buf[1], 0xe0);
	assert_int_equal(bfd_pkt_encode(&p, buf, 23), -1);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(bfd_state_str(BFD_STATE_ADMIN_DOWN), "AdminDown");
	assert_string_equal(bfd_state_str(BFD_STATE_UP), "Up");
	assert_string_equal(bfd_state_str(BFD_STATE_NONE), "none");
	assert_string_equal(bfd_diag_str(BFD_DIAG_TIME_EXPIRED), "Control Detection Time Expired");
	assert_string_equal(bfd_diag_str((enum bfd_diag)31), "unknown");
	for (int i = 0; i < BFD_PKT_ERR_COUNT; i++)
		assert_non_null(bfd_pkt_err_name[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_fields),
		cmocka_unit_test(test_decode_flags),
		cmocka_unit_test(test_every_drop),
		cmocka_unit_test(test_your_disc_zero),
		cmocka_unit_test(test_auth_dropped),
		cmocka_unit_test(test_encode_roundtrip),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
