"""One exception per failure kind; one Flask error handler renders them all.

Every error Layer makes is ``{"error": {"code": ..., "message": ...}}`` (DESIGN.md
"Errors"). Services raise these; views never build error responses by hand.
"""

from __future__ import annotations

from typing import Any


class LayerError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, *, param: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        if param is not None:
            extra["param"] = param
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        err.update(self.extra)
        return {"error": err}


class BadRequest(LayerError):
    status = 400
    code = "bad_request"


class Unauthorized(LayerError):
    status = 401
    code = "unauthorized"


class Forbidden(LayerError):
    status = 403
    code = "forbidden"


class NotFound(LayerError):
    status = 404
    code = "not_found"


class RequestTimeout(LayerError):
    status = 408
    code = "request_timeout"


class AmbiguousSha(LayerError):
    status = 409
    code = "ambiguous_sha"


class Conflict(LayerError):
    status = 409
    code = "conflict"


class PayloadTooLarge(LayerError):
    status = 413
    code = "request_entity_too_large"  # what werkzeug's 413 has always been called here


class UnsupportedMediaType(LayerError):
    status = 415
    code = "unsupported_media_type"


class Unprocessable(LayerError):
    status = 422
    code = "unprocessable"


class NotImplementedHere(LayerError):
    """A request feature Layer does not implement (a transfer coding other than chunked)."""

    status = 501
    code = "not_implemented"


class UpstreamError(LayerError):
    """The upstream failed (after retries for reads). Carries the upstream's status."""

    status = 502
    code = "upstream_error"

    def __init__(self, message: str, *, upstream_status: int | None = None) -> None:
        super().__init__(message, upstream_status=upstream_status)
        self.upstream_status = upstream_status


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamNotFound(NotFound):
    """The upstream answered 404 (unknown namespace)."""


class StoreDown(LayerError):
    status = 503
    code = "store_unavailable"
