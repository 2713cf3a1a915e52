"""The inventory's header: the backend's summary, then where the view is.

Line one is ``GET /v2/namespaces/summary`` (every namespace, from the watcher's
records); line two is this view: the cursor's row number in the listing, how many
rows are loaded, the server-side filters (state, prefix), what the client-side sort
and filter apply to, and the last refresh. Parts are packed whole into lines of the
screen's width, so a narrow terminal wraps between parts, never inside one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text

from tui.format import clock_time, human_bytes, human_count

SEP = " · "
STATE_TOTAL = {"unstable": "unstable", "stuck": "stuck", "error": "errored"}


def summary_parts(summary: dict[str, Any] | None, error: str | None) -> list[Text]:
    """The summary as header parts; a short note when there is none, and the last good
    one marked stale when the latest call failed."""
    if summary is None:
        return [Text(f"no summary: {error}" if error else "summary…", style="dim")]
    parts = [
        Text(f"{int(summary.get('namespaces') or 0):,} namespaces"),
        Text(f"{human_count(summary.get('rows'))} rows"),
        Text(human_bytes(summary.get("bytes"))),
        Text(f"{int(summary.get('unstable') or 0):,} unstable"),
    ]
    stuck = int(summary.get("stuck") or 0)
    parts.append(Text(f"{stuck:,} stuck", style="bold magenta" if stuck else ""))
    errored = int(summary.get("errored") or 0)
    parts.append(Text(f"{errored:,} errored", style="bold red" if errored else ""))
    parts.append(Text(f"{int(summary.get('dirty') or 0):,} dirty"))
    sweep = summary.get("sweep") or {}
    stretch = sweep.get("stretch")
    if isinstance(stretch, int | float):
        parts.append(Text(f"sweep {stretch:.1f}×", style="yellow" if stretch > 1.05 else ""))
    shards = summary.get("shards")
    if isinstance(shards, list) and shards:
        held = sum(1 for s in shards if isinstance(s, dict) and s.get("holder"))
        parts.append(
            Text(f"shards {held}/{len(shards)}", style="" if held == len(shards) else "bold red")
        )
    if error:
        parts.append(Text(f"summary stale: {error}", style="bold yellow"))
    return parts


@dataclass
class ViewState:
    """What line two reports; the screen fills it in."""

    row: int | None  # 1-based row number of the cursor in the listing
    total: int | None  # rows in the listing (summary count or last page held)
    loaded: int  # rows held
    shown: int  # rows in the table (after the client-side filter)
    state: str | None
    prefix: str
    filter_text: str
    sort: str | None  # client-side sort description when it is not the listing's order
    frozen: bool  # more than the loaded rows exist, so sort/filter apply to a window
    walking: int | None  # pages read so far by a jump to the end
    status: str  # "refreshed 09:06:50 UTC", "stale since …", "loading…"
    stale: bool


def view_parts(v: ViewState) -> list[Text]:
    parts: list[Text] = []
    of = f" of {v.total:,}" if v.total is not None else ""
    if v.row is not None:
        parts.append(Text(f"row {v.row:,}{of}"))
    elif v.total is not None:
        parts.append(Text(f"{v.total:,} rows"))
    if v.frozen:
        parts.append(Text(f"{v.loaded:,} loaded"))
    if v.state:
        parts.append(Text(f"state={v.state}", style="bold"))
    if v.prefix:
        parts.append(Text(f"prefix={v.prefix}", style="bold"))
    if v.filter_text:
        scope = " loaded" if v.frozen else ""
        parts.append(Text(f"filter={v.filter_text} ({v.shown:,} of {v.loaded:,}{scope})"))
    if v.sort:
        parts.append(Text(f"sort {v.sort}" + (" (loaded rows)" if v.frozen else "")))
    if v.walking is not None:
        parts.append(Text(f"→ end: {v.walking:,} pages read…", style="cyan"))
    if v.status:
        parts.append(Text(v.status, style="bold yellow" if v.stale else ""))
    return parts


def status_text(last_ok_ms: int | None, error: str | None, loading: bool) -> tuple[str, bool]:
    if error and last_ok_ms is not None:
        return f"stale since {clock_time(last_ok_ms)}", True
    if last_ok_ms is not None:
        return f"refreshed {clock_time(last_ok_ms)} UTC", False
    return ("loading…" if loading else ""), False


def pack(lines: list[list[Text]], width: int) -> Text:
    """Each group of parts on its own line(s), wrapped between parts to ``width``."""
    out = Text()
    first = True
    for parts in lines:
        used: int | None = None  # None: this group has not started a line yet
        for part in parts:
            n = len(part.plain)
            if used is not None and used + len(SEP) + n <= width:
                out.append(SEP)
                out.append_text(part)
                used += len(SEP) + n
                continue
            if not first:
                out.append("\n")
            first = False
            out.append_text(part)
            used = n
    return out
