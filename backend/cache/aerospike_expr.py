"""Pushing cache filters down to Aerospike as filter expressions.

The pushdown is a *pre-filter*: ``to_expression(f)`` returns an expression true for
every document ``f`` matches (and ideally few others). The cache always evaluates the
full filter client-side on what comes back, so the answer is the evaluator's whatever
is pushed down; the pushdown only saves transfer and parsing.

How a document is stored (see ``kv_aerospike``): the JSON document in bin ``_doc``,
and each attribute whose name is a valid bin name (1-15 UTF-8 bytes, not ``_doc`` or
``_g``) in a bin of its own: strings as STRING, integers in int64 range as INTEGER,
floats as DOUBLE, any other non-null value (booleans, arrays, huge integers) as a BLOB
of its JSON, and null or missing as no bin. So a bin's type says exactly which Python
type the attribute holds, and a missing bin means the attribute is null or missing.

Translation goes through a small intermediate form (tuples), so it can be checked
without a server: ``evaluate_ir`` runs it against the bins a document would have.
Each filter gets two translations, ``may`` (true whenever the filter may be true) and
``must`` (true only when it surely is); ``Not`` swaps them, so negation stays sound.
A leaf is a ``cond`` on the bin's type: the missing case is decided by the evaluator
itself (``Eq null`` matches missing, ``Lt``/``Lte`` match null: whatever
``common.filters`` says), same-type comparisons are exact (UTF-8 byte order is code
point order), and every other case is unknown: ``may`` true, ``must`` false. So ``In``
on a BLOB (it may hold an array: "any element in the list"), ``Lt null``, ``Glob`` and
the array operators are never pushed down beyond the missing case. Numbers follow the
evaluator: ``1`` equals ``1.0``, booleans equal no number. Every
branch of a ``cond`` evaluates only when chosen, so no comparison ever meets a bin of
the wrong type (which Aerospike would turn into "unknown" and drop the record).
"""

from __future__ import annotations

import json
from typing import Any

from common.filters import FilterError, evaluate

RESERVED_BINS = frozenset({"_doc", "_g"})
MAX_BIN_BYTES = 15
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EXACT_FLOAT_INT = 2**53

# Aerospike particle types (aerospike.AS_BYTES_*), fixed by the wire protocol.
T_UNDEF, T_INTEGER, T_DOUBLE, T_STRING, T_BLOB = 0, 1, 2, 3, 4
STORED_TYPES = frozenset({T_UNDEF, T_INTEGER, T_DOUBLE, T_STRING, T_BLOB})

CMP_OPS = {"Eq": "eq", "NotEq": "ne", "Lt": "lt", "Lte": "le", "Gt": "gt", "Gte": "ge"}

Node = tuple[Any, ...]
TRUE: Node = ("const", True)
FALSE: Node = ("const", False)


# -- storage ------------------------------------------------------------------------------


def is_bin_name(attr: str) -> bool:
    return 0 < len(attr.encode()) <= MAX_BIN_BYTES and attr not in RESERVED_BINS


