"""Fixtures for tests that need a real Kubernetes API server.

The binaries come from tests/k8s/build.sh (a cache outside the repo).  With
IRONLB_K8S=1 a missing binary is built first (a cold build takes many
minutes) and a build failure is an error; without it, tests needing the
plane are skipped when the binaries have not been built.  The cluster tests
(speakers in network namespaces) need root and skip without it; when CI is
set they must run, so a run without root is refused, as in tests/e2e."""
import os
import pathlib
import re
import sys
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import controlplane as cpmod  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0 or not os.environ.get("CI"):
        return
    if any("tests/k8s" in str(it.fspath) for it in items):
        raise pytest.UsageError("the Kubernetes cluster tests need root (network namespaces); "
                                "under CI they must run, not skip")


def _built(find, what: str, how: str):
    """find(build=...) under IRONLB_K8S=1 (build what is missing; missing
    is a failure), else only what is already built (missing: skip)."""
    build = os.environ.get("IRONLB_K8S") == "1"
    try:
        return find(build=build)
    except cpmod.BinariesMissing as e:
        if build:
            pytest.fail(f"IRONLB_K8S=1 but {what} missing: {e}")
        pytest.skip(f"{what} not built (run {how}): {e}")


@pytest.fixture(scope="session")
def k8s_binaries():
    return _built(cpmod.find_binaries, "the Kubernetes binaries are", "tests/k8s/build.sh")


@pytest.fixture(scope="session")
def k8s_tools():
    """helm and promtool, built like the plane's binaries (build.sh tools)."""
    return _built(cpmod.find_tools, "helm and promtool are", "tests/k8s/build.sh tools")


@pytest.fixture(scope="module")
def plane(k8s_binaries):
    """One dual-stack control plane per test module; use `namespace`."""
    with cpmod.ControlPlane(k8s_binaries) as cp:
        yield cp


@pytest.fixture
def namespace(plane, request):
    """A fresh namespace per test (deleted namespaces stay Terminating here:
    no controller-manager, so names are never reused)."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    plane.create_namespace(name)
    return name
