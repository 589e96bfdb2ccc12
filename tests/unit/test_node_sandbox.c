/*
 * The seccomp filters of src/node/sandbox.c, each in a child process (a
 * filter cannot be removed): the calls the daemon makes still work, and
 * calls it never makes (execve, unshare, mount, capset) fail with EPERM
 * without running; the controller's and the speaker's filters also refuse
 * what only `ironlb run` does (its state file, its directory watch).  In
 * the sanitizer build, LeakSanitizer still finds a leak at exit under the
 * filter.
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
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
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
static int child_checks(enum sandbox_cmd cmd)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return 10;
	if (sandbox_enter(cmd) != 0)
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
	/* The state file and the directory watch: `ironlb run` alone
	 * (ENOENT when allowed: the file does not exist). */
	errno = 0;
	int r = unlink("/nonexistent/ironlb-sandbox-test");
	if (cmd == SANDBOX_RUN ? errno != ENOENT : r != -1 || errno != EPERM)
		return 40;
	errno = 0;
	r = inotify_init1(IN_CLOEXEC);
	if (cmd == SANDBOX_RUN ? r < 0 : r != -1 || errno != EPERM)
		return 41;
	return 0;
}

static void check_in_child(enum sandbox_cmd cmd)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_checks(cmd));
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_filter_run(void **state)
{
	(void)state;
	check_in_child(SANDBOX_RUN);
}

static void test_filter_speaker(void **state)
{
	(void)state;
	check_in_child(SANDBOX_SPEAKER);
}

static void test_filter_controller(void **state)
{
	(void)state;
	check_in_child(SANDBOX_CONTROLLER);
}

#ifdef IRONLB_SANITIZER_BUILD
void *volatile sandbox_test_leaked;

__attribute__((noinline)) static void leak(void)
{
	sandbox_test_leaked = malloc(4242);
	sandbox_test_leaked = NULL;
}

/* LeakSanitizer stops the threads with ptrace at exit: under the filter
 * it must still report a leak, not "LeakSanitizer has encountered a
 * fatal error" (which it says when ptrace is refused). */
static void test_leak_check_under_filter(void **state)
{
	(void)state;
	const char *o = getenv("ASAN_OPTIONS");
	if (o && strstr(o, "detect_leaks=0"))
		skip();
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 2);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || sandbox_enter(SANDBOX_SPEAKER) != 0)
			_exit(99);
		leak();
		exit(0);
	}
	close(p[1]);
	char out[65536];
	size_t n = 0;
	ssize_t r;
	/* A leak check that stops the child and dies leaves it stopped:
	 * give up after a deadline instead of waiting for ever. */
	struct pollfd pfd = {.fd = p[0], .events = POLLIN};
	for (int waited = 0; n < sizeof(out) - 1;) {
		int k = poll(&pfd, 1, 1000);
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0 && ++waited < 60)
			continue;
		if (k == 0) {
			kill(pid, SIGKILL);
			break;
		}
		r = read(p[0], out + n, sizeof(out) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	close(p[0]);
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!strstr(out, "detected memory leaks") || !strstr(out, "4242 byte") ||
	    strstr(out, "fatal error"))
		fail_msg("LeakSanitizer under the filter said:\n%s", out);
	assert_false(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_run),
		cmocka_unit_test(test_filter_speaker),
		cmocka_unit_test(test_filter_controller),
#ifdef IRONLB_SANITIZER_BUILD
		cmocka_unit_test(test_leak_check_under_filter),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
