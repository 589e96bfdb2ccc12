/*
 * The pipeline: one way from source objects to the model every command
 * runs, with one verdict.  `ironlb check`, `plan`, `run`, `controller` and
 * `speaker` all go through it.
 *
 * Data flow:
 *
 *   sources --changes--> store --pipeline_build()--> verdict + model in use
 *                                  |                   --pipeline_allocate()--> results
 *                                  +--pipeline_step()--> live verdict + model,
 *                                                        allocator updated, Services to re-plan
 *
 * Sources: a manifest file (pipeline_read_paths(), pipeline_sync_dir()) or
 * the API reflectors.  Each source feeds changes into the store: an object
 * added or updated (pipeline_upsert()), deleted (pipeline_delete()), or the
 * whole content of a source replaced (pipeline_source_set(), what a file
 * that was read again does; it is turned into the same per-object upserts
 * and deletes).  A source that cannot be read keeps the objects it held
 * before (pipeline_source_failed()): nothing is withdrawn because a file is
 * broken.  The store is keyed by source and kind/namespace/name and notes
 * which objects changed: pipeline_step() (the daemons) takes a change to
 * Services one object at a time on a live model; pipeline_build() (check,
 * plan, and every change a step does not take) decodes the whole store.
 *
 * The verdict (docs/operations.md, "When a change is wrong") decides by
 * the kind of the object each diagnostic belongs to (diag.kind), never by
 * its text:
 *
 *  1. An error on a configuration object (IPAddressPool, L2Advertisement,
 *     BGPAdvertisement, BGPPeer, BFDProfile, Community, Node), an
 *     unresolved reference included, makes the configuration Invalid: the
 *     last good configuration (the whole set of those objects, with the
 *     Secrets they read) stays in force with the current Services.  With
 *     no good configuration yet, one whose only errors are unresolved
 *     references is run (Invalid but runnable); otherwise nothing runs.
 *  2. An error on a Service of ours fails that Service alone: its last good
 *     version (if any) keeps its addresses, it gets an AllocationFailed
 *     event, and every other Service proceeds.
 *  3. A Namespace, Secret or EndpointSlice with errors is left out (what
 *     depends on it sees it missing) and reported.
 *  4. A source problem (a file that cannot be read or parsed) makes the
 *     configuration Invalid like rule 1.
 *
 * Last good bookkeeping lives here too: the configuration set as a whole,
 * and each Service on its own.
 */
#ifndef IRONLB_PIPELINE_PIPELINE_H
#define IRONLB_PIPELINE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "alloc/alloc.h"
#include "base/diag.h"
#include "manifest/tree.h"
#include "model/model.h"

struct pipeline;

struct pipeline_opts {
	const char *config_namespace; /* NULL: MODEL_DEFAULT_CONFIG_NAMESPACE */
	const char *lb_class;         /* the Services that are ours (NULL: no class) */
};

struct pipeline *pipeline_new(const struct pipeline_opts *o);
void pipeline_free(struct pipeline *p);

/* ---- sources: changes into the store ---- */

/* Add or replace one object of a source (takes the tree).  The object is
 * named by its kind, metadata.namespace and metadata.name; a tree without
 * them is kept in the store under its position (the model reports it). */
void pipeline_upsert(struct pipeline *p, const char *source, struct tree *obj);
/* A Service's new version that only shows what its caller wrote itself
 * (the controller's status patch coming back through the watch): the
 * store takes it without noting a change, so that no step is due for it.
 * The live model keeps the version it had (what a step reads of a
 * Service does not include what the caller writes).  Anything but a
 * Service judged good is an ordinary pipeline_upsert(). */
void pipeline_refresh(struct pipeline *p, const char *source, struct tree *obj);
/* The next step is a whole pass (the caller starts its allocator again:
 * the controller taking the lead). */
void pipeline_resync(struct pipeline *p);
/* Remove one object of a source; 0 when it was there, -1 when not. */
int pipeline_delete(struct pipeline *p, const char *source, const char *kind, const char *ns,
		    const char *name);
