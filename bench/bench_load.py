"""Loopback load on the warm listing (and history / snapshot body) with 1 and N gunicorn
workers: bounded in duration.

The load generator is ``wrk`` when it is on PATH (``--generator wrk`` insists on it),
else ``bench/loadgen.py``, a small keep-alive generator in Python that needs nothing
installed (``--generator python``). Both the baseline (the emulator's list route) and
Layer's routes go through the same generator in one run, so the ratios compare; the
absolute req/s of the two generators do not (the Python one spends more CPU per
request, on the same cores as the servers).

    python -m bench.bench_load --workers 1 --workers 4 --duration 10
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from bench import loadgen
from bench.harness import Proc, _wait_http, emulator, free_port, table


@contextmanager
def gunicorn(upstream: str, workers: int) -> Iterator[Proc]:
    port = free_port()
    data = tempfile.mkdtemp(prefix="layer-load-")
    env = {
        **os.environ,
        "TURBOPUFFER_BASE_URL": upstream,
        "LAYER_KV": f"sqlite://{data}/kv.sqlite",
        "LAYER_OBJECT_STORE": f"file://{data}/objects",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": str(workers),
        "LAYER_THREADS": "8",
        "LAYER_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": data,
    }
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:backend.gunicorn_conf",
        "--access-logfile",
        "/dev/null",
    ]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = Proc(p, f"http://127.0.0.1:{port}")
    try:
        _wait_http(f"{proc.url}/healthz", f"gunicorn with {workers} workers", proc=p)
        yield proc
    finally:
        proc.stop()
        shutil.rmtree(data, ignore_errors=True)


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v


def wrk(url: str, duration: int, connections: int) -> tuple[float, float, int]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=duration + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(m.group(1)) if m else 0
    # connect/read/write errors and timeouts are failures too, not just non-2xx answers
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    if p99 != p99:  # nan: show what wrk printed instead of hiding it
        print(f"  could not read the p99 from wrk's output:\n{out}", file=sys.stderr)
    return rps, p99, errors


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", type=int, action="append")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    a = ap.parse_args()
    gen = a.generator
    if gen == "auto":
        gen = "wrk" if shutil.which("wrk") else "python"
    if gen == "wrk" and shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk, or --generator python)", file=sys.stderr)
        return 2
    load = wrk if gen == "wrk" else loadgen.run
    print(f"load generator: {gen}, {a.connections} connections, {a.duration} s per route")
    rows = []
    with emulator("--demo", "--index-lag-ms", "100") as emu:
        direct_rps, direct_p99, _ = load(
            f"{emu.url}/v1/namespaces?page_size=100", a.duration, a.connections
        )
        for workers in a.workers or [1, 4]:
            with gunicorn(emu.url, workers) as g:
                s = requests.Session()
                job = s.post(
                    f"{g.url}/v2/namespaces/products/snapshots",
                    json={"field": "category", "source": "origin"},
                    timeout=30,
                ).json()
                while (
                    job := s.get(
                        f"{g.url}/v2/namespaces/products/snapshot-jobs/{job['id']}", timeout=30
                    ).json()
                )["status"] == "running":
                    time.sleep(0.05)
                for _ in range(workers * 4):  # warm every worker's listing cache
                    s.get(
                        f"{g.url}/v2/namespaces?page_size=100",
                        headers={"Connection": "close"},
                        timeout=30,
                    )
                for label, path in (
                    ("listing page 100 (warm)", "/v2/namespaces?page_size=100"),
                    ("history", "/v2/namespaces/products/history"),
                    ("snapshot body", f"/v2/namespaces/products/snapshots/{job['sha'][:7]}"),
                ):
                    rps, p99, errors = load(g.url + path, a.duration, a.connections)
                    rows.append(
                        (
                            f"{label}, {workers} worker(s): req/s, p99 ms, errors",
                            f"{rps:,.0f} / {p99:.1f} / {errors}",
                            f"{direct_rps:,.0f} / {direct_p99:.1f} emulator list",
                            f"{rps / direct_rps:.2f}x",
                        )
                    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
