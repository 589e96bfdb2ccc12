#!/usr/bin/env python3
"""BFD benchmarks of `ironlb run` (not tests): how fast FRR's bfdd detects
a dead link to ironlb, beside how fast it detects the same failure of
BIRD 2, in one lab of network namespaces (tests/e2e/lab.py, routers from
tests/e2e/bgplab.py); and the CPU cost of many fast sessions.  Prints
`key: value` lines.

    node     (ironlb run)   192.168.1.10 ---- 192.168.1.1  router (FRR: zebra,
    birdnode (BIRD 2)       192.168.2.10 ---- 192.168.2.1          bgpd, bfdd)

  A  detection, per profile (--profiles, default 300x3 and 50x3: interval
     ms x detectMultiplier, the same on all three): both BFD sessions Up
     (and BGP Established), then the node's and birdnode's links are set
     down in the same instant (one after the other, each time taken); the
     detection time of each is the moment FRR logs the session going down
     ("debug bfd peer", millisecond timestamps) minus the moment its link
     went down; links up again, both Up, --runs times (default 20); min,
     median, p90, max per peer, and the bound detectMultiplier x
     interval.  Also ironlb detecting the router's silence in the same
     runs (its link is down: nothing arrives), from the first /status
     poll (every ~10 ms) that shows the session not Up.
  B  CPU: ironlb with --sessions BGPPeers (default 100) on the router's
     addresses 192.168.1.101.., each with a 50 ms x 3 BFDProfile and
     ebgpMultiHop (bfdd holds one single-hop session per peer address and
     link, so these are multihop sessions, UDP 4784), against as many
     static bfdd peers; once all are Up, ironlb's and bfdd's CPU
     time over --cpu-seconds (default 20), as % of one core.  (bgpd has
     no such neighbours: ironlb's BGP connections are refused and retried
     with backoff, a few per second.)

Usage: sudo python3 bench/bfd.py [--runs 20] [--profiles 300x3,50x3]
[--sessions 100] [--cpu-seconds 20] [--phases AB] [--bin PATH] (binary:
$IRONLB_BIN or build/ironlb)."""
import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import bgplab  # noqa: E402
import lab as labmod  # noqa: E402
from lab import poll  # noqa: E402

MY_ASN, PEER_ASN = 64500, 64501
NODE, RTR1 = "192.168.1.10", "192.168.1.1"
BIRDNODE, RTR2 = "192.168.2.10", "192.168.2.1"


def out(key, value):
    print(f"{key}: {value}", flush=True)


def stats(prefix, values_ms):
    v = sorted(values_ms)
    if not v:
        out(f"{prefix}_runs", 0)
        return
    p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
    out(f"{prefix}_ms", f"min {v[0]:.0f} median {statistics.median(v):.0f} "
        f"p90 {p90:.0f} max {v[-1]:.0f} (n={len(v)})")


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * 1000 // os.sysconf("SC_CLK_TCK")


def write(mdir, name, text):
    labmod.write_atomic(mdir / name, text)


def bfd_status(speaker):
    st = json.loads(speaker.fetch("/status"))
    return {s["name"]: s for s in st.get("bfd") or []}


