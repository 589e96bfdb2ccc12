/*
 * The ironlb command line: one binary, one function per subcommand.  Each
 * takes argc/argv starting at the subcommand's name and returns the process
 * exit code (0 success, 1 the thing checked is not right, 2 usage error).
 */
#ifndef IRONLB_CLI_CLI_H
#define IRONLB_CLI_CLI_H

#include "base/diag.h"
#include "manifest/manifest.h"
#include "model/model.h"

int cmd_check(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);

#endif
