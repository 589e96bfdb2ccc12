/*
 * Watch stream framing and decoding, and the object store: events split at
 * every byte, without newlines, pretty-printed, with braces in strings,
 * very long; bounds (size, depth); malformed streams; ERROR and 410; store
 * changes delivered exactly once for events and for relists.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "k8s/k8s_watch.h"

/* ---- helpers ---- */

/* What a feed delivered, one line per event: "ADDED ns/name rv". */
struct seen {
	char *log;
	size_t n;
	int stop_after;          /* stop when this many were seen; 0: never */
};

static int record(struct k8s_event *ev, void *arg)
{
	struct seen *s = arg;
	char *key = ev->object ? k8s_object_key(ev->object) : NULL;
	const char *rv = ev->object ? k8s_object_resource_version(ev->object) : NULL;
	char *line;
	if (ev->type == K8S_EVENT_ERROR)
		line = xasprintf("ERROR %d %s%s;", ev->code, ev->reason ? ev->reason : "-",
				 k8s_event_gone(ev) ? " gone" : "");
	else
		line = xasprintf("%s %s %s;", k8s_event_type_name(ev->type), key ? key : "-",
				 rv ? rv : "-");
	char *log = xasprintf("%s%s", s->log ? s->log : "", line);
	free(s->log);
	free(line);
	free(key);
	s->log = log;
	s->n++;
	return s->stop_after && s->n >= (size_t)s->stop_after;
}

/* Feed `text` in pieces of `chunk` bytes (0: whole); returns the log and
 * the last feed result in *rc. */
static char *feed_all(const char *text, size_t len, size_t chunk, size_t max, int *rc,
		      char **error)
{
	struct k8s_watch_stream st;
	struct seen s = {0};
	k8s_watch_stream_init(&st, max);
	*rc = 0;
	if (!chunk)
		chunk = len ? len : 1;
	for (size_t off = 0; off < len && *rc == 0; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		*rc = k8s_watch_stream_feed(&st, text + off, n, record, &s);
	}
	if (*rc == 0)
		*rc = k8s_watch_stream_end(&st);
	if (error)
		*error = xstrdup(st.error);
	k8s_watch_stream_free(&st);
	return s.log ? s.log : xstrdup("");
}

static const char stream5[] =
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\","
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"a\",\"resourceVersion\":\"10\"}}}\n"
	"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\","
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"a\",\"resourceVersion\":\"11\"},"
	"\"spec\":{\"ports\":[{\"port\":80}]}}}\n"
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\","
	"\"metadata\":{\"resourceVersion\":\"15\"}}}\n"
	"{\"type\":\"DELETED\",\"object\":{\"kind\":\"Node\",\"apiVersion\":\"v1\","
	"\"metadata\":{\"name\":\"n1\",\"resourceVersion\":\"16\"}}}\n"
	"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	"\"status\":\"Failure\",\"message\":\"too old resource version: 1 (16)\","
	"\"reason\":\"Expired\",\"code\":410}}\n";

static const char stream5_log[] =
	"ADDED a/web 10;MODIFIED a/web 11;BOOKMARK - 15;DELETED n1 16;ERROR 410 Expired gone;";

/* ---- framing ---- */

static void test_whole_stream(void **state)
{
	(void)state;
	int rc;
	char *log = feed_all(stream5, strlen(stream5), 0, 0, &rc, NULL);
	assert_int_equal(rc, 0);
	assert_string_equal(log, stream5_log);
	free(log);
}

static void test_every_chunk_size(void **state)
{
	(void)state;
	size_t len = strlen(stream5);
	for (size_t chunk = 1; chunk <= len; chunk++) {
		int rc;
		char *log = feed_all(stream5, len, chunk, 0, &rc, NULL);
		if (rc != 0 || strcmp(log, stream5_log) != 0)
			fail_msg("chunk %zu: rc %d, %s", chunk, rc, log);
		free(log);
	}
}

