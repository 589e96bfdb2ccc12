/*
 * k8s_probe: a test tool (not part of ironlb) that drives the k8s module's
 * client and reflector against a real API server and prints what it sees
 * as JSON lines on stdout, flushed line by line, for tests/k8s/test_client.py.
 *
 *   k8s_probe [--kubeconfig F] [--context C] [--in-cluster SA_DIR] [--timeout S] CMD ...
 *
 *   watch PATH [--page-limit N] [--watch-timeout S] [--backoff-max S] [--label-selector L]
 *       a reflector: one line per change
 *         {"type":"ADDED","namespace":..,"name":..,"resourceVersion":..,"uid":..}
 *       "SYNCED" after the first list, {"type":"ERROR",...} per failure;
 *       SIGUSR1 prints {"type":"STORE",...} (the store's keys and versions),
 *       SIGTERM and SIGINT print it and exit 0.
 *   watch-raw PATH [--resource-version RV] [--timeout-seconds N]
 *       one plain watch: a line per event, then {"type":"END",...}
 *   list PATH [--limit N]        every page: a line per item, then {"type":"LIST",...}
 *   get PATH | delete PATH       the object returned
 *   create PATH JSON | update PATH JSON
 *   patch PATH merge|json|strategic JSON
 *   patch-status PATH JSON       a merge patch of PATH/status
 *   protocol PATH                a GET of PATH, then {"type":"PROTOCOL","protocol":"h2"}
 *       ("http/1.1" when the server did not choose HTTP/2)
 *   watches N PATH               N watches of PATH, events not printed, until
 *       killed (for counting the connections they take)
 *   reentrancy PATH              a watch of PATH whose first event callback (run
 *       inside the transport's read) starts a GET of PATH, cancels a second, idle watch and
 *       cancels its own watch; prints the GET's result and the requests left
 *
 * A failed request prints {"error":{"kind":..,"status":..,"reason":..,"message":..}}
 * and exits 1; a configuration error goes to stderr with exit 2.
 */
#include <ev.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "k8s/k8s_client.h"
#include "k8s/k8s_config.h"

static struct ev_loop *loop;
static struct k8s_client *client;
static int exit_code;

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	free(s);
	json_decref(j);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *summary(const char *type, const struct tree *obj)
{
	const struct tree *md = tree_get(obj, "metadata");
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "type", type,
			 "kind", str_or_null(tree_get_str(obj, "kind")),
			 "apiVersion", str_or_null(tree_get_str(obj, "apiVersion")),
			 "namespace", str_or_null(tree_get_str(md, "namespace")),
			 "name", str_or_null(tree_get_str(md, "name")),
			 "resourceVersion", str_or_null(tree_get_str(md, "resourceVersion")),
			 "uid", str_or_null(tree_get_str(md, "uid")));
}

static json_t *error_json(const struct k8s_response *resp)
{
	return json_pack("{s:s, s:I, s:o, s:o, s:o}", "kind", k8s_error_name(resp->error),
			 "status", (json_int_t)resp->status,
			 "reason", str_or_null(resp->reason),
			 "message", str_or_null(resp->message),
			 "status_message", str_or_null(resp->status_message));
}

static void fail_response(const struct k8s_response *resp)
{
	print_json(json_pack("{s:o}", "error", error_json(resp)));
	exit_code = 1;
}

/* ---- one-shot requests ---- */

/* "get --repeat N": answers still to come. */
static int gets_left = 1;

static void print_object_done(struct k8s_response *resp, void *arg)
{
	(void)arg;
	if (resp->error) {
		fail_response(resp);
	} else if (resp->object) {
		print_json(tree_to_json(resp->object));
	} else {
		print_json(json_pack("{s:I}", "status", (json_int_t)resp->status));
	}
	if (--gets_left <= 0)
		ev_break(loop, EVBREAK_ALL);
}

/* ---- list ---- */

struct list_state {
	const char *path;
	unsigned limit;
	unsigned pages;
	size_t items;
	char *cont;
};

static void list_page(struct list_state *st);

