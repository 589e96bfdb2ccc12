"""Failover between speakers in Kubernetes mode: three `ironlb-k8s speaker`
processes in network-namespace nodes against a real kube-apiserver
(tests/k8s/cluster.py), their Nodes carrying status.addresses (InternalIP)
and a Ready condition, the memberlist Secret holding the shared key as
MetalLB's docs create it.

What is checked, in this order (one lab for the module):

1. every speaker runs the failure detector: its /status lists the two
   other nodes alive, authenticated, and ironlb_member_* metrics are
   exposed;
2. SIGKILL of the speaker announcing a dual-stack Service: another speaker
   takes over within 2 s (/status), the client's ARP and NDP resolve to it
   and curl reaches it; the new owner posts one nodeAssigned event (one
   per move) and deletes the dead node's stale ServiceL2Status; the killed
   speaker started again, and a SIGTERM'd bystander started again, post no
   event for what did not move;
   SIGTERM of the owner (a rolling restart): the others hold it left and
   one takes over at once, well within a detection time;
3. a Node set Ready=False (its status patched, as the kubelet or the node
   lifecycle controller would) loses its Services although its speaker
   runs; Ready=True makes it a candidate again;
4. a speaker given another key (--member-key FILE) is refused: the others
   count its packets as bad_tag in ironlb_member_packets_dropped_total and
   hold it not alive; with the Secret's key again it is a member again;
5. a new key in the memberlist Secret is taken by every speaker without
   any failover (the previous key stays in use for a grace time).
6. speakers started with --gratuitous-interval 500ms: the one that takes
   a Service over repeats gratuitous ARP every 0.5 s past the takeover's
   rounds, as the client sees.

Every wait polls with a deadline; failures carry the speakers' and the
controller's log tails.  At the end every speaker and controller run
ended by SIGTERM must have exited 0 with no sanitizer report.  Needs root
(namespaces), arping, curl and BIRD.
"""
import json
import signal
import time

import pytest

import cluster as cl
import lab as labmod

NS = cl.NS
NODES = ("node-a", "node-b", "node-c")
TAKEOVER = 2.0       # seconds from the owner's SIGKILL to another's takeover


@pytest.fixture(scope="module")
def cluster(plane, tmp_path_factory):
    yield from cl.cluster_fixture(
        plane, tmp_path_factory.mktemp("failover"), speaker_flag="--member-port",
        what="a failure detector", nodes=NODES, members=True,
        start=lambda c: c.kubectl("apply", "-f", "-", input=json.dumps(cl.service("web"))))


@pytest.fixture
def c(cluster):
    yield from cl.checked_alive(cluster)


def members(sp) -> dict:
    """{name: state} of the members a speaker's /status lists."""
    m = sp.status().get("members") or {}
    return {e["name"]: e["state"] for e in m.get("members", [])}


def all_alive(c, among=NODES):
    """Every speaker in `among` holds every other node alive."""
    for n in among:
        want = {o: "alive" for o in NODES if o != n}
        if members(c.speakers[n]) != want:
            return False
    return True


def owners(c, ips, among=NODES):
    """Nodes whose speaker's /status says it owns every one of ips."""
    out = []
    for n in among:
        try:
            if set(ips) <= c.speakers[n].owned():
                out.append(n)
        except (OSError, AssertionError):
            pass
    return out


def settled(c, name="web", timeout=30):
    """Every member alive everywhere, one owner of the Service's addresses
    and its ServiceL2Status alone: (ips, owner)."""
    ips = c.wait_ingress(name)

    def ok():
        c.check_alive()
        if not all_alive(c):
            return None
        o = owners(c, ips)
        if len(o) != 1:
            return None
        st = c.l2_statuses(name)
        if [s["status"]["node"] for s in st] != o:
            return None
        return (ips, o[0])
    return c.wait(ok, timeout, f"members alive, one owner of {name} and its status object")


def assigned(c, name="web") -> list[str]:
    """The nodes named by the Service's nodeAssigned layer2 events, oldest
    first (an event repeated by the API server counts once per object)."""
    evs = [e for e in c.events(name, reason="nodeAssigned")
           if '"layer2"' in e.get("note", "")]
    evs.sort(key=lambda e: e.get("eventTime") or e["metadata"]["creationTimestamp"])
    return [e["note"].split('"')[1] for e in evs]


def holds(c, cond, seconds, what, interval=0.1):
    """cond() stays true for `seconds` (checked every `interval`)."""
    deadline = time.monotonic() + seconds
    while True:
        assert cond(), f"{what}: no longer true\n{c.logs()}"
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


def dropped(sp, reason):
    return sum(v for _, v in sp.metric("ironlb_member_packets_dropped_total", reason=reason))


# ---------------------------------------------------------------------------


