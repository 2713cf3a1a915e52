"""Jobs: state in the KV store (set ``jobs``, key ``{ns}/{id}``, TTL ``LAYER_JOB_TTL_S``),
work on APScheduler's thread pool.

The process running a job is the only writer of its record, so the runner keeps the
authoritative copy in memory and writes it through on every change and on a
heartbeat. Any process can answer for any job. A running job whose owner is gone
(its PID is dead on this host, or its heartbeat is older than ``STALE_MS``) is
reported ``failed`` with ``interrupted`` and rewritten so, never left running.

Cancelling (``DELETE .../snapshot-jobs/{id}``) sets a flag: in memory when the job runs
in this process, else ``cancel_requested`` on the KV record, which the owner reads
back before each write-through (a compare-and-set, so the flag is never overwritten).
The job's next progress report (one page) raises ``JobCancelled``; it ends
``cancelled`` and writes nothing.

A final state the store missed (the KV store was down when the job ended) stays with the
runner: the job stays in ``running`` (this process's jobs, by id) and the heartbeat
writes it until the store takes it; meanwhile this process answers for the job from its
own copy, so it reads as it ended, never ``interrupted`` because its record went stale.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor as APThreadPool
from apscheduler.schedulers.background import BackgroundScheduler

from backend import metrics
from backend.errors import Conflict, LayerError, NotFound
from backend.stores.errors import StoreError
from backend.stores.kv_base import KVStore
from common.timeutil import iso_from_ms, now_ms

log = logging.getLogger(__name__)

SET = "jobs"
HEARTBEAT_S = 2.0
STALE_MS = 20_000
HOST = socket.gethostname()

JobFn = Callable[["RunningJob"], None]
CANCELLABLE_KINDS = ("snapshot",)


class JobCancelled(Exception):
    """Raised inside a job body at its next progress report after a cancel."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def public_view(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


class RunningJob:
    """The handle a job body gets: report progress; the runner persists it."""

    def __init__(self, runner: JobRunner, job: dict[str, Any]) -> None:
        self.runner = runner
        self.job = job
        self.lock = threading.Lock()
        self.cancel_event = threading.Event()
        self.interrupted = False  # the server shut down: its final state is written
        self._last_write = 0

    @property
    def id(self) -> str:
        return str(self.job["id"])

    def update(self, *, force: bool = False, **changes: Any) -> None:
        """Record progress (written through at most every 250 ms unless ``force``).

        Outside ``force`` calls, a requested cancel raises ``JobCancelled``.
        """
        # The save happens under the lock: the heartbeat thread and the job's own thread
        # both write this record, and a snapshot saved after a newer one would put a
        # finished job back to "running" (until it went stale and read as interrupted).
        with self.lock:
            self.job.update(changes)
            if not force and self.cancel_event.is_set():
                raise JobCancelled
            now = now_ms()
            if not force and now - self._last_write < 250:
                return
            self._last_write = now
            self.job["_heartbeat_ms"] = now
            if not self.runner.store.save_unless_cancelled(dict(self.job)):
                self.cancel_event.set()
                if not force:
                    raise JobCancelled

    def finish(self, **changes: Any) -> None:
        """The job's final state, written unconditionally."""
        with self.lock:
            self.job.update(changes)
            self.job["_heartbeat_ms"] = now_ms()
            self.runner.store.save(dict(self.job))

    def check_cancelled(self) -> None:
        """Before a job writes anything: raise if a cancel was asked, here or elsewhere."""
        if self.cancel_event.is_set() or self.runner.store.cancel_requested(
            self.job["namespace"], self.id
        ):
            self.cancel_event.set()
            raise JobCancelled

    def heartbeat(self) -> None:
        """Write the record again: progress while running, the final state once ended."""
        if self.finished:
            self.finish()  # a final state the store missed: written unconditionally
        else:
            self.update(force=True)

    @property
    def finished(self) -> bool:
        return self.job.get("status") != "running"

    def view(self) -> dict[str, Any]:
        """A copy of this process's (authoritative) record of the job."""
        with self.lock:
            return dict(self.job)


