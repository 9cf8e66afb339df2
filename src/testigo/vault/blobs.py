"""Blob stores: where originals and derived files live, addressed by their SHA-256.

Two backends share one interface: a local folder (the default) and S3-compatible object storage.
A blob is written once, hashed while it is written, and only becomes visible under its content
address when it is complete, so a crash at any moment leaves nothing half-written that anything
refers to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

CHUNK_SIZE = 1024 * 1024
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes just processed."""


@dataclass(frozen=True)
class StoredBlob:
    """What a put returned: the content address, the size and whether the content was new."""

    sha256: str
    size: int
    created: bool


def check_digest(sha256: str) -> str:
    """Refuse anything that is not a lowercase hex SHA-256, so a digest can never be a path."""
    if not SHA256_RE.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


@runtime_checkable
class BlobStore(Protocol):
    """The one interface every backend implements."""

    url: str

    def put_stream(
        self,
        source: BinaryIO,
        *,
        expected_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> StoredBlob:
        """Copy ``source`` into the store, hashing while copying; atomically publish it."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """Open a stored blob for reading; raises ``KeyError`` when absent."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int:
        """Size in bytes of a stored blob; raises ``KeyError`` when absent."""
        ...

    def iter_digests(self) -> Iterator[str]:
        """Every content address in the store (used by verification to find strays)."""
        ...

    def cleanup_stale(self) -> int:
        """Remove temporary files left by writers that died; return how many were removed."""
        ...

    def free_space(self) -> int | None:
        """Bytes that can still be written, or ``None`` when the backend cannot tell."""
        ...

    def discard(self, sha256: str) -> None:
        """Remove a copy that no longer matches its address, so an intact one can be put in
        its place (used only by repairs); a copy already gone is not an error."""
        ...


def open_blob_store(url: str) -> BlobStore:
    """Choose the backend from the URL: ``s3://bucket/prefix`` or a folder path (``file://`` ok)."""
    if url.startswith("s3://"):
        from testigo.vault.s3store import S3BlobStore

        return S3BlobStore.from_url(url)
    from testigo.vault.localstore import LocalBlobStore

    return LocalBlobStore(local_folder(url))


def local_folder(url: str) -> str:
    """The folder a non-S3 store URL names (a path, or ``file://`` and a path)."""
    return url[len("file://") :] if url.startswith("file://") else url


def open_vault_store(
    url: str, mirror_url: str | None = None, *, required: bool = True
) -> BlobStore:
    """The vault's store: ``url`` alone, or ``url`` mirrored to ``mirror_url`` (vault/mirror.py)."""
    primary = open_blob_store(url)
    if not mirror_url:
        return primary
    from testigo.errors import UsageError
    from testigo.vault.mirror import MirroredBlobStore, same_place

    if same_place(url, mirror_url):
        raise UsageError(
            "TESTIGO_BLOBS_MIRROR_URL names the blob store itself (or a folder inside it): the "
            "mirror must be a second, separate store"
        )
    from testigo.errors import StorageError
    from testigo.vault.mirror import UnreachableStore

    try:
        mirror: BlobStore = open_blob_store(mirror_url)
    except StorageError as exc:
        # A mirror that is down must not stop the vault from being read or verified: writes
        # fail (or, when it is not required, skip it) and `verify` reports it.
        mirror = UnreachableStore(mirror_url, str(exc))
    return MirroredBlobStore(primary, mirror, required=required)
