#!/usr/bin/env python3
"""BGP benchmarks of `ironlb run` (not tests): one lab of network
namespaces (tests/e2e/lab.py, routers from tests/e2e/bgplab.py), measured
in phases, torn down at the end; prints `key: value` lines.

    router (GoBGP, or BIRD with --router bird)  192.168.1.1   2001:db8:ff::1
    rtr2   (BIRD, the 3rd and 4th sessions)     192.168.1.2   2001:db8:ff::2
    node   (ironlb run)                         192.168.1.10  2001:db8:ff::a
    birdsrc (BIRD announcing static routes)     192.168.1.20  2001:db8:ff::14
    all on one bridge; the routers are passive (the speakers dial out)

  A  latency, small config: ironlb with two sessions to the router and a
     few Services; a new Service file is renamed into the manifests
     directory and the time to the first UPDATE carrying its prefix is
     taken on the router's interface (kernel receive timestamps, AF_PACKET);
     IPv4 and IPv6 apart; --rounds times; min / median / max
  B  reference: BIRD announces the same 10,000 IPv4 /32s and 10,000 IPv6
     /128s (static routes, the same community) to the same router over an
     IPv4 and an IPv6 session: per family, time from its first UPDATE on
     the wire until the router holds all 10,000 of them, and the time on
     the wire; from starting BIRD until the router holds all 20,000; then
     BIRD stops and the router is back to empty; --bird-runs times
     (--services 10000); at that point BIRD's VmRSS, VmHWM and CPU time
     (user + system since it started)
  C  ironlb with 10,000 dual-stack Services (20,000 prefixes), the same
     router, the same two sessions: the same times, the slower family's
     against BIRD's median, and ironlb's start until its configuration is
     applied (reading and allocating 10,000 Services); once the router
     holds them all, ironlb's VmRSS, VmHWM and CPU time, as BIRD's in B,
     and from ironlb's log the CPU time of the BGP work alone: planning
     every route, and building the initial UPDATEs of both sessions
  D  latency again, with those 20,000 prefixes announced
  E  two more sessions (BGPPeers for rtr2 added to the directory); once
     rtr2 holds all 20,000 too: VmHWM and VmRSS of ironlb with 4 sessions

Usage: sudo python3 bench/bgp.py [--router gobgp|bird] [--services 10000]
[--rounds 10] [--bin PATH] (binary: $IRONLB_BIN or build/ironlb)."""
import argparse
import ipaddress
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import bgplab  # noqa: E402
import lab as labmod  # noqa: E402
from lab import poll  # noqa: E402

MY_ASN, R1_ASN, R2_ASN = 64500, 64501, 64502
POOL4, POOL6 = "198.18.0.0/16", "2001:db8:1::/64"
NET4, NET6 = ipaddress.ip_network("192.168.1.0/24"), ipaddress.ip_network("2001:db8:ff::/64")


def out(key, value):
    print(f"{key}: {value}", flush=True)


def stats(prefix, values_ms):
    out(f"{prefix}_min_ms", f"{min(values_ms):.2f}")
    out(f"{prefix}_median_ms", f"{statistics.median(values_ms):.2f}")
    out(f"{prefix}_max_ms", f"{max(values_ms):.2f}")


def addr(num, fam):
    return str((NET4 if fam == 4 else NET6).network_address + num)


def expected_addresses(n):
    """Deterministic allocation (lowest free address first) gives the first
    n addresses of each pool; checked against ironlb's /status in C."""
    a4 = ipaddress.ip_network(POOL4).network_address
    a6 = ipaddress.ip_network(POOL6).network_address
    return [str(a4 + i) for i in range(n)], [str(a6 + i) for i in range(n)]


def base_manifests(mdir, peers):
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "node.yaml").write_text(labmod.node_manifest("node"))
    (mdir / "pools.yaml").write_text(labmod.pool_manifest("bench-ipv4", [POOL4]) + "---\n" +
                                     labmod.pool_manifest("bench-ipv6", [POOL6]))
    (mdir / "adv.yaml").write_text(bgplab.bgpadv_manifest("bench", communities=["64500:100"]))
    (mdir / "peers.yaml").write_text("---\n".join(peers))


