/*
 * HMAC-SHA256 (RFC 2104, FIPS 198-1) on top of base/sha256.  Authenticates
 * the packets between ironlb nodes (src/member): every packet carries a tag
 * computed under a key the nodes share.
 *
 * A key longer than the SHA-256 block (64 bytes) is hashed first, as RFC
 * 2104 section 2 requires; any key length is accepted.
 */
#ifndef IRONLB_BASE_HMAC_H
#define IRONLB_BASE_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sha256.h"

#define HMAC_SHA256_LEN SHA256_DIGEST_LEN

struct hmac_sha256 {
	struct sha256 inner;
	struct sha256 outer;   /* already fed the outer padded key */
};

void hmac_sha256_init(struct hmac_sha256 *h, const void *key, size_t key_len);
void hmac_sha256_update(struct hmac_sha256 *h, const void *data, size_t len);
void hmac_sha256_final(struct hmac_sha256 *h, uint8_t out[HMAC_SHA256_LEN]);
/* One call: out = HMAC-SHA256(key, data). */
void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		 uint8_t out[HMAC_SHA256_LEN]);

/* Compare n bytes in time that does not depend on where they differ, so a
 * forger cannot learn a tag byte by byte from response timing. */
bool hmac_equal(const void *a, const void *b, size_t n);

#endif
