"""Snapshot jobs, sources, history, bodies, diffs and activity against the demo emulator."""

from __future__ import annotations

import time
from collections import Counter

import orjson
import pytest
import requests

from tests.integration.helpers import export_all, snapshot, tick, wait_index, wait_job, write_docs

FACETS = (("products", ("category", "brand", "tags")),)


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def store_url(request, tmp_path) -> str:
    if request.param == "file":
        return f"file://{tmp_path / 'objects'}"
    return str(request.getfixturevalue("s3_url")())


@pytest.fixture(scope="session")
def products_truth(demo_emulator) -> dict[str, Counter]:
    rows = export_all(demo_emulator.url, "products", ["category", "brand", "tags"])
    truth: dict[str, Counter] = {"category": Counter(), "brand": Counter(), "tags": Counter()}
    for r in rows:
        for f in ("category", "brand"):
            if r.get(f) is not None:
                truth[f][r[f]] += 1
        for t in set(r.get("tags") or []):  # a document counts once per distinct tag
            truth["tags"][t] += 1
    truth["_docs"] = Counter({"n": len(rows)})
    return truth


def test_origin_job_persists_and_every_read_route_serves_it(
    demo_emulator, backend_factory, store_url, products_truth
) -> None:
    layer = backend_factory(demo_emulator.url, object_store_url=store_url, facets=FACETS)
    r = requests.post(
        f"{layer.url}/v2/namespaces/products/snapshots",
        json={"field": "category", "source": "origin"},
        timeout=10,
    )
    assert r.status_code == 202
    created = r.json()
    for k in (
        "id",
        "namespace",
        "field",
        "source",
        "status",
        "progress",
        "documents_scanned",
        "created_at",
    ):
        assert k in created
    assert (
        created["status"] == "running"
        and created["source"] == "origin"
        and created["created_at"].endswith("Z")
    )

    job = wait_job(layer.url, "products", created["id"])
    assert job["status"] == "completed", job
    assert job["resolved_source"] == "origin" and job["kind"] == "snapshot"
    assert job["documents_scanned"] == products_truth["_docs"]["n"] == 12_500
    assert job["progress"] == 1 and job["finished_at"].endswith("Z")
    values = {x["v"]: x["n"] for x in job["result"]["values"]}
    assert values == dict(products_truth["category"])
    counts = [x["n"] for x in job["result"]["values"]]
    assert counts == sorted(counts, reverse=True)
    sha = job["sha"]
    assert len(sha) == 64

    hist = requests.get(f"{layer.url}/v2/namespaces/products/history", timeout=10).json()
    assert hist == [{"watermark_ms": job["watermark_ms"], "sha": sha}]

    body = requests.get(
        f"{layer.url}/v2/namespaces/products/snapshots/{sha[:7]}", timeout=10
    ).json()
    assert body["sha"] == sha and body["namespace"] == "products"
    assert body["fields"] == [job["result"]] and body["fields_skipped"] == []
    assert (
        requests.get(f"{layer.url}/v2/namespaces/products/snapshots/{sha}", timeout=10).json()
        == body
    )

    feed = requests.get(
        f"{layer.url}/v2/activity/snapshots", params={"since": 0}, timeout=10
    ).json()
    assert feed["next_cursor"] is None
    [event] = feed["events"]
    assert event["sha"] == sha and event["job_id"] == job["id"] and event["source"] == "origin"
    assert event["fields"] == ["category"] and event["namespace"] == "products"

    jobs = requests.get(f"{layer.url}/v2/namespaces/products/snapshot-jobs", timeout=10).json()[
        "jobs"
    ]
    assert [j["id"] for j in jobs] == [job["id"]]

    # stored reuses the body's SHA; auto picks stored for an unfiltered field in the latest body
    stored = snapshot(layer.url, "products", field="category", source="stored")
    assert (
        stored["resolved_source"] == "stored"
        and stored["sha"] == sha
        and stored["result"] == job["result"]
    )
    auto = snapshot(layer.url, "products", field="category")
    assert auto["resolved_source"] == "stored"
    # the history did not grow: stored writes nothing
    assert len(requests.get(f"{layer.url}/v2/namespaces/products/history", timeout=10).json()) == 1


