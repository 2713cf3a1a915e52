"""Canned Layer API payloads in the documented shapes (seeds 000/003 and DESIGN.md).

"Now" is frozen at NOW_MS for every test, so relative times are deterministic.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tui.fake import body_sha

NOW_MS = 1_747_300_010_000  # 2025-05-15 09:06:50 UTC


def ns_row(name: str, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "row_count": 12500,
        "size_bytes": 48_800_000,
        "stable_as_of_ms": NOW_MS - 3000,
        "is_stable": True,
        "cache_state": {"state": "warm", "warm_inflight": False},
        "last_write_ms": NOW_MS - 4000,
        "shadow": False,
        "labels": {},
    }
    row.update(over)
    return row


NAMESPACES: list[dict[str, Any]] = [
    ns_row("products", labels={"team": "search"}),
    ns_row(
        "orders",
        row_count=2_450_000,
        size_bytes=9_100_000_000,
        is_stable=False,
        stable_as_of_ms=NOW_MS - 125_000,
        cache_state={"state": "warming", "warm_inflight": True},
        last_write_ms=NOW_MS - 2000,
        labels={"team": "commerce"},
    ),
    ns_row(
        "users",
        row_count=880,
        size_bytes=1_200_000,
        cache_state={"state": "cold", "warm_inflight": False},
        last_write_ms=NOW_MS - 86_400_000 * 3,
    ),
    ns_row(
        "broken-ns",
        row_count=None,
        size_bytes=None,
        last_write_ms=None,
        stable_as_of_ms=None,
        is_stable=False,
        cache_state={"state": "cold", "warm_inflight": False},
        metadata_error="upstream metadata call failed: 504 gateway timeout",
    ),
    ns_row(
        "prod-logs",
        row_count=51_000_000,
        size_bytes=310_000_000_000,
        shadow=True,
        cache_state={"state": "stale", "warm_inflight": False},
        labels={"team": "infra", "tier": "gold"},
    ),
    ns_row("prod-events", row_count=7_000, size_bytes=3_400_000, labels={"team": "infra"}),
]

PRODUCTS_METADATA: dict[str, Any] = {
    "schema": {
        "id": {"type": "string"},
        "category": {"type": "string"},
        "brand": {"type": "string"},
        "tags": {"type": "[]string"},
        "_layer_written_ms": {"type": "uint"},
    },
    "approx_row_count": 12500,
    "approx_logical_bytes": 48_800_000,
    "created_at": "2025-03-15T10:30:45Z",
    "updated_at": "2025-05-15T09:06:40Z",
    "last_write_at": "2025-05-15T09:06:46Z",
    "index": {"status": "up-to-date"},
    "layer": {
        "stable_as_of": NOW_MS - 3000,
        "is_stable": True,
        "cache_state": {"state": "warm", "warm_inflight": False},
    },
}


def _body(
    ns: str, wm: int, books: int, electronics: int, extra: list[dict[str, Any]]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "namespace": ns,
        "watermark_ms": wm,
        "fields": [
            {
                "name": "category",
                "values": [
                    {"v": "books", "n": books},
                    {"v": "electronics", "n": electronics},
                    *extra,
                ],
            },
            {"name": "brand", "values": [{"v": "Acme", "n": 900}, {"v": "Globex", "n": 410}]},
        ],
        "fields_skipped": [
            {"name": "tags", "reason": "exceeded_cap", "distinct_observed": 247000, "cap": 10000}
        ],
    }
    body["sha"] = body_sha(body)
    return body


def products_history(n: int = 60) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """``n`` history entries newest first; the first two have full bodies."""
    newest = _body("products", NOW_MS - 10_000, 1240, 873, [{"v": "garden", "n": 120}])
    older = _body("products", NOW_MS - 400_000, 1200, 900, [{"v": "toys", "n": 15}])
    entries = [
        {"watermark_ms": newest["watermark_ms"], "sha": newest["sha"]},
        {"watermark_ms": older["watermark_ms"], "sha": older["sha"]},
    ]
    for i in range(2, n):
        wm = NOW_MS - 400_000 - i * 3_600_000
        entries.append(
            {"watermark_ms": wm, "sha": hashlib.sha256(f"products-{i}".encode()).hexdigest()}
        )
    return entries, {newest["sha"]: newest, older["sha"]: older}


def activity_events() -> list[dict[str, Any]]:
    entries, _ = products_history()
    return [
        {
            "ts_ms": NOW_MS - 300_000,
            "namespace": "orders",
            "sha": hashlib.sha256(b"orders-1").hexdigest(),
            "watermark_ms": NOW_MS - 302_000,
            "fields": ["status"],
            "source": "origin",
            "job_id": None,
        },
        {
            "ts_ms": NOW_MS - 9_000,
            "namespace": "products",
            "sha": entries[0]["sha"],
            "watermark_ms": entries[0]["watermark_ms"],
            "fields": ["category", "brand"],
            "source": "origin",
            "job_id": "job-0042",
        },
    ]


def completed_job() -> dict[str, Any]:
    return {
        "id": "job-0001",
        "namespace": "products",
        "field": "category",
        "source": "auto",
        "kind": "snapshot",
        "status": "completed",
        "progress": 1.0,
        "documents_scanned": 12844,
        "created_at": "2025-05-15T09:00:00Z",
        "finished_at": "2025-05-15T09:00:04Z",
        "resolved_source": "stored",
        "sha": "3f9e8b21" + "0" * 56,
        "stable_as_of": NOW_MS - 60_000,
        "result": {
            "name": "category",
            "values": [{"v": "books", "n": 1240}, {"v": "electronics", "n": 873}],
        },
    }


def failed_job() -> dict[str, Any]:
    return {
        "id": "job-0000",
        "namespace": "products",
        "field": "tags",
        "source": "cache",
        "kind": "snapshot",
        "status": "failed",
        "progress": 0.4,
        "documents_scanned": 5000,
        "created_at": "2025-05-15T08:50:00Z",
        "finished_at": "2025-05-15T08:50:02Z",
        "resolved_source": "cache",
        "error": {"code": "unsupported_filter", "message": "cache cannot evaluate Glob"},
    }
