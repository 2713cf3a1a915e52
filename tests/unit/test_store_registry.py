"""The store registry: URL schemes, lazy backend imports and its error messages."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from typing import Any

import pytest

from backend.stores.errors import MissingDependency, UnknownScheme
from backend.stores.obj_file import FileObjectStore
from backend.stores.registry import open_kv, open_object_store


def test_sqlite_urls(tmp_path: Path) -> None:
    from backend.stores.kv_sqlite import SQLiteKV

    rel = open_kv("sqlite://.layer/kv.db")
    assert isinstance(rel, SQLiteKV)
    assert rel.path == ".layer/kv.db"
    absolute = open_kv(f"sqlite:///{tmp_path}/kv.db")
    assert isinstance(absolute, SQLiteKV)
    assert absolute.path == f"{tmp_path}/kv.db"
    assert open_kv(f"sqlite://{tmp_path}/kv.db").path == f"{tmp_path}/kv.db"  # type: ignore[attr-defined]
    assert open_kv("sqlite:////abs/kv.db").path == "/abs/kv.db"  # type: ignore[attr-defined]
    assert open_kv("SQLITE://x.db").path == "x.db"  # type: ignore[attr-defined]


def test_aerospike_url_parsing() -> None:
    pytest.importorskip("aerospike")
    from backend.stores.kv_aerospike import AerospikeKV

    kv = open_kv("aerospike://10.0.0.1:3000,10.0.0.2:3001/layer")
    assert isinstance(kv, AerospikeKV)
    assert kv.hosts == [("10.0.0.1", 3000), ("10.0.0.2", 3001)]
    assert kv.namespace == "layer"
    assert kv.store_name == "kv (aerospike 10.0.0.1:3000,10.0.0.2:3001/layer)"
    assert open_kv("aerospike://db/ns").hosts == [("db", 3000)]  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        open_kv("aerospike://db:3000")  # no namespace
    with pytest.raises(ValueError):
        open_kv("aerospike://db:port/ns")


def test_aerospike_set_prefix() -> None:
    pytest.importorskip("aerospike")
    kv = open_kv("aerospike://db:3000/ns?set_prefix=run_1-")
    assert kv.set_prefix == "run_1-"  # type: ignore[attr-defined]
    assert kv._key("jobs", "a/b") == ("ns", "run_1-jobs", "a/b")  # type: ignore[attr-defined]
    assert kv.docs_set("shop").startswith("run_1-cd_")  # type: ignore[attr-defined]
    assert kv.store_name == "kv (aerospike db:3000/ns)"
    assert open_kv("aerospike://db:3000/ns").set_prefix == ""  # type: ignore[attr-defined]
    for bad in ("set_prefix=a.b", "set_prefix=" + "x" * 25, "prefix=a", "set_prefix=a b"):
        with pytest.raises(ValueError, match="set_prefix"):
            open_kv(f"aerospike://db:3000/ns?{bad}")


def test_object_store_urls(tmp_path: Path) -> None:
    store = open_object_store(f"file://{tmp_path}/objects")
    assert isinstance(store, FileObjectStore)
    assert store.root == tmp_path / "objects"
    assert open_object_store("file://.layer/objects").root == Path(".layer/objects")  # type: ignore[attr-defined]
    assert open_object_store("file:////abs/objects").root == Path("/abs/objects")  # type: ignore[attr-defined]
    pytest.importorskip("boto3")
    from backend.stores.obj_s3 import S3ObjectStore

    s3 = open_object_store("s3://my-bucket/some/prefix/")
    assert isinstance(s3, S3ObjectStore)
    assert (s3.bucket, s3.prefix) == ("my-bucket", "some/prefix")
    assert s3.store_name == "object store (s3://my-bucket/some/prefix)"
    bare = open_object_store("s3://my-bucket")
    assert (bare.bucket, bare.prefix) == ("my-bucket", "")  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        open_object_store("s3:///prefix-only")


@pytest.mark.parametrize("url", ["redis://localhost/0", "postgres://x", "/just/a/path", "file://x"])
def test_unknown_kv_scheme_lists_supported(url: str) -> None:
    with pytest.raises(UnknownScheme) as info:
        open_kv(url)
    msg = str(info.value)
    assert "sqlite://" in msg and "aerospike://" in msg
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("url", ["gs://bucket/x", "sqlite://x.db", "objects/"])
def test_unknown_object_scheme_lists_supported(url: str) -> None:
    with pytest.raises(UnknownScheme) as info:
        open_object_store(url)
    msg = str(info.value)
    assert "file://" in msg and "s3://" in msg


@pytest.mark.parametrize(
    ("module", "library", "opener", "url", "hint"),
    [
        (
            "backend.stores.kv_aerospike",
            "aerospike",
            open_kv,
            "aerospike://h:3000/ns",
            "pip install 'layer[aerospike]'",
        ),
        ("backend.stores.obj_s3", "boto3", open_object_store, "s3://bucket/p", "boto3"),
    ],
)
def test_missing_library_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, module: str, library: str, opener: Any, url: str, hint: str
) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if (
            name == library
            or name.startswith(library + ".")
            or name.startswith("botocore")
            and library == "boto3"
        ):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependency) as info:
        opener(url)
    assert hint in str(info.value)
    assert isinstance(info.value, ImportError)


def test_backends_are_imported_lazily() -> None:
    import subprocess

    code = (
        "import sys, backend.stores.registry as r; "
        "assert 'backend.stores.kv_aerospike' not in sys.modules; "
        "assert 'backend.stores.obj_s3' not in sys.modules; "
        "assert 'aerospike' not in sys.modules and 'boto3' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
