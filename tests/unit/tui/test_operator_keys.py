"""Issue 15: the keys and actions an operator expects (k9s/lazygit habits)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import DataTable, Footer, Input, Static

from tests.unit.tui import payloads
from tests.unit.tui.conftest import make_client
from tests.unit.tui.helpers import settle, wait_until
from tui.app import LayerDashboard
from tui.fake import FakeLayerClient
from tui.screens.activity import ActivityScreen
from tui.screens.keys import KeysScreen, key_lines
from tui.screens.namespace import NamespaceScreen
from tui.screens.new_snapshot import NewSnapshotScreen
from tui.widgets.histogram import Histogram, render_values
from tui.widgets.jobs import JobItem

SIZE = (100, 30)


async def open_products(app: LayerDashboard, pilot: object) -> NamespaceScreen:
    await settle(pilot)  # type: ignore[arg-type]
    app.open_namespace("products")
    await settle(pilot)  # type: ignore[arg-type]
    assert isinstance(app.screen, NamespaceScreen)
    return app.screen


async def test_vim_and_home_end_keys_move_in_the_inventory(
    make_app: Callable[..., LayerDashboard],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#inventory", DataTable)
        last = table.row_count - 1
        assert last > 3
        table.focus()
        for key, row in (("j", 1), ("j", 2), ("k", 1), ("G", last), ("g", 0)):
            await pilot.press(key)
            assert table.cursor_row == row, key
        # DataTable binds home/end to sideways scrolling, which on a row table did nothing.
        await pilot.press("end")
        assert table.cursor_row == last
        await pilot.press("home")
        assert table.cursor_row == 0


async def test_vim_keys_in_history_activity_and_jobs(
    make_app: Callable[..., LayerDashboard],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        history = screen.history_table
        assert history.has_focus
        await pilot.press("j", "j")
        assert history.cursor_row == 2
        loaded = history.row_count
        await pilot.press("G")  # the last loaded row (which pages in more history)
        assert history.cursor_row == loaded - 1
        await pilot.press("J")  # focus jobs: `j` now belongs to the tables
        jobs = screen.query_one("#jobs")
        assert jobs.has_focus
        await pilot.press("G")
        assert jobs.index == len(jobs) - 1  # type: ignore[arg-type]
        await pilot.press("g")
        assert jobs.index == 0  # type: ignore[attr-defined]
        app.push_screen(ActivityScreen())
        await settle(pilot)
        assert isinstance(app.screen, ActivityScreen)
        feed = app.screen.table
        assert feed.row_count > 1
        await pilot.press("j")
        assert feed.cursor_row == 1


async def test_key_map_lists_enter_on_the_namespace_screen(
    make_app: Callable[..., LayerDashboard],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        lines = dict(key_lines(screen))
        assert "enter" in lines and "snapshot" in lines["enter"]
        assert "g G / home end" in lines
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, KeysScreen)


def test_histogram_pages_and_finds_every_value() -> None:
    values = [{"v": f"value-{i:03d}", "n": 1000 - i} for i in range(130)]
    first = render_values("sku", values, 80).plain
    assert "value-000" in first and "value-019" in first and "value-020" not in first
    assert "values 1–20 of 130" in first
    second = render_values("sku", values, 80, page=1).plain
    assert "value-020" in second and "value-039" in second and "value-019" not in second
    last = render_values("sku", values, 80, page=99).plain  # clamped to the last page
    assert "values 121–130 of 130" in last and "value-129" in last
    found = render_values("sku", values, 80, find="12").plain
    assert "value-120" in found and "value-012" in found and "value-013" not in found
    assert "matching '12'" in found


async def test_histogram_keys_page_and_search(make_app: Callable[..., LayerDashboard]) -> None:
    values = [{"v": f"brand-{i:03d}", "n": 500 - i} for i in range(45)]
    client = make_client()
    sha = client.history("products")[0]["sha"]
    client._bodies[sha]["fields"] = [{"name": "brand", "values": values}]  # noqa: SLF001
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        await pilot.press("enter")
        await settle(pilot)
        histogram = screen.query_one(Histogram)
        assert "brand-000" in str(histogram.render())
        await pilot.press("right_square_bracket")
        assert "values 21–40 of 45" in str(histogram.render())
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert "brand-044" in str(histogram.render())
        await pilot.press("left_square_bracket")
        assert "values 21–40 of 45" in str(histogram.render())
        await pilot.press("f")
        box = screen.query_one("#value-find", Input)
        assert box.has_focus
        await pilot.press("0", "4", "4")
        await pilot.pause()
        text = str(histogram.render())
        assert "brand-044" in text and "brand-000" not in text
        await pilot.press("escape")  # clears the search, stays on the screen
        assert app.screen is screen
        assert "brand-000" in str(histogram.render())


async def test_form_keeps_what_was_typed_when_the_server_refuses(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, NewSnapshotScreen)
        # The form's footer shows its own keys.
        form.query_one(Footer)
        shown = {b.binding.key for b in form.active_bindings.values() if b.binding.show}
        assert {"ctrl+s", "escape"} <= shown
        typed = '["brand", "Foo", "Acme"]'  # valid JSON, an operator the server refuses
        form.query_one("#filters", Input).value = typed
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form, "a refused form must stay open"
        assert form.query_one("#filters", Input).value == typed
        error = str(form.query_one("#form-error", Static).render())
        assert "refused: 400 bad_request: filters: unknown operator 'Foo'" in error
        form.query_one("#filters", Input).value = '["brand", "Eq", "Acme"]'
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert fake.calls_to("create_snapshot")[-1] == (
            "products",
            "category",
            "auto",
            ["brand", "Eq", "Acme"],
            1000,
        )
        assert not screen.banner.shown


async def test_retry_warm_drop_and_yank(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        await pilot.press("Y")
        assert app.clipboard == "products"
        first_sha = screen.history[0]["sha"]
        await pilot.press("y")
        assert app.clipboard == first_sha
        await pilot.press("J")
        await pilot.press("g")
        await pilot.pause()
        job = screen._selected_job()  # noqa: SLF001
        assert job is not None
        await pilot.press("y")
        assert app.clipboard == job["id"]
        await pilot.press("R")
        await settle(pilot)
        assert fake.calls_to("create_snapshot")[-1] == (
            "products",
            job["field"],
            job.get("source") or "auto",
            job.get("filters"),
            job.get("page_size") or 1000,
        )
        await pilot.press("w")
        await settle(pilot)
        assert fake.calls_to("warm_cache") == [("products",)]
        await wait_until(
            pilot,
            lambda: any(
                isinstance(i, JobItem) and i.job.get("kind") == "cache_warm"
                for i in screen.query(JobItem)
            ),
        )
        await pilot.press("D")
        await settle(pilot)
        assert fake.calls_to("drop_cache") == [("products",)]
        titles = {t for t, _, _ in screen.commands()}
        assert {"Retry job", "Warm cache", "Drop cache", "Copy namespace name"} <= titles


async def test_history_ages_tick_with_the_clock(fake: FakeLayerClient) -> None:
    now = [payloads.NOW_MS / 1000]
    app = LayerDashboard(fake, refresh_s=60.0, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        sha = screen.history[0]["sha"]
        before = str(screen.history_table.get_cell(sha, "age"))
        now[0] += 3 * 3600
        await wait_until(pilot, lambda: str(screen.history_table.get_cell(sha, "age")) != before)
        assert str(screen.history_table.get_cell(sha, "age")) != before


async def test_activity_from_a_namespace_says_it_is_scoped_and_widens(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_products(app, pilot)
        await pilot.press("a")
        await settle(pilot)
        feed = app.screen
        assert isinstance(feed, ActivityScreen)
        title = str(feed.query_one("#activity-title", Static).render())
        assert "only namespace products (w: all namespaces)" in title
        assert fake.calls_to("activity")[-1][2] == "products"
        await pilot.press("w")
        await settle(pilot)
        title = str(feed.query_one("#activity-title", Static).render())
        assert "only namespace" not in title
        assert fake.calls_to("activity")[-1][2] is None
        namespaces = {e["namespace"] for e in feed.events.values()}
        assert len(namespaces) > 1


async def test_activity_cells_mark_truncation(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        feed = app.screen
        assert isinstance(feed, ActivityScreen)
        key = next(k for k, e in feed.events.items() if len(e.get("fields") or []) > 1)
        event = feed.events[key]
        cells = feed._cells(event, payloads.NOW_MS)  # noqa: SLF001
        fields = cells[4]
        assert isinstance(fields, Text)
        assert fields.plain == ",".join(event["fields"])  # the whole value, cut with "…"
        assert fields.overflow == "ellipsis"
        assert isinstance(cells[2], Text) and cells[2].overflow == "ellipsis"
