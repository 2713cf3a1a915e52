"""Shared pytest wiring: fixtures that start real local servers live in tests/fixtures/."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.net",
    "tests.fixtures.emulator",
    "tests.fixtures.s3",
    "tests.fixtures.backend",
]
