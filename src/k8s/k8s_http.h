/*
 * The API client's transport: HTTP exchanges with the one API server of a
 * k8s_config, on the client's libev loop, over TCP, TLS (GnuTLS) or
 * neither (http:// servers): HTTP/2 (nghttp2) when the server chooses it
 * by ALPN, else HTTP/1.1.  k8s_client.c is its only user; it knows
 * nothing of Kubernetes.
 *
 * An exchange is started with k8s_http_send() and reports through its
 * handler: head (status and Retry-After) once a response head has come,
 * data for each piece of the body as it arrives (a watch's stream is
 * decoded from there), and done exactly once at the end, unless
 * k8s_http_abort() came first.  The handler's functions are called only
 * from the loop, between the hooks' enter and leave, never from inside
 * k8s_http_send() or k8s_http_abort(); they must not call this module
 * (the client defers what they start or cancel until leave).
 *
 * The server's certificate is checked against the configuration's CA only
 * (or the system's CAs when it names none), and must name the host of the
 * server's URL, a DNS name or an IP address; insecure turns both checks
 * off.  A client certificate and key (PEM; any key GnuTLS reads: PKCS#1,
 * PKCS#8, SEC1) are presented when given.
 */
#ifndef IRONLB_K8S_K8S_HTTP_H
#define IRONLB_K8S_K8S_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "k8s/k8s_client.h"
#include "k8s/k8s_config.h"

struct ev_loop;
struct k8s_http;
struct k8s_http_xfer;

struct k8s_http_hooks {
	void (*enter)(void *arg);   /* before the handlers of one loop event */
	void (*leave)(void *arg);   /* after them: the module is ready for calls */
	void *arg;
};

struct k8s_http_handler {
	void (*head)(void *arg, long status, const char *retry_after);
	/* Non-zero: the exchange ends here (done follows with K8S_ERR_CONNECT
	 * and "stopped by the client"). */
	int (*data)(void *arg, const char *p, size_t n);
	/* K8S_OK and NULL for a complete response; else the failure in a
	 * few words ("Connection refused", "certificate is not trusted ..."). */
	void (*done)(void *arg, enum k8s_error error, const char *detail);
};

struct k8s_http_request {
	const char *method;
	const char *path;          /* from '/', with the query */
	const char *token;         /* sent as a bearer token; NULL: none */
	const char *content_type;  /* of body */
	const char *body;          /* NULL: none */
	size_t body_len;
	double timeout;            /* the whole exchange, seconds; 0: none */
};

/* cfg is read, and must outlive the transport. */
struct k8s_http *k8s_http_new(struct ev_loop *loop, const struct k8s_config *cfg,
			      const char *user_agent, const struct k8s_http_hooks *hooks);
/* Closes every connection; exchanges under way end without callbacks. */
void k8s_http_free(struct k8s_http *h);

/* Never NULL; the request's strings are copied. */
struct k8s_http_xfer *k8s_http_send(struct k8s_http *h, const struct k8s_http_request *req,
				    const struct k8s_http_handler *cb, void *arg);
/* Ends an exchange without calling its handler again; its connection is
 * closed when the exchange was half way. */
void k8s_http_abort(struct k8s_http_xfer *x);

/* The protocol of the newest connection set up: "h2", "http/1.1", or NULL
 * before the first. */
const char *k8s_http_protocol(const struct k8s_http *h);

/* s URL-encoded as a query value (RFC 3986: everything but unreserved
 * characters percent-encoded), newly allocated. */
char *k8s_http_escape(const char *s);

#endif
