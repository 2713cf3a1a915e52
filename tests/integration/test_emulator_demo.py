"""Demo data: determinism, the firehose, bulk namespaces, the CLI wiring."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import requests

from emulator import cli
from emulator.server import EmulatorServer
from tests.fixtures.net import wait_for


def _page(server: EmulatorServer, ns: str, limit: int = 10_000) -> list[dict[str, Any]]:
    body = {"rank_by": ["id", "asc"], "limit": limit, "include_attributes": True}
    r = requests.post(f"{server.url}/v2/namespaces/{ns}/query", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def _names(server: EmulatorServer) -> list[str]:
    return [
        n["id"]
        for n in requests.get(
            server.url + "/v1/namespaces", params={"page_size": 1000}, timeout=5
        ).json()["namespaces"]
    ]


def test_demo_namespaces(demo_emulator: EmulatorServer) -> None:
    names = _names(demo_emulator)
    assert "products" in names and "prod-firehose" in names
    others = [n for n in names if n.startswith(("prod-", "staging-", "dev-"))]
    assert len(others) >= 30
    meta = requests.get(demo_emulator.url + "/v2/namespaces/products/metadata", timeout=5).json()
    assert meta["approx_row_count"] == 12_500
    assert meta["schema"]["_layer_written_ms"]["type"] in ("int", "uint")
    assert meta["schema"]["tags"]["type"] == "[]string"
    assert meta["index"] == {"status": "up-to-date"}
    sizes = {
        n: requests.get(f"{demo_emulator.url}/v2/namespaces/{n}/metadata", timeout=5).json()[
            "approx_row_count"
        ]
        for n in others
    }
    assert min(sizes.values()) == 0 and max(sizes.values()) >= 2000
    rows = _page(demo_emulator, "products", 500)
    assert len({r["category"] for r in rows}) == 12
    assert all(isinstance(r["tags"], list) and isinstance(r["price"], float) for r in rows)


def test_firehose_keeps_writing(demo_emulator: EmulatorServer) -> None:
    url = demo_emulator.url + "/v2/namespaces/prod-firehose/metadata"
    first = requests.get(url, timeout=5).json()
    wait_for(
        lambda: requests.get(url, timeout=5).json()["last_write_at"] > first["last_write_at"],
        timeout=5,
        what="a firehose write",
    )
    later = requests.get(url, timeout=5).json()
    assert later["approx_row_count"] > 200


def test_same_seed_same_data(emulator_factory: Callable[..., EmulatorServer]) -> None:
    a = emulator_factory(demo=True, seed=7)
    b = emulator_factory(demo=True, seed=7)
    c = emulator_factory(demo=True, seed=8)
    assert _names(a) == _names(b)
    for ns in ("products", "prod-orders", "dev-carol"):
        assert _page(a, ns) == _page(b, ns)
    assert _page(a, "products") != _page(c, "products")


def test_bulk_namespace(emulator_factory: Callable[..., EmulatorServer]) -> None:
    t = time.monotonic()
    server = emulator_factory(bulk={"bulk-a": 20_000})
    assert time.monotonic() - t < 5
    meta = requests.get(server.url + "/v2/namespaces/bulk-a/metadata", timeout=5).json()
    assert meta["approx_row_count"] == 20_000 and meta["approx_logical_bytes"] > 0
    assert meta["schema"]["sku"]["type"] == "string"
    rows = _page(server, "bulk-a")
    skus = {r["sku"] for r in rows}
    assert 3_000 < len(skus) <= 5_000
    assert isinstance(rows[0]["tags"], list)


def test_cli_arguments() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.index_lag_ms, args.seed, args.demo) == (
        "127.0.0.1",
        8701,
        2000,
        0,
        False,
    )
    args = parser.parse_args(
        ["--bulk", "big=1000000", "--bulk", "b2=5", "--fail-rate", "0.1", "--api-key", "k"]
    )
    assert dict(args.bulk) == {"big": 1_000_000, "b2": 5}
    assert args.fail_rate == 0.1 and args.api_key == "k"


def test_many_small_namespaces(emulator_factory) -> None:
    import requests as rq

    emu = emulator_factory(many={"m-": 12})
    body = rq.get(
        f"{emu.url}/v1/namespaces", params={"prefix": "m-", "page_size": 1000}, timeout=5
    ).json()
    assert [n["id"] for n in body["namespaces"]] == [f"m-{i:05d}" for i in range(12)]
    rows = rq.get(f"{emu.url}/v2/namespaces/m-00003/metadata", timeout=5).json()["approx_row_count"]
    assert rows == 4
