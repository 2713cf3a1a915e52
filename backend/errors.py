"""One exception per failure kind; one Flask error handler renders them all.

Every error Layer makes is ``{"error": {"code": ..., "message": ...}}`` (DESIGN.md
"Errors"). Services raise these; views never build error responses by hand.
"""

from __future__ import annotations

import math
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

    def headers(self) -> dict[str, str]:
        """Response headers that go with the error (none by default)."""
        return {}


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
    """The upstream failed (after retries for reads). Carries the upstream's status.

    The subclasses relay what a client can act on (README "Upstream errors on Layer's
    routes"); ``retry_after_s``, when the upstream asked for a wait, goes back as
    ``Retry-After`` and ``retry-after-ms`` so the client backs off as told.
    """

    status = 502
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, upstream_status=upstream_status)
        self.upstream_status = upstream_status
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        if self.retry_after_s is None:
            return {}
        return {
            "Retry-After": str(math.ceil(self.retry_after_s)),
            "retry-after-ms": str(round(self.retry_after_s * 1000)),
        }


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamRateLimited(UpstreamError):
    """429 upstream (rate limit or write backpressure): the client should wait and retry."""

    status = 429
    code = "rate_limited"


class UpstreamConflict(UpstreamError):
    """409 upstream (lock timeout, a schema change re-indexing): retryable, as the SDKs do."""

    status = 409
    code = "upstream_conflict"


class UpstreamAuth(UpstreamError):
    """401/403 upstream: Layer's own key (``TURBOPUFFER_API_KEY``) was refused.

    A 502, not a 401/403: the caller's Layer key was accepted, and a 401 would tell the
    caller to change a key that is fine. Only Layer's operator can fix this one.
    """

    code = "upstream_auth"


class UpstreamRejected(UpstreamError):
    """400/422 upstream: the request built from the caller's input was refused.

    The status stays the upstream's (400 or 422), with the upstream's message: on
    Layer's routes what reaches the upstream is the caller's filters, names and page
    sizes, so the caller is the one who can fix it.
    """

    code = "upstream_rejected"

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, upstream_status=upstream_status, retry_after_s=retry_after_s)
        self.status = upstream_status if upstream_status in (400, 422) else 400


class UpstreamNotFound(NotFound):
    """The upstream answered 404 (unknown namespace)."""


class StoreDown(LayerError):
    status = 503
    code = "store_unavailable"
