"""Turbopuffer's filter grammar: one validator and one evaluator for the whole project.

The emulator answers queries with it and the backend's document cache reuses it, so
both agree on every edge case. Semantics (turbopuffer's docs and the SDKs' live tests,
as ``TURBOPUFFER.md`` records them):

- ``Eq null`` matches a missing or null attribute; ``NotEq x`` is ``Not(Eq x)``, so
  ``NotEq null`` matches a present attribute and ``NotEq "a"`` matches a missing one.
- ``Eq`` on an array attribute compares the whole array (``["tags","Eq",["a","b"]]``);
  a scalar never equals an array. Use ``Contains`` for membership.
- ``In``/``NotIn`` take a list or a bare scalar (``["users","In","bojan"]`` is
  ``In ["bojan"]``). On a scalar attribute: the value is in the list (``null`` in the
  list matches missing). On an array attribute: **any element** is in the list (the
  intersection is not empty, as ``ContainsAny``); ``NotIn`` is the negation, so it
  matches an array with no element in the list, and an empty array.
- ``Lt``/``Lte``/``Gt``/``Gte``: nulls sort first, and ``Lt``/``Lte`` always match a
  null or missing attribute (``Gt``/``Gte`` never, for a non-null value). A null value
  is allowed: no present value sorts below null, so ``Lt null`` and ``Lte null`` match
  exactly the null/missing documents (``Eq null``), ``Gt null`` every present value
  (``NotEq null``) and ``Gte null`` every document. Numbers compare numerically,
  strings lexicographically (code points), bools with bools; anything else (string vs
  number, arrays) is simply false, never an exception.
- ``Any*`` compare each element of an array attribute; ``Contains*`` test array
  membership; on a non-array value they are false (their ``Not*`` forms true).
- ``Glob`` family: globset syntax (``common/globset.py``: ``*``, ``?``, ``[...]``,
  ``{a,b}``) on a string, or on any element of an array of strings; ``IGlob`` ignores
  case; ``Not*`` negate (a missing attribute matches ``NotGlob``). A pattern globset
  would refuse is a ``FilterError``.
- ``Regex``, ``Fuzzy`` and the token operators are valid grammar but need schema
  flags this evaluator does not model: ``compile_filter`` raises ``FilterError``
  naming them.
- Booleans never equal numbers (``True`` is not ``1``); ``1`` equals ``1.0``.

``compile_filter`` builds closures once; run the result over many documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from common.globset import GlobError, compile_glob

Predicate = Callable[[Mapping[str, Any]], bool]


class FilterError(ValueError):
    """A filter that does not follow the grammar; the message says where."""


_LOGICAL = frozenset({"And", "Or", "Not"})
_EQ_OPS = frozenset({"Eq", "NotEq"})
_LIST_OPS = frozenset({"In", "NotIn", "ContainsAny", "NotContainsAny"})
_CMP_OPS = frozenset({"Lt", "Lte", "Gt", "Gte"})
_ANY_CMP_OPS = frozenset({"AnyLt", "AnyLte", "AnyGt", "AnyGte"})
_CONTAINS_OPS = frozenset({"Contains", "NotContains"})
_GLOB_OPS = frozenset({"Glob", "NotGlob", "IGlob", "NotIGlob"})
UNSUPPORTED_OPS = frozenset(
    {"Regex", "Fuzzy", "ContainsAllTokens", "ContainsAnyToken", "ContainsTokenSequence"}
)
LEAF_OPS = (
    _EQ_OPS | _LIST_OPS | _CMP_OPS | _ANY_CMP_OPS | _CONTAINS_OPS | _GLOB_OPS | UNSUPPORTED_OPS
)
ALL_OPS: frozenset[str] = _LOGICAL | LEAF_OPS
CACHE_OPS: frozenset[str] = frozenset(
    {
        "And",
        "Or",
        "Not",
        "Eq",
        "NotEq",
        "In",
        "NotIn",
        "Lt",
        "Lte",
        "Gt",
        "Gte",
        "Contains",
        "ContainsAny",
        "Glob",
        "NotGlob",
        "IGlob",
        "NotIGlob",
    }
)

_SCALARS = (str, int, float, bool)


def _is_seq(v: object) -> bool:
    return isinstance(v, list | tuple)


def validate_filter(f: object, *, max_depth: int = 32, path: str = "filters") -> None:
    """Check ``f`` against the grammar; raise ``FilterError`` naming the bad part's path."""
    _validate(f, path, max_depth)


