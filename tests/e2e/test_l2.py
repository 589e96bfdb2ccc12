"""End-to-end tests of `ironlb run` in Layer 2 mode: real namespaces, a
bridge, real clients (arping, ndisc6, curl, the kernel's neighbour table)
and, on every node, ironlb plus an HTTP server that answers with the
node's name.  Every wait polls a condition with a deadline."""
import ipaddress
import json
import re
import time

import lab as labmod
from lab import poll

V4_NET = ipaddress.ip_network(labmod.SERVICE_V4)
V6_NET = ipaddress.ip_network(labmod.SERVICE_V6)


def is_v6(ip):
    return ":" in ip


def resolve(client, ip, ifname="eth0", count=2):
    """The MACs that answered ARP (arping) or NDP (a raw Neighbor
    Solicitation) for ip from the client, one entry per answer."""
    if is_v6(ip):
        return client.solicit(ip, ifname, tries=1, wait=0.4)
    return client.arping(ip, ifname, count=count)


def wait_resolves_to(client, ip, mac, ifname="eth0", timeout=5):
    def ok():
        got = resolve(client, ip, ifname)
        return got if got and set(got) == {mac} else None
    return poll(ok, timeout, what=f"{ip} resolves to {mac} only")


def wait_unanswered(client, ip, ifname="eth0", timeout=5):
    poll(lambda: resolve(client, ip, ifname) == [], timeout, what=f"nobody answers for {ip}")


def assert_reaches(client, ip, owner):
    code, body = client.curl(ip)
    assert (code, body.strip()) == (200, owner), f"curl {ip}: {code} {body!r}"


# ---------------------------------------------------------------------------
# 1, 2: resolution, reachability, and only the owner answers


def test_clients_resolve_and_reach_the_guide_service(cluster):
    cl = cluster().start()
    (v4, v6), owner = cl.wait_service("dual-stack-test-svc")
    assert ipaddress.ip_address(v4) in V4_NET
    assert ipaddress.ip_address(v6) in V6_NET
    mac = cl.mac(owner)
    c = cl.client

    # IPv4: arping sees the owner's MAC, curl -4 reaches the owner
    assert set(wait_resolves_to(c, v4, mac)) == {mac}
    assert_reaches(c, v4, owner)
    assert c.neigh(v4) == mac

    # IPv6: a Neighbor Solicitation is answered with the owner's MAC, curl
    # -6 reaches the owner and the kernel's neighbour entry is its MAC
    assert set(wait_resolves_to(c, v6, mac)) == {mac}
    assert_reaches(c, v6, owner)
    assert c.neigh(v6) == mac

    # every other Service of the guide's set too, whichever node owns it
    st = cl.speakers[owner].status()
    assert len(st["services"]) == 8
    owners = set()
    for s in st["services"]:
        ingress, o = cl.wait_service(s["name"], s["namespace"])
        owners.add(o)
        for ip in ingress:
            assert_reaches(c, ip, o)
            assert c.neigh(ip) == cl.mac(o), ip
    assert owners == {"node-a", "node-b"}, "the election spreads the guide's Services"


def test_ndisc6_resolves_to_the_owner(cluster):
    """The guide's IPv6 client tool, ndisc6, shows the owner's MAC."""
    cl = cluster().start()
    (v4, v6), owner = cl.wait_service("dual-stack-test-svc")
    mac = cl.mac(owner)
    wait_resolves_to(cl.client, v6, mac)  # the engine answers (raw NS)
    got = cl.client.ndisc6(v6)
    assert got and set(got) == {mac}, (
        f"ndisc6 {v6}: {got}; note that ndisc6 1.0.5 ignores Neighbor Advertisements whose "
        f"IPv6 source is not the target address itself (e.g. the link-local address)")


