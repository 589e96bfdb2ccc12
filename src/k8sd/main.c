/*
 * ironlb-k8s: the commands that talk to the Kubernetes API server
 * (`ironlb controller`; the speaker is to come).  A separate executable so that
 * libcurl and its dependencies never load into `ironlb run`; `ironlb`
 * execs this binary for those commands.
 *
 * controller: reflectors for Services, Namespaces and the metallb.io
 * configuration kinds of the config namespace; once all are synced, and
 * after each change (debounced), a model is built from the stores, the
 * allocator runs over every Service, and Services whose addresses differ
 * from their status get status.loadBalancer.ingress and the
 * metallb.io/ip-allocated-from-pool annotation patched; allocator events
 * are posted as events.k8s.io/v1 Events.
 */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "alloc/alloc_metrics.h"
#include "base/diag.h"
#include "base/log.h"
#include "base/util.h"
#include "http/metrics.h"
#include "http/server.h"
#include "k8s/k8s_client.h"
#include "k8s/k8s_config.h"
#include "manifest/tree.h"
#include "model/model.h"

#define POOL_ANNOTATION "metallb.io/ip-allocated-from-pool"
#define REPORTING_CONTROLLER "metallb.io/controller"
#define DEBOUNCE 0.005
#define RETRY 1.0

enum { R_SERVICES, R_NAMESPACES, R_POOLS, R_L2ADVS, R_BGPADVS, R_COMMUNITIES, R_BFD,
       R_PEERS, R_COUNT };

/* What was last sent for a Service (status ingress and annotation), so a
 * rebuild before the watch shows the patch does not send it again. */
struct sent {
	char *key;
	char *status;
	char *pools;
};

struct ctl {
	struct ev_loop *loop;
	struct k8s_client *client;
	const char *ns;
	const char *lb_class;
	char *instance;
	struct k8s_reflector *refl[R_COUNT];
	char *paths[R_COUNT];
	bool started;          /* all reflectors synced once */
	ev_timer debounce;
	ev_signal sig_term, sig_int;

	struct alloc *alloc;
	bool have_config;
	bool stale;
	unsigned long updates, update_errors;

	size_t nsent;
	struct sent *sent;

	struct metrics_registry *reg;
	struct metrics_family *m_loaded, *m_stale, *m_updates, *m_update_errors;
	struct alloc_metrics am;
	struct http_server *http;
};

static void schedule(struct ctl *c, double after)
{
	if (!c->started)
		return;
	ev_timer_stop(c->loop, &c->debounce);
	ev_timer_set(&c->debounce, after, 0.);
	ev_timer_start(c->loop, &c->debounce);
}

/* ------------------------------------------------------------------ */
/* sent records */

static struct sent *sent_get(struct ctl *c, const char *key, bool create)
{
	for (size_t i = 0; i < c->nsent; i++)
		if (strcmp(c->sent[i].key, key) == 0)
			return &c->sent[i];
	if (!create)
		return NULL;
	struct sent *s = VEC_PUSH(c->sent, c->nsent);
	memset(s, 0, sizeof(*s));
	s->key = xstrdup(key);
	return s;
}

static void sent_forget(struct ctl *c, const char *key)
{
	for (size_t i = 0; i < c->nsent; i++)
		if (strcmp(c->sent[i].key, key) == 0) {
			free(c->sent[i].key);
			free(c->sent[i].status);
			free(c->sent[i].pools);
			c->sent[i] = c->sent[--c->nsent];
			return;
		}
}

/* ------------------------------------------------------------------ */
/* requests */

struct req_ctx {
	struct ctl *c;
	char *what;
	char *key;   /* Service key whose sent record is dropped on failure */
};

static void on_done(struct k8s_response *resp, void *arg)
{
	struct req_ctx *r = arg;
	if (resp->error != K8S_OK) {
		log_warn("API request failed", "what", r->what, "error", resp->message, NULL);
		if (r->key) {
			sent_forget(r->c, r->key);
			schedule(r->c, RETRY);
		}
	} else {
		log_debug("API request done", "what", r->what, NULL);
	}
	free(r->what);
	free(r->key);
	free(r);
}

