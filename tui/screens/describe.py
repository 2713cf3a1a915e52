"""``d``: a table row's full record, as the API sent it (k9s's *describe*).

A row shows a few cells; the record behind it has more (a namespace row's
``metadata_error`` above all, which the inventory can only mark with ``!``). This
view lists every field, nested ones indented, an error first and in red, and each
epoch-milliseconds field (``*_ms``) with its UTC time and age beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from tui.format import ago, timestamp

ERROR_FIELDS = ("metadata_error", "error", "last_error")


def _value(key: str, value: Any, now_ms: int) -> Text:
    if value is None:
        return Text("null", style="dim")
    if isinstance(value, bool):
        return Text("true" if value else "false", style="cyan")
    if isinstance(value, int | float) and key.endswith("_ms") and value > 10**11:
        return Text.assemble(
            (str(value), ""), (f"  {timestamp(value)} UTC, {ago(value, now_ms)}", "dim")
        )
    if isinstance(value, int | float):
        return Text(f"{value:,}" if isinstance(value, int) else str(value), style="cyan")
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return Text(", ".join(str(v) for v in value) if value else "[]")
    return Text(str(value))


def record_text(record: dict[str, Any], now_ms: int, indent: int = 0) -> Text:
    """Every field of ``record``: errors first (red), then in the API's order."""
    out = Text()
    keys = [k for k in ERROR_FIELDS if record.get(k)] + [
        k for k in record if not (k in ERROR_FIELDS and record.get(k))
    ]
    pad = "  " * indent
    for key in keys:
        value = record[key]
        error = key in ERROR_FIELDS and bool(value)
        out.append(f"{pad}{key}:", style="bold red" if error else "bold")
        if isinstance(value, dict) and value:
            out.append("\n")
            out.append_text(record_text(value, now_ms, indent + 1))
            continue
        if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            out.append("\n")
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    out.append(f"{pad}  - [{i}]\n", style="dim")
                    out.append_text(record_text(item, now_ms, indent + 2))
                else:
                    out.append(f"{pad}  - {item}\n")
            continue
        out.append(" ")
        if error and isinstance(value, dict | str):
            out.append(str(value), style="red")
        else:
            out.append_text(_value(key, value, now_ms))
        out.append("\n")
    return out


class DescribeScreen(ModalScreen[None]):
    """The record of one row; ``enter`` runs ``on_open`` (open the namespace) if given."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("d,q", "close", "Close", show=False),
        Binding("enter", "open", "Open"),
    ]

    def __init__(
        self,
        title: str,
        record: dict[str, Any],
        now_ms: int,
        on_open: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.record = record
        self.now_ms = now_ms
        self.on_open = on_open

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="describe"):
            yield Label(self.title_text, classes="form-title")
            yield Static(record_text(self.record, self.now_ms), id="describe-body")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "open" or self.on_open is not None

    def action_close(self) -> None:
        self.dismiss(None)

    def action_open(self) -> None:
        if self.on_open is not None:
            on_open = self.on_open
            self.dismiss(None)
            on_open()
