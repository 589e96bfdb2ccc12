#!/usr/bin/env python3
"""Run every libFuzzer harness (or the ones named) for a given time and
print what each did: executions, executions per second, coverage (edges
"cov" and features "ft" as libFuzzer counts them), corpus size, crashes.

Method: the harnesses are those of a fuzz build (`cmake -S . -B build-fuzz
-G Ninja -DCMAKE_C_COMPILER=clang -DIRONLB_FUZZ=ON && ninja -C build-fuzz
fuzz_...`, see docs/architecture.md).  Each runs one after the other with
-max_total_time, starting from a copy of its committed corpus
(tests/fuzz/corpus/NAME) in a work directory, so the committed corpus is
not changed; new inputs stay in the work directory (--keep to leave it;
merge the useful ones by hand with -merge=1).  A crash, a leak or
undefined behaviour (the fuzz build aborts on it) ends that harness and is
saved as WORK/crashes/NAME-*; the script then exits 1.

    python3 bench/fuzz.py --seconds 600             # every harness, 10 min each
    python3 bench/fuzz.py --seconds 20 http_request daemon_state

Prints, per harness:
    NAME: execs=N execs_per_s=N cov=N ft=N corpus=N crashes=N seconds=N
and a total line.  The machine is shared: one harness at a time, one
process each (-jobs is not used).
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def harnesses(build):
    return sorted(p.name[len("fuzz_"):] for p in build.glob("fuzz_*")
                  if p.is_file() and p.stat().st_mode & 0o111)


def run_one(build, name, seconds, work, rss_mb):
    binary = build / f"fuzz_{name}"
    corpus = work / "corpus" / name
    crashes = work / "crashes"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    seed = ROOT / "tests" / "fuzz" / "corpus" / name
    if seed.is_dir():
        for f in seed.iterdir():
            if f.is_file():
                shutil.copy(f, corpus / f.name)
    cmd = [str(binary), f"-max_total_time={seconds}", "-print_final_stats=1",
           f"-rss_limit_mb={rss_mb}", f"-artifact_prefix={crashes}/{name}-", str(corpus)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    took = time.monotonic() - t0
    out = p.stderr + p.stdout
    stats = {"execs": 0, "cov": 0, "ft": 0, "corpus": 0}
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
    if m:
        stats["execs"] = int(m.group(1))
    # The last status line: "#N <what> cov: C ft: F corp: K/..."
    for line in out.splitlines():
        m = re.match(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", line)
        if m:
            if not stats["execs"]:
                stats["execs"] = int(m.group(1))
            stats["cov"], stats["ft"], stats["corpus"] = (int(m.group(2)), int(m.group(3)),
                                                          int(m.group(4)))
    found = sorted(crashes.glob(f"{name}-*"))
    if p.returncode != 0 and not found:
        # Died without an artifact (e.g. out of memory before one was
        # written): show the end of its output.
        sys.stderr.write(f"{name}: exit {p.returncode}\n" + "\n".join(out.splitlines()[-20:])
                         + "\n")
    stats["crashes"] = len(found) + (1 if p.returncode != 0 and not found else 0)
    stats["seconds"] = took
    return stats, found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="harnesses (default: all), e.g. http_request")
    ap.add_argument("--seconds", type=int, default=60, help="per harness (default 60)")
    ap.add_argument("--build", default=str(ROOT / "build-fuzz"),
                    help="the fuzz build directory (default build-fuzz)")
    ap.add_argument("--work", help="work directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--rss-limit-mb", type=int, default=1024)
    a = ap.parse_args()

    build = pathlib.Path(a.build)
    names = a.names or harnesses(build)
    if not names:
        sys.exit(f"no fuzz_* harness in {build}: build them first (see --help)")
    for n in names:
        if not (build / f"fuzz_{n}").exists():
            sys.exit(f"{build}/fuzz_{n}: not built (harnesses: {', '.join(harnesses(build))})")
    work = pathlib.Path(a.work) if a.work else pathlib.Path(tempfile.mkdtemp(prefix="ironlb-fuzz-"))
    total = {"execs": 0, "crashes": 0, "seconds": 0.0}
    all_found = []
    try:
        for n in names:
            s, found = run_one(build, n, a.seconds, work, a.rss_limit_mb)
            all_found += found
            rate = s["execs"] / s["seconds"] if s["seconds"] > 0 else 0
            print(f"{n}: execs={s['execs']} execs_per_s={rate:.0f} cov={s['cov']} "
                  f"ft={s['ft']} corpus={s['corpus']} crashes={s['crashes']} "
                  f"seconds={s['seconds']:.1f}", flush=True)
            for k in total:
                total[k] += s[k]
        print(f"total: harnesses={len(names)} execs={total['execs']} "
              f"crashes={total['crashes']} seconds={total['seconds']:.1f}")
        for f in all_found:
            print(f"crash: {f}")
    finally:
        if a.keep or all_found:
            print(f"work directory: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if total["crashes"] else 0)


if __name__ == "__main__":
    main()
