"""Background writes to random namespaces, so a benchmark keeps a chosen share active.

``--churn RATE[:PREFIX]`` or ``POST /_emulator/churn {"rate": 50, "prefix": "t-"}``:
``rate`` upserts per second, each to a namespace drawn uniformly among those whose
name starts with ``prefix``. They go through ``State.write`` like any client's, so
they materialize an idle namespace, move its ``last_write_at`` and leave it
``updating`` for the emulator's index lag. A stall (a loaded machine) does not turn
into a burst: writes more than a second behind schedule are dropped and counted.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from emulator.state import NAME_RE, BadRequest, EmulatorError, State

log = logging.getLogger(__name__)

MAX_RATE = 10_000.0
TICK_S = 0.02
RECENT = 1000


def parse_churn(body: Any) -> tuple[float | None, str | None]:
    """``{"rate", "prefix"}`` checked; each None when absent. BadRequest names the field."""
    if not isinstance(body, dict):
        raise BadRequest("churn body must be an object")
    rate = body.get("rate")
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= MAX_RATE:
            raise BadRequest(f"rate must be a number of writes per second from 0 to {MAX_RATE:g}")
        rate = float(rate)
    prefix = body.get("prefix")
    if prefix is not None and (
        not isinstance(prefix, str) or (prefix and not NAME_RE.match(prefix))
    ):
        raise BadRequest("prefix must be a string of namespace-name characters [A-Za-z0-9-_.]")
    return rate, prefix


def parse_spec(text: str) -> tuple[float, str]:
    """``RATE[:PREFIX]`` from the command line; ValueError with the reason."""
    rate_s, _, prefix = text.partition(":")
    try:
        rate = float(rate_s)
    except ValueError:
        raise ValueError(f"RATE must be a number in {text!r}") from None
    try:
        parse_churn({"rate": rate, "prefix": prefix})
    except BadRequest as exc:
        raise ValueError(exc.message) from None
    return rate, prefix


class Churn:
    """The churn writer; its thread starts with the first positive rate."""

    def __init__(self, state: State, rate: float = 0.0, prefix: str = "") -> None:
        self.state = state
        self.rate = rate
        self.prefix = prefix
        self.writes = 0
        self.errors = 0
        self.dropped = 0
        self.misses = 0
        self.last_write_ms: int | None = None
        self._touched: set[str] = set()
        self._recent: collections.deque[tuple[str, int]] = collections.deque(maxlen=RECENT)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        self._epoch = time.monotonic()
        self._due_done = 0
        self.on_write: Callable[[str], None] | None = None  # the poll tracker's hook
        if rate > 0:
            self._ensure_thread()

    def set(self, rate: float | None, prefix: str | None) -> None:
        with self._lock:
            if rate is not None:
                self.rate = rate
            if prefix is not None:
                self.prefix = prefix
            self._epoch = time.monotonic()  # the schedule restarts at the new rate
            self._due_done = 0
        if self.rate > 0:
            self._ensure_thread()

    def status(self, recent: int = 0) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                "rate": self.rate,
                "prefix": self.prefix,
                "writes": self.writes,
                "errors": self.errors,
                "dropped": self.dropped,
                "misses": self.misses,
                "namespaces_written": len(self._touched),
                "last_write_ms": self.last_write_ms,
            }
            if recent:
                tail = list(self._recent)[-recent:]
                out["recent"] = [{"namespace": n, "written_ms": ms} for n, ms in tail]
            return out

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="emulator-churn", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                rate, prefix = self.rate, self.prefix
                due = int(rate * (time.monotonic() - self._epoch)) - self._due_done
                if due > max(rate, 1.0):  # more than a second behind: drop, do not burst
                    self.dropped += due - int(rate)
                    self._due_done += due - int(rate)
                    due = int(rate)
                self._due_done += max(due, 0)
            for _ in range(max(due, 0)):
                self._write_one(prefix)

    def _write_one(self, prefix: str) -> None:
        name = self.state.registry.random_name(prefix, self._rng)
        if name is None:
            with self._lock:
                self.misses += 1
            return
        rng = self._rng
        row = {
            "id": rng.randint(1, 8),
            "status": "churned",
            "score": round(rng.random() * 100, 3),
            "_layer_written_ms": self.state.clock(),
        }
        try:
            self.state.write(name, {"upsert_rows": [row]})
        except EmulatorError as exc:  # e.g. a namespace of string ids
            with self._lock:
                self.errors += 1
            log.debug("churn write to %s refused: %s", name, exc.message)
            return
        if self.on_write is not None:
            self.on_write(name)
        now = self.state.clock()
        with self._lock:
            self.writes += 1
            self.last_write_ms = now
            self._touched.add(name)
            self._recent.append((name, now))
