"""The guide's own commands against a cluster running ironlb.

"How to Configure MetalLB for Dual-Stack IPv4/IPv6 Networks" ends with
three lists of commands a MetalLB user runs: "Verification Commands",
"Troubleshooting" and "Diagnostic Commands Summary".  Each test here runs
one of them, as the guide writes it (through bash, with `kubectl` on PATH
and KUBECONFIG set), against the Kubernetes-mode lab of tests/k8s/cluster.py
(a real kube-apiserver, `ironlb-k8s controller`, a speaker per node in a
network namespace, a client and a BIRD router), after the guide's
configuration and its test Service (`dual-stack-test-svc`) are applied,
and asserts the answer a MetalLB user would get.

No kubelet runs here, so what needs one is done the nearest way, as
docs/operations.md ("The guide's commands") says:

- `kubectl get pods -l component=speaker`: no Pod ever runs; the test
  checks that the workloads of deploy/ironlb.yaml carry the labels the
  guide selects;
- `kubectl logs -n metallb-system -l component=speaker` (or
  `component=controller`): the speakers' and the controller's own log
  output (what the container would print), cut with `tail` as `--tail`
  would, then piped through the guide's `grep`;
- `kubectl exec <speaker-pod> -- ...`: the same command in the node's
  network namespace (the speaker runs with hostNetwork);
- the router's tables (`arp -a`, `ip -6 neigh`, `show ip route bgp`): the
  lab's client and BIRD.

Commands about the cluster's own network (kube-proxy's ConfigMap, a Pod's
`ip addr`, DNS) concern no part of ironlb and are not run.  Every wait
polls with a deadline; failures carry the speakers' and controller's log
tails.  Needs root (namespaces), arping, curl, tcpdump, jq, arp (net-tools)
and BIRD.
"""
import ipaddress
import json
import os
import pathlib
import re
import shutil
import subprocess
import threading

import pytest
import yaml

import cluster as cl

NS = cl.NS
SVC = "dual-stack-test-svc"                     # the guide's test Service
V4_POOL = ipaddress.ip_network("192.168.100.0/24")   # ipv4-pool
V6_POOL = ipaddress.ip_network("2001:db8:1::/64")    # ipv6-pool
LOGFMT = re.compile(r'^level=(debug|info|warn|error) ts=\S+Z msg=("([^"\\]|\\.)*"|\S+)( |$)')


def start(c):
    c.kubectl("apply", "-n", "default", "-f",
              str(cl.EXAMPLES / "dual-stack-l2" / "test-deployment.yaml"))
    c.wait_ingress(SVC, n=2)


@pytest.fixture(scope="module")
def cluster(plane, tmp_path_factory):
    for tool in ("tcpdump", "jq", "arp"):
        if os.geteuid() == 0 and not shutil.which(tool):
            pytest.fail(f"missing tool: {tool} (run scripts/install-deps)")
    yield from cl.cluster_fixture(plane, tmp_path_factory.mktemp("guide"), members=True,
                                  start=start)


@pytest.fixture
def c(cluster):
    yield from cl.checked_alive(cluster)


# ---------------------------------------------------------------------------
# helpers


def sh(c, command, ok_codes=(0,)):
    """Run a command line as the guide writes it (bash, pipefail off as in
    an interactive shell): kubectl is the plane's, KUBECONFIG its admin's.
    Returns stdout."""
    env = dict(os.environ, KUBECONFIG=str(c.plane.kubeconfig),
               PATH=f"{pathlib.Path(c.plane.bin.kubectl).parent}:{os.environ['PATH']}")
    p = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode in ok_codes, f"{command}: exit {p.returncode}\n{p.stdout}{p.stderr}"
    return p.stdout


def table(text):
    """kubectl's table output: (header, rows), cells split on 2+ blanks."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    cells = [re.split(r"\s{2,}", ln.strip()) for ln in lines]
    return cells[0], cells[1:]


def ingress(c):
    return c.wait_ingress(SVC, n=2)


def owner(c):
    """The node announcing the guide's Service over Layer 2 (its one
    ServiceL2Status)."""
    def one():
        st = c.l2_statuses(SVC)
        return st[0]["status"]["node"] if len(st) == 1 else None
    return c.wait(one, 20, f"one ServiceL2Status for default/{SVC}")


def speaker_logs(c, tail=None, nodes=None):
    """What `kubectl logs -n metallb-system -l component=speaker [--tail=N]`
    prints: each speaker's last N lines, one speaker after the other."""
    out = []
    for n in nodes or c.speakers:
        lines = c.speakers[n].output().splitlines()
        out += lines[-tail:] if tail else lines
    return "\n".join(out) + "\n"