def test_speakers_run_the_failure_detector(c):
    settled(c)
    for n in NODES:
        st = c.speakers[n].status()["members"]
        assert st["name"] == n and st["port"] == 7946, st
        assert st["authenticated"] is True, st
        addrs = {e["name"]: e["address"] for e in st["members"]}
        assert addrs == {o: c.node_v4(o) for o in NODES if o != n}, addrs
        for e in st["members"]:
            assert e["last_heard_ms_ago"] is not None, e
        names = {m for m, _, _ in c.speakers[n].metrics()}
        assert "ironlb_member_members" in names, sorted(names)
        assert "ironlb_member_packets_received_total" in names
        alive = c.speakers[n].metric("ironlb_member_members", state="alive")
        assert [v for _, v in alive] == [2.0], alive
        assert dropped(c.speakers[n], "bad_tag") == 0
    # the Secret's key, read from the API: no warning about a missing one
    for n in NODES:
        assert "member protocol is unauthenticated" not in c.speakers[n].output()


def test_sigkill_of_the_owner_fails_over_within_2s(c):
    ips, owner = settled(c)
    before = assigned(c)
    assert before and before[-1] == owner, (before, owner)
    others = [n for n in NODES if n != owner]

    t0 = time.monotonic()
    c.speakers[owner].kill()
    new = c.wait(lambda: (owners(c, ips, others) or [None])[0], 10,
                 f"a survivor owns {ips}")
    took = time.monotonic() - t0
    assert took <= TAKEOVER, f"takeover after {took:.2f} s\n{c.logs()}"
    assert owners(c, ips, others) == [new]
    for ip in ips:
        c.wait_resolves_to(ip, new, timeout=5)
        code, body = c.client.curl(ip)
        assert (code, body.strip()) == (200, new), (ip, code, body)
    log = c.speakers[new].output()
    assert "member dead; its Services fail over" in log, log[-2000:]
    assert "detection_ms=" in log

    # One nodeAssigned event for the move, from the new owner, and the dead
    # node's ServiceL2Status deleted by it: one status object, the new one.
    c.wait(lambda: assigned(c) == before + [new], 10, f"one more nodeAssigned, on {new}")
    c.wait(lambda: [s["status"]["node"] for s in c.l2_statuses("web")] == [new], 10,
           f"the only ServiceL2Status is {new}'s")

    # The killed speaker comes back: a member again; whatever the placement
    # rule decides, events follow moves one for one.
    c.speakers[owner].restart()
    c.speakers[owner].wait_healthy(30)
    ips, now = settled(c)
    want = before + [new] + ([now] if now != new else [])
    c.wait(lambda: assigned(c) == want, 10, f"nodeAssigned events {want}")

    # A bystander's restart (SIGTERM: it leaves, then joins) moves nothing
    # and posts nothing.
    by = next(n for n in NODES if n != now)
    assert c.speakers[by].stop() is None
    c.speakers[by].restart()
    c.speakers[by].wait_healthy(30)
    _, after = settled(c)
    assert after == now
    # Events are written asynchronously: a wrong one would show meanwhile.
    holds(c, lambda: assigned(c) == want, 1.5, f"nodeAssigned events stay {want}")


def test_sigterm_of_the_owner_hands_over_at_once(c):
    """A rolling restart: the owner's SIGTERM tells the others it leaves;
    one takes over without waiting for a detection time."""
    ips, owner = settled(c)
    before = assigned(c)
    others = [n for n in NODES if n != owner]
    sp = c.speakers[owner]
    t0 = time.monotonic()
    sp.proc.send(signal.SIGTERM)
    new = c.wait(lambda: (owners(c, ips, others) or [None])[0], 10,
                 f"a survivor owns {ips}")
    took = time.monotonic() - t0
    # The detector's default timing declares a silent node dead after about
    # 0.5 s; a leave is news at once (the margin is for the sanitizer build).
    assert took <= 1.0, f"takeover after {took:.2f} s\n{c.logs()}"
    for n in others:
        assert members(c.speakers[n])[owner] == "left", members(c.speakers[n])
    assert "member left; its Services fail over" in c.speakers[new].output()
    sp.proc.wait(15)                # the drain of its writes, then the exit
    assert sp.stop() is None        # exited 0 by itself, no sanitizer report
    for ip in ips:
        c.wait_resolves_to(ip, new, timeout=5)
    c.wait(lambda: assigned(c) == before + [new], 10, f"one more nodeAssigned, on {new}")
    sp.restart()
    sp.wait_healthy(30)
    settled(c)


