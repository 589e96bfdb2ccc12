/*
 * The model's container: init and free, the index of objects by kind,
 * namespace and name (base/hashmap.h, so that adding and looking up tens of
 * thousands of Services stays linear), lookups, diagnostics about an
 * object's field, and the small queries other modules ask of objects
 * (a Service's families, whether a peer is iBGP, which pools an
 * advertisement covers).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/util.h"
#include "model/internal.h"
#include "model/model.h"

static const char *const kind_names[KIND_COUNT_] = {
	[KIND_IPADDRESSPOOL] = "IPAddressPool",
	[KIND_L2ADVERTISEMENT] = "L2Advertisement",
	[KIND_BGPADVERTISEMENT] = "BGPAdvertisement",
	[KIND_BGPPEER] = "BGPPeer",
	[KIND_BFDPROFILE] = "BFDProfile",
	[KIND_COMMUNITY] = "Community",
	[KIND_SERVICE] = "Service",
	[KIND_NODE] = "Node",
	[KIND_NAMESPACE] = "Namespace",
	[KIND_SECRET] = "Secret",
	[KIND_ENDPOINTSLICE] = "EndpointSlice",
};

const char *obj_kind_name(enum obj_kind k)
{
	if ((unsigned)k >= KIND_COUNT_)
		return "?";
	return kind_names[k];
}

const char *ip_family_policy_name(enum ip_family_policy p)
{
	switch (p) {
	case POLICY_SINGLE_STACK:
		return "SingleStack";
	case POLICY_PREFER_DUAL_STACK:
		return "PreferDualStack";
	case POLICY_REQUIRE_DUAL_STACK:
		return "RequireDualStack";
	}
	return "?";
}

/* ------------------------------------------------------------------ */
/* the index */

/* Objects by kind, namespace and name: the key is the kind's byte, then
 * "\1namespace" or "\0" (cluster-scoped), a NUL and the name; the value
 * the index in the kind's array plus one. */
struct model_index {
	struct hashmap map;     /* copies its keys */
	struct hashmap files;   /* file name -> m->files' copy (borrows it) */
};

static struct model_index *index_get(struct model *m)
{
	if (!m->index_) {
		m->index_ = xcalloc(1, sizeof(*m->index_));
		hashmap_init(&m->index_->map, true);
		hashmap_init(&m->index_->files, false);
	}
	return m->index_;
}

struct index_key {
	char *p;
	size_t len;
	char buf[320];
};

static void index_key_make(struct index_key *k, enum obj_kind kind, const char *ns,
			   const char *name)
{
	size_t lns = ns ? strlen(ns) : 0, lname = strlen(name);
	k->len = 2 + lns + 1 + lname;
	k->p = k->len <= sizeof(k->buf) ? k->buf : xmalloc(k->len);
	k->p[0] = (char)('A' + (int)kind);
	k->p[1] = ns ? '\1' : '\0';
	if (ns)
		memcpy(k->p + 2, ns, lns);
	k->p[2 + lns] = '\0';
	memcpy(k->p + 3 + lns, name, lname);
}

static void index_key_done(struct index_key *k)
{
	if (k->p != k->buf)
		free(k->p);
}

