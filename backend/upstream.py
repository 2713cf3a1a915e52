"""The client Layer uses to speak to Turbopuffer (TURBOPUFFER.md).

One ``requests`` connection pool per process (created lazily, so a gunicorn worker
never inherits its parent's sockets), with explicit connect/read timeouts and
``Accept-Encoding: identity``. Requests go straight to the pool's ``HTTPAdapter``,
skipping ``Session``'s per-call merging of settings, cookies and hooks, which Layer
does not use (about a third of the client's CPU per small call; see the README's
"Benchmarks"). Reads are retried on connection errors, timeouts, 408,
409, 429 and 5xx with the SDKs' jittered exponential backoff, honouring
``retry-after-ms``, ``Retry-After`` and ``x-should-retry``, inside a total time budget.
Writes are sent once: a retried write could apply twice.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, requote_uri
from urllib3.connectionpool import ConnectionPool
from urllib3.response import BaseHTTPResponse

from backend.errors import (
    UpstreamAuth,
    UpstreamConflict,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from common.settings import Settings

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
MAX_BACKOFF_S = 8.0


def backoff_delay(attempt: int, rand: float) -> float:
    """The SDKs' backoff: ``min(0.25 s × 2^n, 8 s) × (1 − rand×0.25)``."""
    return min(0.25 * (2**attempt), MAX_BACKOFF_S) * (1 - rand * 0.25)


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait the upstream asked for, from ``retry-after-ms`` or ``Retry-After``."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra is None:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def error_class(status: int) -> type[UpstreamError]:
    """The error an upstream status becomes on Layer's own routes (README's error map)."""
    if status in (400, 422):
        return UpstreamRejected
    if status in (401, 403):
        return UpstreamAuth
    if status == 409:
        return UpstreamConflict
    if status == 429:
        return UpstreamRateLimited
    if status in (408, 504):
        return UpstreamTimeout
    return UpstreamError


def _error_text(resp: requests.Response) -> str:
    try:
        body = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return resp.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"][:500]
    return resp.text[:200]