def test_tags_exceed_the_cap_with_exact_distinct(
    demo_emulator, backend_factory, products_truth
) -> None:
    layer = backend_factory(demo_emulator.url, facets=FACETS)
    job = snapshot(layer.url, "products", field="tags", source="origin", page_size=5000)
    distinct = len(products_truth["tags"])
    assert distinct > 10_000
    assert job["result"] == {
        "name": "tags",
        "skipped": {"reason": "exceeded_cap", "distinct_observed": distinct, "cap": 10_000},
    }
    # ForEachUnique answered a full page of groups: the scan measured it; too many
    # groups is not a refusal, so other array fields are still asked for.
    assert job["documents_scanned"] == products_truth["_docs"]["n"]
    server = layer.app.extensions["layer.snapshots"].server
    assert server.fallbacks == 0 and server.arrays_enabled() and server.server_counted == 0
    assert server.known_wide("products", "tags")  # the next hour's jobs scan it directly
    body = requests.get(
        f"{layer.url}/v2/namespaces/products/snapshots/{job['sha']}", timeout=10
    ).json()
    assert body["fields"] == []
    assert body["fields_skipped"] == [
        {"name": "tags", "reason": "exceeded_cap", "distinct_observed": distinct, "cap": 10_000}
    ]


def test_filtered_origin_is_not_persisted(demo_emulator, backend_factory, products_truth) -> None:
    layer = backend_factory(demo_emulator.url)
    brand = products_truth["brand"].most_common(1)[0][0]
    job = snapshot(layer.url, "products", field="category", filters=["brand", "Eq", brand])
    assert job["resolved_source"] == "origin" and "sha" not in job
    assert sum(x["n"] for x in job["result"]["values"]) == products_truth["brand"][brand]
    assert requests.get(f"{layer.url}/v2/namespaces/products/history", timeout=10).json() == []


def _bodies_by_strategy(
    url: str, ns: str, fields: list[str], docs: int
) -> tuple[dict[str, bytes], dict[str, list[str]]]:
    """Canonical body bytes per strategy, and which fields the server counted."""
    from backend.snapshots.histogram import build_body
    from backend.snapshots.origin import ServerCounting, count_origin
    from backend.upstream import Upstream
    from common.canonical import canonical_json, with_sha
    from common.settings import Settings

    up = Upstream(Settings.from_env({}, turbopuffer_base_url=url))
    schema = up.metadata(ns)["schema"]
    bodies, counted = {}, {}
    for strategy in ("auto", "scan"):
        server = ServerCounting()
        stats: dict = {}
        counters, seen = count_origin(
            up,
            ns,
            fields,
            filters=None,
            page_size=1000,
            schema=schema,
            strategy=strategy,
            progress=lambda n: None,
            server=server,
            stats=stats,
        )
        assert seen == docs and server.fallbacks == 0
        counted[strategy] = stats["server_counted"]
        bodies[strategy] = canonical_json(
            with_sha(build_body(ns, 1, [c.result(10_000) for c in counters]))
        )
    return bodies, counted


def test_aggregate_path_and_scan_give_byte_identical_bodies(demo_emulator) -> None:
    fields = ["category", "brand", "in_stock", "tags"]
    bodies, counted = _bodies_by_strategy(demo_emulator.url, "products", fields, 12_500)
    assert bodies["auto"] == bodies["scan"]
    # tags has more than 10,000 distinct values: a full page of groups, so the scan
    assert counted == {"auto": ["category", "brand", "in_stock"], "scan": []}


