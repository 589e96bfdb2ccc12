"""deploy/ironlb.yaml on real kubelets (tests/k8s/nodes.py): two nodes of
the lab, each with containerd, runc, a kubelet and kube-proxy, and a
kube-scheduler and kube-controller-manager, all built from the plane's
module k8s.io/kubernetes v1.35.4.  The manifest is applied unchanged; its
controller Deployment and speaker DaemonSet run from the image of
scripts/build-image (the archive test_image.py built in this run, else
built here with --no-load; $IRONLB_IMAGE_ARCHIVE names one built before).

What a user checks, as the guide writes it:
- `kubectl get pods -n metallb-system`: the controller and one speaker per
  node Running and Ready (the kubelets' probes answered);
- the guide's dual-stack Service (examples/dual-stack-l2) gets an IPv4 and
  an IPv6 address from the containerised controller, whose only way to the
  API server is the `kubernetes` Service through kube-proxy;
- from the client: ARP and NDP for both addresses answered with the MAC of
  the node that the ServiceL2Status names, and curl -4 / -6 answered by a
  Pod of the guide's test Deployment (through kube-proxy on that node);
- `kubectl logs` of a speaker Pod (the API server reaching the kubelet).

Needs root, the node binaries (build.sh node), containerd, runc, the CNI
plugins, iptables, conntrack, nsenter, a C compiler and busybox-static
(scripts/install-deps); without one of them the module is skipped, and
fails under CI=true.  About 2 minutes warm; everything is torn down also
after a failure (nodes.NodeCluster.close).
"""
import ipaddress
import os
import shutil

import pytest

import cluster as cl
import containers as ct
import controlplane as cpmod
import nodes as nd

V4_POOL = ipaddress.ip_network("192.168.100.0/24")        # the guide's ipv4-pool
V6_POOL = ipaddress.ip_network("2001:db8:1::/64")         # the guide's ipv6-pool
SERVICE = "dual-stack-test-svc"
TEST_APP = "app=dual-stack-test"


def _skip_or_fail(msg):
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def node_binaries(k8s_binaries):
    build = os.environ.get("IRONLB_K8S") == "1"
    try:
        return nd.find_node_binaries(build=build)
    except cpmod.BinariesMissing as e:
        if build:
            pytest.fail(f"IRONLB_K8S=1 but the node binaries are missing: {e}")
        _skip_or_fail(f"the node binaries are not built (run tests/k8s/build.sh node): {e}")


@pytest.fixture(scope="module")
def image_archive(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the kubelet test needs root (network namespaces, containerd)")
    missing = nd.missing() + [t for t in ct.missing() if t not in ("podman", "conmon")]
    missing += cl.missing_tools()
    if missing:
        _skip_or_fail(f"missing: {', '.join(missing)} (scripts/install-deps installs them)")
    given = os.environ.get("IRONLB_IMAGE_ARCHIVE")   # build/ironlb-<version>.oci.tar
    if given:
        version = os.path.basename(given)[len("ironlb-"):-len(".oci.tar")]
        return {"archive": given, "image": f"localhost/ironlb:{version}"}
    built = ct.last_built
    if not (built.get("archive") and os.path.exists(built["archive"])):
        built = ct.build_image(tmp_path_factory.mktemp("image"), ["--no-load"])
    return built


@pytest.fixture(scope="module")
def nodes_cluster(k8s_binaries, node_binaries, image_archive, tmp_path_factory):
    sockdir = nd.short_dir()
    egress = nd.EgressProxy(sockdir / "egress.sock")
    plane = nd.NodePlane(k8s_binaries, cl.DEFAULT_NODES, egress.path)
    c = None
    try:
        plane.start()
        c = nd.NodeCluster(plane, tmp_path_factory.mktemp("nodes"), node_binaries, egress,
                           sockdir, image_archive["archive"], image_archive["image"])
        c.start()
        yield c
    finally:
        try:
            if c is not None:
                c.close()
        finally:
            egress.close()
            plane.stop()
            nd.umount_under(sockdir)
            shutil.rmtree(sockdir, ignore_errors=True)


def ready(pod) -> bool:
    return pod["status"].get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod["status"].get("conditions", []))


