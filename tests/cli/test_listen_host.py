"""The listen address of /metrics, /healthz and /status, as docs/cli.md
("Listen addresses") gives it to `ironlb run`, `ironlb controller` and
`ironlb speaker`: --metrics-host ADDR serves on that address alone at
--metrics-listen's port; a name, a port with the host, an IPv4 address in
brackets or an IPv6 --metrics-listen without brackets is refused with
exit code 2 before anything starts."""
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import EXAMPLES, ironlb_bin, free_port, poll, run_ironlb

CMDS = ["run", "controller", "speaker"]


def argv(cmd, tmp_path, *extra):
    if cmd == "run":
        d = tmp_path / "m"
        d.mkdir(exist_ok=True)
        return ["run", "--manifests", str(d), "--node-name", "n1", *extra]
    if cmd == "speaker":
        return ["speaker", "--node-name", "n1", "--kubeconfig", "/nonexistent", *extra]
    return ["controller", "--kubeconfig", "/nonexistent", *extra]


@pytest.mark.parametrize("cmd", CMDS)
@pytest.mark.parametrize("host,why", [
    ("localhost", '"localhost" is not a numeric IPv4 or IPv6 address (names are not resolved'),
    ("", '"" is not a numeric IPv4 or IPv6 address'),
    ("192.0.2.1:7473", '"192.0.2.1:7473" has a port; give the address alone'),
    ("[2001:db8::1]:7473", '"[2001:db8::1]:7473" has a port; give the address alone'),
    ("[192.0.2.1]", '"[192.0.2.1]": brackets are for IPv6 addresses; write 192.0.2.1'),
    ("2001:db8::1::2", '"2001:db8::1::2" is not a numeric IPv4 or IPv6 address'),
    ("fe80::1%nosuch0", '"fe80::1%nosuch0": no network interface "nosuch0"'),
])
def test_bad_metrics_host(cmd, host, why, tmp_path):
    r = run_ironlb(*argv(cmd, tmp_path, "--metrics-host", host))
    assert r.rc == 2, r.err
    assert f"ironlb {cmd}: --metrics-host: {why}" in r.err


@pytest.mark.parametrize("cmd", CMDS)
def test_ipv6_listen_without_brackets(cmd, tmp_path):
    r = run_ironlb(*argv(cmd, tmp_path, "--metrics-listen", "2001:db8::1:7473",
                         "--metrics-host", "::1"))
    assert r.rc == 2, r.err
    assert (f'ironlb {cmd}: --metrics-host: --metrics-listen "2001:db8::1:7473": '
            "IPv6 addresses go in brackets, e.g. [2001:db8::1]:PORT") in r.err


@pytest.mark.parametrize("cmd", CMDS)
def test_help_names_metrics_host(cmd):
    r = run_ironlb(cmd, "--help")
    assert r.rc == 0
    assert "--metrics-host ADDR" in r.out


def healthz(family, addr, port):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((addr, port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def refused(family, addr, port):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        try:
            s.connect((addr, port))
        except ConnectionRefusedError:
            return True
    return False


@pytest.mark.parametrize("host,family,addr,other", [
    ("127.0.0.1", socket.AF_INET, "127.0.0.1", (socket.AF_INET6, "::1")),
    ("::1", socket.AF_INET6, "::1", (socket.AF_INET, "127.0.0.1")),
    ("[::1]", socket.AF_INET6, "::1", (socket.AF_INET, "127.0.0.1")),
])
def test_run_serves_on_the_host_alone(tmp_path, host, family, addr, other):
    m = tmp_path / "m"
    m.mkdir()
    for f in ("ipaddresspools.yaml", "l2-advertisements.yaml"):
        shutil.copy(EXAMPLES / "dual-stack-l2" / f, m)
    port = free_port()
    log = open(tmp_path / "run.log", "w")
    p = subprocess.Popen([ironlb_bin(), "run", "--manifests", str(m), "--node-name", "n1",
                          "--no-l2", "--no-bgp", "--metrics-listen", f":{port}",
                          "--metrics-host", host], stdout=log, stderr=subprocess.STDOUT)
    try:
        def up():
            assert p.poll() is None, (tmp_path / "run.log").read_text()
            return healthz(family, addr, port) == "HTTP/1.1 200 OK"
        poll(up, 30, f"/healthz on {addr} port {port}", tolerate=(OSError,))
        # The other family's loopback is not served: the listener is not
        # on every address.
        assert refused(*other, port)
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        log.close()
    out = (tmp_path / "run.log").read_text()
    assert rc == 0, out
    assert "Sanitizer" not in out and "runtime error:" not in out, out
