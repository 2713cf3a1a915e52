"""Structured logs and request ids.

One JSON object per line (``LAYER_LOG_FORMAT=json``, the default for ``serve`` and
``watcher``), with whatever a call site passed in ``extra``. Every request gets an id
(``X-Request-Id`` when the caller sent a sane one, else a new one), echoed back and
logged with the route template, status and duration. A filter scrubs the upstream key
from every record, should one ever reach a message.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

import orjson
from flask import Flask, Response, g, request

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9\-_.:]{1,128}$")
_STD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

access_log = logging.getLogger("layer.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STD_ATTRS and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines that still carry the structured fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{k}={v}"
            for k, v in vars(record).items()
            if k not in _STD_ATTRS and not k.startswith("_")
        ]
        return f"{line} {' '.join(extras)}" if extras else line


class RedactFilter(logging.Filter):
    """Drop the upstream key from messages and extras (defence in depth)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        msg = record.getMessage()
        for s in self.secrets:
            if s in msg:
                msg = msg.replace(s, "[redacted]")
        record.msg, record.args = msg, None
        for k, v in list(vars(record).items()):
            if k not in _STD_ATTRS and isinstance(v, str):
                for s in self.secrets:
                    if s in v:
                        setattr(record, k, v.replace(s, "[redacted]"))
        return True


def configure_logging(
    level: str = "INFO",
    fmt: str = "json",
    stream: Any = None,
    secrets: list[str] | None = None,
    path: str | None = None,
) -> None:
    handler: logging.Handler = (
        logging.FileHandler(path) if path else logging.StreamHandler(stream or sys.stderr)
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactFilter(secrets or []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        rid = request.headers.get("X-Request-Id", "")
        g.request_id = rid if REQUEST_ID_RE.match(rid) else uuid.uuid4().hex
        g.t0 = time.perf_counter()

    @app.after_request
    def _finish(resp: Response) -> Response:
        rid = getattr(g, "request_id", None) or uuid.uuid4().hex
        resp.headers["X-Request-Id"] = rid
        t0 = getattr(g, "t0", None)
        duration = (time.perf_counter() - t0) * 1000 if t0 is not None else 0.0
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        access_log.info(
            "request",
            extra={
                "request_id": rid,
                "method": request.method,
                "route": rule,
                "status": resp.status_code,
                "duration_ms": round(duration, 2),
            },
        )
        return resp
