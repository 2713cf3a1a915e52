"""Faults and bad input: upstream failures, hangs, store failures, crashes mid-write,
oversized bodies, keys on every route, and the upstream key never leaking."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import orjson
import pytest
import requests

from common.canonical import snapshot_sha
from tests.integration.helpers import set_faults, snapshot, tick, write_docs

UPSTREAM_KEY = "tpuf-upstream-secret-0123456789"
ADMIN = "admin-key-0123456789"


def test_snapshot_under_upstream_faults_matches_fault_free(demo_emulator, backend_factory) -> None:
    layer = backend_factory(
        demo_emulator.url, origin_strategy="scan", upstream_retries=6, upstream_retry_budget_s=60.0
    )
    tick(layer)  # products gets a stable_as_of, so both runs share one watermark
    clean = snapshot(layer.url, "products", field="brand", source="origin", page_size=2000)
    set_faults(demo_emulator.url, fail_rate=0.2)
    try:
        faulty = snapshot(layer.url, "products", field="brand", source="origin", page_size=2000)
    finally:
        set_faults(demo_emulator.url, fail_rate=0.0)
    assert clean["status"] == faulty["status"] == "completed", faulty
    assert faulty["sha"] == clean["sha"]
    assert faulty["documents_scanned"] == clean["documents_scanned"] == 12_500


def test_listing_degrades_rows_and_watcher_marks_namespaces(
    emulator_factory, backend_factory
) -> None:
    emu = emulator_factory(index_lag_ms=10)
    for i in range(20):
        write_docs(emu.url, f"ns-{i:02d}", [{"id": 1}])
    layer = backend_factory(emu.url, upstream_retries=0, list_cache_ttl_ms=0)
    set_faults(emu.url, fail_rate=0.3)
    degraded = 0
    ok_pages = 0
    for _ in range(15):
        r = requests.get(f"{layer.url}/v2/namespaces", timeout=10)
        # The list call itself failed: a clear error, not a 500; a 429 stays a 429 with
        # the upstream's Retry-After (README "Upstream errors on Layer's routes").
        if r.status_code in (429, 502):
            assert r.json()["error"]["upstream_status"] == (
                r.status_code if r.status_code == 429 else 500
            )
            assert r.headers["Retry-After"] == "1"
            continue
        assert r.status_code == 200
        ok_pages += 1
        rows = r.json()["namespaces"]
        assert [row["name"] for row in rows] == [f"ns-{i:02d}" for i in range(20)]
        degraded += sum(1 for row in rows if "metadata_error" in row)
    assert ok_pages > 0 and degraded > 0
    results = [tick(layer) for _ in range(5)]
    assert all(r.leader for r in results)
    assert any(r.errors > 0 for r in results if r.list_error is None)


def test_hanging_upstream_gives_504_not_a_stuck_worker(emulator, backend_factory) -> None:
    write_docs(emulator.url, "ns", [{"id": 1}])
    layer = backend_factory(
        emulator.url, upstream_read_timeout_s=0.3, upstream_retries=1, upstream_retry_budget_s=1.0
    )
    set_faults(emulator.url, hang_ms=3000)
    t0 = time.monotonic()
    r = requests.get(f"{layer.url}/v2/namespaces/ns/metadata", timeout=10)
    assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - t0 < 2.5
    set_faults(emulator.url, hang_ms=0)
    assert requests.get(f"{layer.url}/v2/namespaces/ns/metadata", timeout=10).status_code == 200


def test_unusable_sqlite_is_503_naming_the_store(emulator, backend_factory, tmp_path) -> None:
    blocker = tmp_path / "not-a-db"
    blocker.mkdir()
    layer = backend_factory(emulator.url, kv_url=f"sqlite://{blocker}")
    write_docs(emulator.url, "ns", [{"id": 1}])
    r = requests.get(f"{layer.url}/v2/namespaces/ns/metadata", timeout=10)
    assert r.status_code == 503
    assert (
        r.json()["error"]["code"] == "store_unavailable"
        and "kv (sqlite" in r.json()["error"]["message"]
    )
    ready = requests.get(f"{layer.url}/readyz", timeout=10)
    assert ready.status_code == 503 and "kv" in ready.json()["error"]["message"]


def test_locked_sqlite_is_503_naming_the_store(emulator, backend_factory, tmp_path) -> None:
    import sqlite3

    db = tmp_path / "locked.sqlite"
    write_docs(emulator.url, "ns", [{"id": 1, "c": "a"}])
    layer = backend_factory(emulator.url, kv_url=f"sqlite://{db}?busy_timeout_ms=200")
    assert (
        requests.get(f"{layer.url}/v2/namespaces/ns/snapshot-jobs", timeout=10).status_code == 200
    )
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        r = requests.post(
            f"{layer.url}/v2/namespaces/ns/snapshots",
            json={"field": "c", "source": "origin"},
            timeout=10,
        )
        assert r.status_code == 503
        assert (
            r.json()["error"]["code"] == "store_unavailable"
            and "kv (sqlite" in r.json()["error"]["message"]
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    r = requests.post(
        f"{layer.url}/v2/namespaces/ns/snapshots",
        json={"field": "c", "source": "origin"},
        timeout=10,
    )
    assert r.status_code == 202


def test_oversized_body_is_413_json(emulator, backend_factory) -> None:
    layer = backend_factory(emulator.url, max_body_bytes=4096)
    r = requests.post(
        f"{layer.url}/v2/namespaces/ns/snapshots",
        data=b"{" + b" " * 10_000 + b"}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_entity_too_large"
    r = requests.post(f"{layer.url}/v2/namespaces/ns/query", data=b"[" * 5000, timeout=10)
    assert r.status_code == 413


def test_deeply_nested_filters_are_400(demo_emulator, backend_factory) -> None:
    layer = backend_factory(demo_emulator.url)
    f: list = ["category", "Eq", "books"]
    for _ in range(40):
        f = ["Not", f]
    r = requests.post(
        f"{layer.url}/v2/namespaces/products/snapshots",
        json={"field": "brand", "filters": f},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "filters"


def test_keys_guard_every_layer_route_and_the_upstream_key_never_leaks(
    emulator_factory, backend_factory, caplog
) -> None:
    emu = emulator_factory(api_key=UPSTREAM_KEY, index_lag_ms=10)
    layer = backend_factory(
        emu.url, api_keys=(ADMIN,), turbopuffer_api_key=UPSTREAM_KEY, upstream_retries=0
    )
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for rule in layer.app.url_map.iter_rules():
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "x").replace(f"<path:{arg}>", "namespaces/x")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            r = requests.request(method, layer.url + path, timeout=10)
            seen.append(r.text + str(r.headers))
            if path == "/healthz":
                assert r.status_code == 200
            else:
                assert r.status_code == 401, (method, path, r.status_code)
    h = {"Authorization": f"Bearer {ADMIN}"}
    write = requests.post(
        f"{layer.url}/v2/namespaces/ns",
        json={"upsert_rows": [{"id": 1, "c": "a"}]},
        headers=h,
        timeout=10,
    )
    assert write.status_code == 200
    for method, path in [
        ("GET", "/v2/namespaces"), ("GET", "/v2/namespaces/ns/metadata"), ("GET", "/v1/namespaces/ns/schema"),
        ("GET", "/v2/namespaces/missing/metadata"), ("GET", "/readyz"), ("GET", "/metrics"),
        ("POST", "/v2/namespaces/ns/query"), ("GET", "/v2/namespaces/ns/history"),
    ]:  # fmt: skip
        body = (
            {"rank_by": ["id", "asc"], "filters": ["c", "Bogus", 1]} if method == "POST" else None
        )
        r = requests.request(method, layer.url + path, json=body, headers=h, timeout=10)
        seen.append(r.text + str(r.headers))
    set_faults(emu.url, fail_rate=1.0)
    for path in ("/v2/namespaces", "/v2/namespaces/ns/metadata", "/readyz"):
        r = requests.get(layer.url + path, headers=h, timeout=10)
        seen.append(r.text + str(r.headers))
    tick(layer)
    everything = "\n".join(seen) + "\n".join(
        rec.getMessage() + str(vars(rec)) for rec in caplog.records
    )
    assert UPSTREAM_KEY not in everything


def test_kill_9_during_snapshot_writes_leaves_no_half_written_state(tmp_path) -> None:
    """Repeatedly kill a process that writes snapshots and runs jobs; afterwards every
    marker has its body, every body parses with a correct SHA, no job stays running."""
    iterations = int(os.environ.get("LAYER_KILL9_ITERATIONS", "20"))
    objects, kv_path = tmp_path / "objects", tmp_path / "kv.sqlite"
    script = textwrap.dedent(
        f"""
        import itertools, sys
        from backend.snapshots.jobs import JobRunner, JobStore
        from backend.snapshots.repo import SnapshotRepo
        from backend.stores.registry import open_kv, open_object_store
        from common.canonical import with_sha
        from common.timeutil import now_ms
        kv = open_kv("sqlite://{kv_path}")
        repo = SnapshotRepo(open_object_store("file://{objects}"), kv)
        runner = JobRunner(JobStore(kv, 3600), 2)
        seed = int(sys.argv[1])
        def body(rj):
            for i in itertools.count():
                b = with_sha({{"namespace": "ns", "watermark_ms": seed * 100000 + i, "fields": [{{"name": "f", "values": [{{"v": "x" * 2000, "n": i}}]}}], "fields_skipped": []}})
                repo.write(b, ts_ms=now_ms(), source="origin", job_id=rj.id)
                rj.update(documents_scanned=i)
        runner.submit(runner.new_job("ns", "snapshot", field="f", source="origin"), body)
        print("started", flush=True)
        import time; time.sleep(60)
        """
    )
    for seed in range(iterations):
        p = subprocess.Popen(
            [sys.executable, "-c", script, str(seed)], stdout=subprocess.PIPE, text=True
        )
        assert p.stdout is not None and p.stdout.readline().strip() == "started"
        time.sleep(0.05 + (seed % 5) * 0.03)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()

    from backend.snapshots.jobs import JobStore
    from backend.stores.registry import open_kv

    # temp files (".~tmp.*") are a crashed write's leftovers: never listed as keys
    history = sorted(
        p for p in (objects / "snapshots/ns/history").iterdir() if not p.name.startswith(".~tmp.")
    )
    bodies = sorted(
        p for p in (objects / "snapshots/ns/bodies").iterdir() if not p.name.startswith(".~tmp.")
    )
    assert history and bodies
    body_names = {b.name for b in bodies}
    for marker in history:
        sha = marker.name.split("-", 1)[1]
        assert f"{sha}.json" in body_names, marker.name
    for b in bodies:
        doc = orjson.loads(b.read_bytes())
        assert snapshot_sha(doc) == doc["sha"] == b.name.removesuffix(".json")
    from backend.stores.registry import open_object_store

    store = open_object_store(f"file://{objects}")
    assert store.list("snapshots/ns/history/") == [
        f"snapshots/ns/history/{p.name}" for p in history
    ]
    jobs = JobStore(open_kv(f"sqlite://{kv_path}"), 3600).list("ns")
    assert len(jobs) == iterations
    assert all(j["status"] == "failed" and j["error"]["code"] == "interrupted" for j in jobs)


@pytest.mark.parametrize(
    "bad",
    ["..", "%2e%2e", "a%2fb", "a%2Fb", "a%5cb", "a%00b", "%00", "x" * 129, "caf%C3%A9", "a%20b"],
)
def test_path_traversal_in_namespace_and_sha(emulator, backend_factory, bad) -> None:
    import http.client

    layer = backend_factory(emulator.url)
    for path in (
        f"/v2/namespaces/{bad}/metadata",
        f"/v2/namespaces/{bad}/history",
        f"/v2/namespaces/ns/snapshots/{bad}",
        f"/v2/namespaces/{bad}/snapshots/abcdef1",
        f"/v1/namespaces/{bad}/schema",
    ):
        conn = http.client.HTTPConnection("127.0.0.1", layer.port, timeout=10)
        conn.request("GET", path)  # sent as is: no client-side dot-segment normalisation
        resp = conn.getresponse()
        body = orjson.loads(resp.read())
        conn.close()
        assert 400 <= resp.status < 500, (path, resp.status)
        assert resp.getheader("Content-Type", "").startswith("application/json"), path
        assert body["error"]["code"], path


@pytest.mark.s3
def test_s3_stopped_mid_job_fails_cleanly_and_recovers(
    private_seaweedfs, emulator_factory, backend_factory, monkeypatch
) -> None:
    from tests.integration.helpers import wait_job

    weed = private_seaweedfs
    assert weed.server is not None
    for name, value in weed.server.env.items():
        monkeypatch.setenv(name, value)
    bucket = weed.server.create_bucket()
    emu = emulator_factory(index_lag_ms=10)
    write_docs(emu.url, "ns", [{"id": i, "c": f"v{i % 7}"} for i in range(2000)])
    layer = backend_factory(
        emu.url, object_store_url=f"s3://{bucket}/layer", origin_strategy="scan"
    )
    set_faults(emu.url, latency_ms=40)
    r = requests.post(
        f"{layer.url}/v2/namespaces/ns/snapshots",
        json={"field": "c", "source": "origin", "page_size": 100},
        timeout=10,
    )
    assert r.status_code == 202
    time.sleep(0.3)
    weed.stop()  # S3 goes away while the job is scanning; it fails when it persists
    job = wait_job(layer.url, "ns", r.json()["id"], timeout=120)
    assert job["status"] == "failed", job
    assert (
        job["error"]["code"] == "store_unavailable"
        and "object store (s3://" in job["error"]["message"]
    )
    assert "sha" not in job

    weed.start()
    set_faults(emu.url, latency_ms=0)
    client = weed.server.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    markers = [k for k in keys if "/history/" in k]
    assert markers == []  # the failed job left no marker (a body without marker is allowed)
    ok = snapshot(layer.url, "ns", field="c", source="origin")
    assert ok["status"] == "completed" and ok["sha"]
    hist = requests.get(f"{layer.url}/v2/namespaces/ns/history", timeout=10).json()
    assert [h["sha"] for h in hist] == [ok["sha"]]
    body = requests.get(f"{layer.url}/v2/namespaces/ns/snapshots/{ok['sha']}", timeout=10).json()
    assert snapshot_sha(body) == ok["sha"]
