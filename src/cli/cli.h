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

/* Read manifests from paths into a model and validate it.  Diagnostics go
 * into d (sorted by file and line).  Returns the number of errors.  Free
 * the model before the set (the model's trees point at file names interned
 * in the set). */
size_t cli_load_model(const char *const *paths, size_t npaths, const char *config_ns,
		      struct manifest_set *set, struct model *m, struct diag_list *d);

#endif
