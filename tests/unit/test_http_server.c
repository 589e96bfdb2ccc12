/*
 * Tests for src/http/server.c: a server on an ephemeral loopback port in a
 * libev loop, and a blocking socket client in the same process.  The client
 * sends its request whole (the kernel completes the TCP handshake without
 * the server), then turns the loop with EVRUN_NOWAIT and reads without
 * blocking until the response is complete or a deadline passes.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_skip.h"

#include "base/util.h"
#include "base/metrics.h"
#include "http/request.h"
#include "http/server.h"

#define DEADLINE_SECONDS 5.0

struct reply {
	int status;
	char *head; /* status line and headers */
	char *body;
	size_t body_len;
};

struct fixture {
	struct ev_loop *loop;
	struct http_server *srv;
	struct metrics_registry *reg;
	uint16_t port;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reply_free(struct reply *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* The value of a response header, or NULL; caller frees. */
static char *reply_header(const struct reply *r, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(r->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
			const char *v = p + 3 + n;
			while (*v == ' ')
				v++;
			return xstrndup(v, strcspn(v, "\r\n"));
		}
	}
	return NULL;
}

static int connect_to(int family, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;

	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	}
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		fail_msg("connect to port %u: %s", port, strerror(errno));
	return fd;
}

static void send_all(int fd, const char *req)
{
	size_t len = strlen(req), off = 0;
	while (off < len) {
		ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n < 0)
			fail_msg("send: %s", strerror(errno));
		off += (size_t)n;
	}
}

/* Whether buf holds a whole response: headers, then Content-Length bytes
 * of body (none for HEAD), or without that header all bytes up to EOF. */
static bool parse_reply(const char *buf, size_t len, bool eof, bool head_request,
			struct reply *r)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		return false;
	size_t head_len = (size_t)(end - buf) + 2;
	size_t body_off = head_len + 2;
	size_t want;

	r->head = xstrndup(buf, head_len);
	char *cl = reply_header(r, "Content-Length");
	if (head_request)
		want = 0;
	else if (cl)
		want = strtoul(cl, NULL, 10);
	else
		want = eof ? len - body_off : SIZE_MAX;
	free(cl);
	if (want == SIZE_MAX || len - body_off < want) {
		free(r->head);
		r->head = NULL;
		return false;
	}
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		fail_msg("bad status line in \"%s\"", r->head);
	r->body = xmalloc(want + 1);
	memcpy(r->body, buf + body_off, want);
	r->body[want] = '\0';
	r->body_len = want;
	return true;
}

/* Send a request on fd and turn the loop until its response has come. */
static void exchange(struct ev_loop *loop, int fd, const char *req, struct reply *r)
{
	bool head_request = strncmp(req, "HEAD ", 5) == 0;
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	bool eof = false;
	double deadline = now() + DEADLINE_SECONDS;

	memset(r, 0, sizeof(*r));
	send_all(fd, req);
	for (;;) {
		if (parse_reply(buf, len, eof, head_request, r))
			break;
		if (eof)
			fail_msg("connection closed after %zu bytes: %.*s", len, (int)len, buf);
		if (now() > deadline)
			fail_msg("no complete response in %.0f s (%zu bytes)", DEADLINE_SECONDS,
				 len);
		ev_run(loop, EVRUN_NOWAIT);
		if (len == cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n > 0)
			len += (size_t)n;
		else if (n == 0)
			eof = true;
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			fail_msg("recv: %s", strerror(errno));
	}
	free(buf);
}

/* One request on a fresh connection that the server closes afterwards. */
static void request(struct fixture *fx, int family, const char *method, const char *target,
		    struct reply *r)
{
	int fd = connect_to(family, fx->port);
	char *req = xasprintf("%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", method,
			      target);
	exchange(fx->loop, fd, req, r);
	free(req);
	close(fd);
}

static void metrics_handler(const struct http_request *req, struct http_response *resp,
			    void *arg)
{
	resp->content_type = METRICS_CONTENT_TYPE;
	metrics_render(arg, &resp->body, &resp->body_len);
}

