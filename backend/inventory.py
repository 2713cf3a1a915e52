"""The enriched namespace listing (seed 000, "List namespaces"; README "Scaling model").

One upstream list page, then the watcher's records for its names in one KV batch read.
A row is filled from its record (row count, size, last write, freshness, stuck) when
the record was observed at most ``LAYER_LISTING_MAX_AGE_MS`` ago and its poll did not
fail; otherwise (no record yet, too old, or a failed poll) the row calls metadata live,
concurrently with the other such rows. A failed live call degrades its row
(``metadata_error``) instead of dropping it. Whole responses are cached per process
for ``NAMESPACE_LIST_CACHE_TTL_MS`` per (prefix, cursor, page_size); concurrent misses
for one key share one fan-out.

``by_state`` pages the namespaces in one state (unstable, stuck, error) from the
watcher's state sets and records alone, without any upstream call.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from backend.errors import BadRequest, LayerError, UpstreamError
from backend.freshness import Freshness, FreshnessStore, state_set
from backend.stores.errors import StoreError
from backend.upstream import Upstream
from common.settings import Settings
from common.timeutil import ms_from_iso, now_ms

CacheStatesFn = Callable[[dict[str, Freshness]], dict[str, dict[str, Any]]]
MAX_CACHED_PAGES = 256
MAX_KNOWN_CURSORS = 4096


def cold_cache_states(records: dict[str, Freshness]) -> dict[str, dict[str, Any]]:
    return {ns: {"state": "cold", "warm_inflight": False} for ns in records}


class Inventory:
    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        freshness: FreshnessStore,
        *,
        cache_states: CacheStatesFn = cold_cache_states,
        on_cache: Callable[[bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.freshness = freshness
        self.cache_states = cache_states
        self.on_cache = on_cache
        self._cache: OrderedDict[tuple[str, str, int], tuple[float, dict[str, Any]]] = OrderedDict()
        self._inflight: dict[tuple[str, str, int], threading.Lock] = {}
        self._after: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.watch_concurrency, thread_name_prefix="layer-list"
                )
            return self._pool

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _cached(self, key: tuple[str, str, int]) -> dict[str, Any] | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > time.monotonic():
                self._cache.move_to_end(key)
                return hit[1]
            return None

    def page(self, prefix: str | None, cursor: str | None, page_size: int) -> dict[str, Any]:
        key = (prefix or "", cursor or "", page_size)
        ttl_s = self.settings.list_cache_ttl_ms / 1000
        if ttl_s > 0:
            hit = self._cached(key)
            if hit is not None:
                self._count(True)
                return hit
            with self._lock:
                flight = self._inflight.setdefault(key, threading.Lock())
            with flight:
                hit = self._cached(key)
                if hit is not None:
                    self._count(True)
                    return hit
                self._count(False)
                body = self._build(prefix, cursor, page_size)
                with self._lock:
                    self._cache[key] = (time.monotonic() + ttl_s, body)
                    self._cache.move_to_end(key)
                    while len(self._cache) > MAX_CACHED_PAGES:
                        self._cache.popitem(last=False)
                    self._inflight.pop(key, None)
                return body
        self._count(False)
        return self._build(prefix, cursor, page_size)

    def _count(self, hit: bool) -> None:
        if self.on_cache is not None:
            self.on_cache(hit)

    def _build(self, prefix: str | None, cursor: str | None, page_size: int) -> dict[str, Any]:
        size = min(page_size, 1000)
        ahead = self._read_ahead(prefix, cursor, size)
        try:
            listing = self.upstream.list_namespaces(prefix=prefix, cursor=cursor, page_size=size)
        except UpstreamError as exc:
            if exc.upstream_status == 400 and cursor:
                raise BadRequest("cursor is not a valid listing cursor", param="cursor") from None
            raise
        names = [
            item["id"]
            for item in listing["namespaces"]
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        ]
        found = self._records(names, ahead, size)
        records = {ns: found.get(ns) or Freshness() for ns in names}
        cache = self._cache_states(records)
        now = now_ms()
        live = [ns for ns in names if not self._usable(found.get(ns), now)]
        fetched = dict(
            zip(
                live,
                self.pool.map(lambda ns: self.row(ns, records[ns], cache[ns]), live),
                strict=True,
            )
        )
        rows = [
            fetched[ns] if ns in fetched else self.record_row(ns, records[ns], cache[ns])
            for ns in names
        ]
        next_cursor = listing.get("next_cursor") or None
        if next_cursor and names:
            with self._lock:
                self._after[(prefix or "", next_cursor)] = names[-1]
                while len(self._after) > MAX_KNOWN_CURSORS:
                    self._after.popitem(last=False)
        return {"namespaces": rows, "next_cursor": next_cursor}

    def _read_ahead(
        self, prefix: str | None, cursor: str | None, size: int
    ) -> Future[list[tuple[str, Freshness]] | None] | None:
        """Start reading the page's records in name order while the upstream lists it.

        The upstream cursor is opaque, so the records can be read ahead only for a first
        page or a cursor this process handed out (it remembers the last name before it)."""
        if cursor is None:
            after = None
        else:
            with self._lock:
                after = self._after.get((prefix or "", cursor))
            if after is None:
                return None
        return self.pool.submit(self.freshness.range, prefix or "", after, size)

    def _records(
        self,
        names: list[str],
        ahead: Future[list[tuple[str, Freshness]] | None] | None,
        size: int,
    ) -> dict[str, Freshness]:
        """The records of ``names``: those the read-ahead covered, the rest by key."""
        found: dict[str, Freshness] = {}
        rest = names
        try:
            page = ahead.result() if ahead is not None else None
        except StoreError:
            page = None
        if page is not None:
            wanted = set(names)
            found = {ns: fr for ns, fr in page if ns in wanted}
            # The range holds every record up to its last key (all after, if it is short).
            last = page[-1][0] if len(page) >= size else None
            rest = [ns for ns in names if ns not in found and last is not None and ns > last]
        if rest:
            with contextlib.suppress(StoreError):  # unknown rows then call metadata live
                found.update(self.freshness.get_many(rest))
        return found

    def _usable(self, fr: Freshness | None, now: int) -> bool:
        """A record recent enough, from a successful poll, to stand for live metadata."""
        return (
            fr is not None
            and fr.observed_ms is not None
            and fr.last_error is None
            and now - fr.observed_ms <= self.settings.listing_max_age_ms
        )

    def _cache_states(self, records: dict[str, Freshness]) -> dict[str, dict[str, Any]]:
        """The page's cache states in one batch; a store that fails shows them as cold."""
        try:
            return self.cache_states(records)
        except StoreError:
            return cold_cache_states(records)

    def _base(self, ns: str, fr: Freshness, cache: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": ns,
            "row_count": None,
            "size_bytes": None,
            "stable_as_of_ms": fr.stable_as_of,
            "is_stable": fr.is_stable,
            "cache_state": cache,
            "last_write_ms": fr.last_write_ms,
            "shadow": self.settings.is_shadow(ns),
            "labels": self.settings.labels_for(ns),
            "observed_ms": fr.observed_ms,
            "index_stuck_since_ms": fr.index_stuck_since_ms,
        }

    def record_row(self, ns: str, fr: Freshness, cache: dict[str, Any]) -> dict[str, Any]:
        """A row from the watcher's record alone (no upstream call)."""
        row = self._base(ns, fr, cache)
        if fr.last_error is not None:
            row["metadata_error"] = fr.last_error  # degraded, like a failed live call
            return row
        row["row_count"] = fr.row_count
        row["size_bytes"] = fr.size_bytes
        return row

    def row(self, ns: str, fr: Freshness, cache: dict[str, Any]) -> dict[str, Any]:
        """A row with live metadata (and the record's freshness, if any)."""
        row = self._base(ns, fr, cache)
        try:
            meta = self.upstream.metadata(ns)
        except LayerError as exc:
            row["metadata_error"] = exc.message
            return row
        row["row_count"] = meta.get("approx_row_count")
        row["size_bytes"] = meta.get("approx_logical_bytes")
        row["last_write_ms"] = ms_from_iso(meta.get("last_write_at"))
        return row

    def by_state(
        self, state: str, prefix: str | None, cursor: str | None, page_size: int
    ) -> dict[str, Any]:
        """One page of the namespaces in ``state``, in name order, from the records only.

        The state set may hold a member whose record has moved on (it is removed on the
        next poll); each candidate's record is re-checked, so such a member is skipped."""
        rows: list[dict[str, Any]] = []
        chunk: list[str] = []

        def flush() -> None:
            found = self.freshness.get_many(chunk)
            records = {ns: fr for ns, fr in found.items() if state in fr.states()}
            cache = self._cache_states(records)
            for ns in chunk:
                if ns in records and len(rows) <= page_size:
                    rows.append(self.record_row(ns, records[ns], cache[ns]))
            chunk.clear()

        for ns, _ in self.freshness.kv.scan(state_set(state), prefix or ""):
            if cursor is not None and ns <= cursor:
                continue
            chunk.append(ns)
            if len(chunk) >= max(64, page_size):
                flush()
                if len(rows) > page_size:
                    break
        if chunk and len(rows) <= page_size:
            flush()
        more = len(rows) > page_size
        rows = rows[:page_size]
        return {"namespaces": rows, "next_cursor": rows[-1]["name"] if more and rows else None}
