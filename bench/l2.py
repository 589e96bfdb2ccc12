#!/usr/bin/env python3
"""Layer 2 benchmarks of `ironlb run` (not tests): each one builds its own
lab of network namespaces (tests/e2e/lab.py), measures, tears it down, and
prints `key: value` lines.

  announce   time from writing a new Service file to the first gratuitous
             ARP and the first unsolicited NA seen by the client (its kernel
             receive timestamps), repeated; then the same for a failover
             (the owner's Node manifest gets the exclude label)
  rss        VmHWM and VmRSS of `ironlb run` owning --services dual-stack
             Services (default 10,000: 20,000 addresses), once they are all
             announced (the poll reads /status, whose JSON counts in VmHWM);
             with --compare OLD_BIN, the same for OLD_BIN first, in the
             same run (keys prefixed old_)
  arp-rate   ARP replies per second from ironlb for a service address and
             from the kernel for an address of the interface: the client
             sends requests as fast as it can from a raw socket and counts
             the replies arriving in a fixed window; same method for both

Usage: sudo python3 bench/l2.py [announce|rss|arp-rate|all] [--bin PATH]
[--services N] [--compare OLD_BIN]
(default all, binary $IRONLB_BIN or build/ironlb)."""
import argparse
import os
import pathlib
import select
import socket
import statistics
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import lab as labmod  # noqa: E402
from lab import poll  # noqa: E402

EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
POOLS = (labmod.pool_manifest("ipv4-pool", ["192.168.100.0/24"]) + "---\n" +
         labmod.pool_manifest("ipv6-pool", ["2001:db8:1::/64"]) + "---\n" +
         labmod.l2adv_manifest("all"))


def out(key, value):
    print(f"{key}: {value}", flush=True)


def stats(prefix, values_ms):
    out(f"{prefix}_min_ms", f"{min(values_ms):.2f}")
    out(f"{prefix}_median_ms", f"{statistics.median(values_ms):.2f}")
    out(f"{prefix}_max_ms", f"{max(values_ms):.2f}")


def first_garp(sn, ip, t0, timeout=5):
    def seen():
        g = [f for f in labmod.garps(sn.snapshot(), ip) if f.ts >= t0]
        return g[0] if g else None
    return poll(seen, timeout, interval=0.005, what=f"announcement of {ip}")


# ---------------------------------------------------------------------------


def bench_announce(rounds):
    with labmod.Lab() as L:
        sw, clients, nodes = labmod.l2_lab(L, ("node-a", "node-b"))
        c = clients["client"]
        mdir = L.workdir / "manifests"
        mdir.mkdir()
        (mdir / "pools.yaml").write_text(POOLS)
        for n in nodes:
            (mdir / f"node-{n}.yaml").write_text(labmod.node_manifest(n))
        sps = {n: labmod.Ironlb(h, mdir, install_vips=False).start() for n, h in nodes.items()}
        poll(lambda: all(s.status()["config"]["loaded"] for s in sps.values()), 10,
             what="config loaded")
        new4, new6 = [], []
        with labmod.Sniffer(c) as sn:
            for i in range(rounds):
                v4, v6 = f"192.168.100.{100 + i}", f"2001:db8:1::{100 + i:x}"
                t0 = time.time()
                labmod.write_atomic(mdir / f"svc-{i}.yaml",
                                    labmod.service_manifest(f"svc-{i}", ips=f"{v4},{v6}"))
                g4 = first_garp(sn, v4, t0)
                g6 = first_garp(sn, v6, t0)
                new4.append((g4.ts - t0) * 1000)
                new6.append((g6.ts - t0) * 1000)

            # failover: exclude the owner of svc-0, then let it back (failback)
            v4, v6 = "192.168.100.100", "2001:db8:1::64"
            fo4, fo6 = [], []
            for i in range(rounds):
                st = sps["node-a"].status()
                owner = labmod.service(st, "svc-0")["owner"]
                other = next(n for n in nodes if n != owner)
                t0 = time.time()
                labmod.write_atomic(mdir / f"node-{owner}.yaml",
                                    labmod.node_manifest(owner, {EXCLUDE: ""}))
                mac = nodes[other].mac()
                g4 = poll(lambda: [f for f in labmod.garps(sn.snapshot(), v4)
                                   if f.ts >= t0 and f.sha == mac], 5, 0.005, "failover GARP")
                g6 = poll(lambda: [f for f in labmod.garps(sn.snapshot(), v6)
                                   if f.ts >= t0 and f.lla == mac], 5, 0.005, "failover NA")
                fo4.append((g4[0].ts - t0) * 1000)
                fo6.append((g6[0].ts - t0) * 1000)
                # back to both eligible; wait until the nodes agree again
                labmod.write_atomic(mdir / f"node-{owner}.yaml", labmod.node_manifest(owner))
                poll(lambda: all(labmod.service(s.status(), "svc-0")["owner"] == owner
                                 for s in sps.values()), 5, what="failback")
        out("announce_rounds", rounds)
        stats("new_service_to_gratuitous_arp", new4)
        stats("new_service_to_unsolicited_na", new6)
        stats("failover_to_gratuitous_arp", fo4)
        stats("failover_to_unsolicited_na", fo6)


