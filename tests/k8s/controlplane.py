"""A real, throwaway Kubernetes control plane for ironlb's tests.

Starts etcd and kube-apiserver (built from Go modules by tests/k8s/build.sh)
on 127.0.0.1 with free ports and a fresh temporary directory, waits until the
API server is ready, writes an admin kubeconfig and tears everything down
again.  No kube-controller-manager, scheduler or kubelet runs: see README.md
for what that means (no EndpointSlices for Services, no default
ServiceAccounts, namespaces stay Terminating, ...).

    from controlplane import ControlPlane

    with ControlPlane() as cp:
        cp.kubectl("get", "namespaces")
        cp.kubectl("apply", "-f", "-", input=manifest_yaml)
        token = cp.create_token("my-sa", namespace="ns1")
        kubeconfig = cp.write_kubeconfig(token, "my-sa.kubeconfig")

Binaries: $IRONLB_KUBE_APISERVER, $IRONLB_KUBECTL and $IRONLB_ETCD if all
three are set, else the ones tests/k8s/build.sh reports (find_binaries()).
$IRONLB_K8S_KEEP=1 keeps the temporary directory (logs, data) after stop().
"""
from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD_SH = HERE / "build.sh"

SERVICE_CIDRS = ("10.96.0.0/16", "fd00:10:96::/112")
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN_USER = "ironlb-admin"


class ControlPlaneError(RuntimeError):
    pass


class ProcessExited(ControlPlaneError):
    """etcd or kube-apiserver exited while being waited for."""


class BinariesMissing(ControlPlaneError):
    """build.sh --check says the binaries are not built (yet)."""


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: str
    kubectl: str
    etcd: str


def ironlb_k8s_bin() -> str:
    """The ironlb-k8s executable under test: $IRONLB_K8S_BIN, else the one
    next to $IRONLB_BIN (CI sets it to the ASan build), else build/ or
    build-asan/ of the checkout.  FileNotFoundError when there is none."""
    b = os.environ.get("IRONLB_K8S_BIN")
    if b:
        return os.path.abspath(b)
    root = HERE.parents[1]
    cands = []
    if os.environ.get("IRONLB_BIN"):
        cands.append(Path(os.environ["IRONLB_BIN"]).resolve().parent / "ironlb-k8s")
    cands += [root / d / "ironlb-k8s" for d in ("build", "build-asan")]
    for c in cands:
        if c.exists():
            return str(c)
    raise FileNotFoundError("ironlb-k8s not found: build it (ninja -C build ironlb-k8s) or "
                            "set IRONLB_K8S_BIN")


def ironlb_bin() -> str:
    """The ironlb executable under test (for `ironlb check` / `plan` on the
    manifests a test applies): $IRONLB_BIN, else build/ or build-asan/ of
    the checkout."""
    b = os.environ.get("IRONLB_BIN")
    if b:
        return b
    root = HERE.parents[1]
    for cand in (root / "build" / "ironlb", root / "build-asan" / "ironlb"):
        if cand.exists():
            return str(cand)
    raise AssertionError("ironlb binary not found: build it or set IRONLB_BIN")


def _build_sh(what: str, build: bool, timeout: float | None) -> dict[str, str]:
    """Run build.sh [--check] WHAT and return the NAME=/path lines it printed
    (see find_binaries for what build means)."""
    cmd = ["sh", str(BUILD_SH)] + ([] if build else ["--check"]) + [what]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        if not build:
            raise BinariesMissing(p.stderr.strip())
        raise ControlPlaneError(f"{BUILD_SH} {what} failed (exit {p.returncode}):\n{p.stderr}")
    return dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)


def find_binaries(build: bool = False, timeout: float | None = None) -> Binaries:
    """Locate kube-apiserver, kubectl and etcd.

    With build=False, only binaries already built are accepted
    (build.sh --check; raises BinariesMissing otherwise).  With build=True,
    build.sh builds what is missing first (a cold build takes many minutes)
    and a failure raises ControlPlaneError carrying go's error output."""
    env = {k: os.environ.get("IRONLB_" + k) for k in ("KUBE_APISERVER", "KUBECTL", "ETCD")}
    if all(env.values()):
        return Binaries(env["KUBE_APISERVER"], env["KUBECTL"], env["ETCD"])
    paths = _build_sh("plane", build, timeout)
    try:
        return Binaries(paths["KUBE_APISERVER"], paths["KUBECTL"], paths["ETCD"])
    except KeyError as e:
        raise ControlPlaneError(f"{BUILD_SH} printed no {e}: {paths!r}") from None