static void send_patch(struct ctl *c, const char *path, json_t *patch, const char *what,
		       const char *key)
{
	char *body = json_dumps(patch, JSON_COMPACT);
	struct req_ctx *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->what = xstrdup(what);
	r->key = xstrdup(key);
	if (!k8s_patch(c->client, path, K8S_PATCH_MERGE, body, on_done, r)) {
		free(r->what);
		free(r->key);
		free(r);
	}
	free(body);
}

static void post_event(struct ctl *c, const struct tree *svc, const char *ns, const char *name,
		       const struct alloc_event *ev)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[64], stamp[32];
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when, sizeof(when), "%s.%06ldZ", stamp, ts.tv_nsec / 1000);
	const char *uid = svc ? tree_get_str(tree_get(svc, "metadata"), "uid") : NULL;
	const char *rv = svc ? tree_get_str(tree_get(svc, "metadata"), "resourceVersion") : NULL;
	json_t *regarding = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", "v1", "kind",
				      "Service", "namespace", ns, "name", name);
	if (uid)
		json_object_set_new(regarding, "uid", json_string(uid));
	if (rv)
		json_object_set_new(regarding, "resourceVersion", json_string(rv));
	static unsigned seq;
	char *gen = xasprintf("%s.%llx", name,
			      (unsigned long long)ts.tv_sec * 1000000000ull +
				      (unsigned long long)ts.tv_nsec + seq++);
	json_t *e = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}",
			      "apiVersion", "events.k8s.io/v1", "kind", "Event", "metadata",
			      "name", gen, "namespace", ns, "eventTime", when,
			      "reportingController", REPORTING_CONTROLLER, "reportingInstance",
			      c->instance, "action", ev->reason, "reason", ev->reason, "note",
			      ev->message, "type", ev->type, "regarding", regarding);
	free(gen);
	char *body = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	char *path = xasprintf("/apis/events.k8s.io/v1/namespaces/%s/events", ns);
	struct req_ctx *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->what = xasprintf("event %s for %s/%s", ev->reason, ns, name);
	if (!k8s_create(c->client, path, body, on_done, r)) {
		free(r->what);
		free(r);
	}
	free(path);
	free(body);
}

/* ------------------------------------------------------------------ */
/* metrics */

static void metrics_setup(struct ctl *c)
{
	c->reg = metrics_registry_new();
	alloc_metrics_register(&c->am, c->reg);
	c->m_loaded = c->am.config_loaded;
	c->m_stale = c->am.config_stale;
	c->m_updates = c->am.updates;
	c->m_update_errors = c->am.update_errors;
}

static void metrics_update(struct ctl *c)
{
	metrics_set(c->m_loaded, NULL, c->have_config ? 1 : 0);
	metrics_set(c->m_stale, NULL, c->stale ? 1 : 0);
	metrics_family_clear(c->m_updates);
	metrics_add(c->m_updates, NULL, (double)c->updates);
	metrics_family_clear(c->m_update_errors);
	metrics_add(c->m_update_errors, NULL, (double)c->update_errors);
	alloc_metrics_update_pools(&c->am, c->alloc);
}

static void h_metrics(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct ctl *c = arg;
	(void)req;
	char *buf = NULL;
	size_t len = 0;
	metrics_render(c->reg, &buf, &len);
	resp->status = 200;
	resp->content_type = METRICS_CONTENT_TYPE;
	resp->body = buf;
	resp->body_len = len;
}

static void h_healthz(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct ctl *c = arg;
	(void)req;
	if (c->started)
		http_response_printf(resp, 200, "ok\n");
	else
		http_response_printf(resp, 503, "not synced with the API server yet\n");
}

/* ------------------------------------------------------------------ */
/* reconciling */

static void add_obj(const char *key, const struct tree *obj, void *arg)
{
	struct diag_list *d = ((void **)arg)[1];
	struct model *m = ((void **)arg)[0];
	(void)key;
	model_add(m, tree_clone(obj), d);
}

static bool config_invalid(const struct model *m)
{
#define ANY_INVALID(n, arr)                          \
	for (size_t i = 0; i < m->n; i++)            \
		if (m->arr[i].meta.invalid)          \
			return true;
	ANY_INVALID(npools, pools)
	ANY_INVALID(nl2advs, l2advs)
	ANY_INVALID(nbgpadvs, bgpadvs)
	ANY_INVALID(npeers, peers)
	ANY_INVALID(nbfdprofiles, bfdprofiles)
	ANY_INVALID(ncommunities, communities)
#undef ANY_INVALID
	return false;
}

