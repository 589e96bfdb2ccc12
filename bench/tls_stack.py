#!/usr/bin/env python3
"""What an HTTP/TLS stack costs the Kubernetes client, measured (not a test).

Builds bench/tls/probe.c once per stack Debian packages offer, starts a real
kube-apiserver that trusts a client CA of ours, and runs every probe in turn,
`--reps` times, alternating: each connects, checks the server's certificate
against the plane's CA, presents an EC P-256 client certificate, sends
`--count` GETs on one connection and reports its resident memory (by mapped
file, from /proc/self/smaps) and its CPU time.

    sudo python3 bench/tls_stack.py [--reps 5] [--count 500]

Stacks: libcurl with OpenSSL (what ironlb links today, HTTP/2), libcurl with
GnuTLS (HTTP/2), and HTTP/1.1 written over OpenSSL, GnuTLS and mbed TLS
directly.  Needs libcurl4-openssl-dev, libcurl3-gnutls, libssl-dev,
libgnutls28-dev and libmbedtls-dev (a stack whose package is missing is
reported and skipped).
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "k8s"))
import controlplane as cpmod  # noqa: E402

LIB = "/usr/lib/x86_64-linux-gnu"
STACKS = [
    ("libcurl+OpenSSL (today)", "CURL", ["-lcurl"]),
    ("libcurl+GnuTLS", "CURL", [f"{LIB}/libcurl-gnutls.so.4"]),
    ("HTTP/1.1 over OpenSSL", "OPENSSL", ["-lssl", "-lcrypto"]),
    ("HTTP/1.1 over GnuTLS", "GNUTLS", ["-lgnutls"]),
    ("HTTP/1.1 over mbed TLS 2.28", "MBEDTLS", ["-lmbedtls", "-lmbedx509", "-lmbedcrypto"]),
]
# What the process would map without any HTTP/TLS stack.
BASE = ("[heap]", "[anon]", "[stack]", "[vvar]", "[vdso]", "[vsyscall]", "libc.so.6",
        "ld-linux-x86-64.so.2")


def build(out):
    built = []
    for name, macro, libs in STACKS:
        exe = out / f"probe-{len(built)}"
        p = subprocess.run(["cc", "-O2", "-Wall", f"-DSTACK_{macro}", "-o", str(exe),
                            str(ROOT / "bench" / "tls" / "probe.c"), *libs],
                           capture_output=True, text=True)
        if p.returncode:
            print(f"# {name}: not built ({p.stderr.strip().splitlines()[-1:]})")
            continue
        libs_loaded = subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout
        built.append((name, exe, len(libs_loaded.strip().splitlines())))
    return built


def pki(d):
    def ossl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=tls-bench-ca", "-keyout", "ca.key",
         "-out", "ca.crt")
    ossl("req", *ec, "-subj", "/O=system:masters/CN=tls-bench", "-keyout", "client.key",
         "-out", "client.csr")
    ossl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "1", "-out", "client.crt")


def med(xs):
    return statistics.median(xs), min(xs), max(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--count", type=int, default=500, help="GETs on one connection")
    ap.add_argument("--path", default="/api/v1/namespaces/default")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ironlb-tls-") as t:
        t = pathlib.Path(t)
        built = build(t)
        pki(t)
        with cpmod.ControlPlane(cpmod.find_binaries(), extra_apiserver_args=[
                f"--client-ca-file={t / 'ca.crt'}"]) as p:
            def run(exe, name, ca, count):
                return subprocess.run([str(exe), name, "127.0.0.1", str(p.port), str(ca),
                                       str(t / "client.crt"), str(t / "client.key"), a.path,
                                       str(count)], capture_output=True, text=True,
                                      timeout=120)
            # What each stack checks: the plane's certificate names both
            # kubernetes.default.svc and 127.0.0.1 (in-cluster, the API server is reached
            # by IP address); a CA that did not sign it must be refused.
            checks = {}
            for name, exe, _ in built:
                ip = run(exe, "127.0.0.1", p.ca_file, 1)
                wrong = run(exe, "kubernetes.default.svc", t / "ca.crt", 1)
                checks[name] = ("yes" if ip.returncode == 0 else
                                "no: " + ip.stderr.strip().splitlines()[-1].removeprefix("probe: "),
                                "yes" if wrong.returncode else "NO")
            res = {name: [] for name, _, _ in built}
            for _ in range(a.reps):
                for name, exe, _ in built:
                    r = run(exe, "kubernetes.default.svc", p.ca_file, a.count)
                    if r.returncode:
                        sys.exit(f"{name}: {r.stderr.strip()}")
                    res[name].append(json.loads(r.stdout))
    print(f"# {a.reps} runs of each stack, alternating; {a.count} GETs of {a.path} on one "
          "connection, server certificate checked, EC client certificate presented.")
    print("# RSS: whole process after the requests; stack: resident pages of every mapped "
          "file but libc and the loader, plus the heap; median (min-max).")
    print("| stack | shared libraries | RSS KiB | stack's KiB | heap KiB | first request ms "
          "| CPU µs per GET | checks an IP address | refuses a wrong CA |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, _, nlib in built:
        rs = res[name]
        rss = med([r["rss_kib"] for r in rs])
        stack = med([sum(v for k, v in r["maps"].items()
                         if k not in BASE and not k.startswith("probe-")) + r["heap_kib"]
                     for r in rs])
        heap = med([r["heap_kib"] for r in rs])
        hs = med([r["handshake_ms"] for r in rs])
        cpu = med([r["cpu_ms"] * 1000 / a.count for r in rs])
        f = lambda m, d=0: f"{m[0]:,.{d}f} ({m[1]:,.{d}f}-{m[2]:,.{d}f})"  # noqa: E731
        print(f"| {name} | {nlib} | {f(rss)} | {f(stack)} | {f(heap)} | {f(hs, 1)} "
              f"| {f(cpu)} | {checks[name][0]} | {checks[name][1]} |")
    big = {}
    for name, _, _ in built:
        maps = res[name][0]["maps"]
        big[name] = sorted(((v, k) for k, v in maps.items() if k not in BASE
                            and not k.startswith("probe-")), reverse=True)[:8]
        print(f"# {name}: " + ", ".join(f"{k} {v}" for v, k in big[name]))


if __name__ == "__main__":
    main()
