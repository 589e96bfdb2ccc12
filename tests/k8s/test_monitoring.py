"""The guide's alert rules (examples/bgp-ha/monitoring.yaml, MetalLB's
dual-stack guide, unchanged) and the chart's own (charts/ironlb,
prometheus.prometheusRule) evaluated by a real `promtool test rules` (built
from github.com/prometheus/prometheus by build.sh tools) on series scraped
from ironlb running in the Kubernetes-mode lab (tests/k8s/cluster.py: the
controller, a speaker per node, BIRD):

- pool exhaustion: two pools of two addresses each (tiny-ipv4, tiny-ipv6)
  filled one Service at a time; the alerts fire for a pool exactly when its
  last address is taken and not before, and clear when one is freed; the
  guide's /64 pool (2^64 addresses, one in use) never fires;
- the BGP session alert fires when the router stops and clears when it is
  back;
- every metric name the Grafana dashboard deploy/grafana-dashboard.json
  queries is in a scrape of the controller or a speaker.

The scrapes are the real ones; what promtool is given is each scraped state
held for HOLD minutes in turn (series time, not wall time), so the rules'
`for:` clauses are exercised without waiting minutes.  Needs root (network
namespaces), like the other cluster tests."""
import json
import pathlib
import re
import subprocess

import pytest
import yaml

import cluster as cl

ROOT = pathlib.Path(__file__).resolve().parents[2]
GUIDE_MONITORING = ROOT / "examples" / "bgp-ha" / "monitoring.yaml"
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
CHART = ROOT / "charts" / "ironlb"
NS = cl.NS
HOLD = 10   # minutes of series time each scraped state is held
UP = 90     # seconds for BGP sessions to come up (the speaker's connect retry)

TINY = {"tiny-ipv4": ("IPv4", "192.168.120.1-192.168.120.2"),
        "tiny-ipv6": ("IPv6", "2001:db8:120::1-2001:db8:120::2")}


def tiny_pools(c):
    for name, (_, rng) in TINY.items():
        c.plane.apply({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                       "metadata": {"name": name, "namespace": NS},
                       "spec": {"addresses": [rng], "autoAssign": False}})


@pytest.fixture(scope="module")
def cluster(k8s_tools, plane, tmp_path_factory):
    yield from cl.cluster_fixture(plane, tmp_path_factory.mktemp("cluster"), start=tiny_pools)


@pytest.fixture
def c(cluster):
    yield from cl.checked_alive(cluster)


# ---- scrapes and promtool ----------------------------------------------------

def scrape(c) -> dict[tuple, float]:
    """Every metallb_ series of the controller and the speakers, keyed by
    (name, sorted labels), with job and instance as a ServiceMonitor's
    scrape would add them."""
    out = {}
    sources = [("controller", "controller", c.controller.metrics())] + \
        [("speaker", n, s.metrics()) for n, s in c.speakers.items()]
    for job, inst, series in sources:
        for name, labels, value in series:
            if name.startswith("metallb_"):
                lb = dict(labels, job=job, instance=inst)
                out[(name, tuple(sorted(lb.items())))] = value
    return out


def series_text(name, labels) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return f"{name}{{{inner}}}"


def fmt(v: float) -> str:
    return str(int(v)) if v == int(v) else repr(v)


def rules_of(doc) -> list[dict]:
    return doc["spec"]["groups"]


def render(template: str, labels: dict) -> str:
    """The alert templates these rules use: {{ $labels.NAME }} only."""
    def sub(m):
        return labels.get(m.group(1), "")
    assert "{{" not in re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", "", template), template
    return re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", sub, template)


def promtool_test(tools, tmp_path, groups, states, checks, names):
    """Run `promtool test rules` on `groups` (PrometheusRule spec.groups)
    with the scraped `states` held HOLD minutes each, and `checks`: (state
    index, minute within it, alertname, [expected series labels]).  Only
    the series of metric `names` are given (the others are noise)."""
    rules = {r["alert"]: r for g in groups for r in g["rules"]}
    keys = sorted({k for s in states for k in s if k[0] in names})
    input_series = []
    for name, labels in keys:
        vals = []
        for s in states:
            v = s.get((name, labels))
            vals += [fmt(v) if v is not None else "_"] * HOLD
        input_series.append({"series": series_text(name, labels), "values": " ".join(vals)})
    tests = []
    for idx, minute, alert, want in checks:
        rule = rules[alert]
        exp = []
        for lb in want:
            labels = dict(lb, **rule.get("labels", {}))
            exp.append({"exp_labels": labels,
                        "exp_annotations": {k: render(v, lb) for k, v in
                                            rule.get("annotations", {}).items()}})
        tests.append({"eval_time": f"{idx * HOLD + minute}m", "alertname": alert,
                      "exp_alerts": exp})
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yaml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series,
                   "alert_rule_test": tests}]}))
    p = subprocess.run([tools.promtool, "test", "rules", "test.yaml"], cwd=tmp_path,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120)
    assert p.returncode == 0, f"promtool test rules failed:\n{p.stdout[-6000:]}\n" \
        f"(files in {tmp_path})"
    assert "SUCCESS" in p.stdout, p.stdout


