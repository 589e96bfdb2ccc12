"""`ironlb-k8s controller` against a real kube-apiserver: the dual-stack L2
guide's pools and Services get addresses in ipFamilies order, the pool
annotation and an IPAllocated event; a restart keeps the addresses; a
deleted Service's address goes to the next new one; IPAddressPool status
figures; the ConfigurationState (Valid / Invalid with the diagnostics);
leader election on the ironlb-controller Lease (one writer, takeover after
the leader dies, release on a graceful stop); a Service that stops being a
LoadBalancer is cleared and its address reused, while Services of another
loadBalancerClass keep the status another implementation wrote (also across
a restart), unless the addresses are provably ours.  Every controller
stopped with SIGTERM must exit 0 without sanitizer reports (the suite runs
under ASan too: IRONLB_K8S_BIN=build-asan/ironlb-k8s).

The binary is found with $IRONLB_K8S_BIN, else next to $IRONLB_BIN, else
build/ or build-asan/ (controlplane.ironlb_k8s_bin)."""
import json
import os
import pathlib
import subprocess
import time
import urllib.request

import pytest

import controlplane as cpmod

ROOT = pathlib.Path(__file__).resolve().parents[2]
GUIDE = ROOT / "examples" / "dual-stack-l2"


def controller_bin():
    try:
        return cpmod.ironlb_k8s_bin()
    except FileNotFoundError as e:
        pytest.fail(str(e))


def guide_doc(filename, name, namespace):
    """One document of a guide file, by metadata.name, moved to namespace."""
    import yaml
    for doc in yaml.safe_load_all((GUIDE / filename).read_text()):
        if doc and doc.get("metadata", {}).get("name") == name:
            doc["metadata"]["namespace"] = namespace
            return doc
    raise AssertionError(f"{name} not in {filename}")


class Controller:
    def __init__(self, plane, tmp_path):
        self.plane = plane
        self.port = cpmod.free_port()
        self.log = tmp_path / f"controller-{self.port}.log"
        self.proc = None

    def start(self):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(
            [controller_bin(), "controller", "--kubeconfig", str(self.plane.kubeconfig),
             "--metrics-listen", f"127.0.0.1:{self.port}"],
            stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.check()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                            timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"controller not healthy:\n{self.output()}")

    def check(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"controller exited {self.proc.returncode}:\n{self.output()}")

    def output(self):
        return self.log.read_text() if self.log.exists() else ""

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self):
        """SIGTERM; the controller must exit 0 with nothing from a sanitizer
        (leaks, UBSan) in its output.  One the test killed is not checked."""
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = "timeout"
        if self.proc and not self.logf.closed:
            self.logf.close()
        if rc is not None:
            out = self.output()
            assert rc == 0, f"controller exited {rc} on SIGTERM:\n{out}"
            for bad in ("Sanitizer", "runtime error:"):
                assert bad not in out, f"{bad} in the controller's output:\n{out}"


@pytest.fixture
def controller(plane, tmp_path):
    made = []

    def start():
        c = Controller(plane, tmp_path).start()
        made.append(c)
        return c

    yield start
    for c in made:
        c.stop()


@pytest.fixture(scope="module")
def metallb(plane):
    plane.kubectl("apply", "-f", str(ROOT / "deploy" / "ironlb.yaml"))
    cpmod.wait_until(lambda: plane.kubectl("get", "ipaddresspools.metallb.io", "-A",
                                           check=False).returncode == 0,
                     timeout=30, what="metallb.io CRDs served")
    plane.kubectl("apply", "-f", str(GUIDE / "ipaddresspools.yaml"))
    return plane


def ingress(plane, ns, name):
    out = plane.kubectl("get", "svc", name, "-n", ns, "-o",
                        "jsonpath={.status.loadBalancer.ingress[*].ip}").stdout
    return out.split()


def wait_ingress(plane, ctl, ns, name, n=2, timeout=20):
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        ctl.check()
        got = ingress(plane, ns, name)
        if len(got) == n:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{ns}/{name}: ingress {got}, wanted {n} addresses\n"
                         f"{ctl.output()}")


