"""MetalLB's rules on configuration objects, through `ironlb check`,
`plan` and `run`:

- MetalLB objects live in the configuration namespace (metallb-system, or
  --namespace): one elsewhere is refused, naming the namespace expected,
  and is a broken configuration object (run keeps the last good one);
- the selector mistakes MetalLB's webhooks refuse (an expression written
  twice in one selector, a value twice, operators and their values, label
  syntax) are refused with file:line in every field that takes selectors."""
import json
import re

import pytest

from conftest import poll, run_ironlb
from test_manifest_watch import Run


def pool(name, addresses, ns="metallb-system", extra=""):
    meta = f"  namespace: {ns}\n" if ns else ""
    return (f"---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
            f"  name: {name}\n{meta}spec:\n  addresses: {json.dumps(addresses)}\n{extra}")


def l2adv(name, spec="", ns="metallb-system"):
    return (f"---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n"
            f"  name: {name}\n  namespace: {ns}\nspec:\n{spec}")


def service(name, families="[IPv4]", annotations=""):
    ann = f"  annotations: {{{annotations}}}\n" if annotations else ""
    return (f"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n"
            f"  namespace: default\n{ann}spec:\n  type: LoadBalancer\n"
            f"  ipFamilies: {families}\n  ports: [{{port: 80}}]\n")


def problems(r):
    """Error and warning lines of `check -q`."""
    return [l for l in r.lines() if not l.startswith(("configuration:", "service "))]


def plan_json(*args, stdin=None):
    r = run_ironlb("plan", "-o", "json", *args, stdin=stdin)
    return r, json.loads(r.out)


# --- 1. the configuration namespace ---------------------------------------

NS_ERROR = ('<stdin>:6: IPAddressPool {got}/p: metadata.namespace: "{got}" is not the '
            'configuration namespace: IPAddressPool objects must be in namespace {want} '
            '(--namespace chooses it)')


@pytest.mark.parametrize("flag,written,refused_for", [
    (None, "metallb-system", None),
    (None, "default", "metallb-system"),
    (None, "kube-system", "metallb-system"),
    ("lb", "lb", None),
    ("lb", "metallb-system", "lb"),
    # No namespace written: read as the configuration namespace, what
    # `kubectl apply -n <namespace>` does with such a manifest.
    (None, "", None),
    ("lb", "", None),
])
def test_configuration_namespace(flag, written, refused_for):
    text = pool("p", ["192.0.2.1-192.0.2.9"], ns=written) + service("web")
    opts = ["--namespace", flag] if flag else []
    c = run_ironlb("check", "-q", *opts, "-", stdin=text)
    r, doc = plan_json(*opts, "-", stdin=text)
    if refused_for is None:
        assert c.rc == 0 and problems(c) == [], c.out
        assert r.rc == 0 and doc["services"][0]["ingress"] == ["192.0.2.1"], r.err
        return
    want = NS_ERROR.format(got=written, want=refused_for)
    assert c.rc == 1 and problems(c) == [want], c.out
    # A broken configuration object: nothing good to run yet.
    assert r.rc == 1 and doc["planned"] is False and "not planned" in r.err
    assert doc["configuration"]["verdict"] == "invalid"
    assert any(want.split(": ", 1)[1] in e for e in doc["configuration"]["errors"]), doc


def test_every_command_has_the_namespace_flag():
    for cmd in ("check", "plan", "run"):
        r = run_ironlb(cmd, "--help")
        assert r.rc == 0 and "--namespace NS" in r.out, (cmd, r.out)


def fill(d, ns="metallb-system"):
    d.mkdir(exist_ok=True)
    (d / "pools.yaml").write_text(pool("ipv4-pool", ["192.0.2.1-192.0.2.9"], ns=ns))
    (d / "l2.yaml").write_text(l2adv("l2", ns=ns))
    (d / "web.yaml").write_text(service("web"))


def replace(path, text):
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    tmp.rename(path)


# (the file replaced, its new text, the error /status then reports)
BREAKAGES = [
    ("pools.yaml", pool("ipv4-pool", ["192.0.3.1-192.0.3.9"], ns="default"),
     'metadata.namespace: "default" is not the configuration namespace: IPAddressPool '
     'objects must be in namespace metallb-system'),
    ("l2.yaml", l2adv("l2", "  nodeSelectors:\n  - matchExpressions:\n"
                            "    - {key: zone, operator: Exists}\n"
                            "    - {key: zone, operator: Exists}\n"),
     "spec.nodeSelectors[0].matchExpressions[1]: this expression is listed twice in one "
     "selector"),
]


