/* HMAC-SHA256 against the test vectors of RFC 4231 section 4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/hmac.h"

static void fill(uint8_t *p, uint8_t v, size_t n)
{
	memset(p, v, n);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

struct vec {
	uint8_t key[131];
	size_t key_len;
	uint8_t data[160];
	size_t data_len;
	const char *mac;     /* hex; case 5 gives only the first 128 bits */
};

static void check(const struct vec *v)
{
	uint8_t out[HMAC_SHA256_LEN];
	char h[2 * HMAC_SHA256_LEN + 1];

	hmac_sha256(v->key, v->key_len, v->data, v->data_len, out);
	hex(out, sizeof(out), h);
	assert_memory_equal(h, v->mac, strlen(v->mac));

	/* The same through the incremental interface, one byte at a time. */
	struct hmac_sha256 c;
	hmac_sha256_init(&c, v->key, v->key_len);
	for (size_t i = 0; i < v->data_len; i++)
		hmac_sha256_update(&c, v->data + i, 1);
	uint8_t out2[HMAC_SHA256_LEN];
	hmac_sha256_final(&c, out2);
	assert_memory_equal(out, out2, sizeof(out));
}

static void set_str(uint8_t *p, size_t *len, const char *s)
{
	*len = strlen(s);
	memcpy(p, s, *len);
}

static void test_rfc4231(void **state)
{
	(void)state;
	struct vec v;

	/* 4.2 Test Case 1 */
	memset(&v, 0, sizeof(v));
	fill(v.key, 0x0b, v.key_len = 20);
	set_str(v.data, &v.data_len, "Hi There");
	v.mac = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
	check(&v);

	/* 4.3 Test Case 2: a key shorter than the output */
	memset(&v, 0, sizeof(v));
	set_str(v.key, &v.key_len, "Jefe");
	set_str(v.data, &v.data_len, "what do ya want for nothing?");
	v.mac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
	check(&v);

	/* 4.4 Test Case 3 */
	memset(&v, 0, sizeof(v));
	fill(v.key, 0xaa, v.key_len = 20);
	fill(v.data, 0xdd, v.data_len = 50);
	v.mac = "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe";
	check(&v);

	/* 4.5 Test Case 4 */
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < 25; i++)
		v.key[i] = (uint8_t)(i + 1);
	v.key_len = 25;
	fill(v.data, 0xcd, v.data_len = 50);
	v.mac = "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b";
	check(&v);

	/* 4.6 Test Case 5: the RFC gives the tag truncated to 128 bits */
	memset(&v, 0, sizeof(v));
	fill(v.key, 0x0c, v.key_len = 20);
	set_str(v.data, &v.data_len, "Test With Truncation");
	v.mac = "a3b6167473100ee06e0c796c2955552b";
	check(&v);

	/* 4.7 Test Case 6: a key longer than the block is hashed first */
	memset(&v, 0, sizeof(v));
	fill(v.key, 0xaa, v.key_len = 131);
	set_str(v.data, &v.data_len, "Test Using Larger Than Block-Size Key - Hash Key First");
	v.mac = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
	check(&v);

	/* 4.8 Test Case 7: long key and data longer than one block */
	memset(&v, 0, sizeof(v));
	fill(v.key, 0xaa, v.key_len = 131);
	set_str(v.data, &v.data_len,
		"This is a test using a larger than block-size key and a larger than "
		"block-size data. The key needs to be hashed before being used by the "
		"HMAC algorithm.");
	v.mac = "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2";
	check(&v);
}

static void test_equal(void **state)
{
	(void)state;
	uint8_t a[32] = {1, 2, 3}, b[32] = {1, 2, 3};

	assert_true(hmac_equal(a, b, sizeof(a)));
	b[31] ^= 0x80;
	assert_false(hmac_equal(a, b, sizeof(a)));
	assert_true(hmac_equal(a, b, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4231),
		cmocka_unit_test(test_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
