"""Snapshot routes (seed 003): create jobs, read jobs, history, bodies, diffs."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify

from backend import params
from backend.errors import BadRequest
from backend.extensions import get_job_runner, get_jobs, get_snapshot_repo, get_snapshots
from backend.openapi import STORE, UPSTREAM, QueryInt, QueryStr, array, operation, ref
from backend.snapshots.diff import diff_bodies
from backend.snapshots.jobs import public_view
from backend.snapshots.service import parse_request
from common.settings import SettingsError, parse_keep_policy

bp = Blueprint("snapshots", __name__)

JOB_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DRY_RUN = QueryStr(
    "dry_run",
    max_len=5,
    pattern=re.compile(r"true|false|1|0"),
    description="true: report what the policy would delete, delete nothing (default false)",
)
KEEP = QueryStr(
    "keep",
    max_len=200,
    description="a policy to apply instead of LAYER_HISTORY_KEEP, e.g. last=5,daily=7",
)
HISTORY_LIMIT = QueryInt("limit", 50, lo=1, hi=500, cap=True, description="entries.")
BEFORE = QueryStr("before", max_len=64, description="a SHA or 7+ char prefix: older entries")


@bp.post("/v2/namespaces/<ns>/snapshots")
@operation(
    "Create a snapshot job",
    body=ref("SnapshotRequest"),
    body_example={"field": "status", "source": "origin", "page_size": 100},
    responses={202: "Job"},
    errors=(404, 409, 422, *UPSTREAM),
    tags=("snapshots",),
)
def create_snapshot(ns: str) -> tuple[Response, int]:
    params.namespace(ns)
    req = parse_request(params.json_object_body())
    return jsonify(get_snapshots().create(ns, req)), 202


@bp.get("/v2/namespaces/<ns>/snapshot-jobs")
@operation(
    "The namespace's jobs, newest first",
    responses={200: "JobList"},
    errors=STORE,
    tags=("snapshots",),
)
def list_jobs(ns: str) -> Response:
    params.namespace(ns)
    return jsonify({"jobs": [public_view(j) for j in get_jobs().list(ns)]})


@bp.get("/v2/namespaces/<ns>/snapshot-jobs/<job_id>")
@operation(
    "One job",
    responses={200: "Job"},
    errors=(404, *STORE),
    tags=("snapshots",),
)
def get_job(ns: str, job_id: str) -> Response:
    params.namespace(ns)
    if not JOB_ID_RE.match(job_id):
        raise BadRequest("job id must be a UUID", param="id")
    return jsonify(public_view(get_jobs().get(ns, job_id)))


@bp.delete("/v2/namespaces/<ns>/snapshot-jobs/<job_id>")
@operation(
    "Cancel a running job: it ends cancelled at its next page and writes nothing",
    responses={202: "Job"},
    errors=(404, 409, *STORE),
    tags=("snapshots",),
)
def cancel_job(ns: str, job_id: str) -> tuple[Response, int]:
    params.namespace(ns)
    if not JOB_ID_RE.match(job_id):
        raise BadRequest("job id must be a UUID", param="id")
    return jsonify(public_view(get_job_runner().cancel(ns, job_id))), 202


@bp.get("/v2/namespaces/<ns>/history")
@operation(
    "Durable snapshot history, newest first",
    query=(HISTORY_LIMIT, BEFORE),
    responses={200: array(ref("HistoryEntry"))},
    errors=(404, 409, *STORE),
    tags=("snapshots",),
)
def history(ns: str) -> Response:
    params.namespace(ns)
    limit = HISTORY_LIMIT.read()
    assert limit is not None
    before = BEFORE.read()
    return jsonify(get_snapshot_repo().history(ns, limit, before))


@bp.post("/v2/namespaces/<ns>/history/prune")
@operation(
    "Apply the retention policy to the namespace's history (dry_run=true: only report)",
    query=(DRY_RUN, KEEP),
    responses={200: "PruneReport"},
    errors=STORE,
    tags=("snapshots",),
)
def prune_history(ns: str) -> Response:
    params.namespace(ns)
    dry_run = DRY_RUN.read() in ("true", "1")
    raw = KEEP.read()
    policy = None
    if raw is not None:
        try:
            policy = parse_keep_policy("keep", raw)
        except SettingsError as exc:
            raise BadRequest(str(exc), param="keep") from None
    return jsonify(get_snapshots().watch.pruner.prune(ns, policy=policy, dry_run=dry_run))


@bp.get("/v2/namespaces/<ns>/snapshots/<sha>")
@operation(
    "A snapshot body by SHA or prefix",
    responses={200: "SnapshotBody"},
    errors=(404, 409, *STORE),
    tags=("snapshots",),
)
def snapshot_body(ns: str, sha: str) -> Response:
    params.namespace(ns)
    repo = get_snapshot_repo()
    return jsonify(repo.get_body(ns, repo.resolve(ns, sha)))


@bp.get("/v2/namespaces/<ns>/snapshots/<a>/diff/<b>")
@operation(
    "What changed between two snapshots",
    responses={200: "Diff"},
    errors=(404, 409, *STORE),
    tags=("snapshots",),
)
def snapshot_diff(ns: str, a: str, b: str) -> Response:
    params.namespace(ns)
    repo = get_snapshot_repo()
    body_a = repo.get_body(ns, repo.resolve(ns, a, "a"))
    body_b = repo.get_body(ns, repo.resolve(ns, b, "b"))
    return jsonify(diff_bodies(body_a, body_b))
