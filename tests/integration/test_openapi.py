"""``GET /v2/openapi.json``: complete (every Layer route in the url_map), a valid
OpenAPI 3.1 document, and its schemas accept the real responses shown in the README.

Bad input per route is driven from this document by ``test_schemathesis.py``; path
traversal, oversized bodies and deep filters have hand-written cases in
``test_reliability.py``.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from flask import Flask
from schemathesis.core.result import Ok

from backend.openapi import SCHEMAS, UndeclaredRoute, build_document, openapi_path

SHA_A = "b4daa9cec38dc15f2aa1c782f327e8db43947ea6f3d97a14ae0e7ea4c489a174"
SHA_B = "333514adb9857f0969010591bf647664f22bd9aea5b9cc20d5ce01647b4018fb"
JOB = {
    "id": "65e3f416-2896-4088-ba7a-06f51afa3906",
    "namespace": "products",
    "kind": "snapshot",
    "field": "brand",
    "source": "auto",
    "resolved_source": "origin",
    "filters": ["category", "Eq", "books"],
    "page_size": 1000,
    "status": "completed",
    "progress": 1,
    "documents_scanned": 1063,
    "created_at": "2026-11-23T12:05:33.375Z",
    "finished_at": "2026-11-23T12:05:33.386Z",
    "result": {"name": "brand", "values": [{"v": "AtlasLabs", "n": 16}]},
    "watermark_ms": 1795435531857,
    "stable_as_of": 1795435531857,
}
CACHE_STATE = {"state": "cold", "warm_inflight": False}
# Real responses from `layer demo --headless` (README "Routes"), lists shortened.
README_EXAMPLES: list[tuple[str, Any]] = [
    (
        "NamespacePage",
        {
            "namespaces": [
                {
                    "name": "prod-catalog",
                    "row_count": 1800,
                    "size_bytes": 98019,
                    "stable_as_of_ms": 1795435531841,
                    "is_stable": True,
                    "cache_state": CACHE_STATE,
                    "last_write_ms": 1766795400767,
                    "shadow": False,
                    "labels": {"env": "prod"},
                    "observed_ms": 1795435531841,
                    "index_stuck_since_ms": None,
                }
            ],
            "next_cursor": "cHJvZC1ldmVudHM",
        },
    ),
    (
        "Summary",
        {
            "namespaces": 1000000,
            "rows": 2000000,
            "bytes": 6000000000,
            "unstable": 212,
            "stuck": 1,
            "errored": 0,
            "dirty": 180,
            "sweep": {"max_ms": 3600000, "cycle_ms": 10000000, "stretch": 2.78},
            "upstream": {"calls_per_s": 99.2, "max_rps": 100.0, "backoff_until_ms": None},
            "shards": [{"shard": 0, "holder": "host-a:4242:1a2b3c4d", "expires_ms": 1795435546841}],
            "polls_per_s": 98.7,
            "watchers": 1,
            "as_of_ms": 1795435531841,
        },
    ),
    (
        "Metadata",
        {
            "schema": {"id": {"type": "uint"}},
            "approx_row_count": 12500,
            "approx_logical_bytes": 849372,
            "last_write_at": "2026-11-23T12:05:21.765Z",
            "index": {"status": "up-to-date"},
            "layer": {
                "stable_as_of": 1795435531857,
                "is_stable": True,
                "cache_state": CACHE_STATE,
                "observed_ms": 1795435531857,
                "index_stuck_since_ms": None,
            },
        },
    ),
    (
        "Job",
        {
            **{k: v for k, v in JOB.items() if k not in ("result", "watermark_ms", "stable_as_of")},
            "status": "running",
            "progress": 0,
            "finished_at": None,
        },
    ),
    ("Job", JOB),
    ("JobList", {"jobs": [JOB]}),
    (
        "SnapshotBody",
        {
            "namespace": "products",
            "watermark_ms": 1795435523836,
            "sha": SHA_B,
            "fields": [{"name": "category", "values": [{"v": "garden", "n": 1092}]}],
            "fields_skipped": [
                {"name": "tags", "reason": "exceeded_cap", "distinct_observed": 16820, "cap": 10000}
            ],
        },
    ),
    (
        "Diff",
        {
            "from": SHA_A,
            "to": SHA_B,
            "watermark_from": 1795435502111,
            "watermark_to": 1795435523836,
            "fields": [
                {
                    "name": "category",
                    "status": "changed",
                    "changes": [{"v": "electronics", "from": 1027, "to": 1031, "delta": 4}],
                },
                {"name": "brand", "status": "unchanged", "changes": []},
            ],
            "fields_skipped": {"from": ["tags"], "to": ["tags"]},
        },
    ),
    (
        "ActivityPage",
        {
            "events": [
                {
                    "ts_ms": 1795435502853,
                    "namespace": "products",
                    "sha": SHA_A,
                    "watermark_ms": 1795435502111,
                    "fields": ["category", "brand", "tags"],
                    "source": "watcher",
                    "job_id": None,
                }
            ],
            "next_cursor": None,
        },
    ),
    (
        "Error",
        {
            "error": {
                "code": "bad_request",
                "message": "page_size must be an integer, got 'abc'",
                "param": "page_size",
            }
        },
    ),
    ("Health", {"status": "ok", "pid": 17917}),
    ("Ready", {"status": "ready", "checks": {"kv": "ok", "object_store": "ok", "upstream": "ok"}}),
]


def component_validator(name: str) -> Any:
    root = {"components": {"schemas": SCHEMAS}, "$ref": f"#/components/schemas/{name}"}
    return jsonschema_rs.Draft202012Validator(root)


@pytest.fixture
def served(emulator: Any, backend_factory: Any) -> tuple[Any, dict[str, Any]]:
    layer = backend_factory(emulator.url, api_keys=("openapi-test-key-1",))
    r = requests.get(
        f"{layer.url}/v2/openapi.json",
        headers={"Authorization": "Bearer openapi-test-key-1"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return layer, r.json()


def test_every_layer_route_is_documented(served: tuple[Any, dict[str, Any]]) -> None:
    layer, doc = served
    assert doc["openapi"] == "3.1.0"
    expected = set()
    for rule in layer.app.url_map.iter_rules():
        if rule.endpoint == "static" or "<path:" in rule.rule:
            continue  # the verbatim proxy's catch-alls
        path, _ = openapi_path(rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            expected.add((method.lower(), path))
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert expected == documented
    for must in (
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/v2/openapi.json"),
        ("post", "/v2/namespaces/{ns}/cache/warm"),
        ("get", "/v2/namespaces/{ns}/cache"),
        ("delete", "/v2/namespaces/{ns}/cache"),
        ("post", "/v2/namespaces/{ns}/snapshots"),
        ("get", "/v2/namespaces/{ns}/snapshots/{a}/diff/{b}"),
    ):
        assert must in documented
    assert not any("{rest}" in p for p in doc["paths"])


def test_security_and_errors_are_declared(served: tuple[Any, dict[str, Any]]) -> None:
    _, doc = served
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["operationId"] and op["responses"], (method, path)
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}
            if path != "/healthz":
                assert {"401", "403"} <= set(op["responses"]), (method, path)
    bad = doc["paths"]["/v2/namespaces"]["get"]["responses"]["400"]
    assert bad["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_query_bounds_come_from_the_views(served: tuple[Any, dict[str, Any]]) -> None:
    _, doc = served
    by_name = {
        p["name"]: p
        for p in doc["paths"]["/v2/namespaces"]["get"]["parameters"]
        if p["in"] == "query"
    }
    page_size = by_name["page_size"]["schema"]
    assert page_size["minimum"] == 1 and page_size["default"] == 100
    assert "maximum" not in page_size  # capped at 1000, not refused
    assert "capped at 1000" in by_name["page_size"]["description"]
    since = next(
        p
        for p in doc["paths"]["/v2/activity/snapshots"]["get"]["parameters"]
        if p["name"] == "since"
    )
    assert since["required"] is True and since["schema"]["maximum"] == 9_999_999_999_999


def test_document_loads_in_schemathesis(served: tuple[Any, dict[str, Any]]) -> None:
    _, doc = served
    schema = schemathesis.openapi.from_dict(doc)
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), results
    assert len(results) == sum(len(ops) for ops in doc["paths"].values())


@pytest.mark.parametrize(("component", "example"), README_EXAMPLES)
def test_real_responses_match_their_schemas(component: str, example: Any) -> None:
    errors = [e.message for e in component_validator(component).iter_errors(example)]
    assert not errors, (component, errors)


@pytest.mark.parametrize(
    ("component", "bad"),
    [
        ("Job", {**JOB, "status": "exploded"}),
        ("Error", {"error": "just a string"}),
        ("SnapshotBody", {"namespace": "p", "watermark_ms": "soon", "sha": SHA_A}),
        ("SnapshotRequest", {"field": "brand", "limit": 3}),
        ("SnapshotRequest", {"field": "$id"}),
        ("SnapshotRequest", {"field": "brand", "page_size": 0}),
    ],
)
def test_schemas_refuse_wrong_shapes(component: str, bad: Any) -> None:
    assert not component_validator(component).is_valid(bad)


def test_a_route_without_a_declaration_is_an_error() -> None:
    app = Flask("undeclared")

    @app.get("/v2/secret")
    def secret() -> str:
        return "no declaration"

    with pytest.raises(UndeclaredRoute, match="/v2/secret"):
        build_document(app)
