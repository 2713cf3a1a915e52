"""Dashboard responsiveness: time to first paint and mean time per inventory refresh.

``measure(client)`` runs the app headless (``run_test``, pinned 120x40) with any
client that speaks the dashboard's interface.

``python -m bench.bench_dashboard`` starts an emulator process with 10,000 small
namespaces and a ``layer serve`` backend over it (``bench/harness.py``), then runs
the dashboard on the real ``LayerClient``. The baseline, measured in the same run
against the same backend, is the raw listing: every page through
``LayerClient.iter_all_namespaces`` (and its first page alone, for first paint), so
the ratios show what the dashboard adds on top of fetching the data.
The listing cache is off by default (``--list-cache-ms 0``) so every pass is a full
fan-out of metadata calls, the worst case a refresh can meet.

``--fake`` runs the app on the in-memory fake instead (no baseline, absolute times).

    python -m bench.bench_dashboard            # real backend + emulator
    python -m bench.bench_dashboard --fake     # in-memory fake
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from textual.widgets import DataTable

from tui.app import LayerDashboard
from tui.client import DashboardClient
from tui.screens.inventory import InventoryScreen

SIZE = (120, 40)


async def _measure(
    client: DashboardClient, n_refreshes: int, timeout_s: float, filter_text: str
) -> dict[str, Any]:
    app = LayerDashboard(client, refresh_s=3600.0)
    started = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:

        async def until(cond: Any, what: str) -> None:
            deadline = time.perf_counter() + timeout_s
            while not cond():
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"timed out waiting for {what}")
                # Plain sleep: pilot.pause() would wait for every queue to drain,
                # hiding the moment the first page lands.
                await asyncio.sleep(0.002)

        def screen() -> InventoryScreen:
            assert isinstance(app.screen, InventoryScreen)
            return app.screen

        await until(lambda: isinstance(app.screen, InventoryScreen), "inventory screen")
        started_s = time.perf_counter() - started
        table = app.screen.query_one("#inventory", DataTable)
        await until(lambda: table.row_count > 0, "first rows")
        app.screen._on_timer_update()  # paint now, as the screen's refresh timer would
        first_paint_s = time.perf_counter() - started
        await until(lambda: screen().refresh_count >= 1, "first full load")
        await pilot.pause()
        full_load_s = time.perf_counter() - started

        refreshes: list[float] = []
        for _ in range(n_refreshes):
            done = screen().refresh_count
            t0 = time.perf_counter()
            screen().action_refresh()
            await until(lambda d=done: screen().refresh_count > d, "refresh")
            await pilot.pause()
            refreshes.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        screen().set_filter(filter_text)
        await pilot.pause()
        filter_s = time.perf_counter() - t0
        shown = table.row_count
        screen().set_filter("")
        await pilot.pause()
        rows = table.row_count
    return {
        "rows": rows,
        "app_start_s": started_s,
        "first_paint_s": first_paint_s,
        "full_load_s": full_load_s,
        "mean_refresh_s": statistics.fmean(refreshes) if refreshes else 0.0,
        "refreshes": refreshes,
        "filter_s": filter_s,
        "filter_rows": shown,
        "filter_text": filter_text,
    }


def measure(
    client: DashboardClient,
    n_refreshes: int = 3,
    timeout_s: float = 120.0,
    filter_text: str = "prod-",
) -> dict[str, Any]:
    """Run the dashboard headless on ``client``; timings in seconds.

    ``first_paint_s`` and ``full_load_s`` count from the app's launch, so they
    include ``app_start_s`` (the inventory screen mounted, no data yet).
    """
    return asyncio.run(_measure(client, n_refreshes, timeout_s, filter_text))


def _print_app(result: dict[str, Any], n_refreshes: int) -> None:
    print(f"  rows in table        {result['rows']:,}")
    print(f"  app start (no data)  {result['app_start_s'] * 1000:8.1f} ms")
    print(f"  first paint          {result['first_paint_s'] * 1000:8.1f} ms")
    print(f"  full load            {result['full_load_s'] * 1000:8.1f} ms")
    print(
        f"  mean refresh         {result['mean_refresh_s'] * 1000:8.1f} ms  ({n_refreshes} refreshes)"
    )
    print(
        f"  filter {result['filter_text']!r:<13} {result['filter_s'] * 1000:8.1f} ms"
        f"  ({result['filter_rows']:,} rows shown)"
    )


def run_fake(n: int, n_refreshes: int) -> None:
    from tui.fake import synthetic

    client = synthetic(n, now_ms=int(time.time() * 1000))
    result = measure(client, n_refreshes=n_refreshes)
    print(f"dashboard on fake client, {n:,} namespaces, terminal {SIZE[0]}x{SIZE[1]}")
    _print_app(result, n_refreshes)


def _raw_listing(client: Any) -> tuple[float, float, int]:
    """(first page s, all pages s, rows) of the raw listing, as the dashboard pages it."""
    t0 = time.perf_counter()
    client.list_namespaces(page_size=1000)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = sum(1 for _ in client.iter_all_namespaces(page_size=1000))
    return first, time.perf_counter() - t0, rows


def run_real(n: int, n_refreshes: int, list_cache_ms: int, watcher: bool) -> None:
    from bench.harness import backend, emulator, table
    from common.api_client import LayerClient

    env = {
        "NAMESPACE_LIST_CACHE_TTL_MS": str(list_cache_ms),
        "LAYER_BENCH_NO_WATCHER": "0" if watcher else "1",
    }
    with (
        emulator("--index-lag-ms", "100", "--many", f"ns-={n}") as emu,
        backend(emu.url, **env) as layer,
    ):
        client = LayerClient(layer.url, timeout_s=120.0)
        try:
            _raw_listing(client)  # warm-up: connections, SQLite, the emulator's caches
            raw = [_raw_listing(client) for _ in range(3)]
            first_page_s = statistics.median(r[0] for r in raw)
            all_pages_s = statistics.median(r[1] for r in raw)
            result = measure(client, n_refreshes=n_refreshes, filter_text="ns-01")
        finally:
            client.close()
    print(
        f"dashboard on a real backend (layer serve) over the emulator, {raw[0][2]:,} namespaces,"
        f" listing cache {list_cache_ms} ms, watcher {'on' if watcher else 'off'},"
        f" terminal {SIZE[0]}x{SIZE[1]}"
    )
    _print_app(result, n_refreshes)
    ms = lambda s: f"{s * 1000:.1f}"  # noqa: E731
    print()
    print(
        table(
            [
                (
                    "first paint ms vs first raw page",
                    ms(result["first_paint_s"]),
                    ms(first_page_s),
                    f"{result['first_paint_s'] / first_page_s:.2f}x",
                ),
                (
                    "full load ms vs raw listing (all pages)",
                    ms(result["full_load_s"]),
                    ms(all_pages_s),
                    f"{result['full_load_s'] / all_pages_s:.2f}x",
                ),
                (
                    "mean refresh ms vs raw listing (all pages)",
                    ms(result["mean_refresh_s"]),
                    ms(all_pages_s),
                    f"{result['mean_refresh_s'] / all_pages_s:.2f}x",
                ),
            ]
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--namespaces", type=int, default=10_000)
    parser.add_argument("--refreshes", type=int, default=3)
    parser.add_argument("--fake", action="store_true", help="use the in-memory fake client")
    parser.add_argument(
        "--list-cache-ms", type=int, default=0, help="NAMESPACE_LIST_CACHE_TTL_MS of the backend"
    )
    parser.add_argument("--watcher", action="store_true", help="run the backend's watcher too")
    args = parser.parse_args(argv)
    if args.fake:
        run_fake(args.namespaces, args.refreshes)
    else:
        run_real(args.namespaces, args.refreshes, args.list_cache_ms, args.watcher)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
