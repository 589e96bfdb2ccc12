"""deploy/ironlb.yaml against a real kube-apiserver: it applies (client-side,
and server-side as a dry run); the metallb.io CRDs become Established and are
served with MetalLB's printer columns; every valid example set applies, with
its Services; what ironlb refuses within one object is refused by
`kubectl apply` with a message naming the field (the guide's
2001:db8:prod::/64 first), what spans objects is not (ironlb reports it);
the controller's and speaker's service accounts can do what they need and
nothing more; a BGPPeer written as v1beta1 reads back as v1beta2 and the
other way round, with the losses deploy/README.md describes.

No kubelet runs here, so no Pod ever starts: nothing waits for Pods."""
import json
import pathlib
import re
import uuid

import pytest

import controlplane as cpmod

ROOT = pathlib.Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "ironlb.yaml"
EXAMPLES = ROOT / "examples"
NS = "metallb-system"

CONFIG_KINDS = ["ipaddresspools", "l2advertisements", "bgpadvertisements", "bgppeers",
                "bfdprofiles", "communities"]
CRDS = [f"{k}.metallb.io" for k in CONFIG_KINDS] + [
    "servicel2statuses.metallb.io", "servicebgpstatuses.metallb.io",
    "configurationstates.metallb.io"]


# ---- helpers ------------------------------------------------------------------

def run(plane, *args, input=None, kubeconfig=None):
    """kubectl without raising: (returncode, stdout, stderr)."""
    p = plane.kubectl(*args, input=input, check=False, kubeconfig=kubeconfig)
    return p.returncode, p.stdout, p.stderr


def obj(kind, spec, name=None, version="v1beta1", namespace=NS, **meta):
    metadata = {"name": name or f"t-{uuid.uuid4().hex[:8]}", "namespace": namespace, **meta}
    o = {"apiVersion": f"metallb.io/{version}", "kind": kind, "metadata": metadata}
    if spec is not None:
        o["spec"] = spec
    return o


def pool(spec, **kw):
    return obj("IPAddressPool", spec, **kw)


def peer(spec, version="v1beta2", **kw):
    return obj("BGPPeer", spec, version=version, **kw)


def peer_spec(**over):
    spec = {"myASN": 64500, "peerASN": 64501, "peerAddress": "10.0.0.1"}
    spec.update(over)
    return {k: v for k, v in spec.items() if v is not None}


def split_docs(text):
    """(apiVersion, kind, document text) for each YAML document of a file."""
    for doc in re.split(r"(?m)^---[ \t]*$", text):
        av = re.search(r"(?m)^apiVersion:\s*(\S+)", doc)
        kind = re.search(r"(?m)^kind:\s*(\S+)", doc)
        if av and kind:
            yield av.group(1), kind.group(1), doc


def delete_config(plane):
    plane.kubectl("delete", ",".join(CONFIG_KINDS), "--all", "-n", NS, "--wait=false")


def example_sets():
    return sorted(d.name for d in EXAMPLES.iterdir()
                  if d.is_dir() and d.name != "invalid" and list(d.glob("*.yaml")))


def project_version():
    """project(ironlb VERSION x.y.z): the tag scripts/build-image gives."""
    m = re.search(r"project\(ironlb VERSION (\S+)", (ROOT / "CMakeLists.txt").read_text())
    return m.group(1)


# ---- the deployment ---------------------------------------------------------------

@pytest.fixture(scope="module")
def deployed(plane):
    """The manifest applied once (client-side, as the guide's install step
    does), its CRDs Established and served."""
    out = plane.kubectl("apply", "-f", str(MANIFEST)).stdout
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                  *[f"crd/{c}" for c in CRDS])
    # Discovery of a new group can lag the Established condition.
    cpmod.wait_until(
        lambda: all(run(plane, "get", k, "-n", NS)[0] == 0 for k in CONFIG_KINDS),
        60, "metallb.io kinds served")
    return out


@pytest.fixture
def clean_config(plane, deployed):
    """Configuration objects go to metallb-system, shared by the module's
    tests: remove them afterwards."""
    yield
    delete_config(plane)


def test_manifest_applies(plane, deployed):
    for what in ["namespace/metallb-system", "serviceaccount/controller",
                 "serviceaccount/speaker", "deployment.apps/controller",
                 "daemonset.apps/speaker",
                 "clusterrole.rbac.authorization.k8s.io/metallb-system:controller",
                 "clusterrole.rbac.authorization.k8s.io/metallb-system:speaker",
                 "role.rbac.authorization.k8s.io/controller",
                 "role.rbac.authorization.k8s.io/speaker"] + \
            [f"customresourcedefinition.apiextensions.k8s.io/{c}" for c in CRDS]:
        assert f"{what} created" in deployed, what
    # Applying again changes nothing.
    again = plane.kubectl("apply", "-f", str(MANIFEST)).stdout
    assert "created" not in again and "configured" not in again, again


def test_manifest_server_side_dry_run(plane, deployed):
    rc, out, err = run(plane, "apply", "--server-side", "--dry-run=server", "-f", str(MANIFEST))
    assert rc == 0, err
    assert "customresourcedefinition.apiextensions.k8s.io/bgppeers.metallb.io serverside-applied" \
        in out
    rc, out, err = run(plane, "apply", "--dry-run=server", "-f", str(MANIFEST))
    assert rc == 0, err


