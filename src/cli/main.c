/*
 * ironlb: one binary, subcommands.  This file only dispatches; each
 * subcommand lives in src/cli/cmd_*.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);
static int cmd_k8s(int argc, char **argv);

static const struct command commands[] = {
	{"check", cmd_check, "validate MetalLB manifests offline (file:line errors)"},
	{"plan", cmd_plan, "show the addresses every Service would get, and why"},
	{"run", cmd_run, "standalone daemon: allocate and announce from a manifests directory"},
	{"status", cmd_status, "show a running daemon's state"},
	{"controller", cmd_k8s, "in-cluster controller: allocate addresses for Services"},
	{"speaker", cmd_k8s, "in-cluster speaker: announce Services from this node (ARP/NDP, BGP)"},
	{"version", cmd_version, "print the version"},
	{"help", cmd_help, "this text, or `ironlb help COMMAND`"},
};

static void usage(FILE *out)
{
	fputs("usage: ironlb <command> [options]\n"
	      "\n"
	      "A bare-metal load balancer for Kubernetes that reads MetalLB's\n"
	      "configuration (metallb.io IPAddressPool, L2Advertisement, BGPPeer, ...)\n"
	      "and gives LoadBalancer Services IPv4 and IPv6 addresses.\n"
	      "\n"
	      "commands:\n",
	      out);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fputs("\n`ironlb COMMAND --help` describes a command's options.\n", out);
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("ironlb %s\n", IRONLB_VERSION);
	return 0;
}

/* `controller` and `speaker` live in ironlb-k8s, next to this binary, so
 * that GnuTLS never loads into `ironlb run`: exec it with the same
 * arguments (argv[0] is the command name). */
static int cmd_k8s(int argc, char **argv)
{
	(void)argc;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		fprintf(stderr, "ironlb %s: cannot find own executable: %s\n", argv[0],
			strerror(errno));
		return 1;
	}
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		slash[1] = 0;
	else
		self[0] = 0;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%sironlb-k8s", self);
	int argc2 = 0;
	while (argv[argc2])
		argc2++;
	char **args = calloc((size_t)argc2 + 2, sizeof(*args));
	if (!args)
		return 1;
	args[0] = path;
	for (int i = 0; i < argc2; i++)
		args[i + 1] = argv[i];
	args[argc2 + 1] = NULL;
	execv(path, args);
	fprintf(stderr,
		"ironlb %s: cannot run %s: %s\n"
		"(`ironlb %s` is in the ironlb-k8s executable, installed next to ironlb)\n",
		argv[0], path, strerror(errno), argv[0]);
	return 127;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	const struct command *c = find_command(argv[1]);
	if (!c || c->fn == cmd_help) {
		fprintf(stderr, "ironlb help: unknown command \"%s\"\n", argv[1]);
		return 2;
	}
	char *args[] = {(char *)c->name, "--help", NULL};
	return c->fn(2, args);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	const struct command *c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "ironlb: unknown command \"%s\"\n\n", argv[1]);
		usage(stderr);
		return 2;
	}
	return c->fn(argc - 1, argv + 1);
}
