#!/usr/bin/env python3
"""Kubernetes-mode benchmark (not a test): `ironlb controller` and one
`ironlb speaker` against a real kube-apiserver and etcd (tests/k8s), with N
RequireDualStack LoadBalancer Services created before either starts (a
restart into a full cluster: the worst burst of writes).

Prints `key: value` lines, each key prefixed with the binary's label:
  services                  N
  controller_all_ingress_s  controller start -> every Service has both addresses
  controller_passes_to_all_ingress  passes it made until then (the pass
                            counter metallb_k8s_client_updates_total)
  controller_passes_after_done  passes in the --quiet seconds after that,
                            with nothing changing but its own status writes
  speaker_all_l2status_s    speaker start -> a ServiceL2Status for every Service
  speaker_passes_to_all_l2status, speaker_passes_after_done   the same
  controller_rss_kib, controller_hwm_kib   VmRSS / VmHWM once done
  speaker_rss_kib, speaker_hwm_kib
  idle_rss_kib              the speaker's VmRSS with no Service (libraries)
  *_own_writes_seen         own writes that came back through the watches
                            (counted, no pass: ironlb_reconcile_own_writes_total)
  *_whole_passes            of the passes, whole ones (/status config.whole_passes;
                            absent before the incremental controller and speaker)

With --churn-seconds S (after the start above): --rate changes a second
for S seconds through the API (a seeded random mix of creating a Service
with fixed addresses, changing its metallb.io/loadBalancerIPs and deleting
it; at most --churn-live at once, every address used once; requests from
--workers connections, the changes of one Service always on the same one).
A change is reflected for the controller when a watch of the Services sees
its new IPv4 address in the status, for the speaker when its gratuitous
ARP / unsolicited NA is on the wire (captured on the other end of the
speaker's veth); delays run from the API's answer to the change.  Changes
overtaken by a later change of the same Service before being reflected are
counted apart.  Per created Service also: the time to both addresses in
its status (controller) and to a ServiceL2Status naming an interface
(speaker), p50/p99/max.  The pass counters are sampled every --sample seconds: the
largest time with changes pending and no pass is reported (resolution: the
sampling interval).

CPU per change: the CPU seconds the API server, etcd, the controller,
the speaker and this load generator spent from the first change sent to
every change reflected (or the --settle bound), each divided by the
changes sent (churn_cpu_ms_per_change_*) and by the wall time
(churn_cpu_busy_pct_*: 100 is one core busy); the same for the two
starts (controller_start_*, speaker_start_*).

CPU per change net of idling (--idle-seconds S, with --churn-seconds):
before the churn, S seconds with nothing changing; then what the churn
cost each process beyond that idle rate, per change
(churn_net_cpu_ms_per_change_*).  With --callgrind the controller and the
speaker run under valgrind's callgrind (instrumentation off for the
start, on from the idle window), and the figure is in instructions,
which do not depend on the machine's load: idle_instructions_per_s_*,
churn_instructions_*, churn_instructions_per_change_* = (churn
instructions - idle rate x churn window) / changes.  The callgrind dumps
(idle, churn) stay in the log directory for callgrind_annotate.  In
this mode /metrics is not sampled during the windows (a scrape costs a
daemon more than a change, and how many it answers depends on how busy
it is), so the pass counters are read once before and once after.
Under callgrind the daemons run some 50 times slower, so changes
batch into fewer passes than at native speed: keep --rate low (2).
Example: sudo python3 bench/k8s.py -n 1000 --no-idle --callgrind
--idle-seconds 30 --churn-seconds 30 --rate 2 --churn-live 500
--settle 300 --workers 4 --old-rev REV

The control plane's directory, and so etcd's data, is on tmpfs
(--tmpdir, /dev/shm; etcd also runs with --unsafe-no-fsync), and the API
server takes more requests in flight than its defaults (--apiserver-arg,
repeatable; default --max-mutating-requests-inflight=1000
--max-requests-inflight=2000), so that neither a disk nor a queue limit
is what is measured.

--api-ceiling SECONDS measures instead the API server alone, with no
controller or speaker: for each count in --ceiling-workers (default
16,64,256) that many threads, each with its own keep-alive connection,
send the churn's changes back to back for SECONDS; printed are the rate,
the request latency, the machine's idle share and each process's CPU
per change.

Everything runs in a network namespace of its own (made and removed here)
holding a veth pair for the speaker's Layer 2 engine; the API server
listens on that namespace's loopback.  Several binaries (--bin LABEL=PATH
repeated, --old/--new, or --old-rev REV built in a temporary worktree)
are measured one after the other, each against a fresh control plane.

--compare runs ironlb beside MetalLB v0.16 (built by bench/metallb/build.sh)
and prints one table: see bench/k8s_compare.py for what it measures.

Usage: sudo python3 bench/k8s.py [-n 1000] [--bin [LABEL=]build/ironlb-k8s]
[--churn-seconds 60 --rate 1000] | [--api-ceiling 20 --ceiling-workers 16,64]"""
import argparse
import http.client
import ipaddress
import json
import os
import pathlib
import queue
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "k8s"))
sys.path.insert(0, str(ROOT / "bench"))
NETNS = f"ironlb-bench-k8s-{os.getpid()}"
UPDATES = "metallb_k8s_client_updates_total"
CHURN4 = ipaddress.ip_address("10.8.0.0")
CHURN6 = ipaddress.ip_address("2001:db8::8:0:0")

CONFIG = """
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bench, namespace: metallb-system}
spec: {addresses: [10.0.0.0/12, "2001:db8::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: bench, namespace: metallb-system}
"""

LABEL = ["ironlb"]


def out(key, value):
    print(f"{LABEL[0]}_{key}: {value}", flush=True)


def pct(values, p):
    v = sorted(values)
    return v[max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))]


