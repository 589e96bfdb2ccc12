/*
 * IPv4 and IPv6 addresses, prefixes and ranges (see ip.h).
 *
 * Text comes in through three parsers layered on one another:
 * ip_range_parse() splits a pool entry into a CIDR or two range ends,
 * ip_prefix_parse() splits "addr/len", and parse_addr() picks the family
 * and hands the address text to parse_v4() or parse_v6().  The inner
 * parsers work on [s, end) so that nothing is copied or allocated, and they
 * describe a failure only by its detail ("octet 300 is above 255"); the
 * outer layer, which knows whether it was reading an address, a prefix or a
 * range end, wraps it into the sentence the caller prints after the quoted
 * input.
 *
 * Every value is an unsigned 128-bit integer, so the arithmetic below
 * (masking, stepping, splitting a range into prefixes) is written once for
 * both families, bounded by the family's largest value.
 */
#include "net/ip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/util.h"

/* Room for the parenthesised detail of a reason before it is wrapped. */
#define DETAIL_MAX 192
/* Longest run of digits from the input that a reason repeats. */
#define ECHO_MAX 20

#define U128_ALL (~(u128)0)

unsigned ip_family_bits(enum ip_family f)
{
	switch (f) {
	case IP_FAMILY_V4:
		return 32;
	case IP_FAMILY_V6:
		return 128;
	default:
		return 0;
	}
}

const char *ip_family_name(enum ip_family f)
{
	switch (f) {
	case IP_FAMILY_V4:
		return "IPv4";
	case IP_FAMILY_V6:
		return "IPv6";
	default:
		return "?";
	}
}

/* --- bit helpers --- */

static u128 family_max(enum ip_family f)
{
	switch (f) {
	case IP_FAMILY_V4:
		return 0xffffffffu;
	case IP_FAMILY_V6:
		return U128_ALL;
	default:
		return 0;
	}
}

/* The low (bits - len) bits set; shifting a u128 by 128 is undefined, so
 * the whole space is spelt out. */
static u128 host_mask(unsigned bits, unsigned len)
{
	if (len >= bits)
		return 0;
	unsigned n = bits - len;
	if (n >= 128)
		return U128_ALL;
	return ((u128)1 << n) - 1;
}

/* Both require x != 0. */
static unsigned clz128(u128 x)
{
	uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
	return hi ? (unsigned)__builtin_clzll(hi) : 64 + (unsigned)__builtin_clzll(lo);
}

static unsigned ctz128(u128 x)
{
	uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
	return lo ? (unsigned)__builtin_ctzll(lo) : 64 + (unsigned)__builtin_ctzll(hi);
}

static unsigned popcount128(u128 x)
{
	return (unsigned)(__builtin_popcountll((uint64_t)(x >> 64)) +
			  __builtin_popcountll((uint64_t)x));
}

/* --- reasons --- */

__attribute__((format(printf, 3, 4)))
static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || whylen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* Digits from the input are repeated in a reason, cut to ECHO_MAX. */
static int echo_len(size_t len)
{
	return len > ECHO_MAX ? ECHO_MAX : (int)len;
}

static const char *echo_more(size_t len)
{
	return len > ECHO_MAX ? "..." : "";
}

/* "an IPv4", "an IPv6" or, when the text gave no clue, "an IP". */
static const char *an_family(enum ip_family f)
{
	switch (f) {
	case IP_FAMILY_V4:
		return "an IPv4";
	case IP_FAMILY_V6:
		return "an IPv6";
	default:
		return "an IP";
	}
}

static const char *prefix_example(enum ip_family f)
{
	return f == IP_FAMILY_V6 ? "2001:db8::/64" : "192.168.10.0/24";
}

static const char EXPECT_ADDR[] =
	"expected an IPv4 address like 192.168.10.1 or an IPv6 address like 2001:db8::1";
static const char EXPECT_PREFIX[] =
	"expected an IPv4 prefix like 192.168.10.0/24 or an IPv6 prefix like 2001:db8::/64";

/* --- character classes --- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static const char *find_char(const char *s, const char *end, char c)
{
	return memchr(s, c, (size_t)(end - s));
}

/*
 * The family a piece of text was meant to be, for naming it in a reason:
 * any ':' means IPv6, a '.' or a leading digit IPv4, anything else is not
 * recognisably either.
 */
