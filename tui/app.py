"""The Layer dashboard: a Textual app over Layer's HTTP API.

The app receives its API client in ``__init__``; the screens call it only from
thread workers and update widgets from the typed messages those workers post.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from common.api_client import LayerClientError
from tui.client import DashboardClient
from tui.screens.activity import ActivityScreen
from tui.screens.base import ContextLine, DashboardScreen
from tui.screens.inventory import PAGE_SIZE, WINDOW_PAGES, InventoryScreen
from tui.screens.keys import KeysScreen
from tui.screens.namespace import NamespaceScreen


class ContextLoaded(Message):
    def __init__(self, info: dict[str, object]) -> None:
        super().__init__()
        self.info = info


class LayerDashboard(App[int]):
    CSS_PATH = "layer.tcss"
    TITLE = "Layer"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "keys", "Keys", key_display="?"),
        Binding("a", "activity", "Activity"),
    ]

    def __init__(
        self,
        client: DashboardClient,
        *,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        url: str | None = None,
        page_size: int = PAGE_SIZE,
        window_pages: int = WINDOW_PAGES,
    ) -> None:
        super().__init__()
        self.client = client
        self.page_size = page_size
        self.window_pages = window_pages
        self.refresh_s = refresh_s
        self.clock = clock
        self.url = url
        self.context: dict[str, object] = {}

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def on_mount(self) -> None:
        if self.url:
            self.sub_title = self.url
        self.push_screen(InventoryScreen(self.page_size, self.window_pages))
        self._load_context()

    def context_text(self) -> str:
        backend = self.url or "backend"
        upstream = self.context.get("upstream") or "?"
        role = self.context.get("role") or "?"
        return f"Layer {backend} → Turbopuffer {upstream} · key: {role}"

    @work(thread=True, exclusive=True, exit_on_error=False, group="context")
    def _load_context(self) -> None:
        whoami = getattr(self.client, "whoami", None)
        if whoami is None:
            return
        try:
            self.post_message(ContextLoaded(whoami()))
        except LayerClientError:
            return  # the screens' banners say why the backend does not answer

    @on(ContextLoaded)
    def _context_loaded(self, message: ContextLoaded) -> None:
        self.context = dict(message.info)
        budget = self.context.get("interactive_budget_ms")
        use_budget = getattr(self.client, "use_budget", None)
        if use_budget is not None and isinstance(budget, int) and not isinstance(budget, bool):
            use_budget(budget)
        text = self.context_text()
        for screen in self.screen_stack:
            for line in screen.query(ContextLine):
                line.update(text)

    # -- navigation -------------------------------------------------------------------

    def open_namespace(
        self, ns: str, *, open_sha: str | None = None, new_snapshot: bool = False
    ) -> None:
        self.push_screen(NamespaceScreen(ns, open_sha=open_sha, new_snapshot=new_snapshot))

    def action_activity(self) -> None:
        if isinstance(self.screen, ActivityScreen):
            return
        namespace = self.screen.ns if isinstance(self.screen, NamespaceScreen) else None
        self.push_screen(ActivityScreen(namespace=namespace))

    def action_activity_all(self) -> None:
        self.push_screen(ActivityScreen())

    def action_keys(self) -> None:
        if isinstance(self.screen, KeysScreen):
            return
        self.push_screen(KeysScreen(self.screen))

    # -- command palette --------------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        if isinstance(screen, DashboardScreen):
            for title, help_text, action in screen.commands():
                yield SystemCommand(title, help_text, partial(screen.run_action, action))
        yield SystemCommand(
            "Activity feed", "Cross-namespace snapshot activity", self.action_activity
        )
        yield SystemCommand(
            "Activity feed (all namespaces)",
            "Every namespace's snapshot writes",
            self.action_activity_all,
        )
        yield SystemCommand("Keys", "Show the key map", self.action_keys)
        yield SystemCommand("Quit", "Quit the dashboard", self.action_quit)
        yield SystemCommand("Theme", "Change the colour theme", self.action_change_theme)
