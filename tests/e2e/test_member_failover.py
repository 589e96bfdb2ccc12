"""Failover between `ironlb run` nodes through the failure detector
(src/member/), in the failover lab (failover.py): three nodes on one
manifest directory whose Node manifests carry status.addresses, a shared
--member-key, and a client on the same switch.

When the owner of a dual-stack Service dies (SIGKILL), hangs (SIGSTOP),
loses its link or stops (SIGTERM), a surviving node takes over: the
client's ARP and NDP entries move to the survivor through its gratuitous
ARP / unsolicited NA, and curl reaches the survivor again.  The deadline
asserted for a failure found by silence (3 s) is a robustness bound that
holds under AddressSanitizer on a loaded machine; the figures themselves
come from bench/failover.py.  A graceful leave is no detection: the
survivor announces before the shortest detection by silence could end.

Also here: a rolling restart under a client loop loses at most one
request per restart; an intruder with the wrong key and replayed packets
change nothing and are counted; both CPUs saturated on every node for a
minute cause no failover (bench/failover.py stress runs ten minutes)."""
import os
import socket
import time

import failover as fo
import lab as labmod
import pytest
from lab import poll

VIP4, VIP6 = "192.168.100.10", "2001:db8:1::10"
KEY = "e2e-member-shared-key-0123456789\n"
DEADLINE = 3.0
# A leave is announced, not detected: the survivor takes over before the
# shortest detection by silence at the default timing (a missed probe
# period, 100 ms, and the shortest suspicion, 300 ms) could end.
LEAVE_DEADLINE = 0.4


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
    if kind == "link":
        return cl.fl.link_down(owner)
    t0 = time.time()
    cl.sps[owner].stop()  # SIGTERM, and waits for the exit
    return t0


@pytest.mark.parametrize("kind", ["kill", "stop", "link", "term"])
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
    if kind == "term":
        assert g4 < LEAVE_DEADLINE and g6 < LEAVE_DEADLINE, \
            f"a graceful leave taken over after {g4:.3f} s / {g6:.3f} s: not at once"
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
    # (a node started before the others may have counted them dead at
    # start, before they ran: count from here)
    failed_before = {n: failovers(cl, n) for n in probed}
    assert all(v > 0 for v in before.values()), before
    poll(lambda: all(dropped(n) >= before[n] + 3 for n in probed), 15,
         what="more of the intruder's packets dropped")
    assert cl.settled(timeout=1) == owner
    for n in cl.sps:
        assert set(cl.members(n).values()) == {"alive"}
    assert intr.status()["members"]["authenticated"] is True
    # what an operator graphs: the drops by reason, and no failover
    for n in probed:
        poll(lambda: (dropped_metric(cl, n, "bad_tag") or 0) >= before[n] + 3, 10,
             what=f"{n}'s ironlb_member_packets_dropped_total{{reason=\"bad_tag\"}}")
        assert failovers(cl, n) == failed_before[n], (failed_before[n], failovers(cl, n))
    intr.stop()


def counters(cl, n):
    return cl.sps[n].status()["members"]["counters"]


def dropped_metric(cl, n, reason):
    return cl.sps[n].metric("ironlb_member_packets_dropped_total", {"reason": reason})


def failovers(cl, n):
    """{state: count} of ironlb_member_failovers_total on node n, zeros
    left out."""
    got = {}
    for state in ("dead", "left"):
        v = cl.sps[n].metric("ironlb_member_failovers_total", {"state": state})
        if v:
            got[state] = v
    return got


