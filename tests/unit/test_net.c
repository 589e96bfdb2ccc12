/*
 * Tests for src/net/ip.c: each group is a table of inputs and expected
 * outputs, walked by one test function that names the failing row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "net/ip.h"

#define V4 IP_FAMILY_V4
#define V6 IP_FAMILY_V6
#define ALL_ONES6 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

static const char EXPECT_RANGE[] =
	"is not a CIDR (\"192.168.10.0/24\") or a range (\"192.168.10.1-192.168.10.99\")";
static const char EXPECT_ADDR[] = "is not an IP address (expected an IPv4 address like "
				  "192.168.10.1 or an IPv6 address like 2001:db8::1)";

static u128 u128_of(uint64_t hi, uint64_t lo)
{
	return (u128)hi << 64 | lo;
}

static struct ip_addr addr_of(const char *s)
{
	struct ip_addr a;
	char why[128] = "";
	if (ip_parse(s, &a, why, sizeof(why)) < 0)
		fail_msg("\"%s\" %s", s, why);
	return a;
}

static struct ip_range range_of(const char *s)
{
	struct ip_range r;
	char why[128] = "";
	if (ip_range_parse(s, &r, why, sizeof(why)) < 0)
		fail_msg("\"%s\" %s", s, why);
	return r;
}

static struct ip_prefix prefix_of(const char *s)
{
	struct ip_prefix p;
	char why[128] = "";
	if (ip_prefix_parse(s, &p, NULL, why, sizeof(why)) < 0)
		fail_msg("\"%s\" %s", s, why);
	return p;
}

static void expect_str(const char *row, const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", row, got, want);
}

/* --- ip_parse --- */

static const struct {
	const char *in;
	enum ip_family family;
	const char *out;
} parse_ok[] = {
	{ "0.0.0.0", V4, "0.0.0.0" },
	{ "255.255.255.255", V4, "255.255.255.255" },
	{ "192.168.10.1", V4, "192.168.10.1" },
	{ "10.0.0.0", V4, "10.0.0.0" },
	{ "1.20.100.200", V4, "1.20.100.200" },
	{ "::", V6, "::" },
	{ "::1", V6, "::1" },
	{ "1::", V6, "1::" },
	{ "2001:db8::1", V6, "2001:db8::1" },
	{ "2001:0DB8:0000:0000:0000:0000:0000:0001", V6, "2001:db8::1" },
	{ "0:0:0:0:0:0:0:0", V6, "::" },
	{ ALL_ONES6, V6, ALL_ONES6 },
	{ "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", V6, ALL_ONES6 },
	{ "::ffff:1.2.3.4", V6, "::ffff:1.2.3.4" },
	{ "::FFFF:192.0.2.1", V6, "::ffff:192.0.2.1" },
	{ "0:0:0:0:0:ffff:c000:0201", V6, "::ffff:192.0.2.1" },
	{ "::1.2.3.4", V6, "::102:304" },
	{ "1:2:3:4:5:6:1.2.3.4", V6, "1:2:3:4:5:6:102:304" },
	{ "64:ff9b::192.0.2.33", V6, "64:ff9b::c000:221" },
	{ "1:2:3:4:5:6:7::", V6, "1:2:3:4:5:6:7:0" },
	{ "::2:3:4:5:6:7:8", V6, "0:2:3:4:5:6:7:8" },
	{ "fe80::1:2", V6, "fe80::1:2" },
	{ "a:b:c:d:e:f:a:b", V6, "a:b:c:d:e:f:a:b" },
};

static void test_parse_ok(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(parse_ok); i++) {
		struct ip_addr a;
		char why[128] = "", buf[IP_STR_MAX];
		if (ip_parse(parse_ok[i].in, &a, why, sizeof(why)) < 0)
			fail_msg("\"%s\" %s", parse_ok[i].in, why);
		assert_int_equal(a.family, parse_ok[i].family);
		expect_str(parse_ok[i].in, ip_format(&a, buf), parse_ok[i].out);
	}
	/* Values, not just text. */
	struct ip_addr a = addr_of("1.2.3.4");
	assert_true(a.v == 0x01020304);
	a = addr_of("::ffff:1.2.3.4");
	assert_true(a.v == u128_of(0, 0xffff01020304));
	a = addr_of("2001:db8::1");
	assert_true(a.v == u128_of(0x20010db800000000, 1));
}

