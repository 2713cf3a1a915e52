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


def wait_job(
    layer_url: str,
    ns: str,
    job_id: str,
    timeout: float = 60.0,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = requests.get(
            f"{layer_url}/v2/namespaces/{ns}/snapshot-jobs/{job_id}",
            headers=headers or {},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        job = dict(r.json())
        if job["status"] != "running":
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} still running after {timeout}s")


def snapshot(layer_url: str, ns: str, **body: Any) -> dict[str, Any]:
    r = requests.post(f"{layer_url}/v2/namespaces/{ns}/snapshots", json=body, timeout=10)
    assert r.status_code == 202, r.text
    return wait_job(layer_url, ns, r.json()["id"])


def export_all(
    emulator_url: str, ns: str, attrs: list[str], page: int = 10_000
) -> list[dict[str, Any]]:
    """Read every document straight from the emulator (the documented export pattern)."""
    out: list[dict[str, Any]] = []
    last = None
    while True:
        body: dict[str, Any] = {
            "rank_by": ["id", "asc"],
            "limit": page,
            "include_attributes": attrs,
        }
        if last is not None:
            body["filters"] = ["id", "Gt", last]
        rows = requests.post(
            f"{emulator_url}/v2/namespaces/{ns}/query", json=body, timeout=60
        ).json()["rows"]
        out += rows
        if len(rows) < page:
            return out
        last = rows[-1]["id"]
