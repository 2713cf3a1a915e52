"""The emulator under cheroot's threaded WSGI server, startable in the background.

Throughput, measured on this 2-core machine with ``python -m emulator --demo`` and the
load generator in a second process on the same cores, ``GET
/v2/namespaces/products/metadata``, 1,000 requests per thread, keep-alive:

- about 3,500-4,300 requests/s with a raw-socket HTTP/1.1 client (4-32 threads,
  one connection each): this is the server's own ceiling;
- about 1,250 requests/s with ``requests.Session`` (4-8 threads): there the client's
  own CPU is the limit, the same figure as cheroot serving a constant answer.

Query latency on ``products`` (12,500 docs): an export page of 10,000 rows with all
attributes about 25 ms; ``["id","Gt",n]`` ANDed with a filter about 6 ms; a group_by
count over ``brand`` about 9 ms.
"""

from __future__ import annotations

import logging
import threading

from cheroot import wsgi

from emulator.app import Options, make_app
from emulator.churn import Churn
from emulator.demo import Firehose, load_bulk, load_demo, load_many
from emulator.state import State

log = logging.getLogger(__name__)


class EmulatorServer:
    """A Turbopuffer-compatible server over an in-memory ``State``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        demo: bool = False,
        seed: int = 0,
        index_lag_ms: int = 2000,
        latency_ms: int = 0,
        fail_rate: float = 0.0,
        bulk: dict[str, int] | None = None,
        many: dict[str, int] | None = None,
        churn: tuple[float, str] | None = None,
        threads: int = 32,
    ) -> None:
        self.host = host
        self.port = port
        self.demo = demo
        self.seed = seed
        self.bulk = dict(bulk or {})
        self.many = dict(many or {})
        self.state = State(index_lag_ms=index_lag_ms)
        self.options = Options(api_key=api_key, latency_ms=latency_ms, fail_rate=fail_rate)
        self.churn = Churn(self.state)
        self._churn_at_start = churn
        self.generated: list[tuple[str, int]] = []
        self.url = ""
        self._threads = threads
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None
        self._firehose: Firehose | None = None
        self._stopped = threading.Event()

    def _load(self) -> None:
        if self.demo:
            self.generated += load_demo(self.state, self.seed)
        if self.bulk:
            self.generated += load_bulk(self.state, self.bulk, self.seed)
        if self.many:
            made = load_many(self.state, self.many, self.seed)
            self.generated.append(
                (
                    f"{sum(self.many.values())} idle namespaces under {', '.join(self.many)}",
                    sum(n for _, n in made),
                )
            )

    def _bind(self) -> wsgi.Server:
        self._load()
        server = wsgi.Server(
            (self.host, self.port),
            make_app(self.state, self.options, self.churn),
            numthreads=self._threads,
        )
        server.expiration_interval = 0.05  # how often serve() checks for stop(): quick teardown
        server.shutdown_timeout = 2
        # cheroot drops idle keep-alive connections beyond 10 by default; clients with a
        # connection pool (the watcher polls 32 at a time) would see resets.
        server.keep_alive_conn_limit = 1024
        server.prepare()
        host, port = server.bind_addr[:2]
        self.port = int(port)
        self.url = f"http://{host}:{self.port}"
        self._server = server
        if self.demo:
            self._firehose = Firehose(self.state)
            self._firehose.start()
        if self._churn_at_start is not None:
            self.churn.set(*self._churn_at_start)
        return server

    def start(self) -> EmulatorServer:
        """Serve in background threads; returns once the socket accepts connections."""
        server = self._bind()
        self._thread = threading.Thread(target=server.serve, name="emulator-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` (from another thread or a signal handler)."""
        server = self._server or self._bind()
        server.serve()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._firehose is not None:
            self._firehose.stop()
        self.churn.stop()
        if self._server is not None:
            self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
