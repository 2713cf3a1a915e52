"""The KV store contract (backend/stores/kv_base.py), run against every backend.

``sqlite`` always runs. ``aerospike`` runs when ``LAYER_TEST_AEROSPIKE=host:port`` names
a server (namespace from ``LAYER_TEST_AEROSPIKE_NS``, default ``test``; the namespace
must allow TTLs, i.e. have ``nsup-period`` set); otherwise it is skipped with that reason.
Every test uses its own set names, so a shared server is fine.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest

from backend.stores.errors import StoreUnavailable
from backend.stores.kv_base import KVStore, Record
from backend.stores.kv_sqlite import SQLiteKV
from backend.stores.registry import open_kv
from tests.fixtures.kv import AEROSPIKE, NO_AEROSPIKE, kv_url, open_test_kv


@pytest.fixture
def s() -> str:
    """A set name of this test's own."""
    return f"t{uuid.uuid4().hex[:10]}"


def test_get_missing_is_none(kv: KVStore, s: str) -> None:
    assert kv.get(s, "missing") is None


def test_put_get_round_trip_and_generation(kv: KVStore, s: str) -> None:
    value = {"a": 1, "nested": {"list": [1, 2.5, None, True], "s": "x"}}
    assert kv.put(s, "k", value) == 1
    assert kv.get(s, "k") == Record(value, 1)
    assert kv.put(s, "k", {"a": 2}) == 2
    assert kv.put(s, "k", {"a": 3}) == 3
    assert kv.get(s, "k") == Record({"a": 3}, 3)
    assert kv.get(s + "x", "k") is None  # sets are separate


def test_cas(kv: KVStore, s: str) -> None:
    assert kv.cas(s, "k", {"v": 1}, 5) is None  # absent, expected 5
    assert kv.get(s, "k") is None
    assert kv.cas(s, "k", {"v": 1}, 0) == 1  # absent, expected 0
    assert kv.cas(s, "k", {"v": 2}, 0) is None  # present, expected 0
    assert kv.cas(s, "k", {"v": 2}, 2) is None  # wrong generation
    assert kv.get(s, "k") == Record({"v": 1}, 1)
    assert kv.cas(s, "k", {"v": 2}, 1) == 2  # right generation
    assert kv.cas(s, "k", {"v": 3}, 1) is None  # stale
    assert kv.get(s, "k") == Record({"v": 2}, 2)
    assert kv.put(s, "k", {"v": 9}) == 3  # put bumps too
    assert kv.cas(s, "k", {"v": 4}, 3) == 4


def test_delete(kv: KVStore, s: str) -> None:
    assert kv.delete(s, "k") is False
    kv.put(s, "k", {"v": 1})
    assert kv.delete(s, "k") is True
    assert kv.get(s, "k") is None
    kv.put(s, "k", {"v": 1})
    kv.put(s, "k", {"v": 2})
    assert kv.delete(s, "k", expected_generation=1) is False
    assert kv.get(s, "k") is not None
    assert kv.delete(s, "k", expected_generation=2) is True
    assert kv.get(s, "k") is None
    assert kv.delete(s, "k", expected_generation=2) is False
    # After a delete the key is absent again: cas 0 creates it.
    assert kv.cas(s, "k", {"v": 3}, 0) == 1


def test_ttl_expiry(kv: KVStore, s: str) -> None:
    kv.put(s, "short", {"v": 1}, ttl_s=1)
    kv.put_many(s, [("batch-short", {"v": 2})], ttl_s=1)
    kv.put(s, "long", {"v": 3}, ttl_s=3600)
    kv.put(s, "forever", {"v": 4})
    kv.put(s, "gen-short", {"v": 6}, ttl_s=1)
    kv.put(s, "del-short", {"v": 7}, ttl_s=1)
    kv.put_many(s, [("many-a", {"v": 9}), ("many-b", {"v": 10})], ttl_s=1)
    assert kv.get(s, "short") == Record({"v": 1}, 1)
    assert [k for k, _ in kv.scan(s)] == [
        "batch-short",
        "del-short",
        "forever",
        "gen-short",
        "long",
        "many-a",
        "many-b",
        "short",
    ]
    time.sleep(2.1)  # Aerospike counts TTLs in whole seconds from the write
    assert kv.get(s, "short") is None
    assert kv.get(s, "batch-short") is None
    assert kv.get(s, "long") == Record({"v": 3}, 1)
    assert [k for k, _ in kv.scan(s)] == ["forever", "long"]
    # An expired record is absent: cas 0 recreates it from generation 1.
    assert kv.cas(s, "short", {"v": 5}, 0) == 1
    # Expired but perhaps not yet reaped by the server: absent for every operation.
    assert kv.delete(s, "batch-short") is False
    assert kv.delete(s, "del-short", expected_generation=1) is False
    assert kv.delete_many(s, [("many-a", None), ("many-b", 1)]) == 0
    assert kv.cas(s, "gen-short", {"v": 8}, 1) is None
    assert kv.get(s, "gen-short") is None
    # A record with a TTL that has not passed, and one without, delete as usual.
    assert kv.delete(s, "long") is True and kv.delete(s, "forever") is True
    assert [k for k, _ in kv.scan(s)] == ["short"]