def test_guide_service_on_real_kubelets(nodes_cluster):
    c = nodes_cluster
    p = c.plane
    # The manifest as the README installs it, then the guide's pools.
    p.kubectl("apply", "-f", str(cl.DEPLOY))
    cpmod.wait_until(lambda: p.kubectl("get", "ipaddresspools.metallb.io", "-n", cl.NS,
                                       check=False).returncode == 0,
                     timeout=30, what="metallb.io CRDs served")

    def components_ready():
        c.check_alive()
        pods = c.pods()
        spk = [x for x in pods if x["metadata"]["labels"].get("component") == "speaker"]
        ctl = [x for x in pods if x["metadata"]["labels"].get("component") == "controller"]
        if (len(ctl) == 1 and len(spk) == len(c.node_names)
                and all(ready(x) for x in ctl + spk)):
            return ctl, spk
        return None
    ctl, spk = c.wait(components_ready, 240, "controller and speakers Running and Ready")
    assert {x["spec"]["nodeName"] for x in spk} == set(c.node_names)
    for s in spk:
        # The speaker's Pod IP is its node's: it runs on the node's network.
        assert s["status"]["podIP"] == c.node_v4(s["spec"]["nodeName"]), s["status"]
    assert not ctl[0]["spec"].get("hostNetwork"), "the controller is not on the host network"
    assert ipaddress.ip_address(ctl[0]["status"]["podIP"]) in ipaddress.ip_network(
        "10.244.0.0/16"), ctl[0]["status"]

    p.kubectl("apply", "-f", str(cl.EXAMPLES / "dual-stack-l2" / "ipaddresspools.yaml"))
    p.kubectl("apply", "-f", str(cl.EXAMPLES / "dual-stack-l2" / "l2-advertisements.yaml"))
    p.kubectl("apply", "-f", str(cl.EXAMPLES / "dual-stack-l2" / "test-deployment.yaml"))
    ing = c.wait_ingress(SERVICE, n=2, timeout=90)
    v4, v6 = ing
    assert ipaddress.ip_address(v4) in V4_POOL and ipaddress.ip_address(v6) in V6_POOL, ing

    def backends():
        c.check_alive()
        pods = c.pods("default", TEST_APP)
        return {x["metadata"]["name"] for x in pods if ready(x)} if (
            len(pods) == 2 and all(ready(x) for x in pods)) else None
    names = c.wait(backends, 120, "the test Deployment's two Pods Ready")

    node = c.wait_l2_owner(SERVICE, timeout=60)
    assert node in c.nodes
    for ip in ing:
        c.wait_resolves_to(ip, node, timeout=30)

        def answered():
            code, body = c.client.curl(ip)
            return body.strip() if code == 200 else None
        body = c.wait(answered, 30, f"curl {ip} answered")
        assert body in names, (body, names)

    # The guide's commands: the Pods' table, and the speakers' logs (the
    # API server reads them from the kubelets).
    table = p.kubectl("get", "pods", "-n", cl.NS, "-o", "wide").stdout.splitlines()
    assert len(table) == 1 + 1 + len(c.node_names), table
    for row in table[1:]:
        cols = row.split()
        assert cols[1:3] == ["1/1", "Running"], table
    spk_pod = next(x for x in spk if x["spec"]["nodeName"] == node)
    out = p.kubectl("logs", "-n", cl.NS, spk_pod["metadata"]["name"], "--tail=200").stdout
    assert "level=" in out and "msg=" in out, out[-2000:]
    # ... from the kubelet on the speaker's node, at the node's address.
    assert f"{c.node_v4(node)}:{nd.KUBELET_PORT}" in c.egress.dials, c.egress.dials
    out = p.kubectl("logs", "-n", cl.NS, "-l", "component=speaker", "--tail=20",
                    "--prefix").stdout
    for x in spk:
        assert f"pod/{x['metadata']['name']}/speaker] level=" in out, out[-2000:]
