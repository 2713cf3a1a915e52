"""The dashboard end to end: a real backend over a real emulator, the real HTTP client.

The pilot drives it as a person would: the inventory with freshness after a watcher
tick, Enter into a namespace, the watcher's snapshot in its history and as
histograms, ``s`` for a snapshot job that completes with its result, the activity
feed, and a stale banner (with the last good rows kept) once the backend is gone.
A second test pages a listing of 2,500 namespaces (pages of 200): scrolling reads
the next pages from the backend's cursors and drops the first ones, a refresh re-reads
only the pages on screen, ``G``/``g`` jump to the end and back, and the prefix goes to
the server. The async bodies run under ``asyncio.run`` inside plain test functions.
"""

from __future__ import annotations

import asyncio
from typing import Any

import requests
from textual.widgets import DataTable, Input, Static

from common.api_client import LayerClient
from tests.fixtures.net import free_port
from tests.integration.helpers import tick, wait_index, write_docs
from tests.unit.tui.helpers import settle, wait_until
from tui.app import LayerDashboard
from tui.screens.activity import ActivityScreen
from tui.screens.inventory import InventoryScreen
from tui.screens.namespace import NamespaceScreen
from tui.screens.new_snapshot import NewSnapshotScreen

SIZE = (120, 40)
COLORS = ("red", "green", "blue")


def seed(layer: Any, emulator_url: str) -> list[dict[str, Any]]:
    """Two namespaces, one with facets; one watcher tick once both are indexed."""
    rows = [{"id": i, "color": COLORS[i % 3], "size": i % 4} for i in range(30)]
    write_docs(layer.url, "shop", rows)
    write_docs(emulator_url, "other", [{"id": 1, "color": "x"}])
    wait_index(emulator_url, "shop")
    wait_index(emulator_url, "other")
    tick(layer)
    layer.app.extensions["layer.snapshots"].wait_idle()
    history: list[dict[str, Any]] = requests.get(
        f"{layer.url}/v2/namespaces/shop/history", timeout=10
    ).json()
    assert len(history) == 1
    return history


async def drive(app: LayerDashboard, history: list[dict[str, Any]]) -> None:
    sha = history[0]["sha"]
    async with app.run_test(size=SIZE) as pilot:
        inventory = app.screen
        assert isinstance(inventory, InventoryScreen)
        await wait_until(pilot, lambda: {"shop", "other"} <= set(inventory.rows), timeout=10)
        table = inventory.table
        for name in ("shop", "other"):
            assert inventory.rows[name]["is_stable"] is True
            assert inventory.rows[name]["stable_as_of_ms"] is not None
            assert str(table.get_cell(name, "fresh")).startswith("✓ ")
        assert str(table.get_cell("shop", "rows")).strip() == "30"

        # Enter opens the namespace; its history is the watcher's snapshot.
        table.move_cursor(row=table.get_row_index("shop"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, NamespaceScreen))
        screen = app.screen
        assert isinstance(screen, NamespaceScreen) and screen.ns == "shop"
        await wait_until(pilot, lambda: screen.history_table.row_count == 1)
        assert screen.history[0]["sha"] == sha
        await wait_until(pilot, lambda: screen.metadata is not None)

        # Enter on the entry shows its histogram.
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.histogram.kind == "body")
        text = str(screen.histogram.render())
        assert f"Snapshot {sha[:12]}" in text
        assert "color  3 values · 30 total" in text
        assert all(c in text for c in COLORS)

        # s: a snapshot job of color; auto resolves to the stored snapshot and completes.
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, NewSnapshotScreen))
        form = app.screen
        form.query_one("#field", Input).value = "color"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)

        def completed() -> bool:
            return any(j.get("status") == "completed" for j in screen.jobs.values())

        await wait_until(pilot, completed, timeout=10)
        await wait_until(pilot, lambda: screen.histogram.kind == "result")
        job = next(iter(screen.jobs.values()))
        assert job["field"] == "color" and job["resolved_source"] == "stored"
        text = str(screen.histogram.render())
        assert f"Job {job['id'][:8]}" in text and "completed" in text
        assert "color  3 values · 30 total" in text

        # a: the namespace's activity shows the watcher's write.
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen))
        feed = app.screen
        assert isinstance(feed, ActivityScreen)
        await wait_until(pilot, lambda: feed.table.row_count >= 1)
        event = feed.shown_events()[0]
        assert (event["namespace"], event["sha"], event["source"]) == ("shop", sha, "watcher")

        # Back to the inventory; the backend goes away (the client now points at a
        # closed port): the rows stay, marked stale.
        await pilot.press("escape", "escape")
        await wait_until(pilot, lambda: app.screen is inventory)
        client = app.client
        assert isinstance(client, LayerClient)
        client.base_url = f"http://127.0.0.1:{free_port()}"
        await pilot.press("r")
        await wait_until(pilot, lambda: inventory.banner.shown, timeout=10)
        banner = str(inventory.banner.render())
        assert "stale since" in banner and "Backend unreachable" in banner
        assert {"shop", "other"} <= set(inventory.rows)
        assert inventory.query_one("#inventory", DataTable).row_count == 2
        await settle(pilot)


