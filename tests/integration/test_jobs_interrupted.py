"""A job whose process died is reported failed/interrupted, never left running."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import requests

from backend.snapshots.jobs import STALE_MS, JobRunner, JobStore
from backend.stores.registry import open_kv
from common.timeutil import now_ms


def test_killed_process_job_is_interrupted(tmp_path, emulator, backend_factory) -> None:
    kv_path = tmp_path / "kv.sqlite"
    script = textwrap.dedent(
        f"""
        import time
        from backend.stores.registry import open_kv
        from backend.snapshots.jobs import JobRunner, JobStore
        runner = JobRunner(JobStore(open_kv("sqlite://{kv_path}"), 3600), 1)
        job = runner.new_job("ns", "snapshot", field="f", source="origin")
        runner.submit(job, lambda rj: time.sleep(600))
        print(job["id"], flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        job_id = proc.stdout.readline().strip()
        layer = backend_factory(emulator.url, kv_url=f"sqlite://{kv_path}")
        url = f"{layer.url}/v2/namespaces/ns/snapshot-jobs/{job_id}"
        assert requests.get(url, timeout=5).json()["status"] == "running"
    finally:
        proc.kill()
        proc.wait()
    job = requests.get(url, timeout=5).json()
    assert job["status"] == "failed" and job["error"]["code"] == "interrupted"
    assert job["finished_at"]
    listed = requests.get(f"{layer.url}/v2/namespaces/ns/snapshot-jobs", timeout=5).json()["jobs"]
    assert [(j["id"], j["status"]) for j in listed] == [(job_id, "failed")]


def test_job_with_stale_heartbeat_on_another_host_is_interrupted(tmp_path) -> None:
    kv = open_kv(f"sqlite://{tmp_path / 'kv.sqlite'}")
    store = JobStore(kv, 3600)
    job = JobRunner(store, 1).new_job("ns", "snapshot", field="f")
    job["_owner"] = {"host": "another-host", "pid": 1}
    job["_heartbeat_ms"] = now_ms() - STALE_MS - 1000
    store.save(job)
    assert store.get("ns", job["id"])["error"]["code"] == "interrupted"
    fresh = JobRunner(store, 1).new_job("ns", "snapshot", field="f")
    fresh["_owner"] = {"host": "another-host", "pid": 1}
    store.save(fresh)
    assert store.get("ns", fresh["id"])["status"] == "running"
