"""The fake serves what the real API serves: same keys, order and nesting.

``payloads.REAL_*`` are responses captured from ``layer demo``; if the backend's
shapes change, refresh them and these tests say where the fake has drifted.
"""

from __future__ import annotations

from typing import Any

from tests.unit.tui import payloads
from tests.unit.tui.conftest import make_client
from tui.fake import many
from tui.widgets.histogram import render_diff
from tui.widgets.jobs import job_status


def keys(d: dict[str, Any]) -> list[str]:
    return list(d)


def test_listing_and_metadata_shapes() -> None:
    fake = make_client()
    page = fake.list_namespaces(page_size=1000)
    assert keys(page) == ["namespaces", "next_cursor"]
    rows = {r["name"]: r for r in page["namespaces"]}
    row_keys = [
        "name",
        "row_count",
        "size_bytes",
        "stable_as_of_ms",
        "is_stable",
        "cache_state",
        "last_write_ms",
        "shadow",
        "labels",
        "observed_ms",
        "index_stuck_since_ms",
    ]
    assert keys(rows["products"]) == row_keys
    assert keys(rows["broken-ns"]) == [*row_keys, "metadata_error"]  # degraded, kept
    assert keys(rows["products"]["cache_state"]) == ["state", "warm_inflight"]
    meta = fake.metadata("users")  # synthesized, not canned
    assert keys(meta["layer"]) == ["stable_as_of", "is_stable", "cache_state"]
    assert "encryption" in meta and meta["schema"]["category"]["filterable"] is True
    assert meta["created_at"].endswith("Z") and "." in meta["created_at"]


def test_generated_rows_and_summary_shapes() -> None:
    fake = make_client()
    canned = {r["name"]: r for r in fake.list_namespaces(page_size=10)["namespaces"]}
    gen = many(1000).list_namespaces(page_size=1000)["namespaces"]
    plain = next(r for r in gen if "metadata_error" not in r)
    degraded = next(r for r in gen if "metadata_error" in r)
    assert keys(plain) == keys(canned["products"])
    assert keys(degraded) == keys(canned["broken-ns"])
    summary = fake.summary()
    contract = payloads.CONTRACT_SUMMARY
    assert keys(summary) == keys(contract)
    for name in ("sweep", "upstream"):
        assert keys(summary[name]) == keys(contract[name])
    assert keys(summary["shards"][0]) == keys(contract["shards"][0])
    for name, value in contract.items():
        assert type(summary[name]) is type(value), name


def test_body_history_and_diff_shapes() -> None:
    fake = make_client()
    head = fake.history("products", limit=2)
    assert [keys(e) for e in head] == [["watermark_ms", "sha"]] * 2
    body = fake.snapshot("products", head[0]["sha"])
    assert keys(body) == ["namespace", "watermark_ms", "sha", "fields", "fields_skipped"]
    assert keys(body["fields_skipped"][0]) == ["name", "reason", "distinct_observed", "cap"]
    diff = fake.diff("products", head[1]["sha"], head[0]["sha"])
    assert keys(diff) == keys(payloads.REAL_DIFF)
    assert keys(diff["fields_skipped"]) == ["from", "to"]
    assert [f["name"] for f in diff["fields"]] == ["category", "brand"]  # body order


def test_job_and_activity_shapes() -> None:
    fake = make_client(job_steps=1)
    created = fake.create_snapshot("products", "brand", filters=["category", "Eq", "books"])
    real = payloads.REAL_ORIGIN_JOB
    running_keys = [k for k in keys(real) if k not in ("result", "watermark_ms", "stable_as_of")]
    assert keys(created) == running_keys
    done = fake.job("products", created["id"])
    assert keys(done) == keys(real)
    feed = fake.activity(0)
    assert keys(feed) == keys(payloads.REAL_ACTIVITY)
    assert keys(feed["events"][0]) == keys(payloads.REAL_ACTIVITY["events"][0])
    assert feed["next_cursor"] is None  # caught up, like the backend


def test_real_diff_renders_watermarks_and_skipped_fields() -> None:
    text = render_diff(payloads.REAL_DIFF, 70).plain
    assert "electronics" in text and "+4" in text and "-3" in text
    assert "brand  unchanged" in text
    assert "tags  skipped in both" in text


def test_real_origin_job_status() -> None:
    assert job_status(payloads.REAL_ORIGIN_JOB) == "1.1k docs"
