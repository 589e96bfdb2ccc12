"""Real Kubernetes nodes for ironlb's image: kubelet + containerd + runc in
the lab's node namespaces, with kube-scheduler, kube-controller-manager and
kube-proxy, so that deploy/ironlb.yaml runs as it runs in a cluster
(tests/k8s/test_kubelet.py).

    root namespace (the test)                node namespaces node-a, node-b
    -------------------------                (tests/k8s/cluster.py's lab)
    etcd + kube-apiserver on 127.0.0.1       containerd (own root, state and
      (NodePlane: node tokens, the             socket under the test's dirs)
      ServiceAccount admission plugin,       kubelet (registers its Node with
      an egress proxy to the kubelets)         the node's two addresses)
    kube-scheduler, kube-controller-manager  kube-proxy (iptables mode)
    EgressProxy (unix socket) -> node:10250  Relay 0.0.0.0:6443 -> API server
                                             CNI bridge cni0 for the Pods that
                                               are not on the host network

Each process is started with `nsenter --net`, not `ip netns exec`: the
latter gives the process a mount namespace of its own, so the kubelet's
volume mounts (the service-account token's tmpfs) would stay invisible to
containerd.  With only the network namespace entered, hostNetwork Pods (the
speakers) get the node's network, the kubelet probes Pods from the node,
and kube-proxy's rules live in the node's namespace.

How the pieces reach each other:
- kubelets and kube-proxy: https://127.0.0.1:6443 in their namespace, the
  node's Relay (cluster.Relay listening on every address of the node);
- Pods (the controller): the in-cluster address of the `kubernetes`
  Service (10.96.0.1:443, KUBERNETES_SERVICE_HOST/PORT injected by the
  kubelet), which kube-proxy sends to the nodes' relays: the API server's
  endpoint reconciler is off in the test plane, so the test writes that
  Service's EndpointSlice (the nodes' addresses, port 6443); the serving
  certificate names 10.96.0.1;
- the API server to the kubelets (`kubectl logs`): through the
  EgressSelectorConfiguration's "cluster" egress, an HTTP CONNECT proxy on
  a unix socket (EgressProxy) that dials the node's address from inside the
  lab; the kubelets allow anonymous requests (the test's plane has no
  client certificate for the API server);
- between nodes: each node routes the other's Pod subnets to it.

No registry is reachable: the sandbox ("pause") image is tests/k8s/pause.c
built static and packed by oci_archive(); the guide's test Deployment's
`nginx:alpine` is stood in for by a local image of Debian's static busybox
running `httpd` that answers with the Pod's name; ironlb's own image is the
archive of scripts/build-image.  All three are imported with `ctr images
import` into each node's containerd.

Machine facts (tests/k8s/README.md, "The kubelet test"): cgroups v1 in
hybrid mode (failCgroupV1: false, cgroupfs driver, no QoS cgroups, no
node-allocatable enforcement); no CAP_SYS_RESOURCE (containerd's
restrict_oom_score_adj); crun refuses hybrid cgroups (runc).

Teardown (NodeCluster.close, also after a failure): kube-controller-manager
and the scheduler stop first (nothing recreates Pods), every Pod is
deleted and the kubelets given time to stop them (CNI teardown of their
network namespaces), then kube-proxy, the kubelets, whatever tasks are left
(ctr kill), containerd and its shims; every mount under the test's
directories is unmounted, the Pods' network namespaces, libcni's cache
entries and the cgroup parent containerd made removed, and the lab (its
namespaces, with the iptables rules in them) deleted.
"""
from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading

import cluster as cl
import controlplane as cpmod
import lab as labmod

HERE = pathlib.Path(__file__).resolve().parent
CNI_BIN = pathlib.Path("/usr/lib/cni")
BUSYBOX = pathlib.Path("/bin/busybox")
PAUSE_IMAGE = "localhost/ironlb-pause:1"
NGINX_IMAGE = "docker.io/library/nginx:alpine"   # the guide's test Deployment's
POD_SUBNETS = {"node-a": ("10.244.1.0/24", "fd00:10:244:1::/64"),
               "node-b": ("10.244.2.0/24", "fd00:10:244:2::/64"),
               "node-c": ("10.244.3.0/24", "fd00:10:244:3::/64")}
