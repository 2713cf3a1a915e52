"""The emulator's in-memory store: namespaces, their documents, schema and index lag.

Each namespace keeps its documents in a dict by id plus a sorted id list, so the
id-ordered export pattern finds a page by bisect. One lock per namespace: a write and
a query never interleave, so every query reads a consistent snapshot. The registry of
names (emulator/registry.py) has its own lock and a sorted name list for prefix/cursor
listing; idle ``--many`` namespaces have no object until touched. What a write does is
in ``emulator.writes``.
"""

from __future__ import annotations

import bisect
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.registry import Family, Registry

NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
U64_MAX = 2**64 - 1
_PENDING_BYTES_PER_DELETE = 16


class EmulatorError(Exception):
    """A request the emulator refuses; rendered as ``{"status":"error","error":message}``."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(EmulatorError):
    status = 400


class Unprocessable(EmulatorError):
    status = 422


class NotFound(EmulatorError):
    status = 404


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def check_namespace_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise BadRequest(f"invalid namespace name {name!r}: must match [A-Za-z0-9-_.]{{1,128}}")


def check_id(value: object, where: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"{where}: id must be an unsigned integer or a string")
    if isinstance(value, int) and not 0 <= value <= U64_MAX:
        raise BadRequest(f"{where}: integer id out of u64 range")
    if isinstance(value, str) and (not value or len(value.encode()) > 64):
        raise BadRequest(f"{where}: string id must be 1 to 64 bytes")
    return value


def check_attr_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 128 or name.startswith("$"):
        raise BadRequest(f"{where}: invalid attribute name {name!r}")
    return name


def value_bytes(v: Any) -> int:
    """A cheap stand-in for turbopuffer's logical size of a value."""
    if v is None:
        return 0
    if isinstance(v, str):
        return len(v)
    if isinstance(v, list | tuple):
        return sum(value_bytes(x) for x in v)
    if isinstance(v, bool):
        return 1
    return 8


def doc_bytes(doc: dict[str, Any]) -> int:
    return sum(value_bytes(v) for v in doc.values())


def infer_type(name: str, v: Any) -> dict[str, Any] | None:
    """The schema entry turbopuffer would infer for an attribute's first non-null value."""
    if v is None:
        return None
    if isinstance(v, bool):
        t = "bool"
    elif isinstance(v, int):
        t = "int"
    elif isinstance(v, float):
        t = "float"
    elif isinstance(v, str):
        t = "string"
    elif isinstance(v, list | tuple):
        if name == "vector" and v and all(isinstance(x, int | float) for x in v):
            return {"type": f"[{len(v)}]f32", "ann": {"distance_metric": "cosine_distance"}}
        first = next((x for x in v if x is not None), None)
        inner = infer_type("", first) if first is not None else {"type": "string"}
        if inner is None or inner["type"].startswith("["):
            return {"type": "[]string", "filterable": True}
        t = "[]" + inner["type"]
    else:
        return None
    return {"type": t, "filterable": True}


