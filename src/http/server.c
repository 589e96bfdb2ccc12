/*
 * HTTP server on libmicrohttpd in external epoll mode (see server.h).
 *
 * We create and bind the listening socket ourselves, so that a failure
 * reaches the caller with its errno and the address as written, and hand a
 * duplicate of it to MHD, which owns and closes that copy.  MHD keeps its
 * sockets in an epoll set of its own; that set's descriptor is readable
 * whenever any of them has an event, so one ev_io covers every connection.
 * MHD also needs to run when a connection times out or when it has work
 * left from the previous run (then its timeout is 0): after every
 * MHD_run() the ev_timer is set from MHD_get_timeout(), and stopped when
 * MHD has nothing to wait for, so an idle server costs no wake-ups.
 */
#include "http/server.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

/* An idle connection is closed after this many seconds (slow clients must
 * not hold connections forever); scrapers reconnect. */
#define HTTP_IDLE_TIMEOUT 30
#define HTTP_MAX_CONNECTIONS 128
#define HTTP_LISTEN_BACKLOG 64

struct http_route {
	char *method;
	char *path;
	http_handler_fn *fn;
	void *arg;
};

struct http_server {
	struct ev_loop *loop;
	struct MHD_Daemon *mhd;
	uint16_t port;
	ev_io io;
	ev_timer timer;
	struct http_route *routes;
	size_t n_routes;
	/* MHD's messages while starting, for the caller's error message. */
	bool starting;
	char *start_log;
};

struct http_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
};

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	char *msg = xvasprintf(fmt, ap);
	size_t n = strlen(msg);

	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	if (srv->starting) {
		free(srv->start_log);
		srv->start_log = msg;
		return;
	}
	log_warn("http server error", "error", msg, NULL);
	free(msg);
}

static void rearm(struct http_server *srv)
{
	MHD_UNSIGNED_LONG_LONG ms;

	ev_timer_stop(srv->loop, &srv->timer);
	if (MHD_get_timeout(srv->mhd, &ms) == MHD_YES) {
		ev_timer_set(&srv->timer, (double)ms / 1000.0, 0.0);
		ev_timer_start(srv->loop, &srv->timer);
	}
}

static void on_epoll_ready(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_server *srv = w->data;

	MHD_run(srv->mhd);
	rearm(srv);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_server *srv = w->data;

	MHD_run(srv->mhd);
	rearm(srv);
}

struct http_server *http_server_new(struct ev_loop *loop)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));

	srv->loop = loop;
	ev_init(&srv->io, on_epoll_ready);
	srv->io.data = srv;
	ev_init(&srv->timer, on_timer);
	srv->timer.data = srv;
	return srv;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	if (srv->mhd) {
		ev_io_stop(srv->loop, &srv->io);
		ev_timer_stop(srv->loop, &srv->timer);
		MHD_stop_daemon(srv->mhd);
	}
	for (size_t i = 0; i < srv->n_routes; i++) {
		free(srv->routes[i].method);
		free(srv->routes[i].path);
	}
	free(srv->routes);
	free(srv->start_log);
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
	const char *v = NULL;

	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v,
					  NULL) != MHD_YES)
		return NULL;
	return v ? v : "";
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* The route for method and path; when there is none but the path has
 * routes, *allow lists their methods (malloc'd), for a 405. */
static const struct http_route *route_find(const struct http_server *srv, const char *method,
					   const char *path, char **allow)
{
	const struct http_route *get = NULL;
	bool has_head = false;
	char *list = NULL;

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
	/* MHD sends a GET response to a HEAD request without its body. */
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

static enum MHD_Result queue(struct MHD_Connection *conn, struct http_response *resp,
			     const char *allow)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;
	size_t len = resp->body ? resp->body_len : 0;

	mr = MHD_create_response_from_buffer_with_free_callback(len, resp->body, &free);
	if (!mr) {
		free(resp->body);
		return MHD_NO;
	}
	if (MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
				    resp->content_type ? resp->content_type : HTTP_TEXT_PLAIN) !=
		    MHD_YES ||
	    (allow && MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)) {
		MHD_destroy_response(mr);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, resp->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	struct http_server *srv = cls;
	struct http_request req = { .conn = conn, .method = method, .path = url };
	struct http_response resp = { .status = 200, .content_type = HTTP_TEXT_PLAIN };
	const struct http_route *r;
	char *allow = NULL;
	enum MHD_Result ret;

	/* MHD calls once after the headers, then once per piece of body, then
	 * once more with no data.  Answering before the last call would make
	 * MHD close the connection, so the answer waits for it; a body is
	 * read and dropped, as no route takes one. */
	if (!*req_cls) {
		*req_cls = srv;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}

	r = route_find(srv, method, url, &allow);
	if (r) {
		r->fn(&req, &resp, r->arg);
		if (resp.status < 100 || resp.status > 599)
			http_response_printf(&resp, 500, "handler for %s %s set status %u\n",
					     method, url, resp.status);
	} else if (allow) {
		http_response_printf(&resp, 405, "method %s not allowed for %s (allowed: %s)\n",
				     method, url, allow);
	} else {
		http_response_printf(&resp, 404, "not found: %s\n", url);
	}
	ret = queue(conn, &resp, allow);
	free(allow);
	return ret;
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
	int fd, mhd_fd;
	uint16_t port = 0;

	if (err)
		*err = NULL;
	if (srv->mhd)
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
	if (!MHD_is_feature_supported(MHD_FEATURE_EPOLL)) {
		close(fd);
		return fail(err, listen, "libmicrohttpd was built without epoll support");
	}
	mhd_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (mhd_fd < 0) {
		int saved = errno;
		close(fd);
		return fail(err, listen, strerror(saved));
	}

	srv->starting = true;
	srv->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				    &on_request, srv,
				    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)mhd_fd,
				    MHD_OPTION_EXTERNAL_LOGGER, &mhd_log, srv,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_IDLE_TIMEOUT,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS,
				    MHD_OPTION_END);
	srv->starting = false;
	/* The socket stays open through MHD's copy. */
	close(fd);
	if (!srv->mhd) {
		int rc = fail(err, listen,
			      srv->start_log ? srv->start_log : "libmicrohttpd failed to start");
		free(srv->start_log);
		srv->start_log = NULL;
		return rc;
	}
	free(srv->start_log);
	srv->start_log = NULL;

	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		MHD_stop_daemon(srv->mhd);
		srv->mhd = NULL;
		return fail(err, listen, "libmicrohttpd has no epoll descriptor");
	}
	ev_io_set(&srv->io, info->epoll_fd, EV_READ);
	ev_io_start(srv->loop, &srv->io);
	srv->port = port;
	rearm(srv);
	return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
	return srv->mhd ? srv->port : 0;
}
