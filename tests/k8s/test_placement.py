"""Sticky and balanced Layer 2 placement in Kubernetes mode: three
`ironlb-k8s speaker` processes in network-namespace nodes against a real
kube-apiserver (tests/k8s/cluster.py), with the failure detector running.
The speakers place from the ServiceL2Status objects of every node (the
claims):

1. three dual-stack Services created at once: each node announces exactly
   one (balanced: at most ceil(M/N)), each Service has one ServiceL2Status,
   its announcer's, and the client's ARP and NDP resolve to it;
2. SIGKILL of one Service's announcer: it moves to a survivor, whose
   ServiceL2Status replaces the dead node's; the others stay where they
   are; the speakers' own writes echoing back set off no storm of whole
   passes (their number settles);
3. the killed speaker started again: nothing moves back (every
   ServiceL2Status keeps its node, the client still resolves to the
   survivor, the returning node announces nothing), and again no storm;
4. a rolling restart of the speakers (SIGTERM, start again, next) while a
   client opens a connection every ~20 ms: at most one request is lost
   per restart (the leaving speaker tells the others, who take over at
   once, and keeps its addresses a moment until the successor's
   gratuitous ARP / unsolicited NA has moved the client).

Every wait polls with a deadline; at the end every speaker and controller
run ended by SIGTERM must have exited 0 with no sanitizer report.  Needs
root (namespaces), arping, curl and BIRD.
"""
import datetime
import json
import math
import re
import time

import pytest

import cluster as cl
import failover as fo

NODES = ("node-a", "node-b", "node-c")
SERVICES = ("blue", "green", "red")


@pytest.fixture(scope="module")
def c(plane, tmp_path_factory):
    yield from cl.cluster_fixture(
        plane, tmp_path_factory.mktemp("placement"), speaker_flag="--member-timing",
        what="placement", nodes=NODES, members=True)


def members(sp) -> dict:
    m = sp.status().get("members") or {}
    return {e["name"]: e["state"] for e in m.get("members", [])}


def all_alive(c):
    return all(members(c.speakers[n]) == {o: "alive" for o in NODES if o != n}
               for n in NODES)


def placement(c, ips, among=NODES) -> dict | None:
    """{Service: node} from the speakers' /status when every Service has
    exactly one announcer among `among` (all its addresses), else None."""
    owned = {}
    for n in among:
        try:
            owned[n] = c.speakers[n].owned()
        except (OSError, AssertionError):
            return None
    out = {}
    for svc, addrs in ips.items():
        who = [n for n in among if set(addrs) <= owned[n]]
        partial = [n for n in among if set(addrs) & owned[n] and n not in who]
        if len(who) != 1 or partial:
            return None
        out[svc] = who[0]
    return out


def status_nodes(c) -> dict:
    """{Service: [nodes of its ServiceL2Status objects]}."""
    out = {s: [] for s in SERVICES}
    for st in c.l2_statuses():
        name = st["metadata"]["labels"].get("metallb.io/service-name")
        if name in out:
            out[name].append(st.get("status", {}).get("node"))
    return {s: sorted(v) for s, v in out.items()}


def agreed(c, ips, among=NODES):
    """One announcer per Service, and its ServiceL2Status alone says so."""
    p = placement(c, ips, among)
    if p is None:
        return None
    if status_nodes(c) != {s: [n] for s, n in p.items()}:
        return None
    return p


def whole_passes(c, among) -> dict:
    return {n: c.speakers[n].status()["config"]["whole_passes"] for n in among}


def passes_settle(c, among, quiet=3.0, timeout=30.0):
    """The number of whole passes of every speaker in `among` stops
    growing: unchanged for `quiet` seconds, within `timeout` (a storm of
    passes set off by the speakers' own writes never settles)."""
    deadline = time.monotonic() + timeout
    last = whole_passes(c, among)
    since = time.monotonic()
    while True:
        for n in among:
            c.speakers[n].check()
        time.sleep(0.2)
        now = whole_passes(c, among)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
        assert time.monotonic() < deadline, (
            f"whole passes still growing after {timeout} s: {now}\n{c.logs()}")


def holds(c, cond, seconds, what, interval=0.2):
    deadline = time.monotonic() + seconds
    while True:
        assert cond(), f"{what}: no longer true\n{c.logs()}"
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


