"""`ironlb plan`: the order rules of allocation, as MetalLB has them.

1. The pools whose serviceAllocation selects a Service are tried before
   any pool without serviceAllocation, also without a priority; among
   them lower priority first, unset after, then pool name.
2. Of two Services that ask for one address and cannot share it, the one
   that asked first keeps it: the older creationTimestamp, else the order
   of reading (file order, then document order), never name order; the
   other's AllocationFailed event names the winner and why.
"""
import pathlib

import pytest

from conftest import poll, run_ironlb
from test_manifest_watch import Run

POOL = """apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: {name}, namespace: metallb-system}}
spec:
  addresses: [{addresses}]
{extra}"""

NAMESPACE = """apiVersion: v1
kind: Namespace
metadata: {{name: {name}, labels: {{{labels}}}}}
"""


def pool(name, addresses, sa=None):
    extra = ""
    if sa:
        extra = "  serviceAllocation:\n" + "".join(f"    {l}\n" for l in sa)
    return POOL.format(name=name, addresses=addresses, extra=extra)


def service(name, ns="default", ip=None, key=None, port=80, created=None, labels=None,
            local_app=None):
    meta = [f"name: {name}", f"namespace: {ns}"]
    if created:
        meta.append(f'creationTimestamp: "{created}"')
    if labels:
        meta.append("labels: {" + labels + "}")
    if key:
        meta.append("annotations: {metallb.io/allow-shared-ip: " + key + "}")
    spec = ["type: LoadBalancer", f"ports: [{{port: {port}}}]"]
    if ip:
        spec.append(f"loadBalancerIP: {ip}")
    if local_app:
        spec += ["externalTrafficPolicy: Local", "selector: {app: " + local_app + "}"]
    return ("apiVersion: v1\nkind: Service\nmetadata:\n" +
            "".join(f"  {m}\n" for m in meta) + "spec:\n" + "".join(f"  {s}\n" for s in spec))


def plan_dir(tmp_path, files):
    for fname, docs in files.items():
        (tmp_path / fname).write_text("---\n".join(docs))
    r = run_ironlb("plan", "-o", "json", tmp_path)
    assert r.rc == 0, r.out + r.err
    return {f'{s["namespace"]}/{s["name"]}': s for s in r.json()["services"]}


# ---------------------------------------------------------------------------
# rule 1: pools that select the Service come first

GENERAL = pool("aaa-general", "10.0.0.0/30")

POOL_ORDER = [
    ("namespace-pinned pool without priority beats a general pool named first",
     [GENERAL, pool("zzz-team-a", "10.1.0.0/30", ["namespaces: [team-a]"])],
     [service("web", ns="team-a"), service("api", ns="team-b")],
     {"team-a/web": "zzz-team-a", "team-b/api": "aaa-general"}),
    ("namespaceSelectors pool without priority",
     [GENERAL, pool("zzz-prod", "10.1.0.0/30",
                    ["namespaceSelectors: [{matchLabels: {env: prod}}]"]),
      NAMESPACE.format(name="shop", labels="env: prod")],
     [service("web", ns="shop"), service("api", ns="other")],
     {"shop/web": "zzz-prod", "other/api": "aaa-general"}),
    ("serviceSelectors pool without priority",
     [GENERAL, pool("zzz-web", "10.1.0.0/30",
                    ["serviceSelectors: [{matchLabels: {app: web}}]"])],
     [service("web", labels="app: web"), service("db", labels="app: db")],
     {"default/web": "zzz-web", "default/db": "aaa-general"}),
    ("among selecting pools: priority, unset after, then name",
     [GENERAL,
      pool("d-unset", "10.4.0.0/32", ["namespaces: [t]"]),
      pool("c-unset", "10.3.0.0/32", ["namespaces: [t]"]),
      pool("b-prio5", "10.2.0.0/32", ["priority: 5", "namespaces: [t]"]),
      pool("z-prio1", "10.9.0.0/32", ["priority: 1", "namespaces: [t]"])],
     [service(f"s{i}", ns="t") for i in range(1, 6)],
     {"t/s1": "z-prio1", "t/s2": "b-prio5", "t/s3": "c-unset", "t/s4": "d-unset",
      "t/s5": "aaa-general"}),
    ("the selecting pools full: the general pool",
     [GENERAL, pool("zzz-team-a", "10.1.0.0/32", ["priority: 1", "namespaces: [team-a]"])],
     [service("a", ns="team-a"), service("b", ns="team-a")],
     {"team-a/a": "zzz-team-a", "team-a/b": "aaa-general"}),
]


