"""From chunks to a recording: the partial file of a live capture and the assembled final one.

MediaRecorder's chunks are pieces of one stream (a WebM header and clusters, or MP4 fragments),
so the recording is the chunks concatenated in order. Every read re-hashes each chunk and
rebuilds the hash chain; a recording that does not match its chain is never served or stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from testigo.capture import chain
from testigo.capture.errors import ChainBroken, OffsetMismatch, SessionClosed
from testigo.capture.models import CaptureChunk, CaptureSession
from testigo.capture.service import (
    CLOSE_ENTRY,
    CLOSED,
    OPEN,
    authorize,
    chunks_of,
    forget_hint,
    get_session,
)
from testigo.config import capture_idle_close_seconds
from testigo.db.models import IncidentItem
from testigo.errors import NotFoundError, TestigoError
from testigo.vault import ledger
from testigo.vault.derive import PreparedDerived, prepare_derived, record_derived
from testigo.vault.ingest import ensure_incident
from testigo.vault.service import Vault


class ChainedReader:
    """A file-like view of chunks in order that checks each chunk's hash and the chain."""

    def __init__(self, vault: Vault, public_id: str, chunks: list[CaptureChunk]) -> None:
        self._vault = vault
        self._chunks = chunks
        self._head = chain.genesis(public_id)
        self._iter = self._pieces()
        self._buffer = b""
        self.chain_head = self._head

    def _pieces(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            try:
                handle = self._vault.blobs.open(chunk.sha256)
            except KeyError as exc:
                raise ChainBroken(f"the stored file of chunk {chunk.idx} is missing") from exc
            # A chunk is small (bounded by the upload limit): read it whole and check it before
            # releasing any of it, so bytes that fail the chain never reach the output.
            with handle:
                data = handle.read(chunk.size + 1)
            expected = chain.link(self._head, chunk.idx, chunk.sha256)
            if (
                len(data) != chunk.size
                or hashlib.sha256(data).hexdigest() != chunk.sha256
                or expected != chunk.chain_hash
            ):
                raise ChainBroken(
                    f"chunk {chunk.idx} does not match the session's hash chain; "
                    "run `testigo verify`"
                )
            self._head = expected
            self.chain_head = expected
            yield data

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            rest = [self._buffer, *self._iter]
            self._buffer = b""
            return b"".join(rest)
        while len(self._buffer) < size:
            try:
                self._buffer += next(self._iter)
            except StopIteration:
                break
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def __iter__(self) -> Iterator[bytes]:
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        yield from self._iter


def open_recording(vault: Vault, public_id: str, upto: int | None = None) -> ChainedReader:
    """Everything received so far (or the first ``upto`` chunks), checked against the chain."""
    capture = get_session(vault, public_id)
    return ChainedReader(vault, public_id, chunks_of(vault, capture.id, upto))


def partial_recording(vault: Vault, public_id: str, upto: int | None = None) -> bytes:
    """The playable recording of every acknowledged chunk, in memory (tests, small captures)."""
    return open_recording(vault, public_id, upto).read()


@dataclass(frozen=True)
class Assembled:
    public_id: str
    status: str
    chunks: int
    size: int
    chain_head: str
    item_id: int | None
    sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.public_id,
            "status": self.status,
            "chunks": self.chunks,
            "bytes": self.size,
            "chain_head": self.chain_head,
            "item_id": self.item_id,
            "sha256": self.sha256,
        }


def finish(
    vault: Vault, public_id: str, upload_key: str, *, expected_chunks: int | None = None
) -> Assembled:
    """The device says the recording ended: assemble, check against the chain, analyse."""
    capture = authorize(vault, public_id, upload_key)
    if (
        expected_chunks is not None
        and capture.status not in CLOSED
        and expected_chunks != capture.chunk_count
    ):
        raise OffsetMismatch(
            f"the session holds {capture.chunk_count} chunks, the device says "
            f"{expected_chunks}: send the missing chunks first",
            expected_offset=capture.bytes_received,
            expected_index=capture.chunk_count,
        )
    return close(vault, public_id, status="finished", actor=f"capture:{public_id}")