CLUSTER_CIDRS = "10.244.0.0/16,fd00:10:244::/56"
KUBERNETES_SVC_IP = "10.96.0.1"
RELAY_PORT = cl.RELAY_PORT
KUBELET_PORT = 10250
CNI_NETWORK = "ironlb-test"
CNI_CACHE = pathlib.Path("/var/lib/cni/results")   # libcni's, not configurable here


def missing() -> list[str]:
    """What the kubelet test needs and this machine lacks."""
    out = [t for t in ("containerd", "ctr", "runc", "nsenter", "iptables", "ip6tables",
                       "conntrack", "cc") if shutil.which(t) is None]
    out += [str(CNI_BIN / p) for p in ("bridge", "host-local", "loopback")
            if not (CNI_BIN / p).exists()]
    if not BUSYBOX.exists():
        out.append(f"{BUSYBOX} (busybox-static)")
    return out


# ---------------------------------------------------------------------------
# node binaries


class NodeBinaries:
    def __init__(self, paths: dict[str, str]):
        self.kubelet = paths["KUBELET"]
        self.kube_scheduler = paths["KUBE_SCHEDULER"]
        self.kube_controller_manager = paths["KUBE_CONTROLLER_MANAGER"]
        self.kube_proxy = paths["KUBE_PROXY"]


def find_node_binaries(build: bool = False, timeout: float | None = None) -> NodeBinaries:
    """kubelet, kube-scheduler, kube-controller-manager and kube-proxy
    (build.sh node), as controlplane.find_binaries finds the plane's."""
    paths = cpmod._build_sh("node", build, timeout)
    try:
        return NodeBinaries(paths)
    except KeyError as e:
        raise cpmod.ControlPlaneError(f"build.sh node printed no {e}: {paths!r}") from None


# ---------------------------------------------------------------------------
# images without a registry


