"""One address table and placement between `ironlb run` nodes, in the
failover lab (failover.py): nodes on one manifest directory whose Node
manifests carry status.addresses, a shared --member-key, a client on the
same switch.

The members exchange what they hold (src/member/sync.h) and agree on
every Service's addresses: a node that starts or returns adopts the
addresses the running members hold, whatever its own state file says
(docs/operations.md, "One address table")."""
import time

import failover as fo
import lab as labmod
import pytest
from lab import poll

KEY = "e2e-member-table-key-0123456789\n"
POOL4, POOL6 = "192.168.100.0/29", "2001:db8:1::/125"


class Cluster:
    """Nodes of a FailoverLab running `ironlb run` on one manifest
    directory; services() rewrites the Services in it."""

    def __init__(self, L, nodes=fo.NODES):
        self.L = L
        self.fl = fo.FailoverLab(L, nodes=nodes)
        self.sps = {}
        self.mdir = L.workdir / "manifests"
        self.mdir.mkdir()
        self.key = L.workdir / "member.key"
        self.key.write_text(KEY)
        self.key.chmod(0o600)
        docs = [labmod.pool_manifest("pool4", [POOL4]),
                labmod.pool_manifest("pool6", [POOL6]),
                labmod.l2adv_manifest("all")]
        for n, h in self.fl.nodes.items():
            ifc = h.ifaces["eth0"]
            docs.append(labmod.node_manifest(n) +
                        "status:\n  addresses:\n"
                        f"  - type: InternalIP\n    address: {ifc.v4}\n"
                        f"  - type: InternalIP\n    address: {ifc.v6}\n")
        labmod.write_atomic(self.mdir / "base.yaml", "---\n".join(docs))

    def services(self, names):
        """The Services of the directory: exactly these (dual-stack, one
        address of each family from the pools)."""
        docs = [labmod.service_manifest(s) for s in names]
        labmod.write_atomic(self.mdir / "services.yaml", "---\n".join(docs) if docs else "")

    def start(self, nodes=None):
        for n in nodes or self.fl.nodes:
            h = self.fl.host(n)
            if n not in self.sps:
                self.sps[n] = labmod.Ironlb(h, self.mdir, extra=["--member-key", str(self.key)])
                labmod.start_httpd(h)
            self.sps[n].start()
        return self

    def table(self, n):
        """{service: (addresses...)} as node n holds them."""
        st = self.sps[n].status()
        return {s["name"]: tuple(s["ingress"]) for s in st.get("services", []) if s["ingress"]}

    def settled(self, n):
        m = self.sps[n].status().get("members") or {}
        return bool((m.get("table") or {}).get("settled"))

    def running(self):
        return [n for n, sp in self.sps.items() if sp.proc and sp.proc.alive()]

    def announced(self, among=None):
        """{address: [(node, service)...]} over what the nodes' engines
        announce."""
        got = {}
        for n in among or self.running():
            for ip, e in labmod.engine_addresses(self.sps[n].status()).items():
                got.setdefault(ip, []).append((n, e.get("service")))
        return got

    def agreed(self, names, among=None):
        """Every running node holds the same address for each of names,
        and each address is announced by one node for one Service: that
        table, else None."""
        nodes = among or self.running()
        tabs = [self.table(n) for n in nodes]
        if any(set(t) != set(names) for t in tabs) or any(t != tabs[0] for t in tabs):
            return None
        if not all(self.settled(n) for n in nodes):
            return None
        ann = self.announced(nodes)
        want = {ip: f"default/{s}" for s, ips in tabs[0].items() for ip in ips}
        if set(ann) != set(want):
            return None
        for ip, holders in ann.items():
            if len(holders) != 1 or holders[0][1] != want[ip]:
                return None
        return tabs[0]


@pytest.fixture
def cluster2(tools, tmp_path, ironlb_bin):
    with labmod.Lab(workdir=tmp_path) as L:
        c = Cluster(L, nodes=("node-a", "node-b"))
        try:
            yield c
        finally:
            c.fl.thaw_all()


def test_a_returning_node_adopts_the_running_members_addresses(cluster2):
    """The divergence of issue 10: two nodes serve s1 and s2; the second
    is stopped; s1 is deleted, s3 added, s1 added again; the second starts
    again with its old state file.  Every node ends with the running
    node's addresses, and no address is announced for two Services."""
    cl = cluster2
    cl.services(["s1", "s2"])
    cl.start()
    first = poll(lambda: cl.agreed(["s1", "s2"]), 20, interval=0.1,
                 what="both nodes agree on s1 and s2")

    cl.sps["node-b"].stop()
    cl.services(["s2"])
    poll(lambda: set(cl.table("node-a")) == {"s2"}, 10, what="node-a released s1")
    cl.services(["s2", "s3"])
    poll(lambda: "s3" in cl.table("node-a"), 10, what="node-a allocated s3")
    cl.services(["s2", "s3", "s1"])
    poll(lambda: "s1" in cl.table("node-a"), 10, what="node-a allocated s1 again")
    a = cl.table("node-a")
    # s3 took s1's old addresses; s1 has new ones (what node-b's state
    # file does not know)
    assert a["s3"] == first["s1"] and a["s1"] != first["s1"], (first, a)
    assert a["s2"] == first["s2"]

    cl.start(["node-b"])
    both = poll(lambda: cl.agreed(["s1", "s2", "s3"]), 20, interval=0.1,
                what="node-b adopts node-a's table")
    assert both == a, (both, a)
    assert "addresses adopted from the members' address table" in cl.sps["node-b"].log()
    # node-a moved nothing: its addresses were in use
    assert cl.table("node-a") == a
    # and the adopted table is what node-b's state file now holds
    def saved():
        import json
        st = json.loads(cl.sps["node-b"].state.read_text())
        return {s["name"]: tuple(s["addresses"]) for s in st["services"]} == a
    poll(saved, 10, what="node-b's state file holds the adopted table")
