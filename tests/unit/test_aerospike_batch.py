"""Batch writes retry the records a batch did not take (``backend/stores/aerospike_batch``).

The loop alone, with a ``submit`` that fails chosen records the way a loaded server does
(``NoResponse``, -15, for part of a batch); no server needed. The same loop against a
real server, with records of the first batch refused, is in ``test_cache_kv.py``.
"""

from __future__ import annotations

import pytest

from backend.stores.aerospike_batch import ATTEMPTS, BACKOFF_MAX_S, BACKOFF_S, write_all
from backend.stores.errors import StoreUnavailable

NO_RESPONSE = -15
TOO_BIG = 13


class Server:
    """Takes a batch; refuses the records named in ``refuse`` (each as often as it says)."""

    def __init__(self, refuse: dict[int, int], code: int = NO_RESPONSE) -> None:
        self.refuse = dict(refuse)
        self.code = code
        self.written: list[int] = []
        self.batches: list[list[int]] = []

    def submit(self, records: list[int]) -> list[int]:
        self.batches.append(list(records))
        out = []
        for rec in records:
            if self.refuse.get(rec, 0) > 0:
                self.refuse[rec] -= 1
                out.append(self.code)
            else:
                self.written.append(rec)
                out.append(0)
        return out


def test_the_records_a_batch_did_not_take_are_written_again_alone() -> None:
    server = Server({3: 1, 7: 2, 4999: 1})
    slept: list[float] = []
    attempts = write_all(list(range(5000)), server.submit, store="kv (t)", sleep=slept.append)
    assert attempts == 3
    assert sorted(server.written) == list(range(5000))  # each once: none lost, none twice
    assert server.batches[1:] == [[3, 7, 4999], [7]]  # only the failed ones again
    assert slept == [BACKOFF_S, BACKOFF_S * 2]


def test_records_that_keep_failing_fail_the_batch_clearly_after_bounded_attempts() -> None:
    server = Server({5: 100})
    slept: list[float] = []
    with pytest.raises(StoreUnavailable) as info:
        write_all(list(range(10)), server.submit, store="kv (t)", sleep=slept.append)
    assert len(server.batches) == ATTEMPTS
    assert info.value.store == "kv (t)"
    assert "1 of 1 batch writes failed (result -15: still failing after" in str(info.value)
    assert len(slept) == ATTEMPTS - 1 and max(slept) <= BACKOFF_MAX_S
    assert sum(slept) < 5  # bounded: a dead batch fails within seconds, not minutes


def test_a_result_that_cannot_get_better_fails_at_once() -> None:
    server = Server({2: 1}, code=TOO_BIG)
    slept: list[float] = []
    with pytest.raises(StoreUnavailable, match=r"result 13: cannot be retried"):
        write_all(list(range(10)), server.submit, store="kv (t)", sleep=slept.append)
    assert len(server.batches) == 1 and slept == []


def test_nothing_to_write_sends_nothing() -> None:
    server = Server({})
    assert write_all([], server.submit, store="kv (t)") == 0
    assert server.batches == []
