"""In-memory generations: equality indexes only narrow, never change, a count."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.cache.memory import GenerationMemory
from common.filters import evaluate
from tests.unit.test_cache_aerospike_expr import docs, filters


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=filters, ds=st.lists(docs, max_size=12))
def test_candidates_include_every_match(f: list[Any], ds: list[dict[str, Any]]) -> None:
    gen = GenerationMemory().put("ns", 1, ds)
    picked = gen.candidates(f)
    matches = {i for i, d in enumerate(ds) if evaluate(f, d)}
    if picked is not None:
        assert matches <= picked, (f, ds)


_extra_leaves = st.one_of(
    st.tuples(
        st.sampled_from(["a", "b", "tags"]),
        st.sampled_from(["In", "NotIn"]),
        st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text("abcé", max_size=2)),
    ),
    st.tuples(
        st.sampled_from(["a", "tags"]),
        st.sampled_from(["Glob", "NotGlob", "IGlob", "NotIGlob"]),
        st.sampled_from(["a*", "{a,b}", "[!a]*", "?", "A*"]),
    ),
    st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["Lt", "Lte", "Gt", "Gte"]), st.none()),
).map(list)
wider_filters = st.recursive(
    st.one_of(filters, _extra_leaves),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["And", "Or"]), st.lists(inner, min_size=1, max_size=3)).map(
            list
        ),
        st.tuples(st.just("Not"), inner).map(list),
    ),
    max_leaves=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=wider_filters, ds=st.lists(docs, max_size=12))
def test_candidates_include_every_match_bare_in_glob_null(
    f: list[Any], ds: list[dict[str, Any]]
) -> None:
    gen = GenerationMemory().put("ns", 1, ds)
    picked = gen.candidates(f)
    if picked is not None:
        assert {i for i, d in enumerate(ds) if evaluate(f, d)} <= picked, (f, ds)


def test_in_reads_scalars_and_array_elements() -> None:
    ds: list[dict[str, Any]] = [
        {"id": 0, "u": "bojan"},
        {"id": 1, "u": ["jan", "simon"]},
        {"id": 2, "u": ["bojan", "simon"]},
        {"id": 3, "u": None},
        {"id": 4, "u": [True]},
        {"id": 5, "u": 1},
    ]
    gen = GenerationMemory().put("ns", 1, ds)
    assert gen.candidates(["u", "In", ["bojan"]]) == {0, 2}
    assert gen.candidates(["u", "In", "simon"]) == {1, 2}
    assert gen.candidates(["u", "In", [1]]) == {5}
    assert gen.candidates(["u", "In", True]) == {4}
    assert gen.candidates(["u", "Eq", "bojan"]) == {0}
    assert gen.candidates(["u", "In", [None]]) is None  # null: no handle
    assert gen.candidates(["u", "NotIn", ["bojan"]]) is None
    for f in (["u", "In", ["bojan"]], ["u", "In", "simon"], ["u", "In", True]):
        assert gen.candidates(f) == {i for i, d in enumerate(ds) if evaluate(f, d)}, f


def test_selective_filters_narrow() -> None:
    ds = [{"id": i, "b": f"b{i % 10}", "t": [f"t{i % 7}", "all"], "n": i % 3} for i in range(100)]
    gen = GenerationMemory().put("ns", 1, ds)
    assert gen.candidates(["b", "Eq", "b3"]) == {i for i in range(100) if i % 10 == 3}
    assert gen.candidates(["t", "Contains", "t1"]) == {i for i in range(100) if i % 7 == 1}
    both = gen.candidates(
        ["And", [["b", "Eq", "b3"], ["n", "Lt", 2], ["t", "ContainsAny", ["t1"]]]]
    )
    assert both == {i for i in range(100) if i % 10 == 3 and i % 7 == 1 and i % 3 < 2}
    assert gen.candidates(["Or", [["b", "Eq", "b3"], ["n", "Gte", 2]]]) == {
        i for i in range(100) if i % 10 == 3 or i % 3 == 2
    }
    assert gen.candidates(["Or", [["b", "Eq", "b3"], ["b", "Glob", "b*"]]]) is None
    assert gen.candidates(["Not", ["b", "Eq", "b3"]]) is None
    assert gen.candidates(["b", "In", []]) == set()
    assert gen.candidates(["n", "Eq", 1.0]) == {i for i in range(100) if i % 3 == 1}
    assert gen.candidates(["n", "Eq", True]) == set()  # bools never equal numbers


def test_budget_evicts_least_recent_and_old_generations() -> None:
    mem = GenerationMemory(budget=10)
    mem.put("a", 1, [{"id": 1}] * 6)
    mem.put("b", 1, [{"id": 1}] * 3)
    assert mem.get("a", 1) is not None  # now most recent
    mem.put("c", 1, [{"id": 1}] * 4)
    assert mem.get("b", 1) is None and mem.get("a", 1) is not None
    mem.put("a", 2, [{"id": 2}])
    assert mem.get("a", 1) is None and mem.get("a", 2) is not None
    mem.forget("a")
    assert mem.get("a", 2) is None


def test_range_index_bisects_numbers_and_keeps_nulls_for_lt() -> None:
    ds: list[dict[str, Any]] = [
        {"p": 5},
        {"p": 1.5},
        {},
        {"p": None},
        {"p": "3"},
        {"p": True},
        {"p": 3},
        {"p": [1, 2]},
        {"p": 3.0},
    ]
    gen = GenerationMemory().put("ns", 1, ds)
    assert gen.candidates(["p", "Lt", 3]) == {1, 2, 3}  # 1.5, missing, null
    assert gen.candidates(["p", "Lte", 3]) == {1, 2, 3, 6, 8}
    assert gen.candidates(["p", "Gt", 3]) == {0}
    assert gen.candidates(["p", "Gte", 3]) == {0, 6, 8}
    assert gen.candidates(["p", "Gt", "2"]) is None  # a string bound: no handle
    for f in (["p", "Lt", 3], ["p", "Lte", 3], ["p", "Gt", 3], ["p", "Gte", 3]):
        assert gen.candidates(f) == {i for i, d in enumerate(ds) if evaluate(f, d)}, f