/* Replace everything a source holds by objs (takes the trees, in this
 * order; the array is the caller's).  Objects of the same kind and name
 * as before are updates, the others adds and deletes. */
void pipeline_source_set(struct pipeline *p, const char *source, struct tree **objs,
			 size_t n);
/* The source could not be read: it keeps the objects it held, and the
 * problems (copied) make the configuration Invalid until it reads again. */
void pipeline_source_failed(struct pipeline *p, const char *source,
			    const struct diag_list *problems);
/* Forget a source and its objects. */
void pipeline_source_remove(struct pipeline *p, const char *source);
/* Order of sources in the model: sources listed first come first (file
 * order decides which of two overlapping pools is "the later one"). */
void pipeline_source_order(struct pipeline *p, const char *const *sources, size_t n);

/* Files and directories as `check` and `plan` read them (each file its own
 * source, in the order given; a directory's files in name order). */
void pipeline_read_paths(struct pipeline *p, const char *const *paths, size_t npaths);
/* Bring the sources of a manifest directory up to date: every file read
 * again (a file that fails keeps its objects), files that are gone
 * removed.  A directory that cannot be listed keeps everything, as a
 * source problem. */
void pipeline_sync_dir(struct pipeline *p, const char *dir);

/* Bring one file of a manifest directory up to date, as
 * pipeline_sync_dir() does for each (`ironlb run` calls it for the names
 * inotify reports): read again when it is there (a broken file keeps its
 * objects), removed with its objects when it is gone or is not a manifest
 * name.  A new file takes its place in name order. */
void pipeline_sync_file(struct pipeline *p, const char *dir, const char *name);

/* Free the trees of the files pipeline_sync_dir() keeps the text of (the
 * next sync parses them again, or the kept text when a file is broken):
 * between passes `ironlb run` then holds its objects once, decoded in the
 * model.  Call after pipeline_build(). */
void pipeline_release_trees(struct pipeline *p);

/* ---- one pass ---- */

enum pipeline_config {
	PIPELINE_CONFIG_VALID,
	PIPELINE_CONFIG_INVALID_RUNNABLE, /* only unresolved references */
	PIPELINE_CONFIG_INVALID,
};

const char *pipeline_config_name(enum pipeline_config c); /* "valid", "invalid", ... */

/* A Service of ours that fails (rule 2). */
struct pipeline_failed {
	char *namespace_, *name;
	char *why;       /* the problems: "path: message; ..." */
	char *message;   /* the AllocationFailed event's message (names the Service, then why) */
	bool kept;       /* its last good version is in the model, at index */
	size_t index;
};

struct pipeline_verdict {
	enum pipeline_config config;
	size_t nconfig_errors;
	char **config_errors;   /* diagnostics, formatted, of rules 1 and 4 */
	size_t nfailed;
	struct pipeline_failed *failed;   /* by namespace/name */
	size_t nignored;
	char **ignored;         /* diagnostics, formatted, of rule 3 */
};

struct pipeline_pass {
	struct diag_list diags;  /* every problem of the current objects, sorted */
	struct pipeline_verdict verdict;
	bool running;   /* a configuration is in force; model is what to run */
	bool taken;     /* this pass put the current configuration in force */
	bool stale;     /* the configuration in force has errors or is not the current one */
	size_t nobjects, nskipped;  /* current objects decoded, and of kinds not read */
	struct model model;
	size_t nresults;
	struct alloc_result *results;  /* pipeline_allocate(): one per model.services */
};

/* Judge the store and build the model to use: the configuration in force
 * (current or last good), the good Services (a failing one in its last
 * good version, or left out), and every other object.  Updates the last
 * good records.  Free out with pipeline_pass_free(). */
void pipeline_build(struct pipeline *p, struct pipeline_pass *out);
/* Allocate every Service of the model (alloc_set_config + alloc_run_all)
 * and add each failed Service's AllocationFailed event to its result (for
 * a kept Service) or leave it in verdict.failed (for one left out).  Does
 * nothing when no configuration is in force. */