static void test_every_split_point(void **state)
{
	(void)state;
	size_t len = strlen(stream5);
	for (size_t cut = 0; cut <= len; cut++) {
		struct k8s_watch_stream st;
		struct seen s = {0};
		k8s_watch_stream_init(&st, 0);
		assert_int_equal(k8s_watch_stream_feed(&st, stream5, cut, record, &s), 0);
		assert_int_equal(k8s_watch_stream_feed(&st, stream5 + cut, len - cut, record, &s), 0);
		assert_int_equal(k8s_watch_stream_end(&st), 0);
		assert_string_equal(s.log, stream5_log);
		assert_int_equal(st.events, 5);
		free(s.log);
		k8s_watch_stream_free(&st);
	}
}

struct framing_case {
	const char *name;
	const char *text;
	const char *log;
};

static const struct framing_case framing_cases[] = {
	{ "no newlines between events",
	  "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}"
	  "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}",
	  "ADDED a -;ADDED b -;" },
	{ "pretty-printed, CRLF, blanks before and after",
	  "  \r\n{\r\n  \"type\": \"MODIFIED\",\r\n  \"object\": {\r\n    \"metadata\": {\r\n"
	  "      \"name\": \"x\", \"namespace\": \"n\", \"resourceVersion\": \"7\"\r\n    }\r\n"
	  "  }\r\n}\r\n\t \n",
	  "MODIFIED n/x 7;" },
	{ "braces, brackets and quotes inside strings",
	  "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a}]\\\"{[\","
	  "\"annotations\":{\"x\":\"\\\\\",\"y\":\"\\\\\\\"}\"}}}}\n",
	  "ADDED a}]\"{[ -;" },
	{ "unicode escapes and UTF-8",
	  "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"caf\\u00e9\","
	  "\"namespace\":\"\xc3\xa9t\xc3\xa9\"}}}",
	  "ADDED \xc3\xa9t\xc3\xa9/caf\xc3\xa9 -;" },
	{ "ERROR that is not 410",
	  "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,"
	  "\"reason\":\"InternalError\",\"message\":\"boom\"}}",
	  "ERROR 500 InternalError;" },
	{ "ERROR with reason Gone and no code",
	  "{\"type\":\"ERROR\",\"object\":{\"reason\":\"Gone\"}}", "ERROR 0 Gone gone;" },
	{ "empty stream", "", "" },
	{ "only blanks", " \n\n\r\n\t", "" },
};

static void test_framing_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(framing_cases); i++) {
		const struct framing_case *c = &framing_cases[i];
		size_t len = strlen(c->text);
		for (size_t chunk = 0; chunk <= 3; chunk++) {
			int rc;
			char *err = NULL;
			char *log = feed_all(c->text, len, chunk, 0, &rc, &err);
			if (rc != 0 || strcmp(log, c->log) != 0)
				fail_msg("%s (chunk %zu): rc %d error %s; got %s", c->name, chunk, rc,
					 err ? err : "-", log);
			free(log);
			free(err);
		}
	}
}

struct bad_case {
	const char *name;
	const char *text;
	const char *error;     /* substring of the stream's error */
	const char *log;       /* events delivered before it */
};

static const struct bad_case bad_cases[] = {
	{ "text outside an event", "hello", "byte 0: expected '{' to start a watch event, found 'h'",
	  "" },
	{ "an array", "[1]", "found '['", "" },
	{ "garbage after an event",
	  "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n,",
	  "byte 52: expected '{'", "ADDED a -;" },
	{ "a control byte", "\x01", "found byte 0x01", "" },
	{ "not JSON inside braces", "{\"type\":}", "watch event 1 (bytes 0-8): not JSON", "" },
	{ "mismatched brackets", "{\"type\":\"ADDED\"]", "not JSON", "" },
	{ "unknown type", "{\"type\":\"UPDATED\",\"object\":{}}",
	  "unknown event type \"UPDATED\"", "" },
	{ "type not a string", "{\"type\":1,\"object\":{}}", "\"type\" is missing", "" },
	{ "no object", "{\"type\":\"ADDED\"}", "ADDED event: \"object\" is missing", "" },
	{ "object not an object", "{\"type\":\"ADDED\",\"object\":[]}", "not an object", "" },
	{ "no name", "{\"type\":\"DELETED\",\"object\":{\"metadata\":{}}}",
	  "DELETED event: object has no metadata.name", "" },
	{ "empty name", "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"\"}}}",
	  "object has no metadata.name", "" },
	{ "bookmark without a version",
	  "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}",
	  "BOOKMARK event: object has no metadata.resourceVersion", "" },
	{ "second event bad",
	  "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}{\"type\":\"X\"}",
	  "watch event 2 (bytes 51-62)", "ADDED a -;" },
	{ "ends inside an event", "{\"type\":\"ADDED\",\"obj",
	  "the stream ended inside watch event 1 (20 bytes of it received)", "" },
	{ "ends inside a string", "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a}}}}\n",
	  "ended inside watch event 1", "" },
};

