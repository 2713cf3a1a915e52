"""The emulator's store in-process: the sorted id index stays true to the documents."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.query import run_query
from emulator.state import BadRequest, NotFound, State

ids = st.integers(0, 60)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), st.lists(ids, max_size=40)),
        st.tuples(st.just("patch"), st.lists(ids, max_size=10)),
        st.tuples(st.just("delete"), st.lists(ids, max_size=40)),
        st.tuples(st.just("delete_by_filter"), ids),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_writes_keep_ids_sorted_and_queries_consistent(steps: list[tuple[str, Any]]) -> None:
    state = State(index_lag_ms=0, clock=lambda: 1_000)
    model: dict[int, dict[str, Any]] = {}
    for kind, arg in steps:
        if kind == "upsert":
            if not arg:
                continue
            arg = list(dict.fromkeys(arg))  # duplicate ids in one write are 400
            state.write("n", {"upsert_rows": [{"id": i, "v": i % 7} for i in arg]})
            model.update({i: {"id": i, "v": i % 7} for i in arg})
        elif kind == "patch" and model:
            arg = list(dict.fromkeys(arg))
            state.write("n", {"patch_rows": [{"id": i, "p": True} for i in arg]})
            for i in arg:
                if i in model:
                    model[i] = {**model[i], "p": True}
        elif kind == "delete" and model:
            state.write("n", {"deletes": arg})
            for i in arg:
                model.pop(i, None)
        elif kind == "delete_by_filter" and model:
            state.write("n", {"delete_by_filter": ["id", "Lt", arg]})
            model = {k: v for k, v in model.items() if k >= arg}
    if not model and "n" not in state.names():
        return
    ns = state.get("n")
    assert ns.ids == sorted(model) == sorted(ns.docs)
    assert ns.docs == model
    for lo in (0, 10, 30):
        body = {
            "rank_by": ["id", "asc"],
            "limit": 5,
            "filters": ["And", [["id", "Gte", lo], ["v", "Lt", 4]]],
        }
        got = [r["id"] for r in run_query(ns, body)["rows"]]
        assert got == [i for i in sorted(model) if i >= lo and model[i]["v"] < 4][:5]
        body = {"rank_by": ["id", "desc"], "limit": 3, "filters": ["id", "Lt", lo]}
        got = [r["id"] for r in run_query(ns, body)["rows"]]
        assert got == [i for i in sorted(model, reverse=True) if i < lo][:3]


def test_index_lag_and_pending_bytes() -> None:
    now = [10_000]
    state = State(index_lag_ms=500, clock=lambda: now[0])
    state.write("n", {"upsert_rows": [{"id": 1, "s": "hello"}]})
    ns = state.get("n")
    assert state.is_updating(ns) and ns.pending_bytes > 0 and ns.pending_rows == 1
    now[0] += 499
    assert state.is_updating(ns)
    now[0] += 1
    assert not state.is_updating(ns)
    state.write("n", {"upsert_rows": [{"id": 2}]})
    assert state.is_updating(ns) and ns.pending_rows == 1  # the old backlog was indexed


def test_registry_errors() -> None:
    state = State()
    with pytest.raises(NotFound):
        state.get("x")
    with pytest.raises(BadRequest):
        state.write("bad/name", {"upsert_rows": [{"id": 1}]})
    with pytest.raises(NotFound):
        state.write("x", {"deletes": [1]})
    with pytest.raises(BadRequest):
        state.write("x", {})
