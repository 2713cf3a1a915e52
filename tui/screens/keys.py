"""``?``: the key map of the screen underneath plus the global keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

NAVIGATION = [
    ("↑ ↓ / j k", "Move the cursor"),
    ("pgup pgdn", "Page up / down"),
    ("g G / home end", "First / last row"),
    ("← → / shift+← →", "Scroll columns sideways"),
    ("tab", "Next pane"),
]


def key_lines(screen: Screen[object]) -> list[tuple[str, str]]:
    """(keys, description) for the screen's own bindings, then the global ones."""
    seen: dict[str, list[str]] = {}
    for binding in [*type(screen).BINDINGS, *type(screen.app).BINDINGS]:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        display = binding.key_display or screen.app.get_key_display(binding)
        keys = seen.setdefault(binding.description, [])
        if display not in keys:
            keys.append(display)
    extra = list(getattr(screen, "KEY_HELP", []))
    return extra + [(" / ".join(keys), desc) for desc, keys in seen.items()] + NAVIGATION


class KeysScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss_keys", "Close"),
        Binding("question_mark", "dismiss_keys", "Close", show=False),
        Binding("q", "dismiss_keys", "Close", show=False),
    ]

    def __init__(self, under: Screen[object]) -> None:
        super().__init__()
        self.lines = key_lines(under)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="keys"):
            yield Label("Keys", classes="form-title")
            width = max((len(k) for k, _ in self.lines), default=4)
            text = "\n".join(f"{k:>{width}}  {d}" for k, d in self.lines)
            text += (
                f"\n\n{'ctrl+p':>{width}}  Command palette (every action)\n{'esc':>{width}}  Close"
            )
            yield Static(text, markup=False)

    def action_dismiss_keys(self) -> None:
        self.dismiss(None)
