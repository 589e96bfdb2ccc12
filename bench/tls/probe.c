/*
 * One HTTP/TLS stack as the Kubernetes client would use it, for
 * bench/tls_stack.py: connect to an API server, check its certificate
 * against a CA file, present a client certificate, send `count` GETs of
 * `path` on one connection, then report what the process holds.
 *
 * Built once per stack (-DSTACK_CURL, -DSTACK_OPENSSL, -DSTACK_GNUTLS,
 * -DSTACK_MBEDTLS).  The raw stacks speak HTTP/1.1 with keep-alive; the
 * curl one is configured as src/k8s/k8s_client.c configures libcurl
 * (HTTP/2 over TLS, gzip accepted).
 *
 *   probe NAME ADDR PORT CA CERT KEY PATH COUNT
 *
 * NAME is what the server's certificate must name (a DNS name or an IP
 * address), ADDR where to connect.
 *
 * Prints one JSON line: handshake_ms, cpu_ms (user+system for the whole
 * run), bytes, and from /proc/self/smaps: rss_kib, heap_kib, and rss of
 * every mapped file by name.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "probe: %s: %s\n", what, why);
	exit(1);
}

static void report(double handshake_ms, double cpu, size_t bytes)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512], name[256] = "";
	struct { char name[128]; long kib; } libs[128];
	int nlibs = 0;
	long rss = 0, heap = 0;
	if (!f)
		die("/proc/self/smaps", "cannot open");
	while (fgets(line, sizeof line, f)) {
		unsigned long a, b;
		char perms[8], path[256] = "";
		long kib;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &a, &b, perms, path) >= 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			const char *s = strrchr(path, '/');
			snprintf(name, sizeof name, "%s", s ? s + 1 : path[0] ? path : "[anon]");
		} else if (sscanf(line, "Rss: %ld kB", &kib) == 1) {
			rss += kib;
			if (!strcmp(name, "[heap]"))
				heap += kib;
			int i;
			for (i = 0; i < nlibs && strcmp(libs[i].name, name); i++)
				;
			if (i == nlibs && nlibs < 128) {
				snprintf(libs[i].name, sizeof libs[i].name, "%s", name);
				libs[i].kib = 0;
				nlibs++;
			}
			if (i < 128)
				libs[i].kib += kib;
		}
	}
	fclose(f);
	printf("{\"handshake_ms\": %.3f, \"cpu_ms\": %.3f, \"bytes\": %zu, \"rss_kib\": %ld, "
	       "\"heap_kib\": %ld, \"maps\": {", handshake_ms, cpu, bytes, rss, heap);
	for (int i = 0; i < nlibs; i++)
		printf("%s\"%s\": %ld", i ? ", " : "", libs[i].name, libs[i].kib);
	printf("}}\n");
}

#ifdef STACK_CURL
#include <curl/curl.h>

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	*(size_t *)arg += sz * n;
	return sz * n;
}

int main(int argc, char **argv)
{
	if (argc != 9)
		die("usage", "probe NAME ADDR PORT CA CERT KEY PATH COUNT");
	int count = atoi(argv[8]);
	size_t bytes = 0;
	double t0 = now_ms(), hs = 0;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURLM *m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	CURL *e = curl_easy_init();
	char url[512];
	char resolve[300];
	snprintf(url, sizeof url, "https://%s:%s%s", argv[1], argv[3], argv[7]);
	snprintf(resolve, sizeof resolve, "%s:%s:%s", argv[1], argv[3], argv[2]);
	struct curl_slist *rl = curl_slist_append(NULL, resolve);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_RESOLVE, rl);
	curl_easy_setopt(e, CURLOPT_CAINFO, argv[4]);
	curl_easy_setopt(e, CURLOPT_SSLCERT, argv[5]);
	curl_easy_setopt(e, CURLOPT_SSLKEY, argv[6]);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &bytes);
	for (int i = 0; i < count; i++) {
		curl_multi_add_handle(m, e);
		int running = 1;
		while (running) {
			curl_multi_perform(m, &running);
			if (running)
				curl_multi_poll(m, NULL, 0, 1000, NULL);
		}
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE && msg->data.result != CURLE_OK)
				die(url, curl_easy_strerror(msg->data.result));
		long code = 0;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200)
			die(url, "status is not 200");
		curl_multi_remove_handle(m, e);
		if (i == 0)
			hs = now_ms() - t0;
	}
	report(hs, cpu_ms(), bytes);
	return 0;
}

#else /* the raw stacks: a TCP connection, TLS over it, HTTP/1.1 */