static void test_bad_streams(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		for (size_t chunk = 0; chunk <= 1; chunk++) {
			int rc;
			char *err = NULL;
			char *log = feed_all(c->text, strlen(c->text), chunk, 0, &rc, &err);
			if (rc != -1 || !err || !strstr(err, c->error) || strcmp(log, c->log) != 0)
				fail_msg("%s (chunk %zu): rc %d error \"%s\" log \"%s\"", c->name, chunk,
					 rc, err ? err : "-", log);
			free(log);
			free(err);
		}
	}
}

static void test_failed_stream_stays_failed(void **state)
{
	(void)state;
	struct k8s_watch_stream st;
	struct seen s = {0};
	k8s_watch_stream_init(&st, 0);
	assert_int_equal(k8s_watch_stream_feed(&st, "x", 1, record, &s), -1);
	const char *good = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}";
	assert_int_equal(k8s_watch_stream_feed(&st, good, strlen(good), record, &s), -1);
	assert_int_equal(k8s_watch_stream_end(&st), -1);
	assert_null(s.log);
	k8s_watch_stream_free(&st);
}

/* An ADDED event with an annotation of n bytes. */
static char *big_event(size_t n)
{
	char *pad = xmalloc(n + 1);
	memset(pad, 'x', n);
	pad[n] = '\0';
	char *ev = xasprintf("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"big\","
			     "\"annotations\":{\"a\":\"%s\"}}}}\n", pad);
	free(pad);
	return ev;
}

struct big_seen {
	size_t annotation_len;
	size_t n;
};

static int record_big(struct k8s_event *ev, void *arg)
{
	struct big_seen *b = arg;
	const struct tree *a = tree_path(ev->object, "metadata.annotations.a");
	b->annotation_len = a ? strlen(a->text) : 0;
	b->n++;
	return 0;
}

static void test_long_event_in_pieces(void **state)
{
	(void)state;
	size_t n = (size_t)3 << 20;
	char *ev = big_event(n);
	size_t len = strlen(ev);
	struct k8s_watch_stream st;
	struct big_seen b = {0};
	k8s_watch_stream_init(&st, 0);
	for (size_t off = 0; off < len; off += 16384) {
		size_t k = len - off < 16384 ? len - off : 16384;
		assert_int_equal(k8s_watch_stream_feed(&st, ev + off, k, record_big, &b), 0);
	}
	assert_int_equal(k8s_watch_stream_end(&st), 0);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.annotation_len, n);
	/* the big buffer is given back after the event */
	assert_null(st.buf);
	k8s_watch_stream_free(&st);
	free(ev);
}

static void test_size_bound(void **state)
{
	(void)state;
	char *ev = big_event(1000);
	size_t len = strlen(ev) - 1;   /* without the newline */
	for (size_t chunk = 0; chunk <= 7; chunk += 7) {
		/* exactly the limit: accepted */
		int rc;
		char *err = NULL;
		char *log = feed_all(ev, len, chunk, len, &rc, &err);
		assert_int_equal(rc, 0);
		assert_string_equal(log, "ADDED big -;");
		free(log);
		free(err);
		/* one byte less: refused, and the buffer never grew past the limit */
		log = feed_all(ev, len, chunk, len - 1, &rc, &err);
		assert_int_equal(rc, -1);
		char *want = xasprintf("watch event 1 is larger than %zu bytes", len - 1);
		assert_string_equal(err, want);
		assert_string_equal(log, "");
		free(want);
		free(log);
		free(err);
	}
	free(ev);
}

