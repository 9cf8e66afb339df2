"""Ingest: files into the vault, each hashed once while it is copied, each receipt ledgered.

A file is either stored whole and recorded, or not at all. The blob is published under its content
address before the database transaction that refers to it commits, so a crash in between leaves at
most an unreferenced blob (which a later ingest of the same content adopts), never a record pointing
at nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from testigo.db.models import Acquisition, EvidenceItem, Incident, IncidentItem
from testigo.errors import NotFoundError, RefusedInputError, TestigoError, UsageError
from testigo.jobs.auto import queue_analysis_after_ingest
from testigo.vault import ledger
from testigo.vault.blobs import ProgressCallback, StoredBlob
from testigo.vault.mediatype import SNIFF_BYTES, detect_media_type, extension_mismatch
from testigo.vault.service import Vault


@dataclass(frozen=True)
class Acquired:
    """How a file reached us: the acquisition half of the chain of custody."""

    actor: str
    method: str = "cli.ingest"
    acquired_from: str | None = None
    note: str | None = None
    incident_id: int | None = None


@dataclass
class IngestResult:
    path: str
    sha256: str
    size: int
    media_type: str
    item_id: int
    acquisition_id: int
    ledger_seq: int
    duplicate: bool
    flags: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
            "item_id": self.item_id,
            "acquisition_id": self.acquisition_id,
            "ledger_seq": self.ledger_seq,
            "duplicate": self.duplicate,
            "flags": self.flags,
        }


@dataclass
class Refusal:
    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class IngestReport:
    ingested: list[IngestResult] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    checkpoint_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingested": [r.to_dict() for r in self.ingested],
            "refused": [r.to_dict() for r in self.refused],
            "checkpoint_size": self.checkpoint_size,
        }


@dataclass(frozen=True)
class Candidate:
    """A regular file found while walking the arguments."""

    path: Path
    size: int


INSIDE_VAULT = (
    "is part of the vault itself (its database, keys or stored files): it is never ingested "
    "into itself, and reading the live database's files from outside SQLite would break its locks"
)


def vault_paths(vault: Vault) -> list[Path]:
    """The files and folders that make up the vault: its home, its database (with the WAL and
    shared-memory files) and a local blob store."""
    found = [Path(vault.settings.home)]
    database = vault.engine.url.database if vault.engine.dialect.name == "sqlite" else None
    if database and database != ":memory:":
        found += [Path(database + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    root = getattr(vault.blobs, "root", None)
    if isinstance(root, Path):
        found.append(root)
    return [_resolved(p) for p in found]


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def discover(
    paths: Sequence[str | os.PathLike[str]], *, exclude: Sequence[Path] = ()
) -> tuple[list[Candidate], list[Refusal]]:
    """Expand the arguments into regular files; refuse, with a reason, anything else.

    Anything at or under a path in ``exclude`` (``vault_paths``) is refused without being opened.
    """
    found: list[Candidate] = []
    refused: list[Refusal] = []
    excluded = [_resolved(p) for p in exclude]
    for raw in paths:
        for path, reason, size in _walk(Path(raw), excluded):
            if reason is None:
                found.append(Candidate(path, size))
            else:
                refused.append(Refusal(str(path), reason))
    return found, refused


def _walk(path: Path, excluded: Sequence[Path] = ()) -> Iterator[tuple[Path, str | None, int]]:
    if excluded:
        where = _resolved(path)
        if any(where == e or where.is_relative_to(e) for e in excluded):
            yield path, INSIDE_VAULT, 0
            return
    try:
        st = path.lstat()
    except FileNotFoundError:
        yield path, "no such file or folder", 0
        return
    except PermissionError:
        yield path, "permission denied: cannot read it", 0
        return
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        yield path, "is a symbolic link: ingest the file it points to instead", 0
    elif stat.S_ISDIR(mode):
        try:
            children = sorted(path.iterdir(), key=lambda p: p.name)
        except PermissionError:
            yield path, "permission denied: cannot list this folder", 0
            return
        for child in children:
            yield from _walk(child, excluded)
    elif stat.S_ISREG(mode):
        if not os.access(path, os.R_OK):
            yield path, "permission denied: cannot read it", 0
        else:
            yield path, None, st.st_size
    elif stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        yield path, "is a device, not a file: make an image of it first", 0
    elif stat.S_ISFIFO(mode):
        yield path, "is a pipe, not a file", 0
    elif stat.S_ISSOCK(mode):
        yield path, "is a socket, not a file", 0
    else:
        yield path, "is not a regular file", 0


class SniffingReader:
    """Wraps a stream to keep its first bytes for type detection while it is copied."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.head = b""

    def readinto(self, buffer: bytearray | memoryview) -> int:
        raw_readinto = getattr(self._raw, "readinto", None)
        if raw_readinto is None:  # a plain stream with only read()
            data = self._raw.read(len(buffer))
            n = len(data)
            memoryview(buffer)[:n] = data
        else:
            n = raw_readinto(buffer)
        if n and len(self.head) < SNIFF_BYTES:
            self.head += bytes(memoryview(buffer)[: min(n, SNIFF_BYTES - len(self.head))])
        return int(n or 0)

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data and len(self.head) < SNIFF_BYTES:
            self.head += data[: SNIFF_BYTES - len(self.head)]
        return data


