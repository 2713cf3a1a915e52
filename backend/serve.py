"""``layer serve``: gunicorn in-process, one worker, threads, the watcher inside it.

The watcher starts in the worker after fork (``post_worker_init``), never in the
master, and stops with it, releasing the lease.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from backend.app import create_app
from backend.gunicorn_worker import LIMITS, WORKER_CLASS
from backend.scheduling import build_watcher_scheduler, stop_watcher
from common.settings import Settings

log = logging.getLogger(__name__)


class _Standalone(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def serve(
    settings: Settings,
    host: str,
    port: int,
    threads: int = 8,
    watch: bool = True,
    job_grace_s: float = 20.0,
) -> int:
    app = create_app(settings)
    state: dict[str, Any] = {}

    def post_worker_init(worker: Any) -> None:
        if watch:
            sched = build_watcher_scheduler(app)
            sched.start()
            state["scheduler"] = sched

    def worker_exit(server: Any, worker: Any) -> None:
        sched = state.get("scheduler")
        if sched is not None:
            stop_watcher(app, sched)
        app.extensions["layer.job_runner"].shutdown(job_grace_s)

    options = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": WORKER_CLASS,  # gthread, gunicorn's own refusals in JSON
        **LIMITS,
        "threads": threads,
        "timeout": 120,
        "graceful_timeout": int(job_grace_s) + 10,
        "accesslog": None,  # Layer logs each request itself (observability.py)
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }
    _Standalone(app, options).run()
    return 0
