"""Every branch of the upstream client's retry and error mapping, with ``responses``."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests
import responses

from backend.errors import UpstreamError, UpstreamNotFound, UpstreamTimeout
from backend.upstream import Upstream, backoff_delay, retry_after_s
from common.settings import Settings

BASE = "http://tpuf.test"
LIST = f"{BASE}/v1/namespaces"
META = f"{BASE}/v2/namespaces/products/metadata"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def up(sleeps: list[float]) -> Upstream:
    settings = Settings.from_env(
        {},
        turbopuffer_base_url=BASE,
        turbopuffer_api_key="tpuf_secret_key",
        upstream_retries=4,
        upstream_retry_budget_s=60.0,
    )
    return Upstream(settings, sleep=sleeps.append, rand=lambda: 0.0)


def test_backoff_follows_the_sdk_formula() -> None:
    assert backoff_delay(0, 0.0) == 0.25
    assert backoff_delay(2, 0.0) == 1.0
    assert backoff_delay(10, 0.0) == 8.0
    assert backoff_delay(1, 1.0) == pytest.approx(0.375)


def test_retry_after_forms() -> None:
    assert retry_after_s({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_s({"retry-after": "2"}) == 2.0
    date = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= (retry_after_s({"retry-after": date}) or 0) <= 10.5
    assert retry_after_s({"retry-after": "garbage"}) is None
    assert retry_after_s({}) is None


@responses.activate
def test_sends_identity_encoding_and_upstream_key(up: Upstream) -> None:
    responses.get(LIST, json={"namespaces": [{"id": "a"}]})
    up.list_namespaces(page_size=10)
    sent = responses.calls[0].request
    assert sent.headers["Accept-Encoding"] == "identity"
    assert sent.headers["Authorization"] == "Bearer tpuf_secret_key"
    assert "page_size=10" in (sent.url or "")


@responses.activate
@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_reads_retry_on_retryable_statuses(up: Upstream, sleeps: list[float], status: int) -> None:
    responses.get(META, json={"status": "error", "error": "busy"}, status=status)
    responses.get(META, json={"index": {"status": "up-to-date"}})
    assert up.metadata("products")["index"]["status"] == "up-to-date"
    assert len(responses.calls) == 2
    assert sleeps == [0.25]


@responses.activate
def test_honours_retry_after_ms_and_retry_after(up: Upstream, sleeps: list[float]) -> None:
    responses.get(
        META,
        status=429,
        headers={"retry-after-ms": "700"},
        json={"status": "error", "error": "slow down"},
    )
    responses.get(
        META,
        status=429,
        headers={"Retry-After": "2"},
        json={"status": "error", "error": "slow down"},
    )
    responses.get(META, json={"index": {}})
    up.metadata("products")
    assert sleeps == [0.7, 2.0]


@responses.activate
def test_backoff_grows_exponentially_then_gives_up_with_502(
    up: Upstream, sleeps: list[float]
) -> None:
    responses.get(META, status=500, json={"status": "error", "error": "boom"})
    with pytest.raises(UpstreamError) as info:
        up.metadata("products")
    assert info.value.status == 502
    assert info.value.upstream_status == 500
    assert "boom" in info.value.message
    assert sleeps == [0.25, 0.5, 1.0, 2.0]
    assert len(responses.calls) == 5


@responses.activate
def test_x_should_retry_false_stops_retries(up: Upstream, sleeps: list[float]) -> None:
    responses.get(
        META,
        status=503,
        headers={"x-should-retry": "false"},
        json={"status": "error", "error": "no"},
    )
    with pytest.raises(UpstreamError):
        up.metadata("products")
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_x_should_retry_true_retries_a_400(up: Upstream, sleeps: list[float]) -> None:
    responses.get(
        META, status=400, headers={"x-should-retry": "true"}, json={"status": "error", "error": "x"}
    )
    responses.get(META, json={"ok": 1})
    assert up.metadata("products") == {"ok": 1}


@responses.activate
def test_writes_are_never_retried(up: Upstream, sleeps: list[float]) -> None:
    responses.post(
        f"{BASE}/v2/namespaces/products", status=503, json={"status": "error", "error": "down"}
    )
    with pytest.raises(UpstreamError):
        up.write("products", {"upsert_rows": [{"id": 1}]})
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_404_maps_to_not_found_without_retry(up: Upstream) -> None:
    responses.get(
        META, status=404, json={"status": "error", "error": "namespace 'products' not found"}
    )
    with pytest.raises(UpstreamNotFound) as info:
        up.metadata("products")
    assert info.value.status == 404
    assert len(responses.calls) == 1


@responses.activate
def test_other_4xx_maps_to_502_with_upstream_status(up: Upstream) -> None:
    responses.get(META, status=401, json={"status": "error", "error": "bad key"})
    with pytest.raises(UpstreamError) as info:
        up.metadata("products")
    assert info.value.status == 502 and info.value.upstream_status == 401


@responses.activate
def test_connection_errors_retry_then_502(up: Upstream, sleeps: list[float]) -> None:
    responses.get(META, body=requests.ConnectionError("refused"))
    with pytest.raises(UpstreamError) as info:
        up.metadata("products")
    assert info.value.status == 502 and "unreachable" in info.value.message
    assert len(sleeps) == 4


@responses.activate
def test_connection_error_then_success(up: Upstream) -> None:
    responses.get(META, body=requests.ConnectionError("reset"))
    responses.get(META, json={"index": {"status": "updating"}})
    assert up.metadata("products")["index"]["status"] == "updating"


@responses.activate
def test_timeouts_become_504(up: Upstream) -> None:
    responses.get(META, body=requests.ReadTimeout("slow"))
    with pytest.raises(UpstreamTimeout) as info:
        up.metadata("products")
    assert info.value.status == 504


@responses.activate
def test_retry_budget_bounds_total_time(sleeps: list[float]) -> None:
    settings = Settings.from_env(
        {}, turbopuffer_base_url=BASE, upstream_retries=10, upstream_retry_budget_s=1.0
    )
    up = Upstream(settings, sleep=sleeps.append, rand=lambda: 0.0)
    responses.get(META, status=500, json={"status": "error", "error": "x"})
    with pytest.raises(UpstreamError):
        up.metadata("products")
    assert sum(sleeps) <= 1.0
    responses.get(
        f"{BASE}/v2/namespaces/other/metadata", status=429, headers={"Retry-After": "30"}, json={}
    )
    with pytest.raises(UpstreamError) as info:
        up.metadata("other")
    assert info.value.upstream_status == 429


@responses.activate
@pytest.mark.parametrize("body", [b"not json", b"[1,2]"])
def test_odd_payloads_are_502(up: Upstream, body: bytes) -> None:
    responses.get(LIST, body=body, status=200)
    with pytest.raises(UpstreamError):
        up.list_namespaces()


@responses.activate
def test_namespace_names_are_path_quoted(up: Upstream) -> None:
    responses.get(f"{BASE}/v2/namespaces/a.b-c_d/metadata", json={})
    up.metadata("a.b-c_d")
    assert len(responses.calls) == 1


@responses.activate
def test_error_messages_never_carry_the_upstream_key(up: Upstream) -> None:
    responses.get(META, status=401, json={"status": "error", "error": "unauthorized"})
    with pytest.raises(UpstreamError) as info:
        up.metadata("products")
    assert "tpuf_secret_key" not in str(info.value.body())


def test_pool_is_recreated_after_fork(up: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    first = up.adapter
    assert up.adapter is first
    monkeypatch.setattr("os.getpid", lambda: 999999)
    assert up.adapter is not first


@responses.activate
def test_request_is_built_as_a_session_would(up: Upstream) -> None:
    """The client skips ``Session``; the request it builds must match what one would send."""
    responses.post(f"{BASE}/v2/namespaces/products/query", json={"rows": []})
    responses.delete(f"{BASE}/v2/namespaces/products", json={})
    responses.get(LIST, json={"namespaces": []})
    up.send(
        "POST",
        "/v2/namespaces/products/query",
        params=b"a=1&b=x%20y",
        data=b'{"limit":1}',
        headers={"Content-Type": "application/json", "X-Trace": "t1"},
        retry=True,
    )
    up.send("DELETE", "/v2/namespaces/products", retry=False)
    up.list_namespaces(prefix="pro d", page_size=5)
    query, delete, listing = (c.request for c in responses.calls)
    assert query.url == f"{BASE}/v2/namespaces/products/query?a=1&b=x%20y"
    assert query.body == b'{"limit":1}'
    assert query.headers["Content-Length"] == "11"
    assert query.headers["Content-Type"] == "application/json"
    assert query.headers["X-Trace"] == "t1"
    assert query.headers["Authorization"] == "Bearer tpuf_secret_key"
    assert query.headers["User-Agent"] == "layer/0.1"
    assert delete.headers["Content-Length"] == "0" and delete.body is None
    assert listing.url == f"{LIST}?page_size=5&prefix=pro+d"
    assert "Content-Length" not in listing.headers


def test_adapter_reuses_one_pool_per_origin_and_honours_proxies() -> None:
    from backend.upstream import _Adapter

    adapter = _Adapter(pool_connections=4, pool_maxsize=8, max_retries=0)

    def prep(url: str) -> requests.PreparedRequest:
        return requests.Request("GET", url).prepare()

    a = adapter.get_connection_with_tls_context(prep(f"{BASE}/v1/namespaces"), True)
    b = adapter.get_connection_with_tls_context(prep(f"{BASE}/v2/namespaces/x/query?y=1"), True)
    other = adapter.get_connection_with_tls_context(prep("http://other.test:81/v1/x"), True)
    assert a is b and a is not other and (other.host, other.port) == ("other.test", 81)
    assert adapter.request_url(prep(f"{BASE}/v2/x?y=1"), {}) == "/v2/x?y=1"
    # with a proxy the base class decides: a proxy pool, and the full URL on the wire
    proxies = {"http": "http://proxy.test:3128"}
    via = adapter.get_connection_with_tls_context(prep(f"{BASE}/v1/x"), True, proxies)
    assert via is not a and via.proxy is not None and via.proxy.host == "proxy.test"
    assert adapter.request_url(prep(f"{BASE}/v1/x"), proxies) == f"{BASE}/v1/x"
    adapter.close()
    assert adapter.get_connection_with_tls_context(prep(f"{BASE}/v1/x"), True) is not a


@responses.activate
def test_an_interactive_deadline_ends_retries_and_bounds_each_attempt() -> None:
    """An interactive route's deadline (LAYER_INTERACTIVE_BUDGET_MS) cuts the retries a
    failing upstream would get under the ordinary budget, and caps each attempt's timeout
    by the time left."""
    settings = Settings.from_env(
        {},
        turbopuffer_base_url=BASE,
        upstream_retries=10,
        upstream_retry_budget_s=60.0,
        interactive_budget_ms=400,
    )
    up = Upstream(settings, rand=lambda: 0.0)  # real sleeps: the deadline is wall-clock
    responses.get(META, status=500, json={"status": "error", "error": "x"})
    t0 = time.monotonic()
    with pytest.raises(UpstreamError) as info:
        up.metadata("products", deadline=up.interactive_deadline())
    assert time.monotonic() - t0 < 0.4
    assert info.value.upstream_status == 500
    assert len(responses.calls) == 2  # tried, waited 0.25 s, tried; 0.5 s more would overrun
    connect, read = responses.calls[0].request.req_kwargs["timeout"]  # type: ignore[attr-defined]
    assert connect <= 0.4 and read <= 0.4


@responses.activate
def test_a_spent_deadline_answers_504_without_calling(up: Upstream) -> None:
    responses.get(META, json={})
    with pytest.raises(UpstreamTimeout) as info:
        up.metadata("products", deadline=time.monotonic() - 0.001)
    assert info.value.status == 504 and "interactive budget" in info.value.message
    assert len(responses.calls) == 0


@responses.activate
def test_a_dead_upstream_under_a_deadline_says_unreachable_not_timed_out() -> None:
    settings = Settings.from_env(
        {}, turbopuffer_base_url=BASE, upstream_retries=10, upstream_retry_budget_s=60.0
    )
    # Sleeps run past the deadline, as on a loaded machine: the next attempt finds no
    # time left, and the error is still the connection's, not the clock's.
    up = Upstream(settings, sleep=lambda s: time.sleep(0.3), rand=lambda: 0.0)
    responses.get(META, body=requests.ConnectionError("refused"))
    with pytest.raises(UpstreamError) as info:
        up.metadata("products", deadline=time.monotonic() + 0.26)
    assert not isinstance(info.value, UpstreamTimeout)
    assert "unreachable" in info.value.message
