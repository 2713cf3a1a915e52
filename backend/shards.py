"""Shards and their leases: how several watchers split the namespaces.

A namespace belongs to shard ``crc32(name) % LAYER_WATCH_SHARDS``. Each shard has its own
lease (``lease/watcher-shard-{i}``, a ``Lease``: compare-and-set on the generation, TTL
``LAYER_LEASE_TTL_MS``), and only its holder polls the shard's namespaces and writes
their records. Every watcher also keeps a heartbeat (KV set ``watchers``, key = its
holder id, same TTL), so each knows how many are alive.

Every tick a watcher renews its heartbeat and its leases, counts the live watchers and
aims at a fair share, ``ceil(shards / live)``: above it, it releases its surplus (the
others take those shards on their next tick); below it, it takes free or lapsed leases.
Shards are preferred by rendezvous hash of (holder, shard), so a restart does not move
every shard. A watcher that dies stops renewing: its heartbeat and leases lapse within
the TTL, and the others take its shards on their next tick. A lease is only ever taken
by compare-and-set on a record that is absent or expired, so two watchers never hold
one shard; a paused holder that resumes finds its generation gone and stops
(``still_held`` is the fencing check before every write).
"""

from __future__ import annotations

import logging
import math
import os
import zlib

from backend.freshness import shard_of
from backend.lease import SET, Lease, make_holder_id
from backend.stores.kv_base import KVStore
from common.timeutil import now_ms

log = logging.getLogger(__name__)

HEARTBEATS = "watchers"


def shard_key(shard: int) -> str:
    return f"watcher-shard-{shard}"


class ShardLeases:
    def __init__(self, kv: KVStore, ttl_ms: int, shards: int, holder: str | None = None) -> None:
        self.kv = kv
        self.ttl_ms = ttl_ms
        self.shards = shards
        self._fixed_holder = holder
        self._holder = holder or make_holder_id()
        self._pid = os.getpid()
        self.leases: dict[int, Lease] = {}
        self.live_watchers = 0

    @property
    def holder(self) -> str:
        """This process's holder id; a forked child gets its own and holds nothing."""
        if self._fixed_holder is None and self._pid != os.getpid():
            self._holder, self._pid, self.leases = make_holder_id(), os.getpid(), {}
        return self._holder

    @property
    def held(self) -> list[int]:
        return sorted(self.leases)

    def _ttl_s(self) -> int:
        return max(1, -(-self.ttl_ms // 1000))

    def _preference(self, shard: int) -> int:
        return zlib.crc32(f"{self.holder}/{shard}".encode())

    def rebalance(self) -> list[int]:
        """Heartbeat, renew, then release or take leases toward a fair share."""
        holder = self.holder
        for shard, lease in list(self.leases.items()):
            if not lease.acquire():
                del self.leases[shard]
        now = now_ms()
        self.kv.put(
            HEARTBEATS,
            holder,
            {"holder": holder, "expires_ms": now + self.ttl_ms, "shards": self.held},
            ttl_s=self._ttl_s(),
        )
        live = sum(
            1 for _, rec in self.kv.scan(HEARTBEATS) if int(rec.value.get("expires_ms", 0)) >= now
        )
        self.live_watchers = max(1, live)
        fair = math.ceil(self.shards / self.live_watchers)
        ranked = sorted(range(self.shards), key=self._preference)
        if len(self.leases) > fair:
            surplus = [s for s in reversed(ranked) if s in self.leases][: len(self.leases) - fair]
            for shard in surplus:
                self.leases.pop(shard).release()
            log.info("watcher released shards", extra={"shards": surplus, "fair": fair})
        elif len(self.leases) < fair:
            for shard in ranked:
                if len(self.leases) >= fair:
                    break
                if shard in self.leases:
                    continue
                rec = self.kv.get(SET, shard_key(shard))
                if rec is not None and int(rec.value.get("expires_ms", 0)) >= now:
                    continue
                lease = Lease(self.kv, self.ttl_ms, holder, key=shard_key(shard))
                if lease.acquire():
                    self.leases[shard] = lease
        return self.held

    def shard(self, ns: str) -> int:
        return shard_of(ns, self.shards)

    def holds(self, shard: int) -> bool:
        lease = self.leases.get(shard)
        return lease is not None and lease.still_held()

    def renew(self, shard: int) -> bool:
        """Renew one lease (compare-and-set) right before writing for its shard.

        The write that follows has a whole TTL before anyone else could take the shard,
        so a tick longer than the TTL keeps its shards, and a holder that was paused past
        its TTL and lost the shard finds out here and writes nothing."""
        lease = self.leases.get(shard)
        if lease is None:
            return False
        if lease.acquire():
            return True
        del self.leases[shard]
        return False

    def still_held(self, ns: str | None = None) -> bool:
        """The fencing check for ``ns``'s shard (without ``ns``: every lease still held)."""
        if ns is None:
            return bool(self.leases) and all(lease.still_held() for lease in self.leases.values())
        return self.holds(self.shard(ns))

    def release(self) -> None:
        """Give every shard back and drop the heartbeat, so the others take over at once."""
        for lease in self.leases.values():
            lease.release()
        self.leases = {}
        self.kv.delete(HEARTBEATS, self.holder)

    def holders(self) -> list[dict[str, object]]:
        """Every shard's lease as stored: holder and expiry (null when free or lapsed)."""
        now = now_ms()
        out: list[dict[str, object]] = []
        recs = self.kv.get_many(SET, [shard_key(i) for i in range(self.shards)])
        for i in range(self.shards):
            rec = recs.get(shard_key(i))
            value = rec.value if rec is not None else {}
            live = int(value.get("expires_ms", 0)) >= now
            out.append(
                {
                    "shard": i,
                    "holder": value.get("holder") if live else None,
                    "expires_ms": value.get("expires_ms") if live else None,
                }
            )
        return out
