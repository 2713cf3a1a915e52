"""Proxy overhead: the same query through Layer vs. straight to the emulator.

Besides the direct query, a second baseline: the direct query plus one round trip to
Layer's ``/healthz`` (the same gunicorn worker, the same before/after-request hooks, no
upstream call) — what any HTTP hop in front of the upstream costs on this machine. The
ratio against it is the query path's own overhead: the cut decision (one KV read), body
parsing and the relay.

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
            hop_f = lambda: s.get(f"{layer.url}/healthz", timeout=30).raise_for_status()  # noqa: E731
            direct_f(), layer_f(), hop_f()
            direct, via, hop = [], [], []
            for _ in range(n // 50):  # interleave, so drift on a shared machine hits all alike
                direct += timed(direct_f, 50)
                via += timed(layer_f, 50)
                hop += timed(hop_f, 50)
            rows.append(
                (
                    f"query p50 ms, latency {latency}",
                    f"{p50(via):.2f}",
                    f"{p50(direct):.2f} direct",
                    f"{p50(via) / p50(direct):.2f}x",
                )
            )
            floor = p50(direct) + p50(hop)
            rows.append(
                (
                    f"query p50 ms, latency {latency}, vs. direct + one hop",
                    f"{p50(via):.2f}",
                    f"{floor:.2f} = {p50(direct):.2f} + {p50(hop):.2f}",
                    f"{p50(via) / floor:.2f}x",
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
