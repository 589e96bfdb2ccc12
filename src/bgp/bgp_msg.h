/*
 * BGP-4 message codec: bytes in, typed messages out, and back.  No sockets,
 * no timers, no state beyond what each call is given.
 *
 * Receiving: the session layer appends what TCP delivered to a buffer and
 * calls bgp_frame() on it.  A complete message comes back as its type and
 * length; a broken header comes back as the NOTIFICATION to send (RFC 4271
 * §6.1).  The body (the bytes after the 19-byte header) then goes to the
 * decoder for its type.  Every decoder reads through a struct rbuf, checks
 * each field against the RFC section cited beside the check, and on a
 * fault fills a struct bgp_notify with the code, subcode and data that the
 * RFC asks for.  Nothing from the network is asserted on.
 *
 * UPDATE errors are not all fatal (RFC 7606): bgp_update_decode() returns
 * -1 only for "session reset"; otherwise the message decodes and
 * u->action says whether to apply it as is, apply it without the
 * attributes it discarded, or withdraw every prefix it mentions
 * ("treat-as-withdraw").  u->why keeps the worst problem found, in
 * NOTIFICATION form, for the log line.
 *
 * Sending: encoders append complete messages (header included) to a
 * struct wbuf.  Announcements and withdrawals take a list of prefixes of
 * either family and write as many UPDATEs as needed, each packed as full
 * as 4096 bytes allow: IPv4 in the NLRI / Withdrawn Routes fields, IPv6 in
 * MP_REACH_NLRI / MP_UNREACH_NLRI.  The AS_PATH is written with 4-octet
 * ASNs or, towards a 2-octet speaker, with AS_TRANS plus AS4_PATH
 * (RFC 6793).
 *
 * Decoded messages own their arrays (allocated with the project's
 * aborting allocator); release them with bgp_open_free() and
 * bgp_update_free().  Structs given to encoders are only read.
 */
#ifndef IRONLB_BGP_BGP_MSG_H
#define IRONLB_BGP_BGP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "net/ip.h"

#define BGP_VERSION 4
#define BGP_MARKER_LEN 16
#define BGP_HEADER_LEN 19
#define BGP_MSG_MAX 4096               /* RFC 4271 §4.1 (no RFC 8654) */
#define BGP_OPEN_MIN 29
#define BGP_UPDATE_MIN 23
#define BGP_NOTIFICATION_MIN 21
#define BGP_ROUTE_REFRESH_LEN 23
#define BGP_AS_TRANS 23456             /* RFC 6793 §9 */
/* The most NOTIFICATION data one message can carry. */
#define BGP_NOTIFY_DATA_MAX (BGP_MSG_MAX - BGP_NOTIFICATION_MIN)
/* RFC 9003 §2: a Shutdown Communication is at most 255 octets of UTF-8. */
#define BGP_SHUTDOWN_MSG_MAX 255

enum bgp_msg_type {
	BGP_MSG_OPEN = 1,
	BGP_MSG_UPDATE = 2,
	BGP_MSG_NOTIFICATION = 3,
	BGP_MSG_KEEPALIVE = 4,
	BGP_MSG_ROUTE_REFRESH = 5,     /* RFC 2918 */
};

/* NOTIFICATION error codes and subcodes (RFC 4271 §4.5, IANA registry). */
enum bgp_err_code {
	BGP_ERR_HEADER = 1,
	BGP_ERR_OPEN = 2,
	BGP_ERR_UPDATE = 3,
	BGP_ERR_HOLD_TIMER = 4,
	BGP_ERR_FSM = 5,
	BGP_ERR_CEASE = 6,
	BGP_ERR_ROUTE_REFRESH = 7,     /* RFC 7313 */
};

enum bgp_err_header_sub {
	BGP_ERR_HDR_NOT_SYNC = 1,
	BGP_ERR_HDR_BAD_LENGTH = 2,
	BGP_ERR_HDR_BAD_TYPE = 3,
};

enum bgp_err_open_sub {
	BGP_ERR_OPEN_UNSPECIFIC = 0,
	BGP_ERR_OPEN_VERSION = 1,
	BGP_ERR_OPEN_PEER_AS = 2,
	BGP_ERR_OPEN_BGP_ID = 3,
	BGP_ERR_OPEN_OPT_PARAM = 4,
	BGP_ERR_OPEN_HOLD_TIME = 6,
	BGP_ERR_OPEN_CAPABILITY = 7,   /* RFC 5492 */
	BGP_ERR_OPEN_ROLE_MISMATCH = 11, /* RFC 9234 */
};