def test_scan_prefix_in_key_order(kv: KVStore, s: str) -> None:
    keys = ["b/2", "a/1", "b/10", "b/1", "c", "b", "bb/1", "b%_x", "b/ü"]
    for i, k in enumerate(keys):
        kv.put(s, k, {"i": i})
    kv.put(s + "other", "b/3", {"i": -1})
    assert [k for k, _ in kv.scan(s)] == sorted(keys)
    got = list(kv.scan(s, "b/"))
    assert [k for k, _ in got] == ["b/1", "b/10", "b/2", "b/ü"]
    assert got[0][1] == Record({"i": keys.index("b/1")}, 1)
    # LIKE/GLOB wildcards in the prefix are plain characters.
    assert [k for k, _ in kv.scan(s, "b%")] == ["b%_x"]
    assert [k for k, _ in kv.scan(s, "b%_")] == ["b%_x"]
    assert list(kv.scan(s, "zzz")) == []
    assert list(kv.scan(s + "empty")) == []


def test_scan_sees_records_written_before_call_across_pages(kv: KVStore, s: str) -> None:
    n = 2500  # more than one SQLite scan page
    kv.put_many(s, ((f"k{i:05d}", {"i": i}) for i in range(n)))
    it = iter(kv.scan(s))
    first = next(it)
    kv.delete(s, "k00000")  # the caller modifies the set while iterating
    kv.put(s, "k00001", {"i": "changed"})
    rest = list(it)
    keys = [first[0]] + [k for k, _ in rest]
    assert keys == [f"k{i:05d}" for i in range(n)]


def test_scan_range_is_ordered_or_declined(kv: KVStore, s: str) -> None:
    """``scan_range`` (the listing's read-ahead): in key order after ``after``, within
    ``prefix``, at most ``limit``, live records only; a backend without key order
    declines with None (the caller then reads by key)."""
    kv.put_many(s, [(f"ns-{i:03d}", {"i": i}) for i in range(50)])
    kv.put(s, "other-1", {"i": -1})
    kv.put(s, "ns-025", {"i": "short"}, ttl_s=1)
    first = kv.scan_range(s, "ns-", None, 10)
    if first is None:
        assert kv.scan_range(s, "", "ns-010", 5) is None
        return
    assert [k for k, _ in first] == [f"ns-{i:03d}" for i in range(10)]
    assert first[3][1] == Record({"i": 3}, 1)
    after = kv.scan_range(s, "ns-", "ns-045", 10)
    assert after is not None and [k for k, _ in after] == [f"ns-{i:03d}" for i in range(46, 50)]
    whole = kv.scan_range(s, "", "ns-040", 100)
    assert whole is not None and [k for k, _ in whole][-1] == "other-1"
    assert kv.scan_range(s, "zz", None, 10) == []
    time.sleep(1.3)
    mid = kv.scan_range(s, "ns-", "ns-023", 3)
    assert mid is not None and [k for k, _ in mid] == ["ns-024", "ns-026", "ns-027"]


def test_delete_many_honours_each_generation(kv: KVStore, s: str) -> None:
    kv.put_many(s, [(f"k{i}", {"i": i}) for i in range(5)])
    kv.put(s, "k1", {"i": "again"})  # generation 2 now
    assert kv.delete_many(s, []) == 0
    gone = kv.delete_many(s, [("k0", 1), ("k1", 1), ("k2", None), ("missing", None), ("k3", 1)])
    assert gone == 3
    assert kv.get(s, "k1") == Record({"i": "again"}, 2), "a newer generation stays"
    assert [k for k, _ in kv.scan(s)] == ["k1", "k4"]


def test_put_many_and_delete_set(kv: KVStore, s: str) -> None:
    kv.put(s, "doc/0", {"old": True})
    n = kv.put_many(s, ((f"doc/{i}", {"i": i}) for i in range(300)))
    assert n == 300
    assert kv.get(s, "doc/0") == Record({"i": 0}, 2)
    assert kv.get(s, "doc/299") == Record({"i": 299}, 1)
    kv.put_many(s, [("state", {"x": 1})])
    assert kv.put_many(s, []) == 0
    assert kv.delete_set(s, "doc/1") == 111  # doc/1, doc/10-19, doc/100-199
    assert kv.get(s, "doc/150") is None
    assert kv.get(s, "doc/2") is not None
    assert kv.delete_set(s) == 300 - 111 + 1
    assert list(kv.scan(s)) == []


