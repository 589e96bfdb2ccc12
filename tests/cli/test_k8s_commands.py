"""`ironlb controller` and `ironlb speaker` on the command line: both run
the ironlb-k8s executable installed beside ironlb, and refuse bad
arguments before touching the network."""
import pathlib

import pytest

from conftest import ironlb_bin, run_ironlb


@pytest.fixture(autouse=True)
def need_k8s_binary():
    if not (pathlib.Path(ironlb_bin()).parent / "ironlb-k8s").exists():
        pytest.fail("ironlb-k8s is not built next to ironlb")


@pytest.mark.parametrize("cmd", ["controller", "speaker"])
def test_help(cmd):
    r = run_ironlb(cmd, "--help")
    assert r.rc == 0, r.err
    assert r.out.startswith(f"usage: ironlb {cmd}")
    assert "--kubeconfig" in r.out and "--metrics-listen" in r.out


def test_top_level_help_lists_both():
    r = run_ironlb("help")
    assert "controller" in r.out and "speaker" in r.out


def test_speaker_needs_node_name(monkeypatch):
    monkeypatch.delenv("NODE_NAME", raising=False)
    r = run_ironlb("speaker", "--kubeconfig", "/nonexistent")
    assert r.rc == 2
    assert "--node-name (or $NODE_NAME) is required" in r.err


@pytest.mark.parametrize("port", ["x", "65536", "-1", ""])
def test_speaker_bad_bgp_port(port):
    r = run_ironlb("speaker", "--node-name", "n1", "--bgp-port", port)
    assert r.rc == 2
    assert f'bad --bgp-port "{port}"' in r.err and "0-65535" in r.err


def test_speaker_member_timing_in_help():
    r = run_ironlb("speaker", "--help")
    assert r.rc == 0
    assert "--member-timing NAME" in r.out and "default|fast" in r.out


@pytest.mark.parametrize("value", ["slow", "", "Fast", "30ms"])
def test_speaker_bad_member_timing(value):
    r = run_ironlb("speaker", "--node-name", "n1", "--member-timing", value)
    assert r.rc == 2
    assert f'--member-timing "{value}" is not a timing (accepted: default, fast)' in r.err


def test_speaker_gratuitous_interval_in_help():
    r = run_ironlb("speaker", "--help")
    assert r.rc == 0
    assert "--gratuitous-interval DURATION" in r.out and "at least 100ms" in r.out


@pytest.mark.parametrize("value", ["x", "10", "50ms", "-1s", "1d", "", "1.5", "s"])
def test_speaker_bad_gratuitous_interval(value):
    r = run_ironlb("speaker", "--node-name", "n1", "--gratuitous-interval", value)
    assert r.rc == 2
    assert f'--gratuitous-interval "{value}" is not a duration of at least 100ms' in r.err
    assert '"30s"' in r.err and "0 = off" in r.err


@pytest.mark.parametrize("cmd", ["controller", "speaker"])
def test_bad_log_level(cmd):
    r = run_ironlb(cmd, "--node-name", "n1", "--log-level", "loud") if cmd == "speaker" \
        else run_ironlb(cmd, "--log-level", "loud")
    assert r.rc == 2
    assert 'bad --log-level "loud"' in r.err


@pytest.mark.parametrize("cmd", ["controller", "speaker"])
def test_missing_kubeconfig_is_named(cmd, tmp_path):
    missing = tmp_path / "nope.kubeconfig"
    args = ["--kubeconfig", missing] + (["--node-name", "n1"] if cmd == "speaker" else [])
    r = run_ironlb(cmd, *args)
    assert r.rc == 1
    assert str(missing) in r.err, r.err
