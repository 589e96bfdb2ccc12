"""Interop tests of ironlb's BGP speaker against real routers: BIRD 2,
GoBGP and FRR from Debian, each run in a network namespace with a
generated configuration (tests/e2e/bgplab.py), and read back through its
own CLI (birdc, `gobgp -j`, `vtysh ... json`).

    node (ironlb run) ---- veth ---- router (BIRD | GoBGP | FRR)
    192.168.1.10                     192.168.1.1
    2001:db8::10                     2001:db8::1

The addresses are the guide's (bgp-peers.yaml names 192.168.1.1 and
2001:db8::1 as the router), so its manifests are used as they are
(examples/bgp).  Every assertion is on what the *router* holds: exactly
which prefixes, from which session, with which next hop, AS path,
communities, large communities, local preference and stale flag; and on
ironlb's /status ("bgp" key) and log.  Every wait polls with a deadline.

Needs root (namespaces) and the routers (scripts/install-deps installs
bird2, gobgpd and frr); as root a missing router is a failure, not a skip.
"""
import ipaddress
import re
import shutil
import time

import pytest

import bgplab
import lab as labmod
from bgplab import host_prefixes, norm_prefix
from lab import poll

NODE4, NODE6 = "192.168.1.10", "2001:db8::10"
RTR4, RTR6 = "192.168.1.1", "2001:db8::1"
MY_ASN, PEER_ASN = 64500, 64501
EXAMPLES = labmod.ROOT / "examples"
KINDS = bgplab.ROUTER_KINDS
SKIP = object()        # an attribute not to compare

# How long a session may take to come up: ironlb dials at once and
# listens; the routers retry every 1-2 s (see bgplab's configs).
UP = 20


@pytest.fixture(scope="session")
def routers():
    missing = bgplab.missing_routers()
    if missing:
        pytest.fail(f"routers not installed: {', '.join(missing)} (run scripts/install-deps: "
                    f"bird2, gobgpd, frr)")


class Net:
    """The standard pair: a node running ironlb and a router, linked by
    one veth, plus the node's manifests directory."""

    def __init__(self, lab, tmp_path):
        self.lab = lab
        self.node = lab.host("node")
        self.rtr_host = lab.host("router")
        bgplab.veth(self.node, "eth0", self.rtr_host, "eth0", [f"{NODE4}/24", f"{NODE6}/64"],
                    [f"{RTR4}/24", f"{RTR6}/64"])
        self.mdir = tmp_path / "manifests"
        self.mdir.mkdir()
        self.write("node.yaml", labmod.node_manifest("node"))
        self.speaker = bgplab.Speaker(self.node, self.mdir)
        self.router = None

    def write(self, name, text):
        labmod.write_atomic(self.mdir / name, text)

    def remove(self, name):
        (self.mdir / name).unlink()

    def copy_example(self, example, files=None):
        for f in sorted((EXAMPLES / example).iterdir()):
            if f.suffix == ".yaml" and (files is None or f.name in files):
                shutil.copy(f, self.mdir / f.name)

    def start_router(self, kind, asn, neighbors, host=None, router_id=RTR4, **kw):
        self.router = bgplab.make_router(kind, host or self.rtr_host, asn, router_id,
                                         neighbors, **kw)
        return self.router.start()

    def services(self, want, timeout=10):
        """Poll ironlb's /status until every Service in `want` has its
        addresses; {"ns/name": [addresses]}."""
        def ok():
            got = self.speaker.ingress()
            return got if all(w in got for w in want) else None
        return poll(ok, timeout, what=f"Services {sorted(want)} have addresses")


@pytest.fixture
def net(lab, tmp_path, ironlb_bin, routers):
    return Net(lab, tmp_path)


def extra_services(net):
    """Three more Services beside the guide's dual-stack-test-svc: one
    dual-stack, one IPv4 only, one IPv6 only."""
    net.write("svc-web.yaml", labmod.service_manifest("web"))
    net.write("svc-v4.yaml", labmod.service_manifest("v4-only", families=("IPv4",)))
    net.write("svc-v6.yaml", labmod.service_manifest("v6-only", families=("IPv6",)))
    return ["default/dual-stack-test-svc", "default/web", "default/v4-only", "default/v6-only"]


def split_docs(text):
    """The documents of a multi-document YAML file."""
    docs, cur = [], []
    for line in text.splitlines(keepends=True):
        if line.rstrip() == "---":
            docs.append("".join(cur))
            cur = []
        else:
            cur.append(line)
    docs.append("".join(cur))
    return [d for d in docs if d.strip()]


def addresses(ingress):
    return [a for ips in ingress.values() for a in ips]


def bgp_announced_series(speaker):
    """{(ip, service)} of the metallb_speaker_announced series of protocol
    bgp on /metrics."""
    out = set()
    for line in speaker.fetch("/metrics").splitlines():
        if not line.startswith("metallb_speaker_announced{"):
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line))
        if labels.get("protocol") == "bgp":
            out.add((labels.get("ip"), labels.get("service")))
    return out


def wait_bgp_series(speaker, want, timeout=10):
    """Poll until the bgp series are exactly `want` {(ip, service)}."""
    last = set()

    def ok():
        nonlocal last
        last = bgp_announced_series(speaker)
        return last == want
    try:
        poll(ok, timeout, what="metallb_speaker_announced bgp series")
    except labmod.PollTimeout as e:
        raise labmod.PollTimeout(f"{e}; missing {want - last}, extra {last - want}") from None