def families(plane, ns, name):
    return plane.kubectl("get", "svc", name, "-n", ns, "-o",
                         "jsonpath={.spec.ipFamilies[*]}").stdout.split()


def is_v6(ip):
    return ":" in ip


def test_dual_stack_guide(metallb, namespace, controller):
    plane = metallb
    ctl = controller()
    plane.apply(guide_doc("test-deployment.yaml", "dual-stack-test-svc", namespace))
    plane.apply(guide_doc("ipv6-primary-service.yaml", "ipv6-primary-service", namespace))

    a = wait_ingress(plane, ctl, namespace, "dual-stack-test-svc")
    b = wait_ingress(plane, ctl, namespace, "ipv6-primary-service")
    assert families(plane, namespace, "dual-stack-test-svc") == ["IPv4", "IPv6"]
    assert [is_v6(x) for x in a] == [False, True], a
    assert families(plane, namespace, "ipv6-primary-service") == ["IPv6", "IPv4"]
    assert [is_v6(x) for x in b] == [True, False], b
    assert a[0].startswith("192.168.100.") and a[1].startswith("2001:db8:1:")
    assert len(set(a) | set(b)) == 4

    ann = plane.kubectl("get", "svc", "dual-stack-test-svc", "-n", namespace, "-o",
                        r"jsonpath={.metadata.annotations.metallb\.io/ip-allocated-from-pool}"
                        ).stdout
    assert sorted(ann.split(",")) == ["ipv4-pool", "ipv6-pool"], ann

    def allocated_event():
        evs = plane.kubectl_json("get", "events.v1.events.k8s.io", "-n", namespace)["items"]
        return [e for e in evs if e.get("reason") == "IPAllocated"
                and e["regarding"]["name"] == "dual-stack-test-svc"
                and e.get("reportingController") == "metallb-controller"]
    try:
        cpmod.wait_until(allocated_event, timeout=10, what="IPAllocated event")
    except cpmod.ControlPlaneError as e:
        raise AssertionError(f"{e}\n{ctl.output()}")
    ev = allocated_event()[0]
    assert ev["type"] == "Normal" and ev["regarding"]["kind"] == "Service"

    m = ctl.metrics()
    assert 'metallb_allocator_addresses_in_use_total{pool="ipv4-pool"} 2' in m, m

    # A restart adopts what the Services hold.
    ctl.stop()
    ctl = controller()
    time.sleep(1.0)
    assert ingress(plane, namespace, "dual-stack-test-svc") == a
    assert ingress(plane, namespace, "ipv6-primary-service") == b
    ctl.check()

    # A deleted Service's addresses go to the next new one (lowest free).
    plane.kubectl("delete", "svc", "dual-stack-test-svc", "-n", namespace)
    doc = guide_doc("test-deployment.yaml", "dual-stack-test-svc", namespace)
    doc["metadata"]["name"] = "next-svc"
    cpmod.wait_until(lambda: f'ipv4-pool"}} 1' in ctl.metrics(), timeout=10,
                     what="release of the deleted Service's addresses")
    plane.apply(doc)
    c = wait_ingress(plane, ctl, namespace, "next-svc")
    assert c == a, (c, a)


def jsonpath(plane, kind, name, ns, path):
    return plane.kubectl("get", kind, name, "-n", ns, "-o", f"jsonpath={path}",
                         check=False).stdout.strip()


def wait_for(cond, ctl, what, timeout=20):
    try:
        cpmod.wait_until(cond, timeout=timeout, what=what)
    except cpmod.ControlPlaneError as e:
        outs = ctl if isinstance(ctl, list) else [ctl]
        raise AssertionError(f"{e}\n" + "\n----\n".join(c.output() for c in outs))