@pytest.mark.parametrize("name,text,error", BREAKAGES, ids=["namespace", "selector"])
def test_run_keeps_the_last_good_configuration(tmp_path, name, text, error):
    """A pool moved out of the configuration namespace, or a selector
    mistake, is a broken configuration object: reported (log, /status),
    and the last good configuration keeps the Service's address."""
    d = tmp_path / "m"
    fill(d)
    r = Run(tmp_path, d)
    try:
        poll(lambda: r.ingress("web") == ["192.0.2.1"], 20, "web's address")
        replace(d / name, text)

        def judged():
            st = r.status()
            c = st["config"]
            return c["verdict"] == "invalid" and any(error in e for e in c["errors"]) and st
        st = poll(judged, 20, f"the configuration judged invalid for {error!r}")
        assert st["config"]["stale"] is True
        assert r.ingress("web") == ["192.0.2.1"]
    finally:
        out = r.stop()
    # logfmt: the problem in detail="...", its quotes escaped
    logged = error.replace('"', '\\"')
    assert any(l.startswith("level=error ") and 'msg="configuration problem"' in l and
               logged in l for l in out.splitlines()), out


def test_run_reads_the_namespace_it_is_given(tmp_path):
    d = tmp_path / "m"
    fill(d, ns="lb")
    r = Run(tmp_path, d, "--namespace", "lb")
    try:
        poll(lambda: r.ingress("web") == ["192.0.2.1"], 20, "web's address")
        assert r.status()["config"]["verdict"] == "valid"
    finally:
        r.stop()


# --- 2. selector mistakes ----------------------------------------------------

# (what, the selector list as YAML (indented for "  <field>:"), path after
# the field, message)
SELECTOR_MISTAKES = [
    ("expression twice",
     "  - matchExpressions:\n"
     "    - {key: zone, operator: In, values: [a, b]}\n"
     "    - {key: zone, operator: In, values: [b, a]}\n",
     "[0].matchExpressions[1]",
     "this expression is listed twice in one selector (also at matchExpressions[0]); "
     "write it once"),
    ("value twice",
     "  - matchExpressions:\n    - {key: zone, operator: In, values: [a, a]}\n",
     "[0].matchExpressions[0].values[1]", '"a" is listed twice (also at values[0])'),
    ("selector twice",
     "  - matchLabels: {zone: a}\n  - matchLabels: {zone: a}\n",
     "[1]", "this selector is listed twice (also at "),
    ("unknown operator",
     "  - matchExpressions:\n    - {key: zone, operator: Equals, values: [a]}\n",
     "[0].matchExpressions[0].operator",
     '"Equals" is not an operator (accepted: In, NotIn, Exists, DoesNotExist)'),
    ("values with Exists",
     "  - matchExpressions:\n    - {key: zone, operator: Exists, values: [a]}\n",
     "[0].matchExpressions[0].values", "operator Exists takes no values"),
    ("values with DoesNotExist",
     "  - matchExpressions:\n    - {key: zone, operator: DoesNotExist, values: [a]}\n",
     "[0].matchExpressions[0].values", "operator DoesNotExist takes no values"),
    ("no values with In",
     "  - matchExpressions:\n    - {key: zone, operator: In, values: []}\n",
     "[0].matchExpressions[0].values", "operator In needs at least one value"),
    ("no values with NotIn",
     "  - matchExpressions:\n    - {key: zone, operator: NotIn}\n",
     "[0].matchExpressions[0]", "operator NotIn needs at least one value"),
    ("bad key in an expression",
     "  - matchExpressions:\n    - {key: \"a b\", operator: Exists}\n",
     "[0].matchExpressions[0].key", '"a b" is not a valid label key'),
    ("bad value in an expression",
     "  - matchExpressions:\n    - {key: zone, operator: In, values: [\"a b\"]}\n",
     "[0].matchExpressions[0].values[0]", '"a b" is not a valid label value'),
    ("bad key in matchLabels",
     "  - matchLabels: {\"-zone\": a}\n",
     "[0].matchLabels.-zone", '"-zone" is not a valid key'),
    ("bad value in matchLabels",
     "  - matchLabels: {zone: \"a b\"}\n",
     "[0].matchLabels.zone", '"a b" is not a valid label value'),
]

