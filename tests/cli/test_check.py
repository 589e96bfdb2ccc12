"""`ironlb check`: the examples are valid, the guide's mistakes are refused
with errors that name the exact problem, and the command behaves like a
command-line tool (exit codes, usage errors, stdin)."""
import pathlib

import pytest

from conftest import EXAMPLES, GUIDE, guide_blocks, run_ironlb

VALID_SETS = sorted(p.name for p in EXAMPLES.iterdir()
                    if p.is_dir() and p.name != "invalid")
INVALID_SETS = sorted(p.name for p in (EXAMPLES / "invalid").iterdir() if p.is_dir())


def test_usage_errors_exit_2():
    r = run_ironlb("check")
    assert r.rc == 2
    assert "no PATH given" in r.err
    assert run_ironlb("no-such-command").rc == 2
    assert run_ironlb("check", "--no-such-option", "x").rc == 2


def test_help_and_version():
    r = run_ironlb("--help")
    assert r.rc == 0 and "check" in r.out and "plan" in r.out
    r = run_ironlb("check", "--help")
    assert r.rc == 0 and "usage: ironlb check" in r.out
    r = run_ironlb("help", "plan")
    assert r.rc == 0 and "usage: ironlb plan" in r.out
    r = run_ironlb("version")
    assert r.rc == 0 and r.out.startswith("ironlb ")


# The warnings each example set gets (substrings, one per warning line, in
# order); a set not listed gets none.  The guide's pools hand out a /24's
# .0 and .255 and the IPv6 Subnet-Router anycast address on the LAN, as
# MetalLB does, and one holds its own router's address.
GUIDE_V4_POOL = ('ipv4-pool: spec.addresses[0]: "192.168.100.0/24" holds 2 addresses '
                 'ending in .0 or .255 (the first: 192.168.100.0)')
GUIDE_V6_POOL = ('ipv6-pool: spec.addresses[0]: "2001:db8:1::/64" holds 2001:db8:1::, '
                 'the Subnet-Router anycast address of its /64')
EXAMPLE_WARNINGS = {
    "bgp-multi-peer": ["localPref 200 is sent only on iBGP sessions",
                       "localPref 100 is sent only on iBGP sessions"],
    "bgp-ha": ['ipv6-pool: spec.addresses[0]: "2001:db8:1::/64" holds 2001:db8:1::1, '
               'the peerAddress of BGPPeer metallb-system/primary-router-ipv6'],
    "dual-stack-l2": [GUIDE_V4_POOL, GUIDE_V6_POOL],
    "l2-interfaces": [GUIDE_V4_POOL, GUIDE_V6_POOL],
}


@pytest.mark.parametrize("name", VALID_SETS)
def test_example_sets_are_valid(name):
    r = run_ironlb("check", EXAMPLES / name)
    assert r.rc == 0, r.out + r.err
    assert r.lines()[-1].startswith("valid: ")
    warnings = [l for l in r.lines() if ": warning: " in l]
    want = EXAMPLE_WARNINGS.get(name, [])
    assert len(warnings) == len(want), r.out
    for line, part in zip(warnings, want):
        assert part in line, line


@pytest.mark.parametrize("name", INVALID_SETS)
def test_invalid_sets_report_exactly_the_expected_errors(name):
    """examples/invalid/NAME/expected.txt lists every error and warning
    `ironlb check -q` prints, in order."""
    expected = (EXAMPLES / "invalid" / name / "expected.txt").read_text().splitlines()
    r = run_ironlb("check", "-q", name, cwd=EXAMPLES / "invalid")
    assert r.rc == 1
    assert r.lines() == [l for l in expected if l], r.out


def test_missing_path_is_an_error():
    r = run_ironlb("check", "/nonexistent/pools.yaml")
    assert r.rc == 1
    assert "/nonexistent/pools.yaml" in r.out
    assert "no such file or directory" in r.out.lower()


def test_stdin_and_line_numbers():
    doc = """\
# comment
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: best
  namespace: metallb-system
spec:
  addresses:
  - 192.168.100.0/25
  - 2001:db8:prod::/64
"""
    r = run_ironlb("check", "-q", "-", stdin=doc)
    assert r.rc == 1
    assert r.lines() == [
        '<stdin>:10: IPAddressPool metallb-system/best: spec.addresses[1]: '
        '"2001:db8:prod::/64" is not an IPv6 prefix (hex digits only)'
    ]


def test_warnings_as_errors():
    r = run_ironlb("check", "-W", EXAMPLES / "bgp-multi-peer")
    assert r.rc == 1
    assert any("localPref" in l and ": warning: " in l for l in r.lines())


# --- every YAML block of the guide, accepted or refused, and why ----------

