"""The home screen: every namespace from ``GET /v2/namespaces``, refreshed in place.

The table is keyed by namespace name. A refresh updates only the cells whose text
changed and adds or removes only the rows that appeared or vanished, so the cursor
and the scroll position survive and 10,000 rows stay cheap. Filtering swaps rows
incrementally when few change and rebuilds in one pass when many do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static
from textual.widgets.data_table import ColumnKey, RowDoesNotExist
from textual.worker import get_current_worker

from common.api_client import LayerClientError
from tui.format import age, clock_time, human_bytes, human_count
from tui.messages import InventoryFailed, InventoryPage, describe_error
from tui.screens.base import Banner, DashboardScreen
from tui.widgets.table import FixedWidthTable, cursor_key

# (key, label, width); the name column's width follows the data.
COLUMNS: list[tuple[str, str, int]] = [
    ("mark", "!", 1),
    ("name", "Namespace", 10),
    ("rows", "Rows", 6),
    ("size", "Size", 8),
    ("fresh", "Fresh", 7),
    ("write", "Written", 7),
    ("cache", "Cache", 8),
    ("shadow", "Shadow", 6),
    ("labels", "Labels", 16),
]
COLUMN_KEYS = [c[0] for c in COLUMNS]
SORTABLE = [c[0] for c in COLUMNS if c[0] != "mark"]
REBUILD_THRESHOLD = 300
SHADOW_SAVING = 5  # cells the shadow column gives up in compact mode
FILTER_DEBOUNCE_S = 0.15

_CACHE_STYLE = {"warm": "green", "warming": "cyan", "cold": "dim", "stale": "yellow"}


def labels_text(labels: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def sort_key(column: str) -> Callable[[dict[str, Any]], Any]:
    """Sort keys over the raw rows; unknown values sort first."""

    def num(field: str) -> Callable[[dict[str, Any]], Any]:
        return lambda r: (r.get(field) is not None, r.get(field) or 0, r["name"])

    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "name": lambda r: r["name"],
        "rows": num("row_count"),
        "size": num("size_bytes"),
        "fresh": lambda r: (bool(r.get("is_stable")), r.get("stable_as_of_ms") or 0, r["name"]),
        "write": num("last_write_ms"),
        "cache": lambda r: ((r.get("cache_state") or {}).get("state") or "", r["name"]),
        "shadow": lambda r: (bool(r.get("shadow")), r["name"]),
        "labels": lambda r: (labels_text(r.get("labels")), r["name"]),
    }
    return keys[column]


def row_cells(row: dict[str, Any], now_ms: int) -> dict[str, Text]:
    """The display cells of one namespace row."""
    error = row.get("metadata_error")
    stable_ms = row.get("stable_as_of_ms")
    if row.get("is_stable"):
        fresh = Text(f"✓ {age(stable_ms, now_ms)}" if stable_ms else "✓", style="green")
    else:
        since = age(stable_ms, now_ms) if stable_ms else "never"
        fresh = Text(f"⟳ {since}", style="yellow")
    cache = row.get("cache_state") or {}
    state = str(cache.get("state") or "—")
    cache_text = Text(
        state + ("+" if cache.get("warm_inflight") else ""), style=_CACHE_STYLE.get(state, "")
    )
    return {
        "mark": Text("!", style="bold red") if error else Text(""),
        "name": Text(row["name"]),
        "rows": Text(human_count(row.get("row_count")), justify="right"),
        "size": Text(human_bytes(row.get("size_bytes")), justify="right"),
        "fresh": fresh,
        "write": Text(age(row.get("last_write_ms"), now_ms)),
        "cache": cache_text,
        "shadow": Text("yes" if row.get("shadow") else ""),
        "labels": Text(labels_text(row.get("labels"))),
    }


class InventoryScreen(DashboardScreen):
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "filter", "Filter"),
        Binding("p", "prefix", "Prefix"),
        Binding("o", "sort_next", "Sort"),
        Binding("O", "sort_reverse", "Reverse", key_display="O", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("s", "new_snapshot", "Snapshot"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Any]] = {}
        self._cells: dict[str, dict[str, Text]] = {}
        self._search: dict[str, str] = {}
        self._times: dict[str, tuple[str, str]] = {}
        self._all_cells: dict[str, dict[str, Text]] = {}
        self._seen: set[str] = set()
        self._generation = 0
        self._fetching = False
        self._loaded_once = False
        self._last_ok_ms: int | None = None
        self._error: str | None = None
        self.sort_column = "name"
        self.sort_reverse = False
        self.filter_text = ""
        self.prefix = ""
        self._input_mode = "filter"
        self._filter_timer: Timer | None = None
        self.refresh_count = 0
        self.last_refresh_s = 0.0
        self._pass_started = 0.0
        self._compact = False

    def compose(self) -> ComposeResult:
        yield Static("Layer · loading…", id="summary", markup=False)
        yield Banner(id="banner")
        yield Input(placeholder="filter: name or label…", id="filter", classes="-hidden")
        yield FixedWidthTable(id="inventory", cursor_type="row", zebra_stripes=True)
        yield Footer()

    @property
    def table(self) -> FixedWidthTable:
        return self.query_one("#inventory", FixedWidthTable)

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.table.add_column(label, key=key, width=width)
        self._update_headers()
        self.table.focus()
        self.action_refresh()
        self.set_interval(self.refresh_s, self._tick)

    # -- fetching ---------------------------------------------------------------------

    def _tick(self) -> None:
        if not self._fetching:
            self.action_refresh()

    def action_refresh(self) -> None:
        self._generation += 1
        self._seen = set()
        self._fetching = True
        self._pass_started = time.perf_counter()
        self._fetch(self._generation, self.prefix or None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="inventory")
    def _fetch(self, generation: int, prefix: str | None) -> None:
        worker = get_current_worker()
        cursor: str | None = None
        seen: set[str] = set()
        try:
            while True:
                page = self.client.list_namespaces(prefix=prefix, cursor=cursor, page_size=1000)
                if worker.is_cancelled:
                    return
                cursor = page.get("next_cursor")
                done = not cursor or cursor in seen
                self.post_message(InventoryPage(generation, page.get("namespaces") or [], done))
                if done:
                    return
                seen.add(str(cursor))
        except LayerClientError as exc:
            self.post_message(InventoryFailed(generation, exc))

    @on(InventoryPage)
    async def _on_page(self, message: InventoryPage) -> None:
        self._apply_page(message)
        # Yield to the event loop so a screen update can paint between pages.
        await asyncio.sleep(0)

    def _apply_page(self, message: InventoryPage) -> None:
        if message.generation != self._generation:
            return
        now = self.now_ms()
        added: list[str] = []
        changed_sort = False
        updated: list[str] = []
        key = sort_key(self.sort_column)
        for row in message.rows:
            name = row["name"]
            self._seen.add(name)
            old = self.rows.get(name)
            self.rows[name] = row
            times = (age(row.get("stable_as_of_ms"), now), age(row.get("last_write_ms"), now))
            if old is None:
                added.append(name)
                self._search[name] = f"{name} {labels_text(row.get('labels'))}".lower()
            elif old != row or self._times.get(name) != times:
                updated.append(name)
                self._all_cells.pop(name, None)
                self._search[name] = f"{name} {labels_text(row.get('labels'))}".lower()
                if self.sort_column != "name" and key(old) != key(row):
                    changed_sort = True
            self._times[name] = times
        vanished: list[str] = []
        if message.done:
            vanished = [n for n in self.rows if n not in self._seen]
            for name in vanished:
                del self.rows[name]
                self._search.pop(name, None)
                self._times.pop(name, None)
                self._all_cells.pop(name, None)
        self._apply(now, added=added, updated=updated, vanished=vanished, resort=changed_sort)
        if message.done:
            self._fetching = False
            self._loaded_once = True
            self._last_ok_ms = now
            self._error = None
            self.banner.clear()
            self.refresh_count += 1
            self.last_refresh_s = time.perf_counter() - self._pass_started
        self._update_summary()

    @on(InventoryFailed)
    def _on_failed(self, message: InventoryFailed) -> None:
        if message.generation != self._generation:
            return
        self._fetching = False
        self._error = describe_error(message.error)
        if self._last_ok_ms is None:
            self.banner.show(f"no data yet — {self._error}")
        else:
            self.banner.show(f"stale since {clock_time(self._last_ok_ms)} UTC — {self._error}")
        self._update_summary()

    # -- applying data to the table ---------------------------------------------------

    def _matches(self, name: str) -> bool:
        return not self.filter_text or self.filter_text in self._search.get(name, name.lower())

    def _ordered(self, names: list[str] | None = None) -> list[str]:
        key = sort_key(self.sort_column)
        pool = self.rows if names is None else names
        return sorted(
            (n for n in pool if n in self.rows and self._matches(n)),
            key=lambda n: key(self.rows[n]),
            reverse=self.sort_reverse,
        )

    def _apply(
        self, now: int, *, added: list[str], updated: list[str], vanished: list[str], resort: bool
    ) -> None:
        """Bring the table in line with ``self.rows`` touching as little as possible."""
        table = self.table
        anchor = self._anchor()
        to_add = [n for n in added if self._matches(n) and n not in self._cells]
        to_remove = [n for n in vanished if n in self._cells]
        if len(to_remove) > REBUILD_THRESHOLD:
            # remove_row is O(rows) each; one rebuild is cheaper than many removals.
            self._rebuild(now)
            self._restore(anchor)
            return
        for name in to_remove:
            table.remove_row(name)
            del self._cells[name]
        for name in updated:
            cells = self._cells.get(name)
            if cells is None:
                continue
            new = self._cells_for(name, now, fresh=True)
            for col, value in new.items():
                if value.plain != cells[col].plain or value.style != cells[col].style:
                    table.update_cell(name, col, value)
            self._cells[name] = new
        self._add_rows(to_add, now)
        if to_add or resort:
            self._sort_table()
        if to_add or to_remove or resort:
            self._restore(anchor)

    def _add_rows(self, names: list[str], now: int) -> None:
        if not names:
            return
        self._fit_name_column(names)
        batch = []
        for name in names:
            cells = self._cells_for(name, now)
            self._cells[name] = cells
            batch.append((name, [cells[k] for k in COLUMN_KEYS]))
        self.table.add_keyed_rows(batch)

    def _cells_for(self, name: str, now: int, *, fresh: bool = False) -> dict[str, Text]:
        """Display cells of a row, cached across filter changes (hidden rows too)."""
        cells = None if fresh else self._all_cells.get(name)
        if cells is None:
            cells = self._all_cells[name] = row_cells(self.rows[name], now)
        return cells

    def _rebuild(self, now: int) -> None:
        self.table.clear()
        self._cells = {}
        self._add_rows(self._ordered(), now)

    def _sort_table(self) -> None:
        key = sort_key(self.sort_column)
        rows = self.rows
        self.table.sort("name", key=lambda name: key(rows[str(name)]), reverse=self.sort_reverse)

    def _fit_name_column(self, adding: list[str]) -> None:
        """Widen the name column (up to 40) for rows about to be added."""
        column = self.table.columns.get(ColumnKey("name"))
        if column is None or not adding:
            return
        width = max(column.width, min(max(len(n) for n in adding), 40))
        if width != column.width:
            self.table.set_column("name", width=width)
            self.on_resize()

    def _anchor(self) -> tuple[str, int] | None:
        """The cursor's namespace and its line within the viewport."""
        table = self.table
        key = cursor_key(table)
        if key is None:
            return None
        return key, table.cursor_row - int(table.scroll_y)

    def _restore(self, anchor: tuple[str, int] | None) -> None:
        table = self.table
        if anchor is None or table.row_count == 0:
            return
        name, offset = anchor
        try:
            index = table.get_row_index(name)
        except RowDoesNotExist:
            index = min(table.cursor_row, table.row_count - 1)
        table.move_cursor(row=index, scroll=False)
        table.scroll_to(y=max(0, index - offset), animate=False, immediate=True)

    def _update_summary(self) -> None:
        rows = self.rows.values()
        total_rows = sum(int(r.get("row_count") or 0) for r in rows)
        total_bytes = sum(int(r.get("size_bytes") or 0) for r in rows)
        unstable = sum(1 for r in rows if not r.get("is_stable"))
        errors = sum(1 for r in rows if r.get("metadata_error"))
        head = f"{len(self.rows):,} namespaces"
        if self.filter_text or self.prefix:
            head += f" ({len(self._cells):,} shown)"
        parts = [
            head,
            f"{human_count(total_rows)} rows",
            human_bytes(total_bytes),
            f"{unstable:,} unstable",
        ]
        if errors:
            parts.append(f"{errors} !")
        if self._error and self._last_ok_ms is not None:
            parts.append(f"stale since {clock_time(self._last_ok_ms)}")
        elif self._last_ok_ms is not None:
            parts.append(f"refreshed {clock_time(self._last_ok_ms)} UTC")
        elif self._fetching:
            parts.append("loading…")
        if self.prefix:
            parts.append(f"prefix={self.prefix}")
        if self.filter_text:
            parts.append(f"filter={self.filter_text}")
        summary = self.query_one("#summary", Static)
        summary.update(" · ".join(parts))
        summary.set_class(self._error is not None, "stale")

    def _update_headers(self) -> None:
        """Show the sort column and direction in the header, k9s-style."""
        arrow = " ▼" if self.sort_reverse else " ▲"
        for key, label, _ in COLUMNS:
            if key == "shadow" and self._compact:
                label = "S"
            self.table.set_column(
                key, label=Text(label + (arrow if key == self.sort_column else ""))
            )

    def _labels_room(self) -> int:
        table = self.table
        others = sum(
            c.get_render_width(table) for k, c in table.columns.items() if k != ColumnKey("labels")
        )
        return self.size.width - others - 2 * table.cell_padding - 2

    def on_resize(self) -> None:
        """Give the labels column whatever width the others leave.

        In a narrow terminal (80 columns) the shadow column shrinks to one cell so
        the labels still show and the table never scrolls sideways.
        """
        full_room = self._labels_room() - (SHADOW_SAVING if self._compact else 0)
        compact = full_room < 16
        if compact != self._compact:
            self._compact = compact
            self.table.set_column("shadow", width=1 if compact else 6)
            self._update_headers()
        width = max(5, min(80, self._labels_room()))
        self.table.set_column("labels", width=width)

    # -- actions ----------------------------------------------------------------------

    def selected_namespace(self) -> str | None:
        anchor = self._anchor()
        return anchor[0] if anchor else None

    def action_open(self) -> None:
        name = self.selected_namespace()
        if name:
            self.dashboard.open_namespace(name)

    @on(DataTable.RowSelected, "#inventory")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.dashboard.open_namespace(event.row_key.value)

    def action_new_snapshot(self) -> None:
        name = self.selected_namespace()
        if name:
            self.dashboard.open_namespace(name, new_snapshot=True)

    def action_filter(self) -> None:
        self._open_input("filter", self.filter_text, "filter: name or label…")

    def action_prefix(self) -> None:
        self._open_input("prefix", self.prefix, "prefix sent to the API (Enter to apply)…")

    def _open_input(self, mode: str, value: str, placeholder: str) -> None:
        self._input_mode = mode
        box = self.query_one("#filter", Input)
        box.placeholder = placeholder
        box.value = value
        box.remove_class("-hidden")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if self.filter_text:
            self.set_filter("")
        box.add_class("-hidden")
        self.table.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._input_mode != "filter":
            return
        if self._filter_timer is not None:
            self._filter_timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(FILTER_DEBOUNCE_S, lambda: self.set_filter(value))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        if self._input_mode == "prefix":
            self.set_prefix(event.value.strip())
        else:
            if self._filter_timer is not None:
                self._filter_timer.stop()
            self.set_filter(event.value)
        if not box.value:
            box.add_class("-hidden")
        if self._input_mode == "prefix":
            box.add_class("-hidden")
        self.table.focus()

    def set_filter(self, text: str) -> None:
        """Show only rows whose name or labels contain ``text`` (case-insensitive)."""
        text = text.strip().lower()
        if text == self.filter_text:
            return
        self.filter_text = text
        anchor = self._anchor()
        wanted = {n for n in self.rows if self._matches(n)}
        current = set(self._cells)
        to_remove = current - wanted
        to_add = wanted - current
        if len(to_add) + len(to_remove) > REBUILD_THRESHOLD:
            self._rebuild(self.now_ms())
        else:
            for name in to_remove:
                self.table.remove_row(name)
                del self._cells[name]
            self._add_rows(sorted(to_add), self.now_ms())
            if to_add:
                self._sort_table()
        self._restore(anchor)
        if anchor is None or anchor[0] not in self._cells:
            self.table.move_cursor(row=0)
        self._update_summary()

    def set_prefix(self, prefix: str) -> None:
        if prefix == self.prefix:
            return
        self.prefix = prefix
        self.action_refresh()
        self._update_summary()

    def set_sort(self, column: str, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column = column
        self.sort_reverse = reverse
        anchor = self._anchor()
        self._update_headers()
        self._sort_table()
        self._restore(anchor)
        self._update_summary()

    def action_sort_next(self) -> None:
        idx = SORTABLE.index(self.sort_column)
        self.set_sort(SORTABLE[(idx + 1) % len(SORTABLE)], reverse=False)

    def action_sort_reverse(self) -> None:
        self.set_sort(self.sort_column, reverse=not self.sort_reverse)

    def action_sort_by(self, column: str) -> None:
        if column in SORTABLE:
            self.set_sort(column)

    @on(DataTable.HeaderSelected, "#inventory")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        if event.column_key.value in SORTABLE:
            self.set_sort(str(event.column_key.value))

    def commands(self) -> list[tuple[str, str, str]]:
        cmds = [
            ("Open namespace", "Open the highlighted namespace", "open"),
            ("Filter namespaces", "Filter rows by name or label as you type", "filter"),
            ("Prefix filter", "List only namespaces with this prefix (sent to the API)", "prefix"),
            ("Clear filter", "Show every namespace again", "clear_filter"),
            ("Refresh inventory", "Fetch the listing now", "refresh"),
            ("New snapshot", "Create a snapshot job for the highlighted namespace", "new_snapshot"),
            ("Reverse sort", "Flip the sort order", "sort_reverse"),
        ]
        for key, label, _ in COLUMNS[1:]:
            cmds.append(
                (f"Sort by {label.lower()}", f"Sort the inventory by {label}", f"sort_by('{key}')")
            )
        return cmds
