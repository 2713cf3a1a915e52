"""The freshness signal per namespace, as the watcher last saw it (KV set ``freshness``).

Before a namespace's first poll there is no record: ``is_stable`` false and
``stable_as_of`` null, exactly the cold start the seed documents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from backend.stores.kv_base import KVStore

SET = "freshness"


@dataclass(frozen=True)
class Freshness:
    is_stable: bool = False
    stable_as_of: int | None = None
    last_poll_ms: int | None = None
    last_error: str | None = None
    last_write_ms: int | None = None
    index_status: str | None = None
    has_watermark: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Freshness:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


class FreshnessStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    def get(self, ns: str) -> Freshness:
        rec = self.kv.get(SET, ns)
        return Freshness() if rec is None else Freshness.from_dict(rec.value)

    def get_all(self) -> dict[str, Freshness]:
        """Every record, in one scan (the watcher reads them once per tick)."""
        return {ns: Freshness.from_dict(rec.value) for ns, rec in self.kv.scan(SET)}

    def put_many(self, items: list[tuple[str, Freshness]]) -> None:
        """Write a batch of records in one store transaction (one round trip)."""
        self.kv.put_many(SET, [(ns, f.to_dict()) for ns, f in items])
