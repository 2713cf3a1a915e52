"""A small HTTP/1.1 load generator, for machines without ``wrk`` (bench_load).

``run(url, duration_s, connections)`` opens ``connections`` keep-alive sockets spread
over two processes (one per core here, so the generator's own GIL is not the limit),
each socket driven by one thread that sends a GET, reads the answer by its
Content-Length (or chunks) and sends the next. It returns requests per second, the
p99 latency in ms and the errors (non-2xx answers plus socket errors and timeouts),
the same three figures bench_load reads from wrk. It is slower than wrk per request
(Python parses every answer), so compare its figures only with a baseline it measured
too: bench_load runs the emulator baseline and Layer through the same generator.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import threading
import time
from urllib.parse import urlsplit

PROCESSES = 2


def _read_response(sock: socket.socket, buf: bytearray) -> tuple[int, bytearray]:
    """(status, leftover bytes) of one response read from ``sock``."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    body = bytearray(rest)
    if b"content-length" in headers:
        need = int(headers[b"content-length"])
        while len(body) < need:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed inside the body")
            body += chunk
        return status, body[need:]
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while b"\r\n0\r\n\r\n" not in body and not body.startswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed inside a chunked body")
            body += chunk
        end = body.find(b"0\r\n\r\n") + 5
        return status, body[end:]
    raise ConnectionError("response without a length")


def _connection(
    host: str, port: int, request: bytes, deadline: float, out: list[tuple[int, int, list[float]]]
) -> None:
    done = errors = 0
    lat: list[float] = []
    sock: socket.socket | None = None
    buf = bytearray()
    while time.monotonic() < deadline:
        try:
            if sock is None:
                sock = socket.create_connection((host, port), timeout=10)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buf = bytearray()
            t0 = time.perf_counter()
            sock.sendall(request)
            status, buf = _read_response(sock, buf)
            lat.append((time.perf_counter() - t0) * 1000)
            if 200 <= status < 300:
                done += 1
            else:
                errors += 1
        except OSError:  # includes timeouts and ConnectionError
            errors += 1
            if sock is not None:
                sock.close()
            sock = None
    if sock is not None:
        sock.close()
    out.append((done, errors, lat))


def _process(
    url: str, connections: int, duration_s: float, q: mp.Queue[tuple[int, int, list[float]]]
) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n\r\n".encode()
    deadline = time.monotonic() + duration_s
    out: list[tuple[int, int, list[float]]] = []
    threads = [
        threading.Thread(target=_connection, args=(host, port, request, deadline, out))
        for _ in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = sum(o[0] for o in out)
    errors = sum(o[1] for o in out)
    lat = [x for o in out for x in o[2]]
    q.put((done, errors, lat))


def run(url: str, duration_s: float, connections: int) -> tuple[float, float, int]:
    """(requests/s, p99 ms, errors) of ``connections`` keep-alive GETs of ``url``."""
    ctx = mp.get_context("spawn")
    q: mp.Queue[tuple[int, int, list[float]]] = ctx.Queue()
    per = [
        connections // PROCESSES + (1 if i < connections % PROCESSES else 0)
        for i in range(PROCESSES)
    ]
    procs = [ctx.Process(target=_process, args=(url, c, duration_s, q)) for c in per if c]
    for p in procs:
        p.start()
    results = [q.get(timeout=duration_s + 60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    elapsed = duration_s  # each process counts only what finished inside its own window
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))] if lat else float("nan")
    return done / elapsed, p99, errors
