"""ironlb in Kubernetes mode end to end: a real kube-apiserver, `ironlb-k8s
controller` and one `ironlb-k8s speaker` per node in network namespaces,
a client and a BIRD router on the same switch (tests/k8s/cluster.py has
the lab: topology, the relay that lets the node namespaces reach the API
server, the processes).

What is checked, in this order (one lab for the module; each test applies
what it needs, so that a failure of one does not hide the others):

1. the guide's Services get addresses: `kubectl get svc NAME -o
   jsonpath='{.status.loadBalancer.ingress[*].ip}'` lists them in
   spec.ipFamilies order, from the right pools, the requested ones for
   fixed-ip-service;
2. Layer 2: exactly one ServiceL2Status per Service; the client's ARP and
   NDP are answered with that node's MAC and curl -4 / -6 reach it; a
   nodeAssigned event on the Service;
3. speaker metrics and ConfigurationState; every speaker and the
   controller under its seccomp filter (/proc/PID/status);
4. BGP: BIRD holds every Service prefix from both nodes (next hop the
   node, the guide's community), ServiceBGPStatus objects, sessions up;
   BFD with BIRD from a BFDProfile, Up, with bfdUp / bfdDown Events on
   the BGPPeers, BGP held down while BFD is down;
5. failover: the exclusion label (or a NetworkUnavailable condition) moves
   Layer 2 ownership and withdraws the node's routes; removing it restores
   the routes and makes the node a candidate again, without taking the
   Service back (sticky placement);
6. externalTrafficPolicy: Local follows the EndpointSlice's nodeName;
7. a configuration the CRD schema refuses is refused by kubectl; one that
   is wrong across objects (an overlapping pool; an L2Advertisement naming
   a pool, a BGPAdvertisement naming a peer that does not exist) is
   reported Invalid in every ConfigurationState, with `ironlb check`'s
   message and a ConfigurationInvalid Warning Event, while the last valid
   configuration keeps running (ARP, NDP and BIRD's routes unchanged);
   Valid again, with a ConfigurationValid Event, once fixed;
   the same manifests give the same verdict everywhere: every speaker's
   /status verdict and failed Services equal `ironlb plan -o json`'s
   for tests/fixtures/teams (team-a's Service announced at plan's
   address, team-b's "not-an-ip" Service failing alone with nothing),
   and an overlapping pool's error reads the same in `ironlb check`,
   `plan`, every ConfigurationState and every speaker's /status;
8. an L2Advertisement limited to an interface the nodes lack gives an
   announceFailed Warning event, no ServiceL2Status, and nobody answers;
9. a controller restart changes no address;
10. an API server restart and a cut of every speaker connection (a forced
    relist) lose nothing: addresses stay answered and routed throughout,
    and what changed meanwhile is picked up;
11. a speaker started as deploy/ironlb.yaml starts it, --metrics-host
    with its node's IP (status.hostIP): /healthz answers there and only
    there (not on the node namespace's 127.0.0.1 nor its IPv6 address),
    and it announces as before.

Every wait polls with a deadline; failures carry the speakers' and the
controller's log tails.  At the end of the module every speaker and every
controller run must have exited 0 on SIGTERM with no sanitizer report in
its log (CI runs this module under ASan + UBSan: IRONLB_BIN=build-asan/
ironlb, whose ironlb-k8s is used).  Needs root (namespaces), arping, ndisc6, curl
and BIRD; as root a missing tool is a failure.
"""
import ipaddress
import json
import re
import subprocess
import threading
import time
import uuid

import pytest
import yaml

import cluster as cl
import lab as labmod

