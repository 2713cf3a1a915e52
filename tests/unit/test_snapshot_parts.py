"""The snapshot engine's pure parts: SHAs, key layout, counting, bodies, diffs, request parsing."""

from __future__ import annotations

import hashlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.errors import BadRequest
from backend.snapshots import layout
from backend.snapshots.diff import diff_bodies
from backend.snapshots.histogram import FieldCounter, build_body, result_from_body
from backend.snapshots.service import parse_request
from common.canonical import snapshot_sha, with_sha
from common.filters import compile_filter


def test_sha_is_sha256_of_sorted_compact_json_without_sha() -> None:
    body = {"namespace": "n", "watermark_ms": 5, "fields": [], "fields_skipped": []}
    expected = hashlib.sha256(
        b'{"fields":[],"fields_skipped":[],"namespace":"n","watermark_ms":5}'
    ).hexdigest()
    assert snapshot_sha(body) == expected
    assert snapshot_sha({**body, "sha": "whatever"}) == expected
    out = with_sha(body)
    assert list(out) == ["namespace", "watermark_ms", "sha", "fields", "fields_skipped"]
    assert out["sha"] == expected


def test_history_keys_sort_newest_first() -> None:
    a = layout.history_key("ns", 1_000, "aa")
    b = layout.history_key("ns", 2_000, "bb")
    assert b < a
    assert a == "snapshots/ns/history/9999999998999-aa"
    assert layout.parse_history_key(a) == (1_000, "aa")
    assert layout.activity_key(42, "ns", "s") == "activity/0000000000042-ns-s.json"
    assert layout.activity_ns_key("ns", 42, "s") == "activity-by-ns/ns/0000000000042-s.json"
    assert layout.body_key("ns", "s") == "snapshots/ns/bodies/s.json"


def test_counter_arrays_nulls_and_types() -> None:
    c = FieldCounter("f")
    c.add_rows(
        [
            {"f": ["a", "b", None]},
            {"f": "a"},
            {"f": None},
            {},
            {"f": True},
            {"f": 1},
            {"f": 1.0},
            {"f": []},
        ]
    )
    r = c.result(cap=100)
    assert r == {
        "name": "f",
        "values": [{"v": 1, "n": 2}, {"v": "a", "n": 2}, {"v": True, "n": 1}, {"v": "b", "n": 1}],
    }


def test_an_array_counts_a_document_once_per_distinct_element() -> None:
    """Design's "once per element" as Layer reads it: the distinct elements of one
    document. ``["a", "a"]`` is one document holding "a", as ``Contains "a"`` says."""
    c = FieldCounter("tags")
    c.add_rows([{"tags": ["a", "a", "b"]}, {"tags": ["a"]}, {"tags": ["b", "b", None, None]}])
    assert c.result(10)["values"] == [{"v": "a", "n": 2}, {"v": "b", "n": 2}]
    mixed = FieldCounter("f")  # not all strings: the tagged loop, same rule
    mixed.add_rows([{"f": [1, 1, True, True, 1.0]}, {"f": [True]}])
    assert mixed.result(10)["values"] == [{"v": True, "n": 2}, {"v": 1, "n": 1}]
    one = FieldCounter("f")
    one.add(["x", "x"])
    assert dict(one.counts) == {("s", "x"): 1}


ELEMENT = st.one_of(st.sampled_from(["a", "b", "c"]), st.integers(0, 2), st.booleans(), st.none())
ARRAY_ROWS = st.lists(
    st.one_of(
        st.fixed_dictionaries({"f": st.lists(st.sampled_from(["a", "b", "c"]), max_size=5)}),
        st.fixed_dictionaries({"f": st.lists(ELEMENT, max_size=5)}),
        st.just({}),
        st.just({"f": None}),
    ),
    max_size=30,
)


@given(st.lists(ARRAY_ROWS, min_size=1, max_size=3))
def test_an_array_bucket_is_what_contains_matches(pages: list[list[dict[str, object]]]) -> None:
    """Page by page (string-only pages take the C path), every bucket of an array field
    equals the number of documents the filter ``[f, "Contains", value]`` matches."""
    c = FieldCounter("f")
    for page in pages:
        c.add_rows(page)
    rows = [r for page in pages for r in page]
    values = c.result(10_000)["values"]
    for bucket in values:
        match = compile_filter(["f", "Contains", bucket["v"]])
        assert bucket["n"] == sum(1 for r in rows if match(r)), bucket
    held = {(type(e) is bool, e) for r in rows for e in (r.get("f") or []) if e is not None}
    assert len(values) == len(held)


def test_counter_orders_by_count_then_value() -> None:
    c = FieldCounter("f")
    c.add_rows([{"f": v} for v in ["b", "a", "c", "c", "b"]])
    assert [x["v"] for x in c.result(10)["values"]] == ["b", "c", "a"]


def test_cap_reports_exact_distinct_and_no_values() -> None:
    c = FieldCounter("tags")
    c.add_rows([{"tags": [f"t{i}", f"u{i}"]} for i in range(60)])
    r = c.result(cap=100)
    assert r == {
        "name": "tags",
        "skipped": {"reason": "exceeded_cap", "distinct_observed": 120, "cap": 100},
    }
    assert "values" in c.result(cap=120)


def test_aggregate_counts_merge_like_rows() -> None:
    a, b = FieldCounter("f"), FieldCounter("f")
    a.add_rows([{"f": "x"}, {"f": "x"}, {"f": "y"}, {"f": None}])
    b.add_count("x", 2)
    b.add_count("y", 1)
    b.add_count(None, 1)
    assert orjson.dumps(a.result(10)) == orjson.dumps(b.result(10))


