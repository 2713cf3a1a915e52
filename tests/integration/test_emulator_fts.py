"""Full-text search in the emulator over HTTP: BM25, its combinators and the token filters."""

from __future__ import annotations

from typing import Any

import requests

from emulator.server import EmulatorServer
from emulator.stem import stem

TEXTS = [
    "the fox is quick and brown",
    "fox jumped over the lazy dog",
    "the dog is lazy and brown",
    "walrus is slow and inferior",
    "Foxes Jumping Everywhere",
]


def post(server: EmulatorServer, path: str, body: Any) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, timeout=10)


def seed(server: EmulatorServer, ns: str, fts: Any, **extra: Any) -> None:
    body = {
        "upsert_rows": [
            {"id": i + 1, "text": t, "kind": "a" if i % 2 else "b"} for i, t in enumerate(TEXTS)
        ],
        "schema": {"text": {"type": "string", "full_text_search": fts, **extra}},
    }
    r = post(server, f"/v2/namespaces/{ns}", body)
    assert r.status_code == 200, r.text


def ids(server: EmulatorServer, ns: str, body: dict[str, Any]) -> list[Any]:
    r = post(server, f"/v2/namespaces/{ns}/query", {"limit": 10, **body})
    assert r.status_code == 200, r.text
    return [row["id"] for row in r.json()["rows"]]


def test_porter_stems() -> None:
    assert [stem(w) for w in ("jumped", "jumping", "mammals", "walruses", "walrus")] == [
        "jump",
        "jump",
        "mammal",
        "walrus",
        "walrus",
    ]


def test_bm25_ranks_by_score_and_returns_only_matches(emulator: EmulatorServer) -> None:
    seed(emulator, "fts", {"stemming": True})
    r = post(emulator, "/v2/namespaces/fts/query", {"rank_by": ["text", "BM25", "fox jumping"]})
    rows = r.json()["rows"]
    # 2 and 5 match both terms (stemmed, case-folded); 2 is longer than 5, 1 matches one
    assert [row["id"] for row in rows] == [5, 2, 1]
    assert rows[0]["$dist"] > rows[1]["$dist"] > rows[2]["$dist"] > 0
    # stop words alone match nothing
    assert ids(emulator, "fts", {"rank_by": ["text", "BM25", "the and is"]}) == []


def test_bm25_without_stemming_and_case_sensitive(emulator: EmulatorServer) -> None:
    seed(emulator, "plain", True)
    assert ids(emulator, "plain", {"rank_by": ["text", "BM25", "jumping"]}) == [5]
    seed(emulator, "cased", {"case_sensitive": True})
    assert ids(emulator, "cased", {"rank_by": ["text", "BM25", "foxes"]}) == []
    assert ids(emulator, "cased", {"rank_by": ["text", "BM25", "Foxes"]}) == [5]


def test_combinators_and_filters(emulator: EmulatorServer) -> None:
    seed(emulator, "comb", {"stemming": True})
    q = ["text", "BM25", "lazy"]
    assert ids(emulator, "comb", {"rank_by": q}) == [3, 2]  # 3 is the shorter document
    summed = {"rank_by": ["Sum", [["text", "BM25", "walrus"], ["text", "BM25", "fox"]]]}
    assert set(ids(emulator, "comb", summed)) == {1, 2, 4, 5}
    maxed = ids(emulator, "comb", {"rank_by": ["Max", [["text", "BM25", "walrus"], q]]})
    assert maxed[0] == 4 and set(maxed) == {2, 3, 4}
    for product in (["Product", 2, q], ["Product", q, 0.5]):
        assert set(ids(emulator, "comb", {"rank_by": product})) == {2, 3}
    # a filter inside rank_by scores 1 when it matches; filters narrow the candidates
    boosted = ["Sum", [q, ["kind", "Eq", "a"]]]
    assert ids(emulator, "comb", {"rank_by": boosted})[0] == 2
    assert ids(emulator, "comb", {"rank_by": q, "filters": ["kind", "Eq", "b"]}) == [3]


