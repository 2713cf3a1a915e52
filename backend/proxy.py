"""The query path and the verbatim proxy (DESIGN.md "The query path").

A filtered query on a namespace that is not stable, that has a ``stable_as_of`` and
whose schema carries the watermark attribute gets ``[attr, "Lte", stable_as_of]``
ANDed into its filters, so it sees the namespace as of the last stable poll. Writes
passing through stamp every upserted or patched row with the watermark attribute.
Everything else is forwarded as it came, with the caller's key swapped for the
upstream key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import requests

from backend.freshness import Freshness, FreshnessStore

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "host",
        "authorization",
    }
)
PASS_BACK = (
    "content-type",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "preference-applied",
)


@dataclass(frozen=True)
class Cut:
    """The decision for one query: the watermark applied, or None when skipped."""

    watermark_ms: int | None

    @property
    def header(self) -> str:
        return "skipped" if self.watermark_ms is None else str(self.watermark_ms)


def decide_cut(body: Any, fr: Freshness, dirty: Callable[[], bool] = lambda: False) -> Cut:
    """Cut a filtered query at ``stable_as_of`` while the namespace is not known stable.

    Not stable is the last poll's ``is_stable`` false, or ``dirty()`` true: a write went
    through Layer since that poll (asked only when the rest would not cut already, so a
    query without filters or on a namespace already cut costs no KV read)."""
    if not isinstance(body, dict):
        return Cut(None)
    queries = body.get("queries")
    subs: list[Any] = queries if isinstance(queries, list) else [body]
    has_filters = any(isinstance(q, dict) and q.get("filters") is not None for q in subs)
    if not has_filters or fr.stable_as_of is None or not fr.has_watermark:
        return Cut(None)
    if not fr.is_stable or dirty():
        return Cut(fr.stable_as_of)
    return Cut(None)


def apply_cut(body: dict[str, Any], attr: str, cut: Cut) -> dict[str, Any]:
    """AND the watermark filter into every (sub-)query that has filters."""
    if cut.watermark_ms is None:
        return body
    leaf = [attr, "Lte", cut.watermark_ms]

    def one(q: Any) -> Any:
        if isinstance(q, dict) and q.get("filters") is not None:
            return {**q, "filters": ["And", [q["filters"], leaf]]}
        return q

    if isinstance(body.get("queries"), list):
        return {**body, "queries": [one(q) for q in body["queries"]]}
    return one(body)


def hide_watermark(body: dict[str, Any], attr: str) -> dict[str, Any] | None:
    """Keep Layer's stamp out of ``include_attributes: true`` results (None: unchanged).

    The stamp is Layer's bookkeeping, not the caller's data: a query asking for every
    attribute gets ``exclude_attributes: [attr]`` instead, so rows compare equal to what
    was written and the upstream does not bill the attribute. A query that names the
    attribute in a list, or asks for none, is left alone.
    """

    def one(q: Any) -> Any:
        if not isinstance(q, dict):
            return q
        exclude = q.get("exclude_attributes")
        if q.get("include_attributes") is True and exclude is None:
            out = {k: v for k, v in q.items() if k != "include_attributes"}
            out["exclude_attributes"] = [attr]
            return out
        if isinstance(exclude, list) and attr not in exclude:
            return {**q, "exclude_attributes": [*exclude, attr]}
        return q

    if isinstance(body.get("queries"), list):
        new = {**body, "queries": [one(q) for q in body["queries"]]}
    else:
        new = one(body)
    return None if new == body else new


def stamp_write(body: dict[str, Any], attr: str, ms: int) -> dict[str, Any]:
    """Stamp every upserted or patched row of a write body with the watermark attribute.

    ``patch_by_filter`` gets the stamp in its ``patch``, so every row it touches is
    stamped too. ``copy_from_namespace`` and ``branch_from_namespace`` cannot be:
    the upstream copies rows server-side, with whatever stamps the source held.
    """
    out = dict(body)
    for key in ("upsert_rows", "patch_rows"):
        rows = out.get(key)
        if isinstance(rows, list):
            out[key] = [{**r, attr: ms} if isinstance(r, dict) else r for r in rows]
    for key in ("upsert_columns", "patch_columns"):
        cols = out.get(key)
        if isinstance(cols, dict) and isinstance(cols.get("id"), list):
            out[key] = {**cols, attr: [ms] * len(cols["id"])}
    pbf = out.get("patch_by_filter")
    if isinstance(pbf, dict) and isinstance(pbf.get("patch"), dict):
        out["patch_by_filter"] = {**pbf, "patch": {**pbf["patch"], attr: ms}}
    return out


def forward_headers(headers: Any) -> dict[str, str]:
    """The caller's headers minus hop-by-hop ones and its Layer key."""
    return {
        k: v
        for k, v in headers.items()
        if k.lower() not in HOP_BY_HOP and not k.lower().startswith("x-layer")
    }


def response_headers(resp: requests.Response, upstream_base: str = "") -> dict[str, str]:
    """The upstream's headers a client acts on, with ``Location`` pointing at Layer."""
    out = {k: v for k, v in resp.headers.items() if k.lower() in PASS_BACK}
    location = resp.headers.get("location")
    if location:
        out["Location"] = layer_location(location, upstream_base)
    return out


def layer_location(location: str, upstream_base: str = "") -> str:
    """The upstream's ``Location`` as a path on Layer: same path and query, no origin.

    turbopuffer answers ``Prefer: respond-async`` with an absolute URL on itself
    (``https://region.turbopuffer.com/v1/namespaces/{ns}/operations/{op}``). The SDK
    resolves ``Location`` against the URL it called and refuses another origin, so
    Layer hands back the path alone: it resolves to Layer as the client reached it,
    whatever Host or scheme a reverse proxy in between shows Layer. A path prefix of
    the upstream base URL (``https://gw/tpuf`` → ``/tpuf/v1/...``) is dropped, since
    Layer serves ``/v1`` and ``/v2`` at its root.
    """
    parts = urlsplit(location)
    path = parts.path or "/"
    prefix = urlsplit(upstream_base).path.rstrip("/")
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :] or "/"
    return path + (f"?{parts.query}" if parts.query else "")


def copies_rows(body: Any) -> bool:
    """Whether a write fills the namespace server-side from another one."""
    return isinstance(body, dict) and any(
        body.get(k) is not None for k in ("copy_from_namespace", "branch_from_namespace")
    )


def forget_cut(store: FreshnessStore, ns: str) -> None:
    """Drop ``stable_as_of`` after a copy or branch, so no cut applies until a stable poll.

    Copied rows keep the source's stamps (or none): their ``_layer_written_ms`` says
    when they were written to the *source*, not when they arrived here, so a cut at
    this namespace's old ``stable_as_of`` would show some copied rows and hide others.
    Without ``stable_as_of`` the cut is skipped (``X-Layer-Cut: skipped``), as for a
    new namespace, until the watcher next sees the namespace stable.
    """
    fr = store.get(ns)
    if fr.stable_as_of is not None or fr.is_stable:
        store.put_many([(ns, replace(fr, is_stable=False, stable_as_of=None))])
