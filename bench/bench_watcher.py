"""One watcher tick over N namespaces vs. the floor for the configured concurrency.

Two baselines, both measured in the same run against the same emulator:

- the floor: the list pages in sequence plus ceil(N / concurrency) rounds of one
  metadata round trip, each priced at the p50 of a direct metadata call. It assumes an
  upstream with unlimited CPU, which the emulator (one Python process) is not;
- a bare fan-out: the same N metadata calls from the same number of threads over a
  bare urllib3 pool, bodies read and thrown away. That is what this machine and this
  emulator can do at all; Layer's tick adds parsing, the freshness records and their
  writes on top.

Then the same namespaces under the scaling model (default sweep ceiling, no budget cap):
after one tick that schedules them, 1% are marked dirty as a write through Layer would,
and the next tick polls only those (the idle ones are not due yet).

    python -m bench.bench_watcher --namespaces 10000 --latency-ms 10
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests
import urllib3

from backend.freshness import FreshnessStore, mark_dirty
from backend.shards import ShardLeases
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
        # Every namespace due every tick, no budget cap, no tick deadline: the old
        # poll-everything tick, so the figure compares with the earlier runs.
        settings = Settings.from_env(
            {},
            turbopuffer_base_url=emu.url,
            watch_concurrency=concurrency,
            sweep_max_ms=0,
            watch_max_rps=1e9,
            watch_interval_ms=3_600_000,
        )
        kv = open_kv(f"sqlite://{tempfile.mkdtemp()}/kv.sqlite")
        w = Watcher(
            settings,
            Upstream(settings),
            FreshnessStore(kv),
            ShardLeases(kv, settings.lease_ttl_ms, settings.watch_shards),
        )
        pool = urllib3.HTTPConnectionPool(
            "127.0.0.1", int(emu.url.rsplit(":", 1)[1]), maxsize=concurrency
        )
        names = [f"w-{i:05d}" for i in range(n)]

        def bare_fan_out() -> tuple[float, float]:
            t0, c0 = time.perf_counter(), time.process_time()
            with ThreadPoolExecutor(concurrency) as ex:
                for _ in ex.map(
                    lambda ns: pool.urlopen("GET", f"/v2/namespaces/{ns}/metadata").data, names
                ):
                    pass
            return time.perf_counter() - t0, time.process_time() - c0

        def tick() -> tuple[float, float]:
            t0, c0 = time.perf_counter(), time.process_time()
            result = w.tick()
            assert result.leader and result.namespaces == n, result
            return time.perf_counter() - t0, time.process_time() - c0

        tick()  # the first tick creates every freshness record; steady state is what repeats
        (bare_s, bare_cpu_s), (tick_s, cpu_s) = bare_fan_out(), tick()
        floor = (math.ceil(n / 1000) + math.ceil(n / concurrency)) * rtt

        w.shutdown()  # hands its shards over at once
        scaled = Watcher(
            settings.with_(sweep_max_ms=3_600_000),
            Upstream(settings),
            FreshnessStore(kv),
            ShardLeases(kv, settings.lease_ttl_ms, settings.watch_shards),
        )
        scaled.tick()  # polls everything once more (due) and schedules it by activity
        dirty = names[::100]
        for ns in dirty:
            mark_dirty(kv, ns)
        t0 = time.perf_counter()
        active = scaled.tick()
        active_s = time.perf_counter() - t0
        assert active.fast == len(dirty), active
        return [
            (
                f"watcher tick, {n} namespaces, latency {latency_ms}, concurrency {concurrency}",
                f"{tick_s:.2f} s",
                f"{floor:.2f} s floor",
                f"{tick_s / floor:.2f}x",
            ),
            (
                "watcher tick vs. a bare fan-out",
                f"{tick_s:.2f} s",
                f"{bare_s:.2f} s bare",
                f"{tick_s / bare_s:.2f}x",
            ),
            ("  polls/s", f"{n / tick_s:,.0f}", f"{n / bare_s:,.0f} bare", "-"),
            (
                "  client CPU per poll, ms",
                f"{cpu_s / n * 1000:.2f}",
                f"{bare_cpu_s / n * 1000:.2f} bare",
                f"{cpu_s / bare_cpu_s:.2f}x",
            ),
            (
                f"scaled tick, 1% dirty ({len(dirty)} fast-lane polls, {active.swept} swept)",
                f"{active_s:.2f} s",
                f"{tick_s:.2f} s poll-all",
                f"{active_s / tick_s:.3f}x",
            ),
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
