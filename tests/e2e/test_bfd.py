"""BFD interop: ironlb's BFD sessions (RFC 5880; RFC 5881 single hop,
RFC 5883 multihop) against FRR's bfdd and BIRD 2's `protocol bfd`, each
tied to the router's BGP session with the node, in network namespaces
(tests/e2e/bgplab.py).

    single hop:  node (ironlb run) ---- router
                 192.168.1.10              192.168.1.1
                 2001:db8::10              2001:db8::1

    multihop:    node ---- mid (forwards) ---- router
                 192.168.1.10  192.168.1.1 | 10.0.2.1    10.0.2.2
                 2001:db8::10  2001:db8::1 | 2001:db8:2::1  2001:db8:2::2

What is asserted is what a user would check: the router's own view of
the BFD session (`show bfd peers json`, `birdc show bfd sessions`) and of
the routes it holds from the node, and ironlb's /status ("bfd", and
"bfd_held" on the BGP session) and log.  Detection times are measured
from the failure to the first poll that sees it; the bound is
detectMultiplier x the negotiated interval + 10 %, plus the duration of
that one poll (the measurement's own resolution).  Every wait polls
with a deadline; every lab is torn down on failure (conftest's `lab`).

The first test checks the lab itself: FRR and BIRD bring BFD Up with each
other and FRR detects BIRD's link going down (the reference that
bench/bfd.py compares ironlb with).
"""
import signal
import time

import pytest

import bgplab
import lab as labmod
from bgplab import host_prefixes
from lab import poll

NODE4, NODE6 = "192.168.1.10", "2001:db8::10"
RTR4, RTR6 = "192.168.1.1", "2001:db8::1"
MH4, MH6 = "10.0.2.2", "2001:db8:2::2"       # the router, multihop lab
MID4, MID6 = "10.0.2.1", "2001:db8:2::1"     # mid's side towards it
MY_ASN, PEER_ASN = 64500, 64501
UP = 20


@pytest.fixture(scope="session")
def routers():
    missing = bgplab.missing_routers()
    if missing:
        pytest.fail(f"routers not installed: {', '.join(missing)} (scripts/install-deps)")