def check_routes(rs, want):
    """Mismatches between a router's routes {prefix: Route} and `want`
    {prefix: {attribute: value or SKIP}}; [] when they agree exactly."""
    bad = []
    if set(rs) != set(want):
        bad.append(f"prefixes {sorted(rs)} != expected {sorted(want)}")
    for p, attrs in want.items():
        r = rs.get(p)
        if r is None:
            continue
        for k, v in attrs.items():
            got = r.next_hop if k == "next_hop" else getattr(r, k)
            if v is not SKIP and got != v:
                bad.append(f"{p}: {k} = {got!r}, expected {v!r}")
    return bad


def wait_rib(router, addr, fam, want, timeout=15, what=""):
    """Poll the router's RIB for the routes learnt from addr in that
    family until it is exactly `want`."""
    last = []

    def ok():
        nonlocal last
        last = check_routes(router.routes_by_prefix(addr, fam), want)
        return not last
    try:
        poll(ok, timeout, interval=0.1, what=f"{router.kind} RIB from {addr} IPv{fam} {what}")
    except labmod.PollTimeout as e:
        raise AssertionError(f"{e}\nmismatches: {last}") from None
    return router.routes_by_prefix(addr, fam)


def want_routes(prefixes, **attrs):
    return {norm_prefix(p): dict(attrs) for p in prefixes}


def ebgp_local_pref(kind):
    """LOCAL_PREF as the router shows an eBGP route.  GoBGP's Adj-RIB-In
    holds the attributes as received, so None there proves ironlb sent no
    LOCAL_PREF on eBGP; FRR ignores one received over eBGP (None either
    way); BIRD shows its default, 100."""
    return 100 if kind == "bird" else None


def guide_neighbors(asn=MY_ASN, **kw):
    return [bgplab.Neighbor(NODE4, asn, **kw), bgplab.Neighbor(NODE6, asn, **kw)]


def start_guide(net, kind, up=UP, **nkw):
    """The guide's BGP set (examples/bgp: pools, bgp-peers,
    bgp-advertisements, test-deployment) plus three Services, and a router
    peering with the node over IPv4 and IPv6 (AS 64501)."""
    net.copy_example("bgp")
    names = extra_services(net)
    net.start_router(kind, PEER_ASN, guide_neighbors(**nkw))
    net.speaker.start()
    ingress = net.services(names)
    for a in (NODE4, NODE6):
        net.router.wait_established(a, up)
    net.speaker.wait_established(["router-ipv4", "router-ipv6"], up)
    return ingress


# ---------------------------------------------------------------------------
# eBGP over IPv4 and IPv6: the guide's bgp-peers + bgp-advertisements


@pytest.mark.parametrize("kind", KINDS)
def test_ebgp_ipv4_and_ipv6_sessions_carry_their_family(net, kind):
    ingress = start_guide(net, kind)
    ips = addresses(ingress)
    v4, v6 = host_prefixes(ips, 4), host_prefixes(ips, 6)
    assert len(v4) == 3 and len(v6) == 3, ingress
    lp = ebgp_local_pref(kind)

    # IPv4 /32s on the IPv4 session, next hop the node's address, AS path
    # the node's AS, the advertisement's community
    wait_rib(net.router, NODE4, 4, want_routes(
        v4, next_hop=NODE4, as_path=[MY_ASN], communities=["64500:100"], large_communities=[],
        local_pref=lp, origin=SKIP, stale=False))
    # IPv6 /128s on the IPv6 session, next hop the node's global address
    wait_rib(net.router, NODE6, 6, want_routes(
        v6, next_hop=NODE6, as_path=[MY_ASN], communities=["64500:100"], large_communities=[],
        local_pref=lp, origin=SKIP, stale=False))
    # and nothing of the other family on either session
    assert net.router.routes(NODE4, 6) == []
    assert net.router.routes(NODE6, 4) == []
    for r in net.router.routes(NODE4, 4):
        assert r.origin in ("IGP", "i", 0), r

    # ironlb's /status says the same
    sess = net.speaker.sessions()
    for name, peer, fam, pfx in (("router-ipv4", RTR4, 4, v4), ("router-ipv6", RTR6, 6, v6)):
        s = sess[name]
        assert s["state"] == "Established", s
        assert peer in str(s["peer"]), s
        assert s["uptime_s"] >= 0 and s["hold_time"] == 90, s
        assert s.get("gtsm") is False, f"GTSM for a router that does not use it: {s}"
        caps = s["capabilities"]
        assert caps.get(f"ipv{fam}_unicast") is True and caps.get("four_octet_as") is True, s
        routes = {norm_prefix(r["prefix"]): r for r in s["routes"]}
        assert set(routes) == pfx, (name, sorted(routes))
        for r in routes.values():
            assert r["communities"] == ["64500:100"], r
            assert r["services"], r
            assert r.get("local_pref") in (None, 0), f"LOCAL_PREF on eBGP: {r}"
    # the router's own session view agrees: both families on the right one
    assert net.router.count(NODE4, 4) == 3 and net.router.count(NODE6, 6) == 3


