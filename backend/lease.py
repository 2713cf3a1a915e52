"""The watcher's leases: one per shard (DESIGN.md "The watcher").

A KV record ``lease/watcher-shard-{i}`` per shard holds the holder's id and expiry
(``Lease``; the class takes any key). Taking and
renewing it are compare-and-set on the record's generation, so two contenders can
never both believe they hold it. The generation the holder last wrote is its fencing
token: before a durable write the holder re-reads the record and proceeds only if the
generation is still its own (``still_held``), so a paused leader that lost the lease
stops writing.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Protocol

from backend.stores.kv_base import KVStore
from common.timeutil import now_ms

log = logging.getLogger(__name__)

SET = "lease"
KEY = "watcher"


class Fence(Protocol):
    """What a durable write checks first: is ``ns``'s lease still this process's?"""

    def still_held(self, ns: str | None = None) -> bool: ...


def make_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(
        self, kv: KVStore, ttl_ms: int, holder: str | None = None, *, key: str = KEY
    ) -> None:
        self.kv = kv
        self.key = key
        self.ttl_ms = ttl_ms
        self._fixed_holder = holder
        self._holder = holder or make_holder_id()
        self._pid = os.getpid()
        self.generation: int | None = None

    @property
    def holder(self) -> str:
        """This process's holder id; a forked child (a gunicorn worker) gets its own."""
        if self._fixed_holder is None and self._pid != os.getpid():
            self._holder, self._pid, self.generation = make_holder_id(), os.getpid(), None
        return self._holder

    def acquire(self, take_from: str | None = None) -> bool:
        """Take or renew the lease; True when this process holds it afterwards.

        ``take_from``: a holder known dead (its heartbeat lapsed, ``backend/shards.py``)
        whose unexpired lease may be taken all the same."""
        now = now_ms()
        rec = self.kv.get(SET, self.key)
        value = {"holder": self.holder, "expires_ms": now + self.ttl_ms, "renewed_ms": now}
        ttl_s = max(1, -(-self.ttl_ms // 1000))
        owner = None if rec is None else rec.value.get("holder")
        if rec is None:
            gen = self.kv.cas(SET, self.key, value, 0, ttl_s=ttl_s)
        elif (
            owner == self.holder
            or int(rec.value.get("expires_ms", 0)) < now
            or (take_from is not None and owner == take_from)
        ):
            gen = self.kv.cas(SET, self.key, value, rec.generation, ttl_s=ttl_s)
        else:
            gen = None
        if gen is None:
            if self.generation is not None:
                log.warning("watcher lease lost", extra={"holder": self.holder, "lease": self.key})
            self.generation = None
            return False
        if self.generation is None:
            log.info("watcher lease acquired", extra={"holder": self.holder, "lease": self.key})
        self.generation = gen
        return True

    def still_held(self, ns: str | None = None) -> bool:
        """The fencing check: the record is still the one this holder last wrote, unexpired.

        ``ns`` is accepted (and ignored) so a single lease fences like ``ShardLeases``."""
        if self.generation is None:
            return False
        rec = self.kv.get(SET, self.key)
        return (
            rec is not None
            and rec.generation == self.generation
            and rec.value.get("holder") == self.holder
            and int(rec.value.get("expires_ms", 0)) >= now_ms()
        )

    def release(self) -> None:
        if self.generation is not None:
            self.kv.delete(SET, self.key, expected_generation=self.generation)
            self.generation = None

    def current(self) -> dict[str, object] | None:
        rec = self.kv.get(SET, self.key)
        return None if rec is None else dict(rec.value)
