"""Server-side counting of array fields (``ForEachUnique``) and its fallback to the scan,
against a mocked upstream (``responses``): the request shape and every branch."""

from __future__ import annotations

import json

import pytest
import responses

from backend.errors import UpstreamError
from backend.snapshots.origin import WIDE_FIELDS_KEPT, ServerCounting, count_origin
from backend.upstream import Upstream
from common.settings import Settings

BASE = "http://tpuf.test"
QUERY = f"{BASE}/v2/namespaces/ns/query"
SCHEMA = {"tags": {"type": "[]string"}, "color": {"type": "string"}}
ROWS = [{"id": 1, "tags": ["a", "b", "a"]}, {"id": 2, "tags": ["a"]}, {"id": 3}]


@pytest.fixture
def up() -> Upstream:
    settings = Settings.from_env(
        {}, turbopuffer_base_url=BASE, upstream_retries=0, upstream_retry_budget_s=0.0
    )
    return Upstream(settings, sleep=lambda s: None, rand=lambda: 0.0)


def bodies() -> list[dict]:
    return [json.loads(c.request.body) for c in responses.calls]


def count(
    up: Upstream, server: ServerCounting, stats: dict | None = None, filters: object = None
) -> dict:
    counters, _ = count_origin(
        up,
        "ns",
        ["tags"],
        filters=filters,
        page_size=10,
        schema=SCHEMA,
        strategy="auto",
        progress=lambda n: None,
        server=server,
        stats=stats,
    )
    return counters[0].result(100)


@responses.activate
def test_an_array_field_is_counted_on_the_server_when_the_upstream_can(up: Upstream) -> None:
    groups = [{"tags": "a", "n": 2}, {"tags": "b", "n": 1}]
    responses.post(QUERY, json={"aggregation_groups": groups})
    stats: dict = {}
    result = count(up, ServerCounting(), stats)
    assert result == {"name": "tags", "values": [{"v": "a", "n": 2}, {"v": "b", "n": 1}]}
    [sent] = bodies()
    # turbopuffer's grammar: a list of entries, an entry {alias: ["ForEachUnique", attr]}
    assert sent["group_by"] == [{"tags": ["ForEachUnique", "tags"]}]
    assert sent["aggregate_by"] == {"n": ["Count"]} and "rank_by" not in sent
    assert stats == {"server_counted": ["tags"], "docs_read": 0}


@responses.activate
def test_a_field_named_like_the_count_label_keeps_its_values(up: Upstream) -> None:
    """The group key comes back under the field's name: the count needs another label."""
    responses.post(QUERY, json={"aggregation_groups": [{"n": 3, "count": 2}, {"n": 1, "count": 1}]})
    counters, _ = count_origin(
        up, "ns", ["n"], filters=None, page_size=10, schema={"n": {"type": "int"}},
        strategy="auto", progress=lambda n: None,
    )  # fmt: skip
    assert counters[0].result(10)["values"] == [{"v": 3, "n": 2}, {"v": 1, "n": 1}]
    [sent] = bodies()
    assert sent["aggregate_by"] == {"count": ["Count"]} and sent["group_by"] == ["n"]


@pytest.mark.parametrize("status", [400, 422])
@responses.activate
def test_a_refusal_falls_back_to_the_scan_and_is_remembered(up: Upstream, status: int) -> None:
    responses.post(QUERY, json={"error": "ForEachUnique is not supported"}, status=status)
    responses.post(QUERY, json={"rows": ROWS})
    server = ServerCounting()
    stats: dict = {}
    result = count(up, server, stats)
    assert result == {"name": "tags", "values": [{"v": "a", "n": 2}, {"v": "b", "n": 1}]}
    assert [("group_by" in b, "rank_by" in b) for b in bodies()] == [(True, False), (False, True)]
    assert stats == {"server_counted": [], "docs_read": 3}
    assert not server.arrays_enabled() and server.fallbacks == 1 and server.server_counted == 0
    responses.calls.reset()
    responses.replace(responses.POST, QUERY, json={"rows": ROWS})
    assert count(up, server) == result
    assert all("rank_by" in b for b in bodies())  # not asked again within the hour
    server.unsupported_until_ms = 0
    assert server.arrays_enabled()


@responses.activate
def test_a_refusal_the_scan_shares_is_the_filters_fault_not_the_grammars(up: Upstream) -> None:
    """A 400 for a bad filter comes back on the scan too: the job fails and the next job
    still asks the upstream to count arrays."""
    mismatch = {"error": "filter error in key `tags`: type mismatch"}
    responses.post(QUERY, json=mismatch, status=400)
    responses.post(QUERY, json=mismatch, status=400)
    server = ServerCounting()
    with pytest.raises(UpstreamError):
        count(up, server, filters=["tags", "Contains", 7])
    assert [("group_by" in b, "rank_by" in b) for b in bodies()] == [(True, False), (False, True)]
    assert server.arrays_enabled() and server.fallbacks == 0


@responses.activate
def test_other_upstream_failures_are_not_taken_for_a_refusal(up: Upstream) -> None:
    responses.post(QUERY, json={"error": "boom"}, status=500)
    server = ServerCounting()
    with pytest.raises(UpstreamError):
        count(up, server)
    assert server.arrays_enabled() and server.fallbacks == 0


@responses.activate
def test_a_full_page_of_groups_goes_to_the_scan(up: Upstream) -> None:
    responses.post(
        QUERY, json={"aggregation_groups": [{"tags": str(i), "n": 1} for i in range(10_000)]}
    )
    responses.post(QUERY, json={"rows": ROWS})
    server = ServerCounting()
    assert count(up, server)["values"][0] == {"v": "a", "n": 2}
    # Too many groups says nothing about the grammar: array fields are still asked for...
    assert server.arrays_enabled() and server.fallbacks == 0
    # ...but this one is scanned straight away for the hour, not asked again each job.
    assert server.known_wide("ns", "tags") and server.too_many_groups == 1
    assert not server.known_wide("other", "tags")
    responses.calls.reset()
    assert count(up, server)["values"][0] == {"v": "a", "n": 2}
    assert all("rank_by" in b for b in bodies())
    server._wide[("ns", "tags")] = 0  # the hour is over: ask again
    responses.calls.reset()
    count(up, server)
    assert "group_by" in bodies()[0] and server.too_many_groups == 2


def test_the_memory_of_wide_fields_is_bounded() -> None:
    server = ServerCounting()
    for i in range(WIDE_FIELDS_KEPT + 5):
        server.mark_wide("ns", f"f{i}")
    assert len(server._wide) == WIDE_FIELDS_KEPT
    assert not server.known_wide("ns", "f0") and server.known_wide("ns", f"f{WIDE_FIELDS_KEPT}")


@responses.activate
def test_without_server_counting_arrays_are_scanned_and_unknown_types_too(up: Upstream) -> None:
    responses.post(QUERY, json={"rows": ROWS})
    counters, _ = count_origin(
        up, "ns", ["tags", "mystery"], filters=None, page_size=10, schema=SCHEMA,
        strategy="auto", progress=lambda n: None, server=None,
    )  # fmt: skip
    assert [c.name for c in counters] == ["tags", "mystery"]
    assert len(bodies()) == 1 and "rank_by" in bodies()[0]
