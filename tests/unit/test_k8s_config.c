/*
 * Kubeconfig and in-cluster configuration: inline data and files (relative
 * to the kubeconfig), tokens and token files read again when they change,
 * contexts, YAML and JSON with and without apiVersion/kind, the order of
 * sources, base64, and the errors (each naming the file, line and field).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "k8s/k8s_config.h"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_k8s_config.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	unsetenv("KUBECONFIG");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

/* Write a file under tmpdir; returns its path (malloc'd). */
static char *put(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	for (char *slash = path + strlen(tmpdir) + 1; (slash = strchr(slash, '/')); slash++) {
		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int parse(struct k8s_config *cfg, const char *text, const char *context, char **err)
{
	char *path = xasprintf("%s/k.yaml", tmpdir);
	int rc = k8s_config_parse_kubeconfig(cfg, path, text, strlen(text), context, err);
	free(path);
	return rc;
}

/* The error of a kubeconfig that must fail, without the "kubeconfig DIR/"
 * prefix. */
static char *parse_error(const char *text, const char *context)
{
	struct k8s_config cfg;
	char *err = NULL;
	if (parse(&cfg, text, context, &err) == 0) {
		k8s_config_free(&cfg);
		fail_msg("kubeconfig accepted:\n%s", text);
	}
	char *prefix = xasprintf("kubeconfig %s/", tmpdir);
	assert_true(str_has_prefix(err, prefix));
	char *rest = xstrdup(err + strlen(prefix));
	free(prefix);
	free(err);
	return rest;
}

/* "PEM" texts: the bytes only matter to GnuTLS, not here. */
#define CA_PEM "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"

static const char inline_kc[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"current-context: prod\n"
	"clusters:\n"
	"- name: lab\n"
	"  cluster:\n"
	"    server: https://lab:6443\n"
	"- name: prod\n"
	"  cluster:\n"
	"    server: https://10.0.0.1:6443///\n"
	"    certificate-authority-data: " CA_B64 "\n"
	"users:\n"
	"- name: admin\n"
	"  user:\n"
	"    client-certificate-data: Q0VSVA==\n"
	"    client-key-data: |\n"
	"      S0VZ\n"
	"    token: abc.def\n"
	"contexts:\n"
	"- name: lab\n"
	"  context: {cluster: lab, user: admin}\n"
	"- name: prod\n"
	"  context:\n"
	"    cluster: prod\n"
	"    user: admin\n"
	"    namespace: metallb-system\n";

static void test_inline_data(void **state)
{
	(void)state;
	struct k8s_config cfg;
	char *err = NULL;
	assert_int_equal(parse(&cfg, inline_kc, NULL, &err), 0);
	assert_string_equal(cfg.server, "https://10.0.0.1:6443");
	assert_string_equal(cfg.namespace_, "metallb-system");
	assert_int_equal(cfg.ca_data_len, strlen(CA_PEM));
	assert_memory_equal(cfg.ca_data, CA_PEM, strlen(CA_PEM));
	assert_null(cfg.ca_file);
	assert_false(cfg.insecure);
	assert_int_equal(cfg.cert_data_len, 4);
	assert_memory_equal(cfg.cert_data, "CERT", 4);
	assert_int_equal(cfg.key_data_len, 3);
	assert_memory_equal(cfg.key_data, "KEY", 3);
	assert_string_equal(k8s_config_token(&cfg, NULL), "abc.def");
	assert_non_null(strstr(cfg.source, "(context prod)"));
	k8s_config_free(&cfg);

	/* another context: no namespace there means "default", no CA means
	 * the system's */
	assert_int_equal(parse(&cfg, inline_kc, "lab", &err), 0);
	assert_string_equal(cfg.server, "https://lab:6443");
	assert_string_equal(cfg.namespace_, "default");
	assert_null(cfg.ca_data);
	assert_null(cfg.ca_file);
	k8s_config_free(&cfg);
}

static void test_files_relative_to_kubeconfig(void **state)
{
	(void)state;
	char *ca = put("kc/pki/ca.crt", CA_PEM);
	char *crt = put("kc/pki/client.crt", "C");
	char *key = put("kc/pki/client.key", "K");
	char *tok = put("kc/token", "  file-token\n\n");
	char *kc = put("kc/config",
		       "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
		       "clusters:\n- name: k\n  cluster:\n    server: http://127.0.0.1:8080\n"
		       "    certificate-authority: pki/ca.crt\n"
		       "users:\n- name: u\n  user:\n    client-certificate: pki/client.crt\n"
		       "    client-key: pki/client.key\n    tokenFile: token\n    token: ignored\n"
		       "contexts:\n- name: c\n  context: {cluster: k, user: u}\n");
	struct k8s_config cfg;
	char *err = NULL;
	assert_int_equal(k8s_config_load_kubeconfig(&cfg, kc, NULL, &err), 0);
	assert_string_equal(cfg.ca_file, ca);
	assert_string_equal(cfg.cert_file, crt);
	assert_string_equal(cfg.key_file, key);
	assert_string_equal(cfg.token_file, tok);
	/* tokenFile wins over token, and is trimmed */
	assert_string_equal(k8s_config_token(&cfg, NULL), "file-token");
	k8s_config_free(&cfg);
	free(ca);
	free(crt);
	free(key);
	free(tok);
	free(kc);
}

static void test_token_file_read_again(void **state)
{
	(void)state;
	char *tok = put("rot/token", "one\n");
	char *kc = put("rot/config",
		       "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
		       "clusters:\n- {name: k, cluster: {server: 'https://k'}}\n"
		       "users:\n- {name: u, user: {tokenFile: token}}\n"
		       "contexts:\n- {name: c, context: {cluster: k, user: u}}\n");
	struct k8s_config cfg;
	char *err = NULL;
	assert_int_equal(k8s_config_load_kubeconfig(&cfg, kc, NULL, &err), 0);
	assert_string_equal(k8s_config_token(&cfg, NULL), "one");
	assert_string_equal(k8s_config_token(&cfg, NULL), "one");
	/* replaced by rename, as the kubelet's atomic writer does */
	char *tmp = put("rot/token.new", "two\n");
	assert_int_equal(rename(tmp, tok), 0);
	assert_string_equal(k8s_config_token(&cfg, &err), "two");
	assert_null(err);
	/* rewritten in place, another size */
	free(put("rot/token", "three-three\n"));
	assert_string_equal(k8s_config_token(&cfg, &err), "three-three");
	/* gone: the last token stays, and the error says why */
	unlink(tok);
	assert_string_equal(k8s_config_token(&cfg, &err), "three-three");
	assert_non_null(err);
	assert_non_null(strstr(err, "cannot read token file"));
	assert_non_null(strstr(err, "No such file"));
	free(err);
	err = NULL;
	/* empty: the same */
	free(put("rot/token", "\n"));
	assert_string_equal(k8s_config_token(&cfg, &err), "three-three");
	assert_non_null(strstr(err, "is empty"));
	free(err);
	k8s_config_free(&cfg);
	free(tmp);
	free(tok);
	free(kc);
}

static void test_json_and_missing_kind(void **state)
{
	(void)state;
	static const char *const texts[] = {
		/* JSON as the test plane writes it */
		"{\"apiVersion\": \"v1\", \"kind\": \"Config\",\n"
		" \"clusters\": [{\"name\": \"k\", \"cluster\": {\"server\": \"https://j:1\",\n"
		"   \"insecure-skip-tls-verify\": true}}],\n"
		" \"users\": [{\"name\": \"u\", \"user\": {\"token\": \"t\"}}],\n"
		" \"contexts\": [{\"name\": \"c\", \"context\": {\"cluster\": \"k\", \"user\": \"u\"}}],\n"
		" \"current-context\": \"c\"}\n",
		/* JSON without apiVersion and kind */
		"{\"clusters\": [{\"name\": \"k\", \"cluster\": {\"server\": \"https://j:1\",\n"
		"   \"insecure-skip-tls-verify\": true}}],\n"
		" \"users\": [{\"name\": \"u\", \"user\": {\"token\": \"t\"}}],\n"
		" \"contexts\": [{\"name\": \"c\", \"context\": {\"cluster\": \"k\", \"user\": \"u\"}}],\n"
		" \"current-context\": \"c\"}\n",
		/* YAML without kind, without both, without a final newline */
		"apiVersion: v1\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n"
		"    server: https://j:1\n    insecure-skip-tls-verify: true\n"
		"users:\n- name: u\n  user: {token: t}\n"
		"contexts:\n- name: c\n  context: {cluster: k, user: u}\n",
		"current-context: c\nclusters:\n- name: k\n  cluster:\n"
		"    server: https://j:1\n    insecure-skip-tls-verify: true\n"
		"users:\n- name: u\n  user: {token: t}\n"
		"contexts:\n- name: c\n  context: {cluster: k, user: u}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct k8s_config cfg;
		char *err = NULL;
		if (parse(&cfg, texts[i], NULL, &err) != 0)
			fail_msg("text %zu: %s", i, err);
		assert_string_equal(cfg.server, "https://j:1");
		assert_true(cfg.insecure);
		assert_string_equal(cfg.token, "t");
		k8s_config_free(&cfg);
	}
}

static void test_no_user_is_anonymous(void **state)
{
	(void)state;
	struct k8s_config cfg;
	char *err = NULL;
	assert_int_equal(parse(&cfg, "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
				     "clusters:\n- {name: k, cluster: {server: 'https://a'}}\n"
				     "contexts:\n- {name: c, context: {cluster: k}}\n",
			       NULL, &err), 0);
	assert_null(k8s_config_token(&cfg, NULL));
	assert_null(cfg.cert_data);
	k8s_config_free(&cfg);
}

struct error_case {
	const char *name;
	const char *text;
	const char *context;
	const char *error;     /* the whole message after "kubeconfig DIR/" */
};

#define HEAD "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
#define CTX "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
#define CLUSTER "clusters:\n- name: k\n  cluster:\n    server: https://a\n"

static const struct error_case error_cases[] = {
	{ "no server", HEAD "clusters:\n- name: k\n  cluster:\n    insecure-skip-tls-verify: true\n"
	  "users:\n- {name: u, user: {}}\n" CTX, NULL,
	  "k.yaml:6: clusters[0].cluster.server: is missing (expected the API server's URL, "
	  "e.g. https://10.0.0.1:6443)" },
	{ "server not a URL", HEAD "clusters:\n- name: k\n  cluster:\n    server: 10.0.0.1:6443\n"
	  "users:\n- {name: u, user: {}}\n" CTX, NULL,
	  "k.yaml:7: clusters[0].cluster.server: \"10.0.0.1:6443\" is not an https:// or http:// "
	  "URL" },
	{ "server a number", HEAD "clusters:\n- name: k\n  cluster:\n    server: 6443\n" CTX, NULL,
	  "k.yaml:7: clusters[0].cluster.server: expected a string, found an integer (6443)" },
	{ "bad base64", HEAD CLUSTER "users:\n- name: u\n  user:\n    client-certificate-data: QQ==\n"
	  "    client-key-data: abc!def\n" CTX, NULL,
	  "k.yaml:12: users[0].user.client-key-data: not valid base64 (character '!' at offset 3)" },
	{ "bad CA base64", HEAD "clusters:\n- name: k\n  cluster:\n    server: https://a\n"
	  "    certificate-authority-data: Q\n" CTX, NULL,
	  "k.yaml:8: clusters[0].cluster.certificate-authority-data: not valid base64 (1 "
	  "characters and 0 '=' do not make whole groups of four)" },
	{ "exec plugin", HEAD CLUSTER "users:\n- name: u\n  user:\n    exec:\n"
	  "      command: aws\n" CTX, NULL,
	  "k.yaml:11: users[0].user.exec: exec credential plugins are not supported; use token, "
	  "tokenFile or a client certificate" },
	{ "auth provider", HEAD CLUSTER "users:\n- name: u\n  user:\n    auth-provider: {name: gcp}\n"
	  CTX, NULL, "k.yaml:11: users[0].user.auth-provider: auth-provider plugins are not "
	  "supported; use token, tokenFile or a client certificate" },
	{ "basic auth", HEAD CLUSTER "users:\n- name: u\n  user:\n    username: admin\n" CTX, NULL,
	  "k.yaml:11: users[0].user.username: basic authentication is not supported (Kubernetes "
	  "removed it in 1.19); use token, tokenFile or a client certificate" },
	{ "certificate without key", HEAD CLUSTER "users:\n- name: u\n  user:\n"
	  "    client-certificate-data: QQ==\n" CTX, NULL,
	  "k.yaml:10: users[0].user: a client certificate is given without client-key or "
	  "client-key-data" },
	{ "insecure and a CA", HEAD "clusters:\n- name: k\n  cluster:\n    server: https://a\n"
	  "    insecure-skip-tls-verify: true\n    certificate-authority-data: QQ==\n" CTX, NULL,
	  "k.yaml:6: clusters[0].cluster: insecure-skip-tls-verify is true and a certificate "
	  "authority is given; use one or the other" },
	{ "insecure a string", HEAD "clusters:\n- name: k\n  cluster:\n    server: https://a\n"
	  "    insecure-skip-tls-verify: \"yes\"\n" CTX, NULL,
	  "k.yaml:8: clusters[0].cluster.insecure-skip-tls-verify: expected true or false, found "
	  "a string (yes)" },
	{ "tls-server-name", HEAD "clusters:\n- name: k\n  cluster:\n    server: https://a\n"
	  "    tls-server-name: x\n" CTX, NULL,
	  "k.yaml:8: clusters[0].cluster.tls-server-name: is not supported by ironlb" },
	{ "CA file missing", HEAD "clusters:\n- name: k\n  cluster:\n    server: https://a\n"
	  "    certificate-authority: /nonexistent/ca.crt\n" CTX, NULL,
	  "k.yaml:8: clusters[0].cluster.certificate-authority: cannot read /nonexistent/ca.crt: "
	  "No such file or directory" },
	{ "no current context", "apiVersion: v1\nkind: Config\n" CLUSTER CTX, NULL,
	  "k.yaml:1: current-context: is not set and no context was given" },
	{ "context not found", HEAD CLUSTER CTX "- name: d\n  context: {cluster: k}\n", "prod",
	  "k.yaml:8: contexts: no context named \"prod\" (the context given); contexts are: c, d" },
	{ "current context not found", "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
	  CLUSTER CTX, NULL,
	  "k.yaml:8: contexts: no context named \"x\" (current-context); contexts are: c" },
	{ "no contexts", HEAD CLUSTER, NULL,
	  "k.yaml:1: contexts: no context named \"c\" (current-context); contexts are: none" },
	{ "cluster not found", HEAD "clusters:\n- {name: other, cluster: {server: 'https://a'}}\n"
	  CTX, NULL,
	  "k.yaml:4: clusters: no cluster named \"k\" (contexts[0].context.cluster); clusters are: "
	  "other" },
	{ "user not found", HEAD CLUSTER "users:\n- {name: v, user: {}}\n" CTX, NULL,
	  "k.yaml:8: users: no user named \"u\" (contexts[0].context.user); users are: v" },
	{ "context without cluster", HEAD CLUSTER "contexts:\n- name: c\n  context: {user: u}\n",
	  NULL, "k.yaml:10: contexts[0].context.cluster: is missing" },
	{ "clusters not a list", HEAD "clusters: {k: 1}\n" CTX, NULL,
	  "k.yaml:4: clusters: expected a list, found an object" },
	{ "not a Config", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", NULL,
	  "k.yaml:2: kind: is \"Pod\"; a kubeconfig has kind Config" },
	{ "YAML syntax error", "apiVersion: v1\nkind: Config\nclusters: [\n", NULL, "k.yaml:" },
	{ "empty", "", NULL, "k.yaml: empty (expected apiVersion: v1, kind: Config with clusters, "
	  "users and contexts)" },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
		const struct error_case *c = &error_cases[i];
		char *err = parse_error(c->text, c->context);
		if (!str_has_prefix(err, c->error))
			fail_msg("%s:\n  got:  %s\n  want: %s", c->name, err, c->error);
		free(err);
	}
}

static void test_unreadable_files(void **state)
{
	(void)state;
	struct k8s_config cfg;
	char *err = NULL;
	char *path = xasprintf("%s/missing.yaml", tmpdir);
	assert_int_equal(k8s_config_load_kubeconfig(&cfg, path, NULL, &err), -1);
	char *want = xasprintf("kubeconfig %s: cannot read: No such file or directory", path);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free(path);
	/* a tokenFile that cannot be read is an error at load time */
	char *kc = put("tf/config", HEAD CLUSTER "users:\n- name: u\n  user:\n    tokenFile: nope\n"
			 CTX);
	assert_int_equal(k8s_config_load_kubeconfig(&cfg, kc, NULL, &err), -1);
	assert_non_null(strstr(err, "config:11: users[0].user.tokenFile: cannot read"));
	assert_non_null(strstr(err, "/tf/nope"));
	free(err);
	free(kc);
}

/* ---- base64 ---- */

struct b64_case {
	const char *in;
	const char *out;   /* NULL: an error */
};

static const struct b64_case b64_cases[] = {
	{ "", "" },
	{ "YQ==", "a" },
	{ "YWI=", "ab" },
	{ "YWJj", "abc" },
	{ "YQ", "a" },
	{ "YWI", "ab" },
	{ "YW\nJj\r\n ZA==\n", "abcd" },
	{ "+/+/", "\xfb\xff\xbf" },
	{ "Y", NULL },
	{ "YQ=a", NULL },
	{ "YQ===", NULL },
	{ "YWJ=", "ab" },
	{ "YQ=", NULL },
	{ "Y-_Q", NULL },
	{ "====", NULL },
};

static void test_base64(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(b64_cases); i++) {
		char *out = NULL, *err = NULL;
		size_t len;
		int rc = k8s_base64_decode(b64_cases[i].in, &out, &len, &err);
		if (b64_cases[i].out) {
			if (rc != 0)
				fail_msg("\"%s\": %s", b64_cases[i].in, err);
			assert_int_equal(len, strlen(b64_cases[i].out));
			assert_memory_equal(out, b64_cases[i].out, len);
			free(out);
		} else {
			if (rc == 0)
				fail_msg("\"%s\" accepted", b64_cases[i].in);
			assert_true(str_has_prefix(err, "not valid base64"));
			free(err);
		}
	}
}

/* ---- in-cluster and the order of sources ---- */

static char *sa_dir(const char *name, const char *ns)
{
	char *p = xasprintf("%s/token", name);
	free(put(p, "sa-token\n"));
	free(p);
	p = xasprintf("%s/ca.crt", name);
	free(put(p, CA_PEM));
	free(p);
	if (ns) {
		p = xasprintf("%s/namespace", name);
		free(put(p, ns));
		free(p);
	}
	return xasprintf("%s/%s", tmpdir, name);
}

static void test_in_cluster(void **state)
{
	(void)state;
	char *dir = sa_dir("sa", "metallb-system\n");
	struct k8s_config cfg;
	char *err = NULL;

	assert_int_equal(k8s_config_load_in_cluster(&cfg, dir, &err), -1);
	assert_string_equal(err, "in-cluster configuration: KUBERNETES_SERVICE_HOST and "
				 "KUBERNETES_SERVICE_PORT are not set (not running in a pod?)");
	free(err);

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(k8s_config_load_in_cluster(&cfg, dir, &err), 0);
	assert_string_equal(cfg.server, "https://10.96.0.1:443");
	assert_string_equal(cfg.namespace_, "metallb-system");
	assert_string_equal(k8s_config_token(&cfg, NULL), "sa-token");
	char *ca = xasprintf("%s/ca.crt", dir);
	assert_string_equal(cfg.ca_file, ca);
	free(ca);
	k8s_config_free(&cfg);

	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	char *dir2 = sa_dir("sa2", NULL);
	assert_int_equal(k8s_config_load_in_cluster(&cfg, dir2, &err), 0);
	assert_string_equal(cfg.server, "https://[fd00:10:96::1]:443");
	assert_string_equal(cfg.namespace_, "default");
	k8s_config_free(&cfg);

	char *none = xasprintf("%s/none", tmpdir);
	assert_int_equal(k8s_config_load_in_cluster(&cfg, none, &err), -1);
	char *want = xasprintf("in-cluster configuration: cannot read token file %s/token: No such "
			       "file or directory", none);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free(none);

	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	free(dir);
	free(dir2);
}

static void test_load_order(void **state)
{
	(void)state;
#define USER "users:\n- {name: u, user: {}}\n"
	char *a = put("order/a", HEAD "clusters:\n- {name: k, cluster: {server: 'https://a'}}\n"
		      USER CTX);
	char *b = put("order/b", HEAD "clusters:\n- {name: k, cluster: {server: 'https://b'}}\n"
		      USER CTX);
	char *home = xasprintf("%s/home", tmpdir);
	char *h = put("home/.kube/config", HEAD "clusters:\n- {name: k, cluster: {server: "
		      "'https://home'}}\n" USER CTX);
	char *dir = sa_dir("order-sa", NULL);
	struct k8s_config cfg;
	char *err = NULL;
	char *list = xasprintf(":%s:%s", b, a);
	char *saved_home = xstrdup(getenv("HOME"));

	setenv("KUBECONFIG", list, 1);
	setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	setenv("HOME", home, 1);
	/* the path given first */
	assert_int_equal(k8s_config_load(&cfg, a, NULL, dir, &err), 0);
	assert_string_equal(cfg.server, "https://a");
	k8s_config_free(&cfg);
	/* then $KUBECONFIG's first entry */
	assert_int_equal(k8s_config_load(&cfg, NULL, NULL, dir, &err), 0);
	assert_string_equal(cfg.server, "https://b");
	k8s_config_free(&cfg);
	/* then in-cluster */
	unsetenv("KUBECONFIG");
	assert_int_equal(k8s_config_load(&cfg, NULL, NULL, dir, &err), 0);
	assert_string_equal(cfg.server, "https://10.0.0.1:6443");
	k8s_config_free(&cfg);
	/* then ~/.kube/config */
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(k8s_config_load(&cfg, "", NULL, dir, &err), 0);
	assert_string_equal(cfg.server, "https://home");
	k8s_config_free(&cfg);
	/* then nothing */
	unlink(h);
	assert_int_equal(k8s_config_load(&cfg, NULL, NULL, dir, &err), -1);
	assert_true(str_has_prefix(err, "no Kubernetes API configuration: give --kubeconfig"));
	free(err);

	if (saved_home)
		setenv("HOME", saved_home, 1);
	unsetenv("KUBERNETES_SERVICE_PORT");
	free(saved_home);
	free(list);
	free(a);
	free(b);
	free(h);
	free(home);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inline_data),
		cmocka_unit_test(test_files_relative_to_kubeconfig),
		cmocka_unit_test(test_token_file_read_again),
		cmocka_unit_test(test_json_and_missing_kind),
		cmocka_unit_test(test_no_user_is_anonymous),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_unreadable_files),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_load_order),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
