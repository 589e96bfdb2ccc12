/*
 * `ironlb speaker` (in ironlb-k8s, see k8sd.h): one per node, on the host
 * network.
 *
 * Reflectors keep Services, EndpointSlices and Nodes (cluster-wide), the
 * Secrets and metallb.io configuration kinds of the config namespace, and
 * this node's ServiceL2Status / ServiceBGPStatus objects.  Once all are
 * synced, and after changes (src/reconcile: quiet time, maximum delay), a
 * model is built from them exactly as `ironlb run` builds one from files,
 * and the announcer (src/node/announcer.h, the code `ironlb run` uses)
 * plans Layer 2 and BGP for this node and makes it so.  The addresses announced are the ones
 * the controller wrote in status.loadBalancer.ingress of Services that are
 * ours (type LoadBalancer, our class); each address's pool is the valid
 * pool that holds it.  The speaker never writes Services.
 *
 * What it reads is judged by the pipeline (src/pipeline/pipeline.h), as in
 * every mode: a configuration with errors (an unresolved reference
 * included) is not taken: the last good configuration objects keep being
 * used with the current Services, Nodes and EndpointSlices, so nothing is
 * withdrawn because of a bad change, and the ConfigurationState
 * "speaker-<node>" says Invalid with the errors (and an Event) until it is
 * fixed.  With no good configuration yet, one whose only errors are
 * unresolved references is run (those references select nothing) rather
 * than nothing.  A Service with errors is announced in its last good
 * version, or not at all.
 *
 * What this node announces is written where `kubectl get` shows it: one
 * ServiceL2Status per Service it answers for over Layer 2 (with the
 * interfaces), one ServiceBGPStatus per Service it announces over BGP (with
 * the BGPPeers), named after node and Service so that a restart finds its
 * own; objects for what it stopped announcing are deleted.  Events on the
 * Service: nodeAssigned when this node starts announcing it (per
 * protocol; once per change: a restart that finds its own status object
 * for a Service posts none), announceFailed when it should answer over
 * Layer 2 but has no usable interface for it.
 *
 * Which nodes may answer over Layer 2 is the failure detector's
 * (src/node/liveness.h, src/member): its members are the Nodes' InternalIP
 * addresses, its key the `memberlist` Secret's `secretkey` in the config
 * namespace (MetalLB's name; --member-key FILE instead), and a node it
 * holds dead or left, or whose Ready condition is False or Unknown, is no
 * candidate.  A verdict of the detector is a pass at once, without waiting
 * for the API server.  SIGTERM tells the other members first.
 */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <jansson.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc_metrics.h"
#include "base/diag.h"
#include "base/base64.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"
#include "node/announcer.h"
#include "node/liveness.h"
#include "member/member.h"
#include "base/metrics.h"
#include "http/server.h"
#include "k8s/k8s_client.h"
#include "k8s/k8s_config.h"
#include "k8sd/k8sd.h"
#include "pipeline/pipeline.h"
#include "manifest/tree.h"
#include "model/model.h"
#include "reconcile/reconciler.h"

#define REPORTING_CONTROLLER "metallb.io/speaker"
#define RETRY 1.0
#define MAX_IFACES 32
/* The Secret holding the member key, as MetalLB's install names it. */
#define MEMBER_SECRET "memberlist"
#define MEMBER_SECRET_KEY "secretkey"

/* The order matters: [S_FIRST_CONFIG, S_STATUS_L2) are configuration. */
enum { S_SERVICES, S_SLICES, S_NODES, S_SECRETS, S_POOLS, S_L2ADVS, S_BGPADVS,
       S_COMMUNITIES, S_BFD, S_PEERS, S_L2STATUS, S_BGPSTATUS, S_COUNT };
#define S_FIRST_CONFIG S_SECRETS
#define S_END_MODEL S_L2STATUS

/* Protocol bits of what this node does for a Service. */
enum { P_L2 = 1, P_BGP = 2, P_L2_FAILED = 4 };

/* What this node announced for a Service at the last pass (for events). */
struct announced {
	char *key;       /* "ns/name" */
	unsigned bits;
};

/* A ServiceL2Status / ServiceBGPStatus object this node keeps. */
struct status_rec {
	char *name;
	/* What was last sent and not yet seen back from the watch: the status
	 * JSON text, "-" for a delete; NULL when nothing is outstanding. */
	char *sent;
	/* The status it should hold (JSON text), NULL when it should go: what
	 * an event on it is compared with (k8sd_status_object_echo()). */
	char *want;
};

struct spk {
	struct ev_loop *loop;
	struct k8s_client *client;
	const char *ns;
	const char *node;
	const char *lb_class;
	char *instance;
	struct k8s_reflector *refl[S_COUNT];
	char *paths[S_COUNT];
	struct refl_arg {
		struct spk *s;
		int i;
	} rargs[S_COUNT];
	bool started;
	struct reconciler *rec;   /* when passes run; signals; drain at exit */

	/* The store, verdict and last good records (pipeline.h). */
	struct pipeline *pipe;
	bool have_config;
	bool stale;
	unsigned long updates, update_errors;
	json_t *verdict;   /* the last pass's, for /status (pipeline_verdict_json()) */

	struct announcer *ann;
	/* The failure detector and the Ready condition (liveness.h); the
	 * key from --member-key FILE (key_from_file), else the memberlist
	 * Secret. */
	struct liveness *liveness;
	bool key_from_file;
	char *key_problem;            /* last logged problem with the Secret */
	/* s->announced holds what this node announced before the first
	 * report (its own status objects), so a restart posts no events. */
	bool reported;
	/* Nodes the failure detector held dead or left at the last pass:
	 * their status objects for what this node takes over are stale, and
	 * deleted here, since their speakers cannot.  (A node that is only
	 * not Ready has a running speaker, which deletes its own.) */
	size_t ndown;
	char **down;
	size_t nannounced;
	struct announced *announced;  /* sorted by key */
	size_t nrecs;
	struct status_rec *recs;      /* sorted by name */
	struct status_req *reqs;      /* status object requests under way */