# ---------------------------------------------------------------------------
# iBGP: localPref, communities by alias, large communities


IBGP_ADV = """\
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: primary-advertisement
  namespace: metallb-system
spec:
  ipAddressPools:
  - ipv4-pool
  - ipv6-pool
  peers:
  - router-ipv4
  - router-ipv6
  communities:
  - primary-path
  - local-preference-high
  - large:64500:1:2
  localPref: 200
"""

# the guide's bgp-communities.yaml Community object, as it is
COMMUNITY = """\
apiVersion: metallb.io/v1beta1
kind: Community
metadata:
  name: traffic-engineering
  namespace: metallb-system
spec:
  communities:
  - name: primary-path
    value: "64500:100"
  - name: backup-path
    value: "64500:200"
  - name: no-export
    value: "65535:65281"
  - name: local-preference-high
    value: "64500:1000"
"""


def ibgp_peers(asn=MY_ASN):
    return (bgplab.bgppeer_manifest("router-ipv4", asn, asn, RTR4) +
            "---\n" + bgplab.bgppeer_manifest("router-ipv6", asn, asn, RTR6))


@pytest.mark.parametrize("kind", KINDS)
def test_ibgp_local_pref_community_alias_and_large_community(net, kind):
    net.copy_example("bgp", ["ipaddresspools.yaml", "test-deployment.yaml"])
    names = extra_services(net)
    net.write("peers.yaml", ibgp_peers())
    net.write("community.yaml", COMMUNITY)
    net.write("adv.yaml", IBGP_ADV)
    # the router is in the node's AS; it needs another router ID
    net.start_router(kind, MY_ASN, guide_neighbors())
    net.speaker.start()
    ips = addresses(net.services(names))
    for a in (NODE4, NODE6):
        net.router.wait_established(a, UP)

    common = dict(as_path=[], communities=["64500:100", "64500:1000"],
                  large_communities=["64500:1:2"], local_pref=200, stale=False)
    wait_rib(net.router, NODE4, 4, want_routes(host_prefixes(ips, 4), next_hop=NODE4, **common))
    wait_rib(net.router, NODE6, 6, want_routes(host_prefixes(ips, 6), next_hop=NODE6, **common))

    s = net.speaker.session("router-ipv4")
    for r in s["routes"]:
        assert r["local_pref"] == 200, r
        assert set(map(str, r["communities"])) >= {"64500:100", "64500:1000"}, r


# ---------------------------------------------------------------------------
# eBGP multi-hop with a source address (the guide's multi-peer-bgp tor1)


@pytest.mark.parametrize("kind", KINDS)
def test_ebgp_multihop_with_source_address(lab, tmp_path, ironlb_bin, routers, kind):
    """node --- fwd --- router: the peers' addresses (10.0.1.1 and
    2001:db8:f1::1 on the router's loopback, 10.0.1.10 and 2001:db8:f1::10
    on the node's) are two hops apart.  The router accepts only sessions
    from the source addresses, so a session up proves sourceAddress is
    used; TTL 1 would die at the forwarder, so it proves multi-hop too."""
    node, fwd, rtr = lab.host("node"), lab.host("fwd"), lab.host("router")
    bgplab.veth(node, "eth0", fwd, "eth0", ["192.0.2.2/30", "2001:db8:a::2/64"],
                ["192.0.2.1/30", "2001:db8:a::1/64"])
    bgplab.veth(fwd, "eth1", rtr, "eth0", ["198.51.100.1/30", "2001:db8:b::1/64"],
                ["198.51.100.2/30", "2001:db8:b::2/64"])
    bgplab.forwarding(fwd)
    for h, addrs in ((node, ["10.0.1.10/32", "2001:db8:f1::10/128"]),
                     (rtr, ["10.0.1.1/32", "2001:db8:f1::1/128"])):
        for a in addrs:
            bgplab.add_addr(h, "lo", a)
    bgplab.route(node, "10.0.1.1/32", "192.0.2.1")
    bgplab.route(node, "2001:db8:f1::1/128", "2001:db8:a::1")
    bgplab.route(rtr, "10.0.1.10/32", "198.51.100.1")
    bgplab.route(rtr, "2001:db8:f1::10/128", "2001:db8:b::1")
    bgplab.route(fwd, "10.0.1.10/32", "192.0.2.2")
    bgplab.route(fwd, "2001:db8:f1::10/128", "2001:db8:a::2")
    bgplab.route(fwd, "10.0.1.1/32", "198.51.100.2")
    bgplab.route(fwd, "2001:db8:f1::1/128", "2001:db8:b::2")
    # the way is open, before any BGP
    for src, dst in (("10.0.1.1", "10.0.1.10"), ("2001:db8:f1::1", "2001:db8:f1::10")):
        p = rtr.run(["ping", "-c1", "-W2", "-I", src, dst], check=False)
        assert p.returncode == 0, p.stdout

    mdir = tmp_path / "manifests"
    mdir.mkdir()
    for f in ("ipaddresspools.yaml", "test-deployment.yaml"):
        shutil.copy(EXAMPLES / "bgp" / f, mdir / f)
    (mdir / "node.yaml").write_text(labmod.node_manifest("node"))
    # the guide's tor1 peers (examples/bgp-multi-peer, with its corrected
    # IPv6 addresses), as they are
    docs = split_docs((EXAMPLES / "bgp-multi-peer" / "multi-peer-bgp.yaml").read_text())
    tor1 = [d for d in docs if "name: tor1-" in d]
    assert len(tor1) == 2
    (mdir / "multi-peer-bgp.yaml").write_text("---\n".join(tor1))
    (mdir / "adv.yaml").write_text(bgplab.bgpadv_manifest(
        "tor1", pools=["ipv4-pool", "ipv6-pool"], peers=["tor1-ipv4", "tor1-ipv6"],
        communities=["64500:100"]))
    router = bgplab.make_router(kind, rtr, 64510, "10.0.1.1", [
        bgplab.Neighbor("10.0.1.10", MY_ASN, multihop=2, local_address="10.0.1.1"),
        bgplab.Neighbor("2001:db8:f1::10", MY_ASN, multihop=2, local_address="2001:db8:f1::1")],
        igp_routes=[("10.0.1.10/32", "198.51.100.1"), ("2001:db8:f1::10/128", "2001:db8:b::1")])
    router.start()
    speaker = bgplab.Speaker(node, mdir).start()
    ingress = poll(lambda: speaker.ingress().get("default/dual-stack-test-svc"), 10,
                   what="the guide's Service has addresses")
    for a in ("10.0.1.10", "2001:db8:f1::10"):
        router.wait_established(a, UP)
    speaker.wait_established(["tor1-ipv4", "tor1-ipv6"], UP)

    common = dict(as_path=[MY_ASN], communities=["64500:100"], stale=False, valid=True)
    wait_rib(router, "10.0.1.10", 4, want_routes(host_prefixes(ingress, 4),
                                                  next_hop="10.0.1.10", **common))
    wait_rib(router, "2001:db8:f1::10", 6, want_routes(host_prefixes(ingress, 6),
                                                        next_hop="2001:db8:f1::10", **common))
    # no link-local next hop can make sense two hops away
    for r in router.routes("2001:db8:f1::10", 6):
        assert all(not ipaddress.ip_address(n).is_link_local for n in r.next_hops), r


