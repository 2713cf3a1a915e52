"""Layer at Turbopuffer's scale (issue 12): one run, each figure beside its baseline.

    python -m bench.bench_scale                 # 1,000,000 namespaces
    python -m bench.bench_scale --quick         # 20,000 namespaces, shorter windows

Setup: an emulator process with ``--many t-=N`` (idle namespaces of 1-5 documents),
10 ms upstream latency and ``--index-lag-ms``; ``layer serve --no-watcher`` (the proxy,
the listing, the summary) and separate ``layer watcher`` processes, all on one SQLite
KV. The KV is prefilled with one freshness record per namespace, observed at times
spread over the last ``LAYER_SWEEP_MAX_MS``, as a watcher that has run for one sweep
would have left it (``--no-prefill`` starts cold: every namespace is then new and
polled at once, within the budget). While the watcher runs, writes go through Layer to
random namespaces at ``--write-pct`` percent of N per minute.

Figures, and what each is measured from:

- upstream metadata calls/s: the emulator's own counter (``/_emulator/stats``), each
  second; the mean, the highest second and the highest 10 s, beside N /
  LAYER_WATCH_INTERVAL_MS (what polling everything every interval asks) and
  LAYER_WATCH_MAX_RPS (the cap);
- freshness lag: for a sample of the writes, from the emulator finishing the index
  (the write's return + ``--index-lag-ms``) to the first freshness record in the KV
  with ``is_stable`` true from a poll that started after the write (the bench reads
  it every 100 ms); p50/p99 beside 2 x LAYER_WATCH_INTERVAL_MS;
- longest idle gap: the emulator's poll tracker (``/_emulator/polls``) over the
  namespaces not written during the window, beside LAYER_SWEEP_MAX_MS and N /
  LAYER_WATCH_MAX_RPS (the shortest sweep the budget allows). A window shorter than
  the sweep can only show a lower bound; the summary's ``sweep`` block is printed too;
- listing page of 1000, cold (a prefix not asked before): Layer vs. one upstream list
  call of 1000 straight to the emulator;
- dashboard first paint and RSS: ``bench.scale_probe`` in its own process;
- watcher RSS (VmHWM of the process) and KV size (the SQLite files);
- with 1, 2 and 4 watcher processes: metadata polls/s, and after SIGKILL of the one
  holding the most leases, the time until another holds every lease it held, beside
  LAYER_LEASE_TTL_MS.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from typing import Any

import requests

from bench.harness import Proc, emulator, p50, p99, serve_layer, table
from bench.scale_probe import rss_mb
from bench.scale_watch import (
    LagTracker,
    RateSampler,
    Writer,
    expected_leases,
    lease_holders,
    prefill,
    takeover_s,
    wait_shared,
)
from common.settings import Settings

PREFIX = "t-"


def _env(emu_url: str, data: str, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "TURBOPUFFER_BASE_URL": emu_url,
        "LAYER_KV": f"sqlite://{data}/kv.sqlite",
        "LAYER_OBJECT_STORE": f"file://{data}/objects",
        "LAYER_LOG_LEVEL": "WARNING",
        **extra,
    }


def serve(env: dict[str, str]) -> AbstractContextManager[Proc]:
    """The backend the bench queries; the watchers run as processes of their own."""
    return serve_layer(env, watcher=False)


def start_watcher(env: dict[str, str], log_dir: str, i: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "layer_cli.main", "--log-level", "WARNING", "watcher"]
    log = open(os.path.join(log_dir, f"watcher-{i}.log"), "wb")  # noqa: SIM115 - child's stderr
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def kv_size_mb(data: str) -> float:
    return sum(
        os.path.getsize(os.path.join(data, f)) for f in os.listdir(data) if f.startswith("kv.")
    ) / (1024 * 1024)


def summary(layer: Proc) -> dict[str, Any] | None:
    r = requests.get(f"{layer.url}/v2/namespaces/summary", timeout=30)
    return r.json() if r.status_code == 200 else None


def listing(layer: Proc, emu: Proc, repeats: int) -> tuple[float, float]:
    """(Layer cold page of 1000 p50 ms, one upstream list call of 1000 p50 ms).

    Cold: each page is one Layer has not been asked for (the next cursor of the last),
    so its listing cache cannot answer it. The baseline walks the same pages upstream.
    """

    def walk(url: str) -> list[float]:
        s = requests.Session()
        out: list[float] = []
        cursor: str | None = None
        for _ in range(repeats):
            q = f"&cursor={cursor}" if cursor else ""
            t0 = time.perf_counter()
            r = s.get(f"{url}?page_size=1000&prefix={PREFIX}{q}", timeout=120)
            out.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            cursor = r.json().get("next_cursor")
            if not cursor:
                break
        return out

    direct = walk(f"{emu.url}/v1/namespaces")
    cold = walk(f"{layer.url}/v2/namespaces")
    return p50(cold), p50(direct)


def dashboard(layer: Proc, timeout_s: float) -> dict[str, Any]:
    import json

    proc = subprocess.run(
        [sys.executable, "-m", "bench.scale_probe", layer.url, "--timeout", str(timeout_s)],
        capture_output=True,
        text=True,
        timeout=timeout_s + 60,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": f"probe exited {proc.returncode}: {proc.stderr[-300:]}"}
    return dict(json.loads(lines[-1]))


def run(a: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    settings = Settings.from_env(dict(os.environ))
    interval_ms = settings.watch_interval_ms
    ttl_ms = settings.lease_ttl_ms
    max_rps = float(getattr(settings, "watch_max_rps", 100.0))
    sweep_max_ms = int(getattr(settings, "sweep_max_ms", 3_600_000))
    n = a.namespaces
    rows: list[tuple[str, str, str, str]] = []
    data = tempfile.mkdtemp(prefix="layer-scale-")
    emu_args = ["--many", f"{PREFIX}={n}", "--index-lag-ms", str(a.index_lag_ms)]
    try:
        with emulator(*emu_args) as emu:
            s = requests.Session()
            s.post(f"{emu.url}/_emulator/faults", json={"latency_ms": a.latency_ms}, timeout=5)
            emu_rss_start, _ = rss_mb(emu.proc.pid)
            env = _env(emu.url, data, {})
            kv_url = env["LAYER_KV"]
            if not a.no_prefill:
                t0 = time.monotonic()
                made = prefill(kv_url, PREFIX, n, settings)
                print(
                    f"  prefilled {made:,} records in {time.monotonic() - t0:.0f} s",
                    file=sys.stderr,
                )
            with serve(env) as layer:
                rows += main_phase(a, emu, layer, env, data, n, interval_ms, max_rps, sweep_max_ms)
                cold_ms, direct_ms = listing(layer, emu, a.listing_repeats)
                rows.append(
                    (
                        "listing page of 1000, cold, ms",
                        f"{cold_ms:,.1f}",
                        f"{direct_ms:,.1f} one upstream list call",
                        f"{cold_ms / direct_ms:.2f}x (goal <= 1.5x)",
                    )
                )
                d = dashboard(layer, a.dashboard_timeout)
                if d.get("first_paint_s") is not None:
                    rows.append(
                        (
                            "dashboard first paint, s",
                            f"{d['first_paint_s']:.2f} ({d['rows']:,} rows)",
                            "1.00 goal",
                            f"{d['first_paint_s']:.2f}x",
                        )
                    )
                else:
                    rows.append(
                        (
                            "dashboard first paint, s",
                            "not painted",
                            "1.00 goal",
                            str(d.get("error")),
                        )
                    )
                if "peak_rss_mb" in d:
                    rows.append(
                        (
                            "dashboard RSS, MB (peak)",
                            f"{d.get('rss_mb', 0):,.0f} ({d['peak_rss_mb']:,.0f})",
                            "300 goal",
                            f"{d['peak_rss_mb'] / 300:.2f}x",
                        )
                    )
                rows += scale_out(a, emu, env, data, ttl_ms)
            emu_rss, emu_peak = rss_mb(emu.proc.pid)
            rows.append(
                (
                    f"emulator RSS, MB, {n:,} namespaces (start / end / peak)",
                    f"{emu_rss_start:,.0f} / {emu_rss:,.0f} / {emu_peak:,.0f}",
                    "1,500 goal",
                    f"{emu_peak / 1500:.2f}x",
                )
            )
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return rows


def main_phase(
    a: argparse.Namespace,
    emu: Proc,
    layer: Proc,
    env: dict[str, str],
    data: str,
    n: int,
    interval_ms: int,
    max_rps: float,
    sweep_max_ms: int,
) -> list[tuple[str, str, str, str]]:
    watcher = start_watcher(env, a.log_dir, 0)
    s = requests.Session()
    try:
        first_poll_s = first_poll(s, emu.url, watcher, a.first_poll_timeout)
        time.sleep(a.warmup)
        s.post(f"{emu.url}/_emulator/polls", json={"track": True}, timeout=30)
        churn_rate = n * a.churn_pct / 100 / 60
        if churn_rate:
            s.post(
                f"{emu.url}/_emulator/churn", json={"rate": churn_rate, "prefix": PREFIX}, timeout=5
            )
        sampler = RateSampler(emu.url)
        write_rate = n * a.write_pct / 100 / 60
        tracker = LagTracker(env["LAYER_KV"], a.index_lag_ms)
        writer = Writer(layer.url, PREFIX, n, write_rate, tracker)
        for part in (sampler, tracker, writer):
            part.start()
        time.sleep(a.window)
        writer.stop()
        s.post(f"{emu.url}/_emulator/churn", json={"rate": 0}, timeout=5)
        churned = s.get(f"{emu.url}/_emulator/churn", timeout=5).json()
        time.sleep(min(2 * interval_ms / 1000 + a.index_lag_ms / 1000 + 2, 30))  # let lags land
        tracker.stop()
        sampler.stop()
        polls = s.get(f"{emu.url}/_emulator/polls", timeout=120).json()
        tracked_s = (time.time() * 1000 - polls.get("since_ms", time.time() * 1000)) / 1000
        summ = summary(layer)
        w_rss, w_peak = rss_mb(watcher.pid)
    finally:
        stop_all([watcher])
    rates = sampler.rates
    lags = tracker.lags_ms + tracker.waiting_ms
    rows = [
        (
            "watcher start (prefilled KV) to its first metadata call, s",
            f"{first_poll_s:,.1f}" if first_poll_s is not None else "none yet",
            f"{a.first_poll_timeout:.0f} s waited at most",
            "-",
        ),
        _calls_row(rates, n, interval_ms, max_rps),
        (
            f"  writes through Layer: {writer.done:,} in {a.window:.0f} s "
            f"({writer.done / a.window:.1f}/s), errors",
            str(writer.errors),
            f"{write_rate:.1f}/s asked",
            "-",
        ),
    ]
    if churn_rate:
        rows.append(
            (
                "  writes outside Layer (emulator --churn), dropped",
                f"{churned['writes']:,}, {churned['dropped']:,}",
                f"{churn_rate:.1f}/s asked",
                "-",
            )
        )
    if lags:
        goal = 2 * interval_ms
        rows.append(
            (
                f"freshness lag ms p50 / p99 ({len(lags)} writes; {tracker.unsettled} still "
                "unstable at the end, counted at their wait so far)",
                f"{p50(lags):,.0f} / {p99(lags):,.0f}",
                f"{goal:,} goal (2 x interval)",
                f"{p99(lags) / goal:.2f}x",
            )
        )
    else:
        rows.append(("freshness lag", "no write became stable", f"{2 * interval_ms} goal", "-"))
    gap = polls.get("max_idle_gap_ms", 0)
    floor_ms = n / max_rps * 1000
    rows.append(
        (
            f"longest idle gap in {tracked_s:.0f} s of tracking, s "
            f"({polls.get('never_polled_idle', 0):,} idle never polled)",
            f"{gap / 1000:,.1f}",
            f"{sweep_max_ms / 1000:,.0f} LAYER_SWEEP_MAX_MS; {floor_ms / 1000:,.0f} N/budget",
            f"{gap / sweep_max_ms:.2f}x",
        )
    )
    if summ is not None:
        sw = summ.get("sweep", {})
        rows.append(
            (
                "  summary: sweep cycle s, stretch; dirty, unstable",
                f"{(sw.get('cycle_ms') or 0) / 1000:,.0f}, {sw.get('stretch')}; "
                f"{summ.get('dirty')}, {summ.get('unstable')}",
                f"{sweep_max_ms / 1000:,.0f} asked",
                "-",
            )
        )
    else:
        rows.append(("  summary route", "absent (404)", "-", "-"))
    rows.append(
        (
            "watcher RSS, MB (peak); KV size MB",
            f"{w_rss:,.0f} ({w_peak:,.0f}); {kv_size_mb(data):,.0f}",
            "500 goal",
            f"{w_peak / 500:.2f}x",
        )
    )
    return rows


def first_poll(
    s: requests.Session, emu_url: str, watcher: subprocess.Popen[bytes], timeout_s: float
) -> float | None:
    """Seconds from the watcher's start until the emulator sees its first metadata call."""
    t0 = time.monotonic()
    start = s.get(f"{emu_url}/_emulator/stats", timeout=10).json()["metadata"]
    while time.monotonic() - t0 < timeout_s and watcher.poll() is None:
        if s.get(f"{emu_url}/_emulator/stats", timeout=10).json()["metadata"] > start:
            return time.monotonic() - t0
        time.sleep(0.5)
    return None


