"""The query path with its cut decision, stamped writes, and the verbatim proxy."""

from __future__ import annotations

import functools
from urllib.parse import quote

import orjson
from flask import Blueprint, Response, request
from urllib3.response import HTTPResponse

from backend import params
from backend.access import upstream_is_read
from backend.compression import accepts_gzip, add_vary
from backend.errors import BadRequest, UpstreamError
from backend.extensions import get_freshness, get_kv, get_settings, get_upstream
from backend.freshness import mark_dirty
from backend.openapi import UPSTREAM, operation, ref
from backend.proxy import (
    apply_cut,
    copies_rows,
    decide_cut,
    forget_cut,
    forward_headers,
    hide_watermark,
    response_headers,
    stamp_write,
)
from common.timeutil import now_ms

bp = Blueprint("proxy", __name__)


def _relay(method: str, path: str, data: bytes | None, *, retry: bool, route: str) -> Response:
    # A client that takes gzip gets the upstream's gzip bytes as they came (no inflate
    # and deflate here); any other client gets identity from the upstream.
    gzip_ok = accepts_gzip(request)
    headers = forward_headers(request.headers)
    headers["Accept-Encoding"] = "gzip" if gzip_ok else "identity"
    resp = get_upstream().send(
        method,
        path,
        params=request.query_string or None,
        data=data,
        headers=headers,
        retry=retry,
        route=route,
        decode=not gzip_ok,
    )
    out = Response(
        resp.content,
        status=resp.status_code,
        headers=response_headers(resp, get_settings().turbopuffer_base_url),
    )
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        if gzip_ok and encoding == "gzip":
            out.headers["Content-Encoding"] = "gzip"
            add_vary(out)
        elif gzip_ok or encoding not in HTTPResponse.CONTENT_DECODERS:
            raise UpstreamError(
                f"upstream sent Content-Encoding {encoding!r}, which the client did not ask for",
                upstream_status=resp.status_code,
            )
    return out


@bp.post("/v2/namespaces/<ns>/query")
@operation(
    "Query, forwarded with the freshness cut (X-Layer-Cut); upstream errors pass through",
    body=ref("Passthrough"),
    body_example={"rank_by": ["id", "asc"], "limit": 3, "filters": ["status", "Eq", "open"]},
    responses={200: "Passthrough", "4XX": "UpstreamOrLayerError"},
    errors=(404, *UPSTREAM),
    passthrough=True,
    tags=("proxy",),
)
def query(ns: str) -> Response:
    params.namespace(ns)
    body = params.json_object_body()
    freshness = get_freshness()
    fr = freshness.get(ns)
    dirty = functools.cache(lambda: freshness.is_dirty(ns))  # one KV read, only if asked
    cut = decide_cut(body, fr, dirty)
    attr = get_settings().watermark_attribute
    # The stamp is hidden only where the schema has it: the last poll saw it, or Layer
    # wrote (and stamped) since; excluding an attribute a namespace lacks is not asked.
    hidden = hide_watermark(body, attr)
    if hidden is not None and not (fr.has_watermark or dirty()):
        hidden = None
    # Nothing to change: the caller's bytes go upstream as they came (no re-serialisation).
    data = (
        request.get_data(cache=True)
        if cut.watermark_ms is None and hidden is None
        else orjson.dumps(apply_cut(hidden or body, attr, cut))
    )
    out = _relay(
        "POST", f"/v2/namespaces/{quote(ns, safe='')}/query", data, retry=True, route="query"
    )
    out.headers["X-Layer-Cut"] = cut.header
    out.headers["Content-Type"] = "application/json"
    return out


@bp.post("/v2/namespaces/<ns>")
@operation(
    "Write, forwarded once with rows stamped; upstream errors pass through",
    body=ref("Passthrough"),
    body_example={"upsert_rows": [{"id": 9001, "status": "open"}]},
    responses={200: "Passthrough", "4XX": "UpstreamOrLayerError"},
    errors=(404, *UPSTREAM),
    passthrough=True,
    tags=("proxy",),
)
def write(ns: str) -> Response:
    params.namespace(ns)
    body = stamp_write(params.json_object_body(), get_settings().watermark_attribute, now_ms())
    out = _relay(
        "POST",
        f"/v2/namespaces/{quote(ns, safe='')}",
        orjson.dumps(body),
        retry=False,
        route="write",
    )
    if out.status_code < 300:
        if copies_rows(body):
            forget_cut(get_freshness(), ns)  # copied rows carry the source's stamps
        mark_dirty(get_kv(), ns)  # the watcher's fast lane (backend/freshness.py)
    return out


@bp.route("/v1/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
@bp.route("/v2/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
@operation("Every other turbopuffer route, forwarded verbatim", responses={}, hidden=True)
def passthrough(rest: str) -> Response:
    parts = rest.split("/")
    if len(parts) >= 2 and parts[0] == "namespaces":
        params.namespace(parts[1])
    if any(p in ("", ".", "..") for p in parts):
        raise BadRequest("path has empty or dot segments", param="path")
    version = request.path.split("/", 2)[1]
    method = request.method
    read = method in ("GET", "HEAD") or upstream_is_read(method, f"/{version}/{rest}")
    out = _relay(
        method, f"/{version}/{rest}", request.get_data() or None, retry=read, route="passthrough"
    )
    if not read and out.status_code < 300 and len(parts) >= 2 and parts[0] == "namespaces":
        # A write, delete or any other change that went through Layer: the fast lane polls
        # the namespace next tick (a deleted one answers 404 there and is pruned).
        mark_dirty(get_kv(), parts[1])
    return out
