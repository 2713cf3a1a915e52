"""Liveness and readiness."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Response, jsonify

from backend.auth import caller_role
from backend.errors import LayerError
from backend.extensions import get_kv, get_settings, get_store, get_upstream
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


def _public_url(url: str) -> str:
    """The upstream URL without any user:password part (the key never leaves)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@bp.get("/v2/whoami")
@operation(
    "Who is asking and what is behind Layer: the caller's key role and the upstream URL",
    responses={200: "WhoAmI"},
    tags=("ops",),
)
def whoami() -> Response:
    """The dashboard's context line: which upstream, which key role (never the key)."""
    settings = get_settings()
    return jsonify(
        {
            "role": caller_role(),
            "upstream": _public_url(settings.turbopuffer_base_url),
            "auth": "keys" if settings.auth_enabled else "loopback-only",
            # the dashboard derives its HTTP timeout from it (budget + a margin)
            "interactive_budget_ms": settings.interactive_budget_ms,
        }
    )
