"""Job records: a heartbeat racing the job's final update never resurrects it; a failure
the KV store missed is written once the store is back."""

from __future__ import annotations

import threading
import time
from typing import Any

from backend.snapshots.jobs import HEARTBEAT_S, SET, JobRunner, JobStore, RunningJob
from backend.stores.errors import StoreUnavailable
from backend.stores.registry import open_kv


def test_heartbeat_never_overwrites_a_newer_final_state(tmp_path) -> None:
    store = JobStore(open_kv(f"sqlite://{tmp_path}/kv.sqlite"), 3600)
    runner = JobRunner(store, 1)
    for _ in range(30):
        job = runner.new_job("ns", "snapshot", field="f")
        store.save(job)
        rj = RunningJob(runner, job)
        stop = threading.Event()

        def beat(rj: RunningJob = rj, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                rj.heartbeat()

        t = threading.Thread(target=beat)
        t.start()
        rj.update(force=True, status="completed", progress=1)
        stop.set()
        t.join()
        assert store.get("ns", job["id"])["status"] == "completed"


class _Outage:
    """A KV store whose writes (put, cas) fail while ``down`` is set; a real SQLite store."""

    def __init__(self, kv: Any) -> None:
        self.kv = kv
        self.down = threading.Event()

    def put(self, *args: Any, **kwargs: Any) -> int:
        if self.down.is_set():
            raise StoreUnavailable("kv (test)", "down")
        return int(self.kv.put(*args, **kwargs))

    def cas(self, *args: Any, **kwargs: Any) -> int | None:
        if self.down.is_set():
            raise StoreUnavailable("kv (test)", "down")
        return self.kv.cas(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)


def test_a_failure_the_store_missed_is_saved_once_it_is_back(tmp_path) -> None:
    kv = _Outage(open_kv(f"sqlite://{tmp_path}/kv.sqlite"))
    store = JobStore(kv, 3600)  # type: ignore[arg-type]
    runner = JobRunner(store, 1)
    job = runner.new_job("ns", "snapshot", field="f")
    key = f"ns/{job['id']}"
    ran = threading.Event()

    def body(rj: RunningJob) -> None:
        kv.down.set()
        ran.set()
        rj.update(force=True, progress=0.5)  # raises: the store takes no writes

    runner.submit(job, body)
    assert ran.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not runner.running[job["id"]].finished:
        time.sleep(0.05)
    time.sleep(HEARTBEAT_S + 0.5)  # a heartbeat while the store is still down
    assert kv.kv.get(SET, key).value["status"] == "running"  # the failure is not saved yet
    assert job["id"] in runner.running
    # this process answers from its own copy: failed, not running, never "interrupted"
    answered = store.get("ns", job["id"])
    assert answered["status"] == "failed" and answered["error"]["code"] == "store_unavailable"
    kv.down.clear()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and job["id"] in runner.running:
        time.sleep(0.05)
    assert job["id"] not in runner.running
    saved = kv.kv.get(SET, key).value
    assert saved["status"] == "failed" and saved["error"]["code"] == "store_unavailable"
    assert "kv (test)" in saved["error"]["message"]
    runner.shutdown()


def test_shutdown_tries_once_more_to_save_a_missed_final_state(tmp_path) -> None:
    kv = _Outage(open_kv(f"sqlite://{tmp_path}/kv.sqlite"))
    store = JobStore(kv, 3600)  # type: ignore[arg-type]
    runner = JobRunner(store, 1)
    job = runner.new_job("ns", "snapshot", field="f")

    def body(rj: RunningJob) -> None:
        kv.down.set()
        raise StoreUnavailable("kv (test)", "down")

    runner.submit(job, body)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not runner.running[job["id"]].finished:
        time.sleep(0.05)
    kv.down.clear()
    runner.shutdown()
    saved = kv.kv.get(SET, f"ns/{job['id']}").value
    assert saved["status"] == "failed" and saved["error"]["code"] == "store_unavailable"


def test_shutdown_stops_a_running_job_at_its_next_progress(tmp_path) -> None:
    """A job still running after the grace is marked interrupted and stops at its next
    progress report, writing nothing more: its thread does not hold the process open."""
    store = JobStore(open_kv(f"sqlite://{tmp_path}/kv.sqlite"), 3600)
    runner = JobRunner(store, 1)
    job = runner.new_job("ns", "snapshot", field="f")
    started, stopped = threading.Event(), threading.Event()
    pages: list[int] = []

    def body(rj: RunningJob) -> None:
        started.set()
        try:
            for page in range(200):  # 10 s of pages, unless stopped
                pages.append(page)
                rj.update(progress=page / 200)
                time.sleep(0.05)
            rj.check_cancelled()
            rj.update(force=True, status="completed", progress=1.0)
        finally:
            stopped.set()

    runner.submit(job, body)
    assert started.wait(10)
    time.sleep(0.2)  # past the scheduler's own bookkeeping of the job it just started
    runner.shutdown(grace_s=0.2)
    assert stopped.wait(5), "the job ran on after shutdown"
    assert len(pages) < 200
    saved = store.get("ns", job["id"])
    assert saved["status"] == "failed" and saved["error"]["code"] == "interrupted"
