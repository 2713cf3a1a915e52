"""The document cache over real HTTP: warming, its states, the cache source, auto's choice."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from tests.fixtures.kv import kv_url
from tests.integration.helpers import snapshot, tick, wait_index, wait_job, write_docs

ADMIN = "admin-key-0123456789"
READER = "read-key-0123456789"


def _h(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def warm(url: str, ns: str, **kw: Any) -> dict[str, Any]:
    r = requests.post(f"{url}/v2/namespaces/{ns}/cache/warm", timeout=10, **kw)
    assert r.status_code == 202, r.text
    return dict(r.json())


def warm_and_wait(url: str, ns: str) -> dict[str, Any]:
    job = wait_job(url, ns, warm(url, ns)["id"])
    assert job["status"] == "completed", job
    return job


def state(url: str, ns: str) -> dict[str, Any]:
    r = requests.get(f"{url}/v2/namespaces/{ns}/cache", timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def create(url: str, ns: str, **body: Any) -> requests.Response:
    return requests.post(f"{url}/v2/namespaces/{ns}/snapshots", json=body, timeout=10)


def values(job: dict[str, Any]) -> dict[Any, int]:
    return {x["v"]: x["n"] for x in job["result"]["values"]}


DOCS = [
    {"id": i, "color": ["red", "blue", "green"][i % 3], "size": i % 5, "tags": [f"t{i % 4}"]}
    for i in range(1, 61)
]


def _ready(emulator: Any, backend_factory: Any, **settings: Any) -> Any:
    write_docs(emulator.url, "items", DOCS)
    wait_index(emulator.url, "items")
    layer = backend_factory(emulator.url, **settings)
    tick(layer)
    return layer


def test_cold_warm_stale_and_rewarm(emulator, backend_factory) -> None:
    layer = _ready(emulator, backend_factory)
    cold = state(layer.url, "items")
    assert cold["state"] == "cold" and cold["documents"] == 0 and cold["warm_inflight"] is False

    job = warm_and_wait(layer.url, "items")
    assert job["kind"] == "cache_warm" and job["documents_scanned"] == 60 and job["progress"] == 1
    assert isinstance(job["watermark_ms"], int) and job["stable_as_of"] == job["watermark_ms"]
    jobs = requests.get(f"{layer.url}/v2/namespaces/items/snapshot-jobs", timeout=10).json()
    assert [j["id"] for j in jobs["jobs"]] == [job["id"]]
    st = state(layer.url, "items")
    assert st["state"] == "warm" and st["documents"] == 60
    assert st["watermark_ms"] == job["watermark_ms"] and st["warmed_at"].endswith("Z")
    meta = requests.get(f"{layer.url}/v2/namespaces/items/metadata", timeout=10).json()
    assert meta["layer"]["cache_state"] == {"state": "warm", "warm_inflight": False}
    rows = requests.get(f"{layer.url}/v2/namespaces", timeout=10).json()["namespaces"]
    assert rows[0]["cache_state"] == {"state": "warm", "warm_inflight": False}

    got = snapshot(layer.url, "items", field="color", source="cache", filters=["size", "Lt", 2])
    assert got["resolved_source"] == "cache" and got["status"] == "completed"
    assert got["stable_as_of"] == job["watermark_ms"] and "sha" not in got
    origin = snapshot(layer.url, "items", field="color", source="origin", filters=["size", "Lt", 2])
    assert got["result"] == origin["result"]

    # A write makes it stale once the watcher sees it; cache refuses, auto goes to origin.
    write_docs(emulator.url, "items", [{"id": 100, "color": "violet", "size": 0}])
    wait_index(emulator.url, "items")
    tick(layer)
    assert state(layer.url, "items")["state"] == "stale"
    r = create(layer.url, "items", field="color", source="cache", filters=["size", "Eq", 0])
    assert r.status_code == 409 and r.json()["error"]["state"] == "stale"
    assert "stale" in r.json()["error"]["message"]
    auto = snapshot(layer.url, "items", field="color", filters=["size", "Eq", 0])
    assert auto["resolved_source"] == "origin" and values(auto)["violet"] == 1

    # A deletion upstream vanishes from the cache on the next warm.
    r = requests.post(f"{emulator.url}/v2/namespaces/items", json={"deletes": [1, 2]}, timeout=10)
    assert r.status_code == 200
    wait_index(emulator.url, "items")
    tick(layer)
    warm_and_wait(layer.url, "items")
    st = state(layer.url, "items")
    assert st["state"] == "warm" and st["documents"] == 59 and st["generation"] == 2
    auto = snapshot(layer.url, "items", field="color", filters=["size", "Gte", 0])
    assert auto["resolved_source"] == "cache" and auto["documents_scanned"] == 59
    assert values(auto) == {"red": 20, "blue": 19, "green": 19, "violet": 1}


def test_cold_cache_and_unsupported_operators(emulator, backend_factory) -> None:
    layer = _ready(emulator, backend_factory)
    r = create(layer.url, "items", field="color", source="cache")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict" and r.json()["error"]["state"] == "cold"
    auto = snapshot(layer.url, "items", field="color", filters=["size", "Eq", 1])
    assert auto["resolved_source"] == "origin"

    warm_and_wait(layer.url, "items")
    r = create(
        layer.url, "items", field="color", source="cache", filters=["tags", "NotContains", "t1"]
    )
    assert r.status_code == 422 and r.json()["error"]["operator"] == "NotContains"
    assert "NotContains" in r.json()["error"]["message"]
    nested = ["And", [["size", "Eq", 1], ["Not", ["tags", "AnyLt", "t2"]]]]
    r = create(layer.url, "items", field="color", source="cache", filters=nested)
    assert r.status_code == 422 and r.json()["error"]["operator"] == "AnyLt"
    auto = snapshot(layer.url, "items", field="color", filters=["tags", "NotContains", "t1"])
    assert auto["resolved_source"] == "origin" and values(auto) == {
        "red": 15,
        "blue": 15,
        "green": 15,
    }
    # The Glob family, In on arrays and comparisons with null are the cache's to answer.
    for f, want in [
        (["color", "Glob", "{r,g}*"], {"red": 20, "green": 20}),
        (["tags", "IGlob", "T[0-1]"], {"red": 10, "blue": 10, "green": 10}),
        (["tags", "In", "t1"], {"red": 5, "blue": 5, "green": 5}),
        (["tags", "NotIn", ["t0", "t1", "t2"]], {"red": 5, "blue": 5, "green": 5}),
        (["size", "Gt", None], {"red": 20, "blue": 20, "green": 20}),
    ]:
        cached = snapshot(layer.url, "items", field="color", source="cache", filters=f)
        origin = snapshot(layer.url, "items", field="color", source="origin", filters=f)
        assert cached["resolved_source"] == "cache" and values(cached) == want, f
        assert cached["result"] == origin["result"], f
    # Unfiltered with no stored body and a warm cache: auto takes the cache.
    auto = snapshot(layer.url, "items", field="tags")
    assert auto["resolved_source"] == "cache"
    assert values(auto) == {"t0": 15, "t1": 15, "t2": 15, "t3": 15}
    # Once a stored body has the field, unfiltered auto prefers it.
    snapshot(layer.url, "items", field="tags", source="origin")
    assert snapshot(layer.url, "items", field="tags")["resolved_source"] == "stored"


def test_concurrent_warms_share_one_job(emulator, backend_factory) -> None:
    write_docs(emulator.url, "items", DOCS)
    emulator_slow = {"latency_ms": 150}
    requests.post(f"{emulator.url}/_emulator/faults", json=emulator_slow, timeout=5)
    layer = backend_factory(emulator.url)
    ids: list[str] = []
    lock = threading.Lock()

    def post() -> None:
        job = warm(layer.url, "items")
        with lock:
            ids.append(job["id"])

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    assert state(layer.url, "items")["state"] == "warming"
    assert state(layer.url, "items")["warm_inflight"] is True
    # A warm requested while one runs returns the running one.
    assert warm(layer.url, "items")["id"] == ids[0]
    job = wait_job(layer.url, "items", ids[0])
    assert job["status"] == "completed"
    requests.post(f"{emulator.url}/_emulator/faults", json={"latency_ms": 0}, timeout=5)
    jobs = requests.get(f"{layer.url}/v2/namespaces/items/snapshot-jobs", timeout=10).json()
    assert [j["id"] for j in jobs["jobs"]] == [ids[0]]
    # Once finished, a new request starts a new warm.
    assert warm_and_wait(layer.url, "items")["id"] != ids[0]


def test_delete_empties_the_cache(emulator, backend_factory) -> None:
    layer = _ready(emulator, backend_factory)
    warm_and_wait(layer.url, "items")
    r = requests.delete(f"{layer.url}/v2/namespaces/items/cache", timeout=10)
    assert r.status_code == 200
    assert r.json()["state"] == "cold" and r.json()["documents_dropped"] == 60
    kv = layer.app.extensions["layer.kv"]
    assert list(kv.scan("cache_docs")) == []
    assert create(layer.url, "items", field="color", source="cache").status_code == 409
    warm_and_wait(layer.url, "items")
    assert state(layer.url, "items")["generation"] == 2  # generations never repeat


def test_watcher_rewarms_configured_namespaces(emulator, backend_factory) -> None:
    layer = _ready(emulator, backend_factory, cache_namespaces=("it*",))
    write_docs(emulator.url, "other", [{"id": 1}])
    wait_index(emulator.url, "other")
    tick(layer)  # cold and configured: warmed
    job_id = state(layer.url, "items")["warming_job_id"]
    if job_id:
        wait_job(layer.url, "items", job_id)
    assert state(layer.url, "items")["state"] == "warm"
    assert state(layer.url, "other")["state"] == "cold"  # not configured
    write_docs(emulator.url, "items", [{"id": 500, "color": "red"}])
    wait_index(emulator.url, "items")
    tick(layer)  # stale after a stable poll: re-warmed
    job_id = state(layer.url, "items")["warming_job_id"]
    if job_id:
        wait_job(layer.url, "items", job_id)
    st = state(layer.url, "items")
    assert st["state"] == "warm" and st["documents"] == 61 and st["generation"] == 2


def test_bad_inputs(emulator, backend_factory) -> None:
    layer = _ready(emulator, backend_factory)
    base = f"{layer.url}/v2/namespaces"
    for method in ("get", "delete"):
        r = requests.request(method, f"{base}/bad%20name/cache", timeout=10)
        assert r.status_code == 400 and r.json()["error"]["param"] == "namespace"
    r = requests.post(f"{base}/bad%20name/cache/warm", timeout=10)
    assert r.status_code == 400
    r = requests.post(f"{base}/nope/cache/warm", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = requests.post(f"{base}/items/cache/warm", data=b"{nope", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["param"] == "body"
    r = requests.post(f"{base}/items/cache/warm", json=[1], timeout=10)
    assert r.status_code == 400
    r = requests.post(f"{base}/items/cache/warm", json={"force": True}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["param"] == "force"
    assert state(layer.url, "items")["state"] == "cold"  # none of those started a warm
    r = create(layer.url, "items", field="color", source="cache", filters=["color", "Bogus", 1])
    assert r.status_code == 400


def test_read_keys_may_only_read_the_cache(emulator, backend_factory) -> None:
    layer = _ready(emulator, backend_factory, api_keys=(ADMIN,), read_keys=(READER,))
    base = f"{layer.url}/v2/namespaces/items/cache"
    assert requests.post(f"{base}/warm", headers=_h(READER), timeout=10).status_code == 403
    assert requests.delete(base, headers=_h(READER), timeout=10).status_code == 403
    assert requests.get(base, headers=_h(READER), timeout=10).status_code == 200
    assert requests.post(f"{base}/warm", timeout=10).status_code == 401
    job = warm(layer.url, "items", headers=_h(ADMIN))
    done = wait_job(layer.url, "items", job["id"], headers=_h(READER))
    assert done["status"] == "completed"


def test_demo_products_cache_matches_origin(demo_emulator, backend_factory) -> None:
    layer = backend_factory(demo_emulator.url)
    warm_and_wait(layer.url, "products")
    assert state(layer.url, "products")["documents"] == 12_500
    brand = requests.post(
        f"{demo_emulator.url}/v2/namespaces/products/query",
        json={"rank_by": ["id", "asc"], "limit": 1, "include_attributes": ["brand"]},
        timeout=10,
    ).json()["rows"][0]["brand"]
    for filters in (
        ["brand", "Eq", brand],
        ["Or", [["tags", "Contains", "sale"], ["price", "Lt", 20]]],
        ["And", [["category", "In", ["books", "toys"]], ["Not", ["in_stock", "Eq", True]]]],
    ):
        cache = snapshot(layer.url, "products", field="category", source="cache", filters=filters)
        origin = snapshot(layer.url, "products", field="category", source="origin", filters=filters)
        assert cache["status"] == origin["status"] == "completed"
        assert cache["result"] == origin["result"], filters
        assert cache["resolved_source"] == "cache"


def test_readyz_names_an_unreachable_aerospike(emulator, backend_factory) -> None:
    import pytest

    pytest.importorskip("aerospike")
    from tests.fixtures.net import free_port

    port = free_port()
    layer = backend_factory(emulator.url, kv_url=f"aerospike://127.0.0.1:{port}/test")
    r = requests.get(f"{layer.url}/readyz", timeout=30)
    assert r.status_code == 503
    assert "aerospike" in r.json()["checks"]["kv"] and f"127.0.0.1:{port}" in r.text


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_warm_of_a_million_documents(
    emulator_factory, backend_factory, kv_backend, tmp_path
) -> None:
    """The 1,000,000-document namespace warms into the KV store and counts like origin."""
    n = 1_000_000
    emu = emulator_factory(bulk={"big": n}, index_lag_ms=10)
    layer = backend_factory(emu.url, kv_url=kv_url(kv_backend, tmp_path), watch_page_size=10_000)
    tick(layer)
    job = wait_job(layer.url, "big", warm(layer.url, "big")["id"], timeout=1800)
    assert job["status"] == "completed" and job["documents_scanned"] == n, job
    st = state(layer.url, "big")
    assert st["state"] == "warm" and st["documents"] == n
    f = ["price", "Lt", 100]
    got = wait_job(
        layer.url,
        "big",
        create(layer.url, "big", field="category", source="cache", filters=f).json()["id"],
        timeout=1800,
    )
    origin = wait_job(
        layer.url,
        "big",
        create(layer.url, "big", field="category", source="origin", filters=f).json()["id"],
        timeout=1800,
    )
    assert got["status"] == "completed"
    # Aerospike evaluates the pushable part of the filter server-side: fewer come back.
    assert (
        got["documents_scanned"] == n if kv_backend == "sqlite" else got["documents_scanned"] <= n
    )
    assert got["result"] == origin["result"]
    # dropping it removes every document (and leaves no million records on a shared server)
    dropped = requests.delete(f"{layer.url}/v2/namespaces/big/cache", timeout=900)
    assert dropped.status_code == 200 and dropped.json()["documents_dropped"] == n
