/*
 * SHA-256 (FIPS 180-4).  Used for MetalLB's Layer 2 election order
 * (sha256 of node name + "#" + address).  A small implementation of our
 * own: the only alternative on the daemon's path was libcrypto, which costs
 * over a megabyte of resident memory to load for one hash function.
 */
#ifndef IRONLB_BASE_SHA256_H
#define IRONLB_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32

struct sha256 {
	uint32_t h[8];
	uint64_t total;      /* bytes hashed so far */
	uint8_t block[64];
	size_t fill;         /* bytes in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[SHA256_DIGEST_LEN]);
/* One call: out = SHA-256(data). */
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN]);

#endif
