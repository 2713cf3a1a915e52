"""The official turbopuffer SDK against the emulator: list, metadata, write, query."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.server import EmulatorServer

turbopuffer = pytest.importorskip("turbopuffer")


def test_official_sdk_round_trip(emulator_factory: Callable[..., EmulatorServer]) -> None:
    server = emulator_factory(api_key="tpuf_test", demo=False, index_lag_ms=100)
    client = turbopuffer.Turbopuffer(api_key="tpuf_test", base_url=server.url, max_retries=0)
    ns = client.namespace("sdk-test")

    written = ns.write(
        upsert_rows=[
            {"id": i, "color": "red" if i % 2 else "blue", "n": i, "tags": ["a", f"t{i}"]}
            for i in range(1, 21)
        ],
        distance_metric="cosine_distance",
    )
    assert written.status == "OK" and written.rows_upserted == 20 and written.rows_affected == 20
    patched = ns.write(patch_rows=[{"id": 1, "color": "green"}], deletes=[20])
    assert patched.rows_patched == 1 and patched.rows_deleted == 1

    listed = [n.id for n in client.namespaces(prefix="sdk-")]
    assert listed == ["sdk-test"]

    meta = ns.metadata()
    assert meta.approx_row_count == 19
    assert meta.index.status in ("updating", "up-to-date")
    assert meta.schema_["color"].type == "string"
    assert meta.encryption.mode == "default"

    res = ns.query(
        rank_by=("n", "desc"),
        limit=3,
        filters=("And", (("color", "In", ["red", "green"]), ("tags", "Contains", "a"))),
        include_attributes=["color", "n"],
        consistency={"level": "strong"},
    )
    assert [row.id for row in res.rows or []] == [19, 17, 15]
    assert (res.rows or [])[0]["color"] == "red"
    assert res.performance.approx_namespace_size == 19
    assert res.billing.billable_logical_bytes_returned > 0

    agg = ns.query(aggregate_by={"count": ("Count",)}, group_by=["color"], limit=10)
    assert agg.aggregation_groups == [
        {"color": "blue", "count": 9},
        {"color": "green", "count": 1},
        {"color": "red", "count": 9},
    ]
    assert ns.schema()["n"].type == "int"
    assert ns.hint_cache_warm().status == "ACCEPTED"
    ns.delete_all()
    assert [n.id for n in client.namespaces(prefix="sdk-")] == []

    bad = turbopuffer.Turbopuffer(api_key="wrong", base_url=server.url, max_retries=0)
    with pytest.raises(turbopuffer.AuthenticationError):
        bad.namespace("sdk-test").metadata()
    with pytest.raises(turbopuffer.NotFoundError):
        client.namespace("missing").metadata()


def test_sdk_pages_through_demo_namespaces(demo_emulator: EmulatorServer) -> None:
    client = turbopuffer.Turbopuffer(api_key="any", base_url=demo_emulator.url, max_retries=0)
    names = [n.id for n in client.namespaces(page_size=5)]
    assert len(names) >= 31 and names == sorted(names) and len(set(names)) == len(names)
    meta = client.namespace("products").metadata()
    assert meta.approx_row_count == 12_500
