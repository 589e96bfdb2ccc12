/*
 * HTTP/2 and HTTP/1.1 to the API server over GnuTLS on libev (see
 * k8s_http.h).
 *
 * Connections.  An exchange goes onto a connection at the loop's next
 * iteration (kick_cb), never inside k8s_http_send().  Each connection goes
 * CONNECTING (a non-blocking TCP connect, trying the server's addresses in
 * turn) -> HANDSHAKE (TLS, for https://, offering "h2" and "http/1.1" by
 * ALPN) -> READY, within K8S_HTTP_CONNECT_TIMEOUT.
 *
 * HTTP/2, when the server chose it: one connection, every exchange a
 * stream of its nghttp2 session (h2_*).  Exchanges that come while a TLS
 * connection is being set up wait on it (conn->list) rather than open
 * more, unless the server has shown it speaks HTTP/1.1 only.  A stream
 * reset by the client (abort, timeout, a watch stopped) leaves the
 * connection up; after GOAWAY no new stream goes on it, those the server
 * refused (above its last stream id) go out again on a new connection,
 * and it closes when its last stream ends.
 *
 * HTTP/1.1 otherwise (http:// servers always): a connection carries one
 * exchange at a time.  An exchange takes an idle connection when there is
 * one, else opens its own; when it ends with the connection still good (a
 * complete response without Connection: close), the connection waits for
 * the next one, up to K8S_HTTP_IDLE_MAX of them for K8S_HTTP_IDLE_TIMEOUT.
 * A watch holds its connection for as long as it runs.
 *
 * An exchange on a reused connection that breaks before a single byte of
 * the answer is sent once more on a new one: the server may have closed
 * the idle connection just as the request went out.
 *
 * Names are resolved with getaddrinfo(), blocking, when a connection is
 * opened: the API server is nearly always an IP address (in-cluster it
 * always is, and numeric addresses resolve without a query), and a name
 * in a kubeconfig is resolved by the system's resolver within its own
 * timeout.
 *
 * TLS.  The credentials (CA, client certificate and key) are loaded once,
 * at the first connection; when they cannot be, every exchange fails with
 * K8S_ERR_TLS and the reason, as a handshake failure would.  The session
 * is non-blocking: GNUTLS_E_AGAIN turns into the ev_io events GnuTLS says
 * it waits for (gnutls_record_get_direction()).  The certificate is
 * checked during the handshake (gnutls_session_set_verify_cert(), which
 * matches DNS names and IP addresses), and a failure is described from
 * the verification status bits.
 *
 * Every callback of the loop (connection I/O, timers) runs between the
 * hooks' enter and leave, and the handlers it calls do not call back into
 * this module: so nothing here changes under a loop over connections or
 * exchanges except by this module's own hand.
 */
#include "k8s/k8s_http.h"

#include <errno.h>
#include <stdarg.h>
#include <ev.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nghttp2/nghttp2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "base/log.h"
#include "base/util.h"
#include "k8s/k8s_http1.h"

/* TCP connect and TLS handshake must finish within this (seconds). */
#define K8S_HTTP_CONNECT_TIMEOUT 10.0
/* Idle HTTP/1.1 connections kept for the next request, and for how long. */
#define K8S_HTTP_IDLE_MAX 8
#define K8S_HTTP_IDLE_TIMEOUT 90.0
/* TCP keepalive: probes after this long idle, then this often. */
#define K8S_HTTP_KEEPIDLE 30
#define K8S_HTTP_KEEPINTVL 10

enum conn_state { CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY };

struct conn {
	struct k8s_http *h;
	struct conn *prev, *next;
	enum conn_state state;
	int fd;
	ev_io io;
	int events;                  /* what io waits for */
	ev_timer timer;              /* set-up deadline; idle deadline */
	struct addrinfo *addrs, *addr;  /* the server's addresses, the one tried */
	int connect_errno;           /* of the last address that failed */
	gnutls_session_t tls;        /* NULL for http:// */
	bool reused;                 /* has completed an exchange */
	bool idle;                   /* HTTP/1.1, ready, waiting for an exchange */
	struct k8s_http_xfer *xfer;  /* HTTP/1.1: the exchange it carries, or NULL: idle */
	/* Exchanges waiting for the connection to be set up; with HTTP/2,
	 * its streams. */
	struct k8s_http_xfer *list;
	bool h2;                     /* ALPN chose HTTP/2 */
	nghttp2_session *ng;
	bool goaway;                 /* the server sent GOAWAY: no new streams */
	struct k8s_http_xfer *refused;  /* streams to send again elsewhere */
	bool sent;                   /* the exchange's request went out whole */
	char *out;                   /* bytes to send, from out_off */
	size_t out_len, out_off;
	struct k8s_h1 *dec;
};

struct k8s_http {
	struct ev_loop *loop;
	const struct k8s_config *cfg;
	struct k8s_http_hooks hooks;
	char *user_agent;
	/* the server, from cfg->server */
	bool tls;
	char *host;                  /* without brackets */
	char *authority;             /* for Host: as in the URL */
	char *port;
	char *prefix;                /* the URL's path, "" or "/x/y" */
	bool host_is_ip;
	char *url_error;             /* the URL cannot be used: why */
	/* TLS credentials */
	gnutls_certificate_credentials_t cred;
	bool cred_tried;
	char *cred_error;
	struct conn *conns;
	struct k8s_http_xfer *pending;  /* sent, to be put on connections by kick */
	ev_timer kick;
	size_t idle;                 /* connections idle */
	bool h1_only;                /* the server chose HTTP/1.1 over TLS */
	int busy;                    /* inside a callback of the loop */
	const char *protocol;
};

struct k8s_http_xfer {
	struct k8s_http *h;
	struct conn *conn;
	struct k8s_http_xfer *pprev, *pnext;  /* on h->pending */
	bool is_pending;
	struct k8s_http_xfer *lprev, *lnext;  /* on conn->list */
	/* HTTP/2 */
	int32_t stream_id;
	long h2_status;
	char h2_retry_after[64];
	bool head_done;
	size_t body_off;
	struct k8s_http_handler cb;
	void *arg;
	char *method, *path, *token, *content_type, *body;
	size_t body_len;
	double timeout;
	ev_timer timer;              /* the exchange's deadline, or a failure to report */
	bool got_bytes;              /* some of the answer came */
	bool retried;                /* sent again after a broken reused connection */
	size_t received;
	enum k8s_error fail_error;   /* reported by the timer when fail_detail is set */
	char *fail_detail;
};