def _validate(f: object, path: str, depth: int) -> None:
    if depth <= 0:
        raise FilterError(f"{path}: filter nested too deeply")
    if not _is_seq(f) or not f:
        raise FilterError(f"{path}: a filter must be a non-empty array")
    assert isinstance(f, list | tuple)
    head = f[0]
    if head in ("And", "Or") and len(f) == 2:
        subs = f[1]
        if not _is_seq(subs):
            raise FilterError(f"{path}[1]: {head} needs an array of filters")
        for i, sub in enumerate(subs):
            _validate(sub, f"{path}[1][{i}]", depth - 1)
        return
    if head == "Not" and len(f) == 2:
        _validate(f[1], f"{path}[1]", depth - 1)
        return
    if len(f) != 3:
        raise FilterError(f"{path}: expected [attribute, operator, value] or [And|Or|Not, ...]")
    attr, op, value = f
    if not isinstance(attr, str) or not attr:
        raise FilterError(f"{path}[0]: attribute name must be a non-empty string")
    if not isinstance(op, str) or op not in LEAF_OPS:
        raise FilterError(f"{path}[1]: unknown operator {op!r}")
    vpath = f"{path}[2]"
    if op in _LIST_OPS:
        if op in ("In", "NotIn") and (value is None or isinstance(value, _SCALARS)):
            return  # a bare scalar: In [value]
        if not _is_seq(value):
            raise FilterError(f"{vpath}: {op} needs a list")
        for i, v in enumerate(value):
            if not (v is None or isinstance(v, _SCALARS)):
                raise FilterError(f"{vpath}[{i}]: {op} values must be scalars or null")
    elif op in _CMP_OPS:
        if not (value is None or isinstance(value, _SCALARS)):
            raise FilterError(f"{vpath}: {op} needs a number, string, bool or null")
    elif op in _ANY_CMP_OPS:
        if not isinstance(value, _SCALARS):
            raise FilterError(f"{vpath}: {op} needs a number, string or bool")
    elif op in _CONTAINS_OPS:
        if value is None or not isinstance(value, _SCALARS):
            raise FilterError(f"{vpath}: {op} needs a scalar value")
    elif op in _GLOB_OPS or op == "Regex":
        if not isinstance(value, str):
            raise FilterError(f"{vpath}: {op} needs a string pattern")
        if op in _GLOB_OPS:
            try:
                compile_glob(value)
            except GlobError as exc:
                raise FilterError(f"{vpath}: bad {op} pattern {value!r}: {exc}") from None
    elif op in _EQ_OPS and not (value is None or isinstance(value, _SCALARS) or _is_seq(value)):
        raise FilterError(f"{vpath}: {op} needs a scalar, null or array value")


def ops_used(f: object) -> set[str]:
    """Every operator (logical and leaf) named in a filter; assumes it validated."""
    out: set[str] = set()
    _collect_ops(f, out)
    return out


def _collect_ops(f: object, out: set[str]) -> None:
    if not _is_seq(f) or not f:
        return
    assert isinstance(f, list | tuple)
    head = f[0]
    if head in ("And", "Or") and len(f) == 2:
        out.add(head)
        for sub in f[1] if _is_seq(f[1]) else ():
            _collect_ops(sub, out)
    elif head == "Not" and len(f) == 2:
        out.add("Not")
        _collect_ops(f[1], out)
    elif len(f) == 3 and isinstance(f[1], str):
        out.add(f[1])


