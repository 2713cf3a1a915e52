"""bench_scale's moving parts: the writer, the lag tracker, the rate sampler, the KV probes.

They read Layer's KV directly (the SQLite file the processes share), never through a
Layer route that would call Turbopuffer and so add to the upstream calls being counted.
"""

from __future__ import annotations

import dataclasses
import importlib
import random
import threading
import time
from typing import Any

import requests

from backend.freshness import SET, Freshness, FreshnessStore
from backend.stores.registry import open_kv
from common.settings import Settings
from common.timeutil import now_ms

TRACK_MAX = 40  # writes followed at once by the lag tracker
WRITER_THREADS = 32  # a write through Layer took 25-220 ms on the loaded machine
TRACK_EVERY_S = 0.1


def prefill(kv_url: str, prefix: str, n: int, settings: Settings, batch: int = 5000) -> int:
    """One stable freshness record per namespace, observed at times spread over a sweep.

    As a watcher that has run for one ``LAYER_SWEEP_MAX_MS`` would have left the KV: the
    records, and where the running code keeps a sweep schedule (``backend.sweep``), each
    namespace's next due time, computed by the watcher's own ``interval_ms``. Fields the
    running code's ``Freshness`` does not have are left out.
    """
    fields = {f.name for f in dataclasses.fields(Freshness)}
    defaults = Freshness().to_dict()
    sweep_max_ms = int(getattr(settings, "sweep_max_ms", 3_600_000))
    shards = int(getattr(settings, "watch_shards", 1))
    sweep_mod: Any = None
    shard_of: Any = None
    try:  # the scaled-out watcher's schedule; absent in the poll-everything design
        sweep_mod = importlib.import_module("backend.sweep")
        shard_of = importlib.import_module("backend.freshness").shard_of
    except (ImportError, AttributeError):
        sweep_mod = None
    kv = open_kv(kv_url)
    rng = random.Random(0)
    now = now_ms()
    made = 0
    items: list[tuple[str, dict[str, Any]]] = []
    sched: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        ns = f"{prefix}{i:05d}"
        seen = now - rng.randrange(max(sweep_max_ms, 1))
        rec: dict[str, Any] = {
            "is_stable": True,
            "stable_as_of": seen,
            "last_poll_ms": seen,
            "observed_ms": seen,
            "index_status": "up-to-date",
            "last_write_ms": seen - 30 * 86_400_000,
            "row_count": 1 + i % 5,
            "size_bytes": 200,
            "unindexed_bytes": None,
        }
        if sweep_mod is not None:
            rec["shard"] = shard_of(ns, shards)
        value = {**defaults, **{k: v for k, v in rec.items() if k in fields}}
        items.append((ns, value))
        if sweep_mod is not None:
            fr = Freshness.from_dict(value)
            due = seen + sweep_mod.interval_ms(fr, seen, settings.watch_interval_ms, sweep_max_ms)
            sched.append((sweep_mod.sweep_key(rec["shard"], ns), sweep_mod.sweep_value(fr, due)))
        if len(items) >= batch:
            made += kv.put_many(SET, items)
            if sched:
                kv.put_many(sweep_mod.SET, sched)
            items, sched = [], []
    if items:
        made += kv.put_many(SET, items)
    if sched:
        kv.put_many(sweep_mod.SET, sched)
    kv.close()
    return made


