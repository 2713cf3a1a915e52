"""Emulator writes over HTTP: validation, conditions, patch_by_filter, copy/branch, schema."""

from __future__ import annotations

from typing import Any

import requests

from emulator.server import EmulatorServer


def post(server: EmulatorServer, path: str, body: Any) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, timeout=10)


def write(server: EmulatorServer, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    r = post(server, f"/v2/namespaces/{ns}", body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def rows(server: EmulatorServer, ns: str, **body: Any) -> list[dict[str, Any]]:
    q = {"rank_by": ["id", "asc"], "limit": 100, "include_attributes": True, **body}
    r = post(server, f"/v2/namespaces/{ns}/query", q)
    assert r.status_code == 200, r.text
    return list(r.json()["rows"])


def test_write_validation_is_400_or_422_and_changes_nothing(emulator: EmulatorServer) -> None:
    write(emulator, "v", {"upsert_rows": [{"id": 1, "n": 1, "vector": [1, 0]}]})
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"upsert_rows": {"id": 2}}, 422, "invalid type: map, expected a sequence"),
        ({"deletes": 3}, 422, "expected a sequence"),
        ({"upsert_rows": [1]}, 422, "expected a map"),
        ({"distance_metric": "manhattan"}, 422, "unknown variant `manhattan`"),
        ({"nonsense": 1}, 422, "unknown field `nonsense`"),
        ({"upsert_rows": [{"id": 2}, {"id": 2}]}, 400, "duplicate id"),
        ({"upsert_rows": [{"id": 2, "n": "two"}]}, 400, "cannot change type"),
        ({"patch_rows": [{"id": 1, "vector": [0, 1]}]}, 400, "cannot be patched"),
        ({"upsert_rows": [{"id": 2, "vector": [1, 0, 0]}]}, 400, "dimensions"),
        ({"schema": {"n": {"type": "string"}}}, 400, "cannot change the type"),
        ({"schema": {"n": {"type": "int", "bogus": 1}}}, 400, "unknown schema option"),
        ({"encryption": {"mode": "customer-managed", "key_name": "mykey"}}, 400, "Malformed Cloud KMS crypto key: mykey"),
        ({"patch_by_filter": {"filters": ["n", "Eq", 1]}}, 400, "patch_by_filter"),
        ({"upsert_rows": [{"id": 2}], "upsert_condition": ["n", "Bogus", 1]}, 400, "operator"),
    ]  # fmt: skip
    for body, status, needle in cases:
        r = post(emulator, "/v2/namespaces/v", body)
        assert r.status_code == status and needle in r.json()["error"], (body, r.text)
    assert [r["id"] for r in rows(emulator, "v")] == [1]
    # a failed first write leaves no namespace behind
    r = post(emulator, "/v2/namespaces/fresh", {"upsert_rows": [{"id": 1}, {"id": 1}]})
    assert r.status_code == 400
    assert requests.get(f"{emulator.url}/v1/namespaces/fresh/schema", timeout=5).status_code == 404


def test_conditions_with_ref_new(emulator: EmulatorServer) -> None:
    write(emulator, "c", {"upsert_rows": [{"id": 1, "v": 5}, {"id": 2, "v": 1}]})
    newer = ["v", "Lt", {"$ref_new": "v"}]
    out = write(
        emulator,
        "c",
        {
            "upsert_rows": [{"id": 1, "v": 3}, {"id": 2, "v": 4}, {"id": 3, "v": 0}],
            "upsert_condition": newer,
            "return_affected_ids": True,
        },
    )
    assert out["upserted_ids"] == [2, 3] and out["rows_upserted"] == 2
    out = write(
        emulator,
        "c",
        {"patch_rows": [{"id": 1, "v": 9}, {"id": 2, "v": 0}], "patch_condition": newer},
    )
    assert out["rows_patched"] == 1
    out = write(emulator, "c", {"deletes": [1, 2, 3], "delete_condition": ["v", "Gte", 4]})
    assert out["rows_deleted"] == 2
    assert rows(emulator, "c") == [{"id": 3, "v": 0}]


