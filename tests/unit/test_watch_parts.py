"""The watcher's parts on their own: the sweep interval, the token bucket, the schedule,
and the shard leases' fair share over a real SQLite KV."""

from __future__ import annotations

import time
from pathlib import Path

from backend.budget import TokenBucket
from backend.freshness import Freshness, shard_of
from backend.shards import ShardLeases, heartbeat_ms, keep_interval_ms
from backend.stores.registry import open_kv
from backend.sweep import ShardSchedule, interval_ms, pop_due_across, sweep_key, sweep_value

HOUR = 3_600_000


def test_interval_follows_activity_under_the_ceiling() -> None:
    now = 10 * 86_400_000
    stable = Freshness(is_stable=True, observed_ms=now)
    assert interval_ms(Freshness(is_stable=False), now, 5000, HOUR) == 0  # every tick
    assert interval_ms(Freshness(is_stable=True, last_error="x"), now, 5000, HOUR) == 0
    just_written = Freshness(is_stable=True, last_write_ms=now - 1000)
    assert interval_ms(just_written, now, 5000, HOUR) == 5000  # at least one tick
    ten_min = Freshness(is_stable=True, last_write_ms=now - 600_000)
    assert interval_ms(ten_min, now, 5000, HOUR) == 60_000
    month = Freshness(is_stable=True, last_write_ms=now - 30 * 86_400_000)
    assert interval_ms(month, now, 5000, HOUR) == HOUR  # the ceiling
    assert interval_ms(stable, now, 5000, HOUR) == HOUR  # never written: the ceiling


def test_shard_is_stable_and_spread() -> None:
    assert shard_of("prod-invoices", 16) == shard_of("prod-invoices", 16)
    counts = [0] * 16
    for i in range(16_000):
        counts[shard_of(f"tenant-{i}", 16)] += 1
    assert min(counts) > 800 and max(counts) < 1200


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s
        self.slept += s