class BfdNet:
    """A node running ironlb and a router, one hop apart or two (through
    `mid`), with a pool, one dual-stack Service, a BGPAdvertisement and a
    BGPPeer per family naming BFDProfile "bfd"."""

    def __init__(self, lab, tmp_path, multihop=False, hops=2):
        self.lab = lab
        self.multihop = multihop
        self.node = lab.host("node")
        self.rtr_host = lab.host("router")
        node_addrs = [f"{NODE4}/24", f"{NODE6}/64"]
        if multihop:
            self.mid = lab.host("mid")
            bgplab.veth(self.node, "eth0", self.mid, "eth0", node_addrs,
                        [f"{RTR4}/24", f"{RTR6}/64"])
            bgplab.forwarding(self.mid)
            last = self.mid
            if hops == 3:
                # node - mid - mid2 - router: the router's packets arrive
                # with TTL 253
                last = lab.host("mid2")
                bgplab.veth(self.mid, "eth2", last, "eth0", ["10.0.3.1/24", "2001:db8:3::1/64"],
                            ["10.0.3.2/24", "2001:db8:3::2/64"])
                bgplab.forwarding(last)
                bgplab.route(self.mid, "10.0.2.0/24", "10.0.3.2")
                bgplab.route(self.mid, "2001:db8:2::/64", "2001:db8:3::2")
                bgplab.route(last, "192.168.1.0/24", "10.0.3.1")
                bgplab.route(last, "2001:db8::/64", "2001:db8:3::1")
            bgplab.veth(last, "eth1", self.rtr_host, "eth0",
                        [f"{MID4}/24", f"{MID6}/64"], [f"{MH4}/24", f"{MH6}/64"])
            bgplab.route(self.node, "10.0.2.0/24", RTR4)
            bgplab.route(self.node, "2001:db8:2::/64", RTR6)
            bgplab.route(self.rtr_host, "192.168.1.0/24", MID4)
            bgplab.route(self.rtr_host, "2001:db8::/64", MID6)
            self.peer4, self.peer6 = MH4, MH6
        else:
            bgplab.veth(self.node, "eth0", self.rtr_host, "eth0", node_addrs,
                        [f"{RTR4}/24", f"{RTR6}/64"])
            self.peer4, self.peer6 = RTR4, RTR6
        self.mdir = tmp_path / "manifests"
        self.mdir.mkdir()
        self.write("node.yaml", labmod.node_manifest("node"))
        self.write("pools.yaml", labmod.pool_manifest("ipv4-pool", ["192.168.100.0/24"]) +
                   "---\n" + labmod.pool_manifest("ipv6-pool", ["2001:db8:1::/64"]))
        self.write("svc.yaml", labmod.service_manifest("web"))
        self.write("adv.yaml", bgplab.bgpadv_manifest("adv", pools=["ipv4-pool", "ipv6-pool"]))
        self.speaker = bgplab.Speaker(self.node, self.mdir)
        self.router = None

    def write(self, name, text):
        labmod.write_atomic(self.mdir / name, text)

    def peer_addr(self, fam):
        return self.peer4 if fam == 4 else self.peer6

    @staticmethod
    def node_addr(fam):
        return NODE4 if fam == 4 else NODE6

    def write_peers(self, profile="bfd", **extra):
        spec = dict(extra)
        if profile:
            spec["bfdProfile"] = profile
        if self.multihop:
            spec["ebgpMultiHop"] = True
        self.write("peers.yaml",
                   bgplab.bgppeer_manifest("router-ipv4", MY_ASN, PEER_ASN, self.peer4, **spec) +
                   "---\n" +
                   bgplab.bgppeer_manifest("router-ipv6", MY_ASN, PEER_ASN, self.peer6, **spec))

    def write_profile(self, **spec):
        self.write("bfd.yaml", bgplab.bfdprofile_manifest("bfd", **spec))

    def start_router(self, kind, rprof, fams=(4, 6), bfdd=True):
        ns = []
        for fam in fams:
            n = bgplab.Neighbor(self.node_addr(fam), MY_ASN, families=(fam,), bfd=rprof,
                                hold_time=90, keepalive=30)
            if self.multihop:
                n.multihop = 3
                n.local_address = self.peer_addr(fam)
            else:
                n.interface = "eth0"
            ns.append(n)
        kw = {}
        if kind == "bird" and self.multihop:
            kw["igp_routes"] = [("192.168.1.0/24", MID4), ("2001:db8::/64", MID6)]
        self.router = bgplab.make_router(kind, self.rtr_host, PEER_ASN, self.peer4, ns, **kw)
        self.router.bfdd_auto = bfdd
        return self.router.start()

    def up(self, kind, rprof, fams=(4, 6), **profile):
        """Everything started; BGP Established and BFD Up on both ends, the
        Service's routes at the router.  Returns the node's prefixes per
        family."""
        self.write_profile(**profile)
        self.write_peers()
        self.start_router(kind, rprof, fams)
        self.speaker.start()
        names = [f"router-ipv{f}" for f in fams]
        self.speaker.wait_established(names, UP)
        for f in fams:
            self.router.wait_established(self.node_addr(f), UP)
            self.router.wait_bfd(self.node_addr(f), "up", UP)
            self.speaker.wait_bfd(f"router-ipv{f}", "Up", UP)
        ingress = poll(lambda: self.speaker.ingress().get("default/web"), 10,
                       what="the Service's addresses")
        out = {}
        for f in fams:
            want = host_prefixes(ingress, f)
            self.router.wait_prefixes(self.node_addr(f), f, want, UP)
            out[f] = want
        return out


def drop_bfd_out(host, multihop):
    """Drop every BFD control packet the host sends: a policy routing
    rule sends UDP to the BFD port to a blackhole (iproute2 only: the
    lab's kernel need not have netfilter or tc actions)."""
    port = 4784 if multihop else 3784
    for v in ("-4", "-6"):
        host.run(["ip", v, "route", "add", "blackhole", "default", "table", "3784"])
        host.run(["ip", v, "rule", "add", "ipproto", "udp", "dport", str(port), "table",
                  "3784", "prio", "10"])


