"""The WSGI entry point gunicorn imports in each worker (``backend.wsgi:app``).

Logging is set up here as ``layer serve`` sets it up: JSON lines on stderr
(``LAYER_LOG_FORMAT``, ``LAYER_LOG_LEVEL``) with the upstream key scrubbed, and one
access line per request carrying its request id. gunicorn's own access log is off
(``backend/gunicorn_conf.py``), so each request is logged once.
"""

from __future__ import annotations

import os
import sys

from backend.app import create_app
from backend.observability import configure_logging
from common.settings import SettingsError

configure_logging(
    os.environ.get("LAYER_LOG_LEVEL", "INFO"),
    os.environ.get("LAYER_LOG_FORMAT", "json"),
    secrets=[os.environ.get("TURBOPUFFER_API_KEY", "")],
)
try:
    app = create_app()
except SettingsError as exc:
    # One line naming the variable, then gunicorn's "worker failed to boot" stops the master.
    print(f"layer: configuration error: {exc}", file=sys.stderr, flush=True)
    sys.exit(3)  # gunicorn's WORKER_BOOT_ERROR: the arbiter halts instead of respawning
