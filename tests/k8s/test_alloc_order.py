"""`ironlb-k8s controller`: the allocation order rules against a real
kube-apiserver.

- A pool whose serviceAllocation selects a Service (here by namespace,
  without a priority) is preferred over the guide's ipv4-pool, which has no
  serviceAllocation and whose name sorts first.
- Of two Services that ask for one address and cannot share it, the one
  created first keeps it, also when both were created while no controller
  ran (its first pass sees them at once) and the other's name sorts first;
  the other gets an AllocationFailed event naming the winner, and the
  address when the winner goes."""
import datetime

import controlplane as cpmod
from test_controller import (controller, ingress, lb_service, metallb,  # noqa: F401
                             our_events, wait_for, wait_ingress)


def pool(name, addresses, **spec):
    return {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": {"name": name, "namespace": "metallb-system"},
            "spec": {"addresses": addresses, **spec}}


def asking(name, ns, ip):
    return lb_service(name, ns, annotations={"metallb.io/loadBalancerIPs": ip})


def created(plane, ns, name):
    ts = plane.kubectl_json("get", "svc", name, "-n", ns)["metadata"]["creationTimestamp"]
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


def test_selecting_pool_first(metallb, namespace, controller):  # noqa: F811
    plane = metallb
    pinned = f"zzz-pinned-{namespace}"
    plane.apply(pool(pinned, ["198.51.100.30/32"],
                     serviceAllocation={"namespaces": [namespace]}))
    ctl = controller()
    try:
        plane.apply(lb_service("web", namespace))
        assert wait_ingress(plane, ctl, namespace, "web", n=1) == ["198.51.100.30"]
        # The pinned pool is full: the general pool serves the next one.
        plane.apply(lb_service("api", namespace))
        got = wait_ingress(plane, ctl, namespace, "api", n=1)
        assert got[0].startswith("192.168.100."), got
    finally:
        plane.kubectl("delete", "svc", "--all", "-n", namespace, "--wait=false")
        plane.kubectl("delete", "ipaddresspool", pinned, "-n", "metallb-system")


def test_who_keeps_a_contested_address(metallb, namespace, controller):  # noqa: F811
    plane = metallb
    name = f"contest-{namespace}"
    ip = "198.51.100.40"
    plane.apply(pool(name, [f"{ip}/32"], autoAssign=False))
    try:
        # Both created while no controller runs, "zeta" a second before
        # "alpha" (creationTimestamp has seconds only).
        plane.apply(asking("zeta", namespace, ip))
        first = created(plane, namespace, "zeta")
        cpmod.wait_until(
            lambda: datetime.datetime.now(datetime.timezone.utc) >=
            first + datetime.timedelta(seconds=1, milliseconds=100),
            timeout=5, what="the next second")
        plane.apply(asking("alpha", namespace, ip))
        assert created(plane, namespace, "alpha") > first

        ctl = controller()
        assert wait_ingress(plane, ctl, namespace, "zeta", n=1) == [ip]
        wait_for(lambda: our_events(plane, namespace, "alpha", "AllocationFailed"), ctl,
                 "AllocationFailed for alpha")
        note = our_events(plane, namespace, "alpha", "AllocationFailed")[-1]["note"]
        assert f'"{namespace}/zeta" keeps it: asked first (older creationTimestamp)' in note, \
            note
        assert ingress(plane, namespace, "alpha") == []

        # A third asks later; when zeta goes, alpha (created before beta)
        # gets the address, and beta's event names alpha.
        plane.apply(asking("beta", namespace, ip))
        wait_for(lambda: our_events(plane, namespace, "beta", "AllocationFailed"), ctl,
                 "AllocationFailed for beta")
        plane.kubectl("delete", "svc", "zeta", "-n", namespace)
        assert wait_ingress(plane, ctl, namespace, "alpha", n=1) == [ip]
        wait_for(lambda: any(f'"{namespace}/alpha" keeps it' in e["note"] for e in
                             our_events(plane, namespace, "beta", "AllocationFailed")),
                 ctl, "beta's event naming alpha")

        # A restart keeps it with alpha.
        ctl.stop()
        ctl = controller()
        plane.apply(lb_service("barrier", namespace))
        wait_ingress(plane, ctl, namespace, "barrier", n=1)
        assert ingress(plane, namespace, "alpha") == [ip]
        assert ingress(plane, namespace, "beta") == []
        ctl.check()
    finally:
        plane.kubectl("delete", "svc", "--all", "-n", namespace, "--wait=false")
        plane.kubectl("delete", "ipaddresspool", name, "-n", "metallb-system")
