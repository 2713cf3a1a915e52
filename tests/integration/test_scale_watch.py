"""The write-aware watcher at work over real HTTP: fast lane, sweep ceiling, pruning,
budget and 429 back-off, the listing from records, state filters, stuck, the summary; on a
KV store of each backend (SQLite; Aerospike when ``LAYER_TEST_AEROSPIKE`` is set)."""

from __future__ import annotations

import time
from typing import Any

import requests

from tests.fixtures.kv import kv_url
from tests.integration.helpers import set_faults, tick, wait_index, write_docs


def _requests(emu: Any) -> int:
    return int(requests.get(f"{emu.url}/_emulator/stats", timeout=5).json()["requests"])


def _records(layer: Any) -> dict[str, Any]:
    with layer.app.app_context():
        return layer.app.extensions["layer.freshness"].get_all()


def _kv(layer: Any) -> Any:
    return layer.app.extensions["layer.kv"]


def _names(body: dict[str, Any]) -> list[str]:
    return [row["name"] for row in body["namespaces"]]


def test_fast_lane_polls_only_what_was_written_through_layer(
    emulator_factory, backend_factory, layer_kv_url
) -> None:
    emu = emulator_factory(index_lag_ms=1000)
    for ns in ("a", "b"):
        write_docs(emu.url, ns, [{"id": 1}])
    layer = backend_factory(
        emu.url, kv_url=layer_kv_url, sweep_max_ms=3_600_000, watch_max_rps=1000.0
    )
    r = tick(layer)
    assert set(r.polled) == {"a", "b"}  # new in the list: polled at once
    wait_index(emu.url, "a")
    wait_index(emu.url, "b")
    if r.unstable:  # an updating namespace is polled every tick until stable
        assert set(tick(layer).polled) == {ns for ns, f in r.polled.items() if not f.is_stable}
    assert all(f.is_stable for f in _records(layer).values())
    assert tick(layer).namespaces == 0, "stable and idle: nothing is due"

    # a write through Layer: its namespace is dirty and polled every tick until stable
    w = requests.post(f"{layer.url}/v2/namespaces/a", json={"upsert_rows": [{"id": 2}]}, timeout=5)
    assert w.status_code == 200
    assert _kv(layer).get("dirty", "a") is not None
    r = tick(layer)
    assert set(r.polled) == {"a"} and r.fast == 1 and r.unstable == 1
    assert _records(layer)["a"].is_stable is False
    assert _kv(layer).get("dirty", "a") is not None, "still dirty until a stable poll"
    wait_index(emu.url, "a")
    r = tick(layer)
    assert set(r.polled) == {"a"} and r.unstable == 0
    assert _kv(layer).get("dirty", "a") is None, "a stable poll after the mark clears it"
    assert tick(layer).namespaces == 0

    # a write outside Layer is not seen until the sweep comes round (the documented bound)
    write_docs(emu.url, "b", [{"id": 3}])
    assert tick(layer).namespaces == 0 and _records(layer)["b"].is_stable is True


def test_passthrough_writes_and_deletes_mark_dirty(
    emulator_factory, backend_factory, layer_kv_url
) -> None:
    """A v1 change (a schema update) and a namespace DELETE through the verbatim proxy go on the fast lane
    too: the write is polled next tick, the deleted namespace answers 404 and is pruned."""
    emu = emulator_factory(index_lag_ms=0)
    for ns in ("v1", "gone"):
        write_docs(emu.url, ns, [{"id": 1}])
    layer = backend_factory(
        emu.url, kv_url=layer_kv_url, sweep_max_ms=3_600_000, watch_max_rps=1000.0
    )
    tick(layer)
    assert tick(layer).namespaces == 0, "stable and idle: nothing is due"

    v1 = requests.post(
        f"{layer.url}/v1/namespaces/v1/schema", json={"color": {"type": "string"}}, timeout=5
    )
    assert v1.status_code == 200, v1.text
    assert _kv(layer).get("dirty", "v1") is not None
    refused = requests.delete(f"{layer.url}/v2/namespaces/nope", timeout=5)
    assert refused.status_code == 404 and _kv(layer).get("dirty", "nope") is None
    d = requests.delete(f"{layer.url}/v2/namespaces/gone", timeout=5)
    assert d.status_code == 200, d.text
    assert _kv(layer).get("dirty", "gone") is not None
    read = requests.get(f"{layer.url}/v1/namespaces/v1/schema", timeout=5)
    assert read.status_code == 200 and _kv(layer).get("dirty", "v1") is not None

    r = tick(layer)
    assert r.fast == 2 and set(r.polled) == {"v1"} and r.pruned == 1
    assert "gone" not in _records(layer) and _kv(layer).get("dirty", "gone") is None
    assert _kv(layer).get("dirty", "v1") is None, "a stable poll cleared the mark"