void pipeline_allocate(struct pipeline_pass *ps, struct alloc *a);
/* After pipeline_allocate(): a warning in ps->diags on each Service that
 * gets no address because another Service keeps one it asks for
 * (alloc_result.held_by), at its request, so that `check` and `plan` say
 * so before anything runs.  Returns how many. */
size_t pipeline_contest_warnings(struct pipeline_pass *ps);
void pipeline_pass_free(struct pipeline_pass *ps);

/* ---- the live pass: work proportional to the change (daemons) ---- */

/* What is in force, kept between steps: the model follows the store one
 * object at a time (model_upsert / model_remove), the allocator beside it
 * (the caller's) follows with alloc_update_service / alloc_update_config.
 * Equal, after every step, to what pipeline_build() + pipeline_allocate()
 * over the same store would give with every Service carrying the
 * addresses it holds (tests/unit/test_pipeline_incremental.c). */
struct pipeline_live {
	bool running, taken, stale;    /* as in pipeline_pass, of the last whole pass */
	struct model model;            /* what runs (empty until running) */
	struct pipeline_verdict verdict;  /* failed[].index is not kept: use names */
	struct diag_list diags;        /* every problem of the current objects, sorted */
	size_t nobjects, nskipped;
};

/* What one step did. */
struct pipeline_step {
	bool full;      /* a whole pass: every Service checked, plan everything again */
	bool taken;     /* (full) it put the current configuration in force */
	struct alloc_changes changes;  /* the allocations computed (alloc.h) */
	size_t nreplan; /* (not full) the Services to plan again, "ns/name" */
	char **replan;
};

/* Called on each Service about to be allocated that the allocator may see
 * for the first time (a restart adopts what the state file says). */
typedef void (*pipeline_adopt_fn)(void *arg, struct service *s);

void pipeline_live_init(struct pipeline_live *l, const char *config_namespace);
void pipeline_live_free(struct pipeline_live *l);
/* Take the changes made to the store since the last step:
 *  - only Services and EndpointSlices changed (added, updated, deleted;
 *    EndpointSlices through pipeline_upsert() / pipeline_delete(), not a
 *    whole source), each judged good alone: each is upserted into (or
 *    removed from) the live model, a Service's diagnostics replace its old
 *    ones, and alloc_update_service() allocates it; replan lists each
 *    changed Service, the Services of each changed EndpointSlice (its old
 *    and new versions) and every Service whose allocation moved.  Cost:
 *    those objects, not the store.
 *  - anything else (a configuration object, a Node, Namespace or Secret,
 *    a source problem, a Service with errors, held twice or failing until
 *    now, an EndpointSlice with a problem or left out until now, the first
 *    step): a whole pass, pipeline_build() then alloc_update_config();
 *    full is set and everything is planned again by the caller.
 * a may be NULL (the speaker: it announces the addresses the Services'
 * status holds and allocates nothing): nothing is allocated and changes
 * stays empty. */
void pipeline_step(struct pipeline *p, struct alloc *a, struct pipeline_live *live,
		   pipeline_adopt_fn adopt, void *arg, struct pipeline_step *out);
void pipeline_step_free(struct pipeline_step *st);
/* Whether a Service is ours (a LoadBalancer of our class). */
bool pipeline_service_ours(const struct pipeline *p, const struct service *s);

/* The AllocationFailed event of a failed Service (points into f). */
struct alloc_event pipeline_failed_event(const struct pipeline_failed *f);

/* The verdict as lines for people and tests, the same in every mode:
 *   configuration: valid | invalid | invalid but runnable (...)
 *   service NS/NAME: failed: WHY
 * written to out. */
void pipeline_verdict_print(const struct pipeline_verdict *v, FILE *out);
/* The verdict as JSON, the same wherever it is shown (`ironlb plan -o
 * json`'s "configuration", the /status "config" of run, controller and
 * speaker): {"verdict", "errors": [...], "failed": [{"namespace", "name",
 * "message"}]}.  A new reference. */
json_t *pipeline_verdict_json(const struct pipeline_verdict *v);

#endif
