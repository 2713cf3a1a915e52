"""The form behind ``s``: field, source, optional filters (JSON) and page size.

Everything is validated here, before anything is sent: a filter that is not JSON or
not a turbopuffer filter array, or a page size outside 1..10000, is reported in the
form and the request is not made. The form sends the request itself and closes only
when the server accepted it (with the job); a refusal (a 400 on the filters, say) is
shown in the form with everything that was typed still there.
"""

from __future__ import annotations

import json
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Footer, Input, Label, Select, Static

from common.api_client import LayerClientError
from tui.client import DashboardClient
from tui.messages import describe_error

SOURCES = ["auto", "stored", "cache", "origin"]


class FormError(ValueError):
    pass


def validate(field: str, source: str, filters: str, page_size: str) -> dict[str, Any]:
    """The request body for ``POST /snapshots``, or ``FormError`` saying what is wrong."""
    field = field.strip()
    if not field:
        raise FormError("field: required")
    if source not in SOURCES:
        raise FormError(f"source: must be one of {', '.join(SOURCES)}")
    parsed: Any = None
    if filters.strip():
        try:
            parsed = json.loads(filters)
        except json.JSONDecodeError as exc:
            raise FormError(f"filters: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(parsed, list) or not parsed:
            raise FormError('filters: must be a JSON array, e.g. ["brand", "Eq", "Acme"]')
    try:
        size = int(page_size.strip())
    except ValueError:
        raise FormError("page size: must be an integer") from None
    if not 1 <= size <= 10000:
        raise FormError("page size: must be between 1 and 10000")
    body: dict[str, Any] = {"field": field, "source": source, "page_size": size}
    if parsed is not None:
        body["filters"] = parsed
    return body


class _Refused(Message):
    def __init__(self, error: LayerClientError) -> None:
        super().__init__()
        self.error = error


class _Accepted(Message):
    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__()
        self.job = job


class NewSnapshotScreen(ModalScreen[dict[str, Any] | None]):
    """Dismisses with the created job, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Create"),
    ]

    def __init__(self, ns: str, fields: list[str], client: DashboardClient) -> None:
        super().__init__()
        self.ns = ns
        self.fields = fields
        self.client = client
        self.sending = False

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Label(f"New snapshot · {self.ns}", classes="form-title")
            yield Label("Field" + (f"  (schema: {', '.join(self.fields)})" if self.fields else ""))
            yield Input(
                value=self.fields[0] if self.fields else "",
                placeholder="attribute name",
                suggester=SuggestFromList(self.fields, case_sensitive=False)
                if self.fields
                else None,
                id="field",
            )
            yield Label("Source")
            yield Select([(s, s) for s in SOURCES], value="auto", allow_blank=False, id="source")
            yield Label("Filters (JSON, optional)")
            yield Input(placeholder='["brand", "Eq", "Acme"]', id="filters")
            yield Label("Page size (1–10000)")
            yield Input(value="1000", id="page-size")
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Create (ctrl+s)", variant="primary", id="create")
                yield Button("Cancel (esc)", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#field", Input).focus()

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value

    def action_submit(self) -> None:
        source = self.query_one("#source", Select).value
        try:
            body = validate(
                self._value("#field"),
                str(source),
                self._value("#filters"),
                self._value("#page-size"),
            )
        except FormError as exc:
            self.query_one("#form-error", Static).update(str(exc))
            return
        if self.sending:
            return
        self.sending = True
        self.query_one("#form-error", Static).update("sending …")
        self._send(body)

    @work(thread=True, exclusive=True, exit_on_error=False, group="form-send")
    def _send(self, body: dict[str, Any]) -> None:
        try:
            job = self.client.create_snapshot(
                self.ns,
                body["field"],
                source=body.get("source", "auto"),
                filters=body.get("filters"),
                page_size=int(body.get("page_size", 1000)),
            )
        except LayerClientError as exc:
            self.post_message(_Refused(exc))
            return
        self.post_message(_Accepted(job))

    @on(_Refused)
    def _refused(self, message: _Refused) -> None:
        self.sending = False
        self.query_one("#form-error", Static).update(f"refused: {describe_error(message.error)}")

    @on(_Accepted)
    def _accepted(self, message: _Accepted) -> None:
        self.sending = False
        self.dismiss(message.job)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "page-size":
            self.action_submit()
        else:
            self.focus_next()