def r1_peers():
    return [bgplab.bgppeer_manifest("r1-v4", MY_ASN, R1_ASN, addr(1, 4)),
            bgplab.bgppeer_manifest("r1-v6", MY_ASN, R1_ASN, addr(1, 6))]


def r2_peers():
    return [bgplab.bgppeer_manifest("r2-v4", MY_ASN, R2_ASN, addr(2, 4)),
            bgplab.bgppeer_manifest("r2-v6", MY_ASN, R2_ASN, addr(2, 6))]


def services_text(n, prefix="svc"):
    return "---\n".join(labmod.service_manifest(f"{prefix}-{i:05d}") for i in range(n))


class Counts:
    """Routes the router received, per neighbour and family, read in one
    CLI call (GoBGP: `gobgp neighbor -j`; BIRD: `show protocols all`)."""

    def __init__(self, router):
        self.r = router

    def get(self, nbr):
        if isinstance(self.r, bgplab.Gobgp):
            j = self.r.gobgp_json("neighbor")
            res = {}
            for p in j or []:
                a = bgplab.norm_ip((p.get("conf") or {}).get("neighbor_address", "0.0.0.0"))
                if a not in nbr:
                    continue
                for af in p.get("afi_safis", []) or []:
                    fam = 4 if (af.get("config") or {}).get("family", {}).get("afi") == 1 else 6
                    if fam == bgplab.family(a):
                        res[a] = int((af.get("state") or {}).get("received", 0) or 0)
            return res
        return {a: self.r.count(a, bgplab.family(a)) for a in nbr}


def proc_usage(pid):
    """VmRSS and VmHWM (KiB) and CPU time (user + system, ms) of a process."""
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                vals[k] = int(v.split()[0])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15)
    vals["cpu_ms"] = ticks * 1000 // os.sysconf("SC_CLK_TCK")
    return vals


def out_usage(prefix, pid):
    u = proc_usage(pid)
    out(f"{prefix}_vmrss_kib", u["VmRSS"])
    out(f"{prefix}_vmhwm_kib", u["VmHWM"])
    out(f"{prefix}_cpu_ms", u["cpu_ms"])


def wait_counts(counts, want, timeout, interval=0.02):
    """Poll until every neighbour in `want` {addr: n} has exactly n routes
    at the router.  Returns {addr: wall-clock time it was first seen
    there}."""
    last, reached = {}, {}

    def ok():
        nonlocal last
        last = counts.get(list(want))
        now = time.time()
        for a, n in want.items():
            if last.get(a) == n:
                reached.setdefault(a, now)
        return len(reached) == len(want)
    try:
        poll(ok, timeout, interval=interval, what=f"router holds {want}")
    except labmod.PollTimeout as e:
        raise SystemExit(f"bench/bgp.py: {e}; last counts {last}")
    return reached


def transfer(prefix, sn, reached, t0):
    """Print, for one speaker, per session (family): first UPDATE on the
    wire to the router holding all of that family, and the first-to-last
    UPDATE time on the wire; and from the speaker's start to all held.
    Returns the slower family's first-UPDATE-to-all time in ms."""
    worst = 0.0
    for src, t_all in reached.items():
        ups = updates_from(sn, src)
        fam = bgplab.family(src)
        t_first, t_last = min(e[0] for e in ups), max(e[0] for e in ups)
        ms = (t_all - t_first) * 1000
        worst = max(worst, ms)
        out(f"{prefix}_ipv{fam}_first_update_to_router_holds_all_ms", f"{ms:.0f}")
        out(f"{prefix}_ipv{fam}_first_to_last_update_on_wire_ms",
            f"{(t_last - t_first) * 1000:.0f}")
    out(f"{prefix}_start_to_router_holds_all_ms", f"{(max(reached.values()) - t0) * 1000:.0f}")
    return worst


