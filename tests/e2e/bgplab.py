"""BGP routers for the lab: BIRD 2, GoBGP and FRR, each run as a process
of a lab namespace with a generated configuration, and read back through
its own CLI (birdc text, `gobgp -j`, `vtysh ... json`).

Used by tests/e2e/test_bgp.py and bench/bgp.py on top of lab.py (which
gives namespaces, processes and teardown).  What this module adds:

- point-to-point veth links between two hosts (lab.py connects hosts
  through a switch only), extra addresses, static routes, forwarding;
- `Bird`, `Gobgp`, `Frr`: start / stop / restart a router with its
  neighbours (eBGP or iBGP, multi-hop, MD5, source address, graceful
  restart helper), wait for a session to be Established, read its session
  state and when it was established, and its RIB per neighbour as `Route`
  objects (prefix, next hops, AS path, communities, large communities,
  local preference, stale flag);
- `Bird` can also announce static routes (the benchmark's reference
  speaker, and a stand-in for ironlb when the lab itself is checked);
- `Speaker`: lab.Ironlb plus the "bgp" and "bfd" parts of /status
  (sessions, their routes, counters) and the daemon's VmRSS / VmHWM;
  manifest builders for BGPPeer, BGPAdvertisement, BFDProfile, Community
  and basic-auth Secret;
- BFD on the routers (`BfdProfile` on a `Neighbor`): FRR's bfdd and
  BIRD's `protocol bfd`, tied to their BGP sessions, read back as
  `BfdSession` objects;
- `ScriptedPeer`: a BGP speaker written in Python over a plain socket that
  sends whatever bytes a test wants (malformed messages) and returns what
  came back;
- `BgpSniffer`: BGP messages seen on an interface with the kernel's
  receive timestamps (to time UPDATEs).

Every router keeps its files (config, control socket, pid file, log)
under <lab workdir>/<host>-<kind>/, never the host's /etc or /run, and
runs in the foreground as a lab process, so lab teardown stops it.
Routers send nothing back to their neighbours (export none), so what a
test reads from a router is exactly what ironlb announced.

Versions this was written against (Debian 12): BIRD 2.0.12, GoBGP 3.10.0,
FRR 8.4.4.
"""
import datetime
import ipaddress
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import threading
import time

import lab as labmod
from lab import poll

ROUTER_KINDS = ("bird", "gobgp", "frr")

# ---------------------------------------------------------------------------
# topology helpers


def _run(args, timeout=30, check=True):
    return labmod._run(args, timeout=timeout, check=check)


def norm_ip(ip):
    return ipaddress.ip_address(ip.split("%")[0]).compressed


def norm_prefix(p):
    return ipaddress.ip_network(p, strict=False).compressed


def family(addr):
    return 6 if ":" in str(addr) else 4


def add_addr(host, ifname, cidr):
    """Add cidr ("192.0.2.1/24", "2001:db8::1/64") to ifname (IPv6 without
    DAD)."""
    args = ["ip", "addr", "add", cidr, "dev", ifname]
    if ":" in cidr:
        args.append("nodad")
    host.run(args)


def veth(a, a_if, b, b_if, a_addrs=(), b_addrs=()):
    """A point-to-point veth pair: a_if in host a, b_if in host b, with
    the given "addr/len" addresses; both ends up.  Registers the
    interfaces in host.ifaces (first IPv4 / IPv6 address)."""
    _run(["ip", "-n", a.ns, "link", "add", a_if, "type", "veth", "peer", "name", b_if,
          "netns", b.ns])
    for h, ifn, addrs in ((a, a_if, a_addrs), (b, b_if, b_addrs)):
        for cidr in addrs:
            add_addr(h, ifn, cidr)
        h.run(["ip", "link", "set", ifn, "up"])
        v4 = next((c.split("/")[0] for c in addrs if ":" not in c), None)
        v6 = next((c.split("/")[0] for c in addrs if ":" in c), None)
        h.ifaces[ifn] = labmod.Iface(h, ifn, None, v4, v6)


def route(host, prefix, via):
    host.run(["ip", "-6" if ":" in prefix else "-4", "route", "add", prefix, "via", via])


def forwarding(host):
    for k in ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"):
        host.run(["sysctl", "-qw", f"{k}=1"])


# ---------------------------------------------------------------------------
# routes as read from a router


class Route:
    """One path of a prefix in a router's RIB, learnt from `source`."""

    __slots__ = ("prefix", "next_hops", "as_path", "communities", "large_communities",
                 "local_pref", "origin", "stale", "source", "valid")

    def __init__(self, prefix, next_hops=(), as_path=(), communities=(), large_communities=(),
                 local_pref=None, origin=None, stale=False, source=None, valid=True):
        self.prefix = norm_prefix(prefix)
        self.next_hops = [norm_ip(n) for n in next_hops]
        self.as_path = [int(a) for a in as_path]
        self.communities = sorted(communities, key=_comm_key)
        self.large_communities = sorted(large_communities, key=_comm_key)
        self.local_pref = local_pref
        self.origin = origin
        self.stale = bool(stale)
        self.source = norm_ip(source) if source else None
        self.valid = valid

    @property
    def next_hop(self):
        """The global next hop (the first that is not link-local)."""
        for n in self.next_hops:
            if not ipaddress.ip_address(n).is_link_local:
                return n
        return self.next_hops[0] if self.next_hops else None

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        return (f"<Route {self.prefix} nh={self.next_hops} path={self.as_path} "
                f"comm={self.communities} large={self.large_communities} "
                f"lp={self.local_pref} stale={self.stale} from={self.source}>")


def _comm_key(c):
    return tuple(int(x) for x in c.split(":"))


def comm_str(v):
    """A 32-bit standard community as "high:low"."""
    return f"{v >> 16}:{v & 0xffff}"


# ---------------------------------------------------------------------------
# neighbours and routers


class Neighbor:
    """A router's neighbour.  `address` is the neighbour's (ironlb's)
    address; `local_address` the router's own (source for multi-hop);
    `multihop` a TTL (eBGP multi-hop) or None; `password` TCP MD5;
    `ttl_security` GTSM (RFC 5082) for a directly connected neighbour:
    send with TTL 255, accept only 255; `bfd` a BfdProfile: the router
    runs a BFD session with the neighbour (multihop when `multihop` is
    set) and ties the BGP session to it."""

    def __init__(self, address, asn, local_asn=None, multihop=None, password=None,
                 local_address=None, passive=False, hold_time=90, keepalive=30,
                 families=(4, 6), graceful_restart=True, name=None, ttl_security=False,
                 bfd=None, interface=None):
        self.address = norm_ip(address)
        self.bfd = bfd                # BfdProfile: run BFD with this neighbour
        self.interface = interface    # the device towards it (single-hop BFD)
        self.ttl_security = ttl_security
        self.asn = int(asn)
        self.local_asn = local_asn
        self.multihop = multihop
        self.password = password
        self.local_address = norm_ip(local_address) if local_address else None
        self.passive = passive
        self.hold_time = hold_time
        self.keepalive = keepalive
        self.families = tuple(families)
        self.graceful_restart = graceful_restart
        self.name = name or "n_" + re.sub(r"[^0-9a-zA-Z]", "_", self.address)


class BfdProfile:
    """A router's BFD timers for a neighbour, in milliseconds (the names
    of MetalLB's BFDProfile): what the router asks for."""

    def __init__(self, receive=300, transmit=300, multiplier=3, passive=False,
                 minimum_ttl=None, echo=None, name="ilb"):
        self.receive = receive
        self.transmit = transmit
        self.multiplier = multiplier
        self.passive = passive
        self.minimum_ttl = minimum_ttl   # multihop only (FRR)
        self.echo = echo                 # echo interval (FRR), None = off
        self.name = name


class BfdSession:
    """One BFD session as a router shows it: state ("up", "down", "init",
    "admin_down"), the remote's state and diagnostic, the negotiated
    transmit / receive intervals and detection time in ms (None where the
    router does not say), and the router's count of downs."""

    __slots__ = ("peer", "state", "remote_state", "diag", "remote_diag", "tx_ms", "rx_ms",
                 "detect_ms", "remote_multiplier", "remote_rx_ms", "remote_tx_ms", "downs",
                 "uptime_s", "multihop", "raw")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def __repr__(self):
        return (f"<BfdSession {self.peer} {self.state} remote={self.remote_state} "
                f"tx={self.tx_ms} rx={self.rx_ms} detect={self.detect_ms} downs={self.downs}>")


