"""The emulator over HTTP: listing, metadata and index lag, writes, errors."""

from __future__ import annotations

import base64
import time
from typing import Any

import requests

from emulator.server import EmulatorServer
from tests.fixtures.net import wait_for


def post(server: EmulatorServer, path: str, body: Any) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=10)


def get(server: EmulatorServer, path: str, **params: Any) -> requests.Response:
    return requests.get(server.url + path, params=params, timeout=10)


def write(server: EmulatorServer, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    r = post(server, f"/v2/namespaces/{ns}", body)
    assert r.status_code == 200, r.text
    return r.json()


def ids(server: EmulatorServer, ns: str, **body: Any) -> list[Any]:
    body.setdefault("rank_by", ["id", "asc"])
    body.setdefault("limit", 1000)
    r = post(server, f"/v2/namespaces/{ns}/query", body)
    assert r.status_code == 200, r.text
    return [row["id"] for row in r.json()["rows"]]


def test_listing_pages_with_prefix_and_cursor(emulator: EmulatorServer) -> None:
    names = [f"{p}-{i:02d}" for p in ("aa", "ab", "b") for i in range(7)]
    for name in names:
        write(emulator, name, {"upsert_rows": [{"id": 1}]})
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"prefix": "a", "page_size": 4}
        if cursor:
            params["cursor"] = cursor
        body = get(emulator, "/v1/namespaces", **params).json()
        seen += [n["id"] for n in body["namespaces"]]
        assert len(body["namespaces"]) <= 4
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert seen == sorted(n for n in names if n.startswith("a"))
    everything = get(emulator, "/v1/namespaces").json()
    assert [n["id"] for n in everything["namespaces"]] == sorted(names)
    assert "next_cursor" not in everything
    exact = get(emulator, "/v1/namespaces", page_size=7, prefix="ab").json()
    assert len(exact["namespaces"]) == 7 and "next_cursor" not in exact


def test_listing_rejects_bad_page_size_and_cursor(emulator: EmulatorServer) -> None:
    for bad in ("abc", "0", "-1", "1001", "1.5"):
        r = get(emulator, "/v1/namespaces", page_size=bad)
        assert r.status_code == 400, bad
        assert r.json()["status"] == "error" and "page_size" in r.json()["error"]
    assert get(emulator, "/v1/namespaces", page_size=1000).status_code == 200
    r = get(emulator, "/v1/namespaces", cursor="!!not-base64!!")
    assert r.status_code == 400 and "cursor" in r.json()["error"]
    r = get(emulator, "/v1/namespaces", cursor=base64.b64encode(b"\xff\xfe").decode())
    assert r.status_code == 400


def test_metadata_shape_lag_and_counts(emulator: EmulatorServer) -> None:
    lag_s = 0.1
    write(
        emulator,
        "m",
        {"upsert_rows": [{"id": i, "category": "x", "tags": ["t"]} for i in range(1, 6)]},
    )
    meta = get(emulator, "/v2/namespaces/m/metadata").json()
    assert set(meta) == {
        "schema", "approx_row_count", "approx_logical_bytes", "created_at",
        "updated_at", "last_write_at", "index", "encryption",
    }  # fmt: skip
    assert meta["index"]["status"] == "updating" and meta["index"]["unindexed_bytes"] > 0
    assert meta["approx_row_count"] == 5 and meta["approx_logical_bytes"] > 0
    assert meta["encryption"] == {"mode": "default"}
    assert meta["schema"]["id"] == {"type": "uint"}
    assert meta["schema"]["category"]["type"] == "string"
    assert meta["schema"]["tags"]["type"] == "[]string"
    assert meta["last_write_at"].endswith("Z") and meta["created_at"].endswith("Z")
    wait_for(
        lambda: (
            get(emulator, "/v2/namespaces/m/metadata").json()["index"] == {"status": "up-to-date"}
        ),
        timeout=5,
        what="index to catch up",
    )
    time.sleep(lag_s / 2)
    before = get(emulator, "/v1/namespaces/m/metadata").json()
    assert before["encryption"] == {"sse": True}
    write(emulator, "m", {"deletes": [1, 2]})
    after = get(emulator, "/v2/namespaces/m/metadata").json()
    assert after["index"]["status"] == "updating"
    assert after["approx_row_count"] == 3
    assert after["last_write_at"] > before["last_write_at"]
    assert after["updated_at"] == after["last_write_at"]
    assert after["approx_logical_bytes"] < before["approx_logical_bytes"]
    assert get(emulator, "/v1/namespaces/m/schema").json()["category"]["type"] == "string"


