"""The consistency watcher (DESIGN.md "The watcher"; README "Scaling model").

A tick polls only what needs it, within a budget, for the shards this process holds:

1. **rebalance** the shard leases (``backend/shards.py``; a keeper job does it too, every
   ``keep_interval_ms``, so a dead watcher's shards move without waiting for a tick) and
   load the schedule of any shard just taken (``backend/sweep.py``) on a loader thread:
   the tick waits for it at most a quarter of an interval, then polls the shard's fast
   lane meanwhile and sweeps it once its schedule is in;
2. the **fast lane**: every namespace marked dirty by a write through Layer, every tick,
   until a poll that started after the mark sees it stable (the mark is then removed by
   generation, so a newer write keeps it);
3. a few pages of the **upstream list** (the walk goes on where it stopped last tick):
   a name not yet known is due at once; a known name missing from the range a page
   covers is due at once too, and the poll's 404 prunes its record;
4. the **sweep**: namespaces whose due time has come, most overdue first, while the
   budget (``backend/budget.py``) has tokens before the tick's deadline (80% of an
   interval, so the tick is done before the next one is due).

A poll records the freshness signal: ``is_stable`` is whether it saw ``index.status ==
"up-to-date"``; a stable poll moves ``stable_as_of`` to the poll's start, an unstable
or failed one keeps it. One namespace's failure is recorded on it and never stops the
tick; a 429 pauses every call (``Retry-After``) and leaves the namespace due. Records
are written in batches after the fencing check for their shard, and the ``on_stable``
hook runs for the stable ones once their record is written.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from backend import metrics
from backend.budget import TokenBucket
from backend.errors import LayerError, UpstreamError, UpstreamNotFound
from backend.freshness import DIRTY, STATES, Freshness, FreshnessStore, state_set
from backend.shards import ShardLeases
from backend.stores.errors import StoreError
from backend.stores.kv_base import Record
from backend.sweep import SET as SWEEP
from backend.sweep import ShardSchedule, interval_ms, pop_due_across, sweep_key, sweep_value
from backend.upstream import Upstream
from backend.watchlist import ListWalk
from backend.watchsummary import write_summaries
from common.settings import Settings
from common.timeutil import ms_from_iso, now_ms

log = logging.getLogger(__name__)

OnStable = Callable[[str, dict[str, Any], Freshness, Freshness], None]
WRITE_BATCH = 500
THROTTLE = frozenset({429})
TICK_SHARE = 0.8


@dataclass(frozen=True)
class Observation:
    """One namespace's poll: the record before, the record after, and the metadata seen."""

    ns: str
    prev: Freshness
    new: Freshness
    meta: dict[str, Any] | None
    outcome: str = "ok"  # ok | error | gone | throttled


@dataclass
class TickResult:
    leader: bool
    namespaces: int = 0
    unstable: int = 0
    errors: int = 0
    duration_ms: float = 0.0
    list_error: str | None = None
    polled: dict[str, Freshness] = field(default_factory=dict)
    shards: list[int] = field(default_factory=list)
    fast: int = 0
    dirty: int = 0
    swept: int = 0
    list_calls: int = 0
    discovered: int = 0
    pruned: int = 0
    throttled: int = 0
    deferred: int = 0
    stretch: float = 1.0
    polls_per_s: float = 0.0


def _release(slot: threading.BoundedSemaphore, _done: object) -> None:
    slot.release()


