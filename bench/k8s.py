#!/usr/bin/env python3
"""Kubernetes-mode benchmark (not a test): `ironlb controller` and one
`ironlb speaker` against a real kube-apiserver and etcd (tests/k8s), with N
RequireDualStack LoadBalancer Services created before either starts (a
restart into a full cluster: the worst burst of writes).

Prints `key: value` lines:
  services                  N
  controller_all_ingress_s  controller start -> every Service has both addresses
  speaker_all_l2status_s    speaker start -> a ServiceL2Status for every Service
  controller_rss_kib, controller_hwm_kib   VmRSS / VmHWM once done
  speaker_rss_kib, speaker_hwm_kib
  idle_rss_kib              the speaker's VmRSS with no Service (libraries)

Everything runs in a network namespace of its own (made and removed here)
holding a veth pair for the speaker's Layer 2 engine; the API server
listens on that namespace's loopback.

Usage: sudo python3 bench/k8s.py [-n 1000] [--bin build/ironlb-k8s]"""
import argparse
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "k8s"))
NETNS = f"ironlb-bench-k8s-{os.getpid()}"

CONFIG = """
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bench, namespace: metallb-system}
spec: {addresses: [10.0.0.0/16, "2001:db8::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: bench, namespace: metallb-system}
"""


def mem(pid):
    d = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return int(d["VmRSS"].split()[0]), int(d["VmHWM"].split()[0])


def count(plane, *args):
    r = plane.kubectl("get", *args, "-o", "name", check=False, timeout=120)
    return len(r.stdout.split())


def run(n, binary):
    import controlplane as cpmod
    out = {"services": n}
    with cpmod.ControlPlane(cpmod.find_binaries()) as p:
        p.kubectl("apply", "-f", str(ROOT / "deploy" / "ironlb.yaml"))
        cpmod.wait_until(lambda: p.kubectl("get", "ipaddresspools.metallb.io", "-A",
                                           check=False).returncode == 0, timeout=60)
        p.apply(CONFIG)
        items = [{"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": f"s{i}", "namespace": "default"},
                  "spec": {"type": "LoadBalancer", "ipFamilyPolicy": "RequireDualStack",
                           "ports": [{"port": 80}]}} for i in range(n)]
        for i in range(0, n, 500):
            p.apply({"apiVersion": "v1", "kind": "List", "items": items[i:i + 500]},
                    timeout=600)
        procs = []
        try:
            t0 = time.monotonic()
            ctl = subprocess.Popen([binary, "controller", "--kubeconfig", str(p.kubeconfig),
                                    "--metrics-listen", "127.0.0.1:0"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(ctl)

            def all_ingress():
                r = p.kubectl("get", "svc", "-n", "default", "-o",
                              "jsonpath={range .items[*]}{.status.loadBalancer.ingress[1].ip}{\"\\n\"}{end}",
                              timeout=120)
                return sum(1 for line in r.stdout.splitlines() if line.strip()) >= n

            cpmod.wait_until(all_ingress, timeout=1200, what="every Service has two addresses")
            out["controller_all_ingress_s"] = round(time.monotonic() - t0, 2)
            t1 = time.monotonic()
            spk = subprocess.Popen([binary, "speaker", "--node-name", "node-a", "--kubeconfig",
                                    str(p.kubeconfig), "--metrics-listen", "127.0.0.1:0"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(spk)
            cpmod.wait_until(lambda: count(p, "servicel2statuses", "-n", "metallb-system") >= n,
                             timeout=1200, what="a ServiceL2Status per Service")
            out["speaker_all_l2status_s"] = round(time.monotonic() - t1, 2)
            # Settled: no more writes pending.
            time.sleep(2)
            out["controller_rss_kib"], out["controller_hwm_kib"] = mem(ctl.pid)
            out["speaker_rss_kib"], out["speaker_hwm_kib"] = mem(spk.pid)
        finally:
            for pr in procs:
                if pr.poll() is None:
                    pr.terminate()
                    try:
                        pr.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        pr.kill()
    for k, v in out.items():
        print(f"{k}: {v}")


def idle(binary):
    import controlplane as cpmod
    with cpmod.ControlPlane(cpmod.find_binaries()) as p:
        p.kubectl("apply", "-f", str(ROOT / "deploy" / "ironlb.yaml"))
        cpmod.wait_until(lambda: p.kubectl("get", "ipaddresspools.metallb.io", "-A",
                                           check=False).returncode == 0, timeout=60)
        p.apply(CONFIG)
        spk = subprocess.Popen([binary, "speaker", "--node-name", "node-a", "--kubeconfig",
                                str(p.kubeconfig), "--metrics-listen", "127.0.0.1:0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            cpmod.wait_until(lambda: count(p, "configurationstates", "-n",
                                           "metallb-system") >= 1, timeout=60)
            time.sleep(2)
            print(f"idle_rss_kib: {mem(spk.pid)[0]}")
        finally:
            spk.terminate()
            spk.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--bin", default=os.environ.get("IRONLB_K8S_BIN",
                                                    str(ROOT / "build" / "ironlb-k8s")))
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    if a.inside:
        idle(binary)
        run(a.n, binary)
        return
    if os.geteuid() != 0:
        sys.exit("bench/k8s.py needs root (a network namespace of its own)")
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
                    ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "eth1", "up"]):
            subprocess.run(["ip", "netns", "exec", NETNS, *cmd], check=True)
        r = subprocess.run(["ip", "netns", "exec", NETNS, sys.executable, __file__, "--inside",
                            "-n", str(a.n), "--bin", binary])
        sys.exit(r.returncode)
    finally:
        for pid in subprocess.run(["ip", "netns", "pids", NETNS], capture_output=True,
                                  text=True).stdout.split():
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        subprocess.run(["ip", "netns", "del", NETNS])


if __name__ == "__main__":
    main()
