"""The KV store contract.

The KV store holds small mutable records: freshness state, the latest-snapshot mirror,
snapshot jobs, the document cache and its state, the watcher lease. Records live in
named *sets* (like Aerospike sets, like tables) and are JSON-serialisable dicts.

Contract every backend honours (tests/unit/test_kv_contract.py checks it):

- ``get`` returns ``None`` for a missing or expired key, never raises for absence.
- Every write bumps the record's ``generation`` by one; a new record has generation 1.
- ``put`` is last-writer-wins; ``cas`` writes only when the stored generation equals
  ``expected_generation`` (0 means "must not exist") and returns the new generation,
  or ``None`` when another writer got there first. The check and the write are atomic
  across threads and processes.
- A ``ttl_s`` makes a record expire that many seconds after the write; an expired
  record is invisible to ``get`` and ``scan`` (and may be reaped lazily).
- ``scan`` yields the live records of a set whose key starts with ``prefix``, in key
  order; it sees every record written before the call began.
- ``put_many`` writes a batch in one round trip where the backend can; ``get_many``
  reads a batch the same way and returns only the live records found, by key (a
  missing or expired key is simply absent); ``delete_set`` drops every record of a set.
- Failures to reach the store raise ``StoreUnavailable`` naming the store.

The document cache (``backend/cache``) has three operations of its own, so a backend can
lay documents out for fast scans (and, for Aerospike, filter server-side). The defaults
keep them in set ``cache_docs`` under key ``{ns}/{generation}/{id}`` on top of the
operations above:

- ``put_docs`` writes one generation's documents (each a dict of attributes with ``id``);
- ``scan_docs`` yields every document of one generation, in no particular order. A
  ``where`` filter (Layer's grammar) is a hint: a backend may use it to skip documents
  that cannot match, or ignore it, so the caller always evaluates the filter itself;
- ``drop_docs`` removes one generation's documents.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

DOCS_SET = "cache_docs"


def docs_prefix(ns: str, generation: int) -> str:
    """The key prefix of one cache generation's documents (namespace names have no '/')."""
    return f"{ns}/{generation}/"


@dataclass(frozen=True)
class Record:
    value: dict[str, Any]
    generation: int


class KVStore(ABC):
    name = "kv"

    @abstractmethod
    def get(self, set_name: str, key: str) -> Record | None: ...

    @abstractmethod
    def put(self, set_name: str, key: str, value: dict[str, Any], ttl_s: int | None = None) -> int:
        """Write unconditionally; return the new generation."""

    @abstractmethod
    def cas(
        self,
        set_name: str,
        key: str,
        value: dict[str, Any],
        expected_generation: int,
        ttl_s: int | None = None,
    ) -> int | None:
        """Write only if the record's generation is ``expected_generation`` (0: absent)."""

    @abstractmethod
    def delete(self, set_name: str, key: str, expected_generation: int | None = None) -> bool:
        """Remove a record; with ``expected_generation``, only if it still matches. True if removed."""

    @abstractmethod
    def scan(self, set_name: str, prefix: str = "") -> Iterator[tuple[str, Record]]: ...

    def put_many(
        self, set_name: str, items: Iterable[tuple[str, dict[str, Any]]], ttl_s: int | None = None
    ) -> int:
        """Write many records; return how many. Backends override for one round trip."""
        n = 0
        for key, value in items:
            self.put(set_name, key, value, ttl_s)
            n += 1
        return n

    def scan_range(
        self, set_name: str, prefix: str, after: str | None, limit: int
    ) -> list[tuple[str, Record]] | None:
        """Up to ``limit`` live records with ``prefix`` whose key sorts after ``after``, in
        key order; None when the backend keeps no key order (Aerospike): callers then read
        by key with ``get_many``."""
        return None

    def get_many(self, set_name: str, keys: Iterable[str]) -> dict[str, Record]:
        """The live records among ``keys``, by key. Backends override for one round trip."""
        out: dict[str, Record] = {}
        for key in keys:
            rec = self.get(set_name, key)
            if rec is not None:
                out[key] = rec
        return out

    def delete_many(self, set_name: str, items: Iterable[tuple[str, int | None]]) -> int:
        """Delete many records, each only at its expected generation (None: any); return
        how many went. Backends override for one round trip."""
        return sum(1 for key, gen in items if self.delete(set_name, key, expected_generation=gen))

    def delete_set(self, set_name: str, prefix: str = "") -> int:
        """Remove every record of a set whose key starts with ``prefix``; return how many."""
        n = 0
        for key, _ in list(self.scan(set_name, prefix)):
            if self.delete(set_name, key):
                n += 1
        return n

    # -- the document cache ----------------------------------------------------------------

    def put_docs(self, ns: str, generation: int, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Write documents of one cache generation, keyed by document id; return how many."""
        prefix = docs_prefix(ns, generation)
        return self.put_many(DOCS_SET, ((prefix + doc_id, doc) for doc_id, doc in docs))

    def scan_docs(self, ns: str, generation: int, where: Any = None) -> Iterator[dict[str, Any]]:
        """Every document of one generation; ``where`` may prune, never replaces evaluation."""
        for _, rec in self.scan(DOCS_SET, docs_prefix(ns, generation)):
            yield rec.value

    def drop_docs(self, ns: str, generation: int) -> int:
        """Remove every document of one cache generation; return how many."""
        return self.delete_set(DOCS_SET, docs_prefix(ns, generation))

    @abstractmethod
    def ping(self) -> None:
        """Raise ``StoreUnavailable`` if the store cannot serve reads and writes."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (called at shutdown and after fork in tests)."""
