"""A small network-namespace lab for ironlb's end-to-end tests, demo and
benchmarks.

Topology: one namespace per switch, holding a Linux bridge, and one
namespace per host (client, node-a, node-b, ...), each host interface a
veth pair whose other end is a port of a switch's bridge:

    client:eth0 --+
    node-a:eth0 --+-- br0 in "sw"
    node-b:eth0 --+

Every name this lab creates starts with ``ilb-<pid>-<n>-`` so parallel runs
and leftovers never collide; ``sweep()`` removes the namespaces of runs
whose process is gone.  Teardown always runs: ``Lab`` is a context manager,
every live lab is closed at exit (atexit) and on SIGTERM, and SIGINT
unwinds through the ``with`` blocks (it is held off while a teardown is in
progress).  Teardown stops every process the lab started, kills whatever is
still inside its namespaces, and deletes the namespaces.

Addresses: each switch has an IPv4 and an IPv6 subnet; hosts get the next
address of each (``.1``, ``.2``, ... / ``::1``, ``::2``, ...).  IPv6
addresses are added with ``nodad`` and every namespace has accept_dad=0, so
nothing waits for Duplicate Address Detection.  Node namespaces get
``arp_ignore=1`` / ``arp_announce=2`` (what kube-proxy's strictARP asks
for): the kernel then answers ARP only for addresses of the interface the
request came in on, so addresses that ``ironlb run --install-vips`` puts on
``lo`` are answered by ironlb alone.

Traffic stays inside the lab: every command runs in one of its namespaces.
Every wait is bounded: ``poll()`` retries until a deadline and then raises
with the last value seen.
"""
import atexit
import contextlib
import ctypes
import ipaddress
import json
import os
import pathlib
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
PREFIX = "ilb-"
SERVICE_V4 = "192.168.100.0/24"
SERVICE_V6 = "2001:db8:1::/64"
HOSTS_V4 = "192.168.1.0/24"
HOSTS_V6 = "2001:db8:ff::/64"
STATUS_PORT = 7472
HTTP_PORT = 80

_NS_RE = re.compile(r"^ilb-(\d+)-\d+-")
_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def ironlb_bin():
    return os.environ.get("IRONLB_BIN") or str(ROOT / "build" / "ironlb")


# ---------------------------------------------------------------------------
# small helpers


class PollTimeout(AssertionError):
    """poll() gave up; the message holds the last value (or exception)."""


def poll(fn, timeout=10.0, interval=0.05, what=None):
    """Call fn() until it returns something truthy and return that; after
    `timeout` seconds raise PollTimeout with the last value or exception."""
    deadline = time.monotonic() + timeout
    last, last_exc = None, None
    while True:
        try:
            last = fn()
            last_exc = None
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - report it when we give up
            last_exc = e
        if time.monotonic() >= deadline:
            desc = what or getattr(fn, "__name__", "condition")
            detail = f"last exception: {last_exc!r}" if last_exc else f"last value: {last!r}"
            raise PollTimeout(f"{desc}: not true after {timeout:.1f}s; {detail}")
        time.sleep(interval)


def _run(args, timeout=30, check=True, input=None):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))}: exit {p.returncode}: "
                           f"{p.stderr.strip() or p.stdout.strip()}")
    return p


def is_root():
    return os.geteuid() == 0


def missing_tools():
    """Programs the lab needs that are not on PATH."""
    return [t for t in ("ip", "sysctl", "arping", "ndisc6", "curl") if not shutil.which(t)]


