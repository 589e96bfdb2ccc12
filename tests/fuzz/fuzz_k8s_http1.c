/*
 * libFuzzer harness for the HTTP/1.1 response decoder
 * (src/k8s/k8s_http1.c): the bytes are what an API server (or whatever
 * answers in its place) sends on a connection, which ironlb must survive.
 *
 * The input is decoded twice: whole, and cut into pieces whose sizes come
 * from a generator seeded by the input.  Lines are gathered across pieces
 * and body bytes are passed through, so both runs must see the same
 * events: the same heads (status, Retry-After, Connection: close), the
 * same body bytes, the same end and the same error.  Each call must
 * consume within what it was given, and body bytes must point into it.
 * A broken property aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	uint64_t hash;
	size_t body;
	int end;
	const char *error;
};

/* FNV-1a over bytes: body bytes are hashed without a separator, so that
 * however they were cut, the same bytes give the same hash. */
static void mix_bytes(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		*h ^= s[i];
		*h *= 0x100000001b3ull;
	}
}

static void feed(const uint8_t *data, size_t size, uint64_t seed, struct run *r)
{
	struct k8s_h1 *d = malloc(sizeof(*d));
	k8s_h1_init(d);
	r->hash = 0xcbf29ce484222325ull;
	r->body = 0;
	r->end = K8S_H1_MORE;
	size_t off = 0;
	while (off < size && r->end == K8S_H1_MORE) {
		size_t n = size - off;
		if (seed) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			size_t want = (size_t)(seed >> 33) % 48 + 1;
			if (want < n)
				n = want;
		}
		const char *p = (const char *)data + off;
		off += n;
		while (n) {
			size_t used, len;
			const char *body;
			enum k8s_h1_event ev = k8s_h1_feed(d, p, n, &used, &body, &len);
			if (used > n)
				abort();
			if (ev == K8S_H1_DATA) {
				if (!len || body < p || body + len > p + n)
					abort();
				mix_bytes(&r->hash, body, len);
				r->body += len;
			} else if (ev == K8S_H1_HEAD) {
				char head[96];
				int k = snprintf(head, sizeof(head), "%ld|%s|%d", d->status,
						 d->retry_after, d->close);
				mix_bytes(&r->hash, head, (size_t)k + 1);  /* with its NUL */
			} else if (ev == K8S_H1_MORE) {
				if (used != n)
					abort();
			} else {
				r->end = ev;
				break;
			}
			p += used;
			n -= used;
		}
	}
	if (r->end == K8S_H1_MORE)
		r->end = k8s_h1_eof(d);
	if (r->end == K8S_H1_ERROR && !d->error)
		abort();
	r->error = d->error;
	free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = 1;
	for (size_t i = 0; i < size && i < 16; i++)
		seed = seed * 31 + data[i];
	struct run a, b;
	feed(data, size, 0, &a);
	feed(data, size, seed | 1, &b);
	if (a.end != b.end || a.body != b.body || a.hash != b.hash || a.error != b.error)
		abort();
	return 0;
}
