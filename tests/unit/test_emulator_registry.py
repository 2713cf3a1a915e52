"""The emulator's registry at size: compact idle names, bisect listing, lazy namespaces."""

from __future__ import annotations

import random

import pytest

from emulator.demo import SmallFamily, load_many
from emulator.query import run_query
from emulator.state import BadRequest, NotFound, State

N = 100_000


@pytest.fixture(scope="module")
def big() -> State:
    state = State(index_lag_ms=0, clock=lambda: 2_000_000_000_000)
    made = load_many(state, {"t-": N, "t-1": 30, "u.": 7})
    assert made == [("t-", 3 * N), ("t-1", 90), ("u.", 18)]
    return state


def _all(state: State, prefix: str, page: int) -> list[str]:
    out: list[str] = []
    after = None
    while True:
        names, more = state.list_names(prefix, after, page)
        assert len(names) <= page
        out += names
        if not more:
            return out
        assert names, "more pages promised after an empty page"
        after = names[-1]


def test_many_names_listed_once_in_order(big: State) -> None:
    expected = sorted(
        [f"t-{i:05d}" for i in range(N)]
        + [f"t-1{i:05d}" for i in range(30)]
        + [f"u.{i:05d}" for i in range(7)]
    )
    assert big.count() == len(expected)
    assert _all(big, "", 1000) == expected
    assert big.registry.materialized() == 0  # listing builds nothing


@pytest.mark.parametrize("prefix", ["t-1", "t-0999", "t-99999", "u.", "t-100000", "zz", "t-5"])
def test_prefix_and_cursor(big: State, prefix: str) -> None:
    names = big.names()
    expected = [n for n in names if n.startswith(prefix)]
    assert _all(big, prefix, 7) == expected
    assert _all(big, prefix, 1000) == expected
    if len(expected) > 3:
        mid = expected[len(expected) // 2]
        page, _ = big.list_names(prefix, mid, 3)
        assert page == expected[len(expected) // 2 + 1 :][:3]
    # a cursor before the prefix's range starts at the range
    page, _ = big.list_names(prefix, "a", 2)
    assert page == expected[:2]


def test_exact_page_has_no_more(big: State) -> None:
    names, more = big.list_names("u.", None, 7)
    assert len(names) == 7 and not more
    names, more = big.list_names("u.", None, 6)
    assert len(names) == 6 and more


def test_idle_metadata_is_built_not_kept(big: State) -> None:
    ns = big.peek("t-00003")
    again = big.peek("t-00003")
    assert ns is not again and big.registry.materialized() == 0
    assert len(ns.docs) == 4 and ns.ids == [1, 2, 3, 4]
    assert ns.docs == again.docs and ns.created_ms == again.created_ms
    assert ns.last_write_ms == max(d["_layer_written_ms"] for d in ns.docs.values())
    assert ns.logical_bytes > 0 and ns.schema["id"] == {"type": "uint"}
    assert ns.schema["status"]["type"] == "string"
    with pytest.raises(NotFound):
        big.peek("u.00007")  # one past the family's end
    with pytest.raises(NotFound):
        big.peek("t-3")  # not a generated suffix


def test_write_materializes_the_documents_the_metadata_described() -> None:
    state = State(index_lag_ms=1000, clock=lambda: 2_000_000_000_000)
    load_many(state, {"w-": 50})
    before = state.peek("w-00012")
    state.write("w-00012", {"upsert_rows": [{"id": 9, "status": "new"}]})
    after = state.get("w-00012")
    assert state.registry.materialized() == 1
    assert set(after.docs) == {1, 2, 3, 9}
    assert {k: after.docs[k] for k in (1, 2, 3)} == before.docs
    assert state.is_updating(after) and after.last_write_ms == 2_000_000_000_000
    rows = run_query(after, {"rank_by": ["id", "asc"], "limit": 10})["rows"]
    assert [r["id"] for r in rows] == [1, 2, 3, 9]
    with pytest.raises(BadRequest):
        state.write("w-00013", {"upsert_rows": [{"id": "str-id"}]})  # ids are uints


def test_delete_and_recreate_an_idle_name() -> None:
    state = State(index_lag_ms=0, clock=lambda: 5)
    load_many(state, {"d-": 10})
    state.delete("d-00004")
    with pytest.raises(NotFound):
        state.peek("d-00004")
    with pytest.raises(NotFound):
        state.delete("d-00004")
    assert "d-00004" not in state.list_names("d-", None, 100)[0]
    state.write("d-00004", {"upsert_rows": [{"id": 1}]})
    assert len(state.get("d-00004").docs) == 1  # a new, empty namespace, not the generated one
    assert state.count() == 10


def test_created_names_interleave_with_a_family() -> None:
    state = State(index_lag_ms=0, clock=lambda: 5)
    state.write("f-00003x", {"upsert_rows": [{"id": 1}]})
    state.write("f-00002", {"upsert_rows": [{"id": 1}, {"id": 2}]})  # before the family exists
    added = load_many(state, {"f-": 5})
    assert added == [("f-", 15)]
    assert state.count() == 6
    assert _all(state, "f-", 2) == [
        "f-00000", "f-00001", "f-00002", "f-00003", "f-00003x", "f-00004",
    ]  # fmt: skip
    assert len(state.get("f-00002").docs) == 2  # the written one stays


def test_random_name_stays_in_prefix(big: State) -> None:
    rng = random.Random(1)
    picks = {big.registry.random_name("t-1", rng) for _ in range(300)}
    assert all(p is not None and p.startswith("t-1") for p in picks)
    assert len(picks) > 200  # drawn from the whole range, not one corner
    assert big.registry.random_name("nope", rng) is None


def test_family_index_rejects_near_misses() -> None:
    fam = SmallFamily("p-", 1000)
    assert fam.index("p-00999") == 999
    for bad in ("p-01000", "p-999", "p-0099a", "p-", "p-٠٠٠٠١", "p-000001"):
        assert fam.index(bad) is None, bad