static enum ip_family guess_family(const char *s, const char *end)
{
	if (find_char(s, end, ':'))
		return IP_FAMILY_V6;
	if (find_char(s, end, '.') || (s < end && is_digit(*s)))
		return IP_FAMILY_V4;
	return IP_FAMILY_NONE;
}

/* --- address parsers: [s, end), detail only --- */

static int parse_v4(const char *s, const char *end, uint32_t *out, char *det, size_t detlen)
{
	size_t dots = 0;
	for (const char *p = s; p < end; p++) {
		if (*p == '.') {
			dots++;
		} else if (!is_digit(*p)) {
			why_set(det, detlen, "decimal digits and dots only");
			return -1;
		}
	}
	if (dots != 3) {
		why_set(det, detlen, "4 octets needed, found %zu", dots + 1);
		return -1;
	}

	uint32_t v = 0;
	const char *p = s;
	for (int i = 0; i < 4; i++) {
		const char *q = p;
		while (q < end && *q != '.')
			q++;
		size_t len = (size_t)(q - p);
		if (len == 0) {
			why_set(det, detlen, "octet %d is empty", i + 1);
			return -1;
		}
		/* Leading zeros mean octal to inet_aton(); refuse rather than guess. */
		if (len > 1 && *p == '0') {
			why_set(det, detlen, "octet \"%.*s%s\" has a leading zero",
				echo_len(len), p, echo_more(len));
			return -1;
		}
		unsigned o = 0;
		for (size_t k = 0; k < len && k < 4; k++)
			o = o * 10 + (unsigned)(p[k] - '0');
		if (len > 3 || o > 255) {
			why_set(det, detlen, "octet %.*s%s is above 255", echo_len(len), p,
				echo_more(len));
			return -1;
		}
		v = v << 8 | o;
		p = q + 1;
	}
	*out = v;
	return 0;
}

/*
 * RFC 4291 §2.2: eight groups of 1..4 hex digits, one "::" standing for
 * one or more zero groups, and optionally a dotted quad as the last 32 bits.
 */
static int parse_v6(const char *s, const char *end, u128 *out, char *det, size_t detlen)
{
	size_t dcolons = 0;
	for (const char *p = s; p < end; p++) {
		if (*p == '%') {
			why_set(det, detlen, "zone ids like \"%%eth0\" are not allowed");
			return -1;
		}
		if (*p == '[' || *p == ']') {
			why_set(det, detlen, "brackets are not allowed");
			return -1;
		}
		if (*p == ':' && p + 1 < end && p[1] == ':') {
			if (p + 2 < end && p[2] == ':') {
				why_set(det, detlen, "\":::\" is not allowed; \"::\" stands for zero groups");
				return -1;
			}
			dcolons++;
			p++;
		}
	}
	if (dcolons > 1) {
		why_set(det, detlen, "\"::\" may appear only once");
		return -1;
	}

	uint16_t g[8] = { 0 };
	size_t n = 0;        /* groups seen, an embedded IPv4 counting two */
	size_t dbl = SIZE_MAX;   /* groups before the "::" */
	const char *p = s;

	if (p < end && *p == ':') {
		if (p + 1 >= end || p[1] != ':') {
			why_set(det, detlen, "starts with a single \":\"; use \"::\" for leading zeros");
			return -1;
		}
		dbl = 0;
		p += 2;
	}
	while (p < end) {
		const char *q = p;
		while (q < end && *q != ':')
			q++;
		if (q == p) {
			/* Unreachable after the scan above; kept as a guard. */
			why_set(det, detlen, "empty group");
			return -1;
		}
		if (find_char(p, q, '.')) {
			if (q != end) {
				why_set(det, detlen,
					"an embedded IPv4 address may only be the last 32 bits");
				return -1;
			}
			uint32_t v4;
			char sub[DETAIL_MAX];
			if (parse_v4(p, q, &v4, sub, sizeof(sub)) < 0) {
				why_set(det, detlen, "embedded IPv4: %s", sub);
				return -1;
			}
			if (n + 2 <= 8) {
				g[n] = (uint16_t)(v4 >> 16);
				g[n + 1] = (uint16_t)v4;
			}
			n += 2;
			p = q;
			break;
		}
		unsigned v = 0;
		for (const char *c = p; c < q; c++) {
			int h = hex_digit_value(*c);
			if (h < 0) {
				why_set(det, detlen, "hex digits only");
				return -1;
			}
			v = (v << 4 | (unsigned)h) & 0xffffu;
		}
		if (q - p > 4) {
			why_set(det, detlen, "at most 4 hex digits per group");
			return -1;
		}
		if (n < 8)
			g[n] = (uint16_t)v;
		n++;
		if (q == end)
			break;
		if (q + 1 < end && q[1] == ':') {
			if (dbl != SIZE_MAX) {
				why_set(det, detlen, "\"::\" may appear only once");
				return -1;
			}
			dbl = n;
			p = q + 2;
			continue;
		}
		p = q + 1;
		if (p == end) {
			why_set(det, detlen, "ends with a single \":\"; use \"::\" for trailing zeros");
			return -1;
		}
	}

	if (dbl == SIZE_MAX && n != 8) {
		why_set(det, detlen, "8 groups needed, found %zu", n);
		return -1;
	}
	if (dbl != SIZE_MAX && n > 7) {
		why_set(det, detlen,
			"%zu groups and \"::\" are too many; \"::\" stands for at least one zero group",
			n);
		return -1;
	}

	uint16_t h[8] = { 0 };
	if (dbl == SIZE_MAX) {
		memcpy(h, g, sizeof(h));
	} else {
		size_t after = n - dbl;
		memcpy(h, g, dbl * sizeof(h[0]));
		memcpy(h + 8 - after, g + dbl, after * sizeof(h[0]));
	}
	u128 v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 16 | h[i];
	*out = v;
	return 0;
}

