"""The objects a Layer app holds, each in ``app.extensions["layer.<name>"]``.

Constructed in ``create_app`` without I/O: stores and the upstream session open their
connections lazily, once per process, so gunicorn workers never share a parent's
sockets. Views reach them through the accessors below, never through globals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, current_app

from backend import metrics
from backend.cache import DocumentCache
from backend.freshness import Freshness, FreshnessStore
from backend.inventory import Inventory
from backend.shards import ShardLeases
from backend.snapshots.jobs import JobRunner, JobStore
from backend.snapshots.repo import SnapshotRepo
from backend.snapshots.service import SnapshotService
from backend.stores.errors import MissingDependency
from backend.stores.kv_base import KVStore
from backend.stores.object_base import ObjectStore
from backend.stores.registry import open_kv, open_object_store
from backend.upstream import Upstream
from backend.watcher import Watcher
from common.settings import Settings, SettingsError

T = TypeVar("T")


def _open(variable: str, url: str, opener: Callable[[str], T]) -> T:
    """Open a store from its URL setting; a bad URL is a one-line error naming the variable."""
    try:
        return opener(url)
    except (ValueError, MissingDependency) as exc:  # UnknownScheme is a ValueError
        raise SettingsError(f"{variable}: {exc}") from None


def init_app(app: Flask, settings: Settings) -> None:
    kv = _open("LAYER_KV", settings.kv_url, open_kv)
    store = _open("LAYER_OBJECT_STORE", settings.object_store_url, open_object_store)
    upstream = Upstream(settings, on_request=metrics.observe_upstream)
    freshness = FreshnessStore(kv)
    app.extensions["layer.settings"] = settings
    app.extensions["layer.kv"] = kv
    app.extensions["layer.store"] = store
    app.extensions["layer.upstream"] = upstream
    app.extensions["layer.freshness"] = freshness
    repo = SnapshotRepo(store, kv)
    jobs = JobStore(kv, settings.job_ttl_s)
    runner = JobRunner(jobs, settings.snapshot_workers)
    cache = DocumentCache(settings, upstream, freshness, kv, jobs, runner)
    app.extensions["layer.inventory"] = Inventory(
        settings,
        upstream,
        freshness,
        cache_states=cache.cache_states,
        on_cache=metrics.observe_list_cache,
    )
    snapshots = SnapshotService(settings, upstream, freshness, repo, runner, cache=cache)
    leases = ShardLeases(kv, settings.lease_ttl_ms, settings.watch_shards)
    snapshot_hook = snapshots.on_stable(leases)

    def on_stable(ns: str, meta: dict[str, Any], prev: Freshness, new: Freshness) -> None:
        """The watcher's stable-poll hook: the snapshot chronology, then the cache re-warm."""
        try:
            snapshot_hook(ns, meta, prev, new)
        finally:
            cache.on_stable(ns, meta, prev, new)

    app.extensions["layer.snapshot_repo"] = repo
    app.extensions["layer.jobs"] = jobs
    app.extensions["layer.job_runner"] = runner
    app.extensions["layer.snapshots"] = snapshots
    app.extensions["layer.cache"] = cache
    app.extensions["layer.watcher"] = Watcher(
        settings, upstream, freshness, leases, on_stable=on_stable
    )


def _get(name: str) -> Any:
    return current_app.extensions[f"layer.{name}"]


def get_settings() -> Settings:
    return cast(Settings, _get("settings"))


def get_kv() -> KVStore:
    return cast(KVStore, _get("kv"))


def get_store() -> ObjectStore:
    return cast(ObjectStore, _get("store"))


def get_upstream() -> Upstream:
    return cast(Upstream, _get("upstream"))


def get_freshness() -> FreshnessStore:
    return cast(FreshnessStore, _get("freshness"))


def get_inventory() -> Inventory:
    return cast(Inventory, _get("inventory"))


def get_watcher() -> Watcher:
    return cast(Watcher, _get("watcher"))


def get_snapshot_repo() -> SnapshotRepo:
    return cast(SnapshotRepo, _get("snapshot_repo"))


def get_jobs() -> JobStore:
    return cast(JobStore, _get("jobs"))


def get_job_runner() -> JobRunner:
    return cast(JobRunner, _get("job_runner"))


def get_snapshots() -> SnapshotService:
    return cast(SnapshotService, _get("snapshots"))


def get_cache() -> DocumentCache:
    return cast(DocumentCache, _get("cache"))