static const struct {
	const char *in;
	const char *why;
} parse_bad[] = {
	{ "1.2.3", "is not an IPv4 address (4 octets needed, found 3)" },
	{ "1.2.3.4.5", "is not an IPv4 address (4 octets needed, found 5)" },
	{ "1234", "is not an IPv4 address (4 octets needed, found 1)" },
	{ "1.2.3.256", "is not an IPv4 address (octet 256 is above 255)" },
	{ "1.2.3.1000", "is not an IPv4 address (octet 1000 is above 255)" },
	{ "1.2.3.12345678901234567890123",
	  "is not an IPv4 address (octet 12345678901234567890... is above 255)" },
	{ "010.0.0.1", "is not an IPv4 address (octet \"010\" has a leading zero)" },
	{ "1.2.3.00", "is not an IPv4 address (octet \"00\" has a leading zero)" },
	{ "1..2.3", "is not an IPv4 address (octet 2 is empty)" },
	{ ".1.2.3", "is not an IPv4 address (octet 1 is empty)" },
	{ "1.2.3.", "is not an IPv4 address (octet 4 is empty)" },
	{ "1.2.3.x", "is not an IPv4 address (decimal digits and dots only)" },
	{ "1.2.3.-1", "is not an IPv4 address (decimal digits and dots only)" },
	{ "0x1.2.3.4", "is not an IPv4 address (decimal digits and dots only)" },
	{ " 1.2.3.4", "is not an IPv4 address (leading or trailing blanks)" },
	{ "1.2.3.4 ", "is not an IPv4 address (leading or trailing blanks)" },
	{ "1.2. 3.4", "is not an IPv4 address (blanks are not allowed)" },
	{ "10.0.0.0/24", "is not an IPv4 address (no \"/length\" allowed in an address)" },
	{ "", EXPECT_ADDR },
	{ "foo", EXPECT_ADDR },
	{ "2001:db8::1::2", "is not an IPv6 address (\"::\" may appear only once)" },
	{ "::1::", "is not an IPv6 address (\"::\" may appear only once)" },
	{ "2001:db8::12345", "is not an IPv6 address (at most 4 hex digits per group)" },
	{ "02001:db8::1", "is not an IPv6 address (at most 4 hex digits per group)" },
	{ "2001:db8::g", "is not an IPv6 address (hex digits only)" },
	{ "2001:db8:prod::", "is not an IPv6 address (hex digits only)" },
	{ "fe80::1%eth0", "is not an IPv6 address (zone ids like \"%eth0\" are not allowed)" },
	{ "[2001:db8::1]", "is not an IPv6 address (brackets are not allowed)" },
	{ "2001:db8::1 ", "is not an IPv6 address (leading or trailing blanks)" },
	{ "2001:db8:: 1", "is not an IPv6 address (blanks are not allowed)" },
	{ "2001:db8::/32", "is not an IPv6 address (no \"/length\" allowed in an address)" },
	{ "1:2:3:4:5:6:7", "is not an IPv6 address (8 groups needed, found 7)" },
	{ "1:2:3:4:5:6:7:8:9", "is not an IPv6 address (8 groups needed, found 9)" },
	{ "1:2:3:4:5:6:7:1.2.3.4", "is not an IPv6 address (8 groups needed, found 9)" },
	{ "1:2:3:4::5:6:7:8", "is not an IPv6 address (8 groups and \"::\" are too many; "
			      "\"::\" stands for at least one zero group)" },
	{ "::1:2:3:4:5:6:1.2.3.4", "is not an IPv6 address (8 groups and \"::\" are too many; "
				   "\"::\" stands for at least one zero group)" },
	{ ":1:2:3:4:5:6:7",
	  "is not an IPv6 address (starts with a single \":\"; use \"::\" for leading zeros)" },
	{ ":", "is not an IPv6 address (starts with a single \":\"; use \"::\" for leading zeros)" },
	{ "1:2:3:4:5:6:7:",
	  "is not an IPv6 address (ends with a single \":\"; use \"::\" for trailing zeros)" },
	{ "1:::2", "is not an IPv6 address (\":::\" is not allowed; \"::\" stands for zero groups)" },
	{ "1.2.3.4::", "is not an IPv6 address (an embedded IPv4 address may only be the last 32 "
		       "bits)" },
	{ "::1.2.3.4:1", "is not an IPv6 address (an embedded IPv4 address may only be the last "
			 "32 bits)" },
	{ "::1.2.3.256", "is not an IPv6 address (embedded IPv4: octet 256 is above 255)" },
	{ "::ffff:1.2.3", "is not an IPv6 address (embedded IPv4: 4 octets needed, found 3)" },
	{ "::ffff:1.2.03.4",
	  "is not an IPv6 address (embedded IPv4: octet \"03\" has a leading zero)" },
};

static void test_parse_bad(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(parse_bad); i++) {
		struct ip_addr a = { .v = 42, .family = V4 };
		char why[256] = "";
		if (ip_parse(parse_bad[i].in, &a, why, sizeof(why)) == 0)
			fail_msg("\"%s\" parsed", parse_bad[i].in);
		expect_str(parse_bad[i].in, why, parse_bad[i].why);
		/* The output is left alone on failure. */
		assert_true(a.v == 42 && a.family == V4);
	}
}

/* --- RFC 5952 §4 (and the §2 variants that must all print the same) --- */

static const struct {
	const char *in;
	const char *out;
} rfc5952[] = {
	/* §4.1: leading zeros suppressed; "0000" is "0" */
	{ "2001:0db8::0001", "2001:db8::1" },
	{ "2001:db8::001", "2001:db8::1" },
	{ "2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1" },
	{ "2001:db8:0000:0:1::1", "2001:db8::1:0:0:1" },
	/* §4.2.1: "::" used to its maximum */
	{ "2001:db8:0:0:0:0:2:1", "2001:db8::2:1" },
	{ "2001:db8::0:1", "2001:db8::1" },
	{ "2001:db8:0:0:0::1", "2001:db8::1" },
	{ "2001:db8:0::1", "2001:db8::1" },
	/* §4.2.2: one zero group is not shortened */
	{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },
	{ "2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },
	/* §4.2.3: longest run wins; the first on a tie */
	{ "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" },
	{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
	{ "2001:db8:0:0:aaaa::1", "2001:db8::aaaa:0:0:1" },
	{ "2001:0db8::1:0:0:1", "2001:db8::1:0:0:1" },
	{ "2001:db8::0:1:0:0:1", "2001:db8::1:0:0:1" },
	/* §4.3: lower case */
	{ "2001:DB8::1", "2001:db8::1" },
	{ "2001:DB8:0:0:1::1", "2001:db8::1:0:0:1" },
	{ "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789", "abcd:ef01:2345:6789:abcd:ef01:2345:6789" },
	/* edges of the run search */
	{ "0:0:1:0:0:0:0:0", "0:0:1::" },
	{ "1:0:0:0:0:0:0:0", "1::" },
	{ "0:1:0:0:0:0:0:0", "0:1::" },
	{ "0:0:0:0:0:0:0:1", "::1" },
	{ "1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0" },
	{ "0:1:1:1:1:1:1:0", "0:1:1:1:1:1:1:0" },
	{ "1:0:0:2:0:0:0:3", "1:0:0:2::3" },
	/* §5: IPv4-mapped in mixed notation */
	{ "::ffff:c000:201", "::ffff:192.0.2.1" },
	{ "::ffff:0:0", "::ffff:0.0.0.0" },
	{ "::ffff:ffff:ffff", "::ffff:255.255.255.255" },
	{ "::fffe:c000:201", "::fffe:c000:201" },
	{ "1::ffff:c000:201", "1::ffff:c000:201" },
};

static void test_format_rfc5952(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(rfc5952); i++) {
		struct ip_addr a = addr_of(rfc5952[i].in);
		char buf[IP_STR_MAX];
		expect_str(rfc5952[i].in, ip_format(&a, buf), rfc5952[i].out);
		/* The canonical text parses back to the same value. */
		struct ip_addr b = addr_of(buf);
		assert_true(ip_eq(&a, &b));
	}
}

/* --- prefixes --- */

static const struct {
	const char *in;
	const char *out;
	bool host_bits;
} prefix_ok[] = {
	{ "10.0.0.0/24", "10.0.0.0/24", false },
	{ "10.20.30.40/24", "10.20.30.0/24", true },
	{ "0.0.0.0/0", "0.0.0.0/0", false },
	{ "1.2.3.4/0", "0.0.0.0/0", true },
	{ "1.2.3.4/32", "1.2.3.4/32", false },
	{ "10.0.0.1/31", "10.0.0.0/31", true },
	{ "2001:db8::/64", "2001:db8::/64", false },
	{ "2001:db8::1/64", "2001:db8::/64", true },
	{ "2001:DB8:1:2:3:4:5:6/48", "2001:db8:1::/48", true },
	{ "::/0", "::/0", false },
	{ "ffff::1/1", "8000::/1", true },
	{ "2001:db8::1/128", "2001:db8::1/128", false },
	{ "::ffff:10.1.2.3/120", "::ffff:10.1.2.0/120", true },
};

static void test_prefix_ok(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(prefix_ok); i++) {
		struct ip_prefix p;
		bool hb = !prefix_ok[i].host_bits;
		char why[128] = "", buf[IP_STR_MAX];
		if (ip_prefix_parse(prefix_ok[i].in, &p, &hb, why, sizeof(why)) < 0)
			fail_msg("\"%s\" %s", prefix_ok[i].in, why);
		expect_str(prefix_ok[i].in, ip_prefix_format(&p, buf), prefix_ok[i].out);
		assert_int_equal(hb, prefix_ok[i].host_bits);
	}
}