def test_namespace_is_privileged(plane, deployed):
    labels = plane.kubectl_json("get", "namespace", NS)["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "privileged"


def test_crds_established_and_versions(plane, deployed):
    for name in CRDS:
        crd = plane.kubectl_json("get", "crd", name)
        conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conds.get("Established") == "True" and conds.get("NamesAccepted") == "True", name
        assert crd["spec"]["group"] == "metallb.io" and crd["spec"]["scope"] == "Namespaced"
        versions = {v["name"]: v for v in crd["spec"]["versions"]}
        if name == "bgppeers.metallb.io":
            assert set(versions) == {"v1beta1", "v1beta2"}
            assert versions["v1beta2"]["storage"] and not versions["v1beta1"]["storage"]
            assert versions["v1beta1"]["served"] and versions["v1beta1"]["deprecated"]
            assert crd["spec"]["conversion"]["strategy"] == "None"
        else:
            assert set(versions) == {"v1beta1"}
        for v in versions.values():
            assert v["subresources"] == {"status": {}}, name


def test_workloads(plane, deployed):
    # The guide's `kubectl wait ... --selector=app=metallb` and `kubectl logs
    # -l component=speaker` select these Pods (none runs here: no kubelet).
    dep = plane.kubectl_json("get", "deployment", "controller", "-n", NS)
    ds = plane.kubectl_json("get", "daemonset", "speaker", "-n", NS)
    for w, comp in ((dep, "controller"), (ds, "speaker")):
        assert w["spec"]["template"]["metadata"]["labels"] == {"app": "metallb", "component": comp}
        assert w["spec"]["template"]["spec"]["serviceAccountName"] == comp
        c = w["spec"]["template"]["spec"]["containers"][0]
        assert c["image"] == f"localhost/ironlb:{project_version()}"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert dep["spec"]["replicas"] == 1
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["args"] == ["controller", "--metrics-listen", ":7472"]
    assert "add" not in pod["containers"][0]["securityContext"]["capabilities"]

    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["hostNetwork"] is True
    assert c["args"] == ["speaker", "--node-name", "$(NODE_NAME)", "--metrics-listen", ":7473",
                         "--metrics-host", "$(METALLB_HOST)"]
    # the failure detector's port, as MetalLB declares its memberlist port
    ports = {(p["name"], p["containerPort"], p.get("protocol", "TCP")) for p in c["ports"]}
    assert {("memberlist-tcp", 7946, "TCP"), ("memberlist-udp", 7946, "UDP")} <= ports, ports
    assert c["env"][0] == {"name": "NODE_NAME", "valueFrom": {"fieldRef": {
        "apiVersion": "v1", "fieldPath": "spec.nodeName"}}}
    # the listener on the node's IP alone (the kubelet probes the Pod's IP,
    # which for hostNetwork is the node's)
    assert c["env"][1] == {"name": "METALLB_HOST", "valueFrom": {"fieldRef": {
        "apiVersion": "v1", "fieldPath": "status.hostIP"}}}
    assert "host" not in c["livenessProbe"]["httpGet"]
    assert "host" not in c["readinessProbe"]["httpGet"]
    assert sorted(c["securityContext"]["capabilities"]["add"]) == \
        ["NET_ADMIN", "NET_BIND_SERVICE", "NET_RAW"]
    tolerated = {t["key"] for t in pod["tolerations"]}
    assert {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"} <= tolerated

    names = plane.kubectl("get", "deployment,daemonset", "-n", NS, "-l", "app=metallb",
                          "-o", "name").stdout.split()
    assert sorted(names) == ["daemonset.apps/speaker", "deployment.apps/controller"]


# ---- examples ---------------------------------------------------------------------

@pytest.mark.parametrize("name", example_sets())
def test_example_set_applies(plane, deployed, clean_config, namespace, name):
    """The set's metallb.io objects to metallb-system, its Services (and
    Deployments) to a fresh namespace; only kinds of other projects
    (Prometheus operator) are left out."""
    config, workloads, skipped = [], [], set()
    for f in sorted((EXAMPLES / name).glob("*.yaml")):
        for av, kind, doc in split_docs(f.read_text()):
            if av.startswith("metallb.io/"):
                config.append((kind, re.search(r"(?m)^  name:\s*(\S+)", doc).group(1), doc))
            elif av in ("v1", "apps/v1"):
                # Into the fresh namespace: drop metadata.namespace ("default").
                workloads.append(re.sub(r"(?m)^  namespace:.*\n", "", doc))
            else:
                skipped.add(av.split("/")[0])
    assert config, name
    assert skipped <= {"monitoring.coreos.com"}, skipped

    rc, out, err = run(plane, "apply", "-n", NS, "-f", "-",
                       input="\n---\n".join(d for _, _, d in config))
    assert rc == 0, err
    for kind, oname, _ in config:
        assert f"{kind.lower()}.metallb.io/{oname} created" in out, (kind, oname, out)
    if workloads:
        rc, out, err = run(plane, "apply", "-n", namespace, "-f", "-",
                           input="\n---\n".join(workloads))
        assert rc == 0, err
        services = plane.kubectl_json("get", "services", "-n", namespace)["items"]
        assert services and all(s["spec"]["type"] == "LoadBalancer" for s in services)


def test_guide_invalid_pool_refused(plane, deployed, clean_config):
    f = EXAMPLES / "invalid" / "bad-ipv6-prefix" / "best-practices-pools.yaml"
    rc, out, err = run(plane, "apply", "-f", str(f))
    assert rc != 0
    assert ('spec.addresses[1]: Invalid value: "2001:db8:prod::/64": must be a CIDR '
            '(192.168.10.0/24, 2001:db8:1::/64) or a range first-last') in err, err
    assert "spec.addresses[0]" not in err  # 192.168.100.0/25 is fine
    assert run(plane, "get", "ipaddresspool", "production-pool", "-n", NS)[0] != 0


def test_guide_invalid_peer_addresses_refused(plane, deployed, clean_config):
    f = EXAMPLES / "invalid" / "multi-peer-addresses" / "multi-peer-bgp.yaml"
    rc, out, err = run(plane, "apply", "-f", str(f))
    assert rc != 0
    for bad in ("2001:db8:tor1::1", "2001:db8:tor2::1"):
        assert f'spec.peerAddress: Invalid value: "{bad}": must be an IPv4 or IPv6 address' \
            in err, err
    assert 'spec.sourceAddress: Invalid value: "2001:db8:tor1::10"' in err
    assert "tor1-ipv4 created" in out and "tor2-ipv4 created" in out


def test_guide_secret_reference_refused(plane, deployed, clean_config):
    """`passwordSecret.key` is no field: strict field validation (kubectl's
    default) refuses it."""
    f = EXAMPLES / "invalid" / "secret-reference" / "security-best-practices.yaml"
    peers = [d for av, kind, d in split_docs(f.read_text()) if kind == "BGPPeer"]
    rc, out, err = run(plane, "apply", "-f", "-", input=peers[0])
    assert rc != 0
    assert 'unknown field "spec.passwordSecret.key"' in err, err


@pytest.mark.parametrize("name", ["overlapping-pools", "unknown-pool"])
def test_cross_object_problems_pass_the_api_server(plane, deployed, clean_config, name):
    """Overlaps between pools and advertisements naming missing pools span
    objects: no schema sees them; ironlb reports them (ConfigurationState,
    events) and keeps the last valid configuration."""
    docs = []
    for f in sorted((EXAMPLES / "invalid" / name).glob("*.yaml")):
        docs += [d for av, _, d in split_docs(f.read_text()) if av.startswith("metallb.io/")]
    rc, out, err = run(plane, "apply", "-f", "-", input="\n---\n".join(docs))
    assert rc == 0, err


# ---- schema and CEL rules, one object each ------------------------------------------

SEL_IN_NO_VALUES = {"matchExpressions": [{"key": "zone", "operator": "In"}]}

INVALID = [
    # IPAddressPool
    ("pool-no-spec", obj("IPAddressPool", None), ["spec: Required value"]),
    ("pool-no-addresses", pool({"autoAssign": True}), ["spec.addresses: Required value"]),
    ("pool-empty-addresses", pool({"addresses": []}),
     ["spec.addresses", "should have at least 1 items"]),
    ("pool-bad-ipv6", pool({"addresses": ["2001:db8:prod::/64"]}),
     ['spec.addresses[0]: Invalid value: "2001:db8:prod::/64": must be a CIDR']),
    ("pool-prefix-too-long", pool({"addresses": ["10.0.0.0/33"]}),
     ['"10.0.0.0/33": must be a CIDR']),
    ("pool-leading-zero", pool({"addresses": ["010.0.0.0/8"]}), ['"010.0.0.0/8": must be a CIDR']),
    ("pool-single-address", pool({"addresses": ["192.168.1.1"]}),
     ["is a single address, not a CIDR or a range: write 192.168.1.1/32 or "
      "192.168.1.1-192.168.1.1"]),
    ("pool-leading-blank", pool({"addresses": [" 10.0.0.0/8"]}),
     ["must not have leading or trailing blanks"]),
    ("pool-two-dashes", pool({"addresses": ["10.0.0.1-10.0.0.2-10.0.0.3"]}),
     ["must be a CIDR"]),
    ("pool-range-families", pool({"addresses": ["10.0.0.1-2001:db8::1"]}),
     ["must be a range of one family"]),
    ("pool-range-reversed", pool({"addresses": ["10.0.0.9 - 10.0.0.1"]}),
     ['spec.addresses[0]: Invalid value: "10.0.0.9 - 10.0.0.1": must be a range whose first '
      'address is not after its last']),
    ("pool-autoassign-string", pool({"addresses": ["10.0.0.0/8"], "autoAssign": "yes"}),
     ["spec.autoAssign", "must be of type boolean"]),
    ("pool-unknown-field", pool({"addresses": ["10.0.0.0/8"], "autoassign": True}),
     ['unknown field "spec.autoassign"']),
    ("pool-bad-namespace", pool({"addresses": ["10.0.0.0/8"],
                                 "serviceAllocation": {"namespaces": ["Bad_NS"]}}),
     ["spec.serviceAllocation.namespaces[0]", "should match"]),
    ("pool-duplicate-namespace", pool({"addresses": ["10.0.0.0/8"],
                                       "serviceAllocation": {"namespaces": ["a", "a"]}}),
     ["spec.serviceAllocation.namespaces[1]: Duplicate value"]),
    ("pool-priority-not-int", pool({"addresses": ["10.0.0.0/8"],
                                    "serviceAllocation": {"priority": "high"}}),
     ["spec.serviceAllocation.priority", "must be of type integer"]),
    ("selector-in-without-values",
     pool({"addresses": ["10.0.0.0/8"], "serviceAllocation": {
         "namespaceSelectors": [SEL_IN_NO_VALUES]}}),
     ["spec.serviceAllocation.namespaceSelectors[0].matchExpressions[0]: Invalid value: "
      "operator In needs at least one value"]),
    ("selector-exists-with-values",
     pool({"addresses": ["10.0.0.0/8"], "serviceAllocation": {"serviceSelectors": [
         {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}]}}),
     ["operator Exists takes no values"]),
    ("selector-bad-operator",
     pool({"addresses": ["10.0.0.0/8"], "serviceAllocation": {"serviceSelectors": [
         {"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]}]}}),
     ["matchExpressions[0].operator: Unsupported value: \"in\""]),
    ("selector-bad-label-key",
     pool({"addresses": ["10.0.0.0/8"], "serviceAllocation": {"serviceSelectors": [
         {"matchLabels": {"a/b/c": "x"}}]}}),
     ['matchLabels: Invalid value: key "a/b/c" is not a label key']),
    ("selector-bad-label-value",
     pool({"addresses": ["10.0.0.0/8"], "serviceAllocation": {"serviceSelectors": [
         {"matchLabels": {"tier": "-front"}}]}}),
     ["matchLabels.tier", "should match"]),
    # L2Advertisement
    ("l2-bad-interface", obj("L2Advertisement", {"interfaces": ["eth0/1"]}),
     ['spec.interfaces[0]: Invalid value: "eth0/1": must be a Linux interface name']),
    ("l2-long-interface", obj("L2Advertisement", {"interfaces": ["averyverylongifname"]}),
     ["spec.interfaces[0]", "15"]),
    ("l2-duplicate-pool", obj("L2Advertisement", {"ipAddressPools": ["a", "a"]}),
     ['spec.ipAddressPools[1]: Duplicate value: "a"']),
    ("l2-weight-zero", obj("L2Advertisement", {"preferredNodeSelectors": [
        {"weight": 0, "preference": {}}]}),
     ["spec.preferredNodeSelectors[0].weight", "greater than or equal to 1"]),
    ("l2-preference-missing", obj("L2Advertisement", {"preferredNodeSelectors": [
        {"weight": 10}]}),
     ["spec.preferredNodeSelectors[0].preference: Required value"]),
    # BGPAdvertisement
    ("bgpadv-agg-33", obj("BGPAdvertisement", {"aggregationLength": 33}),
     ["spec.aggregationLength", "less than or equal to 32"]),
    ("bgpadv-agg-0", obj("BGPAdvertisement", {"aggregationLength": 0}),
     ["spec.aggregationLength", "greater than or equal to 1"]),
    ("bgpadv-agg6-129", obj("BGPAdvertisement", {"aggregationLengthV6": 129}),
     ["spec.aggregationLengthV6", "less than or equal to 128"]),
    ("bgpadv-localpref", obj("BGPAdvertisement", {"localPref": 4294967296}),
     ["spec.localPref", "less than or equal to 4294967295"]),
    ("bgpadv-community-16bit", obj("BGPAdvertisement", {"communities": ["65536:1"]}),
     ['spec.communities[0]: Invalid value: "65536:1": the parts of a standard community are '
      '16-bit']),
    ("bgpadv-community-32bit", obj("BGPAdvertisement", {"communities": ["large:1:2:4294967296"]}),
     ["the parts of a large community are 32-bit"]),
    ("bgpadv-community-syntax", obj("BGPAdvertisement", {"communities": ["1:2:3"]}),
     ['"1:2:3": must be a community A:B, a large community large:A:B:C']),
    ("bgpadv-selectors-with-aggregation",
     obj("BGPAdvertisement", {"aggregationLength": 24,
                              "serviceSelectors": [{"matchLabels": {"a": "b"}}]}),
     ["spec.serviceSelectors: Invalid value: serviceSelectors can only be used with the "
      "default aggregation lengths"]),
    # BGPPeer v1beta2
    ("peer-no-myasn", peer(peer_spec(myASN=None)), ["spec.myASN: Required value"]),
    ("peer-myasn-0", peer(peer_spec(myASN=0)), ["spec.myASN", "greater than or equal to 1"]),
    ("peer-asn-too-big", peer(peer_spec(peerASN=4294967296)),
     ["spec.peerASN", "less than or equal to 4294967295"]),
    ("peer-no-asn", peer(peer_spec(peerASN=None)),
     ["spec.peerASN: Required value: set peerASN (the peer's AS number, 1..4294967295) or "
      "dynamicASN"]),
    ("peer-asn-and-dynamic", peer(peer_spec(dynamicASN="external")),
     ["spec.dynamicASN: Invalid value: peerASN and dynamicASN cannot both be set"]),
    ("peer-dynamic-bad", peer(peer_spec(peerASN=None, dynamicASN="sometimes")),
     ['spec.dynamicASN: Unsupported value: "sometimes"']),
    ("peer-no-address", peer(peer_spec(peerAddress=None)),
     ["spec.peerAddress: Required value: set peerAddress (IPv4 or IPv6) or interface"]),
    ("peer-address-and-interface", peer(peer_spec(interface="eth1")),
     ["spec.interface: Invalid value: peerAddress and interface cannot both be set"]),
    ("peer-bad-interface", peer(peer_spec(peerAddress=None, interface="eth 1")),
     ['spec.interface: Invalid value: "eth 1": must be a Linux interface name']),
    ("peer-bad-address", peer(peer_spec(peerAddress="2001:db8:tor1::1")),
     ['spec.peerAddress: Invalid value: "2001:db8:tor1::1": must be an IPv4 or IPv6 address']),
    ("peer-source-family", peer(peer_spec(sourceAddress="2001:db8::10")),
     ["spec.sourceAddress: Invalid value: sourceAddress 2001:db8::10 is IPv6 but peerAddress "
      "10.0.0.1 is IPv4"]),
    ("peer-routerid-v6", peer(peer_spec(routerID="2001:db8::1")),
     ['spec.routerID: Invalid value: "2001:db8::1": must be an IPv4 address']),
    ("peer-port-0", peer(peer_spec(peerPort=0)), ["spec.peerPort", "greater than or equal to 1"]),
    ("peer-port-high", peer(peer_spec(peerPort=16385)),
     ["spec.peerPort", "less than or equal to 16384"]),
    ("peer-hold-2s", peer(peer_spec(holdTime="2s")),
     ['spec.holdTime: Invalid value: "2s": must be 0s, or 3s to 65535s']),
    ("peer-hold-too-long", peer(peer_spec(holdTime="70000s")), ["must be 0s, or 3s to 65535s"]),
    ("peer-hold-no-unit", peer(peer_spec(holdTime="90")),
     ['spec.holdTime: Invalid value: "90": must be a duration string']),
    ("peer-hold-integer", peer(peer_spec(holdTime=90)),
     ["spec.holdTime", "must be of type string"]),
    ("peer-hold-fraction", peer(peer_spec(holdTime="1.5s")),
     ["spec.holdTime", "must be a whole number of seconds"]),
    ("peer-hold-negative", peer(peer_spec(holdTime="-30s")),
     ['spec.holdTime: Invalid value: "-30s": must not be negative']),
    ("peer-keepalive-longer", peer(peer_spec(holdTime="30s", keepaliveTime="60s")),
     ["spec.keepaliveTime: Invalid value: keepaliveTime must not be longer than holdTime"]),
    ("peer-keepalive-alone", peer(peer_spec(keepaliveTime="30000s")),
     ["spec.keepaliveTime: Invalid value: keepaliveTime without holdTime can be at most 21845s"]),
    ("peer-connect-0", peer(peer_spec(connectTime="0s")),
     ['spec.connectTime: Invalid value: "0s": must be 1s to 65535s']),
    ("peer-connect-ms", peer(peer_spec(connectTime="1500ms")),
     ["spec.connectTime", "must be a whole number of seconds"]),
    ("peer-password-and-secret", peer(peer_spec(password="x", passwordSecret={"name": "s"})),
     ["spec.passwordSecret: Invalid value: password and passwordSecret cannot both be set"]),
    ("peer-secret-key", peer(peer_spec(passwordSecret={"name": "s", "key": "password"})),
     ['unknown field "spec.passwordSecret.key"']),
    ("peer-secret-no-name", peer(peer_spec(passwordSecret={"namespace": NS})),
     ["spec.passwordSecret.name: Required value: name is missing"]),
    ("peer-password-newline", peer(peer_spec(password="a\nb")),
     ["spec.password", "must not contain a line break"]),
    ("peer-multihop-ibgp", peer(peer_spec(peerASN=64500, ebgpMultiHop=True)),
     ["spec.ebgpMultiHop: Invalid value: ebgpMultiHop applies to eBGP sessions only, and this "
      "session is iBGP (peerASN equals myASN)"]),
    ("peer-multihop-localasn", peer(peer_spec(localASN=64501, ebgpMultiHop=True)),
     ["this session is iBGP (peerASN equals localASN)"]),
    ("peer-multihop-dynamic-internal",
     peer(peer_spec(peerASN=None, dynamicASN="internal", ebgpMultiHop=True)),
     ["this session is iBGP (dynamicASN is internal)"]),
    ("peer-bad-vrf", peer(peer_spec(vrf="red/blue")),
     ['spec.vrf: Invalid value: "red/blue": must be a Linux VRF device name']),
    # BGPPeer v1beta1: the fields of its version only; peerASN and peerAddress required
    ("peer-v1beta1-dynamic", peer(peer_spec(peerASN=None, dynamicASN="external"),
                                  version="v1beta1"),
     ['unknown field "spec.dynamicASN"']),
    ("peer-v1beta1-no-peerasn", peer(peer_spec(peerASN=None), version="v1beta1"),
     ["spec.peerASN: Required value"]),
    ("peer-v1beta1-multihop-ibgp", peer(peer_spec(peerASN=64500, ebgpMultiHop=True),
                                        version="v1beta1"),
     ["spec.ebgpMultiHop: Invalid value: ebgpMultiHop applies to eBGP sessions only"]),
    ("peer-v1beta1-hold", peer(peer_spec(holdTime="1s"), version="v1beta1"),
     ["must be 0s, or 3s to 65535s"]),
    # BFDProfile
    ("bfd-receive-9", obj("BFDProfile", {"receiveInterval": 9}),
     ["spec.receiveInterval", "greater than or equal to 10"]),
    ("bfd-transmit-60001", obj("BFDProfile", {"transmitInterval": 60001}),
     ["spec.transmitInterval", "less than or equal to 60000"]),
    ("bfd-multiplier-1", obj("BFDProfile", {"detectMultiplier": 1}),
     ["spec.detectMultiplier", "greater than or equal to 2"]),
    ("bfd-multiplier-256", obj("BFDProfile", {"detectMultiplier": 256}),
     ["spec.detectMultiplier", "less than or equal to 255"]),
    ("bfd-echo-9", obj("BFDProfile", {"echoInterval": 9}),
     ["spec.echoInterval", "greater than or equal to 10"]),
    ("bfd-ttl-0", obj("BFDProfile", {"minimumTtl": 0}),
     ["spec.minimumTtl", "greater than or equal to 1"]),
    ("bfd-ttl-255", obj("BFDProfile", {"minimumTtl": 255}),
     ["spec.minimumTtl", "less than or equal to 254"]),
    ("bfd-echo-string", obj("BFDProfile", {"echoMode": "on"}),
     ["spec.echoMode", "must be of type boolean"]),
    # Community
    ("community-name-colon", obj("Community", {"communities": [{"name": "a:b", "value": "1:2"}]}),
     ['spec.communities[0].name: Invalid value: "a:b": cannot be an alias name']),
    ("community-value-alias", obj("Community", {"communities": [{"name": "a", "value": "b"}]}),
     ['spec.communities[0].value: Invalid value: "b": must be a community A:B or a large']),
    ("community-value-16bit",
     obj("Community", {"communities": [{"name": "a", "value": "1:70000"}]}),
     ["the parts of a standard community are 16-bit"]),
    ("community-duplicate", obj("Community", {"communities": [{"name": "a", "value": "1:2"},
                                                               {"name": "a", "value": "1:3"}]}),
     ["spec.communities[1]: Duplicate value"]),
    ("community-no-value", obj("Community", {"communities": [{"name": "a"}]}),
     ["spec.communities[0].value: Required value"]),
]


@pytest.mark.parametrize("case,manifest,fragments", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_object_refused(plane, deployed, case, manifest, fragments):
    rc, out, err = run(plane, "apply", "--dry-run=server", "-f", "-", input=json.dumps(manifest))
    assert rc != 0, f"{case} was accepted: {out}"
    for frag in fragments:
        assert frag in err, f"{case}: {frag!r} not in:\n{err}"


VALID = [
    ("pool-host-bits", pool({"addresses": ["10.20.30.40/24"]})),
    ("pool-range-blanks", pool({"addresses": ["10.0.0.1 - 10.0.0.9", "10.0.1.5-10.0.1.5"]})),
    ("pool-ipv6-range", pool({"addresses": ["2001:db8:1::100-2001:db8:1::1ff", "fd00::/8"]})),
    ("pool-everything", pool({"addresses": ["192.168.1.0/24"], "autoAssign": False,
                              "avoidBuggyIPs": True, "serviceAllocation": {
                                  "priority": -5, "namespaces": ["a", "b-c"],
                                  "namespaceSelectors": [{"matchLabels": {
                                      "example.com/team": "", "tier": "front_end.1"}}],
                                  "serviceSelectors": [{"matchExpressions": [
                                      {"key": "app", "operator": "Exists"},
                                      {"key": "x", "operator": "NotIn", "values": ["y"]}]}]}})),
    ("l2-everything", obj("L2Advertisement", {
        "ipAddressPools": ["a"], "ipAddressPoolSelectors": [{}],
        "interfaces": ["eth0", "bond0.100"],
        "nodeSelectors": [{"matchLabels": {"kubernetes.io/hostname": "n1"}}],
        "serviceSelectors": [{}], "preferredNodeSelectors": [
            {"weight": 100, "preference": {"matchLabels": {"zone": "a"}}}]})),
    ("bgpadv-everything", obj("BGPAdvertisement", {
        "aggregationLength": 24, "aggregationLengthV6": 64, "localPref": 4294967295,
        "communities": ["65535:65281", "large:4294967295:0:1", "no-export-alias", "007:01"],
        "ipAddressPools": ["a"], "peers": ["p"], "nodeSelectors": [{}]})),
    ("bgpadv-selectors-default-lengths", obj("BGPAdvertisement", {
        "aggregationLength": 32, "serviceSelectors": [{"matchLabels": {"a": "b"}}]})),
    ("peer-dynamic-interface", peer({"myASN": 4294967295, "dynamicASN": "internal",
                                     "interface": "eth1", "connectTime": "1m", "vrf": "red",
                                     "enableGracefulRestart": True, "disableMP": True,
                                     "dualStackAddressFamily": True, "localASN": 0})),
    ("peer-timers", peer(peer_spec(holdTime="1m30s", keepaliveTime="30s", connectTime="65535s",
                                   sourceAddress="10.0.0.10", routerID="10.0.0.10",
                                   peerPort=1179, bfdProfile="b", ebgpMultiHop=True,
                                   password="secret", nodeSelectors=[{}]))),
    ("peer-hold-zero", peer(peer_spec(holdTime="0s"))),
    ("peer-keepalive-alone", peer(peer_spec(keepaliveTime="21845s"))),
    ("peer-secret", peer(peer_spec(passwordSecret={"name": "bgp", "namespace": NS},
                                   password=""))),
    ("peer-v1beta1", peer(peer_spec(peerPort=0, holdTime="90s", keepaliveTime="30s",
                                    routerID="1.2.3.4", ebgpMultiHop=True,
                                    nodeSelectors=[{"matchExpressions": [
                                        {"key": "a", "operator": "DoesNotExist"}]}]),
                          version="v1beta1")),
    ("bfd-limits", obj("BFDProfile", {"receiveInterval": 10, "transmitInterval": 60000,
                                      "detectMultiplier": 255, "echoInterval": 10,
                                      "echoMode": True, "passiveMode": False,
                                      "minimumTtl": 254})),
    ("community-aliases", obj("Community", {"communities": [
        {"name": "no-export", "value": "65535:65281"},
        {"name": "big", "value": "large:64500:1:2"}]})),
]


@pytest.mark.parametrize("case,manifest", VALID, ids=[c[0] for c in VALID])
def test_valid_object_accepted(plane, deployed, case, manifest):
    """What ironlb accepts, the schemas accept too."""
    rc, out, err = run(plane, "apply", "--dry-run=server", "-f", "-", input=json.dumps(manifest))
    assert rc == 0, f"{case}: {err}"


def test_enable_graceful_restart_is_immutable(plane, deployed, clean_config):
    p = peer(peer_spec(enableGracefulRestart=False), name="gr")
    plane.apply(p)
    p["spec"]["enableGracefulRestart"] = True
    rc, out, err = run(plane, "apply", "-f", "-", input=json.dumps(p))
    assert rc != 0
    assert "spec.enableGracefulRestart: Invalid value" in err and \
        "cannot be changed after creation" in err, err


# ---- printer columns ------------------------------------------------------------------

def test_printer_columns(plane, deployed, clean_config):
    plane.apply("\n---\n".join(json.dumps(o) for o in [
        pool({"addresses": ["192.168.100.0/24", "2001:db8:1::/64"]}, name="ipv4-pool"),
        peer(peer_spec(bfdProfile="fast", ebgpMultiHop=True), name="tor1"),
        obj("L2Advertisement", {"ipAddressPools": ["ipv4-pool"], "interfaces": ["eth0"]},
            name="l2"),
        obj("BGPAdvertisement", {"ipAddressPools": ["ipv4-pool"], "peers": ["tor1"]},
            name="bgp"),
        obj("BFDProfile", {"receiveInterval": 100, "transmitInterval": 200,
                           "detectMultiplier": 5, "passiveMode": True}, name="fast"),
    ]))

    def table(kind, *extra):
        lines = plane.kubectl("get", kind, "-n", NS, *extra).stdout.splitlines()
        return re.split(r"\s{2,}", lines[0].strip()), [re.split(r"\s{2,}", ln.strip())
                                                       for ln in lines[1:]]

    head, rows = table("ipaddresspools")
    assert head == ["NAME", "AUTO ASSIGN", "AVOID BUGGY IPS", "ADDRESSES"]
    assert rows == [["ipv4-pool", "true", "false", '["192.168.100.0/24","2001:db8:1::/64"]']]
    head, _ = table("ipaddresspools", "-o", "wide")
    assert head[-4:] == ["ASSIGNED IPV4", "AVAILABLE IPV4", "ASSIGNED IPV6", "AVAILABLE IPV6"]

    head, rows = table("bgppeers")
    assert head == ["NAME", "ADDRESS", "ASN", "BFD PROFILE", "MULTI HOPS"]
    assert rows == [["tor1", "10.0.0.1", "64501", "fast", "true"]]

    head, rows = table("l2advertisements")
    assert head == ["NAME", "IPADDRESSPOOLS", "IPADDRESSPOOL SELECTORS", "INTERFACES"]
    assert rows == [["l2", '["ipv4-pool"]', '["eth0"]']]
    head, _ = table("l2advertisements", "-o", "wide")
    assert head[-1] == "NODE SELECTORS"

    head, rows = table("bgpadvertisements")
    assert head == ["NAME", "IPADDRESSPOOLS", "IPADDRESSPOOL SELECTORS", "PEERS"]
    assert rows == [["bgp", '["ipv4-pool"]', '["tor1"]']]

    head, rows = table("bfdprofiles")
    assert head == ["NAME", "PASSIVE MODE", "TRANSMIT INTERVAL", "RECEIVE INTERVAL", "MULTIPLIER"]
    assert rows == [["fast", "true", "200", "100", "5"]]


# ---- status kinds ------------------------------------------------------------------------

def test_status_kinds(plane, deployed):
    """The objects ironlb writes: created, then their status written through
    the status subresource; ServiceL2Status's node is immutable."""
    cs = obj("ConfigurationState", None, name="controller",
             labels={"metallb.io/component-type": "controller"})
    plane.apply(cs)
    plane.kubectl("patch", "configurationstate", "controller", "-n", NS,
                  "--subresource=status", "--type=merge",
                  "-p", json.dumps({"status": {"result": "Invalid",
                                               "errorSummary": "pools overlap"}}))
    out = plane.kubectl("get", "configurationstates", "-n", NS).stdout
    assert re.search(r"(?m)^NAME\s+RESULT\s+ERRORSUMMARY\s+AGE$", out), out
    assert re.search(r"(?m)^controller\s+Invalid\s+pools overlap\s+\S+$", out), out
    rc, _, err = run(plane, "patch", "configurationstate", "controller", "-n", NS,
                     "--subresource=status", "--type=merge",
                     "-p", '{"status": {"result": "Broken"}}')
    assert rc != 0 and 'Unsupported value: "Broken"' in err

    plane.apply(obj("ServiceL2Status", {}, name="l2-web"))
    status = {"node": "node-1", "serviceName": "web", "serviceNamespace": "shop",
              "interfaces": [{"name": "eth0"}]}
    plane.kubectl("patch", "servicel2status", "l2-web", "-n", NS, "--subresource=status",
                  "--type=merge", "-p", json.dumps({"status": status}))
    out = plane.kubectl("get", "servicel2statuses", "-n", NS).stdout
    assert re.search(r"(?m)^l2-web\s+node-1\s+web\s+shop$", out), out
    rc, _, err = run(plane, "patch", "servicel2status", "l2-web", "-n", NS,
                     "--subresource=status", "--type=merge",
                     "-p", '{"status": {"node": "node-2"}}')
    assert rc != 0 and "Value is immutable" in err

    plane.apply(obj("ServiceBGPStatus", {}, name="bgp-web-node-1"))
    plane.kubectl("patch", "servicebgpstatus", "bgp-web-node-1", "-n", NS,
                  "--subresource=status", "--type=merge", "-p", json.dumps({"status": {
                      "node": "node-1", "serviceName": "web", "serviceNamespace": "shop",
                      "peers": ["tor1", "tor2"]}}))
    got = plane.kubectl_json("get", "servicebgpstatus", "bgp-web-node-1", "-n", NS)
    assert got["status"]["peers"] == ["tor1", "tor2"]
    plane.kubectl("delete", "configurationstates,servicel2statuses,servicebgpstatuses",
                  "--all", "-n", NS)


# ---- RBAC ------------------------------------------------------------------------------

# (who, verb, resource, namespace, allowed); resource "x/status" means the
# status subresource.  "other" is a fresh namespace.
CAN_I = [
    # controller: Services cluster-wide, their status and annotations
    ("controller", "list", "services", "other", True),
    ("controller", "watch", "services", "other", True),
    ("controller", "watch", "namespaces", None, True),
    ("controller", "update", "services/status", "other", True),
    ("controller", "patch", "services/status", "other", True),
    ("controller", "patch", "services", "other", True),
    ("controller", "create", "events", "other", True),
    ("controller", "create", "events.events.k8s.io", "other", True),
    ("controller", "list", "ipaddresspools.metallb.io", NS, True),
    ("controller", "watch", "bgppeers.metallb.io", NS, True),
    ("controller", "watch", "communities.metallb.io", NS, True),
    ("controller", "update", "ipaddresspools.metallb.io/status", NS, True),
    ("controller", "create", "configurationstates.metallb.io", NS, True),
    ("controller", "patch", "configurationstates.metallb.io/status", NS, True),
    ("controller", "create", "leases.coordination.k8s.io", NS, True),
    ("controller", "update", "leases.coordination.k8s.io", NS, True),
    # ... and nothing more
    ("controller", "update", "services", "other", False),
    ("controller", "delete", "services", "other", False),
    ("controller", "create", "services", "other", False),
    ("controller", "get", "secrets", NS, False),
    ("controller", "get", "secrets", "other", False),
    ("controller", "list", "nodes", None, False),
    ("controller", "list", "endpointslices.discovery.k8s.io", "other", False),
    ("controller", "update", "ipaddresspools.metallb.io", NS, False),
    ("controller", "create", "ipaddresspools.metallb.io", NS, False),
    ("controller", "list", "ipaddresspools.metallb.io", "other", False),
    ("controller", "create", "leases.coordination.k8s.io", "other", False),
    ("controller", "delete", "leases.coordination.k8s.io", NS, False),
    ("controller", "create", "servicel2statuses.metallb.io", NS, False),
    ("controller", "create", "customresourcedefinitions.apiextensions.k8s.io", None, False),
    ("controller", "list", "pods", NS, False),
    # speaker: Services, EndpointSlices, Nodes, Namespaces, Secrets of metallb-system
    ("speaker", "list", "services", "other", True),
    ("speaker", "watch", "endpointslices.discovery.k8s.io", "other", True),
    ("speaker", "watch", "nodes", None, True),
    ("speaker", "list", "namespaces", None, True),
    ("speaker", "watch", "secrets", NS, True),
    ("speaker", "get", "secrets", NS, True),
    ("speaker", "list", "bgppeers.metallb.io", NS, True),
    ("speaker", "watch", "bfdprofiles.metallb.io", NS, True),
    ("speaker", "create", "servicel2statuses.metallb.io", NS, True),
    ("speaker", "delete", "servicebgpstatuses.metallb.io", NS, True),
    ("speaker", "patch", "servicel2statuses.metallb.io/status", NS, True),
    ("speaker", "create", "configurationstates.metallb.io", NS, True),
    ("speaker", "create", "events", "other", True),
    ("speaker", "create", "events.events.k8s.io", "other", True),
    # ... and nothing more
    ("speaker", "update", "services/status", "other", False),
    ("speaker", "patch", "services/status", "other", False),
    ("speaker", "patch", "services", "other", False),
    ("speaker", "get", "secrets", "other", False),
    ("speaker", "list", "secrets", None, False),
    ("speaker", "update", "nodes", None, False),
    ("speaker", "patch", "nodes/status", None, False),
    ("speaker", "update", "ipaddresspools.metallb.io/status", NS, False),
    ("speaker", "create", "bgppeers.metallb.io", NS, False),
    ("speaker", "create", "servicel2statuses.metallb.io", "other", False),
    ("speaker", "get", "leases.coordination.k8s.io", NS, False),
    ("speaker", "list", "pods", NS, False),
    ("speaker", "create", "pods", NS, False),
]


def test_rbac_can_i(plane, deployed, namespace):
    wrong = []
    for who, verb, resource, ns, allowed in CAN_I:
        res, _, sub = resource.partition("/")
        args = ["auth", "can-i", verb, res, f"--as=system:serviceaccount:{NS}:{who}"]
        if sub:
            args.append(f"--subresource={sub}")
        args += ["-n", namespace if ns == "other" else ns] if ns else ["--all-namespaces"]
        rc, out, err = run(plane, *args)
        if out.strip() not in ("yes", "no"):
            raise AssertionError(f"kubectl {' '.join(args)}: {out}{err}")
        if (out.strip() == "yes") != allowed:
            wrong.append(f"{who} {verb} {resource} in {ns}: {out.strip()}")
    assert not wrong, "\n".join(wrong)


def test_rbac_tokens(plane, deployed, namespace, clean_config):
    """Real requests with the service accounts' tokens."""
    ctl = plane.service_account_kubeconfig("controller", NS)
    spk = plane.service_account_kubeconfig("speaker", NS)
    plane.apply({"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "web", "namespace": namespace},
                 "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                          "ports": [{"port": 80}]}})
    plane.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
                 "metadata": {"name": "bgp-auth", "namespace": NS},
                 "stringData": {"password": "s3cret"}})
    plane.apply({"apiVersion": "v1", "kind": "Secret",
                 "metadata": {"name": "elsewhere", "namespace": namespace},
                 "stringData": {"password": "x"}})
    plane.apply(pool({"addresses": ["192.168.100.0/24"]}, name="ipv4-pool"))
    status = json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": "192.168.100.0"}]}}})

    def ok(kubeconfig, *args, input=None):
        rc, out, err = run(plane, *args, input=input, kubeconfig=kubeconfig)
        assert rc == 0, f"{args}: {err}"
        return out

    def forbidden(kubeconfig, *args, input=None):
        rc, out, err = run(plane, *args, input=input, kubeconfig=kubeconfig)
        assert rc != 0 and "Forbidden" in err, f"{args}: {out}{err}"

    # controller
    ok(ctl, "get", "services", "-A")
    ok(ctl, "patch", "service", "web", "-n", namespace, "--subresource=status",
       "--type=merge", "-p", status)
    ok(ctl, "annotate", "service", "web", "-n", namespace,
       "metallb.io/ip-allocated-from-pool=ipv4-pool")
    ok(ctl, "get", "ipaddresspools", "-n", NS)
    ok(ctl, "patch", "ipaddresspool", "ipv4-pool", "-n", NS, "--subresource=status",
       "--type=merge", "-p", '{"status": {"assignedIPv4": 1, "availableIPv4": 255}}')
    ok(ctl, "create", "-f", "-", input=json.dumps({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "ironlb-controller", "namespace": NS},
        "spec": {"holderIdentity": "controller-0", "leaseDurationSeconds": 15}}))
    forbidden(ctl, "get", "secret", "bgp-auth", "-n", NS)
    forbidden(ctl, "get", "nodes")
    forbidden(ctl, "delete", "service", "web", "-n", namespace)
    forbidden(ctl, "create", "-f", "-", input=json.dumps({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "x", "namespace": namespace}, "spec": {}}))
    # speaker
    ok(spk, "get", "services,namespaces", "-A")
    ok(spk, "get", "endpointslices", "-A")
    ok(spk, "get", "nodes")
    ok(spk, "get", "secret", "bgp-auth", "-n", NS)
    ok(spk, "get", "bgppeers,bfdprofiles,communities,ipaddresspools", "-n", NS)
    ok(spk, "create", "-f", "-", input=json.dumps(obj("ServiceL2Status", {}, name="l2-web")))
    forbidden(spk, "get", "secret", "elsewhere", "-n", namespace)
    forbidden(spk, "patch", "service", "web", "-n", namespace, "--subresource=status",
              "--type=merge", "-p", status)
    forbidden(spk, "annotate", "service", "web", "-n", namespace, "x=y")
    forbidden(spk, "patch", "ipaddresspool", "ipv4-pool", "-n", NS, "--subresource=status",
              "--type=merge", "-p", '{"status": {"assignedIPv4": 2}}')
    plane.kubectl("delete", "servicel2statuses", "--all", "-n", NS)
    plane.kubectl("delete", "secret", "bgp-auth", "-n", NS)
    plane.kubectl("delete", "lease", "ironlb-controller", "-n", NS)


# ---- BGPPeer versions --------------------------------------------------------------------

def get_as(plane, version, name):
    return plane.kubectl_json("get", f"bgppeers.{version}.metallb.io", name, "-n", NS)


def test_bgppeer_v1beta1_reads_back_as_v1beta2(plane, deployed, clean_config):
    """Stored as v1beta2; every v1beta1 field is there, plus v1beta2's
    defaults; writing v1beta1 warns that it is deprecated."""
    spec = peer_spec(holdTime="90s", keepaliveTime="30s", sourceAddress="10.0.0.10",
                     routerID="10.0.0.10", password="pw", bfdProfile="bfd", ebgpMultiHop=True,
                     nodeSelectors=[{"matchLabels": {"bgp": "yes"}}])
    rc, out, err = run(plane, "apply", "-f", "-",
                       input=json.dumps(peer(spec, version="v1beta1", name="old")))
    assert rc == 0, err
    assert "metallb.io/v1beta1 BGPPeer is deprecated; use metallb.io/v1beta2" in err
    got = get_as(plane, "v1beta2", "old")
    assert got["apiVersion"] == "metallb.io/v1beta2"
    assert got["spec"] == {**spec, "peerPort": 179, "disableMP": False,
                           "dualStackAddressFamily": False}
    # kubectl's default version is the preferred one, v1beta2.
    assert plane.kubectl_json("get", "bgppeer", "old", "-n", NS)["apiVersion"] == \
        "metallb.io/v1beta2"


def test_bgppeer_v1beta2_reads_back_as_v1beta1(plane, deployed, clean_config):
    """Read as v1beta1, the v1beta2-only fields are pruned from the answer
    (the stored object keeps them); a v1beta1 client writing the object back
    removes them for good."""
    only_v2 = {"connectTime": "5s", "vrf": "red", "enableGracefulRestart": True,
               "dualStackAddressFamily": True, "localASN": 64499,
               "passwordSecret": {"name": "bgp-auth"}}
    plane.apply(peer(peer_spec(**only_v2), name="new"))
    v1 = get_as(plane, "v1beta1", "new")
    assert v1["apiVersion"] == "metallb.io/v1beta1"
    assert v1["spec"] == {**peer_spec(), "peerPort": 179}
    assert {k: v for k, v in get_as(plane, "v1beta2", "new")["spec"].items()
            if k in only_v2} == only_v2

    # A v1beta1 client's full update (kubectl replace) drops them.
    v1["metadata"] = {k: v1["metadata"][k] for k in ("name", "namespace", "resourceVersion")}
    v1["spec"]["holdTime"] = "60s"
    plane.kubectl("replace", "-f", "-", input=json.dumps(v1))
    after = get_as(plane, "v1beta2", "new")["spec"]
    assert after == {**peer_spec(), "holdTime": "60s", "peerPort": 179, "disableMP": False,
                     "dualStackAddressFamily": False}

    # A dynamicASN peer has no peerASN in v1beta1: the v1beta1 view lacks it.
    plane.apply(peer({"myASN": 64500, "dynamicASN": "external", "interface": "eth1"},
                     name="unnumbered"))
    assert get_as(plane, "v1beta1", "unnumbered")["spec"] == {"myASN": 64500, "peerPort": 179}