/* An address alone: no blanks, no "/length".  *fam is the family the text
 * looked like, set on failure too so that the caller can name it. */
static int parse_addr(const char *s, const char *end, struct ip_addr *out, enum ip_family *fam,
		      char *det, size_t detlen)
{
	*fam = guess_family(s, end);
	if (*fam == IP_FAMILY_NONE) {
		why_set(det, detlen, "%s", EXPECT_ADDR);
		return -1;
	}
	for (const char *p = s; p < end; p++) {
		if (is_blank(*p)) {
			why_set(det, detlen, "%s", (p == s || p + 1 == end) ?
				"leading or trailing blanks" : "blanks are not allowed");
			return -1;
		}
	}
	if (find_char(s, end, '/')) {
		why_set(det, detlen, "no \"/length\" allowed in an address");
		return -1;
	}
	if (*fam == IP_FAMILY_V4) {
		uint32_t v;
		if (parse_v4(s, end, &v, det, detlen) < 0)
			return -1;
		*out = ip_v4(v);
		return 0;
	}
	u128 v;
	if (parse_v6(s, end, &v, det, detlen) < 0)
		return -1;
	out->v = v;
	out->family = IP_FAMILY_V6;
	return 0;
}

/* --- addresses --- */

int ip_parse(const char *s, struct ip_addr *out, char *why, size_t whylen)
{
	if (!s)
		s = "";
	char det[DETAIL_MAX];
	enum ip_family fam;
	struct ip_addr a;
	if (parse_addr(s, s + strlen(s), &a, &fam, det, sizeof(det)) < 0) {
		why_set(why, whylen, "is not %s address (%s)", an_family(fam), det);
		return -1;
	}
	*out = a;
	return 0;
}

static char *put_dec(char *p, unsigned v)
{
	char tmp[10];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_v4(char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		p = put_dec(p, (v >> (8 * i)) & 0xff);
		if (i)
			*p++ = '.';
	}
	return p;
}

static char *put_hex16(char *p, unsigned g)
{
	static const char digits[] = "0123456789abcdef";
	bool started = false;
	for (int shift = 12; shift >= 0; shift -= 4) {
		unsigned d = (g >> shift) & 0xf;
		if (d || started || shift == 0) {
			*p++ = digits[d];
			started = true;
		}
	}
	return p;
}

/* RFC 5952 §4: lower case, no leading zeros, the longest run of two or more
 * zero groups as "::" (the first on a tie); §5: IPv4-mapped addresses end
 * in a dotted quad. */
