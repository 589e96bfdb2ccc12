"""The test control plane is a real Kubernetes API server: kubectl works,
dual-stack Services get both ClusterIP families from the API server itself,
CRDs are served, service-account tokens authenticate and RBAC refuses what
they were not granted, and objects survive restarts (etcd persists)."""
import ipaddress
import json
import subprocess

import pytest

import controlplane as cpmod

V4_RANGE = ipaddress.ip_network("10.96.0.0/16")
V6_RANGE = ipaddress.ip_network("fd00:10:96::/112")

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.ironlb.test"},
    "spec": {
        "group": "ironlb.test",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                  "listKind": "WidgetList"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {"size": {"type": "integer", "minimum": 1},
                                   "color": {"type": "string"}},
                }},
            }},
        }],
    },
}


def service(name, namespace, policy=None, families=None, type_="ClusterIP", cluster_ips=None):
    spec = {"type": type_, "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    if policy:
        spec["ipFamilyPolicy"] = policy
    if families:
        spec["ipFamilies"] = families
    if cluster_ips:  # the API server wants clusterIP to agree with clusterIPs[0]
        spec["clusterIP"] = cluster_ips[0]
        spec["clusterIPs"] = cluster_ips
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def check_families(spec, families):
    assert spec["ipFamilies"] == families
    ips = [ipaddress.ip_address(a) for a in spec["clusterIPs"]]
    assert len(ips) == len(families)
    for ip, fam in zip(ips, families):
        assert ip in (V4_RANGE if fam == "IPv4" else V6_RANGE), (ip, fam)
    assert spec["clusterIP"] == spec["clusterIPs"][0]
    return ips


@pytest.fixture(scope="module")
def widget_crd(plane):
    plane.apply(CRD)
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                  "crd/widgets.ironlb.test")
    # Discovery of the new group can lag the Established condition.
    cpmod.wait_until(lambda: plane.kubectl("get", "widgets", "-A", check=False).returncode == 0,
                     60, "widgets served")
    return "widgets.ironlb.test"


# ---- basics -----------------------------------------------------------------

def test_kubectl_get_namespaces(plane):
    def names():
        items = plane.kubectl_json("get", "namespaces")["items"]
        return {i["metadata"]["name"] for i in items}
    want = {"default", "kube-system", "kube-public", "kube-node-lease"}
    cpmod.wait_until(lambda: want <= names(), 60, f"namespaces {want}")


def test_kubectl_matches_server_version(plane):
    v = json.loads(plane.kubectl("version", "-o", "json").stdout)
    assert v["clientVersion"]["gitVersion"] == v["serverVersion"]["gitVersion"]
    assert v["serverVersion"]["gitVersion"].startswith("v1.")


def test_admin_token_is_system_masters(plane):
    who = plane.kubectl_json("auth", "whoami")["status"]["userInfo"]
    assert who["username"] == cpmod.ADMIN_USER
    assert "system:masters" in who["groups"]


def test_kubernetes_service_gets_first_service_ip(plane):
    svc = plane.kubectl_json("get", "service", "kubernetes", "-n", "default")
    assert svc["spec"]["clusterIP"] == "10.96.0.1"


def test_service_cidrs_from_flags(plane):
    # MultiCIDRServiceAllocator (GA in 1.33): the flags become a ServiceCIDR.
    sc = plane.kubectl_json("get", "servicecidr", "kubernetes")
    assert sc["spec"]["cidrs"] == list(cpmod.SERVICE_CIDRS)


# ---- dual-stack Services ----------------------------------------------------

def test_require_dual_stack_gets_both_families(plane, namespace):
    plane.apply(service("web", namespace, policy="RequireDualStack"))
    spec = plane.kubectl_json("get", "service", "web", "-n", namespace)["spec"]
    ips = check_families(spec, ["IPv4", "IPv6"])
    assert [ip.version for ip in ips] == [4, 6]
    assert spec["ipFamilyPolicy"] == "RequireDualStack"


def test_require_dual_stack_ipv6_primary(plane, namespace):
    plane.apply(service("web6", namespace, policy="RequireDualStack",
                        families=["IPv6", "IPv4"]))
    spec = plane.kubectl_json("get", "service", "web6", "-n", namespace)["spec"]
    check_families(spec, ["IPv6", "IPv4"])


def test_prefer_dual_stack_gets_both_families(plane, namespace):
    plane.apply(service("pref", namespace, policy="PreferDualStack"))
    spec = plane.kubectl_json("get", "service", "pref", "-n", namespace)["spec"]
    check_families(spec, ["IPv4", "IPv6"])


