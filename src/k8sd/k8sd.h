/*
 * ironlb-k8s: the commands that talk to the Kubernetes API server,
 * `ironlb controller` (controller.c) and `ironlb speaker` (speaker.c).  A
 * separate executable so that GnuTLS and its dependencies never load into
 * `ironlb run`; `ironlb` execs this binary for those commands.
 *
 * What both write the same way lives in common.c: Events about Services
 * and the ConfigurationState that tells a person whether a component
 * accepted the configuration.  Both judge what they read with the pipeline
 * (src/pipeline/pipeline.h), the same verdict `ironlb run`, `check` and
 * `plan` follow.
 */
#ifndef IRONLB_K8SD_K8SD_H
#define IRONLB_K8SD_K8SD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "announce/announce.h"
#include "base/diag.h"
#include "base/jw.h"
#include "k8s/k8s_client.h"
#include "k8s/k8s_limit.h"
#include "k8s/k8s_watch.h"
#include "manifest/tree.h"
#include "model/model.h"
#include "pipeline/pipeline.h"

int cmd_controller(int argc, char **argv);
int cmd_speaker(int argc, char **argv);

/* Now as a Kubernetes MicroTime ("2026-11-26T10:48:48.123456Z"). */
void k8sd_micro_time(char *buf, size_t len);

/* Post an events.k8s.io/v1 Event about a Service (svc: its object, for uid
 * and resourceVersion, or NULL).  Failures are logged. */
void k8sd_post_event(struct k8s_client *c, const char *reporting_controller,
		     const char *instance, const struct tree *svc, const char *ns,
		     const char *name, const char *type, const char *reason,
		     const char *message);
/* The same about any object (kind and apiVersion given), e.g. a BGPPeer. */
void k8sd_post_event_on(struct k8s_client *c, const char *reporting_controller,
			const char *instance, const char *api_version, const char *kind,
			const struct tree *obj, const char *ns, const char *name,
			const char *type, const char *reason, const char *message);

/*
 * Echoes of our own writes (echo.c): whether a watch event only shows what
 * this process wrote, so that it needs no pass.
 *
 * k8sd_service_echo: a Service update (old -> obj) whose only differences
 * are metadata bookkeeping (resourceVersion, managedFields, generation),
 * status.loadBalancer and the annotation `annotation`, where a changed
 * ingress equals sent_ingress (the ingress JSON last sent, as
 * k8sd_ingress_json() writes it; NULL: nothing sent) and a changed
 * annotation equals sent_pools ("" when its removal was sent; NULL:
 * nothing sent).  An update that changes nothing but bookkeeping is one
 * too: a pass would not see it.
 *
 * k8sd_status_object_echo: an event on one of the speaker's own status
 * objects; want is the status it wants the object to hold (JSON text; NULL
 * when it wants the object gone), sent the write under way (the status
 * JSON text, "-" for a delete, NULL for none).  An echo is: the object
 * holding the wanted status; its create while that write is under way; its
 * deletion (or a late event) while a delete is under way.
 *
 * k8sd_status_holds: obj has a status equal to want (JSON text; objects
 * compared as unordered maps, as json_equal() does).
 *
 * k8sd_status_patch_echo: an update (old -> obj) whose only differences
 * are metadata bookkeeping and the status fields of `sent` (the JSON
 * object of a status merge patch, the controller's IPAddressPool figures),
 * which obj holds with the values sent.
 */
char *k8sd_ingress_json(const struct tree *obj);   /* [{"ip":...}] of status.loadBalancer */
bool k8sd_service_echo(const struct tree *old, const struct tree *obj, const char *annotation,
		       const char *sent_ingress, const char *sent_pools);
bool k8sd_status_object_echo(enum k8s_change change, const struct tree *obj, const char *want,
			     const char *sent);
