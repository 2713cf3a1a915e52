"""Filters as the real service checks and evaluates them, given the namespace's schema.

The grammar and the plain operators come from ``common.filters`` (one evaluator for
the whole project); this module adds what needs the schema or differs on arrays:

- an attribute whose schema says ``filterable: false`` (full-text attributes default to
  it) cannot be filtered on, except by the token operators; a value of the wrong type
  for the attribute's schema type is an error (``filter error in key `count`: type
  mismatch``); both are 400;
- ``In``/``NotIn`` take a list or a bare scalar; on an array attribute ``In`` means any
  element is in the list (intersection);
- ``Glob``/``IGlob`` (and their ``Not`` forms) use globset syntax (``*``, ``?``,
  ``[a-z]``, ``{a,b}``), on strings and on any element of a ``[]string``;
- ``Lt``/``Lte``/``Gt``/``Gte`` accept ``null``: nulls sort first, so ``Lt``/``Lte null``
  match only missing values and ``Gt null`` every present one;
- ``ContainsAllTokens``, ``ContainsAnyToken``, ``ContainsTokenSequence`` tokenize the
  value like the attribute's full-text config (``last_as_prefix`` supported);
- ``Regex`` needs ``regex: true``; ``Fuzzy`` is not emulated (400).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from common.filters import FilterError
from common.filters import compile_filter as compile_plain
from emulator.fts import fts_config, query_tokens, tokenize
from emulator.state import BadRequest

Doc = dict[str, Any]
Pred = Callable[[Doc], bool]
Schema = dict[str, dict[str, Any]]

_TOKEN_OPS = frozenset({"ContainsAllTokens", "ContainsAnyToken", "ContainsTokenSequence"})
_GLOB_OPS = frozenset({"Glob", "NotGlob", "IGlob", "NotIGlob"})
_CMP_OPS = frozenset({"Lt", "Lte", "Gt", "Gte"})
_LIST_VALUE_OPS = frozenset({"In", "NotIn", "ContainsAny", "NotContainsAny"})


def glob_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """A globset pattern (``*``, ``?``, ``[...]``, ``{a,b}``) as an anchored regex."""
    out: list[str] = []
    i, n, depth = 0, len(pattern), 0
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = pattern.find("]", i + 2 if i + 1 < n and pattern[i + 1] in "!^" else i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                i = j
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise BadRequest(f"invalid glob pattern {pattern!r}: unclosed '{{'")
    return re.compile("".join(out) + r"\Z", (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def _type_ok(type_: str, v: Any) -> bool:
    if v is None:
        return True
    base = type_[2:] if type_.startswith("[]") else type_
    if base in ("string", "uuid"):
        return isinstance(v, str)
    if base in ("int", "uint", "float"):
        return isinstance(v, int | float) and not isinstance(v, bool)
    if base == "bool":
        return isinstance(v, bool)
    if base == "datetime":
        return isinstance(v, str | int) and not isinstance(v, bool)
    return True


def _combine(conjunction: bool, preds: list[Pred]) -> Pred:
    """And/Or of predicates, unrolled for the common short cases (a hot loop per document)."""
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        if conjunction:
            return lambda d: a(d) and b(d)
        return lambda d: a(d) or b(d)
    if not preds:
        return (lambda d: True) if conjunction else (lambda d: False)

    # explicit loops: all()/any() over a generator cost twice as much per document
    def every(d: Doc) -> bool:
        for p in preds:  # noqa: SIM110
            if not p(d):
                return False
        return True

    def some(d: Doc) -> bool:
        for p in preds:  # noqa: SIM110
            if p(d):
                return True
        return False

    return every if conjunction else some


class FilterCompiler:
    """Compiles filters against one namespace's schema; ``path`` names the parameter."""

    def __init__(self, schema: Schema, path: str = "filters") -> None:
        self.schema = schema
        self.path = path

    def compile(self, f: Any) -> Pred:
        try:
            return self._compile(f, self.path, 0)
        except FilterError as exc:
            raise BadRequest(str(exc)) from exc

    def _compile(self, f: Any, path: str, depth: int) -> Pred:
        if depth > 32:
            raise BadRequest(f"{path}: filter nested too deeply")
        if not isinstance(f, list) or not f:
            raise BadRequest(f"{path}: a filter must be a non-empty array")
        head = f[0]
        if head in ("And", "Or") and len(f) == 2:
            if not isinstance(f[1], list):
                raise BadRequest(f"{path}[1]: {head} needs an array of filters")
            preds = [self._compile(s, f"{path}[1][{i}]", depth + 1) for i, s in enumerate(f[1])]
            return _combine(head == "And", preds)
        if head == "Not" and len(f) == 2:
            inner = self._compile(f[1], f"{path}[1]", depth + 1)
            return lambda d: not inner(d)
        if len(f) not in (3, 4) or not isinstance(head, str) or not isinstance(f[1], str):
            raise BadRequest(f"{path}: expected [attribute, operator, value] or [And|Or|Not, ...]")
        return self._leaf(head, f[1], f[2], f[3] if len(f) == 4 else None, path)

    def _leaf(self, attr: str, op: str, value: Any, params: Any, path: str) -> Pred:
        entry = self.schema.get(attr, {})
        type_ = str(entry.get("type", ""))
        if op in _TOKEN_OPS:
            return self._token(attr, op, value, params)
        if params is not None:
            raise BadRequest(f"{path}: {op} takes no parameters")
        if entry.get("filterable") is False or (
            "filterable" not in entry and fts_config(self.schema, attr) is not None
        ):
            raise BadRequest(f"filter error in key `{attr}`: attribute is not filterable")
        if op in _LIST_VALUE_OPS and not isinstance(value, list):
            value = [value]
        if type_:
            values = value if op in _LIST_VALUE_OPS else [value]
            if op in ("Eq", "NotEq") and isinstance(value, list):
                values = value
            if op in _GLOB_OPS or op == "Regex":
                values = [value] if type_ in ("string", "[]string", "uuid") else [0]
            if not all(_type_ok(type_, v) for v in values):
                raise BadRequest(f"filter error in key `{attr}`: type mismatch")
        if op in ("In", "NotIn"):
            return self._in(attr, op, value, path)
        if op in _GLOB_OPS:
            if not isinstance(value, str):
                raise BadRequest(f"{path}[2]: {op} needs a string pattern")
            return self._glob(attr, op, value)
        if op == "Regex":
            if entry.get("regex") is not True:
                raise BadRequest(f"filter error in key `{attr}`: Regex needs `regex: true`")
            if not isinstance(value, str):
                raise BadRequest(f"{path}[2]: Regex needs a string pattern")
            try:
                rx = re.compile(value)
            except re.error as exc:
                raise BadRequest(f"{path}[2]: invalid regex: {exc}") from exc
            return lambda d: isinstance(v := d.get(attr), str) and rx.search(v) is not None
        if op == "Fuzzy":
            raise BadRequest(f"{path}[1]: Fuzzy is not supported by the emulator")
        if op in _CMP_OPS and value is None:
            if op in ("Lt", "Lte"):
                return lambda d: d.get(attr) is None
            return (lambda d: d.get(attr) is not None) if op == "Gt" else (lambda d: True)
        return compile_plain([attr, op, value], path=path)

    def _in(self, attr: str, op: str, values: list[Any], path: str) -> Pred:
        member = compile_plain([attr, "In", values], path=path)

        def any_in(d: Doc) -> bool:
            v = d.get(attr)
            if isinstance(v, list):
                return any(member({attr: x}) for x in v)
            return member(d)

        if op == "In":
            return any_in
        return lambda d: not any_in(d)

    @staticmethod
    def _glob(attr: str, op: str, pattern: str) -> Pred:
        match = glob_regex(pattern, ignore_case=op in ("IGlob", "NotIGlob")).match

        def glob(d: Doc) -> bool:
            v = d.get(attr)
            if isinstance(v, str):
                return match(v) is not None
            if isinstance(v, list):
                return any(isinstance(x, str) and match(x) is not None for x in v)
            return False

        if op in ("Glob", "IGlob"):
            return glob
        return lambda d: not glob(d)

    def _token(self, attr: str, op: str, value: Any, params: Any) -> Pred:
        cfg = fts_config(self.schema, attr)
        if cfg is None:
            raise BadRequest(
                f"filter error in key `{attr}`: {op} needs a full_text_search attribute"
            )
        if params is not None and not isinstance(params, dict):
            raise BadRequest(f"filters: {op} parameters must be an object")
        prefix = bool((params or {}).get("last_as_prefix", False))
        want = query_tokens(attr, value, cfg, "filter")

        def tokens(d: Doc) -> list[str]:
            return tokenize(d.get(attr), cfg)

        def has(toks: list[str], t: str, last: bool) -> bool:
            if last and prefix:
                return any(x.startswith(t) for x in toks)
            return t in toks

        if op == "ContainsAllTokens":
            return lambda d: (
                bool(want)
                and all(
                    has(toks, t, i == len(want) - 1)
                    for toks in [tokens(d)]
                    for i, t in enumerate(want)
                )
            )
        if op == "ContainsAnyToken":
            return lambda d: any(
                has(toks, t, i == len(want) - 1) for toks in [tokens(d)] for i, t in enumerate(want)
            )
        k = len(want)

        def sequence(d: Doc) -> bool:
            toks = tokens(d)
            return k > 0 and any(toks[i : i + k] == want for i in range(len(toks) - k + 1))

        return sequence


def compiler_for(schema: Schema, path: str = "filters") -> Callable[[Any], Pred]:
    return FilterCompiler(schema, path).compile
