"""History at scale (issue 14 §5): every history page, ``before`` page and activity page
costs the same bounded number of object-store requests with 70 markers or with
1,500 (more than one listing page; bench_snapshot measures 100,000), counted by a wrapper around the real store (SeaweedFS for S3); the activity
cursor is opaque."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import requests

from backend.snapshots import layout
from backend.snapshots.repo import MARKER_SET, SnapshotRepo, encode_cursor
from backend.stores.object_base import ObjectStore
from backend.stores.registry import open_kv, open_object_store
from common.canonical import with_sha


class CountingStore(ObjectStore):
    """The real store, with every request counted by method."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        self.calls["put"] += 1
        return self.inner.put(key, data, if_absent=if_absent)

    def get(self, key: str) -> bytes:
        self.calls["get"] += 1
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        self.calls["exists"] += 1
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        self.inner.delete(key)

    def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        self.calls["list"] += 1
        return self.inner.list(prefix, start_after=start_after, limit=limit)

    def ping(self) -> None:
        self.inner.ping()


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def store_url(request, tmp_path) -> str:
    if request.param == "file":
        return f"file://{tmp_path / 'objects'}"
    return str(request.getfixturevalue("s3_url")())


def body(ns: str, wm: int) -> dict:
    return with_sha(
        {
            "namespace": ns,
            "watermark_ms": wm,
            "fields": [{"name": "f", "values": [{"v": "x", "n": wm}]}],
            "fields_skipped": [],
        }
    )


def fill(store: ObjectStore, ns: str, n: int) -> list[dict]:
    """``n`` history markers; bodies for the newest 20 (the ``before`` targets) and
    activity events for the oldest 60 (what the pages read)."""
    bodies = [body(ns, 1_700_000_000_000 + i * 1000) for i in range(n)]

    def one(i: int) -> None:
        b = bodies[i]
        wm, sha = b["watermark_ms"], b["sha"]
        if i >= n - 20:
            store.put(layout.body_key(ns, sha), orjson.dumps(b))
        store.put(layout.history_key(ns, wm, sha), b"")
        if i < 60:
            event = {"ts_ms": wm, "namespace": ns, "sha": sha, "watermark_ms": wm}
            store.put(layout.activity_ns_key(ns, wm, sha), orjson.dumps(event))

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(one, range(n)))
    return bodies[::-1]  # newest first


def costs(repo: SnapshotRepo, store: CountingStore, ns: str, newest: list[dict]) -> dict:
    out = {}
    store.calls.clear()
    page = repo.history(ns, 50, None)
    assert [e["sha"] for e in page] == [b["sha"] for b in newest[:50]]
    out["history"] = dict(store.calls)
    target = newest[10]["sha"]
    repo.kv.delete(MARKER_SET, f"{ns}/{target}")  # the KV index misses: the body names it
    store.calls.clear()
    page = repo.history(ns, 50, target)
    assert [e["sha"] for e in page] == [b["sha"] for b in newest[11:61]]
    out["before_kv_miss"] = dict(store.calls)
    store.calls.clear()
    assert repo.history(ns, 50, target[:10]) == page  # a prefix; the KV index now hits
    out["before_prefix"] = dict(store.calls)
    store.calls.clear()
    first = repo.activity(0, 20, ns, None)
    out["activity"] = dict(store.calls)
    store.calls.clear()
    second = repo.activity(0, 20, ns, first["next_cursor"])
    out["activity_next"] = dict(store.calls)
    oldest = [b["sha"] for b in reversed(newest)]
    assert [e["sha"] for e in first["events"] + second["events"]] == oldest[:40]
    return out


def test_each_page_costs_the_same_few_requests_however_long_the_history(
    store_url, tmp_path
) -> None:
    store = CountingStore(open_object_store(store_url))
    repo = SnapshotRepo(store, open_kv(f"sqlite://{tmp_path / 'kv.sqlite'}"))
    small = costs(repo, store, "small", fill(store.inner, "small", 70))
    big = costs(repo, store, "big", fill(store.inner, "big", 1_500))
    assert small == big, (small, big)
    assert big["history"] == {"list": 1}
    assert big["before_kv_miss"] == {"get": 1, "exists": 2, "list": 1}
    assert big["before_prefix"] == {"list": 2}  # resolve the prefix, then the page
    assert big["activity"] == big["activity_next"] == {"list": 1, "get": 20}


def test_activity_cursor_is_opaque_and_checked(emulator, backend_factory) -> None:
    layer = backend_factory(emulator.url)
    repo = layer.app.extensions["layer.snapshot_repo"]
    for i in range(3):
        b = body("ns", 1_700_000_000_000 + i)
        repo.write(b, ts_ms=b["watermark_ms"], source="origin", job_id=None)
    url = f"{layer.url}/v2/activity/snapshots"
    first = requests.get(url, params={"since": 0, "limit": 2}, timeout=10).json()
    cursor = first["next_cursor"]
    assert cursor and "activity/" not in cursor and "/" not in cursor  # opaque
    rest = requests.get(url, params={"since": 0, "limit": 2, "cursor": cursor}, timeout=10)
    assert rest.status_code == 200 and len(rest.json()["events"]) == 1
    # The old raw-key form still works (clients holding one across an upgrade).
    raw_key = repo.store.list("activity/", limit=2)[-1]
    old = requests.get(url, params={"since": 0, "cursor": raw_key}, timeout=10)
    assert old.json()["events"] == rest.json()["events"]
    for bad in ("c1.%%%", "c1.!!", "c1." + "A" * 7, "nonsense", encode_cursor("snapshots/x")):
        r = requests.get(url, params={"since": 0, "cursor": bad}, timeout=10)
        assert r.status_code == 400, bad
        assert r.json()["error"]["param"] == "cursor"
    # A cursor of the global feed does not belong to a namespace's feed.
    r = requests.get(url, params={"since": 0, "cursor": cursor, "namespace": "ns"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["param"] == "cursor"
