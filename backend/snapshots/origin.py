"""Counting facets from the upstream (the ``origin`` source).

The scan is turbopuffer's documented export pattern: ``rank_by ["id","asc"]``, a page
of ``page_size``, ``["id","Gt",last]`` ANDed with the caller's filters and the
watermark cut, only the counted attributes, strong consistency; one scan counts every
requested field. For a scalar field the upstream's ``aggregate_by`` + ``group_by``
gives the same histogram in one request; a field that comes back with the full 10,000
groups may have more, so it falls back to the scan, which measures
``distinct_observed`` exactly (and that field is scanned without asking for an hour). An array field is counted on the server through
``group_by [{"f": ["ForEachUnique", "f"]}]``: one group per distinct element value,
holding each document once however often its array repeats the value, which is how the
scan counts it too (``FieldCounter``). An upstream that answers 400/422 to that grammar,
when the scan with the same filters then succeeds, is remembered for an hour
(``ServerCounting``) and array fields go to the scan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from backend.errors import UpstreamError
from backend.snapshots.histogram import FieldCounter
from backend.upstream import Upstream
from common.filters import and_filters
from common.timeutil import now_ms

log = logging.getLogger(__name__)

AGG_GROUP_LIMIT = 10_000
UNSUPPORTED_RETRY_MS = 3_600_000
WIDE_FIELDS_KEPT = 10_000
Progress = Callable[[int], None]


class ServerCounting:
    """What the upstream's aggregations can count, learned by asking: whether it groups
    array fields (``ForEachUnique``), and which fields have more groups than one answer
    holds (those are scanned for an hour instead of being asked again each time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.unsupported_until_ms = 0
        self.fallbacks = 0
        self.server_counted = 0
        self.too_many_groups = 0
        self._wide: dict[tuple[str, str], int] = {}

    def arrays_enabled(self) -> bool:
        return now_ms() >= self.unsupported_until_ms

    def mark_unsupported(self, reason: str) -> None:
        with self._lock:
            if self.arrays_enabled():
                log.info("upstream does not count array fields; scanning", extra={"why": reason})
            self.unsupported_until_ms = now_ms() + UNSUPPORTED_RETRY_MS
            self.fallbacks += 1

    def mark_counted(self) -> None:
        with self._lock:
            self.server_counted += 1

    def known_wide(self, ns: str, field: str) -> bool:
        """Whether ``field`` of ``ns`` came back with a full page of groups this hour."""
        with self._lock:
            until = self._wide.get((ns, field))
            if until is not None and now_ms() >= until:
                del self._wide[(ns, field)]
                until = None
            return until is not None

    def mark_wide(self, ns: str, field: str) -> None:
        with self._lock:
            self._wide.pop((ns, field), None)
            if len(self._wide) >= WIDE_FIELDS_KEPT:
                del self._wide[next(iter(self._wide))]  # the oldest
            self._wide[(ns, field)] = now_ms() + UNSUPPORTED_RETRY_MS
            self.too_many_groups += 1


def is_scalar_type(schema: dict[str, Any], field: str) -> bool:
    spec = schema.get(field)
    t = spec.get("type") if isinstance(spec, dict) else spec
    return isinstance(t, str) and not t.startswith("[")


def is_array_type(schema: dict[str, Any], field: str) -> bool:
    spec = schema.get(field)
    t = spec.get("type") if isinstance(spec, dict) else spec
    return isinstance(t, str) and t.startswith("[")


def aggregate_field(
    upstream: Upstream, ns: str, field: str, filters: Any, *, array: bool = False
) -> tuple[FieldCounter, int] | None:
    """Count one field with one aggregation; None when the scan must decide.

    ``array``: the field is an array attribute, grouped with ``ForEachUnique``. The
    group key comes back under the field's name, so the count's label must differ.
    """
    label = "count" if field == "n" else "n"
    body: dict[str, Any] = {
        "aggregate_by": {label: ["Count"]},
        "group_by": [{field: ["ForEachUnique", field]} if array else field],
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
        n = int(g.get(label, 0))
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
    server: ServerCounting | None = None,
    stats: dict[str, Any] | None = None,
) -> tuple[list[FieldCounter], int]:
    """Count ``fields``: the aggregate fast path where equivalent, one scan for the rest.

    Returns the counters and the documents read from the upstream by the scan (or, with
    no scan, the documents the scalar aggregations covered). ``stats``, when given,
    gets ``docs_read`` (rows the scan fetched) and ``server_counted`` (field names).
    """
    done: dict[str, FieldCounter] = {}
    docs_seen = 0
    refusal: str | None = None
    if strategy == "auto":
        for f in fields:
            array = is_array_type(schema, f)
            if not array and not is_scalar_type(schema, f):
                continue
            if array and (server is None or not server.arrays_enabled()):
                continue
            if server is not None and server.known_wide(ns, f):
                continue
            try:
                got = aggregate_field(upstream, ns, f, filters, array=array)
            except UpstreamError as exc:
                if not array or exc.upstream_status not in (400, 422) or server is None:
                    raise
                refusal = str(exc)  # the grammar, or the filters? the scan will tell
                continue
            if got is None:
                if server is not None:
                    server.mark_wide(ns, f)
                continue
            done[f], n = got
            if array and server is not None:  # one group per distinct element
                server.mark_counted()
            elif not array:
                docs_seen = max(docs_seen, n)
    rest = [f for f in fields if f not in done]
    if stats is not None:
        stats["server_counted"] = [f for f in fields if f in done]
        stats["docs_read"] = 0
    if rest:
        counters, scanned = scan_fields(upstream, ns, rest, filters, page_size, progress)
        if refusal is not None and server is not None:
            server.mark_unsupported(refusal)  # the same filters scanned fine
        done.update({c.name: c for c in counters})
        docs_seen = scanned
        if stats is not None:
            stats["docs_read"] = scanned
    else:
        progress(docs_seen)
    return [done[f] for f in fields], docs_seen
