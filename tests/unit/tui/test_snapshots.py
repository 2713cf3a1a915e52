"""Screenshots of the three main screens at a pinned size, with "now" frozen.

Regenerate after an intended change with ``pytest tests/unit/tui --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable

from tests.unit.tui import payloads
from tests.unit.tui.helpers import settle
from tui.app import LayerDashboard
from tui.fake import many

SIZE = (100, 30)


def test_inventory_screen(snap_compare: Any, make_app: Callable[..., LayerDashboard]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_inventory_screen_80x24(snap_compare: Any, make_app: Callable[..., LayerDashboard]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_inventory_screen_120x40(
    snap_compare: Any, make_app: Callable[..., LayerDashboard]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=run_before)


def test_inventory_million_80x24(
    snap_compare: Any, make_app: Callable[..., LayerDashboard]
) -> None:
    """A million namespaces (the fake's lazy listing): summary header, one page loaded."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    app = make_app(many(1_000_000, now_ms=payloads.NOW_MS))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_inventory_million_stuck_120x40(
    snap_compare: Any, make_app: Callable[..., LayerDashboard]
) -> None:
    """``f f``: the server-side state filter on stuck namespaces."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("f", "f")
        await settle(pilot)

    app = make_app(many(1_000_000, now_ms=payloads.NOW_MS))
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_namespace_screen(snap_compare: Any, make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        table = app.screen.query_one("#inventory", DataTable)
        table.move_cursor(row=table.get_row_index("products"))
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("enter")  # show the newest snapshot's histograms
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def _namespace_screen(snap_compare: Any, app: LayerDashboard, size: tuple[int, int]) -> bool:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        table = app.screen.query_one("#inventory", DataTable)
        table.move_cursor(row=table.get_row_index("products"))
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("enter")  # show the newest snapshot's histograms
        await settle(pilot)

    return bool(snap_compare(app, terminal_size=size, run_before=run_before))


def test_namespace_screen_80x24(snap_compare: Any, make_app: Callable[..., LayerDashboard]) -> None:
    assert _namespace_screen(snap_compare, make_app(), (80, 24))


def test_namespace_screen_120x40(
    snap_compare: Any, make_app: Callable[..., LayerDashboard]
) -> None:
    assert _namespace_screen(snap_compare, make_app(), (120, 40))


def test_describe_80x24(snap_compare: Any, make_app: Callable[..., LayerDashboard]) -> None:
    """``enter`` on the row marked ``!``: its record, metadata_error first."""
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        table = app.screen.query_one("#inventory", DataTable)
        table.move_cursor(row=table.get_row_index("broken-ns"))
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_namespace_diff(snap_compare: Any, make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app.open_namespace("products")
        await settle(pilot)
        await pilot.press("space", "down", "space")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_activity_screen(snap_compare: Any, make_app: Callable[..., LayerDashboard]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)
