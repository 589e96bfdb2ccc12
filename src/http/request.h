/*
 * The HTTP/1.x request-head parser behind server.c, and a hook for tests.
 *
 * Internal to src/http/ (and its tests and fuzz harness): handlers only see
 * a request through the accessors in server.h.
 *
 * http_request_parse() is a pure function from bytes to a struct
 * http_request: given the bytes a connection has received so far, it either
 * needs more, or fails with the status to answer (400, 413, 431, 501, 505)
 * and a reason, or returns the parsed head and its length; the body (if
 * any) follows those bytes and is the caller's business.  The parser copies
 * the head once into req->mem and cuts it up there (NUL terminators,
 * percent-decoding in place), so the request does not point into the
 * connection's buffer.  No struct is laid over the bytes; every step checks
 * the length left.
 */
#ifndef IRONLB_HTTP_REQUEST_H
#define IRONLB_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_server;

/* Request line, header fields and the empty line that ends them. */
#define HTTP_HEAD_MAX (16 * 1024)
#define HTTP_FIELDS_MAX 100
#define HTTP_ARGS_MAX 64
/* A request body is read and dropped; beyond this, 413 and close. */
#define HTTP_BODY_MAX (1024 * 1024)

/* Connection limits of server.c, here for its tests (server.c says how
 * they are enforced). */
/* A request (head and body) must be complete this long after its first
 * byte arrived, however steadily it trickles in: the idle timer alone is
 * pushed back by every byte, so a client sending one a second would hold
 * its slot forever (slowloris). */
#define HTTP_REQUEST_TIMEOUT 5.0
#define HTTP_MAX_CONNECTIONS 256
/* Connections from one client address; its next one replaces its oldest. */
#define HTTP_MAX_PER_CLIENT 16
/* Response bodies held for clients that have not read them yet, over all
 * connections: beyond it the oldest held ones are dropped (their
 * connections closed), so clients that ask for a large /status and never
 * read cannot pile copies of it up in our memory. */
#define HTTP_HELD_BODY_MAX (32u * 1024 * 1024)

enum http_parse_result {
	HTTP_PARSE_ERROR = -1, /* req->status and req->why say what to answer */
	HTTP_PARSE_DONE = 0,   /* req is filled; req->head_len bytes were used */
	HTTP_PARSE_MORE = 1,   /* the head is not complete yet */
};

struct http_field {
	const char *name;
	const char *value; /* "" for a field or query argument without one */
};

struct http_request {
	const char *method; /* case-sensitive token, RFC 9110 §9.1 */
	const char *path;   /* percent-decoded, without the query; "*" only
			     * for OPTIONS * */
	unsigned minor;     /* HTTP/1.minor, 0 or 1 */
	bool keep_alive;    /* the client lets the connection stay open */
	bool expect_continue;
	uint64_t content_length;
	size_t head_len; /* bytes of input the head took, leading empty
			  * lines included */
	struct http_field fields[HTTP_FIELDS_MAX];
	size_t n_fields;
	struct http_field args[HTTP_ARGS_MAX]; /* query, decoded, in order */
	size_t n_args;

	unsigned status; /* on HTTP_PARSE_ERROR */
	const char *why; /* on HTTP_PARSE_ERROR: a static string */

	char *mem; /* the copy of the head that the strings point into */
};

/* Parse the head at the start of buf[0..len).  req need not be initialised
 * and must be released with http_request_clear() whatever the result. */
enum http_parse_result http_request_parse(struct http_request *req, const uint8_t *buf,
					  size_t len);
void http_request_clear(struct http_request *req);

/* Serve an already connected stream socket (a socketpair end in the fuzz
 * harness) as if it had been accepted; the server owns fd from here on.
 * -1 (fd closed) when the server is not started. */
int http_server_adopt(struct http_server *srv, int fd);

#endif
