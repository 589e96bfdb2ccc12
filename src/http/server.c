/*
 * HTTP/1.1 server on the daemon's libev loop (see server.h), without a
 * library: the daemon answers three GET routes, and libmicrohttpd brought
 * gnutls and its dependencies (~2.8 MiB resident) along for that.
 *
 * Two halves.  http_request_parse() (request.h) is a pure function from the
 * bytes received to a parsed request head; the fuzz harness calls it
 * directly.  The rest is the connection machinery:
 *
 * One listening socket, non-blocking, watched by an ev_io.  At most
 * HTTP_MAX_CONNECTIONS connections are open, at most HTTP_MAX_PER_CLIENT of
 * them from one client address.  A new connection is always accepted; at
 * a limit it takes the place of the connection (of that address, or of
 * anyone) that has waited longest without being answered: the one whose
 * request started first and is still not complete, or whose last answer
 * is oldest.  Waiting in the kernel's backlog instead (as before) let a
 * few hundred idle or trickling connections starve /healthz; with
 * eviction a client that connects and asks at once is answered whatever
 * others hold open, and a client that opens many connections only
 * displaces its own.
 *
 * Each connection has one ev_io, an idle ev_timer (HTTP_IDLE_TIMEOUT
 * without progress closes it), a request ev_timer (HTTP_REQUEST_TIMEOUT
 * from a request's first byte to its last; 408 then) and is in one of the
 * states of conn_state_name[]:
 *
 *   head    bytes go into `in` (at most HTTP_HEAD_MAX) and are parsed each
 *           time some arrive, until a whole head is there;
 *   body    Content-Length bytes of body are read and dropped (no route
 *           takes a body); the handler runs when the last one is in;
 *   linger  the last response is out and our side is shut down; whatever
 *           the client still sends is read and dropped until it closes or
 *           HTTP_LINGER_TIMEOUT passes, because closing with unread input
 *           makes the kernel send a reset that can destroy the response
 *           before the client has read it (RFC 9112 §9.6).
 *
 * A response is its status line and headers in `out` plus the handler's
 * body buffer, sent with non-blocking sendmsg() calls from an iovec pair
 * (a 4 MiB body is never copied); what does not fit waits for EV_WRITE.
 * While a response is pending nothing more is parsed and, in the head
 * state, nothing more is read: pipelined requests are answered one at a
 * time and in order, and a client that does not read its answers stops
 * being read instead of filling our memory.  An idle connection holds no
 * buffers.  Bodies waiting to be sent count against HTTP_HELD_BODY_MAX
 * over all connections; a new one that does not fit drops the oldest held
 * ones (closing their connections).
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"
#include "http/request.h"

/* An idle connection is closed after this many seconds (slow clients must
 * not hold connections forever); scrapers reconnect. */
#define HTTP_IDLE_TIMEOUT 30.0
#define HTTP_LINGER_TIMEOUT 2.0
/* HTTP_REQUEST_TIMEOUT, HTTP_MAX_CONNECTIONS, HTTP_MAX_PER_CLIENT and
 * HTTP_HELD_BODY_MAX are in request.h, for the tests. */
/* At most one warning about evicted connections in this many seconds. */
#define HTTP_EVICT_WARN_INTERVAL 10.0
/* Room for a burst of new connections while the loop is busy: with a
 * short queue, a flood of reconnects fills it and the kernel drops the
 * SYN of a health probe, which then waits a second to try again. */
#define HTTP_LISTEN_BACKLOG 1024
/* Connections accepted per wake-up, so that a flood of them does not keep
 * the loop from everything else. */
#define HTTP_ACCEPT_BURST 64
/* After accept() failed for want of descriptors or memory. */
#define HTTP_ACCEPT_RETRY 1.0

/* ------------------------------------------------------------------ */
/* Request parser (pure) */

/* A bounded view of the parser's own copy of the head: the counterpart of
 * base/buf.h's rbuf for text that is cut up in place. */
struct span {
	char *p;
	size_t len;
};

static void parse_fail(struct http_request *req, unsigned status, const char *why)
{
	req->status = status;
	req->why = why;
}

/* token characters, RFC 9110 §5.6.2 */
static bool is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
	case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return true;
	default:
		return false;
	}
}

/* Visible characters and obs-text: what a request-target and a field
 * value consist of (RFC 9110 §5.5, RFC 9112 §3.2). */
static bool is_vchar(uint8_t c)
{
	return (c > 0x20 && c < 0x7f) || c >= 0x80;
}

static bool all_tchar(const struct span *s)
{
	if (s->len == 0)
		return false;
	for (size_t i = 0; i < s->len; i++)
		if (!is_tchar((uint8_t)s->p[i]))
			return false;
	return true;
}

/* Cut the text before the first `sep` out as *before, NUL-terminated in
 * place of the separator, and advance s past the separator; -1 (s
 * unchanged) when there is no separator. */
static int span_cut(struct span *s, char sep, struct span *before)
{
	char *at = memchr(s->p, sep, s->len);

	if (!at)
		return -1;
	before->p = s->p;
	before->len = (size_t)(at - s->p);
	*at = '\0';
	s->p = at + 1;
	s->len -= before->len + 1;
	return 0;
}

/* The next line, without its LF and one CR before it (RFC 9112 §2.2: a
 * bare LF ends a line too), NUL-terminated; -1 when no LF is left. */
static int span_line(struct span *s, struct span *line)
{
	if (span_cut(s, '\n', line) < 0)
		return -1;
	if (line->len && line->p[line->len - 1] == '\r')
		line->p[--line->len] = '\0';
	return 0;
}

static void span_trim_ows(struct span *s)
{
	while (s->len && (s->p[0] == ' ' || s->p[0] == '\t')) {
		s->p++;
		s->len--;
	}
	while (s->len && (s->p[s->len - 1] == ' ' || s->p[s->len - 1] == '\t'))
		s->len--;
}

/* Whether the comma-separated list v (RFC 9110 §5.6.1) has the element
 * `token`, compared without case.  v is left as it is: handlers see it. */
static bool list_has(const char *v, const char *token)
{
	size_t tlen = strlen(token);

	for (;;) {
		size_t n = strcspn(v, ",");
		struct span elem = { (char *)v, n };
		span_trim_ows(&elem);
		if (elem.len == tlen && strncasecmp(elem.p, token, tlen) == 0)
			return true;
		if (!v[n])
			return false;
		v += n + 1;
	}
}

