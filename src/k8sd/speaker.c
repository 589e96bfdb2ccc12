/*
 * `ironlb speaker` (in ironlb-k8s, see k8sd.h): one per node, on the host
 * network.
 *
 * Reflectors keep Services, EndpointSlices and Nodes (cluster-wide), the
 * Secrets and metallb.io configuration kinds of the config namespace, and
 * this node's ServiceL2Status / ServiceBGPStatus objects.  Once all are
 * synced, and after changes (src/reconcile: quiet time, maximum delay), a
 * pipeline step takes what they fed (each Service and EndpointSlice event
 * one object; the configuration kinds, Nodes and Secrets as a whole when
 * one changed), as `ironlb run` takes files, and the announcer
 * (src/node/announcer.h, the code `ironlb run` uses) plans Layer 2 and BGP
 * for this node again: for the Services the step names, or everything
 * after a whole pass.  The addresses announced are the ones
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
 * Layer 2 but has no usable interface for it.  Events on the BGPPeer:
 * one per state change of its BFD session on this node (bfdUp, bfdDown,
 * ...; a Warning when Up went Down and BGP is held down).  And one
 * BGPSessionState (frrk8s.metallb.io) per BGP session of this node with
 * its BGP and BFD state, compared every second and on each BFD change.
 *
 * Which nodes may answer over Layer 2 is the failure detector's
 * (src/node/liveness.h, src/member): its members are the Nodes' InternalIP
 * addresses, its key the `memberlist` Secret's `secretkey` in the config
 * namespace (MetalLB's name; --member-key FILE instead), and a node it
 * holds dead or left, or whose Ready condition is False or Unknown, is no
 * candidate.  A verdict of the detector is a pass at once, without waiting
 * for the API server.  SIGTERM tells the other members first, and keeps
 * the addresses LEAVE_LINGER more when one is alive to take over.
 *
 * Layer 2 placement is sticky and balanced (announce.h) with claims from
 * the ServiceL2Status objects of every node (claims.c): a Service stays
 * on the node whose object names it, and the rest go to the least loaded
 * node.  Those objects' changes cause a pass only when they disagree with
 * the plan (claim_event()): the speakers' own writes echoing back do not.
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
#include "base/privs.h"
#include "base/hashmap.h"
#include "base/jw.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"
#include "bfd/bfd.h"
#include "bgp/bgp_speaker.h"
#include "node/announcer.h"
#include "node/liveness.h"
#include "node/sandbox.h"
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
#include "status/status.h"

/* The Events' source, as MetalLB's speaker names it (see controller.c). */
#define REPORTING_CONTROLLER "metallb-speaker"
/* A pass to send failed writes again: after RETRY seconds, doubling for
 * each pass whose writes failed again, up to RETRY_MAX (k8s_backoff). */
#define RETRY 1.0
#define RETRY_MAX 30.0
/* The speaker's watches of Services and EndpointSlices (see where they
 * start). */
#define SERVICE_SELECTOR "spec.type=LoadBalancer"
#define SLICE_SELECTOR "!service.kubernetes.io/headless"
#define MAX_IFACES 32
/* The Secret holding the member key, as MetalLB's install names it. */
#define MEMBER_SECRET "memberlist"
#define MEMBER_SECRET_KEY "secretkey"
/* At a graceful leave, how long the addresses are kept after the other
 * members were told (as `ironlb run`): until the successor's gratuitous
 * ARP / unsolicited NA has moved the clients. */
#define LEAVE_LINGER 0.15   /* linger_ms in on_stop()'s log */

/* The order matters: [S_FIRST_CONFIG, S_STATUS_L2) are configuration.
 * S_L2STATUS is every node's ServiceL2Status (the claims of placement),
 * this node's pruned to the claim and the status, the others' to the
 * claim: one watch, so
 * that this node's objects are neither sent nor stored twice (own_status()
 * picks this node's).  S_BGPSTATUS is this node's ServiceBGPStatus (by
 * label). */
enum { S_SERVICES, S_SLICES, S_NODES, S_SECRETS, S_POOLS, S_L2ADVS, S_BGPADVS,
       S_COMMUNITIES, S_BFD, S_PEERS, S_L2STATUS, S_BGPSTATUS, S_COUNT };
#define S_FIRST_CONFIG S_SECRETS
#define S_END_MODEL S_L2STATUS

/* Protocol bits of what this node does for a Service. */
enum { P_L2 = 1, P_BGP = 2, P_L2_FAILED = 4 };

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
	struct k8s_backoff write_backoff;
	struct ev_loop *loop;
	struct k8s_client *client;
	const char *ns;
	const char *node;
	const char *lb_class;
	char *own_label;          /* "metallb.io/node=<node>" */
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
	/* Of the passes: whole ones (everything judged and planned again). */
	unsigned long whole_passes;
	json_t *verdict;   /* the last pass's, for /status (pipeline_verdict_json()) */

	/* What is in force, followed one change at a time (pipeline_step(),
	 * without an allocator); whether a configuration kind changed (its
	 * source is fed again at the next pass); the Services whose status
	 * objects someone else changed ("ns/name", checked at the next pass). */
	struct pipeline_live live;
	bool config_dirty;
	struct hashmap dirty_svcs;

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
	/* The detector changed its verdict on a node: the next pass plans
	 * every Service again (a step would re-plan none). */
	bool replan_all;
	/* Nodes the failure detector held dead or left at the last pass:
	 * their status objects for what this node takes over are stale, and
	 * deleted here, since their speakers cannot.  (A node that is only
	 * not Ready has a running speaker, which deletes its own.) */
	size_t ndown;
	char **down;
	/* What this node announces per Service ("ns/name" -> protocol bits,
	 * for events), and its status objects by name (-> struct status_rec). */
	struct hashmap announced;
	struct hashmap recs;
	struct status_req *reqs;      /* status object requests under way */
	/* BGPSessionState objects (frrk8s.metallb.io, as MetalLB with
	 * frr-k8s shows them): one per BGP session of this node, compared
	 * every second with what was last sent and written when they differ.
	 * sess_listed: this node's objects of earlier runs were listed (those
	 * of sessions it no longer has are deleted). */
	ev_timer sess_w;
	struct sess_rec {
		char *name;
		char *sent;           /* status JSON last sent, NULL: send */
		bool created, seen;
		/* A request is under way: nothing more is sent until it is
		 * answered, so that two writes cannot land in the wrong order. */
		bool busy;
		unsigned backoff;     /* comparisons to skip after a failure */
	} *sess;
	size_t nsess;
	bool sess_listed, sess_stopped;
	char *sess_path;

	/* Layer 2 placement from claims (announce.h): one per ServiceL2Status
	 * of any node, sorted, handed to the announcer (which borrows the
	 * array until the next set).  claims_dirty: the objects changed in
	 * who claims what since it was built.  claim_replans: the whole
	 * passes a claim that disagreed with the plan asked for.
	 *
	 * Kept up to date per event, so that a pass never reads every
	 * object again: claim_of maps each ServiceL2Status ("ns/name") to
	 * its claim (owned, strings included), claim_all holds the same
	 * claims sorted by Service, node and time (borrowed strings), and
	 * claims is claim_all with one claim per Service and node, the
	 * newest (borrowed strings).  A claim replaced or gone waits in
	 * claim_gone until the next build: the announcer's copy of claims
	 * still points at its strings. */
	struct hashmap claim_of;
	struct announce_claim *claim_all;
	size_t nclaim_all;
	struct announce_claim **claim_gone;
	size_t nclaim_gone;
	struct announce_claim *claims;
	size_t nclaims;
	bool claims_set;
	bool claims_dirty;
	unsigned long claim_replans;

	/* SIGTERM with other members alive: the addresses are kept for
	 * LEAVE_LINGER after the leave was told. */
	ev_timer linger_w;
	bool lingering;

	struct k8sd_cstate *cstate;
	struct metrics_registry *reg;
	struct alloc_metrics am;
	struct http_server *http;
};

/* When passes run is the reconciler's (src/reconcile/reconciler.h):
 * changes gather for as long as the last pass took (at most max_spacing),
 * a burst of them (a thousand Services getting their addresses) is a few
 * passes, not a thousand, and no change waits longer than max_delay. */
static void retry_soon(void *arg)
{
	struct spk *s = arg;
	reconciler_retry(s->rec, k8s_backoff_failed(&s->write_backoff, ev_now(s->loop)));
}

/* ------------------------------------------------------------------ */
/* status objects */

