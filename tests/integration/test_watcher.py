"""Watcher transitions and the lease, against the emulator and a real SQLite KV (the lease
tests on every KV backend: Aerospike too when ``LAYER_TEST_AEROSPIKE`` is set)."""

from __future__ import annotations

import time

import requests

from backend.freshness import FreshnessStore
from backend.lease import Lease
from backend.stores.registry import open_kv
from backend.upstream import Upstream
from backend.watcher import Watcher
from common.settings import Settings
from tests.fixtures.kv import kv_url
from tests.integration.helpers import set_faults, wait_index, write_docs


def _watcher(url: str, kv_path, **overrides) -> Watcher:
    """A watcher over a KV store: a SQLite file's path, or any ``LAYER_KV`` URL."""
    settings = Settings.from_env({}, turbopuffer_base_url=url, upstream_retries=0, **overrides)
    kv = open_kv(kv_path if isinstance(kv_path, str) else f"sqlite://{kv_path}")
    return Watcher(
        settings, Upstream(settings), FreshnessStore(kv), Lease(kv, settings.lease_ttl_ms)
    )


def test_cold_stable_unstable_stable(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(index_lag_ms=600)
    w = _watcher(emu.url, tmp_path / "kv.sqlite")
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


def test_one_failed_poll_never_stops_the_tick(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(index_lag_ms=10)
    w = _watcher(emu.url, tmp_path / "kv.sqlite")
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


def test_tick_survives_a_failed_listing(emulator_factory, tmp_path) -> None:
    emu = emulator_factory()
    w = _watcher(emu.url, tmp_path / "kv.sqlite")
    set_faults(emu.url, fail_rate=1.0)
    r = w.tick()
    assert r.leader and r.list_error and r.namespaces == 0


def test_two_watchers_one_kv_exactly_one_active(emulator_factory, tmp_path, kv_backend) -> None:
    emu = emulator_factory(index_lag_ms=10)
    write_docs(emu.url, "ns", [{"id": 1}])
    kv = kv_url(kv_backend, tmp_path)
    a = _watcher(emu.url, kv, lease_ttl_ms=1000)
    b = _watcher(emu.url, kv, lease_ttl_ms=1000)
    results = [(a.tick().leader, b.tick().leader) for _ in range(5)]
    assert all(x != y for x, y in results)
    assert {x for x, _ in results} == {True}
    # the leader stops ticking (dies): the other takes over once the lease lapses
    time.sleep(1.1)
    assert b.tick().leader is True
    assert a.tick().leader is False
    assert a.lease.still_held() is False and b.lease.still_held() is True


def test_release_hands_over_at_once(emulator_factory, tmp_path, kv_backend) -> None:
    emu = emulator_factory()
    kv = kv_url(kv_backend, tmp_path)
    a = _watcher(emu.url, kv)
    b = _watcher(emu.url, kv)
    assert a.tick().leader and not b.tick().leader
    a.shutdown()
    assert b.tick().leader


def test_scheduled_watcher_fills_the_listing(emulator_factory, backend_factory) -> None:
    emu = emulator_factory(index_lag_ms=10)
    write_docs(emu.url, "ns", [{"id": 1}])
    layer = backend_factory(emu.url, watch=True, watch_interval_ms=200, list_cache_ttl_ms=0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = requests.get(f"{layer.url}/v2/namespaces", timeout=5).json()["namespaces"][0]
        if row["is_stable"]:
            break
        time.sleep(0.1)
    assert row["is_stable"] is True and row["stable_as_of_ms"] is not None


def test_tick_records_every_namespace_across_write_batches(emulator_factory, tmp_path) -> None:
    """More namespaces than one write batch: every record is written, and the stable hook
    runs for each namespace only once its record is in the store."""
    from backend import watcher as watcher_mod

    emu = emulator_factory(many={"b-": watcher_mod.WRITE_BATCH * 2 + 7}, index_lag_ms=0)
    w = _watcher(emu.url, tmp_path / "kv.sqlite")
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


def test_tick_survives_a_store_that_refuses_writes(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(index_lag_ms=0)
    write_docs(emu.url, "ns", [{"id": 1}])
    w = _watcher(emu.url, tmp_path / "kv.sqlite")
    calls: list[str] = []
    w.on_stable = lambda ns, meta, prev, new: calls.append(ns)

    def refuse(items) -> None:
        from backend.stores.errors import StoreUnavailable

        raise StoreUnavailable("kv", "disk full")

    w.freshness.put_many = refuse  # type: ignore[method-assign]
    r = w.tick()
    assert r.leader and r.namespaces == 1
    assert calls == [], "no hook for a namespace whose record was not written"
