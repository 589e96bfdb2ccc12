"""`ironlb run`'s reconciler, seen from outside (no root: --no-l2 --no-bgp):
a steady stream of changes in the manifests directory (a file rewritten
by a shell loop, as fast as it goes) does not hold reloads off, so a
Service added meanwhile gets its addresses; /status and /metrics show the
reconciler's counters.  (On a loaded machine the writer's own pauses can
exceed the 1 ms quiet time; tests/unit/test_reconcile.c proves the
maximum delay with a stream that never pauses.)"""
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import EXAMPLES, ironlb_bin, free_port, poll

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: late
  namespace: default
spec:
  type: LoadBalancer
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv4]
  ports:
  - port: 80
"""


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status, r.read().decode()


@pytest.fixture
def daemon(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    for f in ("ipaddresspools.yaml", "l2-advertisements.yaml"):
        shutil.copy(EXAMPLES / "dual-stack-l2" / f, d / f)
    port = free_port()
    log = open(tmp_path / "run.log", "w")
    p = subprocess.Popen([ironlb_bin(), "run", "--manifests", str(d), "--node-name", "n1",
                          "--no-l2", "--no-bgp", "--listen", f"127.0.0.1:{port}"],
                         stdout=log, stderr=subprocess.STDOUT)

    def healthy():
        assert p.poll() is None, (tmp_path / "run.log").read_text()
        try:
            return get(port, "/healthz")[0] == 200
        except OSError:
            return False
    poll(healthy, 20, "/healthz 200", interval=0.02)
    yield d, port
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=20)
    log.close()
    out = (tmp_path / "run.log").read_text()
    assert rc == 0, out
    for bad in ("Sanitizer", "runtime error:"):
        assert bad not in out, out


def ingress(port, name):
    st = json.loads(get(port, "/status")[1])
    for s in st["services"]:
        if s["name"] == name:
            return s["ingress"]
    return None


def metric(port, name):
    for line in get(port, "/metrics")[1].splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_stream_of_changes_does_not_hold_reloads_off(daemon):
    d, port = daemon
    rec = json.loads(get(port, "/status")[1])["reconciler"]
    assert rec["synced"] and rec["passes"] >= 1, rec
    assert rec["timing"]["quiet"] == 0.001 and rec["timing"]["max_delay"] == 0.5, rec

    # A file that is not a manifest, rewritten without pause by another
    # process: every close is a change for the reconciler, mostly less than
    # 1 ms apart.
    writer = subprocess.Popen(["sh", "-c", "while :; do echo x > noise.txt; done"], cwd=d)
    try:
        poll(lambda: metric(port, "ironlb_reconcile_changes_total") > 10, 5,
             "the stream under way")
        passes = metric(port, "ironlb_reconcile_passes_total")
        tmp = d / ".late.tmp"
        tmp.write_text(SERVICE)
        tmp.rename(d / "late.yaml")
        t0 = time.monotonic()
        got = poll(lambda: ingress(port, "late"), 5, "the new Service's address")
        took = time.monotonic() - t0
        assert writer.poll() is None
    finally:
        writer.kill()
        writer.wait()
    assert got and got[0].startswith("192.168.100."), got
    assert took < 0.5 + 1.0, took
    assert metric(port, "ironlb_reconcile_passes_total") > passes
    assert metric(port, "ironlb_reconcile_longest_wait_seconds") < 0.5 + 0.5
