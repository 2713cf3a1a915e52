from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from backend.freshness import Freshness, FreshnessStore
from backend.proxy import (
    apply_cut,
    copies_rows,
    decide_cut,
    forget_cut,
    forward_headers,
    layer_location,
    stamp_write,
)
from backend.stores.kv_sqlite import SQLiteKV

UNSTABLE = Freshness(is_stable=False, stable_as_of=1000, has_watermark=True)


def test_cut_applies_only_when_filtered_unstable_watermarked_and_known() -> None:
    q = {"rank_by": ["id", "asc"], "filters": ["a", "Eq", 1]}
    assert decide_cut(q, UNSTABLE).watermark_ms == 1000
    assert decide_cut({"rank_by": ["id", "asc"]}, UNSTABLE).header == "skipped"
    assert (
        decide_cut(q, Freshness(is_stable=True, stable_as_of=1000, has_watermark=True)).header
        == "skipped"
    )
    assert (
        decide_cut(q, Freshness(is_stable=False, stable_as_of=None, has_watermark=True)).header
        == "skipped"
    )
    assert (
        decide_cut(q, Freshness(is_stable=False, stable_as_of=1000, has_watermark=False)).header
        == "skipped"
    )
    assert decide_cut(q, Freshness()).header == "skipped"


def test_apply_cut_ands_the_watermark() -> None:
    q = {"filters": ["a", "Eq", 1], "limit": 3}
    out = apply_cut(q, "_w", decide_cut(q, UNSTABLE))
    assert out == {"filters": ["And", [["a", "Eq", 1], ["_w", "Lte", 1000]]], "limit": 3}
    assert q["filters"] == ["a", "Eq", 1]


def test_apply_cut_to_multi_query() -> None:
    body = {"queries": [{"filters": ["a", "Eq", 1]}, {"rank_by": ["id", "asc"]}]}
    out = apply_cut(body, "_w", decide_cut(body, UNSTABLE))
    assert out["queries"][0]["filters"][0] == "And"
    assert "filters" not in out["queries"][1]


def test_stamp_write_rows_and_columns() -> None:
    body = {
        "upsert_rows": [{"id": 1, "a": 1}],
        "patch_rows": [{"id": 2}],
        "upsert_columns": {"id": [3, 4], "a": [1, 2]},
        "patch_columns": {"id": [5], "a": [1]},
        "deletes": [9],
    }
    out = stamp_write(body, "_w", 42)
    assert out["upsert_rows"] == [{"id": 1, "a": 1, "_w": 42}]
    assert out["patch_rows"] == [{"id": 2, "_w": 42}]
    assert out["upsert_columns"]["_w"] == [42, 42]
    assert out["patch_columns"]["_w"] == [42]
    assert out["deletes"] == [9]


def test_forward_headers_drop_the_callers_key() -> None:
    out = forward_headers(
        {
            "Authorization": "Bearer layer-key",
            "Content-Type": "application/json",
            "Host": "x",
            "X-Layer-Foo": "1",
        }
    )
    assert out == {"Content-Type": "application/json"}


def test_hide_watermark_from_include_all_queries() -> None:
    from backend.proxy import hide_watermark

    attr = "_layer_written_ms"
    assert hide_watermark({"include_attributes": True, "limit": 3}, attr) == {
        "limit": 3,
        "exclude_attributes": [attr],
    }
    assert hide_watermark({"exclude_attributes": ["v"]}, attr) == {
        "exclude_attributes": ["v", attr]
    }
    assert hide_watermark({"include_attributes": ["a", attr]}, attr) is None  # asked for it
    assert hide_watermark({"include_attributes": False}, attr) is None
    assert hide_watermark({"rank_by": ["id", "asc"]}, attr) is None
    multi = {"queries": [{"include_attributes": True}, {"include_attributes": ["a"]}]}
    assert hide_watermark(multi, attr) == {
        "queries": [{"exclude_attributes": [attr]}, {"include_attributes": ["a"]}]
    }


def test_stamp_patch_by_filter() -> None:
    body = {"patch_by_filter": {"filters": ["a", "Eq", 1], "patch": {"b": 2}}}
    out = stamp_write(body, "_w", 42)
    assert out["patch_by_filter"] == {"filters": ["a", "Eq", 1], "patch": {"b": 2, "_w": 42}}
    assert body["patch_by_filter"]["patch"] == {"b": 2}  # the caller's body is not changed
    # Shapes that are not a patch are forwarded untouched, for the upstream to judge.
    for odd in ({"patch_by_filter": "x"}, {"patch_by_filter": {"filters": ["a", "Eq", 1]}}):
        assert stamp_write(odd, "_w", 42) == odd
    copy = {"copy_from_namespace": "src"}
    assert stamp_write(copy, "_w", 42) == copy


def test_layer_location_keeps_path_and_query_drops_origin_and_prefix() -> None:
    op = "/v1/namespaces/ns/operations/op-1"
    assert layer_location("https://gcp-us-central1.turbopuffer.com" + op) == op
    assert layer_location(op) == op
    assert layer_location(f"http://127.0.0.1:9/tpuf{op}?x=1", "http://127.0.0.1:9/tpuf") == (
        f"{op}?x=1"
    )
    assert layer_location(f"http://h{op}", "http://h/") == op
    assert layer_location("http://h/tpufx/v1/a", "http://h/tpuf") == "/tpufx/v1/a"


def test_copies_rows() -> None:
    assert copies_rows({"copy_from_namespace": "src"})
    assert copies_rows({"branch_from_namespace": {"source_namespace": "src"}})
    assert not copies_rows({"upsert_rows": [], "copy_from_namespace": None})
    assert not copies_rows(["copy_from_namespace"])


def test_forget_cut_drops_stable_as_of_and_keeps_the_rest(tmp_path: Path) -> None:
    kv = SQLiteKV(str(tmp_path / "kv.sqlite"))
    store = FreshnessStore(kv)
    rec = Freshness(is_stable=True, stable_as_of=1000, last_poll_ms=1000, has_watermark=True)
    store.put_many([("dst", rec)])
    forget_cut(store, "dst")
    after = store.get("dst")
    assert after.stable_as_of is None and after.is_stable is False
    assert after.has_watermark and after.last_poll_ms == 1000
    q = {"rank_by": ["id", "asc"], "filters": ["a", "Eq", 1]}
    assert decide_cut(q, replace(after, is_stable=False)).header == "skipped"
    forget_cut(store, "new")  # no record: nothing to forget, nothing written
    assert kv.get("freshness", "new") is None
    kv.close()