def phase_a(L, a, interval, mult):
    node, bnode, rtr = L.host("node"), L.host("birdnode"), L.host("router")
    bgplab.veth(node, "eth0", rtr, "eth0", [f"{NODE}/24"], [f"{RTR1}/24"])
    bgplab.veth(bnode, "eth0", rtr, "eth1", [f"{BIRDNODE}/24"], [f"{RTR2}/24"])
    prof = bgplab.BfdProfile(interval, interval, mult)
    frr = bgplab.Frr(rtr, PEER_ASN, RTR1, [
        bgplab.Neighbor(NODE, MY_ASN, families=(4,), bfd=prof, interface="eth0"),
        bgplab.Neighbor(BIRDNODE, MY_ASN, families=(4,), bfd=prof, interface="eth1")])
    bird = bgplab.Bird(bnode, MY_ASN, BIRDNODE, [
        bgplab.Neighbor(RTR2, PEER_ASN, families=(4,), bfd=prof, interface="eth0")],
        static=[bgplab.StaticRoute("192.168.200.1/32")])
    mdir = L.workdir / f"manifests-{interval}x{mult}"
    mdir.mkdir()
    write(mdir, "node.yaml", labmod.node_manifest("node"))
    write(mdir, "pools.yaml", labmod.pool_manifest("pool", ["192.168.100.0/24"]))
    write(mdir, "svc.yaml", labmod.service_manifest("web", families=("IPv4",)))
    write(mdir, "adv.yaml", bgplab.bgpadv_manifest("adv", pools=["pool"]))
    write(mdir, "bfd.yaml", bgplab.bfdprofile_manifest(
        "bfd", receiveInterval=interval, transmitInterval=interval, detectMultiplier=mult))
    write(mdir, "peers.yaml", bgplab.bgppeer_manifest("router", MY_ASN, PEER_ASN, RTR1,
                                                      bfdProfile="bfd"))
    speaker = bgplab.Speaker(node, mdir)
    frr.start()
    bird.start()
    speaker.start()
    tag = f"{interval}x{mult}"
    out(f"{tag}_bound_ms", interval * mult)

    def both_up():
        return (frr.bfd_session(NODE) and frr.bfd_session(NODE).state == "up"
                and frr.bfd_session(BIRDNODE) and frr.bfd_session(BIRDNODE).state == "up"
                and (bfd_status(speaker).get("router") or {}).get("state") == "Up")
    ironlb_ms, bird_ms, own_ms = [], [], []
    for run in range(a.runs):
        poll(both_up, 30, interval=0.05, what="all BFD sessions Up")
        speaker.wait_established(["router"], 30)
        seen = len(frr.bfd_state_changes())
        t_node = time.time()
        node.run(["ip", "link", "set", "eth0", "down"])
        t_bird = time.time()
        bnode.run(["ip", "link", "set", "eth0", "down"])

        def downs():
            ch = frr.bfd_state_changes()[seen:]
            got = {p: t for t, p, _, f, to in ch if f == "up" and to == "down"}
            return got if NODE in got and BIRDNODE in got else None
        # ironlb's own view: the router went silent for it too (taken
        # at the end of the /status poll that first shows it)
        while True:
            s = bfd_status(speaker).get("router") or {}
            if s.get("state") != "Up":
                own_ms.append((time.time() - t_node) * 1000)
                break
            if time.time() - t_node > 10:
                raise TimeoutError(f"ironlb did not see the router go: {s}")
            time.sleep(0.005)
        got = poll(downs, 10 + 2 * interval * mult / 1000, interval=0.05,
                   what="FRR logs both sessions down")
        ironlb_ms.append((got[NODE] - t_node) * 1000)
        bird_ms.append((got[BIRDNODE] - t_bird) * 1000)
        node.run(["ip", "link", "set", "eth0", "up"])
        bnode.run(["ip", "link", "set", "eth0", "up"])
    stats(f"{tag}_frr_detects_ironlb", ironlb_ms)
    stats(f"{tag}_frr_detects_bird", bird_ms)
    over = [v for v in ironlb_ms if v > interval * mult * 1.1]
    out(f"{tag}_frr_detects_ironlb_over_bound_plus_10pct", len(over))
    over = [v for v in bird_ms if v > interval * mult * 1.1]
    out(f"{tag}_frr_detects_bird_over_bound_plus_10pct", len(over))
    stats(f"{tag}_ironlb_detects_frr", own_ms)


