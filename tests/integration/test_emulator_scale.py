"""The emulator at size over HTTP: ``--many`` listing and metadata, ``--churn`` writes."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from common.timeutil import ms_from_iso
from emulator import cli
from emulator.server import EmulatorServer
from tests.fixtures.net import wait_for

N = 100_000


@pytest.fixture(scope="module")
def many() -> Any:
    server = EmulatorServer(host="127.0.0.1", port=0, many={"s-": N, "r-": 40}).start()
    yield server
    server.stop()


def _list(server: EmulatorServer, **params: Any) -> dict[str, Any]:
    r = requests.get(server.url + "/v1/namespaces", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_listing_pages_every_name_once_in_order(many: EmulatorServer) -> None:
    seen: list[str] = []
    cursor = None
    with requests.Session() as s:
        while True:
            params: dict[str, Any] = {"prefix": "s-", "page_size": 1000}
            if cursor:
                params["cursor"] = cursor
            body = s.get(many.url + "/v1/namespaces", params=params, timeout=10).json()
            seen += [n["id"] for n in body["namespaces"]]
            cursor = body.get("next_cursor")
            if not cursor:
                break
    assert seen == sorted(f"s-{i:05d}" for i in range(N))
    health = requests.get(many.url + "/_emulator/health", timeout=5).json()
    assert health["namespaces"] == N + 40 and health["materialized"] == 0


def test_prefix_cursor_and_metadata_of_idle_names(many: EmulatorServer) -> None:
    body = _list(many, prefix="s-9999", page_size=5)
    names = [n["id"] for n in body["namespaces"]]
    assert names == ["s-99990", "s-99991", "s-99992", "s-99993", "s-99994"]
    nxt = _list(many, prefix="s-9999", page_size=5, cursor=body["next_cursor"])
    assert [n["id"] for n in nxt["namespaces"]] == [
        "s-99995",
        "s-99996",
        "s-99997",
        "s-99998",
        "s-99999",
    ]
    assert "next_cursor" not in nxt
    everything = _list(many, prefix="r-", page_size=1000)
    assert len(everything["namespaces"]) == 40 and "next_cursor" not in everything
    meta = requests.get(many.url + "/v2/namespaces/s-04242/metadata", timeout=5).json()
    assert meta["approx_row_count"] == 3 and meta["index"] == {"status": "up-to-date"}
    assert meta["approx_logical_bytes"] > 0 and "status" in meta["schema"]
    assert requests.get(many.url + "/v2/namespaces/s-04242/metadata", timeout=5).json() == meta
    schema = requests.get(many.url + "/v1/namespaces/s-04242/schema", timeout=5).json()
    assert schema == meta["schema"]
    assert (
        requests.get(many.url + f"/v2/namespaces/s-{N:05d}/metadata", timeout=5).status_code == 404
    )
    health = requests.get(many.url + "/_emulator/health", timeout=5).json()
    assert health["materialized"] == 0  # metadata and schema built nothing to keep
    q = requests.post(
        many.url + "/v2/namespaces/s-04242/query",
        json={"rank_by": ["id", "asc"], "limit": 10, "include_attributes": True},
        timeout=5,
    ).json()
    assert [r["id"] for r in q["rows"]] == [1, 2, 3]
    assert q["rows"][0]["_layer_written_ms"] <= ms_from_iso(meta["last_write_at"])


def test_churn_moves_last_write_with_index_lag(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    server = emulator_factory(many={"c-": 30, "q-": 30}, index_lag_ms=400)
    churn = server.url + "/_emulator/churn"
    idle = requests.get(churn, timeout=5).json()
    assert idle["rate"] == 0 and idle["writes"] == 0
    before = {
        f"c-{i:05d}": ms_from_iso(
            requests.get(f"{server.url}/v2/namespaces/c-{i:05d}/metadata", timeout=5).json()[
                "last_write_at"
            ]
        )
        for i in range(30)
    }
    t0 = int(time.time() * 1000)
    r = requests.post(churn, json={"rate": 100, "prefix": "c-"}, timeout=5)
    assert r.status_code == 200 and r.json()["rate"] == 100 and r.json()["prefix"] == "c-"
    wait_for(
        lambda: requests.get(churn, timeout=5).json()["writes"] >= 20, timeout=10, what="churn"
    )
    status = requests.get(churn, params={"recent": 5}, timeout=5).json()
    assert status["errors"] == 0 and 1 <= status["namespaces_written"] <= 30
    name = status["recent"][-1]["namespace"]
    assert name.startswith("c-")
    meta = requests.get(f"{server.url}/v2/namespaces/{name}/metadata", timeout=5).json()
    assert ms_from_iso(meta["last_write_at"]) >= max(t0 - 1000, before[name])
    requests.post(churn, json={"rate": 0}, timeout=5)
    stopped = requests.get(churn, timeout=5).json()["writes"]
    # the last writes index after the lag; before that the namespace reads updating
    url = f"{server.url}/v2/namespaces/{name}/metadata"
    wait_for(
        lambda: requests.get(url, timeout=5).json()["index"]["status"] == "up-to-date",
        timeout=5,
        what="index lag to pass",
    )
    time.sleep(0.1)
    assert requests.get(churn, timeout=5).json()["writes"] <= stopped + 2  # rate 0 stops it
    # churn never touched the other prefix
    for i in range(30):
        m = requests.get(f"{server.url}/v2/namespaces/q-{i:05d}/metadata", timeout=5).json()
        assert ms_from_iso(m["last_write_at"]) < t0 - 86_400_000


def test_churn_write_reads_updating_during_lag(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    server = emulator_factory(many={"l-": 1}, index_lag_ms=3000, churn=(20.0, "l-"))
    url = f"{server.url}/v2/namespaces/l-00000/metadata"
    wait_for(
        lambda: requests.get(url, timeout=5).json()["index"]["status"] == "updating",
        timeout=5,
        what="a churn write",
    )
    meta = requests.get(url, timeout=5).json()
    assert meta["index"]["unindexed_bytes"] > 0
    assert abs(ms_from_iso(meta["last_write_at"]) - time.time() * 1000) < 5000


def test_churn_through_faults_and_bad_input(emulator: EmulatorServer) -> None:
    faults = emulator.url + "/_emulator/faults"
    churn = emulator.url + "/_emulator/churn"
    r = requests.post(
        faults, json={"latency_ms": 5, "churn": {"rate": 2.5, "prefix": "x"}}, timeout=5
    )
    assert r.status_code == 200 and r.json()["latency_ms"] == 5
    assert requests.get(churn, timeout=5).json()["rate"] == 2.5
    bad_bodies: list[Any] = [
        {"rate": -1},
        {"rate": "fast"},
        {"rate": True},
        {"rate": 1e9},
        {"prefix": "a/b"},
        {"prefix": 5},
        [1, 2],
    ]
    for bad in bad_bodies:
        r = requests.post(churn, json=bad, timeout=5)
        assert r.status_code == 400, bad
        assert r.json()["status"] == "error"
        # the same through /_emulator/faults: refused whole, latency unchanged
        r = requests.post(faults, json={"latency_ms": 99, "churn": bad}, timeout=5)
        assert r.status_code == 400, bad
    assert requests.get(faults, timeout=5).json()["latency_ms"] == 5
    assert requests.get(churn, timeout=5).json()["rate"] == 2.5
    assert "rate must be" in requests.post(churn, json={"rate": -1}, timeout=5).json()["error"]
    for recent in ("abc", "-1", "5000"):
        r = requests.get(churn, params={"recent": recent}, timeout=5)
        assert r.status_code == 400 and "recent" in r.json()["error"]
    assert requests.delete(churn, timeout=5).status_code == 405
    requests.post(churn, json={"rate": 0}, timeout=5)


def test_churn_cli_flag() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert parser.parse_args([]).churn is None
    assert parser.parse_args(["--churn", "50"]).churn == (50.0, "")
    assert parser.parse_args(["--churn", "0.5:tenant-"]).churn == (0.5, "tenant-")
    for bad in ("fast", "-3", "10:a/b", "1e9"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--churn", bad])


def test_poll_tracker_finds_the_longest_idle_gap(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    server = emulator_factory(many={"p-": 5})
    polls = server.url + "/_emulator/polls"
    assert requests.get(polls, timeout=5).json() == {"tracking": False}

    def meta(ns: str) -> None:
        assert requests.get(f"{server.url}/v2/namespaces/{ns}/metadata", timeout=5).ok

    assert requests.post(polls, json={"track": True}, timeout=5).json()["never_polled_idle"] == 5
    for ns in ("p-00000", "p-00001", "p-00002", "p-00003"):
        meta(ns)
    time.sleep(0.3)
    for ns in ("p-00000", "p-00001", "p-00002"):
        meta(ns)
    time.sleep(0.4)  # p-00003's gap (0.7 s and more) now clearly beats the others' 0.3 s
    requests.post(
        f"{server.url}/v2/namespaces/p-00004", json={"upsert_rows": [{"id": 7}]}, timeout=5
    )
    s = requests.get(polls, timeout=5).json()
    assert s["calls"] == 7 and s["polled"] == 4 and s["written"] == 1
    assert s["never_polled_idle"] == 0  # p-00004 was written: not idle
    # p-00003 has gone unpolled since its first call, 700 ms ago and more
    assert s["max_idle_gap_ms"] >= 700 and s["max_idle_gap_namespace"] == "p-00003"
    stats = requests.get(server.url + "/_emulator/stats", timeout=5).json()
    assert stats["metadata"] == 7 and stats["write"] == 1
    for bad in ({}, {"track": "yes"}, [True]):
        assert requests.post(polls, json=bad, timeout=5).status_code == 400
    assert requests.post(polls, json={"track": False}, timeout=5).json() == {"tracking": False}
