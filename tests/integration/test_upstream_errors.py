"""Upstream errors on Layer's own routes: one test per row of the README's error map.

Each row injects the upstream status into a real emulator (``POST /_emulator/faults``,
which sends ``Retry-After: 1`` with every injected fault) and checks what each of
Layer's own routes that call the upstream answers: the metadata view, the listing,
snapshot creation and cache warm. Layer's reads are not retried here
(``upstream_retries=0``) so the upstream's answer is the one relayed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from emulator.server import EmulatorServer
from tests.fixtures.net import free_port
from tests.integration.helpers import set_faults, write_docs

ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v2/namespaces/ns/metadata", None),
    ("GET", "/v2/namespaces", None),
    ("POST", "/v2/namespaces/ns/snapshots", {"field": "color"}),
    ("POST", "/v2/namespaces/ns/cache/warm", None),
]


def _call(url: str, method: str, path: str, body: dict[str, Any] | None) -> requests.Response:
    return requests.request(method, url + path, json=body, timeout=10)


@pytest.fixture
def upstream(emulator: EmulatorServer) -> EmulatorServer:
    write_docs(emulator.url, "ns", [{"id": 1, "color": "red"}])
    return emulator


@pytest.mark.parametrize(
    ("injected", "status", "code", "retry_after"),
    [
        (429, 429, "rate_limited", True),
        (409, 409, "upstream_conflict", True),
        (400, 400, "upstream_rejected", True),
        (422, 422, "upstream_rejected", True),
        (401, 502, "upstream_auth", True),
        (403, 502, "upstream_auth", True),
        (500, 502, "upstream_error", True),
        (503, 502, "upstream_error", True),
        (408, 504, "upstream_timeout", True),
    ],
)
def test_error_map_row(
    upstream: EmulatorServer,
    backend_factory: Callable[..., Any],
    injected: int,
    status: int,
    code: str,
    retry_after: bool,
) -> None:
    layer = backend_factory(upstream.url, upstream_retries=0, list_cache_ttl_ms=0)
    set_faults(upstream.url, fail_rate=1.0, fail_statuses=[injected])
    for method, path, body in ROUTES:
        r = _call(layer.url, method, path, body)
        assert r.status_code == status, (path, r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == code and err["upstream_status"] == injected, (path, err)
        assert "injected fault" in err["message"], path  # the upstream's own message
        if retry_after:
            assert r.headers["Retry-After"] == "1", path
            assert r.headers["retry-after-ms"] == "1000", path
        if code == "upstream_auth":
            assert "TURBOPUFFER_API_KEY" in err["message"], path
    set_faults(upstream.url, fail_rate=0.0)
    assert _call(layer.url, *ROUTES[0]).status_code == 200


def test_wrong_upstream_key_is_502_upstream_auth_not_401(
    emulator_factory: Callable[..., EmulatorServer], backend_factory: Callable[..., Any]
) -> None:
    emu = emulator_factory(api_key="tpuf_secret_key", index_lag_ms=10)
    layer = backend_factory(
        emu.url,
        turbopuffer_api_key="tpuf_very_secret_wrong",
        api_keys=("layer-key-0123456789",),
        upstream_retries=0,
    )
    h = {"Authorization": "Bearer layer-key-0123456789"}
    for method, path, body in ROUTES:
        r = requests.request(method, layer.url + path, json=body, headers=h, timeout=10)
        assert r.status_code == 502, (path, r.text)
        err = r.json()["error"]
        assert err["code"] == "upstream_auth" and err["upstream_status"] == 401, path
        assert "tpuf_very_secret" not in r.text, path
        assert "Retry-After" not in r.headers, path  # the emulator asks no wait on a 401
    # The caller's own bad key is still Layer's 401, distinct from the upstream's.
    bad = requests.get(
        f"{layer.url}/v2/namespaces/ns/metadata", headers={"Authorization": "Bearer nope"}
    )
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"


def test_unknown_namespace_is_404(upstream: EmulatorServer, backend_factory: Any) -> None:
    layer = backend_factory(upstream.url, upstream_retries=0)
    for method, path, body in ROUTES:
        if "/ns/" not in path:
            continue
        r = _call(layer.url, method, path.replace("/ns/", "/nope/"), body)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path


def test_timeout_is_504_and_unreachable_is_502(
    upstream: EmulatorServer, backend_factory: Any
) -> None:
    layer = backend_factory(upstream.url, upstream_retries=0, upstream_read_timeout_s=0.3)
    set_faults(upstream.url, hang_ms=1000)
    for method, path, body in ROUTES:
        r = _call(layer.url, method, path, body)
        assert r.status_code == 504, (path, r.text)
        assert r.json()["error"]["code"] == "upstream_timeout", path
        assert "Retry-After" not in r.headers
    set_faults(upstream.url, hang_ms=0)
    gone = backend_factory(f"http://127.0.0.1:{free_port()}", upstream_retries=0)
    for method, path, body in ROUTES:
        r = _call(gone.url, method, path, body)
        assert r.status_code == 502, (path, r.text)
        assert r.json()["error"]["code"] == "upstream_error" and "unreachable" in r.text


def test_retries_give_up_on_a_long_retry_after_and_relay_it(
    upstream: EmulatorServer, backend_factory: Any
) -> None:
    """A wait longer than the retry budget is the client's to take: relayed, not slept."""
    layer = backend_factory(upstream.url, upstream_retries=4, upstream_retry_budget_s=0.5)
    set_faults(upstream.url, fail_rate=1.0, fail_statuses=[429])
    r = _call(layer.url, *ROUTES[0])
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
