/*
 * The API client's HTTP/1.1 response decoder (k8s_http1.c) and query
 * escaping: responses by length, in chunks (with extensions and trailers)
 * and up to the end of the connection, interim 1xx answers, Retry-After
 * and Connection: close, every response also fed one byte at a time (the
 * result must not depend on how the bytes arrive), and what is refused,
 * with the reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_http.h"
#include "k8s/k8s_http1.h"

struct result {
	int heads;
	long status;
	char retry_after[64];
	bool close;
	char body[4096];
	size_t body_len;
	enum k8s_h1_event end;     /* DONE, ERROR, or MORE when it wants more */
	const char *error;
	size_t left_over;          /* bytes after the end of the response */
};

/* Feed text in pieces of `step` bytes (0: all at once); eof: then the end
 * of the connection. */
static void decode(const char *text, size_t step, bool eof, struct result *res)
{
	struct k8s_h1 *d = malloc(sizeof(*d));
	k8s_h1_init(d);
	memset(res, 0, sizeof(*res));
	size_t n = strlen(text), off = 0;
	res->end = K8S_H1_MORE;
	while (off < n && res->end == K8S_H1_MORE) {
		size_t piece = step && step < n - off ? step : n - off;
		const char *p = text + off;
		off += piece;
		while (piece) {
			size_t used, len;
			const char *data;
			enum k8s_h1_event ev = k8s_h1_feed(d, p, piece, &used, &data, &len);
			assert_true(used <= piece);
			p += used;
			piece -= used;
			if (ev == K8S_H1_HEAD) {
				res->heads++;
				res->status = d->status;
				strcpy(res->retry_after, d->retry_after);
			} else if (ev == K8S_H1_DATA) {
				assert_true(len > 0 && data >= text && data + len <= text + n);
				assert_true(res->body_len + len < sizeof(res->body));
				memcpy(res->body + res->body_len, data, len);
				res->body_len += len;
			} else if (ev == K8S_H1_MORE) {
				assert_int_equal(piece, 0);
			} else {
				res->end = ev;
				res->left_over = piece + (n - off);
				break;
			}
		}
	}
	if (res->end == K8S_H1_MORE) {
		/* a zero-length body ends without more input */
		size_t used, len;
		const char *data;
		enum k8s_h1_event ev = k8s_h1_feed(d, "", 0, &used, &data, &len);
		if (ev == K8S_H1_DONE || ev == K8S_H1_ERROR)
			res->end = ev;
	}
	if (res->end == K8S_H1_MORE && eof)
		res->end = k8s_h1_eof(d);
	res->close = d->close;
	res->error = d->error;
	free(d);
}

/* Decoded whole and byte by byte, the same. */
static void both(const char *text, bool eof, struct result *res)
{
	struct result one;
	decode(text, 1, eof, &one);
	decode(text, 0, eof, res);
	assert_int_equal(one.end, res->end);
	assert_int_equal(one.status, res->status);
	assert_int_equal(one.heads, res->heads);
	assert_int_equal(one.body_len, res->body_len);
	assert_memory_equal(one.body, res->body, res->body_len);
	assert_string_equal(one.retry_after, res->retry_after);
	assert_int_equal(one.close, res->close);
}

