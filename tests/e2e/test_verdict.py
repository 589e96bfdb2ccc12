"""End-to-end tests of the one verdict (docs/operations.md, "When a change
is wrong") in `ironlb run`: one team's broken Service fails alone, a broken
configuration change keeps the last good configuration running, and run's
verdict and addresses are the ones `ironlb plan` shows for the same
directory.  Real namespaces, a bridge and a client that resolves the
addresses with ARP/NDP; every wait polls with a deadline."""
import json
import pathlib
import shutil
import subprocess

import lab as labmod
from lab import poll

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "teams"
POOL_V4 = "192.168.100.10-192.168.100.19"


def teams_dir(tmp_path):
    """The team-a/team-b directory of tests/fixtures/teams, with the pool
    moved onto the lab's service network and this node's Node object."""
    d = tmp_path / "manifests"
    d.mkdir()
    for f in FIXTURE.glob("*.yaml"):
        shutil.copy(f, d / f.name)
    pool = (d / "pool.yaml").read_text().replace("192.0.2.10-192.0.2.19", POOL_V4)
    (d / "pool.yaml").write_text(pool)
    (d / "node.yaml").write_text(labmod.node_manifest("node-a"))
    return d


def plan_json(d):
    p = subprocess.run([labmod.ironlb_bin(), "plan", "-o", "json", str(d)],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, json.loads(p.stdout)


def start_node(lab, d):
    sw = lab.switch("sw0")
    client = lab.host("client")
    client.connect(sw, "eth0")
    client.route(labmod.SERVICE_V4)
    node = lab.host("node-a", strict_arp=True)
    node.connect(sw, "eth0")
    sp = labmod.Ironlb(node, d).start()
    return client, node, sp


def wait_announced(sp, name, namespace):
    def ok():
        st = sp.status()
        s = labmod.service(st, name, namespace)
        ann = labmod.engine_addresses(st)
        if s and s["ingress"] and all(ip in ann for ip in s["ingress"]):
            return st, s
        return None
    return poll(ok, 10, what=f"{namespace}/{name} announced")


def test_one_teams_broken_service_fails_alone(lab, tmp_path):
    d = teams_dir(tmp_path)
    client, node, sp = start_node(lab, d)
    st, web = wait_announced(sp, "web", "team-a")
    ip = web["ingress"][0]
    assert web["announced_here"] is True
    # The client's ARP request is answered by the node.
    mac = node.mac("eth0")
    poll(lambda: set(client.arping(ip, "eth0", count=2)) == {mac}, 5,
         what=f"{ip} resolves to node-a")

    # team-b's Service: no address, its AllocationFailed event, in /status
    # and in the log; the configuration is valid and not stale.
    api = labmod.service(st, "api", "team-b")
    assert api is not None and api["ingress"] == [] and api["owner"] is None
    reasons = [(e["type"], e["reason"]) for e in api["events"]]
    assert reasons == [("Warning", "AllocationFailed")], api["events"]
    assert "not-an-ip" in api["events"][0]["message"]
    assert st["config"]["verdict"] == "valid"
    assert st["config"]["stale"] is False and st["config"]["loaded"] is True
    assert [(f["namespace"], f["name"]) for f in st["config"]["failed"]] == [("team-b", "api")]
    log = sp.log()
    assert "nothing to run yet" not in log
    assert "AllocationFailed" in log and "not-an-ip" in log

    # Run's verdict and addresses are plan's for the same directory.
    rc, plan = plan_json(d)
    assert rc == 0 and plan["planned"] is True
    assert plan["configuration"]["verdict"] == st["config"]["verdict"]
    assert plan["configuration"]["failed"] == st["config"]["failed"]
    planned = {(s["namespace"], s["name"]): s["ingress"] for s in plan["services"]}
    running = {(s["namespace"], s["name"]): s["ingress"] for s in st["services"]}
    assert planned == running == {("team-a", "web"): [ip], ("team-b", "api"): []}

    # team-b fixes its Service: it gets the next address; team-a keeps its.
    (d / "team-b.yaml").write_text(labmod.service_manifest("api", "team-b", families=("IPv4",),
                                                            port=443))
    st, api = wait_announced(sp, "api", "team-b")
    assert labmod.service(st, "web", "team-a")["ingress"] == [ip]
    assert st["config"]["failed"] == []


def test_broken_configuration_change_keeps_the_last_good_one(lab, tmp_path):
    d = teams_dir(tmp_path)
    client, node, sp = start_node(lab, d)
    st, web = wait_announced(sp, "web", "team-a")
    ip = web["ingress"][0]
    mac = node.mac("eth0")

    # A pool with an error, and a new Service: the configuration is
    # Invalid and stale, the last good one keeps running, and the new
    # Service is allocated from it.
    (d / "bad-pool.yaml").write_text(labmod.pool_manifest("broken", ["2001:db8:prod::/64"]))
    (d / "team-c.yaml").write_text(labmod.service_manifest("db", "team-c", families=("IPv4",)))

    def stale():
        s = sp.status()
        return s if s["config"]["stale"] and labmod.service(s, "db", "team-c") else None
    st = poll(stale, 10, what="configuration stale, team-c's Service seen")
    assert st["config"]["verdict"] == "invalid"
    assert any("2001:db8:prod::/64" in e for e in st["config"]["errors"]), st["config"]
    assert labmod.service(st, "web", "team-a")["ingress"] == [ip]
    st, db = wait_announced(sp, "db", "team-c")
    assert db["pools"] == ["teams"]
    assert "keeping the last good one" in sp.log()
    assert sp.metric("metallb_k8s_client_config_stale_bool") == 1
    poll(lambda: set(client.arping(ip, "eth0", count=2)) == {mac}, 5,
         what=f"{ip} still resolves to node-a")

    # A file that cannot be parsed keeps the objects it held: team-a's
    # Service is not withdrawn.
    (d / "team-a.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: [unclosed\n")
    (d / "bad-pool.yaml").unlink()

    def parse_error():
        s = sp.status()
        return s if any("team-a.yaml" in e for e in s["config"]["errors"]) else None
    st = poll(parse_error, 10, what="the parse error reported")
    assert st["config"]["stale"] is True
    assert labmod.service(st, "web", "team-a")["ingress"] == [ip]
    assert ip in labmod.engine_addresses(st)

    # Fixed: valid again, nothing moved.
    shutil.copy(FIXTURE / "team-a.yaml", d / "team-a.yaml")
    st = poll(lambda: (lambda s: s if not s["config"]["stale"] else None)(sp.status()), 10,
              what="configuration valid again")
    assert st["config"]["verdict"] == "valid"
    # Only team-b's Service is still wrong (it fails alone).
    assert [e for e in st["config"]["errors"] if "team-b/api" not in e] == []
    assert labmod.service(st, "web", "team-a")["ingress"] == [ip]
