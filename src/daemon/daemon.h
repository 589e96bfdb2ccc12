/*
 * The standalone daemon, `ironlb run`: controller and speaker in one
 * process on one libev loop.
 *
 *   manifests dir --inotify--> reload: read, decode, validate
 *        | valid (reference errors are reported, not fatal)   | invalid
 *        v                                                    v
 *   swap in as the last good model                 keep the last good model,
 *   allocate (adopting the state file)             config_stale = 1, errors
 *   save the state file when it changed            in the log and /status
 *   plan Layer 2 and BGP for this node
 *   l2 engine: own exactly the planned addresses (diffed)
 *   BGP speaker: sessions and routes of the plan (diffed; a change that
 *   only touches announcements never resets a session)
 *   metrics, /status
 *
 * Nothing is withdrawn because of a bad change: an invalid manifest
 * directory leaves the previous model, allocations and announcements as
 * they were.
 */
#ifndef IRONLB_DAEMON_DAEMON_H
#define IRONLB_DAEMON_DAEMON_H

#include <stdbool.h>

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
};

/* Run until SIGTERM/SIGINT; returns the process exit code. */
int daemon_run(const struct daemon_opts *o);

#endif
