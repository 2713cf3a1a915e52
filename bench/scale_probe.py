"""The dashboard's first paint and RSS, in a process of its own, for bench_scale.

    python -m bench.scale_probe URL [--timeout S]

Runs the dashboard headless (``run_test``, 120x40) on the real ``LayerClient``, waits
for the first rows in any table of the first screen, and prints one JSON line:
``{"first_paint_s", "rows", "rss_mb", "peak_rss_mb", "error"}``. RSS is read a couple
of seconds after the first paint, so work the dashboard starts behind the paint (more
pages, a summary) counts too. Its own process, so its RSS is the dashboard's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any

SIZE = (120, 40)


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(current, peak) resident set of a process in MB, from /proc."""
    cur = peak = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


async def _probe(url: str, timeout_s: float, settle_s: float) -> dict[str, Any]:
    from textual.widgets import DataTable

    from common.api_client import LayerClient
    from tui.app import LayerDashboard

    client = LayerClient(url, timeout_s=min(timeout_s, 60.0))
    app = LayerDashboard(client, refresh_s=3600.0)
    out: dict[str, Any] = {"first_paint_s": None, "rows": 0, "error": None}
    started = time.perf_counter()
    try:
        async with app.run_test(size=SIZE) as pilot:
            deadline = started + timeout_s
            while True:
                tables = list(app.screen.query(DataTable))
                rows = max((t.row_count for t in tables), default=0)
                if rows > 0:
                    out["first_paint_s"] = time.perf_counter() - started
                    out["rows"] = rows
                    break
                if time.perf_counter() > deadline:
                    out["error"] = f"no rows within {timeout_s:.0f} s"
                    break
                await asyncio.sleep(0.005)
            end = time.perf_counter() + settle_s
            while time.perf_counter() < end:
                await asyncio.sleep(0.05)
            await pilot.pause()
            tables = list(app.screen.query(DataTable))
            out["rows"] = max((t.row_count for t in tables), default=out["rows"])
            out["rss_mb"], _ = rss_mb()
    finally:
        client.close()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=2.0)
    a = ap.parse_args(argv)
    print(json.dumps(asyncio.run(_probe(a.url, a.timeout, a.settle))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
