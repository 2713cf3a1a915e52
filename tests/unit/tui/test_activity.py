"""Activity feed: newest on top, cursor-following without duplicates, filter, open."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from textual.widgets import DataTable

from tests.unit.tui import payloads
from tests.unit.tui.helpers import settle, wait_until
from tui.app import LayerDashboard
from tui.fake import FakeLayerClient
from tui.screens.activity import SINCE_OVERLAP_MS, ActivityScreen
from tui.screens.namespace import NamespaceScreen

SIZE = (100, 30)


def event(ns: str, ts_ms: int, job: str | None = None) -> dict[str, Any]:
    return {
        "ts_ms": ts_ms,
        "namespace": ns,
        "sha": hashlib.sha256(f"{ns}{ts_ms}".encode()).hexdigest(),
        "watermark_ms": ts_ms - 1000,
        "fields": ["category"],
        "source": "origin",
        "job_id": job,
    }


def feed(app: LayerDashboard) -> list[str]:
    table = app.screen.query_one("#activity", DataTable)
    return [str(table.get_row_at(i)[2]) for i in range(table.row_count)]


async def open_activity(app: LayerDashboard, pilot: Any) -> ActivityScreen:
    await settle(pilot)
    await pilot.press("a")
    await settle(pilot)
    assert isinstance(app.screen, ActivityScreen)
    return app.screen


async def test_feed_newest_first(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_activity(app, pilot)
        assert feed(app) == ["products", "orders"]
        since = fake.calls_to("activity")[0][0]
        assert since == payloads.NOW_MS - 24 * 3600 * 1000


async def test_feed_polls_the_tail_without_duplicates(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    """Like the backend, the fake gives no cursor once caught up: later polls move
    ``since`` up to the newest event (minus an overlap) instead of re-reading 24 h."""
    app = make_app(refresh_s=0.1)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_activity(app, pilot)
        assert screen.cursor is None
        newest = max(e["ts_ms"] for e in payloads.activity_events())
        assert screen.since_ms == newest - SINCE_OVERLAP_MS
        for i in range(3):
            fake.add_event(event("users", payloads.NOW_MS + i * 1000))
        await wait_until(pilot, lambda: len(feed(app)) == 5)
        # Several more polls with nothing new: no duplicates, since stays put.
        polls = len(fake.calls_to("activity"))
        await wait_until(pilot, lambda: len(fake.calls_to("activity")) >= polls + 3)
        await settle(pilot)
        assert feed(app) == ["users", "users", "users", "products", "orders"]
        assert screen.since_ms == payloads.NOW_MS + 2000 - SINCE_OVERLAP_MS
        assert fake.calls_to("activity")[-1][0] == screen.since_ms


async def test_feed_pages_through_a_backlog(make_app: Callable[..., LayerDashboard]) -> None:
    events = [event(f"ns-{i:04d}", payloads.NOW_MS - 3_600_000 + i) for i in range(1200)]
    client = FakeLayerClient(payloads.NAMESPACES, activity=events, now_ms=payloads.NOW_MS)
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await open_activity(app, pilot)
        rows = feed(app)
        assert len(rows) == 1200 and rows[0] == "ns-1199"
        assert len(client.calls_to("activity")) == 3  # 500 + 500 + 200


async def test_filter_by_namespace(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_activity(app, pilot)
        await pilot.press("slash", *"ord")
        await wait_until(pilot, lambda: screen.filter_text == "ord")
        assert feed(app) == ["orders"]
        await pilot.press("enter")
        assert feed(app) == ["orders"]


async def test_namespace_scoped_feed_passes_namespace(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_namespace("orders")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert fake.calls_to("activity")[-1][2] == "orders"
        assert feed(app) == ["orders"]


async def test_enter_opens_the_snapshot(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_activity(app, pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, NamespaceScreen) and screen.ns == "products"
        sha = payloads.activity_events()[1]["sha"]
        assert ("products", sha) in fake.calls_to("snapshot")
        assert "Snapshot " + sha[:12] in str(screen.histogram.render())
        await pilot.press("escape")
        assert isinstance(app.screen, ActivityScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, ActivityScreen)