static void rec_free(struct status_rec *r)
{
	free(r->name);
	free(r->sent);
	free(r->want);
	free(r);
}

static struct status_rec *rec_find(struct spk *s, const char *name)
{
	return hashmap_get_str(&s->recs, name);
}

static struct status_rec *rec_get(struct spk *s, const char *name)
{
	struct status_rec *r = rec_find(s, name);
	if (!r) {
		r = xcalloc(1, sizeof(*r));
		r->name = xstrdup(name);
		hashmap_put_str(&s->recs, r->name, r, NULL);
	}
	return r;
}

static void rec_drop(struct spk *s, const char *name)
{
	void *r;
	if (hashmap_del_str(&s->recs, name, &r))
		rec_free(r);
}

/* The 10 hex digits of sha256(node "/" ns "/" name) that name a status
 * object after "l2-" or "bgp-": the same on every restart of this node,
 * different for other nodes. */
static void status_digits(const char *node, const char *svc_key, char digits[11])
{
	uint8_t h[SHA256_DIGEST_LEN];
	char *in = xconcat(node, "/", svc_key, NULL);
	sha256(in, strlen(in), h);
	free(in);
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 5; i++) {
		digits[2 * i] = hex[h[i] >> 4];
		digits[2 * i + 1] = hex[h[i] & 15];
	}
	digits[10] = 0;
}

static char *status_name(const char *prefix, const char *node, const char *svc_key)
{
	char digits[11];
	status_digits(node, svc_key, digits);
	return xconcat(prefix, digits, NULL);
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

static void sess_done(struct spk *s, const char *name);

static void status_req_free(struct status_req *r)
{
	sess_done(r->s, r->name);
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

static bool sess_failed(struct spk *s, const char *name);

static void status_failed(struct status_req *r, const char *what, const struct k8s_response *resp)
{
	k8sd_log_api_retry(what, "name", r->name, resp);
	struct status_rec *rec = rec_find(r->s, r->name);
	if (rec) {
		free(rec->sent);
		rec->sent = NULL;
	}
	/* A BGPSessionState is sent again by its own timer, not by a pass. */
	if (!sess_failed(r->s, r->name)) {
		/* A pass that is not whole reports only the Services that
		 * changed: the next one reports all, this object included. */
		r->s->replan_all = true;
		reconciler_retry(r->s->rec, k8s_backoff_failed(&r->s->write_backoff,
							       ev_now(r->s->loop)));
	}
}

static void on_status_patched(struct k8s_response *resp, void *arg)
{
	struct status_req *r = arg;
	if (resp->error != K8S_OK)
		status_failed(r, "status object update", resp);
	else
		k8s_backoff_succeeded(&r->s->write_backoff);
	status_req_free(r);
}

static void patch_status(struct status_req *r)
{
	char *path = xasprintf("%s/%s/status", r->kind_path, r->name);
	char *body = xasprintf("{\"status\":%s}", r->status);
	struct k8s_request *req = k8s_patch(r->s->client, path, K8S_PATCH_MERGE, body,
					    on_status_patched, r);
	k8s_request_skip_object(req);
	if (!req) {
		sess_failed(r->s, r->name);
		status_req_free(r);
	}
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

static const char *const KIND_PLURAL[] = {[S_L2STATUS] = "servicel2statuses",
					  [S_BGPSTATUS] = "servicebgpstatuses"};

/* This node's status object of kind refl named `name`, as stored (whole),
 * or NULL.  The ServiceL2Status store holds every node's: an object
 * without this node's label is not this node's, whatever its name. */
static const struct tree *own_status(const struct spk *s, int refl, const char *name)
{
	const struct tree *obj = k8s_store_get(k8s_reflector_store(s->refl[refl]), s->ns, name);
	return obj && k8s_object_labelled(obj, s->own_label) ? obj : NULL;
}

/* Make this node's status object `name` of kind refl (S_L2STATUS /
 * S_BGPSTATUS) for Service svc_ns/svc_name hold the status `text` (JSON,
 * status_text(); taken): nothing when it does, or when that was sent and
 * the watch has not shown it yet; else a patch, or a create and a
 * patch. */
static void sync_want(struct spk *s, int refl, const char *name, const char *svc_ns,
		      const char *svc_name, char *text)
{
	const struct tree *obj = own_status(s, refl, name);
	bool same = k8sd_status_holds(obj, text);
	struct status_rec *rec = rec_get(s, name);
	free(rec->want);
	rec->want = xstrdup(text);
	if (same) {
		free(rec->sent);
		rec->sent = NULL;
		free(text);
		return;
	}
	if (rec->sent && strcmp(rec->sent, text) == 0) {
		free(text);   /* sent; the watch has not shown it yet */
		return;
	}
	free(rec->sent);
	rec->sent = text;
	struct status_req *r = status_req_new(s, name);
	r->kind_path = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/%s", s->ns,
				 KIND_PLURAL[refl]);
	r->status = xstrdup(text);
	if (obj) {
		patch_status(r);
		return;
	}
	json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}}}", "apiVersion",
			      "metallb.io/v1beta1", "kind",
			      refl == S_L2STATUS ? "ServiceL2Status" : "ServiceBGPStatus",
			      "metadata", "name", name, "namespace", s->ns, "labels",
			      "metallb.io/node", s->node, "metallb.io/service-name", svc_name,
			      "metallb.io/service-namespace", svc_ns);
	char *body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct k8s_request *req = k8s_create(s->client, r->kind_path, body, on_status_created, r);
	k8s_request_skip_object(req);
	if (!req)
		status_req_free(r);
	free(body);
}

/* This node's status object `name` of kind refl is not wanted: deleted
 * when the store holds it (unless a delete is under way); its record goes
 * when it holds none (a create still under way comes back through the
 * watch as a change that is not ours, and is deleted then). */
static void unwant(struct spk *s, int refl, const char *name)
{
	const struct tree *obj = own_status(s, refl, name);
	if (!obj) {
		rec_drop(s, name);
		return;
	}
	struct status_rec *rec = rec_get(s, name);
	free(rec->want);
	rec->want = NULL;
	if (rec->sent && strcmp(rec->sent, "-") == 0)
		return;   /* deleting; the watch has not shown it yet */
	free(rec->sent);
	rec->sent = xstrdup("-");
	struct status_req *r = status_req_new(s, name);
	r->kind_path = xasprintf("/apis/metallb.io/v1beta1/namespaces/%s/%s", s->ns,
				 KIND_PLURAL[refl]);
	char *path = xasprintf("%s/%s", r->kind_path, name);
	log_info("status object no longer wanted; deleting", "name", name, NULL);
	struct k8s_request *req = k8s_delete(s->client, path, on_status_deleted, r);
	k8s_request_skip_object(req);
	if (!req)
		status_req_free(r);
	free(path);
}

struct gone_ctx {
	struct spk *s;
	const struct hashmap *wanted;
	int refl;
};

/* k8s_store_foreach callback (a whole pass): an object of this node's
 * (by its label) that is not wanted goes. */
static void delete_unwanted(const char *key, const struct tree *obj, void *arg)
{
	struct gone_ctx *g = arg;
	(void)key;
	if (!k8s_object_labelled(obj, g->s->own_label))
		return;   /* another node's claim */
	const char *name = tree_get_str(tree_get(obj, "metadata"), "name");
	if (name && !hashmap_get_str(g->wanted, name))
		unwant(g->s, g->refl, name);
}

/* ------------------------------------------------------------------ */
/* what this node announces: status objects and events */

/* A (Service key, bits, detail) item collected from the plans. */
struct svc_item {
	const char *key;     /* "ns/name" (points into a plan) */
	unsigned bits;
	const char *detail;  /* an interface or a BGPPeer name, NULL for none */
};

struct items {
	size_t n;
	struct svc_item *v;
	size_t nnames;
	char **names;        /* interface names the items point at */
};

static void items_free(struct items *it)
{
	for (size_t i = 0; i < it->nnames; i++)
		free(it->names[i]);
	free(it->names);
	free(it->v);
	memset(it, 0, sizeof(*it));
}

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

/* The items of one Layer 2 plan entry elected here: an interface each,
 * or announceFailed when it has none. */
static void items_l2_entry(struct spk *s, struct items *it, const struct l2_entry *e)
{
	char ifs[MAX_IFACES][16];
	size_t n = announcer_interfaces(s->ann, &e->addr, ifs, MAX_IFACES);
	if (n == 0)
		*VEC_PUSH(it->v, it->n) = (struct svc_item){e->service, P_L2_FAILED, NULL};
	for (size_t k = 0; k < n; k++) {
		char **nm = VEC_PUSH(it->names, it->nnames);
		*nm = xstrdup(ifs[k]);
		*VEC_PUSH(it->v, it->n) = (struct svc_item){e->service, P_L2, *nm};
	}
}

