"""Shared fixtures for the command-line tests: where the binary, the
examples and the dual-stack guide are, and a helper to run ironlb."""
import json
import os
import pathlib
import re
import socket
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GUIDE = ROOT.parent / "shared" / "reference" / "000_e4b1695a272b69ca.txt"


def ironlb_bin():
    b = os.environ.get("IRONLB_BIN")
    if b:
        return os.path.abspath(b)
    for cand in (ROOT / "build" / "ironlb", ROOT / "build-asan" / "ironlb"):
        if cand.exists():
            return str(cand)
    pytest.fail("ironlb binary not found: build it or set IRONLB_BIN")


class Result:
    def __init__(self, p):
        self.rc = p.returncode
        self.out = p.stdout
        self.err = p.stderr

    def lines(self):
        return [l for l in self.out.splitlines() if l]

    def json(self):
        return json.loads(self.out)


def run_ironlb(*args, cwd=None, stdin=None, timeout=60):
    p = subprocess.run([ironlb_bin(), *map(str, args)], cwd=cwd, input=stdin,
                       capture_output=True, text=True, timeout=timeout)
    return Result(p)


@pytest.fixture
def ironlb():
    return run_ironlb


def guide_blocks():
    """The guide's YAML blocks, by the file name in their first comment.
    Empty (the tests skip) when the guide is not beside the checkout,
    except under CI, where shared/ always is: there it is a failure."""
    if not GUIDE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI: the guide is missing at {GUIDE}")
        return {}
    text = GUIDE.read_text()
    out = {}
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        m = re.match(r"#\s*([\w.-]+\.yaml)", block)
        assert m, "every YAML block of the guide starts with its file name"
        out[m.group(1)] = block
    return out


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(cond, timeout, what, interval=0.05, tolerate=()):
    """cond() until it returns something true (returned), or an
    AssertionError naming `what` after `timeout` seconds.  An exception of
    a type in `tolerate` counts as "not yet"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = cond()
        except tolerate:
            got = None
        if got:
            return got
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