def updates_from(sn, src, t0=0.0):
    return [e for e in sn.snapshot() if e[1] == src and e[0] >= t0
            and any(t == bgplab.MSG_UPDATE for t, _ in e[3])]


def encoded(prefix):
    """The NLRI bytes of a prefix (length, then the significant octets)."""
    p = ipaddress.ip_network(prefix)
    n = (p.prefixlen + 7) // 8
    return bytes([p.prefixlen]) + p.network_address.packed[:n]


def first_update_with(sn, src, prefix, t0, timeout=5):
    needle = encoded(prefix)

    def seen():
        for ts, s, _, msgs in sn.snapshot():
            if s == src and ts >= t0 and any(t == bgplab.MSG_UPDATE and needle in m
                                             for t, m in msgs):
                return ts
        return None
    return poll(seen, timeout, interval=0.002, what=f"UPDATE with {prefix} from {src}")


def log_time(log, needle):
    """Wall-clock time of the first logfmt line of ironlb's log holding
    needle (its ts= field, UTC), or None."""
    for line in log.splitlines():
        if needle in line:
            ts = next((f[3:] for f in line.split() if f.startswith("ts=")), None)
            if ts:
                return bgplab._parse_gobgp_time(ts)
    return None


def log_cpu_ms(log, needle, want=""):
    """Sum of the cpu_ms= fields of ironlb's log lines holding needle (and
    want), or None when there is none (a binary that does not log it)."""
    vals = [float(f[7:]) for line in log.splitlines() if needle in line and want in line
            for f in line.split() if f.startswith("cpu_ms=")]
    return sum(vals) if vals else None


def rename_in(mdir, name, text):
    """Write a file beside the directory, then rename it in: the change
    ironlb sees is the rename; returns the wall-clock time just before."""
    tmp = mdir.parent / f".{name}.tmp"
    tmp.write_text(text)
    t0 = time.time()
    os.replace(tmp, mdir / name)
    return t0


def latency_rounds(speaker, mdir, sn, rounds, tag, base):
    """Add Service lat-<tag>-<i> (fixed addresses) each round: ms from the
    rename to the first UPDATE carrying its IPv4 / IPv6 prefix."""
    d4, d6 = [], []
    node4, node6 = addr(10, 4), addr(10, 6)
    for i in range(rounds):
        v4 = str(ipaddress.ip_address("198.18.250.0") + base + i)
        v6 = str(ipaddress.ip_address("2001:db8:1::ff:0") + base + i)
        t0 = rename_in(mdir, f"lat-{tag}-{i}.yaml",
                       labmod.service_manifest(f"lat-{tag}-{i}", ips=f"{v4},{v6}"))
        t4 = first_update_with(sn, node4, f"{v4}/32", t0)
        t6 = first_update_with(sn, node6, f"{v6}/128", t0)
        d4.append((t4 - t0) * 1000)
        d6.append((t6 - t0) * 1000)
        time.sleep(0.05)   # let the router take it; not part of a measure
    stats(f"{tag}_manifest_change_to_update_ipv4", d4)
    stats(f"{tag}_manifest_change_to_update_ipv6", d6)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--router", choices=["gobgp", "bird"], default="gobgp")
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--bin", default=os.environ.get("IRONLB_BIN") or str(ROOT / "build" / "ironlb"))
    ap.add_argument("--timeout", type=float, default=180.0, help="per phase wait")
    ap.add_argument("--bird-runs", type=int, default=3, help="runs of the BIRD reference (B)")
    ap.add_argument("--phases", default="ABCDE",
                    help="which phases to run (C needs B's figure for the ratio; D and E need C)")
    a = ap.parse_args()
    if not labmod.is_root():
        sys.exit("bench/bgp.py: needs root (network namespaces)")
    missing = bgplab.missing_routers()
    if missing:
        sys.exit(f"bench/bgp.py: routers missing: {missing} (scripts/install-deps)")
    os.environ["IRONLB_BIN"] = os.path.abspath(a.bin)
    n = a.services
    out("ironlb", a.bin)
    out("cpus", os.cpu_count())
    out("router", a.router)
    out("prefixes", f"{n} IPv4 + {n} IPv6")
    t_begin = time.monotonic()

    with labmod.Lab() as L:
        sw = L.switch("sw", str(NET4), str(NET6))
        hosts = {}
        for name, num in (("router", 1), ("rtr2", 2), ("node", 10), ("birdsrc", 20)):
            hosts[name] = L.host(name)
            hosts[name].connect(sw, "eth0", hostnum=num)
        node4, node6 = addr(10, 4), addr(10, 6)
        src4, src6 = addr(20, 4), addr(20, 6)
        # The routers only accept (passive): both speakers dial out, so no
        # connection collision (RFC 4271 6.8) ever throws a transfer away
        # and restarts it, which would time the collision, not the speaker.
        router = bgplab.make_router(a.router, hosts["router"], R1_ASN, addr(1, 4), [
            bgplab.Neighbor(x, MY_ASN, passive=True) for x in (node4, node6, src4, src6)]).start()
        out("router_version", router.version())
        counts = Counts(router)

        with bgplab.BgpSniffer(hosts["router"], "eth0") as sn:
            # A: latency with a small configuration
            if "A" in a.phases:
                phase_a(a, L, hosts, counts, sn)
            bird_ms = phase_b(a, hosts, counts, sn) if "B" in a.phases else None
            if "C" in a.phases:
                phase_cde(a, L, hosts, counts, sn, bird_ms)
    out("bench_seconds", f"{time.monotonic() - t_begin:.0f}")