static void test_content_length(void **state)
{
	(void)state;
	struct result r;
	both("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
	     "{\"a\":1}", false, &r);
	assert_int_equal(r.end, K8S_H1_DONE);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.heads, 1);
	assert_int_equal(r.body_len, 7);
	assert_memory_equal(r.body, "{\"a\":1}", 7);
	assert_false(r.close);
	assert_string_equal(r.retry_after, "");

	/* no body: 204, or a length of 0 */
	both("HTTP/1.1 204 No Content\r\n\r\n", false, &r);
	assert_int_equal(r.end, K8S_H1_DONE);
	assert_int_equal(r.body_len, 0);
	both("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", false, &r);
	assert_int_equal(r.end, K8S_H1_DONE);
	assert_int_equal(r.status, 404);

	/* the same length twice is fine, bare LF line ends too */
	both("HTTP/1.1 200 OK\nContent-Length: 2\nContent-Length:  2 \n\nok", false, &r);
	assert_int_equal(r.end, K8S_H1_DONE);
	assert_memory_equal(r.body, "ok", 2);

	/* a short body is not complete: more is wanted, and the end of the
	 * connection is an error */
	decode("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, false, &r);
	assert_int_equal(r.end, K8S_H1_MORE);
	both("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, &r);
	assert_int_equal(r.end, K8S_H1_ERROR);
	assert_string_equal(r.error, "the connection closed before the end of the body");

	/* bytes after the body are left for the caller */
	decode("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1", 0, false, &r);
	assert_int_equal(r.end, K8S_H1_DONE);
	assert_int_equal(r.left_over, 8);
}

static void test_chunked(void **state)
{
	(void)state;
	struct result r;
	both("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "5\r\nhello\r\n1;name=value\r\n \r\nA \r\n0123456789\r\n0\r\n"
	     "X-Trailer: t\r\n\r\n", false, &r);
	assert_int_equal(r.end, K8S_H1_DONE);
	assert_int_equal(r.body_len, 16);
	assert_memory_equal(r.body, "hello 0123456789", 16);
	assert_false(r.close);

	/* a watch: chunks as events come, the stream cut in the middle */
	both("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "4\r\n{}\r\n\r\n4\r\n{}", true, &r);
	assert_int_equal(r.end, K8S_H1_ERROR);
	assert_int_equal(r.body_len, 6);
	assert_string_equal(r.error, "the connection closed before the end of the body");

	/* chunked beside a length: chunked wins, the connection is not reused */
	both("HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "2\r\nok\r\n0\r\n\r\n", false, &r);
	assert_int_equal(r.end, K8S_H1_DONE);
	assert_int_equal(r.body_len, 2);
	assert_true(r.close);
}

static void test_until_close_and_connection(void **state)
{
	(void)state;
	struct result r;
	/* no length: the body runs to the end of the connection */
	both("HTTP/1.1 200 OK\r\n\r\nall of it", true, &r);
	assert_int_equal(r.end, K8S_H1_DONE);
	assert_int_equal(r.body_len, 9);
	assert_true(r.close);

	both("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
	     false, &r);
	assert_true(r.close);
	/* HTTP/1.0 closes unless it says keep-alive */
	both("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, &r);
	assert_true(r.close);
	both("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", false, &r);
	assert_false(r.close);
}

static void test_interim_and_retry_after(void **state)
{
	(void)state;
	struct result r;
	both("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
	     "HTTP/1.1 429 Too Many Requests\r\nRetry-After:  3 \r\nContent-Length: 2\r\n\r\n{}",
	     false, &r);
	assert_int_equal(r.end, K8S_H1_DONE);
	assert_int_equal(r.heads, 1);
	assert_int_equal(r.status, 429);
	assert_string_equal(r.retry_after, "3");

	both("HTTP/1.1 503 Service Unavailable\r\nretry-after: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
	     "Content-Length: 0\r\n\r\n", false, &r);
	assert_string_equal(r.retry_after, "Wed, 21 Oct 2015 07:28:00 GMT");
}

static void refused(const char *text, const char *why)
{
	struct result r;
	both(text, true, &r);
	assert_int_equal(r.end, K8S_H1_ERROR);
	assert_non_null(r.error);
	assert_string_equal(r.error, why);
}

static void test_refused(void **state)
{
	(void)state;
	refused("", "the connection closed before a response");
	refused("HTTP/1.1 200 OK\r\nContent-Len", "the connection closed inside the response head");
	refused("SSH-2.0-OpenSSH_9.2\r\n", "the status line is not HTTP/1.x NNN");
	refused("HTTP/2 200\r\n\r\n", "the status line is not HTTP/1.x NNN");
	refused("HTTP/1.1 20 OK\r\n\r\n", "the status line is not HTTP/1.x NNN");
	refused("HTTP/1.1 200OK\r\n\r\n", "the status line is not HTTP/1.x NNN");
	refused("HTTP/1.1 099 Low\r\n\r\n", "the status code is below 100");
	refused("HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"101 Switching Protocols, which was not asked for");
	refused("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
		"a folded header line (obsolete line folding)");
	refused("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "a header line without a name and a colon");
	refused("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"a header name with a blank or a control character");
	refused("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
		"a Content-Length that is not a number");
	refused("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"a Content-Length that is not a number");
	refused("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "an empty Content-Length");
	refused("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		"a Content-Length too large");
	refused("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"two different Content-Length headers");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"a Transfer-Encoding other than chunked");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"a chunk size that is not hexadecimal");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n",
		"a chunk size followed by something other than an extension");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n123456789abcdef01\r\n",
		"a chunk size too large");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
		"a chunk longer than its size");

	/* limits: a line of 8 KiB, a head of 64 KiB */
	char *big = malloc(K8S_H1_HEAD_MAX + 200);
	strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
	size_t n = strlen(big);
	memset(big + n, 'a', K8S_H1_LINE_MAX);
	strcpy(big + n + K8S_H1_LINE_MAX, "\r\n\r\n");
	refused(big, "a line longer than 8 KiB");
	strcpy(big, "HTTP/1.1 200 OK\r\n");
	n = strlen(big);
	while (n < K8S_H1_HEAD_MAX + 100) {
		strcpy(big + n, "X-Filler: 0123456789012345678901234567890123456789\r\n");
		n += strlen(big + n);
	}
	strcpy(big + n, "\r\n");
	refused(big, "a response head larger than 64 KiB");
	free(big);
}

static void test_escape(void **state)
{
	(void)state;
	char *s = k8s_http_escape("app=web,tier in (a b)/~x_y.z-1");
	assert_string_equal(s, "app%3Dweb%2Ctier%20in%20%28a%20b%29%2F~x_y.z-1");
	free(s);
	s = k8s_http_escape("");
	assert_string_equal(s, "");
	free(s);
	s = k8s_http_escape("\xc3\xa9&%+");
	assert_string_equal(s, "%C3%A9%26%25%2B");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_until_close_and_connection),
		cmocka_unit_test(test_interim_and_retry_after),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
