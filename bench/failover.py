#!/usr/bin/env python3
"""Failover benchmark (not a test): the time from a node's failure to the
new owner's first gratuitous ARP / unsolicited NA, and the client-visible
outage, for keepalived (VRRPv3) and for `ironlb run`, in the same lab
(tests/e2e/failover.py: three nodes and a client on one switch; each node
runs the system under test and an HTTP server that answers with its name).

Per system and failure kind, `--trials` times (default 20): find the node
that owns the virtual addresses, fail it, and measure from the client

  garp4 / na6   from the failure to the first gratuitous ARP (IPv4) or
                unsolicited NA (IPv6) for the address from another node,
                by the client's kernel receive timestamps
  outage4/6     the client-visible outage: a client loop GETs http://VIP/
                on a new connection every 10 ms (100 ms timeout); the gap
                from the last answer before the failure to the first
                answer from another node after it

then restore the node (restart / SIGCONT / link up) and wait until the
system is settled before the next trial.  Failure kinds: kill (SIGKILL of
every process of the owner node, daemon and HTTP server, all stopped
first so that none resigns gracefully), stop (SIGSTOP of them all; SIGCONT
to restore), link (the owner's switch port down, its eth0 without
carrier).

Systems:
  keepalived-1s, keepalived-0.1s   Debian's keepalived, VRRPv3, advert_int
                1 s / 0.1 s, one instance for a virtual IPv4 address and
                one for a virtual IPv6 address, priorities 150/100/50
                (node-a preempts back after each trial)
  ironlb, ironlb-fast
                three `ironlb run` on one manifest directory, Node
                manifests with status.addresses, --member-key, and
                --member-timing default / fast; it reports "not available"
                with the reason when the binary cannot do failover or no
                takeover is seen: no figure is made up

Prints `key: value` lines: <system>_<kind>_<metric>_{min,median,p95,max}_ms
and <system>_<kind>_trials.

Mode `stress` (`bench/failover.py stress --seconds 600`): the three
`ironlb run` nodes settle, then every node's namespace runs one busy loop
per CPU (niced 0, like the daemons) for --seconds while the bench reads
every node's /status once a second; it prints whether any member was ever
seen in another state than alive, how often the announcer changed, the
failure detector's counters over the run (suspicions raised, refuted,
deaths, late timers, failed probes), the highest local health seen, the
CPU busy share (from /proc/stat) and the packets sent per node and
second.  A run without false failover prints `..._deaths: 0`,
`..._not_alive_seen: 0` and `..._announcer_changes: 0`.

Usage:
  sudo python3 bench/failover.py [takeover]
      [--systems keepalived-1s,keepalived-0.1s,ironlb,ironlb-fast]
      [--kinds kill,stop,link] [--trials 20] [--bin PATH]
  sudo python3 bench/failover.py stress [--seconds 600] [--timing default]
      [--hogs N (busy loops per node; default: the CPU count)] [--bin PATH]
The lab is torn down on every exit, on exceptions and on Ctrl-C.
"""
import argparse
import math
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import failover as fo  # noqa: E402
import lab as labmod  # noqa: E402
from lab import poll, PollTimeout  # noqa: E402

VIP4, VIP6 = "192.168.100.10", "2001:db8:1::10"
KINDS = ("kill", "stop", "link")
METRICS = ("garp4", "na6", "outage4", "outage6")


def out(key, value):
    print(f"{key}: {value}", flush=True)


def p95(values):
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)]


def report(prefix, values):
    ms = [v * 1000 for v in values]
    out(f"{prefix}_min_ms", f"{min(ms):.0f}")
    out(f"{prefix}_median_ms", f"{statistics.median(ms):.0f}")
    out(f"{prefix}_p95_ms", f"{p95(ms):.0f}")
    out(f"{prefix}_max_ms", f"{max(ms):.0f}")


class NotAvailable(Exception):
    """The system under test cannot do what is measured; the message says
    why."""


# ---------------------------------------------------------------------------
# keepalived


KEEPALIVED_CONF = """global_defs {{
    router_id {name}
    vrrp_version 3
    script_user root
    enable_script_security
}}
vrrp_instance v4 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {prio}
    advert_int {advert}
    virtual_ipaddress {{
        {vip4}/32
    }}
}}
vrrp_instance v6 {{
    state BACKUP
    interface eth0
    virtual_router_id 52
    priority {prio}
    advert_int {advert}
    virtual_ipaddress {{
        {vip6}/128
    }}
}}
"""


