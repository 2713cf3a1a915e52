"""Counting facet values and shaping them into snapshot bodies.

An array value counts once per distinct element: a document adds one to the bucket of
each value its array holds, however often it holds it, so a bucket counts the documents
that ``[field, "Contains", value]`` matches (as turbopuffer's ``ForEachUnique`` groups
do). Null and missing values, and null elements, are not counted.
Counts are keyed by (type tag, value) so ``True``, ``1`` and ``1.0`` never merge.
A field with more distinct values than the cap is reported in ``fields_skipped`` with
the exact number observed, never partly written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import chain
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
            for k in {_key(item) for item in value}:
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
        # Fast path, counted in C: a page whose values are all strings (or absent), or
        # all arrays of strings. Any other value type goes through the tagged loop below,
        # so True and 1, which a plain Counter would merge, stay apart.
        values = list(map(methodcaller("get", self.name), rows))
        raw: Counter[Any] | None
        try:
            raw = Counter(values)
        except TypeError:  # an unhashable value (an array attribute)
            raw = self._distinct_string_elements(values)
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

    @staticmethod
    def _distinct_string_elements(values: list[Any]) -> Counter[Any] | None:
        """A page of arrays (or absent values), each array's distinct elements counted in
        C; None when some value is not an array or an element cannot be hashed. The
        caller checks that every key is a string: ``set`` would merge ``True`` and ``1``."""
        arrays = [v for v in values if v is not None]
        if not all(type(v) is list for v in arrays):
            return None
        try:
            return Counter(chain.from_iterable(map(set, arrays)))
        except TypeError:  # an object element
            return None

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
