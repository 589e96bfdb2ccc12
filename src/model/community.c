/*
 * BGP community values as MetalLB writes them: "A:B" (a standard community,
 * RFC 1997, two 16-bit numbers) or "large:A:B:C" (a large community, RFC
 * 8092, three 32-bit numbers), and their resolution through the aliases of
 * Community objects.  A text without ':' is an alias name; MetalLB has no
 * well-known names such as "no-export", so neither does this.
 */
#include <stdio.h>
#include <string.h>

#include "model/internal.h"
#include "model/model.h"

/* A decimal number of at most `max`; digits only (no sign, no blanks), as
 * Go's strconv.ParseUint(s, 10, n) reads them. */
static int parse_part(const char *s, size_t len, uint32_t max, uint32_t *out)
{
	if (len == 0)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return -2;
	}
	*out = (uint32_t)v;
	return 0;
}

int community_parse(const char *s, struct community_value *out, char *why, size_t whylen)
{
	const char *parts[5];
	size_t lens[5];
	size_t n = 0;
	const char *p = s;
	for (;;) {
		const char *colon = strchr(p, ':');
		if (n == 5)
			break;
		parts[n] = p;
		lens[n] = colon ? (size_t)(colon - p) : strlen(p);
		n++;
		if (!colon)
			break;
		p = colon + 1;
	}
	if (n == 5 || (n != 2 && n != 4)) {
		if (why)
			snprintf(why, whylen,
				 "is not a community (accepted: A:B with numbers up to 65535, or "
				 "large:A:B:C with numbers up to 4294967295)");
		return -1;
	}
	struct community_value v = {0};
	size_t first = 0;
	uint32_t max = 65535;
	if (n == 4) {
		if (lens[0] != 5 || strncmp(parts[0], "large", 5) != 0) {
			if (why)
				snprintf(why, whylen,
					 "is not a community (a large community is written "
					 "large:A:B:C)");
			return -1;
		}
		v.kind = COMMUNITY_LARGE;
		first = 1;
		max = UINT32_MAX;
	} else {
		v.kind = COMMUNITY_STANDARD;
	}
	uint32_t *dst[3] = {&v.a, &v.b, &v.c};
	for (size_t i = first; i < n; i++) {
		int r = parse_part(parts[i], lens[i], max, dst[i - first]);
		if (r == 0)
			continue;
		if (why) {
			char part[32];
			size_t l = lens[i] < sizeof(part) - 1 ? lens[i] : sizeof(part) - 1;
			memcpy(part, parts[i], l);
			part[l] = '\0';
			if (r == -2)
				snprintf(why, whylen,
					 "is not a community (%s is above %lu: %s)", part,
					 (unsigned long)max,
					 v.kind == COMMUNITY_LARGE
						 ? "the parts of a large community are 32-bit"
						 : "the parts of a standard community are 16-bit; "
						   "write large:A:B:C for larger numbers");
			else
				snprintf(why, whylen,
					 "is not a community (\"%s\" is not a decimal number)", part);
		}
		return -1;
	}
	*out = v;
	return 0;
}

char *community_format(const struct community_value *c, char *buf, size_t len)
{
	if (c->kind == COMMUNITY_LARGE)
		snprintf(buf, len, "large:%lu:%lu:%lu", (unsigned long)c->a, (unsigned long)c->b,
			 (unsigned long)c->c);
	else
		snprintf(buf, len, "%lu:%lu", (unsigned long)c->a, (unsigned long)c->b);
	return buf;
}

int model_resolve_community(const struct model *m, const char *text,
			    struct community_value *out)
{
	if (strchr(text, ':'))
		return community_parse(text, out, NULL, 0);
	for (size_t i = 0; i < m->ncommunities; i++) {
		const struct community *c = &m->communities[i];
		for (size_t k = 0; k < c->naliases; k++) {
			const struct community_alias *a = &c->aliases[k];
			if (a->valid && a->name && strcmp(a->name, text) == 0) {
				*out = a->value;
				return 0;
			}
		}
	}
	return -1;
}
