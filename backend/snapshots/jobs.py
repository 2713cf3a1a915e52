"""Jobs: state in the KV store (set ``jobs``, key ``{ns}/{id}``, TTL ``LAYER_JOB_TTL_S``),
work on APScheduler's thread pool.

The process running a job is the only writer of its record, so the runner keeps the
authoritative copy in memory and writes it through on every change and on a
heartbeat. Any process can answer for any job. A running job whose owner is gone
(its PID is dead on this host, or its heartbeat is older than ``STALE_MS``) is
reported ``failed`` with ``interrupted`` and rewritten so, never left running.
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
from backend.errors import LayerError, NotFound
from backend.stores.errors import StoreError
from backend.stores.kv_base import KVStore
from common.timeutil import iso_from_ms, now_ms

log = logging.getLogger(__name__)

SET = "jobs"
HEARTBEAT_S = 2.0
STALE_MS = 20_000
HOST = socket.gethostname()

JobFn = Callable[["RunningJob"], None]


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
        self._last_write = 0

    @property
    def id(self) -> str:
        return str(self.job["id"])

    def update(self, *, force: bool = False, **changes: Any) -> None:
        # The save happens under the lock: the heartbeat thread and the job's own thread
        # both write this record, and a snapshot saved after a newer one would put a
        # finished job back to "running" (until it went stale and read as interrupted).
        with self.lock:
            self.job.update(changes)
            now = now_ms()
            if not force and now - self._last_write < 250:
                return
            self._last_write = now
            self.job["_heartbeat_ms"] = now
            self.runner.store.save(dict(self.job))

    def heartbeat(self) -> None:
        self.update(force=True)


class JobStore:
    def __init__(self, kv: KVStore, ttl_s: int) -> None:
        self.kv = kv
        self.ttl_s = ttl_s

    def save(self, job: dict[str, Any]) -> None:
        self.kv.put(SET, f"{job['namespace']}/{job['id']}", job, ttl_s=self.ttl_s)

    def _check(self, key: str, job: dict[str, Any], generation: int) -> dict[str, Any]:
        if job.get("status") != "running":
            return job
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
        self.running: dict[str, RunningJob] = {}
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
            if rj.job.get("status") != "running":
                self.running.pop(rj.id, None)  # a final state the store missed: now saved

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

    def _fail(self, rj: RunningJob, code: str, message: str) -> None:
        try:
            rj.update(
                force=True,
                status="failed",
                finished_at=iso_from_ms(now_ms()),
                error={"code": code, "message": message},
            )
        except StoreError as exc:
            # The KV store is down: the record still reads "running". The job stays in
            # ``running`` so the heartbeat writes its failure once the store is back.
            log.warning("job failure not saved yet", extra={"job_id": rj.id, "error": str(exc)})
            return
        self.running.pop(rj.id, None)

    def _run(self, rj: RunningJob, body: JobFn) -> None:
        try:
            body(rj)
        except LayerError as exc:
            self._fail(rj, exc.code, exc.message)
        except StoreError as exc:
            self._fail(rj, "store_unavailable", str(exc))
        except Exception as exc:
            log.exception("job failed", extra={"job_id": rj.id})
            self._fail(rj, "internal", f"{type(exc).__name__}: {exc}"[:500])
        else:
            self.running.pop(rj.id, None)
        finally:
            metrics.JOBS.labels(
                rj.job.get("kind", "snapshot"), rj.job.get("status", "unknown")
            ).inc()
            metrics.DOCS_SCANNED.labels(rj.job.get("kind", "snapshot")).inc(
                int(rj.job.get("documents_scanned") or 0)
            )

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
            if rj.job.get("status") != "running":
                rj.heartbeat()  # a failure the store missed: one more try
                continue
            rj.update(
                force=True,
                status="failed",
                finished_at=iso_from_ms(now_ms()),
                error={
                    "code": "interrupted",
                    "message": "the server shut down before this job finished",
                },
            )