/* Percent-decode s in place (RFC 3986 §2.1), '+' as a space too in a query
 * (the form encoding that browsers and most clients use there).  -1 for a
 * '%' without two hex digits or an encoded NUL, which no C string can
 * carry. */
static int pct_decode(struct span *s, bool plus)
{
	size_t r = 0, w = 0;

	while (r < s->len) {
		char c = s->p[r];
		if (c == '%') {
			int hi, lo;
			if (s->len - r < 3 || (hi = hex_digit_value(s->p[r + 1])) < 0 ||
			    (lo = hex_digit_value(s->p[r + 2])) < 0 || (hi == 0 && lo == 0))
				return -1;
			s->p[w++] = (char)(hi << 4 | lo);
			r += 3;
		} else {
			s->p[w++] = plus && c == '+' ? ' ' : c;
			r++;
		}
	}
	s->len = w;
	s->p[w] = '\0';
	return 0;
}

/*
 * Where the head lies in buf: after any empty lines (RFC 9112 §2.2 asks a
 * server to ignore at least one before the request line) up to and with
 * the empty line that ends it.  Only the first HTTP_HEAD_MAX bytes count.
 */
static enum http_parse_result head_extent(struct http_request *req, const uint8_t *buf,
					  size_t len, size_t *start, size_t *end)
{
	size_t lim = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
	size_t off = 0, pos;

	while (off < lim) {
		if (buf[off] == '\n')
			off++;
		else if (buf[off] == '\r' && lim - off >= 2 && buf[off + 1] == '\n')
			off += 2;
		else if (buf[off] == '\r' && lim - off == 1 && lim < HTTP_HEAD_MAX)
			return HTTP_PARSE_MORE; /* the CR of an empty line? */
		else
			break;
	}
	*start = pos = off;
	while (pos < lim) {
		const uint8_t *nl = memchr(buf + pos, '\n', lim - pos);
		if (!nl)
			break;
		size_t eol = (size_t)(nl - buf);
		size_t line_len = eol - pos;
		if (line_len && buf[eol - 1] == '\r')
			line_len--;
		if (line_len == 0 && pos != *start) {
			*end = eol + 1;
			return HTTP_PARSE_DONE;
		}
		pos = eol + 1;
	}
	/* When what came so far cannot begin a request line (TLS, or some
	 * other protocol on this port), answer at once rather than after
	 * 16 KiB or the idle timeout.  Any byte before the first SP that is
	 * not a method character dooms the head, complete or not, so the
	 * answer is the same however the bytes arrive; hence also before the
	 * size check.  Only a CR that may yet be part of a CRLF is spared. */
	for (size_t i = *start; i < lim && buf[i] != ' '; i++) {
		if (!is_tchar(buf[i]) && !(buf[i] == '\r' && i + 1 == lim)) {
			parse_fail(req, 400, "malformed request line; expected "
					     "METHOD /path HTTP/1.1");
			return HTTP_PARSE_ERROR;
		}
	}
	if (lim == HTTP_HEAD_MAX) {
		parse_fail(req, 431, "request line and header fields exceed 16384 bytes");
		return HTTP_PARSE_ERROR;
	}
	return HTTP_PARSE_MORE;
}

/* request-line = method SP request-target SP HTTP-version, RFC 9112 §3 */
static int parse_request_line(struct http_request *req, struct span line, struct span *target)
{
	struct span method;

	if (span_cut(&line, ' ', &method) < 0 || !all_tchar(&method) ||
	    span_cut(&line, ' ', target) < 0 || target->len == 0)
		goto bad;
	for (size_t i = 0; i < target->len; i++)
		if (!is_vchar((uint8_t)target->p[i]))
			goto bad;
	/* HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (§2.3) */
	if (line.len != 8 || memcmp(line.p, "HTTP/", 5) != 0 || line.p[5] < '0' ||
	    line.p[5] > '9' || line.p[6] != '.' || line.p[7] < '0' || line.p[7] > '9')
		goto bad;
	if (line.p[5] != '1') {
		parse_fail(req, 505, "HTTP version not supported; use HTTP/1.1 or HTTP/1.0");
		return -1;
	}
	/* A later 1.x is answered as 1.1 (RFC 9110 §2.5). */
	req->minor = line.p[7] == '0' ? 0 : 1;
	req->method = method.p;
	return 0;
bad:
	parse_fail(req, 400, "malformed request line; expected METHOD /path HTTP/1.1");
	return -1;
}

/* field-line = field-name ":" OWS field-value OWS, RFC 9112 §5 */
static int parse_field(struct http_request *req, struct span line)
{
	struct span name;

	/* obs-fold: a server may reject it with 400 (§5.2). */
	if (line.p[0] == ' ' || line.p[0] == '\t') {
		parse_fail(req, 400, "header field continued on a folded line; "
				     "send each field on one line");
		return -1;
	}
	if (span_cut(&line, ':', &name) < 0) {
		parse_fail(req, 400, "header field without a colon; expected Name: value");
		return -1;
	}
	/* No whitespace before the colon (§5.1: must be rejected). */
	if (!all_tchar(&name)) {
		parse_fail(req, 400, "malformed header field name; expected a token "
				     "followed directly by a colon");
		return -1;
	}
	span_trim_ows(&line);
	/* line.p[len] is in the copy: a trimmed blank or the line's end. */
	line.p[line.len] = '\0';
	for (size_t i = 0; i < line.len; i++) {
		uint8_t c = (uint8_t)line.p[i];
		if (c != ' ' && c != '\t' && !is_vchar(c)) {
			parse_fail(req, 400, "control character in a header field value");
			return -1;
		}
	}
	if (req->n_fields == HTTP_FIELDS_MAX) {
		parse_fail(req, 431, "more than 100 header fields");
		return -1;
	}
	req->fields[req->n_fields++] = (struct http_field){ name.p, line.p };
	return 0;
}

/* Content-Length = 1*DIGIT (RFC 9110 §8.6); the value saturates just past
 * HTTP_BODY_MAX, which is enough to refuse it. */
static int parse_content_length(const char *v, uint64_t *len)
{
	uint64_t n = 0;

	if (!*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (n <= HTTP_BODY_MAX)
			n = n * 10 + (uint64_t)(*v - '0');
	}
	*len = n;
	return 0;
}

