/*
 * HMAC-SHA256: H((K ^ opad) || H((K ^ ipad) || text)), RFC 2104 section 2.
 * Both padded keys are absorbed at init, so a keyed context can be copied
 * and reused for each message without rehashing the key.
 */
#include "base/hmac.h"

#include <string.h>

#define BLOCK 64

void hmac_sha256_init(struct hmac_sha256 *h, const void *key, size_t key_len)
{
	uint8_t k[BLOCK] = {0}, pad[BLOCK];

	if (key_len > BLOCK)
		sha256(key, key_len, k);       /* RFC 2104: a long key is hashed first */
	else if (key_len)
		memcpy(k, key, key_len);
	for (size_t i = 0; i < BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&h->inner);
	sha256_update(&h->inner, pad, BLOCK);
	for (size_t i = 0; i < BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&h->outer);
	sha256_update(&h->outer, pad, BLOCK);
	memset(k, 0, sizeof(k));
	memset(pad, 0, sizeof(pad));
}

void hmac_sha256_update(struct hmac_sha256 *h, const void *data, size_t len)
{
	sha256_update(&h->inner, data, len);
}

void hmac_sha256_final(struct hmac_sha256 *h, uint8_t out[HMAC_SHA256_LEN])
{
	uint8_t ih[SHA256_DIGEST_LEN];

	sha256_final(&h->inner, ih);
	sha256_update(&h->outer, ih, sizeof(ih));
	sha256_final(&h->outer, out);
}

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		 uint8_t out[HMAC_SHA256_LEN])
{
	struct hmac_sha256 h;

	hmac_sha256_init(&h, key, key_len);
	hmac_sha256_update(&h, data, len);
	hmac_sha256_final(&h, out);
}

bool hmac_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}
