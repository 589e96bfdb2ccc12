/*
 * Tests for BFD echo packets (bfd/bfd_echo.h): the IPv4 and IPv6 packets
 * built byte by byte (addresses, TTL 255, ports, lengths, header and UDP
 * checksums), their parsing, and what parsing refuses (not ours, another
 * port, a fragment, a bad header checksum, truncation).  The AF_PACKET
 * socket itself needs CAP_NET_RAW and is exercised against FRR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bfd/bfd_echo.h"

static struct ip_addr addr(const char *s)
{
	struct ip_addr a;
	char why[100];

	assert_int_equal(ip_parse(s, &a, why, sizeof(why)), 0);
	return a;
}

/* One's complement sum over the data with the pseudo header: 0xffff when
 * the UDP checksum is right. */
static uint16_t udp_sum(const uint8_t *ip, size_t ihl, size_t alen, size_t udp_len)
{
	uint32_t sum = 0;
	const uint8_t *src = ip + (alen == 4 ? 12 : 8);

	for (size_t i = 0; i < 2 * alen; i += 2)
		sum += (uint32_t)(src[i] << 8 | src[i + 1]);
	sum += 17 + (uint32_t)udp_len;
	for (size_t i = 0; i < udp_len; i += 2)
		sum += (uint32_t)(ip[ihl + i] << 8 | (i + 1 < udp_len ? ip[ihl + i + 1] : 0));
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void test_ipv4(void **state)
{
	struct ip_addr self = addr("10.99.0.1"), src;
	struct bfd_echo_payload p = { .disc = 0xdeadbeef, .seq = 42 }, q;
	uint8_t b[BFD_ECHO_MAX];
	int n;

	(void)state;
	n = bfd_echo_build(b, sizeof(b), &self, 50000, 3785, &p);
	assert_int_equal(n, 20 + 8 + 16);
	assert_int_equal(b[0], 0x45);
	assert_int_equal(b[2] << 8 | b[3], n);
	assert_int_equal(b[8], 255);             /* TTL */
	assert_int_equal(b[9], 17);              /* UDP */
	static const uint8_t a[4] = { 10, 99, 0, 1 };
	assert_memory_equal(b + 12, a, 4);       /* source: ourselves */
	assert_memory_equal(b + 16, a, 4);       /* destination: ourselves */
	assert_int_equal(b[20] << 8 | b[21], 50000);
	assert_int_equal(b[22] << 8 | b[23], 3785);
	assert_int_equal(b[24] << 8 | b[25], 24);
	assert_int_equal(udp_sum(b, 20, 4, 24), 0xffff);
	assert_int_equal(bfd_echo_parse(b, (size_t)n, 3785, &src, &q), 0);
	assert_true(ip_eq(&src, &self));
	assert_int_equal(q.disc, 0xdeadbeef);
	assert_int_equal(q.seq, 42);
}

static void test_ipv6(void **state)
{
	struct ip_addr self = addr("fd99::1"), src;
	struct bfd_echo_payload p = { .disc = 7, .seq = 0x0102030405060708ull }, q;
	uint8_t b[BFD_ECHO_MAX];
	int n;

	(void)state;
	n = bfd_echo_build(b, sizeof(b), &self, 49152, 3785, &p);
	assert_int_equal(n, 40 + 8 + 16);
	assert_int_equal(b[0] >> 4, 6);
	assert_int_equal(b[4] << 8 | b[5], 24);  /* payload length */
	assert_int_equal(b[6], 17);
	assert_int_equal(b[7], 255);             /* hop limit */
	assert_memory_equal(b + 8, b + 24, 16);
	assert_int_equal(b[8], 0xfd);
	assert_int_equal(udp_sum(b, 40, 16, 24), 0xffff);
	assert_int_equal(bfd_echo_parse(b, (size_t)n, 3785, &src, &q), 0);
	assert_true(ip_eq(&src, &self));
	assert_int_equal(q.disc, 7);
	assert_int_equal(q.seq, 0x0102030405060708ull);
	/* Too small a buffer, or no address. */
	assert_int_equal(bfd_echo_build(b, 63, &self, 1, 2, &p), -1);
	struct ip_addr none = { 0 };
	assert_int_equal(bfd_echo_build(b, sizeof(b), &none, 1, 2, &p), -1);
}

static void test_refused(void **state)
{
	struct ip_addr self = addr("10.99.0.1"), src;
	struct bfd_echo_payload p = { .disc = 1, .seq = 1 }, q;
	uint8_t b[BFD_ECHO_MAX], c[BFD_ECHO_MAX];
	int n;

	(void)state;
	n = bfd_echo_build(b, sizeof(b), &self, 50000, 3785, &p);
	/* Another port. */
	assert_int_equal(bfd_echo_parse(b, (size_t)n, 3784, &src, &q), -1);
	/* Truncated anywhere. */
	for (int len = 0; len < n; len++)
		assert_int_equal(bfd_echo_parse(b, (size_t)len, 3785, &src, &q), -1);
	/* Not our magic (FRR's own echo format, e.g.). */
	memcpy(c, b, (size_t)n);
	c[28] ^= 1;
	assert_int_equal(bfd_echo_parse(c, (size_t)n, 3785, &src, &q), -1);
	/* A fragment (MF set; the header checksum fixed up does not help). */
	memcpy(c, b, (size_t)n);
	c[6] |= 0x20;
	assert_int_equal(bfd_echo_parse(c, (size_t)n, 3785, &src, &q), -1);
	/* A bad header checksum. */
	memcpy(c, b, (size_t)n);
	c[10] ^= 0xff;
	assert_int_equal(bfd_echo_parse(c, (size_t)n, 3785, &src, &q), -1);
	/* Not UDP. */
	struct ip_addr v6 = addr("fd99::1");
	n = bfd_echo_build(c, sizeof(c), &v6, 50000, 3785, &p);
	c[6] = 6;
	assert_int_equal(bfd_echo_parse(c, (size_t)n, 3785, &src, &q), -1);
	/* Neither IPv4 nor IPv6. */
	c[0] = 0x50;
	assert_int_equal(bfd_echo_parse(c, (size_t)n, 3785, &src, &q), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