def controller_logs(c, tail=None):
    lines = c.controller.output().splitlines()
    return "\n".join(lines[-tail:] if tail else lines) + "\n"


def grep(text, pattern):
    """The guide's `| grep -i PATTERN` on text: the matching lines."""
    return [ln for ln in text.splitlines() if pattern.lower() in ln.lower()]


def wait_pools_status(c):
    """ipv4-pool and ipv6-pool as `kubectl get ipaddresspools -o yaml`
    shows them, once the controller has counted the guide's Service in
    their status."""
    def counted():
        doc = yaml.safe_load(sh(c, "kubectl get ipaddresspools -n metallb-system -o yaml"))
        pools = {p["metadata"]["name"]: p for p in doc["items"]}
        st4 = pools.get("ipv4-pool", {}).get("status", {})
        st6 = pools.get("ipv6-pool", {}).get("status", {})
        return pools if st4.get("assignedIPv4", 0) >= 1 and st6.get("assignedIPv6", 0) >= 1 \
            else None
    return c.wait(counted, 20, "ipv4-pool and ipv6-pool status counting the Service")


# ---------------------------------------------------------------------------
# Verification Commands


def test_get_pods_selects_the_workloads(c):
    # `kubectl get pods -n metallb-system` answers (no Pod runs without a
    # kubelet); the Pods it would list are those of deploy/ironlb.yaml's
    # workloads, labelled as MetalLB's manifests label theirs.
    sh(c, "kubectl get pods -n metallb-system")
    sh(c, "kubectl get pods -n metallb-system -o wide")
    for comp, kind in (("speaker", "daemonset"), ("controller", "deployment")):
        names = sh(c, f"kubectl get daemonsets,deployments -n metallb-system "
                      f"-l component={comp} -o name").split()
        assert names == [f"{kind}.apps/{comp}"], names
        w = c.plane.kubectl_json("get", kind, comp, "-n", NS)
        labels = w["spec"]["template"]["metadata"]["labels"]
        assert labels.get("component") == comp and labels.get("app") == "metallb", labels
        assert w["spec"]["selector"]["matchLabels"] == {"app": "metallb", "component": comp}


def test_get_ipaddresspools_yaml_shows_available_addresses(c):
    ingress(c)
    pools = wait_pools_status(c)
    v4, v6 = pools["ipv4-pool"], pools["ipv6-pool"]
    assert v4["spec"]["addresses"] == ["192.168.100.0/24"]
    assert v6["spec"]["addresses"] == ["2001:db8:1::/64"]
    s4, s6 = v4["status"], v6["status"]
    assert s4["availableIPv4"] > 0 and s4["assignedIPv4"] + s4["availableIPv4"] == 256, s4
    assert s4["assignedIPv6"] == s4["availableIPv6"] == 0, s4
    assert s6["availableIPv6"] > 0 and s6["assignedIPv4"] == s6["availableIPv4"] == 0, s6
    # Troubleshooting, "IPv6 Address Not Assigned": the one pool.
    one = yaml.safe_load(sh(c, "kubectl get ipaddresspool ipv6-pool -n metallb-system -o yaml"))
    assert one["metadata"]["name"] == "ipv6-pool" and one["status"]["availableIPv6"] > 0, one


def test_get_ipaddresspools_table(c):
    head, rows = table(sh(c, "kubectl get ipaddresspools -n metallb-system"))
    assert head == ["NAME", "AUTO ASSIGN", "AVOID BUGGY IPS", "ADDRESSES"]
    rows = {r[0]: r for r in rows}
    assert rows["ipv4-pool"] == ["ipv4-pool", "true", "false", '["192.168.100.0/24"]']
    assert rows["ipv6-pool"] == ["ipv6-pool", "true", "false", '["2001:db8:1::/64"]']


