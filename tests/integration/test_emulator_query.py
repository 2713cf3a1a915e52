"""Queries over HTTP: ordering, the export pattern, aggregations and query errors."""

from __future__ import annotations

from collections import Counter
from typing import Any

import requests

from emulator.server import EmulatorServer


def query(server: EmulatorServer, ns: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{server.url}/v2/namespaces/{ns}/query", json=body, timeout=30)


def rows(server: EmulatorServer, ns: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    r = query(server, ns, body)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def export(
    server: EmulatorServer, ns: str, filters: Any = None, page: int = 10_000, **extra: Any
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    last = None
    while True:
        f = filters
        if last is not None:
            f = ["And", [["id", "Gt", last], filters]] if filters else ["id", "Gt", last]
        body: dict[str, Any] = {"rank_by": ["id", "asc"], "limit": page, **extra}
        if f is not None:
            body["filters"] = f
        got = rows(server, ns, body)
        out += got
        if len(got) < page:
            return out
        last = got[-1]["id"]


def test_export_reads_every_product_exactly_once(demo_emulator: EmulatorServer) -> None:
    got = export(demo_emulator, "products", include_attributes=["category", "tags"])
    assert [r["id"] for r in got] == list(range(1, 12_501))
    assert set(got[0]) == {"id", "category", "tags"}
    distinct_tags = {t for r in got for t in r["tags"]}
    assert len(distinct_tags) > 10_000


def test_filtered_export_matches_full_scan(demo_emulator: EmulatorServer) -> None:
    f = ["And", [["category", "In", ["books", "toys"]], ["in_stock", "Eq", True]]]
    everything = export(demo_emulator, "products", include_attributes=True)
    expected = [r["id"] for r in everything if r["category"] in ("books", "toys") and r["in_stock"]]
    got = export(demo_emulator, "products", filters=f, page=500)
    assert [r["id"] for r in got] == expected
    assert len(expected) > 500


def test_attribute_ordering(demo_emulator: EmulatorServer) -> None:
    desc = rows(
        demo_emulator,
        "products",
        {"rank_by": ["price", "desc"], "top_k": 50, "include_attributes": ["price"]},
    )
    prices = [r["price"] for r in desc]
    assert prices == sorted(prices, reverse=True) and len(prices) == 50
    by_id_desc = rows(demo_emulator, "products", {"rank_by": ["id", "desc"], "limit": 3})
    assert [r["id"] for r in by_id_desc] == [12_500, 12_499, 12_498]
    asc = rows(
        demo_emulator,
        "prod-orders",
        {"rank_by": ["category", "asc"], "limit": 10_000, "include_attributes": ["category"]},
    )
    cats = [r.get("category") for r in asc]
    nulls = cats.count(None)
    assert nulls > 0 and all(c is None for c in cats[:nulls])  # nulls first in asc
    present = [str(c) for c in cats[nulls:]]
    assert present == sorted(present)


def test_aggregate_group_by_matches_counting_rows(demo_emulator: EmulatorServer) -> None:
    f = ["price", "Lt", 100]
    r = query(
        demo_emulator,
        "products",
        {"aggregate_by": {"n": ["Count"]}, "group_by": ["category"], "filters": f, "limit": 100},
    )
    assert r.status_code == 200, r.text
    groups = r.json()["aggregation_groups"]
    everything = export(demo_emulator, "products", include_attributes=["category", "price"])
    expected = Counter(x["category"] for x in everything if x["price"] < 100)
    assert {g["category"]: g["n"] for g in groups} == expected
    assert [g["category"] for g in groups] == sorted(expected)
    total = query(demo_emulator, "products", {"aggregate_by": {"n": ["Count"]}}).json()
    assert total["aggregations"] == {"n": 12_500} and "rows" not in total
    # a group for documents missing the attribute, keyed null, sorted first
    g = query(
        demo_emulator,
        "prod-orders",
        {"aggregate_by": {"n": ["Count"]}, "group_by": ["category"], "limit": 100},
    ).json()
    assert g["aggregation_groups"][0]["category"] is None
    assert sum(x["n"] for x in g["aggregation_groups"]) == 3000
    two = query(
        demo_emulator,
        "products",
        {"aggregate_by": {"n": ["Count"]}, "group_by": ["category", "in_stock"], "limit": 5},
    ).json()
    assert len(two["aggregation_groups"]) == 5 and set(two["aggregation_groups"][0]) == {
        "category",
        "in_stock",
        "n",
    }


def test_query_errors(demo_emulator: EmulatorServer) -> None:
    base = {"rank_by": ["id", "asc"], "limit": 1}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**base, "filters": ["brand", "Regex", "^A"]}, 400, "Regex"),
        (
            {**base, "filters": ["And", [["brand", "ContainsAnyToken", "x"]]]},
            400,
            "ContainsAnyToken",
        ),
        ({**base, "filters": ["brand", "In", 3]}, 400, "type mismatch"),
        ({**base, "consistency": "strong"}, 422, "expected struct Consistency"),
        ({**base, "consistency": {"level": "sometimes"}}, 422, "unknown variant `sometimes`"),
        ({**base, "limit": 10_001}, 400, "limit"),
        ({"rank_by": ["id", "asc"], "top_k": 20_000}, 400, "limit"),
        ({"limit": 5}, 400, "rank_by"),
        ({**base, "aggregate_by": {"n": ["Count"]}}, 400, "rank_by"),
        ({"aggregate_by": {"n": ["Count"]}, "group_by": ["tags"]}, 400, "tags"),
        ({"aggregate_by": {"n": ["Avg", "price"]}}, 400, "aggregate_by"),
        ({"rank_by": ["title", "BM25", "fox"]}, 400, "BM25"),
        ({**base, "include_attributes": ["n"], "aggregate_by": {"n": ["Count"]}}, 400, "rank_by"),
        (
            {"aggregate_by": {"n": ["Count"]}, "include_attributes": ["n"]},
            400,
            "include_attributes",
        ),
    ]
    for body, status, needle in cases:
        r = query(demo_emulator, "products", body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["status"] == "error" and needle in r.json()["error"], (body, r.text)
    ok = query(demo_emulator, "products", {**base, "consistency": {"level": "eventual"}}).json()
    assert set(ok) == {"rows", "billing", "performance"}
    assert ok["performance"]["approx_namespace_size"] == 12_500
    assert set(ok["billing"]) == {
        "billable_logical_bytes_queried",
        "billable_logical_bytes_returned",
    }


def test_projection_and_ann(emulator: EmulatorServer) -> None:
    docs = [{"id": i, "vector": [float(i), 1.0], "a": i, "b": "x"} for i in range(1, 6)]
    assert requests.post(
        f"{emulator.url}/v2/namespaces/v", json={"upsert_rows": docs}, timeout=5
    ).ok
    got = rows(
        emulator, "v", {"rank_by": ["id", "asc"], "limit": 1, "exclude_attributes": ["vector", "b"]}
    )
    assert got == [{"id": 1, "a": 1}]
    got = rows(emulator, "v", {"rank_by": ["id", "asc"], "limit": 1})
    assert got == [{"id": 1}]
    near = rows(
        emulator,
        "v",
        {
            "rank_by": ["vector", "ANN", [4.0, 1.0]],
            "limit": 2,
            "distance_metric": "euclidean_squared",
        },
    )
    assert [r["id"] for r in near] == [4, 3] or [r["id"] for r in near] == [4, 5]
    assert near[0]["$dist"] == 0.0
    got = rows(
        emulator,
        "v",
        {"rank_by": ["id", "asc"], "limit": 2, "offset": 1, "filters": ["id", "In", [1, 3, 5]]},
    )
    assert [r["id"] for r in got] == [3, 5]


def test_id_filters_agree_with_the_evaluator(emulator: EmulatorServer) -> None:
    """The id index is a shortcut: an id filter answers what ``common.filters`` says."""
    from common.filters import evaluate

    docs = [{"id": i} for i in range(1, 6)]
    assert requests.post(
        f"{emulator.url}/v2/namespaces/ids", json={"upsert_rows": docs}, timeout=5
    ).ok
    for f in (
        ["id", "In", [1.0]],
        ["id", "In", [2, 3.0]],
        ["id", "Eq", 4.0],
        ["id", "Gte", 4.5],
        ["And", [["id", "In", [1, 2]], ["id", "In", [2.0]]]],
    ):
        got = [
            r["id"]
            for r in rows(emulator, "ids", {"rank_by": ["id", "asc"], "limit": 10, "filters": f})
        ]
        assert got == [d["id"] for d in docs if evaluate(f, d)], f
    # A value of the wrong type is refused, as the real service does (not silently unmatched).
    wrong = requests.post(
        f"{emulator.url}/v2/namespaces/ids/query",
        json={"rank_by": ["id", "asc"], "limit": 10, "filters": ["id", "In", [2, "x"]]},
        timeout=5,
    )
    assert wrong.status_code == 400
