"""A failover lab on top of lab.py: three nodes and a client on one
switch, and the failures and client-side measurements the failover tests
and bench/failover.py need.

    client:eth0 --+
    node-a:eth0 --+
    node-b:eth0 --+-- br0 in "sw"
    node-c:eth0 --+

Failures, each returning the wall-clock time (time.time(), the clock of
the Sniffer's kernel timestamps) taken just before it was applied:

  kill(node)        SIGKILL every process in the node's namespace (its
                    daemon and its HTTP server), as a crashed host: all are
                    stopped first, so none reacts to another's death
  freeze(node)      SIGSTOP them all (a hung host: its kernel still
                    answers ARP for addresses on its interfaces and
                    completes TCP handshakes, but nothing answers);
                    thaw(node) sends SIGCONT
  link_down(node)   the node's switch port goes down (a pulled cable: the
                    node's eth0 loses carrier); link_up(node) restores it
  partition(g1, g2, ...)  the switch is cut into islands: each group's
                    ports on a bridge of their own, so frames cross no
                    group boundary; heal() puts every port back on br0

Measurements from the client:

  first_gratuitous(sniffer, ip, t0, not_mac)  the first gratuitous ARP /
                    unsolicited NA for ip received at or after t0 from a
                    MAC other than not_mac (the failed owner): (delay
                    seconds, mac)
  HttpLoop          a thread that GETs http://ip/ from the client over and
                    over (bounded in count and time), recording when each
                    request started and ended and which node answered;
                    outage(t0) is the client-visible gap around t0: from
                    the end of the last answered request before t0 to the
                    end of the first answered request that started after
                    t0

Load and captures:

  hogs(node, n, seconds)  n busy loops in node's namespace (niced 0, like
                    the daemons), each ending by itself after `seconds`
  UdpCapture(host, filter)  tcpdump writing a pcap in host's namespace;
                    payloads() gives the UDP payloads captured

Everything is torn down by the Lab it was built in (Lab.close() on exit,
on exceptions, on SIGINT and SIGTERM): bridges, ports and processes all
live in the lab's namespaces, so a lab closed mid-partition or with a
frozen node leaves nothing behind (SIGKILL reaches stopped processes).
"""
import json
import os
import pathlib
import signal
import socket
import struct
import threading
import time

import lab as labmod
from lab import poll

NODES = ("node-a", "node-b", "node-c")


