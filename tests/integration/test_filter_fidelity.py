"""The shared evaluator against the emulator's query path, over HTTP.

The document cache counts with ``common.filters``; the emulator answers queries through
its own query path (id-range narrowing, attribute order, aggregations). For a fixed set
of documents with arrays, nulls and missing attributes and for random filters (In/NotIn
on arrays and with bare scalars, the Glob family, comparisons with null), the ids the
emulator returns must be exactly the ids the evaluator accepts. A filter the emulator
refuses (400: for example a type check the evaluator does not model) is outside what
both apply to and is skipped.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from common.filters import compile_filter
from emulator.server import EmulatorServer
from tests.integration.helpers import write_docs

NS = "fidelity"
WORDS = ["red", "blue", "Red", "bojan", "simon", "a/b", "é", "x,y"]


def _docs() -> list[dict[str, Any]]:
    rng = random.Random(13)
    out: list[dict[str, Any]] = []
    for i in range(1, 121):
        doc: dict[str, Any] = {"id": i}
        if rng.random() < 0.8:
            doc["color"] = rng.choice([*WORDS, None])
        if rng.random() < 0.8:
            doc["n"] = rng.choice([-2, 0, 1, 3, 7, None])
        if rng.random() < 0.8:
            doc["tags"] = rng.sample(WORDS, rng.randint(0, 3))
        if rng.random() < 0.5:
            doc["flag"] = rng.random() < 0.5
        out.append(doc)
    return out


DOCS = _docs()

words = st.sampled_from(WORDS)
numbers = st.sampled_from([-2, 0, 1, 2.5, 3, 7])
# Each attribute's values keep their schema type (the emulator may refuse a mismatch).
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "color": words,
    "tags": words,
    "n": numbers,
    "flag": st.booleans(),
    "id": st.one_of(st.integers(0, 121), st.sampled_from([1.0, 7.0, 2.5])),  # 1.0 == id 1
    "missing": st.one_of(words, numbers, st.booleans()),
}
attrs = st.sampled_from(sorted(VALUES))


def _leaf(attr: str) -> st.SearchStrategy[list[Any]]:
    v = VALUES[attr]
    nullable = st.one_of(st.none(), v)
    cases = [
        st.tuples(st.just(attr), st.sampled_from(["Eq", "NotEq"]), nullable),
        st.tuples(
            st.just(attr),
            st.sampled_from(["In", "NotIn"]),
            st.one_of(nullable, st.lists(nullable, max_size=3)),
        ),
        st.tuples(st.just(attr), st.sampled_from(["Lt", "Lte", "Gt", "Gte"]), nullable),
    ]
    if attr == "tags":
        cases += [
            st.tuples(st.just(attr), st.sampled_from(["Contains", "NotContains"]), words),
            st.tuples(
                st.just(attr),
                st.sampled_from(["ContainsAny", "NotContainsAny"]),
                st.lists(words, max_size=3),
            ),
        ]
    if attr in ("color", "tags", "missing"):
        cases.append(
            st.tuples(
                st.just(attr),
                st.sampled_from(["Glob", "NotGlob", "IGlob", "NotIGlob"]),
                st.sampled_from(
                    ["r*", "{red,blue}", "[!r]*", "?ed", "RED", "a/*", "*,*", "[b-s]*"]
                ),
            )
        )
    return st.one_of(*cases).map(list)


def leaves() -> st.SearchStrategy[list[Any]]:
    return attrs.flatmap(_leaf)


filters = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["And", "Or"]), st.lists(inner, min_size=1, max_size=3)).map(
            list
        ),
        st.tuples(st.just("Not"), inner).map(list),
    ),
    max_leaves=5,
)


@pytest.fixture
def loaded(emulator: EmulatorServer) -> str:
    write_docs(emulator.url, NS, DOCS)
    return emulator.url


def _query(url: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{url}/v2/namespaces/{NS}/query", json=body, timeout=10)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(f=filters, desc=st.booleans(), id_floor=st.one_of(st.none(), st.integers(0, 120)))
def test_emulator_returns_what_the_evaluator_accepts(
    loaded: str, f: Any, desc: bool, id_floor: int | None
) -> None:
    # The export pattern ANDs an id bound in: that takes the emulator's id-range path.
    full = f if id_floor is None else ["And", [f, ["id", "Gt", id_floor]]]
    r = _query(
        loaded,
        {"rank_by": ["id", "desc" if desc else "asc"], "limit": 1000, "filters": full},
    )
    if r.status_code == 400:
        note(f"emulator refused: {r.text}")
        return
    assert r.status_code == 200, r.text
    pred = compile_filter(full)
    want = [d["id"] for d in DOCS if pred(d)]
    got = [row["id"] for row in r.json()["rows"]]
    assert got == (want[::-1] if desc else want), full
    agg = _query(loaded, {"aggregate_by": {"n": ["Count"]}, "filters": full})
    assert agg.status_code == 200, agg.text
    assert agg.json()["aggregations"]["n"] == len(want)


def test_id_in_with_an_integral_float(emulator: EmulatorServer) -> None:
    """``id In [1.0]`` matches id 1, as ``Eq 1.0`` does (the id-range shortcut once missed it)."""
    write_docs(emulator.url, "ids", [{"id": 1}, {"id": 2}])
    for f in (["id", "In", [1.0]], ["id", "In", [1.0, 2]], ["id", "Eq", 1.0], ["id", "In", 1.0]):
        r = requests.post(
            f"{emulator.url}/v2/namespaces/ids/query",
            json={"rank_by": ["id", "asc"], "limit": 5, "filters": f},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert [row["id"] for row in r.json()["rows"]] == ([1, 2] if f[2] == [1.0, 2] else [1]), f


def test_sdk_live_suite_filters_through_the_emulator(emulator: EmulatorServer) -> None:
    """The SDK's ``test_attribute_types`` queries, with its expected row counts."""
    write_docs(
        emulator.url,
        "types",
        [
            {"id": 7, "count": 1, "users": ["jan", "simon"]},
            {"id": 9, "count": 2, "users": ["bojan", "morgan", "simon"]},
        ],
    )
    cases = [
        (["And", [["count", "Gt", 1], ["users", "In", ["simon"]]]], 1),
        (["Or", [["count", "Eq", 1], ["users", "In", "bojan"]]], 2),
        (["And", [["count", "Eq", 1], ["users", "In", "bojan"]]], 0),
        (["And", [["count", "Eq", 1], ["Or", [["users", "In", "bojan"], ["count", "Gt", 0]]]]], 1),
    ]
    for f, n in cases:
        r = requests.post(
            f"{emulator.url}/v2/namespaces/types/query",
            json={"rank_by": ["id", "asc"], "limit": 5, "filters": f},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert len(r.json()["rows"]) == n, f
