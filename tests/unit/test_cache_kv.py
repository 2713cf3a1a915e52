"""The KV store's document-cache operations, against every backend.

``sqlite`` always runs; ``aerospike`` when ``LAYER_TEST_AEROSPIKE=host:port`` names a
server (otherwise skipped with that reason), where ``scan_docs`` also pushes the
filter down: what comes back must still include every matching document.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from backend.stores.kv_base import KVStore
from backend.stores.registry import open_kv
from common.filters import evaluate
from tests.fixtures.kv import AEROSPIKE, NO_AEROSPIKE, open_test_kv


@pytest.fixture
def ns() -> str:
    return f"n{uuid.uuid4().hex[:10]}"


def _doc(i: int) -> dict[str, object]:
    return {
        "id": i,
        "color": ["red", "blue", None][i % 3],
        "n": i,
        "x": i / 2,
        "tags": [f"t{i % 4}"],
        "flag": i % 2 == 0,
        "big": 2**63 + i,
        "a_long_attribute_name": "v",
    }


def test_generations_are_separate(kv: KVStore, ns: str) -> None:
    assert kv.put_docs(ns, 1, ((str(i), _doc(i)) for i in range(50))) == 50
    assert kv.put_docs(ns, 2, ((str(i), _doc(i)) for i in range(10))) == 10
    kv.put_docs(ns + "x", 1, [("1", _doc(1))])
    assert sorted(d["id"] for d in kv.scan_docs(ns, 1)) == list(range(50))
    assert sorted(d["id"] for d in kv.scan_docs(ns, 2)) == list(range(10))
    assert next(iter(kv.scan_docs(ns, 2))) in [_doc(i) for i in range(10)]  # round-trips
    assert list(kv.scan_docs(ns, 3)) == []
    assert kv.drop_docs(ns, 1) == 50
    assert list(kv.scan_docs(ns, 1)) == []
    assert len(list(kv.scan_docs(ns, 2))) == 10
    assert len(list(kv.scan_docs(ns + "x", 1))) == 1
    # A namespace that is a prefix of another's generation key does not leak into it.
    kv.put_docs("p", 1, [("1", {"id": 1})])
    kv.put_docs("p", 10, [("2", {"id": 2})])
    assert [d["id"] for d in kv.scan_docs("p", 1)] == [1]


@pytest.mark.parametrize(
    "f",
    [
        ["color", "Eq", "red"],
        ["color", "Eq", None],
        ["Not", ["color", "In", ["red", "blue"]]],
        ["n", "Lt", 7],
        ["x", "Gte", 20],
        ["And", [["n", "Gt", 3], ["tags", "Contains", "t1"]]],
        ["Or", [["flag", "Eq", True], ["a_long_attribute_name", "Eq", "w"]]],
        ["big", "Gt", 2**63 + 40],
        ["id", "In", [3, 4, 5.0]],
        ["color", "In", []],
    ],
)
def test_scan_where_keeps_every_match(kv: KVStore, ns: str, f: list[object]) -> None:
    kv.put_docs(ns, 1, ((str(i), _doc(i)) for i in range(60)))
    want = sorted(i for i in range(60) if evaluate(f, _doc(i)))
    got = sorted(d["id"] for d in kv.scan_docs(ns, 1, where=f) if evaluate(f, d))
    assert got == want


def test_sqlite_scan_docs_is_fast(tmp_path: Path) -> None:
    kv = open_kv(f"sqlite://{tmp_path}/bulk.db")
    kv.put_docs(
        "bulk", 1, ((str(i), {"id": i, "c": f"c{i % 12}", "t": ["a", "b"]}) for i in range(100_000))
    )
    started = time.monotonic()
    assert sum(1 for _ in kv.scan_docs("bulk", 1)) == 100_000
    assert time.monotonic() - started < 3  # well above 100k documents per second


@pytest.mark.skipif(not AEROSPIKE, reason=NO_AEROSPIKE)
def test_aerospike_put_docs_writes_again_what_a_batch_did_not_take(tmp_path: Path, ns: str) -> None:
    """A real server, the first batch answering 150 of its records ``NoResponse`` (-15)
    as a loaded server did in the 1,000,000-document warm: those are written again."""
    kv = open_test_kv("aerospike", tmp_path)
    real = kv._submit_writes  # type: ignore[attr-defined]
    calls: list[int] = []

    def loaded(records: list[Any]) -> list[int]:
        calls.append(len(records))
        if len(calls) > 1:
            return list(real(records))
        refused = set(range(0, len(records), len(records) // 150)[:150])
        taken = iter(real([r for i, r in enumerate(records) if i not in refused]))
        return [-15 if i in refused else next(taken) for i in range(len(records))]

    kv._submit_writes = loaded  # type: ignore[attr-defined]
    try:
        assert kv.put_docs(ns, 1, ((str(i), _doc(i)) for i in range(3000))) == 3000
        assert calls == [3000, 150]
        assert sorted(d["id"] for d in kv.scan_docs(ns, 1)) == list(range(3000))
    finally:
        kv.drop_docs(ns, 1)
        kv.close()
