/*
 * Fuzz harness for the HTTP server (src/http/server.c): its request parser
 * and the connection code around it.
 *
 * Each input goes two ways.
 *
 * 1. To http_request_parse() directly.  A failure must carry one of the
 *    statuses the server sends and a reason; "more" only below the head
 *    limit; a parsed head must be consistent (a token method, a path that
 *    starts with '/', every field and argument found by the accessors) and
 *    self-delimiting: its own bytes parse to the same length, and those
 *    bytes less one ask for more.
 *
 * 2. As one client's byte stream to a live server in this process, over a
 *    socketpair, after which the client shuts down its side.  The server
 *    must finish (close or shut down its side) within a bounded number of
 *    loop iterations and close its end once the client has gone, and what
 *    it sent must be a sequence of well-formed
 *    responses: exactly as many final ones as a model predicts that walks
 *    the input with the parser (head, body, next head, until an error,
 *    a request that ends the connection, or the end of the input), the
 *    last with the parser's status when the walk ended in an error.
 *
 * Any broken property aborts, which the fuzzer reports as a crash.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"
#include "http/request.h"
#include "http/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                  \
	do {                         \
		if (!(cond))         \
			abort();     \
	} while (0)

/* Enough for a client that writes, reads and waits for the end: each
 * iteration moves up to a socket buffer of bytes. */
#define LOOP_ITERATIONS_MAX 5000

static bool is_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_parsed(const struct http_request *req, const uint8_t *data, size_t size)
{
	CHECK(req->head_len > 0 && req->head_len <= size && req->head_len <= HTTP_HEAD_MAX);
	CHECK(req->method && *req->method);
	for (const char *m = req->method; *m; m++)
		CHECK(is_tchar((uint8_t)*m));
	CHECK(req->path);
	CHECK(req->path[0] == '/' ||
	      (strcmp(req->path, "*") == 0 && strcmp(req->method, "OPTIONS") == 0));
	CHECK(strcmp(http_request_path(req), req->path) == 0);
	CHECK(req->minor <= 1);
	CHECK(req->content_length <= HTTP_BODY_MAX);
	CHECK(req->n_fields <= HTTP_FIELDS_MAX && req->n_args <= HTTP_ARGS_MAX);
	for (size_t i = 0; i < req->n_fields; i++) {
		CHECK(*req->fields[i].name);
		CHECK(strlen(req->fields[i].name) + strlen(req->fields[i].value) < req->head_len);
		CHECK(http_request_header(req, req->fields[i].name) != NULL);
	}
	if (req->minor == 1)
		CHECK(http_request_header(req, "HOST") != NULL);
	for (size_t i = 0; i < req->n_args; i++) {
		CHECK(req->args[i].name && req->args[i].value);
		CHECK(http_request_query(req, req->args[i].name) != NULL);
	}

	/* Self-delimiting: the head alone parses the same; a byte less is
	 * not yet a head. */
	uint8_t *head = xmalloc(req->head_len);
	struct http_request again;
	memcpy(head, data, req->head_len);
	CHECK(http_request_parse(&again, head, req->head_len) == HTTP_PARSE_DONE);
	CHECK(again.head_len == req->head_len);
	CHECK(strcmp(again.method, req->method) == 0 && strcmp(again.path, req->path) == 0);
	http_request_clear(&again);
	CHECK(http_request_parse(&again, head, req->head_len - 1) == HTTP_PARSE_MORE);
	http_request_clear(&again);
	free(head);
}

static void fuzz_parser(const uint8_t *data, size_t size)
{
	struct http_request req;

	switch (http_request_parse(&req, data, size)) {
	case HTTP_PARSE_DONE:
		check_parsed(&req, data, size);
		break;
	case HTTP_PARSE_MORE:
		CHECK(size < HTTP_HEAD_MAX);
		break;
	case HTTP_PARSE_ERROR:
		CHECK(req.status == 400 || req.status == 413 || req.status == 431 ||
		      req.status == 501 || req.status == 505);
		CHECK(req.why && *req.why);
		break;
	default:
		abort();
	}
	http_request_clear(&req);
}

/* ------------------------------------------------------------------ */
/* Live server */

struct model {
	size_t n;         /* final responses the server must send */
	bool *is_head;    /* per response: answers HEAD, so has no body */
	unsigned err;     /* the walk ended in this parse error, else 0 */
};

/* What the server must answer to `data` followed by the end of input. */
static void model_walk(const uint8_t *data, size_t size, struct model *m)
{
	size_t off = 0;

	memset(m, 0, sizeof(*m));
	while (off < size) {
		struct http_request req;
		enum http_parse_result rc = http_request_parse(&req, data + off, size - off);
		if (rc == HTTP_PARSE_MORE) {
			http_request_clear(&req);
			break;
		}
		bool *h = VEC_PUSH(m->is_head, m->n);
		if (rc == HTTP_PARSE_ERROR) {
			m->err = req.status;
			http_request_clear(&req);
			break;
		}
		off += req.head_len;
		if (req.content_length > size - off) {
			/* The input ends inside the body: no answer. */
			m->n--;
			http_request_clear(&req);
			break;
		}
		off += req.content_length;
		*h = strcmp(req.method, "HEAD") == 0;
		bool more = req.keep_alive;
		http_request_clear(&req);
		if (!more)
			break;
	}
}

