"""Entry point the ``layer dashboard`` command calls."""

from __future__ import annotations

import os
import sys

from common.api_client import LayerClient, check_backend_url


def run_dashboard(url: str, token: str | None, refresh_s: float) -> int:
    """Run the dashboard against ``url`` until the user quits; returns an exit code.

    The token falls back to ``LAYER_TOKEN``. HTTP timeouts stay below the refresh
    interval so a slow backend shows as stale instead of piling up requests.
    """
    from tui.app import LayerDashboard

    problem = check_backend_url(url)
    if problem:
        print(f"layer dashboard: {problem}", file=sys.stderr)
        return 2
    refresh_s = max(0.5, float(refresh_s))
    token = token or os.environ.get("LAYER_TOKEN") or None
    timeout_s = max(0.5, min(3.0, refresh_s * 0.8))
    client = LayerClient(url, token=token, timeout_s=timeout_s)
    try:
        app = LayerDashboard(client, refresh_s=refresh_s, url=url)
        result = app.run()
    finally:
        client.close()
    return int(result or 0)
