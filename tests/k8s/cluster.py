"""A Kubernetes-mode lab for ironlb's cluster tests (tests/k8s/test_cluster.py).

What runs where:

    root namespace (the test process)          lab namespaces (tests/e2e/lab.py)
    ---------------------------------          ---------------------------------
    etcd + kube-apiserver on 127.0.0.1         router:  BIRD, 192.168.1.1, 2001:db8::1
    ironlb-k8s controller (SA "controller")    client:  192.168.1.100 (arping, curl)
    a Relay per node (threads):                node-a:  192.168.1.10, 2001:db8::10
      node ns 127.0.0.1:6443 -> API server       ironlb-k8s speaker (SA "speaker"),
                                                 an HTTP server naming the node
                                               node-b:  192.168.1.11, 2001:db8::11, same
    all hosts on one switch (bridge), eth0 each; IPv6 also 2001:db8:ff::N/64

The node namespaces cannot reach the root namespace's loopback, where the
API server listens.  A Relay listens on 127.0.0.1:6443 *inside* a node's
namespace (the socket is created with the calling thread moved there by
lab.netns) and copies every accepted connection to the API server's
127.0.0.1 port in the root namespace, bytes untouched (TLS goes through
end to end; the serving certificate names 127.0.0.1).  Each speaker gets a
kubeconfig for https://127.0.0.1:6443 with a token of the "speaker"
ServiceAccount; the controller talks to the API server directly with a
token of "controller".  Relay.cut() closes every relayed connection and
refuses new ones (a network cut as the speaker sees it); restore() undoes
it.

The router's addresses are the guide's (examples/bgp/bgp-peers.yaml names
192.168.1.1 and 2001:db8::1), so its BGPPeers and BGPAdvertisement are
applied unchanged.  The guide's pools (examples/dual-stack-l2) are the
lab's Service ranges (lab.SERVICE_V4 / SERVICE_V6, on-link for the
client).  Its combined and segmented pools would overlap them, so
modified copies move them to 192.168.101.0/24 + 2001:db8:2::/64 and
192.168.102.0/24 + 2001:db8:3::/64 (the combined pool also without
autoAssign, so that it does not compete with ipv4-pool / ipv6-pool); an
extra L2Advertisement announces them and the client gets on-link routes
to them.

Teardown: Cluster is a context manager; close() stops the speakers (lab
processes), the relays, the controller and BIRD, and deletes every
namespace (lab.Lab, which also does so at exit and on SIGTERM).  The
control plane belongs to the caller (the `plane` fixture).  Speakers and
controller get SIGTERM (SIGKILL only after 15 s); exit_problems() then
lists each one that did not exit 0 or whose log holds a sanitizer report
(AddressSanitizer, LeakSanitizer, UBSan's "runtime error:"), with the
report and its stack.
"""
from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import bgplab  # noqa: E402
import controlplane as cpmod  # noqa: E402
import lab as labmod  # noqa: E402
from lab import PollTimeout  # noqa: E402,F401 - re-exported for the tests

EXAMPLES = ROOT / "examples"
DEPLOY = ROOT / "deploy" / "ironlb.yaml"
NS = "metallb-system"

ROUTER4, ROUTER6 = "192.168.1.1", "2001:db8::1"      # examples/bgp/bgp-peers.yaml
ROUTER6_NET = "2001:db8::/64"
MY_ASN, PEER_ASN = 64500, 64501
NODES = {"node-a": 10, "node-b": 11, "node-c": 12}    # host number on the switch
DEFAULT_NODES = ("node-a", "node-b")                  # Cluster's default set
CLIENT_NUM = 100
RELAY_PORT = 6443                                     # inside each node's namespace
SPEAKER_PORT = 7473                                   # --metrics-listen inside the node
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"

# Where the modified copies of the combined and segmented pools live.
COMBINED_V4, COMBINED_V6 = "192.168.101.0/24", "2001:db8:2::/64"
SEGMENTED_V4, SEGMENTED_V6 = "192.168.102.0/24", "2001:db8:3::/64"


# The failure detector's shared key in member labs (the memberlist Secret);
# the shape of `openssl rand -base64 128`.
MEMBER_KEY = ("k3y0f7hEmemb3rl1stS3cr3tF0rTh3Lab/" * 5)[:172]