/* Walk the responses in out[0..len); returns how many final ones, and
 * the status of the last. */
static size_t count_responses(const char *out, size_t len, const struct model *m,
			      unsigned *last)
{
	size_t off = 0, n = 0;

	*last = 0;
	while (off < len) {
		const char *end = memmem(out + off, len - off, "\r\n\r\n", 4);
		CHECK(end);
		size_t head_len = (size_t)(end - (out + off)) + 4;
		char *head = xstrndup(out + off, head_len);
		unsigned status;
		CHECK(strncmp(head, "HTTP/1.1 ", 9) == 0);
		CHECK(sscanf(head + 9, "%3u", &status) == 1 && status >= 100 && status <= 599);
		off += head_len;
		if (status == 100) {
			free(head);
			continue;
		}
		const char *cl = strstr(head, "\r\nContent-Length: ");
		CHECK(cl);
		size_t body = strtoul(cl + 18, NULL, 10);
		if (n < m->n && m->is_head[n])
			body = 0;
		CHECK(body <= len - off);
		off += body;
		*last = status;
		n++;
		free(head);
	}
	return n;
}

static void echo(const struct http_request *req, struct http_response *resp, void *arg)
{
	const char *x = http_request_query(req, "x");
	const char *host = http_request_header(req, "host");
	http_response_printf(resp, 200, "%s %s x=%s host=%s\n", http_request_method(req),
			     http_request_path(req), x ? x : "-", host ? host : "-");
}

static void empty(const struct http_request *req, struct http_response *resp, void *arg)
{
}

static void bad_status(const struct http_request *req, struct http_response *resp, void *arg)
{
	resp->status = 99;
}

static struct ev_loop *loop;
static struct http_server *srv;

static void server_init(void)
{
	char *err = NULL;

	loop = ev_loop_new(EVFLAG_AUTO);
	srv = http_server_new(loop);
	CHECK(http_server_route(srv, "GET", "/", echo, NULL) == 0);
	CHECK(http_server_route(srv, "POST", "/", echo, NULL) == 0);
	CHECK(http_server_route(srv, "GET", "/e", empty, NULL) == 0);
	CHECK(http_server_route(srv, "PUT", "/u", echo, NULL) == 0);
	CHECK(http_server_route(srv, "GET", "/bad", bad_status, NULL) == 0);
	/* Only for http_server_adopt(), which serves a started server. */
	CHECK(http_server_start(srv, "127.0.0.1:0", &err) == 0);
}

static void fuzz_live(const uint8_t *data, size_t size)
{
	int sv[2];
	size_t sent = 0, len = 0, cap = 4096;
	char *out = xmalloc(cap);
	bool shut = false, done = false;
	struct model m;

	if (!srv)
		server_init();
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(http_server_adopt(srv, sv[1]) == 0);

	for (int i = 0; i < LOOP_ITERATIONS_MAX && !done; i++) {
		if (sent < size) {
			ssize_t n = send(sv[0], data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno == EPIPE)
				sent = size; /* the server closed: the rest is not read */
			else
				CHECK(n < 0 && (errno == EAGAIN || errno == ECONNRESET));
		}
		if (sent == size && !shut) {
			shutdown(sv[0], SHUT_WR);
			shut = true;
		}
		ev_run(loop, EVRUN_NOWAIT);
		for (;;) {
			if (len == cap)
				out = xrealloc(out, cap *= 2);
			ssize_t n = recv(sv[0], out + len, cap - len, 0);
			if (n > 0) {
				len += (size_t)n;
				continue;
			}
			if (n == 0 || errno == ECONNRESET)
				done = true;
			else
				CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
	}
	CHECK(done); /* the server must not hang on any input */
	close(sv[0]);
	/* Once the client is gone the server closes its end, after dropping
	 * what it had not read (64 KiB per turn when lingering).  Nothing
	 * here opens descriptors, so sv[1] stays invalid once closed. */
	for (int i = 0; i < 64 && fcntl(sv[1], F_GETFD) >= 0; i++)
		ev_run(loop, EVRUN_NOWAIT);
	CHECK(fcntl(sv[1], F_GETFD) < 0);

	model_walk(data, size, &m);
	unsigned last;
	size_t n = count_responses(out, len, &m, &last);
	CHECK(n == m.n);
	if (m.err)
		CHECK(last == m.err);
	free(m.is_head);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parser(data, size);
	fuzz_live(data, size);
	return 0;
}