class _Adapter(HTTPAdapter):
    """``HTTPAdapter`` without per-call work Layer never needs.

    With no proxy and no client certificate, the connection pool for a base URL is
    looked up once instead of on every call (``select_proxy`` and the pool-key
    normalisation parse the URL several times), and responses get no cookie jar. ``send``
    itself is the base class's, so tests that stub it with ``responses`` still do.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pools: dict[tuple[str, bool | str], ConnectionPool] = {}

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> ConnectionPool:
        if proxies or cert or verify is None:
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        origin = "/".join(str(request.url).split("/", 3)[:3])  # scheme://host:port
        pool = self._pools.get((origin, verify))
        if pool is None:
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            self._pools[(origin, verify)] = pool
        return pool

    def request_url(self, request: requests.PreparedRequest, proxies: Any) -> str:
        return request.path_url if not proxies else super().request_url(request, proxies)

    def build_response(
        self, req: requests.PreparedRequest, resp: BaseHTTPResponse
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(resp.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason or ""
        response.url = str(req.url)
        response.request = req
        response.connection = self
        return response

    def close(self) -> None:
        self._pools.clear()
        super().close()


class Upstream:
    """Turbopuffer over HTTP. Thread-safe; one instance per process."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        on_request: Callable[[str, str, int | None, float], None] | None = None,
    ) -> None:
        self.base_url = settings.turbopuffer_base_url
        self._key = settings.turbopuffer_api_key
        self.timeout = (settings.upstream_connect_timeout_s, settings.upstream_read_timeout_s)
        self.retries = settings.upstream_retries
        self.budget_s = settings.upstream_retry_budget_s
        self.interactive_budget_s = settings.interactive_budget_ms / 1000
        self.pool_size = max(settings.watch_concurrency, 64)
        self._sleep = sleep
        self._rand = rand
        self._on_request = on_request
        self._lock = threading.Lock()
        self._adapter: _Adapter | None = None
        self._proxies: dict[str, str] = {}
        self._verify: bool | str = True
        self._headers = {"Accept-Encoding": "identity", "User-Agent": "layer/0.1"}
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"
        self._pid = 0

    # -- transport ---------------------------------------------------------------------
    @property
    def adapter(self) -> _Adapter:
        """This process's connection pool; rebuilt after a fork so no socket is shared."""
        pid = os.getpid()
        adapter = self._adapter
        if adapter is None or self._pid != pid:
            with self._lock:
                if self._adapter is None or self._pid != pid:
                    # Resolve proxies and the CA bundle from the environment once, not on
                    # every request (requests re-reads os.environ per call: ~25% of the
                    # CPU of a small upstream call in the listing fan-out).
                    self._proxies = requests.utils.get_environ_proxies(self.base_url)
                    self._verify = (
                        os.environ.get("REQUESTS_CA_BUNDLE")
                        or os.environ.get("CURL_CA_BUNDLE")
                        or True
                    )
                    self._adapter = _Adapter(
                        pool_connections=4, pool_maxsize=self.pool_size, max_retries=0
                    )
                    self._pid = pid
                adapter = self._adapter
        return adapter

    def close(self) -> None:
        if self._adapter is not None:
            self._adapter.close()
            self._adapter = None

    def _prepare(
        self, method: str, path: str, params: Any, data: bytes | None, headers: Mapping[str, str]
    ) -> requests.PreparedRequest:
        """What ``Session.prepare_request`` would build, without its per-call merging."""
        url = self.base_url + path
        if params:
            query = (
                params.decode("latin-1")
                if isinstance(params, bytes)
                else params
                if isinstance(params, str)
                else urlencode(params, doseq=True)
            )
            url = f"{url}?{query}"
        prep = requests.PreparedRequest()
        prep.method = method
        prep.url = requote_uri(url)
        h = CaseInsensitiveDict(self._headers)
        h.update(headers)
        if data is not None:
            h["Content-Length"] = str(len(data))
        elif method not in ("GET", "HEAD"):
            h["Content-Length"] = "0"
        prep.headers = h
        prep.body = data
        return prep

    def _send_once(
        self,
        method: str,
        path: str,
        params: Any,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: tuple[float, float] | None,
        route: str,
        decode: bool = True,
    ) -> requests.Response:
        t0 = time.perf_counter()
        status: int | None = None
        try:
            adapter = self.adapter  # first: it also resolves proxies and the CA bundle
            prep = self._prepare(method, path, params, data, headers or {})
            resp = adapter.send(
                prep, timeout=timeout or self.timeout, verify=self._verify, proxies=self._proxies
            )
            # Read the body now: the connection goes back to the pool even when the
            # response is dropped for a retry.
            if decode:
                resp.content  # noqa: B018
            else:  # the bytes as sent (still compressed when Content-Encoding says so)
                resp._content = resp.raw.read(decode_content=False)
            status = resp.status_code
            return resp
        finally:
            if self._on_request is not None:
                self._on_request(method, route, status, time.perf_counter() - t0)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool,
        timeout: tuple[float, float] | None = None,
        route: str = "other",
        decode: bool = True,
        no_retry: frozenset[int] = frozenset(),
        deadline: float | None = None,
    ) -> requests.Response:
        """Send a request; retry it (when ``retry``) per the policy. Returns the last response.

        Raises ``UpstreamTimeout`` / ``UpstreamError`` only when no response was ever
        received; a response with an error status is returned for the caller to map.
        ``decode=False`` keeps the body as the upstream encoded it (the proxy relays
        gzip bytes with their ``Content-Encoding`` rather than inflating them).
        ``deadline`` (``time.monotonic()``; see ``interactive_deadline``) ends the retry
        budget earlier and bounds each attempt's timeouts by the time left, so the call
        returns by then whatever the upstream does.
        """
        if json_body is not None:
            data = orjson.dumps(json_body)
            headers = {**(headers or {}), "Content-Type": "application/json"}
        end = time.monotonic() + self.budget_s
        if deadline is not None:
            end = min(end, deadline)
        attempt = 0
        prev: requests.Response | None = None
        last_exc: Exception | None = None
        while True:
            wait: float | None
            attempt_timeout = timeout
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    if prev is not None:
                        return prev
                    if last_exc is not None:  # the last failure says more than the clock
                        self._raise_transport(last_exc, method, path)
                    raise UpstreamTimeout(
                        f"upstream did not answer {method} {path} within the interactive budget"
                    )
                connect, read = timeout or self.timeout
                attempt_timeout = (min(connect, left), min(read, left))
            try:
                resp = self._send_once(
                    method, path, params, data, headers, attempt_timeout, route, decode
                )
            except requests.Timeout as exc:
                last_exc = exc
                resp = None
            except requests.ConnectionError as exc:
                last_exc = exc
                resp = None
            if resp is not None:
                should = resp.headers.get("x-should-retry")
                retryable = (
                    resp.status_code in RETRY_STATUSES if should is None else should == "true"
                ) and resp.status_code not in no_retry
                if not (retry and retryable) or attempt >= self.retries:
                    return resp
                wait = retry_after_s(resp.headers)
                prev, last_exc = resp, None
            else:
                if not retry or attempt >= self.retries:
                    self._raise_transport(last_exc, method, path)
                wait = None
                prev = None
            delay = backoff_delay(attempt, self._rand()) if wait is None else wait
            if time.monotonic() + delay > end:
                if resp is not None:
                    return resp
                self._raise_transport(last_exc, method, path)
            log.info(
                "upstream retry",
                extra={
                    "attempt": attempt + 1,
                    "path_route": route,
                    "delay_s": round(delay, 3),
                    "reason": str(resp.status_code)
                    if resp is not None
                    else type(last_exc).__name__,
                },
            )
            self._sleep(delay)
            attempt += 1

    def interactive_deadline(self) -> float:
        """When a call made for an interactive route must be over
        (``LAYER_INTERACTIVE_BUDGET_MS`` from now), for ``send(deadline=...)``."""
        return time.monotonic() + self.interactive_budget_s

    @staticmethod
    def _raise_transport(exc: Exception | None, method: str, path: str) -> None:
        if isinstance(exc, requests.Timeout):
            raise UpstreamTimeout(f"upstream timed out on {method} {path}") from None
        raise UpstreamError(
            f"upstream unreachable on {method} {path}: {type(exc).__name__}"
        ) from None

    # -- typed calls (Layer's own use; errors mapped) ----------------------------------
    def _error_text(self, resp: requests.Response) -> str:
        text = _error_text(resp)
        return text.replace(self._key, "[upstream key]") if self._key else text

    def _json(self, resp: requests.Response, what: str) -> Any:
        status = resp.status_code
        if status == 404:
            raise UpstreamNotFound(f"{what}: not found upstream ({self._error_text(resp)})")
        if status >= 400:
            cls = error_class(status)
            message = f"{what}: upstream answered {status}: {self._error_text(resp)}"
            if cls is UpstreamAuth:
                message += (
                    " (the upstream refused Layer's TURBOPUFFER_API_KEY: an operator must fix it)"
                )
            raise cls(message, upstream_status=status, retry_after_s=retry_after_s(resp.headers))
        try:
            return orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise UpstreamError(
                f"{what}: upstream sent invalid JSON", upstream_status=resp.status_code
            ) from None

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        route: str,
        *,
        retry: bool,
        body: dict[str, Any] | None = None,
        params: Any = None,
        timeout: tuple[float, float] | None = None,
        no_retry: frozenset[int] = frozenset(),
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Send, map errors, and insist on a JSON object back."""
        resp = self.send(
            method,
            path,
            params=params,
            json_body=body,
            retry=retry,
            timeout=timeout,
            route=route,
            no_retry=no_retry,
            deadline=deadline,
        )
        out = self._json(resp, what)
        if not isinstance(out, dict):
            raise UpstreamError(f"{what}: unexpected payload", upstream_status=resp.status_code)
        return out

    def list_namespaces(
        self,
        prefix: str | None = None,
        cursor: str | None = None,
        page_size: int = 100,
        *,
        no_retry: frozenset[int] = frozenset(),
        deadline: float | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"page_size": page_size}
        if prefix:
            params["prefix"] = prefix
        if cursor:
            params["cursor"] = cursor
        body = self._call(
            "GET",
            "/v1/namespaces",
            "list namespaces",
            "list_namespaces",
            retry=True,
            params=params,
            no_retry=no_retry,
            deadline=deadline,
        )
        if not isinstance(body.get("namespaces"), list):
            raise UpstreamError("list namespaces: unexpected payload", upstream_status=200)
        return body

    def metadata(
        self,
        ns: str,
        timeout: tuple[float, float] | None = None,
        *,
        no_retry: frozenset[int] = frozenset(),
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """``no_retry``: statuses handed back at once (the watcher paces 429s itself);
        ``deadline``: an interactive route's (``interactive_deadline``)."""
        path = f"/v2/namespaces/{quote(ns, safe='')}/metadata"
        return self._call(
            "GET",
            path,
            f"namespace {ns!r} metadata",
            "metadata",
            retry=True,
            timeout=timeout,
            no_retry=no_retry,
            deadline=deadline,
        )

    def query(self, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"/v2/namespaces/{quote(ns, safe='')}/query"
        return self._call("POST", path, f"query on {ns!r}", "query", retry=True, body=body)

    def write(self, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"/v2/namespaces/{quote(ns, safe='')}"
        return self._call("POST", path, f"write to {ns!r}", "write", retry=False, body=body)

    def ping(self) -> None:
        """Raise ``UpstreamError`` unless the upstream answers a one-item listing."""
        resp = self.send(
            "GET",
            "/v1/namespaces",
            params={"page_size": 1},
            retry=False,
            timeout=(2.0, 5.0),
            route="ping",
        )
        self._json(resp, "upstream readiness")
