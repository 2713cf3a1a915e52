"""The sweep's schedule: when each namespace of a held shard is next due.

The schedule lives in KV set ``sweep`` under ``{shard:04d}/{namespace}`` (value: next
due ms plus a compact copy of the record's row count, size and states), so a watcher
that takes a shard reads that shard's schedule in one prefix scan and a restarted
watcher resumes where the last one stopped, without a burst. In memory, per held
shard: the due time by name, a heap ordered by due time (stale entries skipped when
popped), the names in sorted order (to spot names gone from the upstream list) and
the shard's totals (namespaces, rows, bytes, unstable, stuck, errored), kept by deltas.

The interval after a poll follows activity: a namespace not yet stable (or whose poll
failed) is due again at once, that is, every tick; a stable one is due after a tenth of
the time since its last write, at least one tick and at most ``LAYER_SWEEP_MAX_MS``.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from backend.freshness import Freshness
from backend.stores.kv_base import KVStore

SET = "sweep"
ACTIVITY_FACTOR = 0.1


def sweep_key(shard: int, ns: str) -> str:
    return f"{shard:04d}/{ns}"


def interval_ms(fr: Freshness, now: int, tick_ms: int, max_ms: int) -> int:
    """How long until ``fr``'s namespace is due again, after a poll that saw ``fr``."""
    if not fr.is_stable or fr.last_error is not None:
        return 0
    if fr.last_write_ms is None:
        return max_ms
    idle = max(0, now - fr.last_write_ms)
    return int(min(max_ms, max(tick_ms, idle * ACTIVITY_FACTOR)))


def sweep_value(fr: Freshness, due: int) -> dict[str, Any]:
    return {
        "due": due,
        "rows": fr.row_count,
        "bytes": fr.size_bytes,
        "st": sorted(fr.states()),
    }


@dataclass
class Totals:
    namespaces: int = 0
    rows: int = 0
    bytes: int = 0
    unstable: int = 0
    stuck: int = 0
    errored: int = 0

    def add(self, value: dict[str, Any] | None, sign: int) -> None:
        if value is None:
            return
        self.namespaces += sign
        self.rows += sign * int(value.get("rows") or 0)
        self.bytes += sign * int(value.get("bytes") or 0)
        st = value.get("st") or ()
        self.unstable += sign * ("unstable" in st)
        self.stuck += sign * ("stuck" in st)
        self.errored += sign * ("error" in st)