enum bgp_err_update_sub {
	BGP_ERR_UPD_UNSPECIFIC = 0,
	BGP_ERR_UPD_ATTR_LIST = 1,
	BGP_ERR_UPD_WELLKNOWN_UNRECOGNIZED = 2,
	BGP_ERR_UPD_WELLKNOWN_MISSING = 3,
	BGP_ERR_UPD_ATTR_FLAGS = 4,
	BGP_ERR_UPD_ATTR_LENGTH = 5,
	BGP_ERR_UPD_ORIGIN = 6,
	BGP_ERR_UPD_NEXT_HOP = 8,
	BGP_ERR_UPD_OPTIONAL_ATTR = 9,
	BGP_ERR_UPD_NETWORK = 10,
	BGP_ERR_UPD_AS_PATH = 11,
};

enum bgp_err_fsm_sub {
	BGP_ERR_FSM_UNSPECIFIC = 0,
	BGP_ERR_FSM_OPENSENT = 1,      /* RFC 6608 */
	BGP_ERR_FSM_OPENCONFIRM = 2,
	BGP_ERR_FSM_ESTABLISHED = 3,
};

enum bgp_err_cease_sub {
	BGP_CEASE_MAX_PREFIXES = 1,    /* RFC 4486 */
	BGP_CEASE_ADMIN_SHUTDOWN = 2,
	BGP_CEASE_PEER_DECONFIGURED = 3,
	BGP_CEASE_ADMIN_RESET = 4,
	BGP_CEASE_CONNECTION_REJECTED = 5,
	BGP_CEASE_CONFIG_CHANGE = 6,
	BGP_CEASE_COLLISION = 7,
	BGP_CEASE_OUT_OF_RESOURCES = 8,
	BGP_CEASE_HARD_RESET = 9,      /* RFC 8538 */
	BGP_CEASE_BFD_DOWN = 10,       /* RFC 9384 */
};

enum bgp_err_route_refresh_sub {
	BGP_ERR_RR_BAD_LENGTH = 1,     /* RFC 7313 §5 */
};

/* Address families (RFC 4760). */
#define BGP_AFI_IPV4 1
#define BGP_AFI_IPV6 2
#define BGP_SAFI_UNICAST 1

/* Capability codes (RFC 5492 and the RFCs named). */
enum bgp_cap_code {
	BGP_CAP_MP = 1,                /* RFC 4760 */
	BGP_CAP_ROUTE_REFRESH = 2,     /* RFC 2918 */
	BGP_CAP_EXT_NEXT_HOP = 5,      /* RFC 8950 */
	BGP_CAP_GRACEFUL_RESTART = 64, /* RFC 4724 */
	BGP_CAP_AS4 = 65,              /* RFC 6793 */
	BGP_CAP_ENHANCED_RR = 70,      /* RFC 7313 */
};

/* Path attribute flags and type codes (RFC 4271 §4.3, §5). */
#define BGP_ATTR_F_OPTIONAL 0x80
#define BGP_ATTR_F_TRANSITIVE 0x40
#define BGP_ATTR_F_PARTIAL 0x20
#define BGP_ATTR_F_EXT_LEN 0x10

enum bgp_attr_type {
	BGP_ATTR_ORIGIN = 1,
	BGP_ATTR_AS_PATH = 2,
	BGP_ATTR_NEXT_HOP = 3,
	BGP_ATTR_MED = 4,
	BGP_ATTR_LOCAL_PREF = 5,
	BGP_ATTR_ATOMIC_AGGREGATE = 6,
	BGP_ATTR_AGGREGATOR = 7,
	BGP_ATTR_COMMUNITIES = 8,      /* RFC 1997 */
	BGP_ATTR_ORIGINATOR_ID = 9,    /* RFC 4456 */
	BGP_ATTR_CLUSTER_LIST = 10,    /* RFC 4456 */
	BGP_ATTR_MP_REACH_NLRI = 14,   /* RFC 4760 */
	BGP_ATTR_MP_UNREACH_NLRI = 15,
	BGP_ATTR_EXT_COMMUNITIES = 16, /* RFC 4360 */
	BGP_ATTR_AS4_PATH = 17,        /* RFC 6793 */
	BGP_ATTR_AS4_AGGREGATOR = 18,
	BGP_ATTR_IPV6_EXT_COMMUNITIES = 25, /* RFC 5701 */
	BGP_ATTR_LARGE_COMMUNITIES = 32, /* RFC 8092 */
};

