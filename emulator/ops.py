"""Asynchronous operations: ``Prefer: respond-async`` writes and ``start_copy_from``.

The work itself is done at once (the emulator has nothing to wait for); the operation
reports ``running`` until ``delay_ms`` has passed since it started, then ``finished``
with its result, in the shape the SDKs poll for at
``GET /v1/namespaces/{ns}/operations/{op}``:
``{"status": "finished", "start_time", "finish_time", "result": {"success": body}}`` or
``{"result": {"error": {"status_code", "detail": {"status": "error", "error"}}}}``.
Operations are kept for an hour, at most 10,000 of them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from common.timeutil import iso_from_ms
from emulator.state import NotFound

KEEP_MS = 3_600_000
KEEP_MAX = 10_000


@dataclass
class Operation:
    namespace: str
    started_ms: int
    ready_ms: int
    status: int
    body: Any


class Operations:
    def __init__(self) -> None:
        self._ops: OrderedDict[str, Operation] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, namespace: str, status: int, body: Any, delay_ms: int) -> str:
        now = time.time_ns() // 1_000_000
        op_id = uuid.uuid4().hex
        with self._lock:
            self._ops[op_id] = Operation(namespace, now, now + max(delay_ms, 0), status, body)
            while self._ops and (
                len(self._ops) > KEEP_MAX
                or next(iter(self._ops.values())).started_ms < now - KEEP_MS
            ):
                self._ops.popitem(last=False)
        return op_id

    def poll(self, namespace: str, op_id: str) -> dict[str, Any]:
        with self._lock:
            op = self._ops.get(op_id)
        if op is None or op.namespace != namespace:
            raise NotFound(f"operation '{op_id}' not found in namespace '{namespace}'")
        now = time.time_ns() // 1_000_000
        out: dict[str, Any] = {"start_time": iso_from_ms(op.started_ms)}
        if now < op.ready_ms:
            return {"status": "running", **out, "progress": "running"}
        out["finish_time"] = iso_from_ms(op.ready_ms)
        if op.status < 400:
            return {"status": "finished", **out, "result": {"success": op.body}}
        return {
            "status": "finished",
            **out,
            "result": {"error": {"status_code": op.status, "detail": op.body}},
        }
