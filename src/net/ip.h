/*
 * IPv4 and IPv6 addresses, prefixes and ranges: one type for both families.
 *
 * An address is a family and an unsigned 128-bit value in host order (IPv4
 * uses the low 32 bits), so comparing, stepping and masking are integer
 * operations and both families share every algorithm.  Sizes are 128-bit
 * too: a /64 holds 2^64 addresses, which fits; only the whole IPv6 space
 * (2^128 addresses) does not, and ip_range_size() says so instead of
 * wrapping or saturating.
 *
 * Parsing is strict (no leading zeros in IPv4 octets, no zone ids, no
 * blanks inside an address) and failures come with a reason a person can act
 * on, e.g. "is not an IPv6 prefix (hex digits only)".  Printing follows RFC
 * 5952 for IPv6 (lower case, longest run of two or more zero groups
 * compressed, first such run on a tie) and dotted quad for IPv4.
 */
#ifndef IRONLB_NET_IP_H
#define IRONLB_NET_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 u128;

enum ip_family {
	IP_FAMILY_NONE = 0,
	IP_FAMILY_V4 = 4,
	IP_FAMILY_V6 = 6,
};

struct ip_addr {
	u128 v;                 /* host order; IPv4 in the low 32 bits */
	enum ip_family family;
};

struct ip_prefix {
	struct ip_addr addr;    /* host bits are zero */
	unsigned len;           /* 0..32 or 0..128 */
};

/* Inclusive range, first <= last, both of one family. */
struct ip_range {
	struct ip_addr first;
	struct ip_addr last;
};

/* Large enough for any address, prefix or range text plus the NUL. */
#define IP_STR_MAX 96
/* Large enough for any u128 in decimal plus the NUL. */
#define U128_STR_MAX 40

unsigned ip_family_bits(enum ip_family f);          /* 32, 128, 0 */
const char *ip_family_name(enum ip_family f);       /* "IPv4", "IPv6", "?" */

/* --- addresses --- */
/* Parse an IPv4 or IPv6 address (no prefix, no blanks).  On failure return
 * -1 and, if why is not NULL, write a reason such as "is not an IPv4 address
 * (octet 300 is above 255)" (no leading quote of the input: the caller
 * quotes it). */
int ip_parse(const char *s, struct ip_addr *out, char *why, size_t whylen);
/* RFC 5952 / dotted quad; returns buf. */
char *ip_format(const struct ip_addr *a, char buf[IP_STR_MAX]);
int ip_cmp(const struct ip_addr *a, const struct ip_addr *b); /* family, then value */
bool ip_eq(const struct ip_addr *a, const struct ip_addr *b);
/* a + delta within the family; -1 (a unchanged) on overflow/underflow. */
int ip_add(struct ip_addr *a, u128 delta);
int ip_sub(struct ip_addr *a, u128 delta);
/* Keep the first len bits. */
struct ip_addr ip_mask(const struct ip_addr *a, unsigned len);
/* Network order bytes: 4 for IPv4, 16 for IPv6. */
void ip_to_bytes(const struct ip_addr *a, uint8_t *out); /* 4 or 16 bytes */
struct ip_addr ip_from_bytes(enum ip_family f, const uint8_t *bytes);
/* *ss zeroed and set to a's family, a and port (an IPv6 scope id for a
 * link-local peer); returns its length for bind()/connect()/sendto(). */
struct sockaddr_storage;
size_t ip_to_sockaddr(const struct ip_addr *a, uint16_t port, uint32_t scope,
		      struct sockaddr_storage *ss);
struct ip_addr ip_v4(uint32_t host_order);
bool ip_is_v4_mapped(const struct ip_addr *a);   /* ::ffff:a.b.c.d */

/* --- prefixes --- */
/* Parse "addr/len".  Host bits are masked off (MetalLB does the same) and
 * reported through *had_host_bits when it is not NULL. */
int ip_prefix_parse(const char *s, struct ip_prefix *out, bool *had_host_bits, char *why,
		    size_t whylen);
char *ip_prefix_format(const struct ip_prefix *p, char buf[IP_STR_MAX]);
bool ip_prefix_contains(const struct ip_prefix *p, const struct ip_addr *a);
struct ip_range ip_prefix_range(const struct ip_prefix *p);

/* --- ranges --- */
/* Parse a pool entry: a CIDR ("10.0.0.0/24") or "first-last" (blanks around
 * the dash allowed, both ends of one family, first <= last).  Leading or
 * trailing blanks around the whole entry are refused, as in MetalLB. */
int ip_range_parse(const char *s, struct ip_range *out, char *why, size_t whylen);
/* "a.b.c.d/n" when the range is exactly one prefix, else "first-last". */
char *ip_range_format(const struct ip_range *r, char buf[IP_STR_MAX]);
/* Number of addresses; -1 only for the full IPv6 space (2^128). */
int ip_range_size(const struct ip_range *r, u128 *out);
bool ip_range_contains(const struct ip_range *r, const struct ip_addr *a);
bool ip_range_overlaps(const struct ip_range *a, const struct ip_range *b);
/* Split into the minimal list of CIDR prefixes covering exactly the range,
 * in address order.  Calls fn for each; stops and returns fn's value if it
 * returns non-zero, else 0.  At most 2*bits prefixes. */
int ip_range_prefixes(const struct ip_range *r,
		      int (*fn)(const struct ip_prefix *p, void *arg), void *arg);
/* Shortest prefix length among ip_range_prefixes(r), i.e. the largest CIDR
 * the range contains (for aggregation-length checks: 3.3.3.2-3.3.3.254
 * gives 26, a /24 gives 24). */
unsigned ip_range_min_prefix_len(const struct ip_range *r);

/* --- addresses that hurt on a LAN --- */
/* An IPv4 address ending in .0 or .255: the network or broadcast address
 * of its /24, which some clients and CPE firmware drop (MetalLB's
 * avoidBuggyIPs leaves these out). */
bool ip_v4_buggy(const struct ip_addr *a);
/* An IPv6 address whose 64-bit interface identifier is all zeros: the
 * Subnet-Router anycast address of the /64 holding it (RFC 4291 2.6.1),
 * which every router on that link answers. */
bool ip_subnet_router_anycast(const struct ip_addr *a);
/* Either of the two above: what kind of address it is, for a message, or
 * NULL when it is neither. */
const char *ip_lan_hazard(const struct ip_addr *a);
/* How many addresses of r ip_lan_hazard() names, and the first of them
 * (when the count is not 0). */
u128 ip_range_lan_hazards(const struct ip_range *r, struct ip_addr *first);

/* --- 128-bit integers --- */
char *u128_format(u128 v, char buf[U128_STR_MAX]);
double u128_to_double(u128 v);

#endif
