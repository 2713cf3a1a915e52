"""Who may call Layer (DESIGN.md "Security").

``LAYER_API_KEYS`` may do anything; ``LAYER_READ_KEYS`` may only read, as
``backend.access`` classifies the request from the route that will handle it (the
matched endpoint and method; for the verbatim proxy, the upstream operation). With no
key configured Layer serves loopback clients only. Keys are compared in constant time,
against every configured key, so timing says nothing about which matched. ``/healthz``
answers everyone: it says only that the process is up.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Flask, g, request

from backend import access
from backend.errors import Forbidden, Unauthorized
from backend.extensions import get_settings


def _matches(token: str, keys: tuple[str, ...]) -> bool:
    found = False
    for key in keys:
        found |= hmac.compare_digest(token.encode(), key.encode())
    return found


def forwarded_path() -> str | None:
    """The upstream path the verbatim proxy would forward this request to."""
    rule = request.url_rule
    rest = (request.view_args or {}).get("rest")
    if rule is None or not isinstance(rest, str):
        return None
    version = rule.rule.split("/", 2)[1]
    return f"/{version}/{rest}"


def is_read_request() -> bool:
    """Classify the current request from its matched route, never from its path's text.

    A request no route matched reaches no view (it becomes 404/405), so it reads nothing
    either; OPTIONS on a route that answers it automatically never reaches the view."""
    rule = request.url_rule
    if rule is None or request.endpoint is None:
        return True
    if request.method == "OPTIONS" and getattr(rule, "provide_automatic_options", False):
        return True
    return access.is_read(request.endpoint, request.method, forwarded_path())


def caller_role() -> str | None:
    """What the current caller may do: ``admin``, ``read``, ``loopback`` (no keys
    configured: a loopback caller may do anything), or None on an open route."""
    role = g.get("layer_role")
    return role if isinstance(role, str) else None


def _is_loopback(addr: str | None) -> bool:
    if not addr:
        return False
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def check_request() -> None:
    if request.endpoint in access.OPEN_ENDPOINTS:
        return
    settings = get_settings()
    if not settings.auth_enabled:
        if not _is_loopback(request.remote_addr):
            raise Forbidden("no API keys are configured: Layer serves loopback clients only")
        g.layer_role = "loopback"
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <key>'")
    if _matches(token, settings.api_keys):
        g.layer_role = "admin"
        return
    if _matches(token, settings.read_keys):
        if not is_read_request():
            raise Forbidden("this key may only read")
        g.layer_role = "read"
        return
    raise Unauthorized("invalid API key")


def init_app(app: Flask) -> None:
    app.before_request(check_request)
