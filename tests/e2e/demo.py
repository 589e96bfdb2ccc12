"""The demo behind scripts/demo: the dual-stack guide's validation, run
against `ironlb run` on two nodes of a lab of network namespaces.

    client --- switch --- node-a (ironlb run, HTTP server)
                     \\--- node-b (ironlb run, HTTP server)

Both nodes run the guide's manifests (examples/dual-stack-l2) plus a Node
manifest each; the client reaches the service ranges on-link, so it finds
the Service addresses with ARP and NDP exactly as a host on the same LAN
would.  Then, as the guide's dual-stack-validation.sh does: the Service's
external IPs, curl -4 and curl -6, the owner's MAC seen by arping and
ndisc6, and the speakers' logs free of errors.  Prints SUCCESS/FAILED per
check; exits 0 only when every check passed.  Everything is torn down at
the end, on failure and on Ctrl-C."""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import lab as labmod  # noqa: E402

ROOT = labmod.ROOT
SVC = "dual-stack-test-svc"


class Checks:
    def __init__(self):
        self.results = []

    def record(self, name, ok, detail=""):
        self.results.append((name, ok))
        word = "SUCCESS" if ok else "FAILED"
        print(f"   {name}: {word}" + (f" ({detail})" if detail else ""), flush=True)
        return ok