static void conn_close(struct conn *cn);
static void attach(struct k8s_http_xfer *x);
static void leave_conn(struct k8s_http_xfer *x);
static int h2_flush(struct conn *cn);
static void unpend(struct k8s_http_xfer *x);

/* ------------------------------------------------------------------ */
/* the server's URL */

static void parse_server(struct k8s_http *h, const char *url)
{
	const char *rest;
	if (!url || !url[0]) {
		h->url_error = xstrdup("no server URL in the configuration");
		return;
	}
	if (str_has_prefix(url, "https://")) {
		h->tls = true;
		rest = url + 8;
	} else if (str_has_prefix(url, "http://")) {
		rest = url + 7;
	} else {
		h->url_error = xasprintf("server URL %s: the scheme is neither https:// nor http://",
					 url);
		return;
	}
	size_t alen = strcspn(rest, "/?#");
	const char *auth = rest;
	if (memchr(auth, '@', alen)) {
		h->url_error = xasprintf("server URL %s: user information in the URL is not supported",
					 url);
		return;
	}
	const char *port = NULL;
	if (auth[0] == '[') {
		const char *close = memchr(auth, ']', alen);
		if (!close) {
			h->url_error = xasprintf("server URL %s: '[' without ']'", url);
			return;
		}
		h->host = xstrndup(auth + 1, (size_t)(close - auth - 1));
		if (close + 1 < auth + alen) {
			if (close[1] != ':') {
				h->url_error = xasprintf("server URL %s: something after ']' other than :port",
							 url);
				return;
			}
			port = close + 2;
		}
	} else {
		const char *colon = memchr(auth, ':', alen);
		h->host = xstrndup(auth, colon ? (size_t)(colon - auth) : alen);
		if (colon)
			port = colon + 1;
	}
	size_t plen = port ? (size_t)(auth + alen - port) : 0;
	for (size_t i = 0; i < plen; i++)
		if (port[i] < '0' || port[i] > '9' || plen > 5) {
			h->url_error = xasprintf("server URL %s: the port is not a number", url);
			return;
		}
	if (!h->host[0]) {
		h->url_error = xasprintf("server URL %s: no host", url);
		return;
	}
	h->port = plen ? xstrndup(port, plen) : xstrdup(h->tls ? "443" : "80");
	h->authority = xstrndup(auth, alen);
	h->prefix = xstrndup(auth + alen, strcspn(auth + alen, "?#"));
	if (str_has_suffix(h->prefix, "/"))
		h->prefix[strlen(h->prefix) - 1] = '\0';
	struct in6_addr a;
	h->host_is_ip = inet_pton(AF_INET, h->host, &a) == 1 || inet_pton(AF_INET6, h->host, &a) == 1;
}

char *k8s_http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(3 * n + 1), *o = out;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* TLS */

static char *tls_load_credentials(struct k8s_http *h)
{
	const struct k8s_config *cfg = h->cfg;
	int rc = gnutls_certificate_allocate_credentials(&h->cred);
	if (rc < 0) {
		h->cred = NULL;
		return xasprintf("cannot set up TLS: %s", gnutls_strerror(rc));
	}
	if (!cfg->insecure) {
		/* This CA only, not the system's as well. */
		if (cfg->ca_data) {
			gnutls_datum_t d = { (unsigned char *)cfg->ca_data,
					     (unsigned)cfg->ca_data_len };
			rc = gnutls_certificate_set_x509_trust_mem(h->cred, &d, GNUTLS_X509_FMT_PEM);
			if (rc <= 0)
				return xasprintf("certificate-authority-data: %s",
						 rc < 0 ? gnutls_strerror(rc) : "no PEM certificate in it");
		} else if (cfg->ca_file) {
			rc = gnutls_certificate_set_x509_trust_file(h->cred, cfg->ca_file,
								    GNUTLS_X509_FMT_PEM);
			if (rc <= 0)
				return xasprintf("certificate-authority %s: %s", cfg->ca_file,
						 rc < 0 ? gnutls_strerror(rc) : "no PEM certificate in it");
		} else {
			rc = gnutls_certificate_set_x509_system_trust(h->cred);
			if (rc < 0)
				return xasprintf("the system's CA certificates: %s", gnutls_strerror(rc));
		}
	}
	if (!cfg->cert_data && !cfg->cert_file)
		return NULL;
	gnutls_datum_t cert = { 0 }, key = { 0 };
	bool free_cert = false, free_key = false;
	char *err = NULL;
	if (cfg->cert_data) {
		cert.data = (unsigned char *)cfg->cert_data;
		cert.size = (unsigned)cfg->cert_data_len;
	} else if ((rc = gnutls_load_file(cfg->cert_file, &cert)) < 0) {
		return xasprintf("client-certificate %s: %s", cfg->cert_file, gnutls_strerror(rc));
	} else {
		free_cert = true;
	}
	if (cfg->key_data) {
		key.data = (unsigned char *)cfg->key_data;
		key.size = (unsigned)cfg->key_data_len;
	} else if (cfg->key_file) {
		if ((rc = gnutls_load_file(cfg->key_file, &key)) < 0)
			err = xasprintf("client-key %s: %s", cfg->key_file, gnutls_strerror(rc));
		else
			free_key = true;
	} else {
		key = cert;  /* a PEM file may hold both */
	}
	if (!err) {
		rc = gnutls_certificate_set_x509_key_mem2(h->cred, &cert, &key, GNUTLS_X509_FMT_PEM,
							  NULL, 0);
		if (rc < 0)
			err = xasprintf("the client certificate or key: %s", gnutls_strerror(rc));
	}
	if (free_cert)
		gnutls_free(cert.data);
	if (free_key)
		gnutls_free(key.data);
	return err;
}

