"""Liveness and readiness."""

from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify

from backend.errors import LayerError
from backend.extensions import get_kv, get_store, get_upstream
from backend.openapi import operation
from backend.stores.errors import StoreError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation("Liveness: the process is up", responses={200: "Health"}, public=True, tags=("ops",))
def healthz() -> Response:
    return jsonify({"status": "ok", "pid": os.getpid()})


@bp.get("/readyz")
@operation(
    "Readiness: KV store, object store and upstream",
    responses={200: "Ready", 503: "NotReady"},
    tags=("ops",),
)
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    for name, ping in (
        ("kv", get_kv().ping),
        ("object_store", get_store().ping),
        ("upstream", get_upstream().ping),
    ):
        try:
            ping()
            checks[name] = "ok"
        except (StoreError, LayerError) as exc:
            checks[name] = str(exc)
    down = [k for k, v in checks.items() if v != "ok"]
    if down:
        body = {
            "error": {
                "code": "not_ready",
                "message": "not ready: " + ", ".join(down) + " unavailable",
            },
            "checks": checks,
        }
        return jsonify(body), 503
    return jsonify({"status": "ready", "checks": checks}), 200
