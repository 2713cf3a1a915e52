"""Emulator queries over HTTP: vectors, filters on arrays, orders, limits, groups, multi-query."""

from __future__ import annotations

import base64
import struct
from typing import Any

import requests

from emulator.server import EmulatorServer


def post(server: EmulatorServer, path: str, body: Any) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, timeout=10)


def query(server: EmulatorServer, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    r = post(server, f"/v2/namespaces/{ns}/query", body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def ids(server: EmulatorServer, ns: str, body: dict[str, Any]) -> list[Any]:
    return [row["id"] for row in query(server, ns, {"limit": 100, **body})["rows"]]


def seed_vectors(server: EmulatorServer) -> None:
    b64 = base64.b64encode(struct.pack("<2f", 0.7, 0.7)).decode()
    body = {
        "upsert_rows": [
            {"id": 1, "vector": [0.1, 0.1], "hello": "world"},
            {"id": 2, "vector": b64},
            {"id": 3, "vector": [1.3, 1.3]},
            {"id": 4, "vector": [1.8, 1.8]},
        ],
        "distance_metric": "euclidean_squared",
    }
    assert post(server, "/v2/namespaces/vec", body).status_code == 200


def test_f32_vectors_round_trip_and_base64(emulator: EmulatorServer) -> None:
    seed_vectors(emulator)
    out = query(emulator, "vec", {"rank_by": ["id", "asc"], "include_attributes": ["vector"]})
    assert [r["vector"] for r in out["rows"]] == [[0.1, 0.1], [0.7, 0.7], [1.3, 1.3], [1.8, 1.8]]
    enc = query(
        emulator,
        "vec",
        {"rank_by": ["id", "asc"], "include_attributes": ["vector"], "vector_encoding": "base64"},
    )
    raw = base64.b64decode(enc["rows"][1]["vector"])
    assert struct.unpack("<2f", raw) == struct.unpack("<2f", struct.pack("<2f", 0.7, 0.7))
    r = post(
        emulator, "/v2/namespaces/vec/query", {"rank_by": ["id", "asc"], "vector_encoding": "hex"}
    )
    assert r.status_code == 422
    schema = requests.get(f"{emulator.url}/v1/namespaces/vec/schema", timeout=5).json()
    assert schema["vector"] == {"type": "[2]f32", "ann": {"distance_metric": "euclidean_squared"}}


def test_knn_ann_billing_and_ties_on_f32(emulator: EmulatorServer) -> None:
    seed_vectors(emulator)
    body = {"rank_by": ["vector", "ANN", [1.5, 1.6]], "limit": 2, "include_attributes": ["hello"]}
    ann = query(emulator, "vec", body)
    # 4 and 3 tie at 0.13 in decimals; in f32, 4 is nearer (as on the real service)
    assert [r["id"] for r in ann["rows"]] == [4, 3]
    assert abs(ann["rows"][0]["$dist"] - 0.13) < 1e-6
    knn = query(emulator, "vec", {**body, "rank_by": ["vector", "kNN", [1.5, 1.6]]})
    assert knn["rows"] == ann["rows"]
    # two rows of an 8-byte id and a 4-byte $dist
    assert ann["billing"]["billable_logical_bytes_returned"] == 24
    assert ann["billing"]["billable_logical_bytes_queried"] == 256_000_000
    assert ann["performance"]["query_execution_ms"] >= 1
    cosine = query(emulator, "vec", {**body, "distance_metric": "cosine_distance", "limit": 1})
    expected = 1 - (1.5 + 1.6) / (2**0.5 * (1.5**2 + 1.6**2) ** 0.5)
    assert abs(cosine["rows"][0]["$dist"] - expected) < 1e-6
    for bad, needle in (
        (["vector", "ANN", [1, 2, 3]], "dimensions"),
        (["vector", "ANN", "x"], "vector of numbers"),
        (["hello", "ANN", [1, 2]], "not a vector"),
    ):
        r = post(emulator, "/v2/namespaces/vec/query", {"rank_by": bad})
        assert r.status_code == 400 and needle in r.json()["error"], r.text


def test_exhaustive_search_count_follows_the_index(emulator_factory: Any) -> None:
    server = emulator_factory(index_lag_ms=60_000)
    post(server, "/v2/namespaces/ex", {"upsert_rows": [{"id": 1}, {"id": 2}]})
    body = {"rank_by": ["id", "asc"]}
    assert query(server, "ex", body)["performance"]["exhaustive_search_count"] == 2
    indexed = emulator_factory(index_lag_ms=0)
    post(indexed, "/v2/namespaces/ex", {"upsert_rows": [{"id": 1}, {"id": 2}]})
    assert query(indexed, "ex", body)["performance"]["exhaustive_search_count"] == 0


def test_array_filters_glob_and_null(emulator: EmulatorServer) -> None:
    docs = [
        {"id": 1, "users": ["jan", "simon"], "name": "apple", "n": 1},
        {"id": 2, "users": ["bojan", "morgan"], "name": "banana"},
        {"id": 3, "users": ["eve"], "name": "cherry", "n": 3},
    ]
    post(emulator, "/v2/namespaces/arr", {"upsert_rows": docs})
    r = ["id", "asc"]
    assert ids(emulator, "arr", {"rank_by": r, "filters": ["users", "In", ["simon", "eve"]]}) == [1, 3]  # fmt: skip
    assert ids(emulator, "arr", {"rank_by": r, "filters": ["users", "In", "bojan"]}) == [2]
    assert ids(emulator, "arr", {"rank_by": r, "filters": ["users", "NotIn", "bojan"]}) == [1, 3]
    assert ids(emulator, "arr", {"rank_by": r, "filters": ["name", "Glob", "{apple,cherry}"]}) == [1, 3]  # fmt: skip
    assert ids(emulator, "arr", {"rank_by": r, "filters": ["users", "Glob", "*an"]}) == [1, 2]
    assert ids(emulator, "arr", {"rank_by": r, "filters": ["name", "IGlob", "B[a-c]*"]}) == [2]
    assert ids(emulator, "arr", {"rank_by": r, "filters": ["users", "NotGlob", "j*"]}) == [2, 3]
    assert ids(emulator, "arr", {"rank_by": r, "filters": ["n", "Lt", None]}) == [2]
    assert ids(emulator, "arr", {"rank_by": r, "filters": ["n", "Gt", None]}) == [1, 3]
    for f, needle in (
        (["n", "Eq", "one"], "type mismatch"),
        (["users", "In", [1]], "type mismatch"),
        (["name", "Glob", "{a,b"], "glob"),
        (["name", "Regex", "^a"], "regex"),
        (["name", "Fuzzy", "apple"], "Fuzzy"),
    ):
        resp = post(emulator, "/v2/namespaces/arr/query", {"rank_by": r, "filters": f})
        assert resp.status_code == 400 and needle in resp.json()["error"], (f, resp.text)


def test_orders_limits_and_groups(emulator: EmulatorServer) -> None:
    docs = [{"id": i, "c": "ab"[i % 2], "s": i % 3, "tags": ["x", f"t{i % 2}"]} for i in range(8)]
    post(emulator, "/v2/namespaces/o", {"upsert_rows": docs})
    two = {"rank_by": [["c", "asc"], ["s", "desc"]]}
    assert ids(emulator, "o", two) == [2, 4, 0, 6, 5, 1, 7, 3]
    per = {
        "rank_by": ["id", "asc"],
        "limit": {"total": 3, "per": {"attributes": ["c"], "limit": 1}},
    }
    assert ids(emulator, "o", per) == [0, 1]
    per["limit"] = {"total": 3, "per": {"attributes": ["c"], "limit": 2}}
    assert ids(emulator, "o", per) == [0, 1, 2]
    groups = query(
        emulator,
        "o",
        {"aggregate_by": {"n": ["Count"]}, "group_by": [{"tag": ["ForEachUnique", "tags"]}]},
    )["aggregation_groups"]
    assert groups == [{"tag": "t0", "n": 4}, {"tag": "t1", "n": 4}, {"tag": "x", "n": 8}]
    both = query(
        emulator,
        "o",
        {"aggregate_by": {"n": ["Count"]}, "group_by": ["c", {"tag": ["ForEachUnique", "tags"]}]},
    )["aggregation_groups"]
    assert {"c": "a", "tag": "t0", "n": 4} in both and len(both) == 4
    for body, needle in (
        ({"rank_by": ["tags", "asc"]}, "array attribute"),
        ({"aggregate_by": {"n": ["Count"]}, "group_by": ["tags"]}, "ForEachUnique"),
        (
            {"aggregate_by": {"n": ["Count"]}, "group_by": [{"t": ["Each", "tags"]}]},
            "ForEachUnique",
        ),
        ({"rank_by": ["id", "asc"], "limit": {"total": 1, "per": {"attributes": []}}}, "limit.per"),
        ({"rank_by": ["id", "asc"], "group_by": ["c"]}, "aggregate_by"),
    ):
        r = post(emulator, "/v2/namespaces/o/query", body)
        assert r.status_code == 400 and needle in r.json()["error"], (body, r.text)


def test_multi_query_explain_and_recall(emulator: EmulatorServer) -> None:
    seed_vectors(emulator)
    multi = query(
        emulator,
        "vec",
        {
            "queries": [
                {"rank_by": ["id", "desc"], "limit": 1},
                {"aggregate_by": {"n": ["Count"]}},
                {
                    "rank_by": ["vector", "ANN", [0.1, 0.1]],
                    "limit": 1,
                    "include_attributes": ["vector"],
                },
            ],
            "vector_encoding": "base64",
        },
    )
    assert [r.get("rows") for r in multi["results"]][0] == [{"id": 4}]
    assert multi["results"][1] == {"aggregations": {"n": 4}}
    assert isinstance(multi["results"][2]["rows"][0]["vector"], str)
    assert "billing" in multi and "performance" in multi
    for body, status in (
        ({"queries": []}, 400),
        ({"queries": [{"rank_by": ["id", "asc"]}] * 17}, 400),
        ({"queries": {"a": 1}}, 422),
        ({"queries": [{"rank_by": ["id", "asc"]}], "rerank_by": ["RRF"]}, 400),
    ):
        assert post(emulator, "/v2/namespaces/vec/query", body).status_code == status, body
    plan = post(
        emulator,
        "/v2/namespaces/vec/explain_query",
        {"rank_by": ["id", "asc"], "filters": ["id", "Gt", 1]},
    )
    assert plan.status_code == 200 and "exhaustive scan" in plan.json()["plan_text"]
    assert post(emulator, "/v2/namespaces/vec/explain_query", {"rank_by": 3}).status_code == 400
    rec = post(
        emulator,
        "/v1/namespaces/vec/_debug/recall",
        {"num": 2, "top_k": 2, "include_ground_truth": True},
    )
    assert rec.status_code == 200
    body = rec.json()
    assert body["avg_recall"] == 1.0 and body["avg_ann_count"] == 2.0
    assert len(body["ground_truth"]) == 2
    assert post(emulator, "/v1/namespaces/vec/_debug/recall", {"num": 0}).status_code == 400
