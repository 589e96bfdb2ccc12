/*
 * The state exchange's binding: a TCP listener on the member port that
 * answers pulls, and non-blocking pulls of other members' states, on the
 * caller's libev loop.
 *
 * One connection carries one pull: the puller sends PULL with a fresh
 * random nonce, the server answers STATE (tagged over the nonce) and
 * closes.  Bounds: SYNC_CONNS_MAX connections served at once (a further
 * one is closed at once and counted), a request of at most
 * SYNC_REQUEST_MAX bytes, an answer of at most SYNC_MSG_MAX, every
 * connection closed after SYNC_TIMEOUT_S, a member pulled at most once
 * per SYNC_PULL_GAP_MS.  A pull that fails (refused, cut, timed out) is
 * tried again up to SYNC_RETRIES times, SYNC_RETRY_S apart.
 */
#include "member/sync.h"

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/hashmap.h"
#include "base/log.h"
#include "base/util.h"

struct sconn;

/* One member we pull from. */
struct pull {
	struct sync_io *io;
	char *name;
	struct member_addr addr;
	struct sconn *conn;          /* under way, or NULL */
	bool again;                  /* asked for while under way, or too soon */
	unsigned failures;           /* in a row */
	double last_start;
	ev_timer gap;
};

struct sconn {
	struct sync_io *io;
	int fd;
	struct pull *pull;           /* client side: the pull; NULL: served */
	bool served;                 /* server side: in io->conns */
	struct sconn *prev, *next;
	bool connecting;
	ev_io w;
	ev_timer timeout;
	struct wbuf out;
	size_t out_off;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t nonce[SYNC_NONCE_LEN];
};

struct sync_io {
	struct ev_loop *loop;
	char *name;
	int fd, family;
	uint16_t port;
	uint8_t *key;
	size_t key_len;
	bool (*is_member)(void *ctx, const char *name);
	const struct sync_state *(*local)(void *ctx);
	void (*on_state)(void *ctx, const char *name, struct sync_state *st);
	void *ctx;
	ev_io accept_w;
	unsigned nserved;            /* server connections open */
	struct sconn *conns;         /* those connections */
	struct hashmap pulls;        /* name -> struct pull */
	struct {
		uint64_t pulls, pull_errors, served, refused, bytes_in, bytes_out;
	} c;
};

static void conn_close(struct sconn *c);
static void pull_start(struct pull *p);

/* ------------------------------------------------------------ sockets */

static socklen_t sockaddr_of(int family, const struct member_addr *a, uint16_t port,
			     struct sockaddr_storage *ss)
{
	uint8_t b[16];
	memset(ss, 0, sizeof(*ss));
	ip_to_bytes(&a->ip, b);
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (a->ip.family != IP_FAMILY_V4)
			return 0;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, b, 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	if (a->ip.family == IP_FAMILY_V4) {
		s6->sin6_addr.s6_addr[10] = 0xff;
		s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], b, 4);
	} else {
		memcpy(&s6->sin6_addr, b, 16);
	}
	return sizeof(*s6);
}

static int open_listener(struct sync_io *io, const struct ip_addr *bind_ip, uint16_t port,
			 char *why, size_t whylen)
{
	int one = 1, zero = 0;
	io->family = bind_ip && bind_ip->family == IP_FAMILY_V4 ? AF_INET : AF_INET6;
	int fd = socket(io->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && !bind_ip && errno == EAFNOSUPPORT) {
		io->family = AF_INET;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		snprintf(why, whylen, "member sync: cannot open a TCP socket: %s", strerror(errno));
		return -1;
	}
	if (io->family == AF_INET6 && !bind_ip)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_storage ss;
	struct member_addr any = {0};
	if (bind_ip)
		any.ip = *bind_ip;
	else
		any.ip.family = io->family == AF_INET ? IP_FAMILY_V4 : IP_FAMILY_V6;
	socklen_t sl = sockaddr_of(io->family, &any, port, &ss);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
		snprintf(why, whylen, "member sync: cannot listen on TCP port %u: %s", port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						     : ((struct sockaddr_in6 *)&ss)->sin6_port);
	io->fd = fd;
	io->port = port;
	return 0;
}

/* ------------------------------------------------------------ connections */

static void conn_on_io(struct ev_loop *loop, ev_io *w, int revents);

static void conn_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sconn *c = w->data;
	(void)loop;
	(void)revents;
	if (c->pull)
		log_debug("state pull timed out", "member", c->pull->name, NULL);
	conn_close(c);
}

