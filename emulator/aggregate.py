"""``aggregate_by`` with optional ``group_by``: Count and Sum, plain or per group.

``group_by`` entries are attribute names or ``{"alias": ["ForEachUnique", "array_attr"]}``:
a document counts once in the group of each distinct element of that array (a missing
or empty array puts it in no group). A plain attribute that holds an array is 400
(use ForEachUnique). Documents missing a plain group attribute fall in the group whose
key is null; groups sort by key, nulls first, and at most ``limit`` come back.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from typing import Any

from emulator.state import BadRequest

Doc = dict[str, Any]


def _parse_specs(aggs: Any) -> list[tuple[str, str, str | None]]:
    if not isinstance(aggs, dict) or not aggs:
        raise BadRequest("aggregate_by must be an object of label: aggregation")
    specs: list[tuple[str, str, str | None]] = []
    for label, spec in aggs.items():
        if isinstance(spec, list) and spec == ["Count"]:
            specs.append((label, "Count", None))
        elif (
            isinstance(spec, list)
            and len(spec) == 2
            and spec[0] in ("Sum", "Count")
            and isinstance(spec[1], str)
        ):
            specs.append((label, spec[0], spec[1]))
        else:
            raise BadRequest(
                f"aggregate_by.{label}: supported aggregations are ['Count'], ['Count', attr] "
                "and ['Sum', attr]"
            )
    return specs


def _parse_group_by(
    group_by: Any, schema: dict[str, dict[str, Any]]
) -> list[tuple[str, str, bool]]:
    """``(output key, attribute, for_each_unique)`` per group_by entry."""
    if not isinstance(group_by, list) or not group_by:
        raise BadRequest("group_by must be a non-empty list of attribute names")
    out: list[tuple[str, str, bool]] = []
    for i, g in enumerate(group_by):
        if isinstance(g, str):
            if str(schema.get(g, {}).get("type", "")).startswith("[]"):
                raise BadRequest(
                    f"group_by[{i}]: '{g}' is an array attribute; group by its elements with "
                    f'{{"{g}": ["ForEachUnique", "{g}"]}}'
                )
            out.append((g, g, False))
        elif isinstance(g, dict) and len(g) == 1:
            alias, fn = next(iter(g.items()))
            if not (
                isinstance(fn, list)
                and len(fn) == 2
                and fn[0] == "ForEachUnique"
                and isinstance(fn[1], str)
            ):
                raise BadRequest(f"group_by[{i}].{alias}: expected ['ForEachUnique', attribute]")
            out.append((alias, fn[1], True))
        else:
            raise BadRequest(
                f"group_by[{i}]: expected an attribute name or {{alias: ['ForEachUnique', attr]}}"
            )
    return out


def _compute(specs: list[tuple[str, str, str | None]], members: list[Doc]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, fn, attr in specs:
        if fn == "Count":
            out[label] = (
                len(members) if attr is None else sum(1 for d in members if d.get(attr) is not None)
            )
        else:
            out[label] = sum(
                v
                for d in members
                if isinstance(v := d.get(attr or ""), int | float) and not isinstance(v, bool)
            )
    return out


def aggregate(
    docs: list[Doc],
    body: dict[str, Any],
    schema: dict[str, dict[str, Any]],
    limit: int,
    sort_key: Callable[[Any], tuple[int, Any]],
) -> dict[str, Any]:
    specs = _parse_specs(body["aggregate_by"])
    group_by = body.get("group_by")
    if group_by is None:
        return {"aggregations": _compute(specs, docs)}
    keys_spec = _parse_group_by(group_by, schema)
    groups: dict[tuple[Any, ...], list[Doc]] = {}
    for d in docs:
        choices: list[list[Any]] = []
        for _, attr, each in keys_spec:
            v = d.get(attr)
            if each:  # bulk namespaces hold their arrays as shared tuples
                if not isinstance(v, list | tuple):
                    v = [] if v is None else [v]
                choices.append(list(dict.fromkeys(v)))
            elif isinstance(v, list | tuple):
                raise BadRequest(f"group_by: '{attr}' holds an array in document {d['id']!r}")
            else:
                choices.append([v])
        for key in product(*choices):
            groups.setdefault(key, []).append(d)
    names = [k for k, _, _ in keys_spec]
    ordered = sorted(groups, key=lambda k: tuple(sort_key(v) for v in k))[:limit]
    return {
        "aggregation_groups": [
            {**dict(zip(names, k, strict=True)), **_compute(specs, groups[k])} for k in ordered
        ]
    }
