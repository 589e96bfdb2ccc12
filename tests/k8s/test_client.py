"""The k8s module's client and reflector against a real kube-apiserver.

Everything goes through tests/k8s/k8s_probe.c (built with ironlb:
$IRONLB_K8S_PROBE, else next to $IRONLB_BIN, else build*/k8s_probe), which
prints JSON lines.  A reflector's changes are checked to be a valid history
(ADDED only for an absent key, MODIFIED and DELETED only for a present one,
MODIFIED with a new resourceVersion), so that a duplicated or lost event
shows up, and its final store is compared with `kubectl get`.

Disconnections are made with a TCP proxy between the probe and the API
server (kubectl talks to the server directly): `cut` closes every
connection and refuses new ones, `freeze` stops forwarding bytes.  410 Gone
comes from a second plane without the watch cache, whose etcd is compacted.
"""
import base64
import http.server
import json
import os
import pathlib
import selectors
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest

import controlplane as cpmod

ROOT = pathlib.Path(__file__).resolve().parents[2]


def probe_bin():
    b = os.environ.get("IRONLB_K8S_PROBE")
    if b:
        return os.path.abspath(b)
    cands = []
    if os.environ.get("IRONLB_BIN"):
        cands.append(pathlib.Path(os.environ["IRONLB_BIN"]).resolve().parent / "k8s_probe")
    cands += [ROOT / d / "k8s_probe" for d in ("build", "build-asan", "build-k8s",
                                                "build-k8s-asan")]
    for c in cands:
        if c.exists():
            return str(c)
    pytest.fail("k8s_probe not found: build it (ninja -C build k8s_probe) or set "
                "IRONLB_K8S_PROBE")


def wait_until(cond, timeout=30.0, what="condition"):
    return cpmod.wait_until(cond, timeout=timeout, what=what)


def run_probe(kubeconfig, *args, timeout=60, env=None):
    """One-shot probe command: (exit code, parsed stdout lines, stderr)."""
    p = subprocess.run([probe_bin(), "--kubeconfig", str(kubeconfig), *map(str, args)],
                       capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return p.returncode, lines, p.stderr


class Probe:
    """`k8s_probe watch` running in the background; its stdout lines are
    collected by a thread."""

    def __init__(self, kubeconfig, path, *opts):
        argv = [probe_bin(), "--kubeconfig", str(kubeconfig), "watch", path,
                "--backoff-max", "1", *map(str, opts)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = []
        self._lock = threading.Lock()
        self._stderr = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self._out), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self._stderr.append),
                         daemon=True).start()

    @staticmethod
    def _read(f, sink):
        for line in f:
            sink(line.rstrip("\n"))

    def _out(self, line):
        item = "SYNCED" if line == "SYNCED" else json.loads(line)
        with self._lock:
            self.lines.append(item)

    def snapshot(self):
        with self._lock:
            return list(self.lines)

    def changes(self):
        return [l for l in self.snapshot() if isinstance(l, dict)
                and l["type"] in ("ADDED", "MODIFIED", "DELETED")]

    def errors(self):
        return [l for l in self.snapshot() if isinstance(l, dict) and l["type"] == "ERROR"]

    def wait_synced(self, timeout=30):
        wait_until(lambda: "SYNCED" in self.snapshot() or self._dead(), timeout, "SYNCED")
        assert "SYNCED" in self.snapshot(), self.stderr()

    def _dead(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"k8s_probe exited {self.proc.returncode}:\n{self.stderr()}")
        return False

    def store(self, timeout=10):
        """Ask for the store (SIGUSR1) and return the new STORE line."""
        n = len(self.snapshot())
        self.proc.send_signal(signal.SIGUSR1)
        return wait_until(lambda: next((l for l in self.snapshot()[n:] if isinstance(l, dict)
                                        and l["type"] == "STORE"), None) or self._dead(),
                          timeout, "STORE line")

    def stderr(self):
        return "\n".join(self._stderr[-40:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture
def probes():
    started = []

    def start(*a):
        p = Probe(*a)
        started.append(p)
        return p
    yield start
    for p in started:
        rc = p.stop()
        # The probe exits 0 on SIGTERM; anything else (an ASan report, a
        # crash) fails the test.
        assert rc == 0, f"k8s_probe exited {rc}:\n{p.stderr()}"


def history(changes):
    """Replay changes as a store, checking each is possible: returns
    {(namespace, name): resourceVersion}."""
    state = {}
    for c in changes:
        key = (c["namespace"], c["name"])
        if c["type"] == "ADDED":
            assert key not in state, f"ADDED for a key already present: {c}"
        elif c["type"] == "MODIFIED":
            assert key in state, f"MODIFIED for an absent key: {c}"
            assert state[key] != c["resourceVersion"], f"MODIFIED without a new version: {c}"
        else:
            assert key in state, f"DELETED for an absent key: {c}"
            del state[key]
            continue
        state[key] = c["resourceVersion"]
    return state


def kubectl_state(plane, resource, namespace):
    items = plane.kubectl_json("get", resource, "-n", namespace)["items"]
    return {(i["metadata"]["namespace"], i["metadata"]["name"]): i["metadata"]["resourceVersion"]
            for i in items}


def converged(plane, probe, resource, namespace):
    """True when the probe's history and its store both equal kubectl's view."""
    want = kubectl_state(plane, resource, namespace)
    if history(probe.changes()) != want:
        return False
    store = probe.store()
    return {(i["namespace"], i["name"]): i["resourceVersion"] for i in store["items"]} == want


def service(name, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"port": 80}], **spec}}