/* The meaning of the fields that decide framing and the connection. */
static int interpret_fields(struct http_request *req)
{
	size_t hosts = 0;
	bool have_length = false, chunked = false, close = false, keep_alive = false;

	for (size_t i = 0; i < req->n_fields; i++) {
		const char *name = req->fields[i].name, *value = req->fields[i].value;
		if (strcasecmp(name, "host") == 0) {
			hosts++;
		} else if (strcasecmp(name, "content-length") == 0) {
			uint64_t n;
			if (parse_content_length(value, &n) < 0 ||
			    (have_length && n != req->content_length)) {
				parse_fail(req, 400, "invalid Content-Length; expected one "
						     "decimal number of bytes");
				return -1;
			}
			req->content_length = n;
			have_length = true;
		} else if (strcasecmp(name, "transfer-encoding") == 0) {
			chunked = true;
		} else if (strcasecmp(name, "connection") == 0) {
			/* Connection = #connection-option, RFC 9110 §7.6.1 */
			close = close || list_has(value, "close");
			keep_alive = keep_alive || list_has(value, "keep-alive");
		} else if (strcasecmp(name, "expect") == 0) {
			req->expect_continue = strcasecmp(value, "100-continue") == 0;
		}
	}
	/* A transfer coding we do not decode: 501 (RFC 9112 §6.1), and the
	 * body's end is unknown, so the connection cannot go on. */
	if (chunked) {
		parse_fail(req, 501, "Transfer-Encoding in requests is not supported; send "
				     "the body with Content-Length");
		return -1;
	}
	/* RFC 9112 §3.2: 400 without Host in 1.1, or with several. */
	if (hosts > 1 || (hosts == 0 && req->minor == 1)) {
		parse_fail(req, 400, hosts ? "more than one Host header field"
					   : "no Host header field (required in HTTP/1.1)");
		return -1;
	}
	if (req->content_length > HTTP_BODY_MAX) {
		parse_fail(req, 413, "request body larger than 1048576 bytes");
		return -1;
	}
	/* RFC 9112 §9.3: persistent by default in 1.1, on request in 1.0. */
	req->keep_alive = !close && (req->minor == 1 || keep_alive);
	return 0;
}

/* origin-form or absolute-form (RFC 9112 §3.2.1, §3.2.2), or "*" for
 * OPTIONS; the path is decoded, the query cut into arguments. */
static int parse_target(struct http_request *req, struct span t)
{
	struct span path, query;
	bool has_query;

	if (t.p[0] == '/') {
		path = t;
	} else if (t.len == 1 && t.p[0] == '*' && strcmp(req->method, "OPTIONS") == 0) {
		req->path = t.p;
		return 0;
	} else {
		size_t skip;
		if (t.len > 7 && strncasecmp(t.p, "http://", 7) == 0)
			skip = 7;
		else if (t.len > 8 && strncasecmp(t.p, "https://", 8) == 0)
			skip = 8;
		else
			goto bad;
		t.p += skip;
		t.len -= skip;
		/* The authority ends at the path or query. */
		size_t a = 0;
		while (a < t.len && t.p[a] != '/' && t.p[a] != '?')
			a++;
		if (a == 0)
			goto bad;
		t.p += a;
		t.len -= a;
		path = t;
	}
	/* The target ends at the NUL that parse_request_line() put after it;
	 * a cut at '?' ends the path with one too. */
	query = path;
	has_query = span_cut(&query, '?', &path) == 0;
	if (path.len == 0 || path.p[0] != '/') {
		/* "http://host" or "http://host?q": the path is "/" (§3.2.2). */
		req->path = "/";
	} else {
		if (pct_decode(&path, false) < 0)
			goto bad_pct;
		req->path = path.p;
	}
	while (has_query) {
		struct span arg, key, value;
		bool last = span_cut(&query, '&', &arg) < 0;
		if (last)
			arg = query;
		if (arg.len) {
			if (req->n_args == HTTP_ARGS_MAX) {
				parse_fail(req, 400, "more than 64 query arguments");
				return -1;
			}
			if (span_cut(&arg, '=', &key) < 0) {
				key = arg;
				value = (struct span){ key.p + key.len, 0 }; /* the "" at its NUL */
			} else {
				value = arg;
			}
			if (pct_decode(&key, true) < 0 || pct_decode(&value, true) < 0)
				goto bad_pct;
			req->args[req->n_args++] = (struct http_field){ key.p, value.p };
		}
		if (last)
			break;
	}
	return 0;
bad:
	parse_fail(req, 400, "malformed request target; expected /path or /path?query");
	return -1;
bad_pct:
	parse_fail(req, 400, "malformed percent-encoding in the request target; expected "
			     "% and two hex digits, not %00");
	return -1;
}

enum http_parse_result http_request_parse(struct http_request *req, const uint8_t *buf,
					  size_t len)
{
	size_t start, end;
	enum http_parse_result rc;
	struct span s, line, target;

	memset(req, 0, sizeof(*req));
	rc = head_extent(req, buf, len, &start, &end);
	if (rc != HTTP_PARSE_DONE)
		return rc;
	req->mem = xmalloc(end - start + 1);
	memcpy(req->mem, buf + start, end - start);
	req->mem[end - start] = '\0';
	s = (struct span){ req->mem, end - start };

	/* head_extent() saw an LF at the end of every line and an empty line
	 * last, so span_line() finds them again. */
	if (span_line(&s, &line) < 0 || parse_request_line(req, line, &target) < 0)
		return HTTP_PARSE_ERROR;
	while (span_line(&s, &line) == 0 && line.len > 0)
		if (parse_field(req, line) < 0)
			return HTTP_PARSE_ERROR;
	if (interpret_fields(req) < 0 || parse_target(req, target) < 0)
		return HTTP_PARSE_ERROR;
	req->head_len = end;
	return HTTP_PARSE_DONE;
}

void http_request_clear(struct http_request *req)
{
	free(req->mem);
	req->mem = NULL;
}

/* ------------------------------------------------------------------ */
/* Handler view of a request */

const char *http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *http_request_query(const struct http_request *req, const char *key)
{
	for (size_t i = 0; i < req->n_args; i++)
		if (strcmp(req->args[i].name, key) == 0)
			return req->args[i].value;
	return NULL;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_fields; i++)
		if (strcasecmp(req->fields[i].name, name) == 0)
			return req->fields[i].value;
	return NULL;
}