def drop_bfd_in(host, multihop, ifname="eth0"):
    """Drop every BFD control packet that reaches the host on ifname: a
    blackhole rule for them ahead of the local table (moved from
    preference 0 to 1 for this)."""
    port = 4784 if multihop else 3784
    for v in ("-4", "-6"):
        host.run(["ip", v, "rule", "add", "pref", "1", "lookup", "local"])
        host.run(["ip", v, "rule", "del", "pref", "0"])
        host.run(["ip", v, "rule", "add", "pref", "0", "iif", ifname, "ipproto", "udp",
                  "dport", str(port), "blackhole"])


def undo_drop(host):
    for v in ("-4", "-6"):
        host.run(["ip", v, "rule", "del", "prio", "10"], check=False)


def undo_drop_in(host):
    for v in ("-4", "-6"):
        host.run(["ip", v, "rule", "del", "pref", "0"], check=False)
        host.run(["ip", v, "rule", "add", "pref", "0", "lookup", "local"], check=False)
        host.run(["ip", v, "rule", "del", "pref", "1"], check=False)


def timed_poll(fn, timeout, what, interval=0.01):
    """Poll fn until it returns a true value; (value, seconds from the call
    until the end of the poll that saw it, that poll's duration)."""
    t0 = time.monotonic()
    last = None
    while True:
        a = time.monotonic()
        v = fn()
        b = time.monotonic()
        if v:
            return v, b - t0, b - a
        if b - t0 > timeout:
            raise labmod.PollTimeout(f"{what} not within {timeout}s; last: {last!r}")
        last = v
        time.sleep(interval)


def wait_no_routes(router, addr, fam, timeout, what):
    last = None

    def none():
        nonlocal last
        last = router.routes_by_prefix(addr, fam)
        return not last
    try:
        poll(none, timeout, what=what)
    except labmod.PollTimeout as e:
        raise labmod.PollTimeout(f"{e}; still: {sorted(last)}") from None


def router_detect_bound_ms(kind, rs):
    """The router's detection time for ironlb's session (ms): FRR's is
    ironlb's multiplier x max(its own receive interval, ironlb's transmit
    interval); BIRD prints it ("Timeout")."""
    if kind == "frr":
        return rs.remote_multiplier * max(rs.rx_ms, rs.remote_tx_ms)
    return rs.detect_ms


@pytest.fixture
def single(lab, tmp_path, ironlb_bin, routers):
    return BfdNet(lab, tmp_path)


@pytest.fixture
def multi(lab, tmp_path, ironlb_bin, routers):
    return BfdNet(lab, tmp_path, multihop=True)


@pytest.fixture
def three_hops(lab, tmp_path, ironlb_bin, routers):
    return BfdNet(lab, tmp_path, multihop=True, hops=3)


# ---------------------------------------------------------------------------
# the lab itself: FRR <-> BIRD