def create_services(plane, namespace, *names):
    for n in names:
        plane.kubectl("create", "service", "clusterip", n, "--tcp=80:80", "-n", namespace)


def write_kubeconfig(path, server, ca_pem=None, token=None, token_file=None, insecure=False,
                     cert_pem=None, key_pem=None):
    cluster = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    user = {}
    if token:
        user["token"] = token
    if token_file:
        user["tokenFile"] = str(token_file)
    if cert_pem:
        user["client-certificate-data"] = base64.b64encode(cert_pem).decode()
        user["client-key-data"] = base64.b64encode(key_pem).decode()
    # YAML this time (the plane writes JSON): both go through the manifest reader.
    lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: c", "  cluster:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in cluster.items()]
    lines += ["users:", "- name: u", "  user:" + ("" if user else " {}")]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in user.items()]
    lines += ["contexts:", "- name: x", "  context: {cluster: c, user: u}", "current-context: x"]
    pathlib.Path(path).write_text("\n".join(lines) + "\n")
    return path


class TcpProxy:
    """127.0.0.1:port -> upstream, with cut() / freeze() / restore()."""

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.mode = "open"
        self.pairs = {}          # socket -> peer socket
        self.lock = threading.Lock()
        self.stopping = False
        self.listener = self._listen(0)
        self.port = self.listener.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _listen(port):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        s.setblocking(False)
        return s

    def _close_all(self):
        for s in list(self.pairs):
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        self.pairs.clear()

    def _run(self):
        while not self.stopping:
            with self.lock:
                events = self.sel.select(0.05)
                for key, _ in events:
                    s = key.fileobj
                    if s is self.listener:
                        self._accept()
                    elif s in self.pairs and self.mode == "open":
                        self._pump(s)

    def _accept(self):
        try:
            c, _ = self.listener.accept()
        except BlockingIOError:
            return
        try:
            u = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            c.close()
            return
        c.setblocking(True)
        u.setblocking(True)
        self.pairs[c], self.pairs[u] = u, c
        if self.mode == "open":
            self.sel.register(c, selectors.EVENT_READ)
            self.sel.register(u, selectors.EVENT_READ)

    def _pump(self, s):
        peer = self.pairs[s]
        try:
            data = s.recv(65536)
            if data:
                peer.sendall(data)
                return
        except OSError:
            pass
        for x in (s, peer):
            self.pairs.pop(x, None)
            try:
                self.sel.unregister(x)
            except (KeyError, ValueError):
                pass
            x.close()

    def cut(self):
        """Close every connection and refuse new ones (connection refused)."""
        with self.lock:
            self.mode = "cut"
            self._close_all()
            self.sel.unregister(self.listener)
            self.listener.close()

    def freeze(self):
        """Keep connections open but forward nothing, either way."""
        with self.lock:
            self.mode = "frozen"
            for s in self.pairs:
                self.sel.unregister(s)

    def restore(self):
        with self.lock:
            if self.mode == "cut":
                self.listener = self._listen(self.port)
                self.sel.register(self.listener, selectors.EVENT_READ)
            elif self.mode == "frozen":
                for s in self.pairs:
                    self.sel.register(s, selectors.EVENT_READ)
            self.mode = "open"

    def close(self):
        self.stopping = True
        self.thread.join(5)
        with self.lock:
            self._close_all()
            self.listener.close()