static const struct {
	const char *in;
	const char *why;
} prefix_bad[] = {
	{ "10.0.0.0/33", "is not an IPv4 prefix (length 33 is above 32)" },
	{ "10.0.0.0/1000", "is not an IPv4 prefix (length 1000 is above 32)" },
	{ "2001:db8::/129", "is not an IPv6 prefix (length 129 is above 128)" },
	{ "10.0.0.0", "is not an IPv4 prefix (missing \"/length\", as in 192.168.10.0/24)" },
	{ "2001:db8::", "is not an IPv6 prefix (missing \"/length\", as in 2001:db8::/64)" },
	{ "10.0.0.0/", "is not an IPv4 prefix (missing length after \"/\"; 0..32)" },
	{ "10.0.0.0/x", "is not an IPv4 prefix (length must be a decimal number 0..32)" },
	{ "10.0.0.0/24/24", "is not an IPv4 prefix (length must be a decimal number 0..32)" },
	{ "10.0.0.0/+8", "is not an IPv4 prefix (length must be a decimal number 0..32)" },
	{ "10.0.0.0/024", "is not an IPv4 prefix (length \"024\" has a leading zero)" },
	{ "10.0.0.0 /24", "is not an IPv4 prefix (blanks are not allowed)" },
	{ "10.0.0.0/24 ", "is not an IPv4 prefix (leading or trailing blanks)" },
	{ "/24", "is not an IP prefix (expected an IPv4 prefix like 192.168.10.0/24 or an IPv6 "
		 "prefix like 2001:db8::/64)" },
	{ "2001:db8:prod::/64", "is not an IPv6 prefix (hex digits only)" },
	{ "10.0.0.300/24", "is not an IPv4 prefix (octet 300 is above 255)" },
	{ "fe80::%eth0/64", "is not an IPv6 prefix (zone ids like \"%eth0\" are not allowed)" },
};

static void test_prefix_bad(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(prefix_bad); i++) {
		struct ip_prefix p;
		bool hb = true;
		char why[256] = "";
		if (ip_prefix_parse(prefix_bad[i].in, &p, &hb, why, sizeof(why)) == 0)
			fail_msg("\"%s\" parsed", prefix_bad[i].in);
		expect_str(prefix_bad[i].in, why, prefix_bad[i].why);
		assert_false(hb);
	}
}

static const struct {
	const char *prefix;
	const char *addr;
	bool in;
} prefix_contains[] = {
	{ "10.0.0.0/8", "10.255.0.1", true },
	{ "10.0.0.0/8", "10.0.0.0", true },
	{ "10.0.0.0/8", "11.0.0.0", false },
	{ "10.0.0.0/8", "9.255.255.255", false },
	{ "0.0.0.0/0", "1.2.3.4", true },
	{ "0.0.0.0/0", "::1", false },
	{ "::/0", "1.2.3.4", false },
	{ "::/0", ALL_ONES6, true },
	{ "2001:db8::/32", "2001:db8:ffff::1", true },
	{ "2001:db8::/32", "2001:db9::", false },
	{ "10.0.0.1/32", "10.0.0.1", true },
	{ "10.0.0.1/32", "10.0.0.2", false },
};

static void test_prefix_contains(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(prefix_contains); i++) {
		struct ip_prefix p = prefix_of(prefix_contains[i].prefix);
		struct ip_addr a = addr_of(prefix_contains[i].addr);
		if (ip_prefix_contains(&p, &a) != prefix_contains[i].in)
			fail_msg("%s contains %s: want %d", prefix_contains[i].prefix,
				 prefix_contains[i].addr, prefix_contains[i].in);
	}
}

/* --- masking --- */

static const struct {
	const char *in;
	unsigned len;
	const char *out;
} mask_rows[] = {
	{ "10.20.30.40", 24, "10.20.30.0" },
	{ "10.20.30.40", 0, "0.0.0.0" },
	{ "10.20.30.40", 32, "10.20.30.40" },
	{ "10.20.30.40", 33, "10.20.30.40" },
	{ "255.255.255.255", 1, "128.0.0.0" },
	{ "255.255.255.255", 31, "255.255.255.254" },
	{ "2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::" },
	{ "2001:db8:1:2:3:4:5:6", 0, "::" },
	{ "2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6" },
	{ ALL_ONES6, 1, "8000::" },
	{ ALL_ONES6, 127, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe" },
	{ ALL_ONES6, 65, "ffff:ffff:ffff:ffff:8000::" },
};

static void test_mask(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(mask_rows); i++) {
		struct ip_addr a = addr_of(mask_rows[i].in);
		struct ip_addr m = ip_mask(&a, mask_rows[i].len);
		char buf[IP_STR_MAX];
		expect_str(mask_rows[i].in, ip_format(&m, buf), mask_rows[i].out);
	}
}

/* --- add / sub --- */

