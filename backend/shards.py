"""Shards and their leases: how several watchers split the namespaces.

A namespace belongs to shard ``crc32(name) % LAYER_WATCH_SHARDS``. Each shard has its own
lease (``lease/watcher-shard-{i}``, a ``Lease``: compare-and-set on the generation, TTL
``LAYER_LEASE_TTL_MS``), and only its holder polls the shard's namespaces and writes
their records. Every watcher also keeps a heartbeat (KV set ``watchers``, key = its
holder id), renewed every ``keep_ms`` (a fifteenth of the TTL, 0.1–1 s) by a job of its
own beside the tick (and before a write batch of a long tick), and valid for ``heartbeat_ms`` (a third of the TTL, at least four
renewals), so each knows how many are alive, and which.

At every renewal a watcher renews its heartbeat (and any lease a third of a TTL old),
counts the live watchers and aims at a fair share, ``ceil(shards / live)``: above it, it
releases its surplus (the others take those shards at their next renewal); below it, it
takes free or lapsed leases, and the leases of a holder whose heartbeat has lapsed.
Shards are preferred by rendezvous hash of (holder, shard), so a restart does not move
every shard. A watcher that dies stops renewing: its heartbeat lapses within
``heartbeat_ms``, and the others take its shards within about a third of the lease TTL
(instead of waiting for the leases themselves to lapse). A lease is only ever taken by
compare-and-set on a record that is absent, expired, or held by a holder with no live
heartbeat, so two watchers never hold one shard; a paused holder that resumes finds its
generation gone and stops (``renew`` is the fencing check before every write).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import zlib

from backend.freshness import shard_of
from backend.lease import SET, Lease, make_holder_id
from backend.stores.kv_base import KVStore
from common.timeutil import now_ms

log = logging.getLogger(__name__)

HEARTBEATS = "watchers"


def shard_key(shard: int) -> str:
    return f"watcher-shard-{shard}"


def keep_interval_ms(ttl_ms: int) -> int:
    """How often a watcher renews its heartbeat (and looks for lapsed shards)."""
    return max(100, min(1000, ttl_ms // 15))


def heartbeat_ms(ttl_ms: int) -> int:
    """How long a heartbeat stays live without renewal: a third of the lease TTL, and at
    least four renewals, never more than the TTL."""
    return min(ttl_ms, max(ttl_ms // 3, 4 * keep_interval_ms(ttl_ms)))


class ShardLeases:
    def __init__(self, kv: KVStore, ttl_ms: int, shards: int, holder: str | None = None) -> None:
        self.kv = kv
        self.ttl_ms = ttl_ms
        self.heartbeat_ms = heartbeat_ms(ttl_ms)
        self.shards = shards
        self._fixed_holder = holder
        self._holder = holder or make_holder_id()
        self._pid = os.getpid()
        self.leases: dict[int, Lease] = {}
        self.renewed_ms: dict[int, int] = {}
        self.live_watchers = 0
        self.beat_ms = 0
        self._lock = threading.RLock()  # the keeper job and the tick both use the leases

    @property
    def holder(self) -> str:
        """This process's holder id; a forked child gets its own and holds nothing."""
        if self._fixed_holder is None and self._pid != os.getpid():
            self._holder, self._pid, self.leases = make_holder_id(), os.getpid(), {}
        return self._holder

    @property
    def held(self) -> list[int]:
        return sorted(self.leases)

    def _preference(self, shard: int) -> int:
        return zlib.crc32(f"{self.holder}/{shard}".encode())

    def rebalance(self) -> list[int]:
        """Heartbeat, renew, then release or take leases toward a fair share."""
        with self._lock:
            return self._rebalance()

    def _rebalance(self) -> list[int]:
        holder = self.holder
        now = now_ms()
        for shard, lease in list(self.leases.items()):
            if now - self.renewed_ms.get(shard, 0) < self.ttl_ms // 3:
                continue  # renewed recently (here or before a write): a whole TTL is left
            if lease.acquire():
                self.renewed_ms[shard] = now
            else:
                del self.leases[shard]
        self._beat(now)
        live = {
            key
            for key, rec in self.kv.scan(HEARTBEATS)
            if int(rec.value.get("expires_ms", 0)) >= now
        }
        self.live_watchers = max(1, len(live | {holder}))
        fair = math.ceil(self.shards / self.live_watchers)
        ranked = sorted(range(self.shards), key=self._preference)
        if len(self.leases) > fair:
            surplus = [s for s in reversed(ranked) if s in self.leases][: len(self.leases) - fair]
            for shard in surplus:
                self.leases.pop(shard).release()
            log.info("watcher released shards", extra={"shards": surplus, "fair": fair})
        elif len(self.leases) < fair:
            free = [s for s in ranked if s not in self.leases]
            recs = self.kv.get_many(SET, [shard_key(s) for s in free])
            for shard in free:
                if len(self.leases) >= fair:
                    break
                rec = recs.get(shard_key(shard))
                value = rec.value if rec is not None else {}
                owner = value.get("holder")
                if int(value.get("expires_ms", 0)) >= now and owner in live:
                    continue  # held by a live watcher
                lease = Lease(self.kv, self.ttl_ms, holder, key=shard_key(shard))
                if lease.acquire(take_from=None if owner in live else owner):
                    self.leases[shard] = lease
                    self.renewed_ms[shard] = now
                    if owner is not None and owner != holder:
                        log.info("watcher took a shard", extra={"shard": shard, "from": owner})
        return self.held

    def _beat(self, now: int) -> None:
        self.kv.put(
            HEARTBEATS,
            self.holder,
            {"holder": self.holder, "expires_ms": now + self.heartbeat_ms, "shards": self.held},
            ttl_s=max(1, -(-self.heartbeat_ms // 1000)),
        )
        self.beat_ms = now

    def shard(self, ns: str) -> int:
        return shard_of(ns, self.shards)

    def holds(self, shard: int) -> bool:
        with self._lock:
            lease = self.leases.get(shard)
        return lease is not None and lease.still_held()

    def renew(self, shard: int) -> bool:
        """Renew one lease (compare-and-set) right before writing for its shard.

        The write that follows has a whole TTL before anyone else could take the shard,
        so a tick longer than the TTL keeps its shards, and a holder that was paused past
        its heartbeat and lost the shard finds out here and writes nothing."""
        with self._lock:
            lease = self.leases.get(shard)
            if lease is None:
                return False
            if lease.acquire():
                now = self.renewed_ms[shard] = now_ms()
                if now - self.beat_ms >= keep_interval_ms(self.ttl_ms):
                    self._beat(now)  # a long tick keeps its heartbeat between renewals too
                return True
            del self.leases[shard]
            return False

    def still_held(self, ns: str | None = None) -> bool:
        """The fencing check for ``ns``'s shard (without ``ns``: every lease still held)."""
        if ns is None:
            with self._lock:
                leases = list(self.leases.values())
            return bool(leases) and all(lease.still_held() for lease in leases)
        return self.holds(self.shard(ns))

    def release(self) -> None:
        """Give every shard back and drop the heartbeat, so the others take over at once."""
        with self._lock:
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