@pytest.fixture
def proxy(plane):
    p = TcpProxy(plane.port)
    yield p
    p.close()


def proxied_kubeconfig(plane, proxy, path):
    return write_kubeconfig(path, f"https://127.0.0.1:{proxy.port}",
                            ca_pem=plane.ca_file.read_bytes(), token=plane.admin_token)


# ---------------------------------------------------------------------------
# list + watch


def test_watch_sees_creates_updates_deletes_in_order(plane, namespace, probes):
    create_services(plane, namespace, "before")
    p = probes(plane.kubeconfig, f"/api/v1/namespaces/{namespace}/services")
    p.wait_synced()
    lines = p.snapshot()
    assert lines[0]["type"] == "ADDED" and lines[0]["name"] == "before"
    assert lines[1] == "SYNCED"

    create_services(plane, namespace, "a", "b")
    plane.kubectl("label", "service", "a", "color=blue", "-n", namespace)
    plane.kubectl("delete", "service", "b", "-n", namespace)
    want = [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    wait_until(lambda: len(p.changes()) >= 5, 20, "four changes after the list")
    got = [(c["type"], c["name"]) for c in p.changes()[1:]]
    assert got == want
    mod = p.changes()[3]
    assert mod["oldResourceVersion"] == p.changes()[1]["resourceVersion"]
    assert all(c["namespace"] == namespace for c in p.changes())
    assert converged(plane, p, "services", namespace)
    assert p.store()["lists"] == 1 and not p.errors()


def test_list_in_pages(plane, namespace, probes):
    for i in range(7):
        plane.kubectl("create", "configmap", f"cm{i}", "-n", namespace, f"--from-literal=k={i}")
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rc, lines, err = run_probe(plane.kubeconfig, "list", path, "--limit", "3")
    assert rc == 0, err
    assert lines[-1]["type"] == "LIST" and lines[-1]["items"] == 7 and lines[-1]["pages"] == 3
    assert sorted(l["name"] for l in lines[:-1]) == [f"cm{i}" for i in range(7)]

    p = probes(plane.kubeconfig, path, "--page-limit", "3")
    p.wait_synced()
    before = p.snapshot()[:p.snapshot().index("SYNCED")]
    assert sorted(l["name"] for l in before) == [f"cm{i}" for i in range(7)]
    assert {l["type"] for l in before} == {"ADDED"}
    # list items get kind and apiVersion from the List, like watched objects have
    assert {(l["kind"], l["apiVersion"]) for l in before} == {("ConfigMap", "v1")}
    assert converged(plane, p, "configmaps", namespace)


def test_reflector_on_a_custom_resource(plane, namespace, probes):
    docs = (ROOT / "deploy" / "ironlb.yaml").read_text().split("\n---")
    crd = next(d for d in docs if "name: ipaddresspools.metallb.io" in d)
    plane.apply(crd)
    plane.kubectl("wait", "--for=condition=Established", "crd/ipaddresspools.metallb.io",
                  "--timeout=30s")

    def pool(name, address):
        return {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"addresses": [address]}}
    # (kubectl's discovery of the new kind can lag behind Established)
    wait_until(lambda: plane.apply(pool("first", "192.0.2.0/28"), check=False).returncode == 0,
               30, "the first IPAddressPool")
    path = f"/apis/metallb.io/v1beta1/namespaces/{namespace}/ipaddresspools"
    p = probes(plane.kubeconfig, path)
    p.wait_synced()
    plane.apply(pool("second", "2001:db8::/120"))
    plane.kubectl("delete", "ipaddresspools.metallb.io", "first", "-n", namespace)
    wait_until(lambda: len(p.changes()) == 3, 20, "three changes")
    assert [(c["type"], c["name"], c["kind"], c["apiVersion"]) for c in p.changes()] == [
        ("ADDED", "first", "IPAddressPool", "metallb.io/v1beta1"),
        ("ADDED", "second", "IPAddressPool", "metallb.io/v1beta1"),
        ("DELETED", "first", "IPAddressPool", "metallb.io/v1beta1")]
    assert converged(plane, p, "ipaddresspools.metallb.io", namespace)


