"""Who may call Layer (DESIGN.md "Security").

``LAYER_API_KEYS`` may do anything; ``LAYER_READ_KEYS`` may only read (GET/HEAD and
queries). With no key configured Layer serves loopback clients only. Keys are compared
in constant time, against every configured key, so timing says nothing about which
matched. ``/healthz`` answers everyone: it says only that the process is up.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Flask, request

from backend.errors import Forbidden, Unauthorized
from backend.extensions import get_settings

OPEN_PATHS = frozenset({"/healthz"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _matches(token: str, keys: tuple[str, ...]) -> bool:
    found = False
    for key in keys:
        found |= hmac.compare_digest(token.encode(), key.encode())
    return found


def is_read_request(method: str, path: str) -> bool:
    if method in READ_METHODS:
        return True
    return method == "POST" and path.rstrip("/").endswith("/query")


def _is_loopback(addr: str | None) -> bool:
    if not addr:
        return False
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def check_request() -> None:
    if request.path in OPEN_PATHS:
        return
    settings = get_settings()
    if not settings.auth_enabled:
        if not _is_loopback(request.remote_addr):
            raise Forbidden("no API keys are configured: Layer serves loopback clients only")
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <key>'")
    if _matches(token, settings.api_keys):
        return
    if _matches(token, settings.read_keys):
        if not is_read_request(request.method, request.path):
            raise Forbidden("this key may only read")
        return
    raise Unauthorized("invalid API key")


def init_app(app: Flask) -> None:
    app.before_request(check_request)