@pytest.mark.parametrize("fam", (4, 6))
def test_lab_frr_and_bird_bring_bfd_up_and_frr_detects_a_dead_link(lab, tmp_path, routers, fam):
    node, rtr = lab.host("node"), lab.host("router")
    bgplab.veth(node, "eth0", rtr, "eth0", [f"{NODE4}/24", f"{NODE6}/64"],
                [f"{RTR4}/24", f"{RTR6}/64"])
    prof = bgplab.BfdProfile(300, 300, 3)
    naddr, raddr = (NODE4, RTR4) if fam == 4 else (NODE6, RTR6)
    frr = bgplab.Frr(rtr, PEER_ASN, RTR4, [bgplab.Neighbor(naddr, MY_ASN, families=(fam,),
                                                           bfd=prof, interface="eth0")])
    bird = bgplab.Bird(node, MY_ASN, NODE4, [bgplab.Neighbor(raddr, PEER_ASN, families=(fam,),
                                                             bfd=prof, interface="eth0")],
                       static=[bgplab.StaticRoute("192.168.100.1/32" if fam == 4
                                                  else "2001:db8:1::1/128")])
    frr.start()
    bird.start()
    frr.wait_established(naddr, UP)
    rs = frr.wait_bfd(naddr, "up", UP)
    assert (rs.remote_rx_ms, rs.remote_tx_ms, rs.remote_multiplier) == (300, 300, 3), rs
    bs = bird.wait_bfd(raddr, "up", UP)
    assert (bs.tx_ms, bs.detect_ms) == (300, 900), bs
    frr.wait_routes(naddr, fam, lambda r: len(r) == 1, UP)

    bound = router_detect_bound_ms("frr", rs) / 1000 * 1.1
    node.run(["ip", "link", "set", "eth0", "down"])
    _, took, res = timed_poll(lambda: frr.bfd_session(naddr).state == "down", 5,
                              "FRR declares BFD down")
    assert took <= bound + res, f"FRR took {took:.3f}s, bound {bound:.3f}s (+{res:.3f}s poll)"
    wait_no_routes(frr, naddr, fam, 2, "FRR withdrew BIRD's route")


# ---------------------------------------------------------------------------
# ironlb with FRR and BIRD: the session, its intervals, link failure


CASES = [(k, f, h) for k in ("frr", "bird") for f in (4, 6) for h in ("single", "multi")]


def _net(request, hop):
    return request.getfixturevalue("single" if hop == "single" else "multi")


@pytest.mark.parametrize("kind,fam,hop", CASES)
def test_router_sees_profile_intervals_and_detects_node_link_down(request, kind, fam, hop):
    net = _net(request, hop)
    # Distinct values on each side so that negotiation shows: ironlb asks
    # for more than the router on every timer.
    rprof = bgplab.BfdProfile(200, 200, 3)
    extra = {}
    if kind == "bird" and hop == "multi":
        # BIRD 2.0 sends multihop BFD with the default TTL (64), not 255:
        # MetalLB's default minimumTtl (254) would refuse it, as FRR's
        # would
        extra["minimumTtl"] = 60
    net.up(kind, rprof, fams=(fam,), receiveInterval=400, transmitInterval=350,
           detectMultiplier=4, **extra)
    naddr = net.node_addr(fam)
    rs = net.router.bfd_session(naddr)
    if kind == "frr":
        # ironlb's own values as FRR received them
        assert (rs.remote_rx_ms, rs.remote_tx_ms, rs.remote_multiplier) == (400, 350, 4), rs
        assert bool(rs.multihop) == (hop == "multi"), rs
    else:
        # BIRD transmits at max(its 200, ironlb's 400 receive) and
        # detects after ironlb's 4 x max(its 200 receive, ironlb's 350)
        assert (rs.tx_ms, rs.detect_ms) == (400, 1400), rs
    s = net.speaker.bfd_session(f"router-ipv{fam}")
    # ironlb: transmits at max(350, the router's 200 receive), detects
    # after the router's 3 x max(400, its 200 transmit)
    assert (s["txIntervalMs"], s["rxIntervalMs"]) == (350, 400), s
    assert s["detectionTimeMs"] == 1200, s
    assert s["multihop"] == (hop == "multi"), s

    bound = router_detect_bound_ms(kind, rs) / 1000 * 1.1
    if hop == "single":
        net.node.run(["ip", "link", "set", "eth0", "down"])
    else:
        # the node's packets dropped on its way out (the node's link to
        # mid stays up)
        drop_bfd_out(net.node, True)
    _, took, res = timed_poll(lambda: (net.router.bfd_session(naddr) or rs).state != "up", 10,
                              f"{kind} declares BFD down")
    assert took <= bound + res, (f"{kind} took {took:.3f}s, bound {bound:.3f}s "
                                 f"(+{res:.3f}s poll)")
    wait_no_routes(net.router, naddr, fam, 3, f"{kind} withdrew the node's routes")


