"""Group commit: chunks arriving together share one transaction and one flush to disk.

Each chunk still gets its own checks, rows and ledger entries, and its own refusal if it is
refused; what is shared is the write lock, the commit and the fsync that makes them durable. With
fifty phones sending at once, that turns fifty fsyncs of the database log into a few, which is
what keeps the time to acknowledgement low while the ledger keeps up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from testigo.capture.errors import CaptureError
from testigo.vault.service import Vault

if TYPE_CHECKING:
    from testigo.capture.service import ChunkAck


class StoreUnavailable(CaptureError):
    """The vault could not commit the chunk (nothing was acknowledged): send it again."""

    status = 503
    code = "try_again"


@dataclass
class ChunkWrite:
    session_id: int
    index: int
    offset: int
    digest: str
    size: int
    duration_ms: int
    ack: ChunkAck | None = None
    error: CaptureError | None = None
    finished: bool = field(default=False)


CommitOne = Callable[[Session, ChunkWrite], "ChunkAck"]


class GroupCommitter:
    """Leader/followers: whoever finds no commit running commits everything queued so far."""

    def __init__(self, vault: Vault, commit_one: CommitOne, lock: threading.Lock | None) -> None:
        self.vault = vault
        self.commit_one = commit_one
        self.write_lock = lock
        self._cond = threading.Condition()
        self._queue: list[ChunkWrite] = []
        self._leading = False
        self.batches = 0

    def submit(self, write: ChunkWrite) -> ChunkAck:
        with self._cond:
            self._queue.append(write)
            while not write.finished:
                if self._leading:
                    self._cond.wait()
                    continue
                self._leading = True
                batch, self._queue = self._queue, []
                self._cond.release()
                try:
                    self._commit(batch)
                finally:
                    self._cond.acquire()
                    self._leading = False
                    self._cond.notify_all()
        if write.error is not None:
            raise write.error
        assert write.ack is not None
        return write.ack

    def _commit(self, batch: list[ChunkWrite]) -> None:
        try:
            if self.write_lock is not None:
                self.write_lock.acquire()
            try:
                # A durable commit: the acks promise the chunks survive a power loss.
                with self.vault.transaction(durable=True) as session:
                    for write in batch:
                        try:
                            write.ack = self.commit_one(session, write)
                        except CaptureError as exc:  # refused before anything was written
                            write.error = exc
            finally:
                if self.write_lock is not None:
                    self.write_lock.release()
            self.batches += 1
        except Exception as exc:
            failure = StoreUnavailable(
                f"the vault could not store the chunk ({type(exc).__name__}); send it again"
            )
            failure.__cause__ = exc
            for write in batch:
                if write.error is None:
                    write.ack = None
                    write.error = failure
        finally:
            for write in batch:
                write.finished = True


_COMMITTERS: dict[int, GroupCommitter] = {}
_GUARD = threading.Lock()


def committer_for(
    vault: Vault, commit_one: CommitOne, lock: threading.Lock | None
) -> GroupCommitter:
    with _GUARD:
        found = _COMMITTERS.get(id(vault))
        if found is None or found.vault is not vault:
            found = _COMMITTERS[id(vault)] = GroupCommitter(vault, commit_one, lock)
        return found