k8s_bin = cpmod.ironlb_k8s_bin
ironlb_bin = cpmod.ironlb_bin


# ---------------------------------------------------------------------------
# the fixtures' common part


def cluster_fixture(plane, workdir, speaker_flag: str | None = None,
                    what: str = "a speaker", start=None, **kw):
    """The body of a module-scoped cluster fixture (`yield from` it): root
    and the tools checked, the speaker's --help asked (naming
    speaker_flag when given: "{binary} has no speaker with {what}"), a
    Cluster(plane, workdir, **kw) started (then start(c), when given)
    and yielded; at the end closed, and the test failed when any speaker
    or controller run did not exit 0 on SIGTERM or left a sanitizer
    report (ASan, LSan at exit, UBSan) in its log."""
    import pytest
    if os.geteuid() != 0:
        pytest.skip("the cluster tests need root (network namespaces)")
    missing = missing_tools()
    if missing:
        pytest.fail(f"missing tools: {', '.join(missing)} (run scripts/install-deps)")
    try:
        binary = k8s_bin()
    except FileNotFoundError as e:
        pytest.fail(str(e))
    p = subprocess.run([binary, "speaker", "--help"], capture_output=True, text=True)
    if p.returncode != 0 or (speaker_flag and speaker_flag not in p.stdout):
        pytest.fail(f"{binary} has no speaker"
                    f"{' with ' + what if speaker_flag else ''}: {p.stdout}{p.stderr}")
    yield from started(Cluster(plane, workdir, **kw), start)


def started(c, start=None):
    """The end of a cluster fixture (`yield from` it): c started (then
    start(c), when given) and yielded; at the end closed, and the test
    failed when any speaker or controller run did not exit 0 on SIGTERM
    or left a sanitizer report in its log."""
    import pytest
    try:
        c.start()
        if start:
            start(c)
        yield c
    finally:
        c.close()
    problems = c.exit_problems()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def checked_alive(cluster):
    """The body of a per-test fixture (`yield from` it): the cluster,
    every speaker and the controller checked alive before and after."""
    cluster.check_alive()
    yield cluster
    cluster.check_alive()


def missing_tools() -> list[str]:
    return labmod.missing_tools() + [t for t in ("bird", "birdc") if not shutil.which(t)]


def tail(text: str, n: int = 40, width: int = 400) -> str:
    """The last n lines, each cut to `width` characters."""
    return "\n".join(line if len(line) <= width else line[:width] + " [...]"
                     for line in text.splitlines()[-n:])


def is_v6(ip: str) -> bool:
    return ":" in ip


# What AddressSanitizer, LeakSanitizer and UBSan write (the suite runs
# under them too: IRONLB_K8S_BIN=build-asan/ironlb-k8s).
_SANITIZER = re.compile(r"Sanitizer|runtime error:")


def sanitizer_report(text: str, n: int = 80) -> str:
    """The first sanitizer report in a log (n lines from its first line,
    the stack included), "" when there is none."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _SANITIZER.search(line):
            return "\n".join(lines[i:i + n])
    return ""


def exit_problem(what: str, rc, log_text: str, timed_out: bool = False) -> str | None:
    """Why a process stopped with SIGTERM did not end cleanly (exit code
    0, no sanitizer report in its log), None when it did."""
    why = []
    if timed_out:
        why.append("did not exit within the deadline after SIGTERM (killed)")
    elif rc != 0:
        why.append(f"exited {rc} after SIGTERM"
                   + (f" (signal {-rc})" if isinstance(rc, int) and rc < 0 else ""))
    rep = sanitizer_report(log_text)
    if rep:
        why.append(f"sanitizer report in its log:\n{rep}")
    if not why:
        return None
    return f"{what}: " + "; ".join(why) + ("" if rep else f"\n{tail(log_text, 30)}")


# ---------------------------------------------------------------------------
# manifests: the guide's files, and modified copies where they must move


def example(path: str) -> str:
    return (EXAMPLES / path).read_text()


def combined_pool() -> str:
    """examples/combined-pool/combined-pool.yaml moved to 192.168.101.x /
    2001:db8:2::, autoAssign false (the guide's dual-stack-service.yaml
    names the pool)."""
    t = example("combined-pool/combined-pool.yaml")
    t = t.replace("192.168.100.", "192.168.101.").replace("2001:db8:1:", "2001:db8:2:")
    return t.replace("autoAssign: true", "autoAssign: false")


def segmented_pools() -> str:
    """examples/segmented-pools/segmented-pools.yaml moved to 192.168.102.x
    / 2001:db8:3::."""
    t = example("segmented-pools/segmented-pools.yaml")
    return t.replace("192.168.100.", "192.168.102.").replace("2001:db8:1:", "2001:db8:3:")


EXTRA_L2ADV = """apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: moved-pools-l2
  namespace: metallb-system
