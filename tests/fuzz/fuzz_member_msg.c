/*
 * libFuzzer harness for the member packet decoder (member/member.h) and the
 * protocol core's handling of a packet.
 *
 * An accepted packet is encoded again (without and with a key) and must
 * decode to the same message; the tag check must hold for the re-encoded
 * packet and never crash on the input.  Every input is then given to a
 * protocol core without a key whose members are n1..n3, so that whatever
 * a decodable packet says (updates, pings, ping-reqs, acks) is applied,
 * answered through a send function that checks what is sent decodes, and
 * followed by a timer tick.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "member/member.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[] = "fuzz key";

static void check(int cond)
{
	if (!cond)
		abort();
}

static void same(const struct member_msg *a, const struct member_msg *b)
{
	check(a->type == b->type && a->epoch == b->epoch && a->seq == b->seq &&
	      a->probe == b->probe && a->n_updates == b->n_updates);
	check(a->has_digest == b->has_digest && (!a->has_digest || a->digest == b->digest));
	check(strcmp(a->sender, b->sender) == 0 && strcmp(a->target, b->target) == 0);
	if (a->type == MEMBER_MSG_PING_REQ)
		check(ip_eq(&a->target_addr.ip, &b->target_addr.ip) &&
		      a->target_addr.port == b->target_addr.port);
	for (size_t i = 0; i < a->n_updates; i++) {
		check(a->updates[i].state == b->updates[i].state);
		check(a->updates[i].own == b->updates[i].own);
		check(a->updates[i].incarnation == b->updates[i].incarnation);
		check(strcmp(a->updates[i].name, b->updates[i].name) == 0);
	}
}

static int fuzz_send(void *ctx, const struct member_addr *to, const uint8_t *p, size_t len)
{
	static struct member_msg m;

	(void)ctx;
	(void)to;
	check(len <= MEMBER_PACKET_MAX);
	check(member_msg_decode(p, len, &m, NULL) == 0);
	return 0;
}

static struct member *core(void)
{
	static struct member *m;
	static int64_t now = 1000000;

	if (!m) {
		struct member_config cfg = { .name = "n0", .epoch = 1, .seed = 1, .send = fuzz_send };
		struct member_peer peers[3] = {
			{ "n1", { ip_v4(0x0a000001), 7946 } },
			{ "n2", { ip_v4(0x0a000002), 7946 } },
			{ "n3", { ip_v4(0x0a000003), 7946 } },
		};
		member_timing_default(&cfg.timing);
		m = member_new(&cfg, now);
		check(m != NULL);
		check(member_set_peers(m, peers, 3, now) == 0);
	}
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct member_msg m, back;
	static uint8_t out[MEMBER_PACKET_MAX];
	static int64_t now = 2000000;
	enum member_msg_err why;
	struct wbuf w;

	(void)member_msg_tag_ok(data, size, key, sizeof(key) - 1);
	if (member_msg_decode(data, size, &m, &why) == 0) {
		check(why == MEMBER_MSG_OK);
		check(m.n_updates <= MEMBER_UPDATES_MAX);
		wbuf_init_fixed(&w, out, sizeof(out));
		check(member_msg_encode(&w, &m, NULL, 0) == 0);
		check(w.len == (m.tagged ? size - MEMBER_TAG_LEN : size));
		check(member_msg_decode(out, w.len, &back, NULL) == 0);
		same(&m, &back);
		wbuf_init_fixed(&w, out, sizeof(out));
		if (member_msg_encode(&w, &m, key, sizeof(key) - 1) == 0) {
			check(member_msg_tag_ok(out, w.len, key, sizeof(key) - 1));
			check(member_msg_decode(out, w.len, &back, NULL) == 0);
			same(&m, &back);
		}
	} else {
		check(why != MEMBER_MSG_OK && why < MEMBER_MSG_ERR_COUNT);
		check(member_msg_err_str(why) != NULL);
	}

	struct member *c = core();
	struct member_addr from = { ip_v4(0x0a000001), 7946 };
	now += 1000;
	member_input(c, &from, data, size, now);
	now += 50000;
	member_tick(c, now);
	return 0;
}