static bool str_eq_null(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

struct obj_meta *model_meta_at(const struct model *m, enum obj_kind k, size_t i)
{
	switch (k) {
	case KIND_IPADDRESSPOOL:
		return &m->pools[i].meta;
	case KIND_L2ADVERTISEMENT:
		return &m->l2advs[i].meta;
	case KIND_BGPADVERTISEMENT:
		return &m->bgpadvs[i].meta;
	case KIND_BGPPEER:
		return &m->peers[i].meta;
	case KIND_BFDPROFILE:
		return &m->bfdprofiles[i].meta;
	case KIND_COMMUNITY:
		return &m->communities[i].meta;
	case KIND_SERVICE:
		return &m->services[i].meta;
	case KIND_NODE:
		return &m->nodes[i].meta;
	case KIND_NAMESPACE:
		return &m->namespaces[i].meta;
	case KIND_SECRET:
		return &m->secrets[i].meta;
	case KIND_ENDPOINTSLICE:
		return &m->slices[i].meta;
	case KIND_COUNT_:
		break;
	}
	return NULL;
}

size_t model_count(const struct model *m, enum obj_kind k)
{
	switch (k) {
	case KIND_IPADDRESSPOOL:
		return m->npools;
	case KIND_L2ADVERTISEMENT:
		return m->nl2advs;
	case KIND_BGPADVERTISEMENT:
		return m->nbgpadvs;
	case KIND_BGPPEER:
		return m->npeers;
	case KIND_BFDPROFILE:
		return m->nbfdprofiles;
	case KIND_COMMUNITY:
		return m->ncommunities;
	case KIND_SERVICE:
		return m->nservices;
	case KIND_NODE:
		return m->nnodes;
	case KIND_NAMESPACE:
		return m->nnamespaces;
	case KIND_SECRET:
		return m->nsecrets;
	case KIND_ENDPOINTSLICE:
		return m->nslices;
	case KIND_COUNT_:
		break;
	}
	return 0;
}

void model_index_add(struct model *m, enum obj_kind k, size_t i)
{
	index_get(m);
	const struct obj_meta *meta = model_meta_at(m, k, i);
	if (!meta->name)
		return;
	struct index_key key;
	index_key_make(&key, k, meta->namespace_, meta->name);
	/* The first object of a name is the one found. */
	if (!hashmap_find(&m->index_->map, key.p, key.len, NULL))
		hashmap_put(&m->index_->map, key.p, key.len, (void *)(uintptr_t)(i + 1), NULL);
	index_key_done(&key);
}

/* The index holds the first object of each name; (k, i) is indexed when
 * its key maps to i. */
static bool index_key_of(const struct model *m, enum obj_kind k, size_t i,
			 struct index_key *key)
{
	if (!m->index_)
		return false;
	const struct obj_meta *meta = model_meta_at(m, k, i);
	if (!meta->name)
		return false;
	index_key_make(key, k, meta->namespace_, meta->name);
	void *v = hashmap_get(&m->index_->map, key->p, key->len);
	if (v == (void *)(uintptr_t)(i + 1))
		return true;
	index_key_done(key);
	return false;
}

void model_index_del(struct model *m, enum obj_kind k, size_t i)
{
	struct index_key key;
	if (!index_key_of(m, k, i, &key))
		return;
	hashmap_del(&m->index_->map, key.p, key.len, NULL);
	index_key_done(&key);
}

void model_index_move(struct model *m, enum obj_kind k, size_t from, size_t to)
{
	struct index_key key;
	if (!index_key_of(m, k, from, &key))
		return;
	hashmap_put(&m->index_->map, key.p, key.len, (void *)(uintptr_t)(to + 1), NULL);
	index_key_done(&key);
}

size_t model_lookup(const struct model *m, enum obj_kind k, const char *ns, const char *name)
{
	if (!m->index_ || !name)
		return (size_t)-1;
	struct index_key key;
	index_key_make(&key, k, ns, name);
	void *v = hashmap_get(&m->index_->map, key.p, key.len);
	index_key_done(&key);
	return v ? (size_t)(uintptr_t)v - 1 : (size_t)-1;
}

const char *model_intern_file(struct model *m, const char *file)
{
	if (!file)
		return NULL;
	/* Objects come file after file, so the last name is nearly always the
	 * one asked for; else the map (a directory holds thousands of files,
	 * and a stream of changes adds names all the time). */
	if (m->nfiles && strcmp(m->files[m->nfiles - 1], file) == 0)
		return m->files[m->nfiles - 1];
	struct model_index *ix = index_get(m);
	const char *have = hashmap_get_str(&ix->files, file);
	if (have)
		return have;
	char **slot = VEC_PUSH(m->files, m->nfiles);
	*slot = xstrdup(file);
	hashmap_put_str(&ix->files, *slot, *slot, NULL);
	return *slot;
}

/* ------------------------------------------------------------------ */
/* init, free */

void model_init(struct model *m, const char *config_namespace)
{
	memset(m, 0, sizeof(*m));
	m->config_namespace =
		xstrdup(config_namespace ? config_namespace : MODEL_DEFAULT_CONFIG_NAMESPACE);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static const char *const common_strings[] = {
	"v1", "metallb.io/v1beta1", "metallb.io/v1beta2", "discovery.k8s.io/v1",
	"default", MODEL_DEFAULT_CONFIG_NAMESPACE,
	"LoadBalancer", "ClusterIP", "NodePort", "ExternalName",
	"Cluster", "Local", "TCP", "UDP", "SCTP",
};

char *model_strdup(const char *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(common_strings); i++)
		if (strcmp(common_strings[i], s) == 0)
			return (char *)common_strings[i];
	return xstrdup(s);
}

void model_strfree(char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(common_strings); i++)
		if (s == common_strings[i])
			return;
	free(s);
}