def test_replayed_packets_change_nothing(cluster):
    """Packets of a member captured on the wire (among them the `left` it
    sent when it stopped, and packets of its current run) and sent again
    from the client are dropped as replays and counted: the member stays
    alive, nothing fails over."""
    cl = cluster.start()
    owner = cl.settled()
    x = next(n for n in cl.sps if n != owner)   # its packets are replayed
    x4 = cl.fl.host(x).ifaces["eth0"].v4
    y4 = cl.fl.host(owner).ifaces["eth0"].v4
    cap = fo.UdpCapture(cl.fl.host(owner), f"udp and src host {x4} and dst port 7946",
                        cl.L.workdir / "replay.pcap")
    try:
        cl.sps[x].stop()     # a graceful leave: its `left` is captured
        poll(lambda: cl.members(owner).get(x) == "left", 10, what=f"{owner} holds {x} left")
        cl.sps[x].start()
        assert cl.settled() == owner
        heard = counters(cl, owner)["packets_in"]
        poll(lambda: counters(cl, owner)["packets_in"] >= heard + 10, 10,
             what="packets of the new run heard")
        poll(lambda: len(cap.payloads()) >= 10, 10, what="packets of the member in the capture")
    finally:
        cap.stop()
    pkts = cap.payloads()
    assert len(pkts) >= 10, len(pkts)
    lefts_before = failovers(cl, owner)

    before = counters(cl, owner)
    c = cl.fl.client
    with labmod.netns(c.ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for p in pkts:
            s.sendto(p, (y4, 7946))
    finally:
        s.close()
    poll(lambda: counters(cl, owner)["replayed"] >= before["replayed"] + len(pkts), 10,
         what=f"{len(pkts)} replays dropped and counted")
    after = counters(cl, owner)
    assert after["bad_tag"] == before["bad_tag"]      # genuine packets: the tag is right
    assert after["replayed"] == before["replayed"] + len(pkts), (before, after)
    assert cl.members(owner)[x] == "alive"
    assert cl.settled(timeout=2) == owner
    assert failovers(cl, owner) == lefts_before
    poll(lambda: (dropped_metric(cl, owner, "replayed") or 0) >= len(pkts), 10,
         what='ironlb_member_packets_dropped_total{reason="replayed"}')


def test_a_rolling_restart_loses_at_most_one_request_per_restart(cluster):
    """Every node in turn: SIGTERM, start again, wait until it is a live
    member everywhere and one node announces, next.  A client opens a new
    connection every ~20 ms (0.5 s timeout, under the 1 s of a SYN
    retransmission, so a SYN sent to a node that no longer holds the
    address is a lost request).  Whichever node announces after each
    restart (the Service may move at the leave and again at the return),
    at most one request fails per restart, and none between restarts."""
    cl = cluster.start()
    cl.settled()
    c = cl.fl.client
    windows = []
    with fo.HttpLoop(c, VIP4, timeout=0.5, gap=0.02, max_requests=8000,
                     max_seconds=180) as h:
        def answered_since(t):
            return sum(1 for r in h.snapshot() if r[0] >= t and r[2])
        t = time.time()
        poll(lambda: answered_since(t) >= 10, 10, what="the client loop answered")
        for n in list(cl.sps):
            t1 = time.time()
            cl.sps[n].stop()
            cl.sps[n].start()
            cl.settled(timeout=20)
            t2 = time.time()
            poll(lambda: answered_since(t2) >= 10, 10, what=f"answers after restarting {n}")
            windows.append((n, t1, t2))
        h.stop()
        results = h.snapshot()
    lost = {n: [] for n, _, _ in windows}
    made = {n: 0 for n, _, _ in windows}
    outside = []
    for start, end, body in results:
        # a request belongs to the restart it overlaps (one in flight
        # when the SIGTERM was sent is that restart's)
        w = next((n for n, t1, t2 in windows if start < t2 and end >= t1), None)
        if w:
            made[w] += 1
        if not body:
            (lost[w] if w else outside).append(round(start, 3))
    # the loop ran through every restart (each takes a few hundred ms)
    assert all(v >= 5 for v in made.values()), f"requests per restart: {made}"
    assert all(len(v) <= 1 for v in lost.values()), f"lost per restart: {lost}"
    assert not outside, f"requests lost between restarts: {outside}"


def test_saturated_cpus_cause_no_failover(cluster):
    """One busy loop per CPU in every node's namespace (niced 0, like the
    daemons) for a minute at the default timing: no member is ever held
    dead, the announcer does not change, nothing counts a failover.
    bench/failover.py stress runs the same for ten minutes."""
    cl = cluster.start()
    owner = cl.settled()
    seconds = 60
    ncpu = os.cpu_count() or 1
    before = {n: counters(cl, n) for n in cl.sps}
    failed_before = {n: failovers(cl, n) for n in cl.sps}
    busy0, total0 = cpu_times()
    hogs = []
    try:
        for n in cl.sps:
            hogs += cl.fl.hogs(n, ncpu, seconds + 30)
        end = time.monotonic() + seconds
        samples = 0
        while time.monotonic() < end:
            for n in cl.sps:
                st = cl.sps[n].status()
                states = {e["name"]: e["state"] for e in st["members"]["members"]}
                assert set(states.values()) <= {"alive", "suspect"}, (n, states)
                holds = VIP4 in labmod.engine_addresses(st)
                assert holds == (n == owner), (n, owner)
            samples += 1
            time.sleep(0.5)    # pace the observation, not a wait for a condition
        assert all(p.alive() for p in hogs), "a busy loop ended early"
        busy1, total1 = cpu_times()
    finally:
        for p in hogs:
            p.stop()
    busy = (busy1 - busy0) / max(1, total1 - total0)
    assert busy >= 0.9, f"the CPUs were {busy:.0%} busy: not saturated"
    assert samples >= 20, samples
    for n in cl.sps:
        after = counters(cl, n)
        assert after["deaths"] == before[n]["deaths"], (n, before[n], after)
        assert failovers(cl, n) == failed_before[n], (n, failed_before[n], failovers(cl, n))
    assert cl.settled(timeout=5) == owner


def cpu_times():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)