class FailoverLab:
    def __init__(self, L, nodes=NODES, clients=("client",)):
        self.L = L
        self.sw, self.clients, self.nodes = labmod.l2_lab(L, nodes, clients)
        self.client = self.clients[clients[0]]
        self.bridges = []
        self.frozen = set()

    # --- where things are

    def host(self, name):
        return self.L.hosts[name]

    def port(self, name, ifname="eth0"):
        """The switch port (bridge member) cabled to name's ifname: the veth
        peer, found by the peer's interface index."""
        h = self.host(name)
        link = json.loads(h.run(["ip", "-j", "link", "show", "dev", ifname]).stdout)[0]
        peer = link["link_index"]
        for l in json.loads(self.sw.run(["ip", "-j", "link", "show"]).stdout):
            if l["ifindex"] == peer:
                return l["ifname"]
        raise RuntimeError(f"no switch port for {name}:{ifname}")

    def pids(self, name):
        """The processes inside name's namespace (not this one)."""
        p = labmod._run(["ip", "netns", "pids", self.host(name).ns], check=False, timeout=10)
        return [int(t) for t in p.stdout.split() if t.isdigit() and int(t) != os.getpid()]

    # --- failures

    def _signal(self, name, sig):
        pids = self.pids(name)
        t0 = time.time()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return t0

    def kill(self, name):
        # Stop them all first: a process whose parent dies before the
        # SIGKILL reaches it could otherwise react (keepalived's VRRP child
        # resigns with a priority-0 advertisement), which a crash does not.
        t0 = self._signal(name, signal.SIGSTOP)
        self._signal(name, signal.SIGKILL)
        self.frozen.discard(name)
        poll(lambda: not self.pids(name), 10, what=f"every process of {name} gone")
        return t0

    def freeze(self, name):
        self.frozen.add(name)
        return self._signal(name, signal.SIGSTOP)

    def thaw(self, name):
        self._signal(name, signal.SIGCONT)
        self.frozen.discard(name)

    def thaw_all(self):
        """SIGCONT every frozen node: call before the lab closes, so its
        teardown does not wait for stopped processes to take SIGTERM."""
        for name in list(self.frozen):
            self.thaw(name)

    def link_down(self, name, ifname="eth0"):
        port = self.port(name, ifname)
        t0 = time.time()
        self.sw.run(["ip", "link", "set", port, "down"])
        return t0

    def link_up(self, name, ifname="eth0"):
        self.sw.run(["ip", "link", "set", self.port(name, ifname), "up"])

    def hogs(self, name, n, seconds):
        """n busy loops in name's namespace, niced 0: the CPU load of
        a busy host.  Each ends by itself after `seconds`, so none outlives
        a crashed caller by long; the lab kills them on close in any case.
        Returns their Procs."""
        prog = ("import time\n"
                f"end = time.monotonic() + {float(seconds)}\n"
                "while time.monotonic() < end:\n"
                "    pass\n")
        return [self.host(name).spawn(["python3", "-c", prog], name=f"{name}-hog{k}")
                for k in range(n)]

    def partition(self, *groups):
        """Cut the switch into islands: the ports of the first group stay
        on br0, those of group k move to a bridge brK of their own (the
        kernel's bridge here has no VLAN filtering, and the lab no
        nftables, so the partition is made of link changes).  Hosts in no
        group stay on br0.  Returns t0, taken before the first move."""
        moves = []
        for k, g in enumerate(groups):
            for name in g:
                moves.append((self.port(name), f"br{k}"))
        for k in range(1, len(groups)):
            if f"br{k}" not in self.bridges:
                self.sw.run(["ip", "link", "add", f"br{k}", "type", "bridge"])
                self.sw.run(["ip", "link", "set", f"br{k}", "up"])
                self.bridges.append(f"br{k}")
        t0 = time.time()
        for port, br in moves:
            self.sw.run(["ip", "link", "set", port, "master", br])
        return t0

    def heal(self):
        """Every port back on br0."""
        for name in self.L.hosts:
            port = self.port(name)
            link = json.loads(self.sw.run(["ip", "-j", "link", "show", "dev", port]).stdout)[0]
            if link.get("master") != "br0":
                self.sw.run(["ip", "link", "set", port, "master", "br0"])


# ---------------------------------------------------------------------------
# measurements


def first_gratuitous(sniffer, ip, t0, not_mac=None, timeout=15.0):
    """(seconds from t0, source MAC) of the first gratuitous ARP or
    unsolicited NA for ip received at or after t0 whose sender is not
    not_mac; PollTimeout after timeout."""
    def seen():
        for f in labmod.garps(sniffer.snapshot(), ip):
            if f.ts >= t0 and (not_mac is None or f.src != not_mac):
                return (f.ts - t0, f.src)
        return None
    return poll(seen, timeout, interval=0.005, what=f"a gratuitous announcement of {ip}")