def test_fast_lane_polls_the_oldest_marks_first(
    emulator_factory, backend_factory, layer_kv_url
) -> None:
    """More dirty names than a tick's budget: those marked longest ago go first, whatever
    their names (before, name order: the end of the alphabet waited behind names written
    again and again)."""
    emu = emulator_factory(many={"n-": 10}, index_lag_ms=0)
    layer = backend_factory(
        emu.url,
        kv_url=layer_kv_url,
        sweep_max_ms=3_600_000,
        watch_max_rps=2.0,
        watch_interval_ms=1000,
    )
    names = [f"n-{i:05d}" for i in range(10)]
    for age, ns in enumerate(names):  # n-00009 marked longest ago, n-00000 last
        _kv(layer).put("dirty", ns, {"ms": 1_000_000 - age})
    r = tick(layer)
    assert 1 <= len(r.polled) < 10, r.polled  # the budget stopped it (2 calls a second)
    oldest_first = names[::-1]
    assert sorted(r.polled) == sorted(oldest_first[: len(r.polled)]), sorted(r.polled)


def test_sweep_ceiling_repolls_an_idle_namespace(
    emulator_factory, backend_factory, layer_kv_url
) -> None:
    emu = emulator_factory(many={"idle-": 5}, index_lag_ms=0)
    layer = backend_factory(emu.url, kv_url=layer_kv_url, sweep_max_ms=700, watch_max_rps=1000.0)
    first = tick(layer)
    assert first.namespaces == 5
    assert tick(layer).namespaces == 0, "not due before the ceiling"
    time.sleep(0.8)
    again = tick(layer)
    assert again.namespaces == 5 and again.swept == 5
    recs = _records(layer)
    assert all(recs[ns].observed_ms > first.polled[ns].observed_ms for ns in recs)
    # the schedule is in the KV: a new watcher (a restart) resumes it, no burst
    sched = dict(_kv(layer).scan("sweep"))
    assert len(sched) == 5 and all(r.value["due"] > time.time() * 1000 for r in sched.values())


def test_new_names_are_polled_at_once_and_gone_ones_pruned(
    emulator_factory, backend_factory, layer_kv_url
) -> None:
    emu = emulator_factory(index_lag_ms=0)
    for ns in ("a", "b", "c"):
        write_docs(emu.url, ns, [{"id": 1}])
    layer = backend_factory(
        emu.url, kv_url=layer_kv_url, sweep_max_ms=3_600_000, watch_max_rps=1000.0
    )
    tick(layer)
    tick(layer)
    assert set(_records(layer)) == {"a", "b", "c"}
    assert requests.delete(f"{emu.url}/v2/namespaces/b", timeout=5).status_code == 200
    write_docs(emu.url, "d", [{"id": 1}])  # created outside Layer
    r = tick(layer)
    assert "d" in r.polled and r.discovered == 1
    assert r.pruned == 1 and set(_records(layer)) == {"a", "c", "d"}
    kv = _kv(layer)
    assert not any(key.endswith("/b") for key, _ in kv.scan("sweep"))


