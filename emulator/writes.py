"""Writes: parsing and validating a write body, then applying it under the namespace lock.

Order within one write: ``copy_from_namespace``/``branch_from_namespace`` (alone, into
a namespace without documents), schema, ``delete_by_filter``, ``patch_by_filter``,
upserts, patches, deletes. Every check runs before anything changes, so a 4xx write
leaves the namespace as it was.

- A body of the wrong shape is 422 with serde's wording (``upsert_rows`` as an object:
  ``invalid type: map, expected a sequence``). Duplicate ids within one operation, a
  patched vector, a value of another type than the attribute's: 400.
- ``upsert_condition``/``patch_condition``/``delete_condition`` are filters evaluated
  against the current document; ``{"$ref_new": "attr"}`` as a value stands for that
  attribute of the incoming row (null for deletes). An upsert of an id that does not
  exist yet is not subject to the condition; patches and deletes of missing ids are
  no-ops as always.
- ``patch_by_filter`` and ``delete_by_filter`` touch at most 50,000 / 5,000,000 rows;
  more is 400 unless ``*_allow_partial`` is set, which applies the first ones and
  answers ``rows_remaining: true``.
- ``return_affected_ids`` adds ``upserted_ids``/``patched_ids``/``deleted_ids`` (each
  only when not empty).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from emulator.filters import compiler_for
from emulator.state import (
    BadRequest,
    Namespace,
    NotFound,
    Unprocessable,
    check_attr_name,
    check_id,
    doc_bytes,
)
from emulator.validate import check_encryption, learn_value, normalize_entry
from emulator.vectors import DISTANCE_METRICS, vector_dims

PATCH_BY_FILTER_MAX = 50_000
DELETE_BY_FILTER_MAX = 5_000_000
_PENDING_BYTES_PER_DELETE = 16
_KNOWN_KEYS = frozenset(
    {
        "upsert_rows", "upsert_columns", "patch_rows", "patch_columns", "deletes",
        "delete_by_filter", "delete_by_filter_allow_partial", "patch_by_filter",
        "patch_by_filter_allow_partial", "upsert_condition", "patch_condition",
        "delete_condition", "return_affected_ids", "schema", "distance_metric", "encryption",
        "copy_from_namespace", "branch_from_namespace", "disable_backpressure",
        "create_namespace", "sharding",
    }
)  # fmt: skip


def _kind(v: Any) -> str:
    if isinstance(v, dict):
        return "map"
    if isinstance(v, str):
        return f'string "{v}"'
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    return "null" if v is None else "sequence"


def _seq(body: dict[str, Any], key: str) -> list[Any] | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, list):
        raise Unprocessable(f"{key}: invalid type: {_kind(v)}, expected a sequence")
    return v


def _row(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise Unprocessable(f"{where}: invalid type: {_kind(doc)}, expected a map")
    if "id" not in doc:
        raise BadRequest(f"{where}: a row needs an id")
    check_id(doc["id"], f"{where}.id")
    for k in doc:
        check_attr_name(k, where)
    return dict(doc)


def _columns(cols: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(cols, dict):
        raise Unprocessable(f"{where}: invalid type: {_kind(cols)}, expected a map")
    ids = cols.get("id")
    if not isinstance(ids, list):
        raise BadRequest(f"{where}: columns need an 'id' array")
    n = len(ids)
    for k, v in cols.items():
        if not isinstance(v, list) or len(v) != n:
            raise BadRequest(f"{where}.{k}: every column must be an array of {n} values")
    keys = list(cols)
    return [
        dict(zip(keys, vals, strict=True)) for vals in zip(*(cols[k] for k in keys), strict=True)
    ]


def _rows(body: dict[str, Any], rows_key: str, cols_key: str) -> list[dict[str, Any]]:
    out = [_row(r, f"{rows_key}[{i}]") for i, r in enumerate(_seq(body, rows_key) or [])]
    if body.get(cols_key) is not None:
        out += [
            _row(r, f"{cols_key}[{i}]") for i, r in enumerate(_columns(body[cols_key], cols_key))
        ]
    seen: set[Any] = set()
    for r in out:
        key = (type(r["id"]), r["id"])
        if key in seen:
            raise BadRequest(f"{rows_key}: duplicate id {r['id']!r} in one write")
        seen.add(key)
    return out


def _source(spec: Any, key: str) -> str:
    name = spec.get("source_namespace") if isinstance(spec, dict) else spec
    if not isinstance(name, str) or not name:
        raise BadRequest(f'{key}: expected a namespace name or {{"source_namespace": name}}')
    return name


def _resolve_refs(f: Any, new: dict[str, Any] | None) -> Any:
    if isinstance(f, dict) and set(f) == {"$ref_new"}:
        return None if new is None else new.get(f["$ref_new"])
    if isinstance(f, list):
        return [_resolve_refs(x, new) for x in f]
    return f


@dataclass
class WriteResult:
    upserted: list[Any] = field(default_factory=list)
    patched: list[Any] = field(default_factory=list)
    deleted: list[Any] = field(default_factory=list)
    remaining: bool = False
    nbytes: int = 0

    def body(self, return_ids: bool, copied: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "OK", "message": "write completed"}
        affected = len(self.upserted) + len(self.patched) + len(self.deleted)
        out["rows_affected"] = affected if copied is None else copied
        out["rows_upserted"] = len(self.upserted) if copied is None else copied
        out["rows_patched"] = len(self.patched)
        out["rows_deleted"] = len(self.deleted)
        if self.remaining:
            out["rows_remaining"] = True
        if return_ids:
            for key, ids in (
                ("upserted_ids", self.upserted),
                ("patched_ids", self.patched),
                ("deleted_ids", self.deleted),
            ):
                if ids:
                    out[key] = list(ids)
        out["billing"] = {"billable_logical_bytes_written": self.nbytes}
        return out


def validate_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Unprocessable(f"invalid type: {_kind(body)}, expected struct WriteRequest")
    unknown = set(body) - _KNOWN_KEYS
    if unknown:
        raise Unprocessable(f"unknown field `{sorted(unknown)[0]}`")
    dm = body.get("distance_metric")
    if dm is not None and dm not in DISTANCE_METRICS:
        raise Unprocessable(
            f"unknown variant `{dm}`, expected `cosine_distance` or `euclidean_squared`"
        )
    if body.get("schema") is not None and not isinstance(body["schema"], dict):
        raise Unprocessable(f"schema: invalid type: {_kind(body['schema'])}, expected a map")
    return body


def creates_namespace(body: dict[str, Any]) -> bool:
    return bool(
        body.get("upsert_rows")
        or body.get("upsert_columns")
        or body.get("copy_from_namespace")
        or body.get("branch_from_namespace")
        or body.get("create_namespace")
        or body.get("schema")
    )


def apply_write(ns: Namespace, body: dict[str, Any], source: Namespace | None) -> dict[str, Any]:
    """Apply a validated body to ``ns`` (lock held); ``source`` for copy/branch writes."""
    if ns.config.get("read_only"):
        raise BadRequest(f"namespace '{ns.name}' is read-only")
    return_ids = bool(body.get("return_affected_ids"))
    if body.get("encryption") is not None:
        enc = check_encryption(body["encryption"])
        if ns.docs and enc != ns.config.get("encryption", {"mode": "default"}):
            raise BadRequest("encryption can only be set on a namespace's first write")
        ns.config["encryption"] = enc
    copy_key = "copy_from_namespace" if body.get("copy_from_namespace") else "branch_from_namespace"
    if body.get(copy_key):
        return _copy(ns, body, source, copy_key, return_ids)
    upserts = _rows(body, "upsert_rows", "upsert_columns")
    patches = _rows(body, "patch_rows", "patch_columns")
    for doc in upserts:
        ns._check_id_kind(doc["id"], "upsert_rows")
    for doc in patches:
        ns._check_id_kind(doc["id"], "patch_rows")
    schema = copy.deepcopy(ns.schema)
    for attr, spec in (body.get("schema") or {}).items():
        schema[attr] = normalize_entry(attr, spec, schema.get(attr))
    metric = body.get("distance_metric")
    deletes = [check_id(d, f"deletes[{i}]") for i, d in enumerate(_seq(body, "deletes") or [])]
    for doc in upserts:
        for k in list(doc):
            if k != "id":
                doc[k] = learn_value(schema, k, doc[k], metric or ns.distance_metric)
    for doc in patches:
        for k in list(doc):
            if k == "id":
                continue
            if k == "vector" or vector_dims(str(schema.get(k, {}).get("type", ""))):
                raise BadRequest(f"patch_rows: the vector attribute '{k}' cannot be patched")
            doc[k] = learn_value(schema, k, doc[k], metric or ns.distance_metric)
    compile_f = compiler_for(schema, "filters")
    dbf = body.get("delete_by_filter")
    dbf_pred = compile_f(dbf) if dbf is not None else None
    pbf = body.get("patch_by_filter")
    pbf_pred = None
    pbf_patch: dict[str, Any] = {}
    if pbf is not None:
        if not isinstance(pbf, dict) or set(pbf) != {"filters", "patch"}:
            raise BadRequest('patch_by_filter must be {"filters": ..., "patch": {...}}')
        if not isinstance(pbf["patch"], dict):
            raise BadRequest("patch_by_filter.patch must be an object of attributes")
        pbf_pred = compile_f(pbf["filters"])
        for k, v in pbf["patch"].items():
            check_attr_name(k, "patch_by_filter.patch")
            if k == "id" or k == "vector":
                raise BadRequest(f"patch_by_filter.patch: '{k}' cannot be patched")
            pbf_patch[k] = learn_value(schema, k, v, metric)
    conditions = {}
    for key in ("upsert_condition", "patch_condition", "delete_condition"):
        if body.get(key) is not None:
            compiler_for(schema, key)(_resolve_refs(body[key], {}))  # grammar check up front
            conditions[key] = body[key]

    def passes(key: str, current: dict[str, Any], new: dict[str, Any] | None) -> bool:
        cond = conditions.get(key)
        if cond is None:
            return True
        return compiler_for(schema, key)(_resolve_refs(cond, new))(current)

    # every check passed: apply
    ns.schema.clear()
    ns.schema.update(schema)
    if metric:
        ns.distance_metric = metric
    res = WriteResult()
    new_ids: list[Any] = []
    removed: list[Any] = []
    if dbf_pred is not None:
        doomed = [i for i in ns.ids if dbf_pred(ns.docs[i])]
        if len(doomed) > DELETE_BY_FILTER_MAX:
            if not body.get("delete_by_filter_allow_partial"):
                raise BadRequest(f"delete_by_filter matches more than {DELETE_BY_FILTER_MAX} rows")
            doomed, res.remaining = doomed[:DELETE_BY_FILTER_MAX], True
        for i in doomed:
            if passes("delete_condition", ns.docs[i], None) and ns.remove(i, removed):
                res.deleted.append(i)
        res.nbytes += _PENDING_BYTES_PER_DELETE * len(doomed)
    if pbf_pred is not None:
        hits = [i for i in ns.ids if i in ns.docs and pbf_pred(ns.docs[i])]
        if len(hits) > PATCH_BY_FILTER_MAX:
            if not body.get("patch_by_filter_allow_partial"):
                raise BadRequest(f"patch_by_filter matches more than {PATCH_BY_FILTER_MAX} rows")
            hits, res.remaining = hits[:PATCH_BY_FILTER_MAX], True
        for i in hits:
            current = ns.docs[i]
            if passes("patch_condition", current, {"id": i, **pbf_patch}):
                ns.put({**current, **pbf_patch}, new_ids)
                res.patched.append(i)
                res.nbytes += doc_bytes(pbf_patch)
    for doc in upserts:
        old = ns.docs.get(doc["id"])
        if old is not None and not passes("upsert_condition", old, doc):
            continue
        ns.put({k: v for k, v in doc.items() if v is not None}, new_ids)
        res.upserted.append(doc["id"])
        res.nbytes += doc_bytes(doc)
    for patch in patches:
        old = ns.docs.get(patch["id"])
        if old is None or not passes("patch_condition", old, patch):
            continue
        merged = {**old, **patch}
        ns.put({k: v for k, v in merged.items() if v is not None}, new_ids)
        res.patched.append(patch["id"])
        res.nbytes += doc_bytes(patch)
    for id_ in deletes:
        old = ns.docs.get(id_)
        if old is not None and passes("delete_condition", old, None) and ns.remove(id_, removed):
            res.deleted.append(id_)
        res.nbytes += _PENDING_BYTES_PER_DELETE
    ns.reindex(new_ids, removed)
    return res.body(return_ids, None)


def _copy(
    ns: Namespace, body: dict[str, Any], source: Namespace | None, key: str, return_ids: bool
) -> dict[str, Any]:
    others = set(body) - {key, "encryption", "return_affected_ids", "disable_backpressure"}
    if others:
        raise BadRequest(f"{key} cannot be combined with {sorted(others)[0]}")
    if source is None:
        raise NotFound(f"namespace '{_source(body[key], key)}' not found")
    if ns.docs:
        raise BadRequest(f"{key}: the destination namespace '{ns.name}' already has documents")
    ns.schema.clear()
    ns.schema.update(copy.deepcopy(source.schema))
    ns.distance_metric = source.distance_metric
    ns.id_kind = source.id_kind
    new_ids: list[Any] = []
    res = WriteResult()
    for i in source.ids:
        doc = copy.deepcopy(source.docs[i])
        ns.put(doc, new_ids)
        res.upserted.append(i)
        res.nbytes += doc_bytes(doc)
    ns.reindex(new_ids, [])
    return res.body(return_ids, len(new_ids))


def source_name(body: dict[str, Any]) -> str | None:
    for key in ("copy_from_namespace", "branch_from_namespace"):
        if body.get(key):
            return _source(body[key], key)
    return None
