"""MetalLB's rules on configuration objects, through `ironlb check`,
`plan` and `run`:

- MetalLB objects live in the configuration namespace (metallb-system, or
  --namespace): one elsewhere is refused, naming the namespace expected,
  and is a broken configuration object (run keeps the last good one);
- the selector mistakes MetalLB's webhooks refuse (an expression written
  twice in one selector, a value twice, operators and their values, label
  syntax) are refused with file:line in every field that takes selectors;
- addresses that hurt on a LAN are warned about: a /24's .0 and .255 and
  the IPv6 Subnet-Router anycast address in pools a Layer 2 advertisement
  announces, a Service given one (an event), a pool holding a BGPPeer's
  or a Node's address; avoidBuggyIPs also keeps the anycast address out of
  automatic allocation."""
import json
import re

import pytest

from conftest import EXAMPLES, poll, run_ironlb
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


# --- 3. addresses that hurt on a LAN -----------------------------------------

L2_ALL = l2adv("l2")

# (what, manifests, expected warnings: (path, substring) in order)
LAN_WARNINGS = [
    ("a /24 announced by Layer 2", pool("a", ["192.168.1.0/24"]) + L2_ALL,
     [('spec.addresses[0]', '"192.168.1.0/24" holds 2 addresses ending in .0 or .255 '
       '(the first: 192.168.1.0)')]),
    ("a range ending on .255", pool("a", ["192.168.1.10-192.168.1.255"]) + L2_ALL,
     [('spec.addresses[0]', '"192.168.1.10-192.168.1.255" holds 192.168.1.255, the '
       'broadcast address of its /24')]),
    ("a range inside one /24", pool("a", ["192.168.1.1-192.168.1.254"]) + L2_ALL, []),
    ("avoidBuggyIPs", pool("a", ["192.168.1.0/24", "2001:db8:1::/64"],
                           extra="  avoidBuggyIPs: true\n") + L2_ALL, []),
    ("a pool announced only by BGP",
     pool("a", ["192.168.1.0/24", "2001:db8:1::/64"]) + l2adv("l2", "  ipAddressPools: [b]\n")
     + pool("b", ["10.0.0.1-10.0.0.9"]), []),
    ("an IPv6 /64", pool("a", ["2001:db8:1::/64"]) + L2_ALL,
     [('spec.addresses[0]', '"2001:db8:1::/64" holds 2001:db8:1::, the Subnet-Router '
       'anycast address of its /64 (RFC 4291 2.6.1), which routers on the link also '
       'answer, and L2Advertisement metallb-system/l2 announces this pool on the LAN; '
       'avoidBuggyIPs: true keeps it out of automatic allocation')]),
    ("an IPv6 /120 holds its /64's anycast address", pool("a", ["2001:db8:1::/120"]) + L2_ALL,
     [('spec.addresses[0]', '"2001:db8:1::/120" holds 2001:db8:1::, the Subnet-Router')]),
    ("an IPv6 /56", pool("a", ["2001:db8:1::/56"]) + L2_ALL,
     [('spec.addresses[0]', '"2001:db8:1::/56" holds 256 Subnet-Router anycast addresses')]),
    ("an IPv6 range without one", pool("a", ["2001:db8:1::1-2001:db8:1::ff"]) + L2_ALL, []),
    ("a pool holding its BGPPeer's address (the guide)",
     pool("a", ["2001:db8:1::/64"]) +
     "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: r\n"
     "  namespace: metallb-system\nspec:\n  myASN: 64500\n  peerASN: 64501\n"
     "  peerAddress: 2001:db8:1::1\n",
     [('spec.addresses[0]', '"2001:db8:1::/64" holds 2001:db8:1::1, the peerAddress of '
       'BGPPeer metallb-system/r (<stdin>:')]),
    ("a pool holding a Node's InternalIP",
     pool("a", ["10.0.0.10-10.0.0.20"]) +
     "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nstatus:\n  addresses:\n"
     "  - {type: InternalIP, address: 10.0.0.11}\n  - {type: Hostname, address: n1}\n",
     [('spec.addresses[0]', '"10.0.0.10-10.0.0.20" holds 10.0.0.11, the InternalIP of '
       'Node n1')]),
]


@pytest.mark.parametrize("what,text,want", LAN_WARNINGS, ids=[w[0] for w in LAN_WARNINGS])
def test_lan_warnings(what, text, want):
    for cmd in (["check", "-q"], ["plan"]):
        r = run_ironlb(*cmd, "-", stdin=text)
        assert r.rc == 0, r.out + r.err
        out = r.out if cmd[0] == "check" else r.err
        got = [l for l in out.splitlines() if ": warning: " in l]
        assert len(got) == len(want), (cmd, out)
        for line, (path, part) in zip(got, want):
            assert re.match(r"^<stdin>:\d+: warning: IPAddressPool metallb-system/a: ", line)
            assert f": {path}: {part}" in line, line
    # -W makes them errors for a pipeline that wants none.
    if want:
        assert run_ironlb("check", "-q", "-W", "-", stdin=text).rc == 1