def test_array_fields_with_repeated_elements_count_the_same_on_the_server(
    emulator_factory,
) -> None:
    """ForEachUnique and the scan give byte-identical bodies for arrays that repeat
    elements, and each bucket is what the filter ``Contains`` matches."""
    emu = emulator_factory(index_lag_ms=0)
    colors = ["red", "blue", "green"]
    docs = []
    for i in range(1, 401):
        doc: dict = {"id": i, "color": colors[i % 3]}
        if i % 7:  # some documents have no tags at all
            doc["tags"] = [f"t{i % 5}", f"t{i % 5}", f"t{i % 11}", f"t{(i * 3) % 5}"]
        doc["sizes"] = [i % 4, i % 4, i % 6]
        if i % 13 == 0:
            doc["sizes"] = []
        docs.append(doc)
    write_docs(emu.url, "arr", docs)
    wait_index(emu.url, "arr")
    bodies, counted = _bodies_by_strategy(emu.url, "arr", ["color", "tags", "sizes"], 400)
    assert bodies["auto"] == bodies["scan"]
    assert counted == {"auto": ["color", "tags", "sizes"], "scan": []}
    body = orjson.loads(bodies["auto"])
    for field in body["fields"]:
        if field["name"] == "color":
            continue
        for bucket in field["values"]:
            r = requests.post(
                f"{emu.url}/v2/namespaces/arr/query",
                json={
                    "aggregate_by": {"n": ["Count"]},
                    "filters": [field["name"], "Contains", bucket["v"]],
                },
                timeout=10,
            )
            assert r.json()["aggregations"]["n"] == bucket["n"], (field["name"], bucket)


def test_progress_moves_while_a_job_runs(emulator_factory, backend_factory) -> None:
    emu = emulator_factory(index_lag_ms=10)
    write_docs(
        emu.url, "big", [{"id": i, "color": ["red", "blue", "green"][i % 3]} for i in range(3000)]
    )
    layer = backend_factory(emu.url, origin_strategy="scan")
    requests.post(f"{emu.url}/_emulator/faults", json={"latency_ms": 40}, timeout=5)
    r = requests.post(
        f"{layer.url}/v2/namespaces/big/snapshots",
        json={"field": "color", "page_size": 100},
        timeout=10,
    )
    job_id = r.json()["id"]
    seen = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = requests.get(
            f"{layer.url}/v2/namespaces/big/snapshot-jobs/{job_id}", timeout=10
        ).json()
        seen.add((job["status"], job["progress"], job["documents_scanned"]))
        if job["status"] != "running":
            break
        time.sleep(0.1)
    running = [s for s in seen if s[0] == "running" and 0 < s[1] < 1 and 0 < s[2] < 3000]
    assert running, seen
    assert job["status"] == "completed" and job["documents_scanned"] == 3000


def test_create_bad_inputs(demo_emulator, backend_factory) -> None:
    layer = backend_factory(
        demo_emulator.url, api_keys=("admin-key-123456",), read_keys=("read-key-1234567",)
    )
    h = {"Authorization": "Bearer admin-key-123456"}
    url = f"{layer.url}/v2/namespaces/products/snapshots"
    cases = [
        ({}, "field"),
        ({"field": ""}, "field"),
        ({"field": "category", "source": "disk"}, "source"),
        ({"field": "category", "filters": ["brand", "Eq"]}, "filters"),
        ({"field": "category", "filters": ["brand", "Regexish", "x"]}, "filters"),
        ({"field": "category", "filters": ["brand", "Glob", "{a,b"]}, "filters"),
        ({"field": "category", "filters": ["tags", "In", [["a"]]]}, "filters"),
        ({"field": "category", "filters": ["price", "Lt", {"x": 1}]}, "filters"),
        ({"field": "category", "page_size": 0}, "page_size"),
        ({"field": "category", "page_size": 10_001}, "page_size"),
        ({"field": "category", "source": "stored", "filters": ["brand", "Eq", "x"]}, "filters"),
    ]
    for body, param in cases:
        r = requests.post(url, json=body, headers=h, timeout=10)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["param"] == param
    assert requests.post(url, data=b"{", headers=h, timeout=10).json()["error"]["param"] == "body"
    r = requests.post(
        f"{layer.url}/v2/namespaces/nope/snapshots", json={"field": "x"}, headers=h, timeout=10
    )
    assert r.status_code == 404
    r = requests.post(
        url,
        json={"field": "category"},
        headers={"Authorization": "Bearer read-key-1234567"},
        timeout=10,
    )
    assert r.status_code == 403
    r = requests.post(url, json={"field": "category", "source": "cache"}, headers=h, timeout=10)
    assert r.status_code == 409 and r.json()["error"]["state"] == "cold"
    r = requests.post(url, json={"field": "category", "source": "stored"}, headers=h, timeout=10)
    assert r.status_code == 404
    assert requests.get(
        f"{layer.url}/v2/namespaces/products/snapshot-jobs", headers=h, timeout=10
    ).json() == {"jobs": []}


