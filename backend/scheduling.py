"""Starting the watcher on APScheduler 3.x (STYLE.md "Background work").

``BackgroundScheduler`` inside ``layer serve``; ``BlockingScheduler`` for ``layer
watcher``. The tick job has a stable id, ``max_instances=1`` and ``coalesce=True`` so a
slow tick is never run twice at once, and runs inside the app context. Beside it the
lease keeper (``Watcher.keep_leases``) runs every ``keep_interval_ms`` on another of the
scheduler's threads, so heartbeats and takeovers do not wait for a long tick.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from backend.extensions import get_watcher
from backend.shards import keep_interval_ms

log = logging.getLogger(__name__)

TICK_JOB_ID = "layer-watcher-tick"
KEEP_JOB_ID = "layer-watcher-leases"
# How long a stopping watcher waits for its snapshots in flight to give up (each gives up
# at its next page, so this bounds one upstream call and its retries).
STOP_GRACE_S = 5.0


def _on_error(event: JobExecutionEvent) -> None:
    log.error(
        "scheduled job failed", extra={"job_id": event.job_id, "error": repr(event.exception)}
    )


def _tick(app: Flask) -> None:
    with app.app_context():
        get_watcher().tick()


def _keep(app: Flask) -> None:
    with app.app_context():
        get_watcher().keep_leases()


def _every(
    scheduler: BaseScheduler,
    fn: Callable[[Flask], None],
    app: Flask,
    job_id: str,
    seconds: float,
    **extra: Any,
) -> None:
    """A job that never runs twice at once and skips, rather than piles up, missed runs."""
    scheduler.add_job(
        fn,
        "interval",
        args=[app],
        id=job_id,
        seconds=seconds,
        max_instances=1,
        coalesce=True,
        replace_existing=True,
        **extra,
    )


def build_watcher_scheduler(app: Flask, *, blocking: bool = False) -> BaseScheduler:
    settings = app.extensions["layer.settings"]
    app.extensions["layer.snapshots"].start_watch()
    interval_s = settings.watch_interval_ms / 1000
    scheduler: BaseScheduler = BlockingScheduler() if blocking else BackgroundScheduler(daemon=True)
    scheduler.add_listener(_on_error, EVENT_JOB_ERROR)
    _every(
        scheduler,
        _tick,
        app,
        TICK_JOB_ID,
        interval_s,
        misfire_grace_time=max(1, int(interval_s * 2)),
        next_run_time=datetime.now(),
    )
    keep_s = keep_interval_ms(settings.lease_ttl_ms) / 1000
    _every(scheduler, _keep, app, KEEP_JOB_ID, keep_s, misfire_grace_time=1)
    return scheduler


def stop_watcher(app: Flask, scheduler: BaseScheduler) -> None:
    """Stop ticking and release the lease so another watcher takes over at once.

    Its snapshots are told to stop first, so that a scan in flight gives up while the
    tick finishes rather than after (see ``backend/snapshots/watch.py``)."""
    snapshots = app.extensions["layer.snapshots"]
    snapshots.stop_watch(grace_s=0)
    if scheduler.running:
        # It may have been shut down from a signal handler meanwhile.
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=True)
    snapshots.stop_watch(grace_s=STOP_GRACE_S)
    with app.app_context():
        get_watcher().shutdown()
