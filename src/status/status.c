/*
 * The /status document (see status.h): the layout of the common sections
 * lives here; the commands supply values and their own sections.
 */
#include "status/status.h"

#include <stdlib.h>
#include <string.h>

#include "base/jw.h"
#include "base/privs.h"
#include "http/server.h"
#include "node/announcer.h"
#include "reconcile/reconciler.h"

static void write_config(struct jw *w, struct status_doc *d)
{
	bool own_errors = d->errors != NULL;
	jw_key(w, "config");
	jw_obj_begin(w);
	jw_kbool(w, "loaded", d->loaded);
	jw_kbool(w, "stale", d->stale);
	if (d->config_extra)
		d->config_extra(w, d->arg);
	if (d->errors) {
		jw_kjson_new(w, "errors", d->errors);
		d->errors = NULL;
	}
	if (d->warnings) {
		jw_kjson_new(w, "warnings", d->warnings);
		d->warnings = NULL;
	}
	if (!d->verdict) {
		jw_key(w, "verdict");
		jw_null(w);
	} else {
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)d->verdict, key, v)
		{
			/* The command's list of every diagnostic includes the
			 * verdict's configuration errors. */
			if (own_errors && !strcmp(key, "errors"))
				continue;
			jw_key(w, key);
			jw_json(w, v);
		}
	}
	jw_obj_end(w);
}

char *status_doc_text(struct status_doc *d, size_t *len)
{
	struct jw w;
	jw_init(&w, true);
	jw_obj_begin(&w);
	if (d->node)
		jw_kstr(&w, "node", d->node);
	if (d->namespace_)
		jw_kstr(&w, "namespace", d->namespace_);
	if (d->manifests)
		jw_kstr(&w, "manifests", d->manifests);
	if (d->leader >= 0)
		jw_kbool(&w, "leader", d->leader);
	write_config(&w, d);
	if (d->has_claims) {
		jw_key(&w, "claims");
		jw_obj_begin(&w);
		jw_kint(&w, "count", (long long)d->nclaims);
		jw_kint(&w, "replans", (long long)d->claim_replans);
		jw_obj_end(&w);
	}
	if (d->services) {
		jw_key(&w, "services");
		jw_arr_begin(&w);
		d->services(&w, d->arg);
		jw_arr_end(&w);
	}
	if (d->pools) {
		jw_kjson_new(&w, "pools", d->pools);
		d->pools = NULL;
	}
	if (d->ann)
		announcer_status_write(d->ann, &w);
	if (d->rec)
		jw_kjson_new(&w, "reconciler", reconciler_status_json(d->rec));
	if (d->members) {
		jw_key(&w, "members");
		d->members(&w, d->arg);
	}
	privs_status_write(&w);
	jw_obj_end(&w);
	/* Whatever was not consumed because a section was left out. */
	json_decref(d->errors);
	json_decref(d->warnings);
	json_decref(d->pools);
	d->errors = d->warnings = d->pools = NULL;
	return jw_finish(&w, len);
}

void status_doc_respond(struct status_doc *d, struct http_response *resp)
{
	size_t len;
	char *text = status_doc_text(d, &len);
	if (!text) {
		http_response_printf(resp, 500, "/status could not be written\n");
		return;
	}
	resp->body = text;
	resp->body_len = len;
	resp->status = 200;
	resp->content_type = HTTP_APPLICATION_JSON;
}

void status_service_begin(struct jw *w, const struct status_service *s)
{
	jw_obj_begin(w);
	jw_kstr(w, "namespace", s->namespace_);
	jw_kstr(w, "name", s->name);
	jw_key(w, "ingress");
	jw_arr_begin(w);
	for (size_t i = 0; i < s->naddrs; i++)
		jw_str(w, s->ingress[i]);
	jw_arr_end(w);
	jw_key(w, "pools");
	jw_arr_begin(w);
	for (size_t i = 0; i < s->naddrs; i++)
		jw_str(w, s->pools[i]);
	jw_arr_end(w);
	jw_kstr(w, "owner", s->owner); /* null when nobody announces it */
	jw_kbool(w, "announced_here", s->announced_here);
	jw_key(w, "events");
	jw_arr_begin(w);
}

void status_event(struct jw *w, const char *type, const char *reason, const char *message)
{
	jw_obj_begin(w);
	jw_kstr(w, "type", type);
	jw_kstr(w, "reason", reason);
	jw_kstr(w, "message", message);
	jw_obj_end(w);
}

void status_service_end(struct jw *w)
{
	jw_arr_end(w);
	jw_obj_end(w);
}
