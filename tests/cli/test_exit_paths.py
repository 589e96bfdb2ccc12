"""`ironlb run` failing at start frees what it had set up: under the
sanitizer build (IRONLB_BIN=build-asan/ironlb) LeakSanitizer reports
nothing on these exits.  With another build the tests still check the exit
code and the message."""
import os
import subprocess

import pytest

from conftest import EXAMPLES, ironlb_bin


@pytest.mark.parametrize("extra,message", [
    (["--listen", "bad"], "cannot serve metrics and status"),
    (["--state", "/dev/zero", "--listen", "127.0.0.1:0"], "cannot read the state file"),
])
def test_failed_start_leaks_nothing(extra, message):
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
    p = subprocess.run([ironlb_bin(), "run", "--manifests", str(EXAMPLES / "dual-stack-l2"),
                        "--node-name", "n1", "--no-l2", "--no-bgp", *extra],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 1, p.stderr
    assert message in p.stderr, p.stderr
    assert "LeakSanitizer" not in p.stderr, p.stderr
    assert "msg=stopped" not in p.stderr, p.stderr
