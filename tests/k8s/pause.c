/*
 * pause: the sandbox ("pause") container of the kubelet test's Pods
 * (tests/k8s/nodes.py).  No registry is reachable, so containerd cannot
 * pull its usual sandbox image; this static binary, packed into a one-layer
 * OCI image by the test, takes its place.  As the upstream one it holds the
 * Pod's namespaces open doing nothing, reaps the zombies that end up with
 * it as PID 1, and exits 0 on SIGINT or SIGTERM.
 *
 * Built by the test with `cc -static -O2 -o pause pause.c`.
 */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t pause_stop;

static void pause_on_term(int sig)
{
	(void)sig;
	pause_stop = 1;
}

static void pause_on_child(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(void)
{
	struct sigaction sa = { 0 };
	sigset_t block, wait_mask;

	/* Blocked outside sigsuspend(): a SIGTERM between the check of
	 * pause_stop and the wait cannot be lost. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &block, &wait_mask) < 0)
		return 1;
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGCHLD);

	sa.sa_handler = pause_on_term;
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return 1;
	sa.sa_handler = pause_on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL) < 0)
		return 1;
	while (!pause_stop)
		sigsuspend(&wait_mask);
	return 0;
}