/* What the certificate check found, in words. */
static char *tls_verify_text(struct conn *cn)
{
	struct k8s_http *h = cn->h;
	unsigned status = gnutls_session_get_verify_cert_status(cn->tls);
	char *out = xstrdup("the server's certificate");
	const char *sep = " ";
	struct {
		unsigned bit;
		const char *text;
	} const bits[] = {
		{ GNUTLS_CERT_SIGNER_NOT_FOUND, "is not trusted: no configured CA signed it" },
		{ GNUTLS_CERT_SIGNER_NOT_CA, "is not trusted: its signer is not a CA" },
		{ GNUTLS_CERT_INSECURE_ALGORITHM, "is signed with an insecure algorithm" },
		{ GNUTLS_CERT_NOT_ACTIVATED, "is not valid yet" },
		{ GNUTLS_CERT_EXPIRED, "has expired" },
		{ GNUTLS_CERT_REVOKED, "is revoked" },
		{ GNUTLS_CERT_SIGNATURE_FAILURE, "has a signature that does not verify" },
	};
	bool said = false;
	for (size_t i = 0; i < ARRAY_SIZE(bits); i++)
		if (status & bits[i].bit) {
			char *s = xasprintf("%s%s%s", out, sep, bits[i].text);
			free(out);
			out = s;
			sep = "; it ";
			said = true;
		}
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
		char *s = xasprintf("%s%sdoes not match the host name %s (%s)", out, sep, h->host,
				    h->host_is_ip ? "no IP address in its subjectAltName is that address"
						  : "no DNS name in it is that name");
		free(out);
		out = s;
		said = true;
	}
	if (!said) {
		gnutls_datum_t d = { 0 };
		char *s;
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &d, 0) ==
		    0)
			s = xasprintf("%s did not verify: %s", out, (char *)d.data);
		else
			s = xasprintf("%s did not verify (status 0x%x)", out, status);
		gnutls_free(d.data);
		free(out);
		out = s;
	}
	return out;
}

static char *tls_error_text(struct conn *cn, int rc)
{
	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
		return tls_verify_text(cn);
	if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED || rc == GNUTLS_E_WARNING_ALERT_RECEIVED) {
		const char *alert = gnutls_alert_get_name(gnutls_alert_get(cn->tls));
		return xasprintf("the server ended the handshake: %s", alert ? alert : "an alert");
	}
	return xasprintf("handshake failed: %s", gnutls_strerror(rc));
}

static int tls_session(struct conn *cn, char **err)
{
	struct k8s_http *h = cn->h;
	if (!h->cred_tried) {
		h->cred_tried = true;
		h->cred_error = tls_load_credentials(h);
	}
	if (h->cred_error) {
		*err = xstrdup(h->cred_error);
		return -1;
	}
	int rc = gnutls_init(&cn->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (rc < 0) {
		cn->tls = NULL;
		*err = xasprintf("cannot set up TLS: %s", gnutls_strerror(rc));
		return -1;
	}
	gnutls_set_default_priority(cn->tls);
	gnutls_credentials_set(cn->tls, GNUTLS_CRD_CERTIFICATE, h->cred);
	/* SNI carries DNS names only (RFC 6066 §3). */
	if (!h->host_is_ip)
		gnutls_server_name_set(cn->tls, GNUTLS_NAME_DNS, h->host, strlen(h->host));
	if (!h->cfg->insecure)
		gnutls_session_set_verify_cert(cn->tls, h->host, 0);
	static const gnutls_datum_t alpn[] = { { (unsigned char *)"h2", 2 },
					       { (unsigned char *)"http/1.1", 8 } };
	gnutls_alpn_set_protocols(cn->tls, alpn, ARRAY_SIZE(alpn), 0);
	gnutls_handshake_set_timeout(cn->tls, 0);  /* the connection's own timer */
	gnutls_transport_set_int(cn->tls, cn->fd);
	return 0;
}

/* ------------------------------------------------------------------ */
/* exchanges */

/* End x: its handler's done, then x is freed.  x must be off its
 * connection. */
static void xfer_free(struct k8s_http_xfer *x)
{
	ev_timer_stop(x->h->loop, &x->timer);
	free(x->method);
	free(x->path);
	free(x->token);
	free(x->content_type);
	free(x->body);
	free(x->fail_detail);
	free(x);
}

static void finish(struct k8s_http_xfer *x, enum k8s_error err, const char *detail)
{
	struct k8s_http *h = x->h;
	ev_timer_stop(h->loop, &x->timer);
	x->cb.done(x->arg, err, detail);
	xfer_free(x);
	/* Outside the loop's callbacks (an HTTP/2 stream that ends while
	 * another is reset): the hooks run from the kick timer, soon. */
	if (!h->busy && !ev_is_active(&h->kick))
		ev_timer_start(h->loop, &h->kick);
}

static void list_add(struct conn *cn, struct k8s_http_xfer *x)
{
	x->lprev = NULL;
	x->lnext = cn->list;
	if (cn->list)
		cn->list->lprev = x;
	cn->list = x;
	x->conn = cn;
}

/* Take x off its connection. */
static void detach(struct k8s_http_xfer *x)
{
	struct conn *cn = x->conn;
	if (!cn)
		return;
	if (cn->xfer == x) {
		cn->xfer = NULL;
	} else {
		if (x->lprev)
			x->lprev->lnext = x->lnext;
		else
			cn->list = x->lnext;
		if (x->lnext)
			x->lnext->lprev = x->lprev;
		x->lprev = x->lnext = NULL;
	}
	if (cn->ng && x->stream_id > 0)
		nghttp2_session_set_stream_user_data(cn->ng, x->stream_id, NULL);
	x->stream_id = 0;
	x->conn = NULL;
}

/* Report a failure from x's timer (not from the caller's stack). */
static void fail_later(struct k8s_http_xfer *x, enum k8s_error err, char *detail)
{
	x->fail_error = err;
	free(x->fail_detail);
	x->fail_detail = detail;
	ev_timer_stop(x->h->loop, &x->timer);
	ev_timer_set(&x->timer, 0.0, 0.0);
	ev_timer_start(x->h->loop, &x->timer);
}

/* A failure of x: its handler hears of it now when this runs from the
 * loop, else from x's timer (k8s_http_send() and k8s_http_abort() never
 * call a handler). */
static void report(struct k8s_http_xfer *x, enum k8s_error err, const char *detail)
{
	if (x->h->busy)
		finish(x, err, detail);
	else
		fail_later(x, err, xstrdup(detail));
}

static void xfer_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct k8s_http_xfer *x = (struct k8s_http_xfer *)((char *)w -
							   offsetof(struct k8s_http_xfer, timer));
	struct k8s_http *h = x->h;
	(void)loop;
	(void)revents;
	h->hooks.enter(h->hooks.arg);
	h->busy++;
	unpend(x);
	if (x->fail_detail) {
		char *d = x->fail_detail;
		x->fail_detail = NULL;
		detach(x);
		finish(x, x->fail_error, d);
		free(d);
	} else {
		char *d = xasprintf("no complete answer within %g s (%zu bytes received)", x->timeout,
				    x->received);
		leave_conn(x);
		finish(x, K8S_ERR_TIMEOUT, d);
		free(d);
	}
	h->busy--;
	h->hooks.leave(h->hooks.arg);
}

