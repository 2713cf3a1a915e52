"""The cross-namespace activity feed from ``GET /v2/activity/snapshots``.

The API returns events oldest first from ``since``; the feed shows newest on top.
Each poll follows ``next_cursor`` while it is non-null (the backend gives one only
while more events follow). A poll that caught up moves ``since`` to just before the
newest event seen, so the next one reads only the tail; a poll cut short keeps its
cursor. Events are de-duplicated by ``(ts_ms, namespace, sha)``, which also absorbs
the overlap ``SINCE_OVERLAP_MS`` leaves for events written with a slightly older stamp.
"""

from __future__ import annotations

import contextlib
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static
from textual.widgets.data_table import RowDoesNotExist
from textual.worker import get_current_worker

from common.api_client import LayerClientError
from tui.format import age, clipped, clock_time, short_sha, timestamp
from tui.messages import ActivityLoaded, ApiFailed, describe_error
from tui.screens.base import Banner, DashboardScreen
from tui.widgets.table import FixedWidthTable, cursor_key

LOOKBACK_MS = 24 * 3600 * 1000
PAGE = 500
MAX_PAGES_PER_POLL = 20
KEEP = 5000
SINCE_OVERLAP_MS = 60_000

# (key, label, width); the fields column takes what the others leave.
COLUMNS: list[tuple[str, str, int]] = [
    ("time", "Time UTC", 14),
    ("age", "Age", 5),
    ("ns", "Namespace", 22),
    ("sha", "SHA", 8),
    ("fields", "Fields", 20),
    ("source", "Source", 7),
    ("job", "Job", 8),
]

EventKey = tuple[int, str, str]


def event_key(event: dict[str, Any]) -> EventKey:
    return (int(event["ts_ms"]), str(event["namespace"]), str(event["sha"]))


def row_id(key: EventKey) -> str:
    return f"{key[0]}|{key[1]}|{key[2]}"


