"""Counting facets from the upstream (the ``origin`` source).

The scan is turbopuffer's documented export pattern: ``rank_by ["id","asc"]``, a page
of ``page_size``, ``["id","Gt",last]`` ANDed with the caller's filters and the
watermark cut, only the counted attributes, strong consistency; one scan counts every
requested field. For a scalar field the upstream's ``aggregate_by`` + ``group_by``
gives the same histogram in one request; a field that comes back with the full 10,000
groups may have more, so it falls back to the scan, which measures
``distinct_observed`` exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from backend.snapshots.histogram import FieldCounter
from backend.upstream import Upstream
from common.filters import and_filters

AGG_GROUP_LIMIT = 10_000
Progress = Callable[[int], None]


def is_scalar_type(schema: dict[str, Any], field: str) -> bool:
    spec = schema.get(field)
    t = spec.get("type") if isinstance(spec, dict) else spec
    return isinstance(t, str) and not t.startswith("[")


def aggregate_field(
    upstream: Upstream, ns: str, field: str, filters: Any
) -> tuple[FieldCounter, int] | None:
    """Count one scalar field with one aggregation; None when the scan must decide."""
    body: dict[str, Any] = {
        "aggregate_by": {"n": ["Count"]},
        "group_by": [field],
        "limit": AGG_GROUP_LIMIT,
        "consistency": {"level": "strong"},
    }
    if filters is not None:
        body["filters"] = filters
    out = upstream.query(ns, body)
    groups = out.get("aggregation_groups")
    if not isinstance(groups, list) or len(groups) >= AGG_GROUP_LIMIT:
        return None
    counter = FieldCounter(field)
    docs = 0
    for g in groups:
        n = int(g.get("n", 0))
        docs += n
        counter.add_count(g.get(field), n)
    return counter, docs


def scan_fields(
    upstream: Upstream,
    ns: str,
    fields: list[str],
    filters: Any,
    page_size: int,
    progress: Progress,
) -> tuple[list[FieldCounter], int]:
    """Page the namespace once, counting every field.

    The next page is requested as soon as the current one's last id is known, and
    counted while that request is in flight, so the upstream's time and Layer's counting
    overlap instead of adding up.
    """
    counters = [FieldCounter(f) for f in fields]

    def fetch(last: Any) -> list[dict[str, Any]]:
        page_filter = and_filters(filters, None if last is None else ["id", "Gt", last])
        body: dict[str, Any] = {
            "rank_by": ["id", "asc"],
            "limit": page_size,
            "include_attributes": list(fields),
            "consistency": {"level": "strong"},
        }
        if page_filter is not None:
            body["filters"] = page_filter
        rows = upstream.query(ns, body).get("rows") or []
        return list(rows)

    scanned = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="layer-scan") as pool:
        rows = fetch(None)
        while True:
            ahead: Future[list[dict[str, Any]]] | None = None
            if len(rows) == page_size:
                ahead = pool.submit(fetch, rows[-1]["id"])
            for c in counters:
                c.add_rows(rows)
            scanned += len(rows)
            progress(scanned)
            if ahead is None:
                return counters, scanned
            rows = ahead.result()


def count_origin(
    upstream: Upstream,
    ns: str,
    fields: list[str],
    *,
    filters: Any,
    page_size: int,
    schema: dict[str, Any],
    strategy: str,
    progress: Progress,
) -> tuple[list[FieldCounter], int]:
    """Count ``fields``: the aggregate fast path where equivalent, one scan for the rest."""
    done: dict[str, FieldCounter] = {}
    docs_seen = 0
    if strategy == "auto":
        for f in fields:
            if not is_scalar_type(schema, f):
                continue
            got = aggregate_field(upstream, ns, f, filters)
            if got is not None:
                done[f], n = got
                docs_seen = max(docs_seen, n)
    rest = [f for f in fields if f not in done]
    if rest:
        counters, scanned = scan_fields(upstream, ns, rest, filters, page_size, progress)
        done.update({c.name: c for c in counters})
        docs_seen = scanned
    else:
        progress(docs_seen)
    return [done[f] for f in fields], docs_seen