spec:
  ipAddressPools:
  - dual-stack-pool
  - production-ipv4
  - production-ipv6
  - staging-ipv4
  - staging-ipv6
"""


TEAMS = ROOT / "tests" / "fixtures" / "teams"


def teams_docs(suffix: str) -> list[dict]:
    """tests/fixtures/teams (a pool and its L2Advertisement, team-a's valid
    Service "web", team-b's Service "api" with metallb.io/loadBalancerIPs
    "not-an-ip"), the Services in namespaces team-a-SUFFIX / team-b-SUFFIX
    and "web" pinned to the fixture's pool, so that the other Services of
    a shared control plane do not change its address."""
    docs = []
    for f in sorted(TEAMS.glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            if not d:
                continue
            if d["kind"] == "Service":
                d["metadata"]["namespace"] += f"-{suffix}"
                if d["metadata"]["name"] == "web":
                    d["metadata"].setdefault("annotations", {})[
                        "metallb.io/address-pool"] = "teams"
            docs.append(d)
    return docs


def node_manifest(name: str, labels: dict | None = None) -> dict:
    lab = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    lab.update(labels or {})
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": lab}}


def service(name: str, namespace: str = "default", families=("IPv4", "IPv6"),
            policy: str | None = None, etp: str | None = None, annotations=None) -> dict:
    spec = {"type": "LoadBalancer",
            "ipFamilyPolicy": policy or ("RequireDualStack" if len(families) == 2
                                         else "SingleStack"),
            "ipFamilies": list(families), "selector": {"app": name},
            "ports": [{"port": 80, "protocol": "TCP"}]}
    if etp:
        spec["externalTrafficPolicy"] = etp
    meta = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def endpoint_slice(service_name: str, node: str, namespace: str = "default",
                   name: str | None = None, address: str = "10.244.0.10",
                   ready: bool = True) -> dict:
    """What kube-controller-manager would write for one Pod of the Service
    on `node` (nothing writes EndpointSlices in this control plane)."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{service_name}-ep", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service_name,
                                    "endpointslice.kubernetes.io/managed-by": "ironlb-test"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "nodeName": node,
                           "conditions": {"ready": ready, "serving": ready,
                                          "terminating": False}}],
            "ports": [{"name": "", "port": 80, "protocol": "TCP"}]}


# ---------------------------------------------------------------------------
# the relay


