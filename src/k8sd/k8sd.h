/*
 * ironlb-k8s: the commands that talk to the Kubernetes API server,
 * `ironlb controller` (controller.c) and `ironlb speaker` (speaker.c).  A
 * separate executable so that libcurl and its dependencies never load into
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

#include "base/diag.h"
#include "k8s/k8s_client.h"
#include "manifest/tree.h"
#include "model/model.h"

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

/* Free the records of Events still under way; after k8s_client_free()
 * (which cancels them without callbacks). */
void k8sd_events_forget(void);

/*
 * A ConfigurationState writer: keeps metallb.io/v1beta1 ConfigurationState
 * `name` in namespace `ns` (created when missing, labelled
 * metallb.io/component-type = component and, for a speaker,
 * metallb.io/node-name = node) saying status.result Valid or Invalid with
 * status.errorSummary.  Only changes are sent; a change to Invalid (and
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
/* Forget what was sent (the next set writes again). */
void k8sd_cstate_reset(struct k8sd_cstate *s);
/* Cancels what is under way; before k8s_client_free(). */
void k8sd_cstate_free(struct k8sd_cstate *s);

#endif