void meta_free(struct obj_meta *meta)
{
	model_strfree(meta->api_version);
	if (!meta->name_in_display)
		free(meta->name);
	model_strfree(meta->namespace_);
	free(meta->uid);
	free(meta->resource_version);
	labels_free(&meta->labels);
	labels_free(&meta->annotations);
	tree_free(meta->tree);
	free(meta->display);
	memset(meta, 0, sizeof(*meta));
}

void pool_free(struct pool *p)
{
	meta_free(&p->meta);
	free(p->ranges);
	free(p->range_entry);
	strv_free(p->namespaces, p->nnamespaces);
	selectors_free(p->ns_selectors, p->nns_selectors);
	selectors_free(p->svc_selectors, p->nsvc_selectors);
}

void l2adv_free(struct l2adv *a)
{
	meta_free(&a->meta);
	strv_free(a->pools, a->npools);
	selectors_free(a->pool_selectors, a->npool_selectors);
	selectors_free(a->node_selectors, a->nnode_selectors);
	strv_free(a->interfaces, a->ninterfaces);
	selectors_free(a->svc_selectors, a->nsvc_selectors);
	for (size_t i = 0; i < a->npreferred_nodes; i++)
		selector_free(&a->preferred_nodes[i].preference);
	free(a->preferred_nodes);
}

void bgpadv_free(struct bgpadv *a)
{
	meta_free(&a->meta);
	strv_free(a->communities, a->ncommunities);
	free(a->community_values);
	strv_free(a->pools, a->npools);
	selectors_free(a->pool_selectors, a->npool_selectors);
	selectors_free(a->node_selectors, a->nnode_selectors);
	strv_free(a->peers, a->npeers);
	selectors_free(a->svc_selectors, a->nsvc_selectors);
}

void bgppeer_free(struct bgppeer *p)
{
	meta_free(&p->meta);
	free(p->interface);
	selectors_free(p->node_selectors, p->nnode_selectors);
	free(p->password);
	free(p->password_secret_name);
	free(p->password_secret_namespace);
	free(p->bfd_profile);
	free(p->vrf);
	free(p->resolved_password);
}

void bfdprofile_free(struct bfdprofile *b)
{
	meta_free(&b->meta);
}

void community_free(struct community *c)
{
	meta_free(&c->meta);
	for (size_t i = 0; i < c->naliases; i++) {
		free(c->aliases[i].name);
		free(c->aliases[i].value_text);
	}
	free(c->aliases);
}

void service_free(struct service *s)
{
	meta_free(&s->meta);
	model_strfree(s->type);
	free(s->lb_class);
	model_strfree(s->external_traffic_policy);
	labels_free(&s->selector);
	for (size_t i = 0; i < s->nports; i++) {
		free(s->ports[i].name);
		model_strfree(s->ports[i].protocol);
	}
	free(s->ports);
	strv_free(s->pool_names, s->npool_names);
	free(s->sharing_key);
	free(s->cluster_ips);
	free(s->requested);
}

void node_free(struct node_obj *n)
{
	meta_free(&n->meta);
	free(n->addresses);
	free(n->internal);
}

void namespace_free(struct namespace_obj *n)
{
	meta_free(&n->meta);
}

void secret_free(struct secret *s)
{
	meta_free(&s->meta);
	free(s->type);
	for (size_t i = 0; i < s->ndata; i++) {
		free(s->data[i].key);
		if (s->data[i].value)
			memset(s->data[i].value, 0, s->data[i].len);
		free(s->data[i].value);
	}
	free(s->data);
}

void endpointslice_free(struct endpointslice *e)
{
	meta_free(&e->meta);
	free(e->service_name);
	for (size_t i = 0; i < e->nendpoints; i++) {
		free(e->endpoints[i].addresses);
		free(e->endpoints[i].node_name);
	}
	free(e->endpoints);
}