class JobStore:
    def __init__(self, kv: KVStore, ttl_s: int) -> None:
        self.kv = kv
        self.ttl_s = ttl_s
        # The jobs this process runs, by id (the runner's map): their copy here is newer
        # than the store's while a write-through has not reached it.
        self.here: dict[str, RunningJob] = {}

    def save(self, job: dict[str, Any]) -> None:
        self.kv.put(SET, f"{job['namespace']}/{job['id']}", job, ttl_s=self.ttl_s)

    def save_unless_cancelled(self, job: dict[str, Any]) -> bool:
        """Write the record unless a cancel was requested on it; False when it was."""
        key = f"{job['namespace']}/{job['id']}"
        for _ in range(5):
            rec = self.kv.get(SET, key)
            if rec is not None and rec.value.get("cancel_requested"):
                return False
            gen = 0 if rec is None else rec.generation
            if self.kv.cas(SET, key, job, gen, ttl_s=self.ttl_s) is not None:
                return True
        return True

    def cancel_requested(self, ns: str, job_id: str) -> bool:
        rec = self.kv.get(SET, f"{ns}/{job_id}")
        return bool(rec is not None and rec.value.get("cancel_requested"))

    def request_cancel(self, ns: str, job_id: str) -> dict[str, Any]:
        """Flag a running job for cancelling; 404 unknown, 409 finished or not cancellable."""
        key = f"{ns}/{job_id}"
        for _ in range(10):
            rec = self.kv.get(SET, key)
            if rec is None:
                raise NotFound(f"no job {job_id!r} in namespace {ns!r}")
            job = self._check(key, rec.value, rec.generation)
            if job.get("status") != "running":
                raise Conflict(f"job {job_id!r} has already finished ({job.get('status')})")
            if job.get("kind", "snapshot") not in CANCELLABLE_KINDS:
                raise Conflict(f"a {job.get('kind')} job cannot be cancelled")
            flagged = {**job, "cancel_requested": True}
            if self.kv.cas(SET, key, flagged, rec.generation, ttl_s=self.ttl_s) is not None:
                return flagged
        raise Conflict(f"job {job_id!r} is changing too fast to cancel; try again")

    def _check(self, key: str, job: dict[str, Any], generation: int) -> dict[str, Any]:
        if job.get("status") != "running":
            return job
        rj = self.here.get(str(job.get("id")))
        if rj is not None:
            return rj.view()  # running (or just ended) in this process: never stale
        owner = job.get("_owner") or {}
        hb = int(job.get("_heartbeat_ms") or 0)
        dead = (
            owner.get("host") == HOST
            and isinstance(owner.get("pid"), int)
            and not _pid_alive(owner["pid"])
        )
        if not dead and now_ms() - hb <= STALE_MS:
            return job
        failed = {
            **job,
            "status": "failed",
            "finished_at": iso_from_ms(now_ms()),
            "error": {
                "code": "interrupted",
                "message": "the process running this job stopped before it finished",
            },
        }
        self.kv.cas(SET, key, failed, generation, ttl_s=self.ttl_s)
        return failed

    def get(self, ns: str, job_id: str) -> dict[str, Any]:
        key = f"{ns}/{job_id}"
        rec = self.kv.get(SET, key)
        if rec is None:
            raise NotFound(f"no job {job_id!r} in namespace {ns!r}")
        return self._check(key, rec.value, rec.generation)

    def list(self, ns: str) -> list[dict[str, Any]]:
        jobs = [self._check(k, r.value, r.generation) for k, r in self.kv.scan(SET, f"{ns}/")]
        jobs.sort(key=lambda j: (j.get("_created_ms", 0), j["id"]), reverse=True)
        return jobs


