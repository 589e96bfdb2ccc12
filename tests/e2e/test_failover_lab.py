"""Self-tests of the failover lab (tests/e2e/failover.py): each failure
does what it says as the client and the nodes see it, the partition heals,
and the client-side measurements report what happened.  None of this needs
ironlb."""
import signal
import socket
import time

import failover as fo
import lab as labmod
from lab import poll


def reaches(src, dst_ip):
    """One ping from src to dst_ip answered within 0.5 s."""
    fam = "-6" if ":" in dst_ip else "-4"
    return src.run(["ping", fam, "-c", "1", "-W", "0.5", dst_ip], check=False,
                   timeout=5).returncode == 0


def test_partition_and_link_cut_and_heal(tools, tmp_path):
    with labmod.Lab(workdir=tmp_path) as L:
        fl = fo.FailoverLab(L)
        c = fl.client
        a, b, n3 = (fl.host(n) for n in fo.NODES)
        ip = {n: fl.host(n).ifaces["eth0"].v4 for n in fo.NODES}
        ip6b = b.ifaces["eth0"].v6
        assert fl.port("node-a") != fl.port("node-b")
        for n in fo.NODES:
            poll(lambda n=n: reaches(c, ip[n]), 5, what=f"client reaches {n}")

        fl.partition(("client", "node-a"), ("node-b", "node-c"))
        assert reaches(c, ip["node-a"])
        assert reaches(b, ip["node-c"])
        assert not reaches(c, ip["node-b"]) and not reaches(a, ip["node-c"])
        assert not reaches(c, ip6b)
        fl.heal()
        poll(lambda: reaches(c, ip["node-b"]) and reaches(a, ip["node-c"])
             and reaches(c, ip6b), 5, what="partition healed")

        fl.link_down("node-c")
        # the node sees its cable pulled: no carrier on eth0
        assert "NO-CARRIER" in n3.run(["ip", "link", "show", "dev", "eth0"]).stdout
        assert not reaches(c, ip["node-c"])
        fl.link_up("node-c")
        poll(lambda: reaches(c, ip["node-c"]), 5, what="link restored")


def test_kill_freeze_and_the_client_visible_outage(tools, tmp_path):
    with labmod.Lab(workdir=tmp_path) as L:
        fl = fo.FailoverLab(L)
        b = fl.host("node-b")
        ip = b.ifaces["eth0"].v4
        labmod.start_httpd(b)
        extra = b.spawn(["sleep", "300"])
        with fo.HttpLoop(fl.client, ip, max_seconds=60) as loop:
            poll(lambda: loop.last_ok(), 5, what="first answer")
            assert loop.last_ok()[2] == "node-b"

            # frozen: nothing answers until SIGCONT
            t0 = fl.freeze("node-b")
            poll(lambda: any(r[0] >= t0 and not r[2] for r in loop.snapshot()), 5,
                 what="a request to the frozen node failed")
            assert loop.outage(t0) is None
            fl.thaw("node-b")
            gap, who = poll(lambda: loop.outage(t0), 5, what="answers after SIGCONT")
            assert who == "node-b" and 0.1 <= gap < 3

            # killed: every process of the node is gone, answers stop
            t1 = fl.kill("node-b")
            assert fl.pids("node-b") == []
            assert not extra.alive() and extra.returncode == -signal.SIGKILL
            labmod.start_httpd(b)
            gap, who = poll(lambda: loop.outage(t1), 10, what="answers after restart")
            assert who == "node-b" and gap > 0
        n = len(loop.snapshot())
        assert n > 10
        loop.trim(time.time() + 1)
        assert loop.snapshot() == []


def test_first_gratuitous_from_another_node(tools, tmp_path):
    with labmod.Lab(workdir=tmp_path) as L:
        fl = fo.FailoverLab(L)
        c, a, b = fl.client, fl.host("node-a"), fl.host("node-b")
        vip = "192.168.100.77"

        def claim(h):
            with labmod.netns(h.ns):
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            try:
                s.bind(("eth0", 0))
                s.send(labmod.arp_request(h.mac(), vip, vip))
            finally:
                s.close()

        with labmod.Sniffer(c) as sn:
            t0 = time.time()
            claim(a)       # the failed owner's frame is not the takeover
            poll(lambda: labmod.garps(sn.snapshot(), vip), 5, what="node-a's frame seen")
            claim(b)
            delay, mac = fo.first_gratuitous(sn, vip, t0, not_mac=a.mac(), timeout=5)
            assert mac == b.mac() and 0 <= delay < 5
