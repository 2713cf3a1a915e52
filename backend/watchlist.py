"""The watcher's walk of the upstream namespace list, a few pages per tick.

Listing a million namespaces is a thousand calls, so the walk never restarts each tick:
it keeps its cursor and goes on where it stopped, and every page is a call taken from
the same budget as the polls. The number of pages per tick is chosen so a whole pass
takes about a quarter of ``LAYER_SWEEP_MAX_MS`` (at least one page; the first pass
after a start takes up to ``FIRST_PASS_PAGES`` per tick, since everything is new then).
A list that fits in one page is read whole every tick, so a new namespace there is
polled in the tick that first lists it.

Each page covers a range of names (after the previous page's last name, up to its own
last one). A name of a held shard that the watcher knows but the page does not list is
due at once: its poll answers 404 if it is gone, which prunes it.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from backend.errors import LayerError, UpstreamError
from common.settings import Settings
from common.timeutil import now_ms

if TYPE_CHECKING:
    from backend.watcher import TickResult, Watcher

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
FIRST_PASS_PAGES = 20
PASS_FRACTION = 0.25


class ListWalk:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cursor: str | None = None
        self.lo: str | None = None
        self.pass_pages = 0
        self.last_pass_pages: int | None = None
        self.pass_started_ms = now_ms()
        self.last_pass_ms: int | None = None

    def pages_per_tick(self) -> int:
        if self.last_pass_pages is None:
            return FIRST_PASS_PAGES
        tick = self.settings.watch_interval_ms
        target = max(self.settings.sweep_max_ms * PASS_FRACTION, tick)
        return max(1, math.ceil(self.last_pass_pages * tick / target))

    def step(self, w: Watcher, deadline: float, result: TickResult) -> None:
        for _ in range(self.pages_per_tick()):
            if not w.bucket.take(deadline):
                return
            try:
                page = w.upstream.list_namespaces(
                    cursor=self.cursor, page_size=PAGE_SIZE, no_retry=frozenset({429})
                )
            except LayerError as exc:
                if isinstance(exc, UpstreamError) and exc.upstream_status == 429:
                    w.bucket.throttle(exc.retry_after_s)
                    result.throttled += 1
                    return
                result.list_error = exc.message
                log.error("watcher could not list namespaces", extra={"error": exc.message})
                return
            result.list_calls += 1
            if self._page(w, page, result):
                return

    def _page(self, w: Watcher, page: dict[str, object], result: TickResult) -> bool:
        """Take in one page; True when it ended a pass."""
        items = page.get("namespaces")
        names = [
            item["id"]
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        ]
        nxt = page.get("next_cursor")
        more = bool(nxt) and bool(names)
        hi = names[-1] if more else None
        listed = set(names)
        now = now_ms()
        for ns in names:
            sched = w.schedules.get(w.leases.shard(ns))
            if sched is not None and ns not in sched:
                sched.add_new(ns, now)
                result.discovered += 1
        for sched in w.schedules.values():
            for ns in sched.between(self.lo, hi):
                if ns not in listed:
                    sched.retry_now(ns, now)
        self.pass_pages += 1
        if more:
            self.cursor, self.lo = str(nxt), hi
            return False
        self.last_pass_pages = self.pass_pages
        self.last_pass_ms = now - self.pass_started_ms
        self.cursor = self.lo = None
        self.pass_pages = 0
        self.pass_started_ms = now
        return True