def copy_until_closed(src: socket.socket, dst: socket.socket):
    """Copy src's bytes to dst until src ends or either fails."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass


class Relay:
    """127.0.0.1:port (or host:port) inside network namespace `ns` ->
    127.0.0.1:upstream_port of the test process's namespace.  Two threads
    per connection copy the bytes; an accept thread serves the listener."""

    def __init__(self, ns: str, upstream_port: int, port: int = RELAY_PORT,
                 host: str = "127.0.0.1"):
        self.ns = ns
        self.host = host
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = port
        self.lock = threading.Lock()
        self.conns: set[socket.socket] = set()
        self.accepted = 0
        self.upstream_failures = 0
        self.stopping = False
        self.listener: socket.socket | None = None
        self._listen()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True,
                                       name=f"relay-{ns}")
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _listen(self):
        with labmod.netns(self.ns):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.host, self.port))
            s.listen(64)
            s.settimeout(0.1)
        except OSError:
            s.close()
            raise
        self.listener = s

    def _accept_loop(self):
        while not self.stopping:
            lst = self.listener
            if lst is None:
                time.sleep(0.05)
                continue
            try:
                c, _ = lst.accept()
            except socket.timeout:
                continue
            except OSError:          # closed by cut() or close()
                time.sleep(0.05)
                continue
            c.settimeout(None)
            try:
                u = socket.create_connection(self.upstream, timeout=5)
            except OSError:          # the API server is down: like a refusal
                self.upstream_failures += 1
                c.close()
                continue
            u.settimeout(None)
            with self.lock:
                if self.stopping or self.listener is None:
                    for s in (c, u):
                        s.close()
                    continue
                self.conns |= {c, u}
                self.accepted += 1
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket):
        copy_until_closed(src, dst)
        self._drop(src, dst)

    def _drop(self, *socks):
        with self.lock:
            mine = [s for s in socks if s in self.conns]
            self.conns.difference_update(mine)
        for s in mine:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)   # wakes the other direction's recv
            s.close()

    def connections(self) -> int:
        with self.lock:
            return len(self.conns) // 2

    def cut(self):
        """Close every relayed connection and refuse new ones."""
        with self.lock:
            lst, self.listener = self.listener, None
            conns = list(self.conns)
        if lst is not None:
            lst.close()
        self._drop(*conns)

    def restore(self):
        with self.lock:
            if self.listener is None and not self.stopping:
                self._listen()

    def close(self):
        self.stopping = True
        self.cut()
        self.thread.join(5)


# ---------------------------------------------------------------------------
# HTTP inside a namespace


def http_get(ns: str, port: int, path: str, timeout: float = 5.0,
             addr: str = "127.0.0.1") -> tuple[int, str]:
    """GET http://addr:port/path inside namespace ns: (status, body)."""
    with labmod.netns(ns):
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET,
                          socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
    except OSError:
        s.close()
        raise
    conn = http.client.HTTPConnection(addr, port, timeout=timeout)
    conn.sock = s
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


_METRIC = re.compile(r'^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict, float]]:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC.match(line)
        if m:
            out.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")),
                        float(m.group(3))))
    return out


# ---------------------------------------------------------------------------
# processes


class Controller:
    """`ironlb-k8s controller` in the test process's namespace (it reaches
    the API server on loopback directly), as ServiceAccount controller."""

    def __init__(self, kubeconfig, workdir: pathlib.Path):
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.port = None
        self.log = None
        self.runs = 0
        # every run stopped so far: (log, exit code, killed after the deadline)
        self.exits: list[tuple[pathlib.Path, int | None, bool]] = []

    def start(self, timeout: float = 20):
        self.port = cpmod.free_port()
        self.runs += 1
        self.log = self.workdir / f"controller.{self.runs}.log"
        with open(self.log, "wb") as f:
            self.proc = subprocess.Popen(
                [k8s_bin(), "controller", "--kubeconfig", str(self.kubeconfig),
                 "--metrics-listen", f"127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=cpmod._die_with_parent)
        labmod.poll(self._healthy, timeout, interval=0.1, what="controller /healthz 200")
        return self

    def _healthy(self):
        self.check()
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            c.close()

    def metrics(self):
        return parse_metrics(self.get("/metrics")[1])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"controller exited {self.proc.returncode}:\n"
                                 f"{tail(self.output())}")

    def output(self):
        try:
            return self.log.read_text(errors="replace") if self.log else ""
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 15):
        """SIGTERM (SIGKILL after `timeout`); returns exit_problem() of this
        run: None when it exited 0 with no sanitizer report.  A run that
        had already died counts with its exit code."""
        p, self.proc = self.proc, None
        if p is None:
            return None
        timed_out = False
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                p.kill()
                p.wait(5)
        self.exits.append((self.log, p.returncode, timed_out))
        return exit_problem(f"controller (run {self.runs}, {self.log})", p.returncode,
                            self.output(), timed_out)


