#!/usr/bin/env python3
"""ironlb beside MetalLB in Kubernetes mode (bench/k8s.py --compare).

Each run is one implementation (ironlb's controller and speaker, or
MetalLB's, built by bench/metallb/build.sh) against a fresh etcd and
kube-apiserver (tests/k8s/controlplane.py) in a network namespace of its
own; runs alternate between the two, --reps times, and one table of
medians (with min-max across runs) is printed at the end.

One run, in order (every wait bounded by --bound seconds; a wait that runs
out records how far it got and the run goes on):
  idle      controller and speaker with nothing but one probe Service:
            resident memory (VmRSS) once it is addressed and announced;
  start     N RequireDualStack LoadBalancer Services, each with a ready
            EndpointSlice on node-a (MetalLB's speaker announces only a
            Service with a ready endpoint; ironlb gets the same objects),
            created with nothing running; then the controller starts:
            seconds until every Service holds both addresses in its status;
  restart   the controller stopped and started again: seconds until a
            Service created right after the start holds both addresses,
            and the writes the API server took until none came for 3 s;
  speaker   the speaker starts into the N Services: seconds until each has
            a ServiceL2Status naming the node, and whether an ARP request
            and a neighbour solicitation sent from a client namespace (the
            veth's other end) for three sampled Services are answered;
  churn     --compare-rate Services created and as many deleted per second
            for --churn-seconds (default 60) with N present: p50/p99 from
            the API's answer to a create to both addresses in the status
            (controller) and to its ServiceL2Status (speaker); "keeps up"
            when every created Service got there within the bound and at
            most 2 s of creations were still waiting when the churn ended;
  burst     --compare-burst (default N) more Services (and slices) created back to back by --workers
            connections: seconds until all hold both addresses and all are
            announced.
A wait that runs out shows in the table as how far it got ("not reached
in 600 s: 7,512 of 10,000"); a run that ends part way (its process killed, a crash)
keeps the phases it finished, and the table says after which it stopped.
Per phase: the CPU seconds of the controller and the speaker
(/proc/PID/stat), their VmRSS after it, and the API requests of the phase
by verb and resource, the difference of the API server's own
apiserver_request_total before and after (the benchmark's own requests are
in it: its watches, and in churn and burst its creates and deletes)."""
import http.client
import ipaddress
import json
import os
import pathlib
import queue
import statistics
import subprocess
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "k8s"))
sys.path.insert(0, str(HERE))
import k8s as kb  # noqa: E402  (Api, svc, pct, cpu_s, mem, Watcher, CONFIG)

NS = "metallb-system"
L2PATH = f"/apis/metallb.io/v1beta1/namespaces/{NS}/servicel2statuses"
SVCPATH = "/api/v1/namespaces/default/services"
SLICEPATH = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
NODE_ADDR4, CLIENT_ADDR4 = "192.168.77.1/24", "192.168.77.2/24"
WRITES = ("POST", "PUT", "PATCH", "DELETE", "APPLY")


# ---------------------------------------------------------------------------
# the two implementations


class Ironlb:
    name = "ironlb"

    def __init__(self, binary):
        self.binary = binary

    def setup(self, p):
        p.kubectl("apply", "-f", str(ROOT / "deploy" / "ironlb.yaml"))

    def controller(self, p, port):
        return [self.binary, "controller", "--kubeconfig", str(p.kubeconfig),
                "--metrics-listen", f"127.0.0.1:{port}"], {}

    def speaker(self, p, port):
        return [self.binary, "speaker", "--node-name", "node-a", "--kubeconfig",
                str(p.kubeconfig), "--metrics-listen", f"127.0.0.1:{port}"], {}


class Metallb:
    """MetalLB out of cluster: its CRDs from the module, placeholder Pods
    (both daemons read their own Pod at start for owner references and exit
    without it), no webhooks, metrics off (--port=0), memberlist off (no
    --ml-bindaddr: every node with a matching advertisement is a candidate,
    here the one node)."""
    name = "metallb"

    def __init__(self, controller, speaker, module):
        self.ctl, self.spk, self.module = controller, speaker, pathlib.Path(module)

    def setup(self, p):
        p.kubectl("create", "namespace", NS)
        p.kubectl("apply", "--server-side", "-f", str(self.module / "config" / "crd" / "bases"))
        for pod in ("metallb-controller", "metallb-speaker"):
            p.apply({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": pod, "namespace": NS},
                     "spec": {"containers": [{"name": "x", "image": "none"}]}})

    def controller(self, p, port):
        return [self.ctl, "--namespace", NS, "--pod-name", "metallb-controller",
                "--webhook-mode=disabled", "--disable-cert-rotation", "--port=0",
                f"--health-probe-port={port}"], {"KUBECONFIG": str(p.kubeconfig)}

    def speaker(self, p, port):
        return [self.spk, "--namespace", NS, "--node-name", "node-a", "--pod-name",
                "metallb-speaker", "--port=0", f"--health-probe-port={port}"], \
            {"KUBECONFIG": str(p.kubeconfig)}