def test_pool_status(metallb, namespace, controller):
    plane = metallb
    ctl = controller()
    plane.apply(guide_doc("test-deployment.yaml", "dual-stack-test-svc", namespace))
    plane.apply(guide_doc("ipv6-primary-service.yaml", "ipv6-primary-service", namespace))
    wait_ingress(plane, ctl, namespace, "dual-stack-test-svc")
    wait_ingress(plane, ctl, namespace, "ipv6-primary-service")

    def figures(pool):
        return [jsonpath(plane, "ipaddresspool", pool, "metallb-system",
                         "{.status.%s}" % f)
                for f in ("assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6")]

    # Other tests of this module may hold addresses too: count what the
    # Services hold.
    def in_use(v6):
        svcs = plane.kubectl_json("get", "svc", "-A")["items"]
        return len({i["ip"] for s in svcs
                    for i in s.get("status", {}).get("loadBalancer", {}).get("ingress", [])
                    if ("ip" in i) and (":" in i["ip"]) == v6})
    n4, n6 = in_use(False), in_use(True)
    assert n4 >= 2 and n6 >= 2
    # ipv4-pool is 192.168.100.0/24 (256 addresses); ipv6-pool a /64, whose
    # 2^64 addresses are capped at int64's maximum.
    wait_for(lambda: figures("ipv4-pool") == [str(n4), "0", str(256 - n4), "0"], ctl,
             f"ipv4-pool status {n4} in use (got {figures('ipv4-pool')})")
    wait_for(lambda: figures("ipv6-pool") == ["0", str(n6), "0", str(2**63 - 1)], ctl,
             f"ipv6-pool status {n6} in use (got {figures('ipv6-pool')})")
    out = plane.kubectl("get", "ipaddresspool", "ipv4-pool", "-n", "metallb-system", "-o",
                        "jsonpath={.status.assignedIPv4}").stdout
    assert out == str(n4)

    # A deleted Service's address is counted free again.
    plane.kubectl("delete", "svc", "ipv6-primary-service", "-n", namespace)
    wait_for(lambda: figures("ipv4-pool")[0] == str(n4 - 1), ctl, "ipv4-pool status after delete")
    ctl.check()


def config_state(plane):
    return (jsonpath(plane, "configurationstate", "controller", "metallb-system",
                     "{.status.result}"),
            jsonpath(plane, "configurationstate", "controller", "metallb-system",
                     "{.status.errorSummary}"))


def test_configuration_state(metallb, namespace, controller):
    plane = metallb
    ctl = controller()
    wait_for(lambda: config_state(plane) == ("Valid", ""), ctl, "ConfigurationState Valid")
    plane.apply(guide_doc("test-deployment.yaml", "dual-stack-test-svc", namespace))
    a = wait_ingress(plane, ctl, namespace, "dual-stack-test-svc")

    combined = ROOT / "examples" / "invalid" / "overlapping-pools" / "combined-pool.yaml"
    plane.kubectl("apply", "-f", str(combined))
    wait_for(lambda: config_state(plane)[0] == "Invalid", ctl, "ConfigurationState Invalid")
    result, summary = config_state(plane)
    assert "overlaps" in summary, summary
    assert "dual-stack-pool" in summary, summary
    time.sleep(1.0)
    assert ingress(plane, namespace, "dual-stack-test-svc") == a
    ctl.check()

    plane.kubectl("delete", "-f", str(combined))
    wait_for(lambda: config_state(plane) == ("Valid", ""), ctl, "ConfigurationState Valid again")
    assert ingress(plane, namespace, "dual-stack-test-svc") == a
    labels = plane.kubectl_json("get", "configurationstate", "controller", "-n",
                                "metallb-system")["metadata"].get("labels", {})
    assert labels.get("metallb.io/component-type") == "controller", labels


def lease_holder(plane):
    return jsonpath(plane, "lease", "ironlb-controller", "metallb-system",
                    "{.spec.holderIdentity}")