void http_metrics_handler(const struct http_request *req, struct http_response *resp,
			  void *registry)
{
	char *buf = NULL;
	size_t len = 0;
	(void)req;
	metrics_render(registry, &buf, &len);
	resp->status = 200;
	resp->content_type = METRICS_CONTENT_TYPE;
	resp->body = buf;
	resp->body_len = len;
}

void http_response_printf(struct http_response *resp, unsigned status, const char *fmt, ...)
{
	va_list ap;

	free(resp->body);
	va_start(ap, fmt);
	resp->body = xvasprintf(fmt, ap);
	va_end(ap);
	resp->body_len = strlen(resp->body);
	resp->status = status;
	resp->content_type = HTTP_TEXT_PLAIN;
}

/* ------------------------------------------------------------------ */
/* Server and connections */

struct http_route {
	char *method;
	char *path;
	http_handler_fn *fn;
	void *arg;
};

enum conn_state {
	CONN_HEAD,
	CONN_BODY,
	CONN_LINGER,
};

static const char *const conn_state_name[] = {
	[CONN_HEAD] = "head",
	[CONN_BODY] = "body",
	[CONN_LINGER] = "linger",
};

struct http_conn {
	struct http_server *srv;
	struct http_conn *prev, *next;
	int fd;
	int events; /* what io watches */
	ev_io io;
	ev_timer timer;
	ev_timer deadline; /* HTTP_REQUEST_TIMEOUT, while a request comes in */
	enum conn_state state;
	char peer[INET6_ADDRSTRLEN + 8];
	char addr[INET6_ADDRSTRLEN]; /* the client's address, without the port */
	/* When the connection began waiting for what it has not got yet:
	 * accepted, or its last response queued.  The oldest is evicted. */
	double since;

	uint8_t *in; /* HTTP_HEAD_MAX bytes, or NULL while idle */
	size_t in_off, in_len; /* unparsed input: in[in_off, in_off + in_len) */
	bool eof;              /* the client has shut down its side */

	struct http_request *req; /* waiting for its body */
	uint64_t body_left;

	char *out; /* status lines and headers to send */
	size_t out_len, out_cap, out_off;
	char *body; /* then this body */
	size_t body_len, body_off;
	bool close_after; /* close once all of that is sent */
};

struct http_server {
	struct ev_loop *loop;
	int fd; /* listening socket, -1 until started */
	uint16_t port;
	ev_io io;
	ev_timer retry;
	struct http_route *routes;
	size_t n_routes;
	struct http_conn *conns;
	size_t n_conns;
	size_t held;          /* bytes of response bodies not sent yet */
	unsigned long evicted; /* since the last warning about it */
	double evict_warned;  /* when that was */
};

static void conn_close(struct http_conn *c, const char *reason);

static void listener_update(struct http_server *srv)
{
	bool want = srv->fd >= 0 && !ev_is_active(&srv->retry);

	if (want && !ev_is_active(&srv->io))
		ev_io_start(srv->loop, &srv->io);
	else if (!want && ev_is_active(&srv->io))
		ev_io_stop(srv->loop, &srv->io);
}

static void conn_set_state(struct http_conn *c, enum conn_state state)
{
	if (c->state == state)
		return;
	log_debug("http connection state", "peer", c->peer, "from", conn_state_name[c->state],
		  "to", conn_state_name[state], NULL);
	c->state = state;
	if (state == CONN_LINGER) {
		/* Bounded from here on: reads no longer push it back. */
		c->timer.repeat = HTTP_LINGER_TIMEOUT;
		ev_timer_again(c->srv->loop, &c->timer);
	}
}

static bool out_pending(const struct http_conn *c)
{
	return c->out_off < c->out_len || c->body_off < c->body_len;
}

static void out_printf(struct http_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void out_printf(struct http_conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (c->out_cap - c->out_len < (size_t)n + 1) {
		c->out_cap = c->out_len + (size_t)n + 256;
		c->out = xrealloc(c->out, c->out_cap);
	}
	va_start(ap, fmt);
	vsnprintf(c->out + c->out_len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	c->out_len += (size_t)n;
}

static const char *status_reason(unsigned status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return ""; /* the reason phrase may be empty (RFC 9112 §4) */
	}
}

/* IMF-fixdate (RFC 9110 §5.6.7), without the locale strftime() would use. */
static void http_date(double now, char out[30])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)now;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11 || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
		snprintf(out, 30, "Thu, 01 Jan 1970 00:00:00 GMT");
		return;
	}
	/* Day and month names from our tables, not the locale (RFC 9110 §5.6.7). */
	char tail[24];
	strftime(tail, sizeof(tail), "%Y %H:%M:%S", &tm);
	snprintf(out, 30, "%.3s, %02u %.3s %.13s GMT", days[tm.tm_wday], (unsigned)tm.tm_mday % 100,
		 months[tm.tm_mon], tail);
}

static void evict_note(struct http_server *srv, const char *why)
{
	double now = ev_now(srv->loop);

	srv->evicted++;
	if (now - srv->evict_warned < HTTP_EVICT_WARN_INTERVAL && srv->evict_warned > 0)
		return;
	char n[24], conns[16], per[16], held[24];
	snprintf(n, sizeof(n), "%lu", srv->evicted);
	snprintf(conns, sizeof(conns), "%d", HTTP_MAX_CONNECTIONS);
	snprintf(per, sizeof(per), "%d", HTTP_MAX_PER_CLIENT);
	snprintf(held, sizeof(held), "%u", HTTP_HELD_BODY_MAX);
	log_warn("http connections evicted to make room for new ones", "evicted", n, "last_reason",
		 why, "max_connections", conns, "max_per_client", per, "max_held_bytes", held,
		 NULL);
	srv->evicted = 0;
	srv->evict_warned = now;
}

/* The connection that has waited longest, among those from `addr` (or
 * all, for NULL) and, when `holding`, those holding a body; not `except`. */
