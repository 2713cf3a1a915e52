"""Batch writes to Aerospike that retry the records a batch did not take.

A batch write can succeed as a command while some of its records fail: under load the
server answers part of a batch and the client marks the rest ``NoResponse`` (-15), or a
record is busy, the batch queues are full, a node times out. Such records are written
again, alone, after a back-off that doubles from ``BACKOFF_S`` up to ``BACKOFF_MAX_S``,
at most ``ATTEMPTS`` times in all. A record that fails with any other result (too big,
forbidden, a bad bin …) would fail again: the batch raises at once. Rewriting a record is
safe: every batch Layer sends writes whole values, last writer wins.

A batch command that fails as a whole (the server is down, the connection is gone)
raises at once too: the client's policy has retried it already, and the caller maps the
error to ``StoreUnavailable`` (a 503 naming the store).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from backend.stores.errors import StoreUnavailable

log = logging.getLogger(__name__)

ATTEMPTS = 6
BACKOFF_S = 0.05
BACKOFF_MAX_S = 2.0

# Per-record results worth another try: the record was not written for a reason that
# passes (load, a busy record, a node or the cluster changing), not because of what it is.
# The client's status codes (as_status.h; not all have an exception class in every
# client release this backend supports).
RETRYABLE = frozenset(
    {
        -16,  # BatchFailed: the node's part of the batch failed
        -15,  # NoResponse: the node answered part of the batch, not this record
        -12,  # MaxRetriesExceeded
        -10,  # ConnectionError
        -8,  # InvalidNode
        -7,  # NoMoreConnections
        7,  # ClusterChangeError
        9,  # Timeout
        11,  # PartitionUnavailable (ClusterError)
        14,  # RecordBusy: too many concurrent writes to the record
        18,  # DeviceOverload
        152,  # BatchQueueFull
    }
)

T = TypeVar("T")
Submit = Callable[[list[T]], Sequence[int]]


def write_all(
    records: list[T],
    submit: Submit[T],
    *,
    store: str,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write ``records`` with ``submit`` (one result code per record, in order, 0 when
    written) until all are written; return how many attempts it took.

    Raises ``StoreUnavailable`` naming ``store`` when a record fails with a result that
    is not worth a retry, or when some still fail after ``attempts`` attempts."""
    pending = records
    delay = BACKOFF_S
    for attempt in range(1, attempts + 1):
        if not pending:
            return attempt - 1
        results = submit(pending)
        failed = [(rec, code) for rec, code in zip(pending, results, strict=True) if code != 0]
        if not failed:
            return attempt
        final = [code for _, code in failed if code not in RETRYABLE]
        if final or attempt == attempts:
            code = final[0] if final else failed[0][1]
            why = "cannot be retried" if final else f"still failing after {attempts} attempts"
            raise StoreUnavailable(
                store,
                f"{len(failed)} of {len(pending)} batch writes failed (result {code}: {why})",
            )
        pending = [rec for rec, _ in failed]
        log.warning(
            "aerospike batch: records not taken, writing them again",
            extra={
                "store": store,
                "failed": len(failed),
                "result": failed[0][1],
                "attempt": attempt,
            },
        )
        sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX_S)
    return attempts