def test_leader_election(metallb, namespace, controller):
    plane = metallb
    c1 = controller()
    c2 = controller()
    ids = {f"{os.uname().nodename}_{c.proc.pid}": c for c in (c1, c2)}
    wait_for(lambda: lease_holder(plane) in ids, [c1, c2], "a Lease holder")
    leader = ids[lease_holder(plane)]
    follower = c2 if leader is c1 else c1

    plane.apply(guide_doc("test-deployment.yaml", "dual-stack-test-svc", namespace))
    a = wait_ingress(plane, leader, namespace, "dual-stack-test-svc")
    time.sleep(6)   # a renewal or more
    assert ids.get(lease_holder(plane)) is leader
    assert "updating service status" in leader.output()
    assert "updating service status" not in follower.output(), follower.output()
    assert "became leader" not in follower.output()
    assert ingress(plane, namespace, "dual-stack-test-svc") == a

    # The leader dies without giving the Lease up: the follower takes over
    # once the Lease has expired (15 s) and serves new Services.
    leader.proc.kill()
    leader.proc.wait()
    t0 = time.monotonic()
    fid = next(k for k, v in ids.items() if v is follower)
    wait_for(lambda: lease_holder(plane) == fid, follower, "takeover", timeout=25)
    assert time.monotonic() - t0 < 22
    doc = guide_doc("test-deployment.yaml", "dual-stack-test-svc", namespace)
    doc["metadata"]["name"] = "after-takeover"
    plane.apply(doc)
    b = wait_ingress(plane, follower, namespace, "after-takeover")
    assert not set(a) & set(b), (a, b)
    assert ingress(plane, namespace, "dual-stack-test-svc") == a
    follower.check()

    # A graceful stop gives the Lease up: a new controller leads at once.
    follower.stop()
    assert lease_holder(plane) == ""
    c3 = controller()
    wait_for(lambda: lease_holder(plane) == f"{os.uname().nodename}_{c3.proc.pid}", c3,
             "new leader after release", timeout=5)
    assert ingress(plane, namespace, "dual-stack-test-svc") == a
    assert ingress(plane, namespace, "after-takeover") == b


# ---------------------------------------------------------------------------
# Services that stop being ours

POOL_ANN = "metallb.io/ip-allocated-from-pool"


def lb_service(name, ns, pool=None, lb_class=None, annotations=None):
    """A single-stack IPv4 LoadBalancer Service (from pool when given)."""
    ann = dict(annotations or {})
    if pool:
        ann["metallb.io/address-pool"] = pool
    spec = {"type": "LoadBalancer", "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"],
            "selector": {"app": name}, "ports": [{"port": 80, "protocol": "TCP"}]}
    if lb_class:
        spec["loadBalancerClass"] = lb_class
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "annotations": ann}, "spec": spec}


def set_ingress(plane, ns, name, ips):
    """Write the status as another implementation would (with ports, which
    ironlb does not write, so that a status patch that rebuilt the entries
    would show)."""
    plane.kubectl("patch", "svc", name, "-n", ns, "--subresource=status", "--type=merge",
                  "-p", json.dumps({"status": {"loadBalancer": {"ingress": [
                      {"ip": ip, "ports": [{"port": 80, "protocol": "TCP"}]} for ip in ips]}}}))


def pool_annotation(plane, ns, name):
    return plane.kubectl_json("get", "svc", name, "-n", ns)["metadata"].get(
        "annotations", {}).get(POOL_ANN)


def our_events(plane, ns, name, reason=None):
    evs = plane.kubectl_json("get", "events.v1.events.k8s.io", "-n", ns)["items"]
    return [e for e in evs if e["regarding"]["name"] == name
            and e.get("reportingController") == "metallb-controller"
            and (reason is None or e.get("reason") == reason)]