class StaticRoute:
    """A route for Bird to announce: prefix, communities ("a:b"), large
    communities ("a:b:c"), local preference (iBGP)."""

    def __init__(self, prefix, communities=(), large_communities=(), local_pref=None):
        self.prefix = norm_prefix(prefix)
        self.communities = list(communities)
        self.large_communities = list(large_communities)
        self.local_pref = local_pref


class Router:
    """Common part: a daemon in `host`'s namespace, AS `asn`, router ID
    `router_id`, the given neighbours; files under its own directory."""

    kind = "?"

    def __init__(self, host, asn, router_id, neighbors=(), name=None):
        self.host = host
        self.asn = int(asn)
        self.router_id = router_id
        self.neighbors = list(neighbors)
        self.name = name or f"{host.name}-{self.kind}"
        self.dir = host.lab.workdir / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.starts = 0

    # -- life cycle
    def start(self, timeout=15):
        self.write_config()
        self.proc = self.host.spawn(self.command(), name=self.name)
        self.starts += 1
        poll(self._ready, timeout, what=f"{self.kind} on {self.host.name} answering its CLI")
        return self

    def _ready(self):
        if not self.proc.alive():
            raise RuntimeError(f"{self.name} exited {self.proc.returncode}: "
                               f"{self.proc.output()[-2000:]}")
        return self.ping()

    def stop(self, timeout=5):
        if self.proc:
            self.proc.stop(signal.SIGTERM, timeout)

    def kill(self):
        if self.proc:
            self.proc.stop(signal.SIGKILL, 5)

    def restart(self, timeout=15):
        self.stop()
        return self.start(timeout)

    def log(self):
        return self.proc.output() if self.proc else ""

    def neighbor(self, addr):
        addr = norm_ip(addr)
        for n in self.neighbors:
            if n.address == addr:
                return n
        raise KeyError(addr)

    # -- sessions
    def wait_established(self, addr, timeout=20):
        last = "?"

        def up():
            nonlocal last
            last = self.state(addr)
            return last == "Established"
        try:
            return poll(up, timeout, what=f"{self.kind} session with {addr} Established")
        except labmod.PollTimeout as e:
            raise labmod.PollTimeout(f"{e}; its state: {last}; last lines of its log:\n"
                                     + "\n".join(self.log().splitlines()[-15:])) from None

    def uptime(self, addr):
        """Seconds since the session with addr was established (None when
        it is not)."""
        t = self.established_at(addr)
        return None if t is None else time.time() - t

    def session_mark(self, addr):
        """Changes whenever the session with addr is established anew
        (the router's own view, plus which run of the router this is)."""
        return (self.starts, self._mark(addr))

    def routes_by_prefix(self, addr, fam):
        return {r.prefix: r for r in self.routes(addr, fam)}

    def wait_routes(self, addr, fam, pred, timeout=10, what=None):
        """Poll until pred({prefix: Route}) is true; returns the dict."""
        last = {}

        def ok2():
            nonlocal last
            last = self.routes_by_prefix(addr, fam)
            return last if pred(last) else None
        try:
            return poll(ok2, timeout, what=what or "routes")
        except labmod.PollTimeout as e:
            raise labmod.PollTimeout(f"{e}; {self.kind} RIB from {addr} (IPv{fam}): "
                                     f"{sorted(last.values(), key=lambda r: r.prefix)}") from None

    def wait_prefixes(self, addr, fam, prefixes, timeout=10):
        """Poll until the routes from addr are exactly `prefixes`."""
        want = {norm_prefix(p) for p in prefixes}
        return self.wait_routes(addr, fam, lambda rs: set(rs) == want, timeout,
                                what=f"{self.kind} holds exactly {sorted(want)} from {addr}")

    # -- BFD
    def bfd_neighbors(self):
        return [n for n in self.neighbors if n.bfd is not None]

    def bfd_session(self, addr):
        """The BFD session with addr (a BfdSession), None when the router
        has none."""
        return self.bfd_sessions().get(norm_ip(addr))

    def wait_bfd(self, addr, state="up", timeout=20, pred=None):
        """Poll until the BFD session with addr is in `state` (and
        pred(session) holds); returns the session."""
        last = None

        def ok():
            nonlocal last
            last = self.bfd_session(addr)
            return last if (last is not None and last.state == state
                            and (pred is None or pred(last))) else None
        try:
            return poll(ok, timeout, what=f"{self.kind} BFD session with {addr} {state}")
        except labmod.PollTimeout as e:
            raise labmod.PollTimeout(f"{e}; last seen: {last!r}") from None

    # to be provided: command(), write_config(), ping(), state(addr),
    # established_at(addr), routes(addr, fam), count(addr, fam), version(),
    # bfd_sessions() ({address: BfdSession}) for routers that run BFD


# ---------------------------------------------------------------------------
# BIRD 2