	struct k8sd_cstate *cstate;
	struct metrics_registry *reg;
	struct alloc_metrics am;
	struct http_server *http;
};

/* When passes run is the reconciler's (src/reconcile/reconciler.h): a pass
 * costs time in proportion to the cluster, so changes gather for as long
 * as the last pass took (at most max_spacing), a burst of them (a thousand
 * Services getting their addresses) is a few passes, not a thousand, and
 * no change waits longer than max_delay. */
static void retry_soon(void *arg)
{
	struct spk *s = arg;
	reconciler_retry(s->rec, RETRY);
}

/* ------------------------------------------------------------------ */
/* status objects */

static int rec_cmp(const void *a, const void *b)
{
	return strcmp(((const struct status_rec *)a)->name, ((const struct status_rec *)b)->name);
}

static struct status_rec *rec_find(struct spk *s, const char *name)
{
	struct status_rec k = {.name = (char *)name};
	return xbsearch(&k, s->recs, s->nrecs, sizeof(k), rec_cmp);
}

/* "l2-" or "bgp-" and 10 hex digits of sha256(node "/" ns "/" name): the
 * same on every restart of this node, different for other nodes. */
static char *status_name(const char *prefix, const char *node, const char *svc_key)
{
	uint8_t h[SHA256_DIGEST_LEN];
	char *in = xasprintf("%s/%s", node, svc_key);
	sha256(in, strlen(in), h);
	free(in);
	return xasprintf("%s%02x%02x%02x%02x%02x", prefix, h[0], h[1], h[2], h[3], h[4]);
}

struct status_req {
	struct spk *s;
	struct status_req *prev, *next;   /* in s->reqs */
	char *name;
	char *kind_path;    /* collection path */
	char *status;       /* JSON text to patch after a create */
};

/* Requests under way are listed so that what is still out at shutdown
 * (the client cancels them without callbacks) is freed. */
static struct status_req *status_req_new(struct spk *s, const char *name)
{
	struct status_req *r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->name = xstrdup(name);
	r->next = s->reqs;
	if (s->reqs)
		s->reqs->prev = r;
	s->reqs = r;
	return r;
}

static void status_req_free(struct status_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		r->s->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	free(r->name);
	free(r->kind_path);
	free(r->status);
	free(r);
}

static void status_failed(struct status_req *r, const char *what, const struct k8s_response *resp)
{
	log_warn("API request failed", "what", what, "name", r->name, "error", resp->message,
		 NULL);
	struct status_rec *rec = rec_find(r->s, r->name);
	if (rec) {
		free(rec->sent);
		rec->sent = NULL;
	}
	reconciler_retry(r->s->rec, RETRY);
}

static void on_status_patched(struct k8s_response *resp, void *arg)
{
	struct status_req *r = arg;
	if (resp->error != K8S_OK)
		status_failed(r, "status object update", resp);
	status_req_free(r);
}

static void patch_status(struct status_req *r)
{
	char *path = xasprintf("%s/%s/status", r->kind_path, r->name);
	char *body = xasprintf("{\"status\":%s}", r->status);
	if (!k8s_patch(r->s->client, path, K8S_PATCH_MERGE, body, on_status_patched, r))
		status_req_free(r);
	free(body);
	free(path);
}

static void on_status_created(struct k8s_response *resp, void *arg)
{
	struct status_req *r = arg;
	/* Created, or there already (a watch not yet seen): set its status. */
	if (resp->error == K8S_OK || (resp->reason && strcmp(resp->reason, "AlreadyExists") == 0)) {
		patch_status(r);
		return;
	}
	status_failed(r, "status object create", resp);
	status_req_free(r);
}

static void on_status_deleted(struct k8s_response *resp, void *arg)
{
	struct status_req *r = arg;
	if (resp->error != K8S_OK && !(resp->reason && strcmp(resp->reason, "NotFound") == 0))
		status_failed(r, "status object delete", resp);
	status_req_free(r);
}

/* One wanted status object. */
struct want {
	char *name;
	const char *kind;      /* "ServiceL2Status" / "ServiceBGPStatus" */
	int refl;              /* S_L2STATUS / S_BGPSTATUS */
	char *svc_ns, *svc_name;
	json_t *status;
};

/* One more wanted object of kind refl for Service key: status node,
 * serviceName, serviceNamespace and `field` (interfaces or peers). */
static void want_push(struct want **v, size_t *n, const struct spk *s, int refl,
		      const char *key, const char *svc_ns, const char *svc_name,
		      const char *field, json_t *value)
{
	struct want *w = VEC_PUSH(*v, *n);
	bool l2 = refl == S_L2STATUS;
	*w = (struct want){status_name(l2 ? "l2-" : "bgp-", s->node, key),
			   l2 ? "ServiceL2Status" : "ServiceBGPStatus",
			   refl,
			   xstrdup(svc_ns),
			   xstrdup(svc_name),
			   json_pack("{s:s, s:s, s:s, s:O}", "node", s->node, "serviceName",
				     svc_name, "serviceNamespace", svc_ns, field, value)};
}

static int want_cmp(const void *a, const void *b)
{
	return strcmp(((const struct want *)a)->name, ((const struct want *)b)->name);
}

static const char *const KIND_PLURAL[] = {[S_L2STATUS] = "servicel2statuses",
					  [S_BGPSTATUS] = "servicebgpstatuses"};

struct gone_ctx {
	struct spk *s;
	const struct want *want;
	size_t nwant;
	int refl;
	struct status_rec **next;
	size_t *nnext;
};

/* k8s_store_foreach callback: delete an object of this node's (the
 * reflector selects them by label) that is not wanted. */