@dataclass(eq=False)
class Namespace:
    name: str
    created_ms: int
    docs: dict[Any, dict[str, Any]] = field(default_factory=dict)
    ids: list[Any] = field(default_factory=list)
    id_kind: type | None = None
    schema: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_write_ms: int = 0
    logical_bytes: int = 0
    pending_bytes: int = 0
    pending_rows: int = 0
    distance_metric: str | None = None
    # encryption, read_only, pinning: what PATCH metadata and a write's encryption set
    config: dict[str, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- helpers used under the lock ---

    def _check_id_kind(self, id_: Any, where: str) -> None:
        kind = int if isinstance(id_, int) else str
        if self.id_kind is None:
            self.id_kind = kind
            self.schema.setdefault("id", {"type": "uint" if kind is int else "string"})
        elif kind is not self.id_kind:
            raise BadRequest(f"{where}: id type {kind.__name__} does not match the namespace's ids")

    def _learn_schema(self, doc: dict[str, Any]) -> None:
        for k, v in doc.items():
            if k != "id" and k not in self.schema:
                entry = infer_type(k, v)
                if entry is not None:
                    self.schema[k] = entry

    def put(self, doc: dict[str, Any], new_ids: list[Any]) -> None:
        """Insert or replace one document; a new id is appended to ``new_ids`` for ``reindex``."""
        id_ = doc["id"]
        old = self.docs.get(id_)
        if old is None:
            new_ids.append(id_)
        else:
            self.logical_bytes -= doc_bytes(old)
        self.docs[id_] = doc
        self.logical_bytes += doc_bytes(doc)

    def remove(self, id_: Any, removed: list[Any]) -> bool:
        """Drop one document; its id goes to ``removed`` for ``reindex``."""
        old = self.docs.pop(id_, None)
        if old is None:
            return False
        self.logical_bytes -= doc_bytes(old)
        removed.append(id_)
        return True

    def reindex(self, new_ids: list[Any], removed: list[Any]) -> None:
        """Bring ``ids`` back in line with ``docs``: bisect for a few changes, re-sort for many."""
        if len(removed) > 16:
            docs = self.docs
            self.ids = [i for i in self.ids if i in docs]
        else:
            for id_ in removed:
                i = bisect.bisect_left(self.ids, id_)
                if i < len(self.ids) and self.ids[i] == id_ and id_ not in self.docs:
                    del self.ids[i]
        # an id removed then re-added in one write is back in docs and may already be listed
        fresh = [i for i in new_ids if i in self.docs]
        if len(fresh) <= 16:
            for id_ in fresh:
                i = bisect.bisect_left(self.ids, id_)
                if i == len(self.ids) or self.ids[i] != id_:
                    self.ids.insert(i, id_)
        else:
            self.ids.extend(fresh)
            self.ids = sorted(set(self.ids))

    def touch(self, now_ms: int, nbytes: int, nrows: int, lag_ms: int) -> None:
        if now_ms - self.last_write_ms >= lag_ms:
            self.pending_bytes = self.pending_rows = 0
        self.pending_bytes += max(nbytes, 1)
        self.pending_rows += nrows
        self.last_write_ms = max(now_ms, self.last_write_ms + 1)


class State:
    """All namespaces; thread-safe. ``clock`` returns wall-clock epoch ms.

    The names and their objects live in ``emulator.registry.Registry``: idle names of a
    ``Family`` have no object until ``get`` (a write, a query) materializes one.
    """

    def __init__(self, *, index_lag_ms: int = 2000, clock: Callable[[], int] = wall_ms) -> None:
        self.index_lag_ms = index_lag_ms
        self.clock = clock
        self.registry = Registry(lambda name, now: Namespace(name=name, created_ms=now))

    # --- registry ---

    def get(self, name: str) -> Namespace:
        ns = self.registry.get(name, self.clock())
        if ns is None:
            raise NotFound(f"namespace '{name}' not found")
        return ns

    def peek(self, name: str) -> Namespace:
        """``get`` for read-only use: an idle namespace is not materialized (do not write it)."""
        ns = self.registry.peek(name, self.clock())
        if ns is None:
            raise NotFound(f"namespace '{name}' not found")
        return ns

    def get_or_create(self, name: str) -> Namespace:
        check_namespace_name(name)
        return self.registry.get_or_create(name, self.clock())

    def add_namespace(self, ns: Namespace) -> None:
        """Install a fully built namespace (demo data), replacing any of that name."""
        check_namespace_name(ns.name)
        self.registry.install(ns)

    def add_family(self, family: Family) -> int:
        """Register a family of idle namespaces (``--many``); returns how many names are new."""
        check_namespace_name(family.prefix + "0")
        return self.registry.add_family(family)

    def delete(self, name: str) -> None:
        if not self.registry.delete(name):
            raise NotFound(f"namespace '{name}' not found")

    def list_names(self, prefix: str, after: str | None, page_size: int) -> tuple[list[str], bool]:
        """Names starting with ``prefix`` sorted, strictly after ``after``; and whether more exist."""
        return self.registry.list_names(prefix, after, page_size)

    def names(self) -> list[str]:
        return self.registry.names()

    def count(self) -> int:
        return self.registry.count()

    # --- reads ---

    def is_updating(self, ns: Namespace) -> bool:
        return ns.pending_bytes > 0 and self.clock() - ns.last_write_ms < self.index_lag_ms

    # --- writes ---

    def write(self, name: str, body: Any) -> dict[str, Any]:
        """Apply one write body (see ``emulator.writes``); a failed write changes nothing."""
        from emulator.writes import apply_write, creates_namespace, source_name, validate_body

        body = validate_body(body)
        src_name = source_name(body)
        source = self.registry.peek(src_name, self.clock()) if src_name else None
        existed = self.registry.exists(name)
        if not existed and not creates_namespace(body):
            if body.get("create_namespace") is False or any(
                body.get(k)
                for k in (
                    "patch_rows",
                    "patch_columns",
                    "deletes",
                    "delete_by_filter",
                    "patch_by_filter",
                )
            ):
                raise NotFound(f"namespace '{name}' not found")
            raise BadRequest("write has no operations")
        ns = self.get_or_create(name)
        try:
            if source is not None and source is not ns:
                first, second = sorted((source, ns), key=lambda n: n.name)  # one lock order
                with first.lock, second.lock:
                    result = apply_write(ns, body, source)
            else:
                with ns.lock:
                    result = apply_write(ns, body, source)
        except EmulatorError:
            if not existed and not ns.docs:
                self.registry.delete(name)
            raise
        with ns.lock:
            nbytes = result["billing"]["billable_logical_bytes_written"]
            if result["rows_affected"] or nbytes or not existed:
                ns.touch(self.clock(), nbytes, result["rows_affected"], self.index_lag_ms)
        return result
