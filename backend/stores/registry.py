"""Pick a store backend from a URL (``LAYER_KV``, ``LAYER_OBJECT_STORE``).

KV stores:
    ``sqlite://PATH``                       relative path (``sqlite://.layer/kv.db``)
    ``sqlite:////abs/path/kv.db``           absolute path (``sqlite:///abs/…`` works too:
                                            leading slashes collapse to one)
    ``sqlite://PATH?busy_timeout_ms=N``     how long a write waits for a lock before the
                                            store reports itself unavailable (default 30000)
    ``aerospike://host:port[,host2:port]/namespace``
    ``aerospike://…/namespace?set_prefix=P``  prefix every set name with P (up to 24 of
                                            ``A-Za-z0-9_-``: deployments or test runs
                                            sharing one Aerospike namespace)

Object stores:
    ``file://PATH``                         relative, or ``file:///abs/path`` (or ``file:////…``)
    ``s3://bucket/prefix``                  boto3 credential chain and ``AWS_ENDPOINT_URL``

Backend modules are imported only when their scheme is used, so a missing client
library only matters to whoever picks that backend (``MissingDependency`` says what to
install).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from backend.stores.errors import MissingDependency, UnknownScheme
from backend.stores.kv_base import KVStore
from backend.stores.object_base import ObjectStore

KV_SCHEMES = ("sqlite", "aerospike")
OBJECT_SCHEMES = ("file", "s3")

_EXTRAS = {
    "backend.stores.kv_aerospike": (
        "aerospike",
        "pip install 'layer[aerospike]' (or pip install aerospike)",
    ),
    "backend.stores.obj_s3": ("boto3", "pip install 'layer[s3]' (or pip install boto3)"),
}


def _split(url: str, supported: tuple[str, ...], what: str) -> tuple[str, str]:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in supported:
        listed = ", ".join(f"{s}://" for s in supported)
        raise UnknownScheme(f"unsupported {what} URL {url!r}: supported schemes are {listed}")
    return scheme.lower(), rest


def _path(rest: str) -> str:
    """The PATH of ``scheme://PATH``: relative as is, any run of leading slashes as one."""
    return "/" + rest.lstrip("/") if rest.startswith("/") else rest


def _load(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except MissingDependency:
        raise
    except ImportError as exc:
        lib, hint = _EXTRAS.get(module, (module, f"pip install {module}"))
        raise MissingDependency(f"the {lib} client library is not installed: {hint}") from exc


def open_kv(url: str) -> KVStore:
    scheme, rest = _split(url, KV_SCHEMES, "KV store")
    if scheme == "sqlite":
        if not rest:
            raise ValueError(f"sqlite URL needs a path: {url!r}")
        mod = _load("backend.stores.kv_sqlite")
        path, _, query = rest.partition("?")
        options: dict[str, int] = {}
        for part in filter(None, query.split("&")):
            name, _, value = part.partition("=")
            if name != "busy_timeout_ms" or not value.isdigit():
                raise ValueError(f"sqlite URL option must be busy_timeout_ms=<int>, got {part!r}")
            options[name] = int(value)
        store: KVStore = mod.SQLiteKV(_path(path), **options)
        return store
    # aerospike://host:port[,host2:port]/namespace[?set_prefix=P]
    rest, _, query = rest.partition("?")
    aero_options: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        name, _, value = part.partition("=")
        if name != "set_prefix":
            raise ValueError(f"aerospike URL option must be set_prefix=<prefix>, got {part!r}")
        aero_options[name] = value
    hosts_part, _, namespace = rest.partition("/")
    namespace = namespace.strip("/")
    if not hosts_part or not namespace:
        raise ValueError(
            f"aerospike URL must be aerospike://host:port[,host:port]/namespace: {url!r}"
        )
    hosts: list[tuple[str, int]] = []
    for item in hosts_part.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host:
            host, port = item.strip(), "3000"
        try:
            hosts.append((host.strip("[]"), int(port)))
        except ValueError:
            raise ValueError(f"bad aerospike host {item!r} in {url!r}") from None
    mod = _load("backend.stores.kv_aerospike")
    store = mod.AerospikeKV(hosts, namespace, **aero_options)
    return store


def open_object_store(url: str) -> ObjectStore:
    scheme, rest = _split(url, OBJECT_SCHEMES, "object store")
    if scheme == "file":
        if not rest:
            raise ValueError(f"file URL needs a path: {url!r}")
        mod = _load("backend.stores.obj_file")
        store: ObjectStore = mod.FileObjectStore(_path(rest))
        return store
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"s3 URL must be s3://bucket/prefix: {url!r}")
    mod = _load("backend.stores.obj_s3")
    store = mod.S3ObjectStore(bucket, prefix.strip("/"))
    return store