def bin_value(value: Any) -> Any:
    """The bin an attribute value is stored as (None: no bin)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return json.dumps(value).encode()
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else json.dumps(value).encode()
    if isinstance(value, str | float):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def doc_bins(doc: dict[str, Any]) -> dict[str, Any]:
    """The attribute bins of a document (without ``_doc`` and ``_g``)."""
    out = {}
    for k, v in doc.items():
        if is_bin_name(k):
            b = bin_value(v)
            if b is not None:
                out[k] = b
    return out


def bin_type(bins: dict[str, Any], name: str) -> int:
    v = bins.get(name)
    if v is None:
        return T_UNDEF
    if isinstance(v, bytes | bytearray):
        return T_BLOB
    if isinstance(v, str):
        return T_STRING
    if isinstance(v, float):
        return T_DOUBLE
    return T_INTEGER


# -- translation --------------------------------------------------------------------------


def _and(parts: list[Node]) -> Node:
    if any(p == FALSE for p in parts):
        return FALSE
    parts = [p for p in parts if p != TRUE]
    if not parts:
        return TRUE
    return parts[0] if len(parts) == 1 else ("and", parts)


def _or(parts: list[Node]) -> Node:
    if any(p == TRUE for p in parts):
        return TRUE
    parts = [p for p in parts if p != FALSE]
    if not parts:
        return FALSE
    return parts[0] if len(parts) == 1 else ("or", parts)


def _not(node: Node) -> Node:
    if node[0] == "const":
        return ("const", not node[1])
    return ("not", node)


Cases = dict[int, Node | None]  # per bin type of a present value; None: unknown


def _in_int64(v: int) -> bool:
    return INT64_MIN <= v <= INT64_MAX


def _typed_eq(attr: str, value: Any) -> Cases:
    """``Eq value`` on a present value, per bin type (the evaluator's ``_eq_pred``)."""
    f: Node = FALSE
    if value is None:
        return {T_STRING: f, T_INTEGER: f, T_DOUBLE: f, T_BLOB: f}
    if isinstance(value, str):
        return {T_STRING: ("cmp", attr, "str", "eq", value), T_INTEGER: f, T_DOUBLE: f, T_BLOB: f}
    if isinstance(value, bool) or not isinstance(value, int | float):
        return {T_STRING: f, T_INTEGER: f, T_DOUBLE: f, T_BLOB: None}
    if isinstance(value, int):
        if not _in_int64(value):
            return {T_STRING: f, T_INTEGER: f, T_DOUBLE: None, T_BLOB: None}
        as_float = ("cmp", attr, "float", "eq", float(value))
        return {
            T_STRING: f,
            T_INTEGER: ("cmp", attr, "int", "eq", value),
            T_DOUBLE: as_float if abs(value) <= EXACT_FLOAT_INT else None,
            T_BLOB: f,  # a BLOB holds a bool, an array or an integer outside int64
        }
    integral = value.is_integer() and _in_int64(int(value))
    return {
        T_STRING: f,
        T_INTEGER: ("cmp", attr, "int", "eq", int(value)) if integral else f,
        T_DOUBLE: ("cmp", attr, "float", "eq", value),
        T_BLOB: None if value.is_integer() else f,
    }


def _typed_cmp(attr: str, op: str, value: Any) -> Cases:
    """``Lt``/``Lte``/``Gt``/``Gte`` on a present value, per bin type (``_cmp_fn``)."""
    f: Node = FALSE
    if isinstance(value, str):
        return {T_STRING: ("cmp", attr, "str", op, value), T_INTEGER: f, T_DOUBLE: f, T_BLOB: f}
    if isinstance(value, bool):
        return {T_STRING: f, T_INTEGER: f, T_DOUBLE: f, T_BLOB: None}
    if isinstance(value, int):
        small = _in_int64(value)
        return {
            T_STRING: f,
            T_INTEGER: ("cmp", attr, "int", op, value) if small else None,
            T_DOUBLE: (
                ("cmp", attr, "float", op, float(value)) if abs(value) <= EXACT_FLOAT_INT else None
            ),
            T_BLOB: None,
        }
    integral = value.is_integer() and _in_int64(int(value))
    return {
        T_STRING: f,
        T_INTEGER: ("cmp", attr, "int", op, int(value)) if integral else None,
        T_DOUBLE: ("cmp", attr, "float", op, value),
        T_BLOB: None,
    }


def _leaf(f: list[Any]) -> tuple[Node, Node]:
    attr, op, value = f
    if not isinstance(attr, str) or not is_bin_name(attr):
        return TRUE, FALSE
    typed: Cases = {}
    if op in ("Eq", "NotEq"):
        typed = _typed_eq(attr, value)
    elif op in ("In", "NotIn"):
        per = [_typed_eq(attr, v) for v in (value if isinstance(value, list) else [value])]
        for t in (T_STRING, T_INTEGER, T_DOUBLE):
            nodes = [one[t] for one in per]
            typed[t] = None if any(n is None for n in nodes) else _or([n for n in nodes if n])
        # A BLOB may hold an array, where In means "any element is in the list": unknown,
        # unless the list is empty (no element is in it).
        if value == []:
            typed[T_BLOB] = FALSE
    elif op in ("Lt", "Lte", "Gt", "Gte") and value is not None:
        typed = _typed_cmp(attr, CMP_OPS[op], value)
    if op in ("NotEq", "NotIn"):
        typed = {t: None if n is None else _not(n) for t, n in typed.items()}
    # The missing case is whatever the evaluator says for a document without attr.
    try:
        missing = bool(evaluate(f, {}))
    except FilterError:
        return TRUE, FALSE  # not in the evaluator's grammar: nothing to push down
    cases: dict[int, Node] = {T_UNDEF: ("const", missing)}
    cases.update({t: n for t, n in typed.items() if n is not None})
    decided = list(cases.values())
    if (
        set(cases) == STORED_TYPES
        and decided[0][0] == "const"
        and all(n == decided[0] for n in decided)
    ):
        return decided[0], decided[0]  # every stored type decided alike: no bin to read
    return ("cond", attr, cases, TRUE), ("cond", attr, cases, FALSE)


def translate(f: Any) -> tuple[Node, Node]:
    """``(may, must)`` for a filter in Layer's grammar."""
    if isinstance(f, list) and len(f) == 2 and f[0] in ("And", "Or"):
        pairs = [translate(sub) for sub in f[1]]
        if f[0] == "And":
            return _and([p[0] for p in pairs]), _and([p[1] for p in pairs])
        return _or([p[0] for p in pairs]), _or([p[1] for p in pairs])
    if isinstance(f, list) and len(f) == 2 and f[0] == "Not":
        may, must = translate(f[1])
        return _not(must), _not(may)
    if isinstance(f, list) and len(f) == 3:
        return _leaf(f)
    return TRUE, FALSE


def pushdown(f: Any) -> Node:
    """The pre-filter in intermediate form (``TRUE`` when nothing can be pushed down)."""
    return TRUE if f is None else translate(f)[0]


# -- checking it without a server -------------------------------------------------------------


def evaluate_ir(node: Node, bins: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "const":
        return bool(node[1])
    if kind == "and":
        return all(evaluate_ir(n, bins) for n in node[1])
    if kind == "or":
        return any(evaluate_ir(n, bins) for n in node[1])
    if kind == "not":
        return not evaluate_ir(node[1], bins)
    if kind == "cond":
        _, attr, cases, default = node
        branch = cases.get(bin_type(bins, attr), default)
        return evaluate_ir(branch, bins)
    if kind == "cmp":
        _, attr, _t, op, value = node
        v = bins[attr]
        return bool(
            {
                "eq": v == value,
                "ne": v != value,
                "lt": v < value,
                "le": v <= value,
                "gt": v > value,
                "ge": v >= value,
            }[op]
        )
    raise ValueError(f"unknown node {kind!r}")


# -- Aerospike expressions ------------------------------------------------------------------------


def to_aerospike(node: Node) -> Any:
    """Build the ``aerospike_helpers`` expression for an intermediate node."""
    from aerospike_helpers import expressions as exp

    kind = node[0]
    if kind == "const":
        return bool(node[1])
    if kind in ("and", "or"):
        parts = [to_aerospike(n) for n in node[1]]
        return (exp.And if kind == "and" else exp.Or)(*parts)
    if kind == "not":
        return exp.Not(to_aerospike(node[1]))
    if kind == "cmp":
        _, attr, t, op, value = node
        bin_expr = {"str": exp.StrBin, "int": exp.IntBin, "float": exp.FloatBin}[t](attr)
        cls = {"eq": exp.Eq, "ne": exp.NE, "lt": exp.LT, "le": exp.LE, "gt": exp.GT, "ge": exp.GE}[
            op
        ]
        return cls(bin_expr, value)
    if kind == "cond":
        _, attr, cases, default = node
        args: list[Any] = []
        for t, branch in cases.items():
            args += [exp.Eq(exp.BinType(attr), t), to_aerospike(branch)]
        args.append(to_aerospike(default))
        return exp.Cond(*args)
    raise ValueError(f"unknown node {kind!r}")


def to_expression(f: Any, generation: int | None = None) -> Any:
    """The compiled filter expression for a cache scan (None: nothing to filter on).

    With ``generation``, only that cache generation's records (bin ``_g``) pass.
    """
    from aerospike_helpers import expressions as exp

    node = pushdown(f)
    parts: list[Any] = []
    if generation is not None:
        parts.append(exp.Eq(exp.IntBin("_g"), generation))
    if node == FALSE:
        parts.append(exp.Eq(exp.IntBin("_g"), -1))  # generations start at 1: nothing passes
    elif node != TRUE:
        parts.append(to_aerospike(node))
    if not parts:
        return None
    expr = parts[0] if len(parts) == 1 else exp.And(*parts)
    return expr.compile()
