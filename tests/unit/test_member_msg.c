/* The member packet codec against raw byte vectors, and the replay window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "member/member.h"

/* ping n1 -> n2, epoch 1, seq 2, probe 7, one update "n3 suspect (own) inc 5" */
static const uint8_t ping[] = {
	0x49, 0x4c, 0x42, 0x4d,                         /* magic "ILBM" */
	0x01, 0x01, 0x00,                               /* version 1, ping, no tag */
	0, 0, 0, 0, 0, 0, 0, 1,                         /* epoch */
	0, 0, 0, 0, 0, 0, 0, 2,                         /* seq */
	0, 0, 0, 7,                                     /* probe */
	0x02, 'n', '1',                                 /* sender */
	0x02, 'n', '2',                                 /* target */
	0x01,                                           /* one update */
	0x81, 0, 0, 0, 5, 0x02, 'n', '3',               /* suspect|own, inc 5, n3 */
};

/* ping-req n1 -> relay, target n2 at 192.0.2.7:7946, no updates */
static const uint8_t ping_req[] = {
	0x49, 0x4c, 0x42, 0x4d, 0x01, 0x02, 0x00,
	0, 0, 0, 0, 0, 0, 0, 1,
	0, 0, 0, 0, 0, 0, 0, 3,
	0, 0, 0, 9,
	0x02, 'n', '1',
	0x02, 'n', '2',
	0x04, 192, 0, 2, 7, 0x1f, 0x0a,                 /* IPv4, port 7946 */
	0x00,
};

static void test_decode_ping(void **state)
{
	(void)state;
	struct member_msg m;
	enum member_msg_err why;

	assert_int_equal(member_msg_decode(ping, sizeof(ping), &m, &why), 0);
	assert_int_equal(why, MEMBER_MSG_OK);
	assert_int_equal(m.type, MEMBER_MSG_PING);
	assert_false(m.tagged);
	assert_int_equal(m.epoch, 1);
	assert_int_equal(m.seq, 2);
	assert_int_equal(m.probe, 7);
	assert_string_equal(m.sender, "n1");
	assert_string_equal(m.target, "n2");
	assert_int_equal(m.n_updates, 1);
	assert_int_equal(m.updates[0].state, MEMBER_SUSPECT);
	assert_true(m.updates[0].own);
	assert_int_equal(m.updates[0].incarnation, 5);
	assert_string_equal(m.updates[0].name, "n3");

	/* Encoding the decoded message gives the same bytes. */
	uint8_t out[MEMBER_PACKET_MAX];
	struct wbuf w;
	wbuf_init_fixed(&w, out, sizeof(out));
	assert_int_equal(member_msg_encode(&w, &m, NULL, 0), 0);
	assert_int_equal(w.len, sizeof(ping));
	assert_memory_equal(out, ping, sizeof(ping));
}

static void test_decode_ping_req(void **state)
{
	(void)state;
	struct member_msg m;
	char s[IP_STR_MAX];

	assert_int_equal(member_msg_decode(ping_req, sizeof(ping_req), &m, NULL), 0);
	assert_int_equal(m.type, MEMBER_MSG_PING_REQ);
	assert_int_equal(m.target_addr.ip.family, IP_FAMILY_V4);
	ip_format(&m.target_addr.ip, s);
	assert_string_equal(s, "192.0.2.7");
	assert_int_equal(m.target_addr.port, 7946);

	uint8_t out[MEMBER_PACKET_MAX];
	struct wbuf w;
	wbuf_init_fixed(&w, out, sizeof(out));
	assert_int_equal(member_msg_encode(&w, &m, NULL, 0), 0);
	assert_int_equal(w.len, sizeof(ping_req));
	assert_memory_equal(out, ping_req, sizeof(ping_req));

	/* IPv6 target. */
	assert_int_equal(ip_parse("2001:db8::7", &m.target_addr.ip, NULL, 0), 0);
	wbuf_init_fixed(&w, out, sizeof(out));
	assert_int_equal(member_msg_encode(&w, &m, NULL, 0), 0);
	assert_int_equal(w.len, sizeof(ping_req) + 12);
	struct member_msg back;
	assert_int_equal(member_msg_decode(out, w.len, &back, NULL), 0);
	assert_true(ip_eq(&back.target_addr.ip, &m.target_addr.ip));
}

static void test_truncated(void **state)
{
	(void)state;
	struct member_msg m;
	enum member_msg_err why;

	/* Every proper prefix is rejected, never read past. */
	for (size_t n = 0; n < sizeof(ping); n++) {
		assert_int_equal(member_msg_decode(ping, n, &m, &why), -1);
		assert_int_equal(why, MEMBER_MSG_SHORT);
	}
	for (size_t n = 0; n < sizeof(ping_req); n++)
		assert_int_equal(member_msg_decode(ping_req, n, &m, &why), -1);
}

