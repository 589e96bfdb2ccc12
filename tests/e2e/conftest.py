"""Fixtures of the end-to-end tests: a lab of network namespaces per test
(torn down even when the test fails), the ironlb binary ($IRONLB_BIN,
default build/ironlb), and a Layer 2 cluster (client, switch, nodes, one
shared manifests directory, `ironlb run` and an HTTP server per node).

The tests need root (network namespaces, raw sockets); without root they
are skipped (and fail when CI is set: CI runs as root, so they must run
there).  As root, a missing tool or binary is a failure, not a skip."""
import os
import pathlib
import shutil
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import lab as labmod  # noqa: E402

EXAMPLES = labmod.ROOT / "examples"


def pytest_collection_modifyitems(config, items):
    if labmod.is_root():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("end-to-end tests need root (network namespaces); "
                                "under CI they must run, not skip")
    skip = pytest.mark.skip(reason="end-to-end tests need root (network namespaces)")
    for it in items:
        if "tests/e2e" in str(it.fspath):
            it.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def tools():
    missing = labmod.missing_tools()
    if missing:
        pytest.fail(f"missing tools: {', '.join(missing)} (run scripts/install-deps)")


@pytest.fixture(scope="session")
def ironlb_bin():
    b = labmod.ironlb_bin()
    if not os.access(b, os.X_OK):
        pytest.fail(f"ironlb binary {b} not found: build it (ninja -C build ironlb) "
                    f"or set IRONLB_BIN")
    return b


@pytest.fixture
def lab(tmp_path, request, tools):
    L = labmod.Lab(workdir=tmp_path / "lab")
    try:
        yield L
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            for p in L.procs:
                if p.name.endswith("httpd"):
                    continue
                out = p.output()
                sys.stderr.write(f"\n----- {p.name} ({p.log}), last lines -----\n")
                sys.stderr.write("\n".join(out.splitlines()[-40:]) + "\n")
        L.close()


class Cluster:
    """A client (or several), one switch, nodes running `ironlb run` on a
    shared manifests directory, and an HTTP server on every node."""

    def __init__(self, lab, mdir, nodes=("node-a", "node-b"), clients=("client",)):
        self.lab = lab
        self.mdir = pathlib.Path(mdir)
        self.mdir.mkdir(parents=True, exist_ok=True)
        self.sw, self.clients, self.nodes = labmod.l2_lab(lab, nodes, clients)
        self.client = self.clients[clients[0]]
        self.speakers = {}
        for n, h in self.nodes.items():
            self.write(f"node-{n}.yaml", labmod.node_manifest(n))
            self.speakers[n] = labmod.Ironlb(h, self.mdir)

    def write(self, name, text):
        labmod.write_atomic(self.mdir / name, text)

    def remove(self, name):
        (self.mdir / name).unlink()

    def start(self):
        for h in self.nodes.values():
            labmod.start_httpd(h)
        for s in self.speakers.values():
            s.start()
        return self

    def statuses(self):
        return {n: s.status() for n, s in self.speakers.items()}

    def mac(self, node, ifname="eth0"):
        return self.nodes[node].mac(ifname)

    def wait_service(self, name, namespace="default", timeout=10, pred=None):
        """Poll until every node reports Service namespace/name with its
        addresses and the same owner, and the owner's engine announces
        every address.  Returns (ingress list, owner)."""

        def ready():
            sts = self.statuses()
            entries = [labmod.service(st, name, namespace) for st in sts.values()]
            if any(e is None or not e["ingress"] for e in entries):
                return None
            first = entries[0]
            if any(e["ingress"] != first["ingress"] or e["owner"] != first["owner"]
                   for e in entries):
                return None
            owner = first["owner"]
            if owner not in sts:
                return None
            if pred and not pred(first):
                return None
            announced = labmod.engine_addresses(sts[owner])
            if not all(ip in announced and announced[ip].get("interfaces")
                       for ip in first["ingress"]):
                return None
            return first["ingress"], owner

        return labmod.poll(ready, timeout, what=f"Service {namespace}/{name} announced")

    def wait_gone(self, name, namespace="default", timeout=10):
        def gone():
            return all(labmod.service(st, name, namespace) is None
                       for st in self.statuses().values())
        labmod.poll(gone, timeout, what=f"Service {namespace}/{name} gone from /status")


def copy_example(dst, example="dual-stack-l2"):
    dst = pathlib.Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted((EXAMPLES / example).iterdir()):
        if f.suffix in (".yaml", ".yml", ".json"):
            shutil.copy(f, dst / f.name)
    return dst


@pytest.fixture
def cluster(lab, tmp_path, ironlb_bin):
    """Factory: cluster(nodes=..., example="dual-stack-l2" or None,
    clients=...) -> Cluster (not started)."""

    def make(nodes=("node-a", "node-b"), example="dual-stack-l2", clients=("client",)):
        mdir = tmp_path / "manifests"
        if example:
            copy_example(mdir, example)
        return Cluster(lab, mdir, nodes, clients)

    return make