static struct sconn *conn_new(struct sync_io *io, int fd, struct pull *p)
{
	struct sconn *c = xcalloc(1, sizeof(*c));
	c->io = io;
	c->fd = fd;
	c->pull = p;
	wbuf_init_dyn(&c->out, 0);
	ev_io_init(&c->w, conn_on_io, fd, EV_READ);
	c->w.data = c;
	ev_timer_init(&c->timeout, conn_on_timeout, SYNC_TIMEOUT_S, 0.);
	c->timeout.data = c;
	ev_timer_start(io->loop, &c->timeout);
	if (!p) {
		c->served = true;
		io->nserved++;
		c->next = io->conns;
		if (io->conns)
			io->conns->prev = c;
		io->conns = c;
	}
	return c;
}

/* A pull that ended (well or not): the next one if it was asked for. */
static void pull_done(struct pull *p, bool ok)
{
	p->conn = NULL;
	if (!ok) {
		p->io->c.pull_errors++;
		if (p->failures++ < SYNC_RETRIES) {
			p->again = true;
			if (!ev_is_active(&p->gap)) {
				ev_timer_set(&p->gap, SYNC_RETRY_S, 0.);
				ev_timer_start(p->io->loop, &p->gap);
			}
		}
		return;
	}
	p->failures = 0;
	if (p->again) {
		p->again = false;
		pull_start(p);
	}
}

static void conn_close(struct sconn *c)
{
	struct sync_io *io = c->io;
	ev_io_stop(io->loop, &c->w);
	ev_timer_stop(io->loop, &c->timeout);
	close(c->fd);
	wbuf_free(&c->out);
	free(c->in);
	struct pull *p = c->pull;
	if (c->served) {
		io->nserved--;
		if (c->prev)
			c->prev->next = c->next;
		else
			io->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
	}
	free(c);
	if (p)
		pull_done(p, false);
}

/* Read into c->in until a whole framed message is there (1), not yet
 * (0), or the peer closed / sent too much (-1). */
static int conn_read(struct sconn *c, size_t max)
{
	for (;;) {
		size_t want = 4;
		if (c->in_len >= 4) {
			uint32_t len = (uint32_t)c->in[0] << 24 | (uint32_t)c->in[1] << 16 |
				       (uint32_t)c->in[2] << 8 | c->in[3];
			if (len > max)
				return -1;
			want = 4 + (size_t)len;
		}
		if (c->in_len == want && want > 4)
			return 1;
		if (c->in_cap < want) {
			/* Grow by what has arrived, not by what the peer announced:
			 * a claimed 64 MiB costs memory only as bytes come in. */
			size_t cap = c->in_cap ? c->in_cap * 2 : 1024;
			if (cap > want)
				cap = want;
			c->in = xrealloc(c->in, cap);
			c->in_cap = cap;
		}
		size_t room = (c->in_cap < want ? c->in_cap : want) - c->in_len;
		ssize_t n = read(c->fd, c->in + c->in_len, room);
		if (n == 0)
			return -1;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->in_len += (size_t)n;
		c->io->c.bytes_in += (uint64_t)n;
	}
}

/* Write what is left of c->out: 1 all sent, 0 not yet, -1 error. */
static int conn_write(struct sconn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = write(c->fd, c->out.p + c->out_off, c->out.len - c->out_off);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->out_off += (size_t)n;
		c->io->c.bytes_out += (uint64_t)n;
	}
	return 1;
}

static void conn_want(struct sconn *c, int events)
{
	ev_io_stop(c->io->loop, &c->w);
	ev_io_set(&c->w, c->fd, events);
	ev_io_start(c->io->loop, &c->w);
}

static double now_s(struct sync_io *io)
{
	return ev_now(io->loop);
}

