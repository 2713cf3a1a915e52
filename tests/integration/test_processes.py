"""Several real processes sharing one KV store and one object store: gunicorn workers and
watchers, shard leases split between watchers and taken over after kill -9, fencing of a
paused holder, graceful shutdown.

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

from backend.lease import SET
from backend.shards import shard_key
from backend.stores.kv_base import KVStore
from backend.stores.registry import open_kv
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
def kv(layer_kv_url: str) -> Iterator[KVStore]:
    """The test's own view of the KV store its processes share."""
    store = open_kv(layer_kv_url)
    yield store
    store.close()


def _env(kv_url: str, tmp: Path, upstream: str, object_store: str, **extra: str) -> dict[str, str]:
    return {
        "TURBOPUFFER_BASE_URL": upstream,
        "LAYER_KV": kv_url,
        "LAYER_OBJECT_STORE": object_store,
        "LAYER_WATCH_INTERVAL_MS": "300",
        "LAYER_LEASE_TTL_MS": "2000",
        "LAYER_FACETS": "shop=color",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp),
        **extra,
    }


SHARDS = 16


def _holders(kv: KVStore) -> dict[int, int]:
    """Shard -> pid of the watcher holding its lease (unexpired leases only)."""
    recs = kv.get_many(SET, [shard_key(i) for i in range(SHARDS)])
    now = time.time() * 1000
    out: dict[int, int] = {}
    for i in range(SHARDS):
        rec = recs.get(shard_key(i))
        if rec is not None and rec.value.get("expires_ms", 0) >= now:
            out[i] = int(str(rec.value["holder"]).split(":")[1])
    return out


def _shares(kv: KVStore) -> dict[int, int]:
    """pid -> number of shards it holds."""
    out: dict[int, int] = {}
    for pid in _holders(kv).values():
        out[pid] = out.get(pid, 0) + 1
    return out


def _all_held_by(kv: KVStore, pids: set[int], most: int) -> bool:
    """Every shard held, only by ``pids``, each of them holding at least one and ``most`` at most."""
    held = _holders(kv)
    shares = _shares(kv)
    return len(held) == SHARDS and set(shares) == pids and max(shares.values()) <= most


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
    procs, emulator_factory, tmp_path, s3_url, kv, layer_kv_url
) -> None:
    emu = emulator_factory(index_lag_ms=50)
    write_docs(emu.url, "shop", [{"id": i, "color": ["red", "blue"][i % 2]} for i in range(100)])
    wait_index(emu.url, "shop")
    env = _env(layer_kv_url, tmp_path, emu.url, s3_url())
    url = _gunicorn(procs, env, workers=2)

    pids: set[int] = set()
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

    # two watcher processes: they split the shards, half each, and keep the split
    a = _watcher(procs, env, "watcher-a")
    b = _watcher(procs, env, "watcher-b")
    wait_for(
        lambda: _all_held_by(kv, {a.pid, b.pid}, SHARDS // 2),
        timeout=30,
        what="the watchers to split the shards",
    )
    split = _holders(kv)
    for _ in range(10):
        time.sleep(0.2)
        assert _holders(kv) == split
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

    # kill -9 one: the other takes its shards within the lease TTL
    killed_at = time.monotonic()
    os.kill(a.pid, signal.SIGKILL)
    wait_for(lambda: _all_held_by(kv, {b.pid}, SHARDS), timeout=10, what="failover")
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


def test_paused_holder_is_fenced(procs, emulator_factory, tmp_path, kv, layer_kv_url) -> None:
    emu = emulator_factory(index_lag_ms=50)
    write_docs(emu.url, "shop", [{"id": 1, "color": "red"}])
    env = _env(layer_kv_url, tmp_path, emu.url, f"file://{tmp_path / 'objects'}")
    a = _watcher(procs, env, "watcher-a")
    wait_for(lambda: _all_held_by(kv, {a.pid}, SHARDS), timeout=20, what="a to hold all")
    b = _watcher(procs, env, "watcher-b")
    wait_for(lambda: _all_held_by(kv, {a.pid, b.pid}, SHARDS // 2), timeout=20, what="a split")
    os.kill(a.pid, signal.SIGSTOP)
    wait_for(
        lambda: _all_held_by(kv, {b.pid}, SHARDS),
        timeout=10,
        what="b to take over every shard from paused a",
    )
    os.kill(a.pid, signal.SIGCONT)
    # a finds its leases gone (fenced), then the two split the shards again
    wait_for(lambda: _all_held_by(kv, {a.pid, b.pid}, SHARDS // 2), timeout=20, what="re-split")
    a.terminate()
    a.wait(15)
    log = (tmp_path / "watcher-a.log").read_text()
    assert "lease lost" in log


def test_sigterm_releases_the_shards(procs, emulator_factory, tmp_path, kv, layer_kv_url) -> None:
    emu = emulator_factory()
    env = _env(
        layer_kv_url,
        tmp_path,
        emu.url,
        f"file://{tmp_path / 'objects'}",
        LAYER_LEASE_TTL_MS="60000",
    )
    a = _watcher(procs, env, "watcher-a")
    wait_for(lambda: _all_held_by(kv, {a.pid}, SHARDS), timeout=20, what="a to hold all")
    b = _watcher(procs, env, "watcher-b")
    wait_for(lambda: _all_held_by(kv, {a.pid, b.pid}, SHARDS // 2), timeout=20, what="a split")
    a.terminate()
    assert a.wait(15) == 0
    # with a 60 s TTL, only the release lets b take over this fast
    wait_for(lambda: _all_held_by(kv, {b.pid}, SHARDS), timeout=5, what="b to hold all")


def test_three_watchers_share_fairly_and_survive_a_kill(
    procs, emulator_factory, tmp_path, kv, layer_kv_url
) -> None:
    emu = emulator_factory(many={"n-": 300}, index_lag_ms=0)
    env = _env(
        layer_kv_url,
        tmp_path,
        emu.url,
        f"file://{tmp_path / 'objects'}",
        LAYER_WATCH_MAX_RPS="2000",
    )
    ws = [_watcher(procs, env, f"watcher-{i}") for i in range(3)]
    pids = {w.pid for w in ws}
    wait_for(
        lambda: _all_held_by(kv, pids, -(-SHARDS // 3)),
        timeout=30,
        what="three watchers to share the shards",
    )
    # every namespace is polled, each by the holder of its shard
    wait_for(lambda: len(list(kv.scan("freshness"))) == 300, timeout=30, what="every record")
    victim = ws[1]
    killed_at = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)
    survivors = pids - {victim.pid}
    wait_for(
        lambda: _all_held_by(kv, survivors, SHARDS // 2),
        timeout=15,
        what="the two survivors to take over",
    )
    assert time.monotonic() - killed_at < 2.0 + 2 * 0.3 + 2.0  # TTL, two ticks and slack
    summary = _summary_holders(kv)
    assert summary <= {str(p) for p in survivors}


def _summary_holders(kv: KVStore) -> set[str]:
    from backend.watchsummary import read_summary
    from common.settings import Settings

    s = read_summary(kv, Settings.from_env({}))
    return {str(sh["holder"]).split(":")[1] for sh in s["shards"] if sh["holder"]}