def test_not_ready_node_loses_its_services(c):
    ips, owner = settled(c)
    c.set_node_status(owner, ready="False")
    try:
        others = [n for n in NODES if n != owner]
        new = c.wait(lambda: (owners(c, ips, others) or [None])[0], 10,
                     f"{ips} move off the not Ready {owner}")
        c.wait(lambda: not (set(ips) & c.speakers[owner].owned()), 10,
               f"{owner} owns none of {ips}")
        for ip in ips:
            c.wait_resolves_to(ip, new, timeout=5)
        # its speaker runs and is a member: Ready alone decided
        assert all_alive(c)
        plan = c.speakers[new].plan(ips[0])
        assert owner not in plan.get("candidates", []), plan
        assert "Node is not Ready" in c.speakers[new].output()
    finally:
        c.set_node_status(owner, ready="True")
    c.wait(lambda: owner in (c.speakers[owner].plan(ips[0]) or {}).get("candidates", []), 10,
           f"{owner} a candidate again")
    settled(c)


def test_wrong_key_is_refused_and_counted(c, tmp_path):
    settled(c)
    intruder = NODES[-1]
    good = [n for n in NODES if n != intruder]
    key = tmp_path / "wrong.key"
    key.write_text("not-the-memberlist-key\n")
    base = {n: dropped(c.speakers[n], "bad_tag") for n in good}
    assert c.speakers[intruder].stop() is None
    c.speakers[intruder].restart(extra=["--member-key", str(key)])
    try:
        c.speakers[intruder].wait_healthy(30)

        def refused():
            for n in good:
                if dropped(c.speakers[n], "bad_tag") <= base[n]:
                    return False
                # not alive: dead, or left (its SIGTERM) and never back
                if members(c.speakers[n]).get(intruder) in (None, "alive"):
                    return False
                if members(c.speakers[n]).get(next(g for g in good if g != n)) != "alive":
                    return False
            return True
        c.wait(refused, 15, f"{intruder}'s packets refused (bad_tag) by {good}")
        for n in good:
            st = c.speakers[n].status()["members"]["counters"]
            assert st["bad_tag"] > 0, st
    finally:
        assert c.speakers[intruder].stop() is None
        c.speakers[intruder].restart(extra=[])
    c.speakers[intruder].wait_healthy(30)
    settled(c)


def test_new_key_in_the_secret_fails_nothing_over(c):
    ips, owner = settled(c)
    n_events = len(assigned(c))
    c.set_member_key("rotated" + cl.MEMBER_KEY[7:])
    for n in NODES:
        c.wait(lambda n=n: "member key changed" in c.speakers[n].output(), 10,
               f"{n} takes the new key")
    # Through the grace time (10 s) and past it: every member alive, no move.
    holds(c, lambda: all_alive(c) and owners(c, ips) == [owner], 12,
          "every member alive and the owner unchanged")
    assert len(assigned(c)) == n_events
    for n in NODES:
        assert c.speakers[n].status()["members"]["authenticated"] is True


def test_gratuitous_interval_repeats_the_announcements(c):
    """--gratuitous-interval 500ms: after a takeover the new owner goes on
    sending a gratuitous ARP round every 0.5 s past the rounds of the
    takeover (which end 5 s after it), as the client on the switch sees."""
    ips, owner = settled(c)
    others = [n for n in NODES if n != owner]
    for n in others:
        sp = c.speakers[n]
        sp.stop()
        sp.restart(extra=["--gratuitous-interval", "500ms"])
        sp.wait_healthy(30)
    settled(c)
    ip4 = next(ip for ip in ips if ":" not in ip)
    with labmod.Sniffer(c.client) as sn:
        c.speakers[owner].proc.send(signal.SIGTERM)
        t0 = time.time()
        new = c.wait(lambda: (owners(c, ips, others) or [None])[0], 10,
                     f"a survivor owns {ips}")
        mac = c.mac(new)
        # from 5.5 s after the takeover on, only the periodic rounds remain
        lo, hi = t0 + 5.5, t0 + 8.0

        def rounds():
            ts = sorted(f.ts for f in labmod.garps(sn.snapshot(), ip4)
                        if f.src == mac and f.ts >= lo)
            if not ts or ts[-1] < hi:
                return None
            out = []            # first frame of each round (frames 50 ms apart at most)
            for t in ts:
                if t <= hi and (not out or t - out[-1] > 0.05):
                    out.append(t)
            return out
        got = c.wait(rounds, 15, f"gratuitous ARP for {ip4} from {new} until {hi - t0:.1f} s")
    gaps = [b - a for a, b in zip(got, got[1:])]
    assert len(got) >= 4, (got, c.logs())
    assert all(0.3 <= g <= 0.8 for g in gaps), f"rounds {gaps} apart, not every 0.5 s"
    sp = c.speakers[owner]
    sp.proc.wait(15)
    assert sp.stop() is None
    sp.restart()
    sp.wait_healthy(30)
    settled(c)