/* ------------------------------------------------------------------ */
/* connections */

static void conn_set_events(struct conn *cn)
{
	int ev = EV_READ;
	if (cn->state == CONN_CONNECTING || cn->out_off < cn->out_len ||
	    (cn->state == CONN_HANDSHAKE && gnutls_record_get_direction(cn->tls) == 1))
		ev |= EV_WRITE;
	if (cn->state == CONN_CONNECTING)
		ev = EV_WRITE;
	if (ev == cn->events && ev_is_active(&cn->io))
		return;
	ev_io_stop(cn->h->loop, &cn->io);
	ev_io_set(&cn->io, cn->fd, ev);
	ev_io_start(cn->h->loop, &cn->io);
	cn->events = ev;
}

static void conn_close(struct conn *cn)
{
	struct k8s_http *h = cn->h;
	if (cn->xfer)
		cn->xfer->conn = NULL;
	for (struct k8s_http_xfer *x = cn->list; x; x = x->lnext)
		x->conn = NULL;  /* callers took them off first */
	if (cn->ng)
		nghttp2_session_del(cn->ng);
	if (cn->idle)
		h->idle--;
	ev_io_stop(h->loop, &cn->io);
	ev_timer_stop(h->loop, &cn->timer);
	if (cn->tls)
		gnutls_deinit(cn->tls);
	if (cn->fd >= 0)
		close(cn->fd);
	if (cn->addrs)
		freeaddrinfo(cn->addrs);
	free(cn->out);
	free(cn->dec);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		h->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	free(cn);
}

/* The connection failed: its exchanges fail too, or, when the connection
 * was reused and nothing of an answer came, go out again on another. */
static void conn_fail(struct conn *cn, enum k8s_error err, const char *detail)
{
	struct k8s_http_xfer *all = NULL;
	bool reused = cn->reused;
	while (cn->xfer || cn->list) {
		struct k8s_http_xfer *x = cn->xfer ? cn->xfer : cn->list;
		detach(x);
		x->lnext = all;  /* a private list now */
		all = x;
	}
	conn_close(cn);
	while (all) {
		struct k8s_http_xfer *x = all;
		all = x->lnext;
		x->lnext = NULL;
		if (reused && !x->got_bytes && !x->retried && err == K8S_ERR_CONNECT) {
			x->retried = true;
			attach(x);
		} else {
			report(x, err, detail);
		}
	}
}