def section(text):
    print(f"\n{text}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=str(ROOT / "build" / "ironlb"), help="the ironlb binary")
    args = ap.parse_args()
    os.environ["IRONLB_BIN"] = os.path.abspath(args.bin)

    if not labmod.is_root():
        print("demo: needs root (it creates network namespaces); run it with sudo", file=sys.stderr)
        return 2
    missing = labmod.missing_tools()
    if missing:
        print(f"demo: missing tools: {', '.join(missing)}; run scripts/install-deps",
              file=sys.stderr)
        return 2
    if not os.access(args.bin, os.X_OK):
        print(f"demo: {args.bin} not found; build it first", file=sys.stderr)
        return 2

    work = pathlib.Path(tempfile.mkdtemp(prefix="ironlb-demo-"))
    mdir = work / "manifests"
    shutil.copytree(ROOT / "examples" / "dual-stack-l2", mdir)
    nodes = ("node-a", "node-b")
    for n in nodes:
        (mdir / f"node-{n}.yaml").write_text(labmod.node_manifest(n))

    print("=== The plan: addresses the guide's Services get (ironlb plan) ===\n", flush=True)
    p = subprocess.run([args.bin, "plan", str(mdir)], capture_output=True, text=True)
    print(p.stdout.rstrip())
    if p.returncode != 0:
        print(p.stderr.rstrip())
        print("\nFAILED: ironlb plan rejected the manifests")
        return 1

    checks = Checks()
    t_start = time.monotonic()
    try:
        with labmod.Lab(workdir=work / "lab") as L:
            section("=== Lab: client, switch, node-a, node-b (network namespaces) ===")
            sw, clients, hosts = labmod.l2_lab(L, nodes)
            c = clients["client"]
            for name, h in (("client", c), *hosts.items()):
                i = h.ifaces["eth0"]
                print(f"   {name:<7} eth0 {i.v4:<13} {i.v6:<16} {h.mac()}")
            print(f"   client routes {labmod.SERVICE_V4} and {labmod.SERVICE_V6} on-link "
                  f"through eth0")
            speakers = {}
            for n, h in hosts.items():
                labmod.start_httpd(h)
                speakers[n] = labmod.Ironlb(h, mdir).start()
            print("   ironlb run --install-vips and an HTTP server on each node: running")

            def announced():
                sts = {n: s.status() for n, s in speakers.items()}
                es = [labmod.service(st, SVC) for st in sts.values()]
                if any(e is None or len(e["ingress"]) != 2 for e in es):
                    return None
                owner = es[0]["owner"]
                if any(e["owner"] != owner for e in es) or owner not in sts:
                    return None
                ann = labmod.engine_addresses(sts[owner])
                return es[0] if all(ip in ann for ip in es[0]["ingress"]) else None

            try:
                svc = labmod.poll(announced, 15, what=f"{SVC} announced")
            except labmod.PollTimeout as e:
                print(f"\nFAILED: {e}")
                for s in speakers.values():
                    print(f"--- {s.proc.log} ---\n{s.log()[-3000:]}")
                return 1
            owner = svc["owner"]
            owner_mac = hosts[owner].mac()

            section("=== ironlb status (node-a's view) ===\n")
            print(c.lab.run_in(hosts["node-a"].ns, [args.bin, "status", "--server",
                                                    speakers["node-a"].server]).stdout.rstrip())

            section("=== MetalLB Dual-Stack Validation ===")
            section("1. Checking service external IPs...")
            ipv4, ipv6 = svc["ingress"][0], svc["ingress"][1]
            print(f"   {ipv4}\n   {ipv6}")
            print(f"   IPv4 Address: {ipv4}\n   IPv6 Address: {ipv6}")
            l2 = {e["ip"]: e for e in speakers[owner].status()["layer2"]}
            print(f"   announced by {owner} (MAC {owner_mac}); election order: "
                  f"{', '.join(l2[ipv4]['candidates'])}")
            checks.record("External IPs", ":" not in ipv4 and ":" in ipv6,
                          f"ingress[0] {ipv4}, ingress[1] {ipv6}")

            section("2. Testing IPv4 connectivity...")
            code, body = c.curl(ipv4)
            print(f"   curl -4 http://{ipv4}/ -> {code} {body.strip()}")
            checks.record("IPv4", code == 200, f"HTTP {code} from {body.strip() or '?'}")

            section("3. Testing IPv6 connectivity...")
            code, body = c.curl(ipv6)
            print(f"   curl -6 http://[{ipv6}]/ -> {code} {body.strip()}")
            checks.record("IPv6", code == 200, f"HTTP {code} from {body.strip() or '?'}")

            section("4. Checking who answers ARP and NDP (the owner's MAC)...")
            macs = c.arping(ipv4, count=3)
            print(f"   arping -c 3 {ipv4}: {len(macs)} replies from "
                  f"{sorted(set(macs)) or 'nobody'}")
            ok = bool(macs) and set(macs) == {owner_mac}
            checks.record("ARP", ok, f"{len(macs)} replies, all from {owner}'s {owner_mac}" if ok
                          else f"expected replies from {owner}'s {owner_mac} only")
            macs6 = c.ndisc6(ipv6)
            print(f"   ndisc6 {ipv6} eth0: {sorted(set(macs6)) or 'no response'}")
            ok6 = bool(macs6) and set(macs6) == {owner_mac}
            checks.record("NDP", ok6, f"advertised by {owner}'s {owner_mac}" if ok6
                          else f"expected advertisements from {owner}'s {owner_mac} only")
            if not ok6:
                raw = c.solicit(ipv6)
                print(f"   (diagnosis: a raw Neighbor Solicitation gets Target link-layer "
                      f"address {sorted(set(raw)) or 'none'}; the client kernel's neighbour "
                      f"entry is {c.neigh(ipv6) or 'none'}; ndisc6 1.0.5 accepts only "
                      f"advertisements sent from the target address itself)")

            section("5. Checking the speakers' logs for errors...")
            errors = []
            for n, s in speakers.items():
                errors += [f"{n}: {line}" for line in s.log().splitlines()
                           if line.startswith("level=error")]
            for e in errors[:20]:
                print(f"   {e}")
            checks.record("Logs", not errors,
                          "no errors found" if not errors else f"{len(errors)} error lines")
    except KeyboardInterrupt:
        print("\ndemo: interrupted; lab torn down", file=sys.stderr)
        return 130

    failed = [n for n, ok in checks.results if not ok]
    section(f"=== Validation Complete ({time.monotonic() - t_start:.1f}s; lab torn down; "
            f"logs in {work / 'lab'}) ===")
    if failed:
        print(f"FAILED: {len(failed)} of {len(checks.results)} checks: {', '.join(failed)}")
        return 1
    print(f"SUCCESS: all {len(checks.results)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
