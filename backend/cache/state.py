"""The cache state record of a namespace (KV set ``cache_state``, key ``{ns}``).

One record per namespace, never deleted (``DELETE …/cache`` empties it), so generation
numbers only ever grow::

    {"generation": g,            # the live generation, 0 when the cache is cold
     "max_generation": m,        # the highest generation ever allocated
     "watermark_ms", "warmed_at", "documents", "last_write_ms",  # of generation g
     "warming_job_id", "warming_generation"}                     # the warm in flight

Every change is a compare-and-set on the record's KV generation, so two writers (two
warm requests, a warm finishing while a delete runs) never both win.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from backend.errors import Conflict
from backend.stores.kv_base import KVStore

SET = "cache_state"
CAS_ATTEMPTS = 20


@dataclass(frozen=True)
class CacheRecord:
    generation: int = 0
    max_generation: int = 0
    watermark_ms: int | None = None
    warmed_at: str | None = None
    documents: int = 0
    last_write_ms: int | None = None
    warming_job_id: str | None = None
    warming_generation: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CacheRecord:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CacheStateStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    def get(self, ns: str) -> tuple[CacheRecord, int]:
        """The record and its KV generation (0 when there is none yet)."""
        rec = self.kv.get(SET, ns)
        if rec is None:
            return CacheRecord(), 0
        return CacheRecord.from_dict(rec.value), rec.generation

    def get_many(self, names: list[str]) -> dict[str, CacheRecord]:
        """The records among ``names`` that exist, in one batch read."""
        return {
            ns: CacheRecord.from_dict(r.value) for ns, r in self.kv.get_many(SET, names).items()
        }

    def update(
        self, ns: str, change: Callable[[CacheRecord], CacheRecord | None]
    ) -> CacheRecord | None:
        """Apply ``change`` with compare-and-set until it sticks; None when it declines."""
        for _ in range(CAS_ATTEMPTS):
            current, kv_gen = self.get(ns)
            new = change(current)
            if new is None:
                return None
            if self.kv.cas(SET, ns, new.to_dict(), kv_gen) is not None:
                return new
        raise Conflict(f"the cache state of {ns!r} is changing too fast; retry")