static void list_done(struct k8s_response *resp, void *arg)
{
	struct list_state *st = arg;
	if (resp->error) {
		fail_response(resp);
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	st->pages++;
	const struct tree *items = tree_get(resp->object, "items");
	for (size_t i = 0; items && i < items->n; i++) {
		print_json(summary("ITEM", items->items[i]));
		st->items++;
	}
	const char *cont = k8s_list_continue(resp->object);
	free(st->cont);
	st->cont = xstrdup(cont);
	if (cont) {
		list_page(st);
		return;
	}
	const char *rv = tree_get_str(tree_get(resp->object, "metadata"), "resourceVersion");
	print_json(json_pack("{s:s, s:I, s:I, s:o}", "type", "LIST", "items",
			     (json_int_t)st->items, "pages", (json_int_t)st->pages,
			     "resourceVersion", str_or_null(rv)));
	ev_break(loop, EVBREAK_ALL);
}

static void list_page(struct list_state *st)
{
	struct k8s_list_opts o = { .limit = st->limit, .continue_token = st->cont };
	if (!k8s_list(client, st->path, &o, list_done, st)) {
		fprintf(stderr, "k8s_probe: cannot start the list\n");
		exit_code = 2;
		ev_break(loop, EVBREAK_ALL);
	}
}

/* ---- watch-raw ---- */

static int raw_event(struct k8s_event *ev, void *arg)
{
	(void)arg;
	json_t *j = summary(k8s_event_type_name(ev->type), ev->object);
	if (ev->type == K8S_EVENT_ERROR) {
		json_object_set_new(j, "code", json_integer(ev->code));
		json_object_set_new(j, "reason", str_or_null(ev->reason));
		json_object_set_new(j, "message", str_or_null(ev->message));
		json_object_set_new(j, "gone", json_boolean(k8s_event_gone(ev)));
	}
	print_json(j);
	return 0;
}

static void raw_done(struct k8s_response *resp, void *arg)
{
	(void)arg;
	json_t *j = json_pack("{s:s}", "type", "END");
	if (resp->error) {
		json_object_set_new(j, "error", error_json(resp));
		exit_code = 1;
	}
	print_json(j);
	ev_break(loop, EVBREAK_ALL);
}

/* ---- protocol, watches ---- */

static void protocol_done(struct k8s_response *resp, void *arg)
{
	(void)arg;
	if (resp->error) {
		fail_response(resp);
	} else {
		const char *p = k8s_client_protocol(client);
		print_json(json_pack("{s:s, s:s}", "type", "PROTOCOL", "protocol", p ? p : "none"));
	}
	ev_break(loop, EVBREAK_ALL);
}

static int quiet_event(struct k8s_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	return 0;
}

/* ---- reentrancy ---- */

static struct k8s_request *re_watch, *re_idle;
static const char *re_path;

static void re_never(struct k8s_response *resp, void *arg)
{
	(void)resp;
	print_json(json_pack("{s:s, s:s}", "type", "UNEXPECTED", "what", (const char *)arg));
	exit_code = 3;
}

static void re_get_done(struct k8s_response *resp, void *arg)
{
	(void)arg;
	json_t *j = json_pack("{s:s, s:I, s:I}", "type", "GET", "status", (json_int_t)resp->status,
			      "pending", (json_int_t)k8s_client_pending(client));
	if (resp->error)
		json_object_set_new(j, "error", error_json(resp));
	print_json(j);
	ev_break(loop, EVBREAK_ALL);
}

static int re_idle_event(struct k8s_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	return 0;  /* bookmarks, mostly */
}

static int re_event(struct k8s_event *ev, void *arg)
{
	(void)arg;
	print_json(summary(k8s_event_type_name(ev->type), ev->object));
	if (!re_watch)
		return 0;
	if (!k8s_get(client, re_path, re_get_done, NULL))
		exit_code = 3;
	k8s_request_cancel(re_idle);
	k8s_request_cancel(re_watch);
	re_watch = re_idle = NULL;
	return 0;
}

/* ---- watch (reflector) ---- */

static struct k8s_reflector *reflector;

static void on_change(enum k8s_change change, const struct tree *obj, const struct tree *old,
		      void *arg)
{
	(void)arg;
	json_t *j = summary(k8s_change_name(change), obj);
	if (old)
		json_object_set_new(j, "oldResourceVersion",
				    str_or_null(k8s_object_resource_version(old)));
	print_json(j);
}

static void on_synced(void *arg)
{
	(void)arg;
	fputs("SYNCED\n", stdout);
	fflush(stdout);
}

static void on_error(const struct k8s_response *resp, void *arg)
{
	(void)arg;
	json_t *j = error_json(resp);
	json_object_set_new(j, "type", json_string("ERROR"));
	print_json(j);
}

static void add_item(const char *key, const struct tree *obj, void *arg)
{
	json_t *items = arg;
	(void)key;
	json_t *s = summary("ITEM", obj);
	json_object_del(s, "type");
	json_array_append_new(items, s);
}

static void print_store(void)
{
	json_t *items = json_array();
	k8s_store_foreach(k8s_reflector_store(reflector), add_item, items);
	print_json(json_pack("{s:s, s:s, s:b, s:I, s:I, s:o}", "type", "STORE",
			     "resourceVersion", k8s_reflector_resource_version(reflector), "synced",
			     k8s_reflector_synced(reflector), "lists",
			     (json_int_t)k8s_reflector_lists(reflector), "resumes",
			     (json_int_t)k8s_reflector_resumes(reflector), "items", items));
}

static void signal_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	(void)revents;
	print_store();
	if (w->signum != SIGUSR1)
		ev_break(l, EVBREAK_ALL);
}

