/*
 * ironlb-k8s: dispatch to `controller` or `speaker` (see k8sd.h).
 */
#include <stdio.h>
#include <string.h>

#include "k8sd/k8sd.h"

static void usage(FILE *out)
{
	fputs("usage: ironlb-k8s controller|speaker [options]\n"
	      "(normally run as `ironlb controller` and `ironlb speaker`)\n",
	      out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "controller") == 0)
		return cmd_controller(argc - 1, argv + 1);
	if (strcmp(argv[1], "speaker") == 0)
		return cmd_speaker(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "ironlb-k8s: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
