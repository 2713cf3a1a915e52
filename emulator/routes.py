"""Namespace metadata and schema routes: GET/PATCH metadata, POST schema.

``index`` is ``updating`` (with ``unindexed_bytes``/``unindexed_rows``) while the last
writes are younger than the index lag, else ``up-to-date``. With ``small_ns_bytes`` set,
a namespace under that many logical bytes is never indexed, like on the real service:
it reports ``up-to-date`` with ``approx_row_count`` and ``approx_logical_bytes`` 0, and
every query scans all of it exhaustively.

``PATCH /v1/namespaces/:ns/metadata`` takes ``read_only`` (writes are then 400) and
``pinning`` (``true``, an object, or ``null``/``false`` to remove); the emulator keeps
and shows them but pins nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from common.timeutil import iso_from_ms
from emulator.state import BadRequest, Namespace, State, Unprocessable
from emulator.validate import normalize_entry

_PINNING_KEYS = frozenset({"replicas"})


def is_small(ns: Namespace, small_ns_bytes: int) -> bool:
    return small_ns_bytes > 0 and ns.logical_bytes < small_ns_bytes


def unindexed_scanned(state: State, ns: Namespace, small_ns_bytes: int) -> int:
    """How many documents a query over ``ns`` scans outside an index right now."""
    if is_small(ns, small_ns_bytes):
        return len(ns.docs)
    if state.is_updating(ns):
        return min(ns.pending_rows, len(ns.docs))
    return 0


def metadata(state: State, ns: Namespace, version: str, small_ns_bytes: int) -> dict[str, Any]:
    with ns.lock:
        small = is_small(ns, small_ns_bytes)
        index: dict[str, Any] = (
            {
                "status": "updating",
                "unindexed_bytes": ns.pending_bytes,
                "unindexed_rows": ns.pending_rows,
            }
            if state.is_updating(ns) and not small
            else {"status": "up-to-date"}
        )
        written = ns.last_write_ms or ns.created_ms
        enc = ns.config.get("encryption") or {"mode": "default"}
        out: dict[str, Any] = {
            "schema": copy.deepcopy(ns.schema),
            "approx_row_count": 0 if small else len(ns.docs),
            "approx_logical_bytes": 0 if small else max(ns.logical_bytes, 0),
            "created_at": iso_from_ms(ns.created_ms),
            "updated_at": iso_from_ms(written),
            "last_write_at": iso_from_ms(written),
            "index": index,
            "encryption": enc if version == "v2" else {"sse": True},
        }
        if ns.config.get("read_only"):
            out["read_only"] = True
        if ns.config.get("pinning") is not None:
            out["pinning"] = ns.config["pinning"]
        return out


def update_metadata(state: State, name: str, body: Any, small_ns_bytes: int) -> dict[str, Any]:
    ns = state.get(name)
    if not isinstance(body, dict):
        raise Unprocessable("invalid type, expected struct UpdateMetadata")
    unknown = set(body) - {"read_only", "pinning"}
    if unknown:
        raise Unprocessable(
            f"unknown field `{sorted(unknown)[0]}`, expected `pinning` or `read_only`"
        )
    if "read_only" in body and not isinstance(body["read_only"], bool):
        raise BadRequest("read_only must be true or false")
    pinning = body.get("pinning", ...)
    if pinning is not ... and not (
        pinning is None
        or isinstance(pinning, bool)
        or (isinstance(pinning, dict) and set(pinning) <= _PINNING_KEYS)
    ):
        raise BadRequest('pinning must be true, false, null or {"replicas": N}')
    if isinstance(pinning, dict) and "replicas" in pinning:
        r = pinning["replicas"]
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= 64:
            raise BadRequest("pinning.replicas must be an integer between 1 and 64")
    with ns.lock:
        if "read_only" in body:
            ns.config["read_only"] = body["read_only"]
        if pinning is not ...:
            if pinning in (None, False):
                ns.config.pop("pinning", None)
            else:
                ns.config["pinning"] = (
                    dict(pinning) if isinstance(pinning, dict) else {"replicas": 1}
                )
    return metadata(state, ns, "v2", small_ns_bytes)


def update_schema(state: State, name: str, body: Any) -> dict[str, Any]:
    """``POST /v1/namespaces/:ns/schema``: merge entries; answers the whole new schema."""
    ns = state.get(name)
    if not isinstance(body, dict):
        raise Unprocessable("invalid type: expected a map of attribute: schema")
    if ns.config.get("read_only"):
        raise BadRequest(f"namespace '{name}' is read-only")
    with ns.lock:
        new = copy.deepcopy(ns.schema)
        for attr, spec in body.items():
            new[attr] = normalize_entry(attr, spec, new.get(attr))
        ns.schema.clear()
        ns.schema.update(new)
        return copy.deepcopy(ns.schema)