static char *status_json(const struct alloc_result *r)
{
	json_t *ing = json_array();
	for (size_t k = 0; k < r->naddrs; k++) {
		char ip[IP_STR_MAX];
		json_array_append_new(ing, json_pack("{s:s}", "ip", ip_format(&r->addrs[k], ip)));
	}
	char *s = json_dumps(ing, JSON_COMPACT);
	json_decref(ing);
	return s;
}

static char *ingress_json_of(const struct tree *obj)
{
	json_t *ing = json_array();
	const struct tree *arr = tree_path(obj, "status.loadBalancer.ingress");
	json_t *j = arr ? tree_to_json(arr) : NULL;
	size_t i;
	json_t *v;
	if (j && json_is_array(j))
		json_array_foreach(j, i, v)
		{
			const char *ip = json_string_value(json_object_get(v, "ip"));
			if (ip)
				json_array_append_new(ing, json_pack("{s:s}", "ip", ip));
		}
	json_decref(j);
	char *s = json_dumps(ing, JSON_COMPACT);
	json_decref(ing);
	return s;
}

static char *pools_of(const struct alloc_result *r)
{
	if (r->naddrs == 0)
		return NULL;
	if (r->naddrs == 2 && strcmp(r->pools[0], r->pools[1]) != 0)
		return xasprintf("%s,%s", r->pools[0], r->pools[1]);
	return xstrdup(r->pools[0]);
}

static void reconcile(struct ctl *c)
{
	struct model m;
	struct diag_list d = {0};
	model_init(&m, c->ns);
	void *args[2] = {&m, &d};
	for (int i = 0; i < R_COUNT; i++)
		k8s_store_foreach(k8s_reflector_store(c->refl[i]), add_obj, args);
	model_validate(&m, &d);

	size_t nerr = 0;
	for (size_t i = 0; i < d.n; i++) {
		const struct diag *x = &d.items[i];
		if (x->level != DIAG_ERROR)
			continue;
		char *line = diag_format(x);
		log_warn("configuration problem", "error", line, NULL);
		free(line);
		if (!(x->flags & DIAG_FLAG_REFERENCE) &&
		    !(x->object && str_has_prefix(x->object, "Service ")))
			nerr++;
	}
	c->updates++;
	if (nerr || config_invalid(&m)) {
		c->update_errors++;
		c->stale = c->have_config;
		log_error("configuration has errors; keeping the last good one", NULL);
	} else {
		alloc_set_config(c->alloc, &m);
		c->have_config = true;
		c->stale = false;
	}
	model_drop_trees(&m);

	struct alloc_result *res = xcalloc(m.nservices ? m.nservices : 1, sizeof(*res));
	if (c->have_config)
		alloc_run_all(c->alloc, &m, res);

	const struct k8s_store *svcs = k8s_reflector_store(c->refl[R_SERVICES]);
	for (size_t i = 0; c->have_config && i < m.nservices; i++) {
		const struct service *s = &m.services[i];
		const struct alloc_result *r = &res[i];
		const char *ns = s->meta.namespace_, *name = s->meta.name;
		const struct tree *obj = k8s_store_get(svcs, ns, name);
		char key[512];
		snprintf(key, sizeof(key), "%s/%s", ns, name);
		for (size_t e = 0; e < r->nevents; e++) {
			enum log_level lvl =
				strcmp(r->events[e].type, "Warning") == 0 ? LOG_WARN : LOG_INFO;
			log_msg(lvl, r->events[e].message, "service", key, "reason",
				r->events[e].reason, NULL);
			post_event(c, obj, ns, name, &r->events[e]);
		}
		if (!r->ours || !obj)
			continue;
		char *want = status_json(r);
		char *have = ingress_json_of(obj);
		char *pools = pools_of(r);
		const char *have_pools =
			tree_get_str(tree_path(obj, "metadata.annotations"), POOL_ANNOTATION);
		struct sent *st = sent_get(c, key, false);
		if (strcmp(want, have) != 0) {
			if (!st || !st->status || strcmp(st->status, want) != 0) {
				st = sent_get(c, key, true);
				free(st->status);
				st->status = xstrdup(want);
				char *path = xasprintf("/api/v1/namespaces/%s/services/%s/status",
						       ns, name);
				json_t *p = json_pack("{s:{s:{s:o}}}", "status", "loadBalancer",
						      "ingress", json_loads(want, 0, NULL));
				log_info("updating service status", "service", key, "ingress",
					 want, NULL);
				send_patch(c, path, p, "status patch", key);
				json_decref(p);
				free(path);
			}
		} else if (st) {
			free(st->status);
			st->status = NULL;
		}
		bool pools_same = (!pools && !have_pools) ||
				  (pools && have_pools && strcmp(pools, have_pools) == 0);
		st = sent_get(c, key, false);
		if (!pools_same) {
			const char *sent_p = st ? st->pools : NULL;
			if (!sent_p || !pools || strcmp(sent_p, pools) != 0) {
				st = sent_get(c, key, true);
				free(st->pools);
				st->pools = xstrdup(pools ? pools : "");
				char *path = xasprintf("/api/v1/namespaces/%s/services/%s", ns,
						       name);
				json_t *p = json_pack("{s:{s:{s:o}}}", "metadata", "annotations",
						      POOL_ANNOTATION,
						      pools ? json_string(pools) : json_null());
				send_patch(c, path, p, "annotation patch", key);
				json_decref(p);
				free(path);
			}
		} else if (st) {
			free(st->pools);
			st->pools = NULL;
		}
		st = sent_get(c, key, false);
		if (st && !st->status && !st->pools)
			sent_forget(c, key);
		free(want);
		free(have);
		free(pools);
	}
	for (size_t i = 0; i < m.nservices; i++)
		alloc_result_free(&res[i]);
	free(res);
	/* Records of Services that are gone. */
	for (size_t i = 0; i < c->nsent;) {
		char *slash = strchr(c->sent[i].key, '/');
		*slash = 0;
		bool gone = !k8s_store_get(svcs, c->sent[i].key, slash + 1);
		*slash = '/';
		if (gone)
			sent_forget(c, c->sent[i].key);
		else
			i++;
	}
	metrics_update(c);
	diag_list_free(&d);
	model_free(&m);
}

