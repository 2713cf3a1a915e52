"""The watcher's upstream budget: a token bucket over every metadata and list call.

``LAYER_WATCH_MAX_RPS`` is the deployment's budget; each watcher process refills at its
share (``max_rps × shards held / shards``), so the deployment as a whole never asks for
more than the setting. The bucket refills at ``rate / 1.1`` and holds at most a tenth of a
second of that (at least one token), so over any window of W seconds a watcher makes at
most ``rate × (W + 0.1) / 1.1`` calls (plus one): no second ever holds more than the
budget, a pause never turns into a burst, and a thread that wakes a little late (a busy
host) finds the tokens that came meanwhile instead of losing them. A 429 (or any ``Retry-After``) stops every call until the time the
upstream asked for, and halves the rate until a minute passes without another one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MIN_RATE = 0.05
RECOVER_S = 60.0
DEFAULT_BACKOFF_S = 1.0
WINDOW_S = 10.0
BURST_S = 0.1


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._base = max(rate, MIN_RATE)
        self._slow = 1.0
        self._tokens = 1.0
        self._stamp = clock()
        self.blocked_until = 0.0
        self._last_throttle = float("-inf")
        self.waited_s = 0.0
        self.throttled = 0
        self._calls: deque[float] = deque()

    @property
    def rate(self) -> float:
        return max(self._base * self._slow, MIN_RATE)

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self._refill(self._clock())
            self._base = max(rate, MIN_RATE)

    def _refill(self, now: float) -> None:
        if self._slow < 1.0 and now - self._last_throttle > RECOVER_S:
            self._slow = min(1.0, self._slow * 2)
            self._last_throttle = now
        refill = self.rate / (1 + BURST_S)
        cap = max(1.0, refill * BURST_S)
        self._tokens = min(cap, self._tokens + (now - self._stamp) * refill)
        self._stamp = now

    def available(self) -> float:
        """Tokens in hand right now (0 while backing off)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            return 0.0 if now < self.blocked_until else self._tokens

    def take(self, deadline: float | None = None) -> bool:
        """Wait for a token; False (and nothing taken) when it would come after ``deadline``."""
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                if now >= self.blocked_until and self._tokens >= 1.0:
                    self._tokens -= 1.0
                    self._calls.append(now)
                    while self._calls and self._calls[0] < now - WINDOW_S:
                        self._calls.popleft()
                    return True
                refill = self.rate / (1 + BURST_S)
                wait = max(self.blocked_until - now, (1.0 - self._tokens) / refill, 0.001)
                if deadline is not None and now + wait > deadline:
                    return False
            self._sleep(wait)
            with self._lock:
                self.waited_s += wait

    def throttle(self, retry_after_s: float | None) -> None:
        """The upstream said 429: stop until it said, and go slower for a while."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            wait = DEFAULT_BACKOFF_S if retry_after_s is None else retry_after_s
            self.blocked_until = max(self.blocked_until, now + wait)
            self._slow = max(self._slow / 2, 1 / 64)
            self._last_throttle = now
            self._tokens = 0.0
            self.throttled += 1

    def backoff_remaining_s(self) -> float:
        with self._lock:
            return max(0.0, self.blocked_until - self._clock())

    def calls_per_s(self) -> float:
        """Calls taken over the last ``WINDOW_S`` seconds, per second."""
        with self._lock:
            now = self._clock()
            while self._calls and self._calls[0] < now - WINDOW_S:
                self._calls.popleft()
            if not self._calls:
                return 0.0
            span = max(now - self._calls[0], 1.0)
            return len(self._calls) / span
