"""Dashboard responsiveness: time to first paint and mean time per inventory refresh.

``measure(client)`` runs the app headless (``run_test``, pinned 120x40) with any
client that speaks the dashboard's interface. ``python -m bench.bench_dashboard``
runs it against the in-memory fake serving 10,000 synthetic namespaces; there is no
baseline in this run, so it prints absolute times and the row count.
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


async def _measure(client: DashboardClient, n_refreshes: int, timeout_s: float) -> dict[str, Any]:
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
        screen().set_filter("prod-")
        await pilot.pause()
        filter_s = time.perf_counter() - t0
        shown = table.row_count
        screen().set_filter("")
        await pilot.pause()
        rows = table.row_count
    return {
        "rows": rows,
        "first_paint_s": first_paint_s,
        "full_load_s": full_load_s,
        "mean_refresh_s": statistics.fmean(refreshes) if refreshes else 0.0,
        "refreshes": refreshes,
        "filter_s": filter_s,
        "filter_rows": shown,
    }


def measure(
    client: DashboardClient, n_refreshes: int = 3, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Run the dashboard headless on ``client``; timings in seconds."""
    return asyncio.run(_measure(client, n_refreshes, timeout_s))


def main(argv: list[str] | None = None) -> int:
    from tui.fake import synthetic

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--namespaces", type=int, default=10_000)
    parser.add_argument("--refreshes", type=int, default=3)
    args = parser.parse_args(argv)
    client = synthetic(args.namespaces, now_ms=int(time.time() * 1000))
    result = measure(client, n_refreshes=args.refreshes)
    print(f"dashboard on fake client, {args.namespaces:,} namespaces, terminal {SIZE[0]}x{SIZE[1]}")
    print(f"  rows in table        {result['rows']:,}")
    print(f"  first paint          {result['first_paint_s'] * 1000:8.1f} ms")
    print(f"  full load            {result['full_load_s'] * 1000:8.1f} ms")
    print(
        f"  mean refresh         {result['mean_refresh_s'] * 1000:8.1f} ms  ({args.refreshes} refreshes)"
    )
    print(
        f"  filter 'prod-'       {result['filter_s'] * 1000:8.1f} ms  ({result['filter_rows']:,} rows shown)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
