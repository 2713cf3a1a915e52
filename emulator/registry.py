"""The emulator's registry of namespaces, sized for a million mostly idle ones.

Every name lives in one sorted list, so a listing page is a bisect plus a slice
whatever the total. Only namespaces that were written, queried or installed whole
have a ``Namespace`` object; the names of a ``Family`` (``--many PREFIX=COUNT``) stay
compact until first touched: the family builds the full object from the name alone,
deterministically, so the first write sees the documents the metadata described.
A million idle names cost about 75 MB (the strings and the list), a touched small
namespace about 3.5 KB.

``peek`` answers read-only routes (metadata, schema) for an idle name with a throwaway
object, so a watcher polling every namespace does not materialize them all.
"""

from __future__ import annotations

import bisect
import heapq
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from emulator.state import Namespace


class Family(Protocol):
    """Names ``prefix + suffix(i)`` for ``i < count``, built into namespaces on demand."""

    prefix: str
    count: int

    def name(self, i: int) -> str: ...

    def index(self, name: str) -> int | None:
        """``i`` if ``name`` is this family's ``name(i)``, else None."""
        ...

    def build(self, name: str, i: int, now_ms: int) -> Namespace: ...


class Registry:
    """Names → namespaces, thread-safe; a lookup of an absent name returns None.

    ``new(name, now_ms)`` makes the empty namespace of a name created by a write.
    """

    def __init__(self, new: Callable[[str, int], Namespace]) -> None:
        self._new = new
        self._lock = threading.Lock()
        self._names: list[str] = []
        self._objects: dict[str, Namespace] = {}
        self._families: list[Family] = []

    # --- population ---

    def add_family(self, family: Family) -> int:
        """Register ``family``'s names (idle; no objects); returns how many were new."""
        fresh = sorted(family.name(i) for i in range(family.count))
        with self._lock:
            merged = list(heapq.merge(self._names, fresh))
            # a name both present and generated would appear twice: keep one
            out: list[str] = []
            for n in merged:
                if not out or out[-1] != n:
                    out.append(n)
            added = len(out) - len(self._names)
            self._names = out
            self._families.append(family)
            # longest prefix first, so "ab" wins over "a" for "ab00001"
            self._families.sort(key=lambda f: len(f.prefix), reverse=True)
            return added

    def install(self, ns: Namespace) -> None:
        """Install a built namespace, replacing any of that name."""
        with self._lock:
            if ns.name not in self._objects and not self._contains(ns.name):
                bisect.insort(self._names, ns.name)
            self._objects[ns.name] = ns

    # --- lookups ---

    def _contains(self, name: str) -> bool:
        names = self._names
        i = bisect.bisect_left(names, name)
        return i < len(names) and names[i] == name

    def exists(self, name: str) -> bool:
        if name in self._objects:
            return True
        with self._lock:
            return self._contains(name)

    def _build(self, name: str, now_ms: int) -> Namespace | None:
        for fam in self._families:
            if name.startswith(fam.prefix):
                i = fam.index(name)
                if i is not None:
                    return fam.build(name, i, now_ms)
        return None

    def get(self, name: str, now_ms: int) -> Namespace | None:
        """The namespace's object, materializing an idle one."""
        return self._lookup(name, now_ms, keep=True)

    def peek(self, name: str, now_ms: int) -> Namespace | None:
        """The namespace for reading only: an idle one's object is built and not kept."""
        return self._lookup(name, now_ms, keep=False)

    def _lookup(self, name: str, now_ms: int, *, keep: bool) -> Namespace | None:
        ns = self._objects.get(name)
        if ns is not None:
            return ns
        with self._lock:
            ns = self._objects.get(name)
            if ns is not None:
                return ns
            if not self._contains(name):
                return None
            if keep:
                ns = self._build(name, now_ms) or self._new(name, now_ms)
                self._objects[name] = ns
                return ns
        return self._build(name, now_ms) or self._new(name, now_ms)

    def get_or_create(self, name: str, now_ms: int) -> Namespace:
        ns = self._objects.get(name)
        if ns is not None:
            return ns
        with self._lock:
            ns = self._objects.get(name)
            if ns is not None:
                return ns
            if self._contains(name):
                ns = self._build(name, now_ms) or self._new(name, now_ms)
            else:
                ns = self._new(name, now_ms)
                bisect.insort(self._names, name)
            self._objects[name] = ns
            return ns

    def delete(self, name: str) -> bool:
        """Drop ``name``; False if there was no such namespace."""
        with self._lock:
            i = bisect.bisect_left(self._names, name)
            if i == len(self._names) or self._names[i] != name:
                return False
            del self._names[i]
            self._objects.pop(name, None)
            return True

    # --- listing ---

    def list_names(self, prefix: str, after: str | None, page_size: int) -> tuple[list[str], bool]:
        """Names starting with ``prefix`` sorted, strictly after ``after``; and whether more exist."""
        with self._lock:
            names = self._names
            start = bisect.bisect_left(names, prefix)
            if after is not None:
                start = max(start, bisect.bisect_right(names, after))
            page = names[start : start + page_size + 1]
        out = [n for n in page if n.startswith(prefix)]
        more = len(out) > page_size
        return out[:page_size], more

    def random_name(self, prefix: str, rng: random.Random) -> str | None:
        """A uniformly drawn name starting with ``prefix``, or None when there is none."""
        with self._lock:
            names = self._names
            lo = bisect.bisect_left(names, prefix)
            # every name starting with prefix sorts before prefix + the highest code point
            hi = bisect.bisect_left(names, prefix + "\U0010ffff", lo)
            if hi <= lo:
                return None
            return names[rng.randrange(lo, hi)]

    def count(self) -> int:
        return len(self._names)

    def materialized(self) -> int:
        return len(self._objects)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._names)
