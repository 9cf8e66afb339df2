"""Where a backup is kept: a folder (another disk, a mounted share) or an S3 bucket prefix.

Both give the same few operations on named files, each write published whole (a rename in a
folder, a completed upload in a bucket), so a backup interrupted at any moment never leaves a file
that looks finished but is not. Blobs are not written through here: the backup's ``blobs/`` is an
ordinary blob store (``open_blob_store``), so the copy is addressed and checked exactly as the
vault's own store is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from testigo.errors import StorageError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class BackupTarget(Protocol):
    """The files of one backup location, named by relative paths such as ``db/x.sqlite3``."""

    url: str

    @property
    def blobs_url(self) -> str:
        """The URL of the backup's blob store (``<dest>/blobs``)."""
        ...

    def local_path(self, name: str) -> Path | None:
        """The file itself when the target is a folder (read in place), else ``None``."""
        ...

    def read_bytes(self, name: str) -> bytes | None:
        """The whole file, or ``None`` when it does not exist."""
        ...

    def write_bytes(self, name: str, data: bytes, *, private: bool = False) -> None: ...

    def upload(self, name: str, source: Path) -> None:
        """Publish a finished local file under ``name`` (moved when the target is a folder)."""
        ...

    def download(self, name: str, dest: Path) -> None: ...

    def list_files(self, folder: str) -> list[str]:
        """Names of the files directly in ``folder``."""
        ...

    def delete(self, name: str) -> None: ...

    def scratch_dir(self) -> Path | None:
        """A folder on the target's own file system for files being built, if it has one."""
        ...

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Held for the whole of a backup run."""
        ...


def open_target(url: str, *, create: bool = False) -> BackupTarget:
    """``s3://bucket/prefix`` or a folder path (``file://`` accepted)."""
    if url.startswith("s3://"):
        return S3Target(url)
    path = Path(url[len("file://") :] if url.startswith("file://") else url).expanduser()
    return FolderTarget(path.resolve(), create=create)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FolderTarget:
    """A backup in a folder. Created with mode 0700: it holds the vault's private key."""

    def __init__(self, root: Path, *, create: bool) -> None:
        self.root = root
        self.url = str(root)
        if create:
            try:
                root.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise StorageError(
                    f"cannot create the backup folder {root}: {exc.strerror}"
                ) from exc
        elif not root.is_dir():
            raise UsageError(f"{root} is not a folder holding a backup")

    @property
    def blobs_url(self) -> str:
        return str(self.root / "blobs")

    def _path(self, name: str) -> Path:
        return self.root / name

    def local_path(self, name: str) -> Path | None:
        return self._path(name)

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def write_bytes(self, name: str, data: bytes, *, private: bool = False) -> None:
        final = self._path(name)
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = final.parent / f".partial-{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        _fsync_dir(final.parent)

    def upload(self, name: str, source: Path) -> None:
        final = self._path(name)
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with source.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(source, final)
        _fsync_dir(final.parent)

    def download(self, name: str, dest: Path) -> None:
        shutil.copyfile(self._path(name), dest)

    def list_files(self, folder: str) -> list[str]:
        base = self._path(folder)
        if not base.is_dir():
            return []
        return sorted(f"{folder}/{p.name}" for p in base.iterdir() if p.is_file())

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def scratch_dir(self) -> Path | None:
        """``db/``, cleared of what a backup that died left there (called under the lock)."""
        path = self.root / "db"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in path.glob(".partial-*"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        return path

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the backup folder's lock: two backups into one folder never interleave."""
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(
                    f"another backup into {self.root} is running; try again when it has finished"
                ) from None
            yield
        finally:
            os.close(fd)


class S3Target:
    """A backup under an S3 prefix. An object exists only once its upload has completed."""

    def __init__(self, url: str) -> None:
        from testigo.vault.s3store import make_client, parse_s3_url

        self.bucket, self.prefix = parse_s3_url(url)
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self._client: S3Client = make_client()

    @property
    def blobs_url(self) -> str:
        return f"{self.url}/blobs"

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def local_path(self, name: str) -> Path | None:
        return None

    def _fail(self, action: str, exc: Exception) -> StorageError:
        return StorageError(f"{action} in {self.url} failed: {exc}")

    def read_bytes(self, name: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(name))
            return response["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail(f"reading {name}", exc) from None
        except BotoCoreError as exc:
            raise self._fail(f"reading {name}", exc) from None

    def write_bytes(self, name: str, data: bytes, *, private: bool = False) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"writing {name}", exc) from None

    def upload(self, name: str, source: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.upload_file(str(source), self.bucket, self._key(name))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"uploading {name}", exc) from None

    def download(self, name: str, dest: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.download_file(self.bucket, self._key(name), str(dest))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"downloading {name}", exc) from None

    def list_files(self, folder: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        names: list[str] = []
        prefix = self._key(f"{folder}/")
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    names.append(f"{folder}/{obj['Key'][len(prefix) :]}")
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"listing {folder}", exc) from None
        return sorted(names)

    def delete(self, name: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(name))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"deleting {name}", exc) from None

    def scratch_dir(self) -> Path | None:
        return None

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        # A bucket has no lock: one backup schedule per destination is the operator's rule.
        yield
