/*
 * The protocol core's update rules (docs/member-protocol.md, the table under
 * "Members"), one row per sequence of updates: a core n0 with members n1
 * and n2 receives gossip from n1 about n2 (or about n0 itself) and must end
 * in the expected state and incarnation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "member/member.h"

#define A MEMBER_ALIVE
#define S MEMBER_SUSPECT
#define D MEMBER_DEAD
#define L MEMBER_LEFT

static int sent;
static struct member_msg last_sent;

static int rec_send(void *ctx, const struct member_addr *to, const uint8_t *p, size_t len)
{
	(void)ctx;
	(void)to;
	sent++;
	assert_int_equal(member_msg_decode(p, len, &last_sent, NULL), 0);
	return 0;
}

static int events;

static void rec_change(void *ctx, const struct member_event *ev)
{
	(void)ctx;
	(void)ev;
	events++;
}

static struct member *core(void)
{
	struct member_config cfg = { .name = "n0", .epoch = 1, .seed = 3, .send = rec_send,
				     .on_change = rec_change };
	struct member_peer peers[] = {
		{ "n1", { ip_v4(0x0a000001), 7946 } },
		{ "n2", { ip_v4(0x0a000002), 7946 } },
	};
	member_timing_default(&cfg.timing);
	struct member *m = member_new(&cfg, 1000);
	assert_non_null(m);
	assert_int_equal(member_set_peers(m, peers, 2, 1000), 0);
	return m;
}

static uint64_t seq;

static void gossip(struct member *m, const char *about, enum member_state st, uint32_t inc,
		   bool own)
{
	struct member_msg msg;
	uint8_t buf[MEMBER_PACKET_MAX];
	struct wbuf w;
	struct member_addr from = { ip_v4(0x0a000001), 7946 };

	memset(&msg, 0, sizeof(msg));
	msg.type = MEMBER_MSG_GOSSIP;
	msg.epoch = 1;
	msg.seq = ++seq;
	strcpy(msg.sender, "n1");
	msg.n_updates = 1;
	msg.updates[0].state = st;
	msg.updates[0].incarnation = inc;
	msg.updates[0].own = own;
	strcpy(msg.updates[0].name, about);
	wbuf_init_fixed(&w, buf, sizeof(buf));
	assert_int_equal(member_msg_encode(&w, &msg, NULL, 0), 0);
	member_input(m, &from, buf, w.len, 2000 + (int64_t)seq);
}

struct step {
	enum member_state st;
	uint32_t inc;
};

static const struct {
	const char *what;
	struct step steps[4];
	size_t n;
	enum member_state want;
	uint32_t want_inc;
} rows[] = {
	{ "suspect at the same incarnation", {{S, 0}}, 1, S, 0 },
	{ "suspect at an older incarnation is ignored", {{A, 3}, {S, 2}}, 2, A, 3 },
	{ "alive at the same incarnation does not clear a suspicion", {{S, 0}, {A, 0}}, 2, S, 0 },
	{ "alive at a higher incarnation refutes", {{S, 0}, {A, 1}}, 2, A, 1 },
	{ "dead overrides alive at the same incarnation", {{D, 0}}, 1, D, 0 },
	{ "dead overrides suspect", {{S, 2}, {D, 2}}, 2, D, 2 },
	{ "dead at an older incarnation is ignored", {{A, 5}, {D, 4}}, 2, A, 5 },
	{ "suspect does not override dead", {{D, 1}, {S, 1}}, 2, D, 1 },
	{ "back from dead: alive at a higher incarnation", {{D, 1}, {A, 2}}, 2, A, 2 },
	{ "back from dead and suspected again", {{D, 1}, {S, 2}}, 2, S, 2 },
	{ "left overrides dead", {{D, 1}, {L, 1}}, 2, L, 1 },
	{ "left at once from alive", {{L, 0}}, 1, L, 0 },
	{ "dead does not override left", {{L, 1}, {D, 1}}, 2, L, 1 },
	{ "alive at the same incarnation does not undo left", {{L, 1}, {A, 1}}, 2, L, 1 },
	{ "restarted after leaving: alive at a higher incarnation", {{L, 1}, {A, 2}}, 2, A, 2 },
};

static void test_rules(void **state)
{
	(void)state;

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct member *m = core();
		struct member_info mi;

		for (size_t i = 0; i < rows[r].n; i++)
			gossip(m, "n2", rows[r].steps[i].st, rows[r].steps[i].inc, false);
		assert_int_equal(member_find(m, "n2", &mi), 0);
		if (mi.state != rows[r].want || mi.incarnation != rows[r].want_inc)
			fail_msg("%s: %s/%u, expected %s/%u", rows[r].what,
				 member_state_name[mi.state], mi.incarnation,
				 member_state_name[rows[r].want], rows[r].want_inc);
		member_free(m);
	}
}

/* Accused, this node raises its incarnation above the accusation and says
 * so straight back to the accuser. */
static void test_refute(void **state)
{
	(void)state;
	struct member *m = core();

	assert_int_equal(member_incarnation(m), 0);
	sent = 0;
	gossip(m, "n0", S, 4, true);
	assert_int_equal(member_incarnation(m), 5);
	assert_int_equal(member_counters(m)->refutes, 1);
	assert_true(sent >= 1);
	bool found = false;
	for (size_t i = 0; i < last_sent.n_updates; i++)
		if (strcmp(last_sent.updates[i].name, "n0") == 0 &&
		    last_sent.updates[i].state == MEMBER_ALIVE &&
		    last_sent.updates[i].incarnation == 5)
			found = true;
	assert_true(found);
	/* A stale accusation is answered again, without a new incarnation. */
	sent = 0;
	gossip(m, "n0", D, 4, false);
	assert_int_equal(member_incarnation(m), 5);
	assert_true(sent >= 1);
	/* Dead or left at our incarnation: refuted too. */
	gossip(m, "n0", L, 5, false);
	assert_int_equal(member_incarnation(m), 6);
	member_free(m);
}

/* Changes are reported once each; updates about unknown names and a
 * repeated update change nothing. */
static void test_events(void **state)
{
	(void)state;
	struct member *m = core();

	events = 0;
	gossip(m, "n2", S, 0, false);
	gossip(m, "n2", S, 0, false);
	gossip(m, "n9", D, 0, false);
	assert_int_equal(events, 1);
	gossip(m, "n2", D, 0, false);
	assert_int_equal(events, 2);
	member_free(m);
}

/* Graceful leave: every live member gets one packet saying left, at once,
 * and nothing is sent or accepted afterwards. */
static void test_leave_packets(void **state)
{
	(void)state;
	struct member *m = core();

	sent = 0;
	member_leave(m, 5000);
	assert_int_equal(sent, 2);
	assert_int_equal(last_sent.type, MEMBER_MSG_GOSSIP);
	assert_string_equal(last_sent.updates[0].name, "n0");
	assert_int_equal(last_sent.updates[0].state, MEMBER_LEFT);
	assert_int_equal(last_sent.updates[0].incarnation, 1);
	sent = 0;
	member_tick(m, 1000000);
	gossip(m, "n0", S, 1, false);
	assert_int_equal(sent, 0);
	member_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_refute),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_leave_packets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
