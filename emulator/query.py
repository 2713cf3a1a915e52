"""Query execution: attribute order, exact kNN/ANN, BM25 expressions and aggregations.

Choices where turbopuffer's docs leave room:

- ``rank_by`` by attribute (``["id","asc"]``, ``["price","desc"]``, or several:
  ``[["a","asc"],["b","desc"]]``): nulls first in asc (last in desc), ties broken by id;
  array attributes cannot be ranked on (400).
- ``["vector","ANN",[...]]`` and ``["vector","kNN",[...]]`` are both answered by an exact
  scan (cosine_distance or euclidean_squared, from the query, the attribute's schema or
  the namespace) with ``$dist``. Text expressions: see ``emulator.fts``.
- Ordering by ``id`` walks the sorted id list from a bisected start, so the export
  pattern (``["id","Gt",last]`` ANDed with other filters) costs O(page), not O(namespace).
- ``limit`` is an int (or legacy ``top_k``) or ``{"total": N, "per": {"attributes":
  [...], "limit": M}}``: at most M rows per distinct value of those attributes, in rank
  order. Default 10.
- ``consistency`` is checked (a bare string or unknown level is 422) but both levels
  read everything. ``exhaustive_search_count`` is the number of unindexed documents the
  query scanned, which the caller passes in.
"""

from __future__ import annotations

import bisect
import heapq
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from emulator.aggregate import aggregate
from emulator.filters import compiler_for
from emulator.fts import Corpus, compile_rank, is_text_rank, rank_text
from emulator.state import BadRequest, Namespace, Unprocessable
from emulator.vectors import (
    DISTANCE_METRICS,
    component_sizes,
    distance_fn,
    encode_base64,
    round_f32,
    row_bytes,
    shortest,
    vector_dims,
)

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10
MIN_QUERIED_BYTES = 256_000_000

Doc = dict[str, Any]


def sort_key(v: Any) -> tuple[int, Any]:
    """Orders any JSON values: null < bool < number < string < other."""
    if v is None:
        return (0, 0)
    if v is True or v is False:
        return (1, v)
    if isinstance(v, int | float):
        return (2, v)
    if isinstance(v, str):
        return (3, v)
    return (4, orjson.dumps(v, option=orjson.OPT_SORT_KEYS))


def _int(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadRequest(f"{name} must be an integer")
    if not lo <= v <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}, got {v}")
    return v


def parse_limit(body: dict[str, Any]) -> tuple[int, tuple[list[str], int] | None]:
    """``(total, (per attributes, per limit) | None)``."""
    raw = body.get("limit", body.get("top_k"))
    if raw is None:
        return DEFAULT_LIMIT, None
    if not isinstance(raw, dict):
        return _int(raw, "limit", 0, MAX_LIMIT), None
    unknown = set(raw) - {"total", "per"}
    if unknown or "total" not in raw:
        raise BadRequest('limit must be an integer or {"total": N, "per": {...}}')
    total = _int(raw["total"], "limit.total", 0, MAX_LIMIT)
    per = raw.get("per")
    if per is None:
        return total, None
    if not isinstance(per, dict) or set(per) != {"attributes", "limit"}:
        raise BadRequest('limit.per must be {"attributes": [...], "limit": M}')
    attrs = per["attributes"]
    if not isinstance(attrs, list) or not attrs or not all(isinstance(a, str) for a in attrs):
        raise BadRequest("limit.per.attributes must be a non-empty list of attribute names")
    return total, (attrs, _int(per["limit"], "limit.per.limit", 1, MAX_LIMIT))


def check_consistency(c: Any) -> None:
    if c is None:
        return
    if not isinstance(c, dict):
        raise Unprocessable(f"invalid type: {_json_kind(c)}, expected struct Consistency")
    level = c.get("level", "strong")
    if level not in ("strong", "eventual"):
        raise Unprocessable(f"unknown variant `{level}`, expected `strong` or `eventual`")


