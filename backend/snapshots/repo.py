"""The durable chronology: bodies, history markers, activity events, and the KV mirror.

Write order is the crash-safety argument: the body first (create-if-absent, atomic),
then its history marker, then the activity events. A reader that finds a marker
always finds its body; a crash between steps leaves at worst a body without a marker,
which the next write of the same SHA completes. Writing an existing SHA whose marker
exists is a no-op.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from backend.errors import AmbiguousSha, BadRequest, NotFound
from backend.snapshots import layout
from backend.stores.errors import ObjectNotFound
from backend.stores.kv_base import KVStore
from backend.stores.object_base import ObjectStore
from common.canonical import FULL_SHA_LEN, HEX_RE, MIN_PREFIX_LEN, snapshot_sha

log = logging.getLogger(__name__)

LATEST_SET = "snapshot_latest"
MARKER_SET = "snapshot_markers"


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
            "fields": [f["name"] for f in body["fields"]]
            + [f["name"] for f in body["fields_skipped"]],
            "source": source,
            "job_id": job_id,
        }
        data = orjson.dumps(event)
        self.store.put(layout.activity_key(ts_ms, ns, sha), data, if_absent=True)
        self.store.put(layout.activity_ns_key(ns, ts_ms, sha), data, if_absent=True)
        self.mirror_latest(body, extra_state or {})
        return True

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
        # The KV index is a cache: fall back to scanning the history keys (keys only).
        prefix = layout.history_prefix(ns)
        after: str | None = None
        while True:
            keys = self.store.list(prefix, start_after=after, limit=1000)
            for key in keys:
                if key.endswith("-" + sha):
                    self.kv.put(MARKER_SET, f"{ns}/{sha}", {"marker": key})
                    return key
            if len(keys) < 1000:
                raise NotFound(f"snapshot {sha} has no history entry in namespace {ns!r}")
            after = keys[-1]

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
            if not cursor.startswith(prefix) or "\x00" in cursor:
                raise BadRequest("cursor does not belong to this feed", param="cursor")
            start_after = cursor
        else:
            start_after = f"{prefix}{max(since, 0):013d}"
        keys = self.store.list(prefix, start_after=start_after, limit=limit + 1)
        more = len(keys) > limit
        keys = keys[:limit]
        events = list(self.pool.map(lambda k: orjson.loads(self.store.get(k)), keys))
        events = [e for e in events if e.get("ts_ms", 0) >= since]
        return {"events": events, "next_cursor": keys[-1] if more and keys else None}
