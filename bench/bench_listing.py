"""Listing latency: a page of N namespaces, cold (cache empty) and warm, against the floor.

Two baselines, both sent straight to the emulator in the same run: the floor (one list
call plus one metadata call in sequence: what an infinitely concurrent fan-out would
cost) and the sequential fan-out (one list call plus N metadata calls one after the
other). ``cold / sequential`` well below 1 shows the per-row calls run concurrently;
``cold / floor`` is bounded below by N / LAYER_WATCH_CONCURRENCY round trips and, on
this machine, by the emulator's own throughput (~1 ms of CPU per metadata call).

    python -m bench.bench_listing --latency-ms 10 --page-size 100
"""

from __future__ import annotations

import argparse

import requests

from bench.harness import backend, emulator, p50, p99, table, timed


def seed_namespaces(url: str, n: int) -> None:
    s = requests.Session()
    for i in range(n):
        s.post(
            f"{url}/v2/namespaces/bench-{i:05d}",
            json={"upsert_rows": [{"id": 1, "status": "ok"}]},
            timeout=30,
        ).raise_for_status()


def run(latency_ms: int, page_size: int, repeats: int = 20) -> list[tuple[str, str, str, str]]:
    rows = []
    with emulator("--index-lag-ms", "100") as emu:
        seed_namespaces(emu.url, page_size)
        requests.post(f"{emu.url}/_emulator/faults", json={"latency_ms": latency_ms}, timeout=5)
        s = requests.Session()
        floor = timed(
            lambda: (
                s.get(
                    f"{emu.url}/v1/namespaces",
                    params={"page_size": str(page_size), "prefix": "bench-"},
                    timeout=30,
                ),
                s.get(f"{emu.url}/v2/namespaces/bench-00000/metadata", timeout=30),
            ),
            repeats,
        )
        with (
            backend(emu.url, NAMESPACE_LIST_CACHE_TTL_MS="0") as cold_b,
            backend(emu.url, NAMESPACE_LIST_CACHE_TTL_MS="600000") as warm_b,
        ):
            params = {"page_size": str(page_size), "prefix": "bench-"}
            get = lambda b: s.get(
                f"{b.url}/v2/namespaces", params=params, timeout=60
            ).raise_for_status()  # noqa: E731
            get(cold_b)
            cold = timed(lambda: get(cold_b), repeats)
            get(warm_b)
            warm = timed(lambda: get(warm_b), repeats * 5)
        names = [f"bench-{i:05d}" for i in range(page_size)]
        sequential = timed(
            lambda: (
                s.get(
                    f"{emu.url}/v1/namespaces",
                    params={"page_size": str(page_size), "prefix": "bench-"},
                    timeout=30,
                ),
                [s.get(f"{emu.url}/v2/namespaces/{n}/metadata", timeout=30) for n in names],
            ),
            3,
        )
        rows.append(
            (
                f"listing {page_size} cold p50 ms vs sequential fan-out (latency {latency_ms})",
                f"{p50(cold):.1f}",
                f"{p50(sequential):.1f} sequential",
                f"{p50(cold) / p50(sequential):.2f}x",
            )
        )
        rows.append(
            (
                f"listing {page_size} cold p50 ms (latency {latency_ms})",
                f"{p50(cold):.1f}",
                f"{p50(floor):.1f} floor",
                f"{p50(cold) / p50(floor):.2f}x",
            )
        )
        rows.append(
            (
                f"listing {page_size} cold p99 ms (latency {latency_ms})",
                f"{p99(cold):.1f}",
                f"{p99(floor):.1f} floor",
                f"{p99(cold) / p99(floor):.2f}x",
            )
        )
        rows.append(
            (
                f"listing {page_size} warm p50 ms (latency {latency_ms})",
                f"{p50(warm):.2f}",
                f"{p50(floor):.1f} floor",
                f"{p50(warm) / p50(floor):.3f}x",
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--latency-ms", type=int, default=10)
    ap.add_argument("--page-size", type=int, action="append")
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    rows = []
    for size in a.page_size or [100]:
        rows += run(a.latency_ms, size, a.repeats)
    print(table(rows))


if __name__ == "__main__":
    main()