@pytest.mark.parametrize("name,config,svcs,want", POOL_ORDER, ids=[c[0] for c in POOL_ORDER])
def test_selecting_pools_first(tmp_path, name, config, svcs, want):
    got = plan_dir(tmp_path, {"config.yaml": config, "services.yaml": svcs})
    assert {k: s["pools"][0] if s["pools"] else None for k, s in got.items()} == want


# ---------------------------------------------------------------------------
# rule 2: who keeps a contested address

P = pool("p", "10.0.0.0/29")
IP = "10.0.0.5"
JAN, FEB = "2026-01-05T10:00:00Z", "2026-02-05T10:00:00Z"

CONTESTS = [
    # (id, files {name: [docs]}, winner, loser, words in the loser's event)
    ("file order, not name order",
     {"00.yaml": [P], "10-first.yaml": [service("zeta", ip=IP)],
      "20-second.yaml": [service("alpha", ip=IP)]},
     "default/zeta", "default/alpha",
     '"default/zeta" keeps it: asked first (read earlier: file order, then document order)'),
    ("document order in one file",
     {"00.yaml": [P], "svc.yaml": [service("zeta", ip=IP), service("alpha", ip=IP)]},
     "default/zeta", "default/alpha", '"default/zeta" keeps it: asked first'),
    ("older creationTimestamp, whatever the order",
     {"00.yaml": [P], "svc.yaml": [service("alpha", ip=IP, created=FEB),
                                   service("zeta", ip=IP, created=JAN)]},
     "default/zeta", "default/alpha",
     '"default/zeta" keeps it: asked first (older creationTimestamp)'),
    ("a creationTimestamp before none",
     {"00.yaml": [P], "svc.yaml": [service("alpha", ip=IP),
                                   service("zeta", ip=IP, created=FEB)]},
     "default/zeta", "default/alpha",
     "asked first (it has a creationTimestamp, this Service none)"),
    ("different sharing keys",
     {"00.yaml": [P], "svc.yaml": [service("zeta", ip=IP, key="k1", port=80),
                                   service("alpha", ip=IP, key="k2", port=81)]},
     "default/zeta", "default/alpha", 'with sharing key "k1", not "k2"'),
    ("same key, clashing ports",
     {"00.yaml": [P], "svc.yaml": [service("zeta", ip=IP, key="k"),
                                   service("alpha", ip=IP, key="k")]},
     "default/zeta", "default/alpha", 'port TCP/80 is already in use on "10.0.0.5"'),
    ("externalTrafficPolicy Local, other backends",
     {"00.yaml": [P], "svc.yaml": [service("zeta", ip=IP, key="k", local_app="x"),
                                   service("alpha", ip=IP, key="k", port=81,
                                           local_app="y")]},
     "default/zeta", "default/alpha", "with other backends"),
]


@pytest.mark.parametrize("name,files,winner,loser,words", CONTESTS,
                         ids=[c[0] for c in CONTESTS])
def test_who_keeps_a_contested_address(tmp_path, name, files, winner, loser, words):
    got = plan_dir(tmp_path, files)
    assert got[winner]["ingress"] == [IP]
    assert got[loser]["ingress"] == []
    ev = got[loser]["events"][-1]
    assert (ev["type"], ev["reason"]) == ("Warning", "AllocationFailed")
    assert words in ev["message"], ev["message"]
    assert f'"{winner}" keeps it' in ev["message"]


@pytest.mark.parametrize("name,files,winner,loser,words", CONTESTS,
                         ids=[c[0] for c in CONTESTS])