# ---------------------------------------------------------------------------
# GTSM (RFC 5082) on single-hop eBGP, detected from the router's SYNs


# GoBGP (3.10) is left out: with ttl-security it accepts ironlb's TTL-1
# SYN (no minimum TTL on its listener), then drops everything else ironlb
# sends on that connection and never dials ironlb itself, so there is no
# SYN of its own to detect GTSM from.  FRR sets the minimum on its
# listener and dials; BIRD dials too, and ironlb moves its own connection
# to TTL 255 once the SYN tells.
GTSM_KINDS = [k for k in KINDS if k != "gobgp"]


@pytest.mark.parametrize("kind", GTSM_KINDS)
def test_gtsm_detected_for_single_hop_ebgp(net, kind):
    """The router uses GTSM (FRR `ttl-security hops 1`, BIRD `ttl security
    on`): it sends with TTL 255 and drops what arrives below 255, ironlb's
    TTL-1 packets included.  MetalLB's BGPPeer has no field for it; ironlb
    sees the TTL 255 of the router's SYN and answers with TTL 255 from
    then on."""
    # ironlb dials at once and BIRD only after its start delay, so ironlb
    # has no SYN to learn GTSM from at first.  BIRD sets the minimum TTL on
    # the connection it accepted only after accepting it: on a busy machine
    # ironlb's TTL-1 OPEN can slip in before, its KEEPALIVE then not, and
    # BIRD waits in OpenConfirm for its hold time before dropping the
    # connection and dialling.  A short hold time bounds that wait.
    ingress = start_guide(net, kind, up=UP + 20, ttl_security=True, hold_time=9, keepalive=3)
    ips = addresses(ingress)
    lp = ebgp_local_pref(kind)
    wait_rib(net.router, NODE4, 4, want_routes(
        host_prefixes(ips, 4), next_hop=NODE4, as_path=[MY_ASN], communities=["64500:100"],
        large_communities=[], local_pref=lp, origin=SKIP, stale=False))
    wait_rib(net.router, NODE6, 6, want_routes(
        host_prefixes(ips, 6), next_hop=NODE6, as_path=[MY_ASN], communities=["64500:100"],
        large_communities=[], local_pref=lp, origin=SKIP, stale=False))

    sess = net.speaker.sessions()
    for name in ("router-ipv4", "router-ipv6"):
        assert sess[name]["state"] == "Established", sess[name]
        assert sess[name].get("gtsm") is True, sess[name]
    log = net.speaker.log()
    for name in ("router-ipv4", "router-ipv6"):
        lines = [line for line in log.splitlines()
                 if "peer uses GTSM (RFC 5082)" in line and f"session={name}" in line]
        assert len(lines) == 1, f"want one GTSM line for {name}:\n{log[-3000:]}"


# ---------------------------------------------------------------------------
# TCP MD5: matching password (up), mismatching (never up, clear log)