static const struct {
	const char *in;
	bool sub;
	uint64_t hi, lo;      /* the delta */
	const char *out;      /* NULL: must fail */
} step_rows[] = {
	{ "10.0.0.1", false, 0, 1, "10.0.0.2" },
	{ "10.0.0.255", false, 0, 1, "10.0.1.0" },
	{ "10.0.0.1", false, 0, 0, "10.0.0.1" },
	{ "255.255.255.254", false, 0, 1, "255.255.255.255" },
	{ "255.255.255.255", false, 0, 1, NULL },
	{ "255.255.255.255", false, 0, 0, "255.255.255.255" },
	{ "0.0.0.0", false, 0, 0xffffffff, "255.255.255.255" },
	{ "0.0.0.1", false, 0, 0xffffffff, NULL },
	{ "0.0.0.0", false, 0, 0x100000000, NULL },
	{ "0.0.0.0", false, UINT64_MAX, UINT64_MAX, NULL },
	{ "0.0.0.1", true, 0, 1, "0.0.0.0" },
	{ "0.0.0.0", true, 0, 1, NULL },
	{ "0.0.0.0", true, 0, 0, "0.0.0.0" },
	{ "255.255.255.255", true, 0, 0xffffffff, "0.0.0.0" },
	{ "255.255.255.255", true, 0, 0x100000000, NULL },
	{ "10.0.1.0", true, 0, 1, "10.0.0.255" },
	{ "::1", true, 0, 1, "::" },
	{ "::", true, 0, 1, NULL },
	{ "::", true, UINT64_MAX, UINT64_MAX, NULL },
	{ ALL_ONES6, true, UINT64_MAX, UINT64_MAX, "::" },
	{ "2001:db8::", true, 0, 1, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", false, 0, 1, ALL_ONES6 },
	{ ALL_ONES6, false, 0, 1, NULL },
	{ "::", false, UINT64_MAX, UINT64_MAX, ALL_ONES6 },
	{ "::1", false, UINT64_MAX, UINT64_MAX, NULL },
	{ "::", false, 1, 0, "0:0:0:1::" },
	{ "::ffff:ffff", false, 0, 1, "::1:0:0" },
	{ "2001:db8::ffff:ffff:ffff:ffff", false, 0, 1, "2001:db8:0:1::" },
};

static void test_add_sub(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(step_rows); i++) {
		struct ip_addr a = addr_of(step_rows[i].in);
		struct ip_addr before = a;
		u128 d = u128_of(step_rows[i].hi, step_rows[i].lo);
		int rc = step_rows[i].sub ? ip_sub(&a, d) : ip_add(&a, d);
		char buf[IP_STR_MAX];
		if (!step_rows[i].out) {
			if (rc != -1)
				fail_msg("row %zu (%s): want -1, got %s", i, step_rows[i].in,
					 ip_format(&a, buf));
			assert_true(ip_eq(&a, &before));
			continue;
		}
		if (rc != 0)
			fail_msg("row %zu (%s): failed", i, step_rows[i].in);
		expect_str(step_rows[i].in, ip_format(&a, buf), step_rows[i].out);
		assert_int_equal(a.family, before.family);
	}
}

/* --- ranges --- */

static const struct {
	const char *in;
	const char *first, *last;
	const char *out;
} range_ok[] = {
	{ "10.0.0.0/24", "10.0.0.0", "10.0.0.255", "10.0.0.0/24" },
	{ "10.20.30.40/24", "10.20.30.0", "10.20.30.255", "10.20.30.0/24" },
	{ "10.0.0.1-10.0.0.9", "10.0.0.1", "10.0.0.9", "10.0.0.1-10.0.0.9" },
	{ "10.0.0.1 - 10.0.0.9", "10.0.0.1", "10.0.0.9", "10.0.0.1-10.0.0.9" },
	{ "10.0.0.1\t-  10.0.0.9", "10.0.0.1", "10.0.0.9", "10.0.0.1-10.0.0.9" },
	{ "10.0.0.1 -10.0.0.9", "10.0.0.1", "10.0.0.9", "10.0.0.1-10.0.0.9" },
	{ "10.0.0.0-10.0.0.255", "10.0.0.0", "10.0.0.255", "10.0.0.0/24" },
	{ "10.0.0.5-10.0.0.5", "10.0.0.5", "10.0.0.5", "10.0.0.5/32" },
	{ "10.0.0.4-10.0.0.7", "10.0.0.4", "10.0.0.7", "10.0.0.4/30" },
	{ "10.0.0.4-10.0.0.8", "10.0.0.4", "10.0.0.8", "10.0.0.4-10.0.0.8" },
	{ "0.0.0.0/0", "0.0.0.0", "255.255.255.255", "0.0.0.0/0" },
	{ "0.0.0.0-255.255.255.255", "0.0.0.0", "255.255.255.255", "0.0.0.0/0" },
	{ "2001:db8::1-2001:db8::ff", "2001:db8::1", "2001:db8::ff", "2001:db8::1-2001:db8::ff" },
	{ "2001:DB8::-2001:db8::ffff", "2001:db8::", "2001:db8::ffff", "2001:db8::/112" },
	{ "2001:db8::/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", "2001:db8::/64" },
	{ "::/0", "::", ALL_ONES6, "::/0" },
	{ "::-" ALL_ONES6, "::", ALL_ONES6, "::/0" },
	{ "::ffff:0.0.0.0-::ffff:255.255.255.255", "::ffff:0.0.0.0", "::ffff:255.255.255.255",
	  "::ffff:0.0.0.0/96" },
};

static void test_range_ok(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(range_ok); i++) {
		struct ip_range r = range_of(range_ok[i].in);
		struct ip_addr f = addr_of(range_ok[i].first), l = addr_of(range_ok[i].last);
		assert_true(ip_eq(&r.first, &f));
		assert_true(ip_eq(&r.last, &l));
		char buf[IP_STR_MAX];
		expect_str(range_ok[i].in, ip_range_format(&r, buf), range_ok[i].out);
		struct ip_range again = range_of(buf);
		assert_true(ip_eq(&again.first, &r.first) && ip_eq(&again.last, &r.last));
	}
}