/* The items of every Service (a whole pass), sorted. */
static void items_all(struct spk *s, struct items *it)
{
	const struct l2_plan *l2 = announcer_l2_plan(s->ann);
	const struct bgp_plan *bgp = announcer_bgp_plan(s->ann);
	for (size_t i = 0; i < l2->n; i++)
		if (l2->entries[i].here)
			items_l2_entry(s, it, &l2->entries[i]);
	for (size_t i = 0; i < bgp->nsessions; i++) {
		const struct bgp_session_plan *sp = &bgp->sessions[i];
		for (size_t r = 0; r < sp->nroutes; r++)
			for (size_t k = 0; k < sp->routes[r].nservices; k++)
				*VEC_PUSH(it->v, it->n) = (struct svc_item){
					sp->routes[r].services[k], P_BGP, sp->cfg.name};
	}
	xqsort(it->v, it->n, sizeof(*it->v), svc_item_cmp);
}

/* The first entry of a plan (sorted by address, then Service) at addr. */
static size_t l2_lower(const struct l2_plan *p, const struct ip_addr *addr)
{
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ip_cmp(&p->entries[mid].addr, addr) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Collects a Service's BGP items (items_of()): one per (session, route)
 * of it, as items_all() makes them; a route that two advertisements of
 * the Service reach is reported twice and taken once. */
struct bgp_items {
	struct items *it;
	const struct bgp_plan *plan;
	const char *key;
	size_t nseen;
	struct {
		size_t session;
		const struct bgp_route *r;
	} *seen;
};

static void bgp_item(void *arg, size_t session, const struct bgp_route *r)
{
	struct bgp_items *b = arg;
	for (size_t i = 0; i < b->nseen; i++)
		if (b->seen[i].session == session && b->seen[i].r == r)
			return;
	VEC_PUSH(b->seen, b->nseen)->session = session;
	b->seen[b->nseen - 1].r = r;
	for (size_t k = 0; k < r->nservices; k++)
		if (strcmp(r->services[k], b->key) == 0) {
			*VEC_PUSH(b->it->v, b->it->n) = (struct svc_item){
				r->services[k], P_BGP, b->plan->sessions[session].cfg.name};
			return;
		}
}

/* The items of one Service (a step): its Layer 2 entries found by its
 * addresses (binary search), its BGP routes by the planner's records of
 * it (a binary search each). */
static void items_of(struct spk *s, struct items *it, const char *key, const struct service *svc)
{
	const struct l2_plan *l2 = announcer_l2_plan(s->ann);
	const struct bgp_plan *bgp = announcer_bgp_plan(s->ann);
	for (size_t a = 0; svc && a < svc->ningress; a++) {
		bool dup = false;
		for (size_t b = 0; b < a && !dup; b++)
			dup = ip_eq(&svc->ingress[a], &svc->ingress[b]);
		if (dup)
			continue;
		for (size_t k = l2_lower(l2, &svc->ingress[a]);
		     k < l2->n && ip_eq(&l2->entries[k].addr, &svc->ingress[a]); k++)
			if (l2->entries[k].here && strcmp(l2->entries[k].service, key) == 0)
				items_l2_entry(s, it, &l2->entries[k]);
	}
	if (svc && bgp->nsessions) {
		struct bgp_items b = {.it = it, .plan = bgp, .key = key};
		announcer_bgp_service_routes(s->ann, key, bgp_item, &b);
		free(b.seen);
	}
	xqsort(it->v, it->n, sizeof(*it->v), svc_item_cmp);
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

/* ------------------------------------------------------------------ */
/* BGPSessionState: the state of this node's BGP and BFD sessions for
 * kubectl (`kubectl get bgpsessionstates -n NS`), in frr-k8s's kind that
 * MetalLB's FRR mode shows: status bgpStatus (the RFC 4271 state),
 * bfdStatus (the BFD state, "N/A" without a bfdProfile), node, peer (the
 * peer address) and vrf; named NODE-PEERNAME, labelled with the node.
 * Nothing watches them: what was last sent is kept here and compared. */

static struct sess_rec *sess_find(struct spk *s, const char *name)
{
	for (size_t i = 0; i < s->nsess; i++)
		if (strcmp(s->sess[i].name, name) == 0)
			return &s->sess[i];
	return NULL;
}

/* Whether name is a BGPSessionState: then it is sent again (created if
 * it is not there) after SESS_BACKOFF comparisons, so that a cluster
 * without the CRD gets one warning every few seconds, not a stream. */
#define SESS_BACKOFF 10
static bool sess_failed(struct spk *s, const char *name)
{
	struct sess_rec *r = sess_find(s, name);

	if (!r)
		return false;
	free(r->sent);
	r->sent = NULL;
	r->created = false;
	r->backoff = SESS_BACKOFF;
	return true;
}

static void sess_done(struct spk *s, const char *name)
{
	struct sess_rec *r = sess_find(s, name);

	if (r)
		r->busy = false;
}

static void sess_delete(struct spk *s, const char *name)
{
	struct status_req *r = status_req_new(s, name);
	char *path = xasprintf("%s/%s", s->sess_path, name);

	log_info("BGPSessionState no longer wanted; deleting", "name", name, NULL);
	struct k8s_request *req = k8s_delete(s->client, path, on_status_deleted, r);
	k8s_request_skip_object(req);
	if (!req)
		status_req_free(r);
	free(path);
}

/* This node's objects from before: those of no current session go. */
static void on_sess_listed(struct k8s_response *resp, void *arg)
{
	struct spk *s = arg;
	const struct tree *items;

	if (resp->error != K8S_OK) {
		s->sess_listed = false;   /* listed again at the next comparison */
		k8sd_log_api_retry("BGPSessionState list", NULL, NULL, resp);
		return;
	}
	items = tree_get(resp->object, "items");
	for (size_t i = 0; items && items->type == TREE_ARRAY && i < items->n; i++) {
		const char *name = tree_get_str(tree_get(items->items[i], "metadata"), "name");
		struct sess_rec *r = name ? sess_find(s, name) : NULL;

		if (name && !r)
			sess_delete(s, name);
		else if (r)
			r->created = true;
	}
}

static void sess_sync(struct spk *s)
{
	const struct bgp_plan *plan = announcer_bgp_plan(s->ann);
	const struct bgp_speaker *sp = announcer_bgp_speaker(s->ann);
	const struct bfd *b = announcer_bfd(s->ann);

	if (!s->started || s->sess_stopped)
		return;
	for (size_t i = 0; i < s->nsess; i++)
		s->sess[i].seen = false;
	for (size_t i = 0; i < plan->nsessions; i++) {
		const struct bgp_session_cfg *c = &plan->sessions[i].cfg;
		const char *bgp = sp ? bgp_speaker_session_state(sp, c->name) : NULL;
		enum bfd_state bs = b ? bfd_state_of(b, c->name) : BFD_STATE_NONE;
		char peer[IP_STR_MAX];
		char *name = xasprintf("%s-%s", s->node, c->name);
		struct sess_rec *r = sess_find(s, name);

		if (c->peer_address.family != IP_FAMILY_NONE)
			ip_format(&c->peer_address, peer);
		else
			snprintf(peer, sizeof(peer), "%s", c->interface ? c->interface : "");
		json_t *st = json_pack("{s:s, s:s, s:s, s:s, s:s}", "bgpStatus", bgp ? bgp : "Idle",
				       "bfdStatus", bs == BFD_STATE_NONE ? "N/A" : bfd_state_str(bs),
				       "node", s->node, "peer", peer, "vrf", c->vrf ? c->vrf : "");
		char *text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(st);
		if (!r) {
			r = VEC_PUSH(s->sess, s->nsess);
			memset(r, 0, sizeof(*r));
			r->name = xstrdup(name);
		}
		r->seen = true;
		if (r->backoff && !r->busy)
			r->backoff--;
		if (r->busy || r->backoff || (r->sent && strcmp(r->sent, text) == 0)) {
			free(text);
			free(name);
			continue;
		}
		free(r->sent);
		r->sent = text;
		r->busy = true;
		struct status_req *q = status_req_new(s, name);
		q->kind_path = xstrdup(s->sess_path);
		q->status = xstrdup(text);
		if (r->created) {
			patch_status(q);
		} else {
			json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}}", "apiVersion",
					      "frrk8s.metallb.io/v1beta1", "kind", "BGPSessionState",
					      "metadata", "name", name, "namespace", s->ns, "labels",
					      "frrk8s.metallb.io/node", s->node, "metallb.io/bgppeer",
					      c->name);
			char *body = json_dumps(o, JSON_COMPACT);
			json_decref(o);
			r->created = true;
			struct k8s_request *req =
				k8s_create(s->client, s->sess_path, body, on_status_created, q);
			k8s_request_skip_object(req);
			if (!req) {
				sess_failed(s, name);
				status_req_free(q);
			}
			free(body);
		}
		free(name);
	}
	for (size_t i = 0; i < s->nsess;) {
		if (s->sess[i].seen) {
			i++;
			continue;
		}
		sess_delete(s, s->sess[i].name);
		free(s->sess[i].name);
		free(s->sess[i].sent);
		s->sess[i] = s->sess[--s->nsess];
	}
	if (!s->sess_listed) {
		char *sel = xasprintf("frrk8s.metallb.io/node=%s", s->node);
		struct k8s_list_opts lo = { .label_selector = sel };

		s->sess_listed = true;
		k8s_list(s->client, s->sess_path, &lo, on_sess_listed, s);
		free(sel);
	}
}

