"""KV store latency, SQLite and Aerospike side by side, and the watcher tick on each.

Per backend: p50/p99 of ``get``, ``put`` and ``cas`` of one small record, of
``put_many``, ``get_many`` (a batch read: the listing reads a page of 1,000 records with
one), ``scan`` and ``delete_many`` (the watcher clears dirty marks with one) of a
1,000-record set, and one steady-state watcher tick over N namespaces of an emulator
(``--many``) with that backend as its KV store. SQLite is a file in a temporary
directory (WAL mode, as Layer runs it); Aerospike is the
server ``LAYER_TEST_AEROSPIKE=host:port`` names (namespace ``LAYER_TEST_AEROSPIKE_NS``,
default ``test``; a set prefix of this run's own), and is left out, saying so, when that
is not set. The ratio column is Aerospike over SQLite, measured in the same run.

    python -m bench.bench_kv                 # 5,000 operations, tick over 10,000 namespaces
    python -m bench.bench_kv --quick         # 500 operations, tick over 2,000 namespaces
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable

import requests

from backend.freshness import FreshnessStore
from backend.shards import ShardLeases
from backend.stores.kv_base import KVStore
from backend.stores.registry import open_kv
from backend.upstream import Upstream
from backend.watcher import Watcher
from bench.harness import emulator, p50, p99
from common.settings import Settings

VALUE = {"is_stable": True, "stable_as_of": 1_700_000_000_000, "index_status": "up-to-date"}
SCAN_SIZE = 1000
Row = tuple[str, dict[str, str]]


def kv_urls() -> tuple[dict[str, str], str | None]:
    """The stores to measure, and why Aerospike is absent (None when it is there)."""
    urls = {"sqlite": f"sqlite://{tempfile.mkdtemp(prefix='bench-kv-')}/kv.sqlite"}
    server = os.environ.get("LAYER_TEST_AEROSPIKE", "")
    if not server:
        return urls, "LAYER_TEST_AEROSPIKE=host:port not set: no Aerospike server to measure"
    ns = os.environ.get("LAYER_TEST_AEROSPIKE_NS", "test")
    urls["aerospike"] = f"aerospike://{server}/{ns}?set_prefix=b{uuid.uuid4().hex[:8]}_"
    return urls, None


def _ms(fn: Callable[[int], object], n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def latencies(kv: KVStore, ops: int, repeats: int) -> dict[str, list[float]]:
    keys = [f"k{i:06d}" for i in range(ops)]
    out: dict[str, list[float]] = {}
    out["put"] = _ms(lambda i: kv.put("bench", keys[i], VALUE), ops)
    out["get"] = _ms(lambda i: kv.get("bench", keys[i]), ops)
    gens = {k: 1 for k in keys}

    def cas(i: int) -> None:
        gen = kv.cas("bench", keys[i], VALUE, gens[keys[i]])
        assert gen is not None, "uncontended cas must win"
        gens[keys[i]] = gen

    out["cas"] = _ms(cas, ops)
    items = [(f"s{i:05d}", VALUE) for i in range(SCAN_SIZE)]
    out[f"put_many {SCAN_SIZE}"] = _ms(lambda i: kv.put_many("bench_scan", items), repeats)

    names = [key for key, _ in items]

    def get_many(i: int) -> None:
        assert len(kv.get_many("bench_scan", names)) == SCAN_SIZE

    out[f"get_many {SCAN_SIZE}"] = _ms(get_many, repeats)

    def scan(i: int) -> None:
        assert sum(1 for _ in kv.scan("bench_scan")) == SCAN_SIZE

    out[f"scan {SCAN_SIZE}"] = _ms(scan, repeats)

    def delete_many(i: int) -> None:
        assert kv.delete_many("bench_scan", [(name, None) for name in names]) == SCAN_SIZE

    out[f"delete_many {SCAN_SIZE}"] = []
    for _ in range(repeats):  # each from a full set; only the deletes are timed
        kv.put_many("bench_scan", items)
        out[f"delete_many {SCAN_SIZE}"] += _ms(delete_many, 1)
    return out


def tick_s(emu_url: str, kv: KVStore, n: int) -> float:
    # Poll everything every tick (no sweep ceiling, no budget, and an interval long enough
    # that the tick is never cut short): the KV's cost per tick.
    settings = Settings.from_env(
        {},
        turbopuffer_base_url=emu_url,
        watch_concurrency=32,
        sweep_max_ms=0,
        watch_max_rps=1e6,
        watch_interval_ms=3_600_000,
    )
    leases = ShardLeases(kv, settings.lease_ttl_ms, settings.watch_shards)
    w = Watcher(settings, Upstream(settings), FreshnessStore(kv), leases)
    w.tick()  # the first tick creates every freshness record; steady state is what repeats
    t0 = time.perf_counter()
    result = w.tick()
    took = time.perf_counter() - t0
    assert result.leader and result.namespaces == n, result
    w.shutdown()
    return took


def run(ops: int, repeats: int, namespaces: int, latency_ms: int) -> tuple[list[Row], str | None]:
    urls, absent = kv_urls()
    rows: dict[str, dict[str, str]] = {}
    stores = {name: open_kv(url) for name, url in urls.items()}
    for name, kv in stores.items():
        for op, xs in latencies(kv, ops, repeats).items():
            rows.setdefault(f"{op} p50 ms", {})[name] = f"{p50(xs):.3f}"
            rows.setdefault(f"{op} p99 ms", {})[name] = f"{p99(xs):.3f}"
    with emulator("--many", f"w-={namespaces}", "--index-lag-ms", "100") as emu:
        requests.post(f"{emu.url}/_emulator/faults", json={"latency_ms": latency_ms}, timeout=5)
        label = f"watcher tick, {namespaces} namespaces, latency {latency_ms} ms, s"
        for name, kv in stores.items():
            rows.setdefault(label, {})[name] = f"{tick_s(emu.url, kv, namespaces):.2f}"
    for kv in stores.values():
        kv.close()
    return list(rows.items()), absent


def render(rows: list[Row], absent: str | None) -> str:
    names = ["sqlite"] if absent else ["sqlite", "aerospike"]
    head = ["figure", *names, *([] if absent else ["aerospike / sqlite"])]
    body = []
    for figure, by in rows:
        cells = [figure, *(by.get(n, "-") for n in names)]
        if not absent:
            a, s = float(by["aerospike"]), float(by["sqlite"])
            cells.append(f"{a / s:.2f}x" if s else "-")
        body.append(cells)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    out = [line(head), line(["-" * w for w in widths]), *(line(r) for r in body)]
    if absent:
        out.append(f"(Aerospike not measured: {absent})")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="500 operations, 2,000 namespaces")
    ap.add_argument("--ops", type=int, help="operations per single-record figure")
    ap.add_argument("--repeats", type=int, help="repeats of the 1,000-record figures")
    ap.add_argument("--namespaces", type=int, help="namespaces of the watcher tick")
    ap.add_argument("--latency-ms", type=int, default=10, help="upstream latency of the tick")
    a = ap.parse_args()
    ops = a.ops or (500 if a.quick else 5000)
    repeats = a.repeats or (10 if a.quick else 50)
    namespaces = a.namespaces or (2000 if a.quick else 10_000)
    print(render(*run(ops, repeats, namespaces, a.latency_ms)))


if __name__ == "__main__":
    main()
