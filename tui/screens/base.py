"""What every dashboard screen shares: the client, the clock and the error banner."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen
from textual.widgets import Static

from tui.client import DashboardClient

if TYPE_CHECKING:
    from tui.app import LayerDashboard


class Banner(Static):
    """One line for errors; hidden while there is nothing to say."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="banner -hidden", markup=False)

    def show(self, text: str) -> None:
        self.update(f"⚠ {text}")
        self.remove_class("-hidden")

    def clear(self) -> None:
        self.update("")
        self.add_class("-hidden")

    @property
    def shown(self) -> bool:
        return not self.has_class("-hidden")


class DashboardScreen(Screen[None]):
    """Base screen: reaches the app's client and clock, owns one banner."""

    # Keys handled by the screen's widgets (a table's enter), listed by ``?``.
    KEY_HELP: list[tuple[str, str]] = []

    @property
    def dashboard(self) -> LayerDashboard:
        return cast("LayerDashboard", self.app)

    @property
    def client(self) -> DashboardClient:
        return self.dashboard.client

    @property
    def refresh_s(self) -> float:
        return self.dashboard.refresh_s

    def now_ms(self) -> int:
        return self.dashboard.now_ms()

    @property
    def banner(self) -> Banner:
        return self.query_one(Banner)

    def commands(self) -> list[tuple[str, str, str]]:
        """(title, help, action) for the command palette, for this screen."""
        return []