def test_budget_caps_the_calls_and_the_sweep_stretches(
    emulator_factory, backend_factory, layer_kv_url
) -> None:
    emu = emulator_factory(many={"n-": 40}, index_lag_ms=0)
    layer = backend_factory(
        emu.url, kv_url=layer_kv_url, sweep_max_ms=1000, watch_max_rps=10.0, watch_interval_ms=1000
    )
    before = _requests(emu)
    t0 = time.monotonic()
    r = tick(layer)
    elapsed = time.monotonic() - t0
    calls = _requests(emu) - before
    # a burst of one token, then 10 per second over the tick, which ends by 80% of the
    # interval, so a scheduled tick is never still running when the next one is due
    assert calls <= 1 + 10 * elapsed, (calls, elapsed)
    assert r.duration_ms < 1000, r.duration_ms
    assert r.deferred > 0 or r.namespaces < 40
    assert r.stretch > 1.0
    summary = requests.get(f"{layer.url}/v2/namespaces/summary", timeout=5).json()
    assert summary["sweep"]["stretch"] > 1.0 and summary["sweep"]["max_ms"] == 1000
    assert summary["sweep"]["cycle_ms"] > 1000
    assert summary["upstream"]["max_rps"] == 10.0
    assert 0 < summary["upstream"]["calls_per_s"] <= 12
    metrics = requests.get(f"{layer.url}/metrics", timeout=5).text
    assert "layer_watcher_sweep_stretch" in metrics
    assert "layer_watcher_budget_wait_seconds_total" in metrics
    # later ticks get through the rest: every namespace recorded after a few seconds
    deadline = time.monotonic() + 30
    while len(_records(layer)) < 40 and time.monotonic() < deadline:
        tick(layer)
    assert len(_records(layer)) == 40


def test_429_pauses_the_watcher_and_records_no_error(
    emulator_factory, backend_factory, layer_kv_url
) -> None:
    emu = emulator_factory(many={"n-": 5}, index_lag_ms=0)
    layer = backend_factory(
        emu.url, kv_url=layer_kv_url, sweep_max_ms=0, watch_max_rps=1000.0, watch_interval_ms=500
    )
    tick(layer)
    assert len(_records(layer)) == 5
    set_faults(emu.url, fail_rate=1.0, fail_statuses=[429])  # with Retry-After: 1
    before = _requests(emu)
    r = tick(layer)
    assert r.throttled >= 1
    assert _requests(emu) - before <= 2, "one 429 stops every call until Retry-After"
    assert all(f.last_error is None for f in _records(layer).values())
    summary = requests.get(f"{layer.url}/v2/namespaces/summary", timeout=5).json()
    assert summary["upstream"]["backoff_until_ms"] is not None
    set_faults(emu.url, fail_rate=0.0)
    time.sleep(1.0)
    deadline = time.monotonic() + 10
    polled = 0
    while polled == 0 and time.monotonic() < deadline:
        polled = tick(layer).namespaces
    assert polled > 0, "after Retry-After the watcher polls again"


def test_listing_from_records_and_its_live_fallback(
    emulator_factory, backend_factory, kv_backend, layer_kv_url, tmp_path
) -> None:
    emu = emulator_factory(index_lag_ms=0)
    for ns in ("a", "b"):
        write_docs(emu.url, ns, [{"id": i} for i in range(3)])
    layer = backend_factory(emu.url, kv_url=layer_kv_url, list_cache_ttl_ms=0, watch_max_rps=1000.0)
    tick(layer)
    write_docs(emu.url, "c", [{"id": 1}])  # no record yet
    before = _requests(emu)
    body = requests.get(f"{layer.url}/v2/namespaces", timeout=5).json()
    assert _requests(emu) - before == 2, "one list page plus one live call, for c only"
    rows = {row["name"]: row for row in body["namespaces"]}
    assert rows["a"]["row_count"] == 3 and rows["a"]["observed_ms"] is not None
    assert rows["a"]["size_bytes"] and rows["a"]["is_stable"] is True
    assert rows["a"]["index_stuck_since_ms"] is None
    assert rows["c"]["row_count"] == 1 and rows["c"]["observed_ms"] is None

    # records older than LAYER_LISTING_MAX_AGE_MS are not trusted: live again
    stale = backend_factory(
        emu.url,
        kv_url=kv_url(kv_backend, tmp_path / "stale"),  # a store of its own
        list_cache_ttl_ms=0,
        listing_max_age_ms=0,
        watch_max_rps=1000.0,
    )
    tick(stale)
    time.sleep(0.01)
    before = _requests(emu)
    requests.get(f"{stale.url}/v2/namespaces", timeout=5).raise_for_status()
    assert _requests(emu) - before == 4

    # a failing namespace degrades only its row, from the record or live
    w = requests.post(f"{layer.url}/v2/namespaces/b", json={"upsert_rows": [{"id": 9}]}, timeout=5)
    assert w.status_code == 200  # dirty: the next tick polls it, and that poll fails
    set_faults(emu.url, fail_namespaces=["b"])
    assert tick(layer).errors == 1
    rows = {
        r["name"]: r
        for r in requests.get(f"{layer.url}/v2/namespaces", timeout=5).json()["namespaces"]
    }
    assert rows["b"]["metadata_error"] and rows["b"]["row_count"] is None
    assert rows["a"]["row_count"] == 3 and "metadata_error" not in rows["a"]


