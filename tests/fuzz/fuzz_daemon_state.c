/* Fuzz the state-file parser: any bytes must give a state or an error. */
#include <stdint.h>
#include <stdlib.h>

#include "daemon/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state s;
	char *why = NULL;
	if (state_parse((const char *)data, size, &s, &why) == 0)
		state_free(&s);
	free(why);
	return 0;
}
