"""Failover between `ironlb run` nodes through the failure detector
(src/member/), in the failover lab (failover.py): three nodes on one
manifest directory whose Node manifests carry status.addresses, a shared
--member-key, and a client on the same switch.

When the owner of a dual-stack Service dies (SIGKILL), hangs (SIGSTOP) or
stops (SIGTERM), a surviving node takes over: the client's ARP and NDP
entries move to the survivor through its gratuitous ARP / unsolicited NA,
and curl reaches the survivor again.  The deadline asserted here (3 s from
the failure) is a robustness bound that holds under AddressSanitizer on a
loaded machine; the figures themselves come from bench/failover.py."""
import subprocess
import time

import failover as fo
import lab as labmod
import pytest
from lab import poll

VIP4, VIP6 = "192.168.100.10", "2001:db8:1::10"
KEY = "e2e-member-shared-key-0123456789\n"
DEADLINE = 3.0


class Cluster:
    def __init__(self, L):
        self.L = L
        self.fl = fo.FailoverLab(L)
        self.sps = {}
        self.mdir = L.workdir / "manifests"
        self.mdir.mkdir()
        self.key = L.workdir / "member.key"
        self.key.write_text(KEY)
        self.key.chmod(0o600)
        docs = [labmod.pool_manifest("pool4", [f"{VIP4}/32"]),
                labmod.pool_manifest("pool6", [f"{VIP6}/128"]),
                labmod.l2adv_manifest("all"),
                labmod.service_manifest("web", ips=f"{VIP4},{VIP6}")]
        for n, h in self.fl.nodes.items():
            ifc = h.ifaces["eth0"]
            docs.append(labmod.node_manifest(n) +
                        "status:\n  addresses:\n"
                        f"  - type: InternalIP\n    address: {ifc.v4}\n"
                        f"  - type: InternalIP\n    address: {ifc.v6}\n")
        (self.mdir / "all.yaml").write_text("---\n".join(docs))

    def start(self):
        for n in self.fl.nodes:
            h = self.fl.host(n)
            self.sps[n] = labmod.Ironlb(h, self.mdir, extra=["--member-key", str(self.key)])
            self.sps[n].start()
            labmod.start_httpd(h)
        return self

    def mac(self, n):
        return self.fl.host(n).mac()

    def announcers(self, among=None):
        got = []
        for n in among or self.sps:
            addrs = labmod.engine_addresses(self.sps[n].status())
            if VIP4 in addrs and VIP6 in addrs:
                got.append(n)
        return got

    def members(self, n):
        """{member name: state} as node n's /status lists them."""
        m = self.sps[n].status().get("members") or {}
        return {e["name"]: e["state"] for e in m.get("members", [])}

    def settled(self, timeout=15):
        """Every member alive on every node and exactly one announcer, which
        the client reaches on both addresses: its name."""
        def one():
            for n in self.sps:
                if set(self.members(n).values()) != {"alive"} or len(self.members(n)) != 2:
                    return None
            a = self.announcers()
            if len(a) != 1:
                return None
            ns = self.fl.client.ns
            if all(fo.http_get(ns, ip, timeout=0.5) == a[0] for ip in (VIP4, VIP6)):
                return a[0]
            return None
        return poll(one, timeout, interval=0.1, what="every member alive, one announcer")


@pytest.fixture
def cluster(tools, tmp_path, ironlb_bin):
    with labmod.Lab(workdir=tmp_path) as L:
        c = Cluster(L)
        try:
            yield c
        finally:
            c.fl.thaw_all()


def fail(cl, owner, kind):
    if kind == "kill":
        return cl.fl.kill(owner)
    if kind == "stop":
        return cl.fl.freeze(owner)
    t0 = time.time()
    cl.sps[owner].stop()  # SIGTERM, and waits for the exit
    return t0