def _calls_row(
    rates: list[float], n: int, interval_ms: int, max_rps: float
) -> tuple[str, str, str, str]:
    """Mean, highest 1 s and highest 10 s window of the upstream metadata calls."""
    if not rates:
        return ("upstream metadata calls/s", "-", "-", "-")
    mean = statistics.fmean(rates)
    tens = [statistics.fmean(rates[i : i + 10]) for i in range(max(len(rates) - 9, 1))]
    top1, top10 = max(rates), max(tens)
    verdict = lambda x: "within" if x <= max_rps * 1.05 else "ABOVE"  # noqa: E731
    return (
        f"upstream metadata calls/s, {n:,} namespaces: mean / highest 1 s / highest 10 s",
        f"{mean:,.1f} / {top1:,.0f} / {top10:,.1f}",
        f"{n * 1000 / interval_ms:,.0f} N/interval; cap {max_rps:g}",
        f"{mean / (n * 1000 / interval_ms):.4f}x; 1 s {verdict(top1)} cap, 10 s {verdict(top10)}",
    )


def scale_out(
    a: argparse.Namespace, emu: Proc, env: dict[str, str], data: str, ttl_ms: int
) -> list[tuple[str, str, str, str]]:
    rows = []
    kv_url = env["LAYER_KV"]
    leases = expected_leases(Settings.from_env(dict(os.environ)))
    for k in a.watchers:
        procs = [start_watcher(env, a.log_dir, 10 * k + i) for i in range(k)]
        try:
            shared = wait_shared(kv_url, [p.pid for p in procs], leases, a.settle)
            sampler = RateSampler(emu.url)
            sampler.start()
            time.sleep(a.scale_window)
            sampler.stop()
            rate = statistics.fmean(sampler.rates) if sampler.rates else 0.0
            took = "-"
            ratio = "-"
            if k > 1:
                holders = lease_holders(kv_url)
                by_pid = {
                    p.pid: sum(1 for h in holders.values() if f":{p.pid}:" in h) for p in procs
                }
                victim = max(procs, key=lambda p: by_pid[p.pid])
                held = [key for key, h in holders.items() if f":{victim.pid}:" in h]
                victim.send_signal(signal.SIGKILL)
                t = takeover_s(kv_url, victim.pid, held, timeout_s=3 * ttl_ms / 1000 + 30)
                took = f"{t:.1f}" if t is not None else "never"
                ratio = f"{t * 1000 / ttl_ms:.2f}x of TTL" if t is not None else "-"
                took += f" ({len(held)} leases)"
            share = f"{shared:.1f} s" if shared is not None else f"not within {a.settle:.0f} s"
            rows.append(
                (
                    f"{k} watcher process(es): all {leases} leases held, fair shares, after",
                    share,
                    "-",
                    "-",
                )
            )
            rows.append(
                (
                    f"{k} watcher process(es): polls/s; takeover after SIGKILL, s",
                    f"{rate:,.1f}; {took}",
                    f"{ttl_ms / 1000:.0f} s lease TTL",
                    ratio,
                )
            )
        finally:
            stop_all(procs)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="20,000 namespaces, shorter windows")
    ap.add_argument("--namespaces", type=int, default=None)
    ap.add_argument("--latency-ms", type=int, default=10)
    ap.add_argument("--index-lag-ms", type=int, default=1000)
    ap.add_argument("--write-pct", type=float, default=1.0, help="percent of N written per minute")
    ap.add_argument(
        "--churn-pct",
        type=float,
        default=0.0,
        help="percent of N written per minute outside Layer (the emulator's churn)",
    )
    ap.add_argument("--window", type=float, default=None, help="seconds of writes and polling")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--listing-repeats", type=int, default=5)
    ap.add_argument("--dashboard-timeout", type=float, default=60.0)
    ap.add_argument("--watchers", type=int, action="append", default=None)
    ap.add_argument(
        "--settle", type=float, default=None, help="at most this long for watchers to share leases"
    )
    ap.add_argument("--scale-window", type=float, default=None)
    ap.add_argument("--no-prefill", action="store_true")
    ap.add_argument(
        "--first-poll-timeout", type=float, default=None, help="s to wait for the first poll"
    )
    ap.add_argument("--log-dir", default=None, help="keep the watchers' logs here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--max-rps",
        type=float,
        default=None,
        help="LAYER_WATCH_MAX_RPS for the watchers (default: the environment's, or, if unset, "
        "the larger of 100 and 2.5 calls per write asked, so the fast lane fits the budget)",
    )
    a = ap.parse_args(argv)
    random.seed(a.seed)
    a.namespaces = a.namespaces or (20_000 if a.quick else 1_000_000)
    if a.max_rps is None and "LAYER_WATCH_MAX_RPS" not in os.environ:
        # a write through Layer costs about 1.2 polls (one more when the index lags the
        # tick): a budget under that rate can never keep the fast lane's promise
        writes_per_s = a.namespaces * a.write_pct / 100 / 60
        a.max_rps = max(100.0, 50 * math.ceil(2.5 * writes_per_s / 50))
    if a.max_rps is not None:
        os.environ["LAYER_WATCH_MAX_RPS"] = f"{a.max_rps:g}"
    print(f"  LAYER_WATCH_MAX_RPS={os.environ.get('LAYER_WATCH_MAX_RPS', '100')}", file=sys.stderr)
    a.window = a.window or (45.0 if a.quick else 120.0)
    a.watchers = a.watchers or [1, 2, 4]
    a.settle = a.settle or (90.0 if a.quick else 300.0)
    a.first_poll_timeout = a.first_poll_timeout or (120.0 if a.quick else 900.0)
    a.log_dir = a.log_dir or tempfile.mkdtemp(prefix="layer-scale-logs-")
    print(f"  watcher logs in {a.log_dir}", file=sys.stderr)
    a.scale_window = a.scale_window or (10.0 if a.quick else 20.0)
    t0 = time.monotonic()
    rows = run(a)
    print(
        f"bench_scale: {a.namespaces:,} namespaces, upstream latency {a.latency_ms} ms, "
        f"index lag {a.index_lag_ms} ms, {a.write_pct:g}% written through Layer per minute, "
        f"LAYER_WATCH_MAX_RPS={os.environ.get('LAYER_WATCH_MAX_RPS', '100')} "
        f"({time.monotonic() - t0:.0f} s)"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
