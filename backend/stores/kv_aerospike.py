"""The production KV backend: Aerospike through the official ``aerospike`` client.

Data model:

- namespace: the one in the URL (``aerospike://host:port[,host:port]/NAMESPACE``);
- **set**: the KV store's ``set_name`` is the Aerospike set name, after the store's
  ``set_prefix`` (``aerospike://…/ns?set_prefix=P``, default none: several deployments
  or test runs can share one Aerospike namespace). Aerospike caps set names at 63 bytes;
  Layer's are short (``freshness``, ``jobs``, ``cd_`` + 24 hex digits …) and the prefix
  at most ``MAX_SET_PREFIX`` bytes;
- **key**: the record key is ``(namespace, set_name, key)`` with the KV key as a string
  user key. The user key is stored with the record (``POLICY_KEY_SEND``) so ``scan``
  can return it;
- **bin**: one bin, ``v``, holding the value as a compact JSON string (a string, not a
  map, so that values round-trip exactly as JSON, key order and all);
- **generation**: the record's own ``gen`` metadata. Aerospike counts it like the
  contract (a new record has 1, each write adds 1) but wraps it at 65535, so a cas
  against a record written exactly 65536 times in between would wrongly succeed;
  Layer's cas loops re-read right before writing, so this cannot happen in practice;
- **TTL**: the record's ``ttl``, given in the write policy (``TTL_NEVER_EXPIRE`` when
  none is given, so the namespace's default-ttl never applies; ``meta["ttl"]`` is
  deprecated since client 19.1). The server hides expired records from reads itself but
  keeps them until its namespace supervisor (``nsup-period``) removes them, and a plain
  remove of such a record succeeds (a filter expression on ``TTL()`` still sees it as
  live, server 8.1), so ``delete`` reads first and removes only the generation it read.

``cas`` with expected generation 0 is a create (``POLICY_EXISTS_CREATE``); otherwise it
is a write with ``POLICY_GEN_EQ`` and the expected ``gen`` that fails if the record is
gone (``POLICY_EXISTS_UPDATE``). ``delete`` removes with ``POLICY_GEN_EQ`` and the
generation it read (or was given). ``scan`` runs a set-wide query (a scan), keeps keys with the prefix
client-side and sorts them, so it holds the matching records in memory. ``put_many``
uses ``batch_write`` in chunks of ``BATCH_CHUNK`` records (server 6.0+), and retries the
records a batch did not take with a bounded back-off (``aerospike_batch``); ``get_many``
is one ``batch_read`` per ``BATCH_CHUNK`` keys, and ``delete_many`` one ``batch_read``
and one batch of removes at the generations read.

The document cache (``put_docs`` / ``scan_docs`` / ``drop_docs``) has its own layout, so
filters run server-side:

- **set** ``cd_`` + the first 24 hex digits of SHA-1(namespace name): one set per cached
  namespace (never per generation: Aerospike cannot drop set names, and a namespace
  holds a bounded number of them);
- **key** ``{generation}/{document id}`` (a string user key, stored);
- **bins** ``_g`` (the generation, an integer), ``_doc`` (the document as compact JSON:
  what the cache reads back), and one bin per attribute whose name fits a bin name
  (1-15 bytes): strings, int64 integers and floats natively, any other non-null value
  as a BLOB (see ``backend/cache/aerospike_expr.py``);
- ``scan_docs`` queries the set with the filter expression ``_g == generation AND
  <pushdown of the filter>`` and reads only ``_doc``, page by page; ``drop_docs``
  queries ``_g == generation`` for keys and removes them in batches.

**Set indexes**: a scan of a set (``scan``, ``delete_set``, the document cache's queries)
walks the primary index of the *whole namespace* unless the set has a set index: with a
warm cache of 1,000,000 documents in the namespace, a scan of a 5-record set took 0.4 s
(server 8.1), 10 ms with the index. So before its first scan of a set, each process asks
the server to index that set (``set-config:…;enable-index=true``, dynamic since server
5.6; it needs ``sys-admin`` where security is on). If the server refuses, scans still
work, only slower, and an info line says so; ``enable-index true`` in the set's stanza
of ``aerospike.conf`` does the same by configuration. The document cache's sets (one per
cached namespace) get none: a set index costs the server about 23 MB of memory whatever
the set holds (measured on 8.1.2: 909 set indexes, 21 GB resident, almost no data), so one
per cached namespace would grow without bound. The price: a count over a small cached
namespace beside a large one walks the whole namespace's primary index (about 0.4 s
per million records); give such a set ``enable-index true`` in ``aerospike.conf``.

One client per process, created lazily (after any fork: a client inherited from the
parent is dropped, never used) and shared by the threads of the process; the client is
thread-safe. Timeouts and retries are explicit in the client's policies. Connection
failures, timeouts and cluster errors raise ``StoreUnavailable("kv (aerospike
host:port/ns)", …)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from backend.stores.aerospike_batch import write_all
from backend.stores.errors import MissingDependency, StoreUnavailable
from backend.stores.kv_base import KVStore, Record

try:
    import aerospike
    from aerospike import exception as aex
    from aerospike_helpers.batch.records import BatchRecords, Remove, Write
    from aerospike_helpers.operations import operations as ops
except ImportError as exc:  # pragma: no cover - exercised only without the client
    raise MissingDependency(
        "the aerospike:// KV store needs the aerospike client: pip install 'layer[aerospike]'"
    ) from exc

log = logging.getLogger(__name__)

BIN = "v"
DOC_BIN = "_doc"
GEN_BIN = "_g"
DOC_PAGE = 10_000
BATCH_CHUNK = 5000
CONNECT_TIMEOUT_MS = 2000
TOTAL_TIMEOUT_MS = 5000
SOCKET_TIMEOUT_MS = 2000
MAX_RETRIES = 2
SCAN_TIMEOUT_MS = 60_000
MAX_SET_PREFIX = 24
# A record of a batch write: its key, its operations, its write policy.
BatchWrite = tuple[tuple[str, str, str], list[dict[str, Any]], dict[str, Any]]
SET_PREFIX_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class AerospikeKV(KVStore):
    name = "kv (aerospike)"

    def __init__(
        self,
        hosts: Sequence[tuple[str, int]],
        namespace: str,
        *,
        connect_timeout_ms: int = CONNECT_TIMEOUT_MS,
        total_timeout_ms: int = TOTAL_TIMEOUT_MS,
        max_retries: int = MAX_RETRIES,
        set_prefix: str = "",
    ) -> None:
        if not hosts:
            raise ValueError("aerospike needs at least one host")
        if not namespace:
            raise ValueError("aerospike needs a namespace")
        if len(set_prefix) > MAX_SET_PREFIX or not set(set_prefix) <= SET_PREFIX_CHARS:
            raise ValueError(
                f"aerospike set_prefix must be at most {MAX_SET_PREFIX} characters of "
                f"A-Z a-z 0-9 _ -: {set_prefix!r}"
            )
        self.hosts = [(h, int(p)) for h, p in hosts]
        self.namespace = namespace
        self.set_prefix = set_prefix
        self.store_name = (
            f"kv (aerospike {','.join(f'{h}:{p}' for h, p in self.hosts)}/{namespace})"
        )
        self._connect_timeout_ms = connect_timeout_ms
        self._total_timeout_ms = total_timeout_ms
        self._max_retries = max_retries
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_pid: int | None = None
        self._indexed: set[str] = set()

    # -- client --------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        common = {
            "total_timeout": self._total_timeout_ms,
            "socket_timeout": min(SOCKET_TIMEOUT_MS, self._total_timeout_ms),
            "max_retries": self._max_retries,
            "sleep_between_retries": 50,
        }
        scan = {
            "total_timeout": SCAN_TIMEOUT_MS,
            "socket_timeout": SOCKET_TIMEOUT_MS,
            "max_retries": self._max_retries,
        }
        return {
            "hosts": self.hosts,
            "connect_timeout": self._connect_timeout_ms,
            "policies": {
                "read": dict(common),
                "write": {**common, "key": aerospike.POLICY_KEY_SEND},
                "operate": {**common, "key": aerospike.POLICY_KEY_SEND},
                "remove": dict(common),
                "batch": {**common, "total_timeout": max(self._total_timeout_ms, 30_000)},
                "scan": dict(scan),
                "query": dict(scan),
            },
        }

    def _db(self) -> Any:
        pid = os.getpid()
        client = self._client
        if client is not None and self._client_pid == pid:
            return client
        with self._lock:
            if self._client is None or self._client_pid != pid:
                self._client = None  # inherited across fork: never reuse
                try:
                    client = aerospike.client(self._config())
                    if not client.is_connected():
                        client.connect()
                except aex.AerospikeError as exc:
                    raise self._unavailable(exc) from exc
                self._client = client
                self._client_pid = pid
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._client_pid == os.getpid():
                with contextlib.suppress(aex.AerospikeError):
                    self._client.close()
            self._client = None
            self._client_pid = None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        msg = getattr(exc, "msg", None) or str(exc)
        return StoreUnavailable(self.store_name, f"{type(exc).__name__}: {msg}")

    def _key(self, set_name: str, key: str) -> tuple[str, str, str]:
        return (self.namespace, self.set_prefix + set_name, key)

    @staticmethod
    def _write_policy(ttl_s: int | None, **extra: Any) -> dict[str, Any]:
        ttl = aerospike.TTL_NEVER_EXPIRE if ttl_s is None else int(ttl_s)
        return {"key": aerospike.POLICY_KEY_SEND, "ttl": ttl, **extra}

    @staticmethod
    def _record(bins: dict[str, Any] | None, meta: dict[str, Any] | None) -> Record:
        raw = (bins or {}).get(BIN)
        value = json.loads(raw) if isinstance(raw, str | bytes) else dict(raw or {})
        return Record(value, int((meta or {}).get("gen", 0)))

    # -- the contract --------------------------------------------------------------------

    def get(self, set_name: str, key: str) -> Record | None:
        try:
            _, meta, bins = self._db().get(self._key(set_name, key))
        except aex.RecordNotFound:
            return None
        except aex.AerospikeError as exc:
            raise self._unavailable(exc) from exc
        return self._record(bins, meta)

    def _write(
        self,
        set_name: str,
        key: str,
        value: dict[str, Any],
        meta: dict[str, Any],
        policy: dict[str, Any],
    ) -> int:
        # operate() returns the record's metadata after the write: the new generation.
        _, out_meta, _ = self._db().operate(
            self._key(set_name, key), [ops.write(BIN, _dumps(value))], meta, policy
        )
        return int(out_meta["gen"])

    def put(self, set_name: str, key: str, value: dict[str, Any], ttl_s: int | None = None) -> int:
        try:
            return self._write(set_name, key, value, {}, self._write_policy(ttl_s))
        except aex.AerospikeError as exc:
            raise self._unavailable(exc) from exc

    def cas(
        self,
        set_name: str,
        key: str,
        value: dict[str, Any],
        expected_generation: int,
        ttl_s: int | None = None,
    ) -> int | None:
        meta: dict[str, Any] = {}
        if expected_generation == 0:
            policy = self._write_policy(ttl_s, exists=aerospike.POLICY_EXISTS_CREATE)
        else:
            meta = {"gen": expected_generation}
            policy = self._write_policy(
                ttl_s, gen=aerospike.POLICY_GEN_EQ, exists=aerospike.POLICY_EXISTS_UPDATE
            )
        try:
            return self._write(set_name, key, value, meta, policy)
        except (aex.RecordExistsError, aex.RecordGenerationError, aex.RecordNotFound):
            return None
        except aex.AerospikeError as exc:
            raise self._unavailable(exc) from exc

    def delete(self, set_name: str, key: str, expected_generation: int | None = None) -> bool:
        # A read first: it hides a record that has expired but is not reaped yet, which a
        # plain remove would delete (and report). The remove then requires the generation
        # read, so a record rewritten in between is read again, never removed unseen.
        while True:
            rec = self.get(set_name, key)
            if rec is None:
                return False
            if expected_generation is not None and rec.generation != expected_generation:
                return False
            policy = {"gen": aerospike.POLICY_GEN_EQ, "generation": rec.generation}
            try:
                self._db().remove(self._key(set_name, key), policy=policy)
            except aex.RecordNotFound:
                return False
            except aex.RecordGenerationError:
                if expected_generation is not None:
                    return False
                continue  # rewritten since the read: look again
            except aex.AerospikeError as exc:
                raise self._unavailable(exc) from exc
            return True

    def _set_query(self, full_set: str, *, index: bool = True) -> Any:
        """A query over one set, once the set has its set index if ``index`` (see the
        module notes: Layer's own sets have one, the document cache's do not)."""
        client = self._db()
        if index and full_set not in self._indexed:
            self._indexed.add(full_set)  # once per set and process, whatever the answer
            command = (
                f"set-config:context=namespace;id={self.namespace};set={full_set};enable-index=true"
            )
            try:
                answers = client.info_all(command)
            except aex.AerospikeError as exc:
                answers = {"": (exc, "")}
            refused = [a for a in answers.values() if a[0] or not str(a[1]).startswith("ok")]
            if refused:
                log.info(
                    "aerospike: no set index (set scans walk the whole namespace)",
                    extra={"store": self.store_name, "set": full_set, "answer": str(refused[0])},
                )
        return client.query(self.namespace, full_set)

    def _scan_all(self, set_name: str, prefix: str) -> list[tuple[str, Record]]:
        found: list[tuple[str, Record]] = []

        def collect(record: tuple[Any, ...]) -> None:
            key_tuple, meta, bins = record
            user_key = key_tuple[2] if key_tuple and len(key_tuple) > 2 else None
            if isinstance(user_key, str) and user_key.startswith(prefix):
                found.append((user_key, self._record(bins, meta)))

        try:
            query = self._set_query(self.set_prefix + set_name)
            query.foreach(collect)
        except aex.AerospikeError as exc:
            raise self._unavailable(exc) from exc
        found.sort(key=lambda item: item[0])
        return found

    def scan(self, set_name: str, prefix: str = "") -> Iterator[tuple[str, Record]]:
        return iter(self._scan_all(set_name, prefix))

    def put_many(
        self, set_name: str, items: Iterable[tuple[str, dict[str, Any]]], ttl_s: int | None = None
    ) -> int:
        policy = self._write_policy(ttl_s)
        total = 0
        chunk: list[BatchWrite] = []
        for key, value in items:
            chunk.append((self._key(set_name, key), [ops.write(BIN, _dumps(value))], policy))
            total += 1
            if len(chunk) >= BATCH_CHUNK:
                self._batch_write(chunk)
        self._batch_write(chunk)
        return total

    def get_many(self, set_name: str, keys: Iterable[str]) -> dict[str, Record]:
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Record] = {}
        for start in range(0, len(wanted), BATCH_CHUNK):
            part = wanted[start : start + BATCH_CHUNK]
            try:
                result = self._db().batch_read([self._key(set_name, k) for k in part], [BIN])
            except aex.AerospikeError as exc:
                raise self._unavailable(exc) from exc
            for key, br in zip(part, result.batch_records, strict=True):
                if br.result == 0 and br.record is not None:
                    _, meta, bins = br.record
                    out[key] = self._record(bins, meta)
                elif br.result != aex.RecordNotFound.code:
                    raise StoreUnavailable(
                        self.store_name, f"batch read of {key!r} failed (result {br.result})"
                    )
        return out

    def delete_many(self, set_name: str, items: Iterable[tuple[str, int | None]]) -> int:
        # As ``delete``, a batch at a time: one batch read (it hides expired records not
        # reaped yet), then one batch of removes, each at the generation it read. A record
        # rewritten in between with no expected generation goes through ``delete``.
        wanted = dict(items)
        gone = 0
        keys = list(wanted)
        for start in range(0, len(keys), BATCH_CHUNK):
            live = self.get_many(set_name, keys[start : start + BATCH_CHUNK])
            doomed = [
                (key, rec.generation)
                for key, rec in live.items()
                if wanted[key] is None or wanted[key] == rec.generation
            ]
            if not doomed:
                continue
            batch = BatchRecords(
                [
                    Remove(
                        self._key(set_name, key),
                        policy={"gen": aerospike.POLICY_GEN_EQ, "generation": gen},
                    )
                    for key, gen in doomed
                ]
            )
            try:
                result = self._db().batch_write(batch)
            except aex.AerospikeError as exc:
                raise self._unavailable(exc) from exc
            for (key, _), br in zip(doomed, result.batch_records, strict=True):
                if br.result == 0:
                    gone += 1
                elif br.result == aex.RecordNotFound.code:
                    continue
                elif br.result == aex.RecordGenerationError.code:
                    gone += wanted[key] is None and self.delete(set_name, key)
                else:
                    gone += self.delete(set_name, key, expected_generation=wanted[key])
        return gone

    def delete_set(self, set_name: str, prefix: str = "") -> int:
        keys = [self._key(set_name, k) for k, _ in self._scan_all(set_name, prefix)]
        removed = 0
        for start in range(0, len(keys), BATCH_CHUNK):
            part = keys[start : start + BATCH_CHUNK]
            try:
                result = self._db().batch_remove(part)
            except aex.AerospikeError as exc:
                raise self._unavailable(exc) from exc
            removed += sum(1 for br in result.batch_records if br.result == 0)
        return removed

    # -- the document cache ----------------------------------------------------------------

    def docs_set(self, ns: str) -> str:
        return self.set_prefix + "cd_" + hashlib.sha1(ns.encode()).hexdigest()[:24]

    def _doc_query(self, ns: str, expression: Any, bins: Sequence[str]) -> Any:
        query = self._set_query(self.docs_set(ns), index=False)
        query.select(*bins)
        query.max_records = DOC_PAGE
        query.paginate()
        policy: dict[str, Any] = {"total_timeout": SCAN_TIMEOUT_MS, "expressions": expression}
        return query, policy

    def put_docs(self, ns: str, generation: int, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        from backend.cache.aerospike_expr import doc_bins

        set_name = self.docs_set(ns)
        policy = self._write_policy(None)
        total = 0
        chunk: list[BatchWrite] = []
        for doc_id, doc in docs:
            bins = {**doc_bins(doc), GEN_BIN: generation, DOC_BIN: _dumps(doc)}
            operations = [ops.write(name, value) for name, value in bins.items()]
            chunk.append(((self.namespace, set_name, f"{generation}/{doc_id}"), operations, policy))
            total += 1
            if len(chunk) >= BATCH_CHUNK:
                self._batch_write(chunk)
        self._batch_write(chunk)
        return total

    def _batch_write(self, chunk: list[BatchWrite]) -> None:
        """Write a chunk, retrying the records it did not take (``aerospike_batch``)."""
        if chunk:
            write_all(list(chunk), self._submit_writes, store=self.store_name)
            chunk.clear()

    def _submit_writes(self, records: list[BatchWrite]) -> list[int]:
        """One batch command: the result code of each record, in order."""
        batch = BatchRecords(
            [Write(key, operations, policy=policy) for key, operations, policy in records]
        )
        try:
            result = self._db().batch_write(batch)
        except aex.AerospikeError as exc:
            raise self._unavailable(exc) from exc
        return [int(br.result) for br in result.batch_records]

    def scan_docs(self, ns: str, generation: int, where: Any = None) -> Iterator[dict[str, Any]]:
        from backend.cache.aerospike_expr import to_expression

        query, policy = self._doc_query(ns, to_expression(where, generation), [DOC_BIN])
        first = self._doc_page(query, policy)
        return self._docs_rest(query, policy, first)

    def _doc_page(self, query: Any, policy: dict[str, Any]) -> list[Any]:
        try:
            return list(query.results(policy))
        except aex.AerospikeError as exc:
            raise self._unavailable(exc) from exc

    def _docs_rest(
        self, query: Any, policy: dict[str, Any], page: list[Any]
    ) -> Iterator[dict[str, Any]]:
        while True:
            for _, _, bins in page:
                raw = (bins or {}).get(DOC_BIN)
                if isinstance(raw, str | bytes):
                    yield json.loads(raw)
            if query.is_done() or not page:
                return
            page = self._doc_page(query, policy)

    def drop_docs(self, ns: str, generation: int) -> int:
        from backend.cache.aerospike_expr import to_expression

        query, policy = self._doc_query(ns, to_expression(None, generation), [GEN_BIN])
        removed = 0
        while True:
            keys = [key for key, _, _ in self._doc_page(query, policy)]
            for start in range(0, len(keys), BATCH_CHUNK):
                try:
                    result = self._db().batch_remove(keys[start : start + BATCH_CHUNK])
                except aex.AerospikeError as exc:
                    raise self._unavailable(exc) from exc
                removed += sum(1 for br in result.batch_records if br.result == 0)
            if query.is_done() or not keys:
                return removed

    def ping(self) -> None:
        try:
            client = self._db()
            if not client.is_connected():
                raise StoreUnavailable(self.store_name, "not connected to the cluster")
            client.get(self._key("layer_ping", "ping"))
        except aex.RecordNotFound:
            return
        except aex.AerospikeError as exc:
            raise self._unavailable(exc) from exc