def close(
    vault: Vault, public_id: str, *, status: str, actor: str, reason: str | None = None
) -> Assembled:
    """Assemble every chunk into one item and close the session (finished, abandoned by an
    investigator, or interrupted after a long silence)."""
    closed = _close(vault, public_id, status=status, actor=actor, reason=reason)
    assert closed is not None  # only a silence condition can leave a session open
    return closed


def _last_heard(row: CaptureSession) -> str:
    return row.last_chunk_at or row.started_at


def _close(
    vault: Vault,
    public_id: str,
    *,
    status: str,
    actor: str,
    reason: str | None = None,
    silent_before: str | None = None,
) -> Assembled | None:
    """``close``; with ``silent_before``, only if nothing was heard from the device since then
    (checked again under the session's lock: a chunk that arrives meanwhile keeps it open)."""
    if status not in CLOSED:
        raise ValueError(status)
    forget_hint(vault, public_id)
    while True:
        capture = get_session(vault, public_id)
        if capture.status in CLOSED:
            return _assembled_of(vault, capture)
        if silent_before is not None and _last_heard(capture) >= silent_before:
            return None
        chunks = chunks_of(vault, capture.id)
        # The file is written first; its item and ledger entry join the closing transaction, so
        # a close that gives up (the device spoke again, a chunk arrived) records nothing.
        prepared = _prepare_recording(
            vault, capture, chunks, partial=status != "finished", actor=actor
        )
        with vault.transaction(durable=True) as session:
            row = session.scalar(
                select(CaptureSession).where(CaptureSession.id == capture.id).with_for_update()
            )
            assert row is not None
            if row.status in CLOSED:
                return _assembled_of(vault, row)
            if silent_before is not None and _last_heard(row) >= silent_before:
                return None  # the device spoke again while the recording was assembled
            if row.chunk_count != len(chunks):
                continue  # a chunk arrived while assembling: assemble again with it
            result = record_derived(session, prepared) if prepared is not None else None
            row.status = status
            row.ended_at = ledger.utc_now()
            row.assembled_item_id = result.item_id if result else None
            subjects = [f"capture:{public_id}"]
            if result is not None:
                subjects.append(f"sha256:{result.sha256}")
            if row.incident_id is not None:
                subjects.append(f"incident:{row.incident_id}")
                if result is not None and (
                    session.get(IncidentItem, (row.incident_id, result.item_id)) is None
                ):
                    session.add(
                        IncidentItem(
                            incident_id=row.incident_id,
                            item_id=result.item_id,
                            added_at=row.ended_at,
                        )
                    )
            params: dict[str, Any] = {
                "session": public_id,
                "chunks": row.chunk_count,
                "bytes": row.bytes_received,
                "duration_ms": row.duration_ms,
                "chain_head": row.chain_head,
                "item": result.item_id if result else None,
                "sha256": result.sha256 if result else None,
                "incident": row.incident_id,
            }
            if reason is not None:
                params["reason"] = reason
                params["last_chunk_at"] = row.last_chunk_at
            ledger.append_entry(
                session,
                ledger.NewEntry(
                    entry_type=CLOSE_ENTRY[status],
                    actor=actor,
                    subjects=subjects,
                    params=params,
                ),
            )
            closed = _assembled_of_row(row, result.sha256 if result else None)
        if result is not None and not result.duplicate:
            from testigo.jobs.auto import queue_analysis_after_ingest

            queue_analysis_after_ingest(vault, result)
        vault.checkpoint()
        return closed


IDLE_ACTOR = "testigo:capture-idle"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # as ledger.utc_now writes times


@dataclass(frozen=True)
class IdleSweep:
    """What one pass of ``close_idle`` did."""

    idle_seconds: float
    closed: list[Assembled]
    failed: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "idle_seconds": self.idle_seconds,
            "closed": [c.to_dict() for c in self.closed],
            "failed": self.failed,
        }


