from __future__ import annotations

import pytest

from common.settings import Settings, SettingsError


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.watch_interval_ms == 5000
    assert s.watch_concurrency == 32
    assert s.list_cache_ttl_ms == 10000
    assert s.watermark_attribute == "_layer_written_ms"
    assert s.shadow_pattern == "*__shadow"
    assert s.kv_url.startswith("sqlite://") and s.object_store_url.startswith("file://")
    assert not s.auth_enabled


def test_facets_labels_shadow() -> None:
    s = Settings.from_env(
        {
            "LAYER_FACETS": "products=category,brand,tags; prod-*=status;products=status",
            "LAYER_LABELS": "prod-*=team:search,tier:1;prod-a=tier:0",
        }
    )
    assert s.facet_fields("products") == ("category", "brand", "tags", "status")
    assert s.facet_fields("prod-a") == ("status",)
    assert s.facet_fields("dev-x") == ()
    assert s.labels_for("prod-a") == {"team": "search", "tier": "0"}
    assert s.labels_for("dev") == {}
    assert s.is_shadow("products__shadow") and not s.is_shadow("products")


def test_region_builds_base_url() -> None:
    assert (
        Settings.from_env({"TURBOPUFFER_REGION": "gcp-us-central1"}).turbopuffer_base_url
        == "https://gcp-us-central1.turbopuffer.com"
    )


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LAYER_WATCH_INTERVAL_MS": "abc"}, "LAYER_WATCH_INTERVAL_MS"),
        ({"LAYER_WATCH_INTERVAL_MS": "0"}, "LAYER_WATCH_INTERVAL_MS"),
        ({"LAYER_WATCH_CONCURRENCY": "-3"}, "LAYER_WATCH_CONCURRENCY"),
        ({"NAMESPACE_LIST_CACHE_TTL_MS": "1e3"}, "NAMESPACE_LIST_CACHE_TTL_MS"),
        ({"LAYER_FACETS": "products"}, "LAYER_FACETS"),
        ({"LAYER_FACETS": "=a"}, "LAYER_FACETS"),
        ({"LAYER_LABELS": "prod-*=nocolon"}, "LAYER_LABELS"),
        ({"TURBOPUFFER_BASE_URL": "ftp://x"}, "TURBOPUFFER_BASE_URL"),
        ({"LAYER_ORIGIN_STRATEGY": "fast"}, "LAYER_ORIGIN_STRATEGY"),
        ({"LAYER_API_KEYS": "short"}, "LAYER_API_KEYS"),
        ({"LAYER_WATERMARK_ATTRIBUTE": "$bad"}, "LAYER_WATERMARK_ATTRIBUTE"),
        ({"LAYER_SWEEP_MAX_MS": "soon"}, "LAYER_SWEEP_MAX_MS"),
        ({"LAYER_SWEEP_MAX_MS": "10"}, "LAYER_SWEEP_MAX_MS"),
        ({"LAYER_WATCH_MAX_RPS": "0"}, "LAYER_WATCH_MAX_RPS"),
        ({"LAYER_WATCH_MAX_RPS": "fast"}, "LAYER_WATCH_MAX_RPS"),
        ({"LAYER_WATCH_SHARDS": "0"}, "LAYER_WATCH_SHARDS"),
        ({"LAYER_WATCH_SHARDS": "5000"}, "LAYER_WATCH_SHARDS"),
        ({"LAYER_STUCK_AFTER_MS": "-1"}, "LAYER_STUCK_AFTER_MS"),
        ({"LAYER_LISTING_MAX_AGE_MS": "x"}, "LAYER_LISTING_MAX_AGE_MS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        Settings.from_env(env)


def test_scale_settings_defaults() -> None:
    s = Settings.from_env({})
    assert (s.sweep_max_ms, s.watch_max_rps, s.watch_shards) == (3_600_000, 100.0, 16)
    assert s.stuck_after_ms == 600_000 and s.listing_max_age_ms == 2 * s.sweep_max_ms
    # the listing's bound follows the sweep ceiling unless set on its own
    assert Settings.from_env({"LAYER_SWEEP_MAX_MS": "60000"}).listing_max_age_ms == 120_000
    s = Settings.from_env({"LAYER_WATCH_MAX_RPS": "2.5", "LAYER_LISTING_MAX_AGE_MS": "0"})
    assert s.watch_max_rps == 2.5 and s.listing_max_age_ms == 0


def test_unknown_override_is_refused() -> None:
    with pytest.raises(SettingsError, match="nope"):
        Settings.from_env({}, nope=1)


def test_keys_not_in_repr() -> None:
    s = Settings.from_env(
        {"TURBOPUFFER_API_KEY": "tpuf_very_secret", "LAYER_API_KEYS": "layer-admin-key"}
    )
    assert "tpuf_very_secret" not in repr(s) and "layer-admin-key" not in repr(s)