def test_balanced_then_sticky(c):
    c.wait(lambda: all_alive(c), 30, "every member alive")
    c.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": [cl.service(s) for s in SERVICES]}))
    ips = {s: c.wait_ingress(s) for s in SERVICES}

    # 1. Balanced: ceil(3/3) = 1 Service per node.
    first = c.wait(lambda: agreed(c, ips), 30, "one announcer and one ServiceL2Status each")
    per_node = {n: sorted(s for s, o in first.items() if o == n) for n in NODES}
    assert all(len(v) == math.ceil(len(SERVICES) / len(NODES)) for v in per_node.values()), \
        per_node
    for svc, node in first.items():
        for ip in ips[svc]:
            c.wait_resolves_to(ip, node, timeout=5)
    passes_settle(c, NODES)

    # 2. Kill the announcer of one: it moves to a survivor, the others stay.
    moved = SERVICES[1]
    dead = first[moved]
    survivors = [n for n in NODES if n != dead]
    c.speakers[dead].kill()

    def moved_on():
        p = agreed(c, ips, survivors)
        return p if p and p[moved] != dead else None
    after = c.wait(moved_on, 15, f"{moved} moves off the killed {dead}")
    for svc in SERVICES:
        if svc != moved:
            assert after[svc] == first[svc], (first, after)
    new = after[moved]
    for ip in ips[moved]:
        c.wait_resolves_to(ip, new, timeout=5)
        code, body = c.client.curl(ip)
        assert (code, body.strip()) == (200, new), (ip, code, body)
    before_restart = passes_settle(c, survivors)
    for n in survivors:
        claims = c.speakers[n].status()["claims"]
        assert claims["count"] == len(SERVICES), claims

    # 3. The killed speaker comes back: nothing moves back.
    c.speakers[dead].restart()
    c.speakers[dead].wait_healthy(30)
    c.wait(lambda: all_alive(c), 30, "every member alive again")
    c.wait(lambda: agreed(c, ips) == after, 15, "the placement of before the restart")
    holds(c, lambda: agreed(c, ips) == after, 3,
          f"placement {after} kept after {dead} came back")
    assert not c.speakers[dead].owned(), c.speakers[dead].status().get("layer2")
    for ip in ips[moved]:
        c.wait_resolves_to(ip, new, timeout=5)
    settled = passes_settle(c, NODES)
    # The return is one verdict of the detector on each survivor (and a
    # few passes around it), not a pass per echo.
    for n in survivors:
        assert settled[n] - before_restart[n] <= 5, (before_restart, settled)


def log_time(line):
    m = re.search(r"\bts=(\S+)", line)
    return datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()


def lingered(log, node):
    """The speaker's last run left the members and withdrew at least 0.15 s
    later (its graceful leave's linger), not at once."""
    run = log[log.rfind('msg="speaker started"'):]
    left = [ln for ln in run.splitlines() if "left the members; keeping the addresses" in ln]
    stopped = [ln for ln in run.splitlines() if 'msg="layer2 engine stopped"' in ln]
    assert left and stopped, f"{node}: no leave and withdrawal in its log\n{cl.tail(run)}"
    took = log_time(stopped[-1]) - log_time(left[-1])
    assert 0.14 <= took <= 1.0, f"{node} withdrew {took:.3f} s after leaving\n{cl.tail(run)}"


def test_rolling_restart_loses_at_most_one_request_per_restart(c):
    """As tests/e2e/test_member_failover.py's for `ironlb run`: a new
    connection every ~20 ms with a 0.5 s timeout (under a SYN
    retransmission), so a SYN sent to a node that dropped the address is
    a lost request."""
    c.wait(lambda: all_alive(c), 30, "every member alive")
    ips = {s: c.wait_ingress(s) for s in SERVICES}
    c.wait(lambda: agreed(c, ips), 30, "one announcer and one ServiceL2Status each")
    vip = next(ip for ip in ips[SERVICES[1]] if not cl.is_v6(ip))
    windows = []
    with fo.HttpLoop(c.client, vip, timeout=0.5, gap=0.02, max_requests=8000,
                     max_seconds=240) as h:
        def answered_since(t):
            return sum(1 for r in h.snapshot() if r[0] >= t and r[2])
        t = time.time()
        c.wait(lambda: answered_since(t) >= 10, 10, "the client loop answered")
        for n in NODES:
            t1 = time.time()
            assert c.speakers[n].stop() is None
            lingered(c.speakers[n].output(), n)
            c.speakers[n].restart()
            c.speakers[n].wait_healthy(30)
            c.wait(lambda: all_alive(c) and agreed(c, ips), 30,
                   f"{n} back, one announcer each")
            t2 = time.time()
            c.wait(lambda: answered_since(t2) >= 10, 10, f"answers after restarting {n}")
            windows.append((n, t1, t2))
        h.stop()
        results = h.snapshot()
    lost = {n: [] for n, _, _ in windows}
    made = {n: 0 for n, _, _ in windows}
    outside = []
    for start, end, body in results:
        w = next((n for n, t1, t2 in windows if start < t2 and end >= t1), None)
        if w:
            made[w] += 1
        if not body:
            (lost[w] if w else outside).append(round(start, 3))
    assert all(v >= 5 for v in made.values()), f"requests per restart: {made}"
    assert all(len(v) <= 1 for v in lost.values()), f"lost per restart: {lost}\n{c.logs()}"
    assert not outside, f"requests lost between restarts: {outside}"
