#!/usr/bin/env python3
"""Benchmarks of the reconcile pipeline of `ironlb run` (not tests): how
long one change takes to reach the wire, how it holds under a stream of
changes, and the memory and CPU it needs.  Each measure builds its own lab
of network namespaces (tests/e2e/lab.py, BGP routers from
tests/e2e/bgplab.py), measures, and tears it down, also on an error or
Ctrl-C.  Output is `key: value` lines, each key prefixed with the label of
the binary it measured.

Two binaries can be measured side by side in one run, one after the other
on the same machine (`--old PATH --new PATH`, or `--bin LABEL=PATH` twice,
or `--old-rev REV`, which builds that git revision in a temporary worktree
with cmake and ninja, RelWithDebInfo, and measures it as "old").

  latency   one node in a Layer 2 lab (a client on the same switch
            captures frames with kernel receive timestamps); the manifest
            directory holds --services dual-stack Services (in files of
            10,000; --bulk-families ipv4 for single-stack ones), a /12
            IPv4 and a /64 IPv6 pool.  Once all are
            allocated (the allocator's in-use metric; /status would be
            tens of MB) and the start-up gratuitous rounds are over,
            --rounds times: a new Service file with fixed addresses is
            renamed into the directory and the time to the first
            gratuitous ARP and the first unsolicited NA for them is taken;
            then the same for a change of one existing Service (its
            loadBalancerIPs rewritten).  With --bgp the node speaks BGP to
            one BIRD router instead and the time is to the first UPDATE
            carrying the new prefix (captured on the router's interface).
            min / median / p99 / max.
  churn     the same Layer 2 lab with --services Services; then --rate
            changes per second for --seconds (bounded in count and time):
            a seeded random mix of adding a Service file, rewriting one
            (new loadBalancerIPs) and deleting one, at most --churn-live
            churn files at once, every address used once.  The client
            records the first gratuitous ARP / unsolicited NA of every
            address.  A change is reflected when the address it put in
            place is on the wire; a change overtaken by a later change of
            the same file before its address appeared is counted apart
            (superseded), never as a delay; so the figures that count
            are the change_to_state_on_wire ones: from each change to
            the first frame showing that file's state at least as new
            (its own address or that of any later change of the file,
            up to a delete).  Passes: the daemon's log
            lines (--pass-msg, a regular expression; default the
            "configuration applied" and "configuration rejected" lines of
            each reload, millisecond timestamps) give their number, their
            duration and the largest gap between two of them during the
            churn, also between applied ones alone (a rejected pass moves
            nothing forward); any `ironlb_` metric or /status key holding
            "pass" is printed too.
  memory    VmRSS / VmHWM of `ironlb run` with --services (10,000)
            dual-stack Services in Layer 2 mode, once all are announced
            and the gratuitous rounds are over; then BGP: BIRD announcing
            2 x --bgp-services (20,000) static routes to a BIRD router,
            then ironlb announcing --bgp-services dual-stack Services to
            the same router: RSS of each, and the CPU time (utime+stime of
            /proc/PID/stat) each spent from its start until the router
            holds every route (ironlb's also when the in-use metric first
            shows every address allocated: plan vs push, where the daemon
            answers /metrics during a pass).

Usage: sudo python3 bench/pipeline.py [--old PATH --new PATH | --bin
[LABEL=]PATH ... | --old-rev REV] {latency,churn,memory} [options]
(default binary: $IRONLB_BIN or build/ironlb, label "ironlb")."""
import argparse
import contextlib
import ipaddress
import os
import pathlib
import random
import re
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

import lab as labmod  # noqa: E402
from lab import poll  # noqa: E402

POOL4 = "10.0.0.0/12"          # 1M addresses: the bulk from the bottom
POOL6 = "2001:db8:1::/64"
# Fixed addresses of the measured changes, far above the bulk.
LAT4 = ipaddress.ip_address("10.15.0.0")
LAT6 = ipaddress.ip_address("2001:db8:1::f:0:0")
CHURN4 = ipaddress.ip_address("10.8.0.0")
CHURN6 = ipaddress.ip_address("2001:db8:1::8:0:0")
FILE_CHUNK = 10000
ETH_P_ALL = 0x0003
SOL_PACKET, PACKET_STATISTICS = 263, 6


LABEL = ["ironlb"]


def out(key, value):
    print(f"{LABEL[0]}_{key}: {value}", flush=True)


def out_plain(key, value):
    print(f"{key}: {value}", flush=True)


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))
    return v[k]


def stats(prefix, values_ms):
    if not values_ms:
        out(f"{prefix}_samples", 0)
        return
    out(f"{prefix}_min_ms", f"{min(values_ms):.2f}")
    out(f"{prefix}_median_ms", f"{statistics.median(values_ms):.2f}")
    out(f"{prefix}_p99_ms", f"{pct(values_ms, 99):.2f}")
    out(f"{prefix}_max_ms", f"{max(values_ms):.2f}")