def ensure_incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError(f"there is no incident {incident_id}")
    return incident


def store_stream(
    vault: Vault,
    stream: BinaryIO,
    *,
    name: str | None,
    acquired: Acquired,
    expected_size: int | None = None,
    file_modified_at: str | None = None,
    progress: ProgressCallback | None = None,
    extra_params: dict[str, Any] | None = None,
    session: Session | None = None,
) -> IngestResult:
    """Store one stream and record its receipt; the unit every ingest path goes through.

    The blob is published before the record; with ``session`` the record joins that transaction.
    """
    if acquired.incident_id is not None:
        if session is not None:
            ensure_incident(session, acquired.incident_id)
        else:
            with vault.reading() as check:
                ensure_incident(check, acquired.incident_id)
    reader = SniffingReader(stream)
    blob = vault.blobs.put_stream(
        reader,  # type: ignore[arg-type]
        expected_size=expected_size,
        progress=progress,
    )
    media_type = detect_media_type(reader.head)
    return record_receipt(
        vault,
        blob,
        media_type=media_type,
        name=name,
        acquired=acquired,
        file_modified_at=file_modified_at,
        extra_params=extra_params,
        session=session,
    )


def record_receipt(
    vault: Vault,
    blob: StoredBlob,
    *,
    media_type: str,
    name: str | None,
    acquired: Acquired,
    file_modified_at: str | None = None,
    extra_params: dict[str, Any] | None = None,
    session: Session | None = None,
) -> IngestResult:
    """Record one receipt of a stored blob.

    With ``session``, the records join the caller's transaction (so an import can store an
    original, its text and the facts drawn from it all-or-nothing), and analysis is queued once
    that transaction commits; without it, they commit on their own.
    """
    if session is None:
        # Durable: the caller is told the evidence is recorded once this returns.
        with vault.transaction(durable=True) as own:
            result = _record_receipt_in(
                own, blob, media_type, name, acquired, file_modified_at, extra_params
            )
        queue_analysis_after_ingest(vault, result)
        return result
    result = _record_receipt_in(
        session, blob, media_type, name, acquired, file_modified_at, extra_params
    )
    event.listen(
        session,
        "after_commit",
        lambda _s: queue_analysis_after_ingest(vault, result),
        once=True,
    )
    return result


