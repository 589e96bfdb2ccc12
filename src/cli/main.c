/* ironlb: entry point; dispatches to the subcommands in src/cli/. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "version") == 0) {
		printf("ironlb %s\n", IRONLB_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: ironlb <command> [options]\n");
	return 2;
}