# ---------------------------------------------------------------------------
# binaries


def build_rev(rev, keep):
    """Build git revision `rev` of this repository in a temporary worktree
    (RelWithDebInfo); returns the path of a copy of its `ironlb` and
    `ironlb-k8s` directory.  The worktree is removed afterwards."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ironlb-rev-"))
    keep.append(tmp)
    wt = tmp / "src"
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(wt), sha],
                   check=True, capture_output=True)
    try:
        bdir = wt / "build"
        print(f"# building {rev} ({sha[:12]}) in {wt}", file=sys.stderr, flush=True)
        subprocess.run(["cmake", "-S", str(wt), "-B", str(bdir), "-G", "Ninja",
                        "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["ninja", "-C", str(bdir), "-j2", "ironlb"], check=True,
                       stdout=subprocess.DEVNULL)
        dst = tmp / "bin"
        dst.mkdir()
        shutil.copy2(bdir / "ironlb", dst / "ironlb")
        # The Kubernetes binary too when it builds (bench/k8s.py uses it).
        if subprocess.run(["ninja", "-C", str(bdir), "-j2", "ironlb-k8s"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            shutil.copy2(bdir / "ironlb-k8s", dst / "ironlb-k8s")
        return dst, sha
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(wt)],
                       capture_output=True)


def binaries(a, default_bin, keep):
    """[(label, path)] from --old/--new/--bin/--old-rev, in measuring order."""
    bins = []
    if a.old_rev:
        d, sha = build_rev(a.old_rev, keep)
        out_plain("old_rev", f"{a.old_rev} {sha}")
        bins.append(("old", str(d / pathlib.Path(default_bin).name)))
    if a.old:
        bins.append(("old", a.old))
    if a.new:
        bins.append(("new", a.new))
    for i, spec in enumerate(a.bin or []):
        label, eq, path = spec.partition("=")
        if not eq:
            label, path = f"bin{i + 1}", spec
        bins.append((label, path))
    if not bins:
        bins.append(("ironlb", default_bin))
    elif a.old_rev and not (a.new or a.bin):
        bins.append(("new", default_bin))   # --old-rev alone: against this tree
    labels = [b[0] for b in bins]
    if len(set(labels)) != len(labels):
        sys.exit(f"bench/pipeline.py: two binaries labelled the same: {labels}")
    for label, path in bins:
        if not os.access(path, os.X_OK):
            sys.exit(f"bench/pipeline.py: {label}: {path} is not an executable")
    return [(label, os.path.abspath(path)) for label, path in bins]


# ---------------------------------------------------------------------------
# manifests and readiness


def svc_text(name, ips=None, families=("IPv4", "IPv6")):
    return labmod.service_manifest(name, ips=ips, families=families)


FAMILIES = {"dual": ("IPv4", "IPv6"), "ipv4": ("IPv4",), "ipv6": ("IPv6",)}


def write_bulk(mdir, n, families="dual", prefix="svc"):
    """n Services (dual-stack by default) in files of FILE_CHUNK (a few
    large files keep the start-up sane)."""
    for start in range(0, n, FILE_CHUNK):
        text = "---\n".join(svc_text(f"{prefix}-{i:06d}", families=FAMILIES[families])
                            for i in range(start, min(n, start + FILE_CHUNK)))
        (mdir / f"{prefix}-{start // FILE_CHUNK:03d}.yaml").write_text(text)


def l2_base(mdir, node):
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "node.yaml").write_text(labmod.node_manifest(node))
    (mdir / "pools.yaml").write_text(
        labmod.pool_manifest("bench-ipv4", [POOL4]) + "---\n" +
        labmod.pool_manifest("bench-ipv6", [POOL6]) + "---\n" +
        labmod.l2adv_manifest("all"))


def metric_values(d, names):
    """{name: sum over its series} of the metrics `names` from /metrics,
    read as a stream (with many Services /metrics is large)."""
    p = subprocess.Popen(["ip", "netns", "exec", d.host.ns, "curl", "-sS", "--noproxy", "*",
                          "-m", "60", d.server + "/metrics"], stdout=subprocess.PIPE, text=True)
    got = {}
    try:
        for line in p.stdout:
            if line.startswith("#"):
                continue
            m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})?\s+(\S+)", line)
            if m and (m.group(1) in names or any(n.endswith("*") and m.group(1).startswith(n[:-1])
                                                 for n in names)):
                got[m.group(1)] = got.get(m.group(1), 0.0) + float(m.group(2))
    finally:
        p.stdout.close()
        p.wait(70)
    return got


IN_USE = "metallb_allocator_addresses_in_use_total"
UPDATES = "metallb_k8s_client_updates_total"


def wait_allocated(d, want, timeout):
    """Poll the allocator's in-use metric until it is `want` (summed over
    the pools); the interval grows, as a scrape of a big daemon costs."""
    deadline = time.monotonic() + timeout
    interval, last = 0.05, None
    while True:
        if not d.proc.alive():
            raise RuntimeError(f"ironlb exited {d.proc.returncode}: {d.log()[-2000:]}")
        try:
            last = metric_values(d, {IN_USE}).get(IN_USE)
        except Exception as e:  # noqa: BLE001 - report it when giving up
            last = repr(e)
        if last == want:
            return
        if time.monotonic() >= deadline:
            raise labmod.PollTimeout(f"{want} addresses in use: not after {timeout:.0f}s; "
                                     f"last {last}")
        time.sleep(interval)
        interval = min(1.0, interval * 2)


def rx_packets(host, ifname="eth0"):
    p = host.run(["cat", f"/sys/class/net/{ifname}/statistics/rx_packets"])
    return int(p.stdout)


def wait_quiet(host, quiet=1.6, timeout=120):
    """Wait until host's eth0 receives nothing for `quiet` seconds (the
    start-up gratuitous rounds, 1.1 s apart, are over)."""
    deadline = time.monotonic() + timeout
    last, since = rx_packets(host), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        n = rx_packets(host)
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise labmod.PollTimeout(f"{host.name}: still receiving after {timeout}s")


def rename_in(mdir, name, text):
    """Write beside the directory, rename in; wall-clock time just before."""
    tmp = mdir.parent / f".{name}.tmp"
    tmp.write_text(text)
    t0 = time.time()
    os.replace(tmp, mdir / name)
    return t0


def proc_vm(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                vals[k] = int(v.split()[0])
    return vals


def proc_cpu(pid):
    """utime + stime of pid in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_ironlb(host, mdir, a, bgp=False, timeout=120):
    extra = ["--log-level", a.log_level]
    if not bgp:
        extra.append("--no-bgp")
    d = labmod.Ironlb(host, mdir, install_vips=False, extra=extra)
    return d.start(timeout=timeout)


