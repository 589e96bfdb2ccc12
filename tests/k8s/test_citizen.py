"""The API client as a good citizen of the API server: the client-side
rate limit spaces requests out, a 429 with Retry-After (in seconds and as
an HTTP-date) is sent again after the time asked for, and a controller
restarted with nothing changed writes nothing.

The rate limit and a restart go against a real kube-apiserver.  429s come
from a real one too: API Priority and Fairness with a priority level of
one seat that rejects (not queues) what it cannot seat, for one
ServiceAccount, which 8 requests in flight at once overrun.  The exact
Retry-After forms (seconds, an HTTP-date) and the bound on retries come
from a small HTTP server in the test, which answers 429 a given number of
times and then what an API server would."""
import email.utils
import http.server
import json
import re
import threading
import time
import urllib.request

import pytest

import controlplane as cpmod
from test_client import run_probe
from test_controller import ingress, metallb, controller  # noqa: F401 (fixtures)


def test_rate_limit_spaces_requests(plane):
    # 2 at once, then 4 a second: 8 requests take at least 6 x 0.25 s.
    start = time.monotonic()
    rc, out, err = run_probe(plane.kubeconfig, "--qps", "4", "--burst", "2", "get",
                             "/api/v1/namespaces/default", "--repeat", "8")
    took = time.monotonic() - start
    assert rc == 0, err
    assert len(out) == 8 and all(o["metadata"]["name"] == "default" for o in out), out
    assert took >= 1.45, took


class Busy(http.server.BaseHTTPRequestHandler):
    """Answers 429 with each of server.retry_after in turn, then 200."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        srv = self.server
        srv.seen.append(time.monotonic())
        if srv.answers:
            after = srv.answers.pop(0)
            body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                               "reason": "TooManyRequests", "code": 429,
                               "message": "too many requests, please try again later"})
            code, headers = 429, {"Retry-After": after() if callable(after) else after}
        else:
            body = json.dumps({"kind": "Namespace", "apiVersion": "v1",
                               "metadata": {"name": "default", "resourceVersion": "1"}})
            code, headers = 200, {}
        data = body.encode()
        self.send_response(code)
        for k, v in {**headers, "Content-Type": "application/json",
                     "Content-Length": str(len(data))}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def busy_server(tmp_path):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    srv.seen, srv.answers = [], []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    kc = tmp_path / "busy.yaml"
    kc.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "busy",
        "clusters": [{"name": "busy", "cluster": {
            "server": f"http://127.0.0.1:{srv.server_address[1]}"}}],
        "users": [{"name": "busy", "user": {"token": "t"}}],
        "contexts": [{"name": "busy", "context": {"cluster": "busy", "user": "busy"}}]}))
    yield srv, kc
    srv.shutdown()
    srv.server_close()


def test_429_retry_after_seconds_and_date_honoured(busy_server):
    srv, kc = busy_server
    # A date two seconds ahead: at least one second's wait at 1 s precision.
    date = lambda: email.utils.formatdate(time.time() + 2, usegmt=True)  # noqa: E731
    srv.answers = ["1", date]
    rc, out, err = run_probe(kc, "get", "/api/v1/namespaces/default")
    assert rc == 0, err
    assert out and out[0]["metadata"]["name"] == "default", out
    assert len(srv.seen) == 3, srv.seen
    gaps = [b - a for a, b in zip(srv.seen, srv.seen[1:])]
    assert gaps[0] >= 0.95 and gaps[1] >= 0.95, gaps
    assert "API server busy; sending the request again" in err
    assert "error" not in err.lower(), err


def test_429_retries_are_bounded(busy_server):
    srv, kc = busy_server
    srv.answers = ["0"] * 50
    rc, out, err = run_probe(kc, "get", "/api/v1/namespaces/default")
    assert rc != 0
    # the first answer and 10 retries, then the caller sees the 429
    assert len(srv.seen) == 11, len(srv.seen)
    assert "429" in err, err


# ---------------------------------------------------------------------------
# no write that changes nothing

WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY"}
# What the controller writes, the Lease aside (renewing it is its job).
OURS = {"services", "ipaddresspools", "configurationstates", "events"}


def api_writes(plane):
    """Write requests the API server has served, by resource, for the kinds
    the controller writes (apiserver_request_total)."""
    got = {}
    for line in plane.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[:line.rindex("}")]))
        if labels.get("verb") in WRITE_VERBS and labels.get("resource") in OURS:
            key = (labels["verb"], labels["resource"], labels.get("subresource", ""))
            got[key] = got.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return got


def settled(ctl):
    with urllib.request.urlopen(f"http://127.0.0.1:{ctl.port}/status", timeout=5) as r:
        st = json.load(r)
    rec = st.get("reconciler", {})
    return rec.get("synced") and rec.get("passes", 0) > 0 and not rec.get("pending")


def test_restart_with_nothing_changed_writes_nothing(metallb, namespace,  # noqa: F811
                                                     controller):  # noqa: F811
    plane = metallb
    for name in ("quiet-a", "quiet-b"):
        plane.kubectl("create", "service", "loadbalancer", name, "--tcp=80:80",
                      "-n", namespace)
    first = controller()
    cpmod.wait_until(lambda: all(ingress(plane, namespace, n)
                                 for n in ("quiet-a", "quiet-b")),
                     timeout=30, what="both Services to get an address")
    cpmod.wait_until(lambda: settled(first), timeout=30, what="the first controller to settle")
    first.stop()
    before = api_writes(plane)
    addrs = {n: ingress(plane, namespace, n) for n in ("quiet-a", "quiet-b")}

    second = controller()
    cpmod.wait_until(lambda: settled(second), timeout=30, what="the restarted controller's pass")
    second.stop()   # what it had under way is done or cancelled now
    after = api_writes(plane)
    assert {n: ingress(plane, namespace, n) for n in addrs} == addrs
    assert after == before, {k: after.get(k, 0) - before.get(k, 0)
                             for k in set(after) | set(before)
                             if after.get(k, 0) != before.get(k, 0)}


# ---------------------------------------------------------------------------
# 429 from a real API server

FLOW = """
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {name: one-seat}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 1
    lendablePercent: 0
    limitResponse: {type: Reject}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: one-seat}
