/*
 * The standalone state file: which addresses each Service holds, so that a
 * restart gives every Service the same addresses.
 *
 *   {"version": 1, "node": "node-a",
 *    "services": [{"namespace": "default", "name": "web",
 *                  "addresses": ["192.168.100.10", "2001:db8:1::10"],
 *                  "pools": ["ipv4-pool", "ipv6-pool"],
 *                  "allocated": 1764000000000000}]}
 *
 * "allocated" (optional): when the Service got these addresses, in
 * microseconds of the wall clock; the members' address table gives an
 * address to the oldest allocation (docs/operations.md).
 *
 * Written atomically (temporary file in the same directory, fsync, rename,
 * fsync of the directory).  An entry that is wrong (a field missing, an
 * address that does not parse, a Service listed twice) is dropped alone
 * and listed in state.dropped with its line; every other entry is kept,
 * so one damaged line does not renumber every Service.  A file that is not
 * JSON or not a state document is never overwritten: state_load() moves
 * it aside to PATH.corrupt-TIMESTAMP (-N added when that name is taken:
 * two within a second keep both) and reports that, so the daemon starts
 * from nothing and a person can look.  A path that is not a regular file,
 * or a file over STATE_MAX_BYTES, is refused unread (STATE_UNREADABLE):
 * /dev/zero must not be read until memory runs out.
 */
#ifndef IRONLB_DAEMON_STATE_H
#define IRONLB_DAEMON_STATE_H

#include <stddef.h>

#include "net/ip.h"

struct state_entry {
	char *namespace_;
	char *name;
	size_t naddrs;
	struct ip_addr addrs[2];
	char *pools[2];
	uint64_t stamp;               /* "allocated", 0: unknown */
	size_t line;                  /* where it was in the file; 0: not from one */
};

struct state {
	size_t n;
	struct state_entry *entries;  /* sorted by namespace/name */
	/* Entries of the file that were dropped: "line 12: services[3]: ..."
	 * each (malloc'd). */
	char **dropped;
	size_t ndropped;
};

/* 100,000 Services take about 25 MiB. */
#define STATE_MAX_BYTES (64u << 20)

enum state_load_result {
	STATE_LOADED,       /* read */
	STATE_MISSING,      /* no file yet: start empty */
	STATE_CORRUPT,      /* unparseable; moved aside to *aside */
	STATE_UNREADABLE,   /* could not be read (permissions, I/O): not touched */
};

/* Load PATH.  On STATE_CORRUPT, *aside (malloc'd) names where it went and
 * *why says what was wrong; on STATE_UNREADABLE *why says why. */
enum state_load_result state_load(const char *path, struct state *out, char **aside,
				  char **why);
/* Write atomically; -1 with *why set on failure (the old file is intact). */
int state_save(const char *path, const char *node, const struct state *s, char **why);
const struct state_entry *state_find(const struct state *s, const char *ns, const char *name);
void state_add(struct state *s, const char *ns, const char *name, size_t naddrs,
	       const struct ip_addr *addrs, char *const *pools);
void state_free(struct state *s);

/* Parse a state document from memory (for tests and fuzzing): -1 with
 * *why when it is not one at all; otherwise 0, with the entries that had
 * to be dropped in out->dropped. */
int state_parse(const char *text, size_t len, struct state *out, char **why);

#endif
