"""The emulator's fidelity switches (respond-async writes, small namespaces) and gzip.

In small-namespace mode the emulator reports what the real service reports for data too
small to index: ``up-to-date`` with ``approx_row_count``/``approx_logical_bytes`` 0.
Layer's listing and the dashboard must show exactly that (0 rows, 0 bytes), neither a
count Layer made up nor a blank, and the watcher may call the namespace stable.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from typing import Any

import orjson
import pytest
import requests
import turbopuffer

from common.api_client import LayerClient
from emulator.cli import add_arguments
from emulator.server import EmulatorServer
from tests.integration.helpers import set_faults, tick
from tests.unit.tui.helpers import wait_until
from tui.app import LayerDashboard
from tui.screens.inventory import InventoryScreen


def test_respond_async_writes_are_202_and_polled(emulator_factory: Any) -> None:
    server = emulator_factory(respond_async=True, respond_async_delay_ms=300)
    url = f"{server.url}/v2/namespaces/ra"
    prefer = {"Prefer": "respond-async"}
    r = requests.post(url, json={"upsert_rows": [{"id": 1, "a": 1}]}, headers=prefer, timeout=5)
    assert r.status_code == 202
    assert r.headers["Preference-Applied"] == "respond-async"
    location = r.headers["Location"]
    assert location.startswith("/v1/namespaces/ra/operations/")
    first = requests.get(server.url + location, timeout=5).json()
    assert first["status"] == "running"
    time.sleep(0.35)
    done = requests.get(server.url + location, timeout=5).json()
    assert done["status"] == "finished" and done["result"]["success"]["rows_upserted"] == 1
    # the write was applied when accepted
    q = requests.post(f"{url}/query", json={"rank_by": ["id", "asc"]}, timeout=5).json()
    assert q["rows"] == [{"id": 1}]
    # a failing write finishes with its error; without Prefer the answer is synchronous
    r = requests.post(url, json={"upsert_rows": [{"id": 1}, {"id": 1}]}, headers=prefer, timeout=5)
    time.sleep(0.35)
    failed = requests.get(server.url + r.headers["Location"], timeout=5).json()
    assert failed["result"]["error"]["status_code"] == 400
    assert "duplicate" in failed["result"]["error"]["detail"]["error"]
    r = requests.post(url, json={"upsert_rows": [{"id": 2}]}, timeout=5)
    assert r.status_code == 200 and "Location" not in r.headers
    # queries are never made asynchronous
    r = requests.post(f"{url}/query", json={"rank_by": ["id", "asc"]}, headers=prefer, timeout=5)
    assert r.status_code == 200


def test_sdk_follows_respond_async_operations(emulator_factory: Any) -> None:
    server = emulator_factory(respond_async=True, respond_async_delay_ms=50)
    client = turbopuffer.Turbopuffer(api_key="k", base_url=server.url, max_retries=0)
    ns = client.namespace("sdk-async")
    out = ns.write(upsert_rows=[{"id": 1, "a": "x"}], return_affected_ids=True)
    assert out.status == "OK" and out.upserted_ids == [1]
    with pytest.raises(turbopuffer.BadRequestError, match="duplicate"):
        ns.write(upsert_rows=[{"id": 1}, {"id": 1}])
    assert [r.id for r in ns.query(rank_by=("id", "asc")).rows or []] == [1]


def test_small_namespaces_report_up_to_date_and_zero(emulator_factory: Any) -> None:
    server = emulator_factory(index_lag_ms=60_000, small_ns_bytes=10_000)
    requests.post(f"{server.url}/v2/namespaces/tiny", json={"upsert_rows": [{"id": 1}]}, timeout=5)
    meta = requests.get(f"{server.url}/v2/namespaces/tiny/metadata", timeout=5).json()
    assert meta["index"] == {"status": "up-to-date"}
    assert meta["approx_row_count"] == 0 and meta["approx_logical_bytes"] == 0
    q = requests.post(
        f"{server.url}/v2/namespaces/tiny/query", json={"rank_by": ["id", "asc"]}, timeout=5
    ).json()
    assert q["rows"] == [{"id": 1}] and q["performance"]["exhaustive_search_count"] == 1
    big = [{"id": i, "text": "x" * 100} for i in range(200)]
    requests.post(f"{server.url}/v2/namespaces/big", json={"upsert_rows": big}, timeout=5)
    meta = requests.get(f"{server.url}/v2/namespaces/big/metadata", timeout=5).json()
    assert meta["index"]["status"] == "updating" and meta["approx_row_count"] == 200
    set_faults(server.url, small_ns_bytes=0)
    meta = requests.get(f"{server.url}/v2/namespaces/tiny/metadata", timeout=5).json()
    assert meta["approx_row_count"] == 1 and meta["index"]["status"] == "updating"


def test_option_bad_inputs(emulator: EmulatorServer) -> None:
    faults = f"{emulator.url}/_emulator/faults"
    for bad in (
        {"respond_async": "yes"},
        {"respond_async_delay_ms": -1},
        {"small_ns_bytes": "big"},
        {"no_such_option": 1},
    ):
        r = requests.post(faults, json=bad, timeout=5)
        assert r.status_code == 400, bad
    r = requests.post(faults, json={"respond_async": True, "small_ns_bytes": 5}, timeout=5)
    assert r.json()["respond_async"] is True and r.json()["small_ns_bytes"] == 5
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--respond-async", "--small-ns-bytes", "100"])
    assert args.respond_async is True and args.small_ns_bytes == 100
    with pytest.raises(SystemExit):
        parser.parse_args(["--small-ns-bytes", "-1"])


def test_gzip_requests_and_responses(emulator: EmulatorServer) -> None:
    rows = [{"id": i, "text": "hello world " * 20} for i in range(20)]
    body = gzip.compress(orjson.dumps({"upsert_rows": rows}))
    r = requests.post(
        f"{emulator.url}/v2/namespaces/gz",
        data=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    q = {"rank_by": ["id", "asc"], "include_attributes": True, "limit": 20}
    big = requests.post(
        f"{emulator.url}/v2/namespaces/gz/query",
        json=q,
        headers={"Accept-Encoding": "gzip"},
        timeout=5,
        stream=True,
    )
    assert big.headers["Content-Encoding"] == "gzip"
    assert len(orjson.loads(gzip.decompress(big.raw.read()))["rows"]) == 20
    small = requests.post(
        f"{emulator.url}/v2/namespaces/gz/query",
        json={"rank_by": ["id", "asc"], "limit": 1},
        headers={"Accept-Encoding": "gzip"},
        timeout=5,
    )
    assert "Content-Encoding" not in small.headers
    plain = requests.post(
        f"{emulator.url}/v2/namespaces/gz/query",
        json=q,
        headers={"Accept-Encoding": "identity"},
        timeout=5,
    )
    assert "Content-Encoding" not in plain.headers
    bad = requests.post(
        f"{emulator.url}/v2/namespaces/gz",
        data=b"not gzip",
        headers={"Content-Encoding": "gzip"},
        timeout=5,
    )
    assert bad.status_code == 400


def test_layer_listing_and_dashboard_stay_truthful_for_small_namespaces(
    emulator_factory: Any, backend_factory: Any
) -> None:
    server = emulator_factory(index_lag_ms=60_000, small_ns_bytes=10_000)
    for ns, n in (("tiny", 3), ("empty-ish", 1)):
        r = requests.post(
            f"{server.url}/v2/namespaces/{ns}",
            json={"upsert_rows": [{"id": i, "c": "x"} for i in range(n)]},
            timeout=5,
        )
        assert r.status_code == 200
    layer = backend_factory(server.url)
    tick(layer)
    listing = requests.get(f"{layer.url}/v2/namespaces", timeout=10).json()
    rows = {row["name"]: row for row in listing["namespaces"]}
    for name in ("tiny", "empty-ish"):
        # what the metadata says: 0 and 0, not a count of Layer's own and not None
        assert rows[name]["row_count"] == 0 and rows[name]["size_bytes"] == 0
        assert rows[name]["is_stable"] is True and "metadata_error" not in rows[name]
    meta = requests.get(f"{layer.url}/v2/namespaces/tiny/metadata", timeout=10).json()
    assert meta["approx_row_count"] == 0 and meta["index"]["status"] == "up-to-date"

    async def drive() -> None:
        app = LayerDashboard(LayerClient(layer.url, timeout_s=2.0), refresh_s=30.0, url=layer.url)
        async with app.run_test(size=(120, 40)) as pilot:
            inventory = app.screen
            assert isinstance(inventory, InventoryScreen)
            await wait_until(
                pilot, lambda: {"tiny", "empty-ish"} <= set(inventory.rows), timeout=10
            )
            for name in ("tiny", "empty-ish"):
                assert str(inventory.table.get_cell(name, "rows")).strip() == "0"
                assert inventory.rows[name]["row_count"] == 0

    asyncio.run(drive())
