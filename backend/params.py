"""Parsing request input in one place, so every bad value gets the same clear 400."""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import request

from backend.errors import BadRequest

NAMESPACE_RE = re.compile(r"^[A-Za-z0-9\-_.]{1,128}$")


def namespace(ns: str) -> str:
    """Reject names turbopuffer would reject, before any store or upstream call."""
    if not NAMESPACE_RE.match(ns) or ns in (".", ".."):
        raise BadRequest(
            "namespace must match [A-Za-z0-9-_.]{1,128} and not be '.' or '..'", param="namespace"
        )
    return ns


ENCODED_TRAVERSAL_RE = re.compile(r"%(2f|5c|00)", re.IGNORECASE)


def check_raw_path() -> None:
    """Refuse encoded slashes, backslashes and NULs in the path before routing decodes
    them into separators (``a%2fb`` must not become two path segments)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    path = raw.split("?", 1)[0]
    if ENCODED_TRAVERSAL_RE.search(path) or "\x00" in request.path:
        raise BadRequest("the path contains an encoded '/', '\\' or NUL", param="path")


def int_arg(name: str, default: int | None, *, lo: int, hi: int, cap: bool = False) -> int | None:
    """Read an integer query parameter. Non-integers and values below ``lo`` are 400;
    values above ``hi`` are 400, or clamped to ``hi`` when ``cap``. An empty value
    (``limit=``) is not an integer either: 400, not the default."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if len(raw) > 20 or not re.fullmatch(r"-?\d+", raw.strip()):
        raise BadRequest(f"{name} must be an integer, got {raw[:40]!r}", param=name)
    value = int(raw)
    if value < lo:
        raise BadRequest(f"{name} must be at least {lo}, got {value}", param=name)
    if value > hi:
        if cap:
            return hi
        raise BadRequest(f"{name} must be at most {hi}, got {value}", param=name)
    return value


def str_arg(
    name: str, *, max_len: int = 1024, pattern: re.Pattern[str] | None = None
) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_len:
        raise BadRequest(f"{name} is longer than {max_len} characters", param=name)
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise BadRequest(f"{name} contains control characters", param=name)
    if pattern is not None and not pattern.fullmatch(raw):
        raise BadRequest(f"{name} has an invalid format", param=name)
    return raw


def json_body(*, required: bool = True) -> Any:
    data = request.get_data(cache=True)
    if not data:
        if required:
            raise BadRequest("request body must be a JSON document", param="body")
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", param="body") from None


def json_object_body() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object", param="body")
    return body