@pytest.mark.parametrize("kind", KINDS)
def test_md5_matching_comes_up_mismatching_never_does(net, kind):
    """secure-peer (IPv4) takes its password from a basic-auth Secret
    (the guide's security-best-practices, in the form ironlb accepts) and
    matches the router; secure-peer-v6 has a wrong password.  A mismatch
    is silent on the wire (the kernel drops the segments), so the IPv6
    session must stay down for the whole window and ironlb must say why."""
    pw = "your-secure-password"
    net.copy_example("bgp", ["ipaddresspools.yaml", "test-deployment.yaml"])
    net.write("secret.yaml", bgplab.secret_manifest("bgp-auth-secret", pw))
    net.write("peers.yaml",
              bgplab.bgppeer_manifest("secure-peer", MY_ASN, PEER_ASN, RTR4,
                                      passwordSecret={"name": "bgp-auth-secret"}) + "---\n" +
              bgplab.bgppeer_manifest("secure-peer-v6", MY_ASN, PEER_ASN, RTR6,
                                      password="not-the-password", connectTime="2s"))
    net.write("adv.yaml", bgplab.bgpadv_manifest("adv", pools=["ipv4-pool", "ipv6-pool"]))
    net.start_router(kind, PEER_ASN, [bgplab.Neighbor(NODE4, MY_ASN, password=pw),
                                      bgplab.Neighbor(NODE6, MY_ASN, password=pw)])
    net.speaker.start()
    ingress = poll(lambda: net.speaker.ingress().get("default/dual-stack-test-svc"), 10,
                   what="the guide's Service has addresses")

    net.router.wait_established(NODE4, UP)
    net.speaker.wait_established(["secure-peer"], UP)
    wait_rib(net.router, NODE4, 4, want_routes(host_prefixes(ingress, 4), next_hop=NODE4))

    # the mismatch: never Established, at the router or at ironlb, over
    # several connect attempts of both sides
    end = time.monotonic() + 8
    while time.monotonic() < end:
        assert net.router.state(NODE6) != "Established"
        s = net.speaker.session("secure-peer-v6")
        assert s and s["state"] != "Established", s
        time.sleep(0.25)
    assert net.router.routes(NODE6, 6) == []
    s = net.speaker.session("secure-peer-v6")
    log = net.speaker.log()
    assert s["last_error"], f"no last_error for the MD5 mismatch: {s}"
    lines = [line for line in log.splitlines() if RTR6 in line or "secure-peer-v6" in line]
    assert lines, f"ironlb's log never names the peer {RTR6}:\n{log[-3000:]}"
    reason = (s["last_error"] + "\n" + "\n".join(lines)).lower()
    assert "md5" in reason or "password" in reason, (
        "a silent MD5 mismatch looks like a connect timeout; the log/status should say that "
        f"MD5 is configured for this peer.  last_error={s['last_error']!r}, log lines:\n"
        + "\n".join(lines[-10:]))
    # the matching session was not disturbed
    assert net.router.state(NODE4) == "Established"


# ---------------------------------------------------------------------------
# 4-octet ASNs


@pytest.mark.parametrize("kind", KINDS)
def test_four_octet_asns(net, kind):
    mine, theirs = 4200000001, 4200000002
    net.copy_example("bgp", ["ipaddresspools.yaml", "test-deployment.yaml",
                             "bgp-advertisements.yaml"])
    net.write("peers.yaml",
              bgplab.bgppeer_manifest("router-ipv4", mine, theirs, RTR4) + "---\n" +
              bgplab.bgppeer_manifest("router-ipv6", mine, theirs, RTR6))
    net.start_router(kind, theirs, guide_neighbors(mine))
    net.speaker.start()
    ingress = poll(lambda: net.speaker.ingress().get("default/dual-stack-test-svc"), 10,
                   what="the guide's Service has addresses")
    for a in (NODE4, NODE6):
        net.router.wait_established(a, UP)
    net.speaker.wait_established(["router-ipv4", "router-ipv6"], UP)
    for n in ("router-ipv4", "router-ipv6"):
        s = net.speaker.session(n)
        assert s["capabilities"].get("four_octet_as") is True, s
        assert s.get("local_asn") in (None, mine) and s.get("peer_asn") in (None, theirs), s
    wait_rib(net.router, NODE4, 4, want_routes(host_prefixes(ingress, 4), next_hop=NODE4,
                                                as_path=[mine], communities=["64500:100"]))
    wait_rib(net.router, NODE6, 6, want_routes(host_prefixes(ingress, 6), next_hop=NODE6,
                                                as_path=[mine], communities=["64500:100"]))


# ---------------------------------------------------------------------------
# aggregation: /24 and /64 aggregates beside /128 specifics


AGG_POOLS = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: critical-ipv6-pool
  namespace: metallb-system
spec:
  addresses:
  - 2001:db8:2::/120
  autoAssign: false