enum bgp_origin {
	BGP_ORIGIN_IGP = 0,
	BGP_ORIGIN_EGP = 1,
	BGP_ORIGIN_INCOMPLETE = 2,
};

/* AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3). */
enum bgp_as_seg_type {
	BGP_AS_SET = 1,
	BGP_AS_SEQUENCE = 2,
	BGP_AS_CONFED_SEQUENCE = 3,
	BGP_AS_CONFED_SET = 4,
};

/* ------------------------------------------------------------------ */
/* NOTIFICATION contents: what a decoder asks to send, or what arrived. */

struct bgp_notify {
	uint8_t code;                  /* enum bgp_err_code; 0: none */
	uint8_t subcode;
	uint16_t len;                  /* bytes of data */
	uint8_t data[BGP_NOTIFY_DATA_MAX];
};

/* Set code and subcode and copy len bytes of data (clipped to
 * BGP_NOTIFY_DATA_MAX; data may be NULL when len is 0). */
void bgp_notify_set(struct bgp_notify *n, uint8_t code, uint8_t subcode, const void *data,
		    size_t len);
/* A Cease with an RFC 9003 Shutdown Communication: subcode is
 * BGP_CEASE_ADMIN_SHUTDOWN or BGP_CEASE_ADMIN_RESET, msg UTF-8 (NULL or ""
 * for none), cut at a character boundary to 255 octets.  -1 if msg is not
 * valid UTF-8 (then n carries no communication). */
int bgp_notify_shutdown(struct bgp_notify *n, uint8_t subcode, const char *msg);
/* The Shutdown Communication of a received Cease/2 or Cease/4 (RFC 9003
 * §2) as a NUL-terminated string: 1 when there is one, 0 when there is
 * none (other code, or length 0), -1 when it is malformed (length beyond
 * the data, or not UTF-8; out is then ""). */
int bgp_notify_shutdown_msg(const struct bgp_notify *n, char out[BGP_SHUTDOWN_MSG_MAX + 1]);

/* "UPDATE Message Error / Malformed AS_PATH", "Cease / Administrative
 * Shutdown", "Hold Timer Expired"; unknown values name what is known
 * ("OPEN Message Error / unknown subcode", "unknown error code"). */
const char *bgp_notify_name(uint8_t code, uint8_t subcode);
const char *bgp_msg_type_name(uint8_t type);       /* "OPEN", ..., "unknown" */

/* ------------------------------------------------------------------ */
/* Framing (RFC 4271 §4.1, §6.1). */

enum bgp_frame_result {
	BGP_FRAME_ERROR = -1,          /* header error: send *err, close */
	BGP_FRAME_MORE = 0,            /* not a whole message yet */
	BGP_FRAME_MSG = 1,             /* buf[0..*len) is one message */
};

/* Look at the start of a received byte stream.  On BGP_FRAME_MSG, *len is
 * the message length (19..4096) and *type its type; the body is
 * buf + BGP_HEADER_LEN, *len - BGP_HEADER_LEN bytes.  Checks: marker all
 * ones (Connection Not Synchronized), length 19..4096 and at least the
 * minimum of the type, exactly 19 for KEEPALIVE (Bad Message Length, data
 * = the length field), type 1..5 (Bad Message Type, data = the type).
 * A bad marker is reported as soon as its first wrong byte is in buf. */
enum bgp_frame_result bgp_frame(const uint8_t *buf, size_t buflen, size_t *len, uint8_t *type,
				struct bgp_notify *err);

/* Start a message of the given type at the end of w (marker, a length to
 * be patched, type) and return where it starts; bgp_msg_finish() patches
 * the length and fails (setting w's error) beyond 4096 bytes. */
size_t bgp_msg_begin(struct wbuf *w, uint8_t type);
int bgp_msg_finish(struct wbuf *w, size_t start);

/* ------------------------------------------------------------------ */
/* OPEN (RFC 4271 §4.2, §6.2) and capabilities (RFC 5492). */

struct bgp_afi_safi {
	uint16_t afi;
	uint8_t safi;
};

/* RFC 4724 §3: one address family of the Graceful Restart capability. */
struct bgp_gr_family {
	uint16_t afi;
	uint8_t safi;
	bool forwarding;               /* F bit: forwarding state preserved */
};

/* RFC 8950 §3: NLRI of nlri_afi/nlri_safi may carry a next hop of nh_afi. */
struct bgp_ext_nh {
	uint16_t nlri_afi;
	uint16_t nlri_safi;
	uint16_t nh_afi;
};

