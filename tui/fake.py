"""An in-memory stand-in for Layer's API, serving payloads in the documented shapes.

Used by the tests (with canned payloads), the demo (``python -m tui.demo_fake``) and
the benchmark (10,000 synthetic namespaces). It behaves like the backend where the
dashboard can tell: cursor paging, ``before=`` history paging, jobs whose progress
advances on every poll, an activity stream read oldest first with a cursor, and the
``{"error": {...}}`` contract (raised as ``LayerAPIError``).
"""

from __future__ import annotations

import base64
import bisect
import copy
import hashlib
import heapq
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

from common.api_client import LayerAPIError, LayerClientError
from tui.fake_many import STATES, GeneratedNamespaces

FIELD_VALUES: dict[str, list[Any]] = {
    "category": ["books", "electronics", "garden", "toys", "music", "sports", "food"],
    "brand": ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Soylent"],
    "color": ["red", "green", "blue", "black", "white"],
    "in_stock": [True, False],
}


def body_sha(body: dict[str, Any]) -> str:
    """Layer's SHA: SHA-256 of the canonical JSON of the body without ``sha``."""
    data = {k: v for k, v in body.items() if k != "sha"}
    return hashlib.sha256(
        json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def iso(ms: int) -> str:
    """Layer's timestamp format: UTC with milliseconds, ``2026-11-23T12:05:33.375Z``."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def with_sha(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its ``sha``, keys in the backend's order."""
    sha = body_sha(body)
    out = {"namespace": body["namespace"], "watermark_ms": body["watermark_ms"], "sha": sha}
    out.update((k, v) for k, v in body.items() if k not in out)
    return out


def encode_cursor(name: str) -> str:
    """Opaque, like the real listing's cursors (the emulator's encoding)."""
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise LayerAPIError(400, "bad_request", "cursor is not a valid listing cursor") from exc


def in_state(row: dict[str, Any], state: str) -> bool:
    """Whether a listing row is in a ``state=`` filter's state."""
    if state == "unstable":
        return not row.get("is_stable")
    if state == "stuck":
        return row.get("index_stuck_since_ms") is not None
    return bool(row.get("metadata_error"))


def _copy_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough that the caller cannot mutate our state (cheaper than deepcopy)."""
    out = dict(row)
    out["cache_state"] = dict(row.get("cache_state") or {})
    out["labels"] = dict(row.get("labels") or {})
    return out


def compute_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The diff payload between two bodies, in the backend's shape: fields in ``a``'s
    order then ``b``'s new ones, both watermarks, and the skipped fields of each side."""
    fa = {f["name"]: {json.dumps(x["v"]): x for x in f["values"]} for f in a.get("fields", [])}
    fb = {f["name"]: {json.dumps(x["v"]): x for x in f["values"]} for f in b.get("fields", [])}
    fields = []
    for name in list(fa) + [n for n in fb if n not in fa]:
        va, vb = fa.get(name, {}), fb.get(name, {})
        changes = []
        for key in set(va) | set(vb):
            n_from = va[key]["n"] if key in va else 0
            n_to = vb[key]["n"] if key in vb else 0
            if n_from != n_to:
                v = (va.get(key) or vb[key])["v"]
                changes.append({"v": v, "from": n_from, "to": n_to, "delta": n_to - n_from})
        changes.sort(key=lambda c: (-abs(c["delta"]), json.dumps(c["v"])))
        if name not in fa:
            status = "added"
        elif name not in fb:
            status = "removed"
        else:
            status = "changed" if changes else "unchanged"
        fields.append({"name": name, "status": status, "changes": changes})
    return {
        "from": a["sha"],
        "to": b["sha"],
        "watermark_from": a.get("watermark_ms"),
        "watermark_to": b.get("watermark_ms"),
        "fields": fields,
        "fields_skipped": {
            "from": sorted(f["name"] for f in a.get("fields_skipped", [])),
            "to": sorted(f["name"] for f in b.get("fields_skipped", [])),
        },
    }


FILTER_OPS = frozenset(
    {
        *("Eq", "NotEq", "In", "NotIn", "Lt", "Lte", "Gt", "Gte"),
        *("Contains", "NotContains", "ContainsAny", "NotContainsAny"),
        *("Glob", "NotGlob", "IGlob", "NotIGlob", "And", "Or", "Not"),
    }
)


class FakeLayerClient:
    """Thread-safe fake. Set ``failure`` to an exception to make every call raise it."""

    def __init__(
        self,
        namespaces: list[dict[str, Any]],
        *,
        metadata: dict[str, dict[str, Any]] | None = None,
        histories: dict[str, list[dict[str, Any]]] | None = None,
        bodies: dict[str, dict[str, Any]] | None = None,
        jobs: dict[str, list[dict[str, Any]]] | None = None,
        activity: list[dict[str, Any]] | None = None,
        job_steps: int = 3,
        now_ms: int = 1_747_300_010_000,
        synthesize: bool = False,
        generated: GeneratedNamespaces | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.namespaces = sorted(copy.deepcopy(namespaces), key=lambda r: r["name"])
        self._name_list: list[str] | None = None
        self.generated = generated
        self._generated_totals: tuple[int, int] | None = None
        self.dirty = 0
        self.latency_s = 0.0  # per listing call, outside the lock (as a slow backend)
        self.sweep: dict[str, Any] = {"max_ms": 3_600_000, "cycle_ms": 1_800_000, "stretch": 1.0}
        self.upstream: dict[str, Any] = {
            "calls_per_s": 42.0,
            "max_rps": 100.0,
            "backoff_until_ms": None,
        }
        self.shards: list[dict[str, Any]] = [
            {"shard": i, "holder": "watcher-1", "expires_ms": now_ms + 15_000} for i in range(16)
        ]
        self._metadata = copy.deepcopy(metadata or {})
        self._histories = copy.deepcopy(histories or {})
        self._bodies = copy.deepcopy(bodies or {})
        self._jobs = copy.deepcopy(jobs or {})
        self._events = sorted(copy.deepcopy(activity or []), key=lambda e: e["ts_ms"])
        self.job_steps = job_steps
        self.now_ms = now_ms
        self.synthesize = synthesize
        self.failure: LayerClientError | None = None
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._job_seq = 0
        self.budget_ms: int | None = None  # from whoami, through use_budget

    # -- test helpers -----------------------------------------------------------------

    def _enter(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.failure is not None:
            raise self.failure

    def calls_to(self, name: str) -> list[tuple[Any, ...]]:
        with self._lock:
            return [args for n, args in self.calls if n == name]

    def add_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(copy.deepcopy(event))
            self._events.sort(key=lambda e: e["ts_ms"])

    def update_namespace(self, name: str, **changes: Any) -> None:
        with self._lock:
            for row in self.namespaces:
                if row["name"] == name:
                    row.update(changes)
                    return
            idx = self.generated.index(name) if self.generated is not None else None
            if self.generated is not None and idx is not None:
                self.generated.overrides.setdefault(idx, {}).update(changes)

    def add_namespace(self, row: dict[str, Any]) -> None:
        with self._lock:
            self.namespaces.append(copy.deepcopy(row))
            self.namespaces.sort(key=lambda r: r["name"])
            self._name_list = None

    def remove_namespace(self, name: str) -> None:
        with self._lock:
            self.namespaces = [r for r in self.namespaces if r["name"] != name]
            self._name_list = None

    # -- inventory --------------------------------------------------------------------

    def list_namespaces(
        self,
        prefix: str | None = None,
        cursor: str | None = None,
        page_size: int = 1000,
        state: str | None = None,
    ) -> dict[str, Any]:
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            self._enter("list_namespaces", prefix, cursor, page_size, state)
            if state is not None and state not in STATES:
                raise LayerAPIError(
                    400, "bad_request", "state must be one of unstable, stuck, error"
                )
            after = decode_cursor(cursor) if cursor else None
            page: list[dict[str, Any]] = []
            more = False
            for name, make in heapq.merge(
                self._explicit_from(after, prefix, state),
                self._generated_from(after, prefix, state),
                key=lambda item: item[0],
            ):
                if prefix and not name.startswith(prefix):
                    break
                if len(page) == page_size:
                    more = True
                    break
                page.append(make())
            return {
                "namespaces": page,
                "next_cursor": encode_cursor(page[-1]["name"]) if more and page else None,
            }

    def _names(self) -> list[str]:
        if self._name_list is None:
            self._name_list = [r["name"] for r in self.namespaces]
        return self._name_list

    def _explicit_from(
        self, after: str | None, prefix: str | None, state: str | None
    ) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
        names = self._names()
        lo = bisect.bisect_right(names, after) if after else 0
        if prefix:
            lo = max(lo, bisect.bisect_left(names, prefix))
        for row in self.namespaces[lo:]:
            if state is None or in_state(row, state):
                yield row["name"], partial(_copy_row, row)

    def _generated_from(
        self, after: str | None, prefix: str | None, state: str | None
    ) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
        gen = self.generated
        if gen is None:
            return
        lo = gen.first_after(after) if after else 0
        if prefix:
            lo = max(lo, gen.first_at_or_after(prefix))
        for i in gen.indices(lo, state):
            yield gen.name(i), partial(gen.row, i)

    def iter_all_namespaces(
        self, prefix: str | None = None, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page = self.list_namespaces(prefix=prefix, cursor=cursor, page_size=page_size)
            yield from page["namespaces"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def summary(self) -> dict[str, Any]:
        """Totals in the shape of ``GET /v2/namespaces/summary`` (scale contract)."""
        with self._lock:
            self._enter("summary")
            rows = self.namespaces
            total = len(rows)
            n_rows = sum(int(r.get("row_count") or 0) for r in rows)
            n_bytes = sum(int(r.get("size_bytes") or 0) for r in rows)
            counts = {s: sum(1 for r in rows if in_state(r, s)) for s in STATES}
            gen = self.generated
            if gen is not None:
                if self._generated_totals is None:
                    self._generated_totals = gen.totals()
                total += gen.count
                n_rows += self._generated_totals[0]
                n_bytes += self._generated_totals[1]
                for s in STATES:
                    counts[s] += gen.count_in(s)
            return {
                "namespaces": total,
                "rows": n_rows,
                "bytes": n_bytes,
                "unstable": counts["unstable"],
                "stuck": counts["stuck"],
                "errored": counts["error"],
                "dirty": self.dirty,
                "sweep": dict(self.sweep),
                "upstream": dict(self.upstream),
                "shards": [dict(s) for s in self.shards],
                "as_of_ms": self.now_ms,
            }

    def _row(self, ns: str) -> dict[str, Any]:
        names = self._names()
        i = bisect.bisect_left(names, ns)
        if i < len(names) and names[i] == ns:
            return self.namespaces[i]
        if self.generated is not None:
            idx = self.generated.index(ns)
            if idx is not None:
                return self.generated.row(idx)
        raise LayerAPIError(404, "not_found", f"namespace {ns!r} not found")

    def metadata(self, ns: str) -> dict[str, Any]:
        with self._lock:
            self._enter("metadata", ns)
            if ns in self._metadata:
                return copy.deepcopy(self._metadata[ns])
            row = self._row(ns)
            if row.get("metadata_error"):
                raise LayerAPIError(502, "upstream_error", row["metadata_error"])
            last = row.get("last_write_ms") or self.now_ms
            return {
                "schema": {
                    "id": {"type": "uint"},
                    **{
                        f: {"type": "bool" if f == "in_stock" else "string", "filterable": True}
                        for f in FIELD_VALUES
                    },
                    "_layer_written_ms": {"type": "int", "filterable": True},
                },
                "approx_row_count": row.get("row_count"),
                "approx_logical_bytes": row.get("size_bytes"),
                "created_at": iso(last - 86_400_000 * 30),
                "updated_at": iso(last),
                "last_write_at": iso(last),
                "index": {"status": "up-to-date"}
                if row.get("is_stable")
                else {"status": "updating", "unindexed_bytes": 4096},
                "encryption": {"mode": "default"},
                "layer": {
                    "stable_as_of": row.get("stable_as_of_ms"),
                    "is_stable": row.get("is_stable", False),
                    "cache_state": row.get("cache_state"),
                },
            }

    # -- snapshots --------------------------------------------------------------------

    def _history(self, ns: str) -> list[dict[str, Any]]:
        if ns not in self._histories and self.synthesize:
            self._row(ns)
            rng = random.Random(ns)
            entries = []
            wm = self.now_ms - rng.randint(1, 600) * 1000
            for _ in range(rng.randint(0, 140)):
                body = self._make_body(ns, wm, rng)
                self._bodies[body["sha"]] = body
                entries.append({"watermark_ms": wm, "sha": body["sha"]})
                wm -= rng.randint(60, 3600) * 1000
            self._histories[ns] = entries
        return self._histories.get(ns, [])

    def _make_body(self, ns: str, wm: int, rng: random.Random) -> dict[str, Any]:
        fields = []
        for name in ("category", "brand", "color"):
            values = [{"v": v, "n": rng.randint(1, 5000)} for v in FIELD_VALUES[name]]
            values.sort(key=lambda x: -x["n"])
            fields.append({"name": name, "values": values})
        body: dict[str, Any] = {
            "namespace": ns,
            "watermark_ms": wm,
            "fields": fields,
            "fields_skipped": [
                {
                    "name": "tags",
                    "reason": "exceeded_cap",
                    "distinct_observed": 24_700,
                    "cap": 10000,
                }
            ],
        }
        return with_sha(body)

    def history(self, ns: str, limit: int = 50, before: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            self._enter("history", ns, limit, before)
            entries = self._history(ns)
            start = 0
            if before:
                idx = [i for i, e in enumerate(entries) if e["sha"].startswith(before)]
                if not idx:
                    raise LayerAPIError(404, "not_found", f"snapshot {before!r} not found")
                start = idx[0] + 1
            return copy.deepcopy(entries[start : start + min(limit, 500)])

    def _body(self, ns: str, sha: str) -> dict[str, Any]:
        self._history(ns)
        if len(sha) < 7:
            raise LayerAPIError(400, "bad_request", "sha prefix must be at least 7 hex chars")
        matches = [b for s, b in self._bodies.items() if s.startswith(sha) and b["namespace"] == ns]
        if not matches:
            raise LayerAPIError(404, "not_found", f"snapshot {sha!r} not found in {ns!r}")
        if len(matches) > 1:
            raise LayerAPIError(409, "ambiguous_sha", f"{sha!r} matches several snapshots")
        return matches[0]

    def snapshot(self, ns: str, sha: str) -> dict[str, Any]:
        with self._lock:
            self._enter("snapshot", ns, sha)
            return copy.deepcopy(self._body(ns, sha))

    def diff(self, ns: str, a: str, b: str) -> dict[str, Any]:
        with self._lock:
            self._enter("diff", ns, a, b)
            return compute_diff(self._body(ns, a), self._body(ns, b))

    def create_snapshot(
        self,
        ns: str,
        field: str,
        source: str = "auto",
        filters: Any = None,
        page_size: int = 1000,
    ) -> dict[str, Any]:
        with self._lock:
            self._enter("create_snapshot", ns, field, source, filters, page_size)
            self._row(ns)
            if source not in ("auto", "stored", "cache", "origin"):
                raise LayerAPIError(400, "bad_request", f"unknown source {source!r}")
            op = filters[1] if isinstance(filters, list) and len(filters) == 3 else None
            if isinstance(op, str) and op not in FILTER_OPS:
                raise LayerAPIError(400, "bad_request", f"filters: unknown operator {op!r}")
            self._job_seq += 1
            job = {
                "id": f"00000000-0000-4000-8000-{self._job_seq:012d}",
                "namespace": ns,
                "kind": "snapshot",
                "field": field,
                "source": source,
                "resolved_source": "origin" if source == "auto" else source,
                "filters": filters,
                "page_size": page_size,
                "status": "running",
                "progress": 0,
                "documents_scanned": 0,
                "created_at": iso(self.now_ms),
                "finished_at": None,
                "_polls": 0,
            }
            self._jobs.setdefault(ns, []).insert(0, job)
            return self._public(job)

    @staticmethod
    def _public(job: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy({k: v for k, v in job.items() if not k.startswith("_")})

    def cancel_job(self, ns: str, id: str) -> dict[str, Any]:
        """As the backend: 202 with ``cancel_requested``; cancelled at the next poll."""
        with self._lock:
            self._enter("cancel_job", ns, id)
            for job in self._jobs.get(ns, []):
                if job["id"] == id:
                    if job.get("status") != "running":
                        raise LayerAPIError(
                            409, "conflict", f"job {id!r} has already finished ({job['status']})"
                        )
                    job["cancel_requested"] = True
                    return self._public(job)
            raise LayerAPIError(404, "not_found", f"no job {id!r} in namespace {ns!r}")

    def _advance(self, job: dict[str, Any]) -> None:
        if job.get("status") != "running" or "_polls" not in job:
            return
        if job.get("cancel_requested"):
            job.update(status="cancelled", finished_at=iso(self.now_ms))
            return
        job["_polls"] += 1
        progress = min(1.0, job["_polls"] / self.job_steps)
        job["progress"] = 1 if progress >= 1.0 else round(progress, 4)
        job["documents_scanned"] = int(12844 * progress)
        if progress >= 1.0:
            rng = random.Random(job["id"])
            values = [
                {"v": v, "n": rng.randint(1, 3000)}
                for v in FIELD_VALUES.get(job["field"], ["a", "b"])
            ]
            values.sort(key=lambda x: -x["n"])
            job.update(
                status="completed",
                finished_at=iso(self.now_ms),
                result={"name": job["field"], "values": values},
                watermark_ms=self.now_ms - 5000,
                stable_as_of=self.now_ms - 5000,
            )

    def jobs(self, ns: str) -> list[dict[str, Any]]:
        with self._lock:
            self._enter("jobs", ns)
            self._row(ns)
            for job in self._jobs.get(ns, []):
                self._advance(job)
            return [self._public(j) for j in self._jobs.get(ns, [])]

    def job(self, ns: str, id: str) -> dict[str, Any]:
        with self._lock:
            self._enter("job", ns, id)
            for job in self._jobs.get(ns, []):
                if job["id"] == id:
                    self._advance(job)
                    return self._public(job)
            raise LayerAPIError(404, "not_found", f"job {id!r} not found")

    def whoami(self) -> dict[str, Any]:
        with self._lock:
            self._enter("whoami")
            return {
                "role": "admin",
                "upstream": "http://127.0.0.1:8701",
                "auth": "keys",
                "interactive_budget_ms": 2000,
            }

    def use_budget(self, budget_ms: int) -> None:
        self.budget_ms = budget_ms

    # -- document cache ---------------------------------------------------------------

    def warm_cache(self, ns: str) -> dict[str, Any]:
        with self._lock:
            self._enter("warm_cache", ns)
            self._row(ns)
            self._job_seq += 1
            job = {
                "id": f"00000000-0000-4000-8000-{self._job_seq:012d}",
                "namespace": ns,
                "kind": "cache_warm",
                "field": None,
                "source": "origin",
                "resolved_source": "origin",
                "status": "running",
                "progress": 0,
                "documents_scanned": 0,
                "created_at": iso(self.now_ms),
                "finished_at": None,
            }
            self._jobs.setdefault(ns, []).insert(0, job)
            return self._public(job)

    def drop_cache(self, ns: str) -> dict[str, Any]:
        with self._lock:
            self._enter("drop_cache", ns)
            self._row(ns)
            return {"namespace": ns, "dropped": True}

    # -- activity ---------------------------------------------------------------------

    def activity(
        self,
        since_ms: int,
        limit: int = 100,
        namespace: str | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            self._enter("activity", since_ms, limit, namespace, cursor)

            def key(e: dict[str, Any]) -> str:
                return f"{e['ts_ms']:013d}-{e['namespace']}-{e['sha']}"

            events = [
                e
                for e in self._events
                if e["ts_ms"] >= since_ms and (namespace is None or e["namespace"] == namespace)
            ]
            if cursor:
                events = [e for e in events if key(e) > cursor]
            limit = min(limit, 500)
            page = events[:limit]
            # Like the backend: a cursor only while more events follow this page.
            more = len(events) > limit
            return {
                "events": copy.deepcopy(page),
                "next_cursor": key(page[-1]) if more and page else None,
            }


def synthetic(
    n: int = 10_000, *, now_ms: int = 1_747_300_010_000, seed: int = 7
) -> FakeLayerClient:
    """A fake serving ``n`` generated namespaces, with lazy histories and some activity."""
    rng = random.Random(seed)
    states = ["warm", "warm", "warm", "cold", "warming", "stale"]
    teams = ["search", "ads", "recs", "support", "growth"]
    rows = []
    for i in range(n):
        name = f"{rng.choice(['prod', 'staging', 'dev'])}-{rng.choice(teams)}-{i:05d}"
        stable = rng.random() > 0.08
        row: dict[str, Any] = {
            "name": name,
            "row_count": rng.randint(0, 50_000_000),
            "size_bytes": rng.randint(0, 200_000_000_000),
            "stable_as_of_ms": now_ms - rng.randint(1, 7200) * 1000
            if rng.random() > 0.02
            else None,
            "is_stable": stable,
            "cache_state": {"state": rng.choice(states), "warm_inflight": rng.random() < 0.05},
            "last_write_ms": now_ms - rng.randint(1, 86_400) * 1000,
            "shadow": rng.random() < 0.05,
            "labels": {"team": rng.choice(teams)} if rng.random() < 0.7 else {},
            "observed_ms": now_ms - rng.randint(1, 600) * 1000,
            "index_stuck_since_ms": now_ms - rng.randint(600, 7200) * 1000
            if not stable and rng.random() < 0.2
            else None,
        }
        if rng.random() < 0.01:
            row.update(
                row_count=None,
                size_bytes=None,
                last_write_ms=None,
                metadata_error="upstream metadata call timed out",
            )
        rows.append(row)
    client = FakeLayerClient(rows, now_ms=now_ms, synthesize=True, job_steps=5)
    rows_by_name = {r["name"]: r for r in rows}
    for k in range(40):
        ns = rows[rng.randrange(n)]["name"]
        ts = now_ms - (40 - k) * 45_000
        with client._lock:
            entries = [] if rows_by_name[ns].get("metadata_error") else client._history(ns)
        if not entries:
            continue
        client.add_event(
            {
                "ts_ms": ts,
                "namespace": ns,
                "sha": entries[0]["sha"],
                "watermark_ms": entries[0]["watermark_ms"],
                "fields": ["category", "brand"],
                "source": "watcher" if k % 3 else "origin",
                "job_id": None if k % 3 else f"00000000-0000-4000-8000-{k:012d}",
            }
        )
    return client


def many(
    n: int = 1_000_000, *, prefix: str = "ns-", now_ms: int = 1_747_300_010_000, seed: int = 7
) -> FakeLayerClient:
    """A fake serving ``n`` namespaces made on demand (``tui.fake_many``): a million cost
    nothing to hold, so the dashboard's memory can be measured apart from the fake's."""
    gen = GeneratedNamespaces(n, prefix=prefix, now_ms=now_ms, seed=seed)
    return FakeLayerClient([], now_ms=now_ms, synthesize=True, job_steps=5, generated=gen)