class Watcher:
    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        freshness: FreshnessStore,
        leases: ShardLeases,
        *,
        on_stable: OnStable | None = None,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.freshness = freshness
        self.kv = freshness.kv
        self.leases = leases
        self.on_stable = on_stable
        self.bucket = TokenBucket(settings.watch_max_rps)
        self.schedules: dict[int, ShardSchedule] = {}
        self.held: set[int] = set()
        self._loading: Future[dict[int, ShardSchedule]] | None = None
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layer-sweep-load")
        self.walk = ListWalk(settings)
        self.last_tick: TickResult | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def lease(self) -> ShardLeases:
        return self.leases

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.watch_concurrency, thread_name_prefix="layer-watch"
                )
            return self._pool

    def keep_leases(self) -> list[int]:
        """The keeper job: heartbeat, renew, and take or give shards (between ticks too)."""
        try:
            held = self.leases.rebalance()
        except StoreError as exc:
            log.error("watcher cannot reach the lease store", extra={"error": str(exc)})
            return sorted(self.held)
        self.held = set(held)
        return held

    def shutdown(self) -> None:
        self._loader.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        try:
            self.leases.release()
        except StoreError as exc:
            log.error("watcher could not release its leases", extra={"error": str(exc)})
        self.schedules = {}

    # -- the tick ----------------------------------------------------------------------

    def tick(self) -> TickResult:
        """One scheduled tick: rebalance the shards, then poll what is due in them."""
        t0 = time.perf_counter()
        try:
            held = self.leases.rebalance()
            self.held = set(held)
            self._sync_schedules(held, wait_s=self.settings.watch_interval_ms / 4000)
        except StoreError as exc:
            log.error("watcher cannot reach the lease store", extra={"error": str(exc)})
            held, self.held, self.schedules = [], set(), {}
        result = TickResult(leader=False) if not held else self.run(held)
        result.duration_ms = (time.perf_counter() - t0) * 1000
        period_s = max(result.duration_ms, self.settings.watch_interval_ms) / 1000
        result.polls_per_s = result.namespaces / period_s
        self.last_tick = result
        metrics.observe_tick(result, self.bucket)
        if held:
            log.debug(
                "watcher tick",
                extra={
                    "shards": len(held),
                    "namespaces": result.namespaces,
                    "fast": result.fast,
                    "swept": result.swept,
                    "unstable": result.unstable,
                    "errors": result.errors,
                    "deferred": result.deferred,
                    "duration_ms": round(result.duration_ms, 1),
                },
            )
        return result

    def _sync_schedules(self, held: list[int], wait_s: float) -> None:
        """Drop the schedules of shards given up; load those of shards taken, on the
        loader thread (a million namespaces take a while), waiting for it up to
        ``wait_s``. A load that finishes later is taken in by a later tick."""
        for shard in list(self.schedules):
            if shard not in held:
                del self.schedules[shard]
        if self._loading is None:
            new = [shard for shard in held if shard not in self.schedules]
            if not new:
                return
            self._loading = self._loader.submit(ShardSchedule.load_many, self.kv, new)
        try:
            loaded = self._loading.result(timeout=wait_s)
        except FutureTimeout:
            return
        except StoreError:
            self._loading = None
            raise
        self._loading = None
        self.schedules.update({shard: sc for shard, sc in loaded.items() if shard in self.held})

    def run(self, held: list[int]) -> TickResult:
        s = self.settings
        self.bucket.set_rate(s.watch_max_rps * len(held) / s.watch_shards)
        # The tick ends at 80% of an interval: one that ran the whole interval would still be
        # running when the next is due, and APScheduler skips a run that finds its job
        # busy (max_instances=1), so every other tick would be lost.
        deadline = time.monotonic() + TICK_SHARE * s.watch_interval_ms / 1000
        result = TickResult(leader=True, shards=list(held))
        done: set[str] = set()
        dirty = self._dirty()
        result.dirty = len(dirty)
        now = now_ms()
        for ns in dirty:
            sched = self.schedules.get(self.leases.shard(ns))
            if sched is not None:  # else the shard's schedule is still loading
                sched.add_new(ns, now)
        # Oldest mark first: when the budget cannot poll them all in one tick, a name
        # late in the alphabet must not wait behind names written again and again.
        fast = sorted(dirty, key=lambda ns: int(dirty[ns].value.get("ms") or 0))
        self._poll(fast, deadline, result, done, dirty=dirty)
        result.fast = len(done)
        self.walk.step(self, deadline, result)
        while time.monotonic() < deadline:
            batch = self._take_due(done)
            if not batch:
                break
            self._poll(batch, deadline, result, done)
        result.swept = len(done) - result.fast
        result.stretch = write_summaries(self, result)
        return result

    def _dirty(self) -> dict[str, Record]:
        try:
            marks = self.freshness.dirty()
        except StoreError as exc:
            log.error("watcher cannot read the dirty set", extra={"error": str(exc)})
            return {}
        return {ns: rec for ns, rec in marks.items() if self.leases.shard(ns) in self.held}

    def _take_due(self, done: set[str]) -> list[str]:
        return pop_due_across(list(self.schedules.values()), now_ms(), WRITE_BATCH, done)

    def _poll(
        self,
        names: list[str],
        deadline: float,
        result: TickResult,
        done: set[str],
        *,
        dirty: dict[str, Record] | None = None,
    ) -> None:
        for start in range(0, len(names), WRITE_BATCH):
            chunk = names[start : start + WRITE_BATCH]
            try:
                prev = self.freshness.get_many(chunk)
            except StoreError as exc:
                log.error("watcher cannot read freshness", extra={"error": str(exc)})
                prev = {}
            # Tokens are taken here, in the chunk's order, each once a pool thread is free
            # (so the poll starts at once: no call queued past the deadline or bunched
            # after its token), and the poll then runs on that thread. When the budget
            # runs out, what is left is the end of the chunk (the pool's threads racing
            # for tokens served the chunk in no order at all).
            free = threading.BoundedSemaphore(self.settings.watch_concurrency)
            pending: list[Future[Observation]] = []
            for ns in chunk:
                if not free.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    break
                if not self.bucket.take(deadline):
                    free.release()
                    break
                fut = self.pool.submit(self.observe, ns, prev.get(ns, Freshness()))
                fut.add_done_callback(partial(_release, free))
                pending.append(fut)
            observed = [f.result() for f in pending]
            skipped = chunk[len(pending) :]
            result.deferred += len(skipped)
            for ns in skipped:
                sched = self.schedules.get(self.leases.shard(ns))
                if sched is not None:
                    sched.push_back([ns])
            done.update(chunk)
            self._record(observed, result, dirty or {})
            if skipped:
                return

    def observe(self, ns: str, prev: Freshness) -> Observation:
        """One metadata poll turned into the namespace's next freshness record."""
        start = now_ms()
        try:
            meta = self.upstream.metadata(ns, no_retry=THROTTLE)
        except UpstreamNotFound:
            return Observation(ns, prev, prev, None, "gone")
        except LayerError as exc:
            if isinstance(exc, UpstreamError) and exc.upstream_status == 429:
                self.bucket.throttle(exc.retry_after_s)
                return Observation(ns, prev, prev, None, "throttled")
            failed = Freshness(
                **{
                    **prev.to_dict(),
                    "is_stable": False,
                    "last_poll_ms": start,
                    "observed_ms": start,
                    "last_error": exc.message,
                    "shard": self.leases.shard(ns),
                }
            )
            return Observation(ns, prev, failed, None, "error")
        return Observation(ns, prev, self._freshness(ns, prev, meta, start), meta)

    def _freshness(self, ns: str, prev: Freshness, meta: dict[str, Any], start: int) -> Freshness:
        index = meta.get("index") if isinstance(meta.get("index"), dict) else {}
        status = index.get("status") if isinstance(index, dict) else None
        stable = status == "up-to-date"
        schema = meta.get("schema") if isinstance(meta.get("schema"), dict) else {}
        ub = index.get("unindexed_bytes") if isinstance(index, dict) else None
        ub = ub if isinstance(ub, int) and not isinstance(ub, bool) else None
        backlog: int | None = None
        if not stable and status is not None:
            # "not falling": the backlog is as large as (or larger than) at the last poll
            same = prev.index_status == status and prev.backlog_since_ms is not None
            falling = (
                ub is not None and prev.unindexed_bytes is not None and ub < prev.unindexed_bytes
            )
            backlog = prev.backlog_since_ms if same and not falling else start
        stuck = (
            backlog
            if backlog is not None and start - backlog >= self.settings.stuck_after_ms
            else None
        )
        return Freshness(
            is_stable=stable,
            stable_as_of=start if stable else prev.stable_as_of,
            last_poll_ms=start,
            last_error=None,
            last_write_ms=ms_from_iso(meta.get("last_write_at")),
            index_status=status if isinstance(status, str) else None,
            has_watermark=self.settings.watermark_attribute in (schema or {}),
            observed_ms=start,
            row_count=_int_or_none(meta.get("approx_row_count")),
            size_bytes=_int_or_none(meta.get("approx_logical_bytes")),
            unindexed_bytes=ub,
            backlog_since_ms=backlog,
            index_stuck_since_ms=stuck,
            shard=self.leases.shard(ns),
        )

    # -- recording ---------------------------------------------------------------------

    def _record(
        self, batch: list[Observation], result: TickResult, dirty: dict[str, Record]
    ) -> None:
        """Write a batch of records, then run the hook for the stable ones among them."""
        if not batch:
            return
        now = now_ms()
        shards = {self.leases.shard(o.ns) for o in batch}
        lost = {shard for shard in shards if not self._renew(shard)}
        for shard in lost:
            self.schedules.pop(shard, None)
        fenced = {o.ns for o in batch if self.leases.shard(o.ns) in lost}
        if fenced:
            log.warning(
                "watcher lost a shard mid-tick; records not written", extra={"n": len(fenced)}
            )
        keep = [o for o in batch if o.ns not in fenced]
        for o in keep:
            sched = self.schedules.get(self.leases.shard(o.ns))
            if o.outcome == "throttled":
                result.throttled += 1
                if sched is not None:
                    sched.retry_now(o.ns, now)
            elif o.outcome == "gone":
                self._prune(o.ns, sched)
                result.pruned += 1
        polled = [o for o in keep if o.outcome in ("ok", "error")]
        for o in polled:
            result.polled[o.ns] = o.new
            result.namespaces += 1
            result.unstable += not o.new.is_stable
            result.errors += o.new.last_error is not None
        if not polled:
            return
        try:
            self.freshness.put_many([(o.ns, o.new) for o in polled])
        except StoreError as exc:
            log.error(
                "watcher could not record freshness",
                extra={"namespaces": len(polled), "first": polled[0].ns, "error": str(exc)},
            )
            return
        self._index(polled, now, dirty)
        if self.on_stable is None:
            return
        for o in polled:
            if not (o.new.is_stable and o.meta is not None):
                continue
            try:
                self.on_stable(o.ns, o.meta, o.prev, o.new)
            except (LayerError, StoreError) as exc:
                log.error(
                    "watcher on_stable hook failed", extra={"namespace": o.ns, "error": str(exc)}
                )

    def _renew(self, shard: int) -> bool:
        try:
            return self.leases.renew(shard)
        except StoreError:
            return False

    def _index(self, polled: list[Observation], now: int, dirty: dict[str, Record]) -> None:
        """The schedule, the state sets and the dirty marks that follow from the records."""
        s = self.settings
        sweep_items: list[tuple[str, dict[str, Any]]] = []
        members: dict[str, list[tuple[str, dict[str, Any]]]] = {st: [] for st in STATES}
        leaving: list[tuple[str, str]] = []
        for o in polled:
            shard = self.leases.shard(o.ns)
            due = (o.new.observed_ms or now) + interval_ms(
                o.new, now, s.watch_interval_ms, s.sweep_max_ms
            )
            value = sweep_value(o.new, due)
            sweep_items.append((sweep_key(shard, o.ns), value))
            sched = self.schedules.get(shard)
            if sched is not None:
                sched.set_due(o.ns, due, value)
            new_states = o.new.states()
            for st in new_states:
                members[st].append((o.ns, {"shard": shard}))
            leaving.extend((st, o.ns) for st in o.prev.states() - new_states)
        try:
            self.kv.put_many(SWEEP, sweep_items)
            for st, items in members.items():
                if items:
                    self.kv.put_many(state_set(st), items)
            for st in STATES:
                gone = [(ns, None) for s, ns in leaving if s == st]
                if gone:
                    self.kv.delete_many(state_set(st), gone)
            cleared = [
                (o.ns, mark.generation)
                for o in polled
                if (mark := dirty.get(o.ns)) is not None and o.new.is_stable
            ]
            self.kv.delete_many(DIRTY, cleared)  # by generation: a newer write stays dirty
        except StoreError as exc:
            log.error("watcher could not update its indexes", extra={"error": str(exc)})

    def _prune(self, ns: str, sched: ShardSchedule | None) -> None:
        """A namespace gone upstream (its metadata answered 404): forget it."""
        try:
            self.freshness.drop(ns)
            self.kv.delete(SWEEP, sweep_key(self.leases.shard(ns), ns))
        except StoreError as exc:
            log.error("watcher could not prune", extra={"namespace": ns, "error": str(exc)})
            return
        if sched is not None:
            sched.remove(ns)
        log.info("watcher pruned a namespace gone upstream", extra={"namespace": ns})

    def estimate_stretch(self, result: TickResult) -> tuple[float, int]:
        """How much longer than ``LAYER_SWEEP_MAX_MS`` the sweep takes (1.0 = on time)."""
        s = self.settings
        max_ms = max(1, s.sweep_max_ms)
        now = now_ms()
        lateness = 0
        total = active = 0
        for sched in self.schedules.values():
            nxt = sched.next_due()
            if nxt is not None:
                lateness = max(lateness, now - nxt)
            total += len(sched)
            active += sched.totals.unstable
        demand = total / (max_ms / 1000) + (active + result.dirty) / (s.watch_interval_ms / 1000)
        predicted = demand / self.bucket.rate
        measured = (max_ms + max(0, lateness)) / max_ms
        stretch = max(1.0, predicted, measured)
        return stretch, int(math.ceil(max_ms * stretch))


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
