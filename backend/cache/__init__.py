"""The document cache: namespaces' documents in the KV store, for filtered facet counts."""

from backend.cache.service import DocumentCache

__all__ = ["DocumentCache"]