static void delete_unwanted(const char *key, const struct tree *obj, void *arg)
{
	struct gone_ctx *g = arg;
	struct spk *s = g->s;
	(void)key;
	const char *name = tree_get_str(tree_get(obj, "metadata"), "name");
	if (!name)
		return;
	struct want k = {.name = (char *)name};
	if (xbsearch(&k, g->want, g->nwant, sizeof(k), want_cmp))
		return;
	struct status_rec *old = rec_find(s, name);
	struct status_rec *rec = VEC_PUSH(*g->next, *g->nnext);
	rec->name = xstrdup(name);
	rec->sent = xstrdup("-");
	if (old && old->sent && strcmp(old->sent, "-") == 0)
		return;   /* deleting; the watch has not shown it yet */
	struct status_req *r = status_req_new(s, name);
	r->kind_path = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/%s", s->ns,
				 KIND_PLURAL[g->refl]);
	char *path = xasprintf("%s/%s", r->kind_path, name);
	log_info("status object no longer wanted; deleting", "name", name, NULL);
	if (!k8s_delete(s->client, path, on_status_deleted, r))
		status_req_free(r);
	free(path);
}

/* Make the stores of this node's status objects match `want` (sorted by
 * name). */
static void sync_status_objects(struct spk *s, struct want *want, size_t nwant)
{
	struct status_rec *next = NULL;
	size_t nnext = 0;

	for (size_t i = 0; i < nwant; i++) {
		struct want *w = &want[i];
		const struct tree *obj =
			k8s_store_get(k8s_reflector_store(s->refl[w->refl]), s->ns, w->name);
		json_t *have = NULL;
		if (obj && tree_get(obj, "status"))
			have = tree_to_json(tree_get(obj, "status"));
		bool same = have && json_equal(have, w->status);
		json_decref(have);
		char *text = json_dumps(w->status, JSON_COMPACT | JSON_SORT_KEYS);
		struct status_rec *old = rec_find(s, w->name);
		struct status_rec *rec = VEC_PUSH(next, nnext);
		rec->name = xstrdup(w->name);
		rec->sent = old && old->sent ? xstrdup(old->sent) : NULL;
		rec->want = xstrdup(text);
		if (same) {
			free(rec->sent);
			rec->sent = NULL;
			free(text);
			continue;
		}
		if (rec->sent && strcmp(rec->sent, text) == 0) {
			free(text);   /* sent; the watch has not shown it yet */
			continue;
		}
		free(rec->sent);
		rec->sent = text;
		struct status_req *r = status_req_new(s, w->name);
		r->kind_path = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/%s", s->ns,
					 KIND_PLURAL[w->refl]);
		r->status = xstrdup(text);
		if (obj) {
			patch_status(r);
			continue;
		}
		json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}}}", "apiVersion",
				      "metallb.io/v1beta1", "kind", w->kind, "metadata", "name",
				      w->name, "namespace", s->ns, "labels", "metallb.io/node",
				      s->node, "metallb.io/service-name", w->svc_name,
				      "metallb.io/service-namespace", w->svc_ns);
		char *body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (!k8s_create(s->client, r->kind_path, body, on_status_created, r))
			status_req_free(r);
		free(body);
	}

	/* Objects of this node that are no longer wanted. */
	struct gone_ctx g = {s, want, nwant, 0, &next, &nnext};
	for (g.refl = S_L2STATUS; g.refl <= S_BGPSTATUS; g.refl++)
		k8s_store_foreach(k8s_reflector_store(s->refl[g.refl]), delete_unwanted, &g);

	/* Replace the records (those of objects neither wanted nor pending a
	 * delete are dropped with them). */
	for (size_t i = 0; i < s->nrecs; i++) {
		free(s->recs[i].name);
		free(s->recs[i].sent);
		free(s->recs[i].want);
	}
	free(s->recs);
	xqsort(next, nnext, sizeof(*next), rec_cmp);
	s->recs = next;
	s->nrecs = nnext;
}

/* ------------------------------------------------------------------ */
/* what this node announces: status objects and events */

static int announced_cmp(const void *a, const void *b)
{
	return strcmp(((const struct announced *)a)->key, ((const struct announced *)b)->key);
}

/* A (Service key, bits, detail) pair collected from the plans. */
struct svc_item {
	const char *key;     /* "ns/name" (points into a plan) */
	unsigned bits;
	const char *detail;  /* an interface or a BGPPeer name, NULL for none */
};

static int svc_item_cmp(const void *a, const void *b)
{
	const struct svc_item *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	if (x->bits != y->bits)
		return x->bits < y->bits ? -1 : 1;
	if (!x->detail || !y->detail)
		return x->detail ? 1 : y->detail ? -1 : 0;
	return strcmp(x->detail, y->detail);
}

static void post_event(struct spk *s, const char *key, const char *type, const char *reason,
		       const char *msg)
{
	char *ns = xstrdup(key);
	char *slash = strchr(ns, '/');
	if (slash) {
		*slash = 0;
		const struct tree *svc =
			k8s_store_get(k8s_reflector_store(s->refl[S_SERVICES]), ns, slash + 1);
		log_msg(strcmp(type, "Warning") == 0 ? LOG_WARN : LOG_INFO, msg, "service", key,
			"reason", reason, NULL);
		k8sd_post_event(s->client, REPORTING_CONTROLLER, s->instance, svc, ns, slash + 1,
				type, reason, msg);
	}
	free(ns);
}

struct seed_ctx {
	struct announced *v;
	size_t n;
	unsigned bits;
};

static void seed_one(const char *key, const struct tree *obj, void *arg)
{
	struct seed_ctx *c = arg;
	const struct tree *st = tree_get(obj, "status");
	const char *ns = st ? tree_get_str(st, "serviceNamespace") : NULL;
	const char *name = st ? tree_get_str(st, "serviceName") : NULL;
	(void)key;
	if (!ns || !name)
		return;
	struct announced *a = VEC_PUSH(c->v, c->n);
	a->key = xasprintf("%s/%s", ns, name);
	a->bits = c->bits;
}

/* Before the first report: what this node announced when it last ran,
 * from its own ServiceL2Status / ServiceBGPStatus objects, so that a
 * restart (or a start after a crash) posts nodeAssigned only for what
 * really changed: once per change of announcer, not once per start. */
