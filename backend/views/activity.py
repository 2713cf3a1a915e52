"""The cross-namespace snapshot activity feed."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from backend import params
from backend.errors import BadRequest
from backend.extensions import get_snapshot_repo

bp = Blueprint("activity", __name__)


@bp.get("/v2/activity/snapshots")
def activity() -> Response:
    since = params.int_arg("since", None, lo=0, hi=9_999_999_999_999)
    if since is None:
        raise BadRequest("since is required: epoch-ms lower bound on ts_ms", param="since")
    limit = params.int_arg("limit", 50, lo=1, hi=500, cap=True)
    assert limit is not None
    ns = params.str_arg("namespace", max_len=128)
    if ns is not None:
        params.namespace(ns)
    cursor = params.str_arg("cursor", max_len=512)
    return jsonify(get_snapshot_repo().activity(since, limit, ns, cursor))
