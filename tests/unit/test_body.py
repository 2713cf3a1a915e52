"""Request bodies: framing, counting and Content-Encoding (backend/body.py).

The raw-socket tests against the real server are in tests/integration/test_hostile_http.py;
these pin the decoding rules and the hook's behaviour on the app itself.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Any

import pytest

from backend import body
from backend.app import create_app
from backend.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from common.settings import Settings

LIMIT = 4096


def test_gzip_members_and_deflate_flavours_decode() -> None:
    raw = b'{"a": 1}'
    assert body._decode(gzip.compress(raw), "gzip", LIMIT) == raw
    assert body._decode(gzip.compress(raw) + gzip.compress(raw), "x-gzip", LIMIT) == raw + raw
    assert body._decode(zlib.compress(raw), "deflate", LIMIT) == raw
    c = zlib.compressobj(wbits=-15)
    assert body._decode(c.compress(raw) + c.flush(), "deflate", LIMIT) == raw


@pytest.mark.parametrize(
    "data, coding",
    [
        (b'{"a": 1}', "gzip"),
        (gzip.compress(b'{"a": 1}')[:-5], "gzip"),
        (gzip.compress(b'{"a": 1}') + b"\x00\x01junk", "gzip"),
        (zlib.compress(b'{"a": 1}') + b"more", "deflate"),
        (b"\x78\x9c not deflate", "deflate"),
    ],
)
def test_a_body_that_is_not_its_coding_is_400(data: bytes, coding: str) -> None:
    with pytest.raises(BadRequest) as exc:
        body._decode(data, coding, LIMIT)
    assert exc.value.extra["param"] == "body"


def test_decoded_size_counts_against_the_limit() -> None:
    exact = b"x" * LIMIT
    assert body._decode(gzip.compress(exact), "gzip", LIMIT) == exact
    with pytest.raises(PayloadTooLarge):
        body._decode(gzip.compress(exact + b"x"), "gzip", LIMIT)
    # a bomb spread over many members
    with pytest.raises(PayloadTooLarge):
        body._decode(gzip.compress(b"y" * 1000) * 5, "gzip", LIMIT)
    with pytest.raises(PayloadTooLarge):
        body._decode(zlib.compress(b"\x00" * 10_000_000), "deflate", LIMIT)


def test_codings() -> None:
    env: dict[str, Any] = {"HTTP_CONTENT_ENCODING": "gzip, identity ,deflate"}
    assert body._codings(env) == ["gzip", "deflate"]
    assert body._codings({}) == []
    for bad in ("br", "gzip, br", "compress", "zstd", "*"):
        with pytest.raises(UnsupportedMediaType) as exc:
            body._codings({"HTTP_CONTENT_ENCODING": bad})
        assert exc.value.extra["param"] == "Content-Encoding"


def test_read_counts_and_refuses_short_bodies() -> None:
    assert body._read(io.BytesIO(b"abcdef"), 6, LIMIT) == b"abcdef"
    with pytest.raises(BadRequest, match="ended after 3 of the 6 bytes"):
        body._read(io.BytesIO(b"abc"), 6, LIMIT)
    assert body._read(io.BytesIO(b"z" * LIMIT), None, LIMIT) == b"z" * LIMIT
    with pytest.raises(PayloadTooLarge):
        body._read(io.BytesIO(b"z" * (LIMIT + 1)), None, LIMIT)


class _Broken(io.RawIOBase):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def read(self, n: int = -1) -> bytes:
        raise self.exc


def test_stream_errors_are_400_or_408() -> None:
    from gunicorn.http.errors import InvalidChunkSize, NoMoreData

    from backend.errors import RequestTimeout

    for exc in (InvalidChunkSize(b"zz"), NoMoreData(b""), OSError("Invalid chunk header")):
        with pytest.raises(BadRequest) as info:
            body._read(_Broken(exc), None, LIMIT)
        assert info.value.extra["param"] == "body"
    with pytest.raises(RequestTimeout):
        body._read(_Broken(TimeoutError()), 10, LIMIT)


@pytest.fixture
def client(tmp_path: Any) -> Any:
    settings = Settings.from_env(
        {},
        kv_url=f"sqlite://{tmp_path}/kv.sqlite",
        object_store_url=f"file://{tmp_path}/obj",
        max_body_bytes=LIMIT,
        turbopuffer_base_url="http://127.0.0.1:9",  # nothing listens: no call may go out
    )
    return create_app(settings).test_client()


def test_the_hook_refuses_before_any_view(client: Any) -> None:
    # a chunked body, as the server hands it on (already de-chunked), past the limit
    r = client.post(
        "/v2/namespaces/ns",
        environ_overrides={
            "wsgi.input": io.BytesIO(b"{" + b" " * LIMIT + b"}"),
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input_terminated": True,
        },
    )
    assert r.status_code == 413 and r.get_json()["error"]["param"] == "body"
    r = client.post(
        "/v1/namespaces/ns/query",
        data=b"{}",
        headers={"Content-Length": "2", "Transfer-Encoding": "chunked"},
    )
    assert r.status_code == 400 and r.get_json()["error"]["param"] == "Content-Length"
    r = client.post("/v2/namespaces/ns", data=b"{}", headers={"Content-Encoding": "br"})
    assert r.status_code == 415 and r.get_json()["error"]["code"] == "unsupported_media_type"
    r = client.post(
        "/v2/namespaces/ns/snapshots",
        data=gzip.compress(b'{"field": ' + b" " * LIMIT + b'"a"}'),
        headers={"Content-Encoding": "gzip"},
    )
    assert r.status_code == 413


def test_a_decoded_body_reaches_the_view(client: Any) -> None:
    r = client.post(
        "/v2/namespaces/ns/snapshots",
        data=gzip.compress(b'{"field": "color", "bogus": 1}'),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    # the view parsed the decoded JSON: it names the unknown parameter
    assert r.status_code == 400 and r.get_json()["error"]["param"] == "bogus", r.get_json()