class _Loop:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _spawn(self, target: Any, count: int = 1) -> None:
        for _ in range(count):
            t = threading.Thread(target=target, daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


class RateSampler(_Loop):
    """The emulator's metadata calls per second, one figure per second."""

    def __init__(self, emu_url: str) -> None:
        super().__init__()
        self.url = f"{emu_url}/_emulator/stats"
        self.rates: list[float] = []

    def start(self) -> None:
        self._spawn(self._run)

    def _run(self) -> None:
        s = requests.Session()
        prev = s.get(self.url, timeout=10).json()["metadata"]
        t_prev = time.monotonic()
        while not self._stop.wait(1.0):
            cur = s.get(self.url, timeout=10).json()["metadata"]
            t = time.monotonic()
            self.rates.append((cur - prev) / (t - t_prev))
            prev, t_prev = cur, t


class LagTracker(_Loop):
    """From indexing done (write returned + index lag) to a stable record of a later poll."""

    def __init__(self, kv_url: str, index_lag_ms: int) -> None:
        super().__init__()
        self.store = FreshnessStore(open_kv(kv_url))
        self.index_lag_ms = index_lag_ms
        self._lock = threading.Lock()
        self._tracked: dict[str, int] = {}  # ns -> ms the write returned
        self.lags_ms: list[float] = []
        self.waiting_ms: list[float] = []
        self.unsettled = 0

    def offer(self, ns: str, done_ms: int) -> None:
        with self._lock:
            if ns not in self._tracked and len(self._tracked) < TRACK_MAX:
                self._tracked[ns] = done_ms

    def start(self) -> None:
        self._spawn(self._run)

    def _run(self) -> None:
        while not self._stop.wait(TRACK_EVERY_S):
            self._check()
        now = now_ms()
        with self._lock:
            # still unstable at the end: counted at their wait so far (a lower bound)
            self.unsettled = len(self._tracked)
            self.waiting_ms = [
                max(now - (t + self.index_lag_ms), 0) for t in self._tracked.values()
            ]

    def _check(self) -> None:
        now = now_ms()
        with self._lock:
            due = [(ns, t) for ns, t in self._tracked.items() if t + self.index_lag_ms <= now]
        for ns, done in due:
            fr = self.store.get(ns)
            polled = getattr(fr, "observed_ms", None) or fr.last_poll_ms
            if fr.is_stable and polled is not None and polled > done:
                seen = now_ms()
                with self._lock:
                    self._tracked.pop(ns, None)
                    self.lags_ms.append(max(seen - (done + self.index_lag_ms), 0))


class Writer(_Loop):
    """Upserts through Layer into random namespaces at ``rate`` per second, on a schedule."""

    def __init__(self, layer_url: str, prefix: str, n: int, rate: float, tracker: LagTracker):
        super().__init__()
        self.layer_url = layer_url
        self.prefix = prefix
        self.n = n
        self.rate = rate
        self.tracker = tracker
        self.done = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._issued = 0
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._spawn(self._run, count=WRITER_THREADS)

    def _next(self) -> int | None:
        """The slot this thread sends next, once it is due; None when stopping."""
        while not self._stop.is_set():
            with self._lock:
                due = int((time.monotonic() - self._t0) * self.rate)
                if self._issued < due:
                    self._issued += 1
                    return self._issued
            time.sleep(0.005)
        return None

    def _run(self) -> None:
        s = requests.Session()
        rng = random.Random()
        while (k := self._next()) is not None:
            ns = f"{self.prefix}{rng.randrange(self.n):05d}"
            body = {"upsert_rows": [{"id": 1000 + k, "bench": k}]}
            try:
                r = s.post(f"{self.layer_url}/v2/namespaces/{ns}", json=body, timeout=30)
                ok = r.status_code == 200
            except requests.RequestException:
                ok = False
            with self._lock:
                if ok:
                    self.done += 1
                else:
                    self.errors += 1
            if ok:
                self.tracker.offer(ns, now_ms())


def lease_holders(kv_url: str) -> dict[str, str]:
    """Lease key -> holder id, for leases unexpired now."""
    kv = open_kv(kv_url)
    try:
        now = now_ms()
        return {
            key: str(rec.value.get("holder"))
            for key, rec in kv.scan("lease")
            if int(rec.value.get("expires_ms", 0)) >= now
        }
    finally:
        kv.close()


def takeover_s(kv_url: str, pid: int, keys: list[str], timeout_s: float) -> float | None:
    """Seconds until every lease in ``keys`` is held, unexpired, by a process other than ``pid``."""
    if not keys:
        return 0.0
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        holders = lease_holders(kv_url)
        if all(k in holders and f":{pid}:" not in holders[k] for k in keys):
            return time.monotonic() - t0
        time.sleep(0.1)
    return None


def expected_leases(settings: Settings) -> int:
    """How many leases the running watcher design holds in all: one per shard, or one."""
    try:
        importlib.import_module("backend.shards")
    except ImportError:
        return 1
    return int(getattr(settings, "watch_shards", 1))


def wait_shared(kv_url: str, pids: list[int], leases: int, timeout_s: float) -> float | None:
    """Seconds until all ``leases`` are held and every process holds its share (or None)."""
    t0 = time.monotonic()
    want_holders = min(len(pids), leases)
    while time.monotonic() - t0 < timeout_s:
        holders = list(lease_holders(kv_url).values())
        per = [sum(1 for h in holders if f":{pid}:" in h) for pid in pids]
        fair = max(per) <= -(-leases // len(pids))  # nobody above a fair share
        if sum(per) >= leases and sum(1 for c in per if c) >= want_holders and fair:
            return time.monotonic() - t0
        time.sleep(0.2)
    return None
