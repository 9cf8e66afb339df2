"""The local-folder blob store (the embedded default).

Layout under the root folder::

    sha256/ab/cd/abcd...   published blobs, read-only (0444)
    tmp/                   files being written, each locked by its writer

A writer holds an exclusive ``flock`` on its temporary file for as long as it writes. A temporary
file that can be locked by someone else therefore belongs to a writer that died (``kill -9``, power
loss), and ``cleanup_stale`` removes it. This is immune to process-id reuse.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from testigo.errors import InsufficientSpaceError, StorageError
from testigo.vault.blobs import CHUNK_SIZE, ProgressCallback, StoredBlob, check_digest

# Keep a little room so that the database and the ledger can still be written after a large blob.
SPACE_RESERVE = 16 * 1024 * 1024


class LocalBlobStore:
    """Blobs in a folder, published by atomic rename to their content address."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.url = str(self.root)
        self._blobs = self.root / "sha256"
        self._tmp = self.root / "tmp"
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the blob store at {self.root}: {exc.strerror}"
            ) from exc

    def path_for(self, sha256: str) -> Path:
        """The published location of a digest; the digest is validated so it can't be a path."""
        digest = check_digest(sha256)
        return self._blobs / digest[:2] / digest[2:4] / digest

    def free_space(self) -> int | None:
        stat = os.statvfs(self.root)
        return max(0, stat.f_bavail * stat.f_frsize - SPACE_RESERVE)

    def put_stream(
        self,
        source: BinaryIO,
        *,
        expected_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> StoredBlob:
        if expected_size is not None:
            free = self.free_space()
            if free is not None and expected_size > free:
                raise InsufficientSpaceError(
                    f"not enough free space in {self.root}: the file needs "
                    f"{expected_size:,} bytes, {free:,} are available"
                )
        tmp_path = self._tmp / f"blob-{uuid.uuid4().hex}.part"
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        published = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            digest, size = _copy_and_hash(source, fd, progress)
            if expected_size is not None and size != expected_size:
                raise StorageError(
                    f"the file changed while it was read: expected {expected_size:,} bytes, "
                    f"read {size:,}"
                )
            os.fsync(fd)
            final = self.path_for(digest)
            if final.exists():
                return StoredBlob(sha256=digest, size=size, created=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.fchmod(fd, 0o444)
            os.rename(tmp_path, final)
            published = True
            _fsync_dir(final.parent)
            return StoredBlob(sha256=digest, size=size, created=True)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientSpaceError(
                    f"the disk holding {self.root} filled up while storing the file; "
                    "nothing was stored"
                ) from exc
            raise StorageError(f"could not store the file: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)
            if not published:
                with contextlib.suppress(FileNotFoundError):
                    tmp_path.unlink()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.path_for(sha256).open("rb")
        except FileNotFoundError as exc:
            raise KeyError(sha256) from exc

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def size(self, sha256: str) -> int:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError as exc:
            raise KeyError(sha256) from exc

    def iter_digests(self) -> Iterator[str]:
        if not self._blobs.is_dir():
            return
        for first in sorted(self._blobs.iterdir()):
            if not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for blob in sorted(second.iterdir()):
                    yield blob.name

    def cleanup_stale(self) -> int:
        removed = 0
        if not self._tmp.is_dir():
            return 0
        for entry in self._tmp.iterdir():
            try:
                fd = os.open(entry, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer holds it
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                    removed += 1
            finally:
                os.close(fd)
        return removed

    def discard(self, sha256: str) -> None:
        """Delete a published blob whose content no longer matches its address (repair only:
        the intact copy is put in its place right after)."""
        path = self.path_for(sha256)
        try:
            path.chmod(0o644)
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"could not remove {path}: {exc.strerror or exc}") from exc

    def remove_for_tests(self, sha256: str) -> None:
        """Delete a published blob. Only tests that simulate tampering use this."""
        self.discard(sha256)

    def copy_out(self, sha256: str, dest: Path) -> None:
        with self.open(sha256) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, CHUNK_SIZE)


def _copy_and_hash(source: BinaryIO, fd: int, progress: ProgressCallback | None) -> tuple[str, int]:
    """One pass over the source: every chunk is hashed and written before the next is read."""
    hasher = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    readinto = getattr(source, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(buffer)
            if not n:
                break
            chunk = view[:n]
        else:
            data = source.read(CHUNK_SIZE)
            if not data:
                break
            chunk = memoryview(data)
            n = len(data)
        hasher.update(chunk)
        written = 0
        while written < n:
            written += os.write(fd, chunk[written:])
        size += n
        if progress is not None:
            progress(n)
    return hasher.hexdigest(), size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
