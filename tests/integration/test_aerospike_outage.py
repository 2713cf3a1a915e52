"""The Aerospike server stopped mid-job: 503s naming the store, nothing half-written, and
the next job succeeds once the server is back.

Runs only when ``LAYER_TEST_AEROSPIKE`` names a server and ``LAYER_TEST_AEROSPIKE_PID``
(pause it with SIGSTOP, resume with SIGCONT) or ``LAYER_TEST_AEROSPIKE_CTL`` (a program
run with ``stop``/``start``) says how to stop it (``tests/fixtures/kv.py``); skipped with
that reason otherwise. It stops the server for every client, so run it alone or accept
that other runs against the same server see the outage too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from common.canonical import snapshot_sha
from tests.fixtures.kv import AEROSPIKE, AEROSPIKE_NS, AerospikeControl, kv_url
from tests.integration.helpers import set_faults, snapshot, wait_job, write_docs

STORE = f"kv (aerospike {AEROSPIKE}/{AEROSPIKE_NS})"
OUTAGE_S = 25  # longer than a request's 5 s total timeout (and its retries)


def _is_503_naming_the_store(r: requests.Response) -> bool:
    return r.status_code == 503 and STORE in r.json()["error"]["message"]


def _during_outage(layer_url: str, ns: str, job_id: str) -> list[requests.Response]:
    """Requests that need the KV store while it is down."""
    get = requests.get
    return [
        get(f"{layer_url}/v2/namespaces/{ns}/snapshot-jobs/{job_id}", timeout=60),
        get(f"{layer_url}/v2/namespaces/{ns}/snapshot-jobs", timeout=60),
        requests.post(
            f"{layer_url}/v2/namespaces/{ns}/snapshots",
            json={"field": "c", "source": "origin"},
            timeout=60,
        ),
    ]


def _outage(ctl: AerospikeControl, layer_url: str, ns: str, job_id: str) -> None:
    ctl.stop()
    try:
        started = time.monotonic()
        answers = _during_outage(layer_url, ns, job_id)
        for r in answers:
            assert _is_503_naming_the_store(r), (r.status_code, r.text)
            assert r.json()["error"]["code"]
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))
    finally:
        ctl.start()


def _job_through_an_outage(
    ctl: AerospikeControl, emu_url: str, layer_url: str, start: Callable[[], requests.Response]
) -> dict[str, Any]:
    """Start a job over a slow upstream (30 pages: the outage lands mid-job), stop the
    server, and return the job once it ended: failed, naming the store."""
    set_faults(emu_url, latency_ms=60)
    r = start()
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    time.sleep(0.5)
    _outage(ctl, layer_url, "ns", job_id)
    set_faults(emu_url, latency_ms=0)
    job = wait_job(layer_url, "ns", job_id, timeout=60)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "store_unavailable" and STORE in job["error"]["message"]
    return job


def test_snapshot_job_with_aerospike_stopped_fails_cleanly_and_recovers(
    aerospike_ctl: AerospikeControl, emulator_factory: Any, backend_factory: Any, tmp_path: Path
) -> None:
    emu = emulator_factory(index_lag_ms=10)
    write_docs(emu.url, "ns", [{"id": i, "c": f"v{i % 7}"} for i in range(3000)])
    layer = backend_factory(emu.url, kv_url=kv_url("aerospike", tmp_path), origin_strategy="scan")
    job = _job_through_an_outage(
        aerospike_ctl,
        emu.url,
        layer.url,
        lambda: requests.post(
            f"{layer.url}/v2/namespaces/ns/snapshots",
            json={"field": "c", "source": "origin", "page_size": 100},
            timeout=10,
        ),
    )
    job_id = job["id"]
    assert "sha" not in job
    # Nothing half-written: no history entry; the only job is the failed one.
    assert requests.get(f"{layer.url}/v2/namespaces/ns/history", timeout=10).json() == []
    jobs = requests.get(f"{layer.url}/v2/namespaces/ns/snapshot-jobs", timeout=10).json()
    assert [(j["id"], j["status"]) for j in jobs["jobs"]] == [(job_id, "failed")]

    ok = snapshot(layer.url, "ns", field="c", source="origin")
    assert ok["status"] == "completed" and ok["sha"]
    hist = requests.get(f"{layer.url}/v2/namespaces/ns/history", timeout=10).json()
    assert [h["sha"] for h in hist] == [ok["sha"]]
    body = requests.get(f"{layer.url}/v2/namespaces/ns/snapshots/{ok['sha']}", timeout=10).json()
    assert snapshot_sha(body) == ok["sha"]
    assert sum(x["n"] for x in ok["result"]["values"]) == 3000


def test_cache_warm_with_aerospike_stopped_stays_cold_and_recovers(
    aerospike_ctl: AerospikeControl, emulator_factory: Any, backend_factory: Any, tmp_path: Path
) -> None:
    emu = emulator_factory(index_lag_ms=10)
    write_docs(emu.url, "ns", [{"id": i, "c": f"v{i % 7}"} for i in range(3000)])
    layer = backend_factory(emu.url, kv_url=kv_url("aerospike", tmp_path), watch_page_size=100)
    _job_through_an_outage(
        aerospike_ctl,
        emu.url,
        layer.url,
        lambda: requests.post(f"{layer.url}/v2/namespaces/ns/cache/warm", timeout=10),
    )
    cache = requests.get(f"{layer.url}/v2/namespaces/ns/cache", timeout=10).json()
    assert cache["state"] == "cold" and cache["documents"] == 0  # no half-filled generation
    r = requests.post(
        f"{layer.url}/v2/namespaces/ns/snapshots",
        json={"field": "c", "source": "cache"},
        timeout=10,
    )
    assert r.status_code == 409 and r.json()["error"]["state"] == "cold"

    warmed = wait_job(
        layer.url,
        "ns",
        requests.post(f"{layer.url}/v2/namespaces/ns/cache/warm", timeout=10).json()["id"],
    )
    assert warmed["status"] == "completed", warmed
    cache = requests.get(f"{layer.url}/v2/namespaces/ns/cache", timeout=10).json()
    assert cache["state"] == "warm" and cache["documents"] == 3000
    got = snapshot(layer.url, "ns", field="c", source="cache")
    origin = snapshot(layer.url, "ns", field="c", source="origin")
    assert got["status"] == "completed" and got["result"] == origin["result"]