bool k8sd_status_holds(const struct tree *obj, const char *want);
bool k8sd_status_patch_echo(const struct tree *old, const struct tree *obj, const char *sent);
/* An update (old -> obj) whose only differences are metadata bookkeeping
 * and status: of a metallb.io configuration object, nothing the model
 * reads (the controller's IPAddressPool figures, as seen by a speaker). */
bool k8sd_status_only(enum k8s_change change, const struct tree *old, const struct tree *obj);

/*
 * Layer 2 claims from ServiceL2Status objects (claims.c).
 * k8sd_time_us: an RFC 3339 time ("2026-12-07T01:47:30Z", with optional
 * fraction and offset) as microseconds since the epoch; -1 when it is not.
 * k8sd_l2_claim: the claim an object makes: service "ns/name" and node from
 * status (serviceNamespace, serviceName, node; the metallb.io/ labels
 * before the status is set), since = metadata.creationTimestamp; strings
 * allocated (the caller frees them); -1 when any is missing.
 * k8sd_claim_news: whether a claim of `node` that appeared (added) or went
 * for a Service says something this node's plan does not (owner: the
 * planned owner; planned false: the Service is not in the plan) and so
 * calls for planning everything again: a claim of another node than the
 * planned owner appeared, or the planned owner's went.  Claims of `self`
 * never do.
 */
/* What the speaker keeps of a Service (k8s_reflector_opts.keep): what
 * the model's decoder and validation read, so that its verdict is the
 * controller's and `ironlb check`'s. */
extern const char *const k8sd_service_fields[];

int k8sd_time_us(const char *text, uint64_t *out);
int k8sd_l2_claim(const struct tree *obj, struct announce_claim *out);
bool k8sd_claim_news(bool added, const char *node, bool planned, const char *owner,
		     const char *self);

/* Log a failed API request that the caller will send again: `what`, the
 * object (key and value; key NULL for none) and the error, at warn.  A 429
 * is the API server asking to be asked later (its storage for a kind is
 * still starting, or it throttles): an info line without the word
 * "error", since nothing is wrong that the retry does not mend (the
 * guide looks for problems with `kubectl logs ... | grep -i error`). */
void k8sd_log_api_retry(const char *what, const char *key, const char *value,
			const struct k8s_response *resp);

/* Free the records of Events still under way; after k8s_client_free()
 * (which cancels them without callbacks). */
void k8sd_events_forget(void);

/*
 * A ConfigurationState writer: keeps metallb.io/v1beta1 ConfigurationState
 * `name` in namespace `ns` (created when missing, labelled
 * metallb.io/component-type = component and, for a speaker,
 * metallb.io/node-name = node) saying status.result Valid or Invalid with
 * status.errorSummary.  Only changes are sent, and the first time (and after
 * a reset) only when the object does not hold them already (it is read
 * first): a restart into the same configuration writes nothing; a change to Invalid (and
 * back to Valid) is also an Event on the object (reason
 * ConfigurationInvalid / ConfigurationValid, from reporter and instance).
 * A failed write calls
 * retry(arg) so the owner tries again later (a missing CRD, 404, does not).
 */
struct k8sd_cstate;

struct k8sd_cstate *k8sd_cstate_new(struct k8s_client *c, const char *ns, const char *name,
				    const char *component, const char *node,
				    const char *reporter, const char *instance,
				    void (*retry)(void *arg), void *arg);
/* errors: one diagnostic a line ("" when valid). */
void k8sd_cstate_set(struct k8sd_cstate *s, bool valid, const char *errors);
/* Forget what was sent (the next set reads the object and writes what it
 * does not hold). */
void k8sd_cstate_reset(struct k8sd_cstate *s);
/* Cancels what is under way; before k8s_client_free(). */
void k8sd_cstate_free(struct k8sd_cstate *s);