static void conn_failf(struct conn *cn, enum k8s_error err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void conn_failf(struct conn *cn, enum k8s_error err, const char *fmt, ...)
{
	va_list ap;
	char *d = NULL;
	va_start(ap, fmt);
	if (vasprintf(&d, fmt, ap) < 0)
		abort();  /* out of memory */
	va_end(ap);
	conn_fail(cn, err, d);
	free(d);
}

static void conn_fail_errno(struct conn *cn, const char *what, int e)
{
	conn_failf(cn, K8S_ERR_CONNECT, "%s: %s", what, strerror(e));
}

/* Send what is waiting; -1 when the connection failed (and is gone). */
static int conn_flush(struct conn *cn)
{
	while (cn->out_off < cn->out_len) {
		ssize_t n;
		const char *p = cn->out + cn->out_off;
		size_t len = cn->out_len - cn->out_off;
		if (cn->tls) {
			n = gnutls_record_send(cn->tls, p, len);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				break;
			if (n < 0) {
				conn_failf(cn, K8S_ERR_CONNECT, "TLS send failed: %s",
					   gnutls_strerror((int)n));
				return -1;
			}
		} else {
			n = send(cn->fd, p, len, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n < 0) {
				conn_fail_errno(cn, "send failed", errno);
				return -1;
			}
		}
		cn->out_off += (size_t)n;
	}
	if (cn->out_off == cn->out_len && cn->out) {
		free(cn->out);
		cn->out = NULL;
		cn->out_len = cn->out_off = 0;
		cn->sent = true;
	}
	conn_set_events(cn);
	return 0;
}

static void append(char **s, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void append(char **s, size_t *len, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	*s = xrealloc(*s, *len + (size_t)n + 1);
	vsnprintf(*s + *len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	*len += (size_t)n;
}

/* The request of the connection's exchange, on its way. */
static int h1_start(struct conn *cn)
{
	struct k8s_http *h = cn->h;
	struct k8s_http_xfer *x = cn->xfer;
	char *s = NULL;
	size_t len = 0;
	append(&s, &len, "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
			 "Accept: application/json\r\n", x->method, h->prefix, x->path, h->authority,
	       h->user_agent);
	if (x->token)
		append(&s, &len, "Authorization: Bearer %s\r\n", x->token);
	if (x->body)
		append(&s, &len, "Content-Type: %s\r\nContent-Length: %zu\r\n",
		       x->content_type ? x->content_type : "application/json", x->body_len);
	append(&s, &len, "\r\n");
	if (x->body) {
		s = xrealloc(s, len + x->body_len + 1);
		memcpy(s + len, x->body, x->body_len);
		len += x->body_len;
	}
	if (!cn->dec)
		cn->dec = xmalloc(sizeof(*cn->dec));
	k8s_h1_init(cn->dec);
	free(cn->out);
	cn->out = s;
	cn->out_len = len;
	cn->out_off = 0;
	cn->sent = false;
	return conn_flush(cn);
}

/* An idle connection: kept for a while, unless enough are (-1: closed). */
static int conn_idle(struct conn *cn)
{
	struct k8s_http *h = cn->h;
	cn->reused = true;
	if (h->idle >= K8S_HTTP_IDLE_MAX) {
		conn_close(cn);
		return -1;
	}
	h->idle++;
	cn->idle = true;
	ev_timer_stop(h->loop, &cn->timer);
	ev_timer_set(&cn->timer, K8S_HTTP_IDLE_TIMEOUT, 0.0);
	ev_timer_start(h->loop, &cn->timer);
	conn_set_events(cn);
	return 0;
}

/* Response bytes; -1 when the connection is gone. */
static int h1_input(struct conn *cn, const char *p, size_t n)
{
	while (cn->xfer) {
		struct k8s_http_xfer *x = cn->xfer;
		size_t used, dlen;
		const char *data;
		enum k8s_h1_event ev = k8s_h1_feed(cn->dec, p, n, &used, &data, &dlen);
		p += used;
		n -= used;
		if (used)
			x->got_bytes = true;
		x->received += used;
		switch (ev) {
		case K8S_H1_MORE:
			return 0;
		case K8S_H1_HEAD:
			x->cb.head(x->arg, cn->dec->status, cn->dec->retry_after);
			break;
		case K8S_H1_DATA:
			if (x->cb.data(x->arg, data, dlen)) {
				detach(x);
				conn_close(cn);
				finish(x, K8S_ERR_CONNECT, "stopped by the client");
				return -1;
			}
			break;
		case K8S_H1_DONE: {
			bool close_after = cn->dec->close || n > 0 || !cn->sent;
			detach(x);
			finish(x, K8S_OK, NULL);
			if (close_after) {
				conn_close(cn);
				return -1;
			}
			return conn_idle(cn);
		}
		case K8S_H1_ERROR: {
			char *d = xasprintf("not an HTTP/1.1 response: %s", cn->dec->error);
			x->retried = true;  /* it answered: not sent again */
			conn_fail(cn, K8S_ERR_CONNECT, d);
			free(d);
			return -1;
		}
		}
	}
	if (n) {
		/* bytes nobody asked for: the connection is out of step */
		conn_close(cn);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* HTTP/2 (nghttp2): one connection, every exchange a stream */

/* An HTTP/2 connection with no stream: idle until the idle timer, or
 * closed at once after GOAWAY (-1). */
static int h2_maybe_idle(struct conn *cn)
{
	struct k8s_http *h = cn->h;
	if (cn->list)
		return 0;
	if (cn->goaway) {
		conn_close(cn);
		return -1;
	}
	cn->reused = true;
	ev_timer_stop(h->loop, &cn->timer);
	ev_timer_set(&cn->timer, K8S_HTTP_IDLE_TIMEOUT, 0.0);
	ev_timer_start(h->loop, &cn->timer);
	return 0;
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
			size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
			void *ud)
{
	(void)flags;
	(void)ud;
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct k8s_http_xfer *x = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!x || x->head_done)
		return 0;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		long st = 0;
		for (size_t i = 0; i < valuelen && i < 3; i++)
			st = st * 10 + (value[i] >= '0' && value[i] <= '9' ? value[i] - '0' : 0);
		x->h2_status = st;
	} else if (namelen == 11 && memcmp(name, "retry-after", 11) == 0) {
		size_t k = valuelen < sizeof(x->h2_retry_after) - 1 ? valuelen
								     : sizeof(x->h2_retry_after) - 1;
		memcpy(x->h2_retry_after, value, k);
		x->h2_retry_after[k] = '\0';
	}
	return 0;
}

static int h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct conn *cn = ud;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		/* Streams above last_stream_id are closed as refused, and
		 * sent again on a new connection (h2_on_close). */
		cn->goaway = true;
		return 0;
	}
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct k8s_http_xfer *x = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!x || x->head_done)
		return 0;
	if (x->h2_status >= 200) {
		x->head_done = true;
		x->got_bytes = true;
		x->cb.head(x->arg, x->h2_status, x->h2_retry_after);
	} else {
		x->h2_status = 0;  /* 1xx: the answer follows */
	}
	return 0;
}

/* x leaves an HTTP/2 connection before its stream ended: reset it. */
static void h2_cancel(struct k8s_http_xfer *x)
{
	struct conn *cn = x->conn;
	int32_t id = x->stream_id;
	detach(x);
	if (id > 0)
		nghttp2_submit_rst_stream(cn->ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
		      size_t len, void *ud)
{
	(void)flags;
	(void)ud;
	struct k8s_http_xfer *x = nghttp2_session_get_stream_user_data(s, id);
	if (!x)
		return 0;
	x->got_bytes = true;
	x->received += len;
	if (x->cb.data(x->arg, (const char *)data, len)) {
		h2_cancel(x);
		finish(x, K8S_ERR_CONNECT, "stopped by the client");
	}
	return 0;
}

static int h2_on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
	struct conn *cn = ud;
	struct k8s_http_xfer *x = nghttp2_session_get_stream_user_data(s, id);
	if (!x)
		return 0;
	detach(x);
	if (error_code == NGHTTP2_NO_ERROR && x->head_done) {
		finish(x, K8S_OK, NULL);
	} else if (error_code == NGHTTP2_REFUSED_STREAM && !x->got_bytes && !x->retried) {
		/* Not processed by the server (GOAWAY, or too many
		 * streams): sent again once the session is out of the way. */
		x->retried = true;
		x->lnext = cn->refused;
		cn->refused = x;
	} else {
		char *d = x->head_done ? xasprintf("the server reset the stream: %s",
						   nghttp2_http2_strerror(error_code))
				       : xasprintf("the stream ended without an answer: %s",
						   nghttp2_http2_strerror(error_code));
		finish(x, K8S_ERR_CONNECT, d);
		free(d);
	}
	return 0;
}

