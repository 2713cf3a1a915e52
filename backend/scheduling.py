"""Starting the watcher on APScheduler 3.x (STYLE.md "Background work").

``BackgroundScheduler`` inside ``layer serve``; ``BlockingScheduler`` for ``layer
watcher``. The tick job has a stable id, ``max_instances=1`` and ``coalesce=True`` so a
slow tick is never run twice at once, and runs inside the app context.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from backend.extensions import get_watcher

log = logging.getLogger(__name__)

TICK_JOB_ID = "layer-watcher-tick"


def _on_error(event: JobExecutionEvent) -> None:
    log.error(
        "scheduled job failed", extra={"job_id": event.job_id, "error": repr(event.exception)}
    )


def _tick(app: Flask) -> None:
    with app.app_context():
        get_watcher().tick()


def build_watcher_scheduler(app: Flask, *, blocking: bool = False) -> BaseScheduler:
    settings = app.extensions["layer.settings"]
    interval_s = settings.watch_interval_ms / 1000
    scheduler: BaseScheduler = BlockingScheduler() if blocking else BackgroundScheduler(daemon=True)
    scheduler.add_listener(_on_error, EVENT_JOB_ERROR)
    scheduler.add_job(
        _tick,
        "interval",
        args=[app],
        id=TICK_JOB_ID,
        seconds=interval_s,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(1, int(interval_s * 2)),
        next_run_time=datetime.now(),
        replace_existing=True,
    )
    return scheduler


def stop_watcher(app: Flask, scheduler: BaseScheduler) -> None:
    """Stop ticking and release the lease so another watcher takes over at once."""
    if scheduler.running:
        # It may have been shut down from a signal handler meanwhile.
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=True)
    with app.app_context():
        get_watcher().shutdown()
