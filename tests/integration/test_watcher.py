"""Watcher transitions and the shard leases, against the emulator and a real KV store of
each backend (SQLite; Aerospike when ``LAYER_TEST_AEROSPIKE`` is set, else skipped)."""

from __future__ import annotations

import time

import requests

from backend.freshness import FreshnessStore
from backend.shards import ShardLeases
from backend.stores.registry import open_kv
from backend.upstream import Upstream
from backend.watcher import Watcher
from common.settings import Settings
from tests.integration.helpers import set_faults, wait_index, write_docs


def _watcher(url: str, kv_url: str, **overrides) -> Watcher:
    """A watcher that polls every namespace every tick (no sweep interval, no budget cap),
    unless a test sets ``sweep_max_ms`` / ``watch_max_rps`` itself."""
    overrides = {"sweep_max_ms": 0, "watch_max_rps": 1e6, **overrides}
    settings = Settings.from_env({}, turbopuffer_base_url=url, upstream_retries=0, **overrides)
    kv = open_kv(kv_url)
    return Watcher(
        settings,
        Upstream(settings),
        FreshnessStore(kv),
        ShardLeases(kv, settings.lease_ttl_ms, settings.watch_shards),
    )


def test_cold_stable_unstable_stable(emulator_factory, layer_kv_url) -> None:
    emu = emulator_factory(index_lag_ms=600)
    w = _watcher(emu.url, layer_kv_url)
    # a tick with nothing to poll takes the shard leases first (32 round trips on
    # Aerospike): the 600 ms index lag below then covers only the poll
    assert w.tick().namespaces == 0
    write_docs(emu.url, "ns", [{"id": 1}])
    assert w.freshness.get("ns").is_stable is False
    assert w.freshness.get("ns").stable_as_of is None

    # first poll while the write is still being indexed: unstable, no watermark yet
    r = w.tick()
    assert r.leader and r.namespaces == 1 and r.unstable == 1
    fr = w.freshness.get("ns")
    assert fr.is_stable is False and fr.stable_as_of is None and fr.index_status == "updating"

    wait_index(emu.url, "ns")
    before = int(time.time() * 1000)
    w.tick()
    first = w.freshness.get("ns")
    assert (
        first.is_stable is True and first.stable_as_of is not None and first.stable_as_of >= before
    )

    write_docs(emu.url, "ns", [{"id": 2}])
    w.tick()
    frozen = w.freshness.get("ns")
    assert frozen.is_stable is False and frozen.stable_as_of == first.stable_as_of

    wait_index(emu.url, "ns")
    w.tick()
    again = w.freshness.get("ns")
    assert again.is_stable is True and again.stable_as_of > first.stable_as_of


def test_one_failed_poll_never_stops_the_tick(emulator_factory, layer_kv_url) -> None:
    emu = emulator_factory(index_lag_ms=10)
    w = _watcher(emu.url, layer_kv_url)
    for ns in ["a", "b", "c"]:
        write_docs(emu.url, ns, [{"id": 1}])
    for ns in ["a", "b", "c"]:
        wait_index(emu.url, ns)
    w.tick()
    stable_b = w.freshness.get("b").stable_as_of
    set_faults(emu.url, fail_namespaces=["b"])
    r = w.tick()
    assert r.namespaces == 3 and r.errors == 1
    b = w.freshness.get("b")
    assert b.is_stable is False and b.last_error and b.stable_as_of == stable_b
    assert w.freshness.get("a").is_stable and w.freshness.get("c").is_stable


def test_tick_survives_a_failed_listing(emulator_factory, layer_kv_url) -> None:
    emu = emulator_factory()
    w = _watcher(emu.url, layer_kv_url)
    set_faults(emu.url, fail_rate=1.0, fail_statuses=[500])
    r = w.tick()
    assert r.leader and r.list_error and r.namespaces == 0


