/*
 * Least privilege (see privs.h).
 *
 * The raw system calls (capget/capset, prctl) rather than libcap: three
 * calls do not justify another library in the daemon's memory.  The order
 * matters: the bounding set is cut first, because that needs CAP_SETPCAP,
 * which the capset that follows takes away.
 */
#include "base/privs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/jw.h"
#include "base/log.h"

static const char *const cap_names[] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
	"setgid", "setuid", "setpcap", "linux_immutable", "net_bind_service",
	"net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
	"sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time",
	"sys_tty_config", "mknod", "lease", "audit_write", "audit_control",
	"setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};
#define NCAP_NAMES (sizeof(cap_names) / sizeof(cap_names[0]))

static bool restricted;
static uint64_t kept_eff, kept_perm, kept_bnd;
static bool kept_nnp;

static int caps_get(uint64_t *eff, uint64_t *perm, uint64_t *inh)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &h, data) != 0)
		return -1;
	*eff = data[0].effective | (uint64_t)data[1].effective << 32;
	*perm = data[0].permitted | (uint64_t)data[1].permitted << 32;
	*inh = data[0].inheritable | (uint64_t)data[1].inheritable << 32;
	return 0;
}

static int caps_set(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2] = {
		{.effective = (uint32_t)eff, .permitted = (uint32_t)perm,
		 .inheritable = (uint32_t)inh},
		{.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32),
		 .inheritable = (uint32_t)(inh >> 32)},
	};
	return syscall(SYS_capset, &h, data) == 0 ? 0 : -1;
}

/* The bounding set, read capability by capability: the kernel says EINVAL
 * past its last one. */
static uint64_t bounding_get(void)
{
	uint64_t set = 0;
	for (int c = 0; c < 64; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
		if (r < 0)
			break;
		if (r == 1)
			set |= PRIVS_CAP(c);
	}
	return set;
}

void privs_names(uint64_t set, char *buf, unsigned size)
{
	size_t at = 0;
	if (size == 0)
		return;
	buf[0] = '\0';
	for (unsigned c = 0; c < 64; c++) {
		if (!(set & PRIVS_CAP(c)))
			continue;
		char num[16];
		const char *name = c < NCAP_NAMES ? cap_names[c] : num;
		if (c >= NCAP_NAMES)
			snprintf(num, sizeof(num), "cap_%u", c);
		int n = snprintf(buf + at, size - at, "%s%s", at ? "," : "", name);
		if (n < 0 || (size_t)n >= size - at)
			break;
		at += (size_t)n;
	}
	if (at == 0)
		snprintf(buf, size, "none");
}

int privs_restrict(const char *who, uint64_t keep)
{
	uint64_t eff, perm, inh;
	int rc = 0;
	const char *failed = NULL;
	int err = 0;

	if (caps_get(&eff, &perm, &inh) != 0) {
		err = errno;
		failed = "capget";
		rc = -1;
		goto done;
	}
	uint64_t want = keep & perm;
	/* Bounding set: only with CAP_SETPCAP in effect.  Without it (a
	 * non-root user given just the kept capabilities) no_new_privs below
	 * keeps exec from using what the bounding set still allows. */
	if (eff & PRIVS_CAP(CAP_SETPCAP)) {
		uint64_t bnd = bounding_get();
		for (int c = 0; c < 64; c++) {
			if (!(bnd & PRIVS_CAP(c)) || (keep & PRIVS_CAP(c)))
				continue;
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
				err = errno;
				failed = "PR_CAPBSET_DROP";
				rc = -1;
				break;
			}
		}
	}
	/* Ambient capabilities would survive an exec; nothing is exec'd after
	 * start, so none are needed. */
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (caps_set(want, want, 0) != 0 && rc == 0) {
		err = errno;
		failed = "capset";
		rc = -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 && rc == 0) {
		err = errno;
		failed = "PR_SET_NO_NEW_PRIVS";
		rc = -1;
	}

done:
	if (caps_get(&kept_eff, &kept_perm, &inh) != 0)
		kept_eff = kept_perm = 0;
	kept_bnd = bounding_get();
	kept_nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
	restricted = true;

	char e[512], b[1024], k[256];
	privs_names(kept_eff, e, sizeof(e));
	privs_names(kept_bnd, b, sizeof(b));
	if (rc != 0) {
		log_error("cannot drop privileges; running with more than needed", "command", who,
			  "call", failed, "error", strerror(err), "effective", e, "bounding", b,
			  NULL);
		return -1;
	}
	log_info("privileges dropped", "command", who, "effective", e, "bounding", b,
		 "no_new_privs", kept_nnp ? "true" : "false", NULL);
	/* Started without one the command uses: say which, it will fail later. */
	uint64_t missing = keep & ~kept_eff;
	if (missing) {
		privs_names(missing, k, sizeof(k));
		log_warn("started without capabilities this command uses; the work that "
			 "needs them will fail",
			 "command", who, "missing", k, NULL);
	}
	return 0;
}

uint64_t privs_kept(bool *was_restricted)
{
	if (was_restricted)
		*was_restricted = restricted;
	return kept_eff;
}

static void write_set(struct jw *w, const char *key, uint64_t set)
{
	jw_key(w, key);
	jw_arr_begin(w);
	for (unsigned c = 0; c < 64; c++) {
		if (!(set & PRIVS_CAP(c)))
			continue;
		char one[32];
		privs_names(PRIVS_CAP(c), one, sizeof(one));
		jw_str(w, one);
	}
	jw_arr_end(w);
}

void privs_status_write(struct jw *w)
{
	if (!restricted)
		return;
	jw_key(w, "privileges");
	jw_obj_begin(w);
	write_set(w, "effective", kept_eff);
	write_set(w, "permitted", kept_perm);
	write_set(w, "bounding", kept_bnd);
	jw_kbool(w, "no_new_privs", kept_nnp);
	jw_obj_end(w);
}
