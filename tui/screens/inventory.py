"""The home screen: the namespace listing, a window of pages at a time.

The paging lives in ``inventory_pages`` (which rows are held and what moving reads),
the workers in ``inventory_fetch``, the table and its cells in ``inventory_table`` and
``inventory_rows``, the header in ``inventory_header``; this module is what the user
does: keys, the filter and prefix input, sorting, the describe view, the palette.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static
from textual.widgets.data_table import RowDoesNotExist

from tui.screens.base import Banner
from tui.screens.describe import DescribeScreen
from tui.screens.inventory_header import STATE_TOTAL
from tui.screens.inventory_pages import PAGE_SIZE, STATES, WINDOW_PAGES, PagedInventory
from tui.screens.inventory_rows import COLUMNS, SORTABLE
from tui.screens.inventory_table import InventoryTable
from tui.widgets.table import cursor_key

__all__ = ["PAGE_SIZE", "STATES", "WINDOW_PAGES", "InventoryScreen"]

FILTER_DEBOUNCE_S = 0.15


class InventoryScreen(PagedInventory):
    BINDINGS = [
        Binding("enter", "open", "Open (a ! row: describe)", key_display="enter"),
        Binding("d", "describe", "Describe"),
        # Priority: run as the key arrives, before the keys typed after it in the same
        # burst are handed to the focused table (check_action lets them type in the input).
        Binding("slash", "filter", "Filter", priority=True),
        Binding("p", "prefix", "Prefix", priority=True),
        Binding("f", "cycle_state", "State"),
        Binding("o", "sort_next", "Sort"),
        Binding("O", "sort_reverse", "Reverse", key_display="O", show=False),
        Binding("g", "jump_home", "First row", show=False),
        Binding("G", "jump_end", "Last row", key_display="G", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("s", "new_snapshot", "Snapshot"),
        Binding("escape", "clear_filter", "Clear filter and prefix", show=False),
    ]

    def __init__(self, page_size: int = PAGE_SIZE, window_pages: int = WINDOW_PAGES) -> None:
        super().__init__(page_size, window_pages)
        self._input_mode = "filter"
        self._filter_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static("Layer · loading…", id="summary", markup=False)
        yield Banner(id="banner")
        yield Input(placeholder="filter: name or label…", id="filter", classes="-hidden")
        yield InventoryTable(id="inventory", cursor_type="row", zebra_stripes=True)
        yield Footer()

    @property
    def table(self) -> InventoryTable:
        return self.query_one("#inventory", InventoryTable)

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.table.add_column(label, key=key, width=width)
        self._update_headers()
        self.table.focus()
        self.watch(self.table, "scroll_y", self._scrolled, init=False)
        self.action_refresh()
        self.set_interval(self.refresh_s, self._tick)

    def on_resize(self) -> None:
        self._fit_columns()
        self._update_summary()

    # -- actions ----------------------------------------------------------------------

    def selected_namespace(self) -> str | None:
        return cursor_key(self.table)

    def action_open(self) -> None:
        name = self.selected_namespace()
        if name:
            self._open(name)

    @on(DataTable.RowSelected, "#inventory")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self._open(event.row_key.value)

    def _open(self, name: str) -> None:
        """Open the namespace; a row marked ``!`` shows its record (and the reason) first."""
        if (self.rows.get(name) or {}).get("metadata_error"):
            self.describe(name)
        else:
            self.dashboard.open_namespace(name)

    def action_describe(self) -> None:
        name = self.selected_namespace()
        if name:
            self.describe(name)

    def describe(self, name: str) -> None:
        """The row's full record (``metadata_error`` included); ``enter`` there opens it."""
        row = self.rows.get(name)
        if row is None:
            return
        self.app.push_screen(
            DescribeScreen(
                f"Namespace {name} — the listing's row",
                row,
                self.now_ms(),
                on_open=lambda: self.dashboard.open_namespace(name),
            )
        )

    def action_new_snapshot(self) -> None:
        name = self.selected_namespace()
        if name:
            self.dashboard.open_namespace(name, new_snapshot=True)

    def action_filter(self) -> None:
        self._open_input("filter", self.filter_text, "filter: name or label (loaded rows)…")

    def action_prefix(self) -> None:
        self._open_input("prefix", self.prefix, "prefix sent to the API (Enter to apply)…")

    def _open_input(self, mode: str, value: str, placeholder: str) -> None:
        self._input_mode = mode
        box = self.query_one("#filter", Input)
        box.placeholder = placeholder
        box.value = value
        box.cursor_position = len(value)
        box.remove_class("-hidden")
        # Now, not on the next idle as ``focus()`` does: keys typed in the same burst as
        # `/` or `p` are already queued, and must reach the input, not the table.
        self.set_focus(box)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`/` and `p` type into the input while it has focus."""
        return not (action in ("filter", "prefix") and isinstance(self.focused, Input))

    def action_clear_filter(self) -> None:
        """`esc`: drop the filter and the prefix, close the input."""
        box = self.query_one("#filter", Input)
        if self._filter_timer is not None:
            self._filter_timer.stop()
        if self.filter_text:
            self.set_filter("")
        box.value = ""
        box.add_class("-hidden")
        self.set_focus(self.table)
        self.set_prefix("")

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
        if not box.value or self._input_mode == "prefix":
            box.add_class("-hidden")
        self.set_focus(self.table)

    def set_filter(self, text: str) -> None:
        """Show only loaded rows whose name or labels contain ``text`` (case-insensitive)."""
        text = text.strip().lower()
        if text == self.filter_text:
            return
        self.filter_text = text
        self._refilter(self.now_ms())
        self._update_summary()
        self._schedule_prefetch()

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
        self._schedule_prefetch()

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

    def row_index(self, name: str) -> int | None:
        try:
            return self.table.get_row_index(name)
        except RowDoesNotExist:
            return None

    def commands(self) -> list[tuple[str, str, str]]:
        cmds = [
            ("Open namespace", "Open the highlighted namespace", "open"),
            (
                "Describe namespace",
                "The highlighted row's full record, metadata_error included",
                "describe",
            ),
            ("Filter namespaces", "Filter the loaded rows by name or label as you type", "filter"),
            ("Prefix filter", "List only namespaces with this prefix (sent to the API)", "prefix"),
            ("Clear filter", "Drop the filter and the prefix", "clear_filter"),
            ("Sort by next column", "Sort the loaded rows by the next column", "sort_next"),
            (
                "Next state filter",
                "all → unstable → stuck → error (sent to the API)",
                "cycle_state",
            ),
            ("Refresh inventory", "Re-read the rows on screen and the summary", "refresh"),
            ("New snapshot", "Create a snapshot job for the highlighted namespace", "new_snapshot"),
            ("Reverse sort", "Flip the sort order", "sort_reverse"),
            ("First row", "Jump to the start of the listing", "jump_home"),
            ("Last row", "Jump to the end of the listing", "jump_end"),
            ("Show all namespaces", "Drop the state filter", "show_state('')"),
        ]
        for state in STATES[1:]:
            cmds.append(
                (
                    f"Show {STATE_TOTAL[str(state)]} namespaces",
                    f"List only namespaces in state {state} (sent to the API)",
                    f"show_state('{state}')",
                )
            )
        for key, label, _ in COLUMNS[1:]:
            cmds.append(
                (f"Sort by {label.lower()}", f"Sort the inventory by {label}", f"sort_by('{key}')")
            )
        return cmds
