"""The watcher's figures, per shard, in KV set ``watch_summary`` (key ``shard-{i}``).

Every tick each watcher writes one record per shard it holds: the shard's totals (from
its schedule), its dirty count, and the watcher's own figures divided by its number of
shards (calls per second, budget), so summing the records gives the deployment.
``GET /v2/namespaces/summary`` reads these records and the shard leases, and never
calls Turbopuffer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from backend.freshness import DIRTY
from backend.shards import ShardLeases
from backend.stores.errors import StoreError
from backend.stores.kv_base import KVStore
from common.settings import Settings
from common.timeutil import now_ms

if TYPE_CHECKING:
    from backend.watcher import TickResult, Watcher

log = logging.getLogger(__name__)

SET = "watch_summary"


def summary_key(shard: int) -> str:
    return f"shard-{shard}"


def write_summaries(w: Watcher, result: TickResult) -> float:
    """Write this tick's per-shard records; return the sweep stretch."""
    stretch, cycle_ms = w.estimate_stretch(result)
    held = max(1, len(w.schedules))
    now = now_ms()
    backoff = w.bucket.backoff_remaining_s()
    dirty_by_shard: dict[int, int] = {}
    try:
        for ns, _ in w.kv.scan(DIRTY):
            shard = w.leases.shard(ns)
            if shard in w.schedules:
                dirty_by_shard[shard] = dirty_by_shard.get(shard, 0) + 1
    except StoreError:
        pass
    items: list[tuple[str, dict[str, Any]]] = []
    for shard, sched in w.schedules.items():
        t = sched.totals
        items.append(
            (
                summary_key(shard),
                {
                    "shard": shard,
                    "holder": w.leases.holder,
                    "as_of_ms": now,
                    "namespaces": t.namespaces,
                    "rows": t.rows,
                    "bytes": t.bytes,
                    "unstable": t.unstable,
                    "stuck": t.stuck,
                    "errored": t.errored,
                    "dirty": dirty_by_shard.get(shard, 0),
                    "calls_per_s": w.bucket.calls_per_s() / held,
                    "polls_per_s": result.namespaces / (w.settings.watch_interval_ms / 1000) / held,
                    "rate": w.bucket.rate / held,
                    "stretch": stretch,
                    "cycle_ms": cycle_ms,
                    "backoff_until_ms": now + int(backoff * 1000) if backoff > 0 else None,
                    "list_pass_ms": w.walk.last_pass_ms,
                    "watchers": w.leases.live_watchers,
                },
            )
        )
    try:
        w.kv.put_many(SET, items)
    except StoreError as exc:
        log.error("watcher could not write its summary", extra={"error": str(exc)})
    return stretch


def read_summary(kv: KVStore, settings: Settings) -> dict[str, Any]:
    """The deployment's figures from the KV only: per-shard records summed, leases listed."""
    now = now_ms()
    per_shard = {
        int(rec.value.get("shard", -1)): rec.value
        for _, rec in kv.scan(SET)
        if int(rec.value.get("shard", -1)) < settings.watch_shards
    }
    out: dict[str, Any] = {
        k: 0 for k in ("namespaces", "rows", "bytes", "unstable", "stuck", "errored", "dirty")
    }
    calls = polls = 0.0
    watchers = 0
    stretch = 1.0
    cycle: int | None = None
    backoff: int | None = None
    oldest: int | None = None
    for value in per_shard.values():
        for k in out:
            out[k] += int(value.get(k) or 0)
        calls += float(value.get("calls_per_s") or 0.0)
        polls += float(value.get("polls_per_s") or 0.0)
        watchers = max(watchers, int(value.get("watchers") or 0))
        stretch = max(stretch, float(value.get("stretch") or 1.0))
        if value.get("cycle_ms") is not None:
            cycle = max(cycle or 0, int(value["cycle_ms"]))
        b = value.get("backoff_until_ms")
        if b is not None and int(b) > now:
            backoff = max(backoff or 0, int(b))
        as_of = int(value.get("as_of_ms") or 0)
        oldest = as_of if oldest is None else min(oldest, as_of)
    shards = ShardLeases(kv, settings.lease_ttl_ms, settings.watch_shards, holder="-").holders()
    out["sweep"] = {"max_ms": settings.sweep_max_ms, "cycle_ms": cycle, "stretch": stretch}
    out["upstream"] = {
        "calls_per_s": round(calls, 3),
        "max_rps": settings.watch_max_rps,
        "backoff_until_ms": backoff,
    }
    out["shards"] = shards
    out["polls_per_s"] = round(polls, 3)
    out["watchers"] = len({sh["holder"] for sh in shards if sh["holder"] is not None})
    out["as_of_ms"] = oldest if oldest is not None else now
    return out
