"""Issue 15 items 6, 7 and 9 on the inventory: typing bursts, esc, sort arrows, the
describe view, ellipses and sideways scrolling."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input, Static

from tests.unit.tui import payloads
from tests.unit.tui.conftest import make_client
from tests.unit.tui.helpers import settle
from tests.unit.tui.test_operator_keys import open_products
from tui.app import LayerDashboard
from tui.screens.activity import ActivityScreen
from tui.screens.describe import DescribeScreen, record_text
from tui.screens.inventory import InventoryScreen
from tui.screens.inventory_rows import COLUMNS, SORTABLE
from tui.screens.inventory_table import InventoryTable
from tui.screens.keys import key_lines
from tui.screens.namespace import NamespaceScreen

SIZE = (100, 30)


async def inventory(app: LayerDashboard, pilot: object) -> InventoryScreen:
    await settle(pilot)  # type: ignore[arg-type]
    screen = app.screen
    assert isinstance(screen, InventoryScreen)
    return screen


async def burst(pilot: object, *keys: str) -> None:
    """Keys as a terminal delivers a fast typist's or a paste's: all queued at once, with
    no pause for the app to handle one before the next arrives (``pilot.press`` waits
    for idle between keys, which hides a focus change that has not happened yet)."""
    from textual import events

    app = pilot.app  # type: ignore[attr-defined]
    for key in keys:
        char = key if len(key) == 1 else {"slash": "/", "minus": "-"}.get(key)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)  # noqa: SLF001
    await pilot.pause()  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]


async def test_a_burst_typed_after_slash_goes_to_the_filter(
    make_app: Callable[..., LayerDashboard],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await inventory(app, pilot)
        table = screen.table
        start = table.cursor_row
        # j, k, g and G are table keys: typed in one burst right after `/` they must
        # land in the input, not move the cursor.
        await pilot.press("slash", "j", "k", "g", "G", "p")  # pilot's own pauses
        box = screen.query_one("#filter", Input)
        assert box.value == "jkgGp"
        await pilot.press("escape")
        await settle(pilot)
        await burst(pilot, "slash", "j", "k", "g", "G", "p")  # a terminal's burst
        box = screen.query_one("#filter", Input)
        assert box.value == "jkgGp"
        assert table.cursor_row == start
        assert screen.prefix == ""


async def test_a_burst_typed_after_p_goes_to_the_prefix(
    make_app: Callable[..., LayerDashboard],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await inventory(app, pilot)
        await burst(pilot, "p", "p", "r", "o", "d", "minus", "enter")
        await settle(pilot)
        assert screen.prefix == "prod-"
        assert set(screen.rows) == {"prod-logs", "prod-events"}


async def test_esc_clears_the_prefix_and_the_filter(
    make_app: Callable[..., LayerDashboard],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await inventory(app, pilot)
        screen.set_prefix("prod-")
        await settle(pilot)
        screen.set_filter("logs")
        await settle(pilot)
        assert list(screen._cells) == ["prod-logs"]  # noqa: SLF001
        await pilot.press("escape")
        await settle(pilot)
        assert screen.prefix == "" and screen.filter_text == ""
        assert set(screen.rows) == {r["name"] for r in payloads.NAMESPACES}


async def test_every_sortable_column_shows_its_arrow(
    make_app: Callable[..., LayerDashboard],
) -> None:
    for size in ((80, 24), (120, 40)):
        app = make_app()
        async with app.run_test(size=size) as pilot:
            screen = await inventory(app, pilot)
            table = screen.table
            labels = {key: label for key, label, _ in COLUMNS}
            for key in SORTABLE:
                if table.columns[key].width == 0:  # type: ignore[index]
                    continue  # folded away at this width: nothing to show
                for reverse, arrow in ((False, "▲"), (True, "▼")):
                    screen.set_sort(key, reverse=reverse)
                    await pilot.pause()
                    column = table.columns[key]  # type: ignore[index]
                    shown = column.label.plain
                    assert arrow in shown, (size, key, shown)
                    assert len(shown) <= column.get_render_width(table) - 2, (size, key, shown)
                    others = [k for k in SORTABLE if k != key]
                    assert not any(
                        "▲" in table.columns[k].label.plain  # type: ignore[index]
                        or "▼" in table.columns[k].label.plain  # type: ignore[index]
                        for k in others
                    )
                    assert shown[0] == labels[key][0] or key == "shadow"


async def test_d_and_enter_on_a_marked_row_describe_its_record(
    make_app: Callable[..., LayerDashboard],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await inventory(app, pilot)
        table = screen.table
        table.move_cursor(row=table.get_row_index("broken-ns"))
        await pilot.press("enter")  # a `!` row: its record, not the namespace
        await settle(pilot)
        assert isinstance(app.screen, DescribeScreen)
        text = app.screen.query_one("#describe-body", Static).render()
        plain = str(text)
        assert plain.startswith("metadata_error: upstream metadata call failed: 504")
        for field in payloads.NAMESPACES[3]:
            assert f"{field}:" in plain, field
        assert "observed_ms: 1747299915000  2025-05-15 09:05:15 UTC, 1m ago" in plain
        await pilot.press("enter")  # from the record, open the namespace
        await settle(pilot)
        assert isinstance(app.screen, NamespaceScreen) and app.screen.ns == "broken-ns"
        await pilot.press("escape")
        await settle(pilot)
        table.move_cursor(row=table.get_row_index("products"))
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DescribeScreen)
        assert "labels:\n  team: search" in str(app.screen.query_one("#describe-body").render())
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("enter")  # an unmarked row opens as before
        await settle(pilot)
        assert isinstance(app.screen, NamespaceScreen) and app.screen.ns == "products"


async def test_describe_is_in_the_key_map_and_the_palette(
    make_app: Callable[..., LayerDashboard],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await inventory(app, pilot)
        lines = dict(key_lines(screen))
        assert lines["d"] == "Describe" and "describe" in lines["enter"]
        assert "describe" in {action for _, _, action in screen.commands()}
        ns = await open_products(app, pilot)
        assert dict(key_lines(ns))["d"] == "Describe"
        assert "describe" in {action for _, _, action in ns.commands()}
        await pilot.press("d")  # the highlighted history entry
        await settle(pilot)
        assert isinstance(app.screen, DescribeScreen)
        body = str(app.screen.query_one("#describe-body").render())
        assert f"sha: {ns.history[0]['sha']}" in body and "watermark_ms:" in body
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("J", "G")  # focus the jobs, highlight the last
        await settle(pilot)
        job = ns._selected_job()  # noqa: SLF001
        assert job is not None
        await pilot.press("d")  # the highlighted job
        await settle(pilot)
        assert isinstance(app.screen, DescribeScreen)
        assert f"id: {job['id']}" in str(app.screen.query_one("#describe-body").render())
        await pilot.press("escape", "a")
        await settle(pilot)
        assert isinstance(app.screen, ActivityScreen)
        event = app.screen.shown_events()[0]
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DescribeScreen)
        assert f"namespace: {event['namespace']}" in str(
            app.screen.query_one("#describe-body").render()
        )


def test_a_record_shows_its_error_first_and_nested_fields_indented() -> None:
    job = payloads.failed_job()
    text = record_text(job, payloads.NOW_MS)
    assert text.plain.startswith(f"error:\n  code: {job['error']['code']}")
    assert any("red" in str(span.style) for span in text.spans)
    assert f"id: {job['id']}" in text.plain


LONG = "prod-search-logs-eu-west-1-tenant-000123-shadow-copy"  # 52 characters


def row_text(table: InventoryTable, name: str) -> str:
    """The row as the table draws it (what the user sees), at the current scroll."""
    y = table.get_row_index(name) + 1 - int(table.scroll_y)  # +1: the header line
    return table.render_line(y).text


async def test_cut_names_end_in_an_ellipsis_and_columns_scroll_sideways(
    make_app: Callable[..., LayerDashboard],
) -> None:
    client = make_client()
    client.add_namespace(payloads.ns_row(LONG, labels={"team": "search", "tier": "gold"}))
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await inventory(app, pilot)
        table = screen.table
        name_width = table.columns["name"].width  # type: ignore[index]
        assert name_width < len(LONG)
        shown = row_text(table, LONG)
        assert LONG[: name_width - 1] + "…" in shown, shown
        assert LONG not in shown
        # The labels column is not dropped at 80 columns: it is past the edge, and
        # `→` scrolls the table sideways to it.
        assert table.columns["labels"].width >= 16  # type: ignore[index]
        assert table.max_scroll_x > 0
        assert "team=search" not in row_text(table, LONG)
        await pilot.press("right")
        await pilot.pause()
        assert table.scroll_x > 0
        await pilot.press("shift+right", "shift+right", "shift+right")
        await pilot.pause()
        assert "team=search,tie…" in row_text(table, LONG)  # cut, and it says so
        await pilot.press("shift+left", "shift+left", "shift+left")
        assert table.scroll_x == 0


async def test_a_burst_typed_after_slash_goes_to_the_activity_filter(
    make_app: Callable[..., LayerDashboard],
) -> None:
    from tests.unit.tui.test_activity import open_activity

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_activity(app, pilot)
        start = screen.table.cursor_row
        await burst(pilot, "slash", "j", "k", "slash", "G")
        assert screen.query_one("#activity-filter", Input).value == "jk/G"
        assert screen.table.cursor_row == start