/* Server: a whole request is in; answer it or close. */
static void serve(struct sconn *c)
{
	struct sync_io *io = c->io;
	struct sync_msg req;
	enum sync_msg_err why;
	const uint8_t *body = c->in + 4;
	size_t blen = c->in_len - 4;
	int rc = sync_msg_decode(body, blen, &req, &why);
	sync_state_free(&req.state);
	const char *bad = NULL;
	if (rc != 0)
		bad = sync_msg_err_str(why);
	else if (req.type != SYNC_MSG_PULL)
		bad = "not a pull";
	else if (io->key_len && (!req.tagged || !sync_msg_tag_ok(body, blen, io->key, io->key_len)))
		bad = "missing or wrong tag";
	else if (!io->is_member || !io->is_member(io->ctx, req.sender))
		bad = "not a configured member";
	if (bad) {
		io->c.refused++;
		log_debug("state pull refused", "member", rc == 0 ? req.sender : "?", "reason", bad,
			  NULL);
		conn_close(c);
		return;
	}
	struct sync_msg ans = {.type = SYNC_MSG_STATE};
	snprintf(ans.sender, sizeof(ans.sender), "%s", io->name);
	memcpy(ans.nonce, req.nonce, SYNC_NONCE_LEN);
	const struct sync_state *st = io->local ? io->local(io->ctx) : NULL;
	if (st)
		ans.state = *st;
	if (sync_msg_encode(&c->out, &ans, io->key, io->key_len) != 0) {
		log_error("cannot encode this node's state for a pull (over the size bounds)",
			  "member", req.sender, NULL);
		io->c.refused++;
		conn_close(c);
		return;
	}
	io->c.served++;
	conn_want(c, EV_WRITE);
}

/* Client: the whole answer is in. */
static void pulled(struct sconn *c)
{
	struct sync_io *io = c->io;
	struct pull *p = c->pull;
	struct sync_msg ans;
	enum sync_msg_err why;
	const uint8_t *body = c->in + 4;
	size_t blen = c->in_len - 4;
	int rc = sync_msg_decode(body, blen, &ans, &why);
	const char *bad = NULL;
	if (rc != 0)
		bad = sync_msg_err_str(why);
	else if (ans.type != SYNC_MSG_STATE)
		bad = "not a state answer";
	else if (io->key_len && (!ans.tagged || !sync_msg_tag_ok(body, blen, io->key, io->key_len)))
		bad = "missing or wrong tag";
	else if (strcmp(ans.sender, p->name) != 0)
		bad = "answered by another member";
	else if (memcmp(ans.nonce, c->nonce, SYNC_NONCE_LEN) != 0)
		bad = "not the answer to this pull (nonce)";
	if (bad) {
		log_warn("state pull answer dropped", "member", p->name, "reason", bad, NULL);
		sync_state_free(&ans.state);
		conn_close(c);
		return;
	}
	io->c.pulls++;
	/* Detach before the callback, which may ask for another pull. */
	c->pull = NULL;
	conn_close(c);
	p->conn = NULL;
	if (io->on_state)
		io->on_state(io->ctx, p->name, &ans.state);
	sync_state_free(&ans.state);
	pull_done(p, true);
}

static void conn_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sconn *c = w->data;
	(void)loop;
	if (c->connecting && (revents & EV_WRITE)) {
		int err = 0;
		socklen_t sl = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
		if (err) {
			log_debug("state pull cannot connect", "member", c->pull->name, "error",
				  strerror(err), NULL);
			conn_close(c);
			return;
		}
		c->connecting = false;
	}
	if (revents & EV_WRITE) {
		int r = conn_write(c);
		if (r < 0) {
			conn_close(c);
			return;
		}
		if (r == 1) {
			if (!c->pull) {
				/* Server: answered. */
				conn_close(c);
				return;
			}
			conn_want(c, EV_READ);
		}
		return;
	}
	if (revents & EV_READ) {
		int r = conn_read(c, c->pull ? SYNC_MSG_MAX : SYNC_REQUEST_MAX);
		if (r < 0) {
			if (!c->pull)
				c->io->c.refused++;
			conn_close(c);
		} else if (r == 1) {
			ev_io_stop(c->io->loop, &c->w);
			if (c->pull)
				pulled(c);
			else
				serve(c);
		}
	}
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sync_io *io = w->data;
	(void)loop;
	(void)revents;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (io->nserved >= SYNC_CONNS_MAX) {
			io->c.refused++;
			close(fd);
			continue;
		}
		struct sconn *c = conn_new(io, fd, NULL);
		conn_want(c, EV_READ);
	}
}

/* ------------------------------------------------------------ pulls */

static void on_gap(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pull *p = w->data;
	(void)loop;
	(void)revents;
	if (!p->conn && p->again) {
		p->again = false;
		pull_start(p);
	}
}

