"""The API client as a good citizen of the API server: the client-side
rate limit spaces requests out, a 429 with Retry-After (in seconds and as
an HTTP-date) is sent again after the time asked for, and a controller
restarted with nothing changed writes nothing.

The rate limit and a restart go against a real kube-apiserver; the 429s
come from a small HTTP server in the test (a real API server answers 429
only under load that a test cannot make on time), which answers 429 a
given number of times and then what an API server would."""
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
