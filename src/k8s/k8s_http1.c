/*
 * HTTP/1.1 response decoder (see k8s_http1.h).
 *
 * A state machine over lines and body bytes.  Lines (status, headers,
 * chunk sizes, chunk ends, trailers) are gathered into d->line, so that a
 * line cut between two reads decodes as one; body bytes are never copied.
 * Errors are sticky: after one the decoder answers K8S_H1_ERROR without
 * consuming anything, and the caller closes the connection.
 */
#include "k8s/k8s_http1.h"

#include <string.h>
#include <strings.h>

enum {
	H1_STATUS,       /* the status line */
	H1_HEADER,       /* header lines up to the empty one */
	H1_BODY_LENGTH,  /* left bytes of a Content-Length body */
	H1_BODY_CLOSE,   /* body up to the end of the connection */
	H1_CHUNK_SIZE,   /* a chunk-size line */
	H1_CHUNK_DATA,   /* left bytes of a chunk */
	H1_CHUNK_END,    /* the CRLF after a chunk's data */
	H1_TRAILER,      /* trailer lines up to the empty one */
	H1_DONE,
	H1_ERROR,
};

void k8s_h1_init(struct k8s_h1 *d)
{
	memset(d, 0, sizeof(*d) - sizeof(d->line));
	d->state = H1_STATUS;
}

static enum k8s_h1_event fail(struct k8s_h1 *d, const char *why)
{
	d->state = H1_ERROR;
	d->error = why;
	return K8S_H1_ERROR;
}

/* Forget the head seen so far: a 1xx response is followed by the real one. */
static void next_head(struct k8s_h1 *d)
{
	d->status = 0;
	d->chunked = d->has_length = d->close = d->http10 = false;
	d->left = 0;
	d->retry_after[0] = '\0';
	d->state = H1_STATUS;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "HTTP/1.x NNN[ reason]" */
static enum k8s_h1_event status_line(struct k8s_h1 *d, const char *s, size_t n)
{
	if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || !is_digit(s[7]) || s[8] != ' ' ||
	    !is_digit(s[9]) || !is_digit(s[10]) || !is_digit(s[11]) || (n > 12 && s[12] != ' '))
		return fail(d, "the status line is not HTTP/1.x NNN");
	d->http10 = s[7] == '0';
	d->close = d->http10;
	d->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (d->status < 100)
		return fail(d, "the status code is below 100");
	d->state = H1_HEADER;
	return K8S_H1_MORE;
}

/* s[0..n) without blanks at either end. */
static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static bool equals(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* Whether the comma-separated list s[0..n) holds token (any case). */
static bool list_has(const char *s, size_t n, const char *token)
{
	while (n) {
		const char *comma = memchr(s, ',', n);
		size_t len = comma ? (size_t)(comma - s) : n;
		const char *item = s;
		size_t ilen = len;
		trim(&item, &ilen);
		if (equals(item, ilen, token))
			return true;
		if (!comma)
			break;
		s += len + 1;
		n -= len + 1;
	}
	return false;
}

static enum k8s_h1_event header_line(struct k8s_h1 *d, const char *s, size_t n)
{
	if (s[0] == ' ' || s[0] == '\t')
		return fail(d, "a folded header line (obsolete line folding)");
	const char *colon = memchr(s, ':', n);
	if (!colon || colon == s)
		return fail(d, "a header line without a name and a colon");
	size_t nlen = (size_t)(colon - s);
	for (size_t i = 0; i < nlen; i++)
		if (s[i] == ' ' || s[i] == '\t' || (unsigned char)s[i] < 0x21 || s[i] == 0x7f)
			return fail(d, "a header name with a blank or a control character");
	const char *v = colon + 1;
	size_t vlen = n - nlen - 1;
	trim(&v, &vlen);
	if (equals(s, nlen, "content-length")) {
		if (!vlen)
			return fail(d, "an empty Content-Length");
		uint64_t len = 0;
		for (size_t i = 0; i < vlen; i++) {
			if (!is_digit(v[i]))
				return fail(d, "a Content-Length that is not a number");
			if (len > (UINT64_MAX >> 4))
				return fail(d, "a Content-Length too large");
			len = len * 10 + (uint64_t)(v[i] - '0');
		}
		if (d->has_length && d->left != len)
			return fail(d, "two different Content-Length headers");
		d->has_length = true;
		d->left = len;
	} else if (equals(s, nlen, "transfer-encoding")) {
		if (!equals(v, vlen, "chunked"))
			return fail(d, "a Transfer-Encoding other than chunked");
		d->chunked = true;
	} else if (equals(s, nlen, "connection")) {
		if (list_has(v, vlen, "close"))
			d->close = true;
		else if (d->http10 && list_has(v, vlen, "keep-alive"))
			d->close = false;
	} else if (equals(s, nlen, "retry-after")) {
		size_t k = vlen < sizeof(d->retry_after) - 1 ? vlen : sizeof(d->retry_after) - 1;
		memcpy(d->retry_after, v, k);
		d->retry_after[k] = '\0';
	}
	return K8S_H1_MORE;
}

/* The empty line after the headers: where the body is. */
static enum k8s_h1_event head_end(struct k8s_h1 *d)
{
	if (d->status < 200) {
		if (d->status == 101)
			return fail(d, "101 Switching Protocols, which was not asked for");
		next_head(d);  /* 100 Continue, 103 Early Hints: the answer follows */
		return K8S_H1_MORE;
	}
	if (d->status == 204 || d->status == 304) {
		d->state = H1_DONE;
	} else if (d->chunked) {
		/* A length beside chunked is ignored, and the connection is
		 * not trusted for another message (RFC 9112 §6.3). */
		if (d->has_length)
			d->close = true;
		d->has_length = false;
		d->left = 0;
		d->state = H1_CHUNK_SIZE;
	} else if (d->has_length) {
		d->state = d->left ? H1_BODY_LENGTH : H1_DONE;
	} else {
		d->close = true;
		d->state = H1_BODY_CLOSE;
	}
	return K8S_H1_HEAD;
}

/* "hex[;ext][ ]" */
static enum k8s_h1_event chunk_size(struct k8s_h1 *d, const char *s, size_t n)
{
	uint64_t size = 0;
	size_t i = 0;
	for (; i < n; i++) {
		char c = s[i];
		unsigned v;
		if (is_digit(c))
			v = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = (unsigned)(c - 'A' + 10);
		else
			break;
		if (size >> 56)
			return fail(d, "a chunk size too large");
		size = size << 4 | v;
	}
	if (i == 0)
		return fail(d, "a chunk size that is not hexadecimal");
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < n && s[i] != ';')
		return fail(d, "a chunk size followed by something other than an extension");
	d->left = size;
	d->state = size ? H1_CHUNK_DATA : H1_TRAILER;
	return K8S_H1_MORE;
}

