"""The document cache: warming, its state, and counting facets from it (``cache`` source).

Atomic replacement by generations: a warm writes generation g+1 beside the live
generation g, flips the state record to g+1 with compare-and-set, then drops g. A
reader reads the state's generation, scans only that generation, and re-reads the
state afterwards: the old generation is dropped only after the flip, so if the
generation is unchanged the scan saw all of it; if it moved, the count starts over on
the new one. A reader therefore sees the old set or the new one, never a mix or a part.

States (``cache_state`` on inventory rows and in the metadata ``layer`` block):

| state | when |
|---|---|
| cold | no generation, no warm running |
| warming | no generation yet, a warm running |
| warm | a generation, and the namespace has not been written since it was read |
| stale | a generation, and the watcher saw a write newer than the one it reflects |

``warm_inflight`` is true while any warm of the namespace runs.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from backend.cache.memory import GenerationMemory
from backend.cache.state import CAS_ATTEMPTS, CacheRecord, CacheStateStore
from backend.cache.state import SET as STATE_SET
from backend.cache.warm import fill_generation
from backend.errors import Conflict, NotFound, Unprocessable
from backend.freshness import Freshness, FreshnessStore
from backend.snapshots.histogram import FieldCounter
from backend.snapshots.jobs import SET as JOBS_SET
from backend.snapshots.jobs import JobRunner, JobStore, RunningJob, public_view
from backend.stores.errors import StoreError
from backend.stores.kv_base import KVStore
from backend.upstream import Upstream
from common.filters import CACHE_OPS, compile_filter, ops_used
from common.settings import Settings
from common.timeutil import iso_from_ms, ms_from_iso, now_ms

log = logging.getLogger(__name__)

COUNT_ATTEMPTS = 3
COLD: dict[str, Any] = {"state": "cold", "warm_inflight": False}  # shared: never mutated
PROGRESS_EVERY = 10_000
CHUNK = 2048


def unsupported_operator(filters: Any) -> str | None:
    """The first operator (alphabetically) the cache cannot evaluate, or None."""
    if filters is None:
        return None
    outside = sorted(ops_used(filters) - set(CACHE_OPS))
    return outside[0] if outside else None


class DocumentCache:
    """Implements the snapshot engine's ``DocumentCacheLike`` and the cache routes."""

    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        freshness: FreshnessStore,
        kv: KVStore,
        jobs: JobStore,
        runner: JobRunner,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.freshness = freshness
        self.kv = kv
        self.jobs = jobs
        self.runner = runner
        self.states = CacheStateStore(kv)
        self.memory = GenerationMemory()

    # -- state -----------------------------------------------------------------------------
    def _running_job(self, ns: str, rec: CacheRecord) -> dict[str, Any] | None:
        if not rec.warming_job_id:
            return None
        try:
            job = self.jobs.get(ns, rec.warming_job_id)
        except NotFound:
            return None
        return job if job.get("status") == "running" else None

    @staticmethod
    def _state(rec: CacheRecord, fr: Freshness, inflight: bool) -> str:
        if rec.generation == 0:
            return "warming" if inflight else "cold"
        if fr.last_write_ms is not None and (
            rec.last_write_ms is None or fr.last_write_ms > rec.last_write_ms
        ):
            return "stale"
        return "warm"

    def cache_state(self, ns: str, fr: Freshness | None = None) -> dict[str, Any]:
        """``{"state", "warm_inflight"}`` for inventory rows and the metadata block."""
        rec, _ = self.states.get(ns)
        inflight = self._running_job(ns, rec) is not None
        fr = self.freshness.get(ns) if fr is None else fr
        return {"state": self._state(rec, fr, inflight), "warm_inflight": inflight}

    def cache_states(self, records: dict[str, Freshness]) -> dict[str, dict[str, Any]]:
        """``cache_state`` of many namespaces (a listing page) in one batch read of the
        state records; only a namespace with a warm on record costs a job lookup."""
        recs = self.states.get_many(list(records))
        out: dict[str, dict[str, Any]] = {}
        for ns, fr in records.items():
            rec = recs.get(ns)
            if rec is None:  # never warmed: cold (most namespaces; no per-row work)
                out[ns] = COLD
                continue
            inflight = self._running_job(ns, rec) is not None
            out[ns] = {"state": self._state(rec, fr, inflight), "warm_inflight": inflight}
        return out

    def info(self, ns: str) -> dict[str, Any]:
        """``GET …/cache``: the state and what the live generation holds."""
        rec, _ = self.states.get(ns)
        job = self._running_job(ns, rec)
        fr = self.freshness.get(ns)
        return {
            "namespace": ns,
            "state": self._state(rec, fr, job is not None),
            "warm_inflight": job is not None,
            "warming_job_id": job["id"] if job is not None else None,
            "generation": rec.generation or None,
            "warmed_at": rec.warmed_at,
            "watermark_ms": rec.watermark_ms,
            "last_write_ms": rec.last_write_ms,
            "documents": rec.documents if rec.generation else 0,
        }

    # -- the snapshot engine's protocol -------------------------------------------------------
    def usable_for(self, ns: str, filters: Any) -> str | None:
        op = unsupported_operator(filters)
        if op is not None:
            return f"the cache cannot evaluate {op}"
        state = self.cache_state(ns)["state"]
        return None if state == "warm" else f"the cache is {state}"

    def check(self, ns: str, filters: Any) -> None:
        op = unsupported_operator(filters)
        if op is not None:
            raise Unprocessable(
                f"the document cache cannot evaluate the {op} operator; "
                "use source origin (or auto, which falls back to origin)",
                operator=op,
            )
        state = self.cache_state(ns)["state"]
        if state != "warm":
            raise Conflict(
                f"the document cache of {ns!r} is {state}; warm it with "
                f"POST /v2/namespaces/{ns}/cache/warm or use source origin",
                state=state,
            )

    def count(
        self, ns: str, fields: list[str], filters: Any, progress: Any
    ) -> tuple[list[FieldCounter], int, int | None]:
        match = None if filters is None else compile_filter(filters)
        for _ in range(COUNT_ATTEMPTS):
            rec, _ = self.states.get(ns)
            if rec.generation == 0:
                raise Conflict(f"the document cache of {ns!r} is cold", state="cold")
            held = self.memory.get(ns, rec.generation)
            if held is None and rec.documents <= self.memory.budget:
                docs = list(self.kv.scan_docs(ns, rec.generation))
                if self.states.get(ns)[0].generation != rec.generation:
                    continue  # replaced while loading: what we read may be partial
                held = self.memory.put(ns, rec.generation, docs)
            if held is not None:
                picked = None if filters is None else held.candidates(filters)
                source = held.docs if picked is None else [held.docs[i] for i in sorted(picked)]
                counters, scanned = self._tally(fields, source, match, progress)
                return counters, scanned, rec.watermark_ms
            stream = self.kv.scan_docs(ns, rec.generation, where=filters)
            counters, scanned = self._tally(fields, stream, match, progress)
            if self.states.get(ns)[0].generation == rec.generation:
                return counters, scanned, rec.watermark_ms
        raise Conflict(f"the document cache of {ns!r} was replaced during the count; retry")

    @staticmethod
    def _tally(
        fields: list[str], docs: Iterable[dict[str, Any]], match: Any, progress: Any
    ) -> tuple[list[FieldCounter], int]:
        counters = [FieldCounter(f) for f in fields]
        scanned = 0
        chunk: list[dict[str, Any]] = []
        for doc in docs:
            scanned += 1
            if match is None or match(doc):
                chunk.append(doc)
                if len(chunk) >= CHUNK:
                    for c in counters:
                        c.add_rows(chunk)
                    chunk.clear()
            if scanned % PROGRESS_EVERY == 0:
                progress(scanned)
        for c in counters:
            c.add_rows(chunk)
        progress(scanned)
        return counters, scanned

    # -- warming ---------------------------------------------------------------------------------
    def warm(self, ns: str) -> tuple[dict[str, Any], bool]:
        """Start a warm, or return the one running: (job, created)."""
        for _ in range(CAS_ATTEMPTS):
            rec, kv_gen = self.states.get(ns)
            running = self._running_job(ns, rec)
            if running is not None:
                return public_view(running), False
            new_gen = max(rec.max_generation, rec.generation, rec.warming_generation or 0) + 1
            abandoned = rec.warming_generation
            job = self.runner.new_job(ns, "cache_warm", generation=new_gen)
            # The job record exists before the state names it, so a concurrent request
            # that reads the state always finds the job.
            self.jobs.save(job)
            new = replace(
                rec, max_generation=new_gen, warming_job_id=job["id"], warming_generation=new_gen
            )
            if self.kv.cas(STATE_SET, ns, new.to_dict(), kv_gen) is None:
                self.kv.delete(JOBS_SET, f"{ns}/{job['id']}")
                continue
            body = functools.partial(self._run_warm, ns=ns, gen=new_gen, abandoned=abandoned)
            return self.runner.submit(job, body), True
        raise Conflict(f"the cache state of {ns!r} is changing too fast; retry")

    def _run_warm(self, rj: RunningJob, ns: str, gen: int, abandoned: int | None) -> None:
        fr = self.freshness.get(ns)
        start = now_ms()
        try:
            if abandoned is not None:
                self.kv.drop_docs(ns, abandoned)  # a warm whose process died left it
            meta = self.upstream.metadata(ns)
            total = meta.get("approx_row_count")

            def report(n: int) -> None:
                share = round(min(0.99, n / total), 4) if isinstance(total, int) and total else 0
                rj.update(documents_scanned=n, progress=share)

            documents = fill_generation(
                self.upstream,
                self.kv,
                ns,
                gen,
                schema=meta.get("schema") or {},
                page_size=self.settings.watch_page_size,
                progress=report,
            )
            watermark = fr.stable_as_of if fr.stable_as_of is not None else start
            old = self._commit(
                ns, rj.id, gen, watermark, documents, ms_from_iso(meta.get("last_write_at"))
            )
        except BaseException:
            with contextlib.suppress(StoreError):
                self.kv.drop_docs(ns, gen)
            with contextlib.suppress(StoreError, Conflict):
                self._release(ns, rj.id)
            raise
        if old.generation:
            try:
                self.kv.drop_docs(ns, old.generation)
            except StoreError as exc:
                log.warning(
                    "could not drop an old cache generation",
                    extra={"namespace": ns, "generation": old.generation, "error": str(exc)},
                )
        extra = {} if fr.stable_as_of is None else {"stable_as_of": fr.stable_as_of}
        rj.update(
            force=True,
            status="completed",
            progress=1,
            finished_at=iso_from_ms(now_ms()),
            documents_scanned=documents,
            watermark_ms=watermark,
            **extra,
        )

    def _commit(
        self,
        ns: str,
        job_id: str,
        gen: int,
        watermark: int,
        documents: int,
        last_write_ms: int | None,
    ) -> CacheRecord:
        """Flip the live generation to ``gen``; return the record as it was before."""
        before: list[CacheRecord] = []

        def change(rec: CacheRecord) -> CacheRecord | None:
            if rec.warming_job_id != job_id:
                return None
            before[:] = [rec]
            return replace(
                rec,
                generation=gen,
                watermark_ms=watermark,
                warmed_at=iso_from_ms(now_ms()),
                documents=documents,
                last_write_ms=last_write_ms,
                warming_job_id=None,
                warming_generation=None,
            )

        if self.states.update(ns, change) is None:
            raise Conflict(f"the document cache of {ns!r} was deleted while this warm ran")
        return before[0]

    def _release(self, ns: str, job_id: str) -> None:
        def change(rec: CacheRecord) -> CacheRecord | None:
            if rec.warming_job_id != job_id:
                return None
            return replace(rec, warming_job_id=None, warming_generation=None)

        self.states.update(ns, change)

    def delete(self, ns: str) -> dict[str, Any]:
        """Empty the cache of ``ns``; a warm in flight finds it deleted and discards its work."""
        before: list[CacheRecord] = []

        def change(rec: CacheRecord) -> CacheRecord | None:
            before[:] = [rec]
            return CacheRecord(
                max_generation=max(rec.max_generation, rec.generation, rec.warming_generation or 0)
            )

        self.states.update(ns, change)
        self.memory.forget(ns)
        dropped = self.kv.drop_docs(ns, before[0].generation) if before[0].generation else 0
        return {**self.info(ns), "documents_dropped": dropped}

    # -- the watcher -------------------------------------------------------------------------------
    def wants(self, ns: str) -> bool:
        return any(fnmatch.fnmatchcase(ns, p) for p in self.settings.cache_namespaces)

    def on_stable(self, ns: str, meta: dict[str, Any], prev: Freshness, new: Freshness) -> None:
        """Re-warm a ``LAYER_CACHE_NAMESPACES`` namespace that is cold or stale.

        Cheap enough for the tick: a few KV reads and, when needed, one job submitted
        to the runner's pool.
        """
        if not self.wants(ns):
            return
        st = self.cache_state(ns, new)
        if st["warm_inflight"] or st["state"] == "warm":
            return
        job, created = self.warm(ns)
        if created:
            log.info("cache re-warm started", extra={"namespace": ns, "job_id": job["id"]})
