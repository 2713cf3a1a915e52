"""The consistency watcher (DESIGN.md "The watcher").

Each tick pages the upstream namespace list, polls every namespace's metadata with
bounded concurrency, and records the freshness signal: ``is_stable`` is whether this
poll saw ``index.status == "up-to-date"``; a stable poll moves ``stable_as_of`` to the
poll's start, an unstable or failed one keeps it. One namespace's failure is recorded
on it and never stops the tick. Only the lease holder ticks.

Step 3 (a snapshot when a stable poll finds newer data) is the ``on_stable`` hook,
called after the freshness record is written, with the lease for fencing.

A tick reads every freshness record in one scan and writes the new ones in batches of
``WRITE_BATCH`` (one store transaction each) as the polls come back in order: one write
transaction per namespace from 32 threads spent most of a 10,000-namespace tick waiting
on SQLite's write lock (bench/bench_watcher.py).
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
WRITE_BATCH = 500


@dataclass(frozen=True)
class Observation:
    """One namespace's poll: the record before, the record after, and the metadata seen."""

    ns: str
    prev: Freshness
    new: Freshness
    meta: dict[str, Any] | None


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
        try:
            known = self.freshness.get_all()
        except StoreError as exc:
            log.error("watcher cannot read freshness", extra={"error": str(exc)})
            known = {}
        batch: list[Observation] = []
        observed = self.pool.map(lambda ns: self.observe(ns, known.get(ns, Freshness())), names)
        for obs in observed:
            batch.append(obs)
            if len(batch) >= WRITE_BATCH:
                self._record(batch)
                batch = []
            result.polled[obs.ns] = obs.new
            result.namespaces += 1
            if not obs.new.is_stable:
                result.unstable += 1
            if obs.new.last_error:
                result.errors += 1
        self._record(batch)
        return result

    def observe(self, ns: str, prev: Freshness) -> Observation:
        """One metadata poll turned into the namespace's next freshness record."""
        start = now_ms()
        try:
            meta = self.upstream.metadata(ns)
        except LayerError as exc:
            failed = Freshness(
                is_stable=False,
                stable_as_of=prev.stable_as_of,
                last_poll_ms=start,
                last_error=exc.message,
                last_write_ms=prev.last_write_ms,
                index_status=prev.index_status,
                has_watermark=prev.has_watermark,
            )
            return Observation(ns, prev, failed, None)
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
        return Observation(ns, prev, new, meta)

    def _record(self, batch: list[Observation]) -> None:
        """Write a batch of records, then run the hook for the stable ones among them."""
        if not batch:
            return
        try:
            self.freshness.put_many([(o.ns, o.new) for o in batch])
        except StoreError as exc:
            log.error(
                "watcher could not record freshness",
                extra={"namespaces": len(batch), "first": batch[0].ns, "error": str(exc)},
            )
            return
        if self.on_stable is None:
            return
        for o in batch:
            if not (o.new.is_stable and o.meta is not None):
                continue
            try:
                self.on_stable(o.ns, o.meta, o.prev, o.new)
            except (LayerError, StoreError) as exc:
                log.error(
                    "watcher on_stable hook failed", extra={"namespace": o.ns, "error": str(exc)}
                )
