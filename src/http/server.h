/*
 * HTTP server: a small HTTP/1.1 server of our own on the daemon's libev
 * loop, serving the routes the daemon registers (/metrics, /healthz,
 * /status).  No library: libmicrohttpd would load gnutls and its
 * dependencies (~2.8 MiB resident) for three GET routes.
 *
 * Everything runs on the loop: one ev_io for the listening socket, one
 * ev_io and one idle ev_timer per connection, non-blocking reads and
 * writes.  Handlers therefore run between other events and may read
 * daemon state without locks; they must not block.  An idle server costs
 * no wake-ups.
 *
 * HTTP/1.0 and 1.1 with keep-alive (the default in 1.1) and pipelining
 * (answered in order).  Bounds: a request head (request line and header
 * fields) of at most 16 KiB (else 431) and 100 fields, a body of at most
 * 1 MiB, sent with Content-Length (Transfer-Encoding gets 501); a whole
 * request within 5 s of its first byte (else 408 and close); a connection
 * without progress for 30 s is closed.  256 connections, 16 from one
 * client address: a new connection is always accepted and, at a limit,
 * replaces the one that has waited longest (of its address, or of all),
 * so that clients holding connections open cannot keep a health probe
 * out.  Response bodies not yet read by their clients are held up to
 * 32 MiB in all; beyond, the oldest held are dropped with their
 * connections.  A malformed request gets 400 and the connection is
 * closed.
 *
 * A request goes to the route whose method and path match exactly (a GET
 * route also answers HEAD, without the body); a path with no route gets
 * 404, a path whose routes have other methods gets 405 with an Allow
 * header.  A request body is read and dropped (no route takes one).  A
 * handler fills a response: status (200..599; anything else becomes 500),
 * content type and a malloc'd body that the server frees once sent; a
 * large body is sent from the handler's buffer as the client reads it,
 * without blocking the loop.
 */
#ifndef IRONLB_HTTP_SERVER_H
#define IRONLB_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct http_server;
struct http_request;

#define HTTP_TEXT_PLAIN "text/plain; charset=utf-8"
#define HTTP_APPLICATION_JSON "application/json"

struct http_response {
	unsigned status;          /* 200 unless the handler sets another */
	const char *content_type; /* HTTP_TEXT_PLAIN unless set; a string that
				   * outlives the server, such as a literal */
	char *body;               /* malloc'd or NULL; the server frees it */
	size_t body_len;
};

typedef void http_handler_fn(const struct http_request *req, struct http_response *resp,
			     void *arg);

struct http_server *http_server_new(struct ev_loop *loop);
/* Stops serving (open connections are closed) and frees; NULL is a no-op. */
void http_server_free(struct http_server *srv);

/* -1 when method and path already have a route, or path does not start
 * with '/'.  Routes may be added before or after the server starts. */
int http_server_route(struct http_server *srv, const char *method, const char *path,
		      http_handler_fn *fn, void *arg);

/*
 * Listen and start serving.  `listen` is "IPV4:PORT" ("127.0.0.1:7472"),
 * "[IPV6]:PORT" ("[::1]:7472", "[fe80::1%eth0]:7472") or ":PORT" (every
 * address, IPv6 and IPv4 on one socket); port 0 takes an ephemeral port,
 * see http_server_port().  Addresses are numeric, never resolved.  On error
 * -1, and *err (when err is not NULL) is a malloc'd message naming the
 * address and the reason, e.g.
 *   cannot listen on 127.0.0.1:7472: Address already in use
 */
int http_server_start(struct http_server *srv, const char *listen, char **err);
/*
 * The listen address of a host given alone (--metrics-host): host is a
 * numeric IPv4 address, or an IPv6 address with or without brackets
 * (with a %zone when link-local), and the port is listen's (an address
 * as http_server_start() takes it).  0 and *out a malloc'd listen
 * address ("192.0.2.1:7473", "[2001:db8::1]:7473"); -1 and *why a
 * malloc'd reason (a name, a port given with the host, a bad listen).
 */
int http_listen_with_host(const char *listen, const char *host, char **out, char **why);
/* The bound port once started (the ephemeral one for port 0), else 0. */
uint16_t http_server_port(const struct http_server *srv);

/* Set a response from a format: status, HTTP_TEXT_PLAIN and the text. */
void http_response_printf(struct http_response *resp, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The handler for GET /metrics: arg is a struct metrics_registry
 * (base/metrics.h), rendered in the Prometheus text format.  The registry
 * itself is in base so that the modules that fill it (alloc, l2, bgp) do
 * not link the server. */
void http_metrics_handler(const struct http_request *req, struct http_response *resp,
			  void *registry);

/* The request as seen by a handler; strings live until the handler returns. */
const char *http_request_method(const struct http_request *req);
/* The path, without the query string, percent-decoded. */
const char *http_request_path(const struct http_request *req);
/* A query argument: NULL when absent, "" when given without a value
 * ("/status?verbose"), otherwise its decoded value. */
const char *http_request_query(const struct http_request *req, const char *key);
/* A request header by case-insensitive name, or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);

#endif
