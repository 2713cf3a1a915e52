"""The inventory's columns: how a ``GET /v2/namespaces`` row is shown and sorted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text

from tui.format import age, clipped, human_bytes, human_count

# (key, label, width); the name column's width follows the data.
COLUMNS: list[tuple[str, str, int]] = [
    ("mark", "!", 1),
    ("name", "Namespace", 10),
    ("rows", "Rows", 6),
    ("size", "Size", 8),
    ("fresh", "Fresh", 7),
    ("seen", "Seen", 5),
    ("write", "Written", 7),
    ("cache", "Cache", 8),
    ("shadow", "Shadow", 6),
    ("labels", "Labels", 16),
]
COLUMN_KEYS = [c[0] for c in COLUMNS]
SORTABLE = [c[0] for c in COLUMNS if c[0] != "mark"]
STUCK_MARK = "‖"  # index stuck: still updating, unindexed bytes not falling
_CACHE_STYLE = {"warm": "green", "warming": "cyan", "cold": "dim", "stale": "yellow"}


def labels_text(labels: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def sort_key(column: str) -> Callable[[dict[str, Any]], Any]:
    """Sort keys over the raw rows; unknown values sort first."""

    def num(field: str) -> Callable[[dict[str, Any]], Any]:
        return lambda r: (r.get(field) is not None, r.get(field) or 0, r["name"])

    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "name": lambda r: r["name"],
        "rows": num("row_count"),
        "size": num("size_bytes"),
        "fresh": lambda r: (bool(r.get("is_stable")), r.get("stable_as_of_ms") or 0, r["name"]),
        "seen": num("observed_ms"),
        "write": num("last_write_ms"),
        "cache": lambda r: ((r.get("cache_state") or {}).get("state") or "", r["name"]),
        "shadow": lambda r: (bool(r.get("shadow")), r["name"]),
        "labels": lambda r: (labels_text(r.get("labels")), r["name"]),
    }
    return keys[column]


def row_cells(row: dict[str, Any], now_ms: int) -> dict[str, Text]:
    """The display cells of one namespace row."""
    error = row.get("metadata_error")
    stable_ms = row.get("stable_as_of_ms")
    stuck_ms = row.get("index_stuck_since_ms")
    if stuck_ms is not None:
        fresh = Text(f"{STUCK_MARK} {age(stuck_ms, now_ms)}", style="bold magenta")
    elif row.get("is_stable"):
        fresh = Text(f"✓ {age(stable_ms, now_ms)}" if stable_ms else "✓", style="green")
    else:
        since = age(stable_ms, now_ms) if stable_ms else "never"
        fresh = Text(f"⟳ {since}", style="yellow")
    cache = row.get("cache_state") or {}
    state = str(cache.get("state") or "—")
    cache_text = clipped(
        state + ("+" if cache.get("warm_inflight") else ""), style=_CACHE_STYLE.get(state, "")
    )
    return {
        "mark": Text("!", style="bold red") if error else Text(""),
        "name": clipped(row["name"]),
        "rows": Text(human_count(row.get("row_count")), justify="right"),
        "size": Text(human_bytes(row.get("size_bytes")), justify="right"),
        "fresh": fresh,
        "seen": Text(age(row.get("observed_ms"), now_ms)),
        "write": Text(age(row.get("last_write_ms"), now_ms)),
        "cache": cache_text,
        "shadow": Text("yes" if row.get("shadow") else ""),
        "labels": clipped(labels_text(row.get("labels"))),
    }
