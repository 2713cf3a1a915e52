"""Glob patterns as turbopuffer reads them: the Rust ``globset`` crate's syntax.

turbopuffer's ``Glob`` family compiles patterns with ``globset`` (default options, so
``*`` and ``?`` also match ``/``, and ``\\`` escapes the next character). Python's
``fnmatch`` differs in ways a user would notice: it has no ``{a,b}`` alternation,
takes ``[^...]`` literally and accepts an unclosed ``[``. This translator follows
globset:

- ``*`` any run of characters (``**`` too), ``?`` one character;
- ``[abc]``, ``[a-z]``, ``[!a-z]`` / ``[^a-z]`` (negated); a ``]`` right after the
  opening ``[`` (or ``[!``) is literal, as is a ``-`` first or last;
- ``{a,b,c}`` alternation (not nested), commas literal outside braces;
- ``\\x`` the character ``x`` literally.

Bad patterns raise ``GlobError`` the way globset refuses them: an unclosed class or
group, a nested group, a ``}`` with no ``{``, a reversed range, a trailing ``\\``.
"""

from __future__ import annotations

import re
from functools import lru_cache


class GlobError(ValueError):
    """A pattern globset would refuse; the message says why."""


def _class(pat: str, i: int) -> tuple[str, int]:
    """Translate the class starting after ``[`` at ``i``; return (regex, index after ``]``)."""
    n = len(pat)
    negate = i < n and pat[i] in "!^"
    if negate:
        i += 1
    items: list[tuple[str, str]] = []
    first = True
    while True:
        if i >= n:
            raise GlobError("unclosed character class; missing ']'")
        c = pat[i]
        if c == "]" and not first:
            i += 1
            break
        if c == "\\" and i + 1 < n:
            c = pat[i + 1]
            i += 1
        first = False
        i += 1
        if i + 1 < n and pat[i] == "-" and pat[i + 1] != "]":
            end = pat[i + 1]
            if end == "\\" and i + 2 < n:
                end = pat[i + 2]
                i += 1
            if end < c:
                raise GlobError(f"invalid range {c}-{end}")
            items.append((c, end))
            i += 2
        else:
            items.append((c, c))

    def esc(ch: str) -> str:
        return "\\" + ch if ch in "\\]^-[" else ch

    body = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in items)
    return f"[{'^' if negate else ''}{body}]", i


def translate(pat: str) -> str:
    """The regular expression (anchored at both ends) that matches what ``pat`` matches."""
    out: list[str] = []
    i, n = 0, len(pat)
    in_group = False
    while i < n:
        c = pat[i]
        if c == "\\":
            if i + 1 >= n:
                raise GlobError("dangling '\\' at the end of the pattern")
            out.append(re.escape(pat[i + 1]))
            i += 2
        elif c == "*":
            while i < n and pat[i] == "*":
                i += 1
            out.append(".*")
        elif c == "?":
            out.append(".")
            i += 1
        elif c == "[":
            rx, i = _class(pat, i + 1)
            out.append(rx)
        elif c == "{":
            if in_group:
                raise GlobError("nested alternate groups are not allowed")
            in_group = True
            out.append("(?:")
            i += 1
        elif c == "}":
            if not in_group:
                raise GlobError("unopened alternate group; missing '{'")
            in_group = False
            out.append(")")
            i += 1
        elif c == "," and in_group:
            out.append("|")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    if in_group:
        raise GlobError("unclosed alternate group; missing '}'")
    return "(?s:" + "".join(out) + r")\Z"


@lru_cache(maxsize=1024)
def compile_glob(pat: str, ignore_case: bool = False) -> re.Pattern[str]:
    """The compiled matcher for ``pat`` (cached); raises ``GlobError`` for a bad pattern."""
    return re.compile(translate(pat), re.IGNORECASE if ignore_case else 0)
