"""Prometheus metrics (``GET /metrics``).

Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (the Procfile config does) and every
worker's samples are merged at scrape time. Labels are bounded by construction: route
templates and status codes, never a key, a namespace, a filter value or other user
input.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from backend.openapi import operation

UPSTREAM_SECONDS = Histogram(
    "layer_upstream_request_seconds",
    "Upstream request latency",
    ["route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UPSTREAM_ERRORS = Counter(
    "layer_upstream_errors_total", "Upstream requests that failed", ["route", "status"]
)
WATCHER_TICK_SECONDS = Histogram("layer_watcher_tick_seconds", "Watcher tick duration")
WATCHER_POLLED = Gauge(
    "layer_watcher_namespaces_polled", "Namespaces polled in the last tick", multiprocess_mode="max"
)
WATCHER_UNSTABLE = Gauge(
    "layer_watcher_unstable_namespaces",
    "Namespaces unstable in the last tick",
    multiprocess_mode="max",
)
LEASE_HELD = Gauge(
    "layer_watcher_lease_held",
    "1 when this process holds at least one watcher shard lease",
    multiprocess_mode="max",
)
WATCHER_POLLS = Counter(
    "layer_watcher_polls_total", "Metadata polls by the watcher, by lane", ["lane"]
)
WATCHER_POLLS_PER_S = Gauge(
    "layer_watcher_polls_per_second",
    "Polls per second over the last tick",
    multiprocess_mode="livesum",
)
WATCHER_FAST_LANE = Gauge(
    "layer_watcher_fast_lane_namespaces",
    "Dirty namespaces (written through Layer, not yet seen stable) in this watcher's shards",
    multiprocess_mode="livesum",
)
WATCHER_STRETCH = Gauge(
    "layer_watcher_sweep_stretch",
    "How much longer than LAYER_SWEEP_MAX_MS the sweep takes (1 = on time)",
    multiprocess_mode="max",
)
WATCHER_SHARDS = Gauge(
    "layer_watcher_shards_held", "Shards this watcher holds", multiprocess_mode="livesum"
)
WATCHER_DEFERRED = Gauge(
    "layer_watcher_deferred_polls",
    "Due polls left for a later tick (no budget left) in the last tick",
    multiprocess_mode="livesum",
)
WATCHER_BUDGET_WAIT = Counter(
    "layer_watcher_budget_wait_seconds_total", "Time the watcher's calls waited for a token"
)
WATCHER_THROTTLED = Counter(
    "layer_watcher_throttled_total", "Upstream 429 answers to the watcher's calls"
)
WATCHER_LIST_CALLS = Counter("layer_watcher_list_calls_total", "Upstream list pages read")
WATCHER_PRUNED = Counter("layer_watcher_pruned_total", "Records pruned (namespace gone upstream)")
JOBS = Counter("layer_snapshot_jobs_total", "Jobs by kind and final state", ["kind", "state"])
DOCS_SCANNED = Counter(
    "layer_documents_scanned_total", "Documents read by snapshot and warm jobs", ["kind"]
)
LIST_CACHE = Counter("layer_list_cache_total", "Listing cache lookups", ["result"])
WATCH_SNAPSHOTS = Counter(
    "layer_watcher_snapshots_total",
    "Watcher snapshot decisions (written, unchanged, deferred, skipped_max_docs, failed)",
    ["outcome"],
)
WATCH_DOCS_READ = Counter(
    "layer_watcher_documents_read_total", "Documents the watcher's snapshots read from upstream"
)
HISTORY_PRUNED = Counter("layer_history_pruned_total", "Objects deleted by retention", ["kind"])

bp = Blueprint("metrics", __name__)


def observe_upstream(method: str, route: str, status: int | None, seconds: float) -> None:
    label = "error" if status is None else str(status)
    UPSTREAM_SECONDS.labels(route, label).observe(seconds)
    if status is None or status >= 400:
        UPSTREAM_ERRORS.labels(route, label).inc()


_budget_seen = {"waited": 0.0}


def observe_tick(result: Any, bucket: Any) -> None:
    """A watcher tick's figures (``backend.watcher.TickResult``, ``TokenBucket``)."""
    held = bool(result.leader)
    LEASE_HELD.set(1 if held else 0)
    WATCHER_SHARDS.set(len(result.shards))
    waited = float(bucket.waited_s)
    WATCHER_BUDGET_WAIT.inc(max(0.0, waited - _budget_seen["waited"]))
    _budget_seen["waited"] = waited
    if not held:
        WATCHER_FAST_LANE.set(0)
        WATCHER_POLLS_PER_S.set(0)
        return
    WATCHER_TICK_SECONDS.observe(result.duration_ms / 1000)
    WATCHER_POLLED.set(result.namespaces)
    WATCHER_UNSTABLE.set(result.unstable)
    WATCHER_POLLS.labels("fast").inc(result.fast)
    WATCHER_POLLS.labels("sweep").inc(result.swept)
    WATCHER_POLLS_PER_S.set(result.polls_per_s)
    WATCHER_FAST_LANE.set(result.dirty)
    WATCHER_STRETCH.set(result.stretch)
    WATCHER_DEFERRED.set(result.deferred)
    WATCHER_THROTTLED.inc(result.throttled)
    WATCHER_LIST_CALLS.inc(result.list_calls)
    WATCHER_PRUNED.inc(result.pruned)


def observe_list_cache(hit: bool) -> None:
    LIST_CACHE.labels("hit" if hit else "miss").inc()


@bp.get("/metrics")
@operation(
    "Prometheus metrics",
    responses={200: {"type": "string"}},
    media_type="text/plain",
    tags=("ops",),
)
def metrics() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        data = generate_latest(registry)
    else:
        data = generate_latest()
    return Response(data, mimetype=CONTENT_TYPE_LATEST)
