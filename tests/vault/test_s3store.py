"""The S3 blob store against moto's S3 server running as a separate process (see conftest)."""

from __future__ import annotations

import hashlib
import io
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from testigo.errors import StorageError, UsageError
from testigo.vault.blobs import CHUNK_SIZE, BlobStore, StoredBlob, open_blob_store
from testigo.vault.s3store import PART_SIZE, S3BlobStore, parse_s3_url, part_size_for

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from mypy_boto3_s3 import S3Client

    from .conftest import MotoS3Server

MiB = 1024 * 1024


class GeneratedBytes(io.RawIOBase):
    """``size`` deterministic pseudo-random bytes, made on demand so the test holds none of them.

    With ``fail_after`` set, reading past that many bytes raises ``error``.
    """

    def __init__(
        self, size: int, seed: bytes, fail_after: int | None, error: BaseException | None
    ) -> None:
        self.size = size
        self.seed = seed
        self.position = 0
        self.fail_after = fail_after
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self.fail_after is not None and self.position >= self.fail_after:
            assert self.error is not None
            raise self.error
        end = min(self.size, self.position + len(view))
        if self.fail_after is not None:
            end = min(end, self.fail_after)
        out = bytearray()
        first_block = self.position // 64
        for block in range(first_block, (end + 63) // 64):
            out += hashlib.sha512(self.seed + block.to_bytes(8, "big")).digest()
        start = self.position - first_block * 64
        count = end - self.position
        view[:count] = out[start : start + count]
        self.position = end
        return count


def generated(
    size: int,
    seed: bytes = b"testigo",
    *,
    fail_after: int | None = None,
    error: BaseException | None = None,
) -> io.BufferedReader:
    return io.BufferedReader(GeneratedBytes(size, seed, fail_after, error), CHUNK_SIZE)


def generated_digest(size: int, seed: bytes = b"testigo") -> str:
    """SHA-256 of ``generated(size, seed)``, computed from a fresh stream."""
    hasher = hashlib.sha256()
    with generated(size, seed) as stream:
        while chunk := stream.read(CHUNK_SIZE):
            hasher.update(chunk)
    return hasher.hexdigest()


def keys_under(client: S3Client, bucket: str, prefix: str) -> list[str]:
    paginator = client.get_paginator("list_objects_v2")
    return [
        item["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]


def uploads_under(client: S3Client, bucket: str, prefix: str) -> list[str]:
    response = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    return [upload["Key"] for upload in response.get("Uploads", [])]


def assert_nothing_temporary(client: S3Client, store: S3BlobStore) -> None:
    assert keys_under(client, store.bucket, store.tmp_prefix) == []
    assert uploads_under(client, store.bucket, store.prefix) == []


def read_all(store: S3BlobStore, digest: str) -> bytes:
    with store.open(digest) as stream:
        return stream.read()


# -- URLs and configuration ------------------------------------------------------------------


def test_parse_url() -> None:
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    assert parse_s3_url("s3://bucket/") == ("bucket", "")
    assert parse_s3_url("s3://my.bucket-1/a/b/") == ("my.bucket-1", "a/b/")
    assert parse_s3_url("s3://bucket//a//b") == ("bucket", "a/b/")


@pytest.mark.parametrize(
    "url",
    [
        "s3://",
        "s3:///prefix",
        "s3://Bad_Bucket/x",
        "s3://ab",
        "s3://bucket/../escape",
        "s3://bucket/a/./b",
        "s3://bucket/x?versionId=1",
        "https://bucket/x",
    ],
)
def test_malformed_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError):
        parse_s3_url(url)
    with pytest.raises(UsageError):
        S3BlobStore.from_url(url)


def test_part_sizes_stay_within_s3_limits() -> None:
    assert part_size_for(1) == PART_SIZE == 8 * MiB
    assert part_size_for(2500) == 8 * MiB
    assert part_size_for(2501) == 16 * MiB
    assert sum(part_size_for(n) for n in range(1, 10_001)) > 250 * 1024**3


def test_open_blob_store_returns_s3_store(s3_env: MotoS3Server, s3_prefix: str) -> None:
    store = open_blob_store(f"s3://{s3_env.bucket}/{s3_prefix}/")
    assert isinstance(store, S3BlobStore)
    assert isinstance(store, BlobStore)
    assert store.url == f"s3://{s3_env.bucket}/{s3_prefix}"
    assert store.free_space() is None


def test_missing_bucket_is_a_plain_storage_error(s3_env: MotoS3Server) -> None:
    with pytest.raises(StorageError) as info:
        S3BlobStore.from_url("s3://no-such-bucket/prefix")
    message = str(info.value)
    assert "no-such-bucket" in message
    assert "does not exist" in message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_unreachable_endpoint_is_a_storage_error(
    s3_env: MotoS3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port once the socket is closed: connections are refused at once.
    monkeypatch.setenv("TESTIGO_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StorageError) as info:
        S3BlobStore.from_url(f"s3://{s3_env.bucket}")
    assert "cannot reach" in str(info.value)
    assert info.value.__cause__ is None


# -- writing and reading ---------------------------------------------------------------------


def test_round_trip(s3_store: S3BlobStore, s3_client: S3Client) -> None:
    data = b"the window was broken at minute 25\n" * 100
    seen: list[int] = []
    stored = s3_store.put_stream(io.BytesIO(data), expected_size=len(data), progress=seen.append)
    digest = hashlib.sha256(data).hexdigest()
    assert stored == StoredBlob(digest, len(data), created=True)
    assert sum(seen) == len(data)
    assert read_all(s3_store, digest) == data
    assert s3_store.exists(digest)
    assert s3_store.size(digest) == len(data)
    head = s3_client.head_object(Bucket=s3_store.bucket, Key=s3_store.key_for(digest))
    assert head["Metadata"] == {"sha256": digest}
    assert (
        s3_store.key_for(digest) == f"{s3_store.prefix}sha256/{digest[:2]}/{digest[2:4]}/{digest}"
    )
    assert_nothing_temporary(s3_client, s3_store)


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, PART_SIZE - 1])
def test_digest_matches_hashlib(s3_store: S3BlobStore, size: int) -> None:
    stored = s3_store.put_stream(generated(size))
    assert stored.sha256 == generated_digest(size)
    assert stored.size == size
    assert s3_store.size(stored.sha256) == size
    assert hashlib.sha256(read_all(s3_store, stored.sha256)).hexdigest() == stored.sha256


def test_open_streams_in_pieces(s3_store: S3BlobStore) -> None:
    data = bytes(range(256)) * 4096
    digest = s3_store.put_stream(io.BytesIO(data)).sha256
    with s3_store.open(digest) as stream:
        assert stream.readable()
        assert stream.read(10) == data[:10]
        rest = b"".join(iter(lambda: stream.read(65536), b""))
    assert data[:10] + rest == data


@pytest.mark.slow
def test_multipart_upload_of_a_20_mib_stream(s3_store: S3BlobStore, s3_client: S3Client) -> None:
    size = 20 * MiB + 12345
    seen: list[int] = []
    stored = s3_store.put_stream(generated(size), expected_size=size, progress=seen.append)
    assert stored == StoredBlob(generated_digest(size), size, created=True)
    assert sum(seen) == size
    assert len(seen) == 3  # two full 8 MiB parts and the remainder
    assert s3_store.size(stored.sha256) == size
    head = s3_client.head_object(Bucket=s3_store.bucket, Key=s3_store.key_for(stored.sha256))
    assert head["Metadata"] == {"sha256": stored.sha256}
    hasher = hashlib.sha256()
    with s3_store.open(stored.sha256) as stream:
        while chunk := stream.read(CHUNK_SIZE):
            hasher.update(chunk)
    assert hasher.hexdigest() == stored.sha256
    assert_nothing_temporary(s3_client, s3_store)
    assert keys_under(s3_client, s3_store.bucket, s3_store.prefix) == [
        s3_store.key_for(stored.sha256)
    ]


@pytest.mark.slow
def test_exactly_one_part_goes_through_multipart(
    s3_store: S3BlobStore, s3_client: S3Client
) -> None:
    stored = s3_store.put_stream(generated(PART_SIZE, b"one part"))
    assert stored == StoredBlob(generated_digest(PART_SIZE, b"one part"), PART_SIZE, created=True)
    assert_nothing_temporary(s3_client, s3_store)


@pytest.mark.slow
def test_multipart_server_side_copy(
    s3_env: MotoS3Server, s3_prefix: str, s3_client: S3Client
) -> None:
    """Publishing through a multipart copy (the path for blobs over 5 GiB) keeps the metadata."""
    from boto3.s3.transfer import TransferConfig

    store = S3BlobStore(
        s3_env.bucket,
        s3_prefix,
        copy_config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB),
    )
    stored = store.put_stream(generated(17 * MiB, b"copy"))
    assert stored.sha256 == generated_digest(17 * MiB, b"copy")
    head = s3_client.head_object(Bucket=store.bucket, Key=store.key_for(stored.sha256))
    assert head["ContentLength"] == 17 * MiB
    assert head["Metadata"] == {"sha256": stored.sha256}
    assert_nothing_temporary(s3_client, store)


def test_dedupe_small(s3_store: S3BlobStore, s3_client: S3Client) -> None:
    data = b"same content twice"
    first = s3_store.put_stream(io.BytesIO(data))
    second = s3_store.put_stream(io.BytesIO(data))
    assert first.created and not second.created
    assert first.sha256 == second.sha256 and second.size == len(data)
    assert keys_under(s3_client, s3_store.bucket, s3_store.prefix) == [
        s3_store.key_for(first.sha256)
    ]


@pytest.mark.slow
def test_dedupe_multipart(s3_store: S3BlobStore, s3_client: S3Client) -> None:
    first = s3_store.put_stream(generated(9 * MiB, b"dup"))
    second = s3_store.put_stream(generated(9 * MiB, b"dup"))
    assert first.created and not second.created
    assert first.sha256 == second.sha256
    assert keys_under(s3_client, s3_store.bucket, s3_store.prefix) == [
        s3_store.key_for(first.sha256)
    ]
    assert_nothing_temporary(s3_client, s3_store)


def test_concurrent_writers_share_one_store(s3_store: S3BlobStore, s3_client: S3Client) -> None:
    payloads = [f"item {i % 3}".encode() * 1000 for i in range(9)]
    results: list[StoredBlob | BaseException] = [ValueError("not run")] * len(payloads)

    def write(index: int) -> None:
        try:
            results[index] = s3_store.put_stream(io.BytesIO(payloads[index]))
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = [r for r in results if isinstance(r, StoredBlob)]
    assert len(stored) == len(payloads), results
    expected = {hashlib.sha256(p).hexdigest() for p in payloads}
    assert {s.sha256 for s in stored} == expected
    assert sorted(s3_store.iter_digests()) == sorted(expected)
    for digest in expected:
        assert len(read_all(s3_store, digest)) == 6000


def test_iter_digests(s3_store: S3BlobStore, s3_client: S3Client) -> None:
    assert list(s3_store.iter_digests()) == []
    digests = {s3_store.put_stream(io.BytesIO(f"blob {i}".encode())).sha256 for i in range(5)}
    # Objects that are not content addresses are not reported.
    s3_client.put_object(Bucket=s3_store.bucket, Key=f"{s3_store.prefix}sha256/stray", Body=b"x")
    s3_client.put_object(Bucket=s3_store.bucket, Key=f"{s3_store.prefix}tmp/abc", Body=b"x")
    listed = list(s3_store.iter_digests())
    assert listed == sorted(digests)


@pytest.mark.slow
def test_iter_digests_paginates(s3_env: MotoS3Server, s3_prefix: str) -> None:
    """More blobs than one listing page holds (moto pages at 1000 keys)."""
    client = s3_env.client()
    store = S3BlobStore(s3_env.bucket, s3_prefix, client=client)
    digests = sorted(hashlib.sha256(str(i).encode()).hexdigest() for i in range(1003))
    for digest in digests:
        client.put_object(Bucket=store.bucket, Key=store.key_for(digest), Body=b"")
    assert list(store.iter_digests()) == digests


def test_missing_blob(s3_store: S3BlobStore) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not s3_store.exists(absent)
    with pytest.raises(KeyError):
        s3_store.open(absent)
    with pytest.raises(KeyError):
        s3_store.size(absent)


@pytest.mark.parametrize(
    "digest", ["../../etc/passwd", "ABC", "A" * 64, "g" * 64, "a" * 63, "", "a" * 64 + "/"]
)
def test_bad_digest_refused(digest: str) -> None:
    """Refused before any request is made, so no server is needed."""
    s3_store = S3BlobStore("testigo-test", "prefix")
    with pytest.raises(ValueError):
        s3_store.open(digest)
    with pytest.raises(ValueError):
        s3_store.exists(digest)
    with pytest.raises(ValueError):
        s3_store.size(digest)


# -- refusing and cleaning up ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        pytest.param(1000, 1001, id="small-too-short"),
        pytest.param(1000, 999, id="small-too-long"),
        pytest.param(20 * MiB, 10 * MiB, id="multipart-too-long", marks=pytest.mark.slow),
        pytest.param(20 * MiB, 30 * MiB, id="multipart-too-short", marks=pytest.mark.slow),
    ],
)
def test_expected_size_mismatch_stores_nothing(
    s3_store: S3BlobStore, s3_client: S3Client, size: int, expected: int
) -> None:
    with pytest.raises(StorageError, match="expected"):
        s3_store.put_stream(generated(size), expected_size=expected)
    assert keys_under(s3_client, s3_store.bucket, s3_store.prefix) == []
    assert_nothing_temporary(s3_client, s3_store)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (OSError("disk read failed"), StorageError),
        (ValueError("bad source"), StorageError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
)
def test_source_failing_mid_stream_leaves_nothing(
    s3_store: S3BlobStore,
    s3_client: S3Client,
    error: BaseException,
    raised: type[BaseException],
) -> None:
    # Fails while reading the second part, after the first was uploaded.
    source = generated(20 * MiB, fail_after=12 * MiB, error=error)
    with pytest.raises(raised) as info:
        s3_store.put_stream(source)
    if raised is StorageError:
        assert str(error) in str(info.value)
    assert keys_under(s3_client, s3_store.bucket, s3_store.prefix) == []
    assert_nothing_temporary(s3_client, s3_store)