def test_not_a_load_balancer_any_more(metallb, namespace, controller):
    plane = metallb
    # A pool of one address: the second Service gets it only if the first
    # one's address is released.
    pool = f"one-{namespace}"
    plane.apply({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                 "metadata": {"name": pool, "namespace": "metallb-system"},
                 "spec": {"addresses": ["198.51.100.7/32"], "autoAssign": False}})
    ctl = controller()
    try:
        plane.apply(lb_service("first", namespace, pool=pool))
        assert wait_ingress(plane, ctl, namespace, "first", n=1) == ["198.51.100.7"]
        wait_for(lambda: pool_annotation(plane, namespace, "first") == pool, ctl,
                 "pool annotation on first")
        plane.apply(lb_service("second", namespace, pool=pool))
        wait_for(lambda: our_events(plane, namespace, "second", "AllocationFailed"), ctl,
                 "AllocationFailed for second (the pool is full)")
        assert ingress(plane, namespace, "second") == []

        plane.kubectl("patch", "svc", "first", "-n", namespace, "--type=merge",
                      "-p", '{"spec":{"type":"ClusterIP"}}')
        wait_for(lambda: pool_annotation(plane, namespace, "first") is None, ctl,
                 "annotation removed from first")
        assert ingress(plane, namespace, "first") == []
        # The released address goes to the Service that waited for it.
        assert wait_ingress(plane, ctl, namespace, "second", n=1) == ["198.51.100.7"]
        wait_for(lambda: our_events(plane, namespace, "first", "ClearAssignment"), ctl,
                 "ClearAssignment event for first")
        ev = our_events(plane, namespace, "first", "ClearAssignment")[0]
        assert ev["type"] == "Normal", ev
        assert "198.51.100.7" in ev["note"] and "ClusterIP" in ev["note"], ev["note"]
        assert "clearing service" in ctl.output()

        # A restart changes nothing: first stays clear, second keeps it.
        ctl.stop()
        ctl = controller()
        plane.apply(lb_service("barrier", namespace))
        wait_ingress(plane, ctl, namespace, "barrier", n=1)
        time.sleep(0.5)
        assert ingress(plane, namespace, "second") == ["198.51.100.7"]
        assert ingress(plane, namespace, "first") == []
        assert pool_annotation(plane, namespace, "first") is None
        assert len(our_events(plane, namespace, "first", "ClearAssignment")) == 1
        ctl.check()
    finally:
        plane.kubectl("delete", "svc", "--all", "-n", namespace, "--wait=false")
        plane.kubectl("delete", "ipaddresspool", pool, "-n", "metallb-system")


def test_other_class_left_alone(metallb, namespace, controller):
    plane = metallb
    try:
        # Another implementation's Service, with the status it wrote.
        plane.apply(lb_service("theirs", namespace, lb_class="example.com/other"))
        set_ingress(plane, namespace, "theirs", ["203.0.113.10"])
        # One that went from us through ClusterIP to another class while no
        # controller ran: our annotation is left over, the other
        # implementation has written its status.  The annotation alone
        # proves nothing, since MetalLB instances of other classes write it
        # too.
        plane.apply(lb_service("moved", namespace, lb_class="example.com/other",
                               annotations={POOL_ANN: "ipv4-pool"}))
        set_ingress(plane, namespace, "moved", ["203.0.113.11"])
        before = {n: plane.kubectl_json("get", "svc", n, "-n", namespace)
                  for n in ("theirs", "moved")}

        for rnd in range(2):   # and again after a restart
            ctl = controller()
            # A Service of ours as a barrier: once it has its address, a pass
            # has seen the others too.
            plane.apply(lb_service(f"ours-{rnd}", namespace))
            wait_ingress(plane, ctl, namespace, f"ours-{rnd}", n=1)
            time.sleep(1.0)
            for n, old in before.items():
                now = plane.kubectl_json("get", "svc", n, "-n", namespace)
                assert now["status"] == old["status"], (n, now["status"], ctl.output())
                assert now["metadata"].get("annotations") == \
                    old["metadata"].get("annotations"), (n, ctl.output())
                assert now["metadata"]["resourceVersion"] == \
                    old["metadata"]["resourceVersion"], n
                assert our_events(plane, namespace, n) == [], n
            assert "clearing service" not in ctl.output()
            ctl.stop()
    finally:
        # Their ingress addresses would count in other tests' figures.
        plane.kubectl("delete", "svc", "--all", "-n", namespace, "--wait=false")


