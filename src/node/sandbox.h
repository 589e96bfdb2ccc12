/*
 * The seccomp filters of `ironlb run`, `ironlb speaker` and `ironlb
 * controller`: after start (and after privs_restrict(), which sets the
 * no_new_privs the filter needs), only the system calls that command
 * makes are allowed.  Any other call fails with EPERM instead of running:
 * the daemon sees it as that call failing and logs it as such, and
 * nothing new is reachable through it (execve, ptrace, mount, module
 * loading, namespaces, keyrings, bpf ...).  EPERM rather than killing the
 * process: a call missing from the list by mistake then costs one failed
 * operation and a log line, not every announcement of the node.
 *
 * A sanitizer build (CMake's IRONLB_SANITIZE, which defines
 * IRONLB_SANITIZER_BUILD) allows in addition the ptrace requests
 * LeakSanitizer's check at exit makes, and only those (see sandbox.c), so
 * the test suites, which run that build, run under the filter too.
 */
#ifndef IRONLB_NODE_SANDBOX_H
#define IRONLB_NODE_SANDBOX_H

enum sandbox_cmd {
	SANDBOX_RUN,
	SANDBOX_SPEAKER,
	SANDBOX_CONTROLLER,
};

/* Installs the filter of cmd on every thread of the process (a thread
 * started later inherits it); logs it.  0, or -1
 * (logged: the daemon goes on without it). */
int sandbox_enter(enum sandbox_cmd cmd);

#endif
