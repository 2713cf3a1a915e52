"""respond-async, gzip and copies through Layer over real HTTP, with the official SDK.

The upstream is the emulator where it answers the behaviour, and the scripted stub
(``tests/fixtures/stub_upstream.py``) for what it does not: a ``202`` with
``Preference-Applied: respond-async`` and an absolute ``Location``, and upstream gzip.
"""

from __future__ import annotations

import gzip
import inspect
import json
from typing import Any

import pytest
import requests

from backend.freshness import Freshness
from emulator.server import EmulatorServer
from tests.fixtures.stub_upstream import StubUpstream
from tests.integration.helpers import write_docs

turbopuffer = pytest.importorskip("turbopuffer")


@pytest.fixture
def no_poll_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    from turbopuffer.lib import respond_async

    monkeypatch.setattr(respond_async, "POLL_INTERVAL_SECS", 0)


def test_sdk_write_answered_async_polls_through_layer(
    stub_upstream: StubUpstream, backend_factory: Any, no_poll_delay: None
) -> None:
    stub_upstream.polls_before_done = 2
    layer = backend_factory(stub_upstream.url)
    client = turbopuffer.Turbopuffer(api_key="k", base_url=layer.url, max_retries=0)
    res = client.namespace("ns").write(upsert_rows=[{"id": 1, "a": "x"}, {"id": 2, "a": "y"}])
    assert res.status == "OK" and res.rows_affected == 2

    write, *polls = stub_upstream.seen
    assert write.method == "POST" and write.headers["Prefer"] == "respond-async"
    assert all(isinstance(r["_layer_written_ms"], int) for r in write.body["upsert_rows"])
    # The SDK polled the Location Layer gave it, so every poll went through Layer.
    assert [p.path for p in polls] == ["/v1/namespaces/ns/operations/op-1"] * 3
    assert all(p.method == "GET" and "Prefer" not in p.headers for p in polls)


def test_respond_async_headers_over_http(stub_upstream: StubUpstream, backend_factory: Any) -> None:
    layer = backend_factory(stub_upstream.url)
    r = requests.post(
        f"{layer.url}/v2/namespaces/ns",
        json={"upsert_rows": [{"id": 1}]},
        headers={"Prefer": "respond-async"},
        timeout=10,
    )
    assert r.status_code == 202
    assert r.headers["Preference-Applied"] == "respond-async"
    assert r.headers["Location"] == "/v1/namespaces/ns/operations/op-1"
    poll = requests.get(layer.url + r.headers["Location"], timeout=10)
    assert poll.status_code == 200 and poll.json() == {"status": "running"}
    done = requests.get(layer.url + r.headers["Location"], timeout=10).json()
    assert done == {
        "status": "finished",
        "result": {"success": {"status": "OK", "rows_affected": 1}},
    }
    # Without the preference the same write is answered at once.
    plain = requests.post(
        f"{layer.url}/v2/namespaces/ns", json={"upsert_rows": [{"id": 1}]}, timeout=10
    )
    assert plain.status_code == 200 and "Location" not in plain.headers


def test_a_copy_forgets_the_destinations_cut(
    stub_upstream: StubUpstream, backend_factory: Any, no_poll_delay: None
) -> None:
    layer = backend_factory(stub_upstream.url)
    freshness = layer.app.extensions["layer.freshness"]
    old = Freshness(is_stable=False, stable_as_of=1_000, last_poll_ms=2_000, has_watermark=True)
    freshness.put_many([("dst", old), ("other", old)])
    client = turbopuffer.Turbopuffer(api_key="k", base_url=layer.url, max_retries=0)
    client.namespace("dst").write(copy_from_namespace="src")
    assert stub_upstream.seen[0].body == {"copy_from_namespace": "src"}  # nothing to stamp
    after = freshness.get("dst")
    assert after.stable_as_of is None and after.last_poll_ms == 2_000
    assert freshness.get("other") == old
    client.namespace("br").write(branch_from_namespace="src")  # no record: nothing changes
    assert freshness.get_all().keys() == {"dst", "other"}


