"""The one verdict (docs/operations.md, "When a change is wrong") through
`ironlb check` and `ironlb plan`: one team's broken Service fails alone,
an unknown pool or an address outside every pool fails that Service only,
`plan -o json` is always JSON, and check and plan agree on every example
directory."""
import json
import re

import pytest

from conftest import EXAMPLES, ROOT, run_ironlb

TEAMS = ROOT / "tests" / "fixtures" / "teams"
NOT_AN_IP = ('metadata.annotations["metallb.io/loadBalancerIPs"]: "not-an-ip" is not an IP '
             'address')


def check_verdict(r):
    """(configuration verdict, {ns/name: why}) from check's output."""
    conf = None
    failed = {}
    for line in r.lines():
        m = re.match(r"^configuration: (valid|invalid but runnable|invalid)\b", line)
        if m:
            conf = m.group(1)
        m = re.match(r"^service (\S+): failed: (.*)$", line)
        if m:
            failed[m.group(1)] = m.group(2)
    return conf, failed


def plan_json(*args, stdin=None):
    r = run_ironlb("plan", "-o", "json", *args, stdin=stdin)
    return r, json.loads(r.out)


def test_check_teams():
    r = run_ironlb("check", TEAMS)
    assert r.rc == 1
    lines = r.lines()
    assert any(l.endswith(NOT_AN_IP + " (expected an IPv4 address like 192.168.10.1 or an "
                          "IPv6 address like 2001:db8::1)") and "team-b.yaml:8: Service team-b/api"
               in l for l in lines), r.out
    conf, failed = check_verdict(r)
    assert conf == "valid"
    assert list(failed) == ["team-b/api"]
    assert failed["team-b/api"].startswith(NOT_AN_IP)
    assert lines[-1] == "invalid: 4 objects checked, 0 skipped: 1 error, 0 warnings"
    # -q: the problems only, as before.
    q = run_ironlb("check", "-q", TEAMS)
    assert q.rc == 1 and len(q.lines()) == 1 and NOT_AN_IP in q.out


def test_plan_teams():
    r, doc = plan_json(TEAMS)
    assert r.rc == 0, r.err
    assert doc["planned"] is True
    assert doc["configuration"]["verdict"] == "valid"
    svcs = {f'{s["namespace"]}/{s["name"]}': s for s in doc["services"]}
    assert svcs["team-a/web"]["ingress"] == ["192.0.2.10"]
    assert svcs["team-a/web"]["pools"] == ["teams"]
    b = svcs["team-b/api"]
    assert b["ingress"] == [] and b["pools"] == []
    assert [(e["type"], e["reason"]) for e in b["events"]] == [("Warning", "AllocationFailed")]
    assert b["events"][0]["message"].startswith(
        'Failed to allocate IP for "team-b/api": ' + NOT_AN_IP)
    assert doc["pools"][0]["ipv4"] == {"total": "10", "in_use": "1", "available": "9"}
    # The table says the same, with the event.
    t = run_ironlb("plan", TEAMS)
    assert t.rc == 0
    rows = {tuple(l.split()[:2]): l.split() for l in t.lines()}
    assert rows[("team-a", "web")][3] == "192.0.2.10"
    assert rows[("team-b", "api")][3] == "<pending>"
    assert any(l.strip().startswith("team-b/api: Warning AllocationFailed: ") for l in t.lines())
    assert "service team-b/api: failed: " in t.err


POOL = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: only, namespace: metallb-system}
spec:
  addresses: [192.0.2.0/28]
"""


def svc(name, annotation=""):
    ann = f"  annotations: {{{annotation}}}\n" if annotation else ""
    return (f"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n"
            f"  namespace: default\n{ann}spec:\n  type: LoadBalancer\n"
            "  ports: [{port: 80}]\n")


@pytest.mark.parametrize("annotation,why", [
    ("metallb.io/address-pool: nosuch",
     'metadata.annotations["metallb.io/address-pool"]: unknown IPAddressPool "nosuch" '
     '(known: only)'),
    ("metallb.io/loadBalancerIPs: 198.51.100.7",
     'metadata.annotations["metallb.io/loadBalancerIPs"]: 198.51.100.7 is in no IPAddressPool'),
])
def test_plan_plans_the_others(annotation, why):
    text = POOL + svc("bad", annotation) + svc("good")
    r, doc = plan_json("-", stdin=text)
    assert r.rc == 0, r.err
    svcs = {s["name"]: s for s in doc["services"]}
    assert svcs["good"]["ingress"] == ["192.0.2.0"]
    assert svcs["bad"]["ingress"] == []
    assert [e["reason"] for e in svcs["bad"]["events"]] == ["AllocationFailed"]
    assert svcs["bad"]["events"][0]["message"] == f'Failed to allocate IP for "default/bad": {why}'
    assert doc["configuration"]["failed"] == [
        {"namespace": "default", "name": "bad",
         "message": svcs["bad"]["events"][0]["message"]}]
    c = run_ironlb("check", "-", stdin=text)
    assert c.rc == 1
    assert check_verdict(c) == ("valid", {"default/bad": why})


def test_plan_json_is_json_when_nothing_is_planned():
    r, doc = plan_json(EXAMPLES / "invalid" / "bad-ipv6-prefix")
    assert r.rc == 1 and "not planned" in r.err
    assert doc["planned"] is False
    assert doc["configuration"]["verdict"] == "invalid"
    assert any("2001:db8:prod::/64" in e for e in doc["configuration"]["errors"])
    assert doc["services"] == [] and doc["pools"] == []
    r, doc = plan_json("/nonexistent/pools.yaml")
    assert r.rc == 1 and doc["planned"] is False
    assert any("no such file" in e.lower() for e in doc["configuration"]["errors"])


DIRS = sorted([p for p in EXAMPLES.iterdir() if p.is_dir() and p.name != "invalid"] +
              [p for p in (EXAMPLES / "invalid").iterdir() if p.is_dir()] + [TEAMS])


@pytest.mark.parametrize("d", DIRS, ids=lambda p: p.name)
def test_check_and_plan_agree(d):
    """The same directory through check and plan: the same verdict, the
    same failing Services, and plan's table and JSON the same addresses."""
    c = run_ironlb("check", d)
    conf, failed = check_verdict(c)
    r, doc = plan_json(d)
    assert doc["configuration"]["verdict"] == conf, (c.out, r.err)
    assert {f'{f["namespace"]}/{f["name"]}' for f in doc["configuration"]["failed"]} == \
        set(failed)
    assert r.rc == (0 if doc["planned"] else 1)
    assert doc["planned"] == (conf != "invalid")
    t = run_ironlb("plan", d)
    assert t.rc == r.rc
    if not doc["planned"]:
        assert t.out == ""
        return
    table = {}
    for line in t.out.split("\n\n")[0].splitlines()[1:]:
        f = line.split()
        if len(f) >= 4:
            table[(f[0], f[1])] = [] if f[3] == "<pending>" else f[3].split(",")
    assert table == {(s["namespace"], s["name"]): s["ingress"] for s in doc["services"]}
