"""The query path with its cut decision, stamped writes, and the verbatim proxy."""

from __future__ import annotations

from urllib.parse import quote

import orjson
from flask import Blueprint, Response, request

from backend import params
from backend.access import upstream_is_read
from backend.errors import BadRequest
from backend.extensions import get_freshness, get_settings, get_upstream
from backend.openapi import UPSTREAM, operation, ref
from backend.proxy import apply_cut, decide_cut, forward_headers, response_headers, stamp_write
from common.timeutil import now_ms

bp = Blueprint("proxy", __name__)


def _relay(method: str, path: str, data: bytes | None, *, retry: bool, route: str) -> Response:
    resp = get_upstream().send(
        method,
        path,
        params=request.query_string or None,
        data=data,
        headers=forward_headers(request.headers),
        retry=retry,
        route=route,
    )
    return Response(resp.content, status=resp.status_code, headers=response_headers(resp))


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
    cut = decide_cut(body, get_freshness().get(ns))
    # No cut: the caller's bytes go upstream as they came (no re-serialisation).
    data = (
        request.get_data(cache=True)
        if cut.watermark_ms is None
        else orjson.dumps(apply_cut(body, get_settings().watermark_attribute, cut))
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
    return _relay(
        "POST",
        f"/v2/namespaces/{quote(ns, safe='')}",
        orjson.dumps(body),
        retry=False,
        route="write",
    )


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
    retry = method in ("GET", "HEAD") or upstream_is_read(method, f"/{version}/{rest}")
    return _relay(
        method, f"/{version}/{rest}", request.get_data() or None, retry=retry, route="passthrough"
    )
