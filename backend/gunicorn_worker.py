"""gunicorn's gthread worker, answering the requests gunicorn refuses itself in JSON.

gunicorn parses the request line and headers before Layer sees anything; what it
refuses there (a request line over ``limit_request_line``, too many or too large
headers, a bad ``Content-Length``, both ``Content-Length`` and chunked, an unknown
``Transfer-Encoding``, …) it answers with an HTML page. This worker writes Layer's error
contract instead: the same statuses, ``{"error": {"code", "message", "param"}}``.
Everything else is gunicorn's own ``ThreadWorker``.
"""

from __future__ import annotations

from typing import Any

import orjson
from gunicorn import util
from gunicorn.http import errors as gerr
from gunicorn.workers.gthread import ThreadWorker

WORKER_CLASS = "backend.gunicorn_worker.JsonErrorWorker"
# What gunicorn refuses before Layer sees a request (gunicorn's defaults, stated here so
# the README and both servers agree): a longer request line is 414, more or larger
# header fields 431.
LIMITS = {
    "limit_request_line": 4094,  # bytes of "METHOD /path?query HTTP/1.1"
    "limit_request_fields": 100,  # header fields
    "limit_request_field_size": 8190,  # bytes of one header field, name and value
}

_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
}


def _classes(*names: str) -> tuple[type[BaseException], ...]:
    """gunicorn's error classes by name; one an older gunicorn lacks is left out."""
    return tuple(getattr(gerr, n) for n in names if hasattr(gerr, n))


_INTERNAL = (500, "internal", "internal error; see the server log", None)
# (classes, status, code, message prefix, param), first match wins.
_RULES: tuple[tuple[tuple[type[BaseException], ...], int, str, str, str | None], ...] = (
    (_classes("LimitRequestLine"), 414, "uri_too_long", "request line too long", "path"),
    (
        _classes("LimitRequestHeaders"),
        431,
        "request_header_fields_too_large",
        "headers refused",
        "headers",
    ),
    (
        _classes("UnsupportedTransferCoding"),
        501,
        "not_implemented",
        "Transfer-Encoding refused (send chunked or a Content-Length)",
        "Transfer-Encoding",
    ),
    (_classes("ExpectationFailed"), 417, "expectation_failed", "refused Expect", "headers"),
    (_classes("ForbiddenProxyRequest"), 403, "forbidden", "request forbidden", None),
    (
        _classes("InvalidRequestLine", "InvalidRequestMethod", "InvalidHTTPVersion"),
        400,
        "bad_request",
        "malformed request line",
        "request_line",
    ),
    (
        _classes("InvalidHeaderName", "ObsoleteFolding"),
        400,
        "bad_request",
        "malformed header",
        "headers",
    ),
    (
        _classes("InvalidChunkSize", "ChunkMissingTerminator", "InvalidChunkExtension"),
        400,
        "bad_request",
        "malformed chunked body",
        "body",
    ),
    (_classes("ParseException"), 400, "bad_request", "malformed request", None),
)


def describe(exc: BaseException) -> tuple[int, str, str, str | None]:
    """(status, code, message, param) for an error gunicorn raised while parsing."""
    if isinstance(exc, _classes("InvalidResponseHeader", "InvalidResponseHeaderName")):
        return _INTERNAL  # a header the app sent: the app's fault
    if isinstance(exc, _classes("ConfigurationProblem")):
        return _INTERNAL
    if isinstance(exc, _classes("InvalidHeader")):
        name = str(getattr(exc, "hdr", "")).title()
        if name in ("Content-Length", "Transfer-Encoding"):
            message = (
                f"invalid {name}: a body is framed by one non-negative Content-Length "
                "or by Transfer-Encoding: chunked, never both"
            )
            return 400, "bad_request", message, name
        return 400, "bad_request", f"malformed header: {exc}", "headers"
    for classes, status, code, prefix, param in _RULES:
        if isinstance(exc, classes):
            return status, code, f"{prefix}: {exc}", param
    return _INTERNAL


def error_response(exc: BaseException) -> bytes:
    status, code, message, param = describe(exc)
    err: dict[str, Any] = {"code": code, "message": message[:300]}
    if param is not None:
        err["param"] = param
    body = orjson.dumps({"error": err})
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorWorker(ThreadWorker):
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status = describe(exc)[0]
        ip = (addr or ("", -1))[0]
        if status >= 500:
            self.log.exception("Error handling request")
        else:
            self.log.warning("Invalid request from ip=%s: %s", ip, str(exc)[:300])
        try:
            util.write_nonblock(client, error_response(exc))
        except OSError:
            self.log.debug("Failed to send error message.")