def test_get_bgppeers_and_their_sessions(c):
    head, rows = table(sh(c, "kubectl get bgppeers -n metallb-system"))
    assert head == ["NAME", "ADDRESS", "ASN", "BFD PROFILE", "MULTI HOPS"]
    assert sorted(rows) == [["router-ipv4", "192.168.1.1", "64501"],
                            ["router-ipv6", "2001:db8::1", "64501"]]
    # "Established state indicates successful peering": MetalLB's BGPPeer
    # has no state column; the session state is a BGPSessionState per node
    # and peer (frr-k8s's kind, as MetalLB's FRR-K8s mode shows it).
    want = {(n, a) for n in c.nodes for a in (cl.ROUTER4, cl.ROUTER6)}

    def established():
        head, rows = table(sh(c, "kubectl get bgpsessionstates -n metallb-system"))
        assert head[:6] == ["NAME", "NODE", "PEER", "VRF", "BGP", "BFD"], head
        up = {(r[1], r[2]) for r in rows if "Established" in r}
        return up if up >= want else None
    c.wait(established, 30,
           "every node's session with the router Established")


def test_get_bgppeers_custom_columns(c):
    out = sh(c, "kubectl get bgppeers -n metallb-system -o custom-columns="
                "NAME:.metadata.name,PEER:.spec.peerAddress,ASN:.spec.peerASN")
    assert [ln.split() for ln in out.splitlines()] == [
        ["NAME", "PEER", "ASN"], ["router-ipv4", "192.168.1.1", "64501"],
        ["router-ipv6", "2001:db8::1", "64501"]]


def test_get_bgppeers_yaml(c):
    doc = yaml.safe_load(sh(c, "kubectl get bgppeers -n metallb-system -o yaml"))
    specs = {p["metadata"]["name"]: (p["apiVersion"], p["spec"]) for p in doc["items"]}
    # the guide's fields, and the defaults MetalLB's schema fills in
    defaults = {"peerPort": 179, "disableMP": False, "dualStackAddressFamily": False}
    assert specs == {
        "router-ipv4": ("metallb.io/v1beta2", {"myASN": 64500, "peerASN": 64501,
                                               "peerAddress": "192.168.1.1", **defaults}),
        "router-ipv6": ("metallb.io/v1beta2", {"myASN": 64500, "peerASN": 64501,
                                               "peerAddress": "2001:db8::1", **defaults})}


def test_get_l2advertisements(c):
    head, rows = table(sh(c, "kubectl get l2advertisements -n metallb-system"))
    assert head == ["NAME", "IPADDRESSPOOLS", "IPADDRESSPOOL SELECTORS", "INTERFACES"]
    assert ["dual-stack-l2", '["ipv4-pool","ipv6-pool"]'] in rows, rows


def test_get_bgpadvertisements(c):
    head, rows = table(sh(c, "kubectl get bgpadvertisements -n metallb-system"))
    assert head == ["NAME", "IPADDRESSPOOLS", "IPADDRESSPOOL SELECTORS", "PEERS"]
    assert rows == [["dual-stack-bgp-advertisement", '["ipv4-pool","ipv6-pool"]',
                     '["router-ipv4","router-ipv6"]']], rows


# ---------------------------------------------------------------------------
# the validation script


def test_validation_script_addresses_and_connectivity(c):
    ingress(c)
    ips = sh(c, f"kubectl get svc {SVC} -o jsonpath='{{.status.loadBalancer.ingress[*].ip}}' "
                "| tr ' ' '\\n'").split()
    ip4 = sh(c, f"kubectl get svc {SVC} -o jsonpath='{{.status.loadBalancer.ingress[0].ip}}'")
    ip6 = sh(c, f"kubectl get svc {SVC} -o jsonpath='{{.status.loadBalancer.ingress[1].ip}}'")
    assert ips == [ip4, ip6]
    assert ipaddress.ip_address(ip4) in V4_POOL and ipaddress.ip_address(ip6) in V6_POOL
    node = owner(c)
    for ip in (ip4, ip6):     # curl -4 / curl -6 from the client: 200
        c.wait(lambda ip=ip: c.client.curl(ip)[0] == 200, 10, f"curl {ip} answers 200")
        assert c.client.curl(ip)[1].strip() == node