"""


@pytest.mark.parametrize("kind", KINDS)
def test_aggregated_and_specific_prefixes(net, kind):
    """The guide's ipv6-aggregation.yaml (aggregated-ipv6: ipv6-pool as
    /64; specific-ipv6: critical-ipv6-pool as /128s), aimed at this
    router's sessions, plus ipv4-pool aggregated to /24."""
    net.copy_example("bgp", ["ipaddresspools.yaml", "test-deployment.yaml", "bgp-peers.yaml"])
    names = extra_services(net)
    net.write("critical-pool.yaml", AGG_POOLS)
    net.write("svc-critical.yaml", labmod.service_manifest(
        "critical", families=("IPv6",), pool="critical-ipv6-pool"))
    names.append("default/critical")
    text = (EXAMPLES / "bgp-aggregation" / "ipv6-aggregation.yaml").read_text()
    net.write("ipv6-aggregation.yaml", text.replace("tor1-ipv6", "router-ipv6")
              .replace("  - tor2-ipv6\n", ""))
    net.write("ipv4-aggregation.yaml", bgplab.bgpadv_manifest(
        "aggregated-ipv4", pools=["ipv4-pool"], peers=["router-ipv4"], aggregation_length=24))
    net.start_router(kind, PEER_ASN, guide_neighbors())
    net.speaker.start()
    ingress = net.services(names)
    for a in (NODE4, NODE6):
        net.router.wait_established(a, UP)

    crit = ingress["default/critical"]
    assert ipaddress.ip_address(crit[0]) in ipaddress.ip_network("2001:db8:2::/120"), crit
    v6_specific = host_prefixes(crit, 6)
    wait_rib(net.router, NODE4, 4, want_routes({"192.168.100.0/24"}, next_hop=NODE4,
                                                as_path=[MY_ASN], communities=[]))
    wait_rib(net.router, NODE6, 6, want_routes({"2001:db8:1::/64"} | v6_specific,
                                                next_hop=NODE6, as_path=[MY_ASN]))
    # the aggregate stands for every Service whose address it covers
    agg = net.speaker.announced("router-ipv6")[norm_prefix("2001:db8:1::/64")]
    assert set(agg["services"]) == {"default/dual-stack-test-svc", "default/web",
                                    "default/v6-only"}, agg
    # one metallb_speaker_announced series per announced Service address,
    # an aggregate's included (MetalLB labels them with the address)
    wait_bgp_series(net.speaker, {(a, n) for n, ips in ingress.items() for a in ips})


# ---------------------------------------------------------------------------
# announcements change, the session stays


@pytest.mark.parametrize("kind", KINDS)
def test_service_added_community_changed_service_deleted_without_reset(net, kind):
    ingress = start_guide(net, kind)
    r = net.router
    marks = {a: r.session_mark(a) for a in (NODE4, NODE6)}
    before = {n: net.speaker.session(n) for n in ("router-ipv4", "router-ipv6")}
    t_before = time.monotonic()
    router_up = {a: r.uptime(a) for a in (NODE4, NODE6)}
    ips = addresses(ingress)
    wait_rib(r, NODE4, 4, want_routes(host_prefixes(ips, 4), communities=["64500:100"]))

    # 1. a Service added: its prefixes arrive
    net.write("svc-new.yaml", labmod.service_manifest("new"))
    ingress = net.services(list(ingress) + ["default/new"])
    ips = addresses(ingress)
    wait_rib(r, NODE4, 4, want_routes(host_prefixes(ips, 4), communities=["64500:100"]))
    wait_rib(r, NODE6, 6, want_routes(host_prefixes(ips, 6), communities=["64500:100"]))
    wait_bgp_series(net.speaker, {(a, n) for n, v in ingress.items() for a in v})

    # 2. the advertisement's community changed: every route re-announced
    adv = (EXAMPLES / "bgp" / "bgp-advertisements.yaml").read_text()
    assert "- 64500:100" in adv
    net.write("bgp-advertisements.yaml", adv.replace("- 64500:100", "- 64500:200"))
    wait_rib(r, NODE4, 4, want_routes(host_prefixes(ips, 4), communities=["64500:200"]))
    wait_rib(r, NODE6, 6, want_routes(host_prefixes(ips, 6), communities=["64500:200"]))

    # 3. a Service deleted: its prefixes withdrawn, the others kept
    gone = ingress.pop("default/web")
    net.remove("svc-web.yaml")
    ips = addresses(ingress)
    for fam, nbr in ((4, NODE4), (6, NODE6)):
        rs = wait_rib(r, nbr, fam, want_routes(host_prefixes(ips, fam),
                                                communities=["64500:200"]))
        assert not host_prefixes(gone, fam) & set(rs)
    wait_bgp_series(net.speaker, {(a, n) for n, v in ingress.items() for a in v})

    # no session was reset: same session at the router, uptimes counting
    for a in (NODE4, NODE6):
        assert r.session_mark(a) == marks[a], f"{kind} session with {a} was re-established"
        assert r.uptime(a) >= router_up[a]
    for n, b in before.items():
        s = net.speaker.session(n)
        grown = int(time.monotonic() - t_before) - 1
        assert s["state"] == "Established" and s["uptime_s"] >= b["uptime_s"] + grown, (n, b, s)
        assert s["counters"]["established"] == b["counters"]["established"], (n, b, s)
        assert s["counters"]["notifications_sent"] == b["counters"]["notifications_sent"]
        assert s["counters"]["updates_sent"] > b["counters"]["updates_sent"], (n, b, s)


# ---------------------------------------------------------------------------
# the router restarts


