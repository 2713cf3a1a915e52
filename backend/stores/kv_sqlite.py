"""The embedded KV backend: one SQLite file in WAL mode.

Safe across processes (gunicorn workers, the watcher) and threads:

- one connection per thread *and* per process: connections live in a ``threading.local``
  tagged with the PID that opened them, so a connection inherited across ``fork`` is
  never reused (it is dropped, not closed, since closing it could disturb the parent);
- ``busy_timeout`` makes writers wait for each other instead of failing at once;
- ``cas`` and ``delete`` with a generation run inside ``BEGIN IMMEDIATE``, which takes
  the write lock before reading, so the check and the write are atomic across processes.

Layout: one table ``kv`` with primary key (set_name, key), the value as JSON text, the
generation and ``expires_at`` (unix seconds as REAL, NULL for no TTL). Expired rows are
invisible to ``get`` and ``scan`` and are deleted lazily: an expired row is overwritten
as if absent (its generation restarts at 1) and ``scan`` reaps a set's expired rows
once in a while.

``scan`` reads in key order, ``SCAN_PAGE`` keys per query, each page strictly after the
last key seen: every record committed before the call began (and not removed since) is
yielded once, memory stays bounded for the million-document cache, and no read
transaction stays open while the caller works. Records written during the scan may or
may not appear (the same guarantee an Aerospike scan gives).

The document cache's ``scan_docs`` is the hot path of the ``cache`` snapshot source: it
reads ``DOC_PAGE`` values per query over a primary-key range (no per-row prefix check,
no ``Record`` objects) and parses them with orjson; ``put_docs`` writes compact JSON
with orjson too.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from backend.stores.errors import StoreUnavailable
from backend.stores.kv_base import DOCS_SET, KVStore, Record, docs_prefix

SCAN_PAGE = 1000
DOC_PAGE = 5000
DOC_BATCH = 5000
GET_MANY_CHUNK = 500
BUSY_TIMEOUT_MS = 30_000
_REAP_EVERY_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    set_name   TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    generation INTEGER NOT NULL,
    expires_at REAL,
    PRIMARY KEY (set_name, key)
) WITHOUT ROWID
"""


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _expiry(ttl_s: int | None, now: float) -> float | None:
    return None if ttl_s is None else now + ttl_s