static const struct {
	const char *in;
	const char *why;
} range_bad[] = {
	{ "2001:db8:prod::/64", "is not an IPv6 prefix (hex digits only)" },
	{ "10.0.0.300/24", "is not an IPv4 prefix (octet 300 is above 255)" },
	{ "10.0.0.0/33", "is not an IPv4 prefix (length 33 is above 32)" },
	{ "2001:db8::/129", "is not an IPv6 prefix (length 129 is above 128)" },
	{ "10.0.0.5-10.0.0.1", "is not a valid range (start 10.0.0.5 is after end 10.0.0.1)" },
	{ "2001:db8::ff-2001:DB8::1",
	  "is not a valid range (start 2001:db8::ff is after end 2001:db8::1)" },
	{ "10.0.0.1-2001:db8::1", "is not a valid range (start is IPv4, end is IPv6)" },
	{ "2001:db8::1-10.0.0.1", "is not a valid range (start is IPv6, end is IPv4)" },
	{ "foo", EXPECT_RANGE },
	{ "", EXPECT_RANGE },
	{ "   ", EXPECT_RANGE },
	{ " 10.0.0.0/24", "is not a valid CIDR (leading or trailing blanks)" },
	{ "10.0.0.0/24 ", "is not a valid CIDR (leading or trailing blanks)" },
	{ "10.0.0.0/24\n", "is not a valid CIDR (leading or trailing blanks)" },
	{ " 10.0.0.1-10.0.0.9", "is not a valid range (leading or trailing blanks)" },
	{ "10.0.0.1-10.0.0.9\t", "is not a valid range (leading or trailing blanks)" },
	{ "10.0.0.1", "is not a CIDR or a range (a single address is written 10.0.0.1/32 or "
		      "10.0.0.1-10.0.0.1)" },
	{ "2001:DB8::1", "is not a CIDR or a range (a single address is written 2001:db8::1/128 "
			 "or 2001:db8::1-2001:db8::1)" },
	{ "10.0.0.1-", "is not a valid range (end is missing after \"-\")" },
	{ "-10.0.0.1", "is not a valid range (start is missing before \"-\")" },
	{ "10.0.0.1 - ", "is not a valid range (leading or trailing blanks)" },
	{ "10.0.0.1-10.0.0.2-10.0.0.3", "is not a valid range (more than one \"-\")" },
	{ "10.0.0.x-10.0.0.9",
	  "is not a valid range (start is not an IPv4 address: decimal digits and dots only)" },
	{ "10.0.0.1-10.0.0.256",
	  "is not a valid range (end is not an IPv4 address: octet 256 is above 255)" },
	{ "10.0.0.1-10.0. 0.9",
	  "is not a valid range (end is not an IPv4 address: blanks are not allowed)" },
	{ "10.0.0.0/24-10.0.1.0", "is not a valid range (start is not an IPv4 address: no "
				  "\"/length\" allowed in an address)" },
	{ "2001:db8::1-2001:db8::1::2",
	  "is not a valid range (end is not an IPv6 address: \"::\" may appear only once)" },
	{ "a-b", "is not a valid range (start is not an IP address: expected an IPv4 address "
		 "like 192.168.10.1 or an IPv6 address like 2001:db8::1)" },
};

static void test_range_bad(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(range_bad); i++) {
		struct ip_range r;
		char why[256] = "";
		if (ip_range_parse(range_bad[i].in, &r, why, sizeof(why)) == 0)
			fail_msg("\"%s\" parsed", range_bad[i].in);
		expect_str(range_bad[i].in, why, range_bad[i].why);
	}
}

/* Ranges built from two ends rather than parsed, for ip_range_format. */
static const struct {
	const char *first, *last;
	const char *out;
} range_fmt[] = {
	{ "10.0.0.0", "10.0.0.127", "10.0.0.0/25" },
	{ "10.0.0.1", "10.0.0.128", "10.0.0.1-10.0.0.128" },
	{ "10.0.0.0", "10.0.0.2", "10.0.0.0-10.0.0.2" },
	{ "10.0.0.2", "10.0.0.3", "10.0.0.2/31" },
	{ "10.0.0.1", "10.0.0.2", "10.0.0.1-10.0.0.2" },
	{ "128.0.0.0", "255.255.255.255", "128.0.0.0/1" },
	{ "::", ALL_ONES6, "::/0" },
	{ "::1", ALL_ONES6, "::1-" ALL_ONES6 },
	{ "8000::", ALL_ONES6, "8000::/1" },
};

static void test_range_format(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(range_fmt); i++) {
		struct ip_range r = { addr_of(range_fmt[i].first), addr_of(range_fmt[i].last) };
		char buf[IP_STR_MAX];
		expect_str(range_fmt[i].first, ip_range_format(&r, buf), range_fmt[i].out);
	}
}

/* --- sizes --- */

static const struct {
	const char *range;
	int rc;
	const char *size;    /* decimal */
} size_rows[] = {
	{ "10.0.0.1/32", 0, "1" },
	{ "10.0.0.0/31", 0, "2" },
	{ "10.0.0.0/24", 0, "256" },
	{ "10.0.0.1-10.0.0.9", 0, "9" },
	{ "0.0.0.0/1", 0, "2147483648" },
	{ "0.0.0.0/0", 0, "4294967296" },
	{ "2001:db8::1/128", 0, "1" },
	{ "2001:db8::/64", 0, "18446744073709551616" },
	{ "2001:db8::/63", 0, "36893488147419103232" },
	{ "2001:db8::/65", 0, "9223372036854775808" },
	{ "::/1", 0, "170141183460469231731687303715884105728" },
	{ "8000::/1", 0, "170141183460469231731687303715884105728" },
	{ "::1-" ALL_ONES6, 0, "340282366920938463463374607431768211455" },
	{ "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 0,
	  "340282366920938463463374607431768211455" },
	{ "::/0", -1, NULL },
};

static void test_range_size(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(size_rows); i++) {
		struct ip_range r = range_of(size_rows[i].range);
		u128 n = 12345;
		int rc = ip_range_size(&r, &n);
		if (rc != size_rows[i].rc)
			fail_msg("%s: rc %d, want %d", size_rows[i].range, rc, size_rows[i].rc);
		if (rc < 0) {
			assert_true(n == 12345);
			continue;
		}
		char buf[U128_STR_MAX];
		expect_str(size_rows[i].range, u128_format(n, buf), size_rows[i].size);
	}
	u128 n;
	struct ip_range r = range_of("2001:db8::/64");
	assert_int_equal(ip_range_size(&r, &n), 0);
	assert_true(n == (u128)1 << 64);
	r = range_of("0.0.0.0/0");
	assert_int_equal(ip_range_size(&r, &n), 0);
	assert_true(n == (u128)1 << 32);
}

static const struct {
	uint64_t hi, lo;
	const char *out;
} u128_rows[] = {
	{ 0, 0, "0" },
	{ 0, 1, "1" },
	{ 0, 10, "10" },
	{ 0, UINT64_MAX, "18446744073709551615" },
	{ 1, 0, "18446744073709551616" },
	{ 0x8000000000000000, 0, "170141183460469231731687303715884105728" },
	{ UINT64_MAX, UINT64_MAX, "340282366920938463463374607431768211455" },
};

static void test_u128(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(u128_rows); i++) {
		char buf[U128_STR_MAX];
		u128 v = u128_of(u128_rows[i].hi, u128_rows[i].lo);
		expect_str(u128_rows[i].out, u128_format(v, buf), u128_rows[i].out);
	}
	assert_true(u128_to_double((u128)1 << 64) == 18446744073709551616.0);
	assert_true(u128_to_double(0) == 0.0);
}

/* --- range to prefixes --- */

struct collect {
	char text[16384];          /* up to 254 IPv6 prefixes */
	size_t len;
	unsigned count;
	struct ip_addr next;       /* where the next prefix must start */
	bool done;                 /* a prefix ended at the top of the space */
};

