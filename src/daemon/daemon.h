/*
 * The standalone daemon, `ironlb run`: controller and speaker in one
 * process on one libev loop.
 *
 *   manifests dir --inotify (names the files)--> read those files only
 *        | (a full resync at start, on SIGHUP and on inotify overflow)
 *        v
 *   pipeline_step(): only Services changed, each good alone?
 *        | yes: upsert each into the live model,      | no: a whole pass: verdict,
 *        |      alloc_update_service(), re-plan        |     model in force (current or
 *        |      those Services and the ones whose      |     last good), alloc_update_config(),
 *        |      addresses moved                        |     plan everything again
 *        v                                             v
 *   l2 engine: own exactly the planned addresses (only the changed ones
 *   handed over after a step; diffed)
 *   BGP speaker: sessions and routes of the plan (diffed; a change that
 *   only touches announcements never resets a session)
 *   state file: at most one write per second after allocations changed,
 *   and at exit; /status and /metrics built when asked
 *
 * Nothing is withdrawn because of a bad change: an invalid manifest
 * directory leaves the previous model, allocations and announcements as
 * they were.
 */
#ifndef IRONLB_DAEMON_DAEMON_H
#define IRONLB_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct daemon_opts {
	const char *manifests_dir;
	const char *node_name;
	const char *state_path;      /* NULL: no persistence */
	const char *listen;          /* default 127.0.0.1:7472 */
	const char *config_namespace;
	const char *lb_class;
	bool install_vips;
	const char *vip_device;      /* default "lo" */
	bool no_l2;                  /* plan and serve status, announce nothing */
	bool no_bgp;                 /* hold no BGP sessions */
	unsigned bgp_port;           /* listen port for BGP (default 179; 0 = do not listen) */
	bool bgp_port_set;
	double gratuitous_interval;  /* seconds between periodic gratuitous rounds; 0 = off */
	unsigned member_port;        /* failure detector's UDP port (MEMBER_DEFAULT_PORT) */
	const uint8_t *member_key;   /* NULL: the detector runs unauthenticated */
	size_t member_key_len;
	const char *member_timing;   /* member_timing_named(): "default" (NULL) or "fast" */
};

/* Run until SIGTERM/SIGINT; returns the process exit code. */
int daemon_run(const struct daemon_opts *o);

#endif
