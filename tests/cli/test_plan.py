"""`ironlb plan`: the addresses each Service of the guide would get, in
ingress (ipFamilies) order, from which pools, and pool usage."""
import pytest

from conftest import EXAMPLES, run_ironlb


def plan(*paths, stdin=None):
    r = run_ironlb("plan", "-o", "json", *paths, stdin=stdin)
    assert r.rc == 0, r.out + r.err
    doc = r.json()
    return {f'{s["namespace"]}/{s["name"]}': s for s in doc["services"]}, \
        {p["name"]: p for p in doc["pools"]}


def test_dual_stack_guide_set():
    svcs, pools = plan(EXAMPLES / "dual-stack-l2")
    got = {k: (s["ingress"], s["pools"]) for k, s in svcs.items()}
    v4, v6 = "ipv4-pool", "ipv6-pool"
    # Lowest free address first; without avoidBuggyIPs MetalLB hands out
    # the .0 address too.  Services are taken in the order they are read,
    # as `kubectl apply -f` creates them (files in name order, documents in
    # order): ipv6-primary-service.yaml, policy-examples.yaml, then
    # specific-ips-service.yaml, test-deployment.yaml.
    assert got == {
        "default/ipv6-primary-service": (["2001:db8:1::", "192.168.100.0"], [v6, v4]),
        "default/ipv4-only-service": (["192.168.100.1"], [v4]),
        "default/ipv6-only-service": (["2001:db8:1::1"], [v6]),
        "default/prefer-dual-ipv4-primary": (["192.168.100.2", "2001:db8:1::2"], [v4, v6]),
        "default/prefer-dual-ipv6-primary": (["2001:db8:1::3", "192.168.100.3"], [v6, v4]),
        "default/require-dual-stack": (["192.168.100.4", "2001:db8:1::4"], [v4, v6]),
        "default/fixed-ip-service": (["192.168.100.50", "2001:db8:1::50"], [v4, v6]),
        "default/dual-stack-test-svc": (["192.168.100.5", "2001:db8:1::5"], [v4, v6]),
    }
    # The first Service read gets the first addresses, which hurt on the
    # LAN: a Warning each, in the order of its families (IPv6 first).
    first = svcs.pop("default/ipv6-primary-service")
    assert [(e["type"], e["reason"]) for e in first["events"]] == [
        ("Normal", "IPAllocated"), ("Warning", "UnsafeAddress"),
        ("Warning", "UnsafeAddress")]
    assert first["events"][1]["message"].startswith(
        "2001:db8:1:: is the Subnet-Router anycast address of its /64 (RFC 4291 2.6.1)")
    assert first["events"][2]["message"].startswith(
        "192.168.100.0 is the network address of its /24, which some clients and CPE "
        "firmware drop, and L2Advertisement metallb-system/dual-stack-l2 announces pool "
        "ipv4-pool on the LAN")
    for s in svcs.values():
        assert [e["reason"] for e in s["events"]] == ["IPAllocated"]
    assert pools["ipv4-pool"]["ipv4"] == {"total": "256", "in_use": "7", "available": "249"}
    assert pools["ipv6-pool"]["ipv6"] == {
        "total": "18446744073709551616", "in_use": "7",
        "available": "18446744073709551609"}
    assert "ipv6" not in pools["ipv4-pool"] and "ipv4" not in pools["ipv6-pool"]


def test_combined_pool():
    svcs, pools = plan(EXAMPLES / "combined-pool")
    s = svcs["default/my-dual-stack-service"]
    assert s["ingress"] == ["192.168.100.100", "2001:db8:1::100"]
    assert s["pools"] == ["dual-stack-pool", "dual-stack-pool"]
    assert pools["dual-stack-pool"]["ipv4"]["total"] == "51"
    assert pools["dual-stack-pool"]["ipv6"]["total"] == "256"


def test_segmented_pools_named_per_family():
    """RequireDualStack with `production-ipv4,production-ipv6`: each family
    from its own autoAssign:false pool (MetalLB cannot do this)."""
    svcs, _ = plan(EXAMPLES / "segmented-pools")
    s = svcs["default/critical-dual-stack-service"]
    assert s["ingress"] == ["192.168.100.0", "2001:db8:1::"]
    assert s["pools"] == ["production-ipv4", "production-ipv6"]
    f = svcs["default/fixed-ip-service"]
    assert f["ingress"] == ["192.168.100.50", "2001:db8:1::50"]
    assert f["pools"] == ["production-ipv4", "production-ipv6"]


POOL_V4_ONLY = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: only-v4, namespace: metallb-system}
spec:
  addresses: [192.168.50.0/24]
  avoidBuggyIPs: true
---
apiVersion: v1
kind: Service
metadata: {name: need-both}
spec:
  type: LoadBalancer
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: prefer-both}
spec:
  type: LoadBalancer
  ipFamilyPolicy: PreferDualStack
  ipFamilies: [IPv6, IPv4]
  ports: [{port: 80}]
"""


def test_require_dual_stack_is_all_or_nothing():
    svcs, pools = plan("-", stdin=POOL_V4_ONLY)
    need = svcs["default/need-both"]
    assert need["ingress"] == [] and need["pools"] == []
    assert [e["reason"] for e in need["events"]] == ["AllocationFailed"]
    assert need["events"][0]["type"] == "Warning"
    assert "IPv6" in need["events"][0]["message"]
    # PreferDualStack takes what it can: the IPv4 address; avoidBuggyIPs
    # skips 192.168.50.0.
    assert svcs["default/prefer-both"]["ingress"] == ["192.168.50.1"]
    assert pools["only-v4"]["ipv4"] == {"total": "254", "in_use": "1", "available": "253"}


def test_table_output_looks_like_kubectl():
    r = run_ironlb("plan", EXAMPLES / "dual-stack-l2")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "TYPE", "EXTERNAL-IP", "PORT(S)", "POOL(S)"]
    row = next(l for l in lines if "ipv6-primary-service" in l).split()
    assert row[:4] == ["default", "ipv6-primary-service", "LoadBalancer",
                       "2001:db8:1::,192.168.100.0"]
    assert any(l.split()[:2] == ["POOL", "FAMILY"] for l in lines)


def test_plan_refuses_invalid_manifests():
    r = run_ironlb("plan", EXAMPLES / "invalid" / "bad-ipv6-prefix")
    assert r.rc == 1
    assert r.out == ""
    assert "2001:db8:prod::/64" in r.err and "not planned" in r.err


def test_unknown_output_format():
    r = run_ironlb("plan", "-o", "yaml", EXAMPLES / "dual-stack-l2")
    assert r.rc == 2 and "accepted: table, json" in r.err