def test_speaker_logs_have_no_errors(c):
    # kubectl logs -n metallb-system -l component=speaker --tail=20 | grep -i error
    #   || echo "   No errors found"
    ingress(c)
    owner(c)
    found = grep(speaker_logs(c, tail=20), "error")
    assert found == [], "\n".join(found)
    # and nothing at level error in the whole log of a healthy lab
    errors = [ln for ln in speaker_logs(c).splitlines() if ln.startswith("level=error")]
    assert errors == [], "\n".join(errors)


# ---------------------------------------------------------------------------
# Troubleshooting


def test_svc_yaml_ip_families(c):
    out = sh(c, f"kubectl get svc {SVC} -o yaml | grep -A5 ipFamil")
    assert re.search(r"ipFamilies:\n\s*- IPv4\n\s*- IPv6\n\s*ipFamilyPolicy: RequireDualStack",
                     out), out


def test_controller_logs_name_ipv6(c):
    # kubectl logs -n metallb-system -l component=controller | grep -i ipv6
    ip4, ip6 = ingress(c)
    lines = grep(controller_logs(c), "ipv6")
    assert any(f"service=default/{SVC}" in ln and "reason=IPAllocated" in ln
               and "families=ipv4,ipv6" in ln and ip6 in ln for ln in lines), \
        "\n".join(lines) or controller_logs(c, 40)
    # an IPv6 allocation problem is one of the lines the grep finds
    bad = cl.service("v6-outside", families=("IPv6",),
                     annotations={"metallb.io/loadBalancerIPs": "2001:db8:99::1"})
    c.plane.apply(bad)
    try:
        def failed():
            return [ln for ln in grep(controller_logs(c), "ipv6")
                    if "service=default/v6-outside" in ln and "AllocationFailed" in ln]
        got = c.wait(failed, 20, "an AllocationFailed line for v6-outside")
        assert got[0].startswith("level=warn ") and "2001:db8:99::1" in got[0], got
    finally:
        c.kubectl("delete", "svc", "v6-outside", "-n", "default", "--wait=false")


def test_nodes_addresses_dual_stack(c):
    out = sh(c, "kubectl get nodes -o jsonpath='{.items[0].status.addresses}' | jq .")
    addrs = {(a["type"], a["address"]) for a in json.loads(out)}
    n = sorted(c.nodes)[0]
    assert {("InternalIP", c.node_v4(n)), ("InternalIP", c.node_v6(n))} <= addrs, addrs


