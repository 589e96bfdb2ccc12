/*
 * libFuzzer harness for the BFD control packet codec (bfd/bfd_pkt.h).
 *
 * Every input is one UDP payload.  What decodes must satisfy every check
 * of RFC 5880 §6.8.6 the codec claims (version 1, Length within 24..len,
 * no A, no M, non-zero Detect Mult and My Discriminator, Your
 * Discriminator zero only in Down or AdminDown) and re-encode to the very
 * bytes it came from (its first 24), except the D bit, which the encoder
 * never writes, and the Length, which it always writes as 24.  A refusal
 * must name a reason of the codec, never a session-level one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bfd/bfd_pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bfd_pkt p;
	uint8_t out[BFD_PKT_LEN];
	enum bfd_pkt_err e = bfd_pkt_decode(data, size, &p);

	check(e >= BFD_PKT_OK && e < BFD_PKT_ERR_NO_SESSION);
	check(bfd_pkt_err_name[e] != NULL);
	check(bfd_state_str(p.state) != NULL && bfd_diag_str(p.diag) != NULL);
	if (e != BFD_PKT_OK)
		return 0;
	check(size >= BFD_PKT_LEN);
	check(p.version == 1);
	check(p.length >= BFD_PKT_LEN && p.length <= size);
	check(!p.auth && !p.multipoint);
	check(p.detect_mult != 0 && p.my_disc != 0);
	check(p.your_disc != 0 || p.state == BFD_STATE_DOWN || p.state == BFD_STATE_ADMIN_DOWN);
	check(bfd_pkt_encode(&p, out, sizeof(out)) == BFD_PKT_LEN);
	check(out[0] == data[0]);
	check(out[1] == (data[1] & (uint8_t)~BFD_FLAG_DEMAND));
	check(out[2] == data[2]);
	check(out[3] == BFD_PKT_LEN);
	check(memcmp(out + 4, data + 4, BFD_PKT_LEN - 4) == 0);
	return 0;
}