class Speaker:
    """`ironlb-k8s speaker` in a node's namespace (a lab process), talking
    to the API server through the node's relay."""

    def __init__(self, host, kubeconfig, log_level="info", extra=()):
        self.host = host
        self.node = host.name
        self.kubeconfig = kubeconfig
        self.log_level = log_level
        self.extra = list(extra)
        self.proc = None
        self.problem = None     # exit_problem() of the last stop()

    def args(self):
        return [k8s_bin(), "speaker", "--node-name", self.node, "--kubeconfig",
                str(self.kubeconfig), "--metrics-listen", f"127.0.0.1:{SPEAKER_PORT}",
                "--install-vips", "--log-level", self.log_level, *self.extra]

    def start(self):
        self.proc = self.host.spawn(self.args(), name=f"{self.node}-speaker")
        return self

    def wait_healthy(self, timeout=30):
        def ok():
            self.check()
            try:
                return self.get("/healthz")[0] == 200
            except OSError:
                return False
        labmod.poll(ok, timeout, interval=0.1, what=f"speaker {self.node} /healthz 200")

    def check(self):
        if self.proc is not None and not self.proc.alive():
            raise AssertionError(f"speaker {self.node} exited {self.proc.returncode}:\n"
                                 f"{tail(self.output())}")

    def get(self, path):
        return http_get(self.host.ns, SPEAKER_PORT, path)

    def status(self) -> dict:
        code, body = self.get("/status")
        if code != 200:
            raise AssertionError(f"speaker {self.node} /status: {code} {body[:300]}")
        return json.loads(body)

    def metrics(self):
        code, body = self.get("/metrics")
        if code != 200:
            raise AssertionError(f"speaker {self.node} /metrics: {code} {body[:300]}")
        return parse_metrics(body)

    def metric(self, name, **labels):
        """Series of `name` whose labels include `labels`: [(labels, value)]."""
        return [(lb, v) for n, lb, v in self.metrics()
                if n == name and all(lb.get(k) == v2 for k, v2 in labels.items())]

    def owned(self) -> set[str]:
        """Addresses /status says this node owns over Layer 2 ("here")."""
        return {e["ip"] for e in self.status().get("layer2", []) if e.get("here")}

    def plan(self, ip) -> dict | None:
        """The "layer2" entry of /status for address ip (its election:
        owner, candidates, here), None when the speaker has none."""
        for e in self.status().get("layer2", []):
            if e.get("ip") == ip:
                return e
        return None

    def answering(self) -> set[str]:
        """Addresses the Layer 2 engine answers for, on some interface."""
        return {ip for ip, a in labmod.engine_addresses(self.status()).items()
                if a.get("interfaces")}

    def output(self):
        return self.proc.output() if self.proc else ""

    def kill(self):
        """SIGKILL, as a crash (no leave, no withdrawal)."""
        self.proc.send(signal.SIGKILL)
        self.proc.wait(10)

    def restart(self, extra=None):
        """Start again (after kill() or stop()), with other extra
        arguments when given."""
        if extra is not None:
            self.extra = list(extra)
        return self.start()

    def stop(self, timeout=15):
        """SIGTERM (SIGKILL after `timeout`); returns exit_problem() (None:
        exit code 0, no sanitizer report), also kept in .problem."""
        if self.proc is None:
            return None
        was_alive = self.proc.alive()
        rc = self.proc.stop(signal.SIGTERM, timeout)
        killed = was_alive and rc == -signal.SIGKILL
        self.problem = exit_problem(f"speaker {self.node} ({self.proc.log})", rc,
                                    self.output(), killed)
        return self.problem


# ---------------------------------------------------------------------------
# the whole cluster


