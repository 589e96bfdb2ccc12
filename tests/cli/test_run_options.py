"""`ironlb run` options refused before anything starts: each error names
the option, the value and what is accepted."""
import pytest

from conftest import run_ironlb


@pytest.mark.parametrize("value", ["x", "10", "50ms", "-1s", "1d", "", "1.5", "s"])
def test_bad_gratuitous_interval(tmp_path, value):
    r = run_ironlb("run", "--manifests", tmp_path, "--gratuitous-interval", value)
    assert r.rc == 2
    assert f'--gratuitous-interval "{value}" is not a duration of at least 100ms' in r.err
    assert '"30s"' in r.err and "0 = off" in r.err


def test_gratuitous_interval_in_help():
    r = run_ironlb("run", "--help")
    assert r.rc == 0
    assert "--gratuitous-interval DURATION" in r.out


@pytest.mark.parametrize("value", ["x", "0", "65536", "-1", ""])
def test_bad_member_port(tmp_path, value):
    r = run_ironlb("run", "--manifests", tmp_path, "--member-port", value)
    assert r.rc == 2
    assert f'--member-port "{value}" is not a port (1..65535)' in r.err


def test_member_key_unreadable_or_empty(tmp_path):
    missing = tmp_path / "nope.key"
    r = run_ironlb("run", "--manifests", tmp_path, "--member-key", missing)
    assert r.rc == 2
    assert "--member-key" in r.err and str(missing) in r.err
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    r = run_ironlb("run", "--manifests", tmp_path, "--member-key", empty)
    assert r.rc == 2
    assert str(empty) in r.err and "1 to 4096 bytes" in r.err


def test_member_options_in_help():
    r = run_ironlb("run", "--help")
    assert r.rc == 0
    assert "--member-port PORT" in r.out and "default 7946" in r.out
    assert "--member-key FILE" in r.out
    assert "--member-timing NAME" in r.out and "default" in r.out and "fast" in r.out


@pytest.mark.parametrize("value", ["slow", "", "Fast", "30ms"])
def test_bad_member_timing(tmp_path, value):
    r = run_ironlb("run", "--manifests", tmp_path, "--member-timing", value)
    assert r.rc == 2
    assert f'--member-timing "{value}" is not a timing (accepted: default, fast)' in r.err