spec:
  priorityLevelConfiguration: {name: one-seat}
  matchingPrecedence: 100
  distinguisherMethod: {type: ByUser}
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount: {name: busy, namespace: %(ns)s}
    resourceRules:
    - verbs: ["*"]
      apiGroups: ["*"]
      resources: ["*"]
      namespaces: ["*"]
      clusterScope: true
"""


@pytest.fixture(scope="module")
def plane_one_seat(k8s_binaries):
    """A plane whose API server has 2 seats in all, so that API Priority
    and Fairness gives the priority level above 1 seat."""
    with cpmod.ControlPlane(k8s_binaries, extra_apiserver_args=[
            "--max-requests-inflight=1", "--max-mutating-requests-inflight=1"]) as cp:
        yield cp


def rejected(plane):
    n = 0
    for line in plane.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if (line.startswith("apiserver_flowcontrol_rejected_requests_total{")
                and 'priority_level="one-seat"' in line):
            n += float(line.rsplit(" ", 1)[1])
    return n


def test_429_from_the_api_server_is_retried(plane_one_seat):
    plane = plane_one_seat
    ns = "busy"
    plane.create_namespace(ns)
    plane.create_service_account("busy", ns)
    # (no controller-manager here: the aggregated "view" role is empty)
    plane.kubectl("create", "clusterrole", "busy-get", "--verb=get", "--resource=namespaces")
    plane.kubectl("create", "clusterrolebinding", "busy-get", "--clusterrole=busy-get",
                  f"--serviceaccount={ns}:busy")
    plane.apply(FLOW % {"ns": ns})
    kc = plane.service_account_kubeconfig("busy", ns)
    # The API server takes the FlowSchema up a moment after it is written.
    cpmod.wait_until(lambda: 'priority_level="one-seat"' in plane.kubectl(
        "get", "--raw", "/metrics").stdout, timeout=30, what="the priority level in force")
    # 8 requests in flight at once against 1 seat that rejects what it
    # cannot seat: the server answers 429 with Retry-After, the client
    # sends them again, and every request gets its answer.  Whether they
    # overlap at the server depends on its load: rounds until one did.
    logs = []

    def round_with_429():
        rc, out, err = run_probe(kc, "get", f"/api/v1/namespaces/{ns}", "--repeat", "64",
                                 timeout=240)
        assert rc == 0, (out[:3], err[-2000:])
        assert len(out) == 64 and all(o["metadata"]["name"] == ns for o in out)
        logs.append(err)
        return rejected(plane) > 0

    cpmod.wait_until(round_with_429, timeout=120, what="the API server to answer 429")
    err = "".join(logs)
    assert "API server busy; sending the request again" in err
    assert "status=429" in err and "retry_after=" in err, err[-2000:]


# ---------------------------------------------------------------------------
# no hot loop on failed writes

DENY = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: %(name)s}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["UPDATE"]
      resources: ["services", "services/status"]
  validations:
  - expression: "object.metadata.name != 'stuck'"
    message: "stuck is not to be written"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: %(name)s}
spec:
  policyName: %(name)s
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: %(ns)s}
"""


def service_patches(plane):
    n = 0
    for line in plane.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if (line.startswith("apiserver_request_total{") and 'verb="PATCH"' in line
                and 'resource="services"' in line):
            n += float(line.rsplit(" ", 1)[1])
    return n


def test_refused_writes_back_off(metallb, namespace, controller):  # noqa: F811
    """A Service whose every update is refused (an admission policy, as a
    webhook or a conflict would) is written again after 1, 2, 4 ... s, up
    to 30 s, not once a second forever; once the refusal goes, it gets its
    address."""
    plane = metallb
    name = f"deny-{namespace}"[:60]
    plane.kubectl("create", "service", "loadbalancer", "stuck", "--tcp=80:80", "-n", namespace)
    plane.apply(DENY % {"name": name, "ns": namespace})
    try:
        # The API server takes the policy up a moment after it is written.
        cpmod.wait_until(lambda: "stuck is not to be written" in plane.kubectl(
            "annotate", "service", "stuck", "-n", namespace, "probe=1", "--overwrite",
            check=False).stderr, timeout=30, what="the policy in force")
        ctl = controller()
        cpmod.wait_until(lambda: "stuck is not to be written" in ctl.output(), timeout=30,
                         what="the controller's write to be refused")
        start = service_patches(plane)
        t0 = time.monotonic()
        # 20 s: with a pass a second that would be 20 passes of writes; with
        # the backoff 1+2+4+8 = 15 s holds 4 (each pass sends the status and
        # the annotation patch: at most 2 requests).
        cpmod.wait_until(lambda: time.monotonic() - t0 >= 20, timeout=25,
                         what="20 seconds of refusals")
        tried = service_patches(plane) - start
        assert 2 <= tried <= 12, (start, tried)
    finally:
        plane.kubectl("delete", "validatingadmissionpolicybinding", name, check=False)
        plane.kubectl("delete", "validatingadmissionpolicy", name, check=False)
    # the next retry, at most 30 s away, gets through
    cpmod.wait_until(lambda: ingress(plane, namespace, "stuck"), timeout=45,
                     what="the Service's address once the refusal is gone")
