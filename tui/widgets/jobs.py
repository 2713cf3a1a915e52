"""The namespace's snapshot jobs: one list item per job with a live progress bar."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ListItem, ProgressBar

from tui.format import human_count

_STATUS_ICON = {"running": "⟳", "completed": "✓", "failed": "✗", "cancelled": "⊘"}


def job_label(job: dict[str, Any]) -> str:
    kind = "warm" if job.get("kind") == "cache_warm" else str(job.get("field") or "?")
    source = job.get("resolved_source") or job.get("source") or "auto"
    return f"{_STATUS_ICON.get(str(job.get('status')), '?')} {kind} [{source}]"


def job_status(job: dict[str, Any]) -> str:
    status = str(job.get("status"))
    scanned = int(job.get("documents_scanned") or 0)
    if status == "failed":
        err = job.get("error") or {}
        return f"failed: {err.get('code') or err.get('message') or 'error'}"
    if status == "cancelled":
        return f"cancelled after {human_count(scanned)} docs"
    if status == "running" and job.get("cancel_requested"):
        return f"cancelling… {human_count(scanned)} docs"
    if status == "completed":
        sha = job.get("sha")
        # A stored job reads the latest snapshot: it scans nothing, so say where it read.
        done = (
            "stored" if job.get("resolved_source") == "stored" else f"{human_count(scanned)} docs"
        )
        return done + (f" {str(sha)[:7]}" if sha else "")
    return f"{human_count(scanned)} docs"


class JobItem(ListItem):
    """A job row; ``update_job`` refreshes it in place as polls come in."""

    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__(id=None, classes="job")
        self.job = job
        self.job_id = str(job.get("id"))

    def compose(self) -> ComposeResult:
        with Horizontal(classes="job-row"):
            yield Label(job_label(self.job), classes="job-label")
            yield ProgressBar(total=1.0, show_eta=False, classes="job-bar")
            yield Label(job_status(self.job), classes="job-status")

    def on_mount(self) -> None:
        self._apply()

    def update_job(self, job: dict[str, Any]) -> None:
        self.job = job
        if self.is_mounted:
            self._apply()

    def _apply(self) -> None:
        job = self.job
        status = str(job.get("status"))
        progress = 1.0 if status == "completed" else float(job.get("progress") or 0.0)
        self.query_one(ProgressBar).update(total=1.0, progress=progress)
        self.query_one(".job-label", Label).update(job_label(job))
        self.query_one(".job-status", Label).update(job_status(job))
        self.set_class(status == "failed", "failed")
        self.set_class(status == "completed", "completed")
        self.set_class(status == "cancelled", "cancelled")