@pytest.mark.parametrize("kind", KINDS)
def test_router_restart_routes_return(net, kind):
    ingress = start_guide(net, kind)
    ips = addresses(ingress)
    want4 = want_routes(host_prefixes(ips, 4), next_hop=NODE4, communities=["64500:100"])
    want6 = want_routes(host_prefixes(ips, 6), next_hop=NODE6, communities=["64500:100"])
    wait_rib(net.router, NODE4, 4, want4)
    wait_rib(net.router, NODE6, 6, want6)

    marks = {a: net.router.session_mark(a) for a in (NODE4, NODE6)}
    net.router.restart()
    for a in (NODE4, NODE6):
        net.router.wait_established(a, 30)
        assert net.router.session_mark(a) != marks[a]   # a new session
    wait_rib(net.router, NODE4, 4, want4)
    wait_rib(net.router, NODE6, 6, want6)
    net.speaker.wait_established(["router-ipv4", "router-ipv6"], UP)
    assert net.speaker.proc.alive()


# ---------------------------------------------------------------------------
# ironlb restarts with graceful restart: the router keeps the routes


@pytest.mark.parametrize("kind", KINDS)
def test_graceful_restart_keeps_routes_while_ironlb_restarts(net, kind):
    net.copy_example("bgp", ["ipaddresspools.yaml", "test-deployment.yaml",
                             "bgp-advertisements.yaml"])
    names = extra_services(net)
    net.write("peers.yaml",
              bgplab.bgppeer_manifest("router-ipv4", MY_ASN, PEER_ASN, RTR4,
                                      enableGracefulRestart=True) + "---\n" +
              bgplab.bgppeer_manifest("router-ipv6", MY_ASN, PEER_ASN, RTR6,
                                      enableGracefulRestart=True))
    net.start_router(kind, PEER_ASN, guide_neighbors())
    net.speaker.start()
    ips = addresses(net.services(names))
    r = net.router
    for a in (NODE4, NODE6):
        r.wait_established(a, UP)
    want = {4: host_prefixes(ips, 4), 6: host_prefixes(ips, 6)}
    nbr = {4: NODE4, 6: NODE6}
    for fam in (4, 6):
        wait_rib(r, nbr[fam], fam, want_routes(want[fam], stale=False))
    for n in ("router-ipv4", "router-ipv6"):
        caps = net.speaker.session(n).get("capabilities") or {}
        assert caps.get("graceful_restart") is True, f"{n}: graceful restart not negotiated: {caps}"
    marks = {a: r.session_mark(a) for a in (NODE4, NODE6)}

    def sample():
        """The router's routes from ironlb, per family; asserts that every
        expected prefix is there (the point of graceful restart)."""
        out = {}
        for fam in (4, 6):
            rs = r.routes_by_prefix(nbr[fam], fam)
            missing = want[fam] - set(rs)
            assert not missing, (f"{kind} dropped {sorted(missing)} during ironlb's restart "
                                 f"(state {r.state(nbr[fam])})")
            out[fam] = rs
        return out

    # stop: with graceful restart negotiated, no NOTIFICATION, the router
    # keeps the routes as stale
    assert net.speaker.stop() == 0
    t_stop = time.monotonic()
    seen_stale = poll(lambda: all(rt.stale for rs in sample().values() for rt in rs.values()),
                      10, interval=0.1, what=f"{kind} marks ironlb's routes stale")
    assert seen_stale
    for a in (NODE4, NODE6):
        assert r.state(a) != "Established"
    while time.monotonic() - t_stop < 1.0:    # still there a while later
        sample()
        time.sleep(0.1)

    # start again: same addresses (state file), session back, routes fresh
    # after End-of-RIB, and never missing in between
    net.speaker.start()
    deadline = time.monotonic() + 30
    while True:
        rs = sample()
        if (all(r.state(a) == "Established" for a in (NODE4, NODE6)) and
                not any(rt.stale for x in rs.values() for rt in x.values())):
            break
        assert time.monotonic() < deadline, (
            f"{kind}: routes still stale or session down 30 s after ironlb restarted: "
            f"{[r.state(a) for a in (NODE4, NODE6)]} {rs}")
        time.sleep(0.1)
    for a in (NODE4, NODE6):
        assert r.session_mark(a) != marks[a]      # it was a new session
    for fam in (4, 6):
        wait_rib(r, nbr[fam], fam, want_routes(want[fam], stale=False,
                                                communities=["64500:100"]))


# ---------------------------------------------------------------------------
# a malformed UPDATE from one peer: NOTIFICATION to it, the others served