def test_listing_pages_read_records_ahead_and_fill_gaps(
    emulator_factory, backend_factory, layer_kv_url, tmp_path
) -> None:
    """Every page of a walk costs one upstream list call: the records are read in name
    order beside it (first page, or a cursor this process handed out), the names the
    range did not reach are read by key, and a cursor from another process works too."""
    emu = emulator_factory(many={"p-": 30}, index_lag_ms=0)
    layer = backend_factory(
        emu.url,
        list_cache_ttl_ms=0,
        watch_max_rps=1000.0,
        data_dir=tmp_path / "one",
        kv_url=layer_kv_url,  # both processes share it
    )
    tick(layer)
    # records of names the upstream no longer lists (not pruned yet) sit inside the range,
    # so the read-ahead's 10 records end before the page's last name
    with layer.app.app_context():
        fs = layer.app.extensions["layer.freshness"]
        stale = fs.get("p-00001")
        fs.put_many([(f"p-00001-gone{i}", stale) for i in range(4)])

    def walk(srv: Any, cursor: str | None = None) -> tuple[list[dict[str, Any]], int]:
        rows: list[dict[str, Any]] = []
        before = _requests(emu)
        while True:
            q = {"page_size": 10, "prefix": "p-", **({"cursor": cursor} if cursor else {})}
            body = requests.get(f"{srv.url}/v2/namespaces", params=q, timeout=5).json()
            rows += body["namespaces"]
            cursor = body["next_cursor"]
            if not cursor:
                return rows, _requests(emu) - before

    rows, calls = walk(layer)
    assert [r["name"] for r in rows] == [f"p-{i:05d}" for i in range(30)]
    assert calls == 3, "three list pages, no live metadata call"
    assert all(r["row_count"] is not None and r["observed_ms"] for r in rows)

    second = requests.get(
        f"{layer.url}/v2/namespaces", params={"page_size": 10, "prefix": "p-"}, timeout=5
    ).json()["next_cursor"]
    other = backend_factory(
        emu.url,
        list_cache_ttl_ms=0,
        watch_max_rps=1000.0,
        data_dir=tmp_path / "one",
        kv_url=layer_kv_url,  # both processes share it
    )
    rows, calls = walk(other, second)  # a cursor this process never handed out
    assert [r["name"] for r in rows] == [f"p-{i:05d}" for i in range(10, 30)]
    assert calls == 2 and all(r["row_count"] is not None for r in rows)