static void seed_announced(struct spk *s)
{
	struct seed_ctx c = {0};
	c.bits = P_L2;
	k8s_store_foreach(k8s_reflector_store(s->refl[S_L2STATUS]), seed_one, &c);
	c.bits = P_BGP;
	k8s_store_foreach(k8s_reflector_store(s->refl[S_BGPSTATUS]), seed_one, &c);
	xqsort(c.v, c.n, sizeof(*c.v), announced_cmp);
	/* One entry per Service, its bits merged. */
	size_t k = 0;
	for (size_t i = 0; i < c.n; i++) {
		if (k && strcmp(c.v[k - 1].key, c.v[i].key) == 0) {
			c.v[k - 1].bits |= c.v[i].bits;
			free(c.v[i].key);
			continue;
		}
		c.v[k++] = c.v[i];
	}
	for (size_t i = 0; i < s->nannounced; i++)
		free(s->announced[i].key);
	free(s->announced);
	s->announced = c.v;
	s->nannounced = k;
}

static void on_stale_deleted(struct k8s_response *resp, void *arg)
{
	struct status_req *r = arg;
	if (resp->error != K8S_OK && !(resp->reason && strcmp(resp->reason, "NotFound") == 0))
		log_warn("cannot delete a stale status object of a node that is down", "name",
			 r->name, "error", resp->message, NULL);
	status_req_free(r);
}

/* This node took Service key over over Layer 2: the ServiceL2Status
 * objects of the nodes held dead or left say otherwise, and their speakers
 * cannot delete them; delete them here (names are known: status_name()),
 * so that `kubectl get servicel2statuses` shows one announcer, and a node
 * that comes back does not take its stale object for its own. */
static void delete_stale_l2(struct spk *s, const char *key)
{
	for (size_t i = 0; i < s->ndown; i++) {
		if (strcmp(s->down[i], s->node) == 0)
			continue;
		char *name = status_name("l2-", s->down[i], key);
		/* A request record: what is still out at exit is freed. */
		struct status_req *r = status_req_new(s, name);
		char *path = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/%s/%s", s->ns,
				       KIND_PLURAL[S_L2STATUS], name);
		if (!k8s_delete(s->client, path, on_stale_deleted, r))
			status_req_free(r);
		free(path);
		free(name);
	}
}

/* From the plans just applied: the wanted ServiceL2Status and
 * ServiceBGPStatus objects, and events for what changed since the last
 * pass. */
static void report(struct spk *s)
{
	const struct l2_plan *l2 = announcer_l2_plan(s->ann);
	const struct bgp_plan *bgp = announcer_bgp_plan(s->ann);
	struct svc_item *items = NULL;
	size_t nitems = 0;
	char (*ifs)[16] = xcalloc(MAX_IFACES, sizeof(*ifs));
	/* Interface names live in this pool until report() returns. */
	char **names = NULL;
	size_t nnames = 0;

	for (size_t i = 0; i < l2->n; i++) {
		const struct l2_entry *e = &l2->entries[i];
		if (!e->here)
			continue;
		size_t n = announcer_interfaces(s->ann, &e->addr, ifs, MAX_IFACES);
		if (n == 0) {
			struct svc_item *it = VEC_PUSH(items, nitems);
			*it = (struct svc_item){e->service, P_L2_FAILED, NULL};
		}
		for (size_t k = 0; k < n; k++) {
			char **nm = VEC_PUSH(names, nnames);
			*nm = xstrdup(ifs[k]);
			struct svc_item *it = VEC_PUSH(items, nitems);
			*it = (struct svc_item){e->service, P_L2, *nm};
		}
	}
	for (size_t i = 0; i < bgp->nsessions; i++) {
		const struct bgp_session_plan *sp = &bgp->sessions[i];
		for (size_t r = 0; r < sp->nroutes; r++)
			for (size_t k = 0; k < sp->routes[r].nservices; k++) {
				struct svc_item *it = VEC_PUSH(items, nitems);
				*it = (struct svc_item){sp->routes[r].services[k], P_BGP,
							sp->cfg.name};
			}
	}
	free(ifs);
	xqsort(items, nitems, sizeof(*items), svc_item_cmp);

	struct want *want = NULL;
	size_t nwant = 0;
	struct announced *now = NULL;
	size_t nnow = 0;
	for (size_t i = 0; i < nitems;) {
		const char *key = items[i].key;
		size_t j = i;
		unsigned bits = 0;
		json_t *l2ifs = json_array(), *peers = json_array();
		for (; j < nitems && strcmp(items[j].key, key) == 0; j++) {
			const struct svc_item *it = &items[j];
			bits |= it->bits;
			/* Sorted: equal details are adjacent. */
			bool dup = j > i && items[j - 1].bits == it->bits && it->detail &&
				   items[j - 1].detail && strcmp(items[j - 1].detail, it->detail) == 0;
			if (dup || !it->detail)
				continue;
			if (it->bits == P_L2)
				json_array_append_new(l2ifs, json_pack("{s:s}", "name", it->detail));
			else
				json_array_append_new(peers, json_string(it->detail));
		}
		struct announced *a = VEC_PUSH(now, nnow);
		a->key = xstrdup(key);
		a->bits = bits;

		char *svc_ns = xstrdup(key);
		char *slash = strchr(svc_ns, '/');
		const char *svc_name = slash ? slash + 1 : "";
		if (slash)
			*slash = 0;
		/* Only where it really answers: an elected node without a
		 * usable interface has an announceFailed event instead. */
		if (bits & P_L2)
			want_push(&want, &nwant, s, S_L2STATUS, key, svc_ns, svc_name, "interfaces",
				  l2ifs);
		if (bits & P_BGP)
			want_push(&want, &nwant, s, S_BGPSTATUS, key, svc_ns, svc_name, "peers",
				  peers);
		free(svc_ns);
		json_decref(l2ifs);
		json_decref(peers);
		i = j;
	}
	xqsort(want, nwant, sizeof(*want), want_cmp);
	sync_status_objects(s, want, nwant);
	for (size_t i = 0; i < nwant; i++) {
		free(want[i].name);
		free(want[i].svc_ns);
		free(want[i].svc_name);
		json_decref(want[i].status);
	}
	free(want);

	if (!s->reported)
		seed_announced(s);
	s->reported = true;
	/* Events for what is new since the last pass (now is sorted: items
	 * were). */
	for (size_t i = 0; i < nnow; i++) {
		struct announced *a = &now[i];
		const struct announced *before =
			xbsearch(a, s->announced, s->nannounced, sizeof(*a), announced_cmp);
		unsigned was = before ? before->bits : 0;
		unsigned fresh = a->bits & ~was;
		char msg[512];
		if (fresh & P_L2) {
			snprintf(msg, sizeof(msg), "announcing from node \"%s\" with protocol \"layer2\"",
				 s->node);
			post_event(s, a->key, "Normal", "nodeAssigned", msg);
			delete_stale_l2(s, a->key);
		}
		if (fresh & P_BGP) {
			snprintf(msg, sizeof(msg), "announcing from node \"%s\" with protocol \"bgp\"",
				 s->node);
			post_event(s, a->key, "Normal", "nodeAssigned", msg);
		}
		if (fresh & P_L2_FAILED) {
			snprintf(msg, sizeof(msg),
				 "node \"%s\" was elected to answer for the Service over layer 2 "
				 "but has no usable interface for it (see the speaker's /status "
				 "l2_engine.interfaces and the L2Advertisement's interfaces)",
				 s->node);
			post_event(s, a->key, "Warning", "announceFailed", msg);
		}
	}
	for (size_t i = 0; i < s->nannounced; i++)
		free(s->announced[i].key);
	free(s->announced);
	s->announced = now;
	s->nannounced = nnow;

	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(items);
}