class Bird(Router):
    """BIRD 2 (`bird -f -c CONF -s SOCK -P PID`), queried with `birdc -s`."""

    kind = "bird"

    def __init__(self, host, asn, router_id, neighbors=(), static=(), igp_routes=(),
                 name=None, export_filter=None):
        super().__init__(host, asn, router_id, neighbors, name)
        self.static = list(static)          # StaticRoute: announced to every neighbour
        self.igp_routes = list(igp_routes)  # (prefix, via): resolve multi-hop next hops
        self.export_filter = export_filter  # extra filter statements before accept

    @property
    def conf(self):
        return self.dir / "bird.conf"

    @property
    def sock(self):
        return self.dir / "bird.ctl"

    def command(self):
        return ["bird", "-f", "-c", self.conf, "-s", self.sock, "-P", self.dir / "bird.pid"]

    def write_config(self):
        L = ["log stderr all;", f"router id {self.router_id};",
             "timeformat protocol iso long ms;", "timeformat route iso long ms;",
             "protocol device { scan time 10; }",
             "protocol direct { ipv4; ipv6; }"]
        v4 = [s for s in self.static if ":" not in s.prefix]
        v6 = [s for s in self.static if ":" in s.prefix]
        for fam, routes in ((4, v4), (6, v6)):
            if not routes:
                continue
            L.append(f"protocol static static{fam} {{ ipv{fam};")
            for s in routes:
                L.append(f"  route {s.prefix} blackhole{self._static_attrs(s)};")
            L.append("}")
        igp4 = [r for r in self.igp_routes if ":" not in r[0]]
        igp6 = [r for r in self.igp_routes if ":" in r[0]]
        for fam, routes in ((4, igp4), (6, igp6)):
            if routes:
                L.append(f"protocol static igp{fam} {{ ipv{fam};")
                L += [f"  route {p} via {via};" for p, via in routes]
                L.append("}")
        export = "none"
        if self.static:
            extra = self.export_filter or ""
            export = f"filter {{ if proto ~ \"static*\" then {{ {extra} accept; }} reject; }}"
        L += self._bfd_config()
        for n in self.neighbors:
            local_as = n.local_asn or self.asn
            L.append(f"protocol bgp {n.name} {{")
            if n.local_address:
                L.append(f"  local {n.local_address} as {local_as};")
            else:
                L.append(f"  local as {local_as};")
            L.append(f"  neighbor {n.address} as {n.asn};")
            L += ["  connect delay time 1;", "  connect retry time 2;",
                  "  error wait time 1, 3;", "  error forget time 10;",
                  f"  hold time {n.hold_time};", f"  keepalive time {n.keepalive};"]
            if n.passive:
                L.append("  passive on;")
            if n.multihop:
                L.append(f"  multihop {n.multihop};")
            if n.ttl_security:
                L.append("  ttl security on;")
            if n.bfd is not None:
                L.append("  bfd on;")
            if n.password:
                L.append(f"  password \"{n.password}\";")
            if n.graceful_restart:
                L += ["  graceful restart on;", "  graceful restart time 120;"]
            else:
                L.append("  graceful restart off;")
            for fam in n.families:
                nh = " next hop self;" if self.static else ""
                L.append(f"  ipv{fam} {{ import all; export {export};{nh} }};")
            L.append("}")
        self.conf.write_text("\n".join(L) + "\n")

    def _bfd_config(self):
        """`protocol bfd`: BIRD 2.0 sets timers per interface (single hop)
        and once for every multihop session, not per neighbour, so the
        first BFD neighbour's profile of each kind applies to all of that
        kind.  It has no echo function and no minimum TTL."""
        ns = self.bfd_neighbors()
        if not ns:
            return []

        def opts(b):
            o = [f"min rx interval {b.receive} ms;", f"min tx interval {b.transmit} ms;",
                 f"idle tx interval {max(1000, b.transmit)} ms;",
                 f"multiplier {b.multiplier};"]
            if b.passive:
                o.append("passive on;")
            return " ".join(o)
        L = ["protocol bfd bfd1 {"]
        single = [n for n in ns if not n.multihop]
        multi = [n for n in ns if n.multihop]
        if single:
            L.append(f"  interface \"*\" {{ {opts(single[0].bfd)} }};")
        if multi:
            L.append(f"  multihop {{ {opts(multi[0].bfd)} }};")
        for n in ns:
            line = f"  neighbor {n.address}"
            if n.interface and not n.multihop:
                line += f" dev \"{n.interface}\""
            if n.local_address:
                line += f" local {n.local_address}"
            if n.multihop:
                line += " multihop on"
            L.append(line + ";")
        L.append("}")
        return L

    def bfd_sessions(self):
        """`birdc show bfd sessions`: address, interface, state, since,
        interval (the transmit interval in use, s) and timeout (the
        detection time, s).  BIRD shows no remote state or diagnostic."""
        out = self.birdc("show", "bfd", "sessions")
        res = {}
        for line in out.splitlines():
            m = re.match(r"^(\S+)\s+(\S*)\s+(Up|Down|Init|AdminDown)\s+(.*?)\s+"
                         r"([\d.]+)\s+([\d.]+)\s*$", line)
            if not m:
                continue
            try:
                addr = norm_ip(m.group(1))
            except ValueError:
                continue
            st = {"Up": "up", "Down": "down", "Init": "init",
                  "AdminDown": "admin_down"}[m.group(3)]
            res[addr] = BfdSession(peer=addr, state=st, tx_ms=round(float(m.group(5)) * 1000),
                                   detect_ms=round(float(m.group(6)) * 1000), raw=line)
        return res

    @staticmethod
    def _static_attrs(s):
        parts = [f"bgp_community.add(({c.replace(':', ',')}));" for c in s.communities]
        parts += [f"bgp_large_community.add(({c.replace(':', ',')}));"
                  for c in s.large_communities]
        if s.local_pref is not None:
            parts.append(f"bgp_local_pref = {s.local_pref};")
        return " { " + " ".join(parts) + " }" if parts else ""

    def birdc(self, *cmd, timeout=20):
        p = self.host.run(["birdc", "-r", "-s", self.sock, *cmd], timeout=timeout, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"birdc {' '.join(cmd)}: exit {p.returncode}: "
                               f"{p.stderr.strip() or p.stdout.strip()}")
        return p.stdout

    def reconfigure(self, timeout=20):
        """Write the configuration again and have the running BIRD take it
        (`birdc configure`, outside the restricted mode the queries use):
        protocols whose options changed are reconfigured or restarted as
        BIRD decides, without restarting BIRD."""
        self.write_config()
        p = self.host.run(["birdc", "-s", self.sock, "configure"], timeout=timeout, check=False)
        if p.returncode != 0 or not re.search(r"Reconfigur(ed|ation in progress)", p.stdout):
            raise RuntimeError(f"birdc configure: exit {p.returncode}: "
                               f"{p.stderr.strip() or p.stdout.strip()}")

    def ping(self):
        return self.sock.exists() and "BIRD" in self.birdc("show", "status")

    def version(self):
        p = _run(["bird", "--version"], check=False)
        return (p.stdout + p.stderr).strip()

    def protocol(self, addr):
        """`show protocols all` of the neighbour's protocol, as a dict of
        the lines "Key: value" (plus "state" and "since")."""
        n = self.neighbor(addr)
        out = self.birdc("show", "protocols", "all", n.name)
        info = {}
        for line in out.splitlines():
            m = re.match(rf"^{re.escape(n.name)}\s+BGP\s+\S+\s+(\S+)\s+"
                         r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*(.*)$", line)
            if m:
                info["proto_state"], info["since"], info["info"] = m.groups()
                continue
            m = re.match(r"^\s+([A-Za-z][\w .-]*?):\s+(.*)$", line)
            if m and m.group(1) not in info:
                info[m.group(1)] = m.group(2).strip()
        return info

    def state(self, addr):
        return self.protocol(addr).get("BGP state", "?")

    def established_at(self, addr):
        info = self.protocol(addr)
        if info.get("BGP state") != "Established":
            return None
        return _parse_local_time(info["since"])

    def count(self, addr, fam):
        """Routes imported from addr in that family (from `show protocols
        all`, cheap)."""
        n = self.neighbor(addr)
        out = self.birdc("show", "protocols", "all", n.name)
        chan = None
        for line in out.splitlines():
            m = re.match(r"^\s+Channel (ipv[46])", line)
            if m:
                chan = m.group(1)
            m = re.match(r"^\s+Routes:\s+(\d+) imported", line)
            if m and chan == f"ipv{fam}":
                return int(m.group(1))
        return 0

    def routes(self, addr, fam):
        """BIRD 2.0 prints no stale mark on a route: while the neighbour
        restarts (until its End-of-RIB), `show protocols all` says
        "Neighbor graceful restart active", and every route from it is
        stale then."""
        n = self.neighbor(addr)
        out = self.birdc("show", "route", "all", "table", f"master{fam}", "protocol", n.name)
        rs = parse_bird_routes(out, n.address)
        if rs and any("restart active" in line for line in self.gr_state(addr)):
            for r in rs:
                r.stale = True
        return rs

    def _mark(self, addr):
        """Changes whenever the session is established anew."""
        info = self.protocol(addr)
        return (info.get("BGP state"), info.get("since"))

    def gr_state(self, addr):
        """The neighbour's graceful-restart line(s) from `show protocols
        all` ("Neighbor graceful restart active" while the peer restarts)."""
        n = self.neighbor(addr)
        out = self.birdc("show", "protocols", "all", n.name)
        return [l.strip() for l in out.splitlines() if "raceful restart" in l]


def _parse_local_time(s):
    """BIRD's "iso long ms" time (local time) to epoch seconds."""
    whole, _, frac = s.partition(".")
    t = time.mktime(time.strptime(whole, "%Y-%m-%d %H:%M:%S"))
    return t + (float("0." + frac) if frac else 0.0)


_BIRD_ROUTE_HEAD = re.compile(
    r"^(?P<prefix>\S+)?\s+(?P<kind>unicast|unreachable|blackhole|prohibited)\s+"
    r"\[(?P<proto>\S+)\s+[^\]]*\]\s*(?P<rest>.*)$")


def parse_bird_routes(text, source=None):
    """`birdc show route all` output to a list of Route (every path)."""
    routes = []
    cur = None
    prefix = None

    def flush():
        if cur is not None:
            routes.append(Route(cur["prefix"], cur["nh"], cur["path"], cur["comm"], cur["large"],
                                cur["lp"], cur["origin"], cur["stale"], source,
                                cur["kind"] == "unicast"))

    for line in text.splitlines():
        m = _BIRD_ROUTE_HEAD.match(line)
        if m:
            flush()
            if m.group("prefix"):
                prefix = m.group("prefix")
            cur = {"prefix": prefix, "nh": [], "path": [], "comm": [], "large": [], "lp": None,
                   "origin": None, "stale": "stale" in m.group("rest").lower(),
                   "kind": m.group("kind")}
            continue
        if cur is None:
            continue
        s = line.strip()
        if s.startswith("BGP.next_hop:"):
            cur["nh"] = s.split(":", 1)[1].split()
        elif s.startswith("BGP.as_path:"):
            cur["path"] = [int(x) for x in re.findall(r"\d+", s.split(":", 1)[1])]
        elif s.startswith("BGP.community:"):
            cur["comm"] = [f"{a}:{b}" for a, b in
                           re.findall(r"\((\d+),\s*(\d+)\)", s.split(":", 1)[1])]
        elif s.startswith("BGP.large_community:"):
            cur["large"] = [f"{a}:{b}:{c}" for a, b, c in
                            re.findall(r"\((\d+),\s*(\d+),\s*(\d+)\)", s.split(":", 1)[1])]
        elif s.startswith("BGP.local_pref:"):
            cur["lp"] = int(s.split(":", 1)[1])
        elif s.startswith("BGP.origin:"):
            cur["origin"] = s.split(":", 1)[1].strip()
        elif s.startswith("BGP.llgr") or "stale" in s.lower():
            cur["stale"] = True
    flush()
    return routes


# ---------------------------------------------------------------------------
# GoBGP


class Gobgp(Router):
    """gobgpd -f CONF (TOML) --api-hosts 127.0.0.1:PORT, queried with
    `gobgp -u 127.0.0.1 -p PORT ... -j`."""

    kind = "gobgp"
    API_PORT = 50051

    @property
    def conf(self):
        return self.dir / "gobgpd.toml"

    def command(self):
        return ["gobgpd", "-f", self.conf, "-t", "toml", "--api-hosts",
                f"127.0.0.1:{self.API_PORT}", "--pprof-disable", "-p", "-l", "info"]

    def write_config(self):
        L = ["[global.config]", f"  as = {self.asn}", f'  router-id = "{self.router_id}"',
             "  port = 179", ""]
        for n in self.neighbors:
            L += ["[[neighbors]]", "  [neighbors.config]",
                  f'    neighbor-address = "{n.address}"', f"    peer-as = {n.asn}"]
            if n.local_asn:
                L.append(f"    local-as = {n.local_asn}")
            if n.password:
                L.append(f'    auth-password = "{n.password}"')
            L += ["  [neighbors.timers.config]", "    connect-retry = 1",
                  f"    hold-time = {n.hold_time}", f"    keepalive-interval = {n.keepalive}",
                  "    idle-hold-time-after-reset = 1"]
            L += ["  [neighbors.apply-policy.config]",
                  '    default-export-policy = "reject-route"']
            L += ["  [neighbors.transport.config]", f"    passive-mode = "
                  f"{'true' if n.passive else 'false'}"]
            if n.local_address:
                L.append(f'    local-address = "{n.local_address}"')
            if n.multihop:
                L += ["  [neighbors.ebgp-multihop.config]", "    enabled = true",
                      f"    multihop-ttl = {n.multihop}"]
            if n.ttl_security:
                L += ["  [neighbors.ttl-security.config]", "    enabled = true",
                      "    ttl-min = 255"]
            if n.graceful_restart:
                L += ["  [neighbors.graceful-restart.config]", "    enabled = true",
                      "    restart-time = 120", "    helper-only = true"]
            for fam in n.families:
                L += ["  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]",
                      f'      afi-safi-name = "ipv{fam}-unicast"']
                if n.graceful_restart:
                    L += ["    [neighbors.afi-safis.mp-graceful-restart.config]",
                          "      enabled = true"]
            L.append("")
        self.conf.write_text("\n".join(L) + "\n")

    def gobgp(self, *args, timeout=30):
        p = self.host.run(["gobgp", "-u", "127.0.0.1", "-p", str(self.API_PORT), *args],
                          timeout=timeout, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"gobgp {' '.join(args)}: exit {p.returncode}: "
                               f"{p.stderr.strip() or p.stdout.strip()}")
        return p.stdout

    def gobgp_json(self, *args, timeout=30):
        return json.loads(self.gobgp(*args, "-j", timeout=timeout) or "null")

    def ping(self):
        self.gobgp("global")
        return True

    def version(self):
        return _run(["gobgpd", "--version"], check=False).stdout.strip()

    def neighbor_json(self, addr):
        return self.gobgp_json("neighbor", norm_ip(addr))

    def state(self, addr):
        st = self.neighbor_json(addr).get("state", {})
        s = str(st.get("session_state", st.get("session-state", "?")))
        return _GOBGP_STATES.get(s.lower(), s)

    def established_at(self, addr):
        j = self.neighbor_json(addr)
        s = str(j.get("state", {}).get("session_state", "")).lower()
        if _GOBGP_STATES.get(s, s) != "Established":
            return None
        up = (j.get("timers", {}).get("state", {}) or {}).get("uptime")
        return _parse_gobgp_time(up)

    def _mark(self, addr):
        j = self.neighbor_json(addr)
        st = j.get("state", {})
        opens = ((st.get("messages") or {}).get("received") or {}).get("open")
        return (self.state(addr), opens, (j.get("timers", {}).get("state", {}) or {}).get("uptime"))

    def count(self, addr, fam):
        j = self.neighbor_json(addr)
        for a in j.get("afi_safis", []) or []:
            c = a.get("config", {}).get("family", {})
            if c.get("afi") == (1 if fam == 4 else 2):
                st = a.get("state", {})
                return int(st.get("received", 0) or 0)
        return 0

    def routes(self, addr, fam):
        """The neighbour's Adj-RIB-In (attributes as received).  GoBGP
        refuses it for a neighbour that was never Established; then there
        is nothing from it (the global RIB would still show stale paths
        of a session that went down, and is read instead)."""
        addr = norm_ip(addr)
        try:
            j = self.gobgp_json("neighbor", addr, "adj-in", "-a", f"ipv{fam}")
        except RuntimeError as e:
            if "not established" not in str(e):
                raise
            return [r for r in self.rib(fam) if r.source == addr]
        out = []
        for prefix, paths in (j or {}).items():
            for p in paths:
                out.append(parse_gobgp_path(prefix, p, addr))
        return out

    def rib(self, fam):
        """The global (Loc-)RIB: every path, with its source."""
        j = self.gobgp_json("global", "rib", "-a", f"ipv{fam}")
        out = []
        for prefix, paths in (j or {}).items():
            for p in paths:
                out.append(parse_gobgp_path(prefix, p, p.get("neighbor-ip")))
        return out


_GOBGP_STATES = {"established": "Established", "idle": "Idle", "active": "Active",
                 "connect": "Connect", "opensent": "OpenSent", "openconfirm": "OpenConfirm",
                 "6": "Established", "1": "Idle", "2": "Connect", "3": "Active",
                 "4": "OpenSent", "5": "OpenConfirm",
                 "session_state_established": "Established", "session_state_idle": "Idle",
                 "session_state_active": "Active", "session_state_connect": "Connect",
                 "session_state_opensent": "OpenSent",
                 "session_state_openconfirm": "OpenConfirm"}


def _parse_gobgp_time(v):
    if v is None:
        return None
    if isinstance(v, dict):  # protobuf Timestamp
        return float(v.get("seconds", 0)) + float(v.get("nanos", 0)) / 1e9
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v)
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", s)
    if m:
        dt = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
        tz = m.group(3) or "Z"
        if tz == "Z":
            dt = dt.replace(tzinfo=datetime.timezone.utc)
        else:
            sign = 1 if tz[0] == "+" else -1
            off = datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
            dt = dt.replace(tzinfo=datetime.timezone(sign * off))
        return dt.timestamp() + (float(m.group(2)) if m.group(2) else 0.0)
    return None