def test_watch_resumes_after_disconnect_loses_and_duplicates_nothing(plane, namespace, probes,
                                                                    proxy, tmp_path):
    """A broken stream is watched again from the store's resourceVersion:
    what changed meanwhile comes by the watch, without a list."""
    kc = proxied_kubeconfig(plane, proxy, tmp_path / "proxied.yaml")
    create_services(plane, namespace, "a", "b", "c", "d")
    p = probes(kc, f"/api/v1/namespaces/{namespace}/services")
    p.wait_synced()
    assert len(p.changes()) == 4

    proxy.cut()
    wait_until(lambda: p.errors(), 20, "the probe to notice the broken stream")
    # While the probe cannot reach the API server:
    create_services(plane, namespace, "e", "f")
    plane.kubectl("delete", "service", "a", "-n", namespace)
    plane.kubectl("label", "service", "b", "color=red", "-n", namespace)
    plane.kubectl("delete", "service", "c", "-n", namespace)
    create_services(plane, namespace, "c")  # same name, new object
    proxy.restore()

    wait_until(lambda: converged(plane, p, "services", namespace), 30,
               "the probe's store to match kubectl get after the watch resumed")
    after = p.changes()[4:]
    # c deleted and made again: by the watch, DELETED then ADDED, in order
    assert sorted((c["type"], c["name"]) for c in after) == [
        ("ADDED", "c"), ("ADDED", "e"), ("ADDED", "f"), ("DELETED", "a"), ("DELETED", "c"),
        ("MODIFIED", "b")]
    store = p.store()
    assert store["lists"] == 1 and store["resumes"] >= 1, store
    assert {e["kind"] for e in p.errors()} <= {"connect", "tls"}


def test_relist_after_apiserver_restart(plane, namespace, probes):
    create_services(plane, namespace, "keep", "gone")
    p = probes(plane.kubeconfig, f"/api/v1/namespaces/{namespace}/services")
    p.wait_synced()
    plane.restart_apiserver()
    plane.kubectl("delete", "service", "gone", "-n", namespace)
    create_services(plane, namespace, "new")
    wait_until(lambda: converged(plane, p, "services", namespace), 40,
               "the probe's store to match kubectl get after the restart")
    # by the watch (in this order) or by a relist (additions first): either way once
    assert sorted((c["type"], c["name"]) for c in p.changes()[2:]) == [("ADDED", "new"),
                                                                       ("DELETED", "gone")]
    assert p.errors(), "the restart went unnoticed"
    # The watch is resumed from the store's version while the server is
    # down; the restarted server's watch cache begins after that version
    # (the server writes as it starts), so it answers 410 once, and one
    # list follows: never a list per attempt.
    store = p.store()
    assert store["resumes"] >= 1 and store["lists"] <= 2, store


def test_requests_started_and_cancelled_inside_a_watch_callback(plane, namespace):
    """What a controller does from a reflector's change callback, which runs
    inside the transport's read: start a request, stop watches (its own among them)."""
    create_services(plane, namespace, "one", "two")
    rc, out, err = run_probe(plane.kubeconfig, "reentrancy",
                             f"/api/v1/namespaces/{namespace}/services")
    assert rc == 0, (out, err)
    assert out[0]["type"] == "ADDED"
    # the watch was cancelled in its first event: no second event, no
    # callbacks for the cancelled watches, and nothing left behind
    assert [o["type"] for o in out] == ["ADDED", "GET"], out
    assert out[1]["status"] == 200 and out[1]["pending"] == 0


# ---------------------------------------------------------------------------
# writes