def test_read_routes_bad_inputs(demo_emulator, backend_factory) -> None:
    layer = backend_factory(demo_emulator.url)
    base = f"{layer.url}/v2/namespaces/products"
    for sha, status in [
        ("abc", 400),
        ("zzzzzzz", 400),
        ("a" * 65, 400),
        ("abcdef0", 404),
        ("0" * 64, 404),
    ]:
        r = requests.get(f"{base}/snapshots/{sha}", timeout=10)
        assert r.status_code == status, sha
        assert r.json()["error"]["code"]
    assert requests.get(f"{base}/snapshot-jobs/not-a-uuid", timeout=10).status_code == 400
    assert (
        requests.get(
            f"{base}/snapshot-jobs/00000000-0000-0000-0000-000000000000", timeout=10
        ).status_code
        == 404
    )
    for q, param in [
        ({"limit": "x"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"before": "xyz"}, "before"),
    ]:
        r = requests.get(f"{base}/history", params=q, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, q
    assert requests.get(f"{base}/history", params={"limit": 10**9}, timeout=10).status_code == 200
    act = f"{layer.url}/v2/activity/snapshots"
    assert requests.get(act, timeout=10).json()["error"]["param"] == "since"
    for q, param in [
        ({"since": "x"}, "since"),
        ({"since": "-1"}, "since"),
        ({"since": 0, "limit": 0}, "limit"),
        ({"since": 0, "namespace": "a/b"}, "namespace"),
        ({"since": 0, "cursor": "elsewhere/x"}, "cursor"),
    ]:
        r = requests.get(act, params=q, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, q


def test_history_before_paging_activity_cursor_and_diff(emulator_factory, backend_factory) -> None:
    emu = emulator_factory(index_lag_ms=10)
    layer = backend_factory(emu.url)
    jobs = []
    for i in range(5):
        write_docs(emu.url, "ns", [{"id": i, "color": f"c{i % 2}"}])
        jobs.append(snapshot(layer.url, "ns", field="color", source="origin"))
        time.sleep(0.005)
    shas = [j["sha"] for j in reversed(jobs)]  # newest first
    assert len(set(shas)) == 5
    base = f"{layer.url}/v2/namespaces/ns"
    page1 = requests.get(f"{base}/history", params={"limit": 2}, timeout=10).json()
    page2 = requests.get(
        f"{base}/history", params={"limit": 2, "before": page1[-1]["sha"][:7]}, timeout=10
    ).json()
    page3 = requests.get(
        f"{base}/history", params={"limit": 2, "before": page2[-1]["sha"]}, timeout=10
    ).json()
    assert [h["sha"] for h in page1 + page2 + page3] == shas
    wms = [h["watermark_ms"] for h in page1 + page2 + page3]
    assert wms == sorted(wms, reverse=True)

    seen, cursor = [], None
    for _ in range(10):
        params = {"since": 0, "limit": 2, "namespace": "ns"}
        if cursor:
            params["cursor"] = cursor
        feed = requests.get(f"{layer.url}/v2/activity/snapshots", params=params, timeout=10).json()
        seen += [e["sha"] for e in feed["events"]]
        cursor = feed["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(shas))
    later = requests.get(
        f"{layer.url}/v2/activity/snapshots",
        params={"since": jobs[3]["watermark_ms"] + 10**6},
        timeout=10,
    ).json()
    assert later == {"events": [], "next_cursor": None}

    d = requests.get(f"{base}/snapshots/{shas[-1][:8]}/diff/{shas[0]}", timeout=10).json()
    assert d["from"] == shas[-1] and d["to"] == shas[0]
    [field] = d["fields"]
    assert field["name"] == "color" and field["status"] == "changed"
    assert {c["v"]: c["delta"] for c in field["changes"]} == {"c0": 2, "c1": 2}
    bad = requests.get(f"{base}/snapshots/{shas[0]}/diff/xyz", timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "b"


def test_ambiguous_prefix_is_409_listing_both(emulator, backend_factory, tmp_path) -> None:
    from backend.stores.registry import open_object_store

    layer = backend_factory(emulator.url, object_store_url=f"file://{tmp_path / 'amb'}")
    store = open_object_store(f"file://{tmp_path / 'amb'}")
    a, b = "abcdef1" + "0" * 57, "abcdef1" + "f" * 57
    for sha in (a, b):
        store.put(f"snapshots/ns/bodies/{sha}.json", b'{"sha": "%s"}' % sha.encode())
    r = requests.get(f"{layer.url}/v2/namespaces/ns/snapshots/abcdef1", timeout=10)
    assert r.status_code == 409
    assert sorted(r.json()["error"]["candidates"]) == [a, b]
    assert (
        requests.get(f"{layer.url}/v2/namespaces/ns/snapshots/abcdef10", timeout=10).json()["sha"]
        == a
    )


def test_watcher_writes_one_snapshot_per_stable_watermark(
    emulator_factory, backend_factory
) -> None:
    emu = emulator_factory(index_lag_ms=800)
    layer = backend_factory(
        emu.url, facets=(("shop", ("color", "size")),), snapshot_min_interval_ms=0
    )
    service = layer.app.extensions["layer.snapshots"]
    hist = lambda: requests.get(f"{layer.url}/v2/namespaces/shop/history", timeout=10).json()  # noqa: E731

    write_docs(layer.url, "shop", [{"id": i, "color": "red", "size": i % 3} for i in range(10)])
    write_docs(
        emu.url, "other", [{"id": 1, "color": "x"}]
    )  # no facets configured: never snapshotted
    tick(layer)
    service.wait_idle()
    assert hist() == []  # unstable: nothing
    wait_index(emu.url, "shop")
    wait_index(emu.url, "other")
    tick(layer)
    service.wait_idle()
    first = hist()
    assert len(first) == 1
    stable_as_of = requests.get(f"{layer.url}/v2/namespaces/shop/metadata", timeout=10).json()[
        "layer"
    ]["stable_as_of"]
    assert first[0]["watermark_ms"] == stable_as_of
    body = requests.get(
        f"{layer.url}/v2/namespaces/shop/snapshots/{first[0]['sha']}", timeout=10
    ).json()
    assert [f["name"] for f in body["fields"]] == ["color", "size"]
    tick(layer)
    service.wait_idle()
    assert len(hist()) == 1  # stable again but no new data: no second snapshot
    write_docs(layer.url, "shop", [{"id": 99, "color": "blue", "size": 1}])
    tick(layer)
    service.wait_idle()
    assert len(hist()) == 1
    wait_index(emu.url, "shop")
    tick(layer)
    service.wait_idle()
    h = hist()
    assert len(h) == 2 and h[0]["watermark_ms"] > h[1]["watermark_ms"]
    feed = requests.get(
        f"{layer.url}/v2/activity/snapshots", params={"since": 0}, timeout=10
    ).json()["events"]
    assert [e["job_id"] for e in feed] == [None, None] and {e["source"] for e in feed} == {
        "watcher"
    }
    assert requests.get(f"{layer.url}/v2/namespaces/other/history", timeout=10).json() == []
