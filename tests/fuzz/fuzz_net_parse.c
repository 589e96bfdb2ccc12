/*
 * Fuzz harness for the address, prefix and range parsers in src/net/ip.c.
 *
 * Every input goes through all three parsers.  A failure must leave a
 * terminated, non-empty reason; a success must print to text that parses
 * back to the same value, and a range must split into prefixes that tile it
 * exactly.  Any broken property aborts, which the fuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/ip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                  \
	do {                         \
		if (!(cond))         \
			abort();     \
	} while (0)

/* Parsers of pool entries only ever see short strings; longer inputs only
 * slow the fuzzer down. */
#define INPUT_MAX 512

static void check_why(const char *why, size_t whylen)
{
	CHECK(memchr(why, '\0', whylen) != NULL);
	CHECK(why[0] != '\0');
}

static void fuzz_addr(const char *s)
{
	struct ip_addr a, b;
	char why[256], buf[IP_STR_MAX];

	memset(why, 0, sizeof(why));
	if (ip_parse(s, &a, why, sizeof(why)) < 0) {
		check_why(why, sizeof(why));
		return;
	}
	CHECK(a.family == IP_FAMILY_V4 || a.family == IP_FAMILY_V6);
	ip_format(&a, buf);
	CHECK(strlen(buf) < IP_STR_MAX);
	CHECK(ip_parse(buf, &b, NULL, 0) == 0);
	CHECK(ip_eq(&a, &b));

	uint8_t bytes[16];
	ip_to_bytes(&a, bytes);
	b = ip_from_bytes(a.family, bytes);
	CHECK(ip_eq(&a, &b));
}

static void fuzz_prefix(const char *s)
{
	struct ip_prefix p, q;
	bool host_bits;
	char why[256], buf[IP_STR_MAX];

	memset(why, 0, sizeof(why));
	if (ip_prefix_parse(s, &p, &host_bits, why, sizeof(why)) < 0) {
		check_why(why, sizeof(why));
		return;
	}
	CHECK(p.len <= ip_family_bits(p.addr.family));
	ip_prefix_format(&p, buf);
	CHECK(ip_prefix_parse(buf, &q, &host_bits, NULL, 0) == 0);
	CHECK(!host_bits);
	CHECK(ip_eq(&p.addr, &q.addr) && p.len == q.len);
	CHECK(ip_prefix_contains(&p, &p.addr));
}

struct tile {
	struct ip_addr next;
	bool ended;
	unsigned count, min_len;
};

static int tile_cb(const struct ip_prefix *p, void *arg)
{
	struct tile *t = arg;
	CHECK(!t->ended);
	CHECK(ip_eq(&p->addr, &t->next));
	CHECK(ip_mask(&p->addr, p->len).v == p->addr.v);
	struct ip_range r = ip_prefix_range(p);
	t->next = r.last;
	if (ip_add(&t->next, 1) < 0)
		t->ended = true;
	if (p->len < t->min_len)
		t->min_len = p->len;
	t->count++;
	return 0;
}

static void fuzz_range(const char *s)
{
	struct ip_range r, q;
	char why[256], buf[IP_STR_MAX];

	memset(why, 0, sizeof(why));
	if (ip_range_parse(s, &r, why, sizeof(why)) < 0) {
		check_why(why, sizeof(why));
		return;
	}
	CHECK(r.first.family == r.last.family && ip_cmp(&r.first, &r.last) <= 0);
	ip_range_format(&r, buf);
	CHECK(ip_range_parse(buf, &q, NULL, 0) == 0);
	CHECK(ip_eq(&r.first, &q.first) && ip_eq(&r.last, &q.last));
	CHECK(ip_range_contains(&r, &r.first) && ip_range_contains(&r, &r.last));
	CHECK(ip_range_overlaps(&r, &q));

	unsigned bits = ip_family_bits(r.first.family);
	struct tile t = { .next = r.first, .min_len = bits };
	CHECK(ip_range_prefixes(&r, tile_cb, &t) == 0);
	CHECK(t.count >= 1 && t.count <= 2 * bits);
	struct ip_addr end = r.last;
	if (ip_add(&end, 1) < 0)
		CHECK(t.ended);
	else
		CHECK(!t.ended && ip_eq(&t.next, &end));
	CHECK(ip_range_min_prefix_len(&r) == t.min_len);

	u128 n;
	if (ip_range_size(&r, &n) == 0) {
		char nb[U128_STR_MAX];
		u128_format(n, nb);
		CHECK(n >= 1 && r.last.v - r.first.v == n - 1);
	} else {
		CHECK(r.first.family == IP_FAMILY_V6 && t.count == 1 && t.min_len == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > INPUT_MAX)
		return 0;
	char s[INPUT_MAX + 1];
	memcpy(s, data, size);
	s[size] = '\0';

	fuzz_addr(s);
	fuzz_prefix(s);
	fuzz_range(s);

	/* A reason cut short by a tiny buffer is still terminated. */
	char tiny[5];
	memset(tiny, 'x', sizeof(tiny));
	struct ip_range r;
	if (ip_range_parse(s, &r, tiny, sizeof(tiny)) < 0)
		CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL);
	return 0;
}