static char *put_v6(char *p, u128 v)
{
	unsigned g[8];
	for (int i = 0; i < 8; i++)
		g[i] = (unsigned)(v >> (16 * (7 - i))) & 0xffff;

	bool mapped = (v >> 32) == 0xffff;
	int ngroups = mapped ? 6 : 8;

	int best = -1, best_len = 1;
	for (int i = 0; i < ngroups;) {
		if (g[i]) {
			i++;
			continue;
		}
		int j = i;
		while (j < ngroups && g[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j;
	}

	for (int i = 0; i < ngroups; i++) {
		if (i == best) {
			*p++ = ':';
			*p++ = ':';
			i += best_len - 1;
			continue;
		}
		if (i > 0 && i != best + best_len)
			*p++ = ':';
		p = put_hex16(p, g[i]);
	}
	if (mapped) {
		/* "::" already ends in a colon. */
		if (best + best_len != ngroups)
			*p++ = ':';
		p = put_v4(p, (uint32_t)v);
	}
	return p;
}

static char *put_addr(char *p, const struct ip_addr *a)
{
	switch (a->family) {
	case IP_FAMILY_V4:
		return put_v4(p, (uint32_t)a->v);
	case IP_FAMILY_V6:
		return put_v6(p, a->v);
	default:
		*p++ = '?';
		return p;
	}
}

char *ip_format(const struct ip_addr *a, char buf[IP_STR_MAX])
{
	*put_addr(buf, a) = '\0';
	return buf;
}

int ip_cmp(const struct ip_addr *a, const struct ip_addr *b)
{
	/* The enum values order NONE < IPv4 < IPv6. */
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->v != b->v)
		return a->v < b->v ? -1 : 1;
	return 0;
}

bool ip_eq(const struct ip_addr *a, const struct ip_addr *b)
{
	return a->family == b->family && a->v == b->v;
}

int ip_add(struct ip_addr *a, u128 delta)
{
	u128 max = family_max(a->family);
	if (a->family == IP_FAMILY_NONE || a->v > max || delta > max - a->v)
		return -1;
	a->v += delta;
	return 0;
}

int ip_sub(struct ip_addr *a, u128 delta)
{
	if (a->family == IP_FAMILY_NONE || delta > a->v)
		return -1;
	a->v -= delta;
	return 0;
}

struct ip_addr ip_mask(const struct ip_addr *a, unsigned len)
{
	struct ip_addr r = *a;
	r.v &= family_max(a->family) & ~host_mask(ip_family_bits(a->family), len);
	return r;
}

void ip_to_bytes(const struct ip_addr *a, uint8_t *out)
{
	/* Only the family's bytes: callers may pass a 4-byte buffer for IPv4. */
	int n = a->family == IP_FAMILY_V4 ? 4 : a->family == IP_FAMILY_V6 ? 16 : 0;
	for (int i = 0; i < n; i++)
		out[i] = (uint8_t)(a->v >> (8 * (n - 1 - i)));
}

struct ip_addr ip_from_bytes(enum ip_family f, const uint8_t *bytes)
{
	struct ip_addr a = { .v = 0, .family = IP_FAMILY_NONE };
	int n = f == IP_FAMILY_V4 ? 4 : f == IP_FAMILY_V6 ? 16 : 0;
	if (n == 0)
		return a;
	for (int i = 0; i < n; i++)
		a.v = a.v << 8 | bytes[i];
	a.family = f;
	return a;
}

size_t ip_to_sockaddr(const struct ip_addr *a, uint16_t port, uint32_t scope,
		      struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == IP_FAMILY_V4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		ip_to_bytes(a, (uint8_t *)&sin->sin_addr);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_scope_id = scope;
	ip_to_bytes(a, sin6->sin6_addr.s6_addr);
	return sizeof(*sin6);
}

struct ip_addr ip_v4(uint32_t host_order)
{
	struct ip_addr a = { .v = host_order, .family = IP_FAMILY_V4 };
	return a;
}

bool ip_is_v4_mapped(const struct ip_addr *a)
{
	return a->family == IP_FAMILY_V6 && (a->v >> 32) == 0xffff;
}

/* --- prefixes --- */

int ip_prefix_parse(const char *s, struct ip_prefix *out, bool *had_host_bits, char *why,
		    size_t whylen)
{
	if (had_host_bits)
		*had_host_bits = false;
	if (!s)
		s = "";
	const char *end = s + strlen(s);
	const char *slash = find_char(s, end, '/');
	const char *aend = slash ? slash : end;
	enum ip_family fam = guess_family(s, aend);
	char det[DETAIL_MAX];

	if (fam == IP_FAMILY_NONE) {
		why_set(why, whylen, "is not an IP prefix (%s)", EXPECT_PREFIX);
		return -1;
	}
	for (const char *p = s; p < end; p++) {
		if (is_blank(*p)) {
			why_set(why, whylen, "is not %s prefix (%s)", an_family(fam),
				(p == s || p + 1 == end) ? "leading or trailing blanks"
							 : "blanks are not allowed");
			return -1;
		}
	}
	if (!slash) {
		why_set(why, whylen, "is not %s prefix (missing \"/length\", as in %s)",
			an_family(fam), prefix_example(fam));
		return -1;
	}

	struct ip_addr a;
	if (parse_addr(s, slash, &a, &fam, det, sizeof(det)) < 0) {
		why_set(why, whylen, "is not %s prefix (%s)", an_family(fam), det);
		return -1;
	}

	unsigned bits = ip_family_bits(a.family);
	const char *l = slash + 1;
	size_t llen = (size_t)(end - l);
	if (llen == 0) {
		why_set(why, whylen, "is not %s prefix (missing length after \"/\"; 0..%u)",
			an_family(fam), bits);
		return -1;
	}
	for (const char *p = l; p < end; p++) {
		if (!is_digit(*p)) {
			why_set(why, whylen, "is not %s prefix (length must be a decimal number 0..%u)",
				an_family(fam), bits);
			return -1;
		}
	}
	if (llen > 1 && *l == '0') {
		why_set(why, whylen, "is not %s prefix (length \"%.*s%s\" has a leading zero)",
			an_family(fam), echo_len(llen), l, echo_more(llen));
		return -1;
	}
	unsigned len = 0;
	for (size_t k = 0; k < llen && k < 4; k++)
		len = len * 10 + (unsigned)(l[k] - '0');
	if (llen > 3 || len > bits) {
		why_set(why, whylen, "is not %s prefix (length %.*s%s is above %u)", an_family(fam),
			echo_len(llen), l, echo_more(llen), bits);
		return -1;
	}

	struct ip_addr m = ip_mask(&a, len);
	if (had_host_bits)
		*had_host_bits = m.v != a.v;
	out->addr = m;
	out->len = len;
	return 0;
}

char *ip_prefix_format(const struct ip_prefix *p, char buf[IP_STR_MAX])
{
	char *e = put_addr(buf, &p->addr);
	*e++ = '/';
	e = put_dec(e, p->len);
	*e = '\0';
	return buf;
}

bool ip_prefix_contains(const struct ip_prefix *p, const struct ip_addr *a)
{
	if (p->addr.family != a->family)
		return false;
	return ip_mask(a, p->len).v == ip_mask(&p->addr, p->len).v;
}

struct ip_range ip_prefix_range(const struct ip_prefix *p)
{
	struct ip_range r;
	r.first = ip_mask(&p->addr, p->len);
	r.last = r.first;
	r.last.v |= host_mask(ip_family_bits(p->addr.family), p->len);
	return r;
}

/* --- ranges --- */

static bool range_valid(const struct ip_range *r)
{
	return r->first.family != IP_FAMILY_NONE && r->first.family == r->last.family &&
	       r->first.v <= r->last.v && r->last.v <= family_max(r->last.family);
}

static const char EXPECT_RANGE[] =
	"is not a CIDR (\"192.168.10.0/24\") or a range (\"192.168.10.1-192.168.10.99\")";

static int range_parse_ends(const char *s, const char *end, const char *dash,
			    struct ip_range *out, char *why, size_t whylen)
{
	char det[DETAIL_MAX];
	enum ip_family fam;

	if (find_char(dash + 1, end, '-')) {
		why_set(why, whylen, "is not a valid range (more than one \"-\")");
		return -1;
	}
	const char *a_end = dash;
	while (a_end > s && is_blank(a_end[-1]))
		a_end--;
	const char *b = dash + 1;
	while (b < end && is_blank(*b))
		b++;
	if (a_end == s) {
		why_set(why, whylen, "is not a valid range (start is missing before \"-\")");
		return -1;
	}
	if (b == end) {
		why_set(why, whylen, "is not a valid range (end is missing after \"-\")");
		return -1;
	}

	struct ip_range r;
	if (parse_addr(s, a_end, &r.first, &fam, det, sizeof(det)) < 0) {
		why_set(why, whylen, "is not a valid range (start is not %s address: %s)",
			an_family(fam), det);
		return -1;
	}
	if (parse_addr(b, end, &r.last, &fam, det, sizeof(det)) < 0) {
		why_set(why, whylen, "is not a valid range (end is not %s address: %s)",
			an_family(fam), det);
		return -1;
	}
	if (r.first.family != r.last.family) {
		why_set(why, whylen, "is not a valid range (start is %s, end is %s)",
			ip_family_name(r.first.family), ip_family_name(r.last.family));
		return -1;
	}
	if (r.first.v > r.last.v) {
		char fb[IP_STR_MAX], lb[IP_STR_MAX];
		why_set(why, whylen, "is not a valid range (start %s is after end %s)",
			ip_format(&r.first, fb), ip_format(&r.last, lb));
		return -1;
	}
	*out = r;
	return 0;
}

int ip_range_parse(const char *s, struct ip_range *out, char *why, size_t whylen)
{
	if (!s)
		s = "";
	const char *end = s + strlen(s);
	const char *dash = find_char(s, end, '-');

	const char *p = s;
	while (p < end && is_blank(*p))
		p++;
	if (p == end) {
		why_set(why, whylen, "%s", EXPECT_RANGE);
		return -1;
	}
	/* MetalLB refuses these too, and a blank is easy to miss in YAML. */
	if (is_blank(s[0]) || is_blank(end[-1])) {
		why_set(why, whylen, "is not a valid %s (leading or trailing blanks)",
			dash ? "range" : "CIDR");
		return -1;
	}

	if (dash)
		return range_parse_ends(s, end, dash, out, why, whylen);

	if (find_char(s, end, '/')) {
		struct ip_prefix pfx;
		if (ip_prefix_parse(s, &pfx, NULL, why, whylen) < 0)
			return -1;
		*out = ip_prefix_range(&pfx);
		return 0;
	}

	/* A lone address is a common slip; show both ways to write it. */
	struct ip_addr a;
	enum ip_family fam;
	char det[DETAIL_MAX];
	if (parse_addr(s, end, &a, &fam, det, sizeof(det)) == 0) {
		char ab[IP_STR_MAX];
		ip_format(&a, ab);
		why_set(why, whylen,
			"is not a CIDR or a range (a single address is written %s/%u or %s-%s)", ab,
			ip_family_bits(a.family), ab, ab);
		return -1;
	}
	why_set(why, whylen, "%s", EXPECT_RANGE);
	return -1;
}

/* The prefix length when r is exactly one CIDR, else -1. */
static int range_as_prefix(const struct ip_range *r)
{
	u128 d = r->last.v - r->first.v;
	/* d + 1 a power of two (wrapping to 0 for the whole IPv6 space) and
	 * first aligned to it. */
	if ((d & (d + 1)) != 0 || (r->first.v & d) != 0)
		return -1;
	return (int)(ip_family_bits(r->first.family) - popcount128(d));
}

char *ip_range_format(const struct ip_range *r, char buf[IP_STR_MAX])
{
	if (range_valid(r)) {
		int len = range_as_prefix(r);
		if (len >= 0) {
			struct ip_prefix p = { .addr = r->first, .len = (unsigned)len };
			return ip_prefix_format(&p, buf);
		}
	}
	char *e = put_addr(buf, &r->first);
	*e++ = '-';
	e = put_addr(e, &r->last);
	*e = '\0';
	return buf;
}

int ip_range_size(const struct ip_range *r, u128 *out)
{
	if (!range_valid(r))
		return -1;
	u128 d = r->last.v - r->first.v;
	if (d == U128_ALL)
		return -1;
	*out = d + 1;
	return 0;
}

bool ip_range_contains(const struct ip_range *r, const struct ip_addr *a)
{
	return a->family == r->first.family && a->family == r->last.family &&
	       r->first.v <= a->v && a->v <= r->last.v;
}

bool ip_v4_buggy(const struct ip_addr *a)
{
	unsigned o = (unsigned)(a->v & 0xff);
	return a->family == IP_FAMILY_V4 && (o == 0 || o == 255);
}

#define LOW64 ((((u128)1) << 64) - 1)

bool ip_subnet_router_anycast(const struct ip_addr *a)
{
	return a->family == IP_FAMILY_V6 && (a->v & LOW64) == 0;
}

const char *ip_lan_hazard(const struct ip_addr *a)
{
	if (a->family == IP_FAMILY_V4 && (a->v & 0xff) == 0)
		return "the network address of its /24";
	if (a->family == IP_FAMILY_V4 && (a->v & 0xff) == 255)
		return "the broadcast address of its /24";
	if (ip_subnet_router_anycast(a))
		return "the Subnet-Router anycast address of its /64 (RFC 4291 2.6.1)";
	return NULL;
}

u128 ip_range_lan_hazards(const struct ip_range *r, struct ip_addr *first)
{
	if (r->first.family != r->last.family || r->first.v > r->last.v)
		return 0;
	u128 lo = r->first.v, hi = r->last.v;
	*first = r->first;
	if (r->first.family == IP_FAMILY_V4) {
		/* Per /24 block: .0 and .255; the first and last blocks may be
		 * cut by the range. */
		u128 blo = lo >> 8, bhi = hi >> 8, n;
		if (blo == bhi) {
			n = ((lo & 0xff) == 0) + ((hi & 0xff) == 255);
		} else {
			n = (bhi - blo - 1) * 2 + ((lo & 0xff) == 0) + 1 + 1 +
			    ((hi & 0xff) == 255);
		}
		if ((lo & 0xff) == 0)
			first->v = lo;
		else
			first->v = (blo << 8) | 255;
		if (first->v > hi)
			n = 0;
		return n;
	}
	if (r->first.family != IP_FAMILY_V6)
		return 0;
	/* The multiples of 2^64 in [lo, hi]. */
	u128 f = (lo & LOW64) == 0 ? lo : ((lo >> 64) + 1) << 64;
	if ((lo >> 64) == (LOW64) && (lo & LOW64) != 0)
		return 0; /* the last /64: no further multiple */
	if (f > hi)
		return 0;
	first->v = f;
	return (hi >> 64) - (f >> 64) + 1;
}

bool ip_range_overlaps(const struct ip_range *a, const struct ip_range *b)
{
	return a->first.family == b->first.family && a->last.family == b->last.family &&
	       a->first.family == a->last.family && a->first.v <= b->last.v &&
	       b->first.v <= a->last.v;
}

/*
 * Greedy split: from the current address take the largest block that is
 * aligned there and does not pass the end.  Block sizes are handled as
 * host masks (size - 1) so that the 2^128 block of ::/0 never has to be
 * represented.  Returns -1 for an invalid range (mixed families, first
 * after last).
 */
int ip_range_prefixes(const struct ip_range *r,
		      int (*fn)(const struct ip_prefix *p, void *arg), void *arg)
{
	if (!range_valid(r))
		return -1;
	unsigned bits = ip_family_bits(r->first.family);
	u128 cur = r->first.v, last = r->last.v;
	for (;;) {
		u128 rem = last - cur;
		/* Largest k with 2^k - 1 <= rem. */
		unsigned k = rem == U128_ALL ? 128 : 127 - clz128(rem + 1);
		unsigned align = cur ? ctz128(cur) : bits;
		if (align < k)
			k = align;
		struct ip_prefix p = {
			.addr = { .v = cur, .family = r->first.family },
			.len = bits - k,
		};
		int rc = fn(&p, arg);
		if (rc)
			return rc;
		u128 block_last = cur + host_mask(bits, bits - k);
		if (block_last == last)
			return 0;
		cur = block_last + 1;
	}
}

static int min_len_cb(const struct ip_prefix *p, void *arg)
{
	unsigned *min = arg;
	if (p->len < *min)
		*min = p->len;
	return 0;
}

/* 0 for an invalid range: no caller should get here with one, and the
 * answer must not look like a real host route. */
unsigned ip_range_min_prefix_len(const struct ip_range *r)
{
	if (!range_valid(r))
		return 0;
	unsigned min = ip_family_bits(r->first.family);
	ip_range_prefixes(r, min_len_cb, &min);
	return min;
}

/* --- 128-bit integers --- */

char *u128_format(u128 v, char buf[U128_STR_MAX])
{
	char tmp[U128_STR_MAX];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + (unsigned)(v % 10));
		v /= 10;
	} while (v);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return buf;
}

double u128_to_double(u128 v)
{
	return (double)v;
}