def test_body_shape_and_result_lookup() -> None:
    c1, c2 = FieldCounter("category"), FieldCounter("tags")
    c1.add_rows([{"category": "books"}])
    c2.add_rows([{"tags": [str(i) for i in range(5)]}])
    body = with_sha(build_body("products", 7, [c1.result(10), c2.result(3)]))
    assert body["fields"] == [{"name": "category", "values": [{"v": "books", "n": 1}]}]
    assert body["fields_skipped"] == [
        {"name": "tags", "reason": "exceeded_cap", "distinct_observed": 5, "cap": 3}
    ]
    assert result_from_body(body, "category") == {
        "name": "category",
        "values": [{"v": "books", "n": 1}],
    }
    assert result_from_body(body, "tags") == {
        "name": "tags",
        "skipped": {"reason": "exceeded_cap", "distinct_observed": 5, "cap": 3},
    }
    assert result_from_body(body, "nope") is None


def _body(wm: int, fields: dict[str, dict[str, int]]) -> dict:
    return with_sha(
        {
            "namespace": "n",
            "watermark_ms": wm,
            "fields": [
                {"name": k, "values": [{"v": v, "n": n} for v, n in vals.items()]}
                for k, vals in fields.items()
            ],
            "fields_skipped": [],
        }
    )


def test_diff_statuses_and_ordering() -> None:
    a = _body(1, {"cat": {"books": 10, "toys": 5, "food": 1}, "old": {"x": 1}, "same": {"k": 3}})
    b = _body(2, {"cat": {"books": 12, "toys": 1, "garden": 3}, "new": {"y": 2}, "same": {"k": 3}})
    d = diff_bodies(a, b)
    assert d["from"] == a["sha"] and d["to"] == b["sha"]
    by = {f["name"]: f for f in d["fields"]}
    assert by["cat"]["status"] == "changed"
    assert by["cat"]["changes"] == [
        {"v": "toys", "from": 5, "to": 1, "delta": -4},
        {"v": "garden", "from": 0, "to": 3, "delta": 3},
        {"v": "books", "from": 10, "to": 12, "delta": 2},
        {"v": "food", "from": 1, "to": 0, "delta": -1},
    ]
    assert by["old"]["status"] == "removed" and by["old"]["changes"] == [
        {"v": "x", "from": 1, "to": 0, "delta": -1}
    ]
    assert by["new"]["status"] == "added"
    assert by["same"] == {"name": "same", "status": "unchanged", "changes": []}


def test_parse_request_defaults_and_errors() -> None:
    r = parse_request({"field": "category"})
    assert (r.field, r.source, r.filters, r.page_size) == ("category", "auto", None, 1000)
    cases = [
        ({}, "field"),
        ({"field": ""}, "field"),
        ({"field": "   "}, "field"),
        ({"field": 3}, "field"),
        ({"field": "$id"}, "field"),
        ({"field": "x" * 129}, "field"),
        ({"field": "a", "source": "disk"}, "source"),
        ({"field": "a", "page_size": 0}, "page_size"),
        ({"field": "a", "page_size": 10_001}, "page_size"),
        ({"field": "a", "page_size": "10"}, "page_size"),
        ({"field": "a", "page_size": True}, "page_size"),
        ({"field": "a", "filters": ["brand", "Eq"]}, "filters"),
        ({"field": "a", "filters": ["brand", "Nope", 1]}, "filters"),
        ({"field": "a", "filters": "brand"}, "filters"),
        ({"field": "a", "bogus": 1}, "bogus"),
    ]
    for body, param in cases:
        with pytest.raises(BadRequest) as info:
            parse_request(body)
        assert info.value.extra["param"] == param, body


def test_parse_request_rejects_deep_filters() -> None:
    f: list = ["a", "Eq", 1]
    for _ in range(100):
        f = ["Not", f]
    with pytest.raises(BadRequest) as info:
        parse_request({"field": "a", "filters": f})
    assert info.value.extra["param"] == "filters"


def _count_row_by_row(rows: list[dict[str, object]]) -> dict[tuple[str, object], int]:
    c = FieldCounter("f")
    for row in rows:
        c.add(row.get("f"))
    return dict(c.counts)


VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-2, 2, allow_nan=False),
    st.sampled_from(["a", "b", "", "1", "True"]),
    st.lists(st.one_of(st.sampled_from(["a", "b"]), st.integers(0, 2), st.booleans()), max_size=3),
)


@given(st.lists(st.one_of(st.fixed_dictionaries({"f": VALUE}), st.just({})), max_size=40))
def test_add_rows_counts_like_one_value_at_a_time(rows: list[dict[str, object]]) -> None:
    """The C-counted fast path (all strings) and the tagged loop agree with ``add``."""
    c = FieldCounter("f")
    c.add_rows(rows)
    assert dict(c.counts) == _count_row_by_row(rows)


def test_add_rows_keeps_true_and_1_apart_within_a_page() -> None:
    c = FieldCounter("f")
    c.add_rows([{"f": 1}, {"f": True}, {"f": "x"}, {"f": None}, {}, {"f": "x"}])
    assert dict(c.counts) == {("n", 1): 1, ("b", True): 1, ("s", "x"): 2}
    c.add_rows([{"f": "x"}, {"f": "y"}, {}])  # an all-string page: the fast path
    assert dict(c.counts) == {("n", 1): 1, ("b", True): 1, ("s", "x"): 3, ("s", "y"): 1}