def test_state_filters_stuck_and_summary(emulator_factory, backend_factory, layer_kv_url) -> None:
    # idle namespaces, and slow-indexing writes that stay `updating` with a backlog that
    # never falls (the emulator indexes them after two minutes)
    emu = emulator_factory(many={"ok-": 3}, index_lag_ms=120_000)
    for i in range(5):
        write_docs(emu.url, f"slow-{i}", [{"id": 1, "text": "x" * 100}])
    set_faults(emu.url, fail_namespaces=["ok-00002"])
    layer = backend_factory(
        emu.url, kv_url=layer_kv_url, stuck_after_ms=300, watch_max_rps=1000.0, list_cache_ttl_ms=0
    )
    tick(layer)

    def state(name: str, **params: Any) -> requests.Response:
        return requests.get(
            f"{layer.url}/v2/namespaces", params={"state": name, **params}, timeout=5
        )

    before = _requests(emu)
    unstable = state("unstable").json()
    assert _names(unstable) == ["ok-00002", *[f"slow-{i}" for i in range(5)]]
    assert _names(state("error").json()) == ["ok-00002"]
    assert _names(state("stuck").json()) == []
    assert _names(state("unstable", prefix="slow-").json())[0] == "slow-0"
    # paging by name
    seen: list[str] = []
    cursor = None
    while True:
        page = state("unstable", page_size=2, **({"cursor": cursor} if cursor else {})).json()
        assert len(page["namespaces"]) <= 2
        seen += _names(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == _names(unstable)
    assert _requests(emu) == before, "state listings never call the upstream"

    time.sleep(0.4)
    tick(layer)
    stuck = state("stuck").json()
    assert _names(stuck) == [f"slow-{i}" for i in range(5)]
    assert all(row["index_stuck_since_ms"] for row in stuck["namespaces"])
    meta = requests.get(f"{layer.url}/v2/namespaces/slow-0/metadata", timeout=5).json()
    assert meta["layer"]["index_stuck_since_ms"] == stuck["namespaces"][0]["index_stuck_since_ms"]

    # a namespace that became stable leaves the sets
    set_faults(emu.url, fail_namespaces=[])
    tick(layer)
    assert _names(state("error").json()) == []

    before = _requests(emu)
    s = requests.get(f"{layer.url}/v2/namespaces/summary", timeout=5).json()
    assert _requests(emu) == before, "the summary never calls the upstream"
    recs = _records(layer)
    assert s["namespaces"] == 8 and s["rows"] == sum(f.row_count or 0 for f in recs.values())
    assert s["bytes"] == sum(f.size_bytes or 0 for f in recs.values()) > 0
    assert s["unstable"] == 5 and s["stuck"] == 5 and s["errored"] == 0
    assert len(s["shards"]) == 16 and len({sh["holder"] for sh in s["shards"]}) == 1
    assert s["watchers"] == 1 and s["as_of_ms"] > 0

    # a write through Layer shows as dirty
    requests.post(
        f"{layer.url}/v2/namespaces/ok-00000", json={"upsert_rows": [{"id": 5}]}, timeout=5
    )
    tick(layer)
    assert requests.get(f"{layer.url}/v2/namespaces/summary", timeout=5).json()["dirty"] == 1
    metrics = requests.get(f"{layer.url}/metrics", timeout=5).text
    for name in (
        "layer_watcher_polls_total",
        "layer_watcher_polls_per_second",
        "layer_watcher_fast_lane_namespaces",
        "layer_watcher_shards_held",
    ):
        assert name in metrics


def test_bad_state_params_are_400_naming_the_param(emulator, backend_factory, layer_kv_url) -> None:
    layer = backend_factory(emulator.url, kv_url=layer_kv_url)
    for params, param in [
        ({"state": "sleepy"}, "state"),
        ({"state": "Unstable"}, "state"),
        ({"state": "stuck", "cursor": "not/a/name"}, "cursor"),
        ({"state": "error", "page_size": "0"}, "page_size"),
        ({"state": "error", "prefix": "bad prefix"}, "prefix"),
    ]:
        r = requests.get(f"{layer.url}/v2/namespaces", params=params, timeout=5)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["param"] == param
    r = requests.get(f"{layer.url}/v2/namespaces", params={"state": "stuck"}, timeout=5)
    assert r.status_code == 200 and r.json() == {"namespaces": [], "next_cursor": None}
    # /summary is Layer's own route, never taken for a namespace called "summary"
    s = requests.get(f"{layer.url}/v2/namespaces/summary", timeout=5)
    assert s.status_code == 200 and s.json()["namespaces"] == 0
