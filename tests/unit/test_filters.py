"""The shared filter grammar: validation paths, every operator, null semantics."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.filters import (
    ALL_OPS,
    CACHE_OPS,
    FilterError,
    and_filters,
    compile_filter,
    evaluate,
    ops_used,
    validate_filter,
)

DOC: dict[str, Any] = {
    "id": 7,
    "name": "Blue Widget",
    "color": "blue",
    "price": 12.5,
    "qty": 3,
    "ok": True,
    "tags": ["a", "b", "c"],
    "nums": [1, 5, 9],
    "nothing": None,
}


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (["color", "Eq", "blue"], True),
        (["color", "Eq", "red"], False),
        (["id", "Eq", 7], True),
        (["price", "Eq", 12.5], True),
        (["qty", "Eq", 3.0], True),
        (["ok", "Eq", True], True),
        (["ok", "Eq", 1], False),
        (["qty", "Eq", True], False),
        (["missing", "Eq", None], True),
        (["nothing", "Eq", None], True),
        (["color", "Eq", None], False),
        (["color", "NotEq", None], True),
        (["missing", "NotEq", None], False),
        (["missing", "NotEq", "x"], True),
        (["color", "NotEq", "blue"], False),
        (["tags", "Eq", ["a", "b", "c"]], True),
        (["tags", "Eq", ["a", "b"]], False),
        (["tags", "Eq", "a"], False),
        (["color", "In", ["red", "blue"]], True),
        (["color", "In", ["red"]], False),
        (["missing", "In", [None, "x"]], True),
        (["ok", "In", [1]], False),
        (["qty", "In", [True, 3]], True),
        (["color", "NotIn", ["red"]], True),
        (["missing", "NotIn", ["red"]], True),
        (["qty", "Lt", 4], True),
        (["qty", "Lt", 3], False),
        (["qty", "Lte", 3], True),
        (["qty", "Gt", 2.5], True),
        (["qty", "Gte", 3], True),
        (["qty", "Gte", 4], False),
        (["missing", "Lt", 0], True),
        (["missing", "Lte", 0], True),
        (["nothing", "Lt", 0], True),
        (["missing", "Gt", 0], False),
        (["missing", "Gte", 0], False),
        (["color", "Lt", "c"], True),
        (["color", "Gt", "c"], False),
        (["color", "Lt", 5], False),
        (["qty", "Gt", "a"], False),
        (["ok", "Gt", 0], False),
        (["tags", "Lt", "z"], False),
        (["nums", "AnyLt", 2], True),
        (["nums", "AnyLt", 1], False),
        (["nums", "AnyLte", 1], True),
        (["nums", "AnyGt", 8], True),
        (["nums", "AnyGte", 10], False),
        (["qty", "AnyLt", 10], False),
        (["missing", "AnyLt", 10], False),
        (["tags", "Contains", "b"], True),
        (["tags", "Contains", "z"], False),
        (["color", "Contains", "blue"], False),
        (["tags", "NotContains", "z"], True),
        (["missing", "NotContains", "z"], True),
        (["tags", "ContainsAny", ["z", "c"]], True),
        (["tags", "ContainsAny", ["z"]], False),
        (["tags", "NotContainsAny", ["z", "y"]], True),
        (["tags", "NotContainsAny", ["a"]], False),
        (["name", "Glob", "Blue*"], True),
        (["name", "Glob", "blue*"], False),
        (["name", "IGlob", "blue*"], True),
        (["name", "Glob", "?lue W[a-i]dget"], True),
        (["name", "NotGlob", "Blue*"], False),
        (["name", "NotIGlob", "red*"], True),
        (["qty", "Glob", "*"], False),
        (["missing", "NotGlob", "*"], True),
    ],
)
def test_leaf_operators(f: list[Any], expected: bool) -> None:
    assert evaluate(f, DOC) is expected


def test_logical_nesting() -> None:
    assert evaluate(["And", [["color", "Eq", "blue"], ["qty", "Gt", 1]]], DOC)
    assert not evaluate(["And", [["color", "Eq", "blue"], ["qty", "Gt", 5]]], DOC)
    assert evaluate(["Or", [["color", "Eq", "red"], ["qty", "Gt", 1]]], DOC)
    assert not evaluate(["Or", [["color", "Eq", "red"], ["qty", "Gt", 5]]], DOC)
    assert evaluate(["Not", ["color", "Eq", "red"]], DOC)
    assert evaluate(["And", []], DOC)
    assert not evaluate(["Or", []], DOC)
    deep = [
        "And",
        [["Or", [["Not", ["tags", "Contains", "a"]], ["id", "In", [1, 7]]]], ["ok", "Eq", True]],
    ]
    assert evaluate(deep, DOC)
    assert evaluate(["And", [["id", "Gt", 5], ["id", "Lte", 7], ["color", "Eq", "blue"]]], DOC)


def test_string_ids_compare_lexicographically() -> None:
    doc = {"id": "b-2"}
    assert evaluate(["id", "Gt", "a"], doc)
    assert not evaluate(["id", "Gt", 1], doc)


@pytest.mark.parametrize(
    ("f", "message"),
    [
        ("nope", "filters: a filter must be a non-empty array"),
        ([], "filters: a filter must be a non-empty array"),
        (["a", "Eq"], "filters: expected [attribute, operator, value]"),
        (["a", "Bogus", 1], "filters[1]: unknown operator 'Bogus'"),
        ([1, "Eq", 1], "filters[0]: attribute name"),
        (["And", "x"], "filters[1]: And needs an array of filters"),
        (["And", [["a", "Eq", 1], ["b", "In", {"x": 3}]]], "filters[1][1][2]: In needs a list"),
        (["b", "ContainsAny", "x"], "filters[2]: ContainsAny needs a list"),
        (["b", "In", [["a", "b"]]], "filters[2][0]: In values must be scalars or null"),
        (["b", "AnyLt", None], "filters[2]: AnyLt needs a number"),
        (["a", "Lt", {"x": 1}], "filters[2]: Lt needs a number, string, bool or null"),
        (["a", "Glob", "[a-"], "filters[2]: bad Glob pattern '[a-': unclosed character class"),
        (["a", "IGlob", "{a,b"], "filters[2]: bad IGlob pattern '{a,b': unclosed alternate"),
        (["a", "NotGlob", "{a,{b}}"], "filters[2]: bad NotGlob pattern"),
        (["a", "Glob", "a}"], "filters[2]: bad Glob pattern 'a}': unopened"),
        (["a", "Glob", "[z-a]"], "filters[2]: bad Glob pattern '[z-a]': invalid range"),
        (["a", "Glob", "a\\"], "filters[2]: bad Glob pattern"),
        (["Or", [["Not", ["a", "Lt", [1]]]]], "filters[1][0][1][2]: Lt needs a number"),
        (["And", [["a", "Eq", 1], ["b", "NotIn", {}]]], "filters[1][1][2]: NotIn needs a list"),
        (["a", "Glob", 5], "filters[2]: Glob needs a string pattern"),
        (["a", "Contains", None], "filters[2]: Contains needs a scalar"),
        (["a", "In", [{"x": 1}]], "filters[2][0]: In values must be"),
        (["a", "Eq", {"x": 1}], "filters[2]: Eq needs"),
    ],
)
def test_bad_shapes_name_the_path(f: Any, message: str) -> None:
    with pytest.raises(FilterError) as info:
        validate_filter(f)
    assert str(info.value).startswith(message)


def test_depth_limit() -> None:
    f: Any = ["a", "Eq", 1]
    for _ in range(40):
        f = ["Not", f]
    with pytest.raises(FilterError, match="nested too deeply"):
        validate_filter(f)
    validate_filter(f, max_depth=64)
    shallow: Any = ["a", "Eq", 1]
    for _ in range(5):
        shallow = ["And", [shallow]]
    with pytest.raises(FilterError):
        validate_filter(shallow, max_depth=3)


@pytest.mark.parametrize(
    "op", ["Regex", "Fuzzy", "ContainsAllTokens", "ContainsAnyToken", "ContainsTokenSequence"]
)
def test_special_ops_validate_but_do_not_compile(op: str) -> None:
    f = ["And", [["a", "Eq", 1], ["title", op, "fox"]]]
    validate_filter(f)
    assert op in ops_used(f)
    with pytest.raises(FilterError, match=op):
        compile_filter(f)


def test_ops_used_and_sets() -> None:
    f = ["And", [["a", "Eq", 1], ["Not", ["b", "In", [1]]], ["Or", [["c", "Glob", "x*"]]]]]
    assert ops_used(f) == {"And", "Eq", "Not", "In", "Or", "Glob"}
    assert CACHE_OPS <= ALL_OPS
    assert {"Regex", "AnyLt", "NotContains"}.isdisjoint(CACHE_OPS)
    assert {"Glob", "NotGlob", "IGlob", "NotIGlob", "In", "NotIn"} <= CACHE_OPS
    assert len(CACHE_OPS) == 17


def test_and_filters() -> None:
    a, b = ["a", "Eq", 1], ["b", "Eq", 2]
    assert and_filters() is None
    assert and_filters(None, None) is None
    assert and_filters(a) is a
    assert and_filters(None, a) is a
    assert and_filters(a, None, b) == ["And", [a, b]]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False),
    st.sampled_from(["a", "b", "c"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))
cmp_ops = st.sampled_from(["Eq", "NotEq", "Lt", "Lte", "Gt", "Gte", "Contains", "NotContains"])


@given(x=values, op=cmp_ops, v=scalars)
def test_never_raises_and_negations_complement(x: Any, op: str, v: Any) -> None:
    if op.endswith("Contains") and v is None:
        v = "a"
    doc = {"id": 1, "x": x}
    f = ["x", op, v]
    result = evaluate(f, doc)
    assert isinstance(result, bool)
    assert evaluate(["Not", f], doc) is (not result)
    if op == "Eq":
        assert evaluate(["x", "NotEq", v], doc) is (not result)
        if not isinstance(x, list):  # on an array, In is membership (below), not Eq
            assert evaluate(["x", "In", [v]], doc) is result
        else:
            assert evaluate(["x", "In", [v]], doc) is any(
                evaluate(["e", "Eq", v], {"e": e}) for e in x
            )
    if op == "Contains":
        assert evaluate(["x", "ContainsAny", [v]], doc) is result


@given(x=st.one_of(st.none(), st.integers(-10, 10)), v=st.integers(-10, 10))
def test_numeric_comparisons_agree_with_python(x: int | None, v: int) -> None:
    doc = {"id": 1, "x": x}
    if x is None:
        assert evaluate(["x", "Lt", v], doc) and evaluate(["x", "Lte", v], doc)
        assert not evaluate(["x", "Gt", v], doc) and not evaluate(["x", "Gte", v], doc)
    else:
        assert evaluate(["x", "Lt", v], doc) is (x < v)
        assert evaluate(["x", "Lte", v], doc) is (x <= v)
        assert evaluate(["x", "Gt", v], doc) is (x > v)
        assert evaluate(["x", "Gte", v], doc) is (x >= v)


@given(st.lists(st.integers(0, 20), max_size=6), st.lists(st.integers(0, 20), max_size=4))
def test_contains_any_is_intersection(arr: list[int], vals: list[int]) -> None:
    doc = {"id": 1, "arr": arr}
    assert evaluate(["arr", "ContainsAny", vals], doc) is bool(set(arr) & set(vals))
    assert evaluate(["arr", "In", vals], doc) is bool(set(arr) & set(vals))
    assert evaluate(["arr", "NotIn", vals], doc) is not bool(set(arr) & set(vals))


# --- In/NotIn on arrays, bare scalars, comparisons with null, globset (TURBOPUFFER.md) ----

USERS: list[dict[str, Any]] = [
    {"id": 7, "count": 1, "users": ["jan", "simon"]},
    {"id": 9, "count": 2, "users": ["bojan", "morgan", "simon"]},
]


def _ids(f: Any, docs: list[dict[str, Any]] = USERS) -> list[Any]:
    pred = compile_filter(f)
    return [d["id"] for d in docs if pred(d)]


def test_sdk_live_suite_in_on_arrays() -> None:
    """The four queries of the SDK's ``test_attribute_types``, with its expected counts."""
    assert _ids(["And", [["count", "Gt", 1], ["users", "In", ["simon"]]]]) == [9]
    assert _ids(["Or", [["count", "Eq", 1], ["users", "In", "bojan"]]]) == [7, 9]
    assert _ids(["And", [["count", "Eq", 1], ["users", "In", "bojan"]]]) == []
    nested = ["And", [["count", "Eq", 1], ["Or", [["users", "In", "bojan"], ["count", "Gt", 0]]]]]
    assert _ids(nested) == [7]


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (["tags", "In", ["z", "b"]], True),
        (["tags", "In", ["z"]], False),
        (["tags", "In", "c"], True),
        (["tags", "In", []], False),
        (["tags", "NotIn", ["z", "y"]], True),
        (["tags", "NotIn", ["z", "a"]], False),
        (["tags", "NotIn", "a"], False),
        (["color", "In", "blue"], True),
        (["color", "NotIn", "blue"], False),
        (["qty", "In", 3], True),
        (["qty", "In", 3.0], True),
        (["ok", "In", True], True),
        (["ok", "In", 1], False),
        (["missing", "In", None], True),
        (["missing", "NotIn", None], False),
        (["nums", "In", [5.0]], True),
        (["nums", "In", [True]], False),
        (["qty", "Lt", None], False),
        (["missing", "Lt", None], True),
        (["nothing", "Lt", None], True),
        (["qty", "Lte", None], False),
        (["missing", "Lte", None], True),
        (["nothing", "Lte", None], True),
        (["qty", "Gt", None], True),
        (["color", "Gt", None], True),
        (["ok", "Gt", None], True),
        (["tags", "Gt", None], True),
        (["missing", "Gt", None], False),
        (["nothing", "Gt", None], False),
        (["qty", "Gte", None], True),
        (["missing", "Gte", None], True),
        (["tags", "Gte", None], True),
        (["tags", "Glob", "[ab]"], True),
        (["tags", "Glob", "z*"], False),
        (["tags", "NotGlob", "z*"], True),
        (["tags", "NotGlob", "?"], False),
        (["tags", "IGlob", "C"], True),
        (["tags", "NotIGlob", "C"], False),
        (["nums", "Glob", "*"], False),
        (["name", "Glob", "{Red,Blue} *"], True),
        (["name", "Glob", "{Red,Green} *"], False),
        (["name", "Glob", "Blue {W,w}idget"], True),
        (["name", "IGlob", "BLUE {x,W}IDGET"], True),
        (["name", "Glob", "[!a-z]lue*"], True),
        (["name", "Glob", "[^B]lue*"], False),
        (["name", "Glob", "Blue Widge[]t]"], True),
        (["name", "Glob", "Blue\\ Widget"], True),
        (["name", "Glob", "Blue*t"], True),
        (["name", "Glob", "Blue**"], True),
        (["name", "Glob", "Blue"], False),
        (["name", "Glob", "Blue Widget,x"], False),
    ],
)
def test_arrays_nulls_and_globset(f: list[Any], expected: bool) -> None:
    assert evaluate(f, DOC) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("a/*", "a/b/c", True),  # globset without literal_separator: * crosses '/'
        ("a?c", "a/c", True),
        ("x{,y}", "x", True),
        ("x{a,b}{c,d}", "xbd", True),
        ("[a-c-]", "-", True),
        ("[a-c-]", "d", False),
        ("\\*", "*", True),
        ("\\*", "a", False),
        ("a,b", "a,b", True),
        ("*.{jpg,png}", "photo.PNG", False),
        ("é*", "été", True),
        ("line*", "line\nbreak", True),
    ],
)
def test_globset_details(pattern: str, text: str, expected: bool) -> None:
    assert evaluate(["s", "Glob", pattern], {"id": 1, "s": text}) is expected


