"""The object store contract.

The object store holds Layer's durable data: snapshot bodies, history markers and
activity events (DESIGN.md "Object store layout"). Keys are ``/``-separated strings;
values are bytes.

Contract every backend honours (tests/unit/test_object_contract.py checks it):

- ``put`` is atomic per object: a reader sees the whole old value, the whole new value,
  or no object, never a partial one.
- ``put(..., if_absent=True)`` writes only when no object exists at the key and
  returns False otherwise (S3 ``If-None-Match: *``).
- ``get`` raises ``ObjectNotFound`` for a missing key.
- ``list`` returns keys under ``prefix`` in ascending byte order, strictly after
  ``start_after`` when given, at most ``limit`` of them when given; it pages the
  backend internally.
- Failures to reach the store raise ``StoreUnavailable``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class ObjectStore(ABC):
    name = "object store"

    @abstractmethod
    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; removing a missing key is not an error."""

    @abstractmethod
    def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]: ...

    @abstractmethod
    def ping(self) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
