"""Store an upload while it is still arriving, so a finished upload is not read a second time.

The bytes of a resumable upload go to a temporary file first (that is what makes resuming
possible). A follower thread reads that file just behind the writer and feeds it to
:func:`testigo.vault.ingest.store_stream`, which hashes and stores it as usual; by the time the last
byte arrives, the item is almost stored. If the upload is interrupted the follower is abandoned (the
blob store discards its partial copy) and a new one starts from the beginning of the file when the
upload resumes. Memory stays bounded: the follower reads in the store's own chunk size.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from testigo.errors import TestigoError
from testigo.vault.ingest import Acquired, IngestResult, store_stream
from testigo.vault.service import Vault
from testigo.web.accounts import Principal
from testigo.web.models import Upload

IDLE_SECONDS = 600.0


class FollowerAborted(TestigoError):
    """The upload was interrupted; its partial copy is discarded and resuming starts anew."""


class FollowingReader:
    """A file read up to the offset the writer has reached, waiting for more when it gets there."""

    def __init__(self, path: Path, size: int, available: int) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._size = size
        self._available = available
        self._position = 0
        self._aborted = False
        self._cond = threading.Condition()
        self._touched = time.monotonic()

    @property
    def available(self) -> int:
        return self._available

    def advance(self, available: int) -> None:
        with self._cond:
            self._available = available
            self._touched = time.monotonic()
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self._aborted = True
            self._cond.notify_all()

    def _wait(self) -> int:
        with self._cond:
            while self._position >= self._available and self._position < self._size:
                if self._aborted:
                    raise FollowerAborted("the upload was interrupted")
                if time.monotonic() - self._touched > IDLE_SECONDS:
                    raise FollowerAborted("the upload stalled")
                self._cond.wait(1.0)
            if self._aborted:
                raise FollowerAborted("the upload was interrupted")
            return self._available - self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:
        if self._position >= self._size:
            return 0
        allowed = min(len(buffer), self._wait())
        n = os.readv(self._fd, [memoryview(buffer)[:allowed]])
        self._position += n
        return n

    def read(self, size: int = -1) -> bytes:
        if self._position >= self._size:
            return b""
        allowed = self._wait() if size < 0 else min(size, self._wait())
        data = os.read(self._fd, allowed)
        self._position += len(data)
        return data

    def close(self) -> None:
        os.close(self._fd)


class Follower:
    """One upload being stored in the background, in this process."""

    def __init__(
        self, vault: Vault, principal: Principal, row: Upload, path: Path, available: int
    ) -> None:
        self.reader = FollowingReader(path, row.size, available)
        self.result: IngestResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(vault, principal, row), daemon=True, name=f"upload-{row.id}"
        )
        self._thread.start()

    def _run(self, vault: Vault, principal: Principal, row: Upload) -> None:
        try:
            self.result = store_stream(
                vault,
                self.reader,  # type: ignore[arg-type]
                name=row.name,
                acquired=upload_acquired(principal, row),
                expected_size=row.size,
            )
        except BaseException as exc:  # reported to the request that waits for it
            self.error = exc
        finally:
            self.reader.close()

    def wait(self) -> IngestResult | None:
        self._thread.join()
        return self.result


def upload_acquired(principal: Principal, row: Upload) -> Acquired:
    return Acquired(
        actor=principal.actor,
        method="web.upload",
        acquired_from=f"uploaded through the web app by {principal.name}",
        note=row.note,
        incident_id=row.incident_id,
    )


_FOLLOWERS: dict[str, Follower] = {}
_LOCK = threading.Lock()


def follower_for(
    vault: Vault, principal: Principal, row: Upload, path: Path, available: int
) -> Follower:
    """The upload's follower, started (or restarted) so that it is in step with the file."""
    with _LOCK:
        follower = _FOLLOWERS.get(row.id)
        if follower is not None and (
            follower.reader.available != available or follower.error is not None
        ):
            follower.reader.abort()
            follower = None
        if follower is None:
            follower = _FOLLOWERS[row.id] = Follower(vault, principal, row, path, available)
        return follower


def forget(upload_id: str) -> None:
    with _LOCK:
        follower = _FOLLOWERS.pop(upload_id, None)
    if follower is not None:
        follower.reader.abort()


def finished(upload_id: str) -> None:
    with _LOCK:
        _FOLLOWERS.pop(upload_id, None)