def parse_gobgp_path(prefix, p, source=None):
    nh, path, comm, large, lp, origin = [], [], [], [], None, None
    for a in p.get("attrs", []):
        t = a.get("type")
        if t == 1:
            origin = {0: "IGP", 1: "EGP", 2: "Incomplete"}.get(a.get("value"), a.get("value"))
        elif t == 2:
            for seg in a.get("as_paths", []) or []:
                path += seg.get("asns", []) or []
        elif t == 3:
            nh.append(a["nexthop"])
        elif t == 5:
            lp = a.get("value")
        elif t == 8:
            comm = [comm_str(c) for c in a.get("communities", [])]
        elif t == 14:
            nh += [x for x in (a.get("nexthop"),) if x]
            nh += [x for x in (a.get("linklocal_nexthop"),) if x and x != "::"]
        elif t == 32:
            large = [f"{v['ASN']}:{v['LocalData1']}:{v['LocalData2']}"
                     for v in a.get("value", []) or []]
    return Route(prefix, nh, path, comm, large, lp, origin, p.get("stale", False), source,
                 valid=not p.get("filtered", False))


# ---------------------------------------------------------------------------
# FRR


class Frr(Router):
    """FRR 8: zebra and bgpd, each with -i (pid file), --vty_socket and -z
    (zserv socket) under the router's directory, never the host's
    /etc/frr or /var/run/frr, and no TCP vty; queried with `vtysh
    --vty_socket DIR -d bgpd -c '... json'`.  zebra is needed: without it
    bgpd does not know its interfaces and treats an IPv6 route whose next
    hop includes a link-local address as withdrawn.  restart() restarts
    bgpd only (the BGP speaker); zebra keeps running."""

    kind = "frr"
    BIN = "/usr/lib/frr/bgpd"
    ZEBRA = "/usr/lib/frr/zebra"

    BFDD = "/usr/lib/frr/bfdd"

    def __init__(self, host, asn, router_id, neighbors=(), name=None, igp_routes=()):
        super().__init__(host, asn, router_id, neighbors, name)
        self.igp_routes = list(igp_routes)  # unused: zebra reads the kernel's routes
        self.zebra = None
        self.bfdd = None
        self.bfdd_auto = True   # start bfdd with bgpd when a neighbour has BFD
        # BFD sessions with no BGP neighbour: (peer, local address,
        # interface for single hop or None for multihop, BfdProfile)
        self.bfd_peers = []

    @property
    def conf(self):
        return self.dir / "bgpd.conf"

    @property
    def vty_dir(self):
        return self.dir / "vty"

    def _common(self, daemon):
        return ["-i", self.dir / f"{daemon}.pid", "--vty_socket", self.vty_dir,
                "-z", self.dir / "zserv.api",
                # root, with the vty group as its group: FRR insists that
                # its user belongs to frrvty; no TCP vty (-P 0)
                "-u", "root", "-g", "frrvty", "-P", "0", "--log", "stdout",
                "--log-level", "debugging"]

    def command(self):
        return [self.BIN, "-f", self.conf, *self._common("bgpd")]

    def start(self, timeout=15):
        self.vty_dir.mkdir(exist_ok=True)
        zconf = self.dir / "zebra.conf"
        zconf.write_text(f"hostname {self.name}-zebra\nlog stdout informational\n")
        if self.zebra is None or not self.zebra.alive():
            self.zebra = self.host.spawn([self.ZEBRA, "-f", zconf, *self._common("zebra")],
                                         name=f"{self.name}-zebra")
            poll(lambda: (self.dir / "zserv.api").exists() or self._zebra_dead(), timeout,
                 what="zebra's zserv socket")
        if (self.bfdd_auto and (self.bfd_neighbors() or self.bfd_peers)
                and (self.bfdd is None or not self.bfdd.alive())):
            self.start_bfdd(timeout)
        return super().start(timeout)

    def start_bfdd(self, timeout=15):
        """bfdd with its own control socket (--bfdctl; the default is in
        /var/run/frr) and the lab's zebra, through which bgpd registers its
        neighbours' sessions.  The profiles and peers are in bfdd's own
        configuration, so the timers are the profile's whoever registers
        first."""
        self.write_bfdd_config()
        self.bfdd = self.host.spawn([self.BFDD, "-f", self.dir / "bfdd.conf",
                                     *self._common("bfdd"), "--bfdctl",
                                     self.dir / "bfdd.sock"], name=f"{self.name}-bfdd")

        def ready():
            if not self.bfdd.alive():
                raise RuntimeError(f"bfdd exited {self.bfdd.returncode}: "
                                   f"{self.bfdd.output()[-2000:]}")
            return (self.vty_dir / "bfdd.vty").exists()
        poll(ready, timeout, what=f"bfdd on {self.host.name} answering its CLI")

    def write_bfdd_config(self):
        # peer events at debug level, with milliseconds: bench/bfd.py
        # reads the moment of each state change from this log
        L = [f"hostname {self.name}-bfdd", "log stdout debugging",
             "log timestamp precision 3", "debug bfd peer", "!", "bfd"]
        seen = set()
        for n in self.bfd_neighbors():
            b = n.bfd
            pname = self._bfd_profile_name(n)
            if pname in seen:
                continue
            seen.add(pname)
            L += [f" profile {pname}", f"  detect-multiplier {b.multiplier}",
                  f"  receive-interval {b.receive}", f"  transmit-interval {b.transmit}"]
            if b.passive:
                L.append("  passive-mode")
            if b.minimum_ttl is not None and n.multihop:
                L.append(f"  minimum-ttl {b.minimum_ttl}")
            if b.echo is not None:
                L += ["  echo-mode", f"  echo transmit-interval {b.echo}",
                      f"  echo receive-interval {b.echo}"]
            L.append(" !")
        for n in self.bfd_neighbors():
            line = f" peer {n.address}"
            if n.multihop:
                line += " multihop"
            if n.local_address:
                line += f" local-address {n.local_address}"
            elif n.multihop:
                raise ValueError(f"FRR needs the local address of multihop BFD peer {n.address}")
            if n.interface and not n.multihop:
                line += f" interface {n.interface}"
            L += [line, f"  profile {self._bfd_profile_name(n)}", " !"]
        for peer, local, ifname, b in self.bfd_peers:
            # single hop with the interface; multihop without
            line = f" peer {peer}{'' if ifname else ' multihop'} local-address {local}"
            if ifname:
                line += f" interface {ifname}"
            L += [line, f"  detect-multiplier {b.multiplier}",
                  f"  receive-interval {b.receive}", f"  transmit-interval {b.transmit}", " !"]
        L += ["!"]
        (self.dir / "bfdd.conf").write_text("\n".join(L) + "\n")

    @staticmethod
    def _bfd_profile_name(n):
        return f"{n.bfd.name}_{n.name}"

    def set_bfd_profile(self, addr, profile):
        """Change the profile of the BFD session with addr on the live
        bfdd (through vtysh, as an operator would)."""
        n = self.neighbor(addr)
        n.bfd = profile
        pname = self._bfd_profile_name(n)
        cmds = ["configure terminal", "bfd", f"profile {pname}",
                f"detect-multiplier {profile.multiplier}",
                f"receive-interval {profile.receive}", f"transmit-interval {profile.transmit}"]
        cmds.append("passive-mode" if profile.passive else "no passive-mode")
        args = ["vtysh", "--vty_socket", self.vty_dir, "-d", "bfdd"]
        for c in cmds:
            args += ["-c", c]
        p = self.host.run(args, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"vtysh bfdd: exit {p.returncode}: {p.stderr or p.stdout}")

    def bfd_peers_json(self):
        """`show bfd peers json` as bfdd prints it (a list)."""
        p = self.host.run(["vtysh", "--vty_socket", self.vty_dir, "-d", "bfdd", "-c",
                           "show bfd peers json"], check=False)
        if p.returncode != 0:
            raise RuntimeError(f"vtysh show bfd peers: exit {p.returncode}: "
                               f"{p.stderr.strip() or p.stdout.strip()}")
        return json.loads(p.stdout or "[]")

    def bfd_state_changes(self):
        """(wall-clock time, peer, local address, from, to) of every state
        change in bfdd's log ("debug bfd peer", millisecond timestamps,
        local time)."""
        out = []
        for line in (self.bfdd.output() if self.bfdd else "").splitlines():
            m = re.match(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) .*state-change: \[.*"
                         r"peer:(\S+) local:(\S+) .*\] (\S+) -> (\S+)", line)
            if m:
                whole, _, frac = m.group(1).partition(".")
                t = time.mktime(time.strptime(whole, "%Y/%m/%d %H:%M:%S")) + float("0." + frac)
                out.append((t, norm_ip(m.group(2)), m.group(3), m.group(4), m.group(5)))
        return out

    def bfd_sessions(self):
        """`show bfd peers json` (bfdd): state, remote state and
        diagnostics, the negotiated intervals ("transmit-interval",
        "receive-interval" are the ones in use) and the remote's."""
        p = self.host.run(["vtysh", "--vty_socket", self.vty_dir, "-d", "bfdd", "-c",
                           "show bfd peers json"], check=False)
        if p.returncode != 0:
            raise RuntimeError(f"vtysh show bfd peers: exit {p.returncode}: "
                               f"{p.stderr.strip() or p.stdout.strip()}")
        res = {}
        for j in json.loads(p.stdout or "[]"):
            addr = norm_ip(j["peer"])
            st = {"up": "up", "down": "down", "init": "init", "shutdown": "admin_down",
                  "admin-down": "admin_down"}.get(j.get("status"), j.get("status"))
            rst = j.get("remote-status")
            mult = j.get("detect-multiplier")
            rx = j.get("receive-interval")
            rrtx = j.get("remote-transmit-interval")
            # FRR's detection time: the remote's multiplier times the
            # larger of our receive interval and its transmit interval
            detect = None
            if j.get("remote-detect-multiplier") and rx is not None and rrtx is not None:
                detect = j["remote-detect-multiplier"] * max(rx, rrtx)
            res[addr] = BfdSession(peer=addr, state=st, remote_state=rst,
                                   diag=j.get("diagnostic"), remote_diag=j.get("remote-diagnostic"),
                                   tx_ms=j.get("transmit-interval"), rx_ms=rx,
                                   detect_ms=detect, remote_multiplier=j.get("remote-detect-multiplier"),
                                   remote_rx_ms=j.get("remote-receive-interval"),
                                   remote_tx_ms=rrtx, downs=None, uptime_s=j.get("uptime"),
                                   multihop=j.get("multihop"), raw=j)
        return res

    def bfd_counters(self, addr):
        p = self.host.run(["vtysh", "--vty_socket", self.vty_dir, "-d", "bfdd", "-c",
                           "show bfd peers counters json"], check=False)
        for j in json.loads(p.stdout or "[]"):
            if norm_ip(j["peer"]) == norm_ip(addr):
                return j
        return {}

    def _zebra_dead(self):
        if not self.zebra.alive():
            raise RuntimeError(f"zebra exited {self.zebra.returncode}: "
                               f"{self.zebra.output()[-2000:]}")
        return False

    def stop_all(self, timeout=5):
        super().stop(timeout)
        if self.bfdd:
            self.bfdd.stop(signal.SIGTERM, timeout)
        if self.zebra:
            self.zebra.stop(signal.SIGTERM, timeout)

    def write_config(self):
        L = ["frr defaults traditional", f"hostname {self.name}", "log stdout debugging",
             "debug bgp neighbor-events", "!", f"router bgp {self.asn}",
             f" bgp router-id {self.router_id}", " no bgp ebgp-requires-policy",
             " no bgp default ipv4-unicast", " no bgp network import-check",
             " bgp graceful-restart"]
        for n in self.neighbors:
            a = n.address
            L.append(f" neighbor {a} remote-as {n.asn}")
            if n.local_asn:
                L.append(f" neighbor {a} local-as {n.local_asn} no-prepend replace-as")
            L.append(f" neighbor {a} timers {n.keepalive} {n.hold_time}")
            L.append(f" neighbor {a} timers connect 1")
            if n.password:
                L.append(f" neighbor {a} password {n.password}")
            if n.multihop:
                L.append(f" neighbor {a} ebgp-multihop {n.multihop}")
            if n.ttl_security:
                L.append(f" neighbor {a} ttl-security hops 1")
            if n.local_address:
                L.append(f" neighbor {a} update-source {n.local_address}")
            if n.passive:
                L.append(f" neighbor {a} passive")
            if n.bfd is not None:
                L.append(f" neighbor {a} bfd")
                L.append(f" neighbor {a} bfd profile {self._bfd_profile_name(n)}")
            if not n.graceful_restart:
                L.append(f" neighbor {a} graceful-restart-disable")
        for fam in (4, 6):
            L.append(f" address-family ipv{fam} unicast")
            for n in self.neighbors:
                if fam in n.families:
                    L.append(f"  neighbor {n.address} activate")
                    # a router that sends nothing back keeps the RIBs
                    # read by the tests to what ironlb announced
                    L.append(f"  neighbor {n.address} route-map EXPORT-NONE out")
            L.append(" exit-address-family")
        L += ["!", "route-map EXPORT-NONE deny 10", "!"]
        self.conf.write_text("\n".join(L) + "\n")

    def vtysh(self, cmd, timeout=30):
        p = self.host.run(["vtysh", "--vty_socket", self.vty_dir, "-d", "bgpd", "-c", cmd],
                          timeout=timeout, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"vtysh -c {cmd!r}: exit {p.returncode}: "
                               f"{p.stderr.strip() or p.stdout.strip()}")
        return p.stdout

    def vtysh_json(self, cmd, timeout=30):
        return json.loads(self.vtysh(cmd, timeout) or "{}")

    def ping(self):
        return "bgpd" in self.vtysh("show version") or True

    def version(self):
        out = self.vtysh("show version")
        return out.strip().splitlines()[0] if out.strip() else "FRR"

    def neighbor_json(self, addr):
        j = self.vtysh_json(f"show bgp neighbors {norm_ip(addr)} json")
        for k, v in j.items():
            if norm_ip(k) == norm_ip(addr):
                return v
        return {}

    def state(self, addr):
        return self.neighbor_json(addr).get("bgpState", "?")

    def established_at(self, addr):
        """bgpTimerUpEstablishedEpoch: whole seconds."""
        j = self.neighbor_json(addr)
        if j.get("bgpState") != "Established":
            return None
        t = j.get("bgpTimerUpEstablishedEpoch")
        return None if t is None else float(t)

    def _mark(self, addr):
        """FRR counts establishments and drops; its established epoch is
        derived from the uptime and jitters by a second."""
        j = self.neighbor_json(addr)
        return (j.get("bgpState"), j.get("connectionsEstablished"),
                j.get("connectionsDropped"))

    def uptime(self, addr):
        """bgpTimerUpMsec (whole seconds, counted by FRR itself)."""
        j = self.neighbor_json(addr)
        if j.get("bgpState") != "Established":
            return None
        return j.get("bgpTimerUpMsec", 0) / 1000.0

    def count(self, addr, fam):
        j = self.neighbor_json(addr)
        af = (j.get("addressFamilyInfo") or {}).get(f"ipv{fam}Unicast") or {}
        return int(af.get("acceptedPrefixCounter", 0) or 0)

    def routes(self, addr, fam):
        """Every path from addr: the table (`show bgp ipvX unicast json`)
        says which prefixes have one; their details (communities, large
        communities, local preference, stale) come from one `show bgp
        ipvX unicast PREFIX json` each, many per vtysh run."""
        addr = norm_ip(addr)
        table = self.vtysh_json(f"show bgp ipv{fam} unicast json")
        prefixes = []
        for prefix, paths in (table.get("routes") or {}).items():
            if any(_frr_peer(p) == addr for p in paths):
                prefixes.append(prefix)
        out = []
        for i in range(0, len(prefixes), 100):
            cmds = [f"show bgp ipv{fam} unicast {p} json" for p in prefixes[i:i + 100]]
            for prefix, doc in zip(prefixes[i:i + 100], self.vtysh_many(cmds)):
                for p in doc.get("paths", []):
                    r = parse_frr_path(prefix, p)
                    if r.source == addr:
                        out.append(r)
        return out

    def vtysh_many(self, cmds, timeout=60):
        """Run several commands in one vtysh; their JSON documents."""
        args = ["vtysh", "--vty_socket", self.vty_dir, "-d", "bgpd"]
        for c in cmds:
            args += ["-c", c]
        p = self.host.run(args, timeout=timeout, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"vtysh: exit {p.returncode}: "
                               f"{p.stderr.strip() or p.stdout.strip()}")
        dec, text, pos, docs = json.JSONDecoder(), p.stdout, 0, []
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            doc, pos = dec.raw_decode(text, pos)
            docs.append(doc)
        if len(docs) != len(cmds):
            raise RuntimeError(f"vtysh: {len(cmds)} commands, {len(docs)} JSON documents")
        return docs


