/*
 * base64: the standard alphabet with padding (RFC 4648 section 4), as
 * Kubernetes encodes a Secret's data.  Decoding only: Secret values (BGP
 * passwords, the member key) arrive this way.
 */
#ifndef IRONLB_BASE_BASE64_H
#define IRONLB_BASE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Decode s (line breaks skipped).  0 with *out (malloc'd, the caller frees
 * it) and *len, or -1 with a reason in why that does not show the value. */
int base64_decode(const char *s, uint8_t **out, size_t *len, char *why, size_t whylen);

#endif
