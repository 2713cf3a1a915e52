"""The proxy's header logic against a stubbed upstream (``responses``): respond-async and gzip.

The upstream here answers what the real service answers and the emulator does not
(yet): ``202`` with ``Preference-Applied``/``Location``, gzip bodies, an encoding
nobody asked for. End-to-end versions over real HTTP are in
``tests/integration/test_relay_e2e.py``.
"""

from __future__ import annotations

import email.utils
import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import responses
from flask.testing import FlaskClient

from backend.app import create_app
from tests.fixtures.backend import make_settings

BASE = "http://tpuf.test"
OP = "/v1/namespaces/ns/operations/op-7"
BIG = {"rows": [{"id": i, "text": f"row {i} " * 8} for i in range(60)]}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    app = create_app(make_settings(BASE, tmp_path, upstream_retries=0))
    with app.test_client() as c:
        yield c


@responses.activate
def test_respond_async_passes_status_and_headers_with_location_on_layer(
    client: FlaskClient,
) -> None:
    responses.post(
        f"{BASE}/v2/namespaces/ns",
        status=202,
        headers={"Preference-Applied": "respond-async", "Location": BASE + OP},
        json={"status": "accepted"},
    )
    r = client.post(
        "/v2/namespaces/ns",
        json={"copy_from_namespace": "src"},
        headers={"Prefer": "respond-async"},
    )
    assert r.status_code == 202
    assert r.headers["Preference-Applied"] == "respond-async"
    assert r.headers["Location"] == OP
    assert r.get_json() == {"status": "accepted"}
    sent = responses.calls[0].request
    assert sent.headers["Prefer"] == "respond-async"  # the preference reaches the upstream


@responses.activate
def test_respond_async_on_passthrough_and_the_operations_route(client: FlaskClient) -> None:
    responses.delete(
        f"{BASE}/v2/namespaces/ns",
        status=202,
        headers={"Preference-Applied": "respond-async", "Location": OP},
    )
    responses.get(BASE + OP, json={"status": "running"})
    r = client.delete("/v2/namespaces/ns", headers={"Prefer": "respond-async"})
    assert r.status_code == 202 and r.headers["Location"] == OP
    poll = client.get(OP)
    assert poll.status_code == 200 and poll.get_json() == {"status": "running"}
    assert responses.calls[1].request.url == BASE + OP


@responses.activate
def test_no_location_or_preference_when_the_upstream_sends_none(client: FlaskClient) -> None:
    responses.post(f"{BASE}/v2/namespaces/ns", json={"status": "OK"})
    r = client.post("/v2/namespaces/ns", json={"upsert_rows": [{"id": 1}]})
    assert r.status_code == 200
    assert "Location" not in r.headers and "Preference-Applied" not in r.headers


@responses.activate
def test_gzip_from_the_upstream_is_relayed_as_it_came(client: FlaskClient) -> None:
    packed = gzip.compress(orjson.dumps(BIG))
    responses.post(
        f"{BASE}/v2/namespaces/ns/query",
        body=packed,
        headers={"Content-Encoding": "gzip"},
        content_type="application/json",
    )
    r = client.post(
        "/v2/namespaces/ns/query",
        json={"rank_by": ["id", "asc"], "limit": 60},
        headers={"Accept-Encoding": "gzip"},
    )
    assert responses.calls[0].request.headers["Accept-Encoding"] == "gzip"
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in r.headers["Vary"]
    assert r.get_data() == packed  # the upstream's bytes: not inflated, not gzipped again
    assert orjson.loads(gzip.decompress(r.get_data())) == BIG


@responses.activate
def test_identity_upstream_body_is_gzipped_for_a_gzip_client(client: FlaskClient) -> None:
    responses.get(f"{BASE}/v1/namespaces/ns/schema", json=BIG)
    r = client.get("/v1/namespaces/ns/schema", headers={"Accept-Encoding": "gzip, br"})
    assert r.headers["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(r.get_data())) == BIG


@responses.activate
def test_a_client_without_gzip_never_gets_gzip(client: FlaskClient) -> None:
    # The upstream gzips although Layer asked for identity: Layer inflates it.
    responses.get(
        f"{BASE}/v1/namespaces/ns/schema",
        body=gzip.compress(orjson.dumps(BIG)),
        headers={"Content-Encoding": "gzip"},
        content_type="application/json",
    )
    for headers in ({}, {"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip;q=0"}):
        r = client.get("/v1/namespaces/ns/schema", headers=headers)
        sent = responses.calls[-1].request
        assert sent.headers["Accept-Encoding"] == "identity", headers
        assert "Content-Encoding" not in r.headers, headers
        assert r.get_json() == BIG, headers


@responses.activate
def test_an_encoding_nobody_asked_for_is_a_502(client: FlaskClient) -> None:
    responses.get(
        f"{BASE}/v1/namespaces/ns/schema",
        body=b"\x8b\x00garbage",
        headers={"Content-Encoding": "br"},
        content_type="application/json",
    )
    r = client.get("/v1/namespaces/ns/schema", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 502
    assert r.get_json()["error"]["code"] == "upstream_error"
    assert "'br'" in r.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("/v2/namespaces/ns/query", {"json": {"rank_by": ["id", "asc"]}}),
        ("/v2/namespaces/ns", {"json": {"upsert_rows": [{"id": 1}]}}),
    ],
)
@responses.activate
def test_small_bodies_stay_plain(client: FlaskClient, path: str, kwargs: dict[str, Any]) -> None:
    responses.post(BASE + path, json={"rows": [{"id": 1}], "status": "OK"})
    r = client.post(path, headers={"Accept-Encoding": "gzip"}, **kwargs)
    assert r.status_code == 200 and "Content-Encoding" not in r.headers
    assert r.get_json()["rows"] == [{"id": 1}]


# --- upstream errors on Layer's own routes: the wait the upstream asked for goes back ----


@responses.activate
def test_retry_after_ms_and_http_date_are_relayed_on_layer_routes(client: FlaskClient) -> None:
    meta = f"{BASE}/v2/namespaces/ns/metadata"
    responses.get(meta, status=429, headers={"retry-after-ms": "1500"}, json={"error": "slow"})
    r = client.get("/v2/namespaces/ns/metadata")
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "rate_limited"
    assert r.headers["retry-after-ms"] == "1500" and r.headers["Retry-After"] == "2"
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    responses.replace(responses.GET, meta, status=409, headers={"Retry-After": when}, json={})
    r = client.get("/v2/namespaces/ns/metadata")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "upstream_conflict"
    assert 28 <= int(r.headers["Retry-After"]) <= 31
    responses.replace(responses.GET, meta, status=503, json={"error": "down"})
    r = client.get("/v2/namespaces/ns/metadata")
    assert r.status_code == 502 and "Retry-After" not in r.headers


@responses.activate
def test_upstream_error_text_never_carries_the_upstream_key(tmp_path: Path) -> None:
    app = create_app(
        make_settings(BASE, tmp_path, upstream_retries=0, turbopuffer_api_key="tpuf_secret_key")
    )
    responses.get(
        f"{BASE}/v2/namespaces/ns/metadata",
        status=403,
        json={"status": "error", "error": "key tpuf_secret_key may not read ns"},
    )
    r = app.test_client().get("/v2/namespaces/ns/metadata")
    assert r.status_code == 502 and r.get_json()["error"]["code"] == "upstream_auth"
    assert "tpuf_secret_key" not in r.get_data(as_text=True)
    assert "[upstream key] may not read ns" in r.get_json()["error"]["message"]
