"""Document cache routes: warm (a job), read the cache's state, drop it."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from backend import params
from backend.errors import BadRequest
from backend.extensions import get_cache, get_upstream
from backend.openapi import STORE, UPSTREAM, operation

bp = Blueprint("cache", __name__)


@bp.post("/v2/namespaces/<ns>/cache/warm")
@operation(
    "Warm the document cache (a job); no parameters",
    body={"type": "object", "maxProperties": 0},
    body_required=False,
    responses={202: "Job"},
    errors=(404, 409, *UPSTREAM),
    tags=("cache",),
)
def warm(ns: str) -> tuple[Response, int]:
    params.namespace(ns)
    if request.get_data(cache=True):
        body = params.json_object_body()
        if body:
            raise BadRequest(
                f"unknown parameter {sorted(body)[0]!r}: warm takes no parameters",
                param=sorted(body)[0],
            )
    upstream = get_upstream()
    # 404 for a namespace the upstream does not know; within the dashboard's budget
    upstream.metadata(ns, deadline=upstream.interactive_deadline())
    job, _ = get_cache().warm(ns)
    return jsonify(job), 202


@bp.get("/v2/namespaces/<ns>/cache")
@operation(
    "The document cache's state",
    responses={200: "CacheInfo"},
    errors=STORE,
    tags=("cache",),
)
def state(ns: str) -> Response:
    params.namespace(ns)
    return jsonify(get_cache().info(ns))


@bp.delete("/v2/namespaces/<ns>/cache")
@operation(
    "Drop the cached documents",
    responses={200: "CacheInfo"},
    errors=STORE,
    tags=("cache",),
)
def delete(ns: str) -> Response:
    params.namespace(ns)
    return jsonify(get_cache().delete(ns))