static void on_sess_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	sess_sync(w->data);
}

/* An Event on the BGPPeer for every state change of its BFD session on
 * this node (Warning when it went Down from Up: BGP is held down then),
 * beside the log line the BFD module writes. */
static void on_bfd_state(void *arg, const char *name, enum bfd_state from, enum bfd_state to,
			 enum bfd_diag diag, bool peer_admin_down)
{
	static const char *const reason[BFD_STATE_COUNT] = {
		[BFD_STATE_ADMIN_DOWN] = "bfdAdminDown", [BFD_STATE_DOWN] = "bfdDown",
		[BFD_STATE_INIT] = "bfdInit", [BFD_STATE_UP] = "bfdUp",
	};
	struct spk *s = arg;
	const struct tree *peer;
	const char *effect = "";
	bool warn = from == BFD_STATE_UP && to == BFD_STATE_DOWN;

	if (to < 0 || to >= BFD_STATE_COUNT)
		return;
	if (warn)
		effect = peer_admin_down ? "; the peer is administratively down, BGP session kept"
					 : "; BGP session torn down and held until BFD is Up";
	else if (to == BFD_STATE_UP)
		effect = "; BGP session may run";
	char *msg = xasprintf("BFD session of node %s: %s -> %s (diagnostic: %s)%s", s->node,
			      bfd_state_str(from), bfd_state_str(to), bfd_diag_str(diag), effect);
	peer = k8s_store_get(k8s_reflector_store(s->refl[S_PEERS]), s->ns, name);
	k8sd_post_event_on(s->client, REPORTING_CONTROLLER, s->instance, "metallb.io/v1beta2",
			   "BGPPeer", peer, s->ns, name, warn ? "Warning" : "Normal", reason[to],
			   msg);
	free(msg);
	sess_sync(s);
}

static void seed_one(const char *key, const struct tree *obj, void *arg)
{
	struct spk *s = ((struct refl_arg *)arg)->s;
	unsigned bits = ((struct refl_arg *)arg)->i == S_L2STATUS ? P_L2 : P_BGP;
	if (!k8s_object_labelled(obj, s->own_label))
		return;   /* another node's claim */
	const struct tree *st = tree_get(obj, "status");
	const char *ns = st ? tree_get_str(st, "serviceNamespace") : NULL;
	const char *name = st ? tree_get_str(st, "serviceName") : NULL;
	(void)key;
	if (!ns || !name)
		return;
	char *k = xasprintf("%s/%s", ns, name);
	void *was = NULL;
	hashmap_find(&s->announced, k, strlen(k), &was);
	hashmap_put_str(&s->announced, k, (void *)((uintptr_t)was | bits), NULL);
	free(k);
}

/* Before the first report: what this node announced when it last ran,
 * from its own ServiceL2Status / ServiceBGPStatus objects, so that a
 * restart (or a start after a crash) posts nodeAssigned only for what
 * really changed: once per change of announcer, not once per start. */
static void seed_announced(struct spk *s)
{
	if (s->reported)
		return;
	s->reported = true;
	for (int refl = S_L2STATUS; refl <= S_BGPSTATUS; refl++)
		k8s_store_foreach(k8s_reflector_store(s->refl[refl]), seed_one, &s->rargs[refl]);
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
		struct k8s_request *req = k8s_delete(s->client, path, on_stale_deleted, r);
		k8s_request_skip_object(req);
		if (!req)
			status_req_free(r);
		free(path);
		free(name);
	}
}

/* Events for what this node does for a Service now (bits) and did not
 * before (was). */
static void key_events(struct spk *s, const char *key, unsigned bits, unsigned was)
{
	unsigned fresh = bits & ~was;
	char msg[512];
	if (fresh & P_L2) {
		snprintf(msg, sizeof(msg), "announcing from node \"%s\" with protocol \"layer2\"",
			 s->node);
		post_event(s, key, "Normal", "nodeAssigned", msg);
		delete_stale_l2(s, key);
	}
	if (fresh & P_BGP) {
		snprintf(msg, sizeof(msg), "announcing from node \"%s\" with protocol \"bgp\"",
			 s->node);
		post_event(s, key, "Normal", "nodeAssigned", msg);
	}
	if (fresh & P_L2_FAILED) {
		snprintf(msg, sizeof(msg),
			 "node \"%s\" was elected to answer for the Service over layer 2 "
			 "but has no usable interface for it (see the speaker's /status "
			 "l2_engine.interfaces and the L2Advertisement's interfaces)",
			 s->node);
		post_event(s, key, "Warning", "announceFailed", msg);
	}
}

/* The interfaces (l2) or BGPPeers of a status, from items v[0..n). */
static void status_details(struct jw *w, bool l2, const struct svc_item *v, size_t n)
{
	jw_key(w, l2 ? "interfaces" : "peers");
	jw_arr_begin(w);
	for (size_t j = 0; j < n; j++) {
		/* Sorted: equal details are adjacent. */
		const struct svc_item *it = &v[j];
		bool dup = j > 0 && v[j - 1].bits == it->bits && it->detail && v[j - 1].detail &&
			   strcmp(v[j - 1].detail, it->detail) == 0;
		if (dup || !it->detail || (it->bits == P_L2) != l2)
			continue;
		if (l2) {
			jw_obj_begin(w);
			jw_key(w, "name");
			jw_str(w, it->detail);
			jw_obj_end(w);
		} else {
			jw_str(w, it->detail);
		}
	}
	jw_arr_end(w);
}

/* The status of a Service's ServiceL2Status (l2) or ServiceBGPStatus from
 * its items (v[0..n), sorted): node, serviceName, serviceNamespace and
 * the interfaces or the BGPPeers, compact with sorted keys (what
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) wrote, written directly: a
 * jansson tree and its dump per status were 3% of the speaker's
 * instructions under churn). */
static char *status_text(const struct spk *s, const char *svc_ns, const char *svc_name, bool l2,
			 const struct svc_item *v, size_t n)
{
	struct jw w;
	jw_init(&w, false);
	jw_obj_begin(&w);
	if (l2)
		status_details(&w, l2, v, n);
	jw_key(&w, "node");
	jw_str(&w, s->node);
	if (!l2)
		status_details(&w, l2, v, n);
	jw_key(&w, "serviceName");
	jw_str(&w, svc_name);
	jw_key(&w, "serviceNamespace");
	jw_str(&w, svc_ns);
	jw_obj_end(&w);
	/* Exactly sized: the text is kept (as what was sent) until the watch
	 * shows it, and jw's buffer starts at 4 KiB; a thousand of those
	 * freed later left 3 MiB of holes in the heap. */
	size_t len;
	char *buf = jw_finish(&w, &len);
	char *text = xstrndup(buf, len);
	free(buf);
	return text;
}

/* One Service from its items (v[0..n), sorted, all of key): its
 * ServiceL2Status and ServiceBGPStatus wanted or not, and its events.
 * wanted (a whole pass): the names wanted are added, and objects not
 * wanted are left to the caller; NULL (a step): they are deleted here. */