/* A capability this codec does not interpret, kept as it came. */
struct bgp_cap_raw {
	uint8_t code;
	uint8_t len;
	uint8_t *data;
};

struct bgp_caps {
	size_t nmp;                    /* multiprotocol (code 1), in order */
	struct bgp_afi_safi *mp;
	bool route_refresh;            /* code 2 */
	bool enhanced_route_refresh;   /* code 70 */
	bool as4;                      /* code 65; the ASN is bgp_open.asn */
	bool gr;                       /* code 64 */
	bool gr_restarting;            /* R bit */
	bool gr_notification;          /* N bit (RFC 8538) */
	uint16_t gr_time;              /* restart time, seconds, 0..4095 */
	size_t ngr;
	struct bgp_gr_family *gr_families;
	size_t next_nh;                /* code 5 */
	struct bgp_ext_nh *ext_nh;
	size_t nunknown;               /* every other code, ignored */
	struct bgp_cap_raw *unknown;
};

struct bgp_open {
	uint8_t version;               /* decoded; encoding always writes 4 */
	uint16_t my_as;                /* the 2-octet field as decoded */
	uint32_t asn;                  /* the speaker's AS: the 4-octet AS
					* capability when present, else my_as */
	uint16_t hold_time;
	uint32_t bgp_id;               /* host order */
	bool ext_params;               /* decoded: RFC 9072 form was used */
	struct bgp_caps caps;
};

/* Decode an OPEN body.  Errors (0 / -1 with *err): Unsupported Version
 * Number (data: 4 as 2 octets), Bad Peer AS (AS 0, RFC 7607), Unacceptable
 * Hold Time (1 or 2), Bad BGP Identifier (0), Unsupported Optional
 * Parameter (a type other than Capabilities), Unspecific (lengths that do
 * not add up, a malformed known capability).  Unknown capabilities are
 * kept in caps.unknown.  On -1 nothing needs freeing. */
int bgp_open_decode(const uint8_t *body, size_t len, struct bgp_open *o, struct bgp_notify *err);
void bgp_open_free(struct bgp_open *o);
/* Append an OPEN: version 4, My AS = asn or AS_TRANS above 65535 (which
 * needs caps.as4), one Capabilities parameter, in the RFC 9072 extended
 * form only when it exceeds 255 octets.  -1 on a bad field (asn 0, hold
 * time 1 or 2, bgp_id 0, gr_time above 4095) or a full writer. */
int bgp_open_encode(struct wbuf *w, const struct bgp_open *o);

/* What bgp_open_check() accepts. */
enum bgp_require {
	BGP_REQUIRE_AS4 = 1 << 0,
	BGP_REQUIRE_IPV4_UNICAST = 1 << 1,
	BGP_REQUIRE_IPV6_UNICAST = 1 << 2,
	BGP_REQUIRE_ROUTE_REFRESH = 1 << 3,
	BGP_REQUIRE_EXT_NH_IPV4 = 1 << 4,  /* IPv4 unicast with IPv6 next hop */
};

struct bgp_open_policy {
	uint32_t local_as;
	uint32_t local_id;             /* host order */
	uint32_t peer_as;              /* expected; 0 accepts any */
	uint16_t min_hold_time;        /* refuse a non-zero hold time below
					* this; 0 accepts every legal one */
	bool refuse_zero_hold;         /* refuse hold time 0 (no keepalives) */
	unsigned required;             /* enum bgp_require bits */
};

/* Judge a decoded OPEN against local configuration: Bad Peer AS when asn
 * is not the expected one, Bad BGP Identifier when an internal peer uses
 * ours (RFC 6286 §2.2), Unacceptable Hold Time by policy (RFC 4271 §6.2),
 * Unsupported Capability with the missing capabilities as data (RFC 5492
 * §5).  0 or -1 with *err. */
int bgp_open_check(const struct bgp_open *peer, const struct bgp_open_policy *p,
		   struct bgp_notify *err);

/* How one session encodes and decodes UPDATEs. */
struct bgp_msg_opts {
	bool as4;                      /* RFC 6793: 4-octet ASNs in AS_PATH */
	bool ext_nh_ipv4;              /* RFC 8950: IPv4 unicast may carry an
					* IPv6 next hop (both sides sent it) */
	bool ebgp;                     /* external peer */
	uint32_t first_as;             /* eBGP: the leftmost received AS must be
					* this (RFC 4271 §6.3 MAY); 0 skips */
};

