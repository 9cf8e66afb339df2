"""A second blob store that receives every blob before the vault relies on it.

A server can be seized, wiped or burnt like a phone. With ``TESTIGO_BLOBS_MIRROR_URL`` set (a
second folder, ideally on another disk or machine, or an S3 bucket elsewhere), every blob the
vault stores, and every live-capture chunk before it is acknowledged to the phone, is written to
the primary store *and* to the mirror. The write returns only when both hold the content under
its address; the mirror's copy is made from the primary's published copy and its digest is
checked, so the two can never hold different bytes under one name.

When the mirror cannot take a blob the write fails with :class:`MirrorUnavailableError` and the
caller stores nothing that refers to it (a live chunk is not acknowledged: the phone keeps it and
sends it again). An operator who prefers availability over the second copy sets
``TESTIGO_BLOBS_MIRROR_REQUIRED=0``: the write then succeeds with a warning in the log, and
``testigo verify`` names every blob the mirror lacks until ``testigo blobs sync-mirror`` copies it.

Reads come from the primary; a blob missing from the primary is read from the mirror (with a
warning), so evidence stays available while ``verify`` reports the loss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, NoReturn

from testigo.errors import StorageError
from testigo.vault.blobs import BlobStore, ProgressCallback, StoredBlob

log = logging.getLogger("testigo.blobs.mirror")


class MirrorUnavailableError(StorageError):
    """The mirror store did not take a copy, and the vault is configured to require one."""


class UnreachableStore:
    """A mirror that could not be opened: every operation fails with the reason it gave."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        log.warning("the mirror blob store %s cannot be reached: %s", url, reason)

    def _fail(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise StorageError(f"the mirror {self.url} cannot be reached: {self.reason}")

    put_stream = open = exists = size = iter_digests = cleanup_stale = discard = _fail

    def free_space(self) -> int | None:
        return None


class MirroredBlobStore:
    """The primary store and its mirror behind the one blob-store interface."""

    def __init__(self, primary: BlobStore, mirror: BlobStore, *, required: bool = True) -> None:
        self.primary = primary
        self.mirror = mirror
        self.required = required
        self.url = primary.url

    # -- writing -----------------------------------------------------------------------------

    def put_stream(
        self,
        source: BinaryIO,
        *,
        expected_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> StoredBlob:
        blob = self.primary.put_stream(source, expected_size=expected_size, progress=progress)
        try:
            self.copy_to_mirror(blob.sha256, blob.size)
        except MirrorUnavailableError:
            if self.required:
                raise
            log.warning(
                "the mirror %s did not take blob %s; it is kept only in %s until "
                "`testigo blobs sync-mirror` copies it (TESTIGO_BLOBS_MIRROR_REQUIRED=0)",
                self.mirror.url,
                blob.sha256,
                self.primary.url,
            )
        return blob

    def copy_to_mirror(self, sha256: str, size: int | None = None) -> bool:
        """Make sure the mirror holds ``sha256``; return whether a copy was written."""
        try:
            if self.mirror.exists(sha256):
                return False
            _copy(self.primary, self.mirror, sha256, size)
        except Exception as exc:  # the backends' own errors too (botocore, network)
            raise MirrorUnavailableError(
                f"the mirror blob store {self.mirror.url} could not store {sha256[:16]}…: "
                f"{_reason(exc)}. Nothing that refers to it was recorded; try again when the "
                "mirror is back (or set TESTIGO_BLOBS_MIRROR_REQUIRED=0 to accept one copy)"
            ) from exc
        return True

    # -- reading -----------------------------------------------------------------------------

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.primary.open(sha256)
        except KeyError:
            handle = self.mirror.open(sha256)  # KeyError again when both lack it
            log.warning(
                "blob %s is missing from %s; it was read from the mirror %s",
                sha256,
                self.primary.url,
                self.mirror.url,
            )
            return handle

    def exists(self, sha256: str) -> bool:
        return self.primary.exists(sha256)

    def size(self, sha256: str) -> int:
        try:
            return self.primary.size(sha256)
        except KeyError:
            return self.mirror.size(sha256)

    def iter_digests(self) -> Iterator[str]:
        return self.primary.iter_digests()

    def cleanup_stale(self) -> int:
        removed = self.primary.cleanup_stale()
        if isinstance(self.mirror, UnreachableStore):
            return removed  # already logged when it was opened
        try:
            removed += self.mirror.cleanup_stale()
        except Exception as exc:  # the mirror being down must not stop the vault from opening
            log.warning("could not sweep the mirror %s: %s", self.mirror.url, _reason(exc))
        return removed

    def discard(self, sha256: str) -> None:
        self.primary.discard(sha256)
        self.mirror.discard(sha256)

    def free_space(self) -> int | None:
        primary = self.primary.free_space()
        try:
            mirror = self.mirror.free_space()
        except Exception:
            mirror = None
        known = [space for space in (primary, mirror) if space is not None]
        return min(known) if known else None

    def __getattr__(self, name: str) -> object:
        # ``path_for`` and the like belong to the primary; anything else is a real AttributeError.
        if name in {"path_for", "root"}:
            return getattr(self.primary, name)
        raise AttributeError(name)


# -- checking and repairing ------------------------------------------------------------------


@dataclass
class MirrorReport:
    """What a comparison of the two stores found, per referenced blob."""

    checked: int = 0
    missing_on_mirror: list[str] = field(default_factory=list)
    altered_on_mirror: list[str] = field(default_factory=list)
    missing_on_primary: list[str] = field(default_factory=list)
    copied_to_mirror: list[str] = field(default_factory=list)
    copied_to_primary: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unreachable: str | None = None

    @property
    def in_step(self) -> bool:
        return not (
            self.missing_on_mirror
            or self.altered_on_mirror
            or self.missing_on_primary
            or self.failed
            or self.unreachable
        )


def check_copy(store: BlobStore, sha256: str, size: int) -> str | None:
    """``None`` when ``store`` holds exactly ``sha256``, else ``"missing"`` or ``"altered"``."""
    try:
        handle = store.open(sha256)
    except KeyError:
        return "missing"
    from testigo.vault.verify import hash_stream

    with handle:
        found, found_size = hash_stream(handle.read, None)
    return None if (found == sha256 and found_size == size) else "altered"


def sync_mirror(
    store: MirroredBlobStore,
    blobs: list[tuple[str, int]],
    *,
    deep: bool = True,
    repair: bool = True,
    progress: Callable[[str], None] | None = None,
) -> MirrorReport:
    """Compare (and with ``repair``, bring in step) both stores for the referenced ``blobs``.

    A blob the mirror lacks, or holds altered, is copied from an intact primary copy; a blob the
    primary lacks is copied back from an intact mirror copy; an altered copy is removed first and
    replaced by the intact one."""
    report = MirrorReport()
    for sha256, size in blobs:
        report.checked += 1
        try:
            on_mirror = (
                check_copy(store.mirror, sha256, size)
                if deep
                else (None if store.mirror.exists(sha256) else "missing")
            )
        except Exception as exc:
            report.unreachable = f"{store.mirror.url}: {_reason(exc)}"
            return report
        on_primary = (
            check_copy(store.primary, sha256, size)
            if deep
            else (None if store.primary.exists(sha256) else "missing")
        )
        if on_mirror == "missing":
            report.missing_on_mirror.append(sha256)
        elif on_mirror == "altered":
            report.altered_on_mirror.append(sha256)
        if on_primary is not None:
            report.missing_on_primary.append(sha256)
        if not repair:
            continue
        try:
            if on_mirror is not None and on_primary is None:
                if on_mirror == "altered":
                    store.mirror.discard(sha256)
                store.copy_to_mirror(sha256, size)
                report.copied_to_mirror.append(sha256)
            elif on_primary is not None and on_mirror is None:
                if on_primary == "altered":
                    store.primary.discard(sha256)
                _copy(store.mirror, store.primary, sha256, size)
                report.copied_to_primary.append(sha256)
            elif on_primary is not None and on_mirror is not None:
                report.failed.append((sha256, "neither store holds an intact copy"))
        except Exception as exc:
            report.failed.append((sha256, _reason(exc)))
        if progress is not None:
            progress(sha256)
    return report


def _copy(source: BlobStore, target: BlobStore, sha256: str, size: int | None) -> None:
    """Copy one blob between stores under its address; the copy must hash to that address."""
    if size is None:
        size = source.size(sha256)
    with source.open(sha256) as stream:
        copy = target.put_stream(stream, expected_size=size)
    if copy.sha256 != sha256:
        if copy.created:  # never leave the changed bytes published under their own address
            target.discard(copy.sha256)
        raise StorageError(
            f"the copy of {sha256[:16]}… in {source.url} hashed as {copy.sha256[:16]}…: it "
            "changed while it was read"
        )


def same_place(first: str, second: str) -> bool:
    """Whether two store URLs are the same store, or one folder lies inside the other."""
    if first.startswith("s3://") or second.startswith("s3://"):
        return first.rstrip("/") == second.rstrip("/")
    from pathlib import Path

    from testigo.vault.blobs import local_folder

    a, b = (Path(local_folder(url)).resolve() for url in (first, second))
    return a == b or a in b.parents or b in a.parents


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "the primary copy is missing"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
