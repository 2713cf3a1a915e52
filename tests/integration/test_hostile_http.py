"""Hostile framing and bodies against the real server (issue 11), over raw sockets.

Layer runs as a process, both ways it is deployed: ``layer serve`` and gunicorn with the
Procfile's config. Its upstream is a recorder in front of the emulator, so each test sees
exactly what Layer forwarded: a refused body must never go upstream, cut or whole.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import socket
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from emulator.server import EmulatorServer
from tests.fixtures.net import free_port, wait_for
from tests.fixtures.recorder import Recorder
from tests.integration.helpers import wait_job

pytestmark = pytest.mark.processes

LIMIT = 64 * 1024
ADMIN = "admin-key-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
JSON = {"Content-Type": "application/json"}


@dataclass
class Served:
    url: str
    port: int
    log: Path


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    server = EmulatorServer(host="127.0.0.1", port=0, index_lag_ms=50).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rec(emu: EmulatorServer) -> Iterator[Recorder]:
    recorder = Recorder(emu.url).start()
    yield recorder
    recorder.stop()


@pytest.fixture(scope="module", params=["layer serve", "gunicorn"])
def served(request: Any, rec: Recorder, tmp_path_factory: Any) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("hostile")
    port = free_port()
    env = {
        **os.environ,
        "TURBOPUFFER_BASE_URL": rec.url,
        "LAYER_KV": f"sqlite://{tmp / 'kv.sqlite'}",
        "LAYER_OBJECT_STORE": f"file://{tmp / 'objects'}",
        "LAYER_API_KEYS": ADMIN,
        "LAYER_MAX_BODY_BYTES": str(LIMIT),
        "LAYER_UPSTREAM_RETRY_BUDGET_MS": "2000",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp),
    }
    if request.param == "layer serve":
        args = [sys.executable, "-m", "layer_cli.main", "serve", "--no-watcher"]
        args += ["--host", "127.0.0.1", "--port", str(port), "--threads", "4"]
    else:
        args = [sys.executable, "-m", "gunicorn", "--config", "python:backend.gunicorn_conf"]
        env.update(PORT=str(port), HOST="127.0.0.1", WEB_CONCURRENCY="1", LAYER_THREADS="4")
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).ok
        except requests.RequestException:
            return proc.poll() is not None  # died: stop waiting, fail below

    wait_for(up, timeout=30, what=request.param)
    assert proc.poll() is None, log.read_text()
    yield Served(url, port, log)
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def exchange(
    served: Served, data: bytes, *, half_close: bool = False, method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one response."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=20) as s:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        resp = http.client.HTTPResponse(s, method=method)
        resp.begin()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def _error(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers.get("content-type", "").startswith("application/json"), (status, body[:300])
    err = orjson.loads(body)["error"]
    assert err["code"] and err["message"], err
    return dict(err)


def _write_body(ns_id: int, pad: int = 0) -> bytes:
    return orjson.dumps({"upsert_rows": [{"id": ns_id, "color": "red"}]})[:-1] + b" " * pad + b"}"


# Routes that take a body: Layer's write, its query, one of its own, the verbatim proxy.
BODY_ROUTES = [
    "/v2/namespaces/hostile",
    "/v2/namespaces/hostile/query",
    "/v2/namespaces/hostile/snapshots",
    "/v1/namespaces/hostile/query",
]


def _no_forward(rec: Recorder, n: int, what: str) -> None:
    assert rec.since(n) == [], f"{what}: Layer forwarded a refused request upstream"


def test_malformed_chunked_body_is_400(served: Served, rec: Recorder) -> None:
    bad = {
        "chunk size zz": b"zz\r\n{}\r\n0\r\n\r\n",
        "chunk without its terminator": b"2\r\n{}XX\r\n0\r\n\r\n",
    }
    for path in BODY_ROUTES:
        for what, tail in bad.items():
            n = rec.count()
            headers = {**AUTH, **JSON, "Transfer-Encoding": "chunked"}
            status, h, body = exchange(served, _head("POST", path, headers) + tail)
            assert status == 400, (path, what, status, body[:300])
            err = _error(status, h, body)
            assert err["code"] == "bad_request" and err["param"] == "body", err
            _no_forward(rec, n, f"{path} {what}")


def test_chunked_body_ending_early_is_refused(served: Served, rec: Recorder) -> None:
    n = rec.count()
    headers = {**AUTH, **JSON, "Transfer-Encoding": "chunked"}
    data = _head("POST", "/v2/namespaces/hostile", headers) + b"40\r\n" + _write_body(77)[:20]
    status, h, body = exchange(served, data, half_close=True)
    assert status == 400, body[:300]
    assert _error(status, h, body)["param"] == "body"
    _no_forward(rec, n, "chunked body ending early")


def test_chunked_over_the_limit_is_413_and_never_forwarded(
    served: Served, rec: Recorder, emu: EmulatorServer
) -> None:
    body = _write_body(4242, pad=LIMIT + 1000)  # a valid write, then padding past the limit
    parts = [body[i : i + 8192] for i in range(0, len(body), 8192)]
    for path in BODY_ROUTES:
        n = rec.count()
        headers = {**AUTH, **JSON, "Transfer-Encoding": "chunked"}
        status, h, resp = exchange(served, _head("POST", path, headers) + _chunked(*parts))
        assert status == 413, (path, status, resp[:300])
        err = _error(status, h, resp)
        assert err["code"] == "request_entity_too_large" and err["param"] == "body", err
        assert str(LIMIT) in err["message"]
        _no_forward(rec, n, path)
    assert "hostile" not in emu.state.names()


def test_chunked_body_under_the_limit_is_forwarded_whole(
    served: Served, rec: Recorder, emu: EmulatorServer
) -> None:
    body = _write_body(5151, pad=LIMIT - 200)
    parts = [body[i : i + 7000] for i in range(0, len(body), 7000)]
    n = rec.count()
    headers = {**AUTH, **JSON, "Transfer-Encoding": "chunked"}
    status, _, resp = exchange(
        served, _head("POST", "/v2/namespaces/chunked", headers) + _chunked(*parts)
    )
    assert status == 200, resp[:300]
    assert 5151 in emu.state.get("chunked").docs
    (seen,) = rec.since(n)
    assert orjson.loads(seen.body)["upsert_rows"][0]["id"] == 5151
    # the verbatim proxy forwards exactly the bytes read
    n = rec.count()
    status, _, resp = exchange(
        served, _head("POST", "/v1/namespaces/chunked/query", headers) + _chunked(*parts)
    )
    (seen,) = rec.since(n)
    assert seen.body == body and "transfer-encoding" not in seen.headers


def test_body_shorter_than_content_length_is_400_and_never_forwarded(
    served: Served, rec: Recorder, emu: EmulatorServer
) -> None:
    body = _write_body(6161)
    for path in BODY_ROUTES:
        n = rec.count()
        headers = {**AUTH, **JSON, "Content-Length": str(len(body) + 100)}
        status, h, resp = exchange(served, _head("POST", path, headers) + body, half_close=True)
        assert status == 400, (path, status, resp[:300])
        err = _error(status, h, resp)
        assert err["param"] == "body" and "Content-Length" in err["message"], err
        _no_forward(rec, n, path)
    assert "hostile" not in emu.state.names()


def test_content_length_over_the_limit_is_413(served: Served, rec: Recorder) -> None:
    n = rec.count()
    headers = {**AUTH, **JSON, "Content-Length": str(LIMIT + 1)}
    status, h, resp = exchange(
        served, _head("POST", "/v2/namespaces/hostile", headers), half_close=True
    )
    assert status == 413 and _error(status, h, resp)["code"] == "request_entity_too_large"
    _no_forward(rec, n, "Content-Length over the limit")


W = "/v2/namespaces/hostile"
# (what, raw request, status, param): refused before Layer's app runs (all by gunicorn
# but the last Transfer-Encoding, which gunicorn hands on and Layer refuses).
SERVER_REFUSALS = [
    (
        "request line over 4094 bytes",
        _head("GET", "/v2/namespaces?p=" + "a" * 4100, AUTH),
        414,
        "path",
    ),
    (
        "a header over 8190 bytes",
        _head("GET", "/v2/namespaces", {**AUTH, "X-Big": "b" * 9000}),
        431,
        "headers",
    ),
    (
        "more than 100 headers",
        _head("GET", "/v2", {f"X-H{i}": "v" for i in range(101)}),
        431,
        "headers",
    ),
    (
        "a bad Content-Length",
        _head("POST", W, {**AUTH, "Content-Length": "abc"}) + b"{}",
        400,
        "Content-Length",
    ),
    (
        "two Content-Lengths",
        _head("POST", W, {"Content-Length": "2", "Content-length": "3"}) + b"{}",
        400,
        "Content-Length",
    ),
    (
        "Content-Length and chunked",
        _head("POST", W, {**AUTH, "Content-Length": "2", "Transfer-Encoding": "chunked"})
        + _chunked(b"{}"),
        400,
        "Content-Length",
    ),
    (
        "Transfer-Encoding br",
        _head("POST", W, {"Transfer-Encoding": "br, chunked"}) + _chunked(b"{}"),
        501,
        "Transfer-Encoding",
    ),
    (
        "Transfer-Encoding without chunked",
        _head("POST", W, {"Transfer-Encoding": "gzip"}) + b"{}",
        400,
        "Transfer-Encoding",
    ),
    ("a malformed request line", b"GET /v2/namespaces\r\n\r\n", 400, "request_line"),
    ("a malformed method", b"G@T /v2/namespaces HTTP/1.1\r\nHost: x\r\n\r\n", 400, "request_line"),
    ("a malformed header name", _head("GET", "/v2/namespaces", {"Bad Name": "x"}), 400, "headers"),
    (
        "Transfer-Encoding gzip, chunked",
        _head("POST", W, {**AUTH, "Transfer-Encoding": "gzip, chunked"}) + _chunked(b"{}"),
        501,
        "Transfer-Encoding",
    ),
]


@pytest.mark.parametrize(
    "what, data, expected, param", SERVER_REFUSALS, ids=[c[0] for c in SERVER_REFUSALS]
)
def test_what_the_server_refuses_itself_is_json(
    served: Served, rec: Recorder, what: str, data: bytes, expected: int, param: str
) -> None:
    """Refused before Layer's app sees the request: still Layer's JSON error contract."""
    n = rec.count()
    status, h, body = exchange(served, data, method=data.split(b" ", 1)[0].decode())
    assert status == expected, (what, status, body[:300])
    err = _error(status, h, body)
    assert err["param"] == param, (what, err)
    _no_forward(rec, n, what)


def _post(served: Served, path: str, data: bytes, coding: str | None) -> requests.Response:
    headers = {**AUTH, **JSON}
    if coding is not None:
        headers["Content-Encoding"] = coding
    return requests.post(served.url + path, data=data, headers=headers, timeout=20)


def test_gzip_and_deflate_bodies_are_decoded_on_every_route(
    served: Served, rec: Recorder, emu: EmulatorServer
) -> None:
    raw = _write_body(7171)
    encoded = {
        "gzip": gzip.compress(raw),
        "x-gzip": gzip.compress(raw),
        "deflate": zlib.compress(raw),
        "identity": raw,
        "gzip, identity": gzip.compress(raw),
    }
    raw_deflate = zlib.compressobj(wbits=-15)
    encoded_raw = raw_deflate.compress(raw) + raw_deflate.flush()
    for coding, data in [*encoded.items(), ("deflate", encoded_raw)]:
        n = rec.count()
        r = _post(served, "/v2/namespaces/gz", data, coding)
        assert r.status_code == 200, (coding, r.text)
        (seen,) = rec.since(n)
        assert "content-encoding" not in seen.headers
        assert orjson.loads(seen.body)["upsert_rows"][0]["id"] == 7171
    assert 7171 in emu.state.get("gz").docs
    query = orjson.dumps(
        {"rank_by": ["id", "asc"], "limit": 5, "filters": ["id", "In", list(range(7000, 7200))]}
    )
    r = _post(served, "/v2/namespaces/gz/query", gzip.compress(query), "gzip")
    assert r.status_code == 200 and [row["id"] for row in r.json()["rows"]] == [7171], r.text
    # the verbatim proxy forwards the decoded bytes, without Content-Encoding
    n = rec.count()
    _post(served, "/v1/namespaces/gz/query", gzip.compress(query), "gzip")
    (seen,) = rec.since(n)
    assert seen.body == query and "content-encoding" not in seen.headers
    # and Layer's own routes read it too
    snap = orjson.dumps({"field": "color", "source": "origin"})
    r = _post(served, "/v2/namespaces/gz/snapshots", gzip.compress(snap), "gzip")
    assert r.status_code == 202 and r.json()["field"] == "color", r.text
    # let the job finish: its upstream calls must not count as another test's forwarding
    assert wait_job(served.url, "gz", r.json()["id"], headers=AUTH)["status"] == "completed"


def test_bad_codings_are_refused_and_never_forwarded(served: Served, rec: Recorder) -> None:
    raw = _write_body(8181)
    gz = gzip.compress(raw)
    cases = [
        ("br", raw, 415, "Content-Encoding"),
        ("zstd", raw, 415, "Content-Encoding"),
        ("gzip, br", gz, 415, "Content-Encoding"),
        ("gzip", raw, 400, "body"),  # labelled gzip, is not
        ("deflate", raw, 400, "body"),
        ("gzip", gz[:-12], 400, "body"),  # truncated
        ("gzip", gz + b"garbage!", 400, "body"),
    ]
    for path in BODY_ROUTES:
        for coding, data, expected, param in cases:
            n = rec.count()
            r = _post(served, path, data, coding)
            assert r.status_code == expected, (path, coding, r.status_code, r.text)
            assert r.json()["error"]["param"] == param
            _no_forward(rec, n, f"{path} {coding}")


def test_gzip_bomb_is_413(served: Served, rec: Recorder) -> None:
    bomb = gzip.compress(_write_body(9191, pad=20 * LIMIT))
    assert len(bomb) < LIMIT // 8
    for path in BODY_ROUTES:
        n = rec.count()
        r = _post(served, path, bomb, "gzip")
        assert r.status_code == 413, (path, r.text)
        err = r.json()["error"]
        assert err["code"] == "request_entity_too_large" and "decompresses" in err["message"]
        _no_forward(rec, n, path)


def test_official_sdk_with_compression(served: Served, rec: Recorder, emu: EmulatorServer) -> None:
    """turbopuffer's SDK with ``compression=True`` gzips bodies over 1 KB: writes and
    queries work through Layer."""
    import turbopuffer
    from turbopuffer.lib.transport_httpx import HttpxTransport

    sent: list[str | None] = []

    class Recording(HttpxTransport):  # the SDK's own transport, which does the gzipping
        def handle_request(self, request: Any) -> Any:
            response = super().handle_request(request)
            if request.method == "POST":
                sent.append(request.headers.get("content-encoding"))
            return response

    tpuf = turbopuffer.Turbopuffer(
        api_key=ADMIN,
        base_url=served.url,
        compression=True,
        telemetry=False,
        http_client=turbopuffer.DefaultHttpxClient(transport=Recording()),
    )
    ns = tpuf.namespace("sdk-gz")
    rows = [{"id": i, "color": "red" if i % 3 else "blue", "text": "x" * 40} for i in range(300)]
    ns.write(upsert_rows=rows)
    result = ns.query(
        rank_by=("id", "asc"),
        top_k=500,
        filters=("And", [("id", "In", list(range(0, 3000, 3))), ("color", "Eq", "blue")]),
    )
    assert [r.id for r in result.rows or []] == list(range(0, 300, 3))
    assert sent == ["gzip", "gzip"], sent
    assert len(emu.state.get("sdk-gz").docs) == 300