static void key_report(struct spk *s, const char *key, const struct svc_item *v, size_t n,
		       struct hashmap *wanted)
{
	unsigned bits = 0;
	for (size_t j = 0; j < n; j++)
		bits |= v[j].bits;
	char *svc_ns = xstrdup(key);
	char *slash = strchr(svc_ns, '/');
	const char *svc_name = slash ? slash + 1 : "";
	if (slash)
		*slash = 0;
	static const char *const prefix[] = {[S_L2STATUS] = "l2-", [S_BGPSTATUS] = "bgp-"};
	char digits[11];
	status_digits(s->node, key, digits);   /* one hash for both names */
	for (int refl = S_L2STATUS; refl <= S_BGPSTATUS; refl++) {
		char *name = xconcat(prefix[refl], digits, NULL);
		bool l2 = refl == S_L2STATUS;
		/* Only where it really answers: an elected node without a
		 * usable interface has an announceFailed event instead. */
		if (bits & (l2 ? P_L2 : P_BGP)) {
			sync_want(s, refl, name, svc_ns, svc_name,
				  status_text(s, svc_ns, svc_name, l2, v, n));
			if (wanted)
				hashmap_put_str(wanted, name, (void *)1, NULL);
		} else if (!wanted) {
			unwant(s, refl, name);
		}
		free(name);
	}
	free(svc_ns);

	void *was = NULL;
	hashmap_find(&s->announced, key, strlen(key), &was);
	key_events(s, key, bits, (unsigned)(uintptr_t)was);
	if (bits)
		hashmap_put_str(&s->announced, key, (void *)(uintptr_t)bits, NULL);
	else
		hashmap_del_str(&s->announced, key, NULL);
}

/* After a whole pass: every Service's status objects and events from the
 * plans just applied; objects of this node no longer wanted are deleted,
 * records of objects neither wanted nor held dropped. */
static void report_all(struct spk *s)
{
	seed_announced(s);
	struct items it = {0};
	items_all(s, &it);
	struct hashmap wanted, seen;
	hashmap_init(&wanted, true);
	hashmap_init(&seen, true);
	for (size_t i = 0; i < it.n;) {
		size_t j = i;
		while (j < it.n && strcmp(it.v[j].key, it.v[i].key) == 0)
			j++;
		key_report(s, it.v[i].key, &it.v[i], j - i, &wanted);
		hashmap_put_str(&seen, it.v[i].key, (void *)1, NULL);
		i = j;
	}
	/* Services announced before and not now. */
	struct hashmap_iter hi;
	hashmap_iter_init(&hi, &s->announced);
	while (hashmap_iter_next(&hi))
		if (!hashmap_get_str(&seen, hi.key))
			hashmap_iter_del(&hi);
	struct gone_ctx g = {s, &wanted, 0};
	for (g.refl = S_L2STATUS; g.refl <= S_BGPSTATUS; g.refl++)
		k8s_store_foreach(k8s_reflector_store(s->refl[g.refl]), delete_unwanted, &g);
	hashmap_iter_init(&hi, &s->recs);
	while (hashmap_iter_next(&hi)) {
		struct status_rec *r = hi.value;
		if (hashmap_get_str(&wanted, r->name) ||
		    own_status(s, S_L2STATUS, r->name) || own_status(s, S_BGPSTATUS, r->name))
			continue;
		hashmap_iter_del(&hi);
		rec_free(r);
	}
	hashmap_clear(&wanted);
	hashmap_clear(&seen);
	items_free(&it);
}

/* After a step: the status objects and events of the Services named
 * ("ns/name"), from the plans just updated. */
static void report_keys(struct spk *s, char *const *keys, size_t nkeys)
{
	seed_announced(s);
	for (size_t i = 0; i < nkeys; i++) {
		const char *slash = strchr(keys[i], '/');
		char ns[256];
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - keys[i]), keys[i]);
		const struct service *svc = model_find_service(&s->live.model, ns, slash + 1);
		struct items it = {0};
		items_of(s, &it, keys[i], svc);
		key_report(s, keys[i], it.v, it.n, NULL);
		items_free(&it);
	}
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
	s->replan_all = true;
	if (reconciler_ready(s->rec))
		reconciler_pass_now(s->rec);
}

/* ------------------------------------------------------------------ */
/* claims: every node's ServiceL2Status objects */

static void claim_free(struct announce_claim *c)
{
	if (!c)
		return;
	free((char *)c->service);
	free((char *)c->node);
	free(c);
}

static void claims_free(struct spk *s)
{
	struct hashmap_iter it;
	hashmap_iter_init(&it, &s->claim_of);
	while (hashmap_iter_next(&it))
		claim_free(it.value);
	hashmap_clear(&s->claim_of);
	for (size_t i = 0; i < s->nclaim_gone; i++)
		claim_free(s->claim_gone[i]);
	free(s->claim_gone);
	free(s->claim_all);
	free(s->claims);
}

/* Service, node, then time: announce_claims_sort()'s order, with the
 * copies of one (Service, node) oldest first. */
static int claim_cmp(const struct announce_claim *x, const struct announce_claim *y)
{
	int c = strcmp(x->service, y->service);
	if (!c)
		c = strcmp(x->node, y->node);
	return c ? c : (x->since > y->since) - (x->since < y->since);
}

