"""Retention of the chronology: which snapshots a policy keeps, and deleting the rest.

The policy is restic's ``forget`` (``LAYER_HISTORY_KEEP=last=20,hourly=48,daily=30,
monthly=12``): history is read newest first by watermark; ``last=N`` keeps the N newest;
``hourly=N`` keeps the newest snapshot of each of the N most recent hours that have one
(likewise daily, weekly, monthly, yearly, in UTC). A snapshot is kept when any rule keeps
it, and always when the KV mirror points at it (the latest body, or the newest body of a
field that ``stored`` serves).

Deleting is crash-safe in this order, one batch at a time:

1. the batch (SHA and marker key) is journalled in the KV (set ``history_prune``);
2. each marker is deleted (history stops listing it), then its KV marker index entry;
3. each body is deleted, unless the mirror points at it by now;
4. the journal entry is removed.

A process killed anywhere leaves at worst bodies whose markers are gone, all named in
the journal; the next pass finishes them before it plans anew. A reader never finds a
marker without its body. Bodies without a marker that the journal does not name are
left alone: they may be a write in progress.

Activity events older than ``LAYER_ACTIVITY_RETENTION_DAYS`` are deleted too (the
cross-namespace key first, then the per-namespace one that names it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backend import metrics
from backend.snapshots import layout
from backend.snapshots.repo import MARKER_SET, SnapshotRepo
from common.timeutil import now_ms

log = logging.getLogger(__name__)

JOURNAL_SET = "history_prune"
BATCH = 256
LIST_CAP = 1000  # entries a report lists (counts are always exact)
DAY_MS = 86_400_000

Policy = tuple[tuple[str, int], ...]


def _bucket(unit: str, wm: int) -> str:
    t = datetime.fromtimestamp(wm / 1000, tz=UTC)
    if unit == "hourly":
        return t.strftime("%Y-%m-%dT%H")
    if unit == "daily":
        return t.strftime("%Y-%m-%d")
    if unit == "weekly":
        year, week, _ = t.isocalendar()
        return f"{year}-W{week:02d}"
    if unit == "monthly":
        return t.strftime("%Y-%m")
    return t.strftime("%Y")


def policy_text(policy: Policy) -> str:
    return ",".join(f"{u}={n}" for u, n in policy) if policy else "all"


def select(
    entries: list[tuple[int, str]], policy: Policy, protected: Iterable[str] = ()
) -> dict[str, list[str]]:
    """SHA -> why it is kept, for ``entries`` (watermark_ms, sha) sorted newest first."""
    keep: dict[str, list[str]] = {}
    if not policy:
        return {sha: ["all"] for _, sha in entries}
    for unit, n in policy:
        if n <= 0:
            continue
        if unit == "last":
            for _, sha in entries[:n]:
                keep.setdefault(sha, []).append("last")
            continue
        seen: set[str] = set()
        for wm, sha in entries:
            b = _bucket(unit, wm)
            if b in seen:
                continue
            seen.add(b)
            keep.setdefault(sha, []).append(unit)
            if len(seen) >= n:
                break
    present = {sha for _, sha in entries}
    for sha in protected:
        if sha in present:
            keep.setdefault(sha, []).append("mirror")
    return keep


@dataclass
class PruneReport:
    namespace: str
    policy: str
    dry_run: bool
    markers: int = 0
    kept: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    kept_count: int = 0
    deleted_count: int = 0
    resumed: int = 0
    activity_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "policy": self.policy,
            "dry_run": self.dry_run,
            "markers": self.markers,
            "keep_count": self.kept_count,
            "delete_count": self.deleted_count,
            "keep": self.kept[:LIST_CAP],
            "delete": self.deleted[:LIST_CAP],
            "resumed": self.resumed,
            "activity_deleted": self.activity_deleted,
        }


class Pruner:
    def __init__(self, repo: SnapshotRepo, policy: Policy, activity_days: int) -> None:
        self.repo = repo
        self.policy = policy
        self.activity_days = activity_days

    @property
    def store(self) -> Any:
        return self.repo.store

    @property
    def kv(self) -> Any:
        return self.repo.kv

    def markers(self, ns: str) -> list[tuple[int, str, str]]:
        """Every history marker of ``ns``: (watermark_ms, sha, key), newest first."""
        out = []
        for key in self.store.list(layout.history_prefix(ns)):
            try:
                wm, sha = layout.parse_history_key(key)
            except ValueError:
                continue
            out.append((wm, sha, key))
        return out

    def prune(
        self, ns: str, *, policy: Policy | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        policy = self.policy if policy is None else policy
        report = PruneReport(ns, policy_text(policy), dry_run)
        if not dry_run:
            report.resumed = self.resume(ns)
        markers = self.markers(ns)
        report.markers = len(markers)
        keep = select([(wm, sha) for wm, sha, _ in markers], policy, self.repo.protected_shas(ns))
        doomed: list[tuple[int, str, str]] = []
        for wm, sha, key in markers:
            if sha in keep:
                report.kept_count += 1
                if len(report.kept) < LIST_CAP:
                    report.kept.append({"sha": sha, "watermark_ms": wm, "reasons": keep[sha]})
            else:
                doomed.append((wm, sha, key))
                report.deleted_count += 1
                if len(report.deleted) < LIST_CAP:
                    report.deleted.append({"sha": sha, "watermark_ms": wm})
        if not dry_run:
            for i in range(0, len(doomed), BATCH):
                self._delete_batch(ns, doomed[i : i + BATCH])
        report.activity_deleted = self.prune_activity(ns, dry_run=dry_run)
        return report.as_dict()

    def _delete_batch(self, ns: str, batch: list[tuple[int, str, str]]) -> None:
        pending = [{"sha": sha, "marker": key} for _, sha, key in batch]
        self.kv.put(JOURNAL_SET, ns, {"pending": pending, "started_ms": now_ms()})
        self._finish(ns, pending)

    def _finish(self, ns: str, pending: list[dict[str, str]]) -> None:
        def drop_marker(item: dict[str, str]) -> None:
            self.store.delete(item["marker"])
            self.kv.delete(MARKER_SET, f"{ns}/{item['sha']}")

        list(self.repo.pool.map(drop_marker, pending))
        metrics.HISTORY_PRUNED.labels("marker").inc(len(pending))
        protected = self.repo.protected_shas(ns)
        bodies = [p["sha"] for p in pending if p["sha"] not in protected]
        list(self.repo.pool.map(lambda sha: self.store.delete(layout.body_key(ns, sha)), bodies))
        metrics.HISTORY_PRUNED.labels("body").inc(len(bodies))
        self.kv.delete(JOURNAL_SET, ns)

    def resume(self, ns: str) -> int:
        """Finish a batch a killed pass left in the journal; how many entries it held."""
        rec = self.kv.get(JOURNAL_SET, ns)
        if rec is None:
            return 0
        pending = [
            p
            for p in rec.value.get("pending") or []
            if isinstance(p, dict)
            and isinstance(p.get("sha"), str)
            and isinstance(p.get("marker"), str)
        ]
        log.info("finishing an interrupted prune", extra={"namespace": ns, "entries": len(pending)})
        self._finish(ns, pending)
        return len(pending)

    def prune_activity(self, ns: str, *, dry_run: bool = False) -> int:
        """Delete (or count) this namespace's activity events older than the retention."""
        if self.activity_days <= 0:
            return 0
        cutoff = now_ms() - self.activity_days * DAY_MS
        prefix = layout.activity_ns_prefix(ns)
        stop = f"{prefix}{max(cutoff, 0):013d}"
        n = 0
        after: str | None = None
        while True:
            keys = self.store.list(prefix, start_after=after, limit=1000)
            old = [k for k in keys if k < stop]
            if not dry_run:
                list(self.repo.pool.map(lambda k: self._drop_event(ns, k), old))
            n += len(old)
            if len(old) < len(keys) or len(keys) < 1000:
                break
            after = keys[-1]
        if not dry_run:
            metrics.HISTORY_PRUNED.labels("activity").inc(n)
        return n

    def _drop_event(self, ns: str, key: str) -> None:
        name = key.rsplit("/", 1)[-1]
        ts, _, rest = name.partition("-")
        self.store.delete(f"activity/{ts}-{ns}-{rest}")
        self.store.delete(key)