def _record_receipt_in(
    session: Session,
    blob: StoredBlob,
    media_type: str,
    name: str | None,
    acquired: Acquired,
    file_modified_at: str | None,
    extra_params: dict[str, Any] | None,
) -> IngestResult:
    flags: list[str] = []
    if blob.size == 0:
        flags.append("empty")
    if extension_mismatch(name, media_type):
        flags.append("extension_mismatch")
    if acquired.incident_id is not None:
        ensure_incident(session, acquired.incident_id)
    item = session.scalars(select(EvidenceItem).where(EvidenceItem.sha256 == blob.sha256)).first()
    duplicate = item is not None
    params: dict[str, Any] = {
        "size": blob.size,
        "media_type": media_type if item is None else item.media_type,
        "original_name": name,
        "method": acquired.method,
        "acquired_from": acquired.acquired_from,
        "note": acquired.note,
        "incident": acquired.incident_id,
        "duplicate": duplicate,
        "flags": flags,
        "file_modified_at": file_modified_at,
    }
    if extra_params:
        params.update(extra_params)
    subjects = [f"sha256:{blob.sha256}"]
    if acquired.incident_id is not None:
        subjects.append(f"incident:{acquired.incident_id}")
    entry = ledger.append_entry(
        session,
        ledger.NewEntry(
            entry_type="evidence.acquire" if duplicate else "evidence.ingest",
            actor=acquired.actor,
            subjects=subjects,
            params=params,
        ),
    )
    now = ledger.utc_now()
    if item is None:
        item = EvidenceItem(
            sha256=blob.sha256,
            size=blob.size,
            media_type=media_type,
            kind="original",
            flags={f: True for f in flags},
            details={},
            created_at=now,
            ledger_seq=entry.seq,
        )
        session.add(item)
        session.flush()
    acquisition = Acquisition(
        item_id=item.id,
        original_name=name,
        acquired_by=acquired.actor,
        acquired_at=now,
        acquired_from=acquired.acquired_from,
        method=acquired.method,
        note=acquired.note,
        incident_id=acquired.incident_id,
        file_modified_at=file_modified_at,
        ledger_seq=entry.seq,
    )
    session.add(acquisition)
    if acquired.incident_id is not None and (
        session.get(IncidentItem, (acquired.incident_id, item.id)) is None
    ):
        session.add(IncidentItem(incident_id=acquired.incident_id, item_id=item.id, added_at=now))
    session.flush()
    result = IngestResult(
        path=name or "",
        sha256=blob.sha256,
        size=blob.size,
        media_type=item.media_type,
        item_id=item.id,
        acquisition_id=acquisition.id,
        ledger_seq=entry.seq,
        duplicate=duplicate,
        flags=flags,
    )
    return result


def ingest_file(
    vault: Vault,
    candidate: Candidate,
    acquired: Acquired,
    progress: ProgressCallback | None = None,
) -> IngestResult:
    """Open without following links, check it is still a regular file, and store it."""
    flags = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(candidate.path, flags)
    except PermissionError as exc:
        raise RefusedInputError(f"{candidate.path}: permission denied: cannot read it") from exc
    except OSError as exc:
        raise RefusedInputError(f"{candidate.path}: cannot open it: {exc.strerror}") from exc
    with os.fdopen(fd, "rb", buffering=0) as raw:
        st = os.fstat(raw.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise RefusedInputError(f"{candidate.path}: is not a regular file")
        mtime = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return store_stream(
            vault,
            raw,  # type: ignore[arg-type]
            name=candidate.path.name,
            acquired=acquired,
            expected_size=st.st_size,
            file_modified_at=mtime,
            progress=progress,
            extra_params={"source_path": str(candidate.path.resolve())},
        )


def ingest_paths(
    vault: Vault,
    paths: Sequence[str | os.PathLike[str]],
    acquired: Acquired,
    *,
    on_start: Callable[[Candidate], ProgressCallback | None] | None = None,
    on_done: Callable[[Candidate, IngestResult | Refusal], None] | None = None,
    candidates: tuple[list[Candidate], list[Refusal]] | None = None,
) -> IngestReport:
    """Ingest files and folders; each file is its own all-or-nothing unit. Signs a checkpoint."""
    if not paths:
        raise UsageError("name at least one file or folder to ingest")
    if acquired.incident_id is not None:
        with vault.reading() as session:
            ensure_incident(session, acquired.incident_id)
    found, refused = (
        candidates if candidates is not None else discover(paths, exclude=vault_paths(vault))
    )
    report = IngestReport(refused=list(refused))
    for candidate in found:
        progress = on_start(candidate) if on_start else None
        outcome: IngestResult | Refusal
        try:
            outcome = ingest_file(vault, candidate, acquired, progress)
            report.ingested.append(outcome)
        except TestigoError as exc:
            outcome = Refusal(str(candidate.path), str(exc).removeprefix(f"{candidate.path}: "))
            report.refused.append(outcome)
        if on_done:
            on_done(candidate, outcome)
    if report.ingested:
        report.checkpoint_size = vault.checkpoint().tree_size
    return report
