"""The query path and the verbatim proxy (DESIGN.md "The query path").

A filtered query on a namespace that is not stable, that has a ``stable_as_of`` and
whose schema carries the watermark attribute gets ``[attr, "Lte", stable_as_of]``
ANDed into its filters, so it sees the namespace as of the last stable poll. Writes
passing through stamp every upserted or patched row with the watermark attribute.
Everything else is forwarded as it came, with the caller's key swapped for the
upstream key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from backend.freshness import Freshness

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
PASS_BACK = ("content-type", "retry-after", "retry-after-ms", "x-should-retry")


@dataclass(frozen=True)
class Cut:
    """The decision for one query: the watermark applied, or None when skipped."""

    watermark_ms: int | None

    @property
    def header(self) -> str:
        return "skipped" if self.watermark_ms is None else str(self.watermark_ms)


def decide_cut(body: Any, fr: Freshness) -> Cut:
    if not isinstance(body, dict):
        return Cut(None)
    queries = body.get("queries")
    subs: list[Any] = queries if isinstance(queries, list) else [body]
    has_filters = any(isinstance(q, dict) and q.get("filters") is not None for q in subs)
    if has_filters and not fr.is_stable and fr.stable_as_of is not None and fr.has_watermark:
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
    """Stamp every upserted or patched row of a write body with the watermark attribute."""
    out = dict(body)
    for key in ("upsert_rows", "patch_rows"):
        rows = out.get(key)
        if isinstance(rows, list):
            out[key] = [{**r, attr: ms} if isinstance(r, dict) else r for r in rows]
    for key in ("upsert_columns", "patch_columns"):
        cols = out.get(key)
        if isinstance(cols, dict) and isinstance(cols.get("id"), list):
            out[key] = {**cols, attr: [ms] * len(cols["id"])}
    return out


def forward_headers(headers: Any) -> dict[str, str]:
    """The caller's headers minus hop-by-hop ones and its Layer key."""
    return {
        k: v
        for k, v in headers.items()
        if k.lower() not in HOP_BY_HOP and not k.lower().startswith("x-layer")
    }


def response_headers(resp: requests.Response) -> dict[str, str]:
    return {k: v for k, v in resp.headers.items() if k.lower() in PASS_BACK}