def test_upstream_gzip_relayed_byte_for_byte(
    stub_upstream: StubUpstream, backend_factory: Any
) -> None:
    layer = backend_factory(stub_upstream.url)
    url = f"{layer.url}/v1/namespaces/ns/schema"
    r = requests.get(url, headers={"Accept-Encoding": "gzip"}, stream=True, timeout=10)
    raw = r.raw.read(decode_content=False)
    assert r.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in r.headers["Vary"]
    assert stub_upstream.seen[-1].headers["Accept-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(raw)) == stub_upstream.big_schema  # inflated once
    plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert stub_upstream.seen[-1].headers["Accept-Encoding"] == "identity"
    assert "Content-Encoding" not in plain.headers and plain.json() == stub_upstream.big_schema


def test_layer_routes_gzip_large_bodies_only(
    demo_emulator: EmulatorServer, backend_factory: Any
) -> None:
    layer = backend_factory(demo_emulator.url)
    gz = {"Accept-Encoding": "gzip"}
    for path in ("/v2/namespaces?page_size=20", "/v2/openapi.json"):
        r = requests.get(layer.url + path, headers=gz, stream=True, timeout=30)
        raw = r.raw.read(decode_content=False)
        assert r.status_code == 200, path
        assert r.headers["Content-Encoding"] == "gzip", path
        assert "Accept-Encoding" in r.headers["Vary"], path
        assert int(r.headers["Content-Length"]) == len(raw), path
        body = json.loads(gzip.decompress(raw))
        plain = requests.get(layer.url + path, headers={"Accept-Encoding": "identity"}, timeout=30)
        assert "Content-Encoding" not in plain.headers, path
        assert len(plain.content) > 1024 and len(raw) < len(plain.content), path
        if path == "/v2/openapi.json":
            assert plain.json() == body
    # Under ~1 KB stays plain: metadata (about 650 bytes), health, a 400.
    for path, status in (
        ("/v2/namespaces/products/metadata", 200),
        ("/healthz", 200),
        ("/v2/namespaces?page_size=abc", 400),
    ):
        r = requests.get(layer.url + path, headers=gz, timeout=10)
        assert r.status_code == status and "Content-Encoding" not in r.headers, path
        assert len(r.content) < 1024, path
    assert r.json()["error"]["param"] == "page_size"


def test_sdk_with_compression_through_layer(emulator: EmulatorServer, backend_factory: Any) -> None:
    rows = [{"id": i, "title": f"document number {i} " * 6, "n": i} for i in range(1, 101)]
    write_docs(emulator.url, "gz", rows)
    layer = backend_factory(emulator.url)
    client = turbopuffer.Turbopuffer(
        api_key="k", base_url=layer.url, max_retries=0, compression=True
    )
    ns = client.namespace("gz")
    big = ns.with_raw_response.query(rank_by=("id", "asc"), limit=100, include_attributes=True)
    assert big.headers["Content-Encoding"] == "gzip"
    parsed = big.parse()
    assert [row.id for row in parsed.rows or []] == list(range(1, 101))
    assert (parsed.rows or [])[4]["title"] == rows[4]["title"]
    small = ns.with_raw_response.query(rank_by=("id", "asc"), limit=1)
    assert "Content-Encoding" not in small.headers
    assert [row.id for row in small.parse().rows or []] == [1]
    assert [n.id for n in client.namespaces(prefix="gz")] == ["gz"]
    # A write over 1 KB goes gzipped (the SDK's compression=True) and lands stamped.
    more = [{"id": i, "title": f"more text {i} " * 6, "n": i} for i in range(101, 131)]
    assert ns.write(upsert_rows=more).rows_affected == 30
    got = (
        ns.query(rank_by=("id", "desc"), limit=1, include_attributes=["_layer_written_ms"]).rows
        or []
    )
    assert got[0].id == 130 and isinstance(got[0]["_layer_written_ms"], int)


def _emulator_has_respond_async() -> bool:
    return "respond_async" in inspect.signature(EmulatorServer.__init__).parameters


@pytest.mark.skipif(
    not _emulator_has_respond_async(),
    reason="the emulator has no respond_async option yet (it comes with the emulator-fidelity work)",
)
def test_sdk_write_answered_async_by_the_emulator(
    emulator_factory: Any, backend_factory: Any, no_poll_delay: None
) -> None:
    emu = emulator_factory(index_lag_ms=10, respond_async=True, respond_async_delay_ms=300)
    layer = backend_factory(emu.url)
    r = requests.post(
        f"{layer.url}/v2/namespaces/ra",
        json={"upsert_rows": [{"id": 1, "c": "x"}]},
        headers={"Prefer": "respond-async"},
        timeout=10,
    )
    assert r.status_code == 202, r.text
    assert r.headers["Preference-Applied"] == "respond-async"
    location = r.headers["Location"]
    assert location.startswith("/v1/namespaces/ra/operations/")
    assert requests.get(layer.url + location, timeout=10).status_code == 200
    client = turbopuffer.Turbopuffer(api_key="k", base_url=layer.url, max_retries=0)
    ns = client.namespace("ra")
    res = ns.write(upsert_rows=[{"id": 2, "c": "y"}, {"id": 3, "c": "z"}])
    assert res.status == "OK" and res.rows_affected == 2
    rows = ns.query(rank_by=("id", "asc"), limit=10, include_attributes=["c"]).rows or []
    assert [(row.id, row["c"]) for row in rows] == [(1, "x"), (2, "y"), (3, "z")]