# (kind header, field path, how the selector list is written under it)
SELECTOR_FIELDS = [
    ("L2Advertisement", "spec.nodeSelectors", "nodeSelectors"),
    ("L2Advertisement", "spec.serviceSelectors", "serviceSelectors"),
    ("L2Advertisement", "spec.ipAddressPoolSelectors", "ipAddressPoolSelectors"),
    ("BGPAdvertisement", "spec.nodeSelectors", "nodeSelectors"),
    ("BGPAdvertisement", "spec.serviceSelectors", "serviceSelectors"),
    ("BGPAdvertisement", "spec.ipAddressPoolSelectors", "ipAddressPoolSelectors"),
    ("BGPPeer", "spec.nodeSelectors", "nodeSelectors"),
    ("IPAddressPool", "spec.serviceAllocation.namespaceSelectors", "namespaceSelectors"),
    ("IPAddressPool", "spec.serviceAllocation.serviceSelectors", "serviceSelectors"),
]


def selector_doc(kind, field, sel):
    head = {"BGPPeer": "metallb.io/v1beta2"}.get(kind, "metallb.io/v1beta1")
    text = (f"apiVersion: {head}\nkind: {kind}\nmetadata:\n  name: x\n"
            "  namespace: metallb-system\nspec:\n")
    if kind == "BGPPeer":
        text += "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.9.0.1\n"
    if kind == "IPAddressPool":
        text += "  addresses: [10.9.1.1-10.9.1.9]\n  serviceAllocation:\n"
        sel = "".join("  " + l + "\n" for l in sel.splitlines())
        field = "  " + field
    return text + f"  {field}:\n" + sel


@pytest.mark.parametrize("kind,path,field", SELECTOR_FIELDS,
                         ids=[f"{k}.{p}" for k, p, _ in SELECTOR_FIELDS])
@pytest.mark.parametrize("what,sel,where,message", SELECTOR_MISTAKES,
                         ids=[m[0] for m in SELECTOR_MISTAKES])
def test_selector_mistakes_are_refused(kind, path, field, what, sel, where, message):
    text = selector_doc(kind, field, sel)
    c = run_ironlb("check", "-q", "-", stdin=text)
    assert c.rc == 1, c.out
    errors = [l for l in problems(c) if ": warning: " not in l]
    assert len(errors) == 1, c.out
    m = re.match(r"^<stdin>:(\d+): " + kind + r" metallb-system/x: (\S+): (.*)$", errors[0])
    assert m, errors[0]
    assert m.group(2) == path + where and m.group(3).startswith(message), errors[0]
    # file:line points into the selector
    lines = text.splitlines()
    assert int(m.group(1)) > lines.index(next(l for l in lines if f"{field}:" in l))
    r = run_ironlb("plan", "-", stdin=text)
    assert r.rc == 1 and "not planned" in r.err


def test_preferred_node_selector_expression_twice():
    text = l2adv("x", "  preferredNodeSelectors:\n  - weight: 10\n    preference:\n"
                      "      matchExpressions:\n"
                      "      - {key: rack, operator: In, values: [r1]}\n"
                      "      - {key: rack, operator: In, values: [r1]}\n")
    c = run_ironlb("check", "-q", "-", stdin=text)
    assert c.rc == 1
    assert problems(c) == [
        "<stdin>:13: L2Advertisement metallb-system/x: spec.preferredNodeSelectors[0]."
        "preference.matchExpressions[1]: this expression is listed twice in one selector "
        "(also at matchExpressions[0]); write it once"]


def test_different_expressions_on_one_key_are_accepted():
    text = (pool("p", ["10.9.1.1-10.9.1.9"]) +
            l2adv("x", "  nodeSelectors:\n  - matchExpressions:\n"
                       "    - {key: zone, operator: In, values: [a]}\n"
                       "    - {key: zone, operator: In, values: [a, b]}\n"
                       "    - {key: zone, operator: NotIn, values: [a]}\n"
                       "    - {key: zone, operator: Exists}\n"))
    c = run_ironlb("check", "-q", "-", stdin=text)
    assert c.rc == 0 and problems(c) == [], c.out