/* ------------------------------------------------------------------ */
/* the member key */

/* Log a problem with the memberlist Secret once per change (NULL: none). */
static void key_problem(struct spk *s, const char *problem, bool error)
{
	if ((!problem && !s->key_problem) ||
	    (problem && s->key_problem && strcmp(problem, s->key_problem) == 0))
		return;
	free(s->key_problem);
	s->key_problem = problem ? xstrdup(problem) : NULL;
	if (!problem)
		return;
	char *where = xasprintf("Secret %s/%s", s->ns, MEMBER_SECRET);
	char *fix = xasprintf("kubectl create secret generic -n %s %s "
			      "--from-literal=%s=\"$(openssl rand -base64 128)\"",
			      s->ns, MEMBER_SECRET, MEMBER_SECRET_KEY);
	log_msg(error ? LOG_ERROR : LOG_WARN, problem, "object", where, "fix", fix, NULL);
	free(fix);
	free(where);
}

/* The key from the memberlist Secret (data.secretkey, the text with
 * trailing blanks and newlines removed, as --member-key FILE reads it):
 * at the start and whenever the Secret changes (a rotation).  A Secret
 * whose key cannot be read leaves the key in use as it is. */
static void member_key_from_secret(struct spk *s)
{
	if (s->key_from_file)
		return;
	const struct tree *sec =
		k8s_store_get(k8s_reflector_store(s->refl[S_SECRETS]), s->ns, MEMBER_SECRET);
	const struct tree *data = sec ? tree_get(sec, "data") : NULL;
	const char *b64 = data ? tree_get_str(data, MEMBER_SECRET_KEY) : NULL;
	if (!b64) {
		key_problem(s,
			    sec ? "the memberlist Secret has no data.secretkey; the member protocol "
				  "runs unauthenticated"
				: "no memberlist Secret; the member protocol runs unauthenticated",
			    false);
		liveness_set_key(s->liveness, NULL, 0);
		return;
	}
	uint8_t *key = NULL;
	size_t len = 0;
	char why[256];
	if (base64_decode(b64, &key, &len, why, sizeof(why)) != 0) {
		char *p = xasprintf("the memberlist Secret's data.secretkey %s; the member key in "
				    "use is kept",
				    why);
		key_problem(s, p, true);
		free(p);
		return;
	}
	while (len && (key[len - 1] == '\n' || key[len - 1] == '\r' || key[len - 1] == ' ' ||
		       key[len - 1] == '\t'))
		len--;
	if (len == 0 || len > MEMBER_KEY_MAX) {
		char *p = xasprintf("the memberlist Secret's data.secretkey is %s (expected 1 to %d "
				    "bytes of text); the member key in use is kept",
				    len ? "too long" : "empty", MEMBER_KEY_MAX);
		key_problem(s, p, true);
		free(p);
	} else {
		key_problem(s, NULL, false);
		liveness_set_key(s->liveness, key, len);
	}
	memset(key, 0, len);
	free(key);
}

/* The detector changed its verdict on a node: plan again now (a pass
 * reads the reflectors' stores: nothing waits for the API server). */
static void on_liveness(void *arg)
{
	struct spk *s = arg;
	if (reconciler_ready(s->rec))
		reconciler_pass_now(s->rec);
}

/* ------------------------------------------------------------------ */
/* reconciling */

/* Collect a reflector store's objects (clones) for the pipeline. */
/* Whether svc is ours (a LoadBalancer of our class, as the controller
 * decides). */
static bool ours(const struct spk *s, const struct service *svc)
{
	if (!service_is_load_balancer(svc))
		return false;
	const char *got = svc->lb_class && *svc->lb_class ? svc->lb_class : NULL;
	if (!s->lb_class)
		return got == NULL;
	return got && strcmp(got, s->lb_class) == 0;
}

static void metrics_update(struct spk *s)
{
	metrics_set(s->am.config_loaded, NULL, s->have_config ? 1 : 0);
	metrics_set(s->am.config_stale, NULL, s->stale ? 1 : 0);
	metrics_family_clear(s->am.updates);
	metrics_add(s->am.updates, NULL, (double)s->updates);
	metrics_family_clear(s->am.update_errors);
	metrics_add(s->am.update_errors, NULL, (double)s->update_errors);
}