def and_filters(*fs: Any) -> Any:
    """AND filters together, skipping None; a single filter comes back as-is."""
    present = [f for f in fs if f is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return ["And", present]


# --- evaluation ------------------------------------------------------------------------


def _norm(v: Any) -> Any:
    """A hashable key under which equal values collide and bools stay apart from numbers."""
    if v is True or v is False:
        return ("$bool", v)
    if isinstance(v, list | tuple):
        return ("$arr", tuple(_norm(x) for x in v))
    return v


def _eq_pred(attr: str, value: Any) -> Predicate:
    if value is None:
        return lambda d: d.get(attr) is None
    if value is True or value is False:
        return lambda d: d.get(attr) is value
    if isinstance(value, str):
        return lambda d: d.get(attr) == value
    if isinstance(value, int | float):

        def eq_num(d: Mapping[str, Any]) -> bool:
            x = d.get(attr)
            return x == value and x is not True and x is not False

        return eq_num
    key = _norm(value)

    def eq_arr(d: Mapping[str, Any]) -> bool:
        x = d.get(attr)
        return isinstance(x, list | tuple) and _norm(x) == key

    return eq_arr


def _member_test(values: Iterable[Any]) -> Callable[[Any], bool]:
    """A fast ``x in values`` with Eq semantics (bool/number apart, arrays by value)."""
    keys = {_norm(v) for v in values}
    plain = {v for v in values if isinstance(v, str | int | float) and not isinstance(v, bool)}
    has_special = len(plain) != len(keys)
    if not has_special:
        return lambda x: type(x) in (str, int, float) and x in plain

    def member(x: Any) -> bool:
        try:
            return _norm(x) in keys
        except TypeError:
            return False

    return member


def _cmp_fn(op: str, value: Any) -> Callable[[Any], bool]:
    """``x <op> value`` for a non-null x, false when the types are not comparable."""
    if isinstance(value, bool):
        kinds: tuple[type, ...] = (bool,)
    elif isinstance(value, int | float):
        kinds = (int, float)
    else:
        kinds = (str,)
    if op.endswith("Lte"):
        return lambda x: type(x) in kinds and x <= value
    if op.endswith("Lt"):
        return lambda x: type(x) in kinds and x < value
    if op.endswith("Gte"):
        return lambda x: type(x) in kinds and x >= value
    return lambda x: type(x) in kinds and x > value


def _cmp_null(attr: str, op: str) -> Predicate:
    """A comparison with null: nulls sort first and ``Lt``/``Lte`` always match null."""
    if op in ("Lt", "Lte"):
        return lambda d: d.get(attr) is None
    if op == "Gt":
        return lambda d: d.get(attr) is not None
    return lambda d: True


def _leaf(attr: str, op: str, value: Any, path: str) -> Predicate:
    if op in UNSUPPORTED_OPS:
        raise FilterError(
            f"{path}[1]: {op} is not supported (it needs a regex, fuzzy or full-text schema flag)"
        )
    if op in _EQ_OPS:
        p = _eq_pred(attr, value)
        return p if op == "Eq" else (lambda d: not p(d))
    if op in ("In", "NotIn"):
        member = _member_test(value if _is_seq(value) else [value])

        def is_in(d: Mapping[str, Any]) -> bool:
            x = d.get(attr)
            if isinstance(x, list | tuple):
                return any(member(e) for e in x)
            return member(x)

        return is_in if op == "In" else (lambda d: not is_in(d))
    if op in _CMP_OPS and value is None:
        return _cmp_null(attr, op)
    if op in _CMP_OPS:
        cmp = _cmp_fn(op, value)
        null_matches = op in ("Lt", "Lte")

        def compare(d: Mapping[str, Any]) -> bool:
            x = d.get(attr)
            if x is None:
                return null_matches
            return cmp(x)

        return compare
    if op in _ANY_CMP_OPS:
        cmp = _cmp_fn(op, value)

        def any_compare(d: Mapping[str, Any]) -> bool:
            x = d.get(attr)
            return isinstance(x, list | tuple) and any(cmp(e) for e in x)

        return any_compare
    if op in _CONTAINS_OPS or op in ("ContainsAny", "NotContainsAny"):
        member = _member_test(value if op in ("ContainsAny", "NotContainsAny") else [value])

        def contains(d: Mapping[str, Any]) -> bool:
            x = d.get(attr)
            return isinstance(x, list | tuple) and any(member(e) for e in x)

        if op in ("Contains", "ContainsAny"):
            return contains
        return lambda d: not contains(d)
    # Glob family
    try:
        match = compile_glob(value, op in ("IGlob", "NotIGlob")).match
    except GlobError as exc:  # validated already; kept for direct callers
        raise FilterError(f"{path}[2]: bad {op} pattern {value!r}: {exc}") from None

    def glob(d: Mapping[str, Any]) -> bool:
        x = d.get(attr)
        if isinstance(x, str):
            return match(x) is not None
        if isinstance(x, list | tuple):
            return any(isinstance(e, str) and match(e) is not None for e in x)
        return False

    if op in ("Glob", "IGlob"):
        return glob
    return lambda d: not glob(d)


def compile_filter(f: object, *, max_depth: int = 32, path: str = "filters") -> Predicate:
    """Validate ``f`` and build a predicate over documents (mappings that include ``id``)."""
    validate_filter(f, max_depth=max_depth, path=path)
    return _compile(f, path)


def _compile(f: Any, path: str) -> Predicate:
    head = f[0]
    if head in ("And", "Or") and len(f) == 2:
        preds = [_compile(sub, f"{path}[1][{i}]") for i, sub in enumerate(f[1])]
        if len(preds) == 1:
            return preds[0]
        if head == "And":
            if len(preds) == 2:
                a, b = preds
                return lambda d: a(d) and b(d)
            return lambda d: all(p(d) for p in preds)
        return lambda d: any(p(d) for p in preds)
    if head == "Not" and len(f) == 2:
        inner = _compile(f[1], f"{path}[1]")
        return lambda d: not inner(d)
    attr, op, value = f
    return _leaf(attr, op, value, path)


def evaluate(f: object, doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` matches ``f``; for many documents compile once with ``compile_filter``."""
    return compile_filter(f)(doc)
