"""Retention (issue 14 §3): the policy, the dry run (route and CLI), the watcher applying
it, activity retention, and kill -9 during pruning. Both object stores."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from backend.snapshots import layout
from backend.snapshots.repo import FIELD_SET, MARKER_SET, SnapshotRepo
from backend.snapshots.retention import JOURNAL_SET
from common.canonical import with_sha
from common.timeutil import now_ms
from tests.integration.helpers import snapshot, tick, wait_index, write_docs

HOUR = 3_600_000


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def store_url(request, tmp_path) -> str:
    if request.param == "file":
        return f"file://{tmp_path / 'objects'}"
    return str(request.getfixturevalue("s3_url")())


def body(ns: str, wm: int, field: str = "f", n: int = 1) -> dict[str, Any]:
    return with_sha(
        {
            "namespace": ns,
            "watermark_ms": wm,
            "fields": [{"name": field, "values": [{"v": "x", "n": n}]}],
            "fields_skipped": [],
        }
    )


def populate(repo: SnapshotRepo, ns: str, count: int, newest_ms: int, **kw: Any) -> list[str]:
    """``count`` snapshots an hour apart, the newest at ``newest_ms``; SHAs newest first."""
    shas = []
    for i in range(count - 1, -1, -1):
        b = body(ns, newest_ms - i * HOUR, n=i + 1, **kw)
        repo.write(b, ts_ms=newest_ms - i * HOUR, source="origin", job_id=None)
        shas.append(b["sha"])
    return list(reversed(shas))


def history(layer, ns: str, **params: Any) -> list[dict[str, Any]]:
    r = requests.get(f"{layer.url}/v2/namespaces/{ns}/history", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return list(r.json())


def prune(layer, ns: str, **params: Any) -> requests.Response:
    return requests.post(f"{layer.url}/v2/namespaces/{ns}/history/prune", params=params, timeout=60)


def test_prune_keeps_the_policy_and_what_the_mirror_points_at(
    emulator, backend_factory, store_url
) -> None:
    layer = backend_factory(emulator.url, object_store_url=store_url)
    write_docs(emulator.url, "ns", [{"id": 1, "g": "x"}])  # stored jobs check the namespace
    repo = layer.app.extensions["layer.snapshot_repo"]
    now = now_ms()
    old_g = body("ns", now - 100 * HOUR, field="g")  # the only body holding g: protected
    repo.write(old_g, ts_ms=now - 100 * HOUR, source="origin", job_id=None)
    shas = populate(repo, "ns", 30, now)
    assert len(history(layer, "ns", limit=500)) == 31

    dry = prune(layer, "ns", dry_run="true", keep="last=5")
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["dry_run"] is True and report["policy"] == "last=5"
    assert report["markers"] == 31 and report["keep_count"] == 6 and report["delete_count"] == 25
    kept = {e["sha"]: e["reasons"] for e in report["keep"]}
    assert kept[old_g["sha"]] == ["mirror"] and kept[shas[0]] == ["last", "mirror"]
    assert all(kept[s] == ["last"] for s in shas[1:5])
    assert {e["sha"] for e in report["delete"]} == set(shas[5:])
    assert len(history(layer, "ns", limit=500)) == 31  # a dry run deletes nothing

    done = prune(layer, "ns", keep="last=5").json()
    assert done["dry_run"] is False and done["delete_count"] == 25
    h = history(layer, "ns", limit=500)
    assert [e["sha"] for e in h] == shas[:5] + [old_g["sha"]]
    for sha in shas[5:]:
        r = requests.get(f"{layer.url}/v2/namespaces/ns/snapshots/{sha}", timeout=10)
        assert r.status_code == 404
        assert repo.kv.get(MARKER_SET, f"ns/{sha}") is None
    # The survivors still page, diff and serve.
    page = history(layer, "ns", limit=2, before=shas[1])
    assert [e["sha"] for e in page] == shas[2:4]
    d = requests.get(f"{layer.url}/v2/namespaces/ns/snapshots/{shas[4]}/diff/{shas[0]}")
    assert d.status_code == 200 and d.json()["fields"][0]["status"] == "changed"
    g = snapshot(layer.url, "ns", field="g", source="stored")
    assert g["sha"] == old_g["sha"]
    assert repo.kv.get(JOURNAL_SET, "ns") is None
    again = prune(layer, "ns", keep="last=5").json()
    assert again["delete_count"] == 0 and again["keep_count"] == 6
    assert prune(layer, "ns", keep="all").json()["delete_count"] == 0


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"dry_run": "maybe"}, "dry_run"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"keep": "last"}, "keep"),
        ({"keep": "last=0"}, "keep"),
        ({"keep": "fortnightly=2"}, "keep"),
        ({"keep": "last=1,last=2"}, "keep"),
        ({"keep": "x" * 300}, "keep"),
    ],
)
def test_prune_bad_inputs_name_the_parameter(emulator, backend_factory, params, param) -> None:
    layer = backend_factory(emulator.url)
    r = prune(layer, "ns", **params)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param and err["message"]


def test_prune_bad_namespace_is_400(emulator, backend_factory) -> None:
    layer = backend_factory(emulator.url)
    r = requests.post(f"{layer.url}/v2/namespaces/bad%20name/history/prune", timeout=10)
    assert r.status_code == 400


def test_activity_retention_deletes_old_events_only(emulator, backend_factory, store_url) -> None:
    layer = backend_factory(emulator.url, object_store_url=store_url, activity_retention_days=30)
    repo = layer.app.extensions["layer.snapshot_repo"]
    now = now_ms()
    old = body("ns", now - 40 * 24 * HOUR, n=1)
    new = body("ns", now - 1 * HOUR, n=2)
    other = body("other", now - 40 * 24 * HOUR, n=3)
    for b in (old, new, other):
        repo.write(b, ts_ms=b["watermark_ms"], source="origin", job_id=None)
    report = prune(layer, "ns", dry_run="true").json()
    assert report["activity_deleted"] == 1
    feed = lambda **p: requests.get(  # noqa: E731
        f"{layer.url}/v2/activity/snapshots", params={"since": 0, **p}, timeout=10
    ).json()["events"]
    assert len(feed()) == 3
    assert prune(layer, "ns").json()["activity_deleted"] == 1
    assert [e["sha"] for e in feed(namespace="ns")] == [new["sha"]]
    assert {e["sha"] for e in feed()} == {new["sha"], other["sha"]}  # other: its own pass


def test_the_watcher_applies_the_policy(emulator_factory, backend_factory, store_url) -> None:
    emu = emulator_factory(index_lag_ms=10)
    layer = backend_factory(
        emu.url,
        object_store_url=store_url,
        facets=(("shop", ("color",)),),
        snapshot_min_interval_ms=0,
        history_keep=(("last", 3),),
        history_prune_interval_ms=1,
    )
    repo = layer.app.extensions["layer.snapshot_repo"]
    service = layer.app.extensions["layer.snapshots"]
    populate(repo, "shop", 8, now_ms() - 10 * HOUR, field="color")
    write_docs(layer.url, "shop", [{"id": 1, "color": "red"}])
    wait_index(emu.url, "shop")
    tick(layer)  # data moved: a snapshot
    service.wait_idle()
    assert len(history(layer, "shop")) == 9
    time.sleep(0.01)
    tick(layer)  # nothing moved; retention is due
    service.wait_idle()
    h = history(layer, "shop")
    assert len(h) == 3
    latest = repo.latest_state("shop")
    assert h[0]["sha"] == latest["sha"]
    assert repo.kv.get(FIELD_SET, "shop/color").value["sha"] == latest["sha"]


def test_cli_dry_run_prints_the_plan(emulator, backend_factory, capsys) -> None:
    from layer_cli.main import main

    layer = backend_factory(emulator.url)
    repo = layer.app.extensions["layer.snapshot_repo"]
    shas = populate(repo, "ns", 4, now_ms())
    rc = main(["history", "prune", "--dry-run", "--keep", "last=1", "--url", layer.url, "ns"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "ns: policy last=1: 4 snapshots, keep 1, would delete 3" in out
    assert shas[0][:12] in out and all(s[:12] in out for s in shas[1:])
    assert len(history(layer, "ns")) == 4
    rc = main(["history", "prune", "--keep", "nope", "--url", layer.url, "ns"])
    assert rc == 1
    assert "keep" in capsys.readouterr().err
    assert main(["history", "prune", "--keep", "last=1", "--url", layer.url, "ns"]) == 0
    assert [e["sha"] for e in history(layer, "ns")] == shas[:1]


# -- kill -9 -----------------------------------------------------------------------------------
PRUNER = """
import sys
from backend.snapshots import retention
from backend.snapshots.repo import SnapshotRepo
from backend.snapshots.retention import Pruner
from backend.stores.registry import open_kv, open_object_store
retention.BATCH = 8
repo = SnapshotRepo(open_object_store(sys.argv[1]), open_kv(sys.argv[2]))
batch = Pruner._delete_batch
def announced(self, ns, items):
    print("batch", flush=True)
    batch(self, ns, items)
