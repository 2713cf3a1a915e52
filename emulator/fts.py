"""Full-text search: the tokenizer, BM25, and the rank_by expressions built on it.

An attribute is searchable when its schema has ``full_text_search`` (``true`` or a
config object; the schema then shows the whole config with its defaults). Tokens:
runs of letters and digits (``word_v*``), lower-cased unless ``case_sensitive``,
English stop words dropped unless ``remove_stopwords: false``, Porter-stemmed with
``stemming: true`` (English only), longer than ``max_token_length`` bytes dropped.
``tokenizer: "pre_tokenized_array"`` takes a ``[]string`` value as its tokens as-is,
and a query for it must be an array too.

BM25 (``k1`` 1.2, ``b`` 0.75 unless configured) over the documents that have the
attribute; ``idf = ln(1 + (N - n + 0.5) / (n + 0.5))``. A text ``rank_by`` expression
is a tree of ``[attr, "BM25", query]``, ``["Sum", [...]]``, ``["Max", [...]]``,
``["Product", weight, expr]`` (either order), ``["Attribute", attr]`` (a numeric
attribute's value) and filters (1 when the document matches); only documents scoring
above 0 are returned, best first, with the score as ``$dist``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from emulator.state import BadRequest
from emulator.stem import stem

Doc = dict[str, Any]
Scorer = Callable[[Doc], float]

LANGUAGES = frozenset(
    {
        "arabic", "danish", "dutch", "english", "finnish", "french", "german", "greek",
        "hungarian", "italian", "norwegian", "portuguese", "romanian", "russian", "spanish",
        "swedish", "tamil", "turkish",
    }
)  # fmt: skip
TOKENIZERS = frozenset(
    {"pre_tokenized_array", "word_v0", "word_v1", "word_v2", "word_v3", "word_v4"}
)
DEFAULTS: dict[str, Any] = {
    "tokenizer": "word_v4",
    "language": "english",
    "stemming": False,
    "remove_stopwords": True,
    "case_sensitive": False,
    "ascii_folding": False,
    "max_token_length": 39,
    "k1": 1.2,
    "b": 0.75,
}
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)


def normalize_config(spec: Any, where: str) -> dict[str, Any] | None:
    """A schema's ``full_text_search`` value as the full config (None when off)."""
    if spec is False or spec is None:
        return None
    if spec is True:
        return dict(DEFAULTS)
    if not isinstance(spec, dict):
        raise BadRequest(f"{where}: full_text_search must be a boolean or an object")
    unknown = set(spec) - set(DEFAULTS)
    if unknown:
        raise BadRequest(f"{where}: unknown full_text_search option {sorted(unknown)[0]!r}")
    cfg = {**DEFAULTS, **spec}
    checks: list[tuple[str, bool, str]] = [
        ("tokenizer", cfg["tokenizer"] in TOKENIZERS, f"one of {sorted(TOKENIZERS)}"),
        ("language", cfg["language"] in LANGUAGES, "a supported language"),
        ("max_token_length", _int_in(cfg["max_token_length"], 1, 254), "between 1 and 254"),
        ("k1", _number(cfg["k1"]) and cfg["k1"] >= 0, "a non-negative number"),
        ("b", _number(cfg["b"]) and 0 <= cfg["b"] <= 1, "a number between 0 and 1"),
    ]
    for key in ("stemming", "remove_stopwords", "case_sensitive", "ascii_folding"):
        checks.append((key, isinstance(cfg[key], bool), "a boolean"))
    for key, ok, what in checks:
        if not ok:
            raise BadRequest(f"{where}.full_text_search.{key}: must be {what}")
    return cfg


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _int_in(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def tokenize(value: Any, cfg: dict[str, Any]) -> list[str]:
    """The tokens of a stored value or of a query under ``cfg``."""
    if cfg["tokenizer"] == "pre_tokenized_array":
        if not isinstance(value, list):
            return []
        return [t for t in value if isinstance(t, str)]
    if isinstance(value, list):
        return [t for v in value for t in tokenize(v, cfg)]
    if not isinstance(value, str):
        return []
    words = _WORD.findall(value)
    if cfg["ascii_folding"]:
        import unicodedata

        words = [
            unicodedata.normalize("NFKD", w).encode("ascii", "ignore").decode() or w for w in words
        ]
    if not cfg["case_sensitive"]:
        words = [w.lower() for w in words]
    if cfg["remove_stopwords"] and cfg["language"] == "english":
        words = [w for w in words if w.lower() not in STOPWORDS]
    if cfg["stemming"] and cfg["language"] == "english":
        words = [stem(w) for w in words]
    limit = cfg["max_token_length"]
    return [w for w in words if len(w.encode()) <= limit]


def fts_config(schema: dict[str, dict[str, Any]], attr: str) -> dict[str, Any] | None:
    cfg = schema.get(attr, {}).get("full_text_search")
    return cfg if isinstance(cfg, dict) else None


def query_tokens(
    attr: str, query: Any, cfg: dict[str, Any], what: str, last_as_prefix: bool = False
) -> list[str]:
    if cfg["tokenizer"] == "pre_tokenized_array":
        if not isinstance(query, list) or not all(isinstance(t, str) for t in query):
            raise BadRequest(
                f'invalid input {_show(query)} for {what} field "{attr}", expecting []string'
            )
        return list(query)
    if isinstance(query, list):
        if not all(isinstance(t, str) for t in query):
            raise BadRequest(f'invalid input for {what} field "{attr}", expecting string')
        return [t for q in query for t in tokenize(q, cfg)]
    if not isinstance(query, str):
        raise BadRequest(
            f'invalid input {_show(query)} for {what} field "{attr}", expecting string'
        )
    return tokenize(query, cfg)


def _show(v: Any) -> str:
    return f'"{v}"' if isinstance(v, str) else repr(v)


class Corpus:
    """Per-attribute token statistics over the documents a query ranks."""

    def __init__(self, docs: list[Doc], schema: dict[str, dict[str, Any]]) -> None:
        self.docs = docs
        self.schema = schema
        self._stats: dict[str, tuple[dict[Any, Counter[str]], Counter[str], float, int]] = {}

    def stats(
        self, attr: str, cfg: dict[str, Any]
    ) -> tuple[dict[Any, Counter[str]], Counter[str], float, int]:
        got = self._stats.get(attr)
        if got is None:
            tfs: dict[Any, Counter[str]] = {}
            df: Counter[str] = Counter()
            total = 0
            for d in self.docs:
                v = d.get(attr)
                if v is None:
                    continue
                tf = Counter(tokenize(v, cfg))
                tfs[d["id"]] = tf
                df.update(tf.keys())
                total += sum(tf.values())
            n = len(tfs)
            got = (tfs, df, total / n if n else 0.0, n)
            self._stats[attr] = got
        return got


def _bm25(corpus: Corpus, attr: str, query: Any, params: Any) -> Scorer:
    cfg = fts_config(corpus.schema, attr)
    if cfg is None:
        raise BadRequest(f'rank_by: attribute "{attr}" is not full-text searchable (BM25)')
    if params is not None and not isinstance(params, dict):
        raise BadRequest("rank_by: BM25 parameters must be an object")
    prefix = bool((params or {}).get("last_as_prefix", False))
    terms = query_tokens(attr, query, cfg, "rank_by")
    tfs, df, avgdl, n = corpus.stats(attr, cfg)
    k1, b = float(cfg["k1"]), float(cfg["b"])
    prefix_term = terms[-1] if prefix and terms else None
    exact = terms[:-1] if prefix_term is not None else terms

    def idf(t: str) -> float:
        return math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))

    weights = [(t, idf(t)) for t in exact]

    def score(d: Doc) -> float:
        tf = tfs.get(d["id"])
        if not tf:
            return 0.0
        dl = sum(tf.values())
        norm = k1 * (1 - b + b * dl / avgdl) if avgdl else k1
        s = 0.0
        for t, w in weights:
            f = tf.get(t, 0)
            if f:
                s += w * f * (k1 + 1) / (f + norm)
        if prefix_term is not None:
            f = sum(c for tok, c in tf.items() if tok.startswith(prefix_term))
            if f:
                s += idf(prefix_term) * f * (k1 + 1) / (f + norm)
        return s

    return score


