"""Dashboard at scale: first paint, memory, refresh, paging and the jump to the end.

``measure(client)`` runs the app headless (``run_test``, pinned 120x40) with any
client that speaks the dashboard's interface, and reports:

- first paint: app launch to the first rows in the table, painted;
- RSS of this process after the first paint, after paging down, after ``G``
  (``/proc/self/status`` VmRSS; the peak is VmHWM). The fake's million namespaces
  are made on demand, so with ``--fake`` the figure is the dashboard's own;
- mean refresh (the summary and the pages on screen);
- paging: with the cursor on the last loaded row, the time until the next page is in
  the table (median over ``--pages`` pages);
- ``G``: the jump to the end, which follows ``next_cursor`` through every page.

Every figure has a baseline measured in the same run on the same client: the raw
calls the dashboard cannot avoid (one listing page, the summary, all pages for ``G``).

    python -m bench.bench_dashboard --fake -n 1000000   # lazy in-memory million
    python -m bench.bench_dashboard -n 10000            # layer serve over the emulator

The real mode starts an emulator process with ``--many ns-=N`` and a ``layer serve``
backend over it (``bench/harness.py``) and runs the dashboard on the real
``LayerClient``. ``--no-end`` skips the jump to the end (a million namespaces are a
thousand pages).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from typing import Any

from tui.app import LayerDashboard
from tui.client import DashboardClient
from tui.screens.inventory import InventoryScreen

SIZE = (120, 40)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set of this process in MB."""
    cur = peak = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


async def _measure(
    client: DashboardClient, n_refreshes: int, pages: int, end: bool, timeout_s: float
) -> dict[str, Any]:
    out: dict[str, Any] = {"rss_before_mb": rss_mb()[0]}
    app = LayerDashboard(client, refresh_s=3600.0)
    started = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:

        async def until(cond: Callable[..., bool], what: str) -> None:
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
        out["app_start_s"] = time.perf_counter() - started
        table = screen().table
        await until(lambda: table.row_count > 0, "first rows")
        app.screen._on_timer_update()  # paint now, as the screen's refresh timer would
        out["first_paint_s"] = time.perf_counter() - started
        await until(lambda: screen().summary is not None, "summary")
        await pilot.pause()
        out["summary_s"] = time.perf_counter() - started
        out["rss_paint_mb"] = rss_mb()[0]

        refreshes: list[float] = []
        for _ in range(n_refreshes):
            done = screen().refresh_count
            t0 = time.perf_counter()
            screen().action_refresh()
            await until(lambda d=done: screen().refresh_count > d, "refresh")
            await pilot.pause()
            refreshes.append(time.perf_counter() - t0)
        out["mean_refresh_s"] = statistics.fmean(refreshes) if refreshes else 0.0

        # Paging: the cursor at the last loaded row (as after holding pagedown), then
        # the time until the next page is in the table.
        per_page: list[float] = []
        for _ in range(pages):
            listing = screen().listing
            if listing.end is not None:
                break
            hi = listing.hi
            t0 = time.perf_counter()
            table.move_cursor(row=table.row_count - 1)
            await until(lambda h=hi: screen().listing.hi != h, "the next page")
            await pilot.pause()
            per_page.append(time.perf_counter() - t0)
        out["page_down_s"] = statistics.median(per_page) if per_page else 0.0
        out["pages_read"] = len(per_page)
        out["rows_held"] = len(screen().rows)
        out["rss_paged_mb"] = rss_mb()[0]

        if end:
            t0 = time.perf_counter()
            await pilot.press("G")
            await until(lambda: screen().listing.end in screen().listing.pages, "the end")
            await pilot.pause()
            out["end_s"] = time.perf_counter() - t0
            out["end_pages"] = (screen().listing.end or 0) + 1
            out["rows_held_end"] = len(screen().rows)
        out["rss_end_mb"], out["rss_peak_mb"] = rss_mb()
    return out