def test_patch_by_filter_and_affected_ids(emulator: EmulatorServer) -> None:
    write(emulator, "p", {"upsert_rows": [{"id": i, "k": i % 2} for i in range(6)]})
    out = write(
        emulator,
        "p",
        {
            "patch_by_filter": {"filters": ["k", "Eq", 1], "patch": {"odd": True}},
            "deletes": [0],
            "return_affected_ids": True,
        },
    )
    assert out["patched_ids"] == [1, 3, 5] and out["deleted_ids"] == [0]
    assert "upserted_ids" not in out
    assert [r["id"] for r in rows(emulator, "p", filters=["odd", "Eq", True])] == [1, 3, 5]


def test_copy_branch_and_start_copy(emulator: EmulatorServer) -> None:
    write(emulator, "src", {"upsert_rows": [{"id": 1, "a": "x"}, {"id": 2, "a": "y"}]})
    out = write(emulator, "dst", {"copy_from_namespace": "src"})
    assert out["rows_affected"] == 2
    write(emulator, "br", {"branch_from_namespace": {"source_namespace": "src"}})
    write(emulator, "br", {"deletes": [1]})
    assert [r["id"] for r in rows(emulator, "br")] == [2]
    assert [r["id"] for r in rows(emulator, "src")] == [1, 2]
    assert rows(emulator, "dst") == rows(emulator, "src")
    r = post(emulator, "/v2/namespaces/dst", {"copy_from_namespace": "src"})
    assert r.status_code == 400 and "already has documents" in r.json()["error"]
    r = post(emulator, "/v2/namespaces/d2", {"copy_from_namespace": "missing"})
    assert r.status_code == 404
    r = post(emulator, "/v2/namespaces/d2", {"copy_from_namespace": "src", "deletes": [1]})
    assert r.status_code == 400
    token = post(emulator, "/v2/namespaces/d3/async", {"source_namespace": "src"}).json()["token"]
    op = requests.get(f"{emulator.url}/v1/namespaces/d3/operations/{token}", timeout=5).json()
    assert op["status"] == "finished" and op["result"]["success"]["rows_affected"] == 2
    assert "start_time" in op and "finish_time" in op
    r = requests.get(f"{emulator.url}/v1/namespaces/d3/operations/nope", timeout=5)
    assert r.status_code == 404


def test_schema_update_metadata_and_read_only(emulator: EmulatorServer) -> None:
    write(emulator, "s", {"upsert_rows": [{"id": 1, "hello": "world"}]})
    r = post(
        emulator, "/v1/namespaces/s/schema", {"hello": {"type": "string", "filterable": False}}
    )
    assert r.status_code == 200 and r.json()["hello"] == {"type": "string", "filterable": False}
    r = post(
        emulator,
        "/v2/namespaces/s/query",
        {"rank_by": ["id", "asc"], "filters": ["hello", "Eq", "x"]},
    )
    assert r.status_code == 400 and "not filterable" in r.json()["error"]
    assert post(emulator, "/v1/namespaces/s/schema", {"hello": {"type": "int"}}).status_code == 400
    assert post(emulator, "/v1/namespaces/s/schema", ["x"]).status_code == 422
    url = f"{emulator.url}/v1/namespaces/s/metadata"
    r = requests.patch(url, json={"read_only": True, "pinning": True}, timeout=5)
    assert r.status_code == 200 and r.json()["read_only"] is True
    assert r.json()["pinning"] == {"replicas": 1}
    r = post(emulator, "/v2/namespaces/s", {"upsert_rows": [{"id": 2}]})
    assert r.status_code == 400 and "read-only" in r.json()["error"]
    for bad in ({"read_only": "yes"}, {"pinning": {"replicas": 0}}):
        assert requests.patch(url, json=bad, timeout=5).status_code == 400
    assert requests.patch(url, json={"x": 1}, timeout=5).status_code == 422
    r = requests.patch(url, json={"read_only": False, "pinning": None}, timeout=5)
    assert "read_only" not in r.json() and "pinning" not in r.json()


def test_cmek_key_names(emulator: EmulatorServer) -> None:
    key = "projects/p/locations/us/keyRings/r/cryptoKeys/k"
    enc = {"mode": "customer-managed", "key_name": key}
    write(emulator, "k", {"upsert_rows": [{"id": 1}], "encryption": enc})
    meta = requests.get(f"{emulator.url}/v2/namespaces/k/metadata", timeout=5).json()
    assert meta["encryption"] == enc
    arn = "arn:aws:kms:us-east-1:123456789012:key/abc"
    write(emulator, "k2", {"upsert_rows": [{"id": 1}], "encryption": {**enc, "key_name": arn}})