@dataclass(frozen=True)
class Tools:
    helm: str
    promtool: str


def find_tools(build: bool = False, timeout: float | None = None) -> Tools:
    """Locate helm and promtool (build.sh tools), as find_binaries does the
    plane; $IRONLB_HELM and $IRONLB_PROMTOOL if both are set."""
    env = {k: os.environ.get("IRONLB_" + k) for k in ("HELM", "PROMTOOL")}
    if all(env.values()):
        return Tools(env["HELM"], env["PROMTOOL"])
    paths = _build_sh("tools", build, timeout)
    try:
        return Tools(paths["HELM"], paths["PROMTOOL"])
    except KeyError as e:
        raise ControlPlaneError(f"{BUILD_SH} tools printed no {e}: {paths!r}") from None


def free_ports(n: int) -> list[int]:
    """n distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        raise ControlPlaneError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n"
                                f"{p.stdout}{p.stderr}")
    return p


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _die_with_parent():
    """In the child before exec: SIGKILL it when the process that started it
    dies (Linux PR_SET_PDEATHSIG), so no etcd or kube-apiserver outlives a
    killed test run.  atexit and stop() handle the orderly cases."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: rely on stop()/atexit
        pass


class _Proc:
    """A child process whose output goes to a log file."""

    def __init__(self, name: str, argv: list[str], log: Path):
        self.name, self.argv, self.log = name, argv, log
        self.popen: subprocess.Popen | None = None

    def start(self):
        with open(self.log, "ab") as f:
            f.write(f"\n==== {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            f.flush()
            # A process group of its own: a Ctrl-C to pytest does not reach
            # it before stop() does, and stop() ends exactly this process.
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=f,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=_die_with_parent)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self):
        if self.popen is not None and self.popen.poll() is not None:
            raise ProcessExited(
                f"{self.name} exited with {self.popen.returncode}; log {self.log}:\n"
                f"{_tail(self.log)}")

    def stop(self, timeout: float = 15.0):
        p, self.popen = self.popen, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def wait_until(cond, timeout: float = 30.0, what: str = "condition"):
    """Poll cond() (short, growing intervals) until it returns a true value,
    which is returned; raise ControlPlaneError at the deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


_live: "weakref.WeakSet[ControlPlane]" = weakref.WeakSet()


@atexit.register
def _stop_all():
    for cp in list(_live):
        try:
            cp.stop()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


class ControlPlane:
    """etcd + kube-apiserver on loopback.  Use as a context manager, or call
    start() and stop() (stop() also runs at interpreter exit).

    Attributes once started: url, kubeconfig (admin), admin_token, ca_file,
    etcd_url, dir (the temporary directory: data, pki, logs)."""

    # Without a controller-manager nothing creates the ServiceAccounts the
    # ServiceAccount admission plugin wants; the kubelet test, which runs
    # one, turns it back on (its Pods need the token volume it adds).
    disabled_admission: tuple[str, ...] = ("ServiceAccount",)

    def __init__(self, binaries: Binaries | None = None, service_cidrs=SERVICE_CIDRS,
                 ready_timeout: float = 180.0, keep: bool | None = None,
                 extra_apiserver_args: list[str] | None = None):
        self.bin = binaries or find_binaries()
        self.service_cidrs = tuple(service_cidrs)
        self.ready_timeout = ready_timeout
        self.keep = os.environ.get("IRONLB_K8S_KEEP") == "1" if keep is None else keep
        self.extra_apiserver_args = list(extra_apiserver_args or [])
        self.dir: Path | None = None
        self._etcd: _Proc | None = None
        self._apiserver: _Proc | None = None

    # ---- lifecycle -------------------------------------------------------

    def __enter__(self) -> "ControlPlane":
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self) -> "ControlPlane":
        if self.dir is not None:
            raise ControlPlaneError("already started")
        self.dir = Path(tempfile.mkdtemp(prefix="ironlb-k8s-"))
        _live.add(self)
        try:
            self._prepare()
            self._start_etcd()
            self._start_apiserver()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stop kube-apiserver, then etcd; remove the directory unless keep."""
        for p in (self._apiserver, self._etcd):
            if p is not None:
                p.stop()
        _live.discard(self)
        if self.dir is not None and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def restart_apiserver(self):
        """Stop kube-apiserver and start it again on the same port and etcd."""
        self._apiserver.stop()
        self._start_apiserver(same_port=True)

    def restart_etcd(self):
        """Stop etcd and start it again on the same data dir and ports (the
        API server stays up and reconnects); waits until the API server is
        ready again."""
        self._etcd.stop()
        self._start_etcd(same_ports=True)
        self.wait_ready()

    # ---- setup -----------------------------------------------------------

    def _prepare(self):
        d = self.dir
        for sub in ("etcd", "pki", "logs"):
            (d / sub).mkdir()
        self.admin_token = base64.b32encode(os.urandom(20)).decode().lower()
        self.token_file = d / "tokens.csv"
        # token,user,uid,"groups": system:masters bypasses RBAC.
        self.token_file.write_text(f'{self.admin_token},{ADMIN_USER},{ADMIN_USER}-uid,'
                                   f'"system:masters"\n')
        os.chmod(self.token_file, 0o600)
        self.sa_key = d / "pki" / "sa.key"
        _run(["openssl", "genrsa", "-out", str(self.sa_key), "2048"])
        self.cert_dir = d / "pki" / "serving"
        self.ca_file = self.cert_dir / "apiserver.crt"
        self.kubeconfig = d / "admin.kubeconfig"

    def _start_etcd(self, same_ports: bool = False):
        last = None
        # A free port can be taken before etcd binds it: then etcd exits and
        # a fresh attempt (new ports, empty data dir) follows.
        for _ in range(3):
            if not same_ports:
                self.etcd_port, self.etcd_peer_port = free_ports(2)
                shutil.rmtree(self.dir / "etcd")
                (self.dir / "etcd").mkdir(mode=0o700)
            self.etcd_url = f"http://127.0.0.1:{self.etcd_port}"
            peer = f"http://127.0.0.1:{self.etcd_peer_port}"
            self._etcd = _Proc("etcd", [
                self.bin.etcd,
                "--name=ironlb-test",
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=ironlb-test={peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ], self.dir / "logs" / "etcd.log")
            self._etcd.start()
            try:
                self._wait(self._etcd_healthy, self.ready_timeout, "etcd /health", self._etcd)
                return
            except ProcessExited as e:
                last = e
                if same_ports:
                    break
            except ControlPlaneError:
                self._etcd.stop()
                raise
        raise last

    def _etcd_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.etcd_url + "/health", timeout=2) as r:
                return json.load(r).get("health") == "true"
        except (OSError, ValueError):
            return False

    def _start_apiserver(self, same_port: bool = False):
        last = None
        for _ in range(3):
            if not same_port:
                self.port = free_port()
            self.url = f"https://127.0.0.1:{self.port}"
            self._apiserver = _Proc("kube-apiserver", [
                self.bin.kube_apiserver,
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--cert-dir={self.cert_dir}",
                f"--service-cluster-ip-range={','.join(self.service_cidrs)}",
                "--authorization-mode=RBAC",
                f"--token-auth-file={self.token_file}",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-key-file={self.sa_key}",
                f"--service-account-signing-key-file={self.sa_key}",
                "--endpoint-reconciler-type=none",
                *([f"--disable-admission-plugins={','.join(self.disabled_admission)}"]
                  if self.disabled_admission else []),
                "--profiling=false",
                *self.extra_apiserver_args,
            ], self.dir / "logs" / "kube-apiserver.log")
            self._apiserver.start()
            try:
                self.wait_ready()
                break
            except ProcessExited as e:  # e.g. the port was taken: try another
                last = e
                if same_port:
                    raise
            except ControlPlaneError:
                self._apiserver.stop()
                raise
        else:
            raise last
        self._write_admin_kubeconfig()
        # The default namespaces come from a controller inside the API server
        # that need not have run when /readyz first says ok.
        self._wait(lambda: self._get("/api/v1/namespaces/default") == 200,
                   self.ready_timeout, "namespace default", self._apiserver)

    def wait_ready(self, timeout: float | None = None):
        """Poll /readyz until it answers 200 ok (raises on deadline or exit)."""
        self._wait(lambda: self._get("/readyz") == 200, timeout or self.ready_timeout,
                   "kube-apiserver /readyz", self._apiserver)

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.ca_file.exists():
            return None
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _get(self, path: str) -> int | None:
        try:
            ctx = self._ssl()
        except (OSError, ssl.SSLError):  # cert file being written
            return None
        if ctx is None:
            return None
        req = urllib.request.Request(self.url + path,
                                     headers={"Authorization": f"Bearer {self.admin_token}"})
        try:
            with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (OSError, ssl.SSLError):
            return None

    @staticmethod
    def _wait(cond, timeout: float, what: str, proc: _Proc | None):
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            if proc is not None:
                proc.check_alive()
            if cond():
                return
            if time.monotonic() > deadline:
                log = f"; log {proc.log}:\n{_tail(proc.log)}" if proc else ""
                raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}{log}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    # ---- kubeconfigs -----------------------------------------------------

    def _write_admin_kubeconfig(self):
        self.write_kubeconfig(self.admin_token, self.kubeconfig, user=ADMIN_USER)

    def write_kubeconfig(self, token: str, path, user: str = "user",
                         server: str | None = None) -> Path:
        """A kubeconfig for this plane that authenticates with `token`.
        A relative path is taken inside the plane's directory.  `server`
        replaces the API server's URL (e.g. a relay's; the certificate is
        for 127.0.0.1)."""
        path = Path(path)
        if not path.is_absolute():
            path = self.dir / path
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "ironlb-test", "cluster": {
                "server": server or self.url, "certificate-authority-data": ca}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "ironlb-test", "context": {
                "cluster": "ironlb-test", "user": user}}],
            "current-context": "ironlb-test",
        }
        path.write_text(json.dumps(cfg, indent=2))  # JSON is YAML
        os.chmod(path, 0o600)
        return path

    # ---- kubectl ---------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                kubeconfig=None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run the matching kubectl against this plane (admin unless another
        kubeconfig is given).  check=True raises with kubectl's output."""
        cmd = [self.bin.kubectl, f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n"
                                    f"{p.stdout}{p.stderr}")
        return p

    def kubectl_json(self, *args: str, **kw):
        return json.loads(self.kubectl(*args, "-o", "json", **kw).stdout)

    def apply(self, manifest, **kw) -> subprocess.CompletedProcess:
        """kubectl apply a manifest given as YAML/JSON text or a dict."""
        if not isinstance(manifest, str):
            manifest = json.dumps(manifest)
        return self.kubectl("apply", "-f", "-", input=manifest, **kw)

    def create_namespace(self, name: str):
        self.kubectl("create", "namespace", name)

    def create_service_account(self, name: str, namespace: str):
        """Nothing creates ServiceAccounts here (no controller-manager)."""
        self.kubectl("create", "serviceaccount", name, "-n", namespace)

    def create_token(self, service_account: str, namespace: str,
                     duration: str = "1h") -> str:
        """A bound token for an existing ServiceAccount (kubectl create token)."""
        return self.kubectl("create", "token", service_account, "-n", namespace,
                            f"--duration={duration}").stdout.strip()

    def service_account_kubeconfig(self, service_account: str, namespace: str) -> Path:
        """A kubeconfig that acts as the ServiceAccount (token made now)."""
        token = self.create_token(service_account, namespace)
        return self.write_kubeconfig(token, f"sa-{namespace}-{service_account}.kubeconfig",
                                     user=f"{namespace}-{service_account}")