def _frr_peer(p):
    v = p.get("peerId")
    if v is None and isinstance(p.get("peer"), dict):
        v = p["peer"].get("peerId")
    try:
        return norm_ip(v)
    except (TypeError, ValueError):
        return None


def parse_frr_path(prefix, p):
    nh = [n.get("ip") for n in p.get("nexthops", []) if n.get("ip")]
    aspath = p.get("aspath")
    if isinstance(aspath, dict):
        s = aspath.get("string", "")
    else:
        s = p.get("path", aspath or "")
    path = [int(x) for x in re.findall(r"\d+", s or "")] if s != "Local" else []
    comm = p.get("community", {})
    comm = comm.get("string", "").split() if isinstance(comm, dict) else []
    large = p.get("largeCommunity", {})
    large = large.get("string", "").split() if isinstance(large, dict) else []
    lp = p.get("localpref", p.get("locPrf"))
    return Route(prefix, nh, path, comm, large, lp, p.get("origin"), p.get("stale", False),
                 _frr_peer(p), p.get("valid", False))


def make_router(kind, host, asn, router_id, neighbors=(), **kw):
    cls = {"bird": Bird, "gobgp": Gobgp, "frr": Frr}[kind]
    if kind == "gobgp":
        kw.pop("igp_routes", None)
    return cls(host, asn, router_id, neighbors, **kw)


