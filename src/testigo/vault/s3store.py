"""The S3-compatible blob store: AWS S3, MinIO, Ceph, Garage or any server speaking the protocol.

Layout under ``s3://bucket/prefix``::

    prefix/sha256/aa/bb/<digest>   published blobs, metadata ``x-amz-meta-sha256: <digest>``
    prefix/tmp/<uuid>              uploads in progress (multipart) or awaiting publication

A blob is hashed while it is uploaded to a temporary key, then copied server-side to its content
address, so a reader never sees a half-written object under ``sha256/``. Whatever goes wrong
(including Ctrl-C) the multipart upload is aborted and the temporary object deleted before the
error propagates; what a killed process leaves behind, ``cleanup_stale`` removes later.

Configuration comes from the standard AWS variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``/``AWS_DEFAULT_REGION``,
``AWS_PROFILE``) plus ``TESTIGO_S3_ENDPOINT_URL`` for servers other than AWS.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO, NoReturn

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from testigo.errors import StorageError, TestigoError, UsageError
from testigo.vault.blobs import (
    CHUNK_SIZE,
    SHA256_RE,
    ProgressCallback,
    StoredBlob,
    check_digest,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

ENDPOINT_ENV = "TESTIGO_S3_ENDPOINT_URL"
MiB = 1024 * 1024
PART_SIZE = 8 * MiB
"""Bytes per uploaded part; S3 wants at least 5 MiB for every part but the last."""
MAX_PARTS = 10_000
"""S3's limit on parts per multipart upload."""
PARTS_PER_SIZE_STEP = 2_500
"""Every this many parts the part size doubles, so one upload can reach ~300 GB."""
METADATA_KEY = "sha256"
CONTENT_TYPE = "application/octet-stream"

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})

DEFAULT_COPY_CONFIG = TransferConfig(
    multipart_threshold=256 * MiB,
    multipart_chunksize=256 * MiB,
    max_concurrency=8,
)
"""Server-side copies below 256 MiB are one CopyObject; above, a multipart copy (any size)."""