# ---------------------------------------------------------------------------
# first-seen sniffer


class FirstSeen:
    """The kernel receive time of the first gratuitous ARP (sender =
    target address) and the first unsolicited Neighbor Advertisement of
    every address arriving on a host's interface; parsing kept minimal so
    a few thousand frames a second are taken without loss (the socket's
    drop counter is reported)."""

    def __init__(self, host, ifname="eth0"):
        # host None: the interface is in this process's own namespace
        with labmod.netns(host.ns) if host is not None else contextlib.nullcontext():
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, labmod.SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        self.first = {}           # packed address -> first receive time
        self.frames = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        sock, first = self.sock, self.first
        while not self.stopping:
            if not select.select([sock], [], [], 0.1)[0]:
                continue
            while True:
                try:
                    data, anc, _, addr = sock.recvmsg(128, 64, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    return
                if addr[2] == labmod.PACKET_OUTGOING:
                    continue
                et = data[12:14]
                if et == b"\x08\x06":
                    if len(data) < 42 or data[28:32] != data[38:42]:
                        continue
                    key = data[28:32]
                elif et == b"\x86\xdd":
                    # NA (136) without extension headers, S flag clear
                    if len(data) < 78 or data[20] != 58 or data[54] != 136 or data[58] & 0x40:
                        continue
                    key = data[62:78]
                else:
                    continue
                self.frames += 1
                if key in first:
                    continue
                ts = time.time()
                for lvl, typ, val in anc:
                    if lvl == socket.SOL_SOCKET and typ == labmod.SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", val[:16])
                        ts = sec + nsec / 1e9
                first[key] = ts

    def seen(self, ip):
        return self.first.get(ipaddress.ip_address(ip).packed)

    def drops(self):
        try:
            _, dropped = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS,
                                                                  8))
            return dropped
        except OSError:
            return None

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def wait_seen(sn, ip, t0, timeout):
    def seen():
        t = sn.seen(ip)
        return t if t is not None and t >= t0 - 0.001 else None
    return poll(seen, timeout, interval=0.001, what=f"announcement of {ip}")


# ---------------------------------------------------------------------------
# latency


def l2_node_lab(L):
    sw, clients, nodes = labmod.l2_lab(L, ("node-a",))
    return clients["client"], nodes["node-a"]


def load_bulk(d, addresses, timeout, t0):
    wait_allocated(d, addresses, timeout)
    out("start_to_all_allocated_ms", f"{(time.monotonic() - t0) * 1000:.0f}")