static ssize_t h2_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
			    uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	(void)src;
	(void)ud;
	/* By the stream's user data, not src: an exchange aborted while its
	 * body was on its way is gone. */
	struct k8s_http_xfer *x = nghttp2_session_get_stream_user_data(s, id);
	if (!x)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	size_t n = x->body_len - x->body_off;
	if (n > len)
		n = len;
	memcpy(buf, x->body + x->body_off, n);
	x->body_off += n;
	if (x->body_off == x->body_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Frames nghttp2 has to send, out; -1 when the connection is gone. */
static int h2_flush(struct conn *cn)
{
	for (;;) {
		if (cn->out_off < cn->out_len) {
			if (conn_flush(cn) < 0)
				return -1;
			if (cn->out_off < cn->out_len)
				return 0;  /* the socket is full */
		}
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(cn->ng, &data);
		if (n < 0) {
			conn_failf(cn, K8S_ERR_CONNECT, "HTTP/2: %s", nghttp2_strerror((int)n));
			return -1;
		}
		if (n == 0)
			break;
		free(cn->out);
		cn->out = xmalloc((size_t)n);
		memcpy(cn->out, data, (size_t)n);
		cn->out_len = (size_t)n;
		cn->out_off = 0;
	}
	if (!nghttp2_session_want_read(cn->ng) && !nghttp2_session_want_write(cn->ng)) {
		conn_fail(cn, K8S_ERR_CONNECT, "the HTTP/2 session ended");
		return -1;
	}
	conn_set_events(cn);
	return 0;
}

/* x becomes a stream of cn (sent at the next h2_flush()). */
static void h2_submit(struct conn *cn, struct k8s_http_xfer *x)
{
	struct k8s_http *h = cn->h;
	char clen[24];
	char *path = xasprintf("%s%s", h->prefix, x->path);
	char *auth = x->token ? xasprintf("Bearer %s", x->token) : NULL;
	nghttp2_nv nv[10];
	size_t n = 0;
#define NV(k, v) \
	nv[n++] = (nghttp2_nv){ (uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), \
				NGHTTP2_NV_FLAG_NONE }
	NV(":method", x->method);
	NV(":scheme", "https");
	NV(":authority", h->authority);
	NV(":path", path);
	NV("user-agent", h->user_agent);
	NV("accept", "application/json");
	if (auth)
		NV("authorization", auth);
	if (x->body) {
		snprintf(clen, sizeof(clen), "%zu", x->body_len);
		NV("content-type", x->content_type ? x->content_type : "application/json");
		NV("content-length", clen);
	}
#undef NV
	nghttp2_data_provider body = { .read_callback = h2_read_body };
	x->body_off = 0;
	x->h2_status = 0;
	x->h2_retry_after[0] = '\0';
	x->head_done = false;
	x->got_bytes = false;
	int32_t id = nghttp2_submit_request(cn->ng, NULL, nv, n, x->body ? &body : NULL, x);
	free(path);
	free(auth);
	if (id < 0) {
		char *d = xasprintf("HTTP/2: cannot send the request: %s", nghttp2_strerror(id));
		report(x, K8S_ERR_CONNECT, d);
		free(d);
		return;
	}
	ev_timer_stop(h->loop, &cn->timer);  /* not idle */
	list_add(cn, x);
	x->stream_id = id;
}

/* Bytes from the server; -1 when the connection is gone. */
static int h2_input(struct conn *cn, const char *p, size_t n)
{
	ssize_t rv = nghttp2_session_mem_recv(cn->ng, (const uint8_t *)p, n);
	if (rv < 0) {
		conn_failf(cn, K8S_ERR_CONNECT, "HTTP/2: %s", nghttp2_strerror((int)rv));
		return -1;
	}
	/* Streams the server refused go out again on another connection
	 * (this one takes no new stream), after it is dealt with. */
	struct k8s_http_xfer *refused = cn->refused;
	cn->refused = NULL;
	if (refused)
		cn->goaway = true;
	bool gone = h2_flush(cn) < 0 || (!cn->list && h2_maybe_idle(cn) < 0);
	while (refused) {
		struct k8s_http_xfer *x = refused;
		refused = x->lnext;
		x->lnext = NULL;
		attach(x);
	}
	return gone ? -1 : 0;
}

/* ALPN chose h2: the session, and every exchange that waited becomes a
 * stream. */
static void h2_ready(struct conn *cn)
{
	nghttp2_session_callbacks *cbs;
	cn->h2 = true;
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		abort();  /* out of memory */
	nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_close);
	int rv = nghttp2_session_client_new(&cn->ng, cbs, cn);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0)
		abort();  /* out of memory */
	/* No push; windows large enough that a list of thousands of
	 * objects is not paced by WINDOW_UPDATE round trips (bytes are
	 * consumed as they arrive: nothing is held for the window). */
	const nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 4 << 20 },
	};
	nghttp2_submit_settings(cn->ng, NGHTTP2_FLAG_NONE, iv, ARRAY_SIZE(iv));
	nghttp2_session_set_local_window_size(cn->ng, NGHTTP2_FLAG_NONE, 0, 16 << 20);
	struct k8s_http_xfer *waiting = NULL;
	while (cn->list) {
		struct k8s_http_xfer *x = cn->list;
		detach(x);
		x->lnext = waiting;  /* reversed: oldest first */
		waiting = x;
	}
	if (!waiting) {
		if (h2_flush(cn) == 0)
			h2_maybe_idle(cn);
		return;
	}
	while (waiting) {
		struct k8s_http_xfer *x = waiting;
		waiting = x->lnext;
		x->lnext = NULL;
		h2_submit(cn, x);
	}
	h2_flush(cn);  /* a failure fails the streams */
}

static int conn_eof(struct conn *cn)
{
	struct k8s_http_xfer *x = cn->xfer;
	if (cn->h2 && cn->list) {
		conn_fail(cn, K8S_ERR_CONNECT, "the server closed the connection");
		return -1;
	}
	if (!x) {
		conn_close(cn);
		return -1;
	}
	if (k8s_h1_eof(cn->dec) == K8S_H1_DONE) {
		detach(x);
		finish(x, K8S_OK, NULL);
		conn_close(cn);
		return -1;
	}
	conn_failf(cn, K8S_ERR_CONNECT, "the server closed the connection: %s", cn->dec->error);
	return -1;
}

