"""Run the dashboard on the in-memory fake: ``python -m tui.demo_fake [-n 10000]``.

``--many 1000000`` serves that many namespaces made on demand (``tui.fake.many``).

For trying the UI (tmux, screenshots) before a backend is running.
"""

from __future__ import annotations

import argparse
import time

from tui.app import LayerDashboard
from tui.fake import many, synthetic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--namespaces", type=int, default=200)
    parser.add_argument("--many", type=int, default=0, help="namespaces made on demand")
    parser.add_argument("--refresh", type=float, default=5.0)
    args = parser.parse_args(argv)
    now_ms = int(time.time() * 1000)
    client = (
        many(args.many, now_ms=now_ms) if args.many else synthetic(args.namespaces, now_ms=now_ms)
    )
    LayerDashboard(client, refresh_s=args.refresh, url="fake://demo").run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
