"""The ``layer`` command's own errors: one line that names the cause, and an exit code.

Each runs the real console script in a subprocess, as a user types it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.net import free_port

LAYER = [sys.executable, "-m", "layer_cli.main"]


def run_layer(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "LAYER_LOG_FORMAT": "text", **(env or {})}
    return subprocess.run(
        LAYER + args, env=full_env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def sigint_reaches_children() -> Iterator[None]:
    """A shell starts a background job (``pytest … &``) with SIGINT ignored, and a child
    inherits that: ``layer demo`` then never sees the test's SIGINT, as a user's Ctrl-C
    would reach it (both demo tests failed so in whole runs started from a script).
    With a handler here instead, children start with SIGINT at its default."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("LAYER_KV", "redis://localhost:6379", "supported schemes are sqlite://, aerospike://"),
        ("LAYER_KV", "sqlite://", "sqlite URL needs a path"),
        ("LAYER_KV", "aerospike://nohost", "aerospike URL must be"),
        ("LAYER_OBJECT_STORE", "gs://bucket", "supported schemes are file://, s3://"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "watcher"])
def test_bad_store_url_is_one_line_naming_the_variable(
    tmp_path: Path, command: str, variable: str, value: str, says: str
) -> None:
    args = [command, "--upstream", "http://127.0.0.1:9"]
    if command == "serve":
        args += ["--port", str(free_port())]
    env = {
        "LAYER_KV": f"sqlite://{tmp_path}/kv.sqlite",
        "LAYER_OBJECT_STORE": f"file://{tmp_path}/objects",
        variable: value,
    }
    proc = run_layer(args, env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"layer: configuration error: {variable}: ")
    assert says in lines[0]
    assert "Traceback" not in proc.stderr


def test_serve_on_a_busy_port_says_so_in_one_line(busy_port: int, tmp_path: Path) -> None:
    env = {"LAYER_KV": f"sqlite://{tmp_path}/kv.sqlite"}
    proc = run_layer(["serve", "--port", str(busy_port), "--no-watcher"], env)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"layer serve: port {busy_port} on 127.0.0.1 is in use by another process; "
        "stop it or choose another with --port"
    )
    assert "Can't connect" not in proc.stderr + proc.stdout


def test_demo_says_when_it_moves_off_a_busy_port_and_removes_its_temp_folder(
    busy_port: int, sigint_reaches_children: None
) -> None:
    proc = subprocess.Popen(
        LAYER
        + ["demo", "--headless", "--port", str(busy_port), "--emulator-port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "serving until Ctrl-C" in line:
                break
        out = "".join(lines)
        assert re.search(
            rf"layer demo: port {busy_port} is in use; the backend uses port \d+ instead", out
        ), out
        stores = re.search(r"stores:\s+(\S+) \(removed on exit", out)
        assert stores, out
        data_dir = Path(stores.group(1))
        assert data_dir.is_dir()
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        assert not data_dir.exists(), "the demo's temporary folder outlived it"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_keeps_a_data_dir_it_was_given(tmp_path: Path, sigint_reaches_children: None) -> None:
    data_dir = tmp_path / "kept"
    proc = subprocess.Popen(
        LAYER
        + [
            "demo",
            "--headless",
            "--port",
            str(free_port()),
            "--emulator-port",
            str(free_port()),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "serving until Ctrl-C" in line:
                break
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        assert (data_dir / "layer.sqlite").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_dashboard_url_without_scheme() -> None:
    proc = run_layer(["dashboard", "--url", "127.0.0.1:8700"])
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "layer dashboard: --url '127.0.0.1:8700' is not an http:// or https:// URL "
        "(did you mean http://127.0.0.1:8700?)"
    )


def test_dashboard_url_of_the_emulator_is_not_a_backend(emulator: object) -> None:
    url = emulator.url  # type: ignore[attr-defined]
    proc = run_layer(["dashboard", "--url", url])
    assert proc.returncode == 2
    assert f"{url} answers but is not a Layer backend (GET /healthz gave 404)" in proc.stderr


def test_procfile_web_with_a_bad_store_url_stops_with_one_configuration_line(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "LAYER_KV": "redis://localhost:6379",
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "python:backend.gunicorn_conf"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode != 0
    config_lines = [ln for ln in proc.stderr.splitlines() if "configuration error" in ln]
    assert config_lines == [
        "layer: configuration error: LAYER_KV: unsupported KV store URL "
        "'redis://localhost:6379': supported schemes are sqlite://, aerospike://"
    ]
    assert "Traceback" not in proc.stderr
    assert "Worker failed to boot" in proc.stderr