@pytest.mark.parametrize("kind", ("frr", "bird"))
def test_router_packets_dropped_ironlb_detects_and_holds_bgp(single, kind):
    net = single
    rprof = bgplab.BfdProfile(300, 300, 3)
    net.up(kind, rprof, fams=(4,))
    s = net.speaker.bfd_session("router-ipv4")
    bound = s["detectionTimeMs"] / 1000 * 1.1
    # the router's packets lost on their way to the node
    drop_bfd_in(net.node, False)
    _, took, res = timed_poll(
        lambda: (net.speaker.bfd_session("router-ipv4") or {}).get("state") == "Down", 10,
        "ironlb declares BFD down")
    assert took <= bound + res, f"ironlb took {took:.3f}s, bound {bound:.3f}s (+{res:.3f}s)"
    # BGP torn down at once and held: /status and the log say so
    sess = poll(lambda: (lambda x: x if x.get("bfd_held") and x["state"] != "Established"
                         else None)(net.speaker.session("router-ipv4")), 3,
                what="the BGP session held down by BFD")
    assert "BFD" in (sess.get("last_error") or ""), sess
    poll(lambda: "bgp session held down by BFD" in net.speaker.log(), 3,
         what="the log says why")
    wait_no_routes(net.router, NODE4, 4, 5, "the router lost the routes")
    # and `ironlb status` prints both: the BGP session held, BFD down
    table = net.node.run([labmod.ironlb_bin(), "status", "--server", net.speaker.server]).stdout
    bgp_line = next(l for l in table.splitlines() if l.startswith("router-ipv4") and RTR4 in l)
    assert "(BFD)" in bgp_line, table
    head = next(i for i, l in enumerate(table.splitlines()) if l.startswith("BFD SESSION"))
    bfd_line = table.splitlines()[head + 1].split()
    assert bfd_line[:4] == ["router-ipv4", RTR4, "one", "Down"], table
    # held while BFD is down: no session although TCP works
    assert net.speaker.session("router-ipv4")["state"] != "Established"
    # BFD back: BGP comes back
    undo_drop_in(net.node)
    net.speaker.wait_bfd("router-ipv4", "Up", UP)
    net.speaker.wait_established(["router-ipv4"], UP)
    assert net.speaker.session("router-ipv4")["bfd_held"] is False


def test_sigstop_detected_by_the_router(single):
    net = single
    rprof = bgplab.BfdProfile(300, 300, 3)
    net.up("frr", rprof, fams=(4,))
    rs = net.router.bfd_session(NODE4)
    bound = router_detect_bound_ms("frr", rs) / 1000 * 1.1
    net.speaker.proc.send(signal.SIGSTOP)
    try:
        _, took, res = timed_poll(lambda: net.router.bfd_session(NODE4).state != "up", 10,
                                  "FRR declares BFD down")
        # still stopped: nothing can announce the routes again meanwhile
        wait_no_routes(net.router, NODE4, 4, 3, "FRR withdrew the routes")
    finally:
        net.speaker.proc.send(signal.SIGCONT)
    assert took <= bound + res, f"FRR took {took:.3f}s, bound {bound:.3f}s (+{res:.3f}s)"
    # resumed: BFD and BGP come back by themselves
    net.speaker.wait_bfd("router-ipv4", "Up", UP)
    net.speaker.wait_established(["router-ipv4"], UP)


@pytest.mark.parametrize("hop", ("single", "multi"))
def test_profile_change_renegotiates_without_a_flap(request, hop):
    net = _net(request, hop)
    rprof = bgplab.BfdProfile(100, 100, 3)
    net.up("frr", rprof, fams=(4, 6))
    mark = {f: net.router.session_mark(net.node_addr(f)) for f in (4, 6)}
    before = {f: net.speaker.session(f"router-ipv{f}")["uptime_s"] for f in (4, 6)}
    downs = {f: net.router.bfd_counters(net.node_addr(f)).get("session-down-events")
             for f in (4, 6)}
    net.write_profile(receiveInterval=500, transmitInterval=600, detectMultiplier=5)
    for f in (4, 6):
        net.router.wait_bfd(net.node_addr(f), "up", 10,
                            pred=lambda r: (r.remote_rx_ms, r.remote_tx_ms,
                                            r.remote_multiplier) == (500, 600, 5))
        s = net.speaker.wait_bfd(f"router-ipv{f}", "Up", 10,
                                 pred=lambda x: x["txIntervalMs"] == 600)
        assert s["rxIntervalMs"] == 500 and s["downEvents"] == 0, s
    for f in (4, 6):
        a = net.node_addr(f)
        assert net.router.session_mark(a) == mark[f], "the BGP session flapped"
        assert net.router.bfd_counters(a).get("session-down-events") == downs[f]
        assert net.speaker.session(f"router-ipv{f}")["uptime_s"] >= before[f]