def test_get_many_returns_live_records_by_key(kv: KVStore, s: str) -> None:
    assert kv.get_many(s, []) == {}
    kv.put_many(s, [(f"k{i:04d}", {"i": i}) for i in range(1200)])
    kv.put(s, "k0001", {"i": "again"})
    kv.put(s, "short", {"x": 1}, ttl_s=1)
    keys = ["k0001", "missing", "k1199", "k0001", *[f"k{i:04d}" for i in range(600, 1100)]]
    got = kv.get_many(s, [*keys, "short"])
    assert set(got) == {k for k in keys if k != "missing"} | {"short"}
    assert got["k0001"] == Record({"i": "again"}, 2) and got["k1199"].value == {"i": 1199}
    assert got["k0700"].generation == 1
    assert kv.get_many(s + "-other", ["k0001"]) == {}
    time.sleep(2.1)  # Aerospike counts TTLs in whole seconds from the write
    assert "short" not in kv.get_many(s, ["short", "k0002"])
    assert kv.get_many(s, ["k0002"]) == {"k0002": Record({"i": 2}, 1)}


def test_unicode_keys_and_values(kv: KVStore, s: str) -> None:
    value = {"text": "日本語 — émoji 🎉", "ключ": ["ü", "\u0000nul"], "q": 'it\'s "quoted"'}
    kv.put(s, "文書/🎉", value)
    assert kv.get(s, "文書/🎉") == Record(value, 1)
    assert [k for k, _ in kv.scan(s, "文書/")] == ["文書/🎉"]


def test_threads_cas_increment_exact_total(kv: KVStore, s: str) -> None:
    threads_n, per_thread = 8, 25
    kv.put(s, "counter", {"n": 0})

    def worker() -> None:
        done = 0
        while done < per_thread:
            rec = kv.get(s, "counter")
            assert rec is not None
            if kv.cas(s, "counter", {"n": rec.value["n"] + 1}, rec.generation) is not None:
                done += 1

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rec = kv.get(s, "counter")
    assert rec is not None
    assert rec.value["n"] == threads_n * per_thread
    assert rec.generation == threads_n * per_thread + 1


# -- across processes, then SQLite specifics ---------------------------------------------------------------------


def _process_increments(url: str, set_name: str, count: int) -> list[int]:
    """Runs in a spawned process: cas-increment the counter ``count`` times."""
    kv = open_kv(url)
    won: list[int] = []
    while len(won) < count:
        rec = kv.get(set_name, "counter")
        assert rec is not None
        gen = kv.cas(set_name, "counter", {"n": rec.value["n"] + 1}, rec.generation)
        if gen is not None:
            won.append(gen)
    kv.close()
    return won


def test_cas_across_processes_one_winner_per_generation(kv_backend: str, tmp_path: Path) -> None:
    url = kv_url(kv_backend, tmp_path)
    kv = open_kv(url)
    kv.put("c", "counter", {"n": 0})
    procs, per_proc = 4, 40
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(procs) as pool:
        results = pool.starmap(_process_increments, [(url, "c", per_proc)] * procs)
    generations = sorted(g for won in results for g in won)
    # Every generation from 2 on was won by exactly one cas, in exactly one process.
    assert generations == list(range(2, procs * per_proc + 2))
    rec = kv.get("c", "counter")
    assert rec == Record({"n": procs * per_proc}, procs * per_proc + 1)


def test_sqlite_connection_not_reused_after_fork(tmp_path: Path) -> None:
    kv = SQLiteKV(tmp_path / "fork.db")
    kv.put("s", "parent", {"v": 1})
    parent_conn = kv._local.conn
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_child_after_fork, args=(kv, id(parent_conn)))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    assert kv.get("s", "child") == Record({"v": 2}, 1)
    assert kv._local.conn is parent_conn  # the parent keeps its own


def _child_after_fork(kv: SQLiteKV, parent_conn_id: int) -> None:
    kv.put("s", "child", {"v": 2})
    if id(kv._local.conn) == parent_conn_id:
        os._exit(3)
    os._exit(0)


def test_sqlite_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "kv.db"
    SQLiteKV(path).put("s", "k", {})
    assert path.exists()