def close_idle(
    vault: Vault,
    *,
    idle_seconds: float | None = None,
    now: datetime | None = None,
    actor: str = IDLE_ACTOR,
    skip: Collection[str] = (),
) -> IdleSweep:
    """Close, as interrupted, every open capture silent for ``idle_seconds``
    (``TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS`` by default; 0 closes nothing).

    Each becomes what an investigator's close makes: the chunks received assembled into one
    playable partial recording, checked against the chain, ledgered (``capture.interrupt``, with
    the reason) and queued for analysis. A chunk sent afterwards is refused (session closed).
    Captures in ``skip`` (recently failed to close) are left for a later pass.
    """
    seconds = capture_idle_close_seconds() if idle_seconds is None else max(0.0, idle_seconds)
    sweep = IdleSweep(seconds, [], {})
    if seconds <= 0:
        return sweep
    moment = now or datetime.now(UTC)
    cutoff = (moment - timedelta(seconds=seconds)).strftime(_TIME_FORMAT)
    heard = func.coalesce(CaptureSession.last_chunk_at, CaptureSession.started_at)
    with vault.reading() as session:
        silent = session.execute(
            select(CaptureSession.public_id, heard)
            .where(CaptureSession.status.in_(OPEN), heard < cutoff)
            .order_by(CaptureSession.id)
        ).all()
    for public_id, last in silent:
        if public_id in skip:
            continue
        since = datetime.strptime(last, _TIME_FORMAT).replace(tzinfo=UTC)
        quiet = max(0, int((moment - since).total_seconds()))
        try:
            done = _close(
                vault,
                public_id,
                status="interrupted",
                actor=actor,
                reason=f"silent for {quiet} s",
                silent_before=cutoff,
            )
        except TestigoError as exc:  # e.g. a chain that does not verify: leave it open, say so
            sweep.failed[public_id] = str(exc)
            continue
        if done is not None and done.status == "interrupted":
            sweep.closed.append(done)
    return sweep


def _prepare_recording(
    vault: Vault, capture: CaptureSession, chunks: list[CaptureChunk], *, partial: bool, actor: str
) -> PreparedDerived | None:
    """Assemble the chunks into one file in the blob store, checked against the chain."""
    if not chunks:
        return None
    reader = ChainedReader(vault, capture.public_id, chunks)
    prepared = prepare_derived(
        vault,
        reader,  # type: ignore[arg-type]
        parents=list(dict.fromkeys(c.item_id for c in chunks)),
        derivation="capture.assemble",
        params={
            "session": capture.public_id,
            "chunks": len(chunks),
            "chain_head": chunks[-1].chain_hash,
            "chunk_sha256": [c.sha256 for c in chunks],
            "partial": partial,
            "mime_type": capture.mime_type,
        },
        actor=actor,
        kind="capture",
        details={"capture": capture.public_id, "partial": partial},
    )
    if reader.chain_head != chunks[-1].chain_hash:
        raise ChainBroken("the assembled recording does not end at the session's chain head")
    return prepared


def _assembled_of_row(row: CaptureSession, sha256: str | None) -> Assembled:
    return Assembled(
        public_id=row.public_id,
        status=row.status,
        chunks=row.chunk_count,
        size=row.bytes_received,
        chain_head=row.chain_head,
        item_id=row.assembled_item_id,
        sha256=sha256,
    )


def _assembled_of(vault: Vault, row: CaptureSession) -> Assembled:
    from testigo.db.models import EvidenceItem

    sha = None
    if row.assembled_item_id is not None:
        with vault.reading() as session:
            item = session.get(EvidenceItem, row.assembled_item_id)
            sha = item.sha256 if item else None
    return _assembled_of_row(row, sha)


def attach_to_incident(vault: Vault, public_id: str, incident_id: int, *, actor: str) -> None:
    """Join a capture (and its recording, once assembled) to an incident; ledgered."""
    with vault.transaction() as session:
        ensure_incident(session, incident_id)
        row = session.scalar(
            select(CaptureSession).where(CaptureSession.public_id == public_id).with_for_update()
        )
        if row is None:
            raise NotFoundError(f"there is no capture session {public_id[:40]}")
        if row.incident_id == incident_id:
            return
        row.incident_id = incident_id
        if row.assembled_item_id is not None and (
            session.get(IncidentItem, (incident_id, row.assembled_item_id)) is None
        ):
            session.add(
                IncidentItem(
                    incident_id=incident_id,
                    item_id=row.assembled_item_id,
                    added_at=ledger.utc_now(),
                )
            )
        ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="capture.attach",
                actor=actor,
                subjects=[f"capture:{public_id}", f"incident:{incident_id}"],
                params={"session": public_id, "incident": incident_id},
            ),
        )


def ensure_open(capture: CaptureSession) -> None:
    if capture.status in CLOSED:
        raise SessionClosed(f"this capture session is {capture.status}")
