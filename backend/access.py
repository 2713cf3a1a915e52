"""Which requests are reads (DESIGN.md "Security"): what a read key may call.

A request is classified by what will actually handle it, never by how its path ends.
Layer's own routes are classified by their Flask endpoint and the method; the verbatim
proxy (``proxy.passthrough``) by the upstream operation the forwarded path names,
matched segment by segment against the turbopuffer routes that only read. Anything not
listed here, a new route included, is a write, so a read key is refused it.
"""

from __future__ import annotations

import re

GET_HEAD = frozenset({"GET", "HEAD"})
POST = frozenset({"POST"})

OPEN_ENDPOINTS = frozenset({"health.healthz"})
PROXY_ENDPOINT = "proxy.passthrough"

# Layer's own endpoints a read key may call, with the methods that read.
READ_ENDPOINTS: dict[str, frozenset[str]] = {
    "health.readyz": GET_HEAD,
    "health.whoami": GET_HEAD,
    "metrics.metrics": GET_HEAD,
    "namespaces.list_namespaces": GET_HEAD,
    "namespaces.metadata": GET_HEAD,
    "snapshots.list_jobs": GET_HEAD,
    "snapshots.get_job": GET_HEAD,
    "snapshots.history": GET_HEAD,
    "snapshots.snapshot_body": GET_HEAD,
    "snapshots.snapshot_diff": GET_HEAD,
    "cache.state": GET_HEAD,
    "activity.activity": GET_HEAD,
    "openapi.openapi_document": GET_HEAD,
    "proxy.query": POST,
}

NS = "{ns}"
ID = "{id}"
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9\-_.]{1,128}$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-_.]{1,256}$")

# Upstream operations that only read, as (methods, segments after /v1 or /v2).
UPSTREAM_READS: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (GET_HEAD, ("namespaces",)),
    (GET_HEAD, ("namespaces", NS, "metadata")),
    (GET_HEAD, ("namespaces", NS, "schema")),
    (GET_HEAD, ("namespaces", NS, "hint_cache_warm")),
    (GET_HEAD, ("namespaces", NS, "operations", ID)),
    (POST, ("namespaces", NS, "query")),
    (POST, ("namespaces", NS, "explain_query")),
    (POST, ("namespaces", NS, "_debug", "recall")),
)


def _segment_matches(seg: str, pattern: str) -> bool:
    if pattern == NS:
        return seg not in (".", "..") and _NAMESPACE_RE.match(seg) is not None
    if pattern == ID:
        return seg not in (".", "..") and _ID_RE.match(seg) is not None
    return seg == pattern


def upstream_is_read(method: str, path: str) -> bool:
    """Whether ``method path`` (``/v1/...`` or ``/v2/...``, as forwarded) only reads."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "" or parts[1] not in ("v1", "v2"):
        return False
    segs = parts[2:]
    for methods, pattern in UPSTREAM_READS:
        if (
            method in methods
            and len(segs) == len(pattern)
            and all(_segment_matches(s, p) for s, p in zip(segs, pattern, strict=True))
        ):
            return True
    return False


def is_read(endpoint: str, method: str, forwarded_path: str | None = None) -> bool:
    """Whether the request the endpoint will handle only reads. ``forwarded_path`` is
    the upstream path for the proxy endpoint (required there: without it, a write)."""
    if endpoint == PROXY_ENDPOINT:
        return forwarded_path is not None and upstream_is_read(method, forwarded_path)
    return method in READ_ENDPOINTS.get(endpoint, frozenset())
