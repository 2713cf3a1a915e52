"""Canned Layer API payloads in the shapes of real responses.

The shapes (keys, their order, types, nesting) are those of responses captured from
``layer demo`` (every route, README "Routes"); the values are chosen for the tests.
``REAL_*`` are real responses verbatim (long value lists cut). "Now" is frozen at
NOW_MS for every test, so relative times are deterministic.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tui.fake import with_sha

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
        "observed_ms": NOW_MS - 3000,
        "index_stuck_since_ms": None,
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
        observed_ms=NOW_MS - 1000,
        index_stuck_since_ms=NOW_MS - 720_000,
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
        observed_ms=NOW_MS - 95_000,
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
        "id": {"type": "uint"},
        "category": {"type": "string", "filterable": True},
        "brand": {"type": "string", "filterable": True},
        "tags": {"type": "[]string", "filterable": True},
        "_layer_written_ms": {"type": "int", "filterable": True},
    },
    "approx_row_count": 12500,
    "approx_logical_bytes": 48_800_000,
    "created_at": "2025-03-15T10:30:45.000Z",
    "updated_at": "2025-05-15T09:06:40.120Z",
    "last_write_at": "2025-05-15T09:06:46.120Z",
    "index": {"status": "up-to-date"},
    "encryption": {"mode": "default"},
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
    return with_sha(body)


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
            "source": "watcher",
            "job_id": None,
        },
        {
            "ts_ms": NOW_MS - 9_000,
            "namespace": "products",
            "sha": entries[0]["sha"],
            "watermark_ms": entries[0]["watermark_ms"],
            "fields": ["category", "brand", "tags"],
            "source": "origin",
            "job_id": "4a1c2e0b-7d3f-4e8a-9b61-2f0c5d7e8a42",
        },
    ]


def completed_job() -> dict[str, Any]:
    """A job that read the watcher's latest snapshot (``resolved_source: stored``)."""
    entries, _ = products_history()
    return {
        "id": "3f9e8b21-5c4d-4e7f-8a90-1b2c3d4e5f60",
        "namespace": "products",
        "kind": "snapshot",
        "field": "category",
        "source": "auto",
        "resolved_source": "stored",
        "filters": None,
        "page_size": 1000,
        "status": "completed",
        "progress": 1,
        "documents_scanned": 0,
        "created_at": "2025-05-15T09:00:00.000Z",
        "finished_at": "2025-05-15T09:00:00.021Z",
        "result": {
            "name": "category",
            "values": [{"v": "books", "n": 1240}, {"v": "electronics", "n": 873}],
        },
        "sha": entries[0]["sha"],
        "watermark_ms": entries[0]["watermark_ms"],
    }


def failed_job() -> dict[str, Any]:
    return {
        "id": "0b7a6c5d-4e3f-4a2b-8c1d-0e9f8a7b6c5d",
        "namespace": "products",
        "kind": "snapshot",
        "field": "tags",
        "source": "cache",
        "resolved_source": "cache",
        "filters": ["tags", "Glob", "sale*"],
        "page_size": 1000,
        "status": "failed",
        "progress": 0.4,
        "documents_scanned": 5000,
        "created_at": "2025-05-15T08:50:00.000Z",
        "finished_at": "2025-05-15T08:50:02.000Z",
        "error": {"code": "unsupported_filter", "message": "cache cannot evaluate Glob"},
    }


# -- real responses, verbatim (value lists cut) ---------------------------------------

REAL_ORIGIN_JOB: dict[str, Any] = {
    "id": "65e3f416-2896-4088-ba7a-06f51afa3906",
    "namespace": "products",
    "kind": "snapshot",
    "field": "brand",
    "source": "auto",
    "resolved_source": "origin",
    "filters": ["category", "Eq", "books"],
    "page_size": 1000,
    "status": "completed",
    "progress": 1,
    "documents_scanned": 1063,
    "created_at": "2026-11-23T12:05:33.375Z",
    "finished_at": "2026-11-23T12:05:33.386Z",
    "result": {
        "name": "brand",
        "values": [{"v": "AtlasLabs", "n": 16}, {"v": "SageHouse", "n": 16}],
    },
    "watermark_ms": 1795435531857,
    "stable_as_of": 1795435531857,
}

REAL_DIFF: dict[str, Any] = {
    "from": "b4daa9cec38dc15f2aa1c782f327e8db43947ea6f3d97a14ae0e7ea4c489a174",
    "to": "333514adb9857f0969010591bf647664f22bd9aea5b9cc20d5ce01647b4018fb",
    "watermark_from": 1795435502111,
    "watermark_to": 1795435523836,
    "fields": [
        {
            "name": "category",
            "status": "changed",
            "changes": [
                {"v": "electronics", "from": 1027, "to": 1031, "delta": 4},
                {"v": "automotive", "from": 1020, "to": 1017, "delta": -3},
            ],
        },
        {"name": "brand", "status": "unchanged", "changes": []},
    ],
    "fields_skipped": {"from": ["tags"], "to": ["tags"]},
}

REAL_ACTIVITY: dict[str, Any] = {
    "events": [
        {
            "ts_ms": 1795435502853,
            "namespace": "products",
            "sha": "b4daa9cec38dc15f2aa1c782f327e8db43947ea6f3d97a14ae0e7ea4c489a174",
            "watermark_ms": 1795435502111,
            "fields": ["category", "brand", "tags"],
            "source": "watcher",
            "job_id": None,
        }
    ],
    "next_cursor": None,
}

# GET /v2/namespaces/summary as SCALE_CONTRACT.md agrees it (the route is being built on
# another branch): replace with a captured real response once it is on main.
CONTRACT_SUMMARY: dict[str, Any] = {
    "namespaces": 1_000_000,
    "rows": 2_500_000_000_000,
    "bytes": 1_280_000_000_000_000,
    "unstable": 30_000,
    "stuck": 10_000,
    "errored": 10_000,
    "dirty": 12,
    "sweep": {"max_ms": 3_600_000, "cycle_ms": 1_800_000, "stretch": 1.0},
    "upstream": {"calls_per_s": 42.0, "max_rps": 100.0, "backoff_until_ms": None},
    "shards": [{"shard": 0, "holder": "host-a:1234", "expires_ms": 1_795_435_531_857}],
    "as_of_ms": 1_795_435_531_857,
}
