"""`ironlb run --state` with a damaged or absurd state file (no root:
--no-l2 --no-bgp): one bad entry costs only its own Service the addresses
it had, and a state path that is not a file is refused at once with a
message naming it."""
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

from conftest import EXAMPLES, ironlb_bin, free_port, poll

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {name}
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


def manifests(tmp_path, names):
    d = tmp_path / "m"
    d.mkdir()
    for f in ("ipaddresspools.yaml", "l2-advertisements.yaml"):
        shutil.copy(EXAMPLES / "dual-stack-l2" / f, d / f)
    (d / "svc.yaml").write_text("---\n".join(SERVICE.format(name=n) for n in names))
    return d


def test_a_damaged_entry_drops_only_its_service(tmp_path):
    d = manifests(tmp_path, ["alpha", "bravo", "charlie"])
    entry = lambda name, ip: {"namespace": "default", "name": name,  # noqa: E731
                              "addresses": [ip], "pools": ["ipv4-pool"]}
    doc = {"version": 1, "node": "n1", "services": [
        entry("alpha", "192.168.100.77"),
        entry("charlie", "192.168.100.300"),   # damaged
        entry("bravo", "192.168.100.88"),
    ]}
    state = tmp_path / "state.json"
    text = json.dumps(doc, indent=1)
    state.write_text(text)
    # The damaged entry's line: its opening brace, two above its name.
    lines = text.splitlines()
    bad_line = next(i for i, l in enumerate(lines, 1) if '"charlie"' in l) - 2
    assert lines[bad_line - 1].strip() == "{"
    port = free_port()
    log = tmp_path / "run.log"
    with open(log, "w") as lf:
        p = subprocess.Popen([ironlb_bin(), "run", "--manifests", str(d), "--node-name", "n1",
                              "--no-l2", "--no-bgp", "--state", str(state),
                              "--listen", f"127.0.0.1:{port}"],
                             stdout=lf, stderr=subprocess.STDOUT)
        try:
            def ingress():
                assert p.poll() is None, log.read_text()
                st = json.loads(get(port, "/status")[1])
                got = {s["name"]: s["ingress"] for s in st["services"]}
                return got if all(got.get(n) for n in ("alpha", "bravo", "charlie")) else None
            got = poll(ingress, 30, "three Services with addresses", tolerate=(OSError,))
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=20)
    out = log.read_text()
    assert rc == 0, out
    # The good entries keep their addresses; the damaged one is allocated anew.
    assert got["alpha"] == ["192.168.100.77"], got
    assert got["bravo"] == ["192.168.100.88"], got
    assert got["charlie"] not in (["192.168.100.77"], ["192.168.100.88"]), got
    line = [l for l in out.splitlines() if "state file entry dropped" in l]
    assert len(line) == 1, out
    assert f"line {bad_line}: services[1].addresses[0]: not an address" in line[0], line[0]
    assert "state file is corrupt" not in out, out
    assert not list(tmp_path.glob("state.json.corrupt-*"))
    for bad in ("Sanitizer", "runtime error:"):
        assert bad not in out, out


def test_a_state_path_at_dev_zero_is_refused(tmp_path):
    d = manifests(tmp_path, ["alpha"])
    t0 = time.monotonic()
    p = subprocess.run([ironlb_bin(), "run", "--manifests", str(d), "--node-name", "n1",
                        "--no-l2", "--no-bgp", "--state", "/dev/zero",
                        "--listen", f"127.0.0.1:{free_port()}"],
                       capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    assert p.returncode != 0, p.stderr
    assert "/dev/zero: not a regular file" in p.stderr, p.stderr
    assert took < 10, took
