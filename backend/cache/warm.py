"""Reading a namespace from the upstream into one cache generation.

The documented export pattern (``rank_by ["id","asc"]``, ``["id","Gt",last]`` from the
second page on, stop at a short page), strong consistency, every attribute except
vectors: filters never use them and they would dominate the cache's size. Each page is
written with ``put_docs`` as it arrives, so memory stays bounded by one page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from backend.stores.kv_base import KVStore
from backend.upstream import Upstream

VECTOR_TYPE_RE = re.compile(r"^\[\d+\](f16|f32)$")
Progress = Callable[[int], None]


def cached_attributes(schema: dict[str, Any]) -> list[str] | None:
    """The attributes a cached document keeps (None: the schema is unknown, take all)."""
    if not schema:
        return None
    out = []
    for name, spec in schema.items():
        t = spec.get("type") if isinstance(spec, dict) else spec
        if name == "vector" or (isinstance(t, str) and VECTOR_TYPE_RE.match(t)):
            continue
        out.append(name)
    return out


def _strip(row: dict[str, Any], attrs: list[str] | None) -> dict[str, Any]:
    if attrs is None:
        return {k: v for k, v in row.items() if k != "vector" and not k.startswith("$")}
    return {k: v for k, v in row.items() if not k.startswith("$")}


def fill_generation(
    upstream: Upstream,
    kv: KVStore,
    ns: str,
    generation: int,
    *,
    schema: dict[str, Any],
    page_size: int,
    progress: Progress,
) -> int:
    """Write every document of ``ns`` into ``generation``; return how many."""
    attrs = cached_attributes(schema)
    include: Any = True if attrs is None else sorted({"id", *attrs})
    scanned = 0
    last: Any = None
    while True:
        body: dict[str, Any] = {
            "rank_by": ["id", "asc"],
            "limit": page_size,
            "include_attributes": include,
            "consistency": {"level": "strong"},
        }
        if last is not None:
            body["filters"] = ["id", "Gt", last]
        rows = upstream.query(ns, body).get("rows") or []
        kv.put_docs(ns, generation, ((str(r["id"]), _strip(r, attrs)) for r in rows))
        scanned += len(rows)
        progress(scanned)
        if len(rows) < page_size:
            return scanned
        last = rows[-1]["id"]