def cpu_s(pid, system_only=False):
    """User + system CPU seconds of process pid so far (None when gone);
    system_only: the system part alone."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return ((0 if system_only else int(f[11])) + int(f[12])) / os.sysconf("SC_CLK_TCK")


class CpuReading(dict):
    """{process: CPU seconds}, with .system {process: system seconds}."""
    system = None


class Cpu:
    """CPU seconds of the processes that carry a change: the API server,
    etcd, the controller, the speaker and this load generator (its own
    threads: the watches, the capture and the workers)."""

    def __init__(self, procs):
        self.procs = dict(procs)          # name -> pid (None: this process)

    def read(self):
        out = CpuReading()
        out.system = {}
        for name, pid in self.procs.items():
            if pid is None:
                r = os.times()
                out[name] = r.user + r.system
                out.system[name] = r.system
            else:
                out[name] = cpu_s(pid)
                out.system[name] = cpu_s(pid, system_only=True)
        return out

    def report(self, key, before, after, wall, nchanges):
        for name in self.procs:
            if before.get(name) is None or after.get(name) is None:
                continue
            used = after[name] - before[name]
            out(f"{key}_cpu_s_{name}", f"{used:.1f}")
            out(f"{key}_cpu_busy_pct_{name}", f"{100 * used / wall:.0f}")
            if nchanges:
                out(f"{key}_cpu_ms_per_change_{name}", f"{1000 * used / nchanges:.2f}")


def mem(pid):
    d = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return int(d["VmRSS"].split()[0]), int(d["VmHWM"].split()[0])


def out_smaps(key, pid):
    """RSS counts every resident page of the shared libraries; Pss shares
    them out among the processes that map them, and Private_Dirty is what
    this process alone holds (its heap, mostly)."""
    d = dict(line.split(":", 1) for line in open(f"/proc/{pid}/smaps_rollup")
             if ":" in line and not line.startswith(("0", "1", "2", "3", "4", "5", "6", "7",
                                                      "8", "9", "a", "b", "c", "d", "e", "f")))
    for f in ("Pss", "Private_Dirty", "Shared_Clean"):
        if f in d:
            out(f"{key}_{f.lower()}_kib", int(d[f].split()[0]))


def count(plane, *args):
    r = plane.kubectl("get", *args, "-o", "name", check=False, timeout=120)
    return len(r.stdout.split())


def passes(port):
    """The pass counter of the daemon serving /metrics on port (None if
    unreadable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                m = re.match(rf"^{UPDATES}(?:\{{[^}}]*\}})?\s+(\S+)", line)
                if m:
                    return float(m.group(1))
    except OSError:
        return None
    return None


def metric(port, name):
    """One unlabelled metric of the daemon serving /metrics on port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def status_field(port, field):
    """/status config.<field> (None when absent: an older binary)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as r:
            return json.load(r).get("config", {}).get(field)
    except (OSError, ValueError):
        return None


def svc(name, ips=None):
    md = {"name": name, "namespace": "default"}
    if ips:
        md["annotations"] = {"metallb.io/loadBalancerIPs": ips}
    return {"apiVersion": "v1", "kind": "Service", "metadata": md,
            # no node ports: the API server has 2,768 of them, fewer than the Services
            "spec": {"type": "LoadBalancer", "ipFamilyPolicy": "RequireDualStack",
                     "allocateLoadBalancerNodePorts": False, "ports": [{"port": 80}]}}


def start_daemon(binary, what, plane, port, logdir, extra=(), callgrind=False):
    """With callgrind, under valgrind's callgrind with instrumentation off
    (the start runs at a few times native cost, not fifty); Callgrind
    switches it on for the measured windows."""
    log = open(logdir / f"{LABEL[0]}-{what}.log", "wb")
    args = [binary, what, "--kubeconfig", str(plane.kubeconfig),
            "--metrics-listen", f"127.0.0.1:{port}", *extra]
    if callgrind:
        args = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={logdir}/{LABEL[0]}-{what}.callgrind.%p", *args]
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


class Callgrind:
    """Instruction counts of daemons running under callgrind: zero() starts
    a window, dump(tag) ends it and returns {name: instructions}.  The
    dumps stay in the log directory for callgrind_annotate."""

    def __init__(self, procs, logdir):
        self.procs = dict(procs)            # name -> pid
        self.logdir = pathlib.Path(logdir)
        for pid in self.procs.values():
            subprocess.run(["callgrind_control", "-i", "on", str(pid)], check=True,
                           capture_output=True)

    def zero(self):
        for pid in self.procs.values():
            subprocess.run(["callgrind_control", "-z", str(pid)], check=True,
                           capture_output=True)

    def dump(self, tag):
        for pid in self.procs.values():
            subprocess.run(["callgrind_control", "-d", tag, str(pid)], check=True,
                           capture_output=True)
        return {name: self._total(pid, tag) for name, pid in self.procs.items()}

    def _total(self, pid, tag):
        """The instruction total of pid's dump tagged tag (callgrind
        writes it a moment after the request)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for f in self.logdir.glob(f"*.callgrind.{pid}.*"):
                text = f.read_text(errors="replace")
                m = re.search(r"^totals:\s+(\d+)", text, re.M)
                if f"\ndesc: Trigger: dump {tag}\n" in text and m:
                    return int(m.group(1))
            time.sleep(0.2)
        raise RuntimeError(f"no callgrind dump {tag} of pid {pid}")


def wait_passes_settled(port, quiet):
    """The pass counter once it has not moved for `quiet` seconds (at most
    5 x quiet); returns (first value, last value)."""
    first = last = passes(port)
    since, end = time.monotonic(), time.monotonic() + 5 * quiet
    while time.monotonic() < end:
        time.sleep(0.1)
        v = passes(port)
        if v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return first, last


# ---------------------------------------------------------------------------
# churn


class Api:
    """One persistent HTTPS connection to the API server, admin token."""

    def __init__(self, plane):
        u = urllib.parse.urlsplit(plane.url)
        self.host, self.port = u.hostname, u.port
        self.ctx = plane._ssl()
        self.hdr = {"Authorization": f"Bearer {plane.admin_token}", "Accept": "application/json"}
        self.conn = None

    def request(self, method, path, body=None, ctype="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                        timeout=60)
            try:
                h = dict(self.hdr)
                if data is not None:
                    h["Content-Type"] = ctype
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        return None, b""


def ingress_ips(obj):
    """The addresses in a Service's status."""
    return [i.get("ip") for i in ((obj.get("status") or {}).get("loadBalancer") or {}).get(
        "ingress") or [] if i.get("ip")]


def l2status_service(obj):
    """A ServiceL2Status naming interfaces: [its Service's name]."""
    st = obj.get("status") or {}
    name = ((obj.get("metadata") or {}).get("labels") or {}).get("metallb.io/service-name")
    return [name] if name and st.get("interfaces") else []


class Watcher:
    """Watch a collection (default: the Services of namespace default)
    from resourceVersion rv; the first time each key keys(object) names is
    seen (default: the addresses of a Service's status)."""

    def __init__(self, plane, rv, path="/api/v1/namespaces/default/services",
                 keys=ingress_ips):
        self.api = Api(plane)
        self.rv = rv
        self.path, self.keys = path, keys
        self.first = {}
        self.events = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping:
            a = self.api
            conn = http.client.HTTPSConnection(a.host, a.port, context=a.ctx, timeout=3600)
            try:
                conn.request("GET", f"{self.path}?watch=1"
                             f"&resourceVersion={self.rv}", headers=a.hdr)
                r = conn.getresponse()
                while not self.stopping:
                    line = r.readline()
                    if not line:
                        break
                    now = time.time()
                    ev = json.loads(line)
                    obj = ev.get("object") or {}
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.rv = rv
                    self.events += 1
                    if ev.get("type") == "DELETED":
                        continue
                    for k in self.keys(obj):
                        if k not in self.first:
                            self.first[k] = now
            except (OSError, http.client.HTTPException, ValueError):
                time.sleep(0.1)
            finally:
                conn.close()

    def stop(self):
        self.stopping = True   # a daemon thread: it may sit in readline()
        self.thread.join(1)


class Sampler:
    """The pass counters of the controller and the speaker every
    `interval` seconds: [(time, controller, speaker)]."""

    def __init__(self, ports, interval):
        self.ports, self.interval = ports, interval
        self.samples = []
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping:
            t = time.time()
            self.samples.append((t, *[passes(p) for p in self.ports]))
            time.sleep(max(0.0, self.interval - (time.time() - t)))

    def stop(self):
        self.stopping = True
        self.thread.join(10)

    def largest_gap(self, i, t_from, t_to):
        """Longest stretch in [t_from, t_to] without a change of counter i."""
        pts = [(s[0], s[i + 1]) for s in self.samples if s[i + 1] is not None]
        moved = [t_from] + [t for (t, v), (_, pv) in zip(pts[1:], pts) if v != pv and
                            t_from <= t <= t_to] + [t_to]
        return max(y - x for x, y in zip(moved, moved[1:]))


class Change:
    __slots__ = ("op", "name", "v4", "v6", "t", "status", "nxt")

    def __init__(self, op, name, v4=None, v6=None):
        self.op, self.name, self.v4, self.v6 = op, name, v4, v6
        self.t = self.status = self.nxt = None


def churn(plane, a, ports, cpu, cg=None, sample=True):
    """a.rate changes a second for a.churn_seconds; prints the figures and
    returns (changes sent, CPU before, CPU after, window seconds, the
    instructions of the daemons under callgrind cg in the window)."""
    import pipeline
    rng = random.Random(a.seed)
    # Short queues: when the API server cannot keep up, the loop waits
    # (and stops at its time bound) instead of piling up a backlog.
    queues = [queue.Queue(maxsize=4) for _ in range(a.workers)]
    changes = []

    def worker(q):
        api = Api(plane)
        base = "/api/v1/namespaces/default/services"
        while True:
            c = q.get()
            if c is None:
                return
            ips = f"{c.v4},{c.v6}" if c.v4 else None
            try:
                if c.op == "add":
                    st, _ = api.request("POST", base, svc(c.name, ips))
                elif c.op == "modify":
                    st, _ = api.request("PATCH", f"{base}/{c.name}",
                                        {"metadata": {"annotations": {
                                            "metallb.io/loadBalancerIPs": ips}}},
                                        "application/merge-patch+json")
                else:
                    st, _ = api.request("DELETE", f"{base}/{c.name}")
            except (OSError, http.client.HTTPException):
                st = None
            c.t, c.status = time.time(), st

    st, body = Api(plane).request("GET", "/api/v1/namespaces/default/services?limit=1")
    rv = json.loads(body)["metadata"]["resourceVersion"]
    watcher = Watcher(plane, rv)
    l2path = "/apis/metallb.io/v1beta1/namespaces/metallb-system/servicel2statuses"
    st, body = Api(plane).request("GET", f"{l2path}?limit=1")
    l2watch = Watcher(plane, json.loads(body)["metadata"]["resourceVersion"], l2path,
                      l2status_service)
    sampler = Sampler(ports, a.sample) if sample else None
    threads = [threading.Thread(target=worker, args=(q,), daemon=True) for q in queues]
    for t in threads:
        t.start()
    with pipeline.FirstSeen(None, "eth1") as sn:
        live, last, next_obj = [], {}, 0
        total = int(a.rate * a.churn_seconds)
        if cg:
            cg.zero()
        c0 = cpu.read()
        w0 = time.time()
        t_start = time.monotonic()
        hard_stop = t_start + 1.5 * a.churn_seconds
        for k in range(total):
            due = t_start + k / a.rate
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            elif now > hard_stop:
                break
            r = rng.random()
            if len(live) < 2 or (r < 0.4 and len(live) < a.churn_live):
                op, o = "add", next_obj
                next_obj += 1
                live.append(o)
            else:
                j = rng.randrange(len(live))
                o = live[j]
                op = "modify" if r < 0.7 else "delete"
                if op == "delete":
                    live[j] = live[-1]
                    live.pop()
            c = Change(op, f"churn-{o:06d}")
            if op != "delete":
                c.v4, c.v6 = str(CHURN4 + k), str(CHURN6 + k)
            try:
                queues[o % a.workers].put(c, timeout=max(0.01, hard_stop - time.monotonic()))
            except queue.Full:
                break              # never sent
            if o in last:
                last[o].nxt = c
            last[o] = c
            changes.append(c)
        for q in queues:
            q.put(None)
        for t in threads:
            t.join(120)
        took = time.monotonic() - t_start
        w1 = time.time()
        want = [c for c in changes if c.op != "delete" and c.status in (200, 201)]

        def settled():
            return all(c.v4 in watcher.first and sn.seen(c.v4) is not None
                       for c in want if c.nxt is None)
        end = time.monotonic() + a.settle
        while time.monotonic() < end and not settled():
            time.sleep(0.2)
        w2 = time.time()
        c1 = cpu.read()
        instr = cg.dump("churn") if cg else {}
        watcher.stop()
        l2watch.stop()
        if sampler:
            sampler.stop()
        drops = sn.drops()
        ops = {op: sum(1 for c in changes if c.op == op) for op in ("add", "modify", "delete")}
        out("churn_changes", len(changes))
        out("churn_add_modify_delete", f"{ops['add']} {ops['modify']} {ops['delete']}")
        out("churn_api_errors", sum(1 for c in changes if c.status not in (200, 201, 202)))
        out("churn_changes_per_s_achieved", f"{len(changes) / took:.0f}")
        out("churn_seconds", f"{took:.1f}")
        for who, seen in (("controller_ingress", lambda ip: watcher.first.get(ip)),
                          ("speaker_gratuitous_arp", sn.seen),
                          ("speaker_unsolicited_na", sn.seen)):
            delays, superseded, missing = [], 0, 0
            for c in want:
                ip = c.v6 if who.endswith("_na") else c.v4
                ts = seen(ip)
                if ts is not None and ts >= c.t - 0.5:
                    delays.append(max(0.0, ts - c.t) * 1000)
                elif c.nxt is not None:
                    superseded += 1
                else:
                    missing += 1
            out(f"churn_reflected_{who}", len(delays))
            out(f"churn_superseded_{who}", superseded)
            out(f"churn_not_reflected_{who}", missing)
            if delays:
                out(f"churn_to_{who}_p50_ms", f"{pct(delays, 50):.0f}")
                out(f"churn_to_{who}_p99_ms", f"{pct(delays, 99):.0f}")
                out(f"churn_to_{who}_max_ms", f"{max(delays):.0f}")
            v, by_delete, never = pipeline.state_delays(
                [c for c in changes if c.status in (200, 201, 202)], seen,
                6 if who.endswith("_na") else 4, slack=0.5)
            out(f"churn_state_reflected_{who}", len(v))
            out(f"churn_state_ended_by_delete_{who}", by_delete)
            out(f"churn_state_not_reflected_{who}", never)
            if v:
                out(f"churn_to_state_{who}_p50_ms", f"{pct(v, 50):.0f}")
                out(f"churn_to_state_{who}_p99_ms", f"{pct(v, 99):.0f}")
                out(f"churn_to_state_{who}_max_ms", f"{max(v):.0f}")
        # Per created Service: to both addresses in its status (the
        # controller), to a ServiceL2Status naming an interface (the
        # speaker; a Service's object is made once, so only creates count).
        both = lambda c: (max(watcher.first[c.v4], watcher.first[c.v6])
                          if c.v4 in watcher.first and c.v6 in watcher.first else None)
        for who, seen in (("controller_both_addresses", both),
                          ("speaker_l2status", lambda c: l2watch.first.get(c.name))):
            delays, superseded, missing = [], 0, 0
            for c in want:
                if c.op != "add":
                    continue
                ts = seen(c)
                if ts is not None:
                    delays.append(max(0.0, ts - c.t) * 1000)
                elif c.nxt is not None:
                    superseded += 1
                else:
                    missing += 1
            out(f"churn_creates_reflected_{who}", len(delays))
            out(f"churn_creates_superseded_{who}", superseded)
            out(f"churn_creates_not_reflected_{who}", missing)
            if delays:
                out(f"churn_create_to_{who}_p50_ms", f"{pct(delays, 50):.0f}")
                out(f"churn_create_to_{who}_p99_ms", f"{pct(delays, 99):.0f}")
                out(f"churn_create_to_{who}_max_ms", f"{max(delays):.0f}")
        out("churn_capture_drops", drops)
        out("churn_watch_events", watcher.events)
        for i, who in enumerate(("controller", "speaker") if sampler else ()):
            s = [x[i + 1] for x in sampler.samples if x[i + 1] is not None and w0 <= x[0] <= w2]
            if len(s) >= 2:
                out(f"churn_{who}_passes", f"{s[-1] - s[0]:.0f}")
                whole = status_field(ports[i], "whole_passes")
                out(f"churn_{who}_whole_passes_total", whole)
                out(f"churn_{who}_largest_gap_between_passes_ms",
                    f"{sampler.largest_gap(i, w0, w1) * 1000:.0f}")
        out("churn_pass_sampling_ms", f"{a.sample * 1000:.0f}")
        # From the first change sent to every change reflected (or the
        # settle bound): what each process spent on the churn.
        out("churn_cpu_window_s", f"{w2 - w0:.1f}")
        cpu.report("churn", c0, c1, w2 - w0, len(changes))
        return len(changes), c0, c1, w2 - w0, instr


def per_change(plane, a, ports, cpu, daemons, logdir):
    """The churn, after an idle window of --idle-seconds with nothing
    changing; what each process spends per change net of idling:
    (spent in the churn - idle rate x churn window) / changes.  CPU from
    /proc; instructions when the daemons run under callgrind."""
    cg = Callgrind(daemons, logdir) if a.callgrind else None
    idle_s, i0 = a.idle_seconds, {}
    if idle_s:
        if cg:
            cg.zero()
        i0 = cpu.read()
        time.sleep(idle_s)
        i1 = cpu.read()
        idle_instr = cg.dump("idle") if cg else {}
    # No /metrics sampling: a scrape costs the daemon more than a change
    # (it renders every address's series), and how many scrapes it
    # answers depends on how busy it is.
    p0 = [passes(port) for port in ports]
    n, c0, c1, window, instr = churn(plane, a, ports, cpu, cg, sample=False)
    if not n:
        return
    for who, port, before in zip(("controller", "speaker"), ports, p0):
        after = passes(port)
        if None not in (before, after):
            out(f"churn_{who}_passes", f"{after - before:.0f}")
    for name in cpu.procs:
        if None in (c0.get(name), c1.get(name)):
            continue
        rate = (i1[name] - i0[name]) / idle_s if idle_s and i0.get(name) is not None else 0
        if not cg:
            out(f"idle_cpu_busy_pct_{name}", f"{100 * rate:.1f}")
            out(f"churn_net_cpu_ms_per_change_{name}",
                f"{1000 * ((c1[name] - c0[name]) - rate * window) / n:.3f}")
            # Of that, the kernel's (system calls: sockets, TLS records):
            # what an instruction count of the process does not see.
            srate = ((i1.system[name] - i0.system[name]) / idle_s
                     if idle_s and i0.system.get(name) is not None else 0)
            out(f"churn_net_cpu_system_ms_per_change_{name}",
                f"{1000 * ((c1.system[name] - c0.system[name]) - srate * window) / n:.3f}")
    for name, total in instr.items():
        rate = idle_instr[name] / idle_s if idle_s else 0
        out(f"idle_instructions_per_s_{name}", f"{rate:.0f}")
        out(f"churn_instructions_{name}", total)
        out(f"churn_instructions_per_change_{name}", f"{(total - rate * window) / n:.0f}")


def create_services(plane, names, workers):
    """POST the Services from `workers` connections (kubectl apply reads
    each object before writing it: minutes for 10,000)."""
    errors = []

    def work(part):
        api = Api(plane)
        for name in part:
            # An API server that falls behind answers 504 (its own request
            # timeout) or 429: try again after a pause (409 then means an
            # earlier try got through).
            for attempt in range(6):
                st, body = api.request("POST", "/api/v1/namespaces/default/services",
                                       svc(name))
                if st not in (429, 500, 503, 504):
                    break
                time.sleep(2 ** attempt)
            if st not in (201, 409):
                errors.append(f"{name}: {st} {body[:200]!r}")
    ts = [threading.Thread(target=work, args=(names[i::workers],)) for i in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"creating Services: {len(errors)} failed, e.g. {errors[0]}")


def run(n, binary, a):
    import controlplane as cpmod
    logdir = pathlib.Path(a.logdir)
    out("services", n)
    with cpmod.ControlPlane(cpmod.find_binaries(), extra_apiserver_args=a.apiserver_arg) as p:
        out("control_plane_dir", p.dir)
        out("apiserver_args", " ".join(a.apiserver_arg) or "(defaults)")
        p.kubectl("apply", "-f", str(ROOT / "deploy" / "ironlb.yaml"))
        cpmod.wait_until(lambda: p.kubectl("get", "ipaddresspools.metallb.io", "-A",
                                           check=False).returncode == 0, timeout=60)
        p.apply(CONFIG)
        t = time.monotonic()
        create_services(p, [f"s{i}" for i in range(n)], a.workers)
        took = time.monotonic() - t
        print(f"# {n} Services created in {took:.0f} s", file=sys.stderr, flush=True)
        out("create_services_per_s", f"{n / took:.0f}")
        procs = []
        cport, sport = cpmod.free_ports(2)
        try:
            t0 = time.monotonic()
            ctl = start_daemon(binary, "controller", p, cport, logdir, callgrind=a.callgrind)
            procs.append(ctl)
            cpu = Cpu({"apiserver": p._apiserver.popen.pid, "etcd": p._etcd.popen.pid,
                       "controller": ctl.pid, "loadgen": None})
            cs0 = cpu.read()

            def all_ingress():
                r = p.kubectl("get", "svc", "-n", "default", "-o",
                              "jsonpath={range .items[*]}{.status.loadBalancer.ingress[1].ip}{\"\\n\"}{end}",
                              timeout=120)
                return sum(1 for line in r.stdout.splitlines() if line.strip()) >= n

            cpmod.wait_until(all_ingress, timeout=1200, what="every Service has two addresses")
            out("controller_all_ingress_s", round(time.monotonic() - t0, 2))
            done, settled = wait_passes_settled(cport, a.quiet)
            out("controller_passes_to_all_ingress", f"{done:.0f}" if done is not None else None)
            if done is not None and settled is not None:
                out("controller_passes_after_done", f"{settled - done:.0f}")
            out("controller_own_writes_seen", f"{metric(cport, 'ironlb_reconcile_own_writes_total') or 0:.0f}")
            out("controller_whole_passes", status_field(cport, "whole_passes"))
            cpu.report("controller_start", cs0, cpu.read(), time.monotonic() - t0, 0)
            t1 = time.monotonic()
            spk = start_daemon(binary, "speaker", p, sport, logdir,
                               ["--node-name", "node-a"], callgrind=a.callgrind)
            procs.append(spk)
            cpu.procs["speaker"] = spk.pid
            cs1 = cpu.read()
            cpmod.wait_until(lambda: count(p, "servicel2statuses", "-n", "metallb-system") >= n,
                             timeout=1200, what="a ServiceL2Status per Service")
            out("speaker_all_l2status_s", round(time.monotonic() - t1, 2))
            done, settled = wait_passes_settled(sport, a.quiet)
            out("speaker_passes_to_all_l2status", f"{done:.0f}" if done is not None else None)
            if done is not None and settled is not None:
                out("speaker_passes_after_done", f"{settled - done:.0f}")
            out("speaker_own_writes_seen", f"{metric(sport, 'ironlb_reconcile_own_writes_total') or 0:.0f}")
            out("speaker_whole_passes", status_field(sport, "whole_passes"))
            cpu.report("speaker_start", cs1, cpu.read(), time.monotonic() - t1, 0)
            out("controller_passes_after_speaker_done", f"{passes(cport) or 0:.0f} (total)")
            out("controller_rss_kib", mem(ctl.pid)[0])
            out("controller_hwm_kib", mem(ctl.pid)[1])
            out("speaker_rss_kib", mem(spk.pid)[0])
            out("speaker_hwm_kib", mem(spk.pid)[1])
            out_smaps("controller", ctl.pid)
            out_smaps("speaker", spk.pid)
            # Where it goes (/status; absent from older binaries).
            for who, port in (("controller", cport), ("speaker", sport)):
                for f in ("stored_objects", "stored_bytes", "heap_in_use_bytes",
                          "heap_free_bytes"):
                    out(f"{who}_{f}", status_field(port, f))
            if a.churn_seconds:
                per_change(p, a, (cport, sport), cpu, {"controller": ctl.pid,
                                                       "speaker": spk.pid}, logdir)
        finally:
            for pr in procs:
                if pr.poll() is None:
                    pr.terminate()
                    try:
                        pr.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        pr.kill()


def api_ceiling(a):
    """How many Service changes a second the API server itself takes, with
    no controller or speaker running: for each count of connections in
    --ceiling-workers, that many threads (one keep-alive connection each)
    send changes back to back for --api-ceiling seconds (the churn's mix:
    create a Service with fixed addresses, change them, delete it, on
    Services of their own).  Prints the rate, the latency of a request and
    the CPU the API server, etcd and this load generator spent per change,
    so that whoever is saturated shows (busy near 100% of a core, or the
    machine's idle time gone)."""
    import controlplane as cpmod
    with cpmod.ControlPlane(cpmod.find_binaries(), extra_apiserver_args=a.apiserver_arg) as p:
        p.kubectl("apply", "-f", str(ROOT / "deploy" / "ironlb.yaml"))
        cpmod.wait_until(lambda: p.kubectl("get", "ipaddresspools.metallb.io", "-A",
                                           check=False).returncode == 0, timeout=60)
        p.apply(CONFIG)
        cpu = Cpu({"apiserver": p._apiserver.popen.pid, "etcd": p._etcd.popen.pid,
                   "loadgen": None})
        base = "/api/v1/namespaces/default/services"
        seq = [0]
        lock = threading.Lock()
        for nw in a.ceiling_workers:
            lat, stop = [], [False]

            def work(w):
                api, rng, mine = Api(p), random.Random(w), []
                while not stop[0]:
                    with lock:
                        k = seq[0]
                        seq[0] += 1
                    ips = f"{CHURN4 + k},{CHURN6 + k}"
                    r = rng.random()
                    t = time.monotonic()
                    if len(mine) < 2 or (r < 0.4 and len(mine) < 20):
                        name = f"ceil-{w}-{k}"
                        st, _ = api.request("POST", base, svc(name, ips))
                        mine.append(name)
                    elif r < 0.7:
                        st, _ = api.request("PATCH", f"{base}/{rng.choice(mine)}",
                                            {"metadata": {"annotations": {
                                                "metallb.io/loadBalancerIPs": ips}}},
                                            "application/merge-patch+json")
                    else:
                        name = mine.pop(rng.randrange(len(mine)))
                        st, _ = api.request("DELETE", f"{base}/{name}")
                    if st in (200, 201, 202):
                        lat.append((time.monotonic() - t) * 1000)
            ts = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(nw)]
            c0, t0 = cpu.read(), time.monotonic()
            stat0 = open("/proc/stat").readline().split()
            for t in ts:
                t.start()
            time.sleep(a.api_ceiling)
            stop[0] = True
            for t in ts:
                t.join(60)
            wall = time.monotonic() - t0
            c1 = cpu.read()
            stat1 = open("/proc/stat").readline().split()
            key = f"api_ceiling_{nw}_conns"
            out(f"{key}_changes_per_s", f"{len(lat) / wall:.0f}")
            if lat:
                out(f"{key}_request_p50_ms", f"{pct(lat, 50):.0f}")
                out(f"{key}_request_p99_ms", f"{pct(lat, 99):.0f}")
            # The machine: the share of its CPU time that was idle.
            tot = [int(y) - int(x) for x, y in zip(stat0[1:], stat1[1:])]
            out(f"{key}_machine_idle_pct", f"{100 * (tot[3] + tot[4]) / max(1, sum(tot)):.0f}")
            cpu.report(key, c0, c1, wall, len(lat))