def missing_routers():
    """Router programs that are not installed."""
    need = {"bird": ["bird", "birdc"], "gobgp": ["gobgpd", "gobgp"], "frr": ["vtysh"]}
    out = [k for k, progs in need.items() if not all(shutil.which(p) for p in progs)]
    if "frr" not in out and not os.access(Frr.BIN, os.X_OK):
        out.append("frr")
    return out


# ---------------------------------------------------------------------------
# ironlb's side: manifests and the "bgp" part of /status


def bgppeer_manifest(name, my_asn, peer_asn, peer_address, namespace="metallb-system",
                     **spec):
    """A BGPPeer (metallb.io/v1beta2).  Extra spec fields by their
    manifest names: sourceAddress, password, passwordSecret (a dict),
    ebgpMultiHop, enableGracefulRestart, holdTime, keepaliveTime,
    connectTime, routerID, nodeSelectors, dualStackAddressFamily..."""
    lines = ["apiVersion: metallb.io/v1beta2", "kind: BGPPeer", "metadata:", f"  name: {name}",
             f"  namespace: {namespace}", "spec:", f"  myASN: {my_asn}", f"  peerASN: {peer_asn}",
             f'  peerAddress: "{peer_address}"']
    lines += _yaml_fields(spec, 2)
    return "\n".join(lines) + "\n"