class ActivityScreen(DashboardScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open snapshot"),
        Binding("slash", "filter", "Filter ns", priority=True),
        Binding("r", "refresh", "Refresh"),
        Binding("w", "widen", "All namespaces"),
        Binding("d", "describe", "Describe"),
    ]

    def __init__(self, namespace: str | None = None) -> None:
        super().__init__()
        self.namespace = namespace
        self.events: dict[EventKey, dict[str, Any]] = {}
        self.cursor: str | None = None
        self.since_ms: int | None = None
        self.filter_text = ""
        self._polling = False
        self._last_ok_ms: int | None = None
        self._filter_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static("Activity", id="activity-title", markup=False)
        yield Banner(id="activity-banner")
        yield Input(placeholder="filter by namespace…", id="activity-filter", classes="-hidden")
        yield FixedWidthTable(id="activity", cursor_type="row", zebra_stripes=True)
        yield Footer()

    @property
    def table(self) -> FixedWidthTable:
        return self.query_one("#activity", FixedWidthTable)

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.table.add_column(label, key=key, width=width)
        self.table.focus()
        self.since_ms = self.now_ms() - LOOKBACK_MS
        self.action_refresh()
        self.set_interval(self.refresh_s, self._tick)

    def _tick(self) -> None:
        if not self._polling:
            self.action_refresh()

    def action_refresh(self) -> None:
        self._polling = True
        self._poll(self.since_ms or 0, self.cursor)

    @work(thread=True, exclusive=True, exit_on_error=False, group="activity")
    def _poll(self, since_ms: int, cursor: str | None) -> None:
        worker = get_current_worker()
        events: list[dict[str, Any]] = []
        try:
            for _ in range(MAX_PAGES_PER_POLL):
                page = self.client.activity(
                    since_ms, limit=PAGE, namespace=self.namespace, cursor=cursor
                )
                if worker.is_cancelled:
                    return
                events.extend(page.get("events") or [])
                nxt = page.get("next_cursor")
                if not nxt or nxt == cursor:
                    cursor = None  # caught up: the next poll starts from ``since``
                    break
                cursor = nxt
        except LayerClientError as exc:
            if events:
                self.post_message(ActivityLoaded(events, cursor))
            self.post_message(ApiFailed("activity", exc))
            return
        self.post_message(ActivityLoaded(events, cursor))

    @on(ActivityLoaded)
    def _on_loaded(self, message: ActivityLoaded) -> None:
        self._polling = False
        self._last_ok_ms = self.now_ms()
        self.cursor = message.cursor
        if message.events:
            newest = max(int(e["ts_ms"]) for e in message.events)
            self.since_ms = max(self.since_ms or 0, newest - SINCE_OVERLAP_MS)
        new = []
        for event in message.events:
            key = event_key(event)
            if key not in self.events:
                self.events[key] = event
                new.append(key)
        if len(self.events) > KEEP:
            for key in sorted(self.events)[: len(self.events) - KEEP]:
                del self.events[key]
        self.banner.clear()
        if new:
            self._rebuild()
        else:
            self._refresh_ages()
        self._update_title()

    @on(ApiFailed)
    def _on_failed(self, message: ApiFailed) -> None:
        self._polling = False
        since = f"stale since {clock_time(self._last_ok_ms)} UTC — " if self._last_ok_ms else ""
        self.banner.show(f"{since}{describe_error(message.error)}")

    def shown_events(self) -> list[dict[str, Any]]:
        """Events shown, newest first."""
        text = self.filter_text
        keys = sorted(self.events, reverse=True)
        return [self.events[k] for k in keys if not text or text in k[1].lower()]

    def _cells(self, event: dict[str, Any], now: int) -> list[str | Text]:
        return [
            timestamp(event.get("ts_ms"))[5:],
            age(event.get("ts_ms"), now),
            clipped(event.get("namespace")),
            short_sha(event.get("sha")),
            clipped(",".join(event.get("fields") or [])),
            str(event.get("source") or ""),
            Text(short_sha(event.get("job_id"))) if event.get("job_id") else Text("—", style="dim"),
        ]

    def _rebuild(self) -> None:
        table = self.table
        selected = self._selected_key()
        at_top = table.cursor_row == 0
        table.clear()
        now = self.now_ms()
        for event in self.shown_events():
            table.add_row(*self._cells(event, now), key=row_id(event_key(event)))
        if selected and not at_top:
            with contextlib.suppress(RowDoesNotExist):
                table.move_cursor(row=table.get_row_index(selected))

    def on_resize(self) -> None:
        """Fit the feed to the terminal: namespaces and fields share what is left."""
        table = self.table
        fixed = sum(w for k, _, w in COLUMNS if k not in ("ns", "fields"))
        spare = self.size.width - fixed - 2 * table.cell_padding * len(COLUMNS) - 2
        ns_w = max(12, min(24, spare - 8))
        table.set_column("ns", width=ns_w)
        table.set_column("fields", width=max(8, min(48, spare - ns_w)))

    def _refresh_ages(self) -> None:
        now = self.now_ms()
        for event in self.shown_events():
            rid = row_id(event_key(event))
            try:
                self.table.update_cell(rid, "age", age(event.get("ts_ms"), now))
            except LookupError:
                continue

    def _selected_key(self) -> str | None:
        return cursor_key(self.table)

    def _update_title(self) -> None:
        scope = f" · only namespace {self.namespace} (w: all namespaces)" if self.namespace else ""
        shown = len(self.table.rows)
        count = f"{shown:,} events" + (
            f" (of {len(self.events):,})" if shown != len(self.events) else ""
        )
        when = f" · updated {clock_time(self._last_ok_ms)} UTC" if self._last_ok_ms else ""
        filt = f" · filter={self.filter_text}" if self.filter_text else ""
        self.query_one("#activity-title", Static).update(
            f"Activity — snapshot writes{scope} · {count}{filt}{when} · live"
        )

    # -- actions ----------------------------------------------------------------------

    def action_back(self) -> None:
        box = self.query_one("#activity-filter", Input)
        if box.has_focus:
            box.add_class("-hidden")
            self.table.focus()
            return
        self.dismiss()

    def action_open(self) -> None:
        rid = self._selected_key()
        if not rid:
            return
        ts, ns, sha = rid.split("|", 2)
        self.dashboard.open_namespace(ns, open_sha=sha)

    def action_describe(self) -> None:
        """The highlighted event's full record; ``enter`` there opens its snapshot."""
        from tui.screens.describe import DescribeScreen

        rid = self._selected_key()
        if not rid:
            return
        ts, ns, sha = rid.split("|", 2)
        event = self.events.get((int(ts), ns, sha))
        if event is None:
            return
        self.app.push_screen(
            DescribeScreen(
                f"Activity event — {ns} {sha[:12]}",
                event,
                self.now_ms(),
                on_open=lambda: self.dashboard.open_namespace(ns, open_sha=sha),
            )
        )

    @on(DataTable.RowSelected, "#activity")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`w` only on a scoped feed; `/` types into the filter while it has focus."""
        if action == "widen":
            return self.namespace is not None
        return not (action == "filter" and isinstance(self.focused, Input))

    def action_widen(self) -> None:
        """From a namespace's feed to everyone's: start over without the scope."""
        if self.namespace is None:
            return
        self.namespace = None
        self.refresh_bindings()
        self.events.clear()
        self.cursor = None
        self.since_ms = self.now_ms() - LOOKBACK_MS
        self._rebuild()
        self._update_title()
        self.action_refresh()

    def action_filter(self) -> None:
        box = self.query_one("#activity-filter", Input)
        box.value = self.filter_text
        box.cursor_position = len(box.value)
        box.remove_class("-hidden")
        # Now, not on the next idle as ``focus()`` does: keys typed in the same burst as
        # `/` are already queued, and must reach the input, not the table.
        self.set_focus(box)

    @on(Input.Changed, "#activity-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(0.1, lambda: self.set_filter(value))

    @on(Input.Submitted, "#activity-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.set_filter(event.value)
        if not event.value:
            self.query_one("#activity-filter", Input).add_class("-hidden")
        self.table.focus()

    def set_filter(self, text: str) -> None:
        text = text.strip().lower()
        if text != self.filter_text:
            self.filter_text = text
            self._rebuild()
            self._update_title()

    def commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Open snapshot", "Open the highlighted event's snapshot", "open"),
            ("Describe event", "The highlighted event's full record", "describe"),
            ("Filter activity", "Show only events whose namespace contains text", "filter"),
            ("Refresh activity", "Poll the feed now", "refresh"),
            ("Activity of all namespaces", "Widen a namespace's feed to every namespace", "widen"),
            ("Back", "Close the activity feed", "back"),
        ]
