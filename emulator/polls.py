"""Per-namespace metadata-poll tracking, so a benchmark can check a watcher's sweep.

Off until ``POST /_emulator/polls {"track": true}`` (which also restarts it). While on,
every metadata call records its namespace's time, and every write marks the namespace
written. ``GET /_emulator/polls`` then answers, over namespaces not written since
tracking began (the idle ones), the longest time any went without a metadata call:
the longest gap between two calls, or from the start of tracking to the first call,
or from the last call to now. Costs one dict entry per polled namespace (about 150
bytes), nothing when off. The counters are the emulator's own: they do not trust the
watcher's bookkeeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from emulator.state import BadRequest


class PollTracker:
    def __init__(self, clock: Callable[[], int], names: Callable[[], list[str]]) -> None:
        self._clock = clock
        self._names = names
        self._lock = threading.Lock()
        self.since_ms: int | None = None
        self._last: dict[str, int] = {}
        self._written: set[str] = set()
        self._max_gap = 0
        self._max_gap_ns: str | None = None
        self.calls = 0

    def set(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("track"), bool):
            raise BadRequest("track must be true or false")
        with self._lock:
            self._last = {}
            self._written = set()
            self._max_gap, self._max_gap_ns, self.calls = 0, None, 0
            self.since_ms = self._clock() if body["track"] else None

    def metadata(self, name: str) -> None:
        if self.since_ms is None:
            return
        now = self._clock()
        with self._lock:
            if self.since_ms is None:
                return
            gap = now - self._last.get(name, self.since_ms)
            if gap > self._max_gap and name not in self._written:
                self._max_gap, self._max_gap_ns = gap, name
            self._last[name] = now
            self.calls += 1

    def written(self, name: str) -> None:
        if self.since_ms is not None:
            with self._lock:
                self._written.add(name)

    def status(self) -> dict[str, Any]:
        """Counters; the full answer walks every name (a million: about a second)."""
        with self._lock:
            since = self.since_ms
            last = dict(self._last)
            written = set(self._written)
            max_gap, max_ns, calls = self._max_gap, self._max_gap_ns, self.calls
        if since is None:
            return {"tracking": False}
        now = self._clock()
        never = 0
        oldest_ns: str | None = None
        oldest = -1
        for name in self._names():
            if name in written:
                continue
            t = last.get(name)
            if t is None:
                never += 1
                t = since
            if now - t > oldest:
                oldest, oldest_ns = now - t, name
        if oldest > max_gap:
            max_gap, max_ns = oldest, oldest_ns
        return {
            "tracking": True,
            "since_ms": since,
            "calls": calls,
            "polled": len(last),
            "written": len(written),
            "never_polled_idle": never,
            "max_idle_gap_ms": max(max_gap, 0),
            "max_idle_gap_namespace": max_ns,
        }