static int collect_cb(const struct ip_prefix *p, void *arg)
{
	struct collect *c = arg;
	char buf[IP_STR_MAX];
	/* Each prefix starts where the previous one ended. */
	assert_false(c->done);
	if (c->count > 0)
		assert_true(ip_eq(&p->addr, &c->next));
	struct ip_range r = ip_prefix_range(p);
	c->next = r.last;
	if (ip_add(&c->next, 1) < 0)
		c->done = true;
	c->len += (size_t)snprintf(c->text + c->len, sizeof(c->text) - c->len, "%s%s",
				   c->count ? " " : "", ip_prefix_format(p, buf));
	assert_true(c->len < sizeof(c->text));
	c->count++;
	return 0;
}

static const struct {
	const char *range;
	const char *prefixes;
} cover_rows[] = {
	{ "192.168.100.100-192.168.100.150",
	  "192.168.100.100/30 192.168.100.104/29 192.168.100.112/28 192.168.100.128/28 "
	  "192.168.100.144/30 192.168.100.148/31 192.168.100.150/32" },
	{ "10.0.0.0/24", "10.0.0.0/24" },
	{ "10.0.0.5-10.0.0.5", "10.0.0.5/32" },
	{ "10.0.0.255-10.0.1.0", "10.0.0.255/32 10.0.1.0/32" },
	{ "3.3.3.2-3.3.3.254", "3.3.3.2/31 3.3.3.4/30 3.3.3.8/29 3.3.3.16/28 3.3.3.32/27 "
			       "3.3.3.64/26 3.3.3.128/26 3.3.3.192/27 3.3.3.224/28 "
			       "3.3.3.240/29 3.3.3.248/30 3.3.3.252/31 3.3.3.254/32" },
	{ "0.0.0.0/0", "0.0.0.0/0" },
	{ "0.0.0.0-127.255.255.255", "0.0.0.0/1" },
	{ "0.0.0.1-255.255.255.255",
	  "0.0.0.1/32 0.0.0.2/31 0.0.0.4/30 0.0.0.8/29 0.0.0.16/28 0.0.0.32/27 0.0.0.64/26 "
	  "0.0.0.128/25 0.0.1.0/24 0.0.2.0/23 0.0.4.0/22 0.0.8.0/21 0.0.16.0/20 0.0.32.0/19 "
	  "0.0.64.0/18 0.0.128.0/17 0.1.0.0/16 0.2.0.0/15 0.4.0.0/14 0.8.0.0/13 0.16.0.0/12 "
	  "0.32.0.0/11 0.64.0.0/10 0.128.0.0/9 1.0.0.0/8 2.0.0.0/7 4.0.0.0/6 8.0.0.0/5 "
	  "16.0.0.0/4 32.0.0.0/3 64.0.0.0/2 128.0.0.0/1" },
	{ "0.0.0.0-255.255.255.254",
	  "0.0.0.0/1 128.0.0.0/2 192.0.0.0/3 224.0.0.0/4 240.0.0.0/5 248.0.0.0/6 252.0.0.0/7 "
	  "254.0.0.0/8 255.0.0.0/9 255.128.0.0/10 255.192.0.0/11 255.224.0.0/12 "
	  "255.240.0.0/13 255.248.0.0/14 255.252.0.0/15 255.254.0.0/16 255.255.0.0/17 "
	  "255.255.128.0/18 255.255.192.0/19 255.255.224.0/20 255.255.240.0/21 "
	  "255.255.248.0/22 255.255.252.0/23 255.255.254.0/24 255.255.255.0/25 "
	  "255.255.255.128/26 255.255.255.192/27 255.255.255.224/28 255.255.255.240/29 "
	  "255.255.255.248/30 255.255.255.252/31 255.255.255.254/32" },
	{ "::/0", "::/0" },
	{ "::-7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/1" },
	{ "8000::-" ALL_ONES6, "8000::/1" },
	{ "2001:db8::1-2001:db8::6", "2001:db8::1/128 2001:db8::2/127 2001:db8::4/127 "
				     "2001:db8::6/128" },
	{ "2001:db8::/64", "2001:db8::/64" },
	{ "2001:db8::ffff:ffff:ffff:ffff-2001:db8:0:1::",
	  "2001:db8::ffff:ffff:ffff:ffff/128 2001:db8:0:1::/128" },
};

static void test_range_prefixes(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(cover_rows); i++) {
		struct ip_range r = range_of(cover_rows[i].range);
		struct collect c = { .len = 0 };
		assert_int_equal(ip_range_prefixes(&r, collect_cb, &c), 0);
		expect_str(cover_rows[i].range, c.text, cover_rows[i].prefixes);
	}
}

/* The worst cases: one prefix per bit on each side. */
static const struct {
	const char *range;
	unsigned count;
} cover_count_rows[] = {
	{ "0.0.0.1-255.255.255.254", 62 },
	{ "::1-" ALL_ONES6, 128 },
	{ "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 128 },
	{ "::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 254 },
	{ "2001:db8::1-2001:db8::ffff:ffff:ffff:fffe", 126 },
};

static void test_range_prefixes_count(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(cover_count_rows); i++) {
		struct ip_range r = range_of(cover_count_rows[i].range);
		struct collect c = { .len = 0 };
		assert_int_equal(ip_range_prefixes(&r, collect_cb, &c), 0);
		if (c.count != cover_count_rows[i].count)
			fail_msg("%s: %u prefixes, want %u", cover_count_rows[i].range, c.count,
				 cover_count_rows[i].count);
		/* The cover ends exactly at the last address. */
		struct ip_addr end = r.last;
		if (ip_add(&end, 1) < 0)
			assert_true(c.done);
		else
			assert_true(ip_eq(&c.next, &end));
	}
}

static int stop_after_two(const struct ip_prefix *p, void *arg)
{
	int *n = arg;
	return ++*n == 2 ? 7 : 0;
}

static void test_range_prefixes_stop(void **state)
{
	struct ip_range r = range_of("192.168.100.100-192.168.100.150");
	int n = 0;
	assert_int_equal(ip_range_prefixes(&r, stop_after_two, &n), 7);
	assert_int_equal(n, 2);

	/* Mixed families and reversed ends are refused, not walked. */
	struct ip_range bad = { addr_of("10.0.0.1"), addr_of("::1") };
	n = 0;
	assert_int_equal(ip_range_prefixes(&bad, stop_after_two, &n), -1);
	bad = (struct ip_range){ addr_of("10.0.0.9"), addr_of("10.0.0.1") };
	assert_int_equal(ip_range_prefixes(&bad, stop_after_two, &n), -1);
	assert_int_equal(n, 0);
}

static const struct {
	const char *range;
	unsigned len;
} min_len_rows[] = {
	{ "3.3.3.2-3.3.3.254", 26 },
	{ "10.0.0.0/24", 24 },
	{ "10.0.0.5-10.0.0.5", 32 },
	{ "192.168.100.100-192.168.100.150", 28 },
	{ "10.0.0.255-10.0.1.0", 32 },
	{ "0.0.0.0/0", 0 },
	{ "0.0.0.1-255.255.255.255", 1 },
	{ "::/0", 0 },
	{ "::1-" ALL_ONES6, 1 },
	{ "2001:db8::/64", 64 },
	{ "2001:db8::1-2001:db8::6", 127 },
};

static void test_min_prefix_len(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(min_len_rows); i++) {
		struct ip_range r = range_of(min_len_rows[i].range);
		unsigned got = ip_range_min_prefix_len(&r);
		if (got != min_len_rows[i].len)
			fail_msg("%s: %u, want %u", min_len_rows[i].range, got, min_len_rows[i].len);
	}
}