/*
 * One pass.  The reflectors' objects are given to the pipeline as one
 * source, replaced as a whole on each pass (feeding single changes from
 * on_change is the step after), and the pipeline's verdict and model
 * decide what is announced: the configuration in force (current or last
 * good) with the current Services, Nodes and EndpointSlices; a Service
 * with errors in its last good version or not at all (the controller
 * posts its event).
 */
static void reconcile(struct spk *s)
{
	struct pipeline_pass ps;
	bool invalid = k8sd_pass_build(s->pipe, s->refl, S_END_MODEL, s->cstate, &ps, &s->verdict);
	s->updates++;
	if (invalid)
		s->update_errors++;
	s->have_config = ps.running;
	s->stale = ps.stale;
	if (!ps.running) {
		log_error("configuration has errors; nothing announced until it is fixed", NULL);
		metrics_update(s);
		pipeline_pass_free(&ps);
		return;
	}
	if (!ps.taken)
		log_error("configuration has errors; announcing with the last good one", NULL);
	else if (invalid)
		log_warn("configuration refers to objects that do not exist; running it "
			 "(no valid one yet), those references select nothing",
			 NULL);
	struct model m = ps.model;
	model_init(&ps.model, s->ns);
	pipeline_pass_free(&ps);
	/* Members from the Nodes; dead, left or not Ready nodes marked. */
	liveness_sync(s->liveness, &m);
	for (size_t i = 0; i < s->ndown; i++)
		free(s->down[i]);
	s->ndown = 0;
	for (size_t i = 0; i < m.nnodes; i++)
		if (liveness_down(s->liveness, m.nodes[i].meta.name))
			*VEC_PUSH(s->down, s->ndown) = xstrdup(m.nodes[i].meta.name);

	struct announce_svc *as = xcalloc(m.nservices ? m.nservices : 1, sizeof(*as));
	size_t nas = 0;
	for (size_t i = 0; i < m.nservices; i++) {
		const struct service *svc = &m.services[i];
		if (!ours(s, svc) || svc->ningress == 0)
			continue;
		struct announce_svc *x = &as[nas];
		x->svc = svc;
		for (size_t k = 0; k < svc->ningress; k++) {
			const struct pool *p = model_pool_containing(&m, &svc->ingress[k]);
			if (!p) {
				char ip[IP_STR_MAX];
				log_debug("address in no pool; not announced", "service",
					  svc->meta.name, "ip", ip_format(&svc->ingress[k], ip),
					  NULL);
				continue;
			}
			x->addrs[x->naddrs] = svc->ingress[k];
			x->pools[x->naddrs] = p->meta.name;
			x->naddrs++;
		}
		if (x->naddrs)
			nas++;
	}
	announcer_apply(s->ann, &m, as, nas);
	free(as);
	report(s);
	metrics_update(s);
	model_free(&m);
	/* A pass builds and drops a whole model: give the memory back. */
	malloc_trim(0);
}

static void on_pass(void *arg)
{
	reconcile(arg);
}

/* Whether an event on one of this node's status objects shows what this
 * speaker wrote (k8sd_status_object_echo()).  Once the watch shows the
 * status written, the write is no longer under way: a later change by
 * someone else is then a difference. */
static bool own_status_write(struct spk *s, enum k8s_change change, const struct tree *object)
{
	const char *name = tree_get_str(tree_get(object, "metadata"), "name");
	struct status_rec *rec = name ? rec_find(s, name) : NULL;
	if (!rec || !k8sd_status_object_echo(change, object, rec->want, rec->sent))
		return false;
	if (change != K8S_CHANGE_DELETED && rec->want && rec->sent &&
	    strcmp(rec->sent, rec->want) == 0 && tree_get(object, "status")) {
		free(rec->sent);
		rec->sent = NULL;
	}
	return true;
}

static void on_change(enum k8s_change change, const struct tree *object, const struct tree *old,
		      void *arg)
{
	struct refl_arg *ra = arg;
	struct spk *s = ra->s;
	(void)old;
	if (ra->i == S_SECRETS && s->started) {
		const char *name = tree_get_str(tree_get(object, "metadata"), "name");
		if (name && strcmp(name, MEMBER_SECRET) == 0)
			member_key_from_secret(s);
	}
	if ((ra->i == S_L2STATUS || ra->i == S_BGPSTATUS) && own_status_write(s, change, object)) {
		reconciler_own_write(s->rec);
		return;
	}
	reconciler_changed(s->rec);
}

static void on_synced(void *arg)
{
	struct spk *s = ((struct refl_arg *)arg)->s;
	if (s->started)
		return;
	for (int i = 0; i < S_COUNT; i++)
		if (!k8s_reflector_synced(s->refl[i]))
			return;
	s->started = true;
	log_info("all resources synced", NULL);
	member_key_from_secret(s);
	reconciler_synced(s->rec);
}

static void on_refl_error(const struct k8s_response *resp, void *arg)
{
	(void)arg;
	log_warn("watch failed; retrying (announcements are kept meanwhile)", "error",
		 resp->message ? resp->message : "?", "reason", resp->reason, NULL);
}

/* ------------------------------------------------------------------ */
/* HTTP */

static void h_healthz(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct spk *s = arg;
	(void)req;
	if (reconciler_ready(s->rec))
		http_response_printf(resp, 200, "ok\n");
	else
		http_response_printf(resp, 503, "not synced with the API server yet\n");
}

