"""The freshness signal per namespace, as the watcher last saw it (KV set ``freshness``).

Before a namespace's first poll there is no record: ``is_stable`` false and
``stable_as_of`` null, exactly the cold start the seed documents.

A record also keeps what a listing row shows (row count, size, last write, index
status, ``unindexed_bytes``), so the listing reads records instead of calling metadata
per row. ``observed_ms`` is when the poll behind the record started (the same value as
``last_poll_ms``, both kept for compatibility).

Beside the records, the watcher keeps small index sets so the operator's questions never
scan every record:

- ``dirty`` (key = namespace): written by the proxy on every write that went through
  Layer (``mark_dirty``); the watcher polls these every tick and removes the mark, by
  generation, once a poll that started after the mark saw the namespace stable;
- ``state_unstable`` / ``state_stuck`` / ``state_error`` (key = namespace): the
  namespaces currently in that state. A member is re-put on every poll that finds it so
  (unstable namespaces are polled every tick, so the sets heal themselves); readers
  re-check the record, so a stale member is never shown.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, fields
from typing import Any

from backend.stores.errors import StoreError
from backend.stores.kv_base import KVStore, Record
from common.timeutil import now_ms

log = logging.getLogger(__name__)

SET = "freshness"
DIRTY = "dirty"
STATES = ("unstable", "stuck", "error")


def state_set(state: str) -> str:
    return f"state_{state}"


def shard_of(ns: str, shards: int) -> int:
    """The namespace's shard: stable across processes, hosts and restarts."""
    return zlib.crc32(ns.encode()) % shards


@dataclass(slots=True)  # not frozen: a frozen init costs 4x, and a listing page builds 1000
class Freshness:
    is_stable: bool = False
    stable_as_of: int | None = None
    last_poll_ms: int | None = None
    last_error: str | None = None
    last_write_ms: int | None = None
    index_status: str | None = None
    has_watermark: bool = False
    observed_ms: int | None = None
    row_count: int | None = None
    size_bytes: int | None = None
    unindexed_bytes: int | None = None
    backlog_since_ms: int | None = None
    index_stuck_since_ms: int | None = None
    shard: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}  # flat: asdict's deep copy costs 5x

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Freshness:
        try:
            return cls(**d)  # the usual case: a record this code wrote
        except TypeError:  # a field from another version: keep the ones known here
            known = cls.__dataclass_fields__
            return cls(**{k: v for k, v in d.items() if k in known})

    def states(self) -> set[str]:
        """The index sets this record belongs to (``unstable`` includes the other two)."""
        out: set[str] = set()
        if self.observed_ms is None:
            return out
        if not self.is_stable:
            out.add("unstable")
        if self.index_stuck_since_ms is not None:
            out.add("stuck")
        if self.last_error is not None:
            out.add("error")
        return out


_FIELDS = tuple(f.name for f in fields(Freshness))


def mark_dirty(kv: KVStore, ns: str) -> None:
    """The proxy's fast-lane call: a write to ``ns`` went through Layer just now.

    Never fails the write it follows (already applied upstream): a store error is logged
    and the namespace is then seen by the sweep instead."""
    try:
        kv.put(DIRTY, ns, {"ms": now_ms()})
    except StoreError as exc:
        log.error("could not mark a namespace dirty", extra={"namespace": ns, "error": str(exc)})


class FreshnessStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    def get(self, ns: str) -> Freshness:
        rec = self.kv.get(SET, ns)
        return Freshness() if rec is None else Freshness.from_dict(rec.value)

    def get_many(self, names: list[str]) -> dict[str, Freshness]:
        """The records of ``names`` that exist, in one batch read."""
        return {ns: Freshness.from_dict(r.value) for ns, r in self.kv.get_many(SET, names).items()}

    def range(
        self, prefix: str, after: str | None, limit: int
    ) -> list[tuple[str, Freshness]] | None:
        """Up to ``limit`` records in name order after ``after`` (None: no key order)."""
        page = self.kv.scan_range(SET, prefix, after, limit)
        return None if page is None else [(ns, Freshness.from_dict(r.value)) for ns, r in page]

    def get_all(self) -> dict[str, Freshness]:
        """Every record, in one scan (tests and tools; the watcher reads by batch)."""
        return {ns: Freshness.from_dict(rec.value) for ns, rec in self.kv.scan(SET)}

    def put_many(self, items: list[tuple[str, Freshness]]) -> None:
        """Write a batch of records in one store transaction (one round trip)."""
        self.kv.put_many(SET, [(ns, f.to_dict()) for ns, f in items])

    def dirty(self) -> dict[str, Record]:
        """Every dirty mark, with its generation (the set is as large as recent activity)."""
        return dict(self.kv.scan(DIRTY))

    def is_dirty(self, ns: str) -> bool:
        """Written through Layer since the last stable poll (so its schema has the stamp)."""
        return self.kv.get(DIRTY, ns) is not None

    def drop(self, ns: str) -> None:
        """Forget a namespace gone upstream: its record, its marks, its index entries."""
        self.kv.delete(SET, ns)
        self.kv.delete(DIRTY, ns)
        for state in STATES:
            self.kv.delete(state_set(state), ns)
