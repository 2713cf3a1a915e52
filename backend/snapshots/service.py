"""Snapshot jobs and the watcher's chronology (DESIGN.md "Snapshots", watcher step 3).

| source | computes from | persists |
|---|---|---|
| origin | the upstream scan (or aggregation) | yes, when unfiltered |
| stored | the newest body holding the field (KV mirror, markers on a miss) | no; reuses its SHA |
| cache  | the KV document cache (``DocumentCache``) | no |
| auto   | stored if unfiltered and a stored body holds the field; else cache if it is
           warm and can evaluate the filters; else origin | as chosen |

The source is resolved when the job is created, so a request that cannot be served
is refused at once with its 4xx instead of becoming a failed job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from backend.errors import BadRequest, NotFound, Unprocessable
from backend.freshness import Freshness, FreshnessStore
from backend.lease import Fence
from backend.snapshots.histogram import FieldCounter, build_body, result_from_body
from backend.snapshots.jobs import JobRunner, RunningJob
from backend.snapshots.origin import ServerCounting, count_origin
from backend.snapshots.repo import SnapshotRepo
from backend.snapshots.watch import WatchSnapshots
from backend.upstream import Upstream
from common.canonical import with_sha
from common.filters import FilterError, and_filters, validate_filter
from common.settings import Settings
from common.timeutil import iso_from_ms, now_ms

log = logging.getLogger(__name__)

SOURCES = ("auto", "stored", "cache", "origin")
REQUEST_KEYS = {"field", "source", "filters", "page_size"}
FILTER_MAX_DEPTH = 32


@dataclass(frozen=True)
class SnapshotRequest:
    field: str
    source: str = "auto"
    filters: Any = None
    page_size: int = 1000


def parse_request(body: dict[str, Any]) -> SnapshotRequest:
    unknown = sorted(set(body) - REQUEST_KEYS)
    if unknown:
        raise BadRequest(
            f"unknown parameter {unknown[0]!r}; expected field, source, filters, page_size",
            param=unknown[0],
        )
    field = body.get("field")
    if not isinstance(field, str) or not field.strip():
        raise BadRequest("field is required: the attribute to count", param="field")
    if len(field) > 128 or field.startswith("$") or any(ord(c) < 32 for c in field):
        raise BadRequest(
            "field must be an attribute name: 1-128 characters, not starting with '$'",
            param="field",
        )
    source = body.get("source", "auto")
    if source not in SOURCES:
        raise BadRequest(f"source must be one of {', '.join(SOURCES)}", param="source")
    filters = body.get("filters")
    if filters is not None:
        try:
            validate_filter(filters, max_depth=FILTER_MAX_DEPTH)
        except FilterError as exc:
            raise BadRequest(f"filters: {exc}", param="filters") from None
    page_size = body.get("page_size", 1000)
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not 1 <= page_size <= 10_000
    ):
        raise BadRequest("page_size must be an integer from 1 to 10000", param="page_size")
    return SnapshotRequest(field=field, source=source, filters=filters, page_size=page_size)


class DocumentCacheLike(Protocol):
    """What the snapshot engine needs from the document cache (issue 4 fills it in)."""

    def usable_for(self, ns: str, filters: Any) -> str | None:
        """None when the cache can answer; else why not (for ``auto``)."""

    def check(self, ns: str, filters: Any) -> None:
        """Raise the 409/422 a ``cache`` request gets when the cache cannot answer."""

    def count(
        self, ns: str, fields: list[str], filters: Any, progress: Any
    ) -> tuple[list[FieldCounter], int, int | None]:
        """Count from cached documents: (counters, documents scanned, cache watermark)."""


class SnapshotService:
    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        freshness: FreshnessStore,
        repo: SnapshotRepo,
        runner: JobRunner,
        cache: DocumentCacheLike | None = None,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.freshness = freshness
        self.repo = repo
        self.runner = runner
        self.cache = cache
        self.server = ServerCounting()
        self.watch = WatchSnapshots(settings, upstream, repo, self.server)

    # -- on-demand jobs ------------------------------------------------------------------
    def resolve_source(self, ns: str, req: SnapshotRequest) -> tuple[str, dict[str, Any] | None]:
        if req.source == "stored":
            if req.filters is not None:
                raise BadRequest(
                    "source 'stored' does not take filters; use cache or origin", param="filters"
                )
            body = self.repo.body_for_field(ns, req.field)
            if body is None:
                if self.repo.latest(ns) is None:
                    raise NotFound(f"namespace {ns!r} has no stored snapshot yet")
                raise NotFound(f"field {req.field!r} is in no stored snapshot of {ns!r}")
            return "stored", body
        if req.source == "cache":
            if self.cache is None:
                raise Unprocessable("document cache is cold")
            self.cache.check(ns, req.filters)
            return "cache", None
        if req.source == "origin":
            return "origin", None
        if req.filters is None:
            body = self.repo.body_for_field(ns, req.field)
            if body is not None:
                return "stored", body
        if self.cache is not None and self.cache.usable_for(ns, req.filters) is None:
            return "cache", None
        return "origin", None

    def create(self, ns: str, req: SnapshotRequest) -> dict[str, Any]:
        meta = self.upstream.metadata(ns)
        resolved, latest = self.resolve_source(ns, req)
        job = self.runner.new_job(
            ns,
            "snapshot",
            field=req.field,
            source=req.source,
            resolved_source=resolved,
            filters=req.filters,
            page_size=req.page_size,
        )
        if resolved == "stored":
            assert latest is not None
            return self.runner.submit(job, lambda rj: self._run_stored(rj, latest, req.field))
        if resolved == "cache":
            return self.runner.submit(job, lambda rj: self._run_cache(rj, ns, req))
        return self.runner.submit(job, lambda rj: self._run_origin(rj, ns, req, meta))

    @staticmethod
    def _progress(rj: RunningJob, total: int | None) -> Any:
        def report(n: int) -> None:
            rj.update(documents_scanned=n, progress=round(min(0.99, n / total), 4) if total else 0)

        return report

    def _finish(self, rj: RunningJob, **fields: Any) -> None:
        rj.check_cancelled()
        rj.finish(status="completed", progress=1, finished_at=iso_from_ms(now_ms()), **fields)

    def _run_stored(self, rj: RunningJob, body: dict[str, Any], field: str) -> None:
        self._finish(
            rj,
            result=result_from_body(body, field),
            sha=body["sha"],
            watermark_ms=body["watermark_ms"],
        )

    def _run_cache(self, rj: RunningJob, ns: str, req: SnapshotRequest) -> None:
        assert self.cache is not None
        counters, scanned, watermark = self.cache.count(
            ns, [req.field], req.filters, self._progress(rj, None)
        )
        extra = {} if watermark is None else {"stable_as_of": watermark}
        self._finish(
            rj,
            documents_scanned=scanned,
            result=counters[0].result(self.settings.facet_cap),
            **extra,
        )

    def cut_filter(self, fr: Freshness) -> list[Any] | None:
        if not fr.is_stable and fr.stable_as_of is not None and fr.has_watermark:
            return [self.settings.watermark_attribute, "Lte", fr.stable_as_of]
        return None

    def _run_origin(
        self, rj: RunningJob, ns: str, req: SnapshotRequest, meta: dict[str, Any]
    ) -> None:
        fr = self.freshness.get(ns)
        start = now_ms()
        watermark = fr.stable_as_of if fr.stable_as_of is not None else start
        total = (
            meta.get("approx_row_count") if isinstance(meta.get("approx_row_count"), int) else None
        )
        counters, scanned = count_origin(
            self.upstream,
            ns,
            [req.field],
            filters=and_filters(req.filters, self.cut_filter(fr)),
            page_size=req.page_size,
            schema=meta.get("schema") or {},
            strategy=self.settings.origin_strategy,
            progress=self._progress(rj, total),
            server=self.server,
        )
        result = counters[0].result(self.settings.facet_cap)
        extra: dict[str, Any] = {"watermark_ms": watermark}
        if fr.stable_as_of is not None:
            extra["stable_as_of"] = fr.stable_as_of
        if req.filters is None:
            body = with_sha(build_body(ns, watermark, [result]))
            rj.check_cancelled()  # a cancelled job writes nothing
            self.repo.write(body, ts_ms=now_ms(), source="origin", job_id=rj.id)
            extra["sha"] = body["sha"]
        self._finish(rj, documents_scanned=scanned, result=result, **extra)

    # -- the watcher's chronology (step 3): backend/snapshots/watch.py ---------------------
    def on_stable(self, lease: Fence) -> Any:
        """The watcher hook: a snapshot of the configured fields when data moved (with a
        cadence and a cost bound), and retention now and then."""
        return self.watch.hook(lease)

    def watch_snapshot(
        self, lease: Fence, ns: str, fields: list[str], meta: dict[str, Any], fr: Freshness
    ) -> str | None:
        """One watcher snapshot now, whatever the cadence (tests, benches)."""
        return self.watch.snapshot(lease, ns, meta, fr)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """For tests: wait until no watcher snapshot is in flight."""
        self.watch.wait_idle(timeout)

    def start_watch(self) -> None:
        """The watcher starts (again): its snapshots may run."""
        self.watch.start()

    def stop_watch(self, grace_s: float = 5.0) -> bool:
        """The watcher stops: snapshots in flight give up within ``grace_s``."""
        return self.watch.stop(grace_s)