def _tar_info(name: str, size: int = 0, mode: int = 0o644, kind=tarfile.REGTYPE,
              link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.type, ti.linkname = size, mode, kind, link
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "", ""
    return ti


def oci_archive(path: pathlib.Path, tag: str, files: dict, entrypoint: list[str],
                env: list[str] | None = None) -> pathlib.Path:
    """Write a one-layer OCI image archive (an image layout in a tar) whose
    index names `tag` (org.opencontainers.image.ref.name, what `ctr images
    import --base-name` adds the repository to).  files: {path in the image:
    bytes (an executable) | ("symlink", target)}."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = sorted({str(pathlib.PurePosixPath(p).parent) for p in files} - {"."})
        for d in dirs:
            t.addfile(_tar_info(d, mode=0o755, kind=tarfile.DIRTYPE))
        for p in sorted(files):
            v = files[p]
            if isinstance(v, tuple):
                t.addfile(_tar_info(p, mode=0o777, kind=tarfile.SYMTYPE, link=v[1]))
            else:
                t.addfile(_tar_info(p, len(v), 0o755), io.BytesIO(v))
    layer = layer_buf.getvalue()
    gz = gzip.compress(layer, mtime=0)
    blobs = {}

    def blob(data: bytes, media: str) -> dict:
        d = hashlib.sha256(data).hexdigest()
        blobs[d] = data
        return {"mediaType": media, "digest": f"sha256:{d}", "size": len(data)}
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Entrypoint": entrypoint, "Env": env or ["PATH=/bin"]},
              "rootfs": {"type": "layers",
                         "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]}}
    cfg_desc = blob(json.dumps(config, sort_keys=True).encode(),
                    "application/vnd.oci.image.config.v1+json")
    lay_desc = blob(gz, "application/vnd.oci.image.layer.v1.tar+gzip")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg_desc, "layers": [lay_desc]}
    man_desc = blob(json.dumps(manifest, sort_keys=True).encode(),
                    "application/vnd.oci.image.manifest.v1+json")
    man_desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    man_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [man_desc]}
    with tarfile.open(path, "w") as t:
        def add(name, data):
            t.addfile(_tar_info(name, len(data)), io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", json.dumps(index, sort_keys=True).encode())
        for d, data in sorted(blobs.items()):
            add(f"blobs/sha256/{d}", data)
    return path


def pause_archive(workdir: pathlib.Path) -> pathlib.Path:
    """tests/k8s/pause.c built static, as the image PAUSE_IMAGE."""
    exe = workdir / "pause"
    p = subprocess.run(["cc", "-static", "-O2", "-o", str(exe), str(HERE / "pause.c")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError(f"cc -static pause.c failed:\n{p.stderr}")
    return oci_archive(workdir / "pause.oci.tar", PAUSE_IMAGE.rsplit(":", 1)[1],
                       {"pause": exe.read_bytes()}, ["/pause"])


def nginx_standin_archive(workdir: pathlib.Path) -> pathlib.Path:
    """NGINX_IMAGE stood in for by busybox httpd on port 80, serving a page
    that holds the Pod's name (its hostname)."""
    files = {"bin/busybox": BUSYBOX.read_bytes()}
    for applet in ("sh", "mkdir", "hostname", "httpd"):
        files[f"bin/{applet}"] = ("symlink", "busybox")
    return oci_archive(workdir / "nginx-standin.oci.tar", NGINX_IMAGE.rsplit(":", 1)[1],
                       files, ["/bin/sh", "-c", "mkdir -p /tmp/www && hostname > "
                               "/tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"])


# ---------------------------------------------------------------------------
# the control plane with what nodes need


class EgressProxy:
    """HTTP CONNECT on a unix socket, dialing from inside network namespace
    `ns`: the API server's way to the kubelets (its "cluster" egress)."""

    def __init__(self, path: pathlib.Path):
        self.path = str(path)
        self.ns: str | None = None          # set once the lab exists
        self.stopping = False
        self.conns: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.dials: list[str] = []          # host:port of every CONNECT, in order
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._loop, daemon=True, name="egress")
        self.thread.start()

    def _loop(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket):
        c.settimeout(10)
        buf = b""
        try:
            while b"\r\n\r\n" not in buf and len(buf) < 8192:
                chunk = c.recv(4096)
                if not chunk:
                    raise OSError("closed before the request")
                buf += chunk
            head, _, rest = buf.partition(b"\r\n\r\n")
            method, target = head.split(b"\r\n", 1)[0].decode().split()[:2]
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or self.ns is None:
                c.sendall(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")
                raise OSError("not a CONNECT, or no lab yet")
            self.dials.append(target)
            with labmod.netns(self.ns):
                u = socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET)
            u.settimeout(5)
            u.connect((host.strip("[]"), int(port)))
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                u.sendall(rest)
        except (OSError, ValueError):
            c.close()
            return
        c.settimeout(None)
        u.settimeout(None)
        with self.lock:
            self.conns |= {c, u}
        for a, b in ((c, u), (u, c)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        cl.copy_until_closed(src, dst)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()
        with self.lock:
            for s in self.conns:
                s.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


class NodePlane(cpmod.ControlPlane):
    """The test plane plus what real nodes need: a token per kubelet (user
    system:node:NAME, group system:nodes, bound to the system:node
    ClusterRole), the ServiceAccount admission plugin (the token volume of
    the Pods), and the kubelets reached through `egress` (EgressProxy)."""

    disabled_admission = ()

    def __init__(self, binaries, nodes, egress_socket: pathlib.Path, **kw):
        super().__init__(binaries, **kw)
        self.node_names = list(nodes)
        self.egress_socket = egress_socket
        self.node_tokens: dict[str, str] = {}

    def _prepare(self):
        super()._prepare()
        lines = []
        for n in self.node_names:
            tok = base64.b32encode(os.urandom(20)).decode().lower()
            self.node_tokens[n] = tok
            lines.append(f'{tok},system:node:{n},system:node:{n},"system:nodes"\n')
        with open(self.token_file, "a") as f:
            f.writelines(lines)
        egress = self.dir / "egress.yaml"
        egress.write_text(json.dumps({
            "apiVersion": "apiserver.k8s.io/v1beta1",
            "kind": "EgressSelectorConfiguration",
            "egressSelections": [{"name": "cluster", "connection": {
                "proxyProtocol": "HTTPConnect",
                "transport": {"uds": {"udsName": str(self.egress_socket)}}}}]}))
        self.extra_apiserver_args += [f"--egress-selector-config-file={egress}",
                                      "--kubelet-preferred-address-types=InternalIP"]

    def _start_apiserver(self, same_port: bool = False):
        super()._start_apiserver(same_port)
        # RBAC's system:node role, bound as before the Node authorizer.
        self.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": "ironlb-test-nodes"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                "kind": "ClusterRole", "name": "system:node"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                  "name": "system:nodes"}]})


# ---------------------------------------------------------------------------
# processes in a node's network namespace


def _in_ns(ns: str, argv: list[str]) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{ns}", "--", *map(str, argv)]


def _toml_str(s) -> str:
    return json.dumps(str(s))


class Node:
    """containerd + kubelet + kube-proxy of one node namespace."""

    def __init__(self, cluster: "NodeCluster", name: str, host):
        self.cluster = cluster
        self.name = name
        self.host = host
        self.ns = host.ns
        self.dir = cluster.workdir / name
        self.sock = cluster.sockdir / f"{name}.sock"
        self.containerd: cpmod._Proc | None = None
        self.kubelet: cpmod._Proc | None = None
        self.proxy: cpmod._Proc | None = None

    # -- containerd ------------------------------------------------------

    def ctr(self, *args, check=True, timeout=120) -> subprocess.CompletedProcess:
        p = subprocess.run(["ctr", "--address", str(self.sock), "--namespace", "k8s.io",
                            *map(str, args)], capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"ctr {' '.join(map(str, args))} on {self.name}: "
                                 f"exit {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def start_containerd(self):
        d = self.dir / "containerd"
        cni = self.dir / "cni"
        for sub in (d / "root", d / "state", cni / "net.d", cni / "ipam"):
            sub.mkdir(parents=True, exist_ok=True)
        v4, v6 = POD_SUBNETS[self.name]
        (cni / "net.d" / "10-ironlb-test.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": CNI_NETWORK, "plugins": [{
                "type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False,
                "hairpinMode": True,
                "ipam": {"type": "host-local", "dataDir": str(cni / "ipam"),
                         "ranges": [[{"subnet": v4}], [{"subnet": v6}]],
                         "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]}}]}))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        cfg = d / "config.toml"
        cfg.write_text(f"""version = 2
root = {_toml_str(d / 'root')}
state = {_toml_str(d / 'state')}
[grpc]
  address = {_toml_str(self.sock)}
[plugins."io.containerd.internal.v1.opt"]
  path = {_toml_str(d / 'opt')}
[{cri}]
  sandbox_image = {_toml_str(PAUSE_IMAGE)}
  # No CAP_SYS_RESOURCE on this machine: never lower an oom_score_adj.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
[{cri}.containerd]
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = {_toml_str(CNI_BIN)}
  conf_dir = {_toml_str(cni / 'net.d')}
""")
        self.containerd = cpmod._Proc(f"containerd {self.name}", _in_ns(self.ns, [
            "containerd", "--config", cfg]), self.cluster.logdir / f"containerd-{self.name}.log")
        self.containerd.start()
        self._wait(lambda: self.ctr("version", check=False).returncode == 0, 60,
                   "containerd answering", self.containerd)

    def import_image(self, archive: pathlib.Path, base: str):
        self.ctr("images", "import", "--base-name", base, archive, timeout=300)

    # -- kubelet ---------------------------------------------------------

    def start_kubelet(self, bins: NodeBinaries):
        c, plane = self.cluster, self.cluster.plane
        d = self.dir / "kubelet"
        (d / "logs").mkdir(parents=True, exist_ok=True)
        kc = plane.write_kubeconfig(plane.node_tokens[self.name], d / "kubeconfig",
                                    user=f"system:node:{self.name}",
                                    server=f"https://127.0.0.1:{RELAY_PORT}")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # This machine: cgroups v1 (hybrid), no systemd for the pods.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.sock}",
            "podLogsDir": str(d / "logs"),
            # The API server has no client certificate here (EgressProxy
            # is its only way in): anonymous, allowed everything.
            "authentication": {"anonymous": {"enabled": True},
                               "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "port": KUBELET_PORT,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            # Disk and memory are shared with the machine: no evictions.
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%",
                             "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "localStorageCapacityIsolation": False,
            "serializeImagePulls": False,
            "nodeStatusUpdateFrequency": "5s",
            "syncFrequency": "10s",
        }
        cfg = d / "config.yaml"
        cfg.write_text(json.dumps(config, indent=1))
        self.kubelet = cpmod._Proc(f"kubelet {self.name}", _in_ns(self.ns, [
            bins.kubelet, f"--config={cfg}", f"--kubeconfig={kc}", f"--root-dir={d / 'root'}",
            f"--hostname-override={self.name}",
            f"--node-ip={c.node_v4(self.name)},{c.node_v6(self.name)}",
            "--v=1"]), c.logdir / f"kubelet-{self.name}.log")
        self.kubelet.start()

    def start_proxy(self, bins: NodeBinaries):
        c, plane = self.cluster, self.cluster.plane
        kc = plane.write_kubeconfig(plane.admin_token, self.dir / "kube-proxy.kubeconfig",
                                    user="kube-proxy", server=f"https://127.0.0.1:{RELAY_PORT}")
        self.proxy = cpmod._Proc(f"kube-proxy {self.name}", _in_ns(self.ns, [
            bins.kube_proxy, f"--kubeconfig={kc}", f"--hostname-override={self.name}",
            "--proxy-mode=iptables", f"--cluster-cidr={CLUSTER_CIDRS}",
            # Leave the machine-wide conntrack settings alone.
            "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0",
            "--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256",
            "--v=1"]), c.logdir / f"kube-proxy-{self.name}.log")
        self.proxy.start()

    @staticmethod
    def _wait(cond, timeout, what, proc):
        cpmod.ControlPlane._wait(cond, timeout, what, proc)

    def check_alive(self):
        for p in (self.containerd, self.kubelet, self.proxy):
            if p is not None:
                p.check_alive()

    # -- teardown --------------------------------------------------------

    def tasks(self) -> list[str]:
        p = self.ctr("tasks", "ls", "-q", check=False, timeout=30)
        return p.stdout.split() if p.returncode == 0 else []

    def kill_tasks(self):
        """Whatever the kubelet did not stop: SIGKILL, then deleted."""
        for t in self.tasks():
            self.ctr("tasks", "kill", "-s", "SIGKILL", t, check=False, timeout=30)
        with contextlib.suppress(Exception):
            labmod.poll(lambda: not self.tasks(), 20, interval=0.2, what="tasks gone")
        for t in self.tasks():
            self.ctr("tasks", "delete", "-f", t, check=False, timeout=30)

    def shim_pids(self) -> list[int]:
        """containerd-shim processes started by this node's containerd."""
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and b"containerd-shim" in cmd[0] and str(self.sock).encode() in cmd:
                out.append(int(pid))
        return out


class NodeCluster(cl.Cluster):
    """cluster.Cluster's lab (switch, client, node namespaces, router),
    with real nodes instead of ironlb processes started by the test: the
    controller and speakers are deploy/ironlb.yaml's Pods."""

    def __init__(self, plane: NodePlane, workdir, bins: NodeBinaries, egress: EgressProxy,
                 sockdir: pathlib.Path, image_archive: pathlib.Path, image_ref: str, **kw):
        super().__init__(plane, workdir, **kw)
        self.bins = bins
        self.egress = egress
        self.sockdir = pathlib.Path(sockdir)
        self.logdir = self.workdir / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.image_archive = image_archive
        self.image_ref = image_ref
        self.node_objs: dict[str, Node] = {}
        self.scheduler: cpmod._Proc | None = None
        self.kcm: cpmod._Proc | None = None
        self.netns_before: set[str] = set()
        self.cgroups_made: list[pathlib.Path] = []

    def start(self):
        self.netns_before = set(labmod._list_netns())
        # The hierarchies without containerd's k8s.io parent yet (close()
        # removes the ones this run makes).
        self.cgroups_made = [d for d in pathlib.Path("/sys/fs/cgroup").glob("*")
                             if d.is_dir() and not (d / "k8s.io").exists()]
        self.lab = labmod.Lab(workdir=self.workdir / "lab")
        self._topology()
        self.egress.ns = self.nodes[self.node_names[0]].ns
        p = self.plane
        self._start_components()
        archives = self.workdir / "images"
        archives.mkdir(exist_ok=True)
        pause = pause_archive(archives)
        nginx = nginx_standin_archive(archives)
        repo = self.image_ref.rsplit(":", 1)[0]
        for n, h in self.nodes.items():
            h.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            h.run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])
            # The nodes have no default route: the Service ranges need one
            # for a hostNetwork Pod's connect() to reach kube-proxy's DNAT.
            for cidr in p.service_cidrs:
                h.run(["ip", "route", "add", cidr, "dev", "eth0"])
            for other in self.node_names:
                if other != n:
                    v4, v6 = POD_SUBNETS[other]
                    h.run(["ip", "route", "add", v4, "via", self.node_v4(other)])
                    h.run(["ip", "-6", "route", "add", v6, "via", self.node_v6(other)])
            self.relays[n] = cl.Relay(h.ns, p.port, host="0.0.0.0")
            node = self.node_objs[n] = Node(self, n, h)
            node.start_containerd()
            node.import_image(pause, PAUSE_IMAGE.rsplit(":", 1)[0])
            node.import_image(nginx, NGINX_IMAGE.rsplit(":", 1)[0])
            node.import_image(self.image_archive, repo)
        self._kubernetes_endpoints()
        for node in self.node_objs.values():
            node.start_kubelet(self.bins)
            node.start_proxy(self.bins)
        self.wait(self._nodes_ready, 120, "both Nodes Ready")
        return self

    def _start_components(self):
        p = self.plane
        self.scheduler = cpmod._Proc("kube-scheduler", [
            self.bins.kube_scheduler, f"--kubeconfig={p.kubeconfig}", "--leader-elect=false",
            "--secure-port=0", "--v=1"], self.logdir / "kube-scheduler.log")
        self.scheduler.start()
        self.kcm = cpmod._Proc("kube-controller-manager", [
            self.bins.kube_controller_manager, f"--kubeconfig={p.kubeconfig}",
            "--leader-elect=false", "--secure-port=0",
            f"--root-ca-file={p.ca_file}", f"--service-account-private-key-file={p.sa_key}",
            "--use-service-account-credentials=false", "--v=1"],
            self.logdir / "kube-controller-manager.log")
        self.kcm.start()

    def _kubernetes_endpoints(self):
        """The `kubernetes` Service's endpoints: every node's relay (the
        plane's reconciler is off; kube-proxy needs them)."""
        self.plane.apply({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [self.node_v4(n)], "conditions": {"ready": True}}
                          for n in self.node_names],
            "ports": [{"name": "https", "port": RELAY_PORT, "protocol": "TCP"}]})

    def _nodes_ready(self):
        self.check_alive()
        nodes = self.plane.kubectl_json("get", "nodes")["items"]
        ready = {n["metadata"]["name"] for n in nodes
                 for c in n["status"].get("conditions", [])
                 if c["type"] == "Ready" and c["status"] == "True"}
        return ready >= set(self.node_names)

    def check_alive(self):
        for p in (self.scheduler, self.kcm):
            if p is not None:
                p.check_alive()
        for n in self.node_objs.values():
            n.check_alive()

    def pods(self, namespace=cl.NS, selector=None) -> list[dict]:
        args = ["get", "pods", "-n", namespace]
        if selector:
            args += ["-l", selector]
        return self.plane.kubectl_json(*args)["items"]

    def logs(self, n=25) -> str:
        parts = []
        for pod in self.pods_safe():
            name = pod["metadata"]["name"]
            out = self.plane.kubectl("logs", "-n", cl.NS, name, f"--tail={n}", check=False)
            parts.append(f"----- {name} on {pod['spec'].get('nodeName')} "
                         f"({pod['status'].get('phase')}) -----\n{out.stdout}{out.stderr}")
        for f in sorted(self.logdir.glob("*.log")):
            parts.append(f"----- {f.name} (last {n} lines) -----\n"
                         f"{cl.tail(f.read_text(errors='replace'), n)}")
        return "\n".join(parts)

    def pods_safe(self):
        try:
            return self.pods()
        except Exception:  # noqa: BLE001 - diagnostics only
            return []

    def close(self):
        """See the module text, "Teardown"."""
        for p in (self.kcm, self.scheduler):
            if p is not None:
                with contextlib.suppress(Exception):
                    p.stop()
        if self.node_objs:
            with contextlib.suppress(Exception):
                self.plane.kubectl("delete", "pods", "--all", "--all-namespaces",
                                   "--grace-period=0", "--force", "--wait=false",
                                   check=False, timeout=30)
            with contextlib.suppress(Exception):
                labmod.poll(lambda: not any(n.tasks() for n in self.node_objs.values()),
                            60, interval=0.5, what="every Pod's containers stopped")
        for n in self.node_objs.values():
            for p in (n.proxy, n.kubelet):
                if p is not None:
                    with contextlib.suppress(Exception):
                        p.stop()
        for n in self.node_objs.values():
            with contextlib.suppress(Exception):
                n.kill_tasks()
            if n.containerd is not None:
                with contextlib.suppress(Exception):
                    n.containerd.stop()
            for pid in n.shim_pids():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        # Only the k8s.io cgroups this run made (empty once runc is done).
        self.cgroups_made = [d / "k8s.io" for d in self.cgroups_made if (d / "k8s.io").is_dir()]
        umount_under(self.workdir)
        umount_under(self.sockdir)
        for ns in set(labmod._list_netns()) - self.netns_before:
            if ns.startswith("cni-"):
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        # The CNI library's cache (a fixed directory) of a Pod whose
        # teardown did not run, and the cgroup parent containerd made.
        for f in CNI_CACHE.glob(f"{CNI_NETWORK}-*"):
            with contextlib.suppress(OSError):
                f.unlink()
        for d in self.cgroups_made:
            with contextlib.suppress(OSError):
                d.rmdir()
        for r in self.relays.values():
            with contextlib.suppress(Exception):
                r.close()
        if self.lab is not None:
            self.lab.close()


def umount_under(top: pathlib.Path):
    """Unmount every mount point below `top`, deepest first (the kubelet's
    volumes, containerd's rootfs and shm mounts)."""
    top_s = str(pathlib.Path(top).resolve())
    for _ in range(3):
        points = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].replace("\\040", " ")
                if mp.startswith(top_s + "/"):
                    points.append(mp)
        if not points:
            return
        for mp in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)


def short_dir() -> pathlib.Path:
    """A directory with a short path for unix sockets (108 bytes at most)."""
    return pathlib.Path(tempfile.mkdtemp(prefix="ilbk-"))

