"""Serving the app from a background thread of the current process.

For ``layer demo`` and the integration tests: a threaded WSGI server (werkzeug's
``BaseWSGIServer`` with ``threaded=True``, no reloader, no debugger) plus, optionally,
the watcher on a ``BackgroundScheduler``. Production uses gunicorn (``layer serve``,
the Procfile).
"""

from __future__ import annotations

import threading
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask
from werkzeug.serving import make_server

from backend.scheduling import build_watcher_scheduler, stop_watcher


class InProcessServer:
    def __init__(
        self, app: Flask, host: str = "127.0.0.1", port: int = 0, *, watch: bool = False
    ) -> None:
        self.app = app
        self._server: Any = make_server(host, port, app, threaded=True)
        self.host = host
        self.port = int(self._server.server_port)
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="layer-http", daemon=True
        )
        self._watch = watch
        self.scheduler: BaseScheduler | None = None

    def start(self) -> InProcessServer:
        self._thread.start()
        if self._watch:
            self.scheduler = build_watcher_scheduler(self.app)
            self.scheduler.start()
        return self

    def stop(self) -> None:
        if self.scheduler is not None:
            stop_watcher(self.app, self.scheduler)
            self.scheduler = None
        self._server.shutdown()
        self._server.server_close()
        self.app.extensions["layer.job_runner"].shutdown(grace_s=5.0)
        self._thread.join(timeout=5)
