"""Starting the emulator and the backend as separate processes for benchmarks.

Separate processes, so Layer and its upstream do not share one GIL and the baseline
(a direct call to the emulator) is measured against the same server Layer talks to.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from common.timeutil import ms_from_iso


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_http(
    url: str, what: str, timeout: float = 300.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    print(f"  waiting for {what} at {url} ...", file=sys.stderr, flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not answer within {timeout}s")


@contextmanager
def emulator(*args: str) -> Iterator[Proc]:
    port = free_port()
    cmd = [sys.executable, "-m", "layer_cli.main", "emulator", "--port", str(port), *args]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = Proc(p, f"http://127.0.0.1:{port}")
    try:
        _wait_http(f"{proc.url}/v1/namespaces?page_size=1", "emulator", proc=p)
        yield proc
    finally:
        proc.stop()


@contextmanager
def backend(upstream: str, **env: str) -> Iterator[Proc]:
    data = tempfile.mkdtemp(prefix="layer-bench-")
    full_env = {
        **os.environ,
        "TURBOPUFFER_BASE_URL": upstream,
        "LAYER_KV": f"sqlite://{data}/kv.sqlite",
        "LAYER_OBJECT_STORE": f"file://{data}/objects",
        "LAYER_LOG_LEVEL": "WARNING",
        **env,
    }
    try:
        with serve_layer(full_env, watcher=env.get("LAYER_BENCH_NO_WATCHER", "1") != "1") as proc:
            yield proc
    finally:
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def serve_layer(env: dict[str, str], *, watcher: bool) -> Iterator[Proc]:
    """``layer serve`` on a free port with the whole environment ``env``, until done."""
    port = free_port()
    cmd = [sys.executable, "-m", "layer_cli.main", "--log-level", "WARNING", "serve"]
    cmd += ["--port", str(port), *([] if watcher else ["--no-watcher"])]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = Proc(p, f"http://127.0.0.1:{port}")
    try:
        _wait_http(f"{proc.url}/healthz", "Layer backend", proc=p)
        yield proc
    finally:
        proc.stop()


def run_job(b: Proc, ns: str, **body: Any) -> tuple[dict[str, Any], float]:
    """Create a snapshot job and wait for it; (job, seconds from created_at to finished_at).

    The duration is the job record's own (milliseconds, stamped by Layer when it accepted
    the job and when it finished), so the polling below neither adds to it nor, by
    polling fast, takes CPU from the job it times: the poll starts at 2 ms and backs off
    to 50 ms.
    """
    s = requests.Session()
    r = s.post(f"{b.url}/v2/namespaces/{ns}/snapshots", json=body, timeout=60)
    r.raise_for_status()
    job_id = r.json()["id"]
    poll_s = 0.002
    while True:
        job = s.get(f"{b.url}/v2/namespaces/{ns}/snapshot-jobs/{job_id}", timeout=60).json()
        if job["status"] != "running":
            if job["status"] != "completed":
                raise RuntimeError(f"job failed: {job}")
            created, finished = ms_from_iso(job["created_at"]), ms_from_iso(job["finished_at"])
            assert created is not None and finished is not None, job
            return dict(job), max(finished - created, 1) / 1000
        time.sleep(poll_s)
        poll_s = min(poll_s * 1.5, 0.05)


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


def p99(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]


def table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("figure", "Layer", "baseline", "ratio")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([line(head), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)])