# ---------------------------------------------------------------------------


def proc_status(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                vals[k] = int(v.split()[0])
    return vals


def bench_rss(nsvc, prefix=""):
    with labmod.Lab() as L:
        sw, clients, nodes = labmod.l2_lab(L, ("node-a",))
        node = nodes["node-a"]
        mdir = L.workdir / "manifests"
        mdir.mkdir()
        (mdir / "node.yaml").write_text(labmod.node_manifest("node-a"))
        (mdir / "pools.yaml").write_text(
            labmod.pool_manifest("ipv4-pool", ["10.100.0.0/16"]) + "---\n" +
            labmod.pool_manifest("ipv6-pool", ["2001:db8:1::/64"]) + "---\n" +
            labmod.l2adv_manifest("all"))
        sp = labmod.Ironlb(node, mdir, install_vips=False).start()
        poll(lambda: sp.status()["config"]["loaded"], 10, what="config loaded")
        empty = proc_status(sp.proc.pid)

        text = "---\n".join(labmod.service_manifest(f"svc-{i:04d}") for i in range(nsvc))
        t0 = time.monotonic()
        labmod.write_atomic(mdir / "services.yaml", text)

        def all_announced():
            st = sp.status()
            n = len(labmod.engine_addresses(st))
            return st if n == 2 * nsvc else None

        st = poll(all_announced, 60, interval=0.1, what=f"{2 * nsvc} addresses announced")
        took = time.monotonic() - t0
        full = proc_status(sp.proc.pid)
        assert sum(1 for s in st["services"] if len(s["ingress"]) == 2) == nsvc
        out(prefix + "services", nsvc)
        out(prefix + "addresses_announced", 2 * nsvc)
        out(prefix + "write_to_all_announced_ms", f"{took * 1000:.0f}")
        out(prefix + "vmrss_kib_empty_config", empty["VmRSS"])
        out(prefix + "vmhwm_kib", full["VmHWM"])
        out(prefix + "vmrss_kib", full["VmRSS"])
        rc = sp.stop(timeout=10)
        out(prefix + "exit_code_after_sigterm", rc)


# ---------------------------------------------------------------------------


def measure_arp_rate(client, target_ip, window, max_requests):
    """Send ARP requests for target_ip from the client's eth0 as fast as
    possible for `window` seconds (at most max_requests); count the replies
    received from t0 to t0 + window.  Returns (sent, replies)."""
    ifc = client.ifaces["eth0"]
    frame = labmod.arp_request(client.mac(), ifc.v4, target_ip)
    want_spa = socket.inet_aton(target_ip)
    want_tpa = socket.inet_aton(ifc.v4)
    with labmod.netns(client.ns):
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    tx.bind(("eth0", 0))
    rx.bind(("eth0", 0x0806))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    count = [0]
    start = time.monotonic()
    end = start + window
    stop = threading.Event()

    def receive():
        while not stop.is_set():
            now = time.monotonic()
            if now >= end:
                return
            if not select.select([rx], [], [], min(0.05, end - now))[0]:
                continue
            while True:
                try:
                    d = rx.recv(128, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if time.monotonic() > end:
                    return
                if (len(d) >= 42 and d[20:22] == b"\x00\x02" and d[28:32] == want_spa
                        and d[38:42] == want_tpa):
                    count[0] += 1

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    sent = 0
    send = tx.send
    while sent < max_requests:
        try:
            send(frame)
        except (BlockingIOError, OSError):
            pass
        sent += 1
        if (sent & 255) == 0 and time.monotonic() >= end:
            break
    t.join(window + 5)
    stop.set()
    tx.close()
    rx.close()
    return sent, count[0]


def bench_arp_rate(window, max_requests, repeats):
    with labmod.Lab() as L:
        sw, clients, nodes = labmod.l2_lab(L, ("node-a",))
        c, node = clients["client"], nodes["node-a"]
        mdir = L.workdir / "manifests"
        mdir.mkdir()
        (mdir / "node.yaml").write_text(labmod.node_manifest("node-a"))
        (mdir / "pools.yaml").write_text(POOLS)
        (mdir / "svc.yaml").write_text(labmod.service_manifest("web", families=("IPv4",)))
        sp = labmod.Ironlb(node, mdir, install_vips=False).start()

        def owned():
            s = labmod.service(sp.status(), "web")
            return s["ingress"][0] if s and s["ingress"] else None

        vip = poll(owned, 10, what="web announced")
        poll(lambda: c.arping(vip, count=1), 5, what="ironlb answers")
        kernel_ip = node.ifaces["eth0"].v4
        runs = {"ironlb": [], "kernel": []}
        for _ in range(repeats):  # alternate, so both see the same machine load
            for name, ip in (("ironlb", vip), ("kernel", kernel_ip)):
                c.neigh_flush()
                runs[name].append(measure_arp_rate(c, ip, window, max_requests))
        out("window_s", window)
        out("repeats", repeats)
        med = {}
        for name, ip in (("ironlb", vip), ("kernel", kernel_ip)):
            sent = [r[0] for r in runs[name]]
            replies = [r[1] for r in runs[name]]
            med[name] = statistics.median(replies) / window
            out(f"{name}_target", ip)
            out(f"{name}_requests_per_s_median", f"{statistics.median(sent) / window:.0f}")
            out(f"{name}_replies_per_s_median", f"{med[name]:.0f}")
            out(f"{name}_replies_per_s_runs", " ".join(f"{x / window:.0f}" for x in replies))
            out(f"{name}_reply_fraction_median",
                f"{statistics.median(r / s_ for s_, r in runs[name] if s_):.2f}")
        st = labmod.engine_addresses(sp.status()).get(vip, {})
        out("ironlb_requests_counted_total", st.get("requests"))
        out("ironlb_responses_counted_total", st.get("responses"))
        if med["kernel"]:
            out("ironlb_vs_kernel_reply_rate", f"{med['ironlb'] / med['kernel']:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", default="all", choices=["announce", "rss", "arp-rate",
                                                               "all"])
    ap.add_argument("--bin", default=os.environ.get("IRONLB_BIN") or str(ROOT / "build" / "ironlb"))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--compare", metavar="OLD_BIN", help="rss: measure OLD_BIN too, first")
    ap.add_argument("--window", type=float, default=2.0)
    ap.add_argument("--max-requests", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3, help="arp-rate runs per responder")
    a = ap.parse_args()
    if not labmod.is_root():
        sys.exit("bench/l2.py: needs root (network namespaces)")
    os.environ["IRONLB_BIN"] = os.path.abspath(a.bin)
    out("ironlb", a.bin)
    out("cpus", os.cpu_count())
    if a.what in ("announce", "all"):
        bench_announce(a.rounds)
    if a.what in ("rss", "all"):
        if a.compare:
            os.environ["IRONLB_BIN"] = os.path.abspath(a.compare)
            out("old_ironlb", a.compare)
            bench_rss(a.services, "old_")
            os.environ["IRONLB_BIN"] = os.path.abspath(a.bin)
        bench_rss(a.services)
    if a.what in ("arp-rate", "all"):
        bench_arp_rate(a.window, a.max_requests, a.repeats)


if __name__ == "__main__":
    main()