static void h_status(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct spk *s = arg;
	(void)req;
	json_t *root = json_object();
	json_object_set_new(root, "node", json_string(s->node));
	json_object_set_new(root, "namespace", json_string(s->ns));
	json_t *config =
		json_pack("{s:b, s:b, s:b, s:I, s:I}", "synced", s->started, "loaded",
			  s->have_config, "stale", s->stale, "updates", (json_int_t)s->updates,
			  "failed_updates", (json_int_t)s->update_errors);
	/* Before the first pass there is no verdict yet: "verdict" is null. */
	if (s->verdict)
		json_object_update(config, s->verdict);
	else
		json_object_set_new(config, "verdict", json_null());
	json_object_set_new(root, "config", config);
	announcer_status_json(s->ann, root);
	json_object_set_new(root, "reconciler", reconciler_status_json(s->rec));
	json_object_set_new(root, "members", liveness_status_json(s->liveness));
	resp->body = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	resp->body_len = strlen(resp->body);
	resp->status = 200;
	resp->content_type = HTTP_APPLICATION_JSON;
	json_decref(root);
}

/* SIGTERM/SIGINT (the reconciler's stop): tell the other members first
 * (they take over at once rather than after detecting our silence),
 * withdraw, and no more watches.  The reconciler then lets the writes
 * under way (status objects, Events) finish, for 2 s at most; a second
 * signal ends the wait. */
static void on_stop(void *arg)
{
	struct spk *s = arg;
	liveness_leave(s->liveness);
	announcer_stop(s->ann);
	for (int i = 0; i < S_COUNT; i++) {
		k8s_reflector_free(s->refl[i]);
		s->refl[i] = NULL;
	}
}

static bool on_pending(void *arg)
{
	struct spk *s = arg;
	return k8s_client_pending(s->client);
}

/* ------------------------------------------------------------------ */

static void speaker_usage(FILE *out)
{
	fputs("usage: ironlb speaker --node-name NODE [--kubeconfig FILE]\n"
	      "                      [--metrics-listen ADDR:PORT] [--namespace NS]\n"
	      "                      [--lb-class CLASS] [--install-vips] [--vip-device DEV]\n"
	      "                      [--bgp-port PORT] [--member-port PORT]\n"
	      "                      [--member-key FILE] [--log-level L]\n"
	      "\n"
	      "Announce the addresses of LoadBalancer Services from this node over ARP/NDP\n"
	      "and BGP, as the metallb.io configuration of NS (default metallb-system)\n"
	      "says.  NODE defaults to $NODE_NAME.  --metrics-listen defaults to :7473.\n"
	      "The failure detector between nodes listens on UDP --member-port (default\n"
	      "7946); its key is the Secret NS/memberlist, key secretkey, or the text of\n"
	      "--member-key FILE.\n",
	      out);
}