class SQLiteKV(KVStore):
    name = "kv (sqlite)"

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_ms: int = BUSY_TIMEOUT_MS
    ) -> None:
        self.path = str(path)
        self.store_name = f"kv (sqlite {self.path})"
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._schema_lock = threading.Lock()
        self._schema_pid: int | None = None
        self._last_reap: dict[str, float] = {}

    # -- connections ---------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(self.store_name, str(exc) or type(exc).__name__)

    def _connect(self) -> sqlite3.Connection:
        pid = os.getpid()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == pid:
            return conn
        # Either no connection yet on this thread, or one inherited across fork: never
        # reuse (or close) the inherited one.
        self._local.conn = None
        try:
            if not self.path.startswith("file:") and self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_ms / 1000,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,
                uri=self.path.startswith("file:"),
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA synchronous = NORMAL")
            with self._schema_lock:
                if self._schema_pid != pid:
                    # Switching to WAL needs an exclusive lock and does not wait on the busy
                    # handler, so do it once per process, retrying while another holds it.
                    self._enable_wal(conn)
                    conn.execute(_SCHEMA)
                    self._schema_pid = pid
        except (sqlite3.Error, OSError) as exc:
            raise self._unavailable(exc) from exc
        self._local.conn = conn
        self._local.pid = pid
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.conn = None

    # -- helpers -------------------------------------------------------------------------

    def _write_txn(self, body: Any) -> Any:
        """Run ``body(conn)`` inside BEGIN IMMEDIATE … COMMIT, mapping errors."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            result = body(conn)
            conn.execute("COMMIT")
            return result
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._unavailable(exc) from exc
            raise

    @staticmethod
    def _live_generation(conn: sqlite3.Connection, set_name: str, key: str, now: float) -> int:
        row = conn.execute(
            "SELECT generation, expires_at FROM kv WHERE set_name = ? AND key = ?",
            (set_name, key),
        ).fetchone()
        if row is None or (row[1] is not None and row[1] <= now):
            return 0
        return int(row[0])

    @staticmethod
    def _upsert(
        conn: sqlite3.Connection,
        set_name: str,
        key: str,
        value: str,
        generation: int,
        expires_at: float | None,
    ) -> None:
        conn.execute(
            "INSERT INTO kv (set_name, key, value, generation, expires_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (set_name, key) DO UPDATE SET value = excluded.value, "
            "generation = excluded.generation, expires_at = excluded.expires_at",
            (set_name, key, value, generation, expires_at),
        )

    # -- the contract --------------------------------------------------------------------

    def get(self, set_name: str, key: str) -> Record | None:
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT value, generation FROM kv WHERE set_name = ? AND key = ? "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (set_name, key, time.time()),
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        if row is None:
            return None
        return Record(orjson.loads(row[0]), int(row[1]))

    def put(self, set_name: str, key: str, value: dict[str, Any], ttl_s: int | None = None) -> int:
        data = _dumps(value)

        def body(conn: sqlite3.Connection) -> int:
            now = time.time()
            gen = self._live_generation(conn, set_name, key, now) + 1
            self._upsert(conn, set_name, key, data, gen, _expiry(ttl_s, now))
            return gen

        return int(self._write_txn(body))

    def cas(
        self,
        set_name: str,
        key: str,
        value: dict[str, Any],
        expected_generation: int,
        ttl_s: int | None = None,
    ) -> int | None:
        data = _dumps(value)

        def body(conn: sqlite3.Connection) -> int | None:
            now = time.time()
            current = self._live_generation(conn, set_name, key, now)
            if current != expected_generation:
                return None
            self._upsert(conn, set_name, key, data, current + 1, _expiry(ttl_s, now))
            return current + 1

        result = self._write_txn(body)
        return None if result is None else int(result)

    def delete(self, set_name: str, key: str, expected_generation: int | None = None) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            now = time.time()
            current = self._live_generation(conn, set_name, key, now)
            if current == 0:
                # Absent, or expired: reap the corpse either way, but report nothing removed.
                conn.execute("DELETE FROM kv WHERE set_name = ? AND key = ?", (set_name, key))
                return False
            if expected_generation is not None and current != expected_generation:
                return False
            conn.execute("DELETE FROM kv WHERE set_name = ? AND key = ?", (set_name, key))
            return True

        return bool(self._write_txn(body))

    def delete_many(self, set_name: str, items: Iterable[tuple[str, int | None]]) -> int:
        wanted = list(items)
        if not wanted:
            return 0

        def body(conn: sqlite3.Connection) -> int:
            now = time.time()
            gone = 0
            for key, expected in wanted:
                current = self._live_generation(conn, set_name, key, now)
                if current != 0 and expected is not None and current != expected:
                    continue
                conn.execute("DELETE FROM kv WHERE set_name = ? AND key = ?", (set_name, key))
                gone += current != 0
            return gone

        return int(self._write_txn(body))

    def scan(self, set_name: str, prefix: str = "") -> Iterator[tuple[str, Record]]:
        self._maybe_reap(set_name)
        now = time.time()
        # The first page is read now, so failures surface at the call; later pages are
        # read as the caller iterates, each strictly after the last key seen. Keys only
        # move forward, so every record that existed when the call began and still
        # exists is yielded exactly once, without holding a read transaction open.
        first = self._read_page(set_name, prefix, None, now)
        return self._scan_rest(set_name, prefix, first, now)

    def scan_range(
        self, set_name: str, prefix: str, after: str | None, limit: int
    ) -> list[tuple[str, Record]] | None:
        loads = orjson.loads
        page = self._read_page(set_name, prefix, after, time.time(), limit)
        return [(key, Record(loads(value), gen)) for key, value, gen in page]

    def _read_page(
        self, set_name: str, prefix: str, after: str | None, now: float, limit: int = SCAN_PAGE
    ) -> list[tuple[str, str, int]]:
        conn = self._connect()
        try:
            return self._scan_page(conn, set_name, prefix, after, now, limit)
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc

    def _scan_rest(
        self, set_name: str, prefix: str, page: list[tuple[str, str, int]], now: float
    ) -> Iterator[tuple[str, Record]]:
        while True:
            for key, value, gen in page:
                yield key, Record(orjson.loads(value), gen)
            if len(page) < SCAN_PAGE:
                return
            page = self._read_page(set_name, prefix, page[-1][0], now)

    @staticmethod
    def _scan_page(
        conn: sqlite3.Connection,
        set_name: str,
        prefix: str,
        after: str | None,
        now: float,
        limit: int = SCAN_PAGE,
    ) -> list[tuple[str, str, int]]:
        sql = (
            "SELECT key, value, generation FROM kv WHERE set_name = ? "
            "AND (expires_at IS NULL OR expires_at > ?)"
        )
        args: list[Any] = [set_name, now]
        if prefix:
            # Range on the primary key, then an exact prefix check (substr is
            # byte-exact for any characters, unlike LIKE/GLOB with wildcards).
            sql += " AND key >= ? AND substr(key, 1, ?) = ?"
            args += [prefix, len(prefix), prefix]
        if after is not None:
            sql += " AND key > ?"
            args.append(after)
        sql += " ORDER BY key LIMIT ?"
        args.append(limit)
        return [(str(r[0]), str(r[1]), int(r[2])) for r in conn.execute(sql, args)]

    def _maybe_reap(self, set_name: str) -> None:
        now = time.monotonic()
        if now - self._last_reap.get(set_name, 0.0) < _REAP_EVERY_S:
            return
        self._last_reap[set_name] = now
        try:
            conn = self._connect()
        except StoreUnavailable:
            return  # the read itself will report it
        # Never wait for the write lock on a read path (a bulk put_many may hold it):
        # reap only if the lock is free right now.
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute(
                "DELETE FROM kv WHERE set_name = ? AND expires_at IS NOT NULL AND expires_at <= ?",
                (set_name, time.time()),
            )
        except sqlite3.Error:
            return  # best effort: locked or read-only, try again later
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")

    def put_many(
        self, set_name: str, items: Iterable[tuple[str, dict[str, Any]]], ttl_s: int | None = None
    ) -> int:
        count = 0

        def body(conn: sqlite3.Connection) -> int:
            nonlocal count
            now = time.time()
            exp = _expiry(ttl_s, now)

            def rows() -> Iterator[tuple[Any, ...]]:
                nonlocal count
                for key, value in items:
                    count += 1
                    yield (set_name, key, _dumps(value), exp, now)

            # An expired row restarts at generation 1, a live one is bumped.
            conn.executemany(
                "INSERT INTO kv (set_name, key, value, generation, expires_at) VALUES (?1, ?2, ?3, 1, ?4) "
                "ON CONFLICT (set_name, key) DO UPDATE SET value = excluded.value, "
                "generation = CASE WHEN kv.expires_at IS NOT NULL AND kv.expires_at <= ?5 "
                "THEN 1 ELSE kv.generation + 1 END, expires_at = excluded.expires_at",
                rows(),
            )
            return count

        return int(self._write_txn(body))

    def get_many(self, set_name: str, keys: Iterable[str]) -> dict[str, Record]:
        """One query per ``GET_MANY_CHUNK`` keys over the primary key, in one read snapshot."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Record] = {}
        if not wanted:
            return out
        conn = self._connect()
        now = time.time()
        loads = orjson.loads
        try:
            for start in range(0, len(wanted), GET_MANY_CHUNK):
                part = wanted[start : start + GET_MANY_CHUNK]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    f"SELECT key, value, generation FROM kv WHERE set_name = ? AND key IN ({marks}) "
                    "AND (expires_at IS NULL OR expires_at > ?)",
                    [set_name, *part, now],
                ).fetchall()
                for key, value, gen in rows:
                    out[str(key)] = Record(loads(value), int(gen))
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        return out

    def delete_set(self, set_name: str, prefix: str = "") -> int:
        def body(conn: sqlite3.Connection) -> int:
            now = time.time()
            live = "(expires_at IS NULL OR expires_at > ?)"
            if prefix:
                cond = "set_name = ? AND key >= ? AND substr(key, 1, ?) = ?"
                args: list[Any] = [set_name, prefix, len(prefix), prefix]
            else:
                cond = "set_name = ?"
                args = [set_name]
            n = conn.execute(
                f"SELECT count(*) FROM kv WHERE {cond} AND {live}", [*args, now]
            ).fetchone()[0]
            conn.execute(f"DELETE FROM kv WHERE {cond}", args)
            return int(n)

        return int(self._write_txn(body))

    # -- the document cache ----------------------------------------------------------------

    def put_docs(self, ns: str, generation: int, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        prefix = docs_prefix(ns, generation)
        total = 0
        batch: list[tuple[str, str, str]] = []

        def flush() -> None:
            def body(conn: sqlite3.Connection) -> None:
                conn.executemany(
                    "INSERT INTO kv (set_name, key, value, generation, expires_at) "
                    "VALUES (?, ?, ?, 1, NULL) ON CONFLICT (set_name, key) DO UPDATE SET "
                    "value = excluded.value, generation = kv.generation + 1, expires_at = NULL",
                    batch,
                )

            self._write_txn(body)
            batch.clear()

        for doc_id, doc in docs:
            try:
                text = orjson.dumps(doc).decode()
            except TypeError:  # an integer beyond 64 bits: the stdlib has no limit
                text = _dumps(doc)
            batch.append((DOCS_SET, prefix + doc_id, text))
            total += 1
            if len(batch) >= DOC_BATCH:
                flush()
        if batch:
            flush()
        return total

    def scan_docs(self, ns: str, generation: int, where: Any = None) -> Iterator[dict[str, Any]]:
        prefix = docs_prefix(ns, generation)
        # Every key with the prefix sorts in [prefix, prefix with its final '/' as '0').
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        first = self._doc_page(prefix, upper)
        return self._docs_rest(first, upper)

    def _doc_page(self, after: str, upper: str, inclusive: bool = True) -> list[tuple[str, str]]:
        conn = self._connect()
        op = ">=" if inclusive else ">"
        try:
            return conn.execute(
                f"SELECT key, value FROM kv WHERE set_name = ? AND key {op} ? AND key < ? "
                "ORDER BY key LIMIT ?",
                (DOCS_SET, after, upper, DOC_PAGE),
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc

    def _docs_rest(self, page: list[tuple[str, str]], upper: str) -> Iterator[dict[str, Any]]:
        loads = orjson.loads
        while True:
            for _, value in page:
                yield loads(value)
            if len(page) < DOC_PAGE:
                return
            page = self._doc_page(page[-1][0], upper, inclusive=False)

    def ping(self) -> None:
        """Prove reads and writes work: write a probe row inside a transaction, roll back."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("SELECT 1 FROM kv LIMIT 1").fetchall()
                self._upsert(conn, "", "", "{}", 0, None)
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
