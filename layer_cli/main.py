"""The ``layer`` command: serve, watcher, dashboard, emulator, demo."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from common.settings import Settings, SettingsError


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "upstream", None):
        overrides["turbopuffer_base_url"] = args.upstream.rstrip("/")
    return Settings.from_env(**overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    from backend.serve import PortInUse, serve

    try:
        return serve(
            _settings(args), args.host, args.port, threads=args.threads, watch=not args.no_watcher
        )
    except PortInUse as exc:
        print(f"layer serve: {exc}", file=sys.stderr)
        return 1


def cmd_watcher(args: argparse.Namespace) -> int:
    from backend.app import create_app
    from backend.scheduling import build_watcher_scheduler, stop_watcher

    settings = _settings(args)
    app = create_app(settings)
    sched = build_watcher_scheduler(app, blocking=True)
    print(
        f"layer watcher: polling {settings.turbopuffer_base_url} every {settings.watch_interval_ms} ms "
        "(idles while another watcher holds the lease)",
        flush=True,
    )

    def on_term(signum: int, frame: object) -> None:
        # Leave the blocking loop; the finally below releases the lease at once.
        sched.shutdown(wait=False)

    signal.signal(signal.SIGTERM, on_term)
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        stop_watcher(app, sched)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from tui.run import run_dashboard

    return run_dashboard(args.url, args.token or os.environ.get("LAYER_TOKEN"), args.refresh)


def cmd_emulator(args: argparse.Namespace) -> int:
    from emulator.cli import run

    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from layer_cli.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layer",
        description="Layer: freshness, facet snapshots and an inventory in front of Turbopuffer. "
        "Settings come from the environment (see README, 'Configuration').",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LAYER_LOG_LEVEL", "INFO"),
        help="logging level (default INFO)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "serve", help="backend and watcher in one process, embedded stores by default"
    )
    p.add_argument(
        "--host",
        default=os.environ.get("LAYER_HOST", "127.0.0.1"),
        help="bind address (default 127.0.0.1, env LAYER_HOST)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", os.environ.get("LAYER_PORT", "8700"))),
        help="port (default 8700, env PORT or LAYER_PORT)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("LAYER_THREADS", "8")),
        help="worker threads (default 8, env LAYER_THREADS)",
    )
    p.add_argument("--upstream", help="Turbopuffer base URL (overrides TURBOPUFFER_BASE_URL)")
    p.add_argument(
        "--no-watcher",
        action="store_true",
        help="serve the API only; run 'layer watcher' elsewhere",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "watcher", help="the consistency watcher alone (for a separate worker process)"
    )
    p.add_argument("--upstream", help="Turbopuffer base URL (overrides TURBOPUFFER_BASE_URL)")
    p.set_defaults(func=cmd_watcher)

    p = sub.add_parser("dashboard", help="the terminal dashboard over a running backend")
    p.add_argument(
        "--url",
        default=os.environ.get("LAYER_URL", "http://127.0.0.1:8700"),
        help="Layer backend URL (default http://127.0.0.1:8700, env LAYER_URL)",
    )
    p.add_argument("--token", help="Layer API key (default: env LAYER_TOKEN)")
    p.add_argument(
        "--refresh", type=float, default=5.0, help="refresh interval in seconds (default 5)"
    )
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("emulator", help="a local Turbopuffer-compatible server")
    from emulator.cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_emulator)

    p = sub.add_parser(
        "demo", help="emulator with demo data + backend + dashboard, nothing to configure"
    )
    p.add_argument(
        "--headless",
        action="store_true",
        help="no dashboard: print the URLs and serve until Ctrl-C",
    )
    p.add_argument(
        "--port", type=int, default=8700, help="backend port (default 8700; a free one if taken)"
    )
    p.add_argument(
        "--emulator-port",
        type=int,
        default=8701,
        help="emulator port (default 8701; a free one if taken)",
    )
    p.add_argument(
        "--data-dir",
        help="where the demo keeps its stores and logs (default: a temporary directory, removed on exit)",
    )
    p.add_argument("--seed", type=int, default=0, help="demo data seed (default 0)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "demo":
        from backend.observability import configure_logging

        default_fmt = "json" if args.command in ("serve", "watcher") else "text"
        fmt = os.environ.get("LAYER_LOG_FORMAT", default_fmt)
        configure_logging(args.log_level, fmt, secrets=[os.environ.get("TURBOPUFFER_API_KEY", "")])
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"layer: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
