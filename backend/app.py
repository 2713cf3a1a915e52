"""The application factory (STYLE.md: like flaskr).

``create_app`` does no work beyond wiring: no network, no threads. The watcher is
started by ``layer serve`` / ``layer watcher``, never here, so gunicorn workers do not
each start one.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from backend import auth, body, compression, extensions, metrics, observability, params
from backend.errors import LayerError
from backend.jsonprovider import OrjsonProvider
from backend.stores.errors import StoreUnavailable
from backend.views import activity, cache, health, namespaces, openapi, proxy, snapshots
from common.settings import Settings

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def register_errors(app: Flask) -> None:
    @app.errorhandler(LayerError)
    def layer_error(exc: LayerError) -> tuple[Response, int, dict[str, str]]:
        return jsonify(exc.body()), exc.status, exc.headers()

    @app.errorhandler(StoreUnavailable)
    def store_down(exc: StoreUnavailable) -> tuple[Response, int]:
        log.error("store unavailable", extra={"store": exc.store, "error": exc.message})
        return _error(503, "store_unavailable", f"{exc.store} unavailable: {exc.message}")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = "request body is larger than LAYER_MAX_BODY_BYTES"
        return _error(status, code, message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return _error(500, "internal", "internal error; see the server log")


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("layer", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = OrjsonProvider(app)  # insertion order, several times faster than json
    extensions.init_app(app, settings)
    observability.init_app(app)
    auth.init_app(app)
    app.before_request(params.check_raw_path)
    body.init_app(app)  # after auth: an unauthenticated body is never read or inflated
    register_errors(app)
    compression.init_app(app)  # gzip for clients that accept it (backend/compression.py)
    for bp in (
        health.bp,
        metrics.bp,
        namespaces.bp,
        snapshots.bp,
        cache.bp,
        activity.bp,
        openapi.bp,
        proxy.bp,
    ):
        app.register_blueprint(bp)
    return app