static int tcp_connect(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	if (getaddrinfo(host, port, &hints, &res))
		die(host, "cannot resolve");
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen))
		die(host, "cannot connect");
	freeaddrinfo(res);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* The stack's three operations. */
static void tls_open(int fd, const char *host, const char *ca, const char *cert, const char *key);
static void tls_write(const char *p, size_t n);
static long tls_read(char *p, size_t n);  /* >0, or 0 at the end */

/* One response: status 200, body by Content-Length or chunked. */
static size_t get_one(const char *host, const char *path)
{
	static char buf[1 << 16];
	static size_t have;
	char req[1024];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
			 "User-Agent: ironlb-tls-probe\r\n\r\n", path, host);
	tls_write(req, (size_t)n);
	char *end;
	while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
		long r = tls_read(buf + have, sizeof buf - have);
		if (r <= 0)
			die(path, "connection closed in the header");
		have += (size_t)r;
	}
	if (strncmp(buf, "HTTP/1.1 200", 12))
		die(path, "status is not 200");
	size_t hdr = (size_t)(end - buf) + 4;
	buf[hdr - 1] = 0;
	long clen = -1;
	const char *cl = strcasestr(buf, "\r\ncontent-length:");
	if (cl)
		clen = atol(cl + 17);
	int chunked = strcasestr(buf, "\r\ntransfer-encoding: chunked") != NULL;
	memmove(buf, buf + hdr, have - hdr);
	have -= hdr;
	size_t body = 0;
	if (!chunked) {
		if (clen < 0)
			die(path, "neither Content-Length nor chunked");
		while ((long)have < clen) {
			long r = tls_read(buf + have, sizeof buf - have);
			if (r <= 0)
				die(path, "short body");
			clen -= (long)have;
			body += have;
			have = 0;
			have += (size_t)r;
		}
		body += (size_t)clen;
		memmove(buf, buf + clen, have - (size_t)clen);
		have -= (size_t)clen;
		return body;
	}
	for (;;) {
		char *crlf;
		while (!(crlf = memmem(buf, have, "\r\n", 2))) {
			long r = tls_read(buf + have, sizeof buf - have);
			if (r <= 0)
				die(path, "short chunk");
			have += (size_t)r;
		}
		size_t len = strtoul(buf, NULL, 16), skip = (size_t)(crlf - buf) + 2;
		while (have < skip + len + 2) {
			long r = tls_read(buf + have, sizeof buf - have);
			if (r <= 0)
				die(path, "short chunk");
			have += (size_t)r;
		}
		body += len;
		memmove(buf, buf + skip + len + 2, have - skip - len - 2);
		have -= skip + len + 2;
		if (len == 0)
			return body;
	}
}

int main(int argc, char **argv)
{
	if (argc != 9)
		die("usage", "probe NAME ADDR PORT CA CERT KEY PATH COUNT");
	int count = atoi(argv[8]);
	size_t bytes = 0;
	double t0 = now_ms();
	tls_open(tcp_connect(argv[2], argv[3]), argv[1], argv[4], argv[5], argv[6]);
	double hs = 0;
	for (int i = 0; i < count; i++) {
		bytes += get_one(argv[1], argv[7]);
		if (i == 0)
			hs = now_ms() - t0;
	}
	report(hs, cpu_ms(), bytes);
	return 0;
}
#endif

#ifdef STACK_OPENSSL
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static SSL *ssl;

static void tls_open(int fd, const char *host, const char *ca, const char *cert, const char *key)
{
	OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		die("credentials", ERR_reason_error_string(ERR_get_error()));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	if (!X509_VERIFY_PARAM_set1_ip_asc(vp, host)) {
		SSL_set_tlsext_host_name(ssl, host);
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
	}
	if (SSL_connect(ssl) != 1)
		die("handshake", ERR_reason_error_string(ERR_get_error()));
}