/* --- contains / overlaps --- */

static const struct {
	const char *range;
	const char *addr;
	bool in;
} range_contains[] = {
	{ "10.0.0.0/24", "10.0.0.0", true },
	{ "10.0.0.0/24", "10.0.0.255", true },
	{ "10.0.0.0/24", "10.0.1.0", false },
	{ "10.0.0.0/24", "9.255.255.255", false },
	{ "10.0.0.0/24", "::ffff:10.0.0.1", false },
	{ "10.0.0.5-10.0.0.9", "10.0.0.7", true },
	{ "10.0.0.5-10.0.0.9", "10.0.0.4", false },
	{ "::/0", "ffff::", true },
	{ "::/0", "10.0.0.1", false },
	{ "0.0.0.0/0", "::", false },
	{ "2001:db8::1-2001:db8::ff", "2001:db8::100", false },
	{ "2001:db8::1-2001:db8::ff", "2001:db8::ff", true },
};

static void test_range_contains(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(range_contains); i++) {
		struct ip_range r = range_of(range_contains[i].range);
		struct ip_addr a = addr_of(range_contains[i].addr);
		if (ip_range_contains(&r, &a) != range_contains[i].in)
			fail_msg("%s contains %s: want %d", range_contains[i].range,
				 range_contains[i].addr, range_contains[i].in);
	}
}

static const struct {
	const char *a, *b;
	bool overlap;
} overlap_rows[] = {
	{ "10.0.0.0/24", "10.0.0.0/24", true },
	{ "10.0.0.0/24", "10.0.0.128/25", true },
	{ "10.0.0.0/24", "10.0.1.0/24", false },
	{ "10.0.0.0-10.0.0.10", "10.0.0.10-10.0.0.20", true },
	{ "10.0.0.0-10.0.0.10", "10.0.0.11-10.0.0.20", false },
	{ "0.0.0.0/0", "::/0", false },
	{ "::ffff:10.0.0.0/120", "10.0.0.0/24", false },
	{ "::/0", "2001:db8::1-2001:db8::2", true },
	{ "2001:db8::/64", "2001:db8:0:1::/64", false },
	{ "2001:db8::/63", "2001:db8:0:1::/64", true },
};

static void test_range_overlaps(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(overlap_rows); i++) {
		struct ip_range a = range_of(overlap_rows[i].a), b = range_of(overlap_rows[i].b);
		if (ip_range_overlaps(&a, &b) != overlap_rows[i].overlap ||
		    ip_range_overlaps(&b, &a) != overlap_rows[i].overlap)
			fail_msg("%s overlaps %s: want %d", overlap_rows[i].a, overlap_rows[i].b,
				 overlap_rows[i].overlap);
	}
}

/* --- comparison, bytes, families --- */

static const struct {
	const char *a, *b;
	int sign;
} cmp_rows[] = {
	{ "10.0.0.1", "10.0.0.2", -1 },
	{ "10.0.0.2", "10.0.0.1", 1 },
	{ "10.0.0.1", "10.0.0.1", 0 },
	{ "255.255.255.255", "::", -1 },
	{ "::", "0.0.0.0", 1 },
	{ "::ffff:1.2.3.4", "1.2.3.4", 1 },
	{ "::1", "::", 1 },
	{ "2001:db8::1", "2001:DB8:0::1", 0 },
	{ "9.0.0.0", "10.0.0.0", -1 },
};

static void test_cmp(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmp_rows); i++) {
		struct ip_addr a = addr_of(cmp_rows[i].a), b = addr_of(cmp_rows[i].b);
		int c = ip_cmp(&a, &b);
		int sign = (c > 0) - (c < 0);
		if (sign != cmp_rows[i].sign)
			fail_msg("cmp %s %s: %d, want %d", cmp_rows[i].a, cmp_rows[i].b, sign,
				 cmp_rows[i].sign);
		assert_int_equal(ip_eq(&a, &b), cmp_rows[i].sign == 0);
	}
}

static const struct {
	const char *addr;
	enum ip_family family;
	uint8_t bytes[16];
} bytes_rows[] = {
	{ "1.2.3.4", V4, { 1, 2, 3, 4 } },
	{ "255.0.128.1", V4, { 255, 0, 128, 1 } },
	{ "2001:db8::1", V6, { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 } },
	{ "::ffff:192.0.2.1", V6, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 } },
	{ "fe80:1:2:3:4:5:6:7", V6,
	  { 0xfe, 0x80, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7 } },
};

static void test_bytes(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(bytes_rows); i++) {
		struct ip_addr a = addr_of(bytes_rows[i].addr);
		size_t n = bytes_rows[i].family == V4 ? 4 : 16;
		uint8_t out[16];
		memset(out, 0xaa, sizeof(out));
		ip_to_bytes(&a, out);
		assert_memory_equal(out, bytes_rows[i].bytes, n);
		/* IPv4 writes its four bytes only. */
		for (size_t k = n; k < sizeof(out); k++)
			assert_int_equal(out[k], 0xaa);
		struct ip_addr b = ip_from_bytes(bytes_rows[i].family, bytes_rows[i].bytes);
		assert_true(ip_eq(&a, &b));
	}
	struct ip_addr none = ip_from_bytes(IP_FAMILY_NONE, bytes_rows[0].bytes);
	assert_int_equal(none.family, IP_FAMILY_NONE);
	struct ip_addr v = ip_v4(0x0a000001);
	struct ip_addr p = addr_of("10.0.0.1");
	assert_true(ip_eq(&v, &p));
}

static const struct {
	const char *addr;
	bool mapped;
} mapped_rows[] = {
	{ "::ffff:1.2.3.4", true },
	{ "::ffff:0:0", true },
	{ "::ffff:ffff:ffff", true },
	{ "::1.2.3.4", false },
	{ "1.2.3.4", false },
	{ "::fffe:1.2.3.4", false },
	{ "1::ffff:1.2.3.4", false },
	{ "::1:ffff:1.2.3.4", false },
};