static void healthz_handler(const struct http_request *req, struct http_response *resp,
			    void *arg)
{
	const bool *healthy = arg;
	if (*healthy)
		http_response_printf(resp, 200, "ok\n");
	else
		http_response_printf(resp, 503, "not ready\n");
}

/* Echoes what a handler sees of the request, as JSON. */
static void status_handler(const struct http_request *req, struct http_response *resp,
			   void *arg)
{
	const char *keys[] = { "format", "verbose", "name", "missing" };
	const char *agent = http_request_header(req, "user-agent");
	char *s = xasprintf("{\"method\":\"%s\",\"path\":\"%s\",\"agent\":\"%s\"",
			    http_request_method(req), http_request_path(req),
			    agent ? agent : "(none)");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *v = http_request_query(req, keys[i]);
		char *t = v ? xasprintf("%s,\"%s\":\"%s\"", s, keys[i], v)
			    : xasprintf("%s,\"%s\":null", s, keys[i]);
		free(s);
		s = t;
	}
	char *t = xasprintf("%s}\n", s);
	free(s);
	resp->content_type = HTTP_APPLICATION_JSON;
	resp->body = t;
	resp->body_len = strlen(t);
}

enum { BIG_LEN = 4 << 20 };

/* A body far larger than the socket buffers: sent across many writes. */
static void big_handler(const struct http_request *req, struct http_response *resp, void *arg)
{
	resp->body = xmalloc(BIG_LEN);
	for (size_t i = 0; i < BIG_LEN; i++)
		resp->body[i] = (char)('a' + i % 26);
	resp->body_len = BIG_LEN;
	resp->content_type = "application/octet-stream";
}

static void bad_status_handler(const struct http_request *req, struct http_response *resp,
			       void *arg)
{
	resp->status = 42;
}

static bool healthy = true;

static int setup_at(void **state, const char *listen)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	char *err = NULL;

	fx->loop = ev_loop_new(EVFLAG_AUTO);
	fx->srv = http_server_new(fx->loop);
	fx->reg = metrics_registry_new();
	struct metrics_family *f = metrics_family_add(fx->reg, "metallb_bgp_session_up",
						      "BGP session state", METRICS_GAUGE,
						      (const char *const[]){ "peer", NULL });
	metrics_set(f, (const char *const[]){ "192.0.2.1:179" }, 1);

	assert_int_equal(http_server_port(fx->srv), 0);
	const struct {
		const char *method, *path;
		http_handler_fn *fn;
		void *arg;
	} routes[] = {
		{ "GET", "/metrics", metrics_handler, fx->reg },
		{ "GET", "/healthz", healthz_handler, &healthy },
		{ "GET", "/status", status_handler, NULL },
		{ "POST", "/status", status_handler, NULL },
		{ "PUT", "/put-only", status_handler, NULL },
		{ "GET", "/big", big_handler, NULL },
		{ "GET", "/bad", bad_status_handler, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++)
		assert_int_equal(http_server_route(fx->srv, routes[i].method, routes[i].path,
						   routes[i].fn, routes[i].arg),
				 0);
	if (http_server_start(fx->srv, listen, &err) < 0)
		fail_msg("%s", err);
	assert_null(err);
	fx->port = http_server_port(fx->srv);
	assert_int_not_equal(fx->port, 0);
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return setup_at(state, "127.0.0.1:0");
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	http_server_free(fx->srv);
	metrics_registry_free(fx->reg);
	ev_loop_destroy(fx->loop);
	free(fx);
	return 0;
}