static struct http_conn *oldest_conn(struct http_server *srv, const char *addr, bool holding,
				     const struct http_conn *except)
{
	struct http_conn *best = NULL;

	for (struct http_conn *c = srv->conns; c; c = c->next) {
		if (c == except || (addr && strcmp(c->addr, addr) != 0) ||
		    (holding && c->body_off >= c->body_len))
			continue;
		/* The list is newest first: among equal times (accepted in
		 * one wake-up) the one accepted first wins. */
		if (!best || c->since <= best->since)
			best = c;
	}
	return best;
}

/* Before c holds a body of len bytes: drop the oldest bodies held for
 * other clients until the total fits.  A single body beyond the limit is
 * still sent; what is bounded is how many of them pile up. */
static void held_make_room(struct http_conn *c, size_t len)
{
	struct http_server *srv = c->srv;

	while (srv->held + len > HTTP_HELD_BODY_MAX) {
		struct http_conn *victim = oldest_conn(srv, NULL, true, c);
		if (!victim)
			break;
		evict_note(srv, "held responses");
		conn_close(victim, "evicted: held responses over the limit");
	}
}

/* Queue a response; the body passes to the connection or is freed. */
static void conn_respond(struct http_conn *c, bool head_only, struct http_response *resp,
			 bool keep_alive_1_0, const char *allow)
{
	size_t len = resp->body ? resp->body_len : 0;
	/* RFC 9110 §6.4.1: no content in 204 and 304, nor in any answer to
	 * HEAD, which still announces the length a GET would have. */
	bool bodyless = resp->status == 204 || resp->status == 304;
	char date[30];

	http_date(ev_now(c->srv->loop), date);
	out_printf(c, "HTTP/1.1 %u %s\r\nDate: %s\r\nContent-Type: %s\r\n", resp->status,
		   status_reason(resp->status), date,
		   resp->content_type ? resp->content_type : HTTP_TEXT_PLAIN);
	if (!bodyless)
		out_printf(c, "Content-Length: %zu\r\n", len);
	if (allow)
		out_printf(c, "Allow: %s\r\n", allow);
	if (c->close_after)
		out_printf(c, "Connection: close\r\n");
	else if (keep_alive_1_0)
		out_printf(c, "Connection: keep-alive\r\n");
	out_printf(c, "\r\n");
	c->since = ev_now(c->srv->loop);
	if (head_only || bodyless || len == 0) {
		free(resp->body);
	} else {
		held_make_room(c, len);
		c->body = resp->body;
		c->body_len = len;
		c->body_off = 0;
		c->srv->held += len;
	}
	resp->body = NULL;
}

/* The route for method and path; when there is none but the path has
 * routes, *allow lists their methods (malloc'd), for a 405. */
static const struct http_route *route_find(const struct http_server *srv, const char *method,
					   const char *path, char **allow)
{
	const struct http_route *get = NULL;
	bool has_head = false;
	char *list = NULL;

	*allow = NULL;
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct http_route *r = &srv->routes[i];
		if (strcmp(r->path, path) != 0)
			continue;
		if (strcmp(r->method, method) == 0) {
			free(list);
			return r;
		}
		if (strcmp(r->method, "GET") == 0)
			get = r;
		if (strcmp(r->method, "HEAD") == 0)
			has_head = true;
		char *l = list ? xasprintf("%s, %s", list, r->method) : xstrdup(r->method);
		free(list);
		list = l;
	}
	/* A GET route answers HEAD, without the body (RFC 9110 §9.3.2). */
	if (get && strcmp(method, "HEAD") == 0) {
		free(list);
		return get;
	}
	if (get && !has_head) {
		char *l = xasprintf("%s, HEAD", list);
		free(list);
		list = l;
	}
	*allow = list;
	return NULL;
}

static void conn_dispatch(struct http_conn *c, const struct http_request *req)
{
	struct http_response resp = { .status = 200, .content_type = HTTP_TEXT_PLAIN };
	const struct http_route *r;
	char *allow = NULL;
	char status[8];

	if (!req->keep_alive)
		c->close_after = true;
	r = route_find(c->srv, req->method, req->path, &allow);
	if (r) {
		/* The handler may add routes, moving r. */
		http_handler_fn *fn = r->fn;
		fn(req, &resp, r->arg);
		if (resp.status < 200 || resp.status > 599)
			http_response_printf(&resp, 500, "handler for %s %s set status %u\n",
					     req->method, req->path, resp.status);
	} else if (allow) {
		http_response_printf(&resp, 405, "method %s not allowed for %s (allowed: %s)\n",
				     req->method, req->path, allow);
	} else {
		http_response_printf(&resp, 404, "not found: %s\n", req->path);
	}
	snprintf(status, sizeof(status), "%u", resp.status);
	log_debug("http request", "peer", c->peer, "method", req->method, "path", req->path,
		  "status", status, NULL);
	conn_respond(c, strcmp(req->method, "HEAD") == 0, &resp,
		     req->minor == 0 && req->keep_alive, allow);
	free(allow);
}

/* A request we cannot parse: answer and close, as its end is unknown. */
static void conn_reject(struct http_conn *c, unsigned status, const char *why)
{
	struct http_response resp = { 0 };
	char st[8];

	snprintf(st, sizeof(st), "%u", status);
	log_debug("http request rejected", "peer", c->peer, "status", st, "error", why, NULL);
	http_response_printf(&resp, status, "%s\n", why);
	c->close_after = true;
	conn_respond(c, false, &resp, false, NULL);
	c->in_off = c->in_len = 0;
}

static void conn_consume(struct http_conn *c, size_t n)
{
	c->in_off += n;
	c->in_len -= n;
	if (c->in_len == 0)
		c->in_off = 0;
}

/* Answer what the input holds, as far as the output lets us.  True when
 * it stopped at a pending response with requests still buffered: once
 * that is sent, they need no new event to be answered. */
