/*
 * The seccomp filter (see sandbox.h), built with libseccomp from a list of
 * names: a name the running architecture does not have (open, fork and
 * others are x86-only) is skipped, so one list serves every architecture.
 *
 * The list is what strace shows `ironlb run` calling with Layer 2, BGP,
 * BFD, the member protocol, the state file and /status in use, plus what
 * glibc and libev may use instead on other kernels and versions (ppoll
 * for poll, clone3 for clone, statx for fstat ...).
 */
#include "node/sandbox.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif

static const char *const allowed[] = {
	/* files and descriptors: manifests, the state file, /proc, inotify */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "open", "openat",
	"close", "fstat", "newfstatat", "stat", "lstat", "statx", "lseek", "access",
	"faccessat", "faccessat2", "getdents64", "readlink", "readlinkat", "rename",
	"renameat", "renameat2", "unlink", "unlinkat", "fsync", "fdatasync",
	"ftruncate", "fcntl", "dup", "dup2", "dup3", "ioctl", "pipe", "pipe2",
	"getcwd", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	/* the event loop */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "poll", "ppoll", "select", "pselect6", "eventfd", "eventfd2",
	"signalfd", "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime",
	/* sockets: AF_PACKET, netlink, BGP, BFD, member, HTTP */
	"socket", "socketpair", "bind", "listen", "accept", "accept4", "connect",
	"getsockname", "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg",
	"sendmmsg", "recvmmsg", "shutdown", "setsockopt", "getsockopt",
	/* memory */
	"mmap", "munmap", "mprotect", "mremap", "madvise", "brk",
	/* signals, time, identity */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "kill", "tgkill",
	"clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep",
	"clock_nanosleep", "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "getrandom", "uname", "sysinfo", "getrusage", "times",
	"prlimit64", "getrlimit", "sched_yield", "sched_getaffinity", "capget",
	/* the state file's writer process, threads of the C library */
	"clone", "clone3", "fork", "vfork", "wait4", "waitid", "futex",
	"set_robust_list", "get_robust_list", "rseq", "set_tid_address", "exit",
	"exit_group", "restart_syscall", "prctl", "arch_prctl",
};

int sandbox_enter(const char *who)
{
#ifdef SANDBOX_ASAN
	log_warn("seccomp filter not installed: an ASan build, whose leak "
		 "checker stops the process with ptrace at exit; a release build installs it",
		 "command", who, NULL);
	return 0;
#else
	return sandbox_install(who);
#endif
}

int sandbox_install(const char *who)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	const char *failed = NULL;
	int rc = -1;
	if (!ctx) {
		failed = "seccomp_init";
		goto out;
	}
	size_t n = 0;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		/* A name this architecture only emulates (-EDOM...) is skipped. */
		if (rc == 0)
			n++;
	}
	rc = seccomp_load(ctx);
	if (rc != 0) {
		errno = -rc;
		failed = "seccomp_load";
		rc = -1;
		goto out;
	}
	char nbuf[16];
	snprintf(nbuf, sizeof(nbuf), "%zu", n);
	log_info("seccomp filter installed; other system calls fail with EPERM", "command", who,
		 "allowed", nbuf, NULL);
	rc = 0;
out:
	if (failed)
		log_error("cannot install the seccomp filter; running without it", "command", who,
			  "call", failed, "error", strerror(errno), NULL);
	seccomp_release(ctx);
	return rc;
}