struct bad {
	size_t off;        /* byte to change */
	uint8_t val;
	enum member_msg_err why;
};

static void test_malformed(void **state)
{
	(void)state;
	static const struct bad rows[] = {
		{ 0, 0x48, MEMBER_MSG_BAD_MAGIC },
		{ 4, 0x02, MEMBER_MSG_BAD_VERSION },
		{ 5, 0x00, MEMBER_MSG_BAD_TYPE },
		{ 5, 0x06, MEMBER_MSG_BAD_TYPE },
		{ 6, 0x04, MEMBER_MSG_BAD_FLAGS },       /* 0x01 tag, 0x02 digest */
		{ 27, 0x00, MEMBER_MSG_BAD_NAME },       /* empty sender */
		{ 28, ' ', MEMBER_MSG_BAD_NAME },        /* blank in a name */
		{ 29, 0x7f, MEMBER_MSG_BAD_NAME },
		{ 27, 0xff, MEMBER_MSG_SHORT },          /* name longer than the packet */
		{ 33, 33, MEMBER_MSG_TOO_MANY },         /* 33 updates */
		{ 33, 2, MEMBER_MSG_SHORT },             /* 2 updates, 1 present */
		{ 33, 0, MEMBER_MSG_TRAILING },          /* 0 updates, 1 present */
		{ 34, 0x04, MEMBER_MSG_BAD_STATE },
		{ 34, 0x80, MEMBER_MSG_BAD_STATE },      /* "own" on alive */
		{ 34, 0x82, MEMBER_MSG_BAD_STATE },      /* "own" on dead */
		{ 39, 0x00, MEMBER_MSG_BAD_NAME },
	};
	uint8_t p[sizeof(ping)];
	struct member_msg m;
	enum member_msg_err why;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memcpy(p, ping, sizeof(p));
		p[rows[i].off] = rows[i].val;
		assert_int_equal(member_msg_decode(p, sizeof(p), &m, &why), -1);
		if (why != rows[i].why)
			fail_msg("row %zu: %s, expected %s", i, member_msg_err_str(why),
				 member_msg_err_str(rows[i].why));
	}

	/* ping-req: family 5, port 0. */
	uint8_t q[sizeof(ping_req)];
	memcpy(q, ping_req, sizeof(q));
	q[33] = 5;
	assert_int_equal(member_msg_decode(q, sizeof(q), &m, &why), -1);
	assert_int_equal(why, MEMBER_MSG_BAD_ADDR);
	memcpy(q, ping_req, sizeof(q));
	q[38] = q[39] = 0;
	assert_int_equal(member_msg_decode(q, sizeof(q), &m, &why), -1);
	assert_int_equal(why, MEMBER_MSG_BAD_ADDR);

	/* A trailing byte. */
	uint8_t t[sizeof(ping) + 1];
	memcpy(t, ping, sizeof(ping));
	t[sizeof(ping)] = 0;
	assert_int_equal(member_msg_decode(t, sizeof(t), &m, &why), -1);
	assert_int_equal(why, MEMBER_MSG_TRAILING);

	/* Oversized. */
	static uint8_t big[MEMBER_PACKET_MAX + 1];
	memcpy(big, ping, sizeof(ping));
	assert_int_equal(member_msg_decode(big, sizeof(big), &m, &why), -1);
	assert_int_equal(why, MEMBER_MSG_TOO_LONG);
	assert_string_equal(member_msg_err_str(MEMBER_MSG_TOO_LONG), "longer than 1200 bytes");
}

static void test_tag(void **state)
{
	(void)state;
	static const uint8_t key[] = "shared secret";
	struct member_msg m;
	uint8_t out[MEMBER_PACKET_MAX];
	struct wbuf w;

	assert_int_equal(member_msg_decode(ping, sizeof(ping), &m, NULL), 0);
	wbuf_init_fixed(&w, out, sizeof(out));
	assert_int_equal(member_msg_encode(&w, &m, key, sizeof(key) - 1), 0);
	assert_int_equal(w.len, sizeof(ping) + MEMBER_TAG_LEN);
	assert_int_equal(out[6], MEMBER_FLAG_TAG);
	/* Same body, the flag set, the tag after. */
	assert_memory_equal(out + 7, ping + 7, sizeof(ping) - 7);

	struct member_msg back;
	assert_int_equal(member_msg_decode(out, w.len, &back, NULL), 0);
	assert_true(back.tagged);
	assert_string_equal(back.updates[0].name, "n3");
	assert_true(member_msg_tag_ok(out, w.len, key, sizeof(key) - 1));
	assert_false(member_msg_tag_ok(out, w.len, (const uint8_t *)"other", 5));
	/* Any changed byte breaks the tag. */
	for (size_t i = 0; i < w.len; i++) {
		out[i] ^= 0x01;
		assert_false(member_msg_tag_ok(out, w.len, key, sizeof(key) - 1));
		out[i] ^= 0x01;
	}
	/* The tag is not part of any field: a packet that would need it is short. */
	enum member_msg_err why;
	assert_int_equal(member_msg_decode(out, w.len - 1, &back, &why), -1);
	assert_int_equal(member_msg_decode(out, MEMBER_TAG_LEN + 6, &back, &why), -1);
	assert_int_equal(why, MEMBER_MSG_SHORT);
}