static bool conn_process(struct http_conn *c)
{
	while (c->state != CONN_LINGER && !c->close_after) {
		if (c->state == CONN_BODY) {
			size_t n = c->in_len < c->body_left ? c->in_len : (size_t)c->body_left;
			conn_consume(c, n);
			c->body_left -= n;
			if (c->body_left)
				return false;
			struct http_request *req = c->req;
			c->req = NULL;
			conn_set_state(c, CONN_HEAD);
			conn_dispatch(c, req);
			http_request_clear(req);
			free(req);
			continue;
		}
		if (c->in_len == 0)
			return false;
		if (out_pending(c))
			return true;
		struct http_request *req = xmalloc(sizeof(*req));
		enum http_parse_result rc = http_request_parse(req, c->in + c->in_off, c->in_len);
		if (rc == HTTP_PARSE_DONE) {
			conn_consume(c, req->head_len);
			if (req->content_length) {
				c->req = req;
				c->body_left = req->content_length;
				/* RFC 9110 §10.1.1: the client may wait for this. */
				if (req->expect_continue && req->minor == 1)
					out_printf(c, "HTTP/1.1 100 Continue\r\n\r\n");
				conn_set_state(c, CONN_BODY);
				continue;
			}
			conn_dispatch(c, req);
		} else if (rc == HTTP_PARSE_ERROR) {
			conn_reject(c, req->status, req->why);
		}
		http_request_clear(req);
		free(req);
		if (rc == HTTP_PARSE_MORE)
			return false;
	}
	return false;
}

/* A response body at least this large gives its pages back when it is
 * released: a /status of tens of thousands of routes is several MiB, and
 * once malloc has raised its mmap threshold it comes from the heap, whose
 * freed pages would otherwise stay resident behind longer-lived blocks. */
#define BODY_TRIM_BYTES (1u << 20)

static void body_release(struct http_conn *c)
{
	bool large = c->body_len >= BODY_TRIM_BYTES;
	c->srv->held -= c->body_len;
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_off = 0;
#ifdef __GLIBC__
	if (large)
		malloc_trim(0);
#else
	(void)large;
#endif
}

/* Send what is pending until done or the socket is full; -1 when the
 * connection is broken. */
static int conn_flush(struct http_conn *c)
{
	while (out_pending(c)) {
		struct iovec iov[2];
		struct msghdr msg = { .msg_iov = iov };
		size_t head_left = c->out_len - c->out_off;
		ssize_t n;

		if (head_left)
			iov[msg.msg_iovlen++] = (struct iovec){ c->out + c->out_off, head_left };
		if (c->body_off < c->body_len)
			iov[msg.msg_iovlen++] =
				(struct iovec){ c->body + c->body_off, c->body_len - c->body_off };
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		size_t done = (size_t)n, h = done < head_left ? done : head_left;
		c->out_off += h;
		c->body_off += done - h;
		ev_timer_again(c->srv->loop, &c->timer);
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_cap = c->out_off = 0;
	body_release(c);
	return 0;
}

/* One read; -1 when the connection is to be closed. */
static int conn_read(struct http_conn *c)
{
	ssize_t n;

	if (c->state == CONN_LINGER) {
		/* Drop up to 64 KiB per wake-up, to reach the client's close
		 * soon without starving the loop. */
		uint8_t sink[4096];
		for (int i = 0; i < 16; i++) {
			n = recv(c->fd, sink, sizeof(sink), 0);
			if (n > 0)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return 0;
			return -1;
		}
		return 0;
	}
	if (!c->in)
		c->in = xmalloc(HTTP_HEAD_MAX);
	if (c->in_off) {
		memmove(c->in, c->in + c->in_off, c->in_len);
		c->in_off = 0;
	}
	if (c->in_len == HTTP_HEAD_MAX)
		return 0; /* not watched for reading then; see conn_update() */
	n = recv(c->fd, c->in + c->in_len, HTTP_HEAD_MAX - c->in_len, 0);
	if (n > 0) {
		c->in_len += (size_t)n;
		ev_timer_again(c->srv->loop, &c->timer);
		return 0;
	}
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
}

/* After each event: close, linger, or watch for what comes next. */
static void conn_update(struct http_conn *c)
{
	bool pending = out_pending(c);
	int events = 0;

	if (!pending) {
		if (c->eof) {
			conn_close(c, "closed by client");
			return;
		}
		if (c->close_after && c->state != CONN_LINGER) {
			shutdown(c->fd, SHUT_WR);
			c->in_off = c->in_len = 0;
			conn_set_state(c, CONN_LINGER);
		}
		if (c->state != CONN_BODY && c->in_len == 0) {
			/* Between requests: hold no buffer. */
			free(c->in);
			c->in = NULL;
			c->in_off = 0;
		}
	}
	if (pending)
		events |= EV_WRITE;
	switch (c->state) {
	case CONN_HEAD:
		if (!pending && !c->eof && c->in_len < HTTP_HEAD_MAX)
			events |= EV_READ;
		break;
	case CONN_BODY:
		if (!c->eof)
			events |= EV_READ;
		break;
	case CONN_LINGER:
		events |= EV_READ;
		break;
	}
	/* The request timer runs from a request's first byte until it is
	 * complete (or its answer is what we wait for). */
	bool receiving = !pending && (c->state == CONN_BODY ||
				      (c->state == CONN_HEAD && c->in_len));
	if (receiving && !ev_is_active(&c->deadline)) {
		ev_timer_set(&c->deadline, HTTP_REQUEST_TIMEOUT, 0.0);
		ev_timer_start(c->srv->loop, &c->deadline);
	} else if (!receiving && ev_is_active(&c->deadline)) {
		ev_timer_stop(c->srv->loop, &c->deadline);
	}
	if (events != c->events) {
		ev_io_stop(c->srv->loop, &c->io);
		ev_io_set(&c->io, c->fd, events);
		c->events = events;
		if (events)
			ev_io_start(c->srv->loop, &c->io);
	}
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_conn *c = w->data;

	if ((revents & EV_WRITE) && conn_flush(c) < 0) {
		conn_close(c, "write failed");
		return;
	}
	if ((revents & EV_READ) && conn_read(c) < 0) {
		conn_close(c, c->state == CONN_LINGER ? "done" : "read failed");
		return;
	}
	/* Pipelined requests: one response at a time, for as long as each
	 * leaves at once. */
	for (;;) {
		bool blocked = conn_process(c);
		if (conn_flush(c) < 0) {
			conn_close(c, "write failed");
			return;
		}
		if (!blocked || out_pending(c))
			break;
	}
	conn_update(c);
}

static void on_conn_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_conn *c = w->data;

	conn_close(c, c->state == CONN_LINGER ? "done" : "idle timeout");
}