def events(svc):
    return [(e["type"], e["reason"]) for e in svc["events"]]


def test_plan_warns_about_a_service_given_such_an_address():
    text = (pool("v4", ["192.168.1.0/24"]) + pool("v6", ["2001:db8:1::/64"]) + L2_ALL +
            service("first", "[IPv4, IPv6]") + "  ipFamilyPolicy: RequireDualStack\n" +
            service("second", "[IPv4, IPv6]") + "  ipFamilyPolicy: RequireDualStack\n" +
            service("last", annotations="metallb.io/loadBalancerIPs: 192.168.1.255"))
    r, doc = plan_json("-", stdin=text)
    assert r.rc == 0, r.err
    svcs = {s["name"]: s for s in doc["services"]}
    # MetalLB's default allocation is kept: the first Service gets .0 and ::.
    assert svcs["first"]["ingress"] == ["192.168.1.0", "2001:db8:1::"]
    assert events(svcs["first"]) == [("Normal", "IPAllocated"), ("Warning", "UnsafeAddress"),
                                      ("Warning", "UnsafeAddress")]
    assert svcs["first"]["events"][1]["message"] == (
        "192.168.1.0 is the network address of its /24, which some clients and CPE "
        "firmware drop, and L2Advertisement metallb-system/l2 announces pool v4 on the LAN")
    assert svcs["first"]["events"][2]["message"].startswith(
        "2001:db8:1:: is the Subnet-Router anycast address of its /64 (RFC 4291 2.6.1)")
    assert events(svcs["second"]) == [("Normal", "IPAllocated")]
    assert svcs["last"]["ingress"] == ["192.168.1.255"]
    assert events(svcs["last"]) == [("Normal", "IPAllocated"), ("Warning", "UnsafeAddress")]
    assert "broadcast address of its /24" in svcs["last"]["events"][1]["message"]
    # The table shows the events too.
    t = run_ironlb("plan", "-", stdin=text)
    assert any(l.strip().startswith("default/first: Warning UnsafeAddress: 192.168.1.0 is")
               for l in t.lines()), t.out


def test_avoid_buggy_ips_skips_the_anycast_address_unless_asked_for():
    text = (pool("v6", ["2001:db8:1::/64"], extra="  avoidBuggyIPs: true\n") + L2_ALL +
            service("auto", "[IPv6]") +
            service("asks", "[IPv6]", annotations='metallb.io/loadBalancerIPs: "2001:db8:1::"'))
    c = run_ironlb("check", "-q", "-", stdin=text)
    assert c.rc == 0 and problems(c) == [], c.out
    r, doc = plan_json("-", stdin=text)
    assert r.rc == 0, r.err
    svcs = {s["name"]: s for s in doc["services"]}
    assert svcs["auto"]["ingress"] == ["2001:db8:1::1"]
    assert events(svcs["auto"]) == [("Normal", "IPAllocated")]
    # Asked for by name: given, as MetalLB gives it, with a warning.
    assert svcs["asks"]["ingress"] == ["2001:db8:1::"]
    assert events(svcs["asks"]) == [("Normal", "IPAllocated"), ("Warning", "UnsafeAddress")]
    # The pool's total leaves the anycast address out.
    assert doc["pools"][0]["ipv6"]["total"] == str(2**64 - 1)


def test_run_reports_a_service_given_such_an_address(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    for f in ("ipaddresspools.yaml", "l2-advertisements.yaml"):
        (d / f).write_text((EXAMPLES / "dual-stack-l2" / f).read_text())
    (d / "web.yaml").write_text(service("web", "[IPv6]"))
    r = Run(tmp_path, d)
    try:
        poll(lambda: r.ingress("web") == ["2001:db8:1::"], 20, "web's address")
        st = r.status()
        web = next(s for s in st["services"] if s["name"] == "web")
        assert [e["reason"] for e in web["events"]] == ["IPAllocated", "UnsafeAddress"], web
        assert web["events"][1]["type"] == "Warning"
        assert st["config"]["verdict"] == "valid"
    finally:
        out = r.stop()
    assert re.search(r"level=warn .*Subnet-Router anycast.*service=default/web "
                     r"reason=UnsafeAddress", out), out
    # The pool's warning is logged with the configuration's.
    assert re.search(r'level=warn .*ipv6-pool.*holds 2001:db8:1::, the Subnet-Router', out), out
