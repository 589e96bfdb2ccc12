"""Least privilege, seen the way an operator checks it: after start,
`ironlb run` and `ironlb speaker` hold only CAP_NET_RAW, CAP_NET_ADMIN
and CAP_NET_BIND_SERVICE, the controller none, all with no_new_privs
(/proc/PID/status and /status agree), and each runs under its seccomp
filter; `ironlb run` works as a non-root
user given just those capabilities as ambient ones (setpriv)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import EXAMPLES, ironlb_bin, poll

NET = ["net_bind_service", "net_admin", "net_raw"]
NET_MASK = (1 << 10) | (1 << 12) | (1 << 13)
# Debian's nobody: any unprivileged user does.
NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hold capabilities")

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:1"}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
users:
- name: u
  user: {token: t}
"""


def free_port(lo=None, hi=None):
    if lo is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for p in range(lo, hi):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
            return p
    pytest.skip(f"no free port in {lo}..{hi}")


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


class Daemon:
    """A command started with its log in a file, stopped with SIGTERM and
    expected to exit 0 without sanitizer reports."""

    def __init__(self, argv, port, logpath):
        self.port = port
        self.logpath = logpath
        self.log = open(logpath, "w")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.logpath) as f:
            return f.read()

    def status(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=5) as r:
            return json.loads(r.read())

    def wait_privileges(self):
        def dropped():
            assert self.p.poll() is None, self.text()
            try:
                return self.status().get("privileges")
            except OSError:
                return None
        return poll(dropped, 30, "privileges in /status")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=30)
        self.log.close()
        out = self.text()
        assert rc == 0, out
        for bad in ("Sanitizer", "runtime error:"):
            assert bad not in out, out
        return out


def manifests(parent):
    d = os.path.join(parent, "m")
    os.mkdir(d)
    for f in ("ipaddresspools.yaml", "l2-advertisements.yaml"):
        shutil.copy(EXAMPLES / "dual-stack-l2" / f, d)
    return d


def test_run_keeps_only_network_capabilities(tmp_path):
    port = free_port()
    d = Daemon([ironlb_bin(), "run", "--manifests", manifests(tmp_path), "--node-name", "n1",
                "--no-l2", "--no-bgp", "--listen", f"127.0.0.1:{port}"],
               port, tmp_path / "run.log")
    try:
        priv = d.wait_privileges()
        assert priv == {"effective": NET, "permitted": NET, "bounding": NET,
                        "no_new_privs": True}
        st = proc_status(d.p.pid)
        assert int(st["CapEff"], 16) == NET_MASK
        assert int(st["CapPrm"], 16) == NET_MASK
        assert int(st["CapBnd"], 16) == NET_MASK
        assert int(st["CapInh"], 16) == 0
        assert int(st["CapAmb"], 16) == 0
        assert st["NoNewPrivs"] == "1"
        assert st["Seccomp"] == "2" and st["Seccomp_filters"] == "1"
        # The daemon still works under it: a reload applies.
        assert "configuration applied" in poll(
            lambda: "configuration applied" in d.text() and d.text(), 20, "a pass")
    finally:
        out = d.stop()
    assert ('msg="privileges dropped" command=run '
            "effective=net_bind_service,net_admin,net_raw") in out


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing")
def test_run_as_non_root_with_ambient_capabilities():
    # A directory every user can read: pytest's own are root's, mode 0700.
    top = tempfile.mkdtemp(prefix="ironlb-privs-")
    try:
        os.chmod(top, 0o755)
        m = manifests(top)
        os.chmod(m, 0o755)
        # A privileged port proves CAP_NET_BIND_SERVICE arrived as an
        # ambient capability.
        port = free_port(600, 1000)
        caps = ",".join("+" + c for c in NET)
        d = Daemon(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                    f"--inh-caps={caps}", f"--ambient-caps={caps}",
                    ironlb_bin(), "run", "--manifests", m, "--node-name", "n1",
                    "--no-l2", "--no-bgp", "--listen", f"127.0.0.1:{port}"],
                   port, os.path.join(top, "run.log"))
        try:
            priv = d.wait_privileges()
            assert priv["effective"] == NET and priv["permitted"] == NET
            assert priv["no_new_privs"] is True
            st = proc_status(d.p.pid)
            assert st["Uid"].split()[0] == str(NOBODY)
            assert int(st["CapEff"], 16) == NET_MASK
            assert int(st["CapAmb"], 16) == 0
            assert st["NoNewPrivs"] == "1"
            poll(lambda: "configuration applied" in d.text(), 20, "a pass")
        finally:
            out = d.stop()
        assert "cannot drop privileges" not in out
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize("cmd,expect,mask", [("controller", [], 0),
                                             ("speaker", NET, NET_MASK)])
def test_k8s_commands(tmp_path, cmd, expect, mask):
    kc = tmp_path / "kubeconfig"
    kc.write_text(KUBECONFIG)
    port = free_port()
    argv = [ironlb_bin(), cmd, "--kubeconfig", str(kc), "--metrics-listen",
            f"127.0.0.1:{port}"]
    if cmd == "speaker":
        # BGP's listener would take port 179 of this namespace.
        argv += ["--node-name", "n1", "--bgp-port", str(free_port())]
    d = Daemon(argv, port, tmp_path / f"{cmd}.log")
    try:
        priv = d.wait_privileges()
        assert priv == {"effective": expect, "permitted": expect, "bounding": expect,
                        "no_new_privs": True}
        st = proc_status(d.p.pid)
        assert int(st["CapEff"], 16) == mask and int(st["CapBnd"], 16) == mask
        assert st["NoNewPrivs"] == "1"
        assert st["Seccomp"] == "2" and st["Seccomp_filters"] == "1"
    finally:
        out = d.stop()
    assert f'msg="seccomp filter installed; other system calls fail with EPERM" command={cmd}' \
        in out
