/* Shared by check and plan: read manifests, decode, validate. */
#include "cli/cli.h"

size_t cli_load_model(const char *const *paths, size_t npaths, const char *config_ns,
		      struct manifest_set *set, struct model *m, struct diag_list *d)
{
	manifest_read_paths(set, paths, npaths, d);
	model_init(m, config_ns);
	/* model_add takes each tree; the file names the trees point at stay
	 * interned in the set, which the caller frees after the model. */
	for (size_t i = 0; i < set->n; i++) {
		model_add(m, set->objects[i], d);
		set->objects[i] = NULL;
	}
	set->n = 0;
	model_validate(m, d);
	diag_sort(d);
	return diag_count(d, DIAG_ERROR);
}
