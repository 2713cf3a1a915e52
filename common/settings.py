"""Layer's settings: defaults, then the environment, then what a caller passes in.

One frozen dataclass shared by the backend, the watcher and the CLI. Every value is
validated when the settings are built, so a bad value stops start-up with a message
that names the variable instead of failing later on a request.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """A setting has a value Layer cannot use; the message names the variable."""


def _bounded(
    env: Mapping[str, str],
    name: str,
    default: N,
    lo: N,
    hi: N,
    parse: Callable[[str], N],
    kind: str,
    show: Callable[[N], str],
) -> N:
    """``name`` parsed by ``parse`` and checked to lie in [lo, hi]; unset or empty: default."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {kind}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {show(lo)} and {show(hi)}, got {show(value)}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    return _bounded(env, name, default, lo, hi, int, "an integer", str)


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    return _bounded(env, name, default, lo, hi, float, "a number", lambda v: f"{v:g}")


def _keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for k in keys:
        if len(k) < 8:
            raise SettingsError(f"{name}: every key must be at least 8 characters")
    return keys


def parse_pattern_map(name: str, raw: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Parse ``pattern=a,b;pattern2=c`` into ordered (pattern, values) pairs."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for part in raw.split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise SettingsError(f"{name}: expected 'pattern=value,...' but got {part!r}")
        pattern, _, values = part.partition("=")
        pattern = pattern.strip()
        if not pattern:
            raise SettingsError(f"{name}: empty namespace pattern in {part!r}")
        items = tuple(v.strip() for v in values.split(",") if v.strip())
        if not items:
            raise SettingsError(f"{name}: pattern {pattern!r} has no values")
        out.append((pattern, items))
    return tuple(out)


def parse_labels(raw: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """Parse ``LAYER_LABELS``: ``prod-*=team:search,tier:1;dev-*=team:infra``."""
    out = []
    for pattern, items in parse_pattern_map("LAYER_LABELS", raw):
        pairs = []
        for item in items:
            k, sep, v = item.partition(":")
            if not sep or not k.strip():
                raise SettingsError(f"LAYER_LABELS: label {item!r} must be 'key:value'")
            pairs.append((k.strip(), v.strip()))
        out.append((pattern, tuple(pairs)))
    return tuple(out)


KEEP_UNITS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
DEFAULT_HISTORY_KEEP = "last=20,hourly=48,daily=30,monthly=12"


def parse_keep_policy(name: str, raw: str) -> tuple[tuple[str, int], ...]:
    """Parse a retention policy ``last=20,hourly=48,...`` (restic's ``forget`` rules).

    ``all`` keeps everything (no pruning). Units: last, hourly, daily, weekly, monthly,
    yearly; each a count from 0 to 100000; at least one above 0.
    """
    raw = raw.strip()
    if raw == "all":
        return ()
    out: dict[str, int] = {}
    for part in raw.split(","):
        part = part.strip()
        unit, sep, count = part.partition("=")
        unit = unit.strip()
        if not sep or unit not in KEEP_UNITS:
            raise SettingsError(
                f"{name}: expected 'unit=count' with unit one of {', '.join(KEEP_UNITS)}"
                f" (or 'all'), got {part!r}"
            )
        if unit in out:
            raise SettingsError(f"{name}: {unit!r} given twice")
        try:
            n = int(count.strip())
        except ValueError:
            raise SettingsError(f"{name}: {unit} must be an integer, got {count!r}") from None
        if not 0 <= n <= 100_000:
            raise SettingsError(f"{name}: {unit} must be between 0 and 100000, got {n}")
        out[unit] = n
    if not any(out.values()):
        raise SettingsError(f"{name}: the policy keeps nothing; give one count above 0 or 'all'")
    return tuple((u, out[u]) for u in KEEP_UNITS if u in out)


@dataclass(frozen=True)
class Settings:
    turbopuffer_base_url: str = "http://127.0.0.1:8701"
    turbopuffer_api_key: str = field(default="", repr=False)
    kv_url: str = "sqlite://.layer/layer.sqlite"
    object_store_url: str = "file://.layer/objects"
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    read_keys: tuple[str, ...] = field(default=(), repr=False)
    watch_interval_ms: int = 5000
    watch_concurrency: int = 32
    watch_page_size: int = 5000
    list_cache_ttl_ms: int = 10000
    watermark_attribute: str = "_layer_written_ms"
    facets: tuple[tuple[str, tuple[str, ...]], ...] = ()
    labels: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    shadow_pattern: str = "*__shadow"
    upstream_connect_timeout_s: float = 5.0
    upstream_read_timeout_s: float = 30.0
    upstream_retries: int = 4
    upstream_retry_budget_s: float = 30.0
    lease_ttl_ms: int = 15000
    facet_cap: int = 10000
    job_ttl_s: int = 86400
    snapshot_workers: int = 4
    origin_strategy: str = "auto"
    cache_namespaces: tuple[str, ...] = ()
    max_body_bytes: int = 16 * 1024 * 1024
    snapshot_min_interval_ms: int = 300_000
    snapshot_max_docs: int = 10_000_000
    history_keep: tuple[tuple[str, int], ...] = parse_keep_policy(
        "LAYER_HISTORY_KEEP", DEFAULT_HISTORY_KEEP
    )
    history_prune_interval_ms: int = 3_600_000
    activity_retention_days: int = 90
    sweep_max_ms: int = 3_600_000
    watch_max_rps: float = 100.0
    watch_shards: int = 16
    stuck_after_ms: int = 600_000
    listing_max_age_ms: int = 7_200_000
    interactive_budget_ms: int = 2000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        base_url = env.get("TURBOPUFFER_BASE_URL", "").strip()
        if not base_url and env.get("TURBOPUFFER_REGION"):
            base_url = f"https://{env['TURBOPUFFER_REGION'].strip()}.turbopuffer.com"
        base_url = base_url or cls.turbopuffer_base_url
        if not base_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"TURBOPUFFER_BASE_URL must start with http:// or https://, got {base_url!r}"
            )
        strategy = env.get("LAYER_ORIGIN_STRATEGY", "auto").strip() or "auto"
        if strategy not in ("auto", "scan"):
            raise SettingsError(f"LAYER_ORIGIN_STRATEGY must be 'auto' or 'scan', got {strategy!r}")
        watermark = env.get("LAYER_WATERMARK_ATTRIBUTE", cls.watermark_attribute).strip()
        if not watermark or watermark.startswith("$") or len(watermark) > 128:
            raise SettingsError(
                "LAYER_WATERMARK_ATTRIBUTE must be 1-128 characters, not starting with '$'"
            )
        values: dict[str, Any] = dict(
            turbopuffer_base_url=base_url.rstrip("/"),
            turbopuffer_api_key=env.get("TURBOPUFFER_API_KEY", ""),
            kv_url=env.get("LAYER_KV", "").strip() or cls.kv_url,
            object_store_url=env.get("LAYER_OBJECT_STORE", "").strip() or cls.object_store_url,
            api_keys=_keys(env, "LAYER_API_KEYS"),
            read_keys=_keys(env, "LAYER_READ_KEYS"),
            watch_interval_ms=_int(env, "LAYER_WATCH_INTERVAL_MS", 5000, 100, 3_600_000),
            watch_concurrency=_int(env, "LAYER_WATCH_CONCURRENCY", 32, 1, 1024),
            watch_page_size=_int(env, "LAYER_WATCH_PAGE_SIZE", 5000, 1, 10_000),
            list_cache_ttl_ms=_int(env, "NAMESPACE_LIST_CACHE_TTL_MS", 10000, 0, 3_600_000),
            watermark_attribute=watermark,
            facets=parse_pattern_map("LAYER_FACETS", env.get("LAYER_FACETS", "")),
            labels=parse_labels(env.get("LAYER_LABELS", "")),
            shadow_pattern=env.get("LAYER_SHADOW_PATTERN", cls.shadow_pattern).strip(),
            upstream_connect_timeout_s=_int(
                env, "LAYER_UPSTREAM_CONNECT_TIMEOUT_MS", 5000, 1, 600_000
            )
            / 1000,
            upstream_read_timeout_s=_int(env, "LAYER_UPSTREAM_TIMEOUT_MS", 30000, 1, 600_000)
            / 1000,
            upstream_retries=_int(env, "LAYER_UPSTREAM_RETRIES", 4, 0, 10),
            upstream_retry_budget_s=_int(env, "LAYER_UPSTREAM_RETRY_BUDGET_MS", 30000, 0, 600_000)
            / 1000,
            lease_ttl_ms=_int(env, "LAYER_LEASE_TTL_MS", 15000, 1000, 3_600_000),
            facet_cap=_int(env, "LAYER_FACET_CAP", 10000, 1, 1_000_000),
            job_ttl_s=_int(env, "LAYER_JOB_TTL_S", 86400, 60, 30 * 86400),
            snapshot_workers=_int(env, "LAYER_SNAPSHOT_WORKERS", 4, 1, 64),
            origin_strategy=strategy,
            cache_namespaces=tuple(
                p.strip() for p in env.get("LAYER_CACHE_NAMESPACES", "").split(",") if p.strip()
            ),
            max_body_bytes=_int(env, "LAYER_MAX_BODY_BYTES", 16 * 1024 * 1024, 1024, 1 << 30),
            snapshot_min_interval_ms=_int(
                env, "LAYER_SNAPSHOT_MIN_INTERVAL_MS", 300_000, 0, 7 * 86_400_000
            ),
            snapshot_max_docs=_int(env, "LAYER_SNAPSHOT_MAX_DOCS", 10_000_000, 0, 1 << 50),
            history_keep=parse_keep_policy(
                "LAYER_HISTORY_KEEP", env.get("LAYER_HISTORY_KEEP", "") or DEFAULT_HISTORY_KEEP
            ),
            history_prune_interval_ms=_int(
                env, "LAYER_HISTORY_PRUNE_INTERVAL_MS", 3_600_000, 0, 30 * 86_400_000
            ),
            activity_retention_days=_int(env, "LAYER_ACTIVITY_RETENTION_DAYS", 90, 0, 36_500),
            watch_max_rps=_float(env, "LAYER_WATCH_MAX_RPS", 100.0, 0.1, 1_000_000),
            watch_shards=_int(env, "LAYER_WATCH_SHARDS", 16, 1, 4096),
            stuck_after_ms=_int(env, "LAYER_STUCK_AFTER_MS", 600_000, 100, 30 * 86_400_000),
            interactive_budget_ms=_int(env, "LAYER_INTERACTIVE_BUDGET_MS", 2000, 100, 600_000),
        )
        sweep_max = _int(env, "LAYER_SWEEP_MAX_MS", 3_600_000, 100, 30 * 86_400_000)
        values["sweep_max_ms"] = sweep_max
        # Twice the sweep's ceiling: a record is only that old when the sweep runs more than
        # 2x stretched (the budget short by half), and then the live call is worth it.
        values["listing_max_age_ms"] = _int(
            env, "LAYER_LISTING_MAX_AGE_MS", 2 * sweep_max, 0, 60 * 86_400_000
        )
        known = {f.name for f in fields(cls)}
        for key in overrides:
            if key not in known:
                raise SettingsError(f"unknown setting {key!r}")
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys or self.read_keys)

    def facet_fields(self, namespace: str) -> tuple[str, ...]:
        """Facet fields configured for a namespace: the union over matching patterns, in order."""
        out: list[str] = []
        for pattern, names in self.facets:
            if fnmatch.fnmatchcase(namespace, pattern):
                out.extend(n for n in names if n not in out)
        return tuple(out)

    def labels_for(self, namespace: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for pattern, pairs in self.labels:
            if fnmatch.fnmatchcase(namespace, pattern):
                out.update(pairs)
        return out

    def is_shadow(self, namespace: str) -> bool:
        return bool(self.shadow_pattern) and fnmatch.fnmatchcase(namespace, self.shadow_pattern)