def test_bucket_paces_calls_and_backs_off_on_429() -> None:
    clock = Clock()
    b = TokenBucket(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(21):
        assert b.take()
    assert 2.1 <= clock.t <= 2.3  # one in hand, then 10 / 1.1 a second
    assert b.take(deadline=clock.t + 0.01) is False  # no token before the deadline
    b.throttle(2.0)
    t0 = clock.t
    assert b.take()
    assert clock.t - t0 >= 2.0, "nothing before Retry-After"
    assert b.rate == 5.0 and b.throttled == 1  # and slower for a while
    clock.t += 61
    b.available()
    assert b.rate == 10.0
    assert b.waited_s > 0


def test_no_second_holds_more_than_the_budget_after_a_pause() -> None:
    """After an idle minute, the calls of any one-second window are at most rate + 1."""
    clock = Clock()
    b = TokenBucket(100.0, clock=clock, sleep=clock.sleep)
    clock.t += 60.0  # idle: a bucket that saved tokens would now burst
    start = clock.t
    calls = []
    while clock.t < start + 3.0:
        assert b.take()
        calls.append(clock.t)
    worst = max(sum(1 for c in calls if t <= c < t + 1.0) for t in calls)
    assert worst <= 100


def test_schedule_round_trips_through_the_kv(tmp_path: Path) -> None:
    kv = open_kv(f"sqlite://{tmp_path}/kv.sqlite")
    fr = Freshness(is_stable=False, observed_ms=1000, row_count=5, size_bytes=50)
    ok = Freshness(is_stable=True, observed_ms=1000, row_count=2, size_bytes=20)
    kv.put_many(
        "sweep",
        [(sweep_key(3, "b"), sweep_value(fr, 1000)), (sweep_key(3, "a"), sweep_value(ok, 9000))],
    )
    kv.put("sweep", sweep_key(4, "z"), sweep_value(ok, 0))
    both = ShardSchedule.load_many(kv, [3, 4, 5])  # one scan of the whole set
    assert both[3].names == ["a", "b"] and both[4].names == ["z"] and len(both[5]) == 0
    sched = ShardSchedule.load(kv, 3)  # one prefix scan
    assert sched.names == ["a", "b"] and len(sched) == 2
    t = sched.totals
    assert (t.namespaces, t.rows, t.bytes, t.unstable) == (2, 7, 70, 1)
    assert sched.pop_due(5000, 10, set()) == ["b"]
    sched.add_new("c", 4000)
    assert sched.pop_due(5000, 10, set()) == ["c"]
    sched.set_due("b", 20_000, sweep_value(ok, 20_000))
    assert sched.totals.unstable == 0 and sched.totals.rows == 4
    assert sched.between("a", None) == ["b", "c"] and sched.between(None, "b") == ["a", "b"]
    sched.remove("a")
    assert sched.names == ["b", "c"] and sched.totals.namespaces == 1


def test_due_names_come_most_overdue_first_across_shards() -> None:
    """Under a tight budget the tick polls only the head of this list: a name never
    polled (due since 0) must not wait behind another shard's names polled again and
    again. Before, shards came in map order and the last ones starved."""
    early, late = ShardSchedule(0), ShardSchedule(1)
    for i in range(10):
        early.add_new(f"a{i}", 100 + i)  # polled before, due again
    late.add_new("b0", 0)  # never polled: the most overdue
    late.add_new("b1", 500)
    got = pop_due_across([early, late], now=1000, limit=6, skip={"a1"})
    assert got == ["b0", "a0", "a2", "a3", "b1"]  # 3 a shard, "a1" already done
    assert early.pop_due(1000, 10, set()) == ["a1"] + [f"a{i}" for i in range(4, 10)]
    assert pop_due_across([], now=1000, limit=6, skip=set()) == []


def test_shards_split_fairly_and_move_when_one_leaves(tmp_path: Path) -> None:
    kv = open_kv(f"sqlite://{tmp_path}/kv.sqlite")
    ws = [ShardLeases(kv, 60_000, 16, holder=f"w{i}") for i in range(3)]
    for _ in range(3):
        for w in ws:
            w.rebalance()
    held = [set(w.held) for w in ws]
    assert sorted(len(h) for h in held) in ([4, 6, 6], [5, 5, 6])
    assert set().union(*held) == set(range(16))
    assert all(a.isdisjoint(b) for i, a in enumerate(held) for b in held[i + 1 :])
    assert all(
        w.still_held(f"ns-{n}") for n in range(50) for w in ws if w.shard(f"ns-{n}") in w.held
    )
    # one leaves (releases): the other two take its shards, half each at most
    ws[0].release()
    for _ in range(2):
        for w in ws[1:]:
            w.rebalance()
    assert set(ws[1].held) | set(ws[2].held) == set(range(16))
    assert len(ws[1].held) == len(ws[2].held) == 8
    holders = {h["holder"] for h in ws[1].holders()}
    assert holders == {"w1", "w2"}


def test_a_dead_watchers_shards_move_when_its_heartbeat_lapses(tmp_path: Path) -> None:
    """Takeover follows the heartbeat (a third of the lease TTL), not the leases' own
    expiry; the dead holder, should it resume, finds every lease gone and writes nothing."""
    kv = open_kv(f"sqlite://{tmp_path}/kv.sqlite")
    ttl = 1500
    assert heartbeat_ms(ttl) == 500 and keep_interval_ms(ttl) == 100
    w0, w1 = (ShardLeases(kv, ttl, 8, holder=f"w{i}") for i in range(2))
    for w in (w0, w1, w0, w1):
        w.rebalance()
    assert len(w0.held) == len(w1.held) == 4
    lost = list(w0.held)
    assert all(w0.renew(shard) for shard in lost)  # w0's leases now last a whole TTL
    time.sleep(0.6)  # w0 stops (killed): its heartbeat lapses, its leases do not yet
    w1.rebalance()
    leases = {h["shard"]: h for h in w1.holders()}
    assert set(w1.held) == set(range(8)), "taken from the holder whose heartbeat lapsed"
    assert all(leases[s]["holder"] == "w1" for s in lost)
    assert not any(w0.renew(shard) for shard in lost), "the old holder is fenced"
    assert w0.held == []


def test_a_live_watchers_unexpired_leases_are_never_taken(tmp_path: Path) -> None:
    kv = open_kv(f"sqlite://{tmp_path}/kv.sqlite")
    w0, w1 = (ShardLeases(kv, 60_000, 4, holder=f"w{i}") for i in range(2))
    w0.rebalance()
    assert w0.held == [0, 1, 2, 3]
    w1.rebalance()  # w0 is alive: nothing to take until w0 gives its surplus up
    assert w1.held == []
    w0.rebalance()
    w1.rebalance()
    assert sorted(w0.held + w1.held) == [0, 1, 2, 3] and len(w1.held) == 2