static void test_encode_limits(void **state)
{
	(void)state;
	struct member_msg m;
	uint8_t out[2 * MEMBER_PACKET_MAX];
	struct wbuf w;

	memset(&m, 0, sizeof(m));
	m.type = MEMBER_MSG_GOSSIP;
	strcpy(m.sender, "node-a");
	/* 32 updates of 200-byte names do not fit in 1200 bytes. */
	m.n_updates = MEMBER_UPDATES_MAX;
	for (size_t i = 0; i < m.n_updates; i++) {
		memset(m.updates[i].name, 'x', 200);
		m.updates[i].name[200] = '\0';
	}
	wbuf_init_fixed(&w, out, sizeof(out));
	assert_int_equal(member_msg_encode(&w, &m, NULL, 0), -1);
	/* 5 do. */
	m.n_updates = 5;
	wbuf_init_fixed(&w, out, sizeof(out));
	assert_int_equal(member_msg_encode(&w, &m, NULL, 0), 0);
	assert_int_equal(w.len, MEMBER_HEADER_LEN + 7 + 1 + 5 * member_update_wire_len(&m.updates[0]));
	/* Invalid names and counts. */
	m.n_updates = MEMBER_UPDATES_MAX + 1;
	wbuf_init_fixed(&w, out, sizeof(out));
	assert_int_equal(member_msg_encode(&w, &m, NULL, 0), -1);
	m.n_updates = 0;
	strcpy(m.sender, "bad name");
	wbuf_init_fixed(&w, out, sizeof(out));
	assert_int_equal(member_msg_encode(&w, &m, NULL, 0), -1);
	/* A 253-byte name is valid, 254 is not. */
	char name[300];
	memset(name, 'a', sizeof(name));
	assert_true(member_name_valid(name, 253));
	assert_false(member_name_valid(name, 254));
	assert_false(member_name_valid(name, 0));
}

static void test_replay_window(void **state)
{
	(void)state;
	struct member_replay r = {0};

	assert_int_equal(member_replay_check(&r, 10, 0), -1);    /* seq 0 never */
	assert_int_equal(member_replay_check(&r, 10, 1), 0);
	assert_int_equal(member_replay_check(&r, 10, 1), -1);    /* again */
	assert_int_equal(member_replay_check(&r, 10, 5), 0);     /* a gap */
	assert_int_equal(member_replay_check(&r, 10, 3), 0);     /* late, in the window */
	assert_int_equal(member_replay_check(&r, 10, 3), -1);
	assert_int_equal(member_replay_check(&r, 10, 5), -1);
	assert_int_equal(member_replay_check(&r, 10, 2), 0);
	assert_int_equal(member_replay_check(&r, 10, 4), 0);
	assert_int_equal(member_replay_check(&r, 10, 100), 0);
	/* 100 - 64 = 36 is the lowest still in the window. */
	assert_int_equal(member_replay_check(&r, 10, 36), -1);
	assert_int_equal(member_replay_check(&r, 10, 37), 0);
	assert_int_equal(member_replay_check(&r, 10, 37), -1);
	assert_int_equal(member_replay_check(&r, 10, 6), -1);    /* too old */
	/* A jump larger than the window forgets the bitmap. */
	assert_int_equal(member_replay_check(&r, 10, 1000), 0);
	assert_int_equal(member_replay_check(&r, 10, 999), 0);
	assert_int_equal(member_replay_check(&r, 10, 100), -1);
	/* An older epoch is a replay whatever its sequence; a newer one resets. */
	assert_int_equal(member_replay_check(&r, 9, 5000), -1);
	assert_int_equal(member_replay_check(&r, 11, 1), 0);
	assert_int_equal(member_replay_check(&r, 11, 2), 0);
	assert_int_equal(member_replay_check(&r, 10, 2000), -1);
	assert_int_equal(member_replay_check(&r, 11, 1), -1);
	/* The far end of the counter. */
	assert_int_equal(member_replay_check(&r, 11, UINT64_MAX), 0);
	assert_int_equal(member_replay_check(&r, 11, UINT64_MAX), -1);
	assert_int_equal(member_replay_check(&r, 11, UINT64_MAX - 63), 0);
	assert_int_equal(member_replay_check(&r, 11, UINT64_MAX - 64), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_ping),
		cmocka_unit_test(test_decode_ping_req),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_tag),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_replay_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
