"""ironlb's OCI image: scripts/build-image is reproducible, and the image
runs as deploy/ironlb.yaml runs it (tests/k8s/containers.py: podman and
runc in the place of a kubelet).

1. Two builds of the same commit into two directories give the same
   manifest digest and the same archive bytes.
2. The image: its default user is 65532, it holds /usr/local/bin/ironlb
   and ironlb-k8s and the list of the Debian packages its libraries come
   from, and `ironlb version` runs in it.
3. The guide's dual-stack Service (examples/dual-stack-l2/test-deployment.yaml)
   gets an IPv4 and an IPv6 address from the containerised controller, and
   the client reaches both through the containerised speaker of the node
   that owns them: ARP and NDP answered with that node's MAC, curl -4 and
   -6 answered by that node's HTTP server.  The speaker container runs with
   exactly the DaemonSet's three capabilities.

Needs root, podman, runc and the apt sources (build-image downloads the
libraries' .debs).  Without podman or runc the module is skipped, and
fails under CI=true; scripts/install-deps installs them.  Each build is a
Release cmake build of ironlb (2-4 minutes on two cores); everything the
tests start (containers, the podman storage under the test's directory,
namespaces) is removed at the end, also after a failure.
"""
import gzip
import hashlib
import io
import ipaddress
import json
import os
import tarfile

import pytest

import cluster as cl
import containers as ct

V4_POOL = ipaddress.ip_network("192.168.100.0/24")        # the guide's ipv4-pool
V6_POOL = ipaddress.ip_network("2001:db8:1::/64")         # the guide's ipv6-pool
SERVICE = "dual-stack-test-svc"


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the image tests need root (podman, network namespaces)")
    missing = ct.missing()
    if missing:
        msg = f"missing: {', '.join(missing)} (scripts/install-deps installs them)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    p = ct.Podman(tmp_path_factory.mktemp("podman"))
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def image(podman, tmp_path_factory):
    """The image built once and loaded into the test's podman storage."""
    return podman.build_image(tmp_path_factory.mktemp("image-a"))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_same_commit_same_digest(image, tmp_path_factory):
    again = ct.build_image(tmp_path_factory.mktemp("image-b"), ["--no-load"])
    assert again["digest"] == image["digest"], (image, again)
    assert sha256_file(again["archive"]) == sha256_file(image["archive"])


def test_image_contents(podman, image):
    ref = image["image"]
    assert ref.startswith("localhost/ironlb:")
    cfg = json.loads(podman("image", "inspect", ref).stdout)[0]
    assert cfg["Config"]["User"] == f"{ct.UNPRIVILEGED}:{ct.UNPRIVILEGED}", cfg["Config"]
    version = ref.split(":")[-1]
    p = podman.run_rm(ref, "version")
    assert p.stdout.strip() == f"ironlb {version}", p.stdout
    # The k8s executable is found next to ironlb and its libraries load.
    p = podman.run_rm(ref, "controller", "--help")
    assert "usage: ironlb controller" in p.stdout + p.stderr, p.stdout + p.stderr
    # The layer: both executables, the package list, each listed
    # package's copyright file, the unprivileged user.
    files = layer_files(image["archive"])
    for f in ("usr/local/bin/ironlb", "usr/local/bin/ironlb-k8s", "etc/passwd"):
        assert f in files, f
    pkgs = [line.split()[0] for line in files["usr/share/ironlb/packages"].decode().splitlines()
            if line and not line.startswith("#")]
    assert "libc6" in pkgs and "libgnutls30" in pkgs, pkgs
    assert not [p for p in pkgs if p.startswith(("libcurl", "libssl"))], pkgs
    for pkg in pkgs:
        assert f"usr/share/doc/{pkg}/copyright" in files, pkg
    assert f"ironlb:x:{ct.UNPRIVILEGED}:{ct.UNPRIVILEGED}:" in files["etc/passwd"].decode()


def layer_files(archive) -> dict:
    """{path: content (regular files) or None} of the image's one layer,
    read from the OCI archive as a runtime would."""
    with tarfile.open(archive) as t:
        def blob(digest):
            return t.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read()
        index = json.loads(t.extractfile("index.json").read())
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        assert len(manifest["layers"]) == 1, manifest
        layer = gzip.decompress(blob(manifest["layers"][0]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(layer)) as lt:
        return {m.name: (lt.extractfile(m).read() if m.isfile() else None)
                for m in lt.getmembers()}


@pytest.fixture(scope="module")
def cluster(plane, podman, image, tmp_path_factory):
    if cl.missing_tools():
        pytest.fail(f"missing tools: {', '.join(cl.missing_tools())} "
                    "(run scripts/install-deps)")
    yield from cl.started(ct.ContainerCluster(plane, tmp_path_factory.mktemp("cluster"),
                                              podman, image["image"]))


def cap_eff(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    raise AssertionError(f"no CapEff in /proc/{pid}/status")


def test_guide_service_through_containerised_controller_and_speaker(cluster):
    c = cluster
    # Both run from the image, as containers.
    assert c.controller.alive() and all(s.container.alive() for s in c.speakers.values())
    # CAP_NET_BIND_SERVICE 10, CAP_NET_ADMIN 12, CAP_NET_RAW 13
    want = (1 << 10) | (1 << 12) | (1 << 13)
    for n, s in c.speakers.items():
        assert cap_eff(s.container.pid()) == want, (n, hex(cap_eff(s.container.pid())))
    assert cap_eff(c.controller.container.pid()) == 0

    c.kubectl("apply", "-n", "default", "-f",
              str(cl.EXAMPLES / "dual-stack-l2" / "test-deployment.yaml"))
    ing = c.wait_ingress(SERVICE, n=2, timeout=60)
    v4, v6 = ing
    assert ipaddress.ip_address(v4) in V4_POOL and ipaddress.ip_address(v6) in V6_POOL, ing

    node = c.wait_l2_owner(SERVICE, timeout=30)
    assert node in c.nodes
    for ip in ing:
        c.wait_resolves_to(ip, node, timeout=20)
        code, body = c.client.curl(ip)
        assert (code, body.strip()) == (200, node), f"curl {ip}: {code} {body!r}\n{c.logs()}"