# ---------------------------------------------------------------------------
# helpers


class Daemon:
    def __init__(self, argv, env, log):
        self.f = open(log, "ab")
        self.p = subprocess.Popen(argv, env={**os.environ, **env}, stdout=self.f,
                                  stderr=subprocess.STDOUT)
        self.pid = self.p.pid

    def cpu(self):
        return kb.cpu_s(self.pid) or 0.0

    def rss_kib(self):
        return kb.mem(self.pid)[0] if self.p.poll() is None else None

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        self.f.close()


def service_addressed(obj):
    """[name] once a Service's status holds two addresses."""
    return [obj["metadata"]["name"]] if len(kb.ingress_ips(obj)) >= 2 else []


def l2_announced(obj):
    """[service name] once a ServiceL2Status names a node."""
    st = obj.get("status") or {}
    name = ((obj.get("metadata") or {}).get("labels") or {}).get("metallb.io/service-name")
    return [name] if name and (st.get("node") or st.get("interfaces")) else []


def list_rv(api, path):
    st, body = api.request("GET", f"{path}?limit=1")
    if st != 200:
        raise RuntimeError(f"GET {path}: {st} {body[:200]!r}")
    return json.loads(body)["metadata"]["resourceVersion"]


def requests_by(api):
    """{(verb, resource[/subresource]): count} from the API server's
    apiserver_request_total."""
    st, body = api.request("GET", "/metrics")
    tot = {}
    if st != 200:
        return tot
    for line in body.decode().splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels, value = line[len("apiserver_request_total{"):].rsplit("} ", 1)
        d = dict(kv.split("=", 1) for kv in labels.split('",') if "=" in kv)
        d = {k: v.strip('"') for k, v in d.items()}
        res = d.get("resource", "") + ("/" + d["subresource"] if d.get("subresource") else "")
        k = (d.get("verb", "?"), res)
        tot[k] = tot.get(k, 0) + float(value)
    return tot


def diff(after, before):
    return {k: int(v - before.get(k, 0)) for k, v in after.items()
            if int(v - before.get(k, 0)) > 0}


def summary(reqs):
    """'reads R, writes W; VERB resource count, ...' (largest first)."""
    w = sum(v for (verb, _), v in reqs.items() if verb in WRITES)
    r = sum(reqs.values()) - w
    top = sorted(reqs.items(), key=lambda kv: -kv[1])[:8]
    return {"reads": r, "writes": w,
            "top": ", ".join(f"{verb} {res} {v}" for (verb, res), v in top)}


def wait_count(have, n, bound):
    """Poll until have() >= n or the bound; returns have()."""
    deadline = time.monotonic() + bound
    delay = 0.05
    while have() < n and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    return have()


def slice_obj(name):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-1", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.0.10"], "conditions": {"ready": True},
                           "nodeName": "node-a"}],
            "ports": [{"name": "", "port": 80, "protocol": "TCP"}]}


def create(api, name):
    """An EndpointSlice, then its Service; the time of the Service's answer."""
    for path, body in ((SLICEPATH, slice_obj(name)), (SVCPATH, kb.svc(name))):
        st, out = api.request("POST", path, body)
        if st not in (200, 201, 202):
            raise RuntimeError(f"POST {path} {name}: {st} {out[:200]!r}")
    return time.time()


def delete(api, name):
    api.request("DELETE", f"{SVCPATH}/{name}")
    api.request("DELETE", f"{SLICEPATH}/{name}-1")