/* Read what has come; -1 when the connection is gone. */
static int conn_read(struct conn *cn)
{
	static char buf[16384];
	for (;;) {
		ssize_t n;
		if (cn->tls) {
			n = gnutls_record_recv(cn->tls, buf, sizeof(buf));
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				return 0;
			if (n == GNUTLS_E_PREMATURE_TERMINATION)
				n = 0;  /* closed without close_notify, as many servers do */
			if (n < 0 && !gnutls_error_is_fatal((int)n))
				continue;  /* a warning alert, a rehandshake request, a ticket */
			if (n < 0) {
				conn_failf(cn, K8S_ERR_CONNECT, "TLS receive failed: %s",
					   gnutls_strerror((int)n));
				return -1;
			}
		} else {
			n = recv(cn->fd, buf, sizeof(buf), 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			if (n < 0) {
				conn_fail_errno(cn, "receive failed", errno);
				return -1;
			}
		}
		if (n == 0)
			return conn_eof(cn);
		if ((cn->h2 ? h2_input(cn, buf, (size_t)n) : h1_input(cn, buf, (size_t)n)) < 0)
			return -1;
	}
}

/* Set up and ready: the connection's exchange goes out. */
static void conn_ready(struct conn *cn)
{
	struct k8s_http *h = cn->h;
	gnutls_datum_t alpn = { 0 };
	cn->state = CONN_READY;
	ev_timer_stop(h->loop, &cn->timer);
	if (cn->tls && gnutls_alpn_get_selected_protocol(cn->tls, &alpn) == 0 && alpn.size == 2 &&
	    memcmp(alpn.data, "h2", 2) == 0) {
		h->protocol = "h2";
		h2_ready(cn);
		return;
	}
	h->protocol = "http/1.1";
	if (h->tls)
		h->h1_only = true;
	/* One exchange on this connection; those that waited for it to see
	 * whether it would be HTTP/2 go elsewhere. */
	struct k8s_http_xfer *x = cn->list;
	while (x && x->lnext)
		x = x->lnext;  /* the oldest */
	if (!x) {
		conn_idle(cn);
		return;
	}
	detach(x);
	while (cn->list) {
		struct k8s_http_xfer *o = cn->list;
		detach(o);
		attach(o);
	}
	cn->xfer = x;
	x->conn = cn;
	h1_start(cn);
}

static void conn_handshake(struct conn *cn)
{
	for (;;) {
		int rc = gnutls_handshake(cn->tls);
		if (rc == GNUTLS_E_SUCCESS) {
			conn_ready(cn);
			return;
		}
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			conn_set_events(cn);
			return;
		}
		if (!gnutls_error_is_fatal(rc))
			continue;
		char *d = tls_error_text(cn, rc);
		conn_fail(cn, K8S_ERR_TLS, d);
		free(d);
		return;
	}
}

static void conn_connected(struct conn *cn)
{
	if (!cn->h->tls) {
		conn_ready(cn);
		return;
	}
	char *err = NULL;
	if (tls_session(cn, &err) < 0) {
		conn_fail(cn, K8S_ERR_TLS, err);
		free(err);
		return;
	}
	cn->state = CONN_HANDSHAKE;
	conn_handshake(cn);
}

/* Connect to the next address; 0 when under way or done, -1 when none is
 * left (the connection failed and is gone). */