/* One complete line (without its line break) in the current state. */
static enum k8s_h1_event line(struct k8s_h1 *d, const char *s, size_t n)
{
	switch (d->state) {
	case H1_STATUS:
		return status_line(d, s, n);
	case H1_HEADER:
		return n ? header_line(d, s, n) : head_end(d);
	case H1_CHUNK_SIZE:
		return chunk_size(d, s, n);
	case H1_CHUNK_END:
		if (n)
			return fail(d, "a chunk longer than its size");
		d->state = H1_CHUNK_SIZE;
		return K8S_H1_MORE;
	case H1_TRAILER:
		if (!n)
			d->state = H1_DONE;
		return K8S_H1_MORE;
	default:
		return fail(d, "internal: a line in a body state");
	}
}

static bool in_head(const struct k8s_h1 *d)
{
	return d->state == H1_STATUS || d->state == H1_HEADER;
}

enum k8s_h1_event k8s_h1_feed(struct k8s_h1 *d, const char *p, size_t n, size_t *used,
			      const char **data, size_t *len)
{
	*used = 0;
	*data = NULL;
	*len = 0;
	size_t off = 0;
	while (off < n) {
		switch (d->state) {
		case H1_DONE:
			*used = off;
			return K8S_H1_DONE;
		case H1_ERROR:
			*used = off;
			return K8S_H1_ERROR;
		case H1_BODY_LENGTH:
		case H1_CHUNK_DATA:
		case H1_BODY_CLOSE: {
			size_t k = n - off;
			if (d->state != H1_BODY_CLOSE && d->left < k)
				k = (size_t)d->left;
			*data = p + off;
			*len = k;
			off += k;
			d->received += k;
			if (d->state != H1_BODY_CLOSE) {
				d->left -= k;
				if (!d->left)
					d->state = d->state == H1_BODY_LENGTH ? H1_DONE : H1_CHUNK_END;
			}
			*used = off;
			return K8S_H1_DATA;
		}
		default:
			break;
		}
		/* a line */
		const char *nl = memchr(p + off, '\n', n - off);
		size_t k = nl ? (size_t)(nl - (p + off)) + 1 : n - off;
		if (in_head(d)) {
			d->head_bytes += k;
			if (d->head_bytes > K8S_H1_HEAD_MAX) {
				*used = off;
				return fail(d, "a response head larger than 64 KiB");
			}
		}
		if (d->line_len + k > K8S_H1_LINE_MAX) {
			*used = off;
			return fail(d, "a line longer than 8 KiB");
		}
		memcpy(d->line + d->line_len, p + off, k);
		d->line_len += k;
		off += k;
		d->received += k;
		if (!nl)
			break;
		size_t ln = d->line_len - 1;  /* without the LF */
		if (ln && d->line[ln - 1] == '\r')
			ln--;
		d->line_len = 0;
		enum k8s_h1_event ev = line(d, d->line, ln);
		if (ev != K8S_H1_MORE) {
			*used = off;
			return ev;
		}
	}
	*used = off;
	if (d->state == H1_DONE)
		return K8S_H1_DONE;
	if (d->state == H1_ERROR)
		return K8S_H1_ERROR;
	return K8S_H1_MORE;
}

enum k8s_h1_event k8s_h1_eof(struct k8s_h1 *d)
{
	switch (d->state) {
	case H1_DONE:
	case H1_BODY_CLOSE:
		d->state = H1_DONE;
		return K8S_H1_DONE;
	case H1_ERROR:
		return K8S_H1_ERROR;
	case H1_STATUS:
	case H1_HEADER:
		return fail(d, d->received ? "the connection closed inside the response head"
					   : "the connection closed before a response");
	default:
		return fail(d, "the connection closed before the end of the body");
	}
}