/* ---- main ---- */

static void usage(void)
{
	fputs("usage: k8s_probe [--kubeconfig F] [--context C] [--in-cluster SA_DIR] "
	      "[--timeout S] [--qps Q] [--burst N] CMD ARGS\n"
	      "  watch PATH [--page-limit N] [--watch-timeout S] [--backoff-max S] "
	      "[--label-selector L]\n"
	      "  watch-raw PATH [--resource-version RV] [--timeout-seconds N]\n"
	      "  list PATH [--limit N]\n"
	      "  get PATH [--repeat N] (N at once) | delete PATH | create PATH JSON | update PATH JSON\n"
	      "  patch PATH merge|json|strategic JSON | patch-status PATH JSON\n"
	      "  protocol PATH | watches N PATH\n"
	      "  reentrancy PATH\n", stderr);
	exit(2);
}

/* The value of option `name` among argv[i..]: removed from the list. */
static const char *take_opt(int *argc, char **argv, const char *name)
{
	for (int i = 0; i < *argc; i++) {
		if (strcmp(argv[i], name) != 0)
			continue;
		if (i + 1 >= *argc)
			usage();
		const char *v = argv[i + 1];
		memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof(*argv));
		*argc -= 2;
		return v;
	}
	return NULL;
}

static unsigned opt_uint(const char *v, unsigned dflt)
{
	return v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

int main(int argc, char **argv)
{
	argc--;
	argv++;
	const char *kubeconfig = take_opt(&argc, argv, "--kubeconfig");
	const char *context = take_opt(&argc, argv, "--context");
	const char *sa_dir = take_opt(&argc, argv, "--in-cluster");
	const char *timeout = take_opt(&argc, argv, "--timeout");
	const char *page_limit = take_opt(&argc, argv, "--page-limit");
	const char *watch_timeout = take_opt(&argc, argv, "--watch-timeout");
	const char *backoff_max = take_opt(&argc, argv, "--backoff-max");
	const char *label_selector = take_opt(&argc, argv, "--label-selector");
	const char *resource_version = take_opt(&argc, argv, "--resource-version");
	const char *timeout_seconds = take_opt(&argc, argv, "--timeout-seconds");
	const char *limit = take_opt(&argc, argv, "--limit");
	const char *qps = take_opt(&argc, argv, "--qps");
	const char *burst = take_opt(&argc, argv, "--burst");
	const char *repeat = take_opt(&argc, argv, "--repeat");
	if (argc < 2)
		usage();
	const char *cmd = argv[0], *path = argv[1];

	struct k8s_config cfg;
	char *err = NULL;
	int rc = sa_dir ? k8s_config_load_in_cluster(&cfg, sa_dir, &err)
			: k8s_config_load(&cfg, kubeconfig, context, NULL, &err);
	if (rc < 0) {
		fprintf(stderr, "k8s_probe: %s\n", err);
		free(err);
		return 2;
	}
	loop = EV_DEFAULT;
	client = k8s_client_new(loop, &cfg, &err);
	if (!client) {
		fprintf(stderr, "k8s_probe: %s\n", err);
		free(err);
		return 2;
	}
	if (timeout)
		k8s_client_set_timeout(client, atof(timeout));
	if (qps || burst)
		k8s_client_set_rate_limit(client, qps ? atof(qps) : K8S_DEFAULT_QPS,
					  opt_uint(burst, K8S_DEFAULT_BURST));

	struct list_state ls = { .path = path, .limit = opt_uint(limit, 0) };
	ev_signal sigs[3];
	struct k8s_request *req = NULL;
	bool started = true;
	if (strcmp(cmd, "watch") == 0) {
		struct k8s_reflector_opts o = {
			.path = path,
			.label_selector = label_selector,
			.page_limit = opt_uint(page_limit, 0),
			.watch_timeout = opt_uint(watch_timeout, 0),
			.backoff_initial = 0.2,
			.backoff_max = backoff_max ? atof(backoff_max) : 0,
			.on_change = on_change,
			.on_synced = on_synced,
			.on_error = on_error,
		};
		reflector = k8s_reflector_new(client, &o);
		if (!reflector)
			usage();
		int signums[3] = { SIGUSR1, SIGTERM, SIGINT };
		for (int i = 0; i < 3; i++) {
			ev_signal_init(&sigs[i], signal_cb, signums[i]);
			ev_signal_start(loop, &sigs[i]);
		}
		k8s_reflector_start(reflector);
	} else if (strcmp(cmd, "watch-raw") == 0) {
		struct k8s_watch_opts o = {
			.resource_version = resource_version,
			.timeout_seconds = opt_uint(timeout_seconds, 0),
		};
		req = k8s_watch(client, path, &o, raw_event, raw_done, NULL);
		started = req != NULL;
	} else if (strcmp(cmd, "reentrancy") == 0) {
		re_path = path;
		struct k8s_watch_opts o = { .timeout_seconds = 30 };
		re_idle = k8s_watch(client, "/api/v1/namespaces/kube-system/secrets", &o, re_idle_event,
				    re_never, "idle watch callback");
		o.resource_version = "";  /* the current objects first, as ADDED */
		re_watch = k8s_watch(client, path, &o, re_event, re_never, "watch callback");
		started = re_idle && re_watch;
	} else if (strcmp(cmd, "protocol") == 0) {
		started = k8s_get(client, path, protocol_done, NULL) != NULL;
	} else if (strcmp(cmd, "watches") == 0 && argc == 3) {
		struct k8s_watch_opts o = { .timeout_seconds = 120 };
		for (unsigned i = 0, n = opt_uint(argv[1], 1); i < n && started; i++)
			started = k8s_watch(client, argv[2], &o, quiet_event, raw_done, NULL) != NULL;
	} else if (strcmp(cmd, "list") == 0) {
		list_page(&ls);
	} else if (strcmp(cmd, "get") == 0) {
		gets_left = (int)opt_uint(repeat, 1);
		for (int i = 0; i < gets_left && started; i++)
			started = k8s_get(client, path, print_object_done, NULL) != NULL;
	} else if (strcmp(cmd, "delete") == 0) {
		started = k8s_delete(client, path, print_object_done, NULL) != NULL;
	} else if (strcmp(cmd, "create") == 0 && argc == 3) {
		started = k8s_create(client, path, argv[2], print_object_done, NULL) != NULL;
	} else if (strcmp(cmd, "update") == 0 && argc == 3) {
		started = k8s_update(client, path, argv[2], print_object_done, NULL) != NULL;
	} else if (strcmp(cmd, "patch") == 0 && argc == 4) {
		enum k8s_patch_type t = strcmp(argv[2], "merge") == 0 ? K8S_PATCH_MERGE
				      : strcmp(argv[2], "json") == 0 ? K8S_PATCH_JSON
				      : strcmp(argv[2], "strategic") == 0 ? K8S_PATCH_STRATEGIC
				      : (usage(), K8S_PATCH_MERGE);
		started = k8s_patch(client, path, t, argv[3], print_object_done, NULL) != NULL;
	} else if (strcmp(cmd, "patch-status") == 0 && argc == 3) {
		char *p = xasprintf("%s/status", path);
		started = k8s_patch(client, p, K8S_PATCH_MERGE, argv[2], print_object_done,
				    NULL) != NULL;
		free(p);
	} else {
		usage();
	}
	if (!started) {
		fprintf(stderr, "k8s_probe: cannot start the request\n");
		return 2;
	}
	ev_run(loop, 0);
	k8s_reflector_free(reflector);
	k8s_client_free(client);
	free(ls.cont);
	return exit_code;
}
