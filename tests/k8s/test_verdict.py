"""The one verdict in `ironlb-k8s controller` against a real kube-apiserver,
compared with `ironlb plan` on the same manifests: team-a's Service gets
the address plan shows, team-b's Service (metallb.io/loadBalancerIPs
"not-an-ip") fails alone with an AllocationFailed Event carrying plan's
message, and the configuration stays Valid.  The manifests are those of
tests/fixtures/teams, in namespaces made for the test, and with team-a's
Service pinned to the fixture's pool so that other tests' Services (which
share the control plane) do not change its address."""
import json
import pathlib
import subprocess
import uuid

import yaml

from test_controller import (  # noqa: F401 (fixtures)
    config_state, controller, ingress, metallb, our_events, wait_for, wait_ingress)

from cluster import ironlb_bin, teams_docs

ROOT = pathlib.Path(__file__).resolve().parents[2]
GUIDE_POOLS = ROOT / "examples" / "dual-stack-l2" / "ipaddresspools.yaml"


def test_controller_matches_plan(metallb, controller, tmp_path):
    plane = metallb
    suffix = uuid.uuid4().hex[:6]
    docs = teams_docs(suffix)
    team_a, team_b = f"team-a-{suffix}", f"team-b-{suffix}"

    # What plan says for the same objects (with the guide's pools the
    # cluster holds too).
    d = tmp_path / "manifests"
    d.mkdir()
    (d / "00-guide-pools.yaml").write_text(GUIDE_POOLS.read_text())
    (d / "teams.yaml").write_text(yaml.safe_dump_all(docs))
    p = subprocess.run([ironlb_bin(), "plan", "-o", "json", str(d)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    assert plan["configuration"]["verdict"] == "valid"
    planned = {(s["namespace"], s["name"]): s for s in plan["services"]}
    web_plan = planned[(team_a, "web")]["ingress"]
    assert len(web_plan) == 1
    api_plan = planned[(team_b, "api")]
    assert api_plan["ingress"] == []
    assert [e["reason"] for e in api_plan["events"]] == ["AllocationFailed"]

    plane.create_namespace(team_a)
    plane.create_namespace(team_b)
    for doc in docs:
        plane.apply(doc)
    ctl = controller()
    got = wait_ingress(plane, ctl, team_a, "web", n=1)
    assert got == web_plan

    wait_for(lambda: our_events(plane, team_b, "api", "AllocationFailed"), ctl,
             "team-b's AllocationFailed event")
    ev = our_events(plane, team_b, "api", "AllocationFailed")[0]
    assert ev["type"] == "Warning"
    assert ev["note"] == api_plan["events"][0]["message"]
    assert ingress(plane, team_b, "api") == []
    assert our_events(plane, team_a, "web", "AllocationFailed") == []
    wait_for(lambda: config_state(plane) == ("Valid", ""), ctl, "ConfigurationState Valid")
    ctl.check()
