"""The inventory's thread workers: they read listing pages and the summary, and post
what they read (``tui.messages``); the screen applies it on the main thread."""

from __future__ import annotations

import threading
from typing import Any

from textual import work
from textual.worker import get_current_worker

from common.api_client import LayerClientError
from tui.messages import (
    InventoryFailed,
    InventoryPage,
    SummaryFailed,
    SummaryLoaded,
    WalkStep,
)
from tui.screens.base import DashboardScreen

PEEK_PAINT_WAIT_S = 0.5


class InventoryFetch(DashboardScreen):
    page_size: int
    peek_painted: threading.Event

    def _list(
        self, prefix: str, state: str | None, cursor: str | None, page_size: int | None = None
    ) -> dict[str, Any]:
        return self.client.list_namespaces(
            prefix=prefix or None, cursor=cursor, page_size=page_size or self.page_size, state=state
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="inventory-summary")
    def _fetch_summary(self) -> None:
        try:
            self.post_message(SummaryLoaded(self.client.summary()))
        except LayerClientError as exc:
            self.post_message(SummaryFailed(exc))

    @work(thread=True, exclusive=True, exit_on_error=False, group="inventory-refresh")
    def _refresh_pages(
        self,
        listing: int,
        view: int,
        plan: list[tuple[int, str | None]],
        prefix: str,
        state: str | None,
        peek: int = 0,
    ) -> None:
        """Re-read the pages of ``plan`` in order. ``peek``: first read only that many rows
        of page 0 (what fits the screen) and post them, so the first paint waits for a
        small page rather than a full one; the full page follows."""
        worker = get_current_worker()
        chained: dict[int, str] = {}
        wanted = {k for k, _ in plan}
        try:
            if peek and plan == [(0, None)]:
                first = self._list(prefix, state, None, page_size=peek)
                if worker.is_cancelled:
                    return
                rows = first.get("namespaces") or []
                if not first.get("next_cursor"):  # the whole listing fits: it is page 0
                    self.post_message(
                        InventoryPage(listing, view, 0, rows, None, purpose="refresh")
                    )
                    return
                self.peek_painted.clear()
                self.post_message(InventoryPage(listing, view, 0, rows, None, purpose="peek"))
                # The whole page makes the backend (and, on one machine, the upstream)
                # busy; ask for it once the screenful is on screen, not during the paint.
                self.peek_painted.wait(PEEK_PAINT_WAIT_S)
            for i, (k, cursor) in enumerate(plan):
                page = self._list(prefix, state, chained.get(k, cursor))
                if worker.is_cancelled:
                    return
                nxt = page.get("next_cursor") or None
                if nxt:
                    chained[k + 1] = nxt
                last = i == len(plan) - 1 or nxt is None
                self.post_message(
                    InventoryPage(
                        listing,
                        view,
                        k,
                        page.get("namespaces") or [],
                        nxt,
                        purpose="refresh",
                        last=last,
                        next_follows=not last and k + 1 in wanted,
                    )
                )
                if last:
                    return
        except LayerClientError as exc:
            self.post_message(InventoryFailed(listing, "refresh", exc))

    @work(thread=True, exit_on_error=False, group="inventory-page")
    def _load_page(
        self,
        listing: int,
        view: int,
        k: int,
        cursor: str | None,
        purpose: str,
        jump: int,
        prefix: str,
        state: str | None,
    ) -> None:
        try:
            page = self._list(prefix, state, cursor)
        except LayerClientError as exc:
            self.post_message(InventoryFailed(listing, purpose, exc, page=k))
            return
        nxt = page.get("next_cursor") or None
        self.post_message(
            InventoryPage(
                listing, view, k, page.get("namespaces") or [], nxt, purpose=purpose, jump=jump
            )
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="inventory-walk")
    def _walk(
        self,
        listing: int,
        k: int,
        cursor: str | None,
        jump: int,
        prefix: str,
        state: str | None,
    ) -> None:
        """Follow ``next_cursor`` from page ``k`` to the last page; post each cursor."""
        worker = get_current_worker()
        try:
            while not worker.is_cancelled:
                page = self._list(prefix, state, cursor)
                nxt = page.get("next_cursor") or None
                if worker.is_cancelled:
                    return
                if nxt is None:
                    rows = page.get("namespaces") or []
                    self.post_message(
                        InventoryPage(listing, 0, k, rows, None, purpose="end", jump=jump)
                    )
                    return
                self.post_message(WalkStep(listing, k, nxt))
                k, cursor = k + 1, nxt
        except LayerClientError as exc:
            self.post_message(InventoryFailed(listing, "end", exc, page=k))
