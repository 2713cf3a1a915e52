"""PagedListing: cursors per page, a bounded window, moved page boundaries."""

from __future__ import annotations

import tracemalloc

import pytest

from tui.fake import decode_cursor, encode_cursor, many
from tui.paging import PagedListing


def names(k: int, size: int = 3) -> list[str]:
    return [f"n{k * size + i:03d}" for i in range(size)]


def test_cursors_are_learned_and_the_window_slides() -> None:
    listing = PagedListing(page_size=3, window=3)
    for k in range(5):
        result = listing.put(k, names(k), f"c{k + 1}")
        assert result.dropped_pages == ([] if k < 3 else [k - 3])
    assert sorted(listing.pages) == [2, 3, 4]
    assert listing.cursors == [None, "c1", "c2", "c3", "c4", "c5"]
    assert listing.held_names() == names(2) + names(3) + names(4)
    assert listing.position("n013") == 13
    assert listing.known(5) and not listing.known(6)
    # Going back up drops the far end.
    result = listing.put(1, names(1), "c2")
    assert result.dropped_pages == [4] and sorted(listing.pages) == [1, 2, 3]


def test_the_last_page_fixes_the_end_and_the_total() -> None:
    listing = PagedListing(page_size=3, window=3)
    listing.put(0, names(0), "c1")
    assert listing.approx_total() is None
    listing.put(1, ["n003"], None)
    assert listing.end == 1 and listing.approx_total() == 4
    assert not listing.known(2)


def test_a_moved_boundary_forgets_later_cursors_and_pages() -> None:
    listing = PagedListing(page_size=3, window=3)
    for k in range(3):
        listing.put(k, names(k), f"c{k + 1}")
    listing.learn(3, "c4")
    # Page 0 now ends earlier (a namespace created inside it): pages 1, 2 are stale.
    result = listing.put(0, ["n000", "n000a", "n001"], "c1'")
    assert sorted(result.dropped_pages) == [1, 2]
    assert set(result.vanished) == set(names(1) + names(2) + ["n002"])
    assert listing.cursors == [None, "c1'"] and listing.end is None
    assert sorted(listing.pages) == [0]


def test_next_follows_keeps_the_page_being_reread() -> None:
    listing = PagedListing(page_size=3, window=3)
    for k in range(3):
        listing.put(k, names(k), f"c{k + 1}")
    result = listing.put(0, ["n000", "n000a", "n001"], "c1'", next_follows=True)
    assert result.dropped_pages == [2] and 1 in listing.pages
    result = listing.put(1, ["n002", "n003", "n004"], "c2'")
    # n002 moved from page 0's range into page 1's: held once, under page 1.
    assert listing.page_of["n002"] == 1 and "n005" in result.vanished
    assert listing.held_names() == ["n000", "n000a", "n001", "n002", "n003", "n004"]


def test_a_name_moving_between_held_pages_is_held_once() -> None:
    listing = PagedListing(page_size=3, window=3)
    listing.put(0, ["a", "b", "c"], "c1")
    listing.put(1, ["d", "e", "f"], "c2")
    listing.put(1, ["c", "d", "e"], "c2")  # c now starts page 1
    assert listing.pages[0] == ["a", "b"] and listing.page_of["c"] == 1
    assert listing.held_names() == ["a", "b", "c", "d", "e"]


def test_reset_keeps_cursors() -> None:
    listing = PagedListing(page_size=3, window=3)
    listing.put(0, names(0), "c1")
    assert listing.reset() == names(0)
    assert listing.pages == {} and listing.page_of == {} and listing.cursors == [None, "c1"]


def test_bad_sizes() -> None:
    with pytest.raises(ValueError):
        PagedListing(page_size=0, window=3)


def test_the_fake_million_is_lazy_and_pages_like_the_api() -> None:
    tracemalloc.start()
    try:
        fake = many(1_000_000)
        page = fake.list_namespaces(page_size=1000)
        size, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size < 5_000_000  # a million namespaces, a page of rows held at most
    assert len(page["namespaces"]) == 1000
    assert decode_cursor(page["next_cursor"]) == "ns-000999"
    last = fake.list_namespaces(cursor=encode_cursor("ns-999997"), page_size=1000)
    assert [r["name"] for r in last["namespaces"]] == ["ns-999998", "ns-999999"]
    assert last["next_cursor"] is None
    stuck = fake.list_namespaces(state="stuck", page_size=50)
    assert all(r["index_stuck_since_ms"] is not None for r in stuck["namespaces"])
    errored = fake.list_namespaces(state="error", page_size=50, prefix="ns-01")
    assert all(r["metadata_error"] and r["name"].startswith("ns-01") for r in errored["namespaces"])
    summary = fake.summary()
    assert summary["namespaces"] == 1_000_000
    assert (summary["unstable"], summary["stuck"], summary["errored"]) == (30_000, 10_000, 10_000)


def test_the_fake_refuses_a_bad_state_and_cursor() -> None:
    from common.api_client import LayerAPIError

    fake = many(10)
    with pytest.raises(LayerAPIError) as err:
        fake.list_namespaces(state="sleepy")
    assert err.value.status == 400
    with pytest.raises(LayerAPIError):
        fake.list_namespaces(cursor="!!not base64!!")