def test_stale_assignment_cleared_after_restart(metallb, namespace, controller):
    """What a controller finds when it starts (or becomes leader), holding no
    record: the annotation is the evidence, checked against the addresses."""
    plane = metallb
    try:
        # A ClusterIP Service with our annotation left over (it stopped being
        # a LoadBalancer while no controller ran; the API server emptied its
        # status): nobody can hold addresses for it, the annotation goes.
        left = lb_service("left", namespace, annotations={POOL_ANN: "ipv4-pool"})
        left["spec"]["type"] = "ClusterIP"
        plane.apply(left)
        # A Service of another class that holds an address of our pool and
        # our annotation (as after a restart with another --lb-class): ours,
        # so cleared; the other implementation's address beside it stays.
        plane.apply(lb_service("ours-before", namespace, lb_class="example.com/other",
                               annotations={POOL_ANN: "ipv4-pool"}))
        set_ingress(plane, namespace, "ours-before", ["192.168.100.200", "203.0.113.12"])

        ctl = controller()
        wait_for(lambda: pool_annotation(plane, namespace, "left") is None, ctl,
                 "annotation removed from left")
        wait_for(lambda: pool_annotation(plane, namespace, "ours-before") is None, ctl,
                 "annotation removed from ours-before")
        wait_for(lambda: ingress(plane, namespace, "ours-before") == ["203.0.113.12"], ctl,
                 "ours-before keeps only the other address")
        kept = plane.kubectl_json("get", "svc", "ours-before", "-n", namespace)
        assert kept["status"]["loadBalancer"]["ingress"][0]["ports"] == \
            [{"port": 80, "protocol": "TCP"}], kept["status"]
        for n in ("left", "ours-before"):
            wait_for(lambda: our_events(plane, namespace, n, "ClearAssignment"), ctl,
                     f"ClearAssignment event for {n}")
        note = our_events(plane, namespace, "ours-before", "ClearAssignment")[0]["note"]
        assert "192.168.100.200" in note and "example.com/other" in note, note
        assert "203.0.113.12" not in note, note
    finally:
        plane.kubectl("delete", "svc", "--all", "-n", namespace, "--wait=false")


def metric_value(ctl, name):
    for line in ctl.metrics().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the controller's /metrics")


