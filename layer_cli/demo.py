"""``layer demo``: the emulator with demo data, the backend wired to it, the dashboard.

Nothing to configure: stores go to a fresh temporary directory (or ``--data-dir``),
ports default to 8700/8701 and fall back to free ones when taken, and facets are
configured for ``products`` so the watcher writes its snapshot history.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from backend.app import create_app
from backend.inprocess import InProcessServer
from backend.observability import configure_logging
from common.settings import Settings
from emulator.demo import CATEGORIES

DEMO_FACETS = (("products", ("category", "brand", "tags")), ("prod-*", ("status",)))
DEMO_LABELS = (
    ("prod-*", (("env", "prod"),)),
    ("staging-*", (("env", "staging"),)),
    ("dev-*", (("env", "dev"),)),
)


def _port_or_free(port: int, what: str = "") -> int:
    """``port`` if it is free, else a free one, saying so when ``what`` names the server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            s.bind(("127.0.0.1", 0))
            free = int(s.getsockname()[1])
    if what:
        print(f"layer demo: port {port} is in use; the {what} uses port {free} instead", flush=True)
    return free


def demo_settings(upstream_url: str, data_dir: Path) -> Settings:
    return Settings.from_env(
        {},
        turbopuffer_base_url=upstream_url,
        kv_url=f"sqlite://{data_dir / 'layer.sqlite'}",
        object_store_url=f"file://{data_dir / 'objects'}",
        watch_interval_ms=2000,
        facets=DEMO_FACETS,
        labels=DEMO_LABELS,
    )


class ChildEmulator:
    """The emulator in its own process, so it does not share a GIL with the backend."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_emulator(port: int, seed: int, data_dir: Path) -> ChildEmulator:
    cmd = [sys.executable, "-m", "emulator", "--demo", "--seed", str(seed), "--port", str(port)]
    log = open(data_dir / "emulator.log", "wb")  # noqa: SIM115 - lives as long as the child
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    emu = ChildEmulator(proc, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"layer demo: the emulator exited; see {data_dir / 'emulator.log'}")
        try:
            if requests.get(f"{emu.url}/v1/namespaces?page_size=1", timeout=1).ok:
                return emu
        except requests.RequestException:
            pass
        time.sleep(0.1)
    emu.stop()
    raise SystemExit("layer demo: the emulator did not start within 60 s")


def write_bursts(
    layer_url: str, stop: threading.Event, every_s: float = 20.0, seed: int = 0
) -> None:
    """Every ``every_s``, re-categorise a few dozen products through Layer (so the rows
    are stamped), so the watcher's history of ``products`` grows one entry per burst."""
    rng = random.Random(seed)
    session = requests.Session()
    while not stop.wait(every_s):
        rows = [
            {"id": rng.randrange(1, 12_501), "category": rng.choice(CATEGORIES)} for _ in range(40)
        ]
        try:
            session.post(
                f"{layer_url}/v2/namespaces/products", json={"patch_rows": rows}, timeout=10
            )
        except requests.RequestException:
            continue  # the backend is stopping


def run_demo(args: argparse.Namespace) -> int:
    # A temporary folder is the demo's own and goes with it; a --data-dir is the user's.
    data_dir = (
        Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="layer-demo-"))
    )
    try:
        return _run_demo(args, data_dir)
    finally:
        if not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def _run_demo(args: argparse.Namespace, data_dir: Path) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    # The dashboard owns the terminal: logs go to a file (stderr when headless).
    log_path = None if args.headless else str(data_dir / "layer.log")
    configure_logging(args.log_level, "text", path=log_path)
    print("layer demo: generating demo data and starting the emulator ...", flush=True)
    emu = start_emulator(_port_or_free(args.emulator_port, "emulator"), args.seed, data_dir)
    app = create_app(demo_settings(emu.url, data_dir))
    backend = InProcessServer(app, port=_port_or_free(args.port, "backend"), watch=True).start()
    print(f"  emulator (fake Turbopuffer): {emu.url}", flush=True)
    print(f"  Layer backend:               {backend.url}", flush=True)
    kept = "kept" if args.data_dir else "removed on exit; --data-dir keeps them"
    print(f"  stores:                      {data_dir} ({kept})", flush=True)
    if log_path:
        print(f"  log:                         {log_path}", flush=True)
    print(f"  try: curl -s '{backend.url}/v2/namespaces?page_size=5'", flush=True)
    stop_bursts = threading.Event()
    threading.Thread(
        target=write_bursts,
        args=(backend.url, stop_bursts),
        kwargs={"seed": args.seed},
        daemon=True,
    ).start()
    try:
        if args.headless:
            print("serving until Ctrl-C", flush=True)
            stop = threading.Event()
            while not stop.wait(3600):
                pass
        else:
            time.sleep(0.5)
            from tui.run import run_dashboard

            return run_dashboard(backend.url, None, 5.0)
    except KeyboardInterrupt:
        print("\nlayer demo: stopping", flush=True)
    finally:
        stop_bursts.set()
        backend.stop()
        emu.stop()
    return 0