def test_token_filters(emulator: EmulatorServer) -> None:
    seed(emulator, "tok", {"stemming": True})
    rank = ["id", "asc"]
    assert ids(emulator, "tok", {"rank_by": rank, "filters": ["text", "ContainsAllTokens", "lazy dog"]}) == [2, 3]  # fmt: skip
    assert ids(emulator, "tok", {"rank_by": rank, "filters": ["text", "ContainsAllTokens", "lazy cat"]}) == []  # fmt: skip
    assert ids(emulator, "tok", {"rank_by": rank, "filters": ["text", "ContainsAnyToken", "walrus cat"]}) == [4]  # fmt: skip
    assert ids(emulator, "tok", {"rank_by": rank, "filters": ["text", "ContainsTokenSequence", "lazy dog"]}) == [2]  # fmt: skip
    prefix = ["text", "ContainsAllTokens", "wal", {"last_as_prefix": True}]
    assert ids(emulator, "tok", {"rank_by": rank, "filters": prefix}) == [4]


def test_pre_tokenized_arrays(emulator: EmulatorServer) -> None:
    body = {
        "upsert_rows": [
            {"id": 1, "content": ["jumped", "over", "the", "lazy", "dog"]},
            {"id": 2, "content": ["the", "lazy", "dog", "is", "brown"]},
        ],
        "schema": {
            "content": {
                "type": "[]string",
                "full_text_search": {"tokenizer": "pre_tokenized_array"},
            }
        },
    }
    assert post(emulator, "/v2/namespaces/pre", body).status_code == 200
    assert ids(emulator, "pre", {"rank_by": ["content", "BM25", ["jumped"]]}) == [1]
    assert set(ids(emulator, "pre", {"rank_by": ["content", "BM25", ["the"]]})) == {1, 2}
    r = post(emulator, "/v2/namespaces/pre/query", {"rank_by": ["content", "BM25", "jumped"]})
    assert r.status_code == 400
    assert 'for rank_by field "content", expecting []string' in r.json()["error"]


def test_fts_schema_and_bad_inputs(emulator: EmulatorServer) -> None:
    seed(emulator, "bad", True)
    schema = requests.get(f"{emulator.url}/v1/namespaces/bad/schema", timeout=5).json()
    assert schema["text"]["filterable"] is False
    assert schema["text"]["full_text_search"]["k1"] == 1.2
    assert schema["text"]["full_text_search"]["tokenizer"] == "word_v4"
    cases = [
        ({"rank_by": ["kind", "BM25", "a"]}, "not full-text searchable"),
        ({"rank_by": ["text", "BM25", 3]}, "expecting string"),
        ({"rank_by": ["id", "asc"], "filters": ["text", "Eq", "x"]}, "not filterable"),
        (
            {"rank_by": ["id", "asc"], "filters": ["kind", "ContainsAnyToken", "x"]},
            "full_text_search",
        ),
        ({"rank_by": ["Saturate", ["text", "BM25", "x"], {}]}, "not supported"),
        ({"rank_by": ["Product", "x", "y"]}, "Product"),
    ]
    for body, needle in cases:
        r = post(emulator, "/v2/namespaces/bad/query", body)
        assert r.status_code == 400 and needle in r.json()["error"], (body, r.text)
    for fts in ({"language": "klingon"}, {"k1": -1}, {"max_token_length": 0}, {"nope": 1}, "yes"):
        r = post(
            emulator,
            "/v2/namespaces/bad2",
            {
                "upsert_rows": [{"id": 1, "t": "x"}],
                "schema": {"t": {"type": "string", "full_text_search": fts}},
            },
        )
        assert r.status_code == 400, (fts, r.text)
    r = post(
        emulator,
        "/v2/namespaces/bad2",
        {
            "upsert_rows": [{"id": 1, "t": 1}],
            "schema": {"t": {"type": "int", "full_text_search": True}},
        },
    )
    assert r.status_code == 400 and "string" in r.json()["error"]
    assert requests.get(f"{emulator.url}/v1/namespaces/bad2/schema", timeout=5).status_code == 404