static void test_routes(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *method;
		const char *target;
		int status;
		const char *content_type;
		const char *body; /* NULL: not compared */
		const char *allow;
	} rows[] = {
		{ "GET", "/metrics", 200, METRICS_CONTENT_TYPE,
		  "# HELP metallb_bgp_session_up BGP session state\n"
		  "# TYPE metallb_bgp_session_up gauge\n"
		  "metallb_bgp_session_up{peer=\"192.0.2.1:179\"} 1\n", NULL },
		{ "GET", "/healthz", 200, HTTP_TEXT_PLAIN, "ok\n", NULL },
		{ "HEAD", "/healthz", 200, HTTP_TEXT_PLAIN, "", NULL },
		{ "GET", "/nope", 404, HTTP_TEXT_PLAIN, "not found: /nope\n", NULL },
		{ "GET", "/metrics/", 404, HTTP_TEXT_PLAIN, NULL, NULL },
		{ "GET", "/", 404, HTTP_TEXT_PLAIN, NULL, NULL },
		{ "POST", "/metrics", 405, HTTP_TEXT_PLAIN,
		  "method POST not allowed for /metrics (allowed: GET, HEAD)\n", "GET, HEAD" },
		{ "DELETE", "/status", 405, HTTP_TEXT_PLAIN, NULL, "GET, POST, HEAD" },
		{ "GET", "/put-only", 405, HTTP_TEXT_PLAIN, NULL, "PUT" },
		{ "POST", "/status", 200, HTTP_APPLICATION_JSON,
		  "{\"method\":\"POST\",\"path\":\"/status\",\"agent\":\"(none)\",\"format\":null,"
		  "\"verbose\":null,\"name\":null,\"missing\":null}\n", NULL },
		{ "GET", "/status?format=json&verbose&name=a%20b%2Fc", 200, HTTP_APPLICATION_JSON,
		  "{\"method\":\"GET\",\"path\":\"/status\",\"agent\":\"(none)\","
		  "\"format\":\"json\",\"verbose\":\"\",\"name\":\"a b/c\",\"missing\":null}\n",
		  NULL },
		{ "GET", "/bad", 500, HTTP_TEXT_PLAIN, "handler for GET /bad set status 42\n",
		  NULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct reply r;
		request(fx, AF_INET, rows[i].method, rows[i].target, &r);
		char *ct = reply_header(&r, "Content-Type");
		char *allow = reply_header(&r, "Allow");
		if (r.status != rows[i].status)
			fail_msg("row %zu %s %s: status %d, want %d", i, rows[i].method,
				 rows[i].target, r.status, rows[i].status);
		if (!ct || strcmp(ct, rows[i].content_type) != 0)
			fail_msg("row %zu: Content-Type %s", i, ct ? ct : "(none)");
		if (rows[i].body && strcmp(r.body, rows[i].body) != 0)
			fail_msg("row %zu: body \"%s\", want \"%s\"", i, r.body, rows[i].body);
		if ((allow == NULL) != (rows[i].allow == NULL) ||
		    (allow && strcmp(allow, rows[i].allow) != 0))
			fail_msg("row %zu: Allow %s, want %s", i, allow ? allow : "(none)",
				 rows[i].allow ? rows[i].allow : "(none)");
		free(ct);
		free(allow);
		reply_free(&r);
	}
}