@dataclass
class ShardSchedule:
    shard: int
    due: dict[str, int] = field(default_factory=dict)
    values: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    heap: list[tuple[int, str]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)

    @classmethod
    def load(cls, kv: KVStore, shard: int) -> ShardSchedule:
        return cls.load_many(kv, [shard])[shard]

    @classmethod
    def load_many(cls, kv: KVStore, shards: list[int]) -> dict[int, ShardSchedule]:
        """The schedules of ``shards``: one prefix scan per shard on an ordered store
        (SQLite reads only those shards), else one scan of the set (a backend that scans
        whole sets, like Aerospike, reads it once)."""
        out = {shard: cls(shard) for shard in shards}
        prefixes = (
            [sweep_key(shard, "") for shard in shards] if kv.ordered or len(shards) == 1 else [""]
        )
        for key, rec in (item for prefix in prefixes for item in kv.scan(SET, prefix)):
            head, sep, ns = key.partition("/")
            sched = out.get(int(head)) if sep and head.isdigit() else None
            if sched is None:
                continue
            sched.due[ns] = int(rec.value.get("due") or 0)
            sched.names.append(ns)  # the scan is in key order: names come sorted
            sched.totals.add(rec.value, 1)
            sched.values[ns] = _pack(rec.value)
        for sched in out.values():
            sched.heap = [(d, ns) for ns, d in sched.due.items()]
            heapq.heapify(sched.heap)
        return out

    def __contains__(self, ns: str) -> bool:
        return ns in self.due

    def __len__(self) -> int:
        return len(self.due)

    def add_new(self, ns: str, now: int) -> None:
        """A name seen for the first time (upstream list or dirty mark): due at once."""
        if ns in self.due:
            return
        self.due[ns] = now
        bisect.insort(self.names, ns)
        heapq.heappush(self.heap, (now, ns))

    def set_due(self, ns: str, due: int, value: dict[str, Any]) -> None:
        if ns not in self.due:
            bisect.insort(self.names, ns)
        old = self.values.get(ns)
        if old is not None:
            self.totals.add(_unpack(old), -1)
        self.totals.add(value, 1)
        self.values[ns] = _pack(value)
        self.due[ns] = due
        heapq.heappush(self.heap, (due, ns))

    def retry_now(self, ns: str, now: int) -> None:
        if ns in self.due:
            self.due[ns] = min(self.due[ns], now)
            heapq.heappush(self.heap, (self.due[ns], ns))

    def remove(self, ns: str) -> None:
        if self.due.pop(ns, None) is None:
            return
        old = self.values.pop(ns, None)
        if old is not None:
            self.totals.add(_unpack(old), -1)
        i = bisect.bisect_left(self.names, ns)
        if i < len(self.names) and self.names[i] == ns:
            del self.names[i]

    def pop_due(self, now: int, limit: int, skip: set[str]) -> list[str]:
        """Up to ``limit`` names due by ``now``, most overdue first (taken off the heap)."""
        out: list[str] = []
        held_back: list[tuple[int, str]] = []
        while self.heap and len(out) < limit and self.heap[0][0] <= now:
            due, ns = heapq.heappop(self.heap)
            if self.due.get(ns) != due:
                continue  # stale entry: rescheduled or removed since
            if ns in skip:
                held_back.append((due, ns))
                continue
            out.append(ns)
        for item in held_back:
            heapq.heappush(self.heap, item)
        return out

    def push_back(self, names: list[str]) -> None:
        """Names taken but not polled (no budget left): due as they were."""
        for ns in names:
            due = self.due.get(ns)
            if due is not None:
                heapq.heappush(self.heap, (due, ns))

    def next_due(self) -> int | None:
        while self.heap and self.due.get(self.heap[0][1]) != self.heap[0][0]:
            heapq.heappop(self.heap)
        return self.heap[0][0] if self.heap else None

    def due_count(self, now: int) -> int:
        return sum(1 for d in self.due.values() if d <= now)

    def between(self, lo: str | None, hi: str | None) -> list[str]:
        """Known names in (lo, hi]; None is open-ended."""
        start = 0 if lo is None else bisect.bisect_right(self.names, lo)
        end = len(self.names) if hi is None else bisect.bisect_right(self.names, hi)
        return self.names[start:end]


def pop_due_across(
    schedules: Collection[ShardSchedule], now: int, limit: int, skip: set[str]
) -> list[str]:
    """Up to about ``limit`` names due by ``now`` from ``schedules``, each shard giving at
    most its share, in one order across shards: most overdue first. The tick polls them
    in this order until its budget or deadline runs out and pushes the rest back, so a
    name never polled is not left behind names of shards that come earlier in the map,
    polled again and again (under a tight budget the later shards starved)."""
    per_shard = max(1, limit // max(1, len(schedules)))
    taken = [
        (sched.due[ns], ns) for sched in schedules for ns in sched.pop_due(now, per_shard, skip)
    ]
    taken.sort()
    return [ns for _, ns in taken]


_FLAGS = ("unstable", "stuck", "error")


def _pack(value: dict[str, Any]) -> tuple[int, int, int]:
    st = value.get("st") or ()
    flags = sum(1 << i for i, name in enumerate(_FLAGS) if name in st)
    return (int(value.get("rows") or 0), int(value.get("bytes") or 0), flags)


def _unpack(packed: tuple[int, int, int]) -> dict[str, Any]:
    rows, size, flags = packed
    return {
        "rows": rows,
        "bytes": size,
        "st": [name for i, name in enumerate(_FLAGS) if flags & (1 << i)],
    }
