"""Horizontal bar histograms for snapshot bodies, job results and diffs.

Rendering is a pure function of the payload and the available width, so the view
uses the whole pane in a wide terminal and still fits at 80 columns.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from tui.format import human_count, value_label

TOP_VALUES = 20
# Past this, bars only push the counts away from their labels in a wide terminal.
MAX_BAR = 60
_BLOCKS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    """A bar of ``width`` cells filled to ``fraction``, with eighth-cell resolution."""
    fraction = max(0.0, min(1.0, fraction))
    eighths = round(fraction * width * 8)
    full, rest = divmod(eighths, 8)
    out = "█" * full + (_BLOCKS[rest] if rest else "")
    if fraction > 0 and not out:
        out = "▏"
    return out


def _label_width(labels: list[str], width: int) -> int:
    longest = max((len(s) for s in labels), default=4)
    return max(4, min(longest, width // 3, 32))


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: max(1, n - 1)] + "…"


def render_values(
    name: str,
    values: list[dict[str, Any]],
    width: int,
    top: int = TOP_VALUES,
    page: int = 0,
    find: str = "",
) -> Text:
    """One field: a heading, then one bar per value (largest first), ``top`` at a time.

    ``page`` picks which ``top`` values (0: the largest); ``find`` keeps only values whose
    label contains it (case-insensitive), so every value can be reached, not only the top.
    """
    out = Text()
    total = sum(int(v.get("n") or 0) for v in values)
    out.append(name, style="bold")
    out.append(f"  {len(values)} values · {human_count(total)} total", style="dim")
    ranked = sorted(values, key=lambda v: -int(v.get("n") or 0))
    if find:
        needle = find.lower()
        ranked = [v for v in ranked if needle in value_label(v.get("v")).lower()]
        out.append(f" · {len(ranked)} matching {find!r}", style="dim")
    out.append("\n")
    pages = max(1, -(-len(ranked) // top))
    page = max(0, min(page, pages - 1))
    start = page * top
    shown = ranked[start : start + top]
    if not shown:
        out.append("  (no values)\n" if not find else "  (no value matches)\n", style="dim")
        return out
    labels = [value_label(v.get("v")) for v in shown]
    lw = _label_width(labels, width)
    counts = [f"{int(v.get('n') or 0):,}" for v in shown]
    cw = max(len(c) for c in counts)
    bar_w = max(4, min(MAX_BAR, width - lw - cw - 6))
    peak = max(int(v.get("n") or 0) for v in shown) or 1
    for label, count, v in zip(labels, counts, shown, strict=True):
        out.append(f"  {_clip(label, lw):<{lw}} ")
        out.append(f"{bar(int(v.get('n') or 0) / peak, bar_w):<{bar_w}}", style="cyan")
        out.append(f" {count:>{cw}}\n")
    if len(ranked) > top:
        out.append(
            f"  values {start + 1}–{start + len(shown)} of {len(ranked)}"
            "  (] next · [ previous · f find)\n",
            style="dim",
        )
    return out


def render_skipped(skipped: list[dict[str, Any]]) -> Text:
    out = Text()
    for s in skipped:
        out.append(f"{s.get('name')}", style="bold")
        out.append("  skipped: ", style="yellow")
        out.append(
            f"{s.get('reason')} — {int(s.get('distinct_observed') or 0):,} distinct observed"
            f" (cap {int(s.get('cap') or 0):,})\n"
        )
    return out


def render_body(body: dict[str, Any], width: int, page: int = 0, find: str = "") -> Text:
    """A snapshot body: every field's histogram, then the skipped fields."""
    out = Text()
    fields = body.get("fields") or []
    for f in fields:
        out.append_text(
            render_values(str(f.get("name")), f.get("values") or [], width, page=page, find=find)
        )
        out.append("\n")
    skipped = body.get("fields_skipped") or []
    if skipped:
        out.append_text(render_skipped(skipped))
    if not fields and not skipped:
        out.append("(this snapshot has no fields)\n", style="dim")
    return out


def render_result(result: dict[str, Any], width: int, page: int = 0, find: str = "") -> Text:
    """A completed job's inline result: values, or the reason it was skipped."""
    if "skipped" in result:
        return render_skipped([{"name": result.get("name"), **(result.get("skipped") or {})}])
    return render_values(
        str(result.get("name")), result.get("values") or [], width, page=page, find=find
    )


_STATUS_STYLE = {"changed": "yellow", "added": "green", "removed": "red", "unchanged": "dim"}