def bfdprofile_manifest(name, namespace="metallb-system", **spec):
    """A BFDProfile (metallb.io/v1beta1); spec fields by their manifest
    names: receiveInterval, transmitInterval, detectMultiplier,
    echoInterval, echoMode, passiveMode, minimumTtl."""
    lines = ["apiVersion: metallb.io/v1beta1", "kind: BFDProfile", "metadata:",
             f"  name: {name}", f"  namespace: {namespace}"]
    lines += (["spec:"] + _yaml_fields(spec, 2)) if spec else ["spec: {}"]
    return "\n".join(lines) + "\n"


def bgpadv_manifest(name, pools=None, peers=None, communities=None, local_pref=None,
                    aggregation_length=None, aggregation_length_v6=None,
                    namespace="metallb-system"):
    lines = ["apiVersion: metallb.io/v1beta1", "kind: BGPAdvertisement", "metadata:",
             f"  name: {name}", f"  namespace: {namespace}"]
    spec = {}
    if pools:
        spec["ipAddressPools"] = list(pools)
    if peers:
        spec["peers"] = list(peers)
    if aggregation_length is not None:
        spec["aggregationLength"] = aggregation_length
    if aggregation_length_v6 is not None:
        spec["aggregationLengthV6"] = aggregation_length_v6
    if communities:
        spec["communities"] = list(communities)
    if local_pref is not None:
        spec["localPref"] = local_pref
    lines += (["spec:"] + _yaml_fields(spec, 2)) if spec else ["spec: {}"]
    return "\n".join(lines) + "\n"


def community_manifest(name, aliases, namespace="metallb-system"):
    """A Community object: aliases {name: "a:b" or "large:a:b:c"}."""
    lines = ["apiVersion: metallb.io/v1beta1", "kind: Community", "metadata:",
             f"  name: {name}", f"  namespace: {namespace}", "spec:", "  communities:"]
    for k, v in aliases.items():
        lines += [f"  - name: {k}", f'    value: "{v}"']
    return "\n".join(lines) + "\n"


def secret_manifest(name, password, namespace="metallb-system"):
    """A kubernetes.io/basic-auth Secret holding an MD5 password."""
    import base64
    b64 = base64.b64encode(password.encode()).decode()
    return "\n".join(["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {name}",
                      f"  namespace: {namespace}", "type: kubernetes.io/basic-auth", "data:",
                      f"  password: {b64}"]) + "\n"


def _yaml_fields(d, indent):
    pad = " " * indent
    out = []
    for k, v in d.items():
        if isinstance(v, bool):
            out.append(f"{pad}{k}: {'true' if v else 'false'}")
        elif isinstance(v, (int, float)):
            out.append(f"{pad}{k}: {v}")
        elif isinstance(v, dict):
            out.append(f"{pad}{k}:")
            out += _yaml_fields(v, indent + 2)
        elif isinstance(v, (list, tuple)):
            out.append(f"{pad}{k}:")
            for x in v:
                if isinstance(x, dict):
                    sub = _yaml_fields(x, indent + 2)
                    out.append(f"{pad}- " + sub[0].strip())
                    out += sub[1:]
                else:
                    out.append(f'{pad}- "{x}"')
        else:
            out.append(f'{pad}{k}: "{v}"')
    return out


class Speaker(labmod.Ironlb):
    """`ironlb run` holding BGP sessions: lab.Ironlb plus the "bgp" key of
    /status ({"sessions": [{"name", "peer", "state", "uptime_s",
    "hold_time", "capabilities", "gtsm", "last_error", "counters", "routes":
    [{"prefix", "local_pref", "communities", "services"}]}]})."""

    def __init__(self, host, manifests, bgp_port=None, **kw):
        kw.setdefault("install_vips", False)
        extra = list(kw.pop("extra", ()))
        if bgp_port is not None:
            extra += ["--bgp-port", str(bgp_port)]
        super().__init__(host, manifests, extra=extra, **kw)

    def sessions(self):
        """{name: session} from /status (empty when there is no "bgp")."""
        st = self.status()
        return {s["name"]: s for s in (st.get("bgp") or {}).get("sessions", []) or []}

    def session(self, name):
        return self.sessions().get(name)

    def wait_established(self, names, timeout=20):
        last = {}

        def ok():
            nonlocal last
            last = self.sessions()
            return all((last.get(n) or {}).get("state") == "Established" for n in names)
        try:
            poll(ok, timeout, what=f"ironlb sessions {list(names)} Established")
        except labmod.PollTimeout as e:
            brief = {n: {k: (last.get(n) or {}).get(k) for k in ("state", "last_error", "peer")}
                     for n in names}
            raise labmod.PollTimeout(f"{e}; ironlb says {brief}") from None
        return last

    def bfd_sessions(self):
        """{name: BFD session} from the "bfd" key of /status (read with
        curl: cheaper than `ironlb status` when polled fast)."""
        st = json.loads(self.fetch("/status"))
        return {s["name"]: s for s in st.get("bfd") or []}

    def bfd_session(self, name):
        return self.bfd_sessions().get(name)

    def wait_bfd(self, name, state="Up", timeout=20, pred=None):
        last = None

        def ok():
            nonlocal last
            last = self.bfd_session(name)
            return last if (last and last.get("state") == state
                            and (pred is None or pred(last))) else None
        try:
            return poll(ok, timeout, what=f"ironlb BFD session {name} {state}")
        except labmod.PollTimeout as e:
            raise labmod.PollTimeout(f"{e}; ironlb says {last}") from None

    def announced(self, name):
        """{prefix: route} that /status says session `name` announces."""
        s = self.session(name) or {}
        return {norm_prefix(r["prefix"]): r for r in s.get("routes", []) or []}

    def ingress(self):
        """{"namespace/name": [addresses]} of every Service with addresses."""
        out = {}
        for s in self.status().get("services", []):
            if s.get("ingress"):
                out[f"{s['namespace']}/{s['name']}"] = list(s["ingress"])
        return out

    def vm(self):
        """VmRSS and VmHWM of the daemon in KiB (ip netns exec execs, so the
        spawned pid is ironlb's)."""
        out = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
        return out