def test_dashboard_over_a_real_backend(emulator: Any, backend_factory: Any) -> None:
    layer = backend_factory(
        emulator.url, facets=(("shop", ("color",)),), list_cache_ttl_ms=0, upstream_retries=0
    )
    history = seed(layer, emulator.url)
    client = LayerClient(layer.url, timeout_s=2.0)
    try:
        app = LayerDashboard(client, refresh_s=30.0, url=layer.url)
        asyncio.run(drive(app, history))
    finally:
        client.close()


class CountingClient(LayerClient):
    """The real client, recording each listing call's (prefix, cursor, page_size, state)."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__(base_url, timeout_s=timeout_s)
        self.listed: list[tuple[Any, ...]] = []

    def list_namespaces(
        self,
        prefix: str | None = None,
        cursor: str | None = None,
        page_size: int = 1000,
        state: str | None = None,
    ) -> dict[str, Any]:
        self.listed.append((prefix, cursor, page_size, state))
        return super().list_namespaces(prefix, cursor, page_size, state)


PAGE = 200
MANY = 2500


async def drive_paging(app: LayerDashboard, client: CountingClient) -> None:
    from tui.widgets.table import cursor_key

    async with app.run_test(size=SIZE) as pilot:
        inventory = app.screen
        assert isinstance(inventory, InventoryScreen)
        table = inventory.table
        await wait_until(pilot, lambda: inventory.refresh_count >= 1, timeout=20)
        # The first paint asks for a screenful, then the whole page.
        assert table.row_count == PAGE
        assert client.listed == [(None, None, SIZE[1], None), (None, None, PAGE, None)]
        assert cursor_key(table) == "ns-00000"

        def names() -> list[str]:
            return [str(r.key.value) for r in table.ordered_rows]

        # Page down: the next pages come from the backend's cursors, the first go.
        for _ in range(200):
            if 3 in inventory.listing.pages:
                break
            await pilot.press("pagedown")
            await pilot.pause(0.05)
        await settle(pilot)
        assert 0 not in inventory.listing.pages and len(inventory.listing.pages) <= 3
        assert len(inventory.rows) <= 3 * PAGE
        shown = [int(n[3:]) for n in names()]
        assert shown == list(range(shown[0], shown[0] + len(shown)))

        # A refresh re-reads only the pages on screen.
        visible = inventory.visible_pages()
        expected = [inventory.listing.cursor(k) for k in visible]
        done, before = inventory.refresh_count, len(client.listed)
        await pilot.press("r")
        await wait_until(pilot, lambda: inventory.refresh_count > done, timeout=20)
        assert [c[1] for c in client.listed[before:]] == expected

        # G: to the last namespace, following the cursors; g: back to the first.
        await pilot.press("G")
        await wait_until(pilot, lambda: cursor_key(table) == f"ns-{MANY - 1:05d}", timeout=60)
        header = str(inventory.query_one("#summary", Static).render())
        assert f"row {MANY:,} of {MANY:,}" in header
        await pilot.press("g")
        await wait_until(pilot, lambda: cursor_key(table) == "ns-00000", timeout=20)

        # The prefix goes to the server.
        await pilot.press("p", *"ns-024", "enter")
        await wait_until(pilot, lambda: names()[:1] == ["ns-02400"], timeout=20)
        await settle(pilot)
        assert names() == [f"ns-024{i:02d}" for i in range(100)]
        assert client.listed[-1] == ("ns-024", None, PAGE, None)
        await settle(pilot)


def test_dashboard_pages_a_large_listing(emulator_factory: Any, backend_factory: Any) -> None:
    emu = emulator_factory(many={"ns-": MANY}, index_lag_ms=100)
    layer = backend_factory(emu.url, list_cache_ttl_ms=0, upstream_retries=0)
    client = CountingClient(layer.url, timeout_s=20.0)
    try:
        app = LayerDashboard(client, refresh_s=3600.0, url=layer.url, page_size=PAGE)
        asyncio.run(drive_paging(app, client))
    finally:
        client.close()
