/*
 * libFuzzer harness for the watch stream (src/k8s/k8s_watch.c): the bytes
 * are a watch response body from the API server, which ironlb must survive
 * whatever it holds.
 *
 * The input goes through k8s_watch_stream twice: whole, and cut into
 * pieces whose sizes come from a generator seeded by the input.  Framing
 * is byte by byte, so both runs must deliver the same events (type, key,
 * resourceVersion, ERROR code, 410 or not) and end the same way, with the
 * same error message.  Every event's object is applied to a k8s_store,
 * whose content must then agree with the event (present after ADDED and
 * MODIFIED, absent after DELETED) and whose count must match a walk over
 * it.  The first byte picks a small object limit now and then, so the size
 * bound is exercised too.  A broken property aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "k8s/k8s_watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	uint64_t hash;           /* of the sequence of events */
	size_t events;
	struct k8s_store *store;
};

static void mix(uint64_t *h, const char *s)
{
	for (; s && *s; s++) {
		*h ^= (unsigned char)*s;
		*h *= 0x100000001b3ull;
	}
	*h ^= 0xff;
	*h *= 0x100000001b3ull;
}

static int on_event(struct k8s_event *ev, void *arg)
{
	struct run *r = arg;
	char code[16];
	char *key = k8s_object_key(ev->object);
	mix(&r->hash, k8s_event_type_name(ev->type));
	mix(&r->hash, key);
	mix(&r->hash, k8s_object_resource_version(ev->object));
	snprintf(code, sizeof(code), "%d%c", ev->code, k8s_event_gone(ev) ? 'g' : '-');
	mix(&r->hash, code);
	r->events++;
	if (!ev->object)
		abort();
	switch (ev->type) {
	case K8S_EVENT_ADDED:
	case K8S_EVENT_MODIFIED:
	case K8S_EVENT_DELETED: {
		if (!key)
			abort();  /* the decoder promised a name */
		struct tree *o = ev->object;
		ev->object = NULL;
		enum k8s_event_type t = ev->type;
		if (k8s_store_apply(r->store, t, o, NULL, NULL) != 0)
			abort();
		const struct tree *in = k8s_store_get_key(r->store, key);
		if ((t == K8S_EVENT_DELETED) != (in == NULL))
			abort();
		if (in && tree_path(in, "metadata.managedFields"))
			abort();
		break;
	}
	case K8S_EVENT_BOOKMARK:
		if (!k8s_object_resource_version(ev->object))
			abort();
		break;
	case K8S_EVENT_ERROR:
		break;
	}
	free(key);
	return 0;
}

static void count(const char *key, const struct tree *obj, void *arg)
{
	(void)key;
	(void)obj;
	(*(size_t *)arg)++;
}

/* Feed in pieces (sizes from seed; seed 0: all at once).  Returns the
 * outcome (0 or -1) and the error text in *err. */
static int feed(const uint8_t *data, size_t size, size_t max, uint64_t seed, struct run *r,
		char **err)
{
	struct k8s_watch_stream st;
	k8s_watch_stream_init(&st, max);
	r->hash = 0xcbf29ce484222325ull;
	r->events = 0;
	r->store = k8s_store_new();
	int rc = 0;
	size_t off = 0;
	while (off < size && rc == 0) {
		size_t n = size - off;
		if (seed) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			size_t want = (size_t)(seed >> 33) % 64 + 1;
			if (want < n)
				n = want;
		}
		rc = k8s_watch_stream_feed(&st, (const char *)data + off, n, on_event, r);
		off += n;
	}
	if (rc == 0)
		rc = k8s_watch_stream_end(&st);
	if (rc == 1 || (rc == -1) != (st.error != NULL))
		abort();
	if (st.len > st.max_object || st.cap > st.max_object)
		abort();
	*err = st.error ? xstrdup(st.error) : NULL;
	size_t n = 0;
	k8s_store_foreach(r->store, count, &n);
	if (n != k8s_store_count(r->store))
		abort();
	k8s_store_free(r->store);
	k8s_watch_stream_free(&st);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max = size && data[0] % 8 == 0 ? 64 + data[0] : 0;
	uint64_t seed = 1;
	for (size_t i = 0; i < size && i < 16; i++)
		seed = seed * 31 + data[i];
	struct run a, b;
	char *ea = NULL, *eb = NULL;
	int ra = feed(data, size, max, 0, &a, &ea);
	int rb = feed(data, size, max, seed | 1, &b, &eb);
	if (ra != rb || a.events != b.events || a.hash != b.hash)
		abort();
	if ((ea == NULL) != (eb == NULL) || (ea && strcmp(ea, eb) != 0))
		abort();
	free(ea);
	free(eb);
	return 0;
}
