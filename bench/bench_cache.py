"""The ``cache`` snapshot source vs. ``origin`` on the same filters, in the same run.

Warms a namespace into Layer's document cache (SQLite KV), then times snapshot jobs
with the same field and filter from ``source: cache`` and ``source: origin``; origin
runs both with the default strategy (the upstream's aggregation when it is
equivalent) and with the id-ordered scan. The figure is documents per second: the
namespace's documents a job answers for, divided by the job's duration as its record
gives it (``created_at`` to ``finished_at``, in milliseconds, so a 2 ms job reads as
2 ± 1 ms); the ratio is cache over origin.

    python -m bench.bench_cache                       # products (12,500 docs)
    python -m bench.bench_cache --big 1000000         # and a 1,000,000-doc namespace
    python -m bench.bench_cache --latency-ms 10       # an upstream 10 ms away
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import requests

from bench.harness import Proc, backend, emulator, p50, run_job, table


def warm(b: Proc, ns: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    r = requests.post(f"{b.url}/v2/namespaces/{ns}/cache/warm", timeout=60)
    r.raise_for_status()
    job_id = r.json()["id"]
    while True:
        job = requests.get(f"{b.url}/v2/namespaces/{ns}/snapshot-jobs/{job_id}", timeout=60).json()
        if job["status"] == "completed":
            return int(job["documents_scanned"]), time.perf_counter() - t0
        if job["status"] != "running":
            raise RuntimeError(f"warm failed: {job}")
        time.sleep(0.05)


def a_brand(emu: Proc, ns: str) -> str:
    rows = requests.post(
        f"{emu.url}/v2/namespaces/{ns}/query",
        json={"rank_by": ["id", "asc"], "limit": 1, "include_attributes": ["brand"]},
        timeout=30,
    ).json()["rows"]
    return str(rows[0]["brand"])


def bench(
    emu: Proc, auto_b: Proc, scan_b: Proc, ns: str, repeats: int
) -> list[tuple[str, str, str, str]]:
    n, warm_s = warm(auto_b, ns)
    filters: list[tuple[str, Any]] = [
        ("brand Eq", ["brand", "Eq", a_brand(emu, ns)]),
        ("tags Contains Or price Lt", ["Or", [["tags", "Contains", "sale"], ["price", "Lt", 20]]]),
    ]
    rows = [(f"{ns}: warm {n:,} docs, docs/s", f"{n / warm_s:,.0f}", "-", "-")]
    for label, f in filters:
        cache_runs = [
            run_job(auto_b, ns, field="category", source="cache", filters=f) for _ in range(repeats)
        ]
        agg_runs = [
            run_job(auto_b, ns, field="category", source="origin", filters=f)
            for _ in range(repeats)
        ]
        scan_runs = [
            run_job(scan_b, ns, field="category", source="origin", filters=f, page_size=10_000)
            for _ in range(max(1, repeats // 3))
        ]
        want = cache_runs[0][0]["result"]
        assert all(j["result"] == want for j, _ in cache_runs + agg_runs + scan_runs), label
        assert cache_runs[0][0]["resolved_source"] == "cache"
        cache_s = p50([s for _, s in cache_runs])
        agg_s = p50([s for _, s in agg_runs])
        scan_s = p50([s for _, s in scan_runs])
        rows.append(
            (
                f"{ns} [{label}]: cache vs origin (aggregate) docs/s",
                f"{n / cache_s:,.0f}",
                f"{n / agg_s:,.0f}",
                f"{agg_s / cache_s:.2f}x",
            )
        )
        rows.append(
            (
                f"{ns} [{label}]: cache vs origin (scan) docs/s",
                f"{n / cache_s:,.0f}",
                f"{n / scan_s:,.0f}",
                f"{scan_s / cache_s:.2f}x",
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--big", type=int, default=0, help="documents in a generated namespace (0: skip)"
    )
    ap.add_argument(
        "--latency-ms", type=int, default=0, help="delay the emulator adds to every response"
    )
    ap.add_argument("--repeats", type=int, default=9)
    a = ap.parse_args()
    emu_args = ["--demo", "--index-lag-ms", "100", "--latency-ms", str(a.latency_ms)]
    if a.big:
        emu_args += ["--bulk", f"big={a.big}"]
    rows: list[tuple[str, str, str, str]] = []
    with (
        emulator(*emu_args) as emu,
        backend(emu.url, LAYER_WATCH_PAGE_SIZE="10000") as auto_b,
        backend(emu.url, LAYER_ORIGIN_STRATEGY="scan") as scan_b,
    ):
        rows += bench(emu, auto_b, scan_b, "products", a.repeats)
        if a.big:
            rows += bench(emu, auto_b, scan_b, "big", max(1, a.repeats // 3))
    print(f"upstream latency {a.latency_ms} ms; ratio = origin time / cache time")
    print(table(rows))


if __name__ == "__main__":
    main()