NS = cl.NS
EX = cl.EXAMPLES
UP = 30          # BGP sessions: the routers retry every 1-2 s
V4_POOL = ipaddress.ip_network("192.168.100.0/24")        # ipv4-pool
V6_POOL = ipaddress.ip_network("2001:db8:1::/64")         # ipv6-pool


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def cluster(plane, tmp_path_factory):
    yield from cl.cluster_fixture(plane, tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def c(cluster):
    """The cluster, checked alive before and after each test."""
    yield from cl.checked_alive(cluster)


# ---------------------------------------------------------------------------
# the guide's Services

# Every Service manifest of the guide (the Services each file holds).
GUIDE_FILES = [
    "dual-stack-l2/test-deployment.yaml",            # dual-stack-test-svc (+ a Deployment)
    "dual-stack-l2/ipv6-primary-service.yaml",       # ipv6-primary-service
    "dual-stack-l2/specific-ips-service.yaml",       # fixed-ip-service
    "dual-stack-l2/policy-examples.yaml",            # the five ipFamilyPolicy examples
    "combined-pool/dual-stack-service.yaml",         # my-dual-stack-service
    "segmented-pools/require-dual-stack-service.yaml",  # critical-dual-stack-service
]

# name: (spec.ipFamilies, the pools its addresses must come from, in that
# order: a network, or an address range (first, last))
COMBINED = (("192.168.101.100", "192.168.101.150"), ("2001:db8:2::100", "2001:db8:2::1ff"))
GUIDE = {
    "dual-stack-test-svc": (["IPv4", "IPv6"], [V4_POOL, V6_POOL]),
    "ipv6-primary-service": (["IPv6", "IPv4"], [V6_POOL, V4_POOL]),
    "fixed-ip-service": (["IPv4", "IPv6"], [V4_POOL, V6_POOL]),
    "ipv4-only-service": (["IPv4"], [V4_POOL]),
    "ipv6-only-service": (["IPv6"], [V6_POOL]),
    "prefer-dual-ipv4-primary": (["IPv4", "IPv6"], [V4_POOL, V6_POOL]),
    "prefer-dual-ipv6-primary": (["IPv6", "IPv4"], [V6_POOL, V4_POOL]),
    "require-dual-stack": (["IPv4", "IPv6"], [V4_POOL, V6_POOL]),
    "my-dual-stack-service": (["IPv4", "IPv6"], list(COMBINED)),
    "critical-dual-stack-service": (["IPv4", "IPv6"],
                                    [ipaddress.ip_network("192.168.102.0/25"),
                                     ipaddress.ip_network("2001:db8:3::/65")]),
}
# Announced over L2 (ipv4-pool/ipv6-pool by the guide's L2Advertisement,
# the moved pools by moved-pools-l2); over BGP only ipv4-pool and ipv6-pool
# (the guide's BGPAdvertisement).
BGP_SERVICES = [n for n, (_, pools) in GUIDE.items() if set(pools) <= {V4_POOL, V6_POOL}]


def in_range(ip, lo, hi):
    return ipaddress.ip_address(lo) <= ipaddress.ip_address(ip) <= ipaddress.ip_address(hi)


def in_pool(ip, pool):
    if isinstance(pool, tuple):
        return in_range(ip, *pool)
    return ipaddress.ip_address(ip) in pool


def guide(c):
    """Apply the guide's Service files (once per lab) and wait until every
    Service has its addresses: {name: ingress}."""
    if not getattr(c, "guide_applied", False):
        for f in GUIDE_FILES:
            c.kubectl("apply", "-n", "default", "-f", str(EX / f))
        c.guide_applied = True
    return {name: c.wait_ingress(name, n=len(fam)) for name, (fam, _) in GUIDE.items()}


def l2_owner(c, name, namespace="default", timeout=20, node=None):
    """Poll until exactly one ServiceL2Status exists for the Service (on
    `node` when given); returns it."""
    last = []

    def ok():
        nonlocal last
        last = c.l2_statuses(name, namespace)
        if len(last) != 1:
            return None
        if node is not None and last[0].get("status", {}).get("node") != node:
            return None
        return last[0]
    try:
        return labmod.poll(ok, timeout, interval=0.1,
                           what=f"one ServiceL2Status for {namespace}/{name}"
                           + (f" on {node}" if node else ""))
    except labmod.PollTimeout as e:
        brief = [(o["metadata"]["name"], o.get("status")) for o in last]
        raise AssertionError(f"{e}; have {brief}\n{c.logs()}") from None


def no_l2_status(c, name, namespace="default", timeout=20):
    c.wait(lambda: c.l2_statuses(name, namespace) == [], timeout,
           f"no ServiceL2Status for {namespace}/{name}")


def holds(c, cond, seconds, what, interval=0.1):
    """cond() stays true for `seconds` (checked every `interval`)."""
    deadline = time.monotonic() + seconds
    while True:
        got = cond()
        assert got, f"{what}: no longer true ({got!r})\n{c.logs()}"
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


def assert_curl(c, ip, node):
    code, body = c.client.curl(ip)
    assert (code, body.strip()) == (200, node), f"curl {ip}: {code} {body!r}\n{c.logs()}"


def want_prefixes(ips, fam):
    return {cl.host_prefix(ip) for ip in ips if cl.is_v6(ip) == (fam == 6)}


def wait_bird(c, node, fam, pred, what, timeout=20):
    """Poll BIRD's routes from node (that family) until pred({prefix:
    Route}) holds; returns them."""
    last = {}

    def ok():
        nonlocal last
        last = c.bird_routes(node, fam)
        return (last,) if pred(last) else None
    try:
        return labmod.poll(ok, timeout, interval=0.1,
                           what=f"BIRD from {node} IPv{fam}: {what}")[0]
    except labmod.PollTimeout as e:
        raise AssertionError(f"{e}; BIRD holds {sorted(last)}\n{c.logs()}") from None


def wait_sessions(c, timeout=UP):
    for n in c.nodes:
        for a in (c.node_v4(n), c.node_v6(n)):
            try:
                c.bird.wait_established(a, timeout)
            except labmod.PollTimeout as e:
                raise AssertionError(f"{e}\n{c.logs()}") from None


# ---------------------------------------------------------------------------
# 1. addresses


def test_guide_services_get_addresses_in_family_order(c):
    got = guide(c)
    items = {s["metadata"]["name"]: s
             for s in c.plane.kubectl_json("get", "svc", "-n", "default")["items"]}
    seen = {}
    for name, (fams, pools) in GUIDE.items():
        ing = got[name]
        assert c.families(name) == fams, (name, c.families(name))
        assert len(ing) == len(fams), (name, ing)
        for ip, fam, pool in zip(ing, fams, pools):
            assert cl.is_v6(ip) == (fam == "IPv6"), f"{name}: {ing} not in {fams} order"
            assert in_pool(ip, pool), f"{name}: {ip} not in {pool}"
            assert ip not in seen, f"{ip} given to {name} and {seen[ip]}"
            seen[ip] = name
        pool_ann = items[name]["metadata"].get("annotations", {}).get(
            "metallb.io/ip-allocated-from-pool", "")
        assert pool_ann, f"{name}: no metallb.io/ip-allocated-from-pool annotation"

    # the guide's specific IPs, and its pool-naming annotations
    assert got["fixed-ip-service"] == ["192.168.100.50", "2001:db8:1::50"]
    v4, v6 = got["my-dual-stack-service"]
    assert in_range(v4, "192.168.101.100", "192.168.101.150"), v4
    assert in_range(v6, "2001:db8:2::100", "2001:db8:2::1ff"), v6

    def ann(name):
        return items[name]["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"]
    assert ann("my-dual-stack-service") == "dual-stack-pool"
    assert sorted(ann("critical-dual-stack-service").split(",")) == [
        "production-ipv4", "production-ipv6"]
    assert sorted(ann("dual-stack-test-svc").split(",")) == ["ipv4-pool", "ipv6-pool"]

    # the guide's validation script: ingress[0] is IPv4, ingress[1] IPv6
    ip4 = c.kubectl("get", "svc", "dual-stack-test-svc", "-o",
                    "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout
    ip6 = c.kubectl("get", "svc", "dual-stack-test-svc", "-o",
                    "jsonpath={.status.loadBalancer.ingress[1].ip}").stdout
    assert ipaddress.ip_address(ip4).version == 4 and ipaddress.ip_address(ip6).version == 6


# ---------------------------------------------------------------------------
# 2. Layer 2


def test_l2_owner_answers_arp_and_ndp_and_serves_http(c):
    got = guide(c)
    owners = {}
    for name in GUIDE:
        st = l2_owner(c, name)
        s = st["status"]
        assert (s["serviceName"], s["serviceNamespace"]) == (name, "default"), st
        assert s["node"] in c.nodes, st
        assert s.get("interfaces") == [{"name": "eth0"}], st
        labels = st["metadata"]["labels"]
        assert labels.get("metallb.io/node") == s["node"], labels
        assert labels.get("metallb.io/service-name") == name, labels
        assert labels.get("metallb.io/service-namespace") == "default", labels
        assert st["metadata"]["name"].startswith("l2-") and len(st["metadata"]["name"]) == 13
        owners[name] = s["node"]
    assert set(owners.values()) == set(c.nodes), f"the election spreads Services: {owners}"

    # The guide's Service first, then one Service owned by each node:
    # ARP and NDP answered by the owner's MAC alone, curl reaches it.
    picks = ["dual-stack-test-svc"]
    for n in c.nodes:
        picks.append(next(s for s, o in owners.items()
                          if o == n and len(GUIDE[s][0]) == 2 and s not in picks))
    for name in picks:
        owner = owners[name]
        for ip in got[name]:
            c.wait_resolves_to(ip, owner)
            assert_curl(c, ip, owner)
            assert c.client.neigh(ip) == c.mac(owner), ip

    # each speaker's engine answers for what its ServiceL2Statuses say, and
    # for nothing the other node's say
    for n, sp in c.speakers.items():
        mine = {ip for s, o in owners.items() if o == n for ip in got[s]}
        c.wait(lambda sp=sp, mine=mine: mine <= sp.answering() and mine <= sp.owned(), 10,
               f"{n} answers for {sorted(mine)} per /status")
        theirs = {ip for s, o in owners.items() if o != n for ip in got[s]}
        assert not ((sp.owned() | sp.answering()) & theirs), (n, sp.status())

    # nodeAssigned events, reported by the speaker, name the node and layer2
    for name in picks:
        owner = owners[name]

        def assigned(name=name, owner=owner):
            return [e for e in c.events(name, reason="nodeAssigned")
                    if e.get("reportingController") == "metallb-speaker"
                    and f'"{owner}"' in e.get("note", "") and '"layer2"' in e.get("note", "")]
        evs = c.wait(assigned, 10, f"nodeAssigned event for {name} on {owner}")
        assert evs[0]["type"] == "Normal" and evs[0]["regarding"]["kind"] == "Service", evs
        assert evs[0]["note"] == f'announcing from node "{owner}" with protocol "layer2"', evs


# ---------------------------------------------------------------------------
# 3. speaker metrics and ConfigurationState


def test_speaker_metrics_and_configuration_state(c):
    got = guide(c)
    v4, v6 = got["dual-stack-test-svc"]
    owner = l2_owner(c, "dual-stack-test-svc")["status"]["node"]
    other = next(n for n in c.nodes if n != owner)
    svc = "default/dual-stack-test-svc"

    def announced(node, ip, proto):
        return c.speakers[node].metric("metallb_speaker_announced", ip=ip, protocol=proto)

    for ip in (v4, v6):
        c.wait(lambda ip=ip: announced(owner, ip, "layer2"), 10,
               f"metallb_speaker_announced layer2 {ip} on {owner}")
        series = announced(owner, ip, "layer2")
        assert series == [({"ip": ip, "node": owner, "protocol": "layer2", "service": svc}, 1.0)], \
            series
        assert announced(other, ip, "layer2") == [], (other, announced(other, ip, "layer2"))

    for n, sp in c.speakers.items():
        upd = sp.metric("metallb_k8s_client_updates_total")
        assert upd and upd[0][1] > 0, (n, upd)
        assert sp.metric("metallb_k8s_client_config_loaded_bool") == [({}, 1.0)], n
        assert sp.metric("metallb_k8s_client_config_stale_bool") == [({}, 0.0)], n
        st = sp.status()
        assert st.get("node") == n and {"layer2", "l2_engine", "bgp"} <= set(st), st.keys()

        state = c.wait(lambda n=n: c.config_state(f"speaker-{n}")[0] == "Valid" and
                       c.config_state(f"speaker-{n}"), 10, f"ConfigurationState speaker-{n}")
        assert state == ("Valid", ""), state
        labels = c.plane.kubectl_json("get", "configurationstates.metallb.io",
                                      f"speaker-{n}", "-n", NS)["metadata"].get("labels", {})
        assert labels.get("metallb.io/component-type") == "speaker", labels
        assert labels.get("metallb.io/node-name") == n, labels
    assert c.config_state("controller") == ("Valid", "")


def proc_status(pid) -> dict:
    """/proc/PID/status as {field: value}."""
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def test_speakers_and_controller_run_under_seccomp(c):
    """Every speaker and the controller run under their seccomp filter
    (the other tests of this module show them doing their work under it)."""
    guide(c)
    for n, sp in c.speakers.items():
        st = proc_status(sp.proc.pid)
        assert (st["Seccomp"], st["Seccomp_filters"], st["NoNewPrivs"]) == ("2", "1", "1"), (n, st)
        assert ('msg="seccomp filter installed; other system calls fail with EPERM" '
                'command=speaker') in sp.output(), n
    st = proc_status(c.controller.proc.pid)
    assert (st["Seccomp"], st["Seccomp_filters"], st["NoNewPrivs"]) == ("2", "1", "1"), st
    assert ('msg="seccomp filter installed; other system calls fail with EPERM" '
            'command=controller') in c.controller.output()


def settled_passes(c, sp, window=1.5, timeout=30):
    """A speaker's pass count (metallb_k8s_client_updates_total) once it has
    not changed for `window` seconds (three times the reconciler's maximum
    delay)."""
    state = {"last": None, "since": time.monotonic()}

    def ok():
        sp.check()
        n = sp.metric("metallb_k8s_client_updates_total")[0][1]
        if n != state["last"]:
            state["last"], state["since"] = n, time.monotonic()
            return None
        return n if time.monotonic() - state["since"] >= window else None
    return c.wait(ok, timeout, f"speaker {sp.node}: passes settled")


def test_speaker_own_status_writes_cause_no_pass(c):
    """The ServiceL2Status objects a speaker writes come back through its
    watch: they are counted as its own writes
    (ironlb_reconcile_own_writes_total) and cause no pass
    (metallb_k8s_client_updates_total).  Someone else's change to one, or
    its deletion, is a difference: one pass, which puts it back."""
    guide(c)
    st = l2_owner(c, "dual-stack-test-svc")
    owner = st["status"]["node"]
    name = st["metadata"]["name"]
    sp = c.speakers[owner]
    mine = c.plane.kubectl_json("get", "servicel2statuses.metallb.io", "-n", NS, "-l",
                                f"metallb.io/node={owner}")["items"]
    assert mine
    before = settled_passes(c, sp)
    own = sp.metric("ironlb_reconcile_own_writes_total")[0][1]
    # Each object's create and status write came back as own writes.
    assert own >= len(mine), (own, len(mine))

    def status_of():
        got = c.plane.kubectl("get", "servicel2statuses.metallb.io", name, "-n", NS,
                              "-o", "json", check=False)
        return json.loads(got.stdout).get("status") if got.returncode == 0 else None

    c.kubectl("patch", "servicel2statuses.metallb.io", name, "-n", NS,
              "--subresource=status", "--type=merge", "-p",
              json.dumps({"status": {"interfaces": [{"name": "other0"}]}}))
    c.wait(lambda: status_of() == st["status"], 20, f"{name}'s status written back")
    after = settled_passes(c, sp)
    assert after == before + 1, (before, after)
    assert sp.metric("ironlb_reconcile_own_writes_total")[0][1] > own

    c.kubectl("delete", "servicel2statuses.metallb.io", name, "-n", NS)
    c.wait(lambda: status_of() == st["status"], 20, f"{name} made again")
    assert settled_passes(c, sp) > after
    rec = sp.status()["reconciler"]
    assert rec["synced"] and rec["own_writes"] > own and not rec["pending"], rec


# ---------------------------------------------------------------------------
# 4. BGP


def test_bgp_routes_from_both_nodes(c):
    got = guide(c)
    wait_sessions(c)
    ips = [ip for name in BGP_SERVICES for ip in got[name]]
    everything = {cl.host_prefix(ip) for ips2 in c.all_ingress().values() for ip in ips2}
    for n in c.nodes:
        for fam, nh in ((4, c.node_v4(n)), (6, c.node_v6(n))):
            want = want_prefixes(ips, fam)
            rs = wait_bird(c, n, fam, lambda rs, want=want: want <= set(rs),
                           f"the guide's {len(want)} prefixes")
            assert set(rs) <= everything, f"{n}: prefixes of no Service: {set(rs) - everything}"
            for p in want:
                r = rs[p]
                assert r.next_hop == nh, (n, r)
                assert r.as_path == [cl.MY_ASN], (n, r)
                assert r.communities == ["64500:100"], (n, r)
            # the moved pools have no BGPAdvertisement
            for name in ("my-dual-stack-service", "critical-dual-stack-service"):
                assert not (want_prefixes(got[name], fam) & set(rs)), (n, name, sorted(rs))

    # a ServiceBGPStatus per node for each Service, naming its BGPPeers
    for name in BGP_SERVICES:
        def two(name=name):
            objs = c.bgp_statuses(name)
            return objs if sorted(o["status"]["node"] for o in objs) == sorted(c.nodes) else None
        objs = c.wait(two, 10, f"ServiceBGPStatus of {name} from both nodes")
        for o in objs:
            s = o["status"]
            assert (s["serviceName"], s["serviceNamespace"]) == (name, "default"), o
            # each address goes to the session of its family only
            peers = sorted({"router-ipv6" if cl.is_v6(ip) else "router-ipv4"
                            for ip in got[name]})
            assert sorted(s.get("peers", [])) == peers, o
            assert o["metadata"]["name"].startswith("bgp-"), o["metadata"]["name"]
            assert o["metadata"]["labels"].get("metallb.io/node") == s["node"], o
    assert c.bgp_statuses("my-dual-stack-service") == []

    for n, sp in c.speakers.items():
        up = sp.metric("metallb_bgp_session_up")
        assert len(up) == 2 and all(v == 1 for _, v in up), (n, up)
        v4 = got["dual-stack-test-svc"][0]
        assert sp.metric("metallb_speaker_announced", ip=v4, protocol="bgp"), n
        c.wait(lambda n=n: [e for e in c.events("dual-stack-test-svc", reason="nodeAssigned")
                            if e.get("note") == f'announcing from node "{n}" with protocol "bgp"'
                            and e.get("reportingController") == "metallb-speaker"],
               10, f"nodeAssigned bgp event from {n}")


def test_bgp_step_plans_and_compares_only_its_routes(c):
    """A Service change is a step on the BGP side too: with 40 more
    Services announced, one more Service re-plans and compares only its
    own route (each speaker's /status bgp_work), not every route, and BIRD
    gets it from both nodes; deleted, it is withdrawn the same way."""
    guide(c)
    wait_sessions(c)
    pool = {"metallb.io/address-pool": "ipv4-pool"}
    names = [f"bgp-step-{i:02d}" for i in range(40)]
    try:
        c.plane.apply({"apiVersion": "v1", "kind": "List",
                       "items": [cl.service(n, families=("IPv4",), annotations=pool)
                                 for n in names]})
        ips = [ip for n in names for ip in c.wait_ingress(n, n=1, timeout=60)]
        for n in c.nodes:
            wait_bird(c, n, 4, lambda rs: want_prefixes(ips, 4) <= set(rs),
                      "the 40 Services' prefixes", timeout=60)
        before = {}
        for n, sp in c.speakers.items():
            settled_passes(c, sp)
            st = sp.status()
            routes = sum(len(s.get("routes", [])) for s in st["bgp"]["sessions"])
            assert routes >= 40, (n, routes)
            before[n] = st["bgp_work"]

        c.plane.apply(cl.service("bgp-step-new", families=("IPv4",), annotations=pool))
        new = c.wait_ingress("bgp-step-new", n=1)
        for n in c.nodes:
            wait_bird(c, n, 4, lambda rs: cl.host_prefix(new[0]) in rs, "the new prefix")
        for n, sp in c.speakers.items():
            settled_passes(c, sp)
            w = sp.status()["bgp_work"]
            assert w["whole_passes"] == before[n]["whole_passes"], (n, before[n], w)
            assert w["steps"] > before[n]["steps"], (n, before[n], w)
            assert not w["last_whole"], (n, w)
            # Its one /32 on its one session: planned and compared alone.
            assert w["last_routes_planned"] <= 1, (n, w)
            assert w["last_routes_compared"] <= 1, (n, w)
            assert w["speaker_whole_syncs"] == before[n]["speaker_whole_syncs"], (n, w)

        c.kubectl("delete", "svc", "bgp-step-new", "-n", "default")
        for n in c.nodes:
            wait_bird(c, n, 4, lambda rs: cl.host_prefix(new[0]) not in rs,
                      "the deleted Service's prefix withdrawn")
            wait_bird(c, n, 4, lambda rs: want_prefixes(ips, 4) <= set(rs),
                      "the others kept")
        for n, sp in c.speakers.items():
            w = sp.status()["bgp_work"]
            assert w["whole_passes"] == before[n]["whole_passes"], (n, before[n], w)
            assert w["speaker_whole_syncs"] == before[n]["speaker_whole_syncs"], (n, w)
    finally:
        c.kubectl("delete", "svc", *names, "bgp-step-new", "-n", "default",
                  "--ignore-not-found", "--wait=false", check=False)


# ---------------------------------------------------------------------------
# 5. failover



MD5 = "md5-s3cret-1"


def set_router_password(c, password):
    for n in c.bird.neighbors:
        n.password = password
    c.bird.restart()


def test_bgp_md5_password_from_a_secret(c):
    """The speakers read a BGPPeer's passwordSecret (a
    kubernetes.io/basic-auth Secret in metallb-system, which they watch) and
    sign the sessions with TCP MD5: BIRD with the same password establishes
    and holds the guide's routes again; the Secret's password changed to
    another one takes the sessions down (BIRD refuses unsigned and wrongly
    signed segments), and back up when it matches again."""
    got = guide(c)
    wait_sessions(c)
    ips = [ip for name in BGP_SERVICES for ip in got[name]]
    peers = ("router-ipv4", "router-ipv6")
    c.kubectl("apply", "-f", "-", input=cl.bgplab.secret_manifest("bgp-md5", MD5))
    try:
        set_router_password(c, MD5)
        for p in peers:
            c.kubectl("patch", "bgppeers.metallb.io", p, "-n", "metallb-system", "--type=merge",
                      "-p", json.dumps({"spec": {"passwordSecret": {
                          "name": "bgp-md5", "namespace": "metallb-system"}}}))
        wait_sessions(c)
        for n in c.nodes:
            for fam in (4, 6):
                want = want_prefixes(ips, fam)
                wait_bird(c, n, fam, lambda rs, want=want: want <= set(rs),
                          f"the guide's {len(want)} prefixes over MD5")
        for n, sp in c.speakers.items():
            up = sp.metric("metallb_bgp_session_up")
            assert len(up) == 2 and all(v == 1 for _, v in up), (n, up)

        # The Secret changes: the speakers follow it, BIRD no longer agrees.
        c.kubectl("apply", "-f", "-", input=cl.bgplab.secret_manifest("bgp-md5", "other-pass"))

        def down():
            return all(c.bird.state(a) != "Established"
                       for n in c.nodes for a in (c.node_v4(n), c.node_v6(n)))
        c.wait(down, 30, "BIRD drops the sessions signed with another password")
        c.kubectl("apply", "-f", "-", input=cl.bgplab.secret_manifest("bgp-md5", MD5))
        wait_sessions(c)
    finally:
        for p in peers:
            c.kubectl("patch", "bgppeers.metallb.io", p, "-n", "metallb-system", "--type=json",
                      "-p", json.dumps([{"op": "remove", "path": "/spec/passwordSecret"}]),
                      check=False)
        set_router_password(c, None)
        c.kubectl("delete", "secret", "bgp-md5", "-n", "metallb-system", "--ignore-not-found")
    wait_sessions(c)


def test_bfd_sessions_with_the_router_and_their_events(c):
    """A BFDProfile named by the guide's BGPPeers: every speaker runs a
    BFD session with BIRD for each of them, BIRD sees them Up, each
    speaker's /status says Up, and `kubectl get events` shows a bfdUp
    Event on each BGPPeer from each node (reportingController
    metallb-speaker).  When BIRD stops running BFD (reconfigured
    without it, it just goes silent), every speaker declares the sessions
    down, holds BGP down (RFC 5882) and posts a bfdDown Warning Event
    saying so; BFD back at BIRD brings BFD Up (a new bfdUp Event) and BGP
    Established again.  Throughout, `kubectl get bgpsessionstates` shows
    each node's sessions with their BGP and BFD state ("N/A" without a
    profile)."""
    guide(c)
    wait_sessions(c)
    peers = ("router-ipv4", "router-ipv6")
    prof = cl.bgplab.BfdProfile(300, 300, 3)

    def states():
        """{(node, BGPPeer): (bgpStatus, bfdStatus)} from kubectl."""
        out = {}
        for o in c.plane.kubectl_json("get", "bgpsessionstates.frrk8s.metallb.io",
                                      "-n", NS)["items"]:
            st = o.get("status") or {}
            out[(st.get("node"), o["metadata"]["labels"].get("metallb.io/bgppeer"))] = \
                (st.get("bgpStatus"), st.get("bfdStatus"))
        return out

    def all_states(want):
        return {(n, p): want for n in c.nodes for p in peers}

    def wait_states(want, what, timeout=15):
        last = {}

        def ok():
            nonlocal last
            last = states()
            return last == all_states(want)
        try:
            labmod.poll(ok, timeout, interval=0.1, what=what)
        except labmod.PollTimeout as e:
            raise AssertionError(f"{e}; kubectl shows {last}\n{c.logs()}") from None
    # without a profile: BGP Established, BFD N/A
    wait_states(("Established", "N/A"), "BGPSessionState: Established, no BFD")
    c.kubectl("apply", "-f", "-", input=cl.bgplab.bfdprofile_manifest(
        "fast", receiveInterval=300, transmitInterval=300, detectMultiplier=3))
    try:
        for n in c.bird.neighbors:
            n.bfd = prof
        c.bird.restart()
        for p in peers:
            c.kubectl("patch", "bgppeers.metallb.io", p, "-n", NS, "--type=merge",
                      "-p", json.dumps({"spec": {"bfdProfile": "fast"}}))
        for n in c.nodes:
            for a in (c.node_v4(n), c.node_v6(n)):
                try:
                    c.bird.wait_bfd(a, "up", UP)
                except labmod.PollTimeout as e:
                    raise AssertionError(f"{e}\n{c.logs()}") from None
        wait_sessions(c)
        wait_states(("Established", "Up"), "BGPSessionState: Established, BFD Up")
        for n, sp in c.speakers.items():
            c.wait(lambda sp=sp: sorted((s["name"], s["state"]) for s in sp.status()["bfd"]) ==
                   [(p, "Up") for p in peers], 10, f"{n}: /status bfd Up")
            for p in peers:
                def up(n=n, p=p):
                    return [e for e in c.events(p, namespace=NS, reason="bfdUp")
                            if f"node {n}" in e.get("note", "")
                            and e.get("reportingController") == "metallb-speaker"
                            and e["regarding"]["kind"] == "BGPPeer"]
                c.wait(up, 10, f"bfdUp Event on BGPPeer {p} from {n}")

        # BIRD stops running BFD (reconfigured without it: it goes silent,
        # no AdminDown): every speaker declares the session down, tears
        # BGP down and holds it, with a Warning Event saying so
        def evs(p, n, reason, text=""):
            return [e for e in c.events(p, namespace=NS, reason=reason)
                    if f"node {n}" in e.get("note", "") and text in e.get("note", "")]
        ups = {(p, n): len(evs(p, n, "bfdUp")) for p in peers for n in c.nodes}
        for n in c.bird.neighbors:
            n.bfd = None
        c.bird.reconfigure()
        for n in c.nodes:
            for p in peers:
                e = c.wait(lambda n=n, p=p: evs(p, n, "bfdDown", "held until BFD is Up"), 15,
                           f"bfdDown Event on {p} from {n}")[0]
                assert e["type"] == "Warning", e
        c.wait(lambda: all(c.bird.state(a) != "Established"
                           for n in c.nodes for a in (c.node_v4(n), c.node_v6(n))),
               10, "BGP held down on every node")
        c.wait(lambda: all(b != "Established" and f == "Down" for b, f in states().values())
               and len(states()) == 2 * len(c.nodes), 10, "BGPSessionState: held, BFD Down")
        # BFD back at BIRD: Up again, a new bfdUp Event, BGP back
        for n in c.bird.neighbors:
            n.bfd = prof
        c.bird.reconfigure()
        for n in c.nodes:
            for p in peers:
                c.wait(lambda n=n, p=p: len(evs(p, n, "bfdUp")) > ups[(p, n)], UP,
                       f"a new bfdUp Event on {p} from {n}")
        wait_sessions(c)
    finally:
        for p in peers:
            c.kubectl("patch", "bgppeers.metallb.io", p, "-n", NS, "--type=json",
                      "-p", json.dumps([{"op": "remove", "path": "/spec/bfdProfile"}]),
                      check=False)
        c.kubectl("delete", "bfdprofiles.metallb.io", "fast", "-n", NS, "--ignore-not-found")
        for n in c.bird.neighbors:
            n.bfd = None
        c.bird.restart()
    wait_sessions(c)
    wait_states(("Established", "N/A"), "BGPSessionState: BFD gone with the profile")


def set_excluded(c, node, how, on):
    """Take node out of (on=True) or back into announcing: by MetalLB's
    exclusion label, or by a NetworkUnavailable=True condition (what a CNI
    sets on a node whose network is not ready)."""
    if how == "label":
        c.kubectl("label", "node", node, f"{cl.EXCLUDE_LABEL}=" if on else f"{cl.EXCLUDE_LABEL}-")
        return
    cond = {"type": "NetworkUnavailable", "status": "True" if on else "False",
            "reason": "IronlbTest", "message": "set by test_cluster.py",
            "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    c.kubectl("patch", "node", node, "--subresource=status", "--type=merge", "-p",
              json.dumps({"status": {"conditions": [cond]}}))


@pytest.mark.parametrize("how", ["label", "network-unavailable"])
def test_excluded_node_hands_l2_over_and_withdraws_bgp(c, how):
    got = guide(c)
    wait_sessions(c)
    name = "dual-stack-test-svc"
    v4, v6 = got[name]
    owner = l2_owner(c, name)["status"]["node"]
    other = next(n for n in c.nodes if n != owner)
    bgp_ips = [ip for s in BGP_SERVICES for ip in got[s]]
    for n in c.nodes:
        for fam in (4, 6):
            w = want_prefixes(bgp_ips, fam)
            wait_bird(c, n, fam, lambda rs, w=w: w <= set(rs), "before the exclusion")
    c.wait_resolves_to(v4, owner)

    set_excluded(c, owner, how, True)
    try:
        st = l2_owner(c, name, node=other)
        assert st["status"]["serviceName"] == name
        c.wait_resolves_to(v4, other)
        c.wait_resolves_to(v6, other)
        assert_curl(c, v4, other)
        assert_curl(c, v6, other)
        # the excluded node announces nothing at all
        for fam in (4, 6):
            wait_bird(c, owner, fam, lambda rs: not rs, "every route withdrawn")
            w = want_prefixes(bgp_ips, fam)
            assert w <= set(c.bird_routes(other, fam)), (other, fam)
        c.wait(lambda: not c.speakers[owner].owned(), 10, f"{owner} owns nothing")
        c.wait(lambda: not [s for s in c.l2_statuses() + c.bgp_statuses()
                            if s["status"]["node"] == owner], 10,
               f"no ServiceL2Status / ServiceBGPStatus of {owner}")
        assert not c.speakers[owner].metric("metallb_speaker_announced")
    finally:
        set_excluded(c, owner, how, False)

    # A candidate again, it takes nothing back (sticky placement: the
    # Service stays with the node whose ServiceL2Status claims it); its
    # BGP routes come back.
    c.wait(lambda: owner in (c.speakers[other].plan(v4) or {}).get("candidates", []), 10,
           f"{owner} a candidate again")
    for fam in (4, 6):
        w = want_prefixes(bgp_ips, fam)
        wait_bird(c, owner, fam, lambda rs, w=w: w <= set(rs), "routes back")
    assert l2_owner(c, name, node=other)["status"]["node"] == other
    assert not set((v4, v6)) & c.speakers[owner].owned()
    c.wait_resolves_to(v4, other)
    c.wait_resolves_to(v6, other)


# ---------------------------------------------------------------------------
# 6. externalTrafficPolicy: Local


def test_external_traffic_policy_local_follows_endpoints(c):
    wait_sessions(c)
    name = "local-svc"

    def candidates(v4, v6, want):
        """Every speaker has taken the Service in and elects among `want`
        (the nodes with a ready endpoint)."""
        def ok():
            for sp in c.speakers.values():
                for ip in (v4, v6):
                    e = sp.plan(ip)
                    if e is None or sorted(e.get("candidates") or []) != want:
                        return None
            return True
        c.wait(ok, 10, f"every speaker's candidates for {name} are {want}")

    def only_on(node, absent, v4, v6):
        candidates(v4, v6, [node])
        st = l2_owner(c, name, node=node)
        assert st["status"]["node"] == node
        c.wait_resolves_to(v4, node)
        c.wait_resolves_to(v6, node)
        for fam, ip in ((4, v4), (6, v6)):
            p = cl.host_prefix(ip)
            wait_bird(c, node, fam, lambda rs: p in rs, f"{p} from {node}")
            wait_bird(c, absent, fam, lambda rs: p not in rs, f"no {p} from {absent}")
        c.wait(lambda: [o["status"]["node"] for o in c.bgp_statuses(name)] == [node], 10,
               f"ServiceBGPStatus of {name} on {node} only")
        assert not ({v4, v6} & c.speakers[absent].owned())
        assert not c.speakers[absent].metric("metallb_speaker_announced", ip=v4)
        assert not c.speakers[absent].metric("metallb_speaker_announced", ip=v6)

    def nowhere(v4, v6):
        candidates(v4, v6, [])
        no_l2_status(c, name)
        c.wait(lambda: c.bgp_statuses(name) == [], 10, f"no ServiceBGPStatus for {name}")
        for n in c.nodes:
            for fam, ip in ((4, v4), (6, v6)):
                p = cl.host_prefix(ip)
                wait_bird(c, n, fam, lambda rs: p not in rs, f"no {p} from {n}")
        c.wait(lambda: c.resolve(v4) == [], 10, f"nobody answers ARP for {v4}")
        c.wait(lambda: c.resolve(v6) == [], 10, f"nobody answers NDP for {v6}")

    c.plane.apply(cl.service(name, etp="Local"))
    try:
        v4, v6 = c.wait_ingress(name)
        # no EndpointSlice yet: no node has an endpoint, nobody announces
        nowhere(v4, v6)
        # the endpoint on node-b: node-b alone, over Layer 2 and BGP
        c.plane.apply(cl.endpoint_slice(name, "node-b"))
        only_on("node-b", "node-a", v4, v6)
        # the endpoint moves to node-a
        c.plane.apply(cl.endpoint_slice(name, "node-a"))
        only_on("node-a", "node-b", v4, v6)
        # the endpoint is no longer ready: nobody announces
        c.plane.apply(cl.endpoint_slice(name, "node-a", ready=False))
        nowhere(v4, v6)
    finally:
        c.kubectl("delete", "endpointslice", f"{name}-ep", "-n", "default",
                  "--ignore-not-found")
        c.kubectl("delete", "svc", name, "-n", "default", "--ignore-not-found")


# ---------------------------------------------------------------------------
# 7. invalid configuration


def wait_state(c, state, pred, what, timeout=15):
    """Poll ConfigurationState `state` until pred(result, errorSummary);
    returns (result, errorSummary).  A timeout names the last one seen."""
    last = None

    def ok():
        nonlocal last
        last = c.config_state(state)
        return last if pred(*last) else None
    try:
        return labmod.poll(ok, timeout, interval=0.1,
                           what=f"ConfigurationState {state} {what}")
    except labmod.PollTimeout as e:
        raise AssertionError(f"{e}; last {last}\n{c.logs()}") from None


def cs_event_names(c, states):
    """Names of the Events now on these ConfigurationStates."""
    return {e["metadata"]["name"] for s in states for e in c.events(s, namespace=NS)}


def wait_cs_event(c, state, reason, seen, timeout=15):
    """Poll for an Event with `reason` on ConfigurationState `state` in
    metallb-system that is not among `seen` (names), posted by the
    component that owns the state; checks its fields, returns it."""
    def ok():
        return [e for e in c.events(state, namespace=NS, reason=reason)
                if e["metadata"]["name"] not in seen
                and e["regarding"].get("kind") == "ConfigurationState"] or None
    e = c.wait(ok, timeout, f"a new {reason} Event on ConfigurationState {state}")[-1]
    component = "controller" if state == "controller" else "speaker"
    assert e["regarding"] == {"apiVersion": "metallb.io/v1beta1", "kind": "ConfigurationState",
                              "namespace": NS, "name": state}, e
    assert e.get("reportingController") == f"metallb-{component}", e
    if reason == "ConfigurationInvalid":
        assert e["type"] == "Warning", e
        assert e["note"].startswith("the configuration has errors; the last valid one "
                                    "stays in force: "), e["note"]
    else:
        assert e["type"] == "Normal", e
    return e


OVERLAP_POOL = """apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: overlapping-pool
  namespace: metallb-system
spec:
  addresses:
  - 192.168.100.200-192.168.100.210
  autoAssign: false
"""


def test_invalid_configuration_is_reported_and_announcements_go_on(c):
    got = guide(c)
    wait_sessions(c)
    name = "dual-stack-test-svc"
    v4, v6 = got[name]
    owner = l2_owner(c, name)["status"]["node"]
    states = ["controller"] + [f"speaker-{n}" for n in c.nodes]

    # Within one object: the CRD schema refuses it (the guide's
    # 2001:db8:prod::/64), kubectl says which field.
    bad = EX / "invalid" / "bad-ipv6-prefix" / "best-practices-pools.yaml"
    p = c.kubectl("apply", "-f", str(bad), check=False)
    assert p.returncode != 0, p.stdout
    assert "spec.addresses" in p.stderr, p.stderr
    assert c.kubectl("get", "ipaddresspool", "production-pool", "-n", NS,
                     check=False).returncode != 0

    # Across objects: a pool overlapping ipv4-pool.  kubectl takes it; the
    # controller and every speaker report it (ConfigurationState and a
    # ConfigurationInvalid Event), and keep what runs.
    seen = cs_event_names(c, states)
    c.plane.apply(OVERLAP_POOL)
    try:
        for s in states:
            c.wait(lambda s=s: c.config_state(s)[0] == "Invalid", 15,
                   f"ConfigurationState {s} Invalid")
            summary = c.config_state(s)[1]
            assert "overlapping-pool" in summary and "overlaps" in summary, (s, summary)
            e = wait_cs_event(c, s, "ConfigurationInvalid", seen)
            assert "overlapping-pool" in e["note"] and "overlaps" in e["note"], (s, e)
        for n, sp in c.speakers.items():
            c.wait(lambda sp=sp: sp.metric("metallb_k8s_client_config_stale_bool") ==
                   [({}, 1.0)], 10, f"{n}: config_stale 1")
            errs = sp.metric("metallb_k8s_client_update_errors_total")
            assert errs and errs[0][1] >= 1, (n, errs)
        # announcements go on: ARP, NDP, routes, the ServiceL2Status
        c.wait_resolves_to(v4, owner)
        c.wait_resolves_to(v6, owner)
        assert_curl(c, v4, owner)
        for n in c.nodes:
            for fam, ip in ((4, v4), (6, v6)):
                assert cl.host_prefix(ip) in c.bird_routes(n, fam), (n, ip)
        assert l2_owner(c, name)["status"]["node"] == owner
        assert c.ingress(name) == got[name]
    finally:
        seen = cs_event_names(c, states)
        c.kubectl("delete", "ipaddresspool", "overlapping-pool", "-n", NS, "--ignore-not-found")

    for s in states:
        c.wait(lambda s=s: c.config_state(s) == ("Valid", ""), 15,
               f"ConfigurationState {s} Valid again")
        wait_cs_event(c, s, "ConfigurationValid", seen)
    for n, sp in c.speakers.items():
        c.wait(lambda sp=sp: sp.metric("metallb_k8s_client_config_stale_bool") == [({}, 0.0)],
               10, f"{n}: config_stale 0")
    c.wait_resolves_to(v4, owner)


# An L2Advertisement naming a pool that does not exist, and a
# BGPAdvertisement naming a peer that does not exist.  The second would
# change what runs if it were taken with its reference dropped: the moved
# dual-stack-pool (no BGPAdvertisement) would go to router-ipv4.
DANGLING_L2 = """apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: dangling-l2
  namespace: metallb-system
spec:
  ipAddressPools:
  - no-such-pool
"""
DANGLING_BGP = """apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: dangling-bgp
  namespace: metallb-system
spec:
  ipAddressPools:
  - dual-stack-pool
  peers:
  - router-ipv4
  - no-such-peer
"""
NO_POOL = 'unknown IPAddressPool "no-such-pool"'
NO_PEER = 'unknown BGPPeer "no-such-peer"'


def test_unresolved_reference_is_invalid_and_changes_nothing(c):
    """A reference to an object that does not exist (MetalLB accepts it
    silently) makes the configuration Invalid everywhere, with `ironlb
    check`'s message and a ConfigurationInvalid Event; the last valid
    configuration keeps running; deleting the broken objects gives Valid
    and a ConfigurationValid Event."""
    got = guide(c)
    wait_sessions(c)
    name = "dual-stack-test-svc"
    v4, v6 = got[name]
    owner = l2_owner(c, name)["status"]["node"]
    states = ["controller"] + [f"speaker-{n}" for n in c.nodes]
    bgp_ips = [ip for s in BGP_SERVICES for ip in got[s]]
    combined = {cl.host_prefix(ip) for ip in got["my-dual-stack-service"]}
    for n in c.nodes:
        for fam in (4, 6):
            w = want_prefixes(bgp_ips, fam)
            wait_bird(c, n, fam, lambda rs, w=w: w <= set(rs), "the guide's prefixes")
    before = {n: c.bird_prefixes(n) for n in c.nodes}
    assert not any(combined & p for p in before.values()), before
    c.wait_resolves_to(v4, owner)

    def unchanged():
        """Announcements as before: ARP and NDP answered by the owner
        alone, curl reaches it, BIRD holds exactly the same routes (none
        of dual-stack-pool), the owner's ServiceL2Status stays."""
        c.wait_resolves_to(v4, owner, timeout=5)
        c.wait_resolves_to(v6, owner, timeout=5)
        assert_curl(c, v6, owner)
        def same_routes():
            now = {n: c.bird_prefixes(n) for n in c.nodes}
            assert now == before, {n: {"gone": sorted(before[n] - now[n]),
                                       "new": sorted(now[n] - before[n])} for n in c.nodes}
            return True
        holds(c, same_routes, 1.5, "BIRD's routes as before")
        assert l2_owner(c, name)["status"]["node"] == owner
        assert c.ingress(name) == got[name]

    seen = cs_event_names(c, states)
    c.plane.apply(DANGLING_L2 + "---\n" + DANGLING_BGP)
    try:
        for s in states:
            summary = wait_state(c, s, lambda r, m: r == "Invalid" and NO_POOL in m
                                 and NO_PEER in m, "Invalid naming no-such-pool and "
                                 "no-such-peer")[1]
            assert "dangling-l2" in summary and "dangling-bgp" in summary, (s, summary)
            e = wait_cs_event(c, s, "ConfigurationInvalid", seen)
            assert NO_POOL in e["note"], (s, e["note"])
        for n, sp in c.speakers.items():
            c.wait(lambda sp=sp: sp.metric("metallb_k8s_client_config_stale_bool") ==
                   [({}, 1.0)], 10, f"{n}: config_stale 1")
        unchanged()

        # One of the two fixed: still Invalid, for the other one only.
        c.kubectl("delete", "bgpadvertisement", "dangling-bgp", "-n", NS)
        for s in states:
            wait_state(c, s, lambda r, m: r == "Invalid" and NO_POOL in m and NO_PEER not in m,
                       "Invalid for no-such-pool only")
        unchanged()
    finally:
        c.kubectl("delete", "bgpadvertisement", "dangling-bgp", "-n", NS, "--ignore-not-found")
        seen = cs_event_names(c, states)
        c.kubectl("delete", "l2advertisement", "dangling-l2", "-n", NS, "--ignore-not-found")

    for s in states:
        c.wait(lambda s=s: c.config_state(s) == ("Valid", ""), 15,
               f"ConfigurationState {s} Valid again")
        wait_cs_event(c, s, "ConfigurationValid", seen)
    for n, sp in c.speakers.items():
        c.wait(lambda sp=sp: sp.metric("metallb_k8s_client_config_stale_bool") == [({}, 0.0)],
               10, f"{n}: config_stale 0")
    unchanged()


# ---------------------------------------------------------------------------
# 7b. one verdict: the speakers agree with `ironlb check` and `ironlb plan`


def plan_json(tmp_path, files):
    """`ironlb plan -o json` of a directory holding files ({name: text})."""
    d = tmp_path / "manifests"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    p = subprocess.run([cl.ironlb_bin(), "plan", "-o", "json", str(d)], capture_output=True,
                       text=True, timeout=30)
    return d, json.loads(p.stdout)


def speaker_verdicts(c):
    """{node: (verdict, errors, failed)} of every speaker's /status config."""
    out = {}
    for n, sp in c.speakers.items():
        cfg = sp.status()["config"]
        out[n] = (cfg.get("verdict"), cfg.get("errors"), cfg.get("failed"))
    return out


def test_speakers_verdict_and_announcements_match_plan(c, tmp_path):
    """tests/fixtures/teams (a valid pool, team-a's valid Service, team-b's
    Service with metallb.io/loadBalancerIPs "not-an-ip") in the cluster:
    every speaker's /status verdict and failed Services equal `ironlb plan
    -o json`'s "configuration" for the same manifests; team-a's Service
    gets plan's address and is announced (a ServiceL2Status, ARP answered
    by that node's MAC); team-b's fails alone and has nothing."""
    suffix = uuid.uuid4().hex[:6]
    docs = cl.teams_docs(suffix)
    team_a, team_b = f"team-a-{suffix}", f"team-b-{suffix}"
    _, plan = plan_json(tmp_path, {"teams.yaml": yaml.safe_dump_all(docs)})
    want = plan["configuration"]
    assert want["verdict"] == "valid" and want["errors"] == [], want
    assert [(f["namespace"], f["name"]) for f in want["failed"]] == [(team_b, "api")], want
    planned = {(s["namespace"], s["name"]): s for s in plan["services"]}
    web_plan = planned[(team_a, "web")]["ingress"]
    assert len(web_plan) == 1, planned

    # The teams pool (192.0.2.10-19) is on the switch for the client.
    c.client.route("192.0.2.0/24")
    c.plane.create_namespace(team_a)
    c.plane.create_namespace(team_b)
    try:
        for doc in docs:
            c.plane.apply(doc)
        assert c.wait_ingress("web", team_a, n=1) == web_plan

        last = {}

        def agree():
            last.update(speaker_verdicts(c))
            return all(v == (want["verdict"], want["errors"], want["failed"])
                       for v in last.values())
        try:
            labmod.poll(agree, 15, interval=0.1, what="every speaker's verdict equal to plan's")
        except labmod.PollTimeout as e:
            raise AssertionError(f"{e}; plan {want}, speakers {last}\n{c.logs()}") from None

        owner = l2_owner(c, "web", team_a)["status"]["node"]
        c.wait_resolves_to(web_plan[0], owner)
        assert c.speakers[owner].plan(web_plan[0])["here"], c.speakers[owner].status()

        # team-b's Service: the controller's AllocationFailed event with
        # plan's message, no address, no status object, nothing announced
        evs = c.wait(lambda: c.events("api", team_b, reason="AllocationFailed"), 15,
                     f"AllocationFailed event on {team_b}/api")
        assert evs[0]["note"] == planned[(team_b, "api")]["events"][0]["message"], evs
        assert c.ingress("api", team_b) == []
        assert c.l2_statuses("api", team_b) == [] and c.bgp_statuses("api", team_b) == []
        assert not [e for e in c.events("api", team_b) if e.get("reason") == "nodeAssigned"]
        for n, sp in c.speakers.items():
            assert not [e for e in sp.status().get("layer2", [])
                        if e.get("service") == f"{team_b}/api"], (n, sp.status())
        assert c.events("web", team_a, reason="AllocationFailed") == []
    finally:
        for doc in docs:
            m = doc["metadata"]
            kind = ("service" if doc["kind"] == "Service"
                    else f"{doc['kind'].lower()}s.metallb.io")
            c.kubectl("delete", kind, m["name"], "-n", m["namespace"], "--ignore-not-found")
        c.client.run(["ip", "route", "del", "192.0.2.0/24", "dev", "eth0"], check=False)
    # as before: nothing fails, nothing of the teams announced
    c.wait(lambda: all(v == ("valid", [], []) for v in speaker_verdicts(c).values()), 15,
           "every speaker's verdict valid with no failed Service again")
    no_l2_status(c, "web", team_a)


def strip_files(line):
    """A diagnostic without its file locations ("FILE:LINE: " in front,
    " (FILE:LINE)" after an object it names): what is left names the
    object, the field and the problem, as from the API server."""
    line = re.sub(r"^\S+?:\d+: ", "", line)
    return re.sub(r" \(\S+?:\d+\)", "", line)


def test_configuration_error_is_the_same_verdict_everywhere(c, tmp_path):
    """An overlapping pool: `ironlb check` and `ironlb plan -o json` on the
    guide's pools and that pool, the controller's ConfigurationState and
    every speaker's ConfigurationState and /status give the same verdict
    (invalid) and the same error."""
    states = ["controller"] + [f"speaker-{n}" for n in c.nodes]
    d, plan = plan_json(tmp_path, {
        "00-pools.yaml": (EX / "dual-stack-l2" / "ipaddresspools.yaml").read_text(),
        "10-overlap.yaml": OVERLAP_POOL})
    want = plan["configuration"]
    assert want["verdict"] == "invalid" and want["failed"] == [], want
    assert len(want["errors"]) == 1 and "overlapping-pool" in want["errors"][0], want
    error = strip_files(want["errors"][0])
    chk = subprocess.run([cl.ironlb_bin(), "check", str(d)], capture_output=True, text=True,
                         timeout=30)
    assert chk.returncode == 1, chk.stdout + chk.stderr
    lines = chk.stdout.splitlines()
    assert "configuration: invalid" in lines, chk.stdout
    assert error in [strip_files(x) for x in lines], (error, chk.stdout)

    c.plane.apply(OVERLAP_POOL)
    try:
        for s in states:
            got = wait_state(c, s, lambda r, m: r == "Invalid" and m, "Invalid")
            assert got == ("Invalid", error), (s, got, error)
        last = {}

        def agree():
            last.update(speaker_verdicts(c))
            return all(v == ("invalid", [error], []) for v in last.values())
        try:
            labmod.poll(agree, 15, interval=0.1, what="every speaker's /status verdict invalid")
        except labmod.PollTimeout as e:
            raise AssertionError(f"{e}; want {error!r}, speakers {last}\n{c.logs()}") from None
    finally:
        c.kubectl("delete", "ipaddresspool", "overlapping-pool", "-n", NS, "--ignore-not-found")
    for s in states:
        c.wait(lambda s=s: c.config_state(s) == ("Valid", ""), 15,
               f"ConfigurationState {s} Valid again")
    c.wait(lambda: all(v == ("valid", [], []) for v in speaker_verdicts(c).values()), 15,
           "every speaker's verdict valid again")


# ---------------------------------------------------------------------------
# 8. elected, but no usable interface


BOND_ONLY = """apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: bond-pool
  namespace: metallb-system
spec:
  addresses:
  - 192.168.103.0/24
  - 2001:db8:4::/64
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: bond-only
  namespace: metallb-system
spec:
  ipAddressPools:
  - bond-pool
  interfaces:
  - bond0
"""


def test_no_usable_interface_is_an_announce_failed_event(c):
    """The guide's interface-specific L2Advertisement names bond0, which
    these nodes lack: as in MetalLB, the election ignores interfaces, so
    the elected node cannot answer; it says so with a Warning event,
    writes no ServiceL2Status, and nobody answers."""
    name = "bond-svc"
    c.plane.apply(BOND_ONLY)
    c.plane.apply(cl.service(name, annotations={"metallb.io/address-pool": "bond-pool"}))
    try:
        v4, v6 = c.wait_ingress(name)

        def failed():
            return [e for e in c.events(name, reason="announceFailed")
                    if e.get("reportingController") == "metallb-speaker"]
        evs = c.wait(failed, 15, f"announceFailed event for {name}")
        e = evs[0]
        assert e["type"] == "Warning" and e["regarding"]["kind"] == "Service", e
        elected = [n for n in c.nodes if f'node "{n}"' in e["note"]]
        assert len(elected) == 1 and "no usable interface" in e["note"], e["note"]
        for ip in (v4, v6):
            assert c.resolve(ip) == [], f"{ip} answered although no node has bond0"
        # No ServiceL2Status at all (the event is the only report): none
        # appears for a while after the event.
        holds(c, lambda: c.l2_statuses(name) == [], 1.5,
              f"no ServiceL2Status for {name}")
        assert not [x for x in c.events(name, reason="nodeAssigned")
                    if '"layer2"' in x.get("note", "")], c.events(name)
    finally:
        c.kubectl("delete", "svc", name, "-n", "default", "--ignore-not-found")
        c.kubectl("delete", "l2advertisement", "bond-only", "-n", NS, "--ignore-not-found")
        c.kubectl("delete", "ipaddresspool", "bond-pool", "-n", NS, "--ignore-not-found")


def test_service_that_stops_being_a_load_balancer_is_withdrawn(c):
    """The speakers watch LoadBalancer Services only (a spec.type field
    selector): a Service that becomes ClusterIP leaves their watch as a
    deletion, so its ServiceL2Status goes and its address stops
    answering; made a LoadBalancer again, it comes back into the watch
    and is announced again."""
    name = "type-change"
    c.plane.apply(cl.service(name, families=("IPv4",)))
    try:
        (v4,) = c.wait_ingress(name)
        owner = l2_owner(c, name)["status"]["node"]
        c.wait_resolves_to(v4, owner)
        c.kubectl("patch", "svc", name, "-n", "default", "--type=merge", "-p",
                  '{"spec": {"type": "ClusterIP"}}')
        no_l2_status(c, name)
        c.wait(lambda: c.resolve(v4) == [], 15, f"{v4} no longer answered")
        c.kubectl("patch", "svc", name, "-n", "default", "--type=merge", "-p",
                  '{"spec": {"type": "LoadBalancer"}}')
        (again,) = c.wait_ingress(name)
        owner = l2_owner(c, name)["status"]["node"]
        c.wait_resolves_to(again, owner)
    finally:
        c.kubectl("delete", "svc", name, "-n", "default", "--ignore-not-found")


# ---------------------------------------------------------------------------
# 9. controller restart


def in_use(ctl):
    return sum(v for n, lb, v in ctl.metrics() if n == "metallb_allocator_addresses_in_use_total")


def test_controller_restart_keeps_every_address(c):
    guide(c)
    before = c.all_ingress()
    n_addr = len({ip for ips in before.values() for ip in ips})
    assert n_addr >= 2 * len(GUIDE) - 2, before
    problem = c.controller.stop()
    assert problem is None, problem
    c.controller.start()
    # the new controller has taken in every Service once its allocator
    # counts their addresses
    c.wait(lambda: in_use(c.controller) == n_addr, 20,
           f"the new controller counting {n_addr} addresses in use")
    after = c.all_ingress()
    assert after == before, {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
                             if before.get(k) != after.get(k)}

    # and it allocates: a new Service gets addresses nobody holds
    c.plane.apply(cl.service("after-controller-restart"))
    try:
        new = c.wait_ingress("after-controller-restart")
        held = {ip for ips in before.values() for ip in ips}
        assert not (set(new) & held), (new, held)
        assert c.all_ingress() == {**before, "default/after-controller-restart": new}
    finally:
        c.kubectl("delete", "svc", "after-controller-restart", "-n", "default")


# ---------------------------------------------------------------------------
# 10. API server restart, forced relist


class Sampler:
    """In a thread: every round, which MACs answer ARP for ip4 and NDP for
    ip6, and whether BIRD holds their prefixes from every node."""

    def __init__(self, c, ip4, ip6):
        self.c, self.ip4, self.ip6 = c, ip4, ip6
        self.samples = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        c = self.c
        while not self.stopping:
            t = time.monotonic()
            try:
                a4 = set(c.client.arping(self.ip4, "eth0", count=2, interval=0.05))
                a6 = set(c.client.solicit(self.ip6, "eth0", tries=2, wait=0.2))
                routes = {n: (cl.host_prefix(self.ip4) in c.bird_routes(n, 4),
                              cl.host_prefix(self.ip6) in c.bird_routes(n, 6))
                          for n in c.nodes}
                self.samples.append((t, a4, a6, routes))
            except Exception as e:  # noqa: BLE001 - reported by check()
                self.samples.append((t, "error", repr(e), None))

    def stop(self):
        self.stopping = True
        self.thread.join(15)

    def bad(self, mac):
        return [s for s in self.samples if s[3] is None or s[1] != {mac} or s[2] != {mac}
                or not all(all(v) for v in s[3].values())]


def test_apiserver_restart_and_forced_relist_lose_nothing(c):
    got = guide(c)
    wait_sessions(c)
    name = "dual-stack-test-svc"
    v4, v6 = got[name]
    owner = l2_owner(c, name)["status"]["node"]
    mac = c.mac(owner)
    c.wait_resolves_to(v4, owner)
    accepted = {n: r.accepted for n, r in c.relays.items()}

    sampler = Sampler(c, v4, v6)
    try:
        c.wait(lambda: len(sampler.samples) >= 1, 10, "a first sample")
        c.plane.restart_apiserver()
        # every speaker has connected again through its relay
        c.wait(lambda: all(r.accepted > accepted[n] for n, r in c.relays.items()), 30,
               "the speakers reconnecting after the restart")
        n0 = len(sampler.samples)
        c.wait(lambda: len(sampler.samples) >= n0 + 2, 15, "two more samples")
    finally:
        sampler.stop()
    assert len(sampler.samples) >= 3
    bad = sampler.bad(mac)
    span = sampler.samples[-1][0] - sampler.samples[0][0]
    assert not bad, (f"during the API server restart ({len(sampler.samples)} samples over "
                     f"{span:.1f}s), owner {owner} {mac}: {bad[:5]}\n{c.logs()}")

    # the watches came back: a new Service is announced
    new = "after-apiserver-restart"
    c.plane.apply(cl.service(new))
    n4, n6 = c.wait_ingress(new)
    new_owner = l2_owner(c, new)["status"]["node"]
    c.wait_resolves_to(n4, new_owner)
    c.wait_resolves_to(n6, new_owner)
    for n in c.nodes:
        wait_bird(c, n, 4, lambda rs: cl.host_prefix(n4) in rs, f"{n4} announced")
        wait_bird(c, n, 6, lambda rs: cl.host_prefix(n6) in rs, f"{n6} announced")

    # Forced relist: every speaker connection cut and refused while things
    # change; the speakers keep announcing meanwhile, and converge after.
    for r in c.relays.values():
        r.cut()
    try:
        # (created first: the deleted Service's addresses would be the
        # lowest free ones)
        c.plane.apply(cl.service("during-cut"))
        d4, d6 = c.wait_ingress("during-cut")
        c.kubectl("delete", "svc", new, "-n", "default")
        # cut off, the speakers keep announcing what they know, the
        # deleted Service included
        for ip, o in ((v4, owner), (v6, owner), (n4, new_owner)):
            c.wait_resolves_to(ip, o)
        for n in c.nodes:
            rs = c.bird_routes(n, 4)
            assert {cl.host_prefix(v4), cl.host_prefix(n4)} <= set(rs), (n, sorted(rs))
        assert all(r.connections() == 0 for r in c.relays.values())
    finally:
        for r in c.relays.values():
            r.restore()
    try:
        # the deleted Service is withdrawn, its status objects deleted
        c.wait(lambda: c.resolve(n4) == [], 20, f"nobody answers ARP for deleted {n4}")
        c.wait(lambda: c.resolve(n6) == [], 10, f"nobody answers NDP for deleted {n6}")
        for n in c.nodes:
            wait_bird(c, n, 4, lambda rs: cl.host_prefix(n4) not in rs, f"{n4} withdrawn")
            wait_bird(c, n, 6, lambda rs: cl.host_prefix(n6) not in rs, f"{n6} withdrawn")
        no_l2_status(c, new)
        c.wait(lambda: c.bgp_statuses(new) == [], 10, f"no ServiceBGPStatus for {new}")
        # the one created meanwhile is announced
        d_owner = l2_owner(c, "during-cut")["status"]["node"]
        c.wait_resolves_to(d4, d_owner)
        c.wait_resolves_to(d6, d_owner)
        for n in c.nodes:
            wait_bird(c, n, 4, lambda rs: cl.host_prefix(d4) in rs, f"{d4} announced")
        c.wait_resolves_to(v4, owner)
        assert c.ingress(name) == [v4, v6]
    finally:
        c.kubectl("delete", "svc", "during-cut", "-n", "default", "--ignore-not-found")


# ---------------------------------------------------------------------------
# 11. the listener on the node's IP alone


def test_speaker_metrics_host_binds_the_node_ip_alone(c):
    got = guide(c)
    node = sorted(c.nodes)[0]
    sp = c.speakers[node]
    ns = sp.host.ns
    ip4, ip6 = c.node_v4(node), c.node_v6(node)
    port = cl.SPEAKER_PORT
    before = list(sp.extra)
    assert sp.stop() is None, sp.problem
    # as deploy/ironlb.yaml: --metrics-listen :7473 --metrics-host $(METALLB_HOST)
    sp.restart(extra=before + ["--metrics-listen", f":{port}", "--metrics-host", ip4])
    try:
        def healthy():
            sp.check()
            try:
                return cl.http_get(ns, port, "/healthz", addr=ip4)[0] == 200
            except OSError:
                return False
        c.wait(healthy, 30, f"speaker {node} /healthz 200 on {ip4}:{port}")
        for other in ("127.0.0.1", ip6):
            try:
                code = cl.http_get(ns, port, "/healthz", addr=other)
            except ConnectionRefusedError:
                continue
            raise AssertionError(f"speaker {node} answers on {other}:{port}: {code}")
        # it still does its work: it plans the Services and one node
        # answers for them
        v4, v6 = got["dual-stack-test-svc"]

        def planned():
            code, body = cl.http_get(ns, port, "/status", addr=ip4)
            st = json.loads(body) if code == 200 else {}
            return st.get("node") == node and \
                v4 in {e.get("ip") for e in st.get("layer2", [])}
        c.wait(planned, 20, f"speaker {node} /status on {ip4} plans {v4}")
        owner = l2_owner(c, "dual-stack-test-svc")["status"]["node"]
        c.wait_resolves_to(v4, owner)
    finally:
        assert sp.stop() is None, sp.problem
        sp.restart(extra=before)
        sp.wait_healthy()
