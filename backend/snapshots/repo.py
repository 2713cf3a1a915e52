"""The durable chronology: bodies, history markers, activity events, and the KV mirror.

Write order is the crash-safety argument: the body first (create-if-absent, atomic),
then its history marker, then the activity events. A reader that finds a marker
always finds its body; a crash between steps leaves at worst a body without a marker,
which the next write of the same SHA completes. Writing an existing SHA whose marker
exists is a no-op. Retention (``retention.py``) deletes in the reverse order.

The KV mirror holds the latest body per namespace (``snapshot_latest``) and, per
(namespace, field), the SHA of the newest body that holds that field
(``snapshot_fields``), so ``stored`` finds a field that a later on-demand snapshot of
another field left out. Both are caches: on a miss the history markers are walked
newest first, a bounded number of bodies deep.

Every read route costs a bounded number of object-store requests whatever the
history's length: a history page is one listing, ``before=SHA`` adds one lookup of the
SHA's marker (KV index, else the body's watermark names it), an activity page is one
listing plus one read per event.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from backend.errors import AmbiguousSha, BadRequest, NotFound
from backend.snapshots import layout
from backend.snapshots.histogram import result_from_body
from backend.stores.errors import ObjectNotFound
from backend.stores.kv_base import KVStore
from backend.stores.object_base import ObjectStore
from common.canonical import FULL_SHA_LEN, HEX_RE, MIN_PREFIX_LEN, snapshot_sha

log = logging.getLogger(__name__)

LATEST_SET = "snapshot_latest"
MARKER_SET = "snapshot_markers"
FIELD_SET = "snapshot_fields"
FIELD_WALK_LIMIT = 200  # bodies read, newest first, when the field mirror misses
CURSOR_PREFIX = "c1."


def check_sha_param(sha: str, param: str = "sha") -> str:
    sha = sha.lower()
    if len(sha) < MIN_PREFIX_LEN or len(sha) > FULL_SHA_LEN or not HEX_RE.match(sha):
        raise BadRequest(
            f"{param} must be a full SHA or a prefix of at least {MIN_PREFIX_LEN} hex characters",
            param=param,
        )
    return sha


class SnapshotRepo:
    def __init__(self, store: ObjectStore, kv: KVStore) -> None:
        self.store = store
        self.kv = kv
        self._pool: ThreadPoolExecutor | None = None

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="layer-objects")
        return self._pool

    # -- writing -----------------------------------------------------------------------
    def write(
        self,
        body: dict[str, Any],
        *,
        ts_ms: int,
        source: str,
        job_id: str | None,
        extra_state: dict[str, Any] | None = None,
    ) -> bool:
        """Persist a body, its marker and its activity; mirror it as latest. False if it existed."""
        ns, sha, wm = body["namespace"], body["sha"], body["watermark_ms"]
        if snapshot_sha(body) != sha:
            raise ValueError("body sha does not match its content")
        created = self.store.put(layout.body_key(ns, sha), orjson.dumps(body), if_absent=True)
        marker = layout.history_key(ns, wm, sha)
        if not created and self.store.exists(marker):
            return False
        self.store.put(marker, b"", if_absent=True)
        self.kv.put(MARKER_SET, f"{ns}/{sha}", {"marker": marker})
        event = {
            "ts_ms": ts_ms,
            "namespace": ns,
            "sha": sha,
            "watermark_ms": wm,
            "fields": body_fields(body),
            "source": source,
            "job_id": job_id,
        }
        data = orjson.dumps(event)
        self.store.put(layout.activity_key(ts_ms, ns, sha), data, if_absent=True)
        self.store.put(layout.activity_ns_key(ns, ts_ms, sha), data, if_absent=True)
        self.mirror_latest(body, extra_state or {})
        self.mirror_fields(body)
        return True

    def mirror_fields(self, body: dict[str, Any]) -> None:
        """Point (namespace, field) at this body for every field it holds, unless newer."""
        ns, wm = body["namespace"], body["watermark_ms"]
        for name in body_fields(body):
            self._mirror_field(ns, name, body["sha"], wm)

    def _mirror_field(self, ns: str, field: str, sha: str, wm: int) -> None:
        key = f"{ns}/{field}"
        for _ in range(5):
            rec = self.kv.get(FIELD_SET, key)
            if rec is not None and rec.value.get("watermark_ms", -1) > wm:
                return
            value = {"sha": sha, "watermark_ms": wm}
            if self.kv.cas(FIELD_SET, key, value, 0 if rec is None else rec.generation) is not None:
                return

    def field_shas(self, ns: str) -> dict[str, str]:
        """field -> SHA of the newest body holding it, as the mirror has it."""
        out: dict[str, str] = {}
        for key, rec in self.kv.scan(FIELD_SET, f"{ns}/"):
            if isinstance(rec.value.get("sha"), str):
                out[key.split("/", 1)[1]] = rec.value["sha"]
        return out

    def protected_shas(self, ns: str) -> set[str]:
        """The SHAs the KV mirror points at: retention never deletes them."""
        shas = set(self.field_shas(ns).values())
        state = self.latest_state(ns)
        if state and isinstance(state.get("sha"), str):
            shas.add(state["sha"])
        return shas

    def mirror_latest(self, body: dict[str, Any], state: dict[str, Any]) -> None:
        ns = body["namespace"]
        for _ in range(5):
            rec = self.kv.get(LATEST_SET, ns)
            if rec is not None and rec.value.get("watermark_ms", -1) > body["watermark_ms"]:
                return
            carried = {
                k: v
                for k, v in (rec.value if rec else {}).items()
                if k not in ("sha", "watermark_ms", "body")
            }
            value = {
                **carried,
                **state,
                "sha": body["sha"],
                "watermark_ms": body["watermark_ms"],
                "body": body,
            }
            if self.kv.cas(LATEST_SET, ns, value, 0 if rec is None else rec.generation) is not None:
                return

    # -- reading -----------------------------------------------------------------------
    def latest(self, ns: str) -> dict[str, Any] | None:
        """The latest body: the KV mirror first, the newest history marker on a miss."""
        rec = self.kv.get(LATEST_SET, ns)
        if rec is not None and isinstance(rec.value.get("body"), dict):
            return dict(rec.value["body"])
        keys = self.store.list(layout.history_prefix(ns), limit=1)
        if not keys:
            return None
        _, sha = layout.parse_history_key(keys[0])
        body = self.get_body(ns, sha)
        self.mirror_latest(body, {})
        return body

    def body_for_field(self, ns: str, field: str) -> dict[str, Any] | None:
        """The newest body that holds ``field`` complete (values or the cap's skip), or None.

        The field mirror first (one KV read, plus one body read unless it is the latest);
        else the latest body; else the markers newest first, at most ``FIELD_WALK_LIMIT``
        bodies deep, repairing the mirror with what it finds.
        """
        rec = self.kv.get(FIELD_SET, f"{ns}/{field}")
        latest = self.latest(ns)
        if latest is None:
            return None
        if rec is not None and isinstance(rec.value.get("sha"), str):
            sha = rec.value["sha"]
            if latest.get("sha") == sha:
                return latest
            try:
                body = self.get_body(ns, sha)
            except NotFound:
                body = None  # pruned or lost: fall back to the walk
            if body is not None and result_from_body(body, field) is not None:
                return body
        if result_from_body(latest, field) is not None:
            self._mirror_field(ns, field, latest["sha"], latest["watermark_ms"])
            return latest
        for body in self._walk_bodies(ns, FIELD_WALK_LIMIT):
            if result_from_body(body, field) is not None:
                self._mirror_field(ns, field, body["sha"], body["watermark_ms"])
                return body
        return None

    def _walk_bodies(self, ns: str, limit: int) -> Iterator[dict[str, Any]]:
        """Bodies newest first by their markers, ``limit`` at most, 16 read at a time."""
        after: str | None = None
        left = limit
        while left > 0:
            keys = self.store.list(
                layout.history_prefix(ns), start_after=after, limit=min(16, left)
            )
            if not keys:
                return
            left -= len(keys)
            after = keys[-1]

            def load(key: str) -> dict[str, Any] | None:
                try:
                    return self.get_body(ns, layout.parse_history_key(key)[1])
                except NotFound:
                    return None  # being pruned

            for body in self.pool.map(load, keys):
                if body is not None:
                    yield body

    def latest_state(self, ns: str) -> dict[str, Any] | None:
        rec = self.kv.get(LATEST_SET, ns)
        return None if rec is None else {k: v for k, v in rec.value.items() if k != "body"}

    def resolve(self, ns: str, sha: str, param: str = "sha") -> str:
        sha = check_sha_param(sha, param)
        if len(sha) == FULL_SHA_LEN:
            if self.store.exists(layout.body_key(ns, sha)):
                return sha
            raise NotFound(f"no snapshot {sha} in namespace {ns!r}")
        prefix = layout.bodies_prefix(ns)
        keys = self.store.list(prefix + sha, limit=10)
        shas = [k[len(prefix) :].removesuffix(".json") for k in keys if k.endswith(".json")]
        if not shas:
            raise NotFound(f"no snapshot matching {sha!r} in namespace {ns!r}")
        if len(shas) > 1:
            raise AmbiguousSha(f"{sha!r} matches more than one snapshot", candidates=shas)
        return shas[0]

    def get_body(self, ns: str, sha: str) -> dict[str, Any]:
        try:
            data = self.store.get(layout.body_key(ns, sha))
        except ObjectNotFound:
            raise NotFound(f"no snapshot {sha} in namespace {ns!r}") from None
        body = orjson.loads(data)
        assert isinstance(body, dict)
        return body

    def _marker_for(self, ns: str, sha: str) -> str:
        rec = self.kv.get(MARKER_SET, f"{ns}/{sha}")
        if rec is not None and isinstance(rec.value.get("marker"), str):
            return str(rec.value["marker"])
        # The KV index is a cache. On a miss the body's own watermark names the marker:
        # one read and one existence check, however long the history.
        marker = layout.history_key(ns, int(self.get_body(ns, sha)["watermark_ms"]), sha)
        if not self.store.exists(marker):
            raise NotFound(f"snapshot {sha} has no history entry in namespace {ns!r}")
        self.kv.put(MARKER_SET, f"{ns}/{sha}", {"marker": marker})
        return marker

    def history(self, ns: str, limit: int, before: str | None) -> list[dict[str, Any]]:
        start_after = None
        if before is not None:
            start_after = self._marker_for(ns, self.resolve(ns, before, "before"))
        keys = self.store.list(layout.history_prefix(ns), start_after=start_after, limit=limit)
        out = []
        for key in keys:
            wm, sha = layout.parse_history_key(key)
            out.append({"watermark_ms": wm, "sha": sha})
        return out

    def activity(
        self, since: int, limit: int, namespace: str | None, cursor: str | None
    ) -> dict[str, Any]:
        prefix = layout.activity_ns_prefix(namespace) if namespace else "activity/"
        if cursor is not None:
            start_after = decode_cursor(cursor, prefix)
        else:
            start_after = f"{prefix}{max(since, 0):013d}"
        keys = self.store.list(prefix, start_after=start_after, limit=limit + 1)
        more = len(keys) > limit
        keys = keys[:limit]

        def load(key: str) -> dict[str, Any] | None:
            try:
                event = orjson.loads(self.store.get(key))
            except ObjectNotFound:
                return None  # removed by activity retention since the listing
            return event if isinstance(event, dict) else None

        events = [e for e in self.pool.map(load, keys) if e is not None]
        events = [e for e in events if e.get("ts_ms", 0) >= since]
        return {"events": events, "next_cursor": encode_cursor(keys[-1]) if more and keys else None}


def body_fields(body: dict[str, Any]) -> list[str]:
    return [f["name"] for f in body.get("fields", [])] + [
        f["name"] for f in body.get("fields_skipped", [])
    ]


def encode_cursor(key: str) -> str:
    """An activity cursor: opaque to clients (the storage key, urlsafe base64)."""
    return CURSOR_PREFIX + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str) -> str:
    """The storage key a cursor stands for; the old raw-key form is still accepted."""
    if cursor.startswith(CURSOR_PREFIX):
        raw = cursor[len(CURSOR_PREFIX) :]
        try:
            padded = raw + "=" * (-len(raw) % 4)
            key = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadRequest(
                "cursor is malformed: pass next_cursor back as given", param="cursor"
            ) from None
    else:
        key = cursor
    if not key.startswith(prefix) or any(ord(c) < 32 for c in key):
        raise BadRequest("cursor does not belong to this feed", param="cursor")
    return key