def test_only_the_owner_answers(cluster):
    cl = cluster().start()
    c = cl.client
    st = cl.speakers["node-a"].status()
    by_ip = {}
    for s in st["services"]:
        ingress, owner = cl.wait_service(s["name"], s["namespace"])
        for ip in ingress:
            by_ip[ip] = owner
    macs = {n: cl.mac(n) for n in cl.nodes}

    with labmod.Sniffer(c) as sn:
        for ip, owner in by_ip.items():
            if is_v6(ip):
                got = c.solicit(ip, tries=1, wait=0.4)
                assert got == [macs[owner]], f"{ip}: {got}, owner {owner}"
            else:
                got = c.arping(ip, count=3)
                assert got == [macs[owner]] * 3, f"{ip}: {got}, owner {owner}"
        frames = sn.snapshot(lambda f: not f.outgoing)

    # on the wire: every ARP reply / NA about a service address came from
    # its owner (solicited or gratuitous)
    seen = 0
    for f in frames:
        if f.kind == "arp" and f.spa in by_ip:
            assert f.sha == macs[by_ip[f.spa]] and f.src == f.sha, f
            seen += 1
        if f.kind == "na":
            ip = ipaddress.ip_address(f.target).compressed
            if ip in by_ip:
                assert f.lla == macs[by_ip[ip]] and f.src == f.lla, f
                seen += 1
    assert seen >= len(by_ip)

    # each node's engine announces exactly the addresses it owns
    for n, sp in cl.speakers.items():
        ann = set(labmod.engine_addresses(sp.status()))
        assert ann == {ip for ip, o in by_ip.items() if o == n}, n

    # and counts what it answered (MetalLB's metric names)
    ip4 = next(ip for ip in by_ip if not is_v6(ip))
    o = cl.speakers[by_ip[ip4]]
    assert (o.metric("metallb_layer2_requests_received", {"ip": ip4}) or 0) >= 3
    assert (o.metric("metallb_layer2_responses_sent", {"ip": ip4}) or 0) >= 3
    other = next(s for n, s in cl.speakers.items() if n != by_ip[ip4])
    assert not other.metric("metallb_layer2_responses_sent", {"ip": ip4})


# ---------------------------------------------------------------------------
# 3: deletion withdraws, moving to another pool re-addresses


POOLS = (labmod.pool_manifest("pool-a", ["192.168.100.10-192.168.100.19",
                                         "2001:db8:1::10-2001:db8:1::1f"]) + "---\n" +
         labmod.pool_manifest("pool-b", ["192.168.100.20-192.168.100.29",
                                         "2001:db8:1::20-2001:db8:1::2f"]) + "---\n" +
         labmod.l2adv_manifest("all"))


def in_range(ip, lo, hi):
    a = ipaddress.ip_address(ip)
    return ipaddress.ip_address(lo) <= a <= ipaddress.ip_address(hi)


def in_pool(ip, pool):
    lo4, hi4, lo6, hi6 = {
        "pool-a": ("192.168.100.10", "192.168.100.19", "2001:db8:1::10", "2001:db8:1::1f"),
        "pool-b": ("192.168.100.20", "192.168.100.29", "2001:db8:1::20", "2001:db8:1::2f"),
    }[pool]
    return in_range(ip, lo6, hi6) if is_v6(ip) else in_range(ip, lo4, hi4)


def test_deleted_service_is_withdrawn_and_moved_service_readdressed(cluster):
    cl = cluster(example=None)
    cl.write("pools.yaml", POOLS)
    cl.write("web.yaml", labmod.service_manifest("web", pool="pool-a"))
    cl.write("api.yaml", labmod.service_manifest("api", pool="pool-a"))
    cl.start()
    c = cl.client
    web, web_owner = cl.wait_service("web")
    api, api_owner = cl.wait_service("api")
    for ip in web:
        wait_resolves_to(c, ip, cl.mac(web_owner))
        assert_reaches(c, ip, web_owner)

    # delete web: no ARP/NDP answers, the address is gone from the owner,
    # and curl fails quickly instead of reaching anyone
    cl.remove("web.yaml")
    cl.wait_gone("web")
    for ip in web:
        wait_unanswered(c, ip)
        t0 = time.monotonic()
        code, err = c.curl(ip, timeout=1)
        assert code == 0, f"{ip} still reachable after deletion: {err}"
        assert time.monotonic() - t0 < 5
    lo = cl.nodes[web_owner].run(["ip", "addr", "show", "dev", "lo"]).stdout
    assert not any(f"{ip}/" in lo for ip in web), lo
    # the other Service is untouched
    assert cl.wait_service("api") == (api, api_owner)
    for ip in api:
        wait_resolves_to(c, ip, cl.mac(api_owner))

    # move api to pool-b: new addresses announced, old ones withdrawn
    assert all(in_pool(ip, "pool-a") for ip in api)
    cl.write("api.yaml", labmod.service_manifest("api", pool="pool-b"))
    new, new_owner = cl.wait_service(
        "api", pred=lambda s: all(in_pool(ip, "pool-b") for ip in s["ingress"]))
    assert len(new) == 2 and not set(new) & set(api)
    for ip in new:
        wait_resolves_to(c, ip, cl.mac(new_owner))
        assert_reaches(c, ip, new_owner)
    for ip in api:
        wait_unanswered(c, ip)
    st = cl.speakers[new_owner].status()
    assert labmod.service(st, "api")["pools"] == ["pool-b", "pool-b"]
    assert not set(api) & set(labmod.engine_addresses(st))