static void test_depth_bound(void **state)
{
	(void)state;
	size_t depth = K8S_WATCH_MAX_DEPTH;
	/* {"type":"ADDED","object":{"metadata":{"name":"a"},"x":[[[...]]]}} */
	for (int over = 0; over <= 1; over++) {
		size_t levels = depth - 2 + (size_t)over;  /* the two braces around "x" count */
		char *open = xmalloc(levels + 1), *close = xmalloc(levels + 1);
		memset(open, '[', levels);
		memset(close, ']', levels);
		open[levels] = close[levels] = '\0';
		char *ev = xasprintf("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"},"
				     "\"x\":%s%s}}", open, close);
		int rc;
		char *err = NULL;
		char *log = feed_all(ev, strlen(ev), 0, 0, &rc, &err);
		if (over) {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, "nested deeper than 512 levels"));
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(log, "ADDED a -;");
		}
		free(open);
		free(close);
		free(ev);
		free(log);
		free(err);
	}
}

static void test_receiver_stops(void **state)
{
	(void)state;
	struct k8s_watch_stream st;
	struct seen s = { .stop_after = 2 };
	k8s_watch_stream_init(&st, 0);
	assert_int_equal(k8s_watch_stream_feed(&st, stream5, strlen(stream5), record, &s), 1);
	assert_int_equal(s.n, 2);
	assert_int_equal(k8s_watch_stream_feed(&st, "{}", 2, record, &s), -1);
	assert_int_equal(s.n, 2);
	free(s.log);
	k8s_watch_stream_free(&st);
}

static void test_event_decode(void **state)
{
	(void)state;
	struct k8s_event ev;
	char *err = NULL;
	const char *t = "{\"type\":\"ERROR\",\"object\":{\"code\":410,\"reason\":\"Expired\","
			"\"message\":\"too old\"}}";
	assert_int_equal(k8s_event_decode(t, strlen(t), &ev, &err), 0);
	assert_int_equal(ev.type, K8S_EVENT_ERROR);
	assert_int_equal(ev.code, 410);
	assert_string_equal(ev.reason, "Expired");
	assert_string_equal(ev.message, "too old");
	assert_true(k8s_event_gone(&ev));
	k8s_event_clear(&ev);
	assert_null(ev.object);

	t = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\","
	    "\"resourceVersion\":\"3\"},\"spec\":{\"n\":1}}}";
	assert_int_equal(k8s_event_decode(t, strlen(t), &ev, &err), 0);
	assert_false(k8s_event_gone(&ev));
	assert_int_equal(tree_path(ev.object, "spec.n")->i, 1);
	k8s_event_clear(&ev);

	/* the JSON parser's message and position */
	t = "{\"type\": \"ADDED\", \"object\": {\"metadata\": nul}}";
	assert_int_equal(k8s_event_decode(t, strlen(t), &ev, &err), -1);
	assert_non_null(strstr(err, "not JSON: "));
	assert_non_null(strstr(err, "line 1 column"));
	assert_null(ev.object);
	free(err);

	assert_string_equal(k8s_event_type_name(K8S_EVENT_BOOKMARK), "BOOKMARK");
	assert_string_equal(k8s_event_type_name((enum k8s_event_type)99), "?");
}

/* ---- objects and store ---- */

static struct tree *obj(const char *ns, const char *name, const char *rv)
{
	char *t;
	if (ns)
		t = xasprintf("{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\","
			      "\"resourceVersion\":\"%s\",\"managedFields\":[{\"manager\":\"m\"}]}}",
			      name, ns, rv);
	else
		t = xasprintf("{\"metadata\":{\"name\":\"%s\",\"resourceVersion\":\"%s\"}}", name,
			      rv);
	struct k8s_event ev;
	char *err = NULL;
	char *full = xasprintf("{\"type\":\"ADDED\",\"object\":%s}", t);
	assert_int_equal(k8s_event_decode(full, strlen(full), &ev, &err), 0);
	free(full);
	free(t);
	struct tree *o = ev.object;
	ev.object = NULL;
	return o;
}

