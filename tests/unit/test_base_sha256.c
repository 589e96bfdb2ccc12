/* SHA-256 against FIPS 180-4 / NIST example vectors and sha256sum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/sha256.h"
#include "base/util.h"

static void hex(const uint8_t d[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static const struct {
	const char *in;
	size_t repeat; /* the input repeated this many times (0 = once) */
	const char *digest;
} rows[] = {
	{"", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	{"abc", 0, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 0,
	 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	{"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
	 0, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
	{"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
	/* Boundaries of the padding: 55, 56, 63 and 64 bytes (digests from
	 * coreutils sha256sum). */
	{"0123456789012345678901234567890123456789012345678901234", 0,
	 "f34d5a0f80c0cbf84c8c0b90218c22637abd199965249da736a20143c8c9c9d9"},
	{"01234567890123456789012345678901234567890123456789012345", 0,
	 "83aa034bda83e458a0dc9cbce0d4e354716aa0ff770ed37ac0ed2b292052e4af"},
	{"012345678901234567890123456789012345678901234567890123456789012", 0,
	 "074f6e9ac301d5d1b6df6f1dfb8c6f89c187ea945d352ce6a29279a9c630680b"},
	{"0123456789012345678901234567890123456789012345678901234567890123", 0,
	 "9674d9e078535b7cec43284387a6ee39956188e735a85452b0050b55341cda56"},
};

static void test_vectors(void **st)
{
	(void)st;
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		uint8_t d[32];
		char h[65];
		if (rows[i].repeat) {
			struct sha256 s;
			sha256_init(&s);
			for (size_t k = 0; k < rows[i].repeat; k++)
				sha256_update(&s, rows[i].in, strlen(rows[i].in));
			sha256_final(&s, d);
		} else {
			sha256(rows[i].in, strlen(rows[i].in), d);
		}
		hex(d, h);
		if (strcmp(h, rows[i].digest) != 0)
			fail_msg("row %zu: %s, want %s", i, h, rows[i].digest);
	}
}

/* Feeding in pieces of every size gives the one-call digest. */
static void test_split_updates(void **st)
{
	(void)st;
	char buf[300];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);
	uint8_t want[32];
	sha256(buf, sizeof(buf), want);
	for (size_t step = 1; step <= 130; step++) {
		struct sha256 s;
		sha256_init(&s);
		for (size_t off = 0; off < sizeof(buf); off += step)
			sha256_update(&s, buf + off, off + step > sizeof(buf) ? sizeof(buf) - off : step);
		uint8_t got[32];
		sha256_final(&s, got);
		assert_memory_equal(got, want, 32);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_split_updates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