def idle(binary, a):
    import controlplane as cpmod
    with cpmod.ControlPlane(cpmod.find_binaries()) as p:
        p.kubectl("apply", "-f", str(ROOT / "deploy" / "ironlb.yaml"))
        cpmod.wait_until(lambda: p.kubectl("get", "ipaddresspools.metallb.io", "-A",
                                           check=False).returncode == 0, timeout=60)
        p.apply(CONFIG)
        spk = subprocess.Popen([binary, "speaker", "--node-name", "node-a", "--kubeconfig",
                                str(p.kubeconfig), "--metrics-listen", "127.0.0.1:0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            cpmod.wait_until(lambda: count(p, "configurationstates", "-n",
                                           "metallb-system") >= 1, timeout=60)
            time.sleep(2)
            out("idle_rss_kib", mem(spk.pid)[0])
            out_smaps("idle", spk.pid)
        finally:
            spk.terminate()
            spk.wait(timeout=10)


FANOUT_CONFIG = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bench, namespace: metallb-system}
spec: {addresses: [10.0.0.0/12, "2001:db8::/64"]}
"""


def api_load(plane):
    """What the API server has served so far, from its own /metrics:
    requests by verb (LIST, WATCH, writes), watches open now, watch events
    and their bytes by kind, and the bytes of LIST answers."""
    got = {"requests": {}, "watches_open": 0.0, "events": {}, "event_bytes": {},
           "list_bytes": 0.0}
    text = plane.kubectl("get", "--raw", "/metrics", timeout=120).stdout
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name_labels, value = line.rsplit(" ", 1)
        name, _, labels = name_labels.partition("{")
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        v = float(value)
        if name == "apiserver_request_total":
            verb = lab.get("verb", "")
            got["requests"][verb] = got["requests"].get(verb, 0.0) + v
        elif name == "apiserver_longrunning_requests" and lab.get("verb") == "WATCH":
            got["watches_open"] += v
        elif name == "apiserver_watch_events_total":
            k = lab.get("kind", lab.get("resource", "?"))
            got["events"][k] = got["events"].get(k, 0.0) + v
        elif name == "apiserver_watch_events_sizes_sum":
            k = lab.get("kind", lab.get("resource", "?"))
            got["event_bytes"][k] = got["event_bytes"].get(k, 0.0) + v
        elif name == "apiserver_response_sizes_sum" and lab.get("verb") == "LIST":
            got["list_bytes"] += v
    return got


def report_load(key, before, after, nchanges=0):
    for verb in sorted(set(after["requests"]) | set(before["requests"])):
        d = after["requests"].get(verb, 0) - before["requests"].get(verb, 0)
        if d:
            out(f"{key}_requests_{verb.lower()}", f"{d:.0f}")
    out(f"{key}_watches_open", f"{after['watches_open']:.0f}")
    out(f"{key}_list_mib", f"{(after['list_bytes'] - before['list_bytes']) / 2**20:.1f}")
    for kind in sorted(set(after["events"])):
        ev = after["events"][kind] - before["events"].get(kind, 0)
        by = after["event_bytes"].get(kind, 0) - before["event_bytes"].get(kind, 0)
        if ev:
            out(f"{key}_watch_events_{kind}", f"{ev:.0f}")
            out(f"{key}_watch_mib_{kind}", f"{by / 2**20:.2f}")
            out(f"{key}_watch_bytes_per_event_{kind}", f"{by / ev:.0f}")
            if nchanges:
                out(f"{key}_watch_events_per_change_{kind}", f"{ev / nchanges:.1f}")


def fanout(a):
    """--speakers K: K speakers (one per Node object node-0.., nothing to
    announce: an IPAddressPool without advertisements, no BGP listener)
    against one API server holding -n LoadBalancer Services, to measure
    what the watch fan-out costs the API server and each speaker: the
    start of all K into the Services, then --fanout-seconds of churn at
    --fanout-rate changes a second (a LoadBalancer Service created and an
    older one deleted), then the same churn of ClusterIP Services, which
    a speaker does not watch (spec.type selector).  Prints the API
    server's and etcd's CPU, requests by verb, watches open, watch events
    and bytes by kind, bytes of LIST answers, and the speakers' RSS."""
    import controlplane as cpmod
    logdir = pathlib.Path(a.logdir)
    k, n = a.speakers, a.n
    out("speakers", k)
    out("services", n)
    with cpmod.ControlPlane(cpmod.find_binaries(), extra_apiserver_args=a.apiserver_arg) as p:
        p.kubectl("apply", "-f", str(ROOT / "deploy" / "ironlb.yaml"))
        cpmod.wait_until(lambda: p.kubectl("get", "ipaddresspools.metallb.io", "-A",
                                           check=False).returncode == 0, timeout=60)
        p.apply(FANOUT_CONFIG)
        p.apply("\n---\n".join(f"apiVersion: v1\nkind: Node\nmetadata: {{name: node-{i}}}"
                                for i in range(k)))
        t = time.monotonic()
        create_services(p, [f"s{i}" for i in range(n)], a.workers)
        out("create_services_s", round(time.monotonic() - t, 1))
        cpu = Cpu({"apiserver": p._apiserver.popen.pid, "etcd": p._etcd.popen.pid})
        ports = cpmod.free_ports(2 * k)
        procs = []
        try:
            l0, c0, t0 = api_load(p), cpu.read(), time.monotonic()
            for i in range(k):
                procs.append(start_daemon(a.bin[0], "speaker", p, ports[i], logdir,
                                          ["--node-name", f"node-{i}", "--bgp-port", "0",
                                           "--member-port", str(ports[k + i])]))

            def healthy(port):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                                timeout=5) as r:
                        return r.status == 200
                except OSError:
                    return False

            cpmod.wait_until(lambda: all(healthy(ports[i]) for i in range(k)), timeout=1200,
                             what="every speaker synced")
            wall = time.monotonic() - t0
            out("start_all_synced_s", round(wall, 1))
            cpu.report("start", c0, cpu.read(), wall, 0)
            report_load("start", l0, api_load(p))
            rss = sorted(mem(pr.pid)[0] for pr in procs)
            out("speaker_rss_kib_median", rss[len(rss) // 2])
            out("speaker_rss_kib_max", rss[-1])
            api = Api(p)
            for phase, extra in (("churn_lb", {}),
                                 ("churn_clusterip", {"type": "ClusterIP",
                                                      "allocateLoadBalancerNodePorts": None})):
                l1, c1, t1 = api_load(p), cpu.read(), time.monotonic()
                made, changes = [], 0
                period = 1.0 / a.fanout_rate
                nxt = t1
                while time.monotonic() - t1 < a.fanout_seconds:
                    name = f"{phase.replace('_', '-')}-{changes}"
                    body = svc(name)
                    body["spec"].update({k2: v for k2, v in extra.items() if v is not None})
                    for k2, v in extra.items():
                        if v is None:
                            body["spec"].pop(k2, None)
                    if changes % 2 == 0 or not made:
                        api.request("POST", "/api/v1/namespaces/default/services", body)
                        made.append(name)
                    else:
                        api.request("DELETE",
                                    f"/api/v1/namespaces/default/services/{made.pop(0)}")
                    changes += 1
                    nxt += period
                    time.sleep(max(0.0, nxt - time.monotonic()))
                # every watcher has had its events (bounded): the counts settle
                last = None
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    cur = api_load(p)["events"].get("Service", 0)
                    if cur == last:
                        break
                    last = cur
                    time.sleep(1)
                wall = time.monotonic() - t1
                out(f"{phase}_changes", changes)
                cpu.report(phase, c1, cpu.read(), wall, changes)
                report_load(phase, l1, api_load(p), changes)
                for name in made:
                    api.request("DELETE", f"/api/v1/namespaces/default/services/{name}")
            rss = sorted(mem(pr.pid)[0] for pr in procs)
            out("speaker_rss_kib_median_end", rss[len(rss) // 2])
        finally:
            for pr in procs:
                if pr.poll() is None:
                    pr.terminate()
            for pr in procs:
                try:
                    pr.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pr.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--bin", action="append", metavar="[LABEL=]PATH",
                    help="an ironlb-k8s binary (repeat for several; default "
                         "$IRONLB_K8S_BIN or build/ironlb-k8s)")
    ap.add_argument("--old", metavar="PATH")
    ap.add_argument("--new", metavar="PATH")
    ap.add_argument("--old-rev", metavar="REV", help="build this revision, measure it as old")
    ap.add_argument("--quiet", type=float, default=3.0,
                    help="seconds without a pass that mean settled")
    ap.add_argument("--no-idle", action="store_true", help="skip the idle RSS measure")
    ap.add_argument("--churn-seconds", type=float, default=0.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--churn-live", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--settle", type=float, default=60.0)
    ap.add_argument("--idle-seconds", type=float, default=0.0,
                    help="before the churn, measure this long with nothing changing, and "
                         "print what the churn cost per change net of idling")
    ap.add_argument("--callgrind", action="store_true",
                    help="run the controller and the speaker under valgrind's callgrind "
                         "and print instructions per change (dumps kept in the log "
                         "directory)")
    ap.add_argument("--sample", type=float, default=0.2)
    ap.add_argument("--apiserver-arg", action="append", default=None, metavar="ARG",
                    help="an extra kube-apiserver flag (repeat; default: "
                         "--max-mutating-requests-inflight=1000 "
                         "--max-requests-inflight=2000; 'none' for none)")
    ap.add_argument("--api-ceiling", type=float, default=0.0, metavar="SECONDS",
                    help="measure the API server's own ceiling for this long per "
                         "--ceiling-workers count (no controller or speaker) instead")
    ap.add_argument("--ceiling-workers", type=lambda v: [int(x) for x in v.split(",")],
                    default=[16, 64, 256], metavar="N,N,...")
    ap.add_argument("--tmpdir", default="/dev/shm",
                    help="where the control plane's directory (etcd's data) goes: "
                         "tmpfs by default, so that etcd waits for no disk")
    ap.add_argument("--speakers", type=int, default=0, metavar="K",
                    help="measure the watch fan-out instead: K speakers, -n Services "
                         "(see fanout())")
    ap.add_argument("--fanout-seconds", type=float, default=30.0)
    ap.add_argument("--fanout-rate", type=float, default=10.0)
    ap.add_argument("--compare", action="store_true",
                    help="run ironlb and MetalLB (bench/metallb/build.sh) side by side, "
                         "each on a fresh control plane, interleaved, and print one table "
                         "(bench/k8s_compare.py)")
    ap.add_argument("--reps", type=int, default=3, help="--compare: runs per implementation")
    ap.add_argument("--compare-rate", type=float, default=5.0, metavar="PER_S",
                    help="--compare: Services created (and as many deleted) per second "
                         "during the churn")
    ap.add_argument("--compare-churn-seconds", type=float, default=60.0,
                    help="--compare: how long the churn runs (0: none)")
    ap.add_argument("--compare-burst", type=int, default=0, metavar="B",
                    help="--compare: Services created in the burst (default: -n)")
    ap.add_argument("--bound", type=float, default=600.0,
                    help="--compare: the longest any one wait may take, in seconds")
    ap.add_argument("--label", default="ironlb", help=argparse.SUPPRESS)
    ap.add_argument("--logdir", help=argparse.SUPPRESS)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.apiserver_arg is None:
        a.apiserver_arg = ["--max-mutating-requests-inflight=1000",
                           "--max-requests-inflight=2000"]
    a.apiserver_arg = [x for x in a.apiserver_arg if x != "none"]
    if a.inside:
        if a.tmpdir:
            import tempfile
            tempfile.tempdir = a.tmpdir
        if a.api_ceiling:
            api_ceiling(a)
            return
        if a.speakers:
            a.bin[0] = os.path.abspath(a.bin[0])
            fanout(a)
            return
        LABEL[0] = a.label
        binary = os.path.abspath(a.bin[0])
        if not a.no_idle:
            idle(binary, a)
        run(a.n, binary, a)
        return
    if os.geteuid() != 0:
        sys.exit("bench/k8s.py needs root (a network namespace of its own)")
    if a.compare:
        import k8s_compare
        a.churn_seconds = a.compare_churn_seconds
        sys.exit(k8s_compare.compare_main(a, os.path.abspath(
            (a.bin or [os.environ.get("IRONLB_K8S_BIN", str(ROOT / "build" / "ironlb-k8s"))])[0]
            .split("=", 1)[-1])))
    import pipeline
    keep = []
    default = os.environ.get("IRONLB_K8S_BIN", str(ROOT / "build" / "ironlb-k8s"))
    try:
        bins = pipeline.binaries(a, default, keep)
        logdir = pathlib.Path(pipeline.tempfile.mkdtemp(prefix="ironlb-bench-k8s-"))
        print(f"logs: {logdir}", flush=True)
        rc = 0
        for label, binary in bins:
            print(f"{label}_binary: {binary}", flush=True)
            rc |= inside(a, label, binary, logdir)
        sys.exit(rc)
    finally:
        for d in keep:
            pipeline.shutil.rmtree(d, ignore_errors=True)


def inside(a, label, binary, logdir):
    """Run the measures of one binary in a fresh namespace; returns the
    exit code."""
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
                    ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "eth1", "up"]):
            subprocess.run(["ip", "netns", "exec", NETNS, *cmd], check=True)
        args = [sys.executable, __file__, "--inside", "-n", str(a.n), "--bin", binary,
                "--label", label, "--logdir", str(logdir), "--quiet", str(a.quiet),
                "--churn-seconds", str(a.churn_seconds), "--rate", str(a.rate),
                "--churn-live", str(a.churn_live), "--workers", str(a.workers),
                "--seed", str(a.seed), "--settle", str(a.settle), "--sample", str(a.sample),
                "--idle-seconds", str(a.idle_seconds),
                "--tmpdir", a.tmpdir, "--api-ceiling", str(a.api_ceiling),
                "--ceiling-workers", ",".join(str(x) for x in a.ceiling_workers),
                "--speakers", str(a.speakers), "--fanout-seconds", str(a.fanout_seconds),
                "--fanout-rate", str(a.fanout_rate)]
        args += [f"--apiserver-arg={x}" for x in a.apiserver_arg] or ["--apiserver-arg=none"]
        if a.no_idle:
            args.append("--no-idle")
        if a.callgrind:
            args.append("--callgrind")
        return subprocess.run(["ip", "netns", "exec", NETNS, *args]).returncode
    finally:
        netns_del(NETNS)


def netns_del(name):
    """Kill what still runs in network namespace name, then remove it."""
    for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                              text=True).stdout.split():
        try:
            os.kill(int(pid), 9)
        except OSError:
            pass
    subprocess.run(["ip", "netns", "del", name])


if __name__ == "__main__":
    main()