def test_two_watchers_split_the_shards_and_take_over(emulator_factory, layer_kv_url) -> None:
    emu = emulator_factory(many={"n-": 60}, index_lag_ms=0)
    a = _watcher(emu.url, layer_kv_url, lease_ttl_ms=1000, watch_shards=8)
    b = _watcher(emu.url, layer_kv_url, lease_ttl_ms=1000, watch_shards=8)
    for _ in range(3):
        ra, rb = a.tick(), b.tick()
    held_a, held_b = set(a.leases.held), set(b.leases.held)
    assert held_a.isdisjoint(held_b) and held_a | held_b == set(range(8))
    assert len(held_a) == len(held_b) == 4
    # each polls only its own shards: every namespace by exactly one of them
    assert set(ra.polled).isdisjoint(rb.polled)
    assert len(ra.polled) + len(rb.polled) == 60
    assert all(a.leases.shard(ns) in held_a for ns in ra.polled)
    # a stops ticking (dies): b takes every shard once a's leases lapse
    time.sleep(1.1)
    assert set(b.tick().shards) == set(range(8))
    assert a.tick().leader is False, "a's leases are gone, and b holds every shard"
    assert not a.leases.still_held("n-00001") and b.leases.still_held("n-00001")


def test_release_hands_over_at_once(emulator_factory, layer_kv_url) -> None:
    emu = emulator_factory()
    a = _watcher(emu.url, layer_kv_url)
    b = _watcher(emu.url, layer_kv_url)
    assert a.tick().leader and not b.tick().leader
    a.shutdown()
    assert b.tick().leader


def test_scheduled_watcher_fills_the_listing(
    emulator_factory, backend_factory, layer_kv_url
) -> None:
    emu = emulator_factory(index_lag_ms=10)
    write_docs(emu.url, "ns", [{"id": 1}])
    layer = backend_factory(
        emu.url, kv_url=layer_kv_url, watch=True, watch_interval_ms=200, list_cache_ttl_ms=0
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = requests.get(f"{layer.url}/v2/namespaces", timeout=5).json()["namespaces"][0]
        if row["is_stable"]:
            break
        time.sleep(0.1)
    assert row["is_stable"] is True and row["stable_as_of_ms"] is not None


def test_tick_records_every_namespace_across_write_batches(emulator_factory, layer_kv_url) -> None:
    """More namespaces than one write batch: every record is written, and the stable hook
    runs for each namespace only once its record is in the store."""
    from backend import watcher as watcher_mod

    emu = emulator_factory(many={"b-": watcher_mod.WRITE_BATCH * 2 + 7}, index_lag_ms=0)
    w = _watcher(emu.url, layer_kv_url, watch_interval_ms=120_000)
    seen: list[str] = []

    def hook(ns, meta, prev, new) -> None:
        rec = w.freshness.get(ns)
        assert rec == new, "the hook ran before the record was written"
        seen.append(ns)

    w.on_stable = hook
    r = w.tick()
    n = watcher_mod.WRITE_BATCH * 2 + 7
    assert r.namespaces == n and r.errors == 0
    stored = w.freshness.get_all()
    assert len(stored) == n and all(f.last_poll_ms is not None for f in stored.values())
    assert sorted(seen) == sorted(ns for ns, f in r.polled.items() if f.is_stable)
    # the second tick reads the records back: a stable namespace keeps moving its watermark
    first = {ns: f.stable_as_of for ns, f in stored.items()}
    time.sleep(0.005)
    w.tick()
    again = w.freshness.get_all()
    assert all(
        again[ns].stable_as_of > first[ns] for ns in first if again[ns].is_stable and first[ns]
    )


def test_tick_survives_a_store_that_refuses_writes(emulator_factory, layer_kv_url) -> None:
    emu = emulator_factory(index_lag_ms=0)
    write_docs(emu.url, "ns", [{"id": 1}])
    w = _watcher(emu.url, layer_kv_url)
    calls: list[str] = []
    w.on_stable = lambda ns, meta, prev, new: calls.append(ns)

    def refuse(items) -> None:
        from backend.stores.errors import StoreUnavailable

        raise StoreUnavailable("kv", "disk full")

    w.freshness.put_many = refuse  # type: ignore[method-assign]
    r = w.tick()
    assert r.leader and r.namespaces == 1
    assert calls == [], "no hook for a namespace whose record was not written"
