"""The chronology at production cost (issue 14): stored/auto find their field, the
watcher's cadence and cost bound, and cancelling a job. Both object stores."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from backend.snapshots.repo import FIELD_SET, LATEST_SET
from common.timeutil import now_ms
from tests.fixtures.recorder import Recorder, Seen
from tests.integration.helpers import (
    set_faults,
    snapshot,
    tick,
    wait_index,
    wait_job,
    write_docs,
)

FACETS = (("products", ("category", "brand")),)


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def store_url(request, tmp_path) -> str:
    if request.param == "file":
        return f"file://{tmp_path / 'objects'}"
    return str(request.getfixturevalue("s3_url")())


def history(layer, ns: str) -> list[dict]:
    return requests.get(f"{layer.url}/v2/namespaces/{ns}/history", timeout=10).json()


def test_stored_and_auto_serve_a_field_that_a_later_snapshot_left_out(
    demo_emulator, backend_factory, store_url
) -> None:
    layer = backend_factory(demo_emulator.url, object_store_url=store_url, facets=FACETS)
    first = snapshot(layer.url, "products", field="category", source="origin")
    second = snapshot(layer.url, "products", field="tags", source="origin")
    assert first["status"] == second["status"] == "completed"
    assert first["sha"] != second["sha"]
    assert history(layer, "products")[0]["sha"] == second["sha"]  # tags is the latest body

    stored = snapshot(layer.url, "products", field="category", source="stored")
    assert stored["status"] == "completed" and stored["resolved_source"] == "stored"
    assert stored["sha"] == first["sha"] and stored["watermark_ms"] == first["watermark_ms"]
    assert stored["result"] == first["result"]
    auto = snapshot(layer.url, "products", field="category")
    assert auto["resolved_source"] == "stored" and auto["sha"] == first["sha"]
    assert auto["documents_scanned"] == 0
    assert len(history(layer, "products")) == 2  # no origin scan wrote a third body

    # The KV mirror is a cache: without it the markers are walked newest first.
    kv = layer.app.extensions["layer.kv"]
    kv.delete_set(FIELD_SET)
    kv.delete_set(LATEST_SET)
    again = snapshot(layer.url, "products", field="category", source="stored")
    assert again["sha"] == first["sha"]
    assert kv.get(FIELD_SET, "products/category").value["sha"] == first["sha"]  # repaired

    missing = requests.post(
        f"{layer.url}/v2/namespaces/products/snapshots",
        json={"field": "brand", "source": "stored"},
        timeout=10,
    )
    assert missing.status_code == 404
    assert "brand" in missing.json()["error"]["message"]
    # A newer body of the same field takes over.
    third = snapshot(layer.url, "products", field="category", source="origin")
    newest = snapshot(layer.url, "products", field="category", source="stored")
    assert newest["sha"] == third["sha"]


def _metric(layer, name: str, label: str) -> float:
    text = requests.get(f"{layer.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name) and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_watcher_snapshots_at_most_once_per_interval_then_catches_up(
    emulator_factory, backend_factory, store_url
) -> None:
    emu = emulator_factory(index_lag_ms=50)
    interval = 8000
    layer = backend_factory(
        emu.url,
        object_store_url=store_url,
        facets=(("shop", ("color",)),),
        snapshot_min_interval_ms=interval,
    )
    service = layer.app.extensions["layer.snapshots"]

    def stable_poll() -> None:
        wait_index(emu.url, "shop")
        tick(layer)
        service.wait_idle()

    write_docs(layer.url, "shop", [{"id": i, "color": "red"} for i in range(5)])
    stable_poll()
    assert len(history(layer, "shop")) == 1
    snapped_ms = service.watch.state("shop")["last_snapshot_ms"]
    deferred0 = _metric(layer, "layer_watcher_snapshots_total", 'outcome="deferred"')
    for i in range(3):  # data moves at every poll inside the interval: no new snapshot
        write_docs(layer.url, "shop", [{"id": 10 + i, "color": "blue"}])
        stable_poll()
    assert now_ms() < snapped_ms + interval, "the machine is too slow for this interval"
    assert len(history(layer, "shop")) == 1
    assert _metric(layer, "layer_watcher_snapshots_total", 'outcome="deferred"') >= deferred0 + 3
    time.sleep(max(0.0, (snapped_ms + interval - now_ms()) / 1000) + 0.1)
    stable_poll()  # the first stable poll after the interval catches up
    h = history(layer, "shop")
    assert len(h) == 2
    meta = requests.get(f"{layer.url}/v2/namespaces/shop/metadata", timeout=10).json()
    assert h[0]["watermark_ms"] == meta["layer"]["stable_as_of"]
    body = requests.get(f"{layer.url}/v2/namespaces/shop/snapshots/{h[0]['sha']}", timeout=10)
    [color] = body.json()["fields"]
    assert {v["v"]: v["n"] for v in color["values"]} == {"red": 5, "blue": 3}
    stable_poll()  # nothing moved since: nothing new, whatever the interval
    assert len(history(layer, "shop")) == 2


def test_namespace_above_max_docs_is_skipped_and_says_so(
    emulator_factory, backend_factory, store_url
) -> None:
    emu = emulator_factory(index_lag_ms=10)
    layer = backend_factory(
        emu.url,
        object_store_url=store_url,
        facets=(("big", ("color",)),),
        snapshot_max_docs=5,
        snapshot_min_interval_ms=0,
    )
    write_docs(layer.url, "big", [{"id": i, "color": "red"} for i in range(8)])
    wait_index(emu.url, "big")
    tick(layer)
    layer.app.extensions["layer.snapshots"].wait_idle()
    assert history(layer, "big") == []
    feed = requests.get(
        f"{layer.url}/v2/activity/snapshots", params={"since": 0, "namespace": "big"}, timeout=10
    ).json()
    [event] = feed["events"]
    assert event["sha"] is None and event["namespace"] == "big" and event["fields"] == ["color"]
    assert event["skipped"] == {"reason": "max_docs", "row_count": 8, "max_docs": 5}
    assert event["source"] == "watcher" and event["job_id"] is None
    assert _metric(layer, "layer_watcher_snapshots_total", 'outcome="skipped_max_docs"') >= 1
    # Snapshots on demand are not bounded: the operator asked for them.
    job = snapshot(layer.url, "big", field="color", source="origin")
    assert job["status"] == "completed"


# -- array fields counted on the server ---------------------------------------------------
ARRAY_DOCS = [
    {"id": i, "tags": [f"t{i % 5}", f"t{i % 5}", f"t{i % 3}"]} if i % 4 else {"id": i}
    for i in range(1, 301)
]
FOREACHUNIQUE = [{"tags": ["ForEachUnique", "tags"]}]


def _holding(docs: list[dict]) -> dict[str, int]:
    """Per tag, the documents whose array holds it (what ``Contains`` matches)."""
    out: dict[str, int] = {}
    for d in docs:
        for t in set(d.get("tags") or []):
            out[t] = out.get(t, 0) + 1
    return out


@pytest.fixture
def recorded(emulator_factory) -> Iterator[tuple[Any, Recorder]]:
    """An emulator holding ``arr`` (arrays that repeat elements), seen through a recorder."""
    emu = emulator_factory(index_lag_ms=0)
    write_docs(emu.url, "arr", ARRAY_DOCS)
    wait_index(emu.url, "arr")
    rec = Recorder(emu.url).start()
    yield emu, rec
    rec.stop()


def _queries(rec: Recorder, since: int) -> list[dict]:
    return [orjson.loads(s.body) for s in rec.since(since) if s.path.endswith("/query")]


def test_an_array_field_is_counted_on_the_server_with_foreachunique(
    recorded, backend_factory
) -> None:
    emu, rec = recorded
    layer = backend_factory(rec.url)
    before = rec.count()
    job = snapshot(layer.url, "arr", field="tags", source="origin")
    assert job["status"] == "completed" and job["sha"]
    [query] = _queries(rec, before)  # one aggregation, no page of rows
    assert query["group_by"] == FOREACHUNIQUE and "rank_by" not in query
    assert job["documents_scanned"] == 0
    assert {v["v"]: v["n"] for v in job["result"]["values"]} == _holding(ARRAY_DOCS)
    server = layer.app.extensions["layer.snapshots"].server
    assert server.server_counted == 1 and server.fallbacks == 0
    scan = backend_factory(emu.url, origin_strategy="scan")
    scanned = snapshot(scan.url, "arr", field="tags", source="origin")
    assert scanned["documents_scanned"] == len(ARRAY_DOCS)
    assert orjson.dumps(scanned["result"]) == orjson.dumps(job["result"])


def _refuse_foreachunique(seen: Seen) -> tuple[int, Any] | None:
    if b"ForEachUnique" in seen.body:
        return 400, {"status": "error", "error": "unknown group_by function ForEachUnique"}
    return None


def test_array_field_falls_back_to_the_scan_when_upstream_refuses_foreachunique(
    recorded, backend_factory
) -> None:
    """An upstream that refuses the grammar (400): the scan counts the field the same
    way, and the refusal is remembered so the next job does not ask again."""
    emu, rec = recorded
    rec.answer = _refuse_foreachunique
    layer = backend_factory(rec.url)
    service = layer.app.extensions["layer.snapshots"]
    before = rec.count()
    scan = snapshot(layer.url, "arr", field="tags", source="origin")
    assert scan["status"] == "completed" and scan["documents_scanned"] == len(ARRAY_DOCS)
    asked = _queries(rec, before)
    assert asked[0]["group_by"] == FOREACHUNIQUE
    assert asked[1:] and all("rank_by" in q for q in asked[1:])
    assert {v["v"]: v["n"] for v in scan["result"]["values"]} == _holding(ARRAY_DOCS)
    assert service.server.fallbacks == 1 and not service.server.arrays_enabled()
    before = rec.count()
    again = snapshot(layer.url, "arr", field="tags", source="origin")
    assert again["result"] == scan["result"] and service.server.fallbacks == 1
    assert all("group_by" not in q for q in _queries(rec, before))


def test_a_bad_filter_on_an_array_job_is_not_taken_for_a_refusal(recorded, backend_factory) -> None:
    """The upstream's 400 for a filter of the wrong type comes back on the scan too: the
    job fails with it, and array fields are still counted on the server afterwards."""
    emu, rec = recorded
    layer = backend_factory(rec.url)
    service = layer.app.extensions["layer.snapshots"]
    bad = snapshot(layer.url, "arr", field="tags", source="origin", filters=["tags", "Eq", 7])
    assert bad["status"] == "failed"
    assert service.server.fallbacks == 0 and service.server.arrays_enabled()
    before = rec.count()
    good = snapshot(layer.url, "arr", field="tags", source="origin")
    assert good["status"] == "completed" and good["documents_scanned"] == 0
    assert [q.get("group_by") for q in _queries(rec, before)] == [FOREACHUNIQUE]


# -- cancelling ----------------------------------------------------------------------------
def _slow_job(emu, layer, n: int = 3000, page: int = 100) -> dict:
    write_docs(emu.url, "big", [{"id": i, "color": ["red", "blue"][i % 2]} for i in range(n)])
    requests.post(f"{emu.url}/_emulator/faults", json={"latency_ms": 40}, timeout=5)
    r = requests.post(
        f"{layer.url}/v2/namespaces/big/snapshots",
        json={"field": "color", "source": "origin", "page_size": page},
        timeout=10,
    )
    assert r.status_code == 202
    job = r.json()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        cur = requests.get(
            f"{layer.url}/v2/namespaces/big/snapshot-jobs/{job['id']}", timeout=10
        ).json()
        if cur["documents_scanned"] > 0:
            return cur
        time.sleep(0.02)
    raise AssertionError("the job never started scanning")


def test_cancel_ends_the_job_within_a_page_and_writes_nothing(
    emulator_factory, backend_factory, store_url
) -> None:
    emu = emulator_factory(index_lag_ms=10)
    layer = backend_factory(emu.url, object_store_url=store_url, origin_strategy="scan")
    job = _slow_job(emu, layer)
    url = f"{layer.url}/v2/namespaces/big/snapshot-jobs/{job['id']}"
    runner = layer.app.extensions["layer.job_runner"]
    at_cancel = runner.running[job["id"]].job["documents_scanned"]
    r = requests.delete(url, timeout=10)
    assert r.status_code == 202 and r.json()["cancel_requested"] is True
    done = wait_job(layer.url, "big", job["id"], timeout=10)
    assert done["status"] == "cancelled" and done["finished_at"]
    assert done["documents_scanned"] <= at_cancel + 2 * 100  # the page counted, one prefetched
    assert "sha" not in done and "result" not in done
    assert history(layer, "big") == []
    feed = requests.get(f"{layer.url}/v2/activity/snapshots", params={"since": 0}, timeout=10)
    assert feed.json()["events"] == []
    # Finished: 409; unknown: 404; not a UUID: 400.
    again = requests.delete(url, timeout=10)
    assert again.status_code == 409 and again.json()["error"]["code"]
    unknown = requests.delete(
        f"{layer.url}/v2/namespaces/big/snapshot-jobs/00000000-0000-4000-8000-000000000000",
        timeout=10,
    )
    assert unknown.status_code == 404
    bad = requests.delete(f"{layer.url}/v2/namespaces/big/snapshot-jobs/nope", timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "id"
    completed = snapshot(layer.url, "big", field="color", source="origin", page_size=5000)
    r = requests.delete(f"{layer.url}/v2/namespaces/big/snapshot-jobs/{completed['id']}")
    assert r.status_code == 409


def test_cancel_from_another_process_reaches_the_job_through_the_kv(
    emulator_factory, backend_factory
) -> None:
    """A web process that does not run the job only flags the KV record; the owner reads
    it back at its next write-through and stops."""
    emu = emulator_factory(index_lag_ms=10)
    layer = backend_factory(emu.url, origin_strategy="scan")
    job = _slow_job(emu, layer)
    jobs = layer.app.extensions["layer.jobs"]  # the store alone, as another process has it
    flagged = jobs.request_cancel("big", job["id"])
    assert flagged["cancel_requested"] is True
    done = wait_job(layer.url, "big", job["id"], timeout=10)
    assert done["status"] == "cancelled"
    assert done["documents_scanned"] < 3000
    assert history(layer, "big") == []


def test_cancel_needs_a_write_key(emulator_factory, backend_factory) -> None:
    emu = emulator_factory(index_lag_ms=10)
    layer = backend_factory(
        emu.url,
        origin_strategy="scan",
        api_keys=("layer-admin-key",),
        read_keys=("layer-read-key",),
    )
    url = f"{layer.url}/v2/namespaces/big/snapshot-jobs/00000000-0000-4000-8000-000000000000"
    r = requests.delete(url, headers={"Authorization": "Bearer layer-read-key"}, timeout=10)
    assert r.status_code == 403
    r = requests.delete(url, headers={"Authorization": "Bearer layer-admin-key"}, timeout=10)
    assert r.status_code == 404


def test_a_stopping_watcher_gives_up_its_snapshot_in_flight(
    emulator_factory, backend_factory
) -> None:
    """A scan in flight when the watcher stops writes nothing and lets the process exit
    (before, ``layer demo`` could outlive Ctrl-C by a minute); a restarted watcher
    snapshots again."""
    emu = emulator_factory(index_lag_ms=10)
    layer = backend_factory(
        emu.url,
        facets=(("shop", ("color",)),),
        snapshot_min_interval_ms=0,
        origin_strategy="scan",
        watch_page_size=10,
    )
    service = layer.app.extensions["layer.snapshots"]
    write_docs(layer.url, "shop", [{"id": i, "color": "red"} for i in range(300)])
    wait_index(emu.url, "shop")
    set_faults(emu.url, latency_ms=150)  # 30 pages: the scan takes 4.5 s or more

    def upstream_requests() -> int:
        return int(requests.get(f"{emu.url}/_emulator/stats", timeout=5).json()["requests"])

    try:
        before = upstream_requests()
        tick(layer)
        wait_for(lambda: service.watch.in_flight() == ["shop"], "the snapshot to start")
        time.sleep(0.5)
        assert service.stop_watch(grace_s=10), "the snapshot did not give up"
        wait_for(
            lambda: (
                not any(
                    t.name.startswith("layer-watch-snap") and t.is_alive()
                    for t in threading.enumerate()
                )
            ),
            "the snapshot thread to end",
        )
        # It gave up at its next page: far fewer calls than the 30 pages of the scan.
        assert upstream_requests() - before < 15
        assert history(layer, "shop") == []
        tick(layer)  # stopped: a stable poll starts nothing
        assert service.watch.in_flight() == []
    finally:
        set_faults(emu.url, latency_ms=0)
    service.start_watch()
    tick(layer)
    service.wait_idle()
    [entry] = history(layer, "shop")
    assert entry["watermark_ms"] is not None


def wait_for(cond, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