/* A handler sees state changed between requests: nothing is cached. */
static void test_healthz_changes(void **state)
{
	struct fixture *fx = *state;
	struct reply r;

	healthy = false;
	request(fx, AF_INET, "GET", "/healthz", &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "not ready\n");
	reply_free(&r);
	healthy = true;
	request(fx, AF_INET, "GET", "/healthz", &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

static void on_idle_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* Two requests on one kept-alive connection, then an idle loop that waits
 * for its own timer instead of spinning on the server's. */
static void test_keep_alive_and_idle(void **state)
{
	struct fixture *fx = *state;
	int fd = connect_to(AF_INET, fx->port);
	struct reply r;

	exchange(fx->loop, fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nUser-Agent: t/1\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	reply_free(&r);
	exchange(fx->loop, fd, "GET /status HTTP/1.1\r\nHost: t\r\nUser-Agent: t/1\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"agent\":\"t/1\""));
	reply_free(&r);
	/* A request body is read and dropped; the connection stays usable. */
	exchange(fx->loop, fd,
		 "POST /status?format=x HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n"
		 "hello=world", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"format\":\"x\""));
	reply_free(&r);
	exchange(fx->loop, fd,
		 "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", &r);
	assert_int_equal(r.status, 405);
	reply_free(&r);

	/* With the connection open and idle, the loop blocks until a 20 ms
	 * timer: a few iterations at most, not thousands. */
	ev_timer t;
	int iterations = 0;
	ev_timer_init(&t, on_idle_timer, 0.02, 0);
	ev_timer_start(fx->loop, &t);
	while (ev_is_active(&t) && iterations < 1000) {
		ev_run(fx->loop, EVRUN_ONCE);
		iterations++;
	}
	ev_timer_stop(fx->loop, &t);
	if (iterations > 5)
		fail_msg("idle loop ran %d iterations in 20 ms", iterations);

	exchange(fx->loop, fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		 &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	close(fd);
}

static void test_big_body(void **state)
{
	struct fixture *fx = *state;
	struct reply r;

	request(fx, AF_INET, "GET", "/big", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, BIG_LEN);
	for (size_t i = 0; i < BIG_LEN; i += 4093)
		assert_int_equal(r.body[i], 'a' + i % 26);
	reply_free(&r);
}

static void test_route_errors(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(http_server_route(fx->srv, "GET", "/metrics", metrics_handler, NULL), -1);
	assert_int_equal(http_server_route(fx->srv, "GET", "metrics", metrics_handler, NULL), -1);
	assert_int_equal(http_server_route(fx->srv, "", "/x", metrics_handler, NULL), -1);
	assert_int_equal(http_server_route(fx->srv, "GET", "/x", NULL, NULL), -1);
	/* Added while serving. */
	assert_int_equal(http_server_route(fx->srv, "HEAD", "/metrics", metrics_handler, fx->reg),
			 0);
	struct reply r;
	request(fx, AF_INET, "PATCH", "/metrics", &r);
	char *allow = reply_header(&r, "Allow");
	assert_string_equal(allow, "GET, HEAD");
	free(allow);
	reply_free(&r);
}

static void test_listen_errors(void **state)
{
	struct fixture *fx = *state;
	char busy[32];
	snprintf(busy, sizeof(busy), "127.0.0.1:%u", fx->port);
	char *busy_msg = xasprintf("cannot listen on %s: Address already in use", busy);
	const struct {
		const char *listen;
		const char *err;
	} rows[] = {
		{ busy, busy_msg },
		{ "127.0.0.1", "cannot listen on 127.0.0.1: no port; expected IPV4:PORT, "
			       "[IPV6]:PORT or :PORT, e.g. 127.0.0.1:7472, [::1]:7472 or :7472" },
		{ "127.0.0.1:", "cannot listen on 127.0.0.1:: port \"\" is not a number from 0 "
				"to 65535" },
		{ "127.0.0.1:65536", "cannot listen on 127.0.0.1:65536: port \"65536\" is not a "
				     "number from 0 to 65535" },
		{ "127.0.0.1:-1", "cannot listen on 127.0.0.1:-1: port \"-1\" is not a number "
				  "from 0 to 65535" },
		{ "127.0.0.1:80x", "cannot listen on 127.0.0.1:80x: port \"80x\" is not a number "
				   "from 0 to 65535" },
		{ "localhost:7472", "cannot listen on localhost:7472: \"localhost\" is not a "
				    "numeric IPv4 address (IPv6 addresses go in brackets, e.g. "
				    "[::1]:7472)" },
		{ "300.1.1.1:7472", "cannot listen on 300.1.1.1:7472: \"300.1.1.1\" is not a "
				    "numeric IPv4 address (IPv6 addresses go in brackets, e.g. "
				    "[::1]:7472)" },
		{ "::1:7472", "cannot listen on ::1:7472: IPv6 addresses go in brackets, e.g. "
			      "[::1]:PORT" },
		{ "[::1", "cannot listen on [::1: expected [IPV6]:PORT, e.g. [::1]:7472" },
		{ "[::1]7472",
		  "cannot listen on [::1]7472: expected [IPV6]:PORT, e.g. [::1]:7472" },
		{ "[1.2.3.4]:7472", "cannot listen on [1.2.3.4]:7472: \"1.2.3.4\" is not an IPv6 "
				    "address" },
		{ "[fe80::1%no-such-if0]:7472", "cannot listen on [fe80::1%no-such-if0]:7472: no "
						"network interface \"no-such-if0\"" },
		/* TEST-NET-1: on no interface of this machine. */
		{ "192.0.2.1:7472", "cannot listen on 192.0.2.1:7472: Cannot assign requested "
				    "address" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct http_server *srv = http_server_new(fx->loop);
		char *err = NULL;
		int rc = http_server_start(srv, rows[i].listen, &err);
		if (rc != -1 || !err || strcmp(err, rows[i].err) != 0)
			fail_msg("row %zu (%s): rc %d, error \"%s\", want \"%s\"", i,
				 rows[i].listen, rc, err ? err : "(none)", rows[i].err);
		assert_int_equal(http_server_port(srv), 0);
		free(err);
		/* err may be NULL. */
		assert_int_equal(http_server_start(srv, rows[i].listen, NULL), -1);
		http_server_free(srv);
	}
	free(busy_msg);

	char *err = NULL;
	assert_int_equal(http_server_start(fx->srv, "127.0.0.1:0", &err), -1);
	assert_string_equal(err, "cannot listen on 127.0.0.1:0: the server is already listening");
	free(err);
}

static bool have_ipv6_loopback(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void test_ipv6(void **state)
{
	if (!have_ipv6_loopback())
		TEST_SKIP("no IPv6 loopback address here");
	struct fixture *fx;
	setup_at((void **)&fx, "[::1]:0");
	struct reply r;
	request(fx, AF_INET6, "GET", "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "metallb_bgp_session_up{peer=\"192.0.2.1:179\"} 1\n"));
	reply_free(&r);
	request(fx, AF_INET6, "GET", "/status?format=json", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"format\":\"json\""));
	reply_free(&r);
	teardown((void **)&fx);
}

/* ":PORT" listens on every address: reachable over IPv4 and IPv6. */
static void test_any_address(void **state)
{
	struct fixture *fx;
	setup_at((void **)&fx, ":0");
	struct reply r;
	request(fx, AF_INET, "GET", "/healthz", &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	if (have_ipv6_loopback()) {
		request(fx, AF_INET6, "GET", "/healthz", &r);
		assert_int_equal(r.status, 200);
		reply_free(&r);
	}
	teardown((void **)&fx);
}

/* A blocking client socket from a given loopback address. */
static int connect_from(const char *from, uint16_t port)
{
	struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, from, &src.sin_addr), 1);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		fail_msg("connect from %s to port %u: %s", from, port, strerror(errno));
	return fd;
}

/* Turn the loop for a while so that the server takes what is pending. */
static void spin(struct ev_loop *loop, double seconds)
{
	double until = now() + seconds;
	while (now() < until)
		ev_run(loop, EVRUN_NOWAIT);
}

/* Whether the server has closed fd (EOF or reset), without blocking. */
static bool closed_by_server(int fd)
{
	char buf[256];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			continue;
		return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
	}
}

/* A request that trickles in (one byte every 200 ms, each pushing the
 * idle timer back) is answered 408 and closed once HTTP_REQUEST_TIMEOUT
 * has passed since its first byte. */
static void test_request_deadline(void **state)
{
	struct fixture *fx = *state;
	const char *req = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: 0123456789012345678901234"
			  "567890123456789\r\n\r\n";
	int fd = connect_to(AF_INET, fx->port);
	double t0 = now(), next = t0;
	char buf[512];
	size_t len = 0, i = 0;

	for (;;) {
		if (now() >= next && req[i]) {
			assert_int_equal(send(fd, req + i++, 1, MSG_NOSIGNAL), 1);
			next += 0.2;
		}
		ev_run(fx->loop, EVRUN_NOWAIT);
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (n > 0)
			len += (size_t)n;
		if (n == 0)
			break;
		if (now() - t0 > HTTP_REQUEST_TIMEOUT + 2)
			fail_msg("no answer %.1f s after the first byte", now() - t0);
	}
	buf[len] = '\0';
	double took = now() - t0;
	assert_true(strncmp(buf, "HTTP/1.1 408 ", 13) == 0);
	assert_true(took >= HTTP_REQUEST_TIMEOUT - 0.1);
	assert_true(req[i] != '\0'); /* it was cut short, not answered */
	close(fd);
}

/* One client address holds at most HTTP_MAX_PER_CLIENT connections: its
 * next one is served and its oldest closed; other clients keep theirs. */
static void test_per_client_cap(void **state)
{
	struct fixture *fx = *state;
	int other = connect_from("127.0.0.2", fx->port);
	int fds[HTTP_MAX_PER_CLIENT];

	for (int i = 0; i < HTTP_MAX_PER_CLIENT; i++) {
		fds[i] = connect_from("127.0.0.3", fx->port);
		spin(fx->loop, 0.002);
	}
	spin(fx->loop, 0.05);
	for (int i = 0; i < HTTP_MAX_PER_CLIENT; i++)
		assert_false(closed_by_server(fds[i]));

	int fd = connect_from("127.0.0.3", fx->port);
	struct reply r;
	exchange(fx->loop, fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	spin(fx->loop, 0.05);
	assert_true(closed_by_server(fds[0]));
	for (int i = 1; i < HTTP_MAX_PER_CLIENT; i++)
		assert_false(closed_by_server(fds[i]));
	assert_false(closed_by_server(other));
	exchange(fx->loop, other, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	for (int i = 0; i < HTTP_MAX_PER_CLIENT; i++)
		close(fds[i]);
	close(fd);
	close(other);
}

/* With every slot taken by connections that say nothing, a new client is
 * still accepted and answered at once, in place of the oldest. */
static void test_full_server_evicts_oldest(void **state)
{
	struct fixture *fx = *state;
	int fds[HTTP_MAX_CONNECTIONS];

	for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
		char from[32];
		/* Spread over addresses, below the per-client cap. */
		snprintf(from, sizeof(from), "127.0.%d.%d", 10 + i / HTTP_MAX_PER_CLIENT / 200,
			 1 + i / HTTP_MAX_PER_CLIENT % 200);
		fds[i] = connect_from(from, fx->port);
		if (i % 32 == 31)
			spin(fx->loop, 0.01);
	}
	spin(fx->loop, 0.1);
	for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++)
		assert_false(closed_by_server(fds[i]));

	int fd = connect_to(AF_INET, fx->port);
	struct reply r;
	double t0 = now();
	exchange(fx->loop, fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_true(now() - t0 < 0.5);
	reply_free(&r);
	spin(fx->loop, 0.05);
	assert_true(closed_by_server(fds[0]));
	assert_false(closed_by_server(fds[HTTP_MAX_CONNECTIONS - 1]));
	for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++)
		close(fds[i]);
	close(fd);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Stopping closes the listening socket and the open connections. */
static void test_no_fd_leak(void **state)
{
	int before = count_fds();
	struct fixture *fx;

	setup_at((void **)&fx, "127.0.0.1:0");
	uint16_t port = fx->port;
	int fd = connect_to(AF_INET, port);
	struct reply r;
	exchange(fx->loop, fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	reply_free(&r);
	teardown((void **)&fx);
	close(fd);
	assert_int_equal(count_fds(), before);

	/* The port is free again. */
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct http_server *srv = http_server_new(loop);
	char *listen = xasprintf("127.0.0.1:%u", port), *err = NULL;
	if (http_server_start(srv, listen, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(http_server_port(srv), port);
	http_server_free(srv);
	http_server_free(NULL);
	ev_loop_destroy(loop);
	free(listen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_healthz_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep_alive_and_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_client_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_server_evicts_oldest, setup, teardown),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_any_address),
		cmocka_unit_test(test_no_fd_leak),
	};
	return test_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
