"""A DataTable for large keyed tables whose columns all have fixed widths."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.widgets import DataTable, ListView
from textual.widgets.data_table import ColumnKey, DuplicateKey, Row, RowDoesNotExist, RowKey


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    if table.row_count == 0:
        return None
    try:
        value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except RowDoesNotExist:
        return None
    return value


class NavTable(DataTable[Any]):
    """A row table with the keys k9s and lazygit users expect.

    DataTable binds ``home``/``end`` to horizontal scrolling, so on a row table they did
    nothing visible; here they go to the first and last row, like ``g``/``G``, and
    ``j``/``k`` move like the arrows.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g,home", "scroll_top", "First row", show=False),
        Binding("G,end", "scroll_bottom", "Last row", show=False),
        Binding("shift+left", "scroll_left_page", "Scroll left", show=False),
        Binding("shift+right", "scroll_right_page", "Scroll right", show=False),
    ]

    def action_scroll_left_page(self) -> None:
        self.scroll_x = max(0, self.scroll_x - max(8, self.size.width // 2))

    def action_scroll_right_page(self) -> None:
        self.scroll_x = min(self.max_scroll_x, self.scroll_x + max(8, self.size.width // 2))


class FixedWidthTable(NavTable):
    """Skips measuring every new cell when no column sizes itself to its content.

    DataTable measures each cell of each added row to size auto-width columns; with
    10,000 rows that is most of the cost of a load. Our columns have set widths, so
    the virtual size follows from the widths and the row count alone.
    """

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        if any(c.auto_width for c in self.columns.values()) or any(
            self.rows[k].auto_height or self.rows[k].label is not None
            for k in new_rows
            if k in self.rows
        ):
            super()._update_dimensions(new_rows)
            return
        width = sum(c.get_render_width(self) for c in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(
            width + self._row_label_column_width, self._total_row_height + header
        )

    def add_keyed_rows(self, rows: Iterable[tuple[str, Iterable[Any]]]) -> int:
        """Append many single-line rows at once; returns how many were added.

        ``add_row`` re-validates the cursor and schedules work per row, which costs
        ~100 µs each; this does the same bookkeeping once per batch.
        """
        columns = [c.key for c in self.ordered_columns]
        added = 0
        for key, cells in rows:
            row_key = RowKey(key)
            if row_key in self._row_locations:
                raise DuplicateKey(f"The row key {key!r} already exists.")
            self._row_locations[row_key] = len(self._data)
            self._data[row_key] = dict(zip(columns, cells, strict=False))
            self.rows[row_key] = Row(row_key, 1, None, False)
            self._new_rows.add(row_key)
            added += 1
        if not added:
            return 0
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        if (
            self.row_count == added
            and self.columns
            and self.show_cursor
            and self.cursor_type != "none"
        ):
            self._highlight_cursor()
        self._update_count += 1
        self.check_idle()
        return added

    def set_column(self, key: str, *, width: int | None = None, label: Text | None = None) -> None:
        """Change a fixed column's width or label and re-lay the table out."""
        column = self.columns.get(ColumnKey(key))
        if column is None:
            return
        if width is not None and width != column.width:
            column.width = width
            self._require_update_dimensions = True
        if label is not None:
            column.label = label
        self._update_count += 1
        self.refresh(layout=True)


class NavList(ListView):
    """A ListView that also moves with ``j``/``k`` and jumps with ``g``/``G``/home/end."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g,home", "first", "First", show=False),
        Binding("G,end", "last", "Last", show=False),
    ]

    def action_first(self) -> None:
        if len(self):
            self.index = 0

    def action_last(self) -> None:
        if len(self):
            self.index = len(self) - 1
