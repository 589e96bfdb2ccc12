/*
 * Typed objects: MetalLB's configuration kinds (metallb.io IPAddressPool,
 * L2Advertisement, BGPAdvertisement, BGPPeer v1beta1/v1beta2, BFDProfile,
 * Community) and the Kubernetes kinds ironlb reads (v1 Service, Node,
 * Namespace, Secret; discovery.k8s.io/v1 EndpointSlice).
 *
 * Data flow: tree (manifest/tree.h) -> model_add() decodes one object,
 * checking each field on its own (types, syntax, ranges) and applying
 * MetalLB's defaults -> model_validate() checks what spans objects
 * (overlapping pools, references, aggregation lengths against pools,
 * localPref conflicts, ...) and resolves references.  Both report into a
 * diag_list with file:line, Kind namespace/name and the field path.
 *
 * An object with a field-level error is still added (with `invalid` set) so
 * that later checks can name it, but the allocator and the announcers skip
 * invalid configuration objects.  A model owns everything it points to,
 * including the trees it was decoded from (kept for error positions).
 */
#ifndef IRONLB_MODEL_MODEL_H
#define IRONLB_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"
#include "manifest/tree.h"
#include "net/ip.h"

/* The namespace MetalLB reads its configuration from. */
#define MODEL_DEFAULT_CONFIG_NAMESPACE "metallb-system"

/* ------------------------------------------------------------------ */
/* labels and selectors */

struct kv {
	char *key;
	char *value;    /* set by labels_set(): in key's block (labels_pack(): all in one) */
};

/* Sorted by key, keys unique. */
struct labels {
	uint32_t n;
	bool packed;    /* labels_pack(): the strings are in the array's block */
	struct kv *items;
};

const char *labels_get(const struct labels *l, const char *key);
void labels_set(struct labels *l, const char *key, const char *value);
/* Put the array and its strings in one block (a decoded set that will not
 * change: one allocation instead of 1 + n; labels_set() still works). */
void labels_pack(struct labels *l);
void labels_free(struct labels *l);

enum sel_op { SEL_OP_IN, SEL_OP_NOT_IN, SEL_OP_EXISTS, SEL_OP_DOES_NOT_EXIST };

struct sel_req {
	char *key;
	enum sel_op op;
	size_t nvalues;
	char **values;
};

/* metav1.LabelSelector: matchLabels AND every matchExpressions entry.  An
 * empty selector matches everything. */
struct label_selector {
	struct labels match_labels;
	size_t nreqs;
	struct sel_req *reqs;
};

bool selector_matches(const struct label_selector *s, const struct labels *l);
/* A list of selectors matches when any of them matches; `empty_matches`
 * says what an empty list means for that field. */
bool selectors_match_any(const struct label_selector *s, size_t n, const struct labels *l,
			 bool empty_matches);

/* ------------------------------------------------------------------ */
/* common object metadata */

enum obj_kind {
	KIND_IPADDRESSPOOL,
	KIND_L2ADVERTISEMENT,
	KIND_BGPADVERTISEMENT,
	KIND_BGPPEER,
	KIND_BFDPROFILE,
	KIND_COMMUNITY,
	KIND_SERVICE,
	KIND_NODE,
	KIND_NAMESPACE,
	KIND_SECRET,
	KIND_ENDPOINTSLICE,
	KIND_COUNT_
};

const char *obj_kind_name(enum obj_kind k); /* "IPAddressPool", ... */

struct obj_meta {
	enum obj_kind kind;
	int line;                 /* of the object in file (beside kind: no padding) */
	char *api_version;        /* "metallb.io/v1beta2" */
	char *name;
	char *namespace_;         /* NULL for cluster-scoped kinds (Node, Namespace) */
	char *uid;
	char *resource_version;
	struct labels labels;
	struct labels annotations;
	const char *file;         /* position of the object; NULL for API objects */
	struct tree *tree;        /* the object as read (owned), for field positions */
	char *display;            /* "IPAddressPool metallb-system/best" */
	bool invalid;             /* a field-level error was reported */
	bool name_in_display;     /* decoded: name is the end of display's block */
};

/* Add a diagnostic about field `path` of an object (line looked up in its
 * tree; the object's line when the field is absent). */