class JobRunner:
    """Runs job bodies on a BackgroundScheduler's pool, started lazily on first use."""

    def __init__(self, store: JobStore, workers: int) -> None:
        self.store = store
        self.workers = workers
        self._scheduler: BackgroundScheduler | None = None
        self._lock = threading.Lock()
        self.running: dict[str, RunningJob] = store.here
        self.accepting = True

    @property
    def scheduler(self) -> BackgroundScheduler:
        with self._lock:
            if self._scheduler is None:
                sched = BackgroundScheduler(
                    # Heartbeats get their own thread: busy job workers must never starve them.
                    executors={"default": APThreadPool(self.workers), "heartbeat": APThreadPool(1)},
                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
                    daemon=True,
                )
                sched.add_listener(self._on_error, EVENT_JOB_ERROR)
                sched.add_job(
                    self._heartbeat,
                    "interval",
                    seconds=HEARTBEAT_S,
                    id="layer-job-heartbeat",
                    executor="heartbeat",
                )
                sched.start()
                self._scheduler = sched
            return self._scheduler

    @staticmethod
    def _on_error(event: JobExecutionEvent) -> None:
        log.error("job crashed", extra={"job_id": event.job_id, "error": repr(event.exception)})

    def _heartbeat(self) -> None:
        for rj in list(self.running.values()):
            try:
                rj.heartbeat()
            except StoreError as exc:
                log.warning("job heartbeat failed", extra={"job_id": rj.id, "error": str(exc)})
                continue
            if rj.finished:
                self.running.pop(rj.id, None)  # its final state is saved at last

    def new_job(self, ns: str, kind: str, **fields: Any) -> dict[str, Any]:
        now = now_ms()
        return {
            "id": str(uuid.uuid4()),
            "namespace": ns,
            "kind": kind,
            **fields,
            "status": "running",
            "progress": 0,
            "documents_scanned": 0,
            "created_at": iso_from_ms(now),
            "finished_at": None,
            "_created_ms": now,
            "_heartbeat_ms": now,
            "_owner": {"host": HOST, "pid": os.getpid()},
        }

    def submit(self, job: dict[str, Any], body: JobFn) -> dict[str, Any]:
        if not self.accepting:
            raise LayerError("this process is shutting down and takes no new jobs")
        self.store.save(job)
        rj = RunningJob(self, job)
        self.running[rj.id] = rj
        self.scheduler.add_job(self._run, args=[rj, body], id=f"job-{rj.id}")
        return public_view(job)

    def cancel(self, ns: str, job_id: str) -> dict[str, Any]:
        """Ask a job to stop; it ends ``cancelled`` at its next page. Returns its record."""
        job = self.store.request_cancel(ns, job_id)
        rj = self.running.get(job_id)
        if rj is not None:
            rj.cancel_event.set()
        return job

    def _run(self, rj: RunningJob, body: JobFn) -> None:
        final: dict[str, Any] | None = None
        try:
            body(rj)
        except JobCancelled:
            # Interrupted by shutdown: already marked so; it stopped at its next progress.
            final = None if rj.interrupted else {"status": "cancelled", "cancel_requested": True}
        except LayerError as exc:
            final = {"status": "failed", "error": {"code": exc.code, "message": exc.message}}
        except StoreError as exc:
            final = {
                "status": "failed",
                "error": {"code": "store_unavailable", "message": str(exc)},
            }
        except Exception as exc:
            log.exception("job failed", extra={"job_id": rj.id})
            message = f"{type(exc).__name__}: {exc}"[:500]
            final = {"status": "failed", "error": {"code": "internal", "message": message}}
        try:
            if final is None:
                self.running.pop(rj.id, None)
            else:
                self._finish(rj, finished_at=iso_from_ms(now_ms()), **final)
        finally:
            metrics.JOBS.labels(
                rj.job.get("kind", "snapshot"), rj.job.get("status", "unknown")
            ).inc()
            metrics.DOCS_SCANNED.labels(rj.job.get("kind", "snapshot")).inc(
                int(rj.job.get("documents_scanned") or 0)
            )

    def _finish(self, rj: RunningJob, **changes: Any) -> None:
        """Save a job's final state; if the store is down, the heartbeat saves it later."""
        try:
            rj.finish(**changes)
        except StoreError as exc:
            log.warning(
                "job's final state not saved yet (the heartbeat retries)",
                extra={"job_id": rj.id, "error": str(exc)},
            )
            return
        self.running.pop(rj.id, None)

    def shutdown(self, grace_s: float = 0.0) -> None:
        """Stop taking jobs, let running ones finish within ``grace_s``, mark the rest interrupted."""
        self.accepting = False
        sched = self._scheduler
        if sched is None:
            return
        done = threading.Event()

        def wait() -> None:
            sched.shutdown(wait=True)
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        done.wait(grace_s)
        for rj in list(self.running.values()):
            if rj.finished:
                self._finish(rj)  # a final state the store missed: one more try
                continue
            # It stops at its next progress report and writes nothing more, so its
            # thread does not hold the process at exit (the executor joins its threads).
            rj.interrupted = True
            rj.cancel_event.set()
            self._finish(
                rj,
                status="failed",
                finished_at=iso_from_ms(now_ms()),
                error={
                    "code": "interrupted",
                    "message": "the server shut down before this job finished",
                },
            )
