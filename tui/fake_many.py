"""A lazy listing of very many namespaces for the fake client.

``GeneratedNamespaces(count)`` stands for ``count`` namespaces named
``{prefix}{i:0Nd}`` without holding them: a name is found by arithmetic (the
zero-padded names sort like their indices), a row is made from its index when a
page asks for it, and the state predicates repeat with a period of 100, so the rows
in one state after any point are enumerated directly. Memory stays a few hundred
bytes whatever ``count`` is, so a test can tell the dashboard's memory from the
fake's, and a million namespaces cost nothing to set up.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

PERIOD = 100
_TEAMS = ("search", "ads", "recs", "support", "growth")
_CACHE_STATES = ("warm", "cold", "cold", "cold", "warming", "stale")
STATES = ("unstable", "stuck", "error")


def _mix(i: int, seed: int) -> int:
    """A cheap, well-spread 32-bit hash of an index."""
    h = (i * 2654435761 + seed * 40503) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 2246822519) & 0xFFFFFFFF
    return h ^ (h >> 13)


def floor_sum(n: int, m: int, a: int, b: int) -> int:
    """sum(floor((a*i + b) / m) for i in range(n)) in O(log m) (a, b >= 0, m > 0)."""
    total = 0
    while True:
        if a >= m:
            total += (n - 1) * n // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            return total
        n, b = divmod(y_max, m)
        m, a = a, m


def residue_sum(n: int, m: int, a: int, b: int) -> int:
    """sum((a*i + b) % m for i in range(n)), in closed form."""
    return a * n * (n - 1) // 2 + b * n - m * floor_sum(n, m, a, b)


# Row counts and sizes are linear residues, so their totals have a closed form.
_COUNT = (2_654_435_761, 5_000_011)  # multiplier, modulus
_EXTRA = (131, 4096)


def _offsets(pred: Any) -> tuple[int, ...]:
    return tuple(o for o in range(PERIOD) if pred(o))


# Offsets within each period of 100: 3% unstable, 1% of them stuck (a subset), 1% errored.
UNSTABLE_AT = _offsets(lambda o: (o * 37 + 11) % PERIOD < 3)
STUCK_AT = _offsets(lambda o: (o * 37 + 11) % PERIOD == 0)
ERROR_AT = _offsets(lambda o: (o * 53 + 29) % PERIOD == 0)
_STATE_OFFSETS = {"unstable": UNSTABLE_AT, "stuck": STUCK_AT, "error": ERROR_AT}


class _Names:
    """The names as a read-only sequence, for ``bisect``."""

    def __init__(self, gen: GeneratedNamespaces) -> None:
        self.gen = gen

    def __len__(self) -> int:
        return self.gen.count

    def __getitem__(self, i: int) -> str:
        return self.gen.name(i)


class GeneratedNamespaces:
    def __init__(self, count: int, *, prefix: str = "ns-", now_ms: int, seed: int = 7) -> None:
        self.count = count
        self.prefix = prefix
        self.now_ms = now_ms
        self.seed = seed
        self.width = max(1, len(str(max(count - 1, 0))))
        self.overrides: dict[int, dict[str, Any]] = {}
        self._names = _Names(self)

    # -- names ------------------------------------------------------------------------

    def name(self, i: int) -> str:
        return f"{self.prefix}{i:0{self.width}d}"

    def index(self, name: str) -> int | None:
        """The index of a generated name, or None for any other string."""
        digits = name[len(self.prefix) :]
        if not name.startswith(self.prefix) or len(digits) != self.width or not digits.isdigit():
            return None
        i = int(digits)
        return i if i < self.count else None

    def first_after(self, name: str) -> int:
        """Index of the first generated name strictly greater than ``name``."""
        return bisect.bisect_right(self._names, name)

    def first_at_or_after(self, name: str) -> int:
        return bisect.bisect_left(self._names, name)

    # -- states -----------------------------------------------------------------------

    @staticmethod
    def in_state(i: int, state: str) -> bool:
        return i % PERIOD in _STATE_OFFSETS[state]

    def indices(self, start: int, state: str | None = None) -> Iterator[int]:
        """Indices from ``start`` on, only those in ``state`` when given."""
        if state is None:
            yield from range(start, self.count)
            return
        offsets = _STATE_OFFSETS[state]
        base = start - start % PERIOD
        while base < self.count:
            for off in offsets:
                i = base + off
                if start <= i < self.count:
                    yield i
            base += PERIOD

    def count_in(self, state: str) -> int:
        full, rest = divmod(self.count, PERIOD)
        offsets = _STATE_OFFSETS[state]
        return full * len(offsets) + sum(1 for o in offsets if o < rest)

    # -- rows -------------------------------------------------------------------------

    def row_count(self, i: int) -> int:
        return (_COUNT[0] * i + self.seed) % _COUNT[1]

    def size_bytes(self, i: int) -> int:
        return self.row_count(i) * 512 + (_EXTRA[0] * i + self.seed) % _EXTRA[1]

    def row(self, i: int) -> dict[str, Any]:
        h = _mix(i, self.seed)
        now = self.now_ms
        stable = not self.in_state(i, "unstable")
        row: dict[str, Any] = {
            "name": self.name(i),
            "row_count": self.row_count(i),
            "size_bytes": self.size_bytes(i),
            "stable_as_of_ms": now - ((h >> 3) % 3600) * 1000 - (0 if stable else 600_000),
            "is_stable": stable,
            "cache_state": {"state": _CACHE_STATES[(h >> 7) % 6], "warm_inflight": False},
            "last_write_ms": now - ((h >> 5) % (30 * 86_400)) * 1000,
            "shadow": False,
            "labels": {"team": _TEAMS[(h >> 11) % 5]} if (h >> 9) % 4 else {},
            "observed_ms": now - ((h >> 3) % 3600) * 1000,
            "index_stuck_since_ms": now - 900_000 - (h % 600) * 1000
            if self.in_state(i, "stuck")
            else None,
        }
        if self.in_state(i, "error"):
            row.update(
                row_count=None,
                size_bytes=None,
                metadata_error="upstream metadata call timed out",
            )
        if i in self.overrides:
            row.update(self.overrides[i])
        return row

    def totals(self) -> tuple[int, int]:
        """(rows, bytes) over every generated namespace, degraded rows included (the
        summary counts records, not listing rows), in closed form."""
        n, seed = self.count, self.seed
        rows = residue_sum(n, _COUNT[1], _COUNT[0], seed)
        extra = residue_sum(n, _EXTRA[1], _EXTRA[0], seed)
        return rows, rows * 512 + extra
