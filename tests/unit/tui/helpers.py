"""Waiting for thread workers and the messages they post."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot


async def settle(pilot: Pilot[Any], rounds: int = 3) -> None:
    """Let workers finish and the main thread handle what they posted."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def wait_until(pilot: Pilot[Any], cond: Callable[[], bool], timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)