def test_check_warns_about_a_contested_address(tmp_path, name, files, winner, loser, words):
    for fname, docs in files.items():
        (tmp_path / fname).write_text("---\n".join(docs))
    r = run_ironlb("check", tmp_path)
    assert r.rc == 0, r.out + r.err
    warn = [l for l in r.lines() if ": warning: Service " in l]
    ns, nm = loser.split("/")
    assert len(warn) == 1 and f"warning: Service {ns}/{nm}: asks for {IP}" in warn[0], r.out
    assert f"which Service {winner} keeps" in warn[0], warn
    # file:line of the loser's document
    where = warn[0].split(": warning:")[0]
    fname, line = where.rsplit(":", 1)
    text = (tmp_path / pathlib.Path(fname).name).read_text().splitlines()
    assert f"name: {nm}" in "\n".join(text[int(line) - 1:int(line) + 3]), (where, text)
    assert run_ironlb("check", "-W", tmp_path).rc == 1


def test_shareable_services_both_get_the_address(tmp_path):
    got = plan_dir(tmp_path, {"00.yaml": [P], "svc.yaml": [
        service("zeta", ip=IP, key="k", port=80), service("alpha", ip=IP, key="k", port=81)]})
    assert got["default/zeta"]["ingress"] == got["default/alpha"]["ingress"] == [IP]
    r = run_ironlb("check", tmp_path)
    assert r.rc == 0 and ": warning:" not in r.out, r.out


def test_a_held_address_stays_with_its_holder(tmp_path):
    """A Service whose status holds the address keeps it against one that
    was created earlier (a restart never moves an address)."""
    holder = service("zeta", ip=IP, created=FEB) + \
        "status: {loadBalancer: {ingress: [{ip: 10.0.0.5}]}}\n"
    got = plan_dir(tmp_path, {"00.yaml": [P], "svc.yaml": [
        service("alpha", ip=IP, created=JAN), holder]})
    assert got["default/zeta"]["ingress"] == [IP]
    assert '"default/zeta" keeps it: it held the address already' in \
        got["default/alpha"]["events"][-1]["message"]


# ---------------------------------------------------------------------------
# the same in `ironlb run`, through changes and a restart

def put(d, fname, docs):
    """Write a manifest whole (renamed into place, as an editor would)."""
    tmp = d / f".{fname}.tmp"
    tmp.write_text("---\n".join(docs))
    tmp.rename(d / fname)


def test_run_follows_both_rules(tmp_path):
    d = tmp_path / "manifests"
    d.mkdir()
    state = tmp_path / "state.json"
    put(d, "00-pools.yaml", [P, pool("aaa-general", "10.2.0.0/30"),
                             pool("zzz-team-a", "10.1.0.0/30", ["namespaces: [team-a]"])])
    put(d, "10-first.yaml", [service("zeta", ip=IP)])
    put(d, "20-second.yaml", [service("alpha", ip=IP), service("web", ns="team-a")])

    def services(run):
        st = run.status() or {}
        return {f'{s["namespace"]}/{s["name"]}': s for s in st.get("services", [])}

    def failure(run, key):
        s = services(run).get(key)
        if not s or s["ingress"] or not s["events"]:
            return None
        return s["events"][-1]["message"]

    def holds(run, key, what):
        poll(lambda: services(run).get(key, {}).get("ingress") == [IP], 30, what)

    def fails(run, key, words):
        poll(lambda: words in (failure(run, key) or ""), 30, f"{key}: {words}")

    run = Run(tmp_path, d, "--state", state)
    try:
        holds(run, "default/zeta", "zeta gets the address it asked for first")
        fails(run, "default/alpha", '"default/zeta" keeps it: asked first (read earlier')
        assert services(run)["team-a/web"]["pools"] == ["zzz-team-a"]

        # A Service added later in a file that sorts first asked later.
        put(d, "05-late.yaml", [service("beta", ip=IP)])
        fails(run, "default/beta", '"default/zeta" keeps it')
        # The winner goes: the address goes to alpha, which asked before beta.
        (d / "10-first.yaml").unlink()
        holds(run, "default/alpha", "alpha takes the address")
        fails(run, "default/beta", '"default/alpha" keeps it')
    finally:
        run.stop()

    # A restart (the state file says who holds what) keeps it with alpha,
    # although beta's file is read first now.
    run = Run(tmp_path, d, "--state", state)
    try:
        holds(run, "default/alpha", "alpha keeps the address across a restart")
        fails(run, "default/beta", '"default/alpha" keeps it: it held the address already')
    finally:
        run.stop()
