"""gunicorn's own refusals in Layer's JSON error contract (backend/gunicorn_worker.py).

The raw-socket tests against the running server are in tests/integration/test_hostile_http.py.
"""

from __future__ import annotations

import orjson
from gunicorn.http import errors as gerr

from backend.gunicorn_worker import describe, error_response


def test_every_parse_error_is_a_json_response() -> None:
    samples = {
        gerr.LimitRequestLine(5000, 4094): 414,
        gerr.LimitRequestHeaders("limit request headers fields"): 431,
        gerr.UnsupportedTransferCoding("br"): 501,
        gerr.InvalidRequestLine("GET"): 400,
        gerr.InvalidRequestMethod("G@T"): 400,
        gerr.InvalidHTTPVersion("HTTP/9"): 400,
        gerr.InvalidHeader("CONTENT-LENGTH"): 400,
        gerr.InvalidHeader("X-THING"): 400,
        gerr.InvalidHeaderName("bad name"): 400,
        gerr.InvalidChunkSize(b"zz"): 400,
        gerr.InvalidResponseHeader("x"): 500,
        ValueError("boom"): 500,
    }
    for exc, status in samples.items():
        raw = error_response(exc)
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(f"HTTP/1.1 {status} ".encode()), (exc, head)
        assert b"Content-Type: application/json" in head and b"Connection: close" in head
        assert f"Content-Length: {len(body)}".encode() in head
        err = orjson.loads(body)["error"]
        assert err["code"] and err["message"], err
    assert describe(gerr.InvalidHeader("CONTENT-LENGTH"))[3] == "Content-Length"
    assert describe(gerr.InvalidHeader("TRANSFER-ENCODING"))[3] == "Transfer-Encoding"
    assert describe(ValueError("secret detail"))[2] == "internal error; see the server log"