def test_patch_status_create_event(plane, namespace):
    plane.apply({**service("lb", type="LoadBalancer"), "metadata": {"name": "lb",
                                                                    "namespace": namespace}})
    path = f"/api/v1/namespaces/{namespace}/services/lb"
    rc, out, err = run_probe(plane.kubeconfig, "patch-status", path,
                             '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10"}]}}}')
    assert rc == 0, (out, err)
    assert [i["ip"] for i in out[0]["status"]["loadBalancer"]["ingress"]] == ["192.0.2.10"]
    jp = "jsonpath={.status.loadBalancer.ingress[*].ip}"
    assert plane.kubectl("get", "svc", "lb", "-n", namespace, "-o", jp).stdout == "192.0.2.10"

    # JSON patch (RFC 6902) on the status subresource
    rc, out, err = run_probe(plane.kubeconfig, "patch", path + "/status", "json",
                             '[{"op":"add","path":"/status/loadBalancer/ingress/-",'
                             '"value":{"ip":"2001:db8::10"}}]')
    assert rc == 0, (out, err)
    assert plane.kubectl("get", "svc", "lb", "-n", namespace, "-o",
                         jp).stdout == "192.0.2.10 2001:db8::10"
    # a merge patch of the object itself leaves the status alone
    rc, out, err = run_probe(plane.kubeconfig, "patch", path, "merge",
                             '{"metadata":{"annotations":{"ironlb.io/test":"yes"}}}')
    assert rc == 0, (out, err)
    assert out[0]["metadata"]["annotations"]["ironlb.io/test"] == "yes"
    assert len(out[0]["status"]["loadBalancer"]["ingress"]) == 2

    event = {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "lb.ironlb-test", "namespace": namespace},
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
        "reportingController": "ironlb.io/controller", "reportingInstance": "ironlb-test",
        "action": "IPAllocated", "reason": "IPAllocated", "type": "Normal",
        "note": "Assigned IP [\"192.0.2.10\"]",
        "regarding": {"apiVersion": "v1", "kind": "Service", "name": "lb",
                      "namespace": namespace},
    }
    rc, out, err = run_probe(plane.kubeconfig, "create",
                             f"/apis/events.k8s.io/v1/namespaces/{namespace}/events",
                             json.dumps(event))
    assert rc == 0, (out, err)
    got = plane.kubectl_json("get", "events.events.k8s.io", "lb.ironlb-test", "-n", namespace)
    assert got["reason"] == "IPAllocated" and got["regarding"]["name"] == "lb"


def test_conflict_and_already_exists_reported(plane, namespace):
    create_services(plane, namespace, "web")
    path = f"/api/v1/namespaces/{namespace}/services/web"
    rc, out, err = run_probe(plane.kubeconfig, "get", path)
    assert rc == 0, err
    stale = out[0]
    fresh = json.loads(json.dumps(stale))
    fresh["metadata"].setdefault("labels", {})["v"] = "1"
    rc, out, err = run_probe(plane.kubeconfig, "update", path, json.dumps(fresh))
    assert rc == 0, (out, err)
    assert out[0]["metadata"]["resourceVersion"] != stale["metadata"]["resourceVersion"]

    stale["metadata"].setdefault("labels", {})["v"] = "2"
    rc, out, err = run_probe(plane.kubeconfig, "update", path, json.dumps(stale))
    assert rc == 1
    e = out[0]["error"]
    assert (e["kind"], e["status"], e["reason"]) == ("http", 409, "Conflict")
    assert "the object has been modified" in e["status_message"]
    assert e["message"].startswith(f"PUT {path}: 409 Conflict: Operation cannot be fulfilled")

    rc, out, err = run_probe(plane.kubeconfig, "create", f"/api/v1/namespaces/{namespace}/services",
                             json.dumps(service("web")))
    assert rc == 1
    assert (out[0]["error"]["status"], out[0]["error"]["reason"]) == (409, "AlreadyExists")

    rc, out, err = run_probe(plane.kubeconfig, "get", path + "-nope")
    assert rc == 1 and out[0]["error"]["reason"] == "NotFound"


# ---------------------------------------------------------------------------
# authentication and TLS


