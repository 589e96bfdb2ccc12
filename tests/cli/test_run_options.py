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