def guide_rules():
    return rules_of(next(d for d in yaml.safe_load_all(GUIDE_MONITORING.read_text())
                         if d and d["kind"] == "PrometheusRule"))


def chart_rules(tools, tmp_path):
    p = subprocess.run([tools.helm, "template", "ironlb", str(CHART), "-n", NS,
                        "--set", "prometheus.prometheusRule.enabled=true",
                        "--show-only", "templates/prometheusrules.yaml"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return rules_of(yaml.safe_load(p.stdout))


def value(state, name, **labels):
    got = [v for (n, lb), v in state.items()
           if n == name and all(dict(lb).get(k) == w for k, w in labels.items())]
    assert len(got) == 1, (name, labels, got)
    return got[0]


# ---- the tests ---------------------------------------------------------------

POOL_METRICS = {"metallb_allocator_addresses_in_use_total", "metallb_allocator_addresses_total"}


def test_pool_exhaustion_alerts(c, k8s_tools, tmp_path):
    ctl = {"job": "controller", "instance": "controller"}

    def in_use(state):
        return {p: value(state, "metallb_allocator_addresses_in_use_total", pool=p)
                for p in (*TINY, "ipv4-pool", "ipv6-pool")}

    def settle(want):
        """Wait for the controller's metrics to say `want` (pool -> in use)."""
        box = {}

        def ok():
            box["s"] = scrape(c)
            return all(in_use(box["s"])[p] == n for p, n in want.items())
        c.wait(ok, 20, f"pools in use {want}")
        return box["s"]

    names = []

    def add(name, pool=None, families=None):
        ann = {"metallb.io/address-pool": pool} if pool else None
        fam = families or (TINY[pool][0],)
        c.plane.apply(cl.service(name, families=fam, annotations=ann))
        names.append(name)
        c.wait_ingress(name, n=len(fam))

    try:
        # One dual-stack Service from the guide's pools: 1 of the /64's 2^64.
        add("mon-dual", families=("IPv4", "IPv6"))
        s0 = settle({"tiny-ipv4": 0, "tiny-ipv6": 0, "ipv6-pool": 1})
        assert value(s0, "metallb_allocator_addresses_total", pool="ipv6-pool") == 2.0 ** 64
        for p in TINY:
            assert value(s0, "metallb_allocator_addresses_total", pool=p) == 2
        add("mon-v4-a", "tiny-ipv4")
        add("mon-v6-a", "tiny-ipv6")
        s1 = settle({"tiny-ipv4": 1, "tiny-ipv6": 1})
        add("mon-v4-b", "tiny-ipv4")
        add("mon-v6-b", "tiny-ipv6")
        s2 = settle({"tiny-ipv4": 2, "tiny-ipv6": 2})
        c.kubectl("delete", "service", "mon-v4-b", "mon-v6-b", "-n", "default")
        names.remove("mon-v4-b")
        names.remove("mon-v6-b")
        s3 = settle({"tiny-ipv4": 1, "tiny-ipv6": 1})
    finally:
        if names:
            c.kubectl("delete", "service", *names, "-n", "default", "--ignore-not-found")
    states = [s0, s1, s2, s3]

    # The guide's rules: for: 1m.  Before full, not at the moment the pool
    # fills (pending), firing a minute later, clear once an address is free.
    checks = []
    for alert, pool in (("MetalLBIPv4PoolExhausted", "tiny-ipv4"),
                        ("MetalLBIPv6PoolExhausted", "tiny-ipv6")):
        checks += [(0, HOLD - 1, alert, []), (1, HOLD - 1, alert, []),
                   (2, 0, alert, []), (2, 2, alert, [dict(ctl, pool=pool)]),
                   (2, HOLD - 1, alert, [dict(ctl, pool=pool)]), (3, 1, alert, [])]
    promtool_test(k8s_tools, tmp_path / "guide", guide_rules(), states, checks, POOL_METRICS)

    # The chart's rule: no for:, one alert for any full pool.
    alert = "MetalLBAddressPoolExhausted"
    full = [dict(ctl, pool=p) for p in sorted(TINY)]
    checks = [(0, 1, alert, []), (1, HOLD - 1, alert, []), (2, 0, alert, full),
              (2, HOLD - 1, alert, full), (3, 0, alert, [])]
    promtool_test(k8s_tools, tmp_path / "chart", chart_rules(k8s_tools, tmp_path), states,
                  checks, POOL_METRICS)


def session_states(c) -> dict[tuple[str, str], float]:
    """(node, peer) -> metallb_bgp_session_up of every speaker."""
    return {(n, lb["peer"]): v for n, s in c.speakers.items()
            for lb, v in s.metric("metallb_bgp_session_up")}


def test_bgp_session_down_alert(c, k8s_tools, tmp_path):
    def all_sessions(want):
        box = {}

        def ok():
            st = session_states(c)
            box["s"] = scrape(c)
            return len(st) == 2 * len(c.speakers) and all(v == want for v in st.values())
        c.wait(ok, UP, f"every BGP session's metallb_bgp_session_up == {want}")
        return box["s"]

    up = all_sessions(1)
    c.bird.stop()
    try:
        down = all_sessions(0)
    finally:
        c.bird.start()
    back = all_sessions(1)
    states = [up, down, back]

    sessions = [{"job": "speaker", "instance": n, "peer": p}
                for n, p in sorted(session_states(c))]
    names = {"metallb_bgp_session_up"}
    # The guide's rule: for: 5m.
    alert = "MetalLBBGPSessionDown"
    checks = [(0, HOLD - 1, alert, []), (1, 4, alert, []), (1, 6, alert, sessions),
              (1, HOLD - 1, alert, sessions), (2, 1, alert, [])]
    promtool_test(k8s_tools, tmp_path / "guide", guide_rules(), states, checks, names)
    # The chart's: for: 2m.
    checks = [(0, HOLD - 1, alert, []), (1, 1, alert, []), (1, 3, alert, sessions),
              (2, 1, alert, [])]
    promtool_test(k8s_tools, tmp_path / "chart", chart_rules(k8s_tools, tmp_path), states,
                  checks, names)


def dashboard_metric_names() -> set[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = []

    def walk(panels):
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []) if "expr" in t)
            walk(p.get("panels", []))
    walk(dash["panels"])
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            exprs.append(q.get("query", ""))
    names = {n for e in exprs for n in re.findall(r"\b(metallb_[a-z0-9_]+)", e)}
    assert len(exprs) >= 10 and names, (exprs, names)
    return names


def test_dashboard_metrics_are_exported(c):
    """Every metric the dashboard queries is in a scrape: with a Service
    announced, and BFD on the peers (which brings the BFD families)."""
    want = dashboard_metric_names()
    assert {"metallb_allocator_ipv4_addresses_in_use_total",
            "metallb_allocator_ipv6_addresses_in_use_total", "metallb_speaker_announced",
            "metallb_bgp_session_up", "metallb_bfd_session_up"} <= want, want
    peers = c.plane.kubectl_json("get", "bgppeers.metallb.io", "-n", NS)["items"]
    c.plane.apply({"apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile",
                   "metadata": {"name": "mon-bfd", "namespace": NS}, "spec": {}})
    c.plane.apply(cl.service("mon-dash", families=("IPv4", "IPv6")))
    try:
        c.wait_ingress("mon-dash", n=2)
        for p in peers:
            c.kubectl("patch", "bgppeers.metallb.io", p["metadata"]["name"], "-n", NS,
                      "--type=merge", "-p", '{"spec":{"bfdProfile":"mon-bfd"}}')
        seen = set()

        def ok():
            seen.update(n for n, _ in scrape(c))
            return want <= seen
        try:
            c.wait(ok, 30, "every metric of the dashboard in a scrape")
        except Exception:
            raise AssertionError(f"not exported: {sorted(want - seen)}") from None
    finally:
        for p in peers:
            c.kubectl("patch", "bgppeers.metallb.io", p["metadata"]["name"], "-n", NS,
                      "--type=json", "-p", '[{"op":"remove","path":"/spec/bfdProfile"}]',
                      check=False)
        c.kubectl("delete", "service", "mon-dash", "-n", "default", "--ignore-not-found")
        c.kubectl("delete", "bfdprofiles.metallb.io", "mon-bfd", "-n", NS, "--ignore-not-found")