def part_size_for(part_number: int) -> int:
    """Size of part ``part_number`` (1-based): 8 MiB, doubling every 2,500 parts."""
    return PART_SIZE << ((part_number - 1) // PARTS_PER_SIZE_STEP)


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/optional/prefix`` into the bucket and a prefix ending in ``/``."""
    if not url.startswith("s3://"):
        raise UsageError(f"not an S3 URL (expected s3://bucket/prefix): {url!r}")
    rest = url[len("s3://") :]
    if any(c in rest for c in "?#\\") or any(ord(c) < 32 for c in rest):
        raise UsageError(
            f"S3 URL must be s3://bucket/prefix, without query or odd characters: {url!r}"
        )
    bucket, _, raw_prefix = rest.partition("/")
    if not bucket:
        raise UsageError(f"S3 URL names no bucket (expected s3://bucket/prefix): {url!r}")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise UsageError(
            f"invalid S3 bucket name {bucket!r}:"
            " use 3-63 lowercase letters, digits, dots or hyphens"
        )
    segments = [s for s in raw_prefix.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise UsageError(f"S3 prefix may not contain '.' or '..' segments: {url!r}")
    prefix = "".join(f"{s}/" for s in segments)
    return bucket, prefix


def make_client(*, max_pool_connections: int = 32) -> S3Client:
    """A client from the environment. One client may be shared by many threads."""
    # Retries follow AWS_MAX_ATTEMPTS / AWS_RETRY_MODE when set, botocore's defaults otherwise.
    endpoint = os.environ.get(ENDPOINT_ENV) or None
    region = os.environ.get("AWS_REGION") or None
    config = Config(
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=max_pool_connections,
        # Self-hosted servers (MinIO, Ceph, Garage) rarely have wildcard DNS for buckets.
        s3={"addressing_style": "path"} if endpoint else None,
    )
    # A private session: the default boto3 session is not safe to share between threads.
    session = boto3.session.Session(region_name=region)
    return session.client("s3", endpoint_url=endpoint, config=config)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_not_found(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 404 or _error_code(exc) in _NOT_FOUND_CODES


def _describe(exc: BaseException) -> str:
    """A one-line reason for a botocore error, without its traceback."""
    if isinstance(exc, NoCredentialsError):
        return "no S3 credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "") or "error"
        message = error.get("Message", "") or exc.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", ""
        )
        return f"{code}: {message}" if message else str(code)
    return str(exc) or type(exc).__name__


class _BodyReader(io.RawIOBase):
    """Adapts a botocore streaming body to a raw stream, turning network failures into
    ``StorageError`` so callers never see botocore exceptions."""

    def __init__(self, body: StreamingBody, where: str) -> None:
        self._body = body
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except (BotoCoreError, OSError) as exc:
            raise StorageError(f"reading {self._where} failed: {_describe(exc)}") from None
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3BlobStore:
    """Blobs in an S3 bucket under an optional prefix, addressed by SHA-256."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: S3Client | None = None,
        copy_config: TransferConfig | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = "".join(f"{s}/" for s in prefix.split("/") if s)
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client = client if client is not None else make_client()
        self._copy_config = copy_config if copy_config is not None else DEFAULT_COPY_CONFIG

    @classmethod
    def from_url(cls, url: str, *, client: S3Client | None = None) -> S3BlobStore:
        """Open ``s3://bucket/prefix`` and check the bucket can be reached."""
        bucket, prefix = parse_s3_url(url)
        store = cls(bucket, prefix, client=client)
        store.check_bucket()
        return store

    # -- keys -------------------------------------------------------------------------------

    def key_for(self, sha256: str) -> str:
        """The object key of a blob: ``prefix/sha256/aa/bb/<digest>``."""
        check_digest(sha256)
        return f"{self.prefix}sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    @property
    def tmp_prefix(self) -> str:
        return f"{self.prefix}tmp/"

    # -- checks -----------------------------------------------------------------------------

    def check_bucket(self) -> None:
        """Raise ``StorageError`` with a plain message unless the bucket exists and answers."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _is_not_found(exc):
                raise StorageError(
                    f"S3 bucket {self.bucket!r} does not exist; create it or fix the blob store URL"
                ) from None
            if _error_code(exc) in ("403", "AccessDenied", "Forbidden"):
                raise StorageError(
                    f"access to S3 bucket {self.bucket!r} was denied; check the credentials"
                ) from None
            raise StorageError(f"S3 bucket {self.bucket!r}: {_describe(exc)}") from None
        except BotoCoreError as exc:
            raise StorageError(
                f"cannot reach S3 bucket {self.bucket!r}: {_describe(exc)}"
            ) from None

    def _fail(self, action: str, exc: BaseException) -> NoReturn:
        raise StorageError(f"{action} in {self.url} failed: {_describe(exc)}") from None

    def _head(self, sha256: str) -> int | None:
        """Size of the blob, or ``None`` when it is absent."""
        key = self.key_for(sha256)
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            self._fail(f"looking up {sha256}", exc)
        except BotoCoreError as exc:
            self._fail(f"looking up {sha256}", exc)
        return int(response["ContentLength"])

    # -- reading ----------------------------------------------------------------------------

    def open(self, sha256: str) -> BinaryIO:
        """Stream a stored blob; raises ``KeyError`` when absent. Close it when done."""
        key = self.key_for(sha256)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_not_found(exc):
                raise KeyError(sha256) from None
            self._fail(f"opening {sha256}", exc)
        except BotoCoreError as exc:
            self._fail(f"opening {sha256}", exc)
        return io.BufferedReader(_BodyReader(response["Body"], sha256), CHUNK_SIZE)

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def size(self, sha256: str) -> int:
        size = self._head(sha256)
        if size is None:
            raise KeyError(sha256)
        return size

    def discard(self, sha256: str) -> None:
        """Delete a published object whose content no longer matches its address (repair only:
        the intact copy is put in its place right after)."""
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except (ClientError, BotoCoreError) as exc:
            self._fail(f"removing the altered copy of {sha256}", exc)

    def iter_digests(self) -> Iterator[str]:
        """Every published digest, in digest order (the key layout sorts like the digests)."""
        listing_prefix = f"{self.prefix}sha256/"
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=listing_prefix):
                for item in page.get("Contents", []):
                    name = item.get("Key", "")[len(listing_prefix) :]
                    parts = name.split("/")
                    if (
                        len(parts) == 3
                        and SHA256_RE.match(parts[2])
                        and parts[0] == parts[2][:2]
                        and parts[1] == parts[2][2:4]
                    ):
                        yield parts[2]
        except (ClientError, BotoCoreError) as exc:
            self._fail("listing blobs", exc)

    def free_space(self) -> int | None:
        return None

    # -- writing ----------------------------------------------------------------------------

    def put_stream(
        self,
        source: BinaryIO,
        *,
        expected_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> StoredBlob:
        """Upload ``source`` (read once, in parts), hashing while sending; publish atomically.

        Raises ``StorageError`` for any failure, including a size different from
        ``expected_size``; nothing is left under ``tmp/`` afterwards. ``KeyboardInterrupt``
        and ``SystemExit`` propagate unchanged after the same cleanup.
        """
        if expected_size is not None and expected_size < 0:
            raise UsageError(f"expected size cannot be negative: {expected_size}")
        upload = _Upload(self, source, expected_size, progress)
        try:
            return upload.run()
        except TestigoError:
            upload.clean_up()
            raise
        except (ClientError, BotoCoreError) as exc:
            upload.clean_up()
            self._fail("storing a blob", exc)
        except Exception as exc:
            upload.clean_up()
            raise StorageError(f"storing a blob in {self.url} failed: {_describe(exc)}") from None
        except BaseException:
            upload.clean_up()
            raise

    # -- maintenance ------------------------------------------------------------------------

    def cleanup_stale(self, max_age_seconds: float = 3600, *, now: datetime | None = None) -> int:
        """Delete temporary objects and abort multipart uploads under ``tmp/`` idle for longer
        than ``max_age_seconds``; return how many were removed.

        An upload counts as idle from its last uploaded part, so a long upload that is still
        sending is left alone. ``now`` defaults to the current time.
        """
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=max_age_seconds)
        removed = 0
        client = self._client
        try:
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.tmp_prefix
            ):
                for item in page.get("Contents", []):
                    modified = item.get("LastModified")
                    if modified is not None and modified <= cutoff:
                        client.delete_object(Bucket=self.bucket, Key=item["Key"])
                        removed += 1
            for upload_page in client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.tmp_prefix
            ):
                for upload in upload_page.get("Uploads", []):
                    key, upload_id = upload["Key"], upload["UploadId"]
                    initiated = upload.get("Initiated")
                    if initiated is None or initiated > cutoff:
                        continue
                    if self._last_part_time(key, upload_id, initiated) > cutoff:
                        continue
                    try:
                        client.abort_multipart_upload(
                            Bucket=self.bucket, Key=key, UploadId=upload_id
                        )
                    except ClientError as exc:
                        if _error_code(exc) != "NoSuchUpload":
                            raise
                        continue  # finished or aborted meanwhile by its writer
                    removed += 1
        except (ClientError, BotoCoreError) as exc:
            self._fail("removing stale uploads", exc)
        return removed

    def _last_part_time(self, key: str, upload_id: str, initiated: datetime) -> datetime:
        latest = initiated
        try:
            for page in self._client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            ):
                for part in page.get("Parts", []):
                    modified = part.get("LastModified")
                    if modified is not None and modified > latest:
                        latest = modified
        except ClientError as exc:
            if _error_code(exc) != "NoSuchUpload":
                raise
        return latest


class _Upload:
    """One ``put_stream`` call: remembers what it created so it can undo it."""

    def __init__(
        self,
        store: S3BlobStore,
        source: BinaryIO,
        expected_size: int | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.store = store
        self.client = store._client
        self.bucket = store.bucket
        self.source = source
        self.expected_size = expected_size
        self.progress = progress
        self.tmp_key = f"{store.tmp_prefix}{uuid.uuid4().hex}"
        self.upload_id: str | None = None
        self.tmp_may_exist = False
        self.hasher = hashlib.sha256()
        self.total = 0

    def _read_part(self, size: int) -> bytes:
        """Read up to ``size`` bytes; short only at the end of the stream."""
        buffer = bytearray()
        while len(buffer) < size:
            data = self.source.read(min(CHUNK_SIZE, size - len(buffer)))
            if not data:
                break
            buffer += data
        part = bytes(buffer)
        self.hasher.update(part)
        self.total += len(part)
        if self.expected_size is not None and self.total > self.expected_size:
            raise StorageError(
                f"the file is larger than the expected {self.expected_size} bytes; nothing stored"
            )
        return part

    def _check_total(self) -> None:
        if self.expected_size is not None and self.total != self.expected_size:
            raise StorageError(
                f"the file has {self.total} bytes, not the expected {self.expected_size};"
                " nothing stored"
            )

    def _report(self, count: int) -> None:
        if self.progress is not None and count:
            self.progress(count)

    def run(self) -> StoredBlob:
        first = self._read_part(part_size_for(1))
        if len(first) < part_size_for(1):
            return self._put_small(first)
        return self._put_multipart(first)

    def _put_small(self, data: bytes) -> StoredBlob:
        """The whole file fits in one part: its digest is known before sending, and one
        PutObject is atomic, so it goes straight to its content address."""
        self._check_total()
        digest = self.hasher.hexdigest()
        if self.store.exists(digest):
            self._report(len(data))
            return StoredBlob(digest, self.total, created=False)
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.store.key_for(digest),
            Body=data,
            ContentLength=len(data),
            ContentType=CONTENT_TYPE,
            Metadata={METADATA_KEY: digest},
        )
        self._report(len(data))
        self._verify_published(digest)
        return StoredBlob(digest, self.total, created=True)

    def _put_multipart(self, first: bytes) -> StoredBlob:
        self.tmp_may_exist = True
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.tmp_key, ContentType=CONTENT_TYPE
        )
        self.upload_id = response["UploadId"]
        parts: list[CompletedPartTypeDef] = []
        part, number = first, 1
        while part:
            if number > MAX_PARTS:
                raise StorageError(f"the file is too large for one S3 upload ({MAX_PARTS} parts)")
            sent = self.client.upload_part(
                Bucket=self.bucket,
                Key=self.tmp_key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=part,
                ContentLength=len(part),
            )
            parts.append({"ETag": sent["ETag"], "PartNumber": number})
            self._report(len(part))
            number += 1
            part = self._read_part(part_size_for(number))
        self._check_total()
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.tmp_key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": parts},
        )
        self.upload_id = None
        digest = self.hasher.hexdigest()
        if self.store.exists(digest):
            self._delete_tmp()
            return StoredBlob(digest, self.total, created=False)
        self.client.copy(
            CopySource={"Bucket": self.bucket, "Key": self.tmp_key},
            Bucket=self.bucket,
            Key=self.store.key_for(digest),
            ExtraArgs={
                "Metadata": {METADATA_KEY: digest},
                "MetadataDirective": "REPLACE",
                "ContentType": CONTENT_TYPE,
            },
            Config=self.store._copy_config,
        )
        self._verify_published(digest)
        self._delete_tmp()
        return StoredBlob(digest, self.total, created=True)

    def _verify_published(self, digest: str) -> None:
        """Check the object now under the content address has the size and digest sent."""
        key = self.store.key_for(digest)
        head = self.client.head_object(Bucket=self.bucket, Key=key)
        size = int(head["ContentLength"])
        recorded = head.get("Metadata", {}).get(METADATA_KEY)
        if size != self.total or recorded != digest:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.delete_object(Bucket=self.bucket, Key=key)
            raise StorageError(
                f"the stored copy of {digest} has {size} bytes and digest {recorded!r},"
                f" expected {self.total} bytes; it was removed"
            )

    def _delete_tmp(self) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.tmp_key)
        self.tmp_may_exist = False

    def clean_up(self) -> None:
        """Best effort: abort the multipart upload and delete the temporary object.

        Failures here are swallowed so the original error reaches the caller; whatever
        survives is removed later by ``cleanup_stale``.
        """
        if self.upload_id is not None:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.tmp_key, UploadId=self.upload_id
                )
            self.upload_id = None
        # The temporary object may exist even if completion seemed to fail (e.g. a timeout
        # after the server finished), so try to delete it whenever an upload began.
        if self.tmp_may_exist:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.delete_object(Bucket=self.bucket, Key=self.tmp_key)
            self.tmp_may_exist = False