def test_malformed_update_gets_notification_and_other_peer_is_kept(lab, tmp_path, ironlb_bin,
                                                                   routers):
    """BIRD on eth0 (the guide's router-ipv4) and a scripted peer in
    Python on eth1 (192.168.2.1, AS 64502).  The scripted peer sends:
      1. an UPDATE with NLRI whose ORIGIN has length 2: RFC 7606 §7.1 says
         treat-as-withdraw, so no NOTIFICATION and the session stays;
      2. an UPDATE without NLRI whose ORIGIN has length 2: nothing to
         withdraw, so RFC 7606 §5.2 asks for a session reset, with
         RFC 4271 §6.3's UPDATE Message Error / Attribute Length Error and
         the attribute as data;
      3. (new session) an UPDATE whose Total Path Attribute Length runs
         past the message: RFC 4271 §6.3 Malformed Attribute List.
    Meanwhile the BIRD session is never reset and ironlb keeps running."""
    node, rtr, peer = lab.host("node"), lab.host("router"), lab.host("peer")
    bgplab.veth(node, "eth0", rtr, "eth0", [f"{NODE4}/24"], [f"{RTR4}/24"])
    bgplab.veth(node, "eth1", peer, "eth0", ["192.168.2.10/24"], ["192.168.2.1/24"])
    mdir = tmp_path / "manifests"
    mdir.mkdir()
    for f in ("ipaddresspools.yaml", "test-deployment.yaml"):
        shutil.copy(EXAMPLES / "bgp" / f, mdir / f)
    (mdir / "node.yaml").write_text(labmod.node_manifest("node"))
    (mdir / "peers.yaml").write_text(
        bgplab.bgppeer_manifest("router-ipv4", MY_ASN, PEER_ASN, RTR4) + "---\n" +
        bgplab.bgppeer_manifest("scripted", MY_ASN, 64502, "192.168.2.1"))
    (mdir / "adv.yaml").write_text(bgplab.bgpadv_manifest("adv", pools=["ipv4-pool"]))

    scripted = bgplab.ScriptedPeer(peer, "192.168.2.1")
    try:
        bird = bgplab.Bird(rtr, PEER_ASN, RTR4, [bgplab.Neighbor(NODE4, MY_ASN, families=(4,))])
        bird.start()
        speaker = bgplab.Speaker(node, mdir).start()
        bird.wait_established(NODE4, UP)
        ingress = poll(lambda: speaker.ingress().get("default/dual-stack-test-svc"), 10,
                       what="the guide's Service has addresses")
        wait_rib(bird, NODE4, 4, want_routes(host_prefixes(ingress, 4), next_hop=NODE4))
        mark = bird.session_mark(NODE4)

        conn, their_open = scripted.establish(64502, "192.168.2.1", timeout=UP)
        assert their_open[0] == 4, their_open.hex()     # BGP version 4
        speaker.wait_established(["scripted", "router-ipv4"], UP)

        origin_bad = bgplab.bgp_attr(0x40, 1, b"\x00\x00")   # ORIGIN, length 2 (must be 1)
        as_path = bgplab.bgp_attr(0x40, 2, b"\x02\x01" + (64502).to_bytes(4, "big"))
        next_hop = bgplab.bgp_attr(0x40, 3, bytes([192, 168, 2, 1]))
        nlri = bytes([32, 203, 0, 113, 7])                   # 203.0.113.7/32

        # 1. with NLRI: treat-as-withdraw, no NOTIFICATION
        conn.send(bgplab.bgp_update(attrs=origin_bad + as_path + next_hop, nlri=nlri))
        conn.send(bgplab.bgp_msg(bgplab.MSG_KEEPALIVE))
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            try:
                m = conn.recv_msg(max(0.05, end - time.monotonic()))
            except TimeoutError:
                break
            assert m is not None, "ironlb closed the session over a treat-as-withdraw error"
            assert m[0] != bgplab.MSG_NOTIFICATION, \
                f"NOTIFICATION for a treat-as-withdraw error: {m[1].hex()}"
        assert speaker.session("scripted")["state"] == "Established"

        # 2. without NLRI: session reset, 3/5, data = the attribute
        conn.send(bgplab.bgp_update(attrs=origin_bad))
        body = conn.wait_for(bgplab.MSG_NOTIFICATION, 5)
        assert body is not None, f"no NOTIFICATION; got {conn.received}"
        code, sub, data = bgplab.parse_notification(body)
        assert (code, sub) == (3, 5), f"NOTIFICATION {body.hex()}: want 3/5 (Attribute Length)"
        assert data == origin_bad, f"data {data.hex()}, want the attribute {origin_bad.hex()}"
        assert conn.closed(5), "ironlb kept the TCP connection open after its NOTIFICATION"

        st = poll(lambda: (lambda s: s if s and s["state"] != "Established" else None)(
            speaker.session("scripted")), 5, what="ironlb's scripted session is down")
        assert st["last_error"], st

        # 3. ironlb dials again; Total Path Attribute Length past the end
        conn2, _ = scripted.establish(64502, "192.168.2.1", timeout=30)
        conn2.send(bgplab.bgp_update(attrs=bgplab.bgp_attr(0x40, 1, b"\x00"), attrs_len=200))
        body = conn2.wait_for(bgplab.MSG_NOTIFICATION, 5)
        assert body is not None, f"no NOTIFICATION; got {conn2.received}"
        code, sub, data = bgplab.parse_notification(body)
        assert (code, sub) == (3, 1), f"NOTIFICATION {body.hex()}: want 3/1 (Malformed Attr List)"
        assert conn2.closed(5)

        # the other peer never noticed; ironlb is alive and says why
        assert speaker.proc.alive()
        assert bird.state(NODE4) == "Established" and bird.session_mark(NODE4) == mark
        s = speaker.session("router-ipv4")
        assert s["state"] == "Established", s
        wait_rib(bird, NODE4, 4, want_routes(host_prefixes(ingress, 4), next_hop=NODE4))
        log = speaker.log()
        assert any("192.168.2.1" in line or "scripted" in line for line in log.splitlines()
                   if "level=" in line and ("notif" in line.lower() or "error" in line.lower())
                   ), f"ironlb's log does not report the malformed UPDATE:\n{log[-3000:]}"
    finally:
        scripted.close()
