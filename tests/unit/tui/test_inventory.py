"""Inventory screen: rows, sorting, filtering, prefix, refresh in place, stale banner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey

from common.api_client import LayerAPIError, LayerUnreachable
from tests.unit.tui import payloads
from tests.unit.tui.helpers import settle, wait_until
from tui.app import LayerDashboard
from tui.fake import FakeLayerClient
from tui.screens.inventory import InventoryScreen
from tui.screens.namespace import NamespaceScreen

SIZE = (100, 30)


def names(app: LayerDashboard) -> list[str]:
    table = app.screen.query_one("#inventory", DataTable)
    return [
        str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value)
        for i in range(table.row_count)
    ]


def inventory(app: LayerDashboard) -> InventoryScreen:
    assert isinstance(app.screen, InventoryScreen)
    return app.screen


def summary(app: LayerDashboard) -> str:
    return str(app.screen.query_one("#summary", Static).render())


async def test_rows_and_totals(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert names(app) == sorted(r["name"] for r in payloads.NAMESPACES)
        table = app.screen.query_one("#inventory", DataTable)
        assert str(table.get_cell("products", "size")) == "48.8 MB"
        assert str(table.get_cell("products", "rows")) == "12.5k"
        assert str(table.get_cell("products", "fresh")) == "✓ 3s"
        assert str(table.get_cell("users", "fresh")) == "✓ 3s"
        assert str(table.get_cell("orders", "fresh")) == "‖ 12m"  # index stuck for 12 min
        assert str(table.get_cell("orders", "seen")) == "1s"
        assert str(table.get_cell("broken-ns", "seen")) == "1m"
        assert str(table.get_cell("orders", "cache")) == "warming+"
        assert str(table.get_cell("broken-ns", "mark")) == "!"
        assert str(table.get_cell("broken-ns", "rows")) == "—"
        assert str(table.get_cell("prod-logs", "shadow")) == "yes"
        assert str(table.get_cell("prod-logs", "labels")) == "team=infra,tier=gold"
        text = summary(app)
        for part in (
            "6 namespaces",
            "53.5M rows",
            "319.2 GB",
            "2 unstable",
            "1 stuck",
            "1 errored",
            "0 dirty",
            "sweep 1.0×",
            "shards 16/16",
            "row 1 of 6",
            "refreshed 09:06:50 UTC",
        ):
            assert part in text
        assert "loaded" not in text  # everything fits in the window: no caveat


async def test_sort_by_columns(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = inventory(app)
        screen.set_sort("size")
        assert names(app)[0] == "broken-ns"  # unknown sizes first
        assert names(app)[-1] == "prod-logs"
        await pilot.press("O")  # reverse
        assert names(app)[0] == "prod-logs"
        await pilot.press("o")  # next column: freshness, ascending
        assert screen.sort_column == "fresh"
        assert names(app)[:2] == ["broken-ns", "orders"]  # unstable first
        assert "sort fresh ▲" in summary(app)
        assert "(loaded rows)" not in summary(app)  # all rows are loaded
        assert "Fresh ▲" in str(
            app.screen.query_one("#inventory", DataTable).columns[ColumnKey("fresh")].label
        )


async def test_sort_by_header_click(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#inventory", DataTable)
        table.post_message(
            DataTable.HeaderSelected(
                table, table.ordered_columns[2].key, 2, table.ordered_columns[2].label
            )
        )
        await pilot.pause()
        assert inventory(app).sort_column == "rows"
        assert names(app)[-1] == "prod-logs"


async def test_filter_as_you_type(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"prod")
        await wait_until(pilot, lambda: inventory(app).filter_text == "prod")
        assert names(app) == ["prod-events", "prod-logs", "products"]
        # Labels match too.
        await pilot.press("ctrl+a", "ctrl+k", *"team=infra")
        await wait_until(pilot, lambda: inventory(app).filter_text == "team=infra")
        assert names(app) == ["prod-events", "prod-logs"]
        assert "filter=team=infra (2 of 6)" in summary(app)
        await pilot.press("enter")  # back to the table, filter kept
        assert names(app) == ["prod-events", "prod-logs"]
        await pilot.press("escape")
        assert len(names(app)) == 6


async def test_filter_over_10000_rows_is_fast(make_app: Callable[..., LayerDashboard]) -> None:
    import time

    rows = [payloads.ns_row(f"{'prod' if i % 2 else 'dev'}-{i:05d}") for i in range(10_000)]
    # One page of 10,000 so all of them are loaded (the filter applies to loaded rows).
    app = make_app(FakeLayerClient(rows, now_ms=payloads.NOW_MS), page_size=10_000)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = inventory(app)
        started = time.perf_counter()
        for text in ("p", "pr", "pro", "prod-0", "prod-01", "prod-012"):
            screen.set_filter(text)
        elapsed = time.perf_counter() - started
        assert len(names(app)) == 50
        screen.set_filter("")
        assert len(names(app)) == 10_000
        assert elapsed < 2.0, elapsed


async def test_prefix_is_sent_to_the_api(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p", *"prod", "enter")
        await settle(pilot)
        assert fake.calls_to("list_namespaces")[-1][0] == "prod"
        assert names(app) == ["prod-events", "prod-logs", "products"]
        assert "prefix=prod" in summary(app)


async def test_refresh_updates_in_place_and_keeps_cursor(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    rows = [payloads.ns_row(f"ns-{i:04d}", row_count=i) for i in range(300)]
    client = FakeLayerClient(rows, now_ms=payloads.NOW_MS)
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#inventory", DataTable)
        table.move_cursor(row=150)
        await pilot.pause()
        scroll_before = table.scroll_y
        updated: list[Any] = []
        original = table.update_cell

        def spy(*args: Any, **kwargs: Any) -> None:
            updated.append(args[:2])
            original(*args, **kwargs)

        table.update_cell = spy  # type: ignore[method-assign]
        client.update_namespace("ns-0200", row_count=5_000_000)
        client.add_namespace(payloads.ns_row("ns-0000a"))  # sorts above the cursor
        client.remove_namespace("ns-0001")
        await pilot.press("r")
        await settle(pilot)
        assert updated == [("ns-0200", "rows")]  # one changed cell, nothing else touched
        assert str(table.get_cell("ns-0200", "rows")) == "5.0M"
        assert table.row_count == 300
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert key == "ns-0150"
        assert table.scroll_y == scroll_before


async def test_auto_refresh_polls(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app(refresh_s=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(fake.calls_to("list_namespaces")) >= 3)
        assert inventory(app).refresh_count >= 2


async def test_stale_banner_when_backend_dies(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        fake.failure = LayerUnreachable("cannot connect to http://127.0.0.1:9")
        await pilot.press("r")
        await settle(pilot)
        banner = str(app.screen.query_one("#banner", Static).render())
        assert "stale since 09:06:50 UTC" in banner
        assert "Backend unreachable" in banner
        assert len(names(app)) == 6  # last good data stays
        assert "stale since" in summary(app)
        fake.failure = None
        await pilot.press("r")
        await settle(pilot)
        assert app.screen.query_one("#banner").has_class("-hidden")


async def test_unauthorized_banner_on_first_load(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    fake.failure = LayerAPIError(401, "unauthorized", "missing or invalid API key")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = str(app.screen.query_one("#banner", Static).render())
        assert "no data yet" in banner
        assert "Unauthorized (401 unauthorized)" in banner
        assert "LAYER_TOKEN" in banner


async def test_enter_opens_namespace_and_escape_returns(
    make_app: Callable[..., LayerDashboard],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#inventory", DataTable)
        table.move_cursor(row=table.get_row_index("products"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NamespaceScreen)
        assert app.screen.ns == "products"
        await pilot.press("escape")
        assert isinstance(app.screen, InventoryScreen)
        assert table.cursor_row == table.get_row_index("products")


async def test_keys_help_and_quit(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "Filter" in text and "Sort" in text and "Quit" in text
        await pilot.press("escape")
        assert isinstance(app.screen, InventoryScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_command_palette_lists_actions(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for expected in (
            "Filter namespaces",
            "Prefix filter",
            "Sort by size",
            "New snapshot",
            "Activity feed",
            "Quit",
        ):
            assert expected in titles
        await pilot.press("ctrl+p", *"sort by size")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert inventory(app).sort_column == "size"


async def test_80_columns_compact_and_scroll_sideways_for_the_rest(
    make_app: Callable[..., LayerDashboard],
) -> None:
    """With demo-length names (17 characters) the shadow column shrinks to one cell; the
    labels, which no longer fit, are past the edge (reached with →), never dropped. The
    activity feed fits."""
    rows = [payloads.ns_row("staging-inventory", labels={"env": "staging"}, shadow=True)]
    client = FakeLayerClient(rows, activity=payloads.activity_events(), now_ms=payloads.NOW_MS)
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = inventory(app).table
        assert table.virtual_size.width > table.size.width
        assert table.columns[ColumnKey("labels")].width >= len("env=staging")
        assert str(table.columns[ColumnKey("shadow")].label) == "S"
        assert str(table.get_cell("staging-inventory", "shadow")) == "yes"
        await pilot.resize_terminal(160, 40)
        await settle(pilot)
        assert table.virtual_size.width <= table.size.width
        assert str(table.columns[ColumnKey("shadow")].label) == "Shadow"
        assert table.columns[ColumnKey("labels")].width >= len("env=staging")
        await pilot.resize_terminal(80, 24)
        await pilot.press("a")
        await settle(pilot)
        feed = app.screen.query_one("#activity", DataTable)
        assert feed.row_count == 2
        assert feed.virtual_size.width <= feed.size.width
