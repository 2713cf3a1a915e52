"""The embedded object store: a directory on disk mirroring the S3 key layout.

A key ``a/b/c.json`` is the file ``ROOT/a/b/c.json``. Keys are validated: empty keys,
absolute paths, ``.``/``..`` segments, empty segments (``a//b``, trailing ``/``), NUL
bytes and segments starting with the temp-file marker raise ``ValueError``. A key may
not also be the "directory" of another key (``a/b`` and ``a/b/c``): S3 allows it, the
Layer layout never does it, and this backend raises ``ValueError``.

Writes are atomic: the data goes to a temp file (``.~tmp.*``) in the target directory,
is fsynced, then ``os.replace``-d over the key (last writer wins) or, for
``if_absent``, ``os.link``-ed to the key, which fails atomically across processes if
the key exists. Temp files never appear in listings. Empty directories are left in
place after deletes (harmless for listings, and removing them would race writers).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from backend.stores.errors import ObjectNotFound, StoreUnavailable
from backend.stores.object_base import ObjectStore

TMP_MARKER = ".~tmp."


def _check_key(key: str) -> list[str]:
    if not isinstance(key, str) or not key:
        raise ValueError("object key must be a non-empty string")
    if "\x00" in key:
        raise ValueError(f"object key contains NUL: {key!r}")
    if key.startswith("/"):
        raise ValueError(f"object key must be relative: {key!r}")
    parts = key.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise ValueError(f"object key has an empty, '.' or '..' segment: {key!r}")
        if part.startswith(TMP_MARKER):
            raise ValueError(f"object key segment may not start with {TMP_MARKER!r}: {key!r}")
    return parts


class FileObjectStore(ObjectStore):
    name = "object store (file)"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.store_name = f"object store (file {self.root})"

    def _unavailable(self, exc: OSError) -> StoreUnavailable:
        return StoreUnavailable(self.store_name, f"{type(exc).__name__}: {exc}")

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key))

    # -- writes --------------------------------------------------------------------------

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        path = self._path(key)
        directory = path.parent
        try:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError) as exc:
                raise ValueError(f"a parent of {key!r} is an object, not a directory") from exc
            if path.is_dir():
                raise ValueError(f"{key!r} is a directory of other keys")
            tmp = directory / f"{TMP_MARKER}{uuid.uuid4().hex}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if if_absent:
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        return False
                else:
                    os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            self._fsync_dir(directory)
            return True
        except OSError as exc:
            raise self._unavailable(exc) from exc

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        except IsADirectoryError:
            return
        except OSError as exc:
            raise self._unavailable(exc) from exc

    # -- reads ---------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFound(key) from exc
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        if "\x00" in prefix:
            raise ValueError("prefix contains NUL")
        if prefix.startswith("/") or ".." in prefix.split("/"):
            raise ValueError(f"prefix must be relative without '..': {prefix!r}")
        if limit is not None and limit <= 0:
            return []
        dir_part = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root.joinpath(*[p for p in dir_part.split("/") if p]) if dir_part else self.root
        out: list[str] = []
        try:
            for key in self._walk(base, f"{dir_part}/" if dir_part else "", prefix, start_after):
                out.append(key)
                if limit is not None and len(out) >= limit:
                    break
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return out

    def _walk(
        self, directory: Path, key_base: str, prefix: str, start_after: str | None
    ) -> Iterator[str]:
        """Yield keys under ``directory`` in ascending key order, pruning by prefix/start_after."""
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        ordered: list[tuple[str, bool, str]] = []
        for entry in entries:
            if entry.name.startswith(TMP_MARKER):
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            key = key_base + entry.name
            # Directories sort as "name/", which is where their keys fall in byte order.
            ordered.append((key + "/" if is_dir else key, is_dir, entry.path))
        ordered.sort()
        for sort_key, is_dir, path in ordered:
            if is_dir:
                if not (sort_key.startswith(prefix) or prefix.startswith(sort_key)):
                    continue
                if (
                    start_after is not None
                    and start_after > sort_key
                    and not start_after.startswith(sort_key)
                ):
                    continue  # every key in this subtree sorts before start_after
                yield from self._walk(Path(path), sort_key, prefix, start_after)
            else:
                if not sort_key.startswith(prefix):
                    continue
                if start_after is not None and sort_key <= start_after:
                    continue
                yield sort_key

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f"{TMP_MARKER}ping-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise self._unavailable(exc) from exc
