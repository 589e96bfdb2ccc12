/* Reading the shared member key from a file (--member-key FILE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "member/member.h"

static char *write_tmp(const char *content, size_t len)
{
	char *path = strdup("/tmp/ironlb-member-key-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_key_trimmed(void **state)
{
	(void)state;
	char *path = write_tmp("s3cr3t key\n", 11);
	uint8_t *key = NULL;
	size_t len = 0;
	char why[256];

	assert_int_equal(member_key_read(path, &key, &len, why, sizeof(why)), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(key, "s3cr3t key", 10);
	free(key);
	unlink(path);
	free(path);
}

static void test_key_errors(void **state)
{
	(void)state;
	uint8_t *key = NULL;
	size_t len = 0;
	char why[256];

	assert_int_equal(member_key_read("/nonexistent/key", &key, &len, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "/nonexistent/key: cannot read the member key"));

	char *path = write_tmp(" \n\r\n", 4);
	assert_int_equal(member_key_read(path, &key, &len, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "the member key is empty; expected 1 to 4096 bytes"));
	unlink(path);
	free(path);

	char *big = malloc(MEMBER_KEY_MAX + 1);
	memset(big, 'k', MEMBER_KEY_MAX + 1);
	path = write_tmp(big, MEMBER_KEY_MAX + 1);
	assert_int_equal(member_key_read(path, &key, &len, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "too long"));
	unlink(path);
	free(path);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_trimmed),
		cmocka_unit_test(test_key_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