def test_service_account_forbidden_then_allowed(plane, namespace, probes):
    plane.create_service_account("lb", namespace)
    kc = plane.service_account_kubeconfig("lb", namespace)
    path = f"/api/v1/namespaces/{namespace}/services"
    rc, out, err = run_probe(kc, "list", path)
    assert rc == 1
    e = out[0]["error"]
    assert (e["kind"], e["status"], e["reason"]) == ("http", 403, "Forbidden")
    assert (f'User "system:serviceaccount:{namespace}:lb" cannot list resource "services"'
            in e["message"])

    # A reflector without rights reports 403 and keeps trying; a Role lets it in.
    p = probes(kc, path)
    wait_until(lambda: any(x["status"] == 403 for x in p.errors()), 20, "a 403 from the reflector")
    plane.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": {"name": "svc-read", "namespace": namespace},
                 "rules": [{"apiGroups": [""], "resources": ["services"],
                            "verbs": ["list", "watch"]}]})
    plane.kubectl("create", "rolebinding", "svc-read", "--role=svc-read",
                  f"--serviceaccount={namespace}:lb", "-n", namespace)
    p.wait_synced(timeout=30)
    create_services(plane, namespace, "seen")
    wait_until(lambda: [c["name"] for c in p.changes()] == ["seen"], 20, "the Service")


def test_token_file_is_read_again_when_it_changes(plane, namespace, probes, tmp_path):
    token = tmp_path / "token"
    token.write_text("not-a-valid-token\n")
    kc = write_kubeconfig(tmp_path / "kc.yaml", plane.url, ca_pem=plane.ca_file.read_bytes(),
                          token_file=token)
    p = probes(kc, f"/api/v1/namespaces/{namespace}/services")
    wait_until(lambda: any(x["status"] == 401 for x in p.errors()), 20, "401 Unauthorized")
    assert p.errors()[0]["reason"] == "Unauthorized"
    # a rotation as the kubelet does it: a new file moved into place
    new = tmp_path / "token.new"
    new.write_text(plane.admin_token + "\n")
    new.rename(token)
    p.wait_synced()


def test_bad_ca_is_a_tls_error(plane, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=other-ca",
                    "-keyout", str(tmp_path / "ca.key"), "-out", str(tmp_path / "ca.crt")],
                   check=True, capture_output=True)
    kc = write_kubeconfig(tmp_path / "kc.yaml", plane.url,
                          ca_pem=(tmp_path / "ca.crt").read_bytes(), token=plane.admin_token)
    rc, out, err = run_probe(kc, "get", "/api/v1/namespaces/default")
    assert rc == 1
    e = out[0]["error"]
    assert e["kind"] == "tls" and e["status"] == 0
    assert "certificate" in e["message"] and plane.url in e["message"]

    # the same server with verification off works
    kc = write_kubeconfig(tmp_path / "kc2.yaml", plane.url, insecure=True,
                          token=plane.admin_token)
    rc, out, err = run_probe(kc, "get", "/api/v1/namespaces/default")
    assert rc == 0 and out[0]["metadata"]["name"] == "default"


