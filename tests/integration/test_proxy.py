"""The query path's cut decision, stamped writes and the verbatim proxy."""

from __future__ import annotations

import requests

from tests.integration.helpers import tick, wait_index, write_docs


def _query(url: str, ns: str, body: dict) -> requests.Response:
    return requests.post(f"{url}/v2/namespaces/{ns}/query", json=body, timeout=10)


def _stable_as_of(layer, ns: str) -> int:
    meta = requests.get(f"{layer.url}/v2/namespaces/{ns}/metadata", timeout=5).json()
    return int(meta["layer"]["stable_as_of"])


def _stable_after_poll(emu, layer, ns: str) -> int:
    """Let the emulator finish indexing, tick once, and read the new ``stable_as_of``."""
    wait_index(emu.url, ns)
    tick(layer)
    return _stable_as_of(layer, ns)


def test_writes_through_layer_are_stamped(emulator, layer) -> None:
    write_docs(layer.url, "ns", [{"id": 1, "color": "red"}])
    rows = _query(
        emulator.url, "ns", {"rank_by": ["id", "asc"], "limit": 10, "include_attributes": True}
    ).json()["rows"]
    assert isinstance(rows[0]["_layer_written_ms"], int)


def test_cut_hides_rows_written_after_the_last_stable_poll(
    emulator_factory, backend_factory
) -> None:
    emu = emulator_factory(index_lag_ms=1500)
    layer = backend_factory(emu.url)
    write_docs(layer.url, "ns", [{"id": 1, "color": "red"}, {"id": 2, "color": "red"}])
    stable_as_of = _stable_after_poll(emu, layer, "ns")

    q = {"rank_by": ["id", "asc"], "limit": 10, "filters": ["color", "Eq", "red"]}
    r = _query(layer.url, "ns", q)
    assert r.headers["X-Layer-Cut"] == "skipped"
    assert [x["id"] for x in r.json()["rows"]] == [1, 2]

    write_docs(layer.url, "ns", [{"id": 3, "color": "red"}])
    tick(layer)  # within the index lag: unstable, watermark frozen
    r = _query(layer.url, "ns", q)
    assert r.status_code == 200
    assert r.headers["X-Layer-Cut"] == str(stable_as_of)
    assert [x["id"] for x in r.json()["rows"]] == [1, 2]
    direct = _query(emu.url, "ns", q).json()["rows"]
    assert [x["id"] for x in direct] == [1, 2, 3]

    unfiltered = _query(layer.url, "ns", {"rank_by": ["id", "asc"], "limit": 10})
    assert unfiltered.headers["X-Layer-Cut"] == "skipped"
    assert len(unfiltered.json()["rows"]) == 3

    wait_index(emu.url, "ns")
    tick(layer)
    r = _query(layer.url, "ns", q)
    assert r.headers["X-Layer-Cut"] == "skipped" and len(r.json()["rows"]) == 3


def test_a_write_through_layer_cuts_before_the_next_poll(emulator_factory, backend_factory) -> None:
    """Between a write and the poll that follows it, the last poll's ``is_stable`` is stale:
    the namespace's dirty mark makes the query cut at the old watermark all the same."""
    emu = emulator_factory(index_lag_ms=0)
    layer = backend_factory(emu.url)
    write_docs(layer.url, "ns", [{"id": 1, "color": "red"}])
    stable_as_of = _stable_after_poll(emu, layer, "ns")
    q = {"rank_by": ["id", "asc"], "limit": 10, "filters": ["color", "Eq", "red"]}
    assert _query(layer.url, "ns", q).headers["X-Layer-Cut"] == "skipped"

    write_docs(layer.url, "ns", [{"id": 2, "color": "red"}])  # no tick: record says stable
    r = _query(layer.url, "ns", q)
    assert r.headers["X-Layer-Cut"] == str(stable_as_of)
    assert [x["id"] for x in r.json()["rows"]] == [1]
    tick(layer)  # the emulator indexed at once: this poll sees it stable, clears the mark
    r = _query(layer.url, "ns", q)
    assert r.headers["X-Layer-Cut"] == "skipped" and [x["id"] for x in r.json()["rows"]] == [1, 2]


def test_no_cut_without_the_watermark_attribute(emulator_factory, backend_factory) -> None:
    emu = emulator_factory(index_lag_ms=1500)
    layer = backend_factory(emu.url)
    write_docs(emu.url, "plain", [{"id": 1, "color": "red"}])
    wait_index(emu.url, "plain")
    tick(layer)
    write_docs(emu.url, "plain", [{"id": 2, "color": "red"}])
    tick(layer)
    r = _query(
        layer.url,
        "plain",
        {"rank_by": ["id", "asc"], "limit": 10, "filters": ["color", "Eq", "red"]},
    )
    assert r.headers["X-Layer-Cut"] == "skipped" and len(r.json()["rows"]) == 2


