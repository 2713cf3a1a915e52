"""Several real processes sharing one KV store and one object store: gunicorn workers and
watchers, lease failover after kill -9, fencing of a paused leader, graceful shutdown.

Each runs on every KV backend (``tests/fixtures/kv.py``): SQLite always, Aerospike when
``LAYER_TEST_AEROSPIKE`` names a server (each test with a set prefix of its own)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from backend.lease import KEY, SET
from backend.stores.registry import open_kv
from tests.fixtures.kv import kv_url
from tests.fixtures.net import free_port, wait_for
from tests.integration.helpers import wait_index, write_docs

pytestmark = pytest.mark.processes


class Procs:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(args, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with_cont = p.pid
                with contextlib.suppress(ProcessLookupError):
                    os.kill(with_cont, signal.SIGCONT)
                p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    ps = Procs(tmp_path)
    yield ps
    ps.stop_all()


@pytest.fixture
def kv(kv_backend: str, tmp_path: Path) -> str:
    """The ``LAYER_KV`` every process of the test shares (one URL per backend)."""
    return kv_url(kv_backend, tmp_path)


def _env(kv: str, tmp: Path, upstream: str, object_store: str, **extra: str) -> dict[str, str]:
    return {
        "TURBOPUFFER_BASE_URL": upstream,
        "LAYER_KV": kv,
        "LAYER_OBJECT_STORE": object_store,
        "LAYER_WATCH_INTERVAL_MS": "300",
        "LAYER_LEASE_TTL_MS": "2000",
        "LAYER_FACETS": "shop=color",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp),
        **extra,
    }


def _lease(kv: str) -> dict[str, Any] | None:
    store = open_kv(kv)
    try:
        rec = store.get(SET, KEY)
    finally:
        store.close()
    return None if rec is None else rec.value


def _holder_pid(kv: str) -> int | None:
    lease = _lease(kv)
    if lease is None or lease.get("expires_ms", 0) < time.time() * 1000:
        return None
    return int(str(lease["holder"]).split(":")[1])


def _gunicorn(procs: Procs, env: dict[str, str], workers: int = 2) -> str:
    port = free_port()
    env = {
        **env,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": str(workers),
        "LAYER_THREADS": "4",
    }
    procs.start(
        [sys.executable, "-m", "gunicorn", "--config", "python:backend.gunicorn_conf"],
        env,
        f"gunicorn-{port}",
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    wait_for(up, timeout=30, what="gunicorn")
    return url


def _watcher(procs: Procs, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    return procs.start([sys.executable, "-m", "layer_cli.main", "watcher"], env, name)


def test_gunicorn_workers_share_jobs_and_one_watcher_leads(
    procs, emulator_factory, tmp_path, s3_url, kv
) -> None:
    emu = emulator_factory(index_lag_ms=50)
    write_docs(emu.url, "shop", [{"id": i, "color": ["red", "blue"][i % 2]} for i in range(100)])
    wait_index(emu.url, "shop")
    env = _env(kv, tmp_path, emu.url, s3_url())
    url = _gunicorn(procs, env, workers=2)

    pids = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        pids.add(
            requests.get(f"{url}/healthz", timeout=5, headers={"Connection": "close"}).json()["pid"]
        )
    assert len(pids) == 2, "both gunicorn workers should answer"

    r = requests.post(
        f"{url}/v2/namespaces/shop/snapshots",
        json={"field": "color", "source": "origin"},
        timeout=10,
    )
    assert r.status_code == 202
    job_id = r.json()["id"]
    seen_by: set[int] = set()
    deadline = time.monotonic() + 30
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with requests.Session() as s:
            job = s.get(f"{url}/v2/namespaces/shop/snapshot-jobs/{job_id}", timeout=5).json()
            seen_by.add(s.get(f"{url}/healthz", timeout=5).json()["pid"])
            listed = s.get(f"{url}/v2/namespaces/shop/snapshot-jobs", timeout=5).json()["jobs"]
            assert job_id in [j["id"] for j in listed]
        if job["status"] == "completed" and len(seen_by) == 2:
            break
        time.sleep(0.05)
    assert job["status"] == "completed" and job["sha"]
    assert (
        requests.get(f"{url}/v2/namespaces/shop/snapshots/{job['sha'][:7]}", timeout=5).status_code
        == 200
    )

    # two watcher processes: exactly one holds the lease and ticks
    a = _watcher(procs, env, "watcher-a")
    b = _watcher(procs, env, "watcher-b")
    wait_for(
        lambda: _holder_pid(kv) in (a.pid, b.pid),
        timeout=20,
        what="a watcher to take the lease",
    )
    leader = _holder_pid(kv)
    for _ in range(10):
        time.sleep(0.2)
        assert _holder_pid(kv) == leader
    # the watcher writes the chronology: stable + facets configured → one snapshot
    wait_for(
        lambda: any(
            h
            for h in requests.get(f"{url}/v2/namespaces/shop/history", timeout=5).json()
            if h["sha"] != job["sha"]
        ),
        timeout=20,
        what="the watcher's snapshot",
    )

    # kill -9 the leader: the other takes over within the lease TTL
    standby = b if leader == a.pid else a
    killed_at = time.monotonic()
    os.kill(leader, signal.SIGKILL)
    wait_for(lambda: _holder_pid(kv) == standby.pid, timeout=10, what="failover")
    assert time.monotonic() - killed_at < 2.0 + 1.5  # TTL plus one tick and slack

    # metrics are served and merged across workers
    text = requests.get(f"{url}/metrics", timeout=5).text
    assert "layer_upstream_request_seconds" in text and "layer_snapshot_jobs_total" in text

    # the Procfile path logs like `layer serve`: one JSON access line per request, with
    # the caller's request id, and no second (gunicorn) access line for it
    r = requests.get(f"{url}/v2/namespaces", headers={"X-Request-Id": "trace-me-42"}, timeout=5)
    assert r.headers["X-Request-Id"] == "trace-me-42"
    port = url.rsplit(":", 1)[1]
    log_path = tmp_path / f"gunicorn-{port}.log"
    lines: list[str] = []

    def logged() -> bool:
        lines[:] = [ln for ln in log_path.read_text().splitlines() if "trace-me-42" in ln]
        return bool(lines)

    wait_for(logged, timeout=5, what="the access line")
    assert len(lines) == 1, lines
    rec = json.loads(lines[0])
    assert rec["logger"] == "layer.access" and rec["route"] == "/v2/namespaces"
    assert rec["status"] == 200 and rec["request_id"] == "trace-me-42"


def test_paused_leader_is_fenced(procs, emulator_factory, tmp_path, kv) -> None:
    emu = emulator_factory(index_lag_ms=50)
    write_docs(emu.url, "shop", [{"id": 1, "color": "red"}])
    env = _env(kv, tmp_path, emu.url, f"file://{tmp_path / 'objects'}")
    a = _watcher(procs, env, "watcher-a")
    wait_for(lambda: _holder_pid(kv) == a.pid, timeout=20, what="a to lead")
    b = _watcher(procs, env, "watcher-b")
    os.kill(a.pid, signal.SIGSTOP)
    wait_for(
        lambda: _holder_pid(kv) == b.pid, timeout=30, what="b to take over from paused a"
    )  # b starts first
    os.kill(a.pid, signal.SIGCONT)
    for _ in range(10):
        time.sleep(0.3)
        assert _holder_pid(kv) == b.pid
    a.terminate()
    a.wait(15)
    log = (tmp_path / "watcher-a.log").read_text()
    assert "lease lost" in log


def test_sigterm_releases_the_lease(procs, emulator_factory, tmp_path, kv) -> None:
    emu = emulator_factory()
    env = _env(kv, tmp_path, emu.url, f"file://{tmp_path / 'objects'}", LAYER_LEASE_TTL_MS="60000")
    a = _watcher(procs, env, "watcher-a")
    wait_for(lambda: _holder_pid(kv) == a.pid, timeout=20, what="a to lead")
    b = _watcher(procs, env, "watcher-b")
    time.sleep(0.5)
    a.terminate()
    assert a.wait(15) == 0
    # with a 60 s TTL, only the release lets b take over this fast
    # (20 s: b may still be starting on a loaded machine; well within the 60 s TTL)
    wait_for(lambda: _holder_pid(kv) == b.pid, timeout=20, what="b to lead after a released")


def test_three_watchers_one_leader_through_two_kills(procs, emulator_factory, tmp_path, kv) -> None:
    emu = emulator_factory(index_lag_ms=50)
    write_docs(emu.url, "shop", [{"id": 1, "color": "red"}])
    env = _env(kv, tmp_path, emu.url, f"file://{tmp_path / 'objects'}")
    alive = {p.pid: p for p in (_watcher(procs, env, f"watcher-{n}") for n in "abc")}
    for _ in range(2):
        wait_for(lambda: _holder_pid(kv) in alive, timeout=20, what="a watcher to lead")
        leader = _holder_pid(kv)
        for _ in range(5):
            time.sleep(0.2)
            assert _holder_pid(kv) == leader  # the others stand by
        assert leader is not None
        killed_at = time.monotonic()
        os.kill(leader, signal.SIGKILL)
        alive.pop(leader).wait(5)
        wait_for(lambda: _holder_pid(kv) in alive, timeout=10, what="failover")
        assert time.monotonic() - killed_at < 2.0 + 1.5  # TTL plus one tick and slack
