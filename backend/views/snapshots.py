"""Snapshot routes (seed 003): create jobs, read jobs, history, bodies, diffs."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify

from backend import params
from backend.errors import BadRequest
from backend.extensions import get_jobs, get_snapshot_repo, get_snapshots
from backend.snapshots.diff import diff_bodies
from backend.snapshots.jobs import public_view
from backend.snapshots.service import parse_request

bp = Blueprint("snapshots", __name__)

JOB_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@bp.post("/v2/namespaces/<ns>/snapshots")
def create_snapshot(ns: str) -> tuple[Response, int]:
    params.namespace(ns)
    req = parse_request(params.json_object_body())
    return jsonify(get_snapshots().create(ns, req)), 202


@bp.get("/v2/namespaces/<ns>/snapshot-jobs")
def list_jobs(ns: str) -> Response:
    params.namespace(ns)
    return jsonify({"jobs": [public_view(j) for j in get_jobs().list(ns)]})


@bp.get("/v2/namespaces/<ns>/snapshot-jobs/<job_id>")
def get_job(ns: str, job_id: str) -> Response:
    params.namespace(ns)
    if not JOB_ID_RE.match(job_id):
        raise BadRequest("job id must be a UUID", param="id")
    return jsonify(public_view(get_jobs().get(ns, job_id)))


@bp.get("/v2/namespaces/<ns>/history")
def history(ns: str) -> Response:
    params.namespace(ns)
    limit = params.int_arg("limit", 50, lo=1, hi=500, cap=True)
    assert limit is not None
    before = params.str_arg("before", max_len=64)
    return jsonify(get_snapshot_repo().history(ns, limit, before))


@bp.get("/v2/namespaces/<ns>/snapshots/<sha>")
def snapshot_body(ns: str, sha: str) -> Response:
    params.namespace(ns)
    repo = get_snapshot_repo()
    return jsonify(repo.get_body(ns, repo.resolve(ns, sha)))


@bp.get("/v2/namespaces/<ns>/snapshots/<a>/diff/<b>")
def snapshot_diff(ns: str, a: str, b: str) -> Response:
    params.namespace(ns)
    repo = get_snapshot_repo()
    body_a = repo.get_body(ns, repo.resolve(ns, a, "a"))
    body_b = repo.get_body(ns, repo.resolve(ns, b, "b"))
    return jsonify(diff_bodies(body_a, body_b))
