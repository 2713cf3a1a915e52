"""Snapshot throughput: Layer's origin scan vs. a bare ``requests`` paging loop.

Both page the same emulator process with the same page size and attributes in the
same run, so the ratio is the figure. Also: the aggregate fast path vs. the scan, an
array field (``tags``) counted on the server with ``ForEachUnique`` vs. the scan (on
``products`` its 16,820 distinct tags exceed the 10,000-group page, so ``auto``'s first
job falls back to the scan and later ones scan without asking; ``big`` has about
7,300), and
the ``stored`` read latency vs. an origin job.

    python -m bench.bench_snapshot            # products (12,500 docs) and a 1,000,000-doc namespace
    python -m bench.bench_snapshot --big 0    # products only
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import requests

from bench.harness import Proc, backend, emulator, p50, run_job, table, timed


def bare_scan(url: str, ns: str, field: str, page_size: int) -> tuple[int, float]:
    """The baseline: the documented export loop, parsing JSON, nothing else."""
    s = requests.Session()
    s.headers["Accept-Encoding"] = "identity"
    t0 = time.perf_counter()
    last: Any = None
    n = 0
    while True:
        body: dict[str, Any] = {
            "rank_by": ["id", "asc"],
            "limit": page_size,
            "include_attributes": [field],
            "consistency": {"level": "strong"},
        }
        if last is not None:
            body["filters"] = ["id", "Gt", last]
        rows = s.post(f"{url}/v2/namespaces/{ns}/query", json=body, timeout=120).json()["rows"]
        n += len(rows)
        if len(rows) < page_size:
            return n, time.perf_counter() - t0
        last = rows[-1]["id"]


def rss_peak_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def bench_namespace(
    emu: Proc, scan_b: Proc, auto_b: Proc, ns: str, page_size: int, repeat: int
) -> list[tuple[str, str, str, str]]:
    """Medians of ``repeat`` interleaved runs, after one warm-up run of each."""
    rows = []
    base_runs: list[float] = []
    scan_runs: list[float] = []
    agg_runs: list[float] = []
    job: dict[str, Any] = {}
    n = 0
    for i in range(repeat + 1):
        n, base_s = bare_scan(emu.url, ns, "category", page_size)
        job, layer_s = run_job(scan_b, ns, field="category", source="origin", page_size=page_size)
        assert job["documents_scanned"] == n, (job["documents_scanned"], n)
        _, agg_s = run_job(auto_b, ns, field="category", source="origin", page_size=page_size)
        if i:  # the first round warms connections, pools and caches
            base_runs.append(base_s)
            scan_runs.append(layer_s)
            agg_runs.append(agg_s)
    base_s, layer_s, agg_s = p50(base_runs), p50(scan_runs), p50(agg_runs)
    rows.append(
        (
            f"{ns}: origin scan docs/s (page {page_size}, job created→finished)",
            f"{n / layer_s:,.0f}",
            f"{n / base_s:,.0f} bare loop",
            f"{(n / layer_s) / (n / base_s):.2f}x",
        )
    )
    rows.append(
        (
            f"{ns}: aggregate path vs scan, s",
            f"{agg_s:.3f}",
            f"{layer_s:.3f} scan",
            f"{layer_s / agg_s:.1f}x faster",
        )
    )
    sha = job["sha"]
    body_ms = timed(
        lambda: requests.get(
            f"{scan_b.url}/v2/namespaces/{ns}/snapshots/{sha}", timeout=30
        ).raise_for_status(),
        30,
    )
    # as a client sees it: from the POST until a poll finds the job completed
    stored_ms = timed(lambda: run_job(scan_b, ns, field="category", source="stored"), 10)
    rows.append(
        (
            f"{ns}: stored job p50 ms (POST to completed seen) vs origin job",
            f"{p50(stored_ms):.1f}",
            f"{layer_s * 1000:.0f} origin",
            f"{layer_s * 1000 / p50(stored_ms):.0f}x faster",
        )
    )
    rows.append((f"{ns}: snapshot body GET p50 ms", f"{p50(body_ms):.2f}", "-", "-"))
    return rows


def bench_array(
    scan_b: Proc, auto_b: Proc, ns: str, field: str, page_size: int, repeat: int
) -> list[tuple[str, str, str, str]]:
    """An array field: ``auto`` (ForEachUnique on the server, or its fallback) vs. the
    scan, medians of ``repeat`` interleaved runs after a warm-up; the results must match."""
    scan_runs: list[float] = []
    auto_runs: list[float] = []
    scan_job: dict[str, Any] = {}
    path = ""
    for i in range(repeat + 1):
        scan_job, scan_s = run_job(scan_b, ns, field=field, source="origin", page_size=page_size)
        auto_job, auto_s = run_job(auto_b, ns, field=field, source="origin", page_size=page_size)
        assert auto_job["result"] == scan_job["result"], (ns, field)
        path = "server" if auto_job["documents_scanned"] == 0 else "scan"
        if i:
            scan_runs.append(scan_s)
            auto_runs.append(auto_s)
    n = int(scan_job["documents_scanned"])
    scan_s, auto_s = p50(scan_runs), p50(auto_runs)
    return [
        (
            f"{ns}: array {field} ({n:,} docs) auto={path} vs scan, s",
            f"{auto_s:.3f}",
            f"{scan_s:.3f} scan",
            f"{scan_s / auto_s:.2f}x faster",
        ),
        (
            f"{ns}: array {field} docs/s, auto={path} vs scan",
            f"{n / auto_s:,.0f}",
            f"{n / scan_s:,.0f} scan",
            f"{scan_s / auto_s:.2f}x",
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--big",
        type=int,
        default=1_000_000,
        help="documents in the generated big namespace (0: skip)",
    )
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument(
        "--repeat", type=int, default=6, help="timed runs per figure (half that on the big one)"
    )
    a = ap.parse_args()
    emu_args = ["--demo", "--index-lag-ms", "100"]
    if a.big:
        emu_args += ["--bulk", f"big={a.big}"]
    rows = []
    with (
        emulator(*emu_args) as emu,
        backend(emu.url, LAYER_ORIGIN_STRATEGY="scan") as scan_b,
        backend(emu.url, LAYER_ORIGIN_STRATEGY="auto") as auto_b,
    ):
        rows += bench_namespace(emu, scan_b, auto_b, "products", a.page_size, a.repeat)
        rows += bench_array(scan_b, auto_b, "products", "tags", a.page_size, a.repeat)
        if a.big:
            big_page, big_repeat = max(a.page_size, 10_000), max(1, a.repeat // 2)
            rows += bench_namespace(emu, scan_b, auto_b, "big", big_page, big_repeat)
            rows += bench_array(scan_b, auto_b, "big", "tags", big_page, big_repeat)
            worker_pid = requests.get(f"{scan_b.url}/healthz", timeout=10).json()["pid"]
            before = rss_peak_kb(worker_pid)
            job, secs = run_job(scan_b, "big", field="sku", source="origin", page_size=10_000)
            distinct = (
                len(job["result"].get("values", []))
                or job["result"]["skipped"]["distinct_observed"]
            )
            after = rss_peak_kb(worker_pid)
            rows.append(
                (
                    f"big: peak RSS, job on sku ({distinct:,} distinct)",
                    f"{after / 1024:.0f} MiB",
                    f"{before / 1024:.0f} MiB before",
                    f"+{(after - before) / 1024:.0f} MiB",
                )
            )
    print(table(rows))


if __name__ == "__main__":
    main()
