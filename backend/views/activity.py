"""The cross-namespace snapshot activity feed."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from backend import params
from backend.extensions import get_snapshot_repo
from backend.openapi import STORE, QueryInt, QueryStr, operation

bp = Blueprint("activity", __name__)

SINCE = QueryInt(
    "since",
    None,
    lo=0,
    hi=9_999_999_999_999,
    required=True,
    description="epoch-ms lower bound on ts_ms",
)
LIMIT = QueryInt("limit", 50, lo=1, hi=500, cap=True, description="events per page.")
NAMESPACE = QueryStr("namespace", max_len=128, description="only this namespace")
CURSOR = QueryStr("cursor", max_len=512, description="next_cursor of the previous page")


@bp.get("/v2/activity/snapshots")
@operation(
    "The cross-namespace snapshot activity feed, oldest first",
    query=(SINCE, LIMIT, NAMESPACE, CURSOR),
    responses={200: "ActivityPage"},
    errors=STORE,
    tags=("snapshots",),
)
def activity() -> Response:
    since = SINCE.read()
    assert since is not None
    limit = LIMIT.read()
    assert limit is not None
    ns = NAMESPACE.read()
    if ns is not None:
        params.namespace(ns)
    cursor = CURSOR.read()
    return jsonify(get_snapshot_repo().activity(since, limit, ns, cursor))