/* The outcome of two OPENs (RFC 4271 §4.2, RFC 4760 §8, RFC 5492). */
struct bgp_negotiated {
	uint16_t hold_time;            /* the smaller; 0: no keepalives */
	uint16_t keepalive;            /* hold_time / 3 */
	bool ipv4_unicast;
	bool ipv6_unicast;
	bool route_refresh;
	bool enhanced_route_refresh;
	bool peer_gr;                  /* the peer sent Graceful Restart */
	struct bgp_msg_opts opts;      /* first_as is left 0 */
};

void bgp_open_negotiate(const struct bgp_open *local, const struct bgp_open *peer,
			struct bgp_negotiated *out);
/* Whether o advertises afi/safi (with no multiprotocol capability at all,
 * IPv4 unicast alone, RFC 4760 §8). */
bool bgp_open_has_family(const struct bgp_open *o, uint16_t afi, uint8_t safi);

/* ------------------------------------------------------------------ */
/* UPDATE (RFC 4271 §4.3, §6.3; RFC 4760; RFC 7606). */

struct bgp_large_community {
	uint32_t global;
	uint32_t local1;
	uint32_t local2;
};

struct bgp_as_seg {
	uint8_t type;                  /* enum bgp_as_seg_type */
	uint8_t count;                 /* 1..255 */
	size_t first;                  /* index of its first ASN in asns */
};

struct bgp_as_path {
	size_t nsegs;
	struct bgp_as_seg *segs;
	size_t nasns;
	uint32_t *asns;                /* all segments' ASNs, in order */
};

/* An attribute kept without interpretation (optional transitive ones this
 * codec does not decode, extended communities among them). */
struct bgp_attr_raw {
	uint8_t flags;
	uint8_t type;
	uint16_t len;
	uint8_t *data;
};

/* Path attributes as decoded.  Discarded attributes are absent here. */
struct bgp_path_attrs {
	bool has_origin;
	uint8_t origin;
	bool has_as_path;
	struct bgp_as_path as_path;
	bool has_next_hop;
	struct ip_addr next_hop;       /* NEXT_HOP (IPv4) */
	bool has_med;
	uint32_t med;
	bool has_local_pref;
	uint32_t local_pref;
	bool atomic_aggregate;
	bool has_aggregator;
	uint32_t aggregator_as;
	struct ip_addr aggregator_addr;
	size_t ncommunities;
	uint32_t *communities;
	size_t nlarge;
	struct bgp_large_community *large;
	bool has_originator_id;
	uint32_t originator_id;
	size_t ncluster;
	uint32_t *cluster_list;
	bool has_as4_path;
	struct bgp_as_path as4_path;
	bool has_as4_aggregator;
	uint32_t as4_aggregator_as;
	struct ip_addr as4_aggregator_addr;
	size_t nother;
	struct bgp_attr_raw *other;
};

/* RFC 7606 §2, weakest first. */
enum bgp_update_action {
	BGP_UPDATE_OK = 0,
	BGP_UPDATE_ATTR_DISCARD,       /* apply without the discarded attributes */
	BGP_UPDATE_TREAT_AS_WITHDRAW,  /* withdraw nlri and withdrawn alike */
	BGP_UPDATE_SESSION_RESET,      /* only in u->why of a -1 return */
};

struct bgp_update {
	size_t nwithdrawn;             /* Withdrawn Routes + MP_UNREACH_NLRI */
	struct ip_prefix *withdrawn;
	size_t nnlri;                  /* NLRI field + MP_REACH_NLRI */
	struct ip_prefix *nlri;
	struct bgp_path_attrs attrs;
	bool has_mp_reach;
	uint16_t mp_reach_afi;
	uint8_t mp_reach_safi;
	struct ip_addr mp_next_hop;    /* IPv4 or IPv6 global */
	struct ip_addr mp_next_hop_ll; /* IPv6 link-local, or family NONE */
	bool has_mp_unreach;
	uint16_t mp_unreach_afi;
	uint8_t mp_unreach_safi;
	bool mp_unreach_empty;         /* MP_UNREACH_NLRI carried no NLRI */
	size_t nattrs;                 /* path attributes in the message */
	uint64_t discarded[4];         /* bit per type code discarded */
	enum bgp_update_action action;
	struct bgp_notify why;         /* the worst problem (code 0: none) */
};

