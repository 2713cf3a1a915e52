"""One watcher tick over N namespaces vs. the floor for the configured concurrency.

The floor: the list pages in sequence plus ceil(N / concurrency) rounds of one metadata
round trip, each round trip priced at the p50 of a direct metadata call measured in the
same run.

    python -m bench.bench_watcher --namespaces 10000 --latency-ms 10
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import requests

from backend.freshness import FreshnessStore
from backend.lease import Lease
from backend.stores.registry import open_kv
from backend.upstream import Upstream
from backend.watcher import Watcher
from bench.harness import emulator, p50, table, timed
from common.settings import Settings


def run(n: int, latency_ms: int, concurrency: int) -> list[tuple[str, str, str, str]]:
    with emulator("--many", f"w-={n}", "--index-lag-ms", "100") as emu:
        s = requests.Session()
        s.post(f"{emu.url}/_emulator/faults", json={"latency_ms": latency_ms}, timeout=5)
        rtt = (
            p50(timed(lambda: s.get(f"{emu.url}/v2/namespaces/w-00000/metadata", timeout=30), 20))
            / 1000
        )
        settings = Settings.from_env(
            {}, turbopuffer_base_url=emu.url, watch_concurrency=concurrency
        )
        kv = open_kv(f"sqlite://{tempfile.mkdtemp()}/kv.sqlite")
        w = Watcher(
            settings, Upstream(settings), FreshnessStore(kv), Lease(kv, settings.lease_ttl_ms)
        )
        t0 = time.perf_counter()
        result = w.tick()
        tick_s = time.perf_counter() - t0
        assert result.leader and result.namespaces == n, result
        floor = (math.ceil(n / 1000) + math.ceil(n / concurrency)) * rtt
        return [
            (
                f"watcher tick, {n} namespaces, latency {latency_ms}, concurrency {concurrency}",
                f"{tick_s:.2f} s",
                f"{floor:.2f} s floor",
                f"{tick_s / floor:.2f}x",
            ),
            ("  polls/s", f"{n / tick_s:,.0f}", f"{n / floor:,.0f} floor", "-"),
        ]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--namespaces", type=int, default=10_000)
    ap.add_argument("--latency-ms", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=32)
    a = ap.parse_args()
    print(table(run(a.namespaces, a.latency_ms, a.concurrency)))


if __name__ == "__main__":
    main()
