"""Auth and runtime fault injection through /_emulator/faults."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from emulator.server import EmulatorServer


def test_api_key_required_when_set(emulator_factory: Callable[..., EmulatorServer]) -> None:
    server = emulator_factory(api_key="sekrit")
    url = server.url + "/v1/namespaces"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "sekrit"}):
        r = requests.get(url, headers=headers, timeout=5)
        assert r.status_code == 401
        assert r.json()["status"] == "error"
    assert (
        requests.get(url, headers={"Authorization": "Bearer sekrit"}, timeout=5).status_code == 200
    )
    assert requests.get(server.url + "/_emulator/faults", timeout=5).status_code == 200


def test_any_key_without_api_key(emulator: EmulatorServer) -> None:
    r = requests.get(
        emulator.url + "/v1/namespaces", headers={"Authorization": "Bearer whatever"}, timeout=5
    )
    assert r.status_code == 200


def test_fault_injection_at_run_time(emulator: EmulatorServer) -> None:
    faults = emulator.url + "/_emulator/faults"
    assert requests.get(faults, timeout=5).json() == {
        "latency_ms": 0, "fail_rate": 0.0, "hang_ms": 0, "fail_statuses": [500, 429],
        "fail_namespaces": [], "respond_async": False, "respond_async_delay_ms": 0,
        "small_ns_bytes": 0,
    }  # fmt: skip
    r = requests.post(faults, json={"fail_rate": 1.0}, timeout=5)
    assert r.json()["fail_rate"] == 1.0
    statuses = set()
    for _ in range(30):
        r = requests.get(emulator.url + "/v1/namespaces", timeout=5)
        assert r.status_code in (500, 429)
        assert r.headers["Retry-After"]
        assert r.json()["status"] == "error"
        statuses.add(r.status_code)
    assert statuses == {500, 429}
    requests.post(faults, json={"fail_statuses": [503]}, timeout=5)
    assert requests.get(emulator.url + "/v1/namespaces", timeout=5).status_code == 503
    requests.post(faults, json={"fail_rate": 0, "latency_ms": 150}, timeout=5)
    t = time.monotonic()
    assert requests.get(emulator.url + "/v1/namespaces", timeout=5).status_code == 200
    assert time.monotonic() - t >= 0.15
    requests.post(faults, json={"latency_ms": 0, "hang_ms": 800}, timeout=5)
    try:
        requests.get(emulator.url + "/v1/namespaces", timeout=0.3)
        raise AssertionError("expected a client timeout")
    except requests.Timeout:
        pass
    t = time.monotonic()
    assert requests.post(faults, json={"hang_ms": 0}, timeout=5).ok  # never delayed
    assert time.monotonic() - t < 1
    for bad in (
        {"fail_rate": 2},
        {"latency_ms": -1},
        {"fail_statuses": [200]},
        {"fail_statuses": "500"},
    ):
        assert requests.post(faults, json=bad, timeout=5).status_code == 400


def test_cli_flags_configure_faults(emulator_factory: Callable[..., EmulatorServer]) -> None:
    server = emulator_factory(latency_ms=20, fail_rate=0.5)
    assert requests.get(server.url + "/_emulator/faults", timeout=5).json()["latency_ms"] == 20
    codes = {requests.get(server.url + "/v1/namespaces", timeout=5).status_code for _ in range(40)}
    assert 200 in codes and codes & {500, 429}


def test_fail_namespaces_and_stats(emulator: EmulatorServer) -> None:
    for ns in ("a", "b"):
        requests.post(
            f"{emulator.url}/v2/namespaces/{ns}", json={"upsert_rows": [{"id": 1}]}, timeout=5
        )
    before = requests.get(emulator.url + "/_emulator/stats", timeout=5).json()["requests"]
    requests.post(emulator.url + "/_emulator/faults", json={"fail_namespaces": ["b"]}, timeout=5)
    assert requests.get(f"{emulator.url}/v2/namespaces/a/metadata", timeout=5).status_code == 200
    assert requests.get(f"{emulator.url}/v2/namespaces/b/metadata", timeout=5).status_code == 500
    assert requests.get(f"{emulator.url}/v1/namespaces", timeout=5).status_code == 200
    after = requests.get(emulator.url + "/_emulator/stats", timeout=5).json()["requests"]
    assert after - before == 3
    bad = requests.post(
        emulator.url + "/_emulator/faults", json={"fail_namespaces": "b"}, timeout=5
    )
    assert bad.status_code == 400