int cmd_speaker(int argc, char **argv)
{
	static const struct option opts[] = {
		{"node-name", required_argument, NULL, 'N'},
		{"kubeconfig", required_argument, NULL, 'k'},
		{"metrics-listen", required_argument, NULL, 'm'},
		{"namespace", required_argument, NULL, 'n'},
		{"lb-class", required_argument, NULL, 'c'},
		{"install-vips", no_argument, NULL, 'I'},
		{"vip-device", required_argument, NULL, 'V'},
		{"bgp-port", required_argument, NULL, 'b'},
		{"member-port", required_argument, NULL, 'M'},
		{"member-key", required_argument, NULL, 'K'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *kubeconfig = NULL, *listen = NULL, *ns = NULL, *lb_class = NULL;
	const char *node = NULL, *vip_device = NULL, *member_key_file = NULL;
	unsigned member_port = MEMBER_DEFAULT_PORT;
	bool install_vips = false, bgp_port_set = false;
	unsigned bgp_port = 179;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'N': node = optarg; break;
		case 'k': kubeconfig = optarg; break;
		case 'm': listen = optarg; break;
		case 'n': ns = optarg; break;
		case 'c': lb_class = optarg; break;
		case 'I': install_vips = true; break;
		case 'V': vip_device = optarg; break;
		case 'b': {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v > 65535) {
				fprintf(stderr,
					"ironlb speaker: bad --bgp-port \"%s\" (a port 0-65535; "
					"0 = do not listen)\n",
					optarg);
				return 2;
			}
			bgp_port = (unsigned)v;
			bgp_port_set = true;
			break;
		}
		case 'M': {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 65535) {
				fprintf(stderr,
					"ironlb speaker: --member-port \"%s\" is not a port (1..65535)\n",
					optarg);
				return 2;
			}
			member_port = (unsigned)v;
			break;
		}
		case 'K': member_key_file = optarg; break;
		case 'l': {
			int l = log_level_parse(optarg);
			if (l < 0) {
				fprintf(stderr, "ironlb speaker: bad --log-level \"%s\"\n", optarg);
				return 2;
			}
			log_set_level((enum log_level)l);
			break;
		}
		case 'h': speaker_usage(stdout); return 0;
		default: speaker_usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ironlb speaker: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!node || !*node)
		node = getenv("NODE_NAME");
	if (!node || !*node) {
		fprintf(stderr, "ironlb speaker: --node-name (or $NODE_NAME) is required: the "
				"name of this node's Node object\n");
		return 2;
	}
	if (!ns)
		ns = getenv("METALLB_NAMESPACE");
	if (!ns || !*ns)
		ns = "metallb-system";
	if (lb_class && !*lb_class)
		lb_class = NULL;

	uint8_t *file_key = NULL;
	size_t file_key_len = 0;
	if (member_key_file) {
		char why[512];
		if (member_key_read(member_key_file, &file_key, &file_key_len, why, sizeof(why)) !=
		    0) {
			fprintf(stderr, "ironlb speaker: --member-key: %s\n", why);
			return 2;
		}
	}

	struct k8s_config cfg = {0};
	char *err = NULL;
	if (k8s_config_load(&cfg, kubeconfig, NULL, NULL, &err) != 0) {
		fprintf(stderr, "ironlb speaker: %s\n", err);
		free(err);
		return 1;
	}
	/* Long-running, with bursts of allocation (each pass builds a model):
	 * large blocks from mmap, the heap's top returned early (as ironlb
	 * run). */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	static struct spk s;
	s.loop = ev_default_loop(0);
	s.ns = ns;
	s.node = node;
	s.lb_class = lb_class;
	struct pipeline_opts po = {.config_namespace = ns, .lb_class = lb_class};
	s.pipe = pipeline_new(&po);
	s.instance = xasprintf("%s", getenv("POD_NAME") && *getenv("POD_NAME") ? getenv("POD_NAME")
									   : node);
	s.client = k8s_client_new(s.loop, &cfg, &err);
	if (!s.client) {
		fprintf(stderr, "ironlb speaker: %s\n", err);
		free(err);
		return 1;
	}
	char *cs_name = xasprintf("speaker-%s", node);
	s.cstate = k8sd_cstate_new(s.client, ns, cs_name, "speaker", node, REPORTING_CONTROLLER,
				   s.instance, retry_soon, &s);
	free(cs_name);
	struct reconciler_opts ro = {
		RECONCILER_K8S_DEFAULTS,
		.pass = on_pass,
		.stop = on_stop,
		.pending = on_pending,
		.arg = &s,
	};
	s.rec = reconciler_new(s.loop, &ro);
	s.reg = metrics_registry_new();
	alloc_metrics_register_config(&s.am, s.reg);
	reconciler_metrics(s.rec, s.reg);
	metrics_update(&s);

	struct announcer_opts ao = {
		.node_name = node,
		.install_vips = install_vips,
		.vip_device = vip_device,
		.bgp_port = bgp_port,
		.bgp_port_set = bgp_port_set,
	};
	s.ann = announcer_new(s.loop, s.reg, &ao);
	if (announcer_start(s.ann) != 0)
		return 1;
	char *key_hint = member_key_file
		? xasprintf("put the same key in %s on every node", member_key_file)
		: xasprintf("kubectl create secret generic -n %s %s --from-literal=%s=\"$(openssl "
			    "rand -base64 128)\"",
			    ns, MEMBER_SECRET, MEMBER_SECRET_KEY);
	struct liveness_opts lo = {
		.node_name = node,
		.port = (uint16_t)member_port,
		.use_ready = true,
		.key_hint = key_hint,
		.metrics = s.reg,
		.on_change = on_liveness,
		.arg = &s,
	};
	s.liveness = liveness_new(s.loop, &lo);
	free(key_hint);
	if (file_key) {
		s.key_from_file = true;
		liveness_set_key(s.liveness, file_key, file_key_len);
		memset(file_key, 0, file_key_len);
		free(file_key);
	}

	s.http = http_server_new(s.loop);
	http_server_route(s.http, "GET", "/metrics", http_metrics_handler, s.reg);
	http_server_route(s.http, "GET", "/healthz", h_healthz, &s);
	http_server_route(s.http, "GET", "/status", h_status, &s);
	if (http_server_start(s.http, listen ? listen : ":7473", &err) != 0) {
		fprintf(stderr, "ironlb speaker: %s\n", err);
		free(err);
		return 1;
	}

	s.paths[S_SERVICES] = xstrdup("/api/v1/services");
	s.paths[S_SLICES] = xstrdup("/apis/discovery.k8s.io/v1/endpointslices");
	s.paths[S_NODES] = xstrdup("/api/v1/nodes");
	s.paths[S_SECRETS] = xasprintf("/api/v1/namespaces/%s/secrets", ns);
	static const char *const v1b1[] = {
		[S_POOLS] = "ipaddresspools",
		[S_L2ADVS] = "l2advertisements",
		[S_BGPADVS] = "bgpadvertisements",
		[S_COMMUNITIES] = "communities",
		[S_BFD] = "bfdprofiles",
		[S_L2STATUS] = "servicel2statuses",
		[S_BGPSTATUS] = "servicebgpstatuses",
	};
	for (int i = S_POOLS; i < S_COUNT; i++)
		if (i != S_PEERS)
			s.paths[i] = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/%s", ns,
					       v1b1[i]);
	s.paths[S_PEERS] = xasprintf("/apis/metallb.io/v1beta2/namespaces/%s/bgppeers", ns);
	char *own_label = xasprintf("metallb.io/node=%s", node);

	for (int i = 0; i < S_COUNT; i++) {
		s.rargs[i] = (struct refl_arg){&s, i};
		struct k8s_reflector_opts o = {
			.path = s.paths[i],
			.label_selector = i == S_L2STATUS || i == S_BGPSTATUS ? own_label : NULL,
			.on_change = on_change,
			.on_synced = on_synced,
			.on_error = on_refl_error,
			.arg = &s.rargs[i],
		};
		s.refl[i] = k8s_reflector_new(s.client, &o);
		k8s_reflector_start(s.refl[i]);
	}


	char port[16];
	snprintf(port, sizeof(port), "%u", http_server_port(s.http));
	log_info("speaker started", "version", IRONLB_VERSION, "node", node, "namespace", ns,
		 "server", k8s_client_config(s.client)->server, "metrics_port", port, NULL);
	ev_run(s.loop, 0);

	/* The reconciler ended the loop after on_stop() and the drain. */
	for (int i = 0; i < S_COUNT; i++) {
		k8s_reflector_free(s.refl[i]);
		free(s.paths[i]);
	}
	reconciler_free(s.rec);
	free(own_label);
	k8sd_cstate_free(s.cstate);
	k8s_client_free(s.client);
	/* Cancelled with the client, without their callbacks. */
	while (s.reqs)
		status_req_free(s.reqs);
	k8sd_events_forget();
	liveness_free(s.liveness);
	announcer_free(s.ann);
	http_server_free(s.http);
	metrics_registry_free(s.reg);
	pipeline_free(s.pipe);
	json_decref(s.verdict);
	for (size_t i = 0; i < s.nannounced; i++)
		free(s.announced[i].key);
	free(s.announced);
	for (size_t i = 0; i < s.nrecs; i++) {
		free(s.recs[i].name);
		free(s.recs[i].sent);
		free(s.recs[i].want);
	}
	free(s.recs);
	for (size_t i = 0; i < s.ndown; i++)
		free(s.down[i]);
	free(s.down);
	free(s.key_problem);
	free(s.instance);
	log_info("stopped", NULL);
	return 0;
}