def phase_a(a, L, hosts, counts, sn):
    node4, node6 = addr(10, 4), addr(10, 6)
    mdir_a = L.workdir / "manifests-a"
    base_manifests(mdir_a, r1_peers())
    (mdir_a / "svc.yaml").write_text(services_text(3))
    sp = bgplab.Speaker(hosts["node"], mdir_a, state=L.workdir / "state-a.json").start()
    sp.wait_established(["r1-v4", "r1-v6"], 30)
    wait_counts(counts, {node4: 3, node6: 3}, 30)
    latency_rounds(sp, mdir_a, sn, a.rounds, "small", 0)
    sp.stop(timeout=10)
    wait_counts(counts, {node4: 0, node6: 0}, 30)


def phase_b(a, hosts, counts, sn):
    """BIRD announcing the same routes to the same router, --bird-runs
    times: BIRD 2.0.12 now and then holds its last UPDATE (a few hundred
    bytes) back for about 3 s after sending everything else in 0.1 s, so
    one run is not a fair figure.  Returns the minimum and the median over
    the runs of the slower family's first-UPDATE-to-all time in ms."""
    n = a.services
    src4, src6 = addr(20, 4), addr(20, 6)
    v4, v6 = expected_addresses(n)
    static = [bgplab.StaticRoute(f"{x}/32") for x in v4] + \
        [bgplab.StaticRoute(f"{x}/128") for x in v6]
    bird = bgplab.Bird(hosts["birdsrc"], MY_ASN, src4, [
        bgplab.Neighbor(addr(1, 4), R1_ASN, families=(4,)),
        bgplab.Neighbor(addr(1, 6), R1_ASN, families=(6,))], static=static,
        name="birdsrc", export_filter="bgp_community.add((64500,100));")
    out("bird_version", bird.version())
    runs = []
    for i in range(a.bird_runs):
        sn.clear()
        t0 = time.time()
        bird.start(timeout=60)
        reached = wait_counts(counts, {src4: n, src6: n}, a.timeout)
        runs.append(transfer(f"bird_run{i + 1}", sn, reached, t0))
        out_usage(f"bird_run{i + 1}", bird.proc.pid)
        bird.stop()
        wait_counts(counts, {src4: 0, src6: 0}, a.timeout)
    stats("bird_first_update_to_router_holds_all", runs)
    return min(runs), statistics.median(runs)