def bench_latency_l2(a):
    n = a.services
    with labmod.Lab() as L:
        client, node = l2_node_lab(L)
        mdir = L.workdir / "manifests"
        l2_base(mdir, node.name)
        write_bulk(mdir, n, a.bulk_families)
        (mdir / "lat-change.yaml").write_text(svc_text("lat-change", ips=f"{LAT4 + 60000},"
                                                       f"{LAT6 + 60000}"))
        t0 = time.monotonic()
        d = start_ironlb(node, mdir, a)
        load_bulk(d, len(FAMILIES[a.bulk_families]) * n + 2, a.timeout, t0)
        wait_quiet(client)
        new4, new6, ch4, ch6 = [], [], [], []
        with FirstSeen(client) as sn:
            for i in range(a.rounds):
                v4, v6 = str(LAT4 + i), str(LAT6 + i)
                t = rename_in(mdir, f"lat-{i:03d}.yaml", svc_text(f"lat-{i:03d}", f"{v4},{v6}"))
                new4.append((wait_seen(sn, v4, t, a.round_timeout) - t) * 1000)
                new6.append((wait_seen(sn, v6, t, a.round_timeout) - t) * 1000)
            for i in range(a.rounds):
                v4, v6 = str(LAT4 + 1000 + i), str(LAT6 + 1000 + i)
                t = rename_in(mdir, "lat-change.yaml", svc_text("lat-change", f"{v4},{v6}"))
                ch4.append((wait_seen(sn, v4, t, a.round_timeout) - t) * 1000)
                ch6.append((wait_seen(sn, v6, t, a.round_timeout) - t) * 1000)
        out("services", n)
        out("services_families", a.bulk_families)
        out("rounds", a.rounds)
        stats("new_service_to_gratuitous_arp", new4)
        stats("new_service_to_unsolicited_na", new6)
        stats("changed_service_to_gratuitous_arp", ch4)
        stats("changed_service_to_unsolicited_na", ch6)
        out("vmrss_kib", proc_vm(d.proc.pid)["VmRSS"])
        out("exit_code_after_sigterm", d.stop(timeout=30))


def bgp_lab(L):
    """switch, router (BIRD, passive, AS 64501) at .1, node at .10, birdsrc
    at .20: bench/bgp.py's addresses."""
    import bgp as bgpbench
    import bgplab
    sw = L.switch("sw", str(bgpbench.NET4), str(bgpbench.NET6))
    hosts = {}
    for name, num in (("router", 1), ("node", 10), ("birdsrc", 20)):
        hosts[name] = L.host(name)
        hosts[name].connect(sw, "eth0", hostnum=num)
    nbrs = [bgpbench.addr(10, 4), bgpbench.addr(10, 6), bgpbench.addr(20, 4),
            bgpbench.addr(20, 6)]
    router = bgplab.Bird(hosts["router"], bgpbench.R1_ASN, bgpbench.addr(1, 4), [
        bgplab.Neighbor(x, bgpbench.MY_ASN, passive=True, families=(bgplab.family(x),))
        for x in nbrs], name="router").start()
    return hosts, router


def bgp_manifests(mdir):
    import bgp as bgpbench
    import bgplab
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "node.yaml").write_text(labmod.node_manifest("node"))
    (mdir / "pools.yaml").write_text(labmod.pool_manifest("bench-ipv4", [POOL4]) + "---\n" +
                                     labmod.pool_manifest("bench-ipv6", [POOL6]))
    (mdir / "adv.yaml").write_text(bgplab.bgpadv_manifest("bench", communities=["64500:100"]))
    (mdir / "peers.yaml").write_text("---\n".join(bgpbench.r1_peers()))


def need_bird():
    if not (shutil.which("bird") and shutil.which("birdc")):
        sys.exit("bench/pipeline.py: BIRD is not installed (scripts/install-deps)")


