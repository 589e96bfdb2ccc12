/*
 * UTF-8 validation shared by the YAML reader (input must be UTF-8) and the
 * jansson conversion (jansson refuses strings that are not).  Internal to
 * the manifest module.
 */
#ifndef IRONLB_MANIFEST_UTF8_H
#define IRONLB_MANIFEST_UTF8_H

#include <stddef.h>

/* Offset of the first byte of s[0..len) that does not start a valid UTF-8
 * sequence (overlong forms, surrogates and code points above U+10FFFF are
 * invalid); len when all of it is valid.  NUL bytes count as valid. */
size_t utf8_check(const char *s, size_t len);

#endif