def test_passive_mode_waits_for_the_peer(single):
    net = single
    net.write_profile(passiveMode=True)
    net.write_peers()
    # the router's BFD daemon is not running yet: nobody sends
    net.start_router("frr", bgplab.BfdProfile(300, 300, 3), fams=(4,), bfdd=False)
    net.speaker.start()
    net.speaker.wait_established(["router-ipv4"], UP)
    # a passive session sends nothing while its peer is silent: watched
    # over three of the slow-rate intervals (1 s each)
    end = time.monotonic() + 3
    while time.monotonic() < end:
        s = net.speaker.bfd_session("router-ipv4")
        assert s is not None and s["controlOut"] == 0 and s["state"] != "Up", s
        time.sleep(0.2)
    # the router starts BFD: ironlb answers and the session comes up
    net.router.start_bfdd()
    net.speaker.wait_bfd("router-ipv4", "Up", UP)
    net.router.wait_bfd(NODE4, "up", UP)


@pytest.mark.parametrize("fam", (4, 6))
def test_minimum_ttl_refuses_packets_from_too_far(three_hops, fam):
    net = three_hops
    # three hops: the router's packets (sent with TTL 255) arrive with
    # 253, below the profile's 254
    net.write_profile(minimumTtl=254)
    net.write_peers()
    net.start_router("frr", bgplab.BfdProfile(300, 300, 3, minimum_ttl=250), fams=(fam,))
    net.speaker.start()
    name = f"router-ipv{fam}"
    net.speaker.wait_established([name], UP)
    poll(lambda: (net.speaker.bfd_session(name) or {}).get("dropped", 0) >= 3, UP,
         what="ironlb drops the router's packets")
    s = net.speaker.bfd_session(name)
    assert s["state"] != "Up" and s["controlIn"] == 0, s
    # 253 allowed: the same packets are taken and the session comes up
    net.write_profile(minimumTtl=253)
    net.speaker.wait_bfd(name, "Up", UP)
    net.router.wait_bfd(net.node_addr(fam), "up", UP)


def test_echo_mode_against_frr(single):
    """echoMode: ironlb sends echo packets at echoInterval (looped back by
    the router's forwarding) and tells the router it loops the router's
    echo packets (Required Min Echo RX = echoInterval, the node
    forwarding); both counters grow while the session stays Up."""
    net = single
    bgplab.forwarding(net.node)
    bgplab.forwarding(net.rtr_host)
    # echo is refused for a peer that receives an IPv6 pool: IPv4 only
    net.write("adv.yaml", bgplab.bgpadv_manifest("adv", pools=["ipv4-pool"],
                                                  peers=["router-ipv4"]))
    net.up("frr", bgplab.BfdProfile(300, 300, 3, echo=50), fams=(4,), echoMode=True,
           echoInterval=50)
    s = net.speaker.wait_bfd("router-ipv4", "Up", UP, pred=lambda x: x.get("echoActive"))
    assert s["echoIntervalMs"] >= 50, s
    rs = net.router.bfd_session(NODE4)
    assert rs.raw.get("remote-echo-receive-interval") == 50, rs.raw
    first = (s["echoOut"], s["echoIn"])
    s = net.speaker.wait_bfd("router-ipv4", "Up", 10,
                             pred=lambda x: x["echoOut"] > first[0] + 10
                             and x["echoIn"] > first[1] + 10)
    assert s["downEvents"] == 0, s
