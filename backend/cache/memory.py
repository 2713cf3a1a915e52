"""Decoded cache generations held in process memory, with lazy equality indexes.

A committed generation never changes (a warm writes a new one and drops the old one
after the flip), so a process may keep its documents decoded: keyed by (namespace,
generation), least recently used first out, bounded by a total document budget. A
generation larger than the budget is streamed from the KV store every time instead.

Equality indexes make selective filters cheap: for an attribute used by ``Eq``/``In``
(scalar values) or ``Contains``/``ContainsAny``, the first such filter builds a map
from value to document positions (array elements for the second kind; ``In`` reads
both, since on an array attribute it means "any element in the list"). ``candidates``
returns positions that include every match (a superset), or None when the filter
gives no handle. ``Lt``/``Lte``/``Gt``/``Gte`` with a number use a sorted index of the
attribute's numeric values (bisected), plus, for ``Lt``/``Lte``, the documents where it
is null or missing, which those match (``common/filters.py``). The caller still
evaluates the full filter on each candidate, so an index can only make a count faster,
never different.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from typing import Any

MEMORY_DOCS = 500_000


def _key(v: Any) -> Any:
    """Index key with the evaluator's equality: bools apart from numbers, 1 == 1.0."""
    if v is True or v is False:
        return ("$bool", v)
    return v


def _indexable(v: Any) -> bool:
    return isinstance(v, str | int | float) or v is True or v is False


RANGE_OPS = frozenset({"Lt", "Lte", "Gt", "Gte"})


def _is_number(v: Any) -> bool:
    return type(v) in (int, float)


class RangeIndex:
    """One attribute's numeric values in order, their positions, and where it is null."""

    __slots__ = ("values", "positions", "nulls")

    def __init__(self, docs: list[dict[str, Any]], attr: str) -> None:
        pairs = []
        nulls = []
        for pos, doc in enumerate(docs):
            v = doc.get(attr)
            if v is None:
                nulls.append(pos)
            elif _is_number(v):
                pairs.append((v, pos))
        pairs.sort()
        self.values = [v for v, _ in pairs]
        self.positions = [p for _, p in pairs]
        self.nulls = nulls

    def matching(self, op: str, value: float) -> set[int]:
        if op == "Lt":
            out = set(self.positions[: bisect.bisect_left(self.values, value)])
        elif op == "Lte":
            out = set(self.positions[: bisect.bisect_right(self.values, value)])
        elif op == "Gt":
            out = set(self.positions[bisect.bisect_right(self.values, value) :])
        else:
            out = set(self.positions[bisect.bisect_left(self.values, value) :])
        if op in ("Lt", "Lte"):
            out.update(self.nulls)
        return out


class Generation:
    __slots__ = ("docs", "_indexes", "_ranges", "_lock")

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs
        self._indexes: dict[tuple[str, bool], dict[Any, list[int]]] = {}
        self._ranges: dict[str, RangeIndex] = {}
        self._lock = threading.Lock()

    def range_index(self, attr: str) -> RangeIndex:
        with self._lock:
            idx = self._ranges.get(attr)
        if idx is None:
            idx = RangeIndex(self.docs, attr)
            with self._lock:
                self._ranges[attr] = idx
        return idx

    def index(self, attr: str, elements: bool) -> dict[Any, list[int]]:
        with self._lock:
            idx = self._indexes.get((attr, elements))
            if idx is not None:
                return idx
        built: dict[Any, list[int]] = {}
        for pos, doc in enumerate(self.docs):
            v = doc.get(attr)
            if elements:
                if isinstance(v, list):
                    for e in set(_key(x) for x in v if _indexable(x)):
                        built.setdefault(e, []).append(pos)
            elif _indexable(v):
                built.setdefault(_key(v), []).append(pos)
        with self._lock:
            self._indexes[(attr, elements)] = built
        return built

    def candidates(self, f: Any) -> set[int] | None:
        """Positions that include every document ``f`` matches; None: no narrowing."""
        if not isinstance(f, list) or len(f) not in (2, 3):
            return None
        head = f[0]
        if len(f) == 2 and head in ("And", "Or") and isinstance(f[1], list):
            subs = [self.candidates(sub) for sub in f[1]]
            if head == "And":
                known = [s for s in subs if s is not None]
                return set.intersection(*sorted(known, key=len)) if known else None
            if not subs or any(s is None for s in subs):
                return None
            return set().union(*[s for s in subs if s is not None])
        if len(f) != 3 or not isinstance(head, str):
            return None
        op, value = f[1], f[2]
        if op in RANGE_OPS and _is_number(value):
            return self.range_index(head).matching(op, value)
        if op in ("Eq", "Contains") or (op == "In" and not isinstance(value, list)):
            values = [value]  # In takes a bare scalar too
        elif op in ("In", "ContainsAny"):
            values = value
        else:
            return None
        if not isinstance(values, list) or not all(_indexable(v) for v in values):
            return None
        # Eq matches scalars, Contains* array elements, and In either: a scalar in the
        # list or an array with an element in it (common/filters.py).
        kinds = {"Eq": (False,), "In": (False, True)}.get(op, (True,))
        out: set[int] = set()
        for elements in kinds:
            idx = self.index(head, elements=elements)
            for v in values:
                out.update(idx.get(_key(v), ()))
        return out


class GenerationMemory:
    """LRU of decoded generations, bounded by ``budget`` documents in total."""

    def __init__(self, budget: int = MEMORY_DOCS) -> None:
        self.budget = budget
        self._items: OrderedDict[tuple[str, int], Generation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ns: str, generation: int) -> Generation | None:
        with self._lock:
            hit = self._items.get((ns, generation))
            if hit is not None:
                self._items.move_to_end((ns, generation))
            return hit

    def put(self, ns: str, generation: int, docs: list[dict[str, Any]]) -> Generation:
        gen = Generation(docs)
        with self._lock:
            for key in [k for k in self._items if k[0] == ns]:
                del self._items[key]  # an older generation of the namespace is dead
            self._items[(ns, generation)] = gen
            total = sum(len(g.docs) for g in self._items.values())
            while total > self.budget and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                total -= len(old.docs)
        return gen

    def forget(self, ns: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == ns]:
                del self._items[key]