/* Where c is, or goes, in claim_all. */
static size_t claim_pos(const struct spk *s, const struct announce_claim *c)
{
	size_t lo = 0, hi = s->nclaim_all;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (claim_cmp(&s->claim_all[mid], c) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The ServiceL2Status `key` claims c now (NULL: nothing: deleted, or not
 * a claim); takes c. */
static void claim_set(struct spk *s, const char *key, struct announce_claim *c)
{
	struct announce_claim *was = NULL;
	if (c)
		hashmap_put_str(&s->claim_of, key, c, (void **)&was);
	else
		hashmap_del_str(&s->claim_of, key, (void **)&was);
	if (was) {
		/* The entry whose strings are was's (copies with equal
		 * strings may sit beside it). */
		size_t i = claim_pos(s, was);
		while (i < s->nclaim_all && s->claim_all[i].service != was->service)
			i++;
		if (i < s->nclaim_all) {
			memmove(&s->claim_all[i], &s->claim_all[i + 1],
				(s->nclaim_all - i - 1) * sizeof(*s->claim_all));
			s->nclaim_all--;
		}
		*VEC_PUSH(s->claim_gone, s->nclaim_gone) = was;
	}
	if (c) {
		size_t i = claim_pos(s, c);
		size_t n = s->nclaim_all;
		VEC_PUSH(s->claim_all, n);
		memmove(&s->claim_all[i + 1], &s->claim_all[i],
			(s->nclaim_all - i) * sizeof(*s->claim_all));
		s->claim_all[i] = *c;
		s->nclaim_all = n;
	}
}

static bool claim_same_pair(const struct announce_claim *x, const struct announce_claim *y)
{
	return strcmp(x->service, y->service) == 0 && strcmp(x->node, y->node) == 0;
}

/* The claims held now, handed to the announcer: Services stay where an
 * object says they are announced, and the rest go to the least loaded
 * node (at the next whole pass, and for the Services a step places).
 * One claim per (Service, node): the newest object if someone made two. */
static void claims_build(struct spk *s)
{
	s->claims = xrealloc(s->claims, (s->nclaim_all ? s->nclaim_all : 1) * sizeof(*s->claims));
	size_t u = 0;
	for (size_t i = 0; i < s->nclaim_all; i++) {
		const struct announce_claim *c = &s->claim_all[i];
		/* Sorted oldest first: a later copy of the same pair wins. */
		if (u && claim_same_pair(&s->claims[u - 1], c))
			u--;
		s->claims[u++] = *c;
	}
	s->nclaims = u;
	struct announce_claims cl = {.n = u, .v = s->claims};
	announcer_set_claims(s->ann, &cl);
	for (size_t i = 0; i < s->nclaim_gone; i++)
		claim_free(s->claim_gone[i]);
	s->nclaim_gone = 0;
	s->claims_set = true;
	s->claims_dirty = false;
}

/* The claims held now, one per (Service, node), counted in the store:
 * what /status reports, current even before the next pass builds them
 * for the announcer (a survivor deleting a dead node's object asks for
 * no pass). */
static size_t claims_held(const struct spk *s)
{
	size_t u = 0;
	for (size_t i = 0; i < s->nclaim_all; i++)
		u += !i || !claim_same_pair(&s->claim_all[i - 1], &s->claim_all[i]);
	return u;
}

/* The owner this node's plan gives Service key ("ns/name"); false when
 * the Service has no Layer 2 entry in the plan. */
static bool plan_owner(struct spk *s, const char *key, const char **owner)
{
	const char *slash = strchr(key, '/');
	if (!slash || !s->live.running)
		return false;
	char ns[256];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
	const struct service *svc = model_find_service(&s->live.model, ns, slash + 1);
	const struct l2_plan *l2 = announcer_l2_plan(s->ann);
	for (size_t a = 0; svc && a < svc->ningress; a++)
		for (size_t k = l2_lower(l2, &svc->ingress[a]);
		     k < l2->n && ip_eq(&l2->entries[k].addr, &svc->ingress[a]); k++)
			if (strcmp(l2->entries[k].service, key) == 0) {
				*owner = l2->entries[k].owner;
				return true;
			}
	return false;
}

static bool claim_news(struct spk *s, bool added, const struct announce_claim *c)
{
	const char *owner = NULL;
	bool planned = plan_owner(s, c->service, &owner);
	return k8sd_claim_news(added, c->node, planned, owner, s->node);
}

/*
 * A ServiceL2Status of any node changed.  The claims are built again at
 * the next pass if who claims what changed (a change of interfaces is
 * none).  Most such changes confirm what this node planned: the elected
 * node writing its object (its own write echoing back, or another node
 * doing what this one expected), a node deleting the object of what it
 * no longer announces, a survivor deleting a dead node's.  They ask for
 * no pass at all, so that the speakers' own writes do not set off
 * passes on every node.  Only a claim the plan does not expect (another
 * node than the planned owner announces, or the planned owner let go: it
 * planned differently, as after a race between speakers) makes the next
 * pass plan every Service again with the claims, which every node then
 * computes alike.
 */
static void claim_event(struct spk *s, enum k8s_change change, const struct tree *object,
			const struct tree *old)
{
	struct announce_claim now = {0}, was = {0};
	bool have_now = change != K8S_CHANGE_DELETED && k8sd_l2_claim(object, &now) == 0;
	bool have_was = change == K8S_CHANGE_DELETED ? k8sd_l2_claim(object, &was) == 0
			: old                        ? k8sd_l2_claim(old, &was) == 0
						     : false;
	bool same = have_now && have_was && now.since == was.since &&
		    strcmp(now.service, was.service) == 0 && strcmp(now.node, was.node) == 0;
	if (!same && (have_now || have_was)) {
		s->claims_dirty = true;
		bool news = (have_was && claim_news(s, false, &was)) ||
			    (have_now && claim_news(s, true, &now));
		if (news && s->started) {
			log_debug("a claim disagrees with the plan; planning every Service again",
				  "service", have_now ? now.service : was.service, "node",
				  have_now ? now.node : was.node, NULL);
			if (!s->replan_all)
				s->claim_replans++;
			s->replan_all = true;
			reconciler_changed(s->rec);
		}
	}
	if (!same) {
		char *key = k8s_object_key(object);
		if (key) {
			struct announce_claim *c = NULL;
			if (have_now) {
				c = xmalloc(sizeof(*c));
				*c = now;
				have_now = false;   /* handed over */
			}
			claim_set(s, key, c);
			free(key);
		}
	}
	if (have_now) {
		free((char *)now.service);
		free((char *)now.node);
	}
	if (have_was) {
		free((char *)was.service);
		free((char *)was.node);
	}
}

/* ------------------------------------------------------------------ */
/* reconciling */

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

/* What a Service of ours announces: the addresses of its status that lie
 * in a pool of the model, each with that pool.  0 when none. */
static size_t svc_announce(const struct spk *s, const struct model *m, const struct service *svc,
			   struct announce_svc *x)
{
	memset(x, 0, sizeof(*x));
	x->svc = svc;
	if (!svc || !ours(s, svc))
		return 0;
	for (size_t k = 0; k < svc->ningress && x->naddrs < 2; k++) {
		const struct pool *p = model_pool_containing(m, &svc->ingress[k]);
		if (!p) {
			char ip[IP_STR_MAX];
			log_debug("address in no pool; not announced", "service", svc->meta.name,
				  "ip", ip_format(&svc->ingress[k], ip), NULL);
			continue;
		}
		x->addrs[x->naddrs] = svc->ingress[k];
		x->pools[x->naddrs] = p->meta.name;
		x->naddrs++;
	}
	return x->naddrs;
}

/* The addresses announced for a Service by "ns/name" (the announcer's
 * BGP metrics read them after announcer_update()). */
static size_t addrs_of(void *arg, const char *key, struct ip_addr addrs[2])
{
	struct spk *s = arg;
	const char *slash = strchr(key, '/');
	if (!slash)
		return 0;
	char ns[256];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
	struct announce_svc x;
	size_t n = svc_announce(s, &s->live.model,
				model_find_service(&s->live.model, ns, slash + 1), &x);
	for (size_t k = 0; k < n; k++)
		addrs[k] = x.addrs[k];
	return n;
}

/*
 * One pass: a pipeline step (without an allocator) over what the
 * reflectors fed since the last one (on_change()).  The configuration in
 * force (current or last good) with the current Services, Nodes and
 * EndpointSlices decides what is announced; a Service with errors is
 * announced in its last good version or not at all (the controller posts
 * its event).  A step that only saw Services and EndpointSlices plans
 * just their Services again (announcer_update()) and writes just their
 * status objects; anything else plans everything (announcer_apply()).
 */
static void reconcile(struct spk *s)
{
	if (s->claims_dirty || !s->claims_set)
		claims_build(s);
	if (s->config_dirty) {
		k8sd_feed_config(s->pipe, &s->refl[S_NODES], S_END_MODEL - S_NODES);
		s->config_dirty = false;
	}
	struct pipeline_step st;
	bool invalid = k8sd_step(s->pipe, NULL, &s->live, s->cstate, &s->verdict, &st);
	s->whole_passes += st.full;
	s->updates++;
	if (invalid)
		s->update_errors++;
	s->have_config = s->live.running;
	s->stale = s->live.stale;
	struct model *m = &s->live.model;
	if (!s->live.running) {
		if (st.full)
			log_error("configuration has errors; nothing announced until it is fixed",
				  NULL);
	} else if (st.full || s->replan_all) {
		/* A re-plan after a verdict of the detector or a claim that
		 * disagreed is a whole pass too. */
		if (!st.full)
			s->whole_passes++;
		s->replan_all = false;
		/* The verdict is news only after a whole step: a re-plan of
		 * the same configuration (taken is false then) reports none. */
		if (st.full && !st.taken)
			log_error("configuration has errors; announcing with the last good one", NULL);
		else if (st.full && invalid)
			log_warn("configuration refers to objects that do not exist; running it "
				 "(no valid one yet), those references select nothing",
				 NULL);
		/* Members from the Nodes; dead, left or not Ready nodes marked. */
		liveness_sync(s->liveness, m);
		for (size_t i = 0; i < s->ndown; i++)
			free(s->down[i]);
		s->ndown = 0;
		for (size_t i = 0; i < m->nnodes; i++)
			if (liveness_down(s->liveness, m->nodes[i].meta.name))
				*VEC_PUSH(s->down, s->ndown) = xstrdup(m->nodes[i].meta.name);
		struct announce_svc *as = xcalloc(m->nservices ? m->nservices : 1, sizeof(*as));
		size_t nas = 0;
		for (size_t i = 0; i < m->nservices; i++)
			if (svc_announce(s, m, &m->services[i], &as[nas]))
				nas++;
		announcer_apply(s->ann, m, as, nas);
		free(as);
		report_all(s);
	} else {
		/* The Services the step names, and those whose status objects
		 * someone else changed. */
		struct hashmap_iter hi;
		hashmap_iter_init(&hi, &s->dirty_svcs);
		while (hashmap_iter_next(&hi)) {
			bool named = false;
			for (size_t i = 0; i < st.nreplan && !named; i++)
				named = strcmp(st.replan[i], hi.key) == 0;
			if (!named)
				*VEC_PUSH(st.replan, st.nreplan) = xstrdup(hi.key);
		}
		struct announce_change *ch = xcalloc(st.nreplan ? st.nreplan : 1, sizeof(*ch));
		char **names = xcalloc(st.nreplan ? st.nreplan : 1, sizeof(*names));
		for (size_t i = 0; i < st.nreplan; i++) {
			names[i] = xstrdup(st.replan[i]);
			char *slash = strchr(names[i], '/');
			*slash = 0;
			ch[i].ns = names[i];
			ch[i].name = slash + 1;
			const struct service *svc = model_find_service(m, ch[i].ns, ch[i].name);
			if (svc_announce(s, m, svc, &ch[i].as) == 0)
				ch[i].as.svc = svc && ours(s, svc) ? svc : NULL;
		}
		announcer_update(s->ann, m, ch, st.nreplan);
		report_keys(s, st.replan, st.nreplan);
		for (size_t i = 0; i < st.nreplan; i++)
			free(names[i]);
		free(names);
		free(ch);
	}
	hashmap_clear(&s->dirty_svcs);
	metrics_update(s);
	bool full = st.full;
	pipeline_step_free(&st);
	/* A whole pass builds and drops a whole model: give the memory back. */
	if (full)
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
	k8sd_heap_changed(s->loop);
	if (ra->i == S_SECRETS && s->started) {
		const char *name = tree_get_str(tree_get(object, "metadata"), "name");
		if (name && strcmp(name, MEMBER_SECRET) == 0)
			member_key_from_secret(s);
	}
	if (ra->i == S_L2STATUS) {
		claim_event(s, change, object, old);
		/* Beyond its claim, another node's object is not this one's
		 * business (and was one of this node's if its label moved). */
		if (!k8s_object_labelled(object, s->own_label) &&
		    !k8s_object_labelled(old, s->own_label))
			return;
	}
	if (ra->i == S_L2STATUS || ra->i == S_BGPSTATUS) {
		if (own_status_write(s, change, object)) {
			reconciler_own_write(s->rec);
			return;
		}
		/* Someone else's change: its Service is looked at again. */
		const struct tree *labels = tree_path(object, "metadata.labels");
		const char *sns = labels ? tree_get_str(labels, "metallb.io/service-namespace") : NULL;
		const char *sname = labels ? tree_get_str(labels, "metallb.io/service-name") : NULL;
		if (sns && sname) {
			char key[512];
			snprintf(key, sizeof(key), "%s/%s", sns, sname);
			hashmap_put_str(&s->dirty_svcs, key, (void *)1, NULL);
		} else {
			s->config_dirty = true;   /* unknown: a whole pass */
			pipeline_resync(s->pipe);
		}
	} else if (ra->i == S_SERVICES || ra->i == S_SLICES) {
		k8sd_feed(s->pipe, change, object);
	} else if (ra->i >= S_POOLS && k8sd_status_only(change, object, old)) {
		/* The controller's IPAddressPool figures: nothing announced
		 * depends on a metallb.io object's status. */
		return;
	} else {
		s->config_dirty = true;
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
	if (resp->status == 429)
		return;   /* the API server is busy: the reflector said so, at info */
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

static void status_config(struct jw *w, void *arg)
{
	struct spk *s = arg;
	jw_kbool(w, "synced", s->started);
	jw_kint(w, "updates", (long long)s->updates);
	jw_kint(w, "failed_updates", (long long)s->update_errors);
	jw_kint(w, "whole_passes", (long long)s->whole_passes);
	k8sd_status_memory(w, s->refl, S_COUNT);
}

static void status_members(struct jw *w, void *arg)
{
	struct spk *s = arg;
	json_t *m = liveness_status_json(s->liveness);
	jw_json(w, m);
	json_decref(m);
}

static void h_status(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct spk *s = arg;
	(void)req;
	struct status_doc doc = {
		.node = s->node,
		.namespace_ = s->ns,
		.leader = -1,
		.loaded = s->have_config,
		.stale = s->stale,
		.config_extra = status_config,
		.verdict = s->verdict, /* null before the first pass */
		.has_claims = true,
		.nclaims = claims_held(s),
		.claim_replans = s->claim_replans,
		.ann = s->ann,
		.rec = s->rec,
		.members = status_members,
		.arg = s,
	};
	status_doc_respond(&doc, resp);
}

static void stop_announcing(struct spk *s)
{
	s->lingering = false;
	ev_timer_stop(s->loop, &s->linger_w);
	announcer_stop(s->ann);
}

static void on_linger_end(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	stop_announcing(w->data);
}

/* SIGTERM/SIGINT (the reconciler's stop): tell the other members first
 * (they take over at once rather than after detecting our silence), and
 * no more watches.  Then make before break, as `ironlb run`: when another
 * member is alive to take over, keep the addresses LEAVE_LINGER more,
 * until the successor's gratuitous ARP / unsolicited NA has moved the
 * clients, so that a request sent meanwhile finds a node that still
 * answers (a rolling restart of the speakers); then withdraw.  The
 * reconciler lets the linger and the writes under way (status objects,
 * Events) finish, for 2 s at most; a second signal ends the wait. */
static void on_stop(void *arg)
{
	struct spk *s = arg;
	bool others = liveness_others_alive(s->liveness);
	s->sess_stopped = true;
	ev_timer_stop(s->loop, &s->sess_w);
	liveness_leave(s->liveness);
	for (int i = 0; i < S_COUNT; i++) {
		k8s_reflector_free(s->refl[i]);
		s->refl[i] = NULL;
	}
	if (others) {
		log_info("left the members; keeping the addresses while the successors take over",
			 "linger_ms", "150", NULL);
		s->lingering = true;
		ev_timer_set(&s->linger_w, LEAVE_LINGER, 0.);
		ev_timer_start(s->loop, &s->linger_w);
		return;
	}
	stop_announcing(s);
}

static bool on_pending(void *arg)
{
	struct spk *s = arg;
	return s->lingering || k8s_client_pending(s->client);
}

/* ------------------------------------------------------------------ */

static void speaker_usage(FILE *out)
{
	fputs("usage: ironlb speaker --node-name NODE [--kubeconfig FILE]\n"
	      "                      [--metrics-listen ADDR:PORT] [--metrics-host ADDR]\n"
	      "                      [--namespace NS]\n"
	      "                      [--lb-class CLASS] [--install-vips] [--vip-device DEV]\n"
	      "                      [--bgp-port PORT] [--member-port PORT]\n"
	      "                      [--member-key FILE] [--member-timing NAME]\n"
	      "                      [--gratuitous-interval DURATION] [--log-level L]\n"
	      "                      [--kube-api-qps QPS] [--kube-api-burst N]\n"
	      "\n"
	      "Announce the addresses of LoadBalancer Services from this node over ARP/NDP\n"
	      "and BGP, as the metallb.io configuration of NS (default metallb-system)\n"
	      "says.  NODE defaults to $NODE_NAME.  --metrics-listen defaults to :7473;\n"
	      "--metrics-host ADDR (IPv4 or IPv6, no port) serves on that address alone,\n"
	      "at --metrics-listen's port (e.g. the node's IP from status.hostIP).\n"
	      "The failure detector between nodes listens on UDP --member-port (default\n"
	      "7946); its key is the Secret NS/memberlist, key secretkey, or the text of\n"
	      "--member-key FILE.  --member-timing default|fast: how fast it detects\n"
	      "a failed node (default: within 1 s; fast: within 0.3 s, more packets).\n"
	      "--gratuitous-interval DURATION: repeat gratuitous ARP / unsolicited NA for\n"
	      "every owned address this often (e.g. 30s, 1m; at least 100ms; default 0:\n"
	      "only after a takeover).\n"
	      "--kube-api-qps (default 500; 0: no limit) and --kube-api-burst (default\n"
	      "1000): requests to the API server a second, and at once (watches aside).\n",
	      out);
}

int cmd_speaker(int argc, char **argv)
{
	static const struct option opts[] = {
		{"node-name", required_argument, NULL, 'N'},
		{"kubeconfig", required_argument, NULL, 'k'},
		{"metrics-listen", required_argument, NULL, 'm'},
		{"metrics-host", required_argument, NULL, 'H'},
		{"namespace", required_argument, NULL, 'n'},
		{"lb-class", required_argument, NULL, 'c'},
		{"install-vips", no_argument, NULL, 'I'},
		{"vip-device", required_argument, NULL, 'V'},
		{"bgp-port", required_argument, NULL, 'b'},
		{"member-port", required_argument, NULL, 'M'},
		{"member-key", required_argument, NULL, 'K'},
		{"member-timing", required_argument, NULL, 'T'},
		{"gratuitous-interval", required_argument, NULL, 'G'},
		{"log-level", required_argument, NULL, 'l'},
		{"kube-api-qps", required_argument, NULL, OPT_KUBE_API_QPS},
		{"kube-api-burst", required_argument, NULL, OPT_KUBE_API_BURST},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *kubeconfig = NULL, *listen = NULL, *ns = NULL, *lb_class = NULL;
	const char *node = NULL, *vip_device = NULL, *member_key_file = NULL;
	const char *member_timing = NULL, *metrics_host = NULL;
	unsigned member_port = MEMBER_DEFAULT_PORT;
	double gratuitous_interval = 0;
	bool install_vips = false, bgp_port_set = false;
	unsigned bgp_port = 179;
	double api_qps = K8S_DEFAULT_QPS;
	unsigned api_burst = K8S_DEFAULT_BURST;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'N': node = optarg; break;
		case 'k': kubeconfig = optarg; break;
		case 'm': listen = optarg; break;
		case 'H': metrics_host = optarg; break;
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
		case 'T': {
			struct member_timing t;
			if (member_timing_named(optarg, &t) != 0) {
				fprintf(stderr,
					"ironlb speaker: --member-timing \"%s\" is not a timing "
					"(accepted: " MEMBER_TIMING_NAMES ")\n",
					optarg);
				return 2;
			}
			member_timing = optarg;
			break;
		}
		case 'G':
			if (announcer_parse_interval(optarg, &gratuitous_interval) != 0) {
				fprintf(stderr,
					"ironlb speaker: --gratuitous-interval \"%s\" is not a duration "
					"of at least 100ms (write e.g. \"30s\", \"1m\" or \"500ms\"; "
					"0 = off)\n",
					optarg);
				return 2;
			}
			break;
		case OPT_KUBE_API_QPS:
		case OPT_KUBE_API_BURST:
			if (k8sd_rate_option("speaker", ch, optarg, &api_qps, &api_burst) != 0)
				return 2;
			break;
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
	/* Static: reachable at an early exit, freed at the end. */
	static char *listen_at;
	if (k8sd_listen_address("speaker", &listen, ":7473", metrics_host, &listen_at) != 0)
		return 2;
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
	k8s_backoff_init(&s.write_backoff, RETRY, RETRY_MAX);
	s.ns = ns;
	s.node = node;
	s.lb_class = lb_class;
	struct pipeline_opts po = {.config_namespace = ns, .lb_class = lb_class};
	s.pipe = pipeline_new(&po);
	pipeline_live_init(&s.live, ns);
	hashmap_init(&s.dirty_svcs, true);
	hashmap_init(&s.announced, true);
	hashmap_init(&s.recs, false);
	hashmap_init(&s.claim_of, true);
	s.config_dirty = true;
	s.instance = xasprintf("%s", getenv("POD_NAME") && *getenv("POD_NAME") ? getenv("POD_NAME")
									   : node);
	s.client = k8s_client_new(s.loop, &cfg, &err);
	if (!s.client) {
		fprintf(stderr, "ironlb speaker: %s\n", err);
		free(err);
		return 1;
	}
	k8s_client_set_rate_limit(s.client, api_qps, api_burst);
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
	ev_timer_init(&s.linger_w, on_linger_end, 0., 0.);
	s.linger_w.data = &s;
	s.reg = metrics_registry_new();
	alloc_metrics_register_config(&s.am, s.reg);
	reconciler_metrics(s.rec, s.reg);
	k8sd_client_metrics(s.reg, s.client);
	metrics_update(&s);

	struct announcer_opts ao = {
		.node_name = node,
		.install_vips = install_vips,
		.vip_device = vip_device,
		.bgp_port = bgp_port,
		.bgp_port_set = bgp_port_set,
		.gratuitous_interval = gratuitous_interval,
	};
	s.ann = announcer_new(s.loop, s.reg, &ao);
	announcer_addrs_source(s.ann, addrs_of, &s);
	announcer_bfd_listener(s.ann, on_bfd_state, &s);
	s.sess_path = xasprintf("/apis/frrk8s.metallb.io/v1beta1/namespaces/%s/bgpsessionstates",
				ns);
	ev_timer_init(&s.sess_w, on_sess_timer, 1.0, 1.0);
	s.sess_w.data = &s;
	ev_timer_start(s.loop, &s.sess_w);
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
		.timing = member_timing,
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
	if (http_server_start(s.http, listen, &err) != 0) {
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
	s.own_label = xasprintf("metallb.io/node=%s", node);
	/* Every node's ServiceL2Status is read for its claim alone
	 * (k8sd_l2_claim()): a store of thousands of them keeps nothing
	 * else; this node's own keeps its status whole besides, which the
	 * echo comparisons and the writes compare with what they want
	 * (k8sd_status_holds()). */
	static const char *const claim_fields[] = {
		"metadata.creationTimestamp", "metadata.labels", "status.node",
		"status.serviceName", "status.serviceNamespace", NULL,
	};
	static const char *const own_fields[] = {
		"metadata.creationTimestamp", "metadata.labels", "status", NULL,
	};
	/* Nodes and EndpointSlices reach the model alone, which reads these
	 * (decode_meta(), decode_node(), decode_slice()): a Node's
	 * images, capacity and node info, a slice's ports, owner and
	 * annotations are most of their bytes. */
	static const char *const node_fields[] = {
		"metadata.uid", "metadata.labels", "metadata.annotations",
		"status.conditions", "status.addresses", NULL,
	};
	static const char *const slice_fields[] = {
		"metadata.uid", "metadata.labels", "addressType", "endpoints", NULL,
	};

	/* What every speaker of a cluster is sent is what it watches: only
	 * LoadBalancer Services (the API server selects Services on
	 * spec.type; one that stops being one comes as DELETED, which
	 * withdraws it as a deletion does), and no EndpointSlice of a
	 * headless Service (never a LoadBalancer).  docs/architecture.md,
	 * "Many nodes", has the arithmetic. */
	for (int i = 0; i < S_COUNT; i++) {
		s.rargs[i] = (struct refl_arg){&s, i};
		struct k8s_reflector_opts o = {
			.path = s.paths[i],
			.label_selector = i == S_BGPSTATUS ? s.own_label
					: i == S_SLICES ? SLICE_SELECTOR : NULL,
			.field_selector = i == S_SERVICES ? SERVICE_SELECTOR : NULL,
			.keep = i == S_L2STATUS   ? claim_fields
				: i == S_SERVICES ? k8sd_service_fields
				: i == S_NODES    ? node_fields
				: i == S_SLICES   ? slice_fields
						    : NULL,
			.keep_whole_label = i == S_L2STATUS ? s.own_label : NULL,
			.keep_labelled = i == S_L2STATUS ? own_fields : NULL,
			.on_change = on_change,
			.on_synced = on_synced,
			.on_error = on_refl_error,
			.arg = &s.rargs[i],
		};
		s.refl[i] = k8s_reflector_new(s.client, &o);
		k8s_reflector_start(s.refl[i]);
	}


	/* Everything opened at start is open (the kubeconfig, its token and
	 * certificates read): keep only what the loop uses. */
	privs_restrict("speaker", PRIVS_NET);
	sandbox_enter(SANDBOX_SPEAKER);

	char port[16];
	snprintf(port, sizeof(port), "%u", http_server_port(s.http));
	log_info("speaker started", "version", IRONLB_VERSION, "node", node, "namespace", ns,
		 "server", k8s_client_config(s.client)->server, "metrics_port", port, NULL);
	ev_run(s.loop, 0);

	/* The reconciler ended the loop after on_stop() and the drain (a
	 * linger cut short by a second signal ends here). */
	if (s.lingering)
		stop_announcing(&s);
	for (int i = 0; i < S_COUNT; i++) {
		k8s_reflector_free(s.refl[i]);
		free(s.paths[i]);
	}
	reconciler_free(s.rec);
	free(s.own_label);
	k8sd_cstate_free(s.cstate);
	k8s_client_free(s.client);
	/* Cancelled with the client, without their callbacks. */
	while (s.reqs)
		status_req_free(s.reqs);
	ev_timer_stop(s.loop, &s.sess_w);
	for (size_t i = 0; i < s.nsess; i++) {
		free(s.sess[i].name);
		free(s.sess[i].sent);
	}
	free(s.sess);
	free(s.sess_path);
	k8sd_events_forget();
	liveness_free(s.liveness);
	announcer_free(s.ann);
	claims_free(&s);
	http_server_free(s.http);
	metrics_registry_free(s.reg);
	pipeline_live_free(&s.live);
	pipeline_free(s.pipe);
	json_decref(s.verdict);
	hashmap_clear(&s.dirty_svcs);
	hashmap_clear(&s.announced);
	struct hashmap_iter hi;
	hashmap_iter_init(&hi, &s.recs);
	while (hashmap_iter_next(&hi))
		rec_free(hi.value);
	hashmap_clear(&s.recs);
	for (size_t i = 0; i < s.ndown; i++)
		free(s.down[i]);
	free(s.down);
	free(s.key_problem);
	free(s.instance);
	free(listen_at);
	log_info("stopped", NULL);
	return 0;
}
