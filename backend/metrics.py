"""Prometheus metrics (``GET /metrics``).

Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (the Procfile config does) and every
worker's samples are merged at scrape time. Labels are bounded by construction: route
templates and status codes, never a key, a namespace, a filter value or other user
input.
"""

from __future__ import annotations

import os

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
    "1 when this process holds the watcher lease",
    multiprocess_mode="max",
)
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