def host_prefixes(addresses, fam):
    """/32 or /128 prefixes of the addresses of one family."""
    return {norm_prefix(f"{a}/{32 if fam == 4 else 128}") for a in addresses if family(a) == fam}


# ---------------------------------------------------------------------------
# BGP messages by hand: a scripted peer


MARKER = b"\xff" * 16
MSG_OPEN, MSG_UPDATE, MSG_NOTIFICATION, MSG_KEEPALIVE = 1, 2, 3, 4


def bgp_msg(mtype, body=b"", length=None):
    """A BGP message: marker, length (the real one unless given), type."""
    n = 19 + len(body) if length is None else length
    return MARKER + struct.pack("!HB", n, mtype) + body


def bgp_open(asn, bgp_id, hold=90, families=((1, 1),), four_octet=True, extra_caps=b""):
    caps = b""
    for afi, safi in families:
        caps += bytes([1, 4]) + struct.pack("!HBB", afi, 0, safi)
    if four_octet:
        caps += bytes([65, 4]) + struct.pack("!I", asn)
    caps += extra_caps
    params = bytes([2, len(caps)]) + caps if caps else b""
    my_as = asn if asn <= 0xffff else 23456
    body = struct.pack("!BHH", 4, my_as, hold) + socket.inet_aton(bgp_id)
    body += bytes([len(params)]) + params
    return bgp_msg(MSG_OPEN, body)


def bgp_attr(flags, type_code, value, length=None):
    """A path attribute; `length` overrides the real length (to lie)."""
    n = len(value) if length is None else length
    if flags & 0x10:
        return bytes([flags, type_code]) + struct.pack("!H", n) + value
    return bytes([flags, type_code, n]) + value


def bgp_update(withdrawn=b"", attrs=b"", nlri=b"", withdrawn_len=None, attrs_len=None):
    wl = len(withdrawn) if withdrawn_len is None else withdrawn_len
    al = len(attrs) if attrs_len is None else attrs_len
    body = struct.pack("!H", wl) + withdrawn + struct.pack("!H", al) + attrs + nlri
    return bgp_msg(MSG_UPDATE, body)


def parse_notification(body):
    """(code, subcode, data) of a NOTIFICATION body."""
    if len(body) < 2:
        return None, None, body
    return body[0], body[1], body[2:]


class BgpConn:
    """One TCP connection with a BGP speaker, read message by message."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.received = []   # (type, body) in order

    def send(self, data):
        self.sock.sendall(data)

    def recv_msg(self, timeout=10.0):
        """The next message as (type, body); None when the peer closed the
        connection; raises TimeoutError after `timeout`."""
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 19:
                if self.buf[:16] != MARKER:
                    raise ValueError(f"bad marker: {self.buf[:19].hex()}")
                n = struct.unpack("!H", self.buf[16:18])[0]
                if n < 19:
                    raise ValueError(f"bad length {n}")
                if len(self.buf) >= n:
                    m = (self.buf[18], self.buf[19:n])
                    self.buf = self.buf[n:]
                    self.received.append(m)
                    return m
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete BGP message")
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.buf += data

    def wait_for(self, mtype, timeout=10.0):
        """Read until a message of mtype (returned as its body); None when
        the connection closed first."""
        end = time.monotonic() + timeout
        while True:
            m = self.recv_msg(max(0.0, end - time.monotonic()))
            if m is None:
                return None
            if m[0] == mtype:
                return m[1]

    def closed(self, timeout=5.0):
        """True once the peer has closed the connection (reads and drops
        whatever comes before)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([self.sock], [], [], max(0.0, end - time.monotonic()))
            if not r:
                continue
            try:
                if not self.sock.recv(65536):
                    return True
            except ConnectionResetError:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ScriptedPeer:
    """A listening BGP "router" in Python: accepts the speaker's
    connection on addr:port inside host's namespace, and lets a test
    exchange raw messages on it."""

    def __init__(self, host, addr, port=179):
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with labmod.netns(host.ns):
            self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((addr, port))
        self.lsock.listen(4)
        self.conns = []

    def accept(self, timeout=20.0):
        r, _, _ = select.select([self.lsock], [], [], timeout)
        if not r:
            raise TimeoutError(f"nobody connected within {timeout}s")
        s, _ = self.lsock.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = BgpConn(s)
        self.conns.append(c)
        return c

    def establish(self, asn, bgp_id, timeout=20.0, **open_kw):
        """Accept a connection, take the speaker's OPEN, answer with ours
        and a KEEPALIVE, and wait for its KEEPALIVE (Established).
        Returns (conn, the speaker's OPEN body)."""
        c = self.accept(timeout)
        their_open = c.wait_for(MSG_OPEN, timeout)
        if their_open is None:
            raise ConnectionError("closed before its OPEN")
        c.send(bgp_open(asn, bgp_id, **open_kw))
        c.send(bgp_msg(MSG_KEEPALIVE))
        if c.wait_for(MSG_KEEPALIVE, timeout) is None:
            raise ConnectionError(f"closed before its KEEPALIVE; got {c.received}")
        return c, their_open

    def close(self):
        for c in self.conns:
            c.close()
        self.lsock.close()


# ---------------------------------------------------------------------------
# BGP on the wire: when did an UPDATE arrive


class BgpSniffer:
    """Capture TCP segments to or from port 179 on one interface of a host
    (AF_PACKET, kernel receive timestamps in CLOCK_REALTIME) and keep, per
    segment, the BGP messages that start in it.  Enough to time UPDATEs:
    a message split over segments is seen in the segment where it starts
    (its type byte must be in it)."""

    def __init__(self, host, ifname="eth0"):
        with labmod.netns(host.ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                      socket.htons(labmod.ETH_P_ALL))
        self.sock.bind((ifname, labmod.ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, labmod.SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        self.events = []     # (ts, src, dst, [(type, bytes of the message seen)])
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
                if lvl == socket.SOL_SOCKET and typ == labmod.SO_TIMESTAMPNS and len(val) >= 16:
                    sec, nsec = struct.unpack("qq", val[:16])
                    ts = sec + nsec / 1e9
            ev = parse_bgp_segment(data)
            if ev:
                with self.lock:
                    self.events.append((ts,) + ev)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def clear(self):
        with self.lock:
            self.events.clear()

    def stop(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def parse_bgp_segment(frame):
    """(src ip, dst ip, [(type, message bytes present)]) of an Ethernet
    frame carrying a TCP segment from or to port 179 with payload."""
    if len(frame) < 14:
        return None
    etype = struct.unpack("!H", frame[12:14])[0]
    if etype == 0x0800:
        ihl = (frame[14] & 0x0f) * 4
        if frame[23] != 6:
            return None
        src, dst = socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])
        tot = struct.unpack("!H", frame[16:18])[0]
        tcp = frame[14 + ihl:14 + tot]
    elif etype == 0x86DD:
        if frame[20] != 6:   # no extension headers on these segments
            return None
        src = socket.inet_ntop(socket.AF_INET6, frame[22:38])
        dst = socket.inet_ntop(socket.AF_INET6, frame[38:54])
        plen = struct.unpack("!H", frame[18:20])[0]
        tcp = frame[54:54 + plen]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport = struct.unpack("!HH", tcp[:4])
    if 179 not in (sport, dport):
        return None
    payload = tcp[(tcp[12] >> 4) * 4:]
    msgs = []
    i = 0
    while True:
        i = payload.find(MARKER, i)
        if i < 0 or i + 19 > len(payload):
            break
        n = struct.unpack("!H", payload[i + 16:i + 18])[0]
        msgs.append((payload[i + 18], payload[i:i + n]))
        i += max(n, 19)
    if not msgs:
        return None
    return src, dst, msgs
