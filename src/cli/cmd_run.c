/*
 * ironlb run: the standalone daemon (src/daemon/).  Parses options and
 * hands over to daemon_run().
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/cli.h"
#include "daemon/daemon.h"
#include "http/server.h"
#include "member/member.h"
#include "node/announcer.h"

static void run_usage(FILE *out)
{
	fputs("usage: ironlb run --manifests DIR [options]\n"
	      "\n"
	      "Run controller and speaker in one process: allocate addresses for the\n"
	      "Services in DIR, announce the ones this node owns over Layer 2 (ARP\n"
	      "for IPv4, NDP for IPv6), and hold the BGP sessions of the BGPPeers\n"
	      "that select this node.  DIR is watched; changes apply within\n"
	      "milliseconds, and an invalid change keeps the last good configuration.\n"
	      "\n"
	      "options:\n"
	      "  -m, --manifests DIR    manifests to run (YAML/JSON files)\n"
	      "  -N, --node-name NAME   this node's name (default: the host name); its\n"
	      "                         labels come from the Node manifest of that name\n"
	      "  -s, --state FILE       keep allocations in FILE across restarts\n"
	      "  -l, --listen ADDR:PORT serve /metrics, /healthz, /status (default\n"
	      "                         127.0.0.1:7472; [::1]:PORT for IPv6, :PORT for\n"
	      "                         every address); also --metrics-listen\n"
	      "      --metrics-host ADDR\n"
	      "                         serve them on ADDR (IPv4 or IPv6, no port) at\n"
	      "                         --listen's port\n"
	      "      --install-vips     also add owned addresses to --vip-device so a\n"
	      "                         server on this host answers them\n"
	      "      --vip-device DEV   where --install-vips adds them (default lo)\n"
	      "      --no-l2            no Layer 2 announcements\n"
	      "      --no-bgp           no BGP sessions\n"
	      "      --bgp-port PORT    accept BGP connections on PORT (default 179;\n"
	      "                         0: only dial out)\n"
	      "      --gratuitous-interval DURATION\n"
	      "                         repeat gratuitous ARP / unsolicited NA for every\n"
	      "                         owned address this often (e.g. 30s, 1m; at least\n"
	      "                         100ms; default 0: only after a takeover)\n"
	      "      --member-port PORT UDP port of the failure detector between nodes\n"
	      "                         (default 7946; the same on every node)\n"
	      "      --member-key FILE  shared key authenticating the failure detector's\n"
	      "                         packets (the file holds it as text); without it\n"
	      "                         the detector runs unauthenticated\n"
	      "      --member-timing NAME\n"
	      "                         failure detector timing, the same on every node:\n"
	      "                         default (100 ms probes: a dead node's Services\n"
	      "                         move within 1 s) or fast (30 ms probes: within\n"
	      "                         0.3 s, three times the packets)\n"
	      "  -n, --namespace NS     namespace of the MetalLB configuration (default\n"
	      "                         " MODEL_DEFAULT_CONFIG_NAMESPACE ")\n"
	      "      --lb-class NAME    serve Services of this spec.loadBalancerClass\n"
	      "      --log-level LEVEL  debug, info (default), warn, error\n"
	      "  -h, --help             this text\n"
	      "\n"
	      "signals: SIGTERM/SIGINT stop announcing and exit 0; SIGHUP reloads.\n",
	      out);
}

int cmd_run(int argc, char **argv)
{
	enum { OPT_VIPS = 256, OPT_VIPDEV, OPT_NOL2, OPT_CLASS, OPT_LOG, OPT_NOBGP, OPT_BGPPORT,
	       OPT_GARP_INTERVAL, OPT_MEMBER_PORT, OPT_MEMBER_KEY,
	       OPT_MEMBER_TIMING, OPT_METRICS_HOST };
	static const struct option opts[] = {
		{"manifests", required_argument, NULL, 'm'},
		{"node-name", required_argument, NULL, 'N'},
		{"state", required_argument, NULL, 's'},
		{"listen", required_argument, NULL, 'l'},
		/* The name the speaker and the controller take. */
		{"metrics-listen", required_argument, NULL, 'l'},
		{"metrics-host", required_argument, NULL, OPT_METRICS_HOST},
		{"install-vips", no_argument, NULL, OPT_VIPS},
		{"vip-device", required_argument, NULL, OPT_VIPDEV},
		{"no-l2", no_argument, NULL, OPT_NOL2},
		{"no-bgp", no_argument, NULL, OPT_NOBGP},
		{"bgp-port", required_argument, NULL, OPT_BGPPORT},
		{"gratuitous-interval", required_argument, NULL, OPT_GARP_INTERVAL},
		{"member-port", required_argument, NULL, OPT_MEMBER_PORT},
		{"member-key", required_argument, NULL, OPT_MEMBER_KEY},
		{"member-timing", required_argument, NULL, OPT_MEMBER_TIMING},
		{"namespace", required_argument, NULL, 'n'},
		{"lb-class", required_argument, NULL, OPT_CLASS},
		{"log-level", required_argument, NULL, OPT_LOG},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct daemon_opts o = {.config_namespace = MODEL_DEFAULT_CONFIG_NAMESPACE,
				.member_port = MEMBER_DEFAULT_PORT};
	const char *key_path = NULL, *metrics_host = NULL;
	static char host[256];
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:N:s:l:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o.manifests_dir = optarg;
			break;
		case 'N':
			o.node_name = optarg;
			break;
		case 's':
			o.state_path = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case OPT_METRICS_HOST:
			metrics_host = optarg;
			break;
		case 'n':
			o.config_namespace = optarg;
			break;
		case OPT_VIPS:
			o.install_vips = true;
			break;
		case OPT_VIPDEV:
			o.vip_device = optarg;
			break;
		case OPT_NOL2:
			o.no_l2 = true;
			break;
		case OPT_NOBGP:
			o.no_bgp = true;
			break;
		case OPT_BGPPORT: {
			char *end;
			long p = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || p < 0 || p > 65535) {
				fprintf(stderr,
					"ironlb run: --bgp-port \"%s\" is not a port (0..65535; 0 = do not listen)\n",
					optarg);
				return 2;
			}
			o.bgp_port = (unsigned)p;
			o.bgp_port_set = true;
			break;
		}
		case OPT_GARP_INTERVAL:
			if (announcer_parse_interval(optarg, &o.gratuitous_interval) != 0) {
				fprintf(stderr,
					"ironlb run: --gratuitous-interval \"%s\" is not a duration of at "
					"least 100ms (write e.g. \"30s\", \"1m\" or \"500ms\"; 0 = off)\n",
					optarg);
				return 2;
			}
			break;
		case OPT_MEMBER_PORT: {
			char *end;
			long p = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || p < 1 || p > 65535) {
				fprintf(stderr,
					"ironlb run: --member-port \"%s\" is not a port (1..65535)\n",
					optarg);
				return 2;
			}
			o.member_port = (unsigned)p;
			break;
		}
		case OPT_MEMBER_KEY:
			key_path = optarg;
			break;
		case OPT_MEMBER_TIMING: {
			struct member_timing t;
			if (member_timing_named(optarg, &t) != 0) {
				fprintf(stderr,
					"ironlb run: --member-timing \"%s\" is not a timing (accepted: "
					MEMBER_TIMING_NAMES ")\n",
					optarg);
				return 2;
			}
			o.member_timing = optarg;
			break;
		}
		case OPT_CLASS:
			o.lb_class = optarg;
			break;
		case OPT_LOG: {
			int l = log_level_parse(optarg);
			if (l < 0) {
				fprintf(stderr,
					"ironlb run: unknown log level \"%s\" (accepted: debug, info, warn, error)\n",
					optarg);
				return 2;
			}
			log_set_level((enum log_level)l);
			break;
		}
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ironlb run: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!o.manifests_dir) {
		fputs("ironlb run: --manifests DIR is required\n", stderr);
		run_usage(stderr);
		return 2;
	}
	struct stat st;
	if (stat(o.manifests_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ironlb run: --manifests %s: not a directory\n", o.manifests_dir);
		return 2;
	}
	if (!o.node_name) {
		if (gethostname(host, sizeof(host) - 1) != 0 || !host[0]) {
			fputs("ironlb run: cannot get the host name; give --node-name\n", stderr);
			return 2;
		}
		o.node_name = host;
	}
	/* Static: reachable at an early exit. */
	static char *listen_at;
	if (metrics_host) {
		char *why = NULL;
		if (http_listen_with_host(o.listen ? o.listen : "127.0.0.1:7472", metrics_host,
					  &listen_at, &why) != 0) {
			fprintf(stderr, "ironlb run: --metrics-host: %s\n", why);
			free(why);
			return 2;
		}
		o.listen = listen_at;
	}
	uint8_t *key = NULL;
	if (key_path) {
		char why[512];
		if (member_key_read(key_path, &key, &o.member_key_len, why, sizeof(why)) != 0) {
			fprintf(stderr, "ironlb run: --member-key: %s\n", why);
			return 2;
		}
		o.member_key = key;
	}
	int rc = daemon_run(&o);
	free(key);
	free(listen_at);
	return rc;
}