def create_many(p, names, workers):
    """Create names with `workers` connections; {name: time of answer}."""
    done, lock = {}, threading.Lock()

    def work(part):
        api = kb.Api(p)
        for nm in part:
            t = create(api, nm)
            with lock:
                done[nm] = t
    # daemon threads: a Ctrl-C ends the run instead of waiting for them
    ts = [threading.Thread(target=work, args=(names[i::workers],), daemon=True)
          for i in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return done


def neighbour_answers(client_ns, api, names):
    """ARP and NDP probes from the client namespace for the first address
    of each family of the Services names: (ARP answered, NDP answered)."""
    arp = ndp = 0
    for nm in names:
        st, body = api.request("GET", f"{SVCPATH}/{nm}")
        ips = kb.ingress_ips(json.loads(body)) if st == 200 else []
        for ip in ips:
            ex = ["ip", "netns", "exec", client_ns]
            if ipaddress.ip_address(ip).version == 4:
                arp += subprocess.run([*ex, "arping", "-c", "1", "-w", "3", "-I", "eth1", ip],
                                      capture_output=True, timeout=30).returncode == 0
                continue
            # The client kernel's own neighbour discovery: ndisc6 reported
            # no answer from MetalLB although its solicited advertisements
            # (Solicited set, Override not) were on the wire; the kernel
            # takes them, as a router or host on the link would.
            subprocess.run([*ex, "ping", "-6", "-c", "1", "-W", "3", ip], capture_output=True,
                           timeout=30)
            ndp += "lladdr" in subprocess.run([*ex, "ip", "-6", "neigh", "show", ip, "dev",
                                               "eth1"], capture_output=True, text=True,
                                              timeout=30).stdout
    return arp, ndp


# ---------------------------------------------------------------------------
# one run


def run_one(impl, n, a, logdir, client_ns, save=lambda r: None):
    """One run; save(r) after every phase, so that a run stopped part way
    (its process killed, a crash) still reports the phases it finished."""
    import controlplane as cpmod
    r = {"impl": impl.name, "n": n, "phase": "setup", "bound": a.bound}

    def done(phase):
        r["phase"] = phase
        save(r)
    tag = f"{impl.name}-{os.getpid()}"
    with cpmod.ControlPlane(cpmod.find_binaries(), extra_apiserver_args=a.apiserver_arg) as p:
        impl.setup(p)
        cpmod.wait_until(lambda: p.kubectl("get", "ipaddresspools.metallb.io", "-A",
                                           check=False).returncode == 0, timeout=60)
        p.apply(kb.CONFIG)
        api = kb.Api(p)
        cport, sport = cpmod.free_ports(2)

        def start(what):
            argv, env = (impl.controller if what == "controller" else impl.speaker)(
                p, cport if what == "controller" else sport)
            return Daemon(argv, env, logdir / f"{tag}-{what}.log")

        def watches():
            return (kb.Watcher(p, list_rv(api, SVCPATH), keys=service_addressed),
                    kb.Watcher(p, list_rv(api, L2PATH), path=L2PATH, keys=l2_announced))

        # idle: one probe Service, so that both daemons have done their start
        sw, lw = watches()
        ctl, spk = start("controller"), start("speaker")
        create(api, "idle-probe")
        got = (wait_count(lambda: len(sw.first), 1, a.bound),
               wait_count(lambda: len(lw.first), 1, a.bound))
        r["idle_ok"] = got == (1, 1)
        r["idle_rss_kib_controller"], r["idle_rss_kib_speaker"] = ctl.rss_kib(), spk.rss_kib()
        ctl.stop()
        spk.stop()
        sw.stop()
        lw.stop()
        delete(api, "idle-probe")
        done("idle")

        names = [f"s{i}" for i in range(n)]
        t = time.monotonic()
        create_many(p, names, a.workers)
        r["create_n_s"] = round(time.monotonic() - t, 1)
        done("create")

        # start: the controller into N Services without addresses
        def start_until(what, w, want, key, cpu_key):
            """Start `what`; wait until watch w has seen `want` keys; r[key_*]."""
            q0, t0 = requests_by(api), time.time()
            d = start(what)
            got = wait_count(lambda: len(w.first), want, a.bound)
            r[f"{key}_reached"] = got
            r[f"{key}_s"] = round(max(w.first.values()) - t0, 2) if got >= want else None
            r[cpu_key] = round(d.cpu(), 2)
            r[f"{key}_api"] = summary(diff(requests_by(api), q0))
            return d

        sw, lw = watches()
        ctl = start_until("controller", sw, n, "start", "start_cpu_s_controller")
        r["rss_kib_controller"] = ctl.rss_kib()
        done("start")

        # restart
        ctl.stop()
        q0 = requests_by(api)
        t0 = time.time()
        ctl = start("controller")
        create(api, "restart-probe")
        got = wait_count(lambda: "restart-probe" in sw.first, 1, a.bound)
        r["restart_s"] = round(sw.first["restart-probe"] - t0, 2) if got else None
        r["restart_writes"] = settle_writes(api, q0, a.bound) - 2   # the probe's two creates
        r["restart_cpu_s_controller"] = round(ctl.cpu(), 2)
        r["restart_api"] = summary(diff(requests_by(api), q0))
        done("restart")

        # speaker start
        spk = start_until("speaker", lw, n + 1, "speaker", "speaker_cpu_s")   # + the probe
        r["rss_kib_speaker"] = spk.rss_kib()
        r["rss_kib_controller_after_speaker"] = ctl.rss_kib()
        r["arp_answered"], r["ndp_answered"] = neighbour_answers(
            client_ns, api, [names[0], names[n // 2], names[-1]])
        r["arp_ndp_sampled"] = 3
        done("speaker")

        # churn
        if a.churn_seconds:
            churn(p, api, a, sw, lw, ctl, spk, names, r)
            done("churn")

        # burst
        c0, s0, q0 = ctl.cpu(), spk.cpu(), requests_by(api)
        nb = a.compare_burst or n
        bnames = [f"b{i}" for i in range(nb)]
        t0 = time.time()
        created = create_many(p, bnames, a.workers)
        r["burst_create_s"] = round(max(created.values()) - t0, 1)
        r["burst_n"] = nb
        got = wait_count(lambda: sum(1 for b in bnames if b in sw.first), nb, a.bound)
        r["burst_reached"] = got
        r["burst_s"] = round(max(sw.first[b] for b in bnames) - t0, 2) if got >= nb else None
        got = wait_count(lambda: sum(1 for b in bnames if b in lw.first), nb, a.bound)
        r["burst_announced_reached"] = got
        r["burst_announced_s"] = (round(max(lw.first[b] for b in bnames) - t0, 2)
                                  if got >= nb else None)
        r["burst_cpu_s_controller"] = round(ctl.cpu() - c0, 2)
        r["burst_cpu_s_speaker"] = round(spk.cpu() - s0, 2)
        r["burst_api"] = summary(diff(requests_by(api), q0))
        r["rss_kib_controller_2n"], r["rss_kib_speaker_2n"] = ctl.rss_kib(), spk.rss_kib()
        r["exited"] = [d for d, x in (("controller", ctl), ("speaker", spk))
                       if x.p.poll() is not None]
        for x in (ctl, spk):
            x.stop()
        sw.stop()
        lw.stop()
    done("burst")
    r["phase"] = "all"
    return r


def settle_writes(api, q0, bound, quiet=3.0):
    """Writes since q0 once none came for `quiet` seconds (or the bound)."""
    last, since = -1, time.monotonic()
    end = time.monotonic() + bound
    while time.monotonic() < end:
        w = sum(v for (verb, _), v in diff(requests_by(api), q0).items() if verb in WRITES)
        if w != last:
            last, since = w, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.5)
    return last


def churn(p, api, a, sw, lw, ctl, spk, names, r):
    """a.compare_rate creates and as many deletes a second for
    a.churn_seconds; deletes take the start's Services, oldest first, so the
    count stays at N."""
    rate, secs = a.compare_rate, a.churn_seconds
    total = int(rate * secs)
    q = queue.Queue(maxsize=64)
    created, lock = {}, threading.Lock()

    def worker():
        w = kb.Api(p)
        while True:
            job = q.get()
            if job is None:
                return
            op, nm = job
            try:
                if op == "add":
                    t = create(w, nm)
                    with lock:
                        created[nm] = t
                else:
                    delete(w, nm)
            except (OSError, RuntimeError, http.client.HTTPException):
                pass
    ts = [threading.Thread(target=worker, daemon=True) for _ in range(a.workers)]
    for t in ts:
        t.start()
    c0, s0, q0 = ctl.cpu(), spk.cpu(), requests_by(api)
    t0 = time.monotonic()
    cnames = [f"c{i}" for i in range(total)]
    for i in range(total):
        # even spacing; when the queue is full the loop waits (and falls behind)
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        q.put(("add", cnames[i]))
        q.put(("del", names[i % len(names)]))
    for _ in ts:
        q.put(None)
    for t in ts:
        t.join(a.bound)
    end = time.time()
    wall = time.monotonic() - t0
    r["churn_sent_per_s"] = round(total / wall, 1)
    with lock:
        made = dict(created)
    r["churn_created"] = len(made)
    r["churn_backlog_at_end_controller"] = sum(1 for nm in made if nm not in sw.first)
    r["churn_backlog_at_end_speaker"] = sum(1 for nm in made if nm not in lw.first)
    wait_count(lambda: sum(1 for nm in made if nm in sw.first), len(made), a.bound)
    wait_count(lambda: sum(1 for nm in made if nm in lw.first), len(made), a.bound)
    for who, w in (("controller", sw), ("speaker", lw)):
        d = [1000 * (w.first[nm] - t) for nm, t in made.items() if nm in w.first]
        r[f"churn_reached_{who}"] = len(d)
        if d:
            r[f"churn_p50_ms_{who}"] = round(kb.pct(d, 50))
            r[f"churn_p99_ms_{who}"] = round(kb.pct(d, 99))
        r[f"churn_keeps_up_{who}"] = (len(d) == len(made) and
                                      r[f"churn_backlog_at_end_{who}"] <= 2 * rate)
    r["churn_after_end_s"] = round(time.time() - end, 1)
    r["churn_cpu_s_controller"] = round(ctl.cpu() - c0, 2)
    r["churn_cpu_s_speaker"] = round(spk.cpu() - s0, 2)
    r["churn_api"] = summary(diff(requests_by(api), q0))


# ---------------------------------------------------------------------------
# the outer loop: namespaces, runs, table


def metallb_binaries():
    sh = HERE / "metallb" / "build.sh"
    pr = subprocess.run(["sh", str(sh)], stdout=subprocess.PIPE, text=True)
    if pr.returncode != 0:
        sys.exit(f"{sh} failed (exit {pr.returncode}): see its output above")
    d = dict(line.split("=", 1) for line in pr.stdout.splitlines() if "=" in line)
    return d["METALLB_CONTROLLER"], d["METALLB_SPEAKER"], d["METALLB_MODULE"]


def one_namespace_run(a, impl, logdir, ironlb_bin, mlb):
    """One run of impl in fresh namespaces; its result dict (or an error)."""
    ns, client = f"ironlb-cmp-{os.getpid()}", f"ironlb-cmp-{os.getpid()}-client"
    sh = lambda *c: subprocess.run(list(c), check=True)  # noqa: E731
    sh("ip", "netns", "add", ns)
    sh("ip", "netns", "add", client)
    try:
        ex = ["ip", "netns", "exec", ns]
        sh(*ex, "ip", "link", "set", "lo", "up")
        sh(*ex, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        sh(*ex, "ip", "link", "set", "eth1", "netns", client)
        sh(*ex, "ip", "addr", "add", NODE_ADDR4, "dev", "eth0")
        sh(*ex, "ip", "link", "set", "eth0", "up")
        sh("ip", "netns", "exec", client, "ip", "addr", "add", CLIENT_ADDR4, "dev", "eth1")
        sh("ip", "netns", "exec", client, "ip", "link", "set", "eth1", "up")
        sh("ip", "netns", "exec", client, "ip", "-6", "route", "add", "2001:db8::/64", "dev",
           "eth1")
        stem = logdir / f"{impl}-{time.time_ns()}"
        res = stem.with_suffix(".result.json")
        params = {k: getattr(a, k) for k in ("n", "bound", "workers", "churn_seconds",
                                              "compare_rate", "compare_burst", "tmpdir",
                                              "apiserver_arg")}
        params.update(one=impl, logdir=str(logdir), client_ns=client, result=str(res),
                      ironlb=ironlb_bin, metallb=mlb)
        stem.with_suffix(".params.json").write_text(json.dumps(params))
        args = [sys.executable, __file__, str(stem.with_suffix(".params.json"))]
        rc = subprocess.run([*ex, *args]).returncode
        if not res.exists():
            return {"impl": impl, "n": a.n, "error": f"run exited {rc}"}
        x = json.loads(res.read_text())
        if rc != 0 or x.get("phase") != "all":
            # the phases it finished count; the table says where it stopped
            x["stopped"] = f"run exited {rc} after the {x.get('phase')} phase"
        return x
    finally:
        kb.netns_del(ns)
        kb.netns_del(client)


ROWS = [  # (label, key, scale, unit)
    ("controller start into N Services -> all addressed", "start_s", 1, "s"),
    ("controller CPU during that start", "start_cpu_s_controller", 1, "s"),
    ("controller restart -> a new Service addressed", "restart_s", 1, "s"),
    ("writes during the restart (until 3 s quiet)", "restart_writes", 1, ""),
    ("controller CPU during the restart", "restart_cpu_s_controller", 1, "s"),
    ("speaker start -> every Service announced", "speaker_s", 1, "s"),
    ("speaker CPU during that start", "speaker_cpu_s", 1, "s"),
    ("ARP / NDP answers of 3 sampled Services", "arp_ndp", None, ""),
    ("churn: changes sent per second (create+delete)", "churn_sent_per_s", 2, "/s"),
    ("churn: create -> both addresses p50", "churn_p50_ms_controller", 1, "ms"),
    ("churn: create -> both addresses p99", "churn_p99_ms_controller", 1, "ms"),
    ("churn: controller keeps up", "churn_keeps_up_controller", None, ""),
    ("churn: create -> announced p50", "churn_p50_ms_speaker", 1, "ms"),
    ("churn: create -> announced p99", "churn_p99_ms_speaker", 1, "ms"),
    ("churn: speaker keeps up", "churn_keeps_up_speaker", None, ""),
    ("churn: controller CPU", "churn_cpu_s_controller", 1, "s"),
    ("churn: controller CPU per change", "churn_cpu_ms_per_change_controller", 1, "ms"),
    ("churn: speaker CPU", "churn_cpu_s_speaker", 1, "s"),
    ("churn: speaker CPU per change", "churn_cpu_ms_per_change_speaker", 1, "ms"),
    ("burst of B more (create time)", "burst_create_s", 1, "s"),
    ("burst -> all addressed", "burst_s", 1, "s"),
    ("burst -> all announced", "burst_announced_s", 1, "s"),
    ("burst: controller CPU", "burst_cpu_s_controller", 1, "s"),
    ("burst: speaker CPU", "burst_cpu_s_speaker", 1, "s"),
    ("controller RSS idle", "idle_rss_kib_controller", 1 / 1024, "MiB"),
    ("controller RSS with N", "rss_kib_controller", 1 / 1024, "MiB"),
    ("controller KiB per Service", "per_svc_controller", 1, "KiB"),
    ("speaker RSS idle", "idle_rss_kib_speaker", 1 / 1024, "MiB"),
    ("speaker RSS with N", "rss_kib_speaker", 1 / 1024, "MiB"),
    ("speaker KiB per Service", "per_svc_speaker", 1, "KiB"),
]


# the count behind a row that waits for all of something: (key, wanted)
REACHED = {"start_s": ("start_reached", lambda x: x["n"]),
           "speaker_s": ("speaker_reached", lambda x: x["n"] + 1),
           "burst_s": ("burst_reached", lambda x: x["burst_n"]),
           "burst_announced_s": ("burst_announced_reached", lambda x: x["burst_n"])}


def why_missing(x, key):
    """What a run without a figure for key got instead."""
    if key not in x and x.get("stopped"):
        return "not run: " + x["stopped"]
    if key in REACHED and REACHED[key][0] in x:
        rk, want = REACHED[key]
        return (f"not reached in {x.get('bound', '?')} s: "
                f"{x[rk]:,} of {want(x):,}")
    return "not reached"


def cell(results, key, scale, unit):
    if key == "arp_ndp":
        v = [f"{x.get('arp_answered')}/{x.get('ndp_answered')}" for x in results
             if "arp_answered" in x]
        return " ".join(sorted(set(v))) or "-"
    vals = [x.get(key) for x in results]
    if key.startswith("churn_keeps_up"):
        v = [x for x in vals if x is not None]
        return f"{sum(v)} of {len(v)} runs" if v else "-"
    if key == "churn_sent_per_s":
        vals = [v * 2 if v is not None else None for v in vals]
        scale = 1
    missing = sum(1 for v in vals if v is None)
    v = [x * scale for x in vals if x is not None]
    if not v:
        return "; ".join(sorted({why_missing(x, key) for x in results})) or "-"
    fmt = ((lambda x: f"{x:.2f}") if unit == "ms" and max(v) < 100 else
           (lambda x: f"{x:.1f}") if unit in ("s", "MiB", "KiB", "/s") else
           (lambda x: f"{x:.0f}"))
    s = fmt(statistics.median(v))
    if len(v) > 1:
        s += f" ({fmt(min(v))}-{fmt(max(v))})"
    if missing:
        s += f", {missing} not reached"
    return s + (f" {unit}" if unit else "")


def table(results, n):
    for x in results:
        for who in ("controller", "speaker"):
            if x.get(f"rss_kib_{who}") and x.get(f"idle_rss_kib_{who}"):
                x[f"per_svc_{who}"] = (x[f"rss_kib_{who}"] - x[f"idle_rss_kib_{who}"]) / n
            if x.get(f"churn_cpu_s_{who}") is not None and x.get("churn_created"):
                # a change: a create or a delete (as many of each)
                x[f"churn_cpu_ms_per_change_{who}"] = (1000 * x[f"churn_cpu_s_{who}"] /
                                                       (2 * x["churn_created"]))
    by = {i: [x for x in results if x.get("impl") == i and "error" not in x]
          for i in ("ironlb", "metallb")}
    # a run stopped part way counts with the phases it finished
    nb = next((x["burst_n"] for x in results if "burst_n" in x), n)
    lines = [f"| N = {n}, B = {nb} | ironlb | MetalLB |", "| --- | --- | --- |"]
    for label, key, scale, unit in ROWS:
        lines.append(f"| {label} | {cell(by['ironlb'], key, scale, unit)} | "
                     f"{cell(by['metallb'], key, scale, unit)} |")
    lines.append("")
    lines.append("API requests by verb and resource (first run of each; "
                 "benchmark's own watches, creates and deletes included):")
    for i in ("ironlb", "metallb"):
        if by[i]:
            for ph in ("start", "restart", "speaker", "churn", "burst"):
                s = by[i][0].get(f"{ph}_api")
                if s:
                    lines.append(f"- {i} {ph}: reads {s['reads']}, writes {s['writes']}: "
                                 f"{s['top']}")
    for x in results:
        if "error" in x:
            lines.append(f"- {x['impl']}: {x['error']}")
        elif x.get("stopped"):
            lines.append(f"- {x['impl']}: {x['stopped']}")
    return "\n".join(lines)


def compare_main(a, ironlb_bin):
    """The --compare entry point (as root, outside any namespace)."""
    import tempfile
    mlb = metallb_binaries()
    logdir = pathlib.Path(tempfile.mkdtemp(prefix="ironlb-bench-compare-"))
    print(f"logs: {logdir}", flush=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(f"ironlb {ironlb_bin} at {commit}; MetalLB {mlb[0]}", flush=True)
    results = []
    for rep in range(a.reps):
        order = ("ironlb", "metallb") if rep % 2 == 0 else ("metallb", "ironlb")
        for impl in order:
            load = os.getloadavg()[0]
            print(f"# run {rep + 1}/{a.reps} {impl} -n {a.n} (load {load:.1f})",
                  file=sys.stderr, flush=True)
            x = one_namespace_run(a, impl, logdir, ironlb_bin, mlb)
            x["load_before"] = round(load, 1)
            print("RESULT " + json.dumps(x), flush=True)
            results.append(x)
    (logdir / "results.json").write_text(json.dumps(results, indent=1))
    print(table(results, a.n), flush=True)
    return 0 if not any("error" in x for x in results) else 1


def reprint(path):
    """bench/k8s_compare.py --table RESULTS.json: the table again."""
    results = json.loads(pathlib.Path(path).read_text())
    print(table(results, results[0]["n"]))


def main():
    """One run inside the namespace: bench/k8s_compare.py PARAMS.json
    (written by one_namespace_run); the result goes to params["result"]."""
    if sys.argv[1] == "--table":
        return reprint(sys.argv[2])
    import tempfile
    import types
    a = types.SimpleNamespace(**json.loads(pathlib.Path(sys.argv[1]).read_text()))
    tempfile.tempdir = a.tmpdir
    impl = Ironlb(a.ironlb) if a.one == "ironlb" else Metallb(*a.metallb)
    out = pathlib.Path(a.result)

    def save(r):
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(r))
        tmp.replace(out)
    save(run_one(impl, a.n, a, pathlib.Path(a.logdir), a.client_ns, save))


if __name__ == "__main__":
    main()