struct changes {
	char *log;
};

static void on_change(enum k8s_change c, const struct tree *o, const struct tree *old, void *arg)
{
	struct changes *ch = arg;
	char *key = k8s_object_key(o);
	char *line = xasprintf("%s %s %s%s%s;", k8s_change_name(c), key,
			       k8s_object_resource_version(o), old ? "<" : "",
			       old ? k8s_object_resource_version(old) : "");
	char *log = xasprintf("%s%s", ch->log ? ch->log : "", line);
	/* stored objects never carry managedFields */
	assert_null(tree_path(o, "metadata.managedFields"));
	free(ch->log);
	free(line);
	free(key);
	ch->log = log;
}

static const char *take_log(struct changes *ch)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s", ch->log ? ch->log : "");
	free(ch->log);
	ch->log = NULL;
	return buf;
}

static void test_object_helpers(void **state)
{
	(void)state;
	struct tree *o = obj("ns", "a", "5");
	char *k = k8s_object_key(o);
	assert_string_equal(k, "ns/a");
	free(k);
	assert_string_equal(k8s_object_resource_version(o), "5");
	/* A watch event's object comes without managedFields... */
	assert_null(tree_path(o, "metadata.managedFields"));
	assert_string_equal(tree_path(o, "metadata.namespace")->text, "ns");
	tree_free(o);
	/* ...and k8s_object_strip() removes them from any other. */
	static const char with_mf[] = "{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"5\","
				      "\"managedFields\":[{\"manager\":\"m\"}]}}";
	o = tree_parse_json(with_mf, strlen(with_mf), 0, NULL);
	assert_non_null(tree_path(o, "metadata.managedFields"));
	k8s_object_strip(o);
	assert_null(tree_path(o, "metadata.managedFields"));
	assert_string_equal(tree_path(o, "metadata.resourceVersion")->text, "5");
	k8s_object_strip(o);  /* nothing left to strip */
	tree_free(o);
	o = obj(NULL, "node1", "1");
	k = k8s_object_key(o);
	assert_string_equal(k, "node1");
	free(k);
	tree_free(o);
	o = tree_new(TREE_OBJECT, NULL, 0);
	assert_null(k8s_object_key(o));
	assert_null(k8s_object_resource_version(o));
	tree_free(o);
}

static void test_store_events(void **state)
{
	(void)state;
	struct k8s_store *s = k8s_store_new();
	struct changes ch = {0};

	assert_int_equal(k8s_store_apply(s, K8S_EVENT_ADDED, obj("a", "x", "1"), on_change, &ch), 0);
	assert_string_equal(take_log(&ch), "ADDED a/x 1;");
	/* the same version again (a replayed event): nothing */
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_ADDED, obj("a", "x", "1"), on_change, &ch), 0);
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_MODIFIED, obj("a", "x", "1"), on_change, &ch),
			 0);
	assert_string_equal(take_log(&ch), "");
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_MODIFIED, obj("a", "x", "2"), on_change, &ch),
			 0);
	assert_string_equal(take_log(&ch), "MODIFIED a/x 2<1;");
	/* an ADDED for a present key with a new version is a modification */
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_ADDED, obj("a", "x", "3"), on_change, &ch), 0);
	assert_string_equal(take_log(&ch), "MODIFIED a/x 3<2;");
	/* a MODIFIED for an absent key is an addition */
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_MODIFIED, obj("b", "y", "4"), on_change, &ch),
			 0);
	assert_string_equal(take_log(&ch), "ADDED b/y 4;");
	/* deleting what is not there: nothing */
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_DELETED, obj("c", "z", "5"), on_change, &ch),
			 0);
	assert_string_equal(take_log(&ch), "");
	assert_int_equal(k8s_store_count(s), 2);
	/* the DELETED event's own object (the final state) is reported */
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_DELETED, obj("a", "x", "6"), on_change, &ch),
			 0);
	assert_string_equal(take_log(&ch), "DELETED a/x 6;");
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_DELETED, obj("a", "x", "7"), on_change, &ch),
			 0);
	assert_string_equal(take_log(&ch), "");
	assert_int_equal(k8s_store_count(s), 1);
	assert_null(k8s_store_get(s, "a", "x"));
	assert_non_null(k8s_store_get(s, "b", "y"));
	assert_non_null(k8s_store_get_key(s, "b/y"));
	/* cluster-scoped */
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_ADDED, obj(NULL, "n1", "8"), NULL, NULL), 0);
	assert_non_null(k8s_store_get(s, NULL, "n1"));
	assert_non_null(k8s_store_get(s, "", "n1"));
	/* refused: no name, or not a change */
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_ADDED, tree_new(TREE_OBJECT, NULL, 0),
					 on_change, &ch), -1);
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_BOOKMARK, obj("a", "q", "9"), on_change, &ch),
			 -1);
	assert_string_equal(take_log(&ch), "");
	k8s_store_free(s);
}

