"""The emulator's in-memory store: namespaces, their documents, schema and index lag.

Each namespace keeps its documents in a dict by id plus a sorted id list, so the
id-ordered export pattern finds a page by bisect. One lock per namespace: a write and
a query never interleave, so every query reads a consistent snapshot. The registry of
names (emulator/registry.py) has its own lock and a sorted name list for prefix/cursor
listing; idle ``--many`` namespaces have no object until touched.
"""

from __future__ import annotations

import base64
import bisect
import re
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.filters import FilterError, compile_filter
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


def decode_vector(v: Any) -> Any:
    """Vectors may come as base64 little-endian f32; store them as float lists."""
    if isinstance(v, str):
        try:
            raw = base64.b64decode(v, validate=True)
        except ValueError as exc:
            raise BadRequest("vector: invalid base64") from exc
        if len(raw) % 4:
            raise BadRequest("vector: base64 length is not a multiple of 4 bytes")
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return v


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
        if not isinstance(body, dict):
            raise Unprocessable("write body must be a JSON object")
        ops = _parse_write(body)
        if not ops.has_effect() and not ops.schema and not self.registry.exists(name):
            raise BadRequest("write has no operations")
        ns = self.get_or_create(name) if (ops.creates() or ops.schema) else self.get(name)
        with ns.lock:
            return self._apply(ns, ops)

    def _apply(self, ns: Namespace, ops: _WriteOps) -> dict[str, Any]:
        for attr, spec in ops.schema.items():
            entry = {"type": spec} if isinstance(spec, str) else dict(spec)
            ns.schema[attr] = {**ns.schema.get(attr, {}), **entry}
        if ops.distance_metric:
            ns.distance_metric = ops.distance_metric
        for doc in ops.upserts + ops.patches:
            ns._check_id_kind(doc["id"], "upsert_rows")
        deleted = patched = upserted = 0
        nbytes = 0
        new_ids: list[Any] = []
        removed: list[Any] = []
        if ops.delete_by_filter is not None:
            pred = ops.delete_by_filter
            doomed = [i for i in ns.ids if pred(ns.docs[i])]
            for i in doomed:
                ns.remove(i, removed)
            deleted += len(doomed)
            nbytes += _PENDING_BYTES_PER_DELETE * len(doomed)
        for doc in ops.upserts:
            ns.put(doc, new_ids)
            ns._learn_schema(doc)
            nbytes += doc_bytes(doc)
            upserted += 1
        for patch in ops.patches:
            old = ns.docs.get(patch["id"])
            if old is None:
                continue
            merged = {**old, **patch}
            ns.put(merged, new_ids)
            ns._learn_schema(merged)
            nbytes += doc_bytes(patch)
            patched += 1
        for id_ in ops.deletes:
            if ns.remove(id_, removed):
                deleted += 1
            nbytes += _PENDING_BYTES_PER_DELETE
        ns.reindex(new_ids, removed)
        affected = deleted + patched + upserted
        if affected or ops.has_effect():
            ns.touch(self.clock(), nbytes, affected, self.index_lag_ms)
        return {
            "status": "OK",
            "message": "write completed",
            "rows_affected": affected,
            "rows_upserted": upserted,
            "rows_patched": patched,
            "rows_deleted": deleted,
            "billing": {"billable_logical_bytes_written": nbytes},
        }


@dataclass
class _WriteOps:
    upserts: list[dict[str, Any]] = field(default_factory=list)
    patches: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[Any] = field(default_factory=list)
    delete_by_filter: Callable[[Any], bool] | None = None
    schema: dict[str, Any] = field(default_factory=dict)
    distance_metric: str | None = None

    def has_effect(self) -> bool:
        return bool(self.upserts or self.patches or self.deletes or self.delete_by_filter)

    def creates(self) -> bool:
        return bool(self.upserts)


def _check_doc(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise BadRequest(f"{where}: a row must be an object")
    if "id" not in doc:
        raise BadRequest(f"{where}: a row needs an id")
    check_id(doc["id"], f"{where}.id")
    out: dict[str, Any] = {}
    for k, v in doc.items():
        check_attr_name(k, where)
        out[k] = decode_vector(v) if k == "vector" else v
    return out


def _columns_to_rows(cols: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(cols, dict) or not isinstance(cols.get("id"), list):
        raise BadRequest(f"{where}: columns must be an object with an 'id' array")
    n = len(cols["id"])
    for k, v in cols.items():
        if not isinstance(v, list) or len(v) != n:
            raise BadRequest(f"{where}.{k}: every column must be an array of {n} values")
    keys = list(cols)
    return [
        dict(zip(keys, vals, strict=True)) for vals in zip(*(cols[k] for k in keys), strict=True)
    ]


def _rows(body: dict[str, Any], rows_key: str, cols_key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    rows = body.get(rows_key)
    if rows is not None:
        if not isinstance(rows, list):
            raise BadRequest(f"{rows_key} must be an array of rows")
        out.extend(_check_doc(r, f"{rows_key}[{i}]") for i, r in enumerate(rows))
    cols = body.get(cols_key)
    if cols is not None:
        out.extend(
            _check_doc(r, f"{cols_key}[{i}]")
            for i, r in enumerate(_columns_to_rows(cols, cols_key))
        )
    return out


def _parse_write(body: dict[str, Any]) -> _WriteOps:
    ops = _WriteOps()
    ops.upserts = _rows(body, "upsert_rows", "upsert_columns")
    ops.patches = _rows(body, "patch_rows", "patch_columns")
    deletes = body.get("deletes")
    if deletes is not None:
        if not isinstance(deletes, list):
            raise BadRequest("deletes must be an array of ids")
        ops.deletes = [check_id(d, f"deletes[{i}]") for i, d in enumerate(deletes)]
    if body.get("delete_by_filter") is not None:
        try:
            ops.delete_by_filter = compile_filter(body["delete_by_filter"], path="delete_by_filter")
        except FilterError as exc:
            raise BadRequest(str(exc)) from exc
    schema = body.get("schema")
    if schema is not None:
        if not isinstance(schema, dict):
            raise BadRequest("schema must be an object")
        for attr, spec in schema.items():
            if attr != "id":
                check_attr_name(attr, "schema")
            if not isinstance(spec, str | dict):
                raise BadRequest(f"schema.{attr}: must be a type string or an object")
        ops.schema = schema
    dm = body.get("distance_metric")
    if dm is not None:
        if dm not in ("cosine_distance", "euclidean_squared"):
            raise BadRequest(f"unknown distance_metric {dm!r}")
        ops.distance_metric = dm
    return ops