class Keepalived:
    """keepalived on every node; node-a (priority 150) holds the addresses
    when all are up and takes them back after each trial (preemption), so
    each trial fails node-a and node-b (100) takes over."""

    PRIO = {"node-a": 150, "node-b": 100, "node-c": 50}

    def __init__(self, fl, advert):
        self.fl = fl
        self.advert = advert
        self.name = f"keepalived-{advert:g}s"
        if not shutil.which("keepalived"):
            raise NotAvailable("keepalived is not installed (scripts/install-deps)")

    def start_node(self, name):
        h = self.fl.host(name)
        d = self.fl.L.workdir / name
        d.mkdir(exist_ok=True)
        # A SIGKILLed keepalived leaves its pid files, and a new one
        # refuses to start while they exist ("daemon is already running").
        for f in ("keepalived.pid", "vrrp.pid"):
            (d / f).unlink(missing_ok=True)
        conf = d / "keepalived.conf"
        conf.write_text(KEEPALIVED_CONF.format(name=name, prio=self.PRIO[name],
                                               advert=self.advert, vip4=VIP4, vip6=VIP6))
        h.spawn(["keepalived", "--dont-fork", "--log-console", "--log-detail", "--vrrp",
                 "--use-file", conf, "--pid", d / "keepalived.pid",
                 "--vrrp_pid", d / "vrrp.pid"], name=f"{name}-keepalived")
        labmod.start_httpd(h)

    def start(self):
        for n in self.fl.nodes:
            self.start_node(n)

    def holds(self, name):
        out_ = self.fl.host(name).run(["ip", "-j", "addr", "show", "dev", "eth0"]).stdout
        return VIP4 in out_ and VIP6 in out_

    def settled(self):
        """node-a holds both addresses, nobody else does, and the client
        reaches node-a on both."""
        if not self.holds("node-a") or any(self.holds(n) for n in ("node-b", "node-c")):
            return False
        ns = self.fl.client.ns
        return all(fo.http_get(ns, ip, timeout=0.5) == "node-a" for ip in (VIP4, VIP6))

    def owner(self, timeout):
        poll(self.settled, timeout, interval=0.1, what="keepalived settled on node-a")
        return "node-a"

    def restore(self, name, kind):
        if kind == "kill":
            self.start_node(name)
        elif kind == "stop":
            self.fl.thaw(name)
        else:
            self.fl.link_up(name)


# ---------------------------------------------------------------------------
# ironlb


class Ironlb:
    """Three `ironlb run` on one manifest directory, with Node manifests
    carrying status.addresses and a shared --member-key.  The owner of the
    Service is read from each node's /status (the node whose Layer 2
    engine announces the address)."""

    def __init__(self, fl, binary, timing="default"):
        self.fl = fl
        self.bin = binary
        self.timing = timing
        self.name = "ironlb" if timing == "default" else f"ironlb-{timing}"
        self.sps = {}
        helptext = subprocess.run([binary, "run", "--help"], capture_output=True,
                                  text=True, timeout=10).stdout
        need = ("--member-key",) + (("--member-timing",) if timing != "default" else ())
        missing = [f for f in need if f not in helptext]
        if missing:
            raise NotAvailable(f"{binary} run has no {', '.join(missing)}: failover between "
                               "nodes is not wired into `ironlb run` in this build")
        os.environ["IRONLB_BIN"] = binary  # what lab.Ironlb starts
        self.mdir = fl.L.workdir / "manifests"
        self.mdir.mkdir()
        self.key = fl.L.workdir / "member.key"
        self.key.write_text("bench-failover-shared-key-0123456789\n")
        self.key.chmod(0o600)
        docs = [labmod.pool_manifest("pool4", [f"{VIP4}/32"]),
                labmod.pool_manifest("pool6", [f"{VIP6}/128"]),
                labmod.l2adv_manifest("all"),
                labmod.service_manifest("web", ips=f"{VIP4},{VIP6}")]
        for n, h in fl.nodes.items():
            ifc = h.ifaces["eth0"]
            docs.append(labmod.node_manifest(n) +
                        "status:\n  addresses:\n"
                        f"  - type: InternalIP\n    address: {ifc.v4}\n"
                        f"  - type: InternalIP\n    address: {ifc.v6}\n")
        (self.mdir / "all.yaml").write_text("---\n".join(docs))

    def start_node(self, name):
        h = self.fl.host(name)
        extra = ["--member-key", str(self.key)]
        if self.timing != "default":
            extra += ["--member-timing", self.timing]
        sp = labmod.Ironlb(h, self.mdir, extra=extra)
        sp.start()
        self.sps[name] = sp
        labmod.start_httpd(h)

    def start(self):
        for n in self.fl.nodes:
            self.start_node(n)

    def announcers(self):
        got = []
        for n, sp in self.sps.items():
            if not sp.proc or not sp.proc.alive():
                continue
            try:
                addrs = labmod.engine_addresses(sp.status())
            except Exception:  # noqa: BLE001 - a frozen or dead node
                continue
            if VIP4 in addrs and VIP6 in addrs:
                got.append(n)
        return got

    def owner(self, timeout):
        def one():
            a = self.announcers()
            if len(a) != 1:
                return None
            ns = self.fl.client.ns
            if all(fo.http_get(ns, ip, timeout=0.5) == a[0] for ip in (VIP4, VIP6)):
                return a[0]
            return None
        return poll(one, timeout, interval=0.1, what="exactly one ironlb announcer")

    def restore(self, name, kind):
        if kind == "kill":
            self.start_node(name)
        elif kind == "stop":
            self.fl.thaw(name)
            # The thawed node was the owner and, the election depending
            # on names only, takes its Services back.  Twice in 40 such
            # restores the client did not reach the one announcer within
            # 30 s (cause not found; not what is measured here, the
            # takeover is): once one node announces, forget the client's
            # neighbour entries so that the next trial starts settled.
            poll(lambda: len(self.announcers()) == 1, 30, interval=0.1,
                 what="one ironlb announcer after the thaw")
            self.fl.client.neigh_flush()
        else:
            self.fl.link_up(name)