def bench_latency_bgp(a):
    import bgp as bgpbench
    import bgplab
    need_bird()
    n = a.services
    node4, node6 = bgpbench.addr(10, 4), bgpbench.addr(10, 6)
    with labmod.Lab() as L:
        hosts, router = bgp_lab(L)
        counts = bgpbench.Counts(router)
        mdir = L.workdir / "manifests"
        bgp_manifests(mdir)
        write_bulk(mdir, n)
        t0 = time.monotonic()
        d = start_ironlb(hosts["node"], mdir, a, bgp=True)
        load_bulk(d, 2 * n, a.timeout, t0)
        bgpbench.wait_counts(counts, {node4: n, node6: n}, a.timeout, interval=0.5)
        out("start_to_router_holds_all_ms", f"{(time.monotonic() - t0) * 1000:.0f}")
        d4, d6 = [], []
        with bgplab.BgpSniffer(hosts["router"], "eth0") as sn:
            for i in range(a.rounds):
                v4, v6 = str(LAT4 + i), str(LAT6 + i)
                sn.clear()
                t = rename_in(mdir, f"lat-{i:03d}.yaml", svc_text(f"lat-{i:03d}", f"{v4},{v6}"))
                t4 = bgpbench.first_update_with(sn, node4, f"{v4}/32", t, a.round_timeout)
                t6 = bgpbench.first_update_with(sn, node6, f"{v6}/128", t, a.round_timeout)
                d4.append((t4 - t) * 1000)
                d6.append((t6 - t) * 1000)
                time.sleep(0.05)   # the router takes it; not part of a measure
        out("services", n)
        out("rounds", a.rounds)
        stats("bgp_new_service_to_update_ipv4", d4)
        stats("bgp_new_service_to_update_ipv6", d6)
        out("exit_code_after_sigterm", d.stop(timeout=30))


def bench_latency(a):
    if a.bgp:
        bench_latency_bgp(a)
    else:
        bench_latency_l2(a)


# ---------------------------------------------------------------------------
# churn


class Change:
    __slots__ = ("k", "op", "t", "file", "v4", "v6", "nxt")

    def __init__(self, k, op, t, file, v4=None, v6=None):
        self.k, self.op, self.t, self.file, self.v4, self.v6 = k, op, t, file, v4, v6
        self.nxt = None         # the next change of the same file


def churn_loop(mdir, rate, seconds, max_live, seed):
    """rate changes a second for `seconds` (at most rate*seconds changes,
    stopped at 1.5 x seconds whatever happened).  Returns the changes."""
    rng = random.Random(seed)
    live, last = [], {}          # live churn files; file -> its last Change
    changes = []
    total = int(rate * seconds)
    t_start = time.monotonic()
    hard_stop = t_start + 1.5 * seconds
    next_file = 0
    for k in range(total):
        due = t_start + k / rate
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        elif now > hard_stop:
            break
        r = rng.random()
        if len(live) < 2 or (r < 0.4 and len(live) < max_live):
            op = "add"
        elif r < 0.7:
            op = "modify"
        else:
            op = "delete"
        if op == "add":
            f = next_file
            next_file += 1
            live.append(f)
        else:
            j = rng.randrange(len(live))
            f = live[j]
            if op == "delete":
                live[j] = live[-1]
                live.pop()
        path = mdir / f"churn-{f:06d}.yaml"
        if op == "delete":
            t = time.time()
            os.unlink(path)
            c = Change(k, op, t, f)
        else:
            v4, v6 = str(CHURN4 + k), str(CHURN6 + k)
            t = rename_in(mdir, path.name, svc_text(f"churn-{f:06d}", f"{v4},{v6}"))
            c = Change(k, op, t, f, v4, v6)
        if f in last:
            last[f].nxt = c
        last[f] = c
        changes.append(c)
    return changes, time.monotonic() - t_start