# ---------------------------------------------------------------------------
# 4: a bad change keeps the announcements; fixing it clears the staleness


BAD_POOL = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: production-pool
  namespace: metallb-system
spec:
  addresses:
  - 192.168.200.0/24
  - 2001:db8:prod::/64
"""
GOOD_POOL = BAD_POOL.replace("2001:db8:prod::/64", "2001:db8:2::/64")


def test_config_error_keeps_announcements_until_fixed(cluster):
    cl = cluster().start()
    (v4, v6), owner = cl.wait_service("dual-stack-test-svc")
    mac = cl.mac(owner)
    c = cl.client
    for sp in cl.speakers.values():
        assert sp.metric("metallb_k8s_client_config_stale_bool") == 0
        assert sp.metric("metallb_k8s_client_config_loaded_bool") == 1

    cl.write("bad-pool.yaml", BAD_POOL)
    line = BAD_POOL.splitlines().index("  - 2001:db8:prod::/64") + 1
    for sp in cl.speakers.values():
        st = poll(lambda: (lambda s: s if s["config"]["stale"] else None)(sp.status()), 5,
                  what=f"{sp.host.name}: config stale")
        errs = st["config"]["errors"]
        assert any(re.search(rf"bad-pool\.yaml:{line}:", e) and "2001:db8:prod::/64" in e
                   for e in errs), errs
        assert st["config"]["loaded"] is True
        assert sp.metric("metallb_k8s_client_config_stale_bool") == 1
        assert "STALE" in sp.host.run([labmod.ironlb_bin(), "status", "--server",
                                       sp.server]).stdout
        # the last good configuration still runs
        svc = labmod.service(st, "dual-stack-test-svc")
        assert svc["ingress"] == [v4, v6] and svc["owner"] == owner
        assert "level=error" in sp.log()
    assert set(resolve(c, v4)) == {mac}
    assert set(resolve(c, v6)) == {mac}
    assert_reaches(c, v4, owner)
    assert_reaches(c, v6, owner)

    cl.write("bad-pool.yaml", GOOD_POOL)
    for sp in cl.speakers.values():
        st = poll(lambda: (lambda s: s if not s["config"]["stale"] else None)(sp.status()), 5,
                  what=f"{sp.host.name}: config valid again")
        assert st["config"]["errors"] == []
        assert sp.metric("metallb_k8s_client_config_stale_bool") == 0
        assert (sp.metric("metallb_k8s_client_update_errors_total") or 0) >= 1
        assert any(p["name"] == "production-pool" for p in st["pools"])
    assert cl.wait_service("dual-stack-test-svc") == ([v4, v6], owner)
    assert set(resolve(c, v4)) == {mac}
    assert_reaches(c, v6, owner)


# ---------------------------------------------------------------------------
# 5: restart keeps every address


def test_restart_with_state_keeps_every_address(cluster):
    cl = cluster(nodes=("node-a",), example=None)
    cl.write("pools.yaml", POOLS)
    # zz first, then aa: without the state file a fresh start (name
    # order) would swap their addresses
    cl.write("zz.yaml", labmod.service_manifest("zz"))
    cl.start()
    zz, _ = cl.wait_service("zz")
    cl.write("aa.yaml", labmod.service_manifest("aa"))
    aa, _ = cl.wait_service("aa")
    plan = cl.nodes["node-a"].run([labmod.ironlb_bin(), "plan", "-o", "json", cl.mdir])
    fresh = {s["name"]: s["ingress"] for s in json.loads(plan.stdout)["services"]}
    assert fresh["aa"] == zz and fresh["zz"] == aa, "the state file must matter here"

    sp = cl.speakers["node-a"]
    before = sp.status()
    node = cl.nodes["node-a"]
    mac = cl.mac("node-a")

    rc = sp.stop(timeout=10)
    assert rc == 0, sp.log()[-2000:]
    lo = node.run(["ip", "addr", "show", "dev", "lo"]).stdout
    assert not any(f"{ip}/" in lo for ip in zz + aa), "installed addresses removed on stop"
    for ip in zz + aa:
        assert resolve(cl.client, ip) == [], f"{ip} answered while ironlb is stopped"

    sp.start()
    assert cl.wait_service("zz") == (zz, "node-a")
    assert cl.wait_service("aa") == (aa, "node-a")
    after = sp.status()

    def addrs(st):
        return {(s["namespace"], s["name"]): (s["ingress"], s["pools"]) for s in st["services"]}

    assert addrs(after) == addrs(before)
    assert set(labmod.engine_addresses(after)) == set(labmod.engine_addresses(before))
    for ip in zz + aa:
        wait_resolves_to(cl.client, ip, mac)
        assert_reaches(cl.client, ip, "node-a")
    assert sp.stop() == 0


# ---------------------------------------------------------------------------
# 6: interfaces of the L2Advertisement are obeyed


def test_announced_only_on_the_advertisement_interfaces(lab, tmp_path, ironlb_bin):
    sw0 = lab.switch("sw0")
    sw1 = lab.switch("sw1", v4="192.168.2.0/24", v6="2001:db8:fe::/64")
    clients = {}
    for name, sw in (("client", sw0), ("client2", sw1)):
        h = lab.host(name)
        h.connect(sw, "eth0")
        h.route(labmod.SERVICE_V4)
        h.route(labmod.SERVICE_V6)
        clients[name] = h
    node = lab.host("node-a", strict_arp=True)
    node.connect(sw0, "eth0")
    node.connect(sw1, "eth1")
    mdir = tmp_path / "manifests"
    mdir.mkdir()
    (mdir / "node.yaml").write_text(labmod.node_manifest("node-a"))
    (mdir / "pools.yaml").write_text(
        labmod.pool_manifest("pool-a", ["192.168.100.10-192.168.100.19",
                                        "2001:db8:1::10-2001:db8:1::1f"]) + "---\n" +
        labmod.l2adv_manifest("only-eth1", pools=["pool-a"], interfaces=["eth1"]))
    (mdir / "svc.yaml").write_text(labmod.service_manifest("web"))
    labmod.start_httpd(node)
    sp = labmod.Ironlb(node, mdir).start()

    def announced():
        st = sp.status()
        s = labmod.service(st, "web")
        ann = labmod.engine_addresses(st)
        if s and s["ingress"] and all(ip in ann for ip in s["ingress"]):
            return s["ingress"], ann
        return None

    ingress, ann = poll(announced, 10, what="web announced")
    for ip in ingress:
        assert ann[ip]["interfaces"] == ["eth1"], ann[ip]
    mac1 = node.mac("eth1")
    for ip in ingress:
        assert set(wait_resolves_to(clients["client2"], ip, mac1)) == {mac1}
        assert_reaches(clients["client2"], ip, "node-a")
        assert resolve(clients["client"], ip) == [], f"{ip} answered on eth0"


# ---------------------------------------------------------------------------
# 7: failover driven by the manifests, seen by the client without asking


EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"


def test_failover_when_the_owner_is_excluded(cluster):
    cl = cluster().start()
    (v4, v6), old = cl.wait_service("dual-stack-test-svc")
    new = next(n for n in cl.nodes if n != old)
    old_mac, new_mac = cl.mac(old), cl.mac(new)
    c = cl.client
    # the client talks to the owner: kernel neighbour entries point at it
    assert_reaches(c, v4, old)
    assert_reaches(c, v6, old)
    assert c.neigh(v4) == old_mac and c.neigh(v6) == old_mac
    # the old owner's takeover burst (three rounds in 0.2 s) is over, so
    # every announcement seen from here on is the new owner's
    poll(lambda: (a := labmod.engine_addresses(cl.speakers[old].status()))
         and a[v4]["gratuitous"] >= 6 and a[v6]["gratuitous"] >= 3, 5,
         what="the old owner's burst sent")

    with labmod.Sniffer(c) as sn:
        t0 = time.time()
        cl.write(f"node-{old}.yaml", labmod.node_manifest(old, {EXCLUDE: ""}))
        assert cl.wait_service("dual-stack-test-svc",
                               pred=lambda s: s["owner"] == new) == ([v4, v6], new)
        # the client learns the new MAC without sending anything: gratuitous
        # ARP and unsolicited NA update its neighbour entries
        poll(lambda: c.neigh(v4) == new_mac, 5, what=f"client's entry for {v4} -> {new_mac}")
        poll(lambda: c.neigh(v6) == new_mac, 5, what=f"client's entry for {v6} -> {new_mac}")
        g4 = poll(lambda: labmod.garps(sn.snapshot(), v4), 5, what="gratuitous ARP")
        g6 = poll(lambda: labmod.garps(sn.snapshot(), v6), 5, what="unsolicited NA")
        client_sent = sn.snapshot(lambda f: f.outgoing and (
            (f.kind == "arp" and f.tpa == v4) or (f.kind == "ns" and f.target == v6)))
    assert all(f.sha == new_mac and f.src == new_mac for f in g4), g4
    assert {f.op for f in g4} == {1, 2}, "gratuitous ARP as request and reply"
    assert all(f.lla == new_mac and f.override and f.dst == "33:33:00:00:00:01" for f in g6), g6
    assert g4[0].ts >= t0 and g6[0].ts >= t0
    assert client_sent == [], f"the client asked: {client_sent}"

    assert_reaches(c, v4, new)
    assert_reaches(c, v6, new)
    assert set(resolve(c, v4)) == {new_mac}
    assert set(resolve(c, v6)) == {new_mac}
    st_old = cl.speakers[old].status()
    assert not labmod.engine_addresses(st_old), "the excluded node announces nothing"


def rounds(frames, ip, mac):
    """Receive times of the gratuitous rounds for ip from mac: one per ARP
    request (each round is a request and a reply) or per unsolicited NA."""
    return [f.ts for f in labmod.garps(frames, ip)
            if f.src == mac and (f.kind == "na" or f.op == 1)]


def test_takeover_burst_then_periodic_gratuitous(cluster):
    cl = cluster()
    for sp in cl.speakers.values():
        sp.extra += ["--gratuitous-interval", "1s"]
    cl.start()
    (v4, v6), old = cl.wait_service("dual-stack-test-svc")
    new = next(n for n in cl.nodes if n != old)
    new_mac = cl.mac(new)
    c = cl.client
    sp = cl.speakers[new]
    assert sp.metric("metallb_layer2_gratuitous_sent", {"ip": v4}) in (None, 0)

    with labmod.Sniffer(c) as sn:
        cl.write(f"node-{old}.yaml", labmod.node_manifest(old, {EXCLUDE: ""}))
        # The takeover: three rounds 100 ms apart, then 1.1 s rounds until
        # 5 s (1.1 .. 4.4 s), then one every second (5.4, 6.4 s, ...).
        want = [0, 0.1, 0.2, 1.1, 2.2, 3.3, 4.4, 5.4, 6.4]
        for ip in (v4, v6):
            got = poll(lambda ip=ip: (r := rounds(sn.snapshot(), ip, new_mac))
                       and len(r) >= len(want) and r, 10, what=f"{len(want)} rounds for {ip}")
            offsets = [t - got[0] for t in got[:len(want)]]
            for k, (o, w) in enumerate(zip(offsets, want)):
                assert w - 0.05 <= o <= w + 0.3, f"{ip} round {k}: {offsets}"
            # the frames of each IPv4 round: a request and a reply
            if ip == v4:
                reps = [f for f in labmod.garps(sn.snapshot(), ip) if f.op == 2
                        and f.src == new_mac]
                assert len(reps) >= len(want)
        # metallb_layer2_gratuitous_sent counts every frame sent (two per
        # IPv4 round, one per IPv6 round) and is exported as they go
        poll(lambda: sp.metric("metallb_layer2_gratuitous_sent", {"ip": v4})
             == 2 * len(rounds(sn.snapshot(), v4, new_mac)), 2, what="IPv4 counter")
        poll(lambda: sp.metric("metallb_layer2_gratuitous_sent", {"ip": v6})
             == len(rounds(sn.snapshot(), v6, new_mac)), 2, what="IPv6 counter")


# ---------------------------------------------------------------------------
# signals and the state file


def test_sighup_reloads_and_a_corrupt_state_file_is_moved_aside(cluster):
    import signal

    cl = cluster(nodes=("node-a",), example=None)
    cl.write("pools.yaml", POOLS)
    cl.write("web.yaml", labmod.service_manifest("web"))
    cl.start()
    web, _ = cl.wait_service("web")
    sp = cl.speakers["node-a"]
    reloads = sp.status()["config"]["reloads"]

    # SIGHUP re-reads the directory; nothing moves, nothing is withdrawn.
    sp.proc.send(signal.SIGHUP)
    poll(lambda: sp.status()["config"]["reloads"] > reloads, 5, what="reload on SIGHUP")
    assert cl.wait_service("web") == (web, "node-a")
    wait_resolves_to(cl.client, web[0], cl.mac("node-a"))

    # A state file that cannot be parsed is kept aside, never overwritten,
    # and the daemon starts fresh.
    assert sp.stop() == 0
    sp.state.write_text("{ this is not json")
    sp.start()
    cl.wait_service("web")
    aside = list(sp.state.parent.glob(sp.state.name + ".corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{ this is not json"
    assert "state file is corrupt" in sp.log()
    poll(lambda: sp.state.exists() and "web" in sp.state.read_text(), 5,
         what="a new state file written")
    assert sp.stop() == 0
