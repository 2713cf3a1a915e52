"""The watcher's snapshots (DESIGN.md watcher step 3): when, at what cost, and retention.

The watcher calls ``hook`` on every stable poll. It decides, from the KV only:

- **snapshot** when the namespace has facet fields, data moved since the last watcher
  snapshot (``last_write_ms``), and the last one started at least
  ``LAYER_SNAPSHOT_MIN_INTERVAL_MS`` ago. Inside the interval the poll is *deferred*
  (counted in ``/metrics``); the first stable poll after it catches up at the newest
  watermark, so a namespace written all day costs one snapshot per interval.
- **skip** when the namespace holds more than ``LAYER_SNAPSHOT_MAX_DOCS`` documents: no
  scan; an activity event with ``skipped`` says why (once per interval) and
  ``layer_watcher_snapshots_total{outcome="skipped_max_docs"}`` counts it.
- **prune** (``retention.py``) a namespace with history at most every
  ``LAYER_HISTORY_PRUNE_INTERVAL_MS``.

Its state per namespace lives in KV set ``snapshot_watch`` (``last_snapshot_ms``,
``last_write_ms``, ``last_prune_ms``), so it survives restarts and lease moves. Work runs
on a small pool, one task per namespace at a time; the watcher's tick never waits.

When the watcher stops (``stop``, from ``stop_watcher``), it takes no new work, drops
what is queued, and a snapshot in flight gives up at its next page and writes nothing.
Without that, a scan left running kept its process alive after Ctrl-C or SIGTERM: the
pool's threads are joined at interpreter exit, and once the upstream was gone each of
the scan's calls went through its retries (``layer demo`` took 4-7.5 s to exit after
Ctrl-C on a loaded machine, 1-1.7 s since).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson

from backend import metrics
from backend.freshness import Freshness
from backend.lease import Fence
from backend.snapshots import layout
from backend.snapshots.histogram import build_body
from backend.snapshots.origin import ServerCounting, count_origin
from backend.snapshots.repo import SnapshotRepo
from backend.snapshots.retention import Pruner
from backend.upstream import Upstream
from common.canonical import with_sha
from common.settings import Settings
from common.timeutil import now_ms

log = logging.getLogger(__name__)

WATCH_SET = "snapshot_watch"
Hook = Callable[[str, dict[str, Any], Freshness, Freshness], None]


class WatchStopped(Exception):
    """The watcher is stopping: the snapshot in flight gives up and writes nothing."""


class WatchSnapshots:
    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        repo: SnapshotRepo,
        server: ServerCounting,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.repo = repo
        self.server = server
        self.pruner = Pruner(repo, settings.history_keep, settings.activity_retention_days)
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- start and stop ----------------------------------------------------------------
    def start(self) -> None:
        """Take work again after ``stop`` (a watcher started again in the same process)."""
        self._stopping.clear()

    def stop(self, grace_s: float = 5.0) -> bool:
        """Take no new work, drop the queued, and wait up to ``grace_s`` for the running
        to give up; True when none is left (0: do not wait, say nothing)."""
        self._stopping.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for ns, fut in list(self._inflight.items()):
                if fut.cancelled():
                    del self._inflight[ns]
        if grace_s <= 0:
            return not self._inflight
        try:
            self.wait_idle(grace_s)
        except TimeoutError:
            log.warning(
                "watcher snapshots still running after the grace period",
                extra={"namespaces": sorted(self._inflight), "grace_s": grace_s},
            )
            return False
        return True

    def in_flight(self) -> list[str]:
        """The namespaces with a snapshot or prune queued or running."""
        with self._lock:
            return sorted(self._inflight)

    def _check_stopping(self, _scanned: int) -> None:
        if self._stopping.is_set():
            raise WatchStopped()

    # -- state -------------------------------------------------------------------------
    def state(self, ns: str) -> dict[str, Any]:
        rec = self.repo.kv.get(WATCH_SET, ns)
        return dict(rec.value) if rec is not None else {}

    def _note(self, ns: str, **changes: Any) -> None:
        for _ in range(5):
            rec = self.repo.kv.get(WATCH_SET, ns)
            value = {**(rec.value if rec else {}), **changes}
            if self.repo.kv.cas(WATCH_SET, ns, value, 0 if rec is None else rec.generation):
                return

    # -- the hook ----------------------------------------------------------------------
    def hook(self, lease: Fence) -> Hook:
        def on_stable(ns: str, meta: dict[str, Any], prev: Freshness, new: Freshness) -> None:
            if self._stopping.is_set():
                return
            task = self.decide(ns, meta, new)
            if task is None:
                return
            with self._lock:
                if ns in self._inflight or self._stopping.is_set():
                    return
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=2, thread_name_prefix="layer-watch-snap"
                    )
                self._inflight[ns] = self._pool.submit(self._run, task, lease, ns, meta, new)

        return on_stable

    def decide(self, ns: str, meta: dict[str, Any], fr: Freshness) -> str | None:
        """ "snapshot", "prune" or None for this stable poll (KV reads only: none for a
        namespace with no facet fields and no history beyond the mirror lookup)."""
        fields = self.settings.facet_fields(ns)
        latest = self.repo.latest_state(ns)
        if not fields and latest is None:
            return None
        now = now_ms()
        w = self.state(ns)
        if fields and fr.stable_as_of is not None:
            last = w.get("last_write_ms")
            if last is None and latest is not None:
                last = latest.get("last_write_ms")  # written before this module kept state
            moved = not (
                last is not None and fr.last_write_ms is not None and fr.last_write_ms <= last
            )
            if moved:
                since = now - int(w.get("last_snapshot_ms") or 0)
                if since >= self.settings.snapshot_min_interval_ms:
                    return "snapshot"
                metrics.WATCH_SNAPSHOTS.labels("deferred").inc()
        every = self.settings.history_prune_interval_ms
        if every > 0 and latest is not None and now - int(w.get("last_prune_ms") or 0) >= every:
            return "prune"
        return None

    def _run(self, task: str, lease: Fence, ns: str, meta: dict[str, Any], fr: Freshness) -> None:
        try:
            if task == "snapshot":
                self.snapshot(lease, ns, meta, fr)
            else:
                self.prune(ns)
        except WatchStopped:
            log.info("watcher snapshot given up: the watcher is stopping", extra={"namespace": ns})
        except Exception:
            if task == "snapshot":
                metrics.WATCH_SNAPSHOTS.labels("failed").inc()
            log.exception("watcher %s failed", task, extra={"namespace": ns})
        finally:
            with self._lock:
                self._inflight.pop(ns, None)

    # -- the work ----------------------------------------------------------------------
    def prune(self, ns: str) -> dict[str, Any]:
        self._note(ns, last_prune_ms=now_ms())
        return self.pruner.prune(ns)

    def snapshot(self, lease: Fence, ns: str, meta: dict[str, Any], fr: Freshness) -> str | None:
        """One snapshot of the configured fields at ``stable_as_of``; the SHA, or None."""
        assert fr.stable_as_of is not None
        start = now_ms()
        self._note(ns, last_snapshot_ms=start)
        fields = list(self.settings.facet_fields(ns))
        rows = meta.get("approx_row_count")
        cap = self.settings.snapshot_max_docs
        if cap > 0 and isinstance(rows, int) and rows > cap:
            self._record_skip(ns, fr, fields, rows)
            self._note(ns, last_write_ms=fr.last_write_ms)
            return None
        stats: dict[str, Any] = {}
        counters, _ = count_origin(
            self.upstream,
            ns,
            fields,
            filters=None,
            page_size=self.settings.watch_page_size,
            schema=meta.get("schema") or {},
            strategy=self.settings.origin_strategy,
            progress=self._check_stopping,
            server=self.server,
            stats=stats,
        )
        metrics.WATCH_DOCS_READ.inc(int(stats.get("docs_read") or 0))
        body = with_sha(
            build_body(ns, fr.stable_as_of, [c.result(self.settings.facet_cap) for c in counters])
        )
        self._check_stopping(0)
        if not lease.still_held(ns):
            log.warning("watcher lost its lease; snapshot not written", extra={"namespace": ns})
            return None
        created = self.repo.write(
            body,
            ts_ms=now_ms(),
            source="watcher",
            job_id=None,
            extra_state={"last_write_ms": fr.last_write_ms},
        )
        self._note(ns, last_write_ms=fr.last_write_ms, docs_read=stats.get("docs_read", 0))
        metrics.WATCH_SNAPSHOTS.labels("written" if created else "unchanged").inc()
        return str(body["sha"])

    def _record_skip(self, ns: str, fr: Freshness, fields: list[str], rows: int) -> None:
        """The skip, never silent: an activity event (``sha`` null, ``skipped``) and a metric."""
        ts = now_ms()
        event = {
            "ts_ms": ts,
            "namespace": ns,
            "sha": None,
            "watermark_ms": fr.stable_as_of,
            "fields": fields,
            "source": "watcher",
            "job_id": None,
            "skipped": {
                "reason": "max_docs",
                "row_count": rows,
                "max_docs": self.settings.snapshot_max_docs,
            },
        }
        data = orjson.dumps(event)
        tag = "skipped-max_docs"
        self.repo.store.put(layout.activity_key(ts, ns, tag), data, if_absent=True)
        self.repo.store.put(layout.activity_ns_key(ns, ts, tag), data, if_absent=True)
        metrics.WATCH_SNAPSHOTS.labels("skipped_max_docs").inc()
        log.info(
            "watcher snapshot skipped: namespace above LAYER_SNAPSHOT_MAX_DOCS",
            extra={"namespace": ns, "rows": rows},
        )

    def wait_idle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._inflight:
                    return
            time.sleep(0.02)
        raise TimeoutError("watcher snapshots still running")