def measure(
    client: DashboardClient,
    n_refreshes: int = 3,
    pages: int = 20,
    end: bool = True,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Run the dashboard headless on ``client``; timings in seconds, memory in MB."""
    return asyncio.run(_measure(client, n_refreshes, pages, end, timeout_s))


def baseline(client: DashboardClient, end: bool, page_size: int = 1000) -> dict[str, float]:
    """The raw calls: one listing page, the summary, every page (for ``G``)."""
    out: dict[str, float] = {}
    firsts, summaries = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        client.list_namespaces(page_size=page_size)
        firsts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with contextlib.suppress(Exception):  # an older backend without the route
            client.summary()
        summaries.append(time.perf_counter() - t0)
    out["page_s"] = statistics.median(firsts)
    out["summary_s"] = statistics.median(summaries)
    if end:
        t0 = time.perf_counter()
        cursor: str | None = None
        while True:
            page = client.list_namespaces(cursor=cursor, page_size=page_size)
            cursor = page.get("next_cursor")
            if not cursor:
                break
        out["all_pages_s"] = time.perf_counter() - t0
    return out


def report(title: str, r: dict[str, Any], b: dict[str, float]) -> None:
    from bench.harness import table

    ms = lambda s: f"{s * 1000:,.1f}"  # noqa: E731
    rows = [
        (
            "first paint ms (goal <= 1000)",
            ms(r["first_paint_s"]),
            f"{ms(r['app_start_s'] + b['page_s'])} app start + one page",
            f"{r['first_paint_s'] / (r['app_start_s'] + b['page_s']):.2f}x",
        ),
        (
            "summary in the header ms",
            ms(r["summary_s"]),
            f"{ms(b['summary_s'])} one summary call",
            f"{r['summary_s'] / max(b['summary_s'], 1e-6):.2f}x",
        ),
        (
            "mean refresh ms (visible pages + summary)",
            ms(r["mean_refresh_s"]),
            f"{ms(b['page_s'] + b['summary_s'])} page + summary",
            f"{r['mean_refresh_s'] / (b['page_s'] + b['summary_s']):.2f}x",
        ),
        (
            f"next page in the table ms, median of {r['pages_read']}",
            ms(r["page_down_s"]),
            f"{ms(b['page_s'])} one listing page",
            f"{r['page_down_s'] / b['page_s']:.2f}x",
        ),
    ]
    if "end_s" in r:
        rows.append(
            (
                f"G to the end s ({r['end_pages']:,} pages)",
                f"{r['end_s']:,.2f}",
                f"{b['all_pages_s']:,.2f} all pages, raw",
                f"{r['end_s'] / b['all_pages_s']:.2f}x",
            )
        )
    mb = lambda v: f"{v:,.0f}"  # noqa: E731
    rows += [
        (
            "RSS MB after first paint (goal <= 300)",
            mb(r["rss_paint_mb"]),
            f"{mb(r['rss_before_mb'])} before the app",
            f"+{r['rss_paint_mb'] - r['rss_before_mb']:,.0f} MB",
        ),
        (
            f"RSS MB after paging ({r['rows_held']:,} rows held)",
            mb(r["rss_paged_mb"]),
            mb(r["rss_before_mb"]),
            f"+{r['rss_paged_mb'] - r['rss_before_mb']:,.0f} MB",
        ),
        (
            "RSS MB at the end / peak",
            f"{mb(r['rss_end_mb'])} / {mb(r['rss_peak_mb'])}",
            mb(r["rss_before_mb"]),
            f"+{r['rss_peak_mb'] - r['rss_before_mb']:,.0f} MB peak",
        ),
    ]
    print(title)
    print(table(rows))


def run_fake(n: int, args: argparse.Namespace) -> None:
    from tui.fake import many

    client = many(n, now_ms=int(time.time() * 1000))
    client.summary()  # the backend keeps its totals; the fake computes them once
    b = baseline(client, not args.no_end)
    r = measure(client, args.refreshes, args.pages, not args.no_end)
    report(f"dashboard on the fake's lazy listing, {n:,} namespaces, {SIZE[0]}x{SIZE[1]}", r, b)


def run_real(n: int, args: argparse.Namespace) -> None:
    from bench.harness import backend, emulator
    from common.api_client import LayerClient

    env = {
        "NAMESPACE_LIST_CACHE_TTL_MS": str(args.list_cache_ms),
        "LAYER_BENCH_NO_WATCHER": "0" if args.watcher else "1",
    }
    with (
        emulator("--index-lag-ms", "100", "--many", f"ns-={n}") as emu,
        backend(emu.url, **env) as layer,
    ):
        client = LayerClient(layer.url, timeout_s=120.0)
        try:
            client.list_namespaces(page_size=1000)  # warm-up: connections, SQLite
            b = baseline(client, not args.no_end)
            r = measure(client, args.refreshes, args.pages, not args.no_end)
        finally:
            client.close()
    report(
        f"dashboard on a real backend (layer serve) over the emulator, {n:,} namespaces,"
        f" listing cache {args.list_cache_ms} ms, watcher {'on' if args.watcher else 'off'},"
        f" {SIZE[0]}x{SIZE[1]}",
        r,
        b,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--namespaces", type=int, default=None)
    parser.add_argument("--refreshes", type=int, default=3)
    parser.add_argument("--pages", type=int, default=10, help="pages to read by paging down")
    parser.add_argument("--no-end", action="store_true", help="skip the jump to the end")
    parser.add_argument("--fake", action="store_true", help="use the in-memory fake client")
    parser.add_argument(
        "--list-cache-ms", type=int, default=0, help="NAMESPACE_LIST_CACHE_TTL_MS of the backend"
    )
    parser.add_argument("--watcher", action="store_true", help="run the backend's watcher too")
    args = parser.parse_args(argv)
    if args.fake:
        run_fake(args.namespaces or 1_000_000, args)
    else:
        run_real(args.namespaces or 10_000, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
