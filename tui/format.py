"""Human units and relative times for the dashboard.

Every function takes "now" explicitly (epoch ms) so the app can inject a clock and
snapshot tests stay deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in _BYTE_UNITS:
        if abs(value) < 1000 or unit == _BYTE_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} PB"  # pragma: no cover - loop always returns


def human_count(n: int | float | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    if abs(value) < 1000:
        return str(int(value))
    for unit in ("k", "M", "B", "T"):
        value /= 1000
        if abs(value) < 1000 or unit == "T":
            return f"{value:.1f}{unit}"
    return str(n)  # pragma: no cover


def duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m" if s < 36000 else f"{s // 3600}h"
    return f"{s // 86400}d"


def ago(ms: int | float | None, now_ms: int | float) -> str:
    """``"3s ago"``; ``"—"`` when unknown; ``"in 2s"`` for clock skew."""
    if ms is None:
        return "—"
    delta = (now_ms - ms) / 1000
    if delta < -1:
        return f"in {duration(-delta)}"
    return f"{duration(delta)} ago"


def clock_time(ms: int | float, *, seconds: bool = True) -> str:
    """UTC wall-clock time, so screenshots and operators in any zone agree."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%H:%M:%S" if seconds else "%H:%M")


def timestamp(ms: int | float | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso_to_ms(value: str | None) -> int | None:
    """Parse Layer's/turbopuffer's ISO-8601 timestamps (``Z`` suffix) to epoch ms."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def short_sha(sha: str | None, n: int = 8) -> str:
    return (sha or "")[:n] or "—"


def value_label(v: Any) -> str:
    """A facet value as text: strings bare, everything else as JSON-ish repr."""
    if isinstance(v, str):
        return v
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def age(ms: int | float | None, now_ms: int | float) -> str:
    """Compact age for table cells: ``"3s"``, ``"2h05m"``; ``"—"`` when unknown."""
    if ms is None:
        return "—"
    return duration((now_ms - ms) / 1000)


def clipped(value: Any, style: str = "") -> Any:
    """A table cell that ends in "…" when its column is too narrow (plain strings are cut
    without a mark, which reads as the whole value)."""
    from rich.text import Text

    return Text(str(value), style=style, overflow="ellipsis", no_wrap=True)
