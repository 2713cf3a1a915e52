"""The WSGI entry point gunicorn imports in each worker (``backend.wsgi:app``)."""

from __future__ import annotations

from backend.app import create_app

app = create_app()
