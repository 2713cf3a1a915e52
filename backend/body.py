"""Request bodies, read whole and counted before any view sees them.

A ``before_request`` hook (after auth, so nobody unauthenticated makes Layer read or
inflate anything) reads the WSGI server's stream once, itself, counting every byte:

- a body over ``LAYER_MAX_BODY_BYTES`` is 413, chunked bodies included (they are counted
  as they are read, never cut at the limit);
- a body that ends before its ``Content-Length`` (the client half-closed) is 400;
- malformed chunked framing (a chunk size like ``zz``, a chunk without its terminator,
  a stream that stops before the last chunk) is 400, not the catch-all 500;
- ``Content-Encoding: gzip`` (or ``x-gzip``, ``deflate``, ``identity``, or a list of
  them) is decoded, the decoded size counting against the same limit (a gzip bomb is
  413); a body that is not what its label says is 400; any other coding is 415.

Views and the proxy then see exactly the bytes read, decoded, with ``Content-Length`` set
to their size and the coding and framing headers gone: the proxy forwards a decoded
body without ``Content-Encoding``, and nothing cut, partial or still encoded goes on.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

from flask import Flask, request
from gunicorn.http.errors import ParseException

from backend.errors import (
    BadRequest,
    NotImplementedHere,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from backend.extensions import get_settings

READ_SIZE = 1 << 20
SUPPORTED_CODINGS = ("identity", "gzip", "x-gzip", "deflate")
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


def _too_large(limit: int, *, decoded: bool = False) -> PayloadTooLarge:
    what = "decompresses to more" if decoded else "is larger"
    return PayloadTooLarge(
        f"request body {what} than LAYER_MAX_BODY_BYTES ({limit} bytes)", param="body"
    )


def _framing(environ: dict[str, Any]) -> tuple[int | None, bool]:
    """(Content-Length or None, chunked?); ambiguous or unknown framing is 400."""
    te = str(environ.get("HTTP_TRANSFER_ENCODING", "")).strip().lower()
    if te and te != "chunked":
        raise NotImplementedHere(
            f"Transfer-Encoding {te[:40]!r} is not supported: send chunked or a "
            "Content-Length (compress with Content-Encoding)",
            param="Transfer-Encoding",
        )
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    length: int | None = None
    if raw:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise BadRequest(
                f"Content-Length must be a non-negative integer, got {raw[:40]!r}",
                param="Content-Length",
            )
        length = int(raw)
    if te and length is not None:
        raise BadRequest(
            "send either Content-Length or Transfer-Encoding: chunked, not both",
            param="Content-Length",
        )
    return length, bool(te)


def _read(stream: Any, length: int | None, limit: int) -> bytes:
    """Read the body: exactly ``length`` bytes, or a chunked body to its end."""
    buf = bytearray()
    try:
        if length is not None:
            while len(buf) < length:
                chunk = stream.read(min(READ_SIZE, length - len(buf)))
                if not chunk:
                    raise BadRequest(
                        f"request body ended after {len(buf)} of the {length} bytes its "
                        "Content-Length announced",
                        param="body",
                    )
                buf += chunk
        else:
            while chunk := stream.read(READ_SIZE):
                buf += chunk
                if len(buf) > limit:
                    raise _too_large(limit)
    except ParseException as exc:
        raise BadRequest(
            f"request body has malformed chunked framing: {str(exc)[:100]}", param="body"
        ) from None
    except TimeoutError:
        raise RequestTimeout("request body was not received in time", param="body") from None
    except OSError as exc:  # gunicorn's NoMoreData, werkzeug's bad chunk header, a reset
        raise BadRequest(
            f"request body could not be read to its end: {str(exc)[:100]}", param="body"
        ) from None
    return bytes(buf)


def _codings(environ: dict[str, Any]) -> list[str]:
    """The body's codings in the order they were applied; 415 for one Layer cannot undo."""
    raw = str(environ.get("HTTP_CONTENT_ENCODING", ""))
    codings = [c.strip().lower() for c in raw.split(",") if c.strip()]
    for coding in codings:
        if coding not in SUPPORTED_CODINGS:
            raise UnsupportedMediaType(
                f"Content-Encoding {coding[:40]!r} is not supported: send the body as "
                "identity, gzip or deflate",
                param="Content-Encoding",
            )
    return [c for c in codings if c != "identity"]


def _inflate(data: bytes, wbits: int, limit: int, coding: str) -> bytes:
    """Decompress one zlib-family stream (gzip: every member), at most ``limit`` bytes."""
    out = bytearray()
    rest = data
    while True:
        d = zlib.decompressobj(wbits)
        try:
            while True:
                out += d.decompress(rest, limit + 1 - len(out))
                if len(out) > limit:
                    raise _too_large(limit, decoded=True)
                rest = d.unconsumed_tail
                if d.eof or not rest:
                    break
        except zlib.error as exc:
            raise BadRequest(
                f"request body is labelled Content-Encoding: {coding} but is not valid "
                f"{coding}: {exc}",
                param="body",
            ) from None
        if not d.eof:
            raise BadRequest(
                f"request body is labelled Content-Encoding: {coding} but its {coding} "
                "stream is truncated",
                param="body",
            )
        rest = d.unused_data
        if not rest:
            return bytes(out)
        if wbits != _GZIP_WBITS:
            raise BadRequest(
                f"request body has bytes after the end of its {coding} stream", param="body"
            )


def _decode(data: bytes, coding: str, limit: int) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return _inflate(data, _GZIP_WBITS, limit, "gzip")
    # "deflate" is zlib-wrapped by the RFC; some clients send it raw.
    zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
    return _inflate(data, _ZLIB_WBITS if zlib_header else _RAW_DEFLATE_WBITS, limit, "deflate")


def read_body() -> None:
    environ = request.environ
    limit = get_settings().max_body_bytes
    length, chunked = _framing(environ)
    if length is not None and length > limit:
        raise _too_large(limit)
    data = b""
    if chunked or length:
        codings = _codings(environ)
        data = _read(environ["wsgi.input"], length, limit)
        for coding in reversed(codings):
            if data:
                data = _decode(data, coding, limit)
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.pop("HTTP_CONTENT_ENCODING", None)


def init_app(app: Flask) -> None:
    app.before_request(read_body)