# ---------------------------------------------------------------------------


def fail(fl, name, kind):
    if kind == "kill":
        return fl.kill(name)
    if kind == "stop":
        return fl.freeze(name)
    return fl.link_down(name)


def run_system(make, kinds, trials, settle):
    """Run every kind on one system in a lab of its own; prints figures or
    `<system>: not available (<reason>)`."""
    with labmod.Lab() as L:
        fl = fo.FailoverLab(L)
        try:
            run_trials(fl, make, kinds, trials, settle)
        finally:
            fl.thaw_all()


def run_trials(fl, make, kinds, trials, settle):
    try:
        sysut = make(fl)
    except NotAvailable as e:
        out(getattr(make, "label", "system"), f"not available ({e})")
        return
    try:
        sysut.start()
    except (PollTimeout, RuntimeError) as e:
        out(sysut.name, f"not available (did not start: {str(e)[:500]})")
        return
    c = fl.client
    with labmod.Sniffer(c) as sn, fo.HttpLoop(c, VIP4) as h4, fo.HttpLoop(c, VIP6) as h6:
        for kind in kinds:
            vals = {m: [] for m in METRICS}
            for i in range(trials):
                try:
                    owner = sysut.owner(settle)
                except PollTimeout as e:
                    out(f"{sysut.name}_{kind}", f"not available (no settled owner "
                        f"before trial {i + 1}: {e})")
                    break
                mac = fl.host(owner).mac()
                sn.clear()
                now = time.time()
                h4.trim(now - 5)
                h6.trim(now - 5)
                t0 = fail(fl, owner, kind)
                try:
                    g4, m4 = fo.first_gratuitous(sn, VIP4, t0, not_mac=mac)
                    n6, m6 = fo.first_gratuitous(sn, VIP6, t0, not_mac=mac)
                    o4 = poll(lambda: h4.outage(t0, not_body=owner), 15, what="IPv4 back")
                    o6 = poll(lambda: h6.outage(t0, not_body=owner), 15, what="IPv6 back")
                except PollTimeout as e:
                    out(f"{sysut.name}_{kind}",
                        f"not available (trial {i + 1}: no takeover seen: {e})")
                    sysut.restore(owner, kind)
                    break
                vals["garp4"].append(g4)
                vals["na6"].append(n6)
                vals["outage4"].append(o4[0])
                vals["outage6"].append(o6[0])
                print(f"# {sysut.name} {kind} {i + 1}: owner {owner} -> {o4[1]}/{o6[1]} "
                      f"garp4 {g4 * 1000:.0f} ms na6 {n6 * 1000:.0f} ms outage4 "
                      f"{o4[0] * 1000:.0f} ms outage6 {o6[0] * 1000:.0f} ms", flush=True)
                sysut.restore(owner, kind)
            n = len(vals["garp4"])
            if n == 0:
                continue
            out(f"{sysut.name}_{kind}_trials", n)
            for m in METRICS:
                report(f"{sysut.name}_{kind}_{m}", vals[m])


# ---------------------------------------------------------------------------
# stress: no false failover while every CPU is busy


def cpu_times():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def counters(sp):
    return dict(sp.status()["members"]["counters"])


