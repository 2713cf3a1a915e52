"""The interface the dashboard needs from an API client.

``common.api_client.LayerClient`` implements it over HTTP; tests, the demo and the
benchmark pass ``tui.fake.FakeLayerClient``. Every method blocks, so the app only
calls them from thread workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class DashboardClient(Protocol):
    def list_namespaces(
        self,
        prefix: str | None = None,
        cursor: str | None = None,
        page_size: int = 1000,
        state: str | None = None,
    ) -> dict[str, Any]: ...

    def summary(self) -> dict[str, Any]: ...

    def iter_all_namespaces(
        self, prefix: str | None = None, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]: ...

    def metadata(self, ns: str) -> dict[str, Any]: ...

    def history(
        self, ns: str, limit: int = 50, before: str | None = None
    ) -> list[dict[str, Any]]: ...

    def snapshot(self, ns: str, sha: str) -> dict[str, Any]: ...

    def diff(self, ns: str, a: str, b: str) -> dict[str, Any]: ...

    def create_snapshot(
        self,
        ns: str,
        field: str,
        source: str = "auto",
        filters: Any = None,
        page_size: int = 1000,
    ) -> dict[str, Any]: ...

    def jobs(self, ns: str) -> list[dict[str, Any]]: ...

    def job(self, ns: str, id: str) -> dict[str, Any]: ...

    def whoami(self) -> dict[str, Any]: ...

    def use_budget(self, budget_ms: int) -> None:
        """Derive the HTTP timeout from the backend's ``interactive_budget_ms``."""

    def cancel_job(self, ns: str, id: str) -> dict[str, Any]: ...

    def warm_cache(self, ns: str) -> dict[str, Any]: ...

    def drop_cache(self, ns: str) -> dict[str, Any]: ...

    def activity(
        self,
        since_ms: int,
        limit: int = 100,
        namespace: str | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]: ...