void model_free(struct model *m)
{
#define FREE_ALL(arr, n, fn)                   \
	do {                                   \
		for (size_t i_ = 0; i_ < (n); i_++) \
			fn(&(arr)[i_]);        \
		free(arr);                     \
	} while (0)
	FREE_ALL(m->pools, m->npools, pool_free);
	FREE_ALL(m->l2advs, m->nl2advs, l2adv_free);
	FREE_ALL(m->bgpadvs, m->nbgpadvs, bgpadv_free);
	FREE_ALL(m->peers, m->npeers, bgppeer_free);
	FREE_ALL(m->bfdprofiles, m->nbfdprofiles, bfdprofile_free);
	FREE_ALL(m->communities, m->ncommunities, community_free);
	FREE_ALL(m->services, m->nservices, service_free);
	FREE_ALL(m->nodes, m->nnodes, node_free);
	FREE_ALL(m->namespaces, m->nnamespaces, namespace_free);
	FREE_ALL(m->secrets, m->nsecrets, secret_free);
	FREE_ALL(m->slices, m->nslices, endpointslice_free);
#undef FREE_ALL
	strv_free(m->files, m->nfiles);
	if (m->index_) {
		hashmap_clear(&m->index_->map);
		hashmap_clear(&m->index_->files);
	}
	free(m->index_);
	free(m->config_namespace);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* lookups */

#define FIND(kind, arr, ns, name)                                            \
	do {                                                                 \
		size_t i_ = model_lookup(m, (kind), (ns), (name));           \
		return i_ == (size_t)-1 ? NULL : &m->arr[i_];                \
	} while (0)

const struct pool *model_find_pool(const struct model *m, const char *name)
{
	FIND(KIND_IPADDRESSPOOL, pools, m->config_namespace, name);
}

const struct bgppeer *model_find_peer(const struct model *m, const char *name)
{
	FIND(KIND_BGPPEER, peers, m->config_namespace, name);
}

const struct bfdprofile *model_find_bfdprofile(const struct model *m, const char *name)
{
	FIND(KIND_BFDPROFILE, bfdprofiles, m->config_namespace, name);
}

const struct namespace_obj *model_find_namespace(const struct model *m, const char *name)
{
	FIND(KIND_NAMESPACE, namespaces, NULL, name);
}

const struct node_obj *model_find_node(const struct model *m, const char *name)
{
	FIND(KIND_NODE, nodes, NULL, name);
}

const struct secret *model_find_secret(const struct model *m, const char *ns, const char *name)
{
	FIND(KIND_SECRET, secrets, ns, name);
}

#undef FIND

/* ------------------------------------------------------------------ */
/* diagnostics */

struct diag *model_vdiag(struct diag_list *d, enum diag_level level, const struct obj_meta *m,
			 const char *path, const char *fmt, va_list ap)
{
	int line = m->line;
	if (m->tree && path && *path) {
		int l = tree_path_line(m->tree, path);
		if (l > 0)
			line = l;
	}
	diag_vadd(d, level, m->file, line, m->display, path, fmt, ap);
	struct diag *dg = &d->items[d->n - 1];
	diag_set_object(dg, (int)m->kind, m->namespace_, m->name);
	return dg;
}

void model_diag(struct diag_list *d, enum diag_level level, const struct obj_meta *m,
		const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	model_vdiag(d, level, m, path, fmt, ap);
	va_end(ap);
}

char *meta_where(const struct obj_meta *m, const char *path)
{
	if (!m->file)
		return xstrdup("");
	int line = m->line;
	if (m->tree && path && *path) {
		int l = tree_path_line(m->tree, path);
		if (l > 0)
			line = l;
	}
	if (line > 0)
		return xasprintf(" (%s:%d)", m->file, line);
	return xasprintf(" (%s)", m->file);
}

/* ------------------------------------------------------------------ */
/* queries */

size_t service_families(const struct service *s, enum ip_family out[2])
{
	if (s->nfamilies > 0) {
		for (size_t i = 0; i < s->nfamilies && i < 2; i++)
			out[i] = s->families[i];
		return s->nfamilies > 2 ? 2 : s->nfamilies;
	}
	if (s->ncluster_ips > 0) {
		size_t n = 0;
		for (size_t i = 0; i < s->ncluster_ips && n < 2; i++) {
			enum ip_family f = s->cluster_ips[i].family;
			if (n == 1 && out[0] == f)
				continue;
			out[n++] = f;
		}
		return n;
	}
	out[0] = IP_FAMILY_V4;
	if (s->policy == POLICY_SINGLE_STACK)
		return 1;
	out[1] = IP_FAMILY_V6;
	return 2;
}

bool service_is_load_balancer(const struct service *s)
{
	return s->type && strcmp(s->type, "LoadBalancer") == 0;
}

/* A value of 0 is "unknown" for both keys and sorts after every known one. */
static int known_first_cmp(uint64_t a, uint64_t b)
{
	if (a == b)
		return 0;
	if (!a || !b)
		return a ? -1 : 1;
	return a < b ? -1 : 1;
}

int service_asked_cmp(uint64_t created_a, uint64_t seen_a, uint64_t created_b, uint64_t seen_b)
{
	int c = known_first_cmp(created_a, created_b);
	return c ? c : known_first_cmp(seen_a, seen_b);
}

const struct pool *model_pool_containing(const struct model *m, const struct ip_addr *a)
{
	for (size_t i = 0; i < m->npools; i++) {
		const struct pool *p = &m->pools[i];
		if (p->meta.invalid)
			continue;
		for (size_t k = 0; k < p->nranges; k++)
			if (ip_range_contains(&p->ranges[k], a))
				return p;
	}
	return NULL;
}

bool bgppeer_is_ibgp(const struct bgppeer *p)
{
	if (p->dynamic_asn == DYNAMIC_ASN_INTERNAL)
		return true;
	if (p->dynamic_asn == DYNAMIC_ASN_EXTERNAL)
		return false;
	uint32_t local = p->local_asn ? p->local_asn : p->my_asn;
	return p->peer_asn == local;
}

static bool names_has(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

static bool selects_pool(char *const *names, size_t nnames, const struct label_selector *sels,
			 size_t nsels, const struct pool *p)
{
	if (nnames == 0 && nsels == 0)
		return true;
	if (names_has(names, nnames, p->meta.name))
		return true;
	return selectors_match_any(sels, nsels, &p->meta.labels, false);
}

bool l2adv_selects_pool(const struct l2adv *a, const struct pool *p)
{
	return selects_pool(a->pools, a->npools, a->pool_selectors, a->npool_selectors, p);
}

bool bgpadv_selects_pool(const struct bgpadv *a, const struct pool *p)
{
	return selects_pool(a->pools, a->npools, a->pool_selectors, a->npool_selectors, p);
}

bool bgpadv_selects_peer(const struct bgpadv *a, const struct bgppeer *p)
{
	return a->npeers == 0 || names_has(a->peers, a->npeers, p->meta.name);
}

/* ------------------------------------------------------------------ */
/* dropping positions */

static void drop_tree(struct obj_meta *meta)
{
	tree_free(meta->tree);
	meta->tree = NULL;
}

void model_drop_trees(struct model *m)
{
#define DROP(arr, n)                              \
	for (size_t i_ = 0; i_ < m->n; i_++)      \
		drop_tree(&m->arr[i_].meta)
	DROP(pools, npools);
	DROP(l2advs, nl2advs);
	DROP(bgpadvs, nbgpadvs);
	DROP(peers, npeers);
	DROP(bfdprofiles, nbfdprofiles);
	DROP(communities, ncommunities);
	DROP(services, nservices);
	DROP(nodes, nnodes);
	DROP(namespaces, nnamespaces);
	DROP(secrets, nsecrets);
	DROP(slices, nslices);
#undef DROP
}

/* ------------------------------------------------------------------ */
/* removal */

/* Free one object of kind k at index i (its fields; the slot stays). */
static void free_at(struct model *m, enum obj_kind k, size_t i)
{
	switch (k) {
	case KIND_IPADDRESSPOOL:
		pool_free(&m->pools[i]);
		break;
	case KIND_L2ADVERTISEMENT:
		l2adv_free(&m->l2advs[i]);
		break;
	case KIND_BGPADVERTISEMENT:
		bgpadv_free(&m->bgpadvs[i]);
		break;
	case KIND_BGPPEER:
		bgppeer_free(&m->peers[i]);
		break;
	case KIND_BFDPROFILE:
		bfdprofile_free(&m->bfdprofiles[i]);
		break;
	case KIND_COMMUNITY:
		community_free(&m->communities[i]);
		break;
	case KIND_SERVICE:
		service_free(&m->services[i]);
		break;
	case KIND_NODE:
		node_free(&m->nodes[i]);
		break;
	case KIND_NAMESPACE:
		namespace_free(&m->namespaces[i]);
		break;
	case KIND_SECRET:
		secret_free(&m->secrets[i]);
		break;
	case KIND_ENDPOINTSLICE:
		endpointslice_free(&m->slices[i]);
		break;
	case KIND_COUNT_:
		break;
	}
}

/* The kind's array, its element size and its count. */
static void *kind_array(struct model *m, enum obj_kind k, size_t *size, size_t **count)
{
#define ARR(arr, n)                       \
	do {                              \
		*size = sizeof(*m->arr);  \
		*count = &m->n;           \
		return m->arr;            \
	} while (0)
	switch (k) {
	case KIND_IPADDRESSPOOL:
		ARR(pools, npools);
	case KIND_L2ADVERTISEMENT:
		ARR(l2advs, nl2advs);
	case KIND_BGPADVERTISEMENT:
		ARR(bgpadvs, nbgpadvs);
	case KIND_BGPPEER:
		ARR(peers, npeers);
	case KIND_BFDPROFILE:
		ARR(bfdprofiles, nbfdprofiles);
	case KIND_COMMUNITY:
		ARR(communities, ncommunities);
	case KIND_SERVICE:
		ARR(services, nservices);
	case KIND_NODE:
		ARR(nodes, nnodes);
	case KIND_NAMESPACE:
		ARR(namespaces, nnamespaces);
	case KIND_SECRET:
		ARR(secrets, nsecrets);
	case KIND_ENDPOINTSLICE:
		ARR(slices, nslices);
	case KIND_COUNT_:
		break;
	}
#undef ARR
	*size = 0;
	*count = NULL;
	return NULL;
}

/* Configuration kinds keep their model order on removal: validation
 * judges "the later of two overlapping pools" and planners keep "the first
 * of duplicates" by it.  They are few, so shifting costs nothing. */
static bool kind_keeps_order(enum obj_kind k)
{
	switch (k) {
	case KIND_IPADDRESSPOOL:
	case KIND_L2ADVERTISEMENT:
	case KIND_BGPADVERTISEMENT:
	case KIND_BGPPEER:
	case KIND_BFDPROFILE:
	case KIND_COMMUNITY:
		return true;
	default:
		return false;
	}
}

int model_remove(struct model *m, enum obj_kind k, const char *ns, const char *name)
{
	size_t i = model_lookup(m, k, ns, name);
	if (i == (size_t)-1)
		return -1;
	size_t size, *count;
	char *arr = kind_array(m, k, &size, &count);
	size_t n = *count;
	model_index_del(m, k, i);
	free_at(m, k, i);
	if (kind_keeps_order(k)) {
		for (size_t j = i + 1; j < n; j++)
			model_index_move(m, k, j, j - 1);
		memmove(arr + i * size, arr + (i + 1) * size, (n - 1 - i) * size);
	} else if (i != n - 1) {
		model_index_move(m, k, n - 1, i);
		memcpy(arr + i * size, arr + (n - 1) * size, size);
	}
	(*count)--;
	memset(arr + *count * size, 0, size);
	return 0;
}

const struct service *model_find_service(const struct model *m, const char *ns,
					 const char *name)
{
	if (!m->index_) {
		/* A model assembled by hand (tests, benchmarks) has no index. */
		for (size_t i = 0; i < m->nservices; i++)
			if (m->services[i].meta.name && name &&
			    strcmp(m->services[i].meta.name, name) == 0 &&
			    str_eq_null(m->services[i].meta.namespace_, ns))
				return &m->services[i];
		return NULL;
	}
	size_t i = model_lookup(m, KIND_SERVICE, ns, name);
	return i == (size_t)-1 ? NULL : &m->services[i];
}