def settled_passes(ctl, window=1.5, timeout=30):
    """The pass count (metallb_k8s_client_updates_total) once it has not
    changed for `window` seconds (three times the reconciler's maximum
    delay)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        ctl.check()
        n = metric_value(ctl, "metallb_k8s_client_updates_total")
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= window:
            return n
        time.sleep(0.1)
    raise AssertionError(f"passes never settled (last {last})\n{ctl.output()}")


def test_own_writes_cause_no_pass(metallb, namespace, controller):
    """The status and pool annotation the controller patches onto a Service,
    and the figures it writes into the IPAddressPools' status, come back
    through its watches: they are counted as its own writes and cause no
    pass.  A new Service is one pass, not one per patch of it."""
    plane = metallb
    ctl = controller()
    before = settled_passes(ctl)
    own_before = metric_value(ctl, "ironlb_reconcile_own_writes_total")
    plane.apply(guide_doc("test-deployment.yaml", "dual-stack-test-svc", namespace))
    wait_ingress(plane, ctl, namespace, "dual-stack-test-svc")
    wait_for(lambda: pool_annotation(plane, namespace, "dual-stack-test-svc"), ctl,
             "the pool annotation")
    # The ingress and the annotation came back, as did the pools' figures.
    wait_for(lambda: metric_value(ctl, "ironlb_reconcile_own_writes_total") >= own_before + 2,
             ctl, "the Service's patches seen as own writes")
    after = settled_passes(ctl)
    assert after == before + 1, (before, after, ctl.output())

    with urllib.request.urlopen(f"http://127.0.0.1:{ctl.port}/status", timeout=5) as r:
        st = json.load(r)
    rec = st["reconciler"]
    # The reconciler also counts the passes before the Lease was won, in
    # which a follower writes nothing.
    assert rec["synced"] and rec["passes"] >= after, rec
    assert rec["own_writes"] >= own_before + 2, rec
    assert rec["timing"]["max_delay"] == 0.5, rec

    # Someone else's write is a difference: it causes a pass, which puts
    # the controller's addresses back.
    want = ingress(plane, namespace, "dual-stack-test-svc")
    set_ingress(plane, namespace, "dual-stack-test-svc", ["192.0.2.99"])
    wait_for(lambda: ingress(plane, namespace, "dual-stack-test-svc") == want, ctl,
             f"the ingress written back to {want}")
    assert settled_passes(ctl) > after
    ctl.check()


def apiserver_patches(plane, subresource):
    """PATCH requests on Services the API server has counted (its own
    apiserver_request_total), of the status subresource ("status") or of
    the object itself ("")."""
    n = 0
    for line in plane.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if (line.startswith("apiserver_request_total{") and 'verb="PATCH"' in line
                and 'resource="services"' in line
                and f'subresource="{subresource}"' in line):
            n += float(line.rsplit(" ", 1)[1])
    return int(n)


def controller_status(ctl):
    with urllib.request.urlopen(f"http://127.0.0.1:{ctl.port}/status", timeout=5) as r:
        return json.load(r)


def test_incremental(metallb, namespace, controller):
    """With 200 Services in force, one more is a step, not a whole pass:
    only it is allocated and only its status (and pool annotation) is
    patched, in a pass far shorter than the whole one; a deleted Service's
    address goes to the next new one; a pool added (a configuration change)
    is a whole pass and serves a Service that asks for it."""
    plane = metallb
    pool = {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": {"name": "inc-pool", "namespace": "metallb-system"},
            "spec": {"addresses": ["10.77.0.0/23"], "autoAssign": False}}
    plane.apply(pool)

    def svc(name, pool_name="inc-pool"):
        return {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": namespace,
                             "annotations": {"metallb.io/address-pool": pool_name}},
                "spec": {"type": "LoadBalancer", "selector": {"app": name},
                         "ports": [{"port": 80, "protocol": "TCP"}]}}
    try:
        plane.apply({"apiVersion": "v1", "kind": "List",
                     "items": [svc(f"s{i:03d}") for i in range(200)]})
        ctl = controller()

        def with_address():
            items = plane.kubectl_json("get", "svc", "-n", namespace)["items"]
            return sum(1 for s in items
                       if s.get("status", {}).get("loadBalancer", {}).get("ingress"))
        wait_for(lambda: with_address() == 200, ctl, "200 Services with an address",
                 timeout=60)
        settled_passes(ctl)
        st0 = controller_status(ctl)
        whole0 = st0["config"]["whole_passes"]
        status0 = apiserver_patches(plane, "status")
        ann0 = apiserver_patches(plane, "")
        first_pass = metric_value(ctl, "ironlb_reconcile_longest_pass_seconds")

        plane.apply(svc("s200"))
        got = wait_ingress(plane, ctl, namespace, "s200", n=1)
        assert got[0].startswith("10.77."), got
        wait_for(lambda: pool_annotation(plane, namespace, "s200") == "inc-pool", ctl,
                 "the pool annotation of s200")
        settled_passes(ctl)
        assert controller_status(ctl)["config"]["whole_passes"] == whole0
        # Exactly one status patch and one annotation patch, both of s200.
        assert apiserver_patches(plane, "status") == status0 + 1
        assert apiserver_patches(plane, "") == ann0 + 1
        step = metric_value(ctl, "ironlb_reconcile_last_pass_seconds")
        # A whole pass over 200 Services takes about 200 times a step of
        # one (0.18 s and 0.8 ms under ASan); a tenth leaves room for a
        # loaded machine.
        assert step < first_pass / 10, (step, first_pass)

        # A deleted Service's address is free for the next one.
        freed = ingress(plane, namespace, "s100")
        plane.kubectl("delete", "svc", "s100", "-n", namespace)
        settled_passes(ctl)
        plane.apply(svc("s201"))
        assert wait_ingress(plane, ctl, namespace, "s201", n=1) == freed
        assert controller_status(ctl)["config"]["whole_passes"] == whole0

        # A pool added: a configuration change, one whole pass.
        pool2 = json.loads(json.dumps(pool))
        pool2["metadata"]["name"] = "inc-pool-2"
        pool2["spec"]["addresses"] = ["10.78.0.0/24"]
        plane.apply(pool2)
        wait_for(lambda: controller_status(ctl)["config"]["whole_passes"] > whole0, ctl,
                 "a whole pass for the new pool")
        plane.apply(svc("s202", "inc-pool-2"))
        assert wait_ingress(plane, ctl, namespace, "s202", n=1)[0].startswith("10.78.")
        assert len(set(ingress(plane, namespace, f"s{i:03d}")[0]
                       for i in (0, 1, 199, 200, 201))) == 5
        ctl.check()
    finally:
        plane.kubectl("delete", "svc", "--all", "-n", namespace, "--wait=false", check=False)
        plane.kubectl("delete", "ipaddresspool", "inc-pool", "inc-pool-2", "-n",
                      "metallb-system", "--ignore-not-found", check=False)


def test_lan_unsafe_address_event(metallb, namespace, controller):
    """A Service given a /24's .0 from a pool an L2Advertisement announces
    gets it (MetalLB's allocation) and a Warning UnsafeAddress Event beside
    IPAllocated; a pool outside metallb-system is not used."""
    plane = metallb
    pool = f"lan-{namespace}"[:63]
    plane.apply({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                 "metadata": {"name": pool, "namespace": "metallb-system"},
                 "spec": {"addresses": ["10.77.0.0/24"], "autoAssign": False}})
    plane.apply({"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
                 "metadata": {"name": pool, "namespace": "metallb-system"},
                 "spec": {"ipAddressPools": [pool]}})
    # The same kind in the Service's namespace: outside the configuration
    # namespace, so never used (MetalLB's webhook would refuse it).
    plane.apply({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                 "metadata": {"name": "elsewhere", "namespace": namespace},
                 "spec": {"addresses": ["10.78.0.0/24"]}})
    ctl = controller()
    try:
        wait_for(lambda: config_state(plane) == ("Valid", ""), ctl, "ConfigurationState Valid")
        plane.apply(lb_service("edge", namespace, pool=pool))
        assert wait_ingress(plane, ctl, namespace, "edge", n=1) == ["10.77.0.0"]
        wait_for(lambda: our_events(plane, namespace, "edge", "UnsafeAddress"), ctl,
                 "UnsafeAddress event for edge")
        ev = our_events(plane, namespace, "edge", "UnsafeAddress")[0]
        assert ev["type"] == "Warning", ev
        assert ev["note"].startswith("10.77.0.0 is the network address of its /24"), ev
        assert our_events(plane, namespace, "edge", "IPAllocated")

        plane.apply(lb_service("asks", namespace, annotations={
            "metallb.io/loadBalancerIPs": "10.78.0.5"}))
        wait_for(lambda: our_events(plane, namespace, "asks", "AllocationFailed"), ctl,
                 "AllocationFailed for asks (its address is in no pool of metallb-system)")
        assert "10.78.0.5 is in no IPAddressPool" in \
            our_events(plane, namespace, "asks", "AllocationFailed")[0]["note"]
        assert ingress(plane, namespace, "asks") == []
        ctl.check()
    finally:
        plane.kubectl("delete", "svc", "--all", "-n", namespace, "--wait=false")
        plane.kubectl("delete", "l2advertisement", pool, "-n", "metallb-system")
        plane.kubectl("delete", "ipaddresspool", pool, "-n", "metallb-system")