def _complete(data):
    """Whether data holds a whole response with a Content-Length: then the
    answer is in, as curl sees it, whatever happens to the connection
    afterwards (after an address moved, the client's last ACK or FIN
    reaches the new owner, which answers with a reset)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length" and v.strip().isdigit():
            return len(body) >= int(v.strip())
    return False


def http_get(ns, ip, port=labmod.HTTP_PORT, timeout=0.1):
    """One GET http://ip:port/ from namespace ns on a fresh connection: the
    body (the answering node's name), or None when it failed or timed out.
    A response is complete when its Content-Length bytes are in (or at the
    server's close), as for curl."""
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with labmod.netns(ns):
        s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect((ip, port))
        host = f"[{ip}]" if ":" in ip else ip
        s.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not _complete(data):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0] + b" ":
            return None
        return body.decode(errors="replace").strip() or None
    except OSError:
        return None
    finally:
        s.close()


class HttpLoop:
    """GET http://ip/ from host over and over in a thread: each request on
    a new connection with `timeout`, `gap` seconds between requests, at
    most max_requests requests and max_seconds seconds.  results holds
    (start, end, body-or-None), wall-clock times."""

    def __init__(self, host, ip, timeout=0.1, gap=0.01, max_requests=200000,
                 max_seconds=3600):
        self.host, self.ip = host, ip
        self.timeout, self.gap = timeout, gap
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.results = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        end = time.monotonic() + self.max_seconds
        n = 0
        while not self.stopping and n < self.max_requests and time.monotonic() < end:
            t1 = time.time()
            body = http_get(self.host.ns, self.ip, timeout=self.timeout)
            t2 = time.time()
            with self.lock:
                self.results.append((t1, t2, body))
            n += 1
            time.sleep(self.gap)

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def trim(self, before):
        """Forget results that ended before `before` (keeps memory bounded
        over many trials)."""
        with self.lock:
            self.results = [r for r in self.results if r[1] >= before]

    def last_ok(self):
        for r in reversed(self.snapshot()):
            if r[2]:
                return r
        return None

    def outage(self, t0, not_body=None):
        """(gap seconds, body) around a failure at t0: from the end of the
        last answered request that ended before t0 to the end of the first
        answered request that started after t0 (and whose answer is not
        not_body, the failed node); None while there is none yet."""
        rs = self.snapshot()
        before = [r for r in rs if r[2] and r[1] < t0]
        after = [r for r in rs if r[2] and r[0] >= t0 and r[2] != not_body]
        if not after:
            return None
        start = before[-1][1] if before else t0
        return (after[0][1] - start, after[0][2])

    def stop(self):
        self.stopping = True
        self.thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class UdpCapture:
    """tcpdump in host's namespace writing the packets that match the BPF
    expression `bpf` on ifname to a pcap file (unbuffered); stop() ends it
    and payloads() returns the UDP payloads of the IPv4 and IPv6 packets
    captured, in order."""

    def __init__(self, host, bpf, path, ifname="eth0"):
        self.host, self.path = host, path
        # --immediate-mode: each packet reaches tcpdump (and, with -U, the
        # file) as it arrives, not when a ring block fills or times out
        # (about a second): a capture stopped sooner would be empty.
        self.proc = host.spawn(["tcpdump", "-i", ifname, "-n", "--immediate-mode", "-U", "-s", "0",
                                "-w", path, bpf],
                               name=f"{host.name}-tcpdump")
        # tcpdump says "listening on" once its filter is installed
        poll(lambda: "listening on" in self.proc.output(), 10, what="tcpdump listening")

    def stop(self):
        self.proc.stop(signal.SIGINT, 5)

    def payloads(self):
        data = pathlib.Path(self.path).read_bytes()
        if len(data) < 24:
            return []
        magic = struct.unpack("<I", data[:4])[0]
        end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
        linktype = struct.unpack(end + "I", data[20:24])[0]
        assert linktype == 1, f"{self.path}: link type {linktype}, expected Ethernet"
        out, off = [], 24
        while off + 16 <= len(data):
            incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
            if off + 16 + incl > len(data):
                break   # a record still being written
            frame = data[off + 16:off + 16 + incl]
            off += 16 + incl
            etype = struct.unpack("!H", frame[12:14])[0]
            if etype == 0x0800 and frame[23] == 17:
                ihl = (frame[14] & 0x0f) * 4
                udp = frame[14 + ihl:]
            elif etype == 0x86dd and frame[20] == 17:
                udp = frame[54:]
            else:
                continue
            ulen = struct.unpack("!H", udp[4:6])[0]
            out.append(bytes(udp[8:ulen]))
        return out

