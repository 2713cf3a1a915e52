"""The production object store: S3 through boto3 (AWS, SeaweedFS, MinIO, R2 …).

``S3ObjectStore(bucket, prefix)`` stores key ``k`` at ``{prefix}/{k}`` in ``bucket``
(no prefix: at ``k``). Credentials come from boto3's own chain; the endpoint from
``AWS_ENDPOINT_URL`` (passed explicitly when set, for older botocore) or the
``endpoint_url`` argument.

One boto3 client per process, created lazily and re-created after ``fork`` (a client
inherited from the parent shares its connection pool's sockets). boto3 clients are
thread-safe, so the threads of a process share it.

``put(if_absent=True)`` sends ``If-None-Match: *``: a 412 ``PreconditionFailed`` (or a
409 ``ConditionalRequestConflict`` when two such writes race) means the key exists and
returns False.

Listing order: S3 lists in UTF-8 byte order. SeaweedFS (the test server) lists
directory by directory, so under a prefix spanning sibling "directories" whose names
extend one another (``ns/`` and ``ns-x/``) its order differs; full listings are sorted
here so they are exact anyway, but a ``limit``-ed or paged listing across such
siblings follows the server. Layer's layout only lists single directories
(``history/``, ``bodies/{prefix}``, ``activity/``), where every server agrees.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from backend.stores.errors import MissingDependency, ObjectNotFound, StoreError, StoreUnavailable
from backend.stores.object_base import ObjectStore

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError as exc:  # pragma: no cover - exercised only without boto3
    raise MissingDependency(
        "the s3:// object store needs boto3: pip install 'layer[s3]' (or pip install boto3)"
    ) from exc

_PAGE = 1000
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}
_EXISTS_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


class S3ObjectStore(ObjectStore):
    name = "object store (s3)"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        config: Config | None = None,
        max_pool_connections: int = 50,
        max_attempts: int = 5,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        if not bucket:
            raise ValueError("S3 bucket name is empty")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.store_name = f"object store (s3://{bucket}/{self.prefix})"
        self._endpoint_url = endpoint_url
        self._config = config or Config(
            max_pool_connections=max_pool_connections,
            retries={"mode": "adaptive", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_pid: int | None = None

    # -- client --------------------------------------------------------------------------

    def _s3(self) -> Any:
        pid = os.getpid()
        client = self._client
        if client is not None and self._client_pid == pid:
            return client
        with self._lock:
            if self._client is None or self._client_pid != pid:
                endpoint = self._endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
                try:
                    session = boto3.session.Session()
                    self._client = session.client("s3", endpoint_url=endpoint, config=self._config)
                except BotoCoreError as exc:
                    raise StoreUnavailable(
                        self.store_name, f"cannot create S3 client: {exc}"
                    ) from exc
                self._client_pid = pid
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._client_pid == os.getpid():
                self._client.close()
            self._client = None
            self._client_pid = None

    def _full(self, key: str) -> str:
        if not key:
            raise ValueError("object key must be a non-empty string")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error(self, exc: Exception) -> Exception:
        """Map a botocore failure to the store's exceptions."""
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code == "NoSuchBucket":
                return StoreUnavailable(self.store_name, f"bucket {self.bucket!r} does not exist")
            if status >= 500 or code in {"SlowDown", "ServiceUnavailable", "InternalError"}:
                return StoreUnavailable(
                    self.store_name, f"S3 error {code or status}: {err.get('Message', '')}"
                )
            if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}:
                return StoreUnavailable(self.store_name, f"access denied ({code})")
            return StoreError(
                f"{self.store_name}: S3 error {code or status}: {err.get('Message', '')}"
            )
        if isinstance(exc, BotoCoreError):
            # EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
            # NoCredentialsError, … : the store cannot be used.
            return StoreUnavailable(self.store_name, f"{type(exc).__name__}: {exc}")
        return exc

    # -- the contract --------------------------------------------------------------------

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key), "Body": data}
        if if_absent:
            kwargs["IfNoneMatch"] = "*"
        try:
            self._s3().put_object(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if if_absent and (code in _EXISTS_CODES or status in (409, 412)):
                return False
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        return True

    def get(self, key: str) -> bytes:
        try:
            resp = self._s3().get_object(Bucket=self.bucket, Key=self._full(key))
            return bytes(resp["Body"].read())
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _NOT_FOUND_CODES:
                raise ObjectNotFound(key) from exc
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self._s3().head_object(Bucket=self.bucket, Key=self._full(key))
            return True
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _NOT_FOUND_CODES:
                return False
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc

    def delete(self, key: str) -> None:
        try:
            self._s3().delete_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _NOT_FOUND_CODES:
                return
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc

    def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        if limit is not None and limit <= 0:
            return []
        base = f"{self.prefix}/" if self.prefix else ""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base + prefix}
        if start_after is not None:
            kwargs["StartAfter"] = base + start_after
        out: list[str] = []
        try:
            client = self._s3()
            while True:
                want = _PAGE if limit is None else min(_PAGE, limit - len(out))
                resp = client.list_objects_v2(MaxKeys=want, **kwargs)
                for item in resp.get("Contents", []):
                    out.append(item["Key"][len(base) :])
                if limit is not None and len(out) >= limit:
                    return out[:limit]
                token = resp.get("NextContinuationToken")
                if not resp.get("IsTruncated") or not token:
                    # S3 returns byte order already. SeaweedFS lists directory by
                    # directory ("ns/…" before "ns-x/…"); sorting makes a full listing
                    # exact there too (limited listings follow the server's order).
                    out.sort(key=lambda k: k.encode())
                    return out
                kwargs.pop("StartAfter", None)
                kwargs["ContinuationToken"] = token
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from exc

    def ping(self) -> None:
        try:
            self._s3().head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchBucket", "NotFound"}:
                raise StoreUnavailable(
                    self.store_name, f"bucket {self.bucket!r} does not exist"
                ) from exc
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc
