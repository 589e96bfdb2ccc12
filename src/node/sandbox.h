/*
 * The seccomp filter of `ironlb run`: after start (and after
 * privs_restrict(), which sets the no_new_privs the filter needs), only
 * the system calls the daemon makes are allowed.  Any other call fails
 * with EPERM instead of running: the daemon sees it as that call failing
 * and logs it as such, and nothing new is reachable through it (execve,
 * ptrace, mount, module loading, namespaces, keyrings, bpf ...).  EPERM
 * rather than killing the process: a call missing from the list by
 * mistake then costs one failed operation and a log line, not every
 * announcement of the node.
 *
 * Built with AddressSanitizer, sandbox_enter() installs nothing (and says
 * so): LeakSanitizer stops the process's threads with ptrace at exit,
 * and with ptrace allowed the filter would no longer keep the process
 * from reading and writing others of the same user.  The unit test
 * installs the filter with sandbox_install() under ASan too.
 */
#ifndef IRONLB_NODE_SANDBOX_H
#define IRONLB_NODE_SANDBOX_H

/* Installs the filter for who ("run"); logs it.  0, or -1 (logged: the
 * daemon goes on without it). */
int sandbox_enter(const char *who);
/* The same, in every build (tests). */
int sandbox_install(const char *who);

#endif