def phase_cde(a, L, hosts, counts, sn, bird_ms):
    n = a.services
    node4, node6 = addr(10, 4), addr(10, 6)
    v4, v6 = expected_addresses(n)
    # C: ironlb with the same prefixes
    mdir_c = L.workdir / "manifests-c"
    base_manifests(mdir_c, r1_peers())
    (mdir_c / "services.yaml").write_text(services_text(n))
    sn.clear()
    t0 = time.time()
    sp = bgplab.Speaker(hosts["node"], mdir_c, state=L.workdir / "state-c.json")
    sp.start(timeout=60)
    reached = wait_counts(counts, {node4: n, node6: n}, a.timeout)
    ironlb_ms = transfer("ironlb", sn, reached, t0)
    out_usage("ironlb_two_sessions", sp.proc.pid)
    out("ironlb_first_update_to_router_holds_all_ms", f"{ironlb_ms:.0f}")
    if bird_ms:
        out("ironlb_vs_bird_best_first_update_to_all", f"{ironlb_ms / bird_ms[0]:.2f}")
        out("ironlb_vs_bird_median_first_update_to_all", f"{ironlb_ms / bird_ms[1]:.2f}")
    applied = log_time(sp.log(), 'msg="configuration applied"')
    if applied:
        out("ironlb_start_to_configuration_applied_ms", f"{(applied - t0) * 1000:.0f}")
    # CPU of the BGP work alone, beside BIRD's whole process: planning
    # every route (the pass's planner reset) and building the UPDATEs of
    # the initial push (both sessions).
    plan_cpu = log_cpu_ms(sp.log(), 'msg="bgp planned"')
    push_cpu = log_cpu_ms(sp.log(), 'msg="bgp routes sent"', "initial=true")
    if plan_cpu is not None:
        out("ironlb_bgp_plan_cpu_ms", f"{plan_cpu:.1f}")
    if push_cpu is not None:
        out("ironlb_bgp_initial_push_cpu_ms", f"{push_cpu:.1f}")
    for name, s in sorted(sp.sessions().items()):
        out(f"ironlb_{name}_updates_sent", (s.get("counters") or {}).get("updates_sent"))
    ing = sp.ingress()
    got4 = sorted(x for ips in ing.values() for x in ips if ":" not in x)
    got6 = sorted(x for ips in ing.values() for x in ips if ":" in x)
    out("prefix_sets_match_bird",
        str(got4 == sorted(v4) and got6 == sorted(v6)).lower())

    # D: latency with 20,000 prefixes announced
    latency_rounds(sp, mdir_c, sn, a.rounds, "loaded", 1000)

    # E: 4 sessions
    rtr2 = bgplab.Bird(hosts["rtr2"], R2_ASN, addr(2, 4), [
        bgplab.Neighbor(node4, MY_ASN, families=(4,), passive=True),
        bgplab.Neighbor(node6, MY_ASN, families=(6,), passive=True)], name="rtr2").start()
    labmod.write_atomic(mdir_c / "peers.yaml", "---\n".join(r1_peers() + r2_peers()))
    total = n + a.rounds
    t0 = time.time()
    sp.wait_established(["r1-v4", "r1-v6", "r2-v4", "r2-v6"], 60)
    wait_counts(Counts(rtr2), {node4: total, node6: total}, a.timeout, interval=0.1)
    out("two_more_sessions_to_rtr2_holds_all_ms", f"{(time.time() - t0) * 1000:.0f}")
    vm = sp.vm()
    out("ironlb_sessions", 4)
    out("ironlb_prefixes_per_family", total)
    out("ironlb_vmhwm_kib", vm["VmHWM"])
    out("ironlb_vmrss_kib", vm["VmRSS"])
    rc = sp.stop(timeout=20)
    out("ironlb_exit_code_after_sigterm", rc)


if __name__ == "__main__":
    main()