@contextlib.contextmanager
def netns(name):
    """Run the body with the *calling thread* in network namespace `name`
    (sockets created there stay in it).  Only for creating sockets: a
    subprocess started inside would inherit the namespace."""
    cur = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    tgt = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(tgt, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns({name}): {os.strerror(e)}")
        try:
            yield
        finally:
            if _libc.setns(cur, CLONE_NEWNET) != 0:  # cannot go on in the wrong namespace
                os._exit(70)
    finally:
        os.close(tgt)
        os.close(cur)


# ---------------------------------------------------------------------------
# teardown on exit and on signals

_live = []            # labs not yet closed
_closing = 0          # teardowns in progress: SIGINT is held off meanwhile
_handlers_installed = False


def _close_all():
    for lab in list(_live):
        lab.close()


def _on_signal(signum, frame):
    if signum == signal.SIGINT:
        if _closing:
            return  # let the teardown finish; the with-blocks unwind afterwards
        raise KeyboardInterrupt
    # SIGTERM: nobody would unwind for us (pytest reports SystemExit as a
    # failure and goes on), so tear down here and die of the signal.
    _close_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    _handlers_installed = True
    atexit.register(_close_all)
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _on_signal)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_ns_pids(ns):
    """SIGKILL the processes still inside namespace `ns` (all of them were
    started by a lab), by pid."""
    p = _run(["ip", "netns", "pids", ns], check=False, timeout=10)
    for tok in p.stdout.split():
        if tok.isdigit() and int(tok) != os.getpid():
            try:
                os.kill(int(tok), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _list_netns():
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def sweep():
    """Delete leftover ilb-<pid>-* namespaces whose creating process is
    gone.  Returns the names removed."""
    removed = []
    for ns in _list_netns():
        m = _NS_RE.match(ns)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        _kill_ns_pids(ns)
        if _run(["ip", "netns", "del", ns], check=False, timeout=10).returncode == 0:
            removed.append(ns)
    return removed


# ---------------------------------------------------------------------------
# processes


class Proc:
    """A process started inside a namespace, output in a log file."""

    def __init__(self, name, args, log, popen):
        self.name = name
        self.args = args
        self.log = log
        self.popen = popen
        self.pid = popen.pid

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def output(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def send(self, sig):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Send `sig`, wait up to `timeout`, then SIGKILL.  Returns the exit
        code (negative: killed by that signal)."""
        if self.alive():
            self.send(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.send(signal.SIGKILL)
                self.popen.wait(5)
        return self.popen.returncode

    def wait(self, timeout):
        return self.popen.wait(timeout)


# ---------------------------------------------------------------------------
# topology


class Iface:
    def __init__(self, host, name, switch, v4, v6):
        self.host = host
        self.name = name
        self.switch = switch
        self.v4 = v4        # "192.168.1.2"
        self.v6 = v6        # "2001:db8:ff::2"

    @property
    def mac(self):
        return self.host.mac(self.name)


class Switch:
    def __init__(self, lab, name, v4, v6):
        self.lab = lab
        self.name = name
        self.ns = lab.ns_name(name)
        self.v4 = ipaddress.ip_network(v4)
        self.v6 = ipaddress.ip_network(v6)
        self.next_host = 1
        self.nports = 0

    def run(self, args, **kw):
        return self.lab.run_in(self.ns, args, **kw)


class Host:
    def __init__(self, lab, name, strict_arp):
        self.lab = lab
        self.name = name
        self.ns = lab.ns_name(name)
        self.ifaces = {}
        self.strict_arp = strict_arp

    def __repr__(self):
        return f"<Host {self.name} ns={self.ns}>"

    def run(self, args, **kw):
        return self.lab.run_in(self.ns, args, **kw)

    def spawn(self, args, name=None):
        return self.lab.spawn(self, args, name)

    def connect(self, switch, ifname="eth0", hostnum=None):
        """A veth pair: `ifname` here, a port of `switch`'s bridge there;
        the next free IPv4 and IPv6 addresses of the switch's subnets."""
        n = hostnum if hostnum is not None else switch.next_host
        switch.next_host = max(switch.next_host, n + 1)
        switch.nports += 1
        port = f"p{switch.nports}"
        v4 = str(switch.v4.network_address + n)
        v6 = str(switch.v6.network_address + n)
        _run(["ip", "-n", switch.ns, "link", "add", port, "type", "veth", "peer", "name",
              ifname, "netns", self.ns])
        _run(["ip", "-n", switch.ns, "link", "set", port, "master", "br0", "up"])
        self.run(["ip", "addr", "add", f"{v4}/{switch.v4.prefixlen}", "dev", ifname])
        self.run(["ip", "addr", "add", f"{v6}/{switch.v6.prefixlen}", "dev", ifname, "nodad"])
        self.run(["ip", "link", "set", ifname, "up"])
        ifc = Iface(self, ifname, switch, v4, v6)
        self.ifaces[ifname] = ifc
        return ifc

    def route(self, prefix, ifname="eth0"):
        """An on-link route: neighbours in `prefix` are resolved on `ifname`."""
        self.run(["ip", "route", "add", prefix, "dev", ifname])

    def mac(self, ifname="eth0"):
        out = self.run(["ip", "-j", "link", "show", "dev", ifname]).stdout
        return json.loads(out)[0]["address"].lower()

    def neigh(self, ip, ifname="eth0"):
        """The MAC of the kernel's neighbour entry for ip ('' when none)."""
        out = self.run(["ip", "-j", "neigh", "show", ip, "dev", ifname]).stdout
        for e in json.loads(out or "[]"):
            if e.get("lladdr"):
                return e["lladdr"].lower()
        return ""

    def neigh_flush(self, ifname="eth0"):
        self.run(["ip", "neigh", "flush", "dev", ifname], check=False)

    def curl(self, ip, port=HTTP_PORT, path="/", timeout=3.0):
        """GET http://ip/ from this host; returns (http_code, body); code 0
        when the connection failed (curl's exit code in body)."""
        fam = "-6" if ":" in ip else "-4"
        host = f"[{ip}]" if ":" in ip else ip
        p = self.run(["curl", fam, "-sS", "--noproxy", "*", "--connect-timeout",
                      str(timeout), "-m", str(timeout + 1), "-o", "-", "-w",
                      "\n%{http_code}", f"http://{host}:{port}{path}"],
                     check=False, timeout=timeout + 10)
        if p.returncode != 0:
            return 0, f"curl exit {p.returncode}: {p.stderr.strip()}"
        body, _, code = p.stdout.rpartition("\n")
        return int(code), body

    def arping(self, ip, ifname="eth0", count=3, interval=0.1, deadline=None):
        """Thomas Habets' arping from this host: the MAC of every reply, in
        order (one entry per reply; [] when nobody answered)."""
        deadline = deadline if deadline is not None else count * interval + 1
        p = self.run(["arping", "-i", ifname, "-c", str(count), "-W", str(interval), "-w",
                      str(deadline), ip], check=False, timeout=deadline + 10)
        return [m.lower() for m in
                re.findall(r"bytes from ([0-9a-fA-F:]{17}) \(", p.stdout)]

    def ndisc6(self, ip, ifname="eth0", tries=2, wait_ms=400):
        """ndisc6 (Neighbor Solicitation) from this host, waiting for every
        answer (-m): the MAC of every advertisement received."""
        p = self.run(["ndisc6", "-m", "-n", "-r", str(tries), "-w", str(wait_ms), ip, ifname],
                     check=False, timeout=tries * wait_ms / 1000 + 10)
        return [m.lower() for m in
                re.findall(r"Target link-layer address:\s*([0-9A-Fa-f:]{17})", p.stdout)]

    def solicit(self, ip, ifname="eth0", tries=2, wait=0.4):
        """Neighbor Solicitation for ip (to its solicited-node group, with a
        source link-layer address option) from a raw ICMPv6 socket: the
        target link-layer address of every valid Neighbor Advertisement
        for ip, in order.  Unlike ndisc6 1.0.5 it accepts advertisements
        from any source address (RFC 4861 7.2.4: an address of the sending
        interface, e.g. its link-local one)."""
        target = socket.inet_pton(socket.AF_INET6, ip)
        group = b"\xff\x02" + b"\x00" * 9 + b"\x01\xff" + target[13:]
        mac = bytes.fromhex(self.mac(ifname).replace(":", ""))
        ns_msg = struct.pack("!BBHI", 135, 0, 0, 0) + target + b"\x01\x01" + mac
        with netns(self.ns):
            s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            index = socket.if_nametoindex(ifname)
        out = []
        try:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            for _ in range(tries):
                s.sendto(ns_msg, (socket.inet_ntop(socket.AF_INET6, group), 0, 0, index))
                end = time.monotonic() + wait
                got = False
                while (left := end - time.monotonic()) > 0:
                    if not select.select([s], [], [], left)[0]:
                        break
                    data, anc, _, _ = s.recvmsg(2048, 64)
                    hlim = [struct.unpack("i", v[:4])[0] for lvl, typ, v in anc
                            if lvl == socket.IPPROTO_IPV6 and typ == socket.IPV6_HOPLIMIT]
                    if len(data) < 24 or data[0] != 136 or data[1] != 0 or data[8:24] != target:
                        continue
                    if not data[4] & 0x40:  # unsolicited (a takeover announcement)
                        continue
                    if hlim and hlim[0] != 255:  # RFC 4861 7.1.2
                        continue
                    opts = data[24:]
                    while len(opts) >= 8 and opts[1]:
                        if opts[0] == 2:
                            out.append(_mac(opts[2:8]))
                            got = True
                        opts = opts[opts[1] * 8:]
                if got:
                    break
        finally:
            s.close()
        return out

    def listening(self, port, ip="127.0.0.1"):
        """True when something accepts TCP connections on ip:port here."""
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        with netns(self.ns):
            s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect((ip, port))
            return True
        except OSError:
            return False
        finally:
            s.close()


class Lab:
    """Namespaces, links and processes of one lab; see the module text."""

    _seq = 0

    def __init__(self, workdir=None, keep_logs=True):
        if not is_root():
            raise PermissionError("the lab needs root (network namespaces)")
        sweep()
        Lab._seq += 1
        self.id = f"{PREFIX}{os.getpid()}-{Lab._seq}"
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix=f"{self.id}-")
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.namespaces = []
        self.switches = {}
        self.hosts = {}
        self.procs = []
        self.closed = False
        _install_handlers()
        _live.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def ns_name(self, name):
        return f"{self.id}-{name}"

    def run_in(self, ns, args, timeout=30, check=True, input=None):
        return _run(["ip", "netns", "exec", ns, *map(str, args)], timeout=timeout,
                    check=check, input=input)

    def _new_ns(self, name):
        ns = self.ns_name(name)
        _run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        self.run_in(ns, ["ip", "link", "set", "lo", "up"])
        # Before any interface exists, so every interface inherits them.
        for k, v in (("net.ipv6.conf.all.accept_dad", 0),
                     ("net.ipv6.conf.default.accept_dad", 0),
                     ("net.ipv6.conf.all.dad_transmits", 0),
                     ("net.ipv6.conf.default.dad_transmits", 0),
                     ("net.ipv6.conf.all.forwarding", 0)):
            self.run_in(ns, ["sysctl", "-qw", f"{k}={v}"])
        return ns

    def switch(self, name="sw", v4=HOSTS_V4, v6=HOSTS_V6):
        sw = Switch(self, name, v4, v6)
        self._new_ns(name)
        sw.run(["ip", "link", "add", "br0", "type", "bridge"])
        sw.run(["ip", "link", "set", "br0", "up"])
        self.switches[name] = sw
        return sw

    def host(self, name, strict_arp=False):
        h = Host(self, name, strict_arp)
        self._new_ns(name)
        if strict_arp:
            for k, v in (("net.ipv4.conf.all.arp_ignore", 1),
                         ("net.ipv4.conf.all.arp_announce", 2)):
                h.run(["sysctl", "-qw", f"{k}={v}"])
        self.hosts[name] = h
        return h

    def spawn(self, host, args, name=None):
        """Start args inside host's namespace; stdout and stderr go to
        <workdir>/<name>.log (name defaults to host-program)."""
        if self.closed:
            raise RuntimeError("lab is closed")
        base = name or f"{host.name}-{pathlib.Path(str(args[0])).name}"
        log = self.workdir / f"{base}.log"
        k = 1
        while log.exists():
            k += 1
            log = self.workdir / f"{base}.{k}.log"
        with open(log, "wb") as f:
            popen = subprocess.Popen(["ip", "netns", "exec", host.ns, *map(str, args)],
                                     stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        p = Proc(base, args, log, popen)
        self.procs.append(p)
        return p

    def close(self):
        """Stop every process, delete every namespace.  Idempotent."""
        global _closing
        if self.closed:
            return
        _closing += 1
        try:
            self.closed = True
            for p in reversed(self.procs):
                try:
                    p.stop(timeout=3)
                except Exception:  # noqa: BLE001 - keep tearing down
                    pass
            # Hosts first (their veth ends go with them), then switches.
            for ns in reversed(self.namespaces):
                _kill_ns_pids(ns)
                _run(["ip", "netns", "del", ns], check=False, timeout=10)
            if self in _live:
                _live.remove(self)
        finally:
            _closing -= 1

    def alive_namespaces(self):
        return [ns for ns in _list_netns() if ns.startswith(self.id + "-")]


def l2_lab(lab, nodes=("node-a", "node-b"), clients=("client",)):
    """The standard topology: one switch, clients with on-link routes to
    the service ranges, and nodes (strict ARP).  Returns (switch, clients
    dict, nodes dict)."""
    sw = lab.switch("sw")
    cs = {}
    for c in clients:
        h = lab.host(c)
        h.connect(sw, "eth0")
        h.route(SERVICE_V4)
        h.route(SERVICE_V6)
        cs[c] = h
    ns = {}
    for n in nodes:
        h = lab.host(n, strict_arp=True)
        h.connect(sw, "eth0")
        ns[n] = h
    return sw, cs, ns


# ---------------------------------------------------------------------------
# an HTTP server that names its node


HTTPD = r"""
import http.server, socket, socketserver, sys
name, port = sys.argv[1], int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (name + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *a):
        sys.stderr.write("%s %s\n" % (self.client_address[0], fmt % a))
        sys.stderr.flush()
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    def server_bind(self):
        # both families on one socket; no getfqdn() (no DNS in the lab)
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = name, port
S(("::", port), H).serve_forever()
"""


def start_httpd(host, port=HTTP_PORT, timeout=10):
    """An HTTP server on [::]:port (IPv4 too) in host's namespace that
    answers every GET with the host's name."""
    p = host.spawn([sys.executable, "-c", HTTPD, host.name, port], name=f"{host.name}-httpd")
    poll(lambda: host.listening(port) or (not p.alive() and _dead(p)), timeout,
         what=f"httpd on {host.name}:{port}")
    return p


def _dead(p):
    raise RuntimeError(f"{p.name} exited {p.returncode}: {p.output()[-2000:]}")


# ---------------------------------------------------------------------------
# ironlb run


class Ironlb:
    """`ironlb run` in a node's namespace, with its manifests directory,
    state file and status address (127.0.0.1:7472 inside the namespace)."""

    def __init__(self, host, manifests, state=None, port=STATUS_PORT, install_vips=True,
                 extra=()):
        self.host = host
        self.manifests = pathlib.Path(manifests)
        self.state = pathlib.Path(state) if state else host.lab.workdir / f"{host.name}.state"
        self.port = port
        self.install_vips = install_vips
        self.extra = list(extra)
        self.proc = None

    @property
    def server(self):
        return f"http://127.0.0.1:{self.port}"

    def args(self):
        a = [ironlb_bin(), "run", "--manifests", self.manifests, "--node-name", self.host.name,
             "--state", self.state, "--listen", f"127.0.0.1:{self.port}"]
        if self.install_vips:
            a.append("--install-vips")
        return a + self.extra

    def start(self, timeout=10):
        self.proc = self.host.spawn(self.args(), name=f"{self.host.name}-ironlb")
        poll(lambda: self._up(), timeout, what=f"ironlb on {self.host.name} serving /status")
        return self

    def _up(self):
        if not self.proc.alive():
            _dead(self.proc)
        return self.host.listening(self.port)

    def stop(self, timeout=5):
        return self.proc.stop(signal.SIGTERM, timeout) if self.proc else None

    def status(self):
        """`ironlb status -o json` against this daemon, parsed."""
        p = self.host.run([ironlb_bin(), "status", "-o", "json", "--server", self.server],
                          timeout=15)
        return json.loads(p.stdout)

    def fetch(self, path):
        p = self.host.run(["curl", "-sS", "--noproxy", "*", "-m", "5", self.server + path],
                          timeout=15)
        return p.stdout

    def metric(self, name, labels=None):
        """The value of metric `name` (with exactly these labels when
        given), None when absent."""
        for line in self.fetch("/metrics").splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)", line)
            if not m or m.group(1) != name:
                continue
            if labels is not None:
                got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
                if got != labels:
                    continue
            return float(m.group(3))
        return None

    def log(self):
        return self.proc.output() if self.proc else ""


def status(node):
    """/status of an Ironlb (or of the Ironlb a Host runs) as JSON."""
    return node.status()


def service(st, name, namespace="default"):
    """The entry of Service namespace/name in a /status document, or None."""
    for s in st.get("services", []):
        if s.get("name") == name and s.get("namespace") == namespace:
            return s
    return None


def engine_addresses(st):
    """The addresses the L2 engine announces, from /status: {ip: entry}."""
    return {a["ip"]: a for a in (st.get("l2_engine") or {}).get("addresses", [])}


# ---------------------------------------------------------------------------
# manifests


def node_manifest(name, labels=None):
    lines = ["apiVersion: v1", "kind: Node", "metadata:", f"  name: {name}"]
    if labels:
        lines.append("  labels:")
        for k, v in labels.items():
            lines.append(f'    {k}: "{v}"')
    return "\n".join(lines) + "\n"


def service_manifest(name, namespace="default", families=("IPv4", "IPv6"), pool=None,
                     ips=None, port=80):
    policy = "RequireDualStack" if len(families) == 2 else "SingleStack"
    ann = {}
    if pool:
        ann["metallb.io/address-pool"] = pool
    if ips:
        ann["metallb.io/loadBalancerIPs"] = ips
    lines = ["apiVersion: v1", "kind: Service", "metadata:", f"  name: {name}",
             f"  namespace: {namespace}"]
    if ann:
        lines.append("  annotations:")
        lines += [f"    {k}: {v}" for k, v in ann.items()]
    lines += ["spec:", "  type: LoadBalancer", f"  ipFamilyPolicy: {policy}", "  ipFamilies:"]
    lines += [f"  - {f}" for f in families]
    lines += ["  selector:", f"    app: {name}", "  ports:", f"  - port: {port}",
              "    protocol: TCP"]
    return "\n".join(lines) + "\n"


def pool_manifest(name, addresses, namespace="metallb-system", auto_assign=True):
    lines = ["apiVersion: metallb.io/v1beta1", "kind: IPAddressPool", "metadata:",
             f"  name: {name}", f"  namespace: {namespace}", "spec:", "  addresses:"]
    lines += [f"  - {a}" for a in addresses]
    lines.append(f"  autoAssign: {'true' if auto_assign else 'false'}")
    return "\n".join(lines) + "\n"


def l2adv_manifest(name, pools=None, interfaces=None, namespace="metallb-system"):
    lines = ["apiVersion: metallb.io/v1beta1", "kind: L2Advertisement", "metadata:",
             f"  name: {name}", f"  namespace: {namespace}"]
    spec = []
    if pools:
        spec.append("  ipAddressPools:")
        spec += [f"  - {p}" for p in pools]
    if interfaces:
        spec.append("  interfaces:")
        spec += [f"  - {i}" for i in interfaces]
    lines += ["spec:"] + spec if spec else ["spec: {}"]
    return "\n".join(lines) + "\n"


def write_atomic(path, text):
    """Write a file the way a careful tool does: a temporary file in
    another directory, renamed into place (one inotify event, never a
    half-written file)."""
    path = pathlib.Path(path)
    tmp = path.parent.parent / f".{path.name}.{os.getpid()}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# packets on the wire

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4


def _mac(b):
    return ":".join(f"{x:02x}" for x in b)


class Frame:
    """What the sniffer understood of one frame: ARP, or ICMPv6 NS/NA."""

    __slots__ = ("ts", "outgoing", "src", "dst", "kind", "op", "sha", "spa", "tha", "tpa",
                 "ip_src", "ip_dst", "target", "solicited", "override", "router", "lla")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def __repr__(self):
        if self.kind == "arp":
            return (f"<arp op={self.op} {self.src}->{self.dst} sha={self.sha} spa={self.spa} "
                    f"tpa={self.tpa}>")
        return (f"<{self.kind} {self.src}->{self.dst} {self.ip_src}->{self.ip_dst} "
                f"target={self.target} S={self.solicited} O={self.override} lla={self.lla}>")

    @property
    def gratuitous(self):
        """Gratuitous ARP (sender = target address) or unsolicited NA."""
        if self.kind == "arp":
            return self.spa == self.tpa
        if self.kind == "na":
            return not self.solicited
        return False


def parse_frame(data, ts=0.0, outgoing=False):
    """Parse an Ethernet frame into a Frame (ARP, NS, NA), else None."""
    if len(data) < 14:
        return None
    dst, src = _mac(data[0:6]), _mac(data[6:12])
    etype = struct.unpack("!H", data[12:14])[0]
    if etype == 0x0806 and len(data) >= 42:
        htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", data[14:22])
        if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4:
            return None
        return Frame(ts=ts, outgoing=outgoing, src=src, dst=dst, kind="arp", op=op,
                     sha=_mac(data[22:28]), spa=socket.inet_ntoa(data[28:32]),
                     tha=_mac(data[32:38]), tpa=socket.inet_ntoa(data[38:42]))
    if etype == 0x86DD and len(data) >= 14 + 40 + 24:
        ip6 = data[14:54]
        if ip6[6] != 58:  # no extension headers in NS/NA
            return None
        ip_src = socket.inet_ntop(socket.AF_INET6, ip6[8:24])
        ip_dst = socket.inet_ntop(socket.AF_INET6, ip6[24:40])
        icmp = data[54:]
        if icmp[0] not in (135, 136):
            return None
        flags = icmp[4]
        target = socket.inet_ntop(socket.AF_INET6, icmp[8:24])
        lla = None
        opts = icmp[24:]
        while len(opts) >= 8 and opts[1]:
            olen = opts[1] * 8
            if opts[0] in (1, 2) and olen >= 8:
                lla = _mac(opts[2:8])
            opts = opts[olen:]
        if icmp[0] == 135:
            return Frame(ts=ts, outgoing=outgoing, src=src, dst=dst, kind="ns", ip_src=ip_src,
                         ip_dst=ip_dst, target=target, lla=lla)
        return Frame(ts=ts, outgoing=outgoing, src=src, dst=dst, kind="na", ip_src=ip_src,
                     ip_dst=ip_dst, target=target, router=bool(flags & 0x80),
                     solicited=bool(flags & 0x40), override=bool(flags & 0x20), lla=lla)
    return None


class Sniffer:
    """Capture ARP and NS/NA frames on one interface of a host, with the
    kernel's receive timestamps (CLOCK_REALTIME), in a thread."""

    def __init__(self, host, ifname="eth0"):
        with netns(host.ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                      socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.frames = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            try:
                data, anc, _, addr = self.sock.recvmsg(65535, 256)
            except OSError:
                return
            ts = time.time()
            for lvl, typ, val in anc:
                if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(val) >= 16:
                    sec, nsec = struct.unpack("qq", val[:16])
                    ts = sec + nsec / 1e9
            f = parse_frame(data, ts, outgoing=addr[2] == PACKET_OUTGOING)
            if f:
                with self.lock:
                    self.frames.append(f)

    def snapshot(self, pred=None):
        with self.lock:
            fs = list(self.frames)
        return [f for f in fs if pred is None or pred(f)]

    def clear(self):
        with self.lock:
            self.frames.clear()

    def stop(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def garps(frames, ip):
    """Gratuitous ARP / unsolicited NA frames announcing ip (received)."""
    if ":" in ip:
        norm = ipaddress.ip_address(ip).compressed
        return [f for f in frames if f.kind == "na" and not f.outgoing and not f.solicited
                and ipaddress.ip_address(f.target).compressed == norm]
    return [f for f in frames if f.kind == "arp" and not f.outgoing and f.spa == ip
            and f.tpa == ip]


def arp_request(src_mac, src_ip, target_ip):
    """A broadcast ARP request frame (who-has target_ip tell src_ip)."""
    mac = bytes.fromhex(src_mac.replace(":", ""))
    return (b"\xff" * 6 + mac + struct.pack("!H", 0x0806) +
            struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + socket.inet_aton(src_ip) +
            b"\x00" * 6 + socket.inet_aton(target_ip))