static void on_debounce(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	reconcile(w->data);
}

static void on_change(enum k8s_change change, const struct tree *object,
		      const struct tree *old, void *arg)
{
	(void)change;
	(void)object;
	(void)old;
	schedule(arg, DEBOUNCE);
}

static void on_synced(void *arg)
{
	struct ctl *c = arg;
	if (c->started)
		return;
	for (int i = 0; i < R_COUNT; i++)
		if (!k8s_reflector_synced(c->refl[i]))
			return;
	c->started = true;
	log_info("all resources synced", NULL);
	schedule(c, 0);
}

static void on_refl_error(const struct k8s_response *resp, void *arg)
{
	(void)arg;
	log_warn("watch failed; retrying", "error", resp->message ? resp->message : "?",
		 "reason", resp->reason, NULL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	log_info("stopping", NULL);
	ev_break(loop, EVBREAK_ALL);
}

/* ------------------------------------------------------------------ */

static void controller_usage(FILE *out)
{
	fputs("usage: ironlb controller [--kubeconfig FILE] [--metrics-listen ADDR:PORT]\n"
	      "                         [--namespace NS] [--lb-class CLASS] [--log-level L]\n"
	      "\n"
	      "Give LoadBalancer Services addresses from the metallb.io IPAddressPools of\n"
	      "NS (default metallb-system), writing status.loadBalancer.ingress.\n",
	      out);
}

static int cmd_controller(int argc, char **argv)
{
	static const struct option opts[] = {
		{"kubeconfig", required_argument, NULL, 'k'},
		{"metrics-listen", required_argument, NULL, 'm'},
		{"namespace", required_argument, NULL, 'n'},
		{"lb-class", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *kubeconfig = NULL, *listen = NULL, *ns = NULL, *lb_class = NULL;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': kubeconfig = optarg; break;
		case 'm': listen = optarg; break;
		case 'n': ns = optarg; break;
		case 'c': lb_class = optarg; break;
		case 'l': {
			int l = log_level_parse(optarg);
			if (l < 0) {
				fprintf(stderr, "ironlb controller: bad --log-level \"%s\"\n",
					optarg);
				return 2;
			}
			log_set_level((enum log_level)l);
			break;
		}
		case 'h': controller_usage(stdout); return 0;
		default: controller_usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ironlb controller: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!ns)
		ns = getenv("METALLB_NAMESPACE");
	if (!ns || !*ns)
		ns = "metallb-system";

	struct k8s_config cfg = {0};
	char *err = NULL;
	if (k8s_config_load(&cfg, kubeconfig, NULL, NULL, &err) != 0) {
		fprintf(stderr, "ironlb controller: %s\n", err);
		free(err);
		return 1;
	}
	static struct ctl c;
	c.loop = ev_default_loop(0);
	c.ns = ns;
	c.lb_class = lb_class;
	char host[256] = "ironlb";
	gethostname(host, sizeof(host) - 1);
	c.instance = xasprintf("%s", getenv("POD_NAME") ? getenv("POD_NAME") : host);
	c.client = k8s_client_new(c.loop, &cfg, &err);
	if (!c.client) {
		fprintf(stderr, "ironlb controller: %s\n", err);
		free(err);
		return 1;
	}
	c.alloc = alloc_new();
	alloc_set_lb_class(c.alloc, lb_class);
	metrics_setup(&c);
	metrics_update(&c);

	c.http = http_server_new(c.loop);
	http_server_route(c.http, "GET", "/metrics", h_metrics, &c);
	http_server_route(c.http, "GET", "/healthz", h_healthz, &c);
	if (http_server_start(c.http, listen ? listen : ":7472", &err) != 0) {
		fprintf(stderr, "ironlb controller: %s\n", err);
		free(err);
		return 1;
	}

	c.paths[R_SERVICES] = xstrdup("/api/v1/services");
	c.paths[R_NAMESPACES] = xstrdup("/api/v1/namespaces");
	c.paths[R_POOLS] = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/ipaddresspools", ns);
	c.paths[R_L2ADVS] = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/l2advertisements", ns);
	c.paths[R_BGPADVS] =
		xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/bgpadvertisements", ns);
	c.paths[R_COMMUNITIES] = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/communities", ns);
	c.paths[R_BFD] = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/bfdprofiles", ns);
	c.paths[R_PEERS] = xasprintf("/apis/metallb.io/v1beta2/namespaces/%s/bgppeers", ns);

	ev_timer_init(&c.debounce, on_debounce, DEBOUNCE, 0.);
	c.debounce.data = &c;
	for (int i = 0; i < R_COUNT; i++) {
		struct k8s_reflector_opts o = {
			.path = c.paths[i],
			.on_change = on_change,
			.on_synced = on_synced,
			.on_error = on_refl_error,
			.arg = &c,
		};
		c.refl[i] = k8s_reflector_new(c.client, &o);
		k8s_reflector_start(c.refl[i]);
	}

	ev_signal_init(&c.sig_term, on_signal, SIGTERM);
	ev_signal_init(&c.sig_int, on_signal, SIGINT);
	ev_signal_start(c.loop, &c.sig_term);
	ev_signal_start(c.loop, &c.sig_int);
	signal(SIGPIPE, SIG_IGN);

	char port[16];
	snprintf(port, sizeof(port), "%u", http_server_port(c.http));
	log_info("controller started", "namespace", ns, "server",
		 k8s_client_config(c.client)->server, "metrics_port", port, NULL);
	ev_run(c.loop, 0);

	ev_timer_stop(c.loop, &c.debounce);
	for (int i = 0; i < R_COUNT; i++) {
		k8s_reflector_free(c.refl[i]);
		free(c.paths[i]);
	}
	k8s_client_free(c.client);
	http_server_free(c.http);
	metrics_registry_free(c.reg);
	alloc_free(c.alloc);
	while (c.nsent)
		sent_forget(&c, c.sent[0].key);
	free(c.sent);
	free(c.instance);
	return 0;
}

static void usage(FILE *out)
{
	fputs("usage: ironlb-k8s controller [options]\n"
	      "(normally run as `ironlb controller`)\n",
	      out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "controller") == 0)
		return cmd_controller(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "ironlb-k8s: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
