/*
 * The seccomp filters (see sandbox.h), built with libseccomp from one
 * table of system call names, each row marked with the commands that
 * make those calls: the rows every command shares are written once.  A
 * name the running architecture does not have (open, fork and others are
 * x86-only) is skipped, so one table serves every architecture.
 *
 * The rows are what strace -f -c shows each command calling once
 * started: `ironlb run` with Layer 2, BGP, BFD, the member protocol, the
 * state file and /status in use; the speaker and the controller through
 * the tests/k8s suites (GnuTLS to the API server, the same
 * announcers as run in the speaker); plus what glibc and libev may use
 * instead on other kernels and versions (ppoll for poll, clone3 for
 * clone, statx for fstat ...), and what glibc's resolver needs when the
 * API server is a name (UDP and TCP to the name servers, /etc/hosts and
 * /etc/resolv.conf; the thread rows were libcurl's resolver's, and stay
 * for the C library's own threads).
 */
#include "node/sandbox.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>

#include "base/log.h"

#define RUN (1u << SANDBOX_RUN)
#define SPEAKER (1u << SANDBOX_SPEAKER)
#define CONTROLLER (1u << SANDBOX_CONTROLLER)
#define EVERY (RUN | SPEAKER | CONTROLLER)

static const char *const cmd_name[] = {
	[SANDBOX_RUN] = "run",
	[SANDBOX_SPEAKER] = "speaker",
	[SANDBOX_CONTROLLER] = "controller",
};

static const struct sandbox_row {
	unsigned cmds;
	/* Names separated by spaces. */
	const char *calls;
} rows[] = {
	/* Files and descriptors: manifests, keys, certificates, /proc. */
	{EVERY, "read write readv writev pread64 pwrite64 open openat close fstat "
		"newfstatat stat lstat statx lseek access faccessat faccessat2 getdents64 "
		"readlink readlinkat fcntl dup dup2 dup3 ioctl pipe pipe2 getcwd"},
	/* The state file (written through a temporary file and renamed),
	 * the manifest directory's watch. */
	{RUN, "rename renameat renameat2 unlink unlinkat fsync fdatasync ftruncate "
	      "inotify_init1 inotify_add_watch inotify_rm_watch"},
	/* The event loop. */
	{EVERY, "epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 "
		"poll ppoll select pselect6 eventfd eventfd2 signalfd signalfd4 "
		"timerfd_create timerfd_settime timerfd_gettime"},
	/* Sockets: HTTP, the API server, DNS in every command; AF_PACKET,
	 * netlink, BGP, BFD and the member protocol in the two that
	 * announce (the call is the same, the family is an argument). */
	{EVERY, "socket socketpair bind listen accept accept4 connect getsockname "
		"getpeername sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown "
		"setsockopt getsockopt"},
	/* Memory. */
	{EVERY, "mmap munmap mprotect mremap madvise brk"},
	/* Signals, time, identity. */
	{EVERY, "rt_sigaction rt_sigprocmask rt_sigreturn sigaltstack kill tgkill "
		"clock_gettime clock_getres gettimeofday time nanosleep clock_nanosleep "
		"getpid gettid getppid getuid geteuid getgid getegid getrandom uname sysinfo "
		"getrusage times prlimit64 getrlimit sched_yield sched_getaffinity capget"},
	/* Threads of the C library; exit. */
	{EVERY, "clone clone3 futex set_robust_list get_robust_list rseq set_tid_address "
		"exit exit_group restart_syscall prctl arch_prctl"},
	/* The state file's writer process. */
	{RUN, "fork vfork wait4 waitid"},
#ifdef IRONLB_SANITIZER_BUILD
	/* LeakSanitizer lists the threads in /proc/self/task with the old
	 * getdents on x86-64 and waits for the ones it stops and for its
	 * tracer task with wait4 (its ptrace requests are below). */
	{EVERY, "getdents wait4"},
#endif
};

#ifdef IRONLB_SANITIZER_BUILD
/*
 * LeakSanitizer's check at exit stops every thread from a task it clones
 * (CLONE_VM, so it reads the registers and the stacks as memory of its
 * own): PTRACE_ATTACH, wait4, PTRACE_GETREGSET (or GETREGS,
 * GETFPREGS in older runtimes) for the stack pointers, PTRACE_CONT for a
 * signal that arrives meanwhile, PTRACE_DETACH, PTRACE_KILL when the
 * tracer fails; prctl (PR_SET_PTRACER, PR_SET_DUMPABLE, PR_SET_PDEATHSIG)
 * and the rest are in the rows above.  Only these requests: a peek or a
 * poke into another process's memory stays refused, as does
 * process_vm_readv.
 */
static const int lsan_ptrace[] = {
	PTRACE_ATTACH, PTRACE_CONT, PTRACE_DETACH, PTRACE_KILL, 0x4204 /* PTRACE_GETREGSET */,
#if defined(__x86_64__) || defined(__i386__)
	PTRACE_GETREGS, PTRACE_GETFPREGS,
#endif
};
#endif

/* Adds one name; 1 when added, 0 when this architecture lacks it. */
static int allow_name(scmp_filter_ctx ctx, const char *name, size_t len)
{
	char buf[32];
	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, name, len);
	buf[len] = '\0';
	int nr = seccomp_syscall_resolve_name(buf);
	if (nr == __NR_SCMP_ERROR)
		return 0;
	/* A name this architecture only emulates (-EDOM...) is skipped. */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) == 0;
}

static size_t allow_rows(scmp_filter_ctx ctx, enum sandbox_cmd cmd)
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (!(rows[i].cmds & (1u << cmd)))
			continue;
		const char *p = rows[i].calls;
		while (*p) {
			size_t len = strcspn(p, " ");
			n += (size_t)allow_name(ctx, p, len);
			p += len;
			p += strspn(p, " ");
		}
	}
#ifdef IRONLB_SANITIZER_BUILD
	for (size_t i = 0; i < sizeof(lsan_ptrace) / sizeof(lsan_ptrace[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ptrace), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)lsan_ptrace[i])) == 0)
			n++;
#endif
	return n;
}

int sandbox_enter(enum sandbox_cmd cmd)
{
	const char *who = cmd_name[cmd];
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	const char *failed = NULL;
	int rc = -1;
	if (!ctx) {
		failed = "seccomp_init";
		goto out;
	}
	size_t n = allow_rows(ctx, cmd);
	/* Every thread, also one a library started before. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc != 0) {
		errno = -rc;
		failed = "seccomp_attr_set";
		rc = -1;
		goto out;
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