/* Decode an UPDATE body for a session with options o.  0: the session
 * goes on and u->action says what to do with the message; -1: session
 * reset, send *err (u keeps only action and why, a copy of *err).
 * Either way u must be freed.  Known families (IPv4 and IPv6 unicast) are
 * decoded whether or not they were negotiated: the caller compares
 * mp_reach_afi / mp_unreach_afi with what it negotiated. */
int bgp_update_decode(const uint8_t *body, size_t len, const struct bgp_msg_opts *o,
		      struct bgp_update *u, struct bgp_notify *err);
void bgp_update_free(struct bgp_update *u);
bool bgp_update_discarded(const struct bgp_update *u, uint8_t type);
/* RFC 4724 §2: an UPDATE with nothing in it is the End-of-RIB of IPv4
 * unicast; one with only an empty MP_UNREACH_NLRI that of its AFI/SAFI. */
bool bgp_update_is_eor(const struct bgp_update *u, uint16_t *afi, uint8_t *safi);
const char *bgp_update_action_name(enum bgp_update_action a);

/* The attributes this speaker announces prefixes with. */
struct bgp_attr_set {
	uint8_t origin;                /* enum bgp_origin */
	size_t as_path_len;            /* one AS_SEQUENCE, leftmost first; */
	const uint32_t *as_path;       /* empty towards internal peers */
	struct ip_addr next_hop;       /* IPv4: NEXT_HOP of IPv4 NLRI */
	struct ip_addr next_hop6;      /* IPv6 global: MP_REACH_NLRI next hop of
					* IPv6 NLRI, and of IPv4 NLRI when
					* next_hop is unset and ext_nh_ipv4 */
	struct ip_addr next_hop6_ll;   /* IPv6 link-local, or family NONE */
	bool has_med;
	uint32_t med;
	bool has_local_pref;           /* not sent to external peers */
	uint32_t local_pref;
	size_t ncommunities;           /* written sorted, duplicates dropped */
	const uint32_t *communities;
	size_t nlarge;                 /* likewise */
	const struct bgp_large_community *large;
};

/* Append the UPDATEs that announce n prefixes (IPv4 and IPv6 mixed) with
 * attributes a: one family per message, each message as full as 4096
 * bytes allow.  *nmsgs (may be NULL) gets the number written.  -1 when a
 * needs a next hop it lacks, a prefix is malformed, the attributes leave
 * no room for a prefix, or the writer fails; checks come before writing. */
int bgp_update_build_announce(struct wbuf *w, const struct bgp_msg_opts *o,
			      const struct bgp_attr_set *a, const struct ip_prefix *pfx, size_t n,
			      size_t *nmsgs);
/* Likewise for withdrawals: IPv4 in Withdrawn Routes, IPv6 in
 * MP_UNREACH_NLRI. */
int bgp_update_build_withdraw(struct wbuf *w, const struct ip_prefix *pfx, size_t n,
			      size_t *nmsgs);
/* RFC 4724 §2: the End-of-RIB marker of afi/safi. */
int bgp_update_build_eor(struct wbuf *w, uint16_t afi, uint8_t safi);

/* ------------------------------------------------------------------ */
/* KEEPALIVE, NOTIFICATION, ROUTE-REFRESH. */

int bgp_keepalive_encode(struct wbuf *w);

/* RFC 4271 §4.5: code, subcode, data.  Decoding fails only below the two
 * octets of code and subcode. */
int bgp_notification_encode(struct wbuf *w, const struct bgp_notify *n);
int bgp_notification_decode(const uint8_t *body, size_t len, struct bgp_notify *n);

/* RFC 2918 §3, RFC 7313 §3. */
enum bgp_rr_subtype {
	BGP_RR_NORMAL = 0,
	BGP_RR_BORR = 1,               /* beginning of route refresh */
	BGP_RR_EORR = 2,               /* end of route refresh */
};

struct bgp_route_refresh {
	uint16_t afi;
	uint8_t subtype;               /* reserved octet; enum bgp_rr_subtype */
	uint8_t safi;
};

int bgp_route_refresh_encode(struct wbuf *w, const struct bgp_route_refresh *rr);
/* Body of 4 octets (a normal request may be followed by ORF entries, RFC
 * 5291, which are skipped).  A BoRR/EoRR of another length is ROUTE-REFRESH
 * Message Error / Invalid Message Length with the whole message as data
 * (RFC 7313 §5).  Subtypes above 2 decode; RFC 7313 says to ignore them. */
int bgp_route_refresh_decode(const uint8_t *body, size_t len, struct bgp_route_refresh *rr,
			     struct bgp_notify *err);

#endif