def parse_log_ts(v):
    """A logfmt ts= value (UTC, milliseconds) as a Unix time."""
    return time.mktime(time.strptime(v[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone + \
        (float("0" + v[19:].rstrip("Z")) if len(v) > 19 else 0.0)


def passes_from_log(log, pattern, t_from, t_to):
    """[(time, duration ms or None, msg)] of the log lines whose msg
    matches the regular expression `pattern`, between t_from and t_to."""
    res = []
    rx = re.compile(pattern)
    for line in log.splitlines():
        m = re.search(r'\bmsg=(?:"((?:[^"\\]|\\.)*)"|(\S+))', line)
        if not m or not rx.search(m.group(1) if m.group(1) is not None else m.group(2)):
            continue
        ts = re.search(r"\bts=(\S+)", line)
        if not ts:
            continue
        t = parse_log_ts(ts.group(1))
        if t_from <= t <= t_to:
            dm = re.search(r'\bduration_ms="?([0-9.]+)', line)
            res.append((t, float(dm.group(1)) if dm else None, m.group(1) or m.group(2)))
    return res


def pass_keys(doc, path=""):
    """(path, value) of every scalar under a key holding "pass" in the
    /status document (outside the per-Service and per-address lists)."""
    found = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in ("services", "l2_engine", "events", "routes"):
                continue
            p = f"{path}.{k}" if path else k
            if "pass" in k.lower() and not isinstance(v, (dict, list)):
                found.append((p, v))
            else:
                found += pass_keys(v, p)
    return found


def state_delays(changes, seen, fam, slack=0.001):
    """Delay from each add/modify change to the first moment the wire
    shows its object in that state or a later one: the first appearance
    of its own address or of the address of any later change of the same
    object, up to a delete (after which nothing is visible).  Unlike the
    first appearance of the change's own address, this charges a daemon
    that skips states (a later change overtook it) with the time until
    the newer state is out.  Returns (delays ms, ended by a delete, never
    reflected).  `slack`: how much earlier than a change's time a sighting
    may be and still count (its time may be taken after the fact)."""
    res, by_delete, never = [], 0, 0
    memo = {}

    def reflected(c):
        # iterative over the chain (a chain may be thousands long)
        chain = []
        while c is not None and c.op != "delete" and id(c) not in memo:
            chain.append(c)
            c = c.nxt
        best = memo.get(id(c)) if c is not None and c.op != "delete" else None
        for x in reversed(chain):
            ip = x.v4 if fam == 4 else x.v6
            ts = seen(ip) if x.t is not None else None   # None: never sent
            if ts is not None and ts >= x.t - slack and (best is None or ts < best):
                best = ts
            memo[id(x)] = best
        return best

    for c in changes:
        if c.op == "delete" or c.t is None:
            continue
        ts = reflected(c)
        if ts is not None:
            res.append(max(0.0, ts - c.t) * 1000)
        else:
            x = c
            while x is not None and x.op != "delete":
                x = x.nxt
            if x is not None:
                by_delete += 1
            else:
                never += 1
    return res, by_delete, never


def bench_churn(a):
    n = a.services
    with labmod.Lab() as L:
        client, node = l2_node_lab(L)
        mdir = L.workdir / "manifests"
        l2_base(mdir, node.name)
        write_bulk(mdir, n)
        t0 = time.monotonic()
        d = start_ironlb(node, mdir, a)
        load_bulk(d, 2 * n, a.timeout, t0)
        wait_quiet(client)
        before = metric_values(d, {UPDATES, "ironlb_*"})
        with FirstSeen(client) as sn:
            w0 = time.time()
            changes, took = churn_loop(mdir, a.rate, a.seconds, a.churn_live, a.seed)
            w1 = time.time()
            want = [c for c in changes if c.op != "delete"]

            def settled():
                return all(sn.seen(c.v4) is not None and sn.seen(c.v6) is not None
                           for c in want if c.nxt is None)
            try:
                poll(settled, a.settle, interval=0.1, what="last changes on the wire")
            except labmod.PollTimeout:
                pass   # counted below as not reflected
            w2 = time.time()
            drops = sn.drops()
            frames = sn.frames
        after = metric_values(d, {UPDATES, "ironlb_*"})
        delays = {4: [], 6: []}
        missing = {4: 0, 6: 0}
        superseded = {4: 0, 6: 0}
        for c in want:
            for fam, ip in ((4, c.v4), (6, c.v6)):
                ts = sn.seen(ip)
                if ts is not None and ts >= c.t - 0.001:
                    delays[fam].append((ts - c.t) * 1000)
                elif c.nxt is not None:
                    superseded[fam] += 1
                else:
                    missing[fam] += 1
        ops = {op: sum(1 for c in changes if c.op == op) for op in ("add", "modify", "delete")}
        out("services", n)
        out("changes", len(changes))
        out("changes_add_modify_delete", f"{ops['add']} {ops['modify']} {ops['delete']}")
        out("changes_per_s_achieved", f"{len(changes) / took:.0f}")
        out("churn_seconds", f"{took:.1f}")
        for fam, what in ((4, "gratuitous_arp"), (6, "unsolicited_na")):
            v = delays[fam]
            out(f"reflected_{what}", len(v))
            out(f"superseded_before_{what}", superseded[fam])
            out(f"not_reflected_{what}", missing[fam])
            if v:
                out(f"change_to_{what}_p50_ms", f"{pct(v, 50):.1f}")
                out(f"change_to_{what}_p99_ms", f"{pct(v, 99):.1f}")
                out(f"change_to_{what}_max_ms", f"{max(v):.1f}")
        for fam, what in ((4, "gratuitous_arp"), (6, "unsolicited_na")):
            v, by_delete, never = state_delays(changes, sn.seen, fam)
            out(f"state_reflected_{what}", len(v))
            out(f"state_ended_by_delete_{what}", by_delete)
            out(f"state_not_reflected_{what}", never)
            if v:
                out(f"change_to_state_on_wire_{what}_p50_ms", f"{pct(v, 50):.1f}")
                out(f"change_to_state_on_wire_{what}_p99_ms", f"{pct(v, 99):.1f}")
                out(f"change_to_state_on_wire_{what}_max_ms", f"{max(v):.1f}")
        out("frames_captured", frames)
        out("frames_dropped_by_capture", drops)
        if a.log_file:
            pathlib.Path(f"{a.log_file}.{LABEL[0]}").write_text(d.log())
        passes = passes_from_log(d.log(), a.pass_msg, w0, w2)
        out("passes_logged", len(passes))
        out("passes_logged_rejected", sum(1 for p in passes if "reject" in p[2]))
        if passes:
            # From the start of the churn to its end; a rejected pass (the
            # whole configuration refused) moves nothing forward, so the
            # gaps between applied ones are given apart.
            for what, keep in (("passes", lambda p: True),
                               ("applied_passes", lambda p: "reject" not in p[2])):
                ends = [w0] + [p[0] for p in passes if p[0] <= w1 and keep(p)] + [w1]
                gaps = [(y - x) * 1000 for x, y in zip(ends, ends[1:])]
                out(f"largest_gap_between_{what}_ms", f"{max(gaps):.0f}")
                out(f"median_gap_between_{what}_ms", f"{statistics.median(gaps):.0f}")
            durs = [p[1] for p in passes if p[1] is not None]
            if durs:
                out("pass_duration_median_ms", f"{statistics.median(durs):.1f}")
                out("pass_duration_max_ms", f"{max(durs):.1f}")
        if UPDATES in after:
            out("passes_counted_by_metric", f"{after[UPDATES] - before.get(UPDATES, 0):.0f}")
        for k in sorted(after):
            if k.startswith("ironlb_"):
                out(f"metric_{k}", f"{after[k]:g} (before {before.get(k, 0):g})")
        try:
            for k, v in pass_keys(d.status()):
                out(f"status_{k}", v)
        except Exception as e:  # noqa: BLE001 - a bench figure, not a requirement
            out("status_read_error", repr(e)[:200])
        out("exit_code_after_sigterm", d.stop(timeout=30))


# ---------------------------------------------------------------------------
# memory


def bench_memory_l2(a):
    n = a.services
    with labmod.Lab() as L:
        client, node = l2_node_lab(L)
        mdir = L.workdir / "manifests"
        l2_base(mdir, node.name)
        write_bulk(mdir, n)
        t0 = time.monotonic()
        d = start_ironlb(node, mdir, a)
        load_bulk(d, 2 * n, a.timeout, t0)
        wait_quiet(client)
        vm = proc_vm(d.proc.pid)
        out("l2_services", n)
        out("l2_vmrss_kib", vm["VmRSS"])
        out("l2_vmhwm_kib", vm["VmHWM"])
        out("l2_cpu_s_to_all_announced", f"{proc_cpu(d.proc.pid):.2f}")
        out("l2_exit_code_after_sigterm", d.stop(timeout=30))


def bench_memory_bgp(a):
    import bgp as bgpbench
    import bgplab
    need_bird()
    n = a.bgp_services
    node4, node6 = bgpbench.addr(10, 4), bgpbench.addr(10, 6)
    src4, src6 = bgpbench.addr(20, 4), bgpbench.addr(20, 6)
    with labmod.Lab() as L:
        hosts, router = bgp_lab(L)
        counts = bgpbench.Counts(router)
        out("bgp_router", "bird (passive, one session per family)")
        out("bgp_router_vmrss_kib_empty", proc_vm(router.proc.pid)["VmRSS"])
        # BIRD announcing the same routes: 2n static routes, the community.
        p4 = ipaddress.ip_network(POOL4).network_address
        p6 = ipaddress.ip_network(POOL6).network_address
        static = [bgplab.StaticRoute(f"{p4 + i}/32") for i in range(n)] + \
            [bgplab.StaticRoute(f"{p6 + i}/128") for i in range(n)]
        bird = bgplab.Bird(hosts["birdsrc"], bgpbench.MY_ASN, src4, [
            bgplab.Neighbor(bgpbench.addr(1, 4), bgpbench.R1_ASN, families=(4,)),
            bgplab.Neighbor(bgpbench.addr(1, 6), bgpbench.R1_ASN, families=(6,))],
            static=static, name="birdsrc", export_filter="bgp_community.add((64500,100));")
        t0 = time.monotonic()
        bird.start(timeout=120)
        bgpbench.wait_counts(counts, {src4: n, src6: n}, a.timeout, interval=0.2)
        out("bgp_bird_start_to_router_holds_all_ms", f"{(time.monotonic() - t0) * 1000:.0f}")
        comm = pathlib.Path(f"/proc/{bird.proc.pid}/comm").read_text().strip()
        if comm != "bird":    # the figures below must be BIRD's own
            raise RuntimeError(f"pid {bird.proc.pid} is {comm!r}, not bird")
        out("bgp_bird_cpu_s_to_router_holds_all", f"{proc_cpu(bird.proc.pid):.2f}")
        time.sleep(1)   # BIRD's own housekeeping after the export, as ironlb's below
        vm = proc_vm(bird.proc.pid)
        out("bgp_bird_routes", 2 * n)
        out("bgp_bird_vmrss_kib", vm["VmRSS"])
        out("bgp_bird_vmhwm_kib", vm["VmHWM"])
        out("bgp_router_vmrss_kib_holding_bird_routes", proc_vm(router.proc.pid)["VmRSS"])
        bird.stop(timeout=20)
        bgpbench.wait_counts(counts, {src4: 0, src6: 0}, a.timeout, interval=0.2)

        mdir = L.workdir / "manifests"
        bgp_manifests(mdir)
        write_bulk(mdir, n)
        t0 = time.monotonic()
        d = start_ironlb(hosts["node"], mdir, a, bgp=True)
        wait_allocated(d, 2 * n, a.timeout)
        out("bgp_ironlb_start_to_all_allocated_ms", f"{(time.monotonic() - t0) * 1000:.0f}")
        out("bgp_ironlb_cpu_s_to_all_allocated", f"{proc_cpu(d.proc.pid):.2f}")
        bgpbench.wait_counts(counts, {node4: n, node6: n}, a.timeout, interval=0.2)
        out("bgp_ironlb_start_to_router_holds_all_ms", f"{(time.monotonic() - t0) * 1000:.0f}")
        out("bgp_ironlb_cpu_s_to_router_holds_all", f"{proc_cpu(d.proc.pid):.2f}")
        time.sleep(1)
        vm = proc_vm(d.proc.pid)
        out("bgp_ironlb_services", n)
        out("bgp_ironlb_routes", 2 * n)
        out("bgp_ironlb_vmrss_kib", vm["VmRSS"])
        out("bgp_ironlb_vmhwm_kib", vm["VmHWM"])
        out("bgp_router_vmrss_kib_holding_ironlb_routes", proc_vm(router.proc.pid)["VmRSS"])
        out("bgp_ironlb_exit_code_after_sigterm", d.stop(timeout=30))


def bench_memory(a):
    bench_memory_l2(a)
    if not a.no_bgp:
        bench_memory_bgp(a)


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", action="append", metavar="[LABEL=]PATH",
                    help="an ironlb binary to measure (repeat for several)")
    ap.add_argument("--old", metavar="PATH", help="the old binary (label old)")
    ap.add_argument("--new", metavar="PATH", help="the new binary (label new)")
    ap.add_argument("--old-rev", metavar="REV",
                    help="build this git revision and measure it as old (then the new one is "
                         "this tree's build/ironlb unless --new or --bin is given)")
    ap.add_argument("--log-level", default="info", help="ironlb's --log-level")
    ap.add_argument("--timeout", type=float, default=600.0, help="start-up wait, seconds")
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("latency", help="one change to the wire")
    p.add_argument("--services", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--round-timeout", type=float, default=30.0)
    p.add_argument("--bgp", action="store_true", help="to a BGP peer instead of Layer 2")
    p.add_argument("--bulk-families", choices=sorted(FAMILIES), default="dual",
                   help="address families of the N loaded Services (the measured ones are "
                        "always dual-stack)")
    p = sub.add_parser("churn", help="a stream of changes")
    p.add_argument("--services", type=int, default=10000)
    p.add_argument("--rate", type=float, default=1000.0, help="changes per second")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--churn-live", type=int, default=1000,
                   help="at most this many churn Service files at once")
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--settle", type=float, default=30.0,
                   help="after the churn, wait this long at most for the last changes")
    p.add_argument("--log-file", metavar="PATH",
                   help="keep the daemon's log in PATH.LABEL (old, new, ...)")
    p.add_argument("--pass-msg", default=r"^configuration (applied|rejected)",
                   help="regular expression matching the log message of one pass")
    p = sub.add_parser("memory", help="resident memory and CPU")
    p.add_argument("--services", type=int, default=10000, help="Layer 2 Services")
    p.add_argument("--bgp-services", type=int, default=20000, help="BGP Services")
    p.add_argument("--no-bgp", action="store_true")
    a = ap.parse_args()
    if not labmod.is_root():
        sys.exit("bench/pipeline.py: needs root (network namespaces)")
    default_bin = os.environ.get("IRONLB_BIN") or str(ROOT / "build" / "ironlb")
    keep = []
    try:
        bins = binaries(a, default_bin, keep)
        out_plain("bench", a.what)
        out_plain("cpus", os.cpu_count())
        for label, path in bins:
            v = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
            out_plain(f"{label}_binary", f"{path} ({v.strip()})")
        fn = {"latency": bench_latency, "churn": bench_churn, "memory": bench_memory}[a.what]
        for label, path in bins:
            LABEL[0] = label
            os.environ["IRONLB_BIN"] = path
            t = time.monotonic()
            fn(a)
            out("bench_seconds", f"{time.monotonic() - t:.0f}")
    finally:
        for d in keep:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
