"""The Aerospike pushdown, checked without a server.

The translation's intermediate form runs in Python against the bins a document would
be stored with (``doc_bins``): for random documents and random cache filters, whatever
the filter matches must pass the pushdown (``may``), and whatever ``must`` accepts must
match. Building and compiling the real ``aerospike_helpers`` expressions needs no
server either.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.cache.aerospike_expr import (
    FALSE,
    T_BLOB,
    T_DOUBLE,
    T_INTEGER,
    T_STRING,
    T_UNDEF,
    TRUE,
    bin_type,
    doc_bins,
    evaluate_ir,
    is_bin_name,
    pushdown,
    to_expression,
    translate,
)
from common.filters import evaluate

aerospike = pytest.importorskip("aerospike")

ATTRS = ["a", "b", "tags", "a_very_long_attribute"]  # the last has no bin of its own

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([2**53 + 1, 2**60, 2**64, -(2**63) - 1, 2**63 - 1]),
    st.floats(-6, 6, allow_nan=False).map(lambda x: round(x * 2) / 2),
    st.sampled_from([2.0**60, 1e300]),
    st.text(alphabet="abcé", max_size=3),
)
values = st.one_of(scalars, st.lists(scalars.filter(lambda v: v is not None), max_size=3))
docs = st.fixed_dictionaries({"id": st.integers(0, 1000)}, optional={a: values for a in ATTRS})
non_null = scalars.filter(lambda v: v is not None)


def leaves() -> st.SearchStrategy[list[Any]]:
    attr = st.sampled_from([*ATTRS, "id"])
    return st.one_of(
        st.tuples(attr, st.sampled_from(["Eq", "NotEq"]), values),
        st.tuples(
            attr, st.sampled_from(["In", "NotIn", "ContainsAny"]), st.lists(scalars, max_size=3)
        ),
        st.tuples(attr, st.sampled_from(["Lt", "Lte", "Gt", "Gte", "Contains"]), non_null),
    ).map(list)


filters = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["And", "Or"]), st.lists(inner, min_size=1, max_size=3)).map(
            list
        ),
        st.tuples(st.just("Not"), inner).map(list),
    ),
    max_leaves=6,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=filters, doc=docs)
def test_pushdown_is_a_superset_and_must_a_subset(f: list[Any], doc: dict[str, Any]) -> None:
    may, must = translate(f)
    bins = doc_bins(doc)
    truth = evaluate(f, doc)
    if truth:
        assert evaluate_ir(may, bins), (f, doc, may)
    if evaluate_ir(must, bins):
        assert truth, (f, doc, must)


@settings(max_examples=200, deadline=None)
@given(f=filters)
def test_every_translation_compiles(f: list[Any]) -> None:
    compiled = to_expression(f, generation=3)
    assert isinstance(compiled, list) and compiled
    assert to_expression(f) is None or isinstance(to_expression(f), list)


def test_storage_types() -> None:
    bins = doc_bins(
        {
            "id": 1,
            "s": "x",
            "i": 2**63 - 1,
            "big": 2**63,
            "f": 1.5,
            "b": True,
            "l": ["a"],
            "n": None,
            "a_very_long_attribute": "x",
            "_doc": "reserved",
        }
    )
    assert bin_type(bins, "s") == T_STRING
    assert bin_type(bins, "i") == T_INTEGER
    assert bin_type(bins, "f") == T_DOUBLE
    for k in ("big", "b", "l"):
        assert bin_type(bins, k) == T_BLOB
    for k in ("n", "missing", "a_very_long_attribute", "_doc"):
        assert bin_type(bins, k) == T_UNDEF
    assert is_bin_name("x" * 15) and not is_bin_name("x" * 16) and not is_bin_name("é" * 8)


def test_exact_leaves_push_down_exactly() -> None:
    may, must = translate(["brand", "Eq", "acme"])
    assert may[0] == "cond" and must[0] == "cond"
    for doc in ({"brand": "acme"}, {"brand": "other"}, {}, {"brand": 3}):
        bins = doc_bins(doc)
        assert (
            evaluate_ir(may, bins)
            == evaluate_ir(must, bins)
            == evaluate(["brand", "Eq", "acme"], doc)
        )
    # Lt matches missing; Gt does not (the evaluator decides the missing case).
    assert evaluate_ir(pushdown(["price", "Lt", 3]), {}) is True
    assert evaluate_ir(pushdown(["price", "Gt", 3]), {}) is False


def test_unpushable_parts_fall_back_to_true() -> None:
    assert pushdown(None) == TRUE
    assert pushdown(["a_very_long_attribute", "Eq", "x"]) == TRUE
    assert to_expression(None) is None
    assert to_expression(["a_very_long_attribute", "Eq", "x"]) is None
    # Contains cannot be evaluated server-side beyond "the attribute exists".
    may = pushdown(["tags", "Contains", "red"])
    assert evaluate_ir(may, doc_bins({"tags": ["blue"]})) is True
    assert evaluate_ir(may, doc_bins({})) is False
    # Or with an unpushable branch pushes nothing; And keeps the pushable half.
    assert pushdown(["Or", [["a_very_long_attribute", "Eq", "x"], ["a", "Eq", "y"]]]) == TRUE
    assert pushdown(["And", [["a_very_long_attribute", "Eq", "x"], ["a", "Eq", "y"]]]) != TRUE
    assert pushdown(["a", "In", []]) != TRUE
    assert not evaluate_ir(pushdown(["a", "In", []]), doc_bins({"a": "x"}))
    assert pushdown(["Not", ["a", "In", []]]) != FALSE


def test_compiled_expression_shape() -> None:
    compiled = to_expression(["brand", "Eq", "acme"], generation=7)
    flat = repr(compiled)
    assert "'_g'" in flat and "'acme'" in flat and "'brand'" in flat
    assert to_expression(None, generation=7) is not None
    nothing = repr(to_expression(["a", "In", []], generation=2))
    assert "-1" in nothing  # matches no generation


def test_numbers_compare_as_the_evaluator_says() -> None:
    # 1 equals 1.0 (the evaluator's rule); a bool equals no number.
    for f, doc in (
        (["id", "In", [1.0]], {"id": 1}),
        (["id", "Eq", 1.0], {"id": 1}),
        (["x", "In", [1]], {"x": 1.0}),
        (["x", "NotIn", [True]], {"x": 1}),
    ):
        may, must = translate(f)
        bins = doc_bins(doc)
        assert evaluate(f, doc) is True
        assert evaluate_ir(may, bins) is True and evaluate_ir(must, bins) is True, f
    assert evaluate_ir(pushdown(["x", "In", [True]]), doc_bins({"x": 1})) is False


def test_in_on_an_array_is_not_decided_server_side() -> None:
    # "any element is in the list" cannot be read from the BLOB: the pushdown lets it through.
    for f in (["tags", "In", ["a"]], ["tags", "NotIn", ["a"]], ["tags", "In", [1]]):
        may, must = translate(f)
        for doc in ({"tags": ["a", "b"]}, {"tags": [1]}, {"tags": []}):
            assert evaluate_ir(may, doc_bins(doc)) is True, (f, doc)
            assert evaluate_ir(must, doc_bins(doc)) is False, (f, doc)
    # A bare scalar is a one-element list.
    assert evaluate_ir(pushdown(["a", "In", "x"]), doc_bins({"a": "x"})) is True


def test_lt_null_is_not_pushed_down() -> None:
    may, must = translate(["a", "Lt", None])
    for doc in ({"a": 1}, {"a": "x"}, {"a": [1]}):
        assert evaluate_ir(may, doc_bins(doc)) is True
        assert evaluate_ir(must, doc_bins(doc)) is False