def _json_kind(v: Any) -> str:
    if isinstance(v, str):
        return f'string "{v}"'
    if isinstance(v, bool):
        return f"boolean `{str(v).lower()}`"
    if isinstance(v, int | float):
        return f"number `{v}`"
    if isinstance(v, list):
        return "sequence"
    return "null" if v is None else "map"


def _projector(body: dict[str, Any], ns: Namespace) -> Callable[[Doc], Doc]:
    inc = body.get("include_attributes")
    exc = body.get("exclude_attributes")
    enc = body.get("vector_encoding", "float")
    if enc not in ("float", "base64"):
        raise Unprocessable(f"unknown variant `{enc}`, expected `float` or `base64`")
    vec_attrs = {
        a: vec[1] for a, e in ns.schema.items() if (vec := vector_dims(str(e.get("type", ""))))
    }
    if exc is not None:
        if not isinstance(exc, list) or not all(isinstance(a, str) for a in exc):
            raise BadRequest("exclude_attributes must be a list of attribute names")
        drop = set(exc) - {"id"}

        def base(d: Doc) -> Doc:
            return {k: v for k, v in d.items() if k not in drop}
    elif inc is True:

        def base(d: Doc) -> Doc:
            return dict(d)
    elif inc is None or inc is False:

        def base(d: Doc) -> Doc:
            return {"id": d["id"]}
    elif not isinstance(inc, list) or not all(isinstance(a, str) for a in inc):
        raise BadRequest("include_attributes must be true, false or a list of attribute names")
    else:
        attrs = [a for a in dict.fromkeys(inc) if a != "id"]

        def base(d: Doc) -> Doc:
            out = {"id": d["id"]}
            for a in attrs:
                if a in d:
                    out[a] = d[a]
            return out

    if not vec_attrs:
        return base
    render = encode_base64 if enc == "base64" else shortest

    def vectors(d: Doc) -> Doc:
        out = base(d)
        for a, elem in vec_attrs.items():
            if isinstance(out.get(a), list):
                out[a] = render(out[a], elem)
        return out

    return vectors


def _id_bounds(f: Any, kind: type | None) -> tuple[Any, bool, Any, bool, list[Any] | None]:
    """Id range implied by the filter's top-level AND: (lo, lo_incl, hi, hi_incl, exact ids)."""
    leaves: list[Any] = []
    if isinstance(f, list) and len(f) == 3 and f[0] == "id":
        leaves = [f]
    elif isinstance(f, list) and len(f) == 2 and f[0] == "And" and isinstance(f[1], list):
        leaves = [x for x in f[1] if isinstance(x, list) and len(x) == 3 and x[0] == "id"]
    lo: Any = None
    hi: Any = None
    lo_incl = hi_incl = True
    exact: list[Any] | None = None

    def fits(v: Any) -> bool:
        return kind is not None and type(v) is kind

    for _, op, v in leaves:
        if op in ("Gt", "Gte") and fits(v) and (lo is None or v > lo or (v == lo and op == "Gt")):
            lo, lo_incl = v, op == "Gte"
        elif op in ("Lt", "Lte") and fits(v) and (hi is None or v < hi or (v == hi and op == "Lt")):
            hi, hi_incl = v, op == "Lte"
        elif op == "Eq" and fits(v):
            exact = [v] if exact is None else [x for x in exact if x == v]
        elif op == "In" and isinstance(v, list) and all(fits(x) for x in v):
            vals = sorted({x for x in v if fits(x)})
            exact = vals if exact is None else [x for x in exact if x in set(vals)]
    return lo, lo_incl, hi, hi_incl, exact


def _ids_in_order(ns: Namespace, f: Any, desc: bool) -> Iterable[Any]:
    lo, lo_incl, hi, hi_incl, exact = _id_bounds(f, ns.id_kind)
    if exact is not None:
        present = [i for i in exact if i in ns.docs]
        return reversed(present) if desc else present
    ids = ns.ids
    start = 0 if lo is None else (bisect.bisect_left if lo_incl else bisect.bisect_right)(ids, lo)
    end = (
        len(ids)
        if hi is None
        else (bisect.bisect_right if hi_incl else bisect.bisect_left)(ids, hi)
    )
    if desc:
        return (ids[i] for i in range(end - 1, start - 1, -1))
    return (ids[i] for i in range(start, end))