/* Stored objects are packed, and what a change callback keeps with
 * tree_ref() (the pipeline's store does) outlives its replacement and its
 * deletion in the store. */
static void keep_object(enum k8s_change c, const struct tree *o, const struct tree *old,
			void *arg)
{
	(void)old;
	struct tree **kept = arg;
	if (c != K8S_CHANGE_DELETED) {
		assert_int_equal(o->packed, TREE_PACKED_ROOT);
		tree_free(*kept);
		*kept = tree_ref((struct tree *)o);
	}
}

static void test_store_shares_objects(void **state)
{
	(void)state;
	struct k8s_store *s = k8s_store_new();
	struct tree *kept = NULL;
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_ADDED, obj("a", "x", "1"), keep_object,
					 &kept), 0);
	assert_ptr_equal(kept, k8s_store_get(s, "a", "x"));
	size_t one = k8s_store_bytes(s);
	assert_true(one > tree_bytes(kept));
	struct tree *first = tree_ref(kept);
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_MODIFIED, obj("a", "x", "2"), keep_object,
					 &kept), 0);
	assert_string_equal(k8s_object_resource_version(first), "1");
	assert_string_equal(k8s_object_resource_version(kept), "2");
	assert_int_equal(k8s_store_apply(s, K8S_EVENT_DELETED, obj("a", "x", "3"), keep_object,
					 &kept), 0);
	assert_null(k8s_store_get(s, "a", "x"));
	assert_int_equal(k8s_store_bytes(s), 0);
	assert_string_equal(k8s_object_resource_version(kept), "2");
	tree_free(first);
	tree_free(kept);
	k8s_store_free(s);
}

/* A store that keeps a few fields: those, whole, and what the store
 * reads itself; nothing else. */