# block -> (blocks it needs beside it, expected errors (substrings, one per
# error line) or [] when accepted, why).  A needed block listed in CORRECTED
# is taken from the examples, where the guide's mistake in it is fixed.
GUIDE_VERDICTS = {
    "ipaddresspools.yaml": ([], [], "separate IPv4 and IPv6 pools"),
    "combined-pool.yaml": ([], [], "one pool with both families"),
    "segmented-pools.yaml": ([], [], "production/staging halves, autoAssign false"),
    "dual-stack-service.yaml": (["combined-pool.yaml"], [], "names dual-stack-pool"),
    "require-dual-stack-service.yaml": (["segmented-pools.yaml"], [],
                                        "names two pools, one per family"),
    "ipv6-primary-service.yaml": ([], [], "no pool reference"),
    "specific-ips-service.yaml": (["ipaddresspools.yaml"], [],
                                  "both requested addresses lie in pools"),
    "l2-advertisements.yaml": (["ipaddresspools.yaml"], [], ""),
    "interface-specific-l2.yaml": (["ipaddresspools.yaml"], [], ""),
    "bgp-peers.yaml": ([], [], ""),
    "bgp-advertisements.yaml": (["ipaddresspools.yaml", "bgp-peers.yaml"], [], ""),
    "ipv6-bgp-advanced.yaml": ([], [], "`password: bgp-auth-secret` is a literal password"),
    "multi-peer-bgp.yaml": (
        [],
        ['spec.peerAddress: "2001:db8:tor1::1" is not an IPv6 address (hex digits only)',
         'spec.sourceAddress: "2001:db8:tor1::10" is not an IPv6 address (hex digits only)',
         'spec.peerAddress: "2001:db8:tor2::1" is not an IPv6 address (hex digits only)',
         'spec.sourceAddress: "2001:db8:tor2::10" is not an IPv6 address (hex digits only)'],
        "'tor1' and 'tor2' are not hexadecimal"),
    "bgp-communities.yaml": (["segmented-pools.yaml", "multi-peer-bgp.yaml"], [],
                             "accepted; localPref on eBGP-only peers is a warning"),
    "ipv6-aggregation.yaml": (
        ["ipaddresspools.yaml", "multi-peer-bgp.yaml"],
        ['spec.ipAddressPools[0]: unknown IPAddressPool "critical-ipv6-pool"'],
        "the guide never defines critical-ipv6-pool"),
    "policy-examples.yaml": ([], [], ""),
    "test-deployment.yaml": ([], [], "the Deployment is skipped with a note"),
    "best-practices-pools.yaml": (
        [],
        ['spec.addresses[1]: "2001:db8:prod::/64" is not an IPv6 prefix (hex digits only)'],
        "'prod' is not hexadecimal"),
    "ha-configuration.yaml": ([], [], ""),
    "monitoring.yaml": ([], [], "ServiceMonitor and PrometheusRule are skipped"),
    "security-best-practices.yaml": (
        [],
        ['has type "Opaque"; passwordSecret needs type kubernetes.io/basic-auth',
         'spec.passwordSecret.key: unknown field "key" (accepted: name, namespace)'],
        "MetalLB's SecretReference has no `key`, and it reads only basic-auth Secrets"),
}


CORRECTED = {
    "multi-peer-bgp.yaml": EXAMPLES / "bgp-multi-peer" / "multi-peer-bgp.yaml",
}


def test_verdicts_cover_every_guide_block():
    blocks = guide_blocks()
    if not blocks:
        pytest.skip(f"guide not found at {GUIDE}")
    assert sorted(blocks) == sorted(GUIDE_VERDICTS)


@pytest.mark.parametrize("block", sorted(GUIDE_VERDICTS))
def test_guide_block(block, tmp_path):
    blocks = guide_blocks()
    if not blocks:
        pytest.skip(f"guide not found at {GUIDE}")
    needs, errors, _why = GUIDE_VERDICTS[block]
    for name in needs:
        text = CORRECTED[name].read_text() if name in CORRECTED else blocks[name]
        (tmp_path / name).write_text(text)
    (tmp_path / block).write_text(blocks[block])
    r = run_ironlb("check", "-q", tmp_path)
    error_lines = [l for l in r.lines() if ": warning: " not in l]
    if not errors:
        assert r.rc == 0, r.out
        assert error_lines == []
    else:
        assert r.rc == 1
        assert len(error_lines) == len(errors), r.out
        for want, got in zip(errors, error_lines):
            assert want in got, got
            assert got.startswith(str(tmp_path / block) + ":"), got


def test_guide_overlapping_pools_are_refused(tmp_path):
    """ipaddresspools.yaml and combined-pool.yaml are alternatives: applied
    together their ranges overlap, and the error names both."""
    blocks = guide_blocks()
    if not blocks:
        pytest.skip(f"guide not found at {GUIDE}")
    for name in ("ipaddresspools.yaml", "combined-pool.yaml"):
        (tmp_path / name).write_text(blocks[name])
    r = run_ironlb("check", "-q", tmp_path)
    assert r.rc == 1
    errs = r.lines()
    assert len(errs) == 2, r.out
    assert all("overlaps" in e for e in errs)
    assert "dual-stack-pool" in r.out and ("ipv4-pool" in r.out and "ipv6-pool" in r.out)