def compile_rank(
    expr: Any, corpus: Corpus, compile_filter: Callable[[Any], Callable[[Doc], bool]]
) -> Scorer:
    """A scorer for a text ``rank_by`` expression (see the module docstring)."""
    if not isinstance(expr, list) or not expr:
        raise BadRequest("rank_by: expected an expression array")
    head = expr[0]
    if head in ("Sum", "Max") and len(expr) == 2:
        if not isinstance(expr[1], list) or not expr[1]:
            raise BadRequest(f"rank_by: {head} needs a non-empty array of expressions")
        subs = [compile_rank(e, corpus, compile_filter) for e in expr[1]]
        if head == "Sum":
            return lambda d: sum(s(d) for s in subs)
        return lambda d: max(s(d) for s in subs)
    if head == "Product" and len(expr) == 3:
        weight, sub = (expr[1], expr[2]) if _number(expr[1]) else (expr[2], expr[1])
        if not _number(weight):
            raise BadRequest("rank_by: Product needs a number and an expression")
        inner = compile_rank(sub, corpus, compile_filter)
        w = float(weight)
        return lambda d: w * inner(d)
    if head == "Attribute" and len(expr) == 2 and isinstance(expr[1], str):
        attr = expr[1]

        def attribute(d: Doc) -> float:
            v = d.get(attr)
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0

        return attribute
    if len(expr) in (3, 4) and isinstance(head, str) and expr[1] == "BM25":
        return _bm25(corpus, head, expr[2], expr[3] if len(expr) == 4 else None)
    if head in ("Saturate", "Decay", "Dist"):
        raise BadRequest(f"rank_by: {head} is not supported by the emulator")
    pred = compile_filter(expr)
    return lambda d: 1.0 if pred(d) else 0.0


def is_text_rank(rank_by: Any) -> bool:
    """Whether ``rank_by`` is a text expression rather than an attribute order or a vector."""
    if not isinstance(rank_by, list) or not rank_by:
        return False
    head = rank_by[0]
    if head in ("Sum", "Max", "Product", "Attribute", "Saturate", "Decay", "Dist"):
        return True
    return len(rank_by) in (3, 4) and rank_by[1] == "BM25"


def rank_text(
    docs: Iterable[Doc],
    scorer: Scorer,
    n: int,
) -> list[tuple[float, Doc]]:
    scored = [(s, d) for d in docs if (s := scorer(d)) > 0]
    scored.sort(key=lambda t: -t[0])  # stable: ties keep id order
    return scored[:n]