def phase_b(L, a):
    node, rtr = L.host("node"), L.host("router")
    n = a.sessions
    rtr_addrs = [f"192.168.1.{101 + i}" for i in range(n)] if n <= 150 else None
    if rtr_addrs is None:
        raise SystemExit("--sessions: at most 150")
    bgplab.veth(node, "eth0", rtr, "eth0", [f"{NODE}/24"], [f"{RTR1}/24"])
    for ad in rtr_addrs:
        bgplab.add_addr(rtr, "eth0", f"{ad}/24")
    prof = bgplab.BfdProfile(50, 50, 3)
    frr = bgplab.Frr(rtr, PEER_ASN, RTR1, [])
    # multihop sessions: bfdd keys single-hop sessions by peer and
    # interface only, so it holds one per peer address on a link
    frr.bfd_peers = [(NODE, ad, None, prof) for ad in rtr_addrs]
    mdir = L.workdir / "manifests-cpu"
    mdir.mkdir()
    write(mdir, "node.yaml", labmod.node_manifest("node"))
    write(mdir, "bfd.yaml", bgplab.bfdprofile_manifest(
        "fast", receiveInterval=50, transmitInterval=50, detectMultiplier=3))
    write(mdir, "peers.yaml", "---\n".join(
        bgplab.bgppeer_manifest(f"r{i:03d}", MY_ASN, PEER_ASN, ad, bfdProfile="fast",
                                ebgpMultiHop=True)
        for i, ad in enumerate(rtr_addrs)))
    speaker = bgplab.Speaker(node, mdir)
    frr.start()
    speaker.start()

    def all_up():
        st = bfd_status(speaker)
        up = sum(1 for s in st.values() if s.get("state") == "Up")
        rup = sum(1 for j in frr.bfd_peers_json() if j.get("status") == "up")
        return up == n and rup == n
    t0 = time.monotonic()
    try:
        poll(all_up, 60, interval=0.2, what=f"{n} BFD sessions Up on both sides")
    except labmod.PollTimeout:
        st = bfd_status(speaker)
        out("cpu_ironlb_states", sorted((k, v.get("state"), v.get("dropped")) for k, v in st.items()))
        out("cpu_frr_states", [(j.get("local"), j.get("status")) for j in frr.bfd_peers_json()])
        raise
    out("cpu_sessions", n)
    out("cpu_all_up_s", f"{time.monotonic() - t0:.1f}")
    pid_i, pid_f = speaker.proc.pid, frr.bfdd.pid
    c_i, c_f, t = cpu_ms(pid_i), cpu_ms(pid_f), time.monotonic()
    end = t + a.cpu_seconds
    while time.monotonic() < end:
        time.sleep(0.5)
    el = (time.monotonic() - t) * 1000
    d_i, d_f = cpu_ms(pid_i) - c_i, cpu_ms(pid_f) - c_f
    out("cpu_ironlb_pct_of_one_core", f"{100 * d_i / el:.1f}")
    out("cpu_frr_bfdd_pct_of_one_core", f"{100 * d_f / el:.1f}")
    st = bfd_status(speaker)
    out("cpu_ironlb_sessions_up_at_end", sum(1 for s in st.values() if s.get("state") == "Up"))
    out("cpu_ironlb_down_events", sum(s.get("downEvents", 0) for s in st.values()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--profiles", default="300x3,50x3")
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--cpu-seconds", type=float, default=20.0)
    ap.add_argument("--phases", default="AB")
    ap.add_argument("--bin", default=os.environ.get("IRONLB_BIN") or str(ROOT / "build" / "ironlb"))
    a = ap.parse_args()
    os.environ["IRONLB_BIN"] = a.bin
    out("ironlb", a.bin)
    out("bird", bgplab._run(["bird", "--version"], check=False).stderr.strip())
    if "A" in a.phases:
        for p in a.profiles.split(","):
            interval, mult = (int(x) for x in p.split("x"))
            with labmod.Lab(workdir=tempfile.mkdtemp(prefix="ilb-bench-bfd-")) as L:
                phase_a(L, a, interval, mult)
    if "B" in a.phases:
        with labmod.Lab(workdir=tempfile.mkdtemp(prefix="ilb-bench-bfd-")) as L:
            phase_b(L, a)


if __name__ == "__main__":
    main()
