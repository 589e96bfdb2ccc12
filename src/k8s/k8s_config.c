/*
 * Kubeconfig and in-cluster configuration (see k8s_config.h).
 *
 * The kubeconfig is read by the manifest reader, so YAML and JSON alike
 * give trees with lines, and every error below points at file:line and the
 * field path (`users[1].user.token`).  The reader insists on apiVersion and
 * kind, which client-go does not: a kubeconfig without them is read again
 * with the missing lines appended (YAML) or by jansson (JSON).
 */
#include "k8s/k8s_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/util.h"
#include "manifest/manifest.h"
#include "manifest/tree.h"

/* ------------------------------------------------------------------ */
/* base64 */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int k8s_base64_decode(const char *in, char **out, size_t *outlen, char **err)
{
	size_t n = strlen(in);
	char *o = xmalloc(n / 4 * 3 + 4);
	size_t len = 0, chars = 0, pads = 0;
	uint32_t acc = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pads++;
			continue;
		}
		int v = b64_value(c);
		if (v < 0 || pads) {
			if (v < 0 && c >= 0x20 && c < 0x7f)
				*err = xasprintf("not valid base64 (character '%c' at offset %zu)", c, i);
			else if (v < 0)
				*err = xasprintf("not valid base64 (byte 0x%02x at offset %zu)", c, i);
			else
				*err = xasprintf("not valid base64 ('=' before the end, at offset %zu)", i);
			free(o);
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		if (++chars % 4 == 0) {
			o[len++] = (char)(acc >> 16);
			o[len++] = (char)(acc >> 8);
			o[len++] = (char)acc;
			acc = 0;
		}
	}
	size_t rest = chars % 4;
	if (rest == 1 || pads > 2 || (pads && (chars + pads) % 4 != 0)) {
		*err = xasprintf("not valid base64 (%zu characters and %zu '=' do not make whole "
				 "groups of four)", chars, pads);
		free(o);
		return -1;
	}
	if (rest == 2) {
		o[len++] = (char)(acc >> 4);
	} else if (rest == 3) {
		o[len++] = (char)(acc >> 10);
		o[len++] = (char)(acc >> 2);
	}
	o[len] = '\0';
	*out = o;
	*outlen = len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* helpers */

void k8s_config_free(struct k8s_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->source);
	free(cfg->server);
	free(cfg->namespace_);
	free(cfg->ca_file);
	free(cfg->ca_data);
	free(cfg->cert_file);
	free(cfg->key_file);
	free(cfg->cert_data);
	free(cfg->key_data);
	free(cfg->token);
	free(cfg->token_file);
	memset(cfg, 0, sizeof(*cfg));
}

/* The text of a file with surrounding blanks and line breaks removed. */
static char *read_trimmed(const char *path, int *errnum)
{
	size_t len;
	char *s = file_read_all(path, &len);
	if (!s) {
		*errnum = errno;
		return NULL;
	}
	size_t a = 0;
	while (a < len && strchr(" \t\r\n", s[a]))
		a++;
	while (len > a && strchr(" \t\r\n", s[len - 1]))
		len--;
	char *t = xstrndup(s + a, len - a);
	free(s);
	return t;
}