def test_default_policy_is_single_stack_ipv4(plane, namespace):
    plane.apply(service("single", namespace))
    spec = plane.kubectl_json("get", "service", "single", "-n", namespace)["spec"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    check_families(spec, ["IPv4"])


def test_single_stack_ipv6_service(plane, namespace):
    plane.apply(service("only6", namespace, policy="SingleStack", families=["IPv6"]))
    spec = plane.kubectl_json("get", "service", "only6", "-n", namespace)["spec"]
    check_families(spec, ["IPv6"])


def test_requested_cluster_ips_are_honoured_and_checked(plane, namespace):
    plane.apply(service("fixed", namespace, policy="RequireDualStack",
                        cluster_ips=["10.96.200.10", "fd00:10:96::a10"]))
    spec = plane.kubectl_json("get", "service", "fixed", "-n", namespace)["spec"]
    assert spec["clusterIPs"] == ["10.96.200.10", "fd00:10:96::a10"]
    # The same IP twice, and an IP outside the service range, are refused.
    dup = plane.apply(service("dup", namespace, cluster_ips=["10.96.200.10"]), check=False)
    assert dup.returncode != 0 and "already allocated" in dup.stderr, dup.stderr
    out = plane.apply(service("out", namespace, cluster_ips=["10.97.0.5"]), check=False)
    assert out.returncode != 0 and "10.97.0.5" in out.stderr, out.stderr


def test_dual_stack_load_balancer_service_and_status(plane, namespace):
    """What ironlb consumes: a LoadBalancer Service gets ClusterIPs of both
    families and node ports; nothing fills status.loadBalancer until a load
    balancer (ironlb) writes it through the status subresource."""
    plane.apply(service("lb", namespace, policy="RequireDualStack", type_="LoadBalancer"))
    svc = plane.kubectl_json("get", "service", "lb", "-n", namespace)
    check_families(svc["spec"], ["IPv4", "IPv6"])
    assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    assert not svc["status"].get("loadBalancer", {}).get("ingress")
    status = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"},
                                                      {"ip": "2001:db8::10"}]}}}
    plane.kubectl("patch", "service", "lb", "-n", namespace, "--subresource=status",
                  "--type=merge", "-p", json.dumps(status))
    svc = plane.kubectl_json("get", "service", "lb", "-n", namespace)
    assert [i["ip"] for i in svc["status"]["loadBalancer"]["ingress"]] == \
        ["192.0.2.10", "2001:db8::10"]


def test_single_stack_plane_refuses_require_dual_stack(k8s_binaries):
    with cpmod.ControlPlane(k8s_binaries, service_cidrs=["10.96.0.0/16"]) as cp:
        cp.create_namespace("t")
        p = cp.apply(service("web", "t", policy="RequireDualStack"), check=False)
        assert p.returncode != 0
        assert "ipFamilyPolicy" in p.stderr and "dual-stack" in p.stderr, p.stderr
        # PreferDualStack falls back to the one family the plane has.
        cp.apply(service("pref", "t", policy="PreferDualStack"))
        check_families(cp.kubectl_json("get", "service", "pref", "-n", "t")["spec"], ["IPv4"])


# ---- CRDs -------------------------------------------------------------------

def test_crd_object_roundtrip(plane, namespace, widget_crd):
    obj = {"apiVersion": "ironlb.test/v1", "kind": "Widget",
           "metadata": {"name": "w1", "namespace": namespace},
           "spec": {"size": 3, "color": "blue"}}
    plane.apply(obj)
    got = plane.kubectl_json("get", "widget", "w1", "-n", namespace)
    assert got["spec"] == {"size": 3, "color": "blue"}
    # The schema is enforced by the API server.
    bad = dict(obj, metadata={"name": "w2", "namespace": namespace}, spec={"size": "big"})
    p = plane.apply(bad, check=False)
    assert p.returncode != 0 and "spec.size" in p.stderr, p.stderr
    p = plane.apply(dict(bad, spec={"color": "red"}), check=False)
    assert p.returncode != 0 and "spec.size" in p.stderr and "Required" in p.stderr, p.stderr


# ---- service accounts and RBAC ---------------------------------------------

