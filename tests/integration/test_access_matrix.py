"""The route × method × key matrix: who may call what (issue 11).

Every route in the app's url_map (so a new route cannot escape: the first test fails
until it is classified here) and every proxied upstream operation, with namespaces named
like Layer's own path words, is called with no key, a bad key, a read key and an admin
key. A read key gets 403 on every write, and nothing of a refused request reaches the
upstream: the emulator's request counter does not move and its namespaces are unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from backend import access
from backend.app import create_app
from common.settings import Settings
from tests.integration.helpers import set_faults, write_docs

ADMIN = "admin-key-0123456789"
READER = "read-key-0123456789"
BAD = "wrong-key-0123456789"

# Namespaces named like Layer's path words: routing must not mistake them for actions.
NAMES = [
    "ns",
    "query",
    "metadata",
    "snapshots",
    "history",
    "cache",
    "schema",
    "snapshot-jobs",
    "operations",
    "diff",
    "warm",
    "explain_query",
]

GH = ("GET", "HEAD", "OPTIONS")
# What the test expects of every Layer route: (endpoint, method) -> open | read | write.
# OPTIONS is answered by Flask itself (no view runs), so it is a read everywhere.
EXPECTED: dict[tuple[str, str], str] = {
    **{("health.healthz", m): "open" for m in GH},
    **{
        (e, m): "read"
        for e in (
            "health.readyz",
            "health.whoami",
            "metrics.metrics",
            "namespaces.list_namespaces",
            "namespaces.metadata",
            "snapshots.list_jobs",
            "snapshots.get_job",
            "snapshots.history",
            "snapshots.snapshot_body",
            "snapshots.snapshot_diff",
            "cache.state",
            "activity.activity",
            "openapi.openapi_document",
        )
        for m in GH
    },
    ("proxy.query", "POST"): "read",
    ("proxy.query", "OPTIONS"): "read",
    ("snapshots.create_snapshot", "POST"): "write",
    ("snapshots.create_snapshot", "OPTIONS"): "read",
    ("cache.warm", "POST"): "write",
    ("cache.warm", "OPTIONS"): "read",
    ("cache.delete", "DELETE"): "write",
    ("cache.delete", "OPTIONS"): "read",
    ("snapshots.cancel_job", "DELETE"): "write",
    ("snapshots.cancel_job", "OPTIONS"): "read",
    ("snapshots.prune_history", "POST"): "write",
    ("snapshots.prune_history", "OPTIONS"): "read",
    ("proxy.write", "POST"): "write",
    ("proxy.write", "OPTIONS"): "read",
}
PASSTHROUGH_RULES = {"/v1/<path:rest>", "/v2/<path:rest>"}
PASSTHROUGH_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# Upstream operations through the verbatim proxy: (method, path, read?).
PROXIED: list[tuple[str, str, bool]] = [
    *[(m, "/v1/namespaces", True) for m in ("GET", "HEAD")],
    *[
        (m, p, True)
        for m in ("GET", "HEAD")
        for p in (
            "/v1/namespaces/{ns}/metadata",
            "/v1/namespaces/{ns}/schema",
            "/v1/namespaces/{ns}/hint_cache_warm",
            "/v1/namespaces/{ns}/operations/op-1",
            "/v2/namespaces/{ns}/operations/op-1",
        )
    ],
    ("POST", "/v1/namespaces/{ns}/query", True),
    ("POST", "/v2/namespaces/{ns}/explain_query", True),
    ("POST", "/v1/namespaces/{ns}/_debug/recall", True),
    ("OPTIONS", "/v1/namespaces/{ns}", True),
    ("OPTIONS", "/v2/namespaces/{ns}/schema", True),
    # writes, and everything nobody classified
    ("POST", "/v1/namespaces/{ns}", False),
    ("PUT", "/v1/namespaces/{ns}", False),
    ("PATCH", "/v1/namespaces/{ns}", False),
    ("DELETE", "/v1/namespaces/{ns}", False),
    ("DELETE", "/v2/namespaces/{ns}", False),
    ("PUT", "/v2/namespaces/{ns}", False),
    ("GET", "/v2/namespaces/{ns}", False),
    ("POST", "/v1/namespaces/{ns}/schema", False),
    ("POST", "/v2/namespaces/{ns}/schema", False),
    ("PATCH", "/v1/namespaces/{ns}/metadata", False),
    ("POST", "/v2/namespaces/{ns}/metadata", False),
    ("DELETE", "/v1/namespaces/{ns}/query", False),
    ("PUT", "/v2/namespaces/{ns}/query", False),
    ("GET", "/v2/namespaces/{ns}/query", False),
    ("POST", "/v1/namespaces/{ns}/query/", False),
    ("POST", "/v2/namespaces/{ns}/query/x", False),
    ("POST", "/v1/namespaces/{ns}/QUERY", False),
    ("POST", "/v2/namespaces/{ns}/history", False),
    ("POST", "/v2/namespaces/{ns}/snapshots/query", False),
    ("POST", "/v2/namespaces/{ns}/cache", False),
    ("POST", "/v2/namespaces/{ns}/snapshot-jobs", False),
    ("POST", "/v2/namespaces/{ns}/operations/query", False),
    ("POST", "/v2/{ns}/query", False),
    ("POST", "/v1/{ns}", False),
    ("POST", "/v2/namespaces", False),
    ("POST", "/v1/namespaces/{ns}/_debug/recall/query", False),
    ("GET", "/v1/namespaces/{ns}/copy", False),
]

QUERY = {"rank_by": ["id", "asc"], "limit": 5}
WRITE = {"delete_by_filter": ["id", "Gte", 0], "upsert_rows": [{"id": 42}]}
PARAMS = {"job_id": "job-1", "sha": "abcdef0", "a": "abcdef0", "b": "abcdef1"}


def _app(tmp: Any) -> Any:
    settings = Settings.from_env(
        {}, kv_url=f"sqlite://{tmp}/kv.sqlite", object_store_url=f"file://{tmp}/obj"
    )
    return create_app(settings)


def _fill(rule: str, ns: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: ns if m[1] == "ns" else PARAMS[m[1]], rule)


def _layer_calls(app: Any) -> list[tuple[str, str, str, str]]:
    """(endpoint, method, path, kind) for every Layer route, once per namespace name."""
    calls = []
    for rule in app.url_map.iter_rules():
        if rule.rule in PASSTHROUGH_RULES:
            continue
        names = NAMES if "<ns>" in rule.rule else ["-"]
        for method in sorted(rule.methods):
            for ns in names:
                calls.append(
                    (rule.endpoint, method, _fill(rule.rule, ns), EXPECTED[(rule.endpoint, method)])
                )
    return calls


def _proxied_calls(app: Any) -> list[tuple[str, str, str, str]]:
    adapter = app.url_map.bind("localhost")
    calls = []
    for method, template, read in PROXIED:
        for ns in NAMES:
            path = template.format(ns=ns)
            endpoint, _ = adapter.match(path, method=method)
            assert endpoint == "proxy.passthrough", (method, path, endpoint)
            calls.append((endpoint, method, path, "read" if read else "write"))
    return calls


def test_every_route_is_in_the_matrix(tmp_path) -> None:
    app = _app(tmp_path)
    seen = set()
    for rule in app.url_map.iter_rules():
        if rule.rule in PASSTHROUGH_RULES:
            assert rule.endpoint == "proxy.passthrough"
            assert set(rule.methods) == PASSTHROUGH_METHODS, rule.rule
            continue
        seen |= {(rule.endpoint, m) for m in rule.methods}
    assert seen == set(EXPECTED), (
        "a route is missing from (or gone from) this matrix: "
        f"new {sorted(seen - set(EXPECTED))}, gone {sorted(set(EXPECTED) - seen)}"
    )
    assert {r.rule for r in app.url_map.iter_rules()} >= PASSTHROUGH_RULES


def _send(s: requests.Session, url: str, method: str, path: str, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = None
    if method in ("POST", "PUT", "PATCH"):
        body = QUERY if path.endswith("query") and method == "POST" else WRITE
    return s.request(method, url + path, json=body, headers=headers, timeout=15)


def _docs(emulator: Any) -> dict[str, Any]:
    return {n: dict(emulator.state.get(n).docs) for n in emulator.state.names()}


def test_route_method_key_matrix(emulator, backend_factory) -> None:
    for ns in NAMES:
        write_docs(emulator.url, ns, [{"id": 1}])
    layer = backend_factory(emulator.url, api_keys=(ADMIN,), read_keys=(READER,))
    calls = _layer_calls(layer.app) + _proxied_calls(layer.app)
    assert len(calls) > 500
    before = _docs(emulator)
    s = requests.Session()
    refused = 0
    for endpoint, method, path, kind in calls:
        what = f"{method} {path} ({endpoint})"
        seen = emulator.options.requests
        r = _send(s, layer.url, method, path, READER)
        if kind == "write":
            refused += 1
            assert r.status_code == 403, (what, r.status_code, r.text[:200])
            assert r.json()["error"]["code"] == "forbidden", what
            assert emulator.options.requests == seen, f"{what}: a refused request went upstream"
        else:
            assert r.status_code not in (401, 403), (what, r.status_code, r.text[:200])
            if method == "OPTIONS":
                assert emulator.options.requests == seen, f"{what}: OPTIONS went upstream"
    assert refused > 300
    # No key and a bad key are refused before any classification, whatever the name:
    # every route and method, with two of the names.
    few = [c for c in calls if c[2].split("/")[3:4] in ([], ["ns"], ["query"])]
    for endpoint, method, path, kind in few:
        what = f"{method} {path} ({endpoint})"
        for key in (None, BAD):
            seen = emulator.options.requests
            r = _send(s, layer.url, method, path, key)
            if kind == "open":
                assert r.status_code == 200, what
                continue
            assert r.status_code == 401, (what, key, r.status_code)
            if method != "HEAD":
                assert r.json()["error"]["code"] == "unauthorized", what
            assert emulator.options.requests == seen, f"{what}: a refused request went upstream"
    assert _docs(emulator) == before, "a request without an admin key changed the upstream"
    # the admin key may call everything (what it then does is each route's own business)
    for endpoint, method, path, _kind in few:
        r = _send(s, layer.url, method, path, ADMIN)
        assert r.status_code not in (401, 403), (f"{method} {path} ({endpoint})", r.text[:200])


def test_read_key_cannot_write_namespace_named_query(emulator, backend_factory) -> None:
    """The issue's reproduction: a namespace named ``query`` took a read key's writes."""
    write_docs(emulator.url, "query", [{"id": 1}])
    layer = backend_factory(emulator.url, api_keys=(ADMIN,), read_keys=(READER,))
    h = {"Authorization": f"Bearer {READER}"}
    for version in ("v1", "v2"):
        for body in ({"upsert_rows": [{"id": 42}]}, {"delete_by_filter": ["id", "Gte", 0]}):
            r = requests.post(
                f"{layer.url}/{version}/namespaces/query", json=body, headers=h, timeout=5
            )
            assert r.status_code == 403, (version, body, r.text)
    assert list(emulator.state.get("query").docs) == [1]
    r = requests.post(f"{layer.url}/v2/namespaces/query/query", json=QUERY, headers=h, timeout=5)
    assert r.status_code == 200 and r.json()["rows"] == [{"id": 1}]


def test_no_keys_serve_loopback_only_on_every_route(tmp_path) -> None:
    app = _app(tmp_path)
    client = app.test_client()
    for endpoint, method, path, kind in _layer_calls(app) + _proxied_calls(app):
        r = client.open(path, method=method, environ_base={"REMOTE_ADDR": "10.1.2.3"})
        expected = 200 if kind == "open" else 403
        assert r.status_code == expected, (method, path, endpoint, r.status_code)
    r = client.get("/v2/namespaces/x/cache", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert r.status_code == 200


def test_proxy_retries_follow_the_same_classification(emulator, backend_factory) -> None:
    """A write through the proxy to a namespace named ``query`` is sent once, never retried;
    a real query is retried."""
    layer = backend_factory(emulator.url, api_keys=(ADMIN,))
    set_faults(emulator.url, fail_rate=1.0, fail_statuses=[503])
    h = {"Authorization": f"Bearer {ADMIN}"}
    seen = emulator.options.requests
    r = requests.post(f"{layer.url}/v1/namespaces/query", json=WRITE, headers=h, timeout=20)
    assert r.status_code == 503 and emulator.options.requests == seen + 1
    seen = emulator.options.requests
    requests.post(f"{layer.url}/v1/namespaces/ns/query", json=QUERY, headers=h, timeout=20)
    assert emulator.options.requests > seen + 1


def test_upstream_operations_are_matched_segment_by_segment() -> None:
    reads = [
        ("POST", "/v1/namespaces/query/query"),
        ("POST", "/v2/namespaces/a.b-c_d/explain_query"),
        ("GET", "/v1/namespaces"),
        ("HEAD", "/v2/namespaces/metadata/metadata"),
        ("GET", "/v2/namespaces/x/operations/op_1.2"),
    ]
    writes = [
        ("POST", "/v1/namespaces/query"),
        ("POST", "/v1/namespaces/x/query/"),
        ("POST", "/v1/namespaces/../query"),
        ("POST", "/v1/namespaces/./query"),
        ("POST", "/v1/namespaces//query"),
        ("POST", "/v3/namespaces/x/query"),
        ("POST", "v1/namespaces/x/query"),
        ("POST", "/v1/namespaces/" + "a" * 129 + "/query"),
        ("POST", "/v1/namespaces/a b/query"),
        ("GET", "/v1/namespaces/x/operations"),
        ("DELETE", "/v1/namespaces/x/metadata"),
        ("PUT", "/v1/namespaces/x/query"),
        ("POST", "/v1/namespaces/x/Query"),
    ]
    assert all(access.upstream_is_read(m, p) for m, p in reads)
    assert not any(access.upstream_is_read(m, p) for m, p in writes)
    assert not access.is_read("proxy.passthrough", "GET", None)
    assert not access.is_read("some.new_endpoint", "GET")
