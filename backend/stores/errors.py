"""Exceptions every store backend raises, so callers never see a backend's own types."""

from __future__ import annotations


class StoreError(Exception):
    """Base class for store failures."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or refuses work (locked, read-only, down).

    ``store`` names which store ("kv" or "object store") and the backend, for the 503
    the API returns.
    """

    def __init__(self, store: str, message: str) -> None:
        super().__init__(f"{store}: {message}")
        self.store = store
        self.message = message


class ObjectNotFound(StoreError, KeyError):
    """No object at that key."""


class UnknownScheme(StoreError, ValueError):
    """A store URL names a scheme no backend handles (the message lists the supported ones)."""


class MissingDependency(StoreError, ImportError):
    """A backend's client library is not installed (the message says which package to install)."""
