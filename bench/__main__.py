"""Run every benchmark and print their tables: ``python -m bench`` (``--quick`` for smaller sizes).

Each benchmark runs in its own process, one after the other (they start their own
emulator and backend processes), and prints ratios against baselines it measured in the
same run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

FULL = [
    ("proxy overhead", ["bench.bench_proxy"]),
    (
        "listing",
        ["bench.bench_listing", "--latency-ms", "10", "--page-size", "100", "--page-size", "1000"],
    ),
    ("watcher", ["bench.bench_watcher", "--namespaces", "10000", "--latency-ms", "10"]),
    ("kv store", ["bench.bench_kv"]),
    ("snapshots", ["bench.bench_snapshot"]),
    ("chronology", ["bench.bench_chronology"]),
    ("document cache", ["bench.bench_cache"]),
    ("dashboard", ["bench.bench_dashboard"]),
    ("load", ["bench.bench_load", "--workers", "1", "--workers", "4", "--duration", "10"]),
    ("scale", ["bench.bench_scale"]),
]
QUICK = {
    "bench.bench_proxy": ["--requests", "200"],
    "bench.bench_listing": ["--latency-ms", "10", "--page-size", "100", "--repeats", "10"],
    "bench.bench_watcher": ["--namespaces", "2000", "--latency-ms", "10"],
    "bench.bench_snapshot": ["--big", "0"],
    "bench.bench_chronology": ["--seconds", "20", "--interval-ms", "5000", "--markers", "5000"],
    "bench.bench_load": ["--workers", "1", "--workers", "4", "--duration", "3"],
    "bench.bench_dashboard": ["--namespaces", "2000", "--refreshes", "2"],
    "bench.bench_cache": ["--repeats", "3"],
    "bench.bench_kv": ["--quick"],
    "bench.bench_scale": ["--quick"],
}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="smaller sizes (no 1,000,000-document namespace)"
    )
    ap.add_argument("--only", action="append", help="run only these (e.g. --only listing)")
    a = ap.parse_args()
    failed = 0
    for title, cmd in FULL:
        if (
            a.only
            and title not in a.only
            and cmd[0].rsplit(".", 1)[-1].removeprefix("bench_") not in a.only
        ):
            continue
        args = QUICK.get(cmd[0], cmd[1:]) if a.quick else cmd[1:]
        print(f"\n## {title}  (python -m {cmd[0]} {' '.join(args)})", flush=True)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", cmd[0], *args], capture_output=True, text=True)
        print(proc.stdout.rstrip())
        if proc.returncode != 0:
            failed += 1
            print(f"FAILED ({proc.returncode}):\n{proc.stderr[-2000:]}")
        print(f"({time.monotonic() - t0:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
