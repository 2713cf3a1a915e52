"""Retention policy parsing and selection; the issue-14 settings and their bad values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.snapshots.retention import policy_text, select
from common.settings import Settings, SettingsError, parse_keep_policy


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


def test_defaults_are_documented_values() -> None:
    s = Settings.from_env({})
    assert s.snapshot_min_interval_ms == 300_000
    assert s.snapshot_max_docs == 10_000_000
    assert s.history_keep == (("last", 20), ("hourly", 48), ("daily", 30), ("monthly", 12))
    assert s.history_prune_interval_ms == 3_600_000
    assert s.activity_retention_days == 90
    env = {
        "LAYER_SNAPSHOT_MIN_INTERVAL_MS": "0",
        "LAYER_SNAPSHOT_MAX_DOCS": "0",
        "LAYER_HISTORY_KEEP": " daily=7 , last=3 ",
        "LAYER_HISTORY_PRUNE_INTERVAL_MS": "60000",
        "LAYER_ACTIVITY_RETENTION_DAYS": "0",
    }
    s = Settings.from_env(env)
    assert s.snapshot_min_interval_ms == 0 and s.snapshot_max_docs == 0
    assert s.history_keep == (("last", 3), ("daily", 7))  # canonical order
    assert s.history_prune_interval_ms == 60_000 and s.activity_retention_days == 0
    assert Settings.from_env({"LAYER_HISTORY_KEEP": "all"}).history_keep == ()


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"LAYER_SNAPSHOT_MIN_INTERVAL_MS": "soon"}, "LAYER_SNAPSHOT_MIN_INTERVAL_MS"),
        ({"LAYER_SNAPSHOT_MIN_INTERVAL_MS": "-1"}, "LAYER_SNAPSHOT_MIN_INTERVAL_MS"),
        ({"LAYER_SNAPSHOT_MAX_DOCS": "1e6"}, "LAYER_SNAPSHOT_MAX_DOCS"),
        ({"LAYER_SNAPSHOT_MAX_DOCS": "-5"}, "LAYER_SNAPSHOT_MAX_DOCS"),
        ({"LAYER_HISTORY_KEEP": "last"}, "LAYER_HISTORY_KEEP"),
        ({"LAYER_HISTORY_KEEP": "last=x"}, "LAYER_HISTORY_KEEP"),
        ({"LAYER_HISTORY_KEEP": "minutely=5"}, "LAYER_HISTORY_KEEP"),
        ({"LAYER_HISTORY_KEEP": "last=5,last=6"}, "LAYER_HISTORY_KEEP"),
        ({"LAYER_HISTORY_KEEP": "last=0,daily=0"}, "LAYER_HISTORY_KEEP"),
        ({"LAYER_HISTORY_KEEP": "last=-1"}, "LAYER_HISTORY_KEEP"),
        ({"LAYER_HISTORY_KEEP": "last=5,"}, "LAYER_HISTORY_KEEP"),
        ({"LAYER_HISTORY_PRUNE_INTERVAL_MS": "hourly"}, "LAYER_HISTORY_PRUNE_INTERVAL_MS"),
        ({"LAYER_ACTIVITY_RETENTION_DAYS": "99999"}, "LAYER_ACTIVITY_RETENTION_DAYS"),
        ({"LAYER_ACTIVITY_RETENTION_DAYS": "ninety"}, "LAYER_ACTIVITY_RETENTION_DAYS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


def test_policy_text_round_trips() -> None:
    p = parse_keep_policy("X", "monthly=12,last=20")
    assert policy_text(p) == "last=20,monthly=12"
    assert policy_text(()) == "all"


def test_last_keeps_the_newest() -> None:
    entries = [(1000 - i, f"s{i}") for i in range(10)]  # newest first
    assert set(select(entries, (("last", 3),))) == {"s0", "s1", "s2"}


def test_buckets_keep_the_newest_of_each_period_like_restic() -> None:
    # Three snapshots an hour for five hours on one day, then one on each of two older days.
    entries = []
    for h in range(14, 9, -1):
        for m in (50, 30, 10):
            entries.append((ms(2026, 3, 10, h, m), f"d10h{h}m{m}"))
    entries += [(ms(2026, 3, 9, 12), "d9"), (ms(2026, 2, 1, 12), "feb")]
    keep = select(entries, (("hourly", 3),))
    assert set(keep) == {"d10h14m50", "d10h13m50", "d10h12m50"}
    keep = select(entries, (("daily", 2), ("monthly", 2)))
    assert keep == {
        "d10h14m50": ["daily", "monthly"],
        "d9": ["daily"],
        "feb": ["monthly"],
    }
    keep = select(entries, (("last", 1), ("yearly", 5)))
    assert keep == {"d10h14m50": ["last", "yearly"]}
    weekly = select(entries, (("weekly", 10),))
    assert set(weekly) == {"d10h14m50", "feb"}  # 9 and 10 March 2026 share ISO week 11


def test_mirror_protected_and_all() -> None:
    entries = [(1000 - i, f"s{i}") for i in range(5)]
    keep = select(entries, (("last", 1),), protected={"s3", "gone"})
    assert keep == {"s0": ["last"], "s3": ["mirror"]}
    assert set(select(entries, ())) == {f"s{i}" for i in range(5)}
