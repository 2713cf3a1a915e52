"""Proxy overhead: the same query through Layer vs. straight to the emulator.

python -m bench.bench_proxy
"""

from __future__ import annotations

import argparse

import requests

from bench.harness import backend, emulator, p50, p99, table, timed

QUERY = {
    "rank_by": ["id", "asc"],
    "limit": 10,
    "filters": ["category", "Eq", "books"],
    "include_attributes": ["category", "brand"],
}


def run(n: int) -> list[tuple[str, str, str, str]]:
    rows = []
    with emulator("--demo", "--index-lag-ms", "100") as emu, backend(emu.url) as layer:
        s = requests.Session()
        for latency in (0, 10):
            s.post(f"{emu.url}/_emulator/faults", json={"latency_ms": latency}, timeout=5)
            direct_f = lambda: s.post(
                f"{emu.url}/v2/namespaces/products/query", json=QUERY, timeout=30
            ).raise_for_status()  # noqa: E731
            layer_f = lambda: s.post(
                f"{layer.url}/v2/namespaces/products/query", json=QUERY, timeout=30
            ).raise_for_status()  # noqa: E731
            direct_f(), layer_f()
            direct, via = [], []
            for _ in range(n // 50):  # interleave, so drift on a shared machine hits both alike
                direct += timed(direct_f, 50)
                via += timed(layer_f, 50)
            rows.append(
                (
                    f"query p50 ms, latency {latency}",
                    f"{p50(via):.2f}",
                    f"{p50(direct):.2f} direct",
                    f"{p50(via) / p50(direct):.2f}x",
                )
            )
            rows.append(
                (
                    f"query p99 ms, latency {latency}",
                    f"{p99(via):.2f}",
                    f"{p99(direct):.2f} direct",
                    f"{p99(via) / p99(direct):.2f}x",
                )
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--requests", type=int, default=500)
    print(table(run(ap.parse_args().requests)))


if __name__ == "__main__":
    main()