void model_diag(struct diag_list *d, enum diag_level level, const struct obj_meta *m,
		const char *path, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------------ */
/* metallb.io configuration */

struct pool {
	struct obj_meta meta;
	size_t nranges;
	struct ip_range *ranges;     /* as written (CIDRs masked), in order */
	bool auto_assign;            /* default true */
	bool avoid_buggy_ips;
	/* spec.serviceAllocation */
	bool has_service_allocation;
	int priority;                /* 0 = unset (last) */
	size_t nnamespaces;
	char **namespaces;
	size_t nns_selectors;
	struct label_selector *ns_selectors;
	size_t nsvc_selectors;
	struct label_selector *svc_selectors;
	/* added: */
	size_t *range_entry;         /* ranges[i] is spec.addresses[range_entry[i]] */
};

/* spec.preferredNodeSelectors of an L2Advertisement (MetalLB: soft
 * preference in the L2 election; weights of matching terms add up). */
struct preferred_node_selector {
	int weight;                  /* 1..100 */
	struct label_selector preference;
};

struct l2adv {
	struct obj_meta meta;
	size_t npools;
	char **pools;                        /* spec.ipAddressPools */
	size_t npool_selectors;
	struct label_selector *pool_selectors;
	size_t nnode_selectors;
	struct label_selector *node_selectors;
	size_t ninterfaces;
	char **interfaces;
	size_t nsvc_selectors;
	struct label_selector *svc_selectors;
	/* added: */
	size_t npreferred_nodes;
	struct preferred_node_selector *preferred_nodes;
};

enum community_kind { COMMUNITY_STANDARD, COMMUNITY_LARGE };

struct community_value {
	enum community_kind kind;
	uint32_t a, b, c;            /* standard: a:b (16-bit each); large: a:b:c */
};

/* Parse "A:B" or "large:A:B:C"; -1 with a reason otherwise. */
int community_parse(const char *s, struct community_value *out, char *why, size_t whylen);
char *community_format(const struct community_value *c, char *buf, size_t len);

struct bgpadv {
	struct obj_meta meta;
	int aggregation_length;      /* default 32 */
	int aggregation_length_v6;   /* default 128 */
	bool has_local_pref;
	uint32_t local_pref;
	size_t ncommunities;
	char **communities;          /* as written: literal or alias name */
	struct community_value *community_values; /* resolved by model_validate */
	size_t npools;
	char **pools;
	size_t npool_selectors;
	struct label_selector *pool_selectors;
	size_t nnode_selectors;
	struct label_selector *node_selectors;
	size_t npeers;
	char **peers;                /* BGPPeer names; empty = all */
	size_t nsvc_selectors;
	struct label_selector *svc_selectors;
};

enum dynamic_asn { DYNAMIC_ASN_NONE, DYNAMIC_ASN_INTERNAL, DYNAMIC_ASN_EXTERNAL };

struct bgppeer {
	struct obj_meta meta;
	uint32_t my_asn;
	uint32_t peer_asn;           /* 0 when dynamic */
	enum dynamic_asn dynamic_asn;
	uint32_t local_asn;          /* 0 = unset */
	bool has_peer_address;
	struct ip_addr peer_address;
	char *interface;             /* spec.interface (unnumbered), or NULL */
	uint16_t peer_port;          /* default 179 */
	bool has_source_address;
	struct ip_addr source_address;
	bool has_router_id;
	struct ip_addr router_id;    /* IPv4 */
	uint32_t hold_time_s;        /* derived: default 90 */
	uint32_t keepalive_time_s;   /* derived: hold/3 */
	uint32_t connect_time_s;     /* default 10 */
	bool has_hold_time, has_keepalive_time, has_connect_time; /* as written */
	size_t nnode_selectors;
	struct label_selector *node_selectors;
	char *password;              /* literal, or NULL */
	char *password_secret_name;  /* spec.passwordSecret.name, or NULL */
	char *password_secret_namespace;
	char *bfd_profile;
	bool enable_graceful_restart;
	bool ebgp_multihop;
	char *vrf;
	bool disable_mp;
	bool dual_stack_address_family;
	bool is_v1beta1;
	/* resolved by model_validate: */
	char *resolved_password;     /* from password or the Secret */
	const struct bfdprofile *bfd;
};

/* True when the session is iBGP (same AS, or dynamicASN internal). */
bool bgppeer_is_ibgp(const struct bgppeer *p);

struct bfdprofile {
	struct obj_meta meta;
	uint32_t receive_interval_ms;   /* default 300, 10..60000 */
	uint32_t transmit_interval_ms;  /* default 300, 10..60000 */
	uint32_t detect_multiplier;     /* default 3, 2..255 */
	uint32_t echo_interval_ms;      /* default 50, 10..60000 */
	bool echo_mode;
	bool passive_mode;
	uint32_t minimum_ttl;           /* default 254, 1..254 */
};

struct community_alias {
	char *name;
	char *value_text;
	struct community_value value;
	bool valid;
	size_t index;                  /* position in spec.communities */
};

struct community {
	struct obj_meta meta;
	size_t naliases;
	struct community_alias *aliases;
};

/* ------------------------------------------------------------------ */
/* Kubernetes kinds */

enum ip_family_policy {
	POLICY_SINGLE_STACK,
	POLICY_PREFER_DUAL_STACK,
	POLICY_REQUIRE_DUAL_STACK,
};

const char *ip_family_policy_name(enum ip_family_policy p);

struct svc_port {
	char *name;
	char *protocol;               /* "TCP" (default), "UDP", "SCTP" */
	int port;
};

struct service {
	struct obj_meta meta;
	/* status.loadBalancer.ingress[*].ip, in order (what it holds now) */
	struct ip_addr ingress[2];
	char *type;                   /* "ClusterIP" (default), "LoadBalancer", ... */
	char *lb_class;               /* spec.loadBalancerClass or NULL */
	char *external_traffic_policy;/* "Cluster" (default) or "Local" */
	/* Blocks of two, allocated when the first address is set (most
	 * Services have neither; inline they were 128 of a Service's 464
	 * bytes): */
	struct ip_addr *cluster_ips;  /* spec.clusterIPs (API server), in order */
	/* requests, from spec.loadBalancerIP and the annotations (metallb.io/
	 * wins over metallb.universe.tf/) */
	struct ip_addr *requested;    /* at most one per family (a block of two) */
	struct labels selector;
	size_t nports;
	struct svc_port *ports;
	size_t npool_names;
	char **pool_names;            /* address-pool annotation, comma-separated */
	char *sharing_key;            /* allow-shared-ip */
	enum ip_family_policy policy; /* default SingleStack */
	enum ip_family families[2];   /* spec.ipFamilies, or derived (see below) */
	/* When it asked (service_asked_cmp()): metadata.creationTimestamp in
	 * microseconds since the epoch (0: none, a manifest not yet applied),
	 * and the order in which ironlb first read it (set by the pipeline:
	 * file order, then document order, then later arrivals; 0: unknown). */
	uint64_t created_us;
	uint64_t seen;
	/* The counts of the arrays above (at most two each) and the flags in
	 * one word: the model holds a Service per Service in the cluster, and
	 * with a byte each the addresses' alignment made it 16 bytes longer. */
	unsigned nfamilies : 2;
	unsigned ncluster_ips : 2;
	unsigned nrequested : 2;
	unsigned ningress : 2;
	bool has_policy : 1;
	bool request_invalid : 1;     /* the request could not be parsed: no allocation */
};

/* The families a Service asks for, primary first: spec.ipFamilies when set,
 * else the families of spec.clusterIPs, else [IPv4] for SingleStack and
 * [IPv4, IPv6] for the dual-stack policies (standalone default). */
size_t service_families(const struct service *s, enum ip_family out[2]);
bool service_is_load_balancer(const struct service *s);

/* Who asked first, for an address two Services want and cannot share:
 * the older creationTimestamp; one without a timestamp after every one
 * with; then the order of reading (`seen`, unknown last).  0 when neither
 * decides (the caller goes on by namespace/name).  Takes the two fields so
 * that the allocator can order its own records the same way. */
int service_asked_cmp(uint64_t created_a, uint64_t seen_a, uint64_t created_b,
		      uint64_t seen_b);

struct node_obj {
	struct obj_meta meta;
	bool network_unavailable;     /* condition NetworkUnavailable=True */
	bool not_ready;               /* condition Ready=False or Ready=Unknown */
	bool excluded;                /* label node.kubernetes.io/exclude-from-external-load-balancers */
	size_t naddresses;
	struct ip_addr *addresses;    /* status.addresses (InternalIP, ExternalIP) */
	size_t ninternal;
	struct ip_addr *internal;     /* the InternalIP ones alone (failure detector members) */
	/* Not decoded: `ironlb run` and `ironlb speaker` set it while their
	 * failure detector holds the node dead or left (the speaker also while
	 * the node is not_ready); such a node is not a Layer 2 candidate. */
	bool member_down;
};

struct namespace_obj {
	struct obj_meta meta;
};

struct secret_kv {
	char *key;
	uint8_t *value;               /* decoded from base64 (data) or stringData */
	size_t len;
};

struct secret {
	struct obj_meta meta;
	char *type;                   /* default "Opaque" */
	size_t ndata;
	struct secret_kv *data;
};

struct endpoint {
	size_t naddresses;
	struct ip_addr *addresses;
	char *node_name;
	bool ready;                   /* conditions.ready (unset = true) */
	bool serving;                 /* conditions.serving (unset = ready) */
};

struct endpointslice {
	struct obj_meta meta;
	char *service_name;           /* label kubernetes.io/service-name */
	enum ip_family address_type;
	size_t nendpoints;
	struct endpoint *endpoints;
};

/* ------------------------------------------------------------------ */
/* the model: everything read from one set of manifests or one API view */

struct model {
	char *config_namespace;       /* metallb.io objects are read from here */
	size_t npools;        struct pool *pools;
	size_t nl2advs;       struct l2adv *l2advs;
	size_t nbgpadvs;      struct bgpadv *bgpadvs;
	size_t npeers;        struct bgppeer *peers;
	size_t nbfdprofiles;  struct bfdprofile *bfdprofiles;
	size_t ncommunities;  struct community *communities;
	size_t nservices;     struct service *services;
	size_t nnodes;        struct node_obj *nodes;
	size_t nnamespaces;   struct namespace_obj *namespaces;
	size_t nsecrets;      struct secret *secrets;
	size_t nslices;       struct endpointslice *slices;
	size_t nskipped;      /* objects of kinds ironlb does not read */
	/* added: */
	size_t nfiles;        /* file names the objects' meta.file point at (owned) */
	char **files;
	struct model_index *index_; /* private: objects by kind/namespace/name */
};

void model_init(struct model *m, const char *config_namespace);
void model_free(struct model *m);

/* The first valid pool (in model order) one of whose ranges holds a: the
 * pool an address a Service holds came from; NULL for none. */
const struct pool *model_pool_containing(const struct model *m, const struct ip_addr *a);

/* Decode one object tree (takes ownership of it).  Kinds ironlb does not
 * read get a note and are dropped.  Returns 0 when the object was added
 * without error, 1 when skipped, -1 when it had errors (it is added with
 * meta.invalid set unless it could not be identified at all). */
int model_add(struct model *m, struct tree *obj, struct diag_list *d);

/*
 * Changing a model in place, so that one model can live as long as the
 * daemon and follow the objects one change at a time:
 *
 * model_upsert() decodes like model_add(), but an object of the same kind,
 * namespace and name is replaced where it stands instead of being reported
 * as a duplicate (*replaced says which happened).  When the new version
 * cannot be identified (no kind, no name) nothing changes and -1 is
 * returned; a version with field errors replaces the old one with
 * meta.invalid set, as model_add() would have added it.
 *
 * model_remove() removes the object of that kind, namespace (NULL for
 * cluster-scoped kinds; the config namespace for metallb.io kinds) and
 * name: 0 when removed, -1 when there was none.
 *
 * Pointer stability (what a holder of `&m->services[i]` may keep):
 *   - model_add() / an upsert that adds may move the whole array of that
 *     kind (it grows): every pointer into that kind's array is void; the
 *     arrays of other kinds do not move.
 *   - an upsert that replaces keeps the object at its index and address,
 *     but frees and replaces everything it points to (its strings, labels,
 *     ranges): pointers to the object stay valid, pointers into its fields
 *     do not.
 *   - model_remove() of a configuration kind (IPAddressPool,
 *     L2Advertisement, BGPAdvertisement, BGPPeer, BFDProfile, Community)
 *     shifts the later objects of that kind down one place, keeping model
 *     order (it decides which of two overlapping pools is refused, and
 *     which of two duplicates planners keep); for the other kinds (Service,
 *     Node, Namespace, Secret, EndpointSlice: the many) the last object of
 *     the kind moves into the freed slot, in O(1).  Either way pointers to
 *     the removed object and to the moved ones are void.
 *   - Indices are as unstable as pointers: refer to objects by kind,
 *     namespace and name across changes (the allocator and the incremental
 *     planners do).
 *   - model_validate() resolves references into pointers (a BGPPeer's
 *     BFDProfile) and sets `invalid` on objects; after changing
 *     configuration kinds run it again (the `invalid` it set on other
 *     objects is not cleared: a pipeline that needs that re-decodes them).
 */
int model_upsert(struct model *m, struct tree *obj, struct diag_list *d, bool *replaced);
int model_remove(struct model *m, enum obj_kind k, const char *ns, const char *name);

/* Free the object trees kept for error positions, once the model is
 * validated and will produce no more diagnostics (the daemon keeps the
 * model running for a long time; 1,000 Services' trees are megabytes).
 * Diagnostics made afterwards point at the object's line only. */
void model_drop_trees(struct model *m);

/* Cross-object validation and reference resolution.  Returns the number of
 * errors it added.
 * (added:) An object an error is reported on gets `invalid` too: the later
 * of two overlapping pools, an advertisement whose aggregation length or
 * localPref is refused or whose community alias does not resolve, a peer
 * whose password Secret cannot be used, that duplicates a session or that
 * has BFD echo towards an IPv6 pool.  Not for Services (the allocator
 * decides and reports), nor for references to missing pools, peers or BFD
 * profiles (reported; the rest of the object still applies, as in
 * MetalLB's daemon).  It may run again on the same model. */
size_t model_validate(struct model *m, struct diag_list *d);
/* What model_validate() checks of one Service (its pool names and
 * requested addresses against the pools), for a Service upserted into a
 * validated model whose configuration did not change.  Cost: the pools'
 * ranges, sorted once per call. */
size_t model_validate_service(const struct model *m, const struct service *s,
			      struct diag_list *d);

/* Lookups by name (configuration kinds: in the config namespace). */
const struct pool *model_find_pool(const struct model *m, const char *name);
const struct bgppeer *model_find_peer(const struct model *m, const char *name);
const struct bfdprofile *model_find_bfdprofile(const struct model *m, const char *name);
const struct namespace_obj *model_find_namespace(const struct model *m, const char *name);
const struct node_obj *model_find_node(const struct model *m, const char *name);
const struct service *model_find_service(const struct model *m, const char *ns,
					 const char *name);
const struct secret *model_find_secret(const struct model *m, const char *ns,
				       const char *name);
/* Resolve a community literal or alias name. */
int model_resolve_community(const struct model *m, const char *text,
			    struct community_value *out);

/* Which pools an advertisement announces: the pools it names, plus those
 * its ipAddressPoolSelectors match; every pool when it has neither. */
bool l2adv_selects_pool(const struct l2adv *a, const struct pool *p);
bool bgpadv_selects_pool(const struct bgpadv *a, const struct pool *p);
/* Whether a BGPAdvertisement announces to a peer (an empty list: all). */
bool bgpadv_selects_peer(const struct bgpadv *a, const struct bgppeer *p);

/* A warning for a Service given address a from pool: a /24 network or
 * broadcast address, or a Subnet-Router anycast address, in a pool that an
 * L2Advertisement announces on the LAN.  NULL when there is nothing to
 * say; the caller frees the text. */
char *model_address_warning(const struct model *m, const char *pool, const struct ip_addr *a);

/* Service annotation names (both prefixes are read; metallb.io/ wins). */
#define ANNOT_PREFIX_NEW "metallb.io/"
#define ANNOT_PREFIX_OLD "metallb.universe.tf/"

#endif
