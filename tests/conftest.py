"""Shared pytest wiring: fixtures that start real local servers live in tests/fixtures/.

Every test's log records are checked for the upstream keys the suite uses (all contain
``upstream-secret`` or start with ``tpuf_``): the upstream key must never reach a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.net",
    "tests.fixtures.kv",
    "tests.fixtures.emulator",
    "tests.fixtures.s3",
    "tests.fixtures.backend",
    "tests.fixtures.stub_upstream",
]

UPSTREAM_KEY_RE = re.compile(r"upstream-secret|tpuf_(secret_key|very_secret)")


@pytest.fixture(autouse=True)
def _upstream_key_never_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    for when in ("setup", "call", "teardown"):
        for rec in caplog.get_records(when):  # type: ignore[arg-type]
            text = f"{rec.getMessage()} {vars(rec)}"
            assert not UPSTREAM_KEY_RE.search(text), (
                f"an upstream key reached a log line: {rec.name}"
            )