def test_sqlite_relative_and_absolute_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel = open_kv("sqlite://.layer/kv.db")
    rel.put("s", "k", {"v": 1})
    assert (tmp_path / ".layer" / "kv.db").exists()
    absolute = open_kv(f"sqlite:///{tmp_path}/.layer/kv.db")
    assert absolute.get("s", "k") == Record({"v": 1}, 1)


def test_sqlite_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    kv = SQLiteKV(tmp_path)  # a directory, not a database file
    with pytest.raises(StoreUnavailable) as info:
        kv.get("s", "k")
    assert info.value.store == f"kv (sqlite {tmp_path})"
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StoreUnavailable):
        SQLiteKV(blocker / "sub" / "kv.db").put("s", "k", {})  # parent is a file


def test_sqlite_read_only_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    SQLiteKV(path).put("s", "k", {"v": 1})
    ro = SQLiteKV(f"file:{path}?mode=ro")
    with pytest.raises(StoreUnavailable) as info:
        ro.put("s", "k", {"v": 2})
    assert "readonly" in str(info.value) or "read-only" in str(info.value)
    with pytest.raises(StoreUnavailable):
        ro.ping()


def test_sqlite_locked_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    kv = SQLiteKV(path, busy_timeout_ms=100)
    kv.put("s", "k", {"v": 1})
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            kv.cas("s", "k", {"v": 2}, 1)
        assert "locked" in str(info.value)
        assert time.monotonic() - started < 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert kv.cas("s", "k", {"v": 2}, 1) == 2  # usable again once the lock is gone


def test_sqlite_put_many_is_fast(tmp_path: Path) -> None:
    kv = SQLiteKV(tmp_path / "bulk.db")
    started = time.monotonic()
    n = kv.put_many("docs", ((f"d{i:06d}", {"id": i, "text": "x" * 100}) for i in range(50_000)))
    assert n == 50_000
    assert time.monotonic() - started < 10
    assert kv.get("docs", "d049999") == Record({"id": 49_999, "text": "x" * 100}, 1)


# -- Aerospike without a server -----------------------------------------------------------


def test_aerospike_unreachable_is_unavailable() -> None:
    pytest.importorskip("aerospike")
    from tests.fixtures.net import free_port

    port = free_port()  # nothing listens there
    kv = open_kv(f"aerospike://127.0.0.1:{port}/test")
    started = time.monotonic()
    for call in (
        lambda: kv.get("s", "k"),
        lambda: kv.put("s", "k", {}),
        kv.ping,
        lambda: list(kv.scan("s")),
        lambda: kv.get_many("s", ["a", "b"]),
        lambda: kv.put_many("s", [("a", {})]),
    ):
        with pytest.raises(StoreUnavailable) as info:
            call()
        assert info.value.store == f"kv (aerospike 127.0.0.1:{port}/test)"
    assert time.monotonic() - started < 15


def test_sqlite_scan_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    kv = SQLiteKV(path)  # default 30 s busy timeout
    kv.put("s", "live", {"v": 1})
    kv.put("s", "expired", {"v": 2}, ttl_s=-1)  # already expired: scan wants to reap it
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a long bulk write holds the write lock
    try:
        started = time.monotonic()
        assert [k for k, _ in kv.scan("s")] == ["live"]
        assert kv.get("s", "live") == Record({"v": 1}, 1)
        assert time.monotonic() - started < 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.skipif(not AEROSPIKE, reason=NO_AEROSPIKE)
def test_aerospike_scan_gives_the_set_a_set_index(tmp_path: Path, s: str) -> None:
    """Without a set index, a scan of a small set walks every record of the namespace
    (the warm cache's too); the store asks for one before its first scan of a set."""
    kv = open_test_kv("aerospike", tmp_path)
    try:
        kv.put(s, "k", {"v": 1})
        assert [k for k, _ in kv.scan(s)] == ["k"]
        full = kv.set_prefix + s  # type: ignore[attr-defined]
        client = kv._db()  # type: ignore[attr-defined]
        (_, answer), *_ = client.info_all(f"sets/{kv.namespace}/{full}").values()  # type: ignore[attr-defined]
        assert "enable-index=true" in answer
        # A document cache set gets none: each set index costs the server ~23 MB.
        kv.put_docs("cached-ns", 1, [("1", {"c": "x"})])
        assert list(kv.scan_docs("cached-ns", 1)) == [{"c": "x"}]
        docs = kv.docs_set("cached-ns")  # type: ignore[attr-defined]
        (_, answer), *_ = client.info_all(f"sets/{kv.namespace}/{docs}").values()  # type: ignore[attr-defined]
        assert "enable-index=false" in answer
    finally:
        kv.close()