/*
 * The reflectors feed the pipeline (src/pipeline/pipeline.h) object by
 * object, and a pass is a pipeline step: work in proportion to what
 * changed.
 *
 * k8sd_feed: a watch event on a Service or an EndpointSlice, into the
 * source K8SD_SOURCE_OBJECTS (the stored object is upserted, shared with
 * tree_ref(), not copied; a deletion deleted).
 * k8sd_feed_all: every object of those reflectors as that source (a
 * controller taking the lead starts from them).
 *
 * k8sd_feed_config: the objects of the other reflectors (the metallb.io
 * kinds, Nodes, Namespaces, Secrets) as the source K8SD_SOURCE_CONFIG,
 * replaced as a whole when one of them changed (they are few; a change to
 * them is a whole pass anyway).  Reflector by reflector, each in
 * namespace/name order, so that the order never depends on arrival.
 *
 * k8sd_step: pipeline_step() (a may be NULL: the speaker allocates
 * nothing), its errors logged (all after a whole pass, the changed
 * Services' after a step); after a whole pass (or the first time) the
 * verdict replaces *verdict (its JSON for /status) and is written to the
 * ConfigurationState cs.  Returns whether the configuration is invalid.
 * Free st with pipeline_step_free().
 */
#define K8SD_SOURCE_OBJECTS "api"
#define K8SD_SOURCE_CONFIG "api-config"

void k8sd_feed(struct pipeline *p, enum k8s_change change, const struct tree *obj);
/* Called for each stored object that changed: after K8SD_TRIM_EVERY of
 * them, and K8SD_TRIM_QUIET seconds after the last one, the heap's free
 * pages are given back (malloc_trim()).  A start replaces every Service
 * once more as the echoes of its own writes come in; the freed versions
 * otherwise stay resident as holes (the last of them too: fewer than
 * K8SD_TRIM_EVERY changes since the last trim are no reason to keep
 * them once the changes stop). */
#define K8SD_TRIM_EVERY 2048
#define K8SD_TRIM_QUIET 1.0
struct ev_loop;
void k8sd_heap_changed(struct ev_loop *loop);
/* /status config members that say where the memory goes: the objects the
 * reflectors store and their bytes, and malloc's heap in use and free
 * (mallinfo2()). */
void k8sd_status_memory(struct jw *w, struct k8s_reflector *const *refl, size_t nrefl);
void k8sd_feed_all(struct pipeline *p, struct k8s_reflector *const *refl, size_t nrefl);
void k8sd_feed_config(struct pipeline *p, struct k8s_reflector *const *refl, size_t nrefl);
bool k8sd_step(struct pipeline *p, struct alloc *a, struct pipeline_live *live,
	       struct k8sd_cstate *cs, json_t **verdict, struct pipeline_step *st);

/* The listen address of `cmd` (speaker, controller): *listen
 * (--metrics-listen) or dflt, with --metrics-host `host` (NULL: none)
 * put in its place (http_listen_with_host()); *listen is set to it and
 * *owned is what the caller frees (NULL when nothing was allocated).
 * -1 after saying why on stderr (exit code 2). */
int k8sd_listen_address(const char *cmd, const char **listen, const char *dflt, const char *host,
			char **owned);

/*
 * --kube-api-qps / --kube-api-burst of `cmd`: the API client's rate limit
 * (k8s_client_set_rate_limit()).  k8sd_rate_option parses the value of
 * option `opt` (getopt's code): --kube-api-qps into *qps (a number >= 0;
 * 0: no limit), --kube-api-burst into *burst (an integer 1..1000000);
 * -1 after saying why on stderr (exit code 2).
 */
enum { OPT_KUBE_API_QPS = 0x100, OPT_KUBE_API_BURST };
int k8sd_rate_option(const char *cmd, int opt, const char *text, double *qps, unsigned *burst);
/* Families of the API client's figures (k8s_client_get_stats()) in reg,
 * read when it is rendered:
 * ironlb_k8s_client_throttled_seconds_total,
 * ironlb_k8s_client_throttled_requests_total and
 * ironlb_k8s_client_retries_total. */
struct metrics_registry;
void k8sd_client_metrics(struct metrics_registry *reg, struct k8s_client *c);


#endif
