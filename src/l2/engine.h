/*
 * The Layer 2 engine (I/O): makes the addresses this node owns reachable on
 * the local network.
 *
 * It follows the host's interfaces through rtnetlink (libmnl): links
 * appearing, disappearing, going up or down, changing MAC or master, and
 * their IPv6 link-local addresses.  An interface is usable when it is up,
 * broadcast-capable, not a loopback, not NOARP, not enslaved to a bond or
 * bridge, and its name is not one of the container/overlay names MetalLB
 * skips (docker*, cbr*, dummy*, virbr*, lxcbr*, veth*, lo, cali*, tunl*,
 * flannel*, kube-ipvs*, cni*, nodelocaldns*, lxc*); an address whose
 * advertisement lists interfaces is announced on exactly those, whatever
 * their names.
 *
 * On every interface where it owns something it keeps an AF_PACKET socket
 * for ARP and one for IPv6 (NDP), answers ARP requests (broadcast or to its
 * MAC) and Neighbor Solicitations for owned addresses with the interface's
 * MAC, joins the solicited-node multicast group of each owned IPv6 address
 * (link-layer membership and an MLD join, so snooping switches forward the
 * solicitations), and on taking an address over sends gratuitous ARP
 * (request and reply) or an unsolicited Neighbor Advertisement (Override
 * set): a burst of `garp_burst` rounds `garp_burst_gap` apart, the first at
 * once (one frame can be lost), then a round every `garp_interval` until
 * `garp_duration`, and then, when `gratuitous_interval` is set, a round
 * every `gratuitous_interval` for as long as it owns the address (switch
 * forwarding tables and neighbour caches age out).  An address it no
 * longer owns is not answered from the moment l2_engine_set() returns.
 *
 * With install_vips, owned addresses are also added to `vip_device` (a
 * /32 or /128, IPv6 with nodad) so a server on this host answers them, and
 * removed when no longer owned or when the engine stops.
 *
 * Metrics (MetalLB's names, label ip): metallb_layer2_requests_received,
 * metallb_layer2_responses_sent, metallb_layer2_gratuitous_sent.
 */
#ifndef IRONLB_L2_ENGINE_H
#define IRONLB_L2_ENGINE_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

#include "net/ip.h"

struct ev_loop;
struct metrics_registry;
struct l2_engine;
struct jw;

struct l2_engine_opts {
	bool install_vips;
	const char *vip_device;     /* default "lo" */
	double garp_interval;       /* seconds, default 1.1 */
	double garp_duration;       /* seconds, default 5.0 */
	unsigned garp_burst;        /* rounds at takeover, default 3 */
	double garp_burst_gap;      /* seconds between them, default 0.1 */
	double gratuitous_interval; /* seconds; 0: no periodic rounds */
};

/* The schedule of gratuitous rounds after a takeover, as offsets from it
 * (pure; the engine's timer follows it).  Round 0 is at 0.  Burst rounds
 * are at k * burst_gap (k < burst) and before duration; interval rounds at
 * k * interval after the last burst round and before duration; then, with
 * periodic > 0, one every periodic after the last of those, forever.
 * Returns the offset of round r in *at and 0, or -1 when there is no
 * round r.  Options are taken as given (no defaults applied). */
int l2_garp_offset(const struct l2_engine_opts *o, unsigned r, double *at);

/* One address to own. */
struct l2_owned {
	struct ip_addr addr;
	const char *service;         /* "ns/name", for logs and status */
	bool all_interfaces;
	size_t ninterfaces;
	char *const *interfaces;
};

struct l2_engine *l2_engine_new(struct ev_loop *loop, struct metrics_registry *reg,
				const struct l2_engine_opts *opts);
/* Open netlink, list interfaces, subscribe to changes.  -1 with a logged
 * reason (e.g. missing CAP_NET_RAW) on failure. */
int l2_engine_start(struct l2_engine *e);
/* Replace the set of owned addresses (diffed: only changes cause work). */
void l2_engine_set(struct l2_engine *e, const struct l2_owned *owned, size_t n);
/* Change only the addresses named: each of owned (one per address) is
 * owned now, as l2_engine_set() would take it; each of gone is not.  The
 * work is that of those addresses, not of every owned one. */
void l2_engine_update(struct l2_engine *e, const struct l2_owned *owned, size_t n,
		      const struct ip_addr *gone, size_t ngone);
/* Stop answering everything and remove installed addresses. */
void l2_engine_stop(struct l2_engine *e);
void l2_engine_free(struct l2_engine *e);

/* The interfaces addr is announced on now (at most max names, in
 * interface order); 0 when it is not owned or no interface is usable. */
size_t l2_engine_announced_on(const struct l2_engine *e, const struct ip_addr *addr,
			      char names[][16 /* L2_IFACE_NAME_MAX */], size_t max);

/* Status for /status: per interface (name, index, MAC, usable or why not)
 * and per owned address (interfaces it is announced on, counters),
 * written as one object by w.  l2_engine_status_json() is the same as a
 * new jansson object (for tests; /status streams it). */
void l2_engine_status_write(const struct l2_engine *e, struct jw *w);
json_t *l2_engine_status_json(const struct l2_engine *e);

/*
 * Details of the behaviour above:
 *
 * - "Up" means IFF_UP with operstate up or unknown, so an interface whose
 *   link is down is not used, and a link coming back is a takeover (the
 *   gratuitous rounds start again on it).  An interface listed by name
 *   must pass every other rule (Ethernet with a MAC, broadcast, not
 *   loopback, not NOARP, not enslaved); only the name rule is waived.
 *   Several l2_owned entries for one address (Services sharing it) are
 *   merged: one announcement, on the union of their interfaces.
 * - ARP (RFC 5227): a request whose sender IP equals its target IP is
 *   someone's announcement of that address and is not answered (a
 *   conflict with an owned address is logged, at most once per 10 s); a
 *   probe (sender IP 0.0.0.0) for an owned address is answered, which is
 *   how the address is defended.  Replies and frames sent to another
 *   host's MAC are never answered.
 * - NDP: a solicitation for an owned address, sent to that address or to
 *   its solicited-node group, is answered whether or not it carries a
 *   source link-layer option; one from :: (Duplicate Address Detection
 *   by another node) is answered to all-nodes.  The answer's IPv6 source
 *   is the owned address itself, as the kernel does for its own
 *   addresses; unsolicited advertisements come from the interface's
 *   link-local address (the owned address when it has none usable).
 * - metallb_layer2_gratuitous_sent counts frames, as MetalLB does: two per
 *   IPv4 round (request and reply) and one per IPv6 round, per interface.
 *   The per-address counters in the status count since the address was
 *   last taken; the metric series stay when an address is released.
 * - Status JSON: {"interfaces": [{"name", "index", "mac", "kind"?,
 *   "link_local"?, "usable", "reason"? , "error"?}], "addresses": [{"ip",
 *   "service", "interfaces", "requests", "responses", "gratuitous",
 *   "vip"? ("installed", "present": there before us and left alone,
 *   "failed", "none")}], "invalid_frames": {reason: count}}, reasons
 *   named by l2_result_name().
 */

#endif