def test_query_errors_pass_through(emulator, layer) -> None:
    write_docs(emulator.url, "ns", [{"id": 1}])
    r = _query(layer.url, "ns", {"rank_by": ["id", "asc"], "consistency": "strong"})
    direct = _query(emulator.url, "ns", {"rank_by": ["id", "asc"], "consistency": "strong"})
    assert r.status_code == direct.status_code == 422
    assert r.json() == direct.json()
    assert _query(layer.url, "missing", {"rank_by": ["id", "asc"]}).status_code == 404


def test_query_bad_json_is_400(layer) -> None:
    r = requests.post(
        f"{layer.url}/v2/namespaces/ns/query",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "body"
    r = requests.post(f"{layer.url}/v2/namespaces/ns/query", json=[1, 2], timeout=5)
    assert r.status_code == 400
    r = requests.post(f"{layer.url}/v2/namespaces/ns", data=b"", timeout=5)
    assert r.status_code == 400 and r.json()["error"]["param"] == "body"


def test_verbatim_passthrough(emulator, layer) -> None:
    write_docs(emulator.url, "ns", [{"id": 1, "color": "red"}])
    for path in [
        "/v1/namespaces/ns/schema",
        "/v1/namespaces/ns/metadata",
        "/v1/namespaces?page_size=5",
        "/v1/namespaces/ns/hint_cache_warm",
    ]:
        via = requests.get(layer.url + path, timeout=5)
        direct = requests.get(emulator.url + path, timeout=5)
        assert via.status_code == direct.status_code == 200, path
        assert via.json() == direct.json(), path
    missing = requests.get(f"{layer.url}/v1/namespaces/zzz/schema", timeout=5)
    assert missing.status_code == 404 and missing.json()["status"] == "error"
    r = requests.delete(f"{layer.url}/v2/namespaces/ns", timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "OK"}
    assert requests.get(f"{emulator.url}/v2/namespaces/ns/metadata", timeout=5).status_code == 404


def test_passthrough_rejects_traversal(layer) -> None:
    for path in ["/v1/namespaces/..%2fetc/schema", "/v2/namespaces/a%00b/metadata2"]:
        r = requests.get(layer.url + path, timeout=5)
        assert r.status_code == 400, path


def test_official_sdk_through_layer(emulator, backend_factory) -> None:
    import turbopuffer

    layer = backend_factory(emulator.url, api_keys=("layer-admin-key",))
    tpuf = turbopuffer.Turbopuffer(api_key="layer-admin-key", base_url=layer.url, telemetry=False)
    ns = tpuf.namespace("sdk-ns")
    ns.write(upsert_rows=[{"id": 1, "color": "red"}, {"id": 2, "color": "blue"}])
    rows = (
        ns.query(
            rank_by=("id", "asc"), top_k=10, filters=("color", "Eq", "red"), include_attributes=True
        ).rows
        or []
    )
    assert [r.id for r in rows] == [1]
    # Layer's stamp is bookkeeping: rows come back as written ...
    assert "_layer_written_ms" not in (rows[0].model_extra or rows[0].__dict__)
    stamped = (
        ns.query(rank_by=("id", "asc"), top_k=1, include_attributes=["_layer_written_ms"]).rows
        or []
    )
    # ... and it is there for whoever asks for it by name.
    assert "_layer_written_ms" in (stamped[0].model_extra or stamped[0].__dict__)
    meta = ns.metadata()
    assert meta.approx_row_count == 2
    ids = [n.id for n in tpuf.namespaces()]
    assert "sdk-ns" in ids


def test_include_all_does_not_return_layers_stamp(emulator, backend_factory) -> None:
    import requests

    layer = backend_factory(emulator.url)
    ns = "stamp-hidden"
    w = requests.post(
        f"{layer.url}/v2/namespaces/{ns}", json={"upsert_rows": [{"id": 1, "a": "x"}]}, timeout=10
    )
    assert w.status_code == 200, w.text
    q = requests.post(
        f"{layer.url}/v2/namespaces/{ns}/query",
        json={"rank_by": ["id", "asc"], "limit": 5, "include_attributes": True},
        timeout=10,
    )
    assert q.status_code == 200, q.text
    assert q.json()["rows"] == [{"id": 1, "a": "x"}]
    named = requests.post(
        f"{layer.url}/v2/namespaces/{ns}/query",
        json={"rank_by": ["id", "asc"], "limit": 5, "include_attributes": ["_layer_written_ms"]},
        timeout=10,
    ).json()
    assert isinstance(named["rows"][0]["_layer_written_ms"], int)  # the stamp is still there