Pruner._delete_batch = announced
Pruner(repo, (("last", 2),), 0).prune("ns")
print("done", flush=True)
"""


def _fill(repo: SnapshotRepo, start: int, count: int) -> None:
    """Bodies and markers only (what pruning reads), written in parallel."""

    def one(i: int) -> None:
        b = body("ns", start + i, n=i)
        repo.store.put(layout.body_key("ns", b["sha"]), __import__("orjson").dumps(b))
        repo.store.put(layout.history_key("ns", b["watermark_ms"], b["sha"]), b"")

    list(repo.pool.map(one, range(count)))


def _check_invariants(repo: SnapshotRepo) -> set[str]:
    markers = repo.store.list(layout.history_prefix("ns"))
    bodies = {
        k.rsplit("/", 1)[-1].removesuffix(".json") for k in repo.store.list("snapshots/ns/bodies/")
    }
    for key in markers:
        assert layout.parse_history_key(key)[1] in bodies, f"marker without body: {key}"
    for sha in repo.protected_shas("ns"):
        assert sha in bodies, f"mirror points at a missing body: {sha}"
    return bodies


@pytest.mark.slow
def test_kill_9_during_pruning_leaves_no_marker_without_body(tmp_path: Path, store_url) -> None:
    from backend.stores.registry import open_kv, open_object_store

    rounds = int(os.environ.get("LAYER_KILL9_ITERATIONS", "20"))
    kv_url = f"sqlite://{tmp_path / 'kv.sqlite'}"
    repo = SnapshotRepo(open_object_store(store_url), open_kv(kv_url))
    newest = body("ns", 10**12, field="f")
    repo.write(newest, ts_ms=now_ms(), source="origin", job_id=None)  # the mirror's latest
    protected_g = body("ns", 10, field="g")  # oldest; the field mirror points at it
    repo.write(protected_g, ts_ms=now_ms(), source="origin", job_id=None)
    env = {**os.environ}
    rng = random.Random(14)
    killed_mid = 0
    for r in range(rounds):
        _fill(repo, 1_000 + r * 1_000, 64)
        p = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(PRUNER), store_url, kv_url],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert p.stdout is not None and p.stdout.readline().strip() == "batch"
        time.sleep(rng.uniform(0.0, 0.08))  # inside the first few batches
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        if repo.kv.get(JOURNAL_SET, "ns") is not None:
            killed_mid += 1
        _check_invariants(repo)
    assert killed_mid > 0, "no kill landed inside a batch; the test proved nothing"
    from backend.snapshots.retention import Pruner

    report = Pruner(repo, (("last", 2),), 0).prune("ns")
    bodies = _check_invariants(repo)
    markers = {layout.parse_history_key(k)[1] for k in repo.store.list(layout.history_prefix("ns"))}
    assert repo.kv.get(JOURNAL_SET, "ns") is None
    assert markers == {e["sha"] for e in report["keep"]}
    assert {newest["sha"], protected_g["sha"]} <= markers
    assert len(markers) == 3  # last=2 (newest and the next) plus the field mirror's body
    assert bodies == markers  # the journal let the pass finish every half-deleted entry
