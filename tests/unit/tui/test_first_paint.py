"""Issue 12 section 5's first paint: the inventory's first request is what fits the
screen; the full page and the summary come beside it, not before it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.unit.tui import payloads
from tests.unit.tui.helpers import settle, wait_until
from tui.app import LayerDashboard
from tui.fake import FakeLayerClient, many
from tui.screens.inventory import InventoryScreen

SIZE = (100, 30)


class HeldFullPages(FakeLayerClient):
    """A listing whose full pages (1000 rows) wait until released, as a cold backend's."""

    def __init__(self, base: FakeLayerClient) -> None:
        self.__dict__.update(base.__dict__)
        self.release = threading.Event()

    def list_namespaces(self, *args: Any, **kw: Any) -> dict[str, Any]:
        page_size = kw.get("page_size", args[2] if len(args) > 2 else 1000)
        if page_size >= 1000:
            self.release.wait(10)
        return super().list_namespaces(*args, **kw)


async def test_the_first_request_is_a_screenful_and_paints_before_the_page(
    make_app: Callable[..., LayerDashboard],
) -> None:
    fake = HeldFullPages(many(1_000_000, now_ms=payloads.NOW_MS))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        await wait_until(pilot, lambda: screen.table.row_count > 0)
        calls = fake.calls_to("list_namespaces")
        assert calls[0] == (None, None, SIZE[1], None)  # a screenful, not a page
        assert screen.table.row_count == SIZE[1]
        assert fake.calls_to("summary")  # beside it
        assert "1,000,000 namespaces" in str(screen.query_one("#summary").render())
        fake.release.set()
        await settle(pilot)
        assert screen.table.row_count == 1000  # then the whole first page, in place
        assert fake.calls_to("list_namespaces")[1] == (None, None, 1000, None)
        assert screen.listing.cursors[1] is not None and screen.listing.end is None
        await pilot.press("G")  # paging works from there as before
        await settle(pilot)
        assert screen.table.get_row_index("ns-999999") == screen.table.row_count - 1


async def test_a_listing_that_fits_the_screen_is_read_once(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert fake.calls_to("list_namespaces") == [(None, None, SIZE[1], None)]
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        assert set(screen.rows) == {r["name"] for r in payloads.NAMESPACES}
        assert screen.listing.end == 0 and screen.refresh_count == 1