def test_source_failing_before_one_part_leaves_nothing(
    s3_store: S3BlobStore, s3_client: S3Client
) -> None:
    source = generated(MiB, fail_after=100, error=OSError("gone"))
    with pytest.raises(StorageError, match="gone"):
        s3_store.put_stream(source)
    assert keys_under(s3_client, s3_store.bucket, s3_store.prefix) == []
    assert_nothing_temporary(s3_client, s3_store)


def test_cleanup_stale_removes_abandoned_uploads(
    s3_store: S3BlobStore, s3_client: S3Client
) -> None:
    bucket = s3_store.bucket
    kept = s3_store.put_stream(io.BytesIO(b"published")).sha256
    # What a writer killed mid-upload leaves: a temporary object and an open multipart upload.
    s3_client.put_object(Bucket=bucket, Key=f"{s3_store.tmp_prefix}dead-object", Body=b"partial")
    upload_key = f"{s3_store.tmp_prefix}dead-upload"
    upload_id = s3_client.create_multipart_upload(Bucket=bucket, Key=upload_key)["UploadId"]
    s3_client.upload_part(
        Bucket=bucket, Key=upload_key, UploadId=upload_id, PartNumber=1, Body=b"x" * 1024
    )
    # Ages are measured from the server's own timestamps, never from the test's clock.
    [upload] = s3_client.list_multipart_uploads(Bucket=bucket, Prefix=s3_store.prefix)["Uploads"]
    modified = s3_client.head_object(Bucket=bucket, Key=f"{s3_store.tmp_prefix}dead-object")[
        "LastModified"
    ]
    started = max(upload["Initiated"], modified)

    assert s3_store.cleanup_stale(3600, now=started + timedelta(minutes=10)) == 0
    assert len(keys_under(s3_client, bucket, s3_store.tmp_prefix)) == 1
    assert len(uploads_under(s3_client, bucket, s3_store.prefix)) == 1

    assert s3_store.cleanup_stale(3600, now=started + timedelta(hours=2)) == 2
    assert_nothing_temporary(s3_client, s3_store)
    assert s3_store.exists(kept)
    assert s3_store.cleanup_stale(0, now=started + timedelta(hours=3)) == 0


def test_cleanup_stale_ignores_other_prefixes(
    s3_env: MotoS3Server, s3_prefix: str, s3_client: S3Client
) -> None:
    mine = S3BlobStore(s3_env.bucket, f"{s3_prefix}/mine", client=s3_client)
    other = S3BlobStore(s3_env.bucket, f"{s3_prefix}/other", client=s3_client)
    s3_client.put_object(Bucket=s3_env.bucket, Key=f"{other.tmp_prefix}x", Body=b"x")
    modified = s3_client.head_object(Bucket=s3_env.bucket, Key=f"{other.tmp_prefix}x")[
        "LastModified"
    ]
    assert mine.cleanup_stale(0, now=modified + timedelta(days=1)) == 0
    assert keys_under(s3_client, s3_env.bucket, other.tmp_prefix) == [f"{other.tmp_prefix}x"]


def test_generated_stream_is_the_same_however_it_is_read() -> None:
    whole = generated(1000).read()
    assert len(whole) == 1000
    pieces = generated(1000)
    assert b"".join(iter(lambda: pieces.read(7), b"")) == whole
    assert generated_digest(1000) == hashlib.sha256(whole).hexdigest()
    assert generated(1000, b"other").read() != whole
