/*
 * Where the API server is and how to authenticate to it: a kubeconfig file
 * or the in-cluster service account, as client-go finds them.
 *
 * k8s_config_load() looks, in order, at: the path given (--kubeconfig);
 * $KUBECONFIG (its first non-empty entry when it is a colon-separated
 * list); the in-cluster service account (when KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT are set); ~/.kube/config when it exists.
 *
 * Kubeconfig (apiVersion v1, kind Config; YAML or JSON, read with the
 * manifest reader so that errors carry file:line): the context given, else
 * current-context; its cluster's server, certificate-authority(-data) and
 * insecure-skip-tls-verify; its user's token or tokenFile, and
 * client-certificate(-data) with client-key(-data); the context's
 * namespace.  Relative file names are taken from the kubeconfig's
 * directory, as client-go does.  exec and auth-provider plugins and basic
 * authentication are refused with an error that says so.
 *
 * In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT,
 * the CA in ca.crt, the token in token and the namespace in namespace of
 * /var/run/secrets/kubernetes.io/serviceaccount.
 *
 * Tokens read from a file (tokenFile, in-cluster) are read again whenever
 * the file changes (k8s_config_token), because projected service-account
 * tokens are rotated by the kubelet about hourly.
 *
 * Errors name the file and the field, e.g.
 *   kubeconfig /etc/k.yaml:14: users[0].user.client-key-data: not valid base64 (character '!' at offset 12)
 */
#ifndef IRONLB_K8S_K8S_CONFIG_H
#define IRONLB_K8S_K8S_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define K8S_SERVICE_ACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct k8s_config {
	char *source;            /* "kubeconfig /path (context ctx)" or "in-cluster service account" */
	char *server;            /* "https://127.0.0.1:6443", no trailing '/' */
	char *namespace_;        /* the context's (or pod's) namespace; "default" if none */
	/* server certificate check: a CA file or PEM data, or neither (the
	 * system's CAs); insecure turns the check off */
	char *ca_file;
	char *ca_data;           /* PEM bytes, ca_data_len of them */
	size_t ca_data_len;
	bool insecure;
	/* client certificate: file names or PEM data */
	char *cert_file, *key_file;
	char *cert_data, *key_data;
	size_t cert_data_len, key_data_len;
	/* bearer token: token_file (read again when it changes) wins over token */
	char *token;
	char *token_file;
	/* what the token was last read from */
	dev_t token_dev;
	ino_t token_ino;
	off_t token_size;
	struct timespec token_mtime;
};

/* The context to use instead of current-context: NULL for the default.
 * sa_dir: the service-account directory (NULL: K8S_SERVICE_ACCOUNT_DIR). */
int k8s_config_load(struct k8s_config *cfg, const char *kubeconfig, const char *context,
		    const char *sa_dir, char **err);
int k8s_config_load_kubeconfig(struct k8s_config *cfg, const char *path, const char *context,
			       char **err);
/* A kubeconfig's text; `path` names it in errors and is where relative
 * file names are taken from (its directory). */
int k8s_config_parse_kubeconfig(struct k8s_config *cfg, const char *path, const char *text,
				size_t len, const char *context, char **err);
int k8s_config_load_in_cluster(struct k8s_config *cfg, const char *sa_dir, char **err);

/* The bearer token to send now, or NULL for none.  With a token file, the
 * file is read again when its inode, size or modification time changed;
 * when it cannot be read, the last token is kept and *err (if err is not
 * NULL) says why. */
const char *k8s_config_token(struct k8s_config *cfg, char **err);

/* Decode base64 (the standard alphabet; '=' padding optional; blanks and
 * line breaks skipped), as kubeconfig *-data fields are.  -1 and *err for a
 * bad character or length. */
int k8s_base64_decode(const char *in, char **out, size_t *outlen, char **err);

void k8s_config_free(struct k8s_config *cfg);

#endif
