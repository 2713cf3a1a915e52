"""Canonical JSON and snapshot SHAs (DESIGN.md: hex SHA-256 of the canonical JSON,
sorted keys and no spaces, of the body without its ``sha`` field)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

HEX_RE = re.compile(r"^[0-9a-f]+$")
FULL_SHA_LEN = 64
MIN_PREFIX_LEN = 7


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def snapshot_sha(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({k: v for k, v in body.items() if k != "sha"})).hexdigest()


def with_sha(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its ``sha`` set (placed after ``watermark_ms`` as in the seed)."""
    sha = snapshot_sha(body)
    out: dict[str, Any] = {}
    for k, v in body.items():
        if k == "sha":
            continue
        out[k] = v
        if k == "watermark_ms":
            out["sha"] = sha
    out.setdefault("sha", sha)
    return out
