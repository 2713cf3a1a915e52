"""Typed messages that thread workers post back to the main thread.

Workers never touch widgets; they call the client and post one of these. The
screen that started the worker handles it on the main thread.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from common.api_client import LayerAPIError, LayerUnreachable


def describe_error(error: BaseException) -> str:
    """One line an operator can act on; never a traceback."""
    if isinstance(error, LayerUnreachable):
        return f"Backend unreachable — {error.message}"
    if isinstance(error, LayerAPIError):
        if error.status in (401, 403):
            return (
                f"Unauthorized ({error.status} {error.code}): {error.message} — "
                "pass --token or set LAYER_TOKEN"
            )
        if error.code.startswith("upstream") or error.status in (502, 504):
            # Layer answered: it is Turbopuffer behind it that failed or was slow.
            return (
                f"Turbopuffer (behind Layer) failed — {error.status} {error.code}: {error.message}"
            )
        return f"{error.status} {error.code}: {error.message}"
    return f"{type(error).__name__}: {error}"


class InventoryPage(Message):
    """Page ``page`` of ``GET /v2/namespaces``, read from that page's cursor.

    ``listing`` and ``view`` are the screen's generations when it was asked for (a
    new prefix or state starts a new listing; a jump starts a new view); ``purpose``
    says why: ``refresh`` (``last`` on the last page of a pass), ``next``/``prev``
    (scrolling), ``home``/``end`` (a jump, matched by ``jump``).
    """

    def __init__(
        self,
        listing: int,
        view: int,
        page: int,
        rows: list[dict[str, Any]],
        next_cursor: str | None,
        *,
        purpose: str,
        last: bool = True,
        next_follows: bool = False,
        jump: int = 0,
    ) -> None:
        super().__init__()
        self.listing = listing
        self.view = view
        self.page = page
        self.rows = rows
        self.next_cursor = next_cursor
        self.purpose = purpose
        self.last = last
        self.next_follows = next_follows
        self.jump = jump


class WalkStep(Message):
    """A jump to the end read page ``page``; ``next_cursor`` starts the one after."""

    def __init__(self, listing: int, page: int, next_cursor: str) -> None:
        super().__init__()
        self.listing = listing
        self.page = page
        self.next_cursor = next_cursor


class InventoryFailed(Message):
    def __init__(self, listing: int, purpose: str, error: BaseException, page: int = 0) -> None:
        super().__init__()
        self.listing = listing
        self.purpose = purpose
        self.error = error
        self.page = page


class SummaryLoaded(Message):
    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__()
        self.summary = summary


class SummaryFailed(Message):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


class MetadataLoaded(Message):
    def __init__(self, ns: str, metadata: dict[str, Any]) -> None:
        super().__init__()
        self.ns = ns
        self.metadata = metadata


class HistoryLoaded(Message):
    """History entries; ``before`` is the SHA the page was fetched after (None = head)."""

    def __init__(self, ns: str, entries: list[dict[str, Any]], before: str | None) -> None:
        super().__init__()
        self.ns = ns
        self.entries = entries
        self.before = before


class SnapshotLoaded(Message):
    def __init__(self, ns: str, body: dict[str, Any]) -> None:
        super().__init__()
        self.ns = ns
        self.body = body


class DiffLoaded(Message):
    def __init__(self, ns: str, diff: dict[str, Any]) -> None:
        super().__init__()
        self.ns = ns
        self.diff = diff


class JobsLoaded(Message):
    def __init__(self, ns: str, jobs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.ns = ns
        self.jobs = jobs


class JobCreated(Message):
    def __init__(self, ns: str, job: dict[str, Any]) -> None:
        super().__init__()
        self.ns = ns
        self.job = job


class ActivityLoaded(Message):
    """New activity events (oldest first) and the cursor to poll with next."""

    def __init__(self, events: list[dict[str, Any]], cursor: str | None) -> None:
        super().__init__()
        self.events = events
        self.cursor = cursor


class ApiFailed(Message):
    """A non-inventory call failed; ``what`` says which, for the banner."""

    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__()
        self.what = what
        self.error = error