static void pull_start(struct pull *p)
{
	struct sync_io *io = p->io;
	double now = now_s(io);
	if (p->conn) {
		p->again = true;
		return;
	}
	if (p->last_start && now - p->last_start < SYNC_PULL_GAP_MS / 1000.0) {
		p->again = true;
		if (!ev_is_active(&p->gap)) {
			ev_timer_set(&p->gap, SYNC_PULL_GAP_MS / 1000.0 - (now - p->last_start), 0.);
			ev_timer_start(io->loop, &p->gap);
		}
		return;
	}
	p->last_start = now;
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(io->family, &p->addr, io->port, &ss);
	int fd = sl ? socket(io->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
	if (fd < 0) {
		pull_done(p, false);
		return;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		log_debug("state pull cannot connect", "member", p->name, "error", strerror(errno),
			  NULL);
		close(fd);
		pull_done(p, false);
		return;
	}
	struct sconn *c = conn_new(io, fd, p);
	c->connecting = true;
	p->conn = c;
	if (getrandom(c->nonce, sizeof(c->nonce), 0) != (ssize_t)sizeof(c->nonce)) {
		/* Never without a fresh nonce: an answer could then be replayed. */
		conn_close(c);
		return;
	}
	struct sync_msg req = {.type = SYNC_MSG_PULL};
	snprintf(req.sender, sizeof(req.sender), "%s", io->name);
	memcpy(req.nonce, c->nonce, SYNC_NONCE_LEN);
	if (sync_msg_encode(&c->out, &req, io->key, io->key_len) != 0) {
		conn_close(c);
		return;
	}
	conn_want(c, EV_WRITE);
}

void sync_io_pull(struct sync_io *io, const char *name, const struct member_addr *addr)
{
	struct pull *p = hashmap_get_str(&io->pulls, name);
	if (!p) {
		p = xcalloc(1, sizeof(*p));
		p->io = io;
		p->name = xstrdup(name);
		ev_timer_init(&p->gap, on_gap, 0., 0.);
		p->gap.data = p;
		hashmap_put_str(&io->pulls, p->name, p, NULL);
	}
	p->addr = *addr;
	p->failures = 0;
	pull_start(p);
}

/* ------------------------------------------------------------ setup */

struct sync_io *sync_io_new(struct ev_loop *loop, const struct sync_io_config *cfg, char *why,
			    size_t whylen)
{
	if (!cfg->name || !member_name_valid(cfg->name, strlen(cfg->name))) {
		snprintf(why, whylen, "member sync: invalid node name");
		return NULL;
	}
	struct sync_io *io = xcalloc(1, sizeof(*io));
	io->loop = loop;
	io->fd = -1;
	if (open_listener(io, cfg->bind, cfg->port, why, whylen) != 0) {
		free(io);
		return NULL;
	}
	io->name = xstrdup(cfg->name);
	if (cfg->key && cfg->key_len) {
		io->key = xmalloc(cfg->key_len);
		memcpy(io->key, cfg->key, cfg->key_len);
		io->key_len = cfg->key_len;
	}
	io->is_member = cfg->is_member;
	io->local = cfg->local;
	io->on_state = cfg->on_state;
	io->ctx = cfg->ctx;
	hashmap_init(&io->pulls, false);
	ev_io_init(&io->accept_w, on_accept, io->fd, EV_READ);
	io->accept_w.data = io;
	ev_io_start(loop, &io->accept_w);
	return io;
}

void sync_io_free(struct sync_io *io)
{
	if (!io)
		return;
	ev_io_stop(io->loop, &io->accept_w);
	close(io->fd);
	struct hashmap_iter it;
	hashmap_iter_init(&it, &io->pulls);
	while (hashmap_iter_next(&it)) {
		struct pull *p = it.value;
		ev_timer_stop(io->loop, &p->gap);
		if (p->conn) {
			p->again = false;
			struct sconn *c = p->conn;
			c->pull = NULL;
			conn_close(c);
		}
		free(p->name);
		free(p);
	}
	hashmap_clear(&io->pulls);
	while (io->conns)
		conn_close(io->conns);
	free(io->key);
	free(io->name);
	free(io);
}

uint16_t sync_io_port(const struct sync_io *io)
{
	return io->port;
}

json_t *sync_io_status_json(const struct sync_io *io)
{
	json_t *o = json_object();
#define C(f) json_object_set_new(o, #f, json_integer((json_int_t)io->c.f))
	C(pulls); C(pull_errors); C(served); C(refused); C(bytes_in); C(bytes_out);
#undef C
	return o;
}
