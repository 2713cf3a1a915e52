"""bench/loadgen.py, the wrk stand-in: it counts answers, errors and latency truthfully."""

from __future__ import annotations

from collections.abc import Callable

import requests

from bench import loadgen
from emulator.server import EmulatorServer


def test_counts_requests_and_errors(emulator_factory: Callable[..., EmulatorServer]) -> None:
    server = emulator_factory(many={"g-": 3})
    before = requests.get(server.url + "/_emulator/stats", timeout=5).json()["list"]
    rps, p99, errors = loadgen.run(f"{server.url}/v1/namespaces?page_size=2", 1.0, 3)
    after = requests.get(server.url + "/_emulator/stats", timeout=5).json()["list"]
    assert errors == 0 and rps > 0 and p99 > 0
    # every counted answer reached the server (a few more may finish after the window)
    assert after - before >= int(rps * 1.0)
    requests.post(server.url + "/_emulator/faults", json={"fail_rate": 1.0}, timeout=5)
    rps, _, errors = loadgen.run(f"{server.url}/v1/namespaces", 0.5, 2)
    assert rps == 0 and errors > 0  # non-2xx answers are errors, not throughput


def test_refused_connections_are_errors() -> None:
    from tests.fixtures.net import free_port

    rps, _, errors = loadgen.run(f"http://127.0.0.1:{free_port()}/", 0.3, 1)
    assert rps == 0 and errors > 0