static void test_v4_mapped(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(mapped_rows); i++) {
		struct ip_addr a = addr_of(mapped_rows[i].addr);
		if (ip_is_v4_mapped(&a) != mapped_rows[i].mapped)
			fail_msg("%s: want %d", mapped_rows[i].addr, mapped_rows[i].mapped);
	}
}

/* --- addresses that hurt on a LAN --- */

static const struct {
	const char *range;
	const char *count; /* decimal */
	const char *first; /* when count is not 0 */
} lan_rows[] = {
	{"192.168.1.0/24", "2", "192.168.1.0"},
	{"192.168.1.1-192.168.1.254", "0", NULL},
	{"192.168.1.10-192.168.1.255", "1", "192.168.1.255"},
	{"192.168.1.0/25", "1", "192.168.1.0"},
	{"192.168.1.128/25", "1", "192.168.1.255"},
	{"192.168.1.255-192.168.2.0", "2", "192.168.1.255"},
	{"10.0.0.0/22", "8", "10.0.0.0"},
	{"10.0.0.7-10.0.3.7", "6", "10.0.0.255"},
	{"0.0.0.0/0", "33554432", "0.0.0.0"},
	{"255.255.255.255/32", "1", "255.255.255.255"},
	{"2001:db8:1::/64", "1", "2001:db8:1::"},
	{"2001:db8:1::/120", "1", "2001:db8:1::"},
	{"2001:db8:1::1-2001:db8:1::ffff", "0", NULL},
	{"2001:db8:1::/48", "65536", "2001:db8:1::"},
	{"2001:db8:0:0:ffff::-2001:db8:0:2::", "2", "2001:db8:0:1::"},
	{"ffff:ffff:ffff:ffff::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "0", NULL},
	{"ffff:ffff:ffff:fffe::1-ffff:ffff:ffff:ffff::", "1", "ffff:ffff:ffff:ffff::"},
	{"::/0", "18446744073709551616", "::"},
};

static void test_lan_hazards(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(lan_rows); i++) {
		struct ip_range r = range_of(lan_rows[i].range);
		struct ip_addr first;
		char nb[U128_STR_MAX], fb[IP_STR_MAX];
		u128 n = ip_range_lan_hazards(&r, &first);
		if (strcmp(u128_format(n, nb), lan_rows[i].count) != 0)
			fail_msg("%s: %s addresses, want %s", lan_rows[i].range, nb,
				 lan_rows[i].count);
		if (n && strcmp(ip_format(&first, fb), lan_rows[i].first) != 0)
			fail_msg("%s: first %s, want %s", lan_rows[i].range, fb, lan_rows[i].first);
		if (n && !ip_lan_hazard(&first))
			fail_msg("%s: %s is not named by ip_lan_hazard()", lan_rows[i].range, fb);
	}
	struct ip_addr a = addr_of("10.0.0.1");
	assert_null(ip_lan_hazard(&a));
	a = addr_of("10.0.0.0");
	assert_string_equal(ip_lan_hazard(&a), "the network address of its /24");
	a = addr_of("10.0.0.255");
	assert_string_equal(ip_lan_hazard(&a), "the broadcast address of its /24");
	a = addr_of("2001:db8:0:1::");
	assert_true(ip_subnet_router_anycast(&a));
	a = addr_of("2001:db8::1:0:0:0"); /* a non-zero interface identifier */
	assert_false(ip_subnet_router_anycast(&a));
	a = addr_of("2001:db8::1");
	assert_false(ip_subnet_router_anycast(&a));
	assert_null(ip_lan_hazard(&a));
	/* ::ffff:10.0.0.0 is IPv6: only the /64 rule applies */
	a = addr_of("::ffff:10.0.0.0");
	assert_false(ip_v4_buggy(&a));
}

static void test_family(void **state)
{
	assert_int_equal(ip_family_bits(V4), 32);
	assert_int_equal(ip_family_bits(V6), 128);
	assert_int_equal(ip_family_bits(IP_FAMILY_NONE), 0);
	assert_string_equal(ip_family_name(V4), "IPv4");
	assert_string_equal(ip_family_name(V6), "IPv6");
	assert_string_equal(ip_family_name(IP_FAMILY_NONE), "?");
}

/* --- the reason buffer --- */

static void test_why_buffer(void **state)
{
	struct ip_addr a;
	struct ip_range r;
	struct ip_prefix p;
	/* No buffer at all. */
	assert_int_equal(ip_parse("1.2.3", &a, NULL, 0), -1);
	assert_int_equal(ip_prefix_parse("1.2.3.4/40", &p, NULL, NULL, 0), -1);
	assert_int_equal(ip_range_parse("x", &r, NULL, 0), -1);
	/* A short buffer is cut and still terminated. */
	char small[8];
	memset(small, 'x', sizeof(small));
	assert_int_equal(ip_range_parse("10.0.0.9-10.0.0.1", &r, small, sizeof(small)), -1);
	assert_string_equal(small, "is not ");
	/* A zero length leaves the buffer alone. */
	small[0] = 'q';
	assert_int_equal(ip_parse("1.2.3", &a, small, 0), -1);
	assert_int_equal(small[0], 'q');
	/* NULL input is treated as empty. */
	char why[256];
	assert_int_equal(ip_parse(NULL, &a, why, sizeof(why)), -1);
	assert_string_equal(why, EXPECT_ADDR);
	assert_int_equal(ip_range_parse(NULL, &r, why, sizeof(why)), -1);
	assert_string_equal(why, EXPECT_RANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_format_rfc5952),
		cmocka_unit_test(test_prefix_ok),
		cmocka_unit_test(test_prefix_bad),
		cmocka_unit_test(test_prefix_contains),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_add_sub),
		cmocka_unit_test(test_range_ok),
		cmocka_unit_test(test_range_bad),
		cmocka_unit_test(test_range_format),
		cmocka_unit_test(test_range_size),
		cmocka_unit_test(test_u128),
		cmocka_unit_test(test_range_prefixes),
		cmocka_unit_test(test_range_prefixes_count),
		cmocka_unit_test(test_range_prefixes_stop),
		cmocka_unit_test(test_min_prefix_len),
		cmocka_unit_test(test_range_contains),
		cmocka_unit_test(test_range_overlaps),
		cmocka_unit_test(test_cmp),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_v4_mapped),
		cmocka_unit_test(test_family),
		cmocka_unit_test(test_lan_hazards),
		cmocka_unit_test(test_why_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
