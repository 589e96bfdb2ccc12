"""ironlb's OCI image (scripts/build-image) run the way a cluster runs it,
with podman and runc instead of a kubelet (deploy/README.md, "The image",
says why): the cluster of tests/k8s/cluster.py with the controller and
every speaker in a container of the image.

    controller namespace "ctl" (a lab host   node namespaces (node-a, node-b)
    without links, as a Pod's own network)   the speaker container on the
      the controller container, as in the      node's network (hostNetwork),
      Deployment: UID 65532, no capabilities,  as in the DaemonSet: UID 0,
      read-only root                           only NET_RAW, NET_ADMIN,
    each namespace has a Relay to the API      NET_BIND_SERVICE, read-only root
    server on 127.0.0.1:6443, which the
    containers reach as the in-cluster address (KUBERNETES_SERVICE_HOST/PORT)
    with a service-account token, ca.crt and namespace mounted at
    /var/run/secrets/kubernetes.io/serviceaccount, as a kubelet mounts them.

Podman keeps everything in its own storage under the test's directory
(--root, --runroot, --tmpdir; the vfs driver, which works on any file
system), so the machine's images and containers are never touched, and
Podman.close() removes every container and that storage, also after a
failure.  Limits: the machine may lack CAP_SYS_RESOURCE, so the containers
get limits no higher than the test's own (--ulimit); runc, not crun, which
refuses hybrid cgroups.
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import subprocess

import cluster as cl
import lab as labmod

ROOT = cl.ROOT
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
CONTROLLER_PORT = 7472          # the Deployment's --metrics-listen :7472
SPEAKER_CAPS = "NET_RAW,NET_ADMIN,NET_BIND_SERVICE"   # the DaemonSet's capabilities.add
UNPRIVILEGED = 65532            # the Deployment's runAsUser / runAsGroup
# Resource limits no higher than the test's: podman's defaults raise
# RLIMIT_NOFILE, which needs CAP_SYS_RESOURCE that the machine may lack.
LIMITS = ("--ulimit=nofile=1024:1024", "--ulimit=nproc=4096:4096")


def missing() -> list[str]:
    """What the image tests need and this machine lacks."""
    return [t for t in ("podman", "runc", "conmon", "apt-get", "dpkg-deb")
            if shutil.which(t) is None
            and not (t == "conmon" and os.path.exists("/usr/libexec/podman/conmon"))]


class Podman:
    """podman with storage of its own under `root`."""

    def __init__(self, root: pathlib.Path):
        self.root = pathlib.Path(root)
        self.opts = [f"--root={self.root / 'storage'}", f"--runroot={self.root / 'run'}",
                     f"--tmpdir={self.root / 'tmp'}", "--storage-driver=vfs"]
        self.argv = ["podman", *self.opts, "--runtime=runc", "--cgroup-manager=cgroupfs",
                     "--events-backend=file"]
        self.names: list[str] = []

    def __call__(self, *args, check=True, timeout=120):
        p = subprocess.run([*self.argv, *map(str, args)], capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(map(str, args))}: exit {p.returncode}\n"
                                 f"{p.stdout}{p.stderr}")
        return p

    def run_rm(self, image, *args, options=()):
        """Run the image once, in the foreground, as an unprivileged
        workload: read-only root, no capabilities."""
        return self("run", "--rm", *LIMITS, "--read-only", "--cap-drop=all", *options,
                    image, *args)

    def build_image(self, out: pathlib.Path) -> dict:
        """scripts/build-image into `out`, loaded into this storage:
        its key=value lines (archive, image, digest, ...)."""
        return build_image(out, [f"--podman-opt={o}" for o in self.opts])

    def run(self, name, image, args, netns, user, caps=(), env=None, mounts=()):
        """A detached container as a kubelet would start the Pod's: the
        network of `netns`, read-only root, every capability dropped but
        `caps`, no privilege escalation."""
        argv = ["run", "-d", "--name", name, f"--network=ns:/run/netns/{netns}",
                "--read-only", "--cap-drop=all", "--security-opt=no-new-privileges",
                f"--user={user}", *LIMITS]
        if caps:
            argv.append(f"--cap-add={','.join(caps) if not isinstance(caps, str) else caps}")
        for k, v in (env or {}).items():
            argv += ["--env", f"{k}={v}"]
        for src, dst in mounts:
            argv += ["--volume", f"{src}:{dst}:ro"]
        self.names.append(name)
        self(*argv, image, *args)
        return Container(self, name)

    def close(self):
        """Every container gone, then the storage (vfs: plain files)."""
        for n in self.names:
            with contextlib.suppress(Exception):
                self("rm", "-f", "-t", "0", n, check=False)
        with contextlib.suppress(Exception):
            self("system", "reset", "-f", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


class Container:
    def __init__(self, podman: Podman, name: str):
        self.podman = podman
        self.name = name
        self.exit_code: int | None = None

    def state(self) -> dict:
        p = self.podman("inspect", "--format", "{{json .State}}", self.name, check=False)
        return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else {}

    def alive(self) -> bool:
        return bool(self.state().get("Running"))

    def pid(self) -> int:
        return int(self.state().get("Pid") or 0)

    def logs(self) -> str:
        p = self.podman("logs", self.name, check=False)
        return p.stdout + p.stderr

    def stop(self, timeout=15) -> tuple[int | None, bool]:
        """SIGTERM, SIGKILL after `timeout` (podman stop): (exit code,
        killed after the deadline)."""
        if self.exit_code is None:
            self.podman("stop", "-t", str(timeout), self.name, check=False,
                        timeout=timeout + 60)
            self.exit_code = self.state().get("ExitCode")
        return self.exit_code, self.exit_code == 137

    def kill(self):
        self.podman("kill", "-s", "KILL", self.name, check=False)


def service_account_dir(workdir: pathlib.Path, name: str, plane, token: str) -> pathlib.Path:
    """What a kubelet mounts at SA_DIR: token, ca.crt, namespace; readable
    by the unprivileged user (the directory is the mount's root)."""
    d = pathlib.Path(workdir) / f"sa-{name}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "token").write_text(token)
    (d / "ca.crt").write_bytes(plane.ca_file.read_bytes())
    (d / "namespace").write_text(cl.NS)
    d.chmod(0o755)
    for f in d.iterdir():
        f.chmod(0o644)
    return d


def in_cluster_env() -> dict:
    """The relay in each namespace stands for the kubernetes Service."""
    return {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(cl.RELAY_PORT)}


class ContainerController(cl.Controller):
    """The Deployment's container: `controller --metrics-listen :7472`,
    UID 65532, no capabilities, in a namespace of its own."""

    def __init__(self, cluster: "ContainerCluster", ns: str, sa: pathlib.Path):
        super().__init__(None, cluster.workdir)
        self.cluster = cluster
        self.ns = ns
        self.sa = sa
        self.port = CONTROLLER_PORT
        self.container: Container | None = None

    def start(self, timeout: float = 60):
        self.runs += 1
        self.log = self.workdir / f"controller.{self.runs}.log"
        self.container = self.cluster.podman.run(
            f"controller-{self.runs}", self.cluster.image,
            ["controller", "--metrics-listen", f":{CONTROLLER_PORT}"],
            netns=self.ns, user=f"{UNPRIVILEGED}:{UNPRIVILEGED}",
            env={**in_cluster_env(), "POD_NAME": f"controller-{self.runs}",
                 "POD_NAMESPACE": cl.NS},
            mounts=[(self.sa, SA_DIR)])
        labmod.poll(self._healthy, timeout, interval=0.2, what="controller /healthz 200")
        return self

    def get(self, path):
        return cl.http_get(self.ns, self.port, path)

    def alive(self):
        return self.container is not None and self.container.alive()

    def check(self):
        if self.container is not None and not self.container.alive():
            raise AssertionError(f"controller container exited "
                                 f"{self.container.state().get('ExitCode')}:\n"
                                 f"{cl.tail(self.output())}")

    def output(self):
        return self.container.logs() if self.container else ""

    def stop(self, timeout: float = 15):
        c, self.container = self.container, None
        if c is None:
            return None
        rc, killed = c.stop(timeout)
        self.log.write_text(c.logs())
        self.exits.append((self.log, rc, killed))
        return cl.exit_problem(f"controller container (run {self.runs}, {self.log})", rc,
                               self.log.read_text(), killed)


class ContainerSpeaker(cl.Speaker):
    """The DaemonSet's container on a node's network: `speaker --node-name
    NODE --metrics-listen :7473 --metrics-host NODE-IP`, UID 0 with NET_RAW, NET_ADMIN and
    NET_BIND_SERVICE only.  --install-vips stands in for kube-proxy, which
    the lab lacks, so that curl to a Service address reaches the node's
    HTTP server."""

    def __init__(self, cluster: "ContainerCluster", host, sa: pathlib.Path):
        super().__init__(host, None, cluster.log_level)
        self.cluster = cluster
        self.sa = sa
        self.container: Container | None = None
        self.runs = 0

    def start(self):
        self.runs += 1
        self.container = self.cluster.podman.run(
            f"speaker-{self.node}-{self.runs}", self.cluster.image,
            ["speaker", "--node-name", self.node, "--metrics-listen",
             f":{cl.SPEAKER_PORT}", "--metrics-host", self.host_ip(),
             "--install-vips", "--log-level", self.log_level,
             *self.extra],
            netns=self.host.ns, user="0:0", caps=SPEAKER_CAPS,
            env=in_cluster_env(), mounts=[(self.sa, SA_DIR)])
        return self

    def host_ip(self):
        """The DaemonSet's $(METALLB_HOST): the node's IP (status.hostIP)."""
        return self.cluster.node_v4(self.node)

    def get(self, path):
        # the listener is on the node's IP alone, as in the DaemonSet
        return cl.http_get(self.host.ns, cl.SPEAKER_PORT, path, addr=self.host_ip())

    def check(self):
        if self.container is not None and not self.container.alive():
            raise AssertionError(f"speaker container {self.node} exited "
                                 f"{self.container.state().get('ExitCode')}:\n"
                                 f"{cl.tail(self.output())}")

    def output(self):
        return self.container.logs() if self.container else ""

    def kill(self):
        self.container.kill()

    def stop(self, timeout=15):
        if self.container is None:
            return None
        rc, killed = self.container.stop(timeout)
        log = self.cluster.workdir / f"speaker-{self.node}.{self.runs}.log"
        log.write_text(self.container.logs())
        self.problem = cl.exit_problem(f"speaker container {self.node} ({log})", rc,
                                       log.read_text(), killed)
        return self.problem


class ContainerCluster(cl.Cluster):
    """cluster.Cluster with the controller and speakers in containers of
    `image` (already in `podman`'s storage)."""

    def __init__(self, plane, workdir, podman: Podman, image: str, **kw):
        super().__init__(plane, workdir, **kw)
        self.podman = podman
        self.image = image
        self.ctl_relay: cl.Relay | None = None

    def new_controller(self):
        ctl = self.lab.host("ctl")
        ctl.run(["ip", "link", "set", "lo", "up"])
        self.ctl_relay = cl.Relay(ctl.ns, self.plane.port)
        token = self.plane.create_token("controller", cl.NS, duration="2h")
        sa = service_account_dir(self.workdir, "controller", self.plane, token)
        return ContainerController(self, ctl.ns, sa)

    def new_speaker(self, node, host, token):
        sa = service_account_dir(self.workdir, "speaker", self.plane, token)
        return ContainerSpeaker(self, host, sa)

    def close(self):
        try:
            super().close()
        finally:
            if self.ctl_relay is not None:
                with contextlib.suppress(Exception):
                    self.ctl_relay.close()


# The last scripts/build-image result of this test run (the kubelet test
# imports that archive rather than building the same commit again).
last_built: dict = {}


def build_image(out: pathlib.Path, extra=()) -> dict:
    """Run scripts/build-image; its stdout's key=value lines as a dict."""
    p = subprocess.run([str(ROOT / "scripts" / "build-image"), "--out", str(out), *extra],
                       capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise AssertionError(f"scripts/build-image failed ({p.returncode}):\n"
                             f"{cl.tail(p.stderr, 60)}")
    out = dict(line.split("=", 1) for line in p.stdout.split() if "=" in line)
    last_built.clear()
    last_built.update(out)
    return out

