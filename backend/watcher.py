"""The consistency watcher (DESIGN.md "The watcher").

Each tick pages the upstream namespace list, polls every namespace's metadata with
bounded concurrency, and records the freshness signal: ``is_stable`` is whether this
poll saw ``index.status == "up-to-date"``; a stable poll moves ``stable_as_of`` to the
poll's start, an unstable or failed one keeps it. One namespace's failure is recorded
on it and never stops the tick. Only the lease holder ticks.

Step 3 (a snapshot when a stable poll finds newer data) is the ``on_stable`` hook,
called after the freshness record is written, with the lease for fencing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from backend import metrics
from backend.errors import LayerError
from backend.freshness import Freshness, FreshnessStore
from backend.lease import Lease
from backend.stores.errors import StoreError
from backend.upstream import Upstream
from common.settings import Settings
from common.timeutil import ms_from_iso, now_ms

log = logging.getLogger(__name__)

OnStable = Callable[[str, dict[str, Any], Freshness, Freshness], None]


@dataclass
class TickResult:
    leader: bool
    namespaces: int = 0
    unstable: int = 0
    errors: int = 0
    duration_ms: float = 0.0
    list_error: str | None = None
    polled: dict[str, Freshness] = field(default_factory=dict)


class Watcher:
    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        freshness: FreshnessStore,
        lease: Lease,
        *,
        on_stable: OnStable | None = None,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.freshness = freshness
        self.lease = lease
        self.on_stable = on_stable
        self.last_tick: TickResult | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.watch_concurrency, thread_name_prefix="layer-watch"
                )
            return self._pool

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        self.lease.release()

    def iter_namespaces(self) -> Iterator[str]:
        cursor: str | None = None
        while True:
            page = self.upstream.list_namespaces(cursor=cursor, page_size=1000)
            for item in page["namespaces"]:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    yield item["id"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def tick(self) -> TickResult:
        """One scheduled tick: take or renew the lease, then poll everything if leader."""
        t0 = time.perf_counter()
        try:
            leader = self.lease.acquire()
        except StoreError as exc:
            log.error("watcher cannot reach the lease store", extra={"error": str(exc)})
            leader = False
        result = TickResult(leader=False) if not leader else self.poll_all()
        result.duration_ms = (time.perf_counter() - t0) * 1000
        self.last_tick = result
        metrics.LEASE_HELD.set(1 if leader else 0)
        if leader:
            metrics.WATCHER_TICK_SECONDS.observe(result.duration_ms / 1000)
            metrics.WATCHER_POLLED.set(result.namespaces)
            metrics.WATCHER_UNSTABLE.set(result.unstable)
        if leader:
            log.debug(
                "watcher tick",
                extra={
                    "namespaces": result.namespaces,
                    "unstable": result.unstable,
                    "errors": result.errors,
                    "duration_ms": round(result.duration_ms, 1),
                },
            )
        return result

    def poll_all(self) -> TickResult:
        result = TickResult(leader=True)
        try:
            names = list(self.iter_namespaces())
        except LayerError as exc:
            result.list_error = exc.message
            log.error("watcher could not list namespaces", extra={"error": exc.message})
            return result
        for ns, fr in zip(names, self.pool.map(self.poll, names), strict=True):
            result.polled[ns] = fr
            result.namespaces += 1
            if not fr.is_stable:
                result.unstable += 1
            if fr.last_error:
                result.errors += 1
        return result

    def poll(self, ns: str) -> Freshness:
        """Poll one namespace and record what it showed; never raises for upstream trouble."""
        start = now_ms()
        prev = self.freshness.get(ns)
        meta: dict[str, Any] | None = None
        try:
            meta = self.upstream.metadata(ns)
            index = meta.get("index") if isinstance(meta.get("index"), dict) else {}
            status = index.get("status") if isinstance(index, dict) else None
            stable = status == "up-to-date"
            schema = meta.get("schema") if isinstance(meta.get("schema"), dict) else {}
            new = Freshness(
                is_stable=stable,
                stable_as_of=start if stable else prev.stable_as_of,
                last_poll_ms=start,
                last_error=None,
                last_write_ms=ms_from_iso(meta.get("last_write_at")),
                index_status=status if isinstance(status, str) else None,
                has_watermark=self.settings.watermark_attribute in (schema or {}),
            )
        except LayerError as exc:
            new = Freshness(
                is_stable=False,
                stable_as_of=prev.stable_as_of,
                last_poll_ms=start,
                last_error=exc.message,
                last_write_ms=prev.last_write_ms,
                index_status=prev.index_status,
                has_watermark=prev.has_watermark,
            )
        try:
            self.freshness.put(ns, new)
        except StoreError as exc:
            log.error(
                "watcher could not record freshness", extra={"namespace": ns, "error": str(exc)}
            )
            return new
        if new.is_stable and meta is not None and self.on_stable is not None:
            try:
                self.on_stable(ns, meta, prev, new)
            except (LayerError, StoreError) as exc:
                log.error(
                    "watcher on_stable hook failed", extra={"namespace": ns, "error": str(exc)}
                )
        return new
