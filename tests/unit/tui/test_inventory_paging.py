"""The inventory at scale: a window of pages over the fake's lazy listing.

The fake (``tui.fake.many``) makes rows on demand, so what the screen holds is the
dashboard's own memory; its calls are counted to check what each action reads.
Pages of 100 rows and a window of 3 pages keep the tests quick; the logic is the
same as with the default 1000 x 3.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from common.api_client import LayerAPIError
from tests.unit.tui import payloads
from tests.unit.tui.helpers import settle, wait_until
from tui.app import LayerDashboard
from tui.fake import FakeLayerClient, decode_cursor, many
from tui.screens.inventory import InventoryScreen
from tui.widgets.table import cursor_key

SIZE = (100, 30)
PAGE = 100
WINDOW = 3
N = 20_000


def client(n: int = N) -> FakeLayerClient:
    return many(n, now_ms=payloads.NOW_MS)


def inventory(app: LayerDashboard) -> InventoryScreen:
    assert isinstance(app.screen, InventoryScreen)
    return app.screen


def header(app: LayerDashboard) -> str:
    return str(app.screen.query_one("#summary", Static).render())


def table_names(app: LayerDashboard) -> list[str]:
    return [str(r.key.value) for r in inventory(app).table.ordered_rows]


def list_calls(fake: FakeLayerClient) -> list[tuple[Any, ...]]:
    return fake.calls_to("list_namespaces")


def cursor_name(app: LayerDashboard) -> str | None:
    return cursor_key(inventory(app).table)


def index(name: str | None) -> int:
    assert name is not None and name.startswith("ns-")
    return int(name[3:])


def assert_bounded(app: LayerDashboard) -> None:
    screen = inventory(app)
    limit = PAGE * WINDOW
    assert len(screen.rows) <= limit
    assert screen.table.row_count <= limit
    assert len(screen.listing.pages) <= WINDOW
    for cache in (screen._all_cells, screen._search, screen._times, screen.listing.page_of):
        assert len(cache) <= limit


def assert_contiguous(app: LayerDashboard) -> None:
    """The table shows consecutive namespaces, in order, without gaps or repeats."""
    got = [index(n) for n in table_names(app)]
    assert got == list(range(got[0], got[0] + len(got)))


async def press_until(
    pilot: Pilot[Any], key: str, cond: Callable[[], bool], limit: int = 400
) -> None:
    for _ in range(limit):
        if cond():
            return
        await pilot.press(key)
        await settle(pilot, rounds=1)
    raise AssertionError(f"pressing {key} {limit} times did not get there")


@contextlib.asynccontextmanager
async def running(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> AsyncIterator[tuple[LayerDashboard, Pilot[Any]]]:
    """The dashboard over ``fake``, started and settled on its first page."""
    # No timed refresh: under load a test can outlast any interval, and these count calls.
    app = make_app(fake, refresh_s=3600.0, page_size=PAGE, window_pages=WINDOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        yield app, pilot


async def test_first_paint_reads_one_page_and_the_summary(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = client(1_000_000)
    async with running(make_app, fake) as (app, pilot):
        assert list_calls(fake) == [(None, None, PAGE, None)]
        assert len(fake.calls_to("summary")) == 1
        assert table_names(app)[:2] == ["ns-000000", "ns-000001"]
        assert inventory(app).table.row_count == PAGE
        text = header(app)
        for part in (
            "1,000,000 namespaces",
            "30,000 unstable",
            "10,000 stuck",
            "10,000 errored",
            "shards 16/16",
            "row 1 of 1,000,000",
            "100 loaded",
        ):
            assert part in text


async def test_scrolling_reads_the_next_pages_and_keeps_a_bounded_window(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = client()
    async with running(make_app, fake) as (app, pilot):
        # Hold pagedown to row ~1,250: pages are read ahead, the first ones dropped.
        await press_until(pilot, "pagedown", lambda: index(cursor_name(app)) >= 1250)
        await settle(pilot)
        screen = inventory(app)
        assert_bounded(app)
        assert_contiguous(app)
        row = index(cursor_name(app))
        assert f"row {row + 1:,} of 20,000" in header(app)
        held = sorted(screen.listing.pages)
        assert held[-1] == row // PAGE + 1 or held[-1] == row // PAGE  # the page ahead
        assert 0 not in held
        # Each page was read once, from the cursor the page before returned.
        cursors = [args[1] for args in list_calls(fake)]
        assert cursors[0] is None
        assert [decode_cursor(c) for c in cursors[1:]] == [
            f"ns-{k * PAGE - 1:05d}" for k in range(1, len(cursors))
        ]


async def test_scrolling_back_reads_the_page_before(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = client()
    async with running(make_app, fake) as (app, pilot):
        await press_until(pilot, "pagedown", lambda: index(cursor_name(app)) >= 900)
        await settle(pilot)
        screen = inventory(app)
        assert min(screen.listing.pages) > 0
        before = len(list_calls(fake))
        await press_until(pilot, "pageup", lambda: index(cursor_name(app)) < 150)
        await settle(pilot)
        assert 0 in screen.listing.pages
        assert len(list_calls(fake)) > before  # earlier pages read again, from their cursors
        assert_bounded(app)
        assert_contiguous(app)
        # The cursor stays on its namespace while pages come and go above it.
        name = cursor_name(app)
        await settle(pilot)
        assert cursor_name(app) == name


async def test_jump_to_end_follows_the_cursors_then_costs_one_page(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = client()
    async with running(make_app, fake) as (app, pilot):
        await pilot.press("G")
        await wait_until(pilot, lambda: cursor_name(app) == "ns-19999", timeout=20)
        await settle(pilot)
        screen = inventory(app)
        assert table_names(app)[-1] == "ns-19999"
        # Every page read once on the way (the cursors are opaque: no shortcut), plus at
        # most the page before the last, read again to fill the screen above it.
        cursors = [c[1] for c in list_calls(fake)]
        assert len(set(cursors)) == N // PAGE and len(cursors) <= N // PAGE + 1
        assert screen.listing.end == N // PAGE - 1
        assert "row 20,000 of 20,000" in header(app)
        assert_bounded(app)
        # Back to the top: page 0, one call; to the end again: its cursor is known.
        await pilot.press("g")
        await wait_until(pilot, lambda: cursor_name(app) == "ns-00000")
        await settle(pilot)
        calls = len(list_calls(fake))
        await pilot.press("end")
        await wait_until(pilot, lambda: cursor_name(app) == "ns-19999")
        await settle(pilot)
        jumps = list_calls(fake)[calls:]
        assert jumps[0] == (None, decode_and_encode(f"ns-{N - PAGE - 1:05d}"), PAGE, None)
        assert len(jumps) <= 2  # the last page, and the one before it to fill the screen
        await pilot.press("home")
        await wait_until(pilot, lambda: cursor_name(app) == "ns-00000")


def decode_and_encode(name: str) -> str:
    from tui.fake import encode_cursor

    return encode_cursor(name)


async def test_jump_to_end_shows_progress_and_g_cancels_it(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = client()
    fake.latency_s = 0.02
    async with running(make_app, fake) as (app, pilot):
        await pilot.press("G")
        await wait_until(pilot, lambda: "→ end: " in header(app) and "pages read" in header(app))
        assert table_names(app)[0] == "ns-00000"  # the rows stay until the end arrives
        await pilot.press("g")
        await settle(pilot)
        screen = inventory(app)
        assert screen._walking is None and "→ end" not in header(app)
        read = len(list_calls(fake))
        await pilot.pause(0.2)
        assert len(list_calls(fake)) <= read + 1  # the walk stopped
        assert cursor_name(app) == "ns-00000"
        assert screen.listing.last_known >= 1  # the cursors it found are kept


async def test_state_filter_is_sent_to_the_server(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = client()
    async with running(make_app, fake) as (app, pilot):
        table = inventory(app).table
        await pilot.press("f")
        await settle(pilot)
        assert list_calls(fake)[-1] == (None, None, PAGE, "unstable")
        screen = inventory(app)
        assert screen.rows and all(not r["is_stable"] for r in screen.rows.values())
        assert "state=unstable" in header(app) and "row 1 of 600" in header(app)
        await pilot.press("f")
        await settle(pilot)
        assert list_calls(fake)[-1][3] == "stuck"
        first = table_names(app)[0]
        assert str(table.get_cell(first, "fresh")).startswith("‖ ")
        assert "row 1 of 200" in header(app)
        await pilot.press("f")
        await settle(pilot)
        assert list_calls(fake)[-1][3] == "error"
        assert all(str(table.get_cell(n, "mark")) == "!" for n in table_names(app))
        await pilot.press("f")
        await settle(pilot)
        assert list_calls(fake)[-1][3] is None
        assert table_names(app)[0] == "ns-00000"
        # Paging follows the state's own cursors.
        await pilot.press("f")
        await settle(pilot)
        await pilot.press("G")
        await wait_until(pilot, lambda: inventory(app).listing.end is not None, timeout=20)
        await settle(pilot)
        assert all(call[3] == "unstable" for call in list_calls(fake)[-6:])
        assert "row 600 of 600" in header(app)


async def test_prefix_is_sent_to_the_server(make_app: Callable[..., LayerDashboard]) -> None:
    fake = client()
    async with running(make_app, fake) as (app, pilot):
        await pilot.press("p", *"ns-1999", "enter")
        await settle(pilot)
        assert list_calls(fake)[-1] == ("ns-1999", None, PAGE, None)
        assert table_names(app) == [f"ns-1999{i}" for i in range(10)]
        assert "prefix=ns-1999" in header(app)
        assert "row 1 of 10" in header(app)  # the last page is held: the count is exact


async def test_refresh_rereads_only_the_pages_on_screen(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = client()
    async with running(make_app, fake) as (app, pilot):
        await press_until(pilot, "pagedown", lambda: index(cursor_name(app)) >= 520)
        await settle(pilot)
        screen = inventory(app)
        visible = screen.visible_pages()
        assert 1 <= len(visible) <= 2 and len(screen.listing.pages) == WINDOW
        expected = [screen.listing.cursor(k) for k in visible]
        name = cursor_name(app)
        assert name is not None
        fake.update_namespace(name, row_count=123_456_789)
        calls, summaries = len(list_calls(fake)), len(fake.calls_to("summary"))
        await pilot.press("r")
        await settle(pilot)
        reread = list_calls(fake)[calls:]
        assert [c[1] for c in reread] == expected  # the visible pages, nothing else
        assert len(fake.calls_to("summary")) == summaries + 1
        assert str(screen.table.get_cell(name, "rows")) == "123.5M"
        assert cursor_name(app) == name


async def test_a_moved_page_boundary_drops_the_pages_after_it(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = client()
    async with running(make_app, fake) as (app, pilot):
        await press_until(pilot, "pagedown", lambda: 2 in inventory(app).listing.pages)
        await pilot.press("g")
        await settle(pilot)
        screen = inventory(app)
        assert {0, 1} <= set(screen.listing.pages)
        fake.add_namespace(payloads.ns_row("ns-00042a"))  # inside page 0
        await pilot.press("r")
        await settle(pilot)
        assert "ns-00042a" in screen.rows
        assert screen.listing.pages[0][-1] == "ns-00098"  # page 0 now ends one earlier
        names = table_names(app)
        assert len(names) == len(set(names))  # no repeats, no gap at the boundary
        assert names[: names.index("ns-00042a")] == [f"ns-{i:05d}" for i in range(43)]
        await press_until(pilot, "pagedown", lambda: index(cursor_name(app)) >= 150)
        await settle(pilot)
        assert "ns-00099" in table_names(app)  # re-read from page 0's new cursor


async def test_sort_and_filter_apply_to_the_loaded_rows(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = client()
    async with running(make_app, fake) as (app, pilot):
        screen = inventory(app)
        screen.set_sort("size")
        await settle(pilot)
        assert "sort size ▲ (loaded rows)" in header(app)
        sizes = [screen.rows[n].get("size_bytes") or -1 for n in table_names(app)]
        assert sizes == sorted(sizes)
        calls = len(list_calls(fake))
        await pilot.press("G")  # within the loaded rows: no walk
        await settle(pilot)
        assert len(list_calls(fake)) == calls
        assert screen.table.cursor_row == screen.table.row_count - 1
        screen.set_sort("name")
        await pilot.press("slash", *"ns-0001")
        await wait_until(pilot, lambda: screen.filter_text == "ns-0001")
        assert table_names(app) == [f"ns-0001{i}" for i in range(10)]
        assert f"filter=ns-0001 (10 of {len(screen.rows)} loaded)" in header(app)
        await pilot.press("escape")
        await settle(pilot)
        assert screen.table.row_count >= PAGE


async def test_summary_failure_keeps_the_listing(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = client(500)
    original = fake.summary

    def missing() -> dict[str, Any]:
        raise LayerAPIError(404, "not_found", "no such route")

    fake.summary = missing  # type: ignore[method-assign]
    async with running(make_app, fake) as (app, pilot):
        assert "no summary: this backend has no /v2/namespaces/summary" in header(app)
        assert inventory(app).table.row_count == PAGE
        assert not inventory(app).banner.shown
        fake.summary = original  # type: ignore[method-assign]
        await pilot.press("r")
        await settle(pilot)
        assert "500 namespaces" in header(app)

        def failing() -> dict[str, Any]:
            raise LayerAPIError(503, "unavailable", "kv down")

        fake.summary = failing  # type: ignore[method-assign]
        await pilot.press("r")
        await settle(pilot)
        text = header(app)
        assert "500 namespaces" in text  # the last good summary stays, marked stale
        assert "summary stale: 503 unavailable: kv down" in text


async def test_a_jump_during_a_refresh_leaves_auto_refresh_running(
    make_app: Callable[..., LayerDashboard],
) -> None:
    import time

    fake = client()
    app = make_app(fake, refresh_s=0.3, page_size=PAGE, window_pages=WINDOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_until(pilot, "pagedown", lambda: 0 not in inventory(app).listing.pages)
        await settle(pilot)
        original = fake.list_namespaces

        def slow_pages(
            prefix: str | None = None,
            cursor: str | None = None,
            page_size: int = 1000,
            state: str | None = None,
        ) -> dict[str, Any]:
            if cursor is not None:  # the refresh of the pages on screen; page 0 is quick
                time.sleep(0.5)
            return original(prefix, cursor, page_size, state)

        fake.list_namespaces = slow_pages  # type: ignore[method-assign]
        screen = inventory(app)
        screen.action_refresh()
        await pilot.press("g")  # lands before that refresh does
        await wait_until(pilot, lambda: cursor_name(app) == "ns-00000")
        await pilot.pause(0.8)  # the refresh of the old view arrives, and is set aside
        fake.list_namespaces = original  # type: ignore[method-assign]
        done = screen.refresh_count
        await wait_until(pilot, lambda: screen.refresh_count > done, timeout=10)
        assert cursor_name(app) == "ns-00000"
