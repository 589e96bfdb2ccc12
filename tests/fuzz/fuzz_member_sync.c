/*
 * libFuzzer harness for the state exchange's decoder (member/sync.h).
 *
 * Any bytes give a message or an error with a reason.  An accepted message
 * is encoded again (without and with a key) and must decode to the same
 * message, its digest recomputed from the entries must not crash, and the
 * tag check must hold for the re-encoded message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "member/sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[] = "fuzz key";

static void check(int cond)
{
	if (!cond)
		abort();
}

static void same(const struct sync_msg *a, const struct sync_msg *b)
{
	check(a->type == b->type && strcmp(a->sender, b->sender) == 0);
	check(memcmp(a->nonce, b->nonce, SYNC_NONCE_LEN) == 0);
	check(a->state.n == b->state.n && a->state.digest == b->state.digest);
	check(a->type != SYNC_MSG_STATE || a->state.settled == b->state.settled);
	for (size_t i = 0; i < a->state.n; i++) {
		const struct sync_entry *x = &a->state.entries[i], *y = &b->state.entries[i];
		check(strcmp(x->key, y->key) == 0 && x->naddrs == y->naddrs &&
		      x->stamp == y->stamp && x->announcing == y->announcing &&
		      (!x->announcing || x->since == y->since));
		for (size_t k = 0; k < x->naddrs; k++)
			check(ip_eq(&x->addrs[k], &y->addrs[k]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sync_msg m, back;
	enum sync_msg_err why;
	struct wbuf w;

	(void)sync_msg_tag_ok(data, size, key, sizeof(key) - 1);
	if (sync_msg_decode(data, size, &m, &why) == 0) {
		check(why == SYNC_MSG_OK);
		(void)sync_state_digest(&m.state);
		wbuf_init_dyn(&w, 0);
		check(sync_msg_encode(&w, &m, NULL, 0) == 0);
		check(w.len - 4 == (m.tagged ? size - 32 : size));
		check(sync_msg_decode(w.p + 4, w.len - 4, &back, NULL) == 0);
		same(&m, &back);
		sync_state_free(&back.state);
		wbuf_reset(&w);
		if (sync_msg_encode(&w, &m, key, sizeof(key) - 1) == 0) {
			check(sync_msg_tag_ok(w.p + 4, w.len - 4, key, sizeof(key) - 1));
			check(sync_msg_decode(w.p + 4, w.len - 4, &back, NULL) == 0);
			same(&m, &back);
			sync_state_free(&back.state);
		}
		wbuf_free(&w);
	} else {
		check(why != SYNC_MSG_OK && why < SYNC_MSG_ERR_COUNT);
		check(sync_msg_err_str(why) != NULL);
	}
	sync_state_free(&m.state);
	return 0;
}
