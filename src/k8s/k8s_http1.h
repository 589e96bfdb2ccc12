/*
 * The HTTP/1.1 response decoder of the API client (RFC 9112): the pure
 * half of k8s_http.c, with no I/O, so that what reads the server's
 * untrusted bytes is tested with tables and fuzzed
 * (tests/fuzz/fuzz_k8s_http1.c).
 *
 * The caller feeds whatever bytes arrived; each call consumes some of
 * them and says what happened: the head is complete (status, and the
 * headers the client uses), body bytes (pointing into the input, no
 * copy), the response is complete, or it is broken.  It reads the status
 * line, the headers (Content-Length, Transfer-Encoding: chunked,
 * Connection, Retry-After; others are skipped), interim 1xx responses
 * (skipped), and a body by length, in chunks (extensions and trailers
 * skipped) or up to the end of the connection.  Limits: a header line of
 * K8S_H1_LINE_MAX bytes, a head of K8S_H1_HEAD_MAX.  Anything else that is
 * not HTTP/1.x (a bad status line, a folded header, a transfer coding
 * other than chunked, two different lengths, a bad chunk size) is an
 * error that says what.
 */
#ifndef IRONLB_K8S_K8S_HTTP1_H
#define IRONLB_K8S_K8S_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define K8S_H1_LINE_MAX 8192
#define K8S_H1_HEAD_MAX 65536

enum k8s_h1_event {
	K8S_H1_MORE,    /* every byte given was consumed; feed more */
	K8S_H1_HEAD,    /* status and headers are in the decoder */
	K8S_H1_DATA,    /* *data, *len: body bytes */
	K8S_H1_DONE,    /* the response is complete (again on every later call) */
	K8S_H1_ERROR,   /* not a valid response: error says why (again on every later call) */
};

struct k8s_h1 {
	int state;
	long status;
	bool chunked;
	bool has_length;
	bool close;              /* the server closes the connection after this response */
	bool http10;
	uint64_t left;           /* body bytes of the length or of the chunk still to come */
	size_t head_bytes;
	size_t received;         /* bytes consumed in all */
	char retry_after[64];    /* the Retry-After header, "" when none */
	const char *error;       /* a static text */
	size_t line_len;
	char line[K8S_H1_LINE_MAX];
};

void k8s_h1_init(struct k8s_h1 *d);

/* Consume some of p[0..n); *used says how many.  K8S_H1_DATA sets *data
 * and *len (within p). */
enum k8s_h1_event k8s_h1_feed(struct k8s_h1 *d, const char *p, size_t n, size_t *used,
			      const char **data, size_t *len);

/* The connection ended: K8S_H1_DONE when the response is complete (a body
 * that runs to the end of the connection is), else K8S_H1_ERROR. */
enum k8s_h1_event k8s_h1_eof(struct k8s_h1 *d);

#endif
