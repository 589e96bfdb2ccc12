/*
 * The seccomp filter of src/node/sandbox.c, in a child process (a filter
 * cannot be removed): the calls the daemon makes still work, and calls it
 * never makes (execve, unshare, mount, capset) fail with EPERM without
 * running.  Under ASan too, which this suite is also built with.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/capability.h>

#include "node/sandbox.h"

/* Runs in the child: the exit code says which check failed (0: none). */
static int child_checks(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return 10;
	if (sandbox_install("test") != 0)
		return 11;
	/* Allowed: a socket, a pipe, the time, a file. */
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 20;
	close(fd);
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return 21;
	close(p[0]);
	close(p[1]);
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 22;
	char line[256];
	bool on = false;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Seccomp:\t2", 10) == 0)
			on = true;
	fclose(f);
	if (!on)
		return 23;
	/* Refused with EPERM. */
	char *const argv[] = {"/bin/true", NULL};
	errno = 0;
	if (execve("/bin/true", argv, environ) != -1 || errno != EPERM)
		return 30;
	errno = 0;
	if (unshare(CLONE_NEWNET) != -1 || errno != EPERM)
		return 31;
	errno = 0;
	if (mount("none", "/mnt", "tmpfs", 0, NULL) != -1 || errno != EPERM)
		return 32;
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {{0}};
	errno = 0;
	if (syscall(SYS_capset, &h, d) != -1 || errno != EPERM)
		return 33;
	return 0;
}

static void test_filter(void **state)
{
	(void)state;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_checks());
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
