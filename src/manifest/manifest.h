/*
 * Reading manifests the way `kubectl apply -f` does: files and directories
 * (a directory's *.yaml, *.yml and *.json files in name order, not
 * recursive), multi-document YAML with `---` separators, comments, empty
 * documents (skipped), and `List` kinds (their items are read as objects).
 * JSON files are read by the same YAML parser (JSON is YAML), which keeps
 * line numbers for them too.
 *
 * The result is a list of object trees (see tree.h), each with its file and
 * line.  Problems (unreadable file, YAML syntax error, a document that is
 * not an object, no kind or apiVersion) are reported as diagnostics with
 * file:line; reading goes on with the next document or file.
 */
#ifndef IRONLB_MANIFEST_MANIFEST_H
#define IRONLB_MANIFEST_MANIFEST_H

#include <stddef.h>

#include "base/diag.h"
#include "manifest/tree.h"

struct manifest_set {
	size_t n;
	struct tree **objects;  /* each an object with apiVersion and kind */
	size_t nfiles;
	char **files;           /* interned file names the trees point at */
};

/* Limits on one file or buffer: larger input, deeper nesting, and aliases
 * that expand to more nodes than this (a "billion laughs" document) are
 * errors. */
#define MANIFEST_MAX_BYTES ((size_t)8 << 20)
#define MANIFEST_MAX_DEPTH 512
#define MANIFEST_MAX_ALIAS_NODES ((size_t)1 << 18)

/* The file name given to standard input ("-" in manifest_read_paths). */
#define MANIFEST_STDIN_NAME "<stdin>"

/* Read files and directories.  Returns 0 when everything was read, -1 when
 * any path or document had an error (the others are still in the set). */
int manifest_read_paths(struct manifest_set *set, const char *const *paths, size_t npaths,
			struct diag_list *diags);
/* The manifest files of a directory (*.yaml, *.yml, *.json, in name
 * order, as paths "dir/name"; caller frees each and the array).  -1 with a
 * diagnostic when the directory cannot be read. */
int manifest_dir_files(const char *dir, char ***files, size_t *nfiles, struct diag_list *diags);
/* Read one file ("-": standard input); a path that is not a regular file
 * (a subdirectory) is skipped. */
int manifest_read_file(struct manifest_set *set, const char *path, struct diag_list *diags);
/* Read one YAML/JSON text; `name` is used as the file name in positions. */
int manifest_read_buffer(struct manifest_set *set, const char *name, const char *text,
			 size_t len, struct diag_list *diags);
/* Intern a file name: the returned pointer lives as long as the set. */
const char *manifest_intern_file(struct manifest_set *set, const char *name);
void manifest_set_free(struct manifest_set *set);

#endif