def test_speaker_reaches_the_ipv6_peer(c):
    # kubectl exec -n metallb-system <speaker-pod> -- ping6 -c 3 2001:db8::1
    # kubectl exec -n metallb-system <speaker-pod> -- nc -zv6 2001:db8::1 179
    # (the speaker runs with hostNetwork: the node's namespace)
    for n, h in c.nodes.items():
        p = h.run(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", cl.ROUTER6], check=False)
        assert p.returncode == 0 and " 0% packet loss" in p.stdout, (n, p.stdout, p.stderr)
        p = h.run(["bash", "-c", f"exec 3<>/dev/tcp/{cl.ROUTER6}/179"], check=False)
        assert p.returncode == 0, (n, p.stderr)


def test_speaker_logs_name_bgp_sessions(c):
    # kubectl logs -n metallb-system <speaker-pod> | grep -i bgp
    for n in c.nodes:
        def established(n=n):
            lines = grep(speaker_logs(c, nodes=[n]), "bgp")
            up = {(m.group(1), m.group(2)) for ln in lines
                  for m in [re.search(r'msg="bgp session state changed" session=(\S+) '
                                      r'peer=(\S+) .*to=Established', ln)] if m}
            want = {("router-ipv4", f"{cl.ROUTER4}:179"), ("router-ipv6", f"[{cl.ROUTER6}]:179")}
            return up if want <= up else None
        c.wait(established, 30, f"{n}: Established lines for both peers")


def test_ndp_traffic_and_forwarding(c):
    # tcpdump -i eth0 icmp6 and 'ip6[40] == 135 or ip6[40] == 136', on the
    # node announcing the Service, while the client resolves its address;
    # and sysctl net.ipv6.conf.all.forwarding: ironlb's NDP needs none.
    _, ip6 = ingress(c)
    node = owner(c)
    h = c.nodes[node]
    fwd = h.run(["sysctl", "net.ipv6.conf.all.forwarding"]).stdout
    assert fwd.strip() == "net.ipv6.conf.all.forwarding = 0", fwd
    cmd = ["ip", "netns", "exec", h.ns, "tcpdump", "-n", "-l", "-i", "eth0",
           "icmp6 and ip6[40] == 135 or ip6[40] == 136"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def read():
        for ln in p.stdout:
            lines.append(ln)
    reader = threading.Thread(target=read, daemon=True)
    want = (f"neighbor solicitation, who has {ip6}", f"neighbor advertisement, tgt is {ip6}")
    try:
        c.wait(lambda: "listening on" in p.stderr.readline(), 10, "tcpdump listening")
        reader.start()

        def seen():
            c.client.neigh_flush()
            c.client.solicit(ip6, "eth0", tries=1, wait=0.3)
            return all(any(w in ln for ln in list(lines)) for w in want)
        c.wait(seen, 15, f"tcpdump on {node} shows {want}")
    finally:
        p.kill()
        p.wait(5)
        reader.join(5)


def test_svc_ingress_jsonpath_in_the_ipv6_subnet(c):
    ingress(c)
    out = sh(c, f"kubectl get svc {SVC} -o jsonpath='{{.status.loadBalancer.ingress}}'")
    ips = [i["ip"] for i in json.loads(out)]
    assert ipaddress.ip_address(ips[1]) in V6_POOL, ips


def test_speaker_logs_name_neighbor(c):
    # kubectl logs -n metallb-system -l component=speaker | grep -i neighbor
    _, ip6 = ingress(c)
    node = owner(c)

    def announced():
        return [ln for ln in grep(speaker_logs(c, nodes=[node]), "neighbor")
                if 'msg="announcing address"' in ln and f"ip={ip6} " in ln]
    got = c.wait(announced, 10, f"{node}: an announcing line for {ip6}")
    assert 'answers="neighbor solicitations (NDP)"' in got[0], got
    assert f"service=default/{SVC}" in got[0], got


def test_router_neighbor_tables(c):
    # arp -a | grep <ipv4-address>; ip -6 neigh show | grep <ipv6-address>
    ip4, ip6 = ingress(c)
    mac = c.mac(owner(c))
    for ip in (ip4, ip6):
        c.wait(lambda ip=ip: c.client.curl(ip)[0] == 200, 10, f"curl {ip}")
    out = c.client.run(["bash", "-c", f"arp -an | grep -F '({ip4})'"], check=False).stdout
    assert f"({ip4}) at {mac}" in out, out
    out = c.client.run(["bash", "-c", f"ip -6 neigh show | grep -F '{ip6} '"],
                       check=False).stdout
    assert f"{ip6} dev eth0 lladdr {mac}" in out, out


def test_router_bgp_routes(c):
    # show ip route bgp / show ipv6 route bgp, on the router (BIRD here):
    # both families' host routes, from every node
    ip4, ip6 = ingress(c)
    want = {cl.host_prefix(ip4), cl.host_prefix(ip6)}
    for n in c.nodes:
        c.wait(lambda n=n: want <= c.bird_prefixes(n), 30, f"BIRD holds {want} from {n}")


# ---------------------------------------------------------------------------
# Diagnostic Commands Summary (and the other kubectl views of the Service)


def test_get_svc_all_namespaces_wide(c):
    ip4, ip6 = ingress(c)
    out = sh(c, "kubectl get svc --all-namespaces -o wide | grep LoadBalancer")
    line = next(ln for ln in out.splitlines() if f" {SVC} " in ln)
    cells = line.split()
    assert cells[:3] == ["default", SVC, "LoadBalancer"], cells
    assert cells[4] == f"{ip4},{ip6}", cells       # EXTERNAL-IP


def test_logs_tail_50_readable(c):
    # kubectl logs -n metallb-system -l component=controller --tail=50
    # kubectl logs -n metallb-system -l component=speaker --tail=50
    ingress(c)
    owner(c)
    for what, text in (("controller", controller_logs(c, tail=50)),
                       ("speaker", speaker_logs(c, tail=50))):
        lines = text.splitlines()
        assert lines, what
        bad = [ln for ln in lines if not LOGFMT.match(ln)]
        assert bad == [], f"{what}: lines not in logfmt:\n" + "\n".join(bad)
    text = controller_logs(c)
    assert re.search(rf'msg="Assigned IP \[\\"[0-9.]+\\" \\"[0-9a-f:]+\\"\]" '
                     rf'service=default/{SVC} reason=IPAllocated', text), text[-3000:]


def test_describe_svc_events(c):
    ip4, ip6 = ingress(c)
    node = owner(c)

    def events():
        out = sh(c, f"kubectl describe svc {SVC}")
        ev = out.split("Events:", 1)[1] if "Events:" in out else ""
        ok = ("IPAllocated" in ev and f'Assigned IP ["{ip4}" "{ip6}"]' in ev
              and f'announcing from node "{node}" with protocol "layer2"' in ev)
        return out if ok else None
    out = c.wait(events, 20, f"kubectl describe svc {SVC}: IPAllocated and nodeAssigned")
    ing = next(ln for ln in out.splitlines() if ln.startswith("LoadBalancer Ingress:"))
    assert ip4 in ing and ip6 in ing and ing.index(ip4) < ing.index(ip6), ing
    lines = out.split("Events:", 1)[1].splitlines()
    alloc = next(ln for ln in lines if "IPAllocated" in ln)
    assigned = next(ln for ln in lines if "nodeAssigned" in ln and "layer2" in ln)
    assert alloc.split()[0] == "Normal" and "metallb-controller" in alloc, alloc
    assert assigned.split()[0] == "Normal" and "metallb-speaker" in assigned, assigned


def test_get_servicel2statuses(c):
    ingress(c)
    node = owner(c)
    head, rows = table(sh(c, "kubectl get servicel2statuses -n metallb-system"))
    assert head == ["NAME", "ALLOCATED NODE", "SERVICE NAME", "SERVICE NAMESPACE"], head
    mine = [r for r in rows if r[2:] == [SVC, "default"]]
    assert len(mine) == 1 and mine[0][1] == node, rows
    head, rows = table(sh(c, "kubectl get servicebgpstatuses -n metallb-system"))
    assert head == ["NAME", "NODE", "SERVICE NAME", "SERVICE NAMESPACE"], head
    c.wait(lambda: {r[1] for r in table(sh(c, "kubectl get servicebgpstatuses "
                                              "-n metallb-system"))[1]
                    if r[2:] == [SVC, "default"]} == set(c.nodes),
           20, "a ServiceBGPStatus for the Service on every node")


def test_no_errors_after_a_speaker_restart(c):
    # A rolling update: the announcing speaker is stopped (SIGTERM) and
    # started again; the other takes the Service over.  `kubectl logs -l
    # component=speaker | grep -i error` still finds nothing: not in the
    # survivor's log, nor in either log of the restarted one (`kubectl
    # logs --previous` shows the old one): a clean stop, a takeover and a
    # start are no errors.
    ingress(c)
    node = owner(c)
    other = next(n for n in c.nodes if n != node)
    sp = c.speakers[node]
    # only what is logged from now on (an earlier test made an error)
    mark = {n: len(c.speakers[n].output().splitlines()) for n in c.nodes}
    assert sp.stop() is None, sp.problem
    previous = "\n".join(sp.output().splitlines()[mark[node]:])
    c.wait(lambda: owner(c) == other, 20, f"{other} announces {SVC}")
    sp.restart()
    sp.wait_healthy(30)

    def sessions_up():
        text = sp.output()
        return all(re.search(rf"session={s} .*to=Established", text)
                   for s in ("router-ipv4", "router-ipv6"))
    c.wait(sessions_up, 30, f"{node}: BGP sessions Established again")
    survivor = "\n".join(c.speakers[other].output().splitlines()[mark[other]:])
    found = grep("\n".join([previous, survivor, sp.output()]), "error")
    assert found == [], "\n".join(found)
