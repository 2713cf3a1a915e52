"""Object store keys (DESIGN.md "Object store layout"). One place builds and parses them."""

from __future__ import annotations

INV_BASE = 9999999999999


def body_key(ns: str, sha: str) -> str:
    return f"snapshots/{ns}/bodies/{sha}.json"


def bodies_prefix(ns: str) -> str:
    return f"snapshots/{ns}/bodies/"


def history_prefix(ns: str) -> str:
    return f"snapshots/{ns}/history/"


def history_key(ns: str, watermark_ms: int, sha: str) -> str:
    return f"{history_prefix(ns)}{INV_BASE - watermark_ms:013d}-{sha}"


def parse_history_key(key: str) -> tuple[int, str]:
    """``.../history/{inv}-{sha}`` → (watermark_ms, sha)."""
    name = key.rsplit("/", 1)[-1]
    inv, _, sha = name.partition("-")
    return INV_BASE - int(inv), sha


def activity_key(ts_ms: int, ns: str, sha: str) -> str:
    return f"activity/{ts_ms:013d}-{ns}-{sha}.json"


def activity_ns_prefix(ns: str) -> str:
    return f"activity-by-ns/{ns}/"


def activity_ns_key(ns: str, ts_ms: int, sha: str) -> str:
    return f"{activity_ns_prefix(ns)}{ts_ms:013d}-{sha}.json"