def run_stress(binary, seconds, timing, hogs, settle):
    prefix = "stress" if timing == "default" else f"stress_{timing}"
    with labmod.Lab() as L:
        fl = fo.FailoverLab(L)
        try:
            try:
                sysut = Ironlb(fl, binary, timing)
                sysut.start()
                owner = sysut.owner(settle)
            except (NotAvailable, PollTimeout, RuntimeError) as e:
                out(prefix, f"not available ({str(e)[:500]})")
                return
            nodes = list(sysut.sps)
            before = {n: counters(sysut.sps[n]) for n in nodes}
            busy0, total0 = cpu_times()
            t0 = time.monotonic()
            for n in nodes:
                fl.hogs(n, hogs, seconds)
            not_alive, changes, max_health, samples, failed_reads = 0, 0, 0, 0, 0
            last_owner = owner
            seen = []
            while time.monotonic() - t0 < seconds:
                time.sleep(1.0)
                samples += 1
                holders = []
                for n in nodes:
                    try:
                        st = sysut.sps[n].status()
                    except Exception:  # noqa: BLE001 - a starved status read
                        failed_reads += 1
                        continue
                    m = st["members"]
                    max_health = max(max_health, m["local_health"])
                    for e in m["members"]:
                        if e["state"] != "alive":
                            not_alive += 1
                            seen.append(f"{n} holds {e['name']} {e['state']}")
                    addrs = labmod.engine_addresses(st)
                    if VIP4 in addrs:
                        holders.append(n)
                if len(holders) == 1 and holders[0] != last_owner:
                    changes += 1
                    last_owner = holders[0]
                elif len(holders) > 1:
                    changes += 1
            elapsed = time.monotonic() - t0
            busy1, total1 = cpu_times()
            after = {n: counters(sysut.sps[n]) for n in nodes}
        finally:
            fl.thaw_all()
    out(f"{prefix}_seconds", f"{elapsed:.0f}")
    out(f"{prefix}_timing", timing)
    out(f"{prefix}_hogs_per_node", hogs)
    out(f"{prefix}_cpus", os.cpu_count())
    out(f"{prefix}_cpu_busy_pct", f"{100.0 * (busy1 - busy0) / max(1, total1 - total0):.1f}")
    out(f"{prefix}_status_samples", samples)
    out(f"{prefix}_status_reads_failed", failed_reads)
    out(f"{prefix}_not_alive_seen", not_alive)
    out(f"{prefix}_announcer_changes", changes)
    out(f"{prefix}_max_local_health", max_health)
    for k in ("deaths", "suspects", "refutes", "late_ticks", "probes", "probes_failed",
              "indirect_probes"):
        out(f"{prefix}_{k}", sum(after[n][k] - before[n][k] for n in nodes))
    rates = [(after[n]["packets_out"] - before[n]["packets_out"]) / elapsed for n in nodes]
    out(f"{prefix}_packets_out_per_node_per_s", " / ".join(f"{r:.1f}" for r in rates))
    for line in seen[:20]:
        print(f"# {line}", flush=True)


def main():
    modes = ("takeover", "stress")
    argv = sys.argv[1:]
    mode = argv.pop(0) if argv and argv[0] in modes else "takeover"
    ap = argparse.ArgumentParser(prog=f"failover.py {mode}",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=labmod.ironlb_bin())
    ap.add_argument("--settle", type=float, default=30.0,
                    help="seconds to wait for a settled owner (before each trial)")
    if mode == "stress":
        ap.add_argument("--seconds", type=float, default=600.0)
        ap.add_argument("--timing", default="default", choices=("default", "fast"))
        ap.add_argument("--hogs", type=int, default=os.cpu_count() or 1,
                        help="busy loops per node (default: the CPU count)")
        a = ap.parse_args(argv)
        run_stress(a.bin, a.seconds, a.timing, a.hogs, a.settle)
        return
    ap.add_argument("--systems", default="keepalived-1s,keepalived-0.1s,ironlb,ironlb-fast")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--trials", type=int, default=20)
    a = ap.parse_args(argv)
    kinds = [k for k in a.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            ap.error(f"--kinds: unknown kind {k!r} (accepted: {', '.join(KINDS)})")
    for s in a.systems.split(","):
        if s.startswith("keepalived-") and s.endswith("s"):
            try:
                advert = float(s[len("keepalived-"):-1])
            except ValueError:
                ap.error(f"--systems: {s!r}: expected keepalived-<advert_int>s")

            def make(fl, advert=advert):
                return Keepalived(fl, advert)
            make.label = s
        elif s in ("ironlb", "ironlb-fast"):
            def make(fl, timing="default" if s == "ironlb" else "fast"):
                return Ironlb(fl, a.bin, timing)
            make.label = s
        else:
            ap.error(f"--systems: unknown system {s!r} (accepted: keepalived-1s, "
                     "keepalived-0.1s, keepalived-<n>s, ironlb, ironlb-fast)")
        run_system(make, kinds, a.trials, a.settle)


if __name__ == "__main__":
    main()
