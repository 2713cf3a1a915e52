"""Job records: a heartbeat racing the job's final update never resurrects it; a failure
the KV store missed is written once the store is back."""

from __future__ import annotations

import threading
from typing import Any

from backend.snapshots.jobs import JobRunner, JobStore, RunningJob
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
    """A KV store whose writes fail while ``down`` is set (a real SQLite store otherwise)."""

    def __init__(self, kv: Any) -> None:
        self.kv = kv
        self.down = threading.Event()

    def put(self, *args: Any, **kwargs: Any) -> int:
        if self.down.is_set():
            raise StoreUnavailable("kv (test)", "down")
        return int(self.kv.put(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)
