"""The emulator's WSGI app: routing, auth, faults and turbopuffer's JSON error shape.

Plain WSGI rather than Flask: the emulator is the benchmarks' baseline, and a router of
a dozen string splits costs a fraction of a framework's request setup.
Every error is ``{"status":"error","error":message}``. ``/_emulator/*`` is never subject
to auth or faults, so a test can always reach the fault switch.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

from common.timeutil import iso_from_ms
from emulator.churn import Churn, parse_churn
from emulator.polls import PollTracker
from emulator.query import run_query
from emulator.state import (
    BadRequest,
    EmulatorError,
    NotFound,
    State,
    Unprocessable,
    check_namespace_name,
)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Options:
    """Runtime knobs; ``faults`` fields change at run time through ``POST /_emulator/faults``."""

    api_key: str | None = None
    latency_ms: int = 0
    fail_rate: float = 0.0
    hang_ms: int = 0
    fail_statuses: list[int] = field(default_factory=lambda: [500, 429])
    fail_namespaces: list[str] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def faults(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "fail_rate": self.fail_rate,
            "hang_ms": self.hang_ms,
            "fail_statuses": list(self.fail_statuses),
            "fail_namespaces": list(self.fail_namespaces),
        }

    def set_faults(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise BadRequest("faults body must be an object")
        with self.lock:
            for key in ("latency_ms", "hang_ms"):
                if key in body:
                    v = body[key]
                    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                        raise BadRequest(f"{key} must be a non-negative number")
                    setattr(self, key, int(v))
            if "fail_rate" in body:
                v = body["fail_rate"]
                if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                    raise BadRequest("fail_rate must be between 0 and 1")
                self.fail_rate = float(v)
            if "fail_statuses" in body:
                v = body["fail_statuses"]
                if (
                    not isinstance(v, list)
                    or not v
                    or not all(isinstance(s, int) and 400 <= s <= 599 for s in v)
                ):
                    raise BadRequest("fail_statuses must be a non-empty list of 4xx/5xx codes")
                self.fail_statuses = list(v)
            if "fail_namespaces" in body:
                v = body["fail_namespaces"]
                if not isinstance(v, list) or not all(isinstance(n, str) for n in v):
                    raise BadRequest("fail_namespaces must be a list of namespace names")
                self.fail_namespaces = list(v)


def encode_cursor(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        name = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("invalid cursor") from exc
    if not name:
        raise BadRequest("invalid cursor")
    return name


def _recent(environ: dict[str, Any]) -> int:
    """``?recent=N`` on GET /_emulator/churn: how many of the last writes to list (0-1000)."""
    raw = parse_qs(environ.get("QUERY_STRING", "")).get("recent", ["0"])[0]
    try:
        n = int(raw)
    except ValueError:
        raise BadRequest(f"recent must be an integer, got {raw!r}") from None
    if not 0 <= n <= 1000:
        raise BadRequest(f"recent must be between 0 and 1000, got {n}")
    return n


def _page_size(raw: str | None) -> int:
    if raw is None:
        return 100
    try:
        n = int(raw)
    except ValueError:
        raise BadRequest(f"page_size must be an integer, got {raw!r}") from None
    if not 1 <= n <= 1000:
        raise BadRequest(f"page_size must be between 1 and 1000, got {n}")
    return n


class EmulatorApp:
    """``make_app``'s WSGI callable."""

    def __init__(self, state: State, options: Options, churn: Churn | None = None) -> None:
        self.state = state
        self.options = options
        self.churn = churn if churn is not None else Churn(state)
        self.polls = PollTracker(state.clock, state.names)
        self.churn.on_write = self.polls.written
        self.counts = {"metadata": 0, "list": 0, "write": 0, "query": 0}
        self._rng = random.Random()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO") or "/"
        method: str = environ.get("REQUEST_METHOD", "GET")
        extra: list[tuple[str, str]] = []
        try:
            if path.startswith("/_emulator/"):
                status, payload = self._emulator_route(method, path, environ)
            else:
                with self.options.lock:
                    self.options.requests += 1
                fault = self._fault(extra, path)
                if fault is not None:
                    status, payload = fault, {"status": "error", "error": "injected fault"}
                else:
                    self._check_auth(environ)
                    status, payload = 200, self._route(method, path, environ)
        except EmulatorError as exc:
            status, payload = exc.status, {"status": "error", "error": exc.message}
        body = orjson.dumps(payload)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra]
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [body]

    # --- cross-cutting ---

    def _fault(self, extra: list[tuple[str, str]], path: str) -> int | None:
        o = self.options
        delay = o.latency_ms + o.hang_ms
        if delay:
            time.sleep(delay / 1000)
        parts = path.split("/")
        if (
            o.fail_namespaces
            and len(parts) > 3
            and parts[2] == "namespaces"
            and parts[3] in o.fail_namespaces
        ):
            return 500
        if o.fail_rate and self._rng.random() < o.fail_rate:
            extra.append(("Retry-After", "1"))
            return self._rng.choice(o.fail_statuses)
        return None

    def _count(self, kind: str) -> None:
        with self.options.lock:
            self.counts[kind] += 1

    def _check_auth(self, environ: dict[str, Any]) -> None:
        key = self.options.api_key
        if key is None:
            return
        if environ.get("HTTP_AUTHORIZATION", "") != f"Bearer {key}":
            raise EmulatorError("missing or invalid API key", 401)

    @staticmethod
    def _json(environ: dict[str, Any]) -> Any:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
            try:
                raw = gzip.decompress(raw)
            except OSError as exc:
                raise BadRequest("body is not valid gzip") from exc
        if not raw:
            raise Unprocessable("request body is empty")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Unprocessable(f"request body is not valid JSON: {exc}") from exc

    # --- routes ---

    def _emulator_route(self, method: str, path: str, environ: dict[str, Any]) -> tuple[int, Any]:
        if path == "/_emulator/faults":
            if method == "POST":
                body = self._json(environ)
                churn = (
                    parse_churn(body["churn"])
                    if isinstance(body, dict) and "churn" in body
                    else None
                )
                self.options.set_faults(body)
                if churn is not None:
                    self.churn.set(*churn)
                return 200, self.options.faults()
            if method == "GET":
                return 200, self.options.faults()
            raise EmulatorError(f"method {method} not allowed", 405)
        if path == "/_emulator/churn":
            if method == "POST":
                self.churn.set(*parse_churn(self._json(environ)))
                return 200, self.churn.status()
            if method == "GET":
                return 200, self.churn.status(_recent(environ))
            raise EmulatorError(f"method {method} not allowed", 405)
        if path == "/_emulator/polls":
            if method == "POST":
                self.polls.set(self._json(environ))
            elif method != "GET":
                raise EmulatorError(f"method {method} not allowed", 405)
            return 200, self.polls.status()
        if path == "/_emulator/stats":
            with self.options.lock:
                return 200, {"requests": self.options.requests, **self.counts}
        if path == "/_emulator/health":
            reg = self.state.registry
            return 200, {
                "status": "OK",
                "namespaces": reg.count(),
                "materialized": reg.materialized(),
            }
        raise NotFound(f"no route for {method} {path}")

    def _route(self, method: str, path: str, environ: dict[str, Any]) -> Any:
        parts = path.strip("/").split("/")
        n = len(parts)
        if n < 2 or parts[0] not in ("v1", "v2") or parts[1] != "namespaces":
            raise NotFound(f"no route for {method} {path}")
        version = parts[0]
        if n >= 3:
            check_namespace_name(parts[2])
        if n == 2:
            if method == "GET" and version == "v1":
                self._count("list")
                return self._list(environ)
        elif n == 3:
            ns = parts[2]
            if method == "POST" and version == "v2":
                self._count("write")
                self.polls.written(ns)
                return self.state.write(ns, self._json(environ))
            if method == "DELETE":
                self.state.delete(ns)
                return {"status": "OK"}
        elif n == 4:
            ns, action = parts[2], parts[3]
            if action == "metadata" and method == "GET":
                self._count("metadata")
                self.polls.metadata(ns)
                return self._metadata(ns, version)
            if action == "schema" and method == "GET" and version == "v1":
                return dict(self.state.peek(ns).schema)
            if action == "query" and method == "POST" and version == "v2":
                self._count("query")
                body = self._json(environ)
                nsobj = self.state.get(ns)
                with nsobj.lock:
                    return run_query(nsobj, body)
            if action == "hint_cache_warm" and method == "GET" and version == "v1":
                self.state.peek(ns)
                return {"status": "ACCEPTED", "message": "cache warm hint accepted"}
        raise NotFound(f"no route for {method} {path}")

    def _list(self, environ: dict[str, Any]) -> Any:
        qs = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        prefix = qs.get("prefix", [""])[0]
        cursor = qs.get("cursor", [None])[0]
        size = _page_size(qs.get("page_size", [None])[0])
        after = decode_cursor(cursor) if cursor else None
        names, more = self.state.list_names(prefix, after, size)
        out: dict[str, Any] = {"namespaces": [{"id": n} for n in names]}
        if more and names:
            out["next_cursor"] = encode_cursor(names[-1])
        return out

    def _metadata(self, name: str, version: str) -> Any:
        ns = self.state.peek(name)
        with ns.lock:
            updating = self.state.is_updating(ns)
            index: dict[str, Any] = (
                {
                    "status": "updating",
                    "unindexed_bytes": ns.pending_bytes,
                    "unindexed_rows": ns.pending_rows,
                }
                if updating
                else {"status": "up-to-date"}
            )
            written = ns.last_write_ms or ns.created_ms
            return {
                "schema": dict(ns.schema),
                "approx_row_count": len(ns.docs),
                "approx_logical_bytes": max(ns.logical_bytes, 0),
                "created_at": iso_from_ms(ns.created_ms),
                "updated_at": iso_from_ms(written),
                "last_write_at": iso_from_ms(written),
                "index": index,
                "encryption": {"mode": "default"} if version == "v2" else {"sse": True},
            }


def make_app(state: State, options: Options | None = None, churn: Churn | None = None) -> WSGIApp:
    """The emulator as a WSGI callable over ``state``."""
    return EmulatorApp(state, options or Options(), churn)