/* A request not complete in time: 408 (RFC 9110 §15.5.9) and close. */
static void on_conn_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_conn *c = w->data;
	char why[80];

	if (c->req) {
		http_request_clear(c->req);
		free(c->req);
		c->req = NULL;
	}
	c->body_left = 0;
	conn_set_state(c, CONN_HEAD);
	snprintf(why, sizeof(why), "request not complete within %gs of its first byte",
		 HTTP_REQUEST_TIMEOUT);
	conn_reject(c, 408, why);
	if (conn_flush(c) < 0) {
		conn_close(c, "write failed");
		return;
	}
	conn_update(c);
}

static void conn_close(struct http_conn *c, const char *reason)
{
	struct http_server *srv = c->srv;

	log_debug("http connection closed", "peer", c->peer, "state",
		  conn_state_name[c->state], "reason", reason, NULL);
	ev_io_stop(srv->loop, &c->io);
	ev_timer_stop(srv->loop, &c->timer);
	ev_timer_stop(srv->loop, &c->deadline);
	close(c->fd);
	free(c->in);
	free(c->out);
	body_release(c);
	if (c->req) {
		http_request_clear(c->req);
		free(c->req);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	free(c);
	listener_update(srv);
}

/* "addr:port" (or "[addr]:port") into out, the address alone into addr. */
static void format_peer(const struct sockaddr_storage *ss, char *out, size_t size,
			char addr[INET6_ADDRSTRLEN])
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, addr, INET6_ADDRSTRLEN);
		snprintf(out, size, "%s:%u", addr, ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		/* IPv4 clients of a dual-stack socket, as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], addr, INET6_ADDRSTRLEN);
			snprintf(out, size, "%s:%u", addr, ntohs(a->sin6_port));
		} else {
			inet_ntop(AF_INET6, &a->sin6_addr, addr, INET6_ADDRSTRLEN);
			snprintf(out, size, "[%s]:%u", addr, ntohs(a->sin6_port));
		}
	} else {
		snprintf(addr, INET6_ADDRSTRLEN, "local");
		snprintf(out, size, "local");
	}
}

/* Room for one more connection from addr: at a limit, the oldest
 * connection of that address (or of all) gives its place up. */
static void make_room(struct http_server *srv, const char *addr)
{
	size_t same = 0;

	for (struct http_conn *c = srv->conns; c; c = c->next)
		same += strcmp(c->addr, addr) == 0;
	if (same >= HTTP_MAX_PER_CLIENT) {
		evict_note(srv, "connections per client");
		conn_close(oldest_conn(srv, addr, false, NULL),
			   "evicted: a newer connection from the same client");
	} else if (srv->n_conns >= HTTP_MAX_CONNECTIONS) {
		evict_note(srv, "connections");
		conn_close(oldest_conn(srv, NULL, false, NULL),
			   "evicted: a newer connection");
	}
}

static void conn_new(struct http_server *srv, int fd, const struct sockaddr_storage *ss)
{
	struct http_conn *c = xcalloc(1, sizeof(*c));
	int one = 1;

	/* Each response leaves in one sendmsg(); Nagle would only hold back
	 * the next pipelined one until an ACK. Fails harmlessly off TCP. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	format_peer(ss, c->peer, sizeof(c->peer), c->addr);
	make_room(srv, c->addr);
	c->srv = srv;
	c->fd = fd;
	c->since = ev_now(srv->loop);
	ev_io_init(&c->io, on_conn_io, fd, EV_READ);
	c->io.data = c;
	c->events = EV_READ;
	ev_io_start(srv->loop, &c->io);
	ev_init(&c->timer, on_conn_timer);
	c->timer.data = c;
	c->timer.repeat = HTTP_IDLE_TIMEOUT;
	ev_timer_again(srv->loop, &c->timer);
	ev_init(&c->deadline, on_conn_deadline);
	c->deadline.data = c;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	log_debug("http connection opened", "peer", c->peer, NULL);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_server *srv = w->data;

	for (int i = 0; i < HTTP_ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd;

		memset(&ss, 0, sizeof(ss));
		fd = accept4(srv->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_new(srv, fd, &ss);
			continue;
		}
		switch (errno) {
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
			return;
		/* The connection failed before we took it (accept(2), Linux). */
		case EINTR: case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT:
		case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
		case EPERM:
			continue;
		default: {
			/* Out of descriptors or memory: the listening socket stays
			 * readable, so pause instead of spinning on it. */
			char retry[16];
			snprintf(retry, sizeof(retry), "%gs", HTTP_ACCEPT_RETRY);
			log_warn("http server cannot accept connections", "error", strerror(errno),
				 "retry_in", retry, NULL);
			ev_timer_set(&srv->retry, HTTP_ACCEPT_RETRY, 0.0);
			ev_timer_start(srv->loop, &srv->retry);
			break;
		}
		}
		break;
	}
	listener_update(srv);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	listener_update(w->data);
}

struct http_server *http_server_new(struct ev_loop *loop)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));

	srv->loop = loop;
	srv->fd = -1;
	ev_init(&srv->io, on_accept);
	srv->io.data = srv;
	ev_init(&srv->retry, on_retry);
	srv->retry.data = srv;
	return srv;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_close(srv->conns, "server stopped");
	ev_io_stop(srv->loop, &srv->io);
	ev_timer_stop(srv->loop, &srv->retry);
	if (srv->fd >= 0)
		close(srv->fd);
	for (size_t i = 0; i < srv->n_routes; i++) {
		free(srv->routes[i].method);
		free(srv->routes[i].path);
	}
	free(srv->routes);
	free(srv);
}

int http_server_route(struct http_server *srv, const char *method, const char *path,
		      http_handler_fn *fn, void *arg)
{
	if (!method || !*method || !path || path[0] != '/' || !fn)
		return -1;
	for (size_t i = 0; i < srv->n_routes; i++)
		if (strcmp(srv->routes[i].method, method) == 0 &&
		    strcmp(srv->routes[i].path, path) == 0)
			return -1;
	struct http_route *r = VEC_PUSH(srv->routes, srv->n_routes);
	r->method = xstrdup(method);
	r->path = xstrdup(path);
	r->fn = fn;
	r->arg = arg;
	return 0;
}