class NamespaceOverTls(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the Namespace "default"."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        data = json.dumps({"kind": "Namespace", "apiVersion": "v1",
                           "metadata": {"name": "default"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("san,host,ok", [
    ("IP:127.0.0.1", "127.0.0.1", True),
    ("IP:10.9.9.9,DNS:127.0.0.1", "127.0.0.1", False),
    ("DNS:localhost", "localhost", True),
    ("DNS:api.example,IP:127.0.0.1", "localhost", False),
])
def test_server_certificate_must_name_the_host(tmp_path, san, host, ok):
    """The server's certificate must name the host of the server URL: an IP
    address by an IP address entry (a DNS entry spelling it does not
    count), a name by a DNS entry.  Whatever else the certificate names,
    a mismatch is a TLS error that says so."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=apiserver", "-addext", f"subjectAltName={san}",
                    "-keyout", str(tmp_path / "srv.key"), "-out", str(tmp_path / "srv.crt")],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "srv.crt", tmp_path / "srv.key")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NamespaceOverTls)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"https://{host}:{srv.server_address[1]}"
        kc = write_kubeconfig(tmp_path / "kc.yaml", url,
                              ca_pem=(tmp_path / "srv.crt").read_bytes(), token="t")
        rc, out, err = run_probe(kc, "get", "/api/v1/namespaces/default", timeout=30)
        if ok:
            assert rc == 0, (out, err)
            assert out[0]["metadata"]["name"] == "default"
            # Python's server offers no ALPN: HTTP/1.1 then.
            rc, out, err = run_probe(kc, "protocol", "/api/v1/namespaces/default")
            assert out == [{"type": "PROTOCOL", "protocol": "http/1.1"}], (out, err)
            return
        assert rc == 1, (out, err)
        e = out[0]["error"]
        assert e["kind"] == "tls" and e["status"] == 0, e
        assert e["message"].startswith(f"GET {url}/api/v1/namespaces/default: TLS: "), e
        assert f"certificate does not match the host name {host}" in e["message"], e
    finally:
        srv.shutdown()
        srv.server_close()


def tcp_connections(pid, port):
    """Established TCP connections of process pid to port (IPv4 or IPv6)."""
    inodes = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    n = 0
    for table in ("tcp", "tcp6"):
        for line in pathlib.Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "01" and int(f[2].rsplit(":", 1)[1], 16) == port and f[9] in inodes:
                n += 1
    return n


def configmap_watches(plane, namespace):
    """Watches of ConfigMaps the API server is serving now, namespaced."""
    for line in plane.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if (line.startswith("apiserver_longrunning_requests{") and
                'resource="configmaps"' in line and 'scope="namespace"' in line and
                'verb="WATCH"' in line):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def test_http2_carries_every_request_on_one_connection(plane, namespace):
    """kube-apiserver offers HTTP/2 by ALPN: the client takes it, and five
    watches and the requests around them share one TCP connection."""
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rc, out, err = run_probe(plane.kubeconfig, "protocol", path)
    assert rc == 0, err
    assert out[-1] == {"type": "PROTOCOL", "protocol": "h2"}, out
    before = configmap_watches(plane, namespace)
    p = subprocess.Popen([probe_bin(), "--kubeconfig", str(plane.kubeconfig), "watches", "5",
                          path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: configmap_watches(plane, namespace) >= before + 5, 20,
                   "the probe's five watches")
        assert tcp_connections(p.pid, plane.port) == 1
    finally:
        p.kill()
        p.wait()


def test_http2_goaway_loses_no_request(k8s_binaries):
    """An API server that sends GOAWAY now and then (--goaway-chance, as
    one behind a load balancer is told to, so that clients spread out):
    every request still gets its answer; streams the server refused go
    out again on a new connection."""
    with cpmod.ControlPlane(k8s_binaries, extra_apiserver_args=["--goaway-chance=0.02"]) as cp:
        rc, out, err = run_probe(cp.kubeconfig, "get", "/api/v1/namespaces/default",
                                 "--repeat", "400", timeout=120)
        assert rc == 0, (out[-3:], err[-2000:])
        assert len(out) == 400 and all(o["metadata"]["name"] == "default" for o in out)


def test_in_cluster_service_account(plane, namespace, tmp_path):
    plane.create_service_account("incluster", namespace)
    # (the aggregated ClusterRole "view" is empty here: no controller-manager)
    plane.kubectl("create", "role", "svc-list", "--verb=list", "--resource=services",
                  "-n", namespace)
    plane.kubectl("create", "rolebinding", "svc-list", "--role=svc-list",
                  f"--serviceaccount={namespace}:incluster", "-n", namespace)
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(plane.create_token("incluster", namespace))
    (sa / "ca.crt").write_bytes(plane.ca_file.read_bytes())
    (sa / "namespace").write_text(namespace)
    p = subprocess.run([probe_bin(), "--in-cluster", str(sa), "list",
                        f"/api/v1/namespaces/{namespace}/services"],
                       capture_output=True, text=True, timeout=30,
                       env={**os.environ, "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                            "KUBERNETES_SERVICE_PORT": str(plane.port)})
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout.splitlines()[-1])["type"] == "LIST"


# ---------------------------------------------------------------------------
# 410 Gone and client certificates: a plane without the watch cache (watches
# go to etcd, whose compaction makes old resourceVersions expire) that also
# trusts a client CA of ours.


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")

    def ossl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=ironlb-test-client-ca",
         "-keyout", "ca.key", "-out", "ca.crt")
    ossl("req", *ec, "-subj", "/O=system:masters/CN=ironlb-cert-user", "-keyout",
         "client.key", "-out", "client.csr")
    ossl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "1", "-out", "client.crt")
    return d


@pytest.fixture(scope="module")
def plane_nocache(k8s_binaries, pki):
    with cpmod.ControlPlane(k8s_binaries, extra_apiserver_args=[
            "--watch-cache=false", f"--client-ca-file={pki / 'ca.crt'}"]) as cp:
        yield cp


def etcd_call(plane, endpoint, body):
    req = urllib.request.Request(plane.etcd_url + endpoint, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def compact_etcd(plane):
    """Compact etcd at its current revision: older resourceVersions expire."""
    rev = etcd_call(plane, "/v3/kv/range", {"key": base64.b64encode(b"/").decode()})
    rev = rev["header"]["revision"]
    etcd_call(plane, "/v3/kv/compaction", {"revision": rev, "physical": True})
    return int(rev)


def test_client_certificate_auth(plane_nocache, pki, tmp_path):
    kc = write_kubeconfig(tmp_path / "kc.yaml", plane_nocache.url,
                          ca_pem=plane_nocache.ca_file.read_bytes(),
                          cert_pem=(pki / "client.crt").read_bytes(),
                          key_pem=(pki / "client.key").read_bytes())
    rc, out, err = run_probe(kc, "get", "/api/v1/namespaces/default")
    assert rc == 0, (out, err)
    who = run_probe(kc, "create", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}')
    assert who[0] == 0, who
    assert who[1][0]["status"]["userInfo"]["username"] == "ironlb-cert-user"


def test_watch_from_a_compacted_version_is_410(plane_nocache):
    ns = "raw410"
    plane_nocache.create_namespace(ns)
    plane_nocache.kubectl("create", "service", "clusterip", "x", "--tcp=80:80", "-n", ns)
    compact_etcd(plane_nocache)
    rc, out, err = run_probe(plane_nocache.kubeconfig, "watch-raw",
                             f"/api/v1/namespaces/{ns}/services", "--resource-version", "2",
                             "--timeout-seconds", "5")
    assert rc == 0, err
    assert out[0]["type"] == "ERROR" and out[0]["code"] == 410 and out[0]["gone"] is True
    assert out[-1] == {"type": "END"}


def namespaced_service_watches(plane):
    """Watches of namespaced Services the API server is serving now."""
    for line in plane.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if (line.startswith("apiserver_longrunning_requests{") and 'resource="services"' in line
                and 'scope="namespace"' in line and 'verb="WATCH"' in line):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def test_reflector_relists_on_410(plane_nocache, probes, tmp_path):
    plane = plane_nocache
    ns = "relist410"
    plane.create_namespace(ns)
    plane.create_namespace(ns + "-noise")
    create_services(plane, ns, "a", "b", "c")
    proxy = TcpProxy(plane.port)
    try:
        kc = proxied_kubeconfig(plane, proxy, tmp_path / "kc.yaml")
        # The server ends each watch after a second; the probe then
        # watches again from the version it has.
        p = probes(kc, f"/api/v1/namespaces/{ns}/services", "--watch-timeout", "1")
        p.wait_synced()
        proxy.freeze()
        # Once the server has ended the probe's watch (which the probe
        # cannot see: the end waits in the frozen proxy), no stream
        # carries what happens next.
        wait_until(lambda: namespaced_service_watches(plane) == 0, 20,
                   "the server to end the probe's watch")
        plane.kubectl("delete", "service", "a", "-n", ns)
        plane.kubectl("label", "service", "b", "x=y", "-n", ns)
        create_services(plane, ns, "d")
        # Writes elsewhere move etcd on; compaction at the last revision R
        # then expires every version the probe may hold (at most R-2: a
        # watch from R-2 starts at R-1, which is gone).
        plane.kubectl("create", "configmap", "noise", "-n", ns + "-noise")
        plane.kubectl("label", "configmap", "noise", "x=y", "-n", ns + "-noise")
        compact_etcd(plane)
        proxy.restore()
        wait_until(lambda: converged(plane, p, "services", ns), 30,
                   "the probe's store to match kubectl get after the relist")
        lines = [l for l in p.snapshot() if isinstance(l, dict) and l["type"] != "STORE"]
        gone = [i for i, l in enumerate(lines) if l["type"] == "ERROR" and l["status"] == 410]
        assert gone, lines
        assert lines[gone[0]]["reason"] == "Expired"
        # what changed while no watch was open came with the relist, after the 410
        after = sorted((l["type"], l["name"]) for l in lines[gone[0] + 1:]
                       if l["type"] != "ERROR")
        assert after == [("ADDED", "d"), ("DELETED", "a"), ("MODIFIED", "b")], lines
        assert p.store()["lists"] >= 2
    finally:
        proxy.close()