def test_unknown_namespace_is_404(emulator: EmulatorServer) -> None:
    for r in (
        get(emulator, "/v2/namespaces/nope/metadata"),
        get(emulator, "/v1/namespaces/nope/schema"),
        post(emulator, "/v2/namespaces/nope/query", {"rank_by": ["id", "asc"]}),
        requests.delete(emulator.url + "/v2/namespaces/nope", timeout=5),
        get(emulator, "/v1/namespaces/nope/hint_cache_warm"),
    ):
        assert r.status_code == 404
        assert r.json() == {"status": "error", "error": "namespace 'nope' not found"}
    assert get(emulator, "/v9/whatever").status_code == 404


def test_writes_of_every_kind(emulator: EmulatorServer) -> None:
    r = write(
        emulator, "w", {"upsert_rows": [{"id": i, "n": i, "color": "red"} for i in range(1, 11)]}
    )
    assert r["status"] == "OK" and r["rows_upserted"] == 10 and r["rows_affected"] == 10
    assert "billable_logical_bytes_written" in r["billing"]
    r = write(
        emulator,
        "w",
        {"upsert_columns": {"id": [11, 12], "n": [11, 12], "color": ["blue", "blue"]}},
    )
    assert r["rows_upserted"] == 2
    r = write(
        emulator, "w", {"patch_rows": [{"id": 1, "color": "green"}, {"id": 999, "color": "x"}]}
    )
    assert r["rows_patched"] == 1
    r = write(emulator, "w", {"patch_columns": {"id": [2, 3], "extra": [True, False]}})
    assert r["rows_patched"] == 2
    r = write(emulator, "w", {"deletes": [4, 5, 404]})
    assert r["rows_deleted"] == 2
    r = write(
        emulator,
        "w",
        {
            "delete_by_filter": ["n", "Gte", 10],
            "upsert_rows": [{"id": 10, "n": 10, "color": "new"}],
        },
    )
    assert r["rows_deleted"] == 3 and r["rows_upserted"] == 1  # delete_by_filter ran first
    assert ids(emulator, "w") == [1, 2, 3, 6, 7, 8, 9, 10]
    rows = post(
        emulator,
        "/v2/namespaces/w/query",
        {"rank_by": ["id", "asc"], "limit": 3, "include_attributes": True},
    ).json()["rows"]
    assert rows[0] == {"id": 1, "n": 1, "color": "green"}
    assert rows[1] == {"id": 2, "n": 2, "color": "red", "extra": True}
    r = write(
        emulator,
        "w",
        {
            "schema": {"color": {"type": "string", "filterable": True}},
            "distance_metric": "cosine_distance",
        },
    )
    assert r["rows_affected"] == 0
    assert requests.delete(emulator.url + "/v2/namespaces/w", timeout=5).json() == {"status": "OK"}
    assert get(emulator, "/v2/namespaces/w/metadata").status_code == 404


def test_write_validation(emulator: EmulatorServer) -> None:
    bad = [
        ("bad name!", {"upsert_rows": [{"id": 1}]}),
        ("x" * 129, {"upsert_rows": [{"id": 1}]}),
        ("ok", {"upsert_rows": [{"id": -1}]}),
        ("ok", {"upsert_rows": [{"id": 2**64}]}),
        ("ok", {"upsert_rows": [{"id": "x" * 65}]}),
        ("ok", {"upsert_rows": [{"id": 1.5}]}),
        ("ok", {"upsert_rows": [{"name": "no id"}]}),
        ("ok", {"upsert_rows": [{"id": 1, "$bad": 1}]}),
        ("ok", {"upsert_rows": [{"id": 1, "a" * 129: 1}]}),
        ("ok", {"upsert_columns": {"id": [1, 2], "a": [1]}}),
        ("ok", {"delete_by_filter": ["a", "Glob", 3], "upsert_rows": [{"id": 1}]}),
        ("ok", {"upsert_rows": [{"id": 1}, {"id": 1}]}),
    ]
    for name, body in bad:
        r = requests.post(f"{emulator.url}/v2/namespaces/{name}", json=body, timeout=5)
        assert r.status_code == 400, (name, body, r.text)
        assert r.json()["status"] == "error"
    write(emulator, "ok", {"upsert_rows": [{"id": "s-1"}]})
    r = post(emulator, "/v2/namespaces/ok", {"upsert_rows": [{"id": 5}]})
    assert r.status_code == 400 and "id type" in r.json()["error"]
    r = requests.post(f"{emulator.url}/v2/namespaces/ok", data=b"{not json", timeout=5)
    assert r.status_code == 422
    assert get(emulator, "/v1/namespaces/ok/hint_cache_warm").json()["status"] == "ACCEPTED"
