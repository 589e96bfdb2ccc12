"""Self-tests of the lab (tests/e2e/lab.py): namespaces and processes come
and go cleanly, also when a test body raises or the run is signalled, the
sweeper removes what dead runs left, and the client-side tools report the
MAC that answered.  None of this needs ironlb."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import lab as labmod
from lab import poll, PollTimeout

HERE = os.path.dirname(os.path.abspath(__file__))


def _ns_exists(ns):
    return os.path.exists(f"/run/netns/{ns}")


def test_poll_returns_the_first_truthy_value():
    calls = []

    def fn():
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert poll(fn, timeout=5, interval=0.01) == 3


def test_poll_raises_with_the_last_value():
    t0 = time.monotonic()
    with pytest.raises(PollTimeout, match=r"never: not true after 0.2s; last value: \[\]"):
        poll(lambda: [], timeout=0.2, interval=0.01, what="never")
    assert time.monotonic() - t0 < 2
    with pytest.raises(PollTimeout, match="ZeroDivisionError"):
        poll(lambda: 1 / 0, timeout=0.1, interval=0.01)


def test_lab_creates_and_tears_down(tools, tmp_path):
    with labmod.Lab(workdir=tmp_path) as L:
        sw, clients, nodes = labmod.l2_lab(L)
        names = L.alive_namespaces()
        assert sorted(names) == sorted(L.ns_name(n) for n in
                                       ("sw", "client", "node-a", "node-b"))
        c, a = clients["client"], nodes["node-a"]
        assert c.ifaces["eth0"].v4 == "192.168.1.1"
        assert a.ifaces["eth0"].v6 == "2001:db8:ff::2"
        # on-link routes to the service ranges on the client
        routes = c.run(["ip", "route", "show", "192.168.100.0/24"]).stdout
        assert "dev eth0" in routes and "via" not in routes
        routes6 = c.run(["ip", "-6", "route", "show", "2001:db8:1::/64"]).stdout
        assert "dev eth0" in routes6 and "via" not in routes6
        # no tentative (DAD) addresses anywhere
        assert "tentative" not in a.run(["ip", "-6", "addr", "show", "dev", "eth0"]).stdout
        # strict ARP on nodes only
        assert a.run(["sysctl", "-n", "net.ipv4.conf.all.arp_ignore"]).stdout.strip() == "1"
        assert c.run(["sysctl", "-n", "net.ipv4.conf.all.arp_ignore"]).stdout.strip() == "0"
        p = a.spawn(["sleep", "30"])
        assert p.alive()
    assert not any(_ns_exists(n) for n in names)
    assert L.alive_namespaces() == []
    assert not p.alive() and p.returncode == -signal.SIGTERM
    L.close()  # idempotent


def test_teardown_runs_when_the_body_raises(tools, tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with labmod.Lab(workdir=tmp_path) as L:
            h = L.host("h")
            # a process that ignores SIGTERM is killed anyway
            p = h.spawn(["sh", "-c", "trap '' TERM; sleep 30"])
            ns = h.ns
            raise RuntimeError("boom")
    assert not _ns_exists(ns)
    assert not p.alive()


def test_processes_left_inside_a_namespace_are_killed(tools, tmp_path):
    with labmod.Lab(workdir=tmp_path) as L:
        h = L.host("h")
        # a grandchild in its own session, not in the lab's process list
        h.run(["sh", "-c", "setsid sleep 30 >/dev/null 2>&1 &"])
        pids = poll(lambda: subprocess.run(["ip", "netns", "pids", h.ns], capture_output=True,
                                           text=True).stdout.split(), 5,
                    what="sleep in namespace")
    for pid in pids:
        poll(lambda: not os.path.exists(f"/proc/{pid}") or
             open(f"/proc/{pid}/stat").read().split()[2] == "Z", 5, what=f"pid {pid} gone")


def test_sweeper_removes_namespaces_of_dead_runs_only():
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"ilb-{dead.pid}-1-sw"
    mine = f"ilb-{os.getpid()}-999-sw"
    other = "notilb-1-1-sw"
    for ns in (stale, mine, other):
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        removed = labmod.sweep()
        assert stale in removed
        assert not _ns_exists(stale)
        assert _ns_exists(mine) and _ns_exists(other)
    finally:
        for ns in (stale, mine, other):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import lab
L = lab.Lab(workdir=sys.argv[2])
h = L.host("h")
p = h.spawn(["sleep", "30"])
print(h.ns, p.pid, flush=True)
with L:
    time.sleep(20)   # the parent signals us long before
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_tears_the_lab_down(tools, tmp_path, sig):
    child = subprocess.Popen([sys.executable, "-c", CHILD, HERE, str(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().split()
        assert len(line) == 2, child.stderr.read()
        ns, pid = line[0], int(line[1])
        assert _ns_exists(ns)
        child.send_signal(sig)
        rc = child.wait(15)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert rc != 0
    assert not _ns_exists(ns)
    assert not os.path.exists(f"/proc/{pid}")


def test_client_tools_report_who_answered(tools, tmp_path):
    with labmod.Lab(workdir=tmp_path) as L:
        sw, clients, nodes = labmod.l2_lab(L)
        c, a, b = clients["client"], nodes["node-a"], nodes["node-b"]
        amac, bmac = a.mac(), b.mac()
        assert amac != bmac
        # the kernel answers for the nodes' own addresses
        assert set(c.arping(a.ifaces["eth0"].v4, count=2)) == {amac}
        assert c.arping(b.ifaces["eth0"].v4, count=2) == [bmac, bmac]
        assert set(c.ndisc6(b.ifaces["eth0"].v6)) == {bmac}
        # nobody has the service addresses: no answer, quickly
        t0 = time.monotonic()
        assert c.arping("192.168.100.9", count=2) == []
        assert c.ndisc6("2001:db8:1::9", tries=1) == []
        assert time.monotonic() - t0 < 5

        labmod.start_httpd(a)
        assert c.curl(a.ifaces["eth0"].v4) == (200, "node-a\n")
        assert c.curl(a.ifaces["eth0"].v6) == (200, "node-a\n")
        assert c.neigh(a.ifaces["eth0"].v4) == amac
        code, _ = c.curl("192.168.100.9", timeout=0.5)
        assert code == 0


def test_sniffer_sees_gratuitous_arp_and_the_client_learns_it(tools, tmp_path):
    with labmod.Lab(workdir=tmp_path) as L:
        sw, clients, nodes = labmod.l2_lab(L)
        c, a, b = clients["client"], nodes["node-a"], nodes["node-b"]
        ip = b.ifaces["eth0"].v4
        assert c.curl(ip, timeout=0.5)[0] == 0  # resolves b's MAC, nothing listens
        assert c.neigh(ip) == b.mac()
        with labmod.Sniffer(c) as sn:
            # node-a claims node-b's address: gratuitous ARP request
            with labmod.netns(a.ns):
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            try:
                s.bind(("eth0", 0))
                s.send(labmod.arp_request(a.mac(), ip, ip))
            finally:
                s.close()
            g = poll(lambda: labmod.garps(sn.snapshot(), ip), 5, what="GARP seen")
            assert g[0].sha == a.mac() and g[0].gratuitous
            assert g[0].ts > time.time() - 10
        poll(lambda: c.neigh(ip) == a.mac(), 5, what="client neighbour entry updated")


def test_parse_frame_vectors():
    # unsolicited NA for 2001:db8:1::5 from 02:00:00:00:00:01 to ff02::1, O=1
    na = bytes.fromhex(
        "333300000001" "020000000001" "86dd"                     # Ethernet
        "60000000" "0020" "3a" "ff"                              # IPv6: 32 bytes of ICMPv6
        "fe800000000000000000000000000001"                       # src fe80::1
        "ff020000000000000000000000000001"                       # dst ff02::1
        "88" "00" "0000" "20000000"                              # NA, O=1
        "20010db8000100000000000000000005"                       # target
        "02" "01" "020000000001")                                # target LLA option
    f = labmod.parse_frame(na)
    assert f.kind == "na" and f.target == "2001:db8:1::5"
    assert f.override and not f.solicited and f.gratuitous
    assert f.lla == "02:00:00:00:00:01" and f.ip_dst == "ff02::1"
    garp = labmod.arp_request("02:00:00:00:00:02", "192.168.100.4", "192.168.100.4")
    f = labmod.parse_frame(garp)
    assert f.kind == "arp" and f.op == 1 and f.gratuitous and f.sha == "02:00:00:00:00:02"
    assert labmod.parse_frame(b"\x00" * 10) is None
    assert labmod.parse_frame(garp[:30]) is None