@pytest.mark.parametrize("kind", ["kill", "stop", "term"])
def test_a_surviving_node_takes_over(cluster, kind):
    cl = cluster.start()
    owner = cl.settled()
    survivors = [n for n in cl.sps if n != owner]
    macs = {n: cl.mac(n) for n in survivors}
    c = cl.fl.client
    assert c.neigh(VIP4) == cl.mac(owner) and c.neigh(VIP6) == cl.mac(owner)

    with labmod.Sniffer(c) as sn:
        t0 = fail(cl, owner, kind)
        g4, m4 = fo.first_gratuitous(sn, VIP4, t0, not_mac=cl.mac(owner), timeout=10)
        g6, m6 = fo.first_gratuitous(sn, VIP6, t0, not_mac=cl.mac(owner), timeout=10)
        assert m4 in macs.values() and m6 == m4, (m4, m6, macs)
        new = next(n for n, m in macs.items() if m == m4)

        # the client's ARP and NDP entries move to the survivor, and curl
        # reaches it on both families
        def back():
            return (c.neigh(VIP4) == m4 and c.neigh(VIP6) == m4 and
                    all(fo.http_get(c.ns, ip, timeout=0.3) == new for ip in (VIP4, VIP6)))
        poll(back, 10, interval=0.02, what=f"client resolves and reaches {new}")
        took = time.time() - t0
    assert g4 < DEADLINE and g6 < DEADLINE, (g4, g6)
    assert took < DEADLINE, f"client back after {took:.2f} s"
    assert c.curl(VIP4)[1].strip() == new and c.curl(VIP6)[1].strip() == new

    # exactly one announcer among the survivors, which hold the owner
    # dead (or left) and logged the failover with its detection time
    assert cl.announcers(survivors) == [new]
    want = "left" if kind == "term" else "dead"
    for n in survivors:
        assert cl.members(n)[owner] == want
    log = cl.sps[new].log()
    assert f"member {want}; its Services fail over" in log and "detection_ms=" in log, log

    # `ironlb status` shows the members table
    out = cl.fl.host(new).run([labmod.ironlb_bin(), "status", "--server",
                               cl.sps[new].server]).stdout
    assert "MEMBER" in out and owner in out and want in out, out


def test_an_intruder_with_the_wrong_key_changes_nothing(cluster):
    cl = cluster.start()
    owner = cl.settled()
    # An ironlb on the client host claims to be one of the nodes, with the
    # same members but another key: it declares everyone dead, and every
    # packet it sends is dropped for its tag.
    intruder_name = next(n for n in cl.sps if n != owner)
    bad = cl.L.workdir / "bad.key"
    bad.write_text("not-the-shared-key\n")
    mdir = cl.L.workdir / "intruder"
    mdir.mkdir()
    (mdir / "all.yaml").write_text((cl.mdir / "all.yaml").read_text())
    c = cl.fl.client
    # (the last --node-name given wins)
    intr = labmod.Ironlb(c, mdir, install_vips=False,
                         extra=["--member-key", str(bad), "--node-name", intruder_name,
                                "--no-l2"])
    intr.start()

    def dropped(n):
        m = cl.sps[n].status()["members"]
        return m["counters"]["bad_tag"]
    # the intruder holds every node dead (nothing it hears passes its key
    # either), and goes on telling them so: its packets are dropped
    probed = [n for n in cl.sps if n != intruder_name]
    poll(lambda: {e["name"]: e["state"] for e in intr.status()["members"]["members"]}
         == {n: "dead" for n in probed}, 15, what="the intruder holds every node dead")
    before = {n: dropped(n) for n in probed}
    assert all(v > 0 for v in before.values()), before
    poll(lambda: all(dropped(n) >= before[n] + 3 for n in probed), 15,
         what="more of the intruder's packets dropped")
    assert cl.settled(timeout=1) == owner
    for n in cl.sps:
        assert set(cl.members(n).values()) == {"alive"}
    assert intr.status()["members"]["authenticated"] is True
    intr.stop()

