"""A small synchronous client for Layer's own ``/v2`` API.

The dashboard (and scripts) talk to the backend over HTTP only, through this client.
It keeps one ``requests.Session`` so connections are reused across polls, and turns
every failure into one of two exceptions so callers never see a ``requests`` type:
``LayerAPIError`` when Layer answered with an error, ``LayerUnreachable`` when it did
not answer at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests

__all__ = [
    "LayerAPIError",
    "LayerClient",
    "LayerClientError",
    "LayerUnreachable",
    "timeout_for_budget",
]


class LayerClientError(Exception):
    """Base class of everything the client raises."""


class LayerAPIError(LayerClientError):
    """Layer answered with an error status; ``code`` and ``message`` come from its body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class LayerUnreachable(LayerClientError):
    """No answer from Layer: connection refused, DNS failure, timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _reason(exc: Exception) -> str:
    """A short cause for a connection failure, instead of urllib3's nested repr."""
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("Temporary failure in name resolution", "DNS failure"),
        ("Network is unreachable", "network unreachable"),
        ("Connection reset", "connection reset"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__


def timeout_for_budget(budget_ms: int) -> float:
    """The HTTP timeout for a backend whose interactive routes answer within ``budget_ms``
    (``GET /v2/whoami``'s ``interactive_budget_ms``): the budget plus a margin for Layer's
    own work, so an upstream that is slow shows as Layer's 502/504 naming it, and only a
    backend that does not answer at all as a timeout."""
    budget_s = max(0, budget_ms) / 1000
    return budget_s + max(BUDGET_MARGIN_S, budget_s / 2)


BUDGET_MARGIN_S = 1.0


def _seg(value: str) -> str:
    """Quote one path segment (namespace names and SHAs go into the path)."""
    return quote(value, safe="")


class LayerClient:
    """Blocking client; safe to share across threads for reads (one Session)."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 3.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self._session.close()

    def use_budget(self, budget_ms: int) -> None:
        """Wait for answers as long as the backend's interactive budget allows."""
        self.timeout_s = timeout_for_budget(budget_ms)

    # -- transport ---------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
    ) -> Any:
        url = f"{self.base_url}{path}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._session.request(
                method, url, params=clean, json=json_body, timeout=self.timeout_s
            )
        except requests.Timeout as exc:
            raise LayerUnreachable(f"timed out after {self.timeout_s:g}s: {url}") from exc
        except requests.ConnectionError as exc:
            raise LayerUnreachable(f"cannot connect to {self.base_url} ({_reason(exc)})") from exc
        except requests.RequestException as exc:
            raise LayerUnreachable(f"request to {url} failed: {exc}") from exc
        if resp.status_code >= 400:
            raise self._error(resp)
        try:
            return resp.json()
        except ValueError as exc:
            raise LayerAPIError(
                resp.status_code, "bad_response", f"response from {url} is not JSON"
            ) from exc

    @staticmethod
    def _error(resp: requests.Response) -> LayerAPIError:
        code = f"http_{resp.status_code}"
        message = resp.reason or "error"
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
            code = str(err.get("code") or code)
            message = str(err.get("message") or message)
        elif resp.text:
            message = resp.text[:200]
        return LayerAPIError(resp.status_code, code, message)

    # -- inventory ---------------------------------------------------------------------

    def list_namespaces(
        self,
        prefix: str | None = None,
        cursor: str | None = None,
        page_size: int = 1000,
        state: str | None = None,
    ) -> dict[str, Any]:
        """One listing page. ``state`` (``unstable``, ``stuck`` or ``error``) lists only
        the namespaces in that state, from the watcher's records."""
        params = {
            "prefix": prefix or None,
            "cursor": cursor,
            "page_size": page_size,
            "state": state or None,
        }
        result: dict[str, Any] = self._request("GET", "/v2/namespaces", params=params)
        return result

    def summary(self) -> dict[str, Any]:
        """``GET /v2/namespaces/summary``: totals over every namespace, from the KV."""
        result: dict[str, Any] = self._request("GET", "/v2/namespaces/summary")
        return result

    def iter_all_namespaces(
        self, prefix: str | None = None, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every namespace row, following ``next_cursor`` until it is null."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.list_namespaces(prefix=prefix, cursor=cursor, page_size=page_size)
            yield from page.get("namespaces", [])
            cursor = page.get("next_cursor")
            if not cursor or cursor in seen:
                return
            seen.add(cursor)

    def metadata(self, ns: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/v2/namespaces/{_seg(ns)}/metadata")
        return result

    # -- snapshots ---------------------------------------------------------------------

    def history(self, ns: str, limit: int = 50, before: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request(
            "GET", f"/v2/namespaces/{_seg(ns)}/history", params={"limit": limit, "before": before}
        )
        return result

    def snapshot(self, ns: str, sha: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "GET", f"/v2/namespaces/{_seg(ns)}/snapshots/{_seg(sha)}"
        )
        return result

    def diff(self, ns: str, a: str, b: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "GET", f"/v2/namespaces/{_seg(ns)}/snapshots/{_seg(a)}/diff/{_seg(b)}"
        )
        return result

    def create_snapshot(
        self,
        ns: str,
        field: str,
        source: str = "auto",
        filters: Any = None,
        page_size: int = 1000,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"field": field, "source": source, "page_size": page_size}
        if filters is not None:
            body["filters"] = filters
        result: dict[str, Any] = self._request(
            "POST", f"/v2/namespaces/{_seg(ns)}/snapshots", json_body=body
        )
        return result

    def jobs(self, ns: str) -> list[dict[str, Any]]:
        body = self._request("GET", f"/v2/namespaces/{_seg(ns)}/snapshot-jobs")
        jobs: list[dict[str, Any]] = body.get("jobs", []) if isinstance(body, dict) else []
        return jobs

    def job(self, ns: str, id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "GET", f"/v2/namespaces/{_seg(ns)}/snapshot-jobs/{_seg(id)}"
        )
        return result

    def whoami(self) -> dict[str, Any]:
        """The caller's key role and the upstream behind this backend (``GET /v2/whoami``)."""
        result: dict[str, Any] = self._request("GET", "/v2/whoami")
        return result

    def cancel_job(self, ns: str, id: str) -> dict[str, Any]:
        """Ask a running job to stop (202); 409 when it has finished, 404 when unknown."""
        result: dict[str, Any] = self._request(
            "DELETE", f"/v2/namespaces/{_seg(ns)}/snapshot-jobs/{_seg(id)}"
        )
        return result

    def prune_history(
        self, ns: str, *, dry_run: bool = True, keep: str | None = None
    ) -> dict[str, Any]:
        """Apply the retention policy (``keep`` overrides LAYER_HISTORY_KEEP)."""
        params = {"dry_run": "true" if dry_run else "false", "keep": keep}
        result: dict[str, Any] = self._request(
            "POST", f"/v2/namespaces/{_seg(ns)}/history/prune", params=params
        )
        return result

    # -- document cache ----------------------------------------------------------------

    def warm_cache(self, ns: str) -> dict[str, Any]:
        """Start (or join) a cache warm; returns its job."""
        result: dict[str, Any] = self._request("POST", f"/v2/namespaces/{_seg(ns)}/cache/warm")
        return result

    def drop_cache(self, ns: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("DELETE", f"/v2/namespaces/{_seg(ns)}/cache")
        return result

    # -- activity ----------------------------------------------------------------------

    def activity(
        self,
        since_ms: int,
        limit: int = 100,
        namespace: str | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        params = {"since": since_ms, "limit": limit, "namespace": namespace, "cursor": cursor}
        result: dict[str, Any] = self._request("GET", "/v2/activity/snapshots", params=params)
        return result


def check_backend_url(url: str, timeout_s: float = 3.0) -> str | None:
    """What is wrong with ``url`` as a Layer backend URL, in one line; None when it looks right.

    A URL without a scheme, or one that answers but is not Layer (the emulator or
    Turbopuffer itself answer ``/healthz`` with 404), would otherwise surface as a
    library's message or a bare 404 on the first refresh. An unreachable backend is not
    refused here: the dashboard starts, says so in its banner and keeps retrying.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        hint = f" (did you mean http://{url}?)" if "://" not in url else ""
        return f"--url {url!r} is not an http:// or https:// URL{hint}"
    try:
        resp = requests.get(f"{url.rstrip('/')}/healthz", timeout=timeout_s)
    except requests.RequestException:
        return None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict) or body.get("status") != "ok":
        return (
            f"{url} answers but is not a Layer backend (GET /healthz gave {resp.status_code}); "
            "point --url at 'layer serve' (Turbopuffer and the emulator are its upstream)"
        )
    return None