static int conn_try(struct conn *cn)
{
	struct k8s_http *h = cn->h;
	for (; cn->addr; cn->addr = cn->addr->ai_next) {
		struct addrinfo *a = cn->addr;
		if (cn->fd >= 0) {
			ev_io_stop(h->loop, &cn->io);
			cn->events = 0;
			close(cn->fd);
		}
		cn->fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (cn->fd < 0) {
			cn->connect_errno = errno;
			continue;
		}
		int one = 1, idle = K8S_HTTP_KEEPIDLE, intvl = K8S_HTTP_KEEPINTVL;
		setsockopt(cn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(cn->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		setsockopt(cn->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
		setsockopt(cn->fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
		/* Done at once or not, the loop says when it is writable:
		 * set-up never calls a handler from the caller's stack. */
		if (connect(cn->fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
			cn->state = CONN_CONNECTING;
			conn_set_events(cn);
			return 0;
		}
		cn->connect_errno = errno;
	}
	conn_failf(cn, K8S_ERR_CONNECT, "cannot connect to %s port %s: %s", h->host, h->port,
		   strerror(cn->connect_errno ? cn->connect_errno : ECONNREFUSED));
	return -1;
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *cn = (struct conn *)((char *)w - offsetof(struct conn, io));
	struct k8s_http *h = cn->h;
	(void)loop;
	h->hooks.enter(h->hooks.arg);
	h->busy++;
	switch (cn->state) {
	case CONN_CONNECTING: {
		int e = 0;
		socklen_t len = sizeof(e);
		if (getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			e = errno;
		if (e == 0) {
			conn_connected(cn);
		} else {
			cn->connect_errno = e;
			cn->addr = cn->addr->ai_next;
			conn_try(cn);
		}
		break;
	}
	case CONN_HANDSHAKE:
		conn_handshake(cn);
		break;
	case CONN_READY:
		if ((revents & EV_WRITE) && (cn->h2 ? h2_flush(cn) : conn_flush(cn)) < 0)
			break;
		if (revents & EV_READ)
			conn_read(cn);
		break;
	}
	h->busy--;
	h->hooks.leave(h->hooks.arg);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *cn = (struct conn *)((char *)w - offsetof(struct conn, timer));
	struct k8s_http *h = cn->h;
	(void)loop;
	(void)revents;
	h->hooks.enter(h->hooks.arg);
	h->busy++;
	if (cn->state == CONN_READY) {
		conn_close(cn);  /* idle for long enough (no exchange, no stream) */
	} else {
		conn_failf(cn, K8S_ERR_TIMEOUT, "connection to %s port %s not set up within %g s",
			   h->host, h->port, K8S_HTTP_CONNECT_TIMEOUT);
	}
	h->busy--;
	h->hooks.leave(h->hooks.arg);
}

/* Off h->pending. */
static void unpend(struct k8s_http_xfer *x)
{
	if (!x->is_pending)
		return;
	if (x->pprev)
		x->pprev->pnext = x->pnext;
	else
		x->h->pending = x->pnext;
	if (x->pnext)
		x->pnext->pprev = x->pprev;
	x->pprev = x->pnext = NULL;
	x->is_pending = false;
}

/* Exchanges sent since the last loop iteration go onto connections now:
 * not from inside k8s_http_send(), which a controller calls in the middle
 * of a pass (connecting and encrypting belong to the loop, as with
 * libcurl's multi handle). */
static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct k8s_http *h = (struct k8s_http *)((char *)w - offsetof(struct k8s_http, kick));
	(void)loop;
	(void)revents;
	h->hooks.enter(h->hooks.arg);
	h->busy++;
	/* oldest first: the list is pushed at its head */
	struct k8s_http_xfer *x = h->pending;
	while (x && x->pnext)
		x = x->pnext;
	while (x) {
		struct k8s_http_xfer *prev = x->pprev;
		unpend(x);
		attach(x);
		x = prev;
	}
	h->busy--;
	h->hooks.leave(h->hooks.arg);
}

/* A new connection for x. */
static void conn_open(struct k8s_http *h, struct k8s_http_xfer *x)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (h->host_is_ip ? AI_NUMERICHOST : 0),
	}, *res = NULL;
	int rc = getaddrinfo(h->host, h->port, &hints, &res);
	if (rc != 0) {
		fail_later(x, K8S_ERR_CONNECT,
			   xasprintf("cannot resolve %s: %s", h->host,
				     rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc)));
		return;
	}
	struct conn *cn = xcalloc(1, sizeof(*cn));
	cn->h = h;
	cn->fd = -1;
	cn->addrs = cn->addr = res;
	ev_init(&cn->io, conn_io_cb);
	ev_timer_init(&cn->timer, conn_timer_cb, K8S_HTTP_CONNECT_TIMEOUT, 0.0);
	ev_timer_start(h->loop, &cn->timer);
	cn->next = h->conns;
	if (h->conns)
		h->conns->prev = cn;
	h->conns = cn;
	list_add(cn, x);
	conn_try(cn);
}

/* x onto a connection: an idle one, else a new one. */
static void attach(struct k8s_http_xfer *x)
{
	struct k8s_http *h = x->h;
	x->got_bytes = false;
	if (h->url_error) {
		fail_later(x, K8S_ERR_CONNECT, xstrdup(h->url_error));
		return;
	}
	for (struct conn *cn = h->conns; cn; cn = cn->next)
		if (cn->h2 && !cn->goaway) {
			h2_submit(cn, x);
			h2_flush(cn);
			return;
		}
	for (struct conn *cn = h->conns; cn; cn = cn->next)
		if (cn->idle) {
			cn->idle = false;
			h->idle--;
			ev_timer_stop(h->loop, &cn->timer);
			cn->xfer = x;
			x->conn = cn;
			h1_start(cn);
			return;
		}
	/* A TLS connection on its way may turn out HTTP/2 and carry x too:
	 * wait for it rather than open one more (as curl's PIPEWAIT). */
	if (h->tls && !h->h1_only)
		for (struct conn *cn = h->conns; cn; cn = cn->next)
			if (cn->state != CONN_READY) {
				list_add(cn, x);
				return;
			}
	conn_open(h, x);
}

/* x leaves its connection before the end: an HTTP/2 stream is reset; an
 * HTTP/1.1 connection in the middle of the exchange is closed; one being
 * set up is closed when no other exchange waits for it. */
static void leave_conn(struct k8s_http_xfer *x)
{
	struct conn *cn = x->conn;
	if (!cn)
		return;
	if (cn->h2) {
		h2_cancel(x);
		if (h2_flush(cn) == 0)
			h2_maybe_idle(cn);
		return;
	}
	bool setting_up = cn->state != CONN_READY;
	detach(x);
	if (!setting_up || !cn->list)
		conn_close(cn);
}

/* ------------------------------------------------------------------ */
/* the module's API */

struct k8s_http *k8s_http_new(struct ev_loop *loop, const struct k8s_config *cfg,
			      const char *user_agent, const struct k8s_http_hooks *hooks)
{
	struct k8s_http *h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->cfg = cfg;
	h->hooks = *hooks;
	h->user_agent = xstrdup(user_agent);
	ev_timer_init(&h->kick, kick_cb, 0.0, 0.0);
	parse_server(h, cfg->server);
	return h;
}

void k8s_http_free(struct k8s_http *h)
{
	if (!h)
		return;
	/* The client aborted every exchange first; what is left are idle
	 * connections. */
	while (h->conns) {
		struct conn *cn = h->conns;
		while (cn->xfer || cn->list) {
			struct k8s_http_xfer *x = cn->xfer ? cn->xfer : cn->list;
			detach(x);
			xfer_free(x);
		}
		conn_close(cn);
	}
	while (h->pending)
		k8s_http_abort(h->pending);
	ev_timer_stop(h->loop, &h->kick);
	if (h->cred)
		gnutls_certificate_free_credentials(h->cred);
	free(h->cred_error);
	free(h->user_agent);
	free(h->host);
	free(h->authority);
	free(h->port);
	free(h->prefix);
	free(h->url_error);
	free(h);
}

struct k8s_http_xfer *k8s_http_send(struct k8s_http *h, const struct k8s_http_request *req,
				    const struct k8s_http_handler *cb, void *arg)
{
	struct k8s_http_xfer *x = xcalloc(1, sizeof(*x));
	x->h = h;
	x->cb = *cb;
	x->arg = arg;
	x->method = xstrdup(req->method);
	x->path = xstrdup(req->path);
	x->token = req->token ? xstrdup(req->token) : NULL;
	x->content_type = req->content_type ? xstrdup(req->content_type) : NULL;
	if (req->body) {
		x->body = xmalloc(req->body_len + 1);
		memcpy(x->body, req->body, req->body_len);
		x->body[req->body_len] = '\0';
		x->body_len = req->body_len;
	}
	x->timeout = req->timeout;
	ev_timer_init(&x->timer, xfer_timer_cb, req->timeout, 0.0);
	if (req->timeout > 0)
		ev_timer_start(h->loop, &x->timer);
	x->is_pending = true;
	x->pnext = h->pending;
	if (h->pending)
		h->pending->pprev = x;
	h->pending = x;
	if (!ev_is_active(&h->kick))
		ev_timer_start(h->loop, &h->kick);
	return x;
}

void k8s_http_abort(struct k8s_http_xfer *x)
{
	if (!x)
		return;
	unpend(x);
	leave_conn(x);
	xfer_free(x);
}

const char *k8s_http_protocol(const struct k8s_http *h)
{
	return h->protocol;
}
