"""Counting facet values and shaping them into snapshot bodies.

An array value counts once per element; null and missing values are not counted.
Counts are keyed by (type tag, value) so ``True``, ``1`` and ``1.0`` never merge.
A field with more distinct values than the cap is reported in ``fields_skipped`` with
the exact number observed, never partly written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from operator import methodcaller
from typing import Any

import orjson

TAG_ORDER = {"b": 0, "n": 1, "s": 2, "j": 3}


def _key(v: Any) -> tuple[str, Any] | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, int | float):
        return ("n", v)
    if isinstance(v, str):
        return ("s", v)
    return ("j", orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode())


class FieldCounter:
    __slots__ = ("name", "counts")

    def __init__(self, name: str) -> None:
        self.name = name
        self.counts: Counter[tuple[str, Any]] = Counter()

    def add(self, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                k = _key(item)
                if k is not None:
                    self.counts[k] += 1
        else:
            k = _key(value)
            if k is not None:
                self.counts[k] += 1

    def add_count(self, value: Any, n: int) -> None:
        k = _key(value)
        if k is not None and n > 0:
            self.counts[k] += n

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        # Fast path, counted in C: a page whose values are all strings (or absent). Any
        # other value type goes through the tagged loop below, so True and 1, which a
        # plain Counter would merge, stay apart.
        try:
            raw = Counter(map(methodcaller("get", self.name), rows))
        except TypeError:  # an unhashable value (an array attribute)
            raw = None
        if raw is not None and all(type(v) is str or v is None for v in raw):
            counts = self.counts
            for v, n in raw.items():
                if v is not None:
                    counts[("s", v)] += n
            return
        name, counts = self.name, self.counts
        for row in rows:
            value = row.get(name)
            if value is None:
                continue
            if isinstance(value, str):
                counts[("s", value)] += 1
            else:
                self.add(value)

    def result(self, cap: int) -> dict[str, Any]:
        """``{"name", "values": [...]}`` or ``{"name", "skipped": {...}}``."""
        distinct = len(self.counts)
        if distinct > cap:
            return {
                "name": self.name,
                "skipped": {"reason": "exceeded_cap", "distinct_observed": distinct, "cap": cap},
            }
        items = sorted(self.counts.items(), key=lambda kv: (-kv[1], TAG_ORDER[kv[0][0]], kv[0][1]))
        values = [{"v": orjson.loads(k[1]) if k[0] == "j" else k[1], "n": n} for k, n in items]
        return {"name": self.name, "values": values}


def build_body(ns: str, watermark_ms: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed's body shape (without ``sha``), fields in the order requested."""
    fields = [r for r in results if "values" in r]
    skipped = [{"name": r["name"], **r["skipped"]} for r in results if "skipped" in r]
    return {
        "namespace": ns,
        "watermark_ms": watermark_ms,
        "fields": fields,
        "fields_skipped": skipped,
    }


def result_from_body(body: dict[str, Any], field: str) -> dict[str, Any] | None:
    for f in body.get("fields", []):
        if f.get("name") == field:
            return {"name": field, "values": f["values"]}
    for f in body.get("fields_skipped", []):
        if f.get("name") == field:
            return {
                "name": field,
                "skipped": {k: f[k] for k in ("reason", "distinct_observed", "cap") if k in f},
            }
    return None