def test_glob_ignore_case_on_alternation() -> None:
    assert evaluate(["s", "IGlob", "*.{jpg,png}"], {"id": 1, "s": "photo.PNG"})


@given(st.lists(st.sampled_from(["a", "b", "c", 1, 2, True]), max_size=4), st.data())
def test_in_on_arrays_is_contains_any(arr: list[Any], data: st.DataObject) -> None:
    vals = data.draw(st.lists(st.sampled_from(["a", "b", "z", 1, 2.0, True, None]), max_size=3))
    doc = {"id": 1, "arr": arr}
    assert evaluate(["arr", "In", vals], doc) is evaluate(["arr", "ContainsAny", vals], doc)
    assert evaluate(["arr", "NotIn", vals], doc) is not evaluate(["arr", "In", vals], doc)
    for v in vals:
        assert evaluate(["arr", "In", v], doc) is evaluate(["arr", "In", [v]], doc)


@given(x=values, v=scalars)
def test_comparisons_with_nulls_first(x: Any, v: Any) -> None:
    """Lt/Gte and Lte/Gt are complements wherever both sides are present and ordered;
    a null document matches Lt/Lte only; a null value splits documents by presence."""
    doc = {"id": 1, "x": x}
    lt, lte = evaluate(["x", "Lt", v], doc), evaluate(["x", "Lte", v], doc)
    gt, gte = evaluate(["x", "Gt", v], doc), evaluate(["x", "Gte", v], doc)
    if v is None:
        assert (lt, lte, gt, gte) == (x is None, x is None, x is not None, True), x
    elif x is None:
        assert (lt, lte, gt, gte) == (True, True, False, False)
    elif (
        not isinstance(x, list)
        and (type(x) is bool) == (type(v) is bool)
        and isinstance(x, str) == isinstance(v, str)
    ):
        assert lt is not gte and lte is not gt, (x, v)
        assert lte is (lt or evaluate(["x", "Eq", v], doc)), (x, v)
    else:
        assert not (lt or lte or gt or gte), (x, v)