class Cluster:
    """Lab + control plane objects + controller + BIRD + one speaker per node.

        with Cluster(plane, workdir) as c:
            c.start()
            ...
    """

    def __init__(self, plane, workdir, nodes=DEFAULT_NODES, log_level="info",
                 members=False):
        """members: the Nodes get status.addresses (InternalIP: the node's
        switch addresses) and a Ready condition, and the memberlist Secret
        holds MEMBER_KEY, so the speakers run their failure detector
        authenticated (without it they run without one, as on Nodes that
        have no addresses)."""
        self.members = members
        self.plane = plane
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.node_names = list(nodes)
        self.log_level = log_level
        self.lab = None
        self.relays: dict[str, Relay] = {}
        self.speakers: dict[str, Speaker] = {}
        self.nodes = {}
        self.controller: Controller | None = None
        self.bird = None
        self.httpds = {}

    # -- life cycle --------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Tear everything down; safe after a partial start.  The speakers
        go first (their API server connections still up), then the relays
        and the controller; exit_problems() says how they ended."""
        for s in self.speakers.values():
            with contextlib.suppress(Exception):
                s.stop()
        for r in self.relays.values():
            with contextlib.suppress(Exception):
                r.close()
        if self.controller is not None:
            with contextlib.suppress(Exception):
                self.controller.stop()
        if self.lab is not None:
            self.lab.close()

    def exit_problems(self) -> list[str]:
        """After close(): every speaker and controller run that did not
        exit 0 on SIGTERM or left a sanitizer report in its log."""
        out = [s.problem for s in self.speakers.values() if s.problem]
        if self.controller is not None:
            for log, rc, killed in self.controller.exits:
                text = log.read_text(errors="replace") if log and log.exists() else ""
                p = exit_problem(f"controller ({log})", rc, text, killed)
                if p:
                    out.append(p)
        return out

    def start(self):
        self.lab = labmod.Lab(workdir=self.workdir / "lab")
        self._install()
        self._topology()
        self._router()
        for n, h in self.nodes.items():
            self.httpds[n] = labmod.start_httpd(h)
        self.controller = self.new_controller()
        self.controller.start()
        token = self.plane.create_token("speaker", NS, duration="2h")
        for n, h in self.nodes.items():
            self.relays[n] = Relay(h.ns, self.plane.port)
            self.speakers[n] = self.new_speaker(n, h, token).start()
        for s in self.speakers.values():
            try:
                s.wait_healthy(30)
            except PollTimeout as e:
                raise AssertionError(f"{e}\n{self.logs()}") from None
        return self

    # How the controller and the speakers run: processes of the test here;
    # containers in tests/k8s/containers.py.

    def new_controller(self):
        return Controller(self.plane.service_account_kubeconfig("controller", NS), self.workdir)

    def new_speaker(self, node, host, token):
        """The speaker of `node` (its relay is self.relays[node]), acting
        with the speaker ServiceAccount's `token`."""
        kc = self.plane.write_kubeconfig(token, self.workdir / f"speaker-{node}.kubeconfig",
                                         user=f"speaker-{node}", server=self.relays[node].url)
        return Speaker(host, kc, self.log_level)

    def _install(self):
        p = self.plane
        p.kubectl("apply", "-f", str(DEPLOY))
        cpmod.wait_until(lambda: p.kubectl("get", "ipaddresspools.metallb.io,"
                                           "servicel2statuses.metallb.io,"
                                           "servicebgpstatuses.metallb.io,"
                                           "configurationstates.metallb.io", "-n", NS,
                                           check=False).returncode == 0,
                         timeout=30, what="metallb.io CRDs served")
        for n in self.node_names:
            p.apply(node_manifest(n))
            if self.members:
                self.set_node_status(n, ready="True")
        if self.members:
            self.set_member_key(MEMBER_KEY)
        # The guide's Layer 2 set and BGP set, and the moved pools.
        p.kubectl("apply", "-f", str(EXAMPLES / "dual-stack-l2" / "ipaddresspools.yaml"))
        p.kubectl("apply", "-f", str(EXAMPLES / "dual-stack-l2" / "l2-advertisements.yaml"))
        p.apply(combined_pool())
        p.apply(segmented_pools())
        p.apply(EXTRA_L2ADV)
        p.kubectl("apply", "-f", str(EXAMPLES / "bgp" / "bgp-peers.yaml"))
        p.kubectl("apply", "-f", str(EXAMPLES / "bgp" / "bgp-advertisements.yaml"))

    def _topology(self):
        L = self.lab
        self.sw = L.switch("sw")
        self.router = L.host("router")
        self.router.connect(self.sw, "eth0", hostnum=1)
        bgplab.add_addr(self.router, "eth0", f"{ROUTER6}/64")
        self.client = L.host("client")
        self.client.connect(self.sw, "eth0", hostnum=CLIENT_NUM)
        for r in (labmod.SERVICE_V4, labmod.SERVICE_V6, COMBINED_V4, COMBINED_V6,
                  SEGMENTED_V4, SEGMENTED_V6):
            self.client.route(r)
        for n in self.node_names:
            h = L.host(n, strict_arp=True)
            h.connect(self.sw, "eth0", hostnum=NODES[n])
            bgplab.add_addr(h, "eth0", f"{self.node_v6(n)}/64")
            self.nodes[n] = h

    @staticmethod
    def node_v4(node):
        """192.168.1.10 for node-a (its switch address)."""
        return str(ipaddress.ip_network(labmod.HOSTS_V4).network_address + NODES[node])

    @staticmethod
    def node_v6(node):
        """2001:db8::10 for node-a (its address in the router's IPv6 subnet)."""
        return f"2001:db8::{NODES[node]}"

    def _router(self):
        neigh = []
        for n in self.node_names:
            neigh += [bgplab.Neighbor(self.node_v4(n), MY_ASN),
                      bgplab.Neighbor(self.node_v6(n), MY_ASN)]
        self.bird = bgplab.Bird(self.router, PEER_ASN, ROUTER4, neigh)
        self.bird.start()

    # -- diagnostics -------------------------------------------------------

    def logs(self, n=25) -> str:
        parts = []
        for node, s in self.speakers.items():
            parts.append(f"----- speaker {node} (last {n} lines) -----\n{tail(s.output(), n)}")
        if self.controller is not None:
            parts.append(f"----- controller (last {n} lines) -----\n"
                         f"{tail(self.controller.output(), n)}")
        return "\n".join(parts)

    def wait(self, cond, timeout, what, interval=0.1):
        """lab.poll, failing with the speakers' and controller's log tails."""
        try:
            return labmod.poll(cond, timeout, interval=interval, what=what)
        except PollTimeout as e:
            raise AssertionError(f"{e}\n{self.logs()}") from None

    def check_alive(self):
        for s in self.speakers.values():
            s.check()
        if self.controller is not None:
            self.controller.check()

    # -- Kubernetes writes -------------------------------------------------

    def set_node_status(self, node, ready="True"):
        """What the kubelet would report: the node's switch addresses as
        InternalIP (the failure detector's members) and condition Ready
        ("True", "False" or "Unknown").  No controller-manager runs here,
        so nothing else changes it."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status = {"addresses": [{"type": "InternalIP", "address": self.node_v4(node)},
                                {"type": "InternalIP", "address": self.node_v6(node)},
                                {"type": "Hostname", "address": node}],
                  "conditions": [{"type": "Ready", "status": ready,
                                  "reason": "KubeletReady" if ready == "True"
                                  else "KubeletNotReady",
                                  "message": "set by the test", "lastHeartbeatTime": now,
                                  "lastTransitionTime": now}]}
        self.kubectl("patch", "node", node, "--subresource=status", "--type=merge", "-p",
                     json.dumps({"status": status}))

    def set_member_key(self, key: str | None):
        """The memberlist Secret, as MetalLB's docs create it, or changed in
        place when it exists (a rotation); None deletes it."""
        if key is None:
            self.kubectl("delete", "secret", "-n", NS, "memberlist", "--ignore-not-found")
            return
        doc = self.kubectl("create", "secret", "generic", "-n", NS, "memberlist",
                           f"--from-literal=secretkey={key}", "--dry-run=client",
                           "-o", "json").stdout
        self.kubectl("apply", "-f", "-", input=doc)

    # -- Kubernetes reads --------------------------------------------------

    def kubectl(self, *args, **kw):
        return self.plane.kubectl(*args, **kw)

    def ingress(self, name, namespace="default") -> list[str]:
        """The guide's check: kubectl get svc NAME -o jsonpath=...ingress[*].ip."""
        out = self.kubectl("get", "svc", name, "-n", namespace, "-o",
                           "jsonpath={.status.loadBalancer.ingress[*].ip}").stdout
        return out.split()

    def families(self, name, namespace="default") -> list[str]:
        return self.kubectl("get", "svc", name, "-n", namespace, "-o",
                            "jsonpath={.spec.ipFamilies[*]}").stdout.split()

    def wait_ingress(self, name, namespace="default", n=None, timeout=20) -> list[str]:
        """Poll until the Service has `n` addresses (default: one per
        spec.ipFamilies entry)."""
        want = n

        def ok():
            self.check_alive()
            got = self.ingress(name, namespace)
            k = want if want is not None else len(self.families(name, namespace))
            return got if got and len(got) == k else None
        return self.wait(ok, timeout, f"Service {namespace}/{name} ingress")

    def all_ingress(self) -> dict[str, list[str]]:
        out = {}
        for s in self.plane.kubectl_json("get", "svc", "-A")["items"]:
            ing = [i["ip"] for i in (s.get("status", {}).get("loadBalancer", {})
                                     .get("ingress") or []) if "ip" in i]
            if s["spec"].get("type") == "LoadBalancer":
                out[f"{s['metadata']['namespace']}/{s['metadata']['name']}"] = ing
        return out

    def wait_l2_owner(self, name, namespace="default", timeout=30) -> str:
        """The node of the Service's one ServiceL2Status, once there is one."""
        def owner():
            st = self.l2_statuses(name, namespace)
            return st[0]["status"]["node"] if len(st) == 1 else None
        return self.wait(owner, timeout, f"one ServiceL2Status for {namespace}/{name}")

    def l2_statuses(self, name=None, namespace="default") -> list[dict]:
        args = ["get", "servicel2statuses.metallb.io", "-n", NS]
        if name:
            args += ["-l", f"metallb.io/service-name={name},"
                           f"metallb.io/service-namespace={namespace}"]
        return self.plane.kubectl_json(*args)["items"]

    def bgp_statuses(self, name=None, namespace="default") -> list[dict]:
        args = ["get", "servicebgpstatuses.metallb.io", "-n", NS]
        if name:
            args += ["-l", f"metallb.io/service-name={name},"
                           f"metallb.io/service-namespace={namespace}"]
        return self.plane.kubectl_json(*args)["items"]

    def config_state(self, name) -> tuple[str, str]:
        out = self.kubectl("get", "configurationstates.metallb.io", name, "-n", NS, "-o",
                           "jsonpath={.status.result}{'\\t'}{.status.errorSummary}",
                           check=False)
        if out.returncode != 0:
            return ("", out.stderr.strip())
        result, _, summary = out.stdout.partition("\t")
        return result, summary

    def events(self, name, namespace="default", reason=None) -> list[dict]:
        evs = self.plane.kubectl_json("get", "events.v1.events.k8s.io", "-n",
                                      namespace)["items"]
        return [e for e in evs if (e.get("regarding") or {}).get("name") == name
                and (reason is None or e.get("reason") == reason)]

    # -- the network -------------------------------------------------------

    def mac(self, node) -> str:
        return self.nodes[node].mac("eth0")

    def node_of_mac(self, mac) -> str | None:
        for n in self.nodes:
            if self.mac(n) == mac:
                return n
        return None

    def resolve(self, ip) -> list[str]:
        """MACs that answered the client's ARP request (arping) or Neighbor
        Solicitation (raw NS) for ip, one entry per answer."""
        if is_v6(ip):
            return self.client.solicit(ip, "eth0", tries=1, wait=0.4)
        return self.client.arping(ip, "eth0", count=2)

    def wait_resolves_to(self, ip, node, timeout=10):
        mac = self.mac(node)
        last = []

        def ok():
            nonlocal last
            last = self.resolve(ip)
            return last if last and set(last) == {mac} else None
        try:
            return labmod.poll(ok, timeout, interval=0.05,
                               what=f"{ip} answered by {node} ({mac}) only")
        except PollTimeout as e:
            who = {m: self.node_of_mac(m) for m in set(last)}
            raise AssertionError(f"{e}; answers from {who}\n{self.logs()}") from None

    def bird_routes(self, node, fam) -> dict:
        """{prefix: Route} BIRD holds from node's session of that family."""
        addr = self.node_v4(node) if fam == 4 else self.node_v6(node)
        return self.bird.routes_by_prefix(addr, fam)

    def bird_prefixes(self, node) -> set[str]:
        return set(self.bird_routes(node, 4)) | set(self.bird_routes(node, 6))


def host_prefix(ip: str) -> str:
    return bgplab.norm_prefix(f"{ip}/{128 if is_v6(ip) else 32}")
