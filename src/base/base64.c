/*
 * base64 decoding (base64.h).
 */
#include "base/base64.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static int b64_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int base64_decode(const char *s, uint8_t **out, size_t *len, char *why, size_t whylen)
{
	size_t n = strlen(s);
	uint8_t *buf = xmalloc(n / 4 * 3 + 3);
	size_t o = 0, q = 0, pad = 0, pos = 0;
	uint32_t acc = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\r' || ch == '\n')
			continue;
		pos++;
		if (ch == '=') {
			pad++;
			acc <<= 6;
			q++;
		} else {
			int v = b64_val(ch);
			if (v < 0 || pad) {
				snprintf(why, whylen, "is not valid base64 (character %zu)", pos);
				free(buf);
				return -1;
			}
			acc = acc << 6 | (uint32_t)v;
			q++;
		}
		if (q == 4) {
			if (pad > 2) {
				snprintf(why, whylen, "is not valid base64 (too much padding)");
				free(buf);
				return -1;
			}
			buf[o++] = (uint8_t)(acc >> 16);
			if (pad < 2)
				buf[o++] = (uint8_t)(acc >> 8);
			if (pad < 1)
				buf[o++] = (uint8_t)acc;
			q = 0;
			acc = 0;
			if (pad)
				pad = 3; /* nothing may follow padding */
		}
	}
	if (q != 0) {
		snprintf(why, whylen,
			 "is not valid base64 (its length is not a multiple of 4; padding with '=' "
			 "is required)");
		free(buf);
		return -1;
	}
	*out = buf;
	*len = o;
	return 0;
}