class _Desc:
    """Inverts a sort key, so one sort handles mixed asc/desc orders."""

    __slots__ = ("k",)

    def __init__(self, k: Any) -> None:
        self.k = k

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.k < self.k)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.k == other.k


def _attribute_orders(rank_by: list[Any], ns: Namespace) -> list[tuple[str, bool]] | None:
    items = rank_by if rank_by and isinstance(rank_by[0], list) else [rank_by]
    out: list[tuple[str, bool]] = []
    for r in items:
        if not (isinstance(r, list) and len(r) == 2 and isinstance(r[0], str)):
            return None
        if r[1] not in ("asc", "desc"):
            return None
        if str(ns.schema.get(r[0], {}).get("type", "")).startswith("["):
            raise BadRequest(f"rank_by: cannot order by array attribute '{r[0]}'")
        out.append((r[0], r[1] == "desc"))
    return out


def _rank_attributes(
    ns: Namespace,
    f: Any,
    pred: Callable[[Doc], bool] | None,
    orders: list[tuple[str, bool]],
    n: int,
) -> list[Doc]:
    if len(orders) == 1 and orders[0][0] == "id":
        out: list[Doc] = []
        for i in _ids_in_order(ns, f, orders[0][1]):
            d = ns.docs[i]
            if pred is None or pred(d):
                out.append(d)
                if len(out) >= n:
                    break
        return out
    docs = ns.docs.values() if pred is None else (d for d in ns.docs.values() if pred(d))
    if len(orders) == 1:
        attr, desc = orders[0]
        pick = heapq.nlargest if desc else heapq.nsmallest
        return pick(n, docs, key=lambda d: (*sort_key(d.get(attr)), d["id"]))

    def key(d: Doc) -> tuple[Any, ...]:
        parts: list[Any] = []
        for attr, desc in orders:
            k = sort_key(d.get(attr))
            parts.append(_Desc(k) if desc else k)
        return (*parts, d["id"])

    return heapq.nsmallest(n, docs, key=key)


def _rank_vector(
    ns: Namespace,
    body: dict[str, Any],
    pred: Callable[[Doc], bool] | None,
    rank_by: list[Any],
    n: int,
) -> list[Doc]:
    attr, q = rank_by[0], rank_by[2]
    if (
        not isinstance(q, list)
        or not q
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in q)
    ):
        raise BadRequest(f"rank_by {rank_by[1]} needs a vector of numbers")
    entry = ns.schema.get(attr, {})
    vec = vector_dims(str(entry.get("type", "")))
    if entry and vec is None:
        raise BadRequest(f"rank_by: attribute '{attr}' is not a vector")
    if vec is not None and vec[0] != len(q):
        raise BadRequest(f"rank_by: query vector has {len(q)} dimensions, '{attr}' has {vec[0]}")
    ann = entry.get("ann")
    metric = (
        body.get("distance_metric")
        or (ann.get("distance_metric") if isinstance(ann, dict) else None)
        or ns.distance_metric
        or "cosine_distance"
    )
    if metric not in DISTANCE_METRICS:
        raise BadRequest(f"unknown distance_metric {metric!r}")
    dist = distance_fn(metric, [float(x) for x in q])
    scored = []
    for d in ns.docs.values():
        if pred is not None and not pred(d):
            continue
        s = dist(d.get(attr))
        if s is not None:
            scored.append((s, d))
    best = heapq.nsmallest(n, scored, key=lambda t: (t[0], sort_key(t[1]["id"])))
    return [{**d, "$dist": round_f32(s)} for s, d in best]


def _per_limit(docs: list[Doc], per: tuple[list[str], int], total: int) -> list[Doc]:
    attrs, m = per
    seen: dict[tuple[Any, ...], int] = {}
    out: list[Doc] = []
    for d in docs:
        k = tuple(orjson.dumps(d.get(a)) for a in attrs)
        if seen.get(k, 0) < m:
            seen[k] = seen.get(k, 0) + 1
            out.append(d)
            if len(out) >= total:
                break
    return out


