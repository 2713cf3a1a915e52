"""Small helpers the integration tests share: talking to the emulator and to Layer."""

from __future__ import annotations

import time
from typing import Any

import requests


def write_docs(
    url: str, ns: str, rows: list[dict[str, Any]], key: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    r = requests.post(
        f"{url}/v2/namespaces/{ns}", json={"upsert_rows": rows}, headers=headers, timeout=10
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def set_faults(emulator_url: str, **faults: Any) -> None:
    r = requests.post(f"{emulator_url}/_emulator/faults", json=faults, timeout=5)
    assert r.status_code == 200, r.text


def wait_index(emulator_url: str, ns: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = requests.get(f"{emulator_url}/v2/namespaces/{ns}/metadata", timeout=5)
        if r.ok and r.json()["index"]["status"] == "up-to-date":
            return
        time.sleep(0.02)
    raise TimeoutError(f"{ns} never became up-to-date")


def tick(server: Any) -> Any:
    with server.app.app_context():
        return server.app.extensions["layer.watcher"].tick()
