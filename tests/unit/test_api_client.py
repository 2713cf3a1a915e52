"""LayerClient against mocked HTTP: paths, parameters, paging and the error contract."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from responses import matchers

from common.api_client import LayerAPIError, LayerClient, LayerUnreachable

BASE = "http://layer.test"


@pytest.fixture
def client() -> LayerClient:
    return LayerClient(BASE, token="secret-token", timeout_s=1.5)


@responses.activate
def test_list_namespaces_sends_token_and_params(client: LayerClient) -> None:
    responses.get(
        f"{BASE}/v2/namespaces",
        json={"namespaces": [{"name": "products"}], "next_cursor": None},
        match=[
            matchers.query_param_matcher({"prefix": "prod", "page_size": "100"}),
            matchers.header_matcher({"Authorization": "Bearer secret-token"}),
        ],
    )
    page = client.list_namespaces(prefix="prod", page_size=100)
    assert page["namespaces"][0]["name"] == "products"


@responses.activate
def test_no_token_means_no_authorization_header() -> None:
    responses.get(f"{BASE}/v2/namespaces", json={"namespaces": [], "next_cursor": None})
    LayerClient(BASE).list_namespaces()
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_iter_all_namespaces_follows_cursor(client: LayerClient) -> None:
    responses.get(
        f"{BASE}/v2/namespaces",
        json={"namespaces": [{"name": "a"}, {"name": "b"}], "next_cursor": "c1"},
        match=[matchers.query_param_matcher({"page_size": "2"})],
    )
    responses.get(
        f"{BASE}/v2/namespaces",
        json={"namespaces": [{"name": "c"}], "next_cursor": None},
        match=[matchers.query_param_matcher({"page_size": "2", "cursor": "c1"})],
    )
    names = [row["name"] for row in client.iter_all_namespaces(page_size=2)]
    assert names == ["a", "b", "c"]


@responses.activate
def test_metadata_history_snapshot_diff_paths(client: LayerClient) -> None:
    responses.get(f"{BASE}/v2/namespaces/a%2Fb/metadata", json={"layer": {"is_stable": True}})
    responses.get(
        f"{BASE}/v2/namespaces/products/history",
        json=[{"watermark_ms": 1, "sha": "ab" * 32}],
        match=[matchers.query_param_matcher({"limit": "20", "before": "3f9e8b2"})],
    )
    responses.get(f"{BASE}/v2/namespaces/products/snapshots/3f9e8b2", json={"sha": "3f9e8b2"})
    responses.get(
        f"{BASE}/v2/namespaces/products/snapshots/aaa/diff/bbb",
        json={"from": "aaa", "to": "bbb", "fields": []},
    )
    assert client.metadata("a/b")["layer"]["is_stable"] is True
    assert client.history("products", limit=20, before="3f9e8b2")[0]["watermark_ms"] == 1
    assert client.snapshot("products", "3f9e8b2")["sha"] == "3f9e8b2"
    assert client.diff("products", "aaa", "bbb")["to"] == "bbb"


@responses.activate
def test_create_snapshot_body_and_jobs(client: LayerClient) -> None:
    responses.post(
        f"{BASE}/v2/namespaces/products/snapshots",
        status=202,
        json={"id": "j1", "status": "running", "progress": 0},
    )
    responses.get(f"{BASE}/v2/namespaces/products/snapshot-jobs", json={"jobs": [{"id": "j1"}]})
    responses.get(
        f"{BASE}/v2/namespaces/products/snapshot-jobs/j1", json={"id": "j1", "status": "completed"}
    )
    job = client.create_snapshot("products", "category", filters=["brand", "Eq", "Acme"])
    assert job["id"] == "j1"
    sent = json.loads(responses.calls[0].request.body or b"{}")
    assert sent == {
        "field": "category",
        "source": "auto",
        "filters": ["brand", "Eq", "Acme"],
        "page_size": 1000,
    }
    client.create_snapshot("products", "category", source="origin", page_size=10)
    assert "filters" not in json.loads(responses.calls[1].request.body or b"{}")
    assert client.jobs("products") == [{"id": "j1"}]
    assert client.job("products", "j1")["status"] == "completed"


@responses.activate
def test_activity_params(client: LayerClient) -> None:
    responses.get(
        f"{BASE}/v2/activity/snapshots",
        json={"events": [], "next_cursor": None},
        match=[
            matchers.query_param_matcher(
                {"since": "1000", "limit": "100", "namespace": "products", "cursor": "k"}
            )
        ],
    )
    assert client.activity(1000, namespace="products", cursor="k")["events"] == []


@responses.activate
def test_error_body_becomes_layer_api_error(client: LayerClient) -> None:
    responses.get(
        f"{BASE}/v2/namespaces/nope/metadata",
        status=404,
        json={"error": {"code": "not_found", "message": "namespace 'nope' not found"}},
    )
    with pytest.raises(LayerAPIError) as info:
        client.metadata("nope")
    assert info.value.status == 404
    assert info.value.code == "not_found"
    assert "nope" in info.value.message


@responses.activate
def test_non_json_error_still_typed(client: LayerClient) -> None:
    responses.get(f"{BASE}/v2/namespaces", status=502, body="Bad gateway")
    with pytest.raises(LayerAPIError) as info:
        client.list_namespaces()
    assert info.value.status == 502
    assert info.value.code == "http_502"


@responses.activate
def test_connection_error_and_timeout_become_unreachable(client: LayerClient) -> None:
    responses.get(f"{BASE}/v2/namespaces", body=requests.ConnectionError("refused"))
    with pytest.raises(LayerUnreachable):
        client.list_namespaces()
    responses.get(f"{BASE}/v2/activity/snapshots", body=requests.ReadTimeout("slow"))
    with pytest.raises(LayerUnreachable, match="timed out"):
        client.activity(0)


def test_real_refused_connection_is_unreachable() -> None:
    from tests.fixtures.net import free_port

    dead = LayerClient(f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
    with pytest.raises(
        LayerUnreachable, match=r"cannot connect to http://127\.0\.0\.1:\d+ \(connection refused\)"
    ):
        dead.list_namespaces()


@responses.activate
def test_list_namespaces_sends_state(client: LayerClient) -> None:
    responses.get(
        f"{BASE}/v2/namespaces",
        json={"namespaces": [], "next_cursor": None},
        match=[matchers.query_param_matcher({"state": "stuck", "page_size": "50"})],
    )
    assert client.list_namespaces(state="stuck", page_size=50)["namespaces"] == []


@responses.activate
def test_summary_path_and_error(client: LayerClient) -> None:
    body = {"namespaces": 3, "rows": 10, "bytes": 100}
    responses.get(f"{BASE}/v2/namespaces/summary", json=body)
    assert client.summary() == body
    responses.get(
        f"{BASE}/v2/namespaces/summary",
        status=404,
        json={"error": {"code": "not_found", "message": "no such route"}},
    )
    with pytest.raises(LayerAPIError) as err:
        client.summary()
    assert err.value.status == 404 and err.value.code == "not_found"


@responses.activate
def test_cancel_job_and_prune_history(client: LayerClient) -> None:
    job = "00000000-0000-4000-8000-000000000001"
    responses.delete(
        f"{BASE}/v2/namespaces/products/snapshot-jobs/{job}",
        json={"id": job, "status": "running", "cancel_requested": True},
        status=202,
    )
    assert client.cancel_job("products", job)["cancel_requested"] is True
    responses.delete(
        f"{BASE}/v2/namespaces/products/snapshot-jobs/{job}",
        json={"error": {"code": "conflict", "message": "job has already finished (completed)"}},
        status=409,
    )
    with pytest.raises(LayerAPIError) as err:
        client.cancel_job("products", job)
    assert err.value.status == 409 and err.value.code == "conflict"
    responses.post(
        f"{BASE}/v2/namespaces/products/history/prune",
        json={"dry_run": True, "delete_count": 3},
        match=[matchers.query_param_matcher({"dry_run": "true", "keep": "last=5"})],
    )
    assert client.prune_history("products", keep="last=5")["delete_count"] == 3
    responses.post(
        f"{BASE}/v2/namespaces/products/history/prune",
        json={"dry_run": False, "delete_count": 3},
        match=[matchers.query_param_matcher({"dry_run": "false"})],
    )
    assert client.prune_history("products", dry_run=False)["dry_run"] is False