def execute(ns: Namespace, body: Any) -> dict[str, Any]:
    """The result part of one query (rows, aggregations or groups), without billing."""
    if not isinstance(body, dict):
        raise Unprocessable("invalid type: expected struct Query")
    check_consistency(body.get("consistency"))
    limit, per = parse_limit(body)
    rank_by = body.get("rank_by")
    compile_f = compiler_for(ns.schema)
    f = body.get("filters")
    pred = compile_f(f) if f is not None else None
    if body.get("aggregate_by") is not None:
        if rank_by is not None:
            raise BadRequest("aggregate_by cannot be combined with rank_by")
        if body.get("include_attributes") not in (None, False):
            raise BadRequest("aggregate_by cannot be combined with include_attributes")
        docs = [d for d in ns.docs.values() if pred is None or pred(d)]
        return aggregate(docs, body, ns.schema, limit, sort_key)
    if body.get("group_by") is not None:
        raise BadRequest("group_by needs aggregate_by")
    if rank_by is None:
        raise BadRequest("rank_by is required unless aggregate_by is given")
    if not isinstance(rank_by, list) or not rank_by:
        raise BadRequest("rank_by must be an array")
    project = _projector(body, ns)
    offset = body.get("offset", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise BadRequest("offset must be a non-negative integer")
    want = len(ns.docs) if per is not None else limit + offset
    orders = _attribute_orders(rank_by, ns)
    if orders is not None:
        docs = _rank_attributes(ns, f, pred, orders, want)
    elif len(rank_by) == 3 and rank_by[1] in ("ANN", "kNN") and isinstance(rank_by[0], str):
        docs = _rank_vector(ns, body, pred, rank_by, want)
    elif is_text_rank(rank_by) or (len(rank_by) >= 2 and isinstance(rank_by[0], str)):
        everything = [ns.docs[i] for i in ns.ids]
        scorer = compile_rank(rank_by, Corpus(everything, ns.schema), compile_f)
        candidates = everything if pred is None else [d for d in everything if pred(d)]
        docs = [{**d, "$dist": s} for s, d in rank_text(candidates, scorer, want)]
    else:
        raise BadRequest("rank_by: unrecognized expression")
    docs = docs[offset:]
    if per is not None:
        docs = _per_limit(docs, per, limit)
    return {"rows": [project(d) | ({"$dist": d["$dist"]} if "$dist" in d else {}) for d in docs]}


def billing(ns: Namespace, results: list[dict[str, Any]]) -> dict[str, int]:
    returned = 0
    sizes = component_sizes(ns.schema)
    for r in results:
        for row in r.get("rows") or []:
            returned += row_bytes(row, sizes)
        aggs = r.get("aggregations", r.get("aggregation_groups"))
        if aggs is not None:
            returned += len(orjson.dumps(aggs))
    return {
        "billable_logical_bytes_queried": max(ns.logical_bytes, MIN_QUERIED_BYTES),
        "billable_logical_bytes_returned": returned,
    }


def performance(ns: Namespace, started: float, exhaustive: int) -> dict[str, Any]:
    ms = max(1, math.ceil((time.perf_counter() - started) * 1000))
    return {
        "approx_namespace_size": len(ns.docs),
        "cache_hit_ratio": 1.0,
        "cache_temperature": "hot",
        "exhaustive_search_count": min(exhaustive, len(ns.docs)),
        "query_execution_ms": ms,
        "server_total_ms": ms,
    }


def run_query(ns: Namespace, body: Any, exhaustive: int = 0) -> dict[str, Any]:
    """Answer one query against ``ns``; the caller holds ``ns.lock``."""
    started = time.perf_counter()
    result = execute(ns, body)
    result["billing"] = billing(ns, [result])
    result["performance"] = performance(ns, started, exhaustive)
    return result
