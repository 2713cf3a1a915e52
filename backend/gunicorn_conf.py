"""gunicorn configuration for the Procfile's ``web`` process.

gthread workers (``backend.gunicorn_worker``: gunicorn's own refusals answered in JSON;
``WEB_CONCURRENCY`` × ``LAYER_THREADS``), bound to ``$PORT``, no
gunicorn access log (Layer writes its own JSON access line per request, with the request
id: ``backend/wsgi.py``), no ``--preload``: every worker builds its own app after fork, so no
client (requests, boto3, Aerospike, SQLite) is shared across processes. The watcher is
not started here; it runs as the ``worker`` process (``layer watcher``).
"""

from __future__ import annotations

import os

from backend.gunicorn_worker import LIMITS, WORKER_CLASS

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8700')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = WORKER_CLASS  # gthread, gunicorn's own refusals in JSON
threads = int(os.environ.get("LAYER_THREADS", "8"))
timeout = int(os.environ.get("LAYER_WORKER_TIMEOUT_S", "120"))
graceful_timeout = int(os.environ.get("LAYER_GRACEFUL_TIMEOUT_S", "30"))  # > LAYER_JOB_GRACE_S
keepalive = 5
limit_request_line = LIMITS["limit_request_line"]
limit_request_fields = LIMITS["limit_request_fields"]
limit_request_field_size = LIMITS["limit_request_field_size"]
accesslog = None
errorlog = "-"
preload_app = False
wsgi_app = "backend.wsgi:app"

# Prometheus multiprocess mode: every worker writes its samples under this directory
# and /metrics merges them. Set it before any worker imports prometheus_client.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="layer-prom-")

JOB_GRACE_S = float(os.environ.get("LAYER_JOB_GRACE_S", "20"))


def worker_exit(server: object, worker: object) -> None:
    """SIGTERM: stop taking jobs, let running ones finish within the grace, mark the rest."""
    import sys

    wsgi = sys.modules.get("backend.wsgi")
    if wsgi is not None:
        wsgi.app.extensions["layer.job_runner"].shutdown(JOB_GRACE_S)


def child_exit(server: object, worker: object) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(getattr(worker, "pid", 0))