static void tls_write(const char *p, size_t n)
{
	if (SSL_write(ssl, p, (int)n) != (int)n)
		die("write", "failed");
}

static long tls_read(char *p, size_t n)
{
	int r = SSL_read(ssl, p, (int)n);
	return r > 0 ? r : 0;
}
#endif

#ifdef STACK_GNUTLS
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

static gnutls_session_t sess;

static void tls_open(int fd, const char *host, const char *ca, const char *cert, const char *key)
{
	gnutls_certificate_credentials_t cred;
	int r;
	gnutls_certificate_allocate_credentials(&cred);
	if (gnutls_certificate_set_x509_trust_file(cred, ca, GNUTLS_X509_FMT_PEM) <= 0)
		die(ca, "no CA certificate");
	if ((r = gnutls_certificate_set_x509_key_file(cred, cert, key, GNUTLS_X509_FMT_PEM)) < 0)
		die(cert, gnutls_strerror(r));
	gnutls_init(&sess, GNUTLS_CLIENT);
	gnutls_set_default_priority(sess);
	gnutls_credentials_set(sess, GNUTLS_CRD_CERTIFICATE, cred);
	struct in6_addr a6;
	struct in_addr a4;
	if (!inet_pton(AF_INET, host, &a4) && !inet_pton(AF_INET6, host, &a6))
		gnutls_server_name_set(sess, GNUTLS_NAME_DNS, host, strlen(host));
	gnutls_session_set_verify_cert(sess, host, 0);
	gnutls_transport_set_int(sess, fd);
	do
		r = gnutls_handshake(sess);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0)
		die("handshake", gnutls_strerror(r));
}

static void tls_write(const char *p, size_t n)
{
	if (gnutls_record_send(sess, p, n) != (ssize_t)n)
		die("write", "failed");
}

static long tls_read(char *p, size_t n)
{
	ssize_t r;
	do
		r = gnutls_record_recv(sess, p, n);
	while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
	return r > 0 ? r : 0;
}
#endif

#ifdef STACK_MBEDTLS
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

static mbedtls_ssl_context ssl;
static mbedtls_net_context net;

static void tls_open(int fd, const char *host, const char *ca, const char *cert, const char *key)
{
	static mbedtls_ssl_config conf;
	static mbedtls_x509_crt cacert, own;
	static mbedtls_pk_context pk;
	static mbedtls_entropy_context ent;
	static mbedtls_ctr_drbg_context drbg;
	char err[160];
	int r;
	mbedtls_ssl_init(&ssl);
	mbedtls_ssl_config_init(&conf);
	mbedtls_x509_crt_init(&cacert);
	mbedtls_x509_crt_init(&own);
	mbedtls_pk_init(&pk);
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0);
	if ((r = mbedtls_x509_crt_parse_file(&cacert, ca)) ||
	    (r = mbedtls_x509_crt_parse_file(&own, cert)) ||
	    (r = mbedtls_pk_parse_keyfile(&pk, key, NULL))) {
		mbedtls_strerror(r, err, sizeof err);
		die("credentials", err);
	}
	mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
				    MBEDTLS_SSL_PRESET_DEFAULT);
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&conf, &cacert, NULL);
	mbedtls_ssl_conf_own_cert(&conf, &own, &pk);
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_setup(&ssl, &conf);
	mbedtls_ssl_set_hostname(&ssl, host);
	net.fd = fd;
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
	while ((r = mbedtls_ssl_handshake(&ssl)) != 0)
		if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) {
			char info[512];
			mbedtls_x509_crt_verify_info(info, sizeof info, "", mbedtls_ssl_get_verify_result(&ssl));
			mbedtls_strerror(r, err, sizeof err);
			fprintf(stderr, "probe: verification: %s", info);
			die("handshake", err);
		}
}

static void tls_write(const char *p, size_t n)
{
	if (mbedtls_ssl_write(&ssl, (const unsigned char *)p, n) != (int)n)
		die("write", "failed");
}

static long tls_read(char *p, size_t n)
{
	int r = mbedtls_ssl_read(&ssl, (unsigned char *)p, n);
	return r > 0 ? r : 0;
}
#endif