static bool same_stat(const struct k8s_config *cfg, const struct stat *st)
{
	return cfg->token_dev == st->st_dev && cfg->token_ino == st->st_ino &&
	       cfg->token_size == st->st_size && cfg->token_mtime.tv_sec == st->st_mtim.tv_sec &&
	       cfg->token_mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Read the token file now: 0, or -1 with *err. */
static int token_reload(struct k8s_config *cfg, char **err)
{
	struct stat st;
	int e = 0;
	if (stat(cfg->token_file, &st) != 0) {
		*err = xasprintf("cannot read token file %s: %s", cfg->token_file, strerror(errno));
		return -1;
	}
	char *t = read_trimmed(cfg->token_file, &e);
	if (!t) {
		*err = xasprintf("cannot read token file %s: %s", cfg->token_file, strerror(e));
		return -1;
	}
	if (!t[0]) {
		free(t);
		*err = xasprintf("token file %s is empty", cfg->token_file);
		return -1;
	}
	free(cfg->token);
	cfg->token = t;
	cfg->token_dev = st.st_dev;
	cfg->token_ino = st.st_ino;
	cfg->token_size = st.st_size;
	cfg->token_mtime = st.st_mtim;
	return 0;
}

const char *k8s_config_token(struct k8s_config *cfg, char **err)
{
	if (!cfg->token_file)
		return cfg->token;
	struct stat st;
	if (cfg->token && stat(cfg->token_file, &st) == 0 && same_stat(cfg, &st))
		return cfg->token;
	char *e = NULL;
	if (token_reload(cfg, &e) < 0) {
		if (err)
			*err = e;
		else
			free(e);
	}
	return cfg->token;
}

/* ------------------------------------------------------------------ */
/* kubeconfig */

struct kc {
	struct k8s_config *cfg;
	const char *path;        /* the kubeconfig, for messages */
	char *dir;               /* its directory, for relative file names */
	char **err;
	struct manifest_set set; /* what the reader made (the tree points into it) */
	struct tree *json_root;  /* or what jansson made */
};

static int kc_fail(struct kc *kc, const struct tree *at, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int kc_fail(struct kc *kc, const struct tree *at, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	char line[24] = "";
	if (at && at->line > 0)
		snprintf(line, sizeof(line), ":%d", at->line);
	*kc->err = xasprintf("kubeconfig %s%s: %s%s%s", kc->path, line, field ? field : "",
			     field ? ": " : "", m);
	free(m);
	return -1;
}

/* Member `key` of obj (path `base`) as a string: 0 and *out (NULL when
 * absent or null), or -1 when it is of another type. */
static int kc_string(struct kc *kc, const struct tree *obj, const char *base, const char *key,
		     const char **out)
{
	const struct tree *v = tree_get(obj, key);
	*out = NULL;
	if (!v || v->type == TREE_NULL)
		return 0;
	if (v->type != TREE_STRING) {
		char *p = tree_path_join_key(base, key);
		kc_fail(kc, v, p, "expected a string, found %s (%s)", tree_type_name(v->type),
			v->text ? v->text : "...");
		free(p);
		return -1;
	}
	*out = v->text[0] ? v->text : NULL;
	return 0;
}

/* The file name as client-go resolves it: relative to the kubeconfig. */
static char *kc_resolve(const struct kc *kc, const char *name)
{
	if (name[0] == '/' || !kc->dir)
		return xstrdup(name);
	return xasprintf("%s/%s", kc->dir, name);
}

/* A file named by field `key`: resolved and checked to be readable. */
static int kc_file(struct kc *kc, const struct tree *obj, const char *base, const char *key,
		   char **out)
{
	const char *name;
	*out = NULL;
	if (kc_string(kc, obj, base, key, &name) < 0)
		return -1;
	if (!name)
		return 0;
	char *path = kc_resolve(kc, name);
	if (access(path, R_OK) != 0) {
		int e = errno;
		char *p = tree_path_join_key(base, key);
		kc_fail(kc, tree_get(obj, key), p, "cannot read %s: %s", path, strerror(e));
		free(p);
		free(path);
		return -1;
	}
	*out = path;
	return 0;
}

/* A base64 field `key`, decoded into *out and *len (NULL when absent). */
static int kc_data(struct kc *kc, const struct tree *obj, const char *base, const char *key,
		   char **out, size_t *len)
{
	const char *text;
	*out = NULL;
	*len = 0;
	if (kc_string(kc, obj, base, key, &text) < 0)
		return -1;
	if (!text)
		return 0;
	char *e = NULL;
	if (k8s_base64_decode(text, out, len, &e) < 0) {
		char *p = tree_path_join_key(base, key);
		kc_fail(kc, tree_get(obj, key), p, "%s", e);
		free(p);
		free(e);
		return -1;
	}
	return 0;
}

/* The entry of list `list` (clusters, users, contexts) whose name is
 * `name`: its inner object (`inner`: cluster, user, context) and the path
 * of that object. */
static int kc_named(struct kc *kc, const struct tree *root, const char *list, const char *inner,
		    const char *name, const char *wanted_by, const struct tree **out,
		    char **path)
{
	const struct tree *l = tree_get(root, list);
	*out = NULL;
	*path = NULL;
	if (l && l->type != TREE_ARRAY && l->type != TREE_NULL)
		return kc_fail(kc, l, list, "expected a list, found %s", tree_type_name(l->type));
	char *names = NULL;
	for (size_t i = 0; l && l->type == TREE_ARRAY && i < l->n; i++) {
		const struct tree *e = l->items[i];
		char *ep = tree_path_join_index(list, i);
		const char *n;
		if (e->type != TREE_OBJECT) {
			kc_fail(kc, e, ep, "expected an object with name and %s, found %s", inner,
				tree_type_name(e->type));
			free(ep);
			free(names);
			return -1;
		}
		if (kc_string(kc, e, ep, "name", &n) < 0) {
			free(ep);
			free(names);
			return -1;
		}
		if (n && strcmp(n, name) == 0) {
			const struct tree *in = tree_get(e, inner);
			char *ip = tree_path_join_key(ep, inner);
			free(ep);
			free(names);
			if (in && in->type != TREE_OBJECT && in->type != TREE_NULL) {
				kc_fail(kc, in, ip, "expected an object, found %s",
					tree_type_name(in->type));
				free(ip);
				return -1;
			}
			*out = in && in->type == TREE_OBJECT ? in : NULL;
			*path = ip;
			return 0;
		}
		free(ep);
		if (n) {
			char *nn = names ? xasprintf("%s, %s", names, n) : xstrdup(n);
			free(names);
			names = nn;
		}
	}
	kc_fail(kc, l ? l : root, list, "no %s named \"%s\" (%s); %s are: %s", inner, name,
		wanted_by, list, names ? names : "none");
	free(names);
	return -1;
}

static const char *const unsupported_user[][2] = {
	{ "exec", "exec credential plugins are not supported; use token, tokenFile or a client "
		  "certificate" },
	{ "auth-provider", "auth-provider plugins are not supported; use token, tokenFile or a "
			   "client certificate" },
	{ "username", "basic authentication is not supported (Kubernetes removed it in 1.19); "
		      "use token, tokenFile or a client certificate" },
	{ "password", "basic authentication is not supported (Kubernetes removed it in 1.19); "
		      "use token, tokenFile or a client certificate" },
	{ "as", "impersonation is not supported" },
};

static int kc_cluster(struct kc *kc, const struct tree *c, const char *path)
{
	struct k8s_config *cfg = kc->cfg;
	const char *server;
	if (!c)
		return kc_fail(kc, NULL, path, "is missing (it holds server)");
	if (kc_string(kc, c, path, "server", &server) < 0)
		return -1;
	char *sp = tree_path_join_key(path, "server");
	if (!server) {
		kc_fail(kc, c, sp, "is missing (expected the API server's URL, "
			"e.g. https://10.0.0.1:6443)");
		free(sp);
		return -1;
	}
	if (!str_has_prefix(server, "https://") && !str_has_prefix(server, "http://")) {
		kc_fail(kc, tree_get(c, "server"), sp, "\"%s\" is not an https:// or http:// URL",
			server);
		free(sp);
		return -1;
	}
	free(sp);
	size_t n = strlen(server);
	while (n > 0 && server[n - 1] == '/')
		n--;
	cfg->server = xstrndup(server, n);
	const struct tree *ins = tree_get(c, "insecure-skip-tls-verify");
	if (ins && ins->type != TREE_NULL) {
		char *p = tree_path_join_key(path, "insecure-skip-tls-verify");
		if (ins->type != TREE_BOOL) {
			kc_fail(kc, ins, p, "expected true or false, found %s (%s)",
				tree_type_name(ins->type), ins->text ? ins->text : "...");
			free(p);
			return -1;
		}
		free(p);
		cfg->insecure = ins->b;
	}
	for (size_t i = 0; i < 2; i++) {
		static const char *const no[] = { "tls-server-name", "proxy-url" };
		const struct tree *v = tree_get(c, no[i]);
		if (v && v->type != TREE_NULL) {
			char *p = tree_path_join_key(path, no[i]);
			kc_fail(kc, v, p, "is not supported by ironlb");
			free(p);
			return -1;
		}
	}
	if (kc_file(kc, c, path, "certificate-authority", &cfg->ca_file) < 0 ||
	    kc_data(kc, c, path, "certificate-authority-data", &cfg->ca_data,
		    &cfg->ca_data_len) < 0)
		return -1;
	if (cfg->ca_data) {  /* client-go: the data wins over the file */
		free(cfg->ca_file);
		cfg->ca_file = NULL;
	}
	if (cfg->insecure && (cfg->ca_file || cfg->ca_data))
		return kc_fail(kc, c, path, "insecure-skip-tls-verify is true and a certificate "
			       "authority is given; use one or the other");
	return 0;
}

static int kc_user(struct kc *kc, const struct tree *u, const char *path)
{
	struct k8s_config *cfg = kc->cfg;
	if (!u)
		return 0;  /* anonymous */
	for (size_t i = 0; i < ARRAY_SIZE(unsupported_user); i++) {
		const struct tree *v = tree_get(u, unsupported_user[i][0]);
		if (v && v->type != TREE_NULL) {
			char *p = tree_path_join_key(path, unsupported_user[i][0]);
			kc_fail(kc, v, p, "%s", unsupported_user[i][1]);
			free(p);
			return -1;
		}
	}
	const char *token;
	if (kc_string(kc, u, path, "token", &token) < 0 ||
	    kc_file(kc, u, path, "tokenFile", &cfg->token_file) < 0 ||
	    kc_file(kc, u, path, "client-certificate", &cfg->cert_file) < 0 ||
	    kc_file(kc, u, path, "client-key", &cfg->key_file) < 0 ||
	    kc_data(kc, u, path, "client-certificate-data", &cfg->cert_data,
		    &cfg->cert_data_len) < 0 ||
	    kc_data(kc, u, path, "client-key-data", &cfg->key_data, &cfg->key_data_len) < 0)
		return -1;
	cfg->token = xstrdup(token);
	if (cfg->cert_data) {
		free(cfg->cert_file);
		cfg->cert_file = NULL;
	}
	if (cfg->key_data) {
		free(cfg->key_file);
		cfg->key_file = NULL;
	}
	bool cert = cfg->cert_file || cfg->cert_data, key = cfg->key_file || cfg->key_data;
	if (cert != key)
		return kc_fail(kc, u, path, "%s is given without %s", cert ? "a client certificate"
			       : "a client key", cert ? "client-key or client-key-data"
			       : "client-certificate or client-certificate-data");
	if (cfg->token_file) {
		char *e = NULL;
		if (token_reload(cfg, &e) < 0) {
			char *p = tree_path_join_key(path, "tokenFile");
			kc_fail(kc, tree_get(u, "tokenFile"), p, "%s", e);
			free(p);
			free(e);
			return -1;
		}
	}
	return 0;
}

/* Read the text into one object tree (see the fallback above), owned by
 * kc (the reader's set or json_root). */
static const struct tree *kc_read(struct kc *kc, const char *text, size_t len)
{
	struct diag_list d = {0};
	manifest_read_buffer(&kc->set, kc->path, text, len, &d);
	bool no_api = false, no_kind = false, other = false;
	for (size_t i = 0; i < d.n; i++) {
		if (d.items[i].level != DIAG_ERROR)
			continue;
		if (strcmp(d.items[i].message, "object has no apiVersion") == 0)
			no_api = true;
		else if (strcmp(d.items[i].message, "object has no kind") == 0)
			no_kind = true;
		else
			other = true;
	}
	if (!other && (no_api || no_kind) && kc->set.n == 0) {
		size_t a = 0;
		while (a < len && strchr(" \t\r\n", text[a]))
			a++;
		if (a < len && text[a] == '{') {
			json_error_t je;
			json_t *j = json_loadb(text, len, 0, &je);
			if (j && json_is_object(j))
				kc->json_root = tree_from_json(j);
			json_decref(j);
		} else {
			char *t = xasprintf("%.*s\n%s%s", (int)len, text,
					    no_api ? "apiVersion: v1\n" : "",
					    no_kind ? "kind: Config\n" : "");
			struct diag_list d2 = {0};
			manifest_set_free(&kc->set);
			memset(&kc->set, 0, sizeof(kc->set));
			manifest_read_buffer(&kc->set, kc->path, t, strlen(t), &d2);
			diag_list_free(&d2);
			free(t);
		}
	}
	const struct tree *root = kc->json_root ? kc->json_root
				  : kc->set.n ? kc->set.objects[0] : NULL;
	if (!root) {
		if (d.n) {
			char *m = diag_format(&d.items[0]);
			*kc->err = xasprintf("kubeconfig %s", m);
			free(m);
		} else {
			*kc->err = xasprintf("kubeconfig %s: empty (expected apiVersion: v1, "
					     "kind: Config with clusters, users and contexts)",
					     kc->path);
		}
	}
	diag_list_free(&d);
	return root;
}

static int kc_parse(struct kc *kc, const struct tree *root, const char *context)
{
	struct k8s_config *cfg = kc->cfg;
	const char *kind;
	if (kc_string(kc, root, NULL, "kind", &kind) < 0)
		return -1;
	if (kind && strcmp(kind, "Config") != 0)
		return kc_fail(kc, tree_get(root, "kind"), "kind", "is \"%s\"; a kubeconfig has "
			       "kind Config", kind);
	const char *cur;
	if (kc_string(kc, root, NULL, "current-context", &cur) < 0)
		return -1;
	const char *ctx_name = context && context[0] ? context : cur;
	if (!ctx_name)
		return kc_fail(kc, root, "current-context", "is not set and no context was given");
	const struct tree *ctx, *cl, *us;
	char *ctx_path, *cl_path = NULL, *us_path = NULL;
	if (kc_named(kc, root, "contexts", "context", ctx_name,
		     context && context[0] ? "the context given" : "current-context",
		     &ctx, &ctx_path) < 0)
		return -1;
	int rc = -1;
	const char *cluster, *user, *ns;
	if (!ctx) {
		kc_fail(kc, NULL, ctx_path, "is missing (it names cluster and user)");
		goto out;
	}
	if (kc_string(kc, ctx, ctx_path, "cluster", &cluster) < 0 ||
	    kc_string(kc, ctx, ctx_path, "user", &user) < 0 ||
	    kc_string(kc, ctx, ctx_path, "namespace", &ns) < 0)
		goto out;
	if (!cluster) {
		char *p = tree_path_join_key(ctx_path, "cluster");
		kc_fail(kc, ctx, p, "is missing");
		free(p);
		goto out;
	}
	char *why = xasprintf("%s.cluster", ctx_path);
	int r = kc_named(kc, root, "clusters", "cluster", cluster, why, &cl, &cl_path);
	free(why);
	if (r < 0 || kc_cluster(kc, cl, cl_path) < 0)
		goto out;
	if (user) {
		why = xasprintf("%s.user", ctx_path);
		r = kc_named(kc, root, "users", "user", user, why, &us, &us_path);
		free(why);
		if (r < 0 || kc_user(kc, us, us_path) < 0)
			goto out;
	}
	cfg->namespace_ = xstrdup(ns ? ns : "default");
	cfg->source = xasprintf("kubeconfig %s (context %s)", kc->path, ctx_name);
	rc = 0;
out:
	free(ctx_path);
	free(cl_path);
	free(us_path);
	return rc;
}

int k8s_config_parse_kubeconfig(struct k8s_config *cfg, const char *path, const char *text,
				size_t len, const char *context, char **err)
{
	memset(cfg, 0, sizeof(*cfg));
	struct kc kc = { .cfg = cfg, .path = path, .err = err };
	const char *slash = strrchr(path, '/');
	if (slash)
		kc.dir = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
	const struct tree *root = kc_read(&kc, text, len);
	int rc = root ? kc_parse(&kc, root, context) : -1;
	manifest_set_free(&kc.set);
	tree_free(kc.json_root);
	free(kc.dir);
	if (rc < 0)
		k8s_config_free(cfg);
	return rc;
}

int k8s_config_load_kubeconfig(struct k8s_config *cfg, const char *path, const char *context,
			       char **err)
{
	memset(cfg, 0, sizeof(*cfg));
	size_t len;
	char *text = file_read_all(path, &len);
	if (!text) {
		*err = xasprintf("kubeconfig %s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	int rc = k8s_config_parse_kubeconfig(cfg, path, text, len, context, err);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ */
/* in-cluster */

int k8s_config_load_in_cluster(struct k8s_config *cfg, const char *sa_dir, char **err)
{
	memset(cfg, 0, sizeof(*cfg));
	const char *dir = sa_dir ? sa_dir : K8S_SERVICE_ACCOUNT_DIR;
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !host[0] || !port || !port[0]) {
		*err = xstrdup("in-cluster configuration: KUBERNETES_SERVICE_HOST and "
			       "KUBERNETES_SERVICE_PORT are not set (not running in a pod?)");
		return -1;
	}
	cfg->server = strchr(host, ':') ? xasprintf("https://[%s]:%s", host, port)
					 : xasprintf("https://%s:%s", host, port);
	cfg->token_file = xasprintf("%s/token", dir);
	cfg->ca_file = xasprintf("%s/ca.crt", dir);
	char *e = NULL;
	if (token_reload(cfg, &e) < 0) {
		*err = xasprintf("in-cluster configuration: %s", e);
		free(e);
		k8s_config_free(cfg);
		return -1;
	}
	if (access(cfg->ca_file, R_OK) != 0) {
		*err = xasprintf("in-cluster configuration: cannot read CA file %s: %s",
				 cfg->ca_file, strerror(errno));
		k8s_config_free(cfg);
		return -1;
	}
	char *nsf = xasprintf("%s/namespace", dir);
	int en;
	char *ns = read_trimmed(nsf, &en);
	free(nsf);
	cfg->namespace_ = ns && ns[0] ? ns : xstrdup("default");
	if (ns && !ns[0])
		free(ns);
	cfg->source = xasprintf("in-cluster service account (%s)", dir);
	return 0;
}

/* ------------------------------------------------------------------ */

int k8s_config_load(struct k8s_config *cfg, const char *kubeconfig, const char *context,
		    const char *sa_dir, char **err)
{
	if (kubeconfig && kubeconfig[0])
		return k8s_config_load_kubeconfig(cfg, kubeconfig, context, err);
	const char *env = getenv("KUBECONFIG");
	if (env) {
		/* client-go merges the whole list; the first file is what
		 * nearly every setup means. */
		while (*env == ':')
			env++;
		size_t n = strcspn(env, ":");
		if (n) {
			char *path = xstrndup(env, n);
			int rc = k8s_config_load_kubeconfig(cfg, path, context, err);
			free(path);
			return rc;
		}
	}
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	if (host && host[0])
		return k8s_config_load_in_cluster(cfg, sa_dir, err);
	const char *home = getenv("HOME");
	if (home && home[0]) {
		char *path = xasprintf("%s/.kube/config", home);
		if (access(path, F_OK) == 0) {
			int rc = k8s_config_load_kubeconfig(cfg, path, context, err);
			free(path);
			return rc;
		}
		free(path);
	}
	memset(cfg, 0, sizeof(*cfg));
	*err = xstrdup("no Kubernetes API configuration: give --kubeconfig, set KUBECONFIG, run "
		       "in a pod (KUBERNETES_SERVICE_HOST is not set) or create ~/.kube/config");
	return -1;
}