def render_diff(
    diff: dict[str, Any], width: int, page: int = 0, find: str = "", top: int = TOP_VALUES
) -> Text:
    """Per field: its status, then the largest changes as signed bars."""
    out = Text()
    for f in diff.get("fields") or []:
        status = str(f.get("status"))
        changes = f.get("changes") or []
        if find:
            needle = find.lower()
            changes = [c for c in changes if needle in value_label(c.get("v")).lower()]
        out.append(str(f.get("name")), style="bold")
        out.append(f"  {status}", style=_STATUS_STYLE.get(status, ""))
        out.append(f"  {len(changes)} values changed\n" if changes else "\n", style="dim")
        pages = max(1, -(-len(changes) // top))
        start = max(0, min(page, pages - 1)) * top
        shown = changes[start : start + top]
        if not shown:
            out.append("\n")
            continue
        labels = [value_label(c.get("v")) for c in shown]
        lw = _label_width(labels, width)
        moves = [f"{int(c.get('from') or 0):,} → {int(c.get('to') or 0):,}" for c in shown]
        deltas = [f"{int(c.get('delta') or 0):+,}" for c in shown]
        mw = max(len(m) for m in moves)
        dw = max(len(d) for d in deltas)
        bar_w = max(4, min(MAX_BAR, width - lw - mw - dw - 8))
        peak = max(abs(int(c.get("delta") or 0)) for c in shown) or 1
        for label, move, delta, c in zip(labels, moves, deltas, shown, strict=True):
            d = int(c.get("delta") or 0)
            out.append(f"  {_clip(label, lw):<{lw}} {move:>{mw}} ")
            out.append(f"{delta:>{dw}} ", style="green" if d > 0 else "red")
            out.append(bar(abs(d) / peak, bar_w), style="green" if d > 0 else "red")
            out.append("\n")
        if len(changes) > top:
            out.append(
                f"  changes {start + 1}–{start + len(shown)} of {len(changes)}"
                "  (] next · [ previous · f find)\n",
                style="dim",
            )
        out.append("\n")
    skipped = diff.get("fields_skipped") or {}
    was, now = set(skipped.get("from") or []), set(skipped.get("to") or [])
    for name in sorted(was | now):
        side = "both" if name in was and name in now else ("from" if name in was else "to")
        out.append(name, style="bold")
        out.append(f"  skipped in {side} (over the distinct-value cap)\n", style="yellow")
    if not diff.get("fields") and not (was | now):
        out.append("(no fields to compare)\n", style="dim")
    return out


class Histogram(Static):
    """Shows a body, a job result or a diff; re-renders to the pane's width on resize."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._kind: str | None = None
        self._payload: dict[str, Any] | None = None
        self._heading: Text | None = None
        self.page = 0
        self.find = ""

    @property
    def kind(self) -> str | None:
        return self._kind

    def show(self, kind: str, payload: dict[str, Any], heading: Text | str | None = None) -> None:
        self._kind = kind
        self._payload = payload
        self._heading = Text(heading) if isinstance(heading, str) else heading
        self.page, self.find = 0, ""
        self._render_now()

    @property
    def pageable(self) -> bool:
        return self._payload is not None and self._kind in ("body", "result", "diff")

    def turn(self, delta: int) -> None:
        """Show the next (or previous) ``TOP_VALUES`` values of every field."""
        if self.pageable:
            self.page = max(0, min(self.page + delta, self._last_page()))
            self._render_now()

    def search(self, text: str) -> None:
        """Keep only values whose label contains ``text``; "" shows them all again."""
        if self.pageable:
            self.find, self.page = text.strip(), 0
            self._render_now()

    def _last_page(self) -> int:
        payload = self._payload or {}
        if self._kind == "diff":
            sizes = [len(f.get("changes") or []) for f in payload.get("fields") or []]
        elif self._kind == "result":
            sizes = [len(payload.get("values") or [])]
        else:
            sizes = [len(f.get("values") or []) for f in payload.get("fields") or []]
        return max(0, (max(sizes, default=0) - 1) // TOP_VALUES)

    def show_text(self, text: Text | str) -> None:
        self._kind = "text"
        self._payload = None
        self._heading = None
        self.update(text)

    def _render_now(self) -> None:
        if self._payload is None or self._kind is None:
            return
        # Leave room for the pane's scrollbar, which appears once content overflows.
        width = max(30, (self.size.width or 60) - 3)
        render = {"body": render_body, "result": render_result, "diff": render_diff}[self._kind]
        out = Text()
        if self._heading is not None:
            out.append_text(self._heading)
            out.append("\n\n")
        out.append_text(render(self._payload, width, page=self.page, find=self.find))
        self.update(out)

    def on_resize(self) -> None:
        self._render_now()
