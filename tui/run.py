"""Entry point the ``layer dashboard`` command calls."""

from __future__ import annotations

import os
import sys

from common.api_client import LayerClient, check_backend_url, timeout_for_budget
from common.settings import Settings


def run_dashboard(url: str, token: str | None, refresh_s: float) -> int:
    """Run the dashboard against ``url`` until the user quits; returns an exit code.

    The token falls back to ``LAYER_TOKEN``. The HTTP timeout is derived from the
    backend's interactive budget (``GET /v2/whoami``), the documented default's until
    that answers, so a slow upstream shows as Layer's answer naming Turbopuffer and
    only a backend that does not answer as unreachable. A refresh never overlaps the
    one before, so a timeout longer than the interval does not pile requests up.
    """
    from tui.app import LayerDashboard

    problem = check_backend_url(url)
    if problem:
        print(f"layer dashboard: {problem}", file=sys.stderr)
        return 2
    refresh_s = max(0.5, float(refresh_s))
    token = token or os.environ.get("LAYER_TOKEN") or None
    client = LayerClient(
        url, token=token, timeout_s=timeout_for_budget(Settings.interactive_budget_ms)
    )
    try:
        app = LayerDashboard(client, refresh_s=refresh_s, url=url)
        result = app.run()
    finally:
        client.close()
    return int(result or 0)
