"""One namespace: its metadata and ``layer`` block, snapshot history, and jobs.

History loads newest first and pages with ``before=`` as the cursor nears the end.
Enter shows a snapshot body as histograms; marking two entries (space) shows their
diff. Jobs poll fast while one is running and show live progress bars; ``x`` cancels
the highlighted running job (or the only running one).
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Label, ListView, Static
from textual.widgets.data_table import RowDoesNotExist

from common.api_client import LayerClientError
from tui.format import (
    age,
    ago,
    clock_time,
    human_bytes,
    human_count,
    iso_to_ms,
    short_sha,
    timestamp,
)
from tui.messages import (
    ApiFailed,
    DiffLoaded,
    HistoryLoaded,
    JobCreated,
    JobsLoaded,
    MetadataLoaded,
    SnapshotLoaded,
    describe_error,
)
from tui.screens.base import Banner, DashboardScreen
from tui.widgets.histogram import Histogram
from tui.widgets.jobs import JobItem
from tui.widgets.table import NavList, NavTable, cursor_key

HISTORY_PAGE = 50
FINISHED = ("completed", "failed", "cancelled")


class JobCancelRequested(Message):
    def __init__(self, ns: str, job: dict[str, Any]) -> None:
        super().__init__()
        self.ns = ns
        self.job = job


JOB_POLL_S = 0.5


def metadata_text(ns: str, meta: dict[str, Any], now_ms: int) -> Text:
    layer = meta.get("layer") or {}
    index = meta.get("index") or {}
    cache = layer.get("cache_state") or {}
    out = Text()
    out.append(ns, style="bold")
    out.append("  ")
    stable_ms = layer.get("stable_as_of")
    if layer.get("is_stable"):
        out.append("✓ stable", style="green")
    else:
        out.append("⟳ updating", style="yellow")
    when = f"{clock_time(stable_ms)} UTC ({ago(stable_ms, now_ms)})" if stable_ms else None
    if layer.get("is_stable"):
        out.append(f" as of {when}" if when else "")
    else:
        out.append(f" · last stable {when}" if when else " · never stable yet")
    if cache:
        out.append(
            f" · cache {cache.get('state')}" + (" (warming)" if cache.get("warm_inflight") else "")
        )
    out.append("\n")
    status = str(index.get("status") or "?")
    if index.get("unindexed_bytes"):
        status += f" ({human_bytes(index.get('unindexed_bytes'))} unindexed)"
    out.append(
        f"{human_count(meta.get('approx_row_count'))} rows · {human_bytes(meta.get('approx_logical_bytes'))}"
        f" · index {status} · written {ago(iso_to_ms(meta.get('last_write_at')), now_ms)}\n",
        style="",
    )
    schema = meta.get("schema") or {}
    attrs = ", ".join(f"{k}:{(v or {}).get('type', '?')}" for k, v in schema.items())
    out.append(
        f"created {str(meta.get('created_at') or '—')[:10]} · schema: {attrs or '—'}", style="dim"
    )
    return out


def schema_fields(meta: dict[str, Any] | None) -> list[str]:
    """Attributes worth a snapshot: not ``id``/``vector``, not Layer's own watermark."""
    schema = (meta or {}).get("schema") or {}
    return [k for k in schema if k not in ("id", "vector") and not k.startswith("_layer")]


