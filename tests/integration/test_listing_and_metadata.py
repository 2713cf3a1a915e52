"""The enriched listing and metadata routes against the emulator over real HTTP."""

from __future__ import annotations

import time

import requests

from tests.integration.helpers import set_faults, tick, wait_index, write_docs

ROW_FIELDS = {
    "name",
    "row_count",
    "size_bytes",
    "stable_as_of_ms",
    "is_stable",
    "cache_state",
    "last_write_ms",
    "shadow",
    "labels",
}


def _seed(emulator_url: str, names: list[str]) -> None:
    for i, ns in enumerate(names):
        write_docs(emulator_url, ns, [{"id": j, "status": "ok"} for j in range(i + 1)])


def test_listing_rows_carry_every_field(emulator, backend_factory) -> None:
    _seed(emulator.url, ["prod-a", "prod-b", "dev-c__shadow"])
    layer = backend_factory(emulator.url, labels=(("prod-*", (("env", "prod"),)),))
    r = requests.get(f"{layer.url}/v2/namespaces", timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["next_cursor"] is None
    rows = {row["name"]: row for row in body["namespaces"]}
    assert set(rows) == {"prod-a", "prod-b", "dev-c__shadow"}
    for row in rows.values():
        assert ROW_FIELDS <= set(row)
        assert row["cache_state"] == {"state": "cold", "warm_inflight": False}
        assert row["is_stable"] is False and row["stable_as_of_ms"] is None
        assert "metadata_error" not in row
    assert rows["prod-b"]["row_count"] == 2
    assert rows["prod-b"]["size_bytes"] > 0
    assert rows["prod-b"]["last_write_ms"] > 0
    assert rows["prod-a"]["labels"] == {"env": "prod"}
    assert rows["dev-c__shadow"]["shadow"] is True and rows["prod-a"]["shadow"] is False


def test_listing_pages_and_prefix(emulator, backend_factory) -> None:
    _seed(emulator.url, [f"prod-{i:02d}" for i in range(5)] + ["dev-x"])
    layer = backend_factory(emulator.url, list_cache_ttl_ms=0)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"page_size": 2, "prefix": "prod-"}
        if cursor:
            params["cursor"] = cursor
        body = requests.get(f"{layer.url}/v2/namespaces", params=params, timeout=10).json()
        seen += [r["name"] for r in body["namespaces"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [f"prod-{i:02d}" for i in range(5)]


def test_listing_bad_inputs(emulator, backend_factory) -> None:
    _seed(emulator.url, ["a"])
    layer = backend_factory(emulator.url)
    for value in ["abc", "0", "-1", "1.5", ""]:  # empty is not an integer either
        r = requests.get(f"{layer.url}/v2/namespaces", params={"page_size": value}, timeout=10)
        assert r.status_code == 400, value
        assert r.json()["error"]["param"] == "page_size"
    huge = requests.get(f"{layer.url}/v2/namespaces", params={"page_size": 10**9}, timeout=10)
    assert huge.status_code == 200
    bad_cursor = requests.get(
        f"{layer.url}/v2/namespaces", params={"cursor": "!!nope!!"}, timeout=10
    )
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["param"] == "cursor"
    r = requests.get(f"{layer.url}/v2/namespaces", params={"prefix": "a/../b"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["param"] == "prefix"


def test_failed_metadata_degrades_the_row(emulator, backend_factory) -> None:
    _seed(emulator.url, ["good", "bad"])
    layer = backend_factory(emulator.url, upstream_retries=0)
    set_faults(emulator.url, fail_namespaces=["bad"])
    body = requests.get(f"{layer.url}/v2/namespaces", timeout=10).json()
    rows = {r["name"]: r for r in body["namespaces"]}
    assert set(rows) == {"good", "bad"}
    assert "metadata_error" not in rows["good"] and rows["good"]["row_count"] == 1
    assert rows["bad"]["metadata_error"]
    assert rows["bad"]["row_count"] is None and rows["bad"]["is_stable"] is False


def test_listing_is_cached_for_the_ttl(emulator, backend_factory) -> None:
    _seed(emulator.url, ["first"])
    layer = backend_factory(emulator.url, list_cache_ttl_ms=700)
    names = lambda: [
        r["name"]
        for r in requests.get(f"{layer.url}/v2/namespaces", timeout=10).json()["namespaces"]
    ]  # noqa: E731
    assert names() == ["first"]
    t_cached = time.monotonic()
    write_docs(emulator.url, "second", [{"id": 1}])
    assert names() == ["first"]
    while time.monotonic() - t_cached < 0.75:
        time.sleep(0.05)
    assert names() == ["first", "second"]


def test_listing_fans_out_once_per_ttl(emulator, backend_factory) -> None:
    _seed(emulator.url, ["a", "b", "c"])
    layer = backend_factory(emulator.url, list_cache_ttl_ms=60_000)
    before = requests.get(f"{emulator.url}/_emulator/stats", timeout=5).json()["requests"]
    for _ in range(5):
        assert requests.get(f"{layer.url}/v2/namespaces", timeout=10).status_code == 200
    after = requests.get(f"{emulator.url}/_emulator/stats", timeout=5).json()["requests"]
    assert after - before == 4  # one list call and three metadata calls, once


def test_metadata_is_verbatim_plus_layer_block(emulator, backend_factory) -> None:
    write_docs(emulator.url, "products", [{"id": 1, "category": "books"}])
    layer = backend_factory(emulator.url)
    direct = requests.get(f"{emulator.url}/v2/namespaces/products/metadata", timeout=5).json()
    via = requests.get(f"{layer.url}/v2/namespaces/products/metadata", timeout=5).json()
    assert via.pop("layer") == {
        "stable_as_of": None,
        "is_stable": False,
        "cache_state": {"state": "cold", "warm_inflight": False},
        "observed_ms": None,
        "index_stuck_since_ms": None,
    }
    assert set(via) == set(direct)
    assert (
        via["schema"] == direct["schema"] and via["approx_row_count"] == direct["approx_row_count"]
    )
    wait_index(emulator.url, "products")
    tick(layer)
    block = requests.get(f"{layer.url}/v2/namespaces/products/metadata", timeout=5).json()["layer"]
    assert block["is_stable"] is True and isinstance(block["stable_as_of"], int)


def test_metadata_unknown_and_bad_names(emulator, backend_factory) -> None:
    layer = backend_factory(emulator.url)
    r = requests.get(f"{layer.url}/v2/namespaces/nope/metadata", timeout=5)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    for bad in ["a%20b", "x" * 129, "%2e%2e", "a%00b", "caf%C3%A9"]:
        r = requests.get(f"{layer.url}/v2/namespaces/{bad}/metadata", timeout=5)
        assert r.status_code in (400, 404), bad
        assert r.headers["Content-Type"].startswith("application/json")
        if r.status_code == 400:
            assert r.json()["error"]["param"] in ("namespace", "path")


def test_upstream_down_is_502_and_readyz_names_it(backend_factory) -> None:
    from tests.fixtures.net import free_port

    layer = backend_factory(f"http://127.0.0.1:{free_port()}", upstream_retries=0)
    r = requests.get(f"{layer.url}/v2/namespaces", timeout=10)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"
    ready = requests.get(f"{layer.url}/readyz", timeout=10)
    assert ready.status_code == 503
    assert "upstream" in ready.json()["error"]["message"]
    assert ready.json()["checks"]["kv"] == "ok"
    assert requests.get(f"{layer.url}/healthz", timeout=5).json()["status"] == "ok"


def test_readyz_ok(emulator, backend_factory) -> None:
    layer = backend_factory(emulator.url)
    r = requests.get(f"{layer.url}/readyz", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ready"
