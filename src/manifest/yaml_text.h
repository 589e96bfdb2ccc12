/*
 * The values of quoted and block scalars, decoded from their source text
 * (YAML 1.2 §7.3.1, §7.3.2, §8.1).  The reader uses these rather than
 * libfyaml's token text, which in 0.7.12 gets some of these scalars wrong
 * (escapes next to line breaks, more-indented folded lines, a leading tab)
 * and can leak or return uninitialised bytes.  Internal to the manifest
 * module.
 *
 * Each returns a new NUL-terminated string and its length (*out_len; the
 * value may hold NUL from a \0 escape), or NULL when the text is not a valid
 * scalar of that style.
 */
#ifndef IRONLB_MANIFEST_YAML_TEXT_H
#define IRONLB_MANIFEST_YAML_TEXT_H

#include <stdbool.h>
#include <stddef.h>

enum yaml_chomp { YAML_CHOMP_CLIP, YAML_CHOMP_STRIP, YAML_CHOMP_KEEP };

/* s: the text between the quotes. */
char *yaml_single_quoted(const char *s, size_t len, size_t *out_len);
char *yaml_double_quoted(const char *s, size_t len, size_t *out_len);

/* s: from the start of the line after the `|` or `>` header to the end of
 * the scalar (following lines that are less indented end it early).
 * indent: the content's indentation, or 0 to take the first non-empty line's. */
char *yaml_block_scalar(const char *s, size_t len, bool folded, enum yaml_chomp chomp,
			int indent, size_t *out_len);

#endif
