"""The inventory's pages: which rows are held, and what moving, jumping and refreshing read.

A million namespaces do not fit in a table, and ``GET /v2/namespaces`` pages forward
only with opaque cursors, so the screen holds at most ``window`` pages of
``page_size`` rows (``tui.paging.PagedListing``) and:

- paints the first page and the summary (``GET /v2/namespaces/summary``) first;
- reads the next page when the cursor or the viewport comes within half a page of
  the last loaded row, and the page before when it nears the first, dropping the
  page farthest away so memory stays bounded;
- ``G``/``end`` jumps to the end: straight to the last page once its cursor is
  known, otherwise by following ``next_cursor`` from the last known page in the
  background (the header counts the pages read; ``g`` cancels) and keeping each
  page's cursor, so jumping back and forth afterwards costs one page;
- ``g``/``home`` jumps to the first page; ``f`` cycles the server-side state filter
  (``state=unstable|stuck|error``); ``p`` sets the server-side prefix;
- a refresh re-reads only the pages of the rows on screen, plus the summary.

The client-side sort and filter-as-you-type apply to the loaded rows. While either
is on (a sort other than by name ascending, or a filter), the window stays where it
is, and when the listing is longer than the window the header says they apply to the
loaded rows; clearing them resumes paging.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.text import Text
from textual import on
from textual.widgets import DataTable, Static

from common.api_client import LayerAPIError
from tui.format import clock_time
from tui.messages import (
    InventoryFailed,
    InventoryPage,
    SummaryFailed,
    SummaryLoaded,
    WalkStep,
    describe_error,
)
from tui.paging import PagedListing
from tui.screens.inventory_fetch import InventoryFetch
from tui.screens.inventory_header import (
    STATE_TOTAL,
    ViewState,
    pack,
    status_text,
    summary_parts,
    view_parts,
)
from tui.screens.inventory_table import TableRows
from tui.widgets.table import cursor_key

PAGE_SIZE = 1000
WINDOW_PAGES = 3
STATES: list[str | None] = [None, "unstable", "stuck", "error"]
PEEK_MIN = 10  # rows read first when nothing is held: at least this, else a screenful
PEEK_WORTH = 4  # ... when a page holds at least this many screenfuls


class PagedInventory(TableRows, InventoryFetch):
    def __init__(self, page_size: int = PAGE_SIZE, window_pages: int = WINDOW_PAGES) -> None:
        super().__init__()
        self._init_rows()
        self.page_size = page_size
        self.window_pages = max(3, window_pages)
        self.listing = PagedListing(page_size, self.window_pages)
        self.summary: dict[str, Any] | None = None
        self._summary_error: str | None = None
        self.state: str | None = None
        self.prefix = ""
        self._listing_gen = 0
        self._view_gen = 0
        self._jump = 0
        self._inflight: set[int] = set()
        self._prefetch_pending = False
        self._header: Text | None = None
        self._header_lines = -1
        self._refreshing = False
        self._walking: int | None = None  # pages read by a running jump to the end
        self._last_ok_ms: int | None = None
        self._error: str | None = None
        self.refresh_count = 0
        self.last_refresh_s = 0.0
        self._pass_started = 0.0
        self.peek_painted = threading.Event()  # the first screenful is drawn

    # -- what the view is -------------------------------------------------------------

    @property
    def frozen(self) -> bool:
        """Client-side sort or filter on: the window stays where it is."""
        return bool(self.filter_text) or self.sort_column != "name" or self.sort_reverse

    def _partial(self) -> bool:
        """More rows exist than are loaded."""
        lo, hi = self.listing.lo, self.listing.hi
        return bool(lo) or (hi is not None and self.listing.end != hi)

    def _visible_names(self) -> list[str]:
        table = self.table
        if table.row_count == 0:
            return []
        top = int(table.scroll_y)
        height = max(1, table.scrollable_content_region.height - 1)
        rows = table.ordered_rows[top : top + height]
        return [str(r.key.value) for r in rows]

    def visible_pages(self) -> list[int]:
        """The pages of the rows on screen (the held pages when none are shown)."""
        pages = {
            self.listing.page_of[n] for n in self._visible_names() if n in self.listing.page_of
        }
        if not pages and self.listing.pages:
            pages = {min(self.listing.pages)}
        return sorted(pages)

    # -- fetching ---------------------------------------------------------------------

    def _tick(self) -> None:
        if not self._refreshing:
            self.action_refresh()

    def action_refresh(self) -> None:
        """Re-read the pages on screen (page 0 when nothing is held) and, beside them,
        the summary. With nothing held yet (the first paint, a new prefix or state), the
        rows that fit the screen are read first when a page is much larger."""
        pages = self.visible_pages() or [0]
        plan = [(k, self.listing.cursor(k)) for k in pages if self.listing.known(k)]
        if not plan:
            plan = [(0, None)]
        peek = max(PEEK_MIN, self.app.size.height)
        if self.listing.pages or self.page_size < PEEK_WORTH * peek:
            peek = 0
        self._refreshing = True
        self._pass_started = time.perf_counter()
        self._refresh_pages(self._listing_gen, self._view_gen, plan, self.prefix, self.state, peek)
        self._fetch_summary()
        self._update_summary()

    def _request(self, k: int, purpose: str) -> None:
        """Read page ``k`` (its cursor is known) for scrolling or a jump. One scrolling
        read at a time, so pages arrive in the order the user moves."""
        if purpose in ("next", "prev") and self._inflight:
            return
        self._inflight.add(k)
        self._load_page(
            self._listing_gen,
            self._view_gen,
            k,
            self.listing.cursor(k),
            purpose,
            self._jump,
            self.prefix,
            self.state,
        )

    # -- applying pages ---------------------------------------------------------------

    @on(InventoryPage)
    def _on_page(self, message: InventoryPage) -> None:
        if message.listing != self._listing_gen:
            return
        if message.purpose == "peek":
            if message.view == self._view_gen and not self.listing.pages:
                self._apply_peek(message)
            return
        jump = message.purpose in ("home", "end")
        if jump:
            if message.jump != self._jump:
                self.listing.learn(message.page, message.next_cursor)
                return
            self._walking = None
            self._reset_view()
        elif message.view != self._view_gen or not self._fits(message):
            # From before a jump, or no longer next to the window: keep the cursor only.
            self._inflight.discard(message.page)
            self.listing.learn(message.page, message.next_cursor)
            if message.purpose == "refresh" and message.last:
                self._refreshing = False  # the pass is over; the next tick may start one
            return
        self._inflight.discard(message.page)
        self._apply_page(message)
        if jump:
            self.table.move_cursor(row=0 if message.purpose == "home" else self.table.row_count - 1)
            if message.purpose == "home":
                self.table.scroll_to(y=0, animate=False, immediate=True)
        if message.purpose == "refresh" and message.last:
            self._refreshing = False
            self.refresh_count += 1
            self.last_refresh_s = time.perf_counter() - self._pass_started
        if message.purpose == "refresh" or jump:
            self._last_ok_ms = self.now_ms()
            self._error = None
            self.banner.clear()
        self._update_summary()
        self._schedule_prefetch()

    def _fits(self, message: InventoryPage) -> bool:
        """A scrolling page still extends the window at its end, and what it pushes
        out of the window is not the cursor's page."""
        if message.purpose not in ("next", "prev"):
            return True
        lo, hi = self.listing.lo, self.listing.hi
        if lo is None or hi is None:
            return False
        key = cursor_key(self.table)
        here = self.listing.page_of.get(key) if key else None
        full = hi - lo + 1 >= self.window_pages
        if message.purpose == "next":
            return message.page == hi + 1 and not (full and here == lo)
        return message.page == lo - 1 and not (full and here == hi)

    def _apply_page(self, message: InventoryPage) -> None:
        now = self.now_ms()
        names = [r["name"] for r in message.rows]
        result = self.listing.put(
            message.page, names, message.next_cursor, next_follows=message.next_follows
        )
        added, updated, resort = self._ingest(message.rows, now)
        self._forget(result.vanished)
        self._apply(now, added=added, updated=updated, vanished=result.vanished, resort=resort)

    def _apply_peek(self, message: InventoryPage) -> None:
        """The first rows of page 0, shown while the whole page is on its way."""
        now = self.now_ms()
        self.listing.hold_first([r["name"] for r in message.rows])
        added, updated, resort = self._ingest(message.rows, now)
        self._apply(now, added=added, updated=updated, vanished=[], resort=resort)
        self._update_summary()
        self.call_after_refresh(self.peek_painted.set)

    def _reset_view(self) -> None:
        """Drop the held rows (a jump); the cursors stay known."""
        self._view_gen += 1
        self._inflight.clear()
        self._forget(self.listing.reset())
        self.table.clear()
        self._cells = {}

    @on(WalkStep)
    def _on_walk_step(self, message: WalkStep) -> None:
        if message.listing != self._listing_gen or self._walking is None:
            return
        self.listing.learn(message.page, message.next_cursor)
        self._walking += 1
        self._update_summary()

    @on(InventoryFailed)
    def _on_failed(self, message: InventoryFailed) -> None:
        if message.listing != self._listing_gen:
            return
        if message.purpose == "refresh":
            self._refreshing = False
        if message.purpose == "end":
            self._walking = None
        self._inflight.discard(message.page)
        self._error = describe_error(message.error)
        if self._last_ok_ms is None:
            self.banner.show(f"no data yet — {self._error}")
        else:
            self.banner.show(f"stale since {clock_time(self._last_ok_ms)} UTC — {self._error}")
        self._update_summary()

    @on(SummaryLoaded)
    def _on_summary(self, message: SummaryLoaded) -> None:
        self.summary = message.summary
        self._summary_error = None
        self._update_summary()

    @on(SummaryFailed)
    def _on_summary_failed(self, message: SummaryFailed) -> None:
        error = message.error
        if isinstance(error, LayerAPIError) and error.status == 404:
            self._summary_error = "this backend has no /v2/namespaces/summary"
        else:
            self._summary_error = describe_error(error)[:80]
        self._update_summary()

    # -- paging as the user moves -----------------------------------------------------

    def _scrolled(self, _value: float) -> None:
        self._schedule_prefetch()

    @on(DataTable.RowHighlighted, "#inventory")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._schedule_prefetch()
        self._update_summary()

    def _schedule_prefetch(self) -> None:
        """Check once the table has settled: a rebuild passes through row 0 on its way
        back to the cursor, which must not look like the user nearing the start."""
        if not self._prefetch_pending:
            self._prefetch_pending = True
            self.call_after_refresh(self._maybe_prefetch)

    def _maybe_prefetch(self) -> None:
        """Read the next (previous) page when the view nears the last (first) loaded row."""
        self._prefetch_pending = False
        if self.frozen or not self.listing.pages or not self.is_mounted:
            return
        table = self.table
        lo, hi = self.listing.lo, self.listing.hi
        assert lo is not None and hi is not None
        margin = max(1, self.page_size // 2)
        height = table.scrollable_content_region.height
        top = int(table.scroll_y)
        bottom = top + height
        last = table.row_count - 1
        near_end = last - max(bottom, table.cursor_row) < margin
        near_start = min(top, table.cursor_row) < margin
        if near_end and self.listing.end != hi and self.listing.known(hi + 1):
            self._request(hi + 1, "next")
        elif near_start and lo > 0 and self.listing.known(lo - 1):
            self._request(lo - 1, "prev")

    # -- jumps ------------------------------------------------------------------------

    def action_jump_home(self) -> None:
        self._cancel_walk()
        if self.frozen or self.listing.lo == 0:
            self.table.move_cursor(row=0)
            self.table.scroll_to(y=0, animate=False, immediate=True)
            return
        self._jump += 1
        self._request(0, "home")

    def action_jump_end(self) -> None:
        end = self.listing.end
        if self.frozen or (end is not None and end in self.listing.pages):
            self.table.move_cursor(row=max(0, self.table.row_count - 1))
            return
        if self._walking is not None:
            return  # already on its way
        self._jump += 1
        if end is not None and self.listing.known(end):
            self._request(end, "end")
            return
        k = self.listing.last_known
        self._walking = 0
        self._walk(
            self._listing_gen, k, self.listing.cursor(k), self._jump, self.prefix, self.state
        )
        self._update_summary()

    def _cancel_walk(self) -> None:
        if self._walking is not None:
            self.workers.cancel_group(self, "inventory-walk")
            self._walking = None
            self._jump += 1
            self._update_summary()

    # -- server-side filters ----------------------------------------------------------

    def _new_listing(self) -> None:
        """A new prefix or state: a listing of its own, from its first page."""
        self._cancel_walk()
        self._listing_gen += 1
        self._forget(self.listing.reset())
        self.listing = PagedListing(self.page_size, self.window_pages)
        self._view_gen += 1
        self._inflight.clear()
        self.table.clear()
        self._cells = {}
        self.workers.cancel_group(self, "inventory-refresh")
        self.action_refresh()

    def set_prefix(self, prefix: str) -> None:
        if prefix == self.prefix:
            return
        self.prefix = prefix
        self._new_listing()

    def set_state(self, state: str | None) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        if state == self.state:
            return
        self.state = state
        self._new_listing()

    def action_cycle_state(self) -> None:
        self.set_state(STATES[(STATES.index(self.state) + 1) % len(STATES)])

    def action_show_state(self, state: str) -> None:
        self.set_state(state or None)

    # -- the header -------------------------------------------------------------------

    def _total(self) -> int | None:
        exact = self.listing.approx_total()
        if exact is not None:
            return exact
        if self.summary is None or self.prefix:
            return None
        field = STATE_TOTAL.get(self.state or "", "namespaces")
        value = self.summary.get(field)
        return int(value) if isinstance(value, int) else None

    def _update_summary(self) -> None:
        if not self.is_mounted:
            return
        key = cursor_key(self.table)
        position = self.listing.position(key) if key else None
        partial = self._partial()
        sort = None
        if self.sort_column != "name" or self.sort_reverse:
            sort = f"{self.sort_column} {'▼' if self.sort_reverse else '▲'}"
        status, stale = status_text(
            self._last_ok_ms, self._error, self._refreshing or bool(self._inflight)
        )
        view = ViewState(
            row=None if position is None or self.frozen else position + 1,
            total=self._total(),
            loaded=len(self.rows),
            shown=len(self._cells),
            state=self.state,
            prefix=self.prefix,
            filter_text=self.filter_text,
            sort=sort,
            frozen=partial,
            walking=self._walking,
            status=status,
            stale=stale,
        )
        width = max(20, self.size.width - 2)
        text = pack([summary_parts(self.summary, self._summary_error), view_parts(view)], width)
        if text == self._header:
            return
        lines = text.plain.count("\n")
        summary = self.query_one("#summary", Static)
        # A re-layout repaints the whole screen: only when the header's height changes.
        summary.update(text, layout=lines != self._header_lines)
        summary.set_class(self._error is not None, "stale")
        self._header, self._header_lines = text, lines
