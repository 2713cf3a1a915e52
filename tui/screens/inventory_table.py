"""The inventory's table: the held rows, shown filtered and sorted, changed in place.

The table is keyed by namespace name. New data updates only the cells whose text
changed and adds or removes only the rows that appeared or vanished, so the cursor
and the scroll position survive. Many removals at once (a page leaving the window, a
filter change) rebuild the table in one pass instead, and put the cursor back on the
same namespace at the same line of the viewport.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.widgets.data_table import ColumnKey, RowDoesNotExist

from tui.format import age
from tui.screens.inventory_rows import COLUMN_KEYS, COLUMNS, labels_text, row_cells, sort_key
from tui.widgets.table import FixedWidthTable, cursor_key

REBUILD_THRESHOLD = 300
SHADOW_SAVING = 5  # cells the shadow column gives up in compact mode
LABELS_MIN = 16  # the labels column never folds away: past the edge, it scrolls


def sorted_label(label: str, arrow: str, width: int) -> str:
    """``label`` with the sort arrow, in ``width`` cells: ``"Rows ▲"``, ``"Writt…▲"``,
    or the arrow alone in a one-cell column."""
    if len(label) + 2 <= width:
        return f"{label} {arrow}"
    if width >= 3:
        return f"{label[: width - 2]}…{arrow}"
    return arrow


class InventoryTable(FixedWidthTable):
    """``g``/``home`` and ``G``/``end`` jump in the whole listing, not only in the
    loaded rows (the screen's ``jump_home``/``jump_end``)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g,home", "screen.jump_home", "First row", show=False),
        Binding("G,end", "screen.jump_end", "Last row", show=False),
    ]


class TableRows:
    """Mixed into the inventory screen: the held rows and the table that shows them."""

    size: Size

    def _init_rows(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self._cells: dict[str, dict[str, Text]] = {}
        self._search: dict[str, str] = {}
        self._times: dict[str, tuple[str, str, str]] = {}
        self._all_cells: dict[str, dict[str, Text]] = {}
        self.sort_column = "name"
        self.sort_reverse = False
        self.filter_text = ""
        self._compact = False

    @property
    def table(self) -> InventoryTable:
        raise NotImplementedError

    # -- rows -------------------------------------------------------------------------

    def _ingest(self, rows: list[dict[str, Any]], now: int) -> tuple[list[str], list[str], bool]:
        """Store fetched rows; returns (added, updated, whether the sort order changed)."""
        added: list[str] = []
        updated: list[str] = []
        resort = False
        key = sort_key(self.sort_column)
        for row in rows:
            name = row["name"]
            old = self.rows.get(name)
            self.rows[name] = row
            times = (
                age(row.get("stable_as_of_ms"), now),
                age(row.get("last_write_ms"), now),
                age(row.get("observed_ms"), now),
            )
            if old is None:
                added.append(name)
                self._search[name] = f"{name} {labels_text(row.get('labels'))}".lower()
            elif old != row or self._times.get(name) != times:
                updated.append(name)
                self._all_cells.pop(name, None)
                self._search[name] = f"{name} {labels_text(row.get('labels'))}".lower()
                if self.sort_column != "name" and key(old) != key(row):
                    resort = True
            self._times[name] = times
        return added, updated, resort

    def _forget(self, names: list[str]) -> None:
        for name in names:
            self.rows.pop(name, None)
            self._search.pop(name, None)
            self._times.pop(name, None)
            self._all_cells.pop(name, None)

    def _matches(self, name: str) -> bool:
        return not self.filter_text or self.filter_text in self._search.get(name, name.lower())

    def _ordered(self) -> list[str]:
        key = sort_key(self.sort_column)
        return sorted(
            (n for n in self.rows if self._matches(n)),
            key=lambda n: key(self.rows[n]),
            reverse=self.sort_reverse,
        )

    # -- the table --------------------------------------------------------------------

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

    def _refilter(self, now: int) -> None:
        """Show exactly the held rows that match the filter."""
        anchor = self._anchor()
        wanted = {n for n in self.rows if self._matches(n)}
        current = set(self._cells)
        to_remove = current - wanted
        to_add = wanted - current
        if len(to_add) + len(to_remove) > REBUILD_THRESHOLD:
            self._rebuild(now)
        else:
            for name in to_remove:
                self.table.remove_row(name)
                del self._cells[name]
            self._add_rows(sorted(to_add), now)
            if to_add:
                self._sort_table()
        self._restore(anchor)
        if anchor is None or anchor[0] not in self._cells:
            self.table.move_cursor(row=0)

    def _fit_name_column(self, adding: list[str]) -> None:
        """Widen the name column (up to 40) for rows about to be added."""
        column = self.table.columns.get(ColumnKey("name"))
        if column is None or not adding:
            return
        width = max(column.width, min(max(len(n) for n in adding), 40))
        if width != column.width:
            self.table.set_column("name", width=width)
            self._fit_columns()
            if self.sort_column == "name":
                self._update_headers()  # the arrow's label fits the new width

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
        table.sync_dimensions()
        try:
            index = table.get_row_index(name)
        except RowDoesNotExist:
            index = min(table.cursor_row, table.row_count - 1)
        table.move_cursor(row=index, scroll=False)
        table.scroll_to(y=max(0, index - offset), animate=False, immediate=True)

    def _update_headers(self) -> None:
        """Show the sort column and direction in the header, k9s-style; the arrow always
        fits (the label gives way, ending in "…")."""
        arrow = "▼" if self.sort_reverse else "▲"
        for key, label, _ in COLUMNS:
            if key == "shadow" and self._compact:
                label = "S"
            column = self.table.columns.get(ColumnKey(key))
            if key == self.sort_column and column is not None:
                label = sorted_label(label, arrow, column.width)
            self.table.set_column(key, label=Text(label, overflow="ellipsis", no_wrap=True))

    def _labels_room(self) -> int:
        table = self.table
        others = sum(
            c.get_render_width(table) for k, c in table.columns.items() if k != ColumnKey("labels")
        )
        return self.size.width - others - 2 * table.cell_padding - 2

    def _fit_columns(self) -> None:
        """Give the labels column whatever width the others leave, at least
        ``LABELS_MIN``.

        In a narrow terminal (80 columns) the shadow column shrinks to one cell; what
        still does not fit (long names, the labels) is reached by scrolling sideways
        (``←``/``→``), never dropped, and a cut cell ends in "…".
        """
        full_room = self._labels_room() - (SHADOW_SAVING if self._compact else 0)
        compact = full_room < 16
        changed = compact != self._compact
        if changed:
            self._compact = compact
            self.table.set_column("shadow", width=1 if compact else 6)
        room = self._labels_room()
        # What is left, when that is a few cells (a cut label ends in "…"); else the
        # column is past the edge, at least LABELS_MIN wide.
        self.table.set_column("labels", width=min(80, room if room >= 4 else LABELS_MIN))
        if changed:
            self._update_headers()
