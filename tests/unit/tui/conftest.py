"""The fake client every dashboard test drives, built from the canned payloads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.tui import payloads
from tui.app import LayerDashboard
from tui.fake import FakeLayerClient


def make_client(**over: object) -> FakeLayerClient:
    entries, bodies = payloads.products_history()
    kwargs: dict[str, object] = {
        "metadata": {"products": payloads.PRODUCTS_METADATA},
        "histories": {"products": entries, "orders": []},
        "bodies": bodies,
        "jobs": {"products": [payloads.completed_job(), payloads.failed_job()]},
        "activity": payloads.activity_events(),
        "job_steps": 3,
        "now_ms": payloads.NOW_MS,
    }
    kwargs.update(over)
    return FakeLayerClient(payloads.NAMESPACES, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> FakeLayerClient:
    return make_client()


@pytest.fixture
def make_app(fake: FakeLayerClient) -> Callable[..., LayerDashboard]:
    def build(
        client: FakeLayerClient | None = None, refresh_s: float = 60.0, **kw: Any
    ) -> LayerDashboard:
        return LayerDashboard(
            client or fake, refresh_s=refresh_s, clock=lambda: payloads.NOW_MS / 1000, **kw
        )

    return build


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (no async plugin is a dependency)."""
    import asyncio
    import inspect

    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True
