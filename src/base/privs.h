/*
 * Least privilege: once a command has opened what it needs at start, it
 * keeps only the Linux capabilities it still uses and sets no_new_privs.
 *
 * `ironlb run` and `ironlb speaker` keep PRIVS_NET (below); the controller
 * keeps none.  What was kept is logged once and written into /status
 * ("privileges") by privs_status_write().  See docs/architecture.md,
 * "Privileges".
 */
#ifndef IRONLB_BASE_PRIVS_H
#define IRONLB_BASE_PRIVS_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/capability.h>

struct jw;

/* A set of capabilities: bit n is capability n (<linux/capability.h>). */
#define PRIVS_CAP(n) (UINT64_C(1) << (n))

/*
 * What the announcing commands use after start:
 *   CAP_NET_RAW           AF_PACKET sockets (ARP/NDP, BFD echo), opened
 *                         again when an interface appears; SO_BINDTODEVICE
 *                         (BGP and BFD sessions in a VRF)
 *   CAP_NET_ADMIN         netlink changes: the addresses --install-vips adds
 *                         and removes
 *   CAP_NET_BIND_SERVICE  the BGP listener and sessions on port 179
 */
#define PRIVS_NET (PRIVS_CAP(CAP_NET_RAW) | PRIVS_CAP(CAP_NET_ADMIN) | PRIVS_CAP(CAP_NET_BIND_SERVICE))

/*
 * Keeps in the effective and permitted sets only the capabilities of keep
 * that the process holds; clears the inheritable and ambient sets; drops
 * everything else from the bounding set when it may (it needs
 * CAP_SETPCAP, which a non-root user given only the kept capabilities does
 * not have: no_new_privs then keeps exec from gaining any); sets
 * no_new_privs.  Logs one line naming what was kept, for who ("run",
 * "speaker", "controller").  Returns 0, or -1 (logged) if a step failed.
 */
int privs_restrict(const char *who, uint64_t keep);

/* The effective set after privs_restrict(), and whether it ran. */
uint64_t privs_kept(bool *restricted);

/* The names of set's capabilities, comma-separated ("net_raw,net_admin"),
 * "none" for the empty set. */
void privs_names(uint64_t set, char *buf, unsigned size);

/* Writes "privileges": {...} into an object being written with w, if
 * privs_restrict() ran: "effective", "permitted", "bounding" (arrays of
 * names) and "no_new_privs". */
void privs_status_write(struct jw *w);

#endif
