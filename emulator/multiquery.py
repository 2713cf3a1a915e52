"""Multi-query (``queries``), ``explain_query`` and ``_debug/recall``.

- ``{"queries": [...]}`` (1 to 16 sub-queries) runs each against one consistent view
  (the namespace lock is held throughout) and answers ``{"results": [...]}`` with one
  billing and performance block. Top-level ``consistency`` and ``vector_encoding``
  apply to every sub-query; ``rerank_by`` is not emulated (400).
- ``explain_query`` validates and runs the query, then describes the emulator's plan:
  every query is an exhaustive scan, so the plan names the scan, the filter and the
  ranking.
- ``_debug/recall``: the emulator's ANN is exact, so recall is 1.0; the response has
  the real shape (``avg_recall``, ``avg_ann_count``, ``avg_exhaustive_count``, and
  ``ground_truth`` when asked), with query vectors sampled from the namespace.
"""

from __future__ import annotations

import random
import time
from typing import Any

from emulator.query import billing, check_consistency, execute, performance
from emulator.state import BadRequest, Namespace, Unprocessable
from emulator.vectors import vector_dims

MAX_SUBQUERIES = 16


def run_multi(ns: Namespace, body: dict[str, Any], exhaustive: int) -> dict[str, Any]:
    started = time.perf_counter()
    queries = body["queries"]
    if not isinstance(queries, list):
        raise Unprocessable("queries: invalid type, expected a sequence")
    if not 1 <= len(queries) <= MAX_SUBQUERIES:
        raise BadRequest(f"queries must hold 1 to {MAX_SUBQUERIES} sub-queries, got {len(queries)}")
    extra = set(body) - {
        "queries",
        "consistency",
        "vector_encoding",
        "limit",
        "offset",
        "rerank_by",
    }
    if extra:
        raise BadRequest(f"multi-query: unknown field `{sorted(extra)[0]}`")
    if body.get("rerank_by") is not None:
        raise BadRequest("rerank_by is not supported by the emulator")
    check_consistency(body.get("consistency"))
    results = []
    for i, q in enumerate(queries):
        if not isinstance(q, dict):
            raise Unprocessable(f"queries[{i}]: invalid type, expected struct Query")
        if "consistency" in q:
            raise BadRequest(f"queries[{i}]: set consistency on the multi-query, not a sub-query")
        sub = dict(q)
        if body.get("vector_encoding") is not None:
            sub.setdefault("vector_encoding", body["vector_encoding"])
        results.append(execute(ns, sub))
    return {
        "results": results,
        "billing": billing(ns, results),
        "performance": performance(ns, started, exhaustive),
    }


def explain(ns: Namespace, body: Any) -> dict[str, Any]:
    result = execute(ns, body)
    assert isinstance(body, dict)
    lines = [f"exhaustive scan of namespace {ns.name!r} ({len(ns.docs)} documents)"]
    if body.get("filters") is not None:
        lines.append(f"  filter: {body['filters']}")
    if body.get("aggregate_by") is not None:
        lines.append(f"  aggregate: {body['aggregate_by']}")
        if body.get("group_by") is not None:
            lines.append(f"  group by: {body['group_by']}")
    if body.get("rank_by") is not None:
        lines.append(f"  rank by: {body['rank_by']}")
    n = len(result.get("rows") or result.get("aggregation_groups") or [])
    lines.append(f"  returns {n} {'groups' if 'aggregation_groups' in result else 'rows'}")
    return {"plan_text": "\n".join(lines)}


def recall(ns: Namespace, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Unprocessable("invalid type, expected struct RecallRequest")
    num = body.get("num")
    top_k = body.get("top_k", 10)
    for name, v in (("num", num), ("top_k", top_k)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1000):
            raise BadRequest(f"{name} must be an integer between 1 and 1000")
    rank_by = body.get("rank_by")
    if rank_by is not None and num not in (None, 1):
        raise BadRequest("with rank_by, num must be null or 1")
    attr = next((a for a, e in ns.schema.items() if vector_dims(str(e.get("type", "")))), None)
    queries: list[list[Any]] = []
    if rank_by is not None:
        if not (isinstance(rank_by, list) and len(rank_by) == 3 and rank_by[1] in ("ANN", "kNN")):
            raise BadRequest("rank_by must be [attr, 'ANN', vector]")
        queries = [rank_by]
    elif attr is not None:
        rng = random.Random(f"{ns.name}:{ns.last_write_ms}")
        with_vec = [d for d in ns.docs.values() if isinstance(d.get(attr), list)]
        picks = rng.sample(with_vec, min(num or 25, len(with_vec)))
        queries = [[attr, "ANN", d[attr]] for d in picks]
    truth = []
    counted = 0
    for rb in queries:
        q = {"rank_by": rb, "top_k": top_k, "include_attributes": [rb[0]]}
        if body.get("filters") is not None:
            q["filters"] = body["filters"]
        rows = execute(ns, q)["rows"]
        counted += len(rows)
        truth.append({"query_vector": rb[2], "nearest_neighbors": rows})
    avg = counted / len(queries) if queries else 0.0
    out: dict[str, Any] = {
        "avg_recall": 1.0 if queries else 0.0,
        "avg_ann_count": avg,
        "avg_exhaustive_count": avg,
    }
    if body.get("include_ground_truth"):
        out["ground_truth"] = truth
    return out
