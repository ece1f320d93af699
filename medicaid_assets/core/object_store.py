"""An S3-compatible bucket as the system of record for the data directory's files (no Dagster here).

Keys mirror the data directory: ``<data dir>/raw/medicaid/x.parquet`` is ``s3://bucket/prefix/raw/medicaid/x.parquet``.

Publication is atomic. A file is uploaded to a staging key (``<prefix>/.staging/<random>/<name>``; above a
threshold as a multipart upload with parts sent in parallel, and a multipart upload that fails is aborted),
its size checked, then copied server-side to its final key (CopyObject, or UploadPartCopy above 5 GiB) and the
staging object deleted. S3 makes an object visible only when its PUT, CompleteMultipartUpload or CopyObject
completes, so a reader of the final key sees the previous version or the new one, never part of one. A failed
attempt is retried from the start with a new staging key.

Every object carries the sha256 of its content as user metadata (``x-amz-meta-sha256``): an unchanged file is
not uploaded again, and a restore verifies what it downloaded before renaming it into place (lib/atomic).

Credentials are never handled here: boto3 finds them itself (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
a profile, an instance or pod role) and they appear in no message this module produces.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit

from tenacity import Retrying

from medicaid_assets.core.atomic import atomic_path
from medicaid_assets.core.retry import retrying

MiB = 1024**2
GiB = 1024**3
MAX_PARTS = 10_000  # S3's limit per multipart upload
MAX_SINGLE_COPY = 5 * GiB  # CopyObject's limit; larger objects are copied part by part
SHA256_META = "sha256"
STAGING = ".staging"
READ_CHUNK = 8 * MiB
# Errors that retrying cannot fix: wrong bucket, missing permission, bad credentials.
PERMANENT_ERRORS = frozenset(
    {"AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"}
)


class ObjectStoreError(RuntimeError):
    """A transfer that did not complete; the message names the object and what went wrong (never credentials)."""


@dataclass(frozen=True)
class TransferConfig:
    multipart_threshold: int = 64 * MiB
    part_size: int = 64 * MiB
    max_concurrency: int = 4
    max_single_copy: int = MAX_SINGLE_COPY
    attempts: int = 3
    backoff_seconds: float = 1.0


@dataclass(frozen=True)
class RemoteObject:
    relative: str  # key below the store's prefix, the same as the path below the data directory
    size: int
    sha256: str | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class Transfer:
    relative: str
    url: str
    size: int
    sha256: str
    transferred: bool  # False: the object already held these bytes (nothing sent)
    parts: int = 0
    attempts: int = 0
    seconds: float = 0.0


def parse_object_store_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``; refuses anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"object store URL must look like s3://bucket/prefix, got {url!r}")
    prefix = parts.path.strip("/")
    if prefix and any(p in ("", ".", "..") for p in prefix.split("/")):
        raise ValueError(f"object store prefix must be a plain path, got {url!r}")
    return parts.netloc, prefix


def make_s3_client(endpoint_url: str | None = None, region: str | None = None, max_pool_connections: int = 10) -> Any:
    """A boto3 S3 client; credentials come from boto3's own chain. Path-style addressing for custom endpoints."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=max_pool_connections,
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    return (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None


def _retryable(exc: BaseException) -> bool:
    return _error_code(exc) not in PERMANENT_ERRORS


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def file_sha256(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    fh.seek(0)
    while chunk := fh.read(READ_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


class ObjectStore:
    """Upload, restore and list the data directory's files in ``s3://bucket/prefix``."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        config: TransferConfig | None = None,
        open_file: Callable[[Path], IO[bytes]] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")
        self.config = config or TransferConfig()
        self._open = open_file or (lambda path: path.open("rb"))
        self._sleep = sleep
        self._read_lock = threading.Lock()

    # -- names ------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, relative: str) -> str:
        rel = PurePosixPath(relative)
        if rel.is_absolute() or any(p in ("", ".", "..") for p in rel.parts):
            raise ValueError(f"not a relative object name: {relative!r}")
        return f"{self.prefix}/{rel}" if self.prefix else str(rel)

    def object_url(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.key(relative)}"

    @property
    def staging_prefix(self) -> str:
        return f"{self.prefix}/{STAGING}/" if self.prefix else f"{STAGING}/"

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    # -- reading the bucket -----------------------------------------------------------------------------

    def head(self, relative: str) -> RemoteObject | None:
        return self._head_key(self.key(relative), relative)

    def _head_key(self, key: str, relative: str) -> RemoteObject | None:
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return RemoteObject(
            relative,
            int(answer["ContentLength"]),
            (answer.get("Metadata") or {}).get(SHA256_META),
            answer.get("LastModified"),
        )

    def list(self, relative_prefix: str = "") -> list[RemoteObject]:
        """Every object below ``relative_prefix`` (staging objects excluded), by name."""
        prefix = f"{self.prefix}/{relative_prefix}".lstrip("/") if self.prefix else relative_prefix
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].startswith(self.staging_prefix) or item["Key"].endswith("/"):
                    continue
                found.append(RemoteObject(self._relative(item["Key"]), int(item["Size"]), None, item["LastModified"]))
        return sorted(found, key=lambda o: o.relative)

    # -- upload -----------------------------------------------------------------------------------------

    def put_file(self, path: Path, relative: str, progress: Callable[[int, int], None] | None = None) -> Transfer:
        """Make ``relative`` in the bucket hold the bytes of ``path``; never expose a partial object."""
        started = time.monotonic()
        key = self.key(relative)
        with self._open(path) as fh:
            fh.seek(0, 2)
            size = fh.tell()
            sha256 = file_sha256(fh)
            current = self._head_key(key, relative)
            if current is not None and current.size == size and current.sha256 == sha256:
                return Transfer(relative, self.object_url(relative), size, sha256, False)
            metadata = {SHA256_META: sha256}
            tries = [0]

            def once() -> int:
                tries[0] += 1
                staging = f"{self.staging_prefix}{uuid.uuid4().hex}/{PurePosixPath(relative).name}"
                try:
                    parts = self._upload(fh, size, staging, metadata, progress)
                    self._promote(staging, key, size, metadata)
                    self._verify(key, relative, size, sha256)
                    return parts
                finally:
                    self._delete_quietly(staging)

            try:
                parts = self._retrying(_retryable)(once)
            except Exception as exc:
                raise ObjectStoreError(
                    f"{self.object_url(relative)}: upload of {path} failed after {tries[0]} attempt(s); "
                    f"the object under that name was left as it was. Last error: {_describe(exc)}"
                ) from exc
        return Transfer(
            relative, self.object_url(relative), size, sha256, True, parts, tries[0], time.monotonic() - started
        )

    def _retrying(self, retryable: Callable[[BaseException], bool]) -> Retrying:
        """The shared policy (core/retry) with this store's attempts, backoff and sleep."""
        return retrying(
            attempts=self.config.attempts,
            backoff_seconds=self.config.backoff_seconds,
            retryable=retryable,
            max_wait_seconds=float("inf"),
            sleep=self._sleep,
        )

    def _read(self, fh: IO[bytes], offset: int, length: int) -> bytes:
        with self._read_lock:
            fh.seek(offset)
            data = fh.read(length)
        if len(data) != length:
            raise OSError(f"read {len(data)} of {length} bytes at offset {offset}: the file changed during upload")
        return data

    def _upload(
        self,
        fh: IO[bytes],
        size: int,
        key: str,
        metadata: dict[str, str],
        progress: Callable[[int, int], None] | None,
    ) -> int:
        if size < self.config.multipart_threshold:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=self._read(fh, 0, size), Metadata=metadata)
            if progress:
                progress(size, size)
            return 1
        part_size = max(self.config.part_size, -(-size // MAX_PARTS))
        ranges = [(n + 1, off, min(part_size, size - off)) for n, off in enumerate(range(0, size, part_size))]
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, Metadata=metadata)["UploadId"]
        sent = [0]
        sent_lock = threading.Lock()

        def send(number: int, offset: int, length: int) -> dict:
            body = self._read(fh, offset, length)
            answer = self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
            if progress:
                with sent_lock:
                    sent[0] += length
                    progress(sent[0], size)
            return {"PartNumber": number, "ETag": answer["ETag"]}

        try:
            parts = self._in_parallel(send, ranges)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self._abort_quietly(key, upload_id)
            raise
        return len(ranges)

    def _in_parallel(self, func: Callable[..., dict], ranges: list[tuple[int, int, int]]) -> list[dict]:
        with ThreadPoolExecutor(max_workers=max(1, self.config.max_concurrency)) as pool:
            futures = [pool.submit(func, *r) for r in ranges]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _promote(self, staging: str, key: str, size: int, metadata: dict[str, str]) -> None:
        """Server-side copy of the complete staging object to its final key (atomic for readers of ``key``)."""
        staged = self._head_key(staging, staging)
        if staged is None or staged.size != size:
            raise ObjectStoreError(
                f"staging object s3://{self.bucket}/{staging} has {staged.size if staged else 'no'} bytes, "
                f"expected {size}"
            )
        source = {"Bucket": self.bucket, "Key": staging}
        if size <= min(self.config.max_single_copy, MAX_SINGLE_COPY):
            self.client.copy_object(
                Bucket=self.bucket, Key=key, CopySource=source, MetadataDirective="REPLACE", Metadata=metadata
            )
            return
        part_size = max(self.config.part_size, -(-size // MAX_PARTS))
        ranges = [(n + 1, off, min(part_size, size - off)) for n, off in enumerate(range(0, size, part_size))]
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, Metadata=metadata)["UploadId"]

        def copy(number: int, offset: int, length: int) -> dict:
            answer = self.client.upload_part_copy(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=source,
                CopySourceRange=f"bytes={offset}-{offset + length - 1}",
            )
            return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

        try:
            parts = self._in_parallel(copy, ranges)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self._abort_quietly(key, upload_id)
            raise

    def _verify(self, key: str, relative: str, size: int, sha256: str) -> None:
        final = self._head_key(key, relative)
        if final is None or final.size != size or final.sha256 != sha256:
            raise ObjectStoreError(f"{self.object_url(relative)}: after the copy the object does not match the file")

    def _abort_quietly(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def _delete_quietly(self, key: str) -> None:
        with contextlib.suppress(Exception):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def cleanup_staging(self, older_than: timedelta = timedelta(hours=24)) -> tuple[int, int]:
        """Remove what crashed uploads left in the staging area: (objects deleted, multipart uploads aborted).

        Only entries older than ``older_than`` go, so uploads in flight in other processes are left alone. (A
        bucket lifecycle rule ``AbortIncompleteMultipartUpload`` does the same on the server side.)
        """
        cutoff = datetime.now(UTC) - older_than
        deleted = aborted = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.staging_prefix
        ):
            for item in page.get("Contents", []):
                if item["LastModified"] < cutoff:
                    self._delete_quietly(item["Key"])
                    deleted += 1
        answer = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.staging_prefix)
        for upload in answer.get("Uploads", []):
            if upload["Initiated"] < cutoff:
                self._abort_quietly(upload["Key"], upload["UploadId"])
                aborted += 1
        return deleted, aborted

    # -- download ---------------------------------------------------------------------------------------

    def get_file(self, relative: str, dest: Path) -> Transfer:
        """Download ``relative`` to ``dest`` through a temp file; its sha256 must match before the rename."""
        started = time.monotonic()
        key = self.key(relative)
        tries = [0]

        def once() -> Transfer:
            tries[0] += 1
            remote = self._head_key(key, relative)
            if remote is None:
                raise FileNotFoundError(f"{self.object_url(relative)}: no such object")
            digest = hashlib.sha256()
            received = 0
            with atomic_path(dest) as tmp, tmp.open("wb") as out:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                for chunk in body.iter_chunks(READ_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                if received != remote.size or (remote.sha256 and digest.hexdigest() != remote.sha256):
                    raise ObjectStoreError(
                        f"{self.object_url(relative)}: received {received} bytes (sha256 {digest.hexdigest()}), "
                        f"expected {remote.size} (sha256 {remote.sha256}); {dest} was not replaced"
                    )
            return Transfer(
                relative,
                self.object_url(relative),
                received,
                digest.hexdigest(),
                True,
                attempts=tries[0],
                seconds=time.monotonic() - started,
            )

        try:
            return self._retrying(lambda exc: not isinstance(exc, FileNotFoundError) and _retryable(exc))(once)
        except Exception as exc:
            raise ObjectStoreError(
                f"{self.object_url(relative)}: restore to {dest} failed after {tries[0]} attempt(s): {_describe(exc)}"
            ) from exc


@contextlib.contextmanager
def sqlite_snapshot(path: Path, folder: Path) -> Iterator[Path]:
    """A consistent copy of a live SQLite database (online backup API, WAL included), removed afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f".{path.name}.{uuid.uuid4().hex}.snapshot"
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file (the cache turns WAL on again)
        finally:
            target.close()
            source.close()
        yield copy
    finally:
        copy.unlink(missing_ok=True)