class NamespaceScreen(DashboardScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("backspace", "back", "Back", show=False),
        Binding("space", "mark", "Mark/diff"),
        Binding("s", "new_snapshot", "Snapshot"),
        Binding("x", "cancel_job", "Cancel job"),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("c", "clear_marks", "Clear marks", show=False),
        Binding("J", "focus_jobs", "Focus jobs", show=False),
        Binding("h,H", "focus_history", "Focus history", show=False),
        Binding("right_square_bracket", "values_page(1)", "Next values", show=False),
        Binding("left_square_bracket", "values_page(-1)", "Previous values", show=False),
        Binding("f", "find_values", "Find value", show=False),
        Binding("R", "retry_job", "Retry job", show=False),
        Binding("w", "warm_cache", "Warm cache", show=False),
        Binding("D", "drop_cache", "Drop cache", show=False),
        Binding("y", "yank", "Copy SHA/job id", show=False),
        Binding("Y", "yank_namespace", "Copy namespace", show=False),
        Binding("d", "describe", "Describe"),
    ]
    KEY_HELP = [
        ("enter", "Show the highlighted snapshot or job result"),
        ("space", "Mark a snapshot; two marks show their diff"),
    ]

    def __init__(self, ns: str, *, open_sha: str | None = None, new_snapshot: bool = False) -> None:
        super().__init__()
        self.ns = ns
        self.open_sha = open_sha
        self._want_form = new_snapshot
        self.metadata: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.history_done = False
        self._history_loading = False
        self.marks: list[str] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self._watched: set[str] = set()
        self._last_jobs_poll = 0.0
        self._jobs_loading = False
        self._banner_what: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(self.ns, style="bold"), id="meta")
        yield Banner(id="ns-banner")
        with Horizontal(id="ns-body"):
            with Vertical(id="ns-left"):
                yield Label("History", classes="pane-title")
                yield NavTable(id="history", cursor_type="row")
                yield Label("Jobs", classes="pane-title")
                yield Static("no jobs yet (s: new snapshot)", id="jobs-empty")
                yield NavList(id="jobs")
            with VerticalScroll(id="detail"):
                yield Input(placeholder="find a value…", id="value-find", classes="-hidden")
                yield Histogram(id="histogram")
        yield Footer()

    @property
    def history_table(self) -> DataTable[Any]:
        return self.query_one("#history", DataTable)

    @property
    def histogram(self) -> Histogram:
        return self.query_one("#histogram", Histogram)

    def on_mount(self) -> None:
        table = self.history_table
        table.add_column("", key="mark", width=1)
        table.add_column("Watermark UTC", key="wm", width=14)
        table.add_column("SHA", key="sha", width=8)
        table.add_column("Age", key="age", width=6)
        self.histogram.show_text(
            Text("Select a snapshot (Enter) or mark two (space) to diff.", style="dim")
        )
        table.focus()
        self.watch(table, "scroll_y", self._history_scrolled, init=False)
        self._load_metadata()
        self._load_history(None)
        self._load_jobs()
        if self.open_sha:
            self._load_snapshot(self.open_sha)
        self.set_interval(self.refresh_s, self._tick)
        self.set_interval(min(JOB_POLL_S, self.refresh_s), self._poll_jobs)
        self.set_interval(1.0, self._refresh_ages)

    # -- workers ----------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="ns-metadata")
    def _load_metadata(self) -> None:
        try:
            self.post_message(MetadataLoaded(self.ns, self.client.metadata(self.ns)))
        except LayerClientError as exc:
            self.post_message(ApiFailed("metadata", exc))

    @work(thread=True, exclusive=True, exit_on_error=False, group="ns-history")
    def _load_history(self, before: str | None) -> None:
        try:
            entries = self.client.history(self.ns, limit=HISTORY_PAGE, before=before)
            self.post_message(HistoryLoaded(self.ns, entries, before))
        except LayerClientError as exc:
            self.post_message(ApiFailed("history", exc))

    @work(thread=True, exclusive=True, exit_on_error=False, group="ns-detail")
    def _load_snapshot(self, sha: str) -> None:
        try:
            self.post_message(SnapshotLoaded(self.ns, self.client.snapshot(self.ns, sha)))
        except LayerClientError as exc:
            self.post_message(ApiFailed("snapshot", exc))

    @work(thread=True, exclusive=True, exit_on_error=False, group="ns-detail")
    def _load_diff(self, a: str, b: str) -> None:
        try:
            self.post_message(DiffLoaded(self.ns, self.client.diff(self.ns, a, b)))
        except LayerClientError as exc:
            self.post_message(ApiFailed("diff", exc))

    @work(thread=True, exclusive=True, exit_on_error=False, group="ns-jobs")
    def _load_jobs(self) -> None:
        try:
            self.post_message(JobsLoaded(self.ns, self.client.jobs(self.ns)))
        except LayerClientError as exc:
            self.post_message(ApiFailed("jobs", exc))

    @work(thread=True, exclusive=False, exit_on_error=False, group="ns-create")
    def _create_job(self, form: dict[str, Any]) -> None:
        try:
            job = self.client.create_snapshot(
                self.ns,
                form["field"],
                source=form.get("source", "auto"),
                filters=form.get("filters"),
                page_size=int(form.get("page_size", 1000)),
            )
            self.post_message(JobCreated(self.ns, job))
        except LayerClientError as exc:
            self.post_message(ApiFailed("create snapshot", exc))

    @work(thread=True, exclusive=False, exit_on_error=False, group="ns-cancel")
    def _cancel_job(self, job_id: str) -> None:
        try:
            self.post_message(JobCancelRequested(self.ns, self.client.cancel_job(self.ns, job_id)))
        except LayerClientError as exc:
            self.post_message(ApiFailed("cancel job", exc))

    # -- timers -----------------------------------------------------------------------

    def _tick(self) -> None:
        self._load_metadata()
        self._load_history(None)

    def _refresh_ages(self) -> None:
        """History ages tick with the clock, not only when a page arrives."""
        now = self.now_ms()
        table = self.history_table
        for entry in self.history:
            with contextlib.suppress(LookupError):
                table.update_cell(entry["sha"], "age", age(entry.get("watermark_ms"), now))

    def _poll_jobs(self) -> None:
        running = any(j.get("status") == "running" for j in self.jobs.values())
        due = time.monotonic() - self._last_jobs_poll >= self.refresh_s
        if (running or due) and not self._jobs_loading:
            self._jobs_loading = True
            self._last_jobs_poll = time.monotonic()
            self._load_jobs()

    def action_refresh(self) -> None:
        self._load_metadata()
        self._load_history(None)
        self._load_jobs()

    # -- handlers ---------------------------------------------------------------------

    @on(MetadataLoaded)
    def _on_metadata(self, message: MetadataLoaded) -> None:
        self.metadata = message.metadata
        self.query_one("#meta", Static).update(
            metadata_text(self.ns, message.metadata, self.now_ms())
        )
        self._ok("metadata")
        if self._want_form:
            self._want_form = False
            self.action_new_snapshot()

    def _ok(self, what: str) -> None:
        if self._banner_what == what:
            self._banner_what = None
            self.banner.clear()

    @on(ApiFailed)
    def _on_failed(self, message: ApiFailed) -> None:
        if message.what == "jobs":
            self._jobs_loading = False
        if message.what == "history":
            self._history_loading = False
        self._banner_what = message.what
        self.banner.show(f"{message.what}: {describe_error(message.error)}")
        if message.what == "metadata" and self._want_form:
            self._want_form = False
            self.action_new_snapshot()

    @on(HistoryLoaded)
    def _on_history(self, message: HistoryLoaded) -> None:
        self._history_loading = False
        self._ok("history")
        table = self.history_table
        known = {e["sha"] for e in self.history}
        fresh = [e for e in message.entries if e["sha"] not in known]
        if message.before is None:
            if not self.history:
                self.history_done = len(message.entries) < HISTORY_PAGE
            # Head refresh: newer entries go on top, in order.
            if self.history and fresh:
                at_top = table.cursor_row == 0
                self.history = fresh + self.history
                self._rebuild_history(keep_top=at_top)
                return
        else:
            self.history_done = len(message.entries) < HISTORY_PAGE
        now = self.now_ms()
        for entry in fresh:
            self.history.append(entry)
            table.add_row(*self._history_cells(entry, now), key=entry["sha"])
        if not self.history and self.history_done:
            self.histogram.show_text(
                Text("No snapshots yet for this namespace. Press s to create one.", style="dim")
            )

    def _history_cells(self, entry: dict[str, Any], now: int) -> list[str | Text]:
        sha = entry["sha"]
        mark: str | Text = Text("●", style="bold magenta") if sha in self.marks else ""
        wm = entry.get("watermark_ms")
        return [mark, timestamp(wm)[5:], short_sha(sha), age(wm, now)]

    def _rebuild_history(self, keep_top: bool) -> None:
        table = self.history_table
        key = self._cursor_sha()
        table.clear()
        now = self.now_ms()
        for entry in self.history:
            table.add_row(*self._history_cells(entry, now), key=entry["sha"])
        if key and not keep_top:
            with contextlib.suppress(RowDoesNotExist):
                table.move_cursor(row=table.get_row_index(key))

    def _cursor_sha(self) -> str | None:
        return cursor_key(self.history_table)

    def _maybe_load_more(self) -> None:
        if not self.history_done and not self._history_loading and self.history:
            self._history_loading = True
            self._load_history(self.history[-1]["sha"])

    @on(DataTable.RowHighlighted, "#history")
    def _history_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= event.data_table.row_count - 5:
            self._maybe_load_more()

    def _history_scrolled(self, scroll_y: float) -> None:
        """Mouse-wheel scrolling does not move the cursor; page on the viewport too."""
        table = self.history_table
        if scroll_y + table.scrollable_content_region.height >= table.virtual_size.height - 3:
            self._maybe_load_more()

    @on(DataTable.RowSelected, "#history")
    def _history_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self._load_snapshot(event.row_key.value)

    @on(SnapshotLoaded)
    def _on_snapshot(self, message: SnapshotLoaded) -> None:
        body = message.body
        heading = Text()
        heading.append(f"Snapshot {short_sha(body.get('sha'), 12)}", style="bold")
        heading.append(f"  watermark {timestamp(body.get('watermark_ms'))} UTC", style="dim")
        self.histogram.show("body", body, heading)
        self.query_one("#detail", VerticalScroll).scroll_home(animate=False)

    @on(DiffLoaded)
    def _on_diff(self, message: DiffLoaded) -> None:
        diff = message.diff
        heading = Text()
        heading.append(
            f"Diff {short_sha(diff.get('from'), 12)} → {short_sha(diff.get('to'), 12)}",
            style="bold",
        )
        wm_from, wm_to = timestamp(diff.get("watermark_from")), timestamp(diff.get("watermark_to"))
        if wm_from[:10] == wm_to[:10]:  # same day (or both unknown): times only
            wm_from, wm_to = wm_from[11:] or wm_from, wm_to[11:] or wm_to
        heading.append(f"\nwatermarks {wm_from} → {wm_to} UTC", style="dim")
        self.histogram.show("diff", diff, heading)
        self.query_one("#detail", VerticalScroll).scroll_home(animate=False)

    def action_mark(self) -> None:
        sha = self._cursor_sha()
        if sha is None:
            return
        if sha in self.marks:
            self.marks.remove(sha)
        else:
            self.marks.append(sha)
            if len(self.marks) > 2:
                dropped = self.marks.pop(0)
                self._refresh_mark(dropped)
        self._refresh_mark(sha)
        if len(self.marks) == 2:
            order = {e["sha"]: i for i, e in enumerate(self.history)}
            # Older (further down the newest-first list) is "from".
            a, b = sorted(self.marks, key=lambda s: -order.get(s, 0))
            self._load_diff(a, b)

    def action_clear_marks(self) -> None:
        marks, self.marks = self.marks, []
        for sha in marks:
            self._refresh_mark(sha)

    def _refresh_mark(self, sha: str) -> None:
        mark: str | Text = Text("●", style="bold magenta") if sha in self.marks else ""
        with contextlib.suppress(LookupError):
            self.history_table.update_cell(sha, "mark", mark)

    # -- jobs -------------------------------------------------------------------------

    @on(JobsLoaded)
    def _on_jobs(self, message: JobsLoaded) -> None:
        self._jobs_loading = False
        self._ok("jobs")
        for job in reversed(message.jobs):  # oldest first, so inserts at 0 keep newest on top
            self._upsert_job(job)

    @on(JobCreated)
    def _on_job_created(self, message: JobCreated) -> None:
        job = message.job
        self._watched.add(str(job.get("id")))
        self._upsert_job(job)
        what = "Cache warm" if job.get("kind") == "cache_warm" else "Snapshot"
        self.notify(
            f"{what} job {short_sha(job.get('id'))} started for {job.get('field') or self.ns}"
        )
        self._load_jobs()

    def _upsert_job(self, job: dict[str, Any]) -> None:
        job_id = str(job.get("id"))
        old = self.jobs.get(job_id)
        self.jobs[job_id] = job
        jobs_view = self.query_one("#jobs", ListView)
        item = next((i for i in jobs_view.query(JobItem) if i.job_id == job_id), None)
        if item is None:
            jobs_view.insert(0, [JobItem(job)])
            self.query_one("#jobs-empty").add_class("-hidden")
        else:
            item.update_job(job)
        finished = job.get("status") in FINISHED
        if finished and job_id in self._watched and (old is None or old.get("status") == "running"):
            self._watched.discard(job_id)
            self.show_job(job)
            if job.get("status") == "completed":
                self._load_history(None)

    def show_job(self, job: dict[str, Any]) -> None:
        heading = Text()
        heading.append(f"Job {short_sha(job.get('id'))}", style="bold")
        heading.append(
            f"  {job.get('field')} · {job.get('status')} · source {job.get('resolved_source') or job.get('source')}"
            + (f" · sha {short_sha(job.get('sha'))}" if job.get("sha") else ""),
            style="dim",
        )
        if job.get("filters"):
            heading.append(f"\nfilters {json.dumps(job['filters'])}", style="dim")
        if job.get("status") == "completed" and job.get("result"):
            self.histogram.show("result", job["result"], heading)
        elif job.get("status") == "cancelled":
            heading.append(
                f"\n\ncancelled after {int(job.get('documents_scanned') or 0):,} documents;"
                " nothing was written",
                style="yellow",
            )
            self.histogram.show_text(heading)
        elif job.get("status") == "failed":
            err = job.get("error") or {}
            heading.append(f"\n\nfailed: {err.get('code')}: {err.get('message')}", style="red")
            self.histogram.show_text(heading)
        else:
            heading.append(f"\n\nrunning: {float(job.get('progress') or 0):.0%}", style="yellow")
            self.histogram.show_text(heading)

    def _job_to_cancel(self) -> dict[str, Any] | None:
        item = self.query_one("#jobs", ListView).highlighted_child
        if isinstance(item, JobItem) and item.job.get("status") == "running":
            return item.job
        running = [j for j in self.jobs.values() if j.get("status") == "running"]
        return running[0] if len(running) == 1 else None

    def action_cancel_job(self) -> None:
        job = self._job_to_cancel()
        if job is None:
            self.notify("No running job to cancel: highlight one in the jobs list (J)")
            return
        self._cancel_job(str(job.get("id")))

    @on(JobCancelRequested)
    def _on_cancel_requested(self, message: JobCancelRequested) -> None:
        job = message.job
        self._watched.add(str(job.get("id")))
        self._upsert_job(job)
        self.notify(f"Cancelling job {short_sha(job.get('id'))}")
        self._load_jobs()

    @on(ListView.Selected, "#jobs")
    def _job_selected(self, event: ListView.Selected) -> None:
        if isinstance(event.item, JobItem):
            self.show_job(event.item.job)

    # -- actions ----------------------------------------------------------------------

    def action_back(self) -> None:
        box = self.query_one("#value-find", Input)
        if box.has_focus or box.value:
            box.value = ""
            box.add_class("-hidden")
            self.histogram.search("")
            self.history_table.focus()
            return
        self.dismiss()

    def action_values_page(self, delta: int) -> None:
        self.histogram.turn(delta)

    def action_find_values(self) -> None:
        if not self.histogram.pageable:
            self.notify("Show a snapshot, a job result or a diff first", severity="warning")
            return
        box = self.query_one("#value-find", Input)
        box.remove_class("-hidden")
        box.focus()

    @on(Input.Changed, "#value-find")
    def _find_changed(self, event: Input.Changed) -> None:
        self.histogram.search(event.value)

    @on(Input.Submitted, "#value-find")
    def _find_submitted(self, event: Input.Submitted) -> None:
        self.history_table.focus()

    def _selected_job(self) -> dict[str, Any] | None:
        item = self.query_one("#jobs", ListView).highlighted_child
        return item.job if isinstance(item, JobItem) else None

    def action_retry_job(self) -> None:
        job = self._selected_job()
        if job is None:
            self.notify("Highlight a job first (J: focus jobs)", severity="warning")
            return
        if job.get("kind") == "cache_warm":
            self.action_warm_cache()
            return
        self._create_job(
            {
                "field": job.get("field"),
                "source": job.get("source") or "auto",
                "filters": job.get("filters"),
                "page_size": job.get("page_size") or 1000,
            }
        )

    def action_warm_cache(self) -> None:
        self._cache_call("warm")

    def action_drop_cache(self) -> None:
        self._cache_call("drop")

    @work(thread=True, exclusive=False, exit_on_error=False, group="ns-cache")
    def _cache_call(self, what: str) -> None:
        try:
            if what == "warm":
                self.post_message(JobCreated(self.ns, self.client.warm_cache(self.ns)))
            else:
                self.client.drop_cache(self.ns)
                self.app.call_from_thread(self.notify, f"Dropped the document cache of {self.ns}")
                self._load_metadata()
        except LayerClientError as exc:
            self.post_message(ApiFailed(f"{what} cache", exc))

    def action_yank(self) -> None:
        focused = self.focused
        if isinstance(focused, ListView):
            job = self._selected_job()
            value = str(job.get("id")) if job else None
        else:
            value = self._cursor_sha()
        if value:
            self._copy(value)

    def action_describe(self) -> None:
        """The full record of the highlighted job or history entry (the metadata when
        neither has a row)."""
        from tui.screens.describe import DescribeScreen

        job = self._selected_job() if isinstance(self.focused, ListView) else None
        sha = self._cursor_sha()
        entry = next((e for e in self.history if e["sha"] == sha), None)
        if job is not None:
            title, record = f"Job {job.get('id')}", job
        elif entry is not None:
            title, record = f"Snapshot {sha} — history entry", entry
        elif self.metadata is not None:
            title, record = f"Namespace {self.ns} — metadata", self.metadata
        else:
            return
        self.app.push_screen(DescribeScreen(title, record, self.now_ms()))

    def action_yank_namespace(self) -> None:
        self._copy(self.ns)

    def _copy(self, value: str) -> None:
        self.app.copy_to_clipboard(value)
        self.notify(f"Copied {value}")

    def action_focus_jobs(self) -> None:
        self.query_one("#jobs", ListView).focus()

    def action_focus_history(self) -> None:
        self.history_table.focus()

    def action_new_snapshot(self) -> None:
        from tui.screens.new_snapshot import NewSnapshotScreen

        def submitted(job: dict[str, Any] | None) -> None:
            if job:
                self.post_message(JobCreated(self.ns, job))

        self.app.push_screen(
            NewSnapshotScreen(self.ns, schema_fields(self.metadata), self.client), submitted
        )

    def commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Back to inventory", "Close this namespace", "back"),
            ("New snapshot", f"Create a snapshot job for {self.ns}", "new_snapshot"),
            ("Cancel job", "Cancel the highlighted running job", "cancel_job"),
            ("Mark for diff", "Mark the highlighted history entry; two marks show a diff", "mark"),
            ("Clear diff marks", "Unmark all history entries", "clear_marks"),
            ("Refresh namespace", "Reload metadata, history and jobs", "refresh"),
            ("Focus jobs", "Move to the jobs list", "focus_jobs"),
            ("Focus history", "Move to the history list", "focus_history"),
            ("Retry job", "Run the highlighted job again with the same parameters", "retry_job"),
            ("Warm cache", f"Load {self.ns} into the document cache", "warm_cache"),
            ("Drop cache", f"Drop the document cache of {self.ns}", "drop_cache"),
            ("Copy SHA / job id", "Copy the highlighted snapshot SHA or job id", "yank"),
            ("Copy namespace name", f"Copy {self.ns!r}", "yank_namespace"),
            (
                "Describe",
                "The highlighted job's or history entry's full record (else the metadata)",
                "describe",
            ),
            ("Next values", "Show the next page of histogram values", "values_page(1)"),
            ("Previous values", "Show the previous page of histogram values", "values_page(-1)"),
            ("Find value", "Show only histogram values containing text", "find_values"),
        ]