def test_service_account_token_and_rbac(plane, namespace):
    plane.create_service_account("reader", namespace)
    kc = plane.service_account_kubeconfig("reader", namespace)
    who = plane.kubectl_json("auth", "whoami", kubeconfig=kc)["status"]["userInfo"]
    assert who["username"] == f"system:serviceaccount:{namespace}:reader"
    assert "system:serviceaccounts" in who["groups"]

    # Authenticated, but RBAC grants nothing yet.
    p = plane.kubectl("get", "services", "-n", namespace, kubeconfig=kc, check=False)
    assert p.returncode != 0 and "Forbidden" in p.stderr, p.stderr

    plane.kubectl("create", "role", "svc-reader", "-n", namespace,
                  "--verb=get,list,watch", "--resource=services")
    plane.kubectl("create", "rolebinding", "reader", "-n", namespace, "--role=svc-reader",
                  f"--serviceaccount={namespace}:reader")
    cpmod.wait_until(
        lambda: plane.kubectl("get", "services", "-n", namespace, kubeconfig=kc,
                              check=False).returncode == 0, 30, "RBAC grant")

    # Still refused: other resources, other verbs, other namespaces.
    for args in (["get", "secrets", "-n", namespace],
                 ["delete", "service", "x", "-n", namespace],
                 ["get", "services", "-n", "default"],
                 ["get", "nodes"]):
        p = plane.kubectl(*args, kubeconfig=kc, check=False)
        assert p.returncode != 0 and "Forbidden" in p.stderr, (args, p.stderr)
    can = plane.kubectl("auth", "can-i", "update", "services/status", "-n", namespace,
                        kubeconfig=kc, check=False)
    assert can.stdout.strip() == "no"


def test_bad_token_is_unauthorized(plane):
    kc = plane.write_kubeconfig("not-a-valid-token", "bad.kubeconfig")
    p = plane.kubectl("get", "namespaces", kubeconfig=kc, check=False)
    assert p.returncode != 0 and "Unauthorized" in p.stderr, p.stderr


def test_token_for_deleted_service_account_stops_working(plane, namespace):
    plane.create_service_account("gone", namespace)
    kc = plane.service_account_kubeconfig("gone", namespace)
    plane.kubectl("auth", "whoami", kubeconfig=kc)
    plane.kubectl("delete", "serviceaccount", "gone", "-n", namespace)
    cpmod.wait_until(
        lambda: "Unauthorized" in plane.kubectl("auth", "whoami", kubeconfig=kc,
                                                check=False).stderr,
        30, "token of the deleted ServiceAccount refused")


# ---- persistence ------------------------------------------------------------

def test_objects_survive_apiserver_and_etcd_restart(plane, namespace, widget_crd):
    plane.kubectl("create", "configmap", "keep", "-n", namespace, "--from-literal=k=v")
    plane.apply(service("keep", namespace, policy="RequireDualStack"))
    plane.apply({"apiVersion": "ironlb.test/v1", "kind": "Widget",
                 "metadata": {"name": "keep", "namespace": namespace}, "spec": {"size": 7}})
    plane.create_service_account("keeper", namespace)
    kc = plane.service_account_kubeconfig("keeper", namespace)
    before = plane.kubectl_json("get", "service", "keep", "-n", namespace)

    def check():
        cm = plane.kubectl_json("get", "configmap", "keep", "-n", namespace)
        assert cm["data"] == {"k": "v"}
        svc = plane.kubectl_json("get", "service", "keep", "-n", namespace)
        assert svc["metadata"]["uid"] == before["metadata"]["uid"]
        assert svc["spec"]["clusterIPs"] == before["spec"]["clusterIPs"]
        w = plane.kubectl_json("get", "widget", "keep", "-n", namespace)
        assert w["spec"] == {"size": 7}
        # The token issued before the restart still authenticates (same key).
        who = plane.kubectl_json("auth", "whoami", kubeconfig=kc)
        assert who["status"]["userInfo"]["username"].endswith(f":{namespace}:keeper")

    plane.restart_apiserver()
    check()
    plane.restart_etcd()
    check()
    # And the plane still allocates: the restarted allocator knows the old IPs.
    plane.apply(service("after", namespace, policy="RequireDualStack"))
    after = plane.kubectl_json("get", "service", "after", "-n", namespace)["spec"]
    assert not set(after["clusterIPs"]) & set(before["spec"]["clusterIPs"])


def test_stop_ends_processes_and_removes_dir(k8s_binaries):
    cp = cpmod.ControlPlane(k8s_binaries).start()
    d, procs = cp.dir, [cp._apiserver.popen, cp._etcd.popen]
    cp.stop()
    assert all(p.poll() is not None for p in procs)
    assert not d.exists()
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run(["kill", "-0", str(procs[0].pid)], check=True,
                       stderr=subprocess.DEVNULL)
