/*
 * The /status document of `ironlb run`, `ironlb controller` and
 * `ironlb speaker`, built in one place so that a section has the same
 * shape whichever command serves it.
 *
 * The layout, in this order; a section a command does not have is left
 * out:
 *
 *   node, namespace, manifests, leader   who answers
 *   config      loaded, stale, the command's own counters, then the
 *               verdict of the last pass: "verdict" (null before one),
 *               "errors" and "failed" (pipeline_verdict_json())
 *   services    per Service in namespace/name order (run)
 *   pools       per pool (run)
 *   layer2, l2_engine, bgp, bfd   the announcer (run, speaker)
 *   reconciler  the reconciler shell
 *   members     the node-failure detector (run, speaker)
 *   privileges  what the process kept after start (base/privs.h)
 *
 * A command fills a struct status_doc with its values and, for the
 * sections only it has, functions that write them.  The document is
 * written with the streaming writer (base/jw.h) straight into the
 * response text: the big arrays (an entry per address, per Service, per
 * route) are never held as jansson trees, so a /status of 20,000
 * addresses costs its text and not several times that in small blocks.
 */
#ifndef IRONLB_STATUS_STATUS_H
#define IRONLB_STATUS_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct jw;
struct announcer;
struct reconciler;
struct http_response;

/* Writes a command's own part of a section with w. */
typedef void status_write_fn(struct jw *w, void *arg);

struct status_doc {
	const char *node;        /* NULL: no "node" */
	const char *namespace_;  /* NULL: no "namespace" */
	const char *manifests;   /* NULL: no "manifests" */
	int leader;              /* 0/1; -1: no "leader" (only the controller elects one) */

	/* "config" */
	bool loaded;             /* a configuration is in force */
	bool stale;              /* the latest change is not in force */
	status_write_fn *config_extra; /* the command's counters, as members; or NULL */
	/* pipeline_verdict_json() of the last pass (borrowed), NULL before one:
	 * its members follow the counters. */
	const json_t *verdict;
	/* When the command reports every diagnostic (run), these replace the
	 * verdict's "errors" and add "warnings": arrays of strings, taken. */
	json_t *errors, *warnings;

	/* The speaker's placement claims: written as "claims" after "config"
	 * when has_claims. */
	bool has_claims;
	size_t nclaims;             /* claims held, one per (Service, node) */
	size_t claim_replans;       /* whole re-plans caused by a claim change */

	status_write_fn *services;  /* the entries of "services"; NULL: no such section */
	json_t *pools;              /* taken; NULL: no "pools" */
	const struct announcer *ann; /* NULL: no layer2, l2_engine, bgp */
	const struct reconciler *rec; /* NULL: no "reconciler" */
	status_write_fn *members;   /* the value of "members"; NULL: no such section */
	void *arg;                  /* for the functions above */
};

/* The document as text (malloc'd; *len its length), indented by two spaces
 * as json_dumps(JSON_INDENT(2)) would.  Takes d's references. */
char *status_doc_text(struct status_doc *d, size_t *len);
/* Fills a 200 application/json response with it (500 if it could not be
 * written, which is a bug). */
void status_doc_respond(struct status_doc *d, struct http_response *resp);

/* One entry of "services" (run), as `ironlb status` reads it. */
struct status_service {
	const char *namespace_, *name;
	const char *const *ingress;  /* addresses, as text */
	const char *const *pools;    /* the pool of each address */
	size_t naddrs;
	const char *owner;           /* NULL: nobody announces it */
	bool announced_here;
};
/* Writes the entry up to its "events": the caller writes the events
 * (status_event()) and closes it with status_service_end(). */
void status_service_begin(struct jw *w, const struct status_service *s);
void status_event(struct jw *w, const char *type, const char *reason, const char *message);
void status_service_end(struct jw *w);

#endif