static void test_object_prune(void **state)
{
	(void)state;
	static const char text[] =
		"{\"kind\":\"ServiceL2Status\",\"apiVersion\":\"metallb.io/v1beta1\","
		"\"metadata\":{\"name\":\"l2-x\",\"namespace\":\"metallb-system\","
		"\"uid\":\"u1\",\"resourceVersion\":\"7\",\"generation\":1,"
		"\"creationTimestamp\":\"2026-12-07T09:00:00Z\","
		"\"labels\":{\"metallb.io/node\":\"n1\",\"metallb.io/service-name\":\"s\"},"
		"\"ownerReferences\":[{\"kind\":\"Pod\",\"name\":\"p\"}]},"
		"\"spec\":{},\"status\":{\"node\":\"n1\",\"serviceName\":\"s\","
		"\"serviceNamespace\":\"default\",\"interfaces\":[{\"name\":\"eth0\"}]}}";
	static const char *const keep[] = {
		"metadata.creationTimestamp", "metadata.labels", "status.node",
		"status.serviceName", "status.serviceNamespace", NULL,
	};
	struct tree *o = tree_parse_json(text, strlen(text), 0, NULL);
	assert_non_null(o);
	struct tree *whole = tree_clone(o);
	k8s_object_prune(whole, NULL);
	assert_true(tree_equal(whole, o));
	k8s_object_prune(o, keep);
	char *key = k8s_object_key(o);
	assert_string_equal(key, "metallb-system/l2-x");
	free(key);
	assert_string_equal(k8s_object_resource_version(o), "7");
	assert_string_equal(tree_get_str(o, "kind"), "ServiceL2Status");
	assert_string_equal(tree_get_str(o, "apiVersion"), "metallb.io/v1beta1");
	const struct tree *md = tree_get(o, "metadata");
	assert_int_equal(md->n, 5);
	assert_string_equal(tree_get_str(md, "creationTimestamp"), "2026-12-07T09:00:00Z");
	assert_int_equal(tree_get(md, "labels")->n, 2);
	assert_null(tree_get(md, "uid"));
	assert_null(tree_get(md, "ownerReferences"));
	assert_null(tree_get(o, "spec"));
	const struct tree *st = tree_get(o, "status");
	assert_int_equal(st->n, 3);
	assert_string_equal(tree_get_str(st, "serviceNamespace"), "default");
	assert_null(tree_get(st, "interfaces"));
	/* A packed tree is read-only: left as it is. */
	struct tree *p = tree_pack(whole);
	k8s_object_prune(p, keep);
	assert_non_null(tree_path(p, "metadata.uid"));
	tree_free(p);
	tree_free(o);
}

/* The speaker's one ServiceL2Status watch keeps its own objects whole and
 * the others' pruned, told apart by the metallb.io/node label. */
static void test_object_labelled(void **state)
{
	(void)state;
	static const char text[] =
		"{\"metadata\":{\"name\":\"l2-x\",\"labels\":{\"metallb.io/node\":\"n1\","
		"\"metallb.io/nodes\":\"n2\",\"n\":7}}}";
	struct tree *o = tree_parse_json(text, strlen(text), 0, NULL);
	assert_non_null(o);
	assert_true(k8s_object_labelled(o, "metallb.io/node=n1"));
	assert_false(k8s_object_labelled(o, "metallb.io/node=n2"));
	assert_false(k8s_object_labelled(o, "metallb.io/node=n"));
	assert_false(k8s_object_labelled(o, "metallb.io/node=n10"));
	assert_true(k8s_object_labelled(o, "metallb.io/nodes=n2"));
	assert_false(k8s_object_labelled(o, "metallb.io/no=n1"));
	assert_true(k8s_object_labelled(o, "metallb.io/node"));
	assert_false(k8s_object_labelled(o, "n=7"));   /* not a string */
	assert_false(k8s_object_labelled(o, NULL));
	assert_false(k8s_object_labelled(NULL, "metallb.io/node=n1"));
	struct tree *bare = tree_parse_json("{\"metadata\":{}}", 15, 0, NULL);
	assert_false(k8s_object_labelled(bare, "metallb.io/node=n1"));
	tree_free(bare);
	tree_free(o);
}

static void relist(struct k8s_store *s, struct changes *ch, const char *const *items, size_t n)
{
	k8s_store_replace_begin(s);
	for (size_t i = 0; i < n; i += 3)
		assert_int_equal(k8s_store_replace_add(s, obj(items[i], items[i + 1], items[i + 2]),
						       on_change, ch), 0);
	k8s_store_replace_end(s, on_change, ch);
}

