"""The emulator's ``group_by`` over the arrays of bulk namespaces, which hold them as
shared tuples: ForEachUnique groups by element, as for arrays written as lists."""

from __future__ import annotations

from collections import Counter

import pytest

from emulator.aggregate import aggregate
from emulator.demo import make_bulk
from emulator.state import BadRequest


def _key(v: object) -> tuple[int, object]:
    return (0, "") if v is None else (1, v)


def test_foreachunique_groups_tuple_arrays_by_distinct_element() -> None:
    ns = make_bulk(0, "big", 2000)
    docs = list(ns.docs.values())
    assert isinstance(docs[0]["tags"], tuple)
    body = {"aggregate_by": {"n": ["Count"]}, "group_by": [{"tags": ["ForEachUnique", "tags"]}]}
    got = aggregate(docs, body, ns.schema, 10_000, _key)["aggregation_groups"]
    want = Counter(t for d in docs for t in set(d["tags"]))
    assert {g["tags"]: g["n"] for g in got} == want
    as_lists = [{**d, "tags": [*d["tags"], d["tags"][0]]} for d in docs]  # a repeat
    again = aggregate(as_lists, body, ns.schema, 10_000, _key)["aggregation_groups"]
    assert again == got


def test_a_plain_group_on_a_tuple_array_is_refused() -> None:
    ns = make_bulk(0, "big", 10)
    body = {"aggregate_by": {"n": ["Count"]}, "group_by": ["tags"]}
    with pytest.raises(BadRequest, match="holds an array"):
        aggregate(list(ns.docs.values()), body, {}, 10, _key)
