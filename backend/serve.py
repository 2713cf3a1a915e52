"""``layer serve``: gunicorn in-process, one worker, threads, the watcher inside it.

The watcher starts in the worker after fork (``post_worker_init``), never in the
master, and stops with it, releasing the lease.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from backend.app import create_app
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


class PortInUse(Exception):
    """The address ``layer serve`` was asked to bind is taken (said in one line, exit 1)."""


def check_bind(host: str, port: int) -> None:
    """Bind and release ``host:port`` as gunicorn will, so a busy port is one clear line.

    gunicorn retries a taken address for five seconds and then reports "Can't connect",
    which reads like a client error; this says what is wrong before it starts.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port} on {host} is in use by another process; "
                    "stop it or choose another with --port"
                ) from None
            raise PortInUse(f"cannot bind {host}:{port}: {exc.strerror}") from None


def serve(
    settings: Settings,
    host: str,
    port: int,
    threads: int = 8,
    watch: bool = True,
    job_grace_s: float = 20.0,
) -> int:
    check_bind(host, port)
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
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 120,
        "graceful_timeout": int(job_grace_s) + 10,
        "accesslog": None,  # Layer logs each request itself (observability.py)
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }
    _Standalone(app, options).run()
    return 0