static void test_store_relist_diff(void **state)
{
	(void)state;
	struct k8s_store *s = k8s_store_new();
	struct changes ch = {0};
	static const char *const first[] = { "a", "x", "1", "a", "y", "1", "b", "z", "1",
					     "b", "w", "1" };
	relist(s, &ch, first, ARRAY_SIZE(first));
	assert_string_equal(take_log(&ch), "ADDED a/x 1;ADDED a/y 1;ADDED b/z 1;ADDED b/w 1;");
	/* the same list again: nothing */
	relist(s, &ch, first, ARRAY_SIZE(first));
	assert_string_equal(take_log(&ch), "");
	/* x same, y changed, z and w gone (deleted in key order), v new */
	static const char *const second[] = { "a", "y", "2", "a", "x", "1", "c", "v", "1" };
	relist(s, &ch, second, ARRAY_SIZE(second));
	assert_string_equal(take_log(&ch), "MODIFIED a/y 2<1;ADDED c/v 1;DELETED b/w 1;"
					   "DELETED b/z 1;");
	assert_int_equal(k8s_store_count(s), 3);
	/* an empty list deletes everything */
	relist(s, &ch, NULL, 0);
	assert_string_equal(take_log(&ch), "DELETED a/x 1;DELETED a/y 2;DELETED c/v 1;");
	assert_int_equal(k8s_store_count(s), 0);
	/* an item without a name is refused and does not keep anything alive */
	relist(s, &ch, first, 3);
	k8s_store_replace_begin(s);
	assert_int_equal(k8s_store_replace_add(s, tree_new(TREE_OBJECT, NULL, 0), on_change, &ch), -1);
	k8s_store_replace_end(s, on_change, &ch);
	assert_string_equal(take_log(&ch), "ADDED a/x 1;DELETED a/x 1;");
	k8s_store_free(s);
}

static void collect_keys(const char *key, const struct tree *o, void *arg)
{
	char **acc = arg;
	(void)o;
	char *s = xasprintf("%s%s,", *acc ? *acc : "", key);
	free(*acc);
	*acc = s;
}

static void count_keys(const char *key, const struct tree *o, void *arg)
{
	(void)key;
	(void)o;
	(*(size_t *)arg)++;
}

static void test_store_many(void **state)
{
	(void)state;
	struct k8s_store *s = k8s_store_new();
	for (int i = 0; i < 20000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "svc-%05d", i);
		assert_int_equal(k8s_store_apply(s, K8S_EVENT_ADDED, obj("ns", name, "1"), NULL, NULL),
				 0);
	}
	assert_int_equal(k8s_store_count(s), 20000);
	for (int i = 0; i < 20000; i += 2) {
		char name[32];
		snprintf(name, sizeof(name), "svc-%05d", i);
		assert_non_null(k8s_store_get(s, "ns", name));
		assert_int_equal(k8s_store_apply(s, K8S_EVENT_DELETED, obj("ns", name, "2"), NULL,
						 NULL), 0);
		assert_null(k8s_store_get(s, "ns", name));
	}
	assert_int_equal(k8s_store_count(s), 10000);
	size_t n = 0;
	k8s_store_foreach(s, count_keys, &n);
	assert_int_equal(n, 10000);
	k8s_store_free(s);

	/* foreach is in key order */
	s = k8s_store_new();
	static const char *const names[] = { "b", "a", "c", "aa" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		k8s_store_apply(s, K8S_EVENT_ADDED, obj("n", names[i], "1"), NULL, NULL);
	k8s_store_apply(s, K8S_EVENT_ADDED, obj(NULL, "m", "1"), NULL, NULL);
	char *keys = NULL;
	k8s_store_foreach(s, collect_keys, &keys);
	assert_string_equal(keys, "m,n/a,n/aa,n/b,n/c,");
	free(keys);
	k8s_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_stream),
		cmocka_unit_test(test_every_chunk_size),
		cmocka_unit_test(test_every_split_point),
		cmocka_unit_test(test_framing_table),
		cmocka_unit_test(test_bad_streams),
		cmocka_unit_test(test_failed_stream_stays_failed),
		cmocka_unit_test(test_long_event_in_pieces),
		cmocka_unit_test(test_size_bound),
		cmocka_unit_test(test_depth_bound),
		cmocka_unit_test(test_receiver_stops),
		cmocka_unit_test(test_event_decode),
		cmocka_unit_test(test_object_helpers),
		cmocka_unit_test(test_store_events),
		cmocka_unit_test(test_store_shares_objects),
		cmocka_unit_test(test_object_prune),
		cmocka_unit_test(test_object_labelled),
		cmocka_unit_test(test_store_relist_diff),
		cmocka_unit_test(test_store_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