int http_server_adopt(struct http_server *srv, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int flags = fcntl(fd, F_GETFL);

	if (srv->fd < 0 || flags < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	conn_new(srv, fd, &ss);
	listener_update(srv);
	return 0;
}

/*
 * Parse "IPV4:PORT", "[IPV6]:PORT" or ":PORT".  On error -1 and *why says
 * what is wrong (malloc'd).
 */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sslen,
			bool *any, char **why)
{
	const char *colon, *portstr;
	char *host;
	bool v6 = false;

	memset(ss, 0, sizeof(*ss));
	*any = false;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			*why = xstrdup("expected [IPV6]:PORT, e.g. [::1]:7472");
			return -1;
		}
		host = xstrndup(s + 1, (size_t)(close - s - 1));
		portstr = close + 2;
		v6 = true;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = xstrdup("no port; expected IPV4:PORT, [IPV6]:PORT or :PORT, "
				       "e.g. 127.0.0.1:7472, [::1]:7472 or :7472");
			return -1;
		}
		host = xstrndup(s, (size_t)(colon - s));
		portstr = colon + 1;
		if (strchr(host, ':')) {
			*why = xasprintf("IPv6 addresses go in brackets, e.g. [%s]:PORT", host);
			free(host);
			return -1;
		}
	}

	char *end;
	errno = 0;
	unsigned long port = strtoul(portstr, &end, 10);
	if (!*portstr || *end || errno || port > 65535 || portstr[0] < '0' || portstr[0] > '9') {
		*why = xasprintf("port \"%s\" is not a number from 0 to 65535", portstr);
		free(host);
		return -1;
	}

	if (!v6 && !*host) {
		/* ":PORT": every address; the caller falls back to IPv4 when the
		 * kernel has no IPv6. */
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_any;
		a6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*a6);
		*any = true;
	} else if (!v6) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
			*why = xasprintf("\"%s\" is not a numeric IPv4 address "
					 "(IPv6 addresses go in brackets, e.g. [::1]:7472)", host);
			free(host);
			return -1;
		}
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*a4);
	} else {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		char *zone = strchr(host, '%');
		if (zone) {
			*zone++ = '\0';
			a6->sin6_scope_id = if_nametoindex(zone);
			if (!a6->sin6_scope_id) {
				*why = xasprintf("no network interface \"%s\"", zone);
				free(host);
				return -1;
			}
		}
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
			*why = xasprintf("\"%s\" is not an IPv6 address", host);
			free(host);
			return -1;
		}
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*a6);
	}
	free(host);
	return 0;
}

int http_listen_with_host(const char *listen, const char *host, char **out, char **why)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	bool any;
	size_t len = strlen(host);
	bool bracketed = len >= 2 && host[0] == '[' && host[len - 1] == ']';
	char *addr = bracketed ? xstrndup(host + 1, len - 2) : xstrdup(host);
	char *zone = strchr(addr, '%');
	struct in6_addr a;
	bool v4 = false;

	*out = NULL;
	*why = NULL;
	if (zone)
		*zone = '\0';
	if (!bracketed && !zone && inet_pton(AF_INET, addr, &a) == 1) {
		v4 = true;
	} else if (inet_pton(AF_INET6, addr, &a) != 1) {
		const char *colon = strchr(host, ':');
		struct in_addr a4;
		char *before = colon ? xstrndup(host, (size_t)(colon - host)) : NULL;
		/* "[IPV6]:PORT" or "IPV4:PORT": an address with a port. */
		bool has_port = (host[0] == '[' && strstr(host, "]:")) ||
				(before && !strchr(colon + 1, ':') &&
				 inet_pton(AF_INET, before, &a4) == 1);
		free(before);
		if (bracketed && inet_pton(AF_INET, addr, &a) == 1)
			*why = xasprintf("\"%s\": brackets are for IPv6 addresses; write %s", host,
					 addr);
		else if (has_port)
			*why = xasprintf("\"%s\" has a port; give the address alone (the port "
					 "is --metrics-listen's, e.g. :7473)",
					 host);
		else
			*why = xasprintf("\"%s\" is not a numeric IPv4 or IPv6 address (names are "
					 "not resolved; e.g. 192.0.2.1, 2001:db8::1 or [2001:db8::1])",
					 host);
		free(addr);
		return -1;
	}
	if (zone)
		*zone = '%';
	if (parse_listen(listen, &ss, &sslen, &any, why) < 0) {
		char *w = xasprintf("--metrics-listen \"%s\": %s", listen, *why);
		free(*why);
		*why = w;
		free(addr);
		return -1;
	}
	unsigned port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
						  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	*out = v4 ? xasprintf("%s:%u", addr, port) : xasprintf("[%s]:%u", addr, port);
	free(addr);
	/* A zone names an interface: checked as the listener will be. */
	if (parse_listen(*out, &ss, &sslen, &any, why) < 0) {
		char *w = xasprintf("\"%s\": %s", host, *why);
		free(*why);
		*why = w;
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* A listening, non-blocking socket; -1 with errno set on failure. */
static int open_listener(const struct sockaddr_storage *ss, socklen_t sslen, uint16_t *port)
{
	int fd, one = 1, zero = 0;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* One socket for both families on [::], whatever the sysctl default. */
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)ss, sslen) < 0 ||
	    listen(fd, HTTP_LISTEN_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) < 0)
		goto fail;
	if (bound.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	else
		*port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	return fd;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static int fail(char **err, const char *listen, const char *why)
{
	if (err)
		*err = xasprintf("cannot listen on %s: %s", listen, why);
	return -1;
}

int http_server_start(struct http_server *srv, const char *listen, char **err)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	bool any;
	char *why = NULL;
	int fd;
	uint16_t port = 0;

	if (err)
		*err = NULL;
	if (srv->fd >= 0)
		return fail(err, listen, "the server is already listening");
	if (parse_listen(listen, &ss, &sslen, &any, &why) < 0) {
		int rc = fail(err, listen, why);
		free(why);
		return rc;
	}
	fd = open_listener(&ss, sslen, &port);
	if (fd < 0 && any && errno == EAFNOSUPPORT) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		uint16_t p = ((struct sockaddr_in6 *)&ss)->sin6_port;
		memset(&ss, 0, sizeof(ss));
		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(INADDR_ANY);
		a4->sin_port = p;
		fd = open_listener(&ss, sizeof(*a4), &port);
	}
	if (fd < 0)
		return fail(err, listen, strerror(errno));
	srv->fd = fd;
	srv->port = port;
	ev_io_set(&srv->io, fd, EV_READ);
	listener_update(srv);
	return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
	return srv->fd >= 0 ? srv->port : 0;
}
